/**
 * Connection failures that retrying cannot fix, recognised in the `cause` chain of an error from
 * `fetch` (undici wraps the socket's error in `TypeError: fetch failed`) or from `node:http(s)`:
 * a TLS certificate that does not verify, and a port the Fetch standard blocks.
 */
import type { IncomingMessage } from 'node:http';
import { encodeUtf8 } from './bytes.ts';
import { type ErrorCode, ProvenantError } from './errors.ts';

/** What is wrong with a server's certificate, which decides what the user can do about it. */
export type CertificateProblem = 'untrusted' | 'expired' | 'not-yet-valid' | 'wrong-name' | 'invalid';

// OpenSSL's verification results as Node names them (`err.code`), by what fixes them
// (https://nodejs.org/api/tls.html#x509-certificate-error-codes).
const UNTRUSTED = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
]);
const EXPIRED = new Set(['CERT_HAS_EXPIRED', 'CRL_HAS_EXPIRED']);
const NOT_YET_VALID = new Set(['CERT_NOT_YET_VALID', 'CRL_NOT_YET_VALID']);
const WRONG_NAME = new Set(['ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_TLS_CERT_ALTNAME_FORMAT', 'HOSTNAME_MISMATCH']);
const INVALID = new Set([
  'UNABLE_TO_GET_CRL',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CRL_SIGNATURE_FAILURE',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
]);

/** Walks `err` and its causes (at most 8 deep: cause chains can be cyclic). */
function* causes(err: unknown): Generator<{ code?: unknown; message?: unknown }> {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (typeof e === 'object') yield e as { code?: unknown; message?: unknown };
  }
}

/** The certificate error in `err`'s cause chain: its code and what kind of problem it is. */
export function certificateFailure(err: unknown): { code: string; problem: CertificateProblem; message: string } | undefined {
  for (const e of causes(err)) {
    const code = e.code;
    if (typeof code !== 'string') continue;
    const problem: CertificateProblem | undefined = UNTRUSTED.has(code)
      ? 'untrusted'
      : EXPIRED.has(code)
        ? 'expired'
        : NOT_YET_VALID.has(code)
          ? 'not-yet-valid'
          : WRONG_NAME.has(code)
            ? 'wrong-name'
            : INVALID.has(code) || code.startsWith('ERR_TLS_CERT')
              ? 'invalid'
              : undefined;
    if (problem === undefined) continue;
    // Node appends advice to some messages ("...; if the root CA is installed locally, try
    // running Node.js with --use-system-ca"); the hint gives ours instead.
    const message = typeof e.message === 'string' ? (e.message.split(';')[0] ?? '').trim() : '';
    return { code, problem, message };
  }
  return undefined;
}

/**
 * The hint of a certificate this machine does not trust, in the command line's terms; exported so
 * that an adapter without --insecure (the Action) can say its own instead.
 */
export const CA_HINT =
  'if the server uses a private or self-signed CA, give Node its CA certificate (PEM) with NODE_EXTRA_CA_CERTS=/path/to/ca.pem; ' +
  'TLS verification cannot be turned off (--insecure only allows plain HTTP)';

/**
 * `TLS_CERTIFICATE` for a certificate failure in `err`'s cause chain, or undefined. `host` is
 * the server as the user named it, `where` the reference or URL for the message. Not retried:
 * the same certificate comes back.
 */
export function certificateError(err: unknown, host: string, where: string): ProvenantError | undefined {
  const failure = certificateFailure(err);
  if (failure === undefined) return undefined;
  const said = failure.message === '' ? failure.code : `${failure.code}: ${failure.message}`;
  const [what, hint] = ((): [string, string] => {
    switch (failure.problem) {
      case 'untrusted':
        return [`is not signed by a CA this machine trusts`, CA_HINT];
      case 'expired':
        return ['has expired', `${host} must renew its certificate; if it has, check this machine's clock`];
      case 'not-yet-valid':
        return ['is not valid yet', "check this machine's clock"];
      case 'wrong-name':
        return [
          `is not issued for ${host}`,
          'use the host name the certificate names, or reissue it with this name (or IP address) in subjectAltName',
        ];
      default:
        return ['did not verify', CA_HINT];
    }
  })();
  return new ProvenantError('TLS_CERTIFICATE', `the TLS certificate of ${host} ${what} (${said})`, { where, hint, cause: err });
}

