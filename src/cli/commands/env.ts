/** `provenant env`: every environment variable Provenant reads, the flags' PROVENANT_* ones included. */
import { envName, type ParsedArgs } from '../args.ts';
import type { CommandContext, CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';

export const spec: CommandSpec = {
  summary: 'list the environment variables Provenant reads',
  usage: 'provenant env',
  flags: {},
};

const VARIABLES = [
  'DOCKER_CONFIG         folder of config.json with registry credentials (default ~/.docker)',
  'REGISTRY_AUTH_FILE    containers auth.json with registry credentials (podman, skopeo)',
  'PROVENANT_PASSWORD    registry password, instead of --password-stdin',
  // Signing: cosign's variables, so a job set up for cosign signs with Provenant as it is.
  'COSIGN_PASSWORD       the password of a cosign private key (--key); also PROVENANT_KEY_PASSWORD',
  'PROVENANT_KEY_PASSWORD the password of a cosign private key, when COSIGN_PASSWORD is not set',
  'SIGSTORE_ID_TOKEN     keyless signing: the OIDC identity token, instead of --identity-token',
  'ACTIONS_ID_TOKEN_REQUEST_URL, ACTIONS_ID_TOKEN_REQUEST_TOKEN  keyless signing in GitHub Actions: the job asks for its OIDC token',
  'SOURCE_DATE_EPOCH     build: the image creation time, and the latest time any file may have',
  'XDG_CACHE_HOME        build, lock: the download cache goes in $XDG_CACHE_HOME/provenant',
  'PROVENANT_GIT_BASE    pin: where owner/repo is looked up, as <base>/owner/repo (default https://github.com)',
  "COSIGN_PASSWORD       fix --key: the private key's password (PROVENANT_KEY_PASSWORD first, when set)",
  'SIGSTORE_ID_TOKEN     fix --keyless: the OIDC identity token, when --identity-token is not given',
];

export async function run(_args: ParsedArgs, io: CliIo, context: CommandContext): Promise<void> {
  const rows = [...VARIABLES];
  const seen = new Set<string>();
  for (const [name, cmd] of Object.entries(await context.specs())) {
    for (const [flag, flagSpec] of Object.entries(cmd.flags)) {
      const key = envName(flag);
      if (seen.has(key)) continue;
      seen.add(key);
      rows.push(`${key.padEnd(21)} --${flag} (${name}${flagSpec.multiple ? ', comma-separated' : ''}): ${flagSpec.description}`);
    }
  }
  io.stdout.write(`${rows.join('\n')}\n`);
}
