/**
 * `provenant index create DST SRC...`: single-platform images from any stores merged into one
 * image index, as `docker buildx imagetools create` merges them, each platform's referrers,
 * attestations and signatures brought along.
 *
 * Made for scale-out builds: one runner per architecture runs `build --arch`, pushes by digest,
 * and a last job merges. The merged index is the one `build` writes for all the architectures at
 * once, byte for byte, when the sources are the one-platform indexes those builds wrote, given in
 * the order of the configuration's `archs`: the entries are the sources' own descriptors in the
 * order given (the builder lists platforms in `archs` order, ../builder/image.ts makeIndex), the
 * annotations are the sources' (the builder writes the same `created` and configuration
 * annotations into every index it makes), and the document has makeIndex's shape.
 *
 * What is signed stays verifiable: signatures and attestations are about platform manifests
 * (their digests do not change), so they are copied with them. Those of a source's own index
 * sign that index's digest: they are carried when the merged index is that very index (its
 * platforms merged back as they were), and not otherwise. Sign the merged index once it is written.
 */
import { ArtifactType, isBuildkitAttestation } from '../attest/attachments.ts';
import { type Attested, type StatementSource, storeAttestations } from '../attest/storage.ts';
import { ProvenantError, throwIfAborted } from '../errors.ts';
import type { OperationOptions } from '../io/types.ts';
import { descriptorOf, encodeJson, parseStored, type Stored, subjectOf } from '../oci/content.ts';
import type { Digest } from '../oci/digest.ts';
import { isIndexType, MediaType } from '../oci/mediatypes.ts';
import { formatPlatform, isUnknownPlatform, normalizePlatform, platformMatches } from '../oci/platform.ts';
import { Annotation, type Descriptor, type ImageIndex, type Platform } from '../oci/types.ts';
import type { ContentStore } from '../store/types.ts';
import { blobIn, copyImage, mountSources } from './copy.ts';
import { readImageConfig } from './image-config.ts';
import { attachmentOf, isAttachedEntry } from './index-entries.ts';

/** One image to merge: a platform manifest, or an index of runnable images (what `build --arch` writes). */
export interface IndexSource {
  store: ContentStore;
  /** A tag or digest in `store`. */
  target: string;
}

/**
 * What becomes of attestations:
 * - `keep` (default): each stays in the storage it is in: BuildKit entries of a source index are
 *   carried into the merged index, referrers stay referrers.
 * - `buildkit`: every platform gets its attestations as BuildKit entries in the merged index;
 *   attestation referrers (BuildKit's artifact type, as `build --attestations referrers` writes
 *   them) are re-created in that form.
 * - `referrers`: BuildKit entries of the sources become OCI referrers of their platform manifest,
 *   other artifacts listed with a subject (imagetools' linux/"" SBOMs) are copied as the referrers
 *   they are, and the merged index holds images only.
 */
export type IndexAttestations = 'keep' | 'buildkit' | 'referrers';

/** Options of {@link createIndex}. */
export interface CreateIndexOptions extends OperationOptions {
  /**
   * Annotations of the merged index. The sources' index annotations are merged first (a key two
   * sources give different values is an error unless it is set here); these are then set over them.
   */
  annotations?: Readonly<Record<string, string>> | undefined;
  attestations?: IndexAttestations | undefined;
  /**
   * Annotations of the image entries (descriptors) in the merged index, each on every image or,
   * with `platform`, on that platform's (as containerd matches platforms): what
   * `docker buildx imagetools create --annotation manifest-descriptor[PLATFORM]:KEY=VALUE` sets.
   * The images themselves do not change, so neither do their digests and signatures.
   */
  entryAnnotations?: readonly EntryAnnotation[] | undefined;
  /** Parallel blob transfers per copy (default 4). */
  concurrency?: number | undefined;
}

/** An annotation of the merged index's image entries (see {@link CreateIndexOptions.entryAnnotations}). */
export interface EntryAnnotation {
  key: string;
  value: string;
  /** Only the entry of this platform; every image entry when absent. */
  platform?: Platform | undefined;
}

/** One platform of the merged index. */
export interface IndexPlatform {
  platform: string;
  digest: Digest;
  /** Where it came from: the source's store and target. */
  source: string;
}

