/**
 * Large file bodies compressed ahead of the layer (./layer.ts): each body of at least
 * {@link LAYER_SEGMENT_MIN} bytes is a gzip segment of its own, whose compressed blocks depend on
 * its bytes alone, so a build starts compressing it as soon as it has the package, on the worker
 * pool, while it still reads the others.
 *
 * With a cache, a body is read and compressed a block at a time and its blocks go to the cache as
 * they are made, so that compressing ahead holds a bounded window however large the image or the
 * body; the layer reads a body's blocks back when it reaches it (a large body's a block at a
 * time, see {@link KeptBlocks}). A
 * body whose blocks an earlier build made (of this package, or of another that has the same
 * file) is not compressed again. Without a cache, they stay in memory until the layer is written.
 */
import { createHash } from 'node:crypto';
import {
  LIBDEFLATE_WASM_SHA256,
  PINNED_GZIP_BLOCK_SIZE,
  PINNED_GZIP_LEVEL,
  type PrecompressedSegment,
  precompressSegment,
  segmentBlocks,
} from '../archive/deflate.ts';
import { ProvenantError } from '../errors.ts';
import { handOver, noteBytesMoved } from '../io/memory.ts';
import { type Body, BodyReader, bodySize, type FileBody, isFileBody, readBody, readFullyAt } from '../vfs/body.ts';
import { DigestSet } from '../vfs/digest-set.ts';

const { closeSync, openSync } = process.getBuiltinModule('node:fs');

/**
 * File bodies this large or larger are gzip segments of their own. Part of the layer format: a
 * change changes layer digests. At 64 KiB, three quarters of a Debian image's bytes are in such
 * bodies, and the extra block headers cost about 0.1 % of the compressed size.
 */
export const LAYER_SEGMENT_MIN = 64 * 1024;

/** Where {@link LayerPrecompressor} keeps compressed bodies between builds (a DownloadCache). */
export interface SegmentCache {
  /** What is kept under `key`, in memory of its own: the layer frees it once written out (../io/memory.ts handOver). */
  get(key: string): Promise<Uint8Array | undefined>;
  /**
   * Where what is kept under `key` is, once checked as `get` checks it but without holding it;
   * undefined when it is missing or damaged.
   */
  checked(key: string): Promise<{ path: string; size: number } | undefined>;
  /**
   * Stores what is written under `key` as it is written, visible only once `finish` has resolved
   * and never after `abort`; what `finish` resolves to (DownloadCache's gives where the bytes are)
   * is not used here.
   */
  putStream(key: string): Promise<SegmentPut>;
  /** Whether something is kept under `key`, at a glance: a later `get` may still miss. */
  has(key: string): boolean;
  /** Drops what is kept under `key` (a key whose content is missing or damaged). */
  forget(key: string): Promise<void>;
}

/** What {@link SegmentCache.putStream} gives: a DownloadCache's CachePut. */
export interface SegmentPut {
  write(chunk: Uint8Array): Promise<void>;
  writeAt(position: number, bytes: Uint8Array): Promise<void>;
  finish(): Promise<unknown>;
  abort(): Promise<void>;
}

/**
 * A body's compressed blocks kept in the cache, read from its file one at a time as the layer
 * reaches them: the layer then holds a few blocks of a body, not all of them.
 */
export interface KeptBlocks {
  readonly count: number;
  /**
   * The `i`-th block, in a buffer of its own.
   *
   * @throws ProvenantError `IO` when the cache file cannot be read or is shorter than it was
   */
  block(i: number): Uint8Array;
  /** Closes the file (once the last block is read, it is closed already). */
  close(): void;
}

/**
 * A body of this many bytes or fewer has its kept blocks read whole (one read, checked as they
 * are), a larger one block by block once its file is checked through (a second read, in pieces).
 * Layer made again: the 900 MB Debian bench image, with bodies of up to 110 MB, peaked at 185-190
 * MB against 212-219 with every body's blocks read whole; the 1 GB apk one, whose large bodies
 * are mostly of a few MB, is unchanged (184-186 MB), where reading every body block by block
 * took more memory and CPU time (188-198 MB against 186-190).
 */
