// What each apko field means in Provenant's own build (not --compat apko): the image a default
// build makes must mean what apko's does for the same configuration, though its bytes differ.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { readTar } from '../../src/archive/tar.ts';
import { type BuildOptions, type BuildResult, buildImage } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import { layerBytes } from '../../src/builder/layer.ts';
import { formatLock, parseLock } from '../../src/builder/lock.ts';
import { isProvenantError } from '../../src/errors.ts';
import { generateApkKeyPair } from '../../src/pkg/apk/keys.ts';
import { buildApk, buildApkIndex } from '../../src/pkg/apk/write.ts';
import { useTempDir } from '../helpers/temp.ts';

const EPOCH = 1_700_000_000;
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const key = generateApkKeyPair('fields.rsa', { bits: 2048 });

interface Entry {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  linkname: string;
  body: string;
}

/**
 * A signed repository in `dir/NAME` holding `hello` (usr/bin/app, usr/bin/tool, usr/share/hello),
 * and `dir/keys`: the project a configuration in `dir` builds from.
 */
async function repository(dir: string, name = 'repo'): Promise<void> {
  const signing = { privateKeyPem: key.privateKeyPem, name: key.name };
  await mkdir(join(dir, 'keys'), { recursive: true });
  await writeFile(join(dir, 'keys', key.name), key.publicKeyPem);
  const apk = await buildApk(
    {
      name: 'hello',
      version: '1.0-r0',
      arch: 'x86_64',
      builddate: EPOCH,
      files: [
        { path: 'usr/bin', type: 'dir' },
        { path: 'usr/bin/app', type: 'file', body: enc('#!/bin/sh\n'), mode: 0o755 },
        { path: 'usr/bin/tool', type: 'file', body: enc('#!/bin/sh\n'), mode: 0o755 },
        { path: 'usr/share/hello/data', type: 'file', body: enc('data\n') },
        { path: 'home/app', type: 'dir', uid: 1000, gid: 1000, mode: 0o750 },
        { path: 'etc/passwd', type: 'file', body: enc('root:x:0:0:root:/root:/bin/sh\ndaemon:x:2:2:daemon:/sbin:/sbin/nologin\n') },
      ],
    },
    { key: signing },
  );
  await mkdir(join(dir, name, 'x86_64'), { recursive: true });
  await writeFile(join(dir, name, 'x86_64', 'hello-1.0-r0.apk'), apk);
  await writeFile(join(dir, name, 'x86_64', 'APKINDEX.tar.gz'), (await buildApkIndex([apk], { key: signing, mtime: EPOCH })).bytes);
}

/** Builds `lines` (after the keyring line) in `dir`, the default build unless `options` say otherwise. */
async function build(dir: string, lines: readonly string[], options: Partial<BuildOptions> = {}): Promise<BuildResult> {
  const configPath = join(dir, 'image.yaml');
  await writeFile(configPath, [`contents:`, `  keyring: [./keys/${key.name}]`, ...lines, 'archs: [x86_64]', ''].join('\n'));
  const config = await loadConfig(configPath, { hostArch: 'x86_64' });
  return buildImage({ config, configPath, sourceDateEpoch: EPOCH, ...options });
}

/** The entries of the first image's layers, by path. */
async function entries(result: BuildResult): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  for (const layer of result.images[0]!.layers) {
    for await (const e of readTar([gunzipSync(await layerBytes(layer))])) {
      const parts: Uint8Array[] = [];
      for await (const c of e.body) parts.push(c);
      const h = e.header;
      out.set(h.name.replace(/\/$/, ''), {
        type: h.type,
        mode: h.mode & 0o7777,
        uid: h.uid,
        gid: h.gid,
        linkname: h.linkname,
        body: Buffer.concat(parts).toString('utf8'),
      });
    }
  }
  return out;
}

const tempDir = useTempDir('apko-fields');

