/**
 * Registry access as Docker, podman and skopeo give it: explicit credentials first, then the
 * standard credential files and helpers, one client per registry host. What the CLI builds from
 * its flags, for library users too.
 */
import type { Keychain } from '../auth/keychain.ts';
import { ProvenantError } from '../errors.ts';
import type { RegistryClient, RegistryClientOptions } from '../registry/client.ts';
import type { RegistryOpenOptions } from './open.ts';

/** Options of {@link registryAccess}. */
export interface RegistryAccessOptions {
  /** A user name, tried before the credential files at `credentialsRegistry`; needs `password`. */
  username?: string | undefined;
  /** The password (or token) that goes with `username`. */
  password?: string | undefined;
  /**
   * The one registry `username` and `password` are for (a host as a reference names it:
   * `registry.example`, `localhost:5000`, `docker.io`). Every other registry gets the credential files
   * alone: a password sent to each registry a command reaches would go to all of them, a source
   * and a destination alike.
   */
  credentialsRegistry?: string | undefined;
  /** Allow plain HTTP to registries other than localhost (TLS is always verified when used). */
  insecure?: boolean | undefined;
  /**
   * The environment the credential files are found by (`DOCKER_CONFIG`, `REGISTRY_AUTH_FILE`,
   * `XDG_RUNTIME_DIR`): the library reads no process state, so the caller passes it.
   */
  env: Record<string, string | undefined>;
  /** The home folder (`~/.docker/config.json`). */
  homedir: string;
  /**
   * The user id of podman's `/run/containers/$UID/auth.json`, read when `XDG_RUNTIME_DIR` is not
   * set (`process.getuid()`, for this process's user); without it that file is not read.
   */
  uid?: number | undefined;
  /** More options for each client (retries, concurrency, User-Agent). */
  client?: Omit<RegistryClientOptions, 'keychain' | 'insecure' | 'logger' | 'onProgress'> | undefined;
}

/**
 * How to reach registries, for {@link openLocation}: credentials from `username` and `password`
 * at `credentialsRegistry` when given, then `$DOCKER_CONFIG/config.json` (`auths`, `credsStore`,
 * `credHelpers`), then podman's `auth.json`. One client per registry host, so tokens are shared between a source and a
 * destination in the same registry. The registry modules load on first use, so a program that
 * opens only local stores never loads them.
 *
 * @throws ProvenantError `USAGE` when only one of `username` and `password` is given, or they are
 *   given without `credentialsRegistry`
 */
export function registryAccess(options: RegistryAccessOptions): RegistryOpenOptions {
  const { username, password, credentialsRegistry } = options;
  if ((username === undefined) !== (password === undefined)) {
    throw new ProvenantError('USAGE', username === undefined ? 'a password needs a username' : `the username ${username} needs a password`);
  }
  if (username !== undefined && credentialsRegistry === undefined) {
    throw new ProvenantError('USAGE', `the credentials of ${username} need the registry they are for (credentialsRegistry)`);
  }
  const clients = new Map<string, RegistryClient>();
  return {
    async open(location, openOptions) {
      const registry = location.reference.registry;
      const { RegistryStore } = await import('./registry.ts');
      let client = clients.get(registry);
      if (client === undefined) {
        const { chainKeychains, staticKeychain } = await import('../auth/keychain.ts');
        const { defaultKeychain } = await import('../auth/docker-config.ts');
        const { RegistryClient } = await import('../registry/client.ts');
        const files = defaultKeychain({ env: options.env, homedir: options.homedir, uid: options.uid });
        const keychain: Keychain =
          username !== undefined && password !== undefined && registry === credentialsRegistry
            ? chainKeychains(staticKeychain(registry, { username, password }), files)
            : files;
        client = new RegistryClient(registry, {
          ...options.client,
          keychain,
          insecure: options.insecure === true,
          ...(openOptions.logger ? { logger: openOptions.logger } : {}),
          ...(openOptions.onProgress ? { onProgress: openOptions.onProgress } : {}),
        });
        clients.set(registry, client);
      }
      return new RegistryStore(client, location.reference.repository);
    },
  };
}
