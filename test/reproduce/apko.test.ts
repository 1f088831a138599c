// reproduce of apko-built images: apko's golden image from its image-configuration attestation or /etc/apko.json.
import assert from 'node:assert/strict';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { readTar, tarBytes } from '../../src/archive/tar.ts';
import { statement, storeAttestations } from '../../src/attest/storage.ts';
import { buildImage, writeBuild } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import { describeBuild } from '../../src/builder/describe.ts';
import { isProvenantError } from '../../src/errors.ts';
import { inspectImage } from '../../src/image/inspect.ts';
import { bytesSource } from '../../src/io/types.ts';
import { encodeJson, parseStored, type Stored } from '../../src/oci/content.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import type { ImageManifest } from '../../src/oci/types.ts';
import { APKO_CONFIGURATION, readApkoConfiguration, unverifiedApkoConfiguration } from '../../src/reproduce/apko.ts';
import { renderReproduce } from '../../src/reproduce/render.ts';
import { reproduceImage } from '../../src/reproduce/reproduce.ts';
import { generateSigningKeyPair } from '../../src/sign/keys.ts';
import { attestImage } from '../../src/sign/sign.ts';
import { KeySigner } from '../../src/sign/signer.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { apkoGoldenConfig, apkoGoldenLayout, copyApkoRepository } from '../helpers/apk.ts';
import { fixturesMissing, readFixture } from '../helpers/fixtures.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('reproduce-apko');
/** A rebuild from apko's test repository, copied to `dir`: relative to it, and files of this machine. */
const local = (dir: string) => ({ baseDir: dir, allowLocalFiles: true });

/** A file of apko's golden layer of one architecture. */
async function goldenFile(arch: 'amd64' | 'arm64', path: string): Promise<Uint8Array> {
  for await (const e of readTar([gunzipSync(await readFixture('apk', `apkotest-golden-${arch}-layer.tar.gz`))])) {
    const parts: Uint8Array[] = [];
    for await (const c of e.body) parts.push(c);
    if (e.header.name === path) return Buffer.concat(parts);
  }
  throw new Error(`no ${path}`);
}

/** Attaches each platform's apko configuration (its /etc/apko.json) as an image-configuration attestation, as Chainguard does. */
async function attachConfigurations(
  store: LayoutStore,
  index: Stored,
  edit: (predicate: Record<string, unknown>) => Record<string, unknown> = (p) => p,
): Promise<void> {
  assert.ok(index.kind === 'index');
  const attested = [];
  for (const d of index.index.manifests) {
    const arch = d.platform?.architecture === 'arm64' ? 'arm64' : 'amd64';
    const predicate = edit(JSON.parse(Buffer.from(await goldenFile(arch, 'etc/apko.json')).toString()));
    attested.push({
      manifest: await store.getManifest(d.digest),
      statements: [statement(APKO_CONFIGURATION, predicate, [{ name: 'golden', digest: d.digest }])],
    });
  }
  await storeAttestations(store, index, attested, 'referrers');
}

/**
 * A copy of apko's golden image whose amd64 layer has one file changed: a new layer, manifest and
 * index, tagged `changed`, and a new config with the layer's diff_id; or, with `keepConfig`, the
 * original config, which no longer describes the layer (tagged `tampered`).
 */
async function changedCopy(store: LayoutStore, options: { keepConfig?: boolean } = {}): Promise<Stored> {
  const index = await store.getManifest('latest');
  assert.ok(index.kind === 'index');
  const manifests = [];
  for (const d of index.index.manifests) {
    if (d.platform?.architecture !== 'amd64') {
      manifests.push(d);
      continue;
    }
    const manifest = await store.getManifest(d.digest);
    assert.ok(manifest.kind === 'manifest');
    const entries = [];
    for await (const e of readTar([gunzipSync(await readFixture('apk', 'apkotest-golden-amd64-layer.tar.gz'))])) {
      const parts: Uint8Array[] = [];
      for await (const c of e.body) parts.push(c);
      const body = e.header.name === 'etc/os-release' ? new TextEncoder().encode('ID=tampered\n') : new Uint8Array(Buffer.concat(parts));
      entries.push({ header: { ...e.header, size: e.header.type === 'file' ? body.length : 0 }, body });
    }
    const tar = await tarBytes(entries, { format: 'go' });
    const layer = gzipSync(tar);
    const layerDescriptor = { mediaType: MediaType.OciLayerGzip, digest: digestOf(layer), size: layer.length };
    await store.putBlob(bytesSource(layerDescriptor, layer));
    let configDescriptor = manifest.manifest.config;
    if (options.keepConfig !== true) {
      const config = JSON.parse(Buffer.from(await readFixture('apk', 'apkotest-golden-amd64-config.json')).toString());
      config.rootfs.diff_ids = [digestOf(tar)];
      const configBytes = encodeJson(config);
      configDescriptor = { mediaType: MediaType.OciConfig, digest: digestOf(configBytes), size: configBytes.length };
      await store.putBlob(bytesSource(configDescriptor, configBytes));
    }
    const changed = parseStored(encodeJson({ ...manifest.manifest, config: configDescriptor, layers: [layerDescriptor] }), {
      mediaType: MediaType.OciManifest,
    });
    await store.putManifest(changed);
    manifests.push({ ...d, digest: changed.digest, size: changed.bytes.length });
  }
  const copy = parseStored(encodeJson({ ...index.index, manifests }), { mediaType: MediaType.OciIndex });
  await store.putManifest(copy, { tags: [options.keepConfig === true ? 'tampered' : 'changed'] });
  return copy;
}

