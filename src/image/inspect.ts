/**
 * inspectImage: an image's manifests and platforms, and what is attached to each in all three
 * attestation storages, with whether each signature and attestation is signed and by whom it
 * says (read off the signature material; `verifyImage` is what checks it).
 */
import { ArtifactType, type Attachment, findAttachments, isBuildkitAttestation } from '../attest/attachments.ts';
import { isProvenantError } from '../errors.ts';
import type { OperationOptions } from '../io/types.ts';
import type { Stored } from '../oci/content.ts';
import type { Digest } from '../oci/digest.ts';
import { isManifestLike } from '../oci/mediatypes.ts';
import type { Platform } from '../oci/types.ts';
import { type SignatureSummary, summarizeSignatures } from '../sign/inspect.ts';
import type { ContentStore } from '../store/types.ts';
import { platformFromConfig } from './config-platform.ts';

/** An attachment, with what its signatures claim for a signature or attestation. */
export interface InspectedAttachment extends Attachment {
  /**
   * For signatures and attestations: each signature it holds (a cosign tag holds one per layer),
   * whether it is signed and by which key id or identity; [] for an unsigned one (BuildKit's).
   */
  signatures?: SignatureSummary[];
}

/** One image manifest of an inspected image. */
export interface InspectedManifest {
  digest: Digest;
  mediaType: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
  /** Signatures, attestations and SBOMs attached to this manifest, from every storage. */
  attachments: InspectedAttachment[];
}

/** What `inspect` shows of an image. */
export interface InspectResult {
  name: string;
  digest: Digest;
  mediaType: string;
  size: number;
  kind: 'index' | 'manifest';
  /** The runnable images: an index's platform manifests (attestation entries are not images), or the manifest itself. */
  manifests: InspectedManifest[];
  /** Attachments of the index itself (for a single manifest they are on `manifests[0]`). */
  attachments: InspectedAttachment[];
  /** The exact stored bytes of the top-level manifest or index. */
  raw: Stored;
}

/** Options of {@link inspectImage}. */
export interface InspectOptions extends OperationOptions {
  /** Look for referrers and cosign tags too (default true); BuildKit entries are always read. */
  attachments?: boolean;
}

/**
 * Describes an image as `docker buildx imagetools inspect` does, and shows what is attached to
 * it in all three attestation storages as a tree under the manifest it describes.
 */
export async function inspectImage(
  store: ContentStore,
  target: string,
  name: string,
  options: InspectOptions = {},
): Promise<InspectResult> {
  const root = await store.getManifest(target, options);
  const manifests: InspectedManifest[] = [];
  if (root.kind === 'index') {
    for (const d of root.index.manifests) {
      // Only BuildKit's attestation entries are left out: any other manifest is an image a runtime
      // may pick by its platform, and so one to show and to judge.
      if (!isManifestLike(d.mediaType) || isBuildkitAttestation(d)) continue;
      const m: InspectedManifest = { digest: d.digest, mediaType: d.mediaType, size: d.size, attachments: [] };
      if (d.platform !== undefined) m.platform = d.platform;
      if (d.annotations !== undefined) m.annotations = d.annotations;
      manifests.push(m);
    }
  } else {
    const m: InspectedManifest = { digest: root.digest, mediaType: root.mediaType, size: root.bytes.byteLength, attachments: [] };
    const platform = await platformFromConfig(store, root, options);
    if (platform !== undefined) m.platform = platform;
    manifests.push(m);
  }
  // An index may list the same manifest twice (for two platforms, or by mistake): it is one
  // subject, asked about once, and what is attached to it belongs to every entry that lists it.
  const subjects = [...new Set([root.digest, ...manifests.map((m) => m.digest)])];
  const index = root.kind === 'index' ? root.index : undefined;
  const all =
    options.attachments === false
      ? await findAttachments(store, subjects, index, { ...options, tags: [] }).then((a) => a.filter((x) => x.storage === 'buildkit'))
      : await findAttachments(store, subjects, index, options);
  if (options.attachments !== false) await addSigners(store, all, options);
  const rootAttachments: Attachment[] = [];
  for (const a of all) {
    const listing = manifests.filter((x) => x.digest === a.subject);
    for (const m of listing) m.attachments.push(a);
    if (listing.length === 0) rootAttachments.push(a);
  }
  return {
    name,
    digest: root.digest,
    mediaType: root.mediaType,
    size: root.bytes.byteLength,
    kind: root.kind,
    manifests,
    attachments: rootAttachments,
    raw: root,
  };
}

/** Fills in each signature's and attestation's signers, read once per subject. */
async function addSigners(store: ContentStore, attachments: InspectedAttachment[], options: OperationOptions): Promise<void> {
  const bySubject = new Map<Digest, SignatureSummary[]>();
  for (const a of attachments) {
    if (a.kind !== 'signature' && a.kind !== 'attestation') continue;
    if (a.storage === 'buildkit' || a.artifactType === ArtifactType.BuildkitAttestation) {
      a.signatures = [];
      continue;
    }
    let summaries = bySubject.get(a.subject);
    if (summaries === undefined) {
      summaries = await summarizeSignatures(store, a.subject, options).catch((err: unknown) => {
        // A malformed signature image must not hide the rest of the image; inspect shows what it can.
        if (isProvenantError(err) && err.code !== 'ABORTED') return [];
        throw err;
      });
      bySubject.set(a.subject, summaries);
    }
    // cosign: `<tag> layer <i>`; referrers: `referrer <digest>`, or its layers for cosign's OCI 1.1 form.
    const own = a.storage === 'cosign' ? `${a.tag} layer ` : `referrer ${a.digest}`;
    a.signatures = summaries.filter((s) => s.storage === a.storage && s.source.startsWith(own));
  }
}
