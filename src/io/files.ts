/**
 * Files: writing one so that a reader sees the old file or the whole new one, never half of it
 * (the one way the library and the CLI replace files: lock files, keys, packages, layout
 * metadata, archives, blobs written with `-o`), and file system errors as typed errors.
 */
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { abortedError, isProvenantError, ProvenantError, throwIfAborted } from '../errors.ts';
import type { Descriptor } from '../oci/types.ts';
import type { BlobSource, ByteStream } from './types.ts';
import { NO_ROOM, systemWords } from './write-failures.ts';

/**
 * node:fs/promises, taken on first use: loading it (with its watchers and readline) costs about
 * 2 ms of a start that only reads (a layout's digest, say), which needs none of it. The modules
 * on that path (this one, the layout store and its lock) take it through this.
 */
export const fsp = (): typeof import('node:fs/promises') => process.getBuiltinModule('node:fs/promises');

const { accessSync, closeSync, constants, createReadStream, fstatSync, lstatSync, openSync, readFileSync, readlinkSync, statSync } =
  process.getBuiltinModule('node:fs');

/**
 * `bytes` random bytes in hex, for names of temporary files. node:crypto is taken on first use
 * rather than imported: it takes about 5 ms to load, and most commands that write a file write
 * it only at the end, or not at all.
 */
export function randomHex(bytes: number): string {
  return process.getBuiltinModule('node:crypto').randomBytes(bytes).toString('hex');
}

/**
 * Makes the folder `path` and the parents it lacks, as `mkdir -p` and `mkdir(path, { recursive:
 * true })` do, but gives up where those never do: Node's recursive mkdir (24.22.3, sync and async
 * alike) takes an ENOENT for "the parent is missing", makes the parent (EEXIST: there), and tries
 * the child again, forever, when a folder that exists cannot hold a new one: procfs answers
 * ENOENT to a mkdir of any new name (`--cache-dir /proc/nope` spun a thread of the pool for good,
 * and nothing waiting on it ever heard of a cancel). Here each folder is tried at most twice:
 * once, and once more after its parent was made; and the whole is done again, at most five
 * times, only when another process removed a folder between the mkdir that made or found it and
 * the next step.
 *
 * `below`: a folder above `path` that is not made, nor any above it: the mkdir in it fails with
 * ENOENT when it is not there (a layout's blob folder, whose layout was removed meanwhile, is
 * not made again with it).
 *
 * @throws the file system's error (ENOENT, ENOTDIR, EACCES...) as mkdir gives it, for the folder
 *   that could not be made
 */
export async function makeFolder(path: string, options: { below?: string | undefined } = {}): Promise<void> {
  // A folder another process made and removed between this mkdir (EEXIST) and the look at it
  // (ENOENT) is made again, a few times: what is there is decided by the mkdir, not the look.
  for (let attempt = 0; ; attempt++) {
    try {
      await makeFolderOnce(path, options.below);
      return;
    } catch (err) {
      if (!(err instanceof GoneMeanwhile)) throw err;
      if (attempt === 4) throw err.cause;
    }
  }
}

/** A folder found by mkdir (EEXIST) that the look after it no longer found. */
class GoneMeanwhile extends Error {
  constructor(cause: unknown) {
    super('gone meanwhile', { cause });
  }
}

/** Whether what is at `path` is a folder, after a mkdir found something there (EEXIST). */
async function isFolderFound(path: string): Promise<boolean> {
  try {
    return (await fsp().stat(path)).isDirectory();
  } catch (err) {
    if (!isNotFound(err)) throw err;
    // A link to nothing is what mkdir found, and no folder: not one gone meanwhile, made again
    // (five times over, each failing as the first did).
    const link = await fsp()
      .lstat(path)
      .then(
        (s) => s.isSymbolicLink(),
        () => false,
      );
    if (link) return false;
    throw new GoneMeanwhile(err);
  }
}

/** {@link makeFolder} once: each folder tried at most twice; none at `below` or above it. */
async function makeFolderOnce(path: string, below: string | undefined): Promise<void> {
  const { mkdir } = fsp();
  try {
    await mkdir(path);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      // Something is there: a folder (or a link to one) is what was asked for, anything else
      // stays EEXIST, as the recursive mkdir says it.
      if (await isFolderFound(path)) return;
      throw err;
    }
    const parent = dirname(path);
    if (code !== 'ENOENT' || parent === path || parent === below) throw err;
    await makeFolderOnce(parent, below);
  }
  try {
    await mkdir(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // The parent just made, removed meanwhile by another process: made again, as a folder that goes.
    if (code === 'ENOENT' && !(await isFolderThere(dirname(path)))) throw new GoneMeanwhile(err);
    // Made meanwhile by another process; a second ENOENT with the parent there is final.
    if (code !== 'EEXIST' || !(await isFolderFound(path))) throw err;
  }
}

/** Whether `path` is a folder now (false for nothing there, or anything else). */
async function isFolderThere(path: string): Promise<boolean> {
  return fsp()
    .stat(path)
    .then(
      (st) => st.isDirectory(),
      () => false,
    );
}

/**
 * Why a file the user named could not be read, as a clause for a message and the error code that
 * goes with it: `there is no such file` (`NOT_FOUND`, also for a path through a file), `it is a
 * folder` (`USAGE`), `permission denied: ...` (`IO`), or the system's own message (`IO`). The one reading of a failed read of a
 * named file for the CLI and the Action alike.
 */