/**
 * The error for a request whose port `fetch` refuses (see {@link isBlockedPort}), or undefined
 * when `err` is another failure: `code` is what the caller's input is (a reference, a
 * configuration), `what` says what could not be done (`cannot use 127.0.0.1:10080`), `serve`
 * what to move to another port.
 */
export function blockedPortError(err: unknown, code: ErrorCode, what: string, where: string, serve: string): ProvenantError | undefined {
  if (!isBlockedPort(err)) return undefined;
  return new ProvenantError(code, `${what}: Node's fetch refuses its port (a blocked port of the Fetch standard)`, {
    where,
    cause: err,
    hint: `${serve} on another port (https://fetch.spec.whatwg.org/#port-blocking lists the blocked ones)`,
  });
}

/**
 * The ports the Fetch standard blocks (https://fetch.spec.whatwg.org/#port-blocking, "bad
 * port"), which Node's fetch refuses to connect to.
 */
export const FETCH_BLOCKED_PORTS: ReadonlySet<number> = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110, 111, 113, 115, 117,
  119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636,
  989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);

/**
 * True when `fetch` refused the URL's port: the Fetch standard blocks ports of other protocols
 * (https://fetch.spec.whatwg.org/#port-blocking: 1, 6000, 10080 and others), and undici fails
 * with "bad port" before connecting.
 */
export function isBlockedPort(err: unknown): boolean {
  for (const e of causes(err)) if (e.message === 'bad port') return true;
  return false;
}

/**
 * True for a URL host on this machine: localhost, 127.0.0.0/8 and [::1] (with any port), where
 * plain HTTP never leaves the machine. Not names under `.localhost`: RFC 6761 asks resolvers to
 * keep them on this machine, but glibc's (files, then DNS) sends them to the DNS server like any
 * other name, and whoever answers would get plain HTTP (and a registry's Basic credentials).
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  const name = h.startsWith('[') ? h.slice(0, h.indexOf(']') + 1) : h.replace(/:\d+$/, '');
  return name === 'localhost' || name === '[::1]' || /^127(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(name);
}

// ---- requests through node:http(s) ------------------------------------------------------------

export type Method = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

/** A request's body: bytes, a form (token requests), or a stream sent with backpressure. */
export type RequestBody = Uint8Array | URLSearchParams | AsyncIterable<Uint8Array>;

/** What a server answered: the parts of a fetch Response the client reads. */
export interface HttpResponse {
  readonly status: number;
  readonly headers: { get(name: string): string | null; has(name: string): boolean };
  /** The body as it arrives; null for HEAD and for 204, 205 and 304 answers. */
  readonly body: (AsyncIterable<Uint8Array> & { cancel(): Promise<void> }) | null;
}

/**
 * How long a connection may stay silent before its request fails (undici's fetch, which the
 * client used before, waited 300 s for headers and 300 s between pieces of a body).
 */
export const IDLE_TIMEOUT_MS = 300_000;

/**
 * Sends one request through node:http(s) and answers when the status and headers are in. A
 * failure to connect or send rejects with `TypeError('fetch failed', {cause})`, as fetch does, so
 * that the network errors read the same; a failing body source rejects with its own error. The
 * ports the Fetch standard blocks are refused as fetch refused them, so that an address behaves
 * as it did (https://fetch.spec.whatwg.org/#port-blocking). A connection silent for `idleMs`
 * (connecting, waiting for the answer, or between pieces of its body) is dropped with
 * `ETIMEDOUT`: a server that accepts a connection and never answers would otherwise hold the
 * command until it is interrupted.
 */
