// Gzip bombs in apk files: nothing is inflated past a bound before what vouches for it is
// checked (src/pkg/apk/members.ts), and what must be inflated first is capped.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { tarBytes, tarHeader } from '../../../src/archive/tar.ts';
import { isProvenantError } from '../../../src/errors.ts';
import { readApkIndex } from '../../../src/pkg/apk/apkindex.ts';
import { generateApkKeyPair } from '../../../src/pkg/apk/keys.ts';
import { CONTROL_MAX, DATA_MAX, gzipMemberAt, SIGNATURE_MAX, splitGzipMembers } from '../../../src/pkg/apk/members.ts';
import { readApkPackage } from '../../../src/pkg/apk/package.ts';
import { ApkKeyring } from '../../../src/pkg/apk/signature.ts';
import { streamApkFile } from '../../../src/pkg/apk/stream.ts';
import { buildApk, buildApkIndex } from '../../../src/pkg/apk/write.ts';
import { DownloadCache } from '../../../src/pkg/fetch.ts';
import { useTempDir } from '../../helpers/temp.ts';

const tempDir = useTempDir('apk-members');
const EPOCH = 1_700_000_000;

/** A tar whose one file is `size` zero bytes, gzipped: a few KiB that inflate to `size`. */
async function zeroMember(size: number): Promise<Uint8Array> {
  const tar = await tarBytes([{ header: tarHeader({ name: '.PKGINFO', size }), body: new Uint8Array(size) }]);
  return gzipSync(tar, { level: 9 });
}

const tooLarge = (what: RegExp, where: string) => (err: unknown) => {
  assert.ok(isProvenantError(err, 'TOO_LARGE'), String(err));
  assert.match(err.message, what);
  assert.equal(err.where, where);
  return true;
};