export function whyUnreadable(err: unknown): { code: 'NOT_FOUND' | 'USAGE' | 'IO'; why: string } {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return { code: 'NOT_FOUND', why: 'there is no such file' };
  if (code === 'EISDIR') return { code: 'USAGE', why: 'it is a folder' };
  // In words, as fileError says it: not the system's bare `EACCES: permission denied, open '...'`.
  if (code === 'EACCES' || code === 'EPERM')
    return { code: 'IO', why: 'permission denied: this user may not read it (or enter a folder above it)' };
  return { code: 'IO', why: err instanceof Error ? err.message : String(err) };
}

/**
 * Why the file the user named at `path` could not be read, as a clause completing its name ("the
 * key file ..."), with the error code that goes with it and, where one helps, a hint: `does not
 * exist` (`NOT_FOUND`, also for a path through a file), `is a symbolic link to T, which is not
 * there` (`NOT_FOUND`, see {@link linkToNothing}), `cannot be read: it is a folder` (`USAGE`),
 * `cannot be read: permission denied: ...` (`IO`, the hint naming the folder that refused, as
 * {@link fileError} does), a {@link RefusedFile}'s problem (`USAGE`), or the system's own message
 * (`IO`). The one reading of a failed read of a key, a trusted root or a policy's secret.
 */
export function unreadableNamed(
  err: unknown,
  path: string,
): { code: 'NOT_FOUND' | 'USAGE' | 'IO'; problem: string; hint?: string | undefined } {
  if (err instanceof RefusedFile) return { code: 'USAGE', problem: err.problem };
  const { code, why } = whyUnreadable(err);
  if (code === 'NOT_FOUND') {
    const link = linkToNothing(path);
    if (link === undefined) return { code, problem: 'does not exist' };
    return { code, problem: `is ${link}`, hint: `make the file it points to, or name another (ls -l ${path})` };
  }
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  if (errno === 'EACCES' || errno === 'EPERM') return { code, problem: `cannot be read: ${why}`, hint: refusedAccessHint(path, 'read') };
  return { code, problem: `cannot be read: ${why}` };
}

/** Options of {@link writeFileAtomic}. */
export interface WriteFileOptions {
  /** The new file's permission bits (before the umask); default 0o666. */
  mode?: number | undefined;
  /** `mode` is the file's exact permission bits, not reduced by the umask (those of a file being replaced in place). */
  exactMode?: boolean | undefined;
  /** Create the parent folder when it is missing. */
  mkdir?: boolean | undefined;
  /** Cancels the write; the old file then stays as it was. */
  signal?: AbortSignal | undefined;
  /** The place to name in errors; default the path. */
  where?: string | undefined;
  /** The temporary file's path, in the same folder; default `<path>.tmp-<random>`. */
  temporary?: string | undefined;
  /**
   * The new file takes the permission bits of the file it replaces, exactly (a 0600 archive
   * stays 0600 when a tag is added); `mode` then applies only when there is none.
   */
  keepMode?: boolean | undefined;
  /**
   * Runs once the temporary file is written, just before it is renamed over `path`: what it
   * throws fails the write, and `path` stays as it was (a lock checked to be still held).
   */
  beforeRename?: (() => Promise<void>) | undefined;
}

/**
 * Writes `data` to `path` through a temporary file beside it (`<path>.tmp-<random>`, which a
 * layout's gc counts as a partial write), renamed over `path` only once all of it is written.
 * On any failure or cancellation the temporary file is removed and `path` is left as it was.
 * A stream's own errors (a digest that did not verify, a source file gone, a connection reset)
 * are thrown as they are, a system error as `IO` in its own words, never as the write's.
 *
 * @throws ProvenantError `NOT_FOUND` when the folder is missing (and `mkdir` was not asked), `IO`
 *   when the file system refuses otherwise, `ABORTED` when `signal` fires
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array | ByteStream, options: WriteFileOptions = {}): Promise<void> {
  const where = options.where ?? path;
  heldErrors(data);
  refuseEmptyName(path, where);
  refuseFolderName(path, where);
  refuseFolder(path, where);
  const tmp = options.temporary ?? `${path}.tmp-${randomHex(6)}`;
  let written = options;
  if (options.keepMode) {
    const old = await fsp()
      .stat(path)
      .catch(() => undefined);
    if (old?.isFile()) written = { ...options, mode: old.mode & 0o7777, exactMode: true };
  }
  await writeTemporary(tmp, path, data, where, written);
  await renameTemporary(tmp, path, where, options.signal, options.beforeRename);
}

/**
 * Keeps a Node stream's error for its reader: a stream that fails before it is read (a source
 * file gone, found while this write still opens its own file) emits `error` with no listener,
 * which Node throws as an uncaught exception; read later, the stream throws the same error
 * (`readable.errored`), and the write says it as the data's.
 */
function heldErrors(data: unknown): void {
  const stream = data as { on?: unknown; once?: (event: string, f: () => void) => unknown };
  if (typeof stream.on === 'function' && typeof stream.once === 'function') stream.once('error', () => undefined);
}

/** One file of {@link writeFilesAtomic}. */
export interface FileToWrite {
  path: string;
  data: string | Uint8Array;
  /** The new file's permission bits (before the umask); default 0o666. */
  mode?: number | undefined;
}

/**
 * Writes several files that belong together (a key pair) as {@link writeFileAtomic} writes one:
 * each to a temporary file beside it, all renamed over their paths only once every one is
 * written. A path that is a folder is refused before anything is written; on any failure while
 * writing, the temporary files are removed and every path is left as it was. Only a rename that
 * fails after another succeeded (the file system gone in between) can leave some replaced.
 *
 * @throws ProvenantError `IO` for a path that is a folder or a refused write, `NOT_FOUND` for a
 *   missing folder, `ABORTED` when `signal` fires
 */
