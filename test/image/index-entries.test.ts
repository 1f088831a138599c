/** The one rule for what in an index (or named on its own) is attached to an image rather than runnable. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArtifactType } from '../../src/attest/attachments.ts';
import { attachmentOf, isAttachedEntry } from '../../src/image/index-entries.ts';
import { descriptorOf, encodeJson, parseStored, type Stored } from '../../src/oci/content.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import type { Descriptor } from '../../src/oci/types.ts';

const blob = (mediaType: string, text: string): Descriptor => {
  const bytes = new TextEncoder().encode(text);
  return { mediaType, digest: digestOf(bytes), size: bytes.byteLength };
};

function manifest(layers: readonly string[], subject?: Descriptor): Stored {
  return parseStored(
    encodeJson({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: blob(MediaType.OciConfig, '{}'),
      layers: layers.map((t, i) => blob(t, `layer ${i}`)),
      ...(subject === undefined ? {} : { subject }),
    }),
    { mediaType: MediaType.OciManifest },
  );
}

const image = manifest([MediaType.OciLayerGzip, MediaType.OciLayerGzip]);
const signature = manifest([ArtifactType.CosignSimpleSigning]);
const attestation = manifest([ArtifactType.DsseEnvelope, ArtifactType.DsseEnvelope]);
const about = manifest([MediaType.OciLayerGzip], descriptorOf(image));
const hex = image.digest.slice('sha256:'.length);

describe('attachmentOf', () => {
  it('says what a manifest attached to an image is, by what it holds or the cosign tag it was read by', () => {
    assert.equal(attachmentOf(image), undefined);
    assert.equal(attachmentOf(image, 'v1'), undefined);
    assert.equal(attachmentOf(signature), 'a cosign signature');
    assert.equal(attachmentOf(attestation), 'a cosign attestation');
    assert.equal(attachmentOf(about), `an artifact about ${image.digest}`);
    assert.equal(attachmentOf(image, `sha256-${hex}.sig`), `the cosign signature of sha256:${hex}`);
    assert.equal(attachmentOf(image, `sha256-${hex}.att`), `the cosign attestation of sha256:${hex}`);
    assert.equal(attachmentOf(image, `sha256-${hex}.sbom`), `the cosign SBOM of sha256:${hex}`);
    // Some signature layers beside an image's are no signature image.
    assert.equal(attachmentOf(manifest([ArtifactType.CosignSimpleSigning, MediaType.OciLayerGzip])), undefined);
  });
});

describe('isAttachedEntry', () => {
  const entry = (stored: Stored, extra: Partial<Descriptor> = {}): Descriptor => ({
    ...descriptorOf(stored),
    platform: { os: 'linux', architecture: 'amd64' },
    ...extra,
  });

  it('judges by the descriptor, then by the manifest with the same rule as attachmentOf', () => {
    assert.equal(isAttachedEntry(entry(image)), false);
    assert.equal(isAttachedEntry(entry(image), image), false);
    assert.equal(isAttachedEntry(entry(image, { platform: { os: 'unknown', architecture: 'unknown' } })), true);
    assert.equal(isAttachedEntry(entry(image, { platform: { os: 'linux', architecture: '' } })), true);
    assert.equal(isAttachedEntry(entry(image, { annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } })), true);
    // Listed with a real platform, a manifest with a subject or a cosign signature's layers is still
    // attached to an image, as it is when named on its own.
    for (const stored of [about, signature, attestation]) {
      assert.equal(isAttachedEntry(entry(stored)), false);
      assert.equal(isAttachedEntry(entry(stored), stored), true, attachmentOf(stored));
    }
  });
});
