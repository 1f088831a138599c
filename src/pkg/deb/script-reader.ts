/**
 * A static reading of a maintainer script (a POSIX `sh` script) for the `update-alternatives`
 * commands it runs on a fresh install, without running anything.
 *
 * The script is parsed as the shell grammar has it (POSIX.1-2017, XCU 2.10: lists, `&&`/`||`,
 * pipelines, `if`, `case`, `for`, `while`/`until`, `{ }`, `( )`, functions, here-documents), then
 * walked as dpkg would run it after unpacking a package: `postinst configure ''` (dpkg passes the
 * previously configured version as `$2`, empty on a first install). What the walk knows is only
 * what the text fixes: `$1` and `$2`, a `for` loop's variable over literal words, and `test`/`[`
 * on those (string comparisons, `-z`, `-n`, `!`, `-a`, `-o`). Anything else — another variable,
 * a command substitution, a file test, the status of a command, a `while` loop — is not known
 * before the script runs: a command that depends on it is reported, never guessed.
 */
import { ProvenantError } from '../../errors.ts';

/** A slave link of an alternative: `--slave <link> <name> <path>`. */
export interface AlternativeSlave {
  link: string;
  name: string;
  path: string;
}

/** One `update-alternatives` action a script takes, its arguments literal, and the script line it starts on. */
export type AlternativesAction =
  | { action: 'install'; line: number; link: string; name: string; path: string; priority: number; slaves: AlternativeSlave[] }
  | { action: 'remove'; line: number; name: string; path: string }
  | { action: 'remove-all'; line: number; name: string };

/** An `update-alternatives` command the reading could not settle, and why. */
export interface UnreadCommand {
  line: number;
  why: string;
  /** The action, when its arguments are literal and only whether it runs is not known. */
  action?: AlternativesAction | undefined;
}

/** What {@link readScriptAlternatives} found. */
export interface ScriptAlternatives {
  /** The actions that run on a fresh install, in the order they run. */
  actions: AlternativesAction[];
  /** The commands that might run, or run with arguments only the running script knows. */
  unread: UnreadCommand[];
}

