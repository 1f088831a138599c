/**
 * Blob uploads (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pushing-blobs):
 * cross-repository mounts, one streamed PUT for small blobs, PATCH chunks for large ones, and
 * sessions resumed where the registry says they stand after a failure.
 */
import { ProvenantError, sleep, throwIfAborted } from '../errors.ts';
import type { BlobSource, ByteStream, OperationOptions } from '../io/types.ts';
import { verifyStream } from '../io/verify.ts';
import type { HttpResponse } from '../net.ts';
import { type Digest, Digester, digestAlgorithm, digestMismatch, isDigest } from '../oci/digest.ts';
import type { Descriptor } from '../oci/types.ts';
import { type Answer, drain, type Op, resolveLocation, targetWhere } from './http.ts';
import { backoffDelay } from './retry.ts';
import { repositoryScope } from './scope.ts';
import { credentialsRenewed, isRetryable, retriesExhausted, retryAfterFor, type Transport } from './transport.ts';

/** Options of {@link uploadBlob}. */
export interface UploadBlobOptions extends OperationOptions {
  /** Repositories of the same registry that may hold the blob: it is mounted from one of them when it can be. */
  mountFrom?: readonly string[] | undefined;
}

/**
 * Cross-repository mount (`POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<repo>`): true
 * when the registry linked the blob (201). Otherwise the registry opened an upload session
 * (202), whose URL is returned so the upload can use it.
 */
export async function mountBlob(t: Transport, repository: string, digest: Digest, from: string, op: Op): Promise<true | URL> {
  const url = await t.url(`/v2/${repository}/blobs/uploads/?mount=${digest}&from=${from}`, op);
  const answer = await t.send({
    method: 'POST',
    url,
    scopes: [repositoryScope(repository, ['pull', 'push']), repositoryScope(from, ['pull'])],
    repository,
    headers: { 'content-length': '0' },
    accept: [201, 202],
    what: `mount blob ${digest} from ${from}`,
    where: targetWhere(t.registry, repository, digest),
    op,
  });
  await drain(answer.res);
  if (answer.res.status === 201) return true;
  return uploadLocation(answer, t.registry, repository);
}

/**
 * Whether the registry takes a push to `repository` from these credentials, found without writing
 * anything: an upload session is opened (`POST /v2/<name>/blobs/uploads/`, which needs the `push`
 * action, whatever the registry's auth: a token server's grant, Basic credentials, a cloud
 * registry's policy) and cancelled at once (`DELETE` of its URL), before any byte went into it.
 * A token server that grants `pull` alone, a refused login, a repository that cannot be made and
 * an unreachable host all fail here as they would fail the first blob. Not every registry cancels
 * a session (the spec makes the DELETE optional): one it keeps is empty, and expires as any
 * abandoned upload does. Returns whether it was cancelled.
 *
 * @throws ProvenantError as {@link uploadBlob} would for its first request
 */
export async function checkPush(t: Transport, repository: string, op: Op): Promise<boolean> {
  const where = `${t.registry}/${repository}`;
  const location = await startUpload({ t, repository, where, op });
  try {
    const { res } = await t.send({
      method: 'DELETE',
      url: location,
      scopes: [repositoryScope(repository, ['pull', 'push'])],
      repository,
      accept: [200, 202, 204, 404, 405],
      what: 'cancel blob upload',
      where,
      op,
    });
    await drain(res);
    if (res.status === 404 || res.status === 405) {
      op.logger.debug(`${where}: the registry did not cancel the empty upload session (HTTP ${res.status}); it expires unused`);
      return false;
    }
    return true;
  } catch (err) {
    // The push was granted already; a session the registry would not cancel holds nothing.
    if (err instanceof ProvenantError && err.code === 'ABORTED') throw err;
    op.logger.debug(`${where}: cancelling the empty upload session failed (${(err as Error).message}); it expires unused`);
    return false;
  }
}

/**
 * Uploads a blob (without checking whether it is there). Tries a cross-repository mount from
 * each `mountFrom` first. Blobs up to `chunkSize` go in one streamed PUT after the POST that
 * opens the session; larger ones in PATCH chunks with Content-Range, then a closing PUT with the
 * digest. A failed session is resumed where the registry says it stands (`Range` of the upload
 * status) or started again, up to the retry budget; the source is re-opened from the right
 * offset each time.
 */
