/** copyImage: an image and everything it references, from any store to any store, in an order that keeps a failure harmless. */
import { ProvenantError, throwIfAborted } from '../errors.ts';
import { forEachLimited, Limiter } from '../io/limit.ts';
import type { BlobSource, OperationOptions } from '../io/types.ts';
import { COSIGN_TAG_RE, checkIndexDepth, cosignTagSubject, encodeJson, parseStored, type Stored, subjectOf } from '../oci/content.ts';
import type { Digest } from '../oci/digest.ts';
import { isForeignLayer, isIndexType, isManifestLike, MediaType } from '../oci/mediatypes.ts';
import { bestPlatformMatch, firstOfPlatform, formatPlatform, normalizePlatform } from '../oci/platform.ts';
import { Annotation, type Descriptor, type ImageIndex, type Platform } from '../oci/types.ts';
import { cosignTagsByName, listingRefused } from '../store/tag-list.ts';
import type { ContentStore } from '../store/types.ts';
import { platformFromConfig } from './config-platform.ts';
import { isAttachedEntry } from './index-entries.ts';

/** Options of {@link copyImage}. */
export interface CopyOptions extends OperationOptions {
  /** Tags to give the copy at the destination (applied last: with `withReferrers`, after the signatures and attestations). */
  tags?: readonly string[];
  /**
   * Platforms to copy from an index; all when absent. One platform copies that image manifest
   * alone (as `crane copy --platform` does); several make a new index of just those, with the
   * entries attached to them (BuildKit attestation manifests, which say the image they are about);
   * several that take every image the index has copy the index unchanged. Of several images of
   * one platform (a Windows index lists one per `os.version`) each platform takes the first, with
   * a warning naming the others (firstOfPlatform), so that asking for every platform of such an
   * index copies a new index without them, not the index unchanged; so does one that lists an
   * image twice (the entries are compared, not their digests: the repeat is dropped).
   */
  platforms?: readonly Platform[];
  /**
   * `platforms` is a default rather than what was asked (a docker-archive's, this machine's, as
   * skopeo takes it): it picks from an index only, and a single image is copied whatever its
   * platform. Otherwise a single image is copied only when it is one `platforms` take (a machine
   * of the platform runs it, of the same architecture), else refused: see {@link copyImage}.
   */
  platformsAreDefault?: boolean;
  /**
   * The digest the destination is to hold (a destination reference `REPO@DIGEST`): the copy
   * fails with DIGEST_MISMATCH, before anything is written, when what it would write (after
   * `platforms`) has another digest.
   */
  digest?: Digest | undefined;
  /**
   * Whether an image copied without a tag (or to tags that do not all name it yet) is kept in its
   * own right: a layout lists it in index.json, untagged (default true). false for a copy that is
   * part of something larger written next, such as the platform images of an index being made:
   * listed, each would be one more image of the layout, which no longer names a single one.
   */
  keepAsRoot?: boolean;
  /** Also copy signatures and attestations: OCI referrers and cosign `sha256-<hex>.*` tags. */
  withReferrers?: boolean;
  /**
   * Which of the source's OCI referrers `withReferrers` brings: those this returns true for, given
   * each with the digest it refers to (all when absent). One left out is neither copied nor read,
   * and neither are its own referrers. `index create --attestations buildkit` leaves out the
   * attestation referrers it writes again as entries of the index.
   */
  referrerFilter?: ((referrer: Descriptor, subject: Digest) => boolean) | undefined;
  /** Parallel blob transfers (default 4). */
  concurrency?: number;
  /**
   * Check what the destination already holds (default true), where it can: a layout hashes the
   * blobs and manifests of the image that it has, and writes again any that do not match (a
   * second copy repairs a corrupt layout). false trusts them by name. Registries are never
   * re-checked: they verify content when it is uploaded.
   */
  verifyExisting?: boolean;
}

