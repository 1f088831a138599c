/**
 * The entries of a package kept unpacked (./unpacked.ts), as the cache stores them: one compact
 * binary record per entry, read back one at a time. A warm build makes an entry's objects (its
 * header, its body's range) only as the installer walks to it; the objects of every entry of the
 * image, parsed whole from JSON and kept alive between fetching and installing, were what grew a
 * build's memory with the number of files (issue 16). Nor does it hold the records, a few dozen
 * bytes per entry besides its path, between walks: a package lives until the build ends, so
 * entries read from the cache keep only where their records lie in the index file, cut into
 * windows of about 64 KiB, and each walk reads them from there again, a window at a time.
 *
 * A record: flags (u8), the type (u8, its place in {@link TAR_ENTRY_TYPES}), the path (how many of its bytes
 * begin the previous entry's path too, then the rest: the entries of a folder share most of
 * theirs), the stored name when it is not the path, mode, uid, gid, mtime (zigzag), uname,
 * gname, size, linkname, devmajor, devminor, then the PAX records when there are any (a count, then name, kind and value: kind 1
 * holds a lowercase hex SHA-1, apk's `APK-TOOLS.checksum.SHA1`, as its 20 bytes), then for a file
 * where its body lies in the data tar (offset), its SHA-256 (32 bytes) and CRC-32 (u32 LE), and
 * for a hardlink the cleaned path of its target. Numbers are unsigned LEB128, strings a byte
 * length then UTF-8.
 */
import { crc32 } from 'node:zlib';
import { TAR_ENTRY_TYPES, type TarEntryType, type TarHeader } from '../archive/tar.ts';
import { ByteBuilder } from '../bytes.ts';
import { ProvenantError } from '../errors.ts';
import { openRegularFile } from '../io/files.ts';
import type { Body, FileBody } from '../vfs/body.ts';

const { closeSync, readSync } = process.getBuiltinModule('node:fs');

/** An entry of a package's data member, its path cleaned; a file's body in memory or in the cache. */
export interface PackageEntry {
  /** Relative path inside the image root: no `./`, no trailing slash, no `..`. */
  path: string;
  header: TarHeader;
  /** For a hardlink, the cleaned path of the entry it links to (Debian). */
  hardlinkTarget?: string | undefined;
  /** The body of a regular file; empty for the rest. */
  body: Body;
}

/** Where a file's body lies in the data tar, and its digests, as {@link encodeEntries} is given them. */
export interface StoredBody {
  offset: number;
  sha256: string;
  crc32: number;
}

const NAMED = 1;
const LINKED = 2;
const PAX = 4;
const FLAGS = NAMED | LINKED | PAX;
const SHA1_RECORD = 'APK-TOOLS.checksum.SHA1';
const HEX40 = /^[0-9a-f]{40}$/;
const HEX64 = /^[0-9a-f]{64}$/;