export async function uploadBlob(
  t: Transport,
  repository: string,
  source: BlobSource,
  chunkSize: number,
  options: UploadBlobOptions,
): Promise<'stored' | 'mounted'> {
  const op = t.op(options);
  const d = source.descriptor;
  const where = targetWhere(t.registry, repository, d.digest);
  let location: URL | undefined;
  // Repository names are [a-z0-9._/-] (the reference grammar), which is also what keeps them safe in a query.
  const sources = (options.mountFrom ?? []).filter((r) => r !== repository && /^[a-z0-9][a-z0-9._/-]*$/.test(r));
  for (const from of sources.slice(0, 3)) {
    const mounted = await mountBlob(t, repository, d.digest, from, op);
    if (mounted === true) {
      op.progress({ kind: 'blob', digest: d.digest, done: d.size, total: d.size, phase: 'mounted' });
      return 'mounted';
    }
    location = mounted;
  }
  const session: Session = { t, repository, where, op };
  const chunked = d.size > chunkSize;
  let offset = 0;
  // Where the last 401 that renewed the credentials came (see the catch below).
  let renewedAt = -1;
  // The chunks' hash where the registry last took one, so a resumed upload is checked whole.
  const hashed: Checkpoint = { offset: 0, digester: new Digester(digestAlgorithm(d.digest)) };
  for (let attempt = 1; ; attempt++) {
    throwIfAborted(op.signal);
    try {
      if (location === undefined) {
        location = await startUpload(session);
        offset = 0;
      }
      if (chunked)
        await uploadChunks(session, source, chunkSize, location, offset, hashed, (l, o) => {
          location = l;
          offset = o;
        });
      else await uploadWhole(session, source, location);
      op.progress({ kind: 'blob', digest: d.digest, done: d.size, total: d.size, phase: 'done' });
      return 'stored';
    } catch (err) {
      // 416: the registry and we disagree about the session's offset; only a new session helps.
      const outOfRange = err instanceof ProvenantError && /HTTP 416/.test(err.message);
      if (credentialsRenewed(err) && offset !== renewedAt) {
        // A 401 to a PATCH is a token that expired during a long upload. The chunk was not sent
        // again (its bytes came from the source once); with the credentials renewed, the upload
        // resumes at once where the registry says it stands, and that is no failed try. A second
        // 401 before any more of the blob went through is a refusal.
        renewedAt = offset;
        t.noteRetry(op, `upload blob ${d.digest}`, attempt, 0, `${(err as Error).message}; credentials renewed`);
        attempt--;
      } else {
        // A request the transport already tried as often as the budget allows (the POST that
        // opens a session, a source read from a registry) is not tried that often again.
        if (!(isRetryable(err) || outOfRange) || retriesExhausted(err) || attempt >= t.retry.attempts) throw err;
        // A 429 or 503 that says how long to wait is obeyed here too, as in Transport.send.
        const wait = retryAfterFor(err);
        const delayMs = wait?.ms ?? backoffDelay(attempt, t.retry);
        const reason = (err as Error).message;
        t.noteRetry(op, `upload blob ${d.digest}`, attempt, delayMs, wait === undefined ? reason : `${reason}; ${wait.note}`);
        await sleep(delayMs, op.signal);
      }
      // Where does the session stand? A chunked upload resumes from the registry's Range. A
      // whole-blob PUT that was answered (5xx, 429) appended nothing, so its session is reused
      // while it is still empty; after a dropped connection it may hold part of the body, and
      // a new session is opened instead.
      const answered = err instanceof ProvenantError && err.code !== 'NETWORK';
      const ask = location !== undefined && !outOfRange && (chunked || answered);
      const status = ask && location !== undefined ? await uploadStatus(session, location) : undefined;
      if (status === undefined || (!chunked && status.offset !== 0)) location = undefined;
      else {
        location = status.location;
        offset = status.offset;
      }
    }
  }
}

/**
 * The hash of a blob's first `offset` bytes, as sent in the chunks the registry took. A resumed
 * upload that starts there goes on from a copy of it instead of reading those bytes again.
 */
interface Checkpoint {
  offset: number;
  digester: Digester;
}

/** One upload's repository and call. */
interface Session {
  t: Transport;
  repository: string;
  where: string;
  op: Op;
}

