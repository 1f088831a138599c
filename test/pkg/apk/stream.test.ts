// An .apk read into the cache as a stream (src/pkg/apk/stream.ts) must be read as the whole
// package is (readApkPackage): the same facts, the same data tar, the same place and digests for
// every file, and the same refusals; and a package that does not verify leaves nothing behind
// under a key, in the cache or in a build's.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { crc32, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { buildImage } from '../../../src/builder/build.ts';
import { loadConfig } from '../../../src/builder/config.ts';
import { isProvenantError } from '../../../src/errors.ts';
import { generateApkKeyPair } from '../../../src/pkg/apk/keys.ts';
import { type ApkPackage, type ReadApkPackageOptions, readApkPackage } from '../../../src/pkg/apk/package.ts';
import { ApkKeyring } from '../../../src/pkg/apk/signature.ts';
import { apkFileKey } from '../../../src/pkg/apk/source.ts';
import { streamApkFile } from '../../../src/pkg/apk/stream.ts';
import { type ApkSpec, buildApk, buildApkIndex } from '../../../src/pkg/apk/write.ts';
import { DownloadCache } from '../../../src/pkg/fetch.ts';
import { fixture, fixturesMissing } from '../../helpers/fixtures.ts';
import { useTempDir } from '../../helpers/temp.ts';

const EPOCH = 1_700_000_000;

/** Reads `path` both ways; gives both outcomes (facts and data tar, or the error's code). */
async function bothWays(dir: string, path: string, verify: Partial<ReadApkPackageOptions> = { allowUntrusted: true }) {
  const bytes = new Uint8Array(await readFile(path));
  const options = { where: path, ...verify };
  const whole = await readApkPackage(bytes, options).then(
    (p) => ({ ok: true as const, p }),
    (err: unknown) => ({ ok: false as const, code: isProvenantError(err) ? err.code : String(err) }),
  );
  const cache = new DownloadCache(join(dir, 'cache'));
  const writer = await cache.writer();
  const streamed = await streamApkFile(path, bytes.length, writer, options).then(
    async (s) => ({ ok: true as const, s, tar: new Uint8Array(await readFile((await writer.finish()).path)) }),
    async (err: unknown) => {
      await writer.abort();
      return { ok: false as const, code: isProvenantError(err) ? err.code : String(err) };
    },
  );
  return { bytes, whole, streamed };
}

/** The facts both readers give, without the entries and data tar. */
function facts(p: Omit<ApkPackage, 'entries' | 'dataTar'>) {
  return {
    checksum: p.checksum,
    pkginfo: p.pkginfo,
    scripts: p.scripts,
    control: Buffer.from(p.control),
    pkginfoText: p.pkginfoText,
    signatures: p.signatures,
    signedBy: p.signedBy,
    ranges: p.ranges,
    dataHash: p.dataHash,
  };
}

/** Checks the streamed read against the whole one, file by file. */
async function assertSame(dir: string, path: string): Promise<void> {
  const { bytes, whole, streamed } = await bothWays(dir, path);
  if (!whole.ok || !streamed.ok) {
    assert.deepEqual(
      { ok: streamed.ok, code: streamed.ok ? undefined : streamed.code },
      { ok: whole.ok, code: whole.ok ? undefined : whole.code },
      path,
    );
    return;
  }
  const { p } = whole;
  const { s, tar } = streamed;
  assert.deepEqual(facts(s.pkg), facts(p), path);
  assert.deepEqual(Buffer.from(tar), Buffer.from(p.dataTar!), `${path}: the data tar`);
  assert.equal(s.sha256, createHash('sha256').update(bytes).digest('hex'));
  assert.deepEqual(
    s.entries.map((e) => ({ path: e.path, header: e.header })),
    p.entries.map((e) => ({ path: e.path, header: e.header })),
  );
  for (const [i, e] of p.entries.entries()) {
    const body = s.bodies[i];
    if (e.header.type !== 'file') {
      assert.equal(body, undefined);
      continue;
    }
    const expected = e.body as Uint8Array;
    assert.ok(body !== undefined, e.path);
    assert.deepEqual(Buffer.from(tar.subarray(body.offset, body.offset + expected.length)), Buffer.from(expected), e.path);
    assert.equal(body.sha256, createHash('sha256').update(expected).digest('hex'));
    assert.equal(body.crc32, crc32(expected) >>> 0);
  }
  const sha1 = (m: Uint8Array) => createHash('sha1').update(m).digest();
  const [cs, ce] = p.ranges.control;
  assert.deepEqual(s.digests.control, sha1(bytes.subarray(cs, ce + 1)));
  const [ds, de] = p.ranges.data;
  assert.deepEqual(
    s.digests.data,
    createHash('sha256')
      .update(bytes.subarray(ds, de + 1))
      .digest(),
  );
}

