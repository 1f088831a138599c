/**
 * decompressLayer: a layer blob's tar stream whatever its compression, and a typed error when the
 * compressed stream is damaged or its input fails (zstd and gzip share one pump since the
 * duplicate finder named the two copies).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import { ProvenantError } from '../../src/errors.ts';
import { decompressLayer } from '../../src/image/filesystem.ts';

const zstdCompressSync = (zlib as unknown as { zstdCompressSync?: (b: Uint8Array) => Buffer }).zstdCompressSync;
const noZstd = zstdCompressSync === undefined ? 'this Node has no zstd' : false;

async function* chunks(...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield p;
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const out: Uint8Array[] = [];
  for await (const c of stream) out.push(c);
  return Buffer.concat(out);
}

const plain = Buffer.from('a tar stream, as far as this test cares\n'.repeat(200));

describe('decompressLayer', () => {
  it('passes an uncompressed stream through, split anywhere', async () => {
    const got = await collect(decompressLayer(chunks(plain.subarray(0, 1), plain.subarray(1, 3), plain.subarray(3)), 'layer'));
    assert.deepEqual(got, plain);
  });

  it('reads gzip and zstd by their magic numbers', { skip: noZstd }, async () => {
    assert.deepEqual(await collect(decompressLayer(chunks(zlib.gzipSync(plain)), 'layer')), plain);
    const z = (zstdCompressSync as (b: Uint8Array) => Buffer)(plain);
    assert.deepEqual(await collect(decompressLayer(chunks(z.subarray(0, 2), z.subarray(2)), 'layer')), plain);
  });

  it('says a damaged zstd stream is corrupt, and where', { skip: noZstd }, async () => {
    const z = Buffer.from((zstdCompressSync as (b: Uint8Array) => Buffer)(plain));
    z.fill(0xff, 6, 40);
    await assert.rejects(collect(decompressLayer(chunks(z), 'blob sha256:abc')), (err: unknown) => {
      assert.ok(err instanceof ProvenantError);
      assert.equal(err.code, 'INVALID_ARCHIVE');
      assert.match(err.message, /zstd stream is corrupt/);
      assert.equal(err.where, 'blob sha256:abc');
      return true;
    });
  });

  it('says a damaged gzip stream is corrupt', async () => {
    const g = Buffer.from(zlib.gzipSync(plain));
    g.fill(0xff, 12, 40);
    await assert.rejects(collect(decompressLayer(chunks(g), 'layer')), (err: unknown) => {
      assert.ok(err instanceof ProvenantError);
      assert.ok(err.code === 'INVALID_ARCHIVE' || err.code === 'TRUNCATED', err.code);
      return true;
    });
  });

  for (const kind of ['gzip', 'zstd'] as const) {
    it(`passes the input's own error through unchanged (${kind})`, { skip: kind === 'zstd' && noZstd }, async () => {
      const whole = kind === 'gzip' ? zlib.gzipSync(plain) : (zstdCompressSync as (b: Uint8Array) => Buffer)(plain);
      const failure = new ProvenantError('DIGEST_MISMATCH', 'the blob is not what its digest says');
      async function* failing(): AsyncGenerator<Uint8Array> {
        yield whole.subarray(0, 20);
        throw failure;
      }
      await assert.rejects(collect(decompressLayer(failing(), 'layer')), (err: unknown) => err === failure);
    });
  }
});
