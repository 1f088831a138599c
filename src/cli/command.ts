/**
 * What a command is: its static spec (summary, usage, flags) and its `run`. Each command is one
 * module under commands/; commands/table.ts, generated from them, lists them for the dispatcher.
 *
 * The conventions every command follows (docs/cli.md, "Conventions"; test/cli/conventions.test.ts
 * checks the ones a spec can show):
 * - `prints: 'result'`: what it did or found, as text or, with `--format json` (FORMAT_FLAG), as
 *   one JSON document and a newline on standard output (options.ts `writeJson`).
 * - `prints: 'data'`: the data itself (manifest bytes, a blob, an SBOM, a script), exactly; no
 *   `--format`, and `-o/--output FILE` writes it to a file instead (options.ts `writeData`).
 * - A command that writes a file or an image names it with `-o/--output` (OUTPUT_FLAG), or with
 *   a destination argument where the tool it mirrors takes one (`copy SRC DST`).
 * - Long work (resolving, downloading, compressing, pushing) reports progress on standard error
 *   (progress.ts) and takes `-q/--quiet` (QUIET_FLAG); standard output keeps the result alone.
 * - Errors are ProvenantErrors: subject and problem in the message, the place in `where` (not
 *   repeated in the message), what to do in `hint`; main.ts prints them and picks the exit code.
 */
import type { FlagSpec, ParsedArgs } from './args.ts';
import type { CliIo } from './io.ts';

/** A subcommand (`apk keygen`): its own usage, and which of the command's flags it takes. */
export interface SubcommandSpec {
  summary: string;
  usage: string;
  /** Names of the command's flags this subcommand reads (`provenant help CMD SUB` lists these). */
  flags: readonly string[];
}

/** What `provenant help COMMAND` shows, and how the command line is parsed. */
export interface CommandSpec {
  summary: string;
  usage: string;
  /** What it prints on standard output: a report of what it did (`result`) or the data itself (`data`). */
  prints: 'result' | 'data';
  flags: Record<string, FlagSpec>;
  /**
   * For a command whose exit status is its answer (`diff` exits 1 when the images differ): the
   * exit code its errors get instead of the usual one (exit.ts), keyed by the usual code. `diff`
   * maps 1 to 2, so that 1 always means "they differ", as GNU diff keeps 2 for trouble.
   */
  errorExitCodes?: Readonly<Record<number, number>>;
  /** Subcommands, for commands that group several (`apk keygen|build|index`). */
  subcommands?: Record<string, SubcommandSpec>;
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
