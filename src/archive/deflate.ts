/**
 * A pinned, parallel gzip compressor: the same input gives the same gzip bytes on every machine,
 * every Node version and every worker count.
 *
 * `node:zlib` cannot promise that: Node bundles its own zlib (Chromium's fork, lately) and
 * its deflate output changes between releases, so a layer digest computed from it would change
 * with the Node version that built the image. Here deflate is pako (pure JS, pinned in the lock
 * file), whose output depends only on its version and the parameters below.
 *
 * The scheme is pigz's (https://zlib.net/pigz/pigz.c, "parallel compression"): the input is cut
 * into fixed-size blocks at fixed byte offsets; each block is raw-deflated on its own with the
 * 32 KiB of input before it as the preset dictionary, and ended with a sync flush (an empty stored
 * block, which byte-aligns the output) so that the compressed blocks concatenate into one deflate
 * stream; the last block is finished instead. Blocks are independent, so worker threads compress
 * them in parallel, and the result does not depend on which thread compressed which block nor on
 * how the input was chunked. The gzip header (RFC 1952 section 2.3) has fixed fields, and the
 * CRC-32 comes from `node:zlib`'s `crc32`, which is a checksum and deterministic by definition.
 *
 * Changing the level, the block size or the pako version changes the output: those are part of
 * the format of a reproducible layer, and the golden digest in test/archive/deflate.test.ts pins
 * them.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { crc32 } from 'node:zlib';
import pako from 'pako';
import { ProvenantError, throwIfAborted } from '../errors.ts';

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
}

/**
 * The default level: 6, the default of zlib, gzip(1), pigz, `node:zlib` and of docker's and
 * BuildKit's layers. Level 1 compresses about 2.5 times as fast here but its layers are about
 * 9 % larger (bench/deflate.ts); a layer is compressed once and pulled many times, so size wins.
 * Callers that want speed pass `level: 1` (go-containerregistry's tarball layers use its
 * BestSpeed).
 */
export const PINNED_GZIP_LEVEL = 6;

/**
 * The default block size: 128 KiB, pigz's (our layers then come out the size of `pigz -6`'s, to
 * within 0.01 %). At level 6, larger blocks were no faster in bench/deflate.ts (9.4 MB/s per
 * thread at 128 KiB, 256 KiB and 1 MiB) and compress no better, while 128 KiB spreads a layer of
 * a few MB over every worker and keeps little memory in flight. Smaller blocks are slower: each
 * block hashes its 32 KiB dictionary again (which is also why level 1 runs ~15 % faster with
 * 256 KiB blocks).
 */
export const PINNED_GZIP_BLOCK_SIZE = 128 * 1024;

/** deflate's window: a block's dictionary is the input's last 32 KiB before it. */
const WINDOW = 32 * 1024;

const MIN_BLOCK = 1024;
const MAX_BLOCK = 64 * 1024 * 1024;
const MAX_WORKERS = 64;

/**
 * Compresses a stream to one gzip member, reproducibly (see the module comment), in parallel
 * worker threads. At most `2 × workers` blocks (one when `workers` is 0) are compressed or
 * waiting at a time; the source is read no further ahead than that.
 *
 * The header has MTIME 0, no name, XFL as zlib sets it for the level (2 for 9, 4 for 0 and 1,
 * else 0) and OS 255 "unknown" (as Go's compress/gzip writes, whatever the machine).
 *
 * @throws ProvenantError `USAGE` for an option out of range, `ABORTED` when `signal` fires,
 *   `IO` when a worker fails; an error of the source passes through unchanged when it is a
 *   ProvenantError, else as `IO`
 */
