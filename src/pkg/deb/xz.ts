/**
 * xz decompression for Debian's indexes (`Packages.xz`) and package members (`data.tar.xz`).
 *
 * Node has no xz decoder. This one is `xz-decompress`: xz-embedded compiled to WebAssembly, so it
 * needs no native build, no install script and no download at install time, and decodes the same
 * on every platform. Measured on bookworm's main/binary-amd64 Packages.xz (8.8 MB → 50 MB) on a
 * 2-core machine under load, it took ~2.6 s against ~1.7 s for the native `node-liblzma` and
 * ~2 s for `@napi-rs/lzma`; the repository reader caches the decompressed index by its digest,
 * so a Packages file is decompressed once per change, not once per build.
 *
 * `decompressXz` has the shape of `XzDecoder` (./deb.ts), so it can be passed to `readDeb`.
 */
import { createGunzip, gunzipSync } from 'node:zlib';
import type { XzReadableStream } from 'xz-decompress';
import { collectBytes, concatBytes } from '../../bytes.ts';
import { ProvenantError, throwIfAborted } from '../../errors.ts';

/** Options of {@link decompressXz} and {@link decompressIndex}. */
export interface DecompressOptions {
  /** For errors: where the data comes from (a URL without credentials or a path). */
  where?: string | undefined;
  /**
   * The most bytes the data may unpack to (2 GiB by default), against decompression bombs. An
   * index file stops at {@link MAX_PACKAGES_INDEX_SIZE} too, whatever this says.
   */
  maxBytes?: number | undefined;
  signal?: AbortSignal | undefined;
}

/** How an index file is compressed, by the suffix of its name in the Release file. */
export type IndexCompression = 'xz' | 'gzip' | 'none';

const DEFAULT_MAX = 2 * 1024 * 1024 * 1024;
/** The xz stream header magic (xz file format 1.0.4, section 2.1.1.1). */
const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];

/** True when `bytes` start with the xz magic. */
function isXz(bytes: Uint8Array): boolean {
  return XZ_MAGIC.every((b, i) => bytes[i] === b);
}

/**
 * Decompresses a whole xz file (one or more concatenated streams, as `xz` writes them).
 *
 * @throws ProvenantError `INVALID_PACKAGE` when the data is not xz, is corrupt or truncated, or
 *   unpacks to more than `maxBytes`; `ABORTED` when cancelled
 */
export async function decompressXz(bytes: Uint8Array, options: DecompressOptions = {}): Promise<Uint8Array> {
  return collectBytes(xzChunks(bytes, options));
}

/**
 * Decompresses a whole xz file as it is decoded, chunk by chunk, never whole; the file is given
 * whole, or as pieces as they are read (a .deb's data member, ./stream.ts).
 *
 * @throws ProvenantError as {@link decompressXz}, when the chunks are read; what reading the
 *   pieces throws, as it is
 */
