/**
 * CEL conditions on one statement, without signing: what docs/policy.md says of keys whose value
 * is JSON null, which is @bufbuild/cel's reading of a map and would change silently with it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { celInput, compileCel } from '../../src/policy/cel.ts';

const run = (expression: string, predicate: unknown) => {
  const program = compileCel(expression);
  assert.ok('run' in program, JSON.stringify(program));
  return program.run(
    celInput({ type: 'https://in-toto.io/Statement/v1', predicateType: 'x', subjects: [], predicate }, new Date(0)) as never,
  );
};

describe('CEL on JSON', () => {
  it('a key whose value is null is absent to has() and in; == null tells it from a missing one', () => {
    for (const e of ['has(predicate.digest)', '"digest" in predicate']) {
      assert.deepEqual(run(e, { digest: null }), { value: false }, e);
      assert.deepEqual(run(e, {}), { value: false }, e);
    }
    assert.deepEqual(run('predicate.digest == null', { digest: null }), { value: true });
    assert.deepEqual(run('predicate.digest == null', {}), { error: 'field not found: digest' });
  });

  it('takes the global form matches(text, pattern) of cel-go, with the method’s results and errors', () => {
    for (const [text, pattern] of [
      ['abc', '^a'],
      ['abc', '^b'],
      ['abc', 'b'],
      ['a', '('],
    ]) {
      const p = { s: text, re: pattern };
      assert.deepEqual(run('matches(predicate.s, predicate.re)', p), run('predicate.s.matches(predicate.re)', p), `${text} ${pattern}`);
    }
    assert.deepEqual(run('matches(predicate.s, "^a")', { s: 'abc' }), { value: true });
    assert.deepEqual(run('matches(predicate.s, "^a")', { s: 'xabc' }), { value: false });
  });

  it('keeps the order of a list literal (a load-time check walked it in reverse, in place)', () => {
    assert.deepEqual(run('["a", "b"][0] == "a"', {}), { value: true });
    assert.deepEqual(run('predicate.tags == ["prod", "signed"]', { tags: ['prod', 'signed'] }), { value: true });
    assert.deepEqual(run('predicate.tags != ["prod", "signed"]', { tags: ['prod', 'signed'] }), { value: false });
    assert.deepEqual(run('[[1, 2], [3]][0][1] == 2', {}), { value: true });
  });
});

describe('CEL syntax mistakes', () => {
  it('places a mistake where it is, not at a comment that ends with an operator’s character', () => {
    assert.deepEqual(compileCel('predicateType == == "x" // see a.'), {
      message: 'syntax error: found = but expecting end of input',
      line: 1,
      column: 15,
    });
    // An operator before the comment is still the one named, on its own line.
    assert.deepEqual(compileCel('predicateType == "x" &&\n// and then a.\n'), {
      message: 'the condition ends with "&&", which needs something after it',
      line: 1,
      column: 22,
    });
    // `//` inside a string is no comment.
    assert.deepEqual(compileCel('predicateType == "a // b." &&'), {
      message: 'the condition ends with "&&", which needs something after it',
      line: 1,
      column: 28,
    });
  });

  it('takes a comment at the end of the expression, with no newline after it, as cel-go does', () => {
    for (const e of ['predicateType == "x" // why', 'predicateType == "x"\n// why']) {
      assert.deepEqual(run(e, {}), { value: true }, e);
    }
  });

  it('places a mistake at the end of the input at the end of the expression, not on a line after it', () => {
    for (const [e, column] of [
      ['[1, 2', 6],
      ['(predicate.x == 1', 18],
    ] as const) {
      const r = compileCel(e);
      assert.ok(!('run' in r), e);
      assert.deepEqual([r.line, r.column], [1, column], `${e}: ${r.message}`);
    }
    // Characters outside the BMP (two UTF-16 units each) before a mistake on a middle line leave it there.
    const astral = `"${'😀'.repeat(40)}" == predicate.x &&\n  1 ) 2\n  && true`;
    const r = compileCel(astral);
    assert.ok(!('run' in r));
    assert.equal(r.line, 2, r.message);
  });
});
