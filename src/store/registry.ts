/** A registry repository as a content store, with the referrers tag schema kept up to date where the registry has no referrers API. */
import { ProvenantError, sleep } from '../errors.ts';
import type { BlobSource, ByteStream, OperationOptions } from '../io/types.ts';
import { encodeJson, parseStored, referrersTag, type Stored, subjectOf } from '../oci/content.ts';
import type { Digest } from '../oci/digest.ts';
import { isForeignLayer, MediaType } from '../oci/mediatypes.ts';
import type { Descriptor, ImageIndex } from '../oci/types.ts';
import type { PutManifestResult, RegistryClient } from '../registry/client.ts';
import { RegistryResponseError } from '../registry/errors.ts';
import { referrerDescriptor } from './layout-reader.ts';
import type { CloseOptions, ContentStore, ListTagsOptions, PutBlobOptions, PutManifestOptions, ReferrersOptions } from './types.ts';

/** Manifest PUTs at most when the registry answers that a blob the manifest names is missing. */
const MISSING_BLOB_ATTEMPTS = 3;
/** About how long before a manifest PUT refused for a missing blob is sent again (times the attempt). */
const MISSING_BLOB_PAUSE_MS = 250;

/** Reads of each referrers tag at close at most, when another writer keeps writing over this one's entries. */
const FALLBACK_ATTEMPTS = 5;
/** About how long after writing the referrers tag it is read again, to find a concurrent writer's overwrite. */
const FALLBACK_RECHECK_MS = 200;

/**
 * A repository in a registry, as a {@link ContentStore}. Blobs are checked with a HEAD before
 * they are uploaded, mounted from sibling repositories when the caller knows where they live,
 * and manifests are put by digest before any tag points at them. Referrers use the registry's
 * referrers API when it has one, else the referrers tag schema (`sha256-<hex>` index tags),
 * which this store keeps up to date when the registry does not process `subject` itself.
 */
export class RegistryStore implements ContentStore {
  readonly client: RegistryClient;
  readonly repository: string;
  readonly location: string;
  readonly registryRepository: { readonly registry: string; readonly repository: string };
  // Updates of one fallback index tag must not interleave (read, append, write).
  readonly #fallbackLocks = new Map<string, Promise<unknown>>();
  /** The referrers this store added to referrers tags, by tag, for {@link close} to check. */
  readonly #fallbackWritten = new Map<string, { subject: Digest; referrers: Map<string, Stored> }>();
  /**
   * What this store was given to push, by digest: a manifest refused for a blob or child
   * manifest that went missing (another push of the same blob committing) sends it again.
   */
  readonly #sources = new Map<Digest, BlobSource>();
  readonly #manifests = new Map<Digest, Stored>();

  constructor(client: RegistryClient, repository: string) {
    this.client = client;
    this.repository = repository;
    this.location = `${client.registry}/${repository}`;
    this.registryRepository = { registry: client.registry, repository };
  }

  async statBlob(digest: Digest, options: OperationOptions = {}): Promise<Descriptor | undefined> {
    return this.client.headBlob(this.repository, digest, callOf(options));
  }

  async readBlob(descriptor: Descriptor, options: OperationOptions & { offset?: number } = {}): Promise<ByteStream> {
    return this.client.readBlob(this.repository, descriptor, { ...callOf(options), offset: options.offset ?? 0 });
  }

  async putBlob(source: BlobSource, options: PutBlobOptions = {}): Promise<'stored' | 'exists' | 'mounted'> {
    // HEAD first ('exists'), then a mount from `mountFrom` ('mounted'), else an upload ('stored').
    this.#sources.set(source.descriptor.digest, source);
    return this.client.pushBlob(this.repository, source, { ...callOf(options), mountFrom: options.mountFrom });
  }

  async resolve(target: string, options: OperationOptions = {}): Promise<Descriptor | undefined> {
    return this.client.headManifest(this.repository, target, callOf(options));
  }

  async getManifest(target: string, options: OperationOptions = {}): Promise<Stored> {
    return this.client.getManifest(this.repository, target, callOf(options));
  }

  async putManifest(stored: Stored, options: PutManifestOptions = {}): Promise<void> {
    this.#manifests.set(stored.digest, stored);
    if (options.present !== true) {
      const { subjectProcessed } = await this.#put(stored.digest, stored, options);
      const subject = subjectOf(stored);
      if (subject !== undefined && !subjectProcessed) await this.#addToFallbackIndex(subject.digest, stored, options);
    }
    // Tags last: a failure above leaves no tag pointing at the manifest.
    for (const tag of options.tags ?? []) await this.#put(tag, stored, options);
    options.onProgress?.({ kind: 'manifest', digest: stored.digest, mediaType: stored.mediaType, phase: 'done' });
  }

