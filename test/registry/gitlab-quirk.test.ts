// The referrers tag schema on a registry that answers a GET of the tag sha256-<hex> with the manifest sha256:<hex> (GitLab).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { digestHex } from '../../src/oci/digest.ts';
import { type FaultProxy, startFaultProxy } from '../helpers/fault-proxy.ts';
import { makeImage, makeReferrer } from '../helpers/images.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { storeAt } from './common.ts';

// GitLab's registry resolves a reference spelled `sha256-<hex>` as the digest `sha256:<hex>`
// when it reads a manifest (oras-project/oras#2148, oras-project/oras-go#1396), so the
// referrers tag of an image answers with the image itself. Writes go to the tag as usual.
const DASHED = /^(\/v2\/.+\/manifests\/)(sha256)-([0-9a-f]{64})(\?.*)?$/;

describe('referrers on a registry that reads sha256-<hex> as a digest (GitLab)', { skip: registryMissing }, () => {
  const reg = useRegistry();
  let proxy: FaultProxy;
  before(async () => {
    proxy = await startFaultProxy(reg.host, {
      rewrite: (method, url) => {
        if (method !== 'GET' && method !== 'HEAD') return undefined;
        const m = DASHED.exec(url);
        return m === null ? undefined : `${m[1]}${m[2]}:${m[3]}${m[4] ?? ''}`;
      },
    });
  });
  after(() => proxy.stop());

  it('pushes a referrer of an image: the image answered at its tag is no fallback index yet', async () => {
    const store = storeAt(proxy.host, 'gitlab/image');
    const made = await makeImage(store, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const image = made.manifests[0]!;
    // The registry now holds the image: its "referrers tag" answers with the image itself.
    assert.equal((await store.getManifest(`sha256-${digestHex(image.digest)}`)).digest, image.digest);
    const sig = await makeReferrer(store, image, 'application/vnd.example.signature', 'sig');
    // The registry behind the proxy holds the fallback index the push wrote, with the referrer alone.
    const direct = storeAt(reg.host, 'gitlab/image');
    const fallback = await direct.getManifest(`sha256-${digestHex(image.digest)}`);
    assert.equal(fallback.kind, 'index');
    if (fallback.kind === 'index')
      assert.deepEqual(
        fallback.index.manifests.map((m) => m.digest),
        [sig.digest],
      );
  });

  it('pushes a referrer of an index without taking the index for its fallback, and lists no referrers from it', async () => {
    const store = storeAt(proxy.host, 'gitlab/index');
    const made = await makeImage(store, { tag: 'v1' });
    // Read through the quirk, the index's "referrers" would be its own platform manifests.
    assert.deepEqual(await store.referrers(made.root.digest), []);
    const sig = await makeReferrer(store, made.root, 'application/vnd.example.signature', 'sig');
    const direct = storeAt(reg.host, 'gitlab/index');
    const fallback = await direct.getManifest(`sha256-${digestHex(made.root.digest)}`);
    assert.equal(fallback.kind, 'index');
    if (fallback.kind === 'index')
      assert.deepEqual(
        fallback.index.manifests.map((m) => m.digest),
        [sig.digest],
        'the fallback index holds the referrer, not the subject index’s platform manifests',
      );
  });
});
