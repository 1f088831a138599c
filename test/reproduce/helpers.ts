/**
 * Helpers of the reproduce tests: a signed two-architecture apk repository served over HTTP on
 * 127.0.0.1, a configuration that includes a file from a sibling folder, and a build of it with
 * its SBOMs and provenance attached, as `provenant build` writes them.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, normalize } from 'node:path';
import { SLSA_V1 } from '../../src/attest/provenance.ts';
import type { Attested } from '../../src/attest/storage.ts';
import { type BuildResult, buildImage, writeBuild } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import type { LoadedConfig } from '../../src/builder/config-types.ts';
import { describeBuild } from '../../src/builder/describe.ts';
import { type ApkKeyPair, generateApkKeyPair } from '../../src/pkg/apk/keys.ts';
import { type ApkSpec, buildApk, buildApkIndex } from '../../src/pkg/apk/write.ts';
import type { ContentStore } from '../../src/store/types.ts';

export const EPOCH = 1_700_000_000;
export const ARCHS = ['x86_64', 'aarch64'] as const;
const utf8 = new TextEncoder();

/** A folder served over HTTP on 127.0.0.1, with a log of the paths asked for. */
export interface StaticServer {
  url: string;
  requests: string[];
  close(): Promise<void>;
}

/**
 * Serves the files under `root` (GET only; 404 for anything else). With `basicAuth`
 * (`user:password`), a request without those credentials is answered 401.
 */
