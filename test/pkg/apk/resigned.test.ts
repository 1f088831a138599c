// A repository may sign a package again (another trusted key, a new signing run) without changing
// its control member, so its `Q1` checksum and, often, its size (what the index gives) stay the
// same. A machine with the old file in its cache must still record the file the repository serves
// now: the lock, the SBOM's and provenance's digests of a warm build are those of a cold one, and
// a lock made warm is one a cold machine builds. The repository publishes its index again, a file
// of the same lines made and signed again: a warm build asks after its cached packages then, and
// not while the index is the file they were last found served under. Served over HTTP from this
// machine.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildImage } from '../../../src/builder/build.ts';
import { loadConfig } from '../../../src/builder/config.ts';
import type { Lock } from '../../../src/builder/lock.ts';
import type { ProgressUpdate } from '../../../src/io/types.ts';
import { generateApkKeyPair } from '../../../src/pkg/apk/keys.ts';
import { buildApk, buildApkIndex } from '../../../src/pkg/apk/write.ts';
import { useTempDir } from '../../helpers/temp.ts';

const EPOCH = 1_700_000_000;
const spec = {
  name: 'hello',
  version: '1.0-r0',
  arch: 'x86_64',
  builddate: EPOCH,
  files: [{ path: 'usr/share/hello/greeting', type: 'file' as const, body: new TextEncoder().encode('hello\n') }],
};

/** A second package, signed once, beside hello in a repository of two. */
const world = { ...spec, name: 'world', files: [{ ...spec.files[0]!, path: 'usr/share/world/greeting' }] };

type ApkKey = ReturnType<typeof generateApkKeyPair>;
const signing = (k: ApkKey) => ({ privateKeyPem: k.privateKeyPem, name: k.name });

