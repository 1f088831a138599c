/**
 * The real BuildKit image the issue starts from (two platforms, legacy attestation manifests,
 * uncompressed layers): Lambda refuses it with its own error; after `fix` it passes, skopeo sees a
 * single manifest, and its attestation is still found through referrers, signed when a key is given.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { ArtifactType, findAttachments } from '../../src/attest/attachments.ts';
import { checkImage } from '../../src/compat/check.ts';
import { fixImage, type Resigner } from '../../src/compat/fix.ts';
import { loadProfiles, selectTargets, type Target } from '../../src/compat/profile.ts';
import { readStatements } from '../../src/image/statements.ts';
import { bytesSource } from '../../src/io/types.ts';
import { collect } from '../../src/io/verify.ts';
import { descriptorOf, encodeJson, parseStored } from '../../src/oci/content.ts';
import { type Digest, digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import type { Descriptor } from '../../src/oci/types.ts';
import { openOciArchive } from '../../src/store/archive.ts';
import type { LayoutReader } from '../../src/store/layout-reader.ts';
import type { ContentStore } from '../../src/store/types.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';
import { sh, toolMissing } from '../helpers/images.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { useTempLayout } from '../helpers/temp.ts';
import { storeAt } from '../registry/common.ts';

const TAR = 'buildkit-oci-layout-tar_2-platforms-with-legacy-attestation-manifests.tar';
const AMD64_MANIFEST = 'sha256:0f90b7af6b2fef777963e3e1ca4fd66f378af93f5fe46304886943a4c0c7a46b';
const LEGACY_ATTESTATION = 'sha256:1d88e5a3e13d830277704130ae7b1aa7d9eb25f952891234d5c01f81651dcefc';
const PROVENANCE_LAYER = 'sha256:26418efea0e73f6d53caec7094235ed1b16d6f7b31981fd7076760022c8e366d';
const LAMBDA_ERROR = /^The image manifest, config or layer media type for the source image .+ is not supported\.$/;

const layout = useTempLayout('compat');
const skip = fixturesMissing || toolMissing('skopeo');

function skopeoRaw(ref: string, ...flags: string[]): Record<string, unknown> {
  const r = sh('skopeo', ['inspect', '--raw', ...flags, ref]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/**
 * A signer for the test: ECDSA P-256 over a cosign-style simple-signing payload, stored as a
 * referrer of the digest it signs. The real signer comes from the signing module; this one shows
 * that fix calls it for each changed digest, in the destination, after the image is written.
 */
function testSigner(): { resign: Resigner; verifyIn(store: ContentStore, digest: Digest): Promise<boolean> } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    async resign(store, digest) {
      const subject = await store.resolve(digest);
      assert.ok(subject !== undefined, `${digest} is not in the destination when it is signed`);
      const payload = encodeJson({ critical: { image: { 'docker-manifest-digest': digest }, type: 'cosign container image signature' } });
      const signature = sign('sha256', payload, privateKey).toString('base64');
      const empty = new TextEncoder().encode('{}');
      const emptyDesc: Descriptor = { mediaType: MediaType.OciEmpty, digest: digestOf(empty), size: 2 };
      await store.putBlob(bytesSource(emptyDesc, empty));
      const layer: Descriptor = { mediaType: ArtifactType.CosignSimpleSigning, digest: digestOf(payload), size: payload.byteLength };
      await store.putBlob(bytesSource(layer, payload));
      const manifest = parseStored(
        encodeJson({
          schemaVersion: 2,
          mediaType: MediaType.OciManifest,
          artifactType: ArtifactType.CosignSignature,
          config: emptyDesc,
          layers: [{ ...layer, annotations: { 'dev.cosignproject.cosign/signature': signature } }],
          subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
        }),
      );
      await store.putManifest(manifest);
      return { subject: digest, signature: manifest.digest, storage: 'referrers' };
    },
    async verifyIn(store, digest) {
      for (const r of await store.referrers(digest, { artifactType: ArtifactType.CosignSignature })) {
        const m = await store.getManifest(r.digest);
        if (m.kind !== 'manifest') continue;
        const layer = m.manifest.layers[0]!;
        const payload = await collect(await store.readBlob(layer), 1 << 20, 'signature');
        const claimed = (JSON.parse(new TextDecoder().decode(payload)) as { critical: { image: { 'docker-manifest-digest': string } } })
          .critical.image['docker-manifest-digest'];
        const sig = Buffer.from(layer.annotations?.['dev.cosignproject.cosign/signature'] ?? '', 'base64');
        if (claimed === digest && verify('sha256', payload, publicKey, sig)) return true;
      }
      return false;
    },
  };
}

