// The download cache: what comes out is what went in, checked against its digest unless the
// caller checks it itself, and damaged entries are misses rather than failures.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { isProvenantError } from '../../src/errors.ts';
import { silentLogger } from '../../src/io/types.ts';
import { openApkSource } from '../../src/pkg/apk/source.ts';
import { ownerTag } from '../../src/pkg/cache-files.ts';
import { LazyDebKeyring } from '../../src/pkg/deb/keyring.ts';
import {
  comparableLocation,
  DownloadCache,
  fetchFile,
  fetchTrustedFile,
  localPath,
  MAX_TRUSTED_URL_SIZE,
  streamFile,
  withRepositoryCredentials,
} from '../../src/pkg/fetch.ts';
import { pseudoRandomBytes } from '../helpers/images.ts';
import { opensslMissing, selfSignedCertificate } from '../helpers/tls.ts';

const root = join(import.meta.dirname, '..', '..');

describe('DownloadCache', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'provenant-cache-test-'));
  after(() => rm(dir, { recursive: true, force: true }));
  const bytes = new TextEncoder().encode('some package bytes\n'.repeat(1000));
  const hex = createHash('sha256').update(bytes).digest('hex');

  it('gives back what was put, as a plain Uint8Array or in shared memory', async () => {
    const cache = new DownloadCache(dir);
    assert.equal(await cache.get('deb:x'), undefined);
    await cache.put('deb:x', bytes);
    const plain = await cache.get('deb:x');
    assert.deepEqual(plain, bytes);
    const shared = await cache.get('deb:x', { shared: true });
    assert.ok(shared?.buffer instanceof SharedArrayBuffer);
    assert.deepEqual(new Uint8Array(shared), bytes);
    assert.deepEqual(await readdir(join(dir, 'sha256')), [hex]);
  });

  it('treats a damaged entry as a miss, unless the caller checks the bytes itself', async () => {
    const cache = new DownloadCache(dir);
    await cache.put('deb:y', bytes);
    const damaged = bytes.slice();
    damaged[10]! ^= 1;
    await writeFile(join(dir, 'sha256', hex), damaged);
    assert.equal(await cache.get('deb:y'), undefined);
    assert.equal(await cache.get('deb:y', { shared: true }), undefined);
    // check: false hands the bytes over unchecked: the caller compares them with its own digest.
    assert.deepEqual(await cache.get('deb:y', { check: false }), damaged);
  });

  it('checks the size and CRC-32 put recorded, whole (get) or a buffer at a time (checked): a bit changed anywhere, a byte cut or added is a miss', async () => {
    const cache = new DownloadCache(dir);
    await cache.put('deb:z', bytes);
    const file = join(dir, 'sha256', hex);
    const damages: [string, Uint8Array][] = [
      ['cut short', bytes.subarray(0, bytes.length - 1)],
      ['a byte more', Uint8Array.from([...bytes, 0x0a])],
      ['empty', new Uint8Array()],
    ];
    for (let at = 0; at < bytes.length; at += 997) {
      for (const bit of [0x01, 0x80]) {
        const damaged = bytes.slice();
        damaged[at]! ^= bit;
        damages.push([`byte ${at} ^ ${bit}`, damaged]);
      }
    }
    for (const [why, damaged] of damages) {
      await writeFile(file, damaged);
      assert.equal(await cache.get('deb:z'), undefined, why);
      assert.equal(await cache.checked('deb:z'), undefined, `${why} (checked)`);
    }
    await writeFile(file, bytes);
    assert.deepEqual(await cache.get('deb:z'), bytes);
    assert.deepEqual(await cache.checked('deb:z'), { sha256: hex, path: file, size: bytes.length });
    assert.equal(await cache.checked('deb:none'), undefined);
  });

  it('checks an entry whose key names only its digest (as download and an older cache write it) against its SHA-256, once', async () => {
    const cache = new DownloadCache(dir);
    await cache.put('deb:old', bytes);
    const keys = join(dir, 'keys');
    const key = join(keys, createHash('sha256').update('deb:old').digest('hex'));
    assert.match(await readFile(key, 'utf8'), new RegExp(`^${hex} ${bytes.length} [0-9a-f]{8}\n$`));
    const recorded = await readFile(key, 'utf8');
    await writeFile(key, `${hex}\n`);
    const damaged = bytes.slice();
    damaged[3]! ^= 1;
    await writeFile(join(dir, 'sha256', hex), damaged);
    assert.equal(await cache.get('deb:old'), undefined);
    assert.equal(await cache.checked('deb:old'), undefined);
    assert.equal(await readFile(key, 'utf8'), `${hex}\n`, 'no CRC recorded for damaged bytes');
    await writeFile(join(dir, 'sha256', hex), bytes);
    assert.equal((await cache.locate('deb:old'))?.sha256, hex);
    // checked hashes it through a buffer at a time, and records the size and CRC-32 as get does.
    assert.deepEqual(await cache.checked('deb:old'), { sha256: hex, path: join(dir, 'sha256', hex), size: bytes.length });
    assert.equal(await readFile(key, 'utf8'), recorded);
    await writeFile(key, `${hex}\n`);
    // Checked whole once, then given the size and CRC-32.
    assert.deepEqual(await cache.get('deb:old'), bytes);
    assert.equal(await readFile(key, 'utf8'), recorded);
  });
});

// ---------------------------------------------------------------------------------------------
// Interrupted runs: temporary files that name a writer who is gone are removed, and downloads
// that were cut off resume with Range, the whole file still checked against its digest.

/** The host part of the cache's temporary names: the first 8 hex digits of the host name's SHA-256. */
const hostTag = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);

/** The place part of today's temporary names (see ownerTag): where this process runs, hashed. */
const placeTag = ownerTag().slice(0, 8);

/** Whether this machine lets a test run a process in a pid namespace of its own (root, or user namespaces). */
const canUnshare = spawnSync('unshare', ['--pid', '--fork', 'true']).status === 0;

