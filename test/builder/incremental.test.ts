// Rebuilds that redo only what changed: with `layering: per-package`, a build after one package
// changed writes one new layer, and a push of it sends that layer, the config and the manifests.
// And a build told not to use the layer cache keeps nothing of its layers there.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { LIBDEFLATE_WASM_SHA256, PINNED_GZIP_BLOCK_SIZE, PINNED_GZIP_LEVEL } from '../../src/archive/deflate.ts';
import { type TarWriteEntry, tarBytes, tarHeader } from '../../src/archive/tar.ts';
import { buildImage, writeBuild } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import { formatLock, type Lock, parseLock } from '../../src/builder/lock.ts';
import { isProvenantError, ProvenantError } from '../../src/errors.ts';
import type { BlobSource } from '../../src/io/types.ts';
import { writeAr } from '../../src/pkg/deb/ar.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { RegistryStore } from '../../src/store/registry.ts';
import type { ContentStore } from '../../src/store/types.ts';
import { compressibleBytes } from '../helpers/images.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { useTempDir } from '../helpers/temp.ts';

const EPOCH = 1_700_000_000;
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A .deb of `name` at `version` holding /usr/share/<name>/small and /usr/lib/<name>/large (made from `seed`). */
async function deb(name: string, version: string, seed: number): Promise<Uint8Array> {
  const small = enc(`${name} ${version}\n`);
  const large = compressibleBytes(200_000, seed);
  const dir = (path: string): TarWriteEntry => ({ header: tarHeader({ name: path, type: 'dir', mode: 0o755, mtime: EPOCH }) });
  const file = (path: string, body: Uint8Array): TarWriteEntry => ({
    header: tarHeader({ name: path, size: body.length, mtime: EPOCH }),
    body,
  });
  const data = [
    dir('./'),
    dir('./usr/'),
    dir('./usr/lib/'),
    dir(`./usr/lib/${name}/`),
    file(`./usr/lib/${name}/large`, large),
    dir('./usr/share/'),
    dir(`./usr/share/${name}/`),
    file(`./usr/share/${name}/small`, small),
  ];
  const md5sums = enc(`${md5(large)}  usr/lib/${name}/large\n${md5(small)}  usr/share/${name}/small\n`);
  const control = enc(`Package: ${name}\nVersion: ${version}\nArchitecture: amd64\nMaintainer: A <a@example.org>\nDescription: ${name}\n`);
  const controlTar = await tarBytes([dir('./'), file('./control', control), file('./md5sums', md5sums)]);
  return writeAr([
    { name: 'debian-binary', data: enc('2.0\n') },
    { name: 'control.tar.gz', data: gzipSync(controlTar) },
    { name: 'data.tar.gz', data: gzipSync(await tarBytes(data)) },
  ]);
}

/** Writes the .debs and the lock that pins them; returns the lock's path. */
async function pinned(dir: string, name: string, debs: readonly { name: string; version: string; bytes: Uint8Array }[]): Promise<string> {
  const packages = [];
  for (const d of debs) {
    const file = `${d.name}_${d.version}_amd64.deb`;
    await writeFile(join(dir, file), d.bytes);
    packages.push({ name: d.name, version: d.version, architecture: 'amd64', url: file, checksum: `sha256:${sha256(d.bytes)}` });
  }
  const lock: Lock = {
    version: 'v1',
    config: { name: 'image.yaml', checksum: '' },
    contents: { keyring: [], build_repositories: [], runtime_repositories: [], repositories: [], packages },
  };
  const path = join(dir, name);
  await writeFile(path, formatLock(lock));
  return path;
}

/** Builds the image `config` describes with the packages `lock` pins, at EPOCH, with the cache in `cacheDir`. */
async function buildPinned(config: string, lock: string, cacheDir: string, options: { layerCache?: boolean } = {}) {
  return buildImage({
    config: await loadConfig(config, { hostArch: 'x86_64' }),
    configPath: config,
    lock: parseLock(await readFile(lock, 'utf8'), lock),
    // The .debs are the test's own, beside the lock: no repository lists them to check against.
    lockVouches: true,
    sourceDateEpoch: EPOCH,
    cacheDir,
    ...options,
  });
}

