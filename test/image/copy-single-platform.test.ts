// copyImage's rules that hold for library callers as for the CLI: `platforms` and a single
// image, and `withReferrers` into a store that holds no signatures (a docker-archive).
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isProvenantError } from '../../src/errors.ts';
import { copyImage } from '../../src/image/copy.ts';
import { parseLocation } from '../../src/ref/location.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { openLocation } from '../../src/store/open.ts';
import { makeImage } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('copy-single-platform');

async function singleAmd64(dir: string) {
  const layout = await LayoutStore.open(join(dir, 'src'), { create: true });
  const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
  return { layout, image: made.manifests[0]! };
}

describe('copyImage of a single image with platforms', () => {
  it('refuses another architecture, as digest --platform refuses a single image, and writes nothing', async () => {
    const dir = await tempDir();
    const { layout, image } = await singleAmd64(dir);
    const dst = await LayoutStore.open(join(dir, 'dst'), { create: true });
    await assert.rejects(
      copyImage(layout, image.digest, dst, { platforms: [{ os: 'linux', architecture: 'arm64' }] }),
      (e: unknown) =>
        isProvenantError(e, 'USAGE') &&
        e.message === '--platform picks images of an index, and this is a single linux/amd64 image, not linux/arm64',
    );
    assert.equal(await dst.resolve(image.digest), undefined);
    assert.deepEqual(dst.index.manifests, []);
  });

  it('copies it when it is the platform asked for, and whatever it is when the platforms are a default', async () => {
    const dir = await tempDir();
    const { layout, image } = await singleAmd64(dir);
    const dst = await LayoutStore.open(join(dir, 'dst'), { create: true });
    const asked = await copyImage(layout, image.digest, dst, { platforms: [{ os: 'linux', architecture: 'amd64' }] });
    assert.equal(asked.digest, image.digest);
    const other = await LayoutStore.open(join(dir, 'other'), { create: true });
    const byDefault = await copyImage(layout, image.digest, other, {
      platforms: [{ os: 'linux', architecture: 'arm64' }],
      platformsAreDefault: true,
    });
    assert.equal(byDefault.digest, image.digest);
  });
});

describe('copyImage withReferrers into a docker-archive', () => {
  it('is USAGE before anything is written, as the CLI says it', async () => {
    const dir = await tempDir();
    const { layout, image } = await singleAmd64(dir);
    const dst = await openLocation(parseLocation(`docker-archive:${join(dir, 'd.tar')}:example.com/app:1`), { write: true });
    try {
      await assert.rejects(
        copyImage(layout, image.digest, dst.store, { tags: dst.tags, withReferrers: true }),
        (e: unknown) =>
          isProvenantError(e, 'USAGE') &&
          e.message === 'a docker-archive holds one image and no signatures or attestations: --with-referrers cannot be kept',
      );
    } finally {
      await dst.store.close({ discard: true });
    }
    assert.deepEqual(await readdir(dir), ['src']);
  });
});
