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
 *
 * The walk follows what dash does where it changes what runs after: `break`/`continue`, `exit`,
 * `exec`, `set -e` (a known failure ends the script; a command whose status only the running
 * script knows is taken to succeed, as it must for dpkg to configure the package at all),
 * `set -u`, function definitions and `unset -f`, command substitutions (run in a subshell, their
 * status an assignment's), `eval`, traps, and expansions that assign (`${v:=x}`, `$((v=1))`) or
 * change IFS. What it cannot decide as dash would leaves what follows in doubt, and an
 * update-alternatives run in a substitution, a trap or `eval` is reported, never made. The
 * script is untrusted: the reading counts its steps against an allowance proportional to the
 * script's size and limits nesting, and a script past those is reported as not read
 * (test/pkg/deb/script-reader.test.ts checks all this against dash itself).
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
  // dpkg runs the script by its #! line: `#!/bin/sh -e` sets -e as `set -e` does.
  const shebang = /^#![ \t]*\S+[ \t]+-([A-Za-z]+)/.exec(script)?.[1] ?? '';
  const walk = new Walk([...args], script.length, { errexit: shebang.includes('e'), nounset: shebang.includes('u') });
  try {
    walk.list(new Parser(tokenize(script)).script(), undefined);
  } catch (err) {
    // A RangeError is the engine's own limit (the stack, a string's length) met before the reading's.
    if (!(err instanceof ProvenantError || err instanceof LimitMet || err instanceof RangeError)) throw err;
    // Not read, or not to the end: every line naming update-alternatives is said to be left out.
    const unread: UnreadCommand[] = [];
    const lines = new Set([...walk.actions, ...walk.unread].map((a) => a.line));
    for (const [i, line] of script.split('\n').entries())
      if (MENTIONS.test(line.replace(/^\s*#.*$/, '')) || lines.has(i + 1))
        unread.push({ line: i + 1, why: `the script is not read: ${err.message}` });
    return { actions: [], unread };
  }
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
  /** For the delimiter of a here-document whose delimiter is unquoted: its body, which is expanded. */
  body?: Word;
}

type Token = { kind: 'word'; word: Word } | { kind: 'op'; op: string; line: number };

const OPERATORS = ['<<-', ';;', '&&', '||', '>>', '<<', '<&', '>&', '<>', '>|', ';', '&', '|', '(', ')', '<', '>', '\n'];
const REDIRECTIONS = new Set(['<<-', '>>', '<<', '<&', '>&', '<>', '>|', '<', '>']);

function notRead(message: string, line: number): ProvenantError {
  return new ProvenantError('INVALID_PACKAGE', `line ${line}: ${message}`, { where: `line ${line}` });
}

/** Splits a script into words and operators (XCU 2.3), quotes and expansions kept apart in each word. */
function tokenize(s: string, firstLine = 1): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = firstLine;
  /** Here-documents whose bodies start after the next newline. */
  const heredocs: { delimiter: string; tabs: boolean; word: Word }[] = [];
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
      const [start, startLine] = [i, line];
      let bodyEnd: number;
      for (;;) {
        if (i >= s.length) throw notRead(`the here-document ${h.delimiter} does not end`, line);
        let end = s.indexOf('\n', i);
        if (end < 0) end = s.length;
        const text = s.slice(i, end);
        bodyEnd = i;
        i = end + 1;
        line++;
        if ((h.tabs ? text.replace(/^\t+/, '') : text) === h.delimiter) break;
      }
      // An unquoted delimiter: the body is expanded as a double-quoted word is (XCU 2.7.4), and
      // what its substitutions run, runs.
      if (h.word.parts.every((p) => !p.quoted)) h.word.body = expandedText(start, bodyEnd, startLine);
    }
  };

  /** The text from `start` to `end` as a word expanded as here-document bodies are. */
  const expandedText = (start: number, end: number, startLine: number): Word => {
    const [after, afterLine] = [i, line];
    i = start;
    line = startLine;
    const parts: Part[] = [];
    while (i < end) {
      const d = s[i] as string;
      if (d === '\\' && '$`\\\n'.includes(s[i + 1] ?? '')) {
        parts.push({ lit: s[i + 1] === '\n' ? '' : (s[i + 1] as string), quoted: true });
        i += 2;
      } else if (d === '$') parts.push(dollar(true));
      else if (d === '`') parts.push(backquote(true));
      else {
        if (d === '\n') line++;
        parts.push({ lit: d, quoted: true });
        i++;
      }
    }
    if (i > end) throw notRead('an expansion in a here-document does not end in it', startLine);
    [i, line] = [after, afterLine];
    return { parts, raw: s.slice(start, end), line: startLine };
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
      heredocs.push({ delimiter: w.parts.map((p) => ('lit' in p ? p.lit : '')).join(''), tabs: heredocNext, word: w });
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
  | { t: 'simple'; words: Word[]; line: number; redirs: Word[] }
  | { t: 'redirected'; body: Node; redirs: Word[]; line: number }
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
  /** How deep the commands being parsed nest. */
  #depth = 0;

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
    if (this.#depth >= MAX_NESTING) throw notRead(`the commands nest deeper than ${MAX_NESTING}`, line);
    this.#depth++;
    try {
      return this.#commandAt(t, line);
    } finally {
      this.#depth--;
    }
  }

  #commandAt(t: Token, line: number): Node {
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
    } else if (t.kind === 'word' && name !== undefined && this.#isFunction()) {
      // dash refuses any other name (`update-alternatives() { ...; }` is a syntax error there).
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw notRead(`${name} is not a function name`, line);
      this.#at += 3;
      this.#newlines();
      return { t: 'function', name, body: this.#command() };
    }
    if (node !== undefined) {
      const redirs = this.#redirections();
      return redirs.length === 0 ? node : { t: 'redirected', body: node, redirs, line };
    }
    return this.#simple(line);
  }

  /** Whether the tokens from here are `name ( )`. */
  #isFunction(): boolean {
    const [a, b] = [this.#tokens[this.#at + 1], this.#tokens[this.#at + 2]];
    return a?.kind === 'op' && a.op === '(' && b?.kind === 'op' && b.op === ')';
  }

  /**
   * Redirections (`done > /dev/null`): the words that are expanded, whose substitutions run; a
   * here-document's delimiter is not, its body is unless the delimiter is quoted.
   */
  #redirections(): Word[] {
    const words: Word[] = [];
    for (;;) {
      const t = this.#tokens[this.#at];
      if (t?.kind !== 'op' || !REDIRECTIONS.has(t.op)) return words;
      this.#at++;
      const w = this.#tokens[this.#at];
      if (w?.kind !== 'word') throw notRead(`a file expected after ${t.op}`, t.line);
      if (t.op !== '<<' && t.op !== '<<-') words.push(w.word);
      else if (w.word.body !== undefined) words.push(w.word.body);
      this.#at++;
    }
  }

  #simple(line: number): Node {
    const words: Word[] = [];
    const redirs: Word[] = [];
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
      for (const w of this.#redirections()) redirs.push(w);
      redirected = true;
    }
    if (words.length === 0 && !redirected)
      throw notRead(
        `unexpected ${JSON.stringify(this.#tokens[this.#at]?.kind === 'op' ? (this.#tokens[this.#at] as { op: string }).op : '')}`,
        line,
      );
    return { t: 'simple', words, line, redirs };
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
const MENTIONS = /update-alternatives/;
/** Commands that run another command given as their arguments. */
const WRAPPERS = new Set(['env', 'command', 'sh', 'bash', 'dash', 'xargs', 'nice', 'chroot', 'nohup', 'timeout', 'sudo', 'su', 'setsid']);
/** Builtins that set or unset the variables they name. */
const SETTERS = new Set(['read', 'local', 'export', 'getopts', 'typeset']);
/** dash's special builtins (XCU 2.14), found before functions, whose prefix assignments stay. */
const SPECIAL = new Set([
  'break',
  ':',
  '.',
  'continue',
  'eval',
  'exec',
  'exit',
  'export',
  'readonly',
  'return',
  'set',
  'shift',
  'times',
  'trap',
  'unset',
]);
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;
const MAX_CALLS = 32;
/** How deep the parsed commands may nest, and the walk (calls, substitutions, eval) with them. */
const MAX_NESTING = 100;
const MAX_DEPTH = 300;
/** Actions and notes a reading may give: far more than any script has. */
const MAX_RESULTS = 10_000;
/** The steps (commands, characters expanded, pattern comparisons) a reading may take: so many per character of the script. */
const STEPS_BASE = 1_000_000;
const STEPS_PER_CHAR = 8;

