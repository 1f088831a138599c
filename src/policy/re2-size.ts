/**
 * An upper bound of the size of the program @bufbuild/re2 compiles a pattern to, read from the
 * pattern's text without compiling it. The size, not the length, is what compiling and matching
 * cost: RE2 expands a counted repeat into copies (https://github.com/google/re2/wiki/Syntax:
 * "x{n,m}" is n to m copies of x), so `a{1,1000}` is 9 characters and 2,001 instructions, and
 * nested repeats multiply (RE2 allows a product of counts up to 1,000). Compiling is the costly
 * step, and it cannot be interrupted, so the CEL cost budget (cel-limits.ts) checks this bound
 * before it lets a pattern be compiled, and charges the real size after.
 *
 * The scan reads RE2's syntax only as far as the size depends on it: groups, alternation,
 * repetition (`*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}`) and the places where those characters are
 * not syntax (an escape, `\Q...\E`, a character class). It counts at least what the compiler
 * emits for each piece (tests check it against the compiled program on random patterns), and
 * where it reads a pattern differently from RE2 it counts more, never less: the flags of `(?i:`
 * and the name of `(?P<name>` count as characters, a count above RE2's 1,000 (which RE2
 * refuses) counts as 1,001. Where a character is syntax and where it is text must be read as RE2
 * reads it, though: a misreading can hide a whole repeated group from the count (a brace RE2 takes
 * as text read as `{0}`, or a class read past its end), so those rules follow RE2's parser.
 */

/** A group being read: the instructions of what it holds so far, and of its last piece (what a repeat applies to). */
interface Frame {
  total: number;
  last: number;
}

/** RE2 refuses a repeat count above 1,000; a larger one counts as this. */
const MAX_COUNT = 1001;

/**
 * Instructions at most: a literal, class, `.`, anchor or escape is 1; `*`, `+` and `?` add 2 (a
 * loop over something that can match empty is two ALTs); `|` adds 2 (an ALT, and a NOP for an
 * empty branch); a group adds 3 (two CAPTUREs, a NOP when empty); `x{n,m}` is m copies of x,
 * the m - n optional ones with an ALT each, plus 2 (`x{n}` is n copies, `x{n,}` n + 1 and two
 * ALTs, RE2's simplification `x{n-1}x+`); the program adds 4 (FAIL, MATCH).
 */
export function re2SizeBound(pattern: string): number {
  const stack: Frame[] = [{ total: 0, last: 0 }];
  let top = stack[0]!;
  const piece = (n: number) => {
    top.total += n;
    top.last = n;
  };
  const grow = (last: number) => {
    top.total += last - top.last;
    top.last = last;
  };
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '\\' && pattern[i + 1] === 'Q') {
      // Literal text up to \E or the end, every character one instruction. RE2 reads it as
      // that many literals, so a repeat after it applies to the last one only: `\Qabc\E{0}` is
      // `ab`. (Counting the whole text as the repeated piece undercounts a repeat that makes
      // fewer than one copy: `(\Q<900 a>\E{0}){1000}` would be 5,009, compiled 901,002.)
      // Empty, it is nothing: a repeat after it applies to what came before.
      const end = pattern.indexOf('\\E', i + 2);
      const stop = end < 0 ? pattern.length : end;
      if (stop > i + 2) {
        top.total += stop - (i + 2) - 1;
        piece(1);
      }
      i = end < 0 ? pattern.length : end + 2;
    } else if (c === '(' && flagsEnd(pattern, i) !== undefined) {
      // `(?i)` sets flags and is nothing either: `a(?i){5}` repeats the a.
      i = flagsEnd(pattern, i)!;
    } else if (c === '\\') {
      piece(1);
      i = escapeEnd(pattern, i);
    } else if (c === '[') {
      piece(1);
      i = classEnd(pattern, i);
    } else if (c === '(') {
      top = { total: 0, last: 0 };
      stack.push(top);
      i += 1;
    } else if (c === ')' && stack.length > 1) {
      const group = stack.pop()!;
      top = stack[stack.length - 1]!;
      piece(group.total + 3);
      i += 1;
    } else if (c === '|') {
      top.total += 2;
      top.last = 0;
      i += 1;
    } else if (c === '*' || c === '+' || c === '?') {
      grow(top.last + 2);
      i += 1;
    } else if (c === '{' && repeatAt(pattern, i) !== undefined) {
      const repeat = repeatAt(pattern, i)!;
      grow(top.last * repeat.copies + repeat.optional + 2);
      i = repeat.end;
    } else {
      piece(1);
      i += 1;
    }
  }
  // Groups left open (RE2 refuses the pattern) count as closed.
  let size = 0;
  for (const frame of stack) size += frame.total + 3;
  return size + 4;
}

