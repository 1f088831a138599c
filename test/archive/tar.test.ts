// The tar writer and reader together: round trips, determinism, GNU tar in both directions, the
// real BuildKit oci-archive fixture, random access on disk, and fuzzing of the reader.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { link, lstat, mkdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { cleanEntryPath } from '../../src/archive/paths.ts';
import { indexTarFile, openTarMember, readTar, type TarEntryType, type TarHeader, tarBytes, writeTar } from '../../src/archive/tar.ts';
import { isProvenantError } from '../../src/errors.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';
import { useTempDir } from '../helpers/temp.ts';
import { chunked, collect, hdr, readAll, rejectsWith, text } from './helpers.ts';

const GNU_TAR = '/usr/bin/tar';
const noGnuTar: string | false = existsSync(GNU_TAR) ? false : `${GNU_TAR} is not installed`;
const OCI_TAR = 'buildkit-oci-layout-tar_2-platforms-with-legacy-attestation-manifests.tar';

const tempDir = useTempDir('tar');

function gnuTar(args: string[]): string {
  return execFileSync(GNU_TAR, args, { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', LC_ALL: 'C.UTF-8' } });
}

// ---------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------

const noSlashNul = (s: string): boolean => s.length > 0 && !s.includes('/') && !s.includes('\0');
// A plain segment: never "." or "..", which the path cleaner treats specially.
const segmentArb = fc
  .oneof(
    { weight: 4, arbitrary: fc.stringMatching(/^[a-zA-Z0-9._-]{1,10}$/) },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }).filter(noSlashNul) },
    { weight: 1, arbitrary: fc.stringMatching(/^[a-z]{60,120}$/) },
  )
  .filter((s) => s !== '.' && s !== '..');
const nameArb = fc.array(segmentArb, { minLength: 1, maxLength: 7 }).map((parts) => parts.join('/'));
const ownerArb = fc.oneof(
  fc.stringMatching(/^[a-z]{0,12}$/),
  fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => !s.includes('\0')),
);
const idArb = fc.oneof(fc.integer({ min: 0, max: 0o7777777 }), fc.integer({ min: 0, max: 2 ** 42 }));
const paxArb = fc.option(
  fc
    .tuple(
      // An xattr's value is a byte string: any bytes, NULs and invalid UTF-8 too.
      fc.dictionary(
        fc.stringMatching(/^SCHILY\.xattr\.user\.[a-z]{1,8}$/),
        fc.uint8Array({ minLength: 1, maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
        { maxKeys: 2 },
      ),
      fc.dictionary(
        fc.constantFrom('comment', 'atime', 'ctime'),
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 200 }).filter((s) => !s.includes('\0')),
        { maxKeys: 2 },
      ),
    )
    .filter(([a, b]) => Object.keys(a).length + Object.keys(b).length > 0)
    .map(([a, b]) => ({ ...a, ...b })), // fast-check's dictionaries have a null prototype; the reader's do not
  { nil: undefined },
);

interface Spec {
  header: TarHeader;
  body: Uint8Array;
  streamed: boolean;
}

const entryArb: fc.Arbitrary<Spec> = fc
  .record({
    name: nameArb,
    type: fc.constantFrom<TarEntryType>('file', 'file', 'dir', 'symlink', 'hardlink', 'char', 'block', 'fifo'),
    mode: fc.integer({ min: 0, max: 0o7777 }),
    uid: idArb,
    gid: idArb,
    uname: ownerArb,
    gname: ownerArb,
    mtime: fc.oneof(fc.integer({ min: 0, max: 0o77777777777 }), fc.integer({ min: -(2 ** 40), max: 2 ** 40 })),
    linkname: nameArb,
    devmajor: fc.integer({ min: 0, max: 0o7777777 }),
    devminor: fc.integer({ min: 0, max: 0o7777777 }),
    body: fc.uint8Array({ maxLength: 1500 }),
    pax: paxArb,
    streamed: fc.boolean(),
  })
  .map((r) => {
    const isFile = r.type === 'file';
    const isLink = r.type === 'symlink' || r.type === 'hardlink';
    const isDev = r.type === 'char' || r.type === 'block';
    const body = isFile ? r.body : new Uint8Array(0);
    const header: TarHeader = {
      name: r.type === 'dir' ? `${r.name}/` : r.name,
      type: r.type,
      mode: r.mode,
      uid: r.uid,
      gid: r.gid,
      uname: r.uname,
      gname: r.gname,
      size: body.length,
      mtime: r.mtime,
      linkname: isLink ? r.linkname : '',
      devmajor: isDev ? r.devmajor : 0,
      devminor: isDev ? r.devminor : 0,
    };
    if (r.pax !== undefined) header.pax = r.pax;
    return { header, body, streamed: r.streamed };
  });

