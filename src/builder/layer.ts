/**
 * From a tree to a layer: a tar in walk order with normalized headers, compressed with the
 * pinned gzip, so the same tree gives the same digest on any machine and Node version.
 *
 * Every file body of at least {@link LAYER_SEGMENT_MIN} bytes is a gzip segment of its own (its
 * deflate blocks start at its first byte and end at its last), so its compressed bytes depend on
 * the body alone. A build hands bodies to a {@link LayerPrecompressor} as soon as it has them,
 * and the workers compress them while the build still unpacks packages; the layer then only
 * compresses the headers and the small files. The bytes are the same with or without it.
 */
import { createHash } from 'node:crypto';
import {
  type GzipSegment,
  LIBDEFLATE_WASM_SHA256,
  PINNED_GZIP_BLOCK_SIZE,
  PINNED_GZIP_LEVEL,
  type PrecompressedSegment,
  pinnedGzip,
  precompressSegment,
} from '../archive/deflate.ts';
import { type TarHeader, type TarWriteEntry, tarHeader, writeTar } from '../archive/tar.ts';
import type { TarFormat } from '../archive/tar-writer.ts';
import { concatBytes } from '../bytes.ts';
import { ProvenantError } from '../errors.ts';
import type { Digest } from '../oci/digest.ts';
import type { FsNode, Tree } from '../vfs/tree.ts';

/** A finished layer: its compressed bytes and both digests. */
export interface Layer {
  /** The gzip-compressed tar. */
  bytes: Uint8Array;
  /** sha256 of `bytes`: the layer's descriptor digest. */
  digest: Digest;
  /** sha256 of the uncompressed tar: the config's diff_id. */
  diffId: Digest;
  /** The uncompressed size. */
  tarSize: number;
}

/**
 * File bodies this large or larger are gzip segments of their own. Part of the layer format: a
 * change changes layer digests. At 64 KiB, three quarters of a Debian image's bytes are in such
 * bodies, and the extra block headers cost about 0.1 % of the compressed size.
 */
export const LAYER_SEGMENT_MIN = 64 * 1024;

/** Where {@link LayerPrecompressor} keeps compressed bodies between builds (a DownloadCache). */
export interface SegmentCache {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, bytes: Uint8Array): Promise<void>;
}

/**
 * Compresses file bodies ahead of {@link treeLayer}, on the worker pool, as a build finds them.
 * Bodies are matched by identity: the tree must hold the same Uint8Array, unchanged.
 *
 * With a cache, a body's compressed blocks are kept under its SHA-256 (with the level, the block
 * size and the libdeflate build, which all decide the bytes), so that a file compressed by an
 * earlier build, of this package or of another version that has the same file, is not compressed
 * again. The cache is trusted as the download cache is: what comes out of it is checked against
 * the digest it was stored under, not decompressed again.
 */
export class LayerPrecompressor {
  readonly #workers: number | undefined;
  readonly #cache: SegmentCache | undefined;
  readonly #segments = new WeakMap<Uint8Array, PrecompressedSegment>();
  readonly #writes: Promise<void>[] = [];
  readonly #started: PrecompressedSegment[] = [];
  #cancelled = false;

  /**
   * @param workers worker threads, as {@link LayerOptions.workers}; with 0 nothing is done ahead
   * @param cache where compressed bodies are kept between builds
   */
  constructor(workers?: number | undefined, cache?: SegmentCache | undefined) {
    this.#workers = workers;
    this.#cache = cache;
  }

