import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Credentials } from '../auth/credentials.ts';
import { anonymousKeychain, type Keychain } from '../auth/keychain.ts';
import { concatBytes } from '../bytes.ts';
import { ProvenantError, throwIfAborted } from '../errors.ts';
import { Limiter } from '../io/limit.ts';
import type { BlobSource, ByteStream, Logger, OperationOptions, ProgressUpdate } from '../io/types.ts';
import { silentLogger } from '../io/types.ts';
import { MANIFEST_LIMIT, verifyStream } from '../io/verify.ts';
import { certificateError, certificateFailure, isBlockedPort } from '../net.ts';
import { parseStored, type Stored } from '../oci/content.ts';
import { type Digest, digestHex, isDigest } from '../oci/digest.ts';
import { isIndexType, MANIFEST_ACCEPT, MediaType } from '../oci/mediatypes.ts';
import type { Descriptor } from '../oci/types.ts';
import { assertIndex } from '../oci/validate.ts';
import { checkRegistryHost } from '../ref/reference.ts';
import { type Challenge, findChallenge, parseChallenges } from './challenge.ts';
import { responseError, unauthorized } from './errors.ts';
import { nextLink } from './link.ts';
import {
  backoffDelay,
  DEFAULT_RETRY,
  describeNetworkError,
  isNetworkError,
  type RetryAfterWait,
  type RetryOptions,
  retryAfterWait,
  sleep,
} from './retry.ts';
import { covers, repositoryScope, type ScopeSet, scopeKey, scopeSet } from './scope.ts';

/** Options of a {@link RegistryClient}. */
export interface RegistryClientOptions {
  /** Where credentials come from; anonymous when absent. */
  keychain?: Keychain | undefined;
  /**
   * Allow plain HTTP to a registry that is not on this machine. Loopback registries
   * (`localhost`, 127.0.0.0/8, `[::1]`) may always use HTTP. (Unverified TLS is not offered:
   * Node's fetch has no switch for it.)
   */
  insecure?: boolean | undefined;
  /** Force a scheme instead of probing. `http` to a non-loopback host needs `insecure`. */
  scheme?: 'http' | 'https' | undefined;
  /** Debug lines (methods, redacted URLs, statuses, retries); never credentials. */
  logger?: Logger | undefined;
  /** Progress of every operation of this client, besides each call's own `onProgress`. */
  onProgress?: ((update: ProgressUpdate) => void) | undefined;
  /** The User-Agent header. */
  userAgent?: string | undefined;
  /** Retries of failed requests (5xx, 429, dropped connections). */
  retry?: Partial<RetryOptions> | undefined;
  /** Blob uploads at once through this client. Default 4. */
  concurrency?: number | undefined;
  /** Blobs larger than this are uploaded in chunks (PATCH); smaller ones in one PUT. Default 64 MiB. */
  chunkSize?: number | undefined;
  /** Page size asked for when listing tags. Default 1000. */
  tagPageSize?: number | undefined;
  /** The clock for token expiry, in ms since the epoch (tests move it). Default `Date.now`. */
  clock?: (() => number) | undefined;
}

/** Options of calls that take a repository's blob and may resume. */
export interface ReadBlobOptions extends OperationOptions {
  /** Start the returned stream here (the whole blob is still verified). */
  offset?: number | undefined;
}

/** Options of {@link RegistryClient.uploadBlob}. */
export interface UploadBlobOptions extends OperationOptions {
  /** Repositories of the same registry that may hold the blob: it is mounted from one of them when it can be. */
  mountFrom?: readonly string[] | undefined;
}

/** What a manifest PUT returned. */
export interface PutManifestResult {
  digest: Digest;
  /** The registry answered with `OCI-Subject`: it indexes referrers itself (OCI distribution 1.1). */
  subjectProcessed: boolean;
}

type AuthScheme = { kind: 'none' } | { kind: 'basic' } | { kind: 'bearer'; realm: URL; service: string | undefined };

interface CachedToken {
  token: string;
  expiresAt: number;
  scopes: ScopeSet;
}

interface Op {
  signal: AbortSignal | undefined;
  logger: Logger;
  progress: (update: ProgressUpdate) => void;
}

type Method = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

interface Req {
  method: Method;
  url: URL;
  /** Token scopes the request needs (empty for requests to other hosts). */
  scopes: string[];
  repository?: string | undefined;
  headers?: Record<string, string>;
  /** Creates the body for each try (a stream can be sent only once). */
  body?: (() => Promise<Uint8Array | ReadableStream<Uint8Array> | URLSearchParams>) | undefined;
  /** Statuses handed back to the caller; any other is an error. */
  accept: readonly number[];
  what: string;
  where: string;
  /** Retry failures here (default); upload requests restart their session instead. */
  retry?: boolean;
  /** Send no registry Authorization (pings, token requests, other hosts). */
  noAuth?: boolean;
  /** Credentials were sent in `headers` (token requests): a 401 means they are wrong. */
  explicitCredentials?: boolean;
  op: Op;
}

interface Answer {
  res: Response;
  /** The URL that answered (after redirects), to resolve relative Location and Link against. */
  url: URL;
}

const retryable = new WeakSet<object>();
/**
 * The `Retry-After` of the answer an error came from. Upload requests are not retried by
 * `#send` (their session is restarted or resumed instead), so the wait travels with the error
 * to the upload loop.
 */
