import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SLSA_V1 } from '../../src/attest/provenance.ts';
import { isProvenantError } from '../../src/errors.ts';
import { copyImage } from '../../src/image/copy.ts';
import { cosignTag } from '../../src/oci/content.ts';
import type { Digest } from '../../src/oci/digest.ts';
import type { ApkKeyPair } from '../../src/pkg/apk/keys.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { renderReproduce } from '../../src/reproduce/render.ts';
import { type PlatformMismatch, reproduceImage } from '../../src/reproduce/reproduce.ts';
import { generateSigningKeyPair, keyId } from '../../src/sign/keys.ts';
import { encodeEnvelope, IN_TOTO_PAYLOAD_TYPE, parseEnvelope } from '../../src/sign/payload.ts';
import { attestImage } from '../../src/sign/sign.ts';
import { KeySigner } from '../../src/sign/signer.ts';
import { appendCosignLayer, CosignAnnotation, findSignatures } from '../../src/sign/storage.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { RegistryStore } from '../../src/store/registry.ts';
import { registryMissing, startRegistry, type TestRegistry } from '../helpers/registry.ts';
import {
  buildAndDescribe,
  packages,
  repositoryKey,
  type StaticServer,
  serveFolder,
  writeConfig,
  writeRepository,
  writeWithAttestations,
} from './helpers.ts';

