// A .deb read into the cache as a stream (src/pkg/deb/stream.ts) must be read as the whole
// package is (readDeb): the same facts, the same data tar, the same bodies at the places it
// gives, and the same refusals, with the same error codes.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { PATH_MAX, PATH_PARTS_MAX } from '../../../src/archive/paths.ts';
import { type TarWriteEntry, tarBytes, tarHeader, tarHeaderBytes } from '../../../src/archive/tar.ts';
import { isProvenantError } from '../../../src/errors.ts';
import { writeAr } from '../../../src/pkg/deb/ar.ts';
import { CONTROL_UNPACKED_MAX, type DebPackage, readDeb } from '../../../src/pkg/deb/deb.ts';
import { installDeb } from '../../../src/pkg/deb/install.ts';
import { type StreamedDeb, streamDebFile } from '../../../src/pkg/deb/stream.ts';
import { type CacheWriter, DownloadCache } from '../../../src/pkg/fetch.ts';
import { Tree } from '../../../src/vfs/tree.ts';
import { realDebs } from '../../helpers/debian.ts';
import { useTempDir } from '../../helpers/temp.ts';

const tempDir = useTempDir('deb-stream');
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');

type Outcome<T> = { ok: true; value: T } | { ok: false; code: string; message: string };

function outcome<T>(p: Promise<T>): Promise<Outcome<T>> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (err: unknown) => ({
      ok: false as const,
      code: isProvenantError(err) ? err.code : String(err),
      message: String((err as Error)?.message),
    }),
  );
}

/** Reads `bytes` both ways, the stream from a file in `dir`; `expected` is the SHA-256 both are given (the bytes' own by default). */
async function bothWays(
  dir: string,
  bytes: Uint8Array,
  expected = sha256(bytes),
  options: { maxUnpackedSize?: number; signal?: AbortSignal } = {},
) {
  const path = join(dir, 'p.deb');
  await writeFile(path, bytes);
  const where = 'p.deb';
  const whole = await outcome(readDeb(bytes, { where, expectedSha256: expected, maxUnpackedSize: options.maxUnpackedSize }));
  const cache = new DownloadCache(join(dir, 'cache'));
  const writer = await cache.writer();
  const streamed = await outcome(
    streamDebFile(path, writer, { where, expectedSha256: expected, ...options }).then(
      async (s) => ({ s, tar: new Uint8Array(await readFile((await writer.finish()).path)) }),
      async (err: unknown) => {
        await writer.abort();
        throw err;
      },
    ),
  );
  return { whole, streamed };
}

/** The facts both readers give, without the entries and data tar. */
function facts(p: Omit<DebPackage, 'entries' | 'dataTar'>) {
  const { sha256: s, size, formatVersion, name, version, architecture, multiArch, control, controlBytes, md5sums, md5sumsBytes } = p;
  return {
    s,
    size,
    formatVersion,
    name,
    version,
    architecture,
    multiArch,
    control,
    controlBytes: Buffer.from(controlBytes),
    md5sums,
    md5sumsBytes: md5sumsBytes === undefined ? undefined : Buffer.from(md5sumsBytes),
    conffiles: p.conffiles,
    scripts: new Map([...p.scripts].map(([k, v]) => [k, Buffer.from(v)])),
    controlFiles: new Map([...p.controlFiles].map(([k, v]) => [k, Buffer.from(v)])),
    members: p.members,
  };
}

/** Both reads of one package agree: facts, data tar, and every entry with its body where the stream says it lies. */
function assertSame(whole: Awaited<ReturnType<typeof readDeb>>, streamed: { s: StreamedDeb; tar: Uint8Array }): void {
  const { s, tar } = streamed;
  assert.deepEqual(facts(s.pkg), facts(whole));
  assert.ok(whole.dataTar !== undefined);
  assert.ok(Buffer.from(tar).equals(Buffer.from(whole.dataTar)), 'the data tar kept is the member unpacked');
  const entries = whole.entries;
  assert.equal(s.entries.length, entries.length);
  assert.equal(s.bodies.length, entries.length);
  for (const [i, e] of entries.entries()) {
    const got = s.entries[i]!;
    assert.equal(got.path, e.path);
    assert.deepEqual(got.header, e.header);
    assert.equal(got.hardlinkTarget, e.hardlinkTarget);
    const body = s.bodies[i];
    if (e.header.type !== 'file') {
      assert.equal(body, undefined, e.path);
      continue;
    }
    assert.ok(body !== undefined && e.body instanceof Uint8Array, e.path);
    const bytes = e.body;
    assert.ok(
      Buffer.from(tar.subarray(body.offset, body.offset + bytes.length)).equals(Buffer.from(bytes)),
      `${e.path} lies where the stream says`,
    );
    assert.equal(body.sha256, sha256(bytes));
    assert.equal(body.crc32, zlib.crc32(bytes) >>> 0);
  }
}

