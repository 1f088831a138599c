/**
 * Where signatures and attestations live, in the shapes cosign writes and reads:
 *
 * - cosign 2 (https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md): an image
 *   manifest tagged `sha256-<hex>.sig` whose layers are simple-signing payloads
 *   (`application/vnd.dev.cosign.simplesigning.v1+json`) annotated with
 *   `dev.cosignproject.cosign/signature` (base64 DER) and, keyless, `dev.sigstore.cosign/certificate`,
 *   `dev.sigstore.cosign/chain` (PEM) and `dev.sigstore.cosign/bundle` (Rekor's signed entry
 *   timestamp); attestations the same under `sha256-<hex>.att`, each layer a DSSE envelope
 *   (`application/vnd.dsse.envelope.v1+json`) annotated with its `predicateType`. Manifests and
 *   their config are written as go-containerregistry writes them (`mutate.Append` on
 *   `empty.Image`), so a new signature appends a layer and an identical one adds nothing. A new
 *   image is an OCI manifest and config, or, for a registry that reads Docker schema 2 only, a
 *   Docker manifest and config, as cosign writes with COSIGN_DOCKER_MEDIA_TYPES=1 (pkg/oci/empty:
 *   go-containerregistry's empty.Image as it is); the layers' types are cosign's either way.
 * - cosign 3: one OCI referrer per signature or statement, artifact type
 *   `application/vnd.dev.sigstore.bundle.v0.3+json`, one layer holding the Sigstore bundle,
 *   annotated `dev.sigstore.bundle.content` and `dev.sigstore.bundle.predicateType`
 *   (pkg/oci/remote/write.go WriteAttestationNewBundleFormat); a store puts it where its
 *   referrers are found (the referrers API, the referrers tag schema, a layout's index).
 */
import { type Bundle, bundleFromJSON, bundleToJSON } from '@sigstore/bundle';
import { ArtifactType, nestsDeeperThan, STATEMENT_DEPTH_LIMIT, STATEMENT_LIMIT } from '../attest/attachments.ts';
import { decodeUtf8 } from '../bytes.ts';
import { isProvenantError, ProvenantError, sleep } from '../errors.ts';
import { type ByteStream, bytesSource, type OperationOptions } from '../io/types.ts';
import { collect } from '../io/verify.ts';
import { cosignTag, parseStored, referrersTag, type Stored } from '../oci/content.ts';
import { type Digest, digestOf } from '../oci/digest.ts';
import { isIndexType, isManifestType, MediaType } from '../oci/mediatypes.ts';
import { Annotation, type Descriptor, type ImageManifest } from '../oci/types.ts';
import type { ContentStore, PutManifestOptions } from '../store/types.ts';
import { pemEncode } from './keys.ts';
import { loggedEnvelope } from './material.ts';
import { b64decode, COSIGN_SIGN_PREDICATE_TYPE, DSSE_MEDIA_TYPE, goJson, goString, SIMPLE_SIGNING_MEDIA_TYPE } from './payload.ts';
import type { Signed } from './signer.ts';

/** Layer annotations of cosign 2's `.sig` and `.att` images (pkg/oci/static). */
export const CosignAnnotation = {
  Signature: 'dev.cosignproject.cosign/signature',
  Certificate: 'dev.sigstore.cosign/certificate',
  Chain: 'dev.sigstore.cosign/chain',
  Bundle: 'dev.sigstore.cosign/bundle',
  RFC3161Timestamp: 'dev.sigstore.cosign/rfc3161timestamp',
  PredicateType: 'predicateType',
} as const;

/** The artifact (and layer) type of a cosign 3 bundle referrer. */
export const BUNDLE_V03_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** Manifest annotations of a cosign 3 bundle referrer. */
export const BundleAnnotation = {
  Content: 'dev.sigstore.bundle.content',
  PredicateType: 'dev.sigstore.bundle.predicateType',
  Created: 'org.opencontainers.image.created',
} as const;

/** A simple-signing payload (a `.sig` layer) is a few hundred bytes: one much larger is not one, and is not read. */
const SIGNATURE_LIMIT = 4 * 1024 * 1024;

/**
 * The most bytes of layers and bundles over {@link SIGNATURE_LIMIT} read for one subject: a bound
 * on work, not on memory. {@link eachSignature} holds one signature's bytes at a time (and a cache
 * of at most {@link REREAD_CACHE_LIMIT}), so what a pusher lists no longer makes it hold more; but
 * anyone who can push a tag or a referrer can list any number of 64 MiB blobs, and reading 10,000
 * of them would take hours. The rule, so that the bound cannot keep a real attestation from being
 * checked for the sake of memory, and junk can keep one from being read only at great cost:
 *
 * - a layer no larger than a signature (every signature, most attestations) is always read, where
 *   it is listed: no junk, however large, keeps a signature from being checked (what such layers
 *   cost is bounded by how many a pusher lists, each a descriptor in a manifest of at most 4 MiB);
 * - the larger ones are read after all the others, smallest first, until the bytes read of them
 *   add up to this bound: junk of 64 MiB listed before a 10 MiB SBOM attestation is read after it.
 *   What is charged is what was read, not what was listed; a descriptor listed again is not read
 *   again, whether its read ended well or not; and a large blob's size is asked of the store
 *   first, so that one listed under a size it does not have is not read at all (a small blob
 *   listed as a large one, however often, costs nothing, nor does a missing one, nor a large one
 *   the store holds listed under other sizes). A store that does not say a blob's size (a
 *   registry's HEAD without Content-Length, or refused) has it read once, whole, by its digest,
 *   and every listing judged by its length. So to keep that attestation from being read a pusher
 *   must push more than a gibibyte of distinct blobs: no larger than it where the store says
 *   sizes; where it does not, a blob listed under a smaller size than its own is read whole. One
 *   not read is found with an error that says so, so a verification that needed it fails and
 *   says why.
 *
 * 16 statements' worth (a gibibyte, some seconds of a fast link): the bound was 256 MiB when it
 * was also what every blob read was held in until the last was read, and memory was its reason.
 */
const LARGE_READ_LIMIT = 16 * STATEMENT_LIMIT;

/**
 * The most bytes of blobs {@link eachSignature} keeps after handing on what they held, so that a
 * blob listed again (two keys' signatures of one image share their simple-signing payload) is
 * not read again: the most recently read, up to one statement's worth.
 */
const REREAD_CACHE_LIMIT = STATEMENT_LIMIT;

const EMPTY_JSON = new TextEncoder().encode('{}');
const EMPTY_DESCRIPTOR: Descriptor = { mediaType: MediaType.OciEmpty, digest: digestOf(EMPTY_JSON), size: 2 };

/** A layer of a `.sig` or `.att` image: its bytes and its descriptor's media type and annotations. */
export interface CosignLayer {
  mediaType: string;
  payload: Uint8Array;
  annotations: Record<string, string>;
}

/** The `.sig` layer cosign 2 writes for a simple-signing `payload` signed as `signed`. */
export function signatureLayer(payload: Uint8Array, signed: Signed): CosignLayer {
  const c = signed.bundle.content;
  if (c.$case !== 'messageSignature') throw new TypeError('a .sig layer holds a message signature');
  return {
    mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
    payload,
    annotations: {
      ...materialAnnotations(signed, signed.bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps[0]?.signedTimestamp),
      [CosignAnnotation.Signature]: Buffer.from(c.messageSignature.signature).toString('base64'),
    },
  };
}

