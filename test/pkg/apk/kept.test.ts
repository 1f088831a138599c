// A package kept unpacked in the cache (src/pkg/unpacked.ts) is found by its control checksum,
// which does not cover its signature: the same package signed again (a new key under the same
// name, as a rebuilt repository or a new test key has it) is another file. A build must record
// the file it installs and check its signature as a fresh read does, not the facts of the file
// that was kept.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildImage } from '../../../src/builder/build.ts';
import { loadConfig } from '../../../src/builder/config.ts';
import { generateApkKeyPair } from '../../../src/pkg/apk/keys.ts';
import { buildApk, buildApkIndex } from '../../../src/pkg/apk/write.ts';
import { useTempDir } from '../../helpers/temp.ts';

const EPOCH = 1_700_000_000;
const spec = {
  name: 'hello',
  version: '1.0-r0',
  arch: 'x86_64',
  files: [{ path: 'usr/share/hello/greeting', type: 'file' as const, body: new TextEncoder().encode('hello\n') }],
};

/** Signs the package and its index with a new key named `test.rsa.pub`; returns the package's SHA-256. */
async function signedRepository(dir: string): Promise<string> {
  const key = generateApkKeyPair('test.rsa', { bits: 2048 });
  const signing = { privateKeyPem: key.privateKeyPem, name: key.name };
  await mkdir(join(dir, 'repo', 'x86_64'), { recursive: true });
  await mkdir(join(dir, 'keys'), { recursive: true });
  await writeFile(join(dir, 'keys', key.name), key.publicKeyPem);
  const apk = await buildApk({ ...spec, builddate: EPOCH }, { key: signing });
  await writeFile(join(dir, 'repo', 'x86_64', 'hello-1.0-r0.apk'), apk);
  await writeFile(join(dir, 'repo', 'x86_64', 'APKINDEX.tar.gz'), (await buildApkIndex([apk], { key: signing, mtime: EPOCH })).bytes);
  return createHash('sha256').update(apk).digest('hex');
}

/**
 * A repository whose index `indexKey` signs, listing the package signed by `packageKey` (a key
 * the build's keyring may lack: the index vouches for the package then). Returns its SHA-256.
 */
async function repositoryOf(dir: string, indexKey: ApkKey, packageKey: ApkKey): Promise<string> {
  const signing = (k: ApkKey) => ({ privateKeyPem: k.privateKeyPem, name: k.name });
  await mkdir(join(dir, 'repo', 'x86_64'), { recursive: true });
  const apk = await buildApk({ ...spec, builddate: EPOCH }, { key: signing(packageKey) });
  await writeFile(join(dir, 'repo', 'x86_64', 'hello-1.0-r0.apk'), apk);
  await writeFile(
    join(dir, 'repo', 'x86_64', 'APKINDEX.tar.gz'),
    (await buildApkIndex([apk], { key: signing(indexKey), mtime: EPOCH })).bytes,
  );
  return createHash('sha256').update(apk).digest('hex');
}

type ApkKey = ReturnType<typeof generateApkKeyPair>;

