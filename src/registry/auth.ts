/**
 * Registry authentication: which scheme a registry asked for (none, Basic, Bearer), credentials
 * from the keychain once per repository, and Bearer tokens fetched from the token server and
 * cached per scope until they expire.
 */
import { Credentials } from '../auth/credentials.ts';
import type { Keychain } from '../auth/keychain.ts';
import { ProvenantError } from '../errors.ts';
import { isLoopbackHost, type Method } from '../net.ts';
import { type Challenge, findChallenge } from './challenge.ts';
import { responseError, sentSecrets, unauthorized } from './errors.ts';
import { type Answer, MiB, parseJsonObject, type Req, readErrorText, readLimited, redactUrl, sameHostName } from './http.ts';
import { covers, type ScopeSet, scopeKey, scopeSet } from './scope.ts';

/** How a registry authenticates, as its `/v2/` answer (or a later 401) said. */
export type AuthScheme = { kind: 'none' } | { kind: 'basic' } | { kind: 'bearer'; realm: URL; service: string | undefined };

interface CachedToken {
  token: string;
  expiresAt: number;
  scopes: ScopeSet;
  /** The credentials the token was fetched with (undefined: anonymously). */
  creds: Credentials | undefined;
}

/** Whether a token fetched with `a` may serve a request whose repository's credentials are `b`. */
function sameCredentials(a: Credentials | undefined, b: Credentials | undefined): boolean {
  return a === undefined || b === undefined ? a === b : a.equals(b);
}

/** What the authenticator needs of the client it serves. */
export interface AuthenticatorOptions {
  registry: string;
  keychain: Keychain;
  /** The host the registry's API is served from. */
  apiHost: string;
  /** Credentials may go over plain HTTP to a token server on the registry's own host name. */
  insecure: boolean;
  /** The clock for token expiry, in ms since the epoch. */
  clock: () => number;
  /** Sends a request without registry credentials (token requests) and reads its answer, retried as a whole. */
  sendAndRead: <T>(req: Req, read: (answer: Answer) => Promise<T>) => Promise<T>;
}

/** The scheme a challenge asks for; Basic when there is no usable Bearer realm. */
export function schemeFrom(challenges: Challenge[]): AuthScheme {
  const bearer = findChallenge(challenges, 'bearer');
  if (bearer?.params.realm !== undefined) {
    try {
      return { kind: 'bearer', realm: new URL(bearer.params.realm), service: bearer.params.service };
    } catch {
      // An unusable realm: fall through to Basic, or fail when the registry asks for auth.
    }
  }
  return { kind: 'basic' };
}

/** The authentication state of one registry client. */
export class Authenticator {
  /** Undefined until the registry has been pinged. */
  scheme: AuthScheme | undefined;
  readonly #o: AuthenticatorOptions;
  #tokens: CachedToken[] = [];
  readonly #pendingTokens: Array<{ key: string; creds: Credentials | undefined; token: Promise<CachedToken> }> = [];
  readonly #credentials = new Map<string, Promise<Credentials | undefined>>();

  constructor(options: AuthenticatorOptions) {
    this.#o = options;
  }

