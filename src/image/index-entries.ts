/**
 * Which entries of an image index are runnable images and which are attached to one. An index
 * lists more than platform images: BuildKit's attestation manifests (platform unknown/unknown),
 * artifacts `docker buildx imagetools create` adds with platform linux/"" (an SBOM about one
 * image), and manifests with a `subject`. Every reader of an index (check and fix in compat/,
 * `index create` here) tells them apart the same way, through this function.
 */
import { isBuildkitAttestation } from '../attest/attachments.ts';
import { type Stored, subjectOf } from '../oci/content.ts';
import { isUnknownPlatform } from '../oci/platform.ts';
import { Annotation, type Descriptor } from '../oci/types.ts';

/**
 * True when the index entry `entry` is not a runnable image: a BuildKit attestation, an entry with
 * no real platform (unknown/unknown, or an empty os or architecture), one with a
 * `vnd.docker.reference.type` annotation, or (given the manifest it names, `stored`) one with a
 * `subject`. Without `stored` only the descriptor is judged: an entry it does not rule out is an
 * image only once its manifest is read and has no subject.
 */
export function isAttachedEntry(entry: Descriptor, stored?: Stored): boolean {
  const p = entry.platform;
  const noPlatform = isUnknownPlatform(p) || p?.os === '' || p?.architecture === '';
  if (isBuildkitAttestation(entry) || noPlatform || entry.annotations?.[Annotation.DockerReferenceType] !== undefined) return true;
  return stored !== undefined && subjectOf(stored) !== undefined;
}