describe('a package kept unpacked in the cache', () => {
  const tempDir = useTempDir('apk-kept');

  it('is not used for a file signed again: the build records and checks the file it installs', async () => {
    const dir = await tempDir();
    const config = join(dir, 'image.yaml');
    await writeFile(
      config,
      'contents:\n  repositories: [./repo]\n  keyring: [./keys/test.rsa.pub]\n  packages: [hello]\narchs: [x86_64]\n',
    );
    const cacheDir = join(dir, 'cache');
    const build = async (cache: string | undefined) =>
      buildImage({ config: await loadConfig(config, { hostArch: 'x86_64' }), configPath: config, sourceDateEpoch: EPOCH, cacheDir: cache });

    const first = await signedRepository(dir);
    assert.deepEqual([...(await build(cacheDir)).packageDigests.values()], [first]);
    // The same package (same control member, so the same checksum), signed with another key.
    const second = await signedRepository(dir);
    assert.notEqual(second, first);
    const cached = await build(cacheDir);
    assert.deepEqual([...cached.packageDigests.values()], [second], 'the digest of the file installed, not of the one kept');
    const fresh = await build(undefined);
    assert.equal(cached.index?.digest, fresh.index?.digest, 'the same image as a build without a cache');
  });

  it('is not used for the file of another location: the same package signed by another repository’s key', async () => {
    const dir = await tempDir();
    const cacheDir = join(dir, 'cache');
    // Two repositories, each with its own key (of another name), serving the same package: the
    // same control member, so the same checksum, in files that differ in their signature. Of the
    // same size, as the index gives it: another size is told apart by that alone (below).
    const a = generateApkKeyPair('a.rsa', { bits: 2048 });
    const signedBy = (k: ApkKey) => buildApk({ ...spec, builddate: EPOCH }, { key: { privateKeyPem: k.privateKeyPem, name: k.name } });
    const size = (await signedBy(a)).length;
    let b = generateApkKeyPair('b.rsa', { bits: 2048 });
    for (let tries = 0; (await signedBy(b)).length !== size; tries++) {
      assert.ok(tries < 200, 'no key of the 200 tried signs the package into a file of the same size');
      b = generateApkKeyPair('b.rsa', { bits: 2048 });
    }
    const built = [];
    for (const [name, k] of [
      ['a', a],
      ['b', b],
    ] as const) {
      const folder = join(dir, name);
      const served = await repositoryOf(folder, k, k);
      await mkdir(join(folder, 'keys'), { recursive: true });
      await writeFile(join(folder, 'keys', k.name), k.publicKeyPem);
      const config = join(folder, 'image.yaml');
      await writeFile(config, `contents:\n  repositories: [./repo]\n  keyring: [./keys/${k.name}]\n  packages: [hello]\narchs: [x86_64]\n`);
      const build = async () =>
        buildImage({ config: await loadConfig(config, { hostArch: 'x86_64' }), configPath: config, sourceDateEpoch: EPOCH, cacheDir });
      built.push({ served, build, first: await build() });
    }
    const [fromA, fromB] = built as [(typeof built)[number], (typeof built)[number]];
    assert.notEqual(fromA.served, fromB.served);
    assert.deepEqual([...fromA.first.packageDigests.values()], [fromA.served]);
    assert.deepEqual([...fromB.first.packageDigests.values()], [fromB.served], 'the digest of the file its location serves');
    // Each again, warm: each location's file is in the cache, and stands for that location only.
    assert.deepEqual([...(await fromA.build()).packageDigests.values()], [fromA.served]);
    assert.deepEqual([...(await fromB.build()).packageDigests.values()], [fromB.served]);
  });

  it('is not used when the index gives another size: a package signed again by a key outside the keyring', async () => {
    const dir = await tempDir();
    const config = join(dir, 'image.yaml');
    await writeFile(config, 'contents:\n  repositories: [./repo]\n  keyring: [./keys/a.rsa.pub]\n  packages: [hello]\narchs: [x86_64]\n');
    const a = generateApkKeyPair('a.rsa', { bits: 2048 });
    // Another length of key, so another length of signature: the file's size differs.
    const b = generateApkKeyPair('b.rsa', { bits: 4096 });
    await mkdir(join(dir, 'keys'), { recursive: true });
    await writeFile(join(dir, 'keys', a.name), a.publicKeyPem);
    const build = async (cacheDir: string | undefined, memo?: boolean) =>
      buildImage({
        config: await loadConfig(config, { hostArch: 'x86_64' }),
        configPath: config,
        sourceDateEpoch: EPOCH,
        cacheDir,
        ...(memo === undefined ? {} : { memo }),
      });
    // Without the build record (the kept package and the cached file alone), and with it.
    for (const memo of [false, true]) {
      const cacheDir = join(dir, `cache-${memo}`);
      const first = await repositoryOf(dir, a, a);
      assert.deepEqual([...(await build(cacheDir, memo)).packageDigests.values()], [first]);
      // The same package signed by b, which the keyring lacks; the index, signed by a, lists it.
      const second = await repositoryOf(dir, a, b);
      assert.notEqual(second, first);
      const cached = await build(cacheDir, memo);
      assert.deepEqual([...cached.packageDigests.values()], [second], `the file the index lists, not the one kept (memo ${memo})`);
      const fresh = await build(undefined);
      assert.equal(cached.index?.digest, fresh.index?.digest, `the same image as a build without a cache (memo ${memo})`);
    }
  });
});
