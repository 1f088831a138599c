/**
 * An index of a Packages file: where each stanza lies, and the names it can be looked up by
 * (its Package, and the names it provides). A build looks a few hundred names up among Debian
 * main's 60,000 stanzas, and parses only the stanzas it finds (`debCandidateIndex`,
 * ./candidates.ts); the index is small enough to keep in the download cache next to the file it
 * was made from ({@link encodeStanzaIndex}), so a build from a warm cache reads no stanza it does
 * not need.
 *
 * Offsets are in bytes of the file, so that a stanza is decoded from its own bytes when it is parsed.
 */
import { createHash } from 'node:crypto';
import { deserialize, serialize } from 'node:v8';
import { crc32 } from 'node:zlib';
import { isProvenantError, ProvenantError, RepairableError } from '../../errors.ts';
import { openRegularFile, RefusedFile } from '../../io/files.ts';
import { noteBytesMoved } from '../../io/memory.ts';
import { isWhitespace } from '../whitespace.ts';
import { parseControlStanzas, type ScannedStanza, scanControlStanzas } from './control.ts';
import { parseDebRelations } from './relations.ts';
import { indexTooLarge, MAX_PACKAGES_INDEX_SIZE } from './xz.ts';

const { closeSync, readSync } = process.getBuiltinModule('node:fs');

/**
 * Strings kept as one text and where each ends in it. An index of Debian main holds about 160,000
 * names; as that many strings, decoding it from the cache took 40 ms in a build's process (most
 * of it V8 moving them between generations), while a lookup reads a few dozen of them.
 */
export class StringTable {
  readonly text: string;
  /** Where each string ends in `text`, in UTF-16 code units, ascending. */
  readonly ends: Int32Array;

  constructor(text: string, ends: Int32Array) {
    this.text = text;
    this.ends = ends;
  }

  static of(strings: readonly string[]): StringTable {
    const ends = new Int32Array(strings.length);
    let at = 0;
    for (const [i, s] of strings.entries()) {
      at += s.length;
      ends[i] = at;
    }
    return new StringTable(strings.join(''), ends);
  }

  get length(): number {
    return this.ends.length;
  }

  /** The string numbered `i` (which must be below {@link length}). */
  at(i: number): string {
    return this.text.slice(i === 0 ? 0 : this.ends[i - 1], this.ends[i]);
  }

  toArray(): string[] {
    return Array.from(this.ends, (_, i) => this.at(i));
  }
}

/** See the module comment. Stanzas are numbered in file order. */
export interface DebStanzaIndex {
  /** Per stanza: its Package field ('' when it has none). */
  names: StringTable;
  /** Per stanza: its Architecture field ('' when it has none). */
  archs: StringTable;
  /** Per stanza: the byte offset of its first line, and of the end of its last line. */
  starts: Int32Array;
  ends: Int32Array;
  /**
   * Per stanza: the CRC-32 of its bytes (`starts` to `ends`), as a signed 32-bit number. A stanza
   * read from a file the cache keeps is checked against it ({@link checkStanza}): a warm build
   * then reads and checks only the stanzas it looks up, not the whole file (50 MB for Debian main).
   */
  sums: Int32Array;
  /** Stanza numbers sorted by name, then by number: for looking names up by binary search. */
  byName: Int32Array;
  /**
   * Names provided, and by which stanza, sorted by name, then by stanza: `Provides` (without
   * versions) and, for `Multi-Arch: allowed`, `<name>:any` for its own name and each provided one.
   */
  provided: StringTable;
  providers: Int32Array;
}

/** The fields the index reads of every stanza. */
const INDEX_FIELDS: ReadonlySet<string> = new Set(['package', 'architecture', 'provides', 'multi-arch']);

