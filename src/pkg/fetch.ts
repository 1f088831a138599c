/**
 * Fetching repository files (indexes, packages, keys) from http(s), file:// URLs and local paths,
 * with an optional content-addressed cache. What is fetched is verified by the caller (signatures,
 * checksums); the cache only saves the download.
 *
 * A run can be killed at any moment (SIGINT ends the process without running `finally`), so the
 * cache never depends on cleaning up after itself: every file is written under a temporary name
 * that says who wrote it (a hash of the host name and the process id) and renamed into place when
 * whole. The next run removes temporary files whose writer is gone, and resumes a download that
 * was cut off from where its partial file ends (HTTP `Range`), checking the whole file against the
 * digest it must have.
 */
import { createHash, randomBytes } from 'node:crypto';
import { access, constants, type FileHandle, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isProvenantError, ProvenantError } from '../errors.ts';
import { fileChunksReused, hashFile, makeFolder } from '../io/files.ts';
import { noteBytesMoved } from '../io/memory.ts';
import { collect } from '../io/verify.ts';
import { isWriteFailure, systemWords } from '../io/write-failures.ts';
import { certificateError, type HttpResponse, isBlockedPort, isLoopbackHost, sendRequest } from '../net.ts';
import { atomicWrite, ownerOf, ownerTag, readCacheFile, regularSize, renameInto, writerGone } from './cache-files.ts';

const { createReadStream, existsSync } = process.getBuiltinModule('node:fs');

/** Options of {@link fetchFile}. */
export interface FetchFileOptions {
  /** The folder relative locations are relative to (the configuration's folder). */
  baseDir?: string | undefined;
  signal?: AbortSignal | undefined;
  /** Largest accepted body, in bytes. Default 2 GiB. */
  maxBytes?: number | undefined;
  /**
   * The error for a body larger than `maxBytes`, given where it is (a URL without credentials, or
   * a path) and the limit: `INVALID_PACKAGE` by default. The download stops at the limit either way.
   */
  tooLarge?: ((where: string, maxBytes: number) => ProvenantError) | undefined;
  /**
   * The bytes are trusted as they arrive, with no signature or digest to check them (a key): the
   * location and every redirect must be https, or plain http to this machine only (see
   * {@link fetchTrustedFile}).
   */
  secure?: boolean | undefined;
}

