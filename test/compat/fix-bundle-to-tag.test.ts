/**
 * An attestation cosign 3 stores as a referrer (a Sigstore bundle), which a target's fix moves
 * under cosign's `.att` tag: no verifier reads a bundle there, so the fix stores it as cosign 2
 * does (the bundle's DSSE envelope as a layer), and the same key verifies it after the fix.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArtifactType } from '../../src/attest/attachments.ts';
import { statement } from '../../src/attest/storage.ts';
import { short } from '../../src/compat/detectors.ts';
import { fixImage } from '../../src/compat/fix.ts';
import { loadProfiles, selectTargets } from '../../src/compat/profile.ts';
import { bytesSource } from '../../src/io/types.ts';
import { encodeJson, parseStored, type Stored } from '../../src/oci/content.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import { parsePlatform } from '../../src/oci/platform.ts';
import { generateSigningKeyPair } from '../../src/sign/keys.ts';
import { attestImage } from '../../src/sign/sign.ts';
import { KeySigner } from '../../src/sign/signer.ts';
import { verifyImage } from '../../src/sign/verify.ts';
import { useTempLayout } from '../helpers/temp.ts';
import { cosignTagOf, synth } from './images.ts';

const layout = useTempLayout('compat-bundle-to-tag');
const profiles = await loadProfiles();
const SPDX = 'https://spdx.dev/Document';
const SLSA = 'https://slsa.dev/provenance/v1';

describe('a Sigstore bundle attestation moved under a cosign tag', () => {
  for (const name of ['amazon-ecr', 'alibaba-acr']) {
    it(`is still verified by its key after fix --target ${name}`, async () => {
      const src = await layout();
      const made = await synth(src, { platforms: [parsePlatform('linux/amd64'), parsePlatform('linux/arm64')] });
      const amd64 = made.images[0] as Stored;
      const keys = generateSigningKeyPair();
      const signer = new KeySigner(keys.privateKey);
      const about = (digest: string, type: string) =>
        statement(type, { about: digest }, [{ name: 'example.org/app', digest: digest as Stored['digest'] }]);
      await attestImage(src, made.root.digest, [about(made.root.digest, SPDX)], { signer, storage: 'referrers' });
      await attestImage(src, amd64.digest, [about(amd64.digest, SPDX), about(amd64.digest, SLSA)], { signer, storage: 'referrers' });
      const policy = { key: keys.publicKey };

      const dst = await layout();
      const target = selectTargets(profiles, name)[0]!;
      const report = await fixImage(src, made.tag, dst, target, { tags: ['fixed'], probe: false });
      const account = report.account.join('\n');
      assert.equal(report.after?.verdict, 'accepted', account);
      assert.equal(report.destination?.digest, made.root.digest, account);
      assert.doesNotMatch(account, /its layers are unchanged/);
      assert.doesNotMatch(account, /Not carried: attestation[^\n]*(Sigstore bundle|cannot)/);

      // Where the fix put the index's: under its .att tag, in cosign 2's shape.
      const att = await dst.getManifest(cosignTagOf(made.root.digest, 'att'));
      assert.ok(att.kind === 'manifest');
      assert.deepEqual(
        att.manifest.layers.map((l) => l.mediaType),
        [ArtifactType.DsseEnvelope],
      );
      assert.equal(att.manifest.layers[0]!.annotations?.predicateType, SPDX);
      // Each layer carries its own signature: the .att image is not a manifest left unsigned.
      assert.ok(!report.signing.unsigned.includes(att.digest), account);

      const index = await verifyImage(dst, made.root.digest, { policy, kind: 'attestation', predicateType: SPDX });
      assert.equal(index.verified.length, 1, JSON.stringify(index.checked));
      const platform = await verifyImage(dst, amd64.digest, { policy, kind: 'attestation' });
      assert.deepEqual(platform.verified.map((v) => v.predicateType).sort(), [SLSA, SPDX], JSON.stringify(platform.checked));
    });
  }

  it('is left out, and said to be, when its bundle is not one a .att layer can hold', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: [parsePlatform('linux/amd64'), parsePlatform('linux/arm64')] });
    const keys = generateSigningKeyPair();
    const [entry] = await attestImage(
      src,
      made.root.digest,
      [statement(SPDX, {}, [{ name: 'example.org/app', digest: made.root.digest }])],
      { signer: new KeySigner(keys.privateKey), storage: 'referrers' },
    );
    // The same referrer, its bundle layer a JSON document that is no bundle.
    const good = await src.getManifest(entry!.location);
    assert.ok(good.kind === 'manifest');
    const junk = encodeJson({ mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json' });
    const layer = { ...good.manifest.layers[0]!, digest: digestOf(junk), size: junk.byteLength };
    await src.putBlob(bytesSource(layer, junk));
    const bad = parseStored(encodeJson({ ...good.manifest, layers: [layer] }), { mediaType: MediaType.OciManifest });
    await src.putManifest(bad);

    const dst = await layout();
    const report = await fixImage(src, made.tag, dst, selectTargets(profiles, 'amazon-ecr')[0]!, { tags: ['fixed'], probe: false });
    const account = report.account.join('\n');
    assert.ok(
      report.dropped.some((d) => d.digest === bad.digest && /cannot be rewritten as a cosign \.att layer/.test(d.why)),
      account,
    );
    assert.match(account, new RegExp(`Not carried: attestation ${short(bad.digest)}[^\n]*cannot be rewritten as a cosign \\.att layer`));
    // The good one is still found where the fix put it.
    const verified = await verifyImage(dst, made.root.digest, { policy: { key: keys.publicKey }, kind: 'attestation' });
    assert.equal(verified.verified.length, 1, JSON.stringify(verified.checked));
  });
});
