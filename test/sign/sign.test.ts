/**
 * Signing with a key into a layout and a real registry, verifying it back, the formats byte
 * for byte, and each tampering case rejected with its own reason.
 */
import assert from 'node:assert/strict';
import { sign as cryptoSign, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Bundle } from '@sigstore/bundle';
import { PublicKeyDetails } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import fc from 'fast-check';
import { statement } from '../../src/attest/storage.ts';
import { isProvenantError, ProvenantError } from '../../src/errors.ts';
import { type ByteStream, bytesSource, type OperationOptions } from '../../src/io/types.ts';
import { verifyStream } from '../../src/io/verify.ts';
import { cosignTag, descriptorOf, encodeJson, parseStored, referrersTag, type Stored } from '../../src/oci/content.ts';
import { type Digest, Digester, digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import type { Descriptor } from '../../src/oci/types.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { summarizeSignatures } from '../../src/sign/inspect.ts';
import { generateSigningKeyPair, keyId } from '../../src/sign/keys.ts';
import { cosignSignStatement, encodeEnvelope, pae, parseEnvelope, parseStatement, simpleSigningPayload } from '../../src/sign/payload.ts';
import { attestImage, type PartlySignedError, signImage } from '../../src/sign/sign.ts';
import { KeySigner } from '../../src/sign/signer.ts';
import { appendCosignLayer, eachSignature, findSignatures, writeBundleReferrer } from '../../src/sign/storage.ts';
import { emptyTrustedRoot } from '../../src/sign/trust.ts';
import { assertVerified, verifyImage } from '../../src/sign/verify.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { RegistryStore } from '../../src/store/registry.ts';
import type { ContentStore } from '../../src/store/types.ts';
import { makeImage } from '../helpers/images.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { countingReads } from '../helpers/stores.ts';
import { putCosignLayer, tempLayout } from './helpers.ts';

const REF = '127.0.0.1:5000/provenant/app';
const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

/** A blob a pusher pushed, made as it is read: `size` bytes, zeros and then its label. */
interface Junk {
  label: string;
  size: number;
  digest: Digest;
}

const JUNK_ZEROS = new Uint8Array(1024 * 1024);

function* junkChunks(label: string, size: number): Generator<Uint8Array> {
  const tail = new TextEncoder().encode(label);
  for (let left = size - tail.length; left > 0; left -= JUNK_ZEROS.length) yield JUNK_ZEROS.subarray(0, Math.min(left, JUNK_ZEROS.length));
  yield tail;
}

/** Junk blobs of one `size` and distinct labels of one length, with their real digests (the zeros hashed once). */
function junkBlobs(labels: readonly string[], size: number): Junk[] {
  const zeros = new Digester();
  const width = labels[0]?.length ?? 0;
  for (const c of junkChunks('', size - width)) zeros.update(c);
  return labels.map((label) => {
    assert.equal(label.length, width);
    const d = zeros.copy();
    d.update(new TextEncoder().encode(label));
    return { label, size, digest: d.digest() };
  });
}

/**
 * A store that counts the reads of each blob, and holds `junk` besides what `store` holds, made
 * as it is read: a pusher's blobs without a gibibyte on disk. It checks what it serves as a real
 * store does, against the descriptor asked for (its digest and size; a size of -1 by the blob's
 * own, as a registry's GET by its Content-Length), and says each blob's size when asked, unless
 * `head` says its HEAD has no Content-Length ('unsized'), is refused ('refused', a 405) or says
 * every blob is missing ('absent'). `served.bytes` is how much junk was read.
 */
function servingJunk(
  store: ContentStore,
  junk: readonly Junk[],
  { head = 'sized' }: { head?: 'sized' | 'unsized' | 'refused' | 'absent' } = {},
): { store: ContentStore; reads: Map<Digest, number>; served: { bytes: number }; heads: { count: number } } {
  const reads = new Map<Digest, number>();
  const served = { bytes: 0 };
  const heads = { count: 0 };
  const held = new Map(junk.map((j) => [j.digest, j]));
  const sizeOf = async (digest: Digest, o?: OperationOptions) => {
    const j = held.get(digest);
    return j === undefined ? await store.statBlob(digest, o) : { mediaType: 'application/octet-stream', digest, size: j.size };
  };
  const wrapped = countingReads(store).store;
  wrapped.statBlob = async (digest, o) => {
    heads.count++;
    if (head === 'refused') throw new ProvenantError('REGISTRY', `registry.invalid refused check blob ${digest}: HTTP 405`);
    if (head === 'absent') return undefined;
    const stat = await sizeOf(digest, o);
    return stat === undefined || head === 'sized' ? stat : { ...stat, size: -1 };
  };
  wrapped.readBlob = async (asked, o) => {
    reads.set(asked.digest, (reads.get(asked.digest) ?? 0) + 1);
    const d = asked.size >= 0 ? asked : { ...asked, size: (await sizeOf(asked.digest, o))?.size ?? 0 };
    const j = held.get(d.digest);
    if (j === undefined) return store.readBlob(d, o);
    const chunks = (async function* () {
      for (const chunk of junkChunks(j.label, j.size)) {
        served.bytes += chunk.length;
        yield chunk;
      }
    })();
    return verifyStream(chunks, d, `junk@${d.digest}`);
  };
  return { store: wrapped, reads, served, heads };
}

async function readAll(stream: ByteStream): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of stream) parts.push(c);
  return Buffer.concat(parts);
}

async function referrerBundles(store: ContentStore, subject: Digest): Promise<Bundle[]> {
  const out: Bundle[] = [];
  for (const f of await findSignatures(store, subject)) if (f.format === 'bundle' && f.bundle !== undefined) out.push(f.bundle);
  return out;
}

