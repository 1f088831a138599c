// The rewrites scripts/bundle-cli.ts makes to the CLI's bundle keep what a chunk does: its
// top-level functions made parenthesised expressions at the top (eagerFunctions), compiled with
// the chunk and so kept in Node's compile cache.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eagerFunctions } from '../../scripts/bundle-cli.ts';

/** The exports of `text` run as a module. */
async function run(text: string): Promise<Record<string, unknown>> {
  return import(`data:text/javascript,${encodeURIComponent(text)}`);
}

const CHUNK = [
  'import { join } from "node:path";',
  'var early = later(2);',
  'var Klass = class {',
  '  static made = twice(3);',
  '};',
  'function later(n) {',
  '  return n + 1;',
  '}',
  'async function waits(n) {',
  '  return later(await n);',
  '}',
  'function* counts(n) {',
  '  for (let i = 0; i < n; i++) yield i;',
  '}',
  'function oneLine() { return "stays"; }',
  'function twice(n) {',
  '  const text = `a',
  '}`;',
  '  return n * 2 + text.length - text.length + (join("a", "b") === "a/b" ? 0 : 1);',
  '}',
  'export { early, Klass, waits, counts, oneLine, twice };',
].join('\n');

describe('eagerFunctions', () => {
  it('moves each top-level function to the top in parentheses, and the chunk does what it did', async () => {
    const out = await eagerFunctions(CHUNK, 'chunk.js');
    assert.match(out, /^var later = \(function later\(n\) \{/);
    assert.match(out, /\nvar waits = \(async function waits\(n\) \{/);
    assert.match(out, /\nvar counts = \(function\* counts\(n\) \{/);
    assert.match(out, /\nvar oneLine = \(function oneLine\(\) \{ return "stays"; \}\);\n/);
    const before = await run(CHUNK);
    const after = await run(out);
    for (const m of [before, after]) {
      assert.equal(m.early, 3);
      assert.equal((m.Klass as { made: number }).made, 6);
      assert.equal(await (m.waits as (n: Promise<number>) => Promise<number>)(Promise.resolve(4)), 5);
      assert.deepEqual([...(m.counts as (n: number) => Iterable<number>)(3)], [0, 1, 2]);
      assert.equal((m.oneLine as () => string)(), 'stays');
    }
  });

  it('leaves a template literal that looks like a function, and a function that assigns to its own name, as they are', async () => {
    const chunk = [
      'var text = `',
      'function helper(a) {',
      '  return a;',
      '}',
      '`;',
      'function counter() {',
      '  counter = () => 2;',
      '  return 1;',
      '}',
      'export { text, counter };',
    ].join('\n');
    const out = await eagerFunctions(chunk, 'chunk.js');
    assert.equal(out, `\n${chunk}`);
    const m = await run(out);
    assert.equal(m.text, '\nfunction helper(a) {\n  return a;\n}\n');
    assert.equal((m.counter as () => number)(), 1);
  });

  it('refuses a chunk that imports another chunk of the bundle (an import cycle could call a function before it is assigned)', async () => {
    const chunk = ['import { a } from "./chunk-OTHER.js";', 'function f() {', '  return a;', '}', 'export { f };'].join('\n');
    await assert.rejects(eagerFunctions(chunk, 'chunk.js'), /chunk\.js: imports \.\/chunk-OTHER\.js/);
  });

  it('leaves the functions of the lazy modules as they are, and refuses a lazy module the chunk does not have', async () => {
    const chunk = [
      '// a.js',
      'function eager() {',
      '  return 1;',
      '}',
      '',
      '// b.js',
      'function lazy() {',
      '  return 2;',
      '}',
      'export { eager, lazy };',
    ].join('\n');
    const out = await eagerFunctions(chunk, 'chunk.js', { lazyModules: ['b.js'] });
    assert.match(out, /^var eager = \(function eager\(\) \{/);
    assert.match(out, /\n\/\/ b\.js\nfunction lazy\(\) \{/);
    const m = await run(out);
    assert.equal((m.eager as () => number)(), 1);
    assert.equal((m.lazy as () => number)(), 2);
    await assert.rejects(eagerFunctions(chunk, 'chunk.js', { lazyModules: ['c.js'] }), /chunk\.js: has no module c\.js/);
  });
});
