// A tag that is not there: the hint names the tags that are, as a layout's does, from one request.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { isProvenantError, type ProvenantError } from '../../src/errors.ts';
import { cosignTag, referrersTag } from '../../src/oci/content.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { tagsHereHint } from '../../src/oci/tags-hint.ts';
import { startFaultProxy } from '../helpers/fault-proxy.ts';
import { makeImage } from '../helpers/images.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { useTempLayout } from '../helpers/temp.ts';
import { storeAt } from './common.ts';

const isTagList = (_method: string, path: string) => path.endsWith('/tags/list');

async function notFound(promise: Promise<unknown>): Promise<ProvenantError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(isProvenantError(err, 'NOT_FOUND'), String(err));
    return err;
  }
  assert.fail('expected NOT_FOUND');
}

describe('a tag that is not in the repository', { skip: registryMissing }, () => {
  const reg = useRegistry();
  const stops: Array<() => Promise<void>> = [];
  after(async () => {
    for (const stop of stops) await stop();
  });

  it("names the repository's tags, without those of signatures and attestations, and what a reference without a tag names", async () => {
    const proxy = await startFaultProxy(reg.host, { match: isTagList });
    stops.push(() => proxy.stop());
    const store = storeAt(proxy.host, 'tags/hint');
    const made = await makeImage(store, { tag: 'v1' });
    // What cosign and the referrers tag schema leave in a repository of signed images.
    await store.putManifest(made.root, { tags: ['v2', cosignTag(made.root.digest, 'sig'), referrersTag(made.root.digest)] });

    const nope = await notFound(store.getManifest('nope'));
    assert.match(nope.message, /not found/);
    assert.equal(nope.hint, 'tags here: v1, v2');
    assert.equal(proxy.stats().matched, 1, 'one request of the tag list');
    const latest = await notFound(store.getManifest('latest'));
    assert.equal(latest.hint, 'tags here: v1, v2; a reference without a tag names latest');

    // A digest, or a signature tag that readers look for expecting it may be missing: no request, no hint.
    const before = proxy.stats().matched;
    assert.equal((await notFound(store.getManifest(digestOf('absent')))).hint, undefined);
    assert.equal((await notFound(store.getManifest(cosignTag(digestOf('absent'), 'att')))).hint, undefined);
    assert.equal(proxy.stats().matched, before);
  });

  // A final review: a registry that stalled the tag list held the "not found" for as long as a
  // request may idle (300 s); the hint has a deadline of its own, and the message goes without it.
  it('says the tag is not there without the list when the tag list stalls', { timeout: 60_000 }, async () => {
    let release = () => {};
    const stalled = new Promise<void>((resolve) => {
      release = resolve;
    });
    const proxy = await startFaultProxy(reg.host, {
      match: isTagList,
      beforeForward: (_m, path) => (isTagList('GET', path) ? stalled : undefined),
    });
    stops.push(async () => {
      release();
      await proxy.stop();
    });
    const e = await notFound(storeAt(proxy.host, 'tags/stalled').getManifest('nope'));
    assert.equal(e.hint, undefined);
    assert.match(e.message, /not found/);
  });

  it('keeps the message without the list when the tag list fails, asking once', async () => {
    await makeImage(storeAt(reg.host, 'tags/failing'), { tag: 'v1' });
    const proxy = await startFaultProxy(reg.host, { match: isTagList, status500Every: 1 });
    stops.push(() => proxy.stop());
    const e = await notFound(storeAt(proxy.host, 'tags/failing').getManifest('nope'));
    assert.match(e.message, /get manifest nope: not found/);
    assert.equal(e.hint, undefined);
    assert.equal(proxy.stats().matched, 1, 'the tag list asked for once, not retried');
  });
});

describe('a tag that is not in a layout', () => {
  const layout = useTempLayout('missing-tag');
  it('is said as for a registry: the same words, without signature and attestation tags', async () => {
    const store = await layout();
    const made = await makeImage(store, { tag: 'v1' });
    await store.putManifest(made.root, { tags: [cosignTag(made.root.digest, 'sig'), referrersTag(made.root.digest)] });
    assert.equal((await notFound(store.getManifest('nope'))).hint, 'tags here: v1');
    await store.close();
  });
});

describe('tagsHereHint', () => {
  const sig = cosignTag(digestOf('a'), 'sig');
  it('leaves out signature and attestation tags, bounds the list, and says what it left out', () => {
    assert.equal(tagsHereHint([]), 'tags here: (none)');
    assert.equal(tagsHereHint([sig, referrersTag(digestOf('a'))]), 'tags here: (none besides those of signatures and attestations)');
    assert.equal(tagsHereHint(['b', sig, 'a', 'a']), 'tags here: a, b');
    const many = Array.from({ length: 25 }, (_, i) => `t${String(i).padStart(2, '0')}`);
    assert.equal(tagsHereHint(many), `tags here: ${many.slice(0, 20).join(', ')}, and 5 more`);
    assert.equal(tagsHereHint(['a'], { more: true }), 'tags here: a, and more');
    // A final review: past a first page (a Link to the next), the 5 beyond the 20 named were
    // counted as all there were; how many the other pages hold is not known.
    assert.equal(tagsHereHint(many, { more: true }), `tags here: ${many.slice(0, 20).join(', ')}, and more`);
  });
});