/** The records as they are added: numbers as unsigned LEB128, strings as a length and UTF-8. */
class Writer extends ByteBuilder {
  uint(n: number, what: string): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new ProvenantError('INVALID_PACKAGE', `${what} is ${n}, not a whole number from 0`);
    let v = n;
    while (v >= 0x80) {
      this.byte((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.byte(v);
  }

  string(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.uint(b.length, 'a string length');
    this.raw(b);
  }
}

/**
 * The records of `entries`, in order; `bodies` gives each file's place in the data tar.
 *
 * @throws ProvenantError `INVALID_PACKAGE` for a number a tar header cannot hold (a negative
 *   size, a fraction)
 */
export function encodeEntries(entries: readonly PackageEntry[], bodies: readonly (StoredBody | undefined)[]): Uint8Array {
  const w = new Writer();
  w.uint(entries.length, 'the entry count');
  let previous = Buffer.alloc(0);
  for (const [i, e] of entries.entries()) {
    const h = e.header;
    const pax = h.pax === undefined ? [] : Object.entries(h.pax);
    const flags = (h.name !== e.path ? NAMED : 0) | (e.hardlinkTarget !== undefined ? LINKED : 0) | (h.pax !== undefined ? PAX : 0);
    w.byte(flags);
    w.byte(TAR_ENTRY_TYPES.indexOf(h.type));
    const path = Buffer.from(e.path, 'utf8');
    let shared = 0;
    while (shared < path.length && shared < previous.length && path[shared] === previous[shared]) shared++;
    w.uint(shared, 'a shared prefix');
    w.uint(path.length - shared, 'a path length');
    w.raw(path.subarray(shared));
    previous = path;
    if (flags & NAMED) w.string(h.name);
    w.uint(h.mode, 'a mode');
    w.uint(h.uid, 'a uid');
    w.uint(h.gid, 'a gid');
    w.uint(h.mtime >= 0 ? h.mtime * 2 : -h.mtime * 2 - 1, 'a time');
    w.string(h.uname);
    w.string(h.gname);
    w.uint(h.size, 'a size');
    w.string(h.linkname);
    w.uint(h.devmajor, 'a device number');
    w.uint(h.devminor, 'a device number');
    if (flags & PAX) {
      w.uint(pax.length, 'a PAX record count');
      for (const [k, v] of pax) {
        w.string(k);
        const sha1 = k === SHA1_RECORD && HEX40.test(v);
        w.byte(sha1 ? 1 : 0);
        if (sha1) w.raw(Buffer.from(v, 'hex'));
        else w.string(v);
      }
    }
    if (h.type === 'file') {
      const body = bodies[i];
      if (body === undefined || !HEX64.test(body.sha256)) throw new ProvenantError('INVALID_PACKAGE', `the body of ${e.path} has no place`);
      w.uint(body.offset, 'an offset');
      w.raw(Buffer.from(body.sha256, 'hex'));
      const crc = Buffer.alloc(4);
      crc.writeUInt32LE(body.crc32 >>> 0);
      w.raw(crc);
    }
    if (flags & LINKED) w.string(e.hardlinkTarget as string);
  }
  return w.bytes();
}

/** Reads records; every read is bounds-checked, and a record out of bounds ends the walk as damaged. */
class Reader {
  b: Buffer;
  at: number;

  constructor(b: Buffer, at = 0) {
    this.b = b;
    this.at = at;
  }

  /**
   * Goes on in `b`, the next window of the same records: the last path read is kept, since the
   * next one begins with some of its bytes.
   */
  next(b: Buffer): void {
    this.b = b;
    this.at = 0;
  }

  byte(): number {
    if (this.at >= this.b.length) throw DAMAGED;
    return this.b[this.at++] as number;
  }

  uint(): number {
    let n = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.byte();
      n += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (!Number.isSafeInteger(n)) throw DAMAGED;
        return n;
      }
      scale *= 0x80;
    }
    throw DAMAGED;
  }

  skip(n: number): number {
    const start = this.at;
    if (n > this.b.length - start) throw DAMAGED;
    this.at += n;
    return start;
  }

  string(): string {
    const n = this.uint();
    const start = this.skip(n);
    return this.b.toString('utf8', start, start + n);
  }

  skipString(): void {
    this.skip(this.uint());
  }

  /** The bytes of the last path read: the next path begins with some of them. */
  #path = Buffer.alloc(256);
  #pathLength = 0;

