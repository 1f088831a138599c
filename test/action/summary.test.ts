// Who the Action's summary says signed an attachment (src/action/summary.ts, signersOf).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as core from '@actions/core';
import { writeSummary } from '../../src/action/main.ts';
import type { ActionOutcome, SigningOutcome } from '../../src/action/run.ts';
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
  const WHO = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
  const ISSUER = 'https://token.actions.githubusercontent.com';
  const SIG = `sha256-${'b'.repeat(64)}.sig`;
  const manifest = (signers: ReportAttachment['signers']): ReportAttachment => ({
    ...attachment,
    storage: 'buildkit',
    tag: undefined,
    signers,
  });
  const keyless: SigningOutcome = {
    kind: 'keyless',
    keyId: undefined,
    identities: [`${WHO} (${ISSUER})`],
    entries: [{ digest: ATT, storage: 'referrers', added: true, location: `sha256:${'d'.repeat(64)}` }],
    tagOnly: [],
  };
  const keyed = (location: string): SigningOutcome => ({
    kind: 'key',
    keyId: 'KEYID',
    identities: [],
    entries: [{ digest: ATT, storage: 'cosign', added: true, location }],
    tagOnly: [],
  });

  it("says who signed the manifest, as the report reads its signatures: a run's or an earlier one's (a cold review)", () => {
    const signed = manifest([
      { storage: 'referrers', kind: 'signature', source: 'referrer x', signed: true, identity: WHO, issuer: ISSUER },
    ]);
    const label = `${WHO} (${ISSUER}) (a signature of the manifest)`;
    assert.equal(signersOf(signed, keyless), label);
    // Signed by an earlier run: this run's signing is not needed to tell.
    assert.equal(signersOf(signed, undefined), label);
    assert.equal(signersOf(manifest([]), keyless), 'unsigned');
  });

  it("a .sig layer names no key: the run's key when this run signed the manifest under its tag, else unnamed", () => {
    const signed = manifest([
      { storage: 'cosign', kind: 'signature', source: `${SIG} layer 0`, signed: true },
      { storage: 'referrers', kind: 'signature', source: 'referrer x', signed: true, keyId: 'KEYID' },
    ]);
    assert.equal(signersOf(signed, keyed(SIG)), 'key <code>KEYID</code> (a signature of the manifest)');
    assert.equal(signersOf(signed, keyed(`${SIG} layer 0`)), 'key <code>KEYID</code> (a signature of the manifest)');
    assert.equal(
      signersOf(signed, keyed(`sha256-${'a'.repeat(64)}.sig`)),
      'a key the signature does not name (a signature of the manifest)<br>key <code>KEYID</code> (a signature of the manifest)',
    );
  });
});

describe('writing the summary', () => {
  it('an error while the summary is made is thrown, as a bug, not said as a file that cannot be written', async () => {
    // An outcome without its destinations: addSummary fails on it, before any file is touched.
    await assert.rejects(writeSummary({} as ActionOutcome, '/nonexistent/summary.md'), TypeError);
    core.summary.emptyBuffer();
  });
});