/** A limit of the reading was met: the script is not read (caught in {@link readScriptAlternatives}). */
class LimitMet extends Error {}

/** A function's definitions that may be in effect; `maybeUnset` when it may have none. */
interface Definitions {
  bodies: readonly Node[];
  maybeUnset: boolean;
}

/** What a subshell copies: the state of the running shell as far as the reading follows it. */
interface Shell {
  /** `$1`...: undefined once the script made them unknown. */
  positional: string[] | undefined;
  /** The variables known (a `for` loop's); any other is unknown. */
  vars: Map<string, string>;
  functions: Map<string, Definitions>;
  /** IFS is the default (space, tab, newline): otherwise unquoted expansions are not split by the reading. */
  ifsDefault: boolean;
  /** `set -e`; 'maybe' where it was set or unset by what may not have run. */
  errexit: boolean | 'maybe';
  nounset: boolean | 'maybe';
  /** The script exited (or a function returned) for certain: nothing more runs. */
  stopped: boolean;
  returned: boolean;
  /** A `break n` or `continue n` is leaving this many loops. */
  breaking: number;
  continuing: number;
  /** Loops that a `break` may leave (the innermost function's). */
  loops: number;
  /** Set when the script may have exited: what follows may not run. */
  mayHaveExited: Doubt;
  /** Set when a `break` or `continue` may have run: the rest of the loop (or of its pass) may not. */
  breakDoubt: Doubt;
  continueDoubt: Doubt;
  /** Set where an update-alternatives command, if it runs, is never made (a command substitution, a trap, eval). */
  noting: string | undefined;
}

class Walk {
  readonly actions: AlternativesAction[] = [];
  readonly unread: UnreadCommand[] = [];
  #sh: Shell;
  #calls = 0;
  #depth = 0;
  #steps = 0;
  readonly #maxSteps: number;
  /** Above 0 where `set -e` does not end the script: a condition, the left of `&&`/`||`, under `!`. */
  #suppress = 0;
  /** How many subshells the walk is in. */
  #subshells = 0;
  readonly #parsed = new Map<string, Node[] | undefined>();

