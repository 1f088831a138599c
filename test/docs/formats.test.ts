// docs/formats.md's opening says which tests feed parsers generated input: each file it names
// uses fast-check, and a count of them, if it gives one, is the count there is.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const root = join(import.meta.dirname, '..', '..');

function testFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? testFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

describe('docs/formats.md on property tests', () => {
  it('names files that use fast-check, and counts them right when it counts', () => {
    const text = readFileSync(join(root, 'docs', 'formats.md'), 'utf8');
    const opening = text.slice(0, text.indexOf('\n## '));
    const named = [...opening.matchAll(/`(test\/[^`]+\.test\.ts)`/g)].map((m) => m[1] as string);
    assert.ok(named.length > 0, opening);
    for (const file of named) assert.match(readFileSync(join(root, file), 'utf8'), /fast-check/, file);
    const using = testFiles('test').filter((f) => readFileSync(join(root, f), 'utf8').includes('fast-check'));
    for (const m of opening.matchAll(/(\d+) test files/g)) assert.equal(Number(m[1]), using.length, m[0]);
  });
});
