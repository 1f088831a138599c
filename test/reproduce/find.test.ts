/**
 * findProvenance on provenance kept in BuildKit's storage (attestation manifests inside the
 * index): with trust, through the index's signature as verifyImage checks it, that signature
 * verified once for all the platforms; without trust, by the same rule of which statement is
 * about which image.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type StatementBlob, statement, storeAttestations } from '../../src/attest/storage.ts';
import { isProvenantError } from '../../src/errors.ts';
import { inspectImage } from '../../src/image/inspect.ts';
import type { Digest } from '../../src/oci/digest.ts';
import type { Descriptor } from '../../src/oci/types.ts';
import { findProvenance } from '../../src/reproduce/find.ts';
import { generateSigningKeyPair, keyId } from '../../src/sign/keys.ts';
import { signImage } from '../../src/sign/sign.ts';
import { KeySigner } from '../../src/sign/signer.ts';
import type { ContentStore } from '../../src/store/types.ts';
import { makeImage } from '../helpers/images.ts';
import { useTempLayout } from '../helpers/temp.ts';

const tempLayout = useTempLayout('reproduce-find');
const REF = '127.0.0.1:5000/provenant/app';
const SLSA = 'https://slsa.dev/provenance/v1';
const OTHER = 'sha256:0000000000000000000000000000000000000000000000000000000000000001' as Digest;

const alice = generateSigningKeyPair();
const bob = generateSigningKeyPair();

/** A two-platform image whose index lists `statementsOf(image)` for each image in BuildKit's storage, tagged `v1`. */
async function inIndex(
  statementsOf: (image: Digest) => StatementBlob[],
): Promise<{ store: ContentStore; index: Digest; images: Digest[] }> {
  const store = await tempLayout();
  const made = await makeImage(store);
  const list = made.manifests.map((manifest) => ({ manifest, statements: statementsOf(manifest.digest) }));
  const index = await storeAttestations(store, made.root, list, 'buildkit');
  await store.putManifest(index, { tags: ['v1'] });
  return { store, index: index.digest, images: made.manifests.map((m) => m.digest) };
}

/** The digests of the statement layers of the attestation manifests `index` lists. */
async function statementLayers(store: ContentStore, index: Digest): Promise<Digest[]> {
  const stored = await store.getManifest(index);
  if (stored.kind !== 'index') return [];
  const out: Digest[] = [];
  for (const entry of stored.index.manifests) {
    if (entry.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest') continue;
    const m = await store.getManifest(entry.digest);
    if (m.kind === 'manifest') out.push(...m.manifest.layers.map((l) => l.digest));
  }
  return out;
}

const named = (image: Digest): StatementBlob[] => [statement(SLSA, { buildDefinition: { image } }, [{ name: REF, digest: image }])];

/**
 * `store`, counting the referrers looked up for each subject (verifyImage looks once a
 * verification) and the blobs read, by digest.
 */
function counting(store: ContentStore): { store: ContentStore; lookups: Map<string, number>; reads: Map<string, number> } {
  const lookups = new Map<string, number>();
  const reads = new Map<string, number>();
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'referrers') {
        return (subject: Digest, options?: object) => {
          lookups.set(subject, (lookups.get(subject) ?? 0) + 1);
          return target.referrers(subject, options);
        };
      }
      if (prop === 'readBlob') {
        return (descriptor: Descriptor, options?: object) => {
          reads.set(descriptor.digest, (reads.get(descriptor.digest) ?? 0) + 1);
          return target.readBlob(descriptor, options);
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store: proxy, lookups, reads };
}

describe('findProvenance in BuildKit storage', () => {
  it("with trust, each platform's provenance verifies through the index's signature, checked once", async () => {
    const { store, index, images } = await inIndex(named);
    await signImage(store, index, { signer: new KeySigner(alice.privateKey), dockerReference: REF });
    const counted = counting(store);
    const found = await findProvenance(counted.store, await inspectImage(store, 'v1', 'app'), { trust: { key: alice.publicKey } });
    for (const image of images) {
      const [p, ...more] = found.get(image) ?? [];
      assert.equal(more.length, 0);
      assert.equal(p?.storage, 'buildkit');
      assert.equal(p?.verified, true);
      assert.equal(p?.verifiedBy, `the index's signature (key ${keyId(alice.publicKey)})`);
      assert.deepEqual(p?.statement, { predicateType: SLSA, predicate: { buildDefinition: { image } } });
    }
    // Two platforms, one look at the index's signatures.
    assert.equal(counted.lookups.get(index), 1);
    // Each statement read once, by the verification: its provenance verified, nothing reads it
    // again as stored unsigned.
    const layers = await statementLayers(store, index);
    assert.equal(layers.length, images.length);
    for (const layer of layers) assert.equal(counted.reads.get(layer), 1, layer);
  });

  it('an empty subject is bound by the index entry, a statement about another image left out, with trust or without', async () => {
    const { store, index, images } = await inIndex((image) => [
      statement(SLSA, { buildDefinition: { image } }, []),
      statement(SLSA, { buildDefinition: { other: true } }, [{ name: REF, digest: OTHER }]),
    ]);
    await signImage(store, index, { signer: new KeySigner(alice.privateKey), dockerReference: REF });
    const inspected = await inspectImage(store, 'v1', 'app');
    for (const trust of [undefined, { key: alice.publicKey }]) {
      const found = await findProvenance(store, inspected, { trust });
      for (const image of images) {
        assert.deepEqual(
          found.get(image)?.map((p) => [p.statement.predicate, p.verified]),
          [[{ buildDefinition: { image } }, trust !== undefined]],
        );
      }
    }
  });

  it('with trust, an index signed by another key, or not signed, stops with SIGNATURE', async () => {
    const { store, index } = await inIndex(named);
    await assert.rejects(findProvenance(store, await inspectImage(store, 'v1', 'app'), { trust: { key: alice.publicKey } }), (err) => {
      assert.ok(isProvenantError(err, 'SIGNATURE'), String(err));
      assert.match(err.message, /^the provenance of linux\/amd64 is not signed, and a signer was required/);
      assert.match(err.hint ?? '', /stored unsigned \(buildkit\)/);
      return true;
    });
    await signImage(store, index, { signer: new KeySigner(bob.privateKey), dockerReference: REF, storages: ['cosign'] });
    await assert.rejects(findProvenance(store, await inspectImage(store, 'v1', 'app'), { trust: { key: alice.publicKey } }), (err) => {
      assert.ok(isProvenantError(err, 'SIGNATURE'), String(err));
      assert.match(err.message, /^the provenance of linux\/amd64 is in the image index, whose signatures do not verify/);
      assert.match(err.hint ?? '', /\.sig layer 0: the signature does not verify with the given key/);
      return true;
    });
  });
});
