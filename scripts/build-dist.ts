/**
 * Builds dist/, what the npm package ships: the sources compiled to JavaScript with their type
 * declarations, and every other file under src/ copied beside them, because the code reads some
 * of them relative to itself (compat/profiles/*.yaml through import.meta.url; version.ts reads
 * ../package.json, which npm always packs). The deflate worker is a module of its own that
 * archive/deflate-pool.ts starts by its URL, so it must stay a file beside the pool. libdeflate's
 * wasm module stays in the libdeflate dependency (archive/libdeflate.ts resolves it there).
 *
 * Dependencies that come as many small modules are bundled into one file each under
 * dist/vendor/ (see {@link VENDORED}), and dist/ imports that file: Node pays for every module it
 * loads, whatever its size.
 *
 * The CLI (the package's `bin`, dist/cli/main.js) runs from a bundle of those modules in
 * dist/cli/bundle/ (scripts/bundle-cli.ts): a command then loads a few files rather than thirty.
 *
 * This is the one way dist/ is made (`npm run build`, and `npm pack` through `prepack`): how it
 * compiles may change (a bundler, say) as long as those files keep their places.
 *
 * Usage: `node scripts/build-dist.ts [OUT]` (default dist/).
 */
import { execFile } from 'node:child_process';
import { chmod, cp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { bundleCli } from './bundle-cli.ts';

const root = join(import.meta.dirname, '..');

/**
 * Each dependency dist/ takes from dist/vendor/, and the ES module (in its package) esbuild bundles it from. yaml
 * is 72 CommonJS modules: a command that reads a configuration spent about 97 million
 * instructions (25 ms) loading them, and 14 to 24 million on the one file bundled from yaml's own
 * ES modules (the same code, built for browsers: its warnings go to console.warn rather than
 * process.emitWarning, and Provenant reads them from the document instead).
 */
const VENDORED: Record<string, string> = { yaml: 'browser/index.js' };

/** Compiles src/ into `out` and copies the files the code reads beside itself; returns the copied files. */
export async function buildDist(out = join(root, 'dist')): Promise<string[]> {
  await rm(out, { recursive: true, force: true });
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  await promisify(execFile)(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', out], { cwd: root });
  const src = join(root, 'src');
  const assets = (await readdir(src, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile() && !e.name.endsWith('.ts'))
    .map((e) => relative(src, join(e.parentPath, e.name)))
    .sort();
  for (const asset of assets) await cp(join(src, asset), join(out, asset));
  await vendor(out);
  await bundleCli(out);
  // npm makes bin files executable when it installs them; a dist/ run in place needs it too.
  const main = join(out, 'cli', 'main.js');
  if (!(await readFile(main, 'utf8')).startsWith('#!/usr/bin/env node\n')) throw new Error(`${main} lost its #! line`);
  await chmod(main, 0o755);
  return assets;
}

/** Bundles each of {@link VENDORED} into `out`/vendor/NAME.js (with its licence beside it) and points dist/'s imports at it. */
async function vendor(out: string): Promise<void> {
  const require = createRequire(import.meta.url);
  const { build } = await import('esbuild');
  for (const [name, entry] of Object.entries(VENDORED)) {
    const file = join(out, 'vendor', `${name}.js`);
    const pkg = dirname(require.resolve(`${name}/package.json`));
    await build({
      entryPoints: [join(pkg, entry)],
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node22',
      outfile: file,
      logLevel: 'warning',
    });
    await cp(join(pkg, 'LICENSE'), join(out, 'vendor', `${name}.LICENSE`));
    const specifier = new RegExp(`(from |import\\()'${name}'`, 'g');
    for (const js of (await readdir(out, { recursive: true })).filter((f) => f.endsWith('.js') && !f.startsWith('vendor/'))) {
      const path = join(out, js);
      const text = await readFile(path, 'utf8');
      const to = relative(dirname(path), file);
      const pointed = text.replace(specifier, `$1'${to.startsWith('.') ? to : `./${to}`}'`);
      if (pointed !== text) await writeFile(path, pointed);
    }
  }
}

const isMain = process.argv[1] !== undefined && join(process.argv[1]) === join(import.meta.filename);
if (isMain) {
  const out = process.argv[2] === undefined ? undefined : resolve(process.argv[2]);
  const assets = await buildDist(out);
  console.error(`dist: compiled src/ and copied ${assets.length} other file(s)`);
}
