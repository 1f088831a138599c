import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { type TarWriteEntry, tarBytes, tarHeader } from '../../src/archive/tar.ts';
import { buildImage, writeBuild } from '../../src/build/build.ts';
import { loadConfig } from '../../src/build/config.ts';
import { describeBuild } from '../../src/build/describe.ts';
import { isProvenantError } from '../../src/errors.ts';
import { copyImage } from '../../src/image/copy.ts';
import { diffImages } from '../../src/image/diff.ts';
import { renderDiff } from '../../src/image/diff-render.ts';
import { diffLines, splitLines, unifiedDiff } from '../../src/image/diff-text.ts';
import { applyLayer, LayerFilesystem } from '../../src/image/filesystem.ts';
import { encodeJson, parseStored, type Stored } from '../../src/oci/content.ts';
import { type Digest, digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import type { Descriptor, ImageConfig, ImageManifest, Platform } from '../../src/oci/types.ts';
import { type ApkKeyPair, type ApkSpec, buildApk, buildApkIndex, generateApkKeyPair } from '../../src/pkg/apk/write.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { generateSigningKeyPair } from '../../src/sign/keys.ts';
import { signImage } from '../../src/sign/sign.ts';
import { KeySigner } from '../../src/sign/signer.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { RegistryStore } from '../../src/store/registry.ts';
import { bytesSource, type ContentStore } from '../../src/store/types.ts';
import { registryMissing, startRegistry, type TestRegistry } from '../helpers/registry.ts';

const run = promisify(execFile);
const utf8 = new TextEncoder();
const code = (c: string) => (err: unknown) => isProvenantError(err, c as never);
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'provenant-diff-'));
  dirs.push(d);
  return d;
}

async function layout(): Promise<LayoutStore> {
  return LayoutStore.open(join(await tempDir(), 'layout'), { create: true });
}

after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

// ---- images made from tar entries --------------------------------------------------------

type Entry = TarWriteEntry;
const file = (name: string, body: string, over: Partial<Entry['header']> = {}): Entry => ({
  header: tarHeader({ name, size: utf8.encode(body).length, ...over }),
  body: utf8.encode(body),
});
const dir = (name: string, over: Partial<Entry['header']> = {}): Entry => ({
  header: tarHeader({ name, type: 'dir', mode: 0o755, ...over }),
});
const link = (name: string, target: string): Entry => ({ header: tarHeader({ name, type: 'symlink', mode: 0o777, linkname: target }) });

interface Layer {
  bytes: Uint8Array;
  descriptor: Descriptor;
  diffId: Digest;
}

async function layer(entries: Entry[], compression: 'gzip' | 'zstd' | 'none' = 'gzip'): Promise<Layer> {
  const tar = await tarBytes(entries);
  const bytes =
    compression === 'gzip'
      ? new Uint8Array(zlib.gzipSync(tar))
      : compression === 'zstd'
        ? new Uint8Array((zlib as unknown as { zstdCompressSync(b: Uint8Array): Buffer }).zstdCompressSync(tar))
        : tar;
  const mediaType = compression === 'gzip' ? MediaType.OciLayerGzip : compression === 'zstd' ? MediaType.OciLayerZstd : MediaType.OciLayer;
  return { bytes, descriptor: { mediaType, digest: digestOf(bytes), size: bytes.length }, diffId: digestOf(tar) };
}

async function putImage(
  store: ContentStore,
  layers: Layer[],
  options: { tag?: string; config?: ImageConfig['config']; platform?: Platform; diffIds?: Digest[]; history?: ImageConfig['history'] } = {},
): Promise<Stored> {
  for (const l of layers) await store.putBlob(bytesSource(l.descriptor, l.bytes));
  const platform = options.platform ?? { os: 'linux', architecture: 'amd64' };
  const config: ImageConfig = {
    created: '1970-01-01T00:00:00Z',
    architecture: platform.architecture,
    os: platform.os,
    config: options.config ?? { Env: ['PATH=/usr/bin:/bin'], Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: options.diffIds ?? layers.map((l) => l.diffId) },
    ...(options.history === undefined ? {} : { history: options.history }),
  };
  const configBytes = encodeJson(config);
  const configDesc: Descriptor = { mediaType: MediaType.OciConfig, digest: digestOf(configBytes), size: configBytes.length };
  await store.putBlob(bytesSource(configDesc, configBytes));
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: configDesc,
    layers: layers.map((l) => l.descriptor),
  };
  const stored = parseStored(encodeJson(manifest));
  await store.putManifest(stored, { tags: options.tag === undefined ? [] : [options.tag], keepAsRoot: true });
  return stored;
}

