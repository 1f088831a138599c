// pinnedGzip: the same bytes on every machine, golden digests, segments, workers and cancellation.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gunzipSync, inflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import {
  deflateBlock,
  type GzipSegment,
  LIBDEFLATE_WASM_SHA256,
  PINNED_GZIP_BLOCK_SIZE,
  PINNED_GZIP_LEVEL,
  type PrecompressedSegment,
  pinnedGzip,
  pinnedGzipBytes,
  precompressSegment,
  segmentBlocks,
} from '../../src/archive/deflate.ts';
import { walkDeflate } from '../../src/archive/deflate-walk.ts';
import { isGzip } from '../../src/archive/gzip.ts';
import { ProvenantError } from '../../src/errors.ts';
import { toolMissing } from '../helpers/images.ts';
import { chunked, collect, concat, rejectsWith } from './helpers.ts';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Incompressible bytes, the same on every run: SHA-256 of a counter. */
function noise(size: number, seed = 0): Uint8Array {
  const out = new Uint8Array(size);
  for (let at = 0, i = 0; at < size; i++, at += 32)
    out.set(
      createHash('sha256')
        .update(`${seed}:${i}`)
        .digest()
        .subarray(0, size - at),
      at,
    );
  return out;
}

/**
 * Layer-like bytes, the same on every run: words and numbers in lines (text, manifests), runs of
 * zeros (padding) and stretches of noise (binaries), mixed by a xorshift generator.
 */
function layerLike(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  const next = (): number => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  const words = ['usr', 'lib', 'bin', 'etc', 'share', 'locale', 'libc.so.6', 'ELF', 'GLIBC_2.34', '{"mediaType":', 'sha256:', 'x86_64'];
  let at = 0;
  while (at < size) {
    const kind = next() % 10;
    let piece: Uint8Array;
    if (kind < 6) {
      let line = '';
      for (let n = next() % 12; n >= 0; n--) line += `${words[next() % words.length]}${next() % 3 === 0 ? next() % 1000 : ''}/`;
      piece = new TextEncoder().encode(`${line}\n`);
    } else if (kind < 8) {
      piece = new Uint8Array(next() % 600);
    } else {
      piece = noise(next() % 900, next());
    }
    out.set(piece.subarray(0, size - at), at);
    at += piece.length;
  }
  return out;
}

