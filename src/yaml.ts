/**
 * Reading YAML configuration files with positions, so that every mistake is reported at its
 * `file:line:column` with the key path (`contents.packages[2]`): the reader the image
 * configuration (builder/config-schema.ts) and the apk package spec (pkg/apk/spec.ts) share.
 *
 * Documents are parsed with the YAML failsafe schema, so every scalar arrives as its text and
 * the caller decides what is a number, a boolean or a null, the way the Go YAML library apko
 * decodes with (gopkg.in/yaml.v3) reads a typed field: {@link integer} takes Go's integer
 * syntax, {@link boolean} YAML 1.1's yes/no/on/off as well. Aliases are followed with a limit on
 * the values they expand to, and merge keys (`<<: *anchor`) are expanded as yaml.v3 does.
 *
 * The text may come from outside (`reproduce` reads the config a provenance holds), so every step
 * is linear in its size: a text over {@link MAX_YAML_BYTES} is refused before it is parsed, and
 * anchors and duplicate keys are found in one pass over the document (the YAML library's own
 * `Alias.resolve` walks the whole document per alias, and its `uniqueKeys` compares every key of a
 * mapping with every other: 8,000 aliases took 34 s, a mapping of 32,000 keys 10 s).
 */
import {
  type Alias,
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Scalar,
  type YAMLMap,
  type YAMLSeq,
} from 'yaml';
import { type ErrorCode, ProvenantError } from './errors.ts';

/** A place in a config file; line and column count from 1. */
export interface ConfigLocation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/**
 * A mistake in a config file. The message reads `file:line:column: key.path: problem`; the
 * parts are also fields. `where` is left empty because the message already holds the place.
 */
export class ConfigError extends ProvenantError {
  readonly file: string;
  /** 1-based; absent when the problem is the file as a whole (unreadable, not UTF-8). */
  readonly line: number | undefined;
  readonly column: number | undefined;
  /** The YAML key path (`contents.packages[2]`), or "" for the whole file. */
  readonly keyPath: string;

  constructor(
    code: ErrorCode,
    at: { file: string; line?: number | undefined; column?: number | undefined },
    keyPath: string,
    problem: string,
    details: { hint?: string | undefined; cause?: unknown } = {},
  ) {
    const place = at.line === undefined ? at.file : `${at.file}:${at.line}:${at.column ?? 1}`;
    super(code, `${place}: ${keyPath === '' ? '' : `${keyPath}: `}${problem}`, details);
    this.name = 'ConfigError';
    this.file = at.file;
    this.line = at.line;
    this.column = at.column;
    this.keyPath = keyPath;
  }
}

/** Makes the error for a mistake at a place; {@link ConfigError} unless the caller words its own. */
export type YamlErrorFactory = (
  code: ErrorCode,
  at: { file: string; line?: number | undefined; column?: number | undefined },
  keyPath: string,
  problem: string,
  details: { hint?: string | undefined; cause?: unknown },
) => ProvenantError;

/** Which keys a mapping takes, for {@link fields}. */
export interface MapSpec {
  /** The keys this mapping takes, spelled as in apko's yaml tags. */
  readonly known: readonly string[];
  /** Keys apko has that Provenant refuses, with the reason. */
  readonly unsupported?: Readonly<Record<string, string>>;
  /** Keys that belong somewhere else, with that place. */
  readonly misplaced?: Readonly<Record<string, string>>;
}

/** A YAML file that expands (through aliases) to more nodes than this is refused. */
const MAX_NODES = 200_000;

/**
 * The largest YAML text read, in UTF-8 bytes: 1 MiB, a hundred times apko's largest configs.
 * Parsing is linear, but a text is held whole and parsed into a tree several times its size.
 */
export const MAX_YAML_BYTES = 1 << 20;

/** A node after aliases are followed. */
export type YNode = Scalar | YAMLMap | YAMLSeq;

