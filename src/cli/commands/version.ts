/** `provenant version`: the version of the tool. */
import { VERSION } from '../../version.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';

export const spec: CommandSpec = {
  summary: 'print the version',
  usage: 'provenant version',
  flags: {},
};

export async function run(_args: ParsedArgs, io: CliIo): Promise<void> {
  io.stdout.write(`provenant ${VERSION}\n`);
}
