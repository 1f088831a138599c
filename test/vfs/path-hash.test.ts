// Tables of path hashes in typed arrays (src/vfs/path-hash.ts): what the tree keeps per folder
// (its count of entries) and the walk's list of paths, which no longer grow with a copy or a key
// of their own per path (issue 16).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PathCounts } from '../../src/vfs/path-hash.ts';
import { type FsNode, Tree } from '../../src/vfs/tree.ts';

const folder = (i: number): string => `usr/lib/python3/site-packages/pkg${i % 97}/sub_${i}`;

describe('PathCounts', () => {
  it('counts 12,000 folders in 18 bytes or less a folder, each its own count', () => {
    const counts = new PathCounts();
    for (let i = 0; i < 12_000; i++) for (let j = 0; j <= i % 3; j++) counts.increment(folder(i));
    for (let i = 0; i < 12_000; i++) assert.equal(counts.get(folder(i)), (i % 3) + 1);
    for (let i = 12_000; i < 24_000; i++) assert.equal(counts.get(folder(i)), 0);
    // A Map from each folder took about 40 bytes an entry, and a key of its own.
    assert.ok(counts.bytes <= 18 * 12_000, `${counts.bytes} bytes`);
  });

  it('goes back to 0 as entries go, and up again', () => {
    const counts = new PathCounts();
    for (let i = 0; i < 3_000; i++) counts.increment(folder(i));
    for (let i = 0; i < 3_000; i += 2) counts.decrement(folder(i));
    for (let i = 0; i < 3_000; i++) assert.equal(counts.get(folder(i)), i % 2, folder(i));
    // Never below 0: a path that was not counted stays at 0.
    counts.decrement(folder(0));
    counts.decrement('not/counted');
    assert.equal(counts.get(folder(0)), 0);
    assert.equal(counts.get('not/counted'), 0);
    counts.increment(folder(0));
    assert.equal(counts.get(folder(0)), 1);
  });
});

describe('Tree.walkPaths', () => {
  const dir: FsNode = { type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 };

  it('is the tree’s own list, the same until a path is added, and unchanged by later writes', () => {
    const t = new Tree();
    t.put('usr/lib/a', dir);
    t.put('etc', dir);
    const walk = t.walkPaths();
    assert.deepEqual(walk, ['etc', 'usr', 'usr/lib', 'usr/lib/a']);
    assert.equal(t.walkPaths(), walk);
    assert.notEqual(t.paths(), walk);
    t.put('usr/lib/a', { ...dir, mode: 0o700 });
    assert.equal(t.walkPaths(), walk);
    t.put('bin', dir);
    t.remove('usr/lib');
    assert.deepEqual(walk, ['etc', 'usr', 'usr/lib', 'usr/lib/a']);
    assert.deepEqual(t.walkPaths(), ['bin', 'etc', 'usr']);
  });
});
