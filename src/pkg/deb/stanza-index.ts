/**
 * An index of a Packages file: where each stanza lies, and the names it can be looked up by
 * (its Package, and the names it provides). A build looks a few hundred names up among Debian
 * main's 60,000 stanzas, and parses only the stanzas it finds (`debCandidateIndex`,
 * ./candidates.ts); the index is small enough to keep in the download cache next to the file it
 * was made from ({@link encodeStanzaIndex}), so a build from a warm cache reads no stanza it does
 * not need.
 *
 * Offsets are in bytes of the file. The file is scanned as latin1 text, one character per byte:
 * every character the scan looks at (newlines, colons, field names, the ASCII of package names)
 * is the same byte in UTF-8, and a stanza is decoded as UTF-8 only when it is parsed.
 */
import { deserialize, serialize } from 'node:v8';
import { isProvenantError } from '../../errors.ts';
import { scanControlStanzas } from './control.ts';
import { parseDebRelations } from './relations.ts';

/** See the module comment. Stanzas are numbered in file order. */
export interface DebStanzaIndex {
  /** Per stanza: its Package field ('' when it has none). */
  names: string[];
  /** Per stanza: its Architecture field ('' when it has none). */
  archs: string[];
  /** Per stanza: the byte offset of its first line, and of the end of its last line. */
  starts: Int32Array;
  ends: Int32Array;
  /** Stanza numbers sorted by name, then by number: for looking names up by binary search. */
  byName: Int32Array;
  /**
   * Names provided, and by which stanza, sorted by name, then by stanza: `Provides` (without
   * versions) and, for `Multi-Arch: allowed`, `<name>:any` for its own name and each provided one.
   */
  provided: string[];
  providers: Int32Array;
}

/** The fields the index reads of every stanza. */
const INDEX_FIELDS: ReadonlySet<string> = new Set(['package', 'architecture', 'provides', 'multi-arch']);

/**
 * Indexes a Packages file.
 *
 * @throws ProvenantError `INVALID_PACKAGE` for a line that is neither a field nor a continuation,
 *   when the file is one that the line-by-line scan reads (see {@link UNUSUAL})
 */
export function indexDebStanzas(bytes: Uint8Array, where: string): DebStanzaIndex {
  const latin1 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  const stanzas = UNUSUAL.test(latin1) ? exactScan(bytes, where) : quickScan(latin1);
  const n = stanzas.length;
  const names: string[] = new Array(n);
  const archs: string[] = new Array(n);
  const starts = new Int32Array(n);
  const ends = new Int32Array(n);
  const pairs: [string, number][] = [];
  for (let i = 0; i < n; i++) {
    const { fields, start, end } = stanzas[i]!;
    const name = fields.package ?? '';
    names[i] = name;
    archs[i] = fields.architecture ?? '';
    starts[i] = start;
    ends[i] = end;
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
    for (const p of new Set(provided)) pairs.push([p, i]);
  }
  const byName = Int32Array.from(names.keys()).sort((a, b) => compareStrings(names[a]!, names[b]!) || a - b);
  pairs.sort((a, b) => compareStrings(a[0], b[0]) || a[1] - b[1]);
  return {
    names,
    archs,
    starts,
    ends,
    byName,
    provided: pairs.map((p) => p[0]),
    providers: Int32Array.from(pairs, (p) => p[1]),
  };
}

/** The stanzas named `name`, in file order. */
export function stanzasNamed(index: DebStanzaIndex, name: string): number[] {
  const out: number[] = [];
  for (let i = lowerBound(index.byName.length, (k) => index.names[index.byName[k]!]!, name); i < index.byName.length; i++) {
    const s = index.byName[i]!;
    if (index.names[s] !== name) break;
    out.push(s);
  }
  return out;
}

/** The stanzas that provide `name`, in file order. */
export function stanzasProviding(index: DebStanzaIndex, name: string): number[] {
  const out: number[] = [];
  for (let i = lowerBound(index.provided.length, (k) => index.provided[k]!, name); i < index.provided.length; i++) {
    if (index.provided[i] !== name) break;
    out.push(index.providers[i]!);
  }
  return out;
}

const FORMAT = 'provenant-deb-stanza-index/1';

/** The index as bytes, for the download cache. */
export function encodeStanzaIndex(index: DebStanzaIndex): Uint8Array {
  return serialize({ format: FORMAT, ...index });
}

/**
 * An index from {@link encodeStanzaIndex}'s bytes, or undefined when they are not one (another
 * format, or damaged). `fileSize` is the size of the Packages file it must describe.
 */
