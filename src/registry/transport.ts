/**
 * How the registry client talks to one registry host: it probes the scheme (HTTP only for
 * loopback hosts unless `insecure`), learns the auth scheme from `GET /v2/`, retries what may
 * pass (5xx, 429, dropped connections) with backoff and `Retry-After`, re-authenticates once on
 * a 401, follows redirects without leaking credentials to other hosts, and turns every other
 * answer into a {@link ProvenantError}.
 */
import { anonymousKeychain, type Keychain } from '../auth/keychain.ts';
import { abortedError, ProvenantError, sleep, throwIfAborted } from '../errors.ts';
import type { Logger, OperationOptions, ProgressUpdate } from '../io/types.ts';
import { silentLogger } from '../io/types.ts';
import { certificateFailure, isBlockedPort, isLoopbackHost, type Method, sendRequest } from '../net.ts';
import { checkRegistryHost, DOCKER_HUB, DOCKER_HUB_API } from '../ref/reference.ts';
import { VERSION } from '../version.ts';
import { Authenticator, schemeFrom } from './auth.ts';
import { parseChallenges } from './challenge.ts';
import { responseError, sentSecrets } from './errors.ts';
import { type Answer, drain, networkError, type Op, type Req, readErrorText, redactUrl, resolveLocation, sameHostName } from './http.ts';
import {
  backoffDelay,
  DEFAULT_RETRY,
  describeNetworkError,
  isNetworkError,
  type RetryAfterWait,
  type RetryOptions,
  retryAfterWait,
} from './retry.ts';

/** How to reach a registry: the options of a client that concern the connection. */
export interface TransportOptions {
  /** Where credentials come from; anonymous when absent. */
  keychain?: Keychain | undefined;
  /**
   * Allow plain HTTP to a registry that is not on this machine: when its HTTPS port answers in
   * plain HTTP (never after a certificate failure, a reset or a timeout), and for redirects and
   * token servers on the registry's own host name. Loopback registries (`localhost`,
   * 127.0.0.0/8, `[::1]`) may always use HTTP. (Unverified TLS is not offered: Node's fetch has
   * no switch for it.)
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
  /** The clock for token expiry, in ms since the epoch (tests move it). Default `Date.now`. */
  clock?: (() => number) | undefined;
  /**
   * How long a connection may stay silent, waiting to connect, for an answer or for more of its
   * body, before the request fails as a dropped connection (and is retried). Default 300 s, as
   * fetch's were: a registry may take long to answer the last request of a large upload.
   */
  idleTimeoutMs?: number | undefined;
}

/** Errors worth another try (5xx, 429, a dropped connection), marked where they are made. */
const retryable = new WeakSet<object>();
/**
 * The `Retry-After` of the answer an error came from. Upload requests are not retried by
 * `send` (their session is restarted or resumed instead), so the wait travels with the error
 * to the upload loop.
 */
const retryAfterOf = new WeakMap<object, RetryAfterWait>();
/**
 * Retryable errors of requests that were tried as often as the retry budget allows: a caller
 * that restarts a whole operation on retryable errors (an upload) must not try them again, or
 * the tries multiply.
 */
const exhausted = new WeakSet<object>();
/** 401s of requests whose body could not be sent again ({@link Req.bodyOnce}), after which the credentials were renewed. */
const renewed = new WeakSet<object>();
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** True when `err` failed in a way another try may not (see {@link Transport.send}). */
export function isRetryable(err: unknown): boolean {
  return typeof err === 'object' && err !== null && retryable.has(err);
}

/** True when `err` is retryable, but came from a request already tried as often as the budget allows. */
export function retriesExhausted(err: unknown): boolean {
  return typeof err === 'object' && err !== null && exhausted.has(err);
}

/**
 * True when `err` is a 401 of a request that could not be sent again ({@link Req.bodyOnce}),
 * after which the credentials were renewed: a new request (a resumed upload) may pass.
 */
export function credentialsRenewed(err: unknown): boolean {
  return typeof err === 'object' && err !== null && renewed.has(err);
}

