// Referrers on distribution 2.8: the sha256-<hex> tag schema.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { digestHex } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import { makeImage, makeReferrer } from '../helpers/images.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { storeAt } from './common.ts';

describe('referrers on distribution 2.8 (tag schema fallback)', { skip: registryMissing }, () => {
  const reg = useRegistry();

  it('keeps both referrers in the sha256-<hex> index and finds them', async () => {
    const store = storeAt(reg.host, 'ref/img');
    const made = await makeImage(store, { tag: 'v1' });
    assert.deepEqual(await store.referrers(made.root.digest), []);
    const sig = await makeReferrer(store, made.root, 'application/vnd.example.signature', 'sig');
    const sbom = await makeReferrer(store, made.root, 'application/vnd.example.sbom', 'sbom');
    // Putting one again does not list it twice.
    await store.putManifest(sig);

    const tag = `sha256-${digestHex(made.root.digest)}`;
    const fallback = await store.getManifest(tag);
    assert.equal(fallback.kind, 'index');
    assert.equal(fallback.mediaType, MediaType.OciIndex);
    if (fallback.kind !== 'index') return;
    assert.deepEqual(
      fallback.index.manifests.map((m) => m.digest),
      [sig.digest, sbom.digest],
    );
    assert.equal(fallback.index.manifests[0]!.artifactType, 'application/vnd.example.signature');
    assert.equal(fallback.index.manifests[0]!.annotations?.['org.opencontainers.image.created'], '1970-01-01T00:00:00Z');

    const all = await store.referrers(made.root.digest);
    assert.deepEqual(all.map((d) => d.digest).sort(), [sig.digest, sbom.digest].sort());
    const onlySboms = await store.referrers(made.root.digest, { artifactType: 'application/vnd.example.sbom' });
    assert.deepEqual(
      onlySboms.map((d) => d.digest),
      [sbom.digest],
    );
    assert.deepEqual(await store.referrers(made.root.digest, { artifactType: 'application/none' }), []);
    // The referrers are stored as manifests by digest.
    assert.deepEqual((await store.getManifest(sbom.digest)).bytes, sbom.bytes);
  });

  it('keeps the referrers of writers that race on the tag, once each closes its store', async () => {
    // Two stores with clients of their own, as two processes: each reads the tag, adds its
    // referrer and writes the tag back, so one overwrites the other. Distribution itself answers
    // 500 to a read of a tag that is being written; under load that lasted past the fast retries
    // of the other tests (five within 150 ms) once, so these retry as the CLI does, if sooner.
    const retry = { retry: { attempts: 6, baseDelayMs: 100, maxDelayMs: 2_000 } };
    const a = storeAt(reg.host, 'ref/race', retry);
    const b = storeAt(reg.host, 'ref/race', retry);
    const made = await makeImage(a, { tag: 'v1' });
    const referrers = await Promise.all(
      ['one', 'two', 'three', 'four'].map((name, i) =>
        makeReferrer(i % 2 === 0 ? a : b, made.root, `application/vnd.example.${name}`, name),
      ),
    );
    await Promise.all([a.close(), b.close()]);
    const listed = (await storeAt(reg.host, 'ref/race').referrers(made.root.digest)).map((d) => d.digest);
    assert.deepEqual(listed.sort(), referrers.map((r) => r.digest).sort());
  });
});
