// `provenant gc`: a location naming one image is refused, since gc works on a whole layout.
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { digestHex, digestOf } from '../../src/oci/digest.ts';
import { useTempDir } from '../helpers/temp.ts';
import { exampleDir, provenant } from './provenant.ts';

const temp = useTempDir('gc');

describe('provenant gc', () => {
  it('refuses oci:DIR:TAG and oci:DIR@DIGEST with a usage error, and deletes nothing', async () => {
    const dir = join(await temp(), 'layout');
    assert.equal((await provenant(['copy', '--quiet', `oci:${exampleDir}:latest`, `oci:${dir}:v1`])).status, 0);
    // An unreferenced blob: what gc would delete, had it taken the location as the whole layout.
    const orphan = 'nothing refers to this';
    await writeFile(join(dir, 'blobs', 'sha256', digestHex(digestOf(orphan))), orphan);
    const digest = digestOf(orphan);
    const before = await readdir(join(dir, 'blobs', 'sha256'));
    for (const text of [`oci:${dir}:v1`, `oci:${dir}@${digest}`, `oci:${dir}:v1@${digest}`]) {
      const r = await provenant(['gc', text]);
      assert.equal(r.status, 2, `${text}: ${r.stderr}`);
      assert.match(r.stderr, /gc works on a whole layout/);
      assert.ok(r.stderr.includes(`provenant gc oci:${dir}`), r.stderr);
    }
    assert.deepEqual(await readdir(join(dir, 'blobs', 'sha256')), before);
    const r = await provenant(['gc', `oci:${dir}`]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^removed 1 blob\(s\)/);
  });
});
