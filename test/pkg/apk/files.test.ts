// What an apk package installed, kept as columns (src/pkg/apk/files.ts): each entry given back as
// it was pushed, whatever its type or checksum, and the replaced ones dropped in place.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ByteBuilder } from '../../../src/bytes.ts';
import { type ApkFileRecord, ApkFiles } from '../../../src/pkg/apk/files.ts';

const arbRecord: fc.Arbitrary<ApkFileRecord> = fc
  .record({
    path: fc.string({ minLength: 1, maxLength: 12 }),
    type: fc.oneof(fc.constantFrom('file', 'dir', 'symlink', 'hardlink', 'char'), fc.string({ maxLength: 6 })),
    mode: fc.integer({ min: 0, max: 0o7777 }),
    uid: fc.nat(),
    gid: fc.nat({ max: 2 ** 32 - 1 }),
    sha1: fc.option(fc.oneof(fc.stringMatching(/^[0-9a-f]{40}$/), fc.string({ maxLength: 12 })), { nil: undefined }),
  })
  .map((r) => ({ ...r }));

describe('ApkFiles', () => {
  it('gives back every entry as pushed, with its Q1 checksum, and keeps those asked for in order', () => {
    fc.assert(
      fc.property(fc.array(arbRecord, { maxLength: 40 }), fc.nat({ max: 50 }), fc.func(fc.boolean()), (records, capacity, keep) => {
        const files = new ApkFiles(capacity);
        for (const r of records) files.push(r);
        assert.deepEqual([...files], records);
        for (const [i, r] of records.entries()) {
          const q1 = r.sha1 === undefined ? undefined : `Q1${Buffer.from(r.sha1, 'hex').toString('base64')}`;
          assert.equal(files.q1(i), q1);
        }
        const kept = records.filter((_, i) => keep(i));
        files.retain((i) => keep(i));
        assert.deepEqual([...files], kept);
        assert.deepEqual(
          [...files.inventoryFiles()()],
          kept.filter((r) => r.type === 'file').map((r) => ({ path: `/${r.path}`, sha1: r.sha1 })),
        );
      }),
    );
  });
});

describe('ByteBuilder', () => {
  it('gives the UTF-8 of the parts appended, across its growth', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 40_000 }), { maxLength: 8 }), (parts) => {
        const b = new ByteBuilder();
        for (const p of parts) b.append(p);
        assert.deepEqual(Buffer.from(b.bytes()), Buffer.from(parts.join(''), 'utf8'));
      }),
      { numRuns: 30 },
    );
  });

  it('gives text, raw bytes and single bytes back in order, whichever block each lands in', () => {
    const part = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 30_000 }),
      fc.uint8Array({ maxLength: 100_000 }),
      fc.integer({ min: 0, max: 255 }),
    );
    fc.assert(
      fc.property(fc.array(part, { maxLength: 12 }), (parts) => {
        const b = new ByteBuilder();
        const expected: Buffer[] = [];
        for (const p of parts) {
          if (typeof p === 'string') {
            b.append(p);
            expected.push(Buffer.from(p, 'utf8'));
          } else if (typeof p === 'number') {
            b.byte(p);
            expected.push(Buffer.from([p]));
          } else {
            b.raw(p);
            expected.push(Buffer.from(p));
          }
        }
        const out = b.bytes();
        assert.equal(b.length, out.length);
        assert.deepEqual(Buffer.from(out), Buffer.concat(expected));
      }),
      { numRuns: 40 },
    );
  });
});
