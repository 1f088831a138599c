// Standard output written with writeSync (src/cli/output.ts): a pipe in non-blocking mode (EAGAIN)
// still gets every byte in order, a reader that goes away (EPIPE) ends the command quietly, and
// any other failure (a full disk) is one line that says standard output could not be written.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { PassThrough, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { run } from '../../src/cli/dispatch.ts';
import { FdOutput } from '../../src/cli/output.ts';
import { bytesSource } from '../../src/io/types.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { MAIN } from '../helpers/cli.ts';
import { NO_HOME, useTempLayout } from '../helpers/temp.ts';

/** Runs the CLI with `pre` (node flags before the script); `read` gets its standard output stream. */
function cli(
  pre: string[],
  args: string[],
  read: (out: NodeJS.ReadableStream, kill: () => void) => void,
): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...pre, MAIN, ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: NO_HOME },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    read(child.stdout, () => child.stdout.destroy());
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stderr }));
  });
}

describe('standard output', () => {
  const layout = useTempLayout('output');

  async function blob(): Promise<{ location: string; digest: string; bytes: Uint8Array }> {
    const store = await layout();
    const bytes = new Uint8Array(randomBytes(3 << 20));
    const digest = digestOf(bytes);
    await store.putBlob(bytesSource({ mediaType: 'application/octet-stream', digest, size: bytes.length }, bytes));
    return { location: store.location, digest, bytes };
  }

  it('gets every byte in order when the pipe is non-blocking and its reader slow', async () => {
    const { location, digest } = await blob();
    const hash = createHash('sha256');
    let size = 0;
    // Making process.stdout puts the pipe in non-blocking mode, as a parent can: writeSync then
    // meets EAGAIN once the pipe's buffer is full, while nothing reads it for a while.
    const r = await cli(['--import', 'data:text/javascript,process.stdout'], ['blob', location, digest], (out) => {
      out.pause();
      setTimeout(() => {
        out.on('data', (b: Buffer) => {
          hash.update(b);
          size += b.length;
        });
        out.resume();
      }, 300);
    });
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
    assert.equal(size, 3 << 20);
    assert.equal(`sha256:${hash.digest('hex')}`, digest);
  });

  it('ends quietly, with the command’s status, when the reader goes away', async () => {
    const { location, digest } = await blob();
    const r = await cli([], ['blob', location, digest], (out, kill) => {
      out.once('data', kill);
    });
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
  });

  it('fails with one line that says why when standard output cannot be written (a full disk)', async () => {
    const { location, digest } = await blob();
    // /dev/full answers every write with ENOSPC, as a file on a full file system does.
    const full = openSync('/dev/full', 'w');
    try {
      for (const args of [['blob', location, digest], ['version']]) {
        const r = spawnSync(process.execPath, [MAIN, ...args], {
          env: { PATH: process.env.PATH ?? '', HOME: NO_HOME },
          stdio: ['ignore', full, 'pipe'],
          encoding: 'utf8',
        });
        assert.equal(
          r.stderr,
          `provenant ${args[0]}: cannot write standard output: no space left on device (ENOSPC)\n` +
            '  hint: the file system standard output goes to is full: free space there, or redirect the output elsewhere\n',
        );
        assert.equal(r.status, 1);
      }
    } finally {
      closeSync(full);
    }
  });

  it('fails the command when the stream that took over (EAGAIN) fails after its last write', async () => {
    // A non-blocking pipe nobody reads: writeSync meets EAGAIN once it is full, and the stream
    // takes over. It takes what was written before the command and fails the command's own write
    // a moment later, once the command has returned.
    const child = spawn('sleep', ['30'], { stdio: ['pipe', 'ignore', 'ignore'] });
    try {
      const fd = (child.stdin as unknown as { _handle: { fd: number } })._handle.fd;
      let writes = 0;
      const failing = new Writable({
        write(_chunk, _encoding, callback) {
          if (++writes === 1) callback();
          else setTimeout(() => callback(Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' })), 10);
        },
      });
      const stdout = new FdOutput(fd, () => failing);
      stdout.write(new Uint8Array(1 << 20));
      const stderr = new PassThrough();
      let said = '';
      stderr.setEncoding('utf8').on('data', (d: string) => {
        said += d;
      });
      const code = await run(['version'], {
        env: {},
        stdout,
        stderr,
        stdin: new PassThrough(),
        homedir: NO_HOME,
        signal: new AbortController().signal,
      });
      assert.equal(writes, 2, 'the command wrote to the stream');
      assert.equal(said, 'provenant version: cannot write standard output: i/o error (EIO)\n');
      assert.equal(code, 1);
    } finally {
      child.kill();
    }
  });
});