/**
 * The `.att` layer cosign 2 writes for a DSSE signature made with `timestamp: 'envelope'`: the
 * envelope's bytes as they were logged ({@link Signed.envelope}; cosign checks the log entry's
 * envelope hash against the layer's), an empty signature annotation since the signature is
 * inside (static.NewAttestation), and the envelope's timestamp, which is what cosign checks a
 * `.att` layer's timestamp against (pkg/cosign/verify.go VerifyRFC3161Timestamp).
 */
export function attestationLayer(predicateType: string, signed: Signed): CosignLayer {
  return {
    mediaType: DSSE_MEDIA_TYPE,
    // A Signed from a signer of the library's user may not carry its envelope's bytes: they are
    // the bundle's envelope as logged.
    payload: signed.envelope ?? loggedEnvelope(signed.bundle),
    annotations: {
      ...materialAnnotations(signed, signed.envelopeTimestamp),
      [CosignAnnotation.PredicateType]: predicateType,
      [CosignAnnotation.Signature]: '',
    },
  };
}

/**
 * The certificate, chain and Rekor annotations of a layer, and `timestamp` as its RFC 3161 one:
 * a `.sig` layer's is the bundle's (over the signature), an `.att` layer's only one over the
 * envelope's bytes (none else: a timestamp over the signature would not verify there).
 */
function materialAnnotations(signed: Signed, timestamp: Uint8Array | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const vm = signed.bundle.verificationMaterial;
  const cert =
    vm.content.$case === 'certificate'
      ? vm.content.certificate.rawBytes
      : vm.content.$case === 'x509CertificateChain'
        ? vm.content.x509CertificateChain.certificates[0]?.rawBytes
        : undefined;
  if (cert !== undefined) {
    out[CosignAnnotation.Certificate] = pemEncode('CERTIFICATE', cert);
    // cosign 2 passes on what follows the leaf in Fulcio's PEM response (fulcio pkg/api
    // client.go), which has no newline after the last certificate: the containers/image
    // fixtures show it so.
    out[CosignAnnotation.Chain] = signed.chain
      .map((c) => pemEncode('CERTIFICATE', c))
      .join('')
      .replace(/\n$/, '');
  }
  const entry = vm.tlogEntries[0];
  if (entry !== undefined) {
    // cosign's RekorBundle (pkg/cosign/bundle/rekor.go), as encoding/json writes it.
    const set = entry.inclusionPromise?.signedEntryTimestamp;
    out[CosignAnnotation.Bundle] =
      `{"SignedEntryTimestamp":${set === undefined ? 'null' : `"${Buffer.from(set).toString('base64')}"`},` +
      `"Payload":{"body":"${Buffer.from(entry.canonicalizedBody).toString('base64')}","integratedTime":${Number(entry.integratedTime)},` +
      `"logIndex":${Number(entry.logIndex)},"logID":"${Buffer.from(entry.logId.keyId).toString('hex')}"}}`;
  }
  if (timestamp !== undefined)
    out[CosignAnnotation.RFC3161Timestamp] = `{"SignedRFC3161Timestamp":"${Buffer.from(timestamp).toString('base64')}"}`;
  return out;
}

/**
 * The RFC 3161 timestamp a layer's {@link CosignAnnotation.RFC3161Timestamp} annotation holds, as
 * {@link materialAnnotations} writes it; undefined when the text is not that.
 */
export function annotatedTimestamp(text: string): Uint8Array | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  return typeof doc === 'object' && doc !== null
    ? b64decode((doc as { SignedRFC3161Timestamp?: unknown }).SignedRFC3161Timestamp)
    : undefined;
}

/** What {@link appendCosignLayer} did; `dropped`, how many layers {@link AppendOptions.dropping} took out. */
export type AppendResult = { added: boolean; tag: string; manifest: Digest; dropped: number };

/** Options of {@link appendCosignLayer}. */
export interface AppendOptions extends OperationOptions {
  /**
   * Write a new `.sig`/`.att` image in Docker schema 2 media types (manifest and config), as
   * cosign does with COSIGN_DOCKER_MEDIA_TYPES=1, for a registry that refuses OCI ones
   * (Artifactory before 7.11.1, Quay before 3.6). An image already under the tag keeps its own
   * types, as cosign appends to the image it finds.
   */
  dockerMediaTypes?: boolean | undefined;
  /**
   * The layers already under the tag to take out as the new one goes in (those this call writes
   * are kept): what `attest --replace` drops, as cosign's ReplaceOp. Asked again for the layers
   * another writer's image holds when one is written over this one meanwhile; `manifest`, the
   * image that lists the layer.
   */
  dropping?: ((layer: Descriptor, manifest: ImageManifest) => Promise<boolean>) | undefined;
}

/** How many times {@link addCosignLayers} writes its layers into an image other writers keep replacing. */
const APPEND_ATTEMPTS = 5;
/** The pause before reading a registry's tag back, times the attempt (give or take half). */
const APPEND_RECHECK_MS = 200;

/**
 * Adds `layer` to the `.sig` or `.att` image of `subject`, creating it when missing. A layer
 * with the same bytes and annotations as one already there is not added again. Blobs first,
 * then the manifest, then the tag; other writers of the tag at the same time are dealt with as
 * {@link addCosignLayers} says.
 *
 * @throws ProvenantError `TAG_CONFLICT` when other writers kept the tag from holding the layer
 */
export async function appendCosignLayer(
  store: ContentStore,
  subject: Digest,
  suffix: 'sig' | 'att',
  layer: CosignLayer,
  options: AppendOptions = {},
): Promise<AppendResult> {
  const tag = cosignTag(subject, suffix);
  const layerDescriptor: Descriptor = { mediaType: layer.mediaType, digest: digestOf(layer.payload), size: layer.payload.length };
  if (Object.keys(layer.annotations).length > 0) layerDescriptor.annotations = layer.annotations;
  const r = await addCosignLayers(store, tag, [layerDescriptor], {
    ...options,
    from: { read: await readTagManifest(store, tag, options) },
    like: options.dockerMediaTypes === true ? DOCKER_TYPES : OCI_TYPES,
    storeBlobs: () => store.putBlob(bytesSource(layerDescriptor, layer.payload), options),
    lacking: 'this signature',
    hint: 'sign again: signing adds what is missing and nothing twice',
  });
  return { added: r.added > 0, tag, manifest: r.manifest, dropped: r.dropped };
}

/**
 * An attestation of the `.att` image that `attest --replace` cannot read, so cannot tell whether
 * it is of the type replaced: as cosign's ReplaceOp (pkg/cosign/remote), which fails on a layer
 * whose statement it cannot decode, the replacement fails with nothing written, naming the layer.
 * Its code is the read's (`NOT_FOUND` for a blob the store lacks, `DIGEST_MISMATCH`, ...), else
 * `SIGNATURE` for a layer that holds no statement.
 */
export class UnreadableAttestationError extends ProvenantError {
  /** The layer's digest. */
  readonly layer: Digest;

  constructor(tag: string, layer: Digest, cause: unknown) {
    super(
      cause instanceof ProvenantError ? cause.code : 'SIGNATURE',
      `--replace cannot read the attestation ${layer} of ${tag}, so cannot tell whether to replace it: ${(cause as Error).message}; nothing was written`,
      {
        where: `${tag} ${layer}`,
        cause,
        hint:
          cause instanceof ProvenantError
            ? 'as cosign attest --replace: push the missing blob again, or attest without --replace (the new one is added beside it)'
            : 'as cosign attest --replace: attest without --replace (the new one is added beside it)',
      },
    );
    this.layer = layer;
  }
}

