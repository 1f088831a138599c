import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { apkoPaths } from '../../src/builder/apko-accounts.ts';
import { applyAccounts, applyOsRelease, applyPaths, changedByFinishing, filesAt, withFinishedFiles } from '../../src/builder/assemble.ts';
import { parseConfig } from '../../src/builder/config.ts';
import type { PathMutation } from '../../src/builder/config-types.ts';
import { exitCodeFor } from '../../src/cli/exit.ts';
import { type ErrorCode, isProvenantError } from '../../src/errors.ts';
import { ApkoFs } from '../../src/pkg/apk/apko-fs.ts';
import { filesOnDemand, type InstalledPackage, inventoryFilesOf } from '../../src/pkg/source.ts';
import { readBody } from '../../src/vfs/body.ts';
import { buildFile, Tree } from '../../src/vfs/tree.ts';

const EPOCH = 1_700_000_000;

/** Mode, owner and group of the node at `path`. */
function meta(tree: Tree, path: string): [number | undefined, number | undefined, number | undefined] {
  const n = tree.get(path);
  return [n?.mode, n?.uid, n?.gid];
}

describe('the finishing every image gets', () => {
  it("makes a user's home the user's, 0700, and the folders above it root's, 0755 (apko's rule)", () => {
    const tree = new Tree();
    applyAccounts(
      tree,
      {
        users: [{ username: 'app', uid: 1000, gid: 1000, shell: '/bin/sh', homedir: '/home/app' }],
        groups: [{ groupname: 'app', gid: 1000, members: [] }],
      },
      EPOCH,
    );
    assert.deepEqual(meta(tree, 'home'), [0o755, 0, 0]);
    assert.deepEqual(meta(tree, 'home/app'), [0o700, 1000, 1000]);
  });

  it("refuses a loaded user's home that is a file in the image, at its line, as apko refuses it", () => {
    const { config, locations } = parseConfig(
      'archs: [x86_64]\naccounts:\n  users:\n    - username: app\n      uid: 1000\n      homedir: /bin/busybox\n',
      'image.yaml',
      { hostArch: 'x64' },
    );
    const tree = new Tree();
    buildFile(tree, 'bin/busybox', 'elf', EPOCH, 0o755);
    assert.throws(
      () => applyAccounts(tree, config.accounts, EPOCH, locations),
      (err: unknown) =>
        isProvenantError(err, 'INVALID_CONFIG') && /^image\.yaml:6:\d+: accounts\.users\[0\]\.homedir: .*not a folder/.test(err.message),
    );
    assert.deepEqual(meta(tree, 'bin/busybox'), [0o755, 0, 0]);
  });

  it('makes no folder for a home of /dev/null, as apko', () => {
    const tree = new Tree();
    applyAccounts(
      tree,
      { users: [{ username: 'svc', uid: 900, gid: 900, shell: '/sbin/nologin', homedir: '/dev/null' }], groups: [] },
      EPOCH,
    );
    assert.equal(tree.get('dev/null'), undefined);
    assert.equal(tree.get('dev'), undefined);
    assert.match(new TextDecoder().decode(readBody(tree.get('etc/passwd')?.body)), /^svc:x:900:900:svc:\/dev\/null:\/sbin\/nologin$/m);
  });

  it("makes a paths folder as asked, and the missing folders above it root's, 0755", () => {
    const tree = new Tree();
    applyPaths(tree, [{ path: '/srv/app/data', type: 'directory', permissions: 0o700, uid: 65532, gid: 65532, recursive: false }], EPOCH);
    assert.deepEqual(meta(tree, 'srv'), [0o755, 0, 0]);
    assert.deepEqual(meta(tree, 'srv/app'), [0o755, 0, 0]);
    assert.deepEqual(meta(tree, 'srv/app/data'), [0o700, 65532, 65532]);
  });

  it("gives the folders a file or link entry makes above it the build's time, root's, 0755", () => {
    const tree = new Tree();
    buildFile(tree, 'bin/busybox', 'ELF', EPOCH, 0o755);
    const paths: PathMutation[] = [
      { path: '/etc/nginx/http.d/default.conf', type: 'empty-file', recursive: false },
      { path: '/usr/bin/sh', type: 'symlink', source: '/bin/busybox', recursive: false },
      { path: '/opt/tools/bb', type: 'hardlink', source: '/bin/busybox', uid: 7, recursive: false },
    ];
    applyPaths(tree, paths, EPOCH);
    for (const folder of ['etc', 'etc/nginx', 'etc/nginx/http.d', 'usr', 'usr/bin', 'opt', 'opt/tools']) {
      assert.deepEqual([...meta(tree, folder), tree.get(folder)?.mtime], [0o755, 0, 0, EPOCH], folder);
    }
  });

  it('sets the other id to 0 when a permissions entry gives one, and leaves both when it gives neither, as apko', () => {
    const tree = new Tree();
    for (const f of ['a', 'b', 'c']) {
      buildFile(tree, f, '', EPOCH);
      tree.update(f, { uid: 7, gid: 8 });
    }
    const paths: PathMutation[] = [
      { path: '/a', type: 'permissions', permissions: 0o600, uid: 9, recursive: false },
      { path: '/b', type: 'permissions', permissions: 0o600, gid: 9, recursive: false },
      { path: '/c', type: 'permissions', permissions: 0o600, recursive: false },
    ];
    applyPaths(tree, paths, EPOCH);
    assert.deepEqual(meta(tree, 'a'), [0o600, 9, 0]);
    assert.deepEqual(meta(tree, 'b'), [0o600, 0, 9]);
    assert.deepEqual(meta(tree, 'c'), [0o600, 7, 8]);
  });

  it("leaves a package's folder its owner when a directory entry names no id, as apko", () => {
    const tree = new Tree();
    tree.mkdirAll('home/app', { mode: 0o750, uid: 1000, gid: 1000 });
    applyPaths(tree, [{ path: '/home/app', type: 'directory', permissions: 0o700, recursive: false }], EPOCH);
    assert.deepEqual(meta(tree, 'home/app'), [0o700, 1000, 1000]);
    // A folder it makes is root's.
    applyPaths(tree, [{ path: '/srv/new', type: 'directory', permissions: 0o700, recursive: false }], EPOCH);
    assert.deepEqual(meta(tree, 'srv/new'), [0o700, 0, 0]);
  });

  it('gives everything beneath a recursive directory entry its mode and owner, files included, as apko', () => {
    const tree = new Tree();
    buildFile(tree, 'usr/bin/app', '#!/bin/sh\n', EPOCH, 0o755);
    buildFile(tree, 'usr/bin/sub/tool', '', EPOCH, 0o644);
    applyPaths(tree, [{ path: '/usr/bin', type: 'directory', permissions: 0o750, uid: 1000, gid: 1000, recursive: true }], EPOCH);
    for (const p of ['usr/bin', 'usr/bin/app', 'usr/bin/sub', 'usr/bin/sub/tool']) assert.deepEqual(meta(tree, p), [0o750, 1000, 1000], p);
    // The folder above is not beneath it.
    assert.deepEqual(meta(tree, 'usr'), [0o755, 0, 0]);
  });

  it('without permissions, a recursive directory entry changes only the owner beneath, and follows no symlink out of it', () => {
    const tree = new Tree();
    buildFile(tree, 'app/secret.key', 'k', EPOCH, 0o600);
    buildFile(tree, 'etc/shadow', 'root:!:::::::\n', EPOCH, 0o640);
    tree.put('app/shadow', { type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: EPOCH, linkname: '/etc/shadow' });
    tree.put('app/dangling', { type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: EPOCH, linkname: '/nowhere' });
    applyPaths(tree, [{ path: '/app', type: 'directory', uid: 1000, gid: 1000, recursive: true }], EPOCH);
    assert.deepEqual(meta(tree, 'app'), [0o755, 1000, 1000]);
    assert.deepEqual(meta(tree, 'app/secret.key'), [0o600, 1000, 1000]);
    assert.deepEqual(meta(tree, 'etc/shadow'), [0o640, 0, 0]);
    assert.deepEqual(meta(tree, 'app/shadow'), [0o777, 0, 0]);
  });

  it("a loaded recursive directory entry without permissions keeps the modes beneath (the 0755 default is the folder's)", () => {
    const { config } = parseConfig('archs: [x86_64]\npaths: [{path: /etc, type: directory, recursive: true, uid: 0}]\n', 'image.yaml', {
      hostArch: 'x64',
    });
    const tree = new Tree();
    buildFile(tree, 'etc/s.conf', 'secret', EPOCH, 0o600);
    buildFile(tree, 'etc/sub/t.conf', '', EPOCH, 0o644);
    applyPaths(tree, config.paths, EPOCH);
    assert.deepEqual(meta(tree, 'etc'), [0o755, 0, 0]);
    assert.deepEqual(meta(tree, 'etc/s.conf'), [0o600, 0, 0]);
    assert.deepEqual(meta(tree, 'etc/sub/t.conf'), [0o644, 0, 0]);
  });

  it('names the file and line of a paths entry the build cannot apply, whatever refuses it', () => {
    /** The error applying `entries` (YAML list items, after two lines) to a tree with /etc/passwd throws. */
    const failure = (entries: string): unknown => {
      const { config, locations } = parseConfig(`archs: [x86_64]\npaths:\n${entries}`, 'image.yaml', { hostArch: 'x64' });
      const tree = new Tree();
      buildFile(tree, 'etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n', EPOCH);
      try {
        applyPaths(tree, config.paths, EPOCH, { locations });
      } catch (err) {
        return err;
      }
      return undefined;
    };
    const cases: [string, ErrorCode, string][] = [
      // The tree refuses a folder over a file; the entry is named, with the tree's reason, as a
      // configuration error (exit 2).
      [
        '  - {path: /srv, type: directory}\n  - path: /etc/passwd\n    type: directory\n',
        'INVALID_CONFIG',
        'image.yaml:4:5: paths[1]: directory /etc/passwd: cannot make the folder "etc/passwd": a file is there',
      ],
      ['  - path: /etc/passwd/d\n    type: directory\n', 'INVALID_CONFIG', 'image.yaml:3:5: paths[0]: directory /etc/passwd/d: '],
      [
        '  - path: /etc\n    type: empty-file\n',
        'INVALID_CONFIG',
        'image.yaml:3:5: paths[0]: empty-file /etc: cannot replace the folder "etc", which is not empty',
      ],
      [
        '  - path: /x\n    type: hardlink\n    source: /nope\n',
        'INVALID_CONFIG',
        'image.yaml:3:5: paths[0]: the hardlink /x links to /nope',
      ],
      [
        '  - path: /opt\n    type: permissions\n    permissions: 0o700\n',
        'INVALID_CONFIG',
        'image.yaml:3:5: paths[0]: /opt is not in the image',
      ],
    ];
    for (const [entries, code, start] of cases) {
      const err = failure(entries);
      assert.ok(isProvenantError(err, code), `${code} expected: ${String(err)}`);
      assert.ok(err.message.startsWith(start), err.message);
      assert.equal(exitCodeFor(err.code), 2, err.message);
    }
    // An entry made by hand has no line: its index and path are named.
    assert.throws(
      () => applyPaths(new Tree(), [{ path: '/opt', type: 'permissions', permissions: 0o700, recursive: false }], EPOCH),
      (err: unknown) => isProvenantError(err, 'INVALID_CONFIG') && err.message.startsWith('paths[0]: /opt') && err.where === '/opt',
    );
  });

  it("keeps the code and hint of what the tree refuses of a package's own making (a symlink loop, a link beyond PATH_MAX)", () => {
    const conflict = /the entry conflicts with what the packages/;
    for (const [links, entry, message, hint] of [
      [{ a: 'b', b: 'a' }, '{path: /a/x, type: directory}', /^image\.yaml:3:5: paths\[0\]: directory \/a\/x: too many symlinks/, undefined],
      [
        { l: 'x'.repeat(5000) },
        '{path: /l/f, type: empty-file}',
        /^image\.yaml:3:5: paths\[0\]: empty-file \/l\/f: the symlink \/l points to a target of 5000 bytes/,
        /no file system holds such a link/,
      ],
    ] as const) {
      const { config, locations } = parseConfig(`archs: [x86_64]\npaths:\n  - ${entry}\n`, 'image.yaml', { hostArch: 'x64' });
      const tree = new Tree();
      for (const [from, to] of Object.entries(links)) {
        tree.put(from, { type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: EPOCH, linkname: to });
      }
      assert.throws(
        () => applyPaths(tree, config.paths, EPOCH, { locations }),
        (err: unknown) => {
          assert.ok(isProvenantError(err, 'UNSAFE_PATH'), String(err));
          assert.match(err.message, message);
          assert.doesNotMatch(err.hint ?? '', conflict);
          if (hint !== undefined) assert.match(err.hint ?? '', hint);
          return true;
        },
        entry,
      );
    }
  });

  it('--compat apko: a paths entry apko cannot make there is a configuration error at its line (exit 2)', () => {
    for (const [entries, start] of [
      ['  - {path: /etc, type: empty-file}\n', 'image.yaml:3:5: paths[0]: /etc: is a folder'],
      ['  - {path: /etc/passwd/d, type: directory}\n', 'image.yaml:3:5: paths[0]: /etc/passwd: is not a folder'],
    ] as const) {
      const loaded = parseConfig(`archs: [x86_64]\npaths:\n${entries}`, 'image.yaml', { hostArch: 'x64' });
      const tree = new Tree();
      buildFile(tree, 'etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n', EPOCH);
      assert.throws(
        () => apkoPaths(new ApkoFs(tree), loaded),
        (err: unknown) => isProvenantError(err, 'INVALID_CONFIG') && err.message.startsWith(start) && exitCodeFor(err.code) === 2,
        entries,
      );
    }
  });

  it('refuses a loaded source or recursive that the entry type does not read, at its line, as on a symlink', () => {
    for (const [entry, key] of [
      ['{path: /d, type: directory, source: /x}', 'source'],
      ['{path: /bin, type: permissions, permissions: 0o755, source: /x}', 'source'],
      ['{path: /e, type: empty-file, source: /x}', 'source'],
      ['{path: /e, type: empty-file, recursive: true}', 'recursive'],
      ['{path: /h, type: hardlink, source: /bin/busybox, recursive: true}', 'recursive'],
    ] as const) {
      // The value's column: the entry starts at column 5.
      const column = 5 + entry.indexOf(`${key}: `) + key.length + 2;
      const { config, locations } = parseConfig(`archs: [x86_64]\npaths:\n  - ${entry}\n`, 'image.yaml', { hostArch: 'x64' });
      const tree = new Tree();
      buildFile(tree, 'bin/busybox', 'ELF', EPOCH, 0o755);
      assert.throws(
        () => applyPaths(tree, config.paths, EPOCH, { locations }),
        (err: unknown) =>
          isProvenantError(err, 'INVALID_CONFIG') &&
          err.message.startsWith(`image.yaml:3:${column}: paths[0]: `) &&
          err.message.includes(`reads no ${key}`) &&
          exitCodeFor(err.code) === 2,
        entry,
      );
    }
  });

  it('refuses a symlink entry over a path the image has, as apko does, and one naming a mode or owner it cannot set', () => {
    // The entry written `times` times, one under the other (lines 3, 6, ...), with where each was written.
    const config = (entry: string, times = 1) => {
      const entries = `  - path: /bin/sh\n    type: symlink\n    source: /bin/busybox\n${entry}`.repeat(times);
      const loaded = parseConfig(`archs: [x86_64]\npaths:\n${entries}`, 'image.yaml', { hostArch: 'x64' });
      return { paths: loaded.config.paths, locations: loaded.locations };
    };
    const image = (): Tree => {
      const tree = new Tree();
      buildFile(tree, 'bin/busybox', 'ELF', EPOCH, 0o755);
      return tree;
    };
    // A package's file, a package's link, or what an earlier entry made: each stays, and the entry is named.
    for (const there of ['file', 'symlink', 'entry'] as const) {
      const tree = image();
      if (there === 'file') buildFile(tree, 'bin/sh', '#!', EPOCH, 0o755);
      if (there === 'symlink') tree.put('bin/sh', { type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: EPOCH, linkname: 'busybox' });
      const { paths, locations } = config('', there === 'entry' ? 2 : 1);
      assert.throws(
        () => applyPaths(tree, paths, EPOCH, { locations }),
        (err: unknown) =>
          isProvenantError(err, 'INVALID_CONFIG') &&
          err.message.startsWith(`image.yaml:${there === 'entry' ? '6:5: paths[1]' : '3:5: paths[0]'}: /bin/sh is already in the image`),
        there,
      );
      if (there === 'file') assert.equal(tree.get('bin/sh')?.type, 'file');
    }
    // A file the build wrote only for want of any (its /etc/os-release) stands in: the entry replaces it.
    const standIn = image();
    buildFile(standIn, 'bin/sh', 'NAME=x\n', EPOCH);
    applyPaths(standIn, config('').paths, EPOCH, { standIns: new Set(['bin/sh']) });
    assert.equal(standIn.get('bin/sh')?.type, 'symlink');
    // A mode or owner on a symlink entry would do nothing: refused at its own line.
    for (const [key, line] of [
      ['uid: 1000', 6],
      ['permissions: 0o700', 6],
      ['recursive: true', 6],
    ] as const) {
      assert.throws(
        () => applyPaths(image(), config(`    ${key}\n`).paths, EPOCH, { locations: config(`    ${key}\n`).locations }),
        (err: unknown) =>
          isProvenantError(err, 'INVALID_CONFIG') &&
          err.message.startsWith(`image.yaml:${line}:`) &&
          err.message.includes(`paths[0]: a symlink entry sets no mode or owner, so its ${key.split(':')[0]} would do nothing`),
        key,
      );
    }
    const tree = image();
    applyPaths(tree, config('').paths, EPOCH);
    assert.deepEqual(tree.get('bin/sh'), {
      type: 'symlink',
      mode: 0o777,
      uid: 0,
      gid: 0,
      mtime: EPOCH,
      owner: 'build',
      linkname: '/bin/busybox',
    });
  });

  it("sets a hardlink entry's mode and owner on the link and on its file, one inode", () => {
    const tree = new Tree();
    buildFile(tree, 'usr/bin/app', '#!/bin/sh\n', EPOCH, 0o755);
    applyPaths(
      tree,
      [{ path: '/usr/bin/app2', type: 'hardlink', source: '/usr/bin/app', uid: 7, gid: 7, permissions: 0o700, recursive: false }],
      EPOCH,
    );
    assert.equal(tree.get('usr/bin/app2')?.type, 'hardlink');
    assert.deepEqual(meta(tree, 'usr/bin/app2'), [0o700, 7, 7]);
    assert.deepEqual(meta(tree, 'usr/bin/app'), [0o700, 7, 7]);
    // Without them, the link is its file as it was.
    applyPaths(tree, [{ path: '/usr/bin/app3', type: 'hardlink', source: '/usr/bin/app', recursive: false }], EPOCH);
    assert.deepEqual(meta(tree, 'usr/bin/app3'), [0o700, 7, 7]);
  });

  it('finds a changed file whichever name a symlinked folder gives it (usr-merge), both ways', () => {
    const tree = new Tree();
    tree.mkdirAll('usr/lib');
    tree.put('lib', { type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, linkname: 'usr/lib' });
    buildFile(tree, 'usr/lib/foo', 'shipped\n', EPOCH);
    buildFile(tree, 'usr/lib/bar', 'shipped\n', EPOCH);
    // The configuration names one through the link and one through the real folder.
    const before = filesAt(tree, ['usr/lib/foo', 'lib/bar']);
    applyPaths(
      tree,
      [{ path: '/usr/lib/foo', type: 'empty-file' } as PathMutation, { path: '/lib/bar', type: 'empty-file' } as PathMutation],
      EPOCH,
    );
    const changed = changedByFinishing(tree, before);
    const empty = { sha1: createHash('sha1').digest('hex'), sha256: createHash('sha256').digest('hex') };
    // Packages list them the other way round.
    const record = {
      name: 'p',
      files: ['/lib/foo', '/usr/lib/bar'].map((path) => ({ path, sha1: 'shipped' })),
    } as unknown as InstalledPackage;
    assert.deepEqual(withFinishedFiles(record, changed).files, [
      { path: '/lib/foo', sha1: empty.sha1, sha256: empty.sha256, changedByBuild: true },
      { path: '/usr/lib/bar', sha1: empty.sha1, sha256: empty.sha256, changedByBuild: true },
    ]);
  });

  it('keeps a list made when read made one file at a time, walking the list it had no further than it is walked', () => {
    const changed = new Map([['etc/a', { sha1: 'now', sha256: 'now256' }]]);
    let made = 0;
    const record = filesOnDemand({ name: 'p', files: [] } as unknown as InstalledPackage, function* () {
      for (const path of ['/etc/a', '/etc/b', '/etc/c']) {
        made++;
        yield { path, sha1: 'shipped' };
      }
    });
    const finished = withFinishedFiles(record, changed);
    const walk = inventoryFilesOf(finished)()[Symbol.iterator]();
    assert.deepEqual(walk.next().value, { path: '/etc/a', sha1: 'now', sha256: 'now256', changedByBuild: true });
    assert.equal(made, 1, 'one file made for one file walked');
    assert.deepEqual(finished.files, [
      { path: '/etc/a', sha1: 'now', sha256: 'now256', changedByBuild: true },
      { path: '/etc/b', sha1: 'shipped' },
      { path: '/etc/c', sha1: 'shipped' },
    ]);
    // Set, the list is the one given, walked as such.
    finished.files = [{ path: '/etc/x' }];
    assert.deepEqual([...inventoryFilesOf(finished)()], [{ path: '/etc/x' }]);
  });

  it("tells which files the finishing changed, by their bytes, and lists a package's files as the image holds them", () => {
    const tree = new Tree();
    for (const [path, text] of Object.entries({ 'etc/a': 'a\n', 'etc/same': 'same\n', 'etc/kept': 'k\n', 'etc/gone': 'g\n' })) {
      buildFile(tree, path, text, EPOCH);
    }
    const paths = ['etc/a', 'etc/same', 'etc/kept', 'etc/gone', 'etc/new'];
    const before = filesAt(tree, paths);
    buildFile(tree, 'etc/a', 'changed\n', EPOCH);
    // Written again with the bytes it had, a file is not changed.
    buildFile(tree, 'etc/same', 'same\n', EPOCH);
    tree.put('etc/gone', { type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: EPOCH, linkname: '/etc/kept' });
    buildFile(tree, 'etc/new', 'n\n', EPOCH);
    const changed = changedByFinishing(tree, before);
    const hex = (algorithm: string, text: string) => createHash(algorithm).update(text).digest('hex');
    assert.deepEqual(
      [...changed],
      [
        ['etc/a', { sha1: hex('sha1', 'changed\n'), sha256: hex('sha256', 'changed\n') }],
        ['etc/gone', undefined],
        // etc/new: no package's file was there, so none lists it, and it is not read.
      ],
    );
    const record = {
      name: 'p',
      files: ['/etc/a', '/etc/same', '/etc/kept', '/etc/gone'].map((path) => ({ path, sha1: 'shipped' })),
    } as unknown as InstalledPackage;
    assert.deepEqual(withFinishedFiles(record, changed).files, [
      { path: '/etc/a', sha1: hex('sha1', 'changed\n'), sha256: hex('sha256', 'changed\n'), changedByBuild: true },
      { path: '/etc/same', sha1: 'shipped' },
      { path: '/etc/kept', sha1: 'shipped' },
    ]);
  });
});

describe('/etc/os-release', () => {
  it('quotes a loaded value as os-release(5) says, so that a shell sourcing the file reads it back and runs nothing', () => {
    const name = 'a$(echo ran)`echo ran` "q" \\n $HOME\'s';
    const { config } = parseConfig(
      `archs: [x86_64]\nos-release: {id: t, name: ${JSON.stringify(name)}, version-id: "1.0"}\n`,
      'image.yaml',
      { hostArch: 'x64' },
    );
    const tree = new Tree();
    applyOsRelease(tree, config.osRelease, EPOCH);
    const text = new TextDecoder().decode(readBody(tree.get('etc/os-release')?.body));
    assert.match(text, /^ID=t$/m);
    assert.match(text, /^VERSION_ID=1\.0$/m);
    const sourced = spawnSync('sh', ['-c', 'eval "$1"; printf %s "$NAME"', 'sh', text], { encoding: 'utf8', env: { HOME: '/h' } });
    assert.equal(sourced.status, 0, sourced.stderr);
    assert.equal(sourced.stdout, name);
  });
});
