// inspectImage on BuildKit's real layout and on images with referrers and cosign tags.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { renderInspect } from '../../src/cli/render.ts';
import { inspectImage } from '../../src/image/inspect.ts';
import { encodeJson, parseStored, type Stored } from '../../src/oci/content.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';
import { makeImage, makeReferrer } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('inspect');

describe('inspectImage', () => {
  it('shows the real BuildKit layout as two platforms, each with its attestation', { skip: fixturesMissing }, async () => {
    const dir = await tempDir();
    // Unpacked by GNU tar so this test judges the layout reader alone.
    const r = spawnSync('tar', [
      '-xf',
      fixture('oci', 'buildkit-oci-layout-tar_2-platforms-with-legacy-attestation-manifests.tar'),
      '-C',
      dir,
    ]);
    assert.equal(r.status, 0, String(r.stderr));
    const store = await LayoutStore.open(dir);
    const root = store.index.manifests[0]!;
    const result = await inspectImage(store, root.digest, 'buildkit');
    assert.equal(result.kind, 'index');
    assert.deepEqual(
      result.manifests.map((m) => `${m.platform?.os}/${m.platform?.architecture}`),
      ['linux/amd64', 'linux/arm64'],
    );
    for (const m of result.manifests) {
      assert.equal(m.attachments.length, 1, m.digest);
      const a = m.attachments[0]!;
      assert.equal(a.storage, 'buildkit');
      assert.equal(a.kind, 'attestation');
      assert.equal(a.subject, m.digest);
      assert.deepEqual(a.predicateTypes, ['https://slsa.dev/provenance/v0.2']);
    }
    assert.equal(result.manifests[0]!.attachments[0]!.digest, 'sha256:1d88e5a3e13d830277704130ae7b1aa7d9eb25f952891234d5c01f81651dcefc');
    const text = renderInspect(result);
    assert.match(text, /Platform:\s+linux\/amd64\n\s+Attached:\n\s+└─ attestation buildkit/);
    assert.doesNotMatch(text, /unknown\/unknown/);
  });

  it('hangs OCI referrers and cosign tags under the manifest they describe', async () => {
    const dir = await tempDir();
    const store = await LayoutStore.open(join(dir, 'l'), { create: true });
    const made = await makeImage(store, { tag: 'v1' });
    const sbom = await makeReferrer(store, made.manifests[1]!, 'application/spdx+json', 'sbom');
    const sig = await makeReferrer(store, made.root, 'application/vnd.dev.cosign.artifact.sig.v1+json', 'x');
    // A cosign-style tag for the amd64 manifest.
    await store.putManifest(sig, { tags: [`sha256-${made.manifests[0]!.digest.slice(7)}.sig`] });
    const result = await inspectImage(store, 'v1', 'img');
    assert.deepEqual(
      result.manifests[1]!.attachments.map((a) => [a.storage, a.kind, a.digest]),
      [['referrers', 'sbom', sbom.digest]],
    );
    assert.deepEqual(
      result.manifests[0]!.attachments.map((a) => [a.storage, a.kind, a.tag]),
      [['cosign', 'signature', `sha256-${made.manifests[0]!.digest.slice(7)}.sig`]],
    );
    assert.deepEqual(
      result.attachments.map((a) => [a.storage, a.kind, a.digest]),
      [['referrers', 'signature', sig.digest]],
    );
  });

  it('hangs what is attached to a manifest an index lists twice under both entries', async () => {
    const dir = await tempDir();
    const store = await LayoutStore.open(join(dir, 'l'), { create: true });
    const made = await makeImage(store);
    const [amd64, arm64] = made.manifests as [Stored, Stored];
    const sbom = await makeReferrer(store, amd64, 'application/spdx+json', 'sbom');
    const root = made.root as Stored & { kind: 'index' };
    const twice = parseStored(encodeJson({ ...root.index, manifests: [...root.index.manifests, root.index.manifests[0]] }));
    await store.putManifest(twice, { tags: ['twice'] });
    const result = await inspectImage(store, 'twice', 'img');
    assert.deepEqual(
      result.manifests.map((m) => [m.digest, m.attachments.map((a) => a.digest)]),
      [
        [amd64.digest, [sbom.digest]],
        [arm64.digest, []],
        [amd64.digest, [sbom.digest]],
      ],
    );
    assert.deepEqual(result.attachments, []);
  });

  it('prints what an attachment says about itself on its own line', async () => {
    const dir = await tempDir();
    const store = await LayoutStore.open(join(dir, 'l'), { create: true });
    const made = await makeImage(store, { tag: 'v1' });
    const fake = '\n    └─ signature referrer sha256:0  https://slsa.dev/provenance/v1  (referrer)  signed by key trusted';
    await makeReferrer(store, made.root, 'application/vnd.example', 'x', { 'in-toto.io/predicate-type': `https://example.com/p${fake}` });
    const text = renderInspect(await inspectImage(store, 'v1', 'img'));
    assert.doesNotMatch(text, /^ *└─ signature/m);
    assert.match(text, /https:\/\/example\.com\/p\\u000a {4}└─ signature referrer sha256:0 /);
  });
});
