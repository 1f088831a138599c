/**
 * Reading an .apk from a file on disk into the build's cache as a stream, verified as
 * {@link readApkPackage} verifies it, without holding the package or its data whole (issue 16,
 * "streaming end to end"): a first build held each .apk it read, its inflated data tar and every
 * file in it, up to four packages at once.
 *
 * The signature and control members are read from the head of the file and verified first. The
 * data members are then read in 1 MiB pieces: hashed for `datahash`, inflated, and their tar
 * written into the cache as it comes out while it is parsed on the way, each file's SHA-1 checked
 * and its SHA-256, CRC-32 and place taken for the package's index (../unpacked.ts). Nothing is
 * kept under a key until the data's SHA-256 is the one the control member vouches for. As in
 * {@link readApkPackage}, a data member that does not hash to `datahash` is reported as that,
 * whatever else is wrong in it.
 */
import { createHash, type Hash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { pipeline, Readable } from 'node:stream';
import { crc32, createGunzip } from 'node:zlib';
import { readTar } from '../../archive/tar.ts';
import { isProvenantError, ProvenantError, throwIfAborted } from '../../errors.ts';
import { noteBytesMoved } from '../../io/memory.ts';
import type { CacheWriter } from '../fetch.ts';
import { type PackageEntry, pulledTar, type StoredBody } from '../unpacked.ts';
import { CONTROL_MAX, DATA_MAX, type GzipMember, gzipMemberAt } from './members.ts';
import {
  type ApkControlFacts,
  type ApkPackage,
  apkEntryPath,
  checkDataHash,
  checkFileSha1,
  hasFileSha1,
  noDataMember,
  type ReadApkPackageOptions,
  signaturesIn,
  verifyControl,
} from './package.ts';
import type { ApkSignature } from './signature.ts';

const { createReadStream } = process.getBuiltinModule('node:fs');

/** Bytes of the file read first for the signature and control members (a few KiB in practice). */
const HEAD_START = 64 * 1024;
/** The most the signature and control members may take: the head is read whole. */
const HEAD_MAX = 64 * 1024 * 1024;
/** Bytes inflated at a time: each is one write to the cache. */
const INFLATE_CHUNK = 256 * 1024;

/** A package read by {@link streamApkFile}: what {@link readApkPackage} gives, but its entries and data tar. */
export interface StreamedApk {
  pkg: Omit<ApkPackage, 'entries' | 'dataTar'>;
  /** The data entries in archive order, their bodies left empty: {@link bodies} says where each lies. */
  entries: PackageEntry[];
  /** For each entry, a file's place in the data tar and its digests; undefined for the rest. */
  bodies: (StoredBody | undefined)[];
  /** The SHA-1 of the signature and control members and the SHA-256 of the data, as the lock's ranges record them. */
  digests: { signature?: Buffer | undefined; control: Buffer; data: Buffer };
  /** The SHA-256 (hex) of the whole file, as read. */
  sha256: string;
}

/**
 * Reads and verifies the .apk at `path` (`size` bytes), writing its data tar into `writer`,
 * which the caller keeps under its key when this returns and aborts when it throws.
 *
 * @throws ProvenantError as {@link readApkPackage}: `DIGEST_MISMATCH`, `SIGNATURE`,
 *   `UNTRUSTED_KEY`, `UNSAFE_PATH`, `INVALID_PACKAGE`, `TRUNCATED`; `IO` when the file cannot be read
 */
export async function streamApkFile(
  path: string,
  size: number,
  writer: CacheWriter,
  options: ReadApkPackageOptions,
  signal?: AbortSignal | undefined,
): Promise<StreamedApk> {
  const { where } = options;
  const { head, signature, signatures, control } = await readHead(path, size, where);
  const facts = await verifyControl(control, signatures, options);
  const dataStart = control.end;
  if (dataStart >= size) throw noDataMember(where);
  // The data member is hashed before a byte of it is inflated: one that is not the one the
  // control member vouches for is refused before it can fill the cache (a gzip bomb inflates to
  // the 4 GiB cap). That reads the compressed bytes twice, from the page cache the second time.
  checkDataHash(facts.pkginfo, (await hashFrom(path, dataStart, where)).toString('hex'), options);
  const data = await unpack(path, dataStart, size, writer, where, createHash('sha256').update(head.subarray(0, dataStart)), signal);
  // Hashed again as it was inflated: the file may have changed since.
  checkDataHash(facts.pkginfo, data.dataHash.toString('hex'), options);
  if (data.badFile !== undefined) throw data.badFile;
  const ranges: ApkPackage['ranges'] = { control: [control.start, control.end - 1], data: [dataStart, size - 1] };
  if (signature !== undefined) ranges.signature = [signature.start, signature.end - 1];
  const pkg: StreamedApk['pkg'] = {
    ...(facts satisfies ApkControlFacts),
    control: control.data,
    ranges,
    dataHash: data.dataHash.toString('hex'),
  };
  const sha1 = (m: GzipMember) => createHash('sha1').update(m.compressed).digest();
  return {
    pkg,
    entries: data.entries,
    bodies: data.bodies,
    digests: { signature: signature === undefined ? undefined : sha1(signature), control: sha1(control), data: data.dataHash },
    sha256: data.fileHash,
  };
}

/**
 * The signature member (when the first member holds signatures) and the control member, read
 * from a head of the file that grows until it holds them both.
 */
async function readHead(
  path: string,
  size: number,
  where: string,
): Promise<{ head: Uint8Array; signature?: GzipMember | undefined; signatures: ApkSignature[]; control: GzipMember }> {
  for (let length = Math.min(size, HEAD_START); ; length = Math.min(size, 4 * length)) {
    const head = await readAt(path, 0, length, where);
    // The next member of the head, or `more` when the head ends inside it and the file goes on.
    const member = (from: number): GzipMember | undefined | typeof more => {
      try {
        // Inflated before anything vouches for it: no more than a control member may hold.
        const m = gzipMemberAt(head, from, { where, maxOutput: CONTROL_MAX, what: 'the signature or control member' });
        if (m === undefined) return length < size ? more : undefined;
        return m;
      } catch (err) {
        if (isProvenantError(err, 'TRUNCATED') && length < size) return more;
        throw err;
      }
    };
    const first = member(0);
    if (first === more || first === undefined) {
      if (first === more && length < HEAD_MAX) continue;
      throw first === more
        ? new ProvenantError('INVALID_PACKAGE', `the signature and control members take more than ${HEAD_MAX} bytes`, { where })
        : new ProvenantError('INVALID_PACKAGE', 'an apk has 2 or 3 gzip members (signature, control, data); this file is empty', { where });
    }
    const signatures = await signaturesIn(first, where);
    if (signatures === undefined) return { head, signatures: [], control: first };
    const control = member(first.end);
    if (control === more) {
      if (length < HEAD_MAX) continue;
      throw new ProvenantError('INVALID_PACKAGE', `the signature and control members take more than ${HEAD_MAX} bytes`, { where });
    }
    if (control === undefined) throw noDataMember(where);
    return { head, signature: first, signatures, control };
  }
}

/** {@link readHead}'s word for a head that ends inside a member. */
const more = Symbol('more');

/** What {@link unpack} read of the data members. */
interface Unpacked {
  dataHash: Buffer;
  /** The SHA-256 (hex) of the whole file: the head's hash given to {@link unpack}, and the data. */
  fileHash: string;
  entries: PackageEntry[];
  bodies: (StoredBody | undefined)[];
  /** The first file whose SHA-1 is not its header's: thrown once the data's SHA-256 is checked. */
  badFile?: ProvenantError | undefined;
}

const EMPTY = new Uint8Array();

/**
 * Inflates the data members (from `start` to the end of the file) into `writer`, parsing their tar
 * as it goes; `file` has hashed the bytes before `start` and hashes the rest.
 */
async function unpack(
  path: string,
  start: number,
  size: number,
  writer: CacheWriter,
  where: string,
  file: Hash,
  signal: AbortSignal | undefined,
): Promise<Unpacked> {
  const hash = createHash('sha256');
  let hashed = 0;
  async function* compressed(): AsyncGenerator<Uint8Array> {
    for await (const chunk of createReadStream(path, { start, highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      file.update(chunk);
      hashed += chunk.length;
      noteBytesMoved(chunk.length);
      yield chunk;
    }
  }
  const gunzip = createGunzip({ chunkSize: INFLATE_CHUNK });
  pipeline(Readable.from(compressed()), gunzip, () => {});
  const inflated = gunzip[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let tarSize = 0;
  // Each piece goes to the cache before the tar reader sees it; the reader stopping (at the
  // archive's end blocks) does not stop the inflating, which is drained below.
  const pull = async (): Promise<IteratorResult<Uint8Array>> => {
    throwIfAborted(signal);
    let next: IteratorResult<Buffer>;
    try {
      next = await inflated.next();
    } catch (err) {
      throw inflateError(err, where);
    }
    if (next.done === true) return next;
    tarSize += next.value.length;
    if (tarSize > DATA_MAX) throw new ProvenantError('TOO_LARGE', `the data members inflate to more than ${DATA_MAX} bytes`, { where });
    await writer.write(next.value);
    noteBytesMoved(next.value.length);
    return next;
  };
  const tar = pulledTar(pull);
  const entries: PackageEntry[] = [];
  const bodies: (StoredBody | undefined)[] = [];
  let badFile: ProvenantError | undefined;
  try {
    // Owners from the ustar fields, as apk-tools reads them (./tarfiles.ts).
    for await (const e of readTar(tar, { where, ownership: 'ustar' })) {
      const entryPath = apkEntryPath(e.header.name, e.header, where);
      if (entryPath === '.') continue;
      let body: StoredBody | undefined;
      if (e.header.type === 'file') {
        const sha1 = hasFileSha1(e.header) ? createHash('sha1') : undefined;
        const sha256 = createHash('sha256');
        let crc = 0;
        for await (const chunk of e.body) {
          sha1?.update(chunk);
          sha256.update(chunk);
          crc = crc32(chunk, crc);
        }
        if (sha1 !== undefined && badFile === undefined) {
          try {
            checkFileSha1(entryPath, e.header, sha1.digest('hex'), where);
          } catch (err) {
            badFile = err as ProvenantError;
          }
        }
        body = { offset: e.offset, sha256: sha256.digest('hex'), crc32: crc >>> 0 };
      }
      entries.push({ path: entryPath, header: e.header, body: EMPTY });
      bodies.push(body);
    }
    while ((await pull()).done !== true);
  } finally {
    gunzip.destroy();
  }
  // Node's gunzip takes zero bytes after the last member as the end; a file read whole does not.
  if (hashed !== size - start || gunzip.bytesWritten !== size - start) {
    throw new ProvenantError(
      'INVALID_PACKAGE',
      `the data members end at byte ${start + gunzip.bytesWritten} of ${size}: the rest is not gzip`,
      {
        where,
      },
    );
  }
  return { dataHash: hash.digest(), fileHash: file.digest('hex'), entries, bodies, badFile };
}

/** A gunzip failure as `TRUNCATED` (the input ends inside a member) or `INVALID_PACKAGE`. */
function inflateError(err: unknown, where: string): ProvenantError {
  if (isProvenantError(err)) return err;
  const code = (err as { code?: string }).code;
  if (code === 'Z_BUF_ERROR') return new ProvenantError('TRUNCATED', 'the data member ends early', { where, cause: err });
  if (typeof code === 'string' && code.startsWith('Z_')) {
    return new ProvenantError('INVALID_PACKAGE', `the data member is corrupt: ${(err as Error).message}`, { where, cause: err });
  }
  return new ProvenantError('IO', `cannot read ${where}: ${(err as Error).message}`, { where, cause: err });
}

/** The SHA-256 of the file from `start` to its end. */
async function hashFrom(path: string, start: number, where: string): Promise<Buffer> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path, { start, highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) hash.update(chunk);
  } catch (err) {
    throw new ProvenantError('IO', `cannot read ${where}: ${(err as Error).message}`, { where, cause: err });
  }
  return hash.digest();
}

/**
 * `length` bytes at `offset` of the file at `path`.
 *
 * @throws ProvenantError `TRUNCATED` when the file ends before them; `IO` when it cannot be read
 */
export async function readAt(path: string, offset: number, length: number, where: string): Promise<Uint8Array> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(path, 'r');
    const out = new Uint8Array(length);
    let at = 0;
    while (at < length) {
      const { bytesRead } = await handle.read(out, at, length - at, offset + at);
      if (bytesRead === 0) throw new ProvenantError('TRUNCATED', `the file has ${offset + at} bytes, not ${offset + length}`, { where });
      at += bytesRead;
    }
    return out;
  } catch (err) {
    if (isProvenantError(err)) throw err;
    throw new ProvenantError('IO', `cannot read ${where}: ${(err as Error).message}`, { where, cause: err });
  } finally {
    await handle?.close();
  }
}
