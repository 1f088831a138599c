// A folder tree to catch writes and reads outside a store's own temporary area (not a test file).
import { lstat, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { digestOf } from '../../src/oci/digest.ts';

/**
 * A sandbox: `tmp` is meant to be `TMPDIR` for the code under test, nested `depth` folders below
 * `root`, and every folder from `root` down to `tmp`'s parent holds canary files with unique
 * content. An archive that climbs out of a folder under `tmp` with `..` lands among the canaries,
 * so {@link Sandbox.changes} sees any file or folder made, changed or removed there, and a reader
 * that reads a canary gives itself away by the canary's digest ({@link Sandbox.canaryDigests}).
 */
export interface Sandbox {
  readonly root: string;
  readonly tmp: string;
  /** Folders from `root` (index 0) down to `tmp`'s parent. */
  readonly levels: readonly string[];
  /** Canary files by path, with their content. */
  readonly canaries: ReadonlyMap<string, Uint8Array>;
  /** sha256 digests (`sha256:<hex>`) of every canary's content. */
  readonly canaryDigests: ReadonlySet<string>;
  /** What differs outside `tmp` since the sandbox was made (or reset), as readable lines. */
  changes(): Promise<string[]>;
  /** Entries left in `tmp`. */
  leftInTmp(): Promise<string[]>;
  /** Makes the tree again as it was first made, after a test found it changed. */
  reset(): Promise<void>;
  /** Runs `fn` with `TMPDIR` set to `tmp`, restoring it after. */
  withTmp<T>(fn: () => Promise<T>): Promise<T>;
  remove(): Promise<void>;
}

/** Names an escaping archive would write (ESCAPED, q, up) or read (secret) in the examples. */
const CANARY_NAMES = ['ESCAPED', 'secret', 'q', 'index.json', 'manifest.json'];

/**
 * Makes a sandbox in `root` (an empty folder, from useTempDir), `depth` folders deep (deep enough
 * that no test archive climbs above `root`).
 */
export async function makeSandbox(root: string, depth = 4): Promise<Sandbox> {
  const levels: string[] = [root];
  for (let i = 1; i < depth; i++) levels.push(join(levels[i - 1]!, `l${i}`));
  const tmp = join(levels[depth - 1]!, 'tmp');
  const canaries = new Map<string, Uint8Array>();
  for (const [i, dir] of levels.entries()) {
    for (const name of CANARY_NAMES) canaries.set(join(dir, name), new TextEncoder().encode(`canary ${i} ${name} ${root}\n`));
  }
  const build = async (): Promise<Map<string, string>> => {
    await mkdir(tmp, { recursive: true });
    await Promise.all([...canaries].map(([path, content]) => writeFile(path, content)));
    return snapshot(root, tmp);
  };
  let before = await build();
  const original = process.env.TMPDIR;
  return {
    root,
    tmp,
    levels,
    canaries,
    canaryDigests: new Set([...canaries.values()].map((c) => digestOf(c))),
    async changes() {
      const after = await snapshot(root, tmp);
      const out: string[] = [];
      for (const [p, v] of after) if (before.get(p) !== v) out.push(`changed or made: ${p} (${v})`);
      for (const p of before.keys()) if (!after.has(p)) out.push(`removed: ${p}`);
      return out;
    },
    async leftInTmp() {
      return readdir(tmp);
    },
    async reset() {
      await rm(root, { recursive: true, force: true });
      await mkdir(root);
      before = await build();
    },
    async withTmp(fn) {
      process.env.TMPDIR = tmp;
      try {
        return await fn();
      } finally {
        if (original === undefined) delete process.env.TMPDIR;
        else process.env.TMPDIR = original;
      }
    },
    async remove() {
      await rm(root, { recursive: true, force: true });
    },
  };
}

/**
 * Every path under `root` except under `tmp`, with its type, inode, mode, size and times. The
 * change time moves on any write or rename, so content needs no hashing to be seen changed.
 */
async function snapshot(root: string, tmp: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    const names = await readdir(dir);
    await Promise.all(
      names.map(async (name) => {
        const p = join(dir, name);
        if (p === tmp) return;
        const s = await lstat(p, { bigint: true });
        const kind = s.isSymbolicLink() ? 'link' : s.isDirectory() ? 'dir' : s.isFile() ? 'file' : 'other';
        out.set(relative(root, p), `${kind} ino ${s.ino} mode ${s.mode.toString(8)} size ${s.size} mtime ${s.mtimeNs} ctime ${s.ctimeNs}`);
        if (kind === 'dir') await walk(p);
      }),
    );
  };
  await walk(root);
  return out;
}
