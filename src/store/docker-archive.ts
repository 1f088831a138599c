/** `docker-archive:FILE`, the `docker save` / `docker load` format, as a content store. */
import { open, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { compressionOf } from '../archive/compression.ts';
import type { TarView, TarViewFile } from '../archive/view.ts';
import { decodeUtf8 } from '../bytes.ts';
import { ProvenantError } from '../errors.ts';
import type { BlobSource, ByteStream, OperationOptions } from '../io/types.ts';
import { collect, MANIFEST_LIMIT } from '../io/verify.ts';
import { descriptorOf, encodeJson, parseStored, type Stored } from '../oci/content.ts';
import { type Digest, Digester, digestAlgorithm, digestHex, isDigest } from '../oci/digest.ts';
import { isForeignLayer, MediaType } from '../oci/mediatypes.ts';
import type { Descriptor } from '../oci/types.ts';
import { DOCKER_HUB, type ImageReference, parseReference } from '../ref/reference.ts';
import { archiveFile, archiveTarget, lockArchive, packDirectory } from './archive.ts';
import { openArchiveView, removeStalePartials, removeStaleWork, stagingError, WorkFolder } from './archive-work.ts';
import { LayoutStore } from './layout.ts';
import type { LayoutLock } from './layout-lock.ts';
import type { CloseOptions, ContentStore, PutBlobOptions, PutManifestOptions } from './types.ts';

// Docker's uncompressed layer type, which schema 2 defines though registries rarely see it.
const DOCKER_LAYER_TAR = 'application/vnd.docker.image.rootfs.diff.tar';
// A zstd layer in Docker's media types: schema 2 defines none, and containerd and BuildKit write
// this one (containerd's images.MediaTypeDockerSchema2LayerZstd). `docker load` reads zstd layer
// files (moby's archive.DecompressStream detects the magic), and skopeo unpacks them on reading.
const DOCKER_LAYER_ZSTD = 'application/vnd.docker.image.rootfs.diff.tar.zstd';

/** How a layer file is compressed, as `docker load` tells it: by its first bytes. */
type LayerCompression = 'gzip' | 'zstd' | 'none';

/** One image of a `docker save` archive's manifest.json. */
interface SavedImage {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
}

/** A RepoTags entry in the form {@link repoTag} writes it; the text itself when it is no reference. */
function normalTag(text: string): string {
  try {
    const ref = parseReference(text);
    return ref.digest === undefined ? repoTag(ref) : text;
  } catch {
    return text;
  }
}

/**
 * Refuses to write over a file at `path` that has content: the archive is written whole, so
 * writing would drop the images an existing archive holds, or replace an unrelated file. skopeo
 * refuses too ("docker-archive doesn't support modifying existing images"). An empty file (as
 * `mktemp` makes) is taken as new.
 *
 * @throws ProvenantError `USAGE` naming the file, or a folder; `IO` when it cannot be looked at
 */
async function refuseExisting(path: string, where: string): Promise<void> {
  if ((await archiveTarget(path, where)) !== 'file') return;
  throw new ProvenantError('USAGE', 'the file exists, and a docker-archive is written whole: it would replace it', {
    where,
    hint: 'remove it or choose another name; oci-archive:FILE and oci:DIR add to what is there',
  });
}

/**
 * The refusal {@link DockerArchiveStore.open} makes when opened to write, said before the work
 * that would fill the archive (a build): `path` as a location names it, through a link as the
 * store writes it. The store checks again when it is opened and when it is closed.
 *
 * @throws ProvenantError `USAGE` naming the file, or a folder; `IO` when it cannot be looked at
 */
export async function refuseExistingArchive(path: string): Promise<void> {
  const where = `docker-archive:${path}`;
  await refuseExisting(await archiveFile(path, where), where);
}

/** `name:tag` as Docker writes it in RepoTags (Docker Hub names in their short form). */
export function repoTag(ref: ImageReference): string {
  let name = `${ref.registry}/${ref.repository}`;
  if (ref.registry === DOCKER_HUB) name = ref.repository.startsWith('library/') ? ref.repository.slice(8) : ref.repository;
  return `${name}:${ref.tag ?? 'latest'}`;
}

/** A layer file's compression by its first bytes (its first 4 are enough: see compressionOf): gzip, zstd, else none. */
function sniffCompression(first: Uint8Array | undefined): LayerCompression {
  const compression = first === undefined ? undefined : compressionOf(first);
  return compression === 'gzip' || compression === 'zstd' ? compression : 'none';
}

/** A layer's compression as its media type says it, for a blob that is not at hand to be read. */
function typedCompression(mediaType: string): LayerCompression {
  if (/gzip/.test(mediaType)) return 'gzip';
  if (/zstd/.test(mediaType)) return 'zstd';
  return 'none';
}

/** Docker's media type for a layer file of an archive: gzip, zstd or a plain tar. */
function savedLayerType(compression: LayerCompression): string {
  return compression === 'gzip' ? MediaType.DockerLayerGzip : compression === 'zstd' ? DOCKER_LAYER_ZSTD : DOCKER_LAYER_TAR;
}

/**
 * The Docker schema 2 manifest an archive's image stands for (the format keeps none, only the
 * config and layer files): what reading an archive makes of a manifest.json entry, and what
 * writing one predicts a reader will make.
 */
function savedManifest(config: Descriptor, layers: readonly Descriptor[], where: string): Stored {
  return parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.DockerManifest, config, layers }), { where });
}