export function decodeStanzaIndex(bytes: Uint8Array, fileSize: number): DebStanzaIndex | undefined {
  let v: Record<string, unknown>;
  try {
    v = deserialize(bytes) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object' || v.format !== FORMAT) return undefined;
  const { names, archs, starts, ends, byName, provided, providers } = v;
  if (!Array.isArray(names) || !Array.isArray(archs) || !Array.isArray(provided)) return undefined;
  if (!(starts instanceof Int32Array && ends instanceof Int32Array && byName instanceof Int32Array && providers instanceof Int32Array))
    return undefined;
  const n = names.length;
  if (archs.length !== n || starts.length !== n || ends.length !== n || byName.length !== n || providers.length !== provided.length)
    return undefined;
  for (let i = 0; i < n; i++) {
    if (starts[i]! < 0 || starts[i]! > ends[i]! || ends[i]! > fileSize || byName[i]! < 0 || byName[i]! >= n) return undefined;
  }
  for (const p of providers) if (p < 0 || p >= n) return undefined;
  return { names, archs, starts, ends, byName, provided, providers } as DebStanzaIndex;
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

/**
 * Lines that would make {@link quickScan} read a file otherwise than the full parse, which reads
 * the UTF-8 text line by line: a carriage return, a comment, a line of only whitespace (it ends a
 * stanza; in the latin1 text, Unicode spaces are their UTF-8 bytes), or one of the indexed
 * fields written in other letter case than Debian's (field names are case-insensitive; the letter
 * classes spell that out, since the lookahead must not ignore case). A file that has any is read
 * by {@link exactScan}.
 */
const UNUSUAL = new RegExp(
  [
    '\\r',
    '(?:^|\\n)#',
    '(?:^|\\n)(?:[^\\S\\n]|\\xC2\\xA0|\\xE1\\x9A\\x80|\\xE2\\x80[\\x80-\\x8A\\xA8\\xA9\\xAF]|\\xE2\\x81\\x9F|\\xE3\\x80\\x80|\\xEF\\xBB\\xBF)+(?:\\n|$)',
    '(?:^|\\n)(?!Package:|Architecture:|Provides:|Multi-Arch:)' +
      '(?:[Pp][Aa][Cc][Kk][Aa][Gg][Ee]|[Aa][Rr][Cc][Hh][Ii][Tt][Ee][Cc][Tt][Uu][Rr][Ee]|[Pp][Rr][Oo][Vv][Ii][Dd][Ee][Ss]|[Mm][Uu][Ll][Tt][Ii]-[Aa][Rr][Cc][Hh]):',
  ].join('|'),
);

/**
 * The line-by-line scan of the UTF-8 text (what the full parse reads), with its character
 * offsets turned into byte offsets.
 */
function exactScan(bytes: Uint8Array, where: string): { fields: Record<string, string>; start: number; end: number }[] {
  const text = new TextDecoder('utf-8').decode(bytes);
  const stanzas = scanControlStanzas(text, where, INDEX_FIELDS);
  let chars = 0;
  let at = 0;
  const byteAt = (offset: number): number => {
    at += Buffer.byteLength(text.slice(chars, offset), 'utf8');
    chars = offset;
    return at;
  };
  return stanzas.map(({ fields, start, end }) => ({ fields, start: byteAt(start), end: byteAt(end) }));
}

/**
 * The indexed fields of every stanza, found by searching the text for `\nPackage:` and the like
 * rather than reading it line by line: several times faster on Debian's Packages files, which
 * hold nothing {@link UNUSUAL}. Lines are not checked here; a stanza is checked when it is parsed
 * in full.
 */
function quickScan(text: string): { fields: Record<string, string>; start: number; end: number }[] {
  const names = ['Package', 'Architecture', 'Provides', 'Multi-Arch'] as const;
  const keys = ['package', 'architecture', 'provides', 'multi-arch'] as const;
  // The next line starting with each field, found once and used by the stanza it falls in.
  const next = names.map((name) => (text.startsWith(`${name}:`) ? 0 : lineStart(text, `\n${name}:`, 0)));
  const out: { fields: Record<string, string>; start: number; end: number }[] = [];
  const n = text.length;
  let pos = 0;
  while (pos < n) {
    while (pos < n && text.charCodeAt(pos) === 0x0a) pos++;
    if (pos >= n) break;
    let end = text.indexOf('\n\n', pos);
    if (end < 0) end = text.charCodeAt(n - 1) === 0x0a ? n - 1 : n;
    const fields: Record<string, string> = {};
    for (let k = 0; k < names.length; k++) {
      // A field named twice keeps its last value, as in the full parse.
      while ((next[k] as number) < end) {
        const at = next[k] as number;
        fields[keys[k] as string] = fieldValue(text, at + (names[k] as string).length + 1, end);
        next[k] = lineStart(text, `\n${names[k]}:`, at);
      }
    }
    out.push({ fields, start: pos, end });
    pos = end + 2;
  }
  return out;
}

/** Where the next line that starts with `needle` (which begins with a newline) begins, or the text's length. */
function lineStart(text: string, needle: string, from: number): number {
  const i = text.indexOf(needle, from);
  return i < 0 ? text.length : i + 1;
}

/** A field's value from just after its colon: the first line trimmed, continuation lines less their first character. */
function fieldValue(text: string, from: number, end: number): string {
  let eol = text.indexOf('\n', from);
  if (eol < 0 || eol > end) eol = end;
  let value = text.slice(from, eol).trim();
  while (eol < end && (text.charCodeAt(eol + 1) === 0x20 || text.charCodeAt(eol + 1) === 0x09)) {
    let next = text.indexOf('\n', eol + 1);
    if (next < 0 || next > end) next = end;
    value = `${value}\n${text.slice(eol + 2, next)}`;
    eol = next;
  }
  return value;
}
