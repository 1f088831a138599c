/**
 * readNamedFile, the one read of a file the user named (a key, a trusted root, a policy's secret):
 * a named pipe read when written to, given up on with a typed error naming it when nothing
 * writes, or when told to; each failure said in words. The pipe's reads run in a child process
 * killed after a while: blocked in open, a thread of libuv outlives SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { isProvenantError } from '../../src/errors.ts';
import { readNamedFile } from '../../src/io/named-file.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('named-file');
const module = JSON.stringify(pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'io', 'named-file.ts')).href);

/** What `read` (an expression of `readNamedFile` and `fifo`) gave, as `code message (where)`, run in a child killed after a minute. */
function inChild(fifo: string, read: string): string {
  const script = `import { readNamedFile } from ${module};
const fifo = ${JSON.stringify(fifo)};
try { const bytes = await ${read}; console.log(JSON.stringify('read ' + Buffer.from(bytes).toString())); }
catch (e) { console.log(JSON.stringify(e.code + ' ' + e.message + ' (' + e.where + ')')); }`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
    killSignal: 'SIGKILL',
  });
  assert.equal(r.status, 0, `signal ${r.signal}: ${r.stderr}`);
  return JSON.parse(r.stdout) as string;
}

describe('readNamedFile', () => {
  let dir: string;
  let fifo: string;
  before(async () => {
    dir = await tempDir();
    fifo = join(dir, 'fifo');
    const made = spawnSync('mkfifo', [fifo]);
    assert.equal(made.status, 0, String(made.stderr));
  });

  it('gives up on a named pipe nothing writes to, naming it, with a typed error', () => {
    assert.equal(
      inChild(fifo, `readNamedFile(fifo, 'the key file', { pipeWaitMs: 200 })`),
      `IO the key file is a named pipe, and nothing was written to it within 200 ms (${fifo})`,
    );
  });

  it('ends a wait on a named pipe when its signal fires: ABORTED, naming it', () => {
    assert.equal(
      inChild(fifo, `readNamedFile(fifo, 'the key file', { signal: AbortSignal.timeout(200) })`),
      `ABORTED the operation was cancelled (${fifo})`,
    );
  });

  it('reads what a writer that came later wrote, to its end', () => {
    const script = `(async () => { const { writeFile } = await import('node:fs/promises'); setTimeout(() => writeFile(fifo, 'late key'), 300); return readNamedFile(fifo, 'the key file'); })()`;
    assert.equal(inChild(fifo, script), 'read late key');
  });

  // A final read: `--key <(pass show k)` whose command failed, writing nothing, waited 30 s and
  // said nothing was written, with a hint to write into the CLI's own descriptor. A pipe handed
  // over as a descriptor (/dev/fd/N, /dev/stdin) had its writer before the read: its end is the end.
  it('reads a pipe handed over as a descriptor, whose writer is done having written nothing, as empty at once', () => {
    // As bash hands them over: `<(true)` as /dev/fd/N and a pipe as stdin, both written nothing.
    // The wait for a writer is longer than the child is let run.
    const script = `import { readNamedFile } from ${module};
for (const path of [process.argv[1], '/dev/stdin']) {
  try { const bytes = await readNamedFile(path, 'the key file', { pipeWaitMs: 600_000 }); console.log(path.replace(/[0-9]+$/, 'N'), 'read', bytes.length); }
  catch (e) { console.log(path, e.code, e.message); }
}`;
    const r = spawnSync('bash', ['-c', 'exec "$0" --input-type=module -e "$1" <(true) < <(true)', process.execPath, script], {
      encoding: 'utf8',
      timeout: 60_000,
      killSignal: 'SIGKILL',
    });
    assert.equal(r.status, 0, `signal ${r.signal}: ${r.stderr}`);
    assert.equal(r.stdout, '/dev/fd/N read 0\n/dev/stdin read 0\n');
  });

  it('reads a device that ends at once (/dev/null) as empty, without waiting for a writer as for a pipe', () => {
    // The wait for a pipe's writer is longer than the child is let run.
    assert.equal(inChild(fifo, `readNamedFile('/dev/null', 'the key file', { pipeWaitMs: 600_000 })`), 'read ');
  });

  it('refuses a device that never ends past its cap, and any pipe when only a regular file will do', () => {
    assert.equal(
      inChild(fifo, `readNamedFile('/dev/zero', 'the key file', { maxBytes: 1024 * 1024 })`),
      'USAGE the key file is larger than 1 MiB; refusing it (/dev/zero)',
    );
    assert.equal(
      inChild(fifo, `readNamedFile(fifo, 'the secret', { regularOnly: 'a file of PEM public keys' })`),
      `USAGE the secret is a named pipe, not a file of PEM public keys (${fifo})`,
    );
  });

  it('says a missing file, a link to nothing (naming its target) and a folder by what they are', async () => {
    const read = async (path: string) =>
      readNamedFile(path, 'the key file').then(
        () => 'read',
        (e: unknown) => {
          assert.ok(isProvenantError(e), String(e));
          assert.equal(e.where, path);
          return `${e.code} ${e.message}`;
        },
      );
    assert.equal(await read(join(dir, 'missing')), 'NOT_FOUND the key file does not exist');
    await symlink('nothing.pub', join(dir, 'dangling'));
    assert.equal(await read(join(dir, 'dangling')), 'NOT_FOUND the key file is a symbolic link to nothing.pub, which is not there');
    await mkdir(join(dir, 'folder'));
    assert.equal(await read(join(dir, 'folder')), 'USAGE the key file cannot be read: it is a folder');
    await writeFile(join(dir, 'key'), 'k');
    assert.equal(await read(join(dir, 'key/x')), 'NOT_FOUND the key file does not exist');
    assert.equal(Buffer.from(await readNamedFile(join(dir, 'key'), 'the key file')).toString(), 'k');
  });
});
