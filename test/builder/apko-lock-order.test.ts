// `provenant lock --compat apko` writes packages in the order `apko lock` does: apko's install
// order for the configuration's requests, unpinned, each dependency's candidates counted among
// every package the index offers. A build without a lock keeps apko's build order (the pinned
// world), and a build from a lock installs in the lock's order.
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildImage } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import { generateApkKeyPair } from '../../src/pkg/apk/keys.ts';
import { type ApkSpec, buildApk, buildApkIndex } from '../../src/pkg/apk/write.ts';
import { useTempDir } from '../helpers/temp.ts';

const EPOCH = 1_700_000_000;
const key = generateApkKeyPair('order-test', { bits: 2048 });
const utf8 = new TextEncoder();

/** A package with one file of its own and the given dependencies and provisions. */
const pkg = (name: string, version: string, depends: string[] = [], provides: string[] = []): ApkSpec => ({
  name,
  version,
  arch: 'x86_64',
  depends,
  provides,
  files: [{ path: `usr/share/${name}/${version}`, type: 'file', body: utf8.encode(`${name} ${version}\n`) }],
});

/** A signed repository of `specs` in `dir/NAME/x86_64`. */
async function repository(dir: string, name: string, specs: readonly ApkSpec[]): Promise<void> {
  const signing = { privateKeyPem: key.privateKeyPem, name: key.name };
  const folder = join(dir, name, 'x86_64');
  await mkdir(folder, { recursive: true });
  const built: Uint8Array[] = [];
  for (const spec of specs) {
    const bytes = await buildApk({ ...spec, builddate: EPOCH }, { key: signing });
    await writeFile(join(folder, `${spec.name}-${spec.version}.apk`), bytes);
    built.push(bytes);
  }
  await writeFile(join(folder, 'APKINDEX.tar.gz'), (await buildApkIndex(built, { key: signing, mtime: EPOCH })).bytes);
}

/**
 * A configuration in `dir` that asks for `packages` (default `x`) from a repository of `specs`
 * and, given `tagged`, a second one of those under the tag `extra`.
 */
async function project(
  dir: string,
  specs: readonly ApkSpec[],
  options: { tagged?: readonly ApkSpec[]; packages?: readonly string[] } = {},
): Promise<string> {
  await mkdir(join(dir, 'keys'), { recursive: true });
  await writeFile(join(dir, 'keys', key.name), key.publicKeyPem);
  await repository(dir, 'repo', specs);
  const repositories = ['./repo'];
  if (options.tagged !== undefined) {
    await repository(dir, 'extra', options.tagged);
    repositories.push("'@extra ./extra'");
  }
  const configPath = join(dir, 'image.yaml');
  await writeFile(
    configPath,
    `contents:\n  repositories: [${repositories.join(', ')}]\n  keyring: [./keys/${key.name}]\n  packages: [${(options.packages ?? ['x']).join(', ')}]\narchs: [x86_64]\n`,
  );
  return configPath;
}

/**
 * Locks, builds without the lock and builds from it, all as apko does; with the lock the build
 * without one writes (`build --write-lock`).
 */
async function lockAndBuild(configPath: string) {
  const config = await loadConfig(configPath, { hostArch: 'x86_64' });
  const base = { config, configPath, compat: 'apko' as const, sourceDateEpoch: EPOCH, workers: 0 };
  const { lock } = await buildImage({ ...base, lockOnly: true });
  const unlocked = await buildImage(base);
  const fromLock = await buildImage({ ...base, lock });
  const installed = (r: typeof unlocked) => r.images[0]?.apko?.installed.map((p) => `${p.name}-${p.version}`);
  const names = (l: typeof lock) => l.contents.packages.map((p) => `${p.name}-${p.version}`);
  return {
    lock: names(lock),
    unlocked: installed(unlocked),
    unlockedLock: names(unlocked.lock),
    fromLock: installed(fromLock),
  };
}

