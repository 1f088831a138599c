/**
 * File bodies as the tree holds them: bytes in memory, or a range of a file on disk (a package's
 * unpacked data in the build's download cache), so that a tree of any size holds its files'
 * metadata and not their contents. A body on disk is read when the layer is written, and checked
 * against the CRC-32 it was stored with, which catches a cache file that changed on disk.
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { ProvenantError } from '../errors.ts';
import { openRegularFile } from '../io/files.ts';

const { closeSync, readSync } = process.getBuiltinModule('node:fs');

/** `size` bytes at `offset` of the file at `path`, with the digests taken when it was stored. */
export interface FileBody {
  readonly path: string;
  readonly offset: number;
  readonly size: number;
  /** Lowercase hex SHA-256 of the bytes: what identifies them in caches. */
  readonly sha256: string;
  /** CRC-32 of the bytes, checked on every read; compared as unsigned, so it may be stored signed. */
  readonly crc32: number;
}

/** A file's body: bytes in memory or on disk. */
export type Body = Uint8Array | FileBody;

/** True for a body on disk. */
export function isFileBody(body: Body | undefined): body is FileBody {
  return body !== undefined && !(body instanceof Uint8Array);
}

/** The length of a body in bytes. */
export function bodySize(body: Body | undefined): number {
  if (body === undefined) return 0;
  return body instanceof Uint8Array ? body.length : body.size;
}

/**
 * The bytes of a body: itself when in memory, else read from its file and checked.
 *
 * @throws ProvenantError `IO` when the file cannot be read or is shorter than the range,
 *   `DIGEST_MISMATCH` when the bytes read are not the ones stored
 */
export function readBody(body: Body | undefined): Uint8Array {
  if (body === undefined) return new Uint8Array();
  if (body instanceof Uint8Array) return body;
  const out = new Uint8Array(body.size);
  let fd: number;
  try {
    // A named pipe in a cache file's place is refused, never waited on.
    fd = openRegularFile(body.path).fd;
  } catch (err) {
    throw new ProvenantError('IO', `cannot read ${body.path}: ${(err as Error).message}`, { where: body.path, cause: err });
  }
  try {
    readRange(fd, body, out);
  } finally {
    closeSync(fd);
  }
  checkBody(body, out);
  return out;
}

/** Bytes of a body on disk read at once by {@link hashBody}. */
const HASH_PIECE = 1024 * 1024;

/**
 * The hex digest of a body's bytes, a body on disk read piece by piece and checked as
 * {@link readBody} checks it: a package's file may inflate to gigabytes (an apk's data to
 * DATA_MAX), which read whole would take as much memory, and past 2 GiB fail in Node's read.
 *
 * @throws ProvenantError as {@link readBody}
 */
export function hashBody(body: Body | undefined, algorithm: 'sha1' | 'sha256'): string {
  const hash = createHash(algorithm);
  if (!isFileBody(body)) return hash.update(readBody(body)).digest('hex');
  const reader = new BodyReader(0, 1);
  try {
    for (const piece of reader.pieces(body, HASH_PIECE)) hash.update(piece);
  } finally {
    reader.close();
  }
  return hash.digest('hex');
}

/**
 * What a build reads of an image's /etc/os-release at most. The file is a dozen KEY=value lines
 * (Alpine's and Debian's are under 300 bytes; os-release(5) knows some 30 keys): 1 MiB leaves room
 * for any real one.
 */
export const OS_RELEASE_MAX = 1 << 20;

/**
 * What a build reads of an image's /etc/passwd and /etc/group at most (and of the copies Debian's
 * base-passwd installs them from). A distribution ships a few dozen lines (Debian's passwd.master:
 * under 1 KiB); 8 MiB holds some 65,536 accounts of 120 bytes, every id of a 16-bit range, where
 * the build holds the text, its lines and the text it writes again, a few times the file at once.
 */
export const ACCOUNTS_FILE_MAX = 8 << 20;

/**
 * The bytes of a body the build reads as text (/etc/passwd, /etc/os-release), refused past `max`
 * bytes before any is read: a package may ship such a file of gigabytes, which read whole would
 * take as much memory, or fail in Node past 2 GiB (as a read) or 512 MiB (as a string).
 *
 * @param file the file's path in the image and the package that installed it (`owner`), for the
 *   error; where the path is a link, the file it leads to (`target`) and that file's package,
 *   named too
 * @throws ProvenantError `TOO_LARGE` naming the file and its package; else as {@link readBody}
 */