describe('reproduce an apk image built and pushed to a registry, its provenance signed', { skip: registryMissing }, () => {
  let root: string;
  let served: string;
  let server: StaticServer;
  let reg: TestRegistry;
  let apkKey: ApkKeyPair;
  const cosign = generateSigningKeyPair();
  const stranger = generateSigningKeyPair();
  let platforms: { arch: string; digest: Digest; provenance: Uint8Array }[];
  const remote = (repo: string) =>
    new RegistryStore(new RegistryClient(reg.host, { retry: { attempts: 6, baseDelayMs: 10, maxDelayMs: 200 } }), repo);

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'provenant-reproduce-'));
    served = join(root, 'served');
    apkKey = repositoryKey();
    await writeRepository(served, apkKey);
    server = await serveFolder(served);
    reg = await startRegistry();
    const configPath = await writeConfig(root, apkKey, `${server.url}/repo`);
    const built = await buildAndDescribe(configPath, `${reg.host}/app/signed:v1`);
    const layout = await LayoutStore.open(join(root, 'layout'), { create: true });
    await writeWithAttestations(layout, built, 'v1');
    // Each platform's provenance signed as `provenant attest` stores it: amd64 in cosign 2's
    // .att image, arm64 as a cosign 3 bundle referrer.
    const signer = new KeySigner(cosign.privateKey);
    platforms = built.result.images.map((image, i) => {
      const provenance = built.attested[i]?.statements.find((s) => s.predicateType === SLSA_V1);
      assert.ok(provenance);
      return { arch: image.arch, digest: image.manifest.digest, provenance: provenance.bytes };
    });
    for (const [i, p] of platforms.entries()) {
      await attestImage(layout, p.digest, [{ predicateType: SLSA_V1, bytes: p.provenance }], {
        signer,
        storage: i === 0 ? 'cosign' : 'referrers',
        created: new Date(1_700_000_000_000),
      });
    }
    await copyImage(layout, 'v1', remote('app/signed'), { tags: ['v1'], withReferrers: true });
    // The same image with its provenance unsigned only.
    const unsigned = await LayoutStore.open(join(root, 'unsigned'), { create: true });
    await writeWithAttestations(unsigned, built, 'v1');
    await copyImage(unsigned, 'v1', remote('app/unsigned'), { tags: ['v1'], withReferrers: true });
    await layout.close();
    await unsigned.close();
  });
  after(async () => {
    await server?.close();
    await reg?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('rebuilds every platform from the signed provenance and reports a match, verified by the key', async () => {
    const before = server.requests.length;
    const report = await reproduceImage(remote('app/signed'), 'v1', { trust: { key: cosign.publicKey } });
    assert.equal(report.match, true, renderReproduce(report));
    assert.deepEqual(
      report.platforms.map((p) => [p.platform, p.status, p.digest]),
      platforms.map((p) => [p.arch === 'x86_64' ? 'linux/amd64' : 'linux/arm64', 'match', p.digest]),
    );
    assert.equal(report.verification.verified, true);
    assert.deepEqual(report.verification.signers, [`key ${keyId(cosign.publicKey)}`]);
    assert.deepEqual(
      report.platforms.map((p) => [p.provenance?.storage, p.provenance?.verified]),
      [
        ['cosign', true],
        ['referrers', true],
      ],
    );
    for (const p of report.platforms) assert.equal(p.status === 'match' && p.rebuilt, p.digest);
    // Every package file was fetched from the repository the provenance names (3 per platform).
    assert.equal(server.requests.slice(before).filter((r) => r.endsWith('.apk')).length, 6);
    assert.match(renderReproduce(report), /provenance: the provenance was verified: signed by key /);
    assert.match(renderReproduce(report), /reproduced: every platform \(2\) matches/);
  });

  it('without trust flags it still rebuilds, and says plainly that nothing was verified', async () => {
    const report = await reproduceImage(remote('app/unsigned'), 'v1');
    assert.equal(report.match, true, renderReproduce(report));
    assert.equal(report.verification.verified, false);
    assert.deepEqual(report.verification.signers, []);
    assert.deepEqual(
      report.platforms.map((p) => [p.provenance?.storage, p.provenance?.verified]),
      [
        ['referrers', false],
        ['referrers', false],
      ],
    );
    const text = renderReproduce(report);
    assert.match(text, /provenance: the provenance was NOT verified: no key or identity was given/);
  });

  it('stops with SIGNATURE when the provenance is verified with another key, before fetching anything', async () => {
    const before = server.requests.length;
    await assert.rejects(reproduceImage(remote('app/signed'), 'v1', { trust: { key: stranger.publicKey } }), (err: unknown) => {
      assert.ok(isProvenantError(err, 'SIGNATURE'), String(err));
      assert.match(err.message, /the provenance of linux\/amd64 does not verify/);
      // The .att envelope names its key (keyid), so the hint says which key signed it.
      assert.match(err.hint ?? '', /it was signed by key \S+, not by the given key/);
      return true;
    });
    assert.equal(server.requests.length, before, 'nothing was fetched');
  });

  it('stops with SIGNATURE when a signer is required and the provenance is stored unsigned', async () => {
    await assert.rejects(reproduceImage(remote('app/unsigned'), 'v1', { trust: { key: cosign.publicKey } }), (err: unknown) => {
      assert.ok(isProvenantError(err, 'SIGNATURE'), String(err));
      assert.match(err.message, /is not signed, and a signer was required/);
      return true;
    });
  });

  it('stops with SIGNATURE when the signed provenance was changed after signing', async () => {
    // The image alone, then its amd64 provenance signed, then the payload edited (a later
    // SOURCE_DATE_EPOCH) with the signature kept.
    const store = remote('app/tampered');
    const unsignedLayout = await LayoutStore.open(join(root, 'unsigned'));
    await copyImage(unsignedLayout, 'v1', store, { tags: ['v1'] });
    await unsignedLayout.close();
    const amd64 = platforms[0] as (typeof platforms)[number];
    const scratch = await LayoutStore.open(join(root, 'scratch'), { create: true });
    await copyImage(store, amd64.digest, scratch);
    await attestImage(scratch, amd64.digest, [{ predicateType: SLSA_V1, bytes: amd64.provenance }], {
      signer: new KeySigner(cosign.privateKey),
      storage: 'cosign',
    });
    const [found] = (await findSignatures(scratch, amd64.digest)).filter((f) => f.format === 'cosign-layer');
    assert.ok(found?.format === 'cosign-layer' && found.layer !== undefined);
    const envelope = parseEnvelope(found.layer.payload);
    const forged = new TextEncoder().encode(
      new TextDecoder().decode(envelope.payload).replace('"sourceDateEpoch":1700000000', '"sourceDateEpoch":1700000001'),
    );
    assert.notDeepEqual(forged, envelope.payload);
    await appendCosignLayer(store, amd64.digest, 'att', {
      ...found.layer,
      payload: encodeEnvelope({ payloadType: IN_TOTO_PAYLOAD_TYPE, payload: forged, signatures: envelope.signatures }),
    });
    await scratch.close();
    assert.ok(await store.resolve(cosignTag(amd64.digest, 'att')));
    assert.equal(found.layer.annotations[CosignAnnotation.PredicateType], SLSA_V1);
    await assert.rejects(reproduceImage(store, 'v1', { trust: { key: cosign.publicKey } }), (err: unknown) => {
      assert.ok(isProvenantError(err, 'SIGNATURE'), String(err));
      assert.match(err.hint ?? '', /payload was changed|does not verify/);
      return true;
    });
    // Unverified, the edited provenance is replayed and its later time shows in the files.
    const report = await reproduceImage(store, 'v1');
    const amd = report.platforms[0] as PlatformMismatch;
    assert.equal(amd.status, 'mismatch', renderReproduce(report));
    assert.ok(amd.detail?.firstFile?.fields.includes('mtime'), JSON.stringify(amd.detail?.firstFile));
    assert.ok(amd.detail?.config.some((c) => c.field === 'created'));
  });

  it('fetches from where --repository-override says the repository moved', async () => {
    const moved = join(root, 'mirror');
    await cp(served, join(moved, 'new', 'place'), { recursive: true });
    const mirror = await serveFolder(moved);
    await rename(join(served, 'repo'), join(served, 'repo.away'));
    try {
      await assert.rejects(reproduceImage(remote('app/signed'), 'v1', { trust: { key: cosign.publicKey } }), (err: unknown) => {
        assert.ok(isProvenantError(err, 'NOT_FOUND'), String(err));
        assert.match(err.hint ?? '', /--repository-override OLD=NEW/);
        return true;
      });
      const report = await reproduceImage(remote('app/signed'), 'v1', {
        trust: { key: cosign.publicKey },
        repositoryOverrides: [[`${server.url}/repo/`, `${mirror.url}/new/place/repo`]],
      });
      assert.equal(report.match, true, renderReproduce(report));
      assert.deepEqual(report.overrides, [{ from: `${server.url}/repo`, to: `${mirror.url}/new/place/repo`, used: 6 }]);
      assert.equal(mirror.requests.filter((r) => r.startsWith('/new/place/repo/') && r.endsWith('.apk')).length, 6);
    } finally {
      await rename(join(served, 'repo.away'), join(served, 'repo'));
      await mirror.close();
    }
  });

  it('names the package, its first layer and first file when the repository serves other bytes for the same version', async () => {
    const original = join(root, 'served-original');
    await cp(join(served, 'repo'), original, { recursive: true });
    // data 2.1-r3 for x86_64 built again with other content, the index signed again.
    await writeRepository(served, apkKey, (arch) => packages(arch, arch === 'x86_64' ? 'alpha\nBETA\ngamma\n' : undefined));
    try {
      const changed = await readFile(join(served, 'repo', 'x86_64', 'data-2.1-r3.apk'));
      assert.notDeepEqual(changed, await readFile(join(original, 'x86_64', 'data-2.1-r3.apk')));
      const report = await reproduceImage(remote('app/signed'), 'v1', { trust: { key: cosign.publicKey } });
      assert.equal(report.match, false);
      const [amd, arm] = report.platforms;
      assert.equal(arm?.status, 'match', 'arm64 packages did not change');
      assert.equal(amd?.status, 'mismatch', renderReproduce(report));
      const m = amd as PlatformMismatch;
      assert.deepEqual(
        m.changedPackageFiles.map((c) => [c.name, c.version, c.architecture]),
        [['data', '2.1-r3', 'x86_64']],
      );
      assert.equal(m.detail?.package?.name, 'data');
      assert.match(
        m.detail?.package?.reason ?? '',
        /its file http:\/\/127\.0\.0\.1:\d+\/repo\/x86_64\/data-2\.1-r3\.apk has SHA-256 [0-9a-f]{64}; the provenance names/,
      );
      assert.deepEqual(m.detail?.package?.files, ['/usr/share/data/values.txt']);
      // Layer 0 holds the apk database, which records data's new identity; data has a layer of
      // its own (layering by origin), where its changed file is.
      const layer = m.detail?.firstLayer;
      assert.equal(layer?.index, 0);
      assert.ok(layer.original !== undefined && layer.rebuilt !== undefined && layer.original !== layer.rebuilt);
      assert.deepEqual(m.detail?.databases, [{ path: '/usr/lib/apk/db/installed', layer: 0 }]);
      assert.deepEqual(
        { path: m.detail?.firstFile?.path, pkg: m.detail?.firstFile?.package },
        { path: '/usr/share/data/values.txt', pkg: 'data' },
      );
      assert.ok((m.detail?.firstFile?.layer ?? 0) > 0);
      assert.deepEqual(m.detail?.firstFile?.fields, ['sha256']);
      // values.txt and the database; data's layer and layer 0.
      assert.deepEqual(m.detail?.counts, { files: 2, packages: 1, layers: 2 });
      const text = renderReproduce(report);
      assert.match(text, /linux\/amd64 {2}MISMATCH/);
      assert.match(text, /first file: {2}\/usr\/share\/data\/values\.txt differs in sha256 \(layer \d, package data\)/);
      assert.match(text, /package: {5}data 2\.1-r3: its file/);
      // The rebuilt index lists the rebuilt amd64 image: the index is not the original's either.
      assert.deepEqual(report.index?.differences, [
        `entry 0 (linux/amd64, ${m.digest}) is not the image the rebuild lists there (${m.rebuilt}): its image differs from its rebuild`,
      ]);
      assert.match(text, /^index {2}MISMATCH/m);
      assert.doesNotMatch(text, /^index {2}match/m);
    } finally {
      await rm(join(served, 'repo'), { recursive: true, force: true });
      await rename(original, join(served, 'repo'));
    }
  });
});
