/**
 * A small signed apk repository for both x86_64 and aarch64, and an image configuration over it,
 * written into a temporary folder: what the Action tests and the index create tests build from.
 * Everything is made here (packages, index, key); nothing comes from the network.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateApkKeyPair } from '../../src/pkg/apk/keys.ts';
import { type ApkSpec, buildApk, buildApkIndex } from '../../src/pkg/apk/write.ts';

export const EPOCH = 1700000000;
const utf8 = new TextEncoder();

function packages(arch: string): ApkSpec[] {
  return [
    {
      name: 'base',
      version: '1.0-r0',
      arch,
      license: 'MIT',
      files: [
        { path: 'etc/base.conf', type: 'file', body: utf8.encode(`base = 1\narch = ${arch}\n`) },
        { path: 'etc/os-release', type: 'file', body: utf8.encode('ID=fixture\nNAME="Fixture Linux"\nVERSION_ID=1.0\n') },
      ],
    },
    {
      name: 'hello',
      version: '2.1-r3',
      arch,
      license: 'Apache-2.0',
      depends: ['base'],
      files: [{ path: 'usr/bin/hello', type: 'file', mode: 0o755, body: utf8.encode(`#!/bin/sh\necho hello from ${arch}\n`) }],
    },
  ];
}

/**
 * Writes `repo/<arch>/` (signed packages and APKINDEX), `keys/<name>.rsa.pub` and `image.yaml`
 * (both archs, x86_64 first; an annotation, so the index carries `created` too) under `root`.
 * Returns the configuration's path.
 */
export async function writeFixtureRepo(root: string): Promise<string> {
  const key = generateApkKeyPair('fixture', { bits: 2048 });
  await mkdir(join(root, 'keys'), { recursive: true });
  await writeFile(join(root, 'keys', key.name), key.publicKeyPem);
  const signing = { privateKeyPem: key.privateKeyPem, name: key.name };
  for (const arch of ['x86_64', 'aarch64']) {
    const dir = join(root, 'repo', arch);
    await mkdir(dir, { recursive: true });
    const built: Uint8Array[] = [];
    for (const spec of packages(arch)) {
      const bytes = await buildApk({ ...spec, builddate: EPOCH }, { key: signing, workers: 0 });
      await writeFile(join(dir, `${spec.name}-${spec.version}.apk`), bytes);
      built.push(bytes);
    }
    await writeFile(join(dir, 'APKINDEX.tar.gz'), (await buildApkIndex(built, { key: signing, mtime: EPOCH, workers: 0 })).bytes);
  }
  const configPath = join(root, 'image.yaml');
  await writeFile(
    configPath,
    [
      'contents:',
      '  repositories: [./repo]',
      `  keyring: [./keys/${key.name}]`,
      '  packages: [hello]',
      'archs: [x86_64, aarch64]',
      'entrypoint:',
      '  command: /usr/bin/hello',
      'annotations:',
      '  org.opencontainers.image.title: fixture',
      '',
    ].join('\n'),
  );
  return configPath;
}
