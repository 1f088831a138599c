/** What a command gets from the outside world: main() fills it from `process`, tests fill it themselves. */

/** The command's environment, streams and cancel signal. */
export interface CliIo {
  env: Record<string, string | undefined>;
  /** Standard output: the command's result or data. */
  stdout: Output;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream;
  homedir: string;
  /**
   * The user id podman's `/run/containers/$UID/auth.json` is under (main() gives this process's);
   * absent, that file is not read.
   */
  uid?: number | undefined;
  /**
   * Aborted when the user interrupts (SIGINT, SIGTERM): every long library call gets it, so the
   * operation stops, its stores close and its temporary files go before the process exits.
   */
  signal: AbortSignal;
}

/** Where a command writes its result: main's FdOutput (output.ts) writes standard output synchronously. */
export interface Output {
  /** Writes text (as UTF-8) or bytes, in order with what was written before. */
  write(chunk: string | Uint8Array): void;
  /**
   * Settles once the output has taken what was written (a stream's backpressure), so that data
   * written in a loop does not pile up in memory: true, or false when its reader is gone (EPIPE)
   * and whatever is written from then on is dropped, so that the writer may stop.
   */
  flushed(): Promise<boolean>;
  /** A terminal: data written to it is escaped as {@link visibleData} (visible.ts) says; absent means no. */
  readonly isTTY?: boolean;
}
