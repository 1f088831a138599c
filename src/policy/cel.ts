/**
 * Conditions on attestations in CEL (https://cel.dev), evaluated by @bufbuild/cel. An expression
 * sees the verified in-toto statement the way policy-controller's CUE and Rego policies see it
 * (the whole statement is their input): its fields as variables, `predicateType`, `predicate`,
 * `subject` (the list of `{name, digest}`), plus `statement` (the whole statement, for `_type`)
 * and `now` (a timestamp: the evaluation's time). It must evaluate to a bool; anything else, and
 * every evaluation error (a missing field, a type mismatch), fails the condition with CEL's
 * message. Regular expressions (`matches`) are RE2, as in Go.
 */
import { type CelInput, celEnv, isCelError, parse, plan, unparse } from '@bufbuild/cel';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { RE2JS } from '@bufbuild/re2';
import { ProvenantError } from '../errors.ts';
import { suggest } from '../yaml.ts';
import { CEL_LIMITS, type CelBudget } from './cel-budget.ts';
import { childrenOf, globalMatches, instrument, meteredEnv, patternCompileCost, staticLimitProblem, withBudget } from './cel-limits.ts';
import { re2SizeBound } from './re2-size.ts';

type Expr = ReturnType<typeof parse>['expr'];

/** The variables a condition may name. */
export const CEL_VARIABLES = ['predicateType', 'predicate', 'subject', 'statement', 'now'] as const;

// Type names are identifiers in CEL too (`type(x) == string`).
const TYPE_NAMES = new Set(['int', 'uint', 'double', 'bool', 'string', 'bytes', 'list', 'map', 'null_type', 'type', 'dyn']);

/** A compiled condition. */
export interface CelProgram {
  expression: string;
  /**
   * Evaluates the condition on `input`. A condition that is false, or that CEL cannot evaluate,
   * is a result; one that runs out of its cost budget ({@link CEL_LIMITS}), or of `shared` (what
   * the conditions of one verification may spend together, which this evaluation draws on), throws
   * `INVALID_CONFIG`: the policy is at fault, not the image.
   */
  run(input: CelInput, shared?: CelBudget): { value: boolean } | { error: string };
}

/** Options of {@link compileCel}. */
export interface CelOptions {
  /** The cost units one evaluation may spend; {@link CEL_LIMITS}.costBudget when absent. */
  costBudget?: number;
}

/** Why an expression does not compile: the message, and its 1-based line and column in the expression when known. */
export interface CelCompileError {
  message: string;
  line?: number;
  column?: number;
}

const env = celEnv({ funcs: [globalMatches] });

/**
 * Parses `expression` and checks that it names only the variables above, so that a typo fails
 * when the policy is loaded rather than when an image is checked.
 */