async function putIndex(store: ContentStore, images: { stored: Stored; platform: Platform }[], tag: string): Promise<Stored> {
  const index = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: images.map((i) => ({
      mediaType: i.stored.mediaType,
      digest: i.stored.digest,
      size: i.stored.bytes.length,
      platform: i.platform,
    })),
  };
  const stored = parseStored(encodeJson(index));
  await store.putManifest(stored, { tags: [tag], keepAsRoot: true });
  return stored;
}

/** The flattened filesystem of `layers` as path → a short description. */
async function flatten(layers: Layer[]): Promise<Record<string, string>> {
  const store = await layout();
  for (const l of layers) await store.putBlob(bytesSource(l.descriptor, l.bytes));
  const fs = new LayerFilesystem();
  for (const [i, l] of layers.entries()) await applyLayer(fs, store, l.descriptor, { index: i, diffId: l.diffId });
  const out: Record<string, string> = {};
  for (const p of [...fs.paths()].sort()) {
    const r = fs.get(p);
    out[p] = `${r?.type}@${r?.layer}`;
  }
  return out;
}

// ---- two builds of one config, one package changed ---------------------------------------

const EPOCH = 1700000000;

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

// ---- the flattened filesystem ------------------------------------------------------------

describe('the flattened filesystem', () => {
  it('applies whiteouts, opaque whiteouts and replacements as layer.md says', async () => {
    const l0 = await layer([
      dir('a/'),
      file('a/x', 'x'),
      file('a/y', 'y0'),
      dir('a/sub/'),
      file('a/sub/deep', 'd'),
      dir('b/'),
      file('b/z', 'z'),
      file('keep', 'k'),
      dir('c/'),
      file('c/1', '1'),
      dir('c/old/'),
      file('c/old/2', '2'),
      file('f', 'a file that becomes a folder'),
      dir('g/'),
      file('g/inner', 'under a folder that becomes a file'),
      file('h', 'h0'),
    ]);
    const l1 = await layer([
      file('a/.wh.x', ''),
      file('.wh.b', ''),
      // Opaque after a sibling of the same layer: it still hides only what lower layers had.
      file('c/new', 'n'),
      file('c/.wh..wh..opq', ''),
      dir('f/'),
      file('f/child', 'c'),
      file('g', 'now a file'),
      file('a/y', 'y1'),
      // aufs bookkeeping, not a path.
      file('.wh..wh.plnk', ''),
      // A whiteout hides lower layers only: the `h` of this layer stays.
      file('h', 'h1'),
      file('.wh.h', ''),
    ]);
    const l2 = await layer([file('.wh.keep', ''), dir('b/'), file('b/w', 'w'), link('l', 'a/y')]);
    assert.deepEqual(await flatten([l0, l1, l2]), {
      a: 'dir@0',
      'a/sub': 'dir@0',
      'a/sub/deep': 'file@0',
      'a/y': 'file@1',
      b: 'dir@2',
      'b/w': 'file@2',
      c: 'dir@0',
      'c/new': 'file@1',
      f: 'dir@1',
      'f/child': 'file@1',
      g: 'file@1',
      h: 'file@1',
      l: 'symlink@2',
    });
  });

  it('matches a direct reading of the rules for any sequence of entries (property)', async () => {
    const paths = ['a', 'a/b', 'a/b/c', 'a/d', 'e', 'e/f'];
    const op = fc.record({ kind: fc.constantFrom('file', 'dir', 'wh', 'opq'), path: fc.constantFrom(...paths) });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(op, { maxLength: 6 }), { minLength: 1, maxLength: 4 }), async (layers) => {
        // The oracle: a flat map, every rule read straight from layer.md, subtrees by prefix.
        const model = new Map<string, { type: string; layer: number }>();
        const under = (p: string) => [...model.keys()].filter((k) => k.startsWith(`${p}/`));
        const built: Layer[] = [];
        for (const [k, ops] of layers.entries()) {
          const entries: Entry[] = [];
          for (const o of ops) {
            const slash = o.path.lastIndexOf('/');
            const parent = slash < 0 ? '' : `${o.path.slice(0, slash)}/`;
            const base = o.path.slice(slash + 1);
            if (o.kind === 'file' || o.kind === 'dir') {
              entries.push(o.kind === 'file' ? file(o.path, 'x') : dir(`${o.path}/`));
              const old = model.get(o.path);
              if (old !== undefined && !(old.type === 'dir' && o.kind === 'dir')) {
                model.delete(o.path);
                for (const c of under(o.path)) model.delete(c);
              }
              if (o.kind !== 'dir') for (const c of under(o.path)) model.delete(c);
              model.set(o.path, { type: o.kind, layer: k });
            } else if (o.kind === 'wh') {
              entries.push(file(`${parent}.wh.${base}`, ''));
              for (const c of [o.path, ...under(o.path)]) if ((model.get(c)?.layer ?? k) < k) model.delete(c);
            } else {
              entries.push(file(`${o.path}/.wh..wh..opq`, ''));
              for (const c of under(o.path)) if ((model.get(c)?.layer ?? k) < k) model.delete(c);
            }
          }
          built.push(await layer(entries));
        }
        const expected = Object.fromEntries([...model].sort(([x], [y]) => (x < y ? -1 : 1)).map(([p, r]) => [p, `${r.type}@${r.layer}`]));
        assert.deepEqual(await flatten(built), expected);
      }),
      { numRuns: 60 },
    );
  });

  it('refuses an entry that climbs out of the root, and a layer that is not its diff_id', async () => {
    await assert.rejects(flatten([await layer([file('../escape', 'x')])]), code('UNSAFE_PATH'));
    const l = await layer([file('a', 'x')]);
    await assert.rejects(flatten([{ ...l, diffId: digestOf('something else') }]), code('DIGEST_MISMATCH'));
  });

  it('fails on corrupt layers with a typed error only (property)', async () => {
    const store = await layout();
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2048 }), fc.boolean(), async (bytes, gzip) => {
        const body = gzip ? new Uint8Array(zlib.gzipSync(bytes)) : bytes;
        const d: Descriptor = { mediaType: MediaType.OciLayerGzip, digest: digestOf(body), size: body.length };
        await store.putBlob(bytesSource(d, body));
        try {
          await applyLayer(new LayerFilesystem(), store, d, { index: 0 });
        } catch (err) {
          assert.ok(isProvenantError(err), `not a ProvenantError: ${err}`);
        }
      }),
      { numRuns: 200 },
    );
  });
});

