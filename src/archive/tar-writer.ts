/**
 * The deterministic streaming tar writer: POSIX ustar, with a PAX extended header only where a
 * value does not fit, so that the same entries always give the same bytes.
 */
import { collectBytes, concatBytes, encodeUtf8 } from '../bytes.ts';
import { ProvenantError } from '../errors.ts';
import { cleanEntryPath } from './paths.ts';
import {
  BLOCK,
  byteStringBytes,
  isXattrKey,
  MAX_META,
  MAX_OCTAL_7,
  MAX_OCTAL_11,
  PAX_FIELDS,
  padded,
  paxRecord,
  type TarHeader,
  type TarWriteEntry,
  TYPEFLAG,
  type UstarFields,
} from './tar-format.ts';
import { encodeGoHeader } from './tar-go.ts';

/**
 * Writes a tar archive as a stream of chunks. Output is POSIX ustar; a PAX `x` header precedes an
 * entry only when a value does not fit ustar (long or non-ASCII names and link targets, owner
 * names over 32 bytes, sizes of 8 GiB and more, ids over 0o7777777, negative or huge times) or the
 * header has extra `pax` records. Records are sorted by key and the PAX header's own fields are
 * fixed, so the same entries always give the same bytes. Memory is bounded by one body chunk.
 *
 * @throws ProvenantError `INVALID_ARCHIVE` when a header cannot be written as given,
 *   `UNSAFE_PATH` for a name that is absolute or climbs above the root (unless
 *   `options.unsafeNames`), `SIZE_MISMATCH` when a body's length differs from `header.size`
 */
export async function* writeTar(
  entries: AsyncIterable<TarWriteEntry> | Iterable<TarWriteEntry>,
  options: WriteTarOptions = {},
): AsyncGenerator<Uint8Array> {
  const format = options.format ?? 'provenant';
  const scratch = options.reuseChunks === true ? new Uint8Array(BLOCK) : undefined;
  let index = 0;
  for await (const entry of entries) {
    yield encodeHeader(entry.header, index, format, scratch, options.unsafeNames === true);
    yield* encodeBody(entry.header, entry.body);
    index++;
  }
  // End of archive: two zero blocks.
  yield new Uint8Array(2 * BLOCK);
}

/**
 * How headers are laid out: `provenant` (the default, above), or `go`, the bytes Go's
 * archive/tar writes, as apko's layers have them (./tar-go.ts).
 */
export type TarFormat = 'provenant' | 'go';

