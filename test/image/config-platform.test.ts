// One reading of a single image's platform from its config, for inspect, copy --platform and the
// graph check reads: they disagreed on a config over 4 MiB (inspect showed no platform, copy
// failed reading it) and on an artifact whose config is an image config (inspect showed one).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readImageGraph } from '../../src/compat/graph.ts';
import { isProvenantError } from '../../src/errors.ts';
import { copyImage } from '../../src/image/copy.ts';
import { CONFIG_LIMIT } from '../../src/image/image-config.ts';
import { createIndex } from '../../src/image/index-create.ts';
import { inspectImage } from '../../src/image/inspect.ts';
import { encodeJson, parseStored } from '../../src/oci/content.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import type { ImageManifest } from '../../src/oci/types.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { makeLayer, putBytes } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('config-platform');

/** A single linux/amd64 image of one layer whose config holds `padding` bytes of history, tagged v1. */
async function single(dir: string, padding: number, artifactType?: string) {
  const store = await LayoutStore.open(join(dir, 'src'), { create: true });
  const { tar, gz } = makeLayer('f', new Uint8Array(10));
  const config = encodeJson({
    architecture: 'amd64',
    os: 'linux',
    history: [{ created_by: 'x'.repeat(padding) }],
    rootfs: { type: 'layers', diff_ids: [digestOf(tar)] },
  });
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    ...(artifactType === undefined ? {} : { artifactType }),
    config: await putBytes(store, config, MediaType.OciConfig),
    layers: [await putBytes(store, gz, MediaType.OciLayerGzip)],
  };
  const stored = parseStored(encodeJson(manifest));
  await store.putManifest(stored, { tags: ['v1'] });
  return { store, stored, configSize: config.byteLength };
}

const amd64 = { os: 'linux', architecture: 'amd64' };

describe("a single image's platform, read from its config", () => {
  it('is the same for inspect, copy --platform and the graph with a config of 5 MiB (a long history)', async () => {
    const dir = await tempDir();
    const { store, stored, configSize } = await single(dir, 5 * 1024 * 1024);
    assert.ok(configSize > 4 * 1024 * 1024);
    const inspected = await inspectImage(store, 'v1', 'x', { attachments: false });
    assert.deepEqual(inspected.manifests[0]?.platform, amd64);
    const graph = await readImageGraph(store, 'v1');
    assert.deepEqual(graph.images[0]?.platform, amd64);
    const dst = await LayoutStore.open(join(dir, 'dst'), { create: true });
    const copied = await copyImage(store, 'v1', dst, { platforms: [amd64] });
    assert.equal(copied.digest, stored.digest);
    // index create reads it by the same reader: it had a 4 MiB limit of its own.
    const made = await createIndex([{ store, target: 'v1' }], { store: dst, tags: ['multi'] });
    assert.deepEqual(
      made.platforms.map((p) => p.platform),
      ['linux/amd64'],
    );
  });

  it('is too large to read for copy --platform over CONFIG_LIMIT, which says so rather than "no platform"', async () => {
    const dir = await tempDir();
    const { store } = await single(dir, CONFIG_LIMIT + 1);
    const dst = await LayoutStore.open(join(dir, 'dst'), { create: true });
    await assert.rejects(
      copyImage(store, 'v1', dst, { platforms: [amd64] }),
      (e: unknown) => isProvenantError(e, 'TOO_LARGE') && e.message.includes(`more than the ${CONFIG_LIMIT} read`),
    );
    // inspect still shows the image, without the platform it cannot read.
    const inspected = await inspectImage(store, 'v1', 'x', { attachments: false });
    assert.equal(inspected.manifests[0]?.platform, undefined);
  });

  it('is none for an artifact whose config is an image config, for inspect, copy --platform and the graph', async () => {
    const dir = await tempDir();
    const { store } = await single(dir, 10, 'application/vnd.example.thing');
    const inspected = await inspectImage(store, 'v1', 'x', { attachments: false });
    assert.equal(inspected.manifests[0]?.platform, undefined);
    const graph = await readImageGraph(store, 'v1');
    assert.equal(graph.images[0]?.platform, undefined);
    const dst = await LayoutStore.open(join(dir, 'dst'), { create: true });
    await assert.rejects(
      copyImage(store, 'v1', dst, { platforms: [amd64] }),
      (e: unknown) => isProvenantError(e, 'USAGE') && e.message.includes('a single image of no platform'),
    );
  });
});
