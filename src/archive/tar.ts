/**
 * Tar: a deterministic streaming writer (POSIX ustar with PAX extended headers where needed) and
 * a streaming reader (ustar, PAX `x`/`g`, GNU `L`/`K` long names, base-256 numbers, v7).
 *
 * The format: https://pubs.opengroup.org/onlinepubs/9799919799/utilities/pax.html (ustar
 * interchange format and pax extended header), GNU's extensions:
 * https://www.gnu.org/software/tar/manual/html_node/Standard.html
 */
import { createReadStream } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { concatBytes } from '../bytes.ts';
import { ProvenantError } from '../errors.ts';

/** The kinds of entry a tar archive holds, as Provenant models them. */
export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

/** One tar header, after PAX and GNU extensions are applied. */
export interface TarHeader {
  /** The entry name exactly as stored (a directory usually ends in `/`); see `cleanEntryPath`. */
  name: string;
  /** What the entry is; the typeflag on disk. */
  type: TarEntryType;
  /** Permission bits with setuid, setgid and sticky (`0o7777` at most); no file-type bits. */
  mode: number;
  /** Owner and group ids. */
  uid: number;
  gid: number;
  /** Owner and group names; empty when the archive does not say (and in deterministic builds). */
  uname: string;
  gname: string;
  /** Bytes of the body; 0 for every type but `file`. */
  size: number;
  /** Modification time in whole seconds since the epoch (may be negative). */
  mtime: number;
  /** The target of a symlink or hardlink, else empty. */
  linkname: string;
  /** Device numbers of a `char` or `block` entry, else 0. */
  devmajor: number;
  devminor: number;
  /**
   * PAX records other than those mapped to the fields above, such as `SCHILY.xattr.*`,
   * `atime` or `comment`. Absent when there are none.
   */
  pax?: Record<string, string> | undefined;
}

/** An entry to write: its header and, for a file, its body of exactly `header.size` bytes. */
export interface TarWriteEntry {
  header: TarHeader;
  body?: Uint8Array | AsyncIterable<Uint8Array> | undefined;
}

/** An entry read: its header and its body, which streams from the archive and can be read once. */
export interface TarEntry {
  header: TarHeader;
  body: AsyncIterable<Uint8Array>;
}

/** Options of {@link readTar} and {@link indexTarFile}. */
export interface ReadTarOptions {
  /** Where the archive comes from (a path or reference), for errors. */
  where?: string | undefined;
}

/** Where an entry's body lies in an archive file, as {@link indexTarFile} finds it. */
export interface TarIndexEntry {
  header: TarHeader;
  /** Byte offset of the body in the file. */
  offset: number;
  /** Bytes of the body. */
  size: number;
}

const BLOCK = 512;
/** PAX and GNU long-name data are read into memory, so their size is capped. */
const MAX_META = 1024 * 1024;
const MAX_OCTAL_11 = 0o77777777777; // 11 octal digits: 8 GiB - 1
const MAX_OCTAL_7 = 0o7777777;
/** PAX keys that map to header fields; every other key is kept in `pax`. */
const PAX_FIELDS = new Set(['path', 'linkpath', 'size', 'uid', 'gid', 'uname', 'gname', 'mtime']);

const TYPEFLAG: Record<TarEntryType, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};
const TYPE_OF_FLAG: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file', // contiguous file: a regular file on every system that matters
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8');

// ---------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------

/**
 * Writes a tar archive as a stream of chunks. Output is POSIX ustar; a PAX `x` header precedes an
 * entry only when a value does not fit ustar (long or non-ASCII names and link targets, owner
 * names over 32 bytes, sizes of 8 GiB and more, ids over 0o7777777, negative or huge times) or the
 * header has extra `pax` records. Records are sorted by key and the PAX header's own fields are
 * fixed, so the same entries always give the same bytes. Memory is bounded by one body chunk.
 *
 * @throws ProvenantError `INVALID_ARCHIVE` when a header cannot be written as given,
 *   `SIZE_MISMATCH` when a body's length differs from `header.size`
 */
export async function* writeTar(entries: AsyncIterable<TarWriteEntry> | Iterable<TarWriteEntry>): AsyncGenerator<Uint8Array> {
  let index = 0;
  for await (const entry of entries) {
    yield encodeHeader(entry.header, index);
    yield* encodeBody(entry.header, entry.body);
    index++;
  }
  // End of archive: two zero blocks.
  yield new Uint8Array(2 * BLOCK);
}

/**
 * A header with neutral defaults (a regular file, mode 0644, owned by root, time 0), for
 * writers that only know a name and a size; `over` sets the rest.
 */
export function tarHeader(over: Partial<TarHeader> & { name: string }): TarHeader {
  return {
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
    size: 0,
    mtime: 0,
    linkname: '',
    devmajor: 0,
    devminor: 0,
    ...over,
  };
}

/** Writes a small archive into one array. Prefer {@link writeTar} for anything large. */
export async function tarBytes(entries: AsyncIterable<TarWriteEntry> | Iterable<TarWriteEntry>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of writeTar(entries)) {
    chunks.push(chunk);
    total += chunk.length;
  }
  return concatBytes(chunks, total);
}

