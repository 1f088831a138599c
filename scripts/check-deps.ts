// Checks the rules of ../shared/STYLE.md that a compiler does not: dependencies point one way
// (pure ← I/O ← features ← adapters), and only the adapters touch `process` or print.
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', 'src');
const LAYERS: Record<string, number> = {
  'errors.ts': 0,
  'bytes.ts': 0,
  'net.ts': 0,
  oci: 0,
  ref: 0,
  io: 0,
  archive: 1,
  vfs: 1,
  auth: 1,
  registry: 1,
  store: 1,
  pkg: 2,
  build: 2,
  sbom: 2,
  attest: 2,
  sign: 2,
  compat: 2,
  image: 2,
  pin: 2,
  cli: 3,
  action: 3,
  'index.ts': 3,
};
const ADAPTERS = new Set(['cli', 'action']);

async function* files(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* files(p);
    else if (e.name.endsWith('.ts')) yield p;
  }
}

function moduleOf(path: string): string {
  return relative(root, path).split('/')[0]!;
}

const problems: string[] = [];
for await (const file of files(root)) {
  const mod = moduleOf(file);
  const layer = LAYERS[mod];
  const rel = relative(resolve(root, '..'), file);
  if (layer === undefined) {
    problems.push(`${rel}: module "${mod}" has no layer in scripts/check-deps.ts`);
    continue;
  }
  const text = await readFile(file, 'utf8');
  for (const m of text.matchAll(/^\s*(?:import|export)[^'"]*?from\s+'(\.[^']+)'/gm)) {
    const target = moduleOf(resolve(dirname(file), m[1]!));
    const targetLayer = LAYERS[target];
    if (targetLayer !== undefined && targetLayer > layer) {
      problems.push(`${rel}: ${mod} (layer ${layer}) imports ${target} (layer ${targetLayer}); dependencies point the other way`);
    }
  }
  if (!ADAPTERS.has(mod) && layer < 3) {
    const lines = text.split('\n');
    lines.forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, '');
      if (/\bprocess\.(env|argv|exit|stdout|stderr|stdin|cwd|chdir)\b/.test(code) || /\bconsole\.\w+\(/.test(code)) {
        problems.push(`${rel}:${i + 1}: only cli/ and action/ may touch process or print`);
      }
    });
  }
}
if (problems.length > 0) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.error('dependency rules: ok');
