/** `provenant completion bash|zsh|fish`: a shell completion script for every command, subcommand and flag. */
import { ProvenantError } from '../../errors.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandContext, CommandSpec } from '../command.ts';
import { bashCompletion, fishCompletion, zshCompletion } from '../completion.ts';
import type { CliIo } from '../io.ts';
import { outputFlag, positional, writeData } from '../options.ts';

export const spec: CommandSpec = {
  summary: 'print a shell completion script: bash, zsh or fish',
  usage: 'provenant completion bash|zsh|fish [-o FILE]',
  prints: 'data',
  flags: { output: outputFlag('write the script to this file instead of standard output') },
};

const SHELLS = { bash: bashCompletion, zsh: zshCompletion, fish: fishCompletion };

export async function run(args: ParsedArgs, io: CliIo, context: CommandContext): Promise<void> {
  const [shell] = positional(args, 1, spec.usage) as [string];
  if (!Object.hasOwn(SHELLS, shell))
    throw new ProvenantError('USAGE', `no completion for the shell "${shell}"`, { hint: 'write provenant completion bash, zsh or fish' });
  // Target ids come from the built-in profiles, read now: the script is written once and kept.
  const { loadProfiles } = await import('../../compat/profile.ts');
  const target = (await loadProfiles()).map((p) => p.id);
  await writeData(io, args, SHELLS[shell as keyof typeof SHELLS](await context.specs(), { target, 'report.target': [...target, 'none'] }));
}
