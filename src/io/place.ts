/**
 * Where a process runs, as far as its pid means anything: shared by the layout lock
 * (../store/layout-lock.ts) and the download cache's temporary files (../pkg/cache-files.ts),
 * which both judge whether the writer of a file is gone by looking its pid up.
 */

/**
 * Where a process runs, as far as its pid means anything: the host name, and on Linux the pid
 * namespace (`/proc/self/ns/pid`, as `pid:[4026531836]`) and the boot id. Containers with host
 * networking share the host name but not the pid namespace, and one name may be two machines
 * (or one rebooted) on a shared folder: a pid is looked up only where both match.
 */
export interface Place {
  host: string;
  pidns?: string | undefined;
  boot?: string | undefined;
}

// Asked on first use: node:os is not otherwise loaded by a command that only reads a layout,
// which never takes a lock.
let here: Place | undefined;

/** This process's {@link Place}, read once. */
export function thisPlace(): Place {
  if (here !== undefined) return here;
  const fs = process.getBuiltinModule('node:fs');
  const tryRead = (read: () => string): string | undefined => {
    try {
      return read().trim() || undefined;
    } catch {
      return undefined; // not Linux, or no /proc: the host name alone, as before
    }
  };
  here = {
    host: process.getBuiltinModule('node:os').hostname(),
    pidns: tryRead(() => fs.readlinkSync('/proc/self/ns/pid')),
    boot: tryRead(() => fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8')),
  };
  return here;
}

/**
 * True when a pid of a process at `owner` names a process that `place` can look up: the same
 * host, and the same pid namespace and boot. An owner that names neither (written by an older
 * version) is judged by its host alone, as that version did.
 */
export function pidVisible(owner: Place, place: Place): boolean {
  if (owner.host !== place.host) return false;
  if (owner.pidns === undefined && owner.boot === undefined) return true;
  return owner.pidns === place.pidns && owner.boot === place.boot;
}

/** True when a process with this id runs in this pid namespace (signal 0 tests without signalling). */
export function pidRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** What `/proc/PID/stat` says of a process: its state letter (`T` stopped, `Z` a zombie) and its start. */
export interface ProcessStat {
  state: string;
  /** When it started, in clock ticks after boot (field 22): with the pid, one process for the whole boot. */
  start: string;
}

/**
 * The {@link ProcessStat} of `pid`, or undefined where it cannot be read (not Linux, no /proc,
 * the process gone). A pid reused by a later process has a later start.
 */
export function processStat(pid: number): ProcessStat | undefined {
  let text: string;
  try {
    text = process.getBuiltinModule('node:fs').readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces and parentheses itself:
  // the fields are counted from after its last `)`, where field 3 starts.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const start = fields[22 - 3];
  return state !== undefined && start !== undefined && /^\d+$/.test(start) ? { state, start } : undefined;
}