/** What {@link createIndex} wrote. */
export interface CreateIndexResult {
  /** The merged index's descriptor (what the destination's tags point at). */
  descriptor: Descriptor;
  /** The merged index's exact bytes and parsed form. */
  index: Stored;
  platforms: IndexPlatform[];
  /**
   * Referrers of the platform images (signatures, attestations, and theirs) this run copied or
   * made (`attestations: 'referrers'`), and of the merged index when a source was that index;
   * not those the destination held already.
   */
  referrers: number;
  /** cosign `sha256-<hex>.sig|att|sbom` tags written or added to; not those the destination held as they are. */
  cosignTags: number;
  /** BuildKit attestation entries of the merged index, carried from the sources or made (`attestations: 'buildkit'`). */
  attestationEntries: number;
}

/** A platform image found in a source, with the entries of its index attached to it (BuildKit attestations, artifacts). */
interface Found {
  source: IndexSource;
  /** The entry for the merged index: the source index's own descriptor, or one made for a bare manifest. */
  entry: Descriptor & { platform: Platform };
  attestations: Descriptor[];
}

/**
 * Merges the images of `sources` into one index written to `dst.store` and tagged `dst.tags`
 * (tags last, after every platform, referrer and attestation is there). Returns what was written.
 *
 * @throws ProvenantError `USAGE` for no sources, a source that is not a runnable image (a
 *   signature, an attestation manifest, another artifact), two different images of one platform
 *   (one image named twice is taken once), annotations the sources disagree on, or an entry
 *   annotation for a platform no source holds; `NOT_FOUND` for a missing source;
 *   whatever the stores raise
 */
export async function createIndex(
  sources: readonly IndexSource[],
  dst: { store: ContentStore; tags: readonly string[] },
  options: CreateIndexOptions = {},
): Promise<CreateIndexResult> {
  if (sources.length === 0) throw new ProvenantError('USAGE', 'index create needs at least one source image');
  const mode = options.attestations ?? 'keep';
  const found: Found[] = [];
  const merged = new AnnotationMerge();
  const roots: Array<{ source: IndexSource; digest: Digest }> = [];
  for (const source of sources) {
    throwIfAborted(options.signal);
    const root = await source.store.getManifest(source.target, options);
    if (root.kind === 'index') {
      merged.add(root.index.annotations, where(source));
      roots.push({ source, digest: root.digest });
    }
    found.push(...(await imagesOf(source, root, options)));
  }
  const unique = onceEach(found);
  assertDistinct(unique);
  // Every entry annotation is checked before the first image is copied, so a wrong one writes nothing.
  for (const a of options.entryAnnotations ?? []) {
    if (a.key === '') throw new ProvenantError('USAGE', 'an annotation of the image entries needs a key');
    const wanted = a.platform;
    if (wanted !== undefined && !unique.some((f) => platformMatches(wanted, f.entry.platform))) {
      const want = formatPlatform(normalizePlatform(wanted));
      throw new ProvenantError('USAGE', `the annotation ${a.key} is for ${want}, and no source holds a ${want} image`, {
        hint: `the platforms merged: ${unique.map((f) => formatPlatform(f.entry.platform)).join(', ')}`,
      });
    }
  }
  const annotations = merged.result(options.annotations ?? {});

  const copyOptions = {
    ...pick(options),
    withReferrers: true,
    // The images and attestations are the index's: a layout lists the index alone, not each of them.
    keepAsRoot: false,
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
  };
  let cosignTags = 0;
  const images: Descriptor[] = [];
  const extra: Descriptor[] = [];
  // The referrers the destination held before, so that the summary counts what this run brought
  // or made, as it counts cosign tags (copyImage lists a referrer it found there already too).
  const held = new Set<string>();
  for (const f of unique) {
    if ((await dst.store.resolve(f.entry.digest, options)) === undefined) continue;
    for (const d of await referrersAt(dst.store, f.entry.digest, options)) held.add(d);
  }
  for (const f of unique) {
    throwIfAborted(options.signal);
    // Attestation referrers that `buildkit` re-creates as entries of the index are not copied as referrers too.
    const image = f.entry.digest;
    const copied = await copyImage(
      f.source.store,
      image,
      dst.store,
      mode === 'buildkit'
        ? { ...copyOptions, referrerFilter: (r, subject) => subject !== image || r.artifactType !== ArtifactType.BuildkitAttestation }
        : copyOptions,
    );
    cosignTags += copied.cosignTags.length;
    images.push(annotateEntry(f.entry, options.entryAnnotations ?? []));
  }
  // Attestation entries follow every image, in image order: where storeAttestations puts them.
  const base = indexOf(images, {});
  for (const f of unique) {
    throwIfAborted(options.signal);
    extra.push(...(await attestationsFor(f, dst.store, base, mode, copyOptions)));
  }
  const index = indexOf([...images, ...extra], annotations);
  const subjects: Digest[] = unique.map((f) => f.entry.digest);
  // A source index that is the merged one (its platforms merged back as they were): its own
  // signatures and attestations name this very digest, so they still hold and come along.
  const same = roots.find((r) => r.digest === index.digest);
  if (same !== undefined) {
    if ((await dst.store.resolve(index.digest, options)) !== undefined) {
      for (const d of await referrersAt(dst.store, index.digest, options)) held.add(d);
    }
    const platforms = new Set<string>(subjects);
    // The platforms' referrers were brought (or left out, by `attestations`) above already.
    const copied = await copyImage(same.source.store, index.digest, dst.store, {
      ...copyOptions,
      referrerFilter: (_r, subject) => !platforms.has(subject),
    });
    cosignTags += copied.cosignTags.length;
    subjects.push(index.digest);
  }
  // Copied or made (`--attestations referrers`): whatever is there now and was not before.
  let referrers = 0;
  for (const subject of subjects) for (const d of await referrersAt(dst.store, subject, options)) if (!held.has(d)) referrers++;
  await dst.store.putManifest(index, { ...pick(options), tags: [...dst.tags], keepAsRoot: true });
  return {
    descriptor: descriptorOf(index),
    index,
    platforms: unique.map((f) => ({ platform: formatPlatform(f.entry.platform), digest: f.entry.digest, source: where(f.source) })),
    referrers,
    cosignTags,
    attestationEntries: extra.length,
  };
}

