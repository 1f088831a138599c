/** What every OCI image layout answers from its index.json (tags, manifests, referrers, its only image), wherever its blobs are. */
import { concatBytes, decodeUtf8, printableLine } from '../bytes.ts';
import { isProvenantError, ProvenantError } from '../errors.ts';
import type { BlobSource, ByteStream, OperationOptions } from '../io/types.ts';
import { collect, MANIFEST_LIMIT } from '../io/verify.ts';
import { artifactTypeOf, COSIGN_TAG_RE, descriptorOf, parseStored, type Stored, subjectOf } from '../oci/content.ts';
import { type Digest, isDigest } from '../oci/digest.ts';
import { isManifestLike } from '../oci/mediatypes.ts';
import { tagsHereHint } from '../oci/tags-hint.ts';
import { Annotation, type Descriptor, type ImageIndex } from '../oci/types.ts';
import { assertConsistentDescriptors, assertIndex, assertVerifiableDigests } from '../oci/validate.ts';
import type { ContentStore, PutBlobOptions, PutManifestOptions, ReferrersOptions } from './types.ts';

/** The name of an image layout's marker file. */
export const LAYOUT_FILE = 'oci-layout';

/**
 * What every OCI image layout answers from its `index.json`, wherever its files are: tags
 * (`org.opencontainers.image.ref.name` annotations), manifests by tag or digest, and referrers
 * (entries with a `subject`). A folder ({@link LayoutStore}) and a tar read in place
 * (`oci-archive:`) differ only in how they stat and read a blob, which subclasses give.
 *
 * https://github.com/opencontainers/image-spec/blob/main/image-layout.md
 */
export abstract class LayoutReader implements ContentStore {
  abstract readonly location: string;
  /** The layout's `index.json` as it is now; subclasses that write replace it whole. */
  protected topIndex: ImageIndex;
  /**
   * What a logger has been told of unreadable entries, so that a copy asking for the referrers of
   * each of its manifests names a bad one once: an entry's digest once it was named at all, and
   * `digest subject` once it was listed as a referrer of that subject.
   */
  readonly #warned = new Set<string>();

  protected constructor(index: ImageIndex) {
    this.topIndex = index;
  }

  /** The layout's top-level index (a copy). */
  get index(): ImageIndex {
    return structuredClone(this.topIndex);
  }

  abstract statBlob(digest: Digest, options?: OperationOptions): Promise<Descriptor | undefined>;
  abstract readBlob(descriptor: Descriptor, options?: OperationOptions & { offset?: number }): Promise<ByteStream>;
  abstract putBlob(source: BlobSource, options?: PutBlobOptions): Promise<'stored' | 'exists' | 'mounted'>;
  abstract putManifest(stored: Stored, options?: PutManifestOptions): Promise<void>;
  abstract close(): Promise<void>;

  /**
   * Brings `topIndex` up to date before it is read; a store whose index.json other processes
   * may replace (a layout folder) re-reads it here. Read-only stores have nothing to do.
   */
  protected async refresh(): Promise<void> {}

  async resolve(target: string): Promise<Descriptor | undefined> {
    await this.refresh();
    return isDigest(target) ? this.#resolveDigest(target) : taggedEntry(this.topIndex, target);
  }

