/**
 * The streaming tar reader (ustar, PAX `x`/`g`, GNU `L`/`K` long names, base-256 numbers, v7):
 * entries from a stream, and entries of a file on disk indexed and read in place.
 */
import { type FileHandle, open } from 'node:fs/promises';
import { decodeUtf8, decodeUtf8Exact, quotedBytes } from '../bytes.ts';
import { ProvenantError } from '../errors.ts';
import { compressionOf, decompressCommand } from './compression.ts';
import {
  BLOCK,
  byteString,
  isXattrKey,
  MAX_META,
  PAX_FIELDS,
  padded,
  type ReadTarOptions,
  type TarEntry,
  type TarHeader,
  type TarIndexEntry,
  TYPE_OF_FLAG,
  type UstarFields,
} from './tar-format.ts';
import { FileSource, ioError, type Source, StreamSource } from './tar-source.ts';

const { createReadStream } = process.getBuiltinModule('node:fs');

/** Options of {@link readTar}. */
export interface ReadTarStreamOptions extends ReadTarOptions {
  /**
   * Where an entry's owner comes from: `pax` (the default, as POSIX and GNU tar have it) applies
   * PAX `uid`, `gid`, `uname` and `gname` records over the ustar fields; `ustar` keeps the ustar
   * fields, and those records stay unapplied in `header.pax`. apk-tools reads apk tars the second
   * way: its apk_tar_parse takes uid and gid from the ustar fields (resolving the ustar
   * uname and gname), and handle_extended_header reads path, linkpath, xattrs and its checksums
   * of the PAX records, nothing else.
   */
  ownership?: 'pax' | 'ustar' | undefined;
}