export function readBodyUpTo(body: Body | undefined, max: number, file: ImageFileName): Uint8Array {
  const size = bodySize(body);
  if (size > max) {
    const link = file.target === undefined ? '' : ',';
    throw new ProvenantError('TOO_LARGE', `${describeImageFile(file)}${link} is ${size} bytes, more than the ${max} read of it`, {
      where: imageFileWhere(file),
      hint: `an image's /${file.path} is a few kilobytes; the package ships a file that is not one`,
    });
  }
  return readBody(body);
}

/** A file of the image as an error names it: its path and package, and where it is a link, the file it leads to and that one's package. */
type ImageFileName = { path: string; owner?: string | undefined; target?: { path: string; owner?: string | undefined } | undefined };

/** `/path (installed by p)`, and for a link `, a link to /target (installed by q)`; the build's own files name no package. */
export function describeImageFile(file: ImageFileName): string {
  const by = (owner: string | undefined) => (owner === undefined || owner === 'build' ? '' : ` (installed by ${owner})`);
  const target = file.target === undefined ? '' : `, a link to /${file.target.path}${by(file.target.owner)}`;
  return `/${file.path}${by(file.owner)}${target}`;
}

/** Where an error about `file` is: its package and its path. */
export function imageFileWhere(file: ImageFileName): string {
  return file.owner === undefined || file.owner === 'build' ? `/${file.path}` : `${file.owner}: /${file.path}`;
}

/**
 * Reads bodies from their files through a few open descriptors and read-ahead windows: the layer
 * writer reads thousands of small bodies in path order, which lie near each other in their
 * package's data file, so most come out of a window without a system call.
 */
export class BodyReader {
  readonly #files = new Map<string, OpenFile>();
  readonly #windowSize: number;
  readonly #maxFiles: number;
  /** The buffer {@link pieces} reads into, reused from body to body (grown as asked). */
  #piece: Uint8Array | undefined;

  /**
   * @param windowSize bytes read at once for a small body (0: none read ahead). A layer's small
   *   bodies are those under 64 KiB (LAYER_SEGMENT_MIN), half of the default: the 1 GB bench image
   *   made again, reading from 16 packages' files at once, peaked 3-4 MB lower with windows of
   *   128 KiB than of 256 KiB, in the same CPU time.
   * @param maxFiles descriptors kept open
   */
  constructor(windowSize = 128 * 1024, maxFiles = 16) {
    this.#windowSize = windowSize;
    this.#maxFiles = maxFiles;
  }

  /** The bytes of `body` (a fresh array for a body on disk), checked as {@link readBody} checks. */
  read(body: Body | undefined): Uint8Array {
    if (body === undefined) return new Uint8Array();
    if (body instanceof Uint8Array) return body;
    const file = this.#open(body.path);
    return this.#windowed(body, file)?.slice() ?? this.#whole(body, file);
  }

  /**
   * The bytes of `body` as {@link read} gives them, but for a body on disk shorter than half the
   * read-ahead window, a view of the window itself: valid only until the next read of this reader.
   * A layer reads tens of thousands of such bodies (the 1 GB bench image: 28,357, 163 MB), each
   * copied into a compression block as it passes: a fresh array for each cost 3-7 % more CPU time
   * in allocations and collections, for the same peak memory.
   */
  readInPlace(body: Body | undefined): Uint8Array {
    if (!isFileBody(body)) return this.read(body);
    const file = this.#open(body.path);
    return this.#windowed(body, file) ?? this.#whole(body, file);
  }

