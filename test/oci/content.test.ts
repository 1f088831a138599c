import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cosignTag, referrersTag } from '../../src/oci/content.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { parseReference } from '../../src/ref/reference.ts';

describe('the tags spelled from a digest', () => {
  it('referrersTag: <alg>-<hex>, cut to the 128 characters a tag may have', () => {
    const d = digestOf('x');
    assert.equal(referrersTag(d), `sha256-${d.slice('sha256:'.length)}`);
    // cosign's tags are the same spelling with a suffix.
    assert.equal(cosignTag(d, 'sig'), `${referrersTag(d)}.sig`);
    const long = digestOf('x', 'sha512');
    assert.equal(referrersTag(long), `sha512-${long.slice('sha512:'.length)}`.slice(0, 128));
    assert.equal(referrersTag(long).length, 128);
    // Both are tags a reference may carry.
    for (const tag of [referrersTag(d), referrersTag(long)]) assert.equal(parseReference(`registry.example/app:${tag}`).tag, tag);
  });
});
