/**
 * The files of a {@link DownloadCache} (./fetch.ts) as they are written and read: under a
 * temporary name that says who writes it, renamed into place when whole, so that a run killed at
 * any moment leaves nothing that a later run takes for a whole file, and the next run can tell
 * which temporary files are left over (their writer is gone) and remove them.
 */
import { createHash, randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { makeFolder, openRegularFile } from '../io/files.ts';
import { pidRunning, thisPlace } from '../io/place.ts';

const { closeSync, read } = process.getBuiltinModule('node:fs');
const readAt = process.getBuiltinModule('node:util').promisify(read);

let ownTag: string | undefined;

/**
 * `<place>-<pid>-<process>` of this process, for the names of its temporary files: the first 8
 * hex digits of the SHA-256 of where it runs (host name, pid namespace and boot, as the layout
 * lock records them: ../io/place.ts), its pid, and 8 random hex digits of its own. Two builds
 * in containers of one host name (one pid namespace each, often the same pids) share a cache
 * folder: with the host name alone, each took the other's files for its own, or for those of a
 * process gone, and took over its partial downloads.
 */
export function ownerTag(): string {
  if (ownTag === undefined) {
    const { host, pidns = '', boot = '' } = thisPlace();
    const place = createHash('sha256').update(`${host}\n${pidns}\n${boot}`).digest('hex').slice(0, 8);
    ownTag = `${place}-${process.pid}-${randomBytes(4).toString('hex')}`;
  }
  return ownTag;
}

/**
 * Who wrote a temporary file, from its name: `<name>.<place>-<pid>-<process>-<random>.tmp` and
 * `<sha256>.<place>-<pid>-<process>-<random>.part` (see {@link ownerTag}); the
 * `<name>.<host>-<pid>-<random>` of earlier versions (the host name's hash alone) and their
 * `<name>.<pid>.<random>.tmp` (written on this machine, as caches were then). `here` says that
 * its pid can be looked up here, `self` that it is this process (for earlier names: its pid is
 * this one's). Undefined for other files.
 */
export function ownerOf(name: string): { here: boolean; self: boolean; pid: number; partial: boolean } | undefined {
  const current = /\.(([0-9a-f]{8})-(\d+)-[0-9a-f]{8})-[0-9a-z]+\.(tmp|part)$/.exec(name);
  if (current !== null) {
    const tag = ownerTag();
    return { here: current[2] === tag.slice(0, 8), self: current[1] === tag, pid: Number(current[3]), partial: current[4] === 'part' };
  }
  const previous = /\.([0-9a-f]{8})-(\d+)-[0-9a-z]+\.(tmp|part)$/.exec(name);
  if (previous !== null) {
    const pid = Number(previous[2]);
    const here = previous[1] === createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
    return { here, self: here && pid === process.pid, pid, partial: previous[3] === 'part' };
  }
  const earlier = /\.(\d+)\.[0-9a-z]+\.tmp$/.exec(name);
  if (earlier !== null) return { here: true, self: Number(earlier[1]) === process.pid, pid: Number(earlier[1]), partial: false };
  return undefined;
}

/**
 * True when the writer of a temporary file is known to be gone: its pid can be looked up here
 * (./io/place.ts says where that holds), it is not this process, and its pid runs nothing. A
 * writer elsewhere is taken for alive while its file is young.
 */
export function writerGone(owner: { here: boolean; self: boolean; pid: number }): boolean {
  return owner.here && !owner.self && !pidRunning(owner.pid);
}

/**
 * A whole cache file, read (into a SharedArrayBuffer with `shared`, which worker threads read
 * without a copy). It is opened without waiting and refused unless a regular file (see
 * `openRegularFile` in ../io/files.ts): a named pipe in a cache file's place hung the build for
 * good, past SIGTERM. The caller takes any failure for a miss.
 *
 * @throws RefusedFile for anything but a regular file; the file system's own error
 */
export async function readCacheFile(path: string, shared = false): Promise<Uint8Array> {
  const { fd, stat } = openRegularFile(path);
  try {
    const size = Number(stat.size);
    const bytes = shared ? new Uint8Array(new SharedArrayBuffer(size)) : Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const { bytesRead } = await readAt(fd, bytes, got, size - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    // A plain Uint8Array over the Buffer's memory: no copy of a large file.
    return new Uint8Array(bytes.buffer, bytes.byteOffset, got);
  } finally {
    closeSync(fd);
  }
}

/** Throws unless `path` is a regular file (see {@link readCacheFile}); its size otherwise. */
export function regularSize(path: string): number {
  const { fd, stat } = openRegularFile(path);
  closeSync(fd);
  return Number(stat.size);
}

/**
 * Renames `from` over the cache file `to`. A folder in the file's place (made by hand, or by
 * something else) failed every run with EISDIR: it is in the cache's own sha256/ or keys/
 * folder, where nothing but files belongs, so it is removed and the rename made again.
 */
export async function renameInto(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    await rm(to, { recursive: true, force: true });
    await rename(from, to);
  }
}

/** Writes under a temporary name (see {@link DownloadCache}) and renames; removes the temporary file when the write fails. */
export async function atomicWrite(path: string, data: Uint8Array | string): Promise<void> {
  await makeFolder(dirname(path));
  const tmp = `${path}.${ownerTag()}-${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, data);
    await renameInto(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
