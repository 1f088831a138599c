import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import { tarHeader } from '../../src/archive/tar.ts';
import { statement } from '../../src/attest/storage.ts';
import { buildImage, writeBuild } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import { describeBuild } from '../../src/builder/describe.ts';
import { isProvenantError } from '../../src/errors.ts';
import { copyImage } from '../../src/image/copy.ts';
import { diffImages } from '../../src/image/diff.ts';
import { renderDiff } from '../../src/image/diff-render.ts';
import { FILESYSTEM_LIMITS } from '../../src/image/filesystem.ts';
import { inspectImage } from '../../src/image/inspect.ts';
import { imageInventory } from '../../src/image/inventory.ts';
import { chosenStatement, imageStatements, isSlsaProvenance } from '../../src/image/statements.ts';
import { bytesSource } from '../../src/io/types.ts';
import { encodeJson, parseStored, type Stored } from '../../src/oci/content.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import type { Descriptor } from '../../src/oci/types.ts';
import { type ApkKeyPair, generateApkKeyPair } from '../../src/pkg/apk/keys.ts';
import { type ApkSpec, buildApk, buildApkIndex } from '../../src/pkg/apk/write.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { generateSigningKeyPair } from '../../src/sign/keys.ts';
import { attestImage } from '../../src/sign/sign.ts';
import { KeySigner } from '../../src/sign/signer.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { RegistryStore } from '../../src/store/registry.ts';
import type { ContentStore } from '../../src/store/types.ts';
import { makeImage, makeReferrer } from '../helpers/images.ts';
import { registryMissing, startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { type Layer, layout, removeTemp, run, tempDir, utf8 } from './diff-helpers.ts';

after(removeTemp);

// ---- two builds of one config, one package changed ---------------------------------------

const EPOCH = 1700000000;
const SLSA_V1 = 'https://slsa.dev/provenance/v1';

function packageP(version: string, script: string, data: string, extra: { path: string; body: string }): ApkSpec {
  return {
    name: 'p',
    version,
    arch: 'x86_64',
    license: 'MIT',
    files: [
      { path: 'usr/bin/p', type: 'file', mode: 0o755, body: utf8.encode(script) },
      { path: 'usr/share/p/data.txt', type: 'file', body: utf8.encode(data) },
      { path: extra.path, type: 'file', body: utf8.encode(extra.body) },
      // Makes p the largest origin, so that `layering` gives it a layer of its own.
      { path: 'usr/share/p/blob.bin', type: 'file', body: new Uint8Array(8192).fill(7) },
    ],
  };
}

const BASE: ApkSpec = {
  name: 'base',
  version: '1.0-r0',
  arch: 'x86_64',
  license: 'MIT',
  files: [{ path: 'etc/base.conf', type: 'file', body: utf8.encode('base = 1\n') }],
};

const DATA_V1 = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta', ''].join('\n');
const DATA_V2 = DATA_V1.replace('epsilon', 'EPSILON');

/** Writes the signed repository `./repo/x86_64` under `root` with exactly `specs`. */
async function writeRepository(root: string, key: ApkKeyPair, specs: ApkSpec[]): Promise<void> {
  const repo = join(root, 'repo', 'x86_64');
  await rm(join(root, 'repo'), { recursive: true, force: true });
  await mkdir(repo, { recursive: true });
  const signing = { privateKeyPem: key.privateKeyPem, name: key.name };
  const built: Uint8Array[] = [];
  for (const spec of specs) {
    const bytes = await buildApk({ ...spec, builddate: EPOCH }, { key: signing });
    await writeFile(join(repo, `${spec.name}-${spec.version}.apk`), bytes);
    built.push(bytes);
  }
  await writeFile(join(repo, 'APKINDEX.tar.gz'), (await buildApkIndex(built, { key: signing, mtime: EPOCH })).bytes);
}

/** Builds `image.yaml` in `root` and writes it, with SBOMs and SLSA provenance as referrers, to `store` as `tag`. */
async function buildInto(root: string, store: ContentStore, tag: string): Promise<void> {
  const configPath = join(root, 'image.yaml');
  const loaded = await loadConfig(configPath, { hostArch: 'x86_64' });
  const result = await buildImage({ config: loaded, configPath, sourceDateEpoch: EPOCH, workers: 0 });
  const attested = describeBuild(result, {
    imageName: 'example/p',
    configPath,
    toolVersion: '0.0.0-test',
    sourceDateEpoch: EPOCH,
    builderId: 'https://example.com/builder',
    provenance: { mode: 'min', version: 'v1' },
    fromLock: false,
  });
  await writeBuild(result, store, [tag], { attestations: { attested, mode: 'referrers' } });
}

describe('diff of two builds of the same config where one package changed', () => {
  let store: LayoutStore;
  before(async () => {
    const root = await tempDir();
    const key = generateApkKeyPair('diff-test', { bits: 2048 });
    await mkdir(join(root, 'keys'));
    await writeFile(join(root, 'keys', key.name), key.publicKeyPem);
    await writeFile(
      join(root, 'image.yaml'),
      [
        'contents:',
        '  repositories: [./repo]',
        `  keyring: [./keys/${key.name}]`,
        '  packages: [base, p]',
        'archs: [x86_64]',
        'entrypoint:',
        '  command: /usr/bin/p',
        'layering:',
        '  strategy: origin',
        '  budget: 2',
        '',
      ].join('\n'),
    );
    store = await layout();
    await writeRepository(root, key, [
      BASE,
      packageP('1.0-r0', '#!/bin/sh\necho v1\n', DATA_V1, { path: 'usr/share/p/old.txt', body: 'old\n' }),
    ]);
    await buildInto(root, store, 'a');
    await writeRepository(root, key, [
      BASE,
      packageP('2.0-r0', '#!/bin/sh\necho v2\n', DATA_V2, { path: 'usr/share/p/new.txt', body: 'new\n' }),
    ]);
    await buildInto(root, store, 'b');
  });

  it('names the package with both versions, its files and the layer they are in', async () => {
    const diff = await diffImages({ store, target: 'a' }, { store, target: 'b' }, { textDiff: true });
    assert.equal(diff.identical, false);
    assert.equal(diff.images.length, 1);
    const image = diff.images[0]!;
    assert.equal(image.platform, 'linux/amd64');
    assert.deepEqual(image.packages.source, { a: 'apk', b: 'apk' });
    assert.deepEqual(image.packages.added, []);
    assert.deepEqual(image.packages.removed, []);
    assert.equal(image.packages.changed.length, 1);
    const p = image.packages.changed[0]!;
    assert.equal(p.name, 'p');
    assert.deepEqual([p.a.version, p.b.version], ['1.0-r0', '2.0-r0']);
    assert.ok(p.fields.includes('version') && p.fields.includes('checksum'));
    assert.deepEqual(p.files, ['/usr/bin/p', '/usr/share/p/data.txt', '/usr/share/p/new.txt', '/usr/share/p/old.txt']);

    // p's files are in its own layer (layering gives it one): layer 1 in both images, and that
    // layer is only in A on one side and only in B on the other.
    const layerA = (await store.getManifest(image.a.digest)) as Stored & { kind: 'manifest' };
    const layerB = (await store.getManifest(image.b.digest)) as Stored & { kind: 'manifest' };
    const pLayerA = layerA.manifest.layers[1]!.digest;
    const pLayerB = layerB.manifest.layers[1]!.digest;
    assert.deepEqual(p.layers, { a: [1], b: [1] });
    assert.ok(image.layers.onlyA.some((l) => l.digest === pLayerA && l.index === 1));
    assert.ok(image.layers.onlyB.some((l) => l.digest === pLayerB && l.index === 1));

    const changed = new Map(image.files.changed.map((c) => [c.path, c]));
    const script = changed.get('/usr/bin/p');
    assert.ok(script, 'the changed script is listed');
    assert.deepEqual(script.fields, ['sha256']);
    assert.equal(script.package, 'p');
    assert.equal(script.b.layer, 1);
    assert.equal(script.b.layerDigest, pLayerB);
    assert.equal(script.a.sha256, createHash('sha256').update('#!/bin/sh\necho v1\n').digest('hex'));
    assert.equal(script.b.sha256, createHash('sha256').update('#!/bin/sh\necho v2\n').digest('hex'));
    assert.equal(script.textDiff, '--- a/usr/bin/p\n+++ b/usr/bin/p\n@@ -1,2 +1,2 @@\n #!/bin/sh\n-echo v1\n+echo v2\n');
    assert.equal(
      changed.get('/usr/share/p/data.txt')?.textDiff,
      '--- a/usr/share/p/data.txt\n+++ b/usr/share/p/data.txt\n@@ -2,7 +2,7 @@\n beta\n gamma\n delta\n-epsilon\n+EPSILON\n zeta\n eta\n theta\n',
    );
    assert.deepEqual(
      image.files.removed.map((e) => [e.path, e.package, e.layer]),
      [['/usr/share/p/old.txt', 'p', 1]],
    );
    assert.deepEqual(
      image.files.added.map((e) => [e.path, e.package, e.layer]),
      [['/usr/share/p/new.txt', 'p', 1]],
    );
    // The package database changed too (in the base layer), and nothing else did.
    assert.deepEqual(
      [...changed.keys()].filter((k) => !k.startsWith('/usr/share/p/') && k !== '/usr/bin/p'),
      ['/usr/lib/apk/db/installed'],
    );
    assert.equal(changed.get('/usr/share/p/blob.bin'), undefined, 'an unchanged file of the package is not listed');

    // The provenance names the package's new version and the new index; the config is the same.
    assert.deepEqual(image.config, []);
    assert.equal(image.provenance.a?.builderId, 'https://example.com/builder');
    const dep = image.provenance.dependencies.changed.find((c) => c.key === 'p');
    assert.deepEqual([dep?.a.version, dep?.b.version], ['1.0-r0', '2.0-r0']);
    assert.ok(image.provenance.dependencies.changed.some((c) => c.key.endsWith('/x86_64/APKINDEX.tar.gz')));
    assert.deepEqual(image.provenance.dependencies.added, []);
    // Both have an SPDX, a CycloneDX and a provenance attestation: nothing only on one side.
    assert.deepEqual([image.attachments.onlyA, image.attachments.onlyB], [[], []]);
    assert.equal(image.attachments.common.length, 3);

    const text = renderDiff(diff);
    assert.match(text, /^ {4}~ p 1\.0-r0 → 2\.0-r0, rebuilt {2}\(4 files; layer 1 → 1\)$/m);
    assert.match(
      text,
      /^ {4}~ \/usr\/bin\/p {2}sha256 [0-9a-f]{12} → [0-9a-f]{12} {2}\(layer 1 sha256:[0-9a-f]{12} → 1 sha256:[0-9a-f]{12}; p\)$/m,
    );
    assert.match(text, /^ {8}-echo v1$/m);
    assert.match(text, /^ {4}- \/usr\/share\/p\/old\.txt {2}file 0644 0:0 4 B sha256:[0-9a-f]{12} {2}\(layer 1 sha256:[0-9a-f]{12}; p\)$/m);
    assert.match(text, /^ {4}~ dependency p: 1\.0-r0 sha256:[0-9a-f]{12} → 2\.0-r0 sha256:[0-9a-f]{12}$/m);
    // JSON is the data itself.
    assert.deepEqual(JSON.parse(JSON.stringify(diff)), diff);
  });

  it('compares images in two different stores: a layout and a registry', { skip: registryMissing }, async () => {
    let reg: TestRegistry | undefined;
    try {
      reg = await startRegistry();
      const remote = new RegistryStore(
        new RegistryClient(reg.host, { retry: { attempts: 6, baseDelayMs: 10, maxDelayMs: 200 } }),
        'example/p',
      );
      await copyImage(store, 'b', remote, { tags: ['b'], withReferrers: true });
      const local = await diffImages({ store, target: 'a' }, { store, target: 'b' });
      const mixed = await diffImages({ store, target: 'a' }, { store: remote, target: 'b' });
      assert.match(mixed.b.name, new RegExp(`${reg.host.replace('.', '\\.')}.*example/p:b$`));
      assert.deepEqual(mixed.images, local.images);
      // The same image with the same attachments, wherever it is stored.
      const same = await diffImages({ store: remote, target: 'b' }, { store, target: 'b' });
      assert.equal(renderDiff(same), 'identical\n');
    } finally {
      await reg?.stop();
    }
  });

  it('says nothing but "identical" for an image diffed with itself', async () => {
    for (const target of ['a', 'b']) {
      const diff = await diffImages({ store, target }, { store, target });
      assert.equal(diff.identical, true);
      assert.equal(renderDiff(diff), 'identical\n');
    }
  });
});

// ---- an index that lists one manifest twice ------------------------------------------------

describe('diff of indexes that list one manifest twice', () => {
  it("compares each entry's attachments, the second entry's too", async () => {
    const dir = await tempDir();
    const store = await LayoutStore.open(join(dir, 'l'), { create: true });
    const amd64 = { os: 'linux', architecture: 'amd64' };
    const made = await makeImage(store, { platforms: [amd64, amd64] });
    const [x, y] = made.manifests as [Stored, Stored];
    await makeReferrer(store, x, 'application/spdx+json', 'sbom of x');
    const entry = (m: Stored): Descriptor => ({ mediaType: m.mediaType, digest: m.digest, size: m.bytes.byteLength, platform: amd64 });
    const index = (tag: string, entries: Descriptor[]) =>
      store.putManifest(parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: entries })), { tags: [tag] });
    await index('xx', [entry(x), entry(x)]);
    await index('yx', [entry(y), entry(x)]);
    const diff = await diffImages({ store, target: 'xx' }, { store, target: 'yx' });
    const [first, second] = diff.images as [(typeof diff.images)[0], (typeof diff.images)[0]];
    assert.equal(diff.images.length, 2);
    assert.equal(first.attachments.onlyA.length, 1, 'the first pair, x against y: the SBOM of x is in A only');
    assert.equal(first.attachments.onlyB.length, 0);
    assert.deepEqual([second.a.digest, second.b.digest], [x.digest, x.digest]);
    assert.deepEqual(second.attachments.onlyA, []);
    assert.deepEqual(second.attachments.onlyB, [], 'the same manifest has the same attachments on both sides');
    assert.equal(second.attachments.common.length, 1);
    assert.equal(second.identical, true);
  });
});