describe('gzip members', () => {
  it('names a member read from the middle of a file by its offset in the file', () => {
    const first = gzipSync(new TextEncoder().encode('signature'));
    const second = gzipSync(new TextEncoder().encode('control'));
    const bytes = new Uint8Array([...first, ...second.subarray(0, second.length - 4)]);
    const at = first.length;
    assert.equal(gzipMemberAt(bytes, 0, { maxOutput: 1024 })?.end, at);
    assert.throws(
      () => gzipMemberAt(bytes, at, { maxOutput: 1024, where: 'x.apk' }),
      (err: unknown) => isProvenantError(err, 'TRUNCATED') && err.message === `the gzip member at byte ${at} has no trailer`,
    );
    const corrupt = new Uint8Array([...first, 0x1f, 0x8b, 9, ...new Uint8Array(20)]);
    assert.throws(
      () => gzipMemberAt(corrupt, at, { maxOutput: 1024 }),
      (err: unknown) => isProvenantError(err, 'INVALID_PACKAGE') && err.message.startsWith(`the gzip member at byte ${at} does not start`),
    );
    // A file split whole still numbers its members.
    assert.throws(
      () => splitGzipMembers(corrupt, { maxOutput: 1024 }),
      (err: unknown) => isProvenantError(err) && err.message.startsWith(`gzip member 2 at byte ${at} does not start`),
    );
  });

  it('stops inflating at maxOutput and names what it was reading', () => {
    const bomb = gzipSync(new Uint8Array(8 * 1024 * 1024));
    assert.throws(
      () => splitGzipMembers(bomb, { where: 'x.apk', maxOutput: 1024 * 1024, what: 'the control member' }),
      (err: unknown) => {
        assert.ok(isProvenantError(err, 'TOO_LARGE'));
        assert.equal(err.message, 'the control member inflates to more than 1048576 bytes');
        assert.equal(err.where, 'x.apk');
        return true;
      },
    );
    // Within the bound, the same bytes split as before.
    assert.equal(splitGzipMembers(bomb, { maxOutput: 8 * 1024 * 1024 })[0]?.data.length, 8 * 1024 * 1024);
  });

  it('gives each member at its place in the file, or a typed error, for any bytes and bound (property-based)', () => {
    const member = fc.uint8Array({ maxLength: 300 }).map((b) => gzipSync(b));
    fc.assert(
      fc.property(fc.array(member, { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 1200 }), (members, maxOutput) => {
        const bytes = Buffer.concat(members);
        const firstEnd = members[0]!.length;
        try {
          const second = gzipMemberAt(bytes, firstEnd, { maxOutput });
          if (members.length === 1) assert.equal(second, undefined);
          else assert.deepEqual([second?.start, second?.end], [firstEnd, firstEnd + members[1]!.length]);
        } catch (err) {
          assert.ok(isProvenantError(err, 'TOO_LARGE'), String(err));
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('gzip bombs in apk files', () => {
  it('refuses a package whose control member inflates past CONTROL_MAX, read whole or streamed', async () => {
    const key = generateApkKeyPair('bomb', { bits: 2048 });
    const spec = { name: 'bomb', version: '1.0-r0', arch: 'x86_64', builddate: EPOCH, files: [] };
    const real = await buildApk(spec, { key: { privateKeyPem: key.privateKeyPem, name: key.name } });
    const [signature, , data] = splitGzipMembers(real, { maxOutput: DATA_MAX });
    const bomb = await zeroMember(CONTROL_MAX + 1);
    for (const [what, bytes] of [
      ['signed', Buffer.concat([signature!.compressed, bomb, data!.compressed])],
      ['unsigned', Buffer.concat([bomb, data!.compressed])],
    ] as const) {
      const where = `${what}.apk`;
      const options = { where, keyring: new ApkKeyring().add(key.name, key.publicKeyPem) };
      await assert.rejects(readApkPackage(bytes, options), tooLarge(/member inflates to more than 16777216 bytes/, where));
      const dir = await tempDir();
      const path = join(dir, where);
      await writeFile(path, bytes);
      const writer = await new DownloadCache(join(dir, 'cache')).writer();
      await assert.rejects(streamApkFile(path, bytes.length, writer, options), tooLarge(/member inflates to more than/, where));
      await writer.abort();
    }
  });

  it("checks a package's datahash before inflating its data members", async () => {
    const bytes = await buildApk({ name: 'p', version: '1.0-r0', arch: 'x86_64', builddate: EPOCH, files: [] });
    const [control] = splitGzipMembers(bytes, { maxOutput: DATA_MAX });
    // The data member replaced by what is not gzip at all: the hash refuses it, not the inflater.
    const changed = Buffer.concat([control!.compressed, Buffer.from('not gzip, and not what .PKGINFO vouches for')]);
    await assert.rejects(readApkPackage(changed, { where: 'p.apk', allowUntrusted: true }), (err: unknown) => {
      assert.ok(isProvenantError(err, 'DIGEST_MISMATCH'), String(err));
      assert.match(err.message, /datahash/);
      return true;
    });
  });

  it("checks an index's signature before inflating its content, and caps the first member", async () => {
    const key = generateApkKeyPair('index', { bits: 2048 });
    const other = generateApkKeyPair('other', { bits: 2048 });
    const pkg = await buildApk({ name: 'p', version: '1.0-r0', arch: 'x86_64', builddate: EPOCH, files: [] });
    const { bytes: index } = await buildApkIndex([pkg], { key: { privateKeyPem: other.privateKeyPem, name: other.name } });
    const [signature] = splitGzipMembers(index, { maxOutput: DATA_MAX });
    const keyring = new ApkKeyring().add(key.name, key.publicKeyPem);
    // Signed by a key the keyring does not hold, content that is not gzip: refused for the key.
    const garbage = Buffer.concat([signature!.compressed, Buffer.from('not gzip')]);
    await assert.rejects(readApkIndex(garbage, { keyring, where: 'i' }), (err: unknown) => isProvenantError(err, 'UNTRUSTED_KEY'));
    // A first member past SIGNATURE_MAX is no signature member: unsigned, and refused as such.
    const big = gzipSync(new Uint8Array(SIGNATURE_MAX + 1));
    await assert.rejects(readApkIndex(big, { keyring, where: 'i' }), (err: unknown) => {
      assert.ok(isProvenantError(err, 'SIGNATURE'), String(err));
      assert.match(err.message, /not signed/);
      return true;
    });
  });
});
