/**
 * The bound of a regular expression's compiled size that the CEL cost budget checks before it lets
 * @bufbuild/re2 compile a pattern: it must never be below the size of the program compiled.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RE2JS } from '@bufbuild/re2';
import fc from 'fast-check';
import { re2SizeBound } from '../../src/policy/re2-size.ts';

/** The instructions of the program RE2 compiles `pattern` to, or undefined when RE2 refuses it. */
function compiledSize(pattern: string): number | undefined {
  try {
    return RE2JS.compile(pattern).re2().prog.numInst();
  } catch {
    return undefined;
  }
}

// Pieces of RE2's syntax, the ones that change the size and the ones inside which those characters are not syntax.
const atom = fc.constantFrom(
  'a',
  '.',
  '[a-z]',
  '[]a]',
  '[^]]',
  '[[:alpha:]]',
  // `[` ends the range `!-[` here, not a `[:` that would run to the next `:]`.
  '[!-[:]',
  '[\\pL-]',
  '[\\]{}()|]',
  '\\d',
  '\\pL',
  '\\p{Greek}',
  '\\x{41}',
  '\\x41',
  '\\Qa{5}(\\E',
  '\\Q\\E',
  '\\{',
  '^',
  '$',
  '\\b',
  '{',
  '}',
  '{,3}',
  // Counts with a leading zero: text to RE2.
  '{00}',
  '{0,01}',
  '(?i)',
  '(?-s)',
  '',
  'é',
  '😀',
);
const repeat = fc.constantFrom(
  '',
  '',
  '*',
  '+',
  '?',
  '*?',
  '{3}',
  '{2,}',
  '{0,}',
  '{1,}',
  '{0,1}',
  '{0,5}',
  '{1,30}',
  '{0}',
  '{5,2}',
  '{1000}',
  '{0,999}',
  '{2,}?',
  '{00}',
  '{1,02}',
);
const patterns = fc.letrec<{ re: string }>((tie) => ({
  re: fc.oneof(
    { depthSize: 'small' },
    fc.tuple(atom, repeat).map(([a, r]) => a + r),
    fc
      .tuple(fc.constantFrom('(', '(?:', '(?P<n>', '(?i:'), fc.array(tie('re'), { maxLength: 4 }), repeat)
      .map(([open, inside, r]) => `${open}${inside.join('')})${r}`),
    fc.array(tie('re'), { minLength: 1, maxLength: 3 }).map((xs) => xs.join('|')),
  ),
})).re;
const soup = fc
  .array(
    fc.constantFrom(
      'a',
      '(',
      ')',
      '[',
      ']',
      '{',
      '}',
      '2',
      ',',
      '|',
      '*',
      '?',
      '\\',
      'Q',
      'E',
      'x',
      'p',
      ':',
      '^',
      '-',
      '0',
      '[:alpha:]',
      '{10}',
      '{2,3}',
      '(?i)',
    ),
    { maxLength: 40 },
  )
  .map((x) => x.join(''));

describe('re2SizeBound', () => {
  it('is at least the size of the compiled program, for patterns RE2 compiles', () => {
    let compiled = 0;
    fc.assert(
      fc.property(fc.oneof(patterns, soup), (pattern) => {
        const size = compiledSize(pattern);
        if (size === undefined) return;
        compiled += 1;
        assert.ok(re2SizeBound(pattern) >= size, `${JSON.stringify(pattern)}: bound ${re2SizeBound(pattern)}, compiled ${size}`);
      }),
      { numRuns: 3000 },
    );
    // Most generated patterns compile: the property is not checked on errors alone.
    assert.ok(compiled > 1000, String(compiled));
  });

  it('counts the copies a counted repeat makes, and only those', () => {
    const cases = [
      'a{1,1000}',
      '(a{1,30}){1,30}',
      // A flag group is not a piece: the repeat after it applies to what came before.
      'a{1,30}(?i){0,5}',
      '(ab)\\Q\\E{1,1000}',
      // A repeat after quoted text applies to its last character only, so the rest stays even
      // when the repeat makes no copy (the bound once counted 5,009 here, the program 11,002).
      '(\\Qabcdefghij\\E{0}){1000}',
      '\\Qa{5}(\\E{0,1}',
      '^[a-z0-9]{1,63}$',
      '(?i)^sha256:[a-f0-9]{64}$',
      '^https://example\\.org/[^/]+/[^/]+@refs/(heads|tags)/.*$',
      // A count with a leading zero is text to RE2, no repeat: `{00}` makes the a and four
      // characters, not zero copies (the bound once counted 5,009 here, the program 7,002).
      '(a{00}){1000}',
      '(a{1,02}){1000}',
      '(?:a{1000}a{1000}){00}',
      // `[` is the end of the range `!-[`, and the `]` after the `:` ends the class; the bound
      // once read a `[:alpha:]` from the `[:` and counted 8, the program 1,004.
      '[!-[:]a{1000}[[:alpha:]]',
      '[\\x{41}-[:]a{1000}[:]',
    ];
    for (const pattern of cases) {
      const size = compiledSize(pattern)!;
      assert.ok(size !== undefined, pattern);
      // At least the program, at most twice it (and a little) for these.
      assert.ok(
        re2SizeBound(pattern) >= size && re2SizeBound(pattern) <= 2 * size + 20,
        `${pattern}: ${re2SizeBound(pattern)} for ${size}`,
      );
    }
    // Braces that are no repeat to RE2 are literals, and so are those in a class or an escape.
    assert.ok(re2SizeBound('a{,1000}') < 20);
    assert.ok(re2SizeBound('[{1000}]') < 20);
    assert.ok(re2SizeBound('\\x{1000}') < 20);
  });

  it('counts the program that a misread brace or class would hide, without compiling it', () => {
    // 9,800 characters each, which compile to 1.4 million instructions (seconds): 1,400 copies
    // of a{1000}, each at least 1,000 instructions, behind a brace read as no copy or a class
    // read past its end.
    const copies = 'a{1000}'.repeat(1400);
    for (const pattern of [`(?:${copies}){00}`, `(?:${copies}){0,01}`, `[!-[:]${copies}[[:alpha:]]`]) {
      assert.ok(re2SizeBound(pattern) >= 1400 * 1000, `${pattern.slice(0, 20)}...: ${re2SizeBound(pattern)}`);
    }
  });
});
