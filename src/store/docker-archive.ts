import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanEntryPath } from '../archive/paths.ts';
import { ProvenantError } from '../errors.ts';
import { descriptorOf, encodeJson, parseStored, type Stored } from '../oci/content.ts';
import { type Digest, Digester, digestHex, isDigest } from '../oci/digest.ts';
import { MediaType } from '../oci/mediatypes.ts';
import type { Descriptor } from '../oci/types.ts';
import { DOCKER_HUB, type ImageReference } from '../ref/reference.ts';
import { packDirectory, unpack } from './archive.ts';
import { LayoutStore } from './layout.ts';
import type { BlobSource, ByteStream, ContentStore, OperationOptions, PutBlobOptions, PutManifestOptions } from './types.ts';
import { verifyStream } from './verify.ts';

// Docker's uncompressed layer type, which schema 2 defines though registries rarely see it.
const DOCKER_LAYER_TAR = 'application/vnd.docker.image.rootfs.diff.tar';

/** One image of a `docker save` archive's manifest.json. */
interface SavedImage {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
}

/** `name:tag` as Docker writes it in RepoTags (Docker Hub names in their short form). */
export function repoTag(ref: ImageReference): string {
  let name = `${ref.registry}/${ref.repository}`;
  if (ref.registry === DOCKER_HUB) name = ref.repository.startsWith('library/') ? ref.repository.slice(8) : ref.repository;
  return `${name}:${ref.tag ?? 'latest'}`;
}

/**
 * `docker-archive:FILE[:NAME:TAG]`, the `docker save` / `docker load` format: manifest.json
 * lists each image's config, tags and layer files. Reading presents each image as a Docker
 * schema 2 manifest made from those files (as skopeo does; layer digests are the files'
 * digests). Writing holds one or more single-platform images and writes blobs under
 * `blobs/sha256/` as Docker 25 does, which `docker load` and skopeo read.
 */
export class DockerArchiveStore implements ContentStore {
  readonly location: string;
  readonly #path: string;
  readonly #work: string;
  readonly #write: boolean;
  readonly #images: Array<{ stored: Stored; tags: string[] }> = [];
  readonly #files = new Map<string, string>();
  #blobs: LayoutStore | undefined;

  private constructor(path: string, work: string, write: boolean) {
    this.#path = path;
    this.#work = work;
    this.#write = write;
    this.location = `docker-archive:${path}`;
  }

  /** Opens an archive for reading, or (with `write`) a new one that `close()` writes. */
  static async open(path: string, options: { write?: boolean } = {}): Promise<DockerArchiveStore> {
    const work = await mkdtemp(join(tmpdir(), 'provenant-docker-archive-'));
    const store = new DockerArchiveStore(path, work, options.write === true);
    try {
      if (options.write) store.#blobs = await LayoutStore.open(join(work, 'out'), { create: true });
      else await store.#load();
      return store;
    } catch (err) {
      await rm(work, { recursive: true, force: true });
      throw err;
    }
  }