  /** The body read from its file into an array of its own, checked. */
  #whole(body: FileBody, file: { fd: number }): Uint8Array {
    const out = new Uint8Array(body.size);
    readRange(file.fd, body, out);
    checkBody(body, out);
    return out;
  }

  /**
   * The body as a view of its file's window, checked, when it lies in the window or is shorter
   * than half of it (the window is then read anew from the body's start); otherwise undefined.
   */
  #windowed(body: FileBody, file: OpenFile): Uint8Array | undefined {
    if (file.window === undefined || body.offset < file.start || body.offset + body.size > file.end) {
      if (body.size >= this.#windowSize / 2) return undefined;
      file.window ??= new Uint8Array(this.#windowSize);
      const got = readSync(file.fd, file.window, 0, file.window.length, body.offset);
      file.start = body.offset;
      file.end = body.offset + got;
      if (got < body.size) throw short(body, got);
    }
    const view = file.window.subarray(body.offset - file.start, body.offset - file.start + body.size);
    checkBody(body, view);
    return view;
  }

  /**
   * The bytes of a body on disk in pieces of `size` bytes (the last one shorter), each read into
   * the same buffer: a piece is valid only until the next one is asked for. The whole body is
   * checked as {@link readBody} checks it, once its last piece has been read: a caller that made
   * anything of the pieces must drop it when this throws.
   *
   * @throws ProvenantError as {@link readBody}
   */
  *pieces(body: FileBody, size: number): Generator<Uint8Array> {
    const file = this.#open(body.path);
    // No larger than the body: a reader made for one body (a precompressed one) holds no more.
    const room = Math.min(size, body.size);
    if (this.#piece === undefined || this.#piece.length < room) this.#piece = new Uint8Array(room);
    const buffer = this.#piece;
    let crc = 0;
    for (let at = 0; at < body.size; at += size) {
      const piece = buffer.subarray(0, Math.min(size, body.size - at));
      readRange(file.fd, body, piece, at);
      crc = crc32(piece, crc);
      yield piece;
    }
    if (crc >>> 0 !== body.crc32 >>> 0) throw changed(body);
  }

  /** Closes every descriptor. */
  close(): void {
    for (const f of this.#files.values()) closeSync(f.fd);
    this.#files.clear();
  }

  #open(path: string): OpenFile {
    const found = this.#files.get(path);
    if (found !== undefined) {
      // Most recently used last, so that the oldest is the one closed.
      this.#files.delete(path);
      this.#files.set(path, found);
      return found;
    }
    // The window of the file closed to make room serves this one: a window made for each file
    // opened (the 1 GB bench image made again opens 52, most of them for large bodies, which
    // read none) was left to V8 to free when it next collected.
    let window: Uint8Array | undefined;
    if (this.#files.size >= this.#maxFiles) {
      const [oldest, f] = this.#files.entries().next().value as [string, OpenFile];
      closeSync(f.fd);
      this.#files.delete(oldest);
      window = f.window;
    }
    let fd: number;
    try {
      fd = openRegularFile(path).fd;
    } catch (err) {
      throw new ProvenantError('IO', `cannot read ${path}: ${(err as Error).message}`, { where: path, cause: err });
    }
    const f: OpenFile = { fd, window, start: 0, end: 0 };
    this.#files.set(path, f);
    return f;
  }
}

/**
 * A file {@link BodyReader} keeps open, and its read-ahead window: made at the first small body
 * read from it, holding the file's bytes from `start` to `end`.
 */
interface OpenFile {
  fd: number;
  window: Uint8Array | undefined;
  start: number;
  end: number;
}

/** Fills `out` with the body's bytes from byte `from` of the body on. */
function readRange(fd: number, body: FileBody, out: Uint8Array, from = 0): void {
  const got = readFullyAt(fd, out, body.offset + from);
  if (got < out.length) throw short(body, from + got);
}

/** Reads into all of `out` from byte `position` of the file `fd`; returns the bytes read (fewer only at the end of the file). */
export function readFullyAt(fd: number, out: Uint8Array, position: number): number {
  let got = 0;
  while (got < out.length) {
    const n = readSync(fd, out, got, out.length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

function short(body: FileBody, got: number): ProvenantError {
  return new ProvenantError('IO', `${body.path} ends ${body.size - got} bytes short of the body at byte ${body.offset}`, {
    where: body.path,
    hint: remake(body),
  });
}

function checkBody(body: FileBody, bytes: Uint8Array): void {
  if (crc32(bytes) >>> 0 !== body.crc32 >>> 0) throw changed(body);
}

function changed(body: FileBody): ProvenantError {
  return new ProvenantError('DIGEST_MISMATCH', `the body at byte ${body.offset} of ${body.path} is not the one stored there`, {
    where: body.path,
    hint: remake(body),
  });
}

/**
 * What to do about a body's file that changed on disk: a package's unpacked data in the build
 * cache, which a build cannot make again once it writes layers from it. "Remove it" left open
 * whether the file or the cache was meant, and the next run met the same file: the hint names the
 * file, which the next build makes again (its package is unpacked anew when it is missing).
 */
function remake(body: FileBody): string {
  return `the build cache was changed on disk: remove ${body.path} and build again, which makes it anew (or remove the whole cache folder while no build uses it)`;
}