/** The wait the registry asked for with the answer `err` came from, if it said. */
export function retryAfterFor(err: unknown): RetryAfterWait | undefined {
  return typeof err === 'object' && err !== null ? retryAfterOf.get(err) : undefined;
}

/** The connection to one registry host, shared by every call of a client. */
export class Transport {
  /** The registry as users write it (`docker.io`, `127.0.0.1:5000`). */
  readonly registry: string;
  /** The host the API is served from (`registry-1.docker.io` for `docker.io`). */
  readonly apiHost: string;
  readonly retry: Required<RetryOptions>;
  readonly auth: Authenticator;
  readonly #insecure: boolean;
  readonly #schemes: Array<'http' | 'https'>;
  readonly #logger: Logger;
  readonly #onProgress: ((update: ProgressUpdate) => void) | undefined;
  readonly #userAgent: string;
  readonly #idleTimeoutMs: number | undefined;
  #base: URL | undefined;
  #ping: Promise<void> | undefined;

  /** @throws ProvenantError `INVALID_REFERENCE` when `registry` is no host[:port] a connection can be made to */
  constructor(registry: string, options: TransportOptions = {}) {
    checkRegistryHost(registry);
    this.registry = registry;
    this.apiHost = registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
    this.#insecure = options.insecure === true;
    this.#logger = options.logger ?? silentLogger;
    this.#onProgress = options.onProgress;
    this.#userAgent = options.userAgent ?? `provenant/${VERSION}`;
    this.#idleTimeoutMs = options.idleTimeoutMs;
    this.retry = { ...DEFAULT_RETRY, ...definedOnly(options.retry ?? {}) };
    this.retry.attempts = Math.max(1, Math.floor(this.retry.attempts));
    this.auth = new Authenticator({
      registry,
      apiHost: this.apiHost,
      keychain: options.keychain ?? anonymousKeychain,
      insecure: this.#insecure,
      clock: options.clock ?? Date.now,
      sendAndRead: (req, read) => this.sendAndRead(req, read),
    });
    const local = isLoopbackHost(this.apiHost);
    if (options.scheme === 'http' && !local && !this.#insecure) {
      throw new ProvenantError('INSECURE', `refusing plain HTTP to ${registry}`, {
        where: registry,
        hint: 'plain HTTP is allowed only for localhost; pass --insecure if you really mean it',
      });
    }
    // Loopback registries are usually plain HTTP (docker run registry:2), so HTTP is tried
    // first and HTTPS after; --insecure tries HTTPS first, as Docker does for insecure registries,
    // but falls back only when the HTTPS port answered in plain HTTP (see #probe).
    this.#schemes =
      options.scheme !== undefined ? [options.scheme] : local ? ['http', 'https'] : this.#insecure ? ['https', 'http'] : ['https'];
  }

  /** A call's options as the transport uses them: its signal, logger, and both progress sinks. */
  op(options: OperationOptions): Op {
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

  /** An API URL on the registry, once it has answered a ping. */
  async url(path: string, op: Op): Promise<URL> {
    await this.ping(op);
    return new URL(path, this.#base);
  }

  /** Logs a retry and reports it as progress. */
  noteRetry(op: Op, what: string, attempt: number, delayMs: number, reason: string): void {
    op.logger.debug(`${this.registry}: ${what} failed (${reason}); retry ${attempt} in ${delayMs} ms`);
    op.progress({ kind: 'retry', what, attempt, delayMs, reason });
  }

  /** Checks that the registry answers the API (`GET /v2/`) and learns how it authenticates; once. */
  ping(op: Op): Promise<void> {
    this.#ping ??= this.#doPing(op).catch((err: unknown) => {
      this.#ping = undefined;
      throw err;
    });
    return this.#ping;
  }

