/**
 * Line diffs of small text files, in the unified format `diff -u` and `git diff` print
 * (https://www.gnu.org/software/diffutils/manual/html_node/Detailed-Unified.html).
 *
 * The edit script is Myers' O((N+M)D) greedy algorithm ("An O(ND) Difference Algorithm and Its
 * Variations", 1986) after the common head and tail are taken off. Its trace grows with D², so
 * past {@link MAX_EDITS} differing lines the script is "delete all, insert all": still a correct
 * diff, only not the shortest.
 */

/** One line of an edit script: kept, removed from A, or added in B. Lines keep their `\n`. */
export interface LineOp {
  op: ' ' | '-' | '+';
  line: string;
}

/** Past this many differing lines, the diff replaces the whole middle (see the module comment). */
export const MAX_EDITS = 1000;
const CONTEXT = 3;

/** Splits text into lines that keep their terminating `\n` (the last may have none). */
export function splitLines(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', start)) {
    out.push(text.slice(start, i + 1));
    start = i + 1;
  }
  if (start < text.length) out.push(text.slice(start));
  return out;
}

/** The edit script that turns lines `a` into lines `b`. */
export function diffLines(a: readonly string[], b: readonly string[], maxEdits = MAX_EDITS): LineOp[] {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const midA = a.slice(head, a.length - tail);
  const midB = b.slice(head, b.length - tail);
  const keep = (lines: readonly string[]): LineOp[] => lines.map((line) => ({ op: ' ', line }));
  const middle = myers(midA, midB, maxEdits) ?? [
    ...midA.map((line): LineOp => ({ op: '-', line })),
    ...midB.map((line): LineOp => ({ op: '+', line })),
  ];
  return [...keep(a.slice(0, head)), ...middle, ...keep(a.slice(a.length - tail))];
}

/** Myers' forward search with a trace for the way back; undefined past `maxEdits`. */
function myers(a: readonly string[], b: readonly string[], maxEdits: number): LineOp[] | undefined {
  const n = a.length;
  const m = b.length;
  const max = n + m;
  if (max === 0) return [];
  const offset = max + 1;
  const v = new Int32Array(2 * max + 3);
  // trace[d] is the furthest x of every diagonal k in [-d, d] before step d.
  const trace: Int32Array[] = [];
  for (let d = 0; d <= Math.min(max, maxEdits); d++) {
    trace.push(v.slice(offset - d, offset + d + 1));
    for (let k = -d; k <= d; k += 2) {
      let x =
        k === -d || (k !== d && (v[offset + k - 1] as number) < (v[offset + k + 1] as number))
          ? (v[offset + k + 1] as number)
          : (v[offset + k - 1] as number) + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) return backtrack(a, b, trace, d);
    }
  }
  return undefined;
}

function backtrack(a: readonly string[], b: readonly string[], trace: Int32Array[], depth: number): LineOp[] {
  const out: LineOp[] = [];
  let x = a.length;
  let y = b.length;
  for (let d = depth; d > 0; d--) {
    const prev = trace[d] as Int32Array;
    const at = (k: number): number => prev[k + d] as number;
    const k = x - y;
    const down = k === -d || (k !== d && at(k - 1) < at(k + 1));
    const prevK = down ? k + 1 : k - 1;
    const prevX = at(prevK);
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      out.push({ op: ' ', line: a[--x] as string });
      y--;
    }
    if (down) out.push({ op: '+', line: b[--y] as string });
    else out.push({ op: '-', line: a[--x] as string });
  }
  while (x > 0 && y > 0) {
    out.push({ op: ' ', line: a[--x] as string });
    y--;
  }
  return out.reverse();
}

/**
 * A unified diff of two texts with three lines of context, headed `--- labelA` and
 * `+++ labelB`; empty when the texts are equal. A last line without a newline is followed by
 * `\ No newline at end of file`, as diff prints it.
 */
export function unifiedDiff(a: string, b: string, labelA: string, labelB: string): string {
  if (a === b) return '';
  const ops = diffLines(splitLines(a), splitLines(b));
  const out: string[] = [`--- ${labelA}\n`, `+++ ${labelB}\n`];
  let i = 0;
  while (i < ops.length) {
    while (i < ops.length && ops[i]?.op === ' ') i++;
    if (i >= ops.length) break;
    // A hunk: from CONTEXT lines before this change to CONTEXT after the last change that is
    // no more than 2 * CONTEXT kept lines from the one before it.
    const start = Math.max(0, i - CONTEXT);
    let end = i;
    let j = i;
    while (j < ops.length) {
      if (ops[j]?.op !== ' ') {
        end = j;
        j++;
        continue;
      }
      let run = j;
      while (run < ops.length && ops[run]?.op === ' ') run++;
      if (run >= ops.length || run - j > 2 * CONTEXT) break;
      j = run;
    }
    const stop = Math.min(ops.length, end + 1 + CONTEXT);
    out.push(hunk(ops, start, stop));
    i = stop;
  }
  return out.join('');
}

function hunk(ops: readonly LineOp[], start: number, stop: number): string {
  let lineA = 0;
  let lineB = 0;
  for (let i = 0; i < start; i++) {
    if (ops[i]?.op !== '+') lineA++;
    if (ops[i]?.op !== '-') lineB++;
  }
  let lenA = 0;
  let lenB = 0;
  const body: string[] = [];
  for (let i = start; i < stop; i++) {
    const { op, line } = ops[i] as LineOp;
    if (op !== '+') lenA++;
    if (op !== '-') lenB++;
    body.push(line.endsWith('\n') ? `${op}${line}` : `${op}${line}\n\\ No newline at end of file\n`);
  }
  // An empty side's range starts at the line before it (0 for the start of the file).
  const range = (line: number, len: number): string => `${len === 0 ? line : line + 1},${len}`;
  return `@@ -${range(lineA, lenA)} +${range(lineB, lenB)} @@\n${body.join('')}`;
}
