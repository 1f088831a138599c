// What the tar writer writes, the reader (and GNU tar) reads back (property-based).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type TarEntryType, type TarHeader, tarBytes, writeTar } from '../../src/archive/tar.ts';
import { chunked, collect, readAll } from './helpers.ts';

const noSlashOrNul = (s: string): boolean => !s.includes('/') && !s.includes('\0');
const segment = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[a-z0-9._-]{1,12}$/) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }).filter(noSlashOrNul) },
  { weight: 1, arbitrary: fc.stringMatching(/^[a-z]{90,130}$/) },
);
const name = fc
  .tuple(fc.array(segment, { minLength: 1, maxLength: 6 }), fc.boolean())
  .map(([parts, slash]) => parts.join('/') + (slash ? '/' : ''));
const text = (max: number) => fc.string({ unit: 'grapheme', maxLength: max }).filter((s) => !s.includes('\0'));
const id = fc.oneof(fc.integer({ min: 0, max: 0o7777777 }), fc.integer({ min: 0, max: 2 ** 40 }));
// An xattr's value is a byte string: any bytes, NULs and invalid UTF-8 too (a file capability).
const byteValue = fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1'));
const pax = fc
  .tuple(
    fc.dictionary(fc.stringMatching(/^SCHILY\.xattr\.user\.[a-z]{1,8}$/), byteValue, { maxKeys: 2 }),
    fc.dictionary(
      fc.constantFrom('comment', 'atime', 'LIBARCHIVE.creationtime', '__proto__', 'constructor'),
      text(300).filter((s) => s.length > 0),
      { maxKeys: 2 },
    ),
  )
  .map(([xattrs, other]) => {
    const out: Record<string, string> = {};
    for (const [k, v] of [...Object.entries(xattrs), ...Object.entries(other)]) {
      Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    }
    return out;
  });

const entry = fc
  .record({
    name,
    type: fc.constantFrom<TarEntryType>('file', 'file', 'dir', 'symlink', 'hardlink', 'char', 'block', 'fifo'),
    mode: fc.integer({ min: 0, max: 0o7777 }),
    uid: id,
    gid: id,
    uname: text(40),
    gname: text(40),
    mtime: fc.oneof(fc.integer({ min: 0, max: 0o77777777777 }), fc.integer({ min: -(2 ** 40), max: 2 ** 40 })),
    linkname: fc.oneof(
      name,
      text(150).filter((s) => s.length > 0),
    ),
    devmajor: fc.integer({ min: 0, max: 0o7777777 }),
    devminor: fc.integer({ min: 0, max: 0o7777777 }),
    pax: fc.option(pax, { nil: undefined }),
    body: fc.uint8Array({ maxLength: 1500 }),
  })
  .map(({ body, pax, ...h }) => {
    const isFile = h.type === 'file';
    const isLink = h.type === 'symlink' || h.type === 'hardlink';
    const header: TarHeader = { ...h, size: isFile ? body.length : 0, linkname: isLink ? h.linkname : '' };
    if (pax !== undefined && Object.keys(pax).length > 0) header.pax = Object.fromEntries(Object.entries(pax));
    return { header, body: isFile ? body : new Uint8Array(0) };
  });

const chunkSizes = fc.array(fc.integer({ min: 1, max: 2000 }), { minLength: 1, maxLength: 8 });

describe('tar round trip (property-based)', () => {
  it('reads back every header and body the writer wrote, however the bytes are chunked', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { maxLength: 6 }), chunkSizes, fc.boolean(), async (entries, sizes, streamBodies) => {
        const input = entries.map((e) => ({
          header: e.header,
          // Bodies as one array or as a stream of small chunks.
          body: streamBodies ? chunked(e.body, [97]) : e.body,
        }));
        // Any name, `..` and `/x` too: what is under test is the encoding, not the writer's
        // refusal of names that climb out (tar-writer.test.ts).
        const bytes = await tarBytes(input, { unsafeNames: true });
        assert.equal(bytes.length % 512, 0);
        const read = await readAll(chunked(bytes, sizes));
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

  it('writes identical bytes for identical input', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { maxLength: 4 }), async (entries) => {
        const once = await collect(writeTar(entries, { unsafeNames: true }));
        const again = await collect(
          writeTar(
            entries.map((e) => ({ header: structuredClone(e.header), body: chunked(e.body, [5]) })),
            { unsafeNames: true },
          ),
        );
        assert.deepEqual(again, once);
      }),
      { numRuns: 150 },
    );
  });
});
