import type { OperationOptions } from '../io/types.ts';
import { COSIGN_TAG_RE, type Stored } from '../oci/content.ts';
import type { Digest } from '../oci/digest.ts';
import { isUnknownPlatform } from '../oci/platform.ts';
import { Annotation, type Descriptor, type ImageIndex } from '../oci/types.ts';
import { cosignTagsByName, listingRefused } from '../store/tag-list.ts';
import type { ContentStore } from '../store/types.ts';

/** Where an attachment is stored. */
export type AttachmentStorage = 'buildkit' | 'referrers' | 'cosign';

/** What an attachment is. */
export type AttachmentKind = 'attestation' | 'signature' | 'sbom' | 'other';

/** A signature, attestation or SBOM attached to an image manifest or index. */
export interface Attachment {
  storage: AttachmentStorage;
  kind: AttachmentKind;
  /** The manifest or index it describes. */
  subject: Digest;
  /** The attachment's own manifest. */
  digest: Digest;
  mediaType: string;
  size: number;
  artifactType?: string;
  /** in-toto predicate types it carries, where they can be read from annotations. */
  predicateTypes: string[];
  /** The tag it is stored under (cosign storage). */
  tag?: string;
}

/** Media and artifact types, as published by the tools that write them. */
export const ArtifactType = {
  // https://github.com/moby/buildkit/blob/master/docs/attestations/attestation-storage.md
  BuildkitAttestation: 'application/vnd.docker.attestation.manifest.v1+json',
  SigstoreBundleV03: 'application/vnd.dev.sigstore.bundle.v0.3+json',
  CosignSignature: 'application/vnd.dev.cosign.artifact.sig.v1+json',
  CosignSbom: 'application/vnd.dev.cosign.artifact.sbom.v1+json',
  CosignSimpleSigning: 'application/vnd.dev.cosign.simplesigning.v1+json',
  NotarySignature: 'application/vnd.cncf.notary.signature',
  SpdxJson: 'application/spdx+json',
  CycloneDxJson: 'application/vnd.cyclonedx+json',
  InToto: 'application/vnd.in-toto+json',
  DsseEnvelope: 'application/vnd.dsse.envelope.v1+json',
} as const;

/** What people call the predicate types they meet (for reports and summaries). */
const PREDICATE_NAMES: Readonly<Record<string, string>> = {
  'https://spdx.dev/Document': 'SPDX SBOM',
  'https://cyclonedx.org/bom': 'CycloneDX SBOM',
  'https://slsa.dev/provenance/v1': 'SLSA provenance v1',
  'https://slsa.dev/provenance/v0.2': 'SLSA provenance v0.2',
  'https://sigstore.dev/cosign/sign/v1': 'cosign signature',
};

/** The common name of a predicate type (`SPDX SBOM`), or undefined when it has none. */
export function predicateName(type: string): string | undefined {
  return Object.hasOwn(PREDICATE_NAMES, type) ? PREDICATE_NAMES[type] : undefined;
}

/** The predicate type cosign v3 uses for a plain signature inside a Sigstore bundle. */
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';

/**
 * The most bytes of one attached in-toto statement (or of the DSSE envelope or Sigstore bundle
 * holding it) read into memory to parse it: an SBOM statement of a large image runs to tens of
 * megabytes. Every reader of a statement's content takes this one, so that what one command
 * reads another does not refuse.
 */
export const STATEMENT_LIMIT = 64 * 1024 * 1024;

/**
 * The most levels of lists and objects one attached statement (or the envelope or bundle holding
 * it) may nest. Reading such JSON is cheap, but every walk of what was read (comparing copies,
 * summarizing a provenance, converting an SBOM) recurses once per level, and an image's author
 * could nest `[` thousands deep to crash it. `attest` refuses to write, and every reader refuses
 * to read, a statement deeper than this, so that what one command writes the others read; no SBOM
 * or provenance format nests near it.
 */
export const STATEMENT_DEPTH_LIMIT = 256;

/**
 * Whether JSON `text` nests lists and objects more than `limit` levels deep: counted over its
 * text (brackets inside strings not counted), without parsing or recursing. Text that is not JSON
 * is counted as far as it goes: its parse fails anyway.
 */
export function nestsDeeperThan(text: string, limit: number = STATEMENT_DEPTH_LIMIT): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** The BuildKit attestation manifests an index carries, by the annotations BuildKit writes. */
export function buildkitAttachments(index: ImageIndex): Attachment[] {
  const out: Attachment[] = [];
  for (const m of index.manifests) {
    if (!isBuildkitAttestation(m)) continue;
    out.push({
      storage: 'buildkit',
      kind: 'attestation',
      subject: m.annotations![Annotation.DockerReferenceDigest] as Digest,
      digest: m.digest,
      mediaType: m.mediaType,
      size: m.size,
      predicateTypes: [],
    });
  }
  return out;
}

/**
 * True for an index entry that is a BuildKit attestation manifest: platform unknown/unknown,
 * `vnd.docker.reference.type: attestation-manifest` and the digest it describes, as BuildKit
 * writes them (docs/attestations/attestation-storage.md). Nothing else in an index is an
 * attachment: a runtime picks an entry by its platform, so an entry with a real platform is an
 * image that may run, whatever its annotations say, and one with another reference type is
 * something nobody here knows how to judge.
 */