async function* pieces(body: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < body.length; at += 333) yield body.slice(at, at + 333);
}

const toWrite = (specs: readonly Spec[]) => specs.map((s) => ({ header: s.header, body: s.streamed ? pieces(s.body) : s.body }));

const chunkSizesArb = fc.array(fc.integer({ min: 1, max: 1100 }), { minLength: 1, maxLength: 6 });

// ---------------------------------------------------------------------------------------------
// Round trip and determinism
// ---------------------------------------------------------------------------------------------

describe('tar round trip', () => {
  it('reads back every header and body the writer wrote, however the input is chunked', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(entryArb, { maxLength: 6 }), chunkSizesArb, async (specs, sizes) => {
        const bytes = await tarBytes(toWrite(specs));
        assert.equal(bytes.length % 512, 0);
        const read = await readAll(chunked(bytes, sizes));
        assert.deepEqual(
          read.map((e) => e.header),
          specs.map((s) => s.header),
        );
        for (const [i, e] of read.entries()) assert.deepEqual(e.body, specs[i]!.body);
      }),
      { numRuns: 200 },
    );
  });

  it('reads 1-byte chunks', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(entryArb, { maxLength: 3 }), async (specs) => {
        const bytes = await tarBytes(toWrite(specs));
        const read = await readAll(chunked(bytes, [1]));
        assert.deepEqual(
          read.map((e) => e.header),
          specs.map((s) => s.header),
        );
      }),
      { numRuns: 30 },
    );
  });

  it('writes identical bytes twice, streamed or not', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(entryArb, { maxLength: 5 }), async (specs) => {
        const a = await tarBytes(toWrite(specs));
        const b = await tarBytes(toWrite(specs.map((s) => ({ ...s, streamed: !s.streamed }))));
        assert.deepEqual(a, b);
      }),
      { numRuns: 100 },
    );
  });

  it('skips unread bodies and ends with two zero blocks', async () => {
    const bytes = await tarBytes([
      { header: hdr({ name: 'a', size: 700 }), body: new Uint8Array(700).fill(7) },
      { header: hdr({ name: 'b', size: 3 }), body: text('bcd') },
    ]);
    assert.deepEqual(bytes.subarray(bytes.length - 1024), new Uint8Array(1024));
    const names: string[] = [];
    let bBody = '';
    for await (const e of readTar(chunked(bytes, [5, 511]))) {
      names.push(e.header.name);
      if (e.header.name === 'b') bBody = Buffer.from(await collect(e.body)).toString();
    }
    assert.deepEqual(names, ['a', 'b']);
    assert.equal(bBody, 'bcd');
  });

  it('refuses a body whose length differs from the size', async () => {
    await rejectsWith(() => tarBytes([{ header: hdr({ name: 'f', size: 4 }), body: text('abc') }]), 'SIZE_MISMATCH');
    await rejectsWith(() => tarBytes([{ header: hdr({ name: 'f', size: 2 }), body: pieces(text('abc')) }]), 'SIZE_MISMATCH');
    await rejectsWith(() => tarBytes([{ header: hdr({ name: 'f', size: 2 }) }]), 'SIZE_MISMATCH');
  });

  it('streams: the first header comes out before a later body is produced', async () => {
    let pulled = false;
    async function* lazy(): AsyncGenerator<Uint8Array> {
      pulled = true;
      yield text('zz');
    }
    const gen = writeTar([
      { header: hdr({ name: 'first', size: 1 }), body: text('x') },
      { header: hdr({ name: 'second', size: 2 }), body: lazy() },
    ]);
    const first = await gen.next();
    assert.equal(first.done, false);
    assert.equal(pulled, false);
    await collect({ [Symbol.asyncIterator]: () => gen });
    assert.equal(pulled, true);
  });
});

// ---------------------------------------------------------------------------------------------
// GNU tar
// ---------------------------------------------------------------------------------------------

