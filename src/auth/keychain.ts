/**
 * The Keychain interface (where registry credentials come from) and the keychains that need no
 * file: anonymous, explicit credentials, and a chain of others. The file keychains (Docker's
 * config.json and credential helpers, podman's auth.json) are in docker-config.ts.
 */
import { DOCKER_HUB, DOCKER_HUB_ALIASES, DOCKER_HUB_INDEX } from '../ref/reference.ts';
import { Credentials, type CredentialsInit } from './credentials.ts';

/**
 * Where credentials come from. `registry` is a registry as users write it (`docker.io`,
 * `registry.example`, `127.0.0.1:5000`); `repository`, when given, lets keychains that key credentials
 * by repository path (containers' auth.json) pick the most specific entry.
 * Undefined means "no credentials here": the next keychain of a chain is asked, and a
 * registry is then accessed anonymously.
 */
export interface Keychain {
  resolve(registry: string, repository?: string): Promise<Credentials | undefined>;
}

/** A keychain that never has credentials (anonymous access). */
export const anonymousKeychain: Keychain = {
  async resolve() {
    return undefined;
  },
};

/**
 * Explicit credentials (`--username` with `--password-stdin`), for one registry or, with no
 * `registry`, for whichever registry is asked about.
 */
export class StaticKeychain implements Keychain {
  readonly #credentials: Credentials;
  readonly #registry: string | undefined;

  constructor(credentials: Credentials | CredentialsInit, options: { registry?: string | undefined } = {}) {
    this.#credentials = credentials instanceof Credentials ? credentials : new Credentials(credentials);
    this.#registry = options.registry === undefined ? undefined : normalizeRegistry(options.registry);
  }

  async resolve(registry: string): Promise<Credentials | undefined> {
    if (this.#registry !== undefined && normalizeRegistry(registry) !== this.#registry) return undefined;
    return this.#credentials;
  }

  toString(): string {
    return `StaticKeychain(${this.#registry ?? '*'})`;
  }
}

/** The first keychain that has credentials for a registry wins. */
export function chainKeychains(...keychains: Keychain[]): Keychain {
  return {
    async resolve(registry: string, repository?: string) {
      for (const k of keychains) {
        const found = await k.resolve(registry, repository);
        if (found !== undefined) return found;
      }
      return undefined;
    },
  };
}

/** The key Docker writes Docker Hub's credentials under in config.json (the aliases are ref/reference.ts's). */
export const DOCKER_HUB_AUTH_KEY = `https://${DOCKER_HUB_INDEX}/v1/`;

/**
 * Reduces a registry as it appears in a config file key or on the command line to a host[:port]
 * in lower case: the scheme and any path are dropped (`https://index.docker.io/v1/` → `docker.io`,
 * `http://localhost:5000/v2/` → `localhost:5000`), and Docker Hub's aliases become `docker.io`.
 */
export function normalizeRegistry(key: string): string {
  let host = key.trim();
  host = host.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = host.indexOf('/');
  if (slash >= 0) host = host.slice(0, slash);
  host = host.toLowerCase();
  return DOCKER_HUB_ALIASES.has(host) ? DOCKER_HUB : host;
}

/** Explicit credentials for one registry (`staticKeychain('registry.example', { username, password })`). */
export function staticKeychain(registry: string, credentials: Credentials | CredentialsInit): Keychain {
  return new StaticKeychain(credentials, { registry });
}