/**
 * Whether the `.att` layer `layer` of `manifest` (the image the tag `tag` names) is an
 * attestation of one of `predicateTypes`, as `attest --replace` decides: by the `predicateType`
 * of the statement it holds, as cosign's ReplaceOp reads it, never by the layer's annotation (which
 * whoever pushed the layer wrote, unsigned: a layer annotated one type holding a statement of
 * another is that other's).
 *
 * @throws UnreadableAttestationError when its statement cannot be read (a blob missing or not
 *   matching its digest, no statement in it, a statement without a string `predicateType`, on
 *   which cosign's ReplaceOp fails too); what reading raises otherwise (a network failure, a cancel)
 */
export async function isAttestationOf(
  store: ContentStore,
  tag: string,
  manifest: ImageManifest,
  layer: Descriptor,
  predicateTypes: ReadonlySet<string>,
  options: OperationOptions = {},
): Promise<boolean> {
  if (layer.mediaType !== DSSE_MEDIA_TYPE) return false;
  let predicateType: string;
  try {
    const read = await layerStatement(store, manifest, layer, options);
    const type = read?.statement.predicateType;
    if (typeof type !== 'string') throw new Error('its statement has no predicateType');
    predicateType = type;
  } catch (err) {
    if (err instanceof ProvenantError && !isBadContent(err)) throw err;
    throw new UnreadableAttestationError(tag, layer.digest, err);
  }
  return predicateTypes.has(predicateType);
}

/**
 * What `attest --replace` of `predicateTypes` decides of each layer of `subject`'s `.att` image,
 * by {@link layerKey}: true for one it takes out ({@link isAttestationOf}). Read before anything
 * is signed or written, so that a layer that cannot be read fails the replacement with nothing
 * written; a verdict holds for good (a layer's statement is its blob's, fixed by the digest), so
 * the write that follows asks again only about a layer another writer added meanwhile.
 *
 * @throws as {@link isAttestationOf}
 */
export async function replaceVerdicts(
  store: ContentStore,
  subject: Digest,
  predicateTypes: ReadonlySet<string>,
  options: OperationOptions = {},
): Promise<Map<string, boolean>> {
  const tag = cosignTag(subject, 'att');
  const there = await readTagManifest(store, tag, options);
  const out = new Map<string, boolean>();
  if (there === undefined) return out;
  for (const layer of there.manifest.layers) {
    const key = layerKey(layer);
    if (!out.has(key)) out.set(key, await isAttestationOf(store, tag, there.manifest, layer, predicateTypes, options));
  }
  return out;
}

/** A layer of a `.att` image as --replace tells it apart: one blob listed twice, under two annotations, is two. */
export function layerKey(layer: Descriptor): string {
  return JSON.stringify([layer.digest, layer.mediaType, layer.annotations ?? {}]);
}

/**
 * Adds to the `.sig` or `.att` image `existing` (tagged `tag` in `store`) those of `layers` it
 * lacks, as cosign appends a signature: what `existing` holds stays, in its order, and a layer
 * is new unless one there has the same digest, media type and annotations. The digest alone is
 * not enough: two signatures of one image by two keys share the simple-signing payload (the
 * layer's bytes) and differ only in their annotations. The blobs `layers` name must be in
 * `store` already. Other writers of the tag at the same time (a signer, another copy) are dealt
 * with as {@link addCosignLayers} says, so `existing` may be what the tag named a while ago.
 * Returns the manifest the tag names afterwards, and how many of `layers` were added.
 *
 * @throws ProvenantError `TAG_CONFLICT` when other writers kept the tag from holding the layers
 */
export async function mergeCosignLayers(
  store: ContentStore,
  tag: string,
  existing: TagImage,
  layers: readonly Descriptor[],
  options: OperationOptions = {},
): Promise<{ manifest: Digest; added: number }> {
  return addCosignLayers(store, tag, layers, {
    ...options,
    from: { read: existing },
    like: existing,
    lacking: `the ${layers.length} layer(s) copied into it`,
    hint: 'copy again: a copy adds what is missing and nothing twice',
  });
}

/**
 * Checks that `tag` still holds the layers of `written`, a `.sig` or `.att` image the caller put
 * under it where the tag named nothing, with {@link PutManifestOptions.replacing} `{ [tag]: null }`
 * (a copy writes the source's image as it is). A layout checked that; in a registry another
 * writer may have put its image over it from a read made before, so the tag is read again and the
 * layers it lacks added, as {@link addCosignLayers} does after its own write. Returns the manifest
 * the tag names afterwards.
 *
 * @throws ProvenantError `TAG_CONFLICT` when other writers kept the tag from holding the layers
 */
export async function settleCosignTag(
  store: ContentStore,
  tag: string,
  written: TagImage,
  options: OperationOptions = {},
): Promise<Digest> {
  const r = await addCosignLayers(store, tag, written.manifest.layers, {
    ...options,
    from: { written: written.digest },
    like: written,
    lacking: `the ${written.manifest.layers.length} layer(s) copied into it`,
    hint: 'copy again: a copy adds what is missing and nothing twice',
  });
  return r.manifest;
}

/** A `.sig` or `.att` image as read from its tag. */
type TagImage = Stored & { kind: 'manifest' };

/** Options of {@link addCosignLayers}. */
interface AddLayersOptions extends OperationOptions {
  /**
   * Where the loop starts: from what the tag named when the caller read it (undefined: nothing),
   * which the first write adds to, or from the caller's own write of the tag, which is checked.
   */
  from: { read: TagImage | undefined } | { written: Digest };
  /** The media types of a new image, when the tag names none. */
  like: TagImage | CosignImageTypes;
  /** Stores the blobs of the layers, once, before the first write; absent when they are stored already. */
  storeBlobs?: (() => Promise<unknown>) | undefined;
  /** The layers there to take out (see {@link AppendOptions.dropping}). */
  dropping?: ((layer: Descriptor, manifest: ImageManifest) => Promise<boolean>) | undefined;
  /** What a conflict leaves out of the tag, and what to do about it, for the error. */
  lacking: string;
  hint: string;
}

/**
 * The read-modify-write of a `.sig`/`.att` tag that signing and copying share: adds to the image
 * the tag names those of `layers` it lacks (see {@link mergeCosignLayers} for when one is
 * lacking), writing a new image when the tag names none.
 *
 * Another writer doing the same at the same time (cosign, a signer or a copy of ours) may write
 * its image, without these layers, over this one. So the write is made on condition that the tag
 * still names what was read where the store can check it (a layout, under its lock:
 * {@link ContentStore.conditionalTags}), and elsewhere (a registry) the tag is read again after a
 * pause; either way a tag found without the layers gets them added to what it names now, up to
 * {@link APPEND_ATTEMPTS} times. A caller that wrote the tag itself ({@link settleCosignTag})
 * starts from that write. Returns the manifest the tag names at the end and how many of `layers`
 * this call put there.
 *
 * @throws ProvenantError `TAG_CONFLICT` when other writers kept the tag from holding the layers
 */
