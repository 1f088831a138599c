/**
 * The dependency rules of docs/architecture.md, which a compiler does not check:
 *
 * - every module (a folder or a root file under src/) has its place in {@link DESIGN}, which
 *   lists the modules it may import; an import the design does not list fails, and so does a
 *   module the design does not know;
 * - no import cycle between modules, and none between files (see below);
 * - only the adapters (cli/, action/) touch `process` (argv, env, exit, standard streams, the
 *   working directory) or print.
 *
 * Type-only imports count. They vanish at run time, so they cannot make a cycle of module
 * evaluation, but they do tie two files together: neither can be read, moved or tested without
 * the other. The cycles the checker was written to catch (cli/main.ts ↔ cli/apk.ts over `CliIo`)
 * were type-only, and their fix is always cheap: put the shared type in a file of its own.
 * Dynamic `import()` counts too: it is a run-time edge, only a later one.
 *
 * Usage: `node scripts/check-deps.ts [ROOT]` checks ROOT/src (default: this repository);
 * `--table` prints the layering as a Markdown table instead (docs/architecture.md holds it).
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/** The bands of the design, bottom up; a module's floor within them comes from its imports. */
type Band = 'ground' | 'I/O' | 'feature' | 'adapter';

interface ModuleRule {
  band: Band;
  /** The modules it may import (its own files aside). */
  imports: readonly string[];
}

const BASE = ['errors.ts', 'bytes.ts'];
/** What every module above the ground floor may use: errors, bytes, OCI types, streams and options. */
const FLOOR = [...BASE, 'oci', 'io'];

/**
 * Every module and what it may import. Features list the other features they build on one by
 * one: that list is the design, and an edge outside it is a change to the design, made here on
 * purpose rather than by an import.
 */
export const DESIGN: Record<string, ModuleRule> = {
  'errors.ts': { band: 'ground', imports: [] },
  'bytes.ts': { band: 'ground', imports: [] },
  'version.ts': { band: 'ground', imports: [] },
  'net.ts': { band: 'ground', imports: ['errors.ts', 'bytes.ts'] },
  'time.ts': { band: 'ground', imports: ['errors.ts'] },
  'yaml.ts': { band: 'ground', imports: BASE },
  oci: { band: 'ground', imports: BASE },
  ref: { band: 'ground', imports: [...BASE, 'oci'] },
  io: { band: 'ground', imports: [...BASE, 'oci'] },
  vfs: { band: 'ground', imports: [...BASE, 'io'] },
  archive: { band: 'I/O', imports: FLOOR },
  auth: { band: 'I/O', imports: [...BASE, 'ref'] },
  registry: { band: 'I/O', imports: [...FLOOR, 'version.ts', 'net.ts', 'ref', 'auth'] },
  store: { band: 'I/O', imports: [...FLOOR, 'ref', 'archive', 'auth', 'registry'] },
  pkg: { band: 'feature', imports: [...FLOOR, 'net.ts', 'yaml.ts', 'vfs', 'archive'] },
  sbom: { band: 'feature', imports: [...FLOOR, 'time.ts', 'archive', 'pkg'] },
  attest: { band: 'feature', imports: [...FLOOR, 'store'] },
  image: { band: 'feature', imports: [...FLOOR, 'ref', 'archive', 'store', 'pkg', 'attest', 'sbom', 'sign'] },
  sign: { band: 'feature', imports: [...FLOOR, 'ref', 'store', 'attest'] },
  pin: { band: 'feature', imports: [...FLOOR, 'ref', 'store'] },
  compat: { band: 'feature', imports: [...FLOOR, 'ref', 'archive', 'registry', 'store', 'attest', 'image', 'sign'] },
  builder: { band: 'feature', imports: [...FLOOR, 'version.ts', 'time.ts', 'yaml.ts', 'archive', 'vfs', 'store', 'pkg', 'sbom', 'attest'] },
  policy: { band: 'feature', imports: [...FLOOR, 'yaml.ts', 'ref', 'store', 'sbom', 'attest', 'image', 'sign'] },
  reproduce: { band: 'feature', imports: [...FLOOR, 'ref', 'store', 'pkg', 'attest', 'image', 'sign', 'builder', 'compat'] },
  report: { band: 'feature', imports: [...FLOOR, 'ref', 'store', 'sbom', 'attest', 'image', 'sign', 'compat'] },
  'index.ts': { band: 'adapter', imports: [] }, // filled below: the whole library
  cli: { band: 'adapter', imports: [] }, // filled below: the library and index.ts
  action: { band: 'adapter', imports: [] }, // filled below: the library and index.ts
};
const LIBRARY = Object.keys(DESIGN).filter((m) => DESIGN[m]!.band !== 'adapter');
DESIGN['index.ts'] = { band: 'adapter', imports: LIBRARY };
DESIGN.cli = { band: 'adapter', imports: [...LIBRARY, 'index.ts'] };
DESIGN.action = { band: 'adapter', imports: [...LIBRARY, 'index.ts'] };