export async function writeFilesAtomic(files: readonly FileToWrite[], options: { signal?: AbortSignal | undefined } = {}): Promise<void> {
  for (const f of files) {
    refuseEmptyName(f.path, f.path);
    refuseFolderName(f.path, f.path);
  }
  refuseFolders(files.map((f) => f.path));
  const written: Array<{ tmp: string; path: string }> = [];
  try {
    for (const f of files) {
      const tmp = `${f.path}.tmp-${randomHex(6)}`;
      await writeTemporary(tmp, f.path, f.data, f.path, { mode: f.mode, signal: options.signal });
      written.push({ tmp, path: f.path });
    }
    if (options.signal?.aborted) throw abortedError(options.signal, files[0]?.path);
  } catch (err) {
    for (const w of written) await removeTemporary(w.tmp);
    throw err;
  }
  for (const [i, w] of written.entries()) {
    await renameTemporary(w.tmp, w.path, w.path).catch(async (err: unknown) => {
      for (const rest of written.slice(i + 1)) await removeTemporary(rest.tmp);
      throw err;
    });
  }
}

/**
 * Throws for the first of `paths` that is a folder, before anything is written: renaming a
 * file over a folder fails only once all the other files are in place.
 *
 * @throws ProvenantError `IO` naming it
 */
export function refuseFolders(paths: readonly string[]): void {
  for (const path of paths) refuseFolder(path, path);
}

/**
 * Throws `IO` "is a folder" when `path` is a folder or names one (`.`, `..`, `out/..`), before
 * anything is written; `IO` too for a path the system cannot look up ({@link unwritablePath}).
 */
function refuseFolder(path: string, where: string): void {
  let folder: boolean;
  try {
    folder = namesFolder(path);
  } catch (err) {
    throw unwritablePath(err, path, where);
  }
  if (folder) throw folderError(where);
}

/**
 * Whether `path` is a folder, or a name that always means one (its last part `.` or `..`).
 *
 * @throws the file system's error when `path` cannot be looked up (a name too long)
 */
function namesFolder(path: string): boolean {
  const last = basename(path);
  return last === '.' || last === '..' || statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
}

/** {@link namesFolder}, false when the path cannot be looked up: for an error already on its way. */
function namesFolderQuietly(path: string): boolean {
  try {
    return namesFolder(path);
  } catch {
    return false;
  }
}

/**
 * The error for a path that cannot be written before anything is (its name too long, a part of
 * it a file), naming the path the user gave rather than the temporary file beside it.
 */
function unwritablePath(err: unknown, path: string, where: string): ProvenantError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENAMETOOLONG') {
    return new ProvenantError('IO', `${where}: the name is too long for the file system; nothing was written`, {
      where,
      cause: err,
      hint: 'choose a shorter name: a file name holds at most 255 bytes, and the temporary file written beside it adds 17',
    });
  }
  if (code === 'ENOTDIR') {
    return new ProvenantError('IO', `${where}: a part of ${dirname(path)} is a file, not a folder; nothing was written`, {
      where,
      cause: err,
      hint: 'write into a folder: every part before the file name must be a folder',
    });
  }
  return fileError(err, where);
}

/** Removes a temporary file after a failure; never throws, so that it cannot hide that failure. */
async function removeTemporary(tmp: string): Promise<void> {
  await fsp()
    .rm(tmp, { force: true })
    .catch(() => undefined);
}

/**
 * The error for a folder that {@link makeFolder} could not make where a file is to go (`-o DIR`):
 * a file already there, a part of the path that is a file, or the system's refusal.
 */
