/**
 * Bounds on the work of a CEL condition. A policy may come from a place its user does not
 * control (a repository's policy file), and @bufbuild/cel has no cost limit of its own: nested
 * macros over lists, strings or lists grown inside a macro and huge literals would make a
 * verification run for hours or exhaust memory. Kubernetes bounds CEL the same two ways
 * (https://kubernetes.io/docs/reference/using-api/cel/#resource-constraints):
 *
 * - statically, when the policy loads: the expression's length, its syntax tree's size and depth,
 *   and how deeply comprehensions (`all`, `exists`, `exists_one`, `map`, `filter`) nest;
 * - at evaluation, with a cost budget that every step draws on, the step stopped when it runs out.
 *
 * @bufbuild/cel has no hook into its evaluator, but the places all work passes through can be
 * wrapped: every function and operator other than `&&`, `||`, `?:` and indexing is an overload
 * of the environment (each is wrapped here to charge its operands and its result; `matches`
 * also takes its compiled pattern from a cache of the evaluation), and the
 * syntax tree is planned as written, so a comprehension's range and loop condition, and an
 * index, are wrapped here in calls that charge them. What no call and no iteration pays for (a
 * field selection, a literal, `&&`) is bounded by the size of the tree, evaluated once per
 * charged iteration at most.
 */
import {
  type CelEnv,
  type CelFunc,
  type CelInput,
  type CelList,
  CelScalar,
  celEnv,
  celFunc,
  celList,
  celMethod,
  isCelError,
  isCelList,
  isCelMap,
  parse,
  plan,
} from '@bufbuild/cel';
import { RE2JS } from '@bufbuild/re2';
import { CEL_LIMITS } from './cel-budget.ts';
import { re2SizeBound } from './re2-size.ts';

type Expr = NonNullable<ReturnType<typeof parse>['expr']>;
type CelFuncCall = CelFunc['call'];

/** Why a tree breaks a static limit, or undefined. Iterative: a deep tree must not overflow the stack here. */
export function staticLimitProblem(root: Expr): string | undefined {
  let nodes = 0;
  const stack: { e: Expr; depth: number; nesting: number }[] = [{ e: root, depth: 1, nesting: 0 }];
  while (stack.length > 0) {
    const { e, depth, nesting } = stack.pop()!;
    nodes += 1;
    if (nodes > CEL_LIMITS.maxNodes) return `the expression has more than ${CEL_LIMITS.maxNodes} nodes (macros expanded)`;
    if (depth > CEL_LIMITS.maxDepth) return `the expression nests more than ${CEL_LIMITS.maxDepth} levels deep (macros expanded)`;
    if (nesting > CEL_LIMITS.maxComprehensionNesting)
      return `the expression nests more than ${CEL_LIMITS.maxComprehensionNesting} macros over lists or maps (all, exists, exists_one, map, filter) inside one another`;
    // What a comprehension evaluates per element (its condition and step) is nested in it; its
    // range, initial value and result are evaluated once, and a macro on another's result is a chain.
    const k = e.exprKind;
    const body = k.case === 'comprehensionExpr' ? [k.value.loopCondition, k.value.loopStep] : [];
    for (const c of childrenOf(e)) stack.push({ e: c, depth: depth + 1, nesting: body.includes(c) ? nesting + 1 : nesting });
  }
  return undefined;
}

/** The subexpressions of `e`, in a new array of their own (callers reverse it), macros expanded. */
export function childrenOf(e: Expr): Expr[] {
  const k = e.exprKind;
  switch (k.case) {
    case 'selectExpr':
      return k.value.operand === undefined ? [] : [k.value.operand];
    case 'callExpr':
      return [...(k.value.target === undefined ? [] : [k.value.target]), ...k.value.args];
    case 'listExpr':
      return [...k.value.elements];
    case 'structExpr':
      return k.value.entries.flatMap((x) => [...(x.keyKind.case === 'mapKey' ? [x.keyKind.value] : []), ...(x.value ? [x.value] : [])]);
    case 'comprehensionExpr': {
      const c = k.value;
      return [c.iterRange, c.accuInit, c.loopCondition, c.loopStep, c.result].filter((x) => x !== undefined);
    }
    default:
      return [];
  }
}

function countNodes(e: Expr | undefined): number {
  let n = 0;
  const stack = e === undefined ? [] : [e];
  while (stack.length > 0) {
    n += 1;
    stack.push(...childrenOf(stack.pop()!));
  }
  return n;
}

// Names no expression can call: the parser reads no identifier starting with @.
const RANGE = '@provenant.range';
const ITERATION = '@provenant.iteration';
const LOOKUP = '@provenant.index';
const APPEND = '@provenant.append';