async function addCosignLayers(
  store: ContentStore,
  tag: string,
  layers: readonly Descriptor[],
  options: AddLayersOptions,
): Promise<{ manifest: Digest; added: number; dropped: number }> {
  const { from, like, storeBlobs, lacking, hint, dropping, ...rest } = options;
  const conditional = store.conditionalTags === true;
  // The layers of `layers` this call wrote into the tag (those another writer had put there are not counted).
  const added = new Set<Descriptor>();
  // The layers `dropping` took out of what the tag named, by digest and annotations (once each).
  const dropped = new Set<string>();
  let written = 'written' in from ? from.written : undefined;
  let blobsStored = storeBlobs === undefined;
  // One read more than writes: the last write is read back too.
  for (let attempt = 1; attempt <= APPEND_ATTEMPTS + 1; attempt++) {
    if (written !== undefined) {
      if (conditional) return { manifest: written, added: added.size, dropped: dropped.size };
      await sleep(APPEND_RECHECK_MS * attempt * (0.5 + Math.random()), rest.signal);
    }
    const existing = attempt === 1 && 'read' in from ? from.read : await readTagManifest(store, tag, rest, written);
    const merged: Descriptor[] = [];
    let takenOut = 0;
    const there = existing?.manifest;
    for (const m of there?.layers ?? []) {
      if (dropping !== undefined && there !== undefined && !layers.some((l) => sameDescriptor(m, l)) && (await dropping(m, there))) {
        dropped.add(`${m.digest} ${JSON.stringify(m.annotations ?? {})}`);
        takenOut++;
        continue;
      }
      merged.push(m);
    }
    const missing: Descriptor[] = [];
    for (const l of layers) {
      if (merged.some((m) => sameDescriptor(m, l))) continue;
      merged.push(l);
      missing.push(l);
    }
    if (existing !== undefined && missing.length === 0 && takenOut === 0) {
      return { manifest: existing.digest, added: added.size, dropped: dropped.size };
    }
    if (attempt > APPEND_ATTEMPTS) break;
    if (!blobsStored) {
      await storeBlobs?.();
      blobsStored = true;
    }
    try {
      written = await writeCosignImage(store, tag, merged, existing ?? like, { ...rest, replacing: { [tag]: existing?.digest ?? null } });
      for (const l of missing) added.add(l);
    } catch (err) {
      // Moved between the read and the write (a layout checks): read it again.
      if (isProvenantError(err, 'TAG_CONFLICT') && conditional) continue;
      throw err;
    }
  }
  throw new ProvenantError('TAG_CONFLICT', `other writers kept replacing ${tag} with images without ${lacking}`, {
    where: `${store.location}:${tag}`,
    hint: `${hint} (${APPEND_ATTEMPTS} attempts were made)`,
  });
}

/** The media types of a `.sig`/`.att` image: its manifest's and its config's. */
interface CosignImageTypes {
  readonly mediaType: string;
  readonly config: string;
}

const OCI_TYPES: CosignImageTypes = { mediaType: MediaType.OciManifest, config: MediaType.OciConfig };
// go-containerregistry's empty.Image, which cosign's empty.Signatures keeps as it is when
// COSIGN_DOCKER_MEDIA_TYPES is set: a schema 2 manifest with a Docker image config.
const DOCKER_TYPES: CosignImageTypes = { mediaType: MediaType.DockerManifest, config: MediaType.DockerConfig };

/**
 * Writes the `.sig`/`.att` image of `layers` (blobs already stored) and points `tag` at it, in
 * the media types of `like`: the image it replaces, or the types of a new one.
 */
async function writeCosignImage(
  store: ContentStore,
  tag: string,
  layers: readonly Descriptor[],
  like: (Stored & { kind: 'manifest' }) | CosignImageTypes,
  options: OperationOptions & { replacing?: PutManifestOptions['replacing'] },
): Promise<Digest> {
  // go-containerregistry's mutate.Append on empty.Image: one history entry and diff_id per
  // layer (a static layer's diff_id is its digest), zero times, empty architecture and os.
  const history = layers.map(() => '{"created":"0001-01-01T00:00:00Z"}').join(',');
  const config = new TextEncoder().encode(
    `{"architecture":"","created":"0001-01-01T00:00:00Z","history":[${history}],"os":"","rootfs":{"type":"layers","diff_ids":[${layers
      .map((l) => goString(l.digest))
      .join(',')}]},"config":{}}`,
  );
  const configType = 'manifest' in like ? like.manifest.config.mediaType : like.config;
  const configDescriptor: Descriptor = { mediaType: configType, digest: digestOf(config), size: config.length };
  await store.putBlob(bytesSource(configDescriptor, config), options);
  const mediaType = like.mediaType;
  const manifest: ImageManifest = { schemaVersion: 2, mediaType, config: configDescriptor, layers: [...layers] };
  const stored = parseStored(goManifest(manifest), { mediaType });
  await store.putManifest(stored, { ...options, tags: [tag] });
  return stored.digest;
}

/**
 * Stores `bundle` as a cosign 3 referrer of `subject` (an image manifest or index descriptor).
 * `created` is the `org.opencontainers.image.created` annotation cosign sets to the time of
 * signing (default now; pass SOURCE_DATE_EPOCH's time for reproducible output).
 */
export async function writeBundleReferrer(
  store: ContentStore,
  subject: Descriptor,
  bundle: Bundle,
  predicateType: string,
  options: OperationOptions & { created?: Date | undefined } = {},
): Promise<Digest> {
  const bytes = new TextEncoder().encode(JSON.stringify(bundleToJSON(bundle)));
  const layer: Descriptor = { mediaType: BUNDLE_V03_MEDIA_TYPE, digest: digestOf(bytes), size: bytes.length };
  await store.putBlob(bytesSource(EMPTY_DESCRIPTOR, EMPTY_JSON), options);
  await store.putBlob(bytesSource(layer, bytes), options);
  const created = (options.created ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    // cosign writes the artifact type into the config descriptor too (a go-containerregistry
    // quirk); it is copied here so that our referrers look like cosign's to every reader.
    config: { ...EMPTY_DESCRIPTOR, artifactType: BUNDLE_V03_MEDIA_TYPE },
    layers: [layer],
    annotations: {
      [BundleAnnotation.Content]: bundle.content.$case === 'dsseEnvelope' ? 'dsse-envelope' : 'message-signature',
      [BundleAnnotation.PredicateType]: predicateType,
      [BundleAnnotation.Created]: created,
    },
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    artifactType: BUNDLE_V03_MEDIA_TYPE,
  };
  const stored = parseStored(goManifest(manifest), { mediaType: MediaType.OciManifest });
  await store.putManifest(stored, { ...options, tags: [] });
  return stored.digest;
}

/** A manifest as go-containerregistry's v1.Manifest marshals (field order, sorted annotations). */
export function goManifest(m: ImageManifest): Uint8Array {
  const parts = [`"schemaVersion":${m.schemaVersion}`];
  if (m.mediaType !== undefined) parts.push(`"mediaType":${goString(m.mediaType)}`);
  parts.push(`"config":${goDescriptor(m.config)}`, `"layers":[${m.layers.map(goDescriptor).join(',')}]`);
  if (m.annotations !== undefined && Object.keys(m.annotations).length > 0) parts.push(`"annotations":${goJson(m.annotations)}`);
  if (m.subject !== undefined) parts.push(`"subject":${goDescriptor(m.subject)}`);
  if (m.artifactType !== undefined) parts.push(`"artifactType":${goString(m.artifactType)}`);
  return new TextEncoder().encode(`{${parts.join(',')}}`);
}

function goDescriptor(d: Descriptor): string {
  const parts = [`"mediaType":${goString(d.mediaType)}`, `"size":${d.size}`, `"digest":${goString(d.digest)}`];
  if (d.data !== undefined) parts.push(`"data":${goString(d.data)}`);
  if (d.urls !== undefined && d.urls.length > 0) parts.push(`"urls":${goJson(d.urls)}`);
  if (d.annotations !== undefined && Object.keys(d.annotations).length > 0) parts.push(`"annotations":${goJson(d.annotations)}`);
  if (d.platform !== undefined) parts.push(`"platform":${JSON.stringify(d.platform)}`);
  if (d.artifactType !== undefined) parts.push(`"artifactType":${goString(d.artifactType)}`);
  return `{${parts.join(',')}}`;
}

function sameDescriptor(a: Descriptor, b: Descriptor): boolean {
  if (a.digest !== b.digest || a.mediaType !== b.mediaType) return false;
  const ka = Object.entries(a.annotations ?? {}).sort();
  const kb = Object.entries(b.annotations ?? {}).sort();
  return JSON.stringify(ka) === JSON.stringify(kb);
}

