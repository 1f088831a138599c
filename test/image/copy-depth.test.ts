// Indexes nest at most INDEX_DEPTH_MAX deep under the one named: a layout or registry could name
// a chain of thousands, each walked in turn (20,000: a copy took minutes and 465 MB). The one named
// is level 0, as check counts: copy and check agree on the deepest chain they take.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readImageGraph } from '../../src/compat/graph.ts';
import { isProvenantError } from '../../src/errors.ts';
import { copyImage } from '../../src/image/copy.ts';
import { encodeJson, parseStored, type Stored } from '../../src/oci/content.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import type { LayoutStore } from '../../src/store/layout.ts';
import { makeImage } from '../helpers/images.ts';
import { useTempLayout } from '../helpers/temp.ts';

const layout = useTempLayout('copy-depth');

/** An image's index wrapped in indexes until `levels` indexes nest, the outermost tagged `deep`. */
async function chain(store: LayoutStore, levels: number): Promise<Stored> {
  let inner = (await makeImage(store, { layers: 1, layerBytes: 64 })).root;
  for (let level = 2; level <= levels; level++) {
    const outer = parseStored(
      encodeJson({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [{ mediaType: inner.mediaType, digest: inner.digest, size: inner.bytes.byteLength }],
      }),
    );
    await store.putManifest(outer, level === levels ? { tags: ['deep'], keepAsRoot: true } : {});
    inner = outer;
  }
  return inner;
}

describe('copy of nested indexes', () => {
  it('copies and checks indexes nested 8 deep under the one named (9 in all)', async () => {
    const src = await layout();
    const root = await chain(src, 9);
    await readImageGraph(src, 'deep');
    const dst = await layout();
    const result = await copyImage(src, 'deep', dst, { tags: ['deep'] });
    assert.equal(result.digest, root.digest);
    await Promise.all([src.close(), dst.close()]);
  });

  it('refuses indexes nested 9 deep under the one named with INVALID_MANIFEST naming the source and the index too deep, as check does', async () => {
    const src = await layout();
    await chain(src, 10);
    await assert.rejects(
      readImageGraph(src, 'deep'),
      (err) => isProvenantError(err, 'INVALID_MANIFEST') && /nested 9 deep/.test(err.message),
    );
    const dst = await layout();
    await assert.rejects(copyImage(src, 'deep', dst, { tags: ['deep'] }), (err) => {
      assert.ok(isProvenantError(err, 'INVALID_MANIFEST'), String(err));
      assert.match(err.message, /nests indexes more than 8 deep \(the index sha256:[0-9a-f]{64} is at level 9\)/);
      assert.equal(err.where, src.location);
      return true;
    });
    await Promise.all([src.close(), dst.close()]);
  });
});
