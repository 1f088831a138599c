import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyAccounts, applyPaths } from '../../src/builder/assemble.ts';
import type { PathMutation } from '../../src/builder/config-types.ts';
import { buildFile, Tree } from '../../src/vfs/tree.ts';

const EPOCH = 1_700_000_000;

/** Mode, owner and group of the node at `path`. */
function meta(tree: Tree, path: string): [number | undefined, number | undefined, number | undefined] {
  const n = tree.get(path);
  return [n?.mode, n?.uid, n?.gid];
}

describe('the finishing every image gets', () => {
  it("makes a user's home the user's, and the folders above it root's, 0755 (apko's rule)", () => {
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
    assert.deepEqual(meta(tree, 'home/app'), [0o755, 1000, 1000]);
  });

  it("makes a paths folder as asked, and the missing folders above it root's, 0755", () => {
    const tree = new Tree();
    applyPaths(tree, [{ path: '/srv/app/data', type: 'directory', permissions: 0o700, uid: 65532, gid: 65532, recursive: false }], EPOCH);
    assert.deepEqual(meta(tree, 'srv'), [0o755, 0, 0]);
    assert.deepEqual(meta(tree, 'srv/app'), [0o755, 0, 0]);
    assert.deepEqual(meta(tree, 'srv/app/data'), [0o700, 65532, 65532]);
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
});