async function startUpload(s: Session): Promise<URL> {
  const answer = await s.t.send({
    method: 'POST',
    url: await s.t.url(`/v2/${s.repository}/blobs/uploads/`, s.op),
    scopes: [repositoryScope(s.repository, ['pull', 'push'])],
    repository: s.repository,
    headers: { 'content-length': '0' },
    accept: [202],
    what: 'start blob upload',
    where: s.where,
    op: s.op,
  });
  await drain(answer.res);
  return uploadLocation(answer, s.t.registry, s.repository);
}

async function uploadWhole(s: Session, source: BlobSource, location: URL): Promise<void> {
  const d = source.descriptor;
  const { res } = await s.t.send({
    method: 'PUT',
    url: withDigest(location, d.digest),
    scopes: [repositoryScope(s.repository, ['pull', 'push'])],
    repository: s.repository,
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(d.size) },
    // The source is checked on the way out: a source that does not match its descriptor fails
    // here with DIGEST_MISMATCH/SIZE_MISMATCH rather than as the registry's DIGEST_INVALID.
    body: async () => progressStream(verifyStream(await source.open(), d, s.where), d, 0, s.op),
    accept: [201, 204],
    what: `upload blob ${d.digest}`,
    where: s.where,
    retry: false,
    op: s.op,
  });
  await drain(res);
  checkStoredDigest(res, d.digest, s.t.registry, s.where);
}

/**
 * The PATCH chunks from `startOffset` on, then the closing PUT. The bytes are hashed on their
 * way out as uploadWhole's are, and the PUT that commits the blob goes only once the source has
 * ended where the descriptor says and its digest matched: a registry that does not hash what it
 * was sent would otherwise store a lying source's bytes under the claimed digest.
 */
async function uploadChunks(
  s: Session,
  source: BlobSource,
  chunkSize: number,
  start: URL,
  startOffset: number,
  hashed: Checkpoint,
  progressed: (location: URL, offset: number) => void,
): Promise<void> {
  const d = source.descriptor;
  let location = start;
  let offset = startOffset;
  // Where the registry's Range is not where the last chunk ended (a connection dropped in the
  // middle of a PATCH may leave part of it stored), the bytes before it are read again to hash them.
  const digester = hashed.offset === offset ? hashed.digester.copy() : await hashPrefix(source, offset, s.where);
  const reader = new ChunkReader(await source.open(offset), d, s.where, digester);
  try {
    while (offset < d.size) {
      const n = Math.min(chunkSize, d.size - offset);
      const from = offset;
      const answer = await s.t.send({
        method: 'PATCH',
        url: location,
        scopes: [repositoryScope(s.repository, ['pull', 'push'])],
        repository: s.repository,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(n),
          // The distribution spec's form, without "bytes ": start-end, inclusive.
          'content-range': `${from}-${from + n - 1}`,
        },
        body: async () => progressStream(reader.take(n), d, from, s.op),
        bodyOnce: true,
        accept: [202],
        what: `upload chunk ${from}-${from + n - 1} of ${d.digest}`,
        where: s.where,
        retry: false,
        op: s.op,
      });
      await drain(answer.res);
      location = uploadLocation(answer, s.t.registry, s.repository);
      offset += n;
      hashed.offset = offset;
      hashed.digester = digester.copy();
      progressed(location, offset);
    }
    await reader.finish();
  } finally {
    await reader.close();
  }
  const { res } = await s.t.send({
    method: 'PUT',
    url: withDigest(location, d.digest),
    scopes: [repositoryScope(s.repository, ['pull', 'push'])],
    repository: s.repository,
    headers: { 'content-length': '0' },
    accept: [201, 204],
    what: `finish upload of ${d.digest}`,
    where: s.where,
    retry: false,
    op: s.op,
  });
  await drain(res);
  checkStoredDigest(res, d.digest, s.t.registry, s.where);
}

