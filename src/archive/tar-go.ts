/**
 * Tar headers as Go's `archive/tar` Writer writes them when no format is asked for, which is how
 * apko writes its layers (chainguard-dev/apko v1.2.39, pkg/build/tarball.go:writeTar, built with
 * Go 1.26). The writer (tar-writer.ts) validates an entry and hands its fields here when the
 * archive's format is `go`.
 *
 * Go's choice, per entry (archive/tar common.go:Header.allowedFormats, writer.go:WriteHeader):
 * USTAR when every field fits it (a name over 100 bytes split into prefix and name at the last
 * `/` that fits, splitUSTARPath), else PAX: an `x` header named `<dir>/PaxHeaders.0/<base>`
 * whose own fields are zero and whose uname, gname and device fields are left empty
 * (writer.go:writeRawFile), records sorted by key, then the main header with the fields that do
 * not fit written as zero and strings reduced to their ASCII characters (writer.go:toASCII).
 * Numbers are zero-padded octal with a NUL (strconv.go:formatOctal), including the device
 * numbers of every entry; the checksum is six octal digits, NUL, space.
 */
import { concatBytes, encodeUtf8 } from '../bytes.ts';
import { BLOCK, MAX_OCTAL_7, MAX_OCTAL_11, padded, paxRecord, type UstarFields } from './tar-format.ts';

/** The validated fields of one entry, as tar-writer.ts has them. */
export interface GoHeaderFields extends UstarFields {
  /** The full name (Go has no separate prefix in its header model). */
  name: string;
  /** PAX records the entry carries besides those for fields (xattrs), already validated. */
  records: ReadonlyMap<string, string>;
  /**
   * Write PAX even when USTAR would do, as Go does for a header read from a PAX archive and
   * written back with its format kept (apko's scripts.tar, pkg/apk/apk/installed.go).
   */
  paxOnly?: boolean | undefined;
}

const NAME_SIZE = 100;
const PREFIX_SIZE = 155;

/** Go's isASCII: every character below 0x80 and none NUL. */
function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80 || c === 0) return false;
  }
  return true;
}

/** Go's toASCII: the string without its non-ASCII characters (and NULs). */
function toAscii(s: string): string {
  if (isAscii(s)) return s;
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (c < 0x80 && c !== 0) out += ch;
  }
  return out;
}

/** Go's splitUSTARPath: prefix and suffix at the last `/` that leaves both within their fields. */
export function splitUstarPath(name: string): { prefix: string; name: string } | undefined {
  let length = name.length;
  if (length <= NAME_SIZE || !isAscii(name)) return undefined;
  if (length > PREFIX_SIZE + 1) length = PREFIX_SIZE + 1;
  else if (name[length - 1] === '/') length--;
  const i = name.lastIndexOf('/', length - 1);
  const nlen = name.length - i - 1;
  if (i <= 0 || nlen > NAME_SIZE || nlen === 0 || i > PREFIX_SIZE) return undefined;
  return { prefix: name.slice(0, i), name: name.slice(i + 1) };
}

/** Go's formatString: the bytes, NUL-terminated when shorter; too long is cut, a cut trailing `/` dropped. */
function putString(b: Uint8Array, at: number, width: number, s: string): void {
  const bytes = encodeUtf8(s);
  b.set(bytes.subarray(0, width), at);
  if (bytes.length < width) b[at + bytes.length] = 0;
  if (bytes.length > width && b[at + width - 1] === 0x2f) {
    // A regular file's name cut at a slash would read as a folder: end it at the last non-slash.
    let n = width - 1;
    while (n > 0 && bytes[n - 1] === 0x2f) n--;
    b[at + n] = 0;
  }
}

/** Go's formatOctal: zero-padded digits and a NUL; a value that does not fit is written as 0. */
function putOctal(b: Uint8Array, at: number, width: number, n: number): void {
  const fits = n >= 0 && n < 8 ** (width - 1);
  putString(b, at, width, (fits ? n : 0).toString(8).padStart(width - 1, '0'));
}

function checksum(b: Uint8Array): void {
  b.fill(0x20, 148, 156);
  let sum = 0;
  // Indexed, as in tar-writer.ts's ustarBlock: an iterator is slow before V8 compiles the loop.
  for (let i = 0; i < b.length; i++) sum += b[i]!;
  putOctal(b, 148, 7, sum);
  b[155] = 0x20;
}

const USTAR_MAGIC = [0x75, 0x73, 0x74, 0x61, 0x72, 0x00, 0x30, 0x30]; // "ustar\0" "00"
const GNU_MAGIC = [0x75, 0x73, 0x74, 0x61, 0x72, 0x20, 0x20, 0x00]; // "ustar " " \0"

type NumberFormat = (b: Uint8Array, at: number, width: number, n: number) => void;

/** A header block: each field at its offset (strings as given, numbers with `num`), the magic, the checksum. */
function block(fields: readonly (readonly [number, number, string | number])[], num: NumberFormat, magic: readonly number[]): Uint8Array {
  const b = new Uint8Array(BLOCK);
  for (const [at, width, value] of fields) {
    if (typeof value === 'number') num(b, at, width, value);
    else if (value !== '') putString(b, at, width, value);
  }
  b.set(magic, 257);
  checksum(b);
  return b;
}

/** templateV7Plus: the fields every format shares, strings passed through `str`. */
function fieldsOf(f: Omit<GoHeaderFields, 'records' | 'paxOnly'>, name: string, str: (s: string) => string) {
  return [
    [0, 100, str(name)],
    [100, 8, f.mode],
    [108, 8, f.uid],
    [116, 8, f.gid],
    [124, 12, f.size],
    [136, 12, f.mtime],
    [156, 1, f.typeflag],
    [157, 100, str(f.linkname)],
    [265, 32, str(f.uname)],
    [297, 32, str(f.gname)],
    [329, 8, f.devmajor],
    [337, 8, f.devminor],
  ] as const;
}

