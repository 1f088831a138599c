/**
 * The client of the OCI Distribution API for one registry host
 * (https://github.com/opencontainers/distribution-spec): manifests, tags, blob reads that resume,
 * uploads and referrers, over one {@link Transport}. The parts live beside it: transport.ts (the
 * connection, retries, redirects), auth.ts (challenges and tokens), uploads.ts, referrers.ts.
 */
import { abortedError, ProvenantError, sleep } from '../errors.ts';
import { Limiter } from '../io/limit.ts';
import type { BlobSource, ByteStream, OperationOptions } from '../io/types.ts';
import { MANIFEST_LIMIT, verifyStream } from '../io/verify.ts';
import type { HttpResponse, Method } from '../net.ts';
import { parseStored, type Stored } from '../oci/content.ts';
import { type Digest, Digester, digestAlgorithm, digestMismatch, isDigest } from '../oci/digest.ts';
import { MANIFEST_ACCEPT } from '../oci/mediatypes.ts';
import { isSignatureTag, tagsHereHint } from '../oci/tags-hint.ts';
import type { Descriptor } from '../oci/types.ts';
import { isValidTag } from '../ref/reference.ts';
import { RegistryResponseError } from './errors.ts';
import {
  type Answer,
  baseType,
  drain,
  LIST_BYTES,
  MiB,
  networkError,
  type Op,
  parseJsonObject,
  type Req,
  readLimited,
  readListPage,
  targetWhere,
} from './http.ts';
import { nextLink } from './link.ts';
import { listReferrers, probeReferrersEndpoint, type ReferrersEndpointAnswer, type ReferrersSupport } from './referrers.ts';
import { backoffDelay, isNetworkError } from './retry.ts';
import { repositoryScope } from './scope.ts';
import { Transport, type TransportOptions } from './transport.ts';
import { checkPush, mountBlob, type UploadBlobOptions, uploadBlob } from './uploads.ts';

/**
 * The first page of tags asked for to name them in the hint of a tag that is not there: a
 * registry that ignores `n` answers all of them, which the bytes bound (a tag is at most 128
 * characters, so 1 MiB holds the 1000 asked for several times over).
 */
const HINT_TAGS = 1000;
const HINT_BYTES = MiB;
/**
 * How long the tag list asked for a hint may take: a registry that stalls it would otherwise hold
 * a "not found" for as long as a request may (300 s idle), where without the hint it is said at once.
 */
const HINT_MS = 5000;

/** Options of a {@link RegistryClient}. */
export interface RegistryClientOptions extends TransportOptions {
  /** Blob uploads at once through this client. Default 4. */
  concurrency?: number | undefined;
  /** Blobs larger than this are uploaded in chunks (PATCH); smaller ones in one PUT. Default 64 MiB. */
  chunkSize?: number | undefined;
  /** Page size asked for when listing tags. Default 1000. */
  tagPageSize?: number | undefined;
}

/** Options of calls that take a repository's blob and may resume. */
export interface ReadBlobOptions extends OperationOptions {
  /** Start the returned stream here (the whole blob is still verified). */
  offset?: number | undefined;
}

/** What a manifest PUT returned. */
export interface PutManifestResult {
  digest: Digest;
  /** The registry answered with `OCI-Subject`: it indexes referrers itself (OCI distribution 1.1). */
  subjectProcessed: boolean;
}