  constructor(positional: string[], size: number, flags: { errexit: boolean; nounset: boolean }) {
    this.#maxSteps = STEPS_BASE + STEPS_PER_CHAR * size;
    this.#sh = {
      positional,
      vars: new Map(),
      functions: new Map(),
      ifsDefault: true,
      ...flags,
      stopped: false,
      returned: false,
      breaking: 0,
      continuing: 0,
      loops: 0,
      mayHaveExited: undefined,
      breakDoubt: undefined,
      continueDoubt: undefined,
      noting: undefined,
    };
  }

  /** Counts `n` steps of work, and gives up past the reading's allowance. */
  charge(n = 1): void {
    this.#steps += n;
    if (this.#steps > this.#maxSteps) throw new LimitMet(`the reading takes more than ${this.#maxSteps} steps`);
  }

  #halted(): boolean {
    const sh = this.#sh;
    return sh.stopped || sh.returned || sh.breaking > 0 || sh.continuing > 0;
  }

  list(nodes: readonly Node[], doubt: Doubt): Status {
    let status: Status = 'ok';
    for (const n of nodes) {
      if (this.#halted()) break;
      status = this.#node(n, this.#doubt(doubt));
      // The script is taken to succeed, not a subshell in it: there a command whose status is not
      // known may end the subshell under `set -e`.
      if (status === 'unknown' && this.#subshells > 0 && this.#sh.errexit !== false && this.#suppress === 0)
        this.#mayExit(
          `the subshell may have ended before it (set -e, a command at line ${firstLine(n)} whose status is known only when the script runs)`,
        );
    }
    return status;
  }

  /** `doubt`, or what has since left the rest in doubt: an exit or a `break` that may have run. */
  #doubt(doubt: Doubt): Doubt {
    const sh = this.#sh;
    return doubt ?? sh.mayHaveExited ?? sh.breakDoubt ?? sh.continueDoubt;
  }

  #node(n: Node, doubt: Doubt): Status {
    this.charge();
    if (this.#depth >= MAX_DEPTH) throw new LimitMet(`the commands run nest deeper than ${MAX_DEPTH}`);
    this.#depth++;
    const status = this.#nodeAt(n, doubt);
    this.#depth--;
    return status;
  }

  #nodeAt(n: Node, doubt: Doubt): Status {
    switch (n.t) {
      case 'simple':
        return this.#simple(n, doubt);
      case 'redirected':
        for (const w of n.redirs) this.#expand(w, n.line, doubt);
        return this.#node(n.body, this.#doubt(doubt));
      case 'and':
      case 'or': {
        this.#suppress++;
        const left = this.#node(n.left, doubt);
        this.#suppress--;
        if (this.#halted()) return left;
        const runs = n.t === 'and' ? 'ok' : 'fail';
        if (left !== runs && left !== 'unknown') return left;
        const right = this.#node(
          n.right,
          left === 'unknown'
            ? (this.#doubt(doubt) ?? `it runs only after a command whose status is known when the script runs (line ${firstLine(n.left)})`)
            : this.#doubt(doubt),
        );
        return left === 'unknown' && right !== (n.t === 'and' ? 'fail' : 'ok') ? 'unknown' : right;
      }
      case 'not': {
        this.#suppress++;
        const s = this.#node(n.body, doubt);
        this.#suppress--;
        // `! return 1` returns 1: the status of what ended the function or the script is not inverted.
        if (this.#halted()) return s;
        return s === 'ok' ? 'fail' : s === 'fail' ? 'ok' : 'unknown';
      }
      case 'pipe': {
        // Each command of a pipeline runs in a subshell (dash forks them all): an exit there ends that command only.
        // Its status is the last command's, which `set -e` sees as a command's.
        let status: Status = 'unknown';
        for (const c of n.commands) status = this.#subshell(() => this.#node(c, doubt));
        return this.#errexit(status, firstLine(n), doubt);
      }
      case 'group':
        // A subshell that fails is a command that fails: `set -e` ends the script there too.
        return n.subshell
          ? this.#errexit(
              this.#subshell(() => this.list(n.body, doubt)),
              firstLine(n),
              doubt,
            )
          : this.list(n.body, doubt);
      case 'function': {
        const prior = this.#sh.functions.get(n.name);
        this.#sh.functions.set(
          n.name,
          doubt === undefined
            ? { bodies: [n.body], maybeUnset: false }
            : // Defined only if this runs: the call runs one of the definitions, or none.
              { bodies: [...(prior?.bodies ?? []).filter((b) => b !== n.body), n.body], maybeUnset: prior?.maybeUnset ?? true },
        );
        return 'ok';
      }
      case 'if':
        return this.#if(n, doubt);
      case 'case':
        return this.#case(n, doubt);
      case 'for':
        return this.#for(n, doubt);
      case 'loop': {
        const why = doubt ?? `it is in a loop (line ${n.line}) that runs as many times as the script finds`;
        this.#loop(() => {
          this.#suppress++;
          this.list(n.cond, why);
          this.#suppress--;
          if (!this.#halted()) this.list(n.body, why);
        });
        return 'unknown';
      }
    }
  }

  /** Runs `body` as a loop's, where `break` and `continue` are the loop's own. */
  #loop(body: () => void): void {
    const sh = this.#sh;
    const [breakDoubt, continueDoubt] = [sh.breakDoubt, sh.continueDoubt];
    sh.loops++;
    body();
    sh.loops--;
    [sh.breakDoubt, sh.continueDoubt] = [breakDoubt, continueDoubt];
  }

  #subshell(run: () => Status): Status {
    const outer = this.#sh;
    this.charge(outer.vars.size + outer.functions.size);
    this.#sh = { ...outer, vars: new Map(outer.vars), functions: new Map(outer.functions) };
    this.#subshells++;
    const status = run();
    this.#subshells--;
    // A subshell that may have exited early has the status of an exit the reading does not know.
    const inner = this.#sh.mayHaveExited;
    const mayHaveExited = inner !== outer.mayHaveExited;
    this.#sh = outer;
    // Under `set -e` that unknown status may end this shell too.
    if (mayHaveExited && outer.errexit !== false && this.#suppress === 0) outer.mayHaveExited ??= inner;
    return mayHaveExited ? 'unknown' : status;
  }

  /** Where the script ends (`exit`, `exec`, `set -e`), or may. */
  #exit(why: string, doubt: Doubt): void {
    if (doubt === undefined) this.#sh.stopped = true;
    else this.#sh.mayHaveExited ??= why;
  }

  /** Where the script may end: what follows may not run. */
  #mayExit(why: string): void {
    this.#sh.mayHaveExited ??= why;
  }

  /** A command's status, after `set -e` ended the script if it failed where that counts. */
  #errexit(status: Status, line: number, doubt: Doubt): Status {
    if (status === 'fail' && this.#sh.errexit !== false && this.#suppress === 0)
      this.#exit(
        `the script may have ended before it (set -e, a command failing at line ${line})`,
        this.#sh.errexit === 'maybe' ? (doubt ?? 'set -e may be in effect') : doubt,
      );
    return status;
  }

  #forget(name: string): void {
    this.#sh.vars.delete(name);
    if (name === 'IFS') this.#sh.ifsDefault = false;
  }

  #forgetAll(): void {
    this.#sh.vars.clear();
    this.#sh.ifsDefault = false;
  }

  #note(line: number, why: string, action?: AlternativesAction): void {
    if (this.actions.length + this.unread.length >= MAX_RESULTS)
      throw new LimitMet(`it runs more than ${MAX_RESULTS} update-alternatives commands`);
    this.unread.push(action === undefined ? { line, why } : { line, why, action });
  }

  #if(n: Extract<Node, { t: 'if' }>, doubt: Doubt): Status {
    let why = doubt;
    for (const clause of n.clauses) {
      this.#suppress++;
      const cond = this.list(clause.cond, why);
      this.#suppress--;
      if (this.#halted()) return cond;
      if (cond === 'fail') continue;
      if (cond === 'ok') return this.list(clause.body, why);
      why ??= `it runs only if the condition at line ${clause.line} holds, which is known only when the script runs`;
      this.list(clause.body, why);
      if (this.#halted()) return 'unknown';
    }
    if (n.otherwise !== undefined) return this.list(n.otherwise, why);
    return why === doubt ? 'ok' : 'unknown';
  }

  #case(n: Extract<Node, { t: 'case' }>, doubt: Doubt): Status {
    this.#expand(n.word, n.line, doubt);
    doubt = this.#doubt(doubt);
    const subject = this.#string(n.word);
    let why: Doubt =
      typeof subject === 'string'
        ? doubt
        : (doubt ?? `it is in a case on ${subject.unknown} (line ${n.line}), which is known only when the script runs`);
    for (const item of n.items) {
      let matched: boolean | undefined = false;
      for (const p of item.patterns) {
        this.#expand(p, n.line, why);
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
      if (this.#halted()) break;
    }
    return 'unknown';
  }

  #for(n: Extract<Node, { t: 'for' }>, doubt: Doubt): Status {
    const values: string[] = [];
    let unknown: string | undefined = n.words === undefined ? '"$@"' : undefined;
    for (const w of n.words ?? []) {
      this.#expand(w, n.line, doubt);
      const f = this.#fields(w);
      if ('unknown' in f) {
        unknown = f.unknown;
        break;
      }
      for (const v of f.fields) values.push(v);
    }
    doubt = this.#doubt(doubt);
    let status: Status = 'ok';
    if (unknown !== undefined) {
      this.#forget(n.name);
      const why = doubt ?? `it is in a loop over ${unknown} (line ${n.line}), known only when the script runs`;
      this.#loop(() => {
        status = this.list(n.body, why);
      });
      this.#forget(n.name);
      return 'unknown';
    }
    this.#loop(() => {
      const sh = this.#sh;
      for (const v of values) {
        this.charge(v.length + 1);
        sh.vars.set(n.name, v);
        if (n.name === 'IFS') sh.ifsDefault = false;
        status = this.list(n.body, doubt);
        // A `continue` that may have run leaves the rest of its pass in doubt, not the next pass.
        sh.continueDoubt = undefined;
        if (sh.continuing > 0 && --sh.continuing > 0) break;
        if (sh.breaking > 0) {
          sh.breaking--;
          break;
        }
        if (sh.stopped || sh.returned) break;
      }
    });
    // Where the loop may not have run, its variable may have kept its value.
    if (doubt !== undefined) this.#forget(n.name);
    return status;
  }

  /** A parameter's value, or undefined when the reading does not know it. */
  param(name: string): string | undefined {
    if (/^[0-9]$/.test(name)) {
      if (name === '0' || this.#sh.positional === undefined) return undefined;
      return this.#sh.positional[Number(name) - 1] ?? '';
    }
    return this.#sh.vars.get(name);
  }

  /**
   * What expanding `w` does besides giving its value (XCU 2.6): its command substitutions run
   * (in a subshell, where an update-alternatives is never made), `${v:=x}` and `$((v=1))` set
   * variables, `${v:?}` and arithmetic errors end the script. The status of its last command
   * substitution, if it has one.
   */
  #expand(w: Word, line: number, doubt: Doubt): Status | undefined {
    this.charge(w.raw.length + 1);
    let status: Status | undefined;
    for (const p of w.parts) {
      if ('param' in p) {
        if (this.#sh.nounset) this.#unset(p.param, line, doubt);
        continue;
      }
      if (!('expr' in p)) continue;
      const e = p.expr;
      if (e.startsWith('$((')) this.#arithmetic(e.slice(3, -2), line);
      else if (e.startsWith('$(')) status = this.#substitution(e.slice(2, -1), line, doubt);
      else if (e.startsWith('`')) status = this.#substitution(unescapeBackquoted(e.slice(1, -1), p.quoted), line, doubt);
      else if (e.startsWith('${')) this.#braced(e.slice(2, -1), line, doubt);
    }
    return status;
  }

  /** Under `set -u`, expanding a parameter that is not set ends the script. */
  #unset(name: string, line: number, doubt: Doubt): void {
    const positional = this.#sh.positional;
    const why = `the script may have ended before it ($${name} may be unset under set -u, line ${line})`;
    if (/^[1-9]$/.test(name) && positional !== undefined) {
      if (Number(name) > positional.length) this.#exit(why, this.#sh.nounset === 'maybe' ? (doubt ?? why) : doubt);
    } else if (name !== '0' && this.param(name) === undefined) this.#mayExit(why);
  }

  #arithmetic(text: string, line: number): void {
    this.#nested(text, line);
    // An assignment in it sets a variable; a division by zero or a syntax error ends the script.
    if (/[=]|\+\+|--/.test(text)) for (const name of text.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? []) this.#forget(name);
    if (!/^\s*-?[0-9]+(\s*[-+*]\s*-?[0-9]+)*\s*$/.test(text))
      this.#mayExit(`the script may have ended before it (an arithmetic expansion at line ${line} may fail)`);
  }

  #braced(text: string, line: number, doubt: Doubt): void {
    const m = /^#?([A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*#?$!-])(:?[-=?+]|%%?|##?)?([\s\S]*)$/.exec(text);
    const mayEnd = `the script may have ended before it (\${${text}} at line ${line})`;
    if (m === null) {
      // dash: "Bad substitution", which ends the script.
      this.#exit(mayEnd, doubt);
      return;
    }
    const [, name = '', op = '', rest = ''] = m;
    if (op.includes('=')) this.#forget(name);
    if (op.includes('?') || (op.includes('=') && /^[0-9]/.test(name))) this.#mayExit(mayEnd);
    if (this.#sh.nounset && op === '') this.#unset(name, line, doubt);
    if (/[$`]/.test(rest)) {
      this.#nested(rest, line);
      this.#forgetAll();
      this.#mayExit(mayEnd);
    }
  }

  /** Text with substitutions the reading does not walk: an update-alternatives in it is reported. */
  #nested(text: string, line: number): void {
    if (/[$`]/.test(text) && MENTIONS.test(text))
      this.#note(line, 'it is in an expansion inside another, which the reading does not follow');
  }

  /** Runs a command substitution: in a subshell, where what update-alternatives commands run are reported. */
  #substitution(text: string, line: number, doubt: Doubt): Status {
    const nodes = this.#parse(text, line);
    if (nodes === undefined) {
      if (MENTIONS.test(text)) this.#note(line, 'it is in a command substitution that is not read');
      return 'unknown';
    }
    // dash keeps -e in the substitution's subshell even where the command is a condition.
    const suppress = this.#suppress;
    this.#suppress = 0;
    const status = this.#subshell(() => {
      this.#sh.noting ??= `it runs in a command substitution (line ${line}), which the build does not make`;
      return this.list(nodes, doubt);
    });
    this.#suppress = suppress;
    return status;
  }

  #parse(text: string, line: number): Node[] | undefined {
    this.charge(text.length + 1);
    const key = `${line}\n${text}`;
    if (this.#parsed.has(key)) return this.#parsed.get(key);
    let nodes: Node[] | undefined;
    try {
      nodes = new Parser(tokenize(text, line)).script();
    } catch (err) {
      if (!(err instanceof ProvenantError)) throw err;
    }
    this.#parsed.set(key, nodes);
    return nodes;
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
    this.charge(out.length);
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
      this.charge(v.length);
      if (p.quoted) {
        current += v;
        started = true;
        continue;
      }
      if (!this.#sh.ifsDefault) return { unknown: `$${p.param} split at an IFS the script set` };
      // A value with a pattern in it would be expanded to file names.
      if (/[*?[]/.test(v)) return { unknown: `$${p.param}, whose value is a pattern naming the files there are when the script runs` };
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
    // The expansions run first, in order: what they change, the words that follow see.
    let substituted: Status | undefined;
    for (const w of [...n.words, ...n.redirs]) substituted = this.#expand(w, n.line, doubt) ?? substituted;
    // What the expansions did (`${v:?}`) may have ended the script before the command.
    doubt = this.#doubt(doubt);
    let first = 0;
    while (first < n.words.length && ASSIGNMENT.test(n.words[first]?.raw ?? '')) first++;
    const assigned = n.words.slice(0, first).map((w) => w.raw.slice(0, w.raw.indexOf('=')));
    const words = n.words.slice(first);
    if (words.length === 0) {
      // Assignments alone: the variables are not followed; the status is the last substitution's (XCU 2.9.1).
      for (const a of assigned) this.#forget(a);
      return this.#errexit(substituted ?? 'ok', n.line, doubt);
    }
    const argv: string[] = [];
    let unknown: string | undefined;
    for (const w of words) {
      const f = this.#fields(w);
      if ('unknown' in f) {
        unknown ??= f.unknown;
        continue;
      }
      for (const v of f.fields) argv.push(v);
    }
    const name = unknown === undefined ? argv[0] : this.#fieldsOrUndefined(words[0] as Word)?.[0];
    const mentions = words.some((w) => MENTIONS.test(w.raw));
    if (unknown === undefined && name === undefined) return this.#errexit(substituted ?? 'ok', n.line, doubt);
    // Assignments before a special builtin stay; before a function, dash restores them; before any other command they are its own.
    if (name === undefined || SPECIAL.has(name) || this.#sh.functions.has(name)) for (const a of assigned) this.#forget(a);
    if (name === undefined) {
      if (mentions) this.#note(n.line, 'update-alternatives is run through a name known only when the script runs');
      this.#mayExit(`the script may have ended before it (a command named only when the script runs, line ${n.line})`);
      return 'unknown';
    }
    if (SPECIAL.has(name)) return this.#special(name, n, argv, unknown, doubt, mentions);
    const fn = this.#sh.functions.get(name);
    if (fn !== undefined) {
      const args = unknown === undefined ? argv.slice(1) : undefined;
      if (fn.bodies.length === 1 && !fn.maybeUnset) return this.#errexit(this.#call(fn.bodies[0] as Node, args, doubt), n.line, doubt);
      const why = doubt ?? `which definition of ${name} runs at line ${n.line}, if any, is known only when the script runs`;
      for (const body of fn.bodies) this.#call(body, args, why);
      return 'unknown';
    }
    if (UPDATE_ALTERNATIVES.test(name)) {
      this.#updateAlternatives(n.line, argv, unknown, doubt);
      return 'unknown';
    }
    if (mentions && (WRAPPERS.has(name) || name === 'alias') && !(name === 'command' && /^-[vV]$/.test(argv[1] ?? ''))) {
      this.#note(n.line, `update-alternatives is run through ${name}`);
      return 'unknown';
    }
    if (name === 'alias' && argv.length > 1)
      this.#sh.mayHaveExited ??= `an alias (line ${n.line}) may change what the commands after it run`;
    if (SETTERS.has(name)) {
      if (unknown !== undefined) this.#forgetAll();
      for (const a of argv.slice(1)) this.#forget(a.split('=')[0] as string);
      return 'unknown';
    }
    if (name === 'true') return 'ok';
    if (name === 'false') return this.#errexit('fail', n.line, doubt);
    if (name === '[' || name === 'test') {
      if (unknown !== undefined) return 'unknown';
      const args = argv.slice(1);
      if (name === '[' && args.pop() !== ']') return 'unknown';
      const r = evalTest(args);
      return r === undefined ? 'unknown' : this.#errexit(r ? 'ok' : 'fail', n.line, doubt);
    }
    return 'unknown';
  }

  /** The special builtins: what each changes of the shell the reading follows. */
  #special(
    name: string,
    n: Extract<Node, { t: 'simple' }>,
    argv: string[],
    unknown: string | undefined,
    doubt: Doubt,
    mentions: boolean,
  ): Status {
    const sh = this.#sh;
    const line = n.line;
    switch (name) {
      case ':':
      case 'times':
        return 'ok';
      case 'exit':
      case 'return': {
        const code = unknown === undefined ? argv[1] : 'unknown';
        const status: Status = code === undefined ? 'unknown' : code === '0' ? 'ok' : /^[0-9]+$/.test(code) ? 'fail' : 'unknown';
        // dash's `return` outside a function ends the script, as `exit` does.
        if (doubt !== undefined) sh.mayHaveExited ??= `the script may have ended before it (${name} at line ${line})`;
        else if (name === 'exit' || this.#calls === 0) sh.stopped = true;
        else sh.returned = true;
        return status;
      }
      case 'break':
      case 'continue': {
        const count =
          unknown !== undefined ? undefined : argv[1] === undefined ? 1 : /^[1-9][0-9]{0,3}$/.test(argv[1]) ? Number(argv[1]) : undefined;
        // Outside a loop (or in a function called from one) dash does nothing.
        if (sh.loops === 0 && count !== undefined) return 'ok';
        const why = `it may be skipped by the ${name} at line ${line}`;
        if (count === undefined) this.#mayExit(`the script may have ended before it (${name} at line ${line})`);
        else if (doubt !== undefined) {
          if (count !== 1) sh.mayHaveExited ??= why;
          else if (name === 'break') sh.breakDoubt ??= why;
          else sh.continueDoubt ??= why;
        } else if (name === 'break') sh.breaking = Math.min(count, sh.loops);
        else sh.continuing = Math.min(count, sh.loops);
        return 'ok';
      }
      case 'eval': {
        const nodes = unknown === undefined ? this.#parse(argv.slice(1).join(' '), line) : undefined;
        if (nodes === undefined) {
          if (mentions) this.#note(line, 'update-alternatives is run through eval');
          this.#forgetAll();
          sh.mayHaveExited ??= `the script may have ended before it (eval at line ${line} of text known only when the script runs)`;
          return 'unknown';
        }
        // Run in this shell, but an update-alternatives it runs is reported, not made.
        const noting = sh.noting;
        sh.noting ??= `update-alternatives is run through eval (line ${line})`;
        const status = this.list(nodes, doubt);
        this.#sh.noting = noting;
        return status;
      }
      case '.':
        this.#forgetAll();
        sh.mayHaveExited ??= `the script may have ended before it (it reads ${argv[1] ?? 'a file'} at line ${line}, which may end it)`;
        return 'unknown';
      case 'exec':
        if (argv.length <= 1 && unknown === undefined) return 'ok';
        if (mentions) this.#note(line, 'update-alternatives is run through exec');
        this.#exit(`the script may have ended before it (exec at line ${line})`, doubt);
        return 'unknown';
      case 'set':
        return this.#set(argv, unknown, line, doubt);
      case 'shift': {
        const k = unknown === undefined ? (argv[1] === undefined ? 1 : /^[0-9]{1,4}$/.test(argv[1]) ? Number(argv[1]) : -1) : -1;
        const positional = sh.positional;
        if (positional !== undefined && k >= 0 && k <= positional.length)
          sh.positional = doubt === undefined ? positional.slice(k) : undefined;
        else {
          // dash: "can't shift that many" ends the script.
          sh.positional = undefined;
          this.#mayExit(`the script may have ended before it (shift at line ${line})`);
        }
        return 'unknown';
      }
      case 'trap':
        return this.#trap(argv, unknown, line, mentions);
      case 'unset': {
        if (unknown !== undefined) {
          this.#forgetAll();
          for (const [k, d] of sh.functions) sh.functions.set(k, { ...d, maybeUnset: true });
          return 'unknown';
        }
        const names = argv.slice(1).filter((a) => !a.startsWith('-'));
        const onlyVars = argv.includes('-v');
        const functions = argv.includes('-f') || !onlyVars;
        for (const a of names) {
          if (!argv.includes('-f')) this.#forget(a);
          const d = sh.functions.get(a);
          if (!functions || d === undefined) continue;
          if (doubt === undefined && argv.includes('-f')) sh.functions.delete(a);
          else sh.functions.set(a, { ...d, maybeUnset: true });
        }
        return 'unknown';
      }
      default: {
        // export, readonly: the variables they name are no longer followed; assigning a readonly one ends the script.
        if (unknown !== undefined) this.#forgetAll();
        for (const a of argv.slice(1)) this.#forget(a.split('=')[0] as string);
        if (name === 'readonly' && argv.length > 1) sh.mayHaveExited ??= `the script may have ended before it (readonly at line ${line})`;
        return 'unknown';
      }
    }
  }

  /** `set`: its options (-e, -u) and operands, which become `$1`... */
  #set(argv: string[], unknown: string | undefined, line: number, doubt: Doubt): Status {
    const sh = this.#sh;
    if (unknown !== undefined) {
      sh.positional = undefined;
      sh.mayHaveExited ??= `the script may have ended before it (set at line ${line} with options known only when the script runs)`;
      return 'unknown';
    }
    const option = (letter: string, on: boolean): void => {
      // What may not run leaves the option in doubt: -e may or may not end the script, -u may.
      if (letter === 'e') sh.errexit = doubt === undefined ? on : sh.errexit === on ? on : 'maybe';
      if (letter === 'u') sh.nounset = doubt === undefined ? on : sh.nounset === on ? on : 'maybe';
    };
    let k = 1;
    let operands = false;
    for (; k < argv.length; k++) {
      const a = argv[k] as string;
      if (a === '--') {
        k++;
        operands = true;
        break;
      }
      if (/^[-+]o$/.test(a)) {
        const o = argv[++k];
        if (o === 'errexit' || o === 'nounset') option(o === 'errexit' ? 'e' : 'u', a.startsWith('-'));
        continue;
      }
      if (!/^[-+][A-Za-z]+$/.test(a)) {
        operands = true;
        break;
      }
      for (const c of a.slice(1)) option(c, a.startsWith('-'));
    }
    if (operands) sh.positional = doubt === undefined ? argv.slice(k) : undefined;
    return 'ok';
  }

  /** `trap ACTION SIGNAL...`: the action runs later, where an update-alternatives in it is reported. */
  #trap(argv: string[], unknown: string | undefined, line: number, mentions: boolean): Status {
    const action = argv[1];
    if (unknown !== undefined) {
      if (mentions) this.#note(line, 'update-alternatives is run in a trap');
      return 'unknown';
    }
    if (action === undefined || action === '' || action === '-' || /^-?[0-9]+$/.test(action) || /^-[lp]$/.test(action)) return 'ok';
    const nodes = this.#parse(action, line);
    const why = `it runs in a trap (line ${line}), which the build does not make`;
    if (nodes === undefined) {
      if (MENTIONS.test(action)) this.#note(line, why);
      return 'ok';
    }
    this.#subshell(() => {
      this.#sh.noting = why;
      return this.list(nodes, why);
    });
    return 'ok';
  }

  #fieldsOrUndefined(w: Word): string[] | undefined {
    const f = this.#fields(w);
    return 'fields' in f ? f.fields : undefined;
  }

  #call(body: Node, args: string[] | undefined, doubt: Doubt): Status {
    if (this.#calls >= MAX_CALLS) throw new LimitMet(`the function calls nest deeper than ${MAX_CALLS}`);
    const sh = this.#sh;
    const [positional, loops] = [sh.positional, sh.loops];
    sh.positional = args;
    sh.loops = 0;
    this.#calls++;
    const status = this.#node(body, doubt);
    this.#calls--;
    // The function's `return`, and its `set --`, end with it (a subshell in it may have swapped the state object back already).
    this.#sh.returned = false;
    this.#sh.positional = positional;
    this.#sh.loops = loops;
    return status;
  }

  #updateAlternatives(line: number, argv: string[], unknown: string | undefined, doubt: Doubt): void {
    if (unknown !== undefined) {
      this.#note(line, this.#sh.noting ?? `it uses ${unknown}, which is known only when the script runs`);
      return;
    }
    const parsed = parseUpdateAlternatives(argv.slice(1), line);
    if (parsed === undefined) return;
    if ('why' in parsed) {
      this.#note(line, this.#sh.noting ?? parsed.why);
      return;
    }
    const why = this.#sh.noting ?? doubt;
    if (why !== undefined) {
      this.#note(line, why, parsed);
      return;
    }
    if (this.actions.length + this.unread.length >= MAX_RESULTS)
      throw new LimitMet(`it runs more than ${MAX_RESULTS} update-alternatives commands`);
    this.actions.push(parsed);
  }
}

