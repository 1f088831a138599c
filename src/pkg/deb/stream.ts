/**
 * Reading a .deb from a file on disk into the build's cache as a stream, verified as
 * {@link readDeb} verifies it, without holding the package or its data whole (issue 16,
 * "streaming end to end"): a first build held each .deb it read, its unpacked data tar and every
 * file in it.
 *
 * The checks come in {@link readDeb}'s order, so that a package either reader refuses is refused
 * by the other with the same error: the file's SHA-256 against the one the verified Packages
 * index gives, first (a pass over the file in 1 MiB pieces); the ar members and their order; the
 * control member, read whole (a few KiB in practice, CONTROL_UNPACKED_MAX unpacked at most),
 * unpacked and parsed; then the data member, read in 1 MiB pieces, unpacked, and its tar
 * written into the cache as it comes out while it is parsed on the way, each file's MD5 taken
 * for `md5sums` and its SHA-256, CRC-32 and place for the package's index (../unpacked.ts). A member that cannot be unpacked is reported as that,
 * whatever its tar holds, as when it is unpacked whole before its tar is read. Nothing is kept
 * under a key: the caller keeps the data tar when this returns, and aborts the writer when it
 * throws.
 */
import { createHash } from 'node:crypto';
import { pipeline, Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { readTar } from '../../archive/tar.ts';
import { isProvenantError, ProvenantError, throwIfAborted } from '../../errors.ts';
import { fileError, hashFile, openRegularFile } from '../../io/files.ts';
import { noteBytesMoved } from '../../io/memory.ts';
import type { CacheWriter } from '../fetch.ts';
import { type PackageEntry, pulledTar, type StoredBody } from '../unpacked.ts';
import { type ArEntry, readArFile } from './ar.ts';
import {
  checkMd5sums,
  checkSha256,
  controlMax,
  controlOf,
  DEFAULT_MAX_UNPACKED,
  type DebMemberInfo,
  type DebPackage,
  debEntryPath,
  debMembers,
  debPackageFacts,
  decompress,
  linkToEarlier,
  memberErrors,
  readControlFiles,
} from './deb.ts';
import { xzChunks } from './xz.ts';

const { closeSync, createReadStream, readSync } = process.getBuiltinModule('node:fs');

/** Bytes of the data member read at a time. */
const PIECE = 1 << 20;
/** Bytes unpacked at a time by gunzip and zstd: each is one write to the cache. */
const UNPACK_CHUNK = 256 * 1024;

/** Options of {@link streamDebFile}: those of {@link readDeb} that apply, and a cancel signal. */
export interface StreamDebOptions {
  where: string;
  /** The SHA-256 (hex) that the verified Packages index gives. */
  expectedSha256?: string | undefined;
  /** Where `expectedSha256` comes from, for the error when the file does not have it. */
  checksumFrom?: string | undefined;
  /** The most bytes one member may unpack to (2 GiB by default). */
  maxUnpackedSize?: number | undefined;
  signal?: AbortSignal | undefined;
}

/** A package read by {@link streamDebFile}: what {@link readDeb} gives, but its entries' bodies and data tar. */
export interface StreamedDeb {
  pkg: Omit<DebPackage, 'entries' | 'dataTar'>;
  /** The data entries in archive order (the root left out), their bodies left empty: {@link bodies} says where each lies. */
  entries: PackageEntry[];
  /** For each entry, a file's place in the data tar and its digests; undefined for the rest. */
  bodies: (StoredBody | undefined)[];
}

const EMPTY = new Uint8Array();

/**
 * Reads and verifies the .deb at `path`, writing its unpacked data member (the tar) into
 * `writer`, which the caller keeps when this returns and aborts when it throws.
 *
 * @throws ProvenantError as {@link readDeb}; `IO` when the file cannot be read; `ABORTED`
 */
export async function streamDebFile(path: string, writer: CacheWriter, options: StreamDebOptions): Promise<StreamedDeb> {
  const { where, signal } = options;
  const max = options.maxUnpackedSize ?? DEFAULT_MAX_UNPACKED;
  const { sha256, size } = await hashFile(path, where, signal);
  checkSha256(sha256, options.expectedSha256, where, options.checksumFrom);
  let fd: number;
  try {
    // Without waiting for a writer: a named pipe put in its place since the hash is refused.
    fd = openRegularFile(path).fd;
  } catch (err) {
    throw new ProvenantError('IO', `cannot read ${where}: ${(err as Error).message}`, { where, cause: err });
  }
  let layout: ReturnType<typeof debMembers<ArEntry>>;
  let controlBytes: Uint8Array;
  try {
    const read = (at: number, length: number) => readRange(fd, at, length, where);
    layout = debMembers(readArFile(fd, size, { where }), (m, n) => read(m.start, Math.min(n, m.size)), where);
    controlBytes = read(layout.control.member.start, layout.control.member.size);
  } finally {
    closeSync(fd);
  }
  const { formatVersion, control, data, ignored } = layout;
  const controlTar = await decompress(controlBytes, control.info, { where }, controlMax(max));
  const controlFiles = await readControlFiles(controlTar, control.info.name, where);
  const meta = controlOf(controlFiles, where);
  const unpacked = await unpackData(path, data.member, data.info, meta.md5sums.size > 0, writer, { where, max, signal });
  checkMd5sums(meta.md5sums, unpacked.files, false, where);
  return {
    pkg: debPackageFacts(sha256, size, formatVersion, meta, controlFiles, { control: control.info, data: data.info, ignored }),
    entries: unpacked.entries,
    bodies: unpacked.bodies,
  };
}

/** What {@link unpackData} read of the data member. */
interface UnpackedData {
  entries: PackageEntry[];
  bodies: (StoredBody | undefined)[];
  /** Each file's MD5 (hex; empty unless asked), a hardlink's its target's: what `md5sums` is checked against. */
  files: Map<string, string>;
}

/**
 * Unpacks the data member `member` of the .deb at `path` into `writer`, parsing its tar as it
 * goes: the entries {@link readDeb} gives, with the bodies' places and digests, and the files'
 * MD5s when `md5` (the package has `md5sums`).
 */
async function unpackData(
  path: string,
  member: ArEntry,
  info: DebMemberInfo,
  md5: boolean,
  writer: CacheWriter,
  options: { where: string; max: number; signal: AbortSignal | undefined },
): Promise<UnpackedData> {
  const { where, max, signal } = options;
  const errors = memberErrors(info, where, max);
  const unpacking = unpacked(pieces(path, member, where, signal), info, { where, max, signal });
  try {
    let total = 0;
    let writing = true;
    /**
     * The error unpacking or writing into the cache threw: it stands, whatever the tar reader made
     * of what came before it, and nothing more is unpacked.
     */
    let unpackError: unknown;
    const pull = async (): Promise<IteratorResult<Uint8Array>> => {
      throwIfAborted(signal);
      let next: IteratorResult<Uint8Array>;
      try {
        next = await unpacking.chunks.next();
        if (next.done !== true) {
          total += next.value.length;
          if (total > max) throw errors.tooBig();
        }
      } catch (err) {
        unpackError = isProvenantError(err) ? err : errors.failed(err);
        throw unpackError;
      }
      if (next.done !== true && writing) {
        try {
          await writer.write(next.value);
        } catch (err) {
          unpackError = fileError(err, where);
          throw unpackError;
        }
        noteBytesMoved(next.value.length);
      }
      return next;
    };
    const tar = pulledTar(pull);
    const entries: PackageEntry[] = [];
    const bodies: (StoredBody | undefined)[] = [];
    const files = new Map<string, string>();
    try {
      for await (const e of readTar(tar, { where: `${where}: ${info.name}` })) {
        const h = e.header;
        const at = `${where}: ${h.name}`;
        const entryPath = debEntryPath(h.name, h, at, where);
        if (entryPath === '.' || h.type !== 'file') {
          for await (const _ of e.body);
          if (entryPath === '.') continue;
        }
        let hardlinkTarget: string | undefined;
        let body: StoredBody | undefined;
        if (h.type === 'hardlink') {
          hardlinkTarget = linkToEarlier(files, entryPath, h.linkname, at, where);
        } else if (h.type === 'file') {
          const md5Hash = md5 ? createHash('md5') : undefined;
          const sha256 = createHash('sha256');
          let crc = 0;
          for await (const chunk of e.body) {
            md5Hash?.update(chunk);
            sha256.update(chunk);
            crc = zlib.crc32(chunk, crc);
          }
          files.set(entryPath, md5Hash?.digest('hex') ?? '');
          body = { offset: e.offset, sha256: sha256.digest('hex'), crc32: crc >>> 0 };
        } else {
          files.delete(entryPath);
        }
        entries.push(
          hardlinkTarget === undefined
            ? { path: entryPath, header: h, body: EMPTY }
            : { path: entryPath, header: h, hardlinkTarget, body: EMPTY },
        );
        bodies.push(body);
      }
    } catch (err) {
      if (unpackError !== undefined || isProvenantError(err, 'ABORTED')) throw unpackError ?? err;
      // Read whole, the member is unpacked before its tar is read: an error unpacking the rest
      // would have come first.
      writing = false;
      while ((await pull()).done !== true);
      throw err;
    }
    // The rest of the member after the tar's end blocks is part of the data tar kept, as read whole.
    while ((await pull()).done !== true);
    return { entries, bodies, files };
  } finally {
    unpacking.close();
  }
}

/** The body of `member` in the file at `path`, in pieces of {@link PIECE} bytes. */
async function* pieces(path: string, member: ArEntry, where: string, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
  if (member.size === 0) return;
  try {
    // Opened as the file that was hashed is (a named pipe in its place is refused, not waited on).
    const { fd } = openRegularFile(path);
    for await (const chunk of createReadStream(path, {
      fd,
      start: member.start,
      end: member.start + member.size - 1,
      highWaterMark: PIECE,
    }) as AsyncIterable<Buffer>) {
      throwIfAborted(signal);
      noteBytesMoved(chunk.length);
      yield chunk;
    }
  } catch (err) {
    if (isProvenantError(err)) throw err;
    throw new ProvenantError('IO', `cannot read ${where}: ${(err as Error).message}`, { where, cause: err });
  }
}

/** `compressed` unpacked as `info` says, chunk by chunk; `close` lets go of the file and the decoder when they are not read to the end. */
function unpacked(
  compressed: AsyncGenerator<Uint8Array>,
  info: DebMemberInfo,
  options: { where: string; max: number; signal: AbortSignal | undefined },
): { chunks: AsyncIterator<Uint8Array>; close(): void } {
  const { where, max, signal } = options;
  const { notSupported } = memberErrors(info, where, max);
  const through = (stream: NodeJS.ReadWriteStream & { destroy(): void }) => {
    // One piece read ahead of the decoder at most (Readable.from would take sixteen).
    pipeline(Readable.from(compressed, { highWaterMark: 1 }), stream, () => {});
    return { chunks: (stream as unknown as AsyncIterable<Uint8Array>)[Symbol.asyncIterator](), close: () => stream.destroy() };
  };
  const generator = (chunks: AsyncGenerator<Uint8Array>) => ({ chunks, close: () => void chunks.return(undefined).catch(() => {}) });
  switch (info.compression) {
    case 'none':
      return generator(compressed);
    case 'gzip':
      return through(zlib.createGunzip({ chunkSize: UNPACK_CHUNK }));
    case 'zstd': {
      // zstd is in node:zlib from Node 22.15 and 23.8; the property is absent before.
      const zstd = (zlib as { createZstdDecompress?: (o: { chunkSize: number }) => NodeJS.ReadWriteStream & { destroy(): void } })
        .createZstdDecompress;
      if (typeof zstd !== 'function') throw notSupported('zstd');
      return through(zstd({ chunkSize: UNPACK_CHUNK }));
    }
    case 'xz': {
      const chunks = xzChunks(compressed, { where: `${where}: ${info.name}`, maxBytes: max, signal });
      return {
        chunks,
        close: () => {
          void chunks.return(undefined).catch(() => {});
          void compressed.return(undefined).catch(() => {});
        },
      };
    }
    case 'bzip2':
    case 'lzma':
      throw notSupported(info.compression);
  }
}

/**
 * `length` bytes at `at` of the file open as `fd`.
 *
 * @throws ProvenantError `TRUNCATED` when the file ends before them; `IO` when it cannot be read
 */
function readRange(fd: number, at: number, length: number, where: string): Uint8Array {
  const out = new Uint8Array(length);
  let n = 0;
  try {
    while (n < length) {
      const read = readSync(fd, out, n, length - n, at + n);
      if (read === 0) break;
      n += read;
    }
  } catch (err) {
    throw new ProvenantError('IO', `cannot read ${where}: ${(err as Error).message}`, { where, cause: err });
  }
  if (n < length) throw new ProvenantError('TRUNCATED', `the file has ${at + n} bytes, not ${at + length}`, { where });
  return out;
}
