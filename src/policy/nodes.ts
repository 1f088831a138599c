/**
 * The YAML of a policy file, read with its places: the shared reader's nodes (../yaml.ts:
 * aliases followed with a limit on what they expand to, every mistake at its `file:line:col`
 * with its key path), with values typed by YAML's core schema as Kubernetes reads a
 * ClusterImagePolicy (`insecureIgnoreSCT: true` is a boolean, `maxPackageAgeDays: 90` a number).
 * Keys are checked against what each mapping takes; a key policy-controller has and Provenant
 * does not is refused with its own reason.
 */
import { type Document, isAlias, isMap, isScalar, isSeq, type LineCounter, type Scalar } from 'yaml';
import { ProvenantError } from '../errors.ts';
import {
  childPath,
  deref as derefAlias,
  type Entry,
  fail,
  isNull,
  locOf,
  scanDocument,
  suggest,
  type YamlContext,
  type YamlErrorFactory,
  type YNode,
} from '../yaml.ts';

export { childPath, type Entry, fail, isNull, type YNode };

/**
 * A plain value that starts with `*` is an alias in YAML: an unquoted `glob: *` (or `**`, or
 * `*` then `/*`) names no anchor. The hint says to quote it.
 */
export function quoteHint(value: string): string {
  return `a value that starts with * is a YAML alias: quote it (${JSON.stringify(value)})`;
}

/** Follows an alias to its anchored node (../yaml.ts), with {@link quoteHint} for one that names no anchor. */
export function deref(ctx: Ctx | YamlContext, node: unknown, path: string): YNode | undefined {
  if (isAlias(node) && ctx.aliases.get(node) === undefined) {
    fail(ctx, node, path, `the alias *${node.source} names no anchor defined before it`, quoteHint(`*${node.source}`));
  }
  return derefAlias(ctx, node, path);
}

/** One policy document being read. */
export interface Ctx extends YamlContext {
  readonly text: string;
  /** Where `key.secretRef.name` is looked up. */
  readonly baseDir: string;
  /** Which YAML document of the file this is, from 1. */
  readonly document: number;
}

/** Mistakes read `key.path: problem`, with the place as `where`. */
const policyError: YamlErrorFactory = (code, at, keyPath, problem, details) =>
  new ProvenantError(code, keyPath === '' ? problem : `${keyPath}: ${problem}`, {
    where: at.line === undefined ? at.file : `${at.file}:${at.line}:${at.column ?? 1}`,
    hint: details.hint,
    cause: details.cause,
  });

/** The context for reading the `document`th parsed document (from 1) of `file`. */
export function policyContext(
  file: string,
  text: string,
  doc: Document.Parsed,
  lines: LineCounter,
  baseDir: string,
  document: number,
): Ctx {
  const ctx: Ctx = { file, text, doc, lines, baseDir, document, locs: new Map(), aliases: new Map(), error: policyError };
  scanDocument(ctx, doc.contents);
  return ctx;
}

/** `file:line:col` of where `node` starts. */
export function whereOf(ctx: Ctx, node: { range?: readonly number[] | null | undefined } | undefined | null): string {
  const at = locOf(ctx, node);
  return `${at.file}:${at.line}:${at.column}`;
}

/** `file:line:col` of an offset in the text. */
export function at(ctx: Ctx, offset: number): string {
  const { line, col } = ctx.lines.linePos(offset);
  return `${ctx.file}:${line}:${col}`;
}

