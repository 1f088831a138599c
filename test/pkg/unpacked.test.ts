// A package kept unpacked in the cache (src/pkg/unpacked.ts): its entries stored as compact
// records (src/pkg/unpacked-index.ts) and read back as they were, one at a time as they are
// walked; a damaged index is a miss, never a failure.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { cleanEntryPath } from '../../src/archive/paths.ts';
import { scanTarFile, type TarEntryType, type TarHeader, tarBytes, tarHeader } from '../../src/archive/tar.ts';
import { isProvenantError } from '../../src/errors.ts';
import { tarFiles } from '../../src/pkg/apk/tarfiles.ts';
import { DownloadCache } from '../../src/pkg/fetch.ts';
import { keepIndex, loadUnpacked, type PackageEntry, readIndex, unpackedDataKey } from '../../src/pkg/unpacked.ts';
import { encodeEntries, keptEntries, RECORDS_WINDOW, type StoredBody, spareRecordsBuffer } from '../../src/pkg/unpacked-index.ts';
import { type FileBody, readBody } from '../../src/vfs/body.ts';
import { useTempDir } from '../helpers/temp.ts';

const enc = (s: string) => new TextEncoder().encode(s);

/** The entries of a data tar as a reader makes them: cleaned paths, bodies in memory, the root left out. */
async function entriesOf(tar: Uint8Array): Promise<PackageEntry[]> {
  const out: PackageEntry[] = [];
  for (const f of await tarFiles(tar, 'test')) {
    const path = cleanEntryPath(f.name, 'test');
    if (path !== '.') out.push({ path, header: f.header, body: f.header.type === 'file' ? f.body : new Uint8Array() });
  }
  return out;
}

/** Keeps `tar` and its `entries` in the cache under `key`, as the package readers do: the tar, then the index of where each body lies. */
async function storeUnpacked(cache: DownloadCache, key: string, tar: Uint8Array, entries: PackageEntry[], meta: unknown, where: string) {
  await cache.put(unpackedDataKey(key), tar);
  const data = (await cache.locate(unpackedDataKey(key)))!;
  const bodies: (StoredBody | undefined)[] = [];
  for await (const scanned of scanTarFile(data.path, { where })) {
    if (cleanEntryPath(scanned.header.name, where) === '.') continue;
    const body = entries[bodies.length]!.body as Uint8Array;
    bodies.push(
      scanned.header.type === 'file'
        ? { offset: scanned.offset, sha256: createHash('sha256').update(body).digest('hex'), crc32: crc32(body) >>> 0 }
        : undefined,
    );
  }
  return keepIndex(cache, key, data, entries, bodies, meta, where);
}

/** What an entry says, its body's bytes read back. */
const view = (e: PackageEntry) => ({ path: e.path, header: e.header, hardlinkTarget: e.hardlinkTarget, body: [...readBody(e.body)] });