export async function* xzChunks(
  bytes: Uint8Array | AsyncIterable<Uint8Array>,
  options: DecompressOptions = {},
): AsyncGenerator<Uint8Array> {
  const where = options.where;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX;
  const notXz = () => new ProvenantError('INVALID_PACKAGE', 'the data is not xz (the magic bytes are wrong)', { where });
  let input: ReadableStream<Uint8Array>;
  if (bytes instanceof Uint8Array) {
    if (!isXz(bytes)) throw notXz();
    // One input chunk: the decoder copies input into WebAssembly memory as it needs it.
    input = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes);
        controller.close();
      },
    });
  } else {
    // The pieces that hold the magic are read first, and given to the decoder before the rest.
    const pieces = bytes[Symbol.asyncIterator]();
    const first: Uint8Array[] = [];
    let length = 0;
    while (length < XZ_MAGIC.length) {
      const next = await pieces.next();
      if (next.done === true) break;
      first.push(next.value);
      length += next.value.length;
    }
    if (!isXz(concatBytes(first, length))) {
      await pieces.return?.(undefined);
      throw notXz();
    }
    input = ReadableStream.from(
      (async function* () {
        // Cancelled (a limit, an error, a reader that went away), the pieces' source is let go too.
        try {
          yield* first;
          for (let next = await pieces.next(); next.done !== true; next = await pieces.next()) yield next.value;
        } finally {
          await pieces.return?.(undefined);
        }
      })(),
    );
  }
  let total = 0;
  const XzStream = await loadDecoder();
  const reader = new XzStream(input).getReader();
  let done = false;
  try {
    for (;;) {
      throwIfAborted(options.signal);
      let next: Awaited<ReturnType<typeof reader.read>>;
      try {
        next = await reader.read();
      } catch (err) {
        if (err instanceof ProvenantError) throw err;
        throw new ProvenantError('INVALID_PACKAGE', `the xz data is corrupt or truncated: ${(err as Error).message}`, {
          where,
          cause: err,
        });
      }
      if (next.done) break;
      total += next.value.length;
      if (total > maxBytes) {
        throw new ProvenantError('INVALID_PACKAGE', `the xz data unpacks to more than ${maxBytes} bytes`, {
          where,
          hint: 'a decompression bomb, or an index larger than the limit allows',
        });
      }
      // Each chunk is already a copy out of the decoder's WebAssembly memory.
      yield next.value;
    }
    done = true;
  } finally {
    // Stopped early (an error, a limit, a reader that went away): the decoder's lock is released.
    if (!done) await reader.cancel().catch(() => {});
  }
}

/** xz-decompress's decoder: a ReadableStream of the decompressed bytes of the stream it is given. */
type Decoder = typeof XzReadableStream;

/**
 * The decoder's class, loaded when first needed: a build from a warm cache decompresses nothing,
 * and the decoder's module (its WebAssembly inline) takes a few ms to load.
 *
 * xz-decompress is a webpack UMD bundle, CommonJS that marks itself `__esModule`, and loaders
 * disagree on what `import()` gives for it. Node's ESM loader gives `module.exports` as `default`
 * and no named export (its CommonJS lexer cannot see through the UMD wrapper); the Action's esbuild
 * bundle (node mode) gives both; tsx, which @github/local-action runs the sources with, honours
 * `__esModule` and gives the named export only, `default` being `module.exports.default`
 * (undefined). So the class is taken from wherever this loader put it.
 */
async function loadDecoder(): Promise<Decoder> {
  const loaded: { XzReadableStream?: Decoder; default?: { XzReadableStream?: Decoder } } = await import('xz-decompress');
  const found = loaded.XzReadableStream ?? loaded.default?.XzReadableStream;
  if (found === undefined) throw new Error('the xz-decompress module has no XzReadableStream export');
  return found;
}

/**
 * Decompresses an index file as it is decoded, chunk by chunk (see {@link decompressIndex}).
 *
 * @throws ProvenantError as {@link decompressIndex}, when the chunks are read
 */
export async function* decompressIndexChunks(
  bytes: Uint8Array,
  compression: IndexCompression,
  options: DecompressOptions = {},
): AsyncGenerator<Uint8Array> {
  if (compression === 'none') {
    yield await decompressIndex(bytes, compression, options);
    return;
  }
  let total = 0;
  // Counted as it is inflated: a bomb stops at the limit, not at the end of what it unpacks to.
  for await (const chunk of compression === 'xz' ? xzChunks(bytes, options) : gzipChunks(bytes, options)) {
    total += chunk.length;
    if (total > MAX_PACKAGES_INDEX_SIZE) throw indexTooLarge(options.where);
    yield chunk;
  }
}

