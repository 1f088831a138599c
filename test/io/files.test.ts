// writeFileAtomic: the one way files are replaced; a reader sees the old file or the whole new one.
import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isProvenantError, ProvenantError } from '../../src/errors.ts';
import { writeFileAtomic } from '../../src/io/files.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('files');

describe('writeFileAtomic', () => {
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

  it('says IO, naming the place, when the folder is missing', async () => {
    const dir = await tempDir();
    await assert.rejects(
      writeFileAtomic(join(dir, 'missing', 'f'), 'x', { where: 'the lock file' }),
      (e: unknown) => isProvenantError(e, 'IO') && e.where === 'the lock file',
    );
  });
});