describe('a package kept unpacked', () => {
  const tempDir = useTempDir('unpacked');

  it('reads back the entries it stored, headers, PAX records and bodies, each walk making them anew', async () => {
    const dir = await tempDir();
    const cache = new DownloadCache(join(dir, 'cache'));
    const tar = await tarBytes([
      { header: tarHeader({ name: './', type: 'dir' }) },
      { header: tarHeader({ name: './usr/', type: 'dir', mode: 0o755, mtime: -5 }) },
      {
        header: tarHeader({
          name: './usr/hello',
          size: 6,
          mode: 0o4755,
          uid: 1000,
          gid: 1001,
          uname: 'me',
          mtime: 1_700_000_000,
          pax: { 'APK-TOOLS.checksum.SHA1': 'f572d396fae9206628714fb2ce00f72e94f2258f', 'SCHILY.xattr.user.a': 'b' },
        }),
        body: enc('hello\n'),
      },
      { header: tarHeader({ name: './usr/link', type: 'symlink', linkname: 'hello', pax: { 'APK-TOOLS.checksum.SHA1': 'NOT HEX' } }) },
      { header: tarHeader({ name: './usr/hard', type: 'hardlink', linkname: './usr/hello' }) },
      { header: tarHeader({ name: './dev/null', type: 'char', devmajor: 1, devminor: 3 }) },
      { header: tarHeader({ name: './usr/empty', size: 0 }), body: new Uint8Array() },
    ]);
    const entries = await entriesOf(tar);
    entries[3]!.hardlinkTarget = 'usr/hello';
    const stored = await storeUnpacked(cache, 'k', tar, entries, { a: new Map([['x', new Uint8Array([1, 2])]]) }, 'test');
    const loaded = await loadUnpacked(cache, 'k');
    assert.ok(loaded !== undefined);
    assert.deepEqual(loaded.meta, { a: new Map([['x', new Uint8Array([1, 2])]]) });
    assert.deepEqual([...loaded.entries].map(view), entries.map(view));
    assert.deepEqual([...stored].map(view), entries.map(view));
    assert.equal(loaded.entries.count, entries.length);
    assert.equal(loaded.entries.files, 2);
    // Nothing of an entry is kept between walks: where its records are is all a kept package holds.
    const [first] = loaded.entries;
    const [again] = loaded.entries;
    assert.notEqual(first, again);
    assert.notEqual(first?.header, again?.header);
  });

  it('holds no records: each walk reads them from the index file, and fails once that file changed or is gone', async () => {
    const dir = await tempDir();
    const cache = new DownloadCache(join(dir, 'cache'));
    const tar = await tarBytes([
      { header: tarHeader({ name: 'usr/', type: 'dir' }) },
      { header: tarHeader({ name: 'usr/a', size: 2 }), body: enc('hi') },
      { header: tarHeader({ name: 'usr/b', type: 'symlink', linkname: 'a' }) },
    ]);
    const entries = await entriesOf(tar);
    // The entries a fresh read keeps, and those a later build loads: both read the index.
    const stored = await storeUnpacked(cache, 'k', tar, entries, {}, 'test');
    const loaded = (await loadUnpacked(cache, 'k'))!.entries;
    const index = (await cache.locate('unpacked-v4:k'))!;
    const sound = await readFile(index.path);
    const walksAsStored = () => {
      for (const kept of [stored, loaded]) assert.deepEqual([...kept].map(view), entries.map(view));
    };
    const walkFails = (code: 'IO' | 'DIGEST_MISMATCH') => {
      for (const kept of [stored, loaded]) {
        assert.throws(
          () => [...kept],
          (err) => isProvenantError(err, code) && err.where === index.path && /remove it and build again/.test(err.hint ?? ''),
        );
        // What is known without a walk still is.
        assert.deepEqual([kept.count, kept.files], [3, 1]);
      }
    };
    walksAsStored();
    walksAsStored();
    // Walks of two packages, one inside the other, each read their own records.
    const otherTar = await tarBytes([{ header: tarHeader({ name: 'etc/x', size: 1 }), body: enc('x') }]);
    const other = await entriesOf(otherTar);
    const otherKept = await storeUnpacked(cache, 'k2', otherTar, other, {}, 'test');
    const nested = [];
    for (const e of loaded) nested.push([view(e), [...otherKept].map(view)]);
    assert.deepEqual(
      nested,
      entries.map((e) => [view(e), other.map(view)]),
    );
    // A byte of the last record changed: the file is the same length, its records are not the ones checked.
    const changed = Buffer.from(sound);
    changed[changed.length - 1]! ^= 1;
    await writeFile(index.path, changed);
    walkFails('DIGEST_MISMATCH');
    await writeFile(index.path, sound.subarray(0, sound.length - 1));
    walkFails('IO');
    await rm(index.path);
    walkFails('IO');
    await writeFile(index.path, sound);
    walksAsStored();
  });

  it('reads a damaged or foreign index as a miss', async () => {
    const dir = await tempDir();
    const cache = new DownloadCache(join(dir, 'cache'));
    const tar = await tarBytes([{ header: tarHeader({ name: 'a', size: 2 }), body: enc('hi') }]);
    await storeUnpacked(cache, 'k', tar, await entriesOf(tar), {}, 'test');
    assert.notEqual(await loadUnpacked(cache, 'k'), undefined);
    // The index rewritten whole (so that the cache's own digest holds) with its last byte cut.
    const bytes = await cache.get('unpacked-v4:k');
    await cache.put('unpacked-v4:k', bytes!.subarray(0, bytes!.length - 1));
    assert.equal(await loadUnpacked(cache, 'k'), undefined);
    await cache.put('unpacked-v4:k', enc('{"format":"unpacked-v1","entries":[]}'));
    assert.equal(await loadUnpacked(cache, 'k'), undefined);
    // The data tar shorter than a body says.
    await cache.put('unpacked-v4:k', bytes!);
    await writeFile((await cache.locate('unpacked-v4-data:k'))!.path, tar.subarray(0, 512));
    assert.equal(await loadUnpacked(cache, 'k'), undefined);
  });
});

const TYPES: TarEntryType[] = ['file', 'dir', 'symlink', 'hardlink', 'char', 'block', 'fifo'];

