/**
 * Attestations in BuildKit's storage (attestation manifests inside the image index) verified
 * through the index's signature: what a signed index lists verifies, with the predicate type
 * filter; an unsigned index, another key, an index changed after signing, a statement about
 * another image or an unreadable one each fail with their own reason.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AttestationMode, type StatementBlob, statement, storeAttestations } from '../../src/attest/storage.ts';
import { cosignTag, encodeJson, parseStored, type Stored, type StoredIndex } from '../../src/oci/content.ts';
import type { Digest } from '../../src/oci/digest.ts';
import { generateSigningKeyPair, keyId } from '../../src/sign/keys.ts';
import { signImage } from '../../src/sign/sign.ts';
import { KeySigner } from '../../src/sign/signer.ts';
import { type VerifyOptions, verifyImage } from '../../src/sign/verify.ts';
import type { ContentStore } from '../../src/store/types.ts';
import { makeImage } from '../helpers/images.ts';
import { tempLayout } from './helpers.ts';

const REF = '127.0.0.1:5000/provenant/app';
const VULN = 'https://cosign.sigstore.dev/attestation/vuln/v1';
const SLSA = 'https://slsa.dev/provenance/v1';

const alice = generateSigningKeyPair();
const bob = generateSigningKeyPair();

/**
 * A two-platform image whose index lists, in `mode`, one statement per platform image made by
 * `statementsOf` (default: a vuln and an SLSA statement naming the image), tagged `v1`.
 */
async function attested(
  mode: AttestationMode = 'buildkit',
  statementsOf: (image: Digest) => StatementBlob[] = (image) => [
    statement(VULN, { scanner: 'x' }, [{ name: REF, digest: image }]),
    statement(SLSA, { buildDefinition: {} }, [{ name: REF, digest: image }]),
  ],
): Promise<{ store: ContentStore; index: Stored; images: Digest[] }> {
  const store = await tempLayout();
  const made = await makeImage(store);
  const list = made.manifests.map((manifest) => ({ manifest, statements: statementsOf(manifest.digest) }));
  const index = await storeAttestations(store, made.root, list, mode);
  await store.putManifest(index, { tags: ['v1'] });
  return { store, index, images: made.manifests.map((m) => m.digest) };
}

function options(index: Stored, more: Partial<VerifyOptions> = {}): VerifyOptions {
  return { policy: { key: alice.publicKey }, kind: 'attestation', index, ...more };
}