describe('GNU tar interoperability', { skip: noGnuTar }, () => {
  it('lists and extracts what we write', async () => {
    const dir = await tempDir();
    const longDir = `deep/${'d'.repeat(90)}/${'e'.repeat(90)}`;
    const longFile = `${longDir}/${'f'.repeat(120)}.txt`;
    const unicode = 'ünïcødé/日本語.txt';
    const longTarget = `../${'t'.repeat(150)}`;
    const entries = [
      { header: hdr({ name: 'deep/', type: 'dir', mode: 0o755, mtime: 1700000000 }) },
      { header: hdr({ name: `${longDir}/`, type: 'dir', mode: 0o755 }) },
      { header: hdr({ name: longFile, size: 5, mode: 0o644 }), body: text('long\n') },
      { header: hdr({ name: 'ünïcødé/', type: 'dir', mode: 0o755 }) },
      { header: hdr({ name: unicode, size: 4 }), body: text('utf8') },
      { header: hdr({ name: 'empty', size: 0 }) },
      { header: hdr({ name: 'sym', type: 'symlink', linkname: 'empty' }) },
      { header: hdr({ name: 'longsym', type: 'symlink', linkname: longTarget }) },
      { header: hdr({ name: 'hard', type: 'hardlink', linkname: unicode }) },
      {
        header: hdr({ name: 'big-ids', size: 2, uid: 2 ** 31, gid: 0o7777777 + 1, uname: 'x'.repeat(40), mtime: 2 ** 33 + 5 }),
        body: text('id'),
      },
    ];
    const file = join(dir, 'ours.tar');
    await writeFile(file, await tarBytes(entries));

    const listed = gnuTar(['--list', '--quoting-style=literal', '-f', file]).split('\n').filter(Boolean);
    assert.deepEqual(
      listed,
      entries.map((e) => e.header.name),
    );
    const verbose = gnuTar(['--list', '-v', '--numeric-owner', '--quoting-style=literal', '-f', file]);
    assert.match(verbose, /2147483648\/2097152 +2 /);
    assert.match(verbose, new RegExp(`longsym -> ${longTarget.replace(/\./g, '\\.')}`));

    const out = join(dir, 'out');
    await mkdir(out);
    gnuTar(['-x', '-f', file, '-C', out, '--no-same-owner']);
    assert.equal(await readFile(join(out, longFile), 'utf8'), 'long\n');
    assert.equal(await readFile(join(out, unicode), 'utf8'), 'utf8');
    assert.equal((await readFile(join(out, 'empty'))).length, 0);
    assert.equal(await readlink(join(out, 'sym')), 'empty');
    assert.equal(await readlink(join(out, 'longsym')), longTarget);
    assert.equal((await lstat(join(out, 'hard'))).ino, (await lstat(join(out, unicode))).ino);
    assert.equal((await lstat(join(out, 'deep'))).mtimeMs, 1700000000 * 1000);
    assert.equal((await lstat(join(out, 'big-ids'))).mtimeMs, (2 ** 33 + 5) * 1000);
  });

  for (const format of ['gnu', 'pax', 'ustar'] as const) {
    it(`reads GNU tar's --format=${format} archives`, async () => {
      const dir = await tempDir();
      const src = join(dir, 'src');
      // ustar holds names up to 255 bytes split at a slash and link targets up to 100.
      const long = format === 'ustar' ? `${'a'.repeat(90)}/${'b'.repeat(90)}` : `${'a'.repeat(120)}/${'b'.repeat(90)}/${'c'.repeat(110)}`;
      const target = format === 'ustar' ? 'file.txt' : `${'x'.repeat(150)}/../file.txt`;
      await mkdir(join(src, 'dir'), { recursive: true });
      await mkdir(join(src, long.slice(0, long.lastIndexOf('/'))), { recursive: true });
      await writeFile(join(src, 'file.txt'), 'hello\n');
      await writeFile(join(src, long), 'deep\n');
      await writeFile(join(src, 'empty'), '');
      await symlink(target, join(src, 'sym'));
      await link(join(src, 'file.txt'), join(src, 'hard'));
      const file = join(dir, `${format}.tar`);
      gnuTar([
        `--format=${format}`,
        '--sort=name',
        '--owner=0',
        '--group=0',
        '--numeric-owner',
        '--mtime=@1700000000',
        '-cf',
        file,
        '-C',
        src,
        '.',
      ]);
      const entries = await readAll(chunked(await readFile(file), [7, 512, 1000]));
      const byName = new Map(entries.map((e) => [cleanEntryPath(e.header.name), e]));
      assert.equal(byName.get('.')?.header.type, 'dir');
      assert.equal(byName.get('dir')?.header.type, 'dir');
      assert.ok(byName.get('dir')?.header.name.endsWith('/'));
      const f = byName.get('file.txt');
      assert.equal(f?.header.type, 'file');
      assert.equal(Buffer.from(f.body).toString(), 'hello\n');
      assert.equal(f.header.mtime, 1700000000);
      assert.equal(f.header.uid, 0);
      assert.equal(Buffer.from(byName.get(long)?.body ?? []).toString(), 'deep\n');
      assert.equal(byName.get(long)?.header.size, 5);
      assert.equal(byName.get('empty')?.header.size, 0);
      assert.equal(byName.get('empty')?.body.length, 0);
      assert.equal(byName.get('sym')?.header.type, 'symlink');
      assert.equal(byName.get('sym')?.header.linkname, target);
      const hard = byName.get('hard') ?? byName.get('file.txt');
      // GNU tar stores the second name of a file as a hard link to the first.
      const hardlinks = entries.filter((e) => e.header.type === 'hardlink');
      assert.equal(hardlinks.length, 1);
      assert.ok(hard);
      assert.equal(cleanEntryPath(hardlinks[0]!.header.linkname), 'file.txt');
      assert.equal(cleanEntryPath(hardlinks[0]!.header.name), 'hard');

      // And the same names through the file index, with the leading "./" dropped.
      const index = await indexTarFile(file);
      assert.ok(index.has('file.txt'));
      assert.ok(index.has(long));
      assert.equal(Buffer.from(await collect(openTarMember(file, index.get(long)!))).toString(), 'deep\n');
    });
  }
});

