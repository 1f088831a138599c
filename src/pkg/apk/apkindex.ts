/**
 * APKINDEX: the package list of an apk repository, and its signed `APKINDEX.tar.gz` container.
 *
 * The text format is apk-tools' (src/package.c, `apk_pkg_add_info`): stanzas separated by a blank
 * line, one `X:value` field per line, where the letter says what the value is. Dependency-like
 * fields (`D:`, `p:`, `i:`, `r:`) are space-separated lists.
 */
import { readTar } from '../../archive/tar.ts';
import { collectBytes } from '../../bytes.ts';
import { isProvenantError, ProvenantError } from '../../errors.ts';
import { isWhitespace } from '../whitespace.ts';
import { type GzipMember, gzipMemberAt, INDEX_ENTRIES_MAX, INDEX_MAX, INDEX_NAMES_MAX, inflateMembers, SIGNATURE_MAX } from './members.ts';
import { type ApkKeyring, type ApkSignature, signaturesOf, type VerifiedSignature, verifyApkSignatures } from './signature.ts';
import { tarFiles } from './tarfiles.ts';

/** What an index (or an installed database) says about one package. */
export interface ApkPackageInfo {
  /** `P:` */
  name: string;
  /** `V:` */
  version: string;
  /** `A:` */
  arch: string;
  /** `C:` the package's identity: `Q1` and the base64 SHA-1 of its control member. */
  checksum: string;
  /** `S:` the .apk file's size in bytes. */
  size: number;
  /** `I:` the unpacked size in bytes. */
  installedSize: number;
  /** `T:` */
  description: string;
  /** `U:` */
  url: string;
  /** `L:` */
  license: string;
  /** `o:` the source package's name. */
  origin: string;
  /** `m:` */
  maintainer: string;
  /** `t:` build time, seconds since the epoch. */
  buildTime: number | undefined;
  /** `c:` the commit of the package's build recipe. */
  commit: string;
  /** `D:` dependency atoms, as written. */
  depends: string[];
  /** `p:` what the package provides (`so:`, `cmd:`, `pc:`, names, with `=version` where versioned). */
  provides: string[];
  /** `i:` install this package when all of these are installed. */
  installIf: string[];
  /** `r:` packages whose files this one may overwrite. */
  replaces: string[];
  /** `k:` provider priority, for choosing among providers of a virtual name. */
  providerPriority: number | undefined;
  /** `q:` replaces priority. */
  replacesPriority: number | undefined;
  /** Every other field, by letter, in order, so nothing in the index is lost. */
  extra: Record<string, string[]>;
}

/** A verified, parsed APKINDEX.tar.gz. */
export interface ApkIndex {
  /** The DESCRIPTION member's text (a repository's version string), trimmed. */
  description: string;
  packages: ApkPackageInfo[];
  /** The signature that verified, or undefined when unsigned content was allowed. */
  signedBy: VerifiedSignature | undefined;
  /** Every signature the index carries. */
  signatures: ApkSignature[];
}

/** Options of {@link readApkIndex}. */
export interface ReadApkIndexOptions {
  /** Trusted keys. */
  keyring: ApkKeyring;
  /** Where the index comes from, for errors (a URL without credentials, or a path). */
  where: string;
  /**
   * Accept an index with no signature by a trusted key. Off by default: verify by default. A
   * signature by a trusted key must verify either way ({@link verifyApkSignatures}).
   */
  allowUntrusted?: boolean;
  /**
   * What the indexes read before this one for the same build listed and hold, added to once this
   * one is read: the caps on packages, names, field lines and text ({@link readIndexText}) hold for
   * all of them together, as a build holds them all at once.
   */
  together?: IndexesRead | undefined;
}

/**
 * Verifies and parses an `APKINDEX.tar.gz`: a signature member (a tar of `.SIGN.*` entries)
 * followed by a member holding `DESCRIPTION` and `APKINDEX`. The signature covers the compressed
 * bytes of everything after the first member.
 *
 * @throws ProvenantError `SIGNATURE` or `UNTRUSTED_KEY` when it does not verify (unless
 *   `allowUntrusted` and no trusted key signed it), `INVALID_PACKAGE` when it is malformed,
 *   `TRUNCATED` when cut short, `TOO_LARGE` when it lists more than the caps allow
 *   ({@link readIndexText}) or inflates to more than {@link INDEX_MAX}
 */