/**
 * A copy of `root` in which every comprehension charges the budget: its range once (the
 * evaluator copies it), and each iteration the size of its loop condition and step (the nodes an
 * iteration evaluates, apart from the calls that charge themselves). Indexing (`a[k]`) becomes
 * a call too: @bufbuild/cel looks a number up in a map by reading every key (a JSON object's
 * keys are strings, and the lookup is for a uint among them), which a loop would repeat unpaid.
 * And `map` and `filter` add to the list they build in place (see {@link appendStep}).
 */
export function instrument(root: Expr): Expr {
  /**
   * `map` and `filter` build their list with the step `@result + [x]` (`filter`: `p ? @result +
   * [x] : @result`), which @bufbuild/cel does with a view of both lists; a view of a view, one
   * per element, reads slower at each level, and the copy that `+` makes instead (see
   * {@link metered}) costs the list's length at each element: n²/2 for n elements. APPEND adds to
   * the list in place. That is safe only where nothing but the step holds the list: an
   * accumulator whose name no expression can write (the parser reads no identifier starting with
   * @), which each iteration replaces with the step's value.
   */
  const appendStep = (step: Expr, accu: string): Expr | undefined => {
    if (!accu.startsWith('@')) return undefined;
    const isAccu = (e: Expr | undefined) => e?.exprKind.case === 'identExpr' && e.exprKind.value.name === accu;
    const append = (e: Expr | undefined): Expr | undefined => {
      const k = e?.exprKind;
      if (e === undefined || k?.case !== 'callExpr' || k.value.function !== '_+_' || k.value.target !== undefined) return undefined;
      const [a, b] = k.value.args;
      return k.value.args.length === 2 && isAccu(a) && b?.exprKind.case === 'listExpr' ? call(e, APPEND, [a!, copy(b)]) : undefined;
    };
    const k = step.exprKind;
    if (k.case === 'callExpr' && k.value.function === '_?_:_' && k.value.args.length === 3 && isAccu(k.value.args[2])) {
      const [test, added, same] = k.value.args as [Expr, Expr, Expr];
      const appended = append(added);
      return appended && { ...step, exprKind: { case: k.case, value: { ...k.value, args: [copy(test), appended, same] } } };
    }
    return append(step);
  };
  const copy = (e: Expr): Expr => {
    const k = e.exprKind;
    switch (k.case) {
      case 'selectExpr':
        return k.value.operand === undefined
          ? e
          : { ...e, exprKind: { case: k.case, value: { ...k.value, operand: copy(k.value.operand) } } };
      case 'callExpr': {
        if (k.value.function === '_[_]' && k.value.target === undefined && k.value.args.length === 2)
          return call(e, LOOKUP, k.value.args.map(copy));
        const value = { ...k.value, args: k.value.args.map(copy) };
        if (k.value.target !== undefined) value.target = copy(k.value.target);
        return { ...e, exprKind: { case: k.case, value } };
      }
      case 'listExpr':
        return { ...e, exprKind: { case: k.case, value: { ...k.value, elements: k.value.elements.map(copy) } } };
      case 'structExpr':
        return {
          ...e,
          exprKind: {
            case: k.case,
            value: {
              ...k.value,
              entries: k.value.entries.map((x) => ({
                ...x,
                keyKind: x.keyKind.case === 'mapKey' ? { case: 'mapKey', value: copy(x.keyKind.value) } : x.keyKind,
                ...(x.value === undefined ? {} : { value: copy(x.value) }),
              })),
            },
          },
        };
      case 'comprehensionExpr': {
        const c = k.value;
        if (c.iterRange === undefined || c.loopCondition === undefined) return e;
        const perIteration = countNodes(c.loopCondition) + countNodes(c.loopStep);
        const value = {
          ...c,
          iterRange: call(c.iterRange, RANGE, [copy(c.iterRange)]),
          loopCondition: call(c.loopCondition, ITERATION, [copy(c.loopCondition), intConst(c.loopCondition, perIteration)]),
        };
        if (c.accuInit !== undefined) value.accuInit = copy(c.accuInit);
        if (c.loopStep !== undefined) value.loopStep = appendStep(c.loopStep, c.accuVar) ?? copy(c.loopStep);
        if (c.result !== undefined) value.result = copy(c.result);
        return { ...e, exprKind: { case: k.case, value } };
      }
      default:
        return e;
    }
  };
  return copy(root);
}

