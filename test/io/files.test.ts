// writeFileAtomic: the one way files are replaced; a reader sees the old file or the whole new one.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { link, mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isProvenantError, ProvenantError } from '../../src/errors.ts';
import {
  fileChunksReused,
  fileSource,
  fileVersion,
  hashFile,
  whyUnreadable,
  writeFileAtomic,
  writeFilesAtomic,
} from '../../src/io/files.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('files');

describe('writeFilesAtomic', () => {
  it('replaces all the files or none: a folder in the way or a write that fails leaves the old files and no temporary one', async () => {
    const dir = await tempDir();
    const [a, b] = [join(dir, 'a.key'), join(dir, 'a.pub')];
    await writeFile(a, 'old key');
    await writeFile(b, 'old pub');
    await writeFilesAtomic([
      { path: a, data: 'new key', mode: 0o600 },
      { path: b, data: 'new pub' },
    ]);
    assert.equal(await readFile(a, 'utf8'), 'new key');
    assert.equal((await stat(a)).mode & 0o777, 0o600);
    assert.equal(await readFile(b, 'utf8'), 'new pub');

    const folder = join(dir, 'b.pub');
    await mkdir(folder);
    await writeFile(join(dir, 'b.key'), 'old key');
    await assert.rejects(
      writeFilesAtomic([
        { path: join(dir, 'b.key'), data: 'new key' },
        { path: folder, data: 'new pub' },
      ]),
      (e: unknown) => isProvenantError(e, 'IO') && e.message === `${folder} is a folder; nothing was written`,
    );
    // The second file's folder is missing: found only when writing it, after the first was written.
    await assert.rejects(
      writeFilesAtomic([
        { path: join(dir, 'b.key'), data: 'new key' },
        { path: join(dir, 'nope', 'b.pub'), data: 'new pub' },
      ]),
      (e: unknown) => isProvenantError(e, 'NOT_FOUND'),
    );
    assert.equal(await readFile(join(dir, 'b.key'), 'utf8'), 'old key');
    assert.deepEqual((await readdir(dir)).sort(), ['a.key', 'a.pub', 'b.key', 'b.pub']);
  });
});

