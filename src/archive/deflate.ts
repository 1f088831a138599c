/**
 * A pinned, parallel gzip compressor: the same input gives the same gzip bytes on every machine,
 * every Node version and every worker count.
 *
 * `node:zlib` cannot promise that: Node bundles its own zlib (Chromium's fork, lately) and
 * its deflate output changes between releases, so a layer digest computed from it would change
 * with the Node version that built the image. Here deflate is libdeflate compiled to WebAssembly
 * (the wasm embedded in npm `libdeflate` 0.1.0, MIT), whose output depends only on those wasm
 * bytes and the parameters below: WebAssembly is deterministic for the integer code libdeflate is.
 * We instantiate the wasm ourselves (once per thread) rather than run the package's emscripten
 * glue, which installs process-wide `uncaughtException`/`unhandledRejection` handlers, and we
 * refuse to run unless its SHA-256 is {@link LIBDEFLATE_WASM_SHA256}.
 *
 * The scheme is pigz's (https://zlib.net/pigz/pigz.c, "parallel compression") without the preset
 * dictionary, which libdeflate does not have: the input is cut into fixed-size blocks at fixed
 * byte offsets; each block is raw-deflated on its own into a finished deflate stream; for every
 * block but the last, that stream is walked header by header ({@link walkDeflate}) to clear BFINAL
 * of its last deflate block, and an empty stored block is appended right after its end-of-block
 * code (a sync flush: 3 zero bits, padding, 00 00 FF FF), which byte-aligns it. The compressed
 * blocks then concatenate into one deflate stream, exactly as pigz's do. Blocks are independent,
 * so worker threads compress them in parallel, and the result does not depend on which thread
 * compressed which block nor on how the input was chunked. The gzip header (RFC 1952 section
 * 2.3) has fixed fields, and the CRC-32 comes from `node:zlib`'s `crc32`, which is a checksum and
 * deterministic by definition.
 *
 * A source may also mark a run of its bytes as a segment ({@link GzipSegment}): the block being
 * filled ends before it, the segment is cut into blocks from its own first byte, and the next
 * block starts right after it. Block boundaries then follow the content (a layer puts each large
 * file body in a segment), so a segment's compressed blocks depend on its bytes alone and can be
 * made before the rest of the stream is known ({@link precompressSegment}): a build compresses
 * file bodies while it is still unpacking packages.
 *
 * Changing the level, the block size or the wasm changes the output: those are part of the format
 * of a reproducible layer, and the golden digests in test/archive/deflate.test.ts pin them.
 */
import { availableParallelism } from 'node:os';
import { crc32 } from 'node:zlib';
import { concatBytes } from '../bytes.ts';
import { abortedError, ProvenantError, throwIfAborted } from '../errors.ts';
import { handOver } from '../io/memory.ts';
import { deflateBlock } from './deflate-block.ts';
import { type Block, sharedPool } from './deflate-pool.ts';
import { libdeflate } from './libdeflate.ts';

// The libdeflate wasm's pin and the block compressor are part of this module's face: the layer
// writer names the pin in its provenance, and tests compress blocks one by one.
export { deflateBlock } from './deflate-block.ts';
export { LIBDEFLATE_WASM_SHA256 } from './libdeflate.ts';

/** Options of {@link pinnedGzip} and {@link pinnedGzipBytes}. */
export interface PinnedGzipOptions {
  /**
   * Deflate level, 0 (stored) to 9. Default {@link PINNED_GZIP_LEVEL}. Part of the output's
   * identity: the same input at another level gives other bytes.
   */
  level?: number | undefined;
  /**
   * Bytes of input per independently compressed block, 1 KiB to 64 MiB. Default
   * {@link PINNED_GZIP_BLOCK_SIZE}. Part of the output's identity, like the level.
   */
  blockSize?: number | undefined;
  /**
   * Worker threads to compress with, 0 to 64; 0 compresses in the calling thread (blocking it
   * for one block at a time). Default `min(availableParallelism(), 4)`. The output is the same
   * for every value.
   */
  workers?: number | undefined;
  /** Cancels the compression; it then fails with `ABORTED`. */
  signal?: AbortSignal | undefined;
  /**
   * Filled in as the stream goes: the blocks compressed by the worker threads and by the calling
   * thread (see {@link pinnedGzip}), for benchmarks and tests. Blocks that came compressed are in
   * neither.
   */
  counts?: GzipCounts | undefined;
}

/** Blocks compressed by whom, in a {@link pinnedGzip} stream. */
export interface GzipCounts {
  workers: number;
  here: number;
}

