// attachPredicate: one statement per platform image, as OCI referrers or in BuildKit's index form.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isProvenantError } from '../../src/errors.ts';
import { attachPredicate } from '../../src/image/attach.ts';
import { inspectImage } from '../../src/image/inspect.ts';
import { readStatements } from '../../src/image/statements.ts';
import type { Stored } from '../../src/oci/content.ts';
import type { Digest } from '../../src/oci/digest.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { RegistryResponseError } from '../../src/registry/errors.ts';
import { generateSigningKeyPair } from '../../src/sign/keys.ts';
import { PartlySignedError, signImage } from '../../src/sign/sign.ts';
import { KeySigner } from '../../src/sign/signer.ts';
import { verifyImage } from '../../src/sign/verify.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { RegistryStore } from '../../src/store/registry.ts';
import type { ContentStore, PutManifestOptions } from '../../src/store/types.ts';
import { makeImage } from '../helpers/images.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('attach');
const VULN = 'https://cosign.sigstore.dev/attestation/vuln/v1';

/**
 * Signed BuildKit storage in `store`: a signing that fails (its Rekor, port 1 on 127.0.0.1,
 * refuses) leaves v1 on the signed index it named; one that works moves v1 to the new index,
 * signed.
 */
async function failedSigningKeepsTheTag(store: ContentStore): Promise<void> {
  const made = await makeImage(store, { tag: 'v1' });
  const key = generateSigningKeyPair();
  const dockerReference = 'local/image';
  await signImage(store, 'v1', { signer: new KeySigner(key.privateKey), dockerReference });
  const policy = { key: key.publicKey };
  const attach = (signer: KeySigner) =>
    attachPredicate(store, 'v1', { predicateType: VULN, predicate: {}, name: 'img', mode: 'buildkit', signer, dockerReference });
  const failing = new KeySigner(key.privateKey, { rekorURL: 'http://127.0.0.1:1', retries: 0 });
  const failed = await attach(failing).then(
    () => assert.fail('signing through a closed Rekor succeeded'),
    (err: unknown) => err,
  );
  assert.ok(isProvenantError(failed, 'NETWORK'), String(failed));
  assert.equal((await store.resolve('v1'))?.digest, made.root.digest);
  assert.match(failed.message, /v1 not moved/);
  const signedNow = async () => (await verifyImage(store, (await store.resolve('v1'))!.digest, { policy })).verified.length;
  assert.ok((await signedNow()) > 0, 'v1 still names a signed index');
  const r = await attach(new KeySigner(key.privateKey));
  assert.notEqual(r.digest, made.root.digest);
  assert.equal((await store.resolve('v1'))?.digest, r.digest);
  assert.ok((await signedNow()) > 0, 'v1 names the new index, signed');
}

