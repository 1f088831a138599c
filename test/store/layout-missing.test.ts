// A layout that is not there, opened to write for a change of an image in it (as `sign` opens
// it): said as a read says it, not as an empty layout.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isProvenantError } from '../../src/errors.ts';
import { parseLocation } from '../../src/ref/location.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { defaultTarget, openLocation } from '../../src/store/open.ts';
import { makeImage } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('layout-missing');

describe('a layout opened to write that was not there', () => {
  for (const name of ['', ':v1', `@sha256:${'1'.repeat(64)}`]) {
    it(`says there is no layout when an image of it is asked for (oci:typo${name})`, async () => {
      const dir = await tempDir();
      const path = join(dir, 'typo');
      const opened = await openLocation(parseLocation(`oci:${path}${name}`), { write: true });
      try {
        const ask = opened.target === undefined ? defaultTarget(opened.store) : opened.store.getManifest(opened.target);
        await assert.rejects(
          ask,
          (e: unknown) =>
            isProvenantError(e, 'NOT_FOUND') && e.message.startsWith(`there was no OCI image layout at ${path} (no oci-layout file), so `),
        );
      } finally {
        await opened.store.close({ discard: true });
      }
      assert.equal(existsSync(path), false, 'the layout made to write is taken away again');
    });
  }

  it('says what an existing empty layout holds as before', async () => {
    const dir = await tempDir();
    const made = await LayoutStore.open(join(dir, 'empty'), { create: true });
    await made.close();
    const opened = await openLocation(parseLocation(`oci:${join(dir, 'empty')}`), { write: true });
    await assert.rejects(
      defaultTarget(opened.store),
      (e: unknown) => isProvenantError(e, 'NOT_FOUND') && /holds no image$/.test(e.message),
    );
    await opened.store.close();
  });

  it('finds what was written into it since', async () => {
    const dir = await tempDir();
    const opened = await openLocation(parseLocation(`oci:${join(dir, 'new')}`), { write: true });
    const image = await makeImage(opened.store, { tag: 'v1' });
    assert.equal(await defaultTarget(opened.store), image.root.digest);
    await assert.rejects(
      opened.store.getManifest('v2'),
      (e: unknown) => isProvenantError(e, 'NOT_FOUND') && /tag v2 is not in the layout/.test(e.message),
    );
    await opened.store.close();
  });
});
