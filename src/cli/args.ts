/** Command lines: flags as each command declares them, with `PROVENANT_*` variables as their defaults. */
import { ProvenantError } from '../errors.ts';

// node:util's parseArgs is a lazy property whose modules are not in Node's start-up snapshot: it
// is read when a command line has flags, not when this module loads.
const util = () => process.getBuiltinModule('node:util');

/** A flag a command accepts. Every flag can also be set by `PROVENANT_<NAME>` in the environment. */
export interface FlagSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  description: string;
  /** The values it takes, when they are a fixed set: shown by help and offered by completion. */
  values?: readonly string[];
  /**
   * Values the flag of this name takes in other commands only (report's `--format html`): a
   * `PROVENANT_*` variable is every command's default, so one of these from the environment is
   * left to those commands, and this one keeps its own default. Any other value outside
   * {@link values} from the environment is refused, naming the variable.
   */
  valuesElsewhere?: readonly string[];
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
  // A plain command line (`copy --quiet SRC DST`, `build CONFIG -o DST --format json`) is read
  // here, as parseArgs would read it; anything else goes to parseArgs' tokens and their checks.
  // Loading parseArgs and running it (twice, as it then was) cost about 6 million instructions,
  // 5% of a command's start (issue 16).
  const parsed = plainArgs(argv, flags) ?? (await parseFlags(argv, flags, command));
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
    } else if (spec.values !== undefined && !spec.multiple && !spec.values.includes(raw)) {
      if (spec.valuesElsewhere?.includes(raw)) continue;
      const all = [...spec.values, ...(spec.valuesElsewhere ?? [])];
      throw new ProvenantError('USAGE', `${envName(name)} must be ${spec.values.join(' or ')} for ${command}, not "${raw}"`, {
        hint: `${envName(name)} is the default of --${name} for every command (${all.join(', ')}); a command that cannot take its value keeps its own default`,
      });
    } else values[name] = spec.multiple ? raw.split(',').map((s) => s.trim()) : raw;
  }
  return { values, positionals: parsed.positionals };
}

/**
 * `argv` parsed as node:util's parseArgs (strict, positionals allowed) parses it, when every word
 * is of the plain kinds: a positional (`-` included), `--` and the positionals after it, a known
 * switch (`--quiet`, `-q`), a known flag with its value as the next word (`--format json`,
 * `-o DIR`: a value that does not start with "-") or after "=" (`--format=json`). Else
 * undefined: {@link parseFlags} reads it from parseArgs' tokens and says what is wrong.
 */
export function plainArgs(argv: readonly string[], flags: Record<string, FlagSpec>): ParsedArgs | undefined {
  const values: ParsedArgs['values'] = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!word.startsWith('-') || word === '-') {
      positionals.push(word);
      continue;
    }
    const eq = word.startsWith('--') ? word.indexOf('=') : -1;
    const written = eq < 0 ? word : word.slice(0, eq);
    const name = written.startsWith('--') ? written.slice(2) : written.length === 2 ? shortFlag(written[1]!, flags) : undefined;
    const spec = name === undefined || !Object.hasOwn(flags, name) ? undefined : flags[name];
    if (name === undefined || spec === undefined || name === '__proto__') return undefined;
    let value: string | boolean;
    if (spec.type === 'boolean') {
      if (eq >= 0) return undefined;
      value = true;
    } else if (eq >= 0) value = word.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('-') && next !== '-')) return undefined;
      value = next;
      i++;
    }
    if (spec.multiple) values[name] = [...((values[name] as string[] | undefined) ?? []), value as string];
    else values[name] = value;
  }
  return { values, positionals };
}

/**
 * A switch's value written after "=", as Go's flag packages (cosign's) take it: `--tlog-upload=false`.
 * Undefined for a word that is not one of strconv.ParseBool's.
 */
function inlineBool(text: string): boolean | undefined {
  if (/^(1|t|T|TRUE|true|True)$/.test(text)) return true;
  if (/^(0|f|F|FALSE|false|False)$/.test(text)) return false;
  return undefined;
}