describe('attachPredicate', () => {
  it('as referrers: the index stays, each platform image gets a statement naming it', async () => {
    const store = await LayoutStore.open(join(await tempDir(), 'l'), { create: true });
    const made = await makeImage(store, { tag: 'v1' });
    const r = await attachPredicate(store, 'v1', { predicateType: VULN, predicate: { scanner: 'x' }, name: 'oci:l:v1' });
    assert.equal(r.digest, made.root.digest);
    assert.deepEqual(
      r.images,
      made.manifests.map((m) => m.digest),
    );
    assert.equal((await store.resolve('v1'))?.digest, made.root.digest);
    const inspected = await inspectImage(store, 'v1', 'oci:l:v1');
    for (const m of inspected.manifests) {
      const attachment = m.attachments.find((a) => a.predicateTypes.includes(VULN));
      assert.ok(attachment, `a statement on ${m.digest}`);
      const [statement] = await readStatements(store, attachment);
      assert.deepEqual(statement?.statement.subject, [{ name: 'oci:l:v1', digest: { sha256: m.digest.slice(7) } }]);
      assert.deepEqual(statement?.statement.predicate, { scanner: 'x' });
    }
  });

  it('with image: that platform image alone, not the index; one the index does not list is NOT_FOUND, nothing written', async () => {
    const store = await LayoutStore.open(join(await tempDir(), 'l'), { create: true });
    const made = await makeImage(store, { tag: 'v1' });
    const [first, second] = made.manifests as [Stored, Stored];
    const r = await attachPredicate(store, 'v1', {
      predicateType: VULN,
      predicate: { scanner: 'x' },
      name: 'oci:l:v1',
      image: second.digest,
    });
    assert.deepEqual(r.images, [second.digest]);
    assert.equal(r.index, undefined);
    const inspected = await inspectImage(store, 'v1', 'oci:l:v1');
    const attested = (m: { attachments: { predicateTypes: string[] }[] }) => m.attachments.some((a) => a.predicateTypes.includes(VULN));
    assert.deepEqual(
      inspected.manifests.map((m) => [m.digest, attested(m)]),
      [
        [first.digest, false],
        [second.digest, true],
      ],
    );
    assert.equal(attested(inspected), false);
    const err = await attachPredicate(store, 'v1', { predicateType: VULN, predicate: {}, name: 'oci:l:v1', image: made.root.digest }).then(
      () => assert.fail('the index itself was taken for a platform image'),
      (e: unknown) => e,
    );
    assert.ok(isProvenantError(err, 'NOT_FOUND'), String(err));
    assert.equal((await inspectImage(store, 'v1', 'oci:l:v1')).manifests.filter(attested).length, 1);
  });

  it('in BuildKit form: a new index that takes over the tag', async () => {
    const store = await LayoutStore.open(join(await tempDir(), 'l'), { create: true });
    const made = await makeImage(store, { tag: 'v1' });
    const r = await attachPredicate(store, 'v1', { predicateType: VULN, predicate: {}, name: 'oci:l:v1', mode: 'buildkit' });
    assert.notEqual(r.digest, made.root.digest);
    assert.equal((await store.resolve('v1'))?.digest, r.digest);
    const inspected = await inspectImage(store, 'v1', 'oci:l:v1');
    assert.equal(inspected.manifests.length, 2);
    for (const m of inspected.manifests) assert.ok(m.attachments.some((a) => a.storage === 'buildkit' && a.predicateTypes.includes(VULN)));
  });

  it('in BuildKit form, attaching again merges into the one attestation manifest per platform, and the same again changes nothing', async () => {
    const store = await LayoutStore.open(join(await tempDir(), 'l'), { create: true });
    await makeImage(store, { tag: 'v1' });
    const SLSA = 'https://slsa.dev/provenance/v1';
    await attachPredicate(store, 'v1', { predicateType: VULN, predicate: {}, name: 'oci:l:v1', mode: 'buildkit' });
    const r = await attachPredicate(store, 'v1', { predicateType: SLSA, predicate: {}, name: 'oci:l:v1', mode: 'buildkit' });
    const again = await attachPredicate(store, 'v1', { predicateType: SLSA, predicate: {}, name: 'oci:l:v1', mode: 'buildkit' });
    assert.equal(again.digest, r.digest);
    assert.equal((await store.resolve('v1'))?.digest, r.digest);
    const root = await store.getManifest('v1');
    const entries = root.kind === 'index' ? root.index.manifests.filter((m) => m.platform?.os === 'unknown') : [];
    assert.equal(entries.length, 2, 'one attestation entry per platform');
    const inspected = await inspectImage(store, 'v1', 'oci:l:v1');
    for (const m of inspected.manifests) {
      const found = m.attachments.filter((a) => a.storage === 'buildkit');
      assert.equal(found.length, 1);
      assert.deepEqual(found[0]?.predicateTypes, [VULN, SLSA]);
    }
  });

  it('in BuildKit form, fails with TAG_CONFLICT naming the tag when another writer keeps the statements out of it', async () => {
    const store = await LayoutStore.open(join(await tempDir(), 'l'), { create: true });
    const made = await makeImage(store, { tag: 'v1' });
    const other = await makeImage(store, { seed: 7, tag: 'other' });
    // After each move of v1, another writer puts back what it named before (or another image).
    const overwriting = (by: typeof made.root): ContentStore =>
      new Proxy(store, {
        get(target, prop) {
          if (prop === 'putManifest') {
            return async (...args: Parameters<ContentStore['putManifest']>) => {
              await target.putManifest(...args);
              if (args[1]?.tags?.includes('v1')) await target.putManifest(by, { tags: ['v1'] });
            };
          }
          const value: unknown = Reflect.get(target, prop, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    const attach = (s: ContentStore) =>
      attachPredicate(s, 'v1', { predicateType: VULN, predicate: {}, name: 'oci:l:v1', mode: 'buildkit' });
    await assert.rejects(attach(overwriting(made.root)), (err: unknown) => isProvenantError(err, 'TAG_CONFLICT') && /v1/.test(err.message));
    await store.putManifest(made.root, { tags: ['v1'] });
    await assert.rejects(
      attach(overwriting(other.root)),
      (err: unknown) => isProvenantError(err, 'TAG_CONFLICT') && /v1 was moved/.test(err.message),
    );
  });

  it('in BuildKit form, signed: a failed signing leaves the tag on the index it named', async () => {
    await failedSigningKeepsTheTag(await LayoutStore.open(join(await tempDir(), 'l'), { create: true }));
  });

  describe('through the real registry (distribution 2.8)', { skip: registryMissing }, () => {
    const reg = useRegistry();
    const remote = () =>
      new RegistryStore(new RegistryClient(reg.host, { retry: { attempts: 4, baseDelayMs: 10, maxDelayMs: 100 } }), 'attach/parallel');

    it('in BuildKit form, signed: a failed signing leaves the tag on the index it named', async () => {
      await failedSigningKeepsTheTag(new RegistryStore(new RegistryClient(reg.host), 'attach/signfail'));
    });

    it('in BuildKit form, attaches running together each end with their statements in the index the tag names', async () => {
      await makeImage(remote(), { tag: 'v1' });
      const types = ['https://example.com/t1', 'https://example.com/t2', 'https://example.com/t3'];
      // Each its own store, as separate processes would be: each reads the index, then moves the tag.
      const results = await Promise.all(
        types.map((predicateType) => attachPredicate(remote(), 'v1', { predicateType, predicate: {}, name: 'img', mode: 'buildkit' })),
      );
      const final = await remote().getManifest('v1');
      assert.ok(results.some((r) => r.digest === final.digest));
      const inspected = await inspectImage(remote(), 'v1', 'img');
      assert.equal(inspected.manifests.length, 2);
      for (const m of inspected.manifests) {
        const found = m.attachments.filter((a) => a.storage === 'buildkit');
        assert.equal(found.length, 1, `one attestation manifest for ${m.digest}`);
        assert.deepEqual([...(found[0]?.predicateTypes ?? [])].sort(), types);
      }
    });
  });
});

/**
 * `store`, refusing as ECR does (a 405, aws/containers-roadmap#2783) a referrer whose subject is
 * `index`: what a registry gives that the test registry, which takes it, cannot.
 */
function refusingReferrersOf(store: ContentStore, index: Digest): ContentStore {
  return new Proxy(store, {
    get(target, property) {
      if (property === 'putManifest') {
        return async (stored: Stored, options?: PutManifestOptions) => {
          const subject = (stored.kind === 'manifest' ? stored.manifest : stored.index).subject;
          if (subject?.digest === index) {
            const message = `registry.invalid refused put manifest ${stored.digest}: HTTP 405 Method Not Allowed`;
            throw new RegistryResponseError('REGISTRY', message, { where: 'registry.invalid/img' }, 405, []);
          }
          return target.putManifest(stored, options);
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('attachPredicate where a registry refuses a referrer of an index (ECR)', () => {
  for (const signed of [true, false]) {
    it(`${signed ? 'signed' : 'unsigned'}: the platform images get theirs first, kept, and the refusal of the index's says so with a hint`, async () => {
      const layout = await LayoutStore.open(join(await tempDir(), 'l'), { create: true });
      const made = await makeImage(layout, { tag: 'v1' });
      const store = refusingReferrersOf(layout, made.root.digest);
      const key = generateSigningKeyPair();
      const err = await attachPredicate(store, 'v1', {
        predicateType: VULN,
        predicate: { scanner: 'x' },
        name: 'img',
        ...(signed ? { signer: new KeySigner(key.privateKey) } : {}),
      }).then(
        () => assert.fail('the index referrer was refused, and attach succeeded'),
        (e: unknown) => e,
      );
      assert.ok(isProvenantError(err, 'REGISTRY'), String(err));
      assert.equal(err instanceof PartlySignedError, signed);
      assert.match(
        err.message,
        new RegExp(`^the registry refused the referrer of the index ${made.root.digest} \\(registry\\.invalid refused`),
      );
      assert.match(
        err.message,
        signed ? /before it, written and kept: the \S+ attestation of sha256:/ : /2 platform image\(s\), as referrers/,
      );
      assert.match(err.hint ?? '', /--attestations cosign/);
      assert.match(err.hint ?? '', /provenant fix --target amazon-ecr/);
      for (const m of made.manifests) {
        if (signed) {
          const report = await verifyImage(layout, m.digest, { policy: { key: key.publicKey }, kind: 'attestation', predicateType: VULN });
          assert.equal(report.verified.length, 1, m.digest);
        } else {
          const inspected = await inspectImage(layout, m.digest, 'img');
          assert.ok(
            inspected.manifests[0]?.attachments.some((a) => a.predicateTypes.includes(VULN)),
            m.digest,
          );
        }
      }
    });
  }
});

describe('attachPredicate --replace in cosign storage', () => {
  it("reads each .att layer's statement once, however many images it attests", async () => {
    const layout = await LayoutStore.open(join(await tempDir(), 'l'), { create: true });
    const made = await makeImage(layout, { tag: 'v1' });
    const signer = new KeySigner(generateSigningKeyPair().privateKey);
    const attach = (store: ContentStore, predicateType: string, predicate: unknown) =>
      attachPredicate(store, 'v1', { predicateType, predicate, name: 'img', mode: 'cosign', signer, replace: true });
    // Two of the type and one of another on the index and on each platform image.
    for (const [type, predicate] of [
      [VULN, { scanner: 'a' }],
      [VULN, { scanner: 'b' }],
      ['https://example.org/other/v1', { x: 1 }],
    ] as const) {
      await attachPredicate(layout, 'v1', { predicateType: type, predicate, name: 'img', mode: 'cosign', signer });
    }
    // The store as attach sees it, counting the reads of each blob (the .att layers among them).
    const reads = new Map<string, number>();
    const counted = new Proxy(layout, {
      get(target, key, receiver) {
        if (key === 'readBlob') {
          return (d: { digest: string }, options?: object) => {
            reads.set(d.digest, (reads.get(d.digest) ?? 0) + 1);
            return target.readBlob(d as never, options as never);
          };
        }
        const value = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as ContentStore;
    const r = await attach(counted, VULN, { scanner: 'c' });
    assert.equal(
      (r.signed ?? []).reduce((n, e) => n + (e.replaced ?? 0), 0),
      2 * (made.manifests.length + 1),
    );
    const twice = [...reads].filter(([, n]) => n > 1);
    assert.deepEqual(twice, [], 'no blob read twice');
    await layout.close();
  });
});
