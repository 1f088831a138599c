/** How several processes share one layout: its lock file, and the lists of what each writer has written and not tagged yet, which gc keeps. */
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ProvenantError } from '../errors.ts';
import { fsp, isOutOfRoom, openRegularHandle, RefusedFile, randomHex } from '../io/files.ts';
import { type Place, pidRunning, pidVisible, processStat, thisPlace } from '../io/place.ts';
import type { Digest } from '../oci/digest.ts';
import { isDigest } from '../oci/digest.ts';

// Coordination between processes that write one OCI layout at once (issue 9, item 2).
//
// Node has no flock(2), so the lock is a file made with O_CREAT|O_EXCL ('wx'), which the OS
// creates for exactly one caller. The file names its owner (host, pid, pid namespace, boot, and
// the process's start time). Where the owner's pid can be looked up (same host, namespace and
// boot: see pidVisible; and /proc this namespace's own: see procIsOwn), the owner decides alone:
// a lock whose pid no longer runs, or runs a later process (another start time), is stale; one
// whose very process still runs is held, however long ago it was refreshed, since a stopped
// holder (Ctrl-Z, a stalled disk) that lost its lock would resume and write index.json over
// whatever was written meanwhile. Elsewhere (everywhere under a /proc of another namespace), and
// for lines of older versions that name no start time, a lock not refreshed for LOCK_STALE_MS
// (owners touch it every LOCK_REFRESH_MS) is stale too. Breaking is itself guarded by a second
// O_EXCL file, and the breaker checks the lock is still the very one it judged stale before
// removing it, so two waiters cannot both break it and remove a fresh one.
//
// On a full disk the lock file is made empty (see createExclusive): the exclusive create needs
// no byte of data, and `gc`, which frees space, needs the lock. Such a lock names no owner, so it
// is judged by its age alone, as a lock of another host is: its holder refreshes it every
// LOCK_REFRESH_MS while it runs (utimes needs no space), so age breaks only a holder that stopped
// (killed, or Ctrl-Z). Its holder tells it as its own by the file's identity: device, inode, and
// birth time where the file system gives one (else the change time it saw after its own last
// refresh), never the inode alone, which ext4 gives to the next file made at once: a stopped
// holder whose empty lock was broken and made again by another would otherwise take the new lock
// for its own when it resumes, write under it and remove it.
//
// Every file of ours in a layout starts with `.provenant-`; none is there while nobody is
// writing (the layout stays exactly what the image-layout spec describes).

/** The prefix of every coordination file Provenant keeps in a layout directory. */
export const COORDINATION_PREFIX = '.provenant-';
/** The lock file: held while index.json changes and while `gc` runs. */
export const LOCK_FILE = `${COORDINATION_PREFIX}lock`;
/** Prefix of a writer's pending-digests file (see {@link WriterSession}). */
export const WRITER_PREFIX = `${COORDINATION_PREFIX}writer-`;
/**
 * Prefix of a blob's partial file in `blobs/<algorithm>/`, followed by its writer's session id
 * (`.provenant-tmp-<id>-<random>`). Older versions wrote `.tmp-<id>-…` and `.tmp-<random>`.
 */
export const PARTIAL_PREFIX = `${COORDINATION_PREFIX}tmp-`;
/** The prefix of blob partial files of older versions (see {@link PARTIAL_PREFIX}). */
export const OLD_PARTIAL_PREFIX = '.tmp-';

/**
 * The writer session a blob partial file `name` belongs to: `<id>` of `.provenant-tmp-<id>-…`
 * or `.tmp-<id>-…`; undefined for any other name. An older version's `.tmp-<random>` yields an
 * id that names no session.
 */
export function partialSession(name: string): string | undefined {
  const prefix = name.startsWith(PARTIAL_PREFIX) ? PARTIAL_PREFIX : name.startsWith(OLD_PARTIAL_PREFIX) ? OLD_PARTIAL_PREFIX : undefined;
  return prefix === undefined ? undefined : (name.slice(prefix.length).split('-')[0] ?? '');
}
/** Where `gc` moves unreferenced blobs before deleting them (see LayoutStore.gc). */
export const TRASH_DIR = `${COORDINATION_PREFIX}gc-trash`;

/**
 * A lock not refreshed for this long is stale, unless its owner file names a process of this
 * host and boot that still runs (see isStale): a holder elsewhere, or of an older version.
 */
