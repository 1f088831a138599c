/**
 * Where a build's signatures and attestations go for the targets it is meant for, as one decision
 * that `build --target` and the Action share: attachmentStoragesFor judges each attachment, and
 * this turns the judgement into what signing takes (the storage callbacks of sign's signBuild,
 * given as plain functions: compat and sign do not import each other) and into the lines that say
 * why an attachment is under a cosign tag only.
 */
import { type AttestationMode, type Attested, isInIndexMode } from '../attest/storage.ts';
import type { OperationOptions } from '../io/types.ts';
import type { Digest } from '../oci/digest.ts';
import type { ContentStore } from '../store/types.ts';
import { type AttachmentStorages, attachmentStoragesFor } from './fix.ts';
import type { Target } from './profile.ts';

/**
 * Where `targets` take the signatures of the image `written` (a digest in `store`, written without
 * the attachments yet) and the attestations of `attested`; undefined without targets, when every
 * one goes where `mode` says. Only the statements that `mode` makes referrers of count as
 * attestations to place: the unsigned ones of `referrers`, and the signed bundles of the storages
 * that list unsigned statements in the index (BuildKit's); `cosign` and `none` make none.
 *
 * @throws ProvenantError as attachmentStoragesFor
 */
export async function buildAttachmentStorages(
  store: ContentStore,
  written: Digest,
  attested: readonly Attested[],
  mode: AttestationMode,
  targets: readonly Target[],
  options: OperationOptions = {},
): Promise<AttachmentStorages | undefined> {
  if (targets.length === 0) return undefined;
  const asReferrers = mode === 'referrers' || isInIndexMode(mode);
  const attestations = new Map(
    asReferrers
      ? attested.filter((a) => a.statements.length > 0).map((a) => [a.manifest.digest, a.statements.map((s) => s.predicateType)] as const)
      : [],
  );
  return attachmentStoragesFor(store, written, targets, { ...options, attestations });
}

/** A manifest whose signature, or attestations, go under a cosign tag only, and the targets that refuse a referrer of it. */
export interface TagOnly {
  digest: Digest;
  what: 'signature' | 'attestations';
  refusedBy: string[];
  /** Of `refusedBy`, the targets that take it under the tag in Docker schema 2 media types only. */
  dockerMediaTypesFor: string[];
}

/** How to sign a build so that the targets take it: the storage callbacks of signBuild, and what they put under a tag only. */
export interface SigningStorages {
  /** The manifests signed under cosign's `.sig` tag only, and those whose attestations are signed in its `.att` image only. */
  tagOnly: TagOnly[];
  /** signBuild's `storagesOf`: `['cosign']` for a signature a target refuses as a referrer, else as signBuild chooses. */
  storagesOf: (digest: Digest) => readonly 'cosign'[] | undefined;
  /** signBuild's `attestationStorageOf`: `cosign` for attestations a target refuses as referrers, else as the mode says. */
  attestationStorageOf: (digest: Digest) => 'cosign' | undefined;
  /**
   * signBuild's `dockerMediaTypesOf`: true for a manifest whose `.sig` image (`signature`) or
   * `.att` image (`attestations`) a target takes in Docker schema 2 media types only (Artifactory
   * before 7.11.1), as cosign writes them with COSIGN_DOCKER_MEDIA_TYPES=1.
   */
  dockerMediaTypesOf: (digest: Digest, what: TagOnly['what']) => boolean;
}

/**
 * What signBuild takes from `storages` (see buildAttachmentStorages): each signature and each
 * manifest's attestations that a target refuses as a referrer (ECR refuses a referrer of an
 * index) under cosign's `.sig` tag, or signed in its `.att` image, only, the form `fix` moves
 * such an attachment to, so that the target needs no fix for them; the others as the caller's
 * storage says. Without storages, nothing is moved.
 */
export function signingStorages(storages: AttachmentStorages | undefined): SigningStorages {
  const tagOnly = (['signatures', 'attestations'] as const).flatMap((kind) =>
    [...(storages?.[kind] ?? [])]
      .filter(([, c]) => c.storage === 'cosign')
      .map(
        ([digest, c]): TagOnly => ({
          digest,
          what: kind === 'signatures' ? 'signature' : 'attestations',
          refusedBy: [...c.refusedBy],
          dockerMediaTypesFor: [...c.dockerMediaTypesFor],
        }),
      ),
  );
  const only = (what: TagOnly['what'], digest: Digest): boolean => tagOnly.some((t) => t.what === what && t.digest === digest);
  return {
    tagOnly,
    storagesOf: (digest) => (only('signature', digest) ? ['cosign'] : undefined),
    attestationStorageOf: (digest) => (only('attestations', digest) ? 'cosign' : undefined),
    dockerMediaTypesOf: (digest, what) => tagOnly.some((t) => t.what === what && t.digest === digest && t.dockerMediaTypesFor.length > 0),
  };
}

/** One line saying where a {@link TagOnly} attachment went, and why. */
export function tagOnlyLine(t: TagOnly): string {
  const where = t.what === 'signature' ? 'signing it under its .sig tag only' : 'its attestations signed in its .att image only';
  const docker =
    t.dockerMediaTypesFor.length === 0
      ? ''
      : `; in Docker schema 2 media types, as ${t.dockerMediaTypesFor.join(', ')} refuses an OCI image there`;
  return `${t.digest}: ${where}, as ${t.refusedBy.join(', ')} refuses a referrer of it${docker}`;
}
