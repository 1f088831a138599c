// Hard links in layers: every layer must extract on its own with GNU tar, and the image with
// umoci, whatever the order of a link and its file (a link to a name not yet extracted is what
// both refuse) and whatever the layering.
import assert from 'node:assert/strict';
import { lstat, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { readTar } from '../../src/archive/tar.ts';
import { buildImage, writeBuild } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import { layerBytes, treeLayer } from '../../src/builder/layer.ts';
import { generateApkKeyPair } from '../../src/pkg/apk/keys.ts';
import { type ApkSpec, buildApk, buildApkIndex } from '../../src/pkg/apk/write.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { type FsNode, Tree } from '../../src/vfs/tree.ts';
import { sh, toolMissing } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';

const EPOCH = 1_700_000_000;
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const tempDir = useTempDir('hardlinks');

/** A signed repository of `specs` for x86_64, with its key, in `dir`. */
async function repository(dir: string, specs: ApkSpec[]): Promise<void> {
  const key = generateApkKeyPair('links.rsa', { bits: 2048 });
  const signing = { privateKeyPem: key.privateKeyPem, name: key.name };
  await mkdir(join(dir, 'keys'), { recursive: true });
  await writeFile(join(dir, 'keys', key.name), key.publicKeyPem);
  const apks = await Promise.all(specs.map((s) => buildApk({ builddate: EPOCH, ...s }, { key: signing })));
  await mkdir(join(dir, 'repo', 'x86_64'), { recursive: true });
  for (const [i, s] of specs.entries()) await writeFile(join(dir, 'repo', 'x86_64', `${s.name}-${s.version}.apk`), apks[i]!);
  await writeFile(join(dir, 'repo', 'x86_64', 'APKINDEX.tar.gz'), (await buildApkIndex(apks, { key: signing, mtime: EPOCH })).bytes);
}

const PACKAGES: ApkSpec[] = [
  {
    name: 'app',
    version: '1.0-r0',
    arch: 'x86_64',
    files: [
      { path: 'usr/bin', type: 'dir' },
      { path: 'usr/bin/app', type: 'file', body: enc('#!/bin/sh\necho app\n'), mode: 0o755 },
    ],
  },
  { name: 'other', version: '1.0-r0', arch: 'x86_64', files: [{ path: 'etc/other', type: 'file', body: enc('o\n') }] },
];

/** Extracts a tar with GNU tar into a new folder; fails the test with tar's message. */
async function gnuExtract(tar: Uint8Array, into: string): Promise<void> {
  await mkdir(into, { recursive: true });
  const file = `${into}.tar`;
  await writeFile(file, tar);
  const r = sh('tar', ['-xf', file, '-C', into]);
  assert.equal(r.status, 0, `GNU tar: ${r.stderr}`);
}

/** The manifest digest of each image {@link buildAndUnpack} made, by its name. */
const built = new Map<string, string>();

/** Builds `config` (lines after `contents`), checks each layer with GNU tar and the image with umoci; the rootfs umoci made. */
async function buildAndUnpack(dir: string, lines: string, spill: boolean, name: string): Promise<string> {
  const configPath = join(dir, 'image.yaml');
  await writeFile(
    configPath,
    `contents:\n  repositories: [./repo]\n  keyring: [./keys/links.rsa.pub]\n  packages: [app, other]\narchs: [x86_64]\n${lines}`,
  );
  const loaded = await loadConfig(configPath, { hostArch: 'x86_64' });
  const cacheDir = join(dir, `cache-${spill}`);
  const result = await buildImage({ config: loaded, configPath, sourceDateEpoch: EPOCH, cacheDir, spill });
  const image = result.images[0]!;
  built.set(name, image.manifest.digest);
  for (const [i, layer] of image.layers.entries()) {
    await gnuExtract(gunzipSync(await layerBytes(layer)), join(dir, `gnu-${name}-${i}`));
  }
  const out = join(dir, `layout-${name}`);
  const store = await LayoutStore.open(out, { create: true });
  await writeBuild(result, store, ['latest']);
  await store.putManifest(image.manifest, { tags: ['amd64'] });
  await store.close();
  const rootfs = join(dir, `rootfs-${name}`);
  const r = sh('umoci', ['raw', 'unpack', '--rootless', '--image', `${out}:amd64`, rootfs]);
  assert.equal(r.status, 0, `umoci: ${r.stderr}`);
  return rootfs;
}

/** Asserts that `a` and `b` under `root` are one file (one inode). */
async function sameFile(root: string, a: string, b: string): Promise<void> {
  const [x, y] = await Promise.all([stat(join(root, a)), stat(join(root, b))]);
  assert.equal(x.ino, y.ino, `${a} and ${b} are not one file`);
}

describe('hard links in layers', { skip: toolMissing('tar') || toolMissing('umoci') }, () => {
  it('writes a link that comes before its file as the file, and the file as a link to it', async () => {
    const dir = await tempDir();
    await repository(dir, PACKAGES);
    const lines = 'paths:\n  - {path: /bin/app, type: hardlink, source: /usr/bin/app}\n';
    // With the packages' files in the tree, and kept out of it (src/vfs/spill.ts).
    for (const spill of [false, true]) {
      const rootfs = await buildAndUnpack(dir, lines, spill, `${spill}`);
      await sameFile(rootfs, 'bin/app', 'usr/bin/app');
      await sameFile(join(dir, `gnu-${spill}-0`), 'bin/app', 'usr/bin/app');
    }
  });

  it("puts a link in its file's layer, so that each layer extracts on its own", async () => {
    const dir = await tempDir();
    await repository(dir, PACKAGES);
    for (const strategy of ['per-package', 'origin']) {
      const lines = `layering: {strategy: ${strategy}, budget: 3}\npaths:\n  - {path: /usr/local/bin/app2, type: hardlink, source: /usr/bin/app}\n  - {path: /a/app, type: hardlink, source: /usr/bin/app}\n`;
      const rootfs = await buildAndUnpack(dir, lines, false, strategy);
      await sameFile(rootfs, 'usr/local/bin/app2', 'usr/bin/app');
      await sameFile(rootfs, 'a/app', 'usr/bin/app');
      // The app's layer holds the file and both links; the other layers none of them.
      const layers = (await readdir(dir)).filter((n) => n.startsWith(`gnu-${strategy}-`) && !n.endsWith('.tar'));
      assert.equal(layers.length, 3);
      const found = await Promise.all(
        layers.map(async (l) => (await stat(join(dir, l, 'usr/bin/app')).catch(() => undefined)) !== undefined),
      );
      assert.equal(found.filter(Boolean).length, 1);
      const appLayer = layers[found.indexOf(true)]!;
      await sameFile(join(dir, appLayer), 'usr/local/bin/app2', 'usr/bin/app');
      await sameFile(join(dir, appLayer), 'a/app', 'usr/bin/app');
      for (const l of layers)
        if (l !== appLayer) for (const p of ['a/app', 'usr/local/bin/app2']) await assert.rejects(stat(join(dir, l, p)));
    }
  });

  it("writes a group of links to one file with the first name carrying the body, a package's as a build's", async () => {
    const tree = new Tree();
    const node: FsNode = { type: 'file', mode: 0o755, uid: 0, gid: 0, mtime: EPOCH, body: enc('body\n'), owner: 'pkg' };
    const link = (target: string): FsNode => ({ ...node, type: 'hardlink', linkname: target, body: undefined });
    tree.put('usr/bin/z', node);
    tree.put('usr/bin/a', link('usr/bin/z'));
    tree.put('usr/bin/m', link('usr/bin/z'));
    tree.put('usr/sbin/y', link('usr/bin/z'));
    // A group in order is written as before.
    tree.put('opt/first', { ...node, body: enc('first\n') });
    tree.put('opt/second', link('opt/first'));
    const tar = gunzipSync(await layerBytes(await treeLayer(tree)));
    const written: string[] = [];
    for await (const e of readTar([tar])) {
      for await (const _ of e.body);
      if (e.header.type === 'file' || e.header.type === 'hardlink') written.push(`${e.header.name} ${e.header.type} ${e.header.linkname}`);
    }
    assert.deepEqual(written, [
      'opt/first file ',
      'opt/second hardlink opt/first',
      'usr/bin/a file ',
      'usr/bin/m hardlink usr/bin/a',
      'usr/bin/z hardlink usr/bin/a',
      'usr/sbin/y hardlink usr/bin/a',
    ]);
    const dir = await tempDir();
    await gnuExtract(tar, join(dir, 'x'));
    for (const name of ['usr/bin/m', 'usr/bin/z', 'usr/sbin/y']) {
      assert.equal((await stat(join(dir, 'x', name))).ino, (await stat(join(dir, 'x', 'usr/bin/a'))).ino);
    }
    assert.equal((await stat(join(dir, 'x', 'usr/bin/a'))).nlink, 4);
    assert.equal((await stat(join(dir, 'x', 'opt/second'))).ino, (await stat(join(dir, 'x', 'opt/first'))).ino);
  });

  it('keeps the file in a link whose source is then given something else, in a tree or with files kept out of it', async () => {
    const dir = await tempDir();
    await repository(dir, PACKAGES);
    // (A symlink entry over the source is refused, as apko refuses it: an empty file replaces it.)
    const lines = 'paths:\n  - {path: /bin/app, type: hardlink, source: /usr/bin/app}\n  - {path: /usr/bin/app, type: empty-file}\n';
    for (const spill of [false, true]) {
      const rootfs = await buildAndUnpack(dir, lines, spill, `replaced-${spill}`);
      for (const root of [rootfs, join(dir, `gnu-replaced-${spill}-0`)]) {
        assert.equal(await readFile(join(root, 'bin/app'), 'utf8'), '#!/bin/sh\necho app\n');
        assert.ok((await lstat(join(root, 'bin/app'))).isFile());
        assert.equal(await readFile(join(root, 'usr/bin/app'), 'utf8'), '');
      }
    }
    assert.equal(built.get('replaced-true'), built.get('replaced-false'));
    // In layers of their own, each extracts alone (a layers' build starts in a tree).
    const rootfs = await buildAndUnpack(dir, `layering: {strategy: per-package, budget: 3}\n${lines}`, false, 'replaced-layers');
    assert.equal(await readFile(join(rootfs, 'bin/app'), 'utf8'), '#!/bin/sh\necho app\n');
  });
});
