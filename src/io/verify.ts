/**
 * Checked reading: a stream passed through against its descriptor's digest and size, and small
 * documents read whole under a size cap.
 */
import { concatBytes } from '../bytes.ts';
import { ProvenantError, throwIfAborted } from '../errors.ts';
import { Digester, digestAlgorithm, digestMismatch } from '../oci/digest.ts';
import type { Descriptor } from '../oci/types.ts';
import { noteBytesMoved } from './memory.ts';
import type { ByteStream } from './types.ts';

/**
 * Passes a blob's bytes through and checks them as they go: more bytes than the descriptor's
 * size fail at once, and at the end the digest and size must match. A consumer that writes
 * somewhere must not publish what it wrote until the stream has ended without error.
 *
 * `prefix` is for reads from an offset: the bytes before it are hashed but not passed on, so a
 * resumed read is still checked whole.
 */
export async function* verifyStream(stream: ByteStream, descriptor: Descriptor, where: string, prefix?: ByteStream): ByteStream {
  const digester = new Digester(digestAlgorithm(descriptor.digest));
  if (prefix !== undefined) for await (const chunk of prefix) digester.update(chunk);
  // The bytes moved are counted towards a collection (./memory.ts) once per buffer: a chunk whose
  // buffer an earlier chunk came in is not counted again. A stream of fresh buffers (a file's read
  // stream, an HTTP body) is counted whole; one that reads into the same buffers again and again
  // (fileChunksReused, ./files.ts) leaves nothing to collect. Counted, the 329 MB layer a layout
  // links and checks asked for ten full collections, 130 ms of a 1.4 s build. A source that cut
  // one fresh buffer into many chunks would be counted by its first chunk only.
  const seen = new WeakSet<ArrayBufferLike>();
  for await (const chunk of stream) {
    digester.update(chunk);
    if (!seen.has(chunk.buffer)) {
      seen.add(chunk.buffer);
      noteBytesMoved(chunk.byteLength);
    }
    if (digester.size > descriptor.size) throw sizeMismatch(descriptor, digester.size, where, 'more than');
    yield chunk;
  }
  if (digester.size !== descriptor.size) throw sizeMismatch(descriptor, digester.size, where, 'only');
  const actual = digester.digest();
  if (actual !== descriptor.digest) throw digestMismatch(descriptor.digest, actual, where);
}

function sizeMismatch(d: Descriptor, got: number, where: string, how: string): ProvenantError {
  return new ProvenantError('SIZE_MISMATCH', `blob ${d.digest} has ${how} ${got} bytes, expected ${d.size}`, {
    where,
    hint: 'the content was truncated or changed in storage or transit',
  });
}

/**
 * Passes a stream through until `signal` fires, then fails with ABORTED at the next chunk. For
 * file streams: giving one the signal itself makes it emit an 'error' that nobody may be
 * listening for yet (a blob opened but not read), which ends the process.
 */
export async function* untilAborted(stream: ByteStream, signal: AbortSignal | undefined): ByteStream {
  for await (const chunk of stream) {
    throwIfAborted(signal);
    yield chunk;
  }
}

/**
 * Reads a whole (small) stream into one array, refusing more than `limit` bytes: with
 * `tooLarge`'s error when given (a package is not a manifest), else INVALID_MANIFEST. Leaving
 * the loop ends the stream (an HTTP body's socket is closed).
 */
export async function collect(stream: ByteStream, limit: number, where: string, tooLarge?: () => ProvenantError): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += chunk.byteLength;
    if (total > limit) throw tooLarge?.() ?? new ProvenantError('INVALID_MANIFEST', `content is larger than ${limit} bytes`, { where });
    parts.push(chunk);
  }
  return concatBytes(parts, total);
}

/**
 * The most Provenant reads of any one manifest, index, image config or layout index.json: 4 MiB,
 * the limit registries put on manifests (distribution's default, Docker Hub's). It bounds the
 * memory a hostile or broken document can take; a larger one is refused with a typed error
 * (INVALID_MANIFEST, or INVALID_LAYOUT for index.json) before its bytes are read.
 */
export const MANIFEST_LIMIT = 4 * 1024 * 1024;