/** True for locations that are URLs with a scheme we fetch over the network; anything else is a file of this machine. */
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
 * The URL to fetch `location` from, a URL as a lock records it (without user info): under one of
 * `repositories` (the configuration's, as written), with that repository's user info, so that a
 * repository's credentials come from the configuration and never from a lock. Of repositories
 * nested in one another on a server, the innermost that holds `location` decides, as for a file
 * fetched while resolving: another's credentials, or none where it has none. `location` without
 * user info otherwise; a local location is given back as it is.
 */
export function withRepositoryCredentials(location: string, repositories: readonly string[]): string {
  if (!isRemote(location) || !URL.canParse(location)) return location;
  const u = new URL(location);
  const plain = u.username === '' && u.password === '' ? location : undefined;
  u.username = '';
  u.password = '';
  let holder: { under: string; base: URL } | undefined;
  for (const r of repositories) {
    if (!isRemote(r) || !URL.canParse(r)) continue;
    const under = comparableLocation(`${r.replace(/\/+$/, '')}/`, undefined);
    if (under === undefined || !u.href.startsWith(under)) continue;
    if (holder === undefined || under.length > holder.under.length) holder = { under, base: new URL(r) };
  }
  if (holder === undefined || (holder.base.username === '' && holder.base.password === '')) return plain ?? u.href;
  u.username = holder.base.username;
  u.password = holder.base.password;
  return u.href;
}

/**
 * Reads a file from a URL or path.
 *
 * @throws ProvenantError `NOT_FOUND` for a 404 or a missing file, `NETWORK` when the server
 *   cannot be reached or answers an error, `TLS_CERTIFICATE` when its certificate does not
 *   verify, `ABORTED` when cancelled
 */
export async function fetchFile(location: string, options: FetchFileOptions = {}): Promise<Uint8Array> {
  const where = safeLocation(location);
  const maxBytes = options.maxBytes ?? 2 * 1024 * 1024 * 1024;
  if (isRemote(location)) {
    const res = await request(location, where, options.signal, undefined, options.secure === true);
    try {
      // collect stops reading (and drops the connection) at the first chunk past the limit.
      return res.body === null ? new Uint8Array() : await collect(res.body, maxBytes, where, () => tooLargeError(options, where, maxBytes));
    } catch (err) {
      if (isProvenantError(err)) throw err;
      // The connection broke in the middle of the body.
      throw requestError(err, location, where, options.signal);
    }
  }
  const path = localPath(location, options.baseDir);
  try {
    await checkLocalFile(path, maxBytes, options);
    return new Uint8Array(await readFile(path));
  } catch (err) {
    if (isProvenantError(err)) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new ProvenantError('NOT_FOUND', `${path} does not exist`, { where: path, cause: err });
    throw new ProvenantError('IO', `cannot read ${path}: ${(err as Error).message}`, { where: path, cause: err });
  }
}

/**
 * The most a key or keyring fetched by URL may be ({@link fetchTrustedFile}): a key is a few
 * hundred bytes, Debian's archive keyring about 100 KB.
 */
export const MAX_TRUSTED_URL_SIZE = 1024 * 1024;

/**
 * Reads a file whose bytes are trusted as they arrive, with nothing to check them against: a key
 * (`contents.keyring`, a Debian `signed-by=`). Whoever can change it in transit chooses what
 * every signature is checked with, so it must come from a local file, over https, or over plain
 * http only from this machine (localhost, 127.0.0.0/8, [::1]: test servers, a local mirror); a
 * redirect to plain http elsewhere is refused as well. A URL's body, which a server chooses, is
 * read up to {@link MAX_TRUSTED_URL_SIZE}; a local file is the user's own, read whole.
 *
 * @param what What the location is, for the error: `the contents.keyring key`, `the signed-by keyring`.
 * @param configWhere Where the location is configured (the configuration file), for the error.
 * @throws ProvenantError `INSECURE` for a plain-http location beyond this machine, or a redirect
 *   to one; `TOO_LARGE` for a URL's body over {@link MAX_TRUSTED_URL_SIZE}; as {@link fetchFile} otherwise
 */
export async function fetchTrustedFile(
  location: string,
  what: string,
  configWhere: string | undefined,
  options: FetchFileOptions = {},
): Promise<Uint8Array> {
  const where = safeLocation(location);
  const configured = configWhere === undefined ? where : `${configWhere}: ${where}`;
  if (/^http:\/\//i.test(location) && !(URL.canParse(location) && isLoopbackHost(new URL(location).host))) {
    throw new ProvenantError('INSECURE', `${what} ${where} is fetched over plain HTTP, which anyone on the way can change`, {
      where: configured,
      hint: 'fetch it over https, or download it, check its fingerprint, and give its path',
    });
  }
  const sized: FetchFileOptions = isRemote(location)
    ? {
        maxBytes: MAX_TRUSTED_URL_SIZE,
        tooLarge: (at, max) =>
          new ProvenantError(
            'TOO_LARGE',
            `${what} ${at} is larger than ${max} bytes (${max / 2 ** 20} MiB), the most a key fetched by URL may be`,
            {
              where: configured,
              hint: "check the URL: a key is a few hundred bytes and a keyring a few KB (Debian's archive keyring about 100 KB); for a larger one, download it, check it and give its path",
            },
          ),
      }
    : {};
  return fetchFile(location, { ...options, ...sized, secure: true });
}

/**
 * Reads a file from a URL or path as it arrives, in chunks, never whole: for a package that may be
 * larger than what a build should hold (issue 16, "streaming end to end"). Fails as
 * {@link fetchFile}, when the chunks are read.
 *
 * @throws ProvenantError as {@link fetchFile}
 */
export async function* streamFile(location: string, options: FetchFileOptions = {}): AsyncGenerator<Uint8Array> {
  const where = safeLocation(location);
  const maxBytes = options.maxBytes ?? 2 * 1024 * 1024 * 1024;
  let total = 0;
  const counted = (chunk: Uint8Array): Uint8Array => {
    total += chunk.length;
    // Each chunk is a fresh buffer outside V8's heap (../io/memory.ts).
    noteBytesMoved(chunk.length);
    if (total > maxBytes) throw tooLargeError(options, where, maxBytes);
    return chunk;
  };
  if (isRemote(location)) {
    const res = await request(location, where, options.signal, undefined, options.secure === true);
    if (res.body === null) return;
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) yield counted(chunk);
    } catch (err) {
      if (isProvenantError(err)) throw err;
      throw requestError(err, location, where, options.signal);
    }
    return;
  }
  const path = localPath(location, options.baseDir);
  try {
    await checkLocalFile(path, maxBytes, options);
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20, signal: options.signal })) yield counted(chunk as Buffer);
  } catch (err) {
    if (isProvenantError(err)) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new ProvenantError('NOT_FOUND', `${path} does not exist`, { where: path, cause: err });
    if (options.signal?.aborted) throw new ProvenantError('ABORTED', 'the download was cancelled', { where: path, cause: err });
    throw new ProvenantError('IO', `cannot read ${path}: ${(err as Error).message}`, { where: path, cause: err });
  }
}

/** An answer to a GET, as {@link request} gives it: status, headers and the body as it arrives. */
interface Answer {
  readonly status: number;
  readonly headers: HttpResponse['headers'];
  readonly body: NonNullable<HttpResponse['body']> | null;
}

/** Redirects followed before giving up, as fetch's limit. */
const MAX_REDIRECTS = 20;

/**
 * A GET answered with 2xx (or 206/416 when `range` is sent); 404 is NOT_FOUND, other answers
 * NETWORK. Sent through node:http(s) (net.ts), not fetch: fetch's implementation costs a warm
 * build about 30 ms to load (issue 16) for the one request that checks a repository's index.
 * Redirects are followed as fetch follows them, to at most 20, but never from https to plain
 * http beyond this machine (apt refuses that downgrade too), nor, when `secure`, to plain http
 * beyond this machine at all.
 */
async function request(location: string, where: string, signal: AbortSignal | undefined, range?: number, secure = false): Promise<Answer> {
  let url: URL;
  try {
    url = new URL(location);
  } catch (err) {
    throw requestError(err, location, where, signal);
  }
  const headers: Record<string, string> = range === undefined ? {} : { range: `bytes=${range}-` };
  for (let redirects = 0; ; redirects++) {
    let res: HttpResponse;
    try {
      res = await sendRequest(url, 'GET', headers, undefined, signal);
    } catch (err) {
      throw requestError(err, url.href, where, signal);
    }
    const next = res.headers.get('location');
    if ([301, 302, 303, 307, 308].includes(res.status) && next !== null) {
      await res.body?.cancel().catch(() => {});
      if (redirects >= MAX_REDIRECTS) throw new ProvenantError('NETWORK', `${where} redirects more than ${MAX_REDIRECTS} times`, { where });
      const to = new URL(next, url);
      // Only http and https are fetched: a file: URL (file:///etc/passwd) went to node:http as a
      // request to this machine's port 80.
      if (to.protocol !== 'http:' && to.protocol !== 'https:') {
        const shown = safeLocation(to.href);
        throw new ProvenantError(
          'NETWORK',
          `${where} redirects to a ${to.protocol} URL (${shown.length > 200 ? `${shown.slice(0, 200)}…` : shown}), which is not followed`,
          { where },
        );
      }
      if (to.protocol === 'http:' && (secure || url.protocol === 'https:') && !isLoopbackHost(to.host)) {
        throw new ProvenantError('INSECURE', `${where} redirects to plain HTTP (${safeLocation(to.href)}), which is not followed`, {
          where,
          hint: secure
            ? 'a key must come over https (or from a file): give the https address it should have'
            : 'the server downgrades https to http; give the repository its http address if plain http is what you mean',
        });
      }
      url = to;
      continue;
    }
    if ((res.status >= 200 && res.status < 300) || (range !== undefined && res.status === 416)) return res;
    await res.body?.cancel().catch(() => {});
    if (res.status === 404) throw new ProvenantError('NOT_FOUND', `${where} does not exist (HTTP 404)`, { where });
    throw new ProvenantError('NETWORK', `${where} answered HTTP ${res.status}`, { where });
  }
}