/**
 * Indexes a Packages file: the line-by-line scan of the full parse (every line is checked), keeping
 * only the indexed fields. About 0.5 s for Debian main; a build keeps the index in its cache.
 * Scanned a piece at a time, as {@link indexDebStanzaFile} scans a file: the text of the whole
 * file is never made (V8 cannot make a string of more than 2^29 - 24 characters, and one of
 * half that size costs its size again).
 *
 * @throws ProvenantError `INVALID_PACKAGE` for a line that is neither a field nor a continuation;
 *   `TOO_LARGE` for a file of more than {@link MAX_PACKAGES_INDEX_SIZE} bytes, or of more than
 *   {@link MAX_PACKAGES_STANZAS} stanzas (found as it is scanned)
 */
export function indexDebStanzas(bytes: Uint8Array, where: string, piece = PIECE): DebStanzaIndex {
  const whole = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return indexInPieces(whole.length, (offset, length) => whole.subarray(offset, offset + length), where, piece);
}

/** Bytes of a Packages file scanned at once, before they are cut after a blank line. */
const PIECE = 4 * 1024 * 1024;

/**
 * {@link indexDebStanzas} of a Packages file on disk, read a piece at a time, each cut after a
 * blank line (which ends a stanza): the file is never held whole, nor its text, which was 50 MB
 * each for Debian main, and twice that when V8 keeps the text at two bytes a character. With
 * `sha256`, the file is hashed as it is read, and must have that digest (the one the signed
 * Release gives): an index made from a damaged file would vouch for its stanzas.
 *
 * @throws ProvenantError as {@link indexDebStanzas}, naming the line in the whole file; `IO` when
 *   the file cannot be read, or has not the SHA-256 given
 */