/**
 * The most bytes a Packages index may unpack to, whatever size its Release gives it: 256 MiB.
 * Debian main's for amd64 is about 60 MB unpacked (65,000 stanzas), and the largest known
 * repositories' a few times less than this limit. It is scanned in pieces, and the memory its
 * stanza index takes is bounded by its stanzas (`MAX_PACKAGES_STANZAS`, ./stanza-index.ts).
 * Without this limit, one of up to 2 GiB was taken (a 386 KB Packages.xz unpacks to that), then
 * failed as a string longer than V8 allows, after a minute and 6 GB of memory.
 */
export const MAX_PACKAGES_INDEX_SIZE = 256 * 1024 * 1024;

/**
 * `TOO_LARGE` for a Packages index at `where` over {@link MAX_PACKAGES_INDEX_SIZE} unpacked, found
 * so as it is inflated, or from the size its Release gives it (`listed`).
 */
export function indexTooLarge(where: string | undefined, listed?: number): ProvenantError {
  const size = listed === undefined ? 'more than' : `${listed} bytes unpacked, as the Release gives it: more than`;
  return new ProvenantError(
    'TOO_LARGE',
    `${where ?? 'the Packages index'} is ${size} ${MAX_PACKAGES_INDEX_SIZE} bytes${listed === undefined ? ' unpacked' : ''} (256 MiB), the most a Packages index may be`,
    {
      where,
      hint: "Debian main's Packages is about 60 MB unpacked: a larger one is a decompression bomb, or a repository Provenant cannot index",
    },
  );
}

/** Decompresses gzip data (one or more members) as it is inflated, refusing more than `maxBytes`. */
async function* gzipChunks(bytes: Uint8Array, options: DecompressOptions): AsyncGenerator<Uint8Array> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX;
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
  gunzip.end(bytes);
  let total = 0;
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      throwIfAborted(options.signal);
      total += chunk.length;
      if (total > maxBytes) {
        throw new ProvenantError('INVALID_PACKAGE', `the gzip data unpacks to more than ${maxBytes} bytes`, { where: options.where });
      }
      yield chunk;
    }
  } catch (err) {
    if (err instanceof ProvenantError) throw err;
    throw new ProvenantError('INVALID_PACKAGE', `the gzip data is corrupt: ${(err as Error).message}`, {
      where: options.where,
      cause: err,
    });
  } finally {
    gunzip.destroy();
  }
}

/**
 * Decompresses an index file (`Packages.xz`, `Packages.gz` or `Packages`).
 *
 * @throws ProvenantError `INVALID_PACKAGE` when the data is corrupt or unpacks to more than
 *   `maxBytes`; `TOO_LARGE` when it unpacks to more than {@link MAX_PACKAGES_INDEX_SIZE}, as soon
 *   as it passes that; `ABORTED` when cancelled
 */
export async function decompressIndex(
  bytes: Uint8Array,
  compression: IndexCompression,
  options: DecompressOptions = {},
): Promise<Uint8Array> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX;
  switch (compression) {
    case 'xz':
      return collectBytes(decompressIndexChunks(bytes, compression, options));
    case 'gzip':
      try {
        // zlib stops with an error once the output would pass maxOutputLength.
        return new Uint8Array(gunzipSync(bytes, { maxOutputLength: Math.max(1, Math.min(maxBytes, MAX_PACKAGES_INDEX_SIZE)) }));
      } catch (err) {
        const tooBig = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
        if (tooBig && maxBytes > MAX_PACKAGES_INDEX_SIZE) throw indexTooLarge(options.where);
        throw new ProvenantError(
          'INVALID_PACKAGE',
          tooBig ? `the gzip data unpacks to more than ${maxBytes} bytes` : `the gzip data is corrupt: ${(err as Error).message}`,
          { where: options.where, cause: err },
        );
      }
    case 'none':
      if (bytes.length > MAX_PACKAGES_INDEX_SIZE) throw indexTooLarge(options.where);
      if (bytes.length > maxBytes) {
        throw new ProvenantError('INVALID_PACKAGE', `the data is larger than ${maxBytes} bytes`, { where: options.where });
      }
      return bytes;
  }
}