/** A copy of apko's golden image whose amd64 manifest `edit` changed (its blobs kept), tagged `edited`. */
async function editedCopy(store: LayoutStore, edit: (m: ImageManifest) => ImageManifest): Promise<Stored> {
  const index = await store.getManifest('latest');
  assert.ok(index.kind === 'index');
  const manifests = [];
  for (const d of index.index.manifests) {
    const manifest = await store.getManifest(d.digest);
    assert.ok(manifest.kind === 'manifest');
    if (d.platform?.architecture !== 'amd64') {
      manifests.push(d);
      continue;
    }
    const edited = parseStored(encodeJson(edit(manifest.manifest)), { mediaType: MediaType.OciManifest });
    await store.putManifest(edited);
    manifests.push({ ...d, digest: edited.digest, size: edited.bytes.length });
  }
  const copy = parseStored(encodeJson({ ...index.index, manifests }), { mediaType: MediaType.OciIndex });
  await store.putManifest(copy, { tags: ['edited'] });
  return copy;
}

describe('reproduce an apko-built image', { skip: fixturesMissing }, () => {
  it("reproduces apko's golden image from its image-configuration attestation: same content, other compression", async () => {
    const dir = await tempDir();
    await copyApkoRepository(dir);
    const store = await apkoGoldenLayout(join(dir, 'golden'));
    try {
      await attachConfigurations(store, await store.getManifest('latest'));
      const report = await reproduceImage(store, 'latest', { ...local(dir), cacheDir: join(dir, 'cache') });
      assert.equal(report.match, true, renderReproduce(report));
      for (const p of report.platforms) {
        assert.ok(p.status === 'match');
        assert.equal(p.compression, 'other');
        assert.equal(p.provenance?.predicateType, APKO_CONFIGURATION);
        assert.equal(p.provenance?.storage, 'referrers');
      }
      const text = renderReproduce(report);
      assert.match(text, /same content, other compression/);
      assert.match(text, /reproduced: every platform \(2\) matches/);
    } finally {
      await store.close();
    }
  });

  it('refuses the repositories of this machine a signed configuration names without leave, saying it was verified', async () => {
    const dir = await tempDir();
    await copyApkoRepository(dir);
    const store = await apkoGoldenLayout(join(dir, 'golden'));
    const cosign = generateSigningKeyPair();
    try {
      const index = await store.getManifest('latest');
      assert.ok(index.kind === 'index');
      for (const d of index.index.manifests) {
        const arch = d.platform?.architecture === 'arm64' ? 'arm64' : 'amd64';
        const predicate = JSON.parse(Buffer.from(await goldenFile(arch, 'etc/apko.json')).toString());
        await attestImage(store, d.digest, [statement(APKO_CONFIGURATION, predicate, [{ name: 'golden', digest: d.digest }])], {
          signer: new KeySigner(cosign.privateKey),
          storage: 'cosign',
        });
      }
      await assert.rejects(reproduceImage(store, 'latest', { baseDir: dir, trust: { key: cosign.publicKey } }), (err: unknown) => {
        assert.ok(isProvenantError(err, 'USAGE'), String(err));
        assert.match(
          err.message,
          /: the configuration is verified, but its paths name files of the machine that built the image, which here may be any file, so they are read only when allowed$/,
        );
        return true;
      });
    } finally {
      await store.close();
    }
  });

  it('says, with a key, that the unsigned /etc/apko.json and an unverified configuration attestation were not used, and what would be', async () => {
    const dir = await tempDir();
    await copyApkoRepository(dir);
    const store = await apkoGoldenLayout(join(dir, 'golden'));
    const key = generateSigningKeyPair().publicKey;
    try {
      const alone = await reproduceImage(store, 'latest', { baseDir: dir, trust: { key } });
      assert.equal(alone.match, false);
      for (const p of alone.platforms) {
        assert.ok(p.status === 'not-replayable', renderReproduce(alone));
        assert.match(
          p.reason,
          /^no SLSA provenance is attached to this platform image .*; its \/etc\/apko\.json was not used, as it is not signed/,
        );
        assert.match(
          p.missing.at(-1) ?? '',
          /^or an https:\/\/apko\.dev\/image-configuration attestation about this platform manifest or its index, signed by the key or identity given/,
        );
      }
      assert.match(renderReproduce(alone), /\/etc\/apko\.json was not used, as it is not signed/);
      // An attestation attached without a signature is not taken either, and is named.
      await attachConfigurations(store, await store.getManifest('latest'));
      const attached = await reproduceImage(store, 'latest', { baseDir: dir, trust: { key } });
      for (const p of attached.platforms) {
        assert.ok(p.status === 'not-replayable', renderReproduce(attached));
        assert.match(
          p.reason,
          /; its apko configuration attestation \(referrers image-configuration attestation sha256:[0-9a-f]{64}\) has no signature that verifies with the key or identity given; its \/etc\/apko\.json was not used/,
        );
      }
    } finally {
      await store.close();
    }
  });

  it('says so, with a key, without reading the layers: an image whose layer blobs are absent is still not replayable, not an error', async () => {
    const dir = await tempDir();
    const golden = join(dir, 'golden');
    const built = await apkoGoldenLayout(golden);
    const index = await built.getManifest('latest');
    assert.ok(index.kind === 'index');
    for (const d of index.index.manifests) {
      const m = await built.getManifest(d.digest);
      assert.ok(m.kind === 'manifest');
      for (const l of m.manifest.layers) await rm(join(golden, 'blobs', 'sha256', l.digest.slice('sha256:'.length)));
    }
    await built.close();
    const store = await LayoutStore.open(golden);
    try {
      const report = await reproduceImage(store, 'latest', { baseDir: dir, trust: { key: generateSigningKeyPair().publicKey } });
      for (const p of report.platforms) {
        assert.ok(p.status === 'not-replayable', renderReproduce(report));
        // Told from the image config, which says apko built it (apko writes /etc/apko.json into every image).
        assert.match(p.reason, /; its \/etc\/apko\.json was not used, as it is not signed/);
      }
    } finally {
      await store.close();
    }
  });

  it('says, with a key, what it can of an attestation that does not read: the note is never an error', async () => {
    const dir = await tempDir();
    const golden = join(dir, 'golden');
    const store = await apkoGoldenLayout(golden);
    try {
      const before = new Set(await readdir(join(golden, 'blobs', 'sha256')));
      await attachConfigurations(store, await store.getManifest('latest'));
      const inspected = await inspectImage(store, 'latest', 'golden');
      // The statements' blobs gone after the image was read: what the note would name cannot be read.
      for (const f of await readdir(join(golden, 'blobs', 'sha256'))) {
        const path = join(golden, 'blobs', 'sha256', f);
        if (!before.has(f) && (await readFile(path, 'utf8')).includes('"predicate"')) await rm(path);
      }
      for (const m of inspected.manifests) {
        const note = await unverifiedApkoConfiguration(store, inspected, m, { trust: { key: generateSigningKeyPair().publicKey } });
        assert.doesNotMatch(note?.reason ?? '', /apko configuration attestation/);
        assert.match(note?.reason ?? '', /^its \/etc\/apko\.json was not used, as it is not signed/);
      }
    } finally {
      await store.close();
    }
  });

  it('reproduces it from the /etc/apko.json it carries when nothing is attached', async () => {
    const dir = await tempDir();
    await copyApkoRepository(dir);
    const store = await apkoGoldenLayout(join(dir, 'golden'));
    try {
      // The configuration is the image's own, and names apko's local test repository: read only when allowed.
      await assert.rejects(reproduceImage(store, 'latest', { baseDir: dir }), (err: unknown) => {
        assert.ok(isProvenantError(err, 'USAGE'), String(err));
        assert.match(
          err.message,
          /^the apko configuration of linux\/amd64 names repositories or keys on this machine \(\.\/testdata\/packages, \.\/testdata\/melange\.rsa\.pub\)/,
        );
        assert.equal(err.where, '/etc/apko.json');
        return true;
      });
      const sources: unknown[] = [];
      const report = await reproduceImage(store, 'latest', {
        ...local(dir),
        onProgress: (u) => {
          if (u.phase === 'sources') sources.push([u.hosts, u.localFiles]);
        },
      });
      assert.deepEqual(sources, [
        [[], 2],
        [[], 2],
      ]);
      assert.equal(report.match, true, renderReproduce(report));
      assert.deepEqual(
        report.platforms.map((p) => [p.status, p.provenance?.storage, p.provenance?.source]),
        [
          ['match', 'image', '/etc/apko.json'],
          ['match', 'image', '/etc/apko.json'],
        ],
      );
    } finally {
      await store.close();
    }
  });

  it('reports a copy with one file changed as not reproduced, naming the file', async () => {
    const dir = await tempDir();
    await copyApkoRepository(dir);
    const store = await apkoGoldenLayout(join(dir, 'golden'));
    try {
      await attachConfigurations(store, await changedCopy(store));
      const report = await reproduceImage(store, 'changed', local(dir));
      assert.equal(report.match, false);
      const [amd64, arm64] = report.platforms;
      assert.equal(arm64?.status, 'match');
      assert.ok(amd64?.status === 'mismatch', renderReproduce(report));
      assert.equal(amd64.detail?.firstFile?.path.replace(/^\//, ''), 'etc/os-release');
      assert.match(renderReproduce(report), /first file: {2}\/?etc\/os-release differs/);
    } finally {
      await store.close();
    }
  });

  it('does not call a layer changed under the original config the same content: a mismatch naming the layer', async () => {
    const dir = await tempDir();
    await copyApkoRepository(dir);
    const store = await apkoGoldenLayout(join(dir, 'golden'));
    try {
      await attachConfigurations(store, await changedCopy(store, { keepConfig: true }));
      const report = await reproduceImage(store, 'tampered', local(dir));
      assert.equal(report.match, false, renderReproduce(report));
      const [amd64, arm64] = report.platforms;
      assert.equal(arm64?.status, 'match');
      assert.ok(amd64?.status === 'mismatch', renderReproduce(report));
      assert.match(amd64.error ?? '', /its layer 0 \(sha256:[0-9a-f]{64}\) decompresses to sha256:[0-9a-f]{64}, not the diff_id/);
      const amd64Text = renderReproduce(report).split('linux/arm64')[0] ?? '';
      assert.match(amd64Text, /linux\/amd64 {2}MISMATCH/);
      assert.doesNotMatch(amd64Text, /same content/);
    } finally {
      await store.close();
    }
  });

  it("does not call a manifest edited after the build the same content: annotations, a layer's media type and urls", async () => {
    const dir = await tempDir();
    await copyApkoRepository(dir);
    const store = await apkoGoldenLayout(join(dir, 'golden'));
    const edits: [string, (m: ImageManifest) => ImageManifest, RegExp[]][] = [
      [
        'annotations',
        (m) => ({
          ...m,
          annotations: {
            ...m.annotations,
            'org.opencontainers.image.vendor': 'Someone else',
            'org.opencontainers.image.source': 'https://example.org/x',
          },
        }),
        [
          /annotation org\.opencontainers\.image\.source: "https:\/\/example\.org\/x" in the original, absent rebuilt/,
          /annotation org\.opencontainers\.image\.vendor: "Someone else" in the original, "Vendor" rebuilt/,
        ],
      ],
      [
        'a layer',
        (m) => ({
          ...m,
          layers: m.layers.map((l) => ({
            ...l,
            mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd',
            urls: ['https://example.org/layer'],
          })),
        }),
        [
          /layer 0 mediaType: "application\/vnd\.oci\.image\.layer\.v1\.tar\+zstd" in the original, "application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip" rebuilt/,
          /layer 0 urls: \["https:\/\/example\.org\/layer"\] in the original, absent rebuilt/,
        ],
      ],
    ];
    try {
      for (const [what, edit, expected] of edits) {
        await attachConfigurations(store, await editedCopy(store, edit));
        const report = await reproduceImage(store, 'edited', { ...local(dir), cacheDir: join(dir, 'cache') });
        assert.equal(report.match, false, `${what}: ${renderReproduce(report)}`);
        const [amd64, arm64] = report.platforms;
        assert.equal(arm64?.status, 'match');
        assert.ok(amd64?.status === 'mismatch', renderReproduce(report));
        assert.match(amd64.error ?? '', /^the original has the rebuild's config and layers \(diff_ids\), but not its manifest: /);
        for (const e of expected) assert.match(amd64.error ?? '', e);
        const amd64Text = renderReproduce(report).split('linux/arm64')[0] ?? '';
        assert.match(amd64Text, /linux\/amd64 {2}MISMATCH/);
        assert.doesNotMatch(amd64Text, /same content/);
      }
    } finally {
      await store.close();
    }
  });

  it("rebuilds each platform's own architecture from a configuration that names no archs", async () => {
    const dir = await tempDir();
    await copyApkoRepository(dir);
    const store = await apkoGoldenLayout(join(dir, 'golden'));
    try {
      // Read with no archs, the configuration is the host's: the platform, not the host, decides.
      await attachConfigurations(store, await store.getManifest('latest'), ({ archs: _, ...rest }) => rest);
      const report = await reproduceImage(store, 'latest', { ...local(dir), cacheDir: join(dir, 'cache') });
      assert.equal(report.match, true, renderReproduce(report));
      assert.deepEqual(
        report.platforms.map((p) => [p.platform, p.status]),
        [
          ['linux/amd64', 'match'],
          ['linux/arm64', 'match'],
        ],
      );
    } finally {
      await store.close();
    }
  });

  it('does not rebuild a platform from a configuration whose archs do not include it: not replayable, saying so', async () => {
    const dir = await tempDir();
    await copyApkoRepository(dir);
    const store = await apkoGoldenLayout(join(dir, 'golden'));
    try {
      await attachConfigurations(store, await store.getManifest('latest'), (p) => ({ ...p, archs: ['x86_64'] }));
      const report = await reproduceImage(store, 'latest', { ...local(dir), cacheDir: join(dir, 'cache') });
      assert.equal(report.match, false, renderReproduce(report));
      const [amd64, arm64] = report.platforms;
      assert.equal(amd64?.status, 'match');
      assert.ok(arm64?.status === 'not-replayable', renderReproduce(report));
      assert.match(
        arm64.reason,
        /^image-configuration attestation sha256:[0-9a-f]{64} names the archs x86_64, not linux\/arm64's: it is not the configuration this platform was built from$/,
      );
      assert.deepEqual(arm64.missing, ["a configuration whose archs include linux/arm64's"]);
    } finally {
      await store.close();
    }
  });

  it('reproduces a Provenant build made with --compat apko from its SLSA provenance, byte for byte', async () => {
    const dir = await tempDir();
    const configPath = await apkoGoldenConfig(dir);
    const result = await buildImage({ config: await loadConfig(configPath, { hostArch: 'x86_64' }), configPath, compat: 'apko' });
    const options = { imageName: 'golden', configPath, toolVersion: 'test', builderId: 'https://example.test/builder', fromLock: false };
    const store = await LayoutStore.open(join(dir, 'built'), { create: true });
    try {
      await writeBuild(result, store, ['latest'], { attestations: { attested: describeBuild(result, options), mode: 'referrers' } });
      // Built from apko's local test repository: the provenance names files of this machine.
      const report = await reproduceImage(store, 'latest', { baseDir: dir, allowLocalFiles: true });
      assert.equal(report.match, true, renderReproduce(report));
      for (const p of report.platforms) {
        assert.ok(p.status === 'match');
        assert.equal(p.rebuilt, p.digest);
        assert.equal(p.provenance?.predicateType, 'https://slsa.dev/provenance/v1');
      }
    } finally {
      await store.close();
    }
  });

  it('reproduces a build whose configuration names one account twice: the same, or differently by an earlier Provenant', async () => {
    const dir = await tempDir();
    const configPath = await apkoGoldenConfig(dir);
    const golden = await readFile(configPath, 'utf8');
    const user = (uid: number) => `    - {username: app, uid: ${uid}, gid: 1000}\n`;
    const options = { imageName: 'golden', configPath, toolVersion: 'test', builderId: 'https://example.test/builder', fromLock: false };
    const store = await LayoutStore.open(join(dir, 'built'), { create: true });
    try {
      // The same account twice (in an include and its file, say): built now, both lines written, as apko writes them.
      await writeFile(configPath, `${golden}accounts:\n  users:\n${user(1000)}${user(1000)}`);
      const same = await buildImage({ config: await loadConfig(configPath, { hostArch: 'x86_64' }), configPath });
      await writeBuild(same, store, ['same'], { attestations: { attested: describeBuild(same, options), mode: 'referrers' } });
      // Two accounts of one name: refused now, built by a Provenant before the refusal (the
      // second's name changed after loading stands in for that loader).
      const apart = await loadConfig(configPath, { hostArch: 'x86_64' });
      const twice = `${golden}accounts:\n  users:\n${user(1000)}${user(1001)}`;
      await writeFile(configPath, twice);
      await assert.rejects(loadConfig(configPath, { hostArch: 'x86_64' }), (e: unknown) => isProvenantError(e, 'INVALID_CONFIG'));
      const users = apart.config.accounts.users.map((u, i) => (i === 1 ? { ...u, uid: 1001 } : u));
      const earlier = {
        ...apart,
        config: { ...apart.config, accounts: { ...apart.config.accounts, users } },
        files: [{ path: configPath, sha256: digestOf(twice).slice('sha256:'.length), content: twice }],
        raw: twice,
      };
      const differ = await buildImage({ config: earlier, configPath });
      await writeBuild(differ, store, ['differ'], { attestations: { attested: describeBuild(differ, options), mode: 'referrers' } });
      for (const tag of ['same', 'differ']) {
        const report = await reproduceImage(store, tag, { baseDir: dir, allowLocalFiles: true });
        assert.equal(report.match, true, `${tag}: ${renderReproduce(report)}`);
        assert.deepEqual(
          report.platforms.map((p) => p.status),
          ['match', 'match'],
        );
      }
    } finally {
      await store.close();
    }
  });

  it('needs baseDir for the relative repositories of the configuration', async () => {
    const dir = await tempDir();
    const store = await apkoGoldenLayout(join(dir, 'golden'));
    try {
      await assert.rejects(
        reproduceImage(store, 'latest'),
        (err: unknown) => isProvenantError(err, 'USAGE') && /relative/.test(err.message),
      );
    } finally {
      await store.close();
    }
  });
});

describe('reading an apko configuration to replay', () => {
  it('refuses what is not a locked configuration, and reads apko.json', async () => {
    assert.ok('reason' in readApkoConfiguration([], 'x'));
    assert.ok('reason' in readApkoConfiguration({ contents: { packages: ['busybox'] } }, 'x'));
    const ok = readApkoConfiguration({ contents: { repositories: ['https://r'], packages: ['busybox=1.36-r0'] }, archs: ['amd64'] }, 'x');
    assert.ok('loaded' in ok);
    assert.deepEqual(ok.loaded.config.archs, ['x86_64']);
  });

  it('reads users and groups named twice, as apko writes and an earlier Provenant built them', () => {
    const contents = { repositories: ['https://r'], packages: ['busybox=1.36-r0'] };
    const u = { username: 'u', uid: 1000, gid: 1000 };
    for (const users of [
      [u, u],
      [u, { ...u, uid: 1001 }],
    ]) {
      const read = readApkoConfiguration(
        {
          contents,
          accounts: {
            users,
            groups: [
              { groupname: 'u', gid: 1000 },
              { groupname: 'u', gid: 1000 },
            ],
          },
        },
        'x',
      );
      assert.ok('loaded' in read, JSON.stringify(read));
      assert.deepEqual(
        read.loaded.config.accounts.users.map((x) => x.uid),
        users.map((x) => x.uid),
      );
      assert.equal(read.loaded.config.accounts.groups.length, 2);
    }
  });

  it('gives a configuration or a reason for any JSON, never another error (property-based)', () => {
    const pkg = fc.oneof(fc.stringMatching(/^[a-z]{1,6}=[0-9]\.[0-9]-r[0-9]$/), fc.string({ maxLength: 10 }));
    const config = fc.record(
      {
        contents: fc.record(
          { repositories: fc.array(fc.string({ maxLength: 12 }), { maxLength: 2 }), packages: fc.array(pkg, { maxLength: 3 }) },
          { requiredKeys: [] },
        ),
        archs: fc.array(fc.constantFrom('amd64', 'arm64', 'x86_64', 'bogus'), { maxLength: 2 }),
        entrypoint: fc.oneof(fc.record({ command: fc.string({ maxLength: 10 }) }), fc.string()),
        environment: fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 })),
        extra: fc.jsonValue(),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(config, fc.jsonValue()), (value) => {
        const r = readApkoConfiguration(value, 'predicate');
        assert.ok('loaded' in r || (typeof r.reason === 'string' && r.missing.length > 0));
      }),
      { numRuns: 300 },
    );
  });
});
