// The in-memory filesystem a build assembles.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isProvenantError } from '../../src/errors.ts';
import { comparePaths, type FsNode, sortPaths, Tree } from '../../src/vfs/tree.ts';

const file = (body = ''): FsNode => ({ type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, body: new TextEncoder().encode(body) });
const link = (target: string): FsNode => ({ type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, linkname: target });

describe('Tree', () => {
  it('creates parents and lists paths in walk order', () => {
    const t = new Tree();
    t.put('a-c', file());
    t.put('a/b', file());
    t.put('a/B', file());
    assert.deepEqual(t.paths(), ['a', 'a/B', 'a/b', 'a-c']);
  });

  it('resolves folders through symlinks, absolute and relative, and never above the root', () => {
    const t = new Tree();
    t.mkdirAll('usr/lib');
    t.put('lib', link('usr/lib'));
    t.put('lib64', link('/usr/lib'));
    t.put('escape', link('../../../../etc'));
    assert.equal(t.put('lib/x.so', file()), 'usr/lib/x.so');
    assert.equal(t.put('lib64/y.so', file()), 'usr/lib/y.so');
    // `..` stops at the root, as in a chroot: the write lands in the tree's etc.
    assert.equal(t.put('escape/passwd', file()), 'etc/passwd');
    assert.ok(t.get('etc/passwd'));
  });

  it('refuses symlink loops and a file used as a folder', () => {
    const t = new Tree();
    t.put('a', link('b'));
    t.put('b', link('a'));
    assert.throws(
      () => t.put('a/x', file()),
      (err: unknown) => isProvenantError(err, 'UNSAFE_PATH'),
    );
    t.put('f', file());
    assert.throws(
      () => t.put('f/x', file()),
      (err: unknown) => isProvenantError(err, 'UNSAFE_PATH'),
    );
  });

  it('keeps every write inside the root whatever the links (property)', () => {
    const seg = fc.constantFrom('a', 'b', '..', '.', 'etc', 'usr');
    const target = fc
      .array(seg, { minLength: 1, maxLength: 5 })
      .chain((parts) => fc.boolean().map((abs) => `${abs ? '/' : ''}${parts.join('/')}`));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.array(seg, { minLength: 1, maxLength: 3 }), target), { maxLength: 6 }),
        fc.array(seg, { minLength: 1, maxLength: 5 }),
        (links, path) => {
          const t = new Tree();
          for (const [at, to] of links) {
            try {
              t.put(at.filter((p) => p !== '..' && p !== '.').join('/') || 'x', link(to));
            } catch (err) {
              assert.ok(isProvenantError(err, 'UNSAFE_PATH'));
            }
          }
          const clean = path.filter((p) => p !== '..' && p !== '.');
          if (clean.length === 0) return;
          try {
            const at = t.put(clean.join('/'), file('x'));
            assert.ok(!at.startsWith('/') && !at.split('/').includes('..'), at);
          } catch (err) {
            assert.ok(isProvenantError(err, 'UNSAFE_PATH'), String(err));
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('orders paths component by component', () => {
    assert.ok(comparePaths('a/b', 'a-b') < 0);
    assert.ok(comparePaths('a', 'a/b') < 0);
    assert.equal(comparePaths('x/y', 'x/y'), 0);
  });

  it('sorts paths as comparePaths orders them', () => {
    assert.deepEqual(sortPaths(['a-b', 'a/b', 'a', 'a/b/c', 'é', 'z', '\u{1F600}', '\uFFFD']), [
      'a',
      'a/b',
      'a/b/c',
      'a-b',
      'z',
      'é',
      '\uFFFD',
      '\u{1F600}',
    ]);
    const name = fc
      .stringMatching(/^[a-c\-./_\u00e9\ue000\uffff\u{1F600}\u{10000}]{1,4}$/u)
      .filter((n) => n !== '.' && n !== '..' && !n.includes('/'));
    const path = fc.array(name, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/'));
    fc.assert(
      fc.property(fc.array(path, { maxLength: 40 }), (paths) => {
        assert.deepEqual(sortPaths(paths), [...paths].sort(comparePaths));
      }),
      { numRuns: 500 },
    );
  });
});