// ---------------------------------------------------------------------------------------------
// The real BuildKit oci-archive
// ---------------------------------------------------------------------------------------------

describe('the BuildKit oci-layout tarball fixture', { skip: fixturesMissing }, () => {
  it('lists oci-layout, index.json and blobs whose sha256 equals their names', async () => {
    const path = fixture('oci', OCI_TAR);
    const entries = await readAll(createReadStream(path), path);
    const names = entries.map((e) => cleanEntryPath(e.header.name));
    assert.ok(names.includes('oci-layout'));
    assert.ok(names.includes('index.json'));
    const layout = JSON.parse(Buffer.from(entries[names.indexOf('oci-layout')]!.body).toString());
    assert.equal(layout.imageLayoutVersion, '1.0.0');
    const index = JSON.parse(Buffer.from(entries[names.indexOf('index.json')]!.body).toString());
    assert.equal(index.schemaVersion, 2);
    let blobs = 0;
    for (const e of entries) {
      const m = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(cleanEntryPath(e.header.name));
      if (m === null) continue;
      blobs++;
      assert.equal(e.header.type, 'file');
      assert.equal(e.body.length, e.header.size);
      assert.equal(createHash('sha256').update(e.body).digest('hex'), m[1]);
    }
    assert.ok(blobs >= 5, `expected several blobs, found ${blobs}`);
    for (const d of index.manifests as Array<{ digest: string }>) {
      assert.ok(names.includes(`blobs/${d.digest.replace(':', '/')}`), `the index names ${d.digest}, which is in the tarball`);
    }
  });

  it('gives the same bytes through indexTarFile and openTarMember, from any start', async () => {
    const path = fixture('oci', OCI_TAR);
    const streamed = await readAll(createReadStream(path), path);
    const index = await indexTarFile(path);
    const files = streamed.filter((e) => e.header.type === 'file');
    assert.equal([...index.values()].filter((e) => e.header.type === 'file').length, files.length);
    for (const e of files) {
      const entry = index.get(cleanEntryPath(e.header.name));
      assert.ok(entry, `${e.header.name} is indexed`);
      assert.deepEqual(entry.header, e.header);
      assert.equal(entry.size, e.body.length);
      assert.deepEqual(await collect(openTarMember(path, entry)), e.body);
      const start = Math.floor(e.body.length / 3);
      assert.deepEqual(await collect(openTarMember(path, entry, start)), e.body.subarray(start));
      assert.equal((await collect(openTarMember(path, entry, e.body.length))).length, 0);
    }
    assert.ok(index.has('index.json'));
    assert.ok(index.has('oci-layout'));
  });

  it('is listed the same way by GNU tar', { skip: noGnuTar }, async () => {
    const path = fixture('oci', OCI_TAR);
    const listed = gnuTar(['--list', '--quoting-style=literal', '-f', path]).split('\n').filter(Boolean);
    const ours = (await readAll(createReadStream(path))).map((e) => e.header.name);
    assert.deepEqual(ours, listed);
  });
});

