/** Command lines: flags as each command declares them, with `PROVENANT_*` variables as their defaults. */
import { ProvenantError } from '../errors.ts';

// node:util's parseArgs is a lazy property whose modules are not in Node's start-up snapshot: it
// is read when a command line has flags, not when this module loads.
const util = () => process.getBuiltinModule('node:util');
type ParseArgs = typeof import('node:util').parseArgs;

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
export async function parseCommandArgs(
  argv: string[],
  flags: Record<string, FlagSpec>,
  env: Record<string, string | undefined>,
  command = 'this command',
): Promise<ParsedArgs> {
  const parsed = argv.some((a) => a.startsWith('-'))
    ? await parseFlags(argv, flags, command)
    : // No word is a flag (`digest oci:DIR:TAG`): all are positionals, as parseArgs would say,
      // without loading it (node:util's parseArgs is not in Node's start-up snapshot).
      { values: {}, positionals: [...argv] };
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

/** The command line parsed by node:util's parseArgs, after {@link checkFlags} has said what is wrong with it. */
async function parseFlags(argv: string[], flags: Record<string, FlagSpec>, command: string): Promise<ParsedArgs> {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(flags)) {
    options[name] = { type: spec.type, ...(spec.short ? { short: spec.short } : {}), ...(spec.multiple ? { multiple: true } : {}) };
  }
  await checkFlags(argv, options, flags, command);
  try {
    const { values, positionals } = util().parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: values as ParsedArgs['values'], positionals };
  } catch (cause) {
    // checkFlags has said what is wrong with every case it knows; this is the rest, cleaned.
    const said = (cause as Error).message.replace(/^.*?: /, '').replace(/\. To specify .*$/s, '');
    throw new ProvenantError('USAGE', said, { hint: `provenant help ${command} lists its flags`, cause });
  }
}

/** The flag as the user wrote it, and as the command knows it. */
function flagName(rawName: string, flags: Record<string, FlagSpec>): string | undefined {
  if (rawName.startsWith('--')) return rawName.slice(2) in flags ? rawName.slice(2) : undefined;
  return Object.entries(flags).find(([, f]) => f.short === rawName.slice(1))?.[0];
}

/**
 * The mistakes a command line can hold, each said with the flag as written and what to do: a
 * flag the command does not have (with the closest one it has), a value missing, a value given
 * to a switch. node:util's own messages name its API instead of the user's command line.
 */
async function checkFlags(
  argv: string[],
  options: NonNullable<Parameters<ParseArgs>[0]>['options'],
  flags: Record<string, FlagSpec>,
  command: string,
): Promise<void> {
  const { tokens } = util().parseArgs({ args: argv, options, allowPositionals: true, strict: false, tokens: true });
  const help = `provenant help ${command} lists its flags`;
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const name = flagName(token.rawName, flags);
    if (name === undefined) {
      const known = Object.keys(flags);
      // Loaded for mistakes only: the YAML module is not needed to run a command right.
      const { suggest } = await import('../yaml.ts');
      const guess = token.rawName.startsWith('--') ? suggest(token.name, known) : undefined;
      throw new ProvenantError('USAGE', `unknown flag ${token.rawName}${guess === undefined ? '' : `: did you mean --${guess}?`}`, {
        hint: known.length === 0 ? `${command} takes no flags` : help,
      });
    }
    const spec = flags[name]!;
    if (spec.type === 'boolean' && token.inlineValue === true) {
      throw new ProvenantError('USAGE', `--${name} is a switch and takes no value (it was given "${token.value}")`, {
        hint: `write --${name} alone, or set ${envName(name)}=true or false`,
      });
    }
    if (
      spec.type === 'string' &&
      (token.value === undefined || (token.inlineValue !== true && token.value.startsWith('-') && token.value !== '-'))
    ) {
      throw new ProvenantError('USAGE', `${token.rawName} needs a value`, {
        hint: `write ${token.rawName} VALUE, or --${name}=VALUE for a value that starts with "-"`,
      });
    }
  }
}
