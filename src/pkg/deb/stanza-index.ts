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
 * Indexes a Packages file: the line-by-line scan of the full parse (every line is checked), keeping
 * only the indexed fields. About 0.5 s for Debian main; a build keeps the index in its cache.
 *
 * @throws ProvenantError `INVALID_PACKAGE` for a line that is neither a field nor a continuation
 */
export function indexDebStanzas(bytes: Uint8Array, where: string): DebStanzaIndex {
  const stanzas = scanBytes(bytes, where);
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
  const provided = sortedGroups(pairs);
  return {
    names,
    archs,
    starts,
    ends,
    byName: Int32Array.from(sortedGroups(names.map((name, i): [string, number] => [name, i])).numbers),
    provided: provided.names,
    providers: Int32Array.from(provided.numbers),
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

// 2: names and architectures packed (one string and its ends; a table of architectures), since
// one string per name made the index 6 MB for Debian main (its names two-byte, as slices of the
// decoded file) and decoding it took longer than the rest of a warm build's resolution.
const FORMAT = 'provenant-deb-stanza-index/2';

/**
 * Strings as one UTF-8 text, a line each, and their number. Bytes rather than a string, since the
 * names are slices of the decoded file, which V8 keeps at two bytes a character when the file has
 * any non-ASCII character; lines, since splitting a text is several times faster than slicing it
 * at 60,000 offsets in a cold process. A Packages file whose Package or Provides has a line break
 * (a continuation line: malformed) gives a pack that does not decode, so its index is made again.
 */
interface PackedStrings {
  text: Uint8Array;
  count: number;
}

function packStrings(strings: readonly string[]): PackedStrings {
  return { text: new TextEncoder().encode(strings.join('\n')), count: strings.length };
}

/** The strings of {@link packStrings}, or undefined when `v` is not such a pack. */
function unpackStrings(v: unknown): string[] | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  const { text, count } = v as Record<string, unknown>;
  if (!(text instanceof Uint8Array) || typeof count !== 'number') return undefined;
  if (count === 0) return text.length === 0 ? [] : undefined;
  const strings = new TextDecoder('utf-8').decode(text).split('\n');
  return strings.length === count ? strings : undefined;
}

/** The index as bytes, for the download cache. */
export function encodeStanzaIndex(index: DebStanzaIndex): Uint8Array {
  const archTable = [...new Set(index.archs)];
  const archNumber = new Map(archTable.map((a, i) => [a, i]));
  return serialize({
    format: FORMAT,
    names: packStrings(index.names),
    archTable,
    archs: Int32Array.from(index.archs, (a) => archNumber.get(a)!),
    starts: index.starts,
    ends: index.ends,
    byName: index.byName,
    provided: packStrings(index.provided),
    providers: index.providers,
  });
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
  const { archTable, archs: archNumbers, starts, ends, byName, providers } = v;
  if (!Array.isArray(archTable) || !archTable.every((a) => typeof a === 'string')) return undefined;
  if (!(archNumbers instanceof Int32Array && starts instanceof Int32Array && ends instanceof Int32Array)) return undefined;
  if (!(byName instanceof Int32Array && providers instanceof Int32Array)) return undefined;
  const names = unpackStrings(v.names);
  const provided = unpackStrings(v.provided);
  if (names === undefined || provided === undefined) return undefined;
  const n = names.length;
  if (archNumbers.length !== n || starts.length !== n || ends.length !== n || byName.length !== n || providers.length !== provided.length)
    return undefined;
  const archs: string[] = new Array(n);
  for (let i = 0; i < n; i++) {
    if (starts[i]! < 0 || starts[i]! > ends[i]! || ends[i]! > fileSize || byName[i]! < 0 || byName[i]! >= n) return undefined;
    const arch = archTable[archNumbers[i]!] as string | undefined;
    if (arch === undefined) return undefined;
    archs[i] = arch;
  }
  for (const p of providers) if (p < 0 || p >= n) return undefined;
  return { names, archs, starts, ends, byName, provided, providers };
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

/** {@link scanControlStanzas} of the UTF-8 text, with its character offsets turned into byte offsets. */
function scanBytes(bytes: Uint8Array, where: string): { fields: Record<string, string>; start: number; end: number }[] {
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
