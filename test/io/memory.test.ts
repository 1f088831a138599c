// Collections asked for between the steps of a build (src/io/memory.ts): only from the heap size
// given, since a collection costs time in proportion to the heap.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate } from 'node:timers/promises';
import { getHeapStatistics } from 'node:v8';
import { collectGarbage } from '../../src/io/memory.ts';

/** A WeakRef to an object nothing else holds, once the job that made it has ended (until then V8 keeps it). */
async function unreferenced(): Promise<WeakRef<object>> {
  const ref = new WeakRef({ payload: new Array(1000).fill(0) });
  await setImmediate();
  return ref;
}

describe('collectGarbage', () => {
  it('leaves the heap alone below the size given', async () => {
    const ref = await unreferenced();
    collectGarbage(getHeapStatistics().used_heap_size * 4);
    assert.notEqual(ref.deref(), undefined);
  });

  it('collects what nothing holds any more from the size given on', async () => {
    const ref = await unreferenced();
    collectGarbage(1);
    assert.equal(ref.deref(), undefined);
  });
});
