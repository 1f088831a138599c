/**
 * Command lines as apko splits them (`entrypoint.command`, `cmd`), for both of Provenant's
 * builds: the image must run the words apko's would.
 */
import { ProvenantError } from '../errors.ts';

/**
 * Splits a command line as github.com/google/shlex does for apko's `entrypoint.command` and
 * `cmd`: words split at spaces, tabs, CR and LF; `"..."` with `\` escaping any character;
 * `'...'` literal; `\` escaping the next character; a word starting with `#` begins a comment
 * that runs to the end of the line.
 *
 * @throws ProvenantError `INVALID_CONFIG` for an unterminated quote or a trailing `\`, as shlex fails
 */
export function shlexSplit(line: string, where: string): string[] {
  const words = split(line);
  if (typeof words === 'string') throw new ProvenantError('INVALID_CONFIG', `${where}: ${words}`, { where });
  return words;
}

/**
 * Why {@link shlexSplit} would refuse `line` (`an unterminated quote in "a 'b"`), or undefined
 * when it splits: the loader refuses such a command at its line, before anything is fetched.
 */
export function shlexProblem(line: string): string | undefined {
  const words = split(line);
  return typeof words === 'string' ? words : undefined;
}

/** The words of `line`, or why it cannot be split. */
function split(line: string): string[] | string {
  const words: string[] = [];
  const chars = [...line];
  let i = 0;
  const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\r' || c === '\n';
  const bad = (why: string): string => `${why} in ${JSON.stringify(line)}`;
  while (i < chars.length) {
    const c = chars[i] as string;
    if (isSpace(c)) {
      i++;
      continue;
    }
    if (c === '#') {
      // A comment runs to the end of the line.
      while (i < chars.length && chars[i] !== '\n') i++;
      continue;
    }
    let word = '';
    let state: 'word' | 'escape' | 'double' | 'double-escape' | 'single' = 'word';
    for (; i < chars.length; i++) {
      const ch = chars[i] as string;
      if (state === 'escape') {
        word += ch;
        state = 'word';
      } else if (state === 'double-escape') {
        word += ch;
        state = 'double';
      } else if (state === 'double') {
        if (ch === '"') state = 'word';
        else if (ch === '\\') state = 'double-escape';
        else word += ch;
      } else if (state === 'single') {
        if (ch === "'") state = 'word';
        else word += ch;
      } else if (isSpace(ch)) {
        break;
      } else if (ch === '"') state = 'double';
      else if (ch === "'") state = 'single';
      else if (ch === '\\') state = 'escape';
      else word += ch;
    }
    if (state === 'escape' || state === 'double-escape') return bad('a "\\" at the end');
    if (state === 'double' || state === 'single') return bad('an unterminated quote');
    words.push(word);
  }
  return words;
}
