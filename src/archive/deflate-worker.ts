/**
 * The worker thread of pinnedGzip's pool (deflate.ts): compresses one block per message with the
 * same {@link deflateBlock} the calling thread uses, and transfers the bytes back. libdeflate's
 * wasm is loaded, checked and instantiated once per worker, on its first block.
 */
import { parentPort } from 'node:worker_threads';
import { noteBytesMoved } from '../io/memory.ts';
import { deflateBlock } from './deflate-block.ts';
import type { DeflateRequest, DeflateResponse } from './deflate-pool.ts';

/** Bytes of buffers made between two collections of this thread's heap (a few MB: a collection takes about a millisecond). */
const WORKER_COLLECT_EVERY = 4 * 1024 * 1024;

const port = parentPort;
if (port === null) throw new Error('deflate-worker runs as a worker thread of pinnedGzip');

port.on('message', (request: DeflateRequest) => {
  let response: DeflateResponse;
  try {
    // The block is read in place, from the pool's shared memory.
    const out = deflateBlock(new Uint8Array(request.buffer, request.byteOffset, request.byteLength), request.level, request.last);
    // The compressed block is memory of this thread's until it is sent, a buffer that V8 frees
    // only when it collects. This thread's heap is small, so it collects often (../io/memory.ts).
    noteBytesMoved(out.byteLength, WORKER_COLLECT_EVERY);
    // deflateBlock returns a view at the start of its own buffer.
    response = { buffer: out.buffer as ArrayBuffer, byteLength: out.byteLength };
    port.postMessage(response, [response.buffer]);
  } catch (err) {
    response = { error: err instanceof Error ? err.message : String(err) };
    port.postMessage(response);
  }
});