describe('contents repositories, as apko reads and writes them', () => {
  it('resolves from build_repositories too, and writes only repositories and runtime_repositories into the image', async () => {
    const dir = await tempDir();
    await repository(dir, 'build-repo');
    const result = await build(dir, [
      '  build_repositories: [./build-repo]',
      '  runtime_repositories: [https://runtime.example/main]',
      '  packages: [hello]',
    ]);
    const files = await entries(result);
    assert.equal(files.get('usr/bin/app')?.type, 'file');
    assert.equal(files.get('etc/apk/repositories')?.body, 'https://runtime.example/main\n');
    // The package is named by where it came from; the lock records each kind of repository apart.
    assert.equal(result.lock.contents.packages[0]?.url, './build-repo/x86_64/hello-1.0-r0.apk');
    assert.deepEqual(result.lock.contents.repositories, []);
    assert.deepEqual(result.lock.contents.build_repositories, [
      { name: './build-repo/x86_64', url: './build-repo/x86_64/APKINDEX.tar.gz', architecture: 'x86_64' },
    ]);
    assert.deepEqual(result.lock.contents.runtime_repositories, [
      { name: 'https://runtime.example/main/x86_64', url: 'https://runtime.example/main/x86_64/APKINDEX.tar.gz', architecture: 'x86_64' },
    ]);
    assert.deepEqual(parseLock(formatLock(result.lock), 'the lock').contents, result.lock.contents);
    assert.deepEqual(
      result.indexes.map((i) => i.url),
      ['./build-repo/x86_64/APKINDEX.tar.gz'],
    );
    assert.deepEqual(result.contents.buildRepositories, ['./build-repo']);
    assert.deepEqual(result.contents.runtimeRepositories, ['https://runtime.example/main']);
  });

  it('builds again from its own lock, which names the build repository', async () => {
    const dir = await tempDir();
    await repository(dir, 'build-repo');
    const lines = ['  build_repositories: [./build-repo]', '  packages: [hello]'];
    const first = await build(dir, lines);
    const again = await build(dir, lines, { lock: parseLock(formatLock(first.lock), 'the lock') });
    assert.ok(first.index !== undefined);
    assert.equal(again.index?.digest, first.index.digest);
  });

  it('appends runtime_repositories to repositories in /etc/apk/repositories, as --compat apko does', async () => {
    const dir = await tempDir();
    await repository(dir);
    const result = await build(dir, [
      '  repositories: [./repo]',
      '  runtime_repositories: [https://runtime.example/main]',
      '  packages: [hello]',
    ]);
    assert.equal((await entries(result)).get('etc/apk/repositories')?.body, './repo\nhttps://runtime.example/main\n');
  });
});

describe("keys one ecosystem's sources do not read", () => {
  for (const [key, lines] of [
    ['timezone', ['  repositories: [./repo]', '  packages: [hello]', 'timezone: Europe/Paris']],
    ['contents.recommends', ['  repositories: [./repo]', '  packages: [hello]', '  recommends: true']],
    ['contents.merged-usr', ['  repositories: [./repo]', '  packages: [hello]', '  merged-usr: true']],
  ] as const) {
    it(`refuses ${key} (Debian's) for an apk image, at its line`, async () => {
      const dir = await tempDir();
      await repository(dir);
      const line = 3 + lines.findIndex((l) => l.includes(key.replace('contents.', '')));
      await assert.rejects(build(dir, lines), (err: unknown) => {
        assert.ok(isProvenantError(err, 'INVALID_CONFIG'), String(err));
        assert.match(err.message, new RegExp(`^${join(dir, 'image.yaml')}:${line}:\\d+: ${key}: is for Debian sources`));
        return true;
      });
    });
  }

  it('refuses build_repositories for Debian sources, at its line', async () => {
    const dir = await tempDir();
    const lines = [
      '  repositories: ["deb http://127.0.0.1:9/debian bookworm main"]',
      '  build_repositories: ["deb http://127.0.0.1:9/debian bookworm-updates main"]',
      '  packages: [base-files]',
    ];
    await assert.rejects(build(dir, lines), (err: unknown) => {
      assert.ok(isProvenantError(err, 'INVALID_CONFIG'), String(err));
      assert.match(err.message, /image\.yaml:4:\d+: contents\.build_repositories: is for apk repositories/);
      return true;
    });
  });

  it("refuses keyring for Debian sources, at its line, saying where a Debian source's keys go", async () => {
    const dir = await tempDir();
    // build() names an apk key at line 2.
    const lines = ['  repositories: ["deb http://127.0.0.1:9/debian bookworm main"]', '  packages: [base-files]'];
    await assert.rejects(build(dir, lines), (err: unknown) => {
      assert.ok(isProvenantError(err, 'INVALID_CONFIG'), String(err));
      assert.match(err.message, /image\.yaml:2:\d+: contents\.keyring: is for apk repositories/);
      assert.match(err.hint ?? '', /deb \[signed-by=KEYRING\] URL SUITE/);
      return true;
    });
  });
});

