import { createRequire as __provenantRequire } from 'node:module';
const require = __provenantRequire(import.meta.url);

// src/archive/deflate-worker.ts
import { parentPort } from "node:worker_threads";

// src/io/memory.ts
var COLLECT_EVERY = 32 * 1024 * 1024;
var moved = 0;
var collect;
function noteBytesMoved(n, every = COLLECT_EVERY) {
  moved += n;
  if (moved < every) return;
  collectGarbage();
}
var asked = 0;
function collectGarbage(options = {}) {
  moved = 0;
  asked++;
  if (collect === void 0) {
    const exposed = globalThis.gc;
    try {
      if (exposed === void 0) process.getBuiltinModule("node:v8").setFlagsFromString("--expose-gc");
      collect = exposed ?? process.getBuiltinModule("node:vm").runInNewContext("gc");
    } catch {
      collect = null;
    }
  }
  if (options.shrink === true) collect?.({ type: "major", execution: "sync", flavor: "last-resort" });
  else collect?.();
}

// src/errors.ts
var ProvenantError = class extends Error {
  code;
  where;
  hint;
  constructor(code, message, details = {}) {
    super(message, details.cause === void 0 ? void 0 : { cause: details.cause });
    this.name = "ProvenantError";
    this.code = code;
    this.where = details.where;
    this.hint = details.hint;
  }
  /** One line for a person: `message (where)`, without the hint. */
  describe() {
    return this.where === void 0 ? this.message : `${this.message} (${this.where})`;
  }
};
var SECRET_NAME = "[a-z0-9_.-]*(?:token|secret|password|passwd)|authorization|credentials?|api[_-]?key|x-amz-signature|x-amz-credential|sig";
var NAMED_PARAM = new RegExp(String.raw`\b(${SECRET_NAME})=[^\s&"',;<>]+`, "gi");
var NAMED_MEMBER = new RegExp(String.raw`("(?:${SECRET_NAME})"\s*:\s*)"(?:[^"\\]|\\.)*"`, "gi");

