import type { Keychain } from '../auth/keychain.ts';
import { ProvenantError } from '../errors.ts';
import type { RegistryClient } from '../registry/client.ts';
import type { RegistryOpenOptions } from '../store/open.ts';
import type { ParsedArgs } from './args.ts';
import type { CliIo } from './main.ts';

/**
 * Registry access for a command: credentials from --username with --password-stdin (or
 * PROVENANT_PASSWORD), then Docker's and podman's credential files; --insecure for plain HTTP
 * beyond localhost. One client per registry host, so tokens are shared between source and
 * destination in the same registry. The registry modules load on first use, so commands on
 * local stores start without them.
 */
export async function registryAccess(args: ParsedArgs, io: CliIo): Promise<RegistryOpenOptions> {
  const username = args.values.username as string | undefined;
  let password: string | undefined;
  if (args.values['password-stdin']) {
    if (username === undefined) throw new ProvenantError('USAGE', '--password-stdin needs --username');
    password = (await readStdin(io.stdin)).replace(/\r?\n$/, '');
  } else if (username !== undefined) {
    password = io.env.PROVENANT_PASSWORD;
    if (password === undefined) throw new ProvenantError('USAGE', '--username needs --password-stdin (or PROVENANT_PASSWORD)');
  }
  const clients = new Map<string, RegistryClient>();
  return {
    async open(location, options) {
      const registry = location.reference.registry;
      const { chainKeychains, defaultKeychain, staticKeychain } = await import('../auth/keychain.ts');
      const { RegistryClient } = await import('../registry/client.ts');
      const { RegistryStore } = await import('../store/registry.ts');
      let client = clients.get(registry);
      if (client === undefined) {
        const files = defaultKeychain({ env: io.env, homedir: io.homedir });
        const keychain: Keychain =
          username !== undefined && password !== undefined
            ? chainKeychains(staticKeychain(registry, { username, password }), files)
            : files;
        client = new RegistryClient(registry, {
          keychain,
          insecure: args.values.insecure === true,
          ...(options.logger ? { logger: options.logger } : {}),
          ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        });
        clients.set(registry, client);
      }
      return new RegistryStore(client, location.reference.repository);
    },
  };
}

async function readStdin(stdin: NodeJS.ReadableStream): Promise<string> {
  if ((stdin as { isTTY?: boolean }).isTTY) {
    throw new ProvenantError('USAGE', '--password-stdin reads a pipe, not a terminal', {
      hint: 'echo "$PASSWORD" | provenant ... --password-stdin',
    });
  }
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks).toString('utf8');
}
