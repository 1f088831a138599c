// reproduce judges every image an index lists, and the index itself against the rebuild's.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isBuildkitAttestation } from '../../src/attest/attachments.ts';
import { buildImage, writeBuild } from '../../src/builder/build.ts';
import { createIndex } from '../../src/image/index-create.ts';
import { inspectImage } from '../../src/image/inspect.ts';
import { encodeJson, parseStored, type Stored } from '../../src/oci/content.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import { Annotation, type Descriptor, type ImageIndex, type Platform } from '../../src/oci/types.ts';
import { renderReproduce } from '../../src/reproduce/render.ts';
import { reproduceImage } from '../../src/reproduce/reproduce.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { provenantAsync as provenant } from '../cli/provenant-async.ts';
import { useTempDir } from '../helpers/temp.ts';
import {
  buildAndDescribe,
  EPOCH,
  loadWrittenConfig,
  repositoryKey,
  type StaticServer,
  serveFolder,
  writeConfig,
  writeRepository,
  writeWithAttestations,
} from './helpers.ts';

const tempDir = useTempDir('reproduce-index');

describe('reproduce compares the index, and judges every image it lists', () => {
  let root: string;
  let server: StaticServer;
  let store: LayoutStore;
  let original: Stored & { kind: 'index' };
  /** An image the provenance does not describe: the same packages, another entrypoint. */
  let evil: Descriptor;
  let configPath: string;

  before(async () => {
    root = await tempDir();
    const key = repositoryKey();
    await writeRepository(join(root, 'served'), key);
    server = await serveFolder(join(root, 'served'));
    configPath = await writeConfig(root, key, `${server.url}/repo`);
    store = await LayoutStore.open(join(root, 'layout'), { create: true });
    await writeWithAttestations(store, await buildAndDescribe(configPath, 'app'), 'v1');
    const stored = await store.getManifest('v1');
    assert.ok(stored.kind === 'index');
    original = stored;
    const evilPath = join(root, 'cfg', 'app', 'evil.yaml');
    await writeFile(
      evilPath,
      (await readFile(configPath, 'utf8')).replace('archs: [x86_64, aarch64]', 'archs: [x86_64]\nentrypoint:\n  command: /bin/evil'),
    );
    const loaded = await loadWrittenConfig(evilPath);
    const built = await buildImage({ config: loaded, configPath: evilPath, sourceDateEpoch: EPOCH, workers: 0 });
    await writeBuild(built, store, ['evil-alone']);
    const [image] = built.images;
    assert.ok(image !== undefined);
    evil = { mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.bytes.byteLength };
  });
  after(async () => {
    await store?.close();
    await server?.close();
  });

  /** The original index with its entries (and annotations) changed, tagged `tag`. */
  async function variant(tag: string, change: (index: ImageIndex) => ImageIndex): Promise<void> {
    const stored = parseStored(encodeJson(change(structuredClone(original.index))), { mediaType: MediaType.OciIndex });
    await store.putManifest(stored, { tags: [tag] });
  }

  it('reproduces the index as built: every platform and the index match', async () => {
    const report = await reproduceImage(store, 'v1');
    assert.equal(report.match, true, renderReproduce(report));
    assert.deepEqual(report.index, { compared: true, differences: [] });
    assert.match(renderReproduce(report), /index {2}match/);
  });

  it('judges an image listed first with a docker reference type that is not an attestation: not reproduced', async () => {
    await variant('evil', (index) => ({
      ...index,
      manifests: [
        { ...evil, platform: { architecture: 'amd64', os: 'linux' }, annotations: { [Annotation.DockerReferenceType]: 'x' } },
        ...index.manifests,
      ],
    }));
    const inspected = await inspectImage(store, 'evil', 'evil');
    assert.equal(inspected.manifests[0]?.digest, evil.digest, 'inspect lists it as the image a runtime runs for linux/amd64');
    const report = await reproduceImage(store, 'evil');
    const text = renderReproduce(report);
    assert.equal(report.match, false, text);
    assert.deepEqual(
      report.platforms.map((p) => [p.digest, p.status]),
      [
        [evil.digest, 'not-replayable'],
        [original.index.manifests[0]?.digest, 'match'],
        [original.index.manifests[1]?.digest, 'match'],
      ],
    );
    assert.equal(report.index?.compared, true);
    assert.deepEqual(report.index?.differences, [`entry 0 (linux/amd64, ${evil.digest}) is not an image the rebuild makes`]);
    assert.match(text, /index {2}MISMATCH/);
    assert.match(text, /not reproduced: 2 match, 1 not replayable, the index differs/);
  });

  it('judges an attestation-manifest entry with a real platform as an image', async () => {
    await variant('evil-attestation', (index) => ({
      ...index,
      manifests: [
        {
          ...evil,
          platform: { architecture: 'amd64', os: 'linux' },
          annotations: { [Annotation.DockerReferenceType]: 'attestation-manifest', [Annotation.DockerReferenceDigest]: evil.digest },
        },
        ...index.manifests,
      ],
    }));
    const report = await reproduceImage(store, 'evil-attestation');
    assert.equal(report.match, false, renderReproduce(report));
    assert.equal(report.platforms[0]?.digest, evil.digest);
    assert.equal(report.platforms[0]?.status, 'not-replayable');
  });

  it('leaves out a real BuildKit attestation entry, and still sees the index it sits in', async () => {
    const entry: Descriptor = {
      ...evil,
      platform: { architecture: 'unknown', os: 'unknown' },
      annotations: {
        [Annotation.DockerReferenceType]: 'attestation-manifest',
        [Annotation.DockerReferenceDigest]: original.index.manifests[0]?.digest as string,
      },
    };
    assert.ok(isBuildkitAttestation(entry));
    await variant('with-attestation', (index) => ({ ...index, manifests: [...index.manifests, entry] }));
    const report = await reproduceImage(store, 'with-attestation');
    assert.equal(report.match, true, renderReproduce(report));
    assert.equal(report.platforms.length, 2);
  });

  it('does not compare an index made of several builds, and still reports a platform it lists twice', async () => {
    // Another image for linux/amd64, with provenance of its own that reproduces: listed first, it
    // is what a runtime runs, although every platform matches its own provenance.
    const otherPath = join(root, 'cfg', 'app', 'other.yaml');
    const text = await readFile(join(root, 'cfg', 'app', 'image.yaml'), 'utf8');
    await writeFile(otherPath, text.replace('archs: [x86_64, aarch64]', 'archs: [x86_64]\nentrypoint:\n  command: /bin/other'));
    const other = await buildAndDescribe(otherPath, 'other');
    await writeWithAttestations(store, other, 'other-alone');
    const image = other.result.images[0];
    assert.ok(image !== undefined);
    await variant('two-builds', (index) => ({
      ...index,
      manifests: [
        {
          mediaType: image.manifest.mediaType,
          digest: image.manifest.digest,
          size: image.manifest.bytes.byteLength,
          platform: { architecture: 'amd64', os: 'linux' },
        },
        ...index.manifests,
      ],
    }));
    const report = await reproduceImage(store, 'two-builds');
    assert.ok(
      report.platforms.every((p) => p.status === 'match'),
      renderReproduce(report),
    );
    assert.equal(report.match, false);
    assert.deepEqual(report.index, {
      compared: false,
      reason: 'its images come from 2 different builds, so no one rebuild makes the index',
      differences: ['entries 0 and 1 are both linux/amd64: a runtime runs the first'],
    });
    assert.match(renderReproduce(report), /index {2}not compared with a rebuild: its images come from 2 different builds/);
  });

  it('reports a platform taken out of the index, which the provenance records as built', async () => {
    const arm64 = original.index.manifests[1] as Descriptor;
    await variant('no-arm64', (index) => ({
      ...index,
      manifests: index.manifests.filter((m) => m.digest !== arm64.digest),
    }));
    const report = await reproduceImage(store, 'no-arm64');
    assert.equal(report.match, false, renderReproduce(report));
    assert.deepEqual(
      report.platforms.map((p) => [p.platform, p.status]),
      [['linux/amd64', 'match']],
    );
    assert.deepEqual(report.index?.differences, [
      'linux/arm64 is missing: the provenance of the images listed records it as built with them, and the index does not list it',
    ]);
    assert.doesNotMatch(renderReproduce(report), /every platform/);
  });

  it('reproduces a build of some of the architectures, whose platform image the whole build made too', async () => {
    // The amd64 image is the whole build's, byte for byte: both provenances hang on it, the whole
    // build's recording arm64 too. The subset's own says nothing is missing.
    await writeWithAttestations(store, await buildAndDescribe(configPath, 'app', EPOCH, ['x86_64']), 'amd64-only');
    const report = await reproduceImage(store, 'amd64-only');
    assert.equal(report.match, true, renderReproduce(report));
    assert.deepEqual(
      report.platforms.map((p) => [p.platform, p.status]),
      [['linux/amd64', 'match']],
    );
    assert.deepEqual(report.index, { compared: true, differences: [] });
  });

  it('reproduces an index merged from one build per architecture, each platform from its own provenance', async () => {
    // As docs/ci.md's matrix makes it: each runner builds one architecture, and `index create`
    // merges them. Each provenance records its own architecture alone; the same build of both
    // makes the same platform images, and the merged index is its index.
    const one = async (arch: string) => {
      const layout = await LayoutStore.open(join(root, `merge-${arch}`), { create: true });
      await writeWithAttestations(layout, await buildAndDescribe(configPath, 'app', EPOCH, [arch]), 'v1');
      return layout;
    };
    const amd = await one('x86_64');
    const arm = await one('aarch64');
    const merged = await LayoutStore.open(join(root, 'merged'), { create: true });
    try {
      for (const [tag, sources] of [
        ['v1', [amd, arm]],
        ['reversed', [arm, amd]],
      ] as const) {
        await createIndex(
          sources.map((s) => ({ store: s, target: 'v1' })),
          { store: merged, tags: [tag] },
        );
      }
      assert.equal((await merged.resolve('v1'))?.digest, (await store.resolve('v1'))?.digest, 'the two-arch build made this index');
      const report = await reproduceImage(merged, 'v1');
      const text = renderReproduce(report);
      assert.equal(report.match, true, text);
      assert.deepEqual(
        report.platforms.map((p) => [p.platform, p.status, p.status === 'match' ? p.rebuilt : undefined]),
        [
          ['linux/amd64', 'match', original.index.manifests[0]?.digest],
          ['linux/arm64', 'match', original.index.manifests[1]?.digest],
        ],
      );
      assert.deepEqual(report.index, { compared: true, differences: [] });
      // Merged in the other order: no provenance records an order across the builds, so the
      // rebuild follows the index's.
      const reversed = await reproduceImage(merged, 'reversed');
      assert.equal(reversed.match, true, renderReproduce(reversed));
      assert.deepEqual(
        reversed.platforms.map((p) => [p.platform, p.status]),
        [
          ['linux/arm64', 'match'],
          ['linux/amd64', 'match'],
        ],
      );
    } finally {
      await merged.close();
      await amd.close();
      await arm.close();
    }
  });

  it('judges a platform without provenance as not replayable, not as a difference of the index (exit 3, not 1)', async () => {
    // The same build, provenance attached to the amd64 image only: arm64 is left out of the
    // rebuild, and whether it belongs is not known, which is not the same as differing.
    const built = await buildAndDescribe(configPath, 'app');
    const partial = await LayoutStore.open(join(root, 'partial'), { create: true });
    try {
      await writeWithAttestations(partial, { ...built, attested: built.attested.slice(0, 1) }, 'v1');
      const report = await reproduceImage(partial, 'v1');
      const text = renderReproduce(report);
      assert.deepEqual(
        report.platforms.map((p) => [p.platform, p.status]),
        [
          ['linux/amd64', 'match'],
          ['linux/arm64', 'not-replayable'],
        ],
        text,
      );
      assert.equal(report.match, false);
      const arm64 = original.index.manifests[1] as Descriptor;
      assert.deepEqual(report.index, { compared: true, differences: [], notRebuilt: [`entry 1 (linux/arm64, ${arm64.digest})`] });
      assert.match(text, /index {2}no difference in the entries rebuilt/);
      assert.match(text, /not rebuilt, so not known to belong: entry 1 \(linux\/arm64/);
      assert.match(text, /not reproduced: 1 match, 1 not replayable\n$/);
    } finally {
      await partial.close();
    }
    const cli = await provenant(['reproduce', `oci:${join(root, 'partial')}:v1`]);
    assert.equal(cli.status, 3, 'nothing differs, and a platform could not be replayed: could not tell');
  });

  it('says no image was rebuilt, without naming apko, when no platform has provenance or an apko configuration', async () => {
    const bare = await LayoutStore.open(join(root, 'bare'), { create: true });
    try {
      await writeBuild((await buildAndDescribe(configPath, 'app')).result, bare, ['v1']);
      const report = await reproduceImage(bare, 'v1');
      assert.ok(
        report.platforms.every((p) => p.status === 'not-replayable'),
        renderReproduce(report),
      );
      assert.deepEqual(report.index, { compared: false, reason: 'no image of it was rebuilt from SLSA provenance', differences: [] });
    } finally {
      await bare.close();
    }
  });

  it('reproduces an index that lists one image twice: each entry has its provenance, and the index differs', async () => {
    const [amd64, arm64] = original.index.manifests as [Descriptor, Descriptor];
    await variant('amd64-twice', (index) => ({ ...index, manifests: [amd64, arm64, amd64] }));
    const report = await reproduceImage(store, 'amd64-twice');
    const text = renderReproduce(report);
    assert.deepEqual(
      report.platforms.map((p) => [p.platform, p.status]),
      [
        ['linux/amd64', 'match'],
        ['linux/arm64', 'match'],
        ['linux/amd64', 'match'],
      ],
      text,
    );
    assert.deepEqual(report.index?.differences, [
      `entry 2 (linux/amd64, ${amd64.digest}) lists the image of entry 0 again; the rebuild lists it once`,
    ]);
  });

  it("reports the index's own mediaType, artifactType and subject, and an entry's urls and data", async () => {
    const [amd64, arm64] = original.index.manifests as [Descriptor, Descriptor];
    const { mediaType: _, ...rest } = original.index;
    await variant('own-fields', () => ({
      ...rest,
      artifactType: 'application/example',
      subject: amd64,
      manifests: [
        { ...amd64, urls: ['https://example.org/elsewhere'] },
        { ...arm64, data: 'e30=' },
      ],
    }));
    const report = await reproduceImage(store, 'own-fields');
    assert.equal(report.match, false, renderReproduce(report));
    assert.ok(report.platforms.every((p) => p.status === 'match'));
    assert.deepEqual(report.index?.differences, [
      `entry 0 (linux/amd64, ${amd64.digest}) differs in urls`,
      `entry 1 (linux/arm64, ${arm64.digest}) differs in data`,
      `mediaType: absent in the index, "${MediaType.OciIndex}" rebuilt`,
      'artifactType: "application/example" in the index, absent rebuilt',
      // The whole descriptor, as a manifest's subject is shown: one that differs only in its size
      // or platform reads as a difference too.
      `subject: ${JSON.stringify(amd64)} in the index, absent rebuilt`,
    ]);
  });

  it('names the field of a platform that differs where os/arch reads the same', async () => {
    const [amd64, arm64] = original.index.manifests as [Descriptor, Descriptor];
    await variant('os-features', (index) => ({
      ...index,
      manifests: [{ ...amd64, platform: { ...(amd64.platform as Platform), 'os.features': ['win32k'] } }, arm64],
    }));
    const report = await reproduceImage(store, 'os-features');
    assert.equal(report.match, false, renderReproduce(report));
    assert.deepEqual(report.index?.differences, [
      `entry 0 (linux/amd64, ${amd64.digest}) differs in platform (os.features ["win32k"] in the index, absent rebuilt)`,
    ]);
  });

  it('reports the same images in another order, an entry annotated, and an annotation of the index added', async () => {
    await variant('reordered', (index) => ({
      ...index,
      annotations: { ...index.annotations, 'org.opencontainers.image.source': 'https://elsewhere.example' },
      manifests: [{ ...(index.manifests[1] as Descriptor), annotations: { note: 'added' } }, index.manifests[0] as Descriptor],
    }));
    const report = await reproduceImage(store, 'reordered');
    assert.equal(report.match, false, renderReproduce(report));
    assert.ok(report.platforms.every((p) => p.status === 'match'));
    assert.deepEqual(report.index?.differences, [
      `entry 0 (linux/arm64, ${original.index.manifests[1]?.digest}) differs in annotations`,
      "the images are in another order than the rebuild's (linux/amd64, linux/arm64)",
      'annotation org.opencontainers.image.source: "https://elsewhere.example" in the index, absent rebuilt',
    ]);
  });
});