const file = (name: string, body: Uint8Array, over: Partial<Parameters<typeof tarHeader>[0]> = {}): TarWriteEntry => ({
  header: tarHeader({ name, size: body.length, ...over }),
  body,
});
const dir = (name: string): TarWriteEntry => ({ header: tarHeader({ name, type: 'dir', mode: 0o755 }) });
const hardlink = (name: string, target: string): TarWriteEntry => ({ header: tarHeader({ name, type: 'hardlink', linkname: target }) });

type Compression = 'gzip' | 'zstd' | 'none' | 'xz';

/** A .deb of `files` (md5sums of every regular file unless `md5sums` is given), its members compressed as said. */
async function craftDeb(files: TarWriteEntry[], compress: Compression, md5sums?: string): Promise<Uint8Array> {
  const sums =
    md5sums ??
    files
      .filter((f) => f.header.type === 'file')
      .map((f) => `${md5(f.body as Uint8Array)}  ${f.header.name.replace(/^\.\//, '')}\n`)
      .join('');
  const control = 'Package: hello\nVersion: 1.0-1\nArchitecture: all\nMaintainer: A <a@example.org>\nDescription: says hi\n';
  const z = (b: Uint8Array): Uint8Array =>
    compress === 'gzip'
      ? zlib.gzipSync(b)
      : compress === 'zstd'
        ? (zlib as unknown as { zstdCompressSync: (b: Uint8Array) => Uint8Array }).zstdCompressSync(b)
        : compress === 'xz'
          ? new Uint8Array(execFileSync('xz', ['-c', '-0'], { input: b, maxBuffer: 1 << 28 }))
          : b;
  const ext = { gzip: '.gz', zstd: '.zst', xz: '.xz', none: '' }[compress];
  return writeAr([
    { name: 'debian-binary', data: enc('2.0\n') },
    { name: `control.tar${ext}`, data: z(await tarBytes([dir('./'), file('./control', enc(control)), file('./md5sums', enc(sums))])) },
    { name: `data.tar${ext}`, data: z(await tarBytes(files)) },
  ]);
}

const haveZstd = typeof (zlib as { zstdCompressSync?: unknown }).zstdCompressSync === 'function';
const COMPRESSIONS: Compression[] = haveZstd ? ['gzip', 'zstd', 'none'] : ['gzip', 'none'];
/** Those, and xz where the xz tool is there to make it (xz-utils, on any Debian). */
const ALL: Compression[] = spawnSync('xz', ['--version']).status === 0 ? [...COMPRESSIONS, 'xz'] : COMPRESSIONS;

/** The files this process holds open whose path ends in .deb. */
function openDebs(): string[] {
  return readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return '';
      }
    })
    .filter((p) => p.endsWith('.deb'));
}

/** Some files, folders and a hardlink, with bodies of every size class (empty, odd, over a tar block, over a read piece). */
function sampleFiles(big: number): TarWriteEntry[] {
  const body = (n: number, seed: number) => new Uint8Array(n).map((_, i) => (i * 31 + seed) % 251);
  return [
    dir('./'),
    dir('./usr/'),
    dir('./usr/bin/'),
    file('./usr/bin/hello', enc('#!/bin/sh\necho hi\n'), { mode: 0o755 }),
    file('./usr/bin/empty', new Uint8Array()),
    file('./usr/bin/big', body(big, 7)),
    hardlink('./usr/bin/hello2', './usr/bin/hello'),
    { header: tarHeader({ name: './usr/bin/sh', type: 'symlink', linkname: 'hello' }) },
    file('./usr/bin/odd', body(513, 3)),
  ];
}

const { debs: real, missing: noRealDebs } = realDebs(['base-files', 'tzdata', 'libc6', 'busybox-static', 'ca-certificates']);

