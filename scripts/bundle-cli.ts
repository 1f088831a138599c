/**
 * Bundles the CLI of dist/ into dist/cli/bundle/, which dist/cli/main.js (the package's `bin`)
 * loads instead of the per-module files; the library (`exports`, dist/index.js) keeps those.
 *
 * Why: Node pays for every module it loads (resolving, reading, the compile cache, linking),
 * whatever its size. `provenant digest oci:DIR:TAG` loaded about thirty modules of dist/, which
 * took more of its start than the work did (issue 16, "instant start"). Bundled, it loads two:
 * the launcher and the core chunk, which holds the dispatcher.
 *
 * How: esbuild with code splitting, so that what a command loads on demand (its own module, the
 * registry client, the signing libraries) stays in files of its own, loaded only when used, and
 * the modules of Node and of the dependencies stay imports. Splitting alone puts each set of
 * modules that the same entries share into a chunk of its own, and the many commands share the
 * common modules in so many combinations that digest still loaded twenty-three files. So each
 * of {@link GROUPS} is made one chunk: every entry ({@link ENTRY}, and each module that is
 * imported dynamically) that uses a module of a group is made to import the whole group too, so
 * that to esbuild the group's modules all have the same users. The cost: such an entry runs the
 * top level of all of the group's modules, and the group's imports of Node's modules and of
 * dependencies load with it; so a group holds only what its users run anyway, and nothing heavy
 * (test/cli/package.test.ts and test/cli/startup-modules.test.ts check what digest loads).
 *
 * A bundled module's `import.meta.url` is pointed back at its file in dist/, because the code
 * finds files beside itself: ../package.json (version.ts), compat/profiles/ and the deflate
 * worker (archive/deflate-pool.ts), which stays a per-module file of dist/.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import type * as esbuild from 'esbuild';

/**
 * The chunks made of several modules: each is the modules that its `roots` (under dist/) import
 * statically, themselves included, less those of the groups before it and those that `without`
 * import, statically or dynamically but for the roots (what those commands load in any case,
 * which must not pull the group in).
 * - core: what almost every command runs: the dispatcher and its imports, the command-line options,
 *   opening stores, the OCI layout store; and `digest`, a few lines over those modules, which as
 *   a file of its own cost its start-up more than its code does (a module load per file).
 * - registry: the registry store and client, credentials and their helpers: `copy` to or from a
 *   registry otherwise loaded them as a dozen chunks.
 * - statements: the SBOM and provenance writers that `build` loads when it describes what it
 *   built (builder/describe): shared in so many ways with `sbom`, `attest` and `reproduce` that
 *   they were eight files; not what `build` loads without statements.
 */
export const GROUPS: Record<string, { roots: string[]; without?: string[] }> = {
  core: { roots: ['cli/dispatch.js', 'cli/options.js', 'cli/stores.js', 'store/layout.js', 'cli/commands/digest.js'] },
  registry: { roots: ['store/registry.js', 'registry/client.js', 'auth/docker-config.js', 'auth/keychain.js'] },
  statements: { roots: ['builder/describe.js'], without: ['cli/commands/build.js'] },
};

/**
 * Modules of the core chunk whose functions eagerFunctions leaves to be compiled on their first
 * call. A function compiled with the chunk comes from Node's compile cache, but every command
 * that loads the chunk then reads, checks and deserialises its code; one compiled on its first
 * call costs only the commands that call it. So what the start of most commands runs (the
 * command line, opening a store, a layout's index.json) is compiled with the chunk, and the
 * modules that only some commands or only failures reach are not: help and exit (help text,
 * errors), files and layout-lock (writing), platform (`--platform`), reference and
 * registry-access (registries), verify (reading blobs), memory (large builds), time
 * (SOURCE_DATE_EPOCH). `digest` of a layout deserialised their 52 functions at every start,
 * about 1 million instructions (issue 16).
 */
export const LAZY_IN_CORE = [
  'cli/help.js',
  'cli/exit.js',
  'io/files.js',
  'store/layout-lock.js',
  'oci/platform.js',
  'ref/reference.js',
  'store/registry-access.js',
  'io/verify.js',
  'io/memory.js',
  'time.js',
];