export async function readApkIndex(bytes: Uint8Array, options: ReadApkIndexOptions): Promise<ApkIndex> {
  const { where } = options;
  // The signature covers the compressed bytes after the signature member: only that member is
  // inflated before it is checked, no further than a signature member can be (SIGNATURE_MAX).
  // A first member larger than that is content, unsigned (refused unless allowed), inflated again
  // from its start in pieces; a smaller one that holds no signature is content too, taken as it
  // is. The content is inflated in pieces and counted as it comes (readIndexText).
  let first: GzipMember | undefined;
  try {
    first = gzipMemberAt(bytes, 0, { where, maxOutput: SIGNATURE_MAX, what: 'the first member' });
  } catch (err) {
    if (!isProvenantError(err, 'TOO_LARGE')) throw err;
  }
  if (bytes.length === 0) throw new ProvenantError('INVALID_PACKAGE', 'the index is empty', { where });
  const found = first === undefined ? undefined : signaturesOf(await tarFiles(first.data, where), where);
  const signatures: ApkSignature[] = found ?? [];
  const signedStart = found !== undefined && first !== undefined ? first.end : 0;
  const signedBy = verifyApkSignatures(signatures, bytes.subarray(signedStart), options.keyring, where, {
    allowUntrusted: options.allowUntrusted === true,
  });
  if (signedStart >= bytes.length) throw new ProvenantError('INVALID_PACKAGE', 'the index holds a signature and nothing else', { where });
  const content = { where, maxOutput: INDEX_MAX, what: 'the index' };
  const pieces =
    found === undefined && first !== undefined
      ? // Unsigned (allowed): the first member is the content's first, inflated once.
        followedBy(
          first.data,
          inflateMembers(bytes.subarray(first.end), { ...content, inflated: first.data.length, from: { member: 2, byte: first.end } }),
        )
      : inflateMembers(bytes.subarray(signedStart), { ...content, from: { member: signedStart === 0 ? 1 : 2, byte: signedStart } });
  let text: IndexText | undefined;
  let description: Uint8Array | undefined;
  try {
    // The tar reader closes its input at the archive's end: what follows is inflated and checked below.
    const input = { [Symbol.asyncIterator]: () => ({ next: () => pieces.next() }) };
    for await (const entry of readTar(input, { where, ownership: 'ustar' })) {
      // The first of each name, as apk-tools takes them.
      if (entry.header.name === 'APKINDEX' && text === undefined) {
        text = await readIndexText(entry.body, where, options.together);
      } else if (entry.header.name === 'DESCRIPTION' && description === undefined) {
        description = await collectBytes(entry.body);
      } else {
        for await (const _ of entry.body);
      }
    }
    while ((await pieces.next()).done !== true);
  } finally {
    await pieces.return(undefined);
  }
  if (text === undefined) throw new ProvenantError('INVALID_PACKAGE', 'the archive has no APKINDEX member', { where });
  if (options.together !== undefined) addCounts(options.together, text, where);
  return {
    description: description === undefined ? '' : new TextDecoder().decode(description).trim(),
    packages: parseApkIndexText(text.text, `${where}: APKINDEX`),
    signedBy,
    signatures,
  };
}

/** `head`, then what `rest` gives. */
async function* followedBy(head: Uint8Array, rest: AsyncGenerator<Uint8Array>): AsyncGenerator<Uint8Array> {
  try {
    yield head;
    yield* rest;
  } finally {
    await rest.return(undefined);
  }
}

/**
 * The field lines (`X:value`) one APKINDEX may hold, all stanzas together. The text is split into
 * lines and a field of a letter not known is kept in `extra`, so each line costs about 50 bytes
 * once read whatever its field: one stanza of 100,000,000 `x:` lines (a 292 KB download) passed
 * the caps on packages and names and peaked at 4.9 GB. 10,000,000 `x:` lines peaked at 524 MB (and
 * 100,000,000 are refused before they are parsed); a real stanza has 10 to 20, so 500,000
 * packages (the cap on those) fit.
 */
export const INDEX_FIELDS_MAX = 10_000_000;

