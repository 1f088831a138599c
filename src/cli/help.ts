/** What `provenant help` prints, for the CLI and for docs/cli.md (scripts/gen-commands.ts), and how errors read. */
import { isProvenantError, namesPlace, ProvenantError } from '../errors.ts';
import type { CommandEntry, CommandSpec } from './command.ts';

/** `provenant help`: every command with its summary. */
export function generalHelp(commands: Record<string, CommandEntry>): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return [
    'provenant: build, describe, sign and move container images',
    '',
    'Usage: provenant COMMAND [ARGS]',
    '',
    'Commands:',
    ...lines,
    '',
    "Run provenant help COMMAND for a command's flags. Every flag can also be set with PROVENANT_<FLAG> (provenant env).",
    '',
  ].join('\n');
}

function flagLines(spec: CommandSpec, only?: readonly string[]): string[] {
  return Object.entries(spec.flags)
    .filter(([name]) => only === undefined || only.includes(name))
    .map(([name, f]) => {
      const value = f.type === 'string' ? ` ${f.values?.join('|') ?? 'VALUE'}` : '';
      return `  ${f.short ? `-${f.short}, ` : '    '}--${name}${value}${f.multiple ? ' (repeatable)' : ''}\n        ${f.description}`;
    });
}

/** `provenant help COMMAND`: summary, usage, subcommands and flags. */
export function commandHelp(name: string, spec: CommandSpec): string {
  const out = [spec.summary, '', `Usage: ${spec.usage}`];
  const subs = Object.entries(spec.subcommands ?? {});
  if (subs.length > 0) {
    const width = Math.max(...subs.map(([s]) => s.length));
    out.push('', 'Subcommands:', ...subs.map(([s, sub]) => `  ${s.padEnd(width)}  ${sub.summary}`));
    out.push('', `Run provenant help ${name} SUBCOMMAND for the flags each one takes.`);
  }
  const flags = flagLines(spec);
  if (flags.length > 0) out.push('', 'Flags (each also read from PROVENANT_<FLAG>):', ...flags);
  return `${out.join('\n')}\n`;
}

/** `provenant help COMMAND SUBCOMMAND`: its usage and the flags it takes (undefined for a subcommand it does not have). */
export function subcommandHelp(spec: CommandSpec, sub: string): string | undefined {
  const s = spec.subcommands?.[sub];
  if (s === undefined) return undefined;
  const out = [s.summary, '', `Usage: ${s.usage}`];
  const flags = flagLines(spec, s.flags);
  if (flags.length > 0) out.push('', 'Flags (each also read from PROVENANT_<FLAG>):', ...flags);
  return `${out.join('\n')}\n`;
}

/** USAGE for a subcommand the command does not have, with the closest one it has. */
export async function unknownSubcommand(name: string, spec: CommandSpec, sub: string): Promise<ProvenantError> {
  // Loaded for mistakes only: the YAML module is not needed to run a command right.
  const { suggest } = await import('../yaml.ts');
  const known = Object.keys(spec.subcommands ?? {});
  const guess = suggest(sub, known);
  return new ProvenantError(
    'USAGE',
    known.length === 0
      ? `${name} has no subcommands, so there is no "${sub}"`
      : `${name} has no subcommand "${sub}"${guess === undefined ? '' : `: did you mean ${name} ${guess}?`}`,
    { hint: known.length === 0 ? `provenant help ${name}` : `${name}'s subcommands: ${known.join(', ')}` },
  );
}

/** USAGE for a command that does not exist, with the closest one that does. */
export async function unknownCommand(commands: Record<string, CommandEntry>, name: string): Promise<ProvenantError> {
  const { suggest } = await import('../yaml.ts');
  const guess = suggest(name, Object.keys(commands));
  return new ProvenantError('USAGE', `unknown command "${name}"${guess === undefined ? '' : `: did you mean ${guess}?`}`, {
    hint: 'provenant help lists the commands',
  });
}

/**
 * An error as the CLI prints it: `provenant COMMAND: MESSAGE (WHERE)` (`provenant: MESSAGE` when
 * `command` is "", as no command ran), the place left out when the message already names it,
 * then the hint on a line of its own.
 */
export function formatError(command: string, err: unknown, debug: boolean): string {
  const who = command === '' ? 'provenant' : `provenant ${command}`;
  if (!isProvenantError(err)) return `${who}: internal error: ${(err as Error)?.stack ?? String(err)}\n`;
  // A cancelled operation says so, without the (often temporary) place it stopped at.
  const where = err.code === 'ABORTED' || err.where === undefined || namesPlace(err.message, err.where) ? '' : ` (${err.where})`;
  const lines = [`${who}: ${err.message}${where}`];
  if (err.hint) lines.push(`  hint: ${err.hint}`);
  if (debug && err.stack) lines.push(err.stack);
  return `${lines.join('\n')}\n`;
}