export function indexDebStanzaFile(path: string, where: string, piece = PIECE, sha256?: string): DebStanzaIndex {
  let fd: number | undefined;
  try {
    // Without waiting for a writer: a named pipe in the file's place is refused, as damaged.
    const opened = openRegularFile(path);
    const file = opened.fd;
    fd = file;
    const size = Number(opened.stat.size);
    // One buffer for every piece (grown when a stanza does not fit): nothing of a piece is kept
    // once it is scanned, and a buffer per piece was 50 MB outside V8's heap for Debian main,
    // left until the collector came by.
    let scratch = Buffer.allocUnsafe(Math.min(piece, size, MAX_PACKAGES_INDEX_SIZE));
    const hash = sha256 === undefined ? undefined : createHash('sha256');
    const read = (offset: number, length: number): Buffer => {
      if (scratch.length < length) scratch = Buffer.allocUnsafe(length);
      return readInto(file, scratch, offset, length);
    };
    const index = indexInPieces(size, read, where, piece, (bytes) => hash?.update(bytes));
    if (hash !== undefined && sha256 !== undefined && hash.digest('hex') !== sha256) throw damagedKeptFile(path, sha256, where);
    return index;
  } catch (err) {
    if (isProvenantError(err)) throw err;
    if (err instanceof RefusedFile && sha256 !== undefined) throw damagedKeptFile(path, sha256, where);
    throw new ProvenantError('IO', `cannot read ${path}: ${(err as Error).message}`, { where, cause: err });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * The most stanzas a Packages file may have: 1,000,000, 15 times Debian main's (65,000). What the
 * index keeps grows with the stanzas, not with the bytes: building it took about 450 bytes of
 * memory per stanza at its peak (a file of 1,800,000 stanzas, 253 MiB, peaked at 890 MB), so
 * 256 MiB of stanzas of 12 bytes (`Package: a` and a blank line), 22 million of them, would have
 * taken about 10 GB. At this limit, indexing one file peaks at about 450 MB more.
 */
export const MAX_PACKAGES_STANZAS = 1_000_000;

/** `TOO_LARGE` for a Packages file at `where` of more than {@link MAX_PACKAGES_STANZAS} stanzas. */
function tooManyStanzas(where: string): ProvenantError {
  return new ProvenantError('TOO_LARGE', `${where} has more than ${MAX_PACKAGES_STANZAS} stanzas, the most a Packages index may have`, {
    where,
    hint: "Debian main's Packages has about 65,000: a repository of more is refused, as its index would take too much memory",
  });
}

/**
 * The index of a Packages file of `size` bytes, `read` a piece at a time ({@link eachPiece}), each
 * piece given to `scanned` once it is scanned.
 */
function indexInPieces(
  size: number,
  read: (offset: number, length: number) => Buffer,
  where: string,
  piece: number,
  scanned?: (bytes: Buffer) => void,
): DebStanzaIndex {
  if (size > MAX_PACKAGES_INDEX_SIZE) throw indexTooLarge(where);
  const index = new IndexBuilder();
  eachPiece(size, read, piece, (bytes, offset, line) => {
    // Scanned no further than one stanza past the most: a piece may hold them all.
    index.add(scanBytes(bytes, where, line, offset === 0, MAX_PACKAGES_STANZAS + 1 - index.length), offset, bytes);
    if (index.length > MAX_PACKAGES_STANZAS) throw tooManyStanzas(where);
    scanned?.(bytes);
  });
  return index.finish();
}

/**
 * A Packages file of `size` bytes, `read` a piece at a time (`length` bytes at `offset`, or fewer
 * at its end), each piece cut after its last blank line (which ends a stanza) and given to `visit`
 * with its offset and the number of its first line. Exported for its tests: the pieces it cuts
 * are what a scan holds at once, and nothing else shows them.
 */
export function eachPiece(
  size: number,
  read: (offset: number, length: number) => Buffer,
  piece: number,
  visit: (bytes: Buffer, offset: number, line: number) => void,
): void {
  let offset = 0;
  let line = 1;
  while (offset < size) {
    let bytes: Buffer;
    for (let want = piece; ; want *= 2) {
      const got = read(offset, Math.min(want, size - offset));
      if (offset + got.length >= size || got.length < Math.min(want, size - offset)) {
        bytes = got;
        break;
      }
      const cut = afterLastBlankLine(got);
      if (cut > 0) {
        bytes = got.subarray(0, cut);
        break;
      }
    }
    if (bytes.length === 0) break;
    visit(bytes, offset, line);
    // Each piece leaves its text and the scan's objects dead: collected as they pile up.
    noteBytesMoved(bytes.length);
    for (let at = bytes.indexOf(0x0a); at >= 0; at = bytes.indexOf(0x0a, at + 1)) line++;
    offset += bytes.length;
  }
}

/**
 * Where a piece may be cut: after its last blank line, as the scan reads one (a line of nothing
 * but white space as isWhitespace, src/pkg/whitespace.ts, knows it: ASCII's, a CRLF file's `\r`,
 * and Unicode's, U+00A0 and the like, in UTF-8), which ends a stanza; 0 when it has none. A line
 * the scan reads as blank and the cut did not (cut only after `\n\n`, then only after ASCII white
 * space) left a file of such lines uncut, scanned whole, its text and every stanza held at once.
 * Exported for its tests.
 */
export function afterLastBlankLine(bytes: Uint8Array): number {
  for (let end = bytes.lastIndexOf(0x0a); end > 0; ) {
    const start = bytes.lastIndexOf(0x0a, end - 1);
    if (start < 0) return 0;
    let i = start + 1;
    for (let n = 1; i < end && n > 0; i += n) n = whiteSpaceAt(bytes, i, end);
    if (i >= end) return end + 1;
    end = start;
  }
  return 0;
}

/**
 * The length in bytes of the white space character (isWhitespace) that the UTF-8 bytes hold at
 * `i`, before `end`, or 0 when they hold none there. Unicode's white space is all in the Basic
 * Multilingual Plane, 2 or 3 bytes in UTF-8; what the decoder would not read as that character
 * (a cut or overlong sequence: U+FFFD) is none. A line feed ends any sequence, so a line decodes
 * the same alone as within the file.
 */
function whiteSpaceAt(bytes: Uint8Array, i: number, end: number): number {
  const b = bytes[i] as number;
  if (b < 0x80) return isWhitespace(b) ? 1 : 0;
  const follows = (k: number): boolean => i + k < end && ((bytes[i + k] as number) & 0xc0) === 0x80;
  if (b >= 0xc2 && b <= 0xdf && follows(1)) return isWhitespace(((b & 0x1f) << 6) | ((bytes[i + 1] as number) & 0x3f)) ? 2 : 0;
  if (b >= 0xe0 && b <= 0xef && follows(1) && follows(2)) {
    const c = ((b & 0x0f) << 12) | (((bytes[i + 1] as number) & 0x3f) << 6) | ((bytes[i + 2] as number) & 0x3f);
    return c >= 0x800 && isWhitespace(c) ? 3 : 0;
  }
  return 0;
}

/**
 * Every stanza of a Packages file, as {@link parseControlStanzas} gives them for its whole text,
 * parsed a piece at a time, cut as {@link indexDebStanzas} cuts them (after a blank line, where a
 * stanza ends): the text of the whole file is never made (up to 512 MiB for 256 MiB of stanzas,
 * at two bytes a character when any is not Latin-1). Errors name the line in the whole file, and a
 * file of more than {@link MAX_PACKAGES_STANZAS} stanzas is refused, as a build refuses it.
 *
 * @throws ProvenantError `INVALID_PACKAGE` as parseControlStanzas; `TOO_LARGE` as indexDebStanzas
 */
export function parseDebStanzas(bytes: Uint8Array, where: string, piece = PIECE): Record<string, string>[] {
  const whole = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (whole.length > MAX_PACKAGES_INDEX_SIZE) throw indexTooLarge(where);
  const stanzas: Record<string, string>[] = [];
  eachPiece(
    whole.length,
    (offset, length) => whole.subarray(offset, offset + length),
    piece,
    (bytes, offset, line) => {
      const text = (offset === 0 ? utf8 : utf8Within).decode(bytes);
      // Parsed no further than one stanza past the most.
      for (const s of parseControlStanzas(text, where, line, MAX_PACKAGES_STANZAS + 1 - stanzas.length)) stanzas.push(s);
      if (stanzas.length > MAX_PACKAGES_STANZAS) throw tooManyStanzas(where);
    },
  );
  return stanzas;
}

/** `length` bytes at `offset` of the open file `fd`, or fewer at its end. */
export function readAt(fd: number, offset: number, length: number): Buffer {
  return readInto(fd, Buffer.alloc(length), offset, length);
}

/** {@link readAt} into the start of `out`, which holds `length` bytes at least. */
function readInto(fd: number, out: Buffer, offset: number, length: number): Buffer {
  let got = 0;
  while (got < length) {
    const n = readSync(fd, out, got, length - got, offset + got);
    if (n === 0) break;
    got += n;
  }
  return out.subarray(0, got);
}

/**
 * The index of a file's stanzas, made a piece of the file at a time: what it keeps of each
 * stanza is taken as the piece is scanned and copied out of the piece's text, and the rest is
 * left to the collector. The fields a scan gives are slices of that text, which V8 keeps whole
 * for the least slice of it; the scan's objects were all held to the end before (63,000 of them
 * for Debian main). A first build of examples/debian/shell.yaml (Debian main's Packages indexed)
 * peaked at 300-342 MB before, 267-303 MB without the copies, 232-237 MB with them.
 */
class IndexBuilder {
  readonly #names: string[] = [];
  readonly #archs: string[] = [];
  readonly #starts: number[] = [];
  readonly #ends: number[] = [];
  readonly #sums: number[] = [];
  /** Provided names, and the stanza that provides each. */
  readonly #provided: string[] = [];
  readonly #providers: number[] = [];

  /** How many stanzas it holds. */
  get length(): number {
    return this.#names.length;
  }

  /** Adds the stanzas of a piece of the file, `bytes`, that starts at byte `offset`. */
  add(stanzas: readonly ScannedStanza[], offset: number, bytes: Uint8Array): void {
    const first = this.#names.length;
    const firstProvided = this.#provided.length;
    for (const [k, { fields, start, end }] of stanzas.entries()) {
      const i = first + k;
      const name = fields.package ?? '';
      this.#names.push(name);
      this.#archs.push(fields.architecture ?? '');
      this.#starts.push(start + offset);
      this.#ends.push(end + offset);
      this.#sums.push(crc32(bytes.subarray(start, end)) | 0);
      const provided: string[] = [];
      if (fields.provides !== undefined && fields.provides !== '') {
        try {
          for (const alternatives of parseDebRelations(fields.provides, 'Provides')) for (const r of alternatives) provided.push(r.name);
        } catch (err) {
          // The stanza is left out when it is parsed in full.
          if (!isProvenantError(err)) throw err;
        }
      }
      if (fields['multi-arch']?.toLowerCase() === 'allowed') provided.push(...[name, ...provided].map((p) => `${p}:any`));
      for (const p of new Set(provided)) {
        this.#provided.push(p);
        this.#providers.push(i);
      }
    }
    copyOut(this.#names, first);
    copyOut(this.#archs, first);
    copyOut(this.#provided, firstProvided);
  }

  finish(): DebStanzaIndex {
    const names = this.#names;
    const provided = sortedGroups(this.#provided.map((p, k): [string, number] => [p, this.#providers[k]!]));
    return {
      names: StringTable.of(names),
      archs: StringTable.of(this.#archs),
      starts: Int32Array.from(this.#starts),
      ends: Int32Array.from(this.#ends),
      sums: Int32Array.from(this.#sums),
      byName: Int32Array.from(sortedGroups(names.map((name, i): [string, number] => [name, i])).numbers),
      provided: StringTable.of(provided.names),
      providers: Int32Array.from(provided.numbers),
    };
  }
}

/** The strings of `list` from `from` on replaced by copies that share no memory with what they were cut from. */
function copyOut(list: string[], from: number): void {
  if (list.length === from) return;
  // One string made of them all (a join copies), then cut again: slices of that string only. A
  // field continued on a second line holds a line feed; then each string is copied on its own
  // (a concatenation, flattened when sliced).
  const copies = list.slice(from).join('\n').split('\n');
  if (copies.length === list.length - from) {
    for (const [k, s] of copies.entries()) list[from + k] = s;
    return;
  }
  for (let k = from; k < list.length; k++) list[k] = `${list[k]}\n`.slice(0, -1);
}

/** The stanzas named `name`, in file order. */
export function stanzasNamed(index: DebStanzaIndex, name: string): number[] {
  const out: number[] = [];
  for (let i = lowerBound(index.byName.length, (k) => index.names.at(index.byName[k]!), name); i < index.byName.length; i++) {
    const s = index.byName[i]!;
    if (index.names.at(s) !== name) break;
    out.push(s);
  }
  return out;
}

/** The stanzas that provide `name`, in file order. */
export function stanzasProviding(index: DebStanzaIndex, name: string): number[] {
  const out: number[] = [];
  for (let i = lowerBound(index.provided.length, (k) => index.provided.at(k), name); i < index.provided.length; i++) {
    if (index.provided.at(i) !== name) break;
    out.push(index.providers[i]!);
  }
  return out;
}

// 2: the names, architectures and provided names as string tables, their text in UTF-8 (the
// names are slices of the decoded file, which V8 keeps at two bytes a character when the file
// has any non-ASCII character): 6 MB of one string per name became 3.5 MB.
const FORMAT = 'provenant-deb-stanza-index/3';

/** A {@link StringTable} as the cache keeps it. */
function packTable(table: StringTable): { text: Uint8Array; ends: Int32Array } {
  return { text: new TextEncoder().encode(table.text), ends: table.ends };
}

/** The table {@link packTable} made, or undefined when `v` is not one (see {@link decodeStanzaIndex} for `checked`). */
function unpackTable(v: unknown, checked: boolean): StringTable | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  const { text: bytes, ends } = v as Record<string, unknown>;
  if (!(bytes instanceof Uint8Array) || !(ends instanceof Int32Array)) return undefined;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
  // Indexed loops: this runs once per process, before V8 has compiled it, and an iterator costs
  // several times as much as an index there (the same below).
  let at = 0;
  if (checked) at = ends.length === 0 ? 0 : ends[ends.length - 1]!;
  else {
    for (let i = 0; i < ends.length; i++) {
      const end = ends[i]!;
      if (end < at) return undefined;
      at = end;
    }
  }
  return at === text.length ? new StringTable(text, ends) : undefined;
}

/** The index as bytes, for the download cache. */
export function encodeStanzaIndex(index: DebStanzaIndex): Uint8Array {
  return serialize({
    format: FORMAT,
    names: packTable(index.names),
    archs: packTable(index.archs),
    starts: index.starts,
    ends: index.ends,
    sums: index.sums,
    byName: index.byName,
    provided: packTable(index.provided),
    providers: index.providers,
  });
}

/**
 * An index from {@link encodeStanzaIndex}'s bytes, or undefined when they are not one (another
 * format, or damaged). `fileSize` is the size of the Packages file it must describe.
 *
 * With `checked`, the caller knows the bytes to be what encodeStanzaIndex wrote (the download
 * cache checked them against the size and CRC-32 it recorded when it stored them, under the
 * SHA-256 of the Packages file they index): their format, types and lengths are checked, and the
 * last offsets, but not every offset and stanza number again. Those loops (260,000 steps for
 * Debian main, run once in a process, before V8 compiles them) took a warm build 5 to 20 ms; a
 * stanza reached through a wrong offset would still not be believed (`debCandidateIndex` checks
 * the name in its text).
 */
export function decodeStanzaIndex(bytes: Uint8Array, fileSize: number, options: { checked?: boolean } = {}): DebStanzaIndex | undefined {
  const checked = options.checked === true;
  let v: Record<string, unknown>;
  try {
    v = deserialize(bytes) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object' || v.format !== FORMAT) return undefined;
  const { starts, ends, sums, byName, providers } = v;
  if (
    !(
      starts instanceof Int32Array &&
      ends instanceof Int32Array &&
      sums instanceof Int32Array &&
      byName instanceof Int32Array &&
      providers instanceof Int32Array
    )
  )
    return undefined;
  const names = unpackTable(v.names, checked);
  const archs = unpackTable(v.archs, checked);
  const provided = unpackTable(v.provided, checked);
  if (names === undefined || archs === undefined || provided === undefined) return undefined;
  const n = names.length;
  if (
    archs.length !== n ||
    starts.length !== n ||
    ends.length !== n ||
    sums.length !== n ||
    byName.length !== n ||
    providers.length !== provided.length
  )
    return undefined;
  if (checked) return n === 0 || ends[n - 1]! <= fileSize ? { names, archs, starts, ends, sums, byName, provided, providers } : undefined;
  for (let i = 0; i < n; i++) {
    if (starts[i]! < 0 || starts[i]! > ends[i]! || ends[i]! > fileSize || byName[i]! < 0 || byName[i]! >= n) return undefined;
  }
  for (let i = 0; i < providers.length; i++) if (providers[i]! < 0 || providers[i]! >= n) return undefined;
  return { names, archs, starts, ends, sums, byName, provided, providers };
}

/** A Packages file the cache keeps that has not the SHA-256 the Release gives it (`IO`). */
export class DamagedKeptFile extends ProvenantError {}

/** The error for a Packages file the cache keeps that has not the SHA-256 (hex) the Release gives it. */
export function damagedKeptFile(path: string, sha256: string, where: string): DamagedKeptFile {
  return new DamagedKeptFile('IO', `${path} has not the SHA-256 the Release gives it (${sha256}): the download cache is damaged`, {
    where,
    hint: 'remove that file and build again: it is then decompressed again from the index the Release checks',
  });
}

/**
 * Checks stanza `s`'s bytes, as read from the Packages file, against the CRC-32 the index
 * recorded for it when the file was checked whole.
 *
 * @throws ProvenantError `IO` when they differ: the file the cache keeps is damaged
 */
export function checkStanza(index: DebStanzaIndex, s: number, bytes: Uint8Array, where: string, repair?: () => Promise<void>): void {
  if ((crc32(bytes) | 0) === index.sums[s]) return;
  const message = `the stanza of ${JSON.stringify(index.names.at(s))} differs from the one indexed: the download cache is damaged`;
  const hint =
    "build again with an empty --cache-dir, or remove the cache folder's Packages file (its name is the SHA-256 the Release gives)";
  // With `repair`, a build drops the kept file and its index and reads the index again (../../builder/build.ts).
  throw repair === undefined
    ? new ProvenantError('IO', message, { where, hint })
    : new RepairableError('IO', message, { where, hint }, repair);
}

/**
 * The numbers of `pairs` ([name, number], numbers ascending) ordered by name, then number, with
 * the name of each. Grouping first and sorting the distinct names with the built-in sort is
 * several times faster than sorting the pairs with a comparator.
 */
function sortedGroups(pairs: readonly [string, number][]): { numbers: number[]; names: string[] } {
  const groups = new Map<string, number[]>();
  for (const [name, n] of pairs) {
    const g = groups.get(name);
    if (g === undefined) groups.set(name, [n]);
    else g.push(n);
  }
  const numbers: number[] = [];
  const names: string[] = [];
  for (const name of [...groups.keys()].sort()) {
    for (const n of groups.get(name)!) {
      numbers.push(n);
      names.push(name);
    }
  }
  return { numbers, names };
}

/** The first k in [0, length) whose key is not below `name` (the keys being sorted). */
function lowerBound(length: number, key: (k: number) => string, name: string): number {
  let lo = 0;
  let hi = length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareStrings(key(mid), name) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** UTF-8 as a file's first piece is decoded, as the whole file would be: a byte order mark at its start is dropped. */
const utf8 = new TextDecoder('utf-8');
/** UTF-8 as a later piece is decoded: a byte order mark there is a character, as in the middle of the whole file. */
const utf8Within = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * {@link scanControlStanzas} of the bytes decoded as UTF-8 (`atStart`: the file's first piece), with
 * its character offsets turned into byte offsets.
 *
 * The offsets are found on the bytes, never by encoding the text again: a byte that is not UTF-8
 * decodes to U+FFFD, which is 3 bytes encoded, and shifted every later stanza (a Latin-1
 * Maintainer field, say). What makes this exact: a scan's offsets are where a line starts, where
 * one ends (its line feed) or the end of the text; and a line feed is the byte 0x0a in UTF-8,
 * never part of another character, which the decoder reads as itself even right after bytes that
 * are not UTF-8. The n-th line feed of the text is therefore the n-th of the bytes, and both are
 * walked a line at a time.
 *
 * @throws ProvenantError as {@link scanControlStanzas}
 */
function scanBytes(bytes: Uint8Array, where: string, firstLine: number, atStart = true, limit = Number.POSITIVE_INFINITY): ScannedStanza[] {
  const text = (atStart ? utf8 : utf8Within).decode(bytes);
  const stanzas = scanControlStanzas(text, where, INDEX_FIELDS, firstLine, limit);
  // A line start in the text, and the same line's start in the bytes (offsets only grow).
  let chars = 0;
  let at = 0;
  const byteAt = (offset: number): number => {
    for (;;) {
      if (offset === chars) return at;
      const eolChars = text.indexOf('\n', chars);
      const eolBytes = bytes.indexOf(0x0a, at);
      if (eolChars < 0 || eolBytes < 0) {
        if (offset === text.length && eolChars < 0 && eolBytes < 0) return bytes.length;
        break;
      }
      if (offset === eolChars) return eolBytes;
      if (offset < eolChars) break;
      chars = eolChars + 1;
      at = eolBytes + 1;
    }
    throw new ProvenantError('INVALID_PACKAGE', `a stanza ends at character ${offset}, which is neither a line's start nor its end`, {
      where,
      hint: 'this is a bug in Provenant: please report it with the Packages file',
    });
  };
  return stanzas.map(({ fields, start, end }) => ({ fields, start: byteAt(start), end: byteAt(end) }));
}
