// The alternatives the postinsts register, made without running them: checked against dpkg's own
// update-alternatives (run on a scratch root with the same commands), and the build's refusals.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { makeAlternatives, type PackageAlternatives, packageAlternatives } from '../../../src/pkg/deb/alternatives.ts';
import type { AlternativesAction } from '../../../src/pkg/deb/script-reader.ts';
import { readBody } from '../../../src/vfs/body.ts';
import { Tree } from '../../../src/vfs/tree.ts';
import { toolMissing } from '../../helpers/images.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A tree with these files (of package `pkg`) and their folders. */
function treeWith(files: readonly string[], owner = 'pkg'): Tree {
  const tree = new Tree();
  for (const f of files) {
    tree.mkdirAll(f.slice(1, f.lastIndexOf('/')), { owner });
    tree.put(f.slice(1), { type: 'file', mode: 0o755, uid: 0, gid: 0, mtime: 0, owner, body: enc(f) });
  }
  return tree;
}

/** The build's symlinks (path → target) and administrative files (name → text) in `tree`. */
function madeIn(tree: Tree): { links: Record<string, string>; admin: Record<string, string> } {
  const links: Record<string, string> = {};
  const admin: Record<string, string> = {};
  for (const p of tree.paths()) {
    const n = tree.get(p);
    if (n?.type === 'symlink' && n.owner === 'build') links[`/${p}`] = n.linkname ?? '';
    if (n?.type === 'file' && p.startsWith('var/lib/dpkg/alternatives/'))
      admin[p.slice('var/lib/dpkg/alternatives/'.length)] = new TextDecoder().decode(readBody(n.body));
  }
  return { links, admin };
}

/** The same, from a root update-alternatives worked on. */
function madeOnDisk(root: string): { links: Record<string, string>; admin: Record<string, string> } {
  const links: Record<string, string> = {};
  const admin: Record<string, string> = {};
  const walk = (dir: string): void => {
    for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
      const p = `${dir}/${e.name}`;
      if (e.isSymbolicLink()) links[p] = readlinkSync(join(root, p));
      else if (e.isDirectory()) walk(p);
    }
  };
  walk('');
  const adminDir = join(root, 'var/lib/dpkg/alternatives');
  for (const name of readdirSync(adminDir)) admin[name] = readFileSync(join(adminDir, name), 'utf8');
  return { links, admin };
}

const pkg = (actions: AlternativesAction[], name = 'pkg'): PackageAlternatives => ({ package: name, actions, notes: [] });
const install = (
  name: string,
  path: string,
  priority: number,
  slaves: { name: string; path: string }[] = [],
  link = `/usr/bin/${name}`,
) => ({
  action: 'install' as const,
  line: 1,
  link,
  name,
  path,
  priority,
  slaves: slaves.map((s) => ({ link: `/usr/share/${s.name}`, ...s })),
});

// The universe of the comparison: two groups, each with two slaves; three paths that exist and
// one that does not; slave targets of which one does not exist.
const FILES = ['/usr/bin/p1', '/usr/bin/p2', '/usr/bin/p3', '/usr/share/t1', '/usr/share/t2'];
const groupName = fc.constantFrom('a', 'b');
const action: fc.Arbitrary<AlternativesAction> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .record({
        name: groupName,
        path: fc.constantFrom('/usr/bin/p1', '/usr/bin/p2', '/usr/bin/p3', '/usr/bin/missing'),
        priority: fc.integer({ min: 0, max: 3 }),
        slaves: fc.subarray(['s1', 's2']),
        targets: fc.array(fc.constantFrom('/usr/share/t1', '/usr/share/t2', '/usr/share/none'), { minLength: 2, maxLength: 2 }),
      })
      .map(({ name, path, priority, slaves, targets }) =>
        install(
          name,
          path,
          priority,
          slaves.map((s, i) => ({ name: `${name}${s}`, path: targets[i] as string })),
        ),
      ),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ name: groupName, path: fc.constantFrom('/usr/bin/p1', '/usr/bin/p2', '/usr/bin/p3') })
      .map(({ name, path }) => ({ action: 'remove' as const, line: 1, name, path })),
  },
  { weight: 1, arbitrary: groupName.map((name) => ({ action: 'remove-all' as const, line: 1, name })) },
);

function updateAlternatives(root: string, a: AlternativesAction): void {
  const args =
    a.action === 'install'
      ? ['--install', a.link, a.name, a.path, String(a.priority), ...a.slaves.flatMap((s) => ['--slave', s.link, s.name, s.path])]
      : a.action === 'remove'
        ? ['--remove', a.name, a.path]
        : ['--remove-all', a.name];
  // A refused command (a path that does not exist) fails and changes nothing, as the build's does.
  spawnSync('update-alternatives', ['--quiet', '--root', root, ...args], { stdio: 'ignore' });
}