function call(at: Expr, fn: string, args: Expr[]): Expr {
  return { ...at, exprKind: { case: 'callExpr', value: { $typeName: 'cel.expr.Expr.Call', function: fn, args } } };
}

function intConst(at: Expr, n: number): Expr {
  return {
    ...at,
    exprKind: { case: 'constExpr', value: { $typeName: 'cel.expr.Constant', constantKind: { case: 'int64Value', value: BigInt(n) } } },
  };
}

// ---- the budget ----------------------------------------------------------------------------------

/** Thrown through the evaluator when the budget runs out; it turns the whole evaluation into an error. */
class BudgetExhausted extends Error {}

/** A pattern of `matches`, compiled (or refused by RE2: `error`), and its program's size in instructions. */
interface CompiledPattern {
  re?: RE2JS;
  error?: unknown;
  instructions: number;
}

/**
 * The budget of the evaluation under way (evaluation is synchronous: one at a time), and the
 * patterns compiled during it: each is compiled once per evaluation (@bufbuild/cel would compile
 * it at every call).
 */
let meter: { spent: number; limit: number; patterns: Map<string, CompiledPattern> } | undefined;

function charge(units: number): void {
  if (meter === undefined) return;
  meter.spent += units;
  if (meter.spent > meter.limit) throw new BudgetExhausted();
}

/** The units left, as a cap for measuring a value: measuring never costs more than it may charge. */
function left(): number {
  return meter === undefined ? Number.MAX_SAFE_INTEGER : Math.max(0, meter.limit - meter.spent) + 1;
}

/**
 * Runs `evaluate` on a fresh budget of `limit` units. `exhausted` is true when it ran out; the
 * evaluator then gave up at the step that overdrew it (its result is an error to ignore).
 */
export function withBudget<T>(limit: number, evaluate: () => T): { result: T; exhausted: boolean; spent: number } {
  const previous = meter;
  const mine = { spent: 0, limit, patterns: new Map<string, CompiledPattern>() };
  meter = mine;
  try {
    const result = evaluate();
    return { result, exhausted: mine.spent > limit, spent: mine.spent };
  } finally {
    meter = previous;
  }
}

/**
 * The size of a value in units: 1 for a scalar, its length for a string or bytes (plus 1), its
 * elements' (keys' and values') sizes for a list or map (plus 1). Counting stops at `cap`, so
 * measuring costs no more than the charge it leads to.
 *
 * `comparing` weighs a map with a key that is not a string as its size squared besides: what
 * comparing it with a map of the same size may cost. @bufbuild/cel compares two maps by looking
 * each key of one up in the other, and a number looked up in a map of uint keys (`{0u: 0}`) is
 * found by reading the keys one by one: `{0: 0, 1: 0, ...} == {0u: 0, 1u: 0, ...}` reads n²/2
 * keys. Only maps of the same size are compared key by key, and a lookup that fails ends the
 * comparison, so a value's maps so weighed bound what comparing it with any other value costs.
 */
function sizeOf(v: unknown, cap: number, comparing = false): number {
  let n = 0;
  const stack: unknown[] = [v];
  while (stack.length > 0 && n < cap) {
    const x = stack.pop();
    n += 1;
    if (typeof x === 'string') n += x.length;
    else if (x instanceof Uint8Array) n += x.length;
    else if (isCelList(x)) {
      for (const e of x) {
        stack.push(e);
        if (stack.length + n >= cap) break;
      }
    } else if (isCelMap(x)) {
      let weighed = !comparing;
      for (const [key, value] of x) {
        if (!weighed && typeof key !== 'string') {
          n += x.size * x.size;
          weighed = true;
        }
        stack.push(key, value);
        if (stack.length + n >= cap) break;
      }
    }
  }
  return Math.min(n + stack.length, cap);
}

/**
 * The smaller of two values' sizes as {@link sizeOf} weighs them for a comparison, measured in
 * steps that double, so that the work is that of the smaller.
 */
function smallerSize(a: unknown, b: unknown): number {
  const cap = left();
  for (let step = 64; ; step *= 2) {
    const limit = Math.min(step, cap);
    const sa = sizeOf(a, limit, true);
    const sb = sizeOf(b, limit, true);
    if (sa < limit || sb < limit || limit === cap) return Math.min(sa, sb);
  }
}

/** Length of a string or bytes, entries of a list or map: what a result holds new, or 0. */
function lengthOf(v: unknown): number {
  if (typeof v === 'string' || v instanceof Uint8Array) return v.length;
  if (isCelList(v) || isCelMap(v)) return v.size;
  return 0;
}