/**
 * The entry of the bundle, a file written into dist/ for the build only: it exports the
 * dispatcher's `main`, which dist/cli/main.js runs once the compile cache is on. The dispatcher
 * itself is a module of the core group, so its code is in the core chunk, and main.js imports
 * that chunk: one module to load rather than two. With the dispatcher as the entry, esbuild wrote
 * it to a file of its own, which digest of a layout loaded before the core chunk, 0.7 million
 * instructions (resolving, reading and checking its cache, linking; issue 16).
 */
const ENTRY = 'cli/bundle-entry.js';
const ENTRY_TEXT = "export { main } from './dispatch.js';\n";

/** The text in dist/cli/main.js that loads the dispatcher, made to load the core chunk. */
const LOAD_DISPATCH = 'import("./dispatch.js")';

/** Bundles the CLI of `out` (a compiled dist/) into `out`/cli/bundle/ and points cli/main.js at it. */
export async function bundleCli(out: string): Promise<void> {
  const bundle = join(out, 'cli', 'bundle');
  await rm(bundle, { recursive: true, force: true });
  await writeFile(join(out, ENTRY), ENTRY_TEXT);
  try {
    await bundleFrom(out, bundle);
  } finally {
    await rm(join(out, ENTRY), { force: true });
  }
}

/** {@link bundleCli}, with the entry written. */
async function bundleFrom(out: string, bundle: string): Promise<void> {
  const { build } = await import('esbuild');
  const options: esbuild.BuildOptions = {
    absWorkingDir: out,
    entryPoints: [join(out, ENTRY)],
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
  // A first pass finds the entries (dynamic imports) and what each module imports.
  const { metafile } = await build({ ...options, write: false, metafile: true, plugins: [vendor] });
  const inputs = metafile.inputs;
  const entries = new Set([ENTRY]);
  for (const input of Object.values(inputs)) {
    for (const i of input.imports) if (i.kind === 'dynamic-import' && !i.external) entries.add(i.path);
  }
  const groups = groupsOf(inputs);
  const { outputFiles } = await build({
    ...options,
    write: false,
    plugins: [vendor, groupPlugin(out, bundle, groupImports(inputs, entries, groups), groups)],
  });
  const files = new Map(outputFiles.map((f) => [f.path, f.text]));
  // The entry only re-exports `main` from the core chunk (the core group, which every command
  // runs), which main.js imports instead; so the entry's file is not written. It must hold
  // nothing else (another chunk imported for its side effects, code of its own), which main.js
  // would then not run.
  const entry = join(bundle, basename(ENTRY));
  const core = /^import\s*\{\s*main\s*\}\s*from\s*"\.\/(chunk-[^"]+\.js)";\s*export\s*\{\s*main\s*\};\s*$/.exec(
    files.get(entry) ?? '',
  )?.[1];
  if (core === undefined) throw new Error(`${entry} holds more than main, taken under its name from a chunk and exported`);
  files.delete(entry);
  await mkdir(bundle, { recursive: true });
  const written = skipReexports(files);
  // The core chunk's functions compiled with it (eagerFunctions), but those of LAZY_IN_CORE.
  for (const [path, text] of written) {
    const ascii = await asciiOnly(text, path);
    const eager = basename(path) === core;
    await writeFile(path, eager ? await eagerFunctions(ascii, path, { lazyModules: LAZY_IN_CORE }) : ascii);
  }
  const main = join(out, 'cli', 'main.js');
  const text = await readFile(main, 'utf8');
  if (text.split(LOAD_DISPATCH).length !== 2) throw new Error(`${main} does not load the dispatcher with ${LOAD_DISPATCH} once`);
  await writeFile(main, text.replace(LOAD_DISPATCH, `import("./bundle/${core}")`));
}

/**
 * `text` with every character outside ASCII written as `\u{...}`. esbuild escapes them in
 * strings, templates, regular expressions and names, but keeps the comments it keeps (on class
 * members) as they are, and one `…` in a comment makes V8 hold the whole file as UTF-16: Node's
 * compile cache then hashes it through a UTF-8 conversion, about 2.3 million instructions of
 * `digest`'s start for the core chunk alone (issue 16, "instant start"). So what is left can only
 * be in comments, and this checks it: the file with its comments dropped (esbuild's
 * `minifyWhitespace`) must be the same before and after.
 */
