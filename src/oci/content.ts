/** Manifests and indexes as stored: their exact bytes beside the parsed value, and descriptors of them. */
import { decodeUtf8, encodeUtf8 } from '../bytes.ts';
import { ProvenantError } from '../errors.ts';
import { type Digest, digestAlgorithm, digestHex, digestOf, isDigest, verifyDigest } from './digest.ts';
import { isIndexType, isManifestType, MediaType } from './mediatypes.ts';
import type { Descriptor, ImageIndex, ImageManifest } from './types.ts';
import { assertConsistentDescriptors, assertIndex, assertManifest, assertVerifiableDigests } from './validate.ts';

/**
 * A manifest or index as stored: its exact bytes (the truth, which is what the digest is
 * computed over) beside the parsed value. Nothing re-serializes `bytes`.
 */
interface StoredBase {
  readonly bytes: Uint8Array;
  readonly digest: Digest;
  readonly mediaType: string;
}

/** An image manifest with its bytes. */
export interface StoredManifest extends StoredBase {
  readonly kind: 'manifest';
  readonly manifest: ImageManifest;
}

/** An image index with its bytes. */
export interface StoredIndex extends StoredBase {
  readonly kind: 'index';
  readonly index: ImageIndex;
}

/** Either. */
export type Stored = StoredManifest | StoredIndex;

/** Options of {@link parseStored}. */
export interface ParseOptions {
  /** The media type the bytes were served or described with (Content-Type, a descriptor). */
  mediaType?: string | undefined;
  /** When set, the bytes must have this digest. */
  digest?: Digest | undefined;
  /** Where the bytes came from, for error messages. */
  where?: string | undefined;
}

/**
 * Parses and validates manifest bytes. The media type comes from the document itself, then
 * from `options.mediaType`, then from its shape (OCI 1.0 made `mediaType` optional); a document
 * whose own type contradicts the type it was served as is refused, since a client that trusted
 * either could be made to read one thing as another.
 */
