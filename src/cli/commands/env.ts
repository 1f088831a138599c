/** `provenant env`: every environment variable Provenant reads, the flags' PROVENANT_* ones included. */
import { envName, type ParsedArgs } from '../args.ts';
import type { CommandContext, CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { FORMAT_FLAG, formatOf, positional, writeJson } from '../options.ts';

export const spec: CommandSpec = {
  summary: 'list the environment variables Provenant reads',
  usage: 'provenant env [--format json]',
  prints: 'result',
  flags: { format: FORMAT_FLAG },
};

/** The variables that are not flags: who reads them and what for. */
const VARIABLES: { name: string; description: string }[] = [
  { name: 'DOCKER_CONFIG', description: 'folder of config.json with registry credentials (default ~/.docker)' },
  { name: 'REGISTRY_AUTH_FILE', description: 'containers auth.json with registry credentials (podman, skopeo)' },
  {
    name: 'HTTPS_PROXY',
    description:
      'the proxy for https URLs (registries, package repositories, Sigstore), http://[USER:PASSWORD@]HOST:PORT; also https_proxy',
  },
  { name: 'HTTP_PROXY', description: 'the proxy for plain-HTTP URLs (a registry under --insecure); also http_proxy' },
  {
    name: 'NO_PROXY',
    description:
      'hosts reached without the proxy, comma-separated (.example.org,registry.example:5000); localhost, 127.0.0.1 and [::1] always are; also no_proxy',
  },
  { name: 'PROVENANT_PASSWORD', description: 'the registry password of --username, instead of --password-stdin' },
  // Signing: cosign's variables, so a job set up for cosign signs with Provenant as it is.
  {
    name: 'COSIGN_PASSWORD',
    description: 'the password of a cosign private key (--key, generate-key-pair), as cosign reads it',
  },
  {
    name: 'PROVENANT_KEY_PASSWORD',
    description: 'the password of a cosign private key, when COSIGN_PASSWORD is not set',
  },
  { name: 'SIGSTORE_ID_TOKEN', description: 'keyless signing: the OIDC identity token, when --identity-token is not given' },
  {
    name: 'ACTIONS_ID_TOKEN_REQUEST_URL',
    description: 'keyless signing in GitHub Actions: where the job asks for its OIDC token (with ACTIONS_ID_TOKEN_REQUEST_TOKEN)',
  },
  { name: 'SOURCE_DATE_EPOCH', description: 'build: the image creation time, and the latest time any file may have' },
  { name: 'XDG_CACHE_HOME', description: 'build, lock: the download cache goes in $XDG_CACHE_HOME/provenant' },
  { name: 'PROVENANT_GIT_BASE', description: 'pin: where owner/repo is looked up, as <base>/owner/repo (default https://github.com)' },
  { name: 'CI', description: 'when set, progress is printed as plain timestamped lines even on a terminal' },
  { name: 'PROVENANT_DEBUG', description: 'when set, errors are printed with their stack' },
];

interface FlagVariable {
  name: string;
  flag: string;
  commands: string[];
  description: string;
}

/**
 * One row per PROVENANT_<FLAG>: the flag, every command that has it, and what it means, when that
 * is the same for all of them (`--output` names a different thing in each).
 */
function flagVariables(specs: Record<string, CommandSpec>): FlagVariable[] {
  const rows = new Map<string, FlagVariable & { descriptions: Set<string> }>();
  for (const [command, cmd] of Object.entries(specs)) {
    for (const [flag, flagSpec] of Object.entries(cmd.flags)) {
      const name = envName(flag);
      const row = rows.get(name) ?? { name, flag, commands: [], description: '', descriptions: new Set<string>() };
      row.commands.push(command);
      row.descriptions.add(`${flagSpec.description}${flagSpec.multiple ? ' (comma-separated)' : ''}`);
      rows.set(name, row);
    }
  }
  return [...rows.values()]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map(({ descriptions, ...row }) => ({
      ...row,
      description: descriptions.size === 1 ? [...descriptions][0]! : 'see provenant help COMMAND for what it means in each',
    }));
}

export async function run(args: ParsedArgs, io: CliIo, context: CommandContext): Promise<void> {
  positional(args, 0, spec.usage);
  const format = formatOf(args);
  const specs = await context.specs();
  const all = Object.keys(specs).length;
  const flags = flagVariables(specs);
  if (format === 'json') return writeJson(io, { variables: VARIABLES, flags });
  const width = Math.max(...[...VARIABLES, ...flags].map((v) => v.name.length)) + 2;
  const lines = VARIABLES.map((v) => `${v.name.padEnd(width)}${v.description}`);
  for (const f of flags) {
    const who = f.commands.length === all ? 'every command' : f.commands.join(', ');
    lines.push(`${f.name.padEnd(width)}--${f.flag} (${who}): ${f.description}`);
  }
  io.stdout.write(`${lines.join('\n')}\n`);
}