/** A failed request as ABORTED, TLS_CERTIFICATE, INVALID_CONFIG (a port fetch refuses) or NETWORK. */
function requestError(err: unknown, location: string, where: string, signal: AbortSignal | undefined): ProvenantError {
  if (signal?.aborted) return new ProvenantError('ABORTED', 'the download was cancelled', { where, cause: err });
  if (err instanceof ProvenantError) return err;
  let host = where;
  try {
    host = new URL(location).host;
  } catch {
    // safeLocation already said the URL is malformed.
  }
  const certificate = certificateError(err, host, where);
  if (certificate !== undefined) return certificate;
  if (isBlockedPort(err)) {
    return new ProvenantError(
      'INVALID_CONFIG',
      `cannot fetch ${where}: Node's fetch refuses its port (a blocked port of the Fetch standard)`,
      {
        where,
        cause: err,
        hint: 'use the repository on another port (https://fetch.spec.whatwg.org/#port-blocking lists the blocked ones)',
      },
    );
  }
  const cause = (err as { cause?: { message?: unknown } }).cause;
  const detail = typeof cause?.message === 'string' ? cause.message : (err as Error).message;
  return new ProvenantError('NETWORK', `cannot fetch ${where}: ${detail}`, {
    where,
    cause: err,
    hint: 'check the address (contents.repositories, contents.keyring) and that this machine reaches the server',
  });
}

/**
 * The absolute path of a local location: a `file:` URL (`file:///x` or `file:/x`), or a path,
 * relative ones against `baseDir` (the configuration's folder). The one resolver of local
 * locations: the fetch reads the file it gives, and the lock check ({@link comparableLocation})
 * compares what it gives, so that the two cannot take a location to different files.
 *
 * @throws TypeError for a `file:` URL that names a host or an encoded `/`
 */
export function localPath(location: string, baseDir: string | undefined): string {
  if (location.startsWith('file:')) return fileURLToPath(location);
  if (isAbsolute(location)) return resolvePath(location);
  return resolvePath(baseDir ?? '.', location);
}

/**
 * A location in one spelling, so that one can be told to be under another: an http(s) URL as the
 * URL parser writes it (`..` and `%2e%2e` resolved, the host in lower case) without its user
 * info (credentials are never part of the comparison), a local one as {@link localPath} gives it
 * (a trailing `/` kept). Undefined for a location that does not parse (another scheme, a
 * malformed URL).
 */
export function comparableLocation(location: string, baseDir: string | undefined): string | undefined {
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(location) && !location.startsWith('file:')) {
    if (!isRemote(location) || !URL.canParse(location)) return undefined;
    const u = new URL(location);
    u.username = '';
    u.password = '';
    return u.href;
  }
  try {
    // A file URL's path keeps its trailing `/` (a path resolved does not): one, however written.
    const path = localPath(location, baseDir).replace(/\/+$/, '');
    return location.endsWith('/') ? `${path}/` : path;
  } catch {
    return undefined;
  }
}

/**
 * A local file must be a regular file of at most `maxBytes`: a FIFO would block the read, and a
 * device (/dev/zero) never end it.
 *
 * @throws ProvenantError `INVALID_PACKAGE` when it is not; the file system's error when it is missing
 */
async function checkLocalFile(path: string, maxBytes: number, options: FetchFileOptions): Promise<void> {
  const s = await stat(path);
  if (!s.isFile()) throw new ProvenantError('INVALID_PACKAGE', `${path} is not a regular file`, { where: path });
  if (s.size > maxBytes) throw tooLargeError(options, path, maxBytes);
}

/**
 * The options of a fetch of a file whose size a signed index gives (`vouched`, e.g. "the Release
 * gives it"): it stops at that size, as `DIGEST_MISMATCH`, the first byte past it.
 */
export function listedSize(size: number, vouched: string): Pick<FetchFileOptions, 'maxBytes' | 'tooLarge'> {
  return {
    maxBytes: size,
    tooLarge: (where, max) =>
      new ProvenantError('DIGEST_MISMATCH', `${where} is longer than the ${max} bytes ${vouched}`, {
        where,
        hint: 'the mirror is being updated or serves another file; try again',
      }),
  };
}

/** The error for a body over `maxBytes`: the caller's ({@link FetchFileOptions.tooLarge}), else `INVALID_PACKAGE`. */
function tooLargeError(options: FetchFileOptions, where: string, maxBytes: number): ProvenantError {
  return (
    options.tooLarge?.(where, maxBytes) ?? new ProvenantError('INVALID_PACKAGE', `${where} is larger than ${maxBytes} bytes`, { where })
  );
}

/** What a download must be: its SHA-256 (hex), and its size when known. */
export interface ExpectedFile {
  sha256: string;
  size?: number | undefined;
  /** Where `sha256` comes from (`the lock image.lock.json`), named when the file does not have it. */
  from?: string | undefined;
  /** The hint when the file does not have `sha256` (by default: the mirror may be being updated). */
  hint?: string | undefined;
}

