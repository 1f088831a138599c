import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gunzipSync, inflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import {
  deflateBlock,
  LIBDEFLATE_WASM_SHA256,
  PINNED_GZIP_BLOCK_SIZE,
  pinnedGzip,
  pinnedGzipBytes,
  walkDeflate,
} from '../../src/archive/deflate.ts';
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

/** An endless source of `chunk`-byte chunks that counts what was read from it. */
function endless(chunk: number): { source: AsyncGenerator<Uint8Array>; read: () => number; closed: () => boolean } {
  let read = 0;
  let closed = false;
  const bytes = layerLike(chunk, 7);
  async function* source(): AsyncGenerator<Uint8Array> {
    try {
      for (;;) {
        read += chunk;
        yield bytes.slice();
      }
    } finally {
      closed = true;
    }
  }
  return { source: source(), read: () => read, closed: () => closed };
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
    // 1f 8b, CM 8, FLG 0, MTIME 0, XFL 0 (level 6), OS 255; libdeflate's empty final stored
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
    // at load), its level 6 (and 1, and 9 with small blocks), 1 MiB blocks without dictionary, the
    // sync-flush rewrite of each non-final block and the gzip header. A change here changes every
    // layer digest Provenant produces, so it must be deliberate. Computed once with this code.
    const data = layerLike(1_500_000, 2024);
    assert.equal(sha256(data), '577435e0013f160807d0a5abcb28e2f937c509e6fc66898913b7435f525b980f');
    assert.equal(sha256(await pinnedGzipBytes(data)), '4223b77359ab23a1529a08367301e56670cd660e558c202d8585926a50f7a8a9');
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

  it('reads the source no further ahead than about 2 × workers blocks', async () => {
    for (const workers of [0, 1, 2]) {
      const blockSize = 16 * 1024;
      const src = endless(4096);
      const out = pinnedGzip(src.source, { workers, blockSize });
      await out.next(); // the header
      await out.next(); // the first compressed block
      await new Promise((resolve) => setTimeout(resolve, 50));
      const ahead = src.read() - blockSize;
      assert.ok(ahead <= (2 * Math.max(workers, 1) + 2) * blockSize, `workers ${workers}: read ${src.read()} bytes`);
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
    const started = performance.now();
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^\d+\n$/);
    assert.ok(performance.now() - started < 10_000, 'exits promptly');
  });
});