  async #resolveDigest(digest: Digest): Promise<Descriptor | undefined> {
    const fromIndex = this.topIndex.manifests.find((m) => m.digest === digest);
    if (fromIndex !== undefined) return stripRefName(fromIndex);
    const s = await this.statBlob(digest);
    if (s === undefined) return undefined;
    // Not an entry of index.json (a child of an index, say): the media type is in the document.
    try {
      return descriptorOf(await this.readManifest(s));
    } catch (err) {
      // Collected by a gc in another process between the two looks: not there.
      if (isProvenantError(err, 'NOT_FOUND')) return undefined;
      throw err;
    }
  }

  async getManifest(target: string): Promise<Stored> {
    const desc = await this.resolve(target);
    if (desc === undefined) {
      throw new ProvenantError('NOT_FOUND', `${isDigest(target) ? 'manifest' : 'tag'} ${target} is not in the layout`, {
        where: this.location,
        hint: isDigest(target) ? undefined : tagsHereHint(this.#tags()),
      });
    }
    return this.readManifest(desc);
  }

  /** Reads and parses a manifest or index, checked against `desc` and bounded in size. */
  protected async readManifest(desc: Descriptor): Promise<Stored> {
    const where = `${this.location}@${desc.digest}`;
    if (desc.size > MANIFEST_LIMIT)
      throw new ProvenantError('INVALID_MANIFEST', `manifest is larger than ${MANIFEST_LIMIT} bytes`, { where });
    const bytes = await collect(await this.readBlob(desc), MANIFEST_LIMIT, where);
    return parseStored(bytes, { mediaType: desc.mediaType, digest: desc.digest, where });
  }

  /**
   * The layout's only image: the one entry of index.json, or the one image its entries name
   * once signatures and attestations are left out ({@link #images}), as a layout that `build`
   * and `sign` wrote holds. NOT_FOUND when it holds none; USAGE naming their tags when several.
   */
  async defaultTarget(): Promise<string> {
    await this.refresh();
    const roots = this.topIndex.manifests;
    if (roots.length === 1) return roots[0]!.digest;
    const images = await this.#images();
    if (images.length === 1) return images[0]!.digest;
    if (images.length === 0) {
      throw new ProvenantError('NOT_FOUND', `${this.location} holds no image`, {
        hint:
          roots.length === 0 ? 'its index.json lists nothing' : `its index.json lists only signatures and attestations (${roots.length})`,
      });
    }
    const tags = images.flatMap((i) => i.tags).sort();
    throw new ProvenantError('USAGE', `${this.location} holds ${images.length} images; say which`, {
      hint: `add :TAG (tags: ${tags.map(printableLine).join(', ') || 'none'}) or @DIGEST`,
    });
  }

  /**
   * The images of index.json a user can name, one per digest with its tags: signatures and
   * attestations left out, that is entries under cosign's tags (`sha256-<hex>.sig`, `.att`,
   * `.sbom`) and untagged manifests with a `subject` (referrers).
   */
  async #images(): Promise<Array<{ digest: Digest; tags: string[] }>> {
    const images = new Map<Digest, string[]>();
    for (const entry of this.topIndex.manifests) {
      const tag = entry.annotations?.[Annotation.RefName];
      if (tag === undefined ? await this.#isReferrer(entry) : COSIGN_TAG_RE.test(tag)) continue;
      const tags = images.get(entry.digest) ?? [];
      if (tag !== undefined) tags.push(tag);
      images.set(entry.digest, tags);
    }
    return [...images].map(([digest, tags]) => ({ digest, tags }));
  }

  /** True for an entry that is a manifest with a subject; one that cannot be read is left to the command that reads it. */
  async #isReferrer(entry: Descriptor): Promise<boolean> {
    if (!isManifestLike(entry.mediaType)) return false;
    try {
      const stored = await this.readManifest(entry);
      return subjectOf(stored) !== undefined;
    } catch (err) {
      if (isProvenantError(err) && err.code !== 'ABORTED') return false;
      throw err;
    }
  }

  /** The tags for a hint: each escaped as one field of a line, so a newline in one cannot split the list. */
  #tags(): string[] {
    const tags = this.topIndex.manifests.map((m) => m.annotations?.[Annotation.RefName]).filter((t): t is string => t !== undefined);
    return [...new Set(tags)].sort();
  }

  async listTags(): Promise<string[]> {
    await this.refresh();
    return this.#tags();
  }

  /**
   * Manifests of index.json whose `subject` is `subject`. A layout has no registry to index
   * subjects, so every entry is read; one that cannot be (not a manifest, not its digest, its
   * blob missing or refused) does not fail the listing and hide the others. It is named in a
   * warning through `options.logger` (see #warnUnreadable for how often), and listed when its
   * bytes, unchecked, name `subject` as theirs: a reader of it then meets the same error and
   * reports one malformed referrer, as it does when a registry's referrers API lists a manifest
   * that does not parse (../sign/storage.ts findSignatures). Its descriptor is index.json's,
   * never its bytes'.
   */
  async referrers(subject: Digest, options: ReferrersOptions = {}): Promise<Descriptor[]> {
    await this.refresh();
    const out: Descriptor[] = [];
    const seen = new Set<string>();
    for (const entry of this.topIndex.manifests) {
      if (!isManifestLike(entry.mediaType) || seen.has(entry.digest)) continue;
      seen.add(entry.digest);
      let stored: Stored;
      try {
        stored = await this.readManifest(stripRefName(entry));
      } catch (err) {
        if (!isUnreadableEntry(err)) throw err;
        const claim = await this.#claimedSubject(entry);
        const listed = claim?.subject === subject && (options.artifactType === undefined || claim.artifactType === options.artifactType);
        if (listed) out.push(stripRefName(entry));
        this.#warnUnreadable(entry.digest, err, listed ? subject : undefined, options);
        continue;
      }
      const s = subjectOf(stored);
      if (s?.digest !== subject) continue;
      const desc = referrerDescriptor(stored);
      if (options.artifactType === undefined || desc.artifactType === options.artifactType) out.push(desc);
    }
    return out;
  }

  /**
   * Names an unreadable entry through the caller's logger, once per store for what is said of it.
   * That it was listed as a referrer of `listedFor` is said once per subject, even after it was
   * passed over while listing another image's: that image's reader will meet the error. That it
   * was passed over is said once, and not after it was named at all. Nothing is marked without a
   * logger (a lookup of the library's own), so a later caller with one still hears of it.
   */
  #warnUnreadable(digest: Digest, err: ProvenantError, listedFor: Digest | undefined, options: OperationOptions): void {
    const logger = options.logger;
    if (logger === undefined) return;
    const key = listedFor === undefined ? digest : `${digest} ${listedFor}`;
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#warned.add(digest);
    const what =
      listedFor === undefined ? 'passed over while listing referrers' : `listed as a referrer of ${listedFor}, which its bytes name`;
    logger.warn(`${this.location}: index.json lists manifest ${digest}, which cannot be read (${err.message}); ${what}`);
  }

  /**
   * The subject and artifact type an unreadable entry's bytes claim, read without trusting
   * them (a blob that does not match its digest still says whom it was meant for); undefined
   * when its bytes cannot be read or are no JSON object naming a subject digest.
   */
  async #claimedSubject(entry: Descriptor): Promise<{ subject: string; artifactType: string | undefined } | undefined> {
    if (entry.size > MANIFEST_LIMIT) return undefined;
    const parts: Uint8Array[] = [];
    try {
      // As large as a manifest may be, so that a blob changed in size is read whole too: the
      // stream checks size and digest at its end, after passing the bytes on.
      for await (const chunk of await this.readBlob({ ...entry, size: MANIFEST_LIMIT })) parts.push(chunk);
    } catch (err) {
      if (!isProvenantError(err, 'DIGEST_MISMATCH', 'SIZE_MISMATCH')) return undefined;
    }
    let doc: unknown;
    try {
      doc = JSON.parse(decodeUtf8(concatBytes(parts)));
    } catch {
      return undefined;
    }
    if (typeof doc !== 'object' || doc === null) return undefined;
    const { subject } = doc as { subject?: unknown };
    if (typeof subject !== 'object' || subject === null) return undefined;
    const { digest } = subject as { digest?: unknown };
    if (typeof digest !== 'string') return undefined;
    return { subject: digest, artifactType: artifactTypeOf(doc) };
  }
}