/** The digests of `subject`'s referrers in `store`, and of theirs (signatures of attestations). */
async function referrersAt(store: ContentStore, subject: Digest, options: OperationOptions): Promise<Set<Digest>> {
  const out = new Set<Digest>();
  const queue = [subject];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    for (const r of await store.referrers(next, options)) {
      if (out.has(r.digest)) continue;
      out.add(r.digest);
      queue.push(r.digest);
    }
  }
  return out;
}

/** `entry` with the annotations of `set` that are for its platform set over its own. */
function annotateEntry<T extends Descriptor & { platform: Platform }>(entry: T, set: readonly EntryAnnotation[]): T {
  const mine = set.filter((a) => a.platform === undefined || platformMatches(a.platform, entry.platform));
  if (mine.length === 0) return entry;
  const annotations = { ...entry.annotations };
  for (const a of mine) annotations[a.key] = a.value;
  return { ...entry, annotations };
}

/** The index document, in the shape ../builder/image.ts makeIndex writes. */
function indexOf(manifests: Descriptor[], annotations: Record<string, string>): Stored {
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests,
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
  } as ImageIndex;
  return parseStored(encodeJson(index), { mediaType: MediaType.OciIndex });
}

/** The runnable images of a source (one for a manifest), with their BuildKit attestation entries. */
async function imagesOf(source: IndexSource, root: Stored, options: OperationOptions): Promise<Found[]> {
  if (root.kind === 'manifest') {
    const platform = await platformOf(source.store, root, source.target, where(source), options);
    return [{ source, entry: { ...descriptorOf(root), platform }, attestations: [] }];
  }
  const out: Found[] = [];
  // The entries attached to an image (BuildKit's attestations, imagetools' linux/"" SBOMs,
  // manifests with a subject), by the image they are about: carried with it, never a platform.
  const attached: Array<{ entry: Descriptor; about: Digest | undefined }> = [];
  for (const d of root.index.manifests) {
    const about = d.annotations?.[Annotation.DockerReferenceDigest] as Digest | undefined;
    // Judged by the descriptor first: BuildKit exports may leave attestation manifests out.
    if (isAttachedEntry(d)) {
      const stored = isBuildkitAttestation(d) ? undefined : await source.store.getManifest(d.digest, options);
      attached.push({ entry: d, about: (stored === undefined ? undefined : subjectOf(stored)?.digest) ?? about });
      continue;
    }
    if (isIndexType(d.mediaType)) {
      throw new ProvenantError('USAGE', `${where(source)} holds a nested index (${d.digest}); merge its images instead`, {
        where: where(source),
      });
    }
    const manifest = await source.store.getManifest(d.digest, options);
    if (isAttachedEntry(d, manifest)) {
      attached.push({ entry: d, about: subjectOf(manifest)?.digest ?? about });
      continue;
    }
    const platform = d.platform ?? (await platformOf(source.store, manifest, d.digest, `${where(source)} entry ${d.digest}`, options));
    out.push({ source, entry: { ...d, platform }, attestations: [] });
  }
  for (const f of out) f.attestations = attached.filter((a) => a.about === f.entry.digest).map((a) => a.entry);
  if (out.length === 0) {
    throw new ProvenantError('USAGE', `${where(source)} is an index without any runnable image`, {
      where: where(source),
      hint: 'name an image index or a platform manifest',
    });
  }
  return out;
}