const arbEntry = fc
  .record({
    path: fc.string({ minLength: 1, maxLength: 20, unit: 'grapheme' }),
    name: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
    type: fc.constantFrom(...TYPES),
    mode: fc.integer({ min: 0, max: 0o7777 }),
    uid: fc.nat(),
    gid: fc.nat(),
    uname: fc.string({ maxLength: 8 }),
    mtime: fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
    size: fc.nat({ max: 1000 }),
    linkname: fc.string({ maxLength: 20 }),
    devmajor: fc.nat({ max: 4095 }),
    pax: fc.option(
      fc.dictionary(
        fc.oneof(fc.constant('APK-TOOLS.checksum.SHA1'), fc.string({ minLength: 1, maxLength: 12 })),
        fc.oneof(fc.stringMatching(/^[0-9a-f]{40}$/), fc.string({ maxLength: 12 })),
      ),
      { nil: undefined },
    ),
    hardlinkTarget: fc.option(fc.string({ maxLength: 12 }), { nil: undefined }),
    offset: fc.nat({ max: 1000 }),
    sha256: fc.stringMatching(/^[0-9a-f]{64}$/),
    crc32: fc.nat({ max: 2 ** 32 - 1 }),
  })
  .map((r) => {
    const header: TarHeader = {
      name: r.name ?? r.path,
      type: r.type,
      mode: r.mode,
      uid: r.uid,
      gid: r.gid,
      uname: r.uname,
      gname: '',
      size: r.type === 'file' ? r.size : 0,
      mtime: r.mtime,
      linkname: r.linkname,
      devmajor: r.devmajor,
      devminor: 0,
    };
    if (r.pax !== undefined) header.pax = { ...r.pax };
    const entry: PackageEntry = { path: r.path, header, body: new Uint8Array() };
    if (r.hardlinkTarget !== undefined) entry.hardlinkTarget = r.hardlinkTarget;
    const body: StoredBody | undefined = r.type === 'file' ? { offset: r.offset, sha256: r.sha256, crc32: r.crc32 } : undefined;
    return { entry, body };
  });