/**
 * `docker-archive:FILE[:NAME:TAG]`, the `docker save` / `docker load` format: manifest.json
 * lists each image's config, tags and layer files. Reading presents each image as a Docker
 * schema 2 manifest made from those files (as skopeo does; layer digests are the files'
 * digests). Writing holds one or more single-platform images and writes blobs under
 * `blobs/sha256/` as Docker 25 does, which `docker load` and skopeo read.
 *
 * Reading is in place, through a {@link TarView}: manifest.json, configs and layers are read from
 * the tar by offset, and the paths manifest.json names are looked up among the archive's own
 * members (links followed inside it), so no path can lead to a file of the host. A
 * gzip- or zstd-compressed archive (`docker save | gzip`, which `docker load` takes) is read through a
 * decompressed temporary copy that `close()` removes (see {@link openArchiveView}). Writing packs
 * a private temporary layout on `close()`.
 */
export class DockerArchiveStore implements ContentStore {
  readonly location: string;
  readonly holdsAttachments = false;
  readonly #path: string;
  /** Writing: the file written, `#path` with its links resolved (see {@link archiveFile}). */
  #file: string;
  readonly #images: Array<{ stored: Stored; tags: string[] }> = [];
  /** Writing: each manifest given to putManifest, by its digest, as the archive holds it (see {@link heldAs}). */
  readonly #heldAs = new Map<Digest, Descriptor>();
  /** Reading: the archive and its members by digest. */
  #view: TarView | undefined;
  /** Reading: removes the decompressed copy a compressed archive is read through. */
  #release: (() => Promise<void>) | undefined;
  readonly #files = new Map<string, TarViewFile>();
  /** Writing: the temporary folder and the layout in it that `close()` packs. */
  #work: WorkFolder | undefined;
  #blobs: LayoutStore | undefined;
  #lock: LayoutLock | undefined;

  private constructor(path: string) {
    this.#path = path;
    this.#file = path;
    this.location = `docker-archive:${path}`;
  }