/** The PAX records that name an entry's owner. */
const OWNER_RECORDS = new Set(['uid', 'gid', 'uname', 'gname']);

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
  #paxOwners: boolean;

  constructor(src: Source, where: string | undefined, ownership: ReadTarStreamOptions['ownership'] = 'pax') {
    this.#src = src;
    this.#where = where;
    this.#paxOwners = ownership === 'pax';
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
    let gnuName: Name | undefined;
    let gnuLink: Name | undefined;
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
      if (block.length < BLOCK) {
        throw (
          this.#compressed(block, at) ??
          this.#truncated(`the tar archive ends inside the header at byte ${at} (${block.length} of 512 bytes)`)
        );
      }
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

      const raw = this.#parseFirst(block, at);
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
        if (flag === 'L') gnuName = nameField(data);
        else if (flag === 'K') gnuLink = nameField(data);
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
            // A global header applies to every later entry; it is not an entry itself, and it ends
            // what came before it: the local records, long name and long link pending are dropped,
            // as Go's archive/tar drops them (it returns the global header as an entry of its own).
            // Kept, they would grow with every x-then-g pair while the byte count starts again, so
            // that a layer of such pairs held memory in proportion to its length.
            entryOffset = undefined;
            localBytes = 0;
            local = new Map();
            gnuName = undefined;
            gnuLink = undefined;
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

  /**
   * {@link #parseBlock}, except that input which is no tar header because it is compressed (a
   * `docker save | gzip`, a `.tgz`) is said to be so at byte 0, not taken for a corrupt header.
   */
  #parseFirst(block: Uint8Array, at: number): RawHeader {
    try {
      return this.#parseBlock(block, at);
    } catch (err) {
      throw this.#compressed(block, at, err) ?? err;
    }
  }

  /** The error for input at byte `at` that is compressed data, not a tar; undefined when it is not that. */
  #compressed(block: Uint8Array, at: number, cause?: unknown): ProvenantError | undefined {
    const compression = at === 0 ? compressionOf(block) : undefined;
    if (compression === undefined) return undefined;
    return new ProvenantError('INVALID_ARCHIVE', `the input is ${compression}-compressed, not a tar archive`, {
      where: this.#where,
      cause,
      hint: `decompress it first (${decompressCommand(compression)} FILE > FILE.tar) and read the .tar`,
    });
  }

  #parseBlock(b: Uint8Array, at: number): RawHeader {
    const numeric = (field: string, off: number, len: number, signed = false): number => {
      const v = parseNumeric(b, off, len);
      if (v === undefined) {
        throw this.#invalid(
          `the ${field} field of the tar header at byte ${at} is not a number: ${quotedBytes(b.subarray(off, off + len))}`,
        );
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
    const name = cBytes(b.subarray(0, 100));
    const prefix = format === 'ustar' ? cBytes(b.subarray(345, 500)) : new Uint8Array(0);
    return {
      format,
      // Decoded only when it is the name: a PAX or GNU long name's entry may cut a UTF-8
      // character in two here (GNU tar truncates), and the header of a PAX header has a name of its own.
      name: nameField(prefix.length > 0 ? Uint8Array.of(...prefix, 0x2f, ...name) : name),
      mode: numeric('mode', 100, 8),
      uid: numeric('uid', 108, 8),
      gid: numeric('gid', 116, 8),
      size: numeric('size', 124, 12),
      mtime: numeric('mtime', 136, 12, true),
      typeflag: String.fromCharCode(b[156]!),
      linkname: nameField(b.subarray(157, 257)),
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
      // Keys, paths and link targets are UTF-8 (POSIX pax: ustar names are bytes, PAX records
      // UTF-8 unless `hdrcharset=BINARY`): read exactly, as names are (see notUtf8), or refused.
      const key = decodeUtf8Exact(rec.subarray(0, eq));
      if (key === undefined) throw this.#notUtf8(`the PAX header at byte ${at} has a key`, rec.subarray(0, eq));
      // An extended attribute's value is bytes (a file capability holds NULs): kept byte for byte.
      let value: string | undefined;
      if (isXattrKey(key)) value = byteString(rec.subarray(eq + 1));
      else if (key === 'path' || key === 'linkpath') value = decodeUtf8Exact(rec.subarray(eq + 1));
      else value = decodeUtf8(rec.subarray(eq + 1));
      if (value === undefined) throw this.#notUtf8(`the PAX header at byte ${at} has a ${key} record`, rec.subarray(eq + 1));
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

  /**
   * The error for a name that is not UTF-8. Decoded leniently, every malformed byte would become
   * U+FFFD: `\xff` and `\xfe` one name, the second entry silently taking the first's place, and
   * the file that a runtime unpacks under its own name hidden from a diff, an SBOM or a policy.
   * The name is refused rather than renamed, as nothing can hold the bytes it stands for.
   */
  #notUtf8(what: string, bytes: Uint8Array): ProvenantError {
    return this.#invalid(
      `${what} that is not UTF-8: ${quotedBytes(bytes)}`,
      'names are read as UTF-8, and one that is not could not be told from another (each malformed byte would read as U+FFFD); rename the file to a UTF-8 name and build the archive again',
    );
  }

  /** The text of `name`; refused when it is not UTF-8, said as `what` (`the tar entry ... has a name`). */
  #exact(name: Name, what: string): string {
    if (typeof name === 'string') return name;
    throw this.#notUtf8(what, name);
  }

  /**
   * The link target of an entry of `type`: refused when it is not UTF-8 and the entry is a link;
   * the field of any other entry means nothing, and is read as any text is.
   */
  #linkname(linkname: Name, type: TarHeader['type'], entry: string): string {
    if (typeof linkname === 'string') return linkname;
    if (type === 'symlink' || type === 'hardlink') throw this.#notUtf8(`${entry} has a link target`, linkname);
    return decodeUtf8(linkname);
  }

  #buildHeader(raw: RawHeader, pax: Map<string, string>, gnuName: Name | undefined, gnuLink: Name | undefined, at: number): TarHeader {
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
    const owner = (key: string): number | undefined => (this.#paxOwners ? paxInt(key, false) : undefined);
    const ownerName = (key: string): string | undefined => (this.#paxOwners ? pax.get(key) : undefined);
    const name = pax.get('path') ?? this.#exact(gnuName ?? raw.name, `the tar entry at byte ${at} has a name`);
    let type = TYPE_OF_FLAG[raw.typeflag];
    if (type === undefined || !Object.hasOwn(TYPE_OF_FLAG, raw.typeflag)) {
      throw this.#invalid(
        `the tar entry ${JSON.stringify(name)} at byte ${at} has type ${quotedBytes(latin1Bytes(raw.typeflag))}, which is not supported`,
        'only files, directories, links, devices and FIFOs are supported',
      );
    }
    // v7 archives had no directory type: a regular-file entry whose name ends in a slash is one.
    if (raw.typeflag === '\0' && name.endsWith('/')) type = 'dir';
    const header: TarHeader = {
      name,
      type,
      mode: raw.mode % 0o10000,
      uid: owner('uid') ?? raw.uid,
      gid: owner('gid') ?? raw.gid,
      uname: ownerName('uname') ?? raw.uname,
      gname: ownerName('gname') ?? raw.gname,
      size: type === 'file' ? (paxInt('size', false) ?? raw.size) : 0,
      mtime: paxInt('mtime', true) ?? raw.mtime,
      linkname: pax.get('linkpath') ?? this.#linkname(gnuLink ?? raw.linkname, type, `the tar entry ${JSON.stringify(name)} at byte ${at}`),
      devmajor: raw.devmajor,
      devminor: raw.devminor,
    };
    const extra: Record<string, string> = {};
    let extras = 0;
    for (const key of [...pax.keys()].sort()) {
      if (PAX_FIELDS.has(key) && (this.#paxOwners || !OWNER_RECORDS.has(key))) continue;
      // Defined, not assigned: a record named `__proto__` must stay a plain record.
      Object.defineProperty(extra, key, { value: pax.get(key)!, enumerable: true, writable: true, configurable: true });
      extras++;
    }
    if (extras > 0) header.pax = extra;
    return header;
  }
}

/**
 * A header block as read, before PAX and GNU extensions apply (a ustar prefix is joined to the
 * name); its name and link target as {@link nameField} reads them.
 */
type RawHeader = Omit<UstarFields, 'name' | 'linkname'> & { format: 'ustar' | 'gnu' | 'v7'; name: Name; linkname: Name };

/** A name's text, or its bytes when they are not UTF-8 (refused only where the name is used). */
type Name = string | Uint8Array;

function describeFlag(flag: string): string {
  if (flag === 'x') return 'PAX header';
  if (flag === 'g') return 'global PAX header';
  if (flag === 'L') return 'GNU long name';
  return 'GNU long link name';
}

function isZero(b: Uint8Array): boolean {
  // Indexed, as in tar-writer.ts's ustarBlock: an iterator is slow before V8 compiles the loop.
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** The bytes of a string of char codes below 256, as {@link latin1} made it. */
function latin1Bytes(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
}

function latin1(b: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = off; i < off + len && i < b.length; i++) s += String.fromCharCode(b[i]!);
  return s;
}

/** A NUL-terminated (or full-width) UTF-8 string field. */
function cString(b: Uint8Array): string {
  return decodeUtf8(cBytes(b));
}

/** The bytes of a NUL-terminated (or full-width) field. */
function cBytes(b: Uint8Array): Uint8Array {
  const nul = b.indexOf(0);
  return nul === -1 ? b : b.subarray(0, nul);
}

/** A NUL-terminated name field ({@link cBytes}) as text, or a copy of its bytes when they are not UTF-8. */
function nameField(b: Uint8Array): Name {
  const bytes = cBytes(b);
  return decodeUtf8Exact(bytes) ?? bytes.slice();
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
  // Octal digits between any spaces and NULs, read from the bytes: a string and two regular
  // expressions for each of a header's eight numbers were a quarter of what unpacking a package
  // allocated (a first build of the 1 GB bench image reads 31,000 headers).
  let start = off;
  let end = off + len;
  while (start < end && (b[start] === 0x20 || b[start] === 0)) start++;
  while (end > start && (b[end - 1] === 0x20 || b[end - 1] === 0)) end--;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c < 0x30 || c > 0x37) return undefined;
    v = v * 8 + (c - 0x30);
  }
  return Number.isSafeInteger(v) ? v : undefined;
}

