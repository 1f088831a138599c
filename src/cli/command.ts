/**
 * What a command is: its static spec (summary, usage, flags) and its `run`. Each command is one
 * module under commands/; commands/table.ts, generated from them, lists them for the dispatcher.
 */
import type { FlagSpec, ParsedArgs } from './args.ts';
import type { CliIo } from './io.ts';

/** What `provenant help COMMAND` shows, and how the command line is parsed. */
export interface CommandSpec {
  summary: string;
  usage: string;
  flags: Record<string, FlagSpec>;
}

/** What a command may know of the others (`env` lists every command's flags). */
export interface CommandContext {
  /** The name the command was run as. */
  name: string;
  /** Every command's spec, loading each command module. */
  specs(): Promise<Record<string, CommandSpec>>;
}

/** A command module: `commands/<name>.ts`. */
export interface CommandModule {
  spec: CommandSpec;
  run(args: ParsedArgs, io: CliIo, context: CommandContext): Promise<void>;
}

/** An entry of the generated table: enough for `provenant help`, and the module, loaded only to run it. */
export interface CommandEntry {
  summary: string;
  load: () => Promise<CommandModule>;
}
