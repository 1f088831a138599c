/**
 * `.PKGINFO` as apko reads it, for apko compatibility (`--compat apko`).
 *
 * apko v1.2.39 (pkg/apk/types/package.go:ParsePackageInfo) loads `.PKGINFO` with go-ini's
 * `ShadowLoad` (gopkg.in/ini.v1) and maps the default section onto its PackageInfo struct. That
 * reading differs from apk-tools' in ways that show in the installed database apko writes:
 *
 * - a value is cut at its first `#` or `;` (go-ini's inline comments): `pkgdesc = a; b` is `a`;
 * - a value wrapped in one pair of `"` or `'` loses them; one ending in `\` continues on the
 *   next lines; one opening with a backtick or `"""` runs to the matching close;
 * - a key given twice keeps its first value for single fields (`license`, `pkgdesc`, ...), and
 *   for list fields (`depend`, `provides`, `replaces`, `install_if`, `triggers`) every distinct
 *   value, each split at `,` and trimmed;
 * - numbers are read as Go's `strconv.ParseInt(s, 0, 64)` (so `0x10` is 16) and a bad number is 0;
 * - a line that is neither blank, a comment, a section nor `key = value` is an error, and keys
 *   after a `[section]` line are not in the default section, so they are ignored.
 */
import { ProvenantError } from '../../errors.ts';

/** The fields of apko's PackageInfo. */
export interface ApkoPkgInfo {
  name: string;
  version: string;
  arch: string;
  description: string;
  license: string;
  origin: string;
  maintainer: string;
  url: string;
  depends: string[];
  provides: string[];
  installIf: string[];
  /** `size`: the installed size. */
  size: number;
  providerPriority: number;
  builddate: number;
  commit: string;
  replaces: string[];
  datahash: string;
  triggers: string[];
}

interface Key {
  value: string;
  /** Later distinct values (go-ini's shadows). */
  shadows: string[];
}

const IS_SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/u;
const trimLeft = (s: string): string => s.replace(IS_SPACE, '');
const trimRight = (s: string): string => s.replace(/[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/u, '');
const trim = (s: string): string => trimRight(trimLeft(s));

function surrounded(s: string, quote: string): boolean {
  return s.length >= 2 && s[0] === quote && s[s.length - 1] === quote && s.indexOf(quote, 1) === s.length - 1;
}

/**
 * Reads `.PKGINFO` text as go-ini does (see the module comment).
 *
 * @throws ProvenantError `INVALID_PACKAGE` naming the line, where apko's reading fails too
 */
export function parseApkoPkgInfo(text: string, where: string): ApkoPkgInfo {
  const lines = splitLines(text.replace(/^\uFEFF/, ''));
  const keys = new Map<string, Key>();
  let inDefault = true;
  const fail = (n: number, why: string): never => {
    throw new ProvenantError('INVALID_PACKAGE', `.PKGINFO line ${n + 1}: ${why}, which apko cannot read either`, {
      where: `${where}:${n + 1}`,
    });
  };
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] as string;
    const line = trimLeft(raw);
    if (line === '' || line[0] === '#' || line[0] === ';') continue;
    if (line[0] === '[') {
      if (line.lastIndexOf(']') < 0) fail(i, 'an unclosed section');
      inDefault = false;
      continue;
    }
    const read = readKey(line);
    if (read === undefined) fail(i, `no "=" or ":" in ${JSON.stringify(trimRight(line).slice(0, 80))}`);
    const { name, rest } = read as { name: string; rest: string };
    if (name === '') fail(i, 'an empty key');
    const value = readValue(rest, lines, i);
    i = value.last;
    if (!inDefault) continue;
    const key = keys.get(name);
    if (key === undefined) keys.set(name, { value: value.text, shadows: [] });
    else if (key.value !== value.text && !key.shadows.includes(value.text)) key.shadows.push(value.text);
  }
  const one = (k: string): string => keys.get(k)?.value ?? '';
  const list = (k: string): string[] => {
    const key = keys.get(k);
    if (key === undefined) return [];
    const values = key.shadows.length === 0 ? (key.value === '' ? [] : [key.value]) : [key.value, ...key.shadows];
    return values.flatMap((v) => v.split(',')).map(trim);
  };
  const int = (k: string, unsigned = false): number => goParseInt(one(k), unsigned);
  return {
    name: one('pkgname'),
    version: one('pkgver'),
    arch: one('arch'),
    description: one('pkgdesc'),
    license: one('license'),
    origin: one('origin'),
    maintainer: one('maintainer'),
    url: one('url'),
    depends: list('depend'),
    provides: list('provides'),
    installIf: list('install_if'),
    size: int('size', true),
    providerPriority: int('provider_priority', true),
    builddate: int('builddate'),
    commit: one('commit'),
    replaces: list('replaces'),
    datahash: one('datahash'),
    triggers: list('triggers'),
  };
}

