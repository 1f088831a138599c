// The in-memory filesystem a build assembles.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isProvenantError } from '../../src/errors.ts';
import { comparePaths, type FsNode, sortPaths, Tree, TreeRefusal, type TreeRefusalReason } from '../../src/vfs/tree.ts';

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

  it("makes the missing folders above a folder root's, 0755, whatever the folder's own owner and mode", () => {
    const t = new Tree();
    t.mkdirAll('srv');
    t.mkdirAll('srv/data/app/cache', { mode: 0o700, uid: 1000, gid: 1001, mtime: 42, owner: 'build' });
    const meta = (p: string) => {
      const n = t.get(p);
      return [n?.mode, n?.uid, n?.gid, n?.mtime, n?.owner];
    };
    assert.deepEqual(meta('srv/data/app/cache'), [0o700, 1000, 1001, 42, 'build']);
    assert.deepEqual(meta('srv/data'), [0o755, 0, 0, 42, 'build']);
    assert.deepEqual(meta('srv/data/app'), [0o755, 0, 0, 42, 'build']);
    // A folder that was there is left as it was.
    assert.deepEqual(meta('srv'), [0o755, 0, 0, 0, undefined]);
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

  it('refuses symlink loops and a file used as a folder, saying which (a limit, a place taken)', () => {
    const refused = (reason: TreeRefusalReason) => (err: unknown) =>
      isProvenantError(err, 'UNSAFE_PATH') && err instanceof TreeRefusal && err.reason === reason;
    const t = new Tree();
    t.put('a', link('b'));
    t.put('b', link('a'));
    assert.throws(() => t.put('a/x', file()), refused('limit'));
    assert.throws(() => t.mkdirAll('a/x'), refused('limit'));
    t.put('f', file());
    assert.throws(() => t.put('f/x', file()), refused('taken'));
    assert.throws(() => t.mkdirAll('f'), refused('taken'));
    t.put('d/e', file());
    assert.throws(() => t.put('d', file()), refused('taken'));
    assert.throws(() => t.remove('./'), refused('taken'));
  });

  it('refuses a path deeper than 1024 parts or longer than 4096 bytes, however links make it, and a link target longer than 4096', () => {
    const unsafe = (what: RegExp) => (err: unknown) =>
      isProvenantError(err, 'UNSAFE_PATH') &&
      err instanceof TreeRefusal &&
      err.reason === 'limit' &&
      what.test(err.message) &&
      err.message.length < 400;
    const t = new Tree();
    // `a/` 100,000 times: the folders' keys were the square of that in characters (gigabytes).
    assert.throws(() => t.put(`${'a/'.repeat(100_000)}f`, file()), unsafe(/resolves to a path of 1025 parts, more than 1024/));
    assert.equal(t.size, 0);
    // The folders a path is resolved through are held to 1024.
    const deepest = `${'a/'.repeat(1024)}f`;
    assert.equal(t.put(deepest, file()), deepest);
    assert.throws(() => t.put(`${'a/'.repeat(1025)}f`, file()), unsafe(/ parts, more than 1024$/));
    // A link's target is walked in its place: 700 parts, then 300 or 400 more.
    t.put('m', link('d/'.repeat(700).slice(0, -1)));
    t.put('ok', link(`m/${'e/'.repeat(300)}f`));
    assert.equal(t.resolve('ok'), `${'d/'.repeat(700)}${'e/'.repeat(300)}f`);
    t.put('deep', link(`m/${'e/'.repeat(400)}f`));
    assert.throws(() => t.resolve('deep'), unsafe(/ parts, more than 1024$/));
    assert.throws(() => t.put('deep/x', file()), unsafe(/ parts, more than 1024$/));
    // ...and a target of 3,000 characters, then 1,000 or 1,500 more.
    t.put('n', link('x'.repeat(3000)));
    t.put('short', link(`n/${'y'.repeat(1000)}`));
    assert.equal(t.resolve('short'), `${'x'.repeat(3000)}/${'y'.repeat(1000)}`);
    t.put('long', link(`n/${'y'.repeat(1500)}`));
    assert.throws(() => t.resolve('long'), unsafe(/resolves to a path of 4501 bytes, more than PATH_MAX \(4096\)/));
    // The name a write gives after its folder counts too (a cold review: the key went past PATH_MAX,
    // and the layer made of it was refused when read again), in UTF-8 bytes as the readers count.
    assert.throws(() => t.put(`n/${'y'.repeat(1100)}`, file()), unsafe(/4101 bytes, more than PATH_MAX/));
    assert.equal(t.put(`n/${'y'.repeat(1095)}`, file()), `${'x'.repeat(3000)}/${'y'.repeat(1095)}`);
    t.put('u', link('é'.repeat(1500)));
    assert.throws(() => t.put(`u/${'v'.repeat(1100)}`, file()), unsafe(/4101 bytes, more than PATH_MAX/));
    // Links of `x/..` 800 times, one into the next: two are walked, forty are not (each part of
    // a walk costs the length of the path so far).
    for (let i = 0; i < 40; i++) t.put(`w/s${i}`, link(`${'x/../'.repeat(800)}s${i + 1}`));
    t.put('w/s40', { type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 });
    assert.equal(t.resolve('w/s38/f'), 'w/s40/f');
    assert.throws(() => t.put('w/s0/f', file()), unsafe(/walks more than 4096 parts/));
    // A target longer than PATH_MAX is not walked.
    t.put('huge', link(`/${'z/'.repeat(100_000)}`));
    assert.throws(() => t.put('huge/x', file()), unsafe(/the symlink \/huge points to a target of 200001 bytes, more than PATH_MAX/));
  });

  it('refuses to remove the root or to put anything but a folder there, however the path names it (a model test found both)', () => {
    const t = new Tree();
    t.put('etc/passwd', file('root'));
    t.put('up', link('/'));
    for (const path of ['', './', '../', 'up/', 'up']) {
      if (path !== 'up') {
        assert.throws(
          () => t.remove(path),
          (err: unknown) => isProvenantError(err, 'UNSAFE_PATH') && err.message.startsWith("cannot remove the image's root folder"),
          JSON.stringify(path),
        );
      }
      if (path === 'up' || path === 'up/') continue;
      for (const node of [file(), link('x')]) {
        assert.throws(
          () => t.put(path, node),
          (err: unknown) =>
            isProvenantError(err, 'UNSAFE_PATH') && err.message.startsWith(`cannot replace the image's root folder with a ${node.type}`),
          JSON.stringify(path),
        );
      }
    }
    assert.equal(t.get('')?.type, 'dir');
    assert.equal(t.size, 3);
    assert.deepEqual(t.paths(), ['etc', 'etc/passwd', 'up']);
    // A folder put at the root updates it, as before.
    t.put('', { type: 'dir', mode: 0o700, uid: 0, gid: 0, mtime: 5 });
    assert.equal(t.get('')?.mode, 0o700);
  });

  it('replaces an empty folder with a file, and refuses to replace one that holds something, for many folders', () => {
    const dir: FsNode = { type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 };
    const t = new Tree();
    const n = 5000;
    for (let i = 0; i < n; i++) t.put(`d${i}`, dir);
    // Every third folder holds a file, every fifth a folder with a file in it.
    for (let i = 0; i < n; i += 3) t.put(`d${i}/x`, file());
    for (let i = 0; i < n; i += 5) t.put(`d${i}/y/z`, file());
    const holds = (i: number) => i % 3 === 0 || i % 5 === 0;
    for (let i = 0; i < n; i++) {
      if (holds(i))
        assert.throws(
          () => t.put(`d${i}`, file()),
          (err: unknown) => isProvenantError(err, 'UNSAFE_PATH'),
          `d${i}`,
        );
      else t.put(`d${i}`, file());
    }
    // Emptied, each can be replaced; a folder emptied of a folder it held, too.
    for (let i = 0; i < n; i++) {
      if (i % 3 === 0) t.remove(`d${i}/x`);
      if (i % 5 === 0) t.remove(`d${i}/y/z`);
    }
    for (let i = 0; i < n; i += 5) {
      assert.throws(
        () => t.put(`d${i}`, file()),
        (err: unknown) => isProvenantError(err, 'UNSAFE_PATH'),
        `d${i} holds y`,
      );
      t.put(`d${i}/y`, file());
      assert.throws(
        () => t.put(`d${i}`, file()),
        (err: unknown) => isProvenantError(err, 'UNSAFE_PATH'),
        `d${i} holds y, a file`,
      );
      t.remove(`d${i}/y`);
    }
    for (let i = 0; i < n; i++) if (holds(i)) t.put(`d${i}`, file());
    assert.equal(t.size, n);
    assert.ok(t.paths().every((p) => t.get(p)?.type === 'file'));
  });

  it('says a folder has children exactly when some path lies under it, whatever was put and removed (property)', () => {
    const seg = fc.oneof(
      { arbitrary: fc.constantFrom('a', 'b', 'c'), weight: 8 },
      { arbitrary: fc.constantFrom('..', '.', ''), weight: 1 },
    );
    const path = fc
      .array(seg, { minLength: 1, maxLength: 4 })
      .chain((parts) => fc.boolean().map((abs) => `${abs ? '/' : ''}${parts.join('/')}`));
    const dirNode: FsNode = { type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 };
    const hardlink = (to: string): FsNode => ({ type: 'hardlink', mode: 0o644, uid: 0, gid: 0, mtime: 0, linkname: to });
    const op = fc.oneof(
      fc.tuple(fc.constant('put' as const), path, fc.oneof(fc.constant(file()), fc.constant(dirNode), path.map(link), path.map(hardlink))),
      fc.tuple(fc.constant('remove' as const), path, fc.constant(undefined)),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), fc.array(path, { maxLength: 6 }), (ops, asked) => {
        const t = new Tree();
        for (const [what, at, node] of ops) {
          try {
            if (what === 'put') t.put(at, node as FsNode);
            else t.remove(at);
          } catch (err) {
            assert.ok(isProvenantError(err, 'UNSAFE_PATH'), String(err));
          }
        }
        const keys = t.paths();
        for (const p of ['', ...keys, ...asked]) {
          assert.equal(
            t.hasChildren(p),
            keys.some((k) => k.startsWith(`${p}/`)),
            `hasChildren(${JSON.stringify(p)}) of ${JSON.stringify(keys)}`,
          );
        }
      }),
      { numRuns: 2000 },
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

  it('resolves as a walk part by part would, whatever was put where (property)', () => {
    // The oracle: every part looked up in turn, a symlink's target walked in its place.
    const walk = (t: Tree, path: string): string => {
      const todo = path
        .split('/')
        .filter((p) => p !== '' && p !== '.')
        .reverse();
      const parts: string[] = [];
      let links = 0;
      while (todo.length > 0) {
        const part = todo.pop() as string;
        if (part === '..') {
          parts.pop();
          continue;
        }
        const node = t.get([...parts, part].join('/'));
        if (node?.type === 'symlink' && node.linkname !== undefined) {
          if (++links > 40) throw new Error('loop');
          if (node.linkname.startsWith('/')) parts.length = 0;
          todo.push(
            ...node.linkname
              .split('/')
              .filter((p) => p !== '' && p !== '.')
              .reverse(),
          );
          continue;
        }
        if (node !== undefined && node.type !== 'dir' && todo.length > 0) throw new Error('not a folder');
        parts.push(part);
      }
      return parts.join('/');
    };
    const outcome = (f: () => string): string => {
      try {
        return f();
      } catch {
        return 'throws';
      }
    };
    // Mostly names, so that most trees have only resolved keys; now and then parts that make odd
    // keys: `put` keeps a last part of `.`, `..` or nothing as given.
    const seg = fc.oneof(
      { arbitrary: fc.constantFrom('a', 'b', 'c'), weight: 8 },
      { arbitrary: fc.constantFrom('..', '.', ''), weight: 1 },
    );
    const path = fc
      .array(seg, { minLength: 1, maxLength: 4 })
      .chain((parts) => fc.boolean().map((abs) => `${abs ? '/' : ''}${parts.join('/')}`));
    const node = fc.oneof(
      fc.constant(file()),
      fc.constant<FsNode>({ type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 }),
      path.map((to) => link(to)),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(path, node), { maxLength: 8 }), fc.array(path, { minLength: 1, maxLength: 6 }), (puts, asked) => {
        const t = new Tree();
        for (const [at, n] of puts) outcome(() => t.put(at, n));
        for (const p of asked) {
          assert.equal(
            outcome(() => t.resolve(p)),
            outcome(() => walk(t, p)),
            `resolve(${JSON.stringify(p)})`,
          );
          const slash = p.lastIndexOf('/');
          // The path as given when its folder resolves to itself, as `put` keys it.
          const folder = p.slice(0, Math.max(slash, 0));
          const parent = outcome(() => walk(t, folder));
          const base = p.slice(slash + 1);
          const expected = slash < 0 || parent === folder ? p : parent === 'throws' ? parent : parent === '' ? base : `${parent}/${base}`;
          assert.equal(
            outcome(() => t.resolveParent(p)),
            expected,
            `resolveParent(${JSON.stringify(p)})`,
          );
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('resolves a path under a key put unresolved (a leading /, a last part of ., .. or nothing) as a walk does', () => {
    const dir: FsNode = { type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 };
    for (const [odd, under, expected] of [
      ['.', './x', 'x'],
      ['/a', '/a/x', 'a/x'],
      ['a/..', 'a/../x', 'x'],
      ['a/.', 'a/./x', 'a/x'],
      ['a/', 'a//x', 'a/x'],
    ] as const) {
      const t = new Tree();
      t.put('a/b', file());
      t.put(odd, dir);
      assert.equal(t.resolveParent(under), expected, `${odd} then ${under}`);
      assert.equal(t.resolve(under), expected, `${odd} then ${under}`);
    }
  });

  describe('a hardlink whose path is given something else', () => {
    const hard = (target: string, owner = 'pkg-a'): FsNode => ({
      type: 'hardlink',
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: 0,
      owner,
      linkname: target,
    });
    const old: FsNode = { type: 'file', mode: 0o755, uid: 7, gid: 8, mtime: 9, owner: 'pkg-a', body: new TextEncoder().encode('old') };
    /** A tree with bin/z a file and bin/m, bin/a and sbin/y hardlinks to it (bin/a listed by pkg-b). */
    const linked = (): Tree => {
      const t = new Tree();
      t.put('bin/z', old);
      t.put('bin/m', hard('bin/z'));
      t.put('bin/a', hard('bin/z', 'pkg-b'));
      t.put('sbin/y', hard('bin/z'));
      return t;
    };
    /** What the tree has at each link path: the first in walk order the old file (its owner the link's), the others links to it. */
    const keptOld = (t: Tree): void => {
      assert.deepEqual(t.get('bin/a'), { ...old, owner: 'pkg-b' });
      assert.deepEqual(t.get('bin/m'), hard('bin/a'));
      assert.deepEqual(t.get('sbin/y'), hard('bin/a'));
    };
    const replacements: [string, FsNode][] = [
      ['a file', file('new')],
      ['a symlink', link('y')],
      ['a folder', { type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 }],
      ['a device', { type: 'char', mode: 0o600, uid: 0, gid: 0, mtime: 0, devmajor: 1, devminor: 3 }],
      ['a hardlink to another file', hard('etc/other')],
    ];

    for (const [what, node] of replacements) {
      it(`keeps the old file in its links when ${what} is put there`, () => {
        const t = linked();
        t.put('etc/other', file('other'));
        t.put('bin/z', node);
        assert.deepEqual(t.get('bin/z'), node);
        keptOld(t);
      });
    }

    it('keeps the old file in its links when the path, or a folder holding it, is removed', () => {
      const t = linked();
      t.remove('bin/z');
      assert.equal(t.get('bin/z'), undefined);
      keptOld(t);
      // The file and its links under one removed folder leave nothing behind.
      const u = new Tree();
      u.put('opt/x/f', old);
      u.put('opt/x/g', hard('opt/x/f'));
      u.put('opt/h', hard('opt/x/f'));
      u.remove('opt/x');
      assert.deepEqual(u.paths(), ['opt', 'opt/h']);
      assert.deepEqual(u.get('opt/h'), { ...old, owner: 'pkg-a' });
    });

    it('keeps it once: the new links to it move with it, a link given something else is no longer one', () => {
      const t = linked();
      t.put('bin/m', file('mine'));
      t.put('bin/z', file('new'));
      assert.deepEqual(t.get('bin/a'), { ...old, owner: 'pkg-b' });
      assert.deepEqual(t.get('sbin/y'), hard('bin/a'));
      assert.equal(new TextDecoder().decode(t.get('bin/m')?.body as Uint8Array), 'mine');
      // bin/a is the file now: replacing it in turn keeps it in sbin/y.
      t.put('bin/a', link('z'));
      assert.deepEqual(t.get('sbin/y'), old);
      // A link pointed elsewhere with update is not kept when the path it left goes.
      const u = linked();
      u.put('etc/other', file('other'));
      u.update('bin/m', { linkname: 'etc/other' });
      u.update('bin/a', { linkname: 'etc/other' });
      u.update('sbin/y', { linkname: 'etc/other' });
      u.remove('bin/z');
      assert.deepEqual(u.get('bin/a'), hard('etc/other', 'pkg-b'));
    });

    it('changes nothing for a file given again that no link names, or a link to a file left as it is', () => {
      const t = linked();
      t.put('etc/other', file('1'));
      t.put('etc/other', file('2'));
      t.update('bin/z', { mode: 0o700 });
      assert.deepEqual(t.get('bin/a'), hard('bin/z', 'pkg-b'));
      assert.equal(t.get('bin/z')?.mode, 0o700);
    });
  });

  it('shares one frozen node among folders that hold the same, and gives each the fields it was put with', () => {
    const t = new Tree();
    const dir = (owner: string, mtime = 7): FsNode => ({ type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime, owner, xattrs: undefined });
    for (let i = 0; i < 100; i++) t.put(`pkg/a${i}`, dir('one'));
    t.put('pkg/b', dir('two'));
    t.put('pkg/c', { ...dir('one'), xattrs: { 'user.x': 'y' } });
    t.mkdirAll('made/deep/er');
    t.mkdirAll('made/other');
    // A package's folders, and the folders mkdirAll makes, are one node each.
    assert.equal(t.get('pkg/a0'), t.get('pkg/a99'));
    assert.equal(t.get('made/deep'), t.get('made/other'));
    assert.ok(Object.isFrozen(t.get('pkg/a0')));
    assert.notEqual(t.get('pkg/a0'), t.get('pkg/b'));
    assert.deepEqual(Object.entries(t.get('pkg/a0')!), Object.entries(dir('one')));
    assert.deepEqual(t.get('pkg/c')?.xattrs, { 'user.x': 'y' });
    // What changes one folder changes no other.
    t.update('pkg/a1', { mode: 0o700 });
    t.put('pkg/a2', { ...dir('three'), mtime: 9 });
    assert.equal(t.get('pkg/a1')?.mode, 0o700);
    assert.deepEqual([t.get('pkg/a2')?.owner, t.get('pkg/a2')?.mtime], ['three', 9]);
    assert.deepEqual([t.get('pkg/a3')?.mode, t.get('pkg/a3')?.owner, t.get('pkg/a3')?.mtime], [0o755, 'one', 7]);
    t.put('pkg/a4', file());
    assert.equal(t.get('pkg/a4')?.type, 'file');
    assert.equal(t.get('pkg/a5')?.type, 'dir');
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