/** The command in a backquoted substitution: `\\`, `` \` `` and `\$` (and `\"` inside double quotes) unescaped (XCU 2.6.3). */
function unescapeBackquoted(text: string, quoted: boolean): string {
  return text.replace(quoted ? /\\([\\`$"])/g : /\\([\\`$])/g, '$1');
}

function firstLine(n: Node): number {
  switch (n.t) {
    case 'simple':
    case 'case':
    case 'for':
    case 'loop':
    case 'redirected':
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

/** One element of a case pattern: a character, `?`, `*`, or a bracket expression's test. */
type Glob = { c: string } | { any: true } | { star: true } | { set: (c: string) => boolean };

/**
 * Whether `subject` matches the case pattern `p` (XCU 2.13), undefined when the pattern is not
 * known or is one dash may match otherwise (a character class, a non-ASCII character, which dash
 * compares by bytes). Matched without backtracking into a regular expression: the work, at most
 * the pattern's length times the subject's, is counted against the reading's steps.
 */
function matchPattern(p: Word, subject: string, walk: Walk): boolean | undefined {
  const glob: Glob[] = [];
  for (const [at, part] of p.parts.entries()) {
    let text: string;
    if ('lit' in part) text = part.lit;
    else if ('param' in part) {
      // An unquoted parameter's value is a pattern too, as unquoted text is (and a backslash in it quotes).
      const v = walk.param(part.param);
      if (v === undefined || (!part.quoted && v.includes('\\'))) return undefined;
      text = v;
    } else return undefined;
    walk.charge(text.length);
    if (/[\u0080-\uffff]/.test(text)) return undefined;
    if (part.quoted) {
      for (const c of text) glob.push({ c });
      continue;
    }
    for (let k = 0; k < text.length; k++) {
      const c = text[k] as string;
      if (c === '*') glob.push({ star: true });
      else if (c === '?') glob.push({ any: true });
      else if (c === '[') {
        const set = bracket(text, k + 1);
        if (set === undefined) return undefined;
        if (set === 'literal') {
          // A `[` without its `]` in this text: literal, unless the `]` may be in what follows.
          if (at < p.parts.length - 1) return undefined;
          glob.push({ c });
          continue;
        }
        glob.push({ set: set.test });
        k = set.end;
      } else glob.push({ c });
    }
  }
  if (/[\u0080-\uffff]/.test(subject)) return undefined;
  const one = (g: Glob, c: string): boolean => ('c' in g ? g.c === c : 'any' in g ? true : 'set' in g ? g.set(c) : false);
  // The star last seen, and where in the subject it was tried up to: a later failure moves that on by one.
  let [s, g, star, from] = [0, 0, -1, 0];
  while (s < subject.length) {
    walk.charge();
    const e = glob[g];
    if (e !== undefined && 'star' in e) {
      star = g++;
      from = s;
    } else if (e !== undefined && one(e, subject[s] as string)) {
      g++;
      s++;
    } else if (star >= 0) {
      g = star + 1;
      s = ++from;
    } else return false;
  }
  while (g < glob.length && 'star' in (glob[g] as Glob)) g++;
  return g === glob.length;
}

/**
 * The bracket expression starting after a `[` at `start` in `text`: its test and the index of
 * its `]`; 'literal' when it has no `]`; undefined for what the reading does not decide (a
 * class like `[:alpha:]`, a `^` that dash takes literally and others do not).
 */
function bracket(text: string, start: number): { test: (c: string) => boolean; end: number } | 'literal' | undefined {
  let k = start;
  const negated = text[k] === '!';
  if (negated) k++;
  if (text[k] === '^') return undefined;
  const items: [string, string][] = [];
  // A `]` first is a member, not the end.
  for (let first = true; k < text.length; first = false) {
    const c = text[k] as string;
    if (c === ']' && !first) {
      const test = (x: string): boolean => items.some(([lo, hi]) => x >= lo && x <= hi) !== negated;
      return { test, end: k };
    }
    if (c === '[' && /[:=.]/.test(text[k + 1] ?? '')) return undefined;
    if (text[k + 1] === '-' && text[k + 2] !== undefined && text[k + 2] !== ']') {
      items.push([c, text[k + 2] as string]);
      k += 3;
    } else {
      items.push([c, c]);
      k++;
    }
  }
  return 'literal';
}
