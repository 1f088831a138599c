// A build record's file lists, written a piece at a time (src/builder/memo.ts writeJsonLine).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Layer } from '../../src/builder/layer.ts';
import { rememberImage, writeJsonLine } from '../../src/builder/memo.ts';
import { DownloadCache } from '../../src/pkg/fetch.ts';
import { filesOnDemand, type InstalledPackage } from '../../src/pkg/source.ts';
import { useTempDir } from '../helpers/temp.ts';

/** What writeJsonLine writes of `list`, and in how many pieces. */
async function written(list: readonly unknown[]): Promise<{ text: string; pieces: number }> {
  const chunks: Uint8Array[] = [];
  await writeJsonLine({ write: async (chunk: Uint8Array) => void chunks.push(chunk) }, list);
  return { text: Buffer.concat(chunks).toString('utf8'), pieces: chunks.length };
}

describe('writeJsonLine', () => {
  it('writes what JSON.stringify and a newline give, for any list', async () => {
    const file = fc.record({
      path: fc.string({ unit: 'binary', maxLength: 300 }),
      sha1: fc.option(fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 40, maxLength: 40 }), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(file, fc.constant(undefined), fc.integer()), { maxLength: 600 }), async (list) => {
        assert.equal((await written(list)).text, `${JSON.stringify(list)}\n`);
      }),
      { numRuns: 200 },
    );
  });

  it('writes a long list in pieces, not its whole text at once, characters outside ASCII and pairs of surrogates whole across them', async () => {
    const list = Array.from({ length: 10_000 }, (_, i) => ({ path: `/usr/lib/bench/fîlé-${i}-\u{1F4E6}`, sha1: 'a'.repeat(40) }));
    const { text, pieces } = await written(list);
    assert.equal(text, `${JSON.stringify(list)}\n`);
    assert.ok(pieces > 5, `${pieces} pieces for ${text.length} characters`);
  });

  it('walks a list made as it is walked a piece at a time, never asking for the whole list before writing, and counts it', async () => {
    const n = 10_000;
    let made = 0;
    const files = function* () {
      for (let i = 0; i < n; i++, made++) yield { path: `/usr/lib/bench/file-${i}`, sha1: 'b'.repeat(40) };
    };
    const chunks: Uint8Array[] = [];
    const madeAtWrite: number[] = [];
    const count = await writeJsonLine(
      {
        write: async (chunk: Uint8Array) => {
          chunks.push(chunk);
          madeAtWrite.push(made);
        },
      },
      files(),
    );
    assert.equal(count, n);
    assert.equal(Buffer.concat(chunks).toString('utf8'), `${JSON.stringify([...files()])}\n`);
    assert.ok(madeAtWrite[0]! < n / 2, `the first piece was written once ${madeAtWrite[0]} of ${n} files were made`);
  });
});

describe('a build record', () => {
  const tempDir = useTempDir('memo-lists');

  it("writes each package's files as they are walked, never asking for its whole list", async () => {
    const cache = new DownloadCache(join(await tempDir(), 'cache'));
    const record = filesOnDemand({ name: 'p', version: '1' } as unknown as InstalledPackage, function* () {
      yield { path: '/etc/a', sha1: 'a'.repeat(40) };
      yield { path: '/etc/b', sha1: 'b'.repeat(40) };
    });
    // The whole list, asked for, fails: the record must walk the files.
    Object.defineProperty(record, 'files', {
      enumerable: true,
      get: () => {
        throw new Error('the whole list was asked for');
      },
    });
    await rememberImage(cache, 'k', { fetched: [], packages: [record], layers: [{ key: 'layer' } as Layer], osRelease: '' });
    const lists = await cache.locate('image-memo-files:k');
    assert.ok(lists !== undefined, 'the record was kept');
    assert.equal(
      await readFile(lists.path, 'utf8'),
      `[{"path":"/etc/a","sha1":"${'a'.repeat(40)}"},{"path":"/etc/b","sha1":"${'b'.repeat(40)}"}]\n`,
    );
  });
});
