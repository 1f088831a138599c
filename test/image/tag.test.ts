// tagImage: the last step of a write that stored the image untagged to sign it first (build
// --sign, fix, the Action). It reads the manifest once however many tags it writes, and with
// onTagged it says each tag as written, so a caller knows which name the image when one fails.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProvenantError } from '../../src/errors.ts';
import { tagImage } from '../../src/image/copy.ts';
import type { LayoutStore } from '../../src/store/layout.ts';
import { makeImage } from '../helpers/images.ts';
import { useTempLayout } from '../helpers/temp.ts';

const layout = useTempLayout('tag');

/** `store` with its manifest reads counted, and its writes of `refused` failing. */
function counted(store: LayoutStore, refused?: string): { reads: () => number } {
  let reads = 0;
  const get = store.getManifest.bind(store);
  const put = store.putManifest.bind(store);
  store.getManifest = (...args) => {
    reads++;
    return get(...args);
  };
  store.putManifest = (stored, options) => {
    if (refused !== undefined && options?.tags?.includes(refused)) {
      return Promise.reject(new ProvenantError('REGISTRY', `writing tag ${refused} failed`));
    }
    return put(stored, options);
  };
  return { reads: () => reads };
}

describe('tagImage', () => {
  it('reads the manifest once and says each tag as it is written', async () => {
    const store = await layout();
    const made = await makeImage(store, {});
    const { reads } = counted(store);
    const tagged: string[] = [];
    await tagImage(store, made.root.digest, ['1', '1.0', 'latest'], { onTagged: (t) => tagged.push(t) });
    assert.equal(reads(), 1);
    assert.deepEqual(tagged, ['1', '1.0', 'latest']);
    for (const t of tagged) assert.equal((await store.resolve(t))?.digest, made.root.digest);
  });

  it('has said exactly the tags written when a later one fails', async () => {
    const store = await layout();
    const made = await makeImage(store, {});
    counted(store, '1.0');
    const tagged: string[] = [];
    await assert.rejects(
      tagImage(store, made.root.digest, ['1', '1.0', 'latest'], { onTagged: (t) => tagged.push(t) }),
      /writing tag 1\.0 failed/,
    );
    assert.deepEqual(tagged, ['1']);
    assert.equal((await store.resolve('1'))?.digest, made.root.digest);
    assert.equal(await store.resolve('latest'), undefined);
  });
});