/** What an APKINDEX lists, as {@link readIndexText} counts it. */
export interface IndexCounts {
  /** Stanzas with a `P:` line: the packages the parser makes (a repeated `P:` names one package again). */
  packages: number;
  /** Names in `D:`, `p:`, `i:` and `r:` lines. */
  names: number;
  /** `X:value` lines. */
  fields: number;
  /**
   * Bytes of text. What is parsed from it keeps it (a package's fields are slices of the text), so
   * each index a build holds holds its text too.
   */
  text: number;
}

/**
 * What the indexes a build has read so far listed and hold together, and where they came from
 * ({@link ReadApkIndexOptions.together}).
 */
export interface IndexesRead extends IndexCounts {
  /** The indexes counted, as their `where`. */
  indexes: string[];
}

/**
 * The caps {@link readIndexText} holds an index to: {@link INDEX_ENTRIES_MAX}, {@link INDEX_NAMES_MAX},
 * {@link INDEX_FIELDS_MAX}, and {@link INDEX_MAX} bytes of text.
 */
const INDEX_CAPS: IndexCounts = { packages: INDEX_ENTRIES_MAX, names: INDEX_NAMES_MAX, fields: INDEX_FIELDS_MAX, text: INDEX_MAX };

/** An APKINDEX's text, read by {@link readIndexText}, and what it lists (`bytes`: its size). */
export interface IndexText extends Omit<IndexCounts, 'text'> {
  text: string;
  bytes: number;
}

/**
 * Reads an APKINDEX's text from its bytes, a piece at a time, counting the packages, names and
 * field lines it lists as each piece comes: what parsing holds grows with those counts (up to ten
 * times the text and more), not with the text's size alone, so an index listing more than
 * `caps` (by default {@link INDEX_ENTRIES_MAX}, {@link INDEX_NAMES_MAX}, {@link INDEX_FIELDS_MAX})
 * is refused at the line where a count went over, before the rest is inflated, decoded or parsed.
 * Its bytes are counted too (by default up to {@link INDEX_MAX}), refused at the line a piece
 * that goes over starts on. With `together`, what other indexes listed and held counts too. The text is what decoding the bytes
 * whole gives, however they are cut into pieces.
 *
 * @param where the index's location: errors name `<where>: APKINDEX:<line>`
 * @throws ProvenantError `TOO_LARGE` naming the line where a count went over
 */
export async function readIndexText(
  pieces: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  where: string,
  together?: IndexesRead | undefined,
  caps: IndexCounts = INDEX_CAPS,
): Promise<IndexText> {
  const counts: IndexCounts = { packages: 0, names: 0, fields: 0, text: 0 };
  const decoder = new TextDecoder('utf-8', { fatal: false });
  const parts: string[] = [];
  let line = 1;
  // Where the current line is: 0 at its start, 1 past its letter, 2 past the colon or what is not one.
  let col = 0;
  let letter = 0;
  let list = false;
  let inName = false;
  // Whether the current stanza was counted as a package: its first `P:` counts it.
  let named = false;
  const over = (what: keyof IndexCounts): ProvenantError => {
    const said = {
      packages: 'packages',
      names: 'dependency and provided names',
      fields: 'field lines',
      text: 'bytes of text',
    }[what];
    // What one index does, and several.
    const [one, many] = (
      { packages: ['lists', 'list'], names: ['lists', 'list'], fields: ['has', 'have'], text: ['holds', 'hold'] } as const
    )[what];
    const others = together === undefined ? 0 : together[what];
    const alone = counts[what] > caps[what];
    return new ProvenantError(
      'TOO_LARGE',
      alone || together === undefined
        ? `the index ${one} more than ${caps[what]} ${said}, more than are read into memory`
        : `the indexes ${[...together.indexes, where].join(', ')} ${many} more than ${caps[what]} ${said} together (${others} before this one), more than are read into memory`,
      {
        where: `${where}: APKINDEX:${line}`,
        ...(alone
          ? {}
          : {
              hint: 'a build holds every index it reads at once, of every architecture it builds: read fewer repositories, or build fewer architectures at once',
            }),
      },
    );
  };
  const add = (what: keyof IndexCounts): void => {
    counts[what]++;
    if (counts[what] + (together?.[what] ?? 0) > caps[what]) throw over(what);
  };
  const scan = (s: string): void => {
    parts.push(s);
    for (let at = 0; at < s.length; ) {
      const nl = s.indexOf('\n', at);
      const end = nl < 0 ? s.length : nl;
      let i = at;
      for (; col < 2 && i < end; i++, col++) {
        const c = s.charCodeAt(i);
        if (col === 0) {
          letter = c;
        } else if (c === COLON) {
          if (letter === P && !named) {
            named = true;
            add('packages');
          }
          add('fields');
          list = LIST_LETTERS.has(letter);
        }
      }
      // Names as the parser splits them: runs of characters between white space.
      for (; list && i < end; i++) {
        const space = isWhitespace(s.charCodeAt(i));
        if (!space && !inName) add('names');
        inName = !space;
      }
      if (nl < 0) return;
      // A blank line (nothing since the last newline, in this piece or before) ends the stanza.
      if (col === 0) named = false;
      line++;
      col = 0;
      list = false;
      inName = false;
      at = nl + 1;
    }
  };
  for await (const piece of pieces) {
    counts.text += piece.length;
    if (counts.text + (together?.text ?? 0) > caps.text) throw over('text');
    scan(decoder.decode(piece, { stream: true }));
  }
  scan(decoder.decode());
  const { text: bytes, ...listed } = counts;
  return { text: parts.join(''), bytes, ...listed };
}