/** The first image's config, parsed. */
// biome-ignore lint/suspicious/noExplicitAny: the image config is JSON
const imageConfig = (result: BuildResult): any => JSON.parse(new TextDecoder().decode(result.images[0]!.config.bytes)).config;

describe('accounts.run-as, as apko resolves it', () => {
  const packages = ['  repositories: [./repo]', '  packages: [hello]'];
  it("is the uid of a configured user, of a package's user, or the name when /etc/passwd has none", async () => {
    const dir = await tempDir();
    await repository(dir);
    const users = ['accounts:', '  users: [{username: nonroot, uid: 65532}]'];
    assert.equal(imageConfig(await build(dir, [...packages, ...users, '  run-as: nonroot'])).User, '65532');
    assert.equal(imageConfig(await build(dir, [...packages, ...users, '  run-as: daemon'])).User, '2');
    assert.equal(imageConfig(await build(dir, [...packages, ...users, '  run-as: nobody'])).User, 'nobody');
    assert.equal(imageConfig(await build(dir, [...packages, ...users, '  run-as: "1000:1000"'])).User, '1000:1000');
  });

  it('is resolved the same in an image an earlier build made (the image memo)', async () => {
    const dir = await tempDir();
    await repository(dir);
    const lines = [...packages, 'accounts:', '  users: [{username: nonroot, uid: 65532}]', '  run-as: nonroot'];
    const cacheDir = join(dir, 'cache');
    const first = await build(dir, lines, { cacheDir });
    const steps: string[] = [];
    const again = await build(dir, lines, { cacheDir, onProgress: (u) => u.kind === 'step' && steps.push(u.step) });
    assert.ok(steps.includes('reuse'), `the second build made its image again: ${steps.join(', ')}`);
    assert.equal(imageConfig(again).User, '65532');
    assert.equal(again.index?.digest, first.index?.digest);
  });
});

describe('vcs-url, as apko annotates an image with it', () => {
  it("gives the index the source and revision of URL@REVISION, and the platform manifests nothing, as apko's", async () => {
    const dir = await tempDir();
    await repository(dir);
    const result = await build(dir, ['  repositories: [./repo]', '  packages: [hello]', 'vcs-url: https://github.com/example/app@4f0c2e1']);
    assert.ok(result.index !== undefined);
    const index = JSON.parse(new TextDecoder().decode(result.index.bytes));
    assert.equal(index.annotations['org.opencontainers.image.source'], 'https://github.com/example/app');
    assert.equal(index.annotations['org.opencontainers.image.revision'], '4f0c2e1');
    assert.equal(index.annotations['org.opencontainers.image.created'], '2023-11-14T22:13:20Z');
    const manifest = JSON.parse(new TextDecoder().decode(result.images[0]!.manifest.bytes));
    assert.equal(manifest.annotations, undefined);
    // Without a revision, apko writes neither.
    const bare = await build(dir, ['  repositories: [./repo]', '  packages: [hello]', 'vcs-url: https://github.com/example/app']);
    assert.equal(JSON.parse(new TextDecoder().decode(bare.index!.bytes)).annotations, undefined);
  });
});

