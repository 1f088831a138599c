// Temporary folders for tests: one helper instead of a mkdtemp-and-rm pair in every test file.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { LayoutStore } from '../../src/store/layout.ts';

/**
 * Registers an `after()` hook (of the file, or of the `describe` it is called in) that removes
 * every folder the returned function makes: `const tempDir = useTempDir('copy'); ... const dir =
 * await tempDir();` gives a new empty folder `$TMPDIR/provenant-copy-XXXXXX` on each call.
 */
export function useTempDir(name = 'test'): () => Promise<string> {
  const made: string[] = [];
  after(async () => {
    for (const dir of made.splice(0)) await rm(dir, { recursive: true, force: true });
  });
  return async () => {
    const dir = await mkdtemp(join(tmpdir(), `provenant-${name}-`));
    made.push(dir);
    return dir;
  };
}

/** A new, empty OCI layout in a folder of {@link useTempDir} on each call: `const layout = useTempLayout('copy')`. */
export function useTempLayout(name = 'layout'): () => Promise<LayoutStore> {
  const tempDir = useTempDir(name);
  return async () => LayoutStore.open(join(await tempDir(), 'l'), { create: true });
}

/**
 * A home folder that does not exist, for a CLI run with a clean environment: what the CLI would
 * keep under `~/.cache` (its download cache, Node's compile cache) goes into this process's own
 * folder under $TMPDIR, removed when the process exits. `/nonexistent`, used before, was made by
 * the first build that ran as root, and every run after found a home there.
 */
export const NO_HOME = join(tmpdir(), `provenant-test-home-${process.pid}`);
process.on('exit', () => {
  process.getBuiltinModule('node:fs').rmSync(NO_HOME, { recursive: true, force: true });
});