const retryAfterOf = new WeakMap<object, RetryAfterWait>();
const MiB = 1024 * 1024;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * A client of the OCI Distribution API (https://github.com/opencontainers/distribution-spec)
 * for one registry host. It probes the scheme, answers auth challenges (Basic, and Bearer
 * tokens cached per scope until they expire), retries what may pass (5xx, 429, dropped
 * connections) with backoff and jitter, resumes blob downloads with `Range`, and turns every
 * other answer into a {@link ProvenantError} with the registry's own error code behind it.
 *
 * Logs and errors never contain credentials: query strings are redacted in logs (upload URLs
 * carry state, some registries put tokens there), and errors name the repository, not the URL.
 */
export class RegistryClient {
  /** The registry as users write it (`docker.io`, `127.0.0.1:5000`). */
  readonly registry: string;
  /** The host the API is served from (`registry-1.docker.io` for `docker.io`). */
  readonly apiHost: string;
  /** Limits concurrent blob uploads; a store runs uploads through it. */
  readonly uploads: Limiter;
  readonly chunkSize: number;

  readonly #keychain: Keychain;
  readonly #insecure: boolean;
  readonly #schemes: Array<'http' | 'https'>;
  readonly #logger: Logger;
  readonly #onProgress: ((update: ProgressUpdate) => void) | undefined;
  readonly #userAgent: string;
  readonly #retry: Required<RetryOptions>;
  readonly #clock: () => number;
  readonly #tagPageSize: number;
  #base: URL | undefined;
  #auth: AuthScheme | undefined;
  #ping: Promise<void> | undefined;
  #tokens: CachedToken[] = [];
  #pendingTokens = new Map<string, Promise<CachedToken>>();
  #credentials = new Map<string, Promise<Credentials | undefined>>();
  #referrersApi: boolean | undefined;

  /** @throws ProvenantError `INVALID_REFERENCE` when `registry` is no host[:port] a connection can be made to */
  constructor(registry: string, options: RegistryClientOptions = {}) {
    checkRegistryHost(registry);
    this.registry = registry;
    this.apiHost = registry === 'docker.io' ? 'registry-1.docker.io' : registry;
    this.#keychain = options.keychain ?? anonymousKeychain;
    this.#insecure = options.insecure === true;
    this.#logger = options.logger ?? silentLogger;
    this.#onProgress = options.onProgress;
    this.#userAgent = options.userAgent ?? 'provenant/0.1';
    this.#retry = { ...DEFAULT_RETRY, ...definedOnly(options.retry ?? {}) };
    this.#retry.attempts = Math.max(1, Math.floor(this.#retry.attempts));
    this.#clock = options.clock ?? Date.now;
    this.#tagPageSize = options.tagPageSize ?? 1000;
    this.uploads = new Limiter(options.concurrency ?? 4);
    this.chunkSize = Math.max(1, options.chunkSize ?? 64 * MiB);
    const local = isLoopback(this.apiHost);
    if (options.scheme === 'http' && !local && !this.#insecure) {
      throw new ProvenantError('INSECURE', `refusing plain HTTP to ${registry}`, {
        where: registry,
        hint: 'plain HTTP is allowed only for localhost; pass --insecure if you really mean it',
      });
    }
    // Loopback registries are usually plain HTTP (docker run registry:2), so HTTP is tried
    // first and HTTPS after; --insecure tries HTTPS first, as Docker does for insecure registries.
    this.#schemes =
      options.scheme !== undefined ? [options.scheme] : local ? ['http', 'https'] : this.#insecure ? ['https', 'http'] : ['https'];
  }

  toString(): string {
    return `RegistryClient(${this.registry})`;
  }

  // ---------------------------------------------------------------------------------------
  // Manifests

  /**
   * Resolves a tag or digest with HEAD: the manifest's digest (`Docker-Content-Digest`), size
   * and media type. Undefined when absent. Falls back to a GET when the registry leaves the
   * digest out of its HEAD answer.
   */
  async headManifest(repository: string, target: string, options: OperationOptions = {}): Promise<Descriptor | undefined> {
    const op = this.#op(options);
    const where = targetWhere(this.registry, repository, target);
    const { res } = await this.#send({
      method: 'HEAD',
      url: await this.#url(`/v2/${repository}/manifests/${target}`, op),
      scopes: [repositoryScope(repository, ['pull'])],
      repository,
      headers: { accept: MANIFEST_ACCEPT },
      accept: [200, 404],
      what: `resolve ${target}`,
      where,
      op,
    });
    if (res.status === 404) return undefined;
    const digest = res.headers.get('docker-content-digest') ?? '';
    const size = Number(res.headers.get('content-length') ?? Number.NaN);
    const mediaType = baseType(res.headers.get('content-type'));
    if (!isDigest(digest) || !Number.isSafeInteger(size) || mediaType === undefined || (isDigest(target) && digest !== target)) {
      const stored = await this.getManifest(repository, target, options);
      return { mediaType: stored.mediaType, digest: stored.digest, size: stored.bytes.byteLength };
    }
    return { mediaType, digest, size };
  }

  /**
   * Fetches a manifest or index. By digest, the bytes must have that digest; by tag, they must
   * match `Docker-Content-Digest` when the registry sends it. Bodies over 4 MiB are refused
   * (distribution's own limit), so a hostile registry cannot exhaust memory.
   */
  async getManifest(repository: string, target: string, options: OperationOptions = {}): Promise<Stored> {
    const op = this.#op(options);
    const where = targetWhere(this.registry, repository, target);
    const { res } = await this.#send({
      method: 'GET',
      url: await this.#url(`/v2/${repository}/manifests/${target}`, op),
      scopes: [repositoryScope(repository, ['pull'])],
      repository,
      // Every manifest type we read, OCI first: distribution 2.8 answers 404 (MANIFEST_UNKNOWN)
      // for a manifest stored as OCI when Accept does not name its type (distribution#3099),
      // and converts or refuses by Accept elsewhere.
      headers: { accept: MANIFEST_ACCEPT },
      accept: [200],
      what: `get manifest ${target}`,
      where,
      op,
    });
    const bytes = await readLimited(res, MANIFEST_LIMIT, where);
    const served = res.headers.get('docker-content-digest');
    const digest = isDigest(target) ? target : isDigest(served) ? served : undefined;
    return parseStored(bytes, { mediaType: res.headers.get('content-type') ?? undefined, digest, where });
  }

  /**
   * Stores a manifest under `target` (its digest, or a tag): the exact bytes, with its media
   * type as Content-Type. The blobs and manifests it names must be in the repository already.
   */
  async putManifest(repository: string, target: string, stored: Stored, options: OperationOptions = {}): Promise<PutManifestResult> {
    const op = this.#op(options);
    const where = targetWhere(this.registry, repository, target);
    const { res } = await this.#send({
      method: 'PUT',
      url: await this.#url(`/v2/${repository}/manifests/${target}`, op),
      scopes: [repositoryScope(repository, ['pull', 'push'])],
      repository,
      headers: { 'content-type': stored.mediaType },
      body: async () => stored.bytes,
      accept: [200, 201, 202],
      what: `push manifest ${target}`,
      where,
      op,
    });
    await drain(res);
    const answered = res.headers.get('docker-content-digest');
    if (isDigest(answered) && answered !== stored.digest) {
      throw new ProvenantError('DIGEST_MISMATCH', `${this.registry} stored the manifest as ${answered}, expected ${stored.digest}`, {
        where,
        hint: 'the registry changed the manifest bytes; it may not support this media type',
      });
    }
    op.progress({ kind: 'manifest', digest: stored.digest, mediaType: stored.mediaType, phase: 'done' });
    return { digest: stored.digest, subjectProcessed: res.headers.has('oci-subject') };
  }

  /** Deletes a manifest by digest (registries refuse deletion by tag, or altogether when configured so). */
  async deleteManifest(repository: string, digest: Digest, options: OperationOptions = {}): Promise<void> {
    const op = this.#op(options);
    const { res } = await this.#send({
      method: 'DELETE',
      url: await this.#url(`/v2/${repository}/manifests/${digest}`, op),
      scopes: [repositoryScope(repository, ['delete'])],
      repository,
      accept: [200, 202],
      what: `delete manifest ${digest}`,
      where: targetWhere(this.registry, repository, digest),
      op,
    });
    await drain(res);
  }

  // ---------------------------------------------------------------------------------------
  // Tags and referrers

  /** Every tag of a repository, following `Link: <...>; rel="next"` pages. */
  async listTags(repository: string, options: OperationOptions = {}): Promise<string[]> {
    const op = this.#op(options);
    const where = `${this.registry}/${repository}`;
    let url: URL | undefined = await this.#url(`/v2/${repository}/tags/list?n=${this.#tagPageSize}`, op);
    const tags: string[] = [];
    const seen = new Set<string>();
    while (url !== undefined) {
      if (seen.has(url.href) || seen.size > 10_000) {
        throw new ProvenantError('REGISTRY', `${this.registry} paginates the tag list in a loop`, { where });
      }
      seen.add(url.href);
      const answer = await this.#send({
        method: 'GET',
        url,
        scopes: [repositoryScope(repository, ['pull'])],
        repository,
        accept: [200],
        what: 'list tags',
        where,
        op,
      });
      const page = parseJsonObject(await readLimited(answer.res, 16 * MiB, where), where, 'tag list');
      const list = page.tags;
      if (list !== null && list !== undefined) {
        if (!Array.isArray(list)) throw new ProvenantError('REGISTRY', 'the tag list is not an array', { where });
        for (const t of list) if (typeof t === 'string') tags.push(t);
      }
      url = nextLink(answer.res.headers.get('link'), answer.url);
    }
    return tags;
  }

  /**
   * The referrers API (OCI distribution 1.1, `GET /v2/<name>/referrers/<digest>`): descriptors
   * of manifests whose `subject` is `digest`, filtered by `artifactType` (by the registry when
   * it says so in `OCI-Filters-Applied`, else here). Undefined when the registry has no
   * referrers API (a 404 or a non-index answer): the caller then reads the `sha256-<hex>` tag.
   */
  async referrers(
    repository: string,
    digest: Digest,
    options: OperationOptions & { artifactType?: string | undefined } = {},
  ): Promise<Descriptor[] | undefined> {
    if (this.#referrersApi === false) return undefined;
    const op = this.#op(options);
    const where = targetWhere(this.registry, repository, digest);
    const query = options.artifactType === undefined ? '' : `?artifactType=${encodeURIComponent(options.artifactType)}`;
    let url: URL | undefined = await this.#url(`/v2/${repository}/referrers/${digest}${query}`, op);
    const out: Descriptor[] = [];
    const seen = new Set<string>();
    while (url !== undefined && !seen.has(url.href) && seen.size < 1000) {
      seen.add(url.href);
      const answer = await this.#send({
        method: 'GET',
        url,
        scopes: [repositoryScope(repository, ['pull'])],
        repository,
        headers: { accept: MediaType.OciIndex },
        accept: [200, 404, 400, 405],
        what: `list referrers of ${digest}`,
        where,
        op,
      });
      const { res } = answer;
      if (res.status !== 200 || !isIndexType(baseType(res.headers.get('content-type')) ?? MediaType.OciIndex)) {
        await drain(res);
        if (seen.size === 1) {
          this.#referrersApi = false;
          return undefined;
        }
        break;
      }
      let index: ReturnType<typeof assertIndex>;
      try {
        index = assertIndex(parseJsonObject(await readLimited(res, 16 * MiB, where), where, 'referrers index'), where);
      } catch (err) {
        if (seen.size === 1) {
          this.#referrersApi = false;
          op.logger.debug(`${this.registry}: the referrers endpoint did not answer with an index; using the tag fallback`);
          return undefined;
        }
        throw err;
      }
      this.#referrersApi = true;
      const filtered = (res.headers.get('oci-filters-applied') ?? '').split(',').some((f) => f.trim() === 'artifactType');
      for (const d of index.manifests) {
        if (options.artifactType === undefined || filtered || d.artifactType === options.artifactType) out.push(d);
      }
      url = nextLink(res.headers.get('link'), answer.url);
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------
  // Blobs

  /** The blob's size when the repository has it (HEAD), or undefined. */
  async headBlob(repository: string, digest: Digest, options: OperationOptions = {}): Promise<Descriptor | undefined> {
    const op = this.#op(options);
    const { res } = await this.#send({
      method: 'HEAD',
      url: await this.#url(`/v2/${repository}/blobs/${digest}`, op),
      scopes: [repositoryScope(repository, ['pull'])],
      repository,
      accept: [200, 404],
      what: `check blob ${digest}`,
      where: targetWhere(this.registry, repository, digest),
      op,
    });
    if (res.status === 404) return undefined;
    const size = Number(res.headers.get('content-length') ?? Number.NaN);
    return { mediaType: 'application/octet-stream', digest, size: Number.isSafeInteger(size) ? size : -1 };
  }

  /**
   * A verified stream of a blob, from `offset`. Registries redirect blob GETs to storage; the
   * redirect is followed without the Authorization header when it leaves the registry's host.
   * A connection dropped in the middle is resumed with `Range: bytes=N-` (or, when the server
   * ignores Range, by skipping what was read), and the whole blob is checked against the
   * descriptor at the end: DIGEST_MISMATCH or SIZE_MISMATCH.
   */
  async readBlob(repository: string, descriptor: Descriptor, options: ReadBlobOptions = {}): Promise<ByteStream> {
    const op = this.#op(options);
    const where = targetWhere(this.registry, repository, descriptor.digest);
    const request = async (from: number): Promise<Answer> =>
      this.#send({
        method: 'GET',
        url: await this.#url(`/v2/${repository}/blobs/${descriptor.digest}`, op),
        scopes: [repositoryScope(repository, ['pull'])],
        repository,
        headers: from > 0 ? { range: `bytes=${from}-` } : {},
        accept: from > 0 ? [200, 206] : [200],
        what: `get blob ${descriptor.digest}`,
        where,
        op,
      });
    const first = await request(0);
    const raw = this.#resumingBody(first.res, request, descriptor, where, op);
    const verified = verifyStream(raw, descriptor, where);
    const offset = options.offset ?? 0;
    return offset > 0 ? dropPrefix(verified, offset) : verified;
  }

  async *#resumingBody(
    first: Response,
    request: (from: number) => Promise<Answer>,
    descriptor: Descriptor,
    where: string,
    op: Op,
  ): ByteStream {
    let res = first;
    let received = 0;
    let skip = 0;
    let resumes = 0;
    for (;;) {
      try {
        if (res.body === null) return;
        for await (const chunk of res.body) {
          let c: Uint8Array = chunk;
          if (skip > 0) {
            const n = Math.min(skip, c.byteLength);
            skip -= n;
            c = c.subarray(n);
            if (c.byteLength === 0) continue;
          }
          received += c.byteLength;
          op.progress({ kind: 'blob', digest: descriptor.digest, done: received, total: descriptor.size, phase: 'transfer' });
          yield c;
        }
        return;
      } catch (err) {
        if (op.signal?.aborted) throw aborted(op.signal);
        if (!isNetworkError(err) || resumes + 1 >= this.#retry.attempts || received >= descriptor.size) {
          throw err instanceof ProvenantError ? err : networkError(this.registry, where, err, resumes + 1);
        }
        resumes++;
        const delayMs = backoffDelay(resumes, this.#retry);
        this.#noteRetry(op, `get blob ${descriptor.digest}`, resumes, delayMs, `connection dropped after ${received} bytes`);
        await sleep(delayMs, op.signal);
        const next = await request(received);
        res = next.res;
        if (res.status === 206) {
          const start = /^bytes\s+(\d+)-/.exec(res.headers.get('content-range') ?? '')?.[1];
          if (start === undefined || Number(start) !== received) {
            await drain(res);
            throw new ProvenantError('REGISTRY', `${this.registry} resumed the blob at the wrong offset`, { where });
          }
        } else skip = received;
      }
    }
  }

  /**
   * Cross-repository mount (`POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<repo>`): true
   * when the registry linked the blob (201). Otherwise the registry opened an upload session
   * (202), whose URL is returned so the upload can use it.
   */
  async mountBlob(repository: string, digest: Digest, from: string, options: OperationOptions = {}): Promise<true | URL> {
    const op = this.#op(options);
    const url = await this.#url(`/v2/${repository}/blobs/uploads/?mount=${digest}&from=${from}`, op);
    const answer = await this.#send({
      method: 'POST',
      url,
      scopes: [repositoryScope(repository, ['pull', 'push']), repositoryScope(from, ['pull'])],
      repository,
      headers: { 'content-length': '0' },
      accept: [201, 202],
      what: `mount blob ${digest} from ${from}`,
      where: targetWhere(this.registry, repository, digest),
      op,
    });
    await drain(answer.res);
    if (answer.res.status === 201) return true;
    return uploadLocation(answer, this.registry, repository);
  }

  /**
   * Uploads a blob (without checking whether it is there: {@link pushBlob} does). Tries a
   * cross-repository mount from each `mountFrom` first. Blobs up to `chunkSize` go in one
   * streamed PUT after the POST that opens the session; larger ones in PATCH chunks with
   * Content-Range, then a closing PUT with the digest. A failed session is resumed where the
   * registry says it stands (`Range` of the upload status) or started again, up to the retry
   * budget; the source is re-opened from the right offset each time.
   */
  async uploadBlob(repository: string, source: BlobSource, options: UploadBlobOptions = {}): Promise<'stored' | 'mounted'> {
    const op = this.#op(options);
    const d = source.descriptor;
    const where = targetWhere(this.registry, repository, d.digest);
    let location: URL | undefined;
    // Repository names are [a-z0-9._/-] (the reference grammar), which is also what keeps them safe in a query.
    const sources = (options.mountFrom ?? []).filter((r) => r !== repository && /^[a-z0-9][a-z0-9._/-]*$/.test(r));
    for (const from of sources.slice(0, 3)) {
      const mounted = await this.mountBlob(repository, d.digest, from, options);
      if (mounted === true) {
        op.progress({ kind: 'blob', digest: d.digest, done: d.size, total: d.size, phase: 'mounted' });
        return 'mounted';
      }
      location = mounted;
    }
    const chunked = d.size > this.chunkSize;
    let offset = 0;
    for (let attempt = 1; ; attempt++) {
      throwIfAborted(op.signal);
      try {
        if (location === undefined) {
          location = await this.#startUpload(repository, where, op);
          offset = 0;
        }
        if (chunked)
          await this.#uploadChunks(repository, source, location, offset, where, op, (l, o) => {
            location = l;
            offset = o;
          });
        else await this.#uploadWhole(repository, source, location, where, op);
        op.progress({ kind: 'blob', digest: d.digest, done: d.size, total: d.size, phase: 'done' });
        return 'stored';
      } catch (err) {
        // 416: the registry and we disagree about the session's offset; only a new session helps.
        const outOfRange = err instanceof ProvenantError && /HTTP 416/.test(err.message);
        if (!(retryable.has(err as object) || outOfRange) || attempt >= this.#retry.attempts) throw err;
        // A 429 or 503 that says how long to wait is obeyed here too, as in #send.
        const wait = retryAfterOf.get(err as object);
        const delayMs = wait?.ms ?? backoffDelay(attempt, this.#retry);
        const reason = (err as Error).message;
        this.#noteRetry(op, `upload blob ${d.digest}`, attempt, delayMs, wait === undefined ? reason : `${reason}; ${wait.note}`);
        await sleep(delayMs, op.signal);
        // Where does the session stand? A chunked upload resumes from the registry's Range. A
        // whole-blob PUT that was answered (5xx, 429) appended nothing, so its session is reused
        // while it is still empty; after a dropped connection it may hold part of the body, and
        // a new session is opened instead.
        const answered = err instanceof ProvenantError && err.code !== 'NETWORK';
        const ask = location !== undefined && !outOfRange && (chunked || answered);
        const status = ask && location !== undefined ? await this.#uploadStatus(repository, location, where, op) : undefined;
        if (status === undefined || (!chunked && status.offset !== 0)) location = undefined;
        else {
          location = status.location;
          offset = status.offset;
        }
      }
    }
  }

  /** HEAD, then mount or upload: 'exists' when the repository has the blob already. */
  async pushBlob(repository: string, source: BlobSource, options: UploadBlobOptions = {}): Promise<'exists' | 'mounted' | 'stored'> {
    return this.uploads.run(async () => {
      const d = source.descriptor;
      const existing = await this.headBlob(repository, d.digest, options);
      if (existing !== undefined && (existing.size === d.size || existing.size < 0)) {
        this.#op(options).progress({ kind: 'blob', digest: d.digest, done: d.size, total: d.size, phase: 'exists' });
        return 'exists';
      }
      return this.uploadBlob(repository, source, options);
    });
  }

  async #startUpload(repository: string, where: string, op: Op): Promise<URL> {
    const answer = await this.#send({
      method: 'POST',
      url: await this.#url(`/v2/${repository}/blobs/uploads/`, op),
      scopes: [repositoryScope(repository, ['pull', 'push'])],
      repository,
      headers: { 'content-length': '0' },
      accept: [202],
      what: 'start blob upload',
      where,
      op,
    });
    await drain(answer.res);
    return uploadLocation(answer, this.registry, repository);
  }

  async #uploadWhole(repository: string, source: BlobSource, location: URL, where: string, op: Op): Promise<void> {
    const d = source.descriptor;
    const url = withDigest(location, d.digest);
    const { res } = await this.#send({
      method: 'PUT',
      url,
      scopes: [repositoryScope(repository, ['pull', 'push'])],
      repository,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(d.size) },
      // The source is checked on the way out: a source that does not match its descriptor fails
      // here with DIGEST_MISMATCH/SIZE_MISMATCH rather than as the registry's DIGEST_INVALID.
      body: async () => streamBody(progressStream(verifyStream(await source.open(), d, where), d, 0, op)),
      accept: [201, 204],
      what: `upload blob ${d.digest}`,
      where,
      retry: false,
      op,
    });
    await drain(res);
    checkStoredDigest(res, d.digest, this.registry, where);
  }

  async #uploadChunks(
    repository: string,
    source: BlobSource,
    start: URL,
    startOffset: number,
    where: string,
    op: Op,
    progressed: (location: URL, offset: number) => void,
  ): Promise<void> {
    const d = source.descriptor;
    let location = start;
    let offset = startOffset;
    const reader = new ChunkReader(await source.open(offset), d, where);
    try {
      while (offset < d.size) {
        const n = Math.min(this.chunkSize, d.size - offset);
        const from = offset;
        const answer = await this.#send({
          method: 'PATCH',
          url: location,
          scopes: [repositoryScope(repository, ['pull', 'push'])],
          repository,
          headers: {
            'content-type': 'application/octet-stream',
            'content-length': String(n),
            // The distribution spec's form, without "bytes ": start-end, inclusive.
            'content-range': `${from}-${from + n - 1}`,
          },
          body: async () => streamBody(progressStream(reader.take(n), d, from, op)),
          accept: [202],
          what: `upload chunk ${from}-${from + n - 1} of ${d.digest}`,
          where,
          retry: false,
          op,
        });
        await drain(answer.res);
        location = uploadLocation(answer, this.registry, repository);
        offset += n;
        progressed(location, offset);
      }
    } finally {
      await reader.close();
    }
    const url = withDigest(location, d.digest);
    const { res } = await this.#send({
      method: 'PUT',
      url,
      scopes: [repositoryScope(repository, ['pull', 'push'])],
      repository,
      headers: { 'content-length': '0' },
      accept: [201, 204],
      what: `finish upload of ${d.digest}`,
      where,
      retry: false,
      op,
    });
    await drain(res);
    checkStoredDigest(res, d.digest, this.registry, where);
  }

  /** Where an upload session stands: the next offset from `Range: 0-<last>`, or undefined when it is gone. */
  async #uploadStatus(repository: string, location: URL, where: string, op: Op): Promise<{ location: URL; offset: number } | undefined> {
    try {
      const answer = await this.#send({
        method: 'GET',
        url: location,
        scopes: [repositoryScope(repository, ['pull', 'push'])],
        repository,
        accept: [204, 200],
        what: 'check upload status',
        where,
        op,
      });
      await drain(answer.res);
      const m = /^(?:bytes=)?0-(\d+)$/.exec(answer.res.headers.get('range') ?? '');
      if (m === null) return undefined;
      // "0-0" is ambiguous (nothing, or one byte): distribution writes it for an empty session.
      const last = Number(m[1]);
      const offset = last === 0 ? 0 : last + 1;
      return { location: answer.res.headers.has('location') ? uploadLocation(answer, this.registry, repository) : location, offset };
    } catch (err) {
      if (err instanceof ProvenantError && err.code === 'ABORTED') throw err;
      return undefined;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Transport: scheme, auth, retries, redirects

  /** Checks that the registry answers the API (`GET /v2/`) and learns how it authenticates. */
  async ping(options: OperationOptions = {}): Promise<void> {
    await this.#ensurePing(this.#op(options));
  }

  #ensurePing(op: Op): Promise<void> {
    this.#ping ??= this.#doPing(op).catch((err: unknown) => {
      this.#ping = undefined;
      throw err;
    });
    return this.#ping;
  }

  async #doPing(op: Op): Promise<void> {
    const where = this.registry;
    let res: Response | undefined;
    if (this.#base === undefined) {
      // Probe each candidate scheme once per round, without retries; rounds are retried.
      for (let round = 1; this.#base === undefined; round++) {
        // The first scheme's failure is the one to report (a TLS "wrong version number" from
        // probing HTTPS on an HTTP port says nothing); any dropped connection makes the round retryable.
        const errors: unknown[] = [];
        for (const scheme of this.#schemes) {
          const url = new URL(`${scheme}://${this.apiHost}/v2/`);
          try {
            const r = await this.#fetchOnce(
              { method: 'GET', url, scopes: [], accept: [], what: 'ping', where, noAuth: true, op },
              undefined,
            );
            if (r.res.status === 400 && this.#schemes.length > 1 && scheme === 'http') {
              // Go's TLS servers answer plain HTTP with 400 "Client sent an HTTP request to an HTTPS server".
              await drain(r.res);
              continue;
            }
            this.#base = new URL(`${scheme}://${this.apiHost}`);
            res = r.res;
            break;
          } catch (err) {
            if (err instanceof ProvenantError) throw err;
            if (op.signal?.aborted) throw aborted(op.signal);
            errors.push(err);
          }
        }
        if (this.#base !== undefined) break;
        // A certificate that does not verify, or a port fetch refuses, says more than the other
        // scheme's failure, and trying again cannot change it.
        const lasting = errors.find((e) => certificateFailure(e) !== undefined || isBlockedPort(e));
        if (lasting !== undefined) throw networkError(this.registry, where, lasting, round);
        const first = errors[0];
        if (round >= this.#retry.attempts || !errors.some(isNetworkError)) throw networkError(this.registry, where, first, round);
        const delayMs = backoffDelay(round, this.#retry);
        this.#noteRetry(op, 'ping', round, delayMs, describeNetworkError(first));
        await sleep(delayMs, op.signal);
      }
    }
    if (res === undefined || (res.status !== 200 && res.status !== 401)) {
      if (res !== undefined) await drain(res);
      res = (
        await this.#send({
          method: 'GET',
          url: new URL('/v2/', this.#base),
          scopes: [],
          accept: [200, 401, 404],
          what: 'ping',
          where,
          noAuth: true,
          op,
        })
      ).res;
    }
    await drain(res);
    if (res.status === 404) {
      throw new ProvenantError('REGISTRY', `${this.registry} does not serve the registry API (GET /v2/ answered 404)`, {
        where,
        hint: 'check the registry host and port',
      });
    }
    this.#auth = res.status === 401 ? this.#schemeFrom(parseChallenges(res.headers.get('www-authenticate') ?? '')) : { kind: 'none' };
    op.logger.debug(`${this.registry}: ${this.#base?.protocol.replace(':', '')}, auth ${this.#auth.kind}`);
  }

  #schemeFrom(challenges: Challenge[]): AuthScheme {
    const bearer = findChallenge(challenges, 'bearer');
    if (bearer?.params.realm !== undefined) {
      try {
        return { kind: 'bearer', realm: new URL(bearer.params.realm), service: bearer.params.service };
      } catch {
        // An unusable realm: fall through to Basic, or fail when the registry asks for auth.
      }
    }
    if (findChallenge(challenges, 'basic') !== undefined) return { kind: 'basic' };
    return { kind: 'basic' };
  }

  async #url(path: string, op: Op): Promise<URL> {
    await this.#ensurePing(op);
    return new URL(path, this.#base);
  }

  #op(options: OperationOptions): Op {
    const own = options.onProgress;
    const client = this.#onProgress;
    return {
      signal: options.signal,
      logger: options.logger ?? this.#logger,
      progress: (u) => {
        own?.(u);
        client?.(u);
      },
    };
  }

  #noteRetry(op: Op, what: string, attempt: number, delayMs: number, reason: string): void {
    op.logger.debug(`${this.registry}: ${what} failed (${reason}); retry ${attempt} in ${delayMs} ms`);
    op.progress({ kind: 'retry', what, attempt, delayMs, reason });
  }

  /**
   * One request with the retry policy: network failures, 5xx and 429 are retried (after
   * `Retry-After` when the answer has one, at most `maxRetryAfterMs`), a 401 re-authenticates
   * once, anything else outside `accept` is an error.
   */
  async #send(req: Req): Promise<Answer> {
    const attempts = req.retry === false ? 1 : this.#retry.attempts;
    let reauthenticated = false;
    for (let attempt = 1; ; attempt++) {
      throwIfAborted(req.op.signal);
      let answer: Answer;
      try {
        answer = await this.#fetchOnce(req, req.noAuth ? undefined : await this.#authorization(req));
      } catch (err) {
        const e = this.#failure(err, req, attempt);
        if (attempt < attempts && retryable.has(e)) {
          const delayMs = backoffDelay(attempt, this.#retry);
          this.#noteRetry(req.op, req.what, attempt, delayMs, describeNetworkError(err));
          await sleep(delayMs, req.op.signal);
          continue;
        }
        throw e;
      }
      const { res } = answer;
      if (req.accept.includes(res.status)) return answer;
      if (res.status === 401 && !req.explicitCredentials) {
        const challenges = parseChallenges(res.headers.get('www-authenticate') ?? '');
        await drain(res);
        if (!reauthenticated && (await this.#reauthenticate(req, challenges))) {
          reauthenticated = true;
          attempt--;
          continue;
        }
        throw await this.#unauthorized(req, challenges);
      }
      const text = await readErrorText(res);
      const error = responseError(res.status, text, {
        registry: this.registry,
        where: req.where,
        what: req.what,
        hadCredentials: req.explicitCredentials === true || (await this.#credentialsFor(req.repository)) !== undefined,
      });
      if (res.status >= 500 || res.status === 429) {
        retryable.add(error);
        const wait = retryAfterWait(res.headers.get('retry-after'), Date.now(), this.#retry.maxRetryAfterMs ?? 60_000);
        if (wait !== undefined) retryAfterOf.set(error, wait);
        if (attempt < attempts) {
          const delayMs = wait?.ms ?? backoffDelay(attempt, this.#retry);
          this.#noteRetry(
            req.op,
            req.what,
            attempt,
            delayMs,
            wait === undefined ? `HTTP ${res.status}` : `HTTP ${res.status}; ${wait.note}`,
          );
          await sleep(delayMs, req.op.signal);
          continue;
        }
      }
      throw error;
    }
  }

  /** Sends a request once, following redirects of GET and HEAD (at most 10). */
  async #fetchOnce(req: Req, authorization: string | undefined): Promise<Answer> {
    let url = req.url;
    let method: Method = req.method;
    const headers = new Headers({ 'user-agent': this.#userAgent, 'accept-encoding': 'identity', ...(req.headers ?? {}) });
    const follow = method === 'GET' || method === 'HEAD';
    for (let hop = 0; ; hop++) {
      this.#checkScheme(url, req.where);
      if (authorization !== undefined && this.#base !== undefined && url.origin === this.#base.origin) {
        headers.set('authorization', authorization);
      } else if (hop > 0) {
        // A redirect to another host (blob storage, a CDN) must not receive the registry's credentials.
        headers.delete('authorization');
      }
      const body = hop === 0 && req.body !== undefined ? await req.body() : undefined;
      const init: RequestInit & { duplex?: 'half' } = { method, headers, redirect: 'manual' };
      if (body !== undefined) init.body = body;
      if (body instanceof ReadableStream) init.duplex = 'half';
      if (req.op.signal !== undefined) init.signal = req.op.signal;
      // Streamed uploads go through node:http: Node's fetch reads a streamed request body ahead
      // of a slower server without bound (measured: ~300 MB held for a 256 MB PUT), while a
      // stream pipeline into http.request waits for the socket to drain.
      const res = body instanceof ReadableStream ? await sendStreamed(url, method, headers, body, req.op.signal) : await fetch(url, init);
      req.op.logger.debug(`${method} ${redactUrl(url)} -> ${res.status}`);
      const location = res.headers.get('location');
      if (!follow || !REDIRECTS.has(res.status) || location === null) return { res, url };
      if (hop >= 10) {
        await drain(res);
        throw new ProvenantError('REGISTRY', `${this.registry} redirected more than 10 times`, { where: req.where });
      }
      await drain(res);
      url = resolveLocation(location, url, this.registry, req.where);
      if (res.status === 303) method = 'GET';
    }
  }

  #checkScheme(url: URL, where: string): void {
    if (url.protocol === 'https:') return;
    if (url.protocol === 'http:' && (this.#insecure || isLoopback(url.host))) return;
    throw new ProvenantError('INSECURE', `refusing to follow ${url.protocol.replace(':', '')} to ${url.host}`, {
      where,
      hint: url.protocol === 'http:' ? 'plain HTTP is allowed only for localhost unless --insecure is given' : undefined,
    });
  }

  /**
   * A thrown fetch failure as a ProvenantError, on try number `tries`; network failures are
   * marked retryable (a certificate or a blocked port is not one).
   */
  #failure(err: unknown, req: Req, tries: number): ProvenantError {
    if (req.op.signal?.aborted) return aborted(req.op.signal);
    for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
      // Our own error from inside a request body (a source that failed verification, say).
      if (e instanceof ProvenantError) return e;
    }
    const e = networkError(this.registry, req.where, err, tries);
    if (e.code === 'NETWORK' && isNetworkError(err)) retryable.add(e);
    return e;
  }

  // ---------------------------------------------------------------------------------------
  // Authentication

  #credentialsFor(repository: string | undefined): Promise<Credentials | undefined> {
    const key = repository ?? '';
    let found = this.#credentials.get(key);
    if (found === undefined) {
      found = this.#keychain.resolve(this.registry, repository);
      this.#credentials.set(key, found);
      found.catch(() => this.#credentials.delete(key));
    }
    return found;
  }

  async #authorization(req: Req): Promise<string | undefined> {
    const auth = this.#auth;
    if (auth === undefined || auth.kind === 'none') return undefined;
    const creds = await this.#credentialsFor(req.repository);
    if (auth.kind === 'basic') return creds?.basicAuthorization();
    if (creds?.kind === 'registryToken') return `Bearer ${creds.registryToken}`;
    if (req.scopes.length === 0) return undefined;
    const token = await this.#token(auth, req.scopes, creds, req);
    return `Bearer ${token.token}`;
  }

  async #token(auth: AuthScheme & { kind: 'bearer' }, scopes: string[], creds: Credentials | undefined, req: Req): Promise<CachedToken> {
    const now = this.#clock();
    const wanted = scopeSet(scopes);
    this.#tokens = this.#tokens.filter((t) => t.expiresAt > now);
    const cached = this.#tokens.find((t) => covers(t.scopes, wanted));
    if (cached !== undefined) return cached;
    const key = scopeKey(scopes);
    let pending = this.#pendingTokens.get(key);
    if (pending === undefined) {
      pending = this.#fetchToken(auth, scopes, creds, req).finally(() => this.#pendingTokens.delete(key));
      this.#pendingTokens.set(key, pending);
    }
    return pending;
  }

  /**
   * The token flow (https://distribution.github.io/distribution/spec/auth/token/): GET the
   * realm with `service` and one `scope` parameter per scope, Basic credentials when there are
   * some; with an identity token, the OAuth2 refresh-token grant is POSTed instead, as Docker
   * does (https://distribution.github.io/distribution/spec/auth/oauth/).
   */
  async #fetchToken(
    auth: AuthScheme & { kind: 'bearer' },
    scopes: string[],
    creds: Credentials | undefined,
    req: Req,
  ): Promise<CachedToken> {
    const url = new URL(auth.realm);
    const headers: Record<string, string> = {};
    let body: URLSearchParams | undefined;
    let method: Method = 'GET';
    if (creds?.kind === 'identityToken') {
      method = 'POST';
      body = new URLSearchParams({ grant_type: 'refresh_token', client_id: 'provenant', refresh_token: creds.identityToken ?? '' });
      if (auth.service !== undefined) body.set('service', auth.service);
      body.set('scope', scopes.join(' '));
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else {
      if (auth.service !== undefined) url.searchParams.set('service', auth.service);
      for (const s of scopes) url.searchParams.append('scope', s);
      const basic = creds?.basicAuthorization();
      if (basic !== undefined) {
        url.searchParams.set('account', creds?.username ?? '');
        headers.authorization = basic;
      }
    }
    if (creds !== undefined && url.protocol === 'http:' && !isLoopback(url.host) && !this.#insecure) {
      throw new ProvenantError('INSECURE', `refusing to send credentials over plain HTTP to the token server ${url.host}`, {
        where: req.where,
      });
    }
    const sent = creds !== undefined;
    const requested = this.#clock();
    const { res } = await this.#send({
      method,
      url,
      scopes: [],
      headers,
      body: body === undefined ? undefined : async () => body,
      accept: [200, 400, 401, 403, 404, 405],
      what: 'get a token',
      where: req.where,
      noAuth: true,
      explicitCredentials: sent,
      op: req.op,
    });
    if (res.status !== 200) {
      const text = await readErrorText(res);
      if (res.status === 401 || res.status === 403 || res.status === 400) {
        throw unauthorized({ registry: this.registry, where: req.where, hadCredentials: sent });
      }
      throw responseError(res.status, text, { registry: this.registry, where: req.where, what: 'get a token', hadCredentials: sent });
    }
    const answer = parseJsonObject(await readLimited(res, MiB, req.where), req.where, 'token answer');
    const token = typeof answer.token === 'string' ? answer.token : typeof answer.access_token === 'string' ? answer.access_token : '';
    if (token === '')
      throw new ProvenantError('REGISTRY', `the token server of ${this.registry} answered without a token`, { where: req.where });
    // expires_in defaults to 60 s (the token spec); renew a little early so a token does not
    // expire between being picked and being used.
    const lifetimeMs = (typeof answer.expires_in === 'number' && answer.expires_in > 0 ? answer.expires_in : 60) * 1000;
    const cached: CachedToken = { token, expiresAt: requested + lifetimeMs - Math.min(5000, lifetimeMs / 10), scopes: scopeSet(scopes) };
    this.#tokens.push(cached);
    req.op.logger.debug(`${this.registry}: got a token for ${scopeKey(scopes)} (${Math.round(lifetimeMs / 1000)} s)`);
    return cached;
  }

  /** After a 401: true when a fresh try can help (a token expired early or the scope grew). */
  async #reauthenticate(req: Req, challenges: Challenge[]): Promise<boolean> {
    if (this.#auth === undefined || this.#auth.kind === 'none') {
      // The ping needed no auth but this repository does.
      this.#auth = this.#schemeFrom(challenges);
      return true;
    }
    if (this.#auth.kind !== 'bearer') return false;
    const creds = await this.#credentialsFor(req.repository);
    if (creds?.kind === 'registryToken') return false;
    // Drop the tokens that would have been used, and take the scope the registry asked for.
    const wanted = scopeSet(req.scopes);
    this.#tokens = this.#tokens.filter((t) => !covers(t.scopes, wanted));
    const bearer = findChallenge(challenges, 'bearer');
    const scope = bearer?.params.scope;
    if (scope !== undefined && scope !== '') {
      for (const s of scope.split(' ')) if (!req.scopes.includes(s)) req.scopes.push(s);
    }
    return true;
  }

  async #unauthorized(req: Req, challenges: Challenge[]): Promise<ProvenantError> {
    const hadCredentials = (await this.#credentialsFor(req.repository)) !== undefined;
    const error = findChallenge(challenges, 'bearer')?.params.error;
    if (hadCredentials && error === 'insufficient_scope') {
      return new ProvenantError('DENIED', `${this.registry} denied ${req.what}: the credentials do not grant ${req.scopes.join(' ')}`, {
        where: req.where,
        hint: 'check that the account may push to (or read) this repository',
      });
    }
    return unauthorized({ registry: this.registry, where: req.where, hadCredentials });
  }
}

