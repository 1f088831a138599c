import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ProvenantError } from '../errors.ts';
import { children, descriptorOf, encodeJson, type Stored } from '../oci/content.ts';
import { type Digest, digestAlgorithm, digestHex, isDigest } from '../oci/digest.ts';
import { isManifestLike, MediaType } from '../oci/mediatypes.ts';
import { Annotation, type Descriptor, type ImageIndex } from '../oci/types.ts';
import { checkLayoutFile, LAYOUT_FILE, LayoutReader, parseIndexJson } from './layout-reader.ts';
import type { BlobSource, ByteStream, OperationOptions, PutBlobOptions, PutManifestOptions } from './types.ts';
import { verifyStream } from './verify.ts';

const LAYOUT_VERSION = '1.0.0';

/** Options of {@link LayoutStore.open}. */
export interface LayoutOpenOptions {
  /** Create the layout when the directory is missing or empty (for writing). */
  create?: boolean;
}

/**
 * An OCI image layout directory (https://github.com/opencontainers/image-spec/blob/main/image-layout.md).
 *
 * Blobs are written to a temporary file in their folder, checked, then renamed into place, so a
 * blob file is always whole. `index.json` is rewritten the same way (write, then rename), after
 * the blobs it names exist. Tags are `org.opencontainers.image.ref.name` annotations on its
 * entries, and manifests with a `subject` are entries too, which is how referrers are found
 * ({@link LayoutReader} answers those from index.json).
 */
export class LayoutStore extends LayoutReader {
  readonly location: string;
  readonly path: string;
  #indexLock: Promise<unknown> = Promise.resolve();

  private constructor(path: string, index: ImageIndex) {
    super(index);
    this.path = path;
    this.location = `oci:${path}`;
  }

  /** Opens (or with `create`, makes) a layout at `path`. */
  static async open(path: string, options: LayoutOpenOptions = {}): Promise<LayoutStore> {
    const where = `oci:${path}`;
    let layoutBytes: Uint8Array | undefined;
    try {
      layoutBytes = await readFile(join(path, LAYOUT_FILE));
    } catch (err) {
      if (!isNotFound(err)) throw ioError(err, where);
    }
    if (layoutBytes === undefined) {
      if (!options.create) {
        throw new ProvenantError('NOT_FOUND', `no OCI image layout at ${path} (no ${LAYOUT_FILE} file)`, {
          where,
          hint: 'check the path; an OCI layout directory holds oci-layout, index.json and blobs/',
        });
      }
      const entries = await readdir(path).catch((err: unknown) => (isNotFound(err) ? [] : Promise.reject(ioError(err, where))));
      if (entries.length > 0) {
        throw new ProvenantError('INVALID_LAYOUT', `${path} is not empty and is not an OCI layout`, {
          where,
          hint: 'write the layout into a new or empty directory',
        });
      }
      await mkdir(join(path, 'blobs', 'sha256'), { recursive: true });
      const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
      await writeAtomic(join(path, 'index.json'), encodeJson(index));
      await writeAtomic(join(path, LAYOUT_FILE), encodeJson({ imageLayoutVersion: LAYOUT_VERSION }));
      return new LayoutStore(path, index);
    }
    checkLayoutFile(layoutBytes, where);
    let indexBytes: Uint8Array;
    try {
      indexBytes = await readFile(join(path, 'index.json'));
    } catch (err) {
      throw isNotFound(err) ? new ProvenantError('INVALID_LAYOUT', 'index.json is missing', { where }) : ioError(err, where);
    }
    return new LayoutStore(path, parseIndexJson(indexBytes, `${where}/index.json`));
  }