/**
 * The platform of a bare image manifest, from its config: os, architecture, variant, os.version
 * and os.features, in the order the builder writes them. `target` is the name it was read by (a
 * cosign `.sig`/`.att` tag says what it is). USAGE for what is not a runnable image.
 */
async function platformOf(store: ContentStore, manifest: Stored, target: string, at: string, options: OperationOptions): Promise<Platform> {
  if (manifest.kind !== 'manifest') throw new ProvenantError('USAGE', `${at} is an index, not a platform image`, { where: at });
  const config = manifest.manifest.config;
  if (manifest.manifest.artifactType !== undefined || !IMAGE_CONFIG_TYPES.has(config.mediaType)) {
    throw notRunnable(at, `its config is ${config.mediaType}`);
  }
  const attached = attachmentOf(manifest, target);
  if (attached !== undefined) throw notRunnable(at, `it is ${attached}`);
  const doc = await readImageConfig(store, config, `${at} config`, options);
  const text = (k: string): string | undefined => (typeof doc[k] === 'string' && doc[k] !== '' ? (doc[k] as string) : undefined);
  const os = text('os');
  const architecture = text('architecture');
  // BuildKit's attestation manifests have an image's shape (in-toto layers), and say
  // unknown/unknown in their config, as their index entry does: that rules them out, as it rules
  // out the entry (isAttachedEntry).
  if (isUnknownPlatform({ os: os ?? '', architecture: architecture ?? '' })) throw notRunnable(at, 'it is a BuildKit attestation manifest');
  if (os === undefined || architecture === undefined) {
    throw new ProvenantError('INVALID_MANIFEST', `the config of ${at} names no os and architecture`, { where: at });
  }
  const platform: Platform = { os, architecture };
  const variant = text('variant');
  if (variant !== undefined) platform.variant = variant;
  const osVersion = text('os.version');
  if (osVersion !== undefined) platform['os.version'] = osVersion;
  const features = doc['os.features'];
  if (Array.isArray(features) && features.length > 0 && features.every((x) => typeof x === 'string')) platform['os.features'] = features;
  return platform;
}

function notRunnable(at: string, why: string): ProvenantError {
  return new ProvenantError('USAGE', `${at} is not a runnable image (${why})`, {
    where: at,
    hint: 'merge image manifests or image indexes, not signatures, attestations or other artifacts (they come along with their image)',
  });
}

const IMAGE_CONFIG_TYPES = new Set<string>([MediaType.OciConfig, 'application/vnd.docker.container.image.v1+json']);

/**
 * The attestation entries the merged index carries for one platform, with their content copied
 * or made in `dst`, by `mode`.
 */
async function attestationsFor(
  f: Found,
  dst: ContentStore,
  base: Stored,
  mode: IndexAttestations,
  copyOptions: OperationOptions & { withReferrers: boolean; keepAsRoot: boolean },
): Promise<Descriptor[]> {
  if (mode !== 'referrers' && f.attestations.length > 0) {
    for (const a of f.attestations) await copyImage(f.source.store, a.digest, dst, copyOptions);
    return f.attestations;
  }
  if (mode === 'keep') return [];
  const platform = await dst.getManifest(f.entry.digest, copyOptions);
  // The statements are copied from the source as copyImage copies a layer: mounted within one registry.
  const storeOptions = { ...copyOptions, mountFrom: mountSources(f.source.store, dst) };
  if (mode === 'referrers') {
    // BuildKit entries become referrers of the platform manifest; other artifacts about it (with
    // their subject) are copied as they are, and are its referrers.
    const statements: StatementSource[] = [];
    for (const a of f.attestations) {
      if (isBuildkitAttestation(a)) statements.push(...(await statementsOf(f.source.store, a.digest, copyOptions)));
      else await copyImage(f.source.store, a.digest, dst, copyOptions);
    }
    if (statements.length > 0) await storeAttestations(dst, base, [{ manifest: platform, statements }], 'referrers', storeOptions);
    return [];
  }
  // buildkit, and the source keeps its attestations as referrers: the same statements, in
  // BuildKit's form, as `build --attestations buildkit` would have written them.
  const found = (await f.source.store.referrers(f.entry.digest, { ...copyOptions, artifactType: ArtifactType.BuildkitAttestation }))
    .filter((r) => r.artifactType === ArtifactType.BuildkitAttestation)
    .sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  const statements: StatementSource[] = [];
  for (const r of found) statements.push(...(await statementsOf(f.source.store, r.digest, copyOptions)));
  if (statements.length === 0) return [];
  const attested: Attested<StatementSource>[] = [{ manifest: platform, statements }];
  const withEntries = await storeAttestations(dst, base, attested, 'buildkit', storeOptions);
  return withEntries.kind === 'index' ? withEntries.index.manifests.slice(base.kind === 'index' ? base.index.manifests.length : 0) : [];
}