  /**
   * The manifest PUT, again when the registry refuses it for a blob or child manifest it names
   * that is missing. Pushes of one image at once to one repository (CI matrix jobs) meet this:
   * one push's HEAD finds a blob that another push is committing, and distribution's filesystem
   * storage rewrites the blob's link in the repository in place (truncated, then written), so a
   * manifest PUT that reads it then is refused (`DIGEST_INVALID; MANIFEST_BLOB_UNKNOWN`). Each
   * refusal checks what the manifest names (HEAD), sends again what is missing and this store
   * was given, and puts the manifest again after a pause, {@link MISSING_BLOB_ATTEMPTS} times
   * at most. A PUT that passes the first time costs nothing more.
   */
  async #put(target: string, stored: Stored, options: OperationOptions): Promise<PutManifestResult> {
    const call = callOf(options);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.client.putManifest(this.repository, target, stored, call);
      } catch (err) {
        if (!refusedForMissing(err, stored)) throw err;
        const last = attempt >= MISSING_BLOB_ATTEMPTS;
        const missing = await this.#missingReferences(stored, call);
        if (last) throw stillMissing(err, missing, attempt);
        for (const d of missing) await this.#pushAgain(d, options);
        options.logger?.warn(
          `${this.location}: the registry refused manifest ${stored.digest} for content it names that was missing (${missing.length === 0 ? 'all there when checked' : `sent again: ${missing.map((d) => d.digest).join(', ')}`}); putting it again`,
        );
        await sleep(MISSING_BLOB_PAUSE_MS * attempt * (0.5 + Math.random()), options.signal);
      }
    }
  }

  /** What `stored` names that the repository does not have now: blobs checked by HEAD, child manifests by HEAD. */
  async #missingReferences(stored: Stored, call: OperationOptions): Promise<Descriptor[]> {
    const missing: Descriptor[] = [];
    for (const d of namedBy(stored)) {
      const there =
        stored.kind === 'index'
          ? await this.client.headManifest(this.repository, d.digest, call)
          : await this.client.headBlob(this.repository, d.digest, call);
      if (there === undefined) missing.push(d);
    }
    return missing;
  }

  /** Sends again a blob or manifest this store was given; one it was not given is left to whoever pushes it. */
  async #pushAgain(d: Descriptor, options: OperationOptions): Promise<void> {
    const manifest = this.#manifests.get(d.digest);
    const source = this.#sources.get(d.digest);
    if (manifest !== undefined) await this.#put(manifest.digest, manifest, options);
    else if (source !== undefined) await this.client.pushBlob(this.repository, source, callOf(options));
  }

  /** The referrers tag schema (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#referrers-tag-schema). */
  async #addToFallbackIndex(subject: Digest, referrer: Stored, options: OperationOptions): Promise<void> {
    const tag = referrersTag(subject);
    const previous = this.#fallbackLocks.get(tag) ?? Promise.resolve();
    const run = previous.then(async () => {
      const call = callOf(options);
      const index = await this.#readFallbackIndex(subject, tag, call);
      if (index?.manifests.some((m) => m.digest === referrer.digest)) return;
      await this.#writeFallbackIndex(tag, index, [referrer], call);
      // Another writer (another process) doing the same at the same time may write an index
      // without this entry over this one, and the registry offers no conditional write: the
      // tag is read again when the store closes (checkFallbackIndexes).
      let written = this.#fallbackWritten.get(tag);
      if (written === undefined) {
        written = { subject, referrers: new Map() };
        this.#fallbackWritten.set(tag, written);
      }
      written.referrers.set(referrer.digest, referrer);
    });
    this.#fallbackLocks.set(
      tag,
      run.catch(() => undefined),
    );
    await run;
  }

  /** The fallback index the referrers tag holds, or undefined when there is none yet. */
  async #readFallbackIndex(subject: Digest, tag: string, call: OperationOptions): Promise<ImageIndex | undefined> {
    const current = await this.#fallbackIndex(subject, tag, call);
    if (current === undefined) return undefined;
    if (current.kind !== 'index') {
      throw new ProvenantError('INVALID_MANIFEST', `the referrers tag ${tag} does not hold an index`, { where: `${this.location}:${tag}` });
    }
    return current.index;
  }

  /**
   * What the referrers tag holds: undefined when there is nothing there yet. GitLab answers a
   * GET of the tag `sha256-<hex>` with the manifest `sha256:<hex>`, the subject itself
   * (oras-project/oras#2148, oras-project/oras-go#1396): an answer whose digest is the
   * subject's is no fallback index either, whether the subject is an image (which would fail as
   * "not an index") or an index (whose platform manifests would pass for referrers). There the
   * tag cannot be read back, so each push writes it with its own referrer alone; readers find
   * referrers through cosign's `.sig`/`.att` tags, which the quirk does not touch.
   */
  async #fallbackIndex(subject: Digest, tag: string, call: OperationOptions): Promise<Stored | undefined> {
    let current: Stored;
    try {
      current = await this.client.getManifest(this.repository, tag, call);
    } catch (err) {
      if (err instanceof ProvenantError && err.code === 'NOT_FOUND') return undefined;
      throw err;
    }
    return current.digest === subject ? undefined : current;
  }

  async listTags(options: ListTagsOptions = {}): Promise<string[]> {
    try {
      return await this.client.listTags(this.repository, callOf(options));
    } catch (err) {
      if (!(err instanceof ProvenantError) || err.code !== 'NOT_FOUND') throw err;
      // Distribution answers NAME_UNKNOWN for a repository without tags (even one holding
      // untagged manifests): for a store, that is no tags, unless the caller asks.
      if (options.strict !== true) return [];
      throw new ProvenantError('NOT_FOUND', `${this.location} is no repository the registry knows, or has no tags`, {
        where: this.location,
        hint: 'check the name (the registry answered NAME_UNKNOWN); a repository holding only untagged images answers the same',
        cause: err,
      });
    }
  }

  async referrers(subject: Digest, options: ReferrersOptions = {}): Promise<Descriptor[]> {
    const call = callOf(options);
    const fromApi = await this.client.referrers(this.repository, subject, { ...call, artifactType: options.artifactType });
    if (fromApi !== undefined) return fromApi;
    // No referrers API (distribution 2.8): the referrers tag schema's index.
    const index = await this.#fallbackIndex(subject, referrersTag(subject), call);
    if (index === undefined || index.kind !== 'index') return [];
    const all = index.index.manifests;
    return options.artifactType === undefined ? all : all.filter((m) => m.artifactType === options.artifactType);
  }

  async close(options: CloseOptions = {}): Promise<void> {
    await Promise.all(this.#fallbackLocks.values());
    if (options.discard !== true) await this.#checkFallbackIndexes(options.signal);
  }

  /** Writes the referrers tag: `index` (or a new one) with `referrers` added. */
  async #writeFallbackIndex(
    tag: string,
    index: ImageIndex | undefined,
    referrers: readonly Stored[],
    call: OperationOptions,
  ): Promise<void> {
    const base = index ?? { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
    const next: ImageIndex = { ...base, manifests: [...base.manifests, ...referrers.map(referrerDescriptor)] };
    await this.client.putManifest(this.repository, tag, parseStored(encodeJson(next), { mediaType: MediaType.OciIndex }), call);
  }

  /**
   * Reads again, after a pause, each referrers tag this store wrote, and adds back the entries
   * that a concurrent writer's index replaced (each writer checks its own the same way). A
   * registry whose tag cannot be read back (GitLab, {@link fallbackIndex}) is left as written.
   */
  async #checkFallbackIndexes(signal: AbortSignal | undefined): Promise<void> {
    const call = signal === undefined ? {} : { signal };
    for (let attempt = 1; attempt < FALLBACK_ATTEMPTS && this.#fallbackWritten.size > 0; attempt++) {
      await sleep(FALLBACK_RECHECK_MS * (0.5 + Math.random()), signal);
      for (const [tag, { subject, referrers }] of [...this.#fallbackWritten]) {
        const index = await this.#readFallbackIndex(subject, tag, call);
        const missing =
          index === undefined ? [] : [...referrers.values()].filter((r) => !index.manifests.some((m) => m.digest === r.digest));
        if (missing.length === 0) this.#fallbackWritten.delete(tag);
        else await this.#writeFallbackIndex(tag, index, missing, call);
      }
    }
    this.#fallbackWritten.clear();
  }
}

