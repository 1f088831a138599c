/**
 * What a failed write is, said once for every writer that tells a user about one: standard
 * output (../cli/output.ts), the download cache (../pkg/fetch.ts), a tar source that writes what
 * it reads (../archive/tar-source.ts).
 */

/**
 * System errors of a write that found no room: the disk or the quota is full, the file is over
 * the size the process may write or its file system holds (said in words by ./files.ts's
 * lackOfSpace).
 */
export const NO_ROOM: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

/**
 * System errors only a write meets: no room ({@link NO_ROOM}), or a read-only file system. Met
 * while something was being read into a file, they are the file's failure, never the reader's.
 */
export const WRITE_FAILURES: ReadonlySet<string> = new Set([...NO_ROOM, 'EROFS']);

/** Whether `err` is a system error that only a write meets ({@link WRITE_FAILURES}). */
export function isWriteFailure(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && WRITE_FAILURES.has(code);
}

/**
 * The system's words of `err` without its code and the call that met it: "ENOSPC: no space left
 * on device, write" says "no space left on device"; a message of another form, as it is.
 */
export function systemWords(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return /^[A-Z0-9]+: ([^,]+)/.exec(message)?.[1] ?? message;
}