/** Runs a tool with `input` on its standard input; resolves to its standard output. */
function tool(cmd: string, args: string[], input: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { encoding: 'buffer', maxBuffer: 1 << 28 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message} ${stderr.toString()}`));
      else resolve(stdout);
    });
    child.stdin!.end(input);
  });
}

/** An endless source of `chunk`-byte chunks, or segments, that counts what was read from it. */
function endless(
  chunk: number,
  segments = false,
): { source: AsyncGenerator<Uint8Array | GzipSegment>; read: () => number; closed: () => boolean } {
  let read = 0;
  let closed = false;
  const bytes = layerLike(chunk, 7);
  async function* source(): AsyncGenerator<Uint8Array | GzipSegment> {
    try {
      for (;;) {
        read += chunk;
        yield segments ? { segment: bytes.slice() } : bytes.slice();
      }
    } finally {
      closed = true;
    }
  }
  return { source: source(), read: () => read, closed: () => closed };
}

/** `data` in pieces of `size` bytes, each read into the same buffer, as a file read a block at a time. */
function* reusedPieces(data: Uint8Array, size: number, counter?: { read: number }): Generator<Uint8Array> {
  const buffer = new Uint8Array(size);
  for (let at = 0; at < data.length; at += size) {
    const piece = buffer.subarray(0, Math.min(size, data.length - at));
    piece.set(data.subarray(at, at + piece.length));
    if (counter !== undefined) counter.read += piece.length;
    yield piece;
  }
}

/**
 * Fills every worker of the shared pool (4, as many as any test here asks for) with the blocks of
 * a segment and queues the rest. The pool hands out queued blocks in order, so the blocks of a
 * compression started next wait until those are all taken: its source is read meanwhile, as far
 * as its window lets it, with no worker taking one of its blocks in between.
 */
function busyPool(): PrecompressedSegment {
  return precompressSegment(layerLike(256 * 1024, 42), { workers: 4, blockSize: 1024 })!;
}

/** The bytes a source of plain chunks and segments stands for. */
function flatten(items: ReadonlyArray<Uint8Array | GzipSegment>): Uint8Array {
  return concat(items.map((item) => (item instanceof Uint8Array ? item : item.segment)));
}

/**
 * The deflate data (between the gzip header and trailer) that pinnedGzip must write for `items`,
 * written out from the rules rather than from its code: plain bytes cut at fixed offsets from the
 * start or from the end of the last segment, a segment cut from its own first byte after the
 * short block before it, and an empty final block when the input ends with a segment.
 */
function expectedDeflate(items: ReadonlyArray<Uint8Array | GzipSegment>, blockSize: number, level: number): Uint8Array {
  const blocks: Uint8Array[] = [];
  const cut = (data: Uint8Array, last: boolean): void => {
    for (let at = 0; at < data.length; at += blockSize) {
      blocks.push(deflateBlock(data.slice(at, at + blockSize), level, last && at + blockSize >= data.length));
    }
    if (last && data.length === 0) blocks.push(deflateBlock(new Uint8Array(0), level, true));
  };
  let plain: Uint8Array[] = [];
  for (const item of items) {
    if (item instanceof Uint8Array) {
      plain.push(item);
    } else {
      cut(concat(plain), false);
      plain = [];
      cut(item.segment, false);
    }
  }
  cut(concat(plain), true);
  return concat(blocks);
}

const gzipMissing = toolMissing('gzip');
const pigzMissing = toolMissing('pigz');

describe('pinnedGzip', () => {
  const B = PINNED_GZIP_BLOCK_SIZE;
  const cases: Array<[string, Uint8Array]> = [
    ['empty', new Uint8Array(0)],
    ['1 byte', Uint8Array.of(42)],
    ['exactly one block', layerLike(B)],
    ['one block and 1 byte', layerLike(B + 1)],
    ['two blocks exactly', layerLike(2 * B)],
    ['3 MB of noise', noise(3_000_000)],
    ['4 MB of layer-like bytes', layerLike(4_000_000)],
    ['2 MB of zeros', new Uint8Array(2_000_000)],
  ];

  for (const [name, data] of cases) {
    it(`round-trips ${name} through node:zlib and gzip(1)`, async () => {
      const packed = await pinnedGzipBytes(data);
      assert.ok(isGzip(packed));
      assert.deepEqual(new Uint8Array(gunzipSync(packed)), data);
      if (gzipMissing === false) {
        await tool('gzip', ['-t'], packed);
        assert.deepEqual(new Uint8Array(await tool('gzip', ['-dc'], packed)), data);
      }
    });
  }

  it('writes a fixed header and a valid empty member for empty input', async () => {
    // 1f 8b, CM 8, FLG 0, MTIME 0, XFL 0 (level 5), OS 255; libdeflate's empty final stored
    // block 01 0000 ffff; CRC-32 0 and ISIZE 0.
    const empty = '1f8b08000000000000ff010000ffff0000000000000000';
    assert.equal(Buffer.from(await pinnedGzipBytes(new Uint8Array(0))).toString('hex'), empty);
    assert.equal(Buffer.from(await collect(pinnedGzip([]))).toString('hex'), empty);
    // XFL follows zlib: 4 for the fastest levels, 2 for the best.
    for (const [level, xfl] of [
      [0, 4],
      [1, 4],
      [2, 0],
      [6, 0],
      [9, 2],
    ] as const) {
      const packed = await pinnedGzipBytes(Uint8Array.of(1, 2, 3), { level });
      assert.equal(packed[8], xfl, `level ${level}`);
      assert.equal(packed[9], 255);
      assert.deepEqual(new Uint8Array(gunzipSync(packed)), Uint8Array.of(1, 2, 3));
    }
  });

  it('writes the CRC-32 and the length in the trailer', async () => {
    const data = layerLike(300_000);
    const packed = await pinnedGzipBytes(data, { workers: 2 });
    const view = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
    const reference = gunzipSync(packed); // gunzip checks the CRC itself; ISIZE is checked here
    assert.equal(view.getUint32(packed.length - 4, true), reference.length);
  });

  it('gives the same bytes with 0, 1, 2 and 4 workers and any chunking', async () => {
    const data = concat([layerLike(1_700_000, 3), noise(600_000, 3), new Uint8Array(1_100_000), layerLike(900_001, 4)]);
    const expected = await pinnedGzipBytes(data, { workers: 0 });
    for (const workers of [0, 1, 2, 4]) {
      for (const sizes of [[data.length], [65536], [7, 100_003, 13], [B], [B - 1, 2]]) {
        const got = await collect(pinnedGzip(chunked(data, sizes), { workers }));
        assert.ok(Buffer.from(got).equals(expected), `workers ${workers}, chunks ${sizes.join(',')}`);
      }
    }
    // And with many blocks per worker.
    const small = await pinnedGzipBytes(data, { workers: 0, blockSize: 128 * 1024 });
    for (const workers of [1, 2, 4]) {
      const got = await collect(pinnedGzip(chunked(data, [7, 100_003, 13]), { workers, blockSize: 128 * 1024 }));
      assert.ok(Buffer.from(got).equals(small), `workers ${workers}, 128 KiB blocks`);
    }
    // A synchronous iterable with empty chunks gives the same bytes too.
    const parts = [new Uint8Array(0), data.subarray(0, 5), new Uint8Array(0), data.subarray(5)];
    assert.ok(Buffer.from(await collect(pinnedGzip(parts, { workers: 2 }))).equals(expected));
  });

  it('gives the same bytes for any chunking, block size and worker count (property-based)', async () => {
    const segment = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 3000 }),
      fc
        .record({ byte: fc.integer({ min: 0, max: 255 }), n: fc.integer({ min: 1, max: 6000 }) })
        .map(({ byte, n }) => new Uint8Array(n).fill(byte)),
      fc.integer({ min: 1, max: 6000 }).map((n) => layerLike(n, n)),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(segment, { maxLength: 10 }).map(concat),
        fc.array(fc.integer({ min: 1, max: 9000 }), { minLength: 1, maxLength: 6 }),
        fc.constantFrom(1024, 1500, 4096, 40_000),
        fc.constantFrom(0, 1, 2, 4),
        fc.constantFrom(1, 6, 9),
        async (data, sizes, blockSize, workers, level) => {
          const expected = await pinnedGzipBytes(data, { workers: 0, blockSize, level });
          const got = await collect(pinnedGzip(chunked(data, sizes), { workers, blockSize, level }));
          assert.ok(Buffer.from(got).equals(expected));
          assert.deepEqual(new Uint8Array(gunzipSync(got)), data);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('pins its output with golden digests', async () => {
    // These digests pin the compressor: libdeflate 0.1.0's wasm (LIBDEFLATE_WASM_SHA256, checked
    // at load), its level 5 (and 6, 1, and 9 with small blocks), 1 MiB blocks without dictionary, the
    // sync-flush rewrite of each non-final block and the gzip header. A change here changes every
    // layer digest Provenant produces, so it must be deliberate. Computed once with this code.
    const data = layerLike(1_500_000, 2024);
    assert.equal(sha256(data), '577435e0013f160807d0a5abcb28e2f937c509e6fc66898913b7435f525b980f');
    assert.equal(sha256(await pinnedGzipBytes(data)), '32d97c020bd25ea2d6fb8ba87ec66229d2bacccb81f6ffdcbed14410ccaf2472');
    assert.equal(sha256(await pinnedGzipBytes(data, { level: 6 })), '4223b77359ab23a1529a08367301e56670cd660e558c202d8585926a50f7a8a9');
    assert.equal(sha256(await pinnedGzipBytes(data, { level: 1 })), '78a3959ea383a82c50886d7699b17169d585ed28a76968c3c8c18916f5935638');
    assert.equal(
      sha256(await pinnedGzipBytes(data, { level: 9, blockSize: 4096 })),
      '3e80471fffad9e88021677eef715165b258f8157409e8fa465e66f46539e09d1',
    );
    assert.equal(
      sha256(await pinnedGzipBytes(data, { level: 0, blockSize: 100_000 })),
      'f5819ce8a78ea3c7a99c0f29a8cff45a5f7296cd2e17753c32e17f22b4e38234',
    );
    assert.equal(LIBDEFLATE_WASM_SHA256, 'f75470cc665db1d83e231ec57bf38696852cba5c2594813d47fc43117816affe');
  });

  it('ends every non-final block with the sync marker 00 00 ff ff, and the last one finished', async () => {
    const data = concat([layerLike(300_000, 5), noise(70_000, 5), new Uint8Array(90_000), layerLike(123_457, 6)]);
    for (const level of [0, 1, 6, 9]) {
      for (const blockSize of [1024, 4096, 65_536, 200_000]) {
        const blocks: Uint8Array[] = [];
        for (let at = 0; at === 0 || at < data.length; at += blockSize) {
          const last = at + blockSize >= data.length;
          const block = deflateBlock(data.slice(at, at + blockSize), level, last);
          if (!last) {
            assert.equal(Buffer.from(block.subarray(-4)).toString('hex'), '0000ffff', `level ${level}, block at ${at}`);
          } else {
            // A finished stream: the walker ends exactly at its last byte.
            assert.equal((walkDeflate(block).end + 7) >> 3, block.length);
          }
          blocks.push(block);
        }
        const packed = await pinnedGzipBytes(data, { level, blockSize, workers: 0 });
        assert.ok(Buffer.from(packed.subarray(10, -8)).equals(concat(blocks)), `level ${level}, block size ${blockSize}`);
        assert.deepEqual(new Uint8Array(inflateRawSync(concat(blocks))), data);
      }
    }
  });

  it('decompresses with pigz and Python’s gzip module', { skip: toolMissing('python3') }, async () => {
    const data = concat([layerLike(2_500_000, 8), noise(300_000, 8), new Uint8Array(1_100_000)]);
    for (const level of [0, 1, 6, 9]) {
      const packed = await pinnedGzipBytes(data, { level });
      const python = await tool(
        'python3',
        ['-c', 'import gzip, sys; sys.stdout.buffer.write(gzip.decompress(sys.stdin.buffer.read()))'],
        packed,
      );
      assert.ok(python.equals(data), `python gzip, level ${level}`);
      if (pigzMissing === false) {
        assert.ok((await tool('pigz', ['-dc'], packed)).equals(data), `pigz -dc, level ${level}`);
        await tool('pigz', ['-t'], packed);
      }
    }
  });

  it('walks any libdeflate output to its exact end (property-based)', () => {
    const segment = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 5000 }),
      fc
        .record({ byte: fc.integer({ min: 0, max: 255 }), n: fc.integer({ min: 1, max: 70_000 }) })
        .map(({ byte, n }) => new Uint8Array(n).fill(byte)),
      fc.integer({ min: 1, max: 20_000 }).map((n) => layerLike(n, n)),
      fc
        .record({ n: fc.integer({ min: 1, max: 20_000 }), alphabet: fc.integer({ min: 1, max: 40 }), seed: fc.integer() })
        .map(({ n, alphabet, seed }) => noise(n, seed).map((b) => b % alphabet)),
    );
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 8 }).map(concat), fc.integer({ min: 1, max: 9 }), (data, level) => {
        // libdeflate's finished stream: the walker ends exactly at its last byte.
        const finished = deflateBlock(data, level, true);
        assert.equal((walkDeflate(finished).end + 7) >> 3, finished.length);
        // A non-final block ends with the sync marker, and with an empty final block after it
        // walks to its exact end too.
        const flushed = deflateBlock(data, level, false);
        assert.equal(Buffer.from(flushed.subarray(-4)).toString('hex'), '0000ffff');
        const closed = concat([flushed, Uint8Array.of(3, 0)]);
        assert.equal((walkDeflate(closed).end + 7) >> 3, closed.length);
        assert.deepEqual(new Uint8Array(inflateRawSync(finished)), data);
        assert.deepEqual(new Uint8Array(inflateRawSync(closed)), data);
      }),
      { numRuns: 150 },
    );
  });

  it('refuses malformed deflate streams in the walker', () => {
    assert.throws(() => walkDeflate(new Uint8Array(0)), /ends without a final block/);
    assert.throws(() => walkDeflate(Uint8Array.of(0x07)), /block type 3/);
    assert.throws(() => walkDeflate(Uint8Array.of(0x01, 0x05, 0x00, 0x00, 0x00)), /stored block length/);
    assert.throws(() => walkDeflate(Uint8Array.of(0x00, 0x00, 0x00, 0xff, 0xff)), /ends without a final block/);
    // Random bytes either fail or parse within their length; they never loop or read past it.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          assert.ok(walkDeflate(bytes).end <= bytes.length * 8);
        } catch (err) {
          assert.ok(err instanceof Error && !(err instanceof assert.AssertionError), String(err));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('compresses blocks in the calling thread too while the workers are behind, to the same bytes', async () => {
    // Twelve blocks at level 9 from memory: the source is never waited on, so the window fills
    // before any worker has answered (an answer is read only when the event loop turns).
    const blockSize = 64 * 1024;
    const data = concat([layerLike(6 * blockSize, 5), noise(6 * blockSize, 5)]);
    const expected = await pinnedGzipBytes(data, { workers: 0, level: 9, blockSize });
    const counts = { workers: 0, here: 0 };
    const got = await collect(pinnedGzip([data], { workers: 1, level: 9, blockSize, counts }));
    assert.ok(Buffer.from(got).equals(expected));
    assert.equal(counts.workers + counts.here, 12, 'every block compressed once');
    assert.ok(counts.here >= 1, `the calling thread compressed ${counts.here} blocks`);
    assert.ok(counts.workers >= 3, `the workers compressed ${counts.workers} blocks`);
    // Blocks that came compressed count for neither: only the empty final block after the segment is compressed.
    const none = { workers: 0, here: 0 };
    const pre = precompressSegment(data, { blockSize, workers: 1 })!;
    await collect(pinnedGzip([{ segment: data, precompressed: pre }], { workers: 1, blockSize, counts: none }));
    assert.equal(none.workers + none.here, 1);
  });

  it('reads no further ahead while a worker is behind when the blocks that follow come compressed', async () => {
    // A rebuild streams bodies whose kept blocks come with them: while a worker's block is still
    // out, the calling thread has nothing to compress, and must not read the source on and on.
    const blockSize = 64 * 1024;
    const piece = noise(blockSize, 7);
    const kept = deflateBlock(piece, PINNED_GZIP_LEVEL, false);
    let read = 0;
    async function* source(): AsyncGenerator<Uint8Array | GzipSegment> {
      yield noise(4 * blockSize, 1);
      for (;;) {
        read++;
        const blocks = Promise.resolve([kept.slice()]);
        yield { segment: piece, reused: true, precompressed: { data: piece, level: PINNED_GZIP_LEVEL, blockSize, blocks, cancel() {} } };
      }
    }
    const out = pinnedGzip(source(), { workers: 1, blockSize });
    await out.next(); // the header
    await out.next(); // the first compressed block
    assert.ok(read <= 6 + 2, `${read} segments read ahead`);
    await out.return(undefined);
  });

  it('reads the source no further ahead than about 3 × workers blocks, and as much again while it compresses some itself', async () => {
    for (const workers of [0, 1, 2]) {
      const blockSize = 16 * 1024;
      const src = endless(4096);
      const out = pinnedGzip(src.source, { workers, blockSize });
      await out.next(); // the header
      await out.next(); // the first compressed block
      await new Promise((resolve) => setTimeout(resolve, 50));
      const ahead = src.read() - blockSize;
      assert.ok(ahead <= (6 * Math.max(workers, 1) + 2) * blockSize, `workers ${workers}: read ${src.read()} bytes`);
      await out.return(undefined);
      assert.equal(src.closed(), true, 'the source is closed when the consumer stops');
    }
  });

  it('stops with ABORTED when the signal fires, and closes the source', async () => {
    for (const workers of [0, 2]) {
      const controller = new AbortController();
      const src = endless(10_000);
      const out = pinnedGzip(src.source, { workers, blockSize: 8192, signal: controller.signal });
      await out.next();
      await out.next();
      controller.abort(new Error('user pressed ^C'));
      const err = await rejectsWith(async () => {
        for (;;) if ((await out.next()).done) break;
      }, 'ABORTED');
      assert.ok(err instanceof ProvenantError);
      const readAtAbort = src.read();
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(src.read(), readAtAbort, 'nothing more is read');
      assert.equal(src.closed(), true);
    }
    const controller = new AbortController();
    controller.abort();
    await rejectsWith(() => pinnedGzipBytes(new Uint8Array(10), { signal: controller.signal }), 'ABORTED');
  });

  it('keeps working after a compression was abandoned', async () => {
    const src = endless(50_000);
    const out = pinnedGzip(src.source, { workers: 2, blockSize: 4096 });
    await out.next();
    await out.next();
    await out.return(undefined);
    const data = layerLike(200_000);
    assert.ok(Buffer.from(await pinnedGzipBytes(data, { workers: 2 })).equals(await pinnedGzipBytes(data, { workers: 0 })));
  });

  it('gives each of many compressions at once its own bytes, while the pool reuses the memory of their blocks', async () => {
    // Five streams and three precompressed segments share two workers with small blocks, so
    // blocks wait in the pool's queue, the stream's cutting buffer is refilled while earlier
    // blocks wait, and the pool's slots go from one compression to another many times.
    const blockSize = 4096;
    const streams = [0, 1, 2, 3, 4].map((seed) => concat([layerLike(150_000 + seed * 999, seed + 10), noise(60_000, seed)]));
    const segments = [5, 6, 7].map((seed) => noise(90_000 + seed, seed));
    const expected = await Promise.all([...streams, ...segments].map((d) => pinnedGzipBytes(d, { workers: 0, blockSize })));
    const precompressed = segments.map((s) => precompressSegment(s, { workers: 2, blockSize })!);
    const got = await Promise.all(streams.map((d, i) => collect(pinnedGzip(chunked(d, [1000 + i, 5000, 3]), { workers: 2, blockSize }))));
    for (const [i, g] of got.entries()) assert.ok(Buffer.from(g).equals(expected[i]!), `stream ${i}`);
    for (const [i, p] of precompressed.entries()) {
      const segment = segments[i]!;
      const own = await collect(pinnedGzip([{ segment }], { workers: 0, blockSize }));
      const again = await collect(pinnedGzip([{ segment, precompressed: p }], { workers: 2, blockSize }));
      assert.ok(Buffer.from(again).equals(own), `segment ${i}`);
      const blocks = await p.blocks;
      for (const [n, b] of blocks.entries()) {
        const plain = segment.subarray(n * blockSize, (n + 1) * blockSize);
        assert.ok(Buffer.from(inflateRawSync(b, { finishFlush: 2 })).equals(plain), `segment ${i}, block ${n}`);
      }
    }
  });

  it('passes an error of the source through', async () => {
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield layerLike(100_000);
      throw new Error('disk on fire');
    }
    const err = await rejectsWith(() => collect(pinnedGzip(failing(), { blockSize: 4096 })), 'IO');
    assert.match(err.message, /disk on fire/);
    async function* typed(): AsyncGenerator<Uint8Array> {
      yield Uint8Array.of(1);
      throw new ProvenantError('UNSAFE_PATH', 'bad entry');
    }
    await rejectsWith(() => collect(pinnedGzip(typed())), 'UNSAFE_PATH');
  });

  it('refuses options out of range', async () => {
    for (const options of [
      { level: 10 },
      { level: -1 },
      { level: 1.5 },
      { blockSize: 100 },
      { blockSize: 2 ** 30 },
      { workers: -1 },
      { workers: 65 },
    ]) {
      await rejectsWith(() => pinnedGzipBytes(Uint8Array.of(1), options), 'USAGE');
    }
  });

  it('lets a script exit as soon as it is done (idle workers are unref’d)', () => {
    const module = join(import.meta.dirname, '..', '..', 'src', 'archive', 'deflate.ts');
    const script = `const { pinnedGzipBytes } = await import(${JSON.stringify(module)});
      const out = await pinnedGzipBytes(new Uint8Array(1_000_000).fill(7), { workers: 2 });
      console.log(out.length);`;
    // A ref'd idle worker would keep the script alive until the timeout kills it (status null).
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, `${r.signal ?? ''} ${r.stderr}`);
    assert.match(r.stdout, /^\d+\n$/);
  });
});

describe('pinnedGzip segments', () => {
  it('cuts segments into blocks of their own, whatever the workers and precompression (property-based)', async () => {
    const bytes = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 3000 }),
      fc
        .record({ byte: fc.integer({ min: 0, max: 255 }), n: fc.integer({ min: 1, max: 40_000 }) })
        .map(({ byte, n }) => new Uint8Array(n).fill(byte)),
      fc.integer({ min: 1, max: 40_000 }).map((n) => layerLike(n, n)),
    );
    const item = fc.oneof(
      bytes,
      bytes.map((segment): GzipSegment => ({ segment })),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(item, { maxLength: 12 }),
        fc.constantFrom(4096, 16_384),
        fc.constantFrom(0, 1, PINNED_GZIP_LEVEL, 9),
        async (items, blockSize, level) => {
          const plain = await collect(pinnedGzip(items, { workers: 0, blockSize, level }));
          assert.deepEqual(new Uint8Array(gunzipSync(plain)), flatten(items));
          assert.ok(Buffer.from(plain.subarray(10, -8)).equals(expectedDeflate(items, blockSize, level)), 'blocks cut as specified');
          for (const workers of [1, 2]) {
            const got = await collect(pinnedGzip(items, { workers, blockSize, level }));
            assert.ok(Buffer.from(got).equals(plain), `workers ${workers}`);
            const precompressed = items.map((it) =>
              it instanceof Uint8Array
                ? it
                : { segment: it.segment, precompressed: precompressSegment(it.segment, { workers, blockSize, level }) },
            );
            for (const streamWorkers of [0, workers]) {
              const pre = await collect(pinnedGzip(precompressed, { workers: streamWorkers, blockSize, level }));
              assert.ok(Buffer.from(pre).equals(plain), `precompressed by ${workers}, stream with ${streamWorkers} workers`);
            }
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('compresses a segment the same whatever comes before it', async () => {
    const blockSize = 4096;
    const segment = layerLike(50_001, 11);
    const suffix = layerLike(9_000, 12);
    const own = concat(await precompressSegment(segment, { workers: 1, blockSize })!.blocks);
    // After a segment the next plain bytes start a block, so the suffix compresses as it would alone.
    const tail = (await pinnedGzipBytes(suffix, { workers: 0, blockSize })).subarray(10, -8);
    const prefixes: Array<Array<Uint8Array | GzipSegment>> = [
      [],
      [Uint8Array.of(1)],
      [layerLike(5_000, 13)],
      [noise(12_289, 13), layerLike(777, 14)],
      [{ segment: layerLike(3_000, 15) }],
      [layerLike(4096, 16), { segment: noise(100, 16) }, Uint8Array.of(9, 9)],
    ];
    const sizes = new Set<number>();
    for (const prefix of prefixes) {
      const items = [...prefix, { segment }, suffix];
      for (const workers of [0, 2]) {
        const packed = await collect(pinnedGzip(items, { workers, blockSize }));
        assert.deepEqual(new Uint8Array(gunzipSync(packed)), flatten(items));
        const body = packed.subarray(10, -8);
        sizes.add(body.length);
        assert.ok(
          Buffer.from(body.subarray(body.length - own.length - tail.length)).equals(concat([own, tail])),
          `prefix of ${flatten(prefix).length} bytes, workers ${workers}`,
        );
      }
    }
    // The prefixes did reach the stream: the checks above are on different streams.
    assert.equal(sizes.size, prefixes.length);
  });

  it('ends a stream that ends with a segment with an empty final block, a valid gzip', async () => {
    const blockSize = 16_384;
    const cases: Array<Array<Uint8Array | GzipSegment>> = [
      [{ segment: layerLike(40_000, 21) }],
      [layerLike(70_000, 22), { segment: layerLike(2 * blockSize, 23) }],
      [{ segment: noise(1, 24) }, layerLike(5_000, 25), { segment: layerLike(33_333, 26) }],
    ];
    for (const items of cases) {
      const data = flatten(items);
      for (const workers of [0, 2]) {
        const packed = await collect(pinnedGzip(items, { workers, blockSize }));
        assert.ok(isGzip(packed));
        // libdeflate's empty final stored block, as in the empty member above.
        assert.equal(Buffer.from(packed.subarray(-13, -8)).toString('hex'), '010000ffff');
        assert.deepEqual(new Uint8Array(gunzipSync(packed)), data);
        if (gzipMissing === false) {
          await tool('gzip', ['-t'], packed);
          assert.deepEqual(new Uint8Array(await tool('gzip', ['-dc'], packed)), data);
        }
      }
    }
  });

  it('ignores precompressed blocks made with another level, block size or for other bytes', async () => {
    const blockSize = 4096;
    const segment = layerLike(30_000, 31);
    const items = (precompressed?: GzipSegment['precompressed']): Array<Uint8Array | GzipSegment> => [
      layerLike(5_000, 32),
      { segment, precompressed },
      layerLike(3_000, 33),
    ];
    const plain = await collect(pinnedGzip(items(), { workers: 0, blockSize }));
    const matching = concat(await precompressSegment(segment, { workers: 1, blockSize })!.blocks);
    const others = {
      'level 1': precompressSegment(segment, { workers: 1, blockSize, level: 1 })!,
      'blocks of 8 KiB': precompressSegment(segment, { workers: 1, blockSize: 8192 })!,
      'other bytes': precompressSegment(layerLike(30_000, 34), { workers: 1, blockSize })!,
    };
    for (const [name, precompressed] of Object.entries(others)) {
      // Were they used, the output would differ.
      assert.ok(!Buffer.from(concat(await precompressed.blocks)).equals(matching), name);
      for (const workers of [0, 2]) {
        assert.ok(
          Buffer.from(await collect(pinnedGzip(items(precompressed), { workers, blockSize }))).equals(plain),
          `${name}, workers ${workers}`,
        );
      }
    }
    // Matching blocks are used, and give the same bytes.
    const same = precompressSegment(segment, { workers: 2, blockSize });
    assert.ok(Buffer.from(await collect(pinnedGzip(items(same), { workers: 2, blockSize }))).equals(plain));
    assert.equal(precompressSegment(segment, { workers: 0, blockSize }), undefined);
  });

  it('copies a reused segment as it comes, while its blocks wait behind another compression', async () => {
    // As segmentBlocks below: the pool copies a block before the source refills its buffer only
    // when told the segment is reused, and a busy pool is what shows it.
    const blockSize = 16 * 1024;
    const prefix = layerLike(5_000, 43);
    const data = layerLike(40 * blockSize + 777, 44);
    const suffix = layerLike(3_000, 45);
    const expected = await collect(pinnedGzip([prefix, { segment: data }, suffix], { workers: 0, blockSize }));
    function* source(): Generator<Uint8Array | GzipSegment> {
      yield prefix;
      for (const segment of reusedPieces(data, blockSize)) yield { segment, reused: true };
      yield suffix;
    }
    const busy = busyPool();
    const got = await collect(pinnedGzip(source(), { workers: 2, blockSize }));
    await busy.blocks;
    assert.ok(Buffer.from(got).equals(expected));
  });

  it('counts the read-ahead in bytes when the source yields small segments', async () => {
    for (const workers of [0, 1, 2]) {
      const blockSize = 16 * 1024;
      const src = endless(1024, true);
      const out = pinnedGzip(src.source, { workers, blockSize });
      await out.next(); // the header
      await out.next(); // the first compressed block
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.ok(src.read() <= (5 * Math.max(workers, 1) + 2) * blockSize, `workers ${workers}: read ${src.read()} bytes`);
      // A window counted in blocks would hold only a few KiB of these 1 KiB blocks and leave the
      // workers waiting on this thread.
      if (workers > 0) assert.ok(src.read() >= workers * blockSize, `workers ${workers}: read only ${src.read()} bytes`);
      await out.return(undefined);
      assert.equal(src.closed(), true, 'the source is closed when the consumer stops');
    }
  });
});

describe('segmentBlocks', () => {
  it("gives precompressSegment's blocks, whatever the workers, from pieces that reuse one buffer", async () => {
    const blockSize = 16 * 1024;
    for (const size of [1, blockSize - 1, blockSize, 5 * blockSize, 7 * blockSize + 123]) {
      const data = layerLike(size, size);
      const expected = await precompressSegment(data, { workers: 2, blockSize })!.blocks;
      for (const workers of [0, 1, 2]) {
        const got = await collectAll(segmentBlocks(reusedPieces(data, blockSize), { workers, blockSize }));
        assert.equal(got.length, expected.length, `${size} bytes, ${workers} workers`);
        for (const [i, block] of got.entries()) {
          assert.ok(Buffer.from(block).equals(expected[i]!), `${size} bytes, ${workers} workers: block ${i}`);
        }
      }
    }
  });

  it('copies each piece as it comes, while its blocks wait behind another compression', async () => {
    // The pool copies a block when a worker takes it, unless told that the source reuses its
    // memory: with a worker free that is at once, so only a busy pool shows whether a piece is
    // copied before the source reads the next one into the same buffer.
    const blockSize = 16 * 1024;
    const data = layerLike(40 * blockSize, 41);
    const expected = await precompressSegment(data, { workers: 2, blockSize })!.blocks;
    // Its window is 6 blocks: 6 pieces are read into the buffer before a worker takes the first.
    const busy = busyPool();
    const got = await collectAll(segmentBlocks(reusedPieces(data, blockSize), { workers: 2, blockSize }));
    await busy.blocks;
    assert.equal(got.length, expected.length);
    for (const [i, block] of got.entries()) assert.ok(Buffer.from(block).equals(expected[i]!), `block ${i}`);
  });

  it('reads its pieces no further ahead than about 3 × workers blocks, and compresses none in the calling thread', async () => {
    const blockSize = 16 * 1024;
    for (const workers of [1, 2]) {
      const counter = { read: 0 };
      const counts = { workers: 0, here: 0 };
      const out = segmentBlocks(reusedPieces(layerLike(200 * blockSize, 3), blockSize, counter), { workers, blockSize, counts });
      await out.next();
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.ok(counter.read <= (3 * workers + 2) * blockSize, `workers ${workers}: read ${counter.read} bytes`);
      await out.return(undefined);
      assert.equal(counts.here, 0, 'no block compressed in the calling thread');
    }
  });

  it('refuses pieces that are not whole blocks but for the last, and stops with ABORTED', async () => {
    const blockSize = 16 * 1024;
    for (const pieces of [[new Uint8Array(100), new Uint8Array(blockSize)], [new Uint8Array(blockSize + 1)], [new Uint8Array(0)]]) {
      await rejectsWith(() => collectAll(segmentBlocks(pieces, { workers: 2, blockSize })), 'USAGE');
    }
    const controller = new AbortController();
    const out = segmentBlocks(reusedPieces(layerLike(100 * blockSize, 4), blockSize), { workers: 2, blockSize, signal: controller.signal });
    await out.next();
    controller.abort();
    await rejectsWith(() => collectAll(out), 'ABORTED');
    // An error of the source passes through, typed.
    function* failing(): Generator<Uint8Array> {
      yield new Uint8Array(blockSize);
      throw new Error('disk gone');
    }
    const err = await rejectsWith(() => collectAll(segmentBlocks(failing(), { workers: 2, blockSize })), 'IO');
    assert.match(err.message, /disk gone/);
  });
});

async function collectAll(blocks: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const block of blocks) out.push(block);
  return out;
}