export function sendRequest(
  url: URL,
  method: Method,
  headers: Record<string, string>,
  body: RequestBody | undefined,
  signal: AbortSignal | undefined,
  idleMs = IDLE_TIMEOUT_MS,
): Promise<HttpResponse> {
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  if (FETCH_BLOCKED_PORTS.has(port)) return Promise.reject(new TypeError('fetch failed', { cause: new Error('bad port') }));
  const { request: send } = process.getBuiltinModule(url.protocol === 'https:' ? 'node:https' : 'node:http') as typeof import('node:http');
  const outgoing: Record<string, string> = { accept: '*/*', ...headers };
  let payload: Uint8Array | undefined;
  let stream: AsyncIterable<Uint8Array> | undefined;
  if (body instanceof URLSearchParams) {
    payload = encodeUtf8(body.toString());
    outgoing['content-type'] ??= 'application/x-www-form-urlencoded;charset=UTF-8';
  } else if (body instanceof Uint8Array) payload = body;
  else stream = body;
  if (payload !== undefined) outgoing['content-length'] = String(payload.byteLength);
  else if (stream === undefined && method !== 'GET' && method !== 'HEAD') outgoing['content-length'] = '0';
  return new Promise<HttpResponse>((resolve, reject) => {
    const request = send(url, { method, headers: outgoing, ...(signal === undefined ? {} : { signal }) }, (incoming) => {
      const status = incoming.statusCode ?? 0;
      const nullBody = method === 'HEAD' || status === 204 || status === 205 || status === 304;
      if (nullBody) incoming.resume();
      resolve({ status, headers: headersOf(incoming), body: nullBody ? null : bodyOf(incoming) });
    });
    request.setTimeout(idleMs, () => {
      const err = new Error(`${url.host} sent nothing for ${Math.round(idleMs / 1000)} s`) as Error & { code: string };
      err.code = 'ETIMEDOUT';
      request.destroy(err);
    });
    request.on('error', (err) => reject(new TypeError('fetch failed', { cause: err })));
    if (stream === undefined) {
      request.end(payload);
      return;
    }
    // Taken here, not imported: stream/promises costs milliseconds at start-up, and most
    // requests (a no-op push's every one) send no streamed body.
    const { pipeline } = process.getBuiltinModule('node:stream/promises');
    const { Readable } = process.getBuiltinModule('node:stream');
    pipeline(Readable.from(stream, { objectMode: false }), request).catch((err: unknown) => {
      request.destroy();
      // A failing source (say, a blob that does not match its digest) is the error to report.
      reject(err instanceof ProvenantError ? err : new TypeError('fetch failed', { cause: err }));
    });
  });
}

/** An answer's headers as fetch reads them: by name in any case, repeated values joined by ", ". */
function headersOf(incoming: IncomingMessage): HttpResponse['headers'] {
  const value = (name: string): string | null => {
    const v = incoming.headers[name.toLowerCase()];
    return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
  };
  return { get: value, has: (name) => value(name) !== null };
}

function bodyOf(incoming: IncomingMessage): NonNullable<HttpResponse['body']> {
  return {
    [Symbol.asyncIterator]: () => incoming[Symbol.asyncIterator](),
    async cancel() {
      incoming.destroy();
    },
  };
}

// ---- proxies from the environment --------------------------------------------------------------

/** The variables that name a proxy, in both spellings, as curl, Go and Node read them. */
const PROXY_VARIABLES = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'] as const;

/**
 * This machine, in the NO_PROXY syntax of both readers setGlobalProxyFromEnv feeds (measured on
 * Node 24.22): node:http(s)'s agents take the range `127.0.0.1-127.255.255.255` and a bare `::1`;
 * fetch (undici's EnvHttpProxyAgent) takes no ranges, but `127.0.0.1` and `[::1]` exactly. Both
 * take `localhost`, in any case.
 */
const LOOPBACK_NO_PROXY = 'localhost,127.0.0.1,::1,[::1],127.0.0.1-127.255.255.255';

/**
 * Sends this process's requests (node:http(s) and `fetch`: registries, package repositories, the
 * runner's OIDC token; Sigstore's clients read the same variables themselves, through
 * @npmcli/agent) through the proxy `env` names in HTTPS_PROXY/https_proxy
 * (https URLs) or HTTP_PROXY/http_proxy (http URLs), except to the hosts NO_PROXY/no_proxy lists
 * and to this machine, as crane, cosign and apko do. Call it once, before any request: it
 * replaces Node's global agents and fetch's dispatcher (http.setGlobalProxyFromEnv, Node 24.14
 * and later), also when Node already applied the variables itself (NODE_USE_ENV_PROXY=1 or
 * --use-env-proxy), which would send loopback through the proxy. Nothing changes when no proxy
 * is set.
 *
 * Loopback is never proxied, as Go's net/http (ProxyFromEnvironment) never proxies it: a registry
 * on localhost:5000 (a job's service container) is this machine's, and a proxy elsewhere would
 * reach its own localhost instead. Node's rule, and curl's, is NO_PROXY as written; so
 * localhost, 127.0.0.0/8 and [::1] are added to the NO_PROXY given to Node (fetch, which only
 * the OIDC token request uses, exempts 127.0.0.1 but not the rest of 127.0.0.0/8). NO_PROXY=*
 * already sends everything direct.
 *
 * Returns a warning when a proxy is set and this Node cannot apply it (it then says what to do),
 * else undefined. Neither the warning nor an error repeats a variable's value, which may hold
 * the proxy's password.
 *
 * @throws ProvenantError `USAGE` naming the variable when its value is not a proxy URL
 */
