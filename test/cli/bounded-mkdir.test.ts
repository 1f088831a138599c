// Folders made with a bounded mkdir -p (makeFolder): where procfs refuses a new folder with ENOENT,
// Node's recursive mkdir retried forever (`lock --cache-dir /proc/nope` spun; cache-dir.test.ts
// has build's case); and a command that does not heed its cancel still ends soon after one SIGTERM.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { makeFolder } from '../../src/io/files.ts';
import { MAIN, makeApkProject } from '../helpers/cli.ts';
import { NO_HOME, useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('bounded-mkdir');

/** A run of the CLI that is killed (and reported so) when it has not ended after `limitMs`. */
function runLimited(
  args: readonly string[],
  options: { cwd: string; limitMs: number; pre?: readonly string[]; onChild?: (child: ChildProcess, stderr: () => string) => void },
): Promise<{ status: number | null; stderr: string; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.pre ?? []), MAIN, ...args], {
      cwd: options.cwd,
      env: { PATH: process.env.PATH ?? '', HOME: NO_HOME, DOCKER_CONFIG: '/nonexistent' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    let killed = false;
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, options.limitMs);
    options.onChild?.(child, () => stderr);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ status: code, stderr, killed });
    });
  });
}

describe('folders that cannot be made, and a command that does not stop', { skip: !existsSync('/proc/self') && 'needs procfs' }, () => {
  let dir: string;
  before(async () => {
    dir = await tempDir();
    await makeApkProject(dir);
  });

  it('makeFolder gives up on a folder procfs will not make, and makes what it can', async () => {
    await assert.rejects(makeFolder('/proc/nope/sha256'), { code: 'ENOENT' });
    await makeFolder(join(dir, 'made', 'a', 'b'));
    await makeFolder(join(dir, 'made', 'a', 'b'));
    assert.ok(existsSync(join(dir, 'made', 'a', 'b')));
    await assert.rejects(makeFolder(join(dir, 'image.yaml', 'x')), { code: 'ENOTDIR' });
    await assert.rejects(makeFolder(join(dir, 'image.yaml')), { code: 'EEXIST' });
  });

  it('lock --cache-dir /proc/nope: one line naming the cache, exit 1, at once', async () => {
    const r = await runLimited(['lock', 'image.yaml', '--cache-dir', '/proc/nope', '-q'], { cwd: dir, limitMs: 30_000 });
    assert.equal(r.killed, false, `still running after 30 s: ${r.stderr}`);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^provenant lock: cannot use \/proc\/nope as the download cache: no folder can be made there/);
    assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
  });

  it('build -o oci:/proc/nope/out.oci: one line naming the layout, exit 1, at once', async () => {
    const r = await runLimited(['build', 'image.yaml', '--cache-dir', 'cache', '-o', 'oci:/proc/nope/out.oci', '-q'], {
      cwd: dir,
      limitMs: 30_000,
    });
    assert.equal(r.killed, false, `still running after 30 s: ${r.stderr}`);
    assert.equal(r.status, 1, r.stderr);
    // One line saying what and where, in the system's words, not its bare `ENOENT: ..., mkdir '/proc/nope'`.
    assert.equal(
      r.stderr.split('\n')[0],
      'provenant build: cannot make oci:/proc/nope/out.oci: no folder can be made in /proc (no such file or directory)',
    );
    assert.doesNotMatch(r.stderr, /ENOENT|internal error|\n\s+at /);
  });

  it('one SIGTERM ends a command that does not heed its cancel, within the grace', async () => {
    // The cache's mkdir never settles, and something holds the event loop, as the pool's thread
    // spinning in Node's recursive mkdir did.
    const hook = [
      "import fsp from 'node:fs/promises';",
      "import { syncBuiltinESMExports } from 'node:module';",
      'fsp.mkdir = () => new Promise(() => {});',
      // Named imports of mkdir see it too.
      'syncBuiltinESMExports();',
      'setInterval(() => {}, 1 << 30);',
    ].join('\n');
    let signalled = 0;
    const r = await runLimited(['lock', 'image.yaml', '--cache-dir', join(dir, 'hung-cache')], {
      cwd: dir,
      limitMs: 20_000,
      pre: ['--import', `data:text/javascript,${encodeURIComponent(hook)}`],
      onChild: (child, stderr) => {
        const poll = setInterval(() => {
          if (!/fetching/.test(stderr())) return;
          clearInterval(poll);
          signalled = Date.now();
          child.kill('SIGTERM');
        }, 20);
        child.on('close', () => clearInterval(poll));
      },
    });
    assert.notEqual(signalled, 0, `never reached the fetch: ${r.stderr}`);
    assert.equal(r.killed, false, `still running 20 s after one SIGTERM: ${r.stderr}`);
    assert.equal(r.status, 130, r.stderr);
    assert.ok(Date.now() - signalled < 15_000);
    assert.match(r.stderr, /\nprovenant: still running 5 s after SIGTERM; stopping without cleaning up\n$/);
  });
});
