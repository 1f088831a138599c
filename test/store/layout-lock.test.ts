/** Tests of store/layout-lock.ts's judgement of owner files: whose pid can be looked up here. */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { readFile, symlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isProvenantError } from '../../src/errors.ts';
import { type Place, pidVisible } from '../../src/io/place.ts';
import { isStale, LayoutLock, type Owner, parseOwner, readWriters } from '../../src/store/layout-lock.ts';
import { MAIN, ROOT } from '../helpers/cli.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('layout-lock');

// Above the largest pid_max Linux allows (2^22): no process has it.
const NO_SUCH_PID = 4_194_305;
const linux = process.platform === 'linux';
const HERE: Place = { host: 'h', pidns: 'pid:[4026531836]', boot: 'b-1' };
const owner = (o: Partial<Owner>): Owner => ({ host: 'h', pid: NO_SUCH_PID, id: 'x', ...o });

/** Whether this process may make a pid namespace (root on Linux, with util-linux's unshare). */
function unshareWorks(): boolean {
  if (!linux) return false;
  try {
    execFileSync('unshare', ['--pid', '--fork', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('layout lock owners', () => {
  it('looks a pid up only on the same host, pid namespace and boot', () => {
    assert.equal(pidVisible(owner({ pidns: HERE.pidns, boot: HERE.boot }), HERE), true);
    assert.equal(pidVisible(owner({ pidns: 'pid:[4026532999]', boot: HERE.boot }), HERE), false);
    assert.equal(pidVisible(owner({ pidns: HERE.pidns, boot: 'b-2' }), HERE), false);
    assert.equal(pidVisible(owner({ host: 'other', pidns: HERE.pidns, boot: HERE.boot }), HERE), false);
    // Where this process cannot read its own namespace, a line that names one is not comparable.
    assert.equal(pidVisible(owner({ pidns: HERE.pidns, boot: HERE.boot }), { host: 'h' }), false);
    // Lines of older versions name neither: the host decides, as it did.
    assert.equal(pidVisible(owner({}), HERE), true);
    assert.equal(pidVisible(owner({ host: 'other' }), HERE), false);
  });

  it('takes a dead pid for a gone owner only where the pid is visible; elsewhere the age decides', () => {
    const now = Date.now();
    assert.equal(isStale(owner({ pidns: HERE.pidns, boot: HERE.boot }), now, 60_000, HERE), true);
    assert.equal(isStale(owner({}), now, 60_000, HERE), true);
    const elsewhere = owner({ pidns: 'pid:[4026532999]', boot: HERE.boot });
    assert.equal(isStale(elsewhere, now, 60_000, HERE), false);
    assert.equal(isStale(elsewhere, now - 120_000, 60_000, HERE), true);
    assert.equal(isStale(owner({ pid: process.pid, pidns: HERE.pidns, boot: HERE.boot }), now, 60_000, HERE), false);
  });

  it('leaves a lock whose very process runs here, however old; an older line or a foreign one goes by its age', () => {
    const now = Date.now();
    const old = now - 2 * 3600_000;
    const alive = owner({ pid: process.pid, pidns: HERE.pidns, boot: HERE.boot, start: '4711' });
    const running =
      (start: string, state = 'S') =>
      () => ({ state, start });
    assert.equal(isStale(alive, old, 60_000, HERE, running('4711')), false);
    assert.equal(isStale(alive, old, 60_000, HERE, running('4711', 'T')), false);
    // The pid runs another process (reused), or the owner has ended and waits to be collected.
    assert.equal(isStale(alive, now, 60_000, HERE, running('9999')), true);
    assert.equal(isStale(alive, now, 60_000, HERE, running('4711', 'Z')), true);
    // No start time in the line (an older version), or none to compare with: the age decides.
    const older = owner({ pid: process.pid, pidns: HERE.pidns, boot: HERE.boot });
    assert.equal(isStale(older, old, 60_000, HERE, running('4711')), true);
    assert.equal(isStale(older, now, 60_000, HERE, running('4711')), false);
    assert.equal(
      isStale(alive, old, 60_000, HERE, () => undefined),
      true,
    );
    // On another boot the start time means nothing here.
    assert.equal(isStale({ ...alive, boot: 'b-0' }, old, 60_000, HERE, running('4711')), true);
  });

  it('reads owner lines of this version and older ones, and nothing else', () => {
    assert.deepEqual(parseOwner('{"host":"h","pid":7,"id":"a"}'), { host: 'h', pid: 7, id: 'a' });
    assert.deepEqual(parseOwner('{"host":"h","pid":7,"id":"a","pidns":"pid:[1]","boot":"b"}'), {
      host: 'h',
      pid: 7,
      id: 'a',
      pidns: 'pid:[1]',
      boot: 'b',
    });
    assert.deepEqual(parseOwner('{"host":"h","pid":7,"id":"a","boot":"b","start":"123"}'), {
      host: 'h',
      pid: 7,
      id: 'a',
      boot: 'b',
      start: '123',
    });
    assert.deepEqual(parseOwner('{"host":"h","pid":7,"id":"a","pidns":3,"start":123}'), { host: 'h', pid: 7, id: 'a' });
    assert.equal(parseOwner('{"host":"h","pid":"7","id":"a"}'), undefined);
    assert.equal(parseOwner('{"host":"h",'), undefined);
  });

  it('says, once another process holds the lock it lost, what it did not do', async () => {
    const dir = await tempDir();
    const lock = await LayoutLock.acquire(dir);
    await lock.assertHeld('oci:x', 'index.json was not written');
    const other = JSON.stringify(owner({ host: 'elsewhere', pid: 77, id: 'theirs' }));
    await writeFile(join(dir, '.provenant-lock'), `${other}\n`);
    await assert.rejects(lock.assertHeld('oci:x', 'nothing was deleted'), (err: unknown) => {
      assert.ok(isProvenantError(err, 'IO'));
      assert.equal(err.message, 'this process lost the lock while it held it (pid 77 on elsewhere holds it now); nothing was deleted');
      return true;
    });
    await lock.release();
  });

  it('names its pid namespace and boot in the lock it holds', { skip: !linux && 'pid namespaces are Linux' }, async () => {
    const dir = await tempDir();
    const lock = await LayoutLock.acquire(dir);
    const line = (await readFile(join(dir, '.provenant-lock'), 'utf8')).split('\n')[0];
    await lock.release();
    assert.deepEqual(parseOwner(line), {
      host: hostname(),
      pid: process.pid,
      id: parseOwner(line)?.id,
      pidns: readlinkSync('/proc/self/ns/pid'),
      boot: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
      start: readFileSync('/proc/self/stat', 'latin1')
        .replace(/^.*\) /s, '')
        .split(' ')[19],
    });
  });

  it('leaves the lock and the writer list of a process in another pid namespace of this host', {
    skip: !linux && 'pid namespaces are Linux',
  }, async () => {
    const dir = await tempDir();
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    // As a writer in a container with host networking writes it: this host name, its own pids.
    const line = (id: string) => `${JSON.stringify({ host: hostname(), pid: NO_SUCH_PID, id, pidns: 'pid:[4026532999]', boot })}\n`;
    await writeFile(join(dir, '.provenant-lock'), line('held'));
    await assert.rejects(
      LayoutLock.acquire(dir, { waitMs: 200 }),
      (e: unknown) => isProvenantError(e, 'IO') && /locked by pid 4194305 on /.test(e.message),
    );
    assert.equal((await readFile(join(dir, '.provenant-lock'), 'utf8')).split('\n')[0], line('held').trim());
    const digest = `sha256:${'a'.repeat(64)}`;
    await writeFile(join(dir, '.provenant-writer-w1'), `${line('w1')}${digest} application/octet-stream\n`);
    let writers = await readWriters(dir);
    assert.deepEqual([...writers.live], ['w1']);
    assert.deepEqual(writers.stale, []);
    assert.deepEqual([...writers.pending.keys()], [digest]);
    // Once it stops refreshing its file, it is gone like any other.
    const old = new Date(Date.now() - 2 * 3600_000);
    await utimes(join(dir, '.provenant-writer-w1'), old, old);
    writers = await readWriters(dir);
    assert.deepEqual(writers.stale, [join(dir, '.provenant-writer-w1')]);
  });

  it("looks no pid up in a pid namespace whose /proc is the host's: its /proc/PID is another process", {
    skip: !unshareWorks() && 'needs unshare --pid (root on Linux)',
  }, () => {
    // A live owner line naming this very process, with a start time no process has: where /proc
    // is ours, that start says the pid runs another process now; under `unshare --pid --fork`
    // without --mount-proc, /proc/PID is the host's process of that number, which says nothing
    // of ours, so only the line's age may decide.
    const code = `
      import { thisPlace } from ${JSON.stringify(join(ROOT, 'src/io/place.ts'))};
      import { isStale } from ${JSON.stringify(join(ROOT, 'src/store/layout-lock.ts'))};
      const owner = { ...thisPlace(), pid: process.pid, id: 'x', start: '999999999999' };
      console.log(JSON.stringify({ pid: process.pid, stale: isStale(owner, Date.now(), 60_000) }));`;
    const judge = (prefix: string[]) =>
      JSON.parse(
        execFileSync(prefix[0] ?? process.execPath, [...prefix.slice(1), process.execPath, '--input-type=module', '-e', code], {
          encoding: 'utf8',
        }),
      );
    assert.deepEqual(judge(['unshare', '--pid', '--fork']), { pid: 1, stale: false });
    assert.equal(judge(['env']).stale, true);
  });

  it("refuses a named pipe or a link in an owner file's place, rather than wait on it or read its target", {
    skip: !linux && 'mkfifo',
    timeout: 20_000,
  }, async () => {
    const dir = await tempDir();
    execFileSync('mkfifo', [join(dir, '.provenant-lock')]);
    const refused = (what: RegExp) => (e: unknown) => {
      assert.ok(isProvenantError(e, 'INVALID_LAYOUT'), String(e));
      assert.match(e.message, what);
      return true;
    };
    await assert.rejects(LayoutLock.acquire(dir, { waitMs: 1000 }), refused(/\.provenant-lock is not a regular file/));
    const other = await tempDir();
    execFileSync('mkfifo', [join(other, '.provenant-writer-w1')]);
    await assert.rejects(readWriters(other), refused(/\.provenant-writer-w1 is not a regular file/));
    const linked = await tempDir();
    await writeFile(join(linked, 'secret'), '{"host":"h","pid":1,"id":"x"}\n');
    await symlink(join(linked, 'secret'), join(linked, '.provenant-lock'));
    await assert.rejects(LayoutLock.acquire(linked, { waitMs: 1000 }), refused(/\.provenant-lock is a link/));
  });
});

describe('waiting for a layout lock', () => {
  it('says what a copy waits for, and a Ctrl-C then ends it at once, leaving no writer file', async () => {
    const dir = join(await tempDir(), 'held');
    cpSync(join(ROOT, 'examples', 'hello-oci'), dir, { recursive: true });
    const lock = await LayoutLock.acquire(dir);
    try {
      const child = spawn(process.execPath, [MAIN, 'copy', `oci:${join(ROOT, 'examples', 'hello-oci')}:latest`, `oci:${dir}:v2`], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      await new Promise<void>((resolve) => {
        child.stderr.setEncoding('utf8').on('data', (d: string) => {
          stderr += d;
          if (/waiting for it to finish/.test(stderr)) resolve();
        });
        // A copy that never says it waits is interrupted anyway, so that this test fails rather than hangs.
        setTimeout(resolve, 30_000).unref();
        void exited.then(() => resolve());
      });
      child.kill('SIGINT');
      const status = await exited;
      assert.match(stderr, new RegExp(`oci:${dir}: the layout is locked by pid ${process.pid} on .+; waiting for it to finish`));
      assert.equal(status, 130, stderr);
      assert.match(stderr, /the operation was cancelled/);
      assert.doesNotMatch(stderr, /without cleaning up/);
      assert.deepEqual(
        readdirSync(dir).filter((n) => n.startsWith('.provenant-writer-')),
        [],
      );
    } finally {
      await lock.release();
    }
  });
});