export function makeFolderError(err: unknown, dir: string): ProvenantError {
  if (err instanceof ProvenantError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  // A link to nothing is what mkdir found (makeFolder takes it for no folder): said as that.
  const found = (err as NodeJS.ErrnoException | undefined)?.path ?? dir;
  const link = code === 'EEXIST' ? linkToNothing(found) : undefined;
  if (link !== undefined) {
    return new ProvenantError('IO', `${found} is ${link}; nothing was written`, {
      where: dir,
      cause: err,
      hint: linkToNothingHint(found),
    });
  }
  if (code === 'EEXIST') {
    return new ProvenantError('IO', `${dir} is a file, not a folder; nothing was written`, {
      where: dir,
      cause: err,
      hint: 'name a folder (one that exists, or one to make) for the files to go in',
    });
  }
  return unwritablePath(err, `${dir}/.`, dir);
}

/**
 * What the symbolic link at `path` is when nothing is at its end, as a clause: `a symbolic link to
 * TARGET, which is not there`, or for a chain of links `a symbolic link to TARGET, a chain of
 * links that ends at PATH, which is not there` (TARGET, the next link, is there). Undefined for
 * no link, a link to something, or one that cannot be followed for another reason (a loop). The
 * one reading of a link to nothing, for a folder mkdir found there (EEXIST) and makeFolder took
 * for no folder: `-o DIR/FILE` and a layout to make.
 */
export function linkToNothing(path: string): string | undefined {
  let first: string;
  try {
    first = readlinkSync(path);
    if (statSync(path, { throwIfNoEntry: false }) !== undefined) return undefined;
  } catch {
    return undefined;
  }
  // Followed link by link to the one whose target is not there (40, as the kernel's limit).
  let end = resolve(dirname(path), first);
  let hops = 1;
  for (; hops < 40; hops++) {
    let next: string;
    try {
      next = readlinkSync(end);
    } catch {
      break;
    }
    end = resolve(dirname(end), next);
  }
  return hops === 1
    ? `a symbolic link to ${first}, which is not there`
    : `a symbolic link to ${first}, a chain of links that ends at ${end}, which is not there`;
}

/** The hint for a folder to make that is {@link linkToNothing}, the link at `path`. */
export function linkToNothingHint(path: string): string {
  return `make the folder it points to, or remove the link (${path})`;
}

function folderError(where: string, cause?: unknown): ProvenantError {
  return new ProvenantError('IO', `${where} is a folder; nothing was written`, {
    where,
    cause,
    hint: 'name a file to write, not a folder',
  });
}

/**
 * Refuses an empty path (`-o ''`): it names no file, and the temporary file would be made in the
 * working folder and renamed over nothing, in the system's words about that temporary file.
 *
 * @throws ProvenantError `USAGE`
 */
function refuseEmptyName(path: string, where: string): void {
  if (path !== '') return;
  throw new ProvenantError('USAGE', 'the name of the file to write is empty', {
    where: where === '' ? undefined : where,
    hint: 'name the file to write: FOLDER/NAME',
  });
}

/**
 * A failed write or rename of the temporary file `tmp` that stands for `path`, as an error that
 * names `path` (the file the user chose), never `tmp`, whose name the system's message carries:
 * `IO` with the reason in words, and for a refused permission a hint; `ABORTED` when `signal`
 * fired. Only for the write's own errors (opening, writing, closing, renaming the file): one of
 * reading the data is the data's, and taken as the write's it blamed the folder for the source
 * (a source file gone read as "the folder takes no new files").
 */
function writeError(err: unknown, tmp: string, path: string, where: string, signal?: AbortSignal): ProvenantError {
  if (err instanceof ProvenantError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ABORT_ERR' || signal?.aborted) return fileError(err, where, signal);
  const folder = dirname(path);
  const refused = refusedWrite(err, where, folder, '; nothing was written');
  if (refused !== undefined) return refused;
  if (code === 'ENOENT' && namesFolderQuietly(folder)) {
    // The folder is there and still answers ENOENT: a file system that makes no new files (procfs, sysfs).
    return new ProvenantError('IO', `cannot write ${where}: ${folder} takes no new files; nothing was written`, {
      where,
      cause: err,
      hint: 'write it to a folder of an ordinary file system',
    });
  }
  // The system's words without the syscall and the temporary file's name ("EIO: i/o error, open 'x.tmp-…'").
  const reason = systemWords(err).replaceAll(tmp, path);
  return new ProvenantError('IO', `cannot write ${where}: ${reason}; nothing was written`, { where, cause: err });
}

/**
 * Refuses a path that ends in a separator (`out/`): it names a folder, where a file is to be
 * written. Its temporary file would be made inside that folder and the rename would fail, or,
 * the folder missing, the error would send the user to create a folder a file cannot replace.
 *
 * @throws ProvenantError `USAGE`
 */
function refuseFolderName(path: string, where: string): void {
  if (path.endsWith('/') || path.endsWith(sep)) {
    throw new ProvenantError('USAGE', `${where} ends in ${path.endsWith('/') ? '/' : sep}: that names a folder, not a file to write`, {
      where,
      hint: 'name the file to write: FOLDER/NAME',
    });
  }
}

/** Writes `data` to the new file `tmp` that stands for `path`; on failure removes it and throws what {@link writeFileAtomic} documents. */
async function writeTemporary(
  tmp: string,
  path: string,
  data: string | Uint8Array | ByteStream,
  where: string,
  options: Omit<WriteFileOptions, 'where' | 'temporary'>,
): Promise<void> {
  let handle: FileHandle | undefined;
  let opened = false;
  // Set when the data failed as it was read (a file gone, a connection reset): that error is
  // the data's, not this write's, and passes as it is (see writeError).
  let dataFailed = false;
  const watched = async function* (stream: ByteStream): ByteStream {
    try {
      yield* stream;
    } catch (err) {
      dataFailed = true;
      throw err;
    }
  };
  try {
    if (options.mkdir) await makeFolder(dirname(tmp)).catch((err: unknown) => Promise.reject(makeFolderError(err, dirname(tmp))));
    // The file exists before any byte flows, and is closed before it is removed on failure: a
    // write stream that opened its file on its own could create it after the cleanup ran.
    handle = await fsp().open(tmp, 'wx', options.mode ?? 0o666);
    opened = true;
    if (options.exactMode === true && options.mode !== undefined) await handle.chmod(options.mode);
    if (typeof data === 'string' || data instanceof Uint8Array) await handle.writeFile(data);
    else {
      const { pipeline } = process.getBuiltinModule('node:stream/promises');
      await pipeline(watched(data), handle.createWriteStream(), { signal: options.signal });
    }
    await handle.close();
    handle = undefined;
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await removeTemporary(tmp);
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    if (!opened && (code === 'ENAMETOOLONG' || code === 'ENOTDIR')) throw unwritablePath(err, tmp, where);
    if (!opened && code === 'ENOENT' && !namesFolderQuietly(dirname(tmp))) {
      // open's own words name the temporary file too: it is the folder that is missing.
      throw new ProvenantError('NOT_FOUND', `${dirname(tmp)} does not exist; ${where} was not written`, {
        where,
        cause: err,
        hint: 'write into a folder that exists',
      });
    }
    if (dataFailed) throw fileError(err, where, options.signal);
    throw writeError(err, tmp, path, where, options.signal);
  }
}

/**
 * Renames the written `tmp` over `path` unless `signal` fired or `before` throws; on failure
 * removes `tmp`, `path` as it was.
 */
async function renameTemporary(
  tmp: string,
  path: string,
  where: string,
  signal?: AbortSignal,
  before?: () => Promise<void>,
): Promise<void> {
  try {
    if (signal?.aborted) throw abortedError(signal, where);
    await before?.();
  } catch (err) {
    // Not the rename's: passed as it is (a lock found lost says so itself).
    await removeTemporary(tmp);
    throw fileError(err, where, signal);
  }
  try {
    await fsp().rename(tmp, path);
  } catch (err) {
    await removeTemporary(tmp);
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    // A folder made there meanwhile: EISDIR, or EBUSY/ENOTEMPTY/EEXIST for `.`, a mount point or
    // a folder with files. rename's own words name the temporary file, which the user never chose.
    if (code === 'EISDIR' || ((code === 'EBUSY' || code === 'ENOTEMPTY' || code === 'EEXIST') && namesFolderQuietly(path))) {
      throw folderError(where, err);
    }
    throw writeError(err, tmp, path, where, signal);
  }
}

/**
 * Puts the file at `source` at `path` without copying its bytes where the file system allows:
 * a hard link (files that are only ever replaced, never changed in place, such as a cache's
 * content-addressed files), else a copy-on-write clone, else a copy; made under `temporary` and
 * renamed over `path` once `check` has read it whole without error (a digest check). False when
 * no link or copy could be made, for the caller to stream the bytes instead.
 *
 * @throws what `check` throws (the temporary file is removed), or `IO`
 */
export async function linkFileAtomic(
  source: string,
  path: string,
  options: { temporary: string; where: string; check: (stream: ByteStream) => ByteStream },
): Promise<boolean> {
  const { temporary, where } = options;
  try {
    await fsp()
      .link(source, temporary)
      .catch(() => fsp().copyFile(source, temporary, constants.COPYFILE_FICLONE));
  } catch {
    return false;
  }
  try {
    for await (const _ of options.check(fileChunksReused(temporary))) {
      // The check reads it all and fails at the end when it does not hold.
    }
    await fsp().rename(temporary, path);
  } catch (err) {
    await removeTemporary(temporary);
    throw fileError(err, where);
  }
  return true;
}

/**
 * The bytes of the file at `path` (a regular file: anything else throws {@link RefusedFile}, as
 * {@link openRegularFile}), read through two buffers of `bufferSize` bytes: each chunk is
 * a view of one of them, valid only until the next one is asked for (the buffers are freed
 * when the stream ends: the last chunk is then empty). For readers that hash and
 * drop (checking a layer of hundreds of MB): a stream's fresh buffer per read lives outside V8's
 * heap and piles up until a collection, which made a warm build's peak memory grow with its
 * layer. The next chunk is read while the caller uses this one: read one after the other, the
 * reads of the 1 GB bench image's 329 MB layer left this thread idle for about 0.1 s.
 */
export async function* fileChunksReused(path: string, bufferSize = 1 << 20): ByteStream {
  const { handle } = await openRegularHandle(path);
  let next: Promise<{ bytesRead: number }> | undefined;
  /** Starts the next read. Its failure is handled when it is awaited: until then, not unhandled. */
  const read = (into: Uint8Array): Promise<{ bytesRead: number }> => {
    const started = handle.read(into, 0, bufferSize, null);
    started.catch(() => {});
    return started;
  };
  let buffer = new Uint8Array(bufferSize);
  let spare = new Uint8Array(bufferSize);
  try {
    next = read(buffer);
    for (;;) {
      const { bytesRead } = await next;
      if (bytesRead === 0) return;
      next = read(spare);
      yield buffer.subarray(0, bytesRead);
      [buffer, spare] = [spare, buffer];
    }
  } finally {
    // A read still under way (the caller stopped early) ends before the file is closed.
    await next?.catch(() => {});
    await handle.close();
    // Freed now rather than at the next collection: a build checks one cache file after another
    // through buffers of their own (a layer made again, each large body's compressed blocks),
    // and those left to V8 piled up through the layer, which collects nothing while it only
    // copies kept blocks (issue 16).
    buffer.buffer.transfer(0);
    spare.buffer.transfer(0);
  }
}

/**
 * The SHA-256 (hex) and size of the file at `path`, read through {@link fileChunksReused}.
 *
 * @throws ProvenantError `IO` when it cannot be read; `ABORTED`
 */
export async function hashFile(path: string, where: string, signal?: AbortSignal): Promise<{ sha256: string; size: number }> {
  const hash = process.getBuiltinModule('node:crypto').createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of fileChunksReused(path)) {
      throwIfAborted(signal);
      hash.update(chunk);
      size += chunk.length;
    }
  } catch (err) {
    if (isProvenantError(err)) throw err;
    throw new ProvenantError('IO', `cannot read ${where}: ${(err as Error).message}`, { where, cause: err });
  }
  return { sha256: hash.digest('hex'), size };
}