const COLON = 0x3a;
const P = 0x50;
/** `D:`, `p:`, `i:`, `r:`: the fields that list names. */
const LIST_LETTERS = new Set(['D', 'p', 'i', 'r'].map((c) => c.charCodeAt(0)));

/** Adds what the index at `where` listed to what the build read before it. */
function addCounts(together: IndexesRead, read: IndexText, where: string): void {
  together.packages += read.packages;
  together.names += read.names;
  together.fields += read.fields;
  together.text += read.bytes;
  together.indexes.push(where);
}

/**
 * Parses APKINDEX text (also the format of /lib/apk/db/installed, whose file fields `F:`, `R:`,
 * `a:`, `M:`, `Z:` land in `extra`). Each stanza must name a package (`P:`), a version (`V:`)
 * and a checksum (`C:`).
 *
 * @throws ProvenantError `INVALID_PACKAGE` naming the line for a line that is not `X:value`, a
 *   number field that is not a number, or a stanza without `P:`, `V:` or `C:`
 */
export function parseApkIndexText(text: string, where: string): ApkPackageInfo[] {
  const packages: ApkPackageInfo[] = [];
  const lines = text.split('\n');
  let current: Draft = { extra: {} };
  let startLine = 1;
  let fields = 0;
  const finish = (lineNo: number): void => {
    if (fields === 0) return;
    for (const [letter, key] of [
      ['P', 'name'],
      ['V', 'version'],
      ['C', 'checksum'],
    ] as const) {
      if (current[key] === undefined) {
        throw new ProvenantError('INVALID_PACKAGE', `the stanza on lines ${startLine}-${lineNo} has no ${letter}: field`, {
          where: `${where}:${startLine}`,
        });
      }
    }
    packages.push(infoOf(current));
    current = { extra: {} };
    fields = 0;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const lineNo = i + 1;
    if (line === '') {
      finish(lineNo - 1);
      startLine = lineNo + 1;
      continue;
    }
    if (line.length < 2 || line[1] !== ':') {
      throw new ProvenantError('INVALID_PACKAGE', `line ${lineNo} is not a field ("X:value"): ${JSON.stringify(line.slice(0, 80))}`, {
        where: `${where}:${lineNo}`,
      });
    }
    const letter = line[0] as string;
    const value = line.slice(2);
    fields++;
    let num: number | undefined;
    if (Object.hasOwn(NUMBER_KEYS, letter)) {
      if (!/^-?\d+$/.test(value)) {
        throw new ProvenantError('INVALID_PACKAGE', `field ${letter}: on line ${lineNo} is not a whole number: ${JSON.stringify(value)}`, {
          where: `${where}:${lineNo}`,
        });
      }
      num = Number(value);
    }
    applyField(current, letter, value, num);
  }
  finish(lines.length);
  return packages;
}

