// RegistryStore against distribution: push, pull, mounts, tags across pages.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isProvenantError } from '../../src/errors.ts';
import type { ProgressUpdate } from '../../src/io/types.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import type { Descriptor } from '../../src/oci/types.ts';
import { makeImage, pseudoRandomBytes, sh, toolMissing } from '../helpers/images.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { readAll, recording, storeAt } from './common.ts';

describe('RegistryStore against distribution', { skip: registryMissing }, () => {
  const reg = useRegistry();

  it('pushes a multi-platform image byte for byte and pulls it back', async () => {
    const store = storeAt(reg.host, 'pp/multi');
    assert.equal(store.location, `${reg.host}/pp/multi`);
    assert.deepEqual(store.registryRepository, { registry: reg.host, repository: 'pp/multi' });
    const made = await makeImage(store, { tag: 'v1', layers: 2, layerBytes: 20_000 });

    const root = await store.getManifest('v1');
    assert.deepEqual(root.bytes, made.root.bytes);
    assert.equal(root.digest, made.root.digest);
    assert.equal(root.kind, 'index');
    for (const m of made.manifests) {
      const back = await store.getManifest(m.digest);
      assert.deepEqual(back.bytes, m.bytes);
      assert.equal(back.mediaType, MediaType.OciManifest);
    }
    for (const [digest, bytes] of made.blobs) {
      const d: Descriptor = { mediaType: 'application/octet-stream', digest: digest as Descriptor['digest'], size: bytes.byteLength };
      assert.deepEqual(await readAll(await store.readBlob(d)), bytes);
      assert.equal((await store.statBlob(d.digest))?.size, bytes.byteLength);
    }
    const resolved = await store.resolve('v1');
    assert.deepEqual(resolved, { mediaType: MediaType.OciIndex, digest: made.root.digest, size: made.root.bytes.byteLength });
    assert.deepEqual(await store.listTags(), ['v1']);
    assert.equal(await store.resolve('nope'), undefined);
    assert.equal(await store.statBlob(digestOf('absent')), undefined);
    await assert.rejects(store.getManifest('nope'), (e) => isProvenantError(e, 'NOT_FOUND'));
  });

  it('a second push uploads no blob', async () => {
    const first = recording(storeAt(reg.host, 'pp/again'));
    const made = await makeImage(first.store, { tag: 'v1' });
    assert.ok(first.results.every((r) => r === 'stored'));
    const second = recording(storeAt(reg.host, 'pp/again'));
    const again = await makeImage(second.store, { tag: 'v1' });
    assert.equal(again.root.digest, made.root.digest);
    assert.equal(second.results.length, made.blobs.size);
    assert.ok(
      second.results.every((r) => r === 'exists'),
      `second push: ${second.results.join(', ')}`,
    );
  });

  it('skopeo reads the same manifest bytes', { skip: toolMissing('skopeo') }, async () => {
    const store = storeAt(reg.host, 'pp/skopeo');
    const made = await makeImage(store, { tag: 'v1' });
    const r = sh('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/pp/skopeo:v1`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, new TextDecoder().decode(made.root.bytes));
    const child = sh('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/pp/skopeo@${made.manifests[1]!.digest}`]);
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout, new TextDecoder().decode(made.manifests[1]!.bytes));
  });

  it('uploads a blob larger than chunkSize in PATCH chunks', async () => {
    const store = storeAt(reg.host, 'pp/chunked', { chunkSize: 1000 });
    const bytes = pseudoRandomBytes(10_500, 7);
    const d: Descriptor = { mediaType: MediaType.OciLayerGzip, digest: digestOf(bytes), size: bytes.byteLength };
    const events: ProgressUpdate[] = [];
    const result = await store.putBlob(
      {
        descriptor: d,
        open: async (offset = 0) =>
          (async function* () {
            // Odd-sized pieces, so chunk boundaries fall inside them.
            for (let i = offset; i < bytes.byteLength; i += 777) yield bytes.subarray(i, Math.min(i + 777, bytes.byteLength));
          })(),
      },
      { onProgress: (e) => events.push(e) },
    );
    assert.equal(result, 'stored');
    assert.ok(events.some((e) => e.kind === 'blob' && e.phase === 'done'));
    assert.deepEqual(await readAll(await store.readBlob(d)), bytes);
    // Read from an offset: still verified whole.
    assert.deepEqual(await readAll(await store.readBlob(d, { offset: 4000 })), bytes.subarray(4000));
  });

  it('refuses a source whose bytes do not match its descriptor', async () => {
    const store = storeAt(reg.host, 'pp/bad');
    const bytes = pseudoRandomBytes(3000, 9);
    const d: Descriptor = { mediaType: MediaType.OciLayerGzip, digest: digestOf('something else'), size: bytes.byteLength };
    await assert.rejects(
      store.putBlob({
        descriptor: d,
        open: async () =>
          (async function* () {
            yield bytes;
          })(),
      }),
      (e) => isProvenantError(e, 'DIGEST_MISMATCH', 'REGISTRY'),
    );
    assert.equal(await store.statBlob(d.digest), undefined);
  });

  it('pushes a sha512 blob, in one PUT and in chunks, though distribution answers with its sha256', async () => {
    const bytes = pseudoRandomBytes(5000, 13);
    const d: Descriptor = { mediaType: 'application/octet-stream', digest: digestOf(bytes, 'sha512'), size: bytes.byteLength };
    const source = {
      descriptor: d,
      open: async (offset = 0) =>
        (async function* () {
          yield bytes.subarray(offset);
        })(),
    };
    for (const [repository, chunkSize] of [
      ['pp/sha512-put', undefined],
      ['pp/sha512-chunks', 1000],
    ] as const) {
      const store = storeAt(reg.host, repository, chunkSize === undefined ? {} : { chunkSize });
      assert.equal(await store.putBlob(source), 'stored', repository);
      assert.deepEqual(await readAll(await store.readBlob(d)), bytes, repository);
    }
  });

  it('mounts a blob from another repository of the same registry', async () => {
    const src = storeAt(reg.host, 'pp/mount-src');
    const bytes = pseudoRandomBytes(5000, 11);
    const d: Descriptor = { mediaType: MediaType.OciLayerGzip, digest: digestOf(bytes), size: bytes.byteLength };
    const source = {
      descriptor: d,
      open: async (offset = 0) =>
        (async function* () {
          yield bytes.subarray(offset);
        })(),
    };
    assert.equal(await src.putBlob(source), 'stored');
    const dst = storeAt(reg.host, 'pp/mount-dst');
    const events: ProgressUpdate[] = [];
    assert.equal(await dst.putBlob(source, { mountFrom: ['pp/mount-src'], onProgress: (e) => events.push(e) }), 'mounted');
    assert.ok(events.some((e) => e.kind === 'blob' && e.phase === 'mounted'));
    assert.deepEqual(await readAll(await dst.readBlob(d)), bytes);
    // Mounting from a repository that lacks it falls back to an upload.
    const other = pseudoRandomBytes(100, 12);
    const od: Descriptor = { mediaType: MediaType.OciLayerGzip, digest: digestOf(other), size: other.byteLength };
    const r = await dst.putBlob(
      {
        descriptor: od,
        open: async () =>
          (async function* () {
            yield other;
          })(),
      },
      { mountFrom: ['pp/mount-src'] },
    );
    assert.equal(r, 'stored');
  });

  it('lists many tags across pages', async () => {
    const store = storeAt(reg.host, 'pp/tags', { tagPageSize: 2 });
    const made = await makeImage(store, { tag: 't0' });
    const tags = ['t1', 't2', 't3', 't4'];
    await store.putManifest(made.root, { tags });
    assert.deepEqual((await store.listTags()).sort(), ['t0', ...tags]);
  });
});

describe('a read-only registry', { skip: registryMissing }, () => {
  const reg = useRegistry({ readonly: true });

  it("refuses a push with the registry's own words and the methods it allows", async () => {
    const store = storeAt(reg.host, 'ro/app');
    const bytes = pseudoRandomBytes(100, 3);
    const err = await store
      .putBlob({
        descriptor: { mediaType: MediaType.OciLayerGzip, digest: digestOf(bytes), size: bytes.byteLength },
        open: async () =>
          (async function* () {
            yield bytes;
          })(),
      })
      .then(
        () => assert.fail('expected a refusal'),
        (e: unknown) => e,
      );
    assert.ok(isProvenantError(err, 'REGISTRY'), String(err));
    assert.match(err.message, /refused start blob upload: Method not allowed \(HTTP 405\)/);
    assert.match(err.hint ?? '', /it allows GET, HEAD\b.*read-only/);
  });
});
