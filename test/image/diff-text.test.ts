import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { diffLines, splitLines, unifiedDiff } from '../../src/image/diff-text.ts';
import { removeTemp, run, tempDir } from './diff-helpers.ts';

after(removeTemp);

// ---- text diffs --------------------------------------------------------------------------

/** Applies a unified diff to `a`, as patch would; throws when a context or removed line does not match. */
function applyUnified(a: string, patch: string): string {
  const src = splitLines(a);
  const out: string[] = [];
  let at = 0;
  const lines = patch.split('\n');
  let i = 2;
  while (i < lines.length && lines[i] !== '') {
    const m = /^@@ -(\d+),(\d+) \+\d+,\d+ @@$/.exec(lines[i] as string);
    assert.ok(m, `a hunk header: ${lines[i]}`);
    const start = Number(m[1]) - (Number(m[2]) === 0 ? 0 : 1);
    while (at < start) out.push(src[at++] as string);
    i++;
    while (i < lines.length && lines[i] !== '' && !(lines[i] as string).startsWith('@@')) {
      const l = lines[i] as string;
      const noNewline = lines[i + 1] === '\\ No newline at end of file';
      const text = `${l.slice(1)}${noNewline ? '' : '\n'}`;
      if (l[0] === ' ' || l[0] === '-') {
        assert.equal(src[at], text);
        at++;
      }
      if (l[0] === ' ' || l[0] === '+') out.push(text);
      i += noNewline ? 2 : 1;
    }
  }
  while (at < src.length) out.push(src[at++] as string);
  return out.join('');
}

describe('text diffs', () => {
  it('prints what diff -u prints', async () => {
    assert.equal(unifiedDiff('a\nb\n', 'a\nb\n', 'x', 'y'), '');
    assert.equal(unifiedDiff('', 'new\n', 'a/f', 'b/f'), '--- a/f\n+++ b/f\n@@ -0,0 +1,1 @@\n+new\n');
    assert.equal(unifiedDiff('x', 'x\n', 'a/f', 'b/f'), '--- a/f\n+++ b/f\n@@ -1,1 +1,1 @@\n-x\n\\ No newline at end of file\n+x\n');
    const a = `${Array.from({ length: 20 }, (_, i) => `line ${i}`).join('\n')}\n`;
    const b = a.replace('line 2\n', 'LINE 2\n').replace('line 17\n', '');
    assert.equal(
      unifiedDiff(a, b, 'a/f', 'b/f'),
      [
        '--- a/f',
        '+++ b/f',
        '@@ -1,6 +1,6 @@',
        ' line 0',
        ' line 1',
        '-line 2',
        '+LINE 2',
        ' line 3',
        ' line 4',
        ' line 5',
        '@@ -15,6 +15,5 @@',
        ' line 14',
        ' line 15',
        ' line 16',
        '-line 17',
        ' line 18',
        ' line 19',
        '',
      ].join('\n'),
    );
    const diff = new GnuDiff();
    if (await diff.available()) assert.equal(unifiedDiff(a, b, 'a/f', 'b/f').split('\n').slice(2).join('\n'), await diff.run(a, b));
  });

  it('turns A into B, and is as short as an LCS allows (property)', () => {
    const text = fc.array(fc.constantFrom('a\n', 'b\n', 'c\n', 'd\n', 'e'), { maxLength: 30 }).map((l) => l.join(''));
    fc.assert(
      fc.property(text, text, (a, b) => {
        assert.equal(applyUnified(a, unifiedDiff(a, b, 'a', 'b')), b);
        const ops = diffLines(splitLines(a), splitLines(b));
        const kept = ops.filter((o) => o.op === ' ').length;
        assert.equal(kept, lcs(splitLines(a), splitLines(b)));
      }),
      { numRuns: 500 },
    );
    // Past the edit bound the script replaces the middle, and still turns A into B.
    const a = Array.from({ length: 300 }, (_, i) => `${i}\n`);
    const b = Array.from({ length: 300 }, (_, i) => `${i % 2 === 0 ? i : -i}\n`);
    const ops = diffLines(a, b, 10);
    assert.deepEqual(
      ops.filter((o) => o.op !== '-').map((o) => o.line),
      b,
    );
  });
});

function lcs(a: readonly string[], b: readonly string[]): number {
  const row = new Array<number>(b.length + 1).fill(0);
  for (const x of a) {
    let diag = 0;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j] as number;
      row[j] = x === b[j - 1] ? diag + 1 : Math.max(up, row[j - 1] as number);
      diag = up;
    }
  }
  return row[b.length] as number;
}

/** GNU diff, when installed, as an independent check of the hunk format. */
class GnuDiff {
  async available(): Promise<boolean> {
    return run('diff', ['--version']).then(
      () => true,
      () => false,
    );
  }
  async run(a: string, b: string): Promise<string> {
    const d = await tempDir();
    await writeFile(join(d, 'a'), a);
    await writeFile(join(d, 'b'), b);
    const r = await run('diff', ['-u', join(d, 'a'), join(d, 'b')]).catch((err: { stdout: string }) => err);
    return r.stdout
      .split('\n')
      .slice(2)
      .join('\n')
      .replace(/^@@ -(\d+) /gm, '@@ -$1,1 ')
      .replace(/ \+(\d+) @@/gm, ' +$1,1 @@');
  }
}