/** The blobs a manifest names that live in the repository (foreign layers live at their URLs), or an index's manifests. */
function namedBy(stored: Stored): Descriptor[] {
  if (stored.kind === 'index') return stored.index.manifests;
  return [stored.manifest.config, ...stored.manifest.layers].filter((d) => !isForeignLayer(d.mediaType) && (d.urls ?? []).length === 0);
}

/**
 * The registry refused a manifest for a blob or manifest it names (`MANIFEST_BLOB_UNKNOWN`,
 * which distribution also answers for an index's missing child, `BLOB_UNKNOWN`, or
 * `DIGEST_INVALID` whose detail is a digest the manifest names): the refusal of a moment when
 * another push of the same content is committing.
 */
function refusedForMissing(err: unknown, stored: Stored): err is RegistryResponseError {
  if (!(err instanceof RegistryResponseError)) return false;
  const named = new Set<string>(namedBy(stored).map((d) => d.digest));
  return err.registryErrors.some(
    (e) =>
      e.code === 'MANIFEST_BLOB_UNKNOWN' ||
      e.code === 'BLOB_UNKNOWN' ||
      (e.code === 'DIGEST_INVALID' && typeof e.detail === 'string' && named.has(e.detail)),
  );
}

/** The last refusal, naming what was missing at the last check. */
function stillMissing(err: RegistryResponseError, missing: readonly Descriptor[], attempts: number): ProvenantError {
  const what =
    missing.length === 0
      ? 'each blob it names was there when checked after the last refusal'
      : `missing: ${missing.map((d) => d.digest).join(', ')}`;
  return new ProvenantError(err.code, `${err.message}, ${attempts} times; ${what}`, {
    where: err.where,
    hint: 'another push to the repository (or its garbage collection) may be changing the same blobs; push again once it is done',
    cause: err,
  });
}

function callOf(options: OperationOptions): { signal?: AbortSignal; onProgress?: NonNullable<OperationOptions['onProgress']> } {
  return {
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
  };
}
