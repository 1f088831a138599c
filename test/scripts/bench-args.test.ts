/**
 * The bench scripts' command lines (bench/lib.ts, benchArgs): `--help` lists a script's options,
 * and an unknown or malformed one is said in a line with them, exit 2, not a stack trace.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { it } from 'node:test';

const bench = join(import.meta.dirname, '..', '..', 'bench');
const run = (script: string, ...args: string[]) => spawnSync(process.execPath, [join(bench, script), ...args], { encoding: 'utf8' });

it('bench/build.ts --help lists its options but those it passes to itself, and exits 0', () => {
  const r = run('build.ts', '--help');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^usage: node bench\/build\.ts .*\[--split-kb VALUE\].*\[--keep\]/);
  assert.doesNotMatch(r.stdout, /lib-build/);
});

it('an unknown option, or one without its value, is said with the usage, exit 2, and no stack', () => {
  for (const [script, args, said] of [
    ['build.ts', ['--nope'], /^bench\/build\.ts: Unknown option '--nope'/],
    ['copy.ts', ['--runs'], /^bench\/copy\.ts: Option '--runs <value>' argument missing/],
    // A last read: a count that is not a number ran on as NaN (a table of zeros, or a stack).
    ['describe.ts', ['--runs', 'abc'], /^bench\/describe\.ts: --runs must be a number, not "abc"/],
  ] as const) {
    const r = run(script, ...args);
    assert.equal(r.status, 2, `${script} ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, said);
    assert.match(r.stderr, /\nusage: node bench\//);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

// A last read: `--only nope` ended in a stack trace, and `--only start,nope` ran start alone, as
// if nope were done.
it('bench/all.ts refuses a name in --only that is no benchmark, listing them, exit 2, and runs none', () => {
  for (const only of ['nope', 'start,nope']) {
    const r = run('all.ts', '--only', only);
    assert.equal(r.status, 2, r.stderr);
    assert.match(
      r.stderr,
      /^bench\/all\.ts: --only names "nope"; the benchmarks are start, copy, .*incremental\nusage: node bench\/all\.ts/,
    );
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.doesNotMatch(r.stderr, /== start/, 'nothing run');
  }
});
