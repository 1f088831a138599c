import { type Document, isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, visit, type YAMLMap } from 'yaml';
import { ProvenantError } from '../errors.ts';
import { parseUses, type UsesContext, type UsesTarget } from './uses.ts';

/** How a `uses:` value is written in the YAML source. */
export type ScalarStyle = 'plain' | 'single' | 'double' | 'block';

/** One `uses:` value found in a workflow or action file, with where it is written. */
export interface UsesSite {
  /** The file as the caller named it, for messages. */
  readonly file: string;
  /** 1-based line and column of the value (not of the `uses:` key). */
  readonly line: number;
  readonly column: number;
  /** A step's `uses` (an action), or a job's `uses` (a reusable workflow). */
  readonly context: UsesContext;
  /** The value after YAML unquoting. */
  readonly value: string;
  readonly target: UsesTarget;
  readonly style: ScalarStyle;
  /** Offsets in the text of the scalar's source, quotes included, end exclusive. */
  readonly start: number;
  readonly end: number;
  /** The trailing comment on the line the value ends on, without its `#`; undefined when none. */
  readonly comment: string | undefined;
  /**
   * A comment can be added after the value: nothing but blanks or a comment follows it on its
   * line. (In a flow mapping such as `{uses: a/b@v1, with: ...}` a `#` would comment out the rest.)
   */
  readonly commentable: boolean;
  /**
   * The value is a YAML anchor's that an alias also uses where it is not a `uses:` value
   * (`env: {CHECKOUT: &co owner/repo@v1}` and `uses: *co`): rewriting it would change that too.
   */
  readonly shared: boolean;
}

/** What {@link scanUses} found in one file. */
export interface ScanResult {
  /** `workflow` (top-level `jobs`), `action` (top-level `runs`), or undefined for any other YAML. */
  readonly kind: 'workflow' | 'action' | undefined;
  /** In the order they appear in the text; a value shared through a YAML alias is listed once. */
  readonly sites: UsesSite[];
}

/**
 * Finds every `uses:` value of a GitHub workflow (`jobs.<id>.uses`, `jobs.<id>.steps[*].uses`)
 * or composite action (`runs.steps[*].uses`), with its position in `text`. Pure: no I/O.
 *
 * @param file - the name used in positions and errors.
 * @throws ProvenantError `INVALID_CONFIG` when the YAML does not parse or a walked node has the
 *   wrong shape, `INVALID_REFERENCE` when a `uses` value is not one GitHub accepts; both name
 *   `file:line:column`.
 */