/**
 * True when `err` makes one entry of index.json unreadable rather than the layout or the
 * operation: its bytes are not a manifest or not its digest, its blob is missing or a link out of
 * the layout, or the file refuses to be read (its permissions, a folder or FIFO in its place). A file
 * error of the machine (too many open files, a failing disk) and ABORTED still fail the listing:
 * a copy must not leave a referrer behind because the machine was busy.
 */
function isUnreadableEntry(err: unknown): err is ProvenantError {
  // INVALID_LAYOUT: the blob is no regular file (a folder or a FIFO in its place; readBlob).
  if (
    isProvenantError(
      err,
      'INVALID_MANIFEST',
      'UNSUPPORTED_MEDIA_TYPE',
      'DIGEST_MISMATCH',
      'SIZE_MISMATCH',
      'NOT_FOUND',
      'UNSAFE_PATH',
      'INVALID_LAYOUT',
    )
  )
    return true;
  const cause = isProvenantError(err, 'IO') ? (err.cause as NodeJS.ErrnoException | undefined)?.code : undefined;
  return cause === 'EACCES' || cause === 'EPERM' || cause === 'EISDIR';
}

/** The descriptor a referrers listing gives for a manifest with a subject. */
export function referrerDescriptor(stored: Stored): Descriptor {
  const doc = stored.kind === 'manifest' ? stored.manifest : stored.index;
  const artifactType = artifactTypeOf(doc);
  return descriptorOf(stored, {
    ...(artifactType === undefined ? {} : { artifactType }),
    ...(doc.annotations === undefined ? {} : { annotations: doc.annotations }),
  });
}

