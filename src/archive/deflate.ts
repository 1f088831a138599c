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
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { crc32 } from 'node:zlib';
import { concatBytes } from '../bytes.ts';
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
 * SHA-256 of the WebAssembly module embedded (as a base64 data URI) in npm `libdeflate` 0.1.0's
 * dist/libdeflate.wasm.mjs. Every layer digest depends on these exact bytes: a different build
 * of libdeflate may compress differently, so any other bytes are refused.
 */
export const LIBDEFLATE_WASM_SHA256 = 'f75470cc665db1d83e231ec57bf38696852cba5c2594813d47fc43117816affe';

/**
 * A run of a {@link pinnedGzip} source that starts and ends its own blocks (see the module
 * comment). `precompressed`, from {@link precompressSegment} on these same bytes with the same
 * level and block size, supplies the compressed blocks; otherwise (or when it does not match) they
 * are compressed in turn. The output is the same either way.
 */
export interface GzipSegment {
  readonly segment: Uint8Array;
  readonly precompressed?: PrecompressedSegment | undefined;
}

/** The compressed blocks of a segment, being made by the worker pool. */
export interface PrecompressedSegment {
  readonly data: Uint8Array;
  readonly level: number;
  readonly blockSize: number;
  /** One compressed block per `blockSize` bytes of `data`, none final. */
  readonly blocks: Promise<Uint8Array[]>;
  /**
   * Drops the blocks no worker has taken yet (`blocks` then fails with `ABORTED`), for a build
   * that failed or was cancelled before it needed them.
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
    pieces.push(lane.deflate({ data: data.subarray(at, at + blockSize), last: false, owned: false }, level));
  }
  const blocks = Promise.all(pieces);
  // A caller that never reads the blocks (the file was replaced) must not see an unhandled rejection.
  blocks.catch(() => {});
  return { data, level, blockSize, blocks, cancel: () => lane.close() };
}

const MIN_BLOCK = 1024;
const MAX_BLOCK = 64 * 1024 * 1024;
const MAX_WORKERS = 64;

/**
 * Compresses a stream to one gzip member, reproducibly (see the module comment), in parallel
 * worker threads. At most `5 × workers × blockSize` bytes (one block when `workers` is 0) are
 * being compressed or waiting at a time; the source is read no further ahead than that.
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
  const { level, blockSize, workers, signal } = resolveOptions(options);
  throwIfAborted(signal);
  // Loads and checks the wasm in this thread too, so that a wrong one fails here, clearly, before
  // any worker is started or any output is written.
  if (level > 0) libdeflate();
  yield gzipHeader(level);
  const totals = { crc: 0, size: 0 };
  if (workers === 0) {
    for await (const block of cutBlocks(source, level, blockSize, totals, signal)) {
      throwIfAborted(signal);
      yield block.compressed === undefined ? deflateBlock(block.data, level, block.last) : await block.compressed;
    }
  } else {
    const lane = sharedPool().lane(workers);
    // Blocks being compressed or waiting, with their input sizes. The window is counted in bytes,
    // not blocks: a stream of segments has many small blocks, and a window of a few of them
    // would leave the workers waiting on this thread.
    const inFlight: Array<{ compressed: Promise<Uint8Array>; size: number }> = [];
    const window = WINDOW_BLOCKS * workers * blockSize;
    let inFlightBytes = 0;
    const next = async (): Promise<Uint8Array> => {
      const head = inFlight.shift()!;
      inFlightBytes -= head.size;
      return abortable(head.compressed, signal);
    };
    try {
      for await (const block of cutBlocks(source, level, blockSize, totals, signal)) {
        throwIfAborted(signal);
        // Read before the block is handed to a worker, which detaches a transferred buffer.
        const size = block.data.length;
        const compressed = block.compressed ?? lane.deflate(block, level);
        // Awaited in order below; this only keeps a block dropped by an abort from being reported
        // as an unhandled rejection.
        compressed.catch(() => {});
        inFlight.push({ compressed, size });
        inFlightBytes += size;
        while (inFlightBytes >= window) yield await next();
      }
      while (inFlight.length > 0) yield await next();
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
  return concatBytes(parts, length);
}

/**
 * Raw-deflates `data` on its own, ending with a sync flush (an empty stored block, 00 00 FF FF)
 * or, when `last`, finishing the stream. The one place the compressed bytes are made, by the
 * workers and by the calling thread alike. Returns a whole buffer, never a view into a larger one.
 *
 * @internal exported for deflate-worker.ts
 */
export function deflateBlock(data: Uint8Array, level: number, last: boolean): Uint8Array {
  if (level === 0) return storedBlocks(data, last);
  const out = libdeflate().deflate(data, level);
  if (last) return out;
  let walked: { lastHeader: number; end: number };
  try {
    walked = walkDeflate(out);
  } catch (err) {
    throw new ProvenantError('IO', `libdeflate's output does not parse: ${(err as Error).message}`, { cause: err });
  }
  const { lastHeader, end } = walked;
  if ((end + 7) >> 3 !== out.length) {
    throw new ProvenantError('IO', `libdeflate's output ends at bit ${end} of ${out.length} bytes`);
  }
  // After the end-of-block code: the 3 header bits (BFINAL 0, BTYPE 00) of an empty stored block,
  // padding to a byte, LEN 0000 and NLEN FFFF.
  const aligned = (end + 3 + 7) >> 3;
  const result = new Uint8Array(aligned + 4);
  result.set(out);
  result[lastHeader >> 3]! &= ~(1 << (lastHeader & 7)); // BFINAL = 0
  if ((end & 7) !== 0) result[end >> 3]! &= (1 << (end & 7)) - 1; // header bits and padding: 0
  result[aligned + 2] = 0xff;
  result[aligned + 3] = 0xff;
  return result;
}

/** Level 0: stored blocks of at most 65535 bytes (RFC 1951 section 3.2.4), then a sync flush. */
function storedBlocks(data: Uint8Array, last: boolean): Uint8Array {
  const pieces = Math.max(1, Math.ceil(data.length / 65535));
  const out = new Uint8Array(data.length + 5 * pieces + (last ? 0 : 5));
  let at = 0;
  for (let i = 0; i < pieces; i++) {
    const piece = data.subarray(i * 65535, (i + 1) * 65535);
    out[at] = last && i === pieces - 1 ? 1 : 0;
    out[at + 1] = piece.length & 0xff;
    out[at + 2] = piece.length >> 8;
    out[at + 3] = ~piece.length & 0xff;
    out[at + 4] = (~piece.length >> 8) & 0xff;
    out.set(piece, at + 5);
    at += 5 + piece.length;
  }
  if (!last) out.set([0, 0, 0, 0xff, 0xff], at);
  return out;
}

// ---------------------------------------------------------------------------------------------
// libdeflate's wasm, instantiated once per thread.

interface Libdeflate {
  /** A finished raw deflate stream of `data` at `level` (1 to 12), in a fresh buffer. */
  deflate(data: Uint8Array, level: number): Uint8Array;
}

/** The wasm's exports, minified by emscripten; named as in the package's glue code. */
interface LibdeflateExports {
  c: WasmMemory; // memory
  d: () => void; // __wasm_call_ctors
  e: (level: number) => number; // libdeflate_alloc_compressor
  f: (compressor: number, input: number, inputLength: number, output: number, outputLength: number) => number; // libdeflate_deflate_compress
  h: (compressor: number, inputLength: number) => number; // libdeflate_deflate_compress_bound
  n: (size: number) => number; // malloc
  o: (pointer: number) => void; // free
}

/** The little of the WebAssembly API used here (its types are in lib.dom, which we do not load). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
const Wasm = (
  globalThis as unknown as {
    WebAssembly: {
      Module: new (bytes: Uint8Array) => object;
      Instance: new (module: object, imports: object) => { exports: unknown };
    };
  }
).WebAssembly;

let instance: Libdeflate | undefined;

/**
 * This thread's libdeflate: the wasm read from the installed package, checked against
 * {@link LIBDEFLATE_WASM_SHA256} and instantiated, on first use.
 *
 * @throws ProvenantError `IO` when the package is missing or its wasm is not the pinned one
 */
function libdeflate(): Libdeflate {
  instance ??= loadLibdeflate();
  return instance;
}

function loadLibdeflate(): Libdeflate {
  let path = '';
  let bytes: Uint8Array;
  try {
    path = fileURLToPath(new URL('./dist/libdeflate.wasm.mjs', import.meta.resolve('libdeflate')));
    const glue = readFileSync(path, 'latin1');
    const match = /wasmBinaryFile\s*=\s*"data:application\/octet-stream;base64,([A-Za-z0-9+/=]+)"/.exec(glue);
    if (match === null) throw new Error('no embedded wasm found');
    bytes = new Uint8Array(Buffer.from(match[1]!, 'base64'));
  } catch (err) {
    throw new ProvenantError(
      'IO',
      `cannot load libdeflate's wasm (npm libdeflate 0.1.0)${path ? ` from ${path}` : ''}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== LIBDEFLATE_WASM_SHA256) {
    throw new ProvenantError(
      'IO',
      `libdeflate's wasm in ${path} has SHA-256 ${digest}, not the pinned ${LIBDEFLATE_WASM_SHA256} of npm libdeflate 0.1.0: ` +
        'layer digests depend on those exact bytes, so pinnedGzip refuses to run with another build (reinstall libdeflate@0.1.0)',
    );
  }
  let exports: LibdeflateExports | undefined;
  const imports = {
    a: {
      // emscripten_resize_heap: grow the memory to at least `requested` bytes; 1 on success.
      a: (requested: number): number => {
        const memory = exports!.c;
        const pages = Math.ceil((requested - memory.buffer.byteLength) / 65536);
        try {
          if (pages > 0) memory.grow(pages);
          return 1;
        } catch {
          return 0;
        }
      },
      // emscripten_memcpy_big
      b: (dest: number, src: number, n: number): void => {
        new Uint8Array(exports!.c.buffer).copyWithin(dest, src, src + n);
      },
    },
  };
  exports = new Wasm.Instance(new Wasm.Module(bytes), imports).exports as LibdeflateExports;
  exports.d();
  const wasm = exports;
  const compressors = new Map<number, number>();
  // One input and one output area, reused by every block and grown when a larger one comes.
  let inputAt = 0;
  let inputRoom = 0;
  let outputAt = 0;
  let outputRoom = 0;
  return {
    deflate(data: Uint8Array, level: number): Uint8Array {
      let compressor = compressors.get(level);
      if (compressor === undefined) {
        compressor = wasm.e(level);
        if (compressor === 0) throw new ProvenantError('IO', `libdeflate has no compression level ${level}`);
        compressors.set(level, compressor);
      }
      const bound = wasm.h(compressor, data.length);
      if (inputRoom < data.length || inputAt === 0) {
        if (inputAt !== 0) wasm.o(inputAt);
        inputRoom = Math.max(1, data.length);
        inputAt = wasm.n(inputRoom);
      }
      if (outputRoom < bound || outputAt === 0) {
        if (outputAt !== 0) wasm.o(outputAt);
        outputRoom = bound;
        outputAt = wasm.n(outputRoom);
      }
      if (inputAt === 0 || outputAt === 0) {
        inputAt = outputAt = inputRoom = outputRoom = 0;
        throw new ProvenantError('IO', `libdeflate ran out of memory for a block of ${data.length} bytes`);
      }
      new Uint8Array(wasm.c.buffer).set(data, inputAt);
      const written = wasm.f(compressor, inputAt, data.length, outputAt, outputRoom);
      if (written === 0) throw new ProvenantError('IO', `libdeflate failed to compress a block of ${data.length} bytes`);
      return new Uint8Array(wasm.c.buffer).slice(outputAt, outputAt + written);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The deflate stream walker: finds where a finished stream's last block starts and ends.

/** The order of the code length code lengths (RFC 1951 section 3.2.7). */
const CL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
/** Extra bits of length symbols 257 to 285. */
const LEN_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const MAX_BITS = 15;

/**
 * A decode table for canonical Huffman code `lengths`, indexed by the next `maxLen` bits (LSB
 * first), `maxLen` stored at its end: entries are (symbol << 4) | code length, 0 for no code.
 */
function huffmanTable(lengths: Uint8Array, n: number): Int32Array {
  const count = new Uint16Array(MAX_BITS + 1);
  let maxLen = 1;
  for (let i = 0; i < n; i++) {
    count[lengths[i]!]!++;
    if (lengths[i]! > maxLen) maxLen = lengths[i]!;
  }
  count[0] = 0;
  const next = new Uint16Array(MAX_BITS + 2);
  let code = 0;
  for (let len = 1; len <= MAX_BITS; len++) {
    code = (code + count[len - 1]!) << 1;
    next[len] = code;
  }
  const size = 1 << maxLen;
  const table = new Int32Array(size + 1);
  table[size] = maxLen;
  for (let sym = 0; sym < n; sym++) {
    const len = lengths[sym]!;
    if (len === 0) continue;
    const c = next[len]!++;
    if (c >= 1 << len) throw new Error('over-subscribed Huffman code');
    let rev = 0;
    for (let i = 0; i < len; i++) rev |= ((c >> i) & 1) << (len - 1 - i);
    for (let k = rev; k < size; k += 1 << len) table[k] = (sym << 4) | len;
  }
  return table;
}

let fixedTables: { lit: Int32Array; dist: Int32Array } | undefined;

function fixedHuffman(): { lit: Int32Array; dist: Int32Array } {
  if (fixedTables === undefined) {
    const lit = new Uint8Array(288);
    lit.fill(8, 0, 144).fill(9, 144, 256).fill(7, 256, 280).fill(8, 280, 288);
    fixedTables = { lit: huffmanTable(lit, 288), dist: huffmanTable(new Uint8Array(30).fill(5), 30) };
  }
  return fixedTables;
}

/**
 * Walks a complete raw deflate stream (RFC 1951) without producing output: decodes every block's
 * header and symbols up to the block marked final. Returns the bit offset of that block's header
 * and the bit offset just past its end (its end-of-block code, or its data for a stored block).
 *
 * @internal exported for deflateBlock and the tests
 * @throws Error when the stream is malformed or ends before its final block
 */
export function walkDeflate(buf: Uint8Array): { lastHeader: number; end: number } {
  const limit = buf.length * 8;
  let pos = 0;
  const bits = (n: number): number => {
    const i = pos >> 3;
    const v = ((buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24)) >>> (pos & 7)) & ((1 << n) - 1);
    pos += n;
    return v;
  };
  const symbol = (table: Int32Array): number => {
    const i = pos >> 3;
    const e = table[((buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16)) >>> (pos & 7)) & (table.length - 2)]!;
    if (e === 0) throw new Error('invalid Huffman code');
    pos += e & 15;
    return e >> 4;
  };
  for (;;) {
    if (pos + 3 > limit) throw new Error('the stream ends without a final block');
    const header = pos;
    const final = bits(1);
    const type = bits(2);
    if (type === 0) {
      pos = (pos + 7) & ~7;
      if (pos + 32 > limit) throw new Error('truncated stored block');
      const len = bits(16);
      if ((len ^ 0xffff) !== bits(16)) throw new Error('invalid stored block length');
      pos += len * 8;
    } else if (type === 3) {
      throw new Error('invalid block type 3');
    } else {
      let lit: Int32Array;
      let dist: Int32Array;
      if (type === 1) {
        ({ lit, dist } = fixedHuffman());
      } else {
        const hlit = bits(5) + 257;
        const hdist = bits(5) + 1;
        const hclen = bits(4) + 4;
        if (hlit > 286 || hdist > 30) throw new Error('too many length or distance codes');
        const cl = new Uint8Array(19);
        for (let i = 0; i < hclen; i++) cl[CL_ORDER[i]!] = bits(3);
        const clTable = huffmanTable(cl, 19);
        const lengths = new Uint8Array(hlit + hdist);
        for (let i = 0; i < hlit + hdist; ) {
          if (pos > limit) throw new Error('truncated block header');
          const s = symbol(clTable);
          if (s < 16) {
            lengths[i++] = s;
            continue;
          }
          let repeat: number;
          let value = 0;
          if (s === 16) {
            if (i === 0) throw new Error('invalid code length repeat');
            value = lengths[i - 1]!;
            repeat = 3 + bits(2);
          } else if (s === 17) repeat = 3 + bits(3);
          else repeat = 11 + bits(7);
          if (i + repeat > hlit + hdist) throw new Error('invalid code length repeat');
          lengths.fill(value, i, i + repeat);
          i += repeat;
        }
        if (lengths[256] === 0) throw new Error('no end-of-block code');
        lit = huffmanTable(lengths.subarray(0, hlit), hlit);
        dist = huffmanTable(lengths.subarray(hlit), hdist);
      }
      for (;;) {
        if (pos > limit) throw new Error('truncated compressed block');
        const s = symbol(lit);
        if (s < 256) continue;
        if (s === 256) break;
        if (s > 285) throw new Error('invalid length symbol');
        pos += LEN_EXTRA[s - 257]!;
        const d = symbol(dist);
        if (d > 29) throw new Error('invalid distance symbol');
        if (d >= 4) pos += (d >> 1) - 1;
      }
    }
    if (pos > limit) throw new Error('truncated stream');
    if (final) return { lastHeader: header, end: pos };
  }
}

// ---------------------------------------------------------------------------------------------

/** One block of input. */
interface Block {
  data: Uint8Array;
  last: boolean;
  /** `data` is a whole buffer of its own, so it can be transferred to a worker rather than copied. */
  owned: boolean;
  /** Its compressed bytes, when a {@link PrecompressedSegment} already has them. */
  compressed?: Promise<Uint8Array> | undefined;
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
 * Cuts the source into blocks of `blockSize` bytes, whatever its chunking: plain bytes at fixed
 * offsets from the start or from the end of the last segment, each block copied into a fresh
 * buffer; a segment into blocks from its own start, as views of its bytes (or its precompressed
 * blocks). A full block of plain bytes is held until more input arrives, so that the last block,
 * the only one finished, is never empty unless the input is, or ends with a segment. Updates
 * `totals` (CRC-32 and length) as blocks are cut.
 */
async function* cutBlocks(
  source: AsyncIterable<Uint8Array | GzipSegment> | Iterable<Uint8Array | GzipSegment>,
  level: number,
  blockSize: number,
  totals: { crc: number; size: number },
  signal: AbortSignal | undefined,
): AsyncGenerator<Block> {
  let buffer = new Uint8Array(blockSize);
  let fill = 0;

  const count = (data: Uint8Array): void => {
    totals.crc = crc32(data, totals.crc);
    totals.size += data.length;
  };
  const seal = (last: boolean): Block => {
    const data = buffer.subarray(0, fill);
    count(data);
    return { data, last, owned: true };
  };
  // A block cut short by a segment is copied out, and the buffer kept for the next one: a layer
  // has a short block before each of its hundreds of segments, and a fresh 1 MiB each time would
  // cost more than the copy.
  const sealShort = (): Block => {
    const data = buffer.slice(0, fill);
    count(data);
    fill = 0;
    return { data, last: false, owned: true };
  };

  try {
    for await (const chunk of source) {
      throwIfAborted(signal);
      if (!(chunk instanceof Uint8Array)) {
        if (fill > 0) yield sealShort();
        const { segment, precompressed: pre } = chunk;
        const blocks =
          pre !== undefined && pre.data === segment && pre.level === level && pre.blockSize === blockSize ? pre.blocks : undefined;
        for (let at = 0, i = 0; at < segment.length; at += blockSize, i++) {
          const data = segment.subarray(at, at + blockSize);
          count(data);
          const n = i;
          yield { data, last: false, owned: false, compressed: blocks?.then((b) => b[n] as Uint8Array) };
        }
        continue;
      }
      let at = 0;
      while (at < chunk.length) {
        if (fill === blockSize) {
          yield seal(false);
          buffer = new Uint8Array(blockSize);
          fill = 0;
        }
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
  /** Transferred, unless shared. */
  buffer: ArrayBuffer | SharedArrayBuffer;
  byteOffset: number;
  byteLength: number;
  level: number;
  last: boolean;
}

/** What a worker posts back; `buffer` is transferred. @internal */
export type DeflateResponse = { buffer: ArrayBuffer; byteLength: number } | { error: string };

interface Task {
  lane: Lane;
  block: Block;
  level: number;
  resolve: (out: Uint8Array) => void;
  reject: (err: unknown) => void;
}

interface PoolWorker {
  worker: Worker;
  /** The blocks posted to it and not yet answered, oldest first: a worker answers in order. */
  tasks: Task[];
}

/**
 * Blocks posted to a worker ahead of the one it is compressing. The calling thread hands out
 * blocks only when it is free to run callbacks; while it is busy for a while (unpacking packages
 * into the tree takes a few hundred milliseconds), a worker with blocks queued in its port goes on
 * compressing instead of waiting for it. Queued blocks are views of shared memory or copies of at
 * most a block each.
 */
const WORKER_DEPTH = 16;

/** Input a stream keeps in flight, in blocks per worker: enough to keep the workers busy. */
const WINDOW_BLOCKS = 5;

/** One compression's share of the pool: at most `limit` of its blocks posted at once. */
class Lane {
  readonly limit: number;
  running = 0;
  readonly #pool: DeflatePool;

  constructor(pool: DeflatePool, limit: number) {
    this.#pool = pool;
    this.limit = limit;
  }

  deflate(block: Block, level: number): Promise<Uint8Array> {
    return new Promise((resolve, reject) => this.#pool.submit({ lane: this, block, level, resolve, reject }));
  }

  /** Drops this lane's blocks that no worker has been given; blocks given out finish unread. */
  close(): void {
    this.#pool.drop(this);
  }
}

class DeflatePool {
  readonly #workers = new Set<PoolWorker>();
  readonly #queue: Task[] = [];
  readonly #url: URL;

  constructor(url: URL) {
    this.#url = url;
  }

  /** A lane for a compression that wants `workers` threads; the pool grows to that many. */
  lane(workers: number): Lane {
    while (this.#workers.size < workers) this.#spawn();
    return new Lane(this, workers * WORKER_DEPTH);
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
    const pw: PoolWorker = { worker, tasks: [] };
    this.#workers.add(pw);
    // Node refs a worker's port again when the thread comes online; a worker spawned but never
    // given a block would then keep the process alive. Unref it again once it is up.
    worker.once('online', () => {
      if (pw.tasks.length === 0) worker.unref();
    });
    worker.on('message', (response: DeflateResponse) => this.#done(pw, response));
    worker.on('error', (err) => this.#lost(pw, err));
    worker.on('messageerror', (err) => this.#lost(pw, err));
    worker.on('exit', (code) => this.#lost(pw, new Error(`the worker exited with code ${code}`)));
  }

  /** Gives queued blocks to the workers with the fewest, up to {@link WORKER_DEPTH} each. */
  #pump(): void {
    for (;;) {
      let pw: PoolWorker | undefined;
      for (const w of this.#workers) if (w.tasks.length < WORKER_DEPTH && (pw === undefined || w.tasks.length < pw.tasks.length)) pw = w;
      if (pw === undefined) return;
      const i = this.#queue.findIndex((t) => t.lane.running < t.lane.limit);
      if (i < 0) return;
      const task = this.#queue.splice(i, 1)[0]!;
      pw.tasks.push(task);
      task.lane.running++;
      if (pw.tasks.length === 1) pw.worker.ref();
      // A block in a buffer of its own is transferred; a view into shared memory is shared; any
      // other view (a segment's block) is copied, only now that a worker takes it, so that the
      // blocks queued ahead hold no second copy of their bytes.
      const { block } = task;
      const shared = !block.owned && block.data.buffer instanceof SharedArrayBuffer;
      const data = block.owned || shared ? block.data : block.data.slice();
      const request: DeflateRequest = {
        buffer: data.buffer,
        byteOffset: data.byteOffset,
        byteLength: data.byteLength,
        level: task.level,
        last: block.last,
      };
      pw.worker.postMessage(request, shared ? [] : [request.buffer as ArrayBuffer]);
    }
  }

  #done(pw: PoolWorker, response: DeflateResponse): void {
    const task = pw.tasks.shift();
    if (task === undefined) return;
    task.lane.running--;
    if (pw.tasks.length === 0) pw.worker.unref();
    if ('error' in response) task.reject(new ProvenantError('IO', `deflate failed in a worker thread: ${response.error}`));
    else task.resolve(new Uint8Array(response.buffer, 0, response.byteLength));
    this.#pump();
  }

  /** A worker died: fail its blocks (which fails those compressions) and forget the worker. */
  #lost(pw: PoolWorker, err: unknown): void {
    if (!this.#workers.delete(pw)) return;
    void pw.worker.terminate();
    const tasks = pw.tasks.splice(0);
    const message = err instanceof Error ? err.message : String(err);
    for (const task of tasks) {
      task.lane.running--;
      task.reject(new ProvenantError('IO', `a deflate worker thread failed: ${message}`, { cause: err }));
    }
    // The compressions that lost a block fail and drop their queues. Blocks of others still
    // queued get a new worker; each new worker takes blocks, so a worker that cannot even start
    // fails the compressions it was given per spawn rather than looping.
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
