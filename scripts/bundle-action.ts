/**
 * Bundles the GitHub Action into dist-action/, the committed files action.yml runs (a JavaScript
 * Action gets no `npm install`: everything it needs is in the repository).
 *
 *   node scripts/bundle-action.ts          write dist-action/
 *   node scripts/bundle-action.ts --check  exit 1 when dist-action/ is not what the sources make
 *
 * What is in it:
 * - index.js: src/action/index.ts and everything it imports, as one ES module for Node 24 (the
 *   runner's `node24`; target node22, the oldest Node Provenant supports).
 * - deflate-worker.js: the compression worker (src/archive/deflate-worker.ts), a second entry:
 *   pinnedGzip starts it from the URL `./deflate-worker.js` beside the module that runs it.
 * - libdeflate.wasm.mjs: npm libdeflate 0.1.0's file holding the wasm that layers are compressed
 *   with (read as text, never run; src/archive/libdeflate.ts checks its SHA-256). The sources find it
 *   in node_modules; the bundle has none, so the lookup is pointed beside the bundle.
 * - profiles/*.yaml: the target profiles, which src/compat/profile.ts reads from `./profiles/`
 *   beside the module that runs it.
 *
 * The output depends only on the sources, the locked dependencies and esbuild's version: paths in
 * it are relative to the repository, and nothing records a time.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Where the bundle goes; not under a `dist/` folder, which .gitignore leaves out. */
export const BUNDLE_DIR = 'dist-action';

// CommonJS dependencies call require() for Node's built-in modules; an ES module has no
// require, so the bundle makes one (esbuild's documented way for format esm on platform node).
const BANNER = "import { createRequire as __provenantRequire } from 'node:module';\nconst require = __provenantRequire(import.meta.url);";

/** The exact text in libdeflate.ts that finds libdeflate's file in node_modules. */
const LIBDEFLATE_LOOKUP = "new URL('./dist/libdeflate.wasm.mjs', import.meta.resolve('libdeflate'))";
const LIBDEFLATE_BESIDE = "new URL('./libdeflate.wasm.mjs', import.meta.url)";

const libdeflateBeside: esbuild.Plugin = {
  name: 'libdeflate-beside-the-bundle',
  setup(build) {
    build.onLoad({ filter: /[\\/]src[\\/]archive[\\/]libdeflate\.ts$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      // Fail loudly rather than ship a bundle that looks for node_modules at run time.
      if (!text.includes(LIBDEFLATE_LOOKUP)) throw new Error(`${args.path} no longer finds libdeflate with ${LIBDEFLATE_LOOKUP}`);
      return { contents: text.replace(LIBDEFLATE_LOOKUP, LIBDEFLATE_BESIDE), loader: 'ts' };
    });
  },
};

/** Every file of the bundle, by its path under dist-action/, built in memory. */
export async function bundleAction(): Promise<Map<string, Uint8Array>> {
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: { index: 'src/action/index.ts', 'deflate-worker': 'src/archive/deflate-worker.ts' },
    outdir: BUNDLE_DIR,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    banner: { js: BANNER },
    legalComments: 'eof',
    charset: 'utf8',
    write: false,
    logLevel: 'silent',
    plugins: [libdeflateBeside],
  });
  const files = new Map<string, Uint8Array>();
  for (const f of result.outputFiles) files.set(relative(join(ROOT, BUNDLE_DIR), f.path).split('\\').join('/'), f.contents);
  files.set('libdeflate.wasm.mjs', await readFile(join(ROOT, 'node_modules', 'libdeflate', 'dist', 'libdeflate.wasm.mjs')));
  const profiles = join(ROOT, 'src', 'compat', 'profiles');
  for (const name of (await readdir(profiles)).filter((n) => n.endsWith('.yaml')).sort()) {
    files.set(`profiles/${name}`, await readFile(join(profiles, name)));
  }
  return files;
}

/** The files under dist-action/ now, by path. */
export async function committedBundle(): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  const walk = async (dir: string): Promise<void> => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else out.set(relative(join(ROOT, BUNDLE_DIR), p).split('\\').join('/'), await readFile(p));
    }
  };
  await walk(join(ROOT, BUNDLE_DIR));
  return out;
}

/** The paths that differ between two bundles (missing, extra or changed). */
export function bundleDifferences(want: Map<string, Uint8Array>, have: Map<string, Uint8Array>): string[] {
  const out: string[] = [];
  for (const [path, bytes] of want) {
    const h = have.get(path);
    if (h === undefined) out.push(`${path}: missing`);
    else if (!Buffer.from(h).equals(Buffer.from(bytes))) out.push(`${path}: stale`);
  }
  for (const path of have.keys()) if (!want.has(path)) out.push(`${path}: not made by the sources`);
  return out.sort();
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const files = await bundleAction();
  if (process.argv.includes('--check')) {
    const diff = bundleDifferences(files, await committedBundle());
    if (diff.length > 0) {
      console.error(`${BUNDLE_DIR}/ is not what the sources make:\n  ${diff.join('\n  ')}\nrun: node scripts/bundle-action.ts`);
      process.exit(1);
    }
    console.error(`${BUNDLE_DIR}/ is up to date`);
  } else {
    await rm(join(ROOT, BUNDLE_DIR), { recursive: true, force: true });
    for (const [path, bytes] of files) {
      const target = join(ROOT, BUNDLE_DIR, path);
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, bytes);
    }
    let size = 0;
    for (const b of files.values()) size += b.length;
    console.error(`wrote ${files.size} files (${(size / 1e6).toFixed(2)} MB) to ${BUNDLE_DIR}/`);
  }
}