/** A package with a file larger than one inflated piece, many small ones, folders and links. */
function bigSpec(): ApkSpec {
  const big = new Uint8Array(3 * 1024 * 1024 + 17);
  for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
  const files: ApkSpec['files'][number][] = [
    { path: 'usr', type: 'dir' },
    { path: 'usr/share', type: 'dir' },
    { path: 'usr/share/big', type: 'file', body: big },
    { path: 'usr/share/link', type: 'symlink', target: 'big' },
  ];
  for (let i = 0; i < 300; i++)
    files.push({ path: `usr/share/f${i}`, type: 'file', body: new TextEncoder().encode(`file ${i}\n`.repeat(i)) });
  return { name: 'big', version: '1.0-r0', arch: 'x86_64', builddate: EPOCH, files };
}

describe('an .apk read as a stream', () => {
  const tempDir = useTempDir('apk-stream');

  it('gives what reading it whole gives: facts, data tar, and each file', async () => {
    const dir = await tempDir();
    const key = generateApkKeyPair('test.rsa', { bits: 2048 });
    const path = join(dir, 'big.apk');
    await writeFile(path, await buildApk(bigSpec(), { key: { privateKeyPem: key.privateKeyPem, name: key.name } }));
    await assertSame(dir, path);
    const unsigned = join(dir, 'unsigned.apk');
    await writeFile(unsigned, await buildApk({ ...bigSpec(), name: 'unsigned' }));
    await assertSame(dir, unsigned);
    // A control member larger than the head first read (64 KiB): the head is read again, larger.
    const wide = join(dir, 'wide.apk');
    const description = randomBytes(300 * 1024).toString('base64');
    await writeFile(
      wide,
      await buildApk({ ...bigSpec(), name: 'wide', description }, { key: { privateKeyPem: key.privateKeyPem, name: key.name } }),
    );
    await assertSame(dir, wide);
  });

  it('accepts exactly what reading whole accepts, with its facts, whatever is cut or changed, and fails only with typed errors', async () => {
    const dir = await tempDir();
    const key = generateApkKeyPair('test.rsa', { bits: 2048 });
    const bytes = await buildApk(
      { ...bigSpec(), files: bigSpec().files.slice(0, 40) },
      { key: { privateKeyPem: key.privateKeyPem, name: key.name } },
    );
    const keyring = new ApkKeyring();
    keyring.add(key.name, key.publicKeyPem, 'test');
    const { checksum } = await readApkPackage(bytes, { where: 'x', keyring });
    const path = join(dir, 'mutated.apk');
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: bytes.length }),
        fc.array(fc.record({ at: fc.nat({ max: bytes.length - 1 }), xor: fc.integer({ min: 1, max: 255 }) }), { maxLength: 3 }),
        fc.boolean(),
        async (cut, flips, byChecksum) => {
          const b = new Uint8Array(bytes.subarray(0, Math.max(cut, 1)));
          for (const f of flips) if (f.at < b.length) b[f.at]! ^= f.xor;
          await writeFile(path, b);
          // Vouched for by the index's checksum, or by the package's own signature.
          const { whole, streamed } = await bothWays(dir, path, byChecksum ? { keyring, expectedChecksum: checksum } : { keyring });
          if (!streamed.ok) assert.ok(!['TypeError', 'RangeError', 'Error'].some((n) => streamed.code.startsWith(n)), streamed.code);
          assert.equal(
            streamed.ok,
            whole.ok,
            `read whole: ${whole.ok ? 'accepted' : whole.code}; as a stream: ${streamed.ok ? 'accepted' : streamed.code}`,
          );
          if (whole.ok && streamed.ok) assert.deepEqual(facts(streamed.s.pkg), facts(whole.p));
        },
      ),
      { numRuns: 80 },
    );
  });

  it('reads every apk fixture as reading it whole does, refusals included', { skip: fixturesMissing }, async () => {
    const dir = await tempDir();
    const names = (await readdir(fixture('apk'))).filter((n) => n.endsWith('.apk'));
    assert.ok(names.length >= 10);
    for (const name of names) await assertSame(dir, fixture('apk', name));
    // The fixtures whose data does not match their datahash are refused both ways, as that.
    const { streamed } = await bothWays(dir, fixture('apk', 'wolfi-aarch64-libcap-2.69-r0.apk'));
    assert.equal(streamed.ok, true);
    for (const name of names.filter((n) => n.includes('datahash-mismatch'))) {
      const { streamed: refused } = await bothWays(dir, fixture('apk', name));
      assert.deepEqual(refused, { ok: false, code: 'DIGEST_MISMATCH' }, name);
    }
  });

  it('refuses a package with a damaged data member, a cut one, or bytes after its end, as not its datahash', async () => {
    const dir = await tempDir();
    const bytes = await buildApk(bigSpec());
    const whole = await readApkPackage(bytes, { where: 'x', allowUntrusted: true });
    const [dataStart] = whole.ranges.data;
    const damaged = new Uint8Array(bytes);
    damaged[dataStart + Math.floor((bytes.length - dataStart) / 2)]! ^= 0x40;
    const cases = {
      damaged,
      cut: bytes.subarray(0, bytes.length - 100),
      trailing: new Uint8Array([...bytes, 0, 0, 0, 0]),
    };
    for (const [name, b] of Object.entries(cases)) {
      const path = join(dir, `${name}.apk`);
      await writeFile(path, b);
      const { streamed } = await bothWays(dir, path);
      assert.deepEqual(streamed, { ok: false, code: 'DIGEST_MISMATCH' }, name);
    }
  });

  it('inflates nothing of a data member that is not the one its datahash vouches for (a gzip bomb)', async () => {
    const dir = await tempDir();
    const bytes = await buildApk(bigSpec());
    const whole = await readApkPackage(bytes, { where: 'x', allowUntrusted: true });
    const [dataStart] = whole.ranges.data;
    // The control member vouches for the real data; a member of 64 MiB of zeros takes its place.
    const bomb = gzipSync(new Uint8Array(64 * 1024 * 1024), { level: 9 });
    const path = join(dir, 'bomb.apk');
    await writeFile(path, Buffer.concat([bytes.subarray(0, dataStart), bomb]));
    const writer = await new DownloadCache(join(dir, 'cache')).writer();
    let written = 0;
    const write = writer.write.bind(writer);
    writer.write = async (chunk: Uint8Array) => {
      written += chunk.length;
      return write(chunk);
    };
    await assert.rejects(
      streamApkFile(path, dataStart + bomb.length, writer, { where: path, allowUntrusted: true }),
      (err: unknown) => isProvenantError(err, 'DIGEST_MISMATCH') && /datahash/.test(err.message),
    );
    await writer.abort();
    assert.equal(written, 0, 'bytes written to the cache before the datahash was checked');
  });

  it('leaves nothing under a key when a downloaded package does not verify, and keeps it when it does', async () => {
    const dir = await tempDir();
    const key = generateApkKeyPair('test.rsa', { bits: 2048 });
    const signing = { privateKeyPem: key.privateKeyPem, name: key.name };
    await mkdir(join(dir, 'repo', 'x86_64'), { recursive: true });
    await mkdir(join(dir, 'keys'), { recursive: true });
    await writeFile(join(dir, 'keys', key.name), key.publicKeyPem);
    const apk = await buildApk(bigSpec(), { key: signing });
    await writeFile(join(dir, 'repo', 'x86_64', 'APKINDEX.tar.gz'), (await buildApkIndex([apk], { key: signing, mtime: EPOCH })).bytes);
    const config = join(dir, 'image.yaml');
    await writeFile(config, 'contents:\n  repositories: [./repo]\n  keyring: [./keys/test.rsa.pub]\n  packages: [big]\narchs: [x86_64]\n');
    const cacheDir = join(dir, 'cache');
    // Without the memo, which would spare a build with the same inputs reading the package at all.
    const build = async () =>
      buildImage({
        config: await loadConfig(config, { hostArch: 'x86_64' }),
        configPath: config,
        sourceDateEpoch: EPOCH,
        cacheDir,
        memo: false,
      });
    const keysIn = async () => (await readdir(join(cacheDir, 'keys')).catch(() => [] as string[])).sort();
    const tmpIn = async () => (await readdir(join(cacheDir, 'sha256')).catch(() => [] as string[])).filter((n) => n.endsWith('.tmp'));

    // The index names the package, but the file served is damaged in its data member.
    const damaged = new Uint8Array(apk);
    damaged[damaged.length - 200]! ^= 0x01;
    await writeFile(join(dir, 'repo', 'x86_64', 'big-1.0-r0.apk'), damaged);
    await assert.rejects(
      build(),
      (err: unknown) => isProvenantError(err) && err.code === 'DIGEST_MISMATCH' && /datahash/.test(err.message),
    );
    // The cache's keys are files named by the SHA-256 of the key.
    const { checksum } = await readApkPackage(apk, { where: 'apk', allowUntrusted: true });
    const kept = `apk:${checksum}:ustar-owners`;
    const packageKeys = [apkFileKey(checksum, './repo/x86_64/big-1.0-r0.apk', dir), `unpacked-v4:${kept}`, `unpacked-v4-data:${kept}`].map(
      (k) => createHash('sha256').update(k).digest('hex'),
    );
    assert.deepEqual(
      (await keysIn()).filter((k) => packageKeys.includes(k)),
      [],
      'no key for the package, its data or its entries',
    );
    assert.deepEqual(await tmpIn(), [], 'no temporary file left');
    const damagedSha256 = createHash('sha256').update(damaged).digest('hex');
    assert.ok(!(await readdir(join(cacheDir, 'sha256'))).includes(damagedSha256), 'the damaged download is not kept');

    // The right file: kept, and a second build reads the package from what was kept.
    await writeFile(join(dir, 'repo', 'x86_64', 'big-1.0-r0.apk'), apk);
    const first = await build();
    assert.deepEqual([...first.packageDigests.values()], [createHash('sha256').update(apk).digest('hex')]);
    const fresh = await buildImage({
      config: await loadConfig(config, { hostArch: 'x86_64' }),
      configPath: config,
      sourceDateEpoch: EPOCH,
    });
    assert.equal(first.index?.digest, fresh.index?.digest, 'the image of a build without a cache');
    assert.deepEqual(first.lock, fresh.lock, 'the lock, ranges and checksums included');
    assert.deepEqual((await keysIn()).filter((k) => packageKeys.includes(k)).length, 3, 'the package, its data and its entries kept');
    const second = await build();
    assert.equal(second.index?.digest, first.index?.digest);
    // Without its entries kept (an older cache's), the package is read again from the .apk the
    // cache holds, not from the repository, whose file is now damaged.
    await rm(join(cacheDir, 'keys', packageKeys[1]!));
    await writeFile(join(dir, 'repo', 'x86_64', 'big-1.0-r0.apk'), damaged);
    const third = await build();
    assert.equal(third.index?.digest, first.index?.digest);
    assert.deepEqual((await keysIn()).filter((k) => packageKeys.includes(k)).length, 3, 'its entries kept again');
  });
});