/**
 * A file system error as a ProvenantError: ABORTED for a cancelled write; a write refused for want
 * of permission, of a writable file system or of space said as {@link refusedWrite} says it
 * (naming `where` and the folder, never the file of the system's message, which may be a lock or
 * a temporary file the user never chose); IO in the system's words otherwise.
 */
export function fileError(err: unknown, where: string, signal?: AbortSignal): ProvenantError {
  if (err instanceof ProvenantError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ABORT_ERR' || signal?.aborted) return new ProvenantError('ABORTED', 'the operation was cancelled', { where, cause: err });
  if (isWriteRefusal(err)) {
    const path = (err as NodeJS.ErrnoException).path;
    const refused = refusedWrite(err, where, path === undefined ? undefined : dirname(path));
    if (refused !== undefined) return refused;
  }
  const e = err as NodeJS.ErrnoException | undefined;
  if ((code === 'EACCES' || code === 'EPERM') && e?.path !== undefined) {
    // A file that is there and may not be read (or a folder above it not entered): said as the
    // file the system named, not in its bare `EACCES: permission denied, open '...'`.
    const verb = ACCESS_VERBS[e.syscall ?? ''] ?? 'use';
    return new ProvenantError('IO', `cannot ${verb} ${e.path}: permission denied`, {
      where,
      cause: err,
      hint: refusedAccessHint(e.path, verb),
    });
  }
  return new ProvenantError('IO', `${(err as Error)?.message ?? String(err)}`, { where, cause: err });
}

/**
 * The hint for `path` that this user may not `verb` (read, open, list): the folder above it that
 * may not be entered, when one may not (`ls -ld` of the file itself fails the same way), else the
 * file's own permissions.
 */
function refusedAccessHint(path: string, verb: string): string {
  const refuser = unenterableAbove(path);
  if (refuser === undefined) return `this user may not ${verb} it: run as a user who may, or change its permissions (ls -ld ${path})`;
  const { folder, link } = refuser;
  const through = link === undefined ? '' : ` through the link ${link}`;
  return `this user may not enter ${folder}, a folder above it${through}: run as a user who may, or change that folder's permissions (ls -ld ${folder})`;
}

/**
 * The first folder above `path` (as it is written, from its top: `/`, or `.` for a relative one)
 * that this user may not enter (search), or undefined when it may enter every one, or one cannot
 * be looked at for another reason. When that folder is a symbolic link, the folder that refused is
 * further along the link (the link's own folder was entered to read it): that real folder is
 * named, with the `link` that led there. For a refused permission only: a look per folder.
 */
function unenterableAbove(path: string): { folder: string; link?: string } | undefined {
  const folder = firstUnenterable(foldersTo(dirname(path)));
  if (folder === undefined) return undefined;
  const real = realRefuser(folder, 0);
  return real === folder ? { folder } : { folder: real, link: folder };
}

/** `folder` and each folder above it, from the top (`/`, or `.` for a relative path). */
function foldersTo(folder: string): string[] {
  const above: string[] = [];
  for (let p = folder; ; p = dirname(p)) {
    above.unshift(p);
    if (dirname(p) === p) break;
  }
  return above;
}

/** The first of `folders` this user may not enter; undefined when it may enter each, or one fails otherwise. */
function firstUnenterable(folders: readonly string[]): string | undefined {
  for (const folder of folders) {
    try {
      accessSync(folder, constants.X_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return code === 'EACCES' || code === 'EPERM' ? folder : undefined;
    }
  }
  return undefined;
}

/**
 * The folder that refused entry when `folder`, which may not be entered, is a symbolic link: the
 * first along its target (the folders above the target, then the target) that may not be entered,
 * followed on when that is a link too (at most 40 links, as the kernel). `folder` itself when it is
 * no link, or its target cannot be told.
 */
function realRefuser(folder: string, hops: number): string {
  let target: string;
  try {
    if (hops >= 40 || !lstatSync(folder).isSymbolicLink()) return folder;
    target = resolve(dirname(folder), readlinkSync(folder));
  } catch {
    return folder;
  }
  const refuser = firstUnenterable(foldersTo(target));
  return refuser === undefined ? folder : realRefuser(refuser, hops + 1);
}

/** What a system call that was refused a permission was doing to its path, for {@link fileError}. */
const ACCESS_VERBS: Readonly<Record<string, string>> = {
  open: 'open',
  scandir: 'list',
  opendir: 'list',
  stat: 'look at',
  lstat: 'look at',
  realpath: 'resolve',
  readlink: 'read the link',
  read: 'read',
};

/** System calls that only ever change the file system: a permission they are refused is a refused write. */
const WRITING_CALLS: ReadonlySet<string> = new Set([
  'mkdir',
  'mkdtemp',
  'rmdir',
  'rename',
  'unlink',
  'link',
  'symlink',
  'utime',
  'write',
  'copyfile',
  'ftruncate',
]);

/**
 * Whether `err` is a write the file system refused: always so for no room (see lackOfSpace) and a
 * read-only file system (EROFS); for a refused permission (EACCES, EPERM) when the call only writes,
 * or opened a file that is not there (so it was to be made), not when a file that is there could
 * not be read.
 */
export function isWriteRefusal(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException | undefined;
  if (e?.code === 'EROFS' || isOutOfRoom(e)) return true;
  if (e?.code !== 'EACCES' && e?.code !== 'EPERM') return false;
  if (e.syscall !== undefined && WRITING_CALLS.has(e.syscall)) return true;
  if (e.syscall !== 'open' || e.path === undefined) return false;
  try {
    return statSync(e.path, { throwIfNoEntry: false }) === undefined;
  } catch {
    return false;
  }
}

/** The words of each of {@link NO_ROOM}'s codes. */
const NO_ROOM_WORDS: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'the disk quota is used up',
  EFBIG: 'the file would be larger than the file system or the file size limit (ulimit -f) allows',
};

/**
 * What a write that found no room lacked, in words (`no space left on device`), or undefined for
 * another error: one of {@link NO_ROOM}'s codes (./write-failures.ts, the one list of them). `err`
 * may be a ProvenantError wrapping the system's error.
 */
export function lackOfSpace(err: unknown): string | undefined {
  const cause = err instanceof ProvenantError ? err.cause : err;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && NO_ROOM.has(code) ? NO_ROOM_WORDS[code] : undefined;
}

/** Whether `err` (or the system error it wraps) is a write that found no room: see {@link lackOfSpace}. */
export function isOutOfRoom(err: unknown): boolean {
  return lackOfSpace(err) !== undefined;
}

/**
 * A write refused by the file system, in words with a hint where the user can act, or undefined
 * for any other error: permission denied (EACCES, EPERM), a read-only file system (EROFS), no
 * room (see {@link lackOfSpace}). Names `where` (what the user asked to
 * write) and `folder` (where it was refused, when known), never the file the system names. The
 * one reading of these for every writer: `-o` files ({@link writeFileAtomic}), layouts, their
 * locks and the archives' work folders ({@link fileError}).
 *
 * @param outcome what the writer guarantees, appended to the message (`; nothing was written`)
 */
export function refusedWrite(err: unknown, where: string, folder: string | undefined, outcome = ''): ProvenantError | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EACCES' || code === 'EPERM') {
    return new ProvenantError('IO', `cannot write ${where}: permission denied${outcome}`, {
      where,
      cause: err,
      hint:
        folder === undefined
          ? 'this user may not write there: write elsewhere, or change the permissions'
          : `this user may not make files in ${folder}: write elsewhere, or change the folder's permissions (ls -ld ${folder})`,
    });
  }
  if (code === 'EROFS') {
    return new ProvenantError('IO', `cannot write ${where}: ${folder ?? 'it'} is on a read-only file system${outcome}`, {
      where,
      cause: err,
      hint: 'write it to a writable folder',
    });
  }
  const why = lackOfSpace(err);
  if (why !== undefined) {
    return new ProvenantError('IO', `cannot write ${where}: ${why}${folder === undefined ? '' : ` (in ${folder})`}${outcome}`, {
      where,
      cause: err,
      hint:
        code === 'EFBIG'
          ? 'raise the file size limit (ulimit -f), or write to a file system that takes larger files'
          : folder === undefined
            ? 'free space on the file system written to (df -h), or write elsewhere'
            : `free space on the file system of ${folder} (df -h ${folder}), or write elsewhere`,
    });
  }
  return undefined;
}

