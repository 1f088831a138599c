// Which index entries are BuildKit attestations, and so not images anyone runs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildkitAttachments, isBuildkitAttestation } from '../../src/attest/attachments.ts';
import type { Digest } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import { Annotation, type Descriptor, type ImageIndex } from '../../src/oci/types.ts';

const image = `sha256:${'a'.repeat(64)}` as Digest;
const entry = (platform: Descriptor['platform'], annotations: Record<string, string> | undefined): Descriptor => ({
  mediaType: MediaType.OciManifest,
  digest: `sha256:${'b'.repeat(64)}` as Digest,
  size: 100,
  ...(platform === undefined ? {} : { platform }),
  ...(annotations === undefined ? {} : { annotations }),
});
const unknown = { architecture: 'unknown', os: 'unknown' };
const amd64 = { architecture: 'amd64', os: 'linux' };
const attestation = { [Annotation.DockerReferenceType]: 'attestation-manifest', [Annotation.DockerReferenceDigest]: image };

describe('isBuildkitAttestation', () => {
  it('is true only for unknown/unknown with reference type attestation-manifest and the digest it describes', () => {
    assert.equal(isBuildkitAttestation(entry(unknown, attestation)), true);
    // A runtime picks an entry by its platform: with a real one it is an image, whatever it says.
    assert.equal(isBuildkitAttestation(entry(amd64, attestation)), false);
    assert.equal(isBuildkitAttestation(entry(undefined, attestation)), false);
    assert.equal(isBuildkitAttestation(entry(amd64, { [Annotation.DockerReferenceType]: 'x' })), false);
    assert.equal(
      isBuildkitAttestation(entry(unknown, { [Annotation.DockerReferenceType]: 'x', [Annotation.DockerReferenceDigest]: image })),
      false,
    );
    assert.equal(isBuildkitAttestation(entry(unknown, { [Annotation.DockerReferenceType]: 'attestation-manifest' })), false);
    assert.equal(isBuildkitAttestation(entry(unknown, undefined)), false);
  });

  it('makes buildkitAttachments list only those entries', () => {
    const index: ImageIndex = {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [entry(amd64, attestation), entry(unknown, attestation)],
    } as ImageIndex;
    assert.deepEqual(
      buildkitAttachments(index).map((a) => [a.subject, a.kind]),
      [[image, 'attestation']],
    );
  });
});