/**
 * What a call costs, in units (charged once it has run): 1, plus what it may read of its operands. Most
 * functions read all of them (their sizes); the exceptions are those that read less (`size` of a
 * list or map, `type`, `dyn`, `+`, which @bufbuild/cel does by reference and V8 by rope,
 * `==` and `!=`, which stop at the smaller operand, a lookup in a map) or more (`==`, `!=` and
 * `in` on a list compare maps of number keys in the square of their size, `in` on a list compares
 * with each element). `matches` is charged before it runs, by {@link chargeMatch}.
 */
function chargeCall(name: string, target: unknown, args: readonly unknown[]): void {
  const operands = target === undefined ? args : [target, ...args];
  let cost = 1;
  switch (name) {
    case 'size':
      cost += operands.reduce<number>((n, x) => n + (typeof x === 'string' ? x.length : 0), 0);
      break;
    case '_+_':
    case 'type':
    case 'dyn':
    case 'matches':
      break;
    case '_==_':
    case '_!=_':
      cost += smallerSize(operands[0], operands[1]);
      break;
    case '@in': {
      const [x, range] = operands;
      if (isCelMap(range)) cost += sizeOf(x, left()) + (typeof x === 'string' ? 0 : range.size);
      else if (isCelList(range)) cost += range.size * sizeOf(x, left(), true);
      break;
    }
    default:
      for (const x of operands) cost += sizeOf(x, left());
  }
  charge(cost);
}

/**
 * Units per instruction of compiling a regular expression: @bufbuild/re2 takes 1 to 5 µs an
 * instruction (parse, simplify, compile), where a unit is 15 to 100 ns of other work.
 */
const COMPILE_UNITS = 32;

/** The units compiling `pattern` costs, for a program of `instructions`. */
export function patternCompileCost(pattern: string, instructions: number): number {
  return pattern.length + 1 + COMPILE_UNITS * (instructions + 1);
}

/**
 * `pattern` compiled, from this evaluation's cache or charged: its length (the parse) and
 * {@link COMPILE_UNITS} per instruction of its program. Compiling cannot be stopped half way, so
 * a pattern whose program could be too large for the units left is refused before it is
 * compiled, by {@link re2SizeBound} (`"a{1,1000}"` repeated a hundred times is 900 characters
 * and 200,000 instructions, some 0.5 s to compile).
 */
function compilePattern(pattern: string): CompiledPattern {
  const known = meter?.patterns.get(pattern);
  if (known !== undefined) return known;
  const cost = (instructions: number) => patternCompileCost(pattern, instructions);
  if (cost(re2SizeBound(pattern)) >= left()) charge(cost(re2SizeBound(pattern)));
  let compiled: CompiledPattern;
  try {
    const re = RE2JS.compile(pattern);
    compiled = { re, instructions: re.re2().prog.numInst() };
  } catch (error) {
    compiled = { error, instructions: 0 };
  }
  meter?.patterns.set(pattern, compiled);
  charge(cost(compiled.instructions));
  return compiled;
}

/**
 * Charges `text.matches(pattern)` before it runs: the compilation ({@link compilePattern}), and
 * the text's length (plus 1) times the program's size. RE2 matches in time linear in both: its
 * DFA builds at most one state per character, each from up to every instruction, and when it
 * gives up (too many states) its NFA steps every instruction at each character; measured, under
 * 60 ns per character and instruction.
 */
function chargeMatch(text: string, pattern: string): void {
  charge((text.length + 1) * compilePattern(pattern).instructions);
}

/** @bufbuild/cel's `matches` (RE2's `test`: a match anywhere in the text), on the pattern {@link chargeMatch} compiled. */
function matches(this: string, pattern: string): boolean {
  const compiled = meter?.patterns.get(pattern) ?? compilePattern(pattern);
  if (compiled.re === undefined) throw compiled.error;
  return compiled.re.test(this);
}

/** @bufbuild/cel's `string.matches(string)`, but for where the pattern is compiled. */
const cachedMatches = celMethod('matches', CelScalar.STRING, [CelScalar.STRING], CelScalar.BOOL, matches);

/**
 * `matches(text, pattern)`: the global form of `text.matches(pattern)`, which CEL's standard
 * library declares (cel-spec's langdef, cel-go) and @bufbuild/cel (0.6.1) lacks, so that a
 * condition written for policy-controller's CEL reads here. The same function, charged the same.
 */
export const globalMatches: CelFunc = celFunc(
  'matches',
  [CelScalar.STRING, CelScalar.STRING],
  CelScalar.BOOL,
  (text: string, pattern: string) => matches.call(text, pattern),
);