/**
 * Problems in files another branch is rewriting, to be fixed there: each is forgiven in this
 * repository until that branch merges, and one that no longer occurs is itself reported, so
 * that none outlives its fix.
 */
const PENDING: readonly string[] = [];

/** Modules that may touch `process` and print. */
const ADAPTERS = new Set(['cli', 'action']);
const PROCESS_USE = /\bprocess\.(env|argv|exit|exitCode|stdout|stderr|stdin|cwd|chdir|on|once)\b/;
const PRINTING = /\bconsole\.\w+\(/;
// Built-ins whose ESM import costs start-up time a command may never need: importing node:fs or
// node:util builds their whole export list (which loads fs/promises, readline and util's diff);
// node:child_process takes milliseconds to load at all. The first three are taken with
// process.getBuiltinModule; child_process where it is first called.
const COSTLY_IMPORT = /^import (?!type )[^;]*from 'node:(fs|util|module|child_process)'/;

/** Each module's floor: 0 for a module that imports nothing, else one above the highest it may import. */
export function floors(design: Record<string, ModuleRule> = DESIGN): Map<string, number> {
  const out = new Map<string, number>();
  const visiting = new Set<string>();
  const floorOf = (m: string): number => {
    const known = out.get(m);
    if (known !== undefined) return known;
    if (visiting.has(m)) throw new Error(`the design has a cycle through ${m}`);
    visiting.add(m);
    const f = Math.max(-1, ...(design[m]?.imports ?? []).map(floorOf)) + 1;
    visiting.delete(m);
    out.set(m, f);
    return f;
  };
  for (const m of Object.keys(design)) floorOf(m);
  return out;
}

/** The Markdown table of the layering, bottom up. */
export function layeringTable(design: Record<string, ModuleRule> = DESIGN): string {
  const f = floors(design);
  const rows = Object.keys(design)
    .filter((m) => m !== 'build') // the builder's old name, until the rename merges
    .sort((a, b) => f.get(a)! - f.get(b)! || a.localeCompare(b));
  const shown = (m: string) => (m.endsWith('.ts') ? `\`${m}\`` : `\`${m}/\``);
  const lines = ['| floor | module | band | may import |', '|---|---|---|---|'];
  for (const m of rows) {
    const rule = design[m]!;
    const imports = rule.band === 'adapter' ? 'the whole library' : rule.imports.map(shown).join(', ') || '(nothing)';
    lines.push(`| ${f.get(m)} | ${shown(m)} | ${rule.band} | ${imports} |`);
  }
  return `${lines.join('\n')}\n`;
}

interface Edge {
  from: string;
  to: string;
  line: number;
}

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sourceFiles(p)));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out.sort();
}

/** The strongly connected components of more than one node (or a node with an edge to itself). */
function cycles(nodes: Iterable<string>, next: (n: string) => Iterable<string>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of next(v)) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || [...next(v)].includes(v)) found.push(component.sort());
  };
  for (const n of nodes) if (!index.has(n)) visit(n);
  return found;
}