/** The flag whose short form is `-letter`. */
function shortFlag(letter: string, flags: Record<string, FlagSpec>): string | undefined {
  return Object.entries(flags).find(([, f]) => f.short === letter)?.[0];
}

/**
 * The command line read from node:util's parseArgs tokens, in one pass that says what is wrong
 * with it and takes each flag's value. A switch's words (`--quiet`, `-q`, `-qo DIR`,
 * `--quiet=false`) are read in order, so the last one wins, as for a flag with a value: parseArgs
 * itself refuses a switch's value, so its strict mode cannot read `--quiet=false`.
 */
async function parseFlags(argv: string[], flags: Record<string, FlagSpec>, command: string): Promise<ParsedArgs> {
  // Only the tokens are read, which a flag's `multiple` does not change: repeated values are
  // collected below.
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const [name, spec] of Object.entries(flags)) {
    options[name] = { type: spec.type, ...(spec.short ? { short: spec.short } : {}) };
  }
  const { tokens } = util().parseArgs({ args: argv, options, allowPositionals: true, strict: false, tokens: true });
  const values: ParsedArgs['values'] = {};
  const positionals: string[] = [];
  for (const token of tokens) {
    if (token.kind === 'positional') positionals.push(token.value);
    if (token.kind !== 'option') continue;
    const [name, value] = await flagValue(token, flags, command);
    if (flags[name]!.multiple) values[name] = [...((values[name] as string[] | undefined) ?? []), value as string];
    else values[name] = value;
  }
  return { values, positionals };
}

/** The flag as the user wrote it, and as the command knows it. */
function flagName(rawName: string, flags: Record<string, FlagSpec>): string | undefined {
  if (rawName.startsWith('--')) return Object.hasOwn(flags, rawName.slice(2)) ? rawName.slice(2) : undefined;
  return shortFlag(rawName.slice(1), flags);
}

/**
 * One flag of the command line, as the command knows it, and its value; or the mistake it holds,
 * said with the flag as written and what to do: a flag the command does not have (with the
 * closest one it has), a value missing, a value given to a switch. node:util's own messages name
 * its API instead of the user's command line.
 */
async function flagValue(
  token: { rawName: string; name: string; value: string | undefined; inlineValue: boolean | undefined },
  flags: Record<string, FlagSpec>,
  command: string,
): Promise<[string, string | boolean]> {
  const name = flagName(token.rawName, flags);
  if (name === undefined) {
    const known = Object.keys(flags);
    // Loaded for mistakes only: the YAML module is not needed to run a command right.
    const { suggest } = await import('../yaml.ts');
    // A known flag with more words after it (--insecure-ignore-tlog for --insecure) is another
    // flag, whose meaning the known one does not have: no guess.
    const close = token.rawName.startsWith('--') ? suggest(token.name, known) : undefined;
    const guess = close !== undefined && token.name.startsWith(`${close}-`) ? undefined : close;
    throw new ProvenantError('USAGE', `unknown flag ${token.rawName}${guess === undefined ? '' : `: did you mean --${guess}?`}`, {
      hint: known.length === 0 ? `${command} takes no flags` : `provenant help ${command} lists its flags`,
    });
  }
  if (flags[name]!.type === 'boolean') {
    const value = token.inlineValue === true ? inlineBool(token.value ?? '') : true;
    if (value === undefined) {
      throw new ProvenantError(
        'USAGE',
        `--${name} is a switch and takes no value other than true or false (it was given "${token.value}")`,
        {
          hint: `write --${name} alone, --${name}=true or --${name}=false, or set ${envName(name)}=true or false`,
        },
      );
    }
    return [name, value];
  }
  if (token.value === undefined || (token.inlineValue !== true && token.value.startsWith('-') && token.value !== '-')) {
    throw new ProvenantError('USAGE', `${token.rawName} needs a value`, {
      hint: `write ${token.rawName} VALUE, or --${name}=VALUE for a value that starts with "-"`,
    });
  }
  return [name, token.value];
}