  /** The keychain's credentials for a repository, asked once. */
  credentialsFor(repository: string | undefined): Promise<Credentials | undefined> {
    const key = repository ?? '';
    let found = this.#credentials.get(key);
    if (found === undefined) {
      found = this.#o.keychain.resolve(this.#o.registry, repository);
      this.#credentials.set(key, found);
      found.catch(() => this.#credentials.delete(key));
    }
    return found;
  }

  /** The Authorization header for a request, fetching a token when one is needed. */
  async authorization(req: Req): Promise<string | undefined> {
    const auth = this.scheme;
    if (auth === undefined || auth.kind === 'none') return undefined;
    const creds = await this.credentialsFor(req.repository);
    if (auth.kind === 'basic') return creds?.basicAuthorization();
    if (creds?.kind === 'registryToken') return `Bearer ${creds.registryToken}`;
    if (req.scopes.length === 0) return undefined;
    const token = await this.#token(auth, req.scopes, creds, req);
    return `Bearer ${token.token}`;
  }

  async #token(auth: AuthScheme & { kind: 'bearer' }, scopes: string[], creds: Credentials | undefined, req: Req): Promise<CachedToken> {
    const now = this.#o.clock();
    const wanted = scopeSet(scopes);
    this.#tokens = this.#tokens.filter((t) => t.expiresAt > now);
    // A token is the grant of the credentials it was fetched with: one fetched for another
    // repository (a mount's, which also covers its source) with other credentials (a keychain may
    // answer per repository, as podman's auth.json does) does not serve this request.
    const cached = this.#tokens.find((t) => covers(t.scopes, wanted) && sameCredentials(t.creds, creds));
    if (cached !== undefined) return cached;
    const key = scopeKey(scopes);
    const pending = this.#pendingTokens.find((p) => p.key === key && sameCredentials(p.creds, creds));
    if (pending !== undefined) return pending.token;
    const entry = { key, creds, token: this.#fetchToken(auth, scopes, creds, req) };
    this.#pendingTokens.push(entry);
    const done = () => {
      const i = this.#pendingTokens.indexOf(entry);
      if (i >= 0) this.#pendingTokens.splice(i, 1);
    };
    entry.token.then(done, done);
    return entry.token;
  }

  /**
   * The token flow (https://distribution.github.io/distribution/spec/auth/token/): GET the
   * realm with `service` and one `scope` parameter per scope, Basic credentials when there are
   * some; with an identity token, the OAuth2 refresh-token grant is POSTed instead, as Docker
   * does (https://distribution.github.io/distribution/spec/auth/oauth/). Not every token server
   * has the OAuth2 endpoint: a 404 to the POST takes the GET flow instead, as that page says
   * and go-containerregistry does.
   */
  async #fetchToken(
    auth: AuthScheme & { kind: 'bearer' },
    scopes: string[],
    creds: Credentials | undefined,
    req: Req,
  ): Promise<CachedToken> {
    const registry = this.#o.registry;
    const requested = this.#o.clock();
    let bytes = await this.#requestToken(auth, scopes, creds, req, creds?.kind === 'identityToken' ? 'oauth' : 'get');
    if (bytes === undefined) {
      req.op.logger.debug(`${registry}: the token server has no OAuth2 endpoint (POST answered 404); using GET`);
      bytes = await this.#requestToken(auth, scopes, creds, req, 'get');
    }
    if (bytes === undefined) {
      throw new ProvenantError('NOT_FOUND', `the token server of ${registry} answered 404`, { where: req.where });
    }
    const answer = parseJsonObject(bytes, req.where, 'token answer');
    const token = typeof answer.token === 'string' ? answer.token : typeof answer.access_token === 'string' ? answer.access_token : '';
    if (token === '')
      throw new ProvenantError('REGISTRY', `the token server of ${registry} answered without a token`, { where: req.where });
    // expires_in defaults to 60 s (the token spec); renew a little early so a token does not
    // expire between being picked and being used.
    const lifetimeMs = (typeof answer.expires_in === 'number' && answer.expires_in > 0 ? answer.expires_in : 60) * 1000;
    const cached: CachedToken = {
      token,
      expiresAt: requested + lifetimeMs - Math.min(5000, lifetimeMs / 10),
      scopes: scopeSet(scopes),
      creds,
    };
    this.#tokens.push(cached);
    req.op.logger.debug(`${registry}: got a token for ${scopeKey(scopes)} (${Math.round(lifetimeMs / 1000)} s)`);
    return cached;
  }