// ---- text diffs --------------------------------------------------------------------------

/** Applies a unified diff to `a`, as patch would; throws when a context or removed line does not match. */
function applyUnified(a: string, patch: string): string {
  const src = splitLines(a);
  const out: string[] = [];
  let at = 0;
  const lines = patch.split('\n');
  let i = 2;
  while (i < lines.length && lines[i] !== '') {
    const m = /^@@ -(\d+),(\d+) \+\d+,\d+ @@$/.exec(lines[i] as string);
    assert.ok(m, `a hunk header: ${lines[i]}`);
    const start = Number(m[1]) - (Number(m[2]) === 0 ? 0 : 1);
    while (at < start) out.push(src[at++] as string);
    i++;
    while (i < lines.length && lines[i] !== '' && !(lines[i] as string).startsWith('@@')) {
      const l = lines[i] as string;
      const noNewline = lines[i + 1] === '\\ No newline at end of file';
      const text = `${l.slice(1)}${noNewline ? '' : '\n'}`;
      if (l[0] === ' ' || l[0] === '-') {
        assert.equal(src[at], text);
        at++;
      }
      if (l[0] === ' ' || l[0] === '+') out.push(text);
      i += noNewline ? 2 : 1;
    }
  }
  while (at < src.length) out.push(src[at++] as string);
  return out.join('');
}