// ---- attestations read once ----------------------------------------------------------------

describe('diff of attested images', () => {
  for (const storage of ['referrers', 'cosign'] as const) {
    it(`reads each signed attestation once to list and compare it, beyond what inspect reads (${storage})`, async () => {
      const dir = await tempDir();
      const layoutStore = await LayoutStore.open(join(dir, 'l'), { create: true });
      const made = await makeImage(layoutStore, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
      const digest = made.manifests[0]!.digest;
      const signer = new KeySigner(generateSigningKeyPair().privateKey);
      // Three signed provenance statements, each naming another builder: three Sigstore bundle
      // referrers, or three layers of cosign's .att image.
      for (const id of ['one', 'two', 'three']) {
        const predicate = { buildDefinition: { buildType: 'test' }, runDetails: { builder: { id } } };
        await attestImage(layoutStore, digest, [statement(SLSA_V1, predicate, [{ name: 'img', digest }])], { signer, storage });
      }
      // The store, counting the reads of each blob.
      const reads = new Map<string, number>();
      const store = new Proxy(layoutStore, {
        get(target, key) {
          if (key === 'readBlob') {
            return (d: Descriptor, o?: object) => {
              reads.set(d.digest, (reads.get(d.digest) ?? 0) + 1);
              return target.readBlob(d, o);
            };
          }
          const value: unknown = Reflect.get(target, key);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      const inspected = await inspectImage(store, 'v1', 'img');
      const blobs = new Set<string>();
      for (const a of inspected.manifests[0]!.attachments) {
        const stored = await layoutStore.getManifest(a.digest);
        if (stored.kind === 'manifest') for (const l of stored.manifest.layers) blobs.add(l.digest);
      }
      assert.equal(blobs.size, 3);
      const byInspect = [...blobs].map((d) => reads.get(d) ?? 0);
      reads.clear();
      const warnings: string[] = [];
      const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m) };
      const diff = await diffImages({ store, target: 'v1', name: 'a' }, { store, target: 'v1', name: 'b' }, { logger });
      assert.equal(diff.identical, true);
      // Each side inspects its image, then reads each attestation once: for the list and for the provenance both.
      assert.deepEqual(
        [...blobs].map((d) => reads.get(d) ?? 0),
        byInspect.map((n) => 2 * (n + 1)),
      );
      // The provenance compared is still the first attached, warned of as inspect does.
      assert.equal(diff.images[0]?.provenance.a?.builderId, 'one');
      assert.equal(
        warnings.filter((w) =>
          /^3 SLSA provenance statements are attached to the linux\/amd64 image of [ab]; using the first, from (referrer sha256:|cosign tag sha256-)/.test(
            w,
          ),
        ).length,
        2,
        warnings.join('\n'),
      );
    });
  }
});

describe('diff of an attestation with an in-toto layer beside its signed ones', () => {
  for (const storage of ['referrers', 'cosign'] as const) {
    it(`chooses the provenance inspect chooses, the in-toto layer read too (${storage})`, async () => {
      const dir = await tempDir();
      const store = await LayoutStore.open(join(dir, 'l'), { create: true });
      const made = await makeImage(store, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
      const digest = made.manifests[0]!.digest;
      const signer = new KeySigner(generateSigningKeyPair().privateKey);
      for (const id of ['one', 'two']) {
        const predicate = { buildDefinition: { buildType: 'test' }, runDetails: { builder: { id } } };
        await attestImage(store, digest, [statement(SLSA_V1, predicate, [{ name: 'img', digest }])], { signer, storage });
      }
      // Another tool's plain in-toto layer, first in each attestation's manifest: the .att image
      // (under its tag again), or a referrer (beside the one it was made from).
      const plain = statement(SLSA_V1, { buildDefinition: { buildType: 'test' }, runDetails: { builder: { id: 'zzz' } } }, [
        { name: 'img', digest },
      ]).bytes;
      const layer: Descriptor = {
        mediaType: 'application/vnd.in-toto+json',
        digest: digestOf(plain),
        size: plain.length,
        annotations: { 'in-toto.io/predicate-type': SLSA_V1 },
      };
      await store.putBlob(bytesSource(layer, plain));
      const before = await inspectImage(store, 'v1', 'img');
      for (const a of before.manifests[0]!.attachments.filter((x) => x.kind === 'attestation')) {
        const stored = await store.getManifest(a.digest);
        if (stored.kind !== 'manifest') continue;
        const manifest = { ...stored.manifest, layers: [layer, ...stored.manifest.layers] };
        await store.putManifest(parseStored(encodeJson(manifest)), {
          tags: a.tag === undefined ? [] : [a.tag],
          keepAsRoot: a.tag === undefined,
        });
      }
      const inspected = await inspectImage(store, 'v1', 'img');
      const byInspect = chosenStatement(
        (await imageStatements(store, inspected.manifests[0]!, {})).filter((s) => isSlsaProvenance(s.predicateType)),
        'SLSA provenance',
        'img',
        {},
      );
      assert.ok(byInspect !== undefined);
      const chosen = (byInspect.statement.predicate as { runDetails: { builder: { id: string } } }).runDetails.builder.id;
      if (storage === 'cosign') assert.equal(chosen, 'zzz');
      const warnings: string[] = [];
      const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m) };
      const diff = await diffImages({ store, target: 'v1', name: 'a' }, { store, target: 'v1', name: 'b' }, { logger });
      assert.equal(diff.images[0]?.provenance.a?.builderId, chosen);
      // zzz (copies of one statement are one), one and two.
      assert.equal(warnings.filter((w) => w.startsWith(`3 SLSA provenance statements are attached`)).length, 2, warnings.join('\n'));
    });
  }
});

// ---- memory ------------------------------------------------------------------------------

const BIG = 200 * 1024 * 1024;

/**
 * A gzipped layer of one `size`-byte file made of 1 MiB runs of one byte value each (from
 * `seed`), written to a file as it is made: the test never holds the layer either.
 */
async function bigLayer(store: ContentStore, dirPath: string, name: string, size: number, seed: number): Promise<Layer> {
  const { createWriteStream, createReadStream } = await import('node:fs');
  const { writeTar } = await import('../../src/archive/tar.ts');
  const { Readable } = await import('node:stream');
  const { pipeline } = await import('node:stream/promises');
  const chunk = 1024 * 1024;
  const body = (async function* () {
    for (let i = 0; i * chunk < size; i++) yield new Uint8Array(Math.min(chunk, size - i * chunk)).fill((seed + i) & 0xff);
  })();
  const tarHash = createHash('sha256');
  const gzHash = createHash('sha256');
  let gzSize = 0;
  const path = join(dirPath, `${name.replaceAll('/', '_')}.tar.gz`);
  const tar = Readable.from(writeTar([{ header: tarHeader({ name, size }), body }]));
  tar.on('data', (c: Buffer) => tarHash.update(c));
  const gz = zlib.createGzip({ level: 1 });
  gz.on('data', (c: Buffer) => {
    gzHash.update(c);
    gzSize += c.length;
  });
  await pipeline(tar, gz, createWriteStream(path));
  const descriptor: Descriptor = { mediaType: MediaType.OciLayerGzip, digest: `sha256:${gzHash.digest('hex')}`, size: gzSize };
  await store.putBlob({ descriptor, open: async (offset = 0) => createReadStream(path, { start: offset }) });
  return { bytes: new Uint8Array(), descriptor, diffId: `sha256:${tarHash.digest('hex')}` };
}

describe('memory', () => {
  it('refuses a package database file past the limit in diff, report and sbom, naming the layer and the path', async () => {
    const d = await tempDir();
    const store = await LayoutStore.open(join(d, 'layout'), { create: true });
    const big = await bigLayer(store, d, 'var/lib/dpkg/status.d/p', FILESYSTEM_LIMITS.keptFile + 1, 1);
    await putImageLayers(store, [big], 'big');
    await putImageLayers(store, [await bigLayer(store, d, 'small', 1, 1)], 'small');
    const tooLarge = (err: unknown) => {
      assert.ok(isProvenantError(err, 'TOO_LARGE'), String(err));
      assert.equal(err.where, `oci:${join(d, 'layout')}:big@${big.descriptor.digest}`);
      assert.match(err.message, /^var\/lib\/dpkg\/status\.d\/p is 64\.0 MiB/);
      return true;
    };
    await assert.rejects(diffImages({ store, target: 'small' }, { store, target: 'big' }), tooLarge);
    const digest = (await store.resolve('big'))!.digest;
    await assert.rejects(imageInventory(store, digest, `oci:${join(d, 'layout')}:big`), tooLarge);
  });

  it('stays bounded far below the size of the files compared', { timeout: 600_000 }, async () => {
    const d = await tempDir();
    const store = await LayoutStore.open(join(d, 'layout'), { create: true });
    const a = await bigLayer(store, d, 'big.bin', BIG, 1);
    const b = await bigLayer(store, d, 'big.bin', BIG, 2);
    await putImageLayers(store, [a], 'a');
    await putImageLayers(store, [b], 'b');
    const script = [
      `import { diffImages } from ${JSON.stringify(new URL('../../src/image/diff.ts', import.meta.url).pathname)};`,
      `import { LayoutStore } from ${JSON.stringify(new URL('../../src/store/layout.ts', import.meta.url).pathname)};`,
      'const store = await LayoutStore.open(process.env.LAYOUT);',
      'const loaded = process.resourceUsage().maxRSS * 1024;',
      "const diff = await diffImages({ store, target: 'a' }, { store, target: 'b' });",
      'const c = diff.images[0].files.changed.map((x) => [x.path, x.fields, x.a.size]);',
      'console.log(JSON.stringify({ loaded, maxRSS: process.resourceUsage().maxRSS * 1024, changed: c }));',
    ].join('\n');
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, LAYOUT: join(d, 'layout') },
      maxBuffer: 1 << 20,
    });
    const result = JSON.parse(stdout) as { loaded: number; maxRSS: number; changed: unknown[] };
    assert.deepEqual(result.changed, [['/big.bin', ['sha256'], BIG]]);
    // Each image holds a 200 MiB file. Measured: about 95 MiB once the modules are loaded, and
    // about 26 MiB more at the peak of the comparison. Holding either file would add 200 MiB.
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
    const growth = result.maxRSS - result.loaded;
    assert.ok(growth < BIG / 3, `the comparison grew the peak RSS by ${mib(growth)} (from ${mib(result.loaded)})`);
    assert.ok(result.maxRSS < BIG, `peak RSS ${mib(result.maxRSS)}`);
  });
});

/** An image of layers whose blobs are already stored. */
async function putImageLayers(store: ContentStore, layers: Layer[], tag: string): Promise<void> {
  const config = encodeJson({
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  });
  const configDesc: Descriptor = { mediaType: MediaType.OciConfig, digest: digestOf(config), size: config.length };
  await store.putBlob(bytesSource(configDesc, config));
  const manifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config: configDesc, layers: layers.map((l) => l.descriptor) };
  await store.putManifest(parseStored(encodeJson(manifest)), { tags: [tag], keepAsRoot: true });
}
