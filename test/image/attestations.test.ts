// Reading attestations back: cosign 3's Sigstore bundle referrers as well as in-toto and DSSE layers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { STATEMENT_LIMIT } from '../../src/attest/attachments.ts';
import { statement } from '../../src/attest/storage.ts';
import { isProvenantError } from '../../src/errors.ts';
import { attestationSummaries, imageSbom } from '../../src/image/attestations.ts';
import { inspectImage } from '../../src/image/inspect.ts';
import { looseLayerStatement, readStatements } from '../../src/image/statements.ts';
import { bytesSource } from '../../src/io/types.ts';
import { encodeJson } from '../../src/oci/content.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import { generateSigningKeyPair } from '../../src/sign/keys.ts';
import { attestImage, signImage } from '../../src/sign/sign.ts';
import { KeySigner } from '../../src/sign/signer.ts';
import { attachReferrer, makeImage } from '../helpers/images.ts';
import { useTempLayout } from '../helpers/temp.ts';

const tempLayout = useTempLayout('attestations');
const SPDX = 'https://spdx.dev/Document';
const SPDX_DOC = { spdxVersion: 'SPDX-2.3', name: 'attested', packages: [{ name: 'busybox', versionInfo: '1.36.1-r2' }] };

describe('readStatements', () => {
  it('reads the statements of cosign 3 bundle referrers', async () => {
    const store = await tempLayout();
    const made = await makeImage(store, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const digest = made.manifests[0]!.digest;
    const signer = new KeySigner(generateSigningKeyPair().privateKey);
    await attestImage(store, digest, [statement(SPDX, SPDX_DOC, [{ name: 'img', digest }])], { signer, storage: 'referrers' });
    await signImage(store, digest, { signer, storages: ['referrers'], dockerReference: 'registry.test/img' });
    const inspected = await inspectImage(store, 'v1', 'img');
    const attachments = inspected.manifests[0]!.attachments.filter((a) => a.storage === 'referrers');
    assert.equal(attachments.length, 2);
    const read = (await Promise.all(attachments.map((a) => readStatements(store, a)))).flat();
    // cosign 3 signs an image with a statement too, of its own predicate type.
    assert.deepEqual(read.map((r) => r.predicateType).sort(), ['https://sigstore.dev/cosign/sign/v1', SPDX]);
    const sbom = read.find((r) => r.predicateType === SPDX);
    assert.deepEqual(sbom?.statement.predicate, SPDX_DOC);
    assert.deepEqual(sbom?.statement.subject, [{ name: 'img', digest: { sha256: digest.slice(7) } }]);

    // `sbom` takes the attested SBOM rather than making one.
    const made2 = await imageSbom(store, 'v1', 'img', { toolVersion: '0.0.0-test' });
    assert.equal(made2.generated, false);
    assert.deepEqual(made2.document, SPDX_DOC);
  });
});

describe('a DSSE envelope in an in-toto layer', () => {
  it('is read as the statement it carries, signed when it lists a signature, as looseLayerStatement reads it', async () => {
    const store = await tempLayout();
    const made = await makeImage(store, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const subject = made.manifests[0]!;
    const body = statement(SPDX, SPDX_DOC, [{ name: 'img', digest: subject.digest }]).bytes;
    const envelope = {
      payloadType: 'application/vnd.in-toto+json',
      payload: Buffer.from(body).toString('base64'),
      signatures: [{ keyid: '', sig: 'c2ln' }],
    };
    await attachReferrer(store, subject, encodeJson(envelope));
    const inspected = await inspectImage(store, 'v1', 'img');
    const [attachment] = inspected.manifests[0]!.attachments;
    assert.ok(attachment !== undefined);
    const read = await readStatements(store, attachment);
    assert.equal(read.length, 1);
    assert.equal(read[0]!.predicateType, SPDX);
    assert.deepEqual(read[0]!.statement.predicate, SPDX_DOC);
    assert.equal(read[0]!.signed, true);
    const stored = await store.getManifest(attachment.digest);
    assert.ok(stored.kind === 'manifest');
    const loose = await looseLayerStatement(store, stored.manifest, stored.manifest.layers[0]!);
    assert.deepEqual(loose, read[0]);
    const sbom = await imageSbom(store, 'v1', 'img', { toolVersion: '0.0.0-test' });
    assert.equal(sbom.generated, false);
    assert.deepEqual(sbom.document, SPDX_DOC);
    // A plain statement in such a layer is read as it is, and carries no signature of its own.
    const plain = await tempLayout();
    const other = await makeImage(plain, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    await attachReferrer(plain, other.manifests[0]!, body);
    const [a] = (await inspectImage(plain, 'v1', 'img')).manifests[0]!.attachments;
    assert.deepEqual(await readStatements(plain, a!), [
      { predicateType: SPDX, statement: JSON.parse(Buffer.from(body).toString('utf8')), signed: false },
    ]);
  });
});

describe('statements that are not statements', () => {
  it('are the attachment’s problem: `sbom` and the summaries go on, and say which (null, a list, not JSON)', async () => {
    for (const body of ['null', '[1]', '7', '{not json']) {
      const store = await tempLayout();
      const made = await makeImage(store, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
      const subject = made.manifests[0]!;
      await attachReferrer(store, subject, new TextEncoder().encode(body), SPDX);
      const inspected = await inspectImage(store, 'v1', 'img');
      const warnings: string[] = [];
      const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m) };
      assert.deepEqual(await attestationSummaries(store, inspected, { logger }), {}, body);
      // No package database in this image: nothing else to make an SBOM from.
      await assert.rejects(imageSbom(store, 'v1', 'img', { toolVersion: '0', logger }), (e: unknown) => isProvenantError(e, 'NOT_FOUND'));
      assert.ok(warnings.length >= 2, body);
      for (const w of warnings) assert.match(w, /are not in-toto statements/, body);
    }
  });
});

describe('several statements of one kind', () => {
  it('`sbom` and the summaries take the same one, the first attached, and warn naming how many', async () => {
    const store = await tempLayout();
    const made = await makeImage(store, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const digest = made.manifests[0]!.digest;
    const signer = new KeySigner(generateSigningKeyPair().privateKey);
    const later = { ...SPDX_DOC, name: 'attested later' };
    for (const doc of [SPDX_DOC, later]) {
      await attestImage(store, digest, [statement(SPDX, doc, [{ name: 'img', digest }])], { signer, storage: 'referrers' });
    }
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m) };
    const sbom = await imageSbom(store, 'v1', 'img', { toolVersion: '0.0.0-test', logger });
    assert.deepEqual(sbom.document, SPDX_DOC);
    const inspected = await inspectImage(store, 'v1', 'img');
    const summaries = await attestationSummaries(store, inspected, { logger });
    assert.deepEqual(summaries.SBOM, { SPDX: SPDX_DOC });
    assert.equal(warnings.length, 2);
    for (const w of warnings) assert.ok(w.endsWith(inspected.manifests[0]!.attachments[0]!.digest), w);
    for (const w of warnings)
      assert.match(w, /^2 SPDX SBOM statements are attached to the linux\/amd64 image; using the first, from referrer sha256:/);
  });
});

describe('copies of one statement', () => {
  it('are one: `sbom` and the summaries take the signed copy, and warn only of statements that differ', async () => {
    const store = await tempLayout();
    const made = await makeImage(store, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const subject = made.manifests[0]!;
    const digest = subject.digest;
    const signer = new KeySigner(generateSigningKeyPair().privateKey);
    // As a signed BuildKit build stores it: unsigned first (in the index), then its signed bundle.
    const same = statement(SPDX, SPDX_DOC, [{ name: 'img', digest }]);
    await attachReferrer(store, subject, same.bytes, SPDX);
    await attestImage(store, digest, [same], { signer, storage: 'referrers' });
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m) };
    const sbom = await imageSbom(store, 'v1', 'img', { toolVersion: '0.0.0-test', logger });
    assert.deepEqual(sbom.document, SPDX_DOC);
    assert.deepEqual((await attestationSummaries(store, await inspectImage(store, 'v1', 'img'), { logger })).SBOM, { SPDX: SPDX_DOC });
    assert.deepEqual(warnings, []);

    // A different SBOM attached later: two statements, the first taken in its signed copy.
    const later = { ...SPDX_DOC, name: 'attested later' };
    await attestImage(store, digest, [statement(SPDX, later, [{ name: 'img', digest }])], { signer, storage: 'referrers' });
    const inspected = await inspectImage(store, 'v1', 'img');
    const bundle = inspected.manifests[0]!.attachments[1]!;
    assert.match(bundle.artifactType ?? '', /^application\/vnd\.dev\.sigstore\.bundle/);
    assert.deepEqual((await imageSbom(store, 'v1', 'img', { toolVersion: '0.0.0-test', logger })).document, SPDX_DOC);
    assert.deepEqual((await attestationSummaries(store, inspected, { logger })).SBOM, { SPDX: SPDX_DOC });
    assert.equal(warnings.length, 2);
    for (const w of warnings) {
      assert.equal(w, `2 SPDX SBOM statements are attached to the linux/amd64 image; using the first, from referrer ${bundle.digest}`);
    }
  });
});