describe('alternatives made as update-alternatives leaves them', () => {
  it('gives the links and administrative files dpkg update-alternatives gives, command for command', {
    skip: toolMissing('update-alternatives'),
  }, () => {
    const scratch = mkdtempSync(join(tmpdir(), 'provenant-alternatives-'));
    try {
      let run = 0;
      fc.assert(
        fc.property(fc.array(action, { minLength: 1, maxLength: 7 }), (actions) => {
          const root = join(scratch, String(run++));
          for (const d of ['usr/bin', 'usr/share', 'etc/alternatives', 'var/lib/dpkg/alternatives', 'var/log'])
            mkdirSync(join(root, d), { recursive: true });
          for (const f of FILES) writeFileSync(join(root, f), f);
          for (const a of actions) updateAlternatives(root, a);
          const tree = treeWith(FILES);
          tree.mkdirAll('etc/alternatives', { owner: 'dpkg' });
          makeAlternatives(tree, [pkg(actions)]);
          assert.deepEqual(madeIn(tree), madeOnDisk(root));
          rmSync(root, { recursive: true });
        }),
        { numRuns: 60 },
      );
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('keeps, of two choices of one priority, the one installed first (as dpkg configures the packages)', () => {
    for (const order of [
      ['/usr/bin/p2', '/usr/bin/p1'],
      ['/usr/bin/p1', '/usr/bin/p2'],
    ]) {
      const tree = treeWith(FILES);
      const result = makeAlternatives(tree, [
        pkg([install('awk', order[0] as string, 5)], 'one'),
        pkg([install('awk', order[1] as string, 5)], 'two'),
      ]);
      assert.deepEqual(result.made, [{ name: 'awk', link: '/usr/bin/awk', path: order[0], package: 'one' }]);
      assert.equal(tree.get('etc/alternatives/awk')?.linkname, order[0]);
    }
  });

  it('notes a postinst that nests too deep to read as not made, and goes on with the other packages', () => {
    const tree = treeWith(FILES);
    const hostile = `#!/bin/sh\n${'{ '.repeat(50_000)}update-alternatives --install /usr/bin/awk awk /usr/bin/p1 1${'; }'.repeat(50_000)}\n`;
    const read = packageAlternatives('hostile', enc(hostile));
    assert.deepEqual(read.actions, []);
    assert.equal(read.notes.length, 1);
    assert.match(read.notes[0] ?? '', /^postinst:2 update-alternatives not made: the script is not read: .*nest deeper/);
    const result = makeAlternatives(tree, [
      read,
      packageAlternatives('good', enc('#!/bin/sh\nupdate-alternatives --install /usr/bin/awk awk /usr/bin/p2 1\n')),
    ]);
    assert.deepEqual(result.made, [{ name: 'awk', link: '/usr/bin/awk', path: '/usr/bin/p2', package: 'good' }]);
  });

  it('writes nothing when no postinst registers one', () => {
    const tree = treeWith(FILES);
    const before = tree.paths();
    const result = makeAlternatives(tree, [
      packageAlternatives('pkg', enc('#!/bin/sh\nset -e\nldconfig\n')),
      packageAlternatives('none', undefined),
    ]);
    assert.deepEqual(tree.paths(), before);
    assert.deepEqual(result, { made: [], notes: new Map() });
  });

  it('never links over a package file, nor where the image has no folder, and says so', () => {
    const tree = treeWith([...FILES, '/usr/bin/awk'], 'gawk');
    const result = makeAlternatives(tree, [
      pkg(
        [
          install('awk', '/usr/bin/p1', 5, [{ name: 'awk.1.gz', path: '/usr/share/t1' }]),
          install('x', '/usr/bin/p2', 1, [], '/opt/x/bin/x'),
        ],
        'mawk',
      ),
    ]);
    // /usr/bin/awk stays gawk's file; the rest of the group is made, as update-alternatives does.
    assert.equal(tree.get('usr/bin/awk')?.type, 'file');
    assert.equal(tree.get('etc/alternatives/awk')?.linkname, '/usr/bin/p1');
    assert.equal(tree.get('usr/share/awk.1.gz')?.linkname, '/etc/alternatives/awk.1.gz');
    assert.equal(tree.get('opt'), undefined);
    const notes = result.notes.get('mawk') ?? [];
    assert.equal(notes.length, 2);
    assert.match(notes[0] ?? '', /\/usr\/bin\/awk not made: \/usr\/bin\/awk is a file of gawk/);
    assert.match(notes[1] ?? '', /\/opt\/x\/bin\/x not made: the folder \/opt\/x\/bin is not in the image/);
  });

  it('refuses paths that are not absolute and clean, names with a slash, and links another group manages', () => {
    const tree = treeWith(FILES);
    const before = tree.paths();
    const result = makeAlternatives(tree, [
      pkg([
        install('up', '/usr/bin/p1', 1, [], '/usr/bin/../../../etc/passwd'),
        install('rel', '/usr/bin/p1', 1, [], 'usr/bin/rel'),
        install('a/b', '/usr/bin/p1', 1),
        install('nl', '/usr/bin/p1\n', 1),
        install('gone', '/usr/bin/missing', 1),
      ]),
    ]);
    assert.deepEqual(tree.paths(), before);
    assert.equal(result.notes.get('pkg')?.length, 5);
    const second = makeAlternatives(treeWith(FILES), [
      pkg([install('a', '/usr/bin/p1', 1, [{ name: 's', path: '/usr/share/t1' }]), install('b', '/usr/bin/p2', 1, [], '/usr/share/s')]),
    ]);
    assert.deepEqual(
      second.made.map((m) => m.name),
      ['a'],
    );
    assert.match(second.notes.get('pkg')?.[0] ?? '', /the link \/usr\/share\/s is managed by a/);
  });

  it('reports a removal that may run only where a script installed what it removes', () => {
    const maybe = (name: string): PackageAlternatives => ({
      package: 'later',
      actions: [],
      notes: [],
      mayRemove: [{ name, path: '/usr/bin/p1', note: `may remove ${name}` }],
    });
    const result = makeAlternatives(treeWith(FILES), [pkg([install('a', '/usr/bin/p1', 1)]), maybe('a'), maybe('never-installed')]);
    assert.deepEqual(result.notes.get('later'), ['may remove a']);
  });
});