  #blobPath(digest: Digest): string {
    return join(this.path, 'blobs', digestAlgorithm(digest), digestHex(digest));
  }

  async statBlob(digest: Digest): Promise<Descriptor | undefined> {
    try {
      const s = await stat(this.#blobPath(digest));
      return { mediaType: 'application/octet-stream', digest, size: s.size };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw ioError(err, this.location);
    }
  }

  async readBlob(descriptor: Descriptor, options: OperationOptions & { offset?: number } = {}): Promise<ByteStream> {
    const path = this.#blobPath(descriptor.digest);
    const where = `${this.location}@${descriptor.digest}`;
    const handle = await open(path, 'r').catch((err: unknown) => {
      throw isNotFound(err)
        ? new ProvenantError('NOT_FOUND', `blob ${descriptor.digest} is not in the layout`, { where })
        : ioError(err, where);
    });
    await handle.close();
    const offset = options.offset ?? 0;
    const prefix = offset > 0 ? createReadStream(path, { start: 0, end: offset - 1 }) : undefined;
    // 1 MiB reads: large blobs move in fewer, larger chunks (fewer hash and socket calls).
    return verifyStream(
      createReadStream(path, { start: offset, signal: options.signal, highWaterMark: 1 << 20 }),
      descriptor,
      where,
      prefix,
    );
  }

  async putBlob(source: BlobSource, options: PutBlobOptions = {}): Promise<'stored' | 'exists'> {
    const d = source.descriptor;
    const existing = await this.statBlob(d.digest);
    if (existing !== undefined && existing.size === d.size) return 'exists';
    await this.#writeBlob(d, await source.open(), options.signal);
    return 'stored';
  }

  async #writeBlob(d: Descriptor, stream: ByteStream, signal: AbortSignal | undefined): Promise<void> {
    const final = this.#blobPath(d.digest);
    const dir = join(this.path, 'blobs', digestAlgorithm(d.digest));
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `.tmp-${randomBytes(8).toString('hex')}`);
    try {
      await pipeline(verifyStream(stream, d, `${this.location}@${d.digest}`), createWriteStream(tmp), { signal });
      await rename(tmp, final);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err instanceof ProvenantError ? err : ioError(err, this.location);
    }
  }

  async putManifest(stored: Stored, options: PutManifestOptions = {}): Promise<void> {
    const desc = descriptorOf(stored);
    await this.putBlob({ descriptor: desc, open: async () => oneChunk(stored.bytes) }, options);
    const tags = options.tags ?? [];
    const subject = stored.kind === 'manifest' ? stored.manifest.subject : stored.index.subject;
    if (tags.length === 0 && subject === undefined && !options.keepAsRoot) return;
    await this.#updateIndex((index) => {
      const entry = layoutEntry(stored);
      let manifests = index.manifests;
      if (tags.length === 0) {
        if (!manifests.some((m) => m.digest === desc.digest && m.annotations?.[Annotation.RefName] === undefined)) {
          manifests = [...manifests, entry];
        }
      }
      for (const tag of tags) {
        manifests = manifests.filter((m) => m.annotations?.[Annotation.RefName] !== tag);
        manifests.push({ ...entry, annotations: { ...entry.annotations, [Annotation.RefName]: tag } });
      }
      // Tagged images before untagged entries (referrers such as attestations): tools that take
      // the first entry of index.json (trivy's --input, some others) then find the image.
      const named = manifests.filter((m) => m.annotations?.[Annotation.RefName] !== undefined);
      manifests = [...named, ...manifests.filter((m) => m.annotations?.[Annotation.RefName] === undefined)];
      return { ...index, manifests };
    });
  }

  async #updateIndex(change: (index: ImageIndex) => ImageIndex): Promise<void> {
    const run = this.#indexLock.then(async () => {
      const next = change(this.topIndex);
      await writeAtomic(join(this.path, 'index.json'), encodeJson(next));
      this.topIndex = next;
    });
    this.#indexLock = run.catch(() => undefined);
    await run;
  }

  /**
   * Deletes every blob that no entry of index.json reaches (through indexes, manifests,
   * configs, layers). Returns the digests removed.
   */
  async gc(): Promise<Digest[]> {
    const live = new Set<string>();
    const visit = async (d: Descriptor): Promise<void> => {
      if (live.has(d.digest)) return;
      live.add(d.digest);
      if (!isManifestLike(d.mediaType)) return;
      if ((await this.statBlob(d.digest)) === undefined) return;
      const stored = await this.getManifest(d.digest);
      for (const child of children(stored)) await visit(child);
      if (stored.kind === 'manifest' && stored.manifest.subject) live.add(stored.manifest.subject.digest);
    };
    for (const m of this.topIndex.manifests) await visit(m);
    const removed: Digest[] = [];
    for (const algorithm of await readdir(join(this.path, 'blobs')).catch(() => [] as string[])) {
      for (const name of await readdir(join(this.path, 'blobs', algorithm))) {
        const digest = `${algorithm}:${name}`;
        if (name.startsWith('.tmp-') || (isDigest(digest) && !live.has(digest))) {
          await rm(join(this.path, 'blobs', algorithm, name), { force: true });
          if (isDigest(digest)) removed.push(digest);
        }
      }
    }
    return removed.sort();
  }

  async close(): Promise<void> {
    await this.#indexLock;
  }
}

function layoutEntry(stored: Stored): Descriptor {
  const doc = stored.kind === 'manifest' ? stored.manifest : stored.index;
  const d = descriptorOf(stored);
  if (doc.artifactType !== undefined) d.artifactType = doc.artifactType;
  return d;
}

async function* oneChunk(bytes: Uint8Array): ByteStream {
  yield bytes;
}

/** Writes a file through a temporary name and a rename, so readers never see half of it. */
export async function writeAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw ioError(err, path);
  }
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

function ioError(err: unknown, where: string): ProvenantError {
  if (err instanceof ProvenantError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ABORT_ERR') return new ProvenantError('ABORTED', 'the operation was cancelled', { where, cause: err });
  return new ProvenantError('IO', `${(err as Error).message ?? String(err)}`, { where, cause: err });
}
