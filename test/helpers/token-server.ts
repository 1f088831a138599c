// A Docker token-auth server, the other half of the test registry's token auth (not a test file).
import { spawnSync } from 'node:child_process';
import { createPrivateKey, type KeyObject, randomBytes, sign, timingSafeEqual, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/**
 * A Docker token-auth server for tests, the other half of distribution's `auth.token`
 * (https://distribution.github.io/distribution/spec/auth/token/ and .../auth/jwt/).
 *
 * distribution 2.8 (`registry/auth/token/token.go`) checks, in this order: `iss` is the
 * configured issuer, `aud` is the configured service (a plain string is what 2.8 and older
 * accept everywhere), `exp`/`nbf` with 60 s of leeway, then finds the signing key through
 * the header's `x5c` chain, which must verify against `rootcertbundle` (any extended key
 * usage), and verifies the signature with libtrust: RS256 is PKCS#1 v1.5 over SHA-256,
 * ES256 is the raw 64-byte r||s form (JOSE), not DER.
 */

/** How to start a token server. */
export interface TokenServerOptions {
  /** The one user that may log in. */
  username: string;
  password: string;
  /** `aud` of every token; the registry's `auth.token.service`. */
  service: string;
  /** `iss` of every token; the registry's `auth.token.issuer`. */
  issuer: string;
  /** PEM private key (EC P-256 gives ES256, RSA gives RS256). */
  keyPem: string;
  /** PEM certificate of that key; it goes in `x5c` and in the registry's `rootcertbundle`. */
  certPem: string;
  /** Token lifetime; short so that clients have to refresh. Default 60. */
  ttlSeconds?: number;
}

/** A running token server. */
export interface TokenServer {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** `url + '/token'`, the `realm` the registry's challenge names. */
  realm: string;
  /** How many tokens were issued (anonymous ones included). */
  tokensIssued(): number;
  stop(): Promise<void>;
}

/** One entry of a token's `access` claim (and one parsed `scope`). */
export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

/** A signing key and its self-signed certificate, made with openssl in `dir`. */
export interface SigningMaterial {
  keyPath: string;
  certPath: string;
  keyPem: string;
  certPem: string;
}

/** Makes an EC P-256 key and a self-signed certificate for it with openssl (an independent tool). */
export function makeSigningMaterial(dir: string): SigningMaterial {
  const keyPath = join(dir, 'token-key.pem');
  const certPath = join(dir, 'token-cert.pem');
  const r = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-sha256',
      '-days',
      '2',
      '-subj',
      '/CN=provenant-test-token-signer',
      '-keyout',
      keyPath,
      '-out',
      certPath,
    ],
    { encoding: 'utf8' },
  );
  if (r.error) throw new Error(`openssl could not be run (install openssl): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`openssl failed to make the token signing certificate: ${r.stderr}`);
  return { keyPath, certPath, keyPem: readFileSync(keyPath, 'utf8'), certPem: readFileSync(certPath, 'utf8') };
}

/**
 * Parses `scope` values, e.g. `repository:library/alpine:pull,push`. One value may hold
 * several scopes separated by spaces (the OAuth2 form). The name may itself contain `:`
 * (a registry host with a port), so the type ends at the first colon and the actions start
 * after the last. A resource class (`repository(plugin)`) is dropped from the type.
 */
export function parseScopes(values: readonly string[]): AccessEntry[] {
  const out: AccessEntry[] = [];
  for (const value of values) {
    for (const scope of value.split(' ')) {
      const first = scope.indexOf(':');
      const last = scope.lastIndexOf(':');
      if (first < 0 || last === first) continue;
      const type = scope.slice(0, first).replace(/\(.*\)$/, '');
      const name = scope.slice(first + 1, last);
      const actions = scope
        .slice(last + 1)
        .split(',')
        .filter((a) => a !== '');
      if (type === '' || name === '') continue;
      out.push({ type, name, actions });
    }
  }
  return out;
}

function base64url(data: string | Uint8Array): string {
  return Buffer.from(data).toString('base64url');
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** What an authenticated user gets: the requested actions the registry knows, nothing else. */
function grant(requested: AccessEntry[]): AccessEntry[] {
  const known: Record<string, readonly string[]> = {
    repository: ['pull', 'push', 'delete', '*'],
    registry: ['*'],
  };
  const out: AccessEntry[] = [];
  for (const r of requested) {
    const allowed = known[r.type];
    if (allowed === undefined) continue;
    const actions = [...new Set(r.actions.filter((a) => allowed.includes(a)))];
    if (actions.length > 0) out.push({ type: r.type, name: r.name, actions });
  }
  return out;
}

/** Starts the token server on 127.0.0.1 and an ephemeral port. */
export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const ttl = options.ttlSeconds ?? 60;
  const key: KeyObject = createPrivateKey(options.keyPem);
  let alg: 'ES256' | 'RS256';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') alg = 'ES256';
  else if (key.asymmetricKeyType === 'rsa') alg = 'RS256';
  else throw new Error(`token signing key must be EC P-256 or RSA, not ${key.asymmetricKeyType}`);
  const x5c = [new X509Certificate(options.certPem).raw.toString('base64')];
  const refreshTokens = new Map<string, string>();
  let issued = 0;

  function issue(subject: string, access: AccessEntry[]): { token: string; expiresIn: number; issuedAt: string } {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg, x5c };
    const claims = {
      iss: options.issuer,
      sub: subject,
      aud: options.service,
      exp: now + ttl,
      nbf: now - 1,
      iat: now,
      jti: randomBytes(16).toString('hex'),
      access,
    };
    const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const signature =
      alg === 'ES256'
        ? sign('sha256', Buffer.from(signingInput), { key, dsaEncoding: 'ieee-p1363' })
        : sign('sha256', Buffer.from(signingInput), key);
    issued++;
    return { token: `${signingInput}.${base64url(signature)}`, expiresIn: ttl, issuedAt: new Date(now * 1000).toISOString() };
  }

  function deny(res: ServerResponse, status: number, code: string, message: string): void {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (status === 401) headers['www-authenticate'] = 'Basic realm="provenant-test-token-server"';
    res.writeHead(status, headers);
    res.end(JSON.stringify({ errors: [{ code, message }] }));
  }

  /** The Basic user, `''` for anonymous, or `undefined` for wrong or malformed credentials. */
  function basicUser(req: IncomingMessage): string | undefined {
    const h = req.headers.authorization;
    if (h === undefined) return '';
    const m = /^Basic\s+(\S+)$/i.exec(h);
    if (m === null) return undefined;
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    const user = decoded.slice(0, colon);
    const pass = decoded.slice(colon + 1);
    return sameSecret(user, options.username) && sameSecret(pass, options.password) ? user : undefined;
  }

  function answer(res: ServerResponse, subject: string, requested: AccessEntry[], refresh: boolean): void {
    const access = subject === '' ? [] : grant(requested);
    const t = issue(subject, access);
    const body: Record<string, unknown> = { token: t.token, access_token: t.token, expires_in: t.expiresIn, issued_at: t.issuedAt };
    if (refresh && subject !== '') {
      const rt = randomBytes(24).toString('base64url');
      refreshTokens.set(rt, subject);
      body.refresh_token = rt;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/token') return deny(res, 404, 'NOT_FOUND', `no such endpoint: ${url.pathname}`);

    if (req.method === 'GET') {
      // https://distribution.github.io/distribution/spec/auth/token/#requesting-a-token
      const service = url.searchParams.get('service');
      if (service !== null && service !== options.service) return deny(res, 400, 'INVALID_REQUEST', `unknown service ${service}`);
      const user = basicUser(req);
      if (user === undefined) return deny(res, 401, 'UNAUTHORIZED', 'wrong username or password');
      return answer(res, user, parseScopes(url.searchParams.getAll('scope')), url.searchParams.get('offline_token') === 'true');
    }

    if (req.method === 'POST') {
      // The OAuth2 form (https://distribution.github.io/distribution/spec/auth/oauth/), which
      // containerd tries first: grant_type=password or refresh_token, scopes space-separated.
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const service = form.get('service');
      if (service !== null && service !== options.service) return deny(res, 400, 'INVALID_REQUEST', `unknown service ${service}`);
      const scopes = parseScopes(form.getAll('scope'));
      const grantType = form.get('grant_type');
      if (grantType === 'password') {
        const u = form.get('username') ?? '';
        const p = form.get('password') ?? '';
        if (!sameSecret(u, options.username) || !sameSecret(p, options.password)) {
          return deny(res, 401, 'UNAUTHORIZED', 'wrong username or password');
        }
        return answer(res, u, scopes, form.get('access_type') === 'offline');
      }
      if (grantType === 'refresh_token') {
        const subject = refreshTokens.get(form.get('refresh_token') ?? '');
        if (subject === undefined) return deny(res, 401, 'UNAUTHORIZED', 'unknown refresh token');
        return answer(res, subject, scopes, false);
      }
      return deny(res, 400, 'UNSUPPORTED', `unsupported grant_type ${grantType ?? '(none)'}`);
    }

    return deny(res, 405, 'UNSUPPORTED', `method ${req.method} not allowed`);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) deny(res, 500, 'UNKNOWN', String(err));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  // A test that forgets stop() must not keep its process alive.
  server.unref();
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let stopped: Promise<void> | undefined;
  return {
    url,
    realm: `${url}/token`,
    tokensIssued: () => issued,
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return stopped;
    },
  };
}
