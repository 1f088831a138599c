/**
 * glibc's allocator settings for the commands that compress layers (issue 16, docs/build.md,
 * "Memory"): fewer arenas, and large blocks given back when freed. glibc reads them once, before
 * any JavaScript runs, so `provenant build` and `reproduce` (main.ts names them), started without
 * them, run themselves again with them:
 * the same process (`process.execve`, same id, same open files and signals), the same arguments,
 * the caller's environment with the settings the caller did not give. The checkout's launcher
 * (bin/provenant) exports the same values for every command; where they are set, as there, no
 * second start happens. The cost is one start of Node (about 30 ms) for a command that runs for
 * seconds; for the 1 GB bench image made again, 20 MB less at the peak.
 */

/** The settings, as the launcher spells them: a value the caller set (not empty) is kept. */
export const ALLOCATOR_SETTINGS: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_TRIM_THRESHOLD_: '131072',
  MALLOC_MMAP_THRESHOLD_: '262144',
};

/**
 * The environment to run again with: `env` with the settings it lacks (unset or empty, as the
 * launcher treats them); undefined when it has them all.
 */
export function allocatorEnv(env: NodeJS.ProcessEnv): Record<string, string> | undefined {
  const missing = Object.keys(ALLOCATOR_SETTINGS).filter((name) => (env[name] ?? '') === '');
  if (missing.length === 0) return undefined;
  const next: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) next[name] = value;
  for (const name of missing) next[name] = ALLOCATOR_SETTINGS[name] as string;
  return next;
}

/** True when this Node runs on glibc, which reads the settings (musl and others ignore them). */
function onGlibc(): boolean {
  if (process.platform !== 'linux') return false;
  const header = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
  return header?.glibcVersionRuntime !== undefined;
}

type Execve = (file: string, args: string[], env: Record<string, string>) => never;

/**
 * Runs this process again with {@link ALLOCATOR_SETTINGS} where it lacks some and glibc would
 * read them; returns where nothing is to be done, or where Node cannot (before 22.15, or when
 * the exec fails: the command then runs with glibc's defaults, as it did before).
 */
export function runWithAllocatorSettings(): void {
  const execve = (process as { execve?: Execve }).execve;
  if (execve === undefined) return;
  const env = allocatorEnv(process.env);
  if (env === undefined || !onGlibc()) return;
  try {
    execve(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], env);
  } catch {
    // Not replaced (a process limit, a Node that refuses): run on as started.
  }
}
