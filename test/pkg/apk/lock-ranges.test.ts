// apko's lock records, per apk, the checksums of its signature, control and data members. The
// package's `Q1` checksum covers its control member alone: the same package signed again by
// another trusted key keeps it, and only the signature's checksum tells the file from the one
// locked (the size the index gives is the new file's). A build from the lock checks each
// recorded checksum.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildImage } from '../../../src/builder/build.ts';
import { loadConfig } from '../../../src/builder/config.ts';
import type { Lock } from '../../../src/builder/lock.ts';
import { isProvenantError } from '../../../src/errors.ts';
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

type ApkKey = ReturnType<typeof generateApkKeyPair>;

/** The repository with the package and its index signed by `key`. */
async function signRepository(dir: string, key: ApkKey): Promise<void> {
  const signing = { privateKeyPem: key.privateKeyPem, name: key.name };
  const apk = await buildApk(spec, { key: signing });
  await writeFile(join(dir, 'repo', 'x86_64', 'hello-1.0-r0.apk'), apk);
  await writeFile(join(dir, 'repo', 'x86_64', 'APKINDEX.tar.gz'), (await buildApkIndex([apk], { key: signing, mtime: EPOCH })).bytes);
}

describe('a build from a lock checks the checksums it records of each apk part', () => {
  const tempDir = useTempDir('apk-lock-ranges');

  /** A repository signed by key a, both keys trusted, and the lock of hello from it. */
  const setUp = async () => {
    const dir = await tempDir();
    const a = generateApkKeyPair('a.rsa', { bits: 2048 });
    const b = generateApkKeyPair('b.rsa', { bits: 2048 });
    await mkdir(join(dir, 'repo', 'x86_64'), { recursive: true });
    await mkdir(join(dir, 'keys'), { recursive: true });
    for (const k of [a, b]) await writeFile(join(dir, 'keys', k.name), k.publicKeyPem);
    const config = join(dir, 'image.yaml');
    await writeFile(
      config,
      `contents:\n  repositories: [./repo]\n  keyring: [./keys/${a.name}, ./keys/${b.name}]\n  packages: [hello]\narchs: [x86_64]\n`,
    );
    await signRepository(dir, a);
    // Without the image memo (src/builder/memo.ts) unless asked: the cache's part here is the
    // package kept unpacked, and its file.
    const build = async (options: { lock?: Lock; lockOnly?: boolean; cacheDir?: string; memo?: boolean }) =>
      buildImage({
        config: await loadConfig(config, { hostArch: 'x86_64' }),
        configPath: config,
        sourceDateEpoch: EPOCH,
        memo: false,
        ...options,
      });
    const { lock } = await build({ lockOnly: true });
    return { dir, a, b, build, lock };
  };

  const mismatch = (part: string) => (e: unknown) => {
    assert.ok(isProvenantError(e, 'DIGEST_MISMATCH'), String(e));
    assert.match(e.message, new RegExp(`hello-1\\.0-r0 has ${part} bytes=\\d+-\\d+ with checksum sha\\d+-\\S+, the lock records`));
    return true;
  };

  it('refuses the package signed again by another trusted key, downloaded or kept in the cache', async () => {
    const { dir, b, build, lock } = await setUp();
    await signRepository(dir, b);
    await assert.rejects(build({ lock }), mismatch('signature'));
    // A lock made now names the new file; building from it keeps that file in the cache, unpacked,
    // under the Q1 checksum the two files share.
    const { lock: again } = await build({ lockOnly: true });
    const cacheDir = join(dir, 'cache');
    const built = await build({ lock: again, cacheDir });
    assert.deepEqual(
      built.images[0]?.locked.map((p) => p.signature?.checksum),
      again.contents.packages.map((p) => p.signature?.checksum),
    );
    assert.notDeepEqual(again.contents.packages[0]?.signature, lock.contents.packages[0]?.signature);
    // The old lock is not met by what the cache kept, nor by the download after it.
    await assert.rejects(build({ lock, cacheDir }), mismatch('signature'));
  });

  it('names the data member when its recorded checksum differs, and holds only checksums against the file', async () => {
    const { build, lock } = await setUp();
    const entry = lock.contents.packages[0];
    assert.ok(entry?.data !== undefined && entry.control !== undefined);
    const data = structuredClone(lock);
    data.contents.packages[0]!.data = { range: entry.data.range, checksum: `sha256-${Buffer.alloc(32).toString('base64')}` };
    await assert.rejects(build({ lock: data }), mismatch('data'));
    // Older apko wrote other offsets with the right checksums.
    const offsets = structuredClone(lock);
    offsets.contents.packages[0]!.control = { range: 'bytes=0-1', checksum: entry.control.checksum };
    assert.equal((await build({ lock: offsets })).images[0]?.packages[0]?.name, 'hello');
  });

  it('does not take an image an earlier build made from another file of the package (the image memo)', async () => {
    const { dir, build, lock } = await setUp();
    const cacheDir = join(dir, 'cache');
    // The memo keeps the image made from the lock, under a key without the parts' checksums.
    await build({ lock, cacheDir, memo: true });
    assert.equal((await build({ lock, cacheDir, memo: true })).images[0]?.packages[0]?.name, 'hello');
    const other = structuredClone(lock);
    other.contents.packages[0]!.signature = {
      range: lock.contents.packages[0]!.signature!.range,
      checksum: `sha1-${Buffer.alloc(20).toString('base64')}`,
    };
    await assert.rejects(build({ lock: other, cacheDir, memo: true }), mismatch('signature'));
  });

  it('takes an empty checksum for no part, as the lock file does, whether the build fetches or recalls the image', async () => {
    const { dir, build, lock } = await setUp();
    const cacheDir = join(dir, 'cache');
    await build({ lock, cacheDir, memo: true });
    // apko's shape of a part the package lacks, given as an object rather than read from a file.
    const blank = structuredClone(lock);
    blank.contents.packages[0]!.signature = { range: '', checksum: '' };
    assert.equal((await build({ lock: blank, cacheDir, memo: true })).images[0]?.packages[0]?.name, 'hello');
    assert.equal((await build({ lock: blank })).images[0]?.packages[0]?.name, 'hello');
  });
});
