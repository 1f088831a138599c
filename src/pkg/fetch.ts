/**
 * Fetching repository files (indexes, packages, keys) from http(s), file:// URLs and local paths,
 * with an optional content-addressed cache. What is fetched is verified by the caller (signatures,
 * checksums); the cache only saves the download.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProvenantError } from '../errors.ts';

/** Options of {@link fetchFile}. */
export interface FetchFileOptions {
  /** The folder relative locations are relative to (the configuration's folder). */
  baseDir?: string | undefined;
  signal?: AbortSignal | undefined;
  /** Largest accepted body, in bytes. Default 2 GiB. */
  maxBytes?: number;
}

/** True for locations that are URLs with a scheme we fetch over the network. */
export function isRemote(location: string): boolean {
  return /^https?:\/\//i.test(location);
}

/** Joins a repository base and a file name, for URLs and paths alike. */
export function joinLocation(base: string, ...parts: string[]): string {
  return [base.replace(/\/+$/, ''), ...parts].join('/');
}

/** A location for messages: a URL without user info, query or fragment. */
export function safeLocation(location: string): string {
  if (!isRemote(location)) return location;
  try {
    const u = new URL(location);
    u.username = '';
    u.password = '';
    u.search = '';
    u.hash = '';
    return u.toString();
  } catch {
    return '<a malformed URL>';
  }
}

/**
 * Reads a file from a URL or path.
 *
 * @throws ProvenantError `NOT_FOUND` for a 404 or a missing file, `NETWORK` when the server
 *   cannot be reached or answers an error, `ABORTED` when cancelled
 */
export async function fetchFile(location: string, options: FetchFileOptions = {}): Promise<Uint8Array> {
  const where = safeLocation(location);
  const maxBytes = options.maxBytes ?? 2 * 1024 * 1024 * 1024;
  if (isRemote(location)) {
    let res: Response;
    try {
      res = await fetch(location, { signal: options.signal ?? null, redirect: 'follow' });
    } catch (err) {
      if (options.signal?.aborted) throw new ProvenantError('ABORTED', 'the download was cancelled', { where, cause: err });
      throw new ProvenantError('NETWORK', `cannot fetch ${where}: ${(err as Error).message}`, { where, cause: err });
    }
    if (res.status === 404) throw new ProvenantError('NOT_FOUND', `${where} does not exist (HTTP 404)`, { where });
    if (!res.ok) throw new ProvenantError('NETWORK', `${where} answered HTTP ${res.status}`, { where });
    const body = new Uint8Array(await res.arrayBuffer());
    if (body.length > maxBytes) throw new ProvenantError('INVALID_PACKAGE', `${where} is larger than ${maxBytes} bytes`, { where });
    return body;
  }
  const path = localPath(location, options.baseDir);
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new ProvenantError('NOT_FOUND', `${path} does not exist`, { where: path, cause: err });
    throw new ProvenantError('IO', `cannot read ${path}: ${(err as Error).message}`, { where: path, cause: err });
  }
}

/** The local path of a `file://` URL or a path, relative ones against `baseDir`. */
export function localPath(location: string, baseDir: string | undefined): string {
  if (location.startsWith('file://')) return fileURLToPath(location);
  if (isAbsolute(location)) return location;
  return resolvePath(baseDir ?? '.', location);
}

/**
 * A content-addressed cache of downloads: files under `dir/sha256/<hex>`, and for each key (a
 * package's checksum, say) the digest it was stored under.
 */
export class DownloadCache {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * The cached bytes under `key`, or undefined. They are checked against the SHA-256 they were
   * stored under unless `check` is false, for a caller that checks them against a digest of its
   * own anyway (a package against its index's checksum); either way, what was downloaded into the
   * cache must be verified by the caller as if downloaded again. With `shared`, the bytes are in
   * a SharedArrayBuffer, which worker threads can read without a copy.
   */
  async get(key: string, options: { check?: boolean; shared?: boolean } = {}): Promise<Uint8Array | undefined> {
    try {
      const hex = (await readFile(this.keyPath(key), 'utf8')).trim();
      if (!/^[0-9a-f]{64}$/.test(hex)) return undefined;
      const path = join(this.dir, 'sha256', hex);
      let bytes: Uint8Array;
      if (options.shared === true) {
        bytes = await readShared(path);
      } else {
        // A plain Uint8Array over the Buffer's memory: no copy of a large file.
        const file = await readFile(path);
        bytes = new Uint8Array(file.buffer, file.byteOffset, file.byteLength);
      }
      if (options.check === false) return bytes;
      return createHash('sha256').update(bytes).digest('hex') === hex ? bytes : undefined;
    } catch {
      return undefined;
    }
  }

  /** Stores `bytes` under `key`, atomically. */
  async put(key: string, bytes: Uint8Array): Promise<void> {
    const hex = createHash('sha256').update(bytes).digest('hex');
    await atomicWrite(join(this.dir, 'sha256', hex), bytes);
    await atomicWrite(this.keyPath(key), `${hex}\n`);
  }

  private keyPath(key: string): string {
    return join(this.dir, 'keys', createHash('sha256').update(key).digest('hex'));
  }
}

/** A whole file read into a SharedArrayBuffer. */
async function readShared(path: string): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const bytes = new Uint8Array(new SharedArrayBuffer(size));
    let got = 0;
    while (got < size) {
      const { bytesRead } = await fh.read(bytes, got, size - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return bytes.subarray(0, got);
  } finally {
    await fh.close();
  }
}

async function atomicWrite(path: string, data: Uint8Array | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}