/** What a copy did. */
export interface CopyResult {
  /**
   * The digest of what the destination's tags now point at: the image copied, or the form the
   * destination keeps it in (a docker-archive: Docker schema 2 read back from its files), which
   * is what its readers find. `mediaType` and `size` are that manifest's.
   */
  digest: Digest;
  /**
   * Set when the destination holds the image in a form of its own (see `digest`): the copied
   * image's own digest, which signatures and statements of it name.
   */
  copied?: Digest;
  mediaType: string;
  size: number;
  blobs: { stored: number; existed: number; mounted: number; skippedForeign: number; bytes: number };
  manifests: { stored: number; existed: number };
  /**
   * Every referrer of the copied manifests (and of their referrers) the source has, now at the
   * destination: written by this copy, or found there already (those are in `referrersExisted`
   * too). What this copy brought is the referrers not in `referrersExisted`.
   */
  referrers: Digest[];
  /**
   * The `referrers` the destination held already, listed for their subject, so that nothing was
   * written for them. A referrer it held but did not list (a copy stopped between the manifest
   * and the referrers tag) is written again to be listed, and is not here.
   */
  referrersExisted: Digest[];
  /** cosign `sha256-<hex>.sig`/`.att`/`.sbom` tags written at the destination (a `.sig` or `.att` there already is merged into, never replaced). */
  cosignTags: string[];
  /**
   * What the `cosignTags` brought: the signatures and attestations (the layers) of a `.sig` or
   * `.att` image new at the destination, those a merge added, and one per `.sbom`. A tag holds
   * one per signer, so the tags alone undercount them.
   */
  cosignSignatures: number;
  /**
   * cosign tags left as the destination had them, naming another image than the source's: a
   * `.sbom` (one document, which a copy does not replace) or a tag that names an index.
   */
  cosignTagsKept: string[];
  /**
   * Set when `platforms` made the copy another manifest than the source names (one platform's
   * image, or a new index of some): the source's digest, and how many signatures and
   * attestations it has. They are about that digest, so they do not cover the copy and are not
   * copied; the copy's own (a platform image signed by itself) come with `withReferrers`.
   */
  changedFrom?: { digest: Digest; signatures: number };
}

/**
 * Copies an image (manifest or index, with everything it references) from one store to another.
 * Order is what keeps a failure harmless: blobs before the manifest that names them, child
 * manifests before their index, referrers after their subject, tags last. With `withReferrers`
 * the tags come after the signatures and attestations too: a registry's readers (an admission
 * controller, a `verify`) see a tag the moment it is written, and a copy that fails among the
 * signatures leaves every tag where it was.
 */
export async function copyImage(src: ContentStore, target: string, dst: ContentStore, options: CopyOptions = {}): Promise<CopyResult> {
  if (options.withReferrers === true && dst.holdsAttachments === false) {
    // A docker-archive's manifest.json lists images to load, nothing else: a signature or
    // attestation written there would be one more image (docker load would tag it), or blobs
    // nothing names. Refused before anything is read or written.
    throw new ProvenantError(
      'USAGE',
      'a docker-archive holds one image and no signatures or attestations: --with-referrers cannot be kept',
      {
        where: dst.location,
        hint: 'copy to oci:DIR or oci-archive:FILE to keep them, or leave out --with-referrers',
      },
    );
  }
  const limiter = new Limiter(options.concurrency ?? 4);
  const result: CopyResult = {
    digest: '' as Digest,
    mediaType: '',
    size: 0,
    blobs: { stored: 0, existed: 0, mounted: 0, skippedForeign: 0, bytes: 0 },
    manifests: { stored: 0, existed: 0 },
    referrers: [],
    referrersExisted: [],
    cosignTags: [],
    cosignSignatures: 0,
    cosignTagsKept: [],
  };
  let root = await src.getManifest(target, options);
  // What --platform did, for the hint of a destination digest that is not the copy's.
  let selected: string | undefined;
  if (options.platforms !== undefined && options.platforms.length > 0 && root.kind === 'manifest' && options.platformsAreDefault !== true) {
    await refuseOtherPlatform(src, root, options.platforms, options);
  }
  if (options.platforms !== undefined && options.platforms.length > 0 && root.kind === 'index') {
    const source = root;
    root = await selectPlatforms(src, source, options.platforms, options);
    if (root.digest !== source.digest) {
      result.changedFrom = { digest: source.digest, signatures: await countSignatures(src, source.digest, options) };
      const platform = source.index.manifests.find((m) => m.digest === root.digest)?.platform;
      selected =
        root.kind === 'index'
          ? `--platform made a new index of ${root.index.manifests.length} of the ${source.index.manifests.length} entries of the index ${source.digest}`
          : `--platform picked the ${platform === undefined ? '' : `${formatPlatform(platform)} `}manifest ${root.digest} from the index ${source.digest}`;
    }
  }
  if (options.digest !== undefined && options.digest !== root.digest) {
    throw new ProvenantError('DIGEST_MISMATCH', `the copy would be ${root.digest}, not the ${options.digest} the destination names`, {
      where: `${dst.location}@${options.digest}`,
      hint:
        selected !== undefined
          ? `${selected}; name the destination by tag, or by ${root.digest}`
          : 'name the destination by tag, or by the digest of what is copied',
    });
  }
  const ctx: CopyContext = {
    src,
    dst,
    options,
    limiter,
    result,
    done: new Set(),
    sizes: new Map(),
    recheck: options.verifyExisting !== false && dst.checksExistingContent === true,
    mountFrom: mountSources(src, dst),
    skipped: new Set(),
    existed: new Set(),
  };
  // A tag that names the image already proves it is there with all it references (stores write
  // tags last), and needs no PUT: a no-op push asks for the tag and is done.
  const tags = options.tags ?? [];
  const placed = await tagsNaming(dst, tags, root.digest, options);
  if (placed.length > 0) ctx.rootPresent = true;
  const copied = await copyTree(ctx, root, true);
  const missing = tags.filter((t) => !placed.includes(t));
  result.digest = root.digest;
  result.mediaType = root.mediaType;
  result.size = root.bytes.byteLength;
  if (options.withReferrers && missing.length > 0 && (await anythingToCarry(ctx, copied))) {
    // Tags wait for the signatures: the image is written by its digest first, kept in its own
    // right until a tag roots it (so a copy that fails among the referrers leaves it listed in a
    // layout, untagged, and every tag where it was), unless a tag names it already (a layout
    // would list it twice). Writing the tags then drops that untagged entry.
    const keepAsRoot = options.keepAsRoot !== false && placed.length === 0;
    await dst.putManifest(root, { ...options, tags: [], keepAsRoot, present: ctx.rootPresent === true });
    heldAsAt(dst, result);
    await copyReferrers(ctx, copied);
    await pointTags(dst, root, missing, options);
    return result;
  }
  // Written by digest, the image is kept in its own right (a layout lists it untagged); when every
  // tag asked for names it already, those tags keep it, and nothing more is written. With no
  // tag to write, or nothing to carry along, the tags go with the image: one write.
  const keepAsRoot = options.keepAsRoot !== false && (tags.length === 0 || missing.length > 0);
  await dst.putManifest(root, { ...options, tags: missing, keepAsRoot, present: ctx.rootPresent === true });
  heldAsAt(dst, result);
  if (options.withReferrers) await copyReferrers(ctx, copied);
  return result;
}

