/**
 * inspectImage: an image's manifests and platforms, and what is attached to each in all three
 * attestation storages, with whether each signature and attestation is signed and by whom it
 * says (read off the signature material; `verifyImage` is what checks it). With `details`, also
 * what each image's manifest and config say: its layers, when it was made, its labels and how it runs.
 */
import { ArtifactType, type Attachment, findAttachments, isBuildkitAttestation } from '../attest/attachments.ts';
import { isProvenantError } from '../errors.ts';
import { forEachLimited, Limiter } from '../io/limit.ts';
import type { OperationOptions } from '../io/types.ts';
import type { Stored, StoredIndex, StoredManifest } from '../oci/content.ts';
import type { Digest } from '../oci/digest.ts';
import { isManifestLike } from '../oci/mediatypes.ts';
import { configPlatform, formatPlatform } from '../oci/platform.ts';
import type { Platform } from '../oci/types.ts';
import { attestationManifestSignatures, ownSummaries, type SignatureSummary, summarizeSignatures } from '../sign/inspect.ts';
import type { ContentStore } from '../store/types.ts';
import { platformFromConfig } from './config-platform.ts';
import { CONFIG_LIMIT, hasImageConfig, type RunSettings, readImageConfig, runSettings } from './image-config.ts';

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
 * One image manifest of an inspected image. `layers` and the run settings are read only with
 * {@link InspectOptions.details}: `layers` from the manifest, the rest from its image config
 * (`created`, `config.Labels`, `config.Env`, ...), each present only when the config gives it.
 */
export interface InspectedManifest extends RunSettings {
  digest: Digest;
  mediaType: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
  /** Signatures, attestations and SBOMs attached to this manifest, from every storage. */
  attachments: InspectedAttachment[];
  /** The manifest's layers, in order. */
  layers?: InspectedLayer[];
  /**
   * Why its layers or settings are not shown, when they could not be read (with `details`: a
   * manifest or config not in the store, not JSON, too large); the same words as the warning.
   */
  detailsMissing?: string;
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
   * labels and run settings: one manifest and one config read per platform of an index. A
   * config that is not JSON or is over {@link CONFIG_LIMIT}, and an index's entry whose manifest
   * or config is not there (a copy of some platforms only) or is no manifest, is warned about
   * through `logger`, naming the platform and digest, and the rest is shown. Any other failure to
   * read (a digest or size mismatch, a registry's auth or network error) is raised, as is every
   * failure to read a single image's manifest or config, as without details.
   */
  details?: boolean;
  /**
   * The index `target` was picked from (`inspect --platform`): its BuildKit attestations for
   * `target` are shown, as they are when the whole index is inspected, and its entry's platform.
   */
  parent?: StoredIndex;
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
    if (options.details) {
      // Each image's warnings are said in the index's order, whichever read finished first.
      const images = distinct(manifests);
      const said = new Map<Digest, string[]>(images.map((m) => [m.digest, []]));
      await forEachLimited(images, new Limiter(4), async (m) => {
        await addEntryDetails(store, m, manifests, options, (w) => said.get(m.digest)?.push(w));
      });
      for (const w of [...said.values()].flat()) options.logger?.warn(w);
    }
  } else {
    const m: InspectedManifest = { digest: root.digest, mediaType: root.mediaType, size: root.bytes.byteLength, attachments: [] };
    const entry = options.parent?.index.manifests.find((d) => d.digest === root.digest && d.platform !== undefined);
    if (entry?.platform !== undefined) m.platform = entry.platform;
    if (options.details) {
      // A config that is not JSON or too large is said (addEntryDetails) and costs only its platform.
      const config = await addEntryDetails(store, m, [m], options, (w) => options.logger?.warn(w), root);
      const platform = config === undefined || m.platform !== undefined ? undefined : configPlatform(config);
      if (platform !== undefined) m.platform = platform;
    } else if (m.platform === undefined) {
      // A config too large to read costs only its platform, as it does with the details.
      const platform = await platformFromConfig(store, root, options).catch((err: unknown) => {
        if (isProvenantError(err, 'TOO_LARGE')) return undefined;
        throw err;
      });
      if (platform !== undefined) m.platform = platform;
    }
    manifests.push(m);
  }
  // An index may list the same manifest twice (for two platforms, or by mistake): it is one
  // subject, asked about once, and what is attached to it belongs to every entry that lists it.
  const subjects = [...new Set([root.digest, ...manifests.map((m) => m.digest)])];
  const index = root.kind === 'index' ? root.index : options.parent?.index;
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

/** The first entry of each digest: an index may list one manifest twice, which is read once. */
function distinct(manifests: InspectedManifest[]): InspectedManifest[] {
  const first = new Map<Digest, InspectedManifest>();
  for (const m of manifests) if (!first.has(m.digest)) first.set(m.digest, m);
  return [...first.values()];
}

/**
 * Reads the details of the image `m` and gives them to every entry of `all` that lists its
 * digest, and returns its parsed config when it was read. `stored` is its manifest, given
 * for a single image and read here for an index's entry. What is not there to show is said
 * through `warn` and left out, as the rest of the image is still worth showing: a config that
 * is not JSON or too large; of an index's entry, a manifest or config that is not there (a
 * sparse copy) or a manifest that is none. An index's entry that is itself an index has no
 * layers or config to show, and is shown as the index lists it. Anything else is raised:
 * {@link detailsMissing}.
 */
async function addEntryDetails(
  store: ContentStore,
  m: InspectedManifest,
  all: InspectedManifest[],
  options: InspectOptions,
  warn: (warning: string) => void,
  stored?: StoredManifest,
): Promise<Record<string, unknown> | undefined> {
  const which = m.platform === undefined ? `the image ${m.digest}` : `the ${formatPlatform(m.platform)} image ${m.digest}`;
  const listing = all.filter((x) => x.digest === m.digest);
  // Said as a warning, and kept on the entries, so that JSON tells a config not read from one without settings.
  const missing = (why: string): undefined => {
    for (const x of listing) x.detailsMissing = why;
    warn(why);
    return undefined;
  };
  // A single image's manifest and config are what is inspected: failing to read them fails it.
  const entry = stored === undefined;
  if (stored === undefined) {
    let read: Stored;
    try {
      read = await store.getManifest(m.digest, options);
    } catch (err) {
      const why = detailsMissing(err, true);
      return missing(
        why === undefined
          ? `${which} is not in ${store.location}: its layers and config are not shown`
          : `${which}: ${why}: its layers and config are not shown`,
      );
    }
    if (read.kind !== 'manifest') return undefined;
    stored = read;
  }
  const layers = stored.manifest.layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size }));
  for (const x of listing) x.layers = layers;
  // An artifact's config says nothing of how an image runs.
  if (!hasImageConfig(stored)) return undefined;
  const { config } = stored.manifest;
  const of = `the config ${config.digest} of ${which}`;
  try {
    const parsed = await readImageConfig(store, config, `${store.location}@${config.digest}`, options);
    const settings = runSettings(parsed);
    for (const x of listing) Object.assign(x, settings);
    return parsed;
  } catch (err) {
    if (isProvenantError(err, 'TOO_LARGE')) {
      return missing(
        `${of} is ${config.size} bytes, more than the ${CONFIG_LIMIT} inspect reads: its settings are not shown (--config prints it)`,
      );
    }
    const why = detailsMissing(err, entry);
    return missing(
      why === undefined ? `${of} is not in ${store.location}: its settings are not shown` : `${of}: ${why}: its settings are not shown`,
    );
  }
}