export function scanUses(text: string, file: string): ScanResult {
  const lines = new LineCounter();
  let doc: Document;
  try {
    // failsafe: every scalar is a string, as `uses` values are; nothing is converted.
    doc = parseDocument(text, { lineCounter: lines, schema: 'failsafe', prettyErrors: false, uniqueKeys: true });
  } catch (err) {
    throw new ProvenantError('INVALID_CONFIG', `cannot parse the YAML: ${err instanceof Error ? err.message : String(err)}`, {
      where: file,
      cause: err,
    });
  }
  const at = (offset: number): string => {
    const { line, col } = lines.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  const syntax = doc.errors[0];
  if (syntax?.code === 'MULTIPLE_DOCS') {
    throw new ProvenantError('INVALID_CONFIG', 'a second YAML document starts here; a workflow or action file holds one', {
      where: at(syntax.pos[0]),
      hint: 'remove the --- line that starts it, or move it to a file of its own',
      cause: syntax,
    });
  }
  if (syntax !== undefined) {
    throw new ProvenantError('INVALID_CONFIG', `invalid YAML: ${syntax.message.split('\n')[0]}`, {
      where: at(syntax.pos[0]),
      cause: syntax,
    });
  }
  const walker = new Walker(doc, text, file, lines, at);
  const root = walker.deref(doc.contents);
  if (!isMap(root)) return { kind: undefined, sites: [] };
  const jobs = walker.get(root, 'jobs');
  if (jobs !== undefined) {
    const jobMap = walker.map(jobs, 'jobs');
    for (const pair of jobMap.items) {
      const job = walker.map(pair.value as Node | null, 'a job');
      const uses = walker.get(job, 'uses');
      if (uses !== undefined) walker.site(uses, 'job');
      const steps = walker.get(job, 'steps');
      if (steps !== undefined) walker.steps(steps);
    }
    return { kind: 'workflow', sites: walker.sorted() };
  }
  const runs = walker.get(root, 'runs');
  if (runs !== undefined) {
    const steps = walker.get(walker.map(runs, 'runs'), 'steps');
    if (steps !== undefined) walker.steps(steps);
    return { kind: 'action', sites: walker.sorted() };
  }
  return { kind: undefined, sites: [] };
}

class Walker {
  readonly #doc: Document;
  readonly #text: string;
  readonly #file: string;
  readonly #lines: LineCounter;
  readonly #at: (offset: number) => string;
  // Keyed by source offset: a value shared through an alias is one place in the text.
  /** Each site by its start offset, with the node it was read from (for {@link sorted}'s count of the ways to it). */
  readonly #sites = new Map<number, { site: Omit<UsesSite, 'shared'>; node: Node }>();
  // How many times each value was reached as a `uses:` value (once per alias it is reached through).
  readonly #visits = new Map<Node, number>();

  constructor(doc: Document, text: string, file: string, lines: LineCounter, at: (offset: number) => string) {
    this.#doc = doc;
    this.#text = text;
    this.#file = file;
    this.#lines = lines;
    this.#at = at;
  }

  /** Follows an alias to its anchored node; walking goes through fixed paths, so aliases cannot make it explode. */
  deref(node: Node | null | undefined): Node | null | undefined {
    return isAlias(node) ? (node.resolve(this.#doc) as Node | undefined) : node;
  }

  get(map: YAMLMap, key: string): Node | undefined {
    for (const pair of map.items) {
      const k = this.deref(pair.key as Node | null);
      if (isScalar(k) && k.value === key) {
        const v = this.deref(pair.value as Node | null);
        // `key:` with nothing after it: an empty scalar, which the callers treat as a wrong shape.
        return v ?? undefined;
      }
    }
    return undefined;
  }

  map(node: Node | null | undefined, what: string): YAMLMap {
    const n = this.deref(node);
    if (!isMap(n)) throw this.#shape(n, `${what} must be a mapping`);
    return n;
  }

  steps(node: Node): void {
    if (!isSeq(node)) throw this.#shape(node, 'steps must be a sequence');
    for (const item of node.items) {
      const step = this.map(item as Node | null, 'a step');
      const uses = this.get(step, 'uses');
      if (uses !== undefined) this.site(uses, 'step');
    }
  }

  site(node: Node, context: UsesContext): void {
    if (!isScalar(node) || typeof node.value !== 'string' || node.range === undefined || node.range === null) {
      throw this.#shape(node, 'uses must be a string');
    }
    const [start, end] = node.range;
    this.#visits.set(node, (this.#visits.get(node) ?? 0) + 1);
    if (this.#sites.has(start)) return;
    const value = node.value;
    let target: UsesTarget;
    try {
      target = parseUses(value, context);
    } catch (err) {
      if (err instanceof ProvenantError) {
        throw new ProvenantError(err.code, err.message, { where: this.#at(start), hint: err.hint, cause: err });
      }
      throw err;
    }
    const style: ScalarStyle =
      node.type === 'QUOTE_SINGLE' ? 'single' : node.type === 'QUOTE_DOUBLE' ? 'double' : node.type === 'PLAIN' ? 'plain' : 'block';
    const { line, col } = this.#lines.linePos(start);
    // A block scalar's source runs to the start of the next line: it has no trailing comment.
    const { comment, commentable } = style === 'block' ? { comment: undefined, commentable: false } : trailing(this.#text, end);
    this.#sites.set(start, {
      site: { file: this.#file, line, column: col, context, value, target, style, start, end, comment, commentable },
      node,
    });
  }

  sorted(): UsesSite[] {
    const reached = pathCounts(this.#doc);
    return [...this.#sites.values()]
      .map(({ site, node }) => ({ ...site, shared: (this.#visits.get(node) ?? 0) < reached(node) }))
      .sort((a, b) => a.start - b.start);
  }

  #shape(node: Node | null | undefined, message: string): ProvenantError {
    const offset = node?.range?.[0];
    return new ProvenantError('INVALID_CONFIG', message, { where: offset === undefined ? this.#file : this.#at(offset) });
  }
}

/**
 * How many ways a node is reached from the document's root with aliases followed: through its
 * place in the tree, plus through each alias of it (or of a collection holding it). A `uses:`
 * value reached more ways than the walk reached it as a `uses:` value is shared with something
 * else. Memoized, so aliases of aliases cannot make it explode; a node inside its own anchor
 * counts as reached without end.
 */
function pathCounts(doc: Document): (node: Node) => number {
  const parent = new Map<unknown, unknown>();
  const aliases = new Map<unknown, unknown[]>();
  visit(doc, (_key, node, path) => {
    parent.set(node, path[path.length - 1]);
    if (isAlias(node)) {
      const target = node.resolve(doc);
      if (target !== undefined) aliases.set(target, [...(aliases.get(target) ?? []), node]);
    }
  });
  const memo = new Map<unknown, number>();
  const count = (n: unknown): number => {
    if (n === doc) return 1;
    const known = memo.get(n);
    if (known !== undefined) return known;
    memo.set(n, Number.POSITIVE_INFINITY);
    const p = parent.get(n);
    let c = p === undefined ? 0 : count(p);
    for (const a of aliases.get(n) ?? []) c += count(a);
    memo.set(n, c);
    return c;
  };
  return count;
}

/** The rest of the line after `end`: a comment, blanks only, or something else (flow syntax). */
function trailing(text: string, end: number): { comment: string | undefined; commentable: boolean } {
  let eol = text.indexOf('\n', end);
  if (eol < 0) eol = text.length;
  let rest = text.slice(end, eol);
  if (rest.endsWith('\r')) rest = rest.slice(0, -1);
  const m = /^[ \t]*(?:#(.*))?$/.exec(rest);
  if (m === null) return { comment: undefined, commentable: false };
  return { comment: m[1], commentable: true };
}