/**
 * A client of the OCI Distribution API for one registry host. It probes the scheme, answers auth
 * challenges (Basic, and Bearer tokens cached per scope until they expire), retries what may pass
 * (5xx, 429, dropped connections) with backoff and jitter, resumes blob downloads with `Range`,
 * and turns every other answer into a {@link ProvenantError} with the registry's own error code
 * behind it.
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
  readonly #t: Transport;
  readonly #tagPageSize: number;
  readonly #referrers: ReferrersSupport = new Map();

  /** @throws ProvenantError `INVALID_REFERENCE` when `registry` is no host[:port] a connection can be made to */
  constructor(registry: string, options: RegistryClientOptions = {}) {
    this.#t = new Transport(registry, options);
    this.registry = registry;
    this.apiHost = this.#t.apiHost;
    this.#tagPageSize = options.tagPageSize ?? 1000;
    this.uploads = new Limiter(options.concurrency ?? 4);
    this.chunkSize = Math.max(1, options.chunkSize ?? 64 * MiB);
  }

  toString(): string {
    return `RegistryClient(${this.registry})`;
  }

  /**
   * A request about one manifest or blob of `repository` (`path` is `manifests/<target>` or
   * `blobs/<digest>`), needing `pull` unless `actions` says more; errors name the repository
   * and target, never the URL.
   */
  async #send(
    op: Op,
    method: Method,
    repository: string,
    path: string,
    request: Pick<Req, 'accept' | 'what' | 'headers' | 'body'> & { actions?: Array<'pull' | 'push' | 'delete'> },
  ): Promise<Answer> {
    const { actions, ...rest } = request;
    return this.#t.send({
      ...rest,
      method,
      url: await this.#t.url(`/v2/${repository}/${path}`, op),
      scopes: [repositoryScope(repository, actions ?? ['pull'])],
      repository,
      where: targetWhere(this.registry, repository, path.slice(path.indexOf('/') + 1)),
      op,
    });
  }

  /** {@link #send} with the answer read by `read` under the same retries ({@link Transport.sendAndRead}). */
  async #sendAndRead<T>(
    op: Op,
    method: Method,
    repository: string,
    path: string,
    request: Pick<Req, 'accept' | 'what' | 'headers' | 'body'>,
    read: (answer: Answer) => Promise<T>,
  ): Promise<T> {
    return this.#t.sendAndRead(
      {
        ...request,
        method,
        url: await this.#t.url(`/v2/${repository}/${path}`, op),
        scopes: [repositoryScope(repository, ['pull'])],
        repository,
        where: targetWhere(this.registry, repository, path.slice(path.indexOf('/') + 1)),
        op,
      },
      read,
    );
  }

  /** Checks that the registry answers the API (`GET /v2/`) and learns how it authenticates. */
  async ping(options: OperationOptions = {}): Promise<void> {
    await this.#t.ping(this.#t.op(options));
  }

  /**
   * Resolves a tag or digest with HEAD: the manifest's digest (`Docker-Content-Digest`), size
   * and media type. Undefined when absent. Falls back to a GET when the registry leaves the
   * digest out of its HEAD answer.
   */
  async headManifest(repository: string, target: string, options: OperationOptions = {}): Promise<Descriptor | undefined> {
    const op = this.#t.op(options);
    const { res } = await this.#send(op, 'HEAD', repository, `manifests/${target}`, {
      headers: { accept: MANIFEST_ACCEPT },
      accept: [200, 404],
      what: `resolve ${target}`,
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
    const op = this.#t.op(options);
    const where = targetWhere(this.registry, repository, target);
    let answered: { res: HttpResponse; bytes: Uint8Array };
    try {
      answered = await this.#sendAndRead(
        op,
        'GET',
        repository,
        `manifests/${target}`,
        {
          // Every manifest type we read, OCI first: distribution 2.8 answers 404 (MANIFEST_UNKNOWN)
          // for a manifest stored as OCI when Accept does not name its type (distribution#3099),
          // and converts or refuses by Accept elsewhere.
          headers: { accept: MANIFEST_ACCEPT },
          accept: [200],
          what: `get manifest ${target}`,
        },
        async (answer) => ({ res: answer.res, bytes: await readLimited(answer.res, MANIFEST_LIMIT, where) }),
      );
    } catch (err) {
      throw await this.#withTagsHint(err, repository, target, op);
    }
    const { res, bytes } = answered;
    const served = res.headers.get('docker-content-digest');
    const digest = isDigest(target) ? target : isDigest(served) ? served : undefined;
    return parseStored(bytes, { mediaType: res.headers.get('content-type') ?? undefined, digest, where });
  }

  /**
   * Stores a manifest under `target` (its digest, or a tag): the exact bytes, with its media
   * type as Content-Type. The blobs and manifests it names must be in the repository already.
   */
  async putManifest(repository: string, target: string, stored: Stored, options: OperationOptions = {}): Promise<PutManifestResult> {
    const op = this.#t.op(options);
    const where = targetWhere(this.registry, repository, target);
    const { res } = await this.#send(op, 'PUT', repository, `manifests/${target}`, {
      headers: { 'content-type': stored.mediaType },
      body: async () => stored.bytes,
      accept: [200, 201, 202],
      what: `push manifest ${target}`,
      actions: ['pull', 'push'],
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
    const op = this.#t.op(options);
    const { res } = await this.#send(op, 'DELETE', repository, `manifests/${digest}`, {
      accept: [200, 202],
      what: `delete manifest ${digest}`,
      actions: ['delete'],
    });
    await drain(res);
  }

  /**
   * A tag that is not there, with the tags that are as its hint, as a layout says it: from one
   * request for the first page of the tag list (bounded in tags and bytes, not retried), and
   * without a hint when that fails. A digest, and a tag of signatures or attestations, which
   * readers ask for expecting it may be missing, get none: no request is made for them.
   */
  async #withTagsHint(err: unknown, repository: string, target: string, op: Op): Promise<unknown> {
    if (!(err instanceof RegistryResponseError) || err.code !== 'NOT_FOUND' || err.hint !== undefined) return err;
    if (isDigest(target) || isSignatureTag(target)) return err;
    let page: { tags: string[]; next: URL | undefined };
    const deadline = AbortSignal.timeout(HINT_MS);
    const hintOp = { ...op, signal: op.signal === undefined ? deadline : AbortSignal.any([op.signal, deadline]) };
    try {
      const url = await this.#t.url(`/v2/${repository}/tags/list?n=${HINT_TAGS}`, hintOp);
      page = await this.#tagPage(repository, url, HINT_BYTES, hintOp, `${this.registry}/${repository}`, false);
    } catch (listErr) {
      // The caller's own abort ends the call; the hint's deadline only drops the hint.
      if (op.signal?.aborted === true) throw listErr;
      op.logger.debug(`${this.registry}/${repository}: no tags for the hint (${(listErr as Error).message})`);
      return err;
    }
    // A reference without a tag names latest, which one who wrote none may not know.
    const latest = target === 'latest' ? '; a reference without a tag names latest' : '';
    const hint = `${tagsHereHint(page.tags, { more: page.next !== undefined })}${latest}`;
    return new RegistryResponseError(err.code, err.message, { where: err.where, hint, cause: err.cause }, err.status, err.registryErrors);
  }

  /** Every tag of a repository, following `Link: <...>; rel="next"` pages. */
  async listTags(repository: string, options: OperationOptions = {}): Promise<string[]> {
    const op = this.#t.op(options);
    const where = `${this.registry}/${repository}`;
    let url: URL | undefined = await this.#t.url(`/v2/${repository}/tags/list?n=${this.#tagPageSize}`, op);
    const tags: string[] = [];
    const seen = new Set<string>();
    // What all pages may hold together: each is a few KB from a registry that pages, and pages
    // (up to 10,000) of 16 MiB each would be memory without end from one that does not behave.
    let left = LIST_BYTES;
    while (url !== undefined) {
      if (seen.has(url.href) || seen.size > 10_000) {
        throw new ProvenantError('REGISTRY', `${this.registry} paginates the tag list in a loop`, { where });
      }
      seen.add(url.href);
      const page = await this.#tagPage(repository, url, left, op, where);
      left -= page.size;
      // One by one: a spread passes each tag as an argument, and a page of millions overflows the stack.
      for (const t of page.tags) tags.push(t);
      url = page.next;
    }
    return tags;
  }

  /** One page of the tag list: its tags, the next page's URL, and its size in bytes. */
  async #tagPage(
    repository: string,
    url: URL,
    left: number,
    op: Op,
    where: string,
    retry?: false,
  ): Promise<{ tags: string[]; next: URL | undefined; size: number }> {
    const { answer, bytes } = await this.#t.sendAndRead(
      {
        method: 'GET',
        url,
        scopes: [repositoryScope(repository, ['pull'])],
        repository,
        accept: [200],
        what: 'list tags',
        where,
        op,
        ...(retry === false ? { retry } : {}),
      },
      async (a) => ({ answer: a, bytes: await readListPage(a.res, left, where, 'tag list') }),
    );
    const tags: string[] = [];
    const list = parseJsonObject(bytes, where, 'tag list').tags;
    if (list !== null && list !== undefined) {
      if (!Array.isArray(list)) throw new ProvenantError('REGISTRY', 'the tag list is not an array', { where });
      // A tag is a name, not text: one that no reference could name (a newline, an escape
      // sequence) is the registry's mistake, and would be a line of its own in a listing.
      for (const t of list) {
        if (typeof t === 'string' && isValidTag(t)) tags.push(t);
        else op.logger.debug(`${where}: left out ${JSON.stringify(t)}, which is no tag`);
      }
    }
    return { tags, next: nextLink(answer.res.headers.get('link'), answer.url), size: bytes.length };
  }

  /**
   * The referrers API (OCI distribution 1.1, `GET /v2/<name>/referrers/<digest>`): descriptors
   * of manifests whose `subject` is `digest`, filtered by `artifactType`. Undefined when the
   * registry has no referrers API: the caller then reads the `sha256-<hex>` tag.
   */
  async referrers(
    repository: string,
    digest: Digest,
    options: OperationOptions & { artifactType?: string | undefined } = {},
  ): Promise<Descriptor[] | undefined> {
    return listReferrers(this.#t, this.#referrers, repository, digest, options);
  }

  /**
   * One request to the referrers endpoint, reported as it came back (status, content type,
   * whether the body is an OCI index): for probes that must say what they saw. See
   * {@link probeReferrersEndpoint}.
   */
  async probeReferrers(repository: string, digest: Digest, options: OperationOptions = {}): Promise<ReferrersEndpointAnswer> {
    return probeReferrersEndpoint(this.#t, repository, digest, options);
  }

  /**
   * Cross-repository mount (`POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<repo>`): true
   * when the registry linked the blob (201). Otherwise the registry opened an upload session
   * (202), whose URL is returned so the upload can use it.
   */
  async mountBlob(repository: string, digest: Digest, from: string, options: OperationOptions = {}): Promise<true | URL> {
    return mountBlob(this.#t, repository, digest, from, this.#t.op(options));
  }

  /**
   * Whether these credentials may push to `repository`: an upload session opened and cancelled,
   * nothing written (see uploads.ts's checkPush). True when the registry cancelled the session.
   *
   * @throws ProvenantError `UNAUTHORIZED`, `DENIED`, `NETWORK`, ... as the first blob's upload would
   */
  async checkPush(repository: string, options: OperationOptions = {}): Promise<boolean> {
    return checkPush(this.#t, repository, this.#t.op(options));
  }

  /**
   * Uploads a blob (without checking whether it is there: {@link pushBlob} does), mounting it
   * from one of `mountFrom` when it can; see uploads.ts for how sessions resume.
   */
  async uploadBlob(repository: string, source: BlobSource, options: UploadBlobOptions = {}): Promise<'stored' | 'mounted'> {
    return uploadBlob(this.#t, repository, source, this.chunkSize, options);
  }

  /** The blob's size when the repository has it (HEAD), or undefined. */
  async headBlob(repository: string, digest: Digest, options: OperationOptions = {}): Promise<Descriptor | undefined> {
    const op = this.#t.op(options);
    const { res } = await this.#send(op, 'HEAD', repository, `blobs/${digest}`, {
      accept: [200, 404],
      what: `check blob ${digest}`,
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
    const op = this.#t.op(options);
    const where = targetWhere(this.registry, repository, descriptor.digest);
    const request = async (from: number): Promise<Answer> =>
      this.#send(op, 'GET', repository, `blobs/${descriptor.digest}`, {
        headers: from > 0 ? { range: `bytes=${from}-` } : {},
        accept: from > 0 ? [200, 206] : [200],
        what: `get blob ${descriptor.digest}`,
      });
    const first = await request(0);
    // A size of -1 is one a HEAD left out (headBlob): the GET's Content-Length says it, else the
    // blob is checked by its digest alone.
    const size = descriptor.size >= 0 ? descriptor.size : contentLength(first.res);
    const known = size === undefined ? descriptor : { ...descriptor, size };
    const raw = this.#resumingBody(first.res, request, known, where, op);
    const verified = size === undefined ? verifyDigestOnly(raw, descriptor.digest, where) : verifyStream(raw, known, where);
    const offset = options.offset ?? 0;
    return offset > 0 ? dropPrefix(verified, offset) : verified;
  }

  async *#resumingBody(
    first: HttpResponse,
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
          op.progress({
            kind: 'blob',
            digest: descriptor.digest,
            done: received,
            total: descriptor.size >= 0 ? descriptor.size : received,
            phase: 'transfer',
          });
          yield c;
        }
        return;
      } catch (err) {
        if (op.signal?.aborted) throw abortedError(op.signal);
        const complete = descriptor.size >= 0 && received >= descriptor.size;
        if (!isNetworkError(err) || resumes + 1 >= this.#t.retry.attempts || complete) {
          throw err instanceof ProvenantError ? err : networkError(this.registry, where, err, resumes + 1, `get blob ${descriptor.digest}`);
        }
        resumes++;
        const delayMs = backoffDelay(resumes, this.#t.retry);
        this.#t.noteRetry(op, `get blob ${descriptor.digest}`, resumes, delayMs, `connection dropped after ${received} bytes`);
        await sleep(delayMs, op.signal);
        const next = await request(received);
        res = next.res;
        // A 206 starts at `received`; a 200 (Range ignored) starts again at byte 0. Whatever was
        // left to skip of an earlier 200 cut short belongs to that answer, not to this one.
        skip = res.status === 206 ? 0 : received;
        if (res.status === 206) {
          const start = /^bytes\s+(\d+)-/.exec(res.headers.get('content-range') ?? '')?.[1];
          if (start === undefined || Number(start) !== received) {
            await drain(res);
            throw new ProvenantError('REGISTRY', `${this.registry} resumed the blob at the wrong offset`, { where });
          }
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
        this.#t.op(options).progress({ kind: 'blob', digest: d.digest, done: d.size, total: d.size, phase: 'exists' });
        return 'exists';
      }
      return this.uploadBlob(repository, source, options);
    });
  }
}

/** A response's Content-Length, when it sends a valid one. */
function contentLength(res: HttpResponse): number | undefined {
  const text = res.headers.get('content-length');
  const n = text === null || !/^\d+$/.test(text.trim()) ? Number.NaN : Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * A blob checked by its digest alone, for a size nobody said ({@link verifyStream} checks the
 * size as well when it is known): at the end, DIGEST_MISMATCH unless the bytes are the digest's.
 */
async function* verifyDigestOnly(stream: ByteStream, digest: Digest, where: string): ByteStream {
  const digester = new Digester(digestAlgorithm(digest));
  for await (const chunk of stream) {
    digester.update(chunk);
    yield chunk;
  }
  const actual = digester.digest();
  if (actual !== digest) throw digestMismatch(digest, actual, where);
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
