// What `provenant lock` tells of a lock against the one it replaces (src/builder/lock.ts, lockChanges).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Lock, lockChanges } from '../../src/builder/lock.ts';
import type { LockedPackage } from '../../src/pkg/source.ts';

const entry = (name: string, version: string, architecture: string, fields: Partial<LockedPackage> = {}): LockedPackage => ({
  name,
  version,
  architecture,
  url: `http://127.0.0.1:9/repo/${architecture}/${name}-${version}.apk`,
  checksum: `Q1${name}-${version}`,
  ...fields,
});
const lockOf = (packages: LockedPackage[]): Lock => ({
  version: 'v1',
  config: { name: 'image.yaml', checksum: 'sha256-a' },
  contents: { keyring: [], build_repositories: [], runtime_repositories: [], repositories: [], packages },
});

describe('lockChanges', () => {
  it('tells a package locked as another file at the same version, and one signed again', () => {
    const before = lockOf([
      entry('a', '1', 'x86_64'),
      entry('b', '1', 'x86_64', { signature: { range: 'bytes=0-9', checksum: 'sha1-old' } }),
    ]);
    const after = lockOf([
      entry('a', '1', 'x86_64', { checksum: 'Q1other' }),
      entry('b', '1', 'x86_64', { signature: { range: 'bytes=0-9', checksum: 'sha1-new' } }),
    ]);
    const { architectures, fields } = lockChanges(before, after);
    assert.deepEqual(
      architectures[0]?.changed.map((c) => [c.name, c.from.checksum, c.to.checksum, c.from.signature, c.to.signature]),
      [
        ['a', 'Q1a-1', 'Q1other', undefined, undefined],
        ['b', 'Q1b-1', 'Q1b-1', 'sha1-old', 'sha1-new'],
      ],
    );
    assert.deepEqual(fields, []);
  });

  it('lists an architecture the new lock drops as removed, and the same packages in another order as contents.packages', () => {
    const both = lockOf([entry('a', '1', 'x86_64'), entry('a', '1', 'aarch64')]);
    const dropped = lockChanges(both, lockOf([entry('a', '1', 'x86_64')]));
    assert.deepEqual(
      dropped.architectures.map((a) => [a.architecture, a.added.length, a.removed.map((p) => p.name), a.changed.length]),
      [
        ['aarch64', 0, ['a'], 0],
        ['x86_64', 0, [], 0],
      ],
    );
    assert.deepEqual(dropped.fields, []);
    const reordered = lockChanges(both, lockOf([entry('a', '1', 'aarch64'), entry('a', '1', 'x86_64')]));
    assert.deepEqual(reordered.fields, ['contents.packages']);
    assert.ok(reordered.architectures.every((a) => a.added.length + a.removed.length + a.changed.length === 0));
  });
});