const KEPT_WHOLE_MAX = 8 * 1024 * 1024;

/**
 * Raw bytes of bodies being compressed ahead at once (cache mode): beyond it, bodies wait their
 * turn. A larger body goes alone, a block at a time (see {@link LayerPrecompressor.add}).
 */
const AHEAD_BYTES = 8 * 1024 * 1024;

/**
 * Compresses file bodies ahead of the layer, on the worker pool, as a build finds them; the
 * layer asks for a body's blocks with {@link segment}. A body is known by its SHA-256 with a
 * cache (the bytes of a body on disk are read only to compress them), by identity without one.
 *
 * With a cache, a body's blocks are kept under its SHA-256 with the level, the block size and
 * the libdeflate build, which all decide the bytes. The cache is trusted as the download cache
 * is: what comes out of it is checked against the digest it was stored under, not decompressed
 * again.
 */
export class LayerPrecompressor {
  readonly #workers: number | undefined;
  readonly #cache: SegmentCache | undefined;
  /** Without a cache: the segments, by the body they compress. */
  readonly #inMemory = new WeakMap<Uint8Array, PrecompressedSegment>();
  /**
   * With a cache, by the body's SHA-256: settles once the cache holds the body's blocks (or
   * failed to). Once settled, the body moves to {@link #settled}.
   */
  readonly #pending = new Map<string, Promise<void>>();
  /**
   * With a cache: the bodies whose look-up or compression has settled, 32 bytes each rather than
   * a key of 150 characters and a promise (about 250 bytes) kept to the end of the build for
   * each body of {@link LAYER_SEGMENT_MIN} or more (issue 16).
   */
  readonly #settled = new DigestSet();
  /** Segments being compressed without a cache, for {@link cancel}. */
  readonly #started = new Set<PrecompressedSegment>();
  /** Stops the bodies being compressed into the cache, for {@link cancel}. */
  readonly #stop = new AbortController();
  readonly #queue: (() => void)[] = [];
  #aheadBytes = 0;
  #cancelled = false;

  /**
   * @param workers worker threads, as {@link LayerOptions.workers}; with 0 nothing is done ahead
   * @param cache where compressed bodies are kept between builds
   */
  constructor(workers?: number | undefined, cache?: SegmentCache | undefined) {
    this.#workers = workers;
    this.#cache = cache;
  }