describe('signing with a key', () => {
  const alice = generateSigningKeyPair();
  const bob = generateSigningKeyPair();

  it('signs an index and, recursively, its images in both storages; both verify; verification reads no layer or config', async () => {
    const layout = await tempLayout();
    const made = await makeImage(layout, { tag: 'v1' });
    const entries = await signImage(layout, 'v1', { signer: new KeySigner(alice.privateKey), dockerReference: REF, recursive: true });
    assert.equal(entries.length, 6);
    assert.ok(entries.every((e) => e.added));
    const imageBlobs = new Set<string>(made.blobs.keys());
    for (const m of [made.root, ...made.manifests]) {
      const { store, reads } = countingReads(layout);
      const report = await verifyImage(store, m.digest, { policy: { key: alice.publicKey } });
      assert.deepEqual(
        report.checked.map((c) => [c.storage, c.verified, c.reason]),
        [
          ['cosign', true, undefined],
          ['referrers', true, undefined],
        ],
      );
      assert.equal(report.verified[0]?.payload?.digest, m.digest);
      assert.equal(report.verified[1]?.statement?.predicateType, 'https://sigstore.dev/cosign/sign/v1');
      assert.deepEqual(report.verified[0]?.signer, { keyId: keyId(alice.publicKey) });
      assert.deepEqual(
        reads.filter((d) => imageBlobs.has(d) && !made.manifests.some((x) => x.digest === d)),
        [],
      );
    }
  });

  it('signs recursively an index named many times over once: each index is read once, each manifest signed once', async () => {
    const layout = await tempLayout();
    const made = await makeImage(layout, {});
    // Six indexes, each naming the one below three times (3^6 = 729 paths to the image's index).
    let below = made.root;
    for (let level = 0; level < 6; level++) {
      const manifests = [1, 2, 3].map((n) => descriptorOf(below, { annotations: { n: String(n) } }));
      below = parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }));
      await layout.putManifest(below, level === 5 ? { tags: ['v1'], keepAsRoot: true } : {});
    }
    const gets: string[] = [];
    const counted = new Proxy(layout as ContentStore, {
      get(target, key) {
        if (key === 'getManifest') {
          return (t: string, o?: OperationOptions) => {
            gets.push(t);
            return target.getManifest(t, o);
          };
        }
        const v: unknown = Reflect.get(target, key, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const entries = await signImage(counted, 'v1', { signer: new KeySigner(alice.privateKey), dockerReference: REF, recursive: true });
    const signed = entries.filter((e) => e.storage === 'cosign').map((e) => e.digest);
    assert.equal(new Set(signed).size, signed.length, 'each manifest signed once');
    assert.equal(signed.length, 7 + made.manifests.length);
    assert.ok(gets.filter((g) => g === made.root.digest).length <= 1, `the shared index was read ${gets.length} times`);
    assert.ok(gets.length < 40, `${gets.length} manifest reads`);
  });

  // A final read: an index already walked was skipped before its depth was checked, so whether
  // sign refused nesting past the cap hung on the order of an index's entries (copy and check
  // count every path). The index named first, then through eight more: refused both ways round.
  it('refuses an index nested past the cap on its deepest path, whichever path lists it first', async () => {
    for (const deepFirst of [false, true]) {
      const layout = await tempLayout();
      const made = await makeImage(layout, {});
      const index = (below: Stored[]) =>
        parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: below.map((b) => descriptorOf(b)) }));
      const shared = index([made.root]);
      await layout.putManifest(shared, {});
      let chain = shared;
      for (let i = 0; i < 8; i++) {
        chain = index([chain]);
        await layout.putManifest(chain, {});
      }
      const root = index(deepFirst ? [chain, shared] : [shared, chain]);
      await layout.putManifest(root, { tags: ['v1'], keepAsRoot: true });
      await assert.rejects(
        signImage(layout, 'v1', { signer: new KeySigner(alice.privateKey), dockerReference: REF, recursive: true }),
        (err) => isProvenantError(err, 'INVALID_MANIFEST') && /more than 8 deep/.test(err.message),
        `deep path first: ${deepFirst}`,
      );
    }
  });

  it('a failure after the .sig was written says what was written and keeps it, verifiable; not "nothing was written"', async () => {
    const layout = await tempLayout();
    const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    // A full disk met at the referrer, after the .sig image went in: no real store fills up on
    // demand, so the layout's own putManifest fails there with the error a full disk gives it.
    const full = countingReads(layout).store;
    full.putManifest = async (m, o) => {
      if (m.kind === 'manifest' && m.manifest.subject !== undefined) {
        throw new ProvenantError('IO', `cannot write ${layout.location}/index.json: no space left on device; nothing was written`);
      }
      return layout.putManifest(m, o);
    };
    const err = await signImage(full, 'v1', { signer: new KeySigner(alice.privateKey), dockerReference: REF }).then(
      () => assert.fail('signing should fail'),
      (e: unknown) => e,
    );
    assert.ok(isProvenantError(err, 'IO'), String(err));
    const tag = cosignTag(made.root.digest, 'sig');
    assert.equal(
      err.message,
      `cannot write ${layout.location}/index.json: no space left on device; before it, written and kept: the cosign signature of ${made.root.digest} (${tag}); the rest was not written`,
    );
    assert.deepEqual(
      ((err as PartlySignedError).written ?? []).map((e) => [e.storage, e.location]),
      [['cosign', tag]],
    );
    const report = await verifyImage(layout, made.root.digest, { policy: { key: alice.publicKey } });
    assert.deepEqual(
      report.checked.map((c) => [c.storage, c.verified]),
      [['cosign', true]],
    );

    // Signed recursively, the failure met at the image's referrer, after three: counted.
    const again = await tempLayout();
    await makeImage(again, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    let referrers = 0;
    const fills = countingReads(again).store;
    fills.putManifest = async (m, o) => {
      if (m.kind === 'manifest' && m.manifest.subject !== undefined && ++referrers === 2) {
        throw new ProvenantError('IO', 'cannot write index.json: no space left on device; nothing was written');
      }
      return again.putManifest(m, o);
    };
    const counted = await signImage(fills, 'v1', { signer: new KeySigner(bob.privateKey), dockerReference: REF, recursive: true }).then(
      () => assert.fail('signing should fail'),
      (e: unknown) => e,
    );
    assert.ok(isProvenantError(counted, 'IO'), String(counted));
    assert.equal(
      counted.message,
      'cannot write index.json: no space left on device; before it, written and kept: 3 signatures (provenant verify lists them); the rest was not written',
    );
  });

  it("a key's validity window needs a verified time: a signature without one does not pass for one made inside it", async () => {
    const layout = await tempLayout();
    const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    await signImage(layout, 'v1', { signer: new KeySigner(alice.privateKey), dockerReference: REF });
    const reasons = async (validFor?: { start?: Date; end?: Date }) =>
      (await verifyImage(layout, made.root.digest, { policy: { key: alice.publicKey, validFor } })).checked.map((c) => c.reason);
    assert.deepEqual(await reasons(), [undefined, undefined]);
    // Retired in 2020, and signed today without a log entry or a timestamp (they are not signed).
    assert.deepEqual(await reasons({ start: new Date('2019-01-01'), end: new Date('2020-01-01') }), ['timestamp', 'timestamp']);
    assert.deepEqual(await reasons({ start: new Date('2019-01-01') }), ['timestamp', 'timestamp']);
  });

  it('the .sig image has cosign’s exact shape: go-containerregistry manifest and config, the payload as layer', async () => {
    const layout = await tempLayout();
    const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    await signImage(layout, 'v1', {
      signer: new KeySigner(alice.privateKey),
      dockerReference: REF,
      storages: ['cosign'],
      annotations: { team: 'a' },
    });
    const sig = await layout.getManifest(cosignTag(made.root.digest, 'sig'));
    assert.equal(sig.kind, 'manifest');
    if (sig.kind !== 'manifest') return;
    const payload = simpleSigningPayload(REF, made.root.digest, { team: 'a' });
    const layer = sig.manifest.layers[0]!;
    assert.equal(layer.mediaType, 'application/vnd.dev.cosign.simplesigning.v1+json');
    assert.deepEqual(Object.keys(layer.annotations ?? {}), ['dev.cosignproject.cosign/signature']);
    const text = Buffer.from(sig.bytes).toString();
    assert.equal(
      text,
      `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":${sig.manifest.config.size},"digest":"${sig.manifest.config.digest}"},"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":${payload.length},"digest":"${layer.digest}","annotations":{"dev.cosignproject.cosign/signature":"${layer.annotations!['dev.cosignproject.cosign/signature']}"}}]}`,
    );
    const config = (await readAll(await layout.readBlob(sig.manifest.config))).toString();
    assert.equal(
      config,
      `{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["${layer.digest}"]},"config":{}}`,
    );
    const blob = await readAll(await layout.readBlob(layer));
    assert.deepEqual(blob, Buffer.from(payload));
  });

  it('Docker media types, as COSIGN_DOCKER_MEDIA_TYPES=1: a schema 2 .sig and .att image with cosign’s layers, verified; an existing image keeps its types', async () => {
    const layout = await tempLayout();
    const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const d = made.root.digest;
    const signer = new KeySigner(alice.privateKey);
    await signImage(layout, 'v1', { signer, dockerReference: REF, storages: ['cosign'], dockerMediaTypesOf: (s) => s === d });
    const s = statement('https://spdx.dev/Document', { spdxVersion: 'SPDX-2.3' }, [{ name: 'app', digest: d }]);
    await attestImage(layout, 'v1', [s], { signer, storage: 'cosign', dockerMediaTypes: true });
    const layerTypes = { sig: 'application/vnd.dev.cosign.simplesigning.v1+json', att: 'application/vnd.dsse.envelope.v1+json' };
    for (const suffix of ['sig', 'att'] as const) {
      const m = await layout.getManifest(cosignTag(d, suffix));
      assert.ok(m.kind === 'manifest');
      assert.equal(m.mediaType, MediaType.DockerManifest);
      // The bytes say so too (a reader goes by the manifest's own mediaType), in go-containerregistry's order.
      assert.match(
        Buffer.from(m.bytes).toString(),
        /^\{"schemaVersion":2,"mediaType":"application\/vnd\.docker\.distribution\.manifest\.v2\+json","config":\{"mediaType":"application\/vnd\.docker\.container\.image\.v1\+json",/,
      );
      assert.equal(m.manifest.config.mediaType, MediaType.DockerConfig);
      assert.deepEqual(
        m.manifest.layers.map((l) => l.mediaType),
        [layerTypes[suffix]],
      );
    }
    const sigs = await verifyImage(layout, d, { policy: { key: alice.publicKey } });
    assert.deepEqual(
      sigs.checked.map((c) => [c.storage, c.verified]),
      [['cosign', true]],
    );
    const atts = await verifyImage(layout, d, {
      policy: { key: alice.publicKey },
      kind: 'attestation',
      predicateType: 'https://spdx.dev/Document',
    });
    assert.deepEqual(
      atts.checked.map((c) => [c.storage, c.verified]),
      [['cosign', true]],
    );
    // Another signature is appended to the image the tag names, in its types, as cosign appends.
    await signImage(layout, 'v1', { signer: new KeySigner(bob.privateKey), dockerReference: REF, storages: ['cosign'] });
    const both = await layout.getManifest(cosignTag(d, 'sig'));
    assert.ok(both.kind === 'manifest' && both.mediaType === MediaType.DockerManifest && both.manifest.layers.length === 2);
    // Without the option a new image is OCI, as cosign's default.
    const other = await makeImage(layout, { tag: 'v2', platforms: [{ os: 'linux', architecture: 'arm64' }] });
    await signImage(layout, 'v2', { signer, dockerReference: REF, storages: ['cosign'], dockerMediaTypesOf: (s) => s === d });
    assert.equal((await layout.getManifest(cosignTag(other.root.digest, 'sig'))).mediaType, MediaType.OciManifest);
  });

  it('signing again with the same key adds nothing; another key adds a second signature in each storage', async () => {
    const layout = await tempLayout();
    const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const d = made.root.digest;
    await signImage(layout, 'v1', { signer: new KeySigner(alice.privateKey), dockerReference: REF });
    const sigBefore = await layout.resolve(cosignTag(d, 'sig'));
    const again = await signImage(layout, 'v1', { signer: new KeySigner(alice.privateKey), dockerReference: REF });
    assert.deepEqual(
      again.map((e) => e.added),
      [false, false],
    );
    assert.deepEqual(await layout.resolve(cosignTag(d, 'sig')), sigBefore);
    assert.equal((await layout.referrers(d)).length, 1);
    await signImage(layout, 'v1', { signer: new KeySigner(bob.privateKey), dockerReference: REF });
    const sig = await layout.getManifest(cosignTag(d, 'sig'));
    assert.equal(sig.kind === 'manifest' && sig.manifest.layers.length, 2);
    assert.equal((await layout.referrers(d)).length, 2);
    // Each key verifies its own two; the other two fail, each naming why.
    const report = await verifyImage(layout, d, { policy: { key: alice.publicKey } });
    assert.equal(report.verified.length, 2);
    const failed = report.checked.filter((c) => !c.verified);
    assert.deepEqual(failed.map((c) => c.reason).sort(), ['signature', 'wrong-key']);
    assert.match(
      failed.find((c) => c.reason === 'wrong-key')!.message!,
      new RegExp(`signed by key ${escapeRe(keyId(bob.publicKey))}, not by the given key`),
    );
    // inspect: every signature, signed, with the key ids the bundles name.
    const summary = await summarizeSignatures(layout, d);
    assert.equal(summary.length, 4);
    assert.ok(summary.every((s) => s.signed));
    assert.deepEqual(
      summary
        .filter((s) => s.storage === 'referrers')
        .map((s) => s.keyId)
        .sort(),
      [keyId(alice.publicKey), keyId(bob.publicKey)].sort(),
    );
  });

  it('a .sig layer whose timestamp annotation is damaged is no equal of a new signature: signing again adds one that verifies', async () => {
    const layout = await tempLayout();
    const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const d = made.root.digest;
    const signer = new KeySigner(alice.privateKey);
    await signImage(layout, 'v1', { signer, dockerReference: REF, storages: ['cosign'] });
    const tag = cosignTag(d, 'sig');
    const sig = await layout.getManifest(tag);
    assert.ok(sig.kind === 'manifest');
    const [layer] = sig.manifest.layers;
    assert.ok(layer !== undefined);
    const junk = {
      ...layer,
      annotations: { ...layer.annotations, 'dev.sigstore.cosign/rfc3161timestamp': '{"SignedRFC3161Timestamp":"AAAA"}' },
    };
    await layout.putManifest(parseStored(encodeJson({ ...sig.manifest, layers: [junk] })), { tags: [tag] });
    const policy = { key: alice.publicKey };
    const damaged = await verifyImage(layout, d, { policy, trustedRoot: emptyTrustedRoot() });
    assert.equal(damaged.verified.length, 0);
    const again = await signImage(layout, 'v1', { signer, dockerReference: REF, storages: ['cosign'] });
    assert.deepEqual(
      again.map((e) => e.added),
      [true],
    );
    const repaired = await verifyImage(layout, d, { policy, trustedRoot: emptyTrustedRoot() });
    assert.equal(repaired.verified.length, 1);
    // The new layer is an equal of the next one: nothing is added twice.
    const third = await signImage(layout, 'v1', { signer, dockerReference: REF, storages: ['cosign'] });
    assert.deepEqual(
      third.map((e) => e.added),
      [false],
    );
  });

  it('our bundles verify with @sigstore/verify itself, as the independent judge', async () => {
    const layout = await tempLayout();
    const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    await signImage(layout, 'v1', { signer: new KeySigner(alice.privateKey), dockerReference: REF, storages: ['referrers'] });
    const [bundle] = await referrerBundles(layout, made.root.digest);
    assert.ok(bundle);
    assert.equal(bundle.mediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
    // A key trusted under the hint our bundle names: a wrong hint would not find it.
    const trust = toTrustMaterial(emptyTrustedRoot(), {
      [keyId(alice.publicKey)]: {
        rawBytes: alice.publicKey.export({ format: 'der', type: 'spki' }),
        keyDetails: PublicKeyDetails.PKIX_ECDSA_P256_SHA_256,
      },
    });
    const signer = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(toSignedEntity(bundle));
    assert.ok(signer.key);
    assert.equal(bundle.content.$case, 'dsseEnvelope');
    if (bundle.content.$case !== 'dsseEnvelope') return;
    assert.deepEqual(Buffer.from(bundle.content.dsseEnvelope.payload), Buffer.from(cosignSignStatement(made.root.digest)));
    // The referrer manifest is cosign 3's: artifact type, config, annotations, subject.
    const [ref] = await layout.referrers(made.root.digest);
    const m = await layout.getManifest(ref!.digest);
    const doc = JSON.parse(Buffer.from(m.bytes).toString());
    assert.equal(doc.artifactType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
    assert.deepEqual(doc.config, {
      mediaType: 'application/vnd.oci.empty.v1+json',
      size: 2,
      digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
      artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    });
    assert.deepEqual(Object.keys(doc.annotations), [
      'dev.sigstore.bundle.content',
      'dev.sigstore.bundle.predicateType',
      'org.opencontainers.image.created',
    ]);
    assert.equal(doc.annotations['dev.sigstore.bundle.content'], 'dsse-envelope');
    assert.deepEqual(doc.subject, { mediaType: MediaType.OciIndex, size: made.root.bytes.length, digest: made.root.digest });
  });

  it('a P-384 key verifies with SHA-384 (cosign 3 and sigstore-go, by curve) and SHA-256 (cosign’s default digest), in both storages', async () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const layout = await tempLayout();
    const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const d = made.root.digest;
    const subject = { mediaType: made.root.mediaType, digest: d, size: made.root.bytes.length };
    const signWith = async (hash: string) => {
      const store = await tempLayout();
      await store.putManifest(made.root, { tags: ['v1'] });
      const payload = simpleSigningPayload(REF, d);
      const sig = cryptoSign(hash, payload, p384.privateKey).toString('base64');
      await appendCosignLayer(store, d, 'sig', {
        mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
        payload,
        annotations: { 'dev.cosignproject.cosign/signature': sig },
      });
      const statementBytes = Buffer.from(cosignSignStatement(d));
      const bundle = {
        mediaType: BUNDLE,
        verificationMaterial: {
          content: { $case: 'publicKey', publicKey: { hint: keyId(p384.publicKey) } },
          tlogEntries: [],
          timestampVerificationData: { rfc3161Timestamps: [] },
        },
        content: {
          $case: 'dsseEnvelope',
          dsseEnvelope: {
            payloadType: 'application/vnd.in-toto+json',
            payload: statementBytes,
            signatures: [{ keyid: '', sig: cryptoSign(hash, pae('application/vnd.in-toto+json', statementBytes), p384.privateKey) }],
          },
        },
      } as unknown as Bundle;
      await writeBundleReferrer(store, subject, bundle, 'https://sigstore.dev/cosign/sign/v1');
      const report = await verifyImage(store, d, { policy: { key: p384.publicKey } });
      return report.checked.map((c) => [c.storage, c.verified, c.reason]);
    };
    for (const hash of ['sha384', 'sha256']) {
      assert.deepEqual(
        await signWith(hash),
        [
          ['cosign', true, undefined],
          ['referrers', true, undefined],
        ],
        hash,
      );
    }
    // Another digest than the curve's or SHA-256 is not taken.
    assert.deepEqual(await signWith('sha512'), [
      ['cosign', false, 'signature'],
      ['referrers', false, 'signature'],
    ]);
  });

  it('an Ed25519 key verifies a cosign 2 .sig (pure Ed25519 over the payload, as cosign verify --key checks it)', async () => {
    const ed = generateKeyPairSync('ed25519');
    const other = generateKeyPairSync('ed25519');
    const store = await tempLayout();
    const made = await makeImage(store, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const d = made.root.digest;
    const payload = simpleSigningPayload(REF, d);
    await appendCosignLayer(store, d, 'sig', {
      mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
      payload,
      annotations: { 'dev.cosignproject.cosign/signature': cryptoSign(null, payload, ed.privateKey).toString('base64') },
    });
    const report = await verifyImage(store, d, { policy: { key: ed.publicKey } });
    assert.deepEqual(
      report.checked.map((c) => [c.storage, c.verified, c.reason]),
      [['cosign', true, undefined]],
    );
    // Another Ed25519 key: a signature failure, as for any other key.
    const wrong = await verifyImage(store, d, { policy: { key: other.publicKey } });
    assert.deepEqual(
      wrong.checked.map((c) => c.reason),
      ['signature'],
    );
    assert.match(wrong.checked[0]!.message!, /another key made it/);
    // A key that cannot check a message signature at all (Ed448 with SHA-256) says so rather
    // than blaming another key.
    const ed448 = generateKeyPairSync('ed448');
    const odd = await verifyImage(store, d, { policy: { key: ed448.publicKey } });
    assert.equal(odd.checked[0]!.reason, 'signature');
    assert.match(odd.checked[0]!.message!, /the given key \(ed448\) cannot check this signature/);
    assert.doesNotMatch(odd.checked[0]!.message!, /another key/);
  });

  it('with a key and no trusted root, a Rekor entry that records another signature of the payload fails; its own passes, said unchecked', async () => {
    const store = await tempLayout();
    const made = await makeImage(store, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const d = made.root.digest;
    const payload = simpleSigningPayload(REF, d);
    const pem = alice.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    // A Rekor bundle annotation with a hashedrekord body for `sig`; its SET cannot be checked here.
    const rekorBundle = (sig: Buffer) => {
      const body = JSON.stringify({
        apiVersion: '0.0.1',
        kind: 'hashedrekord',
        spec: {
          data: { hash: { algorithm: 'sha256', value: digestOf(payload).slice(7) } },
          signature: { content: sig.toString('base64'), publicKey: { content: Buffer.from(pem).toString('base64') } },
        },
      });
      return JSON.stringify({
        SignedEntryTimestamp: Buffer.from('not checked').toString('base64'),
        Payload: { body: Buffer.from(body).toString('base64'), integratedTime: 1700000000, logIndex: 1, logID: 'ab'.repeat(32) },
      });
    };
    const mine = cryptoSign('sha256', payload, alice.privateKey);
    const another = cryptoSign('sha256', payload, alice.privateKey);
    const verifyWith = async (entryOf: Buffer) => {
      const layout = await tempLayout();
      await layout.putManifest(made.root, { tags: ['v1'] });
      await appendCosignLayer(layout, d, 'sig', {
        mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
        payload,
        annotations: { 'dev.cosignproject.cosign/signature': mine.toString('base64'), 'dev.sigstore.cosign/bundle': rekorBundle(entryOf) },
      });
      return (await verifyImage(layout, d, { policy: { key: alice.publicKey } })).checked[0]!;
    };
    const own = await verifyWith(mine);
    assert.equal(own.verified, true, own.message);
    assert.deepEqual(own.notChecked, ['its Rekor entry']);
    const swapped = await verifyWith(another);
    assert.equal(swapped.verified, false);
    assert.equal(swapped.reason, 'transparency-log');
    assert.match(swapped.message!, /its Rekor entry records another signature than this one/);
  });

  describe('tampering, each rejected with its own reason', () => {
    it('a changed manifest: the signature names the old digest', async () => {
      const layout = await tempLayout();
      const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
      await signImage(layout, 'v1', { signer: new KeySigner(alice.privateKey), dockerReference: REF });
      // Someone changes the index (an annotation) and carries the signatures over to it.
      const changed = parseStored(
        new TextEncoder().encode(Buffer.from(made.root.bytes).toString().replace('"manifests"', '"annotations":{"x":"y"},"manifests"')),
      );
      await layout.putManifest(changed, { tags: ['v1'] });
      await copySignatures(layout, made.root, changed);
      const report = await verifyImage(layout, changed.digest, { policy: { key: alice.publicKey } });
      assert.equal(report.verified.length, 0);
      assert.deepEqual(
        report.checked.map((c) => c.reason),
        ['wrong-subject', 'wrong-subject'],
      );
      assert.match(report.checked[0]!.message!, new RegExp(`is for ${made.root.digest}, not for this image \\(${changed.digest}\\)`));
      assert.match(report.checked[1]!.message!, /copied from another image/);
    });

    it('a changed payload: the signature no longer verifies over it', async () => {
      const layout = await tempLayout();
      const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
      const d = made.root.digest;
      const [bundle] = await signedBundle(layout, d, alice);
      assert.ok(bundle);
      await signImage(layout, d, { signer: new KeySigner(alice.privateKey), dockerReference: REF, storages: ['cosign'] });
      // The statement gets an annotation the signer never signed; signature and key hint kept.
      const env = bundle.content.$case === 'dsseEnvelope' ? bundle.content.dsseEnvelope : undefined;
      assert.ok(env);
      const forged = {
        ...bundle,
        content: { $case: 'dsseEnvelope', dsseEnvelope: { ...env, payload: Buffer.from(cosignSignStatement(d, { approved: 'yes' })) } },
      } as Bundle;
      const other = await tempLayout();
      await other.putManifest(made.root, { tags: ['v1'] });
      await writeBundleReferrer(
        other,
        { mediaType: made.root.mediaType, digest: d, size: made.root.bytes.length },
        forged,
        'https://sigstore.dev/cosign/sign/v1',
      );
      const c = (await verifyImage(other, d, { policy: { key: alice.publicKey } })).checked[0]!;
      assert.equal(c.reason, 'signature');
      assert.match(c.message!, /does not match, although it names the given key: the signature or its payload was changed after signing/);
      // In cosign 2 storage: the payload's optional part changed, the signature kept.
      const sig = await findSignatures(layout, d);
      const layer = sig.find((f) => f.format === 'cosign-layer');
      assert.ok(layer?.format === 'cosign-layer' && layer.layer !== undefined);
      const third = await tempLayout();
      await third.putManifest(made.root, { tags: ['v1'] });
      await appendCosignLayer(third, d, 'sig', { ...layer.layer, payload: simpleSigningPayload(REF, d, { approved: 'yes' }) });
      const s = (await verifyImage(third, d, { policy: { key: alice.publicKey } })).checked[0]!;
      assert.equal(s.reason, 'signature');
      assert.match(s.message!, /another key made it, or its payload was changed/);
    });

    it('a wrong key', async () => {
      const layout = await tempLayout();
      const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
      await signImage(layout, 'v1', { signer: new KeySigner(alice.privateKey), dockerReference: REF });
      const report = await verifyImage(layout, made.root.digest, { policy: { key: bob.publicKey } });
      assert.deepEqual(
        report.checked.map((c) => c.reason),
        ['signature', 'wrong-key'],
      );
      assert.match(report.checked[0]!.message!, new RegExp(`does not verify with the given key ${escapeRe(keyId(bob.publicKey))}`));
      assert.match(
        report.checked[1]!.message!,
        new RegExp(`signed by key ${escapeRe(keyId(alice.publicKey))}, not by the given key ${escapeRe(keyId(bob.publicKey))}`),
      );
    });

    it('an attestation copied onto another image, in both storages', async () => {
      const layout = await tempLayout();
      const a = await makeImage(layout, { tag: 'a', seed: 1, platforms: [{ os: 'linux', architecture: 'amd64' }] });
      const b = await makeImage(layout, { tag: 'b', seed: 9, platforms: [{ os: 'linux', architecture: 'amd64' }] });
      const s = statement('https://slsa.dev/provenance/v1', { buildDefinition: {} }, [{ name: 'app', digest: a.root.digest }]);
      for (const storage of ['cosign', 'referrers'] as const)
        await attestImage(layout, 'a', [s], { signer: new KeySigner(alice.privateKey), storage });
      const good = await verifyImage(layout, a.root.digest, {
        policy: { key: alice.publicKey },
        kind: 'attestation',
        predicateType: 'https://slsa.dev/provenance/v1',
      });
      assert.equal(good.verified.length, 2);
      assert.equal(good.verified[0]?.statement?.predicateType, 'https://slsa.dev/provenance/v1');
      await copySignatures(layout, a.root, b.root);
      const bad = await verifyImage(layout, b.root.digest, { policy: { key: alice.publicKey }, kind: 'attestation' });
      assert.deepEqual(
        bad.checked.map((c) => c.reason),
        ['wrong-subject', 'wrong-subject'],
      );
      assert.match(
        bad.checked[0]!.message!,
        new RegExp(`attestation is about ${a.root.digest}, not this image \\(${b.root.digest}\\): it was copied from another image`),
      );
      // Statements about another image are refused when attesting, too.
      await assert.rejects(attestImage(layout, 'b', [s], { signer: new KeySigner(alice.privateKey), storage: 'cosign' }), (e: unknown) =>
        isProvenantError(e, 'USAGE'),
      );
    });

    it('nothing to verify is reported as such; failures are thrown with every reason', async () => {
      const layout = await tempLayout();
      const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
      const report = await verifyImage(layout, made.root.digest, { policy: { key: alice.publicKey } });
      assert.deepEqual(report.checked, []);
      assert.throws(
        () => assertVerified(report, 'app:v1'),
        (e: unknown) => isProvenantError(e, 'SIGNATURE') && /app:v1 has no signatures/.test(e.message),
      );
      await signImage(layout, 'v1', { signer: new KeySigner(bob.privateKey), dockerReference: REF });
      const failed = await verifyImage(layout, made.root.digest, { policy: { key: alice.publicKey } });
      assert.throws(
        () => assertVerified(failed, 'app:v1'),
        (e: unknown) =>
          isProvenantError(e, 'SIGNATURE') && /none of the 2 signatures/.test(e.message) && /wrong-key|signed by key/.test(e.hint ?? ''),
      );
      assert.doesNotThrow(() => assertVerified({ ...failed, verified: [failed.checked[0]!] }));
    });

    it('arbitrary annotations on a .sig layer give an unverified result, never an exception', async () => {
      const layout = await tempLayout();
      const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
      const root = emptyTrustedRoot();
      await fc.assert(
        fc.asyncProperty(
          fc.record({
            'dev.cosignproject.cosign/signature': fc.oneof(fc.base64String(), fc.string()),
            'dev.sigstore.cosign/certificate': fc.oneof(fc.constant(''), fc.string()),
            'dev.sigstore.cosign/bundle': fc.oneof(
              fc.string(),
              fc.jsonValue().map((v) => JSON.stringify(v)),
            ),
          }),
          fc.uint8Array({ maxLength: 64 }),
          async (annotations, junk) => {
            const store = await tempLayout();
            await store.putManifest(made.root, { tags: ['v1'] });
            const payload = junk.length % 2 === 0 ? simpleSigningPayload(REF, made.root.digest) : junk;
            await appendCosignLayer(store, made.root.digest, 'sig', {
              mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
              payload,
              annotations,
            });
            for (const policy of [{ key: alice.publicKey }, { certificateIdentity: /.*/, certificateOidcIssuer: /.*/ }]) {
              const r = await verifyImage(store, made.root.digest, { policy, trustedRoot: root });
              assert.equal(r.checked.length, 1);
              assert.equal(r.checked[0]!.verified, false);
              assert.ok(r.checked[0]!.reason, r.checked[0]!.message);
            }
          },
        ),
        { numRuns: 40 },
      );
    });

    it('one malformed artifact is reported as malformed and the others are still checked, as a bundle’s is', async () => {
      const layout = await tempLayout();
      const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
      const d = made.root.digest;
      await signImage(layout, 'v1', { signer: new KeySigner(alice.privateKey), dockerReference: REF });
      // Anyone who can push a tag: an (empty) index under the .att tag...
      const index = parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] }));
      await layout.putManifest(index, { tags: [cosignTag(d, 'att')] });
      // ...and .sig layers whose blob is missing, or too large to be a signature.
      const sig = await layout.getManifest(cosignTag(d, 'sig'));
      assert.ok(sig.kind === 'manifest');
      const absent = (text: string, size?: number): Descriptor => {
        const bytes = new TextEncoder().encode(text);
        return {
          mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
          digest: digestOf(bytes),
          size: size ?? bytes.length,
          annotations: { 'dev.cosignproject.cosign/signature': 'AAAA' },
        };
      };
      const layers = [...sig.manifest.layers, absent('never stored'), absent('not stored either', 5 * 1024 * 1024)];
      await layout.putManifest(parseStored(encodeJson({ ...sig.manifest, layers })), { tags: [cosignTag(d, 'sig')] });
      // A bundle referrer whose bundle is larger than any statement a reader takes (STATEMENT_LIMIT).
      const bundleLayer = { ...absent('a bundle never stored', 64 * 1024 * 1024 + 1), mediaType: BUNDLE, annotations: {} };
      const empty = new TextEncoder().encode('{}');
      const referrer = parseStored(
        encodeJson({
          schemaVersion: 2,
          mediaType: MediaType.OciManifest,
          artifactType: BUNDLE,
          config: { mediaType: MediaType.OciEmpty, digest: digestOf(empty), size: 2 },
          layers: [bundleLayer],
          subject: { mediaType: made.root.mediaType, digest: d, size: made.root.bytes.length },
        }),
      );
      await layout.putManifest(referrer, { tags: [] });

      const sigs = await verifyImage(layout, d, { policy: { key: alice.publicKey } });
      const rows = (r: typeof sigs) =>
        r.checked.map((c) => [c.source.replace(/sha256[:-][0-9a-f]{64}/g, 'D'), c.verified, c.reason]).sort();
      assert.deepEqual(rows(sigs), [
        ['D.sig layer 0', true, undefined],
        ['D.sig layer 1', false, 'malformed'],
        ['D.sig layer 2', false, 'malformed'],
        ['referrer D', false, 'malformed'],
        ['referrer D', true, undefined],
      ]);
      const messages = sigs.checked.filter((c) => !c.verified).map((c) => c.message);
      assert.ok(
        messages.some((m) => /the layer blob sha256:[0-9a-f]{64} is missing/.test(m!)),
        messages.join('\n'),
      );
      assert.ok(
        messages.some((m) => /a signature layer of 67108865 bytes is larger than 67108864/.test(m!)),
        messages.join('\n'),
      );
      assertVerified(sigs);
      const atts = await verifyImage(layout, d, { policy: { key: alice.publicKey }, kind: 'attestation' });
      assert.deepEqual(rows(atts), [['D.att', false, 'malformed']]);
      assert.match(atts.checked[0]!.message!, /holds an index, not cosign's signature image/);
      // inspect lists them too, with what is wrong.
      const summary = await summarizeSignatures(layout, d);
      assert.equal(summary.filter((s) => s.error !== undefined).length, 4);
    });

    /** An image signed by alice in its .sig tag, with a 5 MiB-predicate attestation of hers as a bundle referrer (read last, as large). */
    async function withLargeAttestation(): Promise<{ layout: LayoutStore; d: Digest; bundle: Descriptor }> {
      const layout = await tempLayout();
      const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
      const d = made.root.digest;
      await signImage(layout, 'v1', { signer: new KeySigner(alice.privateKey), dockerReference: REF, storages: ['cosign'] });
      const sbom = statement('https://spdx.dev/Document', { pad: 'x'.repeat(5 * 1024 * 1024) }, [{ name: 'app', digest: d }]);
      await attestImage(layout, 'v1', [sbom], { signer: new KeySigner(alice.privateKey), storage: 'referrers' });
      const [referrer] = await layout.referrers(d);
      const stored = await layout.getManifest(referrer!.digest);
      assert.ok(stored.kind === 'manifest' && stored.manifest.layers[0] !== undefined);
      return { layout, d, bundle: stored.manifest.layers[0] };
    }

    const emptyConfig = { mediaType: MediaType.OciEmpty, digest: digestOf(new TextEncoder().encode('{}')), size: 2 };

    /** `layers` in one manifest under `d`'s .att tag. */
    async function listInAtt(layout: LayoutStore, d: Digest, layers: Descriptor[]): Promise<void> {
      await layout.putManifest(
        parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: emptyConfig, layers })),
        {
          tags: [cosignTag(d, 'att')],
        },
      );
    }

    /** Each of `layers` in a referrer of `d` of its own (a manifest lists a digest under one size only). */
    async function listInReferrers(layout: LayoutStore, d: Digest, layers: Descriptor[]): Promise<void> {
      const subject = await layout.resolve(d);
      assert.ok(subject !== undefined);
      for (const l of layers) {
        const m = {
          schemaVersion: 2,
          mediaType: MediaType.OciManifest,
          artifactType: l.mediaType,
          config: emptyConfig,
          layers: [l],
          subject,
        };
        await layout.putManifest(parseStored(encodeJson(m)), { tags: [] });
      }
    }

    it('large layers pushed beside an attestation, missing, repeated or not, are read once each, smallest first, within a bound, and never keep a smaller real one from being verified', async () => {
      // A real attestation larger than a signature (a 5 MiB predicate, as an SBOM's), as a bundle
      // referrer: listed after the .att tag.
      const { layout, d } = await withLargeAttestation();
      const dsse = 'application/vnd.dsse.envelope.v1+json';
      const mib64 = 64 * 1024 * 1024;
      // Ahead of it in the .att tag: four layers that say they hold 62 MiB and are not stored, a
      // 63 MiB blob listed six times, and 20 more of 64 MiB: more than a gibibyte, served by the
      // store as it is read (none on disk).
      const missing = [0, 1, 2, 3].map((i) => ({ mediaType: dsse, digest: digestOf(`never stored ${i}`), size: mib64 - 2 * 1048576 }));
      const pushed = [
        ...junkBlobs(['junk 00'], mib64 - 1048576),
        ...junkBlobs(
          Array.from({ length: 20 }, (_, i) => `junk ${String(i + 1).padStart(2, '0')}`),
          mib64,
        ),
      ];
      const junk = pushed.map((j) => ({ mediaType: dsse, digest: j.digest, size: j.size }));
      await listInAtt(layout, d, [...missing, ...Array<Descriptor>(6).fill(junk[0]!), ...junk.slice(1)]);
      const { store, reads, served, heads } = servingJunk(layout, pushed);
      const found: { source: string; error: string | undefined }[] = [];
      for await (const f of eachSignature(store, d)) found.push({ source: f.source, error: f.error });
      // Each blob read at most once, the one listed six times too; the missing ones cost nothing.
      const counted = [...reads.values()];
      assert.ok(
        counted.every((n) => n === 1),
        JSON.stringify([...reads]),
      );
      assert.equal(reads.get(junk[0]!.digest), 1);
      // The signature where it is listed; then the large ones, smallest first: the real attestation,
      // the 63 MiB blob, and 64 MiB ones up to the bound (a gibibyte): 14 fit; the other 6 listed
      // are found, not read, and say why.
      assert.equal(found[0]!.source, `${cosignTag(d, 'sig')} layer 0`);
      assert.match(found[1]!.source, /^referrer sha256:/);
      assert.equal(found[1]!.error, undefined);
      assert.ok(served.bytes <= 16 * mib64, `${served.bytes} bytes of junk read`);
      assert.equal(junk.filter((j) => reads.has(j.digest)).length, 15);
      const notRead = found.filter((f) => /is not read: the layers over 4194304 bytes listed for this image/.test(f.error ?? ''));
      assert.equal(notRead.length, 6, found.map((f) => f.error).join('\n'));
      assert.equal(found.filter((f) => /is missing from/.test(f.error ?? '')).length, 4);
      // The store asked the size of each large blob once, not of those past the bound: the
      // attestation's bundle, the missing ones, the 63 MiB one and 14 of 64 MiB.
      assert.equal(heads.count, 20);
      const atts = await verifyImage(store, d, { policy: { key: alice.publicKey }, kind: 'attestation' });
      assert.deepEqual(
        atts.verified.map((c) => [c.source, c.predicateType]),
        [[found[1]!.source, 'https://spdx.dev/Document']],
      );
      assertVerified(await verifyImage(store, d, { policy: { key: alice.publicKey } }));
      // A store whose HEAD says every blob is missing while its GET serves it (a registry may)
      // has them read within the same bound.
      const absent = servingJunk(layout, pushed, { head: 'absent' });
      const again = await findSignatures(absent.store, d);
      assert.ok(absent.served.bytes <= 16 * mib64, `${absent.served.bytes} bytes of junk read`);
      assert.equal(again.filter((f) => /is not read: the layers over/.test(f.error ?? '')).length, 6);
      assert.equal(again[1]!.error, undefined);
    });

    it('a blob listed under a size it does not have is not read, however often: a small one listed as large, or the attestation itself under smaller sizes, keeps it from nothing', async () => {
      const { layout, d, bundle } = await withLargeAttestation();
      const dsse = 'application/vnd.dsse.envelope.v1+json';
      const mib4 = 4 * 1024 * 1024;
      const tiny = new TextEncoder().encode('x');
      const tinyDescriptor: Descriptor = { mediaType: 'application/octet-stream', digest: digestOf(tiny), size: 1 };
      await layout.putBlob(bytesSource(tinyDescriptor, tiny));
      // Ahead of it: in the .att tag, a blob of one byte listed 257 times as a DSSE layer of 4 MiB
      // and a byte; in 300 referrers (a manifest lists a digest under one size only), the
      // attestation's own bundle blob under sizes smaller than its own. Each read up to its size
      // before it failed, they came to more than a gibibyte.
      assert.ok(mib4 + 300 * 1000 < bundle.size);
      await listInAtt(layout, d, Array<Descriptor>(257).fill({ mediaType: dsse, digest: tinyDescriptor.digest, size: mib4 + 1 }));
      await listInReferrers(
        layout,
        d,
        Array.from({ length: 300 }, (_, i) => ({ mediaType: dsse, digest: bundle.digest, size: mib4 + 1 + i * 1000 })),
      );
      const atts = await verifyImage(layout, d, { policy: { key: alice.publicKey }, kind: 'attestation' });
      assert.deepEqual(
        atts.verified.map((c) => c.predicateType),
        ['https://spdx.dev/Document'],
      );
      // The store said their sizes: none of those listings read, the bundle read once, where it is listed right.
      const { store, reads } = servingJunk(layout, []);
      const found = await findSignatures(store, d);
      assert.equal(reads.get(tinyDescriptor.digest), undefined);
      assert.equal(reads.get(bundle.digest), 1);
      assert.equal(found.filter((f) => /^blob sha256:[0-9a-f]{64} has \d+ bytes, expected \d+$/.test(f.error ?? '')).length, 557);
    });

    it('where the store does not say sizes, a large listing costs what was read of it, and one that failed is not read again', async () => {
      const { layout, d } = await withLargeAttestation();
      const dsse = 'application/vnd.dsse.envelope.v1+json';
      const mib4 = 4 * 1024 * 1024;
      // 257 distinct blobs of a few bytes, each listed as 4 MiB and a byte (charged at their listed
      // sizes, more than a gibibyte; each is read whole by its digest, its few bytes), and the
      // first listed 256 times more.
      const small = Array.from({ length: 257 }, (_, i) => new TextEncoder().encode(`small ${i}`));
      const descriptors = small.map((b) => ({ mediaType: 'application/octet-stream', digest: digestOf(b), size: b.length }));
      for (const [i, b] of small.entries()) await layout.putBlob(bytesSource(descriptors[i]!, b));
      const listed = descriptors.map((x) => ({ mediaType: dsse, digest: x.digest, size: mib4 + 1 }));
      await listInAtt(layout, d, [...listed, ...Array<Descriptor>(256).fill(listed[0]!)]);
      const { store, reads } = servingJunk(layout, [], { head: 'unsized' });
      const found = await findSignatures(store, d);
      // Each read once, the one listed 257 times too, and every copy found with the same error.
      assert.ok(
        descriptors.every((x) => reads.get(x.digest) === 1),
        JSON.stringify([...reads]),
      );
      const copies = found.filter((f) => f.error?.includes(descriptors[0]!.digest) === true);
      assert.equal(copies.length, 257);
      assert.deepEqual(new Set(copies.map((f) => f.error)), new Set([`blob ${descriptors[0]!.digest} has 7 bytes, expected ${mib4 + 1}`]));
      const atts = await verifyImage(store, d, { policy: { key: alice.publicKey }, kind: 'attestation' });
      assert.deepEqual(
        atts.verified.map((c) => c.predicateType),
        ['https://spdx.dev/Document'],
      );
    });

    it('where the store does not say sizes, or refuses to be asked (a HEAD answered 405), a large blob is read once, whole, and each listing of it judged by its length', async () => {
      const { layout, d, bundle } = await withLargeAttestation();
      const mib4 = 4 * 1024 * 1024;
      // One pushed blob of 4 MiB and a byte, never listed at its own size: in 300 referrers, under
      // sizes up to 300,000 bytes larger, all smaller than the attestation's bundle. Read up to each
      // listed size, they came to a gibibyte, and the attestation was not read; a HEAD refused
      // stopped the verification.
      const blob = junkBlobs(['junk'], mib4 + 1)[0]!;
      assert.ok(mib4 + 1 + 300 * 1000 < bundle.size);
      const sizes = Array.from({ length: 300 }, (_, i) => mib4 + 1 + (i + 1) * 1000);
      await listInReferrers(
        layout,
        d,
        sizes.map((size) => ({ mediaType: 'application/vnd.dsse.envelope.v1+json', digest: blob.digest, size })),
      );
      for (const head of ['unsized', 'refused'] as const) {
        const { store, reads, served } = servingJunk(layout, [blob], { head });
        const found = await findSignatures(store, d);
        assert.equal(reads.get(blob.digest), 1, head);
        assert.equal(served.bytes, mib4 + 1, head);
        assert.deepEqual(
          found.filter((f) => f.error?.includes(blob.digest) === true).map((f) => f.error),
          sizes.map((size): string => `blob ${blob.digest} has ${mib4 + 1} bytes, expected ${size}`),
          head,
        );
        const atts = await verifyImage(store, d, { policy: { key: alice.publicKey }, kind: 'attestation' });
        assert.deepEqual(
          atts.verified.map((c) => c.predicateType),
          ['https://spdx.dev/Document'],
          head,
        );
      }
    });

    it('where the store does not say sizes, a blob read whole is stopped at what is left of the bound, and says how far it was read', async () => {
      const { layout, d } = await withLargeAttestation();
      const mib = 1024 * 1024;
      // 18 blobs of 63 MiB, each listed as 4 MiB and a byte: 16 are read whole (1008 MiB), the
      // 17th is stopped past the 16 MiB left, and the 18th is not read.
      const pushed = junkBlobs(
        Array.from({ length: 18 }, (_, i) => `junk ${String(i).padStart(2, '0')}`),
        63 * mib,
      );
      await listInReferrers(
        layout,
        d,
        pushed.map((j) => ({ mediaType: 'application/vnd.dsse.envelope.v1+json', digest: j.digest, size: 4 * mib + 1 })),
      );
      const { store, served } = servingJunk(layout, pushed, { head: 'unsized' });
      const errors = (await findSignatures(store, d)).map((f) => f.error ?? '');
      const said = new RegExp(
        '^the read of blob sha256:[0-9a-f]{64} \\(listed as 4194305 bytes, its size not said by the store\\) stopped after (\\d+) bytes: ' +
          'past the 16777216 bytes left of the 1073741824 bytes read for one image, the layers over 4194304 bytes listed for this image, ' +
          'read smallest first, having come to 1056964608 ',
      );
      const stopped = errors.map((e) => said.exec(e)).filter((m) => m !== null);
      assert.equal(stopped.length, 1, errors.join('\n'));
      const read = Number(stopped[0]![1]);
      assert.ok(read > 16 * mib && read < 63 * mib, `${read}`);
      assert.equal(served.bytes, 16 * 63 * mib + read);
      assert.equal(errors.filter((e) => /^a layer of 4194305 bytes is not read: /.test(e)).length, 1);
      assert.equal(errors.filter((e) => /^blob sha256:[0-9a-f]{64} has 66060288 bytes, expected 4194305$/.test(e)).length, 16);
    });

    it('finds one signature at a time: a blob is read when the next is asked for, not before', async () => {
      const layout = await tempLayout();
      const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
      const d = made.root.digest;
      // Two keys' signatures share one simple-signing payload: one blob, listed twice.
      for (const k of [alice, bob])
        await signImage(layout, 'v1', { signer: new KeySigner(k.privateKey), dockerReference: REF, storages: ['cosign'] });
      const statements = ['a', 'b', 'c'].map((p) => statement(`https://example.org/${p}`, {}, [{ name: 'app', digest: d }]));
      await attestImage(layout, 'v1', statements, { signer: new KeySigner(alice.privateKey), storage: 'cosign' });
      const { store, reads } = servingJunk(layout, []);
      const total = () => [...reads.values()].reduce((a, b) => a + b, 0);
      const seen: number[] = [];
      for await (const f of eachSignature(store, d)) {
        assert.ok(f.error === undefined, f.error);
        seen.push(total());
      }
      // The .sig layers' payload read for the first and kept for the second; then one .att layer each.
      assert.deepEqual(seen, [1, 1, 2, 3, 4]);
      assert.ok([...reads.values()].every((n) => n === 1));
    });

    it('signing again stops reading the signatures there once each payload has found its equal', async () => {
      const layout = await tempLayout();
      const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
      const d = made.root.digest;
      await signImage(layout, 'v1', { signer: new KeySigner(alice.privateKey), dockerReference: REF, storages: ['cosign'] });
      // Listed after the signature: five .att layers a pusher put there.
      const pushed = junkBlobs(
        [0, 1, 2, 3, 4].map((i) => `junk ${i}`),
        1024 * 1024,
      );
      const junk = pushed.map((j) => ({ mediaType: 'application/vnd.dsse.envelope.v1+json', digest: j.digest, size: j.size }));
      await listInAtt(layout, d, junk);
      const { store, reads } = servingJunk(layout, pushed);
      const again = await signImage(store, 'v1', { signer: new KeySigner(alice.privateKey), dockerReference: REF, storages: ['cosign'] });
      assert.deepEqual(
        again.map((e) => [e.added, e.location]),
        [[false, `${cosignTag(d, 'sig')} layer 0`]],
      );
      assert.deepEqual(
        junk.filter((j) => reads.has(j.digest)),
        [],
      );
      // Nothing equal to stop at: all of them read (and one signature more added).
      const other = await signImage(store, 'v1', { signer: new KeySigner(bob.privateKey), dockerReference: REF, storages: ['cosign'] });
      assert.equal(other[0]?.added, true);
      assert.equal(junk.filter((j) => reads.has(j.digest)).length, 5);
    });

    it("reads the referrers tag schema's index of a sha512 subject under the tag cut to 128 characters", async () => {
      const layout = await tempLayout();
      const subject = digestOf('an image named by sha512', 'sha512');
      // What a client without the referrers API pushes: the index under <alg>-<hex>, which for
      // sha512 (135 characters) the tag grammar cuts to 128. It lists a bundle referrer whose
      // manifest is not one, so that reading the index is what finds it.
      const notManifest = new TextEncoder().encode('{"not":"a manifest"}');
      const listed: Descriptor = {
        mediaType: MediaType.OciManifest,
        artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
        digest: digestOf(notManifest),
        size: notManifest.length,
      };
      await layout.putBlob(bytesSource(listed, notManifest));
      const tag = referrersTag(subject);
      assert.equal(tag.length, 128);
      await layout.putManifest(parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [listed] })), {
        tags: [tag],
      });
      const found = await findSignatures(layout, subject);
      assert.deepEqual(
        found.map((f) => [f.storage, f.source]),
        [['referrers', `referrer ${listed.digest}`]],
      );
      assert.match(found[0]!.error!, new RegExp(`listed by the ${tag} tag's index`));
    });

    it('a referrer that is not a manifest, or a fallback tag that is not an index, is one malformed entry; the others still verify', async () => {
      const layout = await tempLayout();
      const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
      const d = made.root.digest;
      await signImage(layout, 'v1', { signer: new KeySigner(alice.privateKey), dockerReference: REF });
      // Anyone who can push the referrers tag schema's tag: an index listing, as a manifest, a
      // blob that is not one (the image's config).
      const image = made.manifests[0]!;
      assert.ok(image.kind === 'manifest');
      const config = image.manifest.config;
      const fallbackTag = d.replace(':', '-');
      const fake = parseStored(
        encodeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [{ ...config, mediaType: MediaType.OciManifest }] }),
      );
      await layout.putManifest(fake, { tags: [fallbackTag] });
      const report = await verifyImage(layout, d, { policy: { key: alice.publicKey } });
      const rows = report.checked.map((c) => [c.storage, c.source, c.verified, c.reason]);
      assert.deepEqual(rows, [
        ['cosign', `${cosignTag(d, 'sig')} layer 0`, true, undefined],
        ['referrers', report.verified[1]!.source, true, undefined],
        ['referrers', `referrer ${config.digest}`, false, 'malformed'],
      ]);
      assert.match(
        report.checked[2]!.message!,
        new RegExp(`listed by the ${fallbackTag} tag's index, it is not a readable manifest: not a valid image manifest`),
      );
      assertVerified(report);

      // The tag itself naming bytes that are not an index (written past the parser, as a
      // registry would serve them). A layout's referrers lookup reads that manifest too, and
      // passes over it (it names no subject): the bundle referrer is still found and verified.
      const junk = new TextEncoder().encode('{"not":"an index"}');
      const bogus = {
        kind: 'index',
        mediaType: MediaType.OciIndex,
        digest: digestOf(junk),
        bytes: junk,
        index: { schemaVersion: 2, manifests: [] },
      };
      await layout.putManifest(bogus as Stored, { tags: [fallbackTag] });
      const warnings: string[] = [];
      const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m) };
      const again = await verifyImage(layout, d, { policy: { key: alice.publicKey }, logger });
      const bundleReferrer = report.verified[1]!.source;
      assert.deepEqual(
        again.checked.map((c) => [c.source, c.verified, c.reason]),
        [
          [`${cosignTag(d, 'sig')} layer 0`, true, undefined],
          [fallbackTag, false, 'malformed'],
          [bundleReferrer, true, undefined],
        ],
      );
      assert.match(again.checked[1]!.message!, new RegExp(`the referrers tag schema's index ${fallbackTag} cannot be read`));
      assert.ok(
        warnings.some((w) => w.includes(`manifest ${bogus.digest}`) && w.includes('passed over')),
        warnings.join('\n'),
      );
      assertVerified(again);

      // The bundle referrer changed in the layout, its bytes still naming the image: one
      // malformed referrer, as a registry's referrers API listing a manifest that does not
      // match its digest gives, and the .sig signature still verifies.
      const referrerDigest = bundleReferrer.replace('referrer ', '') as Digest;
      const referrerPath = join(layout.path, 'blobs', 'sha256', referrerDigest.slice('sha256:'.length));
      const referrerText = await readFile(referrerPath, 'utf8');
      await writeFile(referrerPath, referrerText.replace('"schemaVersion":2', '"schemaVersion": 2'));
      const tampered = await verifyImage(layout, d, { policy: { key: alice.publicKey } });
      assert.deepEqual(
        tampered.checked.map((c) => [c.source, c.verified, c.reason]),
        [
          [`${cosignTag(d, 'sig')} layer 0`, true, undefined],
          [fallbackTag, false, 'malformed'],
          [bundleReferrer, false, 'malformed'],
        ],
      );
      assert.match(
        tampered.checked[2]!.message!,
        /listed by the referrers lookup, it is not a readable manifest: blob sha256:[0-9a-f]+ has more than \d+ bytes, expected \d+/,
      );
      assertVerified(tampered);
    });
  });

  it('cosign attestations: DSSE layers in the .att image as cosign 2 writes them', async () => {
    const layout = await tempLayout();
    const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const s = statement('https://spdx.dev/Document', { spdxVersion: 'SPDX-2.3' }, [{ name: 'app', digest: made.root.digest }]);
    const first = await attestImage(layout, 'v1', [s], { signer: new KeySigner(alice.privateKey), storage: 'cosign' });
    const again = await attestImage(layout, 'v1', [s], { signer: new KeySigner(alice.privateKey), storage: 'cosign' });
    assert.deepEqual([first[0]?.added, again[0]?.added], [true, false]);
    const att = await layout.getManifest(cosignTag(made.root.digest, 'att'));
    assert.ok(att.kind === 'manifest');
    if (att.kind !== 'manifest') return;
    assert.equal(att.manifest.layers.length, 1);
    const layer = att.manifest.layers[0]!;
    assert.equal(layer.mediaType, 'application/vnd.dsse.envelope.v1+json');
    assert.deepEqual(layer.annotations, { 'dev.cosignproject.cosign/signature': '', predicateType: 'https://spdx.dev/Document' });
    const envelope = JSON.parse((await readAll(await layout.readBlob(layer))).toString());
    // The envelope as a transparency log would record it (sigstore-js's field order, the key's id
    // as keyid), so that cosign's check of a log entry against the layer's hash holds when there
    // is one (keyless.test.ts). cosign reads either order and passes over the keyid: its envelope
    // verifier has no key id to compare it with (pkg/cosign/verify.go verifyOCIAttestation).
    assert.deepEqual(Object.keys(envelope), ['payload', 'payloadType', 'signatures']);
    assert.deepEqual(envelope.signatures[0].keyid, keyId(alice.publicKey));
    const payload = Buffer.from(envelope.payload, 'base64');
    assert.deepEqual(payload, Buffer.from(s.bytes));
    assert.equal(parseStatement(payload).predicateType, 'https://spdx.dev/Document');
    // The DSSE signature is over the PAE, DER-encoded, with the key.
    const { verify } = await import('node:crypto');
    assert.ok(verify('sha256', pae(envelope.payloadType, payload), alice.publicKey, Buffer.from(envelope.signatures[0].sig, 'base64')));
    const report = await verifyImage(layout, made.root.digest, {
      policy: { key: alice.publicKey },
      kind: 'attestation',
      predicateType: 'https://spdx.dev/Document',
    });
    assert.equal(report.verified.length, 1);
    const none = await verifyImage(layout, made.root.digest, {
      policy: { key: alice.publicKey },
      kind: 'attestation',
      predicateType: 'https://slsa.dev/provenance/v1',
    });
    assert.equal(none.checked.length, 0);
  });

  it("cosign attestations from a library user's signer that gives no envelope bytes: the bundle's envelope", async () => {
    const layout = await tempLayout();
    const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const s = statement('https://spdx.dev/Document', { spdxVersion: 'SPDX-2.3' }, [{ name: 'app', digest: made.root.digest }]);
    const inner = new KeySigner(alice.privateKey);
    // Signed.envelope is optional: a signer of the user's own may leave it out.
    const signer = {
      publicKey: inner.publicKey,
      sign: async (content: Parameters<KeySigner['sign']>[0]) => {
        const { envelope: _envelope, ...signed } = await inner.sign(content);
        return signed;
      },
    };
    await attestImage(layout, 'v1', [s], { signer, storage: 'cosign' });
    const att = await layout.getManifest(cosignTag(made.root.digest, 'att'));
    assert.ok(att.kind === 'manifest');
    const envelope = JSON.parse((await readAll(await layout.readBlob(att.manifest.layers[0]!))).toString());
    assert.deepEqual(Buffer.from(envelope.payload, 'base64'), Buffer.from(s.bytes));
    const report = await verifyImage(layout, made.root.digest, { policy: { key: alice.publicKey }, kind: 'attestation' });
    assert.equal(report.verified.length, 1);
  });

  it('an .att envelope with several signatures verifies when any one does, as cosign; signing again agrees', async () => {
    const carol = generateSigningKeyPair();
    const layout = await tempLayout();
    const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const s = statement('https://spdx.dev/Document', { spdxVersion: 'SPDX-2.3' }, [{ name: 'app', digest: made.root.digest }]);
    const scratch = await tempLayout();
    await scratch.putManifest(made.root, { tags: ['v1'] });
    await attestImage(scratch, 'v1', [s], { signer: new KeySigner(alice.privateKey), storage: 'cosign' });
    const [found] = await findSignatures(scratch, made.root.digest);
    assert.ok(found?.format === 'cosign-layer' && found.layer !== undefined);
    // Bob's signature first, then Alice's, over the same payload.
    const env = parseEnvelope(found.layer.payload);
    const bobSig = cryptoSign('sha256', pae(env.payloadType, env.payload), bob.privateKey);
    const both = encodeEnvelope({ ...env, signatures: [{ keyid: '', sig: bobSig }, ...env.signatures] });
    await appendCosignLayer(layout, made.root.digest, 'att', { ...found.layer, payload: both });
    const check = (key: typeof alice) =>
      verifyImage(layout, made.root.digest, { policy: { key: key.publicKey }, kind: 'attestation' }).then((r) =>
        r.checked.map((c) => [c.verified, c.reason]),
      );
    assert.deepEqual(await check(alice), [[true, undefined]]);
    assert.deepEqual(await check(bob), [[true, undefined]]);
    assert.deepEqual(await check(carol), [[false, 'signature']]);
    // Signing judges an existing envelope as verification does: Alice's is there, Carol's is not.
    const again = await attestImage(layout, 'v1', [s], { signer: new KeySigner(alice.privateKey), storage: 'cosign' });
    const other = await attestImage(layout, 'v1', [s], { signer: new KeySigner(carol.privateKey), storage: 'cosign' });
    assert.deepEqual([again[0]?.added, other[0]?.added], [false, true]);
  });

  it('signers at once in one layout, each with its own store as separate processes have: every signature is kept', async () => {
    const layout = await tempLayout();
    const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const keys = [alice, bob, generateSigningKeyPair(), generateSigningKeyPair()];
    const stores = await Promise.all(keys.map(() => LayoutStore.open(layout.path)));
    const entries = await Promise.all(
      keys.map((k, i) =>
        signImage(stores[i]!, made.root.digest, { signer: new KeySigner(k.privateKey), dockerReference: REF, storages: ['cosign'] }),
      ),
    );
    assert.deepEqual(
      entries.map((e) => e.map((x) => x.added)),
      keys.map(() => [true]),
    );
    const reread = await LayoutStore.open(layout.path);
    const sig = await reread.getManifest(cosignTag(made.root.digest, 'sig'));
    assert.equal(sig.kind === 'manifest' ? sig.manifest.layers.length : 0, keys.length);
    for (const k of keys) {
      const r = await verifyImage(reread, made.root.digest, { policy: { key: k.publicKey } });
      assert.equal(r.verified.length, 1);
    }
    for (const s of [...stores, reread]) await s.close();
  });

  describe('in a real registry (distribution 2.8: no referrers API, so the referrers tag schema)', { skip: registryMissing }, () => {
    const reg = useRegistry();

    it('a signature another signer wrote over (from a read made before it) is read again and merged', async () => {
      // A registry has no conditional write, so whether two signers at once overlap is a matter of
      // timing; this makes the overlap happen every time. Right after Alice's image is written,
      // Bob writes his over it from a read made before hers (the tag not there yet).
      const client = () => new RegistryClient(reg.host, { retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 100 } });
      const made = await makeImage(new RegistryStore(client(), 'sign/race'), { tag: 'v1' });
      const tag = cosignTag(made.root.digest, 'sig');
      const sign = (store: ContentStore, key: KeyObject) =>
        signImage(store, made.root.digest, { signer: new KeySigner(key), dockerReference: `${reg.host}/sign/race`, storages: ['cosign'] });
      // Bob's reads of the tag find nothing until he has written it: the reads he made before Alice wrote.
      const stale = (store: ContentStore): ContentStore => {
        let written = false;
        return new Proxy(store, {
          get(target, name, receiver) {
            if (name === 'resolve')
              return async (ref: string, o?: OperationOptions) => (ref === tag && !written ? undefined : target.resolve(ref, o));
            if (name === 'putManifest')
              return async (stored: Stored, o?: Parameters<ContentStore['putManifest']>[1]) => {
                await target.putManifest(stored, o);
                if (o?.tags?.includes(tag) === true) written = true;
              };
            const value = Reflect.get(target, name, receiver);
            return typeof value === 'function' ? value.bind(target) : value;
          },
        });
      };
      let bobSigning: Promise<unknown> | undefined;
      const aliceStore = new Proxy(new RegistryStore(client(), 'sign/race'), {
        get(target, name, receiver) {
          if (name === 'putManifest')
            return async (stored: Stored, o?: Parameters<ContentStore['putManifest']>[1]) => {
              await target.putManifest(stored, o);
              if (o?.tags?.includes(tag) === true && bobSigning === undefined) {
                bobSigning = sign(stale(new RegistryStore(client(), 'sign/race')), bob.privateKey);
                await bobSigning;
              }
            };
          const value = Reflect.get(target, name, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      const entries = await sign(aliceStore, alice.privateKey);
      assert.ok(bobSigning !== undefined, 'Bob wrote over Alice');
      assert.deepEqual(
        entries.map((x) => x.added),
        [true],
      );
      const store = new RegistryStore(client(), 'sign/race');
      const sig = await store.getManifest(tag);
      assert.equal(sig.kind === 'manifest' ? sig.manifest.layers.length : 0, 2);
      for (const k of [alice, bob]) {
        const r = await verifyImage(store, made.root.digest, { policy: { key: k.publicKey } });
        assert.equal(r.verified.length, 1);
      }
      await store.close();
    });

    it('signs, finds and verifies through RegistryStore with the same functions as a layout', async () => {
      const store = new RegistryStore(
        new RegistryClient(reg.host, { retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 100 } }),
        'sign/app',
      );
      const made = await makeImage(store, { tag: 'v1' });
      const entries = await signImage(store, 'v1', {
        signer: new KeySigner(alice.privateKey),
        dockerReference: `${reg.host}/sign/app`,
        recursive: true,
      });
      assert.equal(entries.filter((e) => e.added).length, 6);
      const again = await signImage(store, 'v1', {
        signer: new KeySigner(alice.privateKey),
        dockerReference: `${reg.host}/sign/app`,
        recursive: true,
      });
      assert.equal(again.filter((e) => e.added).length, 0);
      const tags = await store.listTags();
      assert.ok(tags.includes(cosignTag(made.root.digest, 'sig')));
      assert.ok(tags.includes(`sha256-${made.root.digest.slice(7)}`), 'the referrers tag schema index');
      for (const m of [made.root, ...made.manifests]) {
        const report = await verifyImage(store, m.digest, { policy: { key: alice.publicKey } });
        assert.deepEqual(
          report.checked.map((c) => [c.storage, c.verified]),
          [
            ['cosign', true],
            ['referrers', true],
          ],
        );
      }
      const wrong = await verifyImage(store, made.root.digest, { policy: { key: bob.publicKey } });
      assert.equal(wrong.verified.length, 0);
      await store.close();
    });
  });
});

async function signedBundle(store: ContentStore, d: Digest, pair: ReturnType<typeof generateSigningKeyPair>): Promise<Bundle[]> {
  await signImage(store, d, { signer: new KeySigner(pair.privateKey), dockerReference: REF, storages: ['referrers'] });
  return referrerBundles(store, d);
}

/** Carries every signature and attestation of `from` over to `to`, as a careless copy would. */
async function copySignatures(store: ContentStore, from: Stored, to: Stored): Promise<void> {
  for (const f of await findSignatures(store, from.digest)) {
    if (f.format === 'cosign-layer') {
      if (f.layer !== undefined) await putCosignLayer(store, to.digest, f.layer, f.kind === 'signature' ? 'sig' : 'att');
    } else if (f.bundle !== undefined)
      await writeBundleReferrer(
        store,
        { mediaType: to.mediaType, digest: to.digest, size: to.bytes.length },
        f.bundle,
        f.predicateType ?? '',
      );
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
