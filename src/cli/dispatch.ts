/**
 * The dispatcher behind the `provenant` command (main.ts): finds the command in the generated
 * table (commands/table.ts), loads its module alone, parses its flags and runs it, and turns a
 * typed error into one line and an exit code. {@link main} also turns SIGINT and SIGTERM into the
 * commands' cancel signal.
 */
import { isProvenantError } from '../errors.ts';
import { proxyVariables, useEnvProxy } from '../net.ts';
import { parseCommandArgs } from './args.ts';
import type { CommandContext, CommandModule } from './command.ts';
import { COMMANDS } from './commands/table.ts';
import { errorExitCode } from './exit.ts';
import { commandHelp, formatError, generalHelp, subcommandHelp, unknownCommand, unknownSubcommand } from './help.ts';
import type { CliIo } from './io.ts';
import { FdOutput } from './output.ts';
import { visible, visibleLine, visibleOutput } from './visible.ts';

function context(name: string): CommandContext {
  return {
    name,
    async specs() {
      const entries = await Promise.all(Object.entries(COMMANDS).map(async ([n, c]) => [n, (await c.load()).spec] as const));
      return Object.fromEntries(entries);
    },
  };
}

/** `provenant help [COMMAND [SUBCOMMAND]]`, and `COMMAND [SUBCOMMAND] --help`. */
async function help(words: string[], io: CliIo): Promise<void> {
  const [name, sub, ...extra] = words;
  if (name === undefined) {
    io.stdout.write(generalHelp(COMMANDS));
    return;
  }
  const entry = COMMANDS[name];
  if (entry === undefined) throw await unknownCommand(COMMANDS, name);
  const { spec } = await entry.load();
  if (sub === undefined) {
    io.stdout.write(commandHelp(name, spec));
    return;
  }
  const text = extra.length > 0 ? undefined : subcommandHelp(spec, sub);
  if (text === undefined) throw await unknownSubcommand(name, spec, [sub, ...extra].join(' '));
  io.stdout.write(text);
}

/** Runs the CLI with `argv` (without node and script); returns the exit code. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const [first, ...rest] = argv;
  let name = first ?? 'help';
  let command: CommandModule | undefined;
  try {
    if (name === 'help' || name === '--help' || name === '-h') {
      name = 'help';
      await help(rest, io);
      await io.stdout.flushed();
      return 0;
    }
    if (name === '--version') return run(['version', ...rest], io);
    const entry = COMMANDS[name];
    if (entry === undefined) {
      // No command ran, so the message is the program's: `provenant: unknown command "x"`.
      name = '';
      throw await unknownCommand(COMMANDS, first ?? '');
    }
    command = await entry.load();
    const dashes = rest.indexOf('--');
    const flags = dashes < 0 ? rest : rest.slice(0, dashes);
    if (flags.includes('--help') || flags.includes('-h')) {
      // `apk keygen --help`: the subcommand's help when the first word names one.
      const sub = flags[0] !== undefined && command.spec.subcommands?.[flags[0]] !== undefined ? [flags[0]] : [];
      await help([name, ...sub], io);
      await io.stdout.flushed();
      return 0;
    }
    // A result is text for people and scripts, parts of it from outside (visible.ts); data
    // (a manifest, a blob, an SBOM) is written as it is. The other fields stay the getters
    // main() made, so that nothing is made before it is used.
    const runIo: CliIo = command.spec.prints === 'result' ? Object.create(io, { stdout: { value: visibleOutput(io.stdout) } }) : io;
    const status = await command.run(await parseCommandArgs(rest, command.spec.flags, io.env, name), runIo, context(name));
    // Standard output written by a stream (a pipe that would block, output.ts) may fail after the
    // command's last write returned: the command has not done what it said until it is taken, and
    // a failure then is its failure (the output is cut short), thrown here as the write's own.
    await io.stdout.flushed();
    return typeof status === 'number' ? status : 0;
  } catch (err) {
    io.stderr.write(visible(formatError(name, err, io.env.PROVENANT_DEBUG !== undefined && io.env.PROVENANT_DEBUG !== '')));
    return errorExitCode(isProvenantError(err) ? err.code : undefined, command?.spec);
  }
}

/** How long a command may clean up after the first SIGINT or SIGTERM before the process exits anyway. */
const INTERRUPT_GRACE_MS = 5000;