/**
 * Reads a tar archive as a stream of entries. Each body streams from the input and must be read
 * before asking for the next entry; a body left unread is skipped. Input chunks may have any size.
 *
 * Reads POSIX ustar and pax (`x` and `g` headers: path, linkpath, size, uid, gid, uname, gname
 * (unless `options.ownership` is `ustar`), mtime, and any other record into `header.pax`), GNU tar's long names (`L`, `K`) and base-256
 * numbers, and v7 headers. Two zero blocks end the archive; input that ends cleanly between entries
 * is accepted too. Nothing is allocated from a size in the archive beyond 1 MiB, and what the
 * reader holds stays bounded however long the archive: at most 1 MiB of extended headers pending
 * for the next entry (a global header drops those before it) and 1 MiB of global records.
 *
 * Names and link targets are read as UTF-8, exactly: each encodes back to the bytes it was read
 * from, so that two entries never share a name they did not have.
 *
 * @throws ProvenantError `INVALID_ARCHIVE` for a bad checksum, a malformed or negative number, an
 *   oversized or malformed extended header, an unsupported entry type, or a name, link target
 *   or PAX key that is not UTF-8; `TRUNCATED` when the
 *   input ends inside a header or body (from the body's iterator when it is being read); `IO` or
 *   `NOT_FOUND` when the input stream fails.
 */
export async function* readTar(
  input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: ReadTarStreamOptions = {},
): AsyncGenerator<TarEntry> {
  const src = new StreamSource(input, options.where);
  const parser = new TarParser(src, options.where, options.ownership);
  try {
    for (;;) {
      const parsed = await parser.next();
      if (parsed === undefined) return;
      yield { header: parsed.header, body: parser.body(), offset: parsed.dataOffset };
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