async function asciiOnly(text: string, path: string): Promise<string> {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the class is everything outside ASCII
  if (!/[^\u0000-\u007f]/u.test(text)) return text;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: as above
  const escaped = text.replace(/[^\u0000-\u007f]/gu, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
  const { transform } = await import('esbuild');
  const code = async (t: string) => (await transform(t, { format: 'esm', minifyWhitespace: true, charset: 'ascii' })).code;
  if ((await code(text)) !== (await code(escaped))) throw new Error(`${path}: a character outside ASCII is not in a comment`);
  return escaped;
}

/**
 * `text` (a chunk of the bundle) with each function declared at its top level made a function
 * expression in parentheses, assigned to a `var` of the same name at the top of the chunk. V8
 * compiles a function in parentheses when it compiles the chunk, rather than when it is first
 * called; Node's compile cache holds what V8 compiled when the chunk was compiled, so those
 * functions come from the cache, where a function compiled on its first call is compiled afresh
 * at every start: `digest` of a layout compiled about 60 functions of the core chunk so, 7.7
 * million instructions.
 *
 * The declarations are found with TypeScript's parser, not by their lines. Moved to the top, the
 * functions are all assigned before any other statement of the chunk runs, as declarations are;
 * what differs is left alone or refused: a function whose name is assigned to anywhere in the
 * chunk stays a declaration (a function expression's own name cannot be assigned inside it), and
 * a chunk that imports another chunk of the bundle is refused (in an import cycle, the other
 * chunk could call a function before this chunk has run, which a declaration allows and a `var`
 * does not).
 *
 * The functions of `lazyModules` (paths under dist/, as in esbuild's `// path.js` line before
 * each module's code) stay declarations (see {@link LAZY_IN_CORE}).
 */
export async function eagerFunctions(text: string, path: string, { lazyModules = [] }: { lazyModules?: string[] } = {}): Promise<string> {
  const { default: ts } = await import('typescript');
  const { transform } = await import('esbuild');
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  for (const statement of source.statements) {
    if (
      ts.isImportDeclaration(statement) &&
      ts.isStringLiteral(statement.moduleSpecifier) &&
      statement.moduleSpecifier.text.startsWith('./')
    ) {
      throw new Error(`${path}: imports ${statement.moduleSpecifier.text}; its functions may not be moved (see eagerFunctions)`);
    }
  }
  const assigned = new Set<string>();
  const visit = (node: import('typescript').Node): void => {
    if (
      ts.isBinaryExpression(node) &&
      node.operatorToken.kind >= ts.SyntaxKind.FirstAssignment &&
      node.operatorToken.kind <= ts.SyntaxKind.LastAssignment
    ) {
      if (ts.isIdentifier(node.left)) assigned.add(node.left.text);
    } else if ((ts.isPrefixUnaryExpression(node) || ts.isPostfixUnaryExpression(node)) && ts.isIdentifier(node.operand)) {
      if (node.operator === ts.SyntaxKind.PlusPlusToken || node.operator === ts.SyntaxKind.MinusMinusToken) assigned.add(node.operand.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  // Where each module's code starts: esbuild writes `// path.js` on a line of its own before it.
  const modules = [...text.matchAll(/^\/\/ (\S+\.js)$/gm)].map((m) => ({ at: m.index, module: m[1] }));
  for (const m of lazyModules) if (!modules.some((k) => k.module === m)) throw new Error(`${path}: has no module ${m}`);
  const moduleAt = (position: number) => modules.findLast((m) => m.at < position)?.module;
  const moved: string[] = [];
  let rest = '';
  let at = 0;
  for (const statement of source.statements) {
    if (!ts.isFunctionDeclaration(statement) || statement.name === undefined || statement.body === undefined) continue;
    if (statement.modifiers?.some((m) => m.kind !== ts.SyntaxKind.AsyncKeyword) || assigned.has(statement.name.text)) continue;
    const start = statement.getStart(source);
    const module = moduleAt(start);
    if (module !== undefined && lazyModules.includes(module)) continue;
    moved.push(`var ${statement.name.text} = (${text.slice(start, statement.end)});`);
    rest += text.slice(at, start);
    at = statement.end;
  }
  const out = `${moved.join('\n')}\n${rest}${text.slice(at)}`;
  await transform(out, { format: 'esm', logLevel: 'silent' });
  return out;
}

/**
 * The modules `roots` import statically, themselves included (paths as in the metafile); with
 * `dynamic`, also those they import dynamically, but for the modules in `dynamic.except`.
 */
function staticClosure(inputs: esbuild.Metafile['inputs'], roots: string[], dynamic?: { except: string[] }): Set<string> {
  const seen = new Set<string>();
  const queue = [...roots];
  for (let m = queue.pop(); m !== undefined; m = queue.pop()) {
    const input = inputs[m];
    if (input === undefined) throw new Error(`the CLI bundle has no module ${m}`);
    if (seen.has(m)) continue;
    seen.add(m);
    for (const i of input.imports) {
      if (i.external) continue;
      if (i.kind === 'import-statement' || (i.kind === 'dynamic-import' && dynamic !== undefined && !dynamic.except.includes(i.path)))
        queue.push(i.path);
    }
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

/** The modules of each of {@link GROUPS}. */
function groupsOf(inputs: esbuild.Metafile['inputs']): Map<string, Set<string>> {
  const groups = new Map<string, Set<string>>();
  const taken = new Set([ENTRY]);
  for (const [name, { roots, without = [] }] of Object.entries(GROUPS)) {
    const left = staticClosure(inputs, without, { except: roots });
    const members = [...staticClosure(inputs, roots)].filter((m) => !taken.has(m) && !left.has(m));
    for (const m of members) taken.add(m);
    groups.set(name, new Set(members));
  }
  return groups;
}

/**
 * For each entry, the groups it must import: those whose modules it uses, counting what the
 * groups it imports use in turn (until nothing changes).
 */
function groupImports(inputs: esbuild.Metafile['inputs'], entries: Set<string>, groups: Map<string, Set<string>>): Map<string, string[]> {
  const imports = new Map<string, string[]>();
  for (const entry of entries) {
    const taken = new Set<string>();
    for (let changed = true; changed; ) {
      changed = false;
      const used = staticClosure(inputs, [entry, ...[...taken].flatMap((g) => [...groups.get(g)!])]);
      for (const [name, members] of groups) {
        if (taken.has(name) || ![...members].some((m) => used.has(m))) continue;
        taken.add(name);
        changed = true;
      }
    }
    if (taken.size > 0) imports.set(entry, [...taken]);
  }
  return imports;
}

/** Makes each entry import its groups (see the file's comment) and points `import.meta.url` at each module's file. */
function groupPlugin(out: string, bundle: string, imports: Map<string, string[]>, groups: Map<string, Set<string>>): esbuild.Plugin {
  const id = (group: string) => join(out, `(cli group ${group})`);
  return {
    name: 'cli-groups',
    setup(b) {
      b.onResolve({ filter: /\(cli group \w+\)$/ }, (args) => ({ path: args.path, namespace: 'cli-group' }));
      b.onLoad({ filter: /.*/, namespace: 'cli-group' }, (args) => {
        const members = groups.get(/\(cli group (\w+)\)$/.exec(args.path)?.[1] ?? '');
        if (members === undefined) throw new Error(`no CLI group ${args.path}`);
        return { contents: [...members].map((m) => `import ${JSON.stringify(join(out, m))};`).join('\n'), resolveDir: out, loader: 'js' };
      });
      b.onLoad({ filter: /\.js$/ }, async (args) => {
        const module = relative(out, args.path);
        let text = staticWithinGroup(await readFile(args.path, 'utf8'), module, groups);
        const here = `new URL(${JSON.stringify(relative(bundle, args.path))}, import.meta.url).href`;
        text = text.replaceAll('import.meta.url', here);
        for (const group of imports.get(module) ?? []) text += `\nimport ${JSON.stringify(id(group))};`;
        return { contents: text, loader: 'js' };
      });
    },
  };
}

/**
 * `text` (the module `module`) with each `import("./x.js")` of a module of its own group made a
 * static import: both are in one chunk, loaded and run together, so the dynamic import only made
 * esbuild write a file that re-exports the chunk's names, which the command then loaded on its
 * own (`digest` of a layout loaded store/layout's re-export of the core chunk: a module load of
 * its own for nothing, issue 16). A module outside every group keeps its dynamic imports.
 */
export function staticWithinGroup(text: string, module: string, groups: Map<string, Set<string>>): string {
  const group = [...groups.values()].find((members) => members.has(module));
  if (group === undefined) return text;
  const names: string[] = [];
  const replaced = text.replace(/\bimport\((["'])(\.\.?\/[^"']+\.js)\1\)/g, (call, _quote: string, path: string) => {
    if (!group.has(join(dirname(module), path))) return call;
    const name = `__cliGroupModule${names.length}`;
    names.push(`import * as ${name} from ${JSON.stringify(path)};`);
    return `Promise.resolve(${name})`;
  });
  return names.length === 0 ? text : `${replaced}\n${names.join('\n')}\n`;
}

/** A file of the bundle that only re-exports, under their own names, what it imports from one chunk. */
const REEXPORT = /^import\s*\{([^}]*)\}\s*from\s*"\.\/([^"]+)";\s*((?:import\s*"\.\/[^"]+";\s*)*)export\s*\{([^}]*)\};\s*$/;

/**
 * The bundle's files (path to text) with each `import("./F.js")` of a file F that only
 * re-exports a chunk's names made an import of that chunk. esbuild writes such a file for a
 * module that is imported dynamically but lives in a group's chunk (the registry store, the
 * registry client and the keychains, which the core's registry-access.ts imports when a command
 * reaches a registry): four module loads of `copy` to a registry that held nothing but names
 * (issue 16). Only when the names are not renamed, and whatever else F imports (for its side
 * effects) has run by then (the chunk or the importer imports it), so that what runs is the same.
 */
export function skipReexports(files: Map<string, string>): Map<string, string> {
  const stubs = new Map<string, { chunk: string; bare: string[] }>();
  for (const [path, text] of files) {
    const m = REEXPORT.exec(text);
    if (m === null) continue;
    const [, imported = '', chunk = '', bare = '', exported = ''] = m;
    const names = (list: string) =>
      list
        .split(',')
        .map((n) => n.trim())
        .filter((n) => n !== '')
        .sort()
        .join(',');
    if (imported.includes(' as ') || exported.includes(' as ') || names(imported) !== names(exported)) continue;
    stubs.set(basename(path), { chunk, bare: [...bare.matchAll(/"\.\/([^"]+)"/g)].map((b) => b[1] ?? '') });
  }
  // The files each file imports statically, directly or not: those have run once it has.
  const dir = dirname([...files.keys()][0] ?? '');
  const loaded = (file: string): Set<string> => {
    const seen = new Set<string>();
    const queue = [file];
    for (let f = queue.pop(); f !== undefined; f = queue.pop()) {
      if (seen.has(f)) continue;
      seen.add(f);
      for (const m of (files.get(join(dir, f)) ?? '').matchAll(/^(?:import|export)\b[^;]*?["']\.\/([^"']+)["'];/gms))
        queue.push(m[1] ?? '');
    }
    return seen;
  };
  const out = new Map<string, string>();
  for (const [path, importer] of files) {
    const self = basename(path);
    out.set(
      path,
      importer.replace(/\bimport\("\.\/([^"]+)"\)/g, (call, file: string) => {
        const stub = stubs.get(file);
        if (stub === undefined) return call;
        // What the stub imports for its side effects has run by then: the chunk or the importer imports it.
        const ran = new Set([...loaded(stub.chunk), ...loaded(self)]);
        return stub.bare.every((o) => ran.has(o)) ? `import("./${stub.chunk}")` : call;
      }),
    );
  }
  return out;
}