/**
 * Makes `result` say the image as `dst` holds it, when the store keeps it in a form of its own
 * (see ContentStore.heldAs: a docker-archive): its digest, media type and size, with the copy's
 * own digest as `copied`.
 */
function heldAsAt(dst: ContentStore, result: CopyResult): void {
  const held = dst.heldAs?.(result.digest);
  if (held === undefined || held.digest === result.digest) return;
  result.copied = result.digest;
  result.digest = held.digest;
  result.mediaType = held.mediaType;
  result.size = held.size;
}

/**
 * Points `tags` at an image `store` holds already, by digest: the last step of a write that
 * stored the image untagged so as to sign it first. A registry's readers see a tag the moment it
 * is written; written last, no tag ever names an image whose signatures are not there yet.
 */
export async function tagImage(store: ContentStore, digest: Digest, tags: readonly string[], options: TagImageOptions = {}): Promise<void> {
  if (tags.length === 0) return;
  // Read once, whatever the number of tags: from a registry each read is a request.
  await pointTags(store, await store.getManifest(digest, options), tags, options);
}

/** {@link tagImage} for a caller that holds the image's manifest already (a copy wrote it): no read. */
async function pointTags(store: ContentStore, stored: Stored, tags: readonly string[], options: TagImageOptions): Promise<void> {
  if (tags.length === 0) return;
  const { onTagged, ...operation } = options;
  if (onTagged === undefined) {
    await store.putManifest(stored, { ...operation, tags, present: true });
    return;
  }
  for (const tag of tags) {
    await store.putManifest(stored, { ...operation, tags: [tag], present: true });
    onTagged(tag);
  }
}

/** Options of {@link tagImage}. */
export interface TagImageOptions extends OperationOptions {
  /**
   * Called with each tag once it is written. With it, the tags are written one at a time, so that
   * when one fails the caller knows exactly which name the image (a registry writes them one by
   * one anyway; a layout would otherwise write index.json once for all).
   */
  onTagged?: ((tag: string) => void) | undefined;
}

/** Those of `tags` that name `digest` at `store` already; asked one by one, stopping at the first that does not. */
async function tagsNaming(store: ContentStore, tags: readonly string[], digest: Digest, options: OperationOptions): Promise<string[]> {
  const placed: string[] = [];
  for (const tag of tags) {
    if ((await store.resolve(tag, options))?.digest !== digest) break;
    placed.push(tag);
  }
  return placed;
}

interface CopyContext {
  src: ContentStore;
  dst: ContentStore;
  options: CopyOptions;
  limiter: Limiter;
  result: CopyResult;
  /** Digests already at the destination or copied in this run. */
  done: Set<string>;
  /** The size each blob digest was copied with, so the tree cannot give one digest two sizes. */
  sizes: Map<string, number>;
  /** Walk and check subtrees the destination already has (see CopyOptions.verifyExisting). */
  recheck: boolean;
  mountFrom: string[] | undefined;
  /** The root manifest was at the destination before this copy (a tag named it, or its digest resolved): only tags are written. */
  rootPresent?: boolean;
  /** Manifests found at the destination and not walked (no `recheck`): nothing was written for them. */
  skipped: Set<string>;
  /** Manifests found at the destination as the top of what is there (walked or not): see `manifests.existed`. */
  existed: Set<string>;
  /** The source's referrers of a subject, read by {@link anythingToCarry} and taken by copyReferrers, so that each is read once. */
  referrersRead?: Map<string, Descriptor[]>;
  /** The source's tag list, or its refusal to list them: read once, by {@link sourceTags}. */
  tagList?: Promise<string[] | ProvenantError>;
  /** What each of `result.cosignTags` brought, taken off `cosignSignatures` if the tag is kept after all (keptIndexAfterWrite). */
  cosignCounts?: Map<string, number>;
}