/**
 * The entry of `index` tagged `tag`, without its tag. The last one wins, as in containers/image,
 * should a hand-edited index name a tag twice. A function of the module and a loop rather than a
 * method and findLast with an arrow function: what `digest` of a layout runs is then compiled
 * with the CLI's bundle, not at every start (see layout.ts's openIndex).
 */
function taggedEntry(index: ImageIndex, tag: string): Descriptor | undefined {
  for (let i = index.manifests.length - 1; i >= 0; i--) {
    const entry = index.manifests[i]!;
    if (entry.annotations?.[Annotation.RefName] === tag) return stripRefName(entry);
  }
  return undefined;
}

function stripRefName(d: Descriptor): Descriptor {
  const { annotations, ...rest } = d;
  if (annotations === undefined) return rest;
  const { [Annotation.RefName]: _ignored, ...others } = annotations;
  return Object.keys(others).length > 0 ? { ...rest, annotations: others } : rest;
}

/**
 * Checks an `oci-layout` file: JSON with an `imageLayoutVersion` of 1.x.
 *
 * @throws ProvenantError `INVALID_LAYOUT` otherwise
 */
export function checkLayoutFile(bytes: Uint8Array, where: string): void {
  let version: unknown;
  try {
    version = (JSON.parse(decodeUtf8(bytes)) as { imageLayoutVersion?: unknown } | null)?.imageLayoutVersion;
  } catch (cause) {
    throw new ProvenantError('INVALID_LAYOUT', `${LAYOUT_FILE} is not JSON`, { where, cause });
  }
  if (typeof version !== 'string' || !version.startsWith('1.')) {
    throw new ProvenantError('INVALID_LAYOUT', `unsupported image layout version ${JSON.stringify(version)}`, { where });
  }
}

/** How deep index.json may nest (a real one is about 5 levels: index, manifests, descriptor, platform, features). */
const INDEX_DEPTH_LIMIT = 256;

/** True when `value` has arrays or objects nested more than `limit` deep; without recursion. */
function nestedDeeperThan(value: unknown, limit: number): boolean {
  const pending: Array<[object, number]> = [];
  if (typeof value === 'object' && value !== null) pending.push([value, 1]);
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [node, depth] = next;
    if (depth > limit) return true;
    for (const child of Object.values(node)) {
      if (typeof child === 'object' && child !== null) pending.push([child, depth + 1]);
    }
  }
  return false;
}

/**
 * Parses and validates a layout's `index.json`.
 *
 * @throws ProvenantError `INVALID_LAYOUT` when it is not UTF-8 JSON, is nested too deep to write
 *   back, or is not a valid image index
 */
export function parseIndexJson(bytes: Uint8Array, where: string): ImageIndex {
  let value: unknown;
  try {
    value = JSON.parse(decodeUtf8(bytes, true));
  } catch (cause) {
    throw new ProvenantError('INVALID_LAYOUT', 'index.json is not valid JSON', { where, cause });
  }
  // Unknown fields may hold any JSON, but a write puts index.json back through JSON.stringify,
  // which recurses: a file nested hundreds of thousands deep read fine and then failed every
  // write with "Maximum call stack size exceeded", reported as IO.
  if (nestedDeeperThan(value, INDEX_DEPTH_LIMIT)) {
    throw new ProvenantError('INVALID_LAYOUT', `index.json is nested more than ${INDEX_DEPTH_LIMIT} levels deep`, {
      where,
      hint: 'an image index is a few levels deep; this file was not written by an image tool',
    });
  }
  try {
    return assertConsistentDescriptors(assertVerifiableDigests(assertIndex(value, where), where), where);
  } catch (err) {
    // The place the check named (a digest's JSON pointer) is kept.
    if (err instanceof ProvenantError) throw new ProvenantError('INVALID_LAYOUT', err.message, { where: err.where ?? where, cause: err });
    throw err;
  }
}
