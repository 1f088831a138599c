/** Registry credentials (a user and password, an identity token or a registry token) that never show themselves in logs or errors. */
const { inspect } = process.getBuiltinModule('node:util');

/** What a credential is made of, as a keychain finds it. */
export type CredentialsInit =
  | { readonly username: string; readonly password: string }
  | { readonly identityToken: string; readonly username?: string | undefined }
  | { readonly registryToken: string };

/** The three kinds of credentials registries take. */
export type CredentialsKind = 'basic' | 'identityToken' | 'registryToken';

/**
 * Registry credentials. The secrets live in private fields, and every way a value usually
 * reaches a log or an error message — `String()`, template literals, `JSON.stringify`,
 * `util.inspect` and `console.log` — shows `Credentials(basic, secret hidden)` instead, so a
 * stray `logger.debug(String(creds))` or an error's `cause` cannot leak a password.
 *
 * - `basic`: a user name and password (Basic auth, or sent to a token server as Basic).
 * - `identityToken`: a refresh token that Docker stores after an OAuth2 login (`identitytoken`
 *   in config.json, or a credential helper answering with user name `<token>`); it is traded
 *   for access tokens with an OAuth2 `refresh_token` grant.
 * - `registryToken`: a bearer token sent to the registry as is (Docker's `registrytoken`).
 */
export class Credentials {
  readonly kind: CredentialsKind;
  readonly #username: string | undefined;
  readonly #secret: string;

  constructor(init: CredentialsInit) {
    if ('password' in init) {
      this.kind = 'basic';
      this.#username = init.username;
      this.#secret = init.password;
    } else if ('identityToken' in init) {
      this.kind = 'identityToken';
      this.#username = init.username;
      this.#secret = init.identityToken;
    } else {
      this.kind = 'registryToken';
      this.#username = undefined;
      this.#secret = init.registryToken;
    }
  }

  /** The user name (basic credentials, and identity tokens that came with one). */
  get username(): string | undefined {
    return this.#username;
  }

  /** The password of basic credentials. Read it only to send it. */
  get password(): string | undefined {
    return this.kind === 'basic' ? this.#secret : undefined;
  }

  /** The OAuth2 refresh token of identity-token credentials. Read it only to send it. */
  get identityToken(): string | undefined {
    return this.kind === 'identityToken' ? this.#secret : undefined;
  }

  /** The bearer token of registry-token credentials. Read it only to send it. */
  get registryToken(): string | undefined {
    return this.kind === 'registryToken' ? this.#secret : undefined;
  }

  /** `Basic base64(user:password)` for basic credentials. */
  basicAuthorization(): string | undefined {
    if (this.kind !== 'basic') return undefined;
    return `Basic ${Buffer.from(`${this.#username ?? ''}:${this.#secret}`, 'utf8').toString('base64')}`;
  }

  /** True when `other` is the same credential: kind, user name and secret. */
  equals(other: Credentials): boolean {
    return this.kind === other.kind && this.#username === other.#username && this.#secret === other.#secret;
  }

  /** The redacted form: the kind only. */
  toString(): string {
    return `Credentials(${this.kind}, secret hidden)`;
  }

  toJSON(): { kind: CredentialsKind; secret: 'hidden' } {
    return { kind: this.kind, secret: 'hidden' };
  }

  [inspect.custom](): string {
    return this.toString();
  }
}