/** Reads `script` for the `update-alternatives` commands it runs as `<script> configure ''`. */
export function readScriptAlternatives(script: string, args: readonly string[] = ['configure', '']): ScriptAlternatives {
  let nodes: Node[];
  try {
    nodes = new Parser(tokenize(script)).script();
  } catch (err) {
    if (!(err instanceof ProvenantError)) throw err;
    // Not read at all: every line naming update-alternatives is said to be left out.
    const unread: UnreadCommand[] = [];
    for (const [i, line] of script.split('\n').entries())
      if (/update-alternatives/.test(line.replace(/^\s*#.*$/, '')))
        unread.push({ line: i + 1, why: `the script is not read: ${err.message}` });
    return { actions: [], unread };
  }
  const walk = new Walk([...args]);
  walk.list(nodes, undefined);
  return { actions: walk.actions, unread: walk.unread };
}

// ---------------------------------------------------------------------------------------------
// Words and tokens
// ---------------------------------------------------------------------------------------------

/** A piece of a word: literal text, a parameter (`$1`, `$name`, `${name}`), or an expansion the reading never knows. */
type Part = { lit: string; quoted: boolean } | { param: string; quoted: boolean } | { expr: string; quoted: boolean };

interface Word {
  parts: Part[];
  /** The word as written, for messages. */
  raw: string;
  line: number;
}

type Token = { kind: 'word'; word: Word } | { kind: 'op'; op: string; line: number };

const OPERATORS = ['<<-', ';;', '&&', '||', '>>', '<<', '<&', '>&', '<>', '>|', ';', '&', '|', '(', ')', '<', '>', '\n'];
const REDIRECTIONS = new Set(['<<-', '>>', '<<', '<&', '>&', '<>', '>|', '<', '>']);

function notRead(message: string, line: number): ProvenantError {
  return new ProvenantError('INVALID_PACKAGE', `line ${line}: ${message}`, { where: `line ${line}` });
}

/** Splits a script into words and operators (XCU 2.3), quotes and expansions kept apart in each word. */
function tokenize(s: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  /** Here-documents whose bodies start after the next newline. */
  const heredocs: { delimiter: string; tabs: boolean }[] = [];
  let heredocNext: boolean | undefined;

  /** The index just past the `close` matching an opening at `i` (before it), skipping quoted text. */
  const matching = (open: string, close: string): number => {
    let depth = 1;
    let j = i;
    while (j < s.length) {
      const c = s[j];
      if (c === '\\') j += 2;
      else if (c === "'") j = s.indexOf("'", j + 1) + 1 || s.length + 1;
      else if (c === '"') {
        j++;
        while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
        j++;
      } else {
        if (c === open) depth++;
        else if (c === close && --depth === 0) return j + 1;
        j++;
      }
    }
    throw notRead(`an unclosed ${open}`, line);
  };

  /** The expansion after a `$` at `i`. */
  const dollar = (quoted: boolean): Part => {
    const c = s[i + 1];
    if (c === '(') {
      const start = i;
      i += 2;
      i = matching('(', ')');
      return { expr: s.slice(start, i), quoted };
    }
    if (c === '{') {
      const start = i;
      i += 2;
      i = matching('{', '}');
      const inner = s.slice(start + 2, i - 1);
      return /^([A-Za-z_][A-Za-z0-9_]*|[0-9])$/.test(inner) ? { param: inner, quoted } : { expr: s.slice(start, i), quoted };
    }
    const name = /^[A-Za-z_][A-Za-z0-9_]*|^[0-9]/.exec(s.slice(i + 1, i + 65))?.[0];
    if (name !== undefined) {
      i += 1 + name.length;
      return { param: name, quoted };
    }
    if (c !== undefined && '@*#?$!-'.includes(c)) {
      i += 2;
      return { expr: `$${c}`, quoted };
    }
    i++;
    return { lit: '$', quoted };
  };

  const backquote = (quoted: boolean): Part => {
    const start = i;
    i++;
    while (i < s.length && s[i] !== '`') i += s[i] === '\\' ? 2 : 1;
    if (i >= s.length) throw notRead('an unclosed `', line);
    i++;
    return { expr: s.slice(start, i), quoted };
  };

  const word = (): Word => {
    const start = i;
    const startLine = line;
    const parts: Part[] = [];
    const lit = (text: string, quoted: boolean): void => {
      const last = parts.at(-1);
      if (last !== undefined && 'lit' in last && last.quoted === quoted) last.lit += text;
      else parts.push({ lit: text, quoted });
    };
    while (i < s.length) {
      const c = s[i] as string;
      if (c === '\\') {
        if (s[i + 1] === '\n') line++;
        else if (i + 1 < s.length) lit(s[i + 1] as string, true);
        i += 2;
      } else if (c === ' ' || c === '\t' || c === '\n' || ';&|()<>'.includes(c)) {
        break;
      } else if (c === "'") {
        const end = s.indexOf("'", i + 1);
        if (end < 0) throw notRead("an unclosed '", line);
        const text = s.slice(i + 1, end);
        line += text.split('\n').length - 1;
        lit(text, true);
        // An empty '' still makes a word.
        if (text === '') parts.push({ lit: '', quoted: true });
        i = end + 1;
      } else if (c === '"') {
        i++;
        let any = false;
        while (i < s.length && s[i] !== '"') {
          const d = s[i] as string;
          any = true;
          if (d === '\\' && '$`"\\\n'.includes(s[i + 1] ?? '')) {
            if (s[i + 1] !== '\n') lit(s[i + 1] as string, true);
            else line++;
            i += 2;
          } else if (d === '$') parts.push(dollar(true));
          else if (d === '`') parts.push(backquote(true));
          else {
            if (d === '\n') line++;
            lit(d, true);
            i++;
          }
        }
        if (i >= s.length) throw notRead('an unclosed "', startLine);
        if (!any) parts.push({ lit: '', quoted: true });
        i++;
      } else if (c === '$') {
        parts.push(dollar(false));
      } else if (c === '`') {
        parts.push(backquote(false));
      } else {
        lit(c, false);
        i++;
      }
    }
    return { parts, raw: s.slice(start, i).replace(/\\\n\s*/g, ''), line: startLine };
  };

  const heredocBodies = (): void => {
    for (const h of heredocs.splice(0)) {
      for (;;) {
        if (i >= s.length) throw notRead(`the here-document ${h.delimiter} does not end`, line);
        let end = s.indexOf('\n', i);
        if (end < 0) end = s.length;
        const text = s.slice(i, end);
        i = end + 1;
        line++;
        if ((h.tabs ? text.replace(/^\t+/, '') : text) === h.delimiter) break;
      }
    }
  };

  while (i < s.length) {
    const c = s[i] as string;
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    if (c === '\\' && s[i + 1] === '\n') {
      i += 2;
      line++;
      continue;
    }
    if (c === '#') {
      while (i < s.length && s[i] !== '\n') i++;
      continue;
    }
    // An IO number (`2>`, `1>&2`) is part of its redirection.
    const io = /^[0-9]+(?=[<>])/.exec(s.slice(i, i + 12));
    if (io !== null) i += io[0].length;
    const op = OPERATORS.find((o) => s.startsWith(o, i));
    if (op !== undefined) {
      tokens.push({ kind: 'op', op, line });
      i += op.length;
      if (op === '\n') {
        line++;
        heredocBodies();
      } else if (op === '<<' || op === '<<-') {
        heredocNext = op === '<<-';
      }
      continue;
    }
    const w = word();
    tokens.push({ kind: 'word', word: w });
    if (heredocNext !== undefined) {
      heredocs.push({ delimiter: w.parts.map((p) => ('lit' in p ? p.lit : '')).join(''), tabs: heredocNext });
      heredocNext = undefined;
    }
  }
  if (heredocs.length > 0) throw notRead('a here-document has no body', line);
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// The syntax tree
// ---------------------------------------------------------------------------------------------

type Node =
  | { t: 'simple'; words: Word[]; line: number }
  | { t: 'and' | 'or'; left: Node; right: Node }
  | { t: 'not'; body: Node }
  | { t: 'pipe'; commands: Node[] }
  | { t: 'if'; clauses: { cond: Node[]; body: Node[]; line: number }[]; otherwise: Node[] | undefined }
  | { t: 'case'; word: Word; items: { patterns: Word[]; body: Node[] }[]; line: number }
  | { t: 'for'; name: string; words: Word[] | undefined; body: Node[]; line: number }
  | { t: 'loop'; cond: Node[]; body: Node[]; line: number }
  | { t: 'group'; body: Node[]; subshell: boolean }
  | { t: 'function'; name: string; body: Node };

/** The text of an unquoted literal word (a reserved word, a name), else undefined. */
function plain(w: Word): string | undefined {
  const [p, ...rest] = w.parts;
  return rest.length === 0 && p !== undefined && 'lit' in p && !p.quoted ? p.lit : undefined;
}

const TERMINATORS = new Set(['then', 'elif', 'else', 'fi', 'do', 'done', 'esac', '}']);

/** A recursive-descent parser of XCU 2.10's grammar, over the tokens. */
class Parser {
  readonly #tokens: Token[];
  #at = 0;

  constructor(tokens: Token[]) {
    this.#tokens = tokens;
  }

  script(): Node[] {
    const nodes = this.#list();
    const t = this.#tokens[this.#at];
    if (t !== undefined) throw notRead(`unexpected ${t.kind === 'op' ? JSON.stringify(t.op) : t.word.raw}`, lineOf(t));
    return nodes;
  }

  #peekOp(op: string): boolean {
    const t = this.#tokens[this.#at];
    return t?.kind === 'op' && t.op === op;
  }

  #peekWord(text: string): boolean {
    const t = this.#tokens[this.#at];
    return t?.kind === 'word' && plain(t.word) === text;
  }

  #line(): number {
    const t = this.#tokens[this.#at] ?? this.#tokens.at(-1);
    return t === undefined ? 1 : lineOf(t);
  }

  #expectWord(text: string): void {
    if (!this.#peekWord(text)) throw notRead(`${text} expected`, this.#line());
    this.#at++;
  }

  #expectOp(op: string): void {
    if (!this.#peekOp(op)) throw notRead(`${JSON.stringify(op)} expected`, this.#line());
    this.#at++;
  }

  #newlines(): void {
    while (this.#peekOp('\n')) this.#at++;
  }

  /** Commands up to a reserved word that ends a compound command, `)`, `;;` or the end. */
  #list(): Node[] {
    const nodes: Node[] = [];
    for (;;) {
      while (this.#peekOp('\n') || this.#peekOp(';')) this.#at++;
      const t = this.#tokens[this.#at];
      if (t === undefined || (t.kind === 'op' && (t.op === ')' || t.op === ';;'))) break;
      if (t.kind === 'word' && TERMINATORS.has(plain(t.word) ?? '')) break;
      nodes.push(this.#andOr());
      const after = this.#tokens[this.#at];
      if (after === undefined) break;
      if (after.kind === 'op' && (after.op === '\n' || after.op === ';' || after.op === '&')) {
        this.#at++;
        continue;
      }
      if (after.kind === 'op' && (after.op === ')' || after.op === ';;')) break;
      if (after.kind === 'word' && TERMINATORS.has(plain(after.word) ?? '')) break;
      throw notRead(`unexpected ${after.kind === 'op' ? JSON.stringify(after.op) : after.word.raw}`, lineOf(after));
    }
    return nodes;
  }

  #andOr(): Node {
    let left = this.#pipeline();
    for (;;) {
      const op = this.#peekOp('&&') ? 'and' : this.#peekOp('||') ? 'or' : undefined;
      if (op === undefined) return left;
      this.#at++;
      this.#newlines();
      left = { t: op, left, right: this.#pipeline() };
    }
  }

  #pipeline(): Node {
    const bang = this.#peekWord('!');
    if (bang) this.#at++;
    const commands = [this.#command()];
    while (this.#peekOp('|')) {
      this.#at++;
      this.#newlines();
      commands.push(this.#command());
    }
    const node: Node = commands.length === 1 ? (commands[0] as Node) : { t: 'pipe', commands };
    return bang ? { t: 'not', body: node } : node;
  }

  #command(): Node {
    const t = this.#tokens[this.#at];
    if (t === undefined) throw notRead('a command expected', this.#line());
    const line = lineOf(t);
    const name = t.kind === 'word' ? plain(t.word) : undefined;
    let node: Node | undefined;
    if (name === 'if') node = this.#if();
    else if (name === 'case') node = this.#case();
    else if (name === 'for') node = this.#for();
    else if (name === 'while' || name === 'until') {
      this.#at++;
      const cond = this.#list();
      this.#expectWord('do');
      const body = this.#list();
      this.#expectWord('done');
      node = { t: 'loop', cond, body, line };
    } else if (name === '{') {
      this.#at++;
      const body = this.#list();
      this.#expectWord('}');
      node = { t: 'group', body, subshell: false };
    } else if (t.kind === 'op' && t.op === '(') {
      this.#at++;
      const body = this.#list();
      this.#expectOp(')');
      node = { t: 'group', body, subshell: true };
    } else if (t.kind === 'word' && name !== undefined && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(name) && this.#isFunction()) {
      this.#at += 3;
      this.#newlines();
      return { t: 'function', name, body: this.#command() };
    }
    if (node !== undefined) {
      this.#redirections();
      return node;
    }
    return this.#simple(line);
  }

  /** Whether the tokens from here are `name ( )`. */
  #isFunction(): boolean {
    const [a, b] = [this.#tokens[this.#at + 1], this.#tokens[this.#at + 2]];
    return a?.kind === 'op' && a.op === '(' && b?.kind === 'op' && b.op === ')';
  }

  /** Redirections after a compound command (`done > /dev/null`): they change nothing the reading sees. */
  #redirections(): void {
    for (;;) {
      const t = this.#tokens[this.#at];
      if (t?.kind !== 'op' || !REDIRECTIONS.has(t.op)) return;
      this.#at++;
      if (this.#tokens[this.#at]?.kind !== 'word') throw notRead(`a file expected after ${t.op}`, t.line);
      this.#at++;
    }
  }

  #simple(line: number): Node {
    const words: Word[] = [];
    let redirected = false;
    for (;;) {
      const t = this.#tokens[this.#at];
      if (t === undefined) break;
      if (t.kind === 'word') {
        words.push(t.word);
        this.#at++;
        continue;
      }
      if (!REDIRECTIONS.has(t.op)) break;
      this.#redirections();
      redirected = true;
    }
    if (words.length === 0 && !redirected)
      throw notRead(
        `unexpected ${JSON.stringify(this.#tokens[this.#at]?.kind === 'op' ? (this.#tokens[this.#at] as { op: string }).op : '')}`,
        line,
      );
    return { t: 'simple', words, line };
  }

  #if(): Node {
    const clauses: { cond: Node[]; body: Node[]; line: number }[] = [];
    let otherwise: Node[] | undefined;
    let keyword = 'if';
    while (keyword === 'if' || keyword === 'elif') {
      const line = this.#line();
      this.#at++;
      const cond = this.#list();
      this.#expectWord('then');
      const body = this.#list();
      clauses.push({ cond, body, line });
      keyword = this.#peekWord('elif') ? 'elif' : this.#peekWord('else') ? 'else' : 'fi';
    }
    if (keyword === 'else') {
      this.#at++;
      otherwise = this.#list();
    }
    this.#expectWord('fi');
    return { t: 'if', clauses, otherwise };
  }

  #case(): Node {
    const line = this.#line();
    this.#at++;
    const t = this.#tokens[this.#at];
    if (t?.kind !== 'word') throw notRead('a word expected after case', line);
    this.#at++;
    this.#newlines();
    this.#expectWord('in');
    const items: { patterns: Word[]; body: Node[] }[] = [];
    for (;;) {
      this.#newlines();
      if (this.#peekWord('esac')) break;
      if (this.#peekOp('(')) this.#at++;
      const patterns: Word[] = [];
      for (;;) {
        const p = this.#tokens[this.#at];
        if (p?.kind !== 'word') throw notRead('a case pattern expected', this.#line());
        patterns.push(p.word);
        this.#at++;
        if (!this.#peekOp('|')) break;
        this.#at++;
      }
      this.#expectOp(')');
      const body = this.#list();
      items.push({ patterns, body });
      if (this.#peekOp(';;')) this.#at++;
      else if (!this.#peekWord('esac')) throw notRead(';; or esac expected', this.#line());
    }
    this.#expectWord('esac');
    return { t: 'case', word: t.word, items, line };
  }

  #for(): Node {
    const line = this.#line();
    this.#at++;
    const t = this.#tokens[this.#at];
    const name = t?.kind === 'word' ? plain(t.word) : undefined;
    if (name === undefined || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw notRead('a name expected after for', line);
    this.#at++;
    this.#newlines();
    let words: Word[] | undefined;
    if (this.#peekWord('in')) {
      this.#at++;
      words = [];
      for (let w = this.#tokens[this.#at]; w?.kind === 'word'; w = this.#tokens[++this.#at]) words.push(w.word);
    }
    if (this.#peekOp(';')) this.#at++;
    this.#newlines();
    this.#expectWord('do');
    const body = this.#list();
    this.#expectWord('done');
    return { t: 'for', name, words, body, line };
  }
}

function lineOf(t: Token): number {
  return t.kind === 'op' ? t.line : t.word.line;
}

// ---------------------------------------------------------------------------------------------
// The walk
// ---------------------------------------------------------------------------------------------

/** A command's exit status as far as the reading knows it. */
type Status = 'ok' | 'fail' | 'unknown';

/** Why what is walked may not run (undefined: it runs). */
type Doubt = string | undefined;

/** A word's fields, or the expansion that the reading does not know. */
type Fields = { fields: string[] } | { unknown: string };

const UPDATE_ALTERNATIVES = /^(?:(?:\/usr)?\/s?bin\/)?update-alternatives$/;
/** Commands that run another command given as their arguments. */
const WRAPPERS = new Set(['eval', 'exec', 'env', 'command', 'sh', 'bash', 'dash', 'xargs', 'nice', 'chroot', 'nohup', 'timeout']);
/** Builtins that set or unset the variables they name. */
const SETTERS = new Set(['unset', 'read', 'local', 'export', 'readonly', 'getopts', 'typeset']);
const MAX_CALLS = 32;

class Walk {
  readonly actions: AlternativesAction[] = [];
  readonly unread: UnreadCommand[] = [];
  /** `$1`...: undefined once `set --` or `shift` made them unknown. */
  #positional: string[] | undefined;
  /** The variables known (a `for` loop's); any other is unknown. */
  readonly #vars = new Map<string, string>();
  readonly #functions = new Map<string, Node>();
  /** The script exited (or a function returned) for certain: nothing more runs. */
  #stopped = false;
  /** A function returned for certain: the call ends. */
  #returned = false;
  /** Set when the script may have exited: what follows may not run. */
  #mayHaveExited: Doubt;
  #calls = 0;

  constructor(positional: string[]) {
    this.#positional = positional;
  }

  list(nodes: readonly Node[], doubt: Doubt): Status {
    let status: Status = 'ok';
    for (const n of nodes) {
      if (this.#stopped || this.#returned) break;
      status = this.#node(n, doubt ?? this.#mayHaveExited);
    }
    return status;
  }

  #node(n: Node, doubt: Doubt): Status {
    switch (n.t) {
      case 'simple':
        return this.#simple(n, doubt);
      case 'and':
      case 'or': {
        const left = this.#node(n.left, doubt);
        if (this.#stopped || this.#returned) return left;
        const runs = n.t === 'and' ? 'ok' : 'fail';
        if (left !== runs && left !== 'unknown') return left;
        const right = this.#node(
          n.right,
          left === 'unknown'
            ? (doubt ?? `it runs only after a command whose status is known when the script runs (line ${firstLine(n.left)})`)
            : doubt,
        );
        return left === 'unknown' && right !== (n.t === 'and' ? 'fail' : 'ok') ? 'unknown' : right;
      }
      case 'not': {
        const s = this.#node(n.body, doubt);
        return s === 'ok' ? 'fail' : s === 'fail' ? 'ok' : 'unknown';
      }
      case 'pipe': {
        // Each command of a pipeline runs in a subshell: an exit there ends that command only.
        for (const c of n.commands) this.#subshell(() => this.#node(c, doubt));
        return 'unknown';
      }
      case 'group':
        return n.subshell ? this.#subshell(() => this.list(n.body, doubt)) : this.list(n.body, doubt);
      case 'function':
        this.#functions.set(n.name, n.body);
        return 'ok';
      case 'if':
        return this.#if(n, doubt);
      case 'case':
        return this.#case(n, doubt);
      case 'for':
        return this.#for(n, doubt);
      case 'loop': {
        const why = doubt ?? `it is in a loop (line ${n.line}) that runs as many times as the script finds`;
        this.list(n.cond, why);
        this.list(n.body, why);
        return 'unknown';
      }
    }
  }

  #subshell(run: () => Status): Status {
    const [stopped, positional, vars] = [this.#stopped, this.#positional, new Map(this.#vars)];
    const status = run();
    this.#stopped = stopped;
    this.#positional = positional;
    this.#vars.clear();
    for (const [k, v] of vars) this.#vars.set(k, v);
    return status;
  }

  #if(n: Extract<Node, { t: 'if' }>, doubt: Doubt): Status {
    let why = doubt;
    for (const clause of n.clauses) {
      const cond = this.list(clause.cond, why);
      if (this.#stopped || this.#returned) return cond;
      if (cond === 'fail') continue;
      if (cond === 'ok') return this.list(clause.body, why);
      why ??= `it runs only if the condition at line ${clause.line} holds, which is known only when the script runs`;
      this.list(clause.body, why);
    }
    if (n.otherwise !== undefined) return this.list(n.otherwise, why);
    return why === doubt ? 'ok' : 'unknown';
  }

  #case(n: Extract<Node, { t: 'case' }>, doubt: Doubt): Status {
    const subject = this.#string(n.word);
    let why: Doubt =
      typeof subject === 'string'
        ? doubt
        : (doubt ?? `it is in a case on ${subject.unknown} (line ${n.line}), which is known only when the script runs`);
    for (const item of n.items) {
      let matched: boolean | undefined = false;
      for (const p of item.patterns) {
        const m = typeof subject === 'string' ? matchPattern(p, subject, this) : undefined;
        if (m === true) {
          matched = true;
          break;
        }
        if (m === undefined) matched = undefined;
      }
      if (matched === false && why === doubt) continue;
      if (matched === true && why === doubt) return this.list(item.body, why);
      why ??= `it is in a case pattern (line ${n.line}) that is matched only when the script runs`;
      this.list(item.body, why);
    }
    return 'unknown';
  }

  #for(n: Extract<Node, { t: 'for' }>, doubt: Doubt): Status {
    const values: string[] = [];
    let unknown: string | undefined = n.words === undefined ? '"$@"' : undefined;
    for (const w of n.words ?? []) {
      const f = this.#fields(w);
      if ('unknown' in f) {
        unknown = f.unknown;
        break;
      }
      values.push(...f.fields);
    }
    let status: Status = 'ok';
    if (unknown !== undefined) {
      this.#vars.delete(n.name);
      return this.list(n.body, doubt ?? `it is in a loop over ${unknown} (line ${n.line}), known only when the script runs`);
    }
    for (const v of values) {
      this.#vars.set(n.name, v);
      status = this.list(n.body, doubt);
      if (this.#stopped || this.#returned) break;
    }
    return status;
  }

  /** A parameter's value, or undefined when the reading does not know it. */
  param(name: string): string | undefined {
    if (/^[0-9]$/.test(name)) {
      if (name === '0' || this.#positional === undefined) return undefined;
      return this.#positional[Number(name) - 1] ?? '';
    }
    return this.#vars.get(name);
  }

  /** A word expanded without field splitting (a case subject, an assignment). */
  #string(w: Word): string | { unknown: string } {
    let out = '';
    for (const p of w.parts) {
      if ('lit' in p) out += p.lit;
      else if ('param' in p) {
        const v = this.param(p.param);
        if (v === undefined) return { unknown: `$${p.param}` };
        out += v;
      } else return { unknown: p.expr };
    }
    return out;
  }

  /** A word's fields after expansion, field splitting and (refused) pathname expansion. */
  #fields(w: Word): Fields {
    const fields: string[] = [];
    let current = '';
    let started = false;
    for (const p of w.parts) {
      if ('lit' in p) {
        if (!p.quoted && /[*?]|\[.*\]/.test(p.lit) && !/^\[$|^\]$/.test(p.lit))
          return { unknown: `the pattern ${w.raw}, which names the files there are when the script runs` };
        if (!p.quoted && p.lit.startsWith('~') && current === '') return { unknown: w.raw };
        current += p.lit;
        started = true;
        continue;
      }
      if ('expr' in p) return { unknown: p.expr };
      const v = this.param(p.param);
      if (v === undefined) return { unknown: `$${p.param}` };
      if (p.quoted) {
        current += v;
        started = true;
        continue;
      }
      // Unquoted: split at blanks (the default IFS).
      const pieces = v.split(/[ \t\n]+/);
      for (const [k, piece] of pieces.entries()) {
        if (k > 0) {
          if (started || current !== '') fields.push(current);
          current = '';
          started = false;
        }
        current += piece;
        if (piece !== '') started = true;
      }
    }
    if (started || current !== '' || w.parts.some((p) => p.quoted)) fields.push(current);
    return { fields };
  }

  #simple(n: Extract<Node, { t: 'simple' }>, doubt: Doubt): Status {
    // Leading assignments: alone, they set variables the reading does not follow.
    let first = 0;
    while (first < n.words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(n.words[first]?.raw ?? '')) first++;
    const words = n.words.slice(first);
    if (words.length === 0) {
      for (const w of n.words) this.#vars.delete((w.raw.split('=')[0] as string).trim());
      return 'ok';
    }
    const argv: string[] = [];
    let unknown: string | undefined;
    for (const w of words) {
      const f = this.#fields(w);
      if ('unknown' in f) {
        unknown ??= f.unknown;
        continue;
      }
      argv.push(...f.fields);
    }
    const name = unknown === undefined ? argv[0] : this.#fieldsOrUndefined(words[0] as Word)?.[0];
    const mentions = words.some((w) => /update-alternatives/.test(w.raw));
    if (name !== undefined && UPDATE_ALTERNATIVES.test(name)) {
      this.#updateAlternatives(n.line, argv, unknown, doubt);
      return 'unknown';
    }
    if (mentions && (name === undefined || (WRAPPERS.has(name) && !(name === 'command' && /^-[vV]$/.test(argv[1] ?? ''))))) {
      this.unread.push({ line: n.line, why: `update-alternatives is run through ${name ?? 'a name known only when the script runs'}` });
      return 'unknown';
    }
    if (name === undefined) return 'unknown';
    if (SETTERS.has(name)) {
      for (const w of words.slice(1)) this.#vars.delete((w.raw.split('=')[0] as string).replace(/^-.*/, ''));
      return 'unknown';
    }
    if (name === 'set' && argv.slice(1).some((a) => !/^[-+][a-z]+$/.test(a))) this.#positional = undefined;
    if (name === 'shift') this.#positional = undefined;
    if (name === 'exit' || name === 'return') {
      if (doubt === undefined) {
        if (name === 'exit') this.#stopped = true;
        else this.#returned = true;
      } else this.#mayHaveExited ??= `the script may have ended before it (${name} at line ${n.line})`;
      return 'unknown';
    }
    if (name === 'true' || name === ':') return 'ok';
    if (name === 'false') return 'fail';
    if (name === '[' || name === 'test') {
      if (unknown !== undefined) return 'unknown';
      const args = argv.slice(1);
      if (name === '[' && args.pop() !== ']') return 'unknown';
      const r = evalTest(args);
      return r === undefined ? 'unknown' : r ? 'ok' : 'fail';
    }
    const fn = this.#functions.get(name);
    if (fn !== undefined) return this.#call(fn, unknown === undefined ? argv.slice(1) : undefined, doubt, n.line);
    return 'unknown';
  }

  #fieldsOrUndefined(w: Word): string[] | undefined {
    const f = this.#fields(w);
    return 'fields' in f ? f.fields : undefined;
  }

  #call(body: Node, args: string[] | undefined, doubt: Doubt, line: number): Status {
    if (this.#calls >= MAX_CALLS) {
      this.#mayHaveExited ??= `the calls nest deeper than ${MAX_CALLS} (line ${line})`;
      return 'unknown';
    }
    const positional = this.#positional;
    this.#positional = args;
    this.#calls++;
    const status = this.#node(body, doubt);
    this.#calls--;
    this.#returned = false;
    this.#positional = positional;
    return status;
  }

  #updateAlternatives(line: number, argv: string[], unknown: string | undefined, doubt: Doubt): void {
    if (unknown !== undefined) {
      this.unread.push({ line, why: `it uses ${unknown}, which is known only when the script runs` });
      return;
    }
    const parsed = parseUpdateAlternatives(argv.slice(1), line);
    if (parsed === undefined) return;
    if ('why' in parsed) {
      this.unread.push({ line, why: parsed.why });
      return;
    }
    if (doubt !== undefined) {
      this.unread.push({ line, why: doubt, action: parsed });
      return;
    }
    this.actions.push(parsed);
  }
}

function firstLine(n: Node): number {
  switch (n.t) {
    case 'simple':
    case 'case':
    case 'for':
    case 'loop':
      return n.line;
    case 'and':
    case 'or':
      return firstLine(n.left);
    case 'not':
      return firstLine(n.body);
    case 'pipe':
      return n.commands[0] === undefined ? 0 : firstLine(n.commands[0]);
    case 'if':
      return n.clauses[0]?.line ?? 0;
    case 'group':
      return n.body[0] === undefined ? 0 : firstLine(n.body[0]);
    case 'function':
      return firstLine(n.body);
  }
}

/** Options of update-alternatives(1) that change where it works: a script giving one is not read. */
const ELSEWHERE = new Set(['--altdir', '--admindir', '--instdir', '--root', '--log']);
/** Actions that change nothing. */
const READ_ONLY = new Set(['--display', '--query', '--list', '--get-selections', '--help', '--version']);

/**
 * An `update-alternatives` command line (its arguments) as the action it takes; undefined for
 * one that changes nothing; `why` for one the build does not make.
 */
function parseUpdateAlternatives(args: string[], line: number): AlternativesAction | { why: string } | undefined {
  let action: AlternativesAction | undefined;
  const slaves: AlternativeSlave[] = [];
  for (let k = 0; k < args.length; ) {
    const a = args[k] as string;
    if (a === '--quiet' || a === '--verbose' || a === '--debug') {
      k++;
    } else if (ELSEWHERE.has(a) || a === '--force') {
      return { why: `it gives ${a}` };
    } else if (READ_ONLY.has(a)) {
      return undefined;
    } else if (a === '--install') {
      const [link, name, path, priority] = args.slice(k + 1, k + 5);
      if (action !== undefined || priority === undefined)
        return { why: 'its --install is not followed by a link, a name, a path and a priority' };
      if (!/^-?[0-9]+$/.test(priority) || !Number.isSafeInteger(Number(priority)) || Math.abs(Number(priority)) > 2 ** 31 - 1)
        return { why: `its priority ${JSON.stringify(priority)} is not an integer` };
      action = {
        action: 'install',
        line,
        link: link as string,
        name: name as string,
        path: path as string,
        priority: Number(priority),
        slaves,
      };
      k += 5;
    } else if (a === '--slave') {
      const [link, name, path] = args.slice(k + 1, k + 4);
      if (action?.action !== 'install' || path === undefined)
        return { why: '--slave comes without a link, a name and a path after an --install' };
      slaves.push({ link: link as string, name: name as string, path });
      k += 4;
    } else if (a === '--remove' && action === undefined && args.length >= k + 3) {
      action = { action: 'remove', line, name: args[k + 1] as string, path: args[k + 2] as string };
      k += 3;
    } else if (a === '--remove-all' && action === undefined && args.length >= k + 2) {
      action = { action: 'remove-all', line, name: args[k + 1] as string };
      k += 2;
    } else {
      return { why: `it runs update-alternatives ${a}, which the build does not make` };
    }
  }
  return action ?? { why: 'it names no action' };
}

/**
 * `test`'s answer for `args` (XCU `test`, the cases by number of arguments), or undefined when it
 * depends on the running system (a file test) or is not one the reading follows.
 */
function evalTest(args: readonly string[]): boolean | undefined {
  const [a, b, c, d] = args;
  const not = (r: boolean | undefined): boolean | undefined => (r === undefined ? undefined : !r);
  switch (args.length) {
    case 0:
      return false;
    case 1:
      return a !== '';
    case 2:
      if (a === '!') return b !== '';
      if (a === '-n') return b !== '';
      if (a === '-z') return b === '';
      return undefined;
    case 3:
      if (b === '=') return a === c;
      if (b === '!=') return a !== c;
      if (b === '-a' || b === '-o') {
        const [x, y] = [evalTest([a as string]), evalTest([c as string])];
        if (x === undefined || y === undefined) return undefined;
        return b === '-a' ? x && y : x || y;
      }
      if (a === '!') return not(evalTest([b as string, c as string]));
      if (a === '(' && c === ')') return evalTest([b as string]);
      return undefined;
    case 4:
      if (a === '!') return not(evalTest([b as string, c as string, d as string]));
      if (a === '(' && d === ')') return evalTest([b as string, c as string]);
      return undefined;
    default: {
      // `expr -a expr`, `expr -o expr`: -o binds looser than -a.
      const or = args.indexOf('-o');
      const and = args.indexOf('-a');
      const at = or > 0 ? or : and;
      if (at <= 0 || args.includes('(')) return undefined;
      const [x, y] = [evalTest(args.slice(0, at)), evalTest(args.slice(at + 1))];
      if (x === undefined || y === undefined) return undefined;
      return args[at] === '-a' ? x && y : x || y;
    }
  }
}

/** Whether `subject` matches the case pattern `p` (XCU 2.13), undefined when the pattern is not known. */
function matchPattern(p: Word, subject: string, walk: Walk): boolean | undefined {
  let re = '';
  for (const part of p.parts) {
    let text: string;
    if ('lit' in part) text = part.lit;
    else if ('param' in part) {
      // An unquoted parameter's value is a pattern too, as unquoted text is.
      const v = walk.param(part.param);
      if (v === undefined) return undefined;
      text = v;
    } else return undefined;
    if (part.quoted) {
      re += escapeRegExp(text);
      continue;
    }
    for (let k = 0; k < text.length; k++) {
      const c = text[k] as string;
      if (c === '*') re += '[\\s\\S]*';
      else if (c === '?') re += '[\\s\\S]';
      else if (c === '[') {
        const end = text.indexOf(']', k + 2);
        if (end < 0) {
          re += '\\[';
          continue;
        }
        let set = text.slice(k + 1, end);
        const negated = set.startsWith('!');
        if (negated) set = set.slice(1);
        re += `[${negated ? '^' : ''}${set.replace(/[\\\]^]/g, '\\$&')}]`;
        k = end;
      } else re += escapeRegExp(c);
    }
  }
  return new RegExp(`^${re}$`).test(subject);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}