/**
 * The `.sig`/`.att` image `tag` names, undefined when it names nothing. `written`: the image this
 * writer put under the tag before this read (a read-back), which an index found there displaced.
 *
 * @throws ProvenantError `INVALID_MANIFEST` when the tag names an index: cosign keeps signatures
 * there as an image manifest, so whoever put the index there (by hand, or a tool of its own
 * making) must say what becomes of it; with `written`, the message names the image it displaced,
 * which is still in the store, untagged
 */
async function readTagManifest(store: ContentStore, tag: string, options: OperationOptions, written?: Digest) {
  const desc = await store.resolve(tag, options);
  if (desc === undefined) return undefined;
  const stored = await store.getManifest(desc.digest, options);
  if (stored.kind !== 'manifest') {
    const where = `${store.location}:${tag}`;
    if (written === undefined) {
      throw new ProvenantError('INVALID_MANIFEST', `the tag ${tag} holds an index, not cosign's signature image`, {
        where,
        hint: `cosign keeps the signatures under ${tag} in an image manifest: point the tag at one, or delete it`,
      });
    }
    throw new ProvenantError(
      'INVALID_MANIFEST',
      `the tag ${tag} holds an index, not cosign's signature image: another writer put it there after ${written} was written under the tag`,
      {
        where,
        hint: `${written} is still in ${store.location}, untagged; pointing ${tag} back at it (in place of the index) restores its signatures`,
      },
    );
  }
  return stored;
}

// ---- reading ------------------------------------------------------------------------------

/** One signature or attestation found in a store, not yet verified. */
export type FoundSignature = FoundCosignLayer | FoundBundle;

interface FoundBase {
  /** `signature` (of the image) or `attestation` (a statement about it). */
  kind: 'signature' | 'attestation';
  /** Where it is, for messages: a tag and layer, or a referrer manifest. */
  source: string;
  /** The predicate type it says it carries, when it says. */
  predicateType?: string;
}

/** A cosign 2 layer (from a `.sig`/`.att` tag, or a referrer made of such layers). */
export interface FoundCosignLayer extends FoundBase {
  storage: 'cosign' | 'referrers';
  format: 'cosign-layer';
  /**
   * The layer; undefined when it cannot be read (its blob is missing or too large, or the tag
   * holds no signature image), `error` says why.
   */
  layer: CosignLayer | undefined;
  error?: string;
}

/** A Sigstore bundle stored as a referrer (cosign 3). */
export interface FoundBundle extends FoundBase {
  storage: 'referrers';
  format: 'bundle';
  /** The bundle, parsed; undefined when its JSON is not a valid bundle (`error` says why). */
  bundle: Bundle | undefined;
  error?: string;
}

/**
 * Every signature and attestation of `subject` in `store`, in every storage: the `.sig` and
 * `.att` tags, the referrers (through the store: the API, the tag fallback or a layout's index)
 * and the referrers tag schema's `sha256-<hex>` index read directly, which a registry with a
 * referrers API may still hold from a client that fell back to it. Reads manifests and the
 * signature blobs only.
 *
 * One at a time, each read when the caller asks for the next: a caller that checks, counts or
 * summarises each and keeps only its outcome holds one signature's bytes at a time, however many
 * a pusher lists. They come in the order they are listed, but for layers and bundles larger than
 * a signature, which come last, smallest first, read within {@link LARGE_READ_LIMIT}.
 */
export async function* eachSignature(
  store: ContentStore,
  subject: Digest,
  options: OperationOptions = {},
): AsyncGenerator<FoundSignature, void, undefined> {
  const reads = new SignatureReads(store, options);
  for (const suffix of ['sig', 'att'] as const) {
    const tag = cosignTag(subject, suffix);
    let manifest: Awaited<ReturnType<typeof readTagManifest>>;
    try {
      manifest = await readTagManifest(store, tag, options);
    } catch (err) {
      if (err instanceof ProvenantError && err.code === 'NOT_FOUND') continue;
      // Anyone who can push a tag can put anything under it: that one artifact is malformed,
      // and the signatures elsewhere are still found and checked.
      if (!isBadContent(err)) throw err;
      const kind = suffix === 'sig' ? 'signature' : 'attestation';
      yield { storage: 'cosign', format: 'cosign-layer', kind, source: tag, layer: undefined, error: err.message };
      continue;
    }
    if (manifest === undefined) continue;
    for (const [i, l] of manifest.manifest.layers.entries()) {
      const p = cosignLayer(store, l, `${tag} layer ${i}`, 'cosign');
      if (p !== undefined && !reads.deferred(p)) yield await reads.settle(p);
    }
  }
  // Each referrer with where it was listed, for the message when it cannot be read.
  const referrers = new Map<string, { descriptor: Descriptor; listedBy: string }>();
  let listed: Descriptor[] = [];
  try {
    listed = await store.referrers(subject, options);
  } catch (err) {
    // A store's lookup reads what others pushed (a registry's fallback tag, a layout's manifests).
    if (!isBadContent(err)) throw err;
    if (err.code !== 'NOT_FOUND') {
      const error = `the referrers lookup met content that is not what it should be: ${err.message}`;
      yield { storage: 'referrers', format: 'cosign-layer', kind: 'signature', source: 'referrers lookup', layer: undefined, error };
    }
  }
  for (const r of listed) referrers.set(r.digest, { descriptor: r, listedBy: 'the referrers lookup' });
  const fallbackTag = referrersTag(subject);
  const fallback = await store.resolve(fallbackTag, options);
  if (fallback !== undefined && isIndexType(fallback.mediaType)) {
    let index: Stored | undefined;
    try {
      index = await store.getManifest(fallback.digest, options);
    } catch (err) {
      // Anyone who can push a tag can push this one, as the .sig and .att tags: it is one
      // malformed entry, and the signatures found elsewhere are still checked.
      if (!isBadContent(err)) throw err;
      if (err.code !== 'NOT_FOUND') {
        const error = `the referrers tag schema's index ${fallbackTag} cannot be read: ${err.message}`;
        yield { storage: 'referrers', format: 'cosign-layer', kind: 'signature', source: fallbackTag, layer: undefined, error };
      }
    }
    if (index?.kind === 'index') {
      for (const m of index.index.manifests)
        if (!referrers.has(m.digest)) referrers.set(m.digest, { descriptor: m, listedBy: `the ${fallbackTag} tag's index` });
    }
  }
  for (const { descriptor: r, listedBy } of referrers.values()) {
    if (!isManifestType(r.mediaType)) continue;
    let stored: Stored;
    try {
      stored = await store.getManifest(r.digest, options);
    } catch (err) {
      if (err instanceof ProvenantError && err.code === 'NOT_FOUND') continue;
      if (!isBadContent(err)) throw err;
      const found = unreadableReferrer(r, listedBy, err);
      if (found !== undefined) yield found;
      continue;
    }
    if (stored.kind !== 'manifest' || stored.manifest.subject?.digest !== subject) continue;
    const m = stored.manifest;
    const artifactType = (m.artifactType ?? m.config.mediaType).split(';')[0] ?? '';
    if (isBundleMediaType(artifactType)) {
      const predicateType = m.annotations?.[BundleAnnotation.PredicateType];
      for (const l of m.layers) {
        if (!isBundleMediaType(l.mediaType)) continue;
        const p = bundleLayer(store, l, `referrer ${stored.digest}`, predicateType);
        if (!reads.deferred(p)) yield await reads.settle(p);
      }
      continue;
    }
    // cosign's experimental OCI 1.1 signatures and attestations: cosign 2 layers in a referrer.
    for (const [i, l] of m.layers.entries()) {
      const p = cosignLayer(store, l, `referrer ${stored.digest} layer ${i}`, 'referrers');
      if (p !== undefined && !reads.deferred(p)) yield await reads.settle(p);
    }
  }
  for (const p of reads.takeDeferred()) yield await reads.settle(p);
}

