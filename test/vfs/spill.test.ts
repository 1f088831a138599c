// Files kept out of the tree (src/vfs/spill.ts): whatever entries are installed, in whatever
// order, the walk of the tree and the kept files is the walk of a tree that holds them all, or
// the entries are refused; kept files' nodes come back as they went in; and scratch files go.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DownloadCache } from '../../src/pkg/fetch.ts';
import type { FileBody } from '../../src/vfs/body.ts';
import { PathSet, SpilledFiles, SpillRefused } from '../../src/vfs/spill.ts';
import { type FsNode, Tree } from '../../src/vfs/tree.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('spill');

/** A body on disk as a package's would be; never read here. */
const body = (n: number): FileBody => ({
  path: `/cache/data-${n % 3}`,
  offset: n * 512,
  size: n,
  sha256: n.toString(16).padStart(64, '0'),
  crc32: n,
});

/** An entry: a path of a small universe (so that entries meet), a kind, and a number for its fields. */
const entry = fc.record({
  path: fc.constantFrom('a', 'a/b', 'a/b/c', 'a/d', 'b', 'b/é', 'c', 'c/x', 'a-b', 'a/b-c', 'z/y/x'),
  type: fc.constantFrom('file', 'file', 'file', 'dir', 'symlink'),
  n: fc.nat(5000),
  xattr: fc.boolean(),
  // An owner beyond 32 bits, as a PAX record may give.
  big: fc.boolean(),
});
type Entry = { path: string; type: string; n: number; xattr: boolean; big?: boolean };

function nodeOf(e: Entry): FsNode {
  const base = {
    mode: 0o644 + (e.n % 8),
    uid: e.big === true ? 5_000_000_000 + e.n : e.n % 3,
    gid: e.n % 5,
    mtime: 1_700_000_000 + e.n,
    owner: 'p',
  };
  const xattrs = e.xattr ? { 'user.n': `v${e.n}\u0000é` } : undefined;
  if (e.type === 'dir') return { ...base, type: 'dir', mode: 0o755, xattrs };
  if (e.type === 'symlink') return { ...base, type: 'symlink', mode: 0o777, linkname: ['a', '../b', 'a/b/../d', 'b/é/..'][e.n % 4]! };
  return { ...base, type: 'file', body: body(e.n), xattrs };
}

/** Puts the packages' entries as the installer does: checked, a file kept out when it can be, the rest in the tree. */
async function install(tree: Tree, packages: Entry[][], spill: SpilledFiles | undefined): Promise<void> {
  if (spill !== undefined) tree.keepOutside(spill);
  for (const [i, entries] of packages.entries()) {
    for (const e of entries) {
      const node = { ...nodeOf(e), owner: `p${i}` };
      const at = spill?.check(tree, e.path, node.type) ?? e.path;
      if (spill?.takes(tree, at, node) !== true) tree.put(e.path, node);
    }
    await spill?.endRun(`p${i}`);
  }
}

describe('PathSet', () => {
  it('holds 30,000 paths in 12 bytes a path or less, and tells them from others', () => {
    const set = new PathSet();
    const path = (i: number): string => `usr/lib/python3/site-packages/pkg${i % 97}/module_${i}.py`;
    for (let i = 0; i < 30_000; i++) set.add(path(i));
    set.add(path(5));
    assert.equal(set.size, 30_000);
    for (let i = 0; i < 30_000; i++) assert.equal(set.has(path(i)), true);
    let others = 0;
    for (let i = 30_000; i < 60_000; i++) if (set.has(path(i))) others++;
    assert.equal(others, 0);
    // A table of a power of two slots at most half full took 65,536 slots of 8 bytes (17.5 a path).
    assert.ok(set.bytes <= 12 * 30_000, `${set.bytes} bytes`);
  });
});