describe('the real BuildKit image and AWS Lambda', { skip }, () => {
  let src: LayoutReader;
  let root: Digest;
  let lambda: Target;
  before(async () => {
    src = await openOciArchive(fixture('oci', TAR));
    root = src.index.manifests[0]!.digest;
    [lambda] = selectTargets(await loadProfiles(), 'aws-lambda') as [Target];
  });
  after(async () => {
    await src?.close();
  });

  it('is refused with Lambda’s own error, and skopeo agrees it is an index', async () => {
    const report = await checkImage(src, root, [lambda], { reference: 'fixture:latest' });
    assert.equal(report.verdict, 'refused');
    const problem = report.targets[0]!.problems.find((p) => p.rule === 'index');
    assert.ok(problem !== undefined);
    assert.match(problem.error ?? '', LAMBDA_ERROR);
    assert.ok(problem.error?.includes('fixture:latest'));
    assert.equal(problem.fix?.id, 'single-manifest');
    const raw = skopeoRaw(`oci-archive:${fixture('oci', TAR)}`);
    assert.equal(raw.mediaType, MediaType.OciIndex);
  });

  it('after fix: accepted, a single manifest to skopeo, the attestation found as a referrer with its statement intact', async () => {
    const dst = await layout();
    const report = await fixImage(src, root, dst, lambda, { tags: ['fixed'] });
    assert.ok(report.written);
    assert.equal(report.after?.verdict, 'accepted');
    assert.equal(report.destination?.digest, AMD64_MANIFEST, 'the amd64 manifest is kept byte for byte');
    assert.ok(
      report.account.some((l) => /arm64/.test(l) && l.startsWith('Not carried')),
      report.account.join('\n'),
    );
    assert.match(report.signing.statement, /No key or identity was given/);
    assert.match(report.signing.statement, /valid only for the old digest/);
    assert.ok(report.signing.unsigned.length > 0);

    const raw = skopeoRaw(`oci:${dst.path}:fixed`);
    assert.equal(raw.mediaType, MediaType.OciManifest);
    assert.equal(raw.manifests, undefined);
    const inspected = sh('skopeo', ['inspect', `oci:${dst.path}:fixed`]);
    assert.equal(inspected.status, 0, inspected.stderr);
    assert.equal((JSON.parse(inspected.stdout) as { Architecture: string }).Architecture, 'amd64');

    const found = await findAttachments(dst, [AMD64_MANIFEST], undefined);
    const attestation = found.find((a) => a.storage === 'referrers' && a.kind === 'attestation');
    assert.ok(attestation !== undefined, 'the attestation is not found through referrers');
    assert.notEqual(attestation.digest, LEGACY_ATTESTATION, 'the legacy manifest had no subject; its referrer form is a new manifest');
    assert.equal(attestation.artifactType, ArtifactType.BuildkitAttestation);
    const statements = await readStatements(dst, attestation);
    assert.equal(statements[0]?.predicateType, 'https://slsa.dev/provenance/v0.2');
    const m = await dst.getManifest(attestation.digest);
    assert.equal(m.kind === 'manifest' && m.manifest.layers[0]?.digest, PROVENANCE_LAYER);
  });

  it('with a key: the digests the fix made are signed, and the signatures verify', async () => {
    const dst = await layout();
    const signer = testSigner();
    const report = await fixImage(src, root, dst, lambda, { tags: ['fixed'], resign: signer.resign });
    assert.ok(report.signing.resigned.length > 0);
    assert.deepEqual(report.signing.unsigned, []);
    assert.match(report.signing.statement, /^Signed /);
    for (const s of report.signing.resigned) assert.ok(await signer.verifyIn(dst, s.subject), `${s.subject} does not verify`);
    const [attestation] = (await findAttachments(dst, [AMD64_MANIFEST], undefined)).filter((a) => a.kind === 'attestation');
    assert.ok(attestation !== undefined && (await signer.verifyIn(dst, attestation.digest)));
    assert.equal(report.after?.verdict, 'accepted');
  });

  it('for Artifactory 6: Docker media types, layers recompressed to the same files, attestations under cosign tags', async () => {
    const [old] = selectTargets(await loadProfiles(), 'artifactory@6.23.38') as [Target];
    const before = await checkImage(src, root, [old], {});
    assert.equal(before.verdict, 'refused');
    const dst = await layout();
    const report = await fixImage(src, root, dst, old, { tags: ['fixed'] });
    assert.equal(report.after?.verdict, 'accepted', report.account.join('\n'));
    // BuildKit's statements in an OCI layout name no subject (the index's reference annotation does):
    // none names a digest the fix replaced, so each follows its image.
    assert.deepEqual(report.statementsLeftOut, []);
    assert.match(report.account.join('\n'), /Attestation sha256:[0-9a-f]{12} now attached to sha256:[0-9a-f]{12}; it was attached to/);
    const list = await dst.getManifest('fixed');
    assert.equal(list.mediaType, MediaType.DockerManifestList);
    if (list.kind !== 'index') return;
    assert.deepEqual(
      list.index.manifests.map((e) => `${e.platform?.os}/${e.platform?.architecture}`),
      ['linux/amd64', 'linux/arm64'],
    );
    for (const entry of list.index.manifests) {
      const m = await dst.getManifest(entry.digest);
      assert.equal(m.mediaType, MediaType.DockerManifest);
      if (m.kind !== 'manifest') continue;
      const config = JSON.parse(new TextDecoder().decode(await collect(await dst.readBlob(m.manifest.config), 1 << 20, 'config'))) as {
        rootfs: { diff_ids: string[] };
      };
      for (const [i, layer] of m.manifest.layers.entries()) {
        assert.equal(layer.mediaType, MediaType.DockerLayerGzip);
        const tar = gunzipSync(await collect(await dst.readBlob(layer), 1 << 24, 'layer'));
        assert.equal(digestOf(tar), config.rootfs.diff_ids[i], 'the recompressed layer unpacks to its diff_id');
      }
      const att = (await findAttachments(dst, [m.digest], undefined)).find((a) => a.storage === 'cosign' && a.kind === 'attestation');
      assert.ok(att !== undefined, `no attestation under a cosign tag for ${m.digest}`);
      assert.equal((await readStatements(dst, att))[0]?.predicateType, 'https://slsa.dev/provenance/v0.2');
      // Under the .att tag as BuildKit wrote them (unsigned in-toto layers), not as cosign's DSSE
      // envelopes: the fix's description in docs/targets.md says so, and that they follow their image.
      const held = await dst.getManifest(att.digest);
      assert.ok(held.kind === 'manifest' && held.manifest.layers.every((l) => l.mediaType === MediaType.InToto));
    }
    const docs = await readFile(join(import.meta.dirname, '..', '..', 'docs', 'targets.md'), 'utf8');
    const row = docs.split('\n').find((l) => l.startsWith('| `docker-media-types` |')) ?? '';
    assert.match(row, /unsigned `application\/vnd\.in-toto\+json` layers/);
    assert.match(row, /`subject: \[\]`.*follow their image/);
    assert.doesNotMatch(docs, /BuildKit's attestations name the manifests as they were and are left out/);
    // The same fix twice gives the same bytes: the pinned gzip makes the layers reproducible.
    const again = await layout();
    const second = await fixImage(src, root, again, old, { tags: ['fixed'] });
    assert.equal(second.destination?.digest, report.destination?.digest);
  });

  describe('written to a registry without a referrers API (distribution 2.8)', { skip: registryMissing }, () => {
    const reg = useRegistry();

    it('for Artifactory 6, skopeo reads the Docker manifest list and its Docker manifests', async () => {
      const [old] = selectTargets(await loadProfiles(), 'artifactory@6.23.38') as [Target];
      const dst = storeAt(reg.host, 'compat/artifactory');
      const report = await fixImage(src, root, dst, old, { tags: ['fixed'] });
      assert.equal(report.after?.verdict, 'accepted');
      const raw = skopeoRaw(`docker://${reg.host}/compat/artifactory:fixed`, '--tls-verify=false');
      assert.equal(raw.mediaType, MediaType.DockerManifestList);
      const amd = sh('skopeo', [
        'inspect',
        '--tls-verify=false',
        '--override-arch',
        'amd64',
        `docker://${reg.host}/compat/artifactory:fixed`,
      ]);
      assert.equal(amd.status, 0, amd.stderr);
      assert.equal((JSON.parse(amd.stdout) as { Architecture: string }).Architecture, 'amd64');
      const one = skopeoRaw(
        `docker://${reg.host}/compat/artifactory@${(raw.manifests as Array<{ digest: string }>)[0]!.digest}`,
        '--tls-verify=false',
      );
      assert.equal(one.mediaType, MediaType.DockerManifest);
    });

    it('skopeo sees a single manifest, and the attestation is found through the referrers tag fallback', async () => {
      const dst = storeAt(reg.host, 'compat/lambda');
      const report = await fixImage(src, root, dst, lambda, { tags: ['fixed'] });
      assert.equal(report.after?.verdict, 'accepted');
      const raw = skopeoRaw(`docker://${reg.host}/compat/lambda:fixed`, '--tls-verify=false');
      assert.equal(raw.mediaType, MediaType.OciManifest);
      assert.equal(raw.manifests, undefined);
      const found = await findAttachments(dst, [AMD64_MANIFEST], undefined);
      const attestation = found.find((a) => a.storage === 'referrers' && a.kind === 'attestation');
      assert.ok(attestation !== undefined);
      assert.equal((await readStatements(dst, attestation))[0]?.predicateType, 'https://slsa.dev/provenance/v0.2');
      // Pushed after its subject, and the subject is there.
      const subject = await dst.resolve(AMD64_MANIFEST);
      assert.deepEqual(subject && descriptorOf(await dst.getManifest(AMD64_MANIFEST)), subject);
    });
  });
});
