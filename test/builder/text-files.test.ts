// The files a build reads whole as text (/etc/passwd, /etc/group, /etc/os-release) are refused
// past a cap with a typed error naming the package that shipped them: a package may ship one of
// gigabytes, which read whole took as much memory, or failed inside Node (a read over 2 GiB, a
// string over 512 MiB).
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildImage } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import { isProvenantError } from '../../src/errors.ts';
import { generateApkKeyPair } from '../../src/pkg/apk/keys.ts';
import { type ApkSpec, buildApk, buildApkIndex } from '../../src/pkg/apk/write.ts';
import { useTempDir } from '../helpers/temp.ts';

const EPOCH = 1_700_000_000;
const tempDir = useTempDir('text-files');
// The caps docs/security.md gives.
const OS_RELEASE_MAX = 1 << 20;
const ACCOUNTS_FILE_MAX = 8 << 20;

/** Builds an image of one package `evil` that ships `path` with `body`; what the build threw, or undefined. */
async function buildWith(path: string, body: Uint8Array, compat?: 'apko'): Promise<unknown> {
  const dir = await tempDir();
  const key = generateApkKeyPair('text.rsa', { bits: 2048 });
  const signing = { privateKeyPem: key.privateKeyPem, name: key.name };
  await mkdir(join(dir, 'keys'), { recursive: true });
  await writeFile(join(dir, 'keys', key.name), key.publicKeyPem);
  const spec: ApkSpec = {
    name: 'evil',
    version: '1.0-r0',
    arch: 'x86_64',
    builddate: EPOCH,
    files: [
      { path: 'etc', type: 'dir' },
      { path, type: 'file', body },
    ],
  };
  const apk = await buildApk(spec, { key: signing });
  await mkdir(join(dir, 'repo', 'x86_64'), { recursive: true });
  await writeFile(join(dir, 'repo', 'x86_64', 'evil-1.0-r0.apk'), apk);
  await writeFile(join(dir, 'repo', 'x86_64', 'APKINDEX.tar.gz'), (await buildApkIndex([apk], { key: signing, mtime: EPOCH })).bytes);
  const configPath = join(dir, 'image.yaml');
  await writeFile(
    configPath,
    `contents:\n  repositories: [./repo]\n  keyring: [./keys/text.rsa.pub]\n  packages: [evil]\narchs: [x86_64]\n`,
  );
  const config = await loadConfig(configPath, { hostArch: 'x86_64' });
  try {
    await buildImage({ config, configPath, sourceDateEpoch: EPOCH, cacheDir: join(dir, 'cache'), compat });
    return undefined;
  } catch (err) {
    return err;
  }
}

/** A text of `size` bytes: `line` repeated, then spaces. */
function text(line: string, size: number): Uint8Array {
  const out = new Uint8Array(size).fill(0x20);
  const bytes = new TextEncoder().encode(line.repeat(Math.floor(size / line.length)));
  out.set(bytes);
  return out;
}

describe('files the build reads as text', () => {
  it('refuses an /etc/os-release one byte over the cap with TOO_LARGE naming the package and the file', async () => {
    const err = await buildWith('etc/os-release', text('ID=evil\n', OS_RELEASE_MAX + 1));
    assert.ok(isProvenantError(err, 'TOO_LARGE'), String(err));
    assert.match(err.message, /\/etc\/os-release \(installed by evil\)/);
    assert.match(err.where ?? '', /evil/);
  });

  it('reads one at the cap', async () => {
    assert.equal(await buildWith('etc/os-release', text('ID=evil\n', OS_RELEASE_MAX)), undefined);
  });

  it('refuses an /etc/passwd one byte over the cap with TOO_LARGE naming the package and the file', async () => {
    const err = await buildWith('etc/passwd', text('u:x:1:1::/:/bin/sh\n', ACCOUNTS_FILE_MAX + 1));
    assert.ok(isProvenantError(err, 'TOO_LARGE'), String(err));
    assert.match(err.message, /\/etc\/passwd \(installed by evil\)/);
  });

  it('refuses them alike in an apko-compatible build', async () => {
    for (const [path, size, line] of [
      ['etc/os-release', OS_RELEASE_MAX + 1, 'ID=evil\n'],
      ['etc/passwd', ACCOUNTS_FILE_MAX + 1, 'u:x:1:1::/:/bin/sh\n'],
    ] as const) {
      const err = await buildWith(path, text(line, size), 'apko');
      assert.ok(isProvenantError(err, 'TOO_LARGE'), `${path}: ${String(err)}`);
      assert.match(err.message, new RegExp(`/${path} \\(installed by evil\\)`));
    }
  });
});
