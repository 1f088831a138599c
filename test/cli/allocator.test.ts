// `provenant build` and `reproduce` run with glibc's allocator settings however they are started
// (src/cli/allocator.ts): a preload that Node runs in every process it starts (NODE_OPTIONS)
// writes down the process id and the settings it saw, so the test sees whether the process ran
// itself again, as the same process, and with what.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ALLOCATOR_SETTINGS, allocatorEnv } from '../../src/cli/allocator.ts';
import { MAIN } from '../helpers/cli.ts';
import { useTempDir } from '../helpers/temp.ts';

const exec = promisify(execFile);
const tempDir = useTempDir('allocator');
const NAMES = Object.keys(ALLOCATOR_SETTINGS);

const header = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
const cannotExec =
  typeof (process as { execve?: unknown }).execve !== 'function'
    ? `this Node (${process.version}) has no process.execve`
    : header?.glibcVersionRuntime === undefined
      ? 'this Node does not run on glibc, whose settings these are'
      : false;

/** Each process `provenant ARGS` ran as: its id and the settings it was given (`-` for none). */
async function processesOf(args: string[], env: Record<string, string> = {}): Promise<{ pid: string; settings: string[] }[]> {
  const dir = await tempDir();
  const log = join(dir, 'log');
  const preload = join(dir, 'preload.mjs');
  await writeFile(
    preload,
    `import { appendFileSync } from 'node:fs';\n` +
      `appendFileSync(${JSON.stringify(log)}, [process.pid, ...${JSON.stringify(NAMES)}.map((n) => process.env[n] || '-')].join(' ') + '\\n');\n`,
  );
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('MALLOC_') && name !== 'NODE_OPTIONS'));
  await exec(process.execPath, [MAIN, ...args], { env: { ...base, ...env, NODE_OPTIONS: `--import=${preload}` } }).catch(() => undefined);
  const lines = (await readFile(log, 'utf8')).trim().split('\n');
  return lines.map((line) => {
    const [pid, ...settings] = line.split(' ');
    return { pid: pid as string, settings };
  });
}

describe('allocatorEnv', () => {
  it('adds every setting to an environment without them, and keeps the rest', () => {
    assert.deepEqual(allocatorEnv({ HOME: '/home/u', EMPTY: '' }), { HOME: '/home/u', EMPTY: '', ...ALLOCATOR_SETTINGS });
  });

  it("keeps the caller's settings and adds those missing, an empty one as missing (as the launcher)", () => {
    assert.deepEqual(allocatorEnv({ MALLOC_ARENA_MAX: '8', MALLOC_MMAP_THRESHOLD_: '' }), {
      MALLOC_ARENA_MAX: '8',
      MALLOC_TRIM_THRESHOLD_: '131072',
      MALLOC_MMAP_THRESHOLD_: '262144',
    });
  });

  it('asks for nothing when every setting is given', () => {
    assert.equal(allocatorEnv({ MALLOC_ARENA_MAX: '4', MALLOC_TRIM_THRESHOLD_: '1', MALLOC_MMAP_THRESHOLD_: '2' }), undefined);
  });
});

describe('the CLI with the allocator settings', { skip: cannotExec }, () => {
  it('build runs itself again, as the same process, with the settings', async () => {
    const seen = await processesOf(['build', '/nonexistent/image.yaml']);
    assert.equal(seen.length, 2, JSON.stringify(seen));
    assert.equal(seen[1]?.pid, seen[0]?.pid);
    assert.deepEqual(seen[0]?.settings, ['-', '-', '-']);
    assert.deepEqual(seen[1]?.settings, Object.values(ALLOCATOR_SETTINGS));
  });

  it('reproduce does too, adding only what the caller did not set', async () => {
    const seen = await processesOf(['reproduce', 'oci:/nonexistent'], { MALLOC_ARENA_MAX: '4' });
    assert.equal(seen.length, 2, JSON.stringify(seen));
    assert.deepEqual(seen[1]?.settings, ['4', '131072', '262144']);
  });

  it('build given every setting, and other commands, run once as started', async () => {
    const given = await processesOf(['build', '/nonexistent/image.yaml'], { ...ALLOCATOR_SETTINGS, MALLOC_ARENA_MAX: '3' });
    assert.deepEqual(
      given.map((p) => p.settings),
      [['3', '131072', '262144']],
    );
    const digest = await processesOf(['digest', 'oci:/nonexistent']);
    assert.deepEqual(
      digest.map((p) => p.settings),
      [['-', '-', '-']],
    );
  });
});