  /**
   * One request to the token server: the OAuth2 refresh-token grant (POST) or the GET flow. The
   * GET flow sends Basic credentials: a user's password, or an identity token as the password
   * (of its user name, `<token>` when it has none, as credential helpers name it). The token
   * answer's bytes, or undefined when the POST was answered 404.
   */
  async #requestToken(
    auth: AuthScheme & { kind: 'bearer' },
    scopes: string[],
    creds: Credentials | undefined,
    req: Req,
    flow: 'oauth' | 'get',
  ): Promise<Uint8Array | undefined> {
    const registry = this.#o.registry;
    const url = new URL(auth.realm);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      // Said as what it is, the registry's challenge, not as a redirect (the transport's words).
      const shown = redactUrl(url);
      const at = shown.length > 200 ? `${shown.slice(0, 200)}…` : shown;
      throw new ProvenantError(
        'REGISTRY',
        `${registry}'s token server (its bearer realm) is a ${url.protocol} URL (${at}), which is not fetched`,
        {
          where: req.where,
          hint: 'a registry names a token server at an https (or http on this machine) URL in its WWW-Authenticate challenge',
        },
      );
    }
    const headers: Record<string, string> = {};
    let body: URLSearchParams | undefined;
    let method: Method = 'GET';
    if (flow === 'oauth') {
      method = 'POST';
      body = new URLSearchParams({ grant_type: 'refresh_token', client_id: 'provenant', refresh_token: creds?.identityToken ?? '' });
      if (auth.service !== undefined) body.set('service', auth.service);
      body.set('scope', scopes.join(' '));
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else {
      if (auth.service !== undefined) url.searchParams.set('service', auth.service);
      for (const s of scopes) url.searchParams.append('scope', s);
      const basic =
        creds?.kind === 'identityToken'
          ? new Credentials({ username: creds.username ?? '<token>', password: creds.identityToken ?? '' }).basicAuthorization()
          : creds?.basicAuthorization();
      if (basic !== undefined) {
        if (creds?.username !== undefined) url.searchParams.set('account', creds.username);
        headers.authorization = basic;
      }
    }
    // --insecure covers the registry's own machine, not a token server elsewhere it names.
    const plainAllowed = isLoopbackHost(url.host) || (this.#o.insecure && sameHostName(url, this.#o.apiHost));
    if (creds !== undefined && url.protocol === 'http:' && !plainAllowed) {
      throw new ProvenantError('INSECURE', `refusing to send credentials over plain HTTP to the token server ${url.host}`, {
        where: req.where,
        hint: this.#o.insecure ? `--insecure allows plain HTTP to ${registry} itself, not to other hosts` : undefined,
      });
    }
    const sent = creds !== undefined;
    // A token server may echo them (`wrong password s3cret`): its errors mask them.
    const secrets = sentSecrets([headers.authorization], creds);
    return this.#o.sendAndRead(
      {
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
        secrets,
        op: req.op,
      },
      async ({ res }) => {
        if (res.status === 404 && flow === 'oauth') {
          await readErrorText(res);
          return undefined;
        }
        if (res.status !== 200) {
          const text = await readErrorText(res);
          if (res.status === 401 || res.status === 403 || res.status === 400) {
            throw unauthorized({ registry, where: req.where, hadCredentials: sent });
          }
          throw responseError(res.status, text, { registry, where: req.where, what: 'get a token', hadCredentials: sent, sent: secrets });
        }
        return readLimited(res, MiB, req.where);
      },
    );
  }

  /**
   * After a 401 to a request sent under `sentUnder`: true when a fresh try can help (the scheme
   * changed, a token expired early or the scope grew).
   */
  async reauthenticate(req: Req, challenges: Challenge[], sentUnder: AuthScheme | undefined): Promise<boolean> {
    if (this.scheme === undefined || this.scheme.kind === 'none') {
      // The ping needed no auth but this repository does.
      this.scheme = schemeFrom(challenges);
      return true;
    }
    // Sent before a concurrent request's 401 moved the client to this scheme (a registry that
    // answers reads, and so its ping, anonymously but writes only with credentials): the request
    // went without the credentials it now has, and its 401 says nothing of them.
    if (sentUnder !== this.scheme) return true;
    if (this.scheme.kind !== 'bearer') return false;
    const creds = await this.credentialsFor(req.repository);
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

  /** The error for a 401 that a fresh try did not fix: DENIED for a scope the credentials lack. */
  async unauthorized(req: Req, challenges: Challenge[]): Promise<ProvenantError> {
    const registry = this.#o.registry;
    const hadCredentials = (await this.credentialsFor(req.repository)) !== undefined;
    const error = findChallenge(challenges, 'bearer')?.params.error;
    if (hadCredentials && error === 'insufficient_scope') {
      return new ProvenantError('DENIED', `${registry} denied ${req.what}: the credentials do not grant ${req.scopes.join(' ')}`, {
        where: req.where,
        hint: 'check that the account may push to (or read) this repository',
      });
    }
    return unauthorized({ registry, where: req.where, hadCredentials });
  }
}
