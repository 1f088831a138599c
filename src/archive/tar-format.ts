/**
 * The tar format as Provenant reads and writes it: the header model and the constants of the
 * format that the writer (tar-writer.ts) and the reader (tar-reader.ts) share.
 *
 * The format: https://pubs.opengroup.org/onlinepubs/9799919799/utilities/pax.html (ustar
 * interchange format and pax extended header), GNU's extensions:
 * https://www.gnu.org/software/tar/manual/html_node/Standard.html
 */
import { encodeUtf8 } from '../bytes.ts';

/**
 * The kinds of entry a tar archive holds, as Provenant models them. The order is fixed: records
 * that store a type as a small number store its place here (a kept package's index, which is on
 * disk, ../pkg/unpacked-index.ts; an apk package's installed entries, ../pkg/apk/files.ts).
 */
export const TAR_ENTRY_TYPES = ['file', 'dir', 'symlink', 'hardlink', 'char', 'block', 'fifo'] as const;

/** One of {@link TAR_ENTRY_TYPES}. */
export type TarEntryType = (typeof TAR_ENTRY_TYPES)[number];

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
   *
   * A value is UTF-8 text, but for an extended attribute's (`SCHILY.xattr.*`, {@link isXattrKey}):
   * that is a byte string, one character (U+0000 to U+00FF) per byte of the value, as Go's
   * archive/tar keeps it in a string. An attribute's value is bytes, not text: a file capability
   * (`security.capability`) is a binary struct with NUL bytes, and apk-tools, GNU tar and apko
   * write it back byte for byte. PAX records are length-prefixed, so any byte is legal in them.
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
  /** Where the body begins in the input, in bytes: its place in the archive, for a reader that keeps the archive. */
  offset: number;
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

/** The tar block: headers are one, bodies are padded to whole ones. */
export const BLOCK = 512;
/** PAX and GNU long-name data are read into memory, so their size is capped. */
export const MAX_META = 1024 * 1024;
export const MAX_OCTAL_11 = 0o77777777777; // 11 octal digits: 8 GiB - 1
export const MAX_OCTAL_7 = 0o7777777;
/** PAX keys that map to header fields; every other key is kept in `pax`. */
export const PAX_FIELDS = new Set(['path', 'linkpath', 'size', 'uid', 'gid', 'uname', 'gname', 'mtime']);

/** The prefix of the PAX records that carry extended attributes (GNU tar's, libarchive's, Go's). */
export const XATTR_PREFIX = 'SCHILY.xattr.';

/** Whether the PAX record `key` holds an extended attribute, whose value is a byte string. */
export const isXattrKey = (key: string): boolean => key.startsWith(XATTR_PREFIX);

/**
 * The byte string of `bytes`: one character per byte (Node's `latin1`), never failing, so that
 * {@link byteStringBytes} gives back the same bytes.
 */
export function byteString(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/** The bytes of byte string `s`; undefined when a character is above U+00FF (it is not a byte). */
export function byteStringBytes(s: string): Uint8Array | undefined {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return undefined;
  return Buffer.from(s, 'latin1');
}

/**
 * One PAX record, `"<length> <key>=<value>\n"`, where the length counts the whole record and
 * its own digits. The key is UTF-8; the value too, but for an extended attribute's, whose byte
 * string is written byte for byte. `value` must be valid for its key (the writer checks).
 */
export function paxRecord(key: string, value: string): Uint8Array {
  const k = encodeUtf8(key);
  const v = isXattrKey(key) ? byteStringBytes(value) : encodeUtf8(value);
  if (v === undefined) throw new Error(`internal: the PAX value of ${key} is not a byte string`);
  const rest = k.length + v.length + 3; // the space, `=` and the newline
  // The length counts its own digits: guess with the digits of the rest, then correct once.
  let size = rest + String(rest).length;
  if (String(size).length + rest !== size) size = String(size).length + rest;
  const digits = String(size);
  const out = new Uint8Array(size);
  let at = 0;
  for (let i = 0; i < digits.length; i++) out[at++] = digits.charCodeAt(i);
  out[at++] = 0x20;
  out.set(k, at);
  at += k.length;
  out[at++] = 0x3d;
  out.set(v, at);
  at += v.length;
  out[at] = 0x0a;
  return out;
}

/** The typeflag written for each entry type. */
export const TYPEFLAG: Record<TarEntryType, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};
/** The entry type of each typeflag read (`0`, NUL and `7` are all regular files). */
export const TYPE_OF_FLAG: Record<string, TarEntryType> = {
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

/** The fields of a ustar header block, as numbers and strings (the name without its prefix). */
export interface UstarFields {
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

/** `n` rounded up to whole blocks. */
export const padded = (n: number): number => Math.ceil(n / BLOCK) * BLOCK;
