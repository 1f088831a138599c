// writeTar with format 'go': the header bytes Go's archive/tar writes, as apko's layers have them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { type TarEntryType, type TarHeader, tarBytes } from '../../src/archive/tar.ts';
import { fixturesMissing, readFixture } from '../helpers/fixtures.ts';
import { F, field, hdr, readAll, text } from './helpers.ts';

const f = (block: Uint8Array, k: keyof typeof F): string => field(block, F[k][0], F[k][1]);
const go = { format: 'go' as const };

function checksumOk(block: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return Number.parseInt(f(block, 'chksum'), 8) === sum && block[154] === 0 && block[155] === 0x20;
}

describe("writeTar({ format: 'go' })", () => {
  for (const arch of ['amd64', 'arm64']) {
    it(`rewrites apko's golden ${arch} layer to the same bytes`, { skip: fixturesMissing }, async () => {
      const golden = gunzipSync(await readFixture('apk', `apkotest-golden-${arch}-layer.tar.gz`));
      const entries = await readAll([golden]);
      const again = await tarBytes(
        entries.map((e) => ({ header: e.header, body: e.body })),
        go,
      );
      assert.ok(Buffer.from(again).equals(golden));
    });
  }

  it('splits a long name at the last slash that fits, as Go does (Provenant splits at the first)', async () => {
    const name = `${'a'.repeat(60)}/${'b'.repeat(10)}/${'c'.repeat(40)}`;
    const goBytes = await tarBytes([{ header: hdr({ name, size: 0 }) }], go);
    assert.equal(f(goBytes, 'prefix'), `${'a'.repeat(60)}/${'b'.repeat(10)}`);
    assert.equal(f(goBytes, 'name'), 'c'.repeat(40));
    assert.ok(checksumOk(goBytes));
    const ours = await tarBytes([{ header: hdr({ name, size: 0 }) }]);
    assert.equal(f(ours, 'prefix'), 'a'.repeat(60), "Provenant's own format keeps its split");
    assert.equal((await readAll([goBytes]))[0]?.header.name, name);
  });

  it('writes xattrs in a PAX header named <dir>/PaxHeaders.0/<base> with zero fields', async () => {
    const header = hdr({ name: 'usr/bin/ping', size: 2, pax: { 'SCHILY.xattr.security.capability': 'cap', 'SCHILY.xattr.a': 'b' } });
    const bytes = await tarBytes([{ header, body: text('hi') }], go);
    assert.equal(f(bytes, 'name'), 'usr/bin/PaxHeaders.0/ping');
    assert.equal(f(bytes, 'typeflag'), 'x');
    assert.equal(f(bytes, 'mode'), '0000000');
    assert.equal(f(bytes, 'mtime'), '00000000000');
    for (const k of ['uname', 'gname', 'devmajor', 'devminor'] as const) assert.equal(f(bytes, k), '', `${k} is empty in Go's PAX header`);
    const records = Buffer.from(bytes.subarray(512, 512 + Number.parseInt(f(bytes, 'size'), 8))).toString();
    assert.equal(records, '20 SCHILY.xattr.a=b\n40 SCHILY.xattr.security.capability=cap\n');
    const main = bytes.subarray(1024);
    assert.equal(f(main, 'name'), 'usr/bin/ping');
    assert.equal(f(main, 'devmajor'), '0000000');
    assert.ok(checksumOk(bytes) && checksumOk(main));
    const [read] = await readAll([bytes]);
    assert.deepEqual(read?.header.pax, { 'SCHILY.xattr.a': 'b', 'SCHILY.xattr.security.capability': 'cap' });
  });

  it('keeps only the ASCII of a non-ASCII name in the main header, the name itself in a record', async () => {
    const bytes = await tarBytes([{ header: hdr({ name: 'etc/café', size: 0 }) }], go);
    assert.equal(f(bytes, 'name'), 'etc/PaxHeaders.0/caf');
    assert.equal(f(bytes.subarray(1024), 'name'), 'etc/caf');
    assert.equal((await readAll([bytes]))[0]?.header.name, 'etc/café');
  });

  it('refuses a file name ending in a slash, as Go does', async () => {
    await assert.rejects(tarBytes([{ header: hdr({ name: 'etc/x/', size: 0 }) }], go), /may not end in/);
  });

  it('is read back as written (property-based)', async () => {
    const segment = fc.oneof(
      { weight: 4, arbitrary: fc.stringMatching(/^[a-z0-9._-]{1,12}$/) },
      {
        weight: 1,
        arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }).filter((s) => !s.includes('/') && !s.includes('\0')),
      },
      { weight: 1, arbitrary: fc.stringMatching(/^[a-z]{60,120}$/) },
    );
    const name = fc.array(segment, { minLength: 1, maxLength: 5 }).map((p) => p.join('/'));
    const entry = fc
      .record({
        name,
        type: fc.constantFrom<TarEntryType>('file', 'dir', 'symlink', 'hardlink', 'char'),
        mode: fc.integer({ min: 0, max: 0o7777 }),
        uid: fc.oneof(fc.integer({ min: 0, max: 0o7777777 }), fc.integer({ min: 0, max: 2 ** 40 })),
        uname: fc.string({ maxLength: 40 }).filter((s) => !s.includes('\0')),
        mtime: fc.integer({ min: -(2 ** 33), max: 2 ** 36 }),
        linkname: name,
        xattr: fc.option(
          fc.string({ minLength: 1, maxLength: 50 }).filter((s) => !s.includes('\0')),
          { nil: undefined },
        ),
        body: fc.uint8Array({ maxLength: 700 }),
      })
      .map(({ xattr, body, type, linkname, ...h }): { header: TarHeader; body: Uint8Array } => ({
        header: hdr({
          ...h,
          type,
          gid: h.uid,
          gname: h.uname,
          size: type === 'file' ? body.length : 0,
          linkname: type === 'symlink' || type === 'hardlink' ? linkname : '',
          ...(xattr === undefined ? {} : { pax: { 'SCHILY.xattr.user.x': xattr } }),
        }),
        body: type === 'file' ? body : new Uint8Array(),
      }));
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { maxLength: 5 }), async (entries) => {
        // Any name, `..` parts included: the layout is what is checked here.
        const bytes = await tarBytes(entries, { ...go, unsafeNames: true });
        assert.equal(bytes.length % 512, 0);
        for (let at = 0; at < bytes.length - 1024; at += 512) {
          const block = bytes.subarray(at, at + 512);
          if (f(block, 'magic') !== 'ustar') continue;
          assert.ok(checksumOk(block));
          assert.equal(f(block, 'version'), '00');
        }
        const read = await readAll([bytes]);
        assert.deepEqual(
          read.map((r) => r.header),
          entries.map((e) => e.header),
        );
        assert.deepEqual(
          read.map((r) => r.body),
          entries.map((e) => e.body),
        );
      }),
      { numRuns: 300 },
    );
  });
});
