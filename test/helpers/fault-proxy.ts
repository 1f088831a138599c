// A fault-injecting proxy in front of the test registry (not a test file).
import { Agent, createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A reverse proxy in front of a test registry that injects the faults the real registry
 * cannot produce on demand: 500s, 429s and 503s with Retry-After, connections dropped in the
 * middle of a response, 401s as to an expired token, and (with `rewrite`) another registry's
 * quirks. Bodies stream both ways
 * (uploads may be hundreds of MB). It keeps a log of what it received and when, so a test can
 * measure the client's waits as the server sees them.
 */

/** Which faults to inject. Every count is over matching requests only. */
export interface FaultPlan {
  /** Every Nth matching request answers 500 (a distribution-style JSON error). */
  status500Every?: number;
  /** Every Nth matching request answers 429 with `Retry-After`. */
  status429Every?: number;
  /** Every Nth matching request answers 503 (with `retryAfter` when given). */
  status503Every?: number;
  /**
   * Every Nth matching request is forwarded without its Authorization header, so that the
   * registry itself refuses it with 401 and its own challenge, as it does a token that expired.
   */
  unauthorizedEvery?: number;
  /** `Retry-After` on 429, in seconds (default 1). */
  retryAfterSeconds?: number;
  /**
   * The `Retry-After` value to send on 429 and 503 instead of `retryAfterSeconds`: a fixed
   * string, or made when the answer is sent (an HTTP-date relative to that moment).
   */
  retryAfter?: string | (() => string);
  /**
   * Every Nth matching request is forwarded, then its connection destroyed: after part of
   * the response body when the response has one, else before any response byte.
   */
  dropEvery?: number;
  /** Which requests count; `path` is the request path without the query. Default: all. */
  match?: (method: string, path: string) => boolean;
  /** Stop injecting after this many faults in total. */
  maxFaults?: number;
  /**
   * Forwards a request to another path (with its query): a registry's quirk played on the real
   * one, such as GitLab answering a GET of the tag `sha256-<hex>` with the manifest
   * `sha256:<hex>`. Undefined keeps the path.
   */
  rewrite?: (method: string, url: string) => string | undefined;
  /**
   * Awaited before a request goes to the registry (its body waits): what another client does
   * at that moment, played on the registry itself or its storage.
   */
  beforeForward?: (method: string, path: string) => Promise<void> | void;
  /** Awaited once the registry has answered a request, before the client sees the answer. */
  afterAnswer?: (method: string, path: string, status: number) => Promise<void> | void;
}

/** A running fault proxy. */
export interface FaultProxy {
  /** `127.0.0.1:PORT`. */
  host: string;
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** `requests`: every request received; `matched`: those the plan's `match` accepted; `faults`: faults injected. */
  stats(): { requests: number; matched: number; faults: number };
  /** Every request received, in order of arrival. */
  log(): readonly ProxyEvent[];
  stop(): Promise<void>;
}

/** What the proxy saw of one request. Times are `Date.now()` on the proxy. */
export interface ProxyEvent {
  method: string;
  /** The request path without the query. */
  path: string;
  /** When the request arrived. */
  at: number;
  fault: Fault | undefined;
  /** For an injected status: when its answer was about to be written. */
  answeredAt?: number;
  /** For an injected status: the `Retry-After` it carried. */
  retryAfter?: string;
}

export type Fault = 'status500' | 'status429' | 'status503' | 'drop' | 'unauthorized';

/** Connection-level headers that a proxy must not forward (RFC 9110 section 7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

function every(n: number | undefined, count: number): boolean {
  return n !== undefined && n > 0 && count % n === 0;
}

/** Starts a proxy on 127.0.0.1 that forwards to `target` (`127.0.0.1:PORT`). */
export async function startFaultProxy(target: string, plan: FaultPlan): Promise<FaultProxy> {
  const m = /^(127\.0\.0\.1|localhost|\[::1\]):(\d+)$/.exec(target);
  if (m === null) throw new Error(`fault proxy target must be a loopback host:port, not ${JSON.stringify(target)}`);
  const targetHost = m[1] === '[::1]' ? '::1' : m[1]!;
  const targetPort = Number(m[2]);
  const match = plan.match ?? (() => true);
  const agent = new Agent({ keepAlive: true });
  let requests = 0;
  let matched = 0;
  let faults = 0;
  let proxyHost = '';
  const events: ProxyEvent[] = [];

  function decide(method: string, path: string): Fault | undefined {
    if (!match(method, path)) return undefined;
    matched++;
    if (plan.maxFaults !== undefined && faults >= plan.maxFaults) return undefined;
    let fault: Fault | undefined;
    if (every(plan.status500Every, matched)) fault = 'status500';
    else if (every(plan.status429Every, matched)) fault = 'status429';
    else if (every(plan.status503Every, matched)) fault = 'status503';
    else if (every(plan.dropEvery, matched)) fault = 'drop';
    else if (every(plan.unauthorizedEvery, matched)) fault = 'unauthorized';
    if (fault !== undefined) faults++;
    return fault;
  }

  /** Answers with an error status once the request body has been read (as a real server would). */
  function answerStatus(
    req: IncomingMessage,
    res: ServerResponse,
    fault: 'status500' | 'status429' | 'status503',
    event: ProxyEvent,
  ): void {
    req.on('error', () => res.destroy());
    req.on('end', () => {
      const retryAfter =
        typeof plan.retryAfter === 'function'
          ? plan.retryAfter()
          : (plan.retryAfter ?? (fault === 'status429' ? String(plan.retryAfterSeconds ?? 1) : undefined));
      const [status, code]: [number, string] =
        fault === 'status500' ? [500, 'UNKNOWN'] : fault === 'status429' ? [429, 'TOOMANYREQUESTS'] : [503, 'UNAVAILABLE'];
      const headers: Record<string, string> = fault !== 'status500' && retryAfter !== undefined ? { 'retry-after': retryAfter } : {};
      const body = JSON.stringify({ errors: [{ code, message: `fault injected by the test proxy (${status})` }] });
      // Taken before the answer is written: the client cannot have it any earlier.
      event.answeredAt = Date.now();
      if (headers['retry-after'] !== undefined) event.retryAfter = headers['retry-after'];
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers });
      res.end(body);
    });
    req.resume();
  }

  /** Upstream headers for the client: hop-by-hop ones dropped, `Location` on the target moved to the proxy. */
  function responseHeaders(raw: string[]): string[] {
    const out: string[] = [];
    const targetOrigin = `http://${target}`;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i]!;
      let value = raw[i + 1]!;
      const lower = name.toLowerCase();
      if (HOP_BY_HOP.has(lower)) continue;
      if (lower === 'location' && (value === targetOrigin || value.startsWith(`${targetOrigin}/`))) {
        value = `http://${proxyHost}${value.slice(targetOrigin.length)}`;
      }
      out.push(name, value);
    }
    return out;
  }

  function forward(req: IncomingMessage, res: ServerResponse, drop: boolean, unauthorized: boolean): void {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined && !HOP_BY_HOP.has(k) && !(unauthorized && k === 'authorization')) headers[k] = v;
    }
    // The registry builds absolute Location URLs from Host; keep it the target's and rewrite
    // Location on the way back, as a transparent proxy would.
    headers.host = target;
    if (req.headers['transfer-encoding'] !== undefined && req.headers['content-length'] === undefined) {
      headers['transfer-encoding'] = 'chunked';
    }
    const method = req.method ?? 'GET';
    const path = plan.rewrite?.(method, req.url ?? '/') ?? req.url ?? '/';
    const upstream = httpRequest({ host: targetHost, port: targetPort, method, path, headers, agent });

    upstream.on('error', (err) => {
      if (!res.headersSent) {
        const body = JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: `fault proxy: upstream failed: ${err.message}` }] });
        res.writeHead(502, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
        res.end(body);
      } else {
        res.destroy();
      }
    });
    // The client went away: abandon the upstream request too.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });

    upstream.on('response', async (up) => {
      const status = up.statusCode ?? 502;
      try {
        await plan.afterAnswer?.(method, path.split('?', 1)[0]!, status);
      } catch {
        up.destroy();
        res.destroy();
        return;
      }
      const outHeaders = responseHeaders(up.rawHeaders);
      if (!drop) {
        res.writeHead(status, up.statusMessage, outHeaders);
        up.pipe(res);
        return;
      }
      const contentLength = up.headers['content-length'] === undefined ? undefined : Number(up.headers['content-length']);
      const hasBody = method !== 'HEAD' && status !== 204 && status !== 304 && contentLength !== 0;
      if (!hasBody) {
        // Before any response byte: the request was handled upstream, the answer is lost.
        up.destroy();
        req.socket.destroy();
        return;
      }
      res.writeHead(status, up.statusMessage, outHeaders);
      res.flushHeaders();
      let cut = false;
      const cutNow = (): void => {
        if (cut) return;
        cut = true;
        up.destroy();
        res.socket?.destroy();
      };
      up.once('data', (chunk: Buffer) => {
        up.pause();
        const half =
          contentLength !== undefined && Number.isFinite(contentLength) ? Math.floor(contentLength / 2) : Math.floor(chunk.length / 2);
        const part = chunk.subarray(0, Math.min(chunk.length, half));
        if (part.length === 0) setTimeout(cutNow, 20);
        else res.write(part, () => setTimeout(cutNow, 20));
      });
      up.once('end', () => setTimeout(cutNow, 20));
    });

    req.pipe(upstream);
  }

  const server = createServer((req, res) => {
    requests++;
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?', 1)[0]!;
    const fault = decide(method, path);
    const event: ProxyEvent = { method, path, at: Date.now(), fault };
    events.push(event);
    if (fault === 'status500' || fault === 'status429' || fault === 'status503') answerStatus(req, res, fault, event);
    else if (plan.beforeForward === undefined) forward(req, res, fault === 'drop', fault === 'unauthorized');
    else {
      req.pause();
      Promise.resolve(plan.beforeForward(method, path)).then(
        () => forward(req, res, fault === 'drop', fault === 'unauthorized'),
        () => res.destroy(),
      );
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  // A test that forgets stop() must not keep its process alive.
  server.unref();
  const port = (server.address() as AddressInfo).port;
  proxyHost = `127.0.0.1:${port}`;
  let stopped: Promise<void> | undefined;
  return {
    host: proxyHost,
    url: `http://${proxyHost}`,
    stats: () => ({ requests, matched, faults }),
    log: () => events,
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      });
      return stopped;
    },
  };
}