/** Options of {@link DownloadCache.download}. */
export interface DownloadOptions extends FetchFileOptions {
  /** Also record the file under this key, for {@link DownloadCache.get}. */
  key?: string | undefined;
}

/** Content being written into a {@link DownloadCache} (see {@link DownloadCache.writer}). */
export interface CacheWriter {
  /** The file being written, under a temporary name: whole once every write has resolved, for a reader that checks it before {@link finish}. */
  readonly path: string;
  /** Bytes written so far. */
  readonly size: number;
  /** The SHA-256 (hex) of the bytes written so far, which {@link finish} keeps them under. */
  sha256(): string;
  write(chunk: Uint8Array): Promise<void>;
  /** Closes the file and keeps it under its SHA-256 (and `key`, when given). */
  finish(key?: string): Promise<{ sha256: string; path: string; size: number }>;
  /** Closes the file and removes it. */
  abort(): Promise<void>;
}

/**
 * Content being put into a {@link DownloadCache} as it is made (see {@link DownloadCache.putStream}).
 * Calls are made one at a time: each waits for the one before.
 */
export interface CachePut {
  /** Bytes written so far. */
  readonly size: number;
  /** Appends `chunk`. */
  write(chunk: Uint8Array): Promise<void>;
  /**
   * Writes `bytes` over bytes already written from `position` on: a header whose room was
   * written first and whose values are known only at the end.
   */
  writeAt(position: number, bytes: Uint8Array): Promise<void>;
  /** Keeps what was written under its SHA-256 and the key, as {@link DownloadCache.put} does. */
  finish(): Promise<{ sha256: string; path: string; size: number }>;
  /** Removes what was written; the key is left as it was. */
  abort(): Promise<void>;
}

/** A temporary file whose writer is alive on this machine is left alone for this long (a writer touches its file as it goes). */
const TEMP_STALE_MS = 60 * 60 * 1000;
/** A partial download is kept this long for a later run to resume. */
const PARTIAL_KEEP_MS = 7 * 24 * 60 * 60 * 1000;
const HEX64 = /^[0-9a-f]{64}$/;

/**
 * A content-addressed cache of downloads: files under `dir/sha256/<hex>`, and for each key (a
 * package's checksum, say) the digest it was stored under. Files are written as
 * `<name>.<owner>.tmp` and renamed when whole; downloads in progress are `partial/<sha256>.<owner>.part`.
 * `<owner>` is `<place>-<pid>-<process>-<random>` (see `ownerTag` in ./cache-files.ts: where the
 * process runs, its pid, and a random id of its own), so that the first use of a cache removes
 * the temporary files of runs that were killed (see {@link DownloadCache.sweep}) and resumes
 * their downloads, and leaves alone those of a run in another pid namespace of the same host name.
 */
export class DownloadCache {
  readonly dir: string;
  #swept: Promise<void> | undefined;
  #made: Promise<string> | undefined;

  constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * The cached bytes under `key`, or undefined. They are checked unless `check` is false, for a
   * caller that checks them against a digest of its own anyway (a package against its index's
   * checksum): against the size and CRC-32 that {@link put} recorded under the key, else against
   * the SHA-256 they were stored under (and the key is given their CRC then). Either way, what
   * was downloaded into the cache must be verified by the caller as if downloaded again. With
   * `shared`, the bytes are in a SharedArrayBuffer, which worker threads can read without a copy.
   */
  async get(key: string, options: { check?: boolean; shared?: boolean } = {}): Promise<Uint8Array | undefined> {
    await this.#sweepOnce();
    try {
      const record = await this.#record(key);
      if (record === undefined) return undefined;
      const { path } = record;
      // Anything but a regular file (a named pipe, a folder) is a miss, as damaged bytes are.
      const bytes = await readCacheFile(path, options.shared === true);
      if (options.check === false) return bytes;
      const sums = { crc32: () => crc32Hex(bytes), sha256: () => createHash('sha256').update(bytes).digest('hex') };
      return (await this.#holds(key, record, bytes.length, sums)) ? bytes : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Stores `bytes` under `key`, atomically, with their size and CRC-32 beside their SHA-256, for
   * {@link get} to check instead of hashing them again. What that check must catch is damage (a
   * disk's, a copy's), which a CRC-32 catches too, for a fifteenth of the instructions (a warm
   * Debian build reads the 4 MB stanza index of Debian main each time: 8 M instructions of CRC,
   * 115 M of SHA-256); it was never a defence against someone who can write the cache, who can
   * rewrite the key as well. Returns where the bytes are, as {@link locate} would: the file of
   * these bytes, even when another process puts something else under the key at the same time.
   */
  async put(key: string, bytes: Uint8Array): Promise<{ sha256: string; path: string; size: number }> {
    await this.#sweepOnce();
    await this.#contentFolder();
    const hex = createHash('sha256').update(bytes).digest('hex');
    const path = join(this.dir, 'sha256', hex);
    try {
      await atomicWrite(path, bytes);
      await atomicWrite(this.keyPath(key), keyRecord(hex, bytes.length, crc32Hex(bytes)));
    } catch (err) {
      throw this.#unwritable(err);
    }
    return { sha256: hex, path, size: bytes.length };
  }

  /**
   * {@link put}, for content written as it is made (a large body's compressed blocks as the
   * workers give them), so that none of it is held in memory: into a temporary file, which
   * `finish` renames to its SHA-256 and records under `key` with its size and CRC-32, exactly as
   * put records them. Until then, and after `abort` or a failed write, nothing is under the key
   * or the digest; after a failed finish, nothing is under the key (the content may be under its
   * digest, as whole content stays after a put whose key could not be written); a run killed
   * meanwhile leaves a temporary file, which the next sweep removes. The digests are taken from
   * the file as `finish` reads it back, a buffer at a time:
   * bytes may be written over (`writeAt`) until then, and a put whose head is filled in last
   * (segments' blocks: their lengths come first) would otherwise hash everything twice.
   *
   * @throws ProvenantError `IO` (from this and from each call of the put) when the file cannot be
   *   written or read back; `USAGE` for a `writeAt` beyond what was written or a call after the end
   */
  async putStream(key: string): Promise<CachePut> {
    await this.#sweepOnce();
    const folder = await this.#contentFolder();
    const tmp = join(folder, `put.${ownerTag()}-${randomBytes(4).toString('hex')}.tmp`);
    const failed = (err: unknown, doing: string): ProvenantError => {
      const typed = this.#unwritable(err, false, doing === 'write');
      return isProvenantError(typed)
        ? typed
        : new ProvenantError('IO', `cannot ${doing} ${tmp}: ${(err as Error)?.message ?? String(err)}`, { where: tmp, cause: err });
    };
    let fh: FileHandle;
    try {
      await makeFolder(folder);
      fh = await open(tmp, 'wx');
    } catch (err) {
      throw failed(err, 'create');
    }
    let size = 0;
    // Ended by finish, abort or a failed write: nothing more is written.
    let ended = false;
    let closed = false;
    const usable = (): void => {
      if (ended) throw new ProvenantError('USAGE', `the cache file ${tmp} was already kept or removed`, { where: tmp });
    };
    const close = async (): Promise<void> => {
      if (closed) return;
      closed = true;
      await fh.close();
    };
    // Removes the file; never fails (a put that failed fails with its own error).
    const discard = async (): Promise<void> => {
      ended = true;
      await close().catch(() => {});
      await rm(tmp, { force: true }).catch(() => {});
    };
    return {
      get size() {
        return size;
      },
      write: async (chunk) => {
        usable();
        try {
          await writeAll(fh, chunk, size);
        } catch (err) {
          await discard();
          throw failed(err, 'write');
        }
        size += chunk.length;
      },
      writeAt: async (position, bytes) => {
        usable();
        if (!Number.isInteger(position) || position < 0 || position + bytes.length > size) {
          throw new ProvenantError('USAGE', `${bytes.length} bytes at ${position} are not within the ${size} written to ${tmp}`, {
            where: tmp,
          });
        }
        try {
          await writeAll(fh, bytes, position);
        } catch (err) {
          await discard();
          throw failed(err, 'write');
        }
      },
      finish: async () => {
        usable();
        ended = true;
        try {
          await close();
          const sums = await fileSums(tmp, true, size);
          if (sums.size !== size) throw new Error(`it holds ${sums.size} bytes, not the ${size} written`);
          const path = join(folder, sums.sha256);
          await renameInto(tmp, path);
          await atomicWrite(this.keyPath(key), keyRecord(sums.sha256, size, sums.crc32));
          return { sha256: sums.sha256, path, size };
        } catch (err) {
          await discard();
          throw failed(err, 'keep');
        }
      },
      abort: discard,
    };
  }

  /**
   * Whether something is stored under `key`, from its key alone (one system call, made at once):
   * for a look-up made for many keys, most of them there; `get` or `locate` may still miss.
   */
  has(key: string): boolean {
    return existsSync(this.keyPath(key));
  }

  /** Drops the key (not the content, which other keys may name): a later `get` of it misses. */
  async forget(key: string): Promise<void> {
    await rm(this.keyPath(key), { force: true });
  }

  /**
   * Where the content stored under `key` is, once read through and checked as {@link get} checks
   * it (the size and CRC-32 the key records, else the SHA-256), a buffer at a time: for content
   * that its reader takes a part at a time (a large body's compressed blocks, each when the layer
   * reaches it), which `get` would hold whole. Undefined when the key or its file is missing or
   * the check fails. What is read afterwards is not checked again: the file is named by its
   * SHA-256 and Provenant only ever renames the same bytes over it, so damage done after the
   * check (by something else) passes through; a reader finds a file cut short since, not one
   * changed in place.
   */
  async checked(key: string): Promise<{ sha256: string; path: string; size: number } | undefined> {
    await this.#sweepOnce();
    try {
      const record = await this.#record(key);
      if (record === undefined) return undefined;
      // fileSums opens it as a regular file only (a pipe in its place is refused, not waited on).
      const sums = await fileSums(record.path, record.crc === undefined, Number(record.size));
      const held = await this.#holds(key, record, sums.size, { crc32: () => sums.crc32, sha256: () => sums.sha256 });
      return held ? { sha256: record.hex, path: record.path, size: sums.size } : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Whether content of `size` bytes, whose CRC-32 and SHA-256 (hex) `sums` give when asked, is
   * what `key` recorded: its size and CRC-32, else (a key from download, or an older cache) its
   * SHA-256, and then the key is given the size and CRC-32, so that it is hashed this once.
   */
  async #holds(
    key: string,
    record: { hex: string; size: string | undefined; crc: string | undefined },
    size: number,
    sums: { crc32(): string; sha256(): string },
  ): Promise<boolean> {
    if (record.crc !== undefined) return `${size}` === record.size && sums.crc32() === record.crc;
    if (sums.sha256() !== record.hex) return false;
    await atomicWrite(this.keyPath(key), keyRecord(record.hex, size, sums.crc32())).catch(() => {});
    return true;
  }

  /** What the key records (SHA-256, and the size and CRC-32 when it has them) and where that content is; undefined without a key. */
  async #record(key: string): Promise<{ hex: string; size: string | undefined; crc: string | undefined; path: string } | undefined> {
    const text = new TextDecoder().decode(await readCacheFile(this.keyPath(key)));
    const [hex = '', size, crc] = text.trim().split(' ');
    return HEX64.test(hex) ? { hex, size, crc, path: join(this.dir, 'sha256', hex) } : undefined;
  }

  /**
   * Where the content stored under `key` is, without reading it: its SHA-256 (hex), path and
   * size; undefined when the key or its file is missing. The caller checks the bytes it reads.
   */
  async locate(key: string): Promise<{ sha256: string; path: string; size: number } | undefined> {
    await this.#sweepOnce();
    try {
      const record = await this.#record(key);
      if (record === undefined) return undefined;
      // A regular file, else a miss: its reader opens it as one (../vfs/body.ts).
      return { sha256: record.hex, path: record.path, size: regularSize(record.path) };
    } catch {
      return undefined;
    }
  }

  /**
   * A file for content that is written as it is made (a layer as it is compressed): written
   * under a temporary name, hashed as it goes, and renamed to its SHA-256 by `finish`, which
   * records it under `key` too, with its size and CRC-32 as {@link put} records them; `abort`
   * removes it. Nothing is held in memory.
   */
  async writer(): Promise<CacheWriter> {
    await this.#sweepOnce();
    const folder = await this.#contentFolder();
    const tmp = join(folder, `stream.${ownerTag()}-${randomBytes(4).toString('hex')}.tmp`);
    let fh: FileHandle;
    try {
      fh = await open(tmp, 'w');
    } catch (err) {
      throw this.#unwritable(err);
    }
    const hash = createHash('sha256');
    const { crc32 } = process.getBuiltinModule('node:zlib');
    let crc = 0;
    let size = 0;
    let isOpen = true;
    const close = async (): Promise<void> => {
      if (!isOpen) return;
      isOpen = false;
      await fh.close();
    };
    return {
      path: tmp,
      get size() {
        return size;
      },
      sha256: () => hash.copy().digest('hex'),
      write: async (chunk) => {
        hash.update(chunk);
        crc = crc32(chunk, crc);
        size += chunk.length;
        try {
          await writeAll(fh, chunk);
        } catch (err) {
          // The cache's failure (a full disk), never its reader's: a package read into the cache
          // as it is unpacked would otherwise be said to be unreadable (../archive/tar-source.ts).
          throw this.#unwritable(err, false, true);
        }
      },
      finish: async (key) => {
        await close();
        const hex = hash.digest('hex');
        const path = join(folder, hex);
        try {
          await renameInto(tmp, path);
          // With the size and CRC-32, as put records them: a later get or checked need not hash it.
          if (key !== undefined) await atomicWrite(this.keyPath(key), keyRecord(hex, size, crcHex(crc)));
        } catch (err) {
          throw this.#unwritable(err);
        }
        return { sha256: hex, path, size };
      },
      abort: async () => {
        await close().catch(() => {});
        await rm(tmp, { force: true });
      },
    };
  }

  /**
   * Downloads `location` into the cache and returns its bytes, which have `expected.sha256`
   * (DIGEST_MISMATCH otherwise, and nothing is kept). The body is written to a partial file as it
   * arrives; when a run was cut off (a dropped connection, a killed process), the next download
   * of the same file asks for the rest with `Range: bytes=N-`. A server that ignores Range sends
   * it all again; when the resumed file does not have the digest (the file changed on the
   * server), it is downloaded once more from the start. Local paths and file:// URLs are read
   * and checked the same way.
   *
   * @throws ProvenantError `DIGEST_MISMATCH`, `NOT_FOUND`, `NETWORK` (the partial file is kept
   *   for the next try), `TLS_CERTIFICATE`, `ABORTED`, `INVALID_PACKAGE` (over `maxBytes`)
   */
  async download(location: string, expected: ExpectedFile, options: DownloadOptions = {}): Promise<Uint8Array> {
    const { path } = await this.downloadFile(location, expected, options);
    return await readCacheFile(path);
  }

  /**
   * {@link download}, without reading the file into memory: where it is kept in the cache, for a
   * reader that streams it (a .deb read for the first time, ./deb/stream.ts). The file was hashed
   * as a stream, and has `expected.sha256` and size.
   *
   * @throws ProvenantError as {@link download}
   */
  async downloadFile(
    location: string,
    expected: ExpectedFile,
    options: DownloadOptions = {},
  ): Promise<{ sha256: string; path: string; size: number }> {
    const where = safeLocation(location);
    if (!HEX64.test(expected.sha256)) {
      throw new ProvenantError('INVALID_DIGEST', `"${expected.sha256}" is not a SHA-256 in hex`, { where });
    }
    await this.#sweepOnce();
    await this.#contentFolder();
    if (!isRemote(location)) {
      const writer = await this.writer();
      try {
        for await (const chunk of streamFile(location, options)) await writer.write(chunk);
        const actual = writer.sha256();
        if (actual !== expected.sha256 || (expected.size !== undefined && writer.size !== expected.size)) {
          throw digestMismatch(where, actual, writer.size, expected);
        }
        return await writer.finish(options.key);
      } catch (err) {
        await writer.abort();
        throw err;
      }
    }
    const limits = { maxBytes: options.maxBytes ?? 2 * 1024 * 1024 * 1024, size: expected.size, tooLarge: options.tooLarge };
    const partial = await this.#claimPartial(expected.sha256);
    try {
      for (let fresh = false; ; fresh = true) {
        const from = fresh ? 0 : await sizeOf(partial);
        await receive(location, where, partial, from, limits, options.signal, (err) => this.#unwritable(err, false, true));
        const { sha256: actual, size } = await hashFile(partial, where);
        if (actual === expected.sha256 && (expected.size === undefined || size === expected.size)) {
          const final = join(this.dir, 'sha256', expected.sha256);
          try {
            await makeFolder(dirname(final));
            await renameInto(partial, final);
            if (options.key !== undefined) await atomicWrite(this.keyPath(options.key), `${expected.sha256}\n`);
          } catch (err) {
            throw this.#unwritable(err);
          }
          return { sha256: actual, path: final, size };
        }
        // Resumed bytes that do not add up: the file changed on the server since the first part,
        // or the partial file was damaged. One more try, whole.
        if (from > 0 && !fresh) continue;
        throw digestMismatch(where, actual, size, expected);
      }
    } catch (err) {
      // What arrived before a dropped connection or a cancel is kept for the next try; bytes
      // that are wrong, or a file the server does not have, are not.
      if (!isProvenantError(err, 'NETWORK', 'ABORTED')) await rm(partial, { force: true });
      throw err;
    } finally {
      writing.delete(partial);
    }
  }

  /**
   * Removes the temporary files of writers that are gone: those of processes of this machine
   * that no longer run, and any not written to for an hour; and partial downloads older than a
   * week. Runs once per cache object, before its first read or write; never fails (a file
   * another process removed first, or cannot be removed, is left to it).
   */
  async sweep(): Promise<void> {
    const now = Date.now();
    for (const sub of ['sha256', 'keys', 'partial']) {
      const folder = join(this.dir, sub);
      let names: string[];
      try {
        names = await readdir(folder);
      } catch {
        continue;
      }
      for (const name of names) {
        const owner = ownerOf(name);
        if (owner === undefined) continue;
        try {
          const { mtimeMs } = await stat(join(folder, name));
          const age = now - mtimeMs;
          const stale = owner.partial ? age > PARTIAL_KEEP_MS : age > TEMP_STALE_MS || writerGone(owner);
          if (stale) await rm(join(folder, name), { force: true });
        } catch {
          // Gone already, or not ours to remove.
        }
      }
    }
  }

  /**
   * The folder the content goes in (`dir/sha256`), made on first use, before anything is written.
   *
   * @throws ProvenantError `IO` naming the cache folder when it cannot be made (a file in its
   *   path, no permission, a read-only file system), rather than a system error from deep inside
   *   the write that met it first
   */
  #contentFolder(): Promise<string> {
    const folder = join(this.dir, 'sha256');
    this.#made ??= (async () => {
      try {
        await makeFolder(folder);
        await makeFolder(join(this.dir, 'keys'));
        // A folder that is there but cannot be written (a read-only mount, another user's) is
        // said here, rather than by the first write's system error.
        await access(folder, constants.W_OK);
        await access(join(this.dir, 'keys'), constants.W_OK);
      } catch (err) {
        throw this.#unwritable(err, true);
      }
      return folder;
    })();
    return this.#made;
  }

  /**
   * `err` as the error of a cache folder that cannot be made or written: `IO` naming the cache
   * folder, with a hint, for a system error that says so (no permission, a read-only file system,
   * a file in the way), and for a write that failed (a full disk; with `writing`, any system
   * error of a write), which is the cache's failure, not that of what was being read into it; any
   * other error as it is.
   */
  #unwritable(err: unknown, making = false, writing = false): unknown {
    if (isProvenantError(err)) return err;
    const why = refusal(err, making);
    if (why === undefined) {
      const code = (err as NodeJS.ErrnoException | undefined)?.code;
      if (typeof code !== 'string' || !(isWriteFailure(err) || (writing && /^E[A-Z0-9]+$/.test(code)))) return err;
      // "ENOSPC: no space left on device, write" says "no space left on device (ENOSPC)". The
      // folder in brackets, where the error's place would name it again; "the cache": layers and
      // what the build made are kept in it too, not downloads alone.
      return new ProvenantError('IO', `cannot write to the cache (${this.dir}): ${systemWords(err)} (${code})`, {
        where: this.dir,
        cause: err,
        hint:
          code === 'ENOSPC' || code === 'EDQUOT'
            ? `the disk ${this.dir} is on is full: free space on it, or point the cache at another disk (another --cache-dir)`
            : code === 'EFBIG'
              ? 'a file of the cache is over the size this process may write (ulimit -f) or its file system holds: raise the limit, or point the cache elsewhere (another --cache-dir)'
              : `check the disk ${this.dir} is on, or point the cache at another disk (another --cache-dir)`,
      });
    }
    // `where` is the folder as given, for an adapter to name its own setting instead.
    return new ProvenantError('IO', `cannot use ${this.dir} as the download cache: ${why}`, {
      where: this.dir,
      cause: err,
      hint: fileInTheWay(err)
        ? 'point the cache at a folder that can be made and written, or move what is in the way'
        : `point the cache at a folder that can be made and written (another --cache-dir), or fix the permissions of ${this.dir}`,
    });
  }