/**
 * Runs the CLI as the process. The first SIGINT or SIGTERM aborts the running command's signal
 * and waits for it to clean up (stores closed, temporary files removed, no archive half
 * written), then exits 130; when it has not ended within {@link INTERRUPT_GRACE_MS}, or at a
 * second signal, the process exits 130 at once.
 */
export async function main(): Promise<void> {
  // The signal is made when a command first asks for it: Node's AbortController is a module of
  // its own whose loading costs a command that never asks (`digest` of a layout) a tenth of its
  // start-up over Node's (issue 16). The handlers are cheap and always there, so an interrupt
  // before the signal exists still counts: the signal is then made already aborted.
  let controller: AbortController | undefined;
  let interrupted: Error | undefined;
  const interrupt = (signal: NodeJS.Signals): void => {
    if (interrupted !== undefined) process.exit(130);
    interrupted = new Error(`interrupted by ${signal}`);
    // The progress display draws its last line first (progress.ts); this newline ends it, or
    // the line the terminal echoed ^C on, so that what follows starts on a clean line.
    controller?.abort(interrupted);
    process.stderr.write('\n');
    // A command that does not heed its signal (work in Node's thread pool, which a cancel cannot
    // reach, once spun forever on a bad --cache-dir) must not make the user signal twice: one
    // Ctrl-C, or the one SIGTERM that `timeout` and service managers send, stops the process.
    setTimeout(() => {
      process.stderr.write(`provenant: still running ${INTERRUPT_GRACE_MS / 1000} s after ${signal}; stopping without cleaning up\n`);
      process.exit(130);
    }, INTERRUPT_GRACE_MS).unref();
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  // Before any command runs: every request of the process goes through HTTPS_PROXY/HTTP_PROXY
  // when one is set (net.ts), or the user is told once why it cannot.
  try {
    const warning = useEnvProxy(process.env);
    if (warning !== undefined) process.stderr.write(`provenant: warning: ${visibleLine(warning)}\n`);
    // Sigstore's clients read the variables themselves when first loaded (by the signing
    // commands, later): they too go direct to this machine, and take a proxy without a scheme.
    Object.assign(process.env, proxyVariables(process.env));
  } catch (err) {
    process.stderr.write(visible(formatError('', err, process.env.PROVENANT_DEBUG !== undefined && process.env.PROVENANT_DEBUG !== '')));
    process.exitCode = errorExitCode(isProvenantError(err) ? err.code : undefined, undefined);
    return;
  }
  const code = await run(process.argv.slice(2), {
    env: process.env,
    stdout: new FdOutput(1, () => process.stdout),
    // Made on first use (a progress display, an error, a password, a registry's credentials):
    // each stream, and node:os, costs start-up time that most commands never need.
    get stderr() {
      return process.stderr;
    },
    get stdin() {
      return process.stdin;
    },
    get homedir() {
      return process.getBuiltinModule('node:os').homedir();
    },
    uid: process.getuid?.(),
    get signal() {
      if (controller === undefined) {
        controller = new AbortController();
        if (interrupted !== undefined) controller.abort(interrupted);
      }
      return controller.signal;
    },
  });
  // Cleanup is done; whatever still holds the event loop (a connection the abort left open)
  // must not keep an interrupted process alive.
  if (interrupted !== undefined) process.exit(130);
  process.exitCode = code;
  // The process ends once the event loop is empty. Ending it with process.exit as soon as the
  // output was written spared tearing V8's heap down (about 4 ms of `digest`), but it deadlocked
  // about one run in a hundred (2026-12-05, Node 24.22.3): the exit joins V8's worker threads,
  // and a background compile job among them was waiting for a garbage collection that the
  // exiting main thread would never run.
}