  /** Reads a path (how many bytes it shares with the previous one, then the rest) into #path. */
  #pathBytes(): void {
    const shared = this.uint();
    if (shared > this.#pathLength) throw DAMAGED;
    const n = this.uint();
    const start = this.skip(n);
    if (shared + n > this.#path.length) {
      const grown = Buffer.alloc(Math.max(2 * this.#path.length, shared + n));
      this.#path.copy(grown, 0, 0, shared);
      this.#path = grown;
    }
    this.b.copy(this.#path, shared, start, start + n);
    this.#pathLength = shared + n;
  }

  path(): string {
    this.#pathBytes();
    return this.#path.toString('utf8', 0, this.#pathLength);
  }

  skipPath(): void {
    this.#pathBytes();
  }
}

/** Thrown inside a walk of damaged records; never leaves this module. */
const DAMAGED = new Error('damaged unpacked index');

/**
 * Where the records of kept entries lie in the cache: from `offset` of the index file at `path`,
 * in windows that each end where an entry does, with the CRC-32 each had when {@link keptEntries}
 * checked them. `windows` holds two numbers a window, in order: where it ends (bytes from
 * `offset`; the first begins at 0, each other where the one before ends) and its CRC-32.
 */
export interface StoredRecords {
  readonly path: string;
  readonly offset: number;
  readonly windows: Float64Array;
}

/**
 * The records a walk reads at once, about: a window ends at the last entry that fits, and is
 * larger only when one record alone is. A walk holds one window's bytes, not the package's: the
 * records of a package of 7,400 files are 2.2 MB, which a walk that read them whole held, and the
 * largest package then decided what every build held to its end.
 */
export const RECORDS_WINDOW = 64 * 1024;

/**
 * The entries of a package kept unpacked, decoded one at a time each time they are walked: an
 * entry's objects live only as long as the caller keeps them. Made by {@link keptEntries}, which
 * checks the records first, so that a walk of the records it checked never fails. Entries read
 * from the cache hold no records: each walk reads them from the index file a window at a time,
 * and fails only when that file was changed or removed since.
 */
export class KeptEntries implements Iterable<PackageEntry> {
  /** The records, or where they are on disk. */
  readonly #records: Buffer | StoredRecords;
  readonly #dataPath: string;
  /** How many entries, and how many of them are files. */
  readonly count: number;
  readonly files: number;

  constructor(records: Buffer | StoredRecords, dataPath: string, count: number, files: number) {
    this.#records = records;
    this.#dataPath = dataPath;
    this.count = count;
    this.files = files;
  }

  /**
   * @throws ProvenantError `IO` when the records' file cannot be read or is cut short,
   *   `DIGEST_MISMATCH` when its records are not the ones checked; both at the first entry of
   *   the window concerned (the entries of the windows before it given already: see
   *   docs/architecture.md, "Memory per file", for why no caller is left with half of something)
   */
  *[Symbol.iterator](): Generator<PackageEntry> {
    const records = this.#records;
    if (Buffer.isBuffer(records)) {
      const r = new Reader(records);
      r.uint();
      for (let i = 0; i < this.count; i++) yield readEntry(r, this.#dataPath);
      return;
    }
    const { windows } = records;
    let largest = 0;
    for (let w = 0, start = 0; w < windows.length; w += 2) {
      largest = Math.max(largest, (windows[w] as number) - start);
      start = windows[w] as number;
    }
    const buffer = takeBuffer(largest);
    try {
      let r: Reader | undefined;
      for (let w = 0, start = 0; w < windows.length; w += 2) {
        const end = windows[w] as number;
        const bytes = readWindow(records, start, end, windows[w + 1] as number, buffer);
        if (r === undefined) {
          r = new Reader(bytes);
          r.uint();
        } else r.next(bytes);
        // The window ends where an entry does: keptEntries cut it there.
        while (r.at < bytes.length) yield readEntry(r, this.#dataPath);
        start = end;
      }
    } finally {
      giveBack(buffer);
    }
  }
}

/**
 * A buffer that a walk read records into, kept for the next walk when it ends: a build walks each
 * package at least twice (for its bodies, to install it), and a buffer per walk is garbage outside
 * V8's heap, collected when V8 gets to it. One is kept, of one window ({@link RECORDS_WINDOW}),
 * whatever the number and the size of the packages; a walk inside another takes a new one, and a
 * buffer made larger for a record that fills more than a window is not kept.
 */
let spare: Buffer | undefined;

/** A buffer of at least `size` bytes: the spare when it is large enough, else a new one. */
function takeBuffer(size: number): Buffer {
  if (spare !== undefined && spare.length >= size) {
    const b = spare;
    spare = undefined;
    return b;
  }
  return Buffer.allocUnsafeSlow(Math.max(size, RECORDS_WINDOW));
}

function giveBack(b: Buffer): void {
  if (spare === undefined && b.length <= RECORDS_WINDOW) spare = b;
}

/**
 * The size of the buffer kept for the next walk, 0 when none is, and with `drop`, none kept from
 * then on: for tests.
 *
 * @internal
 */
export function spareRecordsBuffer(options: { drop?: boolean } = {}): number {
  const size = spare?.length ?? 0;
  if (options.drop === true) spare = undefined;
  return size;
}

/**
 * The window of records from `start` to `end` of `stored`, read into `buffer` and checked
 * against the CRC-32 it had when the records were checked at load. The file is opened for each
 * window, so that a walk left unfinished holds no descriptor.
 *
 * @throws ProvenantError `IO`, `DIGEST_MISMATCH` as {@link KeptEntries}' walk
 */
function readWindow(stored: StoredRecords, start: number, end: number, crc: number, buffer: Buffer): Buffer {
  const hint = 'the build cache was changed on disk; remove it and build again';
  const out = buffer.subarray(0, end - start);
  const offset = stored.offset + start;
  try {
    // Without waiting for a writer: a named pipe in the cache's place is refused (IO, below).
    const { fd } = openRegularFile(stored.path);
    try {
      for (let got = 0; got < out.length; ) {
        const n = readSync(fd, out, got, out.length - got, offset + got);
        if (n === 0) {
          const total = stored.windows[stored.windows.length - 2] as number;
          throw new ProvenantError('IO', `${stored.path} ends ${total - start - got} bytes short of the package's entries`, {
            where: stored.path,
            hint,
          });
        }
        got += n;
      }
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if (err instanceof ProvenantError) throw err;
    throw new ProvenantError('IO', `cannot read ${stored.path}: ${(err as Error).message}`, { where: stored.path, hint, cause: err });
  }
  if (crc32(out) !== crc) {
    throw new ProvenantError('DIGEST_MISMATCH', `the entries at byte ${offset} of ${stored.path} are not the ones stored there`, {
      where: stored.path,
      hint,
    });
  }
  return out;
}

const EMPTY = new Uint8Array();

/**
 * A file's body in a kept package's data tar. Its SHA-256 is kept as its 32 bytes in a
 * one-byte string (48 bytes in V8, against 80 for the hex a body gives), and given as hex when
 * asked for, which the layer's key does once per file.
 */
class KeptBody implements FileBody {
  readonly path: string;
  readonly offset: number;
  readonly size: number;
  readonly crc32: number;
  readonly #sha256: string;

  constructor(path: string, offset: number, size: number, sha256: string, crc32: number) {
    this.path = path;
    this.offset = offset;
    this.size = size;
    this.crc32 = crc32;
    this.#sha256 = sha256;
  }

  get sha256(): string {
    return Buffer.from(this.#sha256, 'latin1').toString('hex');
  }
}

function readEntry(r: Reader, dataPath: string): PackageEntry {
  const flags = r.byte();
  const type = TAR_ENTRY_TYPES[r.byte()] as TarEntryType;
  const path = r.path();
  const name = flags & NAMED ? r.string() : path;
  const mode = r.uint();
  const uid = r.uint();
  const gid = r.uint();
  const z = r.uint();
  const mtime = z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  const header: TarHeader = {
    name,
    type,
    mode,
    uid,
    gid,
    uname: r.string(),
    gname: r.string(),
    size: r.uint(),
    mtime,
    linkname: r.string(),
    devmajor: r.uint(),
    devminor: r.uint(),
  };
  if (flags & PAX) {
    const pax: Record<string, string> = {};
    for (let n = r.uint(); n > 0; n--) {
      const k = r.string();
      let v: string;
      if (r.byte() === 1) {
        const at = r.skip(20);
        v = r.b.toString('hex', at, at + 20);
      } else v = r.string();
      // A record named `__proto__` is a record, not the object's prototype.
      Object.defineProperty(pax, k, { value: v, enumerable: true, writable: true, configurable: true });
    }
    header.pax = pax;
  }
  let body: Body = EMPTY;
  if (type === 'file') {
    // The CRC-32 signed: a small integer in V8, where half of the unsigned ones are a heap number each.
    const offset = r.uint();
    const at = r.skip(36);
    body = new KeptBody(dataPath, offset, header.size, r.b.toString('latin1', at, at + 32), r.b.readInt32LE(at + 32));
  }
  const entry: PackageEntry = { path, header, body };
  if (flags & LINKED) entry.hardlinkTarget = r.string();
  return entry;
}

/** Walks one record without making anything of it; returns whether it is a file. */
function checkEntry(r: Reader, dataSize: number): boolean {
  const flags = r.byte();
  const type = r.byte();
  if ((flags & ~FLAGS) !== 0 || type >= TAR_ENTRY_TYPES.length) throw DAMAGED;
  r.skipPath();
  if (flags & NAMED) r.skipString();
  for (let i = 0; i < 4; i++) r.uint();
  r.skipString();
  r.skipString();
  const size = r.uint();
  r.skipString();
  r.uint();
  r.uint();
  if (flags & PAX) {
    for (let n = r.uint(); n > 0; n--) {
      r.skipString();
      const kind = r.byte();
      if (kind === 1) r.skip(20);
      else if (kind === 0) r.skipString();
      else throw DAMAGED;
    }
  }
  const file = TAR_ENTRY_TYPES[type] === 'file';
  if (file) {
    if (r.uint() + size > dataSize) throw DAMAGED;
    r.skip(36);
  }
  if (flags & LINKED) r.skipString();
  return file;
}

/**
 * The entries `records` hold, their bodies in the data tar at `dataPath` of `dataSize` bytes;
 * undefined when the records are damaged (cut short, a field out of range, a body past the end
 * of the data tar, bytes left over), which the cache reads as a miss. With `file`, where the
 * records lie in the cache (at `offset` of the file at `path`), the entries keep that and not the
 * records, which each walk reads again, in windows of about `file.window` bytes (tests give
 * others than {@link RECORDS_WINDOW}) cut where entries end, each with its CRC-32.
 */
export function keptEntries(
  records: Uint8Array,
  dataPath: string,
  dataSize: number,
  file?: { path: string; offset: number; window?: number },
): KeptEntries | undefined {
  const b = Buffer.from(records.buffer, records.byteOffset, records.byteLength);
  const r = new Reader(b);
  const size = file?.window ?? RECORDS_WINDOW;
  // Where each window ends; the first holds the entry count too.
  const ends: number[] = [];
  let start = 0;
  let last = 0;
  try {
    const count = r.uint();
    let files = 0;
    for (let i = 0; i < count; i++) {
      if (checkEntry(r, dataSize)) files++;
      // This entry does not fit the window after the one before it: the window ends there.
      if (file !== undefined && r.at - start > size && last > start) {
        ends.push(last);
        start = last;
      }
      last = r.at;
    }
    if (r.at !== b.length) return undefined;
    if (file === undefined) return new KeptEntries(b, dataPath, count, files);
    ends.push(b.length);
    const windows = new Float64Array(2 * ends.length);
    for (let w = 0, from = 0; w < ends.length; w++) {
      const end = ends[w] as number;
      windows[2 * w] = end;
      windows[2 * w + 1] = crc32(b.subarray(from, end));
      from = end;
    }
    return new KeptEntries({ path: file.path, offset: file.offset, windows }, dataPath, count, files);
  } catch (err) {
    if (err === DAMAGED) return undefined;
    throw err;
  }
}

/** The bodies of the files among `entries`, as they are walked. */
export function* fileBodies(entries: Iterable<PackageEntry>): Generator<Body> {
  for (const e of entries) if (e.header.type === 'file') yield e.body;
}

/** How many of `entries` are files. */
export function countFiles(entries: Iterable<PackageEntry>): number {
  if (entries instanceof KeptEntries) return entries.files;
  let n = 0;
  for (const e of entries) if (e.header.type === 'file') n++;
  return n;
}

/** How many `entries` there are, when that is known without walking them; else 0. */
export function countEntries(entries: Iterable<PackageEntry>): number {
  if (Array.isArray(entries)) return entries.length;
  return entries instanceof KeptEntries ? entries.count : 0;
}
