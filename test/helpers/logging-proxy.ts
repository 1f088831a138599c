// A forward proxy on 127.0.0.1 that logs what goes through it, for the tests of
// HTTP_PROXY/HTTPS_PROXY (not a test file). It resolves any name under `.invalid` (RFC 6761: no
// resolver answers for it) to 127.0.0.1, so that a test can name a server on this machine that
// only the proxy reaches: the client sends loopback addresses direct, whatever NO_PROXY says.
import { createServer, request } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';

/** One request the proxy received. */
export interface ProxiedRequest {
  /** `GET`, `PUT`, ... for a plain-HTTP request; `CONNECT` for a tunnel (an https URL). */
  method: string;
  /** The absolute URL asked for, or `HOST:PORT` for a tunnel. */
  target: string;
  /** The Proxy-Authorization header the client sent, if any. */
  authorization: string | undefined;
}

/** A running logging proxy. */
export interface LoggingProxy {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** Every request received, in order. */
  log(): readonly ProxiedRequest[];
  stop(): Promise<void>;
}

/** Where the proxy connects for `hostname`: 127.0.0.1 for a name under `.invalid`, else the name. */
function upstreamHost(hostname: string): string {
  return /(?:^|\.)invalid\.?$/i.test(hostname) ? '127.0.0.1' : hostname;
}

/**
 * Starts a forward proxy: absolute-form requests (`GET http://host/path`) are forwarded to the
 * host, CONNECT opens a tunnel to `HOST:PORT`; both are logged, with the host as the client
 * named it, and a host under `.invalid` is reached on 127.0.0.1. It asks for no credentials and
 * records the ones a client sends.
 */
export async function startLoggingProxy(): Promise<LoggingProxy> {
  const seen: ProxiedRequest[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const target = req.url ?? '';
    seen.push({ method: req.method ?? '', target, authorization: req.headers['proxy-authorization'] });
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      res.writeHead(400).end('a forward proxy takes absolute URLs');
      return;
    }
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const upstream = request(
      { host: upstreamHost(url.hostname), port: url.port, path: `${url.pathname}${url.search}`, method: req.method, headers, agent: false },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('connect', (req, client: Socket, head: Buffer) => {
    const target = req.url ?? '';
    seen.push({ method: 'CONNECT', target, authorization: req.headers['proxy-authorization'] });
    const colon = target.lastIndexOf(':');
    const upstream = connect(Number(target.slice(colon + 1)), upstreamHost(target.slice(0, colon).replace(/^\[|\]$/g, '')), () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    log: () => seen,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
