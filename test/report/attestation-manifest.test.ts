/**
 * A BuildKit attestation manifest is signed as the index's images are (its statements are plain
 * in-toto layers, unsigned): the report reads the manifest's own signatures, whoever made them,
 * in both storages, instead of calling it unsigned; and does not count them as the image's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { statement, storeAttestations } from '../../src/attest/storage.ts';
import type { Digest } from '../../src/oci/digest.ts';
import { gatherReport } from '../../src/report/gather.ts';
import { signedCounts } from '../../src/report/html.ts';
import { generateSigningKeyPair, keyId } from '../../src/sign/keys.ts';
import { signImage } from '../../src/sign/sign.ts';
import { KeySigner } from '../../src/sign/signer.ts';
import { makeImage } from '../helpers/images.ts';
import { useTempLayout } from '../helpers/temp.ts';

const REF = '127.0.0.1:5000/provenant/app';
const SLSA = 'https://slsa.dev/provenance/v1';
const tempLayout = useTempLayout('report-attestation-manifest');

describe('the report of a BuildKit attestation manifest', () => {
  it('names who signed the manifest itself (its .sig tag and its signature referrer), not "unsigned" (a cold review)', async () => {
    const store = await tempLayout();
    const made = await makeImage(store, { platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const image = made.manifests[0]!.digest;
    const index = await storeAttestations(
      store,
      made.root,
      [{ manifest: made.manifests[0]!, statements: [statement(SLSA, { buildDefinition: {} }, [{ name: REF, digest: image }])] }],
      'buildkit',
    );
    await store.putManifest(index, { tags: ['v1'] });
    const before = await gatherReport(store, 'v1', { targets: [] });
    const row = (data: typeof before) => data.platforms[0]?.attachments.find((a) => a.storage === 'buildkit');
    const manifest = row(before)?.digest as Digest;
    assert.ok(manifest, JSON.stringify(before.platforms[0]?.attachments));
    assert.deepEqual(row(before)?.signers, []);

    // Signed by itself, as a signing of the whole index (an earlier run, say) signs it.
    const key = generateSigningKeyPair();
    await signImage(store, manifest, { signer: new KeySigner(key.privateKey), dockerReference: REF });
    const after = await gatherReport(store, 'v1', { targets: [] });
    const signers = row(after)?.signers ?? [];
    assert.deepEqual(signers.map((s) => [s.kind, s.storage, s.signed, s.keyId]).sort(), [
      ['signature', 'cosign', true, undefined],
      ['signature', 'referrers', true, keyId(key.publicKey)],
    ]);
    // Its statements are covered by that signature; the image's own signatures are still none.
    assert.equal(after.platforms[0]?.provenance?.signed, true);
    assert.deepEqual(signedCounts(after), { signatures: 0, attestations: 0 });
  });
});