// -----------------------------------------------------------------------------------------
// Helpers

/** True for hosts on this machine: localhost, 127.0.0.0/8 and [::1] (with any port). */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  const name = h.startsWith('[') ? h.slice(0, h.indexOf(']') + 1) : h.replace(/:\d+$/, '');
  return name === 'localhost' || name.endsWith('.localhost') || name === '[::1]' || /^127(\.\d{1,3}){3}$/.test(name);
}

/** A URL for logs: no user info, and query values other than harmless ones hidden. */
export function redactUrl(url: URL): string {
  const u = new URL(url);
  u.username = '';
  u.password = '';
  const safe = new Set(['digest', 'n', 'last', 'mount', 'from', 'artifactType', 'service', 'scope']);
  const params = [...u.searchParams.entries()].map(([k, v]) => [k, safe.has(k) ? v : 'REDACTED'] as const);
  u.search = '';
  for (const [k, v] of params) u.searchParams.append(k, v);
  return u.href;
}

/** The `sha256-<hex>` tag of the referrers tag schema, at most 128 characters (the tag grammar's limit). */
export function referrersTag(digest: Digest): string {
  return `${digest.slice(0, digest.indexOf(':'))}-${digestHex(digest)}`.slice(0, 128);
}

function targetWhere(registry: string, repository: string, target: string): string {
  return `${registry}/${repository}${isDigest(target) ? '@' : ':'}${target}`;
}

