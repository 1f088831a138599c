/**
 * Bundles the CLI of dist/ into dist/cli/bundle/, which dist/cli/main.js (the package's `bin`)
 * loads instead of the per-module files; the library (`exports`, dist/index.js) keeps those.
 *
 * Why: Node pays for every module it loads (resolving, reading, the compile cache, linking),
 * whatever its size. `provenant digest oci:DIR:TAG` loaded about thirty modules of dist/, which
 * took more of its start than the work did (issue 16, "instant start"). Bundled, it loads five.
 *
 * How: esbuild with code splitting, so that what a command loads on demand (its own module, the
 * registry client, the signing libraries) stays in files of its own, loaded only when used, and
 * the modules of Node and of the dependencies stay imports. Splitting alone puts each set of
 * modules that the same entries share into a chunk of its own, and the many commands share the
 * common modules in so many combinations that digest still loaded twenty-three files. So every
 * entry (the dispatcher, and each module that is imported dynamically) is made to import one more
 * module, {@link CORE}: to esbuild every entry then uses every core module, and the core lands in
 * one chunk. The core is what almost every command runs anyway (the dispatcher and what it
 * imports, the command-line options, opening stores, the OCI layout store), and holds no import
 * of a heavy built-in or dependency, which would load for every command (test/cli/package.test.ts
 * and test/cli/startup-modules.test.ts check what digest loads).
 *
 * A bundled module's `import.meta.url` is pointed back at its file in dist/, because the code
 * finds files beside itself: ../package.json (version.ts), compat/profiles/ and the deflate
 * worker (archive/deflate-pool.ts), which stays a per-module file of dist/.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type * as esbuild from 'esbuild';

/** The modules (under dist/) whose static imports make the core, besides the dispatcher's. */
export const CORE = ['cli/options.js', 'cli/stores.js', 'store/layout.js'];

/** The dispatcher, the entry of the bundle: dist/cli/main.js imports it once the compile cache is on. */
const DISPATCH = 'cli/dispatch.js';

/** The text in dist/cli/main.js that loads the dispatcher, and what it becomes. */
const LOAD_DISPATCH = 'import("./dispatch.js")';
const LOAD_BUNDLE = 'import("./bundle/dispatch.js")';

/** Bundles the CLI of `out` (a compiled dist/) into `out`/cli/bundle/ and points cli/main.js at it. */
export async function bundleCli(out: string): Promise<void> {
  const { build } = await import('esbuild');
  const bundle = join(out, 'cli', 'bundle');
  await rm(bundle, { recursive: true, force: true });
  const options: esbuild.BuildOptions = {
    absWorkingDir: out,
    entryPoints: [join(out, DISPATCH)],
    outdir: bundle,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    packages: 'external',
    logLevel: 'warning',
  };
  const vendor = vendorPlugin(out, bundle);
  // A first pass finds the entries (dynamic imports) and the core's modules.
  const { metafile } = await build({ ...options, write: false, metafile: true, plugins: [vendor] });
  const inputs = metafile.inputs;
  const entries = new Set([DISPATCH]);
  for (const input of Object.values(inputs)) {
    for (const i of input.imports) if (i.kind === 'dynamic-import' && !i.external) entries.add(i.path);
  }
  const core = staticClosure(inputs, [DISPATCH, ...CORE]);
  core.delete(DISPATCH);
  await build({ ...options, plugins: [vendor, corePlugin(out, bundle, entries, core)] });
  const main = join(out, 'cli', 'main.js');
  const text = await readFile(main, 'utf8');
  if (text.split(LOAD_DISPATCH).length !== 2) throw new Error(`${main} does not load the dispatcher with ${LOAD_DISPATCH} once`);
  await writeFile(main, text.replace(LOAD_DISPATCH, LOAD_BUNDLE));
}

/** The modules `roots` import statically, themselves included (paths as in the metafile). */
function staticClosure(inputs: esbuild.Metafile['inputs'], roots: string[]): Set<string> {
  const seen = new Set<string>();
  const queue = [...roots];
  for (let m = queue.pop(); m !== undefined; m = queue.pop()) {
    const input = inputs[m];
    if (input === undefined) throw new Error(`the CLI bundle has no module ${m}`);
    if (seen.has(m)) continue;
    seen.add(m);
    for (const i of input.imports) if (i.kind === 'import-statement' && !i.external) queue.push(i.path);
  }
  return seen;
}

/** dist/vendor/yaml.js stays the one file it is: imported from the bundle by its path relative to the bundle. */
function vendorPlugin(out: string, bundle: string): esbuild.Plugin {
  const path = `./${relative(bundle, join(out, 'vendor', 'yaml.js'))}`;
  return {
    name: 'vendor-stays',
    setup(b) {
      b.onResolve({ filter: /[\\/]vendor[\\/]yaml\.js$/ }, () => ({ path, external: true }));
    },
  };
}

/** Makes every entry import the core (see the file's comment) and points `import.meta.url` at each module's file. */
function corePlugin(out: string, bundle: string, entries: Set<string>, core: Set<string>): esbuild.Plugin {
  const coreId = join(out, '(cli core)');
  return {
    name: 'cli-core',
    setup(b) {
      b.onResolve({ filter: /\(cli core\)$/ }, () => ({ path: coreId, namespace: 'cli-core' }));
      b.onLoad({ filter: /.*/, namespace: 'cli-core' }, () => ({
        contents: [...core].map((m) => `import ${JSON.stringify(join(out, m))};`).join('\n'),
        resolveDir: out,
        loader: 'js',
      }));
      b.onLoad({ filter: /\.js$/ }, async (args) => {
        const module = relative(out, args.path);
        let text = await readFile(args.path, 'utf8');
        const here = `new URL(${JSON.stringify(relative(bundle, args.path))}, import.meta.url).href`;
        text = text.replaceAll('import.meta.url', here);
        if (entries.has(module)) text += `\nimport ${JSON.stringify(coreId)};\n`;
        return { contents: text, loader: 'js' };
      });
    },
  };
}