/**
 * Every signature and attestation of `subject` in `store` at once, as {@link eachSignature} finds
 * them: for a caller that needs them all together. Each holds its bytes, so what this holds grows
 * with what was listed; a caller that looks at one at a time iterates {@link eachSignature}.
 */
export async function findSignatures(store: ContentStore, subject: Digest, options: OperationOptions = {}): Promise<FoundSignature[]> {
  const out: FoundSignature[] = [];
  for await (const f of eachSignature(store, subject, options)) out.push(f);
  return out;
}

/**
 * A referrer listed as a manifest that is not one (not JSON, not a manifest, not its digest), as
 * one malformed entry, unless its descriptor says it is an artifact other than a signature (then
 * nothing is lost by passing it over, as a readable one would be). Its kind is what its
 * descriptor says, a signature when it says nothing.
 */
function unreadableReferrer(r: Descriptor, listedBy: string, err: ProvenantError): FoundCosignLayer | undefined {
  const artifactType = r.artifactType?.split(';')[0];
  if (artifactType !== undefined && !isBundleMediaType(artifactType) && !artifactType.startsWith('application/vnd.dev.cosign'))
    return undefined;
  const predicateType = r.annotations?.[BundleAnnotation.PredicateType];
  const attestation =
    (predicateType !== undefined && predicateType !== COSIGN_SIGN_PREDICATE_TYPE) || artifactType?.includes('.att') === true;
  return {
    storage: 'referrers',
    format: 'cosign-layer',
    kind: attestation ? 'attestation' : 'signature',
    source: `referrer ${r.digest}`,
    ...(predicateType === undefined ? {} : { predicateType }),
    layer: undefined,
    error: `listed by ${listedBy}, it is not a readable manifest: ${err.message}`,
  };
}

/** True for a Sigstore bundle's media type, of any version (cosign 3 writes v0.3). */
export function isBundleMediaType(mediaType: string): boolean {
  return mediaType.startsWith('application/vnd.dev.sigstore.bundle');
}

/**
 * A Sigstore bundle from its stored JSON, parsed and not verified.
 *
 * @throws SyntaxError when the bytes are not JSON, Error when the JSON is not a bundle
 */
export function parseBundle(bytes: Uint8Array): Bundle {
  return bundleFromJSON(JSON.parse(Buffer.from(bytes).toString('utf8')));
}

/** The cosign 2 layer `l` to read, undefined when it is neither a signature nor an attestation. */
function cosignLayer(store: ContentStore, l: Descriptor, source: string, storage: 'cosign' | 'referrers'): PendingSignature | undefined {
  const isSig = l.mediaType === SIMPLE_SIGNING_MEDIA_TYPE;
  const isAtt = l.mediaType === DSSE_MEDIA_TYPE;
  if (!isSig && !isAtt) return undefined;
  if (isSig && l.annotations?.[CosignAnnotation.Signature] === undefined) return undefined;
  const predicateType = l.annotations?.[CosignAnnotation.PredicateType];
  const base = {
    storage,
    format: 'cosign-layer' as const,
    kind: isSig ? ('signature' as const) : ('attestation' as const),
    source,
    ...(predicateType === undefined ? {} : { predicateType }),
  };
  return {
    descriptor: l,
    limit: isSig ? SIGNATURE_LIMIT : STATEMENT_LIMIT,
    found: (read) => {
      // As for a bundle: this layer is malformed, the others are still checked.
      if (!(read instanceof Uint8Array)) {
        return { ...base, layer: undefined, error: unreadBlob(store, l, 'layer', read) };
      }
      return { ...base, layer: { mediaType: l.mediaType, payload: read, annotations: { ...l.annotations } } };
    },
  };
}

/**
 * A signature blob to read (`descriptor`, up to `limit` bytes), and what it is once read: `found`
 * gets its bytes, or the error that kept them from being read.
 */
interface PendingSignature {
  descriptor: Descriptor;
  /**
   * {@link SIGNATURE_LIMIT} for a `.sig` layer; {@link STATEMENT_LIMIT} for what may hold an
   * attestation's statement: an SBOM's runs to megabytes, and what `attest` writes every reader reads.
   */
  limit: number;
  found: (read: Uint8Array | ProvenantError) => FoundSignature;
}

/** The bundle layer `l` of the bundle referrer `source`, to read. */
function bundleLayer(store: ContentStore, l: Descriptor, source: string, predicateType: string | undefined): PendingSignature {
  const base = {
    storage: 'referrers' as const,
    format: 'bundle' as const,
    kind: predicateType === undefined || predicateType === COSIGN_SIGN_PREDICATE_TYPE ? ('signature' as const) : ('attestation' as const),
    source,
    ...(predicateType === undefined ? {} : { predicateType }),
  };
  return {
    descriptor: l,
    limit: STATEMENT_LIMIT,
    found: (read) => {
      if (!(read instanceof Uint8Array)) {
        return { ...base, bundle: undefined, error: unreadBlob(store, l, 'bundle', read) };
      }
      try {
        return { ...base, bundle: parseBundle(read) };
      } catch (err) {
        return { ...base, bundle: undefined, error: `the bundle is malformed: ${(err as Error).message}` };
      }
    },
  };
}

/** Why the `what` blob `l` could not be read, for what is found in its place. */
function unreadBlob(store: ContentStore, l: Descriptor, what: 'layer' | 'bundle', err: ProvenantError): string {
  return err.code === 'NOT_FOUND' ? `the ${what} blob ${l.digest} is missing from ${store.location}` : err.message;
}

/**
 * An error that says the content is not what it should be (missing, too large, not a manifest,
 * not its digest): that artifact is malformed. Anything else (the network, credentials, a
 * cancel) stops the search, so that nothing is reported as unsigned for want of looking.
 */
export function isBadContent(err: unknown): err is ProvenantError {
  return (
    err instanceof ProvenantError &&
    ['NOT_FOUND', 'INVALID_MANIFEST', 'UNSUPPORTED_MEDIA_TYPE', 'DIGEST_MISMATCH', 'SIZE_MISMATCH'].includes(err.code)
  );
}

/**
 * The reads of one subject's signature blobs by {@link eachSignature}: each up to its limit, the
 * large ones (over {@link SIGNATURE_LIMIT}) put off to the end and read smallest first within
 * {@link LARGE_READ_LIMIT}, and the most recently read kept (up to {@link REREAD_CACHE_LIMIT}) for
 * a blob listed again. It keeps no other bytes: what it hands on is the caller's to keep or drop.
 */
class SignatureReads {
  readonly #store: ContentStore;
  readonly #options: OperationOptions;
  /** What is left of {@link LARGE_READ_LIMIT}. */
  #left = LARGE_READ_LIMIT;
  /** The large blobs put off, as listed (their descriptors and where they were, not their bytes). */
  #later: PendingSignature[] = [];
  /** Blobs read, by digest, oldest first; {@link #cachedBytes} their size together. */
  readonly #cache = new Map<Digest, Uint8Array>();
  #cachedBytes = 0;
  /**
   * The outcome of every blob read, past the cache: the size of each read whole or stated by the
   * store (by digest), and the error of each that failed (by digest and listed size: a blob listed
   * under a wrong size fails for that size only, and must not spoil the listing of its right size;
   * by digest alone for one read whole, its size unknown, which fails every listing of it).
   */
  readonly #lengths = new Map<Digest, number>();
  /**
   * Each large blob the store was asked the size of ({@link #stat}) and gave none: whether it
   * could not say (true) or said it lacks the blob (false). One it gave is in `#lengths`.
   */
  readonly #unsized = new Map<Digest, boolean>();
  readonly #failed = new Map<string, ProvenantError>();