  async #doPing(op: Op): Promise<void> {
    const where = this.registry;
    let answer = this.#base === undefined ? await this.#probe(op) : undefined;
    if (answer === undefined || (answer.res.status !== 200 && answer.res.status !== 401)) {
      if (answer !== undefined) await drain(answer.res);
      const ping: Req = {
        method: 'GET',
        url: new URL('/v2/', this.#base),
        scopes: [],
        accept: [200, 401, 404],
        what: 'ping',
        where,
        noAuth: true,
        ping: true,
        op,
      };
      answer = await this.send(ping);
    }
    const { res } = answer;
    await drain(res);
    // A registry named without a port whose plain HTTP redirects to HTTPS on the same host (an
    // 80 → 443 redirect in front of localhost) is served over HTTPS: that is its base from now
    // on, as a browser or skopeo takes it, so its 401 there is its own, and requests that are not
    // followed (PUT, PATCH) go there directly. Another host, or another port, is not the registry.
    if (this.#base !== undefined && upgradedToHttps(this.#base, answer.url)) this.#base = new URL(answer.url.origin);
    if (res.status === 401 && !this.#ownOrigin(answer.url)) {
      throw new ProvenantError('REGISTRY', `${this.registry} redirected its API to ${answer.url.host}, which asks for credentials`, {
        where,
        hint: "the registry's credentials go only to the registry itself",
      });
    }
    if (res.status === 404) {
      throw new ProvenantError('REGISTRY', `${this.registry} does not serve the registry API (GET /v2/ answered 404)`, {
        where,
        hint: 'check the registry host and port',
      });
    }
    this.auth.scheme = res.status === 401 ? schemeFrom(parseChallenges(res.headers.get('www-authenticate') ?? '')) : { kind: 'none' };
    op.logger.debug(`${this.registry}: ${this.#base?.protocol.replace(':', '')}, auth ${this.auth.scheme.kind}`);
  }

  /** Finds the scheme the registry answers on: each candidate once per round, rounds retried. */
  async #probe(op: Op): Promise<Answer> {
    const where = this.registry;
    // --insecure beyond this machine: plain HTTP only on the port HTTPS was tried on (443 when
    // the registry names none), and only when that port answered in plain HTTP.
    const downgrade = this.#insecure && !isLoopbackHost(this.apiHost);
    for (let round = 1; ; round++) {
      // The first scheme's failure is the one to report (a TLS "wrong version number" from
      // probing HTTPS on an HTTP port says nothing); any dropped connection makes the round retryable.
      const errors: unknown[] = [];
      for (const scheme of this.#schemes) {
        const url = downgrade && scheme === 'http' ? plainUrlOnTlsPort(this.apiHost) : new URL(`${scheme}://${this.apiHost}/v2/`);
        try {
          const r = await this.#fetchOnce({ method: 'GET', url, scopes: [], accept: [], what: 'ping', where, noAuth: true, op }, undefined);
          if (r.res.status === 400 && this.#schemes.length > 1 && scheme === 'http') {
            // Go's TLS servers answer plain HTTP with 400 "Client sent an HTTP request to an HTTPS server".
            await drain(r.res);
            continue;
          }
          this.#base = new URL(`${scheme}://${this.apiHost}`);
          return r;
        } catch (err) {
          if (err instanceof ProvenantError) throw err;
          if (op.signal?.aborted) throw abortedError(op.signal);
          errors.push(err);
          // A certificate that does not verify, a reset or a timeout is what an interceptor
          // produces as easily as a broken server: falling back would hand it the credentials in
          // plain text. Only a server that answered the TLS handshake in plain HTTP is one.
          if (downgrade && scheme === 'https' && !answeredInPlainHttp(err)) break;
        }
      }
      // A certificate that does not verify, or a port fetch refuses, says more than the other
      // scheme's failure, and trying again cannot change it.
      const lasting = errors.find((e) => certificateFailure(e) !== undefined || isBlockedPort(e));
      if (lasting !== undefined) throw networkError(this.registry, where, lasting, round, 'ping');
      const first = errors[0];
      if (round >= this.retry.attempts || !errors.some(isNetworkError)) throw this.#probeError(first, round);
      const delayMs = backoffDelay(round, this.retry);
      this.noteRetry(op, 'ping', round, delayMs, describeNetworkError(first));
      await sleep(delayMs, op.signal);
    }
  }