/** `f` with the same signature, charging its calls. */
function metered(f: CelFunc): CelFunc {
  // `matches` compiles its pattern at every call; this one takes it from the evaluation's cache.
  const impl = f.id === cachedMatches.id ? cachedMatches : f;
  const inner: CelFuncCall = impl.call.bind(impl);
  // A wrapper that is `f` but for `call`: the resolver keys an overload by its id, so this one
  // replaces f in the environment. A throw from `call` is not caught by the evaluator until its
  // top (a throw from a function's implementation would be, and turned into a CEL error).
  //
  // The charge follows the call: a group of overloads tries each in turn, and one whose signature
  // does not match answers undefined at once (charged first, `>=` would cost its 14 overloads).
  // One call's work is bounded by its operands, which exist (and were charged) already.
  const callMetered: CelFuncCall = (id, target, args) => {
    // Charged here, not in `matches`: a throw from a function's implementation becomes a CEL error.
    if (impl !== f && typeof target === 'string' && typeof args[0] === 'string') chargeMatch(target, args[0]);
    if (f.id === globalMatches.id && typeof args[0] === 'string' && typeof args[1] === 'string') chargeMatch(args[0], args[1]);
    let result = inner(id, target, args);
    if (result === undefined) return result;
    // `+` of lists gives a view of both that reads through every list before it: a chain of
    // them (`a + b + c`, or one grown in a loop) makes each read walk it (quadratic, and charged
    // as linear). A copy costs what it is charged. (`map` and `filter` add to their list by
    // APPEND instead.)
    if (f.name === '_+_' && isCelList(result)) result = celList(Array.from(result));
    chargeCall(f.name, target, args);
    charge(lengthOf(result));
    return result;
  };
  return Object.create(f, { call: { value: callMetered } });
}

/** A function of the instrumentation: `impl` charges and returns the value `call` gives back. */
function meterFunc(name: string, arity: number, impl: CelFuncCall): CelFunc {
  // The signature is never checked (impl replaces the call that would check it).
  const f = celFunc(name, Array(arity).fill(CelScalar.DYN), CelScalar.DYN, (v: unknown) => v as never);
  return Object.create(f, { call: { value: impl } });
}

const standard = celEnv();

/** `m[k]` as @bufbuild/cel evaluates it (the same value, the same errors), for {@link LOOKUP}. */
const index = plan(standard, parse('m[k]'));

/** `a + b` as @bufbuild/cel evaluates it, for {@link APPEND} given what is not a list (its step always gives lists). */
const concat = plan(standard, parse('a + b'));

/**
 * The arrays behind the lists {@link APPEND} made: such a list is the accumulator of a `map` or
 * `filter` under way (or its result), which only the step that adds to it can name.
 */
const accumulators = new WeakMap<CelList, unknown[]>();

/** @bufbuild/cel's standard environment, every function metered, plus the instrumentation's. */
export const meteredEnv: CelEnv = celEnv({
  funcs: [
    ...[...standard.funcs, globalMatches].map(metered),
    meterFunc(RANGE, 1, (_id, _target, args) => {
      charge(1 + lengthOf(args[0]));
      return args[0];
    }),
    meterFunc(LOOKUP, 2, (_id, _target, [m, k]) => {
      charge(1 + (isCelMap(m) && typeof k !== 'string' ? m.size : 0));
      const value = index({ m, k } as Record<string, CelInput>);
      // What throws inside @bufbuild/cel's access (a list indexed by a fraction reads `undefined`)
      // escapes its evaluator to the top, past `&&` and `||`, where it becomes the result; `index`
      // caught it at its own top (access makes its errors from strings), so it is thrown on.
      if (isCelError(value) && value.cause instanceof Error && !isCelError(value.cause)) throw value.cause;
      return value;
    }),
    meterFunc(APPEND, 2, (_id, _target, [accu, more]) => {
      if (!isCelList(accu) || !isCelList(more)) {
        const sum = concat({ a: accu, b: more } as Record<string, CelInput>);
        charge(1 + lengthOf(sum));
        return sum;
      }
      let items = accumulators.get(accu);
      let list = accu;
      if (items === undefined) {
        // The first step: `[]`, a value the program may share, becomes a list of this step's own.
        items = Array.from(accu);
        list = celList(items as CelInput[]);
        accumulators.set(list, items);
      }
      for (const x of more) items.push(x);
      charge(1 + more.size + (list === accu ? 0 : items.length));
      return list;
    }),
    meterFunc(ITERATION, 2, (_id, _target, args) => {
      charge(Number(args[1]));
      return args[0];
    }),
  ],
});