const LOCK_STALE_MS = 60_000;
const LOCK_REFRESH_MS = 5_000;
/** How long to wait for a live holder before giving up (gc of a large layout holds it a while). */
const LOCK_WAIT_MS = 10 * 60_000;
// A writer's pending file, refreshed as often: a writer that stops refreshing for an hour (it
// died on another host, or its pid was reused) no longer protects its blobs.
const WRITER_STALE_MS = 60 * 60_000;
const WRITER_REFRESH_MS = 60_000;
// A breaker file older than this was left by a process that died while breaking.
const BREAK_STALE_MS = 10_000;

/** Who holds a lock or a writer session. */
export interface Owner extends Place {
  pid: number;
  id: string;
  /** The owner process's start time (see processStat); absent in lines of older versions, where /proc is not, and where /proc is another namespace's (procIsOwn). */
  start?: string | undefined;
}

// Read once: a process's start time does not change.
let ownStart: { value: string | undefined } | undefined;
let ownProc: boolean | undefined;

/**
 * False when /proc is not this process's pid namespace's own: `/proc/self` names another pid
 * than `process.pid`, as in a namespace made by `unshare --pid --fork` without `--mount-proc`.
 * There `/proc/PID` is the host's process of that number, not ours: its start time says nothing
 * of a writer here, and once the host reuses the pid a live writer would be taken for dead. So
 * no pid is looked up there, and the age of an owner file decides. True where there is no /proc
 * to mislead (not Linux): a pid is then tested by signal alone, in this namespace.
 */
function procIsOwn(): boolean {
  if (ownProc !== undefined) return ownProc;
  try {
    ownProc = process.getBuiltinModule('node:fs').readlinkSync('/proc/self') === String(process.pid);
  } catch {
    ownProc = true;
  }
  return ownProc;
}

function ownerLine(id: string): string {
  const { host, pidns, boot } = thisPlace();
  const owner: Owner = { host, pid: process.pid, id };
  if (pidns !== undefined) owner.pidns = pidns;
  if (boot !== undefined) owner.boot = boot;
  // Where /proc is another namespace's, the start it gives for our pid is another process's.
  ownStart ??= { value: procIsOwn() ? processStat(process.pid)?.start : undefined };
  if (ownStart.value !== undefined) owner.start = ownStart.value;
  return JSON.stringify(owner);
}

/** The owner an owner file's first line names (older versions wrote no pidns, boot and start). */
export function parseOwner(line: string | undefined): Owner | undefined {
  if (line === undefined) return undefined;
  try {
    const o = JSON.parse(line) as Partial<Owner>;
    if (typeof o.host === 'string' && typeof o.pid === 'number' && typeof o.id === 'string') {
      const owner: Owner = { host: o.host, pid: o.pid, id: o.id };
      if (typeof o.pidns === 'string') owner.pidns = o.pidns;
      if (typeof o.boot === 'string') owner.boot = o.boot;
      if (typeof o.start === 'string') owner.start = o.start;
      return owner;
    }
  } catch {
    // Being written right now, or not ours: judged by its age alone.
  }
  return undefined;
}

/**
 * True when an owner file may be taken for abandoned. Where its owner's pid is visible from
 * `place`: when the pid does not run, or runs a process of another start time than the file
 * names; a file naming the start time of a process that runs is never stale, however old. Else
 * (an owner on another host, pid namespace or boot, or a line without a start time), also when
 * the file was not refreshed for `staleMs`: such an owner is alive while it refreshes its file.
 * No pid is visible from a pid namespace whose /proc is another's (see procIsOwn).
 *
 * `stat` reads a process's state (default {@link processStat}; tests give their own).
 */
export function isStale(
  owner: Owner | undefined,
  mtimeMs: number,
  staleMs: number,
  place: Place = thisPlace(),
  stat: typeof processStat = processStat,
): boolean {
  if (owner !== undefined && procIsOwn() && pidVisible(owner, place)) {
    if (!pidRunning(owner.pid)) return true;
    // A start time compares only within one boot (ticks count from boot), which pidVisible
    // checked when the line names its boot.
    if (owner.start !== undefined && owner.boot !== undefined) {
      const now = stat(owner.pid);
      // A zombie has ended; only its parent has not collected it yet.
      if (now !== undefined) return now.start !== owner.start || now.state === 'Z';
    }
  }
  return Date.now() - mtimeMs > staleMs;
}

interface Seen {
  text: string;
  owner: Owner | undefined;
  mtimeMs: number;
  file: FileId;
}