  /** Starts compressing `body` (or finding it in the cache) when it will be a segment of a layer. */
  add(body: Body): void {
    if (bodySize(body) < LAYER_SEGMENT_MIN || this.#workers === 0 || this.#cancelled) return;
    const cache = this.#cache;
    if (cache === undefined) {
      if (isFileBody(body) || this.#inMemory.has(body)) return;
      const segment = precompressSegment(body, { workers: this.#workers });
      if (segment !== undefined) {
        this.#inMemory.set(body, segment);
        this.#started.add(segment);
      }
      return;
    }
    const sha256 = bodySha256(body);
    if (this.#done(sha256) !== undefined) return;
    const key = segmentKey(sha256);
    const done = (async (): Promise<void> => {
      // Only whether the blocks are kept, not where: looking each body up in full (the key read,
      // the file found) took a warm build of the 1 GB bench image about 0.1 s for its 1,678 large
      // bodies, when the layer was then taken whole from the cache. Blocks that turn out to be
      // missing when the layer reads them are made then for a body in memory (segment, below);
      // for a body on disk the layer compresses it as it streams, and the key is dropped (kept).
      if (cache.has(key)) return;
      const size = bodySize(body);
      await this.#turn(size);
      try {
        if (this.#cancelled) throw new ProvenantError('ABORTED', 'the build stopped before the layer was written');
        await keepBlocks(cache, key, size, this.#blocks(body));
      } finally {
        this.#aheadBytes -= size;
        this.#queue.shift()?.();
      }
    })();
    this.#pending.set(sha256, done);
    const settle = (): void => {
      // A digest in another form (not lowercase hex) stays where it is.
      if (!DigestSet.holds(sha256)) return;
      this.#settled.add(sha256);
      this.#pending.delete(sha256);
    };
    done.then(settle, settle);
  }

  /** What settles once `sha256`'s blocks are kept or failed to be: undefined when they were never asked for. */
  #done(sha256: string): Promise<void> | undefined {
    return this.#pending.get(sha256) ?? (this.#settled.has(sha256) ? SETTLED : undefined);
  }

  /** True when `body`'s compressed blocks were asked for (with {@link add}): found in the cache, or being made. */
  has(body: Body | undefined): boolean {
    if (body === undefined || bodySize(body) < LAYER_SEGMENT_MIN) return false;
    if (this.#cache === undefined) return body instanceof Uint8Array && this.#inMemory.has(body);
    // A body on disk without a SHA-256 would have to be read to be known.
    if (isFileBody(body) && body.sha256 === '') return false;
    return this.#done(bodySha256(body)) !== undefined;
  }

  /**
   * The compressed blocks of `body`, whose bytes are `bytes`, for the layer: undefined when
   * nothing was done ahead (the layer then compresses it in turn). A body on disk is streamed
   * instead, with {@link blocksOf}.
   */
  segment(body: Body, bytes: Uint8Array): PrecompressedSegment | undefined {
    const cache = this.#cache;
    if (cache === undefined) return body instanceof Uint8Array ? this.#inMemory.get(body) : undefined;
    const sha256 = bodySha256(body, bytes);
    const done = this.#done(sha256);
    if (done === undefined) return undefined;
    const key = segmentKey(sha256);
    const level = PINNED_GZIP_LEVEL;
    const blockSize = PINNED_GZIP_BLOCK_SIZE;
    const count = Math.ceil(bytes.length / blockSize);
    let fallback: PrecompressedSegment | undefined;
    const blocks = (async (): Promise<Uint8Array[]> => {
      const found = await kept(cache, key, done, count);
      if (found !== undefined) return found;
      // Not in the cache after all (it could not be written, was removed or damaged): compressed
      // now, and kept again for the next build.
      fallback = precompressSegment(bytes, { workers: this.#workers, level, blockSize });
      if (fallback === undefined) throw new ProvenantError('IO', 'the compressed blocks of a file body are missing from the cache');
      const made = await fallback.blocks;
      await keepBlocks(cache, key, bytes.length, made).catch(() => {});
      return made;
    })();
    blocks.catch(() => {});
    return { data: bytes, level, blockSize, blocks, cancel: () => fallback?.cancel() };
  }

  /**
   * The compressed blocks of a body on disk, when an earlier build or this one kept them in the
   * cache, read one at a time; undefined otherwise (the layer then compresses the body as it
   * streams it, and nothing is kept: its blocks would have to be collected whole). The cache
   * file is checked through first, a buffer at a time, as `get` checks what it reads whole.
   */
  async blocksOf(body: FileBody): Promise<KeptBlocks | undefined> {
    const cache = this.#cache;
    if (cache === undefined) return undefined;
    const sha256 = bodySha256(body);
    const done = this.#done(sha256);
    if (done === undefined) return undefined;
    const key = segmentKey(sha256);
    const count = Math.ceil(body.size / PINNED_GZIP_BLOCK_SIZE);
    if (body.size <= KEPT_WHOLE_MAX) {
      const blocks = await kept(cache, key, done, count);
      return blocks === undefined ? undefined : { count, block: (i) => blocks[i]!, close() {} };
    }
    await done.catch(() => {});
    const file = await cache.checked(key).catch(() => undefined);
    const blocks = file === undefined ? undefined : keptBlocks(file.path, file.size, count);
    // As in kept(): a key without its blocks is dropped.
    if (blocks === undefined) await cache.forget(key).catch(() => {});
    return blocks;
  }

  /**
   * Drops what the workers have not started yet, for a build that failed or was cancelled: the
   * process then need not wait for compression nobody will read.
   */
  cancel(): void {
    this.#cancelled = true;
    this.#stop.abort();
    for (const segment of this.#started) segment.cancel();
    this.#started.clear();
    for (const next of this.#queue.splice(0)) next();
  }

  /** Waits for the compression started so far to reach the cache (a failure is only a miss later). */
  async flush(): Promise<void> {
    for (const done of this.#pending.values()) await done.catch(() => {});
    this.#started.clear();
  }

  /**
   * The compressed blocks of `body`, made as they are asked for: a body on disk is read a block
   * at a time into one buffer, and no further ahead than the workers have room for (about 3
   * blocks each), so that a body of any size holds a few blocks of memory, not its size
   * (docs/architecture.md, "Memory per file", has the figures).
   */
  async *#blocks(body: Body): AsyncGenerator<Uint8Array> {
    const options = { workers: this.#workers, level: PINNED_GZIP_LEVEL, blockSize: PINNED_GZIP_BLOCK_SIZE, signal: this.#stop.signal };
    if (!isFileBody(body)) {
      yield* segmentBlocks(blocksIn(body), options);
      return;
    }
    // A reader of its own: bodies are compressed side by side, and a reader's pieces share a buffer.
    // Its read-ahead window serves small bodies, which this one does not read.
    const reader = new BodyReader(0, 1);
    try {
      yield* segmentBlocks(reader.pieces(body, PINNED_GZIP_BLOCK_SIZE), options);
    } finally {
      reader.close();
    }
  }

  /** Waits until `size` more bytes fit in {@link AHEAD_BYTES} (one body always does). */
  async #turn(size: number): Promise<void> {
    while (this.#aheadBytes > 0 && this.#aheadBytes + size > AHEAD_BYTES && !this.#cancelled) {
      await new Promise<void>((resolve) => this.#queue.push(resolve));
    }
    this.#aheadBytes += size;
  }
}

/**
 * The `count` compressed blocks the cache keeps under `key`, once `done` (their compression ahead,
 * or the look-up that found them) has settled; undefined when they are not there, or damaged.
 */
async function kept(cache: SegmentCache, key: string, done: Promise<void>, count: number): Promise<Uint8Array[] | undefined> {
  await done.catch(() => {});
  const stored = await cache.get(key).catch(() => undefined);
  const blocks = stored === undefined ? undefined : decodeBlocks(stored, count);
  // The bytes read are the blocks' alone: the layer frees them once it has written the last (a
  // buffer that holds more than them, such as a slice of a pool, is left to V8).
  if (blocks !== undefined && stored!.byteLength === stored!.buffer.byteLength) for (const block of blocks) handOver(block);
  // A key without its blocks (their file removed or damaged) is dropped: `has` would otherwise
  // tell every later build that they are kept, and a body on disk would never be compressed ahead.
  if (blocks === undefined) await cache.forget(key).catch(() => {});
  return blocks;
}

/** A body's SHA-256 (hex): a body on disk's own, or its bytes' (`bytes` when they are at hand). */
function bodySha256(body: Body, bytes?: Uint8Array): string {
  return isFileBody(body) && body.sha256 !== ''
    ? body.sha256
    : createHash('sha256')
        .update(bytes ?? readBody(body))
        .digest('hex');
}

/** The cache key of a body's compressed blocks: its SHA-256 and what decides the bytes. */
function segmentKey(sha256: string): string {
  return `gzip-segment:${LIBDEFLATE_WASM_SHA256}:${PINNED_GZIP_LEVEL}:${PINNED_GZIP_BLOCK_SIZE}:${sha256}`;
}

/** What {@link LayerPrecompressor} gives for a body whose blocks settled. */
const SETTLED = Promise.resolve();

/**
 * Keeps the compressed blocks of a body of `size` bytes under `key`, written to the cache as they
 * come: their count and lengths (32-bit little-endian), then the blocks. The lengths are known
 * only once each block is made, so their room is written first and filled in at the end; the
 * cache keeps the entry only when it is whole, and nothing of it when a block fails.
 *
 * @throws ProvenantError what `blocks` or the cache throws; `IO` when they are not one block per
 *   {@link PINNED_GZIP_BLOCK_SIZE} bytes of the body
 */
async function keepBlocks(
  cache: SegmentCache,
  key: string,
  size: number,
  blocks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): Promise<void> {
  const count = Math.ceil(size / PINNED_GZIP_BLOCK_SIZE);
  const head = new Uint8Array(4 * (count + 1));
  const view = new DataView(head.buffer);
  view.setUint32(0, count, true);
  const put = await cache.putStream(key);
  try {
    await put.write(head);
    let i = 0;
    for await (const block of blocks) {
      if (++i > count) break;
      view.setUint32(4 * i, block.length, true);
      await put.write(block);
      // A block from a worker is a buffer of its own, done with once written (made again for a
      // body found missing, the blocks go on to the layer too, which counts them again).
      noteBytesMoved(block.length);
    }
    if (i !== count) {
      throw new ProvenantError('IO', `a body of ${size} bytes was compressed to ${i} blocks, not ${count}`, { where: key });
    }
    await put.writeAt(0, head);
    await put.finish();
  } catch (err) {
    await put.abort();
    throw err;
  }
}

/** The blocks of a body in memory, as views of it. */
function* blocksIn(bytes: Uint8Array): Generator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += PINNED_GZIP_BLOCK_SIZE) yield bytes.subarray(at, at + PINNED_GZIP_BLOCK_SIZE);
}

/** The blocks {@link keepBlocks} kept, or undefined when the bytes are not `count` of them. */
function decodeBlocks(bytes: Uint8Array, count: number): Uint8Array[] | undefined {
  const starts = blockStarts(bytes.subarray(0, 4 * (count + 1)), count, bytes.length);
  if (starts === undefined) return undefined;
  const blocks: Uint8Array[] = [];
  for (let i = 0; i < count; i++) blocks.push(bytes.subarray(starts[i], starts[i + 1]));
  return blocks;
}

/**
 * Where each of the `count` blocks that {@link keepBlocks} kept in `size` bytes starts (and the
 * last one ends), from the `head` they begin with; undefined when they are not `count` blocks
 * that fill the `size` bytes.
 */
function blockStarts(head: Uint8Array, count: number, size: number): number[] | undefined {
  if (head.length !== 4 * (count + 1)) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (view.getUint32(0, true) !== count) return undefined;
  const starts = [head.length];
  for (let i = 0; i < count; i++) {
    const n = view.getUint32(4 * (i + 1), true);
    if (n === 0) return undefined;
    starts.push(starts[i]! + n);
  }
  return starts[count] === size ? starts : undefined;
}

/**
 * The `count` blocks that {@link keepBlocks} kept in the `size` bytes of the file at `path` (its
 * head read now, each block when asked for), or undefined when the head does not hold.
 */
function keptBlocks(path: string, size: number, count: number): KeptBlocks | undefined {
  const head = new Uint8Array(Math.min(size, 4 * (count + 1)));
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    if (readFullyAt(fd, head, 0) !== head.length) return undefined;
  } catch {
    // Removed since it was checked: a miss.
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
  }
  const starts = blockStarts(head, count, size);
  if (starts === undefined) return undefined;
  const close = (): void => {
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
  };
  return {
    count,
    block(i) {
      if (!Number.isInteger(i) || i < 0 || i >= count) {
        throw new ProvenantError('USAGE', `a body kept in ${count} blocks has no block ${i}`, { where: path });
      }
      const out = new Uint8Array(starts[i + 1]! - starts[i]!);
      try {
        fd ??= openSync(path, 'r');
        if (readFullyAt(fd, out, starts[i]!) !== out.length) throw new Error(`it ends before byte ${starts[i + 1]}`);
      } catch (err) {
        close();
        throw new ProvenantError('IO', `cannot read block ${i} of a kept body's compressed blocks: ${(err as Error).message}`, {
          where: path,
          hint: 'the build cache was changed or cut short; remove it and build again',
          cause: err,
        });
      }
      if (i === count - 1) close();
      handOver(out);
      return out;
    },
    close,
  };
}