  /** The error of a probe that found no scheme; under --insecure, the hint says when plain HTTP is tried. */
  #probeError(cause: unknown, tries: number): ProvenantError {
    const e = networkError(this.registry, this.registry, cause, tries, 'ping');
    if (!this.#insecure || isLoopbackHost(this.apiHost) || e.code !== 'NETWORK') return e;
    return new ProvenantError('NETWORK', e.message, {
      where: e.where,
      cause,
      hint:
        `${e.hint ?? ''}; --insecure uses plain HTTP only where the HTTPS port answers in plain HTTP ` +
        `(for a plain-HTTP registry on port 80, name the port: ${new URL(`https://${this.apiHost}`).hostname}:80)`,
    });
  }

  /**
   * One request with the retry policy: network failures, 5xx and 429 are retried (after
   * `Retry-After` when the answer has one, at most `maxRetryAfterMs`), a 401 re-authenticates
   * once, anything else outside `accept` is an error.
   */
  async send(req: Req): Promise<Answer> {
    const attempts = req.retry === false ? 1 : this.retry.attempts;
    let reauthenticated = false;
    for (let attempt = 1; ; attempt++) {
      throwIfAborted(req.op.signal);
      let answer: Answer;
      // The scheme this try is sent under: a 401 to it after another request moved the client to
      // a new scheme is no verdict on the credentials (see Authenticator.reauthenticate).
      const sentUnder = this.auth.scheme;
      let authorization: string | undefined;
      try {
        authorization = req.noAuth ? undefined : await this.auth.authorization(req);
        answer = await this.#fetchOnce(req, authorization);
      } catch (err) {
        const e = this.#failure(err, req, attempt);
        if (attempt < attempts && retryable.has(e)) {
          const delayMs = backoffDelay(attempt, this.retry);
          this.noteRetry(req.op, req.what, attempt, delayMs, describeNetworkError(err));
          await sleep(delayMs, req.op.signal);
          continue;
        }
        throw spent(e, attempts);
      }
      const { res } = answer;
      if (req.accept.includes(res.status)) return answer;
      // Only the registry's own answers say how to authenticate to it: a 401 from where a redirect
      // led (blob storage, a CDN) is that host's, and its challenge must not choose the token
      // server the registry's credentials go to.
      if (res.status === 401 && !this.#ownOrigin(answer.url)) {
        await drain(res);
        throw new ProvenantError('REGISTRY', `${answer.url.host}, where ${this.registry} sent ${req.what}, asks for credentials`, {
          where: req.where,
          hint: "the registry redirected the request to another host, which refused it; the registry's credentials go only to the registry",
        });
      }
      if (res.status === 401 && !req.explicitCredentials) {
        const challenges = parseChallenges(res.headers.get('www-authenticate') ?? '');
        await drain(res);
        if (!reauthenticated && (await this.auth.reauthenticate(req, challenges, sentUnder))) {
          if (req.bodyOnce === true) {
            // Sending it again would send the bytes that follow the ones this try took.
            const e = await this.auth.unauthorized(req, challenges);
            renewed.add(e);
            throw e;
          }
          reauthenticated = true;
          attempt--;
          continue;
        }
        throw await this.auth.unauthorized(req, challenges);
      }
      const error = await this.#answerError(answer, req, authorization);
      if (res.status >= 500 || res.status === 429) {
        retryable.add(error);
        const wait = retryAfterWait(res.headers.get('retry-after'), Date.now(), this.retry.maxRetryAfterMs ?? 60_000);
        if (wait !== undefined) retryAfterOf.set(error, wait);
        if (attempt < attempts) {
          const delayMs = wait?.ms ?? backoffDelay(attempt, this.retry);
          this.noteRetry(
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
      throw spent(error, attempts);
    }
  }

  /**
   * {@link send}, then `read` of the answer (its body, whole), both under the same retries: a
   * connection dropped in the body of a GET is tried again as one dropped before the answer,
   * and fails as NETWORK after the last try, never as the socket's own error. Other requests
   * (a token POST) are read once: repeating them is not known to be harmless.
   */
  async sendAndRead<T>(req: Req, read: (answer: Answer) => Promise<T>): Promise<T> {
    const attempts = req.retry === false || req.method !== 'GET' ? 1 : this.retry.attempts;
    for (let attempt = 1; ; attempt++) {
      const answer = await this.send(req);
      try {
        return await read(answer);
      } catch (err) {
        const e = this.#failure(err, req, attempt);
        if (attempt < attempts && retryable.has(e)) {
          const delayMs = backoffDelay(attempt, this.retry);
          this.noteRetry(req.op, req.what, attempt, delayMs, `the answer was cut: ${describeNetworkError(err)}`);
          await sleep(delayMs, req.op.signal);
          continue;
        }
        throw spent(e, attempts);
      }
    }
  }

  /** The error for `answer`, to a request sent with `authorization` (the registry's, when it asked for some). */
  async #answerError({ res, url }: Answer, req: Req, authorization: string | undefined): Promise<ProvenantError> {
    const text = await readErrorText(res);
    // Credentials went with the request when it carried its own (a token request), or the
    // registry's reached the host that answered and were the user's (not an anonymous token): a
    // 403 then means they lack permission, not that they are missing.
    const creds = await this.auth.credentialsFor(req.repository);
    const sent = req.explicitCredentials === true || (authorization !== undefined && creds !== undefined && this.#ownOrigin(url));
    // Another host answered: where a redirect led, or where a request with the registry's
    // credentials went directly (an upload Location elsewhere). A token server answering its own
    // request is the host the request was for.
    const elsewhere = !this.#ownOrigin(url) && (url.origin !== req.url.origin || req.noAuth !== true);
    return responseError(res.status, text, {
      registry: this.registry,
      where: req.where,
      what: req.what,
      hadCredentials: sent,
      heldCredentials: !sent && creds !== undefined,
      ping: req.ping,
      answeredBy: elsewhere ? url.host : undefined,
      allow: res.headers.get('allow'),
      // Whatever the answer's host may echo of what the client knows it sent, or could have.
      sent: [...sentSecrets([authorization, ownAuthorization(req)], creds), ...(req.secrets ?? [])],
    });
  }

  /** Sends a request once, following redirects of GET and HEAD (at most 10). */
  async #fetchOnce(req: Req, authorization: string | undefined): Promise<Answer> {
    let url = req.url;
    const method: Method = req.method;
    // Header names in lower case, as a Headers object would keep them.
    const headers: Record<string, string> = { 'user-agent': this.#userAgent, 'accept-encoding': 'identity' };
    for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = v;
    // Credentials the request carries itself (a token request's Basic) are for the origin it was
    // sent to, as the registry's are for the registry's.
    const own = ownAuthorization(req);
    const follow = method === 'GET' || method === 'HEAD';
    // Set once a hop has left the origin the credentials are for.
    let left = false;
    for (let hop = 0; ; hop++) {
      this.#checkScheme(url, req.where);
      // A redirect to another origin (blob storage, a CDN, a token server's other host, plain HTTP)
      // must not receive the credentials; one on the same origin (a token server that moved its
      // endpoint) still needs them, and gets them, as skopeo sends them. Once a hop has left the
      // origin, a redirect back to it does not get them again: another host chose that URL. Go's
      // client keeps them off the same way since CVE-2024-45336, having restored them on a later
      // hop before (https://pkg.go.dev/vuln/GO-2025-3420).
      if (authorization !== undefined ? !this.#ownOrigin(url) : url.origin !== req.url.origin) left = true;
      const credential = left ? undefined : (authorization ?? own);
      if (credential !== undefined) headers.authorization = credential;
      else if (hop > 0) delete headers.authorization;
      const body = hop === 0 && req.body !== undefined ? await req.body() : undefined;
      const res = await sendRequest(url, method, headers, body, req.op.signal, this.#idleTimeoutMs);
      req.op.logger.debug(`${method} ${redactUrl(url)} -> ${res.status}`);
      const location = res.headers.get('location');
      if (!follow || !REDIRECTS.has(res.status) || location === null) return { res, url };
      if (hop >= 10) {
        await drain(res);
        throw new ProvenantError('REGISTRY', `${this.registry} redirected more than 10 times`, { where: req.where });
      }
      await drain(res);
      // The method stays: only GET and HEAD are followed, and the Fetch standard's redirect step
      // (https://fetch.spec.whatwg.org/#http-redirect-fetch) turns a 303 into GET for any other
      // method only. A HEAD made GET would download the blob to throw it away.
      url = resolveLocation(location, url, this.registry, req.where);
    }
  }

  /** Whether `url` is on the registry's own origin (the one its API answered on). */
  #ownOrigin(url: URL): boolean {
    return this.#base !== undefined && url.origin === this.#base.origin;
  }

  #checkScheme(url: URL, where: string): void {
    if (url.protocol === 'https:') return;
    if (url.protocol !== 'http:') {
      // A registry's misbehaviour (a redirect to file:///etc/passwd), not a usage error: the
      // user's command and reference were right, and no flag makes it followable.
      const shown = redactUrl(url);
      const at = shown.length > 200 ? `${shown.slice(0, 200)}…` : shown;
      throw new ProvenantError('REGISTRY', `${this.registry} redirected to a ${url.protocol} URL (${at}), which is not followed`, {
        where,
        hint: 'a registry redirects only to https (or http on this machine); this one sent a location no client fetches from a registry',
      });
    }
    // --insecure is for the registry the user named, not for whatever host it redirects to.
    if (url.protocol === 'http:' && (isLoopbackHost(url.host) || (this.#insecure && sameHostName(url, this.apiHost)))) return;
    throw new ProvenantError('INSECURE', `refusing to follow ${url.protocol.replace(':', '')} to ${url.host}`, {
      where,
      hint:
        url.protocol === 'http:'
          ? `plain HTTP is allowed only for localhost, and with --insecure for ${this.registry} itself, not the hosts it redirects to`
          : undefined,
    });
  }

  /**
   * A thrown fetch failure as a ProvenantError, on try number `tries`; network failures are
   * marked retryable (a certificate or a blocked port is not one).
   */
  #failure(err: unknown, req: Req, tries: number): ProvenantError {
    if (req.op.signal?.aborted) return abortedError(req.op.signal);
    for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
      // Our own error from inside a request body (a source that failed verification, say).
      if (e instanceof ProvenantError) return e;
    }
    const e = networkError(this.registry, req.where, err, tries, req.what);
    if (e.code === 'NETWORK' && isNetworkError(err)) retryable.add(e);
    return e;
  }
}

/**
 * True when a TLS handshake failed because the server answered in plain HTTP: OpenSSL reads the
 * first bytes of `HTTP/1.1 400 ...` as a TLS record of an unknown version ("wrong version
 * number", EPROTO in Node). Certificate failures, resets and timeouts are not.
 */
export function answeredInPlainHttp(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    const message = (e as { message?: unknown }).message;
    if (code === 'ERR_SSL_WRONG_VERSION_NUMBER') return true;
    if (code === 'EPROTO' && typeof message === 'string' && /wrong version number/i.test(message)) return true;
  }
  return false;
}

/** The Authorization header a request carries itself (a token request's Basic), whatever the case of its name. */
function ownAuthorization(req: Req): string | undefined {
  return Object.entries(req.headers ?? {}).find(([k]) => k.toLowerCase() === 'authorization')?.[1];
}

/** True when `to` is `from`'s host over HTTPS, both on their scheme's default port (http://h → https://h). */
function upgradedToHttps(from: URL, to: URL): boolean {
  return from.protocol === 'http:' && to.protocol === 'https:' && from.port === '' && to.port === '' && from.hostname === to.hostname;
}

/** `http://host:port/v2/` on the port HTTPS uses for `apiHost` (443 when it names none). */
function plainUrlOnTlsPort(apiHost: string): URL {
  const tls = new URL(`https://${apiHost}/v2/`);
  return new URL(`http://${tls.hostname}:${tls.port === '' ? '443' : tls.port}/v2/`);
}

/** `err`, marked {@link retriesExhausted} when it is retryable and was tried `attempts` (more than one) times. */
function spent<E extends object>(err: E, attempts: number): E {
  if (attempts > 1 && retryable.has(err)) exhausted.add(err);
  return err;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