/** `tag` written at the destination, bringing `count` signatures or attestations. */
function cosignTagWritten(ctx: CopyContext, tag: string, count: number): void {
  ctx.result.cosignTags.push(tag);
  ctx.result.cosignSignatures += count;
  ctx.cosignCounts ??= new Map();
  ctx.cosignCounts.set(tag, count);
}

/**
 * Whether the source has a referrer of one of `subjects` (the manifests copied) or a cosign tag
 * of one: whether the copy has signatures or attestations to carry, so that its tags must wait
 * for them. A source that refuses to list its tags may have cosign tags all the same: true. What
 * is read is kept for copyReferrers, which reads nothing twice.
 */
async function anythingToCarry(ctx: CopyContext, subjects: readonly Digest[]): Promise<boolean> {
  ctx.referrersRead = new Map();
  for (const subject of subjects) {
    if (ctx.referrersRead.has(subject)) continue;
    const found = await referrersOf(ctx.src, subject, ctx.options);
    ctx.referrersRead.set(subject, found);
    if (found.length > 0) return true;
  }
  const tags = await sourceTags(ctx);
  if (tags instanceof ProvenantError) return true;
  const copied = new Set<string>(subjects);
  return tags.some((tag) => {
    const subject = cosignTagSubject(tag);
    return subject !== undefined && copied.has(subject);
  });
}

/** The source's referrers of `subject` that {@link CopyOptions.referrerFilter} lets through: every referrer the copy reads is read here. */
async function referrersOf(src: ContentStore, subject: Digest, options: CopyOptions): Promise<Descriptor[]> {
  const found = await src.referrers(subject, options);
  const keep = options.referrerFilter;
  return keep === undefined ? found : found.filter((r) => keep(r, subject));
}

/**
 * Lets a single image through `platforms` when it is one of them, as an index's entry is picked
 * (the platform, else a lower variant of its architecture, said aloud), and refuses it otherwise,
 * as `digest --platform` and `manifest --platform` refuse a single image: copied, the image of
 * another architecture would pass for the one asked for.
 *
 * @throws ProvenantError `USAGE` naming the image's platform and the ones asked for
 */
async function refuseOtherPlatform(
  src: ContentStore,
  root: Stored & { kind: 'manifest' },
  platforms: readonly Platform[],
  options: CopyOptions,
): Promise<void> {
  const where = `${src.location}@${root.digest}`;
  const own = await platformFromConfig(src, root, options);
  for (const wanted of platforms) {
    const best = own === undefined ? undefined : bestPlatformMatch(wanted, [{ platform: own }]);
    if (best === undefined) continue;
    if (!best.exact) {
      options.logger?.warn(
        `${where} is a single ${formatPlatform(normalizePlatform(own!))} image, not ${formatPlatform(normalizePlatform(wanted))}: copying it, which a ${formatPlatform(normalizePlatform(wanted))} machine runs`,
      );
    }
    return;
  }
  const asked = platforms.map((p) => formatPlatform(normalizePlatform(p))).join(', ');
  throw new ProvenantError(
    'USAGE',
    `--platform picks images of an index, and this is a single ${own === undefined ? 'image of no platform' : `${formatPlatform(normalizePlatform(own))} image`}, not ${asked}`,
    { where, hint: 'copy it without --platform, or name an image of that platform' },
  );
}

/**
 * What `platforms` make of the index `root`: one platform's manifest, a new index of the platforms
 * chosen with the entries attached to them (BuildKit's attestation manifests, imagetools' SBOMs,
 * manifests with a subject: each about one image, `vnd.docker.reference.digest` or `subject`
 * says which), or `root` itself when more than one platform is chosen and they are every
 * runnable image it has, so that its digest and everything it holds stay.
 */