/**
 * The default level: libdeflate's 5, which compresses as well as the level 6 that zlib, gzip(1),
 * pigz, `node:zlib`, docker and BuildKit default to (a 139 MB Debian layer: 45.5 MB, against
 * 45.8 MB from `pigz -6` and 46.0 MB from `gzip -6`) with a fifth less CPU than libdeflate's own 6
 * (45.2 MB). Levels 1 to 9 are libdeflate's (its 10 to 12 are much slower and not offered);
 * level 0 writes stored blocks (our own code, not libdeflate's). A layer is compressed once and
 * pulled many times, so size counts as much as speed by default; callers that want speed pass
 * `level: 1` (go-containerregistry's tarball layers use its BestSpeed).
 */
export const PINNED_GZIP_LEVEL = 5;

/**
 * The default block size: 1 MiB. Without a dictionary, every block starts with an empty window,
 * so larger blocks compress better; at 1 MiB the layers come out no larger than zlib's
 * level 6 with pigz's 128 KiB blocks and dictionaries, while a layer of a few MB still spreads
 * over the workers (bench/deflate.ts).
 */
export const PINNED_GZIP_BLOCK_SIZE = 1024 * 1024;

/**
 * A run of a {@link pinnedGzip} source that starts and ends its own blocks (see the module
 * comment). `precompressed`, from {@link precompressSegment} on these same bytes with the same
 * level and block size, supplies the compressed blocks; otherwise (or when it does not match) they
 * are compressed in turn. The output is the same either way.
 */
export interface GzipSegment {
  readonly segment: Uint8Array;
  readonly precompressed?: PrecompressedSegment | undefined;
  /**
   * The source reuses `segment`'s memory once the stream asks for its next chunk: its blocks are
   * copied as they are cut. Consecutive segments whose lengths, but the last's, are multiples of
   * the block size give the bytes one segment of them all would, so a large file can be streamed
   * through one buffer, a few blocks at a time.
   */
  readonly reused?: boolean | undefined;
}

/** The compressed blocks of a segment: being made by the worker pool, or kept by an earlier build. */
export interface PrecompressedSegment {
  readonly data: Uint8Array;
  readonly level: number;
  readonly blockSize: number;
  /** One compressed block per `blockSize` bytes of `data`, none final. */
  readonly blocks: Promise<Uint8Array[]>;
  /**
   * Drops the blocks no worker has taken yet (`blocks` then fails with `ABORTED`), for a build
   * that failed or was cancelled before it needed them; nothing for blocks already made.
   */
  cancel(): void;
}

/**
 * Starts compressing `data` as a segment (see {@link GzipSegment}) on the worker pool and returns
 * at once. The bytes of `data` must not change until `blocks` settles. With `workers: 0` nothing
 * is started and undefined is returned: the segment is compressed when the stream reaches it.
 *
 * @throws ProvenantError `USAGE` for an option out of range, `IO` when the libdeflate wasm is not
 *   the pinned one
 */
export function precompressSegment(data: Uint8Array, options: PinnedGzipOptions = {}): PrecompressedSegment | undefined {
  const { level, blockSize, workers } = resolveOptions(options);
  if (workers === 0) return undefined;
  if (level > 0) libdeflate();
  const lane = sharedPool().lane(workers);
  const pieces: Array<Promise<Uint8Array>> = [];
  for (let at = 0; at < data.length; at += blockSize) {
    pieces.push(lane.deflate({ data: data.subarray(at, at + blockSize), last: false, reused: false }, level));
  }
  const blocks = Promise.all(pieces);
  // A caller that never reads the blocks (the file was replaced) must not see an unhandled rejection.
  blocks.catch(() => {});
  return { data, level, blockSize, blocks, cancel: () => lane.close() };
}

/**
 * The compressed blocks of a segment (see {@link GzipSegment}) whose bytes come in `pieces`, in
 * order, as they are made: the blocks {@link precompressSegment} gives for the same bytes, level
 * and block size, with no more in flight than about `3 × workers` blocks, however long the
 * segment, all compressed on the workers: the calling thread compresses none (a build compresses
 * segments ahead while this thread unpacks packages, and a block compressed here would hold that
 * up for tens of milliseconds). Every piece but the last must be `blockSize` bytes long, and
 * the source may reuse a piece's memory once the next is asked for (a file read a block at a time
 * into one buffer). With `workers: 0`, each block is compressed in the calling thread.
 *
 * @throws ProvenantError `USAGE` for an option out of range or a piece of the wrong length,
 *   `ABORTED` when `signal` fires, `IO` when a worker fails or the libdeflate wasm is not the
 *   pinned one; an error of the source passes through unchanged when it is a ProvenantError,
 *   else as `IO`
 */
