import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { ProvenantError } from '../../src/errors.ts';
import { BodyReader, type FileBody } from '../../src/vfs/body.ts';

const dir = mkdtempSync(join(tmpdir(), 'provenant-body-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A file of `size` bytes (byte i is i * 7 mod 251), and the body of `length` bytes at `offset` of it. */
function fileOf(name: string, size: number): { path: string; data: Uint8Array; body(offset: number, length: number): FileBody } {
  const data = Uint8Array.from({ length: size }, (_, i) => (i * 7) % 251);
  const path = join(dir, name);
  writeFileSync(path, data);
  return {
    path,
    data,
    body: (offset, length) => ({
      path,
      offset,
      size: length,
      sha256: '0'.repeat(64),
      crc32: crc32(data.subarray(offset, offset + length)),
    }),
  };
}

describe('BodyReader', () => {
  it('reads small bodies in place, as views valid until the next read, and larger ones into arrays of their own', () => {
    const f = fileOf('a', 1024 * 1024);
    const reader = new BodyReader(64 * 1024);
    try {
      const first = reader.readInPlace(f.body(100, 500));
      assert.deepEqual([...first], [...f.data.subarray(100, 600)]);
      const firstBuffer = first.buffer;
      // The next body in the same window is a view of the same memory.
      const second = reader.readInPlace(f.body(700, 300));
      assert.equal(second.buffer, firstBuffer);
      assert.deepEqual([...second], [...f.data.subarray(700, 1000)]);
      // One beyond the window reads the window anew, into the same memory: the first view now shows other bytes.
      const far = reader.readInPlace(f.body(500_000, 1000));
      assert.equal(far.buffer, firstBuffer);
      assert.deepEqual([...far], [...f.data.subarray(500_000, 501_000)]);
      assert.notDeepEqual([...first], [...f.data.subarray(100, 600)]);
      // Half the window or more: an array of its own, as read gives.
      const large = reader.readInPlace(f.body(600_000, 40_000));
      assert.notEqual(large.buffer, firstBuffer);
      assert.deepEqual([...large], [...f.data.subarray(600_000, 640_000)]);
      // read always gives a copy.
      const copy = reader.read(f.body(100, 500));
      assert.notEqual(copy.buffer, firstBuffer);
      // Bytes in memory are given as they are.
      const bytes = Uint8Array.of(1, 2, 3);
      assert.equal(reader.readInPlace(bytes), bytes);
      assert.equal(reader.readInPlace(undefined).length, 0);
    } finally {
      reader.close();
    }
  });

  it('gives the window of the file it closes to the file it opens, and makes none for a file read only in pieces', () => {
    const a = fileOf('win-a', 4096);
    const b = fileOf('win-b', 4096);
    const big = fileOf('win-big', 256 * 1024);
    const reader = new BodyReader(1024, 1);
    try {
      const fromA = reader.readInPlace(a.body(10, 100));
      const fromB = reader.readInPlace(b.body(20, 100));
      assert.deepEqual([...fromB], [...b.data.subarray(20, 120)]);
      assert.equal(fromB.buffer, fromA.buffer, "b's window is a's, closed to make room");
      // A large body read in pieces takes the window along unused, and the next small body has it again.
      for (const _ of reader.pieces(big.body(0, big.data.length), 64 * 1024));
      const again = reader.readInPlace(a.body(30, 100));
      assert.deepEqual([...again], [...a.data.subarray(30, 130)]);
      assert.equal(again.buffer, fromA.buffer);
    } finally {
      reader.close();
    }
  });

  it('refuses a small body whose bytes are not the ones stored, and one cut short, read in place', () => {
    const f = fileOf('b', 4096);
    const reader = new BodyReader(64 * 1024);
    try {
      const wrong = { ...f.body(10, 100), crc32: f.body(10, 100).crc32 ^ 1 };
      assert.throws(
        () => reader.readInPlace(wrong),
        (err: unknown) => err instanceof ProvenantError && err.code === 'DIGEST_MISMATCH' && names(err, wrong.path),
      );
      assert.throws(
        () => reader.readInPlace(f.body(4000, 200)),
        (err: unknown) => err instanceof ProvenantError && err.code === 'IO' && names(err, f.body(0, 1).path),
      );
    } finally {
      reader.close();
    }
  });

  it('gives the bytes read gives, for any bodies in any order (property-based)', () => {
    const f = fileOf('c', 300_000);
    fc.assert(
      fc.property(
        fc.array(fc.record({ offset: fc.nat(299_999), length: fc.nat(70_000) }), { minLength: 1, maxLength: 40 }),
        fc.constantFrom(0, 1024, 64 * 1024),
        (ranges, windowSize) => {
          const inPlace = new BodyReader(windowSize);
          const fresh = new BodyReader(windowSize);
          try {
            for (const { offset, length } of ranges) {
              const body = f.body(offset, Math.min(length, 300_000 - offset));
              assert.deepEqual([...inPlace.readInPlace(body)], [...fresh.read(body)]);
            }
          } finally {
            inPlace.close();
            fresh.close();
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

/** The hint says which file to remove, and that the next build makes it again ("remove it" left that open). */
function names(err: ProvenantError, path: string): boolean {
  return (
    err.hint ===
    `the build cache was changed on disk: remove ${path} and build again, which makes it anew (or remove the whole cache folder while no build uses it)`
  );
}
