/**
 * gzip as async-iterable transforms over `node:zlib`.
 *
 * `node:zlib`'s compressed bytes can differ between zlib versions, so {@link gzip} is for output
 * whose digest need not be reproducible across machines; a layer that must be bit-for-bit
 * reproducible needs a pinned compressor (see ../shared/STYLE.md, dependency notes).
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants, createGunzip, createGzip } from 'node:zlib';
import { ProvenantError } from '../errors.ts';

/** Options of {@link gunzip} and {@link gzip}. */
export interface GzipOptions {
  /** Where the bytes come from, for errors. */
  where?: string | undefined;
}

/**
 * True when `firstBytes` start like a gzip member (RFC 1952: ID1 0x1f, ID2 0x8b, CM 8 = deflate).
 * Two bytes are enough; a third is checked when present.
 */
export function isGzip(firstBytes: Uint8Array): boolean {
  return firstBytes.length >= 2 && firstBytes[0] === 0x1f && firstBytes[1] === 0x8b && (firstBytes.length < 3 || firstBytes[2] === 8);
}

/**
 * Decompresses a gzip stream. Every member of a multi-member file is decompressed (as `gzip -d`
 * does; pigz and `cat a.gz b.gz` make these).
 *
 * @throws ProvenantError `INVALID_ARCHIVE` when the data is not gzip or is corrupt (a bad
 *   checksum included), `TRUNCATED` when it ends early; an error of the input stream passes
 *   through unchanged when it is a ProvenantError, else as `IO`
 */
export async function* gunzip(
  input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: GzipOptions = {},
): AsyncGenerator<Uint8Array> {
  // Empty input is an error too: zlib reports it as an unexpected end of file.
  yield* through(input, createGunzip(), (err) => mapError(err, 'gunzip', options.where));
}

/**
 * Compresses a stream with gzip at `level` (0 to 9, default 6). The output is one member with no
 * name and a zero time.
 *
 * @throws ProvenantError `USAGE` for a level outside 0..9; errors of the input pass through
 */
export async function* gzip(
  input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  level = 6,
  options: GzipOptions = {},
): AsyncGenerator<Uint8Array> {
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    throw new ProvenantError('USAGE', `gzip level ${level} is not an integer from 0 to 9`, { where: options.where });
  }
  yield* through(input, createGzip({ level }), (err) => mapError(err, 'gzip', options.where));
}

/** A zstd decoder of node:zlib's. */
export type ZstdDecoder = () => NodeJS.ReadWriteStream & { destroy(): void };

/** node:zlib's zstd decoder, which Node has from 22.15 on; undefined on an older Node. */
export function zstdDecoder(): ZstdDecoder | undefined {
  return (process.getBuiltinModule('node:zlib') as unknown as { createZstdDecompress?: ZstdDecoder }).createZstdDecompress;
}

/**
 * Decompresses zstd with `decoder` (see {@link zstdDecoder}), with back-pressure.
 *
 * @throws ProvenantError `INVALID_ARCHIVE` at `where` for a corrupt or cut stream
 */
export async function* unzstd(
  input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  decoder: ZstdDecoder,
  where?: string,
): AsyncGenerator<Uint8Array> {
  yield* through(input, decoder(), (err) => {
    if (err instanceof ProvenantError) return err;
    const message = err instanceof Error ? err.message : String(err);
    return new ProvenantError('INVALID_ARCHIVE', `the zstd stream is corrupt or cut short: ${message}`, { where, cause: err });
  });
}

/**
 * Pumps `input` through a zlib transform (gzip, gunzip, zstd) with back-pressure, mapping what
 * fails to ours with `mapError`. When the input fails, its own error is the one reported when it
 * is already ours, not what the transform says about being cut off.
 */
export async function* through(
  input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  z: NodeJS.ReadWriteStream & { destroy(): void },
  mapError: (err: unknown) => ProvenantError,
): AsyncGenerator<Uint8Array> {
  let inputError: unknown;
  const pumping = pipeline(Readable.from(input, { objectMode: false }), z).catch((err: unknown) => {
    inputError = err;
  });
  try {
    for await (const chunk of z as AsyncIterable<Uint8Array>) yield chunk;
  } catch (err) {
    throw mapError(inputError instanceof ProvenantError ? inputError : err);
  } finally {
    z.destroy();
    await pumping;
  }
  if (inputError !== undefined) throw mapError(inputError);
}

function mapError(err: unknown, what: string, where: string | undefined): ProvenantError {
  if (err instanceof ProvenantError) return err;
  const e = err as { code?: unknown; errno?: unknown; message?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(err);
  // "unexpected end of file" is zlib's Z_BUF_ERROR at the end of input: the stream is cut short.
  if (e?.code === 'Z_BUF_ERROR' || e?.errno === constants.Z_BUF_ERROR) {
    return new ProvenantError('TRUNCATED', `the gzip stream ends early (${message})`, {
      where,
      cause: err,
      hint: 'the file was cut short',
    });
  }
  if (typeof e?.code === 'string' && e.code.startsWith('Z_')) {
    return new ProvenantError('INVALID_ARCHIVE', `the ${what} stream is corrupt: ${message}`, {
      where,
      cause: err,
      hint: what === 'gunzip' ? 'the data is not gzip or is damaged' : undefined,
    });
  }
  return new ProvenantError('IO', `${what} failed: ${message}`, { where, cause: err });
}
