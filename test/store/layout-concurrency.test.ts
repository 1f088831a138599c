// LayoutStore shared by several processes: writers and a gc at once, and the lock protocol.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { isProvenantError } from '../../src/errors.ts';
import { bytesSource } from '../../src/io/types.ts';
import { collect } from '../../src/io/verify.ts';
import { encodeJson, parseStored, type Stored } from '../../src/oci/content.ts';
import { digestHex, digestOf } from '../../src/oci/digest.ts';
import { isManifestLike, MediaType } from '../../src/oci/mediatypes.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { LayoutLock } from '../../src/store/layout-lock.ts';
import { makeImage, toolMissing } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';

// Several processes writing one layout at once, with `gc` running beside them: every tag
// survives, and every tagged image is whole. Separate Node processes, because what broke was
// the locking across processes (issue 9, item 2).

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'src', 'cli', 'main.ts');
const gcLoop = join(root, 'test', 'helpers', 'layout-gc-loop.ts');
const writer = join(root, 'test', 'helpers', 'layout-writer.ts');
const N = 8;
const ROUNDS = 3;

const tempDir = useTempDir('layout-conc');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Reads every manifest and blob an entry reaches, each checked against its digest. */
async function readWhole(store: LayoutStore, stored: Stored): Promise<number> {
  let blobs = 0;
  const children = stored.kind === 'index' ? stored.index.manifests : [stored.manifest.config, ...stored.manifest.layers];
  for (const child of children) {
    if (isManifestLike(child.mediaType)) blobs += await readWhole(store, await store.getManifest(child.digest));
    else {
      await collect(await store.readBlob(child), 1 << 26, child.digest);
      blobs++;
    }
  }
  return blobs;
}

describe('LayoutStore across processes', () => {
  let source = '';
  const images: Stored[] = [];
  before(async () => {
    source = join(await tempDir(), 'src');
    const store = await LayoutStore.open(source, { create: true });
    // Distinct images (no shared blobs), so each copy's blobs are unreferenced until its tag
    // lands: what a gc running beside it must not take.
    for (let i = 0; i < N; i++) {
      const made = await makeImage(store, { tag: `t${i}`, layers: 3, layerBytes: 256 * 1024, seed: 1000 * (i + 1) });
      images.push(made.root);
    }
  });

  it(`keeps all ${N} tags of ${N} concurrent copies into one existing layout`, async () => {
    const dest = join(await tempDir(), 'dest');
    await (await LayoutStore.open(dest, { create: true })).close();
    const copies = await Promise.all(
      Array.from({ length: N }, (_, i) => run([cli, 'copy', '--quiet', `oci:${source}:t${i}`, `oci:${dest}:t${i}`])),
    );
    for (const [i, c] of copies.entries()) assert.equal(c.status, 0, `copy ${i}: ${c.stderr}`);
    const store = await LayoutStore.open(dest);
    assert.deepEqual(
      await store.listTags(),
      Array.from({ length: N }, (_, i) => `t${i}`),
    );
    // Nothing of ours is left in the layout once every writer is done.
    assert.deepEqual((await readdir(dest)).sort(), ['blobs', 'index.json', 'oci-layout']);
  });

  it(`keeps all ${N} tags of ${N} concurrent copies with gc looping beside them, over ${ROUNDS} rounds`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const base = await tempDir();
      // The layout does not exist yet: the copies also race to create it.
      const dest = join(base, 'dest');
      const stop = join(base, 'stop');
      const gc = run([gcLoop, dest, stop]);
      const copies = await Promise.all(
        Array.from({ length: N }, (_, i) => run([cli, 'copy', '--quiet', `oci:${source}:t${i}`, `oci:${dest}:t${i}`])),
      );
      await writeFile(stop, '');
      const gcRun = await gc;
      for (const [i, c] of copies.entries()) assert.equal(c.status, 0, `round ${round}, copy ${i}: ${c.stderr}`);
      assert.equal(gcRun.status, 0, `round ${round}, gc: ${gcRun.stderr}`);
      const rounds = (JSON.parse(gcRun.stdout) as { rounds: number }).rounds;
      assert.ok(rounds > 0, `round ${round}: gc never ran`);

      const store = await LayoutStore.open(dest);
      assert.deepEqual(
        await store.listTags(),
        Array.from({ length: N }, (_, i) => `t${i}`),
        `round ${round}`,
      );
      for (let i = 0; i < N; i++) {
        const stored = await store.getManifest(`t${i}`);
        assert.equal(stored.digest, images[i]!.digest);
        assert.equal(await readWhole(store, stored), 2 * 4, `round ${round}, t${i}`);
      }
      // And a gc now (nothing else running) keeps all of it.
      await store.gc();
      for (let i = 0; i < N; i++) await readWhole(store, await store.getManifest(`t${i}`));
    }
  });
});

