/**
 * Which entries of an image index are runnable images and which are attached to one. An index
 * lists more than platform images: BuildKit's attestation manifests (platform unknown/unknown),
 * artifacts `docker buildx imagetools create` adds with platform linux/"" (an SBOM about one
 * image), and manifests with a `subject`. Every reader of an index (check and fix in compat/,
 * `index create` here) tells them apart the same way, through this module.
 */
import { ArtifactType, isBuildkitAttestation } from '../attest/attachments.ts';
import { COSIGN_TAG_RE, type Stored, subjectOf } from '../oci/content.ts';
import { isUnknownPlatform } from '../oci/platform.ts';
import { Annotation, type Descriptor } from '../oci/types.ts';

/**
 * True when the index entry `entry` is not a runnable image: a BuildKit attestation, an entry with
 * no real platform (unknown/unknown, or an empty os or architecture), one with a
 * `vnd.docker.reference.type` annotation, or (given the manifest it names, `stored`) one that
 * {@link attachmentOf} says is attached. Without `stored` only the descriptor is judged: an entry
 * it does not rule out is an image only once its manifest is read.
 */
export function isAttachedEntry(entry: Descriptor, stored?: Stored): boolean {
  const p = entry.platform;
  const noPlatform = isUnknownPlatform(p) || p?.os === '' || p?.architecture === '';
  if (isBuildkitAttestation(entry) || noPlatform || entry.annotations?.[Annotation.DockerReferenceType] !== undefined) return true;
  return stored !== undefined && attachmentOf(stored) !== undefined;
}

/**
 * What a manifest is, by what it holds, when it is attached to an image rather than runnable
 * (said in a few words), or undefined: anything with a `subject`, and cosign 2's `.sig` and `.att`
 * images (simple-signing payloads, DSSE envelopes), which `name`, the tag it was read by, says
 * whose they are. An index entry is judged by its descriptor first ({@link isAttachedEntry}); a
 * manifest named on its own has no descriptor, and its config's platform stands in for one
 * (BuildKit's attestation manifests say unknown/unknown there): the caller reads it.
 */
export function attachmentOf(stored: Stored, name?: string): string | undefined {
  const tag = name === undefined ? null : COSIGN_TAG_RE.exec(name);
  if (tag !== null) {
    const what = tag[3] === 'sig' ? 'signature' : tag[3] === 'att' ? 'attestation' : 'SBOM';
    return `the cosign ${what} of ${tag[1]}:${tag[2]}`;
  }
  const subject = subjectOf(stored);
  if (subject !== undefined) return `an artifact about ${subject.digest}`;
  if (stored.kind !== 'manifest') return undefined;
  const layers = stored.manifest.layers;
  const every = (type: string): boolean => layers.length > 0 && layers.every((l) => l.mediaType === type);
  if (every(ArtifactType.CosignSimpleSigning)) return 'a cosign signature';
  if (every(ArtifactType.DsseEnvelope)) return 'a cosign attestation';
  return undefined;
}
