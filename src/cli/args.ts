/** Command lines: flags as each command declares them, with `PROVENANT_*` variables as their defaults. */
import { parseArgs } from 'node:util';
import { ProvenantError } from '../errors.ts';

/** A flag a command accepts. Every flag can also be set by `PROVENANT_<NAME>` in the environment. */
export interface FlagSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  description: string;
}

/** The parsed command line of one command. */
export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** `--dry-run` → `PROVENANT_DRY_RUN`. */
export function envName(flag: string): string {
  return `PROVENANT_${flag.toUpperCase().replaceAll('-', '_')}`;
}

/**
 * Parses argv for one command. A flag missing from the command line is read from its
 * `PROVENANT_*` variable (lists separated by commas; booleans as 1/true/0/false).
 */
export function parseCommandArgs(argv: string[], flags: Record<string, FlagSpec>, env: Record<string, string | undefined>): ParsedArgs {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(flags)) {
    options[name] = { type: spec.type, ...(spec.short ? { short: spec.short } : {}), ...(spec.multiple ? { multiple: true } : {}) };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (cause) {
    throw new ProvenantError('USAGE', (cause as Error).message.replace(/^.*?: /, ''), { hint: 'see provenant help' });
  }
  const values = { ...parsed.values } as ParsedArgs['values'];
  for (const [name, spec] of Object.entries(flags)) {
    if (values[name] !== undefined) continue;
    const raw = env[envName(name)];
    if (raw === undefined || raw === '') continue;
    if (spec.type === 'boolean') {
      if (!/^(1|true|0|false)$/i.test(raw)) {
        throw new ProvenantError('USAGE', `${envName(name)} must be true or false, not "${raw}"`);
      }
      values[name] = /^(1|true)$/i.test(raw);
    } else values[name] = spec.multiple ? raw.split(',').map((s) => s.trim()) : raw;
  }
  return { values, positionals: parsed.positionals };
}
