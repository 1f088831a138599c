// scripts/check-deps.ts on small trees made for each rule: it passes a clean tree and fails on
// a module cycle, a file cycle, an import the design does not list, process use in the library,
// and an ESM import of a built-in that costs start-up.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { useTempDir } from '../helpers/temp.ts';

const script = join(import.meta.dirname, '..', '..', 'scripts', 'check-deps.ts');
const tempDir = useTempDir('check-deps');

/** A tree of files (path under src/ → text); runs the checker on it. */
async function checkTree(files: Record<string, string>): Promise<{ code: number; stderr: string }> {
  const root = await tempDir();
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, 'src', path)), { recursive: true });
    await writeFile(join(root, 'src', path), text);
  }
  try {
    const { stderr } = await promisify(execFile)(process.execPath, [script, root]);
    return { code: 0, stderr };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

// A registry client below a store, both on the io floor: what the design asks for.
const CLEAN = {
  'errors.ts': 'export class E extends Error {}\n',
  'io/types.ts': "import { E } from '../errors.ts';\nexport type ByteStream = AsyncIterable<Uint8Array>;\nexport const e = E;\n",
  'registry/client.ts': "import type { ByteStream } from '../io/types.ts';\nexport class Client { s?: ByteStream; }\n",
  'store/registry.ts': "import { Client } from '../registry/client.ts';\nexport const c = new Client();\n",
  'cli/main.ts': "import { c } from '../store/registry.ts';\nprocess.stdout.write(String(c));\n",
};

describe('scripts/check-deps.ts', () => {
  it('passes a tree that keeps the rules', async () => {
    const r = await checkTree(CLEAN);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /dependency rules: ok \(5 files\)/);
  });

  it('fails on a cycle between modules, and names the imports that make it', async () => {
    // The cycle issue 10 found: the registry client used the store's types while the store used the client.
    const r = await checkTree({
      ...CLEAN,
      'store/types.ts': 'export type Limit = number;\n',
      'registry/client.ts': "import type { Limit } from '../store/types.ts';\nexport class Client { l?: Limit; }\n",
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /module cycle: registry → store → registry \(src\/registry\/client\.ts:1, src\/store\/registry\.ts:1\)/);
    assert.match(r.stderr, /src\/registry\/client\.ts:1: registry may not import store/);
  });

  it('fails on a cycle between files of one module, type-only and dynamic imports included', async () => {
    const r = await checkTree({
      ...CLEAN,
      'cli/main.ts': "export interface CliIo { out: string }\nexport const load = () => import('./apk.ts');\n",
      'cli/apk.ts': "import type { CliIo } from './main.ts';\nexport function run(io: CliIo) { return io.out; }\n",
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /file cycle: src\/cli\/apk\.ts → src\/cli\/main\.ts → src\/cli\/apk\.ts/);
  });

  it('fails on a file that imports itself', async () => {
    const r = await checkTree({ ...CLEAN, 'io/self.ts': "export * from './self.ts';\n" });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /file cycle: src\/io\/self\.ts → src\/io\/self\.ts/);
  });

  it('fails on an import against the layering: downwards only, and only the features the design lists', async () => {
    const r = await checkTree({
      ...CLEAN,
      'oci/digest.ts': "import { c } from '../store/registry.ts';\nexport const d = c;\n",
      'sign/sign.ts': 'export const s = 1;\n',
      'compat/check.ts': 'export const k = 1;\n',
      'sign/verify.ts': "import { k } from '../compat/check.ts';\nexport const v = k;\n",
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /src\/oci\/digest\.ts:1: oci may not import store/);
    assert.match(r.stderr, /src\/sign\/verify\.ts:1: sign may not import compat/);
    assert.doesNotMatch(r.stderr, /cycle/);
  });

  it('fails on a module the design does not know, and on process or console outside the adapters', async () => {
    const r = await checkTree({
      ...CLEAN,
      'gadgets/x.ts': 'export const x = 1;\n',
      'store/noisy.ts': "// process.env in a comment is fine\nexport const home = process.env.HOME;\nconsole.log('hi');\n",
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /src\/gadgets\/x\.ts: module "gadgets" has no place in the design/);
    assert.match(r.stderr, /src\/store\/noisy\.ts:2: only cli\/ and action\/ may touch process or print/);
    assert.match(r.stderr, /src\/store\/noisy\.ts:3: only cli\/ and action\/ may touch process or print/);
    assert.doesNotMatch(r.stderr, /noisy\.ts:1:/);
  });

  it('fails on an ESM import of a built-in that costs start-up, and lets type imports and getBuiltinModule pass', async () => {
    const r = await checkTree({
      ...CLEAN,
      'io/files.ts':
        "import { readFileSync } from 'node:fs';\nimport type { Stats } from 'node:fs';\nexport const f = readFileSync;\nexport type S = Stats;\n",
      'io/args.ts':
        "import { parseArgs, type ParseArgsConfig } from 'node:util';\nexport const p = parseArgs;\nexport type C = ParseArgsConfig;\n",
      'io/run.ts': "import { spawn } from 'node:child_process';\nexport const s = spawn;\n",
      'io/lazy.ts':
        "import { open } from 'node:fs/promises';\nconst { statSync } = process.getBuiltinModule('node:fs');\nexport const o = [open, statSync];\n",
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /src\/io\/files\.ts:1: take node:fs with process\.getBuiltinModule/);
    assert.match(r.stderr, /src\/io\/args\.ts:1: take node:util with process\.getBuiltinModule/);
    assert.match(r.stderr, /src\/io\/run\.ts:1: take node:child_process with process\.getBuiltinModule/);
    assert.doesNotMatch(r.stderr, /files\.ts:2:|lazy\.ts/);
  });

  it('docs/architecture.md holds the layering table the script prints', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [script, '--table']);
    const doc = await readFile(join(import.meta.dirname, '..', '..', 'docs', 'architecture.md'), 'utf8');
    assert.ok(doc.includes(stdout), 'docs/architecture.md is out of date: paste `node scripts/check-deps.ts --table` into it');
  });
});