export async function serveFolder(root: string, basicAuth?: string): Promise<StaticServer> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(path);
    if (basicAuth !== undefined && req.headers.authorization !== `Basic ${Buffer.from(basicAuth).toString('base64')}`) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="repo"' }).end();
      return;
    }
    const file = normalize(join(root, path));
    if (!file.startsWith(`${root}/`)) {
      res.writeHead(404).end();
      return;
    }
    readFile(file).then(
      (body) => res.writeHead(200, { 'content-length': body.length }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The packages of the test repository; `data`'s text is what a test changes. */
export function packages(arch: string, dataText = 'alpha\nbeta\ngamma\n'): ApkSpec[] {
  return [
    {
      name: 'base',
      version: '1.0-r0',
      arch,
      license: 'MIT',
      files: [
        { path: 'etc/motd', type: 'file', body: utf8.encode('welcome\n') },
        { path: 'usr/bin/hello', type: 'file', mode: 0o755, body: utf8.encode(`#!/bin/sh\necho hello from ${arch}\n`) },
      ],
    },
    {
      name: 'data',
      version: '2.1-r3',
      arch,
      license: 'MIT',
      depends: ['base'],
      files: [
        { path: 'usr/share/data/values.txt', type: 'file', body: utf8.encode(dataText) },
        // Large enough that layering gives data a layer of its own.
        { path: 'usr/share/data/table.bin', type: 'file', body: new Uint8Array(64 * 1024).fill(7) },
        { path: 'usr/share/data/zz-readme', type: 'file', body: utf8.encode('data files\n') },
      ],
    },
    {
      name: 'tool',
      version: '0.9-r1',
      arch,
      license: 'Apache-2.0',
      depends: ['base'],
      files: [{ path: 'usr/bin/tool', type: 'file', mode: 0o755, body: utf8.encode(`#!/bin/sh\necho tool ${'x'.repeat(4000)}\n`) }],
    },
  ];
}

/** Writes the signed repository `<served>/repo/<arch>/` with `specs(arch)`. */
export async function writeRepository(served: string, key: ApkKeyPair, specs: (arch: string) => ApkSpec[] = (a) => packages(a)) {
  const signing = { privateKeyPem: key.privateKeyPem, name: key.name };
  for (const arch of ARCHS) {
    const dir = join(served, 'repo', arch);
    await mkdir(dir, { recursive: true });
    const built: Uint8Array[] = [];
    for (const spec of specs(arch)) {
      const bytes = await buildApk({ ...spec, builddate: EPOCH }, { key: signing });
      await writeFile(join(dir, `${spec.name}-${spec.version}.apk`), bytes);
      built.push(bytes);
    }
    await writeFile(join(dir, 'APKINDEX.tar.gz'), (await buildApkIndex(built, { key: signing, mtime: EPOCH })).bytes);
  }
}

/** The configuration: `<root>/cfg/app/image.yaml` includes `../shared/common.yaml`; the key is `./keys/<name>`. */
export async function writeConfig(root: string, key: ApkKeyPair, repositoryUrl: string): Promise<string> {
  await mkdir(join(root, 'cfg', 'app', 'keys'), { recursive: true });
  await mkdir(join(root, 'cfg', 'shared'), { recursive: true });
  await writeFile(join(root, 'cfg', 'app', 'keys', key.name), key.publicKeyPem);
  await writeFile(
    join(root, 'cfg', 'shared', 'common.yaml'),
    [
      'entrypoint:',
      '  command: /usr/bin/hello',
      'environment:',
      '  GREETING: hi',
      'layering:',
      '  strategy: origin',
      '  budget: 3',
      '',
    ].join('\n'),
  );
  const path = join(root, 'cfg', 'app', 'image.yaml');
  await writeFile(
    path,
    [
      'include: ../shared/common.yaml',
      'contents:',
      `  repositories: [${repositoryUrl}]`,
      `  keyring: [./keys/${key.name}]`,
      '  packages: [base, data, tool]',
      'archs: [x86_64, aarch64]',
      '',
    ].join('\n'),
  );
  return path;
}

/**
 * Loads a configuration in `<root>/cfg/app/` (writeConfig's, or one beside it) for x86_64. It
 * includes ../shared/common.yaml, outside its folder, so includes may read from all of cfg/.
 */
export function loadWrittenConfig(configPath: string): Promise<LoadedConfig> {
  return loadConfig(configPath, { hostArch: 'x86_64', includeRoot: dirname(dirname(configPath)) });
}

/** Builds the configuration at `configPath` and describes it as `provenant build` does (SBOMs and SLSA v1 provenance). */
export async function buildAndDescribe(
  configPath: string,
  imageName: string,
  sourceDateEpoch = EPOCH,
  archs?: string[],
): Promise<{ result: BuildResult; attested: Attested[] }> {
  const loaded = await loadWrittenConfig(configPath);
  const result = await buildImage({ config: loaded, configPath, sourceDateEpoch, workers: 0, archs });
  const attested = describeBuild(result, {
    imageName,
    configPath,
    toolVersion: '0.0.0-test',
    sourceDateEpoch,
    builderId: 'https://example.com/builder',
    provenance: { mode: 'min', version: 'v1' },
    fromLock: false,
  });
  return { result, attested };
}

/** Each platform's SLSA v1 provenance statement of a build as {@link buildAndDescribe} describes it, parsed: JSON to read or edit. */
// biome-ignore lint/suspicious/noExplicitAny: statements are JSON, edited by the tests
export function slsaStatements(attested: readonly Attested[]): any[] {
  return attested.map((a) => JSON.parse(Buffer.from(a.statements.find((s) => s.predicateType === SLSA_V1)?.bytes ?? []).toString()));
}

/**
 * Builds example/app, described, from a repository written in `<root>/served` with `specs`, which
 * its configuration names by a relative path (as docs/getting-started.md builds from a local
 * repository): the provenance names package files of this machine, relative to the configuration's
 * folder. `requests`, when given, stands for the configuration's package list, `[base, data, tool]`.
 */
export async function buildFromLocalRepository(
  root: string,
  options: { specs?: (arch: string) => ApkSpec[]; requests?: string } = {},
): Promise<{ result: BuildResult; attested: Attested[]; configPath: string; key: ApkKeyPair }> {
  const key = repositoryKey();
  await writeRepository(join(root, 'served'), key, options.specs);
  const configPath = await writeConfig(root, key, '../../served/repo');
  if (options.requests !== undefined) {
    const text = await readFile(configPath, 'utf8');
    // A configuration written otherwise would keep its own list, and the test would build what it
    // did not ask for. Asked before replacing: requests equal to the list change no byte.
    if (!text.includes('[base, data, tool]'))
      throw new Error(`${configPath} has no package list [base, data, tool] for requests to stand for`);
    await writeFile(configPath, text.replace('[base, data, tool]', options.requests));
  }
  return { ...(await buildAndDescribe(configPath, 'example/app')), configPath, key };
}

/** Writes a build to `store` as `tag` with its statements as referrers (unsigned). */
export async function writeWithAttestations(store: ContentStore, built: { result: BuildResult; attested: Attested[] }, tag: string) {
  return writeBuild(built.result, store, [tag], { attestations: { attested: built.attested, mode: 'referrers' } });
}

/** A new apk signing key for a test repository. */
export function repositoryKey(): ApkKeyPair {
  return generateApkKeyPair('reproduce-test', { bits: 2048 });
}
