/**
 * The vocabulary every long operation shares, below both the registry client and the stores:
 * byte streams, re-readable blob sources, progress events, loggers and the options object that
 * carries a cancel signal, a logger and a progress callback.
 */
import type { Digest } from '../oci/digest.ts';
import type { Descriptor } from '../oci/types.ts';

/** Bytes as a stream of chunks. Node's Readable and web ReadableStream both are this. */
export type ByteStream = AsyncIterable<Uint8Array>;

/**
 * Blob content that can be read more than once, from the start or from an offset, so that a
 * transfer that fails half-way can be retried or resumed without holding the blob in memory.
 */
export interface BlobSource {
  readonly descriptor: Descriptor;
  open(offset?: number): Promise<ByteStream>;
  /**
   * The bytes are this whole local file (a layer a build wrote into its cache): a store on the
   * same machine may link or copy the file rather than stream it, and still checks it.
   */
  readonly path?: string | undefined;
}

/** What every long operation accepts. */
export interface OperationOptions {
  signal?: AbortSignal | undefined;
  logger?: Logger | undefined;
  onProgress?: ((update: ProgressUpdate) => void) | undefined;
}

/** A progress event; the CLI turns these into bars on a terminal and lines elsewhere. */
export type ProgressUpdate =
  | { kind: 'blob'; digest: Digest; done: number; total: number; phase: 'transfer' | 'exists' | 'mounted' | 'done' }
  | { kind: 'manifest'; digest: Digest; mediaType: string; phase: 'exists' | 'done' }
  | { kind: 'retry'; what: string; attempt: number; delayMs: number; reason: string };

/** A logger; the library never prints. Messages never hold credentials. */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
}

/** A logger that drops everything, the default. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {} };

/** A {@link BlobSource} over bytes in memory. */
export function bytesSource(descriptor: Descriptor, bytes: Uint8Array): BlobSource {
  return {
    descriptor,
    async open(offset = 0) {
      return streamOf(bytes.subarray(offset));
    },
  };
}

/** A one-chunk stream. */
export async function* streamOf(bytes: Uint8Array): ByteStream {
  yield bytes;
}