/** A value for a message: its kind, and a short text of a scalar. */
export function describe(node: YNode | undefined): string {
  if (isNull(node)) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  const v = (node as Scalar).value;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v)}`;
  return `${typeof v === 'number' ? 'the number' : typeof v === 'boolean' ? 'the boolean' : 'the value'} ${String(v)}`;
}

/** What a mapping may hold: known keys, and keys refused with a reason of their own. */
export interface MapSpec {
  known: readonly string[];
  /** Keys policy-controller has and Provenant does not: key → [why, what to do]. */
  unsupported?: Readonly<Record<string, readonly [string, string]>>;
}

/** A mapping's entries checked against `spec`: an unknown key is an error with a suggestion. */
export function fields(ctx: Ctx, node: YNode | undefined, path: string, spec: MapSpec, what: string): Map<string, Entry> {
  if (node === undefined || !isMap(node)) return fail(ctx, node, path, `expected ${what} (a mapping), got ${describe(node)}`);
  const out = new Map<string, Entry>();
  for (const pair of node.items) {
    const keyNode = deref(ctx, pair.key, path);
    if (keyNode === undefined || !isScalar(keyNode) || typeof keyNode.value !== 'string' || keyNode.value === '') {
      fail(ctx, keyNode ?? node, path, `a key must be a non-empty string, got ${describe(keyNode)}`);
    }
    const key = keyNode.value as string;
    const p = childPath(path, key);
    if (key === '<<') fail(ctx, keyNode, p, 'merge keys (<<) are not supported in policies');
    if (!spec.known.includes(key)) {
      const refused = spec.unsupported !== undefined && Object.hasOwn(spec.unsupported, key) ? spec.unsupported[key] : undefined;
      if (refused !== undefined) fail(ctx, keyNode, p, `${refused[0]}`, refused[1]);
      const guess = suggest(key, spec.known);
      fail(
        ctx,
        keyNode,
        p,
        `unknown field "${key}"${guess === undefined ? '' : ` (did you mean "${guess}"?)`}`,
        `${path === '' ? 'a policy document has' : `${path} has`}: ${spec.known.join(', ')}`,
      );
    }
    out.set(key, { key, keyNode, node: deref(ctx, pair.value, p), path: p });
  }
  return out;
}

/** A string field; null is absent, any other kind of value an error. */
export function str(ctx: Ctx, e: Entry | undefined): string | undefined {
  if (e === undefined || isNull(e.node)) return undefined;
  if (!isScalar(e.node) || typeof e.node.value !== 'string') return fail(ctx, e.node, e.path, `expected a string, got ${describe(e.node)}`);
  return e.node.value;
}

/** A string field that must be there and not empty. */
export function required(ctx: Ctx, e: Entry | undefined, parent: YNode, parentPath: string, key: string): string {
  const v = str(ctx, e);
  if (v === undefined || v === '') fail(ctx, e?.keyNode ?? parent, childPath(parentPath, key), `"${key}" is required`);
  return v;
}

/** A boolean field; null is absent. */
export function bool(ctx: Ctx, e: Entry | undefined): boolean | undefined {
  if (e === undefined || isNull(e.node)) return undefined;
  if (!isScalar(e.node) || typeof e.node.value !== 'boolean')
    return fail(ctx, e.node, e.path, `expected true or false, got ${describe(e.node)}`);
  return e.node.value;
}

/** A list's items with their key paths; null is an empty list. */
export function list(ctx: Ctx, e: Entry | undefined): { node: YNode | undefined; path: string }[] {
  if (e === undefined || isNull(e.node)) return [];
  if (!isSeq(e.node)) return fail(ctx, e.node, e.path, `expected a list, got ${describe(e.node)}`);
  return e.node.items.map((item, i) => ({ node: deref(ctx, item, `${e.path}[${i}]`), path: `${e.path}[${i}]` }));
}

/** A string that must be one of `choices`, with a suggestion when it is close to one. */
export function oneOf<T extends string>(ctx: Ctx, e: Entry, choices: readonly T[]): T {
  const v = str(ctx, e);
  if (v === undefined || !(choices as readonly string[]).includes(v)) {
    const guess = v === undefined ? undefined : suggest(v, choices);
    fail(
      ctx,
      e.node,
      e.path,
      `${v === undefined ? 'nothing' : JSON.stringify(v)} is not one of ${choices.join(', ')}${guess === undefined ? '' : ` (did you mean "${guess}"?)`}`,
    );
  }
  return v as T;
}

/** A mapping of strings (labels, annotations): checked, and not kept. */
export function stringMap(ctx: Ctx, e: Entry | undefined): void {
  if (e === undefined || isNull(e.node)) return;
  if (!isMap(e.node)) fail(ctx, e.node, e.path, `expected a mapping of strings, got ${describe(e.node)}`);
  for (const pair of e.node.items) {
    const k = deref(ctx, pair.key, e.path);
    const v = deref(ctx, pair.value, e.path);
    if (!isScalar(k) || typeof k.value !== 'string') fail(ctx, k ?? e.node, e.path, `a key must be a string, got ${describe(k)}`);
    if (!isNull(v) && (!isScalar(v) || typeof v!.value !== 'string'))
      fail(ctx, v, childPath(e.path, k.value as string), `expected a string, got ${describe(v)}`);
  }
}