/** Which file a lock file is: see {@link sameFile}. */
interface FileId {
  dev: bigint;
  ino: bigint;
  /** 0 where the file system keeps no birth time. */
  birthNs: bigint;
  ctimeNs: bigint;
}

function fileIdOf(s: import('node:fs').BigIntStats): FileId {
  return { dev: s.dev, ino: s.ino, birthNs: s.birthtimeNs, ctimeNs: s.ctimeNs };
}

/**
 * Whether `a` and `b` are one file: one device and inode, and one birth time, or where there is
 * none, one change time (which every refresh moves: the holder keeps the one it last saw).
 */
function sameFile(a: FileId, b: FileId): boolean {
  if (a.dev !== b.dev || a.ino !== b.ino) return false;
  return a.birthNs !== 0n || b.birthNs !== 0n ? a.birthNs === b.birthNs : a.ctimeNs === b.ctimeNs;
}

/**
 * Bytes an owner file may hold: its owner's line and, for a writer, a line per blob it relies on
 * (about 100 bytes each).
 */
const OWNER_FILE_LIMIT = 16 * 1024 * 1024;

/**
 * The owner file at `path`, or undefined when it is gone. It is opened without following a link
 * and without blocking, and must be a regular file: a named pipe in a crafted layout's place of
 * `.provenant-lock` would otherwise hang every command that takes the lock, and a link would
 * have its target read.
 *
 * @throws ProvenantError `INVALID_LAYOUT` for a link, anything but a regular file, or one over
 *   {@link OWNER_FILE_LIMIT}
 */
async function readOwnerFile(path: string): Promise<Seen | undefined> {
  // One open file for both the text and the stat, so they describe the same file even when it
  // is replaced meanwhile.
  const name = path.slice(path.lastIndexOf('/') + 1);
  const refuse = (what: string) =>
    new ProvenantError('INVALID_LAYOUT', `${name} is ${what}, not a file Provenant wrote`, {
      where: path,
      hint: `remove ${path} if no provenant is working on this layout`,
    });
  let opened: Awaited<ReturnType<typeof openRegularHandle>>;
  try {
    opened = await openRegularHandle(path, undefined, process.getBuiltinModule('node:fs').constants.O_NOFOLLOW);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    if (err instanceof RefusedFile) throw refuse('not a regular file');
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'EMLINK') throw refuse('a link');
    throw err;
  }
  const { handle, info: s } = opened;
  try {
    if (s.size > OWNER_FILE_LIMIT) throw refuse(`${s.size} bytes`);
    const text = await handle.readFile('utf8');
    const file = fileIdOf(await handle.stat({ bigint: true }));
    return { text, owner: parseOwner(text.split('\n', 1)[0]), mtimeMs: s.mtimeMs, file };
  } finally {
    await handle.close();
  }
}

function keepFresh(path: string, every: number): NodeJS.Timeout {
  const timer = setInterval(() => {
    const now = new Date();
    fsp()
      .utimes(path, now, now)
      .catch(() => undefined);
  }, every);
  timer.unref();
  return timer;
}

/** Options of {@link LayoutLock.acquire}. */
export interface LockOptions {
  signal?: AbortSignal | undefined;
  /** Give up after this long while a live process holds the lock (default {@link LOCK_WAIT_MS}). */
  waitMs?: number | undefined;
  /**
   * The lock file's name in the folder (default {@link LOCK_FILE}): an archive's writers lock a
   * file beside it (see archive.ts lockArchive). Breaking it is guarded by `<name>-break`.
   */
  name?: string | undefined;
  /**
   * Called once when a live holder has kept the lock for {@link LOCK_NOTICE_MS} (or
   * `noticeMs`), with what is waited for (`the layout is locked by pid 12 on host`): a wait
   * can last minutes, and a silent one looks like a hang.
   */
  onWait?: ((what: string) => void) | undefined;
  /** When to call `onWait` (default {@link LOCK_NOTICE_MS}). */
  noticeMs?: number | undefined;
}

/** How long a wait for a held lock goes before it is said ({@link LockOptions.onWait}). */
const LOCK_NOTICE_MS = 2_000;

/**
 * The advisory lock of one layout directory, across processes. Every change of index.json and
 * every `gc` runs under it; reads and blob writes do not take it.
 */
export class LayoutLock {
  readonly #path: string;
  readonly #id: string;
  /**
   * The lock file when it holds no owner line (a full disk: see createExclusive), by which it is
   * told as this lock's (see the header comment); its change time follows this lock's refreshes.
   */
  #bare: FileId | undefined;
  readonly #timer: NodeJS.Timeout;