/** True for a file system error that says the file is not there. */
export function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/**
 * What tells one version of a file at `path` from the next, for a file that is only ever written
 * or replaced: its inode, size and modification time in nanoseconds, or undefined when it cannot
 * be read. A replacement changes the inode; a write or a truncation changes the time, unless it
 * comes within the same tick of the kernel's clock as the last (a few milliseconds), or the time
 * is set back. The change time is left out: a hard link made to the file (a layout's blob linked
 * from a cache) changes it too. (A layout's index.json is told apart with the change time too:
 * ../store/layout-files.ts stampOf.)
 */
export function fileVersion(path: string): string | undefined {
  try {
    const s = statSync(path, { bigint: true });
    return `${s.ino}:${s.size}:${s.mtimeNs}`;
  } catch {
    return undefined;
  }
}

/**
 * A file's bytes (from `start`, to `end` inclusive), in chunks of `highWaterMark` (1 MiB), from a
 * file opened only when the first chunk is asked for. A read stream opens its file as soon as it
 * is made, and one made in advance that meets its file gone (a blob a gc removed between the
 * read's start and its first chunk) emits `error` before anyone listens, which Node throws as an
 * uncaught exception: the command ended in a bare ENOENT. Here the open's error is its reader's,
 * thrown where it iterates; and a stream never read opens nothing.
 *
 * Opened as {@link openRegularFile} opens (without waiting for a writer, refused unless a regular
 * file), since what is there at the first chunk may not be what a check at the read's start saw:
 * a named pipe put there meanwhile blocked the reader for good, past every signal but SIGKILL,
 * and a folder failed at its first read in Node's bare EISDIR.
 *
 * @param open opens `path` and gives its descriptor, refusing anything but a regular file
 *   (a layout's own refusal); {@link openRegularFile} by default
 * @throws RefusedFile (by default) for a pipe, a device, a folder, a socket; the file system's own
 *   error (ENOENT, EACCES, ...) unchanged
 */
