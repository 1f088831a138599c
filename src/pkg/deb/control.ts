/**
 * Debian control files (deb822): Packages, Release, InRelease's body, a .deb's control file, the
 * dpkg status database. Shared by the deb repository reader, the build and the SBOM readers.
 */
import { ProvenantError } from '../../errors.ts';
import { isWhitespace } from '../whitespace.ts';

/**
 * Parses Debian control stanzas (deb-control(5), deb822(5)): `Field: value` lines, continuation
 * lines starting with a space or tab, stanzas separated by blank lines. Field names are matched
 * case-insensitively, so they are returned lowercased; continuation lines are joined with `\n`.
 *
 * The details: lines end at `\n`, and one `\r` before it is dropped; a line that is empty or only
 * whitespace ends a stanza; a line starting with `#` is a comment; a field name is one or more
 * printable ASCII characters other than `:`; a field's first line is trimmed of whitespace, a
 * continuation line loses only its first character; a field named again replaces the earlier
 * value. A 45 MB Packages file (a whole Debian release) parses in about a quarter of a second.
 *
 * `firstLine` is the number of the text's first line, for errors, when the text is a piece of a
 * file that begins after a blank line; at most `limit` stanzas are read (for 0, none, and no line
 * is checked).
 *
 * @throws ProvenantError `INVALID_PACKAGE` for a line that is neither a field nor a continuation
 */
export function parseControlStanzas(
  text: string,
  where: string,
  firstLine = 1,
  limit = Number.POSITIVE_INFINITY,
): Record<string, string>[] {
  return parseStanzas(text, where, undefined, undefined, firstLine, limit);
}

/**
 * The first stanza of `text` as apt reads a Release: its first paragraph only (pkgTagFile's first
 * section), so that whatever follows an empty line after it is never refused. Unlike
 * {@link parseControlStanzas}, a line of spaces and tabs after a field continues it, as apt's
 * tag file reads it (Debian Policy 5.1 lets a parser take it for the paragraph's end, but apt does
 * not, and a Release read otherwise would lose the fields after it: hashes, `NotAutomatic`); in an
 * InRelease such a line is empty already, the cleartext signature's trailing spaces being removed.
 * Undefined when it has no stanza.
 *
 * @throws ProvenantError `INVALID_PACKAGE` for a line of that stanza that is neither a field nor a continuation
 */
export function parseFirstControlStanza(text: string, where: string): Record<string, string> | undefined {
  return parseStanzas(text, where, undefined, undefined, 1, 1, true)[0];
}

/** A stanza read by {@link scanControlStanzas}: some of its fields, and where it lies in the text. */
export interface ScannedStanza {
  /** The fields asked for that the stanza has, as {@link parseControlStanzas} gives them. */
  fields: Record<string, string>;
  /** `text.slice(start, end)` is the stanza, from its first field line to the end of its last line. */
  start: number;
  end: number;
}

/**
 * {@link parseControlStanzas} keeping only the fields named in `fields` (lowercased), with each
 * stanza's place in the text, so that a whole stanza can be parsed later from its slice. Checks
 * every line as the full parse does, and throws the same errors; it is faster because the values
 * of the other fields are never built. `firstLine` is the number of the text's first line, for
 * errors, when the text is a piece of a file that begins after a blank line; at most `limit`
 * stanzas are read, as there.
 *
 * @throws ProvenantError `INVALID_PACKAGE` for a line that is neither a field nor a continuation
 */
export function scanControlStanzas(
  text: string,
  where: string,
  fields: ReadonlySet<string>,
  firstLine = 1,
  limit = Number.POSITIVE_INFINITY,
): ScannedStanza[] {
  const spans: number[] = [];
  const stanzas = parseStanzas(text, where, fields, spans, firstLine, limit);
  return stanzas.map((f, i) => ({ fields: f, start: spans[2 * i] as number, end: spans[2 * i + 1] as number }));
}