describe('SpilledFiles', () => {
  it('walks as a tree of every file walks, or refuses, for any entries in any order', async () => {
    const dir = await tempDir();
    const cache = new DownloadCache(dir);
    let kept = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(entry, { maxLength: 8 }), { minLength: 1, maxLength: 4 }), async (packages) => {
        const whole = new Tree();
        try {
          await install(whole, packages, undefined);
        } catch {
          // What a tree refuses (a folder with contents replaced) is no case here.
          return;
        }
        const tree = new Tree();
        const spill = await SpilledFiles.open(cache, ['a/d']);
        try {
          await install(tree, packages, spill);
          const walked = [...spill.walk(tree)];
          assert.deepEqual(
            walked.map(([p]) => p),
            whole.paths(),
          );
          for (const [p, node] of walked) assert.deepEqual(node, whole.get(p), p);
          assert.equal(spill.has('a/d'), false, 'a path the build reads stays in the tree');
          if (spill.size > 0) kept++;
        } catch (err) {
          if (!(err instanceof SpillRefused)) throw err;
          refused++;
        } finally {
          await spill.close();
        }
      }),
      { numRuns: 400, seed: 7 },
    );
    assert.ok(kept > 20 && refused > 20, `kept ${kept}, refused ${refused}`);
    assert.deepEqual(await readdir(join(dir, 'sha256')), [], 'every scratch file removed');
  });

  it('walks runs longer than a read, and runs written after a walk', async () => {
    const cache = new DownloadCache(await tempDir());
    // Long paths and attributes: each package's run is many reads long.
    const files = (prefix: string, count: number): Entry[] =>
      Array.from({ length: count }, (_, n) => ({ path: `${prefix}/${'d'.repeat(60)}/f${n}`, type: 'file', n, xattr: n % 7 === 0 }));
    const packages = [files('a', 300), files('b', 40), files('a', 200).map((e) => ({ ...e, path: `${e.path}x` }))];
    const whole = new Tree();
    await install(whole, packages, undefined);
    const tree = new Tree();
    const spill = await SpilledFiles.open(cache, []);
    try {
      await install(tree, packages.slice(0, 2), spill);
      assert.equal([...spill.walk(tree)].length, 344, 'two folders each for a and b, and 340 files');
      // A package installed after a walk: the runs' writer makes its buffer again.
      tree.keepOutside(spill);
      for (const e of packages[2]!) {
        const node = { ...nodeOf(e), owner: 'p2' };
        assert.equal(spill.takes(tree, spill.check(tree, e.path, 'file'), node), true, e.path);
      }
      await spill.endRun('p2');
      assertWalksAs(spill, tree, whole);
    } finally {
      await spill.close();
    }
  });

  it('walks records larger than a read: alone, mid-run and last', async () => {
    const cache = new DownloadCache(await tempDir());
    // Extended attributes of 9,000 and 30,000 characters: records of 18 and 60 KB against reads of 8 KiB.
    const big = (path: string, size: number, owner: string): [string, FsNode] => [
      path,
      { type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: size, owner, xattrs: { 'user.big': 'é'.repeat(size) }, body: body(size % 5000) },
    ];
    const small = (path: string, n: number, owner: string): [string, FsNode] => [
      path,
      { ...nodeOf({ path, type: 'file', n, xattr: false }), owner },
    ];
    const packages: [string, FsNode][][] = [
      [big('a/x', 30_000, 'p0')],
      Array.from({ length: 100 }, (_, k) => (k === 50 || k === 99 ? big(`b/f${k}`, 9000, 'p1') : small(`b/f${k}`, k, 'p1'))),
    ];
    const whole = new Tree();
    const tree = new Tree();
    const spill = await SpilledFiles.open(cache, []);
    tree.keepOutside(spill);
    try {
      for (const [i, files] of packages.entries()) {
        for (const [path, node] of files) {
          whole.mkdirAll(path.slice(0, path.lastIndexOf('/')));
          whole.put(path, node);
          assert.equal(spill.takes(tree, spill.check(tree, path, 'file'), node), true, path);
        }
        await spill.endRun(`p${i}`);
      }
      assertWalksAs(spill, tree, whole);
    } finally {
      await spill.close();
    }
  });

  it('refuses what only a tree settles, naming it', async () => {
    const cache = new DownloadCache(await tempDir());
    const symlink = (target: string): FsNode => ({ type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, linkname: target });
    const cases: [string, (t: Tree, s: SpilledFiles) => void, RegExp][] = [
      [
        'a path given twice',
        (t, s) => {
          put(t, s, 'a/x', 'file');
          put(t, s, 'a/x', 'file');
        },
        /\/a\/x is given twice/,
      ],
      [
        'a file under a kept file',
        (t, s) => {
          put(t, s, 'a/x', 'file');
          put(t, s, 'a/x/y', 'file');
        },
        /\/a\/x\/y is under a file/,
      ],
      [
        'a symlink over a folder',
        (t, s) => {
          t.mkdirAll('a/b');
          put(t, s, 'a/b', 'symlink');
        },
        /a symlink replaces the dir \/a\/b/,
      ],
    ];
    for (const [what, act, message] of cases) {
      const spill = await SpilledFiles.open(cache, []);
      assert.throws(
        () => act(new Tree(), spill),
        (err: unknown) => err instanceof SpillRefused && message.test(err.message),
        what,
      );
      await spill.close();
    }
    const landing = await SpilledFiles.open(cache, []);
    const linked = new Tree();
    linked.keepOutside(landing);
    linked.mkdirAll('usr/lib');
    linked.put('lib', symlink('usr/lib'));
    put(linked, landing, 'lib/x.so', 'file');
    await landing.endRun('p');
    assert.deepEqual(
      [...landing.walk(linked)].map(([p]) => p),
      ['lib', 'usr', 'usr/lib', 'usr/lib/x.so'],
      'a file under a symlinked folder is kept where it lands',
    );
    // A listing that would leave out kept files asks for a tree of every file (ca-certificates'
    // folders are listed, and a symlinked one may hold files that landed through it).
    linked.mkdirAll('opt');
    assert.deepEqual(linked.under('opt'), []);
    assert.throws(
      () => linked.under('lib'),
      (err: unknown) => err instanceof SpillRefused && /holds files kept out/.test(err.message),
    );
    assert.throws(
      () => linked.under('usr'),
      (err: unknown) => err instanceof SpillRefused && /\/usr\/lib holds files kept out/.test(err.message),
    );
    await landing.close();
    // What the build reads: a package's file there stays in the tree; one reached through a
    // symlink (Alpine's etc/os-release) is brought in; a path kept nowhere is left alone.
    const spill = await SpilledFiles.open(cache, ['etc/passwd', 'etc/os-release', 'etc/group']);
    const tree = new Tree();
    tree.keepOutside(spill);
    tree.mkdirAll('etc');
    tree.put('etc/os-release', symlink('../usr/lib/os-release'));
    put(tree, spill, 'etc/passwd', 'file');
    put(tree, spill, 'usr/lib/os-release', 'file');
    await spill.endRun('p');
    assert.equal(tree.get('etc/passwd')?.type, 'file', "a package's file the build reads stays in the tree");
    assert.equal(tree.get('usr/lib/os-release'), undefined);
    spill.bringIn(tree);
    assert.equal(tree.get('usr/lib/os-release')?.type, 'file', 'a kept file the build reads is brought into the tree');
    assert.equal(tree.get('etc/group'), undefined);
    await spill.close();
    const unresolved = await SpilledFiles.open(cache, ['etc/passwd/x']);
    const other = new Tree();
    other.keepOutside(unresolved);
    put(other, unresolved, 'etc/passwd', 'file');
    await unresolved.endRun('p');
    assert.throws(() => unresolved.bringIn(other), /\/etc\/passwd\/x does not resolve/);
    await unresolved.close();
  });
});

/** The walk of `tree` and the kept files is the walk of `whole`, path by path and node by node. */
function assertWalksAs(spill: SpilledFiles, tree: Tree, whole: Tree): void {
  const walked = [...spill.walk(tree)];
  assert.deepEqual(
    walked.map(([p]) => p),
    whole.paths(),
  );
  for (const [p, node] of walked) assert.deepEqual(node, whole.get(p), p);
}

function put(tree: Tree, spill: SpilledFiles, path: string, type: 'file' | 'symlink'): void {
  const node = nodeOf({ path, type, n: 1, xattr: false });
  const at = spill.check(tree, path, type);
  if (!spill.takes(tree, at, node)) tree.put(path, node);
}
