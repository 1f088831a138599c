/**
 * Standard output written with `fs.writeSync` on file descriptor 1 rather than through
 * `process.stdout`: making that stream object loads Node's streams and costs 2 to 4 ms of a start
 * that takes 50 (issue 16, "instant start"), and a command's output is a few lines written once.
 *
 * Two cases the stream would have handled are handled here:
 * - EAGAIN: the descriptor is in non-blocking mode (a parent left the pipe so, or something in this
 *   process opened `process.stdout`, which makes a pipe non-blocking). What this write did not take,
 *   and everything after it, goes to `process.stdout`, which waits for the pipe in the event loop;
 *   the order of the output stays the same.
 * - EPIPE: the reader is gone (`provenant tags REPO | head -1`). There is no one left to read the
 *   rest, so it is dropped, and the command ends as it would have (its status, its cleanup)
 *   rather than with a stack trace.
 *
 * Any other failure (ENOSPC of a full disk or `> /dev/full`, EIO, EROFS, EBADF of a closed
 * descriptor) is an IO error that says standard output could not be written and why: the command
 * fails with one line, and nothing more is written to it.
 */
import { ProvenantError } from '../errors.ts';
import { systemWords } from '../io/write-failures.ts';
import type { Output } from './io.ts';

const { writeSync } = process.getBuiltinModule('node:fs');

/** Writes to a file descriptor synchronously, falling back to a stream when the descriptor would block. */
export class FdOutput implements Output {
  readonly #fd: number;
  readonly #stream: () => NodeJS.WritableStream;
  #fallback: NodeJS.WritableStream | undefined;
  #closed = false;
  /** The stream's failure, thrown by the next write or flushed(). */
  #failed: ProvenantError | undefined;
  /** Writes the stream has not finished yet (each is counted off when its callback comes). */
  #pending = 0;
  /** flushed() calls waiting for the stream to finish every write, or to fail. */
  #waiting: (() => void)[] = [];
  #tty: boolean | undefined;

  /** `fd` is written with writeSync; `stream()` gives the stream that takes over when it would block. */
  constructor(fd: number, stream: () => NodeJS.WritableStream) {
    this.#fd = fd;
    this.#stream = stream;
  }

  /** Whether the descriptor is a terminal, asked only when a command needs to know (node:tty is not loaded at start). */
  get isTTY(): boolean {
    this.#tty ??= process.getBuiltinModule('node:tty').isatty(this.#fd);
    return this.#tty;
  }

  write(chunk: string | Uint8Array): void {
    if (this.#failed !== undefined) throw this.#failed;
    if (this.#closed) return;
    if (this.#fallback !== undefined) {
      this.#send(chunk);
      return;
    }
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let done = 0;
    while (done < bytes.length) {
      try {
        done += writeSync(this.#fd, bytes, done, bytes.length - done);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EPIPE') {
          this.#closed = true;
          return;
        }
        if (code !== 'EAGAIN') {
          this.#closed = true;
          throw outputError(err);
        }
        this.#fallback = this.#takeOver();
        this.#send(bytes.subarray(done));
        return;
      }
    }
  }

  /**
   * Settles once the stream that took over (EAGAIN) has finished every write so far: true, false
   * when the reader is gone (EPIPE), or rejected with the stream's failure. A failure can come
   * after the last write returned (the stream writes later), so dispatch awaits this before it
   * says how the command ended.
   */
  flushed(): Promise<boolean> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    if (this.#pending === 0 || this.#closed) return Promise.resolve(!this.#closed);
    return new Promise((resolve, reject) => {
      this.#waiting.push(() => {
        if (this.#failed === undefined) resolve(!this.#closed);
        else reject(this.#failed);
      });
    });
  }

  /** Writes `chunk` to the stream that took over, counted until its callback comes. */
  #send(chunk: string | Uint8Array): void {
    this.#pending++;
    this.#fallback?.write(chunk, (err?: Error | null) => {
      this.#pending--;
      // The callback comes before the stream's 'error' event: the failure is kept here first.
      if (err) this.#fail(err as NodeJS.ErrnoException);
      if (this.#pending === 0 || this.#closed) this.#wake();
    });
  }

  /** Ends the output: dropped quietly for a reader that is gone (EPIPE), else kept to be thrown. */
  #fail(err: NodeJS.ErrnoException): void {
    this.#closed = true;
    if (err.code !== 'EPIPE') this.#failed ??= outputError(err);
  }

  #wake(): void {
    for (const waiter of this.#waiting.splice(0)) waiter();
  }

  /**
   * The stream, with a reader that went away (EPIPE) ending the output as it does for writeSync,
   * and any other failure kept for the next write or flushed() to throw.
   */
  #takeOver(): NodeJS.WritableStream {
    const stream = this.#stream();
    stream.on('error', (err: NodeJS.ErrnoException) => {
      this.#fail(err);
      this.#wake();
    });
    stream.on('close', () => this.#wake());
    return stream;
  }
}

/** What a user can do when standard output fails with `code`. */
const HINTS: Record<string, string> = {
  ENOSPC: 'the file system standard output goes to is full: free space there, or redirect the output elsewhere',
  EROFS: 'standard output goes to a read-only file system: redirect it to a writable file',
  EDQUOT: 'the disk quota of the file system standard output goes to is used up: free space, or redirect the output elsewhere',
  EFBIG: 'the file standard output goes to cannot grow that large: redirect the output elsewhere',
};

/** IO for a write to standard output that failed: the system's words without the syscall, and a hint. */
function outputError(err: unknown): ProvenantError {
  const code = (err as NodeJS.ErrnoException)?.code;
  // "ENOSPC: no space left on device, write" says "no space left on device (ENOSPC)".
  const words = systemWords(err);
  const reason = typeof code === 'string' && !words.includes(code) ? `${words} (${code})` : words;
  return new ProvenantError('IO', `cannot write standard output: ${reason}`, {
    cause: err,
    hint: code === undefined ? undefined : HINTS[code],
  });
}