  #sweepOnce(): Promise<void> {
    this.#swept ??= this.sweep().catch(() => {});
    return this.#swept;
  }

  /**
   * A partial file of this process for the download of `sha256`: one left by a writer that is
   * gone when there is one (renamed to this process's name, so two runs never append to the
   * same file), else a new name.
   */
  async #claimPartial(sha256: string): Promise<string> {
    const folder = join(this.dir, 'partial');
    await makeFolder(folder);
    const mine = join(folder, `${sha256}.${ownerTag()}-${randomBytes(4).toString('hex')}.part`);
    writing.add(mine);
    const now = Date.now();
    for (const name of await readdir(folder)) {
      if (!name.startsWith(`${sha256}.`)) continue;
      const owner = ownerOf(name);
      const path = join(folder, name);
      if (owner === undefined || !owner.partial || writing.has(path)) continue;
      try {
        const { mtimeMs } = await stat(path);
        // A download still running in another process (one whose pid can be looked up here, or
        // lately one elsewhere: another machine or pid namespace) is left to it.
        const running = !owner.self && !writerGone(owner);
        if (running && now - mtimeMs < TEMP_STALE_MS) continue;
        await rename(path, mine);
        return mine;
      } catch {
        // Claimed by another run first: look further, or start afresh.
      }
    }
    return mine;
  }

  private keyPath(key: string): string {
    return join(this.dir, 'keys', createHash('sha256').update(key).digest('hex'));
  }
}