/** The id of a process that has ended (a child that ran nothing). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  assert.ok(child.pid !== undefined);
  return child.pid;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Every file under `dir`, as relative paths. */
async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

interface Served {
  method: string;
  range: string | undefined;
  status: number;
}

/**
 * A file server for one file. `mode` decides the answer to each request: `hang-after` sends the
 * headers and that many bytes, then nothing more (the connection stays open, as when a run is
 * killed mid-download); `drop-after` sends that many bytes and closes the connection.
 */
async function fileServer(
  body: Uint8Array,
  mode: (
    n: number,
    range: string | undefined,
  ) => { kind: 'serve'; honourRange: boolean } | { kind: 'hang-after' | 'drop-after'; bytes: number },
): Promise<{ url: string; served: Served[]; sent: () => number; close: () => Promise<void> }> {
  const served: Served[] = [];
  let sent = 0;
  const server = createServer((req, res) => {
    const range = req.headers.range;
    const plan = mode(served.length, range);
    const m = /^bytes=(\d+)-$/.exec(range ?? '');
    if (plan.kind === 'serve' && plan.honourRange && m !== null) {
      const start = Number(m[1]);
      if (start >= body.length) {
        served.push({ method: req.method ?? '', range, status: 416 });
        res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
        return;
      }
      served.push({ method: req.method ?? '', range, status: 206 });
      res.writeHead(206, {
        'content-length': String(body.length - start),
        'content-range': `bytes ${start}-${body.length - 1}/${body.length}`,
      });
      res.end(body.subarray(start));
      return;
    }
    served.push({ method: req.method ?? '', range, status: 200 });
    res.writeHead(200, { 'content-length': String(body.length) });
    if (plan.kind === 'serve') {
      res.end(body);
      return;
    }
    res.write(body.subarray(0, plan.bytes), () => {
      sent += plan.bytes;
      if (plan.kind === 'drop-after') setTimeout(() => res.destroy(), 20);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/pool/file.deb`,
    served,
    sent: () => sent,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/**
 * Runs `script` (the body of an async module that has `DownloadCache` and `dir`) in a node of its
 * own, as `uid` when given, and gives what it printed as JSON. A child, so that a read that
 * blocks for good (a thread of libuv waiting in open) is killed rather than holding this suite.
 */
function inChild(dir: string, script: string, uid?: number): unknown {
  const fetch = pathToFileURL(join(root, 'src', 'pkg', 'fetch.ts')).href;
  const code = `import { DownloadCache } from ${JSON.stringify(fetch)};\nconst dir = ${JSON.stringify(dir)};\n${script}`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    encoding: 'utf8',
    timeout: 120_000,
    killSignal: 'SIGKILL',
    ...(uid === undefined ? {} : { uid, gid: uid }),
  });
  assert.equal(r.status, 0, `signal ${r.signal}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe('DownloadCache with something else in place of its files', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'provenant-cache-odd-'));
  after(() => rm(dir, { recursive: true, force: true }));
  const bytes = new TextEncoder().encode('cached bytes\n'.repeat(100));
  const hex = createHash('sha256').update(bytes).digest('hex');
  const keyFile = (key: string) => join(dir, 'keys', createHash('sha256').update(key).digest('hex'));

  it('takes a named pipe in place of an entry or its key for a miss, without blocking, and puts the entry again', async () => {
    const cache = new DownloadCache(dir);
    await cache.put('a', bytes);
    await cache.put('b', new Uint8Array(5));
    await rm(join(dir, 'sha256', hex));
    await rm(keyFile('b'));
    for (const fifo of [join(dir, 'sha256', hex), keyFile('b')]) {
      const made = spawnSync('mkfifo', [fifo]);
      assert.equal(made.status, 0, String(made.stderr));
    }
    const seen = inChild(
      dir,
      `const cache = new DownloadCache(dir);
      const out = [await cache.get('a'), await cache.get('a', { shared: true }), await cache.checked('a'), await cache.locate('a'), await cache.get('b'), await cache.locate('b')];
      await cache.put('a', new TextEncoder().encode('cached bytes\\n'.repeat(100)));
      const w = await cache.writer();
      await w.write(new Uint8Array(5));
      await w.finish('b');
      console.log(JSON.stringify({ misses: out.map((x) => x === undefined), a: (await cache.get('a'))?.length, b: (await cache.get('b'))?.length }));`,
    );
    assert.deepEqual(seen, { misses: [true, true, true, true, true, true], a: bytes.length, b: 5 });
    assert.ok((await stat(join(dir, 'sha256', hex))).isFile());
    assert.ok((await stat(keyFile('b'))).isFile());
  });

  it('takes a folder in place of an entry or its key for a miss, and replaces it with the entry', async () => {
    const cache = new DownloadCache(dir);
    await cache.put('c', bytes);
    const w = await cache.writer();
    await w.write(new Uint8Array(7));
    const seven = await w.finish('d');
    for (const path of [join(dir, 'sha256', hex), keyFile('d'), seven.path]) {
      await rm(path);
      await mkdir(join(path, 'inside'), { recursive: true });
      await writeFile(join(path, 'inside', 'f'), 'x');
    }
    const again = new DownloadCache(dir);
    assert.equal(await again.get('c'), undefined);
    assert.equal(await again.checked('c'), undefined);
    assert.equal(await again.locate('d'), undefined);
    await again.put('c', bytes);
    assert.deepEqual(await again.get('c'), bytes);
    const w2 = await again.writer();
    await w2.write(new Uint8Array(7));
    assert.deepEqual(await w2.finish('d'), seven);
    const p = await again.putStream('e');
    await p.write(new Uint8Array(7));
    assert.deepEqual(await p.finish(), seven);
    assert.deepEqual(await again.get('d'), new Uint8Array(7));
  });
});

describe('DownloadCache in a folder this user cannot write', { skip: process.platform === 'win32' }, async () => {
  const base = await mkdtemp(join(tmpdir(), 'provenant-cache-ro-'));
  after(() => rm(base, { recursive: true, force: true }));
  // As root, the checks are made by another user (nobody); else the folders are made read-only.
  const asRoot = process.getuid?.() === 0;
  const uid = asRoot ? 65534 : undefined;
  const bytes = new TextEncoder().encode('warm entry\n');

  it('says which folder and what to do, as a typed error, and still reads what is there', async () => {
    const dir = join(base, 'cache');
    await new DownloadCache(dir).put('warm', bytes);
    spawnSync('chmod', ['-R', asRoot ? 'go+rX' : 'a-w', base]);
    try {
      const seen = inChild(
        dir,
        `const cache = new DownloadCache(dir);
        const out = {};
        for (const [name, start] of [['writer', () => cache.writer()], ['put', () => cache.put('k', new Uint8Array(3))], ['putStream', () => cache.putStream('k')]]) {
          try { await start(); out[name] = 'written'; } catch (err) { out[name] = [err.code, err.message, err.hint]; }
        }
        out.warm = new TextDecoder().decode(await cache.get('warm'));
        console.log(JSON.stringify(out));`,
        uid,
      );
      const refused = [
        'IO',
        `cannot use ${dir} as the download cache: permission denied`,
        `point the cache at a folder that can be made and written (another --cache-dir), or fix the permissions of ${dir}`,
      ];
      assert.deepEqual(seen, { writer: refused, put: refused, putStream: refused, warm: 'warm entry\n' });
    } finally {
      spawnSync('chmod', ['-R', 'u+w', base]);
    }
  });

  it('takes an entry it cannot read for a miss, and replaces it where it can write', {
    skip: asRoot ? false : 'needs root to make a file another user cannot read',
  }, async () => {
    const dir = join(base, 'shared');
    const cache = new DownloadCache(dir);
    await cache.put('locked', bytes);
    const hex = createHash('sha256').update(bytes).digest('hex');
    spawnSync('chmod', ['-R', 'a+rwX', base]);
    spawnSync('chmod', ['600', join(dir, 'sha256', hex)]);
    const seen = inChild(
      dir,
      `const cache = new DownloadCache(dir);
      const before = await cache.get('locked');
      await cache.put('locked', new TextEncoder().encode('warm entry\\n'));
      console.log(JSON.stringify({ before: before === undefined, after: new TextDecoder().decode(await cache.get('locked')) }));`,
      uid,
    );
    assert.deepEqual(seen, { before: true, after: 'warm entry\n' });
  });
});

describe('DownloadCache after an interrupted run', async () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  const cacheDir = async () => {
    const d = await mkdtemp(join(tmpdir(), 'provenant-cache-interrupted-'));
    dirs.push(d);
    return d;
  };
  const body = pseudoRandomBytes(3 * 1024 * 1024, 7);
  const sha256 = createHash('sha256').update(body).digest('hex');

  it('removes the temporary files of writers that are gone, and keeps those of writers still at work', async () => {
    const dir = await cacheDir();
    const bytes = new TextEncoder().encode('kept\n');
    const hex = createHash('sha256').update(bytes).digest('hex');
    await new DownloadCache(dir).put('k', bytes);
    const dead = await deadPid();
    const hourAndMore = new Date(Date.now() - 2 * 60 * 60 * 1000);
    const files = {
      // What a killed run of earlier versions left: <hex>.<pid>.<random>.tmp, its writer gone.
      earlier: join(dir, 'sha256', `${'e'.repeat(64)}.${dead}.k3j4h5.tmp`),
      // The same in today's names, in both folders.
      deadHere: join(dir, 'sha256', `${'d'.repeat(64)}.${hostTag}-${dead}-0a1b2c3d.tmp`),
      deadKey: join(dir, 'keys', `${'c'.repeat(64)}.${hostTag}-${dead}-0a1b2c3d.tmp`),
      // Another machine's writer (a shared cache folder): its pid means nothing here; kept while young.
      elsewhereYoung: join(dir, 'sha256', `${'b'.repeat(64)}.00000000-${dead}-0a1b2c3d.tmp`),
      elsewhereOld: join(dir, 'sha256', `${'a'.repeat(64)}.00000000-${dead}-0a1b2c3d.tmp`),
      // A live writer of this machine (this process): kept.
      alive: join(dir, 'keys', `${'f'.repeat(64)}.${hostTag}-${process.pid}-0a1b2c3d.tmp`),
      // Today's names (where the writer runs, its pid, an id of its own): a writer of this place gone ...
      deadPlace: join(dir, 'sha256', `${'8'.repeat(64)}.${placeTag}-${dead}-0a1b2c3d-0a1b2c3d.tmp`),
      // ... and one with this pid in another pid namespace of the same host name: kept while young.
      otherPlace: join(dir, 'sha256', `${'7'.repeat(64)}.00000000-${process.pid}-0a1b2c3d-0a1b2c3d.tmp`),
      // A partial download whose writer is gone: kept for a later run to resume, unless a week old.
      partial: join(dir, 'partial', `${sha256}.${hostTag}-${dead}-0a1b2c3d.part`),
      partialOld: join(dir, 'partial', `${'9'.repeat(64)}.${hostTag}-${dead}-0a1b2c3d.part`),
    };
    await mkdir(join(dir, 'partial'), { recursive: true });
    for (const path of Object.values(files)) await writeFile(path, 'half of something');
    await utimes(files.elsewhereOld, hourAndMore, hourAndMore);
    const weekAndMore = new Date(Date.now() - 8 * 24 * 60 * 60 * 1000);
    await utimes(files.partialOld, weekAndMore, weekAndMore);

    // The next run: its first read of the cache sweeps.
    const next = new DownloadCache(dir);
    assert.deepEqual(await next.get('k'), bytes);
    assert.deepEqual(Object.fromEntries(await Promise.all(Object.entries(files).map(async ([k, p]) => [k, await exists(p)] as const))), {
      earlier: false,
      deadHere: false,
      deadKey: false,
      elsewhereYoung: true,
      elsewhereOld: false,
      alive: true,
      deadPlace: false,
      otherPlace: true,
      partial: true,
      partialOld: false,
    });
    assert.ok(await exists(join(dir, 'sha256', hex)));
  });

  it('resumes a download that a killed run left half done, with Range, and checks the whole file', async () => {
    const dir = await cacheDir();
    // The first run gets 1 MiB, then the server goes quiet; the run is killed (no finally runs).
    const server = await fileServer(body, (n) =>
      n === 0 ? { kind: 'hang-after', bytes: 1024 * 1024 } : { kind: 'serve', honourRange: true },
    );
    try {
      const script = `import('${pathToFileURL(join(root, 'src', 'pkg', 'fetch.ts')).href}').then((m) => new m.DownloadCache(${JSON.stringify(dir)}).download(${JSON.stringify(server.url)}, { sha256: '${sha256}' }))`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' });
      const exited = once(child, 'exit');
      const partialDir = join(dir, 'partial');
      for (let i = 0; i < 500; i++) {
        const names = await readdir(partialDir).catch(() => []);
        const size = names.length === 1 ? (await stat(join(partialDir, names[0]!))).size : 0;
        if (size === 1024 * 1024) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      child.kill('SIGKILL');
      await exited;
      const [left] = await readdir(partialDir);
      if (left === undefined) assert.fail('the killed run left no partial file');
      assert.ok(left.startsWith(`${sha256}.`) && left.endsWith('.part'), left);
      assert.equal((await stat(join(partialDir, left))).size, 1024 * 1024);

      const bytes = await new DownloadCache(dir).download(server.url, { sha256, size: body.length }, { key: `deb:${sha256}` });
      assert.deepEqual(bytes, body);
      assert.deepEqual(server.served.slice(1), [{ method: 'GET', range: `bytes=${1024 * 1024}-`, status: 206 }]);
      // Stored whole under its digest and key; nothing half-written remains.
      assert.deepEqual(
        (await filesUnder(dir)).filter((f) => !f.startsWith('keys/')),
        [join('sha256', sha256)],
      );
      assert.deepEqual(await new DownloadCache(dir).get(`deb:${sha256}`), body);
    } finally {
      await server.close();
    }
  });

  it('leaves the partial download of a run in another pid namespace alone, though it has the same host name and pid', {
    skip: !canUnshare,
  }, async () => {
    const dir = await cacheDir();
    // The first run gets 1 MiB and waits for more; the second runs meanwhile. Each is pid 1 of a
    // pid namespace of its own, as two builds in containers of one host name often are.
    const server = await fileServer(body, (n) =>
      n === 0 ? { kind: 'hang-after', bytes: 1024 * 1024 } : { kind: 'serve', honourRange: true },
    );
    const script = `import('${pathToFileURL(join(root, 'src', 'pkg', 'fetch.ts')).href}').then((m) => new m.DownloadCache(${JSON.stringify(dir)}).download(${JSON.stringify(server.url)}, { sha256: '${sha256}' }))`;
    const run = () =>
      spawn('unshare', ['--pid', '--fork', '--kill-child', process.execPath, '--input-type=module', '-e', script], { stdio: 'ignore' });
    const first = run();
    const firstExited = once(first, 'exit');
    try {
      const partialDir = join(dir, 'partial');
      let name: string | undefined;
      for (let i = 0; i < 500 && name === undefined; i++) {
        const names = await readdir(partialDir).catch(() => []);
        if (names.length === 1 && (await stat(join(partialDir, names[0]!))).size === 1024 * 1024) name = names[0];
        else await new Promise((r) => setTimeout(r, 20));
      }
      if (name === undefined) assert.fail('the first run wrote no partial file');
      const second = run();
      const [code] = await once(second, 'exit');
      assert.equal(code, 0);
      // The second downloaded the whole file, and the first's partial file is still its own.
      assert.deepEqual(
        server.served.slice(1).map((s) => s.range ?? 'whole'),
        ['whole'],
      );
      assert.equal((await stat(join(partialDir, name))).size, 1024 * 1024);
    } finally {
      first.kill('SIGKILL');
      await firstExited;
      await server.close();
    }
  });

  it('resumes in the same run after a dropped connection, and starts over when the resumed bytes are wrong', async () => {
    const dir = await cacheDir();
    const server = await fileServer(body, (n) => (n === 0 ? { kind: 'drop-after', bytes: 500_000 } : { kind: 'serve', honourRange: true }));
    try {
      const cache = new DownloadCache(dir);
      await assert.rejects(cache.download(server.url, { sha256 }), (e) => isProvenantError(e, 'NETWORK'));
      const [left] = await readdir(join(dir, 'partial'));
      assert.ok(left !== undefined);
      // Damage what was kept: the resumed file cannot have the digest, so it is fetched whole.
      const partial = join(dir, 'partial', left);
      const kept = await readFile(partial);
      // What arrived before the connection closed (all of the 500,000 bytes sent, unless the close overtook some).
      assert.ok(kept.length > 100 && kept.length <= 500_000, `${kept.length} bytes kept`);
      kept[100]! ^= 0xff;
      await writeFile(partial, kept);
      assert.deepEqual(await cache.download(server.url, { sha256 }), body);
      assert.deepEqual(
        server.served.map((s) => `${s.range ?? 'whole'} ${s.status}`),
        ['whole 200', `bytes=${kept.length}- 206`, 'whole 200'],
      );
      assert.deepEqual(await filesUnder(dir), [join('sha256', sha256)]);
    } finally {
      await server.close();
    }
  });

  it('takes the whole file from a server that ignores Range', async () => {
    const dir = await cacheDir();
    await mkdir(join(dir, 'partial'), { recursive: true });
    await writeFile(join(dir, 'partial', `${sha256}.${hostTag}-${await deadPid()}-0a1b2c3d.part`), body.subarray(0, 1000));
    const server = await fileServer(body, () => ({ kind: 'serve', honourRange: false }));
    try {
      assert.deepEqual(await new DownloadCache(dir).download(server.url, { sha256 }), body);
      assert.deepEqual(server.served, [{ method: 'GET', range: 'bytes=1000-', status: 200 }]);
      assert.deepEqual(await filesUnder(dir), [join('sha256', sha256)]);
    } finally {
      await server.close();
    }
  });

  it('refuses bytes that are not the expected file, and keeps nothing of them', async () => {
    const dir = await cacheDir();
    const server = await fileServer(body, () => ({ kind: 'serve', honourRange: true }));
    try {
      const cache = new DownloadCache(dir);
      await assert.rejects(cache.download(server.url, { sha256: 'ab'.repeat(32) }, { key: 'deb:x' }), (e) =>
        isProvenantError(e, 'DIGEST_MISMATCH'),
      );
      await assert.rejects(cache.download(server.url, { sha256, size: body.length - 1 }), (e) => isProvenantError(e, 'DIGEST_MISMATCH'));
      assert.deepEqual(await filesUnder(dir), []);
      assert.equal(await cache.get('deb:x'), undefined);
    } finally {
      await server.close();
    }
  });

  it('downloadFile keeps the file over HTTP or on disk and says where, and refuses and removes one that is not the expected file', async () => {
    const server = await fileServer(body, () => ({ kind: 'serve', honourRange: true }));
    const local = join(await cacheDir(), 'local.bin');
    await writeFile(local, body);
    try {
      for (const location of [server.url, local]) {
        const dir = await cacheDir();
        const cache = new DownloadCache(dir);
        const kept = await cache.downloadFile(location, { sha256, size: body.length }, { key: 'deb:y' });
        assert.deepEqual({ sha256: kept.sha256, size: kept.size }, { sha256, size: body.length });
        assert.deepEqual(new Uint8Array(await readFile(kept.path)), body);
        assert.deepEqual(await cache.locate('deb:y'), kept);
        await assert.rejects(cache.downloadFile(location, { sha256: 'ab'.repeat(32) }, { key: 'deb:x' }), (e) =>
          isProvenantError(e, 'DIGEST_MISMATCH'),
        );
        assert.equal(await cache.locate('deb:x'), undefined);
        const left = (await filesUnder(dir)).map((f) => f.replace(/^keys\/[0-9a-f]{64}$/, 'keys/KEY')).sort();
        assert.deepEqual(left, ['keys/KEY', `sha256/${sha256}`], `${location}: nothing but the kept file and its key`);
      }
    } finally {
      await server.close();
    }
  });
});

describe('fetchFile', () => {
  it('reads a local location where the lock check takes it: a file: URL with one slash, a path against the configuration folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fetch-local-'));
    try {
      await mkdir(join(dir, 'repo'));
      await writeFile(join(dir, 'repo', 'f'), 'in the repo');
      for (const location of [
        'repo/f',
        './repo/x/../f',
        join(dir, 'repo', 'f'),
        `file:${join(dir, 'repo', 'f')}`,
        pathToFileURL(join(dir, 'repo', 'f')).href,
      ]) {
        assert.equal(Buffer.from(await fetchFile(location, { baseDir: dir })).toString(), 'in the repo', location);
        assert.equal(localPath(location, dir), join(dir, 'repo', 'f'), location);
        assert.equal(comparableLocation(location, dir), join(dir, 'repo', 'f'), location);
      }
      assert.equal(comparableLocation('http://u:p@Example.ORG/a/./b/', dir), 'http://example.org/a/b/');
      // A folder ends in one '/', a file URL's as a path's (a Debian mirror's root in the lock check).
      for (const folder of [
        'repo/',
        `${join(dir, 'repo')}/`,
        `${pathToFileURL(join(dir, 'repo')).href}/`,
        `file://${join(dir, 'repo')}//`,
      ]) {
        assert.equal(comparableLocation(folder, dir), `${join(dir, 'repo')}/`, folder);
      }
      assert.equal(comparableLocation('ftp://example.org/a', dir), undefined);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads only regular files on disk, up to its limit: a FIFO would block, a device never end', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fetch-file-'));
    try {
      await writeFile(join(dir, 'f'), 'twelve bytes');
      assert.equal(Buffer.from(await fetchFile('f', { baseDir: dir })).toString(), 'twelve bytes');
      const fifo = spawnSync('mkfifo', [join(dir, 'fifo')]);
      assert.equal(fifo.status, 0, String(fifo.stderr));
      for (const [location, what] of [
        [join(dir, 'fifo'), 'is not a regular file'],
        ['/dev/zero', 'is not a regular file'],
        [dir, 'is not a regular file'],
      ] as const) {
        for (const read of [
          () => fetchFile(location),
          async () => {
            for await (const _ of streamFile(location)) {
              // read to the end
            }
          },
        ]) {
          await assert.rejects(read(), (e) => isProvenantError(e, 'INVALID_PACKAGE') && e.message.endsWith(what));
        }
      }
      await assert.rejects(
        fetchFile('f', { baseDir: dir, maxBytes: 5 }),
        (e) => isProvenantError(e, 'INVALID_PACKAGE') && e.message.endsWith('is larger than 5 bytes'),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('says NETWORK when the connection breaks in the middle of the body', async () => {
    const server = await fileServer(pseudoRandomBytes(2_000_000, 3), () => ({ kind: 'drop-after', bytes: 100_000 }));
    try {
      await assert.rejects(
        fetchFile(server.url),
        (e) => isProvenantError(e, 'NETWORK') && e.message.startsWith(`cannot fetch ${server.url}`),
      );
    } finally {
      await server.close();
    }
  });
});

describe('withRepositoryCredentials', () => {
  it("takes a locked file's credentials from the innermost configured repository that holds it", () => {
    const repositories = [
      'https://outer:one@example.org/repo',
      'https://inner:two@example.org/repo/sub/',
      'https://example.org/repo/public',
    ];
    const at = (location: string): string => withRepositoryCredentials(location, repositories);
    assert.equal(at('https://example.org/repo/x86_64/a.apk'), 'https://outer:one@example.org/repo/x86_64/a.apk');
    // Nested repositories: the inner one's credentials, or none where it is configured without.
    assert.equal(at('https://example.org/repo/sub/x86_64/a.apk'), 'https://inner:two@example.org/repo/sub/x86_64/a.apk');
    assert.equal(at('https://example.org/repo/public/x86_64/a.apk'), 'https://example.org/repo/public/x86_64/a.apk');
    // Not under a repository: no credentials, and a lock's own never kept.
    assert.equal(at('https://example.org/other/a.apk'), 'https://example.org/other/a.apk');
    assert.equal(at('https://lock:own@example.org/other/a.apk'), 'https://example.org/other/a.apk');
    assert.equal(at('https://lock:own@example.org/repo/public/a.apk'), 'https://example.org/repo/public/a.apk');
    assert.equal(at('repo/a.apk'), 'repo/a.apk');
  });
});

describe('streamFile', () => {
  const collected = async (it: AsyncIterable<Uint8Array>) => {
    const parts: Uint8Array[] = [];
    for await (const c of it) parts.push(c);
    return Buffer.concat(parts);
  };

  it('gives a file over HTTP or on disk as fetchFile does, chunk by chunk, and fails as it does', async () => {
    const body = pseudoRandomBytes(3_000_000, 7);
    const server = await fileServer(body, () => ({ kind: 'serve', honourRange: false }));
    const dir = await mkdtemp(join(tmpdir(), 'stream-file-'));
    try {
      assert.deepEqual(await collected(streamFile(server.url)), Buffer.from(body));
      await writeFile(join(dir, 'f'), body);
      const chunks: number[] = [];
      for await (const c of streamFile('f', { baseDir: dir })) chunks.push(c.length);
      assert.ok(chunks.length > 1, 'read in pieces');
      assert.deepEqual(await collected(streamFile(pathToFileURL(join(dir, 'f')).href)), Buffer.from(body));
      await assert.rejects(collected(streamFile('missing', { baseDir: dir })), (e) => isProvenantError(e, 'NOT_FOUND'));
      await assert.rejects(
        collected(streamFile('f', { baseDir: dir, maxBytes: 1000 })),
        (e) => isProvenantError(e, 'INVALID_PACKAGE') && e.message.endsWith('is larger than 1000 bytes'),
      );
    } finally {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('says NETWORK when the connection breaks in the middle of the body', async () => {
    const server = await fileServer(pseudoRandomBytes(2_000_000, 3), () => ({ kind: 'drop-after', bytes: 100_000 }));
    try {
      await assert.rejects(
        collected(streamFile(server.url)),
        (e) => isProvenantError(e, 'NETWORK') && e.message.startsWith(`cannot fetch ${server.url}`),
      );
    } finally {
      await server.close();
    }
  });
});

describe('DownloadCache.writer', () => {
  it('writes temporary names of the form docs/build.md gives ("Caches")', async () => {
    const doc = await readFile(join(root, 'docs', 'build.md'), 'utf8');
    const form = /`<name>\.((?:<[a-z]+>-)*<[a-z]+>)\.tmp`/.exec(doc)?.[1];
    assert.ok(form !== undefined, 'docs/build.md gives the form of a temporary name');
    const dir = await mkdtemp(join(tmpdir(), 'cache-writer-'));
    try {
      const w = await new DownloadCache(dir).writer();
      await w.abort();
      const owner = w.path.slice(w.path.lastIndexOf('/') + 1).split('.')[1]!;
      assert.equal(owner.split('-').length, form.split('-').length, `${owner} against ${form}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('gives the temporary file it writes, whole once the writes resolved, and nothing under a key before finish', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cache-writer-'));
    try {
      const cache = new DownloadCache(dir);
      const w = await cache.writer();
      await w.write(new TextEncoder().encode('checked '));
      await w.write(new TextEncoder().encode('first'));
      assert.equal(w.size, 13);
      assert.equal(await readFile(w.path, 'utf8'), 'checked first');
      assert.equal(await cache.locate('k'), undefined);
      assert.equal(cache.has('k'), false);
      const stored = await w.finish('k');
      assert.deepEqual(await cache.locate('k'), stored);
      assert.equal(cache.has('k'), true);
      assert.equal(cache.has('other'), false);
      const aborted = await cache.writer();
      await aborted.write(new Uint8Array(10));
      await aborted.abort();
      await assert.rejects(stat(aborted.path), { code: 'ENOENT' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('DownloadCache.putStream', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  const cacheDir = async () => {
    const d = await mkdtemp(join(tmpdir(), 'provenant-cache-put-'));
    dirs.push(d);
    return d;
  };
  const bytes = pseudoRandomBytes(3 * 1024 * 1024 + 17, 11);
  const keyFile = (dir: string, key: string) => join(dir, 'keys', createHash('sha256').update(key).digest('hex'));

  it('keeps what put would keep, byte for byte and with the same record, and nothing before finish', async () => {
    const [byPut, byStream] = [await cacheDir(), await cacheDir()];
    await new DownloadCache(byPut).put('k', bytes);
    // Appended only, and with a head whose room is written first and filled in at the end.
    for (const withHead of [false, true]) {
      const cache = new DownloadCache(byStream);
      await cache.forget('k');
      const put = await cache.putStream('k');
      await put.write(withHead ? new Uint8Array(1000) : bytes.subarray(0, 1000));
      for (let at = 1000; at < bytes.length; at += 300_000) await put.write(bytes.subarray(at, at + 300_000));
      if (withHead) await put.writeAt(0, bytes.subarray(0, 1000));
      assert.equal(put.size, bytes.length);
      assert.equal(cache.has('k'), false, 'no key before finish');
      assert.equal(await cache.get('k'), undefined);
      assert.deepEqual(
        (await readdir(join(byStream, 'sha256'))).filter((name) => !name.endsWith('.tmp')),
        withHead ? [createHash('sha256').update(bytes).digest('hex')] : [],
        'no file under a digest but the one kept by the first round',
      );
      const stored = await put.finish();
      assert.deepEqual(stored, await cache.locate('k'));
      assert.equal(stored.sha256, (await new DownloadCache(byPut).locate('k'))?.sha256);
      assert.equal(await readFile(keyFile(byStream, 'k'), 'utf8'), await readFile(keyFile(byPut, 'k'), 'utf8'), 'the same size and CRC-32');
      assert.deepEqual((await filesUnder(byStream)).sort(), (await filesUnder(byPut)).sort());
      assert.deepEqual(await new DownloadCache(byStream).get('k'), bytes);
      await assert.rejects(put.write(new Uint8Array(1)), (err: unknown) => isProvenantError(err, 'USAGE'));
    }
  });

  it('leaves the key as it was and nothing written when aborted, or when it fails', async () => {
    const dir = await cacheDir();
    const cache = new DownloadCache(dir);
    const earlier = new TextEncoder().encode('what the key held before\n');
    await cache.put('k', earlier);
    const before = await filesUnder(dir);

    const aborted = await cache.putStream('k');
    await aborted.write(bytes);
    await aborted.abort();
    assert.deepEqual(await filesUnder(dir), before);
    assert.deepEqual(await cache.get('k'), earlier);

    // Written over beyond its end: refused, and the put can still be aborted.
    const beyond = await cache.putStream('k');
    await beyond.write(new Uint8Array(10));
    await assert.rejects(beyond.writeAt(5, new Uint8Array(6)), (err: unknown) => isProvenantError(err, 'USAGE'));
    await beyond.abort();
    assert.deepEqual(await filesUnder(dir), before);

    // A real fault at the end: the file was removed from under the put (a folder where it would
    // be renamed to is no fault now: it is removed, as a cache file's place holds only files).
    const failing = await cache.putStream('k');
    await failing.write(bytes);
    for (const name of await readdir(join(dir, 'sha256'))) {
      if (name.startsWith('put.')) await rm(join(dir, 'sha256', name));
    }
    const err = await failing.finish().then(
      () => assert.fail('finish should fail'),
      (e: unknown) => e,
    );
    assert.ok(isProvenantError(err, 'IO'), String(err));
    assert.ok(err.where?.startsWith(join(dir, 'sha256')), err.where);
    assert.deepEqual((await filesUnder(dir)).sort(), before.sort(), 'nothing written');
    assert.deepEqual(await cache.get('k'), earlier);
  });

  it('leaves only a temporary file when the process is killed in the middle, which the next run removes', async () => {
    const dir = await cacheDir();
    const script = `import('${pathToFileURL(join(root, 'src', 'pkg', 'fetch.ts')).href}').then(async (m) => {
      const put = await new m.DownloadCache(${JSON.stringify(dir)}).putStream('k');
      await put.write(new Uint8Array(1024 * 1024));
      setInterval(() => {}, 1000);
    })`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' });
    const exited = once(child, 'exit');
    let left: string[] = [];
    for (let i = 0; i < 500 && left.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      const names = await readdir(join(dir, 'sha256')).catch(() => [] as string[]);
      for (const name of names) if ((await stat(join(dir, 'sha256', name))).size === 1024 * 1024) left = [name];
    }
    child.kill('SIGKILL');
    await exited;
    assert.equal(left.length, 1, 'the child wrote its first megabyte');
    assert.ok(left[0]!.startsWith('put.') && left[0]!.endsWith('.tmp'), left[0]);

    const next = new DownloadCache(dir);
    assert.equal(next.has('k'), false);
    assert.equal(await next.get('k'), undefined);
    assert.deepEqual(await filesUnder(dir), [], 'swept');
  });
});

describe('fetchFile and redirects', () => {
  it('follows redirects (relative and absolute, 301 to 308) to the file, gives up on a loop, and refuses a body over maxBytes', async () => {
    const body = pseudoRandomBytes(100_000, 5);
    const server = createServer((req, res) => {
      const hops: Record<string, [number, string]> = {
        '/a': [301, '/b'],
        '/b': [302, `http://127.0.0.1:${(server.address() as AddressInfo).port}/c`],
        '/c': [307, 'd'],
        '/d': [308, '/file'],
        '/loop': [302, '/loop'],
      };
      const hop = hops[req.url ?? ''];
      if (hop !== undefined) {
        res.writeHead(hop[0], { location: hop[1] }).end();
        return;
      }
      if (req.url === '/file') {
        res.writeHead(200, { 'content-length': String(body.length) }).end(body);
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      assert.deepEqual(await fetchFile(`${base}/a`), body);
      await assert.rejects(
        fetchFile(`${base}/loop`),
        (e) => isProvenantError(e, 'NETWORK') && /redirects more than 20 times/.test(e.message),
      );
      await assert.rejects(fetchFile(`${base}/nothing`), (e) => isProvenantError(e, 'NOT_FOUND'));
      await assert.rejects(
        fetchFile(`${base}/file`, { maxBytes: 1000 }),
        (e) => isProvenantError(e, 'INVALID_PACKAGE') && e.message.endsWith('is larger than 1000 bytes'),
      );
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('fetchFile over TLS', { skip: opensslMissing }, () => {
  it('says TLS_CERTIFICATE, naming NODE_EXTRA_CA_CERTS, for a server whose certificate is not trusted', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'provenant-tls-fetch-'));
    const cert = await selfSignedCertificate(dir, 'mirror', '/CN=127.0.0.1', 'IP:127.0.0.1');
    let requests = 0;
    const server = createHttpsServer({ key: cert.key, cert: cert.cert }, (_req, res) => {
      requests++;
      res.end('never');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/dists/stable/InRelease`;
      await assert.rejects(
        fetchFile(url),
        (e) =>
          isProvenantError(e, 'TLS_CERTIFICATE') &&
          /not signed by a CA this machine trusts/.test(e.message) &&
          /NODE_EXTRA_CA_CERTS/.test(e.hint ?? ''),
      );
      await assert.rejects(new DownloadCache(dir).download(url, { sha256: 'ab'.repeat(32) }), (e) =>
        isProvenantError(e, 'TLS_CERTIFICATE'),
      );
      assert.equal(requests, 0);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('keys and plain HTTP', () => {
  // Never contacted: a key at a plain-http address beyond this machine is refused before any request.
  const remote = 'http://keys.invalid/signing.rsa.pub';

  it('reads a key from a file, or over plain http from this machine only: INSECURE naming the configuration and the key otherwise', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'provenant-trusted-'));
    let requests = 0;
    const server = createServer((req, res) => {
      requests++;
      if (req.url === '/away') res.writeHead(302, { location: remote }).end();
      else res.end('KEY');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const insecure = (e: unknown) =>
      isProvenantError(e, 'INSECURE') && e.where === `image.yaml: ${remote}` && e.message.includes(remote) && /plain HTTP/.test(e.message);
    try {
      await writeFile(join(dir, 'k.pub'), 'FILE');
      assert.equal(new TextDecoder().decode(await fetchTrustedFile('k.pub', 'the key', 'image.yaml', { baseDir: dir })), 'FILE');
      assert.equal(new TextDecoder().decode(await fetchTrustedFile(`${base}/k.pub`, 'the key', 'image.yaml')), 'KEY');
      assert.equal(new TextDecoder().decode(await fetchTrustedFile(`http://localhost:${new URL(base).port}/k`, 'the key', 'x')), 'KEY');
      assert.equal(requests, 2);
      await assert.rejects(fetchTrustedFile(remote, 'the key', 'image.yaml'), insecure);
      await assert.rejects(fetchTrustedFile(remote.replace('http:', 'HTTP:'), 'the key', undefined), (e) =>
        isProvenantError(e, 'INSECURE'),
      );
      // Nor through a redirect from a server of this machine.
      await assert.rejects(
        fetchTrustedFile(`${base}/away`, 'the key', 'image.yaml'),
        (e) => isProvenantError(e, 'INSECURE') && e.message.includes(remote),
      );
      assert.equal(requests, 3);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await rm(dir, { recursive: true, force: true });
    }
  });

  // A final review: the cap on a signed-by keyring by URL left apk's contents.keyring key at the
  // 2 GiB default, and a server sending without end made a build hold about a GB.
  it('reads an apk contents.keyring key by URL up to 1 MiB, as a signed-by keyring: TOO_LARGE past it, stopped there', async () => {
    let sent = 0;
    const server = createServer((_req, res) => {
      const chunk = Buffer.alloc(64 * 1024, 0x41);
      const more = () => {
        while (sent < 256 * 1024 * 1024) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end();
      };
      more();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/signing.rsa.pub`;
    const options = { repositories: [], packages: [], configPath: 'image.yaml', baseDir: tmpdir(), cache: undefined, logger: silentLogger };
    try {
      assert.equal(MAX_TRUSTED_URL_SIZE, 1024 * 1024);
      await assert.rejects(openApkSource({ ...options, keyring: [url] }), (e: unknown) => {
        assert.ok(isProvenantError(e, 'TOO_LARGE'), String(e));
        assert.equal(e.where, `image.yaml: ${url}`);
        assert.match(
          e.message,
          /^the contents\.keyring key .* is larger than 1048576 bytes \(1 MiB\), the most a key fetched by URL may be$/,
        );
        return true;
      });
      assert.ok(sent < 32 * 1024 * 1024, `${sent} bytes sent`);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('refuses an apk contents.keyring key and a Debian signed-by keyring at a plain-http address', async () => {
    const options = { repositories: [], packages: [], configPath: 'image.yaml', baseDir: tmpdir(), cache: undefined, logger: silentLogger };
    await assert.rejects(
      openApkSource({ ...options, keyring: [remote] }),
      (e) => isProvenantError(e, 'INSECURE') && e.where === `image.yaml: ${remote}`,
    );
    await assert.rejects(
      LazyDebKeyring.read(['http://keys.invalid/archive.gpg'], { configPath: 'image.yaml' }),
      (e) => isProvenantError(e, 'INSECURE') && e.where === 'image.yaml: http://keys.invalid/archive.gpg',
    );
  });

  it('never follows a redirect to a URL that is not http or https', async () => {
    const server = createServer((_req, res) => res.writeHead(302, { location: 'file:///etc/passwd' }).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/APKINDEX.tar.gz`;
      await assert.rejects(fetchFile(url), (e) => {
        assert.ok(isProvenantError(e, 'NETWORK'), String(e));
        assert.match(e.message, /redirects to a file: URL \(file:\/\/\/etc\/passwd\), which is not followed/);
        return true;
      });
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('never follows a redirect from https to plain http beyond this machine, whatever is fetched', { skip: opensslMissing }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'provenant-downgrade-'));
    const cert = await selfSignedCertificate(dir, 'mirror', '/CN=127.0.0.1', 'IP:127.0.0.1');
    const server = createHttpsServer({ key: cert.key, cert: cert.cert }, (req, res) => {
      if (req.url === '/down') res.writeHead(301, { location: 'http://mirror.invalid/dists/stable/InRelease' }).end();
      else res.end('over TLS');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
      // The certificate is trusted through NODE_EXTRA_CA_CERTS, which Node reads when it starts.
      const script = `
        import { fetchFile } from ${JSON.stringify(pathToFileURL(join(root, 'src', 'pkg', 'fetch.ts')).href)};
        const text = new TextDecoder().decode(await fetchFile(${JSON.stringify(`${base}/file`)}));
        const down = await fetchFile(${JSON.stringify(`${base}/down`)}).then(() => 'followed', (e) => e.code + ' ' + e.message);
        console.log(JSON.stringify({ text, down }));`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        env: { ...process.env, NODE_EXTRA_CA_CERTS: cert.certPath },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
      });
      await once(child, 'close');
      const r = JSON.parse(out) as { text: string; down: string };
      assert.equal(r.text, 'over TLS');
      assert.match(r.down, /^INSECURE .*redirects to plain HTTP \(http:\/\/mirror\.invalid\/dists\/stable\/InRelease\)/);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await rm(dir, { recursive: true, force: true });
    }
  });
});
