import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyAccounts, applyPaths } from '../../src/builder/assemble.ts';
import { Tree } from '../../src/vfs/tree.ts';

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
});