async function selectPlatforms(
  src: ContentStore,
  root: Stored & { kind: 'index' },
  platforms: readonly Platform[],
  options: CopyOptions,
): Promise<Stored> {
  const entries = root.index.manifests;
  // Judged by the descriptor, as `index create` does first: an attestation entry has no platform
  // to match, and an SBOM imagetools adds as linux/"" must not pass for linux/amd64.
  const runnable = entries.filter((m) => !isAttachedEntry(m));
  const chosen: Descriptor[] = [];
  // Each platform once, however often or in whichever spelling it was asked for: one pick, one warning.
  const distinct = new Map(platforms.map((p) => [formatPlatform(normalizePlatform(p)), p] as const));
  for (const wanted of distinct.values()) {
    // The platform asked for, else the best lower variant of its architecture (linux/arm/v7 takes
    // arm/v6, then v5), said aloud, since it is another image; never another architecture.
    const best = bestPlatformMatch(wanted, runnable);
    if (best !== undefined && !best.exact) {
      options.logger?.warn(
        `${src.location}@${root.digest} has no ${formatPlatform(normalizePlatform(wanted))} image: copying its ${formatPlatform(normalizePlatform(best.match.platform!))} one, which a ${formatPlatform(normalizePlatform(wanted))} machine runs`,
      );
    }
    // The image itself is picked as every --platform picks it: of several images of that platform
    // (a Windows index lists one per os.version), the first, as containers/image's ChooseInstance
    // takes it, warned which. bestPlatformMatch named the platform; its first is what it found.
    const picked = best === undefined ? undefined : firstOfPlatform(best.match.platform!, runnable, src.location);
    if (picked?.warning !== undefined) options.logger?.warn(picked.warning);
    const match = picked?.entry;
    if (match === undefined) {
      const available = runnable
        .map((m) => (m.platform ? formatPlatform(normalizePlatform(m.platform)) : undefined))
        .filter((p) => p !== undefined);
      throw new ProvenantError(
        'NO_MATCHING_PLATFORM',
        `the image has no ${formatPlatform(normalizePlatform(wanted))} manifest, nor one a ${formatPlatform(normalizePlatform(wanted))} machine runs`,
        {
          where: `${src.location}@${root.digest}`,
          hint: `available platforms: ${available.join(', ') || '(none)'}`,
        },
      );
    }
    if (!chosen.includes(match)) chosen.push(match);
  }
  // Several platforms, all there are: the index itself. One is its manifest, even from an index of one.
  if (chosen.length > 1 && runnable.every((m) => chosen.includes(m))) return root;
  const kept = new Set<string>(chosen.map((m) => m.digest));
  const attached: Descriptor[] = [];
  for (const m of entries) if (isAttachedEntry(m) && kept.has(await attachedTo(src, m, options))) attached.push(m);
  if (chosen.length === 1) {
    // One platform is copied as its manifest alone, as crane does: an index entry cannot come
    // along, unless it is a referrer of the image too (BuildKit 0.32's attestations have a
    // subject) and `withReferrers` brings it that way: the source's referrers of the image are
    // what copyReferrers copies, so what they list is not said to be left behind.
    const image = chosen[0]!;
    const asReferrers =
      options.withReferrers === true && attached.length > 0
        ? new Set<string>((await referrersOf(src, image.digest, options)).map((d) => d.digest))
        : new Set<string>();
    const left = attached.filter((m) => !asReferrers.has(m.digest));
    if (left.length > 0) {
      options.logger?.warn(
        `${left.length} attestation or SBOM entr${left.length === 1 ? 'y' : 'ies'} of ${src.location}@${root.digest} about the ${formatPlatform(image.platform!)} image ${left.length === 1 ? 'is' : 'are'} not copied: one platform is copied as its image manifest alone, which cannot list them${options.withReferrers === true ? ', and they are no referrers of it' : ''}`,
      );
    }
    return src.getManifest(image.digest, options);
  }
  const index: ImageIndex = { ...root.index, manifests: [...chosen, ...attached] };
  const bytes = encodeJson(index);
  return parseStored(bytes, { mediaType: root.mediaType });
}

/** The digest of the image an attached index entry is about: its `vnd.docker.reference.digest`, else its manifest's subject; '' when it names none. */
async function attachedTo(src: ContentStore, entry: Descriptor, options: OperationOptions): Promise<string> {
  const about = entry.annotations?.[Annotation.DockerReferenceDigest];
  if (about !== undefined) return about;
  if (!isManifestLike(entry.mediaType)) return '';
  return subjectOf(await src.getManifest(entry.digest, options))?.digest ?? '';
}

/**
 * Copies a manifest or index and all it references; returns every manifest digest in the tree.
 * `within`: an ancestor is at the destination already, and this walk only checks its subtree.
 */