describe('attestations inside a signed index', () => {
  for (const mode of ['buildkit', 'buildkit-artifact'] as const) {
    it(`${mode}: the statements a signed index lists for an image verify through the index's signature`, async () => {
      const { store, index, images } = await attested(mode);
      const [amd64, arm64] = images as [Digest, Digest];
      await signImage(store, index.digest, { signer: new KeySigner(alice.privateKey), dockerReference: REF });

      const report = await verifyImage(store, arm64, options(index));
      assert.equal(report.checked.length, 2, JSON.stringify(report.checked, null, 1));
      assert.equal(report.verified.length, 2);
      for (const c of report.verified) {
        assert.equal(c.storage, 'buildkit');
        assert.equal(c.format, 'in-toto');
        assert.match(c.source, /^index entry sha256:[0-9a-f]{64} layer [01] \(linux\/arm64\)$/);
        assert.deepEqual(c.signer, { keyId: keyId(alice.publicKey) });
        assert.equal(c.coveredBy?.index, index.digest);
        assert.ok(
          c.coveredBy?.signature === `${cosignTag(index.digest, 'sig')} layer 0` || c.coveredBy?.signature.startsWith('referrer '),
          c.coveredBy?.signature,
        );
        assert.equal(c.statement?.subjects[0]?.digest.sha256, arm64.slice('sha256:'.length));
      }
      assert.deepEqual(report.verified.map((c) => c.predicateType).sort(), [VULN, SLSA].sort());

      // The predicate type filter, as for the other storages.
      const vuln = await verifyImage(store, arm64, options(index, { predicateType: VULN }));
      assert.deepEqual(
        vuln.checked.map((c) => [c.predicateType, c.verified]),
        [[VULN, true]],
      );
      // The index itself: what it lists for each of its images.
      const whole = await verifyImage(store, index.digest, options(index, { predicateType: SLSA }));
      assert.equal(whole.verified.length, 2);
      assert.deepEqual(whole.verified.map((c) => c.source.replace(/.*\(/, '(')).sort(), ['(linux/amd64)', '(linux/arm64)']);
      // Without the index, nothing: the platform image's own storages hold no attestation.
      assert.equal((await verifyImage(store, amd64, { ...options(index), index: undefined })).checked.length, 0);
      // A signature asks for the image's signatures only.
      assert.equal((await verifyImage(store, amd64, options(index, { kind: 'signature' }))).checked.length, 0);
    });
  }

  it('an unsigned index: each statement fails as unsigned, and nothing verifies', async () => {
    const { store, index, images } = await attested();
    const report = await verifyImage(store, images[0] as Digest, options(index, { predicateType: VULN }));
    assert.equal(report.verified.length, 0);
    assert.deepEqual(
      report.checked.map((c) => [c.reason, c.predicateType]),
      [['unsigned', VULN]],
    );
    assert.match(report.checked[0]!.message!, new RegExp(`unsigned in the index ${index.digest}, and the index has no signature`));
    assert.equal(report.checked[0]!.statement, undefined, 'an unverified statement is not handed out');
  });

  it("another key's signature over the index: nothing verifies, and the index's signatures say why", async () => {
    const { store, index, images } = await attested();
    await signImage(store, index.digest, { signer: new KeySigner(bob.privateKey), dockerReference: REF });
    const report = await verifyImage(store, images[1] as Digest, options(index));
    assert.equal(report.verified.length, 0);
    assert.equal(report.checked.length, 2);
    for (const c of report.checked) {
      assert.ok(c.reason === 'signature' || c.reason === 'wrong-key', c.reason);
      assert.match(c.message!, /none of the index's 2 signatures verifies \(.*not by the given key/);
    }
  });

  it('an index changed after signing, carrying the old signature: its statements do not verify', async () => {
    const { store, index, images } = await attested();
    await signImage(store, index.digest, { signer: new KeySigner(alice.privateKey), dockerReference: REF, storages: ['cosign'] });
    // What an attacker would do: other statements in a new index, the old .sig under its tag.
    const signed = (index as StoredIndex).index;
    const forged = await storeAttestations(
      store,
      parseStored(encodeJson({ ...signed, manifests: signed.manifests.filter((m) => m.platform?.os !== 'unknown') })),
      [
        {
          manifest: await store.getManifest(images[0] as Digest),
          statements: [statement(VULN, { scanner: 'forged' }, [{ name: REF, digest: images[0] as Digest }])],
        },
      ],
      'buildkit',
    );
    await store.putManifest(forged, { tags: ['forged'] });
    await store.putManifest(await store.getManifest(cosignTag(index.digest, 'sig')), { tags: [cosignTag(forged.digest, 'sig')] });
    const report = await verifyImage(store, images[0] as Digest, options(forged));
    assert.equal(report.verified.length, 0);
    assert.deepEqual(
      report.checked.map((c) => c.reason),
      ['wrong-subject'],
    );
    assert.match(
      report.checked[0]!.message!,
      new RegExp(`the signature is for ${index.digest}, not for this image \\(${forged.digest}\\)`),
    );
  });

  it("a statement about another image fails as wrong-subject; BuildKit's empty subject is bound by the index entry", async () => {
    const other = 'sha256:0000000000000000000000000000000000000000000000000000000000000001' as Digest;
    const { store, index, images } = await attested('buildkit', () => [
      statement(VULN, {}, [{ name: REF, digest: other }]),
      statement(SLSA, {}, []),
    ]);
    await signImage(store, index.digest, { signer: new KeySigner(alice.privateKey), dockerReference: REF });
    const report = await verifyImage(store, images[0] as Digest, options(index));
    const byType = new Map(report.checked.map((c) => [c.predicateType, c]));
    assert.equal(byType.get(VULN)?.verified, false);
    assert.equal(byType.get(VULN)?.reason, 'wrong-subject');
    assert.match(byType.get(VULN)!.message!, new RegExp(`about ${other}, not the image the index lists it for \\(${images[0]}\\)`));
    assert.equal(byType.get(SLSA)?.verified, true);
  });

  it('a statement layer that is not a statement: malformed, the others still verify', async () => {
    const { store, index, images } = await attested('buildkit', (image) => [
      { predicateType: VULN, bytes: new TextEncoder().encode('{"not":"a statement"}') },
      statement(SLSA, {}, [{ name: REF, digest: image }]),
    ]);
    await signImage(store, index.digest, { signer: new KeySigner(alice.privateKey), dockerReference: REF });
    const report = await verifyImage(store, images[0] as Digest, options(index));
    assert.deepEqual(
      report.checked.map((c) => [c.predicateType, c.verified, c.reason]).sort(),
      [
        [SLSA, true, undefined],
        [VULN, false, 'malformed'],
      ].sort(),
    );
    assert.match(report.checked.find((c) => !c.verified)!.message!, /not an in-toto Statement/);
  });
});
