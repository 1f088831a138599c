/**
 * Registry access for the Action: the credentials docker/login-action wrote (Docker's
 * config.json in DOCKER_CONFIG or ~/.docker, credential helpers included), then podman's
 * auth.json. One client per registry host, so tokens are shared by every repository the run
 * touches in it.
 *
 * Stand-in: the CLI builds the same access in src/cli/registry.ts, and the library is getting one
 * shared `registryAccess`; when it lands, this function becomes a call to it.
 */
import { defaultKeychain } from '../auth/keychain.ts';
import { RegistryClient } from '../registry/client.ts';
import type { RegistryOpenOptions } from '../store/open.ts';
import { RegistryStore } from '../store/registry.ts';
import type { Logger } from '../store/types.ts';

/** Opens registry repositories with the job's registry logins. */
export function actionRegistryAccess(options: {
  env: Record<string, string | undefined>;
  homedir: string;
  logger?: Logger | undefined;
}): RegistryOpenOptions {
  const keychain = defaultKeychain({ env: options.env, homedir: options.homedir });
  const clients = new Map<string, RegistryClient>();
  return {
    async open(location) {
      const registry = location.reference.registry;
      let client = clients.get(registry);
      if (client === undefined) {
        client = new RegistryClient(registry, { keychain, ...(options.logger ? { logger: options.logger } : {}) });
        clients.set(registry, client);
      }
      return new RegistryStore(client, location.reference.repository);
    },
  };
}