describe('writeFileAtomic', () => {
  it('names the path the user gave when a part of it is a file or its name is too long, and leaves nothing', async () => {
    const dir = await tempDir();
    const file = join(dir, 'misc.apk');
    await writeFile(file, 'a file');
    const refused = (pattern: RegExp) => (e: unknown) => isProvenantError(e, 'IO') && pattern.test(e.message) && e.hint !== undefined;
    // The cleanup's own ENOTDIR (removing a temporary file under a file) hid this one.
    await assert.rejects(
      writeFileAtomic(join(file, 'x.apk'), 'x'),
      refused(new RegExp(`^${join(file, 'x.apk')}: a part of ${file} is a file, not a folder; nothing was written$`)),
    );
    await assert.rejects(writeFileAtomic(join(file, 'x.apk'), 'x', { mkdir: true }), refused(/misc\.apk is a file, not a folder/));
    await assert.rejects(writeFileAtomic(join(dir, 'a'.repeat(300)), 'x'), refused(/: the name is too long for the file system/));
    await assert.rejects(writeFileAtomic(join(dir, 'b'.repeat(250)), 'x'), refused(/b{250}: the name is too long for the file system/));
    await assert.rejects(
      writeFilesAtomic([
        { path: join(dir, 'c.key'), data: 'k' },
        { path: join(file, 'c.pub'), data: 'p' },
      ]),
      refused(/a part of .* is a file, not a folder/),
    );
    assert.deepEqual(await readdir(dir), ['misc.apk']);
  });

  it('writes text, bytes and streams, with the mode asked for, creating the folder on request', async () => {
    const dir = await tempDir();
    await writeFileAtomic(join(dir, 'a.txt'), 'text');
    await writeFileAtomic(join(dir, 'b.bin'), new Uint8Array([1, 2, 3]), { mode: 0o600 });
    await writeFileAtomic(
      join(dir, 'sub', 'c.bin'),
      (async function* () {
        yield new Uint8Array([4]);
        yield new Uint8Array([5, 6]);
      })(),
      { mkdir: true },
    );
    assert.equal(await readFile(join(dir, 'a.txt'), 'utf8'), 'text');
    assert.equal((await stat(join(dir, 'b.bin'))).mode & 0o777, 0o600);
    assert.deepEqual(new Uint8Array(await readFile(join(dir, 'sub', 'c.bin'))), new Uint8Array([4, 5, 6]));
    assert.deepEqual((await readdir(dir)).sort(), ['a.txt', 'b.bin', 'sub']);
  });

  it('keeps an exact mode past the umask when asked, and says a folder is in the way without naming its temporary file', async () => {
    const dir = await tempDir();
    const old = process.umask(0o022);
    try {
      await writeFileAtomic(join(dir, 'exact'), 'x', { mode: 0o664, exactMode: true });
      await writeFileAtomic(join(dir, 'masked'), 'x', { mode: 0o664 });
    } finally {
      process.umask(old);
    }
    assert.equal((await stat(join(dir, 'exact'))).mode & 0o777, 0o664);
    assert.equal((await stat(join(dir, 'masked'))).mode & 0o777, 0o644);
    await mkdir(join(dir, 'folder'));
    await assert.rejects(writeFileAtomic(join(dir, 'folder'), 'x'), (e: unknown) => {
      assert.ok(isProvenantError(e, 'IO'));
      assert.equal(e.message, `${join(dir, 'folder')} is a folder; nothing was written`);
      assert.match(e.hint ?? '', /name a file/);
      return true;
    });
    assert.deepEqual((await readdir(dir)).sort(), ['exact', 'folder', 'masked']);
    // A folder that is not there is named, not the temporary file open could not make in it.
    await assert.rejects(writeFileAtomic(join(dir, 'nope', 'f'), 'x'), (e: unknown) => {
      assert.ok(isProvenantError(e, 'NOT_FOUND'), String(e));
      assert.equal(e.message, `${join(dir, 'nope')} does not exist; ${join(dir, 'nope', 'f')} was not written`);
      return true;
    });
  });

  it('refuses a folder (`.`, `..`, `sub/..`, one that exists) as "is a folder" before reading a byte of what to write', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'sub'));
    await mkdir(join(dir, 'full'));
    await writeFile(join(dir, 'full', 'f'), 'x');
    for (const path of [`${dir}/.`, `${dir}/..`, `${dir}/sub/..`, join(dir, 'sub'), join(dir, 'full')]) {
      let read = false;
      async function* data(): AsyncGenerator<Uint8Array> {
        read = true;
        yield new TextEncoder().encode('x');
      }
      await assert.rejects(writeFileAtomic(path, data(), { mkdir: true }), (e: unknown) => {
        assert.ok(isProvenantError(e, 'IO'), String(e));
        assert.equal(e.message, `${path} is a folder; nothing was written`);
        return true;
      });
      assert.equal(read, false, path);
    }
    assert.deepEqual((await readdir(dir)).sort(), ['full', 'sub']);
    assert.deepEqual(await readdir(join(dir, 'sub')), []);
  });

  it('leaves the old file and no temporary file when the stream fails, and throws its error as it is', async () => {
    const dir = await tempDir();
    const path = join(dir, 'f');
    await writeFile(path, 'old');
    const failing = (async function* () {
      yield new Uint8Array(1000);
      throw new ProvenantError('DIGEST_MISMATCH', 'not what the descriptor says');
    })();
    await assert.rejects(writeFileAtomic(path, failing), (e: unknown) => isProvenantError(e, 'DIGEST_MISMATCH'));
    assert.equal(await readFile(path, 'utf8'), 'old');
    assert.deepEqual(await readdir(dir), ['f']);
  });

  it('is ABORTED by its signal, and leaves the old file', async () => {
    const dir = await tempDir();
    const path = join(dir, 'f');
    await writeFile(path, 'old');
    const controller = new AbortController();
    const endless = (async function* () {
      for (let i = 0; ; i++) {
        if (i === 3) controller.abort();
        yield new Uint8Array(1024);
        await new Promise((r) => setImmediate(r));
      }
    })();
    await assert.rejects(writeFileAtomic(path, endless, { signal: controller.signal }), (e: unknown) => isProvenantError(e, 'ABORTED'));
    assert.equal(await readFile(path, 'utf8'), 'old');
    assert.deepEqual(await readdir(dir), ['f']);
  });

  it('says NOT_FOUND, naming the place, when the folder is missing', async () => {
    const dir = await tempDir();
    await assert.rejects(
      writeFileAtomic(join(dir, 'missing', 'f'), 'x', { where: 'the lock file' }),
      (e: unknown) => isProvenantError(e, 'NOT_FOUND') && e.where === 'the lock file',
    );
  });
});

describe('fileVersion', () => {
  it('changes with a write, a replacement or a new time, and not with a hard link', async () => {
    const dir = await tempDir();
    const path = join(dir, 'blob');
    await writeFile(path, 'one');
    // Whole seconds, which utimes sets exactly: a write within the clock tick of the last would
    // otherwise leave the time as it was.
    const at = (s: number) => new Date(Math.floor(Date.now() / 1000) * 1000 - s * 1000);
    await utimes(path, at(60), at(60));
    const first = fileVersion(path);
    assert.ok(first);
    assert.equal(fileVersion(path), first, 'read twice');
    await link(path, join(dir, 'linked'));
    assert.equal(fileVersion(path), first, 'a hard link to it');
    await writeFile(path, 'two');
    await utimes(path, at(50), at(50));
    const written = fileVersion(path);
    assert.notEqual(written, first, 'written to');
    await writeFile(join(dir, 'next'), 'two');
    await utimes(join(dir, 'next'), at(50), at(50));
    await rename(join(dir, 'next'), path);
    assert.notEqual(fileVersion(path), written, 'replaced by another file of the same size and time');
    assert.equal(fileVersion(join(dir, 'absent')), undefined);
  });
});