/**
 * The in-toto statements an attestation manifest holds, one per layer, with their predicate
 * types. Not read here: each is copied by digest when it is stored (as copyImage copies a layer),
 * because moving a statement into another storage needs its digest and size, not its content.
 * So none is held in memory whole, and none is refused for its size.
 */
async function statementsOf(store: ContentStore, digest: Digest, options: OperationOptions): Promise<StatementSource[]> {
  const m = await store.getManifest(digest, options);
  if (m.kind !== 'manifest') return [];
  const out: StatementSource[] = [];
  for (const layer of m.manifest.layers) {
    if (layer.mediaType !== MediaType.InToto) continue;
    const predicateType = layer.annotations?.[Annotation.InTotoPredicateType];
    if (predicateType === undefined) continue;
    out.push({ predicateType, blob: blobIn(store, layer, options) });
  }
  return out;
}

/**
 * Each image once: one given twice (the same digest, through two names or two sources) is one
 * entry, as `docker buildx imagetools create` takes it. The first one met gives the entry; the
 * attachments of all are kept, each once.
 */
function onceEach(found: readonly Found[]): Found[] {
  const out = new Map<Digest, Found>();
  for (const f of found) {
    const had = out.get(f.entry.digest);
    if (had === undefined) {
      out.set(f.entry.digest, { ...f, attestations: [...f.attestations] });
      continue;
    }
    for (const a of f.attestations) if (!had.attestations.some((b) => b.digest === a.digest)) had.attestations.push(a);
  }
  return [...out.values()];
}

/**
 * Two sources of one platform would make an index no runtime can choose from. Compared as
 * containerd matches them ({@link normalizePlatform}): linux/arm64 and linux/arm64/v8 are one.
 */
function assertDistinct(found: readonly Found[]): void {
  const seen = new Map<string, Found>();
  for (const f of found) {
    const p = f.entry.platform;
    const key = `${formatPlatform(normalizePlatform(p))}|${p['os.version'] ?? ''}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      const a = formatPlatform(earlier.entry.platform);
      const b = formatPlatform(p);
      const what = a === b ? `a ${a} image` : `a ${formatPlatform(normalizePlatform(p))} image (${a} and ${b} are one platform)`;
      throw new ProvenantError('USAGE', `${where(earlier.source)} and ${where(f.source)} both hold ${what}`, {
        where: where(f.source),
        hint: 'merge one image per platform',
      });
    }
    seen.set(key, f);
  }
}

/**
 * The sources' index annotations, merged in the order met (so the first source's order is the
 * merged index's order, as makeIndex wrote it), with explicit ones set over them.
 */
class AnnotationMerge {
  readonly #values = new Map<string, { value: string; from: string }>();
  readonly #conflicts = new Map<string, string[]>();

  add(annotations: Readonly<Record<string, string>> | undefined, from: string): void {
    for (const [k, v] of Object.entries(annotations ?? {})) {
      const had = this.#values.get(k);
      if (had === undefined) this.#values.set(k, { value: v, from });
      else if (had.value !== v) this.#conflicts.set(k, [`${had.from}: ${JSON.stringify(had.value)}`, `${from}: ${JSON.stringify(v)}`]);
    }
  }

  result(explicit: Readonly<Record<string, string>>): Record<string, string> {
    for (const [k, values] of this.#conflicts) {
      if (Object.hasOwn(explicit, k)) continue;
      throw new ProvenantError('USAGE', `the sources disagree on the index annotation ${k} (${values.join('; ')})`, {
        hint: `set it with --annotation ${k}=VALUE (for ${Annotation.Created}: build every architecture with the same SOURCE_DATE_EPOCH)`,
      });
    }
    const out: Record<string, string> = {};
    for (const [k, { value }] of this.#values) out[k] = value;
    for (const [k, v] of Object.entries(explicit)) {
      if (k === '') throw new ProvenantError('USAGE', 'an annotation needs a key');
      out[k] = v;
    }
    return out;
  }
}

function where(source: IndexSource): string {
  return `${source.store.location}${/^sha\d+:/.test(source.target) ? '@' : ':'}${source.target}`;
}

function pick(options: OperationOptions): OperationOptions {
  return {
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
  };
}
