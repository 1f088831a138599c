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
  /**
   * For a command whose exit status is its answer (`diff` exits 1 when the images differ): the
   * exit code its errors get instead of the usual one (exit.ts), keyed by the usual code. `diff`
   * maps 1 to 2, so that 1 always means "they differ", as GNU diff keeps 2 for trouble.
   */
  errorExitCodes?: Readonly<Record<number, number>>;
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
  /** Runs the command. A command whose exit status is an answer returns it; the others return nothing (0). */
  // biome-ignore lint/suspicious/noConfusingVoidType: most commands are `Promise<void>` functions; only an answer is a number
  run(args: ParsedArgs, io: CliIo, context: CommandContext): Promise<number | void>;
}

/** An entry of the generated table: enough for `provenant help`, and the module, loaded only to run it. */
export interface CommandEntry {
  summary: string;
  load: () => Promise<CommandModule>;
}
