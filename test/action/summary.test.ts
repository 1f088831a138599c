// Who the Action's summary says signed an attachment (src/action/summary.ts, signersOf).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SigningOutcome } from '../../src/action/run.ts';
import { signersOf } from '../../src/action/summary.ts';
import type { ReportAttachment } from '../../src/report/data.ts';

const IMAGE = `sha256:${'a'.repeat(64)}` as const;
const ATT = `sha256:${'b'.repeat(64)}` as const;
const STATEMENT = `sha256:${'c'.repeat(64)}` as const;
const TAG = `sha256-${'a'.repeat(64)}.att`;

const attachment: ReportAttachment = {
  storage: 'cosign',
  kind: 'attestation',
  subject: IMAGE,
  digest: ATT,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  size: 1,
  artifactType: undefined,
  predicateTypes: ['https://slsa.dev/provenance/v1'],
  tag: TAG,
  // cosign's .att envelopes name no key.
  signers: [{ storage: 'cosign', kind: 'attestation', source: `${TAG} layer 0`, signed: true }],
};

const signing = (location: string, added: boolean): SigningOutcome => ({
  kind: 'key',
  keyId: 'KEYID',
  identities: [],
  entries: [{ digest: IMAGE, storage: 'cosign', added, location, predicateType: 'https://slsa.dev/provenance/v1', statement: STATEMENT }],
  tagOnly: [],
});

describe("the summary's signers of a cosign .att attestation", () => {
  it("names the run's key for an envelope it wrote now, and for one a run again found there already (a cold review)", () => {
    assert.equal(signersOf(attachment, signing(TAG, true)), 'key <code>KEYID</code>');
    assert.equal(signersOf(attachment, signing(`${TAG} layer 0`, false)), 'key <code>KEYID</code>');
    // Another tag's entries are not this attachment's.
    assert.equal(signersOf(attachment, signing(`${TAG}x layer 0`, false)), 'a key the signature does not name');
    assert.equal(signersOf(attachment, undefined), 'a key the signature does not name');
  });
});

describe("the summary's signers of a BuildKit attestation manifest", () => {
  const manifest: ReportAttachment = { ...attachment, storage: 'buildkit', tag: undefined, signers: [] };
  const signedManifest = (digest: typeof ATT): SigningOutcome => ({
    kind: 'keyless',
    keyId: undefined,
    identities: ['https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main (https://token.actions.githubusercontent.com)'],
    entries: [{ digest, storage: 'referrers', added: true, location: `sha256:${'d'.repeat(64)}` }],
    tagOnly: [],
  });

  it('its statements carry no signature, but the run signed the manifest: it says who, not "unsigned" (a cold review)', () => {
    assert.equal(
      signersOf(manifest, signedManifest(ATT)),
      'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main (https://token.actions.githubusercontent.com) (a signature of the manifest)',
    );
    // The run signed another manifest, or nothing.
    assert.equal(signersOf(manifest, signedManifest(IMAGE)), 'unsigned');
    assert.equal(signersOf(manifest, undefined), 'unsigned');
  });
});