describe('text diffs', () => {
  it('prints what diff -u prints', async () => {
    assert.equal(unifiedDiff('a\nb\n', 'a\nb\n', 'x', 'y'), '');
    assert.equal(unifiedDiff('', 'new\n', 'a/f', 'b/f'), '--- a/f\n+++ b/f\n@@ -0,0 +1,1 @@\n+new\n');
    assert.equal(unifiedDiff('x', 'x\n', 'a/f', 'b/f'), '--- a/f\n+++ b/f\n@@ -1,1 +1,1 @@\n-x\n\\ No newline at end of file\n+x\n');
    const a = `${Array.from({ length: 20 }, (_, i) => `line ${i}`).join('\n')}\n`;
    const b = a.replace('line 2\n', 'LINE 2\n').replace('line 17\n', '');
    assert.equal(
      unifiedDiff(a, b, 'a/f', 'b/f'),
      [
        '--- a/f',
        '+++ b/f',
        '@@ -1,6 +1,6 @@',
        ' line 0',
        ' line 1',
        '-line 2',
        '+LINE 2',
        ' line 3',
        ' line 4',
        ' line 5',
        '@@ -15,6 +15,5 @@',
        ' line 14',
        ' line 15',
        ' line 16',
        '-line 17',
        ' line 18',
        ' line 19',
        '',
      ].join('\n'),
    );
    const diff = new GnuDiff();
    if (await diff.available()) assert.equal(unifiedDiff(a, b, 'a/f', 'b/f').split('\n').slice(2).join('\n'), await diff.run(a, b));
  });

  it('turns A into B, and is as short as an LCS allows (property)', () => {
    const text = fc.array(fc.constantFrom('a\n', 'b\n', 'c\n', 'd\n', 'e'), { maxLength: 30 }).map((l) => l.join(''));
    fc.assert(
      fc.property(text, text, (a, b) => {
        assert.equal(applyUnified(a, unifiedDiff(a, b, 'a', 'b')), b);
        const ops = diffLines(splitLines(a), splitLines(b));
        const kept = ops.filter((o) => o.op === ' ').length;
        assert.equal(kept, lcs(splitLines(a), splitLines(b)));
      }),
      { numRuns: 500 },
    );
    // Past the edit bound the script replaces the middle, and still turns A into B.
    const a = Array.from({ length: 300 }, (_, i) => `${i}\n`);
    const b = Array.from({ length: 300 }, (_, i) => `${i % 2 === 0 ? i : -i}\n`);
    const ops = diffLines(a, b, 10);
    assert.deepEqual(
      ops.filter((o) => o.op !== '-').map((o) => o.line),
      b,
    );
  });
});

function lcs(a: readonly string[], b: readonly string[]): number {
  const row = new Array<number>(b.length + 1).fill(0);
  for (const x of a) {
    let diag = 0;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j] as number;
      row[j] = x === b[j - 1] ? diag + 1 : Math.max(up, row[j - 1] as number);
      diag = up;
    }
  }
  return row[b.length] as number;
}

/** GNU diff, when installed, as an independent check of the hunk format. */
class GnuDiff {
  async available(): Promise<boolean> {
    return run('diff', ['--version']).then(
      () => true,
      () => false,
    );
  }
  async run(a: string, b: string): Promise<string> {
    const d = await tempDir();
    await writeFile(join(d, 'a'), a);
    await writeFile(join(d, 'b'), b);
    const r = await run('diff', ['-u', join(d, 'a'), join(d, 'b')]).catch((err: { stdout: string }) => err);
    return r.stdout
      .split('\n')
      .slice(2)
      .join('\n')
      .replace(/^@@ -(\d+) /gm, '@@ -$1,1 ')
      .replace(/ \+(\d+) @@/gm, ' +$1,1 @@');
  }
}

// ---- images made from layers --------------------------------------------------------------