/** One document being read: its text's lines, and where each key path was written. */
export interface YamlContext {
  readonly file: string;
  readonly doc: Document;
  readonly lines: LineCounter;
  /** Where each value read so far was written, by key path (see {@link note}). */
  readonly locs: Map<string, ConfigLocation>;
  /** Each alias's anchored node (undefined: no anchor of that name before it), found by {@link scanDocument}. */
  readonly aliases: Map<Alias, YNode | undefined>;
  readonly error: YamlErrorFactory;
}

/** Options of {@link readYaml}. */
export interface ReadYamlOptions {
  /** How mistakes are reported; a {@link ConfigError} by default. */
  error?: YamlErrorFactory | undefined;
}

/**
 * Parses a document's text for reading with the functions here (keys unique, every scalar as
 * text). Throws (INVALID_CONFIG, at the place) for a syntax error, a duplicate key, an alias
 * with no anchor before it or inside the node it names, a document that expands to more than
 * 200,000 values through aliases, and a text over {@link MAX_YAML_BYTES}.
 */
export function readYaml(text: string, file: string, options: ReadYamlOptions = {}): { ctx: YamlContext; root: YNode | undefined } {
  const error: YamlErrorFactory =
    options.error ?? ((code, at, keyPath, problem, details) => new ConfigError(code, at, keyPath, problem, details));
  // Each UTF-16 unit is at most 3 bytes, so most texts are decided without counting.
  if (text.length > MAX_YAML_BYTES || (text.length * 3 > MAX_YAML_BYTES && Buffer.byteLength(text, 'utf8') > MAX_YAML_BYTES)) {
    throw error('INVALID_CONFIG', { file }, '', `the file is larger than ${MAX_YAML_BYTES / 1024 / 1024} MiB; refusing it`, {
      hint: 'a configuration this large is not one a person wrote; check that the path names the right file',
    });
  }
  const lines = new LineCounter();
  let doc: Document;
  try {
    // uniqueKeys is checked by scanDocument, in one pass: the library's check is quadratic per mapping.
    doc = parseDocument(text, { lineCounter: lines, schema: 'failsafe', prettyErrors: false, uniqueKeys: false });
  } catch (err) {
    // The YAML library reports its own limits as errors in the document; this is a safety net.
    throw error('INVALID_CONFIG', { file }, '', `cannot parse the YAML: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  const ctx: YamlContext = { file, doc, lines, locs: new Map(), aliases: new Map(), error };
  const syntax = doc.errors[0];
  if (syntax !== undefined) {
    throw error('INVALID_CONFIG', locate(ctx, syntax.pos[0]), '', `invalid YAML: ${syntax.message.split('\n')[0]}`, { cause: syntax });
  }
  scanDocument(ctx, doc.contents);
  return { ctx, root: deref(ctx, doc.contents, '') };
}

/**
 * One pass over the document in its order: resolves each alias to the last node anchored with
 * its name before it (as YAML and the library's `Alias.resolve` do), refuses a duplicate key,
 * and counts the values the document expands to, refusing it at the alias that takes it past
 * {@link MAX_NODES}. {@link deref} follows aliases as this resolved them, so a context made
 * without {@link readYaml} must be scanned first. The recursion is as deep as the text nests,
 * which the parser has bounded.
 */
export function scanDocument(ctx: YamlContext, root: unknown): void {
  const anchors = new Map<string, YNode>();
  /** The expanded size of each node walked, so that an alias costs a lookup. */
  const sizes = new Map<YNode, number>();
  const open = new Set<YNode>();
  let lastAlias: Alias | undefined;
  const tooBig = (node: YNode): never => {
    if (lastAlias === undefined) return fail(ctx, node, '', `the document has more than ${MAX_NODES} values; refusing it`);
    return fail(ctx, lastAlias, '', `the alias *${lastAlias.source} expands the document to more than ${MAX_NODES} values; refusing it`);
  };
  const walk = (node: unknown): number => {
    if (node === null || node === undefined) return 0;
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      ctx.aliases.set(node, target);
      lastAlias = node;
      if (target === undefined) return 1; // deref reports it where it is read
      if (open.has(target)) fail(ctx, node, '', `the alias *${node.source} is inside the node it names, so it never ends`);
      return sizes.get(target) ?? 1;
    }
    if (!isScalar(node) && !isMap(node) && !isSeq(node)) return 1; // deref reports it where it is read
    // An anchor names its node from where it is written: an alias inside the node sees it.
    if (node.anchor !== undefined) anchors.set(node.anchor, node);
    let size = 1;
    if (isMap(node)) {
      open.add(node);
      // Keys compare by value, as the library's uniqueKeys does (under the core schema 1 is not "1").
      const keys = new Map<unknown, Scalar>();
      for (const pair of node.items) {
        const key = pair.key;
        if (isScalar(key) && key.value !== null && key.value !== undefined) {
          const first = keys.get(key.value);
          if (first !== undefined) {
            const at = locOf(ctx, first);
            fail(ctx, key, '', `invalid YAML: Map keys must be unique ("${String(key.value)}" is also at line ${at.line})`);
          }
          keys.set(key.value, key);
        }
        size += walk(key) + walk(pair.value);
        if (size > MAX_NODES) tooBig(node);
      }
      open.delete(node);
    } else if (isSeq(node)) {
      open.add(node);
      for (const item of node.items) {
        size += walk(item);
        if (size > MAX_NODES) tooBig(node);
      }
      open.delete(node);
    }
    sizes.set(node, size);
    return size;
  };
  walk(root);
}

/** The place of an offset in the text. */
function locate(ctx: YamlContext, offset: number): ConfigLocation {
  const { line, col } = ctx.lines.linePos(offset);
  return { file: ctx.file, line, column: col };
}

/** The place where a node starts (the document's start for none). */
export function locOf(ctx: YamlContext, node: { range?: readonly number[] | null | undefined } | undefined | null): ConfigLocation {
  return locate(ctx, node?.range?.[0] ?? 0);
}

/** Throws the context's error for a mistake at `node`. */
export function fail(ctx: YamlContext, node: YNode | Alias | undefined | null, path: string, problem: string, hint?: string): never {
  throw ctx.error('INVALID_CONFIG', locOf(ctx, node), path, problem, { hint });
}

/** The key path of `key` under `parent`: `a.b`, or `a["b.c"]` for a key that is not a plain word. */
export function childPath(parent: string, key: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) return parent === '' ? key : `${parent}.${key}`;
  return `${parent}[${JSON.stringify(key)}]`;
}

/** The key path of a list item: `a[2]`. */
function itemPath(parent: string, index: number): string {
  return `${parent}[${index}]`;
}

/** Follows an alias to its anchored node, as {@link scanDocument} resolved it. */
export function deref(ctx: YamlContext, node: unknown, path: string): YNode | undefined {
  if (node === null || node === undefined) return undefined;
  if (isAlias(node)) {
    const target = ctx.aliases.get(node);
    if (target === undefined) fail(ctx, node, path, `the alias *${node.source} names no anchor defined before it`);
    return target;
  }
  if (isScalar(node) || isMap(node) || isSeq(node)) return node;
  return fail(ctx, undefined, path, 'this YAML node is not supported here');
}

const NULLS = new Set(['', '~', 'null', 'Null', 'NULL']);

/** True for a missing value or a YAML null (`key:`, `~`, `null`). */
export function isNull(node: YNode | undefined): boolean {
  return node === undefined || (isScalar(node) && (node.value === null || (node.type === 'PLAIN' && NULLS.has(String(node.value)))));
}

export function describe(node: YNode | undefined): string {
  if (node === undefined) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  const text = String(node.value);
  return isNull(node) ? 'nothing' : JSON.stringify(text.length > 40 ? `${text.slice(0, 37)}...` : text);
}

/**
 * Records where `path` was written: a scalar at its value, a mapping, a list or an empty value
 * at its key (`key`), which is the line a person looks for.
 */
export function note(
  ctx: YamlContext,
  path: string,
  node: YNode | undefined,
  key?: { range?: readonly number[] | null | undefined },
): void {
  const atKey = key !== undefined && (node === undefined || !isScalar(node) || isNull(node));
  ctx.locs.set(path, locOf(ctx, atKey ? key : node));
}

/** One key of a mapping, with its value and key path. */
export interface Entry {
  key: string;
  keyNode: Scalar;
  node: YNode | undefined;
  path: string;
}

/**
 * A mapping's entries, with YAML merge keys (`<<: *anchor`) expanded as yaml.v3 does: keys
 * written in the mapping win over merged ones, and earlier merged mappings over later ones.
 */
export function entries(ctx: YamlContext, node: YNode | undefined, path: string, what: string, seen: Set<YAMLMap> = new Set()): Entry[] {
  if (isNull(node)) return [];
  if (!isMap(node)) return fail(ctx, node, path, `expected ${what} (a mapping), got ${describe(node)}`);
  if (seen.has(node)) return fail(ctx, node, path, 'a merge key (<<) includes the mapping it is in');
  seen.add(node);
  const own: Entry[] = [];
  const merged: Entry[] = [];
  for (const pair of node.items) {
    const keyNode = deref(ctx, pair.key, path);
    if (keyNode === undefined || !isScalar(keyNode) || isNull(keyNode)) {
      fail(ctx, keyNode ?? node, path, `a key must be a non-empty string, got ${describe(keyNode)}`);
    }
    const key = String(keyNode.value);
    const value = deref(ctx, pair.value, childPath(path, key));
    if (key === '<<' && keyNode.type === 'PLAIN') {
      const sources = value !== undefined && isSeq(value) ? value.items.map((n) => deref(ctx, n, path)) : [value];
      for (const source of sources) merged.push(...entries(ctx, source, path, 'a mapping to merge', seen));
      continue;
    }
    own.push({ key, keyNode, node: value, path: childPath(path, key) });
  }
  seen.delete(node);
  const out = [...own];
  const taken = new Set(own.map((e) => e.key));
  for (const e of merged) {
    if (!taken.has(e.key)) {
      taken.add(e.key);
      out.push(e);
    }
  }
  return out;
}

/** A mapping checked against its spec, by key. Unknown keys are errors with a suggestion. */
export function fields(ctx: YamlContext, node: YNode | undefined, path: string, spec: MapSpec, what: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  if (node !== undefined && !ctx.locs.has(path === '' ? '.' : path)) note(ctx, path === '' ? '.' : path, node);
  for (const e of entries(ctx, node, path, what)) {
    if (!spec.known.includes(e.key)) {
      const reason = spec.unsupported !== undefined && Object.hasOwn(spec.unsupported, e.key) ? spec.unsupported[e.key] : undefined;
      if (reason !== undefined) fail(ctx, e.keyNode, e.path, reason, 'remove the key, or build this image with apko');
      const place = spec.misplaced !== undefined && Object.hasOwn(spec.misplaced, e.key) ? spec.misplaced[e.key] : undefined;
      const guess = place ?? suggest(e.key, spec.known);
      fail(
        ctx,
        e.keyNode,
        e.path,
        `unknown key "${e.key}"${guess === undefined ? '' : ` (did you mean "${guess}"?)`}`,
        `${what === 'the configuration' ? 'top-level keys' : `keys of ${path}`}: ${spec.known.join(', ')}`,
      );
    }
    out.set(e.key, e);
  }
  return out;
}

/** A scalar's text, or undefined for a null; `what` names the expected type in the error. */
export function scalarText(ctx: YamlContext, node: YNode | undefined, path: string, what = 'a string'): string | undefined {
  if (isNull(node)) return undefined;
  if (!isScalar(node)) return fail(ctx, node, path, `expected ${what}, got ${describe(node)}`);
  return String(node.value);
}

/** An optional string field: null and "" are absent, as they are to apko. */
export function optString(ctx: YamlContext, e: Entry | undefined): string | undefined {
  if (e === undefined) return undefined;
  note(ctx, e.path, e.node, e.keyNode);
  const text = scalarText(ctx, e.node, e.path);
  return text === '' ? undefined : text;
}

/** A required, non-empty string field of the mapping `parent`. */
export function reqString(ctx: YamlContext, e: Entry | undefined, parent: YNode | undefined, parentPath: string, key: string): string {
  const text = optString(ctx, e);
  if (text === undefined) {
    return e === undefined
      ? fail(ctx, parent, parentPath, `"${key}" is required`)
      : fail(ctx, e.node ?? e.keyNode, e.path, 'expected a non-empty string');
  }
  return text;
}

/** A list's items with their key paths; null is an empty list. */
export function list(ctx: YamlContext, e: Entry | undefined, what: string): { node: YNode | undefined; path: string }[] {
  if (e === undefined) return [];
  note(ctx, e.path, e.node, e.keyNode);
  if (isNull(e.node)) return [];
  if (!isSeq(e.node)) return fail(ctx, e.node, e.path, `expected a list of ${what}, got ${describe(e.node)}`);
  return e.node.items.map((item, i) => {
    const path = itemPath(e.path, i);
    const node = deref(ctx, item, path);
    ctx.locs.set(path, locOf(ctx, node ?? e.node));
    return { node, path };
  });
}

/** A list of non-empty strings. */
export function stringList(ctx: YamlContext, e: Entry | undefined): string[] {
  return list(ctx, e, 'strings').map(({ node, path }) => {
    const text = scalarText(ctx, node, path);
    if (text === undefined || text === '') fail(ctx, node, path, `expected a non-empty string, got ${describe(node)}`);
    return text;
  });
}

/** A mapping of strings to strings; a null value is "", as in apko (yaml.v3 into map[string]string). */
export function stringMap(ctx: YamlContext, e: Entry | undefined, check?: (key: string, at: Entry) => void): Map<string, string> {
  const out = new Map<string, string>();
  if (e === undefined) return out;
  note(ctx, e.path, e.node, e.keyNode);
  for (const item of entries(ctx, e.node, e.path, `"${e.key}"`)) {
    check?.(item.key, item);
    note(ctx, item.path, item.node, item.keyNode);
    out.set(item.key, scalarText(ctx, item.node, item.path) ?? '');
  }
  return out;
}

/**
 * An integer written the way yaml.v3 and Go's strconv.ParseInt(s, 0, 64) read it: underscores
 * ignored, `0x`/`0o`/`0b` prefixes, and a leading 0 meaning octal (YAML 1.1, so `0755` is 493).
 * Unlike apko, `0999` is an error rather than the float 999, and a quoted number is an error (as
 * it is in apko: yaml.v3 does not decode a string into an integer).
 */
export function integer(ctx: YamlContext, e: Entry, min: number, max: number): number | undefined {
  note(ctx, e.path, e.node, e.keyNode);
  const node = e.node;
  if (isNull(node)) return undefined;
  if (!isScalar(node)) return fail(ctx, node, e.path, `expected an integer, got ${describe(node)}`);
  const raw = String(node.value);
  if (node.type !== 'PLAIN') {
    return fail(ctx, node, e.path, `expected an integer, got the quoted string ${JSON.stringify(raw)}`, 'write the number without quotes');
  }
  const m = /^([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|[0-9]+)$/.exec(raw.replaceAll('_', ''));
  if (m === null) return fail(ctx, node, e.path, `expected an integer, got ${describe(node)}`);
  const digits = m[2]!;
  let value: number;
  if (/^0[xXoObB]/.test(digits)) {
    const base = { x: 16, o: 8, b: 2 }[digits[1]!.toLowerCase() as 'x' | 'o' | 'b'];
    value = Number.parseInt(digits.slice(2), base);
  } else if (digits.length > 1 && digits.startsWith('0')) {
    if (/[89]/.test(digits)) {
      return fail(
        ctx,
        node,
        e.path,
        `${raw} is not an octal number (a leading 0 means octal)`,
        'drop the leading 0 for a decimal number; octal digits are 0 to 7',
      );
    }
    value = Number.parseInt(digits, 8);
  } else {
    value = Number.parseInt(digits, 10);
  }
  if (m[1] === '-') value = -value;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === 0o7777 ? '0 to 0o7777' : `${min} to ${max}`;
    return fail(ctx, node, e.path, `${raw} is out of range (${range})`);
  }
  return value;
}

const TRUE = new Set(['true', 'True', 'TRUE', 'y', 'Y', 'yes', 'Yes', 'YES', 'on', 'On', 'ON']);
const FALSE = new Set(['false', 'False', 'FALSE', 'n', 'N', 'no', 'No', 'NO', 'off', 'Off', 'OFF']);

/** A boolean: YAML's true/false and, as yaml.v3 accepts them for a bool field, YAML 1.1's yes/no/on/off. */
export function boolean(ctx: YamlContext, e: Entry | undefined): boolean {
  if (e === undefined) return false;
  note(ctx, e.path, e.node, e.keyNode);
  const text = scalarText(ctx, e.node, e.path, 'true or false');
  if (text === undefined) return false;
  if (TRUE.has(text)) return true;
  if (FALSE.has(text)) return false;
  return fail(ctx, e.node, e.path, `expected true or false, got ${describe(e.node)}`);
}

/** One of a fixed set of words, with a suggestion when it is close to one. */
export function oneOf<T extends string>(ctx: YamlContext, e: Entry, text: string, choices: readonly T[]): T {
  if ((choices as readonly string[]).includes(text)) return text as T;
  const guess = suggest(text, choices);
  return fail(
    ctx,
    e.node,
    e.path,
    `"${text}" is not one of ${choices.join(', ')}${guess === undefined ? '' : ` (did you mean "${guess}"?)`}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Suggestions
// ---------------------------------------------------------------------------------------------

/** Edit distance where swapping two neighbours counts as one edit (optimal string alignment). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 0; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The known words closest to `word`, if they are close enough to be a typo (`-`, `_` and case
 * ignored): one word, or every word that ties for closest (`azure` is cut short from azure-aci,
 * azure-acr and azure-functions alike), in `known`'s order; empty for none.
 */
export function suggestions(word: string, known: readonly string[]): string[] {
  const fold = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  const scored = [...new Set(known)].map((candidate) => {
    const [w, c] = [fold(word), fold(candidate)];
    // A key cut short (home for homedir) is as close as a typo.
    const prefix = Math.min(w.length, c.length) >= 4 && (w.startsWith(c) || c.startsWith(w));
    const edits = distance(word.toLowerCase(), candidate.toLowerCase());
    // A word that runs on past a candidate (insecure-ignore-tlg past insecure) is near it only
    // as words go on: a candidate a real edit as near (insecure-ignore-tlog) is the likelier.
    const runsOn = w !== c && w.startsWith(c) && edits > 1;
    return { candidate, score: w === c ? 0 : prefix ? Math.min(1, edits) : edits, runsOn };
  });
  const best = Math.min(...scored.map((s) => s.score));
  const close = scored.filter((s) => s.score === best && s.score <= Math.max(1, Math.floor(Math.min(word.length, s.candidate.length) / 3)));
  const edited = close.filter((s) => !s.runsOn);
  return (edited.length > 0 ? edited : close).map((s) => s.candidate);
}

/**
 * The known word closest to `word`, if one is close enough to be a typo and no other is as
 * close: of words that tie, taking the first would guess at random (azure is cut short of
 * azure-aci, azure-acr and azure-functions alike), so a tie suggests none. Use
 * {@link suggestions} to name them all.
 */
export function suggest(word: string, known: readonly string[]): string | undefined {
  const close = suggestions(word, known);
  return close.length === 1 ? close[0] : undefined;
}
