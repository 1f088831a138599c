/**
 * libdeflate compiled to WebAssembly (the wasm embedded in npm `libdeflate` 0.1.0, MIT),
 * instantiated once per thread by our own code rather than the package's emscripten glue (which
 * installs process-wide `uncaughtException`/`unhandledRejection` handlers), and refused unless its
 * SHA-256 is the pinned one: every layer digest depends on those exact bytes.
 */
import { fileURLToPath } from 'node:url';
import { ProvenantError } from '../errors.ts';
import { digestHex, digestOf } from '../oci/digest.ts';

const { readFileSync } = process.getBuiltinModule('node:fs');

/**
 * SHA-256 of the WebAssembly module embedded (as a base64 data URI) in npm `libdeflate` 0.1.0's
 * dist/libdeflate.wasm.mjs. Every layer digest depends on these exact bytes: a different build
 * of libdeflate may compress differently, so any other bytes are refused.
 */
export const LIBDEFLATE_WASM_SHA256 = 'f75470cc665db1d83e231ec57bf38696852cba5c2594813d47fc43117816affe';

export interface Libdeflate {
  /**
   * A finished raw deflate stream of `data` at `level` (1 to 12), at the start of a fresh buffer
   * with `room` zero bytes after it (for a caller that appends, without another copy).
   */
  deflate(data: Uint8Array, level: number, room?: number): Uint8Array;
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
export function libdeflate(): Libdeflate {
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
  const digest = digestHex(digestOf(bytes));
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
    deflate(data: Uint8Array, level: number, room = 0): Uint8Array {
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
      const out = new Uint8Array(written + room);
      out.set(new Uint8Array(wasm.c.buffer, outputAt, written));
      return out.subarray(0, written);
    },
  };
}
