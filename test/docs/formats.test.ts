// docs/formats.md's opening names tests that feed parsers generated input: each file it names
// must run fast-check properties (import it and call fc.assert), not merely mention it. The page
// gives no count: `grep -rl fast-check test` is how it says to list them all.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const root = join(import.meta.dirname, '..', '..');

describe('docs/formats.md on property tests', () => {
  it('names test files that run fast-check properties', () => {
    const text = readFileSync(join(root, 'docs', 'formats.md'), 'utf8');
    const opening = text.slice(0, text.indexOf('\n## '));
    const named = [...opening.matchAll(/`(test\/[^`]+\.test\.ts)`/g)].map((m) => m[1] as string);
    assert.ok(named.length > 0, opening);
    for (const file of named) {
      const source = readFileSync(join(root, file), 'utf8');
      assert.match(source, /^import fc from 'fast-check';$/m, `${file} does not import fast-check`);
      assert.match(source, /\bfc\.assert\(/, `${file} runs no property`);
    }
  });
});
