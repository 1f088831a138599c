/**
 * inspectImage: an image's manifests and platforms, and what is attached to each in all three
 * attestation storages, with whether each signature and attestation is signed and by whom it
 * says (read off the signature material; `verifyImage` is what checks it). With `details`, also
 * what each image's manifest and config say: its layers, when it was made, its labels and how it runs.
 */
import { ArtifactType, type Attachment, findAttachments, isBuildkitAttestation } from '../attest/attachments.ts';
import { decodeUtf8 } from '../bytes.ts';
import { isProvenantError, ProvenantError } from '../errors.ts';
import { forEachLimited, Limiter } from '../io/limit.ts';
import type { OperationOptions } from '../io/types.ts';
import { collect } from '../io/verify.ts';
import type { Stored, StoredManifest } from '../oci/content.ts';
import type { Digest } from '../oci/digest.ts';
import { isManifestLike } from '../oci/mediatypes.ts';
import { configPlatform, formatPlatform } from '../oci/platform.ts';
import type { ContainerConfig, Platform } from '../oci/types.ts';
import { type SignatureSummary, summarizeSignatures } from '../sign/inspect.ts';
import type { ContentStore } from '../store/types.ts';
import { imageConfigBytes } from './config-platform.ts';

/** An attachment, with what its signatures claim for a signature or attestation. */
export interface InspectedAttachment extends Attachment {
  /**
   * For signatures and attestations: each signature it holds (a cosign tag holds one per layer),
   * whether it is signed and by which key id or identity; [] for an unsigned one (BuildKit's).
   */
  signatures?: SignatureSummary[];
}

/** A layer of an image, as its manifest lists it. */
export interface InspectedLayer {
  digest: Digest;
  mediaType: string;
  size: number;
}

/**
 * One image manifest of an inspected image. The fields after `attachments` are read only with
 * {@link InspectOptions.details}: `layers` from the manifest, the rest from its image config
 * (`created`, `config.Labels`, `config.Env`, ...), each present only when the config gives it.
 */
export interface InspectedManifest {
  digest: Digest;
  mediaType: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
  /** Signatures, attestations and SBOMs attached to this manifest, from every storage. */
  attachments: InspectedAttachment[];
  /** The config's `created`, as it is written (RFC 3339). */
  created?: string;
  /** `config.Labels`, in key order. */
  labels?: Record<string, string>;
  env?: string[];
  entrypoint?: string[];
  cmd?: string[];
  user?: string;
  workingDir?: string;
  /** The manifest's layers, in order. */
  layers?: InspectedLayer[];
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
  /**
   * Read each image's manifest and config too (default false), for its layers, created time,
   * labels and run settings: one manifest and one config read per platform of an index.
   */
  details?: boolean;
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
    // Four at a time, as copy's blobs: an index of many platforms must not open a connection for each.
    if (options.details) await forEachLimited(distinct(manifests), new Limiter(4), (m) => addEntryDetails(store, m, manifests, options));
  } else {
    const m: InspectedManifest = { digest: root.digest, mediaType: root.mediaType, size: root.bytes.byteLength, attachments: [] };
    const config = await imageConfigBytes(store, root, options);
    const platform = config === undefined ? undefined : configPlatform(config);
    if (platform !== undefined) m.platform = platform;
    if (options.details) addDetails(m, root, config);
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

/** The largest config `inspect --config` prints: it is held until its digest checked out. */
const PRINTED_CONFIG_LIMIT = 64 * 1024 * 1024;

/**
 * The config blob of the image manifest `stored`, byte for byte as stored (so its digest is the
 * one the manifest names), whatever its media type, as `skopeo inspect --config --raw` prints it.
 *
 * @throws ProvenantError `TOO_LARGE` over 64 MiB; what the store raises reading it (`NOT_FOUND`,
 *   `DIGEST_MISMATCH`, `ABORTED`)
 */
export async function configOf(store: ContentStore, stored: StoredManifest, options: OperationOptions = {}): Promise<Uint8Array> {
  const { config } = stored.manifest;
  const where = `${store.location}@${config.digest}`;
  return collect(
    await store.readBlob(config, options),
    PRINTED_CONFIG_LIMIT,
    where,
    () => new ProvenantError('TOO_LARGE', `the config is larger than ${PRINTED_CONFIG_LIMIT} bytes`, { where }),
  );
}

/** The first entry of each digest: an index may list one manifest twice, which is read once. */
function distinct(manifests: InspectedManifest[]): InspectedManifest[] {
  const first = new Map<Digest, InspectedManifest>();
  for (const m of manifests) if (!first.has(m.digest)) first.set(m.digest, m);
  return [...first.values()];
}

/**
 * Reads the details of an index's entry `m` and gives them to every entry that lists its digest.
 * An entry whose manifest or config the store lacks (an export of some platforms may keep the
 * whole index) is said and left without them, as the rest of the image is still worth showing.
 */
async function addEntryDetails(
  store: ContentStore,
  m: InspectedManifest,
  all: InspectedManifest[],
  options: InspectOptions,
): Promise<void> {
  let stored: Stored;
  let config: Uint8Array | undefined;
  try {
    stored = await store.getManifest(m.digest, options);
    if (stored.kind !== 'manifest') return;
    config = await imageConfigBytes(store, stored, options);
  } catch (err) {
    if (!isProvenantError(err) || err.code !== 'NOT_FOUND') throw err;
    const which = m.platform === undefined ? 'image' : `${formatPlatform(m.platform)} image`;
    options.logger?.warn(`the ${which} ${m.digest} or its config is not in ${store.location}: its layers and config are not shown`);
    return;
  }
  for (const x of all) if (x.digest === m.digest) addDetails(x, stored, config);
}

/** The layers of `stored` and what its config says, on `m`. */
function addDetails(m: InspectedManifest, stored: StoredManifest, config: Uint8Array | undefined): void {
  const layers = stored.manifest.layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size }));
  if (config !== undefined) addConfig(m, config);
  m.layers = layers;
}

/** What the config's bytes say of the image, on `m`; a field of a wrong type is left out, as it says nothing. */
function addConfig(m: InspectedManifest, config: Uint8Array): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decodeUtf8(config));
  } catch {
    return;
  }
  if (!isObject(parsed)) return;
  if (typeof parsed.created === 'string') m.created = parsed.created;
  const c = isObject(parsed.config) ? (parsed.config as Partial<Record<keyof ContainerConfig, unknown>>) : {};
  if (isObject(c.Labels)) {
    const labels = Object.entries(c.Labels).filter((e): e is [string, string] => typeof e[1] === 'string');
    if (labels.length > 0) m.labels = Object.fromEntries(labels.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
  if (isStrings(c.Env)) m.env = c.Env;
  if (isStrings(c.Entrypoint)) m.entrypoint = c.Entrypoint;
  if (isStrings(c.Cmd)) m.cmd = c.Cmd;
  if (typeof c.User === 'string' && c.User !== '') m.user = c.User;
  if (typeof c.WorkingDir === 'string' && c.WorkingDir !== '') m.workingDir = c.WorkingDir;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isStrings(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
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