/**
 * Why an image's details are not shown, for a warning (undefined: it is not in the store), or
 * `err` rethrown. A config that is not JSON or too large is said; an index's `entry` that is not
 * there is too (a copy of some platforms only), or whose manifest is none (INVALID_MANIFEST: not
 * JSON, too large, not a manifest). Anything else is a failure of the command, with its exit
 * code, as skopeo inspect and crane config fail: a digest or size mismatch (content that is
 * there but not what was named), a registry's auth and network errors, an abort, a bug.
 */
function detailsMissing(err: unknown, entry: boolean): string | undefined {
  if (isProvenantError(err, 'INVALID_CONFIG', 'TOO_LARGE') || (entry && isProvenantError(err, 'INVALID_MANIFEST'))) return err.message;
  if (entry && isProvenantError(err, 'NOT_FOUND')) return undefined;
  throw err;
}

/** Fills in each signature's and attestation's signers, read once per subject. */
async function addSigners(store: ContentStore, attachments: InspectedAttachment[], options: OperationOptions): Promise<void> {
  // A malformed signature image must not hide the rest of the image; inspect shows what it can.
  const shown = (err: unknown): SignatureSummary[] => {
    if (isProvenantError(err) && err.code !== 'ABORTED') return [];
    throw err;
  };
  const bySubject = new Map<Digest, SignatureSummary[]>();
  const summariesOf = async (subject: Digest): Promise<SignatureSummary[]> => {
    let summaries = bySubject.get(subject);
    if (summaries === undefined) {
      summaries = await summarizeSignatures(store, subject, options).catch(shown);
      bySubject.set(subject, summaries);
    }
    return summaries;
  };
  for (const a of attachments) {
    if (a.kind !== 'signature' && a.kind !== 'attestation') continue;
    if (a.storage === 'buildkit' || a.artifactType === ArtifactType.BuildkitAttestation) {
      // BuildKit's statements carry no signature of their own, but the attestation manifest is
      // signed as the images are (`sign --recursive`, `build --sign`, the Action): its own
      // signatures, as `report` shows them and `verify` checks them.
      a.signatures = await attestationManifestSignatures(store, a.digest, options).catch(shown);
      continue;
    }
    a.signatures = ownSummaries(a, await summariesOf(a.subject));
  }
}