export function parseStored(bytes: Uint8Array, options: ParseOptions = {}): Stored {
  const where = options.where;
  const at = where === undefined ? {} : { where };
  if (options.digest !== undefined) verifyDigest(bytes, options.digest, where);
  let value: unknown;
  try {
    value = JSON.parse(decodeUtf8(bytes, true));
  } catch (cause) {
    throw new ProvenantError('INVALID_MANIFEST', 'manifest is not valid UTF-8 JSON', { ...at, cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProvenantError('INVALID_MANIFEST', 'manifest is not a JSON object', at);
  }
  const doc = value as Record<string, unknown>;
  if (doc.schemaVersion === 1) {
    throw new ProvenantError('UNSUPPORTED_MEDIA_TYPE', 'Docker schema 1 manifests are not supported', {
      ...at,
      hint: 'schema 1 is deprecated and unsigned; re-push the image with a current client',
    });
  }
  const own = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  const served = normalizeServedType(options.mediaType);
  if (own !== undefined && served !== undefined && own !== served && isManifestLikeType(served)) {
    throw new ProvenantError('INVALID_MANIFEST', `manifest says it is ${own} but was described as ${served}`, at);
  }
  const mediaType = own ?? served ?? ('manifests' in doc ? MediaType.OciIndex : MediaType.OciManifest);
  const digest = options.digest ?? digestOf(bytes);
  if (isIndexType(mediaType)) {
    return {
      kind: 'index',
      bytes,
      digest,
      mediaType,
      index: assertConsistentDescriptors(assertVerifiableDigests(assertIndex(doc, where), where), where),
    };
  }
  if (isManifestType(mediaType)) {
    const manifest = assertConsistentDescriptors(assertVerifiableDigests(assertManifest(doc, where), where), where);
    return { kind: 'manifest', bytes, digest, mediaType, manifest };
  }
  throw new ProvenantError('UNSUPPORTED_MEDIA_TYPE', `${mediaType} is not a manifest or index type`, at);
}

function isManifestLikeType(t: string): boolean {
  return isIndexType(t) || isManifestType(t);
}

// Registries may add parameters (charset) to Content-Type; some serve application/json or
// octet-stream for content they do not recognise, which says nothing about the document.
function normalizeServedType(t: string | undefined): string | undefined {
  if (t === undefined) return undefined;
  const base = t.split(';')[0]?.trim() ?? '';
  return isManifestLikeType(base) ? base : undefined;
}

/** Serializes a new manifest, index or config. Only for documents we create. */
export function encodeJson(value: unknown): Uint8Array {
  return encodeUtf8(JSON.stringify(value));
}

/** The descriptor of some stored bytes. */
export function describe(bytes: Uint8Array, mediaType: string, extra: Partial<Descriptor> = {}): Descriptor {
  return { mediaType, digest: digestOf(bytes), size: bytes.byteLength, ...extra };
}

/** The descriptor that names a stored manifest or index. */
export function descriptorOf(stored: Stored, extra: Partial<Descriptor> = {}): Descriptor {
  return { mediaType: stored.mediaType, digest: stored.digest, size: stored.bytes.byteLength, ...extra };
}

/**
 * The artifact type a referrers listing gives a manifest: its `artifactType`, else its config's
 * media type
 * (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#listing-referrers); an
 * index has no config, and a `config` it carries anyway is not read. Total on any JSON value, for
 * bytes read without being validated (a layout entry that does not match its digest still says
 * what it was meant to be): a field of another type counts as absent.
 */
export function artifactTypeOf(doc: unknown): string | undefined {
  if (typeof doc !== 'object' || doc === null) return undefined;
  const {
    artifactType,
    config,
    manifests,
    mediaType: own,
  } = doc as {
    artifactType?: unknown;
    config?: unknown;
    manifests?: unknown;
    mediaType?: unknown;
  };
  if (typeof artifactType === 'string') return artifactType;
  // An index by its media type, as parseStored tells them; by its manifests only without one.
  if (typeof own === 'string' ? isIndexType(own) : Array.isArray(manifests)) return undefined;
  if (typeof config !== 'object' || config === null) return undefined;
  const { mediaType } = config as { mediaType?: unknown };
  return typeof mediaType === 'string' ? mediaType : undefined;
}

/**
 * How deep indexes may nest under the one named: the root index is level 0, an index it lists 1
 * (as check and fix count them, src/compat/graph.ts).
 * Real images nest one or two (an index of platforms whose entries are indexes, as some build
 * tools push); containers/image copies the entries of one index as images and nests no deeper.
 * Without a cap, a layout or registry could name a chain of thousands, each walked in turn
 * (20,000: a copy took minutes and 465 MB).
 */
export const INDEX_DEPTH_MAX = 8;

/**
 * Refuses an index at `depth` (the root index is 0) deeper than {@link INDEX_DEPTH_MAX}.
 *
 * @param where the reference the walk began at, and the digest of the index too deep
 * @throws ProvenantError `INVALID_MANIFEST` naming the reference and the index
 */
export function checkIndexDepth(depth: number, where: string, digest: string): void {
  if (depth <= INDEX_DEPTH_MAX) return;
  throw new ProvenantError(
    'INVALID_MANIFEST',
    `${where} nests indexes more than ${INDEX_DEPTH_MAX} deep (the index ${digest} is at level ${depth})`,
    {
      where,
      hint: 'an image index lists images, or indexes that list images; a chain of indexes this deep is not an image',
    },
  );
}

/** Every descriptor a stored document references directly (config, layers, manifests, subject). */
export function children(stored: Stored): Descriptor[] {
  if (stored.kind === 'index') return [...stored.index.manifests];
  return [stored.manifest.config, ...stored.manifest.layers];
}

/** A manifest's or index's `subject`. */
export function subjectOf(stored: Stored): Descriptor | undefined {
  return stored.kind === 'manifest' ? stored.manifest.subject : stored.index.subject;
}

/**
 * cosign's tags for what it attaches to a manifest, `sha256-<hex>.sig|att|sbom`
 * (https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md): the algorithm, the hex
 * and the kind.
 */
export const COSIGN_TAG_RE = /^(sha256|sha512)-([a-f0-9]+)\.(sig|att|sbom)$/;

/** The digest a cosign tag ({@link COSIGN_TAG_RE}) is about; undefined for any other tag. */
export function cosignTagSubject(tag: string): Digest | undefined {
  const m = COSIGN_TAG_RE.exec(tag);
  const digest = m === null ? undefined : `${m[1]}:${m[2]}`;
  return digest !== undefined && isDigest(digest) ? digest : undefined;
}

/** cosign's tag for the signatures (`sig`), attestations (`att`) or SBOM (`sbom`) of `digest` (see {@link COSIGN_TAG_RE}). */
export function cosignTag(digest: Digest, suffix: 'sig' | 'att' | 'sbom'): string {
  return `${digestAlgorithm(digest)}-${digestHex(digest)}.${suffix}`;
}

/**
 * The tag of the referrers tag schema, `<alg>-<hex>`, under which a client without the referrers
 * API keeps the index of `digest`'s referrers
 * (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#referrers-tag-schema):
 * cut to 128 characters, the tag grammar's limit (a sha512 digest's would be 135). Here, beside
 * {@link cosignTag}, because registry/ writes and reads it and sign/, which may not import
 * registry/, reads it too.
 */
export function referrersTag(digest: Digest): string {
  return `${digestAlgorithm(digest)}-${digestHex(digest)}`.slice(0, 128);
}