// src/archive/deflate-walk.ts
var CL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
var LEN_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
var MAX_BITS = 15;
var scratchTables = [];
function huffmanTable(lengths, n, scratch) {
  const count = new Uint16Array(MAX_BITS + 1);
  let maxLen = 1;
  for (let i = 0; i < n; i++) {
    count[lengths[i]]++;
    if (lengths[i] > maxLen) maxLen = lengths[i];
  }
  count[0] = 0;
  const next = new Uint16Array(MAX_BITS + 2);
  let code = 0;
  for (let len = 1; len <= MAX_BITS; len++) {
    code = code + count[len - 1] << 1;
    next[len] = code;
  }
  const size = 1 << maxLen;
  let table;
  if (scratch === void 0) table = new Int32Array(size + 1);
  else {
    scratchTables[scratch] ??= new Int32Array((1 << MAX_BITS) + 1);
    table = scratchTables[scratch].subarray(0, size + 1);
    table.fill(0, 0, size);
  }
  table[size] = maxLen;
  for (let sym = 0; sym < n; sym++) {
    const len = lengths[sym];
    if (len === 0) continue;
    const c = next[len]++;
    if (c >= 1 << len) throw new Error("over-subscribed Huffman code");
    let rev = 0;
    for (let i = 0; i < len; i++) rev |= (c >> i & 1) << len - 1 - i;
    for (let k = rev; k < size; k += 1 << len) table[k] = sym << 4 | len;
  }
  return table;
}
var fixedTables;
function fixedHuffman() {
  if (fixedTables === void 0) {
    const lit = new Uint8Array(288);
    lit.fill(8, 0, 144).fill(9, 144, 256).fill(7, 256, 280).fill(8, 280, 288);
    fixedTables = { lit: huffmanTable(lit, 288), dist: huffmanTable(new Uint8Array(30).fill(5), 30) };
  }
  return fixedTables;
}
function walkDeflate(buf) {
  const limit = buf.length * 8;
  let pos = 0;
  const bits = (n) => {
    const i = pos >> 3;
    const v = (buf[i] | buf[i + 1] << 8 | buf[i + 2] << 16 | buf[i + 3] << 24) >>> (pos & 7) & (1 << n) - 1;
    pos += n;
    return v;
  };
  const symbol = (table) => {
    const i = pos >> 3;
    const e = table[(buf[i] | buf[i + 1] << 8 | buf[i + 2] << 16) >>> (pos & 7) & table.length - 2];
    if (e === 0) throw new Error("invalid Huffman code");
    pos += e & 15;
    return e >> 4;
  };
  for (; ; ) {
    if (pos + 3 > limit) throw new Error("the stream ends without a final block");
    const header = pos;
    const final = bits(1);
    const type = bits(2);
    if (type === 0) {
      pos = pos + 7 & ~7;
      if (pos + 32 > limit) throw new Error("truncated stored block");
      const len = bits(16);
      if ((len ^ 65535) !== bits(16)) throw new Error("invalid stored block length");
      pos += len * 8;
    } else if (type === 3) {
      throw new Error("invalid block type 3");
    } else {
      let lit;
      let dist;
      if (type === 1) {
        ({ lit, dist } = fixedHuffman());
      } else {
        const hlit = bits(5) + 257;
        const hdist = bits(5) + 1;
        const hclen = bits(4) + 4;
        if (hlit > 286 || hdist > 30) throw new Error("too many length or distance codes");
        const cl = new Uint8Array(19);
        for (let i = 0; i < hclen; i++) cl[CL_ORDER[i]] = bits(3);
        const clTable = huffmanTable(cl, 19, 0);
        const lengths = new Uint8Array(hlit + hdist);
        for (let i = 0; i < hlit + hdist; ) {
          if (pos > limit) throw new Error("truncated block header");
          const s = symbol(clTable);
          if (s < 16) {
            lengths[i++] = s;
            continue;
          }
          let repeat;
          let value = 0;
          if (s === 16) {
            if (i === 0) throw new Error("invalid code length repeat");
            value = lengths[i - 1];
            repeat = 3 + bits(2);
          } else if (s === 17) repeat = 3 + bits(3);
          else repeat = 11 + bits(7);
          if (i + repeat > hlit + hdist) throw new Error("invalid code length repeat");
          lengths.fill(value, i, i + repeat);
          i += repeat;
        }
        if (lengths[256] === 0) throw new Error("no end-of-block code");
        lit = huffmanTable(lengths.subarray(0, hlit), hlit, 1);
        dist = huffmanTable(lengths.subarray(hlit), hdist, 2);
      }
      for (; ; ) {
        if (pos > limit) throw new Error("truncated compressed block");
        const s = symbol(lit);
        if (s < 256) continue;
        if (s === 256) break;
        if (s > 285) throw new Error("invalid length symbol");
        pos += LEN_EXTRA[s - 257];
        const d = symbol(dist);
        if (d > 29) throw new Error("invalid distance symbol");
        if (d >= 4) pos += (d >> 1) - 1;
      }
    }
    if (pos > limit) throw new Error("truncated stream");
    if (final) return { lastHeader: header, end: pos };
  }
}

// src/archive/libdeflate.ts
import { fileURLToPath } from "node:url";

// src/oci/digest.ts
function createHash(algorithm) {
  return process.getBuiltinModule("node:crypto").createHash(algorithm);
}
function digestHex(digest) {
  return digest.slice(digest.indexOf(":") + 1);
}
function digestOf(data, algorithm = "sha256") {
  return `${algorithm}:${createHash(algorithm).update(data).digest("hex")}`;
}