describe('openTarMember', () => {
  it('refuses a start outside the body', async () => {
    const file = join(await tempDir(), 'm.tar');
    await writeFile(file, await tarBytes([{ header: hdr({ name: './f', size: 3 }), body: text('abc') }]));
    const index = await indexTarFile(file);
    assert.deepEqual([...index.keys()], ['f']);
    assert.equal(index.get('f')?.header.name, './f');
    assert.equal(Buffer.from(await collect(openTarMember(file, index.get('f')!, 1))).toString(), 'bc');
    await rejectsWith(() => collect(openTarMember(file, index.get('f')!, 4)), 'USAGE');
    await rejectsWith(() => collect(openTarMember(file, index.get('f')!, -1)), 'USAGE');
  });
});

// ---------------------------------------------------------------------------------------------
// Fuzzing the reader
// ---------------------------------------------------------------------------------------------

/** Reads everything; returns the entries, or the ProvenantError code when it throws one. */
async function outcome(
  input: AsyncIterable<Uint8Array>,
): Promise<{ entries: Array<{ header: TarHeader; body: Uint8Array }> } | { code: string }> {
  try {
    return { entries: await readAll(input, 'fuzz.tar') };
  } catch (err) {
    if (!isProvenantError(err)) throw err;
    assert.equal(err.where, 'fuzz.tar');
    assert.match(err.message, /byte \d+/, `the message names a byte offset: ${err.message}`);
    return { code: err.code };
  }
}

const sampleArchive = tarBytes([
  { header: hdr({ name: 'dir/', type: 'dir', mode: 0o755 }) },
  { header: hdr({ name: 'dir/a.txt', size: 600 }), body: new Uint8Array(600).fill(0x61) },
  { header: hdr({ name: `dir/${'long'.repeat(40)}/ünï`, size: 3, pax: { comment: 'hi' } }), body: text('xyz') },
  { header: hdr({ name: 'link', type: 'symlink', linkname: 'l'.repeat(120) }) },
  { header: hdr({ name: 'empty' }) },
  { header: hdr({ name: 'ids', size: 1, uid: 2 ** 33, mtime: -5 }), body: text('!') },
]);

describe('reader fuzzing', () => {
  it('random bytes parse or fail with INVALID_ARCHIVE or TRUNCATED', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 3000 }), chunkSizesArb, async (bytes, sizes) => {
        const r = await outcome(chunked(bytes, sizes));
        if ('code' in r) assert.ok(['INVALID_ARCHIVE', 'TRUNCATED'].includes(r.code), r.code);
      }),
      { numRuns: 300 },
    );
  });

  it('random bytes behind a valid header parse or fail with INVALID_ARCHIVE or TRUNCATED', async () => {
    const valid = await sampleArchive;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 6 }), fc.uint8Array({ maxLength: 2000 }), async (blocks, tail) => {
        const bytes = new Uint8Array(blocks * 512 + tail.length);
        bytes.set(valid.subarray(0, blocks * 512));
        bytes.set(tail, blocks * 512);
        const r = await outcome(chunked(bytes, [100]));
        if ('code' in r) assert.ok(['INVALID_ARCHIVE', 'TRUNCATED'].includes(r.code), r.code);
      }),
      { numRuns: 300 },
    );
  });

  it('every truncation reads a prefix of the entries or fails with TRUNCATED', async () => {
    const valid = await sampleArchive;
    const full = await readAll(chunked(valid, [4096]));
    for (let cut = 0; cut <= valid.length; cut++) {
      const r = await outcome(chunked(valid.subarray(0, cut), [cut % 2 === 0 ? 512 : 97]));
      if ('code' in r) {
        assert.equal(r.code, 'TRUNCATED', `cut at ${cut}`);
        // A cut inside a header or body is always an error, never a shorter archive.
        continue;
      }
      assert.ok(r.entries.length <= full.length);
      assert.deepEqual(r.entries, full.slice(0, r.entries.length), `cut at ${cut}`);
      if (cut % 512 !== 0) assert.fail(`a cut at ${cut}, inside a block, was accepted`);
    }
  });

  it('byte flips parse or fail with INVALID_ARCHIVE or TRUNCATED', async () => {
    const valid = await sampleArchive;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        chunkSizesArb,
        async (flips, fixSums, sizes) => {
          const bytes = valid.slice();
          for (const [at, x] of flips) bytes[at]! ^= x;
          if (fixSums) {
            // Recompute checksums so that the flips reach the field parsers behind the check.
            for (let at = 0; at + 512 <= bytes.length; at += 512) {
              const block = bytes.subarray(at, at + 512);
              if (/^[0-7 \0]{8}$/.test(Buffer.from(block.subarray(148, 156)).toString('latin1')) && block.some((b) => b !== 0)) {
                block.fill(0x20, 148, 156);
                let sum = 0;
                for (const b of block) sum += b;
                block.set(Buffer.from(`${sum.toString(8).padStart(6, '0')}\0 `, 'latin1'), 148);
              }
            }
          }
          const r = await outcome(chunked(bytes, sizes));
          if ('code' in r) assert.ok(['INVALID_ARCHIVE', 'TRUNCATED'].includes(r.code), r.code);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('an oversized PAX header is refused without reading it', async () => {
    const block = new Uint8Array(512);
    const put = (at: number, s: string) => block.set(Buffer.from(s, 'latin1'), at);
    put(0, 'PaxHeaders/x');
    put(100, '0000644');
    put(124, (2 * 1024 * 1024).toString(8).padStart(11, '0'));
    put(156, 'x');
    put(257, 'ustar\u000000');
    block.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of block) sum += b;
    put(148, `${sum.toString(8).padStart(6, '0')}\0 `);
    const err = await rejectsWith(() => readAll(chunked(block, [512])), 'INVALID_ARCHIVE');
    assert.match(err.message, /byte 0/);
  });
});