/** A store that records which blobs it stored (as opposed to found there) and which manifests it was given. */
function recording(store: ContentStore): { store: ContentStore; blobs: string[]; manifests: string[] } {
  const blobs: string[] = [];
  const manifests: string[] = [];
  const wrapped = new Proxy(store, {
    get(target, field, receiver) {
      if (field === 'putBlob') {
        return async (source: BlobSource, options?: object) => {
          const outcome = await target.putBlob(source, options);
          if (outcome === 'stored') blobs.push(source.descriptor.digest);
          return outcome;
        };
      }
      if (field === 'putManifest') {
        return async (stored: { digest: string }, options?: object) => {
          manifests.push(stored.digest);
          return target.putManifest(stored as never, options);
        };
      }
      const value = Reflect.get(target, field, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store: wrapped, blobs, manifests };
}

describe('a rebuild after one package changed, with per-package layers', { skip: registryMissing }, () => {
  const tempDir = useTempDir('incremental');
  const reg = useRegistry();

  it('makes one new layer, and a push sends that layer, the config and the manifests', async () => {
    const dir = await tempDir();
    const config = join(dir, 'image.yaml');
    await writeFile(
      config,
      [
        'contents:',
        '  repositories: [deb http://deb.invalid/debian bookworm main]',
        '  packages: [pkg-a, pkg-b, pkg-c]',
        'archs: [x86_64]',
        'layering:',
        '  strategy: per-package',
        '',
      ].join('\n'),
    );
    const a = { name: 'pkg-a', version: '1.0', bytes: await deb('pkg-a', '1.0', 1) };
    const b1 = { name: 'pkg-b', version: '1.0', bytes: await deb('pkg-b', '1.0', 2) };
    const b2 = { name: 'pkg-b', version: '1.1', bytes: await deb('pkg-b', '1.1', 3) };
    const c = { name: 'pkg-c', version: '1.0', bytes: await deb('pkg-c', '1.0', 4) };
    const cacheDir = join(dir, 'cache');
    const build = (lock: string) => buildPinned(config, lock, cacheDir);

    const first = await build(await pinned(dir, 'first.lock', [a, b1, c]));
    const firstLayers = first.images[0]!.layers;
    // The first layer (folders, the build's own files), then one per package, by name.
    assert.equal(firstLayers.length, 4);
    assert.ok(firstLayers.every((l) => !l.reused));

    const layout = await LayoutStore.open(join(dir, 'layout'), { create: true });
    await writeBuild(first, layout, ['latest']);
    const repo = 'incremental/image';
    const registry = () => new RegistryStore(new RegistryClient(reg.host), repo);
    const firstPush = recording(registry());
    await writeBuild(first, firstPush.store, ['latest']);
    assert.equal(firstPush.blobs.length, 5, 'four layers and the config');
    const blobsBefore = new Set(await readdir(join(dir, 'layout', 'blobs', 'sha256')));

    const second = await build(await pinned(dir, 'second.lock', [a, b2, c]));
    const secondLayers = second.images[0]!.layers;
    assert.equal(secondLayers.length, 4);
    const rewritten = secondLayers.filter((l) => !l.reused);
    assert.equal(rewritten.length, 1, 'only the changed package is compressed again');
    assert.equal(secondLayers.indexOf(rewritten[0]!), 2, "it is pkg-b's layer");
    for (const i of [0, 1, 3]) assert.equal(secondLayers[i]!.digest, firstLayers[i]!.digest, `layer ${i} is the same blob`);

    // Exactly one new layer blob in the store; the rest that is new is the config and the manifests.
    await writeBuild(second, layout, ['latest']);
    const added = (await readdir(join(dir, 'layout', 'blobs', 'sha256'))).filter((n) => !blobsBefore.has(n)).map((n) => `sha256:${n}`);
    const image = second.images[0]!;
    assert.deepEqual(
      added.sort(),
      [rewritten[0]!.digest, image.config.descriptor.digest, image.manifest.digest, second.index!.digest].sort(),
    );

    // The push sends that layer and the config, then the manifest and the index.
    const push = recording(registry());
    await writeBuild(second, push.store, ['latest']);
    assert.deepEqual(push.blobs, [rewritten[0]!.digest, image.config.descriptor.digest]);
    assert.deepEqual(push.manifests, [image.manifest.digest, second.index!.digest]);
    await layout.close();
  });
});

/** An image of pkg-a alone, pinned by a lock, in `dir`, with its cache in `dir`/cache. */
async function onePackage(dir: string): Promise<{ config: string; lock: string; cacheDir: string }> {
  const config = join(dir, 'image.yaml');
  await writeFile(
    config,
    ['contents:', '  repositories: [deb http://deb.invalid/debian bookworm main]', '  packages: [pkg-a]', 'archs: [x86_64]', ''].join('\n'),
  );
  const lock = await pinned(dir, 'image.lock', [{ name: 'pkg-a', version: '1.0', bytes: await deb('pkg-a', '1.0', 1) }]);
  return { config, lock, cacheDir: join(dir, 'cache') };
}

describe('a build with the layer cache off', () => {
  const tempDir = useTempDir('layer-cache-off');

  it('keeps nothing of its layer in the cache and makes the same image', async () => {
    const { config, lock, cacheDir } = await onePackage(await tempDir());
    const build = (layerCache: boolean) => buildPinned(config, lock, cacheDir, { layerCache });
    // The cache's key files are named by the SHA-256 of the key (src/pkg/fetch.ts); the large
    // body's compressed blocks are kept under the key layer-segments.ts makes of its SHA-256.
    const keys = join(cacheDir, 'keys');
    const large = compressibleBytes(200_000, 1);
    const segmentKey = sha256(
      enc(`gzip-segment:${LIBDEFLATE_WASM_SHA256}:${PINNED_GZIP_LEVEL}:${PINNED_GZIP_BLOCK_SIZE}:${sha256(large)}`),
    );

    const off = await build(false);
    const keptOff = new Set(await readdir(keys));
    assert.ok(!keptOff.has(segmentKey), "the large body's compressed blocks are not kept");

    const on = await build(true);
    assert.equal(on.images[0]!.manifest.digest, off.images[0]!.manifest.digest);
    const added = (await readdir(keys)).filter((k) => !keptOff.has(k));
    assert.ok(added.includes(segmentKey), 'with the layer cache, they are kept under that key');
    // And the layer itself, under its record and its blob; and what the build made of its inputs,
    // under its record and its file lists (src/builder/memo.ts).
    assert.equal(added.length, 5, `keys added with the layer cache: ${added.join(', ')}`);
  });
});

describe('a cached layer damaged in place', () => {
  const tempDir = useTempDir('layer-damaged');

  it('fails the write that finds it, naming the cache, and is made anew by the next build', async () => {
    const dir = await tempDir();
    const { config, lock, cacheDir } = await onePackage(dir);
    const build = () => buildPinned(config, lock, cacheDir);
    const first = await build();
    const path = first.images[0]!.layers[0]!.source.path!;
    // A time in whole seconds, which utimes sets exactly: the next build hashes the file (a new
    // version of it) and records that version; the damage below then keeps it.
    const second = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
    await utimes(path, second, second);
    assert.equal((await build()).images[0]!.layers[0]!.reused, true);
    const bytes = await readFile(path);
    bytes[bytes.length - 20] = (bytes[bytes.length - 20] ?? 0) ^ 1;
    await writeFile(path, bytes);
    await utimes(path, second, second);

    const damaged = await build();
    assert.equal(damaged.images[0]!.layers[0]!.reused, true, 'its version unchanged, it is not hashed');
    const layout = await LayoutStore.open(join(dir, 'layout'), { create: true });
    await assert.rejects(writeBuild(damaged, layout, ['latest']), (err: unknown) => {
      assert.ok(isProvenantError(err, 'DIGEST_MISMATCH'), String(err));
      assert.match(err.message, /build cache's copy of layer/);
      assert.equal(err.where, path);
      assert.match(err.hint ?? '', /build again/);
      return true;
    });
    const again = await build();
    assert.equal(again.images[0]!.layers[0]!.reused, false, 'dropped from the cache, it is made anew');
    assert.equal(again.index!.digest, first.index!.digest);
    await writeBuild(again, layout, ['latest']);
    await layout.close();
  });

  it("passes on a store's own refusal of a sound cached layer as it is, and keeps the layer", async () => {
    const { config, lock, cacheDir } = await onePackage(await tempDir());
    const build = () => buildPinned(config, lock, cacheDir);
    await build();
    const kept = await build();
    assert.equal(kept.images[0]!.layers[0]!.reused, true);
    // A registry that says the digest is wrong (DIGEST_INVALID) of bytes that are right.
    const refusal = new ProvenantError('DIGEST_MISMATCH', 'the registry refused the blob: DIGEST_INVALID', { where: 'registry' });
    const refusing = new Proxy(await LayoutStore.open(join(cacheDir, '..', 'layout'), { create: true }), {
      get(target, field, receiver) {
        if (field === 'putBlob') return async () => Promise.reject(refusal);
        const value = Reflect.get(target, field, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    await assert.rejects(writeBuild(kept, refusing, ['latest']), (err: unknown) => err === refusal);
    assert.equal((await build()).images[0]!.layers[0]!.reused, true, 'still in the cache');
  });
});