// src/archive/libdeflate.ts
var { readFileSync } = process.getBuiltinModule("node:fs");
var LIBDEFLATE_WASM_SHA256 = "f75470cc665db1d83e231ec57bf38696852cba5c2594813d47fc43117816affe";
var Wasm = globalThis.WebAssembly;
var instance;
function libdeflate() {
  instance ??= loadLibdeflate();
  return instance;
}
function loadLibdeflate() {
  let path = "";
  let bytes;
  try {
    path = fileURLToPath(new URL("./libdeflate.wasm.mjs", import.meta.url));
    const glue = readFileSync(path, "latin1");
    const match = /wasmBinaryFile\s*=\s*"data:application\/octet-stream;base64,([A-Za-z0-9+/=]+)"/.exec(glue);
    if (match === null) throw new Error("no embedded wasm found");
    bytes = new Uint8Array(Buffer.from(match[1], "base64"));
  } catch (err) {
    throw new ProvenantError(
      "IO",
      `cannot load libdeflate's wasm (npm libdeflate 0.1.0)${path ? ` from ${path}` : ""}: ${err.message}`,
      {
        cause: err
      }
    );
  }
  const digest = digestHex(digestOf(bytes));
  if (digest !== LIBDEFLATE_WASM_SHA256) {
    throw new ProvenantError(
      "IO",
      `libdeflate's wasm in ${path} has SHA-256 ${digest}, not the pinned ${LIBDEFLATE_WASM_SHA256} of npm libdeflate 0.1.0: layer digests depend on those exact bytes, so pinnedGzip refuses to run with another build (reinstall libdeflate@0.1.0)`
    );
  }
  let exports;
  const imports = {
    a: {
      // emscripten_resize_heap: grow the memory to at least `requested` bytes; 1 on success.
      a: (requested) => {
        const memory = exports.c;
        const pages = Math.ceil((requested - memory.buffer.byteLength) / 65536);
        try {
          if (pages > 0) memory.grow(pages);
          return 1;
        } catch {
          return 0;
        }
      },
      // emscripten_memcpy_big
      b: (dest, src, n) => {
        new Uint8Array(exports.c.buffer).copyWithin(dest, src, src + n);
      }
    }
  };
  exports = new Wasm.Instance(new Wasm.Module(bytes), imports).exports;
  exports.d();
  const wasm = exports;
  const compressors = /* @__PURE__ */ new Map();
  let inputAt = 0;
  let inputRoom = 0;
  let outputAt = 0;
  let outputRoom = 0;
  return {
    deflate(data, level, room = 0) {
      let compressor = compressors.get(level);
      if (compressor === void 0) {
        compressor = wasm.e(level);
        if (compressor === 0) throw new ProvenantError("IO", `libdeflate has no compression level ${level}`);
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
        throw new ProvenantError("IO", `libdeflate ran out of memory for a block of ${data.length} bytes`);
      }
      new Uint8Array(wasm.c.buffer).set(data, inputAt);
      const written = wasm.f(compressor, inputAt, data.length, outputAt, outputRoom);
      if (written === 0) throw new ProvenantError("IO", `libdeflate failed to compress a block of ${data.length} bytes`);
      const out = new Uint8Array(written + room);
      out.set(new Uint8Array(wasm.c.buffer, outputAt, written));
      return out.subarray(0, written);
    }
  };
}

// src/archive/deflate-block.ts
function deflateBlock(data, level, last) {
  if (level === 0) return storedBlocks(data, last);
  const out = libdeflate().deflate(data, level, last ? 0 : 5);
  if (last) return out;
  let walked;
  try {
    walked = walkDeflate(out);
  } catch (err) {
    throw new ProvenantError("IO", `libdeflate's output does not parse: ${err.message}`, { cause: err });
  }
  const { lastHeader, end } = walked;
  if (end + 7 >> 3 !== out.length) {
    throw new ProvenantError("IO", `libdeflate's output ends at bit ${end} of ${out.length} bytes`);
  }
  const aligned = end + 3 + 7 >> 3;
  const result = new Uint8Array(out.buffer, 0, aligned + 4);
  result[lastHeader >> 3] &= ~(1 << (lastHeader & 7));
  if ((end & 7) !== 0) result[end >> 3] &= (1 << (end & 7)) - 1;
  result[aligned + 2] = 255;
  result[aligned + 3] = 255;
  return result;
}
function storedBlocks(data, last) {
  const pieces = Math.max(1, Math.ceil(data.length / 65535));
  const out = new Uint8Array(data.length + 5 * pieces + (last ? 0 : 5));
  let at = 0;
  for (let i = 0; i < pieces; i++) {
    const piece = data.subarray(i * 65535, (i + 1) * 65535);
    out[at] = last && i === pieces - 1 ? 1 : 0;
    out[at + 1] = piece.length & 255;
    out[at + 2] = piece.length >> 8;
    out[at + 3] = ~piece.length & 255;
    out[at + 4] = ~piece.length >> 8 & 255;
    out.set(piece, at + 5);
    at += 5 + piece.length;
  }
  if (!last) out.set([0, 0, 0, 255, 255], at);
  return out;
}

// src/archive/deflate-worker.ts
var WORKER_COLLECT_EVERY = 4 * 1024 * 1024;
var port = parentPort;
if (port === null) throw new Error("deflate-worker runs as a worker thread of pinnedGzip");
port.on("message", (request) => {
  let response;
  try {
    const out = deflateBlock(new Uint8Array(request.buffer, request.byteOffset, request.byteLength), request.level, request.last);
    noteBytesMoved(out.byteLength, WORKER_COLLECT_EVERY);
    response = { buffer: out.buffer, byteLength: out.byteLength };
    port.postMessage(response, [response.buffer]);
  } catch (err) {
    response = { error: err instanceof Error ? err.message : String(err) };
    port.postMessage(response);
  }
});
