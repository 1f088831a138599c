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
  | { kind: 'retry'; what: string; attempt: number; delayMs: number; reason: string }
  | StepProgress;

/**
 * A step of a long operation (a build's), for displays that show where it is: started (`done` 0),
 * advanced, and `finished`. Counts are of packages (resolve, fetch, install), layers (compress)
 * or blobs (write); `total` is absent until it is known.
 */
export interface StepProgress {
  kind: 'step';
  /**
   * resolve: reading the repositories' indexes and choosing packages; fetch: downloading (or
   * reading from the cache) and verifying package files; install: unpacking them into the image
   * tree; compress: making the layers; write: storing blobs and manifests (a push, for a registry);
   * reuse: taking the layers and inventory an earlier build made of the same inputs, instead of
   * fetch, install and compress (`done` counts its packages, `bytes` its layers).
   */
  step: 'resolve' | 'fetch' | 'install' | 'compress' | 'reuse' | 'write';
  /** What the step works on: an architecture, or where the image is written. */
  subject: string;
  done: number;
  total?: number | undefined;
  /** Bytes so far: package files (fetch), compressed layers (compress), blobs (write). */
  bytes?: number | undefined;
  /** Bytes in all, when known (write). */
  totalBytes?: number | undefined;
  /** fetch: how many of `done` came from the download cache; write: how many were there already. */
  reused?: number | undefined;
  finished?: boolean | undefined;
}

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