describe('entrypoint.command and cmd, split as apko splits them', () => {
  it("splits with apko's shlex in the default build: a backslash in double quotes escapes any character, # starts a comment", async () => {
    const dir = await tempDir();
    await repository(dir);
    const lines = [
      '  repositories: [./repo]',
      '  packages: [hello]',
      'entrypoint:',
      `  command: /usr/bin/app --match "^foo\\.bar$" --color '#fff'`,
      'cmd: --flag #comment',
    ];
    const config = imageConfig(await build(dir, lines));
    assert.deepEqual(config.Entrypoint, ['/usr/bin/app', '--match', '^foo.bar$', '--color', '#fff']);
    assert.deepEqual(config.Cmd, ['--flag']);
    // The same words as --compat apko gives.
    const apko = imageConfig(await build(dir, lines, { compat: 'apko' }));
    assert.deepEqual([apko.Entrypoint, apko.Cmd], [config.Entrypoint, config.Cmd]);
  });

  it('leaves Cmd unset for a cmd of no words, as apko', async () => {
    const dir = await tempDir();
    await repository(dir);
    const config = imageConfig(await build(dir, ['  repositories: [./repo]', '  packages: [hello]', 'cmd: "# nothing"']));
    assert.equal(config.Cmd, undefined);
  });
});

describe('paths', () => {
  it("refuses a symlink over a package's file at the entry's line, in the default build and with --compat apko, as apko refuses it", async () => {
    const dir = await tempDir();
    await repository(dir);
    const lines = [
      '  repositories: [./repo]',
      '  packages: [hello]',
      'paths:',
      '  - path: /usr/bin/app',
      '    type: symlink',
      '    source: tool',
    ];
    for (const compat of ['default', 'apko'] as const) {
      await assert.rejects(build(dir, lines, compat === 'apko' ? { compat } : {}), (err: unknown) => {
        assert.ok(isProvenantError(err), String(err));
        assert.match(err.message, /image\.yaml:6:5: paths\[0\]: \/usr\/bin\/app(:| is) already/, compat);
        return true;
      });
    }
  });

  it('names the missing target of a symlink entry with --compat apko, which fails there as apko does; the default build writes the link', async () => {
    const dir = await tempDir();
    await repository(dir);
    const lines = [
      '  repositories: [./repo]',
      '  packages: [hello]',
      'paths:',
      '  - path: /app/link',
      '    type: symlink',
      '    source: /nonexistent',
    ];
    await assert.rejects(build(dir, lines, { compat: 'apko' }), (err: unknown) => {
      assert.ok(isProvenantError(err, 'INVALID_CONFIG'), String(err));
      assert.match(
        err.message,
        /image\.yaml:8:13: paths\[0\]\.source: \/app\/link links to \/nonexistent, which is not in the image: apko sets the entry's mode on the link's target/,
      );
      // Not a conflict with what is there: nothing is.
      assert.doesNotMatch(err.hint ?? '', /conflicts/);
      assert.match(err.hint ?? '', /make the target first/);
      return true;
    });
    const files = await entries(await build(dir, lines));
    assert.equal(files.get('app/link')?.linkname, '/nonexistent');
  });

  it("takes a symlink entry at /etc/os-release when no package gives one: the build's own stands in, as apko writes none", async () => {
    const dir = await tempDir();
    await repository(dir);
    const lines = [
      '  repositories: [./repo]',
      '  packages: [hello]',
      'paths:',
      '  - {path: /usr/lib/os-release, type: empty-file}',
      '  - {path: /etc/os-release, type: symlink, source: ../usr/lib/os-release}',
    ];
    for (const compat of ['default', 'apko'] as const) {
      const result = await build(dir, lines, compat === 'apko' ? { compat } : {});
      const files = await entries(result);
      assert.equal(files.get('etc/os-release')?.type, 'symlink', compat);
      assert.equal(files.get('etc/os-release')?.linkname, '../usr/lib/os-release', compat);
    }
  });
});