  constructor(store: ContentStore, options: OperationOptions) {
    this.#store = store;
    this.#options = options;
  }

  /** True when `p` is large, and put off until {@link takeDeferred}; one over its limit is not (it is not read at all). */
  deferred(p: PendingSignature): boolean {
    const size = p.descriptor.size;
    if (size <= SIGNATURE_LIMIT || size > p.limit) return false;
    this.#later.push(p);
    return true;
  }

  /**
   * The large blobs put off, smallest first, those of one digest together (in the order they
   * were listed), so that each is read once: the smaller junk a pusher lists, the more of it
   * must be pushed to use up {@link LARGE_READ_LIMIT} before a real attestation.
   */
  takeDeferred(): PendingSignature[] {
    const later = this.#later;
    this.#later = [];
    const digestOrder = (x: Digest, y: Digest) => (x < y ? -1 : x > y ? 1 : 0);
    return later.sort((a, b) => a.descriptor.size - b.descriptor.size || digestOrder(a.descriptor.digest, b.descriptor.digest));
  }

  /** What `p` is, read (or why it could not be). */
  async settle(p: PendingSignature): Promise<FoundSignature> {
    try {
      return p.found(await this.#read(p.descriptor, p.limit));
    } catch (err) {
      if (!isBadContent(err)) throw err;
      return p.found(err);
    }
  }

  async #read(d: Descriptor, limit: number): Promise<Uint8Array> {
    const where = `${this.#store.location}@${d.digest}`;
    if (d.size > limit)
      throw new ProvenantError('INVALID_MANIFEST', `a signature layer of ${d.size} bytes is larger than ${limit}`, { where });
    const failed = this.#failed.get(`${d.digest} ${d.size}`) ?? this.#failed.get(d.digest);
    if (failed !== undefined) throw failed;
    const large = d.size > SIGNATURE_LIMIT;
    this.#checkLength(d, where);
    const held = this.#cache.get(d.digest);
    if (held !== undefined) return held;
    if (!large) return this.#readListed(d, limit, where, false);
    // Past what is left, not read, nor its size asked for: every listing after a spent bound
    // would else cost a HEAD.
    if (d.size > this.#left) throw this.#notRead(d, where);
    const sizeUnknown = await this.#stat(d.digest);
    this.#checkLength(d, where);
    // A store that cannot say the size has the blob read once, whole, by its digest alone: then
    // every listing of it is judged by its length, unread. Read at each listed size in turn, one
    // blob the store holds, listed under a few hundred sizes smaller than its own, was read up to
    // each before it failed: a gibibyte of reads of one pushed blob.
    if (sizeUnknown) return this.#readWhole(d, limit, where);
    // One the store says it lacks is read all the same (a registry's HEAD may say 404 where its
    // GET serves the blob), and charged: a missing one costs nothing.
    return this.#readListed(d, limit, where, true);
  }

  /** SIZE_MISMATCH when `d`'s blob is known to have another size than `d` says. */
  #checkLength(d: Descriptor, where: string): void {
    const length = this.#lengths.get(d.digest);
    if (length !== undefined && length !== d.size)
      throw new ProvenantError('SIZE_MISMATCH', `blob ${d.digest} has ${length} bytes, expected ${d.size}`, {
        where,
        hint: 'the descriptor that lists it says another size than the blob has',
      });
  }

  #notRead(d: Descriptor, where: string): ProvenantError {
    const spent = Math.min(LARGE_READ_LIMIT, LARGE_READ_LIMIT - this.#left);
    return new ProvenantError(
      'INVALID_MANIFEST',
      `a layer of ${d.size} bytes is not read: the layers over ${SIGNATURE_LIMIT} bytes listed for this image, read smallest first, came to ${spent} of the ${LARGE_READ_LIMIT} bytes read for one image (a tag or referrer pushed beside its signatures may list them)`,
      { where },
    );
  }

  /** The blob of `d` read as listed, up to `d.size`; what was read charged to the bound when `large`. */
  async #readListed(d: Descriptor, limit: number, where: string, large: boolean): Promise<Uint8Array> {
    // Bad content stays bad: the same descriptor listed again is found with the same error, unread.
    return this.#readCounted(d, limit, where, {
      charge: large,
      failed: (err) => this.#failed.set(`${d.digest} ${d.size}`, err),
    });
  }

  /**
   * The blob of `d`, whose size the store did not say, read whole by its digest (up to `limit`
   * and to what is left of the bound, charged): its length is then known, and its bytes kept
   * like any read's. What fails fails every listing of the digest. Only a registry (or a
   * store passing on its answers) says a size of -1 (a HEAD without Content-Length) or refuses
   * the HEAD (REGISTRY), and it reads a blob asked for with size -1 (ContentStore.readBlob).
   */
  async #readWhole(d: Descriptor, limit: number, where: string): Promise<Uint8Array> {
    const left = this.#left;
    const cap = Math.min(limit, left);
    let stopped: ProvenantError | undefined;
    const bytes = await this.#readCounted({ ...d, size: -1 }, cap, where, {
      charge: true,
      // Not its own failure when the bound ran out: every listing after it is not read anyway.
      failed: (err) => {
        if (err !== stopped) this.#failed.set(d.digest, err);
      },
      tooLarge: (read) => {
        if (cap === limit) return new ProvenantError('INVALID_MANIFEST', `blob ${d.digest} is larger than ${limit} bytes`, { where });
        stopped = new ProvenantError(
          'INVALID_MANIFEST',
          `the read of blob ${d.digest} (listed as ${d.size} bytes, its size not said by the store) stopped after ${read} bytes: past the ${left} bytes left of the ${LARGE_READ_LIMIT} bytes read for one image, the layers over ${SIGNATURE_LIMIT} bytes listed for this image, read smallest first, having come to ${LARGE_READ_LIMIT - left} (a tag or referrer pushed beside its signatures may list them)`,
          { where },
        );
        return stopped;
      },
    });
    this.#checkLength(d, where);
    return bytes;
  }

  /**
   * The blob `asked` for, read up to `limit` bytes (`tooLarge` says what went past it), its
   * length and bytes kept. What was read is charged to the bound when `charge`, whether the read
   * ends well or not (one that fails half way, not its digest, cost its bytes); not what was
   * listed: a small blob listed as a large one fails after its few bytes, and a missing one costs
   * nothing. `failed` hears of bad content, before it is charged.
   */
  async #readCounted(
    asked: Descriptor,
    limit: number,
    where: string,
    o: { charge: boolean; failed: (err: ProvenantError) => void; tooLarge?: (read: number) => ProvenantError },
  ): Promise<Uint8Array> {
    let read = 0;
    let bytes: Uint8Array;
    const { tooLarge } = o;
    try {
      bytes = await collect(
        countBytes(await this.#store.readBlob(asked, this.#options), (n) => (read += n)),
        limit,
        where,
        tooLarge && (() => tooLarge(read)),
      );
    } catch (err) {
      if (isBadContent(err)) o.failed(err);
      throw err;
    } finally {
      if (o.charge) this.#left -= read;
    }
    this.#lengths.set(asked.digest, bytes.length);
    this.#keep(asked.digest, bytes);
    return bytes;
  }

  /**
   * Asks the store for the size of a large blob, once per digest, before it is read: one listed
   * under a size it does not have then fails unread. Else a blob the store holds (an image's own
   * layer, the attestation itself) listed under many sizes smaller than its own would be read up
   * to each before failing, a gibibyte of reads for a few hundred descriptors. True when the
   * store cannot say: a registry's HEAD without Content-Length, or one the registry refuses
   * (405) while its GET serves the blob; the network, credentials or a cancel still stop the
   * search, as they would stop the read. False when it says the size, or that it lacks the blob.
   */
  async #stat(digest: Digest): Promise<boolean> {
    if (this.#lengths.has(digest)) return false;
    const asked = this.#unsized.get(digest);
    if (asked !== undefined) return asked;
    let stored: Descriptor | undefined;
    try {
      stored = await this.#store.statBlob(digest, this.#options);
    } catch (err) {
      if (!isBadContent(err) && !(err instanceof ProvenantError && err.code === 'REGISTRY')) throw err;
      stored = { mediaType: 'application/octet-stream', digest, size: -1 };
    }
    if (stored !== undefined && stored.size >= 0) {
      this.#lengths.set(digest, stored.size);
      return false;
    }
    const unknown = stored !== undefined;
    this.#unsized.set(digest, unknown);
    return unknown;
  }

  #keep(digest: Digest, bytes: Uint8Array): void {
    this.#cachedBytes -= this.#cache.get(digest)?.length ?? 0;
    this.#cache.delete(digest);
    this.#cache.set(digest, bytes);
    this.#cachedBytes += bytes.length;
    for (const [old, b] of this.#cache) {
      if (this.#cachedBytes <= REREAD_CACHE_LIMIT) break;
      this.#cache.delete(old);
      this.#cachedBytes -= b.length;
    }
  }
}

