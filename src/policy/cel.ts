/**
 * Conditions on attestations in CEL (https://cel.dev), evaluated by @bufbuild/cel. An expression
 * sees the verified in-toto statement the way policy-controller's CUE and Rego policies see it
 * (the whole statement is their input): its fields as variables, `predicateType`, `predicate`,
 * `subject` (the list of `{name, digest}`), plus `statement` (the whole statement, for `_type`)
 * and `now` (a timestamp: the evaluation's time). It must evaluate to a bool; anything else, and
 * every evaluation error (a missing field, a type mismatch), fails the condition with CEL's
 * message. Regular expressions (`matches`) are RE2, as in Go.
 */
import { type CelInput, celEnv, isCelError, parse, plan } from '@bufbuild/cel';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';

type Expr = ReturnType<typeof parse>['expr'];

/** The variables a condition may name. */
export const CEL_VARIABLES = ['predicateType', 'predicate', 'subject', 'statement', 'now'] as const;

// Type names are identifiers in CEL too (`type(x) == string`).
const TYPE_NAMES = new Set(['int', 'uint', 'double', 'bool', 'string', 'bytes', 'list', 'map', 'null_type', 'type', 'dyn']);

/** A compiled condition. */
export interface CelProgram {
  expression: string;
  run(input: CelInput): { value: boolean } | { error: string };
}

/** Why an expression does not compile: the message, and its 1-based line and column in the expression when known. */
export interface CelCompileError {
  message: string;
  line?: number;
  column?: number;
}

const env = celEnv();

/**
 * Parses `expression` and checks that it names only the variables above, so that a typo fails
 * when the policy is loaded rather than when an image is checked.
 */
export function compileCel(expression: string): CelProgram | CelCompileError {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(expression);
  } catch (err) {
    const e = err as { rawMessage?: unknown; message?: unknown; location?: { start?: { line?: number; column?: number } } };
    const message = typeof e.rawMessage === 'string' ? e.rawMessage : String(e.message ?? err);
    const start = e.location?.start;
    const out: CelCompileError = { message: message.replace(/^<input>:\d+:\d+: /, '') };
    if (typeof start?.line === 'number') out.line = start.line;
    if (typeof start?.column === 'number') out.column = start.column;
    return out;
  }
  const unknown = freeVariables(parsed.expr).filter((v) => !(CEL_VARIABLES as readonly string[]).includes(v) && !TYPE_NAMES.has(v));
  if (unknown.length > 0) {
    return {
      message: `unknown variable ${unknown.map((v) => JSON.stringify(v)).join(', ')}; a condition sees ${CEL_VARIABLES.join(', ')}`,
    };
  }
  let program: ReturnType<typeof plan>;
  try {
    program = plan(env, parsed);
  } catch (err) {
    return { message: err instanceof Error ? err.message : String(err) };
  }
  return {
    expression,
    run(input) {
      let result: unknown;
      try {
        result = program(input as Record<string, CelInput>);
      } catch (err) {
        // @bufbuild/cel returns its errors; a throw is a bug of its own, reported the same way.
        return { error: err instanceof Error ? err.message : String(err) };
      }
      if (isCelError(result)) return { error: result.message };
      if (typeof result !== 'boolean') return { error: `the condition evaluates to ${describeValue(result)}, not to true or false` };
      return { value: result };
    },
  };
}

/** The variables of a condition for one statement. */
export function celInput(
  statement: { type: string; predicateType: string; subjects: unknown[]; predicate: unknown },
  now: Date,
): Record<string, unknown> {
  const predicate = celValue(statement.predicate ?? null);
  const subject = celValue(statement.subjects);
  return {
    predicateType: statement.predicateType,
    predicate,
    subject,
    statement: new Map<string, unknown>([
      ['_type', statement.type],
      ['predicateType', statement.predicateType],
      ['subject', subject],
      ['predicate', predicate],
    ]),
    now: timestampFromDate(now),
  };
}

/**
 * A JSON value as CEL reads it: every object a Map, recursively. @bufbuild/cel takes a plain
 * object for a map only when its `constructor.name` is "Object", which a JSON key named
 * `constructor` (an own property: `{"constructor": "x"}`) changes, and the whole input is then
 * refused. A Map has no such keys of its own: `constructor` and `__proto__` are keys like others.
 */
function celValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(celValue);
  if (typeof v !== 'object' || v === null) return v;
  return new Map(Object.entries(v).map(([k, x]) => [k, celValue(x)]));
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return `a string (${JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v)})`;
  if (typeof v === 'number' || typeof v === 'bigint') return `a number (${String(v)})`;
  return 'a value that is not a bool';
}

/** Identifiers an expression reads that no comprehension binds. */
function freeVariables(root: Expr): string[] {
  const out = new Set<string>();
  const walk = (e: Expr | undefined, bound: ReadonlySet<string>): void => {
    if (e === undefined) return;
    const k = e.exprKind;
    switch (k.case) {
      case 'identExpr':
        if (!bound.has(k.value.name)) out.add(k.value.name);
        return;
      case 'selectExpr':
        walk(k.value.operand, bound);
        return;
      case 'callExpr':
        walk(k.value.target, bound);
        for (const a of k.value.args) walk(a, bound);
        return;
      case 'listExpr':
        for (const a of k.value.elements) walk(a, bound);
        return;
      case 'structExpr':
        for (const entry of k.value.entries) {
          if (entry.keyKind.case === 'mapKey') walk(entry.keyKind.value, bound);
          walk(entry.value, bound);
        }
        return;
      case 'comprehensionExpr': {
        const c = k.value;
        walk(c.iterRange, bound);
        walk(c.accuInit, bound);
        const inner = new Set(bound);
        for (const v of [c.iterVar, c.iterVar2, c.accuVar]) if (v !== '') inner.add(v);
        walk(c.loopCondition, inner);
        walk(c.loopStep, inner);
        const result = new Set(bound);
        if (c.accuVar !== '') result.add(c.accuVar);
        walk(c.result, result);
        return;
      }
      default:
        return;
    }
  };
  walk(root, new Set());
  return [...out];
}
