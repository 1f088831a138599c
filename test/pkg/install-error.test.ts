// What an error met installing a package says of it (src/pkg/install-error.ts): the entry being
// installed, or none while the next entry is read.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProvenantError } from '../../src/errors.ts';
import { type Installing, namingPackage, tracked } from '../../src/pkg/install-error.ts';

/** Entries `a`, `b`, then a failure reading the third. */
function* failingAfterTwo(): Generator<{ path: string }> {
  yield { path: 'etc/a' };
  yield { path: 'etc/b' };
  throw new ProvenantError('DIGEST_MISMATCH', 'the entries at byte 9 of /cache/index are not the ones stored there', {
    where: '/cache/index',
  });
}

/** What installing the entries says when `refuse` refuses one (by path), or the walk fails. */
function installed(refuse: string | undefined): string {
  const installing: Installing = { path: undefined };
  try {
    for (const entry of tracked(failingAfterTwo(), installing)) {
      if (entry.path === refuse) throw new ProvenantError('UNSAFE_PATH', 'refused', { where: entry.path });
    }
  } catch (err) {
    return (namingPackage(err, 'p-1.0', installing.path) as Error).message;
  }
  return 'installed';
}

describe('an install error', () => {
  it('names the entry being installed, and none when reading the next one failed', () => {
    assert.equal(installed('etc/b'), 'p-1.0: cannot install /etc/b: refused at etc/b');
    assert.equal(installed(undefined), 'p-1.0: the entries at byte 9 of /cache/index are not the ones stored there');
  });
});