/** `stream`, telling `count` the size of each chunk as it passes. */
async function* countBytes(stream: ByteStream, count: (n: number) => void): ByteStream {
  for await (const chunk of stream) {
    count(chunk.byteLength);
    yield chunk;
  }
}

// The statements of attestation layers, read for every reader: image/statements.ts (inspect, sbom,
// report) and attest --replace here (which layers of the .att tag hold a statement of a type).

/** One statement read back. */
export interface ReadStatement {
  predicateType: string;
  statement: { predicateType?: string; subject?: unknown; predicate?: unknown };
  /**
   * Whether it was read out of a DSSE envelope (bare or in a Sigstore bundle) that carries a
   * signature, not verified: what lets a reader that shows one of two copies of a statement
   * prefer the signed copy. A statement in BuildKit's index is covered by the index's signature,
   * if any, not by one of its own, and is not counted as signed here.
   */
  signed: boolean;
}

/**
 * The in-toto statement one layer of an attachment's `manifest` holds, unverified, as
 * image/statements.ts's readStatements reads each; undefined for a layer of another media type, or a bundle
 * holding a message signature. Its predicate type is the layer's annotation where it has one,
 * else the statement's, else the bundle manifest's annotation, else `''`.
 *
 * @throws as image/statements.ts's readStatements: a ProvenantError when the blob cannot be read (missing, not
 *   matching its digest, larger than {@link STATEMENT_LIMIT}), another error when it is read but
 *   holds no statement
 */
export async function layerStatement(
  store: ContentStore,
  manifest: ImageManifest,
  layer: Descriptor,
  options: OperationOptions = {},
): Promise<ReadStatement | undefined> {
  if (!isStatementLayer(layer)) return undefined;
  const isDsse = layer.mediaType === ArtifactType.DsseEnvelope;
  const isBundle = isBundleMediaType(layer.mediaType);
  const bytes = await collect(await store.readBlob(layer, options), STATEMENT_LIMIT, `${store.location}@${layer.digest}`);
  let value: Record<string, unknown>;
  let signed = false;
  if (isBundle) {
    const content = parseBundle(bytes).content;
    if (content.$case !== 'dsseEnvelope') return undefined;
    value = parseObject(decodeUtf8(content.dsseEnvelope.payload));
    signed = content.dsseEnvelope.signatures.length > 0;
  } else {
    value = parseObject(decodeUtf8(bytes));
    // A DSSE layer holds an envelope by its media type; an in-toto layer holds one when other
    // tools put it there, as looseLayerStatement reads it too.
    const envelope = dsseOf(value, isDsse);
    if (envelope !== undefined) {
      value = parseObject(envelope.payload);
      signed = envelope.signed;
    }
  }
  return { predicateType: predicateTypeOf(manifest, layer, value), statement: value as ReadStatement['statement'], signed };
}

/**
 * Whether {@link layerStatement} reads `layer` (an in-toto layer, a DSSE envelope layer, a
 * Sigstore bundle): the layers whose statements image/statements.ts's readStatements gives.
 */
export function isStatementLayer(layer: Descriptor): boolean {
  return layer.mediaType === ArtifactType.InToto || layer.mediaType === ArtifactType.DsseEnvelope || isBundleMediaType(layer.mediaType);
}

/**
 * The statement text a DSSE envelope carries base64-encoded in `payload`
 * (https://github.com/secure-systems-lab/dsse/blob/master/envelope.md), and whether it carries a
 * signature; undefined when `value` is not an envelope: no string `payload` and `payloadType`
 * (no in-toto statement has them), or no `payload` in a layer whose media type says it holds an
 * envelope (`inDsseLayer`). {@link layerStatement} and {@link looseLayerStatement} both unwrap an
 * envelope through it, so that they find the same statement in the same layer.
 */
export function dsseOf(value: object | undefined, inDsseLayer = false): { payload: string; signed: boolean } | undefined {
  const v = value as { payload?: unknown; payloadType?: unknown; signatures?: unknown } | undefined;
  if (typeof v?.payload !== 'string' || (!inDsseLayer && typeof v.payloadType !== 'string')) return undefined;
  return { payload: Buffer.from(v.payload, 'base64').toString('utf8'), signed: hasSignatures(v) };
}

/** Whether a DSSE envelope lists a signature (any: none is verified here). */
function hasSignatures(envelope: { signatures?: unknown }): boolean {
  return Array.isArray(envelope.signatures) && envelope.signatures.length > 0;
}

/**
 * A statement's predicate type: its layer's annotation where it has one, else the statement's,
 * else the bundle manifest's annotation, else `''`.
 */
export function predicateTypeOf(manifest: ImageManifest, layer: Descriptor, value: { predicateType?: unknown }): string {
  return (
    layer.annotations?.[Annotation.InTotoPredicateType] ??
    layer.annotations?.predicateType ??
    (typeof value.predicateType === 'string' ? value.predicateType : undefined) ??
    manifest.annotations?.[BundleAnnotation.PredicateType] ??
    ''
  );
}

/** `text` as JSON that is an object, or undefined when it is not JSON or JSON of another kind. */
export function jsonObject(text: string): Record<string, unknown> | undefined {
  try {
    return parseObject(text);
  } catch {
    return undefined;
  }
}

/**
 * `text` as JSON that is an object, as a statement or an envelope is.
 *
 * @throws SyntaxError when it is not JSON, JSON of another kind (`null`, a number, a list), or
 *   JSON nesting deeper than {@link STATEMENT_DEPTH_LIMIT} (which every walk of it downstream would
 *   overflow the stack on): callers report each as a statement that is not one
 */
function parseObject(text: string): Record<string, unknown> {
  if (nestsDeeperThan(text)) {
    throw new SyntaxError(`the statement nests lists and objects more than ${STATEMENT_DEPTH_LIMIT} levels deep`);
  }
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SyntaxError(
      `the statement is ${value === null ? 'null' : Array.isArray(value) ? 'a list' : `a ${typeof value}`}, not a JSON object`,
    );
  }
  return value as Record<string, unknown>;
}