export function useEnvProxy(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const set = PROXY_VARIABLES.filter((name) => (env[name] ?? '') !== '');
  if (set.length === 0) return undefined;
  const http = process.getBuiltinModule('node:http') as typeof import('node:http') & {
    setGlobalProxyFromEnv?: (proxyEnv: Readonly<Record<string, string | undefined>>) => () => void;
  };
  if (http.setGlobalProxyFromEnv === undefined) {
    // NODE_USE_ENV_PROXY=1 on an older Node: Node applies the variables itself, NO_PROXY as
    // written, and offers no way to change its agents' list.
    const https = process.getBuiltinModule('node:https') as typeof import('node:https');
    const applied = (agent: unknown) => (agent as { options?: { proxyEnv?: unknown } }).options?.proxyEnv != null;
    if (applied(http.globalAgent) || applied(https.globalAgent)) return undefined;
    return (
      `${set.join(', ')} ${set.length === 1 ? 'is' : 'are'} set, but Node ${process.version} does not send Provenant's requests through a proxy by itself: ` +
      'set NODE_USE_ENV_PROXY=1 as well (Node 22.21 and later, 24.5 and later), or run Provenant on Node 24.14 or later'
    );
  }
  for (const name of set) {
    if (proxyUrl(env[name] ?? '') === undefined) {
      throw new ProvenantError('USAGE', `${name} is not a proxy URL`, {
        hint: `write ${name}=http://HOST:PORT (or http://USER:PASSWORD@HOST:PORT), or unset it`,
      });
    }
  }
  http.setGlobalProxyFromEnv({ ...env, ...proxyVariables(env) });
  return undefined;
}

/**
 * A proxy variable's value as a URL Node takes: `http(s)://HOST:PORT` as written, and one without
 * a scheme (`proxy.example:3128`) as `http://` before it, as Go's net/http and curl read it;
 * undefined for anything else (another scheme, no host).
 */
function proxyUrl(value: string): string | undefined {
  const parsed = (text: string): URL | undefined => {
    try {
      const url = new URL(text);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '' ? url : undefined;
    } catch {
      return undefined;
    }
  };
  if (parsed(value) !== undefined) return value;
  if (value.includes('://')) return undefined;
  const withScheme = `http://${value}`;
  return parsed(withScheme) === undefined ? undefined : withScheme;
}

/**
 * The proxy variables as this process applies them, for Node's agents and for the clients that
 * read the environment themselves (Sigstore's, through @npmcli/agent, when first loaded: the
 * adapters write these into the process's environment before loading them): each proxy set with
 * its scheme ({@link proxyUrl}; a value that is no proxy URL left out, for useEnvProxy to refuse),
 * and NO_PROXY in both spellings with this machine added ({@link noProxySkippingLoopback}).
 * Empty when no proxy is set.
 */
export function proxyVariables(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of PROXY_VARIABLES) {
    const url = (env[name] ?? '') === '' ? undefined : proxyUrl(env[name]!);
    if (url !== undefined) out[name] = url;
  }
  const noProxy = noProxySkippingLoopback(env);
  if (noProxy !== undefined) out.NO_PROXY = out.no_proxy = noProxy;
  return out;
}

/**
 * The NO_PROXY that sends requests to this machine direct whatever the user wrote: the list Node
 * reads (no_proxy when it is not empty, else NO_PROXY), then {@link LOOPBACK_NO_PROXY}; `*`
 * (everything direct) stays as it is, and a list that already ends with loopback is not
 * extended again. Undefined when `env` sets no proxy. Sigstore's clients (@npmcli/agent) take
 * `localhost`, `127.0.0.1` and `[::1]` from it ({@link proxyVariables}).
 */
function noProxySkippingLoopback(env: Readonly<Record<string, string | undefined>>): string | undefined {
  if (PROXY_VARIABLES.every((name) => (env[name] ?? '') === '')) return undefined;
  const written = env.no_proxy || env.NO_PROXY || '';
  if (written.trim() === '*' || written.endsWith(LOOPBACK_NO_PROXY)) return written;
  return written.trim() === '' ? LOOPBACK_NO_PROXY : `${written},${LOOPBACK_NO_PROXY}`;
}