export async function* segmentBlocks(
  pieces: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: PinnedGzipOptions = {},
): AsyncGenerator<Uint8Array> {
  const resolved = resolveOptions(options);
  const { level, blockSize, workers, signal, counts } = resolved;
  throwIfAborted(signal);
  if (level > 0) libdeflate();
  async function* blocks(): AsyncGenerator<Block> {
    let short = false;
    try {
      for await (const data of pieces) {
        throwIfAborted(signal);
        if (short || data.length === 0 || data.length > blockSize) {
          throw new ProvenantError('USAGE', `a segment's pieces must be ${blockSize} bytes long but for the last one`);
        }
        short = data.length < blockSize;
        yield { data, last: false, reused: true };
      }
    } catch (err) {
      if (err instanceof ProvenantError) throw err;
      throw new ProvenantError('IO', `reading the input to gzip failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    }
  }
  if (workers === 0) {
    for await (const block of blocks()) {
      counts.here++;
      yield deflateBlock(block.data, level, false);
    }
    return;
  }
  yield* inOrder(blocks(), resolved, false);
}

const MIN_BLOCK = 1024;
const MAX_BLOCK = 64 * 1024 * 1024;
const MAX_WORKERS = 64;
/**
 * Input a stream keeps in flight, in blocks per worker: enough to keep the workers busy while this
 * thread does other work. Every block in flight is also a compressed block waiting to be written:
 * 3 instead of 5 took a warm build of the 1 GB bench image that compresses every file from
 * 210-214 to 199-202 MB, in the same time (the 200 MB image: 3.66 s both, median of 4).
 */
const WINDOW_BLOCKS = 3;

/**
 * Compresses a stream to one gzip member, reproducibly (see the module comment), in parallel
 * worker threads and, while they are behind, in the calling thread too. At most
 * `3 × workers × blockSize` bytes of input (one block when `workers` is 0) are on the workers,
 * and as many more compressed here wait behind them; the source is read no further ahead.
 *
 * The header has MTIME 0, no name, XFL as zlib sets it for the level (2 for 9, 4 for 0 and 1,
 * else 0) and OS 255 "unknown" (as Go's compress/gzip writes, whatever the machine).
 *
 * @throws ProvenantError `USAGE` for an option out of range, `ABORTED` when `signal` fires,
 *   `IO` when a worker fails or the libdeflate wasm is not the pinned one; an error of the source
 *   passes through unchanged when it is a ProvenantError, else as `IO`
 */
export async function* pinnedGzip(
  source: AsyncIterable<Uint8Array | GzipSegment> | Iterable<Uint8Array | GzipSegment>,
  options: PinnedGzipOptions = {},
): AsyncGenerator<Uint8Array> {
  const resolved = resolveOptions(options);
  const { level, blockSize, workers, signal, counts } = resolved;
  throwIfAborted(signal);
  // Loads and checks the wasm in this thread too, so that a wrong one fails here, clearly, before
  // any worker is started or any output is written.
  if (level > 0) libdeflate();
  yield gzipHeader(level);
  const totals = { crc: 0, size: 0 };
  if (workers === 0) {
    for await (const block of cutBlocks(source, level, blockSize, totals, signal)) {
      throwIfAborted(signal);
      if (block.compressed !== undefined) yield await block.compressed;
      else {
        counts.here++;
        yield ownBlock(deflateBlock(block.data, level, block.last));
      }
    }
  } else {
    yield* inOrder(cutBlocks(source, level, blockSize, totals, signal), resolved, true);
  }
  yield gzipTrailer(totals.crc, totals.size);
}

/**
 * {@link pinnedGzip} of bytes in memory: the same bytes as the stream would give.
 *
 * @throws ProvenantError as {@link pinnedGzip}
 */
export async function pinnedGzipBytes(data: Uint8Array, options: PinnedGzipOptions = {}): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let length = 0;
  for await (const part of pinnedGzip([data], options)) {
    parts.push(part);
    length += part.length;
  }
  return concatBytes(parts, length);
}

/** The worker threads {@link pinnedGzip} uses unless told: one per core, up to 4. */
export function defaultGzipWorkers(): number {
  return Math.min(availableParallelism(), 4);
}

interface ResolvedOptions {
  level: number;
  blockSize: number;
  workers: number;
  signal: AbortSignal | undefined;
  counts: GzipCounts;
}

function resolveOptions(options: PinnedGzipOptions): ResolvedOptions {
  const level = options.level ?? PINNED_GZIP_LEVEL;
  const blockSize = options.blockSize ?? PINNED_GZIP_BLOCK_SIZE;
  const workers = options.workers ?? defaultGzipWorkers();
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    throw new ProvenantError('USAGE', `gzip level ${level} is not an integer from 0 to 9`);
  }
  if (!Number.isInteger(blockSize) || blockSize < MIN_BLOCK || blockSize > MAX_BLOCK) {
    throw new ProvenantError('USAGE', `gzip block size ${blockSize} is not an integer from ${MIN_BLOCK} to ${MAX_BLOCK}`);
  }
  if (!Number.isInteger(workers) || workers < 0 || workers > MAX_WORKERS) {
    throw new ProvenantError('USAGE', `gzip worker count ${workers} is not an integer from 0 to ${MAX_WORKERS}`);
  }
  return { level, blockSize, workers, signal: options.signal, counts: options.counts ?? { workers: 0, here: 0 } };
}

/**
 * The blocks of `blocks` compressed on `workers` threads of the pool and given back in order,
 * with at most {@link WINDOW_BLOCKS} × `workers` × `blockSize` bytes of input in flight on the
 * workers: the source is read no further ahead. A block that brings its compressed bytes is not
 * compressed again.
 *
 * With `help`, while the window is full and the oldest block is still being compressed, the
 * workers are behind, and this thread would only wait: it compresses the next block of the source
 * itself instead, with the same {@link deflateBlock}, and goes on as long as the workers stay
 * behind, until {@link HELP_BLOCKS} more windows of the source are read (whatever their blocks:
 * one that came compressed counts too, or a source of such blocks would be read without end while
 * a worker's block waits). When this thread sets the pace (reading, hashing and writing), the
 * window never fills and it compresses nothing; when compression does, it adds a core's worth of
 * compressing without another worker (a thread of its own costs about 25 MB: issue 16, "the 1 GB
 * image must not need more than the 200 MB one"). Without `help` (a segment compressed ahead
 * while this thread unpacks packages) it only waits.
 */
async function* inOrder(blocks: AsyncIterable<Block>, options: ResolvedOptions, help: boolean): AsyncGenerator<Uint8Array> {
  const { level, workers, blockSize, signal, counts } = options;
  const lane = sharedPool().lane(workers);
  // Blocks being compressed or waiting, with their input sizes. The window is counted in bytes,
  // not blocks: a stream of segments has many small blocks, and a window of a few of them
  // would leave the workers waiting on this thread.
  const inFlight: InFlight[] = [];
  const window = WINDOW_BLOCKS * workers * blockSize;
  // Input bytes of the blocks on the workers, and of those this thread compressed and holds.
  let onWorkers = 0;
  let here = 0;
  const next = async (): Promise<Uint8Array> => {
    const head = inFlight.shift()!;
    if (head.here) here -= head.size;
    else onWorkers -= head.size;
    return abortable(head.compressed, signal);
  };
  const source = blocks[Symbol.asyncIterator]();
  /** Takes the next block of the source, compressed by the workers or, when `byThisThread`, here; false at its end. */
  const take = async (byThisThread: boolean): Promise<boolean> => {
    const read = await source.next();
    if (read.done === true) return false;
    throwIfAborted(signal);
    const block = read.value;
    const size = block.data.length;
    const mine = byThisThread && block.compressed === undefined;
    let compressed: Promise<Uint8Array>;
    if (block.compressed !== undefined) compressed = block.compressed;
    else if (mine) {
      counts.here++;
      compressed = Promise.resolve(ownBlock(deflateBlock(block.data, level, block.last)));
    } else {
      counts.workers++;
      // A worker's block is a buffer it transferred, which only this stream holds: its reader
      // alone gets it. (A segment compressed ahead keeps its blocks for whoever asks: not so.)
      compressed = help ? lane.deflate(block, level).then(ownBlock) : lane.deflate(block, level);
    }
    const entry: InFlight = { compressed, size, here: mine, done: false };
    const settle = (): void => {
      entry.done = true;
    };
    // Awaited in order below; this only keeps a block dropped by an abort from being reported
    // as an unhandled rejection.
    compressed.then(settle, settle);
    inFlight.push(entry);
    if (mine) here += size;
    else onWorkers += size;
    return true;
  };
  try {
    let more = true;
    while (more) {
      if (onWorkers < window) {
        more = await take(false);
        continue;
      }
      if (inFlight[0]!.done) {
        yield await next();
        continue;
      }
      if (help && onWorkers + here < (1 + HELP_BLOCKS) * window) {
        more = await take(true);
        // A turn of the event loop, for the workers' answers to be read.
        await new Promise<void>((resolve) => setImmediate(resolve));
        continue;
      }
      yield await next();
    }
    while (inFlight.length > 0) yield await next();
  } finally {
    await source.return?.();
    lane.close();
  }
}

/**
 * A block made for {@link pinnedGzip}'s stream, by a worker or this thread: its buffer goes with it
 * to the stream's reader alone ({@link handOver}).
 */
function ownBlock(out: Uint8Array): Uint8Array {
  handOver(out);
  return out;
}

/** A block of {@link inOrder}'s, being compressed or done and not yet given back. */
interface InFlight {
  compressed: Promise<Uint8Array>;
  /** Its input bytes. */
  size: number;
  /** Compressed by the calling thread. */
  here: boolean;
  /** Settled (a worker's answer is only read when the event loop turns). */
  done: boolean;
}

/**
 * Windows of the source read beyond the workers' window while they are behind (the blocks the
 * calling thread compresses, and any that came compressed): they wait for the workers' older
 * ones, so this bounds them.
 */
const HELP_BLOCKS = 1;

/** RFC 1952 section 2.3: ID1 ID2 CM FLG MTIME(4) XFL OS, with no optional fields. */
function gzipHeader(level: number): Uint8Array {
  // XFL as zlib's deflate.c sets it: 2 "maximum compression" at 9, 4 "fastest" below 2.
  const xfl = level === 9 ? 2 : level < 2 ? 4 : 0;
  return Uint8Array.of(0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255);
}

/** CRC-32 and ISIZE (the input length modulo 2^32), little-endian. */
function gzipTrailer(crc: number, size: number): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, crc >>> 0, true);
  view.setUint32(4, size % 2 ** 32, true);
  return out;
}

/**
 * Cuts the source into blocks of `blockSize` bytes, whatever its chunking: plain bytes at fixed
 * offsets from the start or from the end of the last segment, each block in one buffer that the
 * next block reuses; a segment into blocks from its own start, as views of its bytes (or its
 * precompressed blocks). A full block of plain bytes is held until more input arrives, so that
 * the last block, the only one finished, is never empty unless the input is, or ends with a
 * segment. Updates `totals` (CRC-32 and length) as blocks are cut.
 */
async function* cutBlocks(
  source: AsyncIterable<Uint8Array | GzipSegment> | Iterable<Uint8Array | GzipSegment>,
  level: number,
  blockSize: number,
  totals: { crc: number; size: number },
  signal: AbortSignal | undefined,
): AsyncGenerator<Block> {
  // One buffer for every block cut from plain bytes: the consumer is done with a block's bytes
  // when it asks for the next one (the pool copies them as it takes the block, the calling
  // thread compresses them before), so a stream of any length uses this one block of memory.
  const buffer = new Uint8Array(blockSize);
  let fill = 0;

  const count = (data: Uint8Array): void => {
    totals.crc = crc32(data, totals.crc);
    totals.size += data.length;
  };
  const seal = (last: boolean): Block => {
    const data = buffer.subarray(0, fill);
    count(data);
    fill = 0;
    return { data, last, reused: true };
  };

  try {
    for await (const chunk of source) {
      throwIfAborted(signal);
      if (!(chunk instanceof Uint8Array)) {
        // A block cut short by the segment.
        if (fill > 0) yield seal(false);
        const { segment, precompressed: pre } = chunk;
        const blocks =
          pre !== undefined && pre.data === segment && pre.level === level && pre.blockSize === blockSize ? pre.blocks : undefined;
        for (let at = 0, i = 0; at < segment.length; at += blockSize, i++) {
          const data = segment.subarray(at, at + blockSize);
          count(data);
          const n = i;
          yield { data, last: false, reused: chunk.reused === true, compressed: blocks?.then((b) => b[n] as Uint8Array) };
        }
        continue;
      }
      let at = 0;
      while (at < chunk.length) {
        if (fill === blockSize) yield seal(false);
        const n = Math.min(blockSize - fill, chunk.length - at);
        buffer.set(chunk.subarray(at, at + n), fill);
        fill += n;
        at += n;
      }
    }
  } catch (err) {
    if (err instanceof ProvenantError) throw err;
    throw new ProvenantError('IO', `reading the input to gzip failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
  throwIfAborted(signal);
  yield seal(true);
}

/** `promise`, or ABORTED as soon as `signal` fires. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  throwIfAborted(signal);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortedError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
