// A named pipe (or a device) named as an archive, to read or to write, is refused with an error
// naming it, never opened to wait for a writer: blocked in open, a thread of libuv outlived
// SIGTERM. Each run is a child process killed after a while, so that a hang fails here rather
// than stopping the suite; what is checked is the error.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { LayoutStore } from '../../src/store/layout.ts';
import { synth } from '../compat/images.ts';
import { MAIN } from '../helpers/cli.ts';
import { NO_HOME, useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('archive-fifo');

/** `provenant ARGS` in `cwd`, killed with SIGKILL should it hang. */
function cli(args: string[], cwd: string): { status: number | null; signal: string | null; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: NO_HOME, DOCKER_CONFIG: '/nonexistent' },
    encoding: 'utf8',
    timeout: 60_000,
    killSignal: 'SIGKILL',
  });
  return { status: r.status, signal: r.signal, stderr: r.stderr };
}

describe('a named pipe named as an archive', () => {
  let dir: string;
  before(async () => {
    dir = await tempDir();
    const made = spawnSync('mkfifo', [join(dir, 'pipe')]);
    assert.equal(made.status, 0, String(made.stderr));
    const store = await LayoutStore.open(join(dir, 'src'), { create: true });
    await synth(store, { attestations: 'none', tag: 'v1' });
    await store.close();
  });

  for (const kind of ['oci-archive', 'docker-archive']) {
    it(`is refused as the ${kind} to read, naming it`, () => {
      const r = cli(['copy', `${kind}:pipe`, 'oci:out:x'], dir);
      assert.equal(r.signal, null, 'killed: it waited on the pipe');
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`pipe is a named pipe, and an archive is a regular file \\(${kind}:pipe\\)`));
      assert.match(r.stderr, /hint: save what the pipe or device gives to a file first/);
    });

    it(`is refused as the ${kind} to write, naming it, and left as it was`, () => {
      const r = cli(['copy', 'oci:src:v1', `${kind}:pipe`], dir);
      assert.equal(r.signal, null, 'killed: it waited on the pipe');
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`${join(dir, 'pipe')} is a named pipe, and an archive is a regular file \\(${kind}:pipe\\)`));
      assert.match(r.stderr, /hint: name a regular file to write/);
      assert.ok(lstatSync(join(dir, 'pipe')).isFIFO());
    });
  }

  it('a device to read is refused likewise', () => {
    const r = cli(['copy', 'oci-archive:/dev/null', 'oci:out:x'], dir);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /\/dev\/null is a device, and an archive is a regular file \(oci-archive:\/dev\/null\)/);
  });
});