/**
 * Why a cache folder cannot be used, for a system error that says so (`making`: one from making
 * the folder, where a path in the way says so too); undefined for other errors.
 */
function refusal(err: unknown, making: boolean): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EROFS') return 'the file system is read-only';
  if (!making) return undefined;
  if (fileInTheWay(err)) return 'a file is in the way (where it or a folder above it should be)';
  if (code === 'ENOENT') return `no folder can be made there (${(err as Error).message})`;
  return (err as Error)?.message ?? String(err);
}

/** Whether making a folder failed for a file in the way: the hint then says to move it, not to fix permissions. */
function fileInTheWay(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOTDIR' || code === 'EEXIST';
}

/** The CRC-32 of `bytes`, as 8 hex digits (node:zlib is loaded when first needed). */
function crc32Hex(bytes: Uint8Array): string {
  return crcHex(process.getBuiltinModule('node:zlib').crc32(bytes));
}

/** A CRC-32 as the cache writes it: 8 hex digits. */
function crcHex(crc: number): string {
  return crc.toString(16).padStart(8, '0');
}

/** Writes all of `bytes` to `fh`, at `position` when given, else where the file is. */
async function writeAll(fh: FileHandle, bytes: Uint8Array, position?: number): Promise<void> {
  for (let at = 0; at < bytes.length; ) {
    at += (await fh.write(bytes, at, bytes.length - at, position === undefined ? null : position + at)).bytesWritten;
  }
}