describe('a package signed again under the same Q1 and size, served over HTTP', () => {
  const tempDir = useTempDir('apk-resigned');
  let root: string;
  let server: Server;
  let base: string;
  /** Requests for the package file, by Range header ('' for none). */
  const requests: string[] = [];
  before(async () => {
    root = await tempDir();
    server = createServer((req, res) => {
      const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
      if (path.endsWith('.apk')) requests.push(req.headers.range ?? '');
      readFile(join(root, path)).then(
        (body) => res.writeHead(200, { 'content-length': body.length }).end(body),
        () => res.writeHead(404).end('not found'),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => server?.close(() => resolve()));
  });

  /**
   * Keys a and b, both trusted, b chosen so that the package signed by it has the size it has
   * signed by a: the index, signed by a, is then the same file for both.
   */
  const setUp = async (name: string, options: { withWorld?: boolean } = {}) => {
    const names = options.withWorld === true ? 'hello, world' : 'hello';
    const dir = join(root, name);
    // Keys of each name by the size of the package they sign, until two share one.
    const sizes = { a: new Map<number, ApkKey>(), b: new Map<number, ApkKey>() };
    let pair: [ApkKey, ApkKey, number] | undefined;
    for (let tries = 0; pair === undefined; tries++) {
      assert.ok(tries < 200, 'no two of the 200 keys tried sign the package into files of the same size');
      const which = tries % 2 === 0 ? 'a' : 'b';
      const k = generateApkKeyPair(`${which}.rsa`, { bits: 2048 });
      const n = (await buildApk(spec, { key: signing(k) })).length;
      sizes[which].set(n, k);
      const other = sizes[which === 'a' ? 'b' : 'a'].get(n);
      if (other !== undefined) pair = which === 'a' ? [k, other, n] : [other, k, n];
    }
    const [a, b, size] = pair;
    await mkdir(join(dir, 'repo', 'x86_64'), { recursive: true });
    await mkdir(join(dir, 'keys'), { recursive: true });
    for (const k of [a, b]) await writeFile(join(dir, 'keys', k.name), k.publicKeyPem);
    const config = join(dir, 'image.yaml');
    await writeFile(
      config,
      `contents:\n  repositories: [${base}/${name}/repo]\n  keyring: [./keys/${a.name}, ./keys/${b.name}]\n  packages: [${names}]\narchs: [x86_64]\n`,
    );
    /**
     * Publishes hello signed by `k` (and world signed by a), with the index signed by a and its
     * entries dated `at`: the same package lines make another index file at another time. Returns
     * hello's SHA-256 and the index's.
     */
    const publish = async (k: ApkKey, at = EPOCH) => {
      const apk = await buildApk(spec, { key: signing(k) });
      assert.equal(apk.length, size);
      const others = options.withWorld === true ? [await buildApk(world, { key: signing(a) })] : [];
      const index = (await buildApkIndex([apk, ...others], { key: signing(a), mtime: at })).bytes;
      await writeFile(join(dir, 'repo', 'x86_64', 'hello-1.0-r0.apk'), apk);
      for (const other of others) await writeFile(join(dir, 'repo', 'x86_64', 'world-1.0-r0.apk'), other);
      await writeFile(join(dir, 'repo', 'x86_64', 'APKINDEX.tar.gz'), index);
      return { apk: createHash('sha256').update(apk).digest('hex'), index: createHash('sha256').update(index).digest('hex') };
    };
    const build = async (options: {
      lock?: Lock;
      lockOnly?: boolean;
      cacheDir?: string;
      memo?: boolean;
      onProgress?: (u: ProgressUpdate) => void;
    }) =>
      buildImage({
        config: await loadConfig(config, { hostArch: 'x86_64' }),
        configPath: config,
        sourceDateEpoch: EPOCH,
        memo: false,
        ...options,
      });
    return { dir, a, b, publish, build };
  };

  it('a warm build records the file served now, as a cold one does, and its lock builds cold', async () => {
    const { dir, a, b, publish, build } = await setUp('warm');
    const cacheDir = join(dir, 'cache');
    const first = await publish(a);
    assert.deepEqual([...(await build({ cacheDir })).packageDigests.values()], [first.apk]);
    // Published with an index of the same lines (nothing in them tells the two files apart), made
    // and signed again: another file, which is what tells a warm build to ask.
    const second = await publish(b, EPOCH + 1);
    assert.notEqual(second.apk, first.apk);
    assert.notEqual(second.index, first.index);

    const warm = await build({ cacheDir });
    const cold = await build({});
    assert.deepEqual([...cold.packageDigests.values()], [second.apk]);
    assert.deepEqual([...warm.packageDigests.values()], [second.apk], 'the SBOM and provenance digest of the file served now');
    assert.equal(warm.index?.digest, cold.index?.digest);

    const { lock: warmLock } = await build({ lockOnly: true, cacheDir });
    const { lock: coldLock } = await build({ lockOnly: true });
    assert.deepEqual(warmLock.contents.packages, coldLock.contents.packages, 'the lock names the file served now');
    // The lock made warm builds on a machine without the cache, and warm again.
    assert.equal((await build({ lock: warmLock })).index?.digest, cold.index?.digest);
    assert.equal((await build({ lock: warmLock, cacheDir })).index?.digest, cold.index?.digest);
  });

  it('a warm build does not take the image an earlier build made from the file served before (the image memo)', async () => {
    const { dir, a, b, publish, build } = await setUp('memo');
    const cacheDir = join(dir, 'cache');
    const first = await publish(a);
    assert.deepEqual([...(await build({ cacheDir, memo: true })).packageDigests.values()], [first.apk]);
    const second = await publish(b, EPOCH + 1);
    requests.length = 0;
    const warm = await build({ cacheDir, memo: true });
    assert.deepEqual([...warm.packageDigests.values()], [second.apk], 'the digest of the file served now, not the recorded one');
    // The package is asked about once (stopped at its signature member), then downloaded: the fetch
    // does not ask again what the memo's check was told.
    assert.deepEqual(requests, ['', '']);
    assert.equal(warm.index?.digest, (await build({})).index?.digest);
    // Recorded again from that file: taken by the next build.
    assert.deepEqual([...(await build({ cacheDir, memo: true })).packageDigests.values()], [second.apk]);
  });

  it('a build from a lock that pins the signature asks the repository nothing more than the download', async () => {
    const { dir, a, publish, build } = await setUp('pinned');
    const cacheDir = join(dir, 'cache');
    await publish(a);
    const { lock } = await build({ lockOnly: true, cacheDir });
    await build({ lock, cacheDir, memo: true });
    await build({ cacheDir, memo: true });
    for (const memo of [false, true]) {
      requests.length = 0;
      await build({ lock, cacheDir, memo });
      assert.deepEqual(requests, [], `the file the lock names is in the cache: not asked for again (memo ${memo})`);
      // Resolving, the entry pins no signature: the cached file (or the one the recorded image was
      // made from) was fetched under the index read now, so it is not asked about either.
      await build({ cacheDir, memo });
      assert.deepEqual(requests, [], `fetched under the index read now (memo ${memo})`);
    }
  });

  it("a warm build asks nothing of its cached packages until the repository's index is published again, then once each", async () => {
    const { dir, a, publish, build } = await setUp('counted', { withWorld: true });
    const cacheDir = join(dir, 'cache');
    const first = await publish(a);
    await build({ cacheDir });
    /** A warm build's requests for package files, and how many packages the fetch step took from the cache. */
    const counted = async (memo: boolean) => {
      requests.length = 0;
      let reused: number | undefined;
      const onProgress = (u: ProgressUpdate) => {
        if (u.kind === 'step' && u.step === 'fetch' && u.finished === true) reused = u.reused;
      };
      await build({ cacheDir, memo, onProgress });
      return { requests: [...requests], reused };
    };
    for (const [i, memo] of [false, true].entries()) {
      // The first build with the image memo records the image: what it fetches is checked as without it.
      if (memo) await build({ cacheDir, memo });
      assert.deepEqual((await counted(memo)).requests, [], `the index is the file the packages were fetched under (memo ${memo})`);
      // The same packages under an index published again (signed again, the same lines).
      const again = await publish(a, EPOCH + 1 + i);
      assert.notEqual(again.index, first.index);
      assert.equal(again.apk, first.apk);
      const checked = await counted(memo);
      assert.deepEqual(checked.requests, ['', ''], `one request per cached package, stopped at its signature member (memo ${memo})`);
      // Taken from the cache, not downloaded again; with the memo, the recorded image is taken whole.
      assert.equal(checked.reused, memo ? undefined : 2);
      assert.deepEqual((await counted(memo)).requests, [], `checked under this index: not asked again (memo ${memo})`);
    }
  });
});