  private constructor(path: string, id: string, bare: FileId | undefined) {
    this.#path = path;
    this.#id = id;
    this.#bare = bare;
    this.#timer = bare === undefined ? keepFresh(path, LOCK_REFRESH_MS) : this.#keepBareFresh();
  }

  /**
   * Refreshes an empty lock while it is still this lock's file: a holder that resumes after its
   * lock was broken leaves the new holder's alone.
   */
  #keepBareFresh(): NodeJS.Timeout {
    const { lstat, utimes } = fsp();
    const refresh = async () => {
      const own = this.#bare;
      if (own === undefined || !sameFile(fileIdOf(await lstat(this.#path, { bigint: true })), own)) return;
      const now = new Date();
      await utimes(this.#path, now, now);
      this.#bare = { ...own, ctimeNs: (await lstat(this.#path, { bigint: true })).ctimeNs };
    };
    const timer = setInterval(() => void refresh().catch(() => undefined), LOCK_REFRESH_MS);
    timer.unref();
    return timer;
  }

  /**
   * Whether `seen` is this lock's file: its owner line names this lock, or it is the very empty
   * file this lock made without one (see {@link sameFile}).
   */
  #isOwn(seen: Seen | undefined): boolean {
    if (seen === undefined) return false;
    if (this.#bare !== undefined) return seen.text === '' && sameFile(seen.file, this.#bare);
    return seen.owner?.id === this.#id;
  }

  /** Waits for the lock of the layout at `dir` (or the lock `options.name` there) and takes it. */
  static async acquire(dir: string, options: LockOptions = {}): Promise<LayoutLock> {
    const name = options.name ?? LOCK_FILE;
    const path = join(dir, name);
    const id = randomHex(8);
    const started = Date.now();
    const waitMs = options.waitMs ?? LOCK_WAIT_MS;
    let noticed = false;
    for (let attempt = 0; ; attempt++) {
      options.signal?.throwIfAborted();
      const made = await createExclusive(path, `${ownerLine(id)}\n`, true);
      if (made !== undefined) return new LayoutLock(path, id, made.written ? undefined : made.file);
      const seen = await readOwnerFile(path);
      if (seen === undefined) continue; // released in between: try again at once
      if (isStale(seen.owner, seen.mtimeMs, LOCK_STALE_MS)) {
        await breakStale(join(dir, `${name}-break`), path, seen);
        continue;
      }
      const waited = Date.now() - started;
      if (!noticed && options.onWait !== undefined && waited >= (options.noticeMs ?? LOCK_NOTICE_MS)) {
        noticed = true;
        options.onWait(lockedBy(name, seen.owner));
      }
      if (waited > waitMs) {
        // A holder stopped with Ctrl-Z keeps its lock (see isStale): say so, and how to go on.
        const stopped = isStopped(seen.owner);
        throw new ProvenantError('IO', `${lockedBy(name, seen.owner)}; waited ${Math.round((Date.now() - started) / 1000)} s`, {
          where: dir,
          hint: stopped
            ? `resume it (fg, or kill -CONT ${seen.owner?.pid}) or end it; its lock is not taken from it while it may still write`
            : `another provenant is writing it${name === LOCK_FILE ? ' or collecting garbage' : ''}; if none is, remove ${path}`,
        });
      }
      // Holders keep it for one index.json write, or one gc: back off from 2 ms to 100 ms, with
      // jitter so that waiters do not wake in step.
      const delay = Math.min(100, 2 * 1.5 ** Math.min(attempt, 12)) * (0.5 + Math.random());
      await sleep(delay, options.signal);
    }
  }

  /**
   * Throws unless the lock file is still this lock's. A holder on another host that stalled past
   * the lock's age (a suspended machine) may have had it broken and taken by another writer:
   * called just before a change is put in place (index.json renamed over), so that a holder that
   * lost its lock does not write over what the new holder wrote. (The check and the rename are two
   * steps; a lock lost between them, within microseconds of a stall that lasted a minute, is not
   * caught.)
   *
   * @param outcome what the caller did not do for it, said whole (`index.json was not written`)
   * @throws ProvenantError `IO` naming `where` and saying `outcome`
   */
  async assertHeld(where: string, outcome: string): Promise<void> {
    const seen = await readOwnerFile(this.#path);
    if (this.#isOwn(seen)) return;
    const now =
      seen === undefined
        ? 'nobody holds it now'
        : seen.owner === undefined
          ? 'another process holds it now'
          : `pid ${seen.owner.pid} on ${seen.owner.host} holds it now`;
    throw new ProvenantError('IO', `this process lost the lock while it held it (${now}); ${outcome}`, {
      where,
      hint: 'it was stalled longer than the lock lasts, and another writer may have changed the layout meanwhile; run the command again',
    });
  }

  /** Gives the lock back (only if it is still ours: a holder thought dead may have lost it). */
  async release(): Promise<void> {
    clearInterval(this.#timer);
    const seen = await readOwnerFile(this.#path).catch(() => undefined);
    if (this.#isOwn(seen)) await fsp().rm(this.#path, { force: true });
  }
}

/** True when `owner` is a process of this machine stopped (Ctrl-Z, SIGSTOP). */
function isStopped(owner: Owner | undefined): owner is Owner {
  return owner !== undefined && procIsOwn() && pidVisible(owner, thisPlace()) && processStat(owner.pid)?.state === 'T';
}

/** What holds the lock `name`, said whole: `the layout is locked by pid 12 on host, which is stopped`. */
function lockedBy(name: string, owner: Owner | undefined): string {
  const who = owner === undefined ? 'another process' : `pid ${owner.pid} on ${owner.host}`;
  const what = name === LOCK_FILE ? 'the layout' : 'the archive';
  return `${what} is locked by ${who}${isStopped(owner) ? ', which is stopped' : ''}`;
}

/** Waits `ms` (node:timers/promises, taken when a lock is first waited for: most runs never wait). */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return process.getBuiltinModule('node:timers/promises').setTimeout(ms, undefined, signal === undefined ? {} : { signal });
}

/**
 * Creates `path` with `text` unless it exists: which file it is (see sameFile), and whether
 * `text` is in it; undefined when it exists.
 *
 * With `bare`, a file whose text cannot be written for want of room (see isOutOfRoom: a full
 * disk, a used-up quota, a file size limit) is kept empty instead: the exclusive create, which
 * needs no byte of data, is what excludes others, and an owner-less file is judged by its age
 * as one of another host is (see isStale), which its holder keeps fresh. For a lock: `gc` on a
 * full disk is what frees space, and a lock that needed bytes kept it from running.
 */
async function createExclusive(path: string, text: string, bare = false): Promise<{ file: FileId; written: boolean } | undefined> {
  let handle: FileHandle;
  try {
    handle = await fsp().open(path, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw err;
  }
  let written = true;
  try {
    try {
      await handle.writeFile(text);
    } catch (err) {
      if (!bare || !isOutOfRoom(err)) throw err;
      // A part of the line may be in: none is, rather than half an owner.
      await handle.truncate(0);
      written = false;
    }
    const file = fileIdOf(await handle.stat({ bigint: true }));
    await handle.close();
    return { file, written };
  } catch (err) {
    await handle.close().catch(() => undefined);
    await fsp().rm(path, { force: true });
    throw err;
  }
}

async function breakStale(breaker: string, path: string, seen: Seen): Promise<void> {
  if ((await createExclusive(breaker, `${ownerLine('break')}\n`, true)) === undefined) {
    // Someone else is breaking it; a breaker left by a crash goes after a while.
    const other = await readOwnerFile(breaker);
    if (other !== undefined && isStale(other.owner, other.mtimeMs, BREAK_STALE_MS)) await fsp().rm(breaker, { force: true });
    await sleep(5);
    return;
  }
  try {
    const now = await readOwnerFile(path);
    // Still the lock judged stale (the same file, the same text)? Then nobody took it since.
    if (now !== undefined && sameFile(now.file, seen.file) && now.text === seen.text && now.mtimeMs === seen.mtimeMs) {
      await fsp().rm(path, { force: true });
    }
  } finally {
    await fsp().rm(breaker, { force: true });
  }
}

/**
 * What one store writes into a layout before index.json names it: the digests it has stored or
 * relies on (found already there), one per line, in `.provenant-writer-<id>`. `gc` keeps
 * everything these reach while their writer is alive, so a blob written for a tag that is not
 * there yet is not taken from under the writer (see LayoutStore.gc for the protocol).
 *
 * A digest is recorded before the writer looks at or writes its blob, and the record is on disk
 * (the write returned) before it goes on.
 */
export class WriterSession {
  /** The session id; a partial blob file of this writer is named `.provenant-tmp-<id>-…`. */
  readonly id: string;
  readonly #path: string;
  readonly #timer: NodeJS.Timeout;
  readonly #recorded = new Map<string, Promise<void>>();

  private constructor(path: string, id: string) {
    this.#path = path;
    this.id = id;
    this.#timer = keepFresh(path, WRITER_REFRESH_MS);
  }

  /** Starts a session in the layout at `dir`. */
  static async start(dir: string): Promise<WriterSession> {
    const id = randomHex(8);
    const path = join(dir, `${WRITER_PREFIX}${id}`);
    if ((await createExclusive(path, `${ownerLine(id)}\n`)) === undefined) throw new Error(`${path} exists`);
    return new WriterSession(path, id);
  }

  /** Records that this writer stores or relies on `digest` (of `mediaType`); once per digest. */
  record(digest: Digest, mediaType: string): Promise<void> {
    let done = this.#recorded.get(digest);
    if (done === undefined) {
      // The media type says whether gc must look inside (a manifest) for more to keep. Opened
      // for each record with O_APPEND (no handle is held: a store nobody closes leaks nothing),
      // so each line lands whole at the end whatever else is in flight.
      done = fsp().appendFile(this.#path, `${digest} ${mediaType}\n`, { flag: 'a' });
      this.#recorded.set(digest, done);
      done.catch(() => this.#recorded.delete(digest));
    }
    return done;
  }

  /** Ends the session: its digests are referenced by index.json now, or no longer needed. */
  async end(): Promise<void> {
    clearInterval(this.#timer);
    await Promise.allSettled(this.#recorded.values());
    await fsp().rm(this.#path, { force: true });
  }
}

/** The writers of a layout as `gc` sees them at one moment. */
export interface Writers {
  /** Digests live writers store or rely on, with the media type they were recorded with. */
  pending: Map<Digest, string>;
  /** Ids of live writer sessions (their `.provenant-tmp-<id>-…` files are being written). */
  live: Set<string>;
  /** Pending files of writers that are gone. */
  stale: string[];
}

/**
 * Reads every writer's pending file in the layout at `dir`. The digests of session `self` (the
 * gc's own store) are left out: what a store wrote and did not tag is garbage to its own gc.
 */
export async function readWriters(dir: string, self?: string): Promise<Writers> {
  const out: Writers = { pending: new Map(), live: new Set(), stale: [] };
  for (const name of await fsp().readdir(dir)) {
    if (!name.startsWith(WRITER_PREFIX)) continue;
    const path = join(dir, name);
    const seen = await readOwnerFile(path);
    if (seen === undefined) continue; // ended in between
    if (isStale(seen.owner, seen.mtimeMs, WRITER_STALE_MS)) {
      out.stale.push(path);
      continue;
    }
    const id = name.slice(WRITER_PREFIX.length);
    out.live.add(id);
    if (id === self) continue;
    // A last line without its newline is a record still being written: its writer has not
    // looked at that blob yet, so it needs no protection from this reading.
    const lines = seen.text.split('\n').slice(1, -1);
    for (const line of lines) {
      const [digest, mediaType] = line.split(' ', 2);
      if (isDigest(digest) && mediaType !== undefined) out.pending.set(digest, mediaType);
    }
  }
  return out;
}

/**
 * The writer sessions of the layout at `dir` whose process is dead on this host: the pid their
 * file names is visible from here and runs no more, or runs another process (see isStale). Those
 * of other hosts, and lines without a start time whose pid runs, are left to `gc`, which judges
 * them by age too: only a writer known dead is certainly writing nothing.
 */
export async function deadWriters(dir: string): Promise<Array<{ id: string; path: string }>> {
  const out: Array<{ id: string; path: string }> = [];
  for (const name of await fsp().readdir(dir)) {
    if (!name.startsWith(WRITER_PREFIX)) continue;
    const path = join(dir, name);
    const seen = await readOwnerFile(path).catch(() => undefined);
    // No age makes a writer dead here: only its pid, looked up on this host.
    if (seen !== undefined && isStale(seen.owner, seen.mtimeMs, Number.POSITIVE_INFINITY)) {
      out.push({ id: name.slice(WRITER_PREFIX.length), path });
    }
  }
  return out;
}

/** Removes a file, ignoring that it is already gone. */
export async function removeFile(path: string): Promise<void> {
  await fsp()
    .unlink(path)
    .catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