/** What the cache records under a key: the content's SHA-256 (hex), its size and its CRC-32 (8 hex digits). */
function keyRecord(sha256: string, size: number, crc32: string): string {
  return `${sha256} ${size} ${crc32}\n`;
}

/**
 * The size and CRC-32 (8 hex digits) of the file at `path`, and with `sha256` its SHA-256 (hex,
 * else ''), read a buffer at a time: for files too large to hold whole. `size`, when known, only
 * sizes the buffers.
 */
async function fileSums(path: string, sha256: boolean, size?: number): Promise<{ size: number; crc32: string; sha256: string }> {
  const { crc32 } = process.getBuiltinModule('node:zlib');
  const hash = sha256 ? createHash('sha256') : undefined;
  let crc = 0;
  let read = 0;
  // Two buffers of this: no larger than the file when its size is known (most kept entries are a
  // few KB), and not so small that a wrong size makes reads of a few bytes.
  const buffer = Math.max(4096, Math.min(size !== undefined && Number.isSafeInteger(size) ? size : Infinity, 256 * 1024));
  for await (const chunk of fileChunksReused(path, buffer)) {
    hash?.update(chunk);
    crc = crc32(chunk, crc);
    read += chunk.length;
  }
  return { size: read, crc32: crcHex(crc), sha256: hash?.digest('hex') ?? '' };
}

function digestMismatch(where: string, actual: string, length: number, expected: ExpectedFile): ProvenantError {
  const size = expected.size === undefined || expected.size === length ? '' : ` and ${length} bytes, not ${expected.size}`;
  const said = expected.from === undefined ? `expected ${expected.sha256}` : `${expected.from} names ${expected.sha256}`;
  return new ProvenantError('DIGEST_MISMATCH', `${where} has SHA-256 ${actual}${size}, ${said}`, {
    where,
    hint: expected.hint ?? 'the mirror is being updated or serves a corrupt file; try again',
  });
}

/**
 * Appends the rest of `location` from byte `from` to the file at `path` (all of it from 0 when
 * the server ignores the Range, or answers a range that does not start there). A 416 (the range
 * starts at or past the end) leaves the file as it is, for the digest to decide. The file is
 * closed in every case. A failure to open or write the file is given to `writeError`, which
 * says it is the cache's.
 */
async function receive(
  location: string,
  where: string,
  path: string,
  from: number,
  limits: { maxBytes: number; size: number | undefined; tooLarge: FetchFileOptions['tooLarge'] },
  signal: AbortSignal | undefined,
  writeError: (err: unknown) => unknown,
): Promise<void> {
  // A partial file that is whole already (the run was killed between the last byte and the rename).
  if (limits.size !== undefined && from >= limits.size) return;
  let res = await request(location, where, signal, from > 0 ? from : undefined);
  if (res.status === 416) {
    await res.body?.cancel().catch(() => {});
    return;
  }
  let start = 0;
  if (res.status === 206) {
    const m = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
    if (m !== null && Number(m[1]) === from) start = from;
    else {
      await res.body?.cancel().catch(() => {});
      res = await request(location, where, signal);
    }
  }
  let fh: FileHandle;
  try {
    fh = await open(path, start > 0 ? 'a' : 'w');
  } catch (err) {
    await res.body?.cancel().catch(() => {});
    throw writeError(err);
  }
  try {
    let total = start;
    if (res.body === null) return;
    const reader = res.body[Symbol.asyncIterator]();
    for (;;) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await reader.next();
      } catch (err) {
        // The connection broke in the middle of the body: what was written stays, for the next try.
        throw requestError(err, location, where, signal);
      }
      if (next.done) return;
      total += next.value.byteLength;
      if (limits.size !== undefined && total > limits.size) {
        throw new ProvenantError('DIGEST_MISMATCH', `${where} is longer than the ${limits.size} bytes expected`, {
          where,
          hint: 'the mirror is being updated or serves another file; try again',
        });
      }
      if (total > limits.maxBytes) throw tooLargeError(limits, where, limits.maxBytes);
      try {
        await fh.write(next.value);
      } catch (err) {
        throw writeError(err);
      }
    }
  } catch (err) {
    await res.body?.cancel().catch(() => {});
    throw err;
  } finally {
    await fh.close();
  }
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

/** Partial files this process is writing now (another download of the same file must not take them). */
const writing = new Set<string>();