export function isBuildkitAttestation(d: Descriptor): boolean {
  return (
    isUnknownPlatform(d.platform) &&
    d.annotations?.[Annotation.DockerReferenceType] === 'attestation-manifest' &&
    d.annotations[Annotation.DockerReferenceDigest] !== undefined
  );
}

/** Classifies a referrer by its artifact type and annotations. */
export function classifyReferrer(artifactType: string | undefined, annotations: Record<string, string> | undefined): AttachmentKind {
  const t = artifactType?.split(';')[0];
  if (t === undefined) return 'other';
  if (t === ArtifactType.SigstoreBundleV03 || t.startsWith('application/vnd.dev.sigstore.bundle')) {
    return annotations?.['dev.sigstore.bundle.predicateType'] === COSIGN_SIGN_PREDICATE ? 'signature' : 'attestation';
  }
  if (t === ArtifactType.BuildkitAttestation || t === ArtifactType.InToto || t === ArtifactType.DsseEnvelope) return 'attestation';
  if (t === ArtifactType.CosignSignature || t === ArtifactType.NotarySignature || t === ArtifactType.CosignSimpleSigning)
    return 'signature';
  if (
    t === ArtifactType.CosignSbom ||
    t === ArtifactType.SpdxJson ||
    t === ArtifactType.CycloneDxJson ||
    t.includes('spdx') ||
    t.includes('cyclonedx')
  ) {
    return 'sbom';
  }
  return 'other';
}

/** The predicate types a stored attestation manifest names in its annotations. */
export function predicateTypesOf(stored: Stored): string[] {
  const types = new Set<string>();
  const own = (stored.kind === 'manifest' ? stored.manifest.annotations : stored.index.annotations)?.['dev.sigstore.bundle.predicateType'];
  if (own) types.add(own);
  if (stored.kind === 'manifest') {
    for (const layer of stored.manifest.layers) {
      // BuildKit writes in-toto.io/predicate-type; cosign's .att layers say predicateType.
      const t = layer.annotations?.[Annotation.InTotoPredicateType] ?? layer.annotations?.predicateType;
      if (t) types.add(t);
    }
  }
  return [...types];
}

/** Options of {@link findAttachments}. */
export interface FindAttachmentsOptions extends OperationOptions {
  /** The store's tags when already listed (cosign storage is found through them). */
  tags?: readonly string[];
  /** Fetch each attachment's manifest to read its predicate types (default true). */
  details?: boolean;
}

/**
 * Everything attached to `subjects` in the three storages: BuildKit entries of `index` (when
 * the image is one), OCI referrers (API or tag fallback), and cosign's `sha256-<hex>.*` tags.
 */
export async function findAttachments(
  store: ContentStore,
  subjects: readonly Digest[],
  index: ImageIndex | undefined,
  options: FindAttachmentsOptions = {},
): Promise<Attachment[]> {
  const wanted = new Set<string>(subjects);
  const out: Attachment[] = index === undefined ? [] : buildkitAttachments(index).filter((a) => wanted.has(a.subject));
  for (const subject of subjects) {
    for (const r of await store.referrers(subject, options)) {
      // BuildKit's artifact form is in the index and names its subject, so a layout or a
      // registry lists it as a referrer too: it is the same attachment.
      if (out.some((a) => a.digest === r.digest && a.subject === subject)) continue;
      const att: Attachment = {
        storage: 'referrers',
        kind: classifyReferrer(r.artifactType, r.annotations),
        subject,
        digest: r.digest,
        mediaType: r.mediaType,
        size: r.size,
        predicateTypes: [],
      };
      if (r.artifactType !== undefined) att.artifactType = r.artifactType;
      out.push(att);
    }
  }
  // A store that will not list its tags (a registry allowing pulls only) still has them: cosign's
  // are asked for by name, which each subject's digest gives. A repository the registry knows no
  // tags of (NAME_UNKNOWN, where only untagged images are) has no cosign tags either.
  const tags =
    options.tags ??
    (await store.listTags(options).catch((err: unknown) => {
      if (!listingRefused(err)) throw err;
      return cosignTagsByName(store, subjects, options);
    }));
  for (const tag of tags) {
    const m = COSIGN_TAG_RE.exec(tag);
    if (!m) continue;
    const subject = `${m[1]}:${m[2]}` as Digest;
    if (!wanted.has(subject)) continue;
    const desc = await store.resolve(tag, options);
    if (desc === undefined) continue;
    const kind: AttachmentKind = m[3] === 'sig' ? 'signature' : m[3] === 'att' ? 'attestation' : 'sbom';
    out.push({
      storage: 'cosign',
      kind,
      subject,
      digest: desc.digest,
      mediaType: desc.mediaType,
      size: desc.size,
      predicateTypes: [],
      tag,
    });
  }
  if (options.details ?? true) {
    for (const a of out) {
      const stored = await store.getManifest(a.digest, options).catch(() => undefined);
      if (stored !== undefined) a.predicateTypes = predicateTypesOf(stored);
    }
  }
  return out;
}
