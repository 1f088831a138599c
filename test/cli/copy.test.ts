// `provenant copy` against the real registry: what a destination reference asks for is what is written, or the copy fails.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { exampleDir, provenant } from './provenant.ts';

const example = `oci:${exampleDir}:latest`;
const exampleDigest = 'sha256:43ab08a9720914fa50ee175431c2fd479a352920aee1f68f58977b6ac40f62d3';

describe('provenant copy: destinations', { skip: registryMissing }, () => {
  const reg = useRegistry();

  it('refuses a destination digest that is not what is copied, writing nothing (exit 5)', async () => {
    const other = `sha256:${'0'.repeat(64)}`;
    const r = await provenant(['copy', '--quiet', example, `${reg.host}/dst/digest@${other}`]);
    assert.equal(r.status, 5, r.stderr);
    assert.match(r.stderr, new RegExp(`${exampleDigest}, not the ${other}`));
    assert.equal((await provenant(['digest', `${reg.host}/dst/digest@${exampleDigest}`])).status, 3, 'nothing was pushed');
    const t = await provenant(['copy', '--quiet', example, `${reg.host}/dst/digest:t1@${other}`]);
    assert.equal(t.status, 5, t.stderr);
    assert.equal((await provenant(['digest', `${reg.host}/dst/digest:t1`])).status, 3, 'no tag was written');
  });

  it('writes the tag of a TAG@DIGEST destination when the digest is what is copied', async () => {
    const r = await provenant(['copy', '--quiet', example, `${reg.host}/dst/both:t1@${exampleDigest}`]);
    assert.equal(r.status, 0, r.stderr);
    const d = await provenant(['digest', `${reg.host}/dst/both:t1`]);
    assert.equal(d.status, 0, d.stderr);
    assert.equal(d.stdout.trim(), exampleDigest);
    const only = await provenant(['copy', '--quiet', example, `${reg.host}/dst/only@${exampleDigest}`]);
    assert.equal(only.status, 0, only.stderr);
  });
});