/** `store`, counting how often each blob is read. */
function counting(store: ContentStore): { store: ContentStore; reads: Map<string, number> } {
  const reads = new Map<string, number>();
  const proxy = new Proxy(store, {
    get(target, prop) {
      if (prop === 'readBlob') {
        return (d: Descriptor, o?: object) => {
          reads.set(d.digest, (reads.get(d.digest) ?? 0) + 1);
          return target.readBlob(d, o);
        };
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { store: proxy, reads };
}

describe('diff of images made layer by layer', () => {
  it('reads a shared layer prefix once, and still sees a change to its files made by a later layer', async () => {
    const l0 = await layer([dir('etc/'), file('etc/conf', 'one\n'), file('etc/same', 'same\n'), file('bin', 'binary')]);
    const l1 = await layer([file('etc/more', 'more\n')]);
    const onlyA = await layer([file('etc/conf', 'two\n'), file('.wh.bin', '')]);
    const onlyB = await layer([file('etc/other', 'other\n')]);
    const base = await layout();
    await putImage(base, [l0, l1, onlyA], { tag: 'a' });
    await putImage(base, [l0, l1, onlyB], { tag: 'b' });
    const { store, reads } = counting(base);
    const diff = await diffImages({ store, target: 'a' }, { store, target: 'b' });
    const image = diff.images[0]!;
    assert.equal(image.layers.sharedPrefix, 2);
    assert.equal(reads.get(l0.descriptor.digest), 1);
    assert.equal(reads.get(l1.descriptor.digest), 1);
    assert.equal(reads.get(onlyA.descriptor.digest), 1);
    assert.equal(reads.get(onlyB.descriptor.digest), 1);
    assert.match(image.notes.join('\n'), /first 2 layer\(s\) are the same blobs in both: read once/);
    assert.deepEqual(
      image.files.changed.map((c) => [c.path, c.fields, c.a.layer, c.b.layer]),
      [['/etc/conf', ['sha256'], 2, 0]],
    );
    assert.deepEqual(
      image.files.added.map((e) => [e.path, e.layer]),
      [
        ['/bin', 0],
        ['/etc/other', 2],
      ],
    );
    assert.deepEqual(image.files.removed, []);
    assert.deepEqual(
      image.layers.shared.map((s) => [s.indexA, s.indexB]),
      [
        [0, 0],
        [1, 1],
      ],
    );
    assert.deepEqual(
      [image.layers.onlyA.map((l) => l.digest), image.layers.onlyB.map((l) => l.digest)],
      [[onlyA.descriptor.digest], [onlyB.descriptor.digest]],
    );
    assert.deepEqual(image.packages.source, { a: 'none', b: 'none' });
  });

  it('compares contents, not compression: a zstd copy of a gzip layer has the same files', {
    skip: !('zstdCompressSync' in zlib) && 'this Node has no zstd',
  }, async () => {
    const entries = [dir('usr/'), file('usr/x', 'x\n'), link('usr/y', 'x')];
    const store = await layout();
    await putImage(store, [await layer(entries, 'gzip')], { tag: 'gz' });
    await putImage(store, [await layer(entries, 'zstd')], { tag: 'zst' });
    await putImage(store, [await layer(entries, 'none')], { tag: 'tar' });
    for (const other of ['zst', 'tar']) {
      const diff = await diffImages({ store, target: 'gz' }, { store, target: other });
      const image = diff.images[0]!;
      assert.equal(diff.identical, false, 'different layer blobs are different images');
      assert.deepEqual(image.files, { added: [], removed: [], changed: [] });
      assert.equal(image.layers.onlyA.length, 1);
      assert.equal(image.layers.onlyB.length, 1);
    }
  });

  it('reports every kind of file attribute that differs', async () => {
    const store = await layout();
    const a = await layer([
      file('f', 'same', { mode: 0o644, uid: 0, gid: 0, mtime: 1 }),
      link('l', 'one'),
      file('x', 'same', { pax: { 'SCHILY.xattr.user.k': 'v' } }),
      { header: tarHeader({ name: 'dev', type: 'char', devmajor: 1, devminor: 3 }) },
      file('t', 'a file'),
    ]);
    const b = await layer([
      file('f', 'same', { mode: 0o755, uid: 1000, gid: 1000, mtime: 2 }),
      link('l', 'two'),
      file('x', 'same', { pax: { 'SCHILY.xattr.user.k': 'w' } }),
      { header: tarHeader({ name: 'dev', type: 'char', devmajor: 1, devminor: 5 }) },
      dir('t/'),
    ]);
    await putImage(store, [a], { tag: 'a' });
    await putImage(store, [b], { tag: 'b' });
    const diff = await diffImages({ store, target: 'a' }, { store, target: 'b' });
    assert.deepEqual(
      diff.images[0]!.files.changed.map((c) => [c.path, c.fields]),
      [
        ['/dev', ['device']],
        ['/f', ['mode', 'uid', 'gid', 'mtime']],
        ['/l', ['linkname']],
        ['/t', ['type', 'mode', 'size', 'sha256']],
        ['/x', ['xattrs']],
      ],
    );
    const quiet = await diffImages({ store, target: 'a' }, { store, target: 'b' }, { ignoreTimestamps: true });
    assert.deepEqual(quiet.images[0]!.files.changed.find((c) => c.path === '/f')?.fields, ['mode', 'uid', 'gid']);
    const text = renderDiff(diff);
    assert.match(
      text,
      /^ {4}~ \/f {2}mode 0644 → 0755, uid 0 → 1000, gid 0 → 1000, mtime 1970-01-01T00:00:01Z → 1970-01-01T00:00:02Z {2}\(layer 0 /m,
    );
    assert.match(text, /^ {4}~ \/l {2}linkname one → two /m);
  });

  it('lists config changes: entrypoint, cmd, env, user, workdir, labels, ports, volumes, stop signal, history', async () => {
    const store = await layout();
    const l = await layer([file('x', 'x')]);
    await putImage(store, [l], {
      tag: 'a',
      config: {
        Entrypoint: ['/a'],
        Cmd: ['run'],
        Env: ['PATH=/bin', 'GONE=1', 'SAME=s'],
        User: 'root',
        Labels: { 'org.opencontainers.image.version': '1', keep: 'k' },
        ExposedPorts: { '80/tcp': {} },
        StopSignal: 'SIGTERM',
      },
      history: [{ created_by: 'step one' }],
    });
    await putImage(store, [l], {
      tag: 'b',
      config: {
        Entrypoint: ['/b', '--flag'],
        Env: ['PATH=/usr/bin:/bin', 'SAME=s', 'NEW=2'],
        User: '65532',
        WorkingDir: '/app',
        Labels: { 'org.opencontainers.image.version': '2', keep: 'k' },
        ExposedPorts: { '443/tcp': {} },
        Volumes: { '/data': {} },
        StopSignal: 'SIGQUIT',
      },
      history: [{ created_by: 'step 1' }, { created_by: 'step two' }],
    });
    const diff = await diffImages({ store, target: 'a' }, { store, target: 'b' });
    const image = diff.images[0]!;
    assert.deepEqual(image.config, [
      { field: 'User', a: 'root', b: '65532' },
      { field: 'WorkingDir', b: '/app' },
      { field: 'Entrypoint', a: ['/a'], b: ['/b', '--flag'] },
      { field: 'Cmd', a: ['run'] },
      { field: 'StopSignal', a: 'SIGTERM', b: 'SIGQUIT' },
      { field: 'Env.GONE', a: '1' },
      { field: 'Env.NEW', b: '2' },
      { field: 'Env.PATH', a: '/bin', b: '/usr/bin:/bin' },
      { field: 'Labels.org.opencontainers.image.version', a: '1', b: '2' },
      { field: 'ExposedPorts.443/tcp', b: true },
      { field: 'ExposedPorts.80/tcp', a: true },
      { field: 'Volumes./data', b: true },
      { field: 'history', a: 1, b: 2 },
      { field: 'history[0].created_by', a: 'step one', b: 'step 1' },
    ]);
    assert.deepEqual(image.files, { added: [], removed: [], changed: [] });
    assert.deepEqual(image.layers.onlyA, []);
    const text = renderDiff(diff);
    assert.match(text, /^ {4}~ Entrypoint: \["\/a"\] → \["\/b","--flag"\]$/m);
    assert.match(text, /^ {4}- Env\.GONE: "1"$/m);
    assert.match(text, /^ {4}\+ Volumes\.\/data: true$/m);
  });

  it('compares the platforms both indexes have and lists the others', async () => {
    const store = await layout();
    const amd = await putImage(store, [await layer([file('arch', 'amd64')])]);
    const arm = await putImage(store, [await layer([file('arch', 'arm64')])], { platform: { os: 'linux', architecture: 'arm64' } });
    const amd2 = await putImage(store, [await layer([file('arch', 'amd64\n')])]);
    const s390 = await putImage(store, [await layer([file('arch', 's390x')])], { platform: { os: 'linux', architecture: 's390x' } });
    await putIndex(
      store,
      [
        { stored: amd, platform: { os: 'linux', architecture: 'amd64' } },
        { stored: arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
      'a',
    );
    await putIndex(
      store,
      [
        { stored: amd2, platform: { os: 'linux', architecture: 'amd64' } },
        { stored: s390, platform: { os: 'linux', architecture: 's390x' } },
      ],
      'b',
    );
    const diff = await diffImages({ store, target: 'a' }, { store, target: 'b' });
    assert.deepEqual(diff.platforms, { onlyA: ['linux/arm64'], onlyB: ['linux/s390x'] });
    assert.deepEqual(
      diff.images.map((i) => [i.platform, i.files.changed.map((c) => c.path)]),
      [['linux/amd64', ['/arch']]],
    );
    assert.match(renderDiff(diff), /^platforms only in a: linux\/arm64\nplatforms only in b: linux\/s390x$/m);
    const one = await diffImages({ store, target: 'a' }, { store, target: 'b' }, { platform: { os: 'linux', architecture: 'amd64' } });
    assert.deepEqual(one.platforms, { onlyA: [], onlyB: [] });
    assert.equal(one.images.length, 1);
    await assert.rejects(
      diffImages({ store, target: 'a' }, { store, target: 'b' }, { platform: { os: 'linux', architecture: 'arm64' } }),
      (err: unknown) =>
        isProvenantError(err, 'NO_MATCHING_PLATFORM') && /has no image for linux\/arm64/.test(err.message) && /s390x/.test(err.hint ?? ''),
    );
    // An index against one of its own platform images: that platform is the same manifest.
    const single = await diffImages(
      { store, target: 'a' },
      { store, target: amd.digest },
      { platform: { os: 'linux', architecture: 'amd64' } },
    );
    assert.equal(single.identical, false);
    assert.equal(single.images[0]?.identical, true);
    await assert.rejects(diffImages({ store, target: 'a' }, { store, target: 'nope' }), code('NOT_FOUND'));
  });

  it('shows a signature that only one copy of the same image has, without reading its layers', async () => {
    const src = await layout();
    const l = await layer([file('x', 'x')]);
    await putImage(src, [l], { tag: 'v1' });
    const dst = await layout();
    await copyImage(src, 'v1', dst, { tags: ['v1'] });
    const signer = new KeySigner(generateSigningKeyPair().privateKey);
    await signImage(dst, 'v1', { signer, dockerReference: 'example/x' });
    const { store, reads } = counting(dst);
    const diff = await diffImages({ store: src, target: 'v1' }, { store, target: 'v1' });
    assert.equal(diff.a.digest, diff.b.digest);
    assert.equal(diff.identical, false);
    const image = diff.images[0]!;
    assert.equal(image.identical, false);
    assert.deepEqual(image.attachments.onlyA, []);
    assert.deepEqual(image.attachments.onlyB.map((i) => i.label).sort(), [
      `signature cosign by a key`,
      `signature referrers https://sigstore.dev/cosign/sign/v1 by key ${signer.keyId}`,
    ]);
    assert.equal(reads.get(l.descriptor.digest), undefined, 'the layer was not read');
    assert.match(renderDiff(diff), /^ {4}\+ signature cosign by a key$/m);
  });
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
  const path = join(dirPath, `${name}.tar.gz`);
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

// ---- packages from dpkg and from attached SBOMs ------------------------------------------

function stanza(name: string, version: string, status = true): string {
  return `Package: ${name}\n${status ? 'Status: install ok installed\n' : ''}Architecture: amd64\nVersion: ${version}\nDescription: ${name}\n`;
}

describe('packages', () => {
  it("reads dpkg's status and file lists, and names the package of each changed file", async () => {
    const store = await layout();
    const a = await layer([
      file('var/lib/dpkg/status', [stanza('hello', '2.10-2'), stanza('gone', '1.0')].join('\n')),
      file('var/lib/dpkg/info/hello.list', '/.\n/usr\n/usr/bin\n/usr/bin/hello\n'),
      file('var/lib/dpkg/info/gone.list', '/.\n/usr/share/gone\n'),
      file('usr/bin/hello', 'v2'),
      file('usr/share/gone', 'g'),
    ]);
    const b = await layer([
      file('var/lib/dpkg/status', [stanza('hello', '2.10-3'), stanza('new', '1.0')].join('\n')),
      file('var/lib/dpkg/info/hello.list', '/.\n/usr\n/usr/bin\n/usr/bin/hello\n'),
      file('var/lib/dpkg/info/new.list', '/.\n/usr/share/new\n'),
      file('usr/bin/hello', 'v3'),
      file('usr/share/new', 'n'),
    ]);
    await putImage(store, [a], { tag: 'a' });
    await putImage(store, [b], { tag: 'b' });
    const image = (await diffImages({ store, target: 'a' }, { store, target: 'b' })).images[0]!;
    assert.deepEqual(image.packages.source, { a: 'dpkg', b: 'dpkg' });
    assert.deepEqual(
      image.packages.changed.map((c) => [c.name, c.a.version, c.b.version, c.files]),
      [['hello', '2.10-2', '2.10-3', ['/usr/bin/hello']]],
    );
    assert.deepEqual(image.packages.removed, [
      { name: 'gone', version: '1.0', ecosystem: 'deb', arch: 'amd64', files: ['/usr/share/gone'] },
    ]);
    assert.deepEqual(
      image.packages.added.map((p) => [p.name, p.files]),
      [['new', ['/usr/share/new']]],
    );
    assert.equal(image.files.changed.find((c) => c.path === '/usr/bin/hello')?.package, 'hello');
  });

  it("reads distroless' status.d and its md5sums", async () => {
    const store = await layout();
    const md5 = (p: string) => `${'0'.repeat(32)}  ${p}\n`;
    const a = await layer([
      file('var/lib/dpkg/status.d/base', stanza('base', '1', false)),
      file('var/lib/dpkg/status.d/base.md5sums', md5('etc/base')),
      file('etc/base', '1'),
    ]);
    const b = await layer([
      file('var/lib/dpkg/status.d/base', stanza('base', '2', false)),
      file('var/lib/dpkg/status.d/base.md5sums', md5('etc/base')),
      file('etc/base', '2'),
    ]);
    await putImage(store, [a], { tag: 'a' });
    await putImage(store, [b], { tag: 'b' });
    const image = (await diffImages({ store, target: 'a' }, { store, target: 'b' })).images[0]!;
    assert.deepEqual(
      image.packages.changed.map((c) => [c.name, c.a.version, c.b.version, c.files]),
      [['base', '1', '2', ['/etc/base']]],
    );
  });

  it('falls back to an attached SBOM when an image has no package database', async () => {
    const { statement, storeAttestations } = await import('../../src/attest/storage.ts');
    const store = await layout();
    const spdx = (version: string) => ({
      spdxVersion: 'SPDX-2.3',
      packages: [
        { name: 'image', versionInfo: 'x', primaryPackagePurpose: 'CONTAINER' },
        {
          name: 'left-pad',
          versionInfo: version,
          externalRefs: [{ referenceType: 'purl', referenceLocator: `pkg:npm/left-pad@${version}` }],
        },
      ],
    });
    for (const [tag, version] of [
      ['a', '1.0.0'],
      ['b', '1.3.0'],
    ] as const) {
      const image = await putImage(store, [await layer([file('app.js', version)])], { tag });
      await storeAttestations(
        store,
        image,
        [{ manifest: image, statements: [statement('https://spdx.dev/Document', spdx(version), [{ name: 'x', digest: image.digest }])] }],
        'referrers',
      );
    }
    const image = (await diffImages({ store, target: 'a' }, { store, target: 'b' })).images[0]!;
    assert.deepEqual(image.packages.source, { a: 'sbom', b: 'sbom' });
    assert.deepEqual(
      image.packages.changed.map((c) => [c.ecosystem, c.name, c.a.version, c.b.version]),
      [['npm', 'left-pad', '1.0.0', '1.3.0']],
    );
  });
});