/** A stanza being read. */
type Draft = Partial<ApkPackageInfo> & { extra: Record<string, string[]> };

/** The index letters of text fields, list fields (repeatable, space-separated) and number fields. */
const TEXT_KEYS = {
  P: 'name',
  V: 'version',
  A: 'arch',
  C: 'checksum',
  T: 'description',
  U: 'url',
  L: 'license',
  o: 'origin',
  m: 'maintainer',
  c: 'commit',
} as const;
const LIST_KEYS = { D: 'depends', p: 'provides', i: 'installIf', r: 'replaces' } as const;
const NUMBER_KEYS = { S: 'size', I: 'installedSize', t: 'buildTime', k: 'providerPriority', q: 'replacesPriority' } as const;

/** Sets one field of a stanza; repeated list fields add up, unknown letters land in `extra`. */
function applyField(current: Draft, letter: string, value: string, num: number | undefined): void {
  if (Object.hasOwn(TEXT_KEYS, letter)) {
    current[TEXT_KEYS[letter as keyof typeof TEXT_KEYS]] = value;
  } else if (Object.hasOwn(NUMBER_KEYS, letter)) {
    current[NUMBER_KEYS[letter as keyof typeof NUMBER_KEYS]] = num ?? 0;
  } else if (Object.hasOwn(LIST_KEYS, letter)) {
    const key = LIST_KEYS[letter as keyof typeof LIST_KEYS];
    // Added to in place: a list copied at each line took time growing with the square of a
    // stanza's lines of one field.
    const list = current[key] ?? [];
    current[key] = list;
    for (const name of value.split(/\s+/)) if (name !== '') list.push(name);
  } else {
    const values = current.extra[letter];
    if (values === undefined) current.extra[letter] = [value];
    else values.push(value);
  }
}

/** A finished stanza, with the defaults of the fields it did not have. */
function infoOf(current: Draft): ApkPackageInfo {
  return {
    name: current.name ?? '',
    version: current.version ?? '',
    arch: current.arch ?? '',
    checksum: current.checksum ?? '',
    size: current.size ?? 0,
    installedSize: current.installedSize ?? 0,
    description: current.description ?? '',
    url: current.url ?? '',
    license: current.license ?? '',
    origin: current.origin ?? '',
    maintainer: current.maintainer ?? '',
    buildTime: current.buildTime,
    commit: current.commit ?? '',
    depends: current.depends ?? [],
    provides: current.provides ?? [],
    installIf: current.installIf ?? [],
    replaces: current.replaces ?? [],
    providerPriority: current.providerPriority,
    replacesPriority: current.replacesPriority,
    extra: current.extra,
  };
}

/**
 * Writes packages as APKINDEX text, fields in apk-tools' order, each stanza ended by a blank line.
 * `extra` fields follow the known ones.
 */
export function formatApkIndexText(packages: readonly ApkPackageInfo[]): string {
  let out = '';
  for (const p of packages) out += `${formatStanza(p)}\n`;
  return out;
}

/** One stanza's lines, without the blank line that ends it. */
export function formatStanza(p: ApkPackageInfo): string {
  const lines: string[] = [
    `C:${p.checksum}`,
    `P:${p.name}`,
    `V:${p.version}`,
    `A:${p.arch}`,
    `S:${p.size}`,
    `I:${p.installedSize}`,
    `T:${p.description}`,
    `U:${p.url}`,
    `L:${p.license}`,
  ];
  if (p.origin !== '') lines.push(`o:${p.origin}`);
  if (p.maintainer !== '') lines.push(`m:${p.maintainer}`);
  if (p.buildTime !== undefined) lines.push(`t:${p.buildTime}`);
  if (p.commit !== '') lines.push(`c:${p.commit}`);
  if (p.providerPriority !== undefined) lines.push(`k:${p.providerPriority}`);
  if (p.depends.length > 0) lines.push(`D:${p.depends.join(' ')}`);
  if (p.provides.length > 0) lines.push(`p:${p.provides.join(' ')}`);
  if (p.installIf.length > 0) lines.push(`i:${p.installIf.join(' ')}`);
  for (const [letter, values] of Object.entries(p.extra)) for (const v of values) lines.push(`${letter}:${v}`);
  return `${lines.join('\n')}\n`;
}