function mainBlock(f: GoHeaderFields, name: string, prefix: string, str: (s: string) => string): Uint8Array {
  return block([...fieldsOf(f, name, str), [345, 155, prefix]], putOctal, USTAR_MAGIC);
}

/** PAX records, `"<length> <key>=<value>\n"`, sorted by key bytewise (strconv.go:formatPAXRecord). */
function paxData(records: ReadonlyMap<string, string>): Uint8Array {
  const keys = [...records.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  // An xattr's value is its bytes, as Go writes a string (tar-format.ts, paxRecord).
  const parts = keys.map((k) => paxRecord(k, records.get(k)!));
  return concatBytes(
    parts,
    parts.reduce((n, p) => n + p.length, 0),
  );
}

/** Go's path.Join(dir, "PaxHeaders.0", base) for the entry's name, made ASCII, cut to 100, trailing `/` trimmed. */
function paxHeaderName(name: string): string {
  const slash = name.lastIndexOf('/');
  const dir = name.slice(0, slash + 1);
  const base = name.slice(slash + 1);
  const joined = cleanPath([dir, 'PaxHeaders.0', base].filter((p) => p !== '').join('/'));
  let ascii = toAscii(joined);
  if (encodeUtf8(ascii).length > NAME_SIZE) ascii = ascii.slice(0, NAME_SIZE);
  return ascii.replace(/\/+$/, '');
}

/** Go's path.Clean for the relative names a layer holds. */
function cleanPath(p: string): string {
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!p.startsWith('/')) out.push('..');
      continue;
    }
    out.push(part);
  }
  const joined = out.join('/');
  return p.startsWith('/') ? `/${joined}` : joined || '.';
}

/**
 * The header block(s) Go writes for one entry: a USTAR block, or a PAX `x` header, its records
 * and the main block. `f` holds validated values (tar-writer.ts checks them).
 */
export function encodeGoHeader(f: GoHeaderFields): Uint8Array {
  const pax = new Map<string, string>();
  let ustar = f.records.size === 0 && f.paxOnly !== true;
  const tooLongOrWide = (s: string, size: number) => !isAscii(s) || encodeUtf8(s).length > size;
  if (tooLongOrWide(f.name, NAME_SIZE)) {
    pax.set('path', f.name);
    if (splitUstarPath(f.name) === undefined) ustar = false;
  }
  if (tooLongOrWide(f.linkname, NAME_SIZE)) {
    pax.set('linkpath', f.linkname);
    ustar = false;
  }
  if (tooLongOrWide(f.uname, 32)) {
    pax.set('uname', f.uname);
    ustar = false;
  }
  if (tooLongOrWide(f.gname, 32)) {
    pax.set('gname', f.gname);
    ustar = false;
  }
  for (const [key, value, max] of [
    ['uid', f.uid, MAX_OCTAL_7],
    ['gid', f.gid, MAX_OCTAL_7],
    ['size', f.size, MAX_OCTAL_11],
    ['mtime', f.mtime, MAX_OCTAL_11],
  ] as const) {
    if (value < 0 || value > max) {
      pax.set(key, String(value));
      ustar = false;
    }
  }
  if (ustar) {
    const split = splitUstarPath(f.name);
    return mainBlock(f, split?.name ?? f.name, split?.prefix ?? '', (s) => s);
  }
  // Records of fields are written first; the entry's own records never replace them.
  for (const [k, v] of f.records) if (!pax.has(k)) pax.set(k, v);
  const main = mainBlock(f, f.name, '', (s) => toAscii(s));
  if (pax.size === 0) return main;
  const data = paxData(pax);
  // writeRawFile: zero fields, and uname, gname and the device numbers left empty.
  const head = block(
    [
      [0, 100, paxHeaderName(f.name)],
      [100, 8, 0],
      [108, 8, 0],
      [116, 8, 0],
      [124, 12, data.length],
      [136, 12, 0],
      [156, 1, 'x'],
    ],
    putOctal,
    USTAR_MAGIC,
  );
  const out = new Uint8Array(BLOCK + padded(data.length) + BLOCK);
  out.set(head, 0);
  out.set(data, BLOCK);
  out.set(main, BLOCK + padded(data.length));
  return out;
}

/** Go's formatNumeric: octal when it fits, else base-256 (the high bit set), as GNU tar allows. */
function putNumeric(b: Uint8Array, at: number, width: number, n: number): void {
  if (n >= 0 && n < 8 ** (width - 1)) {
    putOctal(b, at, width, n);
    return;
  }
  let x = BigInt(n);
  for (let i = width - 1; i >= 0; i--) {
    b[at + i] = Number(x & 0xffn);
    x >>= 8n;
  }
  b[at] = (b[at] as number) | 0x80;
}

/**
 * The header Go writes for an entry it read from a GNU-format archive and writes back with the
 * format kept (writer.go:writeGNUHeader): GNU magic (`ustar  \0`), numbers in octal or base-256.
 * Names over 100 bytes would need GNU long-name entries, which apko's packages never need.
 *
 * @returns undefined when the name or link target is longer than 100 bytes
 */
export function encodeGoGnuHeader(f: Omit<GoHeaderFields, 'records' | 'paxOnly'>): Uint8Array | undefined {
  if (encodeUtf8(f.name).length > NAME_SIZE || encodeUtf8(f.linkname).length > NAME_SIZE) return undefined;
  return block(
    fieldsOf(f, f.name, (s) => s),
    putNumeric,
    GNU_MAGIC,
  );
}
