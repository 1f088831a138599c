import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isProvenantError } from '../../src/errors.ts';
import { overridden, parseRepositoryOverride } from '../../src/reproduce/fetch.ts';

describe('repository overrides', () => {
  it('parses OLD=NEW at the first =, and refuses anything else as USAGE', () => {
    assert.deepEqual(parseRepositoryOverride('http://old/repo=http://new/x'), ['http://old/repo', 'http://new/x']);
    assert.deepEqual(parseRepositoryOverride('./testdata/packages=/srv/packages'), ['./testdata/packages', '/srv/packages']);
    for (const bad of ['http://old/repo', '=http://new', 'http://old=', '']) {
      assert.throws(
        () => parseRepositoryOverride(bad),
        (err: unknown) => isProvenantError(err, 'USAGE'),
        bad,
      );
    }
  });

  it('rewrites a location only where OLD ends at a path segment', () => {
    const o = [['http://a/repo', 'http://b/mirror']] as const;
    assert.equal(overridden('http://a/repo/x86_64/p-1.apk', o), 'http://b/mirror/x86_64/p-1.apk');
    assert.equal(overridden('http://a/repo', o), 'http://b/mirror');
    assert.equal(overridden('http://a/repository/x86_64/p-1.apk', o), 'http://a/repository/x86_64/p-1.apk');
    assert.equal(overridden('http://c/repo/p.apk', o), 'http://c/repo/p.apk');
  });
});
