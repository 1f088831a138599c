// cleanEntryPath: the lexical check every archive entry name passes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { cleanEntryPath } from '../../src/archive/paths.ts';
import { isProvenantError } from '../../src/errors.ts';

describe('cleanEntryPath', () => {
  const cases: Array<[string, string]> = [
    ['a', 'a'],
    ['./a', 'a'],
    ['a/', 'a'],
    ['./a/b/', 'a/b'],
    ['a//b', 'a/b'],
    ['a/./b', 'a/b'],
    ['././a', 'a'],
    ['a/../b', 'b'],
    ['a/b/../../c', 'c'],
    ['a/..', '.'],
    ['./', '.'],
    ['.', '.'],
    ['blobs/sha256/abc', 'blobs/sha256/abc'],
    ['a/..b', 'a/..b'],
    ['...', '...'],
    ['ü/ñ', 'ü/ñ'],
  ];
  for (const [input, want] of cases) {
    it(`cleans ${JSON.stringify(input)} to ${JSON.stringify(want)}`, () => {
      assert.equal(cleanEntryPath(input), want);
    });
  }

  const unsafe: Array<[string, RegExp]> = [
    ['', /is empty/],
    ['/etc/passwd', /absolute/],
    ['//x', /absolute/],
    ['..', /climbs above the root/],
    ['../x', /climbs above the root/],
    ['./../x', /climbs above the root/],
    ['a/../../x', /climbs above the root/],
    ['a/b/../../..', /climbs above the root/],
    ['a\0b', /NUL/],
  ];
  for (const [input, message] of unsafe) {
    it(`refuses ${JSON.stringify(input)} with UNSAFE_PATH`, () => {
      assert.throws(
        () => cleanEntryPath(input, 'layer.tar'),
        (err: unknown) =>
          isProvenantError(err, 'UNSAFE_PATH') && message.test(err.message) && err.where === 'layer.tar' && err.hint !== undefined,
      );
    });
  }

  it('never returns an absolute path or a ".." component, and is idempotent', () => {
    const segment = fc.oneof(
      fc.constantFrom('..', '.', '', 'a', 'b', '...', '..a', ' '),
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 4 }).filter((s) => !s.includes('/') && !s.includes('\0')),
    );
    const name = fc.array(segment, { minLength: 1, maxLength: 8 }).map((parts) => parts.join('/'));
    fc.assert(
      fc.property(name, (n) => {
        let out: string;
        try {
          out = cleanEntryPath(n);
        } catch (err) {
          assert.ok(isProvenantError(err, 'UNSAFE_PATH'), String(err));
          return;
        }
        assert.ok(!out.startsWith('/'), out);
        assert.ok(!out.split('/').includes('..'), out);
        assert.ok(out.length > 0);
        assert.equal(cleanEntryPath(out), out);
      }),
      { numRuns: 1000 },
    );
  });

  it('accepts every name made only of normal segments, unchanged', () => {
    const segment = fc.stringMatching(/^[a-zA-Z0-9_-]{1,8}$/);
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 6 }), (parts) => {
        assert.equal(cleanEntryPath(parts.join('/')), parts.join('/'));
        assert.equal(cleanEntryPath(`./${parts.join('/')}/`), parts.join('/'));
      }),
    );
  });
});