  /** Opens an archive for reading, or (with `write`) a new one that `close()` writes. */
  static async open(path: string, options: { write?: boolean; signal?: AbortSignal | undefined } = {}): Promise<DockerArchiveStore> {
    const store = new DockerArchiveStore(path);
    if (!options.write) {
      try {
        await store.#load();
      } catch (err) {
        await store.close();
        throw err;
      }
      return store;
    }
    // Held until close: a second writer of the same file waits, then finds it written.
    // Through a link, the file it leads to is locked and written (as skopeo writes through it),
    // and shares its lock with a writer that names it directly.
    store.#file = await archiveFile(path, store.location);
    const lock = await lockArchive(store.#file, store.location, options.signal);
    let work: WorkFolder | undefined;
    try {
      // Held by this process, the lock was free or its holder gone: a partial file beside the
      // archive, or a work folder whose owner is gone, is what a killed writer left.
      await removeStalePartials(store.#file);
      await removeStaleWork();
      await refuseExisting(store.#file, store.location);
      work = await WorkFolder.make('provenant-docker-archive-');
      store.#blobs = await LayoutStore.open(join(work.path, 'out'), {
        create: true,
        location: store.location,
        // Into the work folder, in TMPDIR: a write refused there is its.
        writeError: (err) => stagingError(err, store.location, path),
      });
      store.#work = work;
      store.#lock = lock;
      return store;
    } catch (err) {
      await work?.remove();
      await lock.release();
      throw stagingError(err, store.location, path);
    }
  }

  async #load(): Promise<void> {
    await stat(this.#path).catch(() => {
      throw new ProvenantError('NOT_FOUND', `no archive at ${this.#path}`, { where: this.location });
    });
    const { view, release } = await openArchiveView(this.#path, this.location);
    this.#view = view;
    this.#release = release;
    const file = view.file('manifest.json');
    let saved: SavedImage[];
    try {
      if (file === undefined) throw new Error('no manifest.json');
      const bytes = await collect(view.read(file), MANIFEST_LIMIT, `${this.location}/manifest.json`);
      saved = JSON.parse(decodeUtf8(bytes, true)) as SavedImage[];
    } catch (cause) {
      if (cause instanceof ProvenantError && cause.code !== 'INVALID_MANIFEST') throw cause;
      throw new ProvenantError('INVALID_ARCHIVE', 'manifest.json is missing, too large or not JSON', { where: this.location, cause });
    }
    if (!Array.isArray(saved) || saved.length === 0)
      throw new ProvenantError('INVALID_ARCHIVE', 'manifest.json lists no image', { where: this.location });
    for (const [i, image] of saved.entries()) {
      if (
        typeof image?.Config !== 'string' ||
        !Array.isArray(image.Layers) ||
        !image.Layers.every((l) => typeof l === 'string') ||
        !(
          image.RepoTags === null ||
          image.RepoTags === undefined ||
          (Array.isArray(image.RepoTags) && image.RepoTags.every((t) => typeof t === 'string'))
        )
      ) {
        throw new ProvenantError('INVALID_ARCHIVE', `manifest.json entry ${i} has no Config or Layers, or a value of the wrong type`, {
          where: this.location,
        });
      }
      const config = await this.#describeFile(view, image.Config, MediaType.DockerConfig);
      const layers: Descriptor[] = [];
      for (const l of image.Layers) layers.push(await this.#describeFile(view, l, undefined));
      this.#images.push({
        stored: savedManifest(config, layers, `${this.location}: manifest.json entry ${i}`),
        tags: image.RepoTags ?? [],
      });
    }
  }

  async #describeFile(view: TarView, name: string, mediaType: string | undefined): Promise<Descriptor> {
    // Looked up among the archive's members only; a name that leaves the archive is UNSAFE_PATH.
    const file = view.file(name);
    if (file === undefined) {
      throw new ProvenantError('INVALID_ARCHIVE', `manifest.json names ${name}, which the archive lacks`, { where: this.location });
    }
    const digester = new Digester();
    let first = new Uint8Array(0);
    for await (const chunk of view.read(file)) {
      // The magic is 4 bytes at most; a stream may give fewer in its first chunk.
      if (first.length < 4) first = Buffer.concat([first, chunk.subarray(0, 4 - first.length)]);
      digester.update(chunk);
    }
    const digest = digester.digest();
    this.#files.set(digest, file);
    return { mediaType: mediaType ?? savedLayerType(sniffCompression(first)), digest, size: digester.size };
  }

  #readOnly(): never {
    throw new ProvenantError('USAGE', 'this docker-archive was opened for reading', { where: this.location });
  }

  async statBlob(digest: Digest): Promise<Descriptor | undefined> {
    if (this.#blobs) return this.#blobs.statBlob(digest);
    const file = this.#files.get(digest);
    if (file === undefined) return undefined;
    return { mediaType: 'application/octet-stream', digest, size: file.size };
  }

  async readBlob(descriptor: Descriptor, options: OperationOptions & { offset?: number } = {}): Promise<ByteStream> {
    if (this.#blobs) return this.#blobs.readBlob(descriptor, options);
    const file = this.#files.get(descriptor.digest);
    if (file === undefined || this.#view === undefined) {
      throw new ProvenantError('NOT_FOUND', `blob ${descriptor.digest} is not in the archive`, {
        where: `${this.location}@${descriptor.digest}`,
      });
    }
    return this.#view.readBlob(file, descriptor, options.offset ?? 0);
  }

  async putBlob(source: BlobSource, options: PutBlobOptions = {}): Promise<'stored' | 'exists'> {
    if (!this.#blobs) this.#readOnly();
    this.#refuseAlgorithm(source.descriptor.digest);
    return this.#blobs.putBlob(source, options);
  }

  /**
   * Refuses a blob of any digest but sha256, before anything is written. The format names
   * content by sha256 alone: `docker load` takes the config's sha256 for the image id, and a
   * reader (this one and skopeo) digests each file with sha256, so the image it finds would not
   * be the one written, and no manifest.json path could say which algorithm a file was named by.
   *
   * @throws ProvenantError `INCOMPATIBLE` naming the digest
   */
  #refuseAlgorithm(digest: Digest): void {
    if (digestAlgorithm(digest) === 'sha256') return;
    throw new ProvenantError('INCOMPATIBLE', `a docker-archive holds sha256 content only, and the image has ${digest}`, {
      where: this.location,
      hint: 'write it to an oci:DIR or oci-archive:FILE destination, which keep sha512 digests',
    });
  }

  /**
   * The image a digest or a `NAME:TAG` names. Names compare in the form {@link repoTag} gives,
   * so `docker.io/library/foo:v1` is `foo:v1`. An exact match wins; else a name that ends the
   * way (`foo:v1` for `example.com/foo:v1`), when only one image has it: an archive holding
   * `registry.example/evil/foo:v1` before `foo:v1` must not answer `foo:v1` with the first.
   *
   * @throws ProvenantError `USAGE` when several images have the name, exactly or as an ending
   */
  #find(target: string): Stored | undefined {
    if (isDigest(target)) return this.#images.find((i) => i.stored.digest === target)?.stored;
    const want = normalTag(target);
    const exact = this.#matching((tag) => tag === want);
    if (exact.length === 1) return exact[0]!.stored;
    const matches = exact.length > 1 ? exact : this.#matching((tag) => tag.endsWith(`/${want}`));
    if (matches.length <= 1) return matches[0]?.stored;
    throw new ProvenantError('USAGE', `${target} names ${matches.length} images in the archive`, {
      where: this.location,
      hint: `name one in full, or by digest: ${matches.map((i) => `${i.tags.join(', ')} (${i.stored.digest})`).join('; ')}`,
    });
  }

  /** The images (distinct by digest) with a tag that, as {@link normalTag} writes it, passes `test`. */
  #matching(test: (tag: string) => boolean): Array<{ stored: Stored; tags: string[] }> {
    const found = this.#images.filter((i) => i.tags.some((t) => test(normalTag(t))));
    return found.filter((i, n) => found.findIndex((j) => j.stored.digest === i.stored.digest) === n);
  }

  async resolve(target: string): Promise<Descriptor | undefined> {
    const found = this.#find(target);
    return found && descriptorOf(found);
  }

  async getManifest(target: string): Promise<Stored> {
    const found = this.#find(target);
    if (found !== undefined) return found;
    throw new ProvenantError('NOT_FOUND', `${target} is not in the archive`, {
      where: this.location,
      hint: `images here: ${this.#images.flatMap((i) => i.tags).join(', ') || '(untagged)'}`,
    });
  }

  /** The one image to use when the location names none: the only image, or USAGE naming the images. */
  async defaultTarget(): Promise<string> {
    if (this.#images.length === 1) return this.#images[0]!.stored.digest;
    throw new ProvenantError('USAGE', `the archive holds ${this.#images.length} images; name one`, {
      where: this.location,
      hint: `add :NAME:TAG (images: ${this.#images.flatMap((i) => i.tags).join(', ')})`,
    });
  }

  async putManifest(stored: Stored, options: PutManifestOptions = {}): Promise<void> {
    if (!this.#blobs) this.#readOnly();
    const tags = [...(options.tags ?? [])];
    if (tags.length === 0 && !options.keepAsRoot) return; // children and referrers have no place here
    if (stored.kind !== 'manifest') {
      throw new ProvenantError('USAGE', 'a docker-archive holds single-platform images, not an index', {
        where: this.location,
        hint: 'pick one with --platform os/arch',
      });
    }
    for (const d of [stored.manifest.config, ...stored.manifest.layers]) this.#refuseAlgorithm(d.digest);
    for (const d of [stored.manifest.config, ...stored.manifest.layers]) await this.#refuseAbsent(d);
    const saved = await this.#asSaved(stored);
    this.#images.push({ stored: saved, tags });
    this.#heldAs.set(stored.digest, descriptorOf(saved));
  }

  /**
   * The descriptor the written archive will be read back with for the manifest `digest` given to
   * putManifest: Docker schema 2 made from its files (see {@link #asSaved}), another digest than an
   * OCI manifest's. What `docker load` and a reader of the archive (`digest`, `copy`) find.
   */
  heldAs(digest: Digest): Descriptor | undefined {
    return this.#heldAs.get(digest);
  }

  /**
   * Refuses a manifest whose blob `d` was not written here: manifest.json would name a file the
   * archive lacks, which `docker load` and skopeo fail on. A foreign (non-distributable) layer is
   * the usual one: it lives at its URLs, and a copy leaves it there (registries refuse it as an
   * upload), while this format has no way to say where else a layer is.
   *
   * @throws ProvenantError `INCOMPATIBLE` for a foreign layer, `NOT_FOUND` for another blob
   */
  async #refuseAbsent(d: Descriptor): Promise<void> {
    if ((await this.#blobs?.statBlob(d.digest)) !== undefined) return;
    if (isForeignLayer(d.mediaType) || (d.urls?.length ?? 0) > 0) {
      throw new ProvenantError(
        'INCOMPATIBLE',
        `the layer ${d.digest} is foreign (${d.mediaType}): a docker-archive must hold every layer file`,
        {
          where: this.location,
          hint: 'write it to an oci:DIR or oci-archive:FILE destination, which keep a foreign layer as its descriptor and URLs',
        },
      );
    }
    throw new ProvenantError('NOT_FOUND', `blob ${d.digest} the manifest names was not written to the archive`, {
      where: `${this.location}@${d.digest}`,
      hint: 'write the blobs of an image before its manifest',
    });
  }

  /**
   * The manifest the archive will hold for `stored`, as {@link #load} reads it back (the
   * format keeps no manifest, only the config and layer files): Docker schema 2, the config
   * typed as Docker's, each layer gzip, zstd or plain tar by its first bytes. So `resolve` and
   * `defaultTarget` answer with the digest a reader of the written archive finds.
   */
  async #asSaved(stored: Stored & { kind: 'manifest' }): Promise<Stored> {
    const { config, layers } = stored.manifest;
    const saved: Descriptor[] = [];
    for (const l of layers) {
      const compression = (await this.#writtenCompression(l.digest)) ?? typedCompression(l.mediaType);
      saved.push({ mediaType: savedLayerType(compression), digest: l.digest, size: l.size });
    }
    return savedManifest({ mediaType: MediaType.DockerConfig, digest: config.digest, size: config.size }, saved, this.location);
  }

  /** How the blob written for `digest` is compressed, by its first bytes; undefined when it is not there. */
  async #writtenCompression(digest: Digest): Promise<LayerCompression | undefined> {
    if (this.#work === undefined) return undefined;
    const file = await open(join(this.#work.path, 'out', 'blobs', 'sha256', digestHex(digest))).catch(() => undefined);
    if (file === undefined) return undefined;
    try {
      const { buffer, bytesRead } = await file.read(Buffer.alloc(4), 0, 4, 0);
      return sniffCompression(buffer.subarray(0, bytesRead));
    } finally {
      await file.close();
    }
  }

  async listTags(): Promise<string[]> {
    return this.#images.flatMap((i) => i.tags).sort();
  }

  async referrers(): Promise<Descriptor[]> {
    return [];
  }

  async close(options: CloseOptions = {}): Promise<void> {
    const release = this.#release;
    this.#release = undefined;
    await release?.();
    const work = this.#work;
    if (work === undefined) return; // read in place, or closed already
    this.#work = undefined;
    try {
      // The scratch layout's writer session ends first: its `.provenant-writer-*` list (host,
      // pid, digests) is coordination between processes, not content, and would make every
      // archive differ.
      await this.#blobs?.close();
      if (this.#blobs && this.#images.length > 0 && !options.discard) {
        const out = join(work.path, 'out');
        const manifest: SavedImage[] = this.#images.map(({ stored, tags }) => {
          if (stored.kind !== 'manifest') throw new Error('unreachable');
          return {
            Config: `blobs/sha256/${digestHex(stored.manifest.config.digest)}`,
            RepoTags: tags,
            Layers: stored.manifest.layers.map((l) => `blobs/sha256/${digestHex(l.digest)}`),
          };
        });
        await writeFile(join(out, 'manifest.json'), encodeJson(manifest));
        // Only manifest.json describes the images: the scratch layout's own files are left out
        // so that no reader takes an empty index.json for the archive's contents.
        await rm(join(out, 'index.json'), { force: true });
        await rm(join(out, 'oci-layout'), { force: true });
        // Again: another program may have put a file there since open.
        await refuseExisting(this.#file, this.location);
        await packDirectory(out, this.#file, options.signal, this.location);
      }
    } finally {
      await work.remove();
      await this.#lock?.release();
      this.#lock = undefined;
    }
  }
}
