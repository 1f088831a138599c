// A build's and a copy's progress as the user sees it: on a real pseudo-terminal (the CLI's own
// process, not a wrapper) a live display, finished steps as lines and the running one redrawn,
// a clean line on Ctrl-C; plain timestamped lines in a log or with CI set; nothing with --quiet.
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MAIN, makeApkProject, ROOT, runCli } from '../helpers/cli.ts';
import { ptyMissing, runInPty } from '../helpers/pty.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('progress');
const CLEAR = '\r\x1b[K';
/** A plain progress line: the time since the start, then the step. */
const PLAIN = /^\[\+\d+\.\ds\] \S/;

describe('progress', () => {
  let dir: string;
  const env = () => ({ PATH: process.env.PATH ?? '', HOME: dir, TERM: 'xterm', SOURCE_DATE_EPOCH: '1700000000' });
  const build = (out: string, ...flags: string[]) => [
    process.execPath,
    MAIN,
    'build',
    'image.yaml',
    '-o',
    out,
    '--cache-dir',
    'cache',
    ...flags,
  ];
  before(async () => {
    dir = await tempDir();
    // 300 kB: a body large enough for the compression workers.
    await makeApkProject(dir, { size: 300_000 });
  });

  it('on a terminal: each finished step as a line, the running one redrawn, then the result on a clean line', {
    skip: ptyMissing,
  }, async () => {
    // A cache of its own (the later --cache-dir wins): with the others' build record this build
    // would install nothing.
    const r = await runInPty(build('oci:live:latest', '--cache-dir', 'cache-live'), { cwd: dir, env: env() });
    assert.equal(r.status, 0, r.output);
    for (const done of [
      /✓ resolved x86_64: 1 package \(\d+\.\ds\)\r\n/,
      /✓ fetched x86_64: 1 package, \d+ kB \(\d+\.\ds\)\r\n/,
      /✓ installed x86_64: 1 package \(\d+\.\ds\)\r\n/,
      /✓ compressed x86_64: 1 layer, \d+ kB \(\d+\.\ds\)\r\n/,
      /✓ wrote to oci:live: 2 blobs, \d+ kB \(\d+\.\ds\)\r\n/,
    ]) {
      assert.match(r.output, done);
    }
    // Running steps are drawn in place: cleared and redrawn, never as lines of their own.
    assert.ok(r.output.includes(`${CLEAR}⠙ `) || r.output.includes(`${CLEAR}⠋ `), JSON.stringify(r.output));
    assert.doesNotMatch(r.output, /\[\+\d/);
    // The result comes after the live line was cleared, at the start of a line.
    const result = r.output.indexOf('oci:live:latest@sha256:');
    assert.ok(result > 0, r.output);
    assert.ok(
      r.output.slice(0, result).endsWith(CLEAR) || r.output.slice(0, result).endsWith('\r\n'),
      JSON.stringify(r.output.slice(result - 40, result)),
    );
    assert.match(r.output.slice(result), /^oci:live:latest@sha256:[0-9a-f]{64}\r\n {2}linux\/amd64 +sha256:[0-9a-f]{64} {2}1 package\r\n$/);
  });

  it('with CI set, a terminal gets plain lines too; --quiet shows nothing', { skip: ptyMissing }, async () => {
    // A first build, so that this one has the same inputs as one before it whichever tests run.
    assert.equal((await runInPty(build('oci:first:latest'), { cwd: dir, env: env() })).status, 0);
    const ci = await runInPty(build('oci:ci:latest'), { cwd: dir, env: { ...env(), CI: 'true' } });
    assert.equal(ci.status, 0, ci.output);
    assert.ok(!ci.output.includes('\x1b'), JSON.stringify(ci.output));
    const lines = ci.output.split('\r\n').filter((l) => l !== '');
    const progress = lines.filter((l) => PLAIN.test(l));
    // The first build made this image from the same inputs: this one takes it from the cache.
    assert.ok(
      progress.some((l) => /\] reused an earlier build's layers for x86_64: 1 package, \d+ kB /.test(l)),
      ci.output,
    );
    assert.deepEqual(lines.slice(progress.length).length, 2, ci.output);
    const quiet = await runInPty(build('oci:quiet:latest', '--quiet'), { cwd: dir, env: env() });
    assert.equal(quiet.status, 0, quiet.output);
    assert.match(quiet.output, /^oci:quiet:latest@sha256:[0-9a-f]{64}\r\n {2}linux\/amd64 [^\r]*\r\n$/);
  });

  it('in a log (standard error not a terminal): timestamped lines on standard error, the result alone on standard output', async () => {
    // A cache of its own: the package is read from the repository, not taken from the cache.
    const r = await runCli(['build', 'image.yaml', '-o', 'oci:log:latest', '--cache-dir', 'cache-log', '--format', 'json'], {
      cwd: dir,
      env: env(),
    });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stderr.trimEnd().split('\n');
    for (const line of lines) assert.match(line, PLAIN);
    assert.deepEqual(
      lines.map((l) =>
        l
          .replace(/^\[\+\d+\.\ds\] /, '')
          .replace(/ \(\d+\.\ds\)$/, '')
          .replace(/\d+ kB/g, 'N kB'),
      ),
      [
        'resolving x86_64',
        'resolved x86_64: 1 package',
        'fetching x86_64: 0/1 package, 0 B',
        'fetched x86_64: 1 package, N kB',
        'installing x86_64: 0/1 package',
        'installed x86_64: 1 package',
        'compressing x86_64: 0/1 layer',
        'compressed x86_64: 1 layer, N kB',
        'writing to oci:log: 0/2 blobs, 0 B/N kB',
        'wrote to oci:log: 2 blobs, N kB',
      ],
    );
    assert.equal(JSON.parse(r.stdout).images.length, 1);
  });

  it('a copy on a terminal shows no percentage of a total it does not know, and clears its line', { skip: ptyMissing }, async () => {
    const example = `oci:${join(ROOT, 'examples', 'hello-oci')}:latest`;
    const r = await runInPty([process.execPath, MAIN, 'copy', example, 'oci:copied:latest'], { cwd: dir, env: env() });
    assert.equal(r.status, 0, r.output);
    assert.doesNotMatch(r.output, /%|0\.0\/0\.0/);
    assert.match(r.output, /copying to oci:copied(:latest)?: \d+ blobs? copied/);
    assert.match(r.output.split(CLEAR).pop() ?? '', /^oci:copied:latest sha256:[0-9a-f]{64}\r\n {2}\d+ blob\(s\) copied/);
  });

  describe('interrupted', () => {
    // A repository that accepts connections and never answers: the build waits in its first step.
    const sockets: Socket[] = [];
    const server = createServer((s) => sockets.push(s));
    let port = 0;
    before(async () => {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as { port: number }).port;
    });
    after(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    });

    it('Ctrl-C on a terminal: the running step drawn once more, marked interrupted, then the message on a line of its own; exit 130', {
      skip: ptyMissing,
    }, async () => {
      const { writeFile } = await import('node:fs/promises');
      await writeFile(
        join(dir, 'hang.yaml'),
        `contents:\n  repositories: [http://127.0.0.1:${port}/alpine]\n  keyring: [./keys/test.rsa.pub]\n  packages: [hello]\narchs: [x86_64]\n`,
      );
      const r = await runInPty([process.execPath, MAIN, 'build', 'hang.yaml', '--cache-dir', 'cache'], {
        cwd: dir,
        env: env(),
        interrupt: 'resolving x86_64 (',
        timeoutSeconds: 30,
      });
      assert.equal(r.status, 130, r.output);
      // After the last clear of the line: the step, marked, and the message on a line of its own.
      assert.match(
        r.output.split(CLEAR).pop() ?? '',
        /^resolving x86_64 \(\d+\.\ds\): interrupted\r\nprovenant build: the (operation|download) was cancelled\r\n$/,
      );
    });
  });
});