function baseType(contentType: string | null): string | undefined {
  const t = contentType?.split(';')[0]?.trim();
  return t === undefined || t === '' ? undefined : t;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function aborted(signal: AbortSignal): ProvenantError {
  return new ProvenantError('ABORTED', 'the operation was cancelled', { cause: signal.reason });
}

/**
 * The error for a request that failed without an answer, after `tries` tries: TLS_CERTIFICATE
 * for a certificate that did not verify, INVALID_REFERENCE for a port fetch refuses, else
 * NETWORK (whose hint says it was retried only when it was).
 */
function networkError(registry: string, where: string, cause: unknown, tries: number): ProvenantError {
  const certificate = certificateError(cause, registry, where);
  if (certificate !== undefined) return certificate;
  if (isBlockedPort(cause)) {
    return new ProvenantError(
      'INVALID_REFERENCE',
      `cannot use ${registry}: Node's fetch refuses its port (a blocked port of the Fetch standard)`,
      {
        where,
        cause,
        hint: 'serve the registry on another port (https://fetch.spec.whatwg.org/#port-blocking lists the blocked ones)',
      },
    );
  }
  return new ProvenantError('NETWORK', `cannot reach ${registry}: ${describeNetworkError(cause)}`, {
    where,
    cause,
    hint: `check the registry address and the network${tries > 1 ? `; tried ${tries} times` : ''}`,
  });
}

/** The upload session URL of a 202 answer (`Location`, maybe relative). */
function uploadLocation(answer: Answer, registry: string, repository: string): URL {
  const location = answer.res.headers.get('location');
  if (location === null || location === '') {
    throw new ProvenantError('REGISTRY', `${registry} opened an upload without a Location`, { where: `${registry}/${repository}` });
  }
  return resolveLocation(location, answer.url, registry, `${registry}/${repository}`);
}

/** A `Location` header against the URL that answered; REGISTRY when it is no URL (not a TypeError for the CLI to print). */
function resolveLocation(location: string, base: URL, registry: string, where: string): URL {
  try {
    return new URL(location, base);
  } catch (cause) {
    throw new ProvenantError(
      'REGISTRY',
      `${registry} answered with a Location that is not a URL: ${JSON.stringify(location.slice(0, 200))}`,
      {
        where,
        cause,
      },
    );
  }
}

/**
 * The upload URL with `digest=` added. Written by hand rather than with URLSearchParams, which
 * would encode the colon: the spec's examples send `?digest=sha256:...` and some registries
 * compare the raw query.
 */
function withDigest(location: URL, digest: Digest): URL {
  const url = new URL(location);
  url.search = `${url.search === '' ? '?' : `${url.search}&`}digest=${digest}`;
  return url;
}

function checkStoredDigest(res: Response, digest: Digest, registry: string, where: string): void {
  const answered = res.headers.get('docker-content-digest');
  if (isDigest(answered) && answered !== digest) {
    throw new ProvenantError('DIGEST_MISMATCH', `${registry} stored the blob as ${answered}, expected ${digest}`, { where });
  }
}

/** Discards a body so the connection can be reused. */
async function drain(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    // Already closed.
  }
}