export async function* pinnedGzip(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: PinnedGzipOptions = {},
): AsyncGenerator<Uint8Array> {
  const { level, blockSize, workers, signal } = resolveOptions(options);
  throwIfAborted(signal);
  yield gzipHeader(level);
  const totals = { crc: 0, size: 0 };
  if (workers === 0) {
    for await (const block of cutBlocks(source, blockSize, totals, signal)) {
      throwIfAborted(signal);
      yield deflateBlock(block.data, block.dictLength, level, block.last);
    }
  } else {
    const lane = sharedPool().lane(workers);
    const inFlight: Array<Promise<Uint8Array>> = [];
    try {
      for await (const block of cutBlocks(source, blockSize, totals, signal)) {
        throwIfAborted(signal);
        const compressed = lane.deflate(block, level);
        // Awaited in order below; this only keeps a block dropped by an abort from being reported
        // as an unhandled rejection.
        compressed.catch(() => {});
        inFlight.push(compressed);
        while (inFlight.length >= 2 * workers) yield await abortable(inFlight.shift()!, signal);
      }
      while (inFlight.length > 0) yield await abortable(inFlight.shift()!, signal);
    } finally {
      lane.close();
    }
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
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * Raw-deflates `input.subarray(dictLength)` with `input.subarray(0, dictLength)` as the preset
 * dictionary, ending with a sync flush, or finishing the stream when `last`. The one place the
 * compressed bytes are made, by the workers and by the calling thread alike.
 *
 * @internal exported for deflate-worker.ts
 */
export function deflateBlock(input: Uint8Array, dictLength: number, level: number, last: boolean): Uint8Array {
  const data = input.subarray(dictLength);
  const options: pako.DeflateOptions & { legacyHash: boolean } = {
    raw: true,
    level: level as pako.DeflateOptions['level'],
    windowBits: 15,
    memLevel: 8,
    strategy: pako.constants.Z_DEFAULT_STRATEGY,
    // Room for the whole compressed block in one output chunk: deflate grows incompressible input
    // by 5 bytes per stored block (one per 16 Ki symbols at most) plus the 5 of the sync flush.
    // The bytes depend on this: level 0 cuts its stored blocks to fit the output chunk, and a
    // sync flush that meets the end of a small chunk (under 1 KiB, measured) adds a marker. So the
    // formula is part of the output's format; a block always fits, so the output is one chunk.
    chunkSize: data.length + (data.length >> 8) + 64,
    // zlib's classic hash (pako 2.2's default, said explicitly so that a new default cannot
    // change our bytes): the output is then the same as stock zlib's (checked against zlib
    // 1.2.13 for levels 1 to 9), which lets anyone re-create a layer with zlib itself. pako's
    // other hash, Chromium's, is ~35 % faster at level 6 but gives 2 % larger output.
    legacyHash: true,
  };
  if (dictLength > 0) options.dictionary = input.subarray(0, dictLength);
  const deflator = new pako.Deflate(options);
  const chunks: Uint8Array[] = [];
  deflator.onData = (chunk) => {
    chunks.push(chunk as Uint8Array);
  };
  deflator.push(data, last ? pako.constants.Z_FINISH : pako.constants.Z_SYNC_FLUSH);
  if (deflator.err !== 0) {
    throw new ProvenantError('IO', `deflate failed: ${deflator.msg || `zlib status ${deflator.err}`}`);
  }
  if (chunks.length === 1) {
    const only = chunks[0]!;
    // A view of a chunk-sized buffer: copy it out so that the spare room is not kept alive.
    return only.byteLength === only.buffer.byteLength ? only : only.slice();
  }
  let length = 0;
  for (const c of chunks) length += c.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** One block of input with its dictionary in front: `data` = dictionary ‖ block. */
interface Block {
  data: Uint8Array<ArrayBuffer>;
  dictLength: number;
  last: boolean;
}

interface ResolvedOptions {
  level: number;
  blockSize: number;
  workers: number;
  signal: AbortSignal | undefined;
}

function resolveOptions(options: PinnedGzipOptions): ResolvedOptions {
  const level = options.level ?? PINNED_GZIP_LEVEL;
  const blockSize = options.blockSize ?? PINNED_GZIP_BLOCK_SIZE;
  const workers = options.workers ?? Math.min(availableParallelism(), 4);
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    throw new ProvenantError('USAGE', `gzip level ${level} is not an integer from 0 to 9`);
  }
  if (!Number.isInteger(blockSize) || blockSize < MIN_BLOCK || blockSize > MAX_BLOCK) {
    throw new ProvenantError('USAGE', `gzip block size ${blockSize} is not an integer from ${MIN_BLOCK} to ${MAX_BLOCK}`);
  }
  if (!Number.isInteger(workers) || workers < 0 || workers > MAX_WORKERS) {
    throw new ProvenantError('USAGE', `gzip worker count ${workers} is not an integer from 0 to ${MAX_WORKERS}`);
  }
  return { level, blockSize, workers, signal: options.signal };
}

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
 * Cuts the source into blocks of `blockSize` bytes at fixed offsets, whatever its chunking, each
 * copied into a fresh buffer (so it can be transferred to a worker) after the input's preceding
 * 32 KiB. A full block is held until more input arrives, so that the last block, the only one
 * finished, is never empty unless the whole input is. Updates `totals` (CRC-32 and length) as
 * blocks are cut.
 */
async function* cutBlocks(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  blockSize: number,
  totals: { crc: number; size: number },
  signal: AbortSignal | undefined,
): AsyncGenerator<Block> {
  // The input's last `historyLength` bytes, right-aligned in `history`.
  const history = new Uint8Array(WINDOW);
  let historyLength = 0;
  let dictLength = 0;
  let buffer = new Uint8Array(blockSize);
  let fill = 0;

  const seal = (last: boolean): Block => {
    const data = buffer.subarray(dictLength, dictLength + fill);
    totals.crc = crc32(data, totals.crc);
    totals.size += fill;
    if (fill >= WINDOW) {
      history.set(data.subarray(fill - WINDOW));
    } else {
      history.copyWithin(0, fill);
      history.set(data, WINDOW - fill);
    }
    historyLength = Math.min(WINDOW, historyLength + fill);
    return { data: buffer.subarray(0, dictLength + fill), dictLength, last };
  };
  const begin = (): void => {
    dictLength = historyLength;
    buffer = new Uint8Array(dictLength + blockSize);
    buffer.set(history.subarray(WINDOW - dictLength));
    fill = 0;
  };

  try {
    for await (const chunk of source) {
      throwIfAborted(signal);
      let at = 0;
      while (at < chunk.length) {
        if (fill === blockSize) {
          yield seal(false);
          begin();
        }
        const n = Math.min(blockSize - fill, chunk.length - at);
        buffer.set(chunk.subarray(at, at + n), dictLength + fill);
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
    const onAbort = (): void => reject(new ProvenantError('ABORTED', 'the operation was cancelled', { cause: signal.reason }));
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

// ---------------------------------------------------------------------------------------------
// The worker pool: created on first use, shared by every compression in the process, grown to the
// largest `workers` asked for. A worker is ref'd only while it compresses a block, so an idle pool
// never keeps the process alive (and `node --test` exits).

/** What the calling thread posts to a worker; `buffer` is transferred. @internal */
export interface DeflateRequest {
  buffer: ArrayBuffer;
  byteLength: number;
  dictLength: number;
  level: number;
  last: boolean;
}

/** What a worker posts back; `buffer` is transferred. @internal */
export type DeflateResponse = { buffer: ArrayBuffer; byteLength: number } | { error: string };

interface Task {
  lane: Lane;
  request: DeflateRequest;
  resolve: (out: Uint8Array) => void;
  reject: (err: unknown) => void;
}

interface PoolWorker {
  worker: Worker;
  task: Task | undefined;
}

/** One compression's share of the pool: at most `limit` of its blocks run at once. */
class Lane {
  readonly limit: number;
  running = 0;
  readonly #pool: DeflatePool;

  constructor(pool: DeflatePool, limit: number) {
    this.#pool = pool;
    this.limit = limit;
  }

  deflate(block: Block, level: number): Promise<Uint8Array> {
    const { data } = block;
    const request: DeflateRequest = {
      buffer: data.buffer,
      byteLength: data.byteLength,
      dictLength: block.dictLength,
      level,
      last: block.last,
    };
    return new Promise((resolve, reject) => this.#pool.submit({ lane: this, request, resolve, reject }));
  }

  /** Drops this lane's blocks that no worker has started; blocks being compressed finish unread. */
  close(): void {
    this.#pool.drop(this);
  }
}

class DeflatePool {
  readonly #workers = new Set<PoolWorker>();
  readonly #idle: PoolWorker[] = [];
  readonly #queue: Task[] = [];
  readonly #url: URL;

  constructor(url: URL) {
    this.#url = url;
  }

  lane(workers: number): Lane {
    while (this.#workers.size < workers) this.#spawn();
    return new Lane(this, workers);
  }

  submit(task: Task): void {
    this.#queue.push(task);
    this.#pump();
  }

  drop(lane: Lane): void {
    for (let i = this.#queue.length - 1; i >= 0; i--) {
      const task = this.#queue[i]!;
      if (task.lane === lane) {
        this.#queue.splice(i, 1);
        task.reject(new ProvenantError('ABORTED', 'the compression was stopped'));
      }
    }
  }

  #spawn(): void {
    const worker = startWorker(this.#url);
    worker.unref();
    const pw: PoolWorker = { worker, task: undefined };
    this.#workers.add(pw);
    this.#idle.push(pw);
    // Node refs a worker's port again when the thread comes online; a worker spawned but never
    // given a block would then keep the process alive. Unref it again once it is up.
    worker.once('online', () => {
      if (pw.task === undefined) worker.unref();
    });
    worker.on('message', (response: DeflateResponse) => this.#done(pw, response));
    worker.on('error', (err) => this.#lost(pw, err));
    worker.on('messageerror', (err) => this.#lost(pw, err));
    worker.on('exit', (code) => this.#lost(pw, new Error(`the worker exited with code ${code}`)));
  }

  #pump(): void {
    while (this.#idle.length > 0) {
      const i = this.#queue.findIndex((t) => t.lane.running < t.lane.limit);
      if (i < 0) return;
      const task = this.#queue.splice(i, 1)[0]!;
      const pw = this.#idle.pop()!;
      pw.task = task;
      task.lane.running++;
      pw.worker.ref();
      pw.worker.postMessage(task.request, [task.request.buffer]);
    }
  }

  #done(pw: PoolWorker, response: DeflateResponse): void {
    const task = pw.task;
    if (task === undefined) return;
    pw.task = undefined;
    task.lane.running--;
    pw.worker.unref();
    this.#idle.push(pw);
    if ('error' in response) task.reject(new ProvenantError('IO', `deflate failed in a worker thread: ${response.error}`));
    else task.resolve(new Uint8Array(response.buffer, 0, response.byteLength));
    this.#pump();
  }

  /** A worker died: fail its block (which fails that compression) and forget the worker. */
  #lost(pw: PoolWorker, err: unknown): void {
    if (!this.#workers.delete(pw)) return;
    const idle = this.#idle.indexOf(pw);
    if (idle >= 0) this.#idle.splice(idle, 1);
    void pw.worker.terminate();
    const task = pw.task;
    pw.task = undefined;
    if (task !== undefined) {
      task.lane.running--;
      const message = err instanceof Error ? err.message : String(err);
      task.reject(new ProvenantError('IO', `a deflate worker thread failed: ${message}`, { cause: err }));
    }
    // The compression that lost a block fails and drops its queue. Blocks of others still queued
    // get a new worker; each new worker takes a block, so a worker that cannot even start fails
    // one compression per spawn rather than looping.
    if (this.#queue.length > 0) this.#spawn();
    this.#pump();
  }
}

const ENTRY_OPTION = /^(-e|--eval|-p|--print|--input-type)(=|$)/;

/**
 * A worker that inherits the parent's Node options (type stripping, loaders, conditions), except
 * those about the parent's own entry point: under `node --input-type=module -e …` a worker fails
 * to load its file (ERR_INPUT_TYPE_NOT_ALLOWED). Options are only passed explicitly then, because
 * Node validates an explicit list and refuses per-process options in it (ERR_WORKER_INVALID_EXEC_ARGV,
 * e.g. under `node --test`, whose children get every non-default option as a flag); if it does,
 * the worker starts with none.
 */
function startWorker(url: URL): Worker {
  const name = 'provenant-deflate';
  const parent = process.execArgv;
  if (!parent.some((arg) => ENTRY_OPTION.test(arg))) return new Worker(url, { name });
  const execArgv: string[] = [];
  for (let i = 0; i < parent.length; i++) {
    const arg = parent[i]!;
    if (!ENTRY_OPTION.test(arg)) execArgv.push(arg);
    else if (!arg.includes('=')) i++; // its value is the next argument
  }
  try {
    return new Worker(url, { name, execArgv });
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw err;
    return new Worker(url, { name, execArgv: [] });
  }
}

let pool: DeflatePool | undefined;

function sharedPool(): DeflatePool {
  // The worker is deflate-worker.ts next to this file when running the sources, and
  // deflate-worker.js when running the compiled dist/ (tsc rewrites import specifiers but not
  // this URL).
  const extension = new URL(import.meta.url).pathname.endsWith('.ts') ? '.ts' : '.js';
  pool ??= new DeflatePool(new URL(`./deflate-worker${extension}`, import.meta.url));
  return pool;
}
