// gzip detection, and gzip and gunzip streams (multi-member aware).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { gunzip, gzip, isGzip } from '../../src/archive/gzip.ts';
import { readTar, tarBytes } from '../../src/archive/tar.ts';
import { toolMissing } from '../helpers/images.ts';
import { chunked, collect, concat, hdr, rejectsWith, text } from './helpers.ts';

describe('isGzip', () => {
  it('recognizes the gzip magic', () => {
    assert.equal(isGzip(gzipSync(text('x'))), true);
    assert.equal(isGzip(Uint8Array.of(0x1f, 0x8b)), true);
    assert.equal(isGzip(Uint8Array.of(0x1f, 0x8b, 0x07)), false, 'only deflate (CM 8) exists');
    assert.equal(isGzip(Uint8Array.of(0x1f)), false);
    assert.equal(isGzip(new Uint8Array(0)), false);
    assert.equal(isGzip(text('ustar')), false);
  });
});

describe('gzip and gunzip', () => {
  it('round-trip any bytes, in any chunking', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 20000 }),
        fc.integer({ min: 0, max: 9 }),
        fc.integer({ min: 1, max: 5000 }),
        async (data, level, size) => {
          const packed = await collect(gzip(chunked(data, [size]), level));
          assert.ok(isGzip(packed));
          assert.deepEqual(await collect(gunzip(chunked(packed, [size]))), data);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('decompress every member of a multi-member stream', async () => {
    const joined = concat([gzipSync(text('first ')), gzipSync(text('second ')), gzipSync(new Uint8Array(0)), gzipSync(text('third'))]);
    assert.equal(Buffer.from(await collect(gunzip(chunked(joined, [7])))).toString(), 'first second third');
    // Zero padding after the last member (tape-style blocking) is tolerated; other trailing bytes are not.
    assert.equal(Buffer.from(await collect(gunzip([joined, new Uint8Array(512)]))).toString(), 'first second third');
    await rejectsWith(() => collect(gunzip([joined, text('trailing garbage')])), 'INVALID_ARCHIVE');
  });

  it('gunzip what gzip(1) makes, and gzip(1) reads what gzip makes', { skip: toolMissing('gzip') }, async () => {
    const data = new Uint8Array(100_000).map((_, i) => (i * 7) % 256);
    const byTool = spawnSync('gzip', ['-c', '-9'], { input: data });
    assert.equal(byTool.status, 0);
    assert.deepEqual(await collect(gunzip([new Uint8Array(byTool.stdout)])), data);
    const ours = await collect(gzip([data]));
    const back = spawnSync('gzip', ['-d', '-c'], { input: ours });
    assert.equal(back.status, 0, String(back.stderr));
    assert.deepEqual(new Uint8Array(back.stdout), data);
  });

  it('feed readTar a .tar.gz as a stream', async () => {
    const tar = await tarBytes([{ header: hdr({ name: 'a.txt', size: 2 }), body: text('hi') }]);
    const names: string[] = [];
    for await (const { header } of readTar(gunzip(gzip(chunked(tar, [100]))))) names.push(header.name);
    assert.deepEqual(names, ['a.txt']);
  });

  it('report a cut-off stream as TRUNCATED, with where', async () => {
    const packed = gzipSync(new Uint8Array(5000).fill(1));
    for (const n of [1, 5, 10, 20, packed.length - 4, packed.length - 1]) {
      const err = await rejectsWith(() => collect(gunzip([packed.subarray(0, n)], { where: 'layer.tar.gz' })), 'TRUNCATED');
      assert.equal(err.where, 'layer.tar.gz', `cut at ${n}`);
    }
    await rejectsWith(() => collect(gunzip([])), 'TRUNCATED');
  });

  it('report corrupt data as INVALID_ARCHIVE', async () => {
    const packed = gzipSync(text('hello hello hello hello'));
    const crc = Uint8Array.from(packed);
    crc[crc.length - 6] = crc[crc.length - 6]! ^ 0xff; // CRC32 of the trailer
    const err = await rejectsWith(() => collect(gunzip([crc], { where: 'x.gz' })), 'INVALID_ARCHIVE');
    assert.equal(err.where, 'x.gz');
    await rejectsWith(() => collect(gunzip([text('this is not gzip at all')])), 'INVALID_ARCHIVE');
  });

  it('fail cleanly on any damaged stream (property-based)', async () => {
    const packed = gzipSync(new Uint8Array(3000).map((_, i) => i % 13));
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: packed.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        fc.boolean(),
        async (at, x, cut) => {
          const b = Uint8Array.from(packed);
          b[at] = b[at]! ^ x;
          const input = cut ? packed.subarray(0, at) : b;
          try {
            await collect(gunzip(chunked(input, [64])));
          } catch (err) {
            // A flip in the header's MTIME, XFL or OS bytes is harmless; everything else must fail cleanly.
            await rejectsWith(() => Promise.reject(err), 'INVALID_ARCHIVE', 'TRUNCATED');
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('pass an input error through as a ProvenantError', async () => {
    async function* failing() {
      yield gzipSync(text('x')).subarray(0, 5);
      throw new Error('network down');
    }
    const err = await rejectsWith(() => collect(gunzip(failing())), 'IO');
    assert.match(err.message, /network down/);
  });

  it('refuse a level outside 0..9', async () => {
    await rejectsWith(() => collect(gzip([text('x')], 10)), 'USAGE');
  });
});