async function copyTree(ctx: CopyContext, stored: Stored, isRoot: boolean, within = false, depth = 0): Promise<Digest[]> {
  if (stored.kind === 'index') checkIndexDepth(depth, ctx.src.location, stored.digest);
  throwIfAborted(ctx.options.signal);
  const digests: Digest[] = [stored.digest];
  if (ctx.done.has(stored.digest)) return digests;
  // A manifest already at the destination has everything it names there too (every store
  // writes blobs and children first), so its subtree is skipped: this is what makes a no-op
  // push one HEAD request. Children of an index still count for referrers. A store of local
  // files is walked anyway (`recheck`): a file there may have been corrupted since.
  const existing = within || (isRoot && ctx.rootPresent === true) || (await ctx.dst.resolve(stored.digest, ctx.options)) !== undefined;
  if (isRoot) ctx.rootPresent = existing;
  if (existing && !within) {
    // Counted once, for the top of what is there, checked or not.
    ctx.result.manifests.existed++;
    ctx.existed.add(stored.digest);
    ctx.options.onProgress?.({ kind: 'manifest', digest: stored.digest, mediaType: stored.mediaType, phase: 'exists' });
  }
  if (existing && !ctx.recheck) {
    ctx.done.add(stored.digest);
    if (!within) ctx.skipped.add(stored.digest);
    if (stored.kind === 'index' && ctx.options.withReferrers) {
      for (const m of stored.index.manifests) if (isManifestLike(m.mediaType)) digests.push(m.digest);
    }
    return digests;
  }
  if (stored.kind === 'index') {
    for (const child of stored.index.manifests) {
      if (!isManifestLike(child.mediaType)) {
        await copyBlob(ctx, child);
        continue;
      }
      const childStored = await ctx.src.getManifest(child.digest, ctx.options);
      for (const d of await copyTree(ctx, childStored, false, existing, depth + 1)) digests.push(d);
    }
  } else {
    const blobs = [stored.manifest.config, ...stored.manifest.layers];
    await forEachLimited(blobs, ctx.limiter, (d) => copyBlob(ctx, d));
  }
  if (!isRoot) await ctx.dst.putManifest(stored, { ...ctx.options, tags: [], keepAsRoot: false });
  if (!existing) {
    ctx.result.manifests.stored++;
    if (!isRoot) ctx.options.onProgress?.({ kind: 'manifest', digest: stored.digest, mediaType: stored.mediaType, phase: 'done' });
  }
  ctx.done.add(stored.digest);
  return digests;
}

async function copyBlob(ctx: CopyContext, d: Descriptor): Promise<void> {
  const size = ctx.sizes.get(d.digest);
  if (size !== undefined && size !== d.size) {
    // Each manifest is consistent on its own (parseStored checks); two of one tree may not be.
    throw new ProvenantError('INVALID_MANIFEST', `${d.digest} is listed with size ${size} and with size ${d.size} in one image`, {
      where: `${ctx.src.location}@${d.digest}`,
      hint: 'one digest names one content of one size; a manifest of this image is wrong',
    });
  }
  ctx.sizes.set(d.digest, d.size);
  if (ctx.done.has(d.digest)) return;
  if (isForeignLayer(d.mediaType) || (d.urls !== undefined && d.urls.length > 0 && d.mediaType !== MediaType.OciEmpty)) {
    // Foreign layers live at their URLs; registries refuse them as uploads by design.
    ctx.result.blobs.skippedForeign++;
    return;
  }
  ctx.done.add(d.digest);
  const outcome = await ctx.dst.putBlob(blobIn(ctx.src, d, ctx.options), {
    ...ctx.options,
    mountFrom: ctx.mountFrom,
    verifyExisting: ctx.recheck,
  });
  // Registries report each blob themselves; local stores do not, so the copy does (a display
  // counts a blob once).
  const phase = outcome === 'stored' ? 'done' : outcome === 'mounted' ? 'mounted' : 'exists';
  ctx.options.onProgress?.({ kind: 'blob', digest: d.digest, done: d.size, total: d.size, phase });
  if (outcome === 'stored') {
    ctx.result.blobs.stored++;
    ctx.result.blobs.bytes += d.size;
  } else if (outcome === 'mounted') ctx.result.blobs.mounted++;
  else ctx.result.blobs.existed++;
}

async function copyReferrers(ctx: CopyContext, subjects: Digest[]): Promise<void> {
  const queue = [...subjects];
  const visited = new Set<string>();
  while (queue.length > 0) {
    const subject = queue.shift()!;
    if (visited.has(subject)) continue;
    visited.add(subject);
    // What the destination lists for `subject`, read once and only when a referrer was there already.
    let listed: Set<string> | undefined;
    const read = ctx.referrersRead?.get(subject);
    ctx.referrersRead?.delete(subject);
    for (const ref of read ?? (await referrersOf(ctx.src, subject, ctx.options))) {
      if (visited.has(ref.digest)) continue;
      const stored = await ctx.src.getManifest(ref.digest, ctx.options);
      const digests = await copyTree(ctx, stored, false);
      if (ctx.skipped.has(ref.digest)) {
        // A referrer manifest at the destination is not yet one its referrers list names: a
        // registry without the referrers API finds it only through the `sha256-<hex>` tag, which
        // is written after the manifest, so a copy stopped between the two left it out. Put again,
        // the store adds it there (a layout is walked anyway: `recheck`).
        listed ??= new Set((await ctx.dst.referrers(subject, ctx.options)).map((d) => d.digest));
        if (!listed.has(ref.digest)) {
          await ctx.dst.putManifest(stored, { ...ctx.options, tags: [], keepAsRoot: false });
          ctx.existed.delete(ref.digest);
        }
      }
      ctx.result.referrers.push(ref.digest);
      if (ctx.existed.has(ref.digest)) ctx.result.referrersExisted.push(ref.digest);
      // Signatures of attestations: referrers have referrers of their own.
      queue.push(...digests);
    }
  }
  for (const tag of await cosignTagsOf(ctx, visited)) {
    const m = COSIGN_TAG_RE.exec(tag);
    if (!m || !visited.has(`${m[1]}:${m[2]}`)) continue;
    const stored = await ctx.src.getManifest(tag, ctx.options);
    const there = await ctx.dst.resolve(tag, ctx.options);
    if (there !== undefined && there.digest !== stored.digest) {
      await copyCosignTagOnto(ctx, tag, m[3] as 'sig' | 'att' | 'sbom', stored, there.digest);
      continue;
    }
    // copyTree takes a root as present when rootPresent says so; that was said of the image,
    // not of this tag's. Present when the tag names it already: then only checked, not written.
    ctx.rootPresent = there !== undefined;
    await copyTree(ctx, stored, true);
    if (there !== undefined) continue;
    const suffix = m[3] as 'sig' | 'att' | 'sbom';
    if (suffix !== 'sbom' && stored.kind === 'manifest') {
      await copyCosignTagNew(ctx, tag, suffix, stored);
      continue;
    }
    await ctx.dst.putManifest(stored, { ...ctx.options, tags: [tag], keepAsRoot: false });
    cosignTagWritten(ctx, tag, 1);
  }
}

