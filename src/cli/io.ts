/** What a command gets from the outside world: main() fills it from `process`, tests fill it themselves. */

/** The command's environment, streams and cancel signal. */
export interface CliIo {
  env: Record<string, string | undefined>;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream;
  homedir: string;
  /**
   * Aborted when the user interrupts (SIGINT, SIGTERM): every long library call gets it, so the
   * operation stops, its stores close and its temporary files go before the process exits.
   */
  signal: AbortSignal;
}