describe('the records of kept entries', () => {
  const tempDir = useTempDir('kept-records');

  it('give back every entry as it was stored', () => {
    fc.assert(
      fc.property(fc.array(arbEntry, { maxLength: 8 }), (list) => {
        const records = encodeEntries(
          list.map((l) => l.entry),
          list.map((l) => l.body),
        );
        const kept = keptEntries(records, '/data', 2000);
        assert.ok(kept !== undefined);
        const back = [...kept];
        assert.equal(back.length, list.length);
        for (const [i, e] of back.entries()) {
          const { entry, body } = list[i]!;
          assert.equal(e.path, entry.path);
          assert.deepEqual(e.header, entry.header);
          assert.equal(e.hardlinkTarget, entry.hardlinkTarget);
          if (body === undefined) assert.deepEqual(e.body, new Uint8Array());
          else {
            const b = e.body as FileBody;
            assert.deepEqual(
              { path: b.path, offset: b.offset, size: b.size, sha256: b.sha256, crc32: b.crc32 },
              { path: '/data', offset: body.offset, size: entry.header.size, sha256: body.sha256, crc32: body.crc32 | 0 },
            );
          }
        }
      }),
    );
  });

  it('give the same entries read from a file, at any place in it and in windows of any size, as from memory', async () => {
    const file = join(await tempDir(), 'index');
    fc.assert(
      fc.property(
        fc.array(arbEntry, { maxLength: 12 }),
        fc.uint8Array({ maxLength: 40 }),
        fc.uint8Array({ maxLength: 8 }),
        // From 1 byte (a window for each entry, cut at every boundary) to one window for them all.
        fc.option(fc.integer({ min: 1, max: 400 }), { nil: undefined }),
        (list, before, after, window) => {
          const records = encodeEntries(
            list.map((l) => l.entry),
            list.map((l) => l.body),
          );
          writeFileSync(file, Buffer.concat([before, records, after]));
          const where = window === undefined ? { path: file, offset: before.length } : { path: file, offset: before.length, window };
          const onDisk = keptEntries(records, '/data', 2000, where);
          const inMemory = keptEntries(records, '/data', 2000);
          assert.ok(onDisk !== undefined && inMemory !== undefined);
          assert.deepEqual([onDisk.count, onDisk.files], [inMemory.count, inMemory.files]);
          assert.deepEqual([...onDisk], [...inMemory]);
        },
      ),
    );
  });

  it('are a miss when cut short, changed or made up, and a walk of records that pass never fails', () => {
    const walk = (records: Uint8Array) => {
      const kept = keptEntries(records, '/data', 2000);
      if (kept !== undefined) assert.equal([...kept].length, kept.count);
    };
    fc.assert(
      fc.property(fc.array(arbEntry, { minLength: 1, maxLength: 5 }), fc.nat(), fc.nat({ max: 255 }), (list, at, byte) => {
        const records = encodeEntries(
          list.map((l) => l.entry),
          list.map((l) => l.body),
        );
        assert.equal(keptEntries(records.subarray(0, at % records.length), '/data', 2000), undefined);
        const changed = records.slice();
        changed[at % changed.length] = byte;
        walk(changed);
        assert.equal(keptEntries(new Uint8Array([...records, 0]), '/data', 2000), undefined, 'bytes left over');
      }),
    );
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), walk));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        readIndex(bytes);
      }),
    );
  });

  /** Entries of one record length each: `dir/file0000` ..., as many as `n`, with their records. */
  const sameSized = (n: number) => {
    const entries: PackageEntry[] = [];
    for (let i = 0; i < n; i++) {
      const header = tarHeader({ name: `dir/file${String(i).padStart(4, '0')}`, type: 'symlink', linkname: 'x'.repeat(80) });
      entries.push({ path: header.name, header, body: new Uint8Array() });
    }
    return { entries, records: encodeEntries(entries, []) };
  };
  const paths = (list: Iterable<PackageEntry>) => [...list].map((e) => e.path);

  it('are read a window at a time: a window changed or cut fails the walk at its first entry, as the whole records did', async () => {
    const file = join(await tempDir(), 'index');
    const { entries, records } = sameSized(5);
    // Under 128 entries the count is one byte, so entry i's record begins where the records of the i before it end.
    const at = (i: number) => encodeEntries(entries.slice(0, i), []).length;
    const before = new Uint8Array(7);
    writeFileSync(file, Buffer.concat([before, records]));
    // A window of a byte: each entry is a window of its own (the first with the count).
    const kept = keptEntries(records, '/data', 2000, { path: file, offset: before.length, window: 1 })!;
    assert.deepEqual(paths(kept), paths(entries));
    const walkUntil = (check: (err: unknown) => boolean) => {
      const got: string[] = [];
      assert.throws(() => {
        for (const e of kept) got.push(e.path);
      }, check);
      return got;
    };
    // A byte of the third entry changed: the two windows before it are given, then the walk fails.
    const changed = Buffer.concat([before, records]);
    changed[before.length + at(2) + 3]! ^= 1;
    writeFileSync(file, changed);
    const mismatch = (err: unknown) =>
      isProvenantError(err, 'DIGEST_MISMATCH') &&
      err.where === file &&
      err.message === `the entries at byte ${before.length + at(2)} of ${file} are not the ones stored there`;
    assert.deepEqual(walkUntil(mismatch), paths(entries.slice(0, 2)));
    // The file cut inside the third entry: as short as before, counted from the end of the records.
    writeFileSync(file, Buffer.concat([before, records]).subarray(0, before.length + at(2) + 3));
    const short = (err: unknown) =>
      isProvenantError(err, 'IO') && err.message === `${file} ends ${records.length - at(2) - 3} bytes short of the package's entries`;
    assert.deepEqual(walkUntil(short), paths(entries.slice(0, 2)));
    writeFileSync(file, Buffer.concat([before, records]));
    assert.deepEqual(paths(kept), paths(entries));
  });

  it('are read into a buffer of one window, however large the package', async () => {
    const file = join(await tempDir(), 'index');
    // About 120 bytes a record: 3,000 of them fill several windows.
    const { entries, records } = sameSized(3000);
    assert.ok(records.length > 3 * RECORDS_WINDOW);
    writeFileSync(file, records);
    const kept = keptEntries(records, '/data', 2000, { path: file, offset: 0 })!;
    // None kept from earlier walks: the buffer kept after this one is the one it took (a larger one is not kept).
    spareRecordsBuffer({ drop: true });
    assert.deepEqual(paths(kept), paths(entries));
    assert.equal(spareRecordsBuffer(), RECORDS_WINDOW);
    // A walk inside another takes a buffer of its own; one is kept.
    spareRecordsBuffer({ drop: true });
    const nested: number[] = [];
    for (const e of kept) if (e.path.endsWith('000')) nested.push(paths(kept).length);
    assert.deepEqual(nested, [3000, 3000, 3000]);
    assert.equal(spareRecordsBuffer(), RECORDS_WINDOW);
  });
});