describe('a .deb read as a stream', () => {
  for (const compress of COMPRESSIONS) {
    it(`is read as readDeb reads it whole (${compress} members, a body over a read piece)`, async () => {
      const d = await tempDir();
      const bytes = await craftDeb(sampleFiles(1_300_000), compress);
      const { whole, streamed } = await bothWays(d, bytes);
      assert.ok(whole.ok && streamed.ok, JSON.stringify({ whole, streamed }));
      assertSame(whole.value, streamed.value);
    });
  }

  it('reads real packages (xz, zstd and gzip members from the mirror) as readDeb does', { skip: noRealDebs }, async () => {
    for (const [name, path] of real) {
      const d = await tempDir();
      const bytes = new Uint8Array(await readFile(path!));
      const { whole, streamed } = await bothWays(d, bytes);
      assert.ok(whole.ok && streamed.ok, `${name}: ${JSON.stringify({ whole, streamed })}`);
      assertSame(whole.value, streamed.value);
    }
  });

  for (const compress of ALL) {
    it(`refuses a data member (${compress}) that unpacks past maxUnpackedSize as readDeb does, and lets go of the file`, async () => {
      const d = await tempDir();
      const bytes = await craftDeb(sampleFiles(3_000_000), compress);
      const { whole, streamed } = await bothWays(d, bytes, sha256(bytes), { maxUnpackedSize: 1 << 20 });
      assert.ok(!whole.ok && !streamed.ok, JSON.stringify({ whole, streamed }));
      assert.equal(streamed.code, 'INVALID_PACKAGE');
      assert.equal(streamed.message, whole.message);
      // What the stream opened is closed once it has said so (streams close on their next turn).
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(openDebs(), []);
    });

    it(`stops when cancelled while it reads a data member (${compress}), and lets go of the file`, async () => {
      const d = await tempDir();
      const bytes = await craftDeb(sampleFiles(6_000_000), compress);
      const path = join(d, 'p.deb');
      await writeFile(path, bytes);
      const controller = new AbortController();
      const writer = await new DownloadCache(join(d, 'cache')).writer();
      const reading = streamDebFile(path, writer, { where: 'p.deb', expectedSha256: sha256(bytes), signal: controller.signal });
      // Once the data member is being written, the build is cancelled.
      while (writer.size === 0) await new Promise((r) => setTimeout(r, 1));
      controller.abort(new Error('cancelled'));
      await assert.rejects(reading, (e: unknown) => isProvenantError(e, 'ABORTED'));
      await writer.abort();
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(openDebs(), []);
    });
  }

  it('says IO at once when the cache cannot be written (a full disk), without unpacking the rest', async () => {
    const d = await tempDir();
    const bytes = await craftDeb(sampleFiles(6_000_000), 'gzip');
    const path = join(d, 'p.deb');
    await writeFile(path, bytes);
    // A disk that fills up cannot be had on demand: a writer that fails its second write.
    let writes = 0;
    const writer: CacheWriter = {
      path: join(d, 'never'),
      size: 0,
      sha256: () => '',
      write: async () => {
        if (++writes > 1) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      },
      finish: async () => {
        throw new Error('not reached');
      },
      abort: async () => {},
    };
    await assert.rejects(
      streamDebFile(path, writer, { where: 'p.deb', expectedSha256: sha256(bytes) }),
      (e: unknown) => isProvenantError(e, 'IO') && /no space left/.test(e.message),
    );
    assert.equal(writes, 2, 'nothing was unpacked after the failed write');
  });

  it('refuses a control member over 64 MiB before reading it, as readDeb does', async () => {
    const d = await tempDir();
    const bytes = writeAr([
      { name: 'debian-binary', data: enc('2.0\n') },
      { name: 'control.tar', data: new Uint8Array(64 * 1024 * 1024 + 1) },
      { name: 'data.tar', data: await tarBytes([dir('./')]) },
    ]);
    const { whole, streamed } = await bothWays(d, bytes);
    assert.ok(!whole.ok && !streamed.ok);
    assert.equal(streamed.code, 'INVALID_PACKAGE');
    assert.match(streamed.message, /control member control\.tar is 67108865 bytes, more than the limit of 67108864/);
    assert.equal(streamed.message, whole.message);
  });

  it('refuses a control member that unpacks past CONTROL_UNPACKED_MAX, whatever maxUnpackedSize allows, as readDeb does', async () => {
    const d = await tempDir();
    // A control file, then 65 MiB of zeros in a file beside it: about 65 KB gzipped, made a MiB
    // at a time. Capped only by the data member's 2 GiB, a 1.5 MB one took 3.2 GB.
    const junk = CONTROL_UNPACKED_MAX + (1 << 20);
    const gz = zlib.createGzip({ level: 9 });
    const out: Buffer[] = [];
    gz.on('data', (c: Buffer) => out.push(c));
    const ended = new Promise((resolve) => gz.on('end', resolve));
    const control = enc('Package: hello\nVersion: 1.0-1\nArchitecture: all\nMaintainer: A <a@example.org>\nDescription: says hi\n');
    const head = await tarBytes([file('./control', control)]);
    gz.write(head.subarray(0, head.length - 1024));
    gz.write(tarHeaderBytes(tarHeader({ name: './junk', size: junk })));
    const zeros = new Uint8Array(1 << 20);
    for (let left = junk; left > 0; left -= zeros.length) {
      if (!gz.write(zeros)) await new Promise((resolve) => gz.once('drain', resolve));
    }
    gz.end(new Uint8Array(1024));
    await ended;
    const bytes = writeAr([
      { name: 'debian-binary', data: enc('2.0\n') },
      { name: 'control.tar.gz', data: Buffer.concat(out) },
      { name: 'data.tar.gz', data: zlib.gzipSync(await tarBytes([dir('./')])) },
    ]);
    assert.ok(bytes.length < 1024 * 1024, `${bytes.length} bytes`);
    const { whole, streamed } = await bothWays(d, bytes);
    assert.ok(!whole.ok && !streamed.ok, JSON.stringify({ whole, streamed }).slice(0, 300));
    assert.equal(streamed.code, 'INVALID_PACKAGE');
    assert.equal(streamed.message, 'the member control.tar.gz unpacks to more than 67108864 bytes');
    assert.equal(streamed.message, whole.message);
    await assert.rejects(
      readDeb(bytes, { where: 'bomb.deb' }),
      (err: unknown) => isProvenantError(err, 'INVALID_PACKAGE') && err.where === 'bomb.deb' && /control member/.test(err.hint ?? ''),
    );
    // A smaller maxUnpackedSize holds the control member too.
    const small = await bothWays(d, bytes, undefined, { maxUnpackedSize: 1 << 20 });
    assert.ok(!small.streamed.ok && /more than 1048576 bytes/.test(small.streamed.message));
  });

  it('refuses an entry name longer than PATH_MAX or deeper than PATH_PARTS_MAX, and a link target longer than PATH_MAX, as readDeb does', async () => {
    const d = await tempDir();
    // `a/` 100,000 times in a PAX `path` record: a .deb under 1 KB that filled the heap once installed.
    const deep = `./${'a/'.repeat(100_000)}f`;
    const cases: [TarWriteEntry, RegExp][] = [
      [file(deep, new Uint8Array()), /is 20000[13] bytes long, more than PATH_MAX \(4096\)/],
      [file(`./${'a/'.repeat(PATH_PARTS_MAX)}f`, new Uint8Array()), /has more than 1024 parts/],
      [{ header: tarHeader({ name: './l', type: 'symlink', linkname: 'a/'.repeat(PATH_MAX) }) }, /links to a target of 8192 bytes/],
    ];
    for (const [entry, message] of cases) {
      // No md5sums: its line for the file would be refused first (parseMd5sums cleans its paths).
      const bytes = await craftDeb([dir('./'), entry], 'gzip', '');
      assert.ok(bytes.length < 4096, `${bytes.length} bytes`);
      const { whole, streamed } = await bothWays(d, bytes);
      assert.ok(!whole.ok && !streamed.ok, String(message));
      assert.equal(streamed.code, 'UNSAFE_PATH');
      assert.match(streamed.message, message);
      assert.ok(streamed.message.length < 400, streamed.message.slice(0, 400));
      assert.equal(streamed.message, whole.message);
      await assert.rejects(
        readDeb(bytes, { where: 'evil.deb' }),
        (err: unknown) =>
          isProvenantError(err, 'UNSAFE_PATH') &&
          err.where !== undefined &&
          /^evil\.deb: "?(\.\/)?[al]/.test(err.where) &&
          err.where.length < 200,
      );
    }
  });

  it('accepts an entry name and a link target of PATH_MAX bytes, and installs them', async () => {
    const d = await tempDir();
    const longest = `./${'x'.repeat(200)}/${'a/'.repeat(1000)}${'y'.repeat(PATH_MAX - 2 - 201 - 2000)}`;
    const target = `/${'b/'.repeat(1000)}${'z'.repeat(PATH_MAX - 2001)}`;
    assert.equal(Buffer.byteLength(longest), PATH_MAX);
    assert.equal(Buffer.byteLength(target), PATH_MAX);
    const bytes = await craftDeb(
      [dir('./'), file(longest, enc('deep\n')), { header: tarHeader({ name: './l', type: 'symlink', linkname: target }) }],
      'gzip',
    );
    const { whole, streamed } = await bothWays(d, bytes);
    assert.ok(whole.ok && streamed.ok, JSON.stringify({ whole, streamed }).slice(0, 300));
    assertSame(whole.value, streamed.value);
    const tree = new Tree();
    installDeb(tree, whole.value);
    assert.equal(tree.get(longest.slice(2))?.type, 'file');
    assert.equal(tree.get('l')?.linkname, target);
    assert.equal(tree.resolve('l'), target.slice(1));
  });

  it('refuses a file that is not the one the index names, as readDeb does', async () => {
    const d = await tempDir();
    const bytes = await craftDeb(sampleFiles(10), 'gzip');
    const { whole, streamed } = await bothWays(d, bytes, 'a'.repeat(64));
    assert.ok(!whole.ok && !streamed.ok);
    assert.equal(streamed.code, 'DIGEST_MISMATCH');
    assert.equal(streamed.message, whole.message);
  });

  it('refuses a file whose MD5 is not what md5sums says, and a hardlink to no earlier file', async () => {
    const d = await tempDir();
    const files = sampleFiles(10);
    const wrong = await craftDeb(files, 'gzip', `${'0'.repeat(32)}  usr/bin/hello\n`);
    const first = await bothWays(d, wrong);
    assert.ok(!first.whole.ok && !first.streamed.ok);
    assert.equal(first.streamed.code, 'DIGEST_MISMATCH');
    assert.equal(first.streamed.message, first.whole.message);
    const dangling = await craftDeb([dir('./'), hardlink('./a', './b'), file('./b', enc('b'))], 'gzip');
    const second = await bothWays(d, dangling);
    assert.ok(!second.whole.ok && !second.streamed.ok);
    assert.equal(second.streamed.code, 'UNSAFE_PATH');
    assert.equal(second.streamed.message, second.whole.message);
  });

  it("refuses a whiteout name (.wh.), which would delete other packages' files once layered, naming the package and entry", async () => {
    const d = await tempDir();
    for (const name of ['./etc/.wh.passwd', './usr/lib/.wh..wh..opq', './.wh.etc/x']) {
      const bytes = await craftDeb([dir('./'), file(name, enc(''))], 'gzip');
      const { whole, streamed } = await bothWays(d, bytes);
      assert.ok(!whole.ok && !streamed.ok, name);
      assert.equal(streamed.code, 'UNSAFE_PATH', name);
      assert.match(streamed.message, /an OCI whiteout name/);
      assert.ok(streamed.message.includes(JSON.stringify(name)), streamed.message);
      assert.equal(streamed.message, whole.message);
      await assert.rejects(
        readDeb(bytes, { where: 'evil.deb' }),
        (err: unknown) => isProvenantError(err, 'UNSAFE_PATH') && err.where === `evil.deb: ${JSON.stringify(name)}`,
      );
    }
  });

  it('accepts and refuses what readDeb does, with the same code, for packages cut short or with bytes changed (property)', async () => {
    const d = await tempDir();
    const originals = new Map<Compression, Uint8Array>();
    for (const c of COMPRESSIONS) originals.set(c, await craftDeb(sampleFiles(3000), c));
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...COMPRESSIONS),
        fc.option(fc.nat(), { nil: undefined }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
        async (compress, cut, flips) => {
          const original = originals.get(compress)!;
          let bytes = original.slice();
          for (const [at, value] of flips) bytes[at % bytes.length] = value;
          if (cut !== undefined) bytes = bytes.subarray(0, cut % (bytes.length + 1));
          const { whole, streamed } = await bothWays(d, bytes);
          if (whole.ok) {
            assert.ok(streamed.ok, `readDeb read it; the stream said ${!streamed.ok && `${streamed.code}: ${streamed.message}`}`);
            assertSame(whole.value, streamed.value);
          } else {
            assert.ok(!streamed.ok, `readDeb refused it (${whole.code}: ${whole.message}); the stream read it`);
            assert.equal(streamed.code, whole.code, `${whole.message} / ${streamed.message}`);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('reads packages of random files as readDeb does (property)', async () => {
    const d = await tempDir();
    const name = fc.stringMatching(/^[a-z0-9]{1,12}$/);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...COMPRESSIONS),
        fc.uniqueArray(fc.tuple(name, fc.uint8Array({ maxLength: 2000 })), { selector: ([n]) => n, maxLength: 8 }),
        async (compress, list) => {
          const files = [dir('./'), ...list.map(([n, body]) => file(`./${n}`, body))];
          const { whole, streamed } = await bothWays(d, await craftDeb(files, compress));
          assert.ok(whole.ok && streamed.ok, JSON.stringify({ whole, streamed }));
          assertSame(whole.value, streamed.value);
        },
      ),
      { numRuns: 40 },
    );
  });
});
