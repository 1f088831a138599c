// Collections asked for between the steps of a large build (src/io/memory.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate } from 'node:timers/promises';
import { collectGarbage } from '../../src/io/memory.ts';

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
});