// ---------------------------------------------------------------------------------------------
// cleanEntryPath
// ---------------------------------------------------------------------------------------------

describe('cleanEntryPath (with tar)', () => {
  it('cleans the usual spellings', () => {
    assert.equal(cleanEntryPath('./a/b'), 'a/b');
    assert.equal(cleanEntryPath('a//b/./c/'), 'a/b/c');
    assert.equal(cleanEntryPath('a/../b'), 'b');
    assert.equal(cleanEntryPath('./'), '.');
    assert.equal(cleanEntryPath('.'), '.');
  });

  it('refuses unsafe names with UNSAFE_PATH', () => {
    for (const bad of ['', '/etc/passwd', '..', '../x', 'a/../../x', './..', 'a\0b', '//x']) {
      assert.throws(
        () => cleanEntryPath(bad, 'layer.tar'),
        (err: unknown) => isProvenantError(err, 'UNSAFE_PATH') && err.where === 'layer.tar',
        JSON.stringify(bad),
      );
    }
  });

  const rawSegment = fc.oneof(
    fc.constantFrom('.', '..', '', 'a', 'b'),
    fc.string({ unit: 'grapheme', maxLength: 6 }).filter((s) => !s.includes('/')),
  );
  it('either refuses a name or gives a relative path without "..", ".", or empty parts, and is idempotent', () => {
    fc.assert(
      fc.property(fc.array(rawSegment, { maxLength: 8 }), (parts) => {
        const name = parts.join('/');
        let clean: string;
        try {
          clean = cleanEntryPath(name);
        } catch (err) {
          assert.ok(isProvenantError(err, 'UNSAFE_PATH'));
          return;
        }
        assert.ok(!clean.startsWith('/'));
        assert.ok(!clean.includes('\0'));
        if (clean !== '.') for (const p of clean.split('/')) assert.ok(p !== '' && p !== '.' && p !== '..', clean);
        assert.equal(cleanEntryPath(clean), clean);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps names made of plain segments as they are', () => {
    fc.assert(
      fc.property(fc.array(segmentArb, { minLength: 1, maxLength: 6 }), fc.boolean(), fc.boolean(), (parts, dot, slash) => {
        const joined = parts.join('/');
        assert.equal(cleanEntryPath(`${dot ? './' : ''}${joined}${slash ? '/' : ''}`), joined);
      }),
    );
  });

  it('refuses every name that climbs out of the root', () => {
    fc.assert(
      fc.property(fc.array(segmentArb, { maxLength: 4 }), (parts) => {
        const name = [...parts, ...parts.map(() => '..'), '..', 'x'].join('/');
        assert.throws(
          () => cleanEntryPath(name),
          (err: unknown) => isProvenantError(err, 'UNSAFE_PATH'),
        );
      }),
    );
  });
});