export function compileCel(expression: string, options: CelOptions = {}): CelProgram | CelCompileError {
  const budget = options.costBudget ?? CEL_LIMITS.costBudget;
  if (expression.length > CEL_LIMITS.maxLength)
    return { message: `the expression is ${expression.length} characters long; the limit is ${CEL_LIMITS.maxLength}` };
  let parsed: ReturnType<typeof parse>;
  try {
    // @bufbuild/cel's grammar ends a comment only at a newline, so `x == 1 // why` at the end of
    // a one-line expression would be refused; cel-go ends one at the end of input too.
    parsed = parse(expression.endsWith('\n') ? expression : `${expression}\n`);
  } catch (err) {
    // The parser recurses once per level of nesting: ((((... overflows the stack before any tree.
    if (err instanceof RangeError)
      return { message: `the expression nests too deeply to parse (at most ${CEL_LIMITS.maxDepth} levels are allowed)` };
    // The parser's own message names where it gave up, often after backtracking past the
    // mistake (`a == "x` is "found =", `1 == 1 &&` is "found &"): the two commonest mistakes are
    // said first, where they are.
    const known = syntaxProblem(expression);
    if (known !== undefined) return known;
    const e = err as {
      rawMessage?: unknown;
      message?: unknown;
      location?: { start?: { line?: number; column?: number; offset?: number } };
    };
    const message = typeof e.rawMessage === 'string' ? e.rawMessage : String(e.message ?? err);
    const start = e.location?.start;
    const out: CelCompileError = { message: `syntax error: ${message.replace(/^<input>:\d+:\d+: /, '')}` };
    // The end of the input is the end of the expression as written, not of the newline added above.
    // (The parser's offset counts UTF-16 units, as `length` does; placeAt counts characters.)
    if (typeof start?.offset === 'number' && start.offset >= expression.length)
      return { ...out, ...placeAt(expression, [...expression].length) };
    if (typeof start?.line === 'number') out.line = start.line;
    if (typeof start?.column === 'number') out.column = start.column;
    return out;
  }
  if (parsed.expr === undefined) return { message: 'the expression is empty' };
  // Before the checks below, which recurse over the tree.
  const tooLarge = staticLimitProblem(parsed.expr);
  if (tooLarge !== undefined) return { message: tooLarge };
  const positions = parsed.sourceInfo?.positions ?? {};
  const macro = macroProblem(parsed.expr, expression, positions);
  if (macro !== undefined) return macro;
  const unknown = [...freeVariables(parsed.expr)].filter(([v]) => !(CEL_VARIABLES as readonly string[]).includes(v) && !TYPE_NAMES.has(v));
  if (unknown.length > 0) {
    return {
      message: `unknown variable ${unknown.map(([v]) => JSON.stringify(v)).join(', ')}; a condition sees ${CEL_VARIABLES.join(', ')}`,
      ...placeOf(expression, positions, unknown[0]![1]),
    };
  }
  const mistake =
    callProblem(parsed.expr, expression, positions) ??
    patternProblem(parsed.expr, expression, positions, budget) ??
    resultProblem(parsed.expr, expression);
  if (mistake !== undefined) return mistake;
  let program: ReturnType<typeof plan>;
  try {
    program = plan(meteredEnv, instrument(parsed.expr));
  } catch (err) {
    return { message: err instanceof Error ? err.message : String(err) };
  }
  return {
    expression,
    run(input, shared) {
      const left = shared === undefined ? budget : Math.max(0, shared.limit - shared.spent);
      const limit = Math.min(budget, left);
      let result: unknown;
      let exhausted: boolean;
      let spent: number;
      try {
        ({ result, exhausted, spent } = withBudget(limit, () => program(input as Record<string, CelInput>)));
      } catch (err) {
        // @bufbuild/cel returns its errors; a throw is a bug of its own, reported the same way.
        return { error: err instanceof Error ? err.message : String(err) };
      }
      if (shared !== undefined) shared.spent += Math.min(spent, limit);
      if (exhausted) {
        const hint =
          'a condition may take a bounded amount of work (docs/policy.md, "Limits"): iterate over fewer nested lists, or build smaller strings and lists';
        const text = short(expression.trim());
        if (limit < budget && shared !== undefined)
          throw new ProvenantError(
            'INVALID_CONFIG',
            `the CEL conditions of this verification exceed their total cost budget of ${shared.limit.toLocaleString('en')} units, at ${text}`,
            { hint },
          );
        throw new ProvenantError(
          'INVALID_CONFIG',
          `the CEL condition ${text} exceeds its cost budget of ${budget.toLocaleString('en')} units`,
          {
            hint,
          },
        );
      }
      if (isCelError(result)) return { error: result.message };
      if (typeof result !== 'boolean') return { error: `the condition evaluates to ${describeValue(result)}, not to true or false` };
      return { value: result };
    },
  };
}

// ---- checks at load ---------------------------------------------------------------------------
//
// @bufbuild/cel has a type checker, but does not export it (0.6.1); what it would catch in a
// condition whose variables are all `dyn` is a call of no function the environment has, or in
// a form it does not have (`startsWith(s, p)`: only `s.startsWith(p)` exists), and a result that
// cannot be a bool. Both are checked here from the environment's own function table, so that
// such a mistake fails when the policy loads rather than on every image.

/** Calls the planner evaluates itself (logic, `?:`, indexing); every other one is a function of `env`. */
const PLANNED_CALLS = new Set(['_&&_', '_||_', '_?_:_', '_[_]', '_[?_]', '_?._', '@not_strictly_false', '__not_strictly_false__']);

/** The functions a condition may call by name (operators aside), for suggestions. */
const FUNCTION_NAMES = [...new Set([...env.funcs].map((f) => f.name))].filter((n) => /^[a-z]/i.test(n)).sort();

/** Where `e` is in `expression` (1-based line and column, in characters), when the parser said. */
function placeOf(expression: string, positions: Record<string, number>, e: Expr): Pick<CelCompileError, 'line' | 'column'> {
  const offset = positions[String(e.id)];
  if (offset === undefined) return {};
  return placeAt(expression, offset);
}

/** The 1-based line and column of the `offset`th character (code point) of `expression`. */
function placeAt(expression: string, offset: number): Pick<CelCompileError, 'line' | 'column'> {
  const before = [...expression].slice(0, offset);
  const newline = before.lastIndexOf('\n');
  return { line: before.filter((c) => c === '\n').length + 1, column: offset - newline };
}

/** Every call in `root`, depth first in the order written. */
function* calls(root: Expr): Generator<{ e: Expr; call: Extract<Expr['exprKind'], { case: 'callExpr' }>['value'] }> {
  const stack = [root];
  while (stack.length > 0) {
    const e = stack.pop()!;
    stack.push(...childrenOf(e).reverse());
    if (e.exprKind.case === 'callExpr') yield { e, call: e.exprKind.value };
  }
}

