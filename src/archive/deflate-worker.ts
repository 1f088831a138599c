/**
 * The worker thread of pinnedGzip's pool (deflate.ts): compresses one block per message with the
 * same {@link deflateBlock} the calling thread uses, and transfers the bytes back. libdeflate's
 * wasm is loaded, checked and instantiated once per worker, on its first block.
 */
import { parentPort } from 'node:worker_threads';
import { noteBytesMoved } from '../io/memory.ts';
import { deflateBlock } from './deflate-block.ts';
import type { DeflateRequest, DeflateResponse } from './deflate-pool.ts';

const port = parentPort;
if (port === null) throw new Error('deflate-worker runs as a worker thread of pinnedGzip');

port.on('message', (request: DeflateRequest) => {
  let response: DeflateResponse;
  // Each block arrives in a buffer of its own: collected every few dozen MiB (../io/memory.ts).
  noteBytesMoved(request.byteLength);
  try {
    const out = deflateBlock(new Uint8Array(request.buffer, request.byteOffset, request.byteLength), request.level, request.last);
    // deflateBlock returns a whole buffer, never a view into a larger one.
    response = { buffer: out.buffer as ArrayBuffer, byteLength: out.byteLength };
    port.postMessage(response, [response.buffer]);
  } catch (err) {
    response = { error: err instanceof Error ? err.message : String(err) };
    port.postMessage(response);
  }
});
