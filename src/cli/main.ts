#!/usr/bin/env node
/**
 * The `provenant` command: finds the command in the generated table (commands/table.ts), loads
 * its module alone, parses its flags and runs it, and turns a typed error into one line and an
 * exit code. As a program it also turns SIGINT and SIGTERM into the commands' cancel signal.
 */
import { enableCompileCache } from 'node:module';
import { isProvenantError } from '../errors.ts';
import { parseCommandArgs } from './args.ts';
import type { CommandContext, CommandModule, CommandSpec } from './command.ts';
import { COMMANDS } from './commands/table.ts';
import { errorExitCode } from './exit.ts';
import type { CliIo } from './io.ts';

// Node keeps the compiled code of the modules loaded after this (each command's) in a folder of
// Provenant's cache (not the temporary folder, which is the user's), so that a command starts
// without compiling them again; NODE_COMPILE_CACHE moves it, NODE_DISABLE_COMPILE_CACHE=1 turns it off.
const { env } = process;
enableCompileCache?.(env.NODE_COMPILE_CACHE ?? `${env.XDG_CACHE_HOME ?? `${env.HOME ?? '/tmp'}/.cache`}/provenant/node-compile-cache`);

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `provenant: build, describe, sign and move container images\n\nUsage: provenant COMMAND [ARGS]\n\nCommands:\n${lines.join('\n')}\n\nRun provenant help COMMAND for a command's flags.\n`;
}

function commandHelp(c: CommandSpec): string {
  const flags = Object.entries(c.flags).map(
    ([f, s]) => `  ${s.short ? `-${s.short}, ` : '    '}--${f}${s.type === 'string' ? ' VALUE' : ''}\n        ${s.description}`,
  );
  return `${c.summary}\n\nUsage: ${c.usage}\n${flags.length > 0 ? `\nFlags (each also read from PROVENANT_<FLAG>):\n${flags.join('\n')}\n` : ''}`;
}

function context(name: string): CommandContext {
  return {
    name,
    async specs() {
      const entries = await Promise.all(Object.entries(COMMANDS).map(async ([n, c]) => [n, (await c.load()).spec] as const));
      return Object.fromEntries(entries);
    },
  };
}

/** Runs the CLI with `argv` (without node and script); returns the exit code. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const entry = rest[0] === undefined ? undefined : COMMANDS[rest[0]];
    io.stdout.write(entry ? commandHelp((await entry.load()).spec) : help());
    return 0;
  }
  if (name === '--version') return run(['version'], io);
  const entry = COMMANDS[name];
  if (entry === undefined) {
    io.stderr.write(`provenant: unknown command "${name}"\n${help()}`);
    return 2;
  }
  let command: CommandModule | undefined;
  try {
    command = await entry.load();
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout.write(commandHelp(command.spec));
      return 0;
    }
    const status = await command.run(parseCommandArgs(rest, command.spec.flags, io.env), io, context(name));
    return typeof status === 'number' ? status : 0;
  } catch (err) {
    if (isProvenantError(err)) {
      // A cancelled operation says so, without the (often temporary) place it stopped at.
      const what = err.code === 'ABORTED' ? err.message : err.describe();
      io.stderr.write(`provenant ${name}: ${what}\n${err.hint ? `  hint: ${err.hint}\n` : ''}`);
      if (io.env.PROVENANT_DEBUG) io.stderr.write(`${err.stack}\n`);
      return errorExitCode(err.code, command?.spec);
    }
    io.stderr.write(`provenant ${name}: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    return errorExitCode(undefined, command?.spec);
  }
}

/**
 * Runs the CLI as the process. The first SIGINT or SIGTERM aborts the running command's signal
 * and waits for it to clean up (stores closed, temporary files removed, no archive half
 * written), then exits 130; a second one exits at once.
 */
async function main(): Promise<void> {
  const { homedir } = await import('node:os');
  const controller = new AbortController();
  let interrupted = false;
  const interrupt = (signal: NodeJS.Signals): void => {
    if (interrupted) process.exit(130);
    interrupted = true;
    // Ends the line the terminal echoed ^C on, or a progress bar.
    process.stderr.write('\n');
    controller.abort(new Error(`interrupted by ${signal}`));
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  const code = await run(process.argv.slice(2), {
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    // Made on first use: opening standard input costs milliseconds that most commands never need.
    get stdin() {
      return process.stdin;
    },
    homedir: homedir(),
    signal: controller.signal,
  });
  // Cleanup is done; whatever still holds the event loop (a connection the abort left open)
  // must not keep an interrupted process alive.
  if (interrupted) process.exit(130);
  process.exitCode = code;
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(process.argv[1], 'file:').href;
if (isMain || process.argv[1]?.endsWith('/provenant')) await main();