/**
 * The two syntax mistakes the parser's message hides, when `expression` holds one: a string not
 * closed, and an operator with nothing after it.
 */
function syntaxProblem(expression: string): CelCompileError | undefined {
  const chars = [...expression];
  // The expression with its comments blanked, so that the trailing-operator check below does not
  // read a comment's last character (`// see a.`) as an operator.
  const code = [...chars];
  let i = 0;
  while (i < chars.length) {
    const c = chars[i]!;
    if (c === '/' && chars[i + 1] === '/') {
      while (i < chars.length && chars[i] !== '\n') code[i++] = ' ';
      continue;
    }
    if (c !== '"' && c !== "'") {
      i++;
      continue;
    }
    // A string: "...", '...', or tripled, which may span lines; a raw one (r"...") has no escapes.
    const raw = i > 0 && /[rR]/.test(chars[i - 1]!) && !/[A-Za-z0-9_]/.test(chars[i - 2] ?? '');
    const triple = chars[i + 1] === c && chars[i + 2] === c;
    const start = i;
    i += triple ? 3 : 1;
    let closed = false;
    while (i < chars.length) {
      if (!raw && chars[i] === '\\') {
        i += 2;
        continue;
      }
      if (!triple && chars[i] === '\n') break;
      if (chars[i] === c && (!triple || (chars[i + 1] === c && chars[i + 2] === c))) {
        i += triple ? 3 : 1;
        closed = true;
        break;
      }
      i++;
    }
    if (!closed) {
      const quote = triple ? c.repeat(3) : c;
      return {
        message: `a string is not closed: the ${quote} here has no closing ${quote}${triple ? '' : ' on its line'}`,
        ...placeAt(expression, start),
      };
    }
  }
  const uncommented = code.join('');
  const tail = /(&&|\|\||==|!=|<=|>=|[<>+\-*/%!?:.,([{]|\bin)\s*$/.exec(uncommented);
  if (tail !== null && tail.index > 0) {
    return {
      message: `the condition ends with ${JSON.stringify(tail[1])}, which needs something after it`,
      ...placeAt(expression, [...uncommented.slice(0, tail.index)].length),
    };
  }
  return undefined;
}

/** CEL's macros: a variable, then an expression over it (`map` may take a filter between). */
const MACROS: Record<string, number[]> = { all: [2], exists: [2], exists_one: [2], existsOne: [2], filter: [2], map: [2, 3] };

/**
 * A macro called with the wrong number of arguments (`subject.exists(s)`), which CEL then reads
 * as a call of no function, its variable as an unknown one.
 */
function macroProblem(root: Expr, expression: string, positions: Record<string, number>): CelCompileError | undefined {
  for (const { e, call } of calls(root)) {
    const counts = Object.hasOwn(MACROS, call.function) ? MACROS[call.function] : undefined;
    if (counts === undefined || call.target === undefined || counts.includes(call.args.length)) continue;
    const form = `LIST.${call.function}(x, ${call.function === 'map' ? 'EXPRESSION' : 'CONDITION'})`;
    return {
      message: `${call.function} is written ${form}: a variable, then ${call.function === 'map' ? 'what to make of each element' : 'a condition on it'}; here it has ${call.args.length} argument${call.args.length === 1 ? '' : 's'}${textOf(e)}`,
      ...placeOf(expression, positions, e),
    };
  }
  return undefined;
}

/**
 * A pattern of `matches` written as a string that RE2 refuses: without this check the condition
 * would load, and then fail on every image. Compiling costs what it costs at evaluation, from the
 * condition's cost budget (`budget`): a pattern the budget cannot pay for is left to the
 * evaluation, which refuses it before compiling it (cel-limits.ts).
 */
function patternProblem(root: Expr, expression: string, positions: Record<string, number>, budget: number): CelCompileError | undefined {
  let left = budget;
  const seen = new Set<string>();
  for (const { call } of calls(root)) {
    if (call.function !== 'matches') continue;
    const arg = call.target !== undefined ? call.args[0] : call.args[1];
    if (arg?.exprKind.case !== 'constExpr' || arg.exprKind.value.constantKind.case !== 'stringValue') continue;
    const pattern = arg.exprKind.value.constantKind.value;
    if (seen.has(pattern)) continue;
    seen.add(pattern);
    const cost = patternCompileCost(pattern, re2SizeBound(pattern));
    if (cost >= left) continue;
    left -= cost;
    try {
      RE2JS.compile(pattern);
    } catch (err) {
      return {
        message: `the regular expression ${JSON.stringify(pattern)} of matches is not one RE2 reads: ${err instanceof Error ? err.message : String(err)}`,
        ...placeOf(expression, positions, arg),
      };
    }
  }
  return undefined;
}

/** The first call of a function `env` does not have, or not in the form written. */
function callProblem(root: Expr, expression: string, positions: Record<string, number>): CelCompileError | undefined {
  const place = (e: Expr) => placeOf(expression, positions, e);
  for (const { e, call } of calls(root)) {
    if (PLANNED_CALLS.has(call.function)) continue;
    const group = env.funcs.find(call.function);
    if (group === undefined) {
      const guess = suggest(call.function, FUNCTION_NAMES);
      return {
        message: `unknown function ${call.function}${guess === undefined ? '' : ` (did you mean ${guess}?)`}${textOf(e)}`,
        ...place(e),
      };
    }
    const method = call.target !== undefined;
    const overloads = [...group];
    if (!overloads.some((o) => (o.target !== undefined) === method && o.arguments.length === call.args.length)) {
      const form = (isMethod: boolean, n: number) => `${isMethod ? 'x.' : ''}${call.function}(${Array(n).fill('_').join(', ')})`;
      const forms = [...new Set(overloads.map((o) => form(o.target !== undefined, o.arguments.length)))];
      return {
        message: `no function ${form(method, call.args.length)}: ${call.function} is written ${forms.join(' or ')}${textOf(e)}`,
        ...place(e),
      };
    }
  }
  return undefined;
}

/** Whether the whole expression can give a bool; a message when it cannot. */
function resultProblem(root: Expr, expression: string): CelCompileError | undefined {
  const type = staticType(root);
  if (type === 'bool' || type === 'dyn') return undefined;
  return { message: `the condition ${short(expression.trim())} gives ${type}, never true or false` };
}

/** `bool`, `dyn` (not known before evaluation), or what else `e` gives, in words. */
function staticType(e: Expr): string {
  const k = e.exprKind;
  switch (k.case) {
    case 'constExpr': {
      const c = k.value.constantKind;
      if (c.case === 'boolValue') return 'bool';
      if (c.case === 'stringValue') return 'a string';
      if (c.case === 'bytesValue') return 'bytes';
      if (c.case === 'nullValue') return 'null';
      return 'a number';
    }
    case 'listExpr':
      return 'a list';
    case 'structExpr':
      return 'a map';
    case 'selectExpr':
      return k.value.testOnly ? 'bool' : 'dyn';
    case 'comprehensionExpr': {
      // all/exists give their bool accumulator; map/filter their list one.
      const c = k.value;
      const r = c.result;
      if (r === undefined) return 'dyn';
      return r.exprKind.case === 'identExpr' && r.exprKind.value.name === c.accuVar && c.accuInit !== undefined
        ? staticType(c.accuInit)
        : staticType(r);
    }
    case 'callExpr': {
      const call = k.value;
      if (['_&&_', '_||_', '@not_strictly_false', '__not_strictly_false__'].includes(call.function)) return 'bool';
      if (call.function === '_?_:_') {
        const [t, f] = [staticType(call.args[1]!), staticType(call.args[2]!)];
        if (t === 'bool' && f === 'bool') return 'bool';
        return t !== 'bool' && t !== 'dyn' && f !== 'bool' && f !== 'dyn' ? t : 'dyn';
      }
      const group = env.funcs.find(call.function);
      if (group === undefined) return 'dyn';
      const method = call.target !== undefined;
      const results = new Set(
        [...group]
          .filter((o) => (o.target !== undefined) === method && o.arguments.length === call.args.length)
          .map((o) => o.result.toString()),
      );
      if (results.size === 0 || results.has('dyn')) return 'dyn';
      if (results.size === 1 && results.has('bool')) return 'bool';
      if (results.has('bool')) return 'dyn';
      const names = [...results].map((r) => r.replace(/^google\.protobuf\./, '').toLowerCase());
      const op = call.function.replace(/^[_@]|_$/g, '');
      return `${/^[aeiou]/.test(names[0]!) ? 'an' : 'a'} ${names.join(' or ')} (what ${op} returns)`;
    }
    default:
      return 'dyn';
  }
}

/** `, in CALL`, the call as written (unparsed), for a message. */
function textOf(e: Expr): string {
  try {
    return `, in ${short(unparse(e))}`;
  } catch {
    // unparse does not write comprehensions (the expanded macros).
    return '';
  }
}

function short(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
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
function freeVariables(root: Expr): Map<string, Expr> {
  // Each name with its first use, for the message to point at.
  const out = new Map<string, Expr>();
  const walk = (e: Expr | undefined, bound: ReadonlySet<string>): void => {
    if (e === undefined) return;
    const k = e.exprKind;
    switch (k.case) {
      case 'identExpr':
        if (!bound.has(k.value.name) && !out.has(k.value.name)) out.set(k.value.name, e);
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
  return out;
}