function writeError(header: TarHeader, index: number, why: string): ProvenantError {
  const name = typeof header?.name === 'string' ? JSON.stringify(header.name) : `#${index}`;
  return new ProvenantError('INVALID_ARCHIVE', `cannot write tar entry ${name} (entry ${index}): ${why}`, {
    hint: 'fix the entry given to writeTar',
  });
}

function checkString(header: TarHeader, index: number, field: string, value: unknown): string {
  if (typeof value !== 'string') throw writeError(header, index, `${field} is not a string`);
  if (value.includes('\0')) throw writeError(header, index, `${field} holds a NUL byte`);
  if (LONE_SURROGATE.test(value)) throw writeError(header, index, `${field} is not well-formed Unicode`);
  return value;
}

function checkInt(header: TarHeader, index: number, field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw writeError(header, index, `${field} ${String(value)} is not an integer from ${min} to ${max}`);
  }
  return value;
}

// A string with a lone surrogate has no UTF-8 form; it would not read back as written.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** The header block(s) of one entry: an optional PAX header with its data, then the ustar header. */
function encodeHeader(header: TarHeader, index: number): Uint8Array {
  if (header === null || typeof header !== 'object') throw writeError(header, index, 'the header is missing');
  const name = checkString(header, index, 'name', header.name);
  if (name.length === 0) throw writeError(header, index, 'the name is empty');
  const typeflag = TYPEFLAG[header.type];
  if (typeflag === undefined || !Object.hasOwn(TYPEFLAG, header.type)) {
    throw writeError(header, index, `unknown type ${JSON.stringify(header.type)}`);
  }
  const linkname = checkString(header, index, 'linkname', header.linkname);
  if ((header.type === 'symlink' || header.type === 'hardlink') && linkname.length === 0) {
    throw writeError(header, index, `a ${header.type} needs a linkname`);
  }
  const uname = checkString(header, index, 'uname', header.uname);
  const gname = checkString(header, index, 'gname', header.gname);
  // Type bits (S_IFREG and so on) are dropped: the typeflag carries the type.
  const mode = checkInt(header, index, 'mode', header.mode, 0, Number.MAX_SAFE_INTEGER) % 0o10000;
  const uid = checkInt(header, index, 'uid', header.uid, 0, Number.MAX_SAFE_INTEGER);
  const gid = checkInt(header, index, 'gid', header.gid, 0, Number.MAX_SAFE_INTEGER);
  const size = checkInt(header, index, 'size', header.size, 0, Number.MAX_SAFE_INTEGER);
  if (header.type !== 'file' && size !== 0) throw writeError(header, index, `a ${header.type} has size 0, not ${size}`);
  const mtime = checkInt(header, index, 'mtime', header.mtime, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const devmajor = checkInt(header, index, 'devmajor', header.devmajor, 0, MAX_OCTAL_7);
  const devminor = checkInt(header, index, 'devminor', header.devminor, 0, MAX_OCTAL_7);

  const records = new Map<string, string>();
  let split = isAscii(name) ? splitName(name) : undefined;
  if (split === undefined) {
    records.set('path', name);
    split = fallbackName(name);
  }
  let ustarLink = linkname;
  if (!isAscii(linkname) || linkname.length > 100) {
    records.set('linkpath', linkname);
    ustarLink = sanitize(linkname).slice(0, 100);
  }
  let ustarSize = size;
  if (size > MAX_OCTAL_11) {
    records.set('size', String(size));
    ustarSize = 0;
  }
  let ustarUid = uid;
  if (uid > MAX_OCTAL_7) {
    records.set('uid', String(uid));
    ustarUid = 0;
  }
  let ustarGid = gid;
  if (gid > MAX_OCTAL_7) {
    records.set('gid', String(gid));
    ustarGid = 0;
  }
  let ustarMtime = mtime;
  if (mtime < 0 || mtime > MAX_OCTAL_11) {
    records.set('mtime', String(mtime));
    ustarMtime = 0;
  }
  let ustarUname = uname;
  if (!isAscii(uname) || uname.length > 32) {
    records.set('uname', uname);
    ustarUname = '';
  }
  let ustarGname = gname;
  if (!isAscii(gname) || gname.length > 32) {
    records.set('gname', gname);
    ustarGname = '';
  }
  if (header.pax !== undefined) {
    if (header.pax === null || typeof header.pax !== 'object') throw writeError(header, index, 'pax is not an object');
    for (const [key, value] of Object.entries(header.pax)) {
      checkString(header, index, `pax key ${JSON.stringify(key)}`, key);
      if (key.length === 0 || key.includes('=')) throw writeError(header, index, `pax key ${JSON.stringify(key)} is empty or holds "="`);
      if (PAX_FIELDS.has(key)) throw writeError(header, index, `pax key "${key}" is a header field; set the field instead`);
      if (key.startsWith('GNU.sparse.')) throw writeError(header, index, 'sparse files are not supported');
      checkString(header, index, `pax value of ${key}`, value);
      if (value.length === 0) throw writeError(header, index, `pax value of ${key} is empty (an empty value deletes the key)`);
      records.set(key, value);
    }
  }

  const ustar = ustarBlock({
    name: split.name,
    prefix: split.prefix,
    mode,
    uid: ustarUid,
    gid: ustarGid,
    size: ustarSize,
    mtime: ustarMtime,
    typeflag,
    linkname: ustarLink,
    uname: ustarUname,
    gname: ustarGname,
    devmajor,
    devminor,
  });
  if (records.size === 0) return ustar;

  const data = encodePaxRecords(records);
  if (data.length > MAX_META) throw writeError(header, index, `its PAX records take ${data.length} bytes, over the ${MAX_META} byte limit`);
  // The PAX header's own fields are fixed so that output depends on the entry only.
  const paxName = `PaxHeaders/${baseName(split.prefix ? `${split.prefix}/${split.name}` : split.name)}`.slice(0, 100);
  const paxHeader = ustarBlock({
    name: paxName,
    prefix: '',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: data.length,
    mtime: 0,
    typeflag: 'x',
    linkname: '',
    uname: '',
    gname: '',
    devmajor: 0,
    devminor: 0,
  });
  const out = new Uint8Array(BLOCK + padded(data.length) + BLOCK);
  out.set(paxHeader, 0);
  out.set(data, BLOCK);
  out.set(ustar, BLOCK + padded(data.length));
  return out;
}

async function* encodeBody(header: TarHeader, body: TarWriteEntry['body']): AsyncGenerator<Uint8Array> {
  const size = header.size;
  const mismatch = (got: string): ProvenantError =>
    new ProvenantError(
      'SIZE_MISMATCH',
      `the body of tar entry ${JSON.stringify(header.name)} has ${got} bytes, but its header says ${size}`,
      {
        hint: 'set header.size to the exact length of the body',
      },
    );
  let written = 0;
  if (body instanceof Uint8Array) {
    if (body.length !== size) throw mismatch(String(body.length));
    written = size;
    if (size > 0) yield body;
  } else if (body !== undefined) {
    for await (const chunk of body) {
      if (!(chunk instanceof Uint8Array)) {
        throw new ProvenantError(
          'INVALID_ARCHIVE',
          `the body of tar entry ${JSON.stringify(header.name)} yielded a ${typeof chunk}, not bytes`,
        );
      }
      if (written + chunk.length > size) throw mismatch(`more than ${size}`);
      written += chunk.length;
      if (chunk.length > 0) yield chunk;
    }
  }
  if (written !== size) throw mismatch(String(written));
  const pad = padded(size) - size;
  if (pad > 0) yield new Uint8Array(pad);
}

const padded = (n: number): number => Math.ceil(n / BLOCK) * BLOCK;

/** Splits an ASCII name into ustar's prefix (155 bytes) and name (100 bytes), if it fits. */
function splitName(name: string): { name: string; prefix: string } | undefined {
  if (name.length <= 100) return { name, prefix: '' };
  // The name part is what follows a slash; it must be 1..100 bytes and the prefix at most 155.
  for (let i = Math.max(0, name.length - 101); i <= Math.min(155, name.length - 2); i++) {
    if (name[i] === '/') return { prefix: name.slice(0, i), name: name.slice(i + 1) };
  }
  return undefined;
}

const sanitize = (s: string): string => s.replace(/[^\x20-\x7e]/gu, '_');

/** The ustar name of an entry whose real name is in a PAX record: an ASCII approximation. */
function fallbackName(name: string): { name: string; prefix: string } {
  const ascii = sanitize(name);
  return splitName(ascii) ?? { name: ascii.slice(0, 100), prefix: '' };
}

function baseName(name: string): string {
  const trimmed = name.replace(/\/+$/, '');
  return trimmed.slice(trimmed.lastIndexOf('/') + 1) || 'entry';
}

/** PAX records, `"<length> <key>=<value>\n"`, where the length counts the whole record. */
function encodePaxRecords(records: Map<string, string>): Uint8Array {
  const keys = [...records.keys()].sort();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (const key of keys) {
    const rest = utf8.encode(` ${key}=${records.get(key)}\n`);
    let n = rest.length + 1;
    for (;;) {
      const m = rest.length + String(n).length;
      if (m === n) break;
      n = m;
    }
    const rec = new Uint8Array(n);
    const digits = utf8.encode(String(n));
    rec.set(digits, 0);
    rec.set(rest, digits.length);
    parts.push(rec);
    total += n;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

interface UstarFields {
  name: string;
  prefix: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
}

function ustarBlock(f: UstarFields): Uint8Array {
  const b = new Uint8Array(BLOCK);
  putString(b, 0, 100, f.name);
  putOctal(b, 100, 8, f.mode);
  putOctal(b, 108, 8, f.uid);
  putOctal(b, 116, 8, f.gid);
  putOctal(b, 124, 12, f.size);
  putOctal(b, 136, 12, f.mtime);
  putString(b, 156, 1, f.typeflag);
  putString(b, 157, 100, f.linkname);
  putString(b, 257, 6, 'ustar'); // "ustar\0"
  putString(b, 263, 2, '00');
  putString(b, 265, 32, f.uname);
  putString(b, 297, 32, f.gname);
  putOctal(b, 329, 8, f.devmajor);
  putOctal(b, 337, 8, f.devminor);
  putString(b, 345, 155, f.prefix);
  // The checksum is computed with its own field as spaces, then written as 6 digits, NUL, space.
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  putString(b, 148, 7, sum.toString(8).padStart(6, '0'));
  return b;
}

function putString(b: Uint8Array, at: number, width: number, s: string): void {
  // ASCII, as nearly every name is, goes straight into the header; anything else through UTF-8.
  let ascii = s.length <= width;
  for (let i = 0; ascii && i < s.length; i++) ascii = s.charCodeAt(i) < 0x80;
  if (ascii) {
    for (let i = 0; i < s.length; i++) b[at + i] = s.charCodeAt(i);
    return;
  }
  const bytes = utf8.encode(s);
  if (bytes.length > width) throw new Error(`internal: ${JSON.stringify(s)} does not fit ${width} bytes`);
  b.set(bytes, at);
}

function putOctal(b: Uint8Array, at: number, width: number, n: number): void {
  putString(b, at, width, n.toString(8).padStart(width - 1, '0'));
}

// ---------------------------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------------------------

/** Bytes read in order, from a stream or a file. */
interface Source {
  /** Bytes consumed so far. */
  readonly offset: number;
  /** Exactly `n` bytes, or fewer at the end of input. The result is only valid until the next call. */
  read(n: number): Promise<Uint8Array>;
  /** Up to `max` bytes (at least one), or undefined at the end of input. */
  chunk(max: number): Promise<Uint8Array | undefined>;
  /** Skips `n` bytes; returns how many there were. */
  skip(n: number): Promise<number>;
  close(): Promise<void>;
}

function ioError(err: unknown, where: string | undefined): ProvenantError {
  if (err instanceof ProvenantError) return err;
  const code = (err as { code?: unknown })?.code;
  const message = err instanceof Error ? err.message : String(err);
  return new ProvenantError(code === 'ENOENT' ? 'NOT_FOUND' : 'IO', `cannot read the tar archive: ${message}`, { where, cause: err });
}

class StreamSource implements Source {
  offset = 0;
  #it: AsyncIterator<Uint8Array>;
  #buf: Uint8Array = new Uint8Array(0);
  #done = false;
  #where: string | undefined;

  constructor(input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, where: string | undefined) {
    this.#it = Symbol.asyncIterator in input ? input[Symbol.asyncIterator]() : toAsync(input[Symbol.iterator]());
    this.#where = where;
  }

  async #fill(): Promise<boolean> {
    while (this.#buf.length === 0) {
      if (this.#done) return false;
      let r: IteratorResult<Uint8Array>;
      try {
        r = await this.#it.next();
      } catch (err) {
        this.#done = true;
        throw ioError(err, this.#where);
      }
      if (r.done) {
        this.#done = true;
        return false;
      }
      if (!(r.value instanceof Uint8Array)) {
        throw new ProvenantError('INVALID_ARCHIVE', `the tar input yielded a ${typeof r.value}, not bytes`, { where: this.#where });
      }
      this.#buf = r.value;
    }
    return true;
  }

  async chunk(max: number): Promise<Uint8Array | undefined> {
    if (!(await this.#fill())) return undefined;
    const n = Math.min(max, this.#buf.length);
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    this.offset += n;
    return out;
  }

  async read(n: number): Promise<Uint8Array> {
    if (!(await this.#fill())) return this.#buf.subarray(0, 0);
    if (this.#buf.length >= n) return (await this.chunk(n))!;
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const c = await this.chunk(n - got);
      if (c === undefined) break;
      out.set(c, got);
      got += c.length;
    }
    return out.subarray(0, got);
  }

  async skip(n: number): Promise<number> {
    let skipped = 0;
    while (skipped < n) {
      const c = await this.chunk(n - skipped);
      if (c === undefined) break;
      skipped += c.length;
    }
    return skipped;
  }

  async close(): Promise<void> {
    this.#done = true;
    try {
      await this.#it.return?.();
    } catch {
      // The input failed while being closed; the archive was already read or failed itself.
    }
  }
}

function toAsync<T>(it: Iterator<T>): AsyncIterator<T> {
  return {
    next: async () => it.next(),
    return: async () => it.return?.() ?? { done: true, value: undefined },
  };
}

/** Reads a file by position, so that skipping a body costs nothing. */
class FileSource implements Source {
  offset = 0;
  #fh: FileHandle;
  #size: number;
  #where: string;

  constructor(fh: FileHandle, size: number, where: string) {
    this.#fh = fh;
    this.#size = size;
    this.#where = where;
  }

  async read(n: number): Promise<Uint8Array> {
    const want = Math.min(n, this.#size - this.offset);
    const out = new Uint8Array(Math.max(0, want));
    let got = 0;
    try {
      while (got < want) {
        const { bytesRead } = await this.#fh.read(out, got, want - got, this.offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
    } catch (err) {
      throw ioError(err, this.#where);
    }
    this.offset += got;
    return out.subarray(0, got);
  }

  async chunk(max: number): Promise<Uint8Array | undefined> {
    const c = await this.read(Math.min(max, 64 * 1024));
    return c.length === 0 ? undefined : c;
  }

  async skip(n: number): Promise<number> {
    const skipped = Math.max(0, Math.min(n, this.#size - this.offset));
    this.offset += skipped;
    return skipped;
  }

  async close(): Promise<void> {
    await this.#fh.close();
  }
}

interface Parsed {
  header: TarHeader;
  /** Offset of the entry's first header block (its PAX or GNU header when it has one). */
  headerOffset: number;
  /** Offset of the body. */
  dataOffset: number;
}

/** The tar grammar over a {@link Source}: headers in, entries out, bodies skipped when unread. */
class TarParser {
  #src: Source;
  #where: string | undefined;
  #remaining = 0;
  #pad = 0;
  #current: { name: string; offset: number } | undefined;
  #generation = 0;
  #ended = false;
  #global = new Map<string, string>();

  constructor(src: Source, where: string | undefined) {
    this.#src = src;
    this.#where = where;
  }

  #invalid(message: string, hint = 'the archive is corrupt or not a tar archive'): ProvenantError {
    return new ProvenantError('INVALID_ARCHIVE', message, { where: this.#where, hint });
  }

  #truncated(message: string): ProvenantError {
    return new ProvenantError('TRUNCATED', message, { where: this.#where, hint: 'the archive is incomplete; download or copy it again' });
  }

  /** The body of the current entry, readable until {@link next} is called. */
  body(): AsyncIterable<Uint8Array> {
    const generation = this.#generation;
    const current = this.#current!;
    let left = this.#remaining;
    const self = this;
    return {
      async *[Symbol.asyncIterator]() {
        while (left > 0) {
          if (self.#generation !== generation) {
            throw new ProvenantError(
              'USAGE',
              `the body of tar entry ${JSON.stringify(current.name)} was read after moving to the next entry`,
              {
                where: self.#where,
                hint: 'read each body before asking for the next entry',
              },
            );
          }
          const c = await self.#src.chunk(left);
          if (c === undefined) {
            throw self.#truncated(
              `the tar archive ends inside the body of ${JSON.stringify(current.name)} (entry at byte ${current.offset}), at byte ${self.#src.offset} with ${left} bytes missing`,
            );
          }
          left -= c.length;
          self.#remaining = left;
          yield c;
        }
      },
    };
  }

  /** Skips the rest of the current body and its padding. */
  async #finishEntry(): Promise<void> {
    this.#generation++;
    const want = this.#remaining + this.#pad;
    this.#remaining = 0;
    this.#pad = 0;
    if (want === 0) return;
    const skipped = await this.#src.skip(want);
    if (skipped < want) {
      const name = JSON.stringify(this.#current?.name ?? '');
      throw this.#truncated(
        `the tar archive ends inside the body of ${name} (entry at byte ${this.#current?.offset}), at byte ${this.#src.offset}`,
      );
    }
  }

  async next(): Promise<Parsed | undefined> {
    if (this.#ended) return undefined;
    await this.#finishEntry();
    let local = new Map<string, string>();
    let localBytes = 0;
    let gnuName: string | undefined;
    let gnuLink: string | undefined;
    let entryOffset: number | undefined; // set once a PAX or GNU header starts an entry
    for (;;) {
      const at = this.#src.offset;
      const block = await this.#src.read(BLOCK);
      if (block.length === 0) {
        if (entryOffset !== undefined) {
          throw this.#truncated(`the tar archive ends at byte ${at}, after an extended header at byte ${entryOffset} but before its entry`);
        }
        // A clean end at an entry boundary without the two zero blocks: accepted, as GNU tar and
        // Go's archive/tar do.
        this.#ended = true;
        return undefined;
      }
      if (block.length < BLOCK)
        throw this.#truncated(`the tar archive ends inside the header at byte ${at} (${block.length} of 512 bytes)`);
      if (isZero(block)) {
        if (entryOffset !== undefined)
          throw this.#invalid(`the extended header at byte ${entryOffset} is followed by an end-of-archive block`);
        const second = await this.#src.read(BLOCK);
        if (second.length > 0 && second.length < BLOCK) {
          throw this.#truncated(`the tar archive ends inside its end-of-archive marker at byte ${at + BLOCK}`);
        }
        if (second.length === BLOCK && !isZero(second)) {
          throw this.#invalid(`the zero block at byte ${at} is followed by a header; a tar archive ends with two zero blocks`);
        }
        this.#ended = true;
        return undefined;
      }

      const raw = this.#parseBlock(block, at);
      const flag = raw.typeflag;
      if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
        entryOffset ??= at;
        const size = raw.size;
        if (size > MAX_META) {
          throw this.#invalid(`the ${describeFlag(flag)} at byte ${at} claims ${size} bytes, over the ${MAX_META} byte limit`);
        }
        localBytes += size;
        if (localBytes > MAX_META) throw this.#invalid(`the extended headers before byte ${at} exceed ${MAX_META} bytes`);
        const data = await this.#src.read(size);
        if (data.length < size) throw this.#truncated(`the tar archive ends inside the ${describeFlag(flag)} at byte ${at}`);
        const pad = padded(size) - size;
        if ((await this.#src.skip(pad)) < pad) throw this.#truncated(`the tar archive ends inside the ${describeFlag(flag)} at byte ${at}`);
        if (flag === 'L') gnuName = cString(data);
        else if (flag === 'K') gnuLink = cString(data);
        else {
          const records = this.#parsePax(data, at);
          if (flag === 'x') {
            for (const [k, v] of records) local.set(k, v);
          } else {
            for (const [k, v] of records) {
              if (v === '') this.#global.delete(k);
              else this.#global.set(k, v);
            }
            let globalBytes = 0;
            for (const [k, v] of this.#global) globalBytes += k.length + v.length;
            if (globalBytes > MAX_META) throw this.#invalid(`the global PAX headers up to byte ${at} exceed ${MAX_META} bytes`);
            // A global header applies to every later entry; it is not an entry itself.
            entryOffset = undefined;
            localBytes = 0;
          }
        }
        continue;
      }

      // A real entry. Global records apply first, then the entry's own; an empty value unsets.
      const pax = new Map(this.#global);
      for (const [k, v] of local) pax.set(k, v);
      local = new Map();
      for (const [k, v] of pax) if (v === '') pax.delete(k);
      const header = this.#buildHeader(raw, pax, gnuName, gnuLink, at);
      const dataSize = header.type === 'file' ? header.size : 0;
      this.#current = { name: header.name, offset: entryOffset ?? at };
      this.#remaining = dataSize;
      this.#pad = padded(dataSize) - dataSize;
      return { header, headerOffset: entryOffset ?? at, dataOffset: this.#src.offset };
    }
  }

  #parseBlock(b: Uint8Array, at: number): RawHeader {
    const numeric = (field: string, off: number, len: number, signed = false): number => {
      const v = parseNumeric(b, off, len);
      if (v === undefined) {
        throw this.#invalid(`the ${field} field of the tar header at byte ${at} is not a number: ${JSON.stringify(latin1(b, off, len))}`);
      }
      if (!signed && v < 0) throw this.#invalid(`the ${field} field of the tar header at byte ${at} is negative (${v})`);
      return v;
    };
    const stored = numeric('checksum', 148, 8);
    let unsigned = 0;
    let signed = 0;
    for (let i = 0; i < BLOCK; i++) {
      const byte = i >= 148 && i < 156 ? 0x20 : b[i]!;
      unsigned += byte;
      signed += byte > 127 ? byte - 256 : byte;
    }
    // Some old writers summed signed chars; both sums are accepted, as GNU tar does.
    if (stored !== unsigned && stored !== signed) {
      throw this.#invalid(`the tar header at byte ${at} has a bad checksum (stored ${stored}, computed ${unsigned})`);
    }
    const magic = latin1(b, 257, 6);
    const format: RawHeader['format'] = magic === 'ustar\0' ? 'ustar' : magic === 'ustar ' ? 'gnu' : 'v7';
    const name = cString(b.subarray(0, 100));
    const prefix = format === 'ustar' ? cString(b.subarray(345, 500)) : '';
    return {
      format,
      name: prefix ? `${prefix}/${name}` : name,
      mode: numeric('mode', 100, 8),
      uid: numeric('uid', 108, 8),
      gid: numeric('gid', 116, 8),
      size: numeric('size', 124, 12),
      mtime: numeric('mtime', 136, 12, true),
      typeflag: String.fromCharCode(b[156]!),
      linkname: cString(b.subarray(157, 257)),
      uname: format === 'v7' ? '' : cString(b.subarray(265, 297)),
      gname: format === 'v7' ? '' : cString(b.subarray(297, 329)),
      devmajor: format === 'v7' ? 0 : numeric('devmajor', 329, 8),
      devminor: format === 'v7' ? 0 : numeric('devminor', 337, 8),
    };
  }

  #parsePax(data: Uint8Array, at: number): Map<string, string> {
    const records = new Map<string, string>();
    let pos = 0;
    while (pos < data.length) {
      let i = pos;
      while (i < data.length && i - pos < 16 && data[i]! >= 0x30 && data[i]! <= 0x39) i++;
      if (i === pos || data[i] !== 0x20) throw this.#invalid(`the PAX header at byte ${at} has a malformed record length at offset ${pos}`);
      const length = Number(latin1(data, pos, i - pos));
      if (length < i - pos + 4 || pos + length > data.length) {
        throw this.#invalid(`the PAX header at byte ${at} has a record length ${length} at offset ${pos} that does not fit its data`);
      }
      const end = pos + length;
      if (data[end - 1] !== 0x0a)
        throw this.#invalid(`the PAX record at offset ${pos} of the header at byte ${at} does not end in a newline`);
      const rec = data.subarray(i + 1, end - 1);
      const eq = rec.indexOf(0x3d);
      if (eq <= 0) throw this.#invalid(`the PAX record at offset ${pos} of the header at byte ${at} has no key`);
      const key = fromUtf8.decode(rec.subarray(0, eq));
      const value = fromUtf8.decode(rec.subarray(eq + 1));
      if (key.startsWith('GNU.sparse.')) {
        throw this.#invalid(
          `the entry after byte ${at} is a GNU sparse file, which is not supported`,
          'recreate the archive without --sparse',
        );
      }
      records.set(key, value);
      pos = end;
    }
    return records;
  }

  #buildHeader(raw: RawHeader, pax: Map<string, string>, gnuName: string | undefined, gnuLink: string | undefined, at: number): TarHeader {
    const paxInt = (key: string, signed: boolean): number | undefined => {
      const v = pax.get(key);
      if (v === undefined) return undefined;
      // Times may carry a fraction (`1700000000.123456789`); whole seconds are kept.
      const m = (signed ? /^(-?)(\d{1,16})(?:\.\d*)?$/ : /^()(\d{1,16})$/).exec(v);
      const n = m === null ? Number.NaN : Number(`${m[1]}${m[2]}`);
      if (!Number.isSafeInteger(n))
        throw this.#invalid(`the PAX ${key} record of the entry at byte ${at} is not a valid number: ${JSON.stringify(v)}`);
      return n === 0 ? 0 : n; // no -0
    };
    const name = pax.get('path') ?? gnuName ?? raw.name;
    let type = TYPE_OF_FLAG[raw.typeflag];
    if (type === undefined || !Object.hasOwn(TYPE_OF_FLAG, raw.typeflag)) {
      throw this.#invalid(
        `the tar entry ${JSON.stringify(name)} at byte ${at} has type ${JSON.stringify(raw.typeflag)}, which is not supported`,
        'only files, directories, links, devices and FIFOs are supported',
      );
    }
    // v7 archives had no directory type: a regular-file entry whose name ends in a slash is one.
    if (raw.typeflag === '\0' && name.endsWith('/')) type = 'dir';
    const header: TarHeader = {
      name,
      type,
      mode: raw.mode % 0o10000,
      uid: paxInt('uid', false) ?? raw.uid,
      gid: paxInt('gid', false) ?? raw.gid,
      uname: pax.get('uname') ?? raw.uname,
      gname: pax.get('gname') ?? raw.gname,
      size: type === 'file' ? (paxInt('size', false) ?? raw.size) : 0,
      mtime: paxInt('mtime', true) ?? raw.mtime,
      linkname: pax.get('linkpath') ?? gnuLink ?? raw.linkname,
      devmajor: raw.devmajor,
      devminor: raw.devminor,
    };
    const extra: Record<string, string> = {};
    let extras = 0;
    for (const key of [...pax.keys()].sort()) {
      if (PAX_FIELDS.has(key)) continue;
      // Defined, not assigned: a record named `__proto__` must stay a plain record.
      Object.defineProperty(extra, key, { value: pax.get(key)!, enumerable: true, writable: true, configurable: true });
      extras++;
    }
    if (extras > 0) header.pax = extra;
    return header;
  }
}

interface RawHeader {
  format: 'ustar' | 'gnu' | 'v7';
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
}

function describeFlag(flag: string): string {
  if (flag === 'x') return 'PAX header';
  if (flag === 'g') return 'global PAX header';
  if (flag === 'L') return 'GNU long name';
  return 'GNU long link name';
}

function isZero(b: Uint8Array): boolean {
  for (const byte of b) if (byte !== 0) return false;
  return true;
}

function latin1(b: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = off; i < off + len && i < b.length; i++) s += String.fromCharCode(b[i]!);
  return s;
}

/** A NUL-terminated (or full-width) UTF-8 string field. */
function cString(b: Uint8Array): string {
  const nul = b.indexOf(0);
  return fromUtf8.decode(nul === -1 ? b : b.subarray(0, nul));
}

/**
 * A numeric field: octal text padded with spaces or NULs, or GNU's base-256 (two's complement,
 * big-endian, the top bit of the first byte set). Undefined when malformed or out of range.
 */
function parseNumeric(b: Uint8Array, off: number, len: number): number | undefined {
  const first = b[off]!;
  if (first & 0x80) {
    const negative = (first & 0x40) !== 0;
    let x = 0n;
    for (let i = 0; i < len; i++) {
      let c = b[off + i]!;
      if (negative) c ^= 0xff;
      if (i === 0) c &= 0x7f;
      x = (x << 8n) | BigInt(c);
    }
    const v = negative ? -x - 1n : x;
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) return undefined;
    return Number(v);
  }
  const text = latin1(b, off, len).replace(/^[ \0]+|[ \0]+$/g, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) return undefined;
  const v = Number.parseInt(text, 8);
  return Number.isSafeInteger(v) ? v : undefined;
}

/**
 * Reads a tar archive as a stream of entries. Each body streams from the input and must be read
 * before asking for the next entry; a body left unread is skipped. Input chunks may have any size.
 *
 * Reads POSIX ustar and pax (`x` and `g` headers: path, linkpath, size, uid, gid, uname, gname,
 * mtime, and any other record into `header.pax`), GNU tar's long names (`L`, `K`) and base-256
 * numbers, and v7 headers. Two zero blocks end the archive; input that ends cleanly between entries
 * is accepted too. Nothing is allocated from a size in the archive beyond 1 MiB.
 *
 * @throws ProvenantError `INVALID_ARCHIVE` for a bad checksum, a malformed or negative number, an
 *   oversized or malformed extended header, or an unsupported entry type; `TRUNCATED` when the
 *   input ends inside a header or body (from the body's iterator when it is being read); `IO` or
 *   `NOT_FOUND` when the input stream fails.
 */
export async function* readTar(
  input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: ReadTarOptions = {},
): AsyncGenerator<TarEntry> {
  const src = new StreamSource(input, options.where);
  const parser = new TarParser(src, options.where);
  try {
    for (;;) {
      const parsed = await parser.next();
      if (parsed === undefined) return;
      yield { header: parsed.header, body: parser.body() };
    }
  } finally {
    await src.close();
  }
}

/**
 * Reads a tar file on disk entry by entry without reading its bodies: each entry's header and
 * where its body lies, in archive order, repeated names included. {@link indexTarFile} is this
 * folded into a map; readers that must see every entry (to refuse unsafe ones) use this.
 *
 * @throws ProvenantError as {@link readTar} does, and `TRUNCATED` when the file is shorter than
 *   its last body
 */
export async function* scanTarFile(path: string, options: ReadTarOptions = {}): AsyncGenerator<TarIndexEntry> {
  const where = options.where ?? path;
  let fh: FileHandle;
  let size: number;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw ioError(err, where);
  }
  try {
    size = (await fh.stat()).size;
  } catch (err) {
    await fh.close();
    throw ioError(err, where);
  }
  const src = new FileSource(fh, size, where);
  const parser = new TarParser(src, where);
  try {
    for (;;) {
      const parsed = await parser.next();
      // Each call skips the previous body by position, checking that the file holds it.
      if (parsed === undefined) break;
      yield { header: parsed.header, offset: parsed.dataOffset, size: parsed.header.size };
    }
  } finally {
    await src.close();
  }
}

/**
 * Indexes a tar file on disk without reading its bodies: each entry's header and where its body
 * lies, for random access with {@link openTarMember}. Keys are entry names without a leading `./`
 * (`./index.json` is found as `index.json`); the headers keep the names as stored. When a name
 * repeats, the last entry wins, as it would on extraction. Names are not checked here: see
 * `cleanEntryPath` and `TarView`, which is how `oci-archive:` and `docker-archive:` tarballs are
 * read in place.
 *
 * @throws ProvenantError as {@link readTar} does, and `TRUNCATED` when the file is shorter than
 *   its last body
 */
export async function indexTarFile(path: string, options: ReadTarOptions = {}): Promise<Map<string, TarIndexEntry>> {
  const index = new Map<string, TarIndexEntry>();
  for await (const entry of scanTarFile(path, options)) {
    const key = indexKey(entry.header.name);
    index.delete(key); // keep archive order for a repeated name
    index.set(key, entry);
  }
  return index;
}

/** An entry name without leading `./` (and repeated slashes after it); `./` itself stays `.`. */
function indexKey(name: string): string {
  let key = name;
  while (key.startsWith('./')) key = key.slice(2).replace(/^\/+/, '');
  return key === '' ? '.' : key;
}

/**
 * Streams one entry's body from a tar file, using an entry that {@link indexTarFile} returned.
 *
 * @param path the tar file
 * @param entry where the body lies (from {@link indexTarFile})
 * @param start where in the body to begin, in bytes (0 by default), e.g. to resume a copy
 * @param options where the archive came from, for errors
 * @throws ProvenantError `USAGE` for a `start` outside the body, `TRUNCATED` when the file has
 *   become shorter than the body, `NOT_FOUND` or `IO` when it cannot be read
 */
export async function* openTarMember(
  path: string,
  entry: Pick<TarIndexEntry, 'offset' | 'size'>,
  start = 0,
  options: ReadTarOptions = {},
): AsyncGenerator<Uint8Array> {
  const where = options.where ?? path;
  if (!Number.isSafeInteger(start) || start < 0 || start > entry.size) {
    throw new ProvenantError(
      'USAGE',
      `cannot start reading the tar member at byte ${entry.offset} at ${start}: it has ${entry.size} bytes`,
      {
        where,
      },
    );
  }
  const want = entry.size - start;
  if (want === 0) return;
  let got = 0;
  try {
    const from = entry.offset + start;
    // 1 MiB reads, as a layout's blobs are read: a layer moves in fewer, larger chunks.
    const stream = createReadStream(path, { start: from, end: entry.offset + entry.size - 1, highWaterMark: 1 << 20 });
    for await (const chunk of stream as AsyncIterable<Uint8Array>) {
      got += chunk.length;
      yield chunk;
    }
  } catch (err) {
    throw ioError(err, where);
  }
  if (got < want) {
    throw new ProvenantError(
      'TRUNCATED',
      `the tar member at byte ${entry.offset} has ${start + got} of its ${entry.size} bytes in the file, ending at byte ${entry.offset + start + got}`,
      {
        where,
        hint: 'the archive changed or was cut short since it was indexed',
      },
    );
  }
}