/** Options of {@link writeTar}. */
export interface WriteTarOptions {
  format?: TarFormat | undefined;
  /**
   * Write entry names that {@link cleanEntryPath} refuses (absolute, or climbing above the root
   * with `..`) as given, instead of failing with `UNSAFE_PATH`: only for a hostile archive made
   * on purpose, to test a reader.
   */
  unsafeNames?: boolean | undefined;
  /**
   * Write each entry's header into one block that the next entry's header overwrites, for a
   * consumer that is done with a chunk before it asks for the next (a layer hashes and compresses
   * each chunk as it passes). A fresh block per header was, with the padding, 2 of the 3.5 buffers
   * a file that a layer of 30,000 files made and dropped (issue 16).
   */
  reuseChunks?: boolean | undefined;
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

/**
 * The header block(s) {@link writeTar} writes for `header` (with a PAX header first when one is
 * needed): what identifies an entry's metadata in the bytes of an archive.
 *
 * `scratch`, 512 bytes, is written over and given back for a header of one block in Provenant's
 * format, for a caller that only reads it before asking for the next: a layer's key hashes the
 * header of every file of the image, and a fresh block for each was 16 MB outside V8's heap for
 * an image of 30,000 files, which V8 does not collect that soon (issue 16).
 *
 * @throws ProvenantError `INVALID_ARCHIVE` as {@link writeTar}
 */
export function tarHeaderBytes(header: TarHeader, format: TarFormat = 'provenant', scratch?: Uint8Array): Uint8Array {
  return encodeHeader(header, 0, format, scratch);
}

/** Writes a small archive into one array. Prefer {@link writeTar} for anything large. */
export async function tarBytes(
  entries: AsyncIterable<TarWriteEntry> | Iterable<TarWriteEntry>,
  options: WriteTarOptions = {},
): Promise<Uint8Array> {
  return collectBytes(writeTar(entries, options));
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
function encodeHeader(header: TarHeader, index: number, format: TarFormat, scratch?: Uint8Array, unsafeNames = false): Uint8Array {
  if (header === null || typeof header !== 'object') throw writeError(header, index, 'the header is missing');
  const name = checkString(header, index, 'name', header.name);
  if (name.length === 0) throw writeError(header, index, 'the name is empty');
  // Whatever wrote the tree, an archive Provenant writes never holds a name that an extractor
  // would place outside its target (`..`, `a/../..`, `/etc/passwd`): the readers refuse those
  // (cleanEntryPath), and so does the writer. Only names with `..` or a leading `/` can be refused,
  // so the others (a layer's every file, hashed on each build) are not split.
  if (!unsafeNames && (name.startsWith('/') || name.includes('..'))) {
    try {
      cleanEntryPath(name);
    } catch (err) {
      throw new ProvenantError(
        'UNSAFE_PATH',
        `cannot write tar entry ${JSON.stringify(name)} (entry ${index}): ${(err as Error).message}`,
        {
          cause: err,
          hint: 'an entry must stay inside the archive root; what made the tree gave this name',
        },
      );
    }
  }
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

  // A layer writes tens of thousands of headers, nearly all without PAX records: their maps are
  // made only for a header that has some (a map a header was a tenth of a layer's garbage).
  let extra: Map<string, string> | undefined;
  if (header.pax !== undefined) {
    extra = new Map<string, string>();
    if (header.pax === null || typeof header.pax !== 'object') throw writeError(header, index, 'pax is not an object');
    for (const [key, value] of Object.entries(header.pax)) {
      checkString(header, index, `pax key ${JSON.stringify(key)}`, key);
      if (key.length === 0 || key.includes('=')) throw writeError(header, index, `pax key ${JSON.stringify(key)} is empty or holds "="`);
      if (PAX_FIELDS.has(key)) throw writeError(header, index, `pax key "${key}" is a header field; set the field instead`);
      if (key.startsWith('GNU.sparse.')) throw writeError(header, index, 'sparse files are not supported');
      if (isXattrKey(key)) {
        // An attribute's value is bytes (a file capability has NULs): any byte, no character above one.
        if (typeof value !== 'string') throw writeError(header, index, `pax value of ${key} is not a string`);
        if (byteStringBytes(value) === undefined) {
          throw writeError(header, index, `pax value of ${key} is not a byte string (a character above U+00FF)`);
        }
      } else checkString(header, index, `pax value of ${key}`, value);
      if (value.length === 0) throw writeError(header, index, `pax value of ${key} is empty (an empty value deletes the key)`);
      extra.set(key, value);
    }
  }

  if (format === 'go') {
    if (['file', 'char', 'block', 'fifo'].includes(header.type) && name.endsWith('/')) {
      throw writeError(header, index, `a ${header.type} name may not end in "/" (Go's archive/tar refuses it)`);
    }
    // Go keeps no atime or ctime record it was given, but any record at all makes the entry PAX.
    const records = new Map([...(extra ?? [])].filter(([k]) => k !== 'atime' && k !== 'ctime'));
    const fields = { name, mode, uid, gid, size, mtime, typeflag, linkname, uname, gname, devmajor, devminor };
    return encodeGoHeader({ ...fields, records, paxOnly: extra !== undefined && extra.size > 0 });
  }
  let records: Map<string, string> | undefined;
  const record = (key: string, value: string): void => {
    records ??= new Map<string, string>();
    records.set(key, value);
  };
  let split = isAscii(name) ? splitName(name) : undefined;
  if (split === undefined) {
    record('path', name);
    split = fallbackName(name);
  }
  let ustarLink = linkname;
  if (!isAscii(linkname) || linkname.length > 100) {
    record('linkpath', linkname);
    ustarLink = sanitize(linkname).slice(0, 100);
  }
  let ustarSize = size;
  if (size > MAX_OCTAL_11) {
    record('size', String(size));
    ustarSize = 0;
  }
  let ustarUid = uid;
  if (uid > MAX_OCTAL_7) {
    record('uid', String(uid));
    ustarUid = 0;
  }
  let ustarGid = gid;
  if (gid > MAX_OCTAL_7) {
    record('gid', String(gid));
    ustarGid = 0;
  }
  let ustarMtime = mtime;
  if (mtime < 0 || mtime > MAX_OCTAL_11) {
    record('mtime', String(mtime));
    ustarMtime = 0;
  }
  let ustarUname = uname;
  if (!isAscii(uname) || uname.length > 32) {
    record('uname', uname);
    ustarUname = '';
  }
  let ustarGname = gname;
  if (!isAscii(gname) || gname.length > 32) {
    record('gname', gname);
    ustarGname = '';
  }
  if (extra !== undefined) for (const [key, value] of extra) record(key, value);
  const ustar = ustarBlock(
    {
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
    },
    records === undefined ? scratch : undefined,
  );
  if (records === undefined) return ustar;

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
  if (pad > 0) yield ZERO_BLOCK.subarray(0, pad);
}

/**
 * The zeros that pad a body to a whole block, shared by every archive and never written to: a
 * consumer only reads what the writer yields.
 */
const ZERO_BLOCK = new Uint8Array(BLOCK);

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
    const rec = paxRecord(key, records.get(key)!);
    parts.push(rec);
    total += rec.length;
  }
  return concatBytes(parts, total);
}

/** The ustar block of `f`, in `into` (cleared first) when given. */
function ustarBlock(f: UstarFields & { prefix: string }, into?: Uint8Array): Uint8Array {
  const b = into?.fill(0) ?? new Uint8Array(BLOCK);
  if (b.length !== BLOCK) throw new Error(`internal: a header block is ${BLOCK} bytes, not ${b.length}`);
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
  // An indexed loop: a build writes a few hundred headers, too few for V8 to compile this, and
  // an iterator over 512 bytes costs several times as much as an index in the interpreter (about
  // 40 us a header: 18 ms of a small Debian image's 0.3 s build).
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i]!;
  // Six digits (512 bytes of 255 at most are 0o377000), after which the field keeps its spaces.
  putOctalDigits(b, 148, 6, sum);
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
  const bytes = encodeUtf8(s);
  if (bytes.length > width) throw new Error(`internal: ${JSON.stringify(s)} does not fit ${width} bytes`);
  b.set(bytes, at);
}

/** `n` in `width - 1` octal digits, zero-padded, and the NUL the block already holds. */
function putOctal(b: Uint8Array, at: number, width: number, n: number): void {
  putOctalDigits(b, at, width - 1, n);
}

/**
 * `n` (a whole number of at most `digits` octal digits, as the callers check) zero-padded to
 * `digits`, written as bytes: a string for each of a header's seven numbers was a tenth of a
 * layer's garbage.
 */
function putOctalDigits(b: Uint8Array, at: number, digits: number, n: number): void {
  let rest = n;
  for (let i = at + digits - 1; i >= at; i--) {
    b[i] = 0x30 + (rest % 8);
    rest = Math.floor(rest / 8);
  }
  if (rest !== 0) throw new Error(`internal: ${n} does not fit ${digits} octal digits`);
}
