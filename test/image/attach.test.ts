// attachPredicate: one statement per platform image, as OCI referrers or in BuildKit's index form.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { attachPredicate } from '../../src/image/attach.ts';
import { readStatements } from '../../src/image/attestations.ts';
import { inspectImage } from '../../src/image/inspect.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { makeImage } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('attach');
const VULN = 'https://cosign.sigstore.dev/attestation/vuln/v1';

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
});
