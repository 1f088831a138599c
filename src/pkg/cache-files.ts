/**
 * The files of a {@link DownloadCache} (./fetch.ts) as they are written and read: under a
 * temporary name that says who writes it, renamed into place when whole, so that a run killed at
 * any moment leaves nothing that a later run takes for a whole file, and the next run can tell
 * which temporary files are left over (their writer is gone) and remove them.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';

let ownTag: string | undefined;

/** `<host>-<pid>` of this process, for the names of its temporary files. */
export function ownerTag(): string {
  ownTag ??= `${createHash('sha256').update(hostname()).digest('hex').slice(0, 8)}-${process.pid}`;
  return ownTag;
}

/**
 * Who wrote a temporary file, from its name: `<name>.<host>-<pid>-<random>.tmp` and
 * `<sha256>.<host>-<pid>-<random>.part`, and the `<name>.<pid>.<random>.tmp` of earlier
 * versions (written on this machine, as caches were then). Undefined for other files.
 */
export function ownerOf(name: string): { here: boolean; pid: number; partial: boolean } | undefined {
  const current = /\.([0-9a-f]{8})-(\d+)-[0-9a-z]+\.(tmp|part)$/.exec(name);
  if (current !== null) {
    return { here: current[1] === ownerTag().slice(0, 8), pid: Number(current[2]), partial: current[3] === 'part' };
  }
  const earlier = /\.(\d+)\.[0-9a-z]+\.tmp$/.exec(name);
  if (earlier !== null) return { here: true, pid: Number(earlier[1]), partial: false };
  return undefined;
}

/** True when a process with this id runs on this machine (signal 0 tests without signalling). */
export function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A whole file read into a SharedArrayBuffer. */
export async function readShared(path: string): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const bytes = new Uint8Array(new SharedArrayBuffer(size));
    let got = 0;
    while (got < size) {
      const { bytesRead } = await fh.read(bytes, got, size - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return bytes.subarray(0, got);
  } finally {
    await fh.close();
  }
}

/** Writes under a temporary name (see {@link DownloadCache}) and renames; removes the temporary file when the write fails. */
export async function atomicWrite(path: string, data: Uint8Array | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${ownerTag()}-${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
