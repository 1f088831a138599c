/**
 * The plumbing under the registry client's requests: what a request and its answer are, bounded
 * body reads, URLs fit for logs and errors, and the request itself, through node:http.
 *
 * Requests go through node:http(s) rather than `fetch`: Node loads fetch's implementation (undici)
 * on first use, about 40 ms of every registry command's start (issue 16), and a streamed request
 * body through fetch is read ahead of a slower server without bound (measured: ~300 MB held for a
 * 256 MB PUT), where a stream pipeline into http.request waits for the socket to drain. The
 * modules are taken with process.getBuiltinModule: an ESM import of node:http builds its export
 * facade, whose lazy WebSocket export loads undici all the same.
 */
import { concatBytes, decodeUtf8 } from '../bytes.ts';
import { isProvenantError, ProvenantError } from '../errors.ts';
import type { Logger, ProgressUpdate } from '../io/types.ts';
import { blockedPortError, certificateError, type HttpResponse, type Method, type RequestBody } from '../net.ts';
import { isDigest } from '../oci/digest.ts';
import { describeNetworkError } from './retry.ts';

export const MiB = 1024 * 1024;

/** One call's signal, logger and progress sink (the call's own and the client's). */
export interface Op {
  signal: AbortSignal | undefined;
  logger: Logger;
  progress: (update: ProgressUpdate) => void;
}

/** A request to the registry (or its token server), as the transport sends it. */
export interface Req {
  method: Method;
  url: URL;
  /** Token scopes the request needs (empty for requests to other hosts). */
  scopes: string[];
  repository?: string | undefined;
  headers?: Record<string, string>;
  /** Creates the body for each try (a stream can be sent only once). */
  body?: (() => Promise<RequestBody>) | undefined;
  /**
   * `body` cannot be made again: it reads on from a stream the first try consumed (a PATCH
   * chunk). A 401 then renews the credentials without sending the request again and fails with
   * an error that `credentialsRenewed` (transport.ts) knows, for the caller to resume the
   * upload where the registry says it stands.
   */
  bodyOnce?: boolean;
  /** Statuses handed back to the caller; any other is an error. */
  accept: readonly number[];
  what: string;
  where: string;
  /** Retry failures here (default); upload requests restart their session instead. */
  retry?: boolean;
  /** Send no registry Authorization (pings, token requests, other hosts). */
  noAuth?: boolean;
  /** The API check (`GET /v2/`), which never carries credentials: a 403 to it is no matter of logging in. */
  ping?: boolean;
  /** Credentials were sent in `headers` (token requests): a 401 means they are wrong. */
  explicitCredentials?: boolean;
  /**
   * Secrets the request sends (a refresh token in a form, the password of its own Authorization),
   * masked in its errors; the transport adds those of every Authorization it sends and of the
   * keychain's credentials itself, so listing them here too is harmless.
   */
  secrets?: readonly string[];
  op: Op;
}

/** A registry's answer. */
export interface Answer {
  res: HttpResponse;
  /** The URL that answered (after redirects), to resolve relative Location and Link against. */
  url: URL;
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

/** True when `url` is on the host name of `apiHost` (any port): the machine the user marked insecure. */
export function sameHostName(url: URL, apiHost: string): boolean {
  return url.hostname.toLowerCase() === new URL(`https://${apiHost}`).hostname.toLowerCase();
}

/** `registry/repository:tag` or `registry/repository@digest`, for messages (never a URL). */
export function targetWhere(registry: string, repository: string, target: string): string {
  return `${registry}/${repository}${isDigest(target) ? '@' : ':'}${target}`;
}

/** The media type of a Content-Type header, without parameters. */
export function baseType(contentType: string | null): string | undefined {
  const t = contentType?.split(';')[0]?.trim();
  return t === undefined || t === '' ? undefined : t;
}

/**
 * The error for a request (`what`) that failed without an answer, after `tries` tries:
 * TLS_CERTIFICATE for a certificate that did not verify, INVALID_REFERENCE for a port fetch
 * refuses, else NETWORK (whose hint says what was retried and how often, only when it was).
 */
export function networkError(registry: string, where: string, cause: unknown, tries: number, what: string): ProvenantError {
  const certificate = certificateError(cause, registry, where);
  if (certificate !== undefined) return certificate;
  const blocked = blockedPortError(cause, 'INVALID_REFERENCE', `cannot use ${registry}`, where, 'serve the registry');
  if (blocked !== undefined) return blocked;
  return new ProvenantError('NETWORK', `cannot reach ${registry}: ${describeNetworkError(cause)}`, {
    where,
    cause,
    hint: `check the registry address and the network${tries > 1 ? `; ${what} was tried ${tries} times` : ''}`,
  });
}

/** A `Location` header against the URL that answered; REGISTRY when it is no URL (not a TypeError for the CLI to print). */
export function resolveLocation(location: string, base: URL, registry: string, where: string): URL {
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

/** The largest declared body {@link drain} reads to its end rather than cancels. */
const DRAIN_READ_LIMIT = 64 * 1024;

/**
 * Discards a body. A small one (a ping's `{}`, an error's JSON, a HEAD's empty body) is read to
 * its end, which hands the connection back to the agent for the next request; cancelling
 * destroys the socket, so that the next request (a no-op push's one look-up after its ping)
 * connected again, and Node made the standard error stream while destroying it (issue 16). A large or
 * unsized body is cancelled, not waited for.
 */
export async function drain(res: HttpResponse): Promise<void> {
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  try {
    if (res.body !== null && Number.isFinite(declared) && declared <= DRAIN_READ_LIMIT) {
      for await (const _ of res.body) {
        // Read to the end: the connection is then free.
      }
      return;
    }
    await res.body?.cancel();
  } catch {
    // Already closed.
  }
}

/** The start of an error answer's body, as text; empty when it cannot be read. */
export async function readErrorText(res: HttpResponse): Promise<string> {
  try {
    return decodeUtf8(await readLimited(res, 64 * 1024, ''));
  } catch {
    return '';
  }
}

/** The bytes a listing (tags, referrers) may take over all its pages. */
export const LIST_BYTES = 64 * MiB;

/**
 * One page of a listing, of at most 16 MiB and what is `left` of {@link LIST_BYTES}.
 *
 * @throws ProvenantError `INVALID_MANIFEST` for a page over 16 MiB; `REGISTRY` when the pages
 *   together go over {@link LIST_BYTES}
 */
export async function readListPage(res: HttpResponse, left: number, where: string, what: string): Promise<Uint8Array> {
  if (left >= 16 * MiB) return readLimited(res, 16 * MiB, where);
  try {
    return await readLimited(res, left, where);
  } catch (err) {
    if (!isProvenantError(err, 'INVALID_MANIFEST')) throw err;
    throw new ProvenantError('REGISTRY', `the registry's ${what} is larger than ${LIST_BYTES / MiB} MiB over its pages`, {
      where,
      cause: err,
    });
  }
}

/** Reads a body of at most `limit` bytes; a larger one is refused before it fills memory. */
export async function readLimited(res: HttpResponse, limit: number, where: string): Promise<Uint8Array> {
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

/** A JSON object from the registry (a tag list, a token answer); REGISTRY when it is none. */
export function parseJsonObject(bytes: Uint8Array, where: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decodeUtf8(bytes));
  } catch (cause) {
    throw new ProvenantError('REGISTRY', `the ${what} is not JSON`, { where, cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProvenantError('REGISTRY', `the ${what} is not a JSON object`, { where });
  }
  return value as Record<string, unknown>;
}