/** Where an upload session stands: the next offset from `Range: 0-<last>`, or undefined when it is gone. */
async function uploadStatus(s: Session, location: URL): Promise<{ location: URL; offset: number } | undefined> {
  try {
    const answer = await s.t.send({
      method: 'GET',
      url: location,
      scopes: [repositoryScope(s.repository, ['pull', 'push'])],
      repository: s.repository,
      accept: [204, 200],
      what: 'check upload status',
      where: s.where,
      op: s.op,
    });
    await drain(answer.res);
    const m = /^(?:bytes=)?0-(\d+)$/.exec(answer.res.headers.get('range') ?? '');
    if (m === null) return undefined;
    // "0-0" is ambiguous (nothing, or one byte): distribution writes it for an empty session.
    const last = Number(m[1]);
    const offset = last === 0 ? 0 : last + 1;
    return { location: answer.res.headers.has('location') ? uploadLocation(answer, s.t.registry, s.repository) : location, offset };
  } catch (err) {
    if (err instanceof ProvenantError && err.code === 'ABORTED') throw err;
    // A registry that could not be reached on any try will not open a new session either.
    if (err instanceof ProvenantError && err.code === 'NETWORK' && retriesExhausted(err)) throw err;
    return undefined;
  }
}

/** The upload session URL of a 202 answer (`Location`, maybe relative). */
function uploadLocation(answer: Answer, registry: string, repository: string): URL {
  const location = answer.res.headers.get('location');
  if (location === null || location === '') {
    throw new ProvenantError('REGISTRY', `${registry} opened an upload without a Location`, { where: `${registry}/${repository}` });
  }
  return resolveLocation(location, answer.url, registry, `${registry}/${repository}`);
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

/**
 * DIGEST_MISMATCH when the registry says it stored the blob under another digest of the same
 * algorithm. One of another algorithm says nothing: a registry may name a blob by its own
 * canonical algorithm (the distribution spec lets its digest differ from the client's), and
 * distribution answers a sha512 upload with the blob's sha256.
 */
function checkStoredDigest(res: HttpResponse, digest: Digest, registry: string, where: string): void {
  const answered = res.headers.get('docker-content-digest');
  if (isDigest(answered) && digestAlgorithm(answered) === digestAlgorithm(digest) && answered !== digest) {
    throw new ProvenantError('DIGEST_MISMATCH', `${registry} stored the blob as ${answered}, expected ${digest}`, { where });
  }
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

/** A digester that has seen the first `n` bytes of `source`. */
async function hashPrefix(source: BlobSource, n: number, where: string): Promise<Digester> {
  const d = source.descriptor;
  const digester = new Digester(digestAlgorithm(d.digest));
  if (n === 0) return digester;
  const reader = new ChunkReader(await source.open(), d, where, digester);
  try {
    for await (const _ of reader.take(n));
  } finally {
    await reader.close();
  }
  return digester;
}

/**
 * Cuts a source stream into consecutive pieces of exact sizes, for chunked uploads, hashing what
 * it hands out; {@link ChunkReader.finish} checks the whole.
 */
class ChunkReader {
  readonly #it: AsyncIterator<Uint8Array>;
  readonly #d: Descriptor;
  readonly #where: string;
  readonly #digester: Digester;
  #pending: Uint8Array | undefined;

  constructor(stream: ByteStream, d: Descriptor, where: string, digester: Digester) {
    this.#it = stream[Symbol.asyncIterator]();
    this.#d = d;
    this.#where = where;
    this.#digester = digester;
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
      this.#digester.update(chunk);
      if (chunk.byteLength > 0) yield chunk;
    }
  }

  /**
   * After the last chunk: the source must end here (which also lets a source that checks itself,
   * such as a registry's verified read, finish its check), and what was taken must hash to the
   * descriptor's digest. SIZE_MISMATCH or DIGEST_MISMATCH otherwise.
   */
  async finish(): Promise<void> {
    if ((this.#pending !== undefined && this.#pending.byteLength > 0) || (await this.#nextNonEmpty())) {
      throw new ProvenantError('SIZE_MISMATCH', `the source of blob ${this.#d.digest} has more than ${this.#d.size} bytes`, {
        where: this.#where,
        hint: 'the content was truncated or changed in storage or transit',
      });
    }
    const actual = this.#digester.digest();
    if (actual !== this.#d.digest) throw digestMismatch(this.#d.digest, actual, this.#where);
  }

  /** True when the source has another byte to give. */
  async #nextNonEmpty(): Promise<boolean> {
    for (;;) {
      const next = await this.#it.next();
      if (next.done) return false;
      if (next.value.byteLength > 0) return true;
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