  /** Starts compressing `body` (or reading it from the cache) when it will be a segment of a layer. */
  add(body: Uint8Array): void {
    if (body.length < LAYER_SEGMENT_MIN || this.#segments.has(body) || this.#workers === 0 || this.#cancelled) return;
    const cache = this.#cache;
    if (cache === undefined) {
      const segment = precompressSegment(body, { workers: this.#workers });
      if (segment !== undefined) {
        this.#segments.set(body, segment);
        this.#started.push(segment);
      }
      return;
    }
    const level = PINNED_GZIP_LEVEL;
    const blockSize = PINNED_GZIP_BLOCK_SIZE;
    const key = `gzip-segment:${LIBDEFLATE_WASM_SHA256}:${level}:${blockSize}:${createHash('sha256').update(body).digest('hex')}`;
    const count = Math.ceil(body.length / blockSize);
    const blocks = (async (): Promise<Uint8Array[]> => {
      // A cache that cannot be read is a miss, as one that cannot be written is.
      const cached = await cache.get(key).catch(() => undefined);
      const found = cached === undefined ? undefined : decodeBlocks(cached, count);
      if (found !== undefined) return found;
      if (this.#cancelled) throw new ProvenantError('ABORTED', 'the build stopped before the layer was written');
      const segment = precompressSegment(body, { workers: this.#workers, level, blockSize })!;
      this.#started.push(segment);
      const made = await segment.blocks;
      this.#writes.push(cache.put(key, encodeBlocks(made)).catch(() => {}));
      return made;
    })();
    blocks.catch(() => {});
    this.#segments.set(body, { data: body, level, blockSize, blocks, cancel: () => {} });
  }

  /**
   * Drops what the workers have not started yet, for a build that failed or was cancelled: the
   * process then need not wait for compression nobody will read.
   */
  cancel(): void {
    this.#cancelled = true;
    for (const segment of this.#started.splice(0)) segment.cancel();
  }

  get(body: Uint8Array): PrecompressedSegment | undefined {
    return this.#segments.get(body);
  }

  /** Waits for the cache writes started so far (a failed write is only a cache miss next time). */
  async flush(): Promise<void> {
    while (this.#writes.length > 0) await this.#writes.shift();
    this.#started.length = 0;
  }
}

/** Compressed blocks for the cache: their count and lengths (32-bit little-endian), then the blocks. */
function encodeBlocks(blocks: readonly Uint8Array[]): Uint8Array {
  const head = 4 * (blocks.length + 1);
  const out = new Uint8Array(head + blocks.reduce((n, b) => n + b.length, 0));
  const view = new DataView(out.buffer);
  view.setUint32(0, blocks.length, true);
  let at = head;
  for (const [i, b] of blocks.entries()) {
    view.setUint32(4 * (i + 1), b.length, true);
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/** {@link encodeBlocks}'s blocks, or undefined when the bytes are not `count` of them. */
function decodeBlocks(bytes: Uint8Array, count: number): Uint8Array[] | undefined {
  const head = 4 * (count + 1);
  if (bytes.length < head) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== count) return undefined;
  const blocks: Uint8Array[] = [];
  let at = head;
  for (let i = 0; i < count; i++) {
    const n = view.getUint32(4 * (i + 1), true);
    if (n === 0 || at + n > bytes.length) return undefined;
    blocks.push(bytes.subarray(at, at + n));
    at += n;
  }
  return at === bytes.length ? blocks : undefined;
}

/** Options of {@link treeLayer}. */
export interface LayerOptions {
  /** Only these paths (all when absent): for splitting a tree into several layers. */
  paths?: readonly string[] | undefined;
  /** Worker threads for compression (0: in this thread). */
  workers?: number | undefined;
  /** Bodies already being compressed. */
  precompressed?: LayerPrecompressor | undefined;
  signal?: AbortSignal | undefined;
  /** How tar headers are laid out (apko compatibility writes Go's; ../archive/tar-go.ts). */
  format?: TarFormat | undefined;
  /** Each entry's header, instead of the one made from the node (apko compatibility: ./apko.ts). */
  header?: ((path: string, node: FsNode) => TarHeader) | undefined;
}

/**
 * Writes the tree (or `paths` of it) as a layer. Headers carry no user or group names and no
 * device numbers but for devices; times, modes and owners are the tree's.
 */
export async function treeLayer(tree: Tree, options: LayerOptions = {}): Promise<Layer> {
  const paths = options.paths ?? tree.paths();
  const diff = createHash('sha256');
  const comp = createHash('sha256');
  let tarSize = 0;
  const parts: Uint8Array[] = [];
  let total = 0;
  // The bodies that are segments; writeTar yields a Uint8Array body as it is, so they are found by identity.
  const segments = new Set<Uint8Array>();
  for (const path of paths) {
    const body = tree.get(path)?.body;
    if (body !== undefined && body.length >= LAYER_SEGMENT_MIN && tree.get(path)?.type === 'file') segments.add(body);
  }
  async function* tar(): AsyncGenerator<Uint8Array | GzipSegment> {
    for await (const chunk of writeTar(entries(tree, paths, options.header), { format: options.format })) {
      diff.update(chunk);
      tarSize += chunk.length;
      yield segments.has(chunk) ? { segment: chunk, precompressed: options.precompressed?.get(chunk) } : chunk;
    }
  }
  for await (const chunk of pinnedGzip(tar(), { workers: options.workers, signal: options.signal })) {
    comp.update(chunk);
    parts.push(chunk);
    total += chunk.length;
  }
  const bytes = concatBytes(parts, total);
  return { bytes, digest: `sha256:${comp.digest('hex')}` as Digest, diffId: `sha256:${diff.digest('hex')}` as Digest, tarSize };
}

function* entries(tree: Tree, paths: readonly string[], headerOf: LayerOptions['header']): Generator<TarWriteEntry> {
  for (const path of paths) {
    const n = tree.get(path);
    if (n === undefined) continue;
    if (headerOf !== undefined) {
      const header = headerOf(path, n);
      yield header.type === 'file' ? { header, body: n.body ?? new Uint8Array() } : { header };
      continue;
    }
    const pax: Record<string, string> = {};
    for (const [k, v] of Object.entries(n.xattrs ?? {})) pax[`SCHILY.xattr.${k}`] = v;
    const header = tarHeader({
      name: path,
      type: n.type,
      mode: n.mode,
      uid: n.uid,
      gid: n.gid,
      mtime: n.mtime,
      size: n.type === 'file' ? (n.body?.length ?? 0) : 0,
      linkname: n.type === 'symlink' || n.type === 'hardlink' ? (n.linkname ?? '') : '',
      devmajor: n.devmajor ?? 0,
      devminor: n.devminor ?? 0,
      pax: Object.keys(pax).length === 0 ? undefined : pax,
    });
    yield n.type === 'file' ? { header, body: n.body ?? new Uint8Array() } : { header };
  }
}
