// Collections asked for between the steps of a large build, and as bytes move in fresh buffers (src/io/memory.ts).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { setImmediate } from 'node:timers/promises';
import { COLLECT_EVERY, collectGarbage, collectionsAsked, handOver, writtenOut } from '../../src/io/memory.ts';
import { verifyStream } from '../../src/io/verify.ts';
import type { Digest } from '../../src/oci/digest.ts';

/** A WeakRef to an object nothing else holds, once the job that made it has ended (until then V8 keeps it). */
async function unreferenced(): Promise<WeakRef<object>> {
  const ref = new WeakRef({ payload: new Array(1000).fill(0) });
  await setImmediate();
  return ref;
}

describe('collectGarbage', () => {
  it('collects what nothing holds any more', async () => {
    const ref = await unreferenced();
    collectGarbage();
    assert.equal(ref.deref(), undefined);
  });

  it('asks for a last-resort collection when told to shrink, and a plain one otherwise', () => {
    // In a process of its own, whose `gc` (V8's, exposed) is watched before this module takes it.
    const module = new URL('../../src/io/memory.ts', import.meta.url).href;
    const script = `
      const real = globalThis.gc;
      const seen = [];
      globalThis.gc = (options) => { seen.push(options ?? null); real(options); };
      const { collectGarbage } = await import(${JSON.stringify(module)});
      collectGarbage();
      collectGarbage({ shrink: true });
      process.stdout.write(JSON.stringify(seen));
    `;
    const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.deepEqual(JSON.parse(out), [null, { type: 'major', execution: 'sync', flavor: 'last-resort' }]);
  });
});

describe('verifyStream', () => {
  /** A stream of `count` chunks of 1 MiB: two buffers given in turn (as fileChunksReused does), or a fresh one each time. */
  async function* chunks(count: number, fresh: boolean): AsyncGenerator<Uint8Array> {
    const reused = [new Uint8Array(1 << 20), new Uint8Array(1 << 20)];
    for (let i = 0; i < count; i++) yield fresh ? new Uint8Array(1 << 20) : reused[i % 2]!;
  }
  // More than COLLECT_EVERY, less than the 64 MiB of fresh buffers after which V8 collects on
  // its own: a collection then is one asked for.
  const count = (COLLECT_EVERY >> 20) + 8;
  const h = createHash('sha256');
  const zeros = new Uint8Array(1 << 20);
  for (let i = 0; i < count; i++) h.update(zeros);
  const zeroed = { mediaType: 'application/octet-stream', digest: `sha256:${h.digest('hex')}` as Digest, size: count << 20 };

  it('asks for collections as bytes arrive in fresh buffers', async () => {
    const ref = await unreferenced();
    const before = collectionsAsked();
    for await (const _ of verifyStream(chunks(count, true), zeroed, 'test')) {
      // read through
    }
    assert.ok(collectionsAsked() > before, 'asked for a collection');
    assert.equal(ref.deref(), undefined, 'collected');
  });

  it('asks for none for a stream that reads into the same buffers again and again', async () => {
    // Counted, not judged by a WeakRef: V8 may collect on its own at any time (it did, once, in
    // a full run of the suite).
    const before = collectionsAsked();
    for await (const _ of verifyStream(chunks(count, false), zeroed, 'test')) {
      // read through
    }
    assert.equal(collectionsAsked(), before);
  });
});

describe('handOver and writtenOut', () => {
  it('free a buffer once every view handed over from it is written out, not before', () => {
    const buffer = new ArrayBuffer(100);
    const a = new Uint8Array(buffer, 4, 40);
    const b = new Uint8Array(buffer, 44, 56);
    handOver(a);
    handOver(b);
    assert.equal(writtenOut(a), false);
    assert.equal(buffer.detached, false, 'b is still to be written');
    assert.equal(b[0], 0);
    assert.equal(writtenOut(b), true);
    assert.equal(buffer.detached, true);
    assert.equal(b.length, 0);
  });

  it('leave a view that was not handed over as it is, and shared memory too', () => {
    const plain = new Uint8Array(16);
    writtenOut(plain);
    assert.equal(plain.buffer.detached, false);
    const shared = new Uint8Array(new SharedArrayBuffer(16));
    handOver(shared);
    writtenOut(shared);
    assert.equal(shared.length, 16);
  });

  it('free a buffer only once, whatever is written out of it again', () => {
    const view = new Uint8Array(8);
    handOver(view);
    writtenOut(view);
    assert.equal(view.buffer.detached, true);
    assert.doesNotThrow(() => writtenOut(view));
  });
});
