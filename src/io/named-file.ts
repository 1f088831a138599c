/**
 * Reading a file the user named on the command line or in a policy (a key, a trusted root, a
 * policy's secret): the one read, and the one reading of its failure, for every such file. A
 * named pipe is read too (`--key <(pass show cosign.key)`, which bash hands over as /dev/fd/N),
 * but never waited on in a way no signal can end. io/files.ts, with the words for a failure, is
 * loaded on the error path only: a verification with a key that reads does not pay for it.
 */
import { abortedError, ProvenantError, sleep } from '../errors.ts';

/** How long a named pipe may go without a writer before {@link readNamedFile} gives up on it. */
export const PIPE_WAIT_MS = 30_000;

/** The most bytes {@link readNamedFile} takes by default: a key or a trusted root is far smaller. */
export const NAMED_FILE_MAX_BYTES = 16 * 1024 * 1024;

/** Options of {@link readNamedFile}. */
export interface ReadNamedFileOptions {
  /**
   * Ends a wait on a named pipe with `ABORTED` (Ctrl-C). Read only when there is a wait, so a
   * getter that makes the signal on demand costs a regular file nothing.
   */
  signal?: AbortSignal | undefined;
  /** How long a named pipe may go without a writer ({@link PIPE_WAIT_MS} by default). */
  pipeWaitMs?: number | undefined;
  /** The most bytes taken ({@link NAMED_FILE_MAX_BYTES} by default); a larger file is refused. */
  maxBytes?: number | undefined;
  /**
   * When given, anything but a regular file is refused (`is a named pipe, not <regularOnly>`, `is
   * a directory, not ...`) rather than read: a policy's secret, which a cluster mounts as a file.
   */
  regularOnly?: string | undefined;
}

/**
 * The bytes of the file the user named at `path`; `what` names it in errors ("the key file").
 *
 * It is opened without waiting for a writer (O_NONBLOCK): opening a named pipe otherwise blocks a
 * thread of libuv in open() until something writes, and that thread outlives SIGTERM, so the
 * process hung for good. A pipe (or a device) is then read in turns: each read returns at once,
 * with bytes, with nothing yet (EAGAIN: a writer is there) or with nothing at all (no writer has
 * come, or the one that came is done). Until some writer comes, the wait is bounded by
 * `pipeWaitMs`; once one has come, it ends with its end of the pipe, or with `signal`.
 *
 * @throws ProvenantError naming the file (`where`): `NOT_FOUND` for no file there, a path through
 *   a file or a symbolic link to nothing (said as such, naming its target); `USAGE` for a folder,
 *   a file refused by `regularOnly` or over `maxBytes`; `IO` for a refused permission (in words,
 *   with a hint naming what refused), a pipe nothing wrote to within `pipeWaitMs`, or another
 *   failure; `ABORTED` when `signal` fires during a wait
 */
export async function readNamedFile(path: string, what: string, options: ReadNamedFileOptions = {}): Promise<Uint8Array> {
  const fs = process.getBuiltinModule('node:fs');
  const maxBytes = options.maxBytes ?? NAMED_FILE_MAX_BYTES;
  let handle: import('node:fs/promises').FileHandle | undefined;
  try {
    handle = await process.getBuiltinModule('node:fs/promises').open(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const info = await handle.stat();
    if (options.regularOnly !== undefined && !info.isFile()) {
      const { kindOf } = await import('./files.ts');
      throw refusal(path, what, `is ${kindOf(info)}, not ${options.regularOnly}`);
    }
    // A folder is read as a file: the system's EISDIR says what it is (see unreadableNamed).
    if (info.isFile() || info.isDirectory()) {
      if (info.size > maxBytes) throw refusal(path, what, tooLarge(maxBytes));
      const bytes = await handle.readFile();
      // Grown since the stat: refused as well.
      if (bytes.length > maxBytes) throw refusal(path, what, tooLarge(maxBytes));
      return bytes;
    }
    return await readPipe(handle, path, what, maxBytes, info.isFIFO(), options);
  } catch (cause) {
    if (cause instanceof ProvenantError) throw cause;
    // The error path only: files.ts is not loaded by every verification.
    const { unreadableNamed } = await import('./files.ts');
    const { code, problem, hint } = unreadableNamed(cause, path);
    throw new ProvenantError(code, `${what} ${problem}`, { where: path, cause, hint });
  } finally {
    await handle?.close();
  }
}

/** The refusal of a file over its cap, as a clause. */
function tooLarge(maxBytes: number): string {
  return `is larger than ${maxBytes / 1024 / 1024} MiB; refusing it`;
}

/** A file refused for what it is: `what` and the clause (`is a named pipe, not ...`). */
function refusal(path: string, what: string, problem: string): ProvenantError {
  return new ProvenantError('USAGE', `${what} ${problem}`, { where: path });
}

/** A path that names a descriptor this process holds: /dev/fd/N, /proc/self/fd/N, /dev/stdin. */
const HANDED_OVER = /^(?:\/dev\/fd\/\d+|\/proc\/self\/fd\/\d+|\/dev\/stdin)$/;

/** The longest pause between two reads of a pipe: short enough that the wait is not felt. */
const MAX_PAUSE_MS = 100;

/**
 * A pipe (or a device) opened with O_NONBLOCK, read to its end: see {@link readNamedFile}. Only a
 * `fifo` reads nothing until its writer comes; a device's nothing is its end.
 */
async function readPipe(
  handle: import('node:fs/promises').FileHandle,
  path: string,
  what: string,
  maxBytes: number,
  fifo: boolean,
  options: ReadNamedFileOptions,
): Promise<Uint8Array> {
  const waitMs = options.pipeWaitMs ?? PIPE_WAIT_MS;
  const started = Date.now();
  const chunks: Uint8Array[] = [];
  let length = 0;
  // A pipe handed over as a descriptor (`--key <(…)`, which bash names /dev/fd/N; /dev/stdin) had
  // its writer when this process began: nothing to read then is its writer done, not yet to come.
  let writerCame = HANDED_OVER.test(path);
  let pause = 1;
  for (;;) {
    let bytesRead: number | undefined;
    try {
      // One byte over the cap at most, so that a longer stream (/dev/zero) is refused, not read for ever.
      const buffer = new Uint8Array(Math.min(65536, maxBytes + 1 - length));
      bytesRead = (await handle.read(buffer, 0, buffer.length, null)).bytesRead;
      if (bytesRead > 0) chunks.push(buffer.subarray(0, bytesRead));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
    if (bytesRead === undefined) {
      writerCame = true;
    } else if (bytesRead > 0) {
      writerCame = true;
      length += bytesRead;
      if (length > maxBytes) throw refusal(path, what, tooLarge(maxBytes));
      pause = 1;
      continue;
    } else if (writerCame || !fifo) {
      // The writer is done; or a device's end (/dev/null), which no writer comes to change.
      break;
    } else if (Date.now() - started >= waitMs) {
      const within = waitMs % 1000 === 0 ? `${waitMs / 1000} s` : `${waitMs} ms`;
      throw new ProvenantError('IO', `${what} is a named pipe, and nothing was written to it within ${within}`, {
        where: path,
        hint: `write the file into it from another process (cat FILE > ${path}), or name a regular file`,
      });
    }
    const signal = options.signal;
    if (signal?.aborted) throw abortedError(signal, path);
    await sleep(pause, signal).catch((err: unknown) => {
      throw signal?.aborted ? abortedError(signal, path) : err;
    });
    pause = Math.min(pause * 2, MAX_PAUSE_MS);
  }
  return Buffer.concat(chunks, length);
}
