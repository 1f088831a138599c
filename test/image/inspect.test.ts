// inspectImage on BuildKit's real layout and on images with referrers and cosign tags.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { renderInspect } from '../../src/cli/render.ts';
import { inspectImage } from '../../src/image/inspect.ts';
import { encodeJson, parseStored, type Stored } from '../../src/oci/content.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import type { Descriptor } from '../../src/oci/types.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';
import { makeImage, makeReferrer, putBytes } from '../helpers/images.ts';
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

  it("with details, reads each image's layers and run settings, and warns of a config it cannot read instead of failing", async () => {
    const dir = await tempDir();
    const store = await LayoutStore.open(join(dir, 'l'), { create: true });
    const made = await makeImage(store, { tag: 'v1', layers: 1 });
    const plain = await inspectImage(store, 'v1', 'img');
    for (const m of plain.manifests) assert.deepEqual([m.layers, m.created, m.env, m.cmd], [undefined, undefined, undefined, undefined]);
    const result = await inspectImage(store, 'v1', 'img', { details: true });
    assert.deepEqual(
      result.manifests.map((m) => [m.created, m.env, m.cmd, m.layers?.map((l) => l.digest)]),
      made.manifests.map((s) => [
        '1970-01-01T00:00:00Z',
        ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        ['/bin/sh'],
        s.kind === 'manifest' ? s.manifest.layers.map((l) => l.digest) : [],
      ]),
    );

    // Fields of a wrong type say nothing; one image's config is read by the rules report uses too.
    const put = (bytes: Uint8Array, mediaType: string) => putBytes(store, bytes, mediaType);
    const amd = made.manifests[0] as Stored & { kind: 'manifest' };
    const single = async (tag: string, config: Descriptor) => {
      const stored = parseStored(encodeJson({ ...amd.manifest, config }));
      await store.putManifest(stored, { tags: [tag] });
    };
    const odd = {
      os: 'linux',
      architecture: 'arm64',
      created: 12345,
      config: { Env: 'A=1', Labels: { a: 1, b: 'two' }, User: 5, Cmd: ['x', 1] },
    };
    await single('odd', await put(encodeJson(odd), MediaType.OciConfig));
    const o = (await inspectImage(store, 'odd', 'img', { details: true })).manifests[0]!;
    assert.deepEqual(
      [o.platform, o.labels, o.created, o.env, o.user, o.cmd],
      [{ os: 'linux', architecture: 'arm64' }, { b: 'two' }, undefined, undefined, undefined, undefined],
    );

    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, warn: (w: string) => void warnings.push(w) };
    await single('text', await put(new TextEncoder().encode('not json'), MediaType.OciConfig));
    const t = (await inspectImage(store, 'text', 'img', { details: true, logger })).manifests[0]!;
    assert.deepEqual(
      t.layers,
      amd.manifest.layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size })),
    );
    assert.equal(t.created, undefined);
    assert.match(
      warnings.join('\n'),
      /^the config sha256:\S+ of the image sha256:\S+: the image config is not JSON: its settings are not shown$/,
    );
    // Kept on the entry too, so that its JSON tells a config not read from one without settings.
    assert.equal(t.detailsMissing, warnings[0]);
    assert.equal(o.detailsMissing, undefined);

    // A single image whose config is missing fails, with details or without: it is what is inspected.
    const lost = encodeJson({ os: 'linux', architecture: 'arm64' });
    await single('lost', { mediaType: MediaType.OciConfig, digest: digestOf(lost), size: lost.byteLength });
    await assert.rejects(inspectImage(store, 'lost', 'img'), { code: 'NOT_FOUND' });
    warnings.length = 0;
    await assert.rejects(inspectImage(store, 'lost', 'img', { details: true, logger }), { code: 'NOT_FOUND' });
    assert.deepEqual(warnings, []);
  });
});