describe('lock --compat apko', () => {
  const tempDir = useTempDir('apko-lock-order');

  it("writes the packages in apko lock's order: the requests' dependencies, the one of fewest candidates first", async () => {
    // x needs b and c, c needs a: apko lock walks x (b, then c with a); the pinned world of a
    // build without a lock walks a, b, c, x in turn.
    const configPath = await project(await tempDir(), [
      pkg('a', '1.0-r0'),
      pkg('b', '1.0-r0'),
      pkg('c', '1.0-r0', ['a']),
      pkg('x', '1.0-r0', ['b', 'c']),
    ]);
    const { lock, unlocked, unlockedLock, fromLock } = await lockAndBuild(configPath);
    assert.deepEqual(lock, ['b-1.0-r0', 'a-1.0-r0', 'c-1.0-r0', 'x-1.0-r0']);
    assert.deepEqual(unlocked, ['a-1.0-r0', 'b-1.0-r0', 'c-1.0-r0', 'x-1.0-r0']);
    assert.deepEqual(fromLock, lock);
    // build --write-lock writes the lock `provenant lock` does, though it installs in the build's order.
    assert.deepEqual(unlockedLock, lock);
  });

  it('reads each index once, for the plan and for the order', async (t) => {
    // The repository is served over HTTP, which counts the requests for its index.
    const dir = await tempDir();
    const configPath = await project(dir, [pkg('a', '1.0-r0'), pkg('x', '1.0-r0', ['a'])]);
    let reads = 0;
    const server = createServer((req, res) => {
      if (req.url?.endsWith('/APKINDEX.tar.gz')) reads++;
      readFile(join(dir, decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname))).then(
        (body) => res.end(body),
        () => res.writeHead(404).end(),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => server.close());
    const { port } = server.address() as AddressInfo;
    const text = (await readFile(configPath, 'utf8')).replace('[./repo]', `[http://127.0.0.1:${port}/repo]`);
    await writeFile(configPath, text);
    const config = await loadConfig(configPath, { hostArch: 'x86_64' });
    const base = { config, configPath, compat: 'apko' as const, sourceDateEpoch: EPOCH, workers: 0 };
    for (const lockOnly of [true, false]) {
      reads = 0;
      const { lock } = await buildImage({ ...base, lockOnly });
      assert.deepEqual(
        lock.contents.packages.map((p) => p.name),
        ['a', 'x'],
      );
      assert.equal(reads, 1);
    }
  });

  it("counts a dependency's candidates among every version the index offers, not only the one resolved", async () => {
    // The index offers b twice and c once: apko lock takes c (with a) before b, where counting
    // the resolved packages alone (one b, one c) would take b first, by name.
    const configPath = await project(await tempDir(), [
      pkg('a', '1.0-r0'),
      pkg('b', '1.0-r0'),
      pkg('b', '2.0-r0'),
      pkg('c', '1.0-r0', ['a']),
      pkg('x', '1.0-r0', ['b', 'c']),
    ]);
    const { lock, unlocked, fromLock } = await lockAndBuild(configPath);
    assert.deepEqual(lock, ['a-1.0-r0', 'c-1.0-r0', 'b-2.0-r0', 'x-1.0-r0']);
    assert.deepEqual(unlocked, ['a-1.0-r0', 'b-2.0-r0', 'c-1.0-r0', 'x-1.0-r0']);
    assert.deepEqual(fromLock, lock);
  });

  it('counts only the versions a dependency constraint allows', async () => {
    // x needs b>=2.0: of the two b, one is a candidate, as c is; the tie goes to b by name.
    const configPath = await project(await tempDir(), [
      pkg('a', '1.0-r0'),
      pkg('b', '1.0-r0'),
      pkg('b', '2.0-r0'),
      pkg('c', '1.0-r0', ['a']),
      pkg('x', '1.0-r0', ['b>=2.0', 'c']),
    ]);
    const { lock } = await lockAndBuild(configPath);
    assert.deepEqual(lock, ['b-2.0-r0', 'a-1.0-r0', 'c-1.0-r0', 'x-1.0-r0']);
  });

  it("leaves out a tagged repository's packages, unless the request has its tag or the package is the one chosen", async () => {
    // b-2.0 is only in the repository tagged @extra, which x's request does not name: one b is a
    // candidate, as one c is, and the tie goes to b by name.
    const untagged = await project(
      await tempDir(),
      [pkg('a', '1.0-r0'), pkg('b', '1.0-r0'), pkg('c', '1.0-r0', ['a']), pkg('x', '1.0-r0', ['b', 'c'])],
      { tagged: [pkg('b', '2.0-r0')] },
    );
    assert.deepEqual((await lockAndBuild(untagged)).lock, ['b-1.0-r0', 'a-1.0-r0', 'c-1.0-r0', 'x-1.0-r0']);
    // y@extra makes y-2.0 the y chosen: then under x both y are candidates, and z (one) comes first.
    const chosen = await project(
      await tempDir(),
      [pkg('a', '1.0-r0'), pkg('y', '1.0-r0'), pkg('z', '1.0-r0', ['a']), pkg('x', '1.0-r0', ['y', 'z'])],
      { tagged: [pkg('y', '2.0-r0')], packages: ['x', 'y@extra'] },
    );
    assert.deepEqual((await lockAndBuild(chosen)).lock, ['a-1.0-r0', 'z-1.0-r0', 'y-2.0-r0', 'x-1.0-r0']);
  });

  it('rules out what conflicts with a dependency already chosen before it counts the next', async () => {
    // x needs a, b and c; a and c-1.0 provide v with a version. a (one candidate) comes first, and
    // rules out c-1.0: c has one candidate left, b two, so c comes before b.
    const configPath = await project(await tempDir(), [
      pkg('a', '1.0-r0', [], ['v=1.0-r0']),
      pkg('b', '1.0-r0'),
      pkg('b', '2.0-r0'),
      pkg('c', '1.0-r0', [], ['v=2.0-r0']),
      pkg('c', '2.0-r0'),
      pkg('x', '1.0-r0', ['a', 'b', 'c']),
    ]);
    assert.deepEqual((await lockAndBuild(configPath)).lock, ['a-1.0-r0', 'c-2.0-r0', 'b-2.0-r0', 'x-1.0-r0']);
  });

  it('rules out what conflicts with a request before it walks the requests', async () => {
    // The request a provides v, as c-1.0 does: c-1.0 is ruled out before x's dependencies are
    // counted, so c (one candidate) comes before b (two).
    const configPath = await project(
      await tempDir(),
      [
        pkg('a', '1.0-r0', [], ['v=1.0-r0']),
        pkg('b', '1.0-r0'),
        pkg('b', '2.0-r0'),
        pkg('c', '1.0-r0', [], ['v=2.0-r0']),
        pkg('c', '2.0-r0'),
        pkg('x', '1.0-r0', ['b', 'c']),
      ],
      { packages: ['x', 'a'] },
    );
    assert.deepEqual((await lockAndBuild(configPath)).lock, ['a-1.0-r0', 'c-2.0-r0', 'b-2.0-r0', 'x-1.0-r0']);
  });

  it("rules out the providers of a package's `!name` before it counts that package's dependencies", async () => {
    // x refuses v, which c-1.0 provides: c has one candidate left, b two, so c comes first.
    const configPath = await project(await tempDir(), [
      pkg('b', '1.0-r0'),
      pkg('b', '2.0-r0'),
      pkg('c', '1.0-r0', [], ['v=2.0-r0']),
      pkg('c', '2.0-r0'),
      pkg('x', '1.0-r0', ['b', 'c', '!v']),
    ]);
    assert.deepEqual((await lockAndBuild(configPath)).lock, ['c-2.0-r0', 'b-2.0-r0', 'x-1.0-r0']);
  });

  it('reads a `so:` version without a release as `0.<version>` when it counts candidates', async () => {
    // p provides the soname at `3`, read as 0.3, which does not meet x's >=1.5-r0: only q is a
    // candidate, so the soname (one) comes before b (two).
    const configPath = await project(await tempDir(), [
      pkg('b', '1.0-r0'),
      pkg('b', '2.0-r0'),
      pkg('p', '1.0-r0', [], ['so:libq.so.1=3']),
      pkg('q', '1.0-r0', [], ['so:libq.so.1=2.0-r0']),
      pkg('x', '1.0-r0', ['b', 'so:libq.so.1>=1.5-r0']),
    ]);
    assert.deepEqual((await lockAndBuild(configPath)).lock, ['q-1.0-r0', 'b-2.0-r0', 'x-1.0-r0']);
  });

  it('walks a request for a name a package provides from the package that provides it', async () => {
    // The request is v, which a provides: a's dependency c comes before a.
    const configPath = await project(await tempDir(), [pkg('c', '1.0-r0'), pkg('a', '1.0-r0', ['c'], ['v=1.0-r0'])], {
      packages: ['v'],
    });
    assert.deepEqual((await lockAndBuild(configPath)).lock, ['c-1.0-r0', 'a-1.0-r0']);
  });
});