describe('fileChunksReused', () => {
  it('gives the file whole, in chunks of the buffer size, whatever its length', async () => {
    const dir = await tempDir();
    for (const length of [0, 1, 4095, 4096, 4097, 3 * 4096, 10_000]) {
      const path = join(dir, `f${length}`);
      const bytes = new Uint8Array(length).map((_, i) => (i * 7) % 251);
      await writeFile(path, bytes);
      const got: number[] = [];
      const sizes: number[] = [];
      for await (const chunk of fileChunksReused(path, 4096)) {
        sizes.push(chunk.length);
        // A chunk is read before the next is asked for, as its contract says.
        got.push(...chunk);
      }
      assert.deepEqual(new Uint8Array(got), bytes, `${length} bytes`);
      assert.ok(
        sizes.every((s, i) => s === 4096 || i === sizes.length - 1),
        `chunks of ${sizes.join(', ')}`,
      );
    }
  });

  it('leaves no file open when the reader stops early, a read still under way', async () => {
    const dir = await tempDir();
    const path = join(dir, 'big');
    await writeFile(path, new Uint8Array(64 * 1024));
    const before = (await readdir('/proc/self/fd')).length;
    for await (const _ of fileChunksReused(path, 4096)) break;
    assert.equal((await readdir('/proc/self/fd')).length, before);
  });

  it('frees its buffers when the stream ends, read through or stopped early, instead of leaving them to a collection', async () => {
    const dir = await tempDir();
    const path = join(dir, 'f');
    await writeFile(path, new Uint8Array(3 * 4096 + 5));
    const buffers = new Set<ArrayBufferLike>();
    for await (const chunk of fileChunksReused(path, 4096)) buffers.add(chunk.buffer);
    assert.equal(buffers.size, 2, 'two buffers, taken in turn');
    for (const b of buffers) assert.equal((b as ArrayBuffer).detached, true);
    let first: Uint8Array | undefined;
    for await (const chunk of fileChunksReused(path, 4096)) {
      first = chunk;
      break;
    }
    assert.equal((first!.buffer as ArrayBuffer).detached, true);
  });
});

describe('hashFile', () => {
  it('gives the SHA-256 and size of a file; IO naming it when it cannot be read; ABORTED when told', async () => {
    const dir = await tempDir();
    const path = join(dir, 'f');
    const bytes = new Uint8Array(3 * (1 << 20) + 5).map((_, i) => i % 253);
    await writeFile(path, bytes);
    assert.deepEqual(await hashFile(path, 'the file'), { sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length });
    await assert.rejects(hashFile(join(dir, 'absent'), 'the absent file'), (err: unknown) => {
      return isProvenantError(err, 'IO') && err.where === 'the absent file' && err.message.startsWith('cannot read the absent file');
    });
    await assert.rejects(hashFile(path, 'the file', AbortSignal.abort()), (err: unknown) => isProvenantError(err, 'ABORTED'));
  });
});

describe('fileSource', () => {
  it('opens its file when read: one gone before its reader came fails that reader, typed, not the process', async () => {
    const dir = await tempDir();
    const path = join(dir, 'layer');
    const bytes = new TextEncoder().encode('a cached layer');
    await writeFile(path, bytes);
    const source = fileSource({ mediaType: 'application/octet-stream', digest: digestOf(bytes), size: bytes.length }, path);
    // As a store does: opened, then its folder made and its own file opened before the first read.
    const stream = await source.open();
    await rm(path);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await assert.rejects(
      (async () => {
        for await (const _ of stream);
      })(),
      (err: unknown) =>
        isProvenantError(err, 'IO') && err.message === `cannot read ${path}: no such file or directory` && err.where === path,
    );
    // Read whole, from an offset, when it is there.
    await writeFile(path, bytes);
    const chunks: Uint8Array[] = [];
    for await (const chunk of await source.open(2)) chunks.push(chunk);
    assert.equal(Buffer.concat(chunks).toString(), 'cached layer');
  });
});

// A last read: `--key` and `--trusted-root` files this user may not read said the system's bare
// "EACCES: permission denied, open '...'" (whyUnreadable gave the system's message for them).
describe('whyUnreadable', () => {
  it('says a refused read in words, a missing file, a path through a file and a folder by what they are', () => {
    const error = (code: string) => Object.assign(new Error(`${code}: the system's words, open 'k.pub'`), { code });
    for (const code of ['EACCES', 'EPERM']) {
      const { code: c, why } = whyUnreadable(error(code));
      assert.equal(c, 'IO');
      assert.match(why, /^permission denied: this user may not read it/);
      assert.doesNotMatch(why, /EACCES|EPERM|open '/);
    }
    assert.deepEqual(whyUnreadable(error('ENOENT')), { code: 'NOT_FOUND', why: 'there is no such file' });
    assert.deepEqual(whyUnreadable(error('ENOTDIR')), { code: 'NOT_FOUND', why: 'there is no such file' });
    assert.deepEqual(whyUnreadable(error('EISDIR')), { code: 'USAGE', why: 'it is a folder' });
  });
});