/**
 * The index after the escape at `i` (a backslash): `\x{...}`, `\p{...}` and `\P{...}` to their
 * brace, `\pL` and `\PL` three characters (the name is one code point), others two.
 */
function escapeEnd(pattern: string, i: number): number {
  const next = pattern[i + 1];
  if ((next === 'x' || next === 'p' || next === 'P') && pattern[i + 2] === '{') {
    const end = pattern.indexOf('}', i + 3);
    return end < 0 ? pattern.length : end + 1;
  }
  if ((next === 'p' || next === 'P') && i + 2 < pattern.length) return charEnd(pattern, i + 2);
  return Math.min(i + 2, pattern.length);
}

/** The index after the code point at `i` (two UTF-16 units for one above U+FFFF). */
function charEnd(pattern: string, i: number): number {
  return i + (pattern.codePointAt(i)! > 0xffff ? 2 : 1);
}

/** The index after the class character at `i`: an escape or one code point. */
function classCharEnd(pattern: string, i: number): number {
  return pattern[i] === '\\' ? escapeEnd(pattern, i) : charEnd(pattern, i);
}

/** Escapes that are a class of their own in a class (`\d`, `\pL`, ...), so no end of a range. */
const CLASS_ESCAPE = /\\[dDsSwWpP]/y;

/**
 * The index after the class that opens at `i`. As RE2 reads it, item by item: a `]` right after
 * `[` or `[^` is a character of the class, `[:name:]` is a class inside it, an escape is read
 * whole, and a character or a character escape followed by `-` and anything but `]` is a range,
 * whose upper end is one more character or escape. RE2 looks for `[:` only where an item starts,
 * so in `[!-[:]` the `[` ends the range `!-[` and the `]` after the `:` ends the class (read as
 * the start of `[:alpha:]` further on, the class would swallow the text up to there).
 */
function classEnd(pattern: string, i: number): number {
  let j = i + 1;
  if (pattern[j] === '^') j += 1;
  let first = true;
  while (j < pattern.length) {
    if (pattern[j] === ']' && !first) return j + 1;
    first = false;
    if (pattern.startsWith('[:', j)) {
      const end = pattern.indexOf(':]', j + 2);
      if (end >= 0) {
        j = end + 2;
        continue;
      }
    }
    CLASS_ESCAPE.lastIndex = j;
    if (CLASS_ESCAPE.test(pattern)) {
      j = escapeEnd(pattern, j);
      continue;
    }
    j = classCharEnd(pattern, j);
    if (pattern[j] === '-' && j + 1 < pattern.length && pattern[j + 1] !== ']') j = classCharEnd(pattern, j + 1);
  }
  return pattern.length;
}

const FLAGS = /\(\?[A-Za-z-]*\)/y;

/** The index after the flag group `(?flags)` at `i`, or undefined when none is there. */
function flagsEnd(pattern: string, i: number): number | undefined {
  FLAGS.lastIndex = i;
  return FLAGS.exec(pattern) === null ? undefined : FLAGS.lastIndex;
}

/** A count is a decimal number without a leading zero: RE2 reads `{00}` and `{1,02}` as text. */
const REPEAT = /\{(0|[1-9]\d*)(,(0|[1-9]\d*)?)?\}/y;

/**
 * The counted repeat at `i` (a `{`): the copies of its operand and how many of those are optional;
 * undefined when the brace is a literal there (`{,5}`, `{a}`, `{1, 2}`, `{01}`).
 */
function repeatAt(pattern: string, i: number): { copies: number; optional: number; end: number } | undefined {
  REPEAT.lastIndex = i;
  const m = REPEAT.exec(pattern);
  if (m === null) return undefined;
  const min = Math.min(Number(m[1]), MAX_COUNT);
  const end = i + m[0].length;
  if (m[2] === undefined) return { copies: min, optional: 0, end };
  if (m[3] === undefined) return { copies: min + 1, optional: 2, end };
  const max = Math.min(Math.max(min, Number(m[3])), MAX_COUNT);
  return { copies: max, optional: max - min, end };
}