/** One cycle through `start` inside `component`, as a path that ends where it starts. */
function cycleThrough(start: string, component: Set<string>, next: (n: string) => Iterable<string>): string[] {
  const parent = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of next(v)) {
      if (!component.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let u: string | undefined = v; u !== undefined && u !== start; u = parent.get(u)) path.splice(1, 0, u);
        return [...path, start];
      }
      if (!parent.has(w)) {
        parent.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

/** Checks the tree under `root` (a folder holding src/); returns the problems found. */
export async function check(root: string): Promise<{ problems: string[]; files: number }> {
  const src = resolve(root, 'src');
  const files = await sourceFiles(src);
  const moduleOf = (path: string): string => relative(src, path).split(sep)[0]!;
  const show = (path: string): string => relative(root, path);
  const problems: string[] = [];
  const fileEdges = new Map<string, Edge[]>();
  const moduleEdges = new Map<string, Map<string, Edge>>();

  for (const file of files) {
    const mod = moduleOf(file);
    const rule = DESIGN[mod];
    if (rule === undefined) problems.push(`${show(file)}: module "${mod}" has no place in the design (scripts/check-deps.ts, DESIGN)`);
    const text = await readFile(file, 'utf8');
    const lineAt = (pos: number): number => text.slice(0, pos).split('\n').length;
    const edges: Edge[] = [];
    for (const ref of ts.preProcessFile(text, true, true).importedFiles) {
      if (!ref.fileName.startsWith('.')) continue;
      const target = resolve(dirname(file), ref.fileName);
      const edge = { from: file, to: target, line: lineAt(ref.pos) };
      edges.push(edge);
      if (relative(src, target).startsWith('..')) continue;
      const to = moduleOf(target);
      if (to === mod) continue;
      if (!moduleEdges.has(mod)) moduleEdges.set(mod, new Map());
      if (!moduleEdges.get(mod)!.has(to)) moduleEdges.get(mod)!.set(to, edge);
      if (rule !== undefined && DESIGN[to] !== undefined && !rule.imports.includes(to)) {
        problems.push(`${show(file)}:${edge.line}: ${mod} may not import ${to} (${ref.fileName}); the design does not list it`);
      }
    }
    fileEdges.set(file, edges);
    text.split('\n').forEach((line, i) => {
      if (COSTLY_IMPORT.test(line)) {
        problems.push(
          `${show(file)}:${i + 1}: take ${line.match(/'(node:[a-z_]+)'/)![1]} with process.getBuiltinModule, not an import (start-up, docs/architecture.md)`,
        );
      }
    });
    if (ADAPTERS.has(mod)) continue;
    text.split('\n').forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, '');
      if (PROCESS_USE.test(code) || PRINTING.test(code)) {
        problems.push(`${show(file)}:${i + 1}: only cli/ and action/ may touch process or print`);
      }
    });
  }

  const nextModules = (m: string) => moduleEdges.get(m)?.keys() ?? [];
  for (const component of cycles(moduleEdges.keys(), nextModules)) {
    const path = cycleThrough(component[0]!, new Set(component), nextModules);
    const via = path.slice(1).map((to, i) => {
      const e = moduleEdges.get(path[i]!)!.get(to)!;
      return `${show(e.from)}:${e.line}`;
    });
    problems.push(`module cycle: ${path.join(' → ')} (${via.join(', ')})`);
  }
  const nextFiles = (f: string) => (fileEdges.get(f) ?? []).map((e) => e.to).filter((t) => fileEdges.has(t));
  for (const component of cycles(fileEdges.keys(), nextFiles)) {
    const path = cycleThrough(component[0]!, new Set(component), nextFiles);
    problems.push(`file cycle: ${path.map(show).join(' → ')}`);
  }
  return { problems, files: files.length };
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(import.meta.filename);
if (isMain) {
  const args = process.argv.slice(2);
  if (args.includes('--table')) {
    process.stdout.write(layeringTable());
  } else {
    floors(); // throws on a cycle in the design itself
    const repository = resolve(import.meta.dirname, '..');
    const root = resolve(args[0] ?? repository);
    const found = await check(root);
    const pending = root === repository ? PENDING : [];
    const problems = [
      ...found.problems.filter((p) => !pending.includes(p)),
      ...pending
        .filter((p) => !found.problems.includes(p))
        .map((p) => `no longer found, remove it from PENDING in scripts/check-deps.ts: ${p}`),
    ];
    const files = found.files;
    if (problems.length > 0) {
      console.error(problems.join('\n'));
      process.exit(1);
    }
    console.error(`dependency rules: ok (${files} files)`);
  }
}
