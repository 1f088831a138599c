// The checkout's launcher (bin/provenant) runs the CLI with glibc's allocator settings unless the
// caller chose its own: a stand-in for Node (PROVENANT_NODE) prints the environment it was given.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ROOT } from '../helpers/cli.ts';
import { useTempDir } from '../helpers/temp.ts';

const exec = promisify(execFile);
const tempDir = useTempDir('launcher');
const SETTINGS = ['MALLOC_ARENA_MAX', 'MALLOC_TRIM_THRESHOLD_', 'MALLOC_MMAP_THRESHOLD_'];

/** The allocator settings and arguments the launcher hands to Node, given `env`. */
async function handedOn(env: Record<string, string>): Promise<{ settings: Record<string, string>; args: string[] }> {
  const node = join(await tempDir(), 'node');
  await writeFile(
    node,
    `#!/bin/sh
if [ "$1" = --version ]; then echo v24.0.0; exit 0; fi
for name in ${SETTINGS.join(' ')}; do eval "echo \\"$name=\\$$name\\""; done
for arg in "$@"; do echo "arg=$arg"; done
`,
  );
  await chmod(node, 0o755);
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