  async #load(): Promise<void> {
    const dir = join(this.#work, 'in');
    await stat(this.#path).catch(() => {
      throw new ProvenantError('NOT_FOUND', `no archive at ${this.#path}`, { where: this.location });
    });
    await unpack(this.#path, dir, 'docker-archive');
    let saved: SavedImage[];
    try {
      saved = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as SavedImage[];
    } catch (cause) {
      throw new ProvenantError('INVALID_ARCHIVE', 'manifest.json is missing or not JSON', { where: this.location, cause });
    }
    if (!Array.isArray(saved) || saved.length === 0)
      throw new ProvenantError('INVALID_ARCHIVE', 'manifest.json lists no image', { where: this.location });
    for (const [i, image] of saved.entries()) {
      if (typeof image?.Config !== 'string' || !Array.isArray(image.Layers)) {
        throw new ProvenantError('INVALID_ARCHIVE', `manifest.json entry ${i} has no Config or Layers`, { where: this.location });
      }
      const config = await this.#describeFile(dir, image.Config, MediaType.DockerConfig);
      const layers: Descriptor[] = [];
      for (const l of image.Layers) layers.push(await this.#describeFile(dir, l, undefined));
      const stored = parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.DockerManifest, config, layers }));
      this.#images.push({ stored, tags: image.RepoTags ?? [] });
    }
  }

  async #describeFile(dir: string, name: string, mediaType: string | undefined): Promise<Descriptor> {
    const path = join(dir, cleanEntryPath(name, `${this.location}: ${name}`));
    const digester = new Digester();
    let first: Uint8Array | undefined;
    try {
      for await (const chunk of createReadStream(path) as AsyncIterable<Uint8Array>) {
        first ??= chunk;
        digester.update(chunk);
      }
    } catch (cause) {
      throw new ProvenantError('INVALID_ARCHIVE', `manifest.json names ${name}, which the archive lacks`, { where: this.location, cause });
    }
    const digest = digester.digest();
    this.#files.set(digest, path);
    const gz = first !== undefined && first[0] === 0x1f && first[1] === 0x8b;
    return { mediaType: mediaType ?? (gz ? MediaType.DockerLayerGzip : DOCKER_LAYER_TAR), digest, size: digester.size };
  }

  #readOnly(): never {
    throw new ProvenantError('USAGE', 'this docker-archive was opened for reading', { where: this.location });
  }

  async statBlob(digest: Digest): Promise<Descriptor | undefined> {
    if (this.#blobs) return this.#blobs.statBlob(digest);
    const path = this.#files.get(digest);
    if (path === undefined) return undefined;
    return { mediaType: 'application/octet-stream', digest, size: (await stat(path)).size };
  }

  async readBlob(descriptor: Descriptor, options: OperationOptions & { offset?: number } = {}): Promise<ByteStream> {
    if (this.#blobs) return this.#blobs.readBlob(descriptor, options);
    const path = this.#files.get(descriptor.digest);
    if (path === undefined)
      throw new ProvenantError('NOT_FOUND', `blob ${descriptor.digest} is not in the archive`, { where: this.location });
    const offset = options.offset ?? 0;
    const prefix = offset > 0 ? (createReadStream(path, { end: offset - 1 }) as AsyncIterable<Uint8Array>) : undefined;
    return verifyStream(
      createReadStream(path, { start: offset }) as AsyncIterable<Uint8Array>,
      descriptor,
      `${this.location}@${descriptor.digest}`,
      prefix,
    );
  }

  async putBlob(source: BlobSource, options: PutBlobOptions = {}): Promise<'stored' | 'exists'> {
    if (!this.#blobs) this.#readOnly();
    return this.#blobs.putBlob(source, options);
  }

  #find(target: string): Stored | undefined {
    if (isDigest(target)) return this.#images.find((i) => i.stored.digest === target)?.stored;
    const match = this.#images.find((i) => i.tags.includes(target) || i.tags.some((t) => t.endsWith(`/${target}`)));
    return match?.stored;
  }

  async resolve(target: string): Promise<Descriptor | undefined> {
    const s = this.#find(target);
    return s === undefined ? undefined : descriptorOf(s);
  }

  async getManifest(target: string): Promise<Stored> {
    const s = this.#find(target);
    if (s === undefined) {
      const tags = this.#images.flatMap((i) => i.tags);
      throw new ProvenantError('NOT_FOUND', `${target} is not in the archive`, {
        where: this.location,
        hint: `images here: ${tags.join(', ') || '(untagged)'}`,
      });
    }
    return s;
  }

  /** The one image to use when the location names none: the only image, or an error. */
  defaultTarget(): string {
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
    this.#images.push({ stored, tags });
  }

  async listTags(): Promise<string[]> {
    return this.#images.flatMap((i) => i.tags).sort();
  }

  async referrers(): Promise<Descriptor[]> {
    return [];
  }

  async close(): Promise<void> {
    try {
      if (this.#blobs && this.#images.length > 0) {
        const out = join(this.#work, 'out');
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
        await packDirectory(out, this.#path);
      }
    } finally {
      await rm(this.#work, { recursive: true, force: true });
    }
  }
}