describe('looseLayerStatement', () => {
  it('finds a statement in any JSON layer and unwraps a DSSE envelope wherever it is; anything else holds none', async () => {
    const store = await tempLayout();
    const digest = digestOf(new TextEncoder().encode('subject'));
    const body = statement(SPDX, SPDX_DOC, [{ name: 'img', digest }]).bytes;
    const envelope = { payloadType: 'application/vnd.in-toto+json', payload: Buffer.from(body).toString('base64'), signatures: [] };
    const text = (t: string) => new TextEncoder().encode(t);
    const cases: [mediaType: string, bytes: Uint8Array, found: boolean][] = [
      ['application/json', body, true],
      ['application/vnd.in-toto+json', encodeJson(envelope), true],
      ['application/vnd.example.statement+json', encodeJson(envelope), true],
      ['application/json', encodeJson({ mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json', dsseEnvelope: envelope }), true],
      ['application/vnd.oci.image.layer.v1.tar', body, false],
      ['application/json', encodeJson(SPDX_DOC), false],
      ['application/json', text('{not json'), false],
      ['application/vnd.in-toto+json', encodeJson({ ...envelope, payload: Buffer.from('[1]').toString('base64') }), false],
    ];
    for (const [mediaType, bytes, found] of cases) {
      const layer = { mediaType, digest: digestOf(bytes), size: bytes.byteLength };
      await store.putBlob(bytesSource(layer, bytes));
      const manifest = { schemaVersion: 2 as const, mediaType: MediaType.OciManifest, config: layer, layers: [layer] };
      const read = await looseLayerStatement(store, manifest, layer);
      const what = `${mediaType}: ${new TextDecoder().decode(bytes).slice(0, 60)}`;
      assert.equal(read !== undefined, found, what);
      if (read === undefined) continue;
      assert.equal(read.predicateType, SPDX, what);
      assert.deepEqual(read.statement.subject, [{ name: 'img', digest: { sha256: digest.slice(7) } }], what);
    }
    // A blob it cannot read stops the caller, as readStatements's does.
    const missing = { mediaType: 'application/json', digest: digestOf(text('absent')), size: 6 };
    const manifest = { schemaVersion: 2 as const, mediaType: MediaType.OciManifest, config: missing, layers: [missing] };
    await assert.rejects(looseLayerStatement(store, manifest, missing), (e: unknown) => isProvenantError(e, 'NOT_FOUND'));
    // One declared larger than STATEMENT_LIMIT is not read at all.
    const large = { ...missing, size: STATEMENT_LIMIT + 1 };
    assert.equal(await looseLayerStatement(store, { ...manifest, layers: [large] }, large), undefined);
  });
});