/**
 * Starts layout-writer.ts with `args`, and returns once it has printed `ready` and stopped itself
 * (its state in /proc is `T`).
 */
async function startStopped(
  args: string[],
): Promise<{ pid: number; kill: (s: NodeJS.Signals) => void; exited: Promise<number | null>; output: () => string }> {
  const child = spawn(process.execPath, [writer, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  await new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      if (out.includes('ready\n')) resolve();
    });
    exited.then((status) => reject(new Error(`the writer exited (${status}) before it was ready: ${out}`)));
  });
  const pid = child.pid;
  assert.ok(pid !== undefined);
  while ((await readFile(`/proc/${pid}/stat`, 'latin1')).replace(/^.*\) /s, '')[0] !== 'T') await sleep(5);
  return { pid, kill: (s) => child.kill(s), exited, output: () => out };
}

/** A pid that was running a moment ago and is not now. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  assert.ok(r.pid !== undefined);
  return r.pid;
}

async function newLayout(): Promise<{ dir: string; store: LayoutStore }> {
  const dir = join(await tempDir(), 'l');
  return { dir, store: await LayoutStore.open(dir, { create: true }) };
}

describe('LayoutStore lock and gc protocol', () => {
  it('waits for a lock another process holds before changing index.json', async () => {
    const { dir, store } = await newLayout();
    const made = await makeImage(store, { platforms: [{ os: 'linux', architecture: 'amd64' }], layers: 1 });
    const holder = spawn(process.execPath, [writer, 'hold-lock', dir, '1500'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => holder.once('close', resolve));
    await Promise.race([
      new Promise<void>((resolve) => holder.stdout.once('data', () => resolve())),
      exited.then((status) => Promise.reject(new Error(`the lock holder exited (${status}) before it held the lock`))),
    ]);
    const started = Date.now();
    await store.putManifest(made.root, { tags: ['after-lock'] });
    const waited = Date.now() - started;
    assert.equal(await exited, 0);
    assert.ok(waited >= 1000, `tagged after ${waited} ms, while another process held the lock`);
    assert.deepEqual(await (await LayoutStore.open(dir)).listTags(), ['after-lock']);
  });

  it('breaks a lock whose process died, and one from another host that went stale', async () => {
    const { dir, store } = await newLayout();
    const made = await makeImage(store, { platforms: [{ os: 'linux', architecture: 'amd64' }], layers: 1 });
    const lock = join(dir, '.provenant-lock');
    await writeFile(lock, `${JSON.stringify({ host: hostname(), pid: deadPid(), id: 'crashed' })}\n`);
    const started = Date.now();
    await store.putManifest(made.root, { tags: ['a'] });
    assert.ok(Date.now() - started < 5000);
    await assert.rejects(stat(lock), { code: 'ENOENT' });

    await writeFile(lock, `${JSON.stringify({ host: 'elsewhere.invalid', pid: 1, id: 'remote' })}\n`);
    const old = new Date(Date.now() - 120_000);
    await utimes(lock, old, old);
    await store.putManifest(made.root, { tags: ['b'] });
    await assert.rejects(stat(lock), { code: 'ENOENT' });
    assert.deepEqual(await store.listTags(), ['a', 'b']);
  });

  it('gives up with a typed error when a live holder keeps the lock too long', async () => {
    const { dir, store } = await newLayout();
    const made = await makeImage(store, { platforms: [{ os: 'linux', architecture: 'amd64' }], layers: 1 });
    // This process is alive, so its lock is not stale.
    await writeFile(join(dir, '.provenant-lock'), `${JSON.stringify({ host: hostname(), pid: process.pid, id: 'held' })}\n`);
    const impatient = await LayoutStore.open(dir, { lockWaitMs: 300 });
    await assert.rejects(
      impatient.putManifest(made.root, { tags: ['never'] }),
      (e: unknown) => isProvenantError(e, 'IO') && /locked by pid \d+ on /.test(e.message) && e.hint !== undefined,
    );
    await rm(join(dir, '.provenant-lock'));
  });

  it('leaves the lock of a stopped holder on this host, however old, and takes it once it is gone', {
    skip: process.platform !== 'linux' && 'SIGSTOP and /proc',
  }, async () => {
    const { dir } = await newLayout();
    const lock = join(dir, '.provenant-lock');
    const holder = await startStopped(['stop-holding-lock', dir]);
    try {
      const held = await readFile(lock, 'utf8');
      // Not refreshed for two hours, as a holder stopped with Ctrl-Z leaves it.
      const old = new Date(Date.now() - 2 * 3600_000);
      await utimes(lock, old, old);
      await assert.rejects(
        LayoutLock.acquire(dir, { waitMs: 300 }),
        (e: unknown) => isProvenantError(e, 'IO') && new RegExp(`locked by pid ${holder.pid} on .*, which is stopped`).test(e.message),
      );
      assert.equal(await readFile(lock, 'utf8'), held);
    } finally {
      holder.kill('SIGCONT');
    }
    assert.equal(await holder.exited, 0);
    await assert.rejects(stat(lock), { code: 'ENOENT' });
    // Stopped again and then killed: a dead holder's lock is broken at once, fresh as it is.
    const dying = await startStopped(['stop-holding-lock', dir]);
    dying.kill('SIGKILL');
    await dying.exited;
    await (await LayoutLock.acquire(dir, { waitMs: 60_000 })).release();
  });

  it('refuses to put index.json in place once its lock was taken from it, and keeps the newer tag', {
    skip: process.platform !== 'linux' && 'SIGSTOP and /proc',
  }, async () => {
    const { dir, store } = await newLayout();
    const made = await makeImage(store, { platforms: [{ os: 'linux', architecture: 'amd64' }], layers: 1 });
    await store.putManifest(made.root, { tags: ['base'] });
    const stalled = await startStopped(['stop-tagging', dir, 'from-stalled']);
    try {
      // What a writer on another host does once the stopped holder's lock is past its age (a
      // holder on this host keeps it: see the test before): break it, then tag under its own.
      await rm(join(dir, '.provenant-lock'));
      await store.putManifest(made.root, { tags: ['newer'] });
    } finally {
      stalled.kill('SIGCONT');
    }
    assert.equal(await stalled.exited, 0);
    assert.match(stalled.output(), /^refused IO$/m);
    assert.deepEqual(await (await LayoutStore.open(dir)).listTags(), ['base', 'newer']);
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.includes('.tmp-')),
      [],
    );
  });

  it('keeps what another writer stored and has not tagged yet, and takes it once that writer is gone', async () => {
    const { dir, store: made } = await newLayout();
    await made.close();
    const writing = await LayoutStore.open(dir);
    const layer = new TextEncoder().encode('a layer not tagged yet');
    const ld = { mediaType: MediaType.OciLayerGzip, digest: digestOf(layer), size: layer.length };
    await writing.putBlob(bytesSource(ld, layer));
    const config = encodeJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
    const cd = { mediaType: MediaType.OciConfig, digest: digestOf(config), size: config.length };
    await writing.putBlob(bytesSource(cd, config));

    const collector = await LayoutStore.open(dir);
    assert.deepEqual((await collector.gc()).removed, []);
    const manifest = parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: cd, layers: [ld] }));
    await writing.putManifest(manifest, { tags: ['late'] });
    await collect(await collector.readBlob(ld), 1 << 20, 'test');
    await writing.close();

    // A writer that died without closing protects nothing.
    const child = spawnSync(process.execPath, [writer, 'put-blob', dir, 'written by a process that then died'], { encoding: 'utf8' });
    assert.equal(child.status, 0, child.stderr);
    const orphan = child.stdout.trim().split(' ')[1]!;
    assert.ok((await readdir(dir)).some((n) => n.startsWith('.provenant-writer-')));
    assert.deepEqual((await collector.gc()).removed, [orphan]);
    assert.deepEqual((await readdir(dir)).sort(), ['blobs', 'index.json', 'oci-layout']);
    await collect(await collector.readBlob(ld), 1 << 20, 'test');
  });

  it('keeps a partial file another writer is writing, and removes and counts stale ones', async () => {
    const { dir } = await newLayout();
    const writing = await LayoutStore.open(dir);
    const bytes = new Uint8Array(3 * 65536).fill(7);
    const d = { mediaType: 'application/octet-stream', digest: digestOf(bytes), size: bytes.length };
    let resume: () => void = () => {};
    let halfway: () => void = () => {};
    const paused = new Promise<void>((resolve) => {
      halfway = resolve;
    });
    const put = writing.putBlob({
      descriptor: d,
      open: async () =>
        (async function* () {
          yield bytes.subarray(0, 65536);
          halfway();
          await new Promise<void>((resolve) => {
            resume = resolve;
          });
          yield bytes.subarray(65536);
        })(),
    });
    await paused;
    // Left by an interrupted write of an older version, and by a writer that is gone.
    await writeFile(join(dir, 'blobs', 'sha256', '.tmp-0123456789abcdef'), new Uint8Array(1000));
    await writeFile(join(dir, 'blobs', 'sha256', '.tmp-feedfacefeedface-00000000'), new Uint8Array(24));
    await writeFile(join(dir, 'index.json.tmp-abcdef'), '{');
    const stale = {
      count: 3,
      bytes: 1025,
      files: [
        { path: join('blobs', 'sha256', '.tmp-0123456789abcdef'), size: 1000 },
        { path: join('blobs', 'sha256', '.tmp-feedfacefeedface-00000000'), size: 24 },
        { path: 'index.json.tmp-abcdef', size: 1 },
      ],
    };
    // A dry run lists the same stale files, not the live writer's, and removes none.
    const plan = await (await LayoutStore.open(dir)).gc({ dryRun: true });
    assert.deepEqual(plan.partials, stale);
    assert.equal((await stat(join(dir, 'index.json.tmp-abcdef'))).size, 1);
    const result = await (await LayoutStore.open(dir)).gc();
    assert.deepEqual(result.partials, stale);
    resume();
    assert.equal(await put, 'stored');
    assert.deepEqual(await readdir(join(dir, 'blobs', 'sha256')), [digestHex(d.digest)]);
    await writing.close();
  });

  it("removes what a writer killed on this host left when the next one starts, never a live writer's", async (t) => {
    const { dir, store } = await newLayout();
    const started: Array<{ kill: (s: NodeJS.Signals) => void }> = [];
    // Killed whatever fails: a writer left running would keep the test's process waiting.
    t.after(() => {
      for (const c of started) c.kill('SIGKILL');
    });
    await makeImage(store, { tag: 'base', platforms: [{ os: 'linux', architecture: 'amd64' }], layers: 1 });
    await store.close();
    /** layout-writer.ts put-partial: running, with its list and a partial blob file in the layout. */
    const partway = async (n: number) => {
      const child = spawn(process.execPath, [writer, 'put-partial', dir, String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
      started.push(child);
      const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
      const partial = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.setEncoding('utf8').on('data', (s: string) => {
          out += s;
          const m = /^ready (\S+)\n/.exec(out);
          if (m !== null) resolve(m[1]!);
        });
        void exited.then(() => reject(new Error(`the writer exited before it was ready: ${out}`)));
      });
      return { child, exited, partial };
    };
    const ours = async () => ({
      top: (await readdir(dir)).filter((n) => n.startsWith('.')).sort(),
      blobs: (await readdir(join(dir, 'blobs', 'sha256'))).filter((n) => n.startsWith('.')).sort(),
    });
    const live = await partway(1);
    const dead = await partway(2);
    // Every file of ours in a layout starts with `.provenant-` (docs/design-notes.md).
    for (const p of [live.partial, dead.partial]) assert.match(p, /^\.provenant-tmp-[0-9a-f]{16}-/);
    const writerOf = (partial: string) => `.provenant-writer-${partial.split('-')[2]}`;
    dead.child.kill('SIGKILL');
    await dead.exited;
    assert.deepEqual(await ours(), {
      top: [writerOf(dead.partial), writerOf(live.partial)].sort(),
      blobs: [dead.partial, live.partial].sort(),
    });

    // A dry run lists the dead writer's list with its partial file, and removes neither.
    const plan = await (await LayoutStore.open(dir)).gc({ dryRun: true });
    assert.deepEqual(
      plan.partials.files.map((f) => f.path),
      [writerOf(dead.partial), join('blobs', 'sha256', dead.partial)],
    );

    // The next writer removes the dead writer's files, and leaves the live one's.
    const next = await LayoutStore.open(dir);
    const bytes = new TextEncoder().encode('the next writer');
    await next.putBlob(bytesSource({ mediaType: 'application/octet-stream', digest: digestOf(bytes), size: bytes.length }, bytes));
    const own = (await readdir(dir)).filter((n) => n.startsWith('.provenant-writer-') && n !== writerOf(live.partial));
    assert.equal(own.length, 1); // the next writer's own list
    assert.deepEqual(await ours(), { top: [...own, writerOf(live.partial)].sort(), blobs: [live.partial] });
    await next.close();

    live.child.kill('SIGKILL');
    await live.exited;
    const last = await LayoutStore.open(dir);
    await last.putManifest(await last.getManifest('base'), { tags: ['again'] });
    await last.close();
    assert.deepEqual(await ours(), { top: [], blobs: [] });
    if (!toolMissing('umoci')) {
      const r = spawnSync('umoci', ['gc', '--layout', dir], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    }
  });

  it('moves back what a gc that died had moved aside, before the next change', async () => {
    const { dir, store } = await newLayout();
    const made = await makeImage(store, { platforms: [{ os: 'linux', architecture: 'amd64' }], layers: 1 });
    const layer = made.manifests[0]!.kind === 'manifest' ? made.manifests[0]!.manifest.layers[0]! : undefined;
    assert.ok(layer);
    // As a gc leaves it when it dies between moving a blob aside and putting it back.
    await mkdir(join(dir, '.provenant-gc-trash', 'sha256'), { recursive: true });
    await rename(
      join(dir, 'blobs', 'sha256', digestHex(layer.digest)),
      join(dir, '.provenant-gc-trash', 'sha256', digestHex(layer.digest)),
    );
    await store.putManifest(made.root, { tags: ['v1'] });
    await collect(await store.readBlob(layer), 1 << 24, 'test');
    assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('.provenant-')).length, 1); // only this store's writer file
  });

  it('reads any content in writer lists and lock files without failing or losing a tagged blob', async () => {
    const { dir, store } = await newLayout();
    // A layer above the manifest limit: listed as a manifest, it must not stop gc either.
    const made = await makeImage(store, {
      tag: 'keep',
      platforms: [{ os: 'linux', architecture: 'amd64' }],
      layers: 1,
      layerBytes: 5 * 1024 * 1024,
    });
    await store.close();
    const tagged = new Set([...made.blobs.keys(), made.root.digest, ...made.manifests.map((m) => m.digest)]);
    const junk = fc.oneof(
      fc.string({ maxLength: 300 }),
      // Lines that look like records: digests (some of the image's), media types, newlines.
      fc
        .array(
          fc.tuple(
            fc.oneof(fc.constantFrom(...tagged, 'sha256:zz', ''), fc.string({ maxLength: 20 })),
            fc.constantFrom(' ', '\n', ' application/vnd.oci.image.manifest.v1+json\n', ' text/plain\n'),
          ),
          { maxLength: 6 },
        )
        .map((parts) => parts.flat().join('')),
    );
    await fc.assert(
      fc.asyncProperty(junk, junk, async (writerText, lockText) => {
        await writeFile(join(dir, '.provenant-writer-0000000000000000'), writerText);
        await writeFile(join(dir, '.provenant-lock'), lockText);
        // Unreadable owner: judged by age alone, so an old one is broken.
        const old = new Date(Date.now() - 120_000);
        await utimes(join(dir, '.provenant-lock'), old, old);
        const collector = await LayoutStore.open(dir);
        await collector.gc();
        for (const m of [made.root, ...made.manifests]) assert.equal((await collector.getManifest(m.digest)).digest, m.digest);
        for (const digest of made.blobs.keys()) await collect(await collector.readBlob(await statOf(collector, digest)), 1 << 24, digest);
        await rm(join(dir, '.provenant-writer-0000000000000000'), { force: true });
      }),
      { numRuns: 40 },
    );
  });
});

async function statOf(store: LayoutStore, digest: string) {
  const d = await store.statBlob(digest as `sha256:${string}`);
  assert.ok(d, `${digest} is gone`);
  return d;
}