export async function* fileChunks(
  path: string,
  range: { start?: number; end?: number; highWaterMark?: number } = {},
  open: (path: string) => number = (p) => openRegularFile(p).fd,
): ByteStream {
  const fd = open(path);
  let stream: AsyncIterable<Uint8Array>;
  try {
    // The stream closes the descriptor when it ends, fails or its reader stops.
    stream = createReadStream(path, { fd, highWaterMark: 1 << 20, ...range });
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  yield* stream;
}

/**
 * Why a file could not be read, as a clause: `it is a named pipe, not a regular file` for a
 * {@link RefusedFile}, the system's words (`no such file or directory`) otherwise.
 */
export function unreadableWords(err: unknown): string {
  if (!(err instanceof RefusedFile)) return systemWords(err);
  return err.problem.endsWith('not a regular file') ? `it ${err.problem}` : `it ${err.problem}, not a regular file`;
}

/**
 * {@link fileChunks} of the file at `path` from `offset`, for a {@link fileSource}: opened when
 * its store reads it, which may be after the file went (a cache pruned meanwhile), and then said
 * as the file's failure, not the store's write.
 */
async function* fileRead(path: string, offset: number): ByteStream {
  try {
    yield* fileChunks(path, { start: offset });
  } catch (err) {
    throw new ProvenantError('IO', `cannot read ${path}: ${unreadableWords(err)}`, { where: path, cause: err });
  }
}

/**
 * A {@link BlobSource} over a whole file on disk (a layer a build wrote into its cache), read in
 * 1 MiB chunks: the file is never held in memory. The store it is put into checks its digest.
 */
export function fileSource(descriptor: Descriptor, path: string): BlobSource & { readonly path: string } {
  return {
    descriptor,
    path,
    async open(offset = 0) {
      return fileRead(path, offset);
    },
  };
}

/**
 * True when `path` is `folder` or below it, judged by the paths as given (resolve links first
 * where they count): neither `..` nor `../...` nor another root away.
 */
export function isWithin(folder: string, path: string): boolean {
  const rel = relative(folder, path);
  return rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/** Raised by {@link readSmallFile} for a path that is not a regular file or is over its cap; `problem` completes "the file ... ". */
export class RefusedFile extends Error {
  readonly problem: string;
  constructor(problem: string) {
    super(problem);
    this.problem = problem;
  }
}

/** What a stat says a path is, for an error ("a named pipe"), for one that is not a regular file. */
export function kindOf(info: { isDirectory(): boolean; isFIFO(): boolean; isCharacterDevice(): boolean; isSocket(): boolean }): string {
  if (info.isDirectory()) return 'a directory';
  if (info.isFIFO()) return 'a named pipe';
  if (info.isCharacterDevice()) return 'a device';
  if (info.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Opens `path` to read, and refuses it unless it is a regular file: a named pipe in the place of
 * a file that Provenant reads (a layout's blob, a cache entry) would block the process for good,
 * past SIGTERM (a thread of libuv waits in open), so it is opened without waiting for a writer
 * (O_NONBLOCK) and refused when fstat says it is not a file. The caller closes the descriptor.
 *
 * @param open how the file is opened, with the flags given (a layout refuses links out of its
 *   folder); `openSync` by default
 * @throws RefusedFile for a pipe, a device, a folder, a socket; the file system's own error
 *   (ENOENT, EACCES, ...) unchanged
 */
export function openRegularFile(
  path: string,
  open: (path: string, flags: number) => number = openSync,
): { fd: number; stat: import('node:fs').BigIntStats } {
  const fd = open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stat = fstatSync(fd, { bigint: true });
    if (!stat.isFile()) throw new RefusedFile(`is ${kindOf(stat)}`);
    return { fd, stat };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * {@link openRegularFile} for a reader that reads through a FileHandle: opened without waiting for
 * a writer, refused unless fstat says it is a regular file, closed when refused.
 *
 * @param what what the file ought to be, for the refusal ("is a named pipe, not a policy file")
 * @param flags more flags to open it with (O_NOFOLLOW, for a file a link must not stand in for)
 * @throws RefusedFile for a pipe, a device, a folder, a socket; the file system's own error
 *   (ENOENT, EACCES, ELOOP for a link refused by O_NOFOLLOW, ...) unchanged
 */
export async function openRegularHandle(
  path: string,
  what?: string,
  flags = 0,
): Promise<{ handle: FileHandle; info: import('node:fs').Stats }> {
  const handle = await fsp().open(path, constants.O_RDONLY | constants.O_NONBLOCK | flags);
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new RefusedFile(what === undefined ? `is ${kindOf(info)}` : `is ${kindOf(info)}, not ${what}`);
    return { handle, info };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/**
 * The whole of the regular file at `path`, read at once (a cache file a caller reads whole and
 * checks). Opened as {@link openRegularFile} opens it, so a named pipe in its place is refused
 * rather than waited on.
 *
 * @throws RefusedFile for anything but a regular file; the file system's own error unchanged
 */
export function readRegularFileSync(path: string): Uint8Array {
  const { fd } = openRegularFile(path);
  try {
    // Node's own loop reads it to its end: no copy here of readCacheFile's (../pkg/cache-files.ts).
    const out = readFileSync(fd);
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  } finally {
    closeSync(fd);
  }
}

/**
 * The bytes of a regular file of at most `maxBytes`, for files a person writes and Provenant reads
 * whole (configurations, policies). It is opened without blocking and checked before it is read:
 * opening a named pipe waits for a writer that may never come, and /dev/zero never ends.
 *
 * @param what what the file is, for {@link RefusedFile}'s problem ("not a configuration file")
 * @throws RefusedFile for anything but a regular file, or one over `maxBytes` (also one that grew
 *   past it since its stat); the file system's own error (ENOENT, EACCES, ...) unchanged
 */
export async function readSmallFile(path: string, maxBytes: number, what: string): Promise<Uint8Array> {
  const { handle, info } = await openRegularHandle(path, what);
  try {
    const tooLarge = `is larger than ${maxBytes / 1024 / 1024} MiB; refusing it`;
    if (info.size > maxBytes) throw new RefusedFile(tooLarge);
    // One byte more than the cap, so that a file that grew since the stat is still refused.
    const buffer = new Uint8Array(maxBytes + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) throw new RefusedFile(tooLarge);
    }
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}
