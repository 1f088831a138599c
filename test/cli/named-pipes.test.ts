/**
 * A named pipe given as `--key` or `--trusted-root`: read when something writes to it (bash's
 * process substitution, `--key <(cat cosign.key)`, hands over /dev/fd/N, a pipe), and never waited
 * on past an interrupt. It was opened with a plain open(), which waits in a thread of libuv for a
 * writer; that thread outlived SIGTERM and SIGINT, and the process hung for good.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateEncryptedKeyPair } from '../../src/sign/keys.ts';
import { MAIN, runCli } from '../helpers/cli.ts';
import { NO_HOME, useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('named-pipes');
const PASSWORD = 'pipe dream';
const image = `oci:${join(import.meta.dirname, '..', '..', 'examples', 'hello-oci')}:latest`;

/** Children still running when a test failed: killed, so that none outlives the run. */
const running = new Set<ChildProcess>();
after(() => {
  for (const child of running) child.kill('SIGKILL');
});

/** Whether the process `pid` has `path` open (false once it is gone). */
function holds(pid: number, path: string): boolean {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === path;
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/**
 * Runs `provenant args` in `dir`, and once it holds `fifo` open (or has had a while to: a process
 * stuck in open() does not hold it yet) sends it `signal`; resolves with how it ended, or with
 * `hung` when it had not ended a minute later.
 */
async function interrupted(
  args: string[],
  dir: string,
  fifo: string,
  signal: NodeJS.Signals,
): Promise<{ code: number | null; stderr: string } | 'hung'> {
  const child = spawn(process.execPath, [MAIN, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: NO_HOME, DOCKER_CONFIG: '/nonexistent', COSIGN_PASSWORD: PASSWORD },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  let exited = false;
  const ended = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.on('close', (code) => {
      exited = true;
      running.delete(child);
      resolve({ code, stderr });
    }),
  );
  for (let waited = 0; waited < 3000 && !exited && !holds(child.pid!, fifo); waited += 20) {
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => {
    timer = setTimeout(() => resolve('hung'), 60_000);
  });
  const result = await Promise.race([ended, hung]);
  clearTimeout(timer);
  return result;
}

// A bound for each test, so that a process that hangs fails it rather than the run.
describe('a named pipe as --key or --trusted-root', { timeout: 300_000 }, () => {
  let dir: string;
  let made = 0;
  /** A new named pipe in `dir`: one per test, so that a process one left waiting cannot take another's bytes. */
  const newFifo = (): string => {
    const fifo = join(dir, `fifo-${++made}`);
    const r = spawnSync('mkfifo', [fifo]);
    assert.equal(r.status, 0, String(r.stderr));
    return fifo;
  };
  before(async () => {
    dir = await tempDir();
    const pair = await generateEncryptedKeyPair(PASSWORD);
    await writeFile(join(dir, 'cosign.key'), pair.privateKeyPem);
    await writeFile(join(dir, 'cosign.pub'), pair.publicKeyPem);
  });

  it('nothing writing to it: SIGTERM during sign --key ends the process at once, cancelled (exit 130)', async () => {
    const fifo = newFifo();
    const r = await interrupted(['sign', '--key', fifo, image], dir, fifo, 'SIGTERM');
    assert.notEqual(r, 'hung', 'the process outlived SIGTERM');
    if (r === 'hung') return;
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /the operation was cancelled/);
    // Ended by the signal the read heeds, not by the grace time after which dispatch gives up.
    assert.doesNotMatch(r.stderr, /still running/);
  });

  it('nothing writing to it: SIGINT during sign --tlog-upload --trusted-root ends the process, cancelled (exit 130)', async () => {
    const fifo = newFifo();
    const r = await interrupted(['sign', '--key', 'cosign.key', '--tlog-upload', '--trusted-root', fifo, image], dir, fifo, 'SIGINT');
    assert.notEqual(r, 'hung', 'the process outlived SIGINT');
    if (r === 'hung') return;
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /the operation was cancelled/);
  });

  it('nothing writing to it: SIGTERM during verify --key, verify --trusted-root and verify-attestation --key ends the process at once (exit 130)', async () => {
    const fifo = newFifo();
    for (const args of [
      ['verify', '--key', fifo, image],
      ['verify', '--key', 'cosign.pub', '--trusted-root', fifo, image],
      ['verify-attestation', '--key', fifo, image],
    ]) {
      const r = await interrupted(args, dir, fifo, 'SIGTERM');
      assert.notEqual(r, 'hung', `${args.join(' ')}: the process outlived SIGTERM`);
      if (r === 'hung') return;
      assert.equal(r.code, 130, r.stderr);
      // Ended by the signal the read heeds, not by the grace time after which dispatch gives up.
      assert.doesNotMatch(r.stderr, /still running/, args.join(' '));
    }
  });

  // A final read: these read the file without the command's signal, and ended only when
  // dispatch gave up 5 s after SIGTERM ("still running").
  it('nothing writing to it: SIGTERM during verify --policy --trusted-root, policy test --trusted-root and reproduce --key ends the process at once (exit 130)', async () => {
    const fifo = newFifo();
    await writeFile(
      join(dir, 'policy.yaml'),
      'apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: any}\nspec:\n  images: [{glob: "**"}]\n  authorities: [{static: {action: pass}}]\n',
    );
    for (const args of [
      ['verify', '--policy', 'policy.yaml', '--trusted-root', fifo, image],
      ['policy', 'test', 'policy.yaml', '--trusted-root', fifo, image],
      ['reproduce', '--key', fifo, image],
    ]) {
      const r = await interrupted(args, dir, fifo, 'SIGTERM');
      assert.notEqual(r, 'hung', `${args.join(' ')}: the process outlived SIGTERM`);
      if (r === 'hung') return;
      assert.equal(r.code, 130, `${args.join(' ')}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /still running/, args.join(' '));
    }
  });

  it('nothing writing to it: SIGTERM during public-key --key ends the process at once, cancelled (exit 130)', async () => {
    const fifo = newFifo();
    const r = await interrupted(['public-key', '--key', fifo], dir, fifo, 'SIGTERM');
    assert.notEqual(r, 'hung', 'the process outlived SIGTERM');
    if (r === 'hung') return;
    assert.equal(r.code, 130, r.stderr);
    assert.doesNotMatch(r.stderr, /still running/);
  });

  // A final read: a key refused for its size was given the hint about a PEM of another type.
  it('a --key refused for its size (/dev/zero) is said so, without the hint about what a key file holds', async () => {
    const r = await runCli(['verify', '--key', '/dev/zero', image], { cwd: dir, env: { HOME: NO_HOME } });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /the key file is larger than 16 MiB; refusing it/);
    assert.doesNotMatch(r.stderr, /--key takes a public key/);
  });

  it('bash process substitution (/dev/fd/N) is read: public-key --key <(cat cosign.key), verify --key <(cat cosign.pub)', async () => {
    const env = `COSIGN_PASSWORD='${PASSWORD}'`;
    const node = JSON.stringify(process.execPath);
    const main = JSON.stringify(MAIN);
    const pub = spawnSync('bash', ['-c', `${env} ${node} ${main} public-key --key <(cat cosign.key)`], {
      cwd: dir,
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', HOME: NO_HOME },
      timeout: 60_000,
    });
    assert.equal(pub.status, 0, pub.stderr);
    assert.match(pub.stdout, /^-----BEGIN PUBLIC KEY-----\n/);
    // The key read, the image has no signature: exit 5, about the image.
    const verified = spawnSync('bash', ['-c', `${node} ${main} verify --key <(cat cosign.pub) ${image}`], {
      cwd: dir,
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', HOME: NO_HOME, DOCKER_CONFIG: '/nonexistent' },
      timeout: 60_000,
    });
    assert.equal(verified.status, 5, verified.stderr);
    assert.match(verified.stderr, /has no signatures/);
  });

  it('a writer that comes after the read began is waited for, and read to its end', async () => {
    const fifo = newFifo();
    const run = runCli(['public-key', '--key', fifo], { cwd: dir, env: { COSIGN_PASSWORD: PASSWORD } });
    // Opening the pipe to write waits for its reader: the CLI.
    await writeFile(fifo, await readFile(join(dir, 'cosign.key')));
    const r = await run;
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^-----BEGIN PUBLIC KEY-----\n/);
  });
});