/** Lines as bufio.ReadBytes('\n') gives them: each with its `\n`, the last without when the text has none. */
const splitLines = (text: string): string[] => text.match(/[^\n]*\n|[^\n]+$/g) ?? [];

/** go-ini's readKeyName with the delimiters `=` and `:`. */
function readKey(line: string): { name: string; rest: string } | undefined {
  let quote = '';
  if (line[0] === '"') quote = line.length > 6 && line.startsWith('"""') ? '"""' : '"';
  else if (line[0] === '`') quote = '`';
  if (quote !== '') {
    const pos = line.indexOf(quote, quote.length);
    if (pos < 0) return undefined;
    const after = line.slice(pos + quote.length);
    const d = after.search(/[=:]/);
    if (d < 0) return undefined;
    return { name: trim(line.slice(quote.length, pos)), rest: after.slice(d + 1) };
  }
  const d = line.search(/[=:]/);
  if (d < 0) return undefined;
  return { name: trim(line.slice(0, d)), rest: line.slice(d + 1) };
}

/** go-ini's readValue: the value and the index of the last line it used. */
function readValue(input: string, lines: readonly string[], at: number): { text: string; last: number } {
  const line = trimLeft(input);
  if (line === '') return { text: '', last: at };
  let quote = '';
  if (line.length > 3 && line.startsWith('"""')) quote = '"""';
  else if (line[0] === '`') quote = '`';
  if (quote !== '') {
    const pos = line.slice(quote.length).lastIndexOf(quote);
    if (pos >= 0) return { text: line.slice(quote.length, quote.length + pos), last: at };
    // Runs on to the line holding the closing quote.
    let value = line.slice(quote.length);
    for (let j = at + 1; j < lines.length; j++) {
      const next = lines[j] as string;
      const close = next.lastIndexOf(quote);
      if (close >= 0) return { text: value + next.slice(0, close), last: j };
      value += next;
    }
    throw new ProvenantError('INVALID_PACKAGE', `.PKGINFO: a value opened with ${quote} is never closed`);
  }
  let text = trim(line);
  if (text.endsWith('\\')) {
    // Continuation lines: appended trimmed until a blank line or one not ending in a backslash.
    text = text.slice(0, -1);
    let j = at;
    while (j + 1 < lines.length) {
      j++;
      const next = trim(lines[j] as string);
      if (next === '') break;
      text += next;
      if (!text.endsWith('\\')) break;
      text = text.slice(0, -1);
    }
    return { text, last: j };
  }
  const comment = text.search(/[#;]/);
  if (comment >= 0) text = trim(text.slice(0, comment));
  if (surrounded(text, "'") || surrounded(text, '"')) text = text.slice(1, -1);
  return { text, last: at };
}

/**
 * Go's strconv.ParseInt(s, 0, 64) (ParseUint for `unsigned`), with 0 for anything it refuses:
 * go-ini maps a number it cannot read to 0 rather than failing.
 */
export function goParseInt(s: string, unsigned = false): number {
  const m = /^([+-]?)(0[xX][0-9a-fA-F_]*|0[bB][01_]*|0[oO][0-7_]*|[0-9_]+)$/.exec(s);
  if (m === null || (unsigned && m[1] !== '') || !underscoreOk(m[2] as string)) return 0;
  const digits = (m[2] as string).replace(/_/g, '');
  let value: bigint;
  try {
    if (/^0[xXbBoO]/.test(digits)) value = BigInt(digits.length > 2 ? digits : 'x');
    else if (digits.length > 1 && digits[0] === '0') value = BigInt(`0o${digits.slice(1)}`);
    else value = BigInt(digits);
  } catch {
    return 0;
  }
  if (m[1] === '-') value = -value;
  const [min, max] = unsigned ? [0n, 0xffffffffffffffffn] : [-0x8000000000000000n, 0x7fffffffffffffffn];
  return value < min || value > max ? 0 : Number(value);
}

/** Go's underscoreOK: underscores only between digits, or after a base prefix. */
function underscoreOk(s: string): boolean {
  let saw = '^';
  let i = 0;
  const hex = /^0[xX]/.test(s);
  if (/^0[xXbBoO]/.test(s)) {
    i = 2;
    saw = '0';
  }
  for (; i < s.length; i++) {
    const c = s[i] as string;
    if (/[0-9]/.test(c) || (hex && /[a-fA-F]/.test(c))) {
      saw = '0';
      continue;
    }
    if (c === '_') {
      if (saw !== '0') return false;
      saw = '_';
      continue;
    }
    if (saw === '_') return false;
    saw = '!';
  }
  return saw !== '_';
}