/**
 * The source's tag list, or its refusal to list them ({@link listingRefused}), read once for
 * {@link anythingToCarry} and {@link cosignTagsOf}. Strict: a registry that answers NAME_UNKNOWN
 * for a repository the copy reads from did not list it (distribution does so for a repository
 * without tags: then nothing is found by name either).
 */
function sourceTags(ctx: CopyContext): Promise<string[] | ProvenantError> {
  ctx.tagList ??= ctx.src.listTags({ ...ctx.options, strict: true }).catch((err: unknown) => {
    if (!listingRefused(err)) throw err;
    return err;
  });
  return ctx.tagList;
}

/**
 * The source's tags that may be cosign tags of `subjects`: its tag list, or, when the source
 * refuses to list tags (some registries allow pulls and not the list: 401, 403, 404, an
 * unsupported endpoint), each cosign tag `subjects` can have read by its name, which the digest
 * gives (`sha256-<hex>.sig`), with a warning that the list was refused. Any other failure of the
 * list fails the copy: its signatures would be left behind without a word.
 */
async function cosignTagsOf(ctx: CopyContext, subjects: ReadonlySet<string>): Promise<string[]> {
  const listed = await sourceTags(ctx);
  if (!(listed instanceof ProvenantError)) return listed;
  const listError = listed;
  const found = await cosignTagsByName(ctx.src, subjects, ctx.options);
  const said = `${ctx.src.location} did not list its tags (${listError.message}); its cosign tags were read by name: ${found.length} found`;
  // NOT_FOUND is what distribution answers for a repository without tags, which has no cosign tags either.
  if (listError.code === 'NOT_FOUND' && found.length === 0) ctx.options.logger?.debug(said);
  else ctx.options.logger?.warn(said);
  return found;
}

/**
 * A `.sig` or `.att` tag the destination did not have when read: the source's image is written
 * under it as it is, unless another writer (a signer, another copy) tagged its own there since,
 * whose layers must not be lost. A layout refuses the write then (the tag no longer names
 * nothing), and the source's layers are merged into the destination's image as for any tag it
 * has; a registry cannot refuse, so the tag is read back and merged into (settleCosignTag).
 */
async function copyCosignTagNew(
  ctx: CopyContext,
  tag: string,
  suffix: 'sig' | 'att',
  stored: Stored & { kind: 'manifest' },
): Promise<void> {
  try {
    await ctx.dst.putManifest(stored, { ...ctx.options, tags: [tag], keepAsRoot: false, replacing: { [tag]: null } });
  } catch (err) {
    if (!(err instanceof ProvenantError && err.code === 'TAG_CONFLICT')) throw err;
    const now = await ctx.dst.resolve(tag, ctx.options);
    // Tagged and deleted again meanwhile: another writer is at work on it, said as the layout said it.
    if (now === undefined) throw err;
    if (now.digest !== stored.digest) await copyCosignTagOnto(ctx, tag, suffix, stored, now.digest);
    return;
  }
  cosignTagWritten(ctx, tag, stored.manifest.layers.length);
  // Loaded only here and for a merge, as countSignatures does: a copy without cosign tags never loads signing code.
  const { settleCosignTag } = await import('../sign/storage.ts');
  try {
    await settleCosignTag(ctx.dst, tag, stored, ctx.options);
  } catch (err) {
    if (!(await keptIndexAfterWrite(ctx, tag, err))) throw err;
  }
}