async function readErrorText(res: Response): Promise<string> {
  try {
    const bytes = await readLimited(res, 64 * 1024, '');
    return new TextDecoder().decode(bytes);
  } catch {
    return '';
  }
}

/** Reads a body of at most `limit` bytes; a larger one is refused before it fills memory. */
async function readLimited(res: Response, limit: number, where: string): Promise<Uint8Array> {
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > limit) {
    await drain(res);
    throw new ProvenantError('INVALID_MANIFEST', `the registry's answer is larger than ${limit} bytes`, { where });
  }
  const parts: Uint8Array[] = [];
  let total = 0;
  if (res.body !== null) {
    for await (const chunk of res.body) {
      total += chunk.byteLength;
      if (total > limit) {
        await drain(res);
        throw new ProvenantError('INVALID_MANIFEST', `the registry's answer is larger than ${limit} bytes`, { where });
      }
      parts.push(chunk);
    }
  }
  return concatBytes(parts, total);
}

function parseJsonObject(bytes: Uint8Array, where: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new ProvenantError('REGISTRY', `the ${what} is not JSON`, { where, cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProvenantError('REGISTRY', `the ${what} is not a JSON object`, { where });
  }
  return value as Record<string, unknown>;
}

/** Sends a request whose body streams, with backpressure, and answers a fetch Response. */
async function sendStreamed(
  url: URL,
  method: string,
  headers: Headers,
  body: ReadableStream<Uint8Array>,
  signal: AbortSignal | undefined,
): Promise<Response> {
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const outgoing: Record<string, string> = {};
  headers.forEach((value, key) => {
    outgoing[key] = value;
  });
  return new Promise<Response>((resolve, reject) => {
    const request = send(url, { method, headers: outgoing, ...(signal === undefined ? {} : { signal }) }, (incoming) => {
      const answer = new Headers();
      for (const [key, value] of Object.entries(incoming.headers)) {
        if (value === undefined) continue;
        for (const v of Array.isArray(value) ? value : [value]) answer.append(key, v);
      }
      const status = incoming.statusCode ?? 0;
      const nullBody = status === 204 || status === 205 || status === 304;
      if (nullBody) incoming.resume();
      resolve(new Response(nullBody ? null : (Readable.toWeb(incoming) as ReadableStream<Uint8Array>), { status, headers: answer }));
    });
    request.on('error', (err) => reject(new TypeError('fetch failed', { cause: err })));
    pipeline(Readable.fromWeb(body as import('node:stream/web').ReadableStream<Uint8Array>), request).catch((err: unknown) => {
      request.destroy();
      // A failing source (say, a blob that does not match its digest) is the error to report.
      reject(err instanceof ProvenantError ? err : new TypeError('fetch failed', { cause: err }));
    });
  });
}

function streamBody(stream: ByteStream): ReadableStream<Uint8Array> {
  return ReadableStream.from(stream);
}

/** Passes bytes through, reporting progress of an upload from `start`. */
async function* progressStream(stream: ByteStream, d: Descriptor, start: number, op: Op): ByteStream {
  let done = start;
  let reported = start;
  for await (const chunk of stream) {
    done += chunk.byteLength;
    yield chunk;
    if (done - reported >= 256 * 1024 || done === d.size) {
      reported = done;
      op.progress({ kind: 'blob', digest: d.digest, done, total: d.size, phase: 'transfer' });
    }
  }
}

/** The stream without its first `n` bytes. */
async function* dropPrefix(stream: ByteStream, n: number): ByteStream {
  let skip = n;
  for await (const chunk of stream) {
    if (skip >= chunk.byteLength) {
      skip -= chunk.byteLength;
      continue;
    }
    yield skip > 0 ? chunk.subarray(skip) : chunk;
    skip = 0;
  }
}

/** Cuts a source stream into consecutive pieces of exact sizes, for chunked uploads. */
class ChunkReader {
  readonly #it: AsyncIterator<Uint8Array>;
  readonly #d: Descriptor;
  readonly #where: string;
  #pending: Uint8Array | undefined;

  constructor(stream: ByteStream, d: Descriptor, where: string) {
    this.#it = stream[Symbol.asyncIterator]();
    this.#d = d;
    this.#where = where;
  }

  async *take(n: number): ByteStream {
    let left = n;
    while (left > 0) {
      let chunk = this.#pending;
      this.#pending = undefined;
      if (chunk === undefined) {
        const next = await this.#it.next();
        if (next.done) {
          throw new ProvenantError('SIZE_MISMATCH', `the source of blob ${this.#d.digest} ended before ${this.#d.size} bytes`, {
            where: this.#where,
          });
        }
        chunk = next.value;
      }
      if (chunk.byteLength > left) {
        this.#pending = chunk.subarray(left);
        chunk = chunk.subarray(0, left);
      }
      left -= chunk.byteLength;
      if (chunk.byteLength > 0) yield chunk;
    }
  }

  async close(): Promise<void> {
    try {
      await this.#it.return?.();
    } catch {
      // The source failed already; its error was reported where it happened.
    }
  }
}