function parseStanzas(
  text: string,
  where: string,
  wanted: ReadonlySet<string> | undefined,
  spans: number[] | undefined,
  firstLine = 1,
  limit = Number.POSITIVE_INFINITY,
  spacesContinue = false,
): Record<string, string>[] {
  const stanzas: Record<string, string>[] = [];
  // The count is checked as each stanza ends: a limit of 0 read the first.
  if (limit < 1) return stanzas;
  // Where the stanza being read starts (its first field line), for `spans`.
  let stanzaStart = -1;
  // Whether the field being read is kept: not __proto__, and asked for.
  let keep = false;
  let current: Record<string, string> = {};
  let hasFields = false;
  // The field being read, stored into `current` once its last continuation line is read: a
  // local string is cheaper to extend than an object's field.
  let lastKey: string | undefined;
  let value = '';
  // A value holding `\r`, U+2028 or U+2029 is refused (they end a line for a regular
  // expression's `.`, which the first version of this parser used). Almost no input has one,
  // so the check per line only runs when the text has one somewhere.
  const oddBreaks = text.includes('\r') || text.includes('\u2028') || text.includes('\u2029');
  // Lowercased field names by a hash of their lowercased characters: a Packages file has a few
  // dozen names over a million lines, and looking them up this way spares a string per line.
  const keys = new Map<number, string>();
  const n = text.length;
  // Errors name lines from `firstLine`: the text may be a piece of a file, cut after a blank line.
  let lineNo = firstLine - 1;
  for (let pos = 0; pos <= n; ) {
    let eol = text.indexOf('\n', pos);
    if (eol < 0) eol = n;
    lineNo++;
    let end = eol;
    if (end > pos && text.charCodeAt(end - 1) === 0x0d) end--;
    const start = pos;
    pos = eol + 1;

    const c = start < end ? text.charCodeAt(start) : -1;
    const continues = spacesContinue && lastKey !== undefined && (c === 0x20 || c === 0x09);
    // Such a line adds nothing to its field: apt trims the value it ends (`Suite: x` then blanks is x).
    if (continues && blank(text, start, end)) continue;
    if (c === -1 || (isWhitespace(c) && blank(text, start, end))) {
      if (keep) current[lastKey as string] = value;
      if (hasFields) {
        stanzas.push(current);
        spans?.push(stanzaStart, start > 0 ? start - 1 : 0);
        if (stanzas.length >= limit) return stanzas;
      }
      stanzaStart = -1;
      keep = false;
      current = {};
      hasFields = false;
      lastKey = undefined;
      continue;
    }
    if (c === 0x23 /* # */) continue;
    if (c === 0x20 || c === 0x09) {
      if (lastKey === undefined) {
        throw new ProvenantError('INVALID_PACKAGE', `line ${lineNo} continues a field, but no field precedes it`, {
          where: `${where}:${lineNo}`,
        });
      }
      if (keep) value = `${value}\n${text.slice(start + 1, end)}`;
      continue;
    }
    // The field name: printable ASCII other than `:`, up to the first `:`.
    let colon = start;
    let hash = 0;
    for (; colon < end; colon++) {
      const k = text.charCodeAt(colon);
      if (k === 0x3a /* : */ || k < 0x21 || k > 0x7e) break;
      hash = (Math.imul(hash, 31) + (k >= 0x41 && k <= 0x5a ? k | 0x20 : k)) | 0;
    }
    if (colon === start || colon === end || text.charCodeAt(colon) !== 0x3a || (oddBreaks && ODD_BREAKS.test(text.slice(colon + 1, end)))) {
      const line = text.slice(start, end);
      throw new ProvenantError('INVALID_PACKAGE', `line ${lineNo} is not a "Field: value" line: ${JSON.stringify(line.slice(0, 80))}`, {
        where: `${where}:${lineNo}`,
      });
    }
    if (keep) current[lastKey as string] = value;
    if (stanzaStart < 0) stanzaStart = start;
    let key = keys.get(hash);
    if (key === undefined || !sameName(key, text, start, colon)) {
      key = text.slice(start, colon).toLowerCase();
      if (!keys.has(hash)) keys.set(hash, key);
    }
    lastKey = key;
    // A field named __proto__ cannot be a plain object's own field; no real control file has one.
    if (key !== '__proto__') hasFields = true;
    keep = key !== '__proto__' && (wanted === undefined || wanted.has(key));
    if (!keep) {
      value = '';
      continue;
    }
    // The value, trimmed of whitespace as String.prototype.trim does, with one slice.
    let from = colon + 1;
    let to = end;
    while (from < to && isWhitespace(text.charCodeAt(from))) from++;
    while (to > from && isWhitespace(text.charCodeAt(to - 1))) to--;
    value = text.slice(from, to);
  }
  if (keep) current[lastKey as string] = value;
  if (hasFields) {
    stanzas.push(current);
    spans?.push(stanzaStart, n);
  }
  return stanzas;
}

const ODD_BREAKS = /[\r\u2028\u2029]/;

/** Whether `lower` is the field name `text[from, to)` lowercased (field names are ASCII). */
function sameName(lower: string, text: string, from: number, to: number): boolean {
  if (lower.length !== to - from) return false;
  for (let i = 0; i < lower.length; i++) {
    const k = text.charCodeAt(from + i);
    if ((k >= 0x41 && k <= 0x5a ? k | 0x20 : k) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** Whether `text` between `from` and `to` is only whitespace. */
function blank(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (!isWhitespace(text.charCodeAt(i))) return false;
  return true;
}

/**
 * A `Source:` field (`util-linux (2.38.1-5+deb12u3)`, or a name alone) as the source package's
 * name and, when the field gives one, its version.
 */
export function debSourceField(field: string): { name: string; version?: string | undefined } {
  const m = /^\s*(\S+)(?:\s+\(\s*([^)\s]+)\s*\))?/.exec(field);
  if (m === null) return { name: '' };
  return m[2] === undefined ? { name: m[1] as string } : { name: m[1] as string, version: m[2] };
}

/**
 * An inventory's source fields from a `Source:` field: the source package's name (`orName` when
 * the field is absent), and its version when the field gives one other than `version`, the
 * binary package's.
 */
export function debSourceOf(field: string | undefined, version: string, orName = ''): { source: string; sourceVersion?: string } {
  const parsed = debSourceField(field ?? '');
  const source = parsed.name === '' ? orName : parsed.name;
  return parsed.version === undefined || parsed.version === version ? { source } : { source, sourceVersion: parsed.version };
}