/**
 * Whether `err`, from reading back a cosign tag this copy wrote (a registry's, which cannot
 * refuse a write), says another writer put an index there since; if so, the index is kept, and
 * said, as copyCosignTagOnto keeps an index it finds at its first read: a copy does not replace
 * what another writer put under the tag, whichever read finds it. The tag is then one of
 * `cosignTagsKept`, no longer of `cosignTags`, and the warning names the image the index
 * displaced (still at the destination, untagged) and how to put it back.
 */
async function keptIndexAfterWrite(ctx: CopyContext, tag: string, err: unknown): Promise<boolean> {
  if (!(err instanceof ProvenantError && err.code === 'INVALID_MANIFEST')) return false;
  const now = await ctx.dst.resolve(tag, ctx.options);
  if (now === undefined || !isIndexType(now.mediaType)) return false;
  ctx.result.cosignTags = ctx.result.cosignTags.filter((t) => t !== tag);
  ctx.result.cosignSignatures -= ctx.cosignCounts?.get(tag) ?? 0;
  ctx.cosignCounts?.delete(tag);
  ctx.result.cosignTagsKept.push(tag);
  ctx.options.logger?.warn(
    `${ctx.dst.location}: ${err.message}; the index was kept, and the signatures copied are not under the tag, as when a copy finds an index there at its first read (${err.hint ?? 'point the tag at a signature image to change that'})`,
  );
  return true;
}

/**
 * A cosign tag the destination has already, naming another image than the source's: the
 * destination's signatures must not be lost (a signature made there, then a copy of the same
 * image, would delete it). A `.sig` or `.att` image is a list of layers, one per signature or
 * attestation, so the two are merged as cosign appends: the destination's layers stay, the
 * source's it lacks are added. Anything else (a `.sbom`, which holds one document, or an index
 * under the tag) is left as the destination has it, and said in `cosignTagsKept`. A signer (or
 * another copy) writing the tag meanwhile is dealt with as signing deals with it
 * (mergeCosignLayers: a layout checks the tag under its lock, a registry's is read back).
 */
async function copyCosignTagOnto(
  ctx: CopyContext,
  tag: string,
  suffix: 'sig' | 'att' | 'sbom',
  stored: Stored,
  there: Digest,
): Promise<void> {
  const existing = await ctx.dst.getManifest(there, ctx.options);
  if (suffix === 'sbom' || stored.kind !== 'manifest' || existing.kind !== 'manifest') {
    ctx.result.cosignTagsKept.push(tag);
    ctx.options.logger?.warn(
      `${ctx.dst.location} has its own ${tag}, another image than the source's: it was kept, and the source's not copied`,
    );
    return;
  }
  // The source's layers the destination lacks first (the merged image names them), not its
  // manifest: only the merged one is tagged. A layer the destination's image names is there.
  const held = new Set(existing.manifest.layers.map((l) => l.digest));
  for (const layer of stored.manifest.layers) if (!held.has(layer.digest)) await copyBlob(ctx, layer);
  // Loaded only here, as countSignatures does: a copy that merges nothing never loads signing code.
  const { mergeCosignLayers } = await import('../sign/storage.ts');
  let merged: { added: number };
  try {
    merged = await mergeCosignLayers(ctx.dst, tag, existing, stored.manifest.layers, ctx.options);
  } catch (err) {
    if (await keptIndexAfterWrite(ctx, tag, err)) return;
    throw err;
  }
  if (merged.added > 0) cosignTagWritten(ctx, tag, merged.added);
}

/** How many signatures and attestations `digest` has in `src`; 0 when they cannot be read (the copy goes on). */
async function countSignatures(src: ContentStore, digest: Digest, options: OperationOptions): Promise<number> {
  try {
    // Loaded here, when a platform filter made a new digest: a copy that keeps the source's
    // digest never reads signatures, and starts without the Sigstore bundle modules.
    const { eachSignature } = await import('../sign/storage.ts');
    let count = 0;
    for await (const _ of eachSignature(src, digest, options)) count++;
    return count;
  } catch (err) {
    if (err instanceof ProvenantError && err.code !== 'ABORTED') return 0;
    throw err;
  }
}

/** The blob `d` of `store` as a source another store writes from, read (from an offset, to resume) as it is written. */
export function blobIn(store: ContentStore, d: Descriptor, options: OperationOptions = {}): BlobSource {
  return { descriptor: d, open: (offset) => store.readBlob(d, { ...options, ...(offset === undefined ? {} : { offset }) }) };
}

/**
 * Where a registry destination can mount blobs of `src` from instead of uploading them: `src`'s
 * repository, when both are repositories of one registry (and not the same one).
 */
export function mountSources(src: ContentStore, dst: ContentStore): string[] | undefined {
  const a = src.registryRepository;
  const b = dst.registryRepository;
  if (a === undefined || b === undefined || a.registry !== b.registry || a.repository === b.repository) return undefined;
  return [a.repository];
}
