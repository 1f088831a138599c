/** Flags several commands share, and the parsing of their values and of the environment they read. */
import { ProvenantError } from '../errors.ts';
import { hostPlatform, parsePlatform } from '../oci/platform.ts';
import type { Platform } from '../oci/types.ts';
import { parseSourceDateEpoch } from '../time.ts';
import type { FlagSpec, ParsedArgs } from './args.ts';
import type { CliIo } from './io.ts';

/** `--format text|json`. */
export const FORMAT_FLAG: FlagSpec = { type: 'string', description: 'output format: text or json' };

/** How to reach registries: credentials and plain HTTP. */
export const REGISTRY_FLAGS: Record<string, FlagSpec> = {
  insecure: { type: 'boolean', description: 'allow plain HTTP to registries other than localhost (TLS is always verified)' },
  username: { type: 'string', description: 'registry user name (with --password-stdin)' },
  'password-stdin': { type: 'boolean', description: 'read the registry password from standard input' },
};

/** The download cache of `build` and `lock`. */
export const CACHE_DIR_FLAG: FlagSpec = {
  type: 'string',
  description: 'download cache (default $XDG_CACHE_HOME/provenant or ~/.cache/provenant)',
};

/** `--format`: text (default) or json. */
export function formatOf(args: ParsedArgs): 'text' | 'json' {
  const f = (args.values.format as string | undefined) ?? 'text';
  if (f !== 'text' && f !== 'json') throw new ProvenantError('USAGE', `--format must be text or json, not "${f}"`);
  return f;
}

/** Exactly `count` positional arguments, or USAGE with the command's usage line. */
export function positional(args: ParsedArgs, count: number, usage: string): string[] {
  if (args.positionals.length !== count) {
    throw new ProvenantError('USAGE', `expected ${count} argument(s), got ${args.positionals.length}`, { hint: `usage: ${usage}` });
  }
  return args.positionals;
}

/** A `--platform` value; `host` is this machine's. */
export function platformArg(text: string): Platform {
  return text === 'host' ? hostPlatform(process.arch) : parsePlatform(text);
}

/** `true`/`1` or `false`/`0`, for string flags that default to true. */
export function parseBool(text: string, flag: string): boolean {
  if (text === 'true' || text === '1') return true;
  if (text === 'false' || text === '0') return false;
  throw new ProvenantError('USAGE', `${flag} must be true or false, not ${JSON.stringify(text)}`);
}

/** SOURCE_DATE_EPOCH, the reproducible-builds convention, when set (read once, in src/time.ts). */
export function sourceDateEpoch(io: CliIo): number | undefined {
  return parseSourceDateEpoch(io.env.SOURCE_DATE_EPOCH);
}
