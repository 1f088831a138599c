import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { crc32, gunzipSync } from 'node:zlib';
import {
  defaultGzipWorkers,
  deflateBlock,
  PINNED_GZIP_LEVEL,
  type PrecompressedSegment,
  precompressSegment,
} from '../../src/archive/deflate.ts';
import {
  type KeptBlocks,
  LAYER_SEGMENT_MIN,
  type Layer,
  type LayerCache,
  LayerPrecompressor,
  layerBytes,
  type SegmentCache,
  treeLayer,
  treeWalk,
  walkLayer,
  workersFor,
} from '../../src/builder/layer.ts';
import { isProvenantError } from '../../src/errors.ts';
import { fileVersion } from '../../src/io/files.ts';
import { COLLECT_EVERY_RECORDS, collectionsAsked } from '../../src/io/memory.ts';
import { type CachePut, DownloadCache } from '../../src/pkg/fetch.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { type FileBody, readBody } from '../../src/vfs/body.ts';
import { type FsNode, Tree } from '../../src/vfs/tree.ts';
import { concat, readAll, text } from '../archive/helpers.ts';
import { compressibleBytes, pseudoRandomBytes } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

const file = (bytes: Uint8Array, mode = 0o644): FsNode => ({ type: 'file', mode, uid: 0, gid: 0, mtime: 1_700_000_000, body: bytes });

/**
 * Small files and segments side by side: a body of several 1 MiB blocks, one exactly at the
 * segment threshold and one just below it, and one Uint8Array held by two paths.
 */
function sampleTree(): Tree {
  const tree = new Tree();
  const shared = compressibleBytes(150_000, 5);
  tree.mkdirAll('var/empty');
  tree.put('etc/hostname', file(text('box\n')));
  tree.put('etc/empty', file(new Uint8Array(0)));
  tree.put('usr/bin/tool', file(compressibleBytes(3 * 1024 * 1024 + 123_457, 1), 0o755));
  tree.put('usr/lib/exact', file(compressibleBytes(LAYER_SEGMENT_MIN, 2)));
  tree.put('usr/lib/below', file(compressibleBytes(LAYER_SEGMENT_MIN - 1, 3)));
  tree.put('usr/lib/mid', file(compressibleBytes(200_000, 4)));
  tree.put('usr/lib/shared-a', file(shared));
  tree.put('usr/lib/shared-b', file(shared));
  tree.put('usr/lib/link', { type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, linkname: 'mid' });
  tree.put('usr/share/doc/readme', file(text('hello\n'.repeat(1000))));
  return tree;
}

/** The distinct bodies of the tree (all in memory here), in walk order. */
function bodies(tree: Tree): Uint8Array[] {
  const out = new Set<Uint8Array>();
  for (const path of tree.paths()) {
    const b = tree.get(path)?.body;
    if (b !== undefined) out.add(readBody(b));
  }
  return [...out];
}

function precompressor(tree: Tree, workers?: number, cache?: SegmentCache): LayerPrecompressor {
  const pre = new LayerPrecompressor(workers, cache);
  for (const b of bodies(tree)) pre.add(b);
  return pre;
}

/** Folders for what a {@link memoryCache} hands out as files. */
const memoryCacheFiles = useTempDir('layer-memory-cache');

/** A cache in a Map that counts its calls and hands out copies, as a cache on disk would (`checked`: a file of its own). */
function memoryCache(map = new Map<string, Uint8Array>()): {
  map: Map<string, Uint8Array>;
  counts: { gets: number; hits: number; puts: number; found: number };
  cache: SegmentCache;
} {
  const counts = { gets: 0, hits: 0, puts: 0, found: 0 };
  const cache: SegmentCache = {
    has(key) {
      if (!map.has(key)) return false;
      counts.found++;
      return true;
    },
    async forget(key) {
      map.delete(key);
    },
    async get(key) {
      counts.gets++;
      const bytes = map.get(key);
      if (bytes !== undefined) counts.hits++;
      return bytes?.slice();
    },
    async checked(key) {
      counts.gets++;
      const bytes = map.get(key);
      if (bytes === undefined) return undefined;
      counts.hits++;
      const path = join(await memoryCacheFiles(), 'kept');
      await writeFile(path, bytes);
      return { path, size: bytes.length };
    },
    async putStream(key) {
      let bytes: Uint8Array = new Uint8Array(0);
      return {
        async write(chunk) {
          bytes = concat([bytes, chunk]);
        },
        async writeAt(position, patch) {
          assert.ok(position + patch.length <= bytes.length, 'written over bytes already written');
          bytes.set(patch, position);
        },
        async finish() {
          counts.puts++;
          map.set(key, bytes);
        },
        async abort() {},
      };
    },
  };
  return { map, counts, cache };
}

async function assertSameLayer(got: Layer, expected: Layer, message: string): Promise<void> {
  assert.ok(Buffer.from(await layerBytes(got)).equals(await layerBytes(expected)), `${message}: bytes`);
  assert.equal(got.digest, expected.digest, message);
  assert.equal(got.diffId, expected.diffId, message);
  assert.equal(got.tarSize, expected.tarSize, message);
}

describe('treeLayer and LayerPrecompressor', () => {
  it('gives the same layer with or without precompression, for any worker count', async () => {
    const tree = sampleTree();
    const expected = await treeLayer(tree, { workers: 0 });

    const expectedBytes = await layerBytes(expected);
    const tar = gunzipSync(expectedBytes);
    assert.equal(expected.digest, `sha256:${sha256(expectedBytes)}`);
    assert.equal(expected.diffId, `sha256:${sha256(tar)}`);
    assert.equal(expected.tarSize, tar.length);
    const entries = await readAll([tar]);
    assert.deepEqual(
      entries.map((e) => e.header.name),
      tree.paths(),
    );
    for (const { header, body: got } of entries) {
      const node = tree.get(header.name)!;
      assert.equal(header.type, node.type, header.name);
      assert.equal(header.mode, node.mode, header.name);
      assert.ok(Buffer.from(got).equals(readBody(node.body)), header.name);
    }

    const variants: Array<[string, () => Promise<Layer>]> = [
      ['2 workers', () => treeLayer(tree, { workers: 2 })],
      ['precompressed by 2, streamed by 1', () => treeLayer(tree, { workers: 1, precompressed: precompressor(tree, 2) })],
      ['precompressed by 2, streamed in this thread', () => treeLayer(tree, { workers: 0, precompressed: precompressor(tree, 2) })],
      ['precompressor of 0 workers', () => treeLayer(tree, { workers: 2, precompressed: precompressor(tree, 0) })],
      ['precompressor of default workers', () => treeLayer(tree, { workers: 2, precompressed: precompressor(tree) })],
      ['precompressor with nothing added', () => treeLayer(tree, { workers: 2, precompressed: new LayerPrecompressor(2) })],
      ['precompressor with a cache', () => treeLayer(tree, { workers: 2, precompressed: precompressor(tree, 2, memoryCache().cache) })],
    ];
    for (const [name, build] of variants) await assertSameLayer(await build(), expected, name);
  });

  it('makes each body from LAYER_SEGMENT_MIN bytes up a segment, compressed as it would be alone', async () => {
    const tree = sampleTree();
    const stream = Buffer.from(await layerBytes(await treeLayer(tree, { workers: 2 })));
    const segments = bodies(tree).filter((b) => b.length >= LAYER_SEGMENT_MIN);
    assert.equal(segments.length, 4);
    for (const b of segments) {
      const blocks = await precompressSegment(b, { workers: 1 })!.blocks;
      assert.ok(stream.includes(Buffer.from(concat(blocks))), `the ${b.length}-byte body's ${blocks.length} blocks`);
    }
    // A body one byte shorter shares its block with the headers around it.
    const below = readBody(tree.get('usr/lib/below')!.body);
    assert.ok(!stream.includes(Buffer.from(deflateBlock(below, PINNED_GZIP_LEVEL, false))));
  });

  it('hands each segment the blocks the precompressor has for it', async () => {
    const tree = sampleTree();
    const expected = await treeLayer(tree, { workers: 0 });
    // Level 1 blocks that claim the default level: a layer built without them would not change.
    class Mislabelled extends LayerPrecompressor {
      readonly asked: Uint8Array[] = [];
      override segment(_body: unknown, b: Uint8Array): PrecompressedSegment | undefined {
        this.asked.push(b);
        const made = precompressSegment(b, { workers: 2, level: 1 })!;
        return { ...made, level: PINNED_GZIP_LEVEL };
      }
    }
    const pre = new Mislabelled(2);
    const layer = await treeLayer(tree, { workers: 2, precompressed: pre });
    for (const b of bodies(tree).filter((b) => b.length >= LAYER_SEGMENT_MIN)) {
      assert.ok(pre.asked.includes(b), `the ${b.length}-byte body`);
    }
    assert.notEqual(layer.digest, expected.digest);
    assert.equal(layer.diffId, expected.diffId);
    assert.ok(Buffer.from(gunzipSync(await layerBytes(layer))).equals(gunzipSync(await layerBytes(expected))));
  });

  it('keeps compressed bodies in the cache and takes them from it in the next build', async () => {
    const tree = sampleTree();
    const expected = await treeLayer(tree, { workers: 0 });
    const first = memoryCache();
    const pre = precompressor(tree, 2, first.cache);
    await assertSameLayer(await treeLayer(tree, { workers: 2, precompressed: pre }), expected, 'first build');
    await pre.flush();
    // Compressed ahead and kept, then read back from the cache by the layer (the body two paths
    // share, twice).
    assert.deepEqual(first.counts, { gets: 5, hits: 5, puts: 4, found: 0 });
    assert.equal(first.map.size, 4);

    const again = precompressor(tree, 2, first.cache);
    await assertSameLayer(await treeLayer(tree, { workers: 2, precompressed: again }), expected, 'second build');
    await again.flush();
    assert.deepEqual(first.counts, { gets: 10, hits: 10, puts: 4, found: 4 }, 'every segment came from the cache');

    const damages: Record<string, (bytes: Uint8Array) => Uint8Array> = {
      truncated: (bytes) => bytes.subarray(0, -1),
      'one byte more': (bytes) => concat([bytes, Uint8Array.of(0)]),
      'one block more': (bytes) => {
        const out = bytes.slice();
        const view = new DataView(out.buffer);
        view.setUint32(0, view.getUint32(0, true) + 1, true);
        return out;
      },
      'an empty block': (bytes) => {
        const out = bytes.slice();
        new DataView(out.buffer).setUint32(4, 0, true);
        return out;
      },
      empty: () => new Uint8Array(0),
    };
    for (const [name, damage] of Object.entries(damages)) {
      const damaged = memoryCache(new Map([...first.map].map(([key, bytes]) => [key, damage(bytes)])));
      const pre = precompressor(tree, 2, damaged.cache);
      await assertSameLayer(await treeLayer(tree, { workers: 2, precompressed: pre }), expected, name);
      await pre.flush();
      // (The body two paths share may be written twice: both read the damaged entry.)
      assert.ok(damaged.counts.puts >= 4, `${name}: every entry is written again`);
      for (const [key, bytes] of first.map) assert.ok(Buffer.from(damaged.map.get(key)!).equals(bytes), `${name}: ${key}`);
    }
  });

  it('ignores bodies it was given that the tree no longer holds', async () => {
    for (const cache of [undefined, memoryCache().cache]) {
      const tree = sampleTree();
      const expected = await treeLayer(tree, { workers: 0 });
      const pre = precompressor(tree, 2, cache);
      // The same content in other arrays: the layer is the same.
      for (const path of tree.paths()) {
        const node = tree.get(path)!;
        if (node.body !== undefined) tree.put(path, { ...node, body: readBody(node.body).slice() });
      }
      await assertSameLayer(await treeLayer(tree, { workers: 2, precompressed: pre }), expected, 'copies');

      // Other content of the same length: the blocks made for the old bodies must not be used.
      const replaced = sampleTree();
      const again = precompressor(replaced, 2, cache);
      const tool = replaced.get('usr/bin/tool')!;
      replaced.put('usr/bin/tool', { ...tool, body: compressibleBytes(readBody(tool.body).length, 99) });
      replaced.put('usr/lib/exact', { ...replaced.get('usr/lib/exact')!, body: compressibleBytes(LAYER_SEGMENT_MIN, 98) });
      const layer = await treeLayer(replaced, { workers: 2, precompressed: again });
      await assertSameLayer(layer, await treeLayer(replaced, { workers: 0 }), 'other content');
      const entries = await readAll([gunzipSync(await layerBytes(layer))]);
      const got = entries.find((e) => e.header.name === 'usr/bin/tool')!;
      assert.ok(Buffer.from(got.body).equals(readBody(replaced.get('usr/bin/tool')!.body)));
    }
  });

  it('drops the compression it queued when the build fails, and the pool goes on working', async () => {
    // Far more blocks than two workers take at once (16 queued each): 48 bodies of 1 MiB.
    const bodies = Array.from({ length: 48 }, (_, i) => compressibleBytes(1024 * 1024, 100 + i));
    {
      const pre = new LayerPrecompressor(2);
      for (const b of bodies) pre.add(b);
      pre.cancel();
      const outcomes = await Promise.allSettled(bodies.map((b) => pre.segment(b, b)!.blocks));
      const aborted = outcomes.filter((o) => o.status === 'rejected' && (o.reason as { code?: string }).code === 'ABORTED');
      assert.ok(aborted.length > 0, 'queued blocks were dropped');
      assert.ok(
        outcomes.every((o) => o.status === 'fulfilled' || (o.reason as { code?: string }).code === 'ABORTED'),
        'nothing fails otherwise',
      );
      // Nothing more is started once cancelled.
      const late = compressibleBytes(LAYER_SEGMENT_MIN, 999);
      pre.add(late);
      assert.equal(pre.segment(late, late), undefined);
    }
    {
      // With a cache, bodies wait their turn (8 MiB ahead at most), and those still waiting are dropped.
      const { cache, counts } = memoryCache();
      const pre = new LayerPrecompressor(2, cache);
      for (const b of bodies) pre.add(b);
      pre.cancel();
      await pre.flush();
      assert.ok(counts.puts < bodies.length, `${counts.puts} of ${bodies.length} bodies compressed after the cancel`);
      const late = compressibleBytes(LAYER_SEGMENT_MIN, 999);
      pre.add(late);
      assert.equal(pre.segment(late, late), undefined);
    }
    // A layer made afterwards is right.
    const tree = sampleTree();
    await assertSameLayer(await treeLayer(tree, { workers: 2 }), await treeLayer(tree, { workers: 0 }), 'after a cancel');
  });
});

describe('layers from bodies on disk, written into the cache and found there again', () => {
  const tempDir = useTempDir('layer-cache');

  /** The sample tree with every body moved into one file on disk, as an unpacked package keeps them. */
  async function onDisk(dir: string, tree: Tree): Promise<{ tree: Tree; data: string }> {
    const data = join(dir, 'data');
    const parts: Uint8Array[] = [];
    const placed = new Map<Uint8Array, FileBody>();
    let at = 7; // not at the start of the file, as in a tar
    parts.push(new Uint8Array(7));
    const out = new Tree();
    for (const path of tree.paths()) {
      const node = tree.get(path)!;
      if (node.type !== 'file') {
        out.put(path, node);
        continue;
      }
      const bytes = readBody(node.body);
      let body = placed.get(bytes);
      if (body === undefined) {
        body = { path: data, offset: at, size: bytes.length, sha256: sha256(bytes), crc32: crc32(bytes) >>> 0 };
        placed.set(bytes, body);
        parts.push(bytes);
        at += bytes.length;
      }
      out.put(path, { ...node, body });
    }
    await writeFile(data, concat(parts));
    return { tree: out, data };
  }

  it('frees the compressed blocks it reads from the cache as it writes them, and gives the same layer', async () => {
    const dir = await tempDir();
    const memory = sampleTree();
    const expected = await treeLayer(memory, { workers: 0 });
    const { tree } = await onDisk(dir, memory);
    const cache = new DownloadCache(join(dir, 'cache'));
    // Kept ahead by a first build, then read back by a layer with new headers (a new time), as a
    // build made again does.
    await treeLayer(tree, { workers: 2, cache, precompressed: precompressorOf(tree, cache) });
    const later = new Tree();
    for (const p of tree.paths()) later.put(p, { ...tree.get(p)!, mtime: 1 });
    const read: Uint8Array[] = [];
    const seen: LayerCache = {
      writer: () => cache.writer(),
      locate: (key) => cache.locate(key),
      get: async (key) => {
        const bytes = await cache.get(key);
        if (bytes !== undefined && key.startsWith('gzip-segment:')) read.push(bytes);
        return bytes;
      },
      checked: (key) => cache.checked(key),
      has: (key) => cache.has(key),
      forget: (key) => cache.forget(key),
      putStream: (key) => cache.putStream(key),
      put: (key, bytes) => cache.put(key, bytes),
    };
    const again = await treeLayer(later, { workers: 2, cache: seen, precompressed: precompressorOf(later, seen) });
    const inMemory = new Tree();
    for (const p of memory.paths()) inMemory.put(p, { ...memory.get(p)!, mtime: 1 });
    await assertSameLayer(again, await treeLayer(inMemory, { workers: 0 }), 'made again from kept blocks');
    assert.notEqual(again.digest, expected.digest);
    assert.ok(read.length > 0, 'kept blocks were read whole');
    for (const bytes of read) assert.equal((bytes.buffer as ArrayBuffer).detached, true, 'freed once written');
  });

  it('writes a body compressed ahead in memory as often as the layer holds it, into a layer in the cache', async () => {
    // Blocks compressed ahead without a segment cache are kept for whoever asks: one body at two
    // paths is given the same blocks twice, and writing the first must not free them.
    const dir = await tempDir();
    const body = compressibleBytes(2 * 1024 * 1024, 1);
    const tree = new Tree();
    for (const p of ['a', 'b']) tree.put(p, file(body));
    const pre = new LayerPrecompressor(2);
    pre.add(body);
    const layer = await treeLayer(tree, { workers: 2, cache: new DownloadCache(join(dir, 'cache')), precompressed: pre, reuse: false });
    await assertSameLayer(layer, await treeLayer(tree, { workers: 0 }), 'the same body twice');
  });

  it('keeps a copied cache (a restored CI cache) at as many files build after build, and two builds at once at as many as one', async () => {
    const dir = await tempDir();
    const { tree } = await onDisk(dir, sampleTree());
    const files = async (folder: string) =>
      (await readdir(folder, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).length;
    let cacheDir = join(dir, 'cache-0');
    await treeLayer(tree, { workers: 2, cache: new DownloadCache(cacheDir) });
    const cold = await files(cacheDir);
    // A copy's files are new inodes, so each layer's file is a new version of it and its record
    // is written again: the old record went unreferenced, one more file each build.
    const counts: number[] = [];
    for (let i = 1; i <= 3; i++) {
      const copy = join(dir, `cache-${i}`);
      await cp(cacheDir, copy, { recursive: true });
      cacheDir = copy;
      assert.equal((await treeLayer(tree, { workers: 2, cache: new DownloadCache(cacheDir) })).reused, true);
      counts.push(await files(cacheDir));
    }
    assert.deepEqual(counts, [cold, cold, cold]);
    // Two cold builds of one layer at once each write its file and its record.
    const both = join(dir, 'cache-both');
    await Promise.all([0, 1].map(() => treeLayer(tree, { workers: 2, cache: new DownloadCache(both) })));
    assert.equal(await files(both), cold);
  });

  it('gives the layer of the same bodies in memory, and takes it from the cache the next time', async () => {
    const dir = await tempDir();
    const memory = sampleTree();
    const expected = await treeLayer(memory, { workers: 0 });
    const { tree, data } = await onDisk(dir, memory);
    const cache = new DownloadCache(join(dir, 'cache'));

    // The record kept with a layer names the version of its file, so that the next build does not
    // hash it: the puts of the layer records, seen through a cache that passes them on.
    const records: string[] = [];
    const seen: LayerCache = {
      writer: () => cache.writer(),
      locate: (key) => cache.locate(key),
      get: (key) => cache.get(key),
      checked: (key) => cache.checked(key),
      has: (key) => cache.has(key),
      forget: (key) => cache.forget(key),
      putStream: (key) => cache.putStream(key),
      put: async (key, bytes) => {
        if (key.startsWith('layer:')) records.push(new TextDecoder().decode(bytes));
        await cache.put(key, bytes);
      },
    };
    const first = await treeLayer(tree, { workers: 2, cache: seen, precompressed: precompressorOf(tree, cache) });
    await assertSameLayer(first, expected, 'written from disk into the cache');
    assert.equal(first.reused, false);
    assert.ok(first.source.path?.startsWith(join(dir, 'cache')), 'the layer is a file of the cache');
    assert.equal(records.length, 1);
    assert.equal((JSON.parse(records[0]!) as { version?: string }).version, fileVersion(first.source.path!));

    const again = await treeLayer(tree, { workers: 2, cache });
    await assertSameLayer(again, expected, 'found again');
    assert.equal(again.reused, true);
    assert.equal((await treeLayer(tree, { workers: 2, cache, reuse: false })).reused, false, 'reuse: false writes it again');

    // Another mode on one file is another layer.
    const other = new Tree();
    for (const p of tree.paths()) other.put(p, tree.get(p)!);
    other.update('usr/lib/mid', { mode: 0o600 });
    const changed = await treeLayer(other, { workers: 2, cache });
    assert.equal(changed.reused, false);
    assert.notEqual(changed.digest, expected.digest);

    // A cached layer that changed on disk is not used: the layer is written again, right. (Its
    // time set apart: a write within the clock tick of the last leaves the time as it was.)
    const blob = again.source.path!;
    const bytes = await readFile(blob);
    bytes[100] = (bytes[100] ?? 0) ^ 1;
    await writeFile(blob, bytes);
    await utimes(blob, new Date(), new Date(Date.now() + 60_000));
    const rewritten = await treeLayer(tree, { workers: 2, cache });
    assert.equal(rewritten.reused, false);
    await assertSameLayer(rewritten, expected, 'written again');

    // A cached layer is hashed only when its file is not the version last hashed: one changed
    // with its time put back is taken as it is, and the store it goes to refuses it. (Times in
    // whole seconds, which utimes sets exactly.)
    const path = rewritten.source.path!;
    const second = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
    await utimes(path, second, second);
    assert.equal((await treeLayer(tree, { workers: 2, cache })).reused, true, 'hashed again, then taken');
    const altered = await readFile(path);
    altered[100] = (altered[100] ?? 0) ^ 1;
    await writeFile(path, altered);
    await utimes(path, second, second);
    const unhashed = await treeLayer(tree, { workers: 2, cache });
    assert.equal(unhashed.reused, true, 'not hashed again');
    const layout = await LayoutStore.open(join(dir, 'layout'), { create: true });
    await assert.rejects(layout.putBlob(unhashed.source), (err: unknown) => isProvenantError(err, 'DIGEST_MISMATCH'));
    await layout.close();

    // A body that changed on disk fails the layer, naming the file.
    const damaged = await readFile(data);
    damaged[8] = (damaged[8] ?? 0) ^ 1;
    await writeFile(data, damaged);
    await assert.rejects(treeLayer(tree, { workers: 2, cache, reuse: false }), (err: unknown) => {
      return isProvenantError(err, 'DIGEST_MISMATCH') && err.message.includes(data);
    });
  });
});

describe('large bodies on disk, streamed a block at a time', () => {
  const tempDir = useTempDir('layer-stream');

  /** The sample tree with its large bodies in a file on disk, one after the other. */
  async function largeOnDisk(dir: string): Promise<{ tree: Tree; data: string; placed: Map<string, FileBody> }> {
    const tree = sampleTree();
    const data = join(dir, 'data');
    const parts: Uint8Array[] = [new Uint8Array(3)];
    const placed = new Map<string, FileBody>();
    let at = 3;
    for (const path of tree.paths()) {
      const bytes = tree.get(path)?.body;
      if (!(bytes instanceof Uint8Array) || bytes.length < LAYER_SEGMENT_MIN) continue;
      const body: FileBody = { path: data, offset: at, size: bytes.length, sha256: sha256(bytes), crc32: crc32(bytes) >>> 0 };
      placed.set(path, body);
      parts.push(bytes);
      at += bytes.length;
      tree.update(path, { body });
    }
    await writeFile(data, concat(parts));
    return { tree, data, placed };
  }

  it('uses the blocks kept for each body, a block per piece', async () => {
    const dir = await tempDir();
    const expected = await treeLayer(sampleTree(), { workers: 0 });
    const { tree, placed } = await largeOnDisk(dir);
    // Level 1 blocks that claim the default level: a layer built without them would not change.
    class Mislabelled extends LayerPrecompressor {
      readonly asked: FileBody[] = [];
      override async blocksOf(body: FileBody): Promise<KeptBlocks> {
        this.asked.push(body);
        const blocks = await precompressSegment(readBody(body), { workers: 2, level: 1 })!.blocks;
        return { count: blocks.length, block: (i) => blocks[i]!, close() {} };
      }
    }
    for (const workers of [0, 2]) {
      const pre = new Mislabelled(2);
      const layer = await treeLayer(tree, { workers, precompressed: pre });
      assert.deepEqual(new Set(pre.asked), new Set(placed.values()), 'every large body on disk is looked up');
      assert.notEqual(layer.digest, expected.digest);
      assert.equal(layer.diffId, expected.diffId);
      assert.ok(Buffer.from(gunzipSync(await layerBytes(layer))).equals(gunzipSync(await layerBytes(expected))));
    }
    // Without kept blocks, the pieces are compressed as they come: the layer of the bodies in memory.
    await assertSameLayer(await treeLayer(tree, { workers: 2 }), expected, 'streamed and compressed');
    await assertSameLayer(await treeLayer(tree, { workers: 0 }), expected, 'streamed and compressed in this thread');
  });

  it("drops a body's key whose kept blocks are damaged, so that the next build compresses it ahead again", async () => {
    const dir = await tempDir();
    const expected = await treeLayer(sampleTree(), { workers: 0 });
    const { tree, placed } = await largeOnDisk(dir);
    const kept = memoryCache();
    const first = precompressorOf(tree, kept.cache);
    await assertSameLayer(await treeLayer(tree, { workers: 2, precompressed: first }), expected, 'first build');
    await first.flush();
    const keys = [...kept.map.keys()];
    assert.equal(keys.length, new Set([...placed.values()].map((b) => b.sha256)).size, 'one key per large body');
    for (const key of keys) kept.map.set(key, new Uint8Array(0));
    const damaged = precompressorOf(tree, kept.cache);
    await assertSameLayer(await treeLayer(tree, { workers: 2, precompressed: damaged }), expected, 'blocks damaged');
    await damaged.flush();
    for (const key of keys) assert.equal(kept.map.has(key), false, `${key} dropped`);
    const next = precompressorOf(tree, kept.cache);
    await assertSameLayer(await treeLayer(tree, { workers: 2, precompressed: next }), expected, 'next build');
    await next.flush();
    for (const key of keys) assert.ok((kept.map.get(key)?.length ?? 0) > 0, `${key} compressed ahead and kept again`);
  });

  it('gives the layer of the bodies in memory when a body ends exactly at a block boundary', async () => {
    const dir = await tempDir();
    const memory = new Tree();
    const MiB = 1024 * 1024;
    memory.put('a/two-blocks', file(compressibleBytes(2 * MiB, 6)));
    memory.put('a/then', file(text('after\n')));
    memory.put('b/one-block', file(compressibleBytes(MiB, 7)));
    memory.put('b/one-more', file(compressibleBytes(MiB + 1, 8)));
    const expected = await treeLayer(memory, { workers: 0 });
    const data = join(dir, 'data');
    const parts: Uint8Array[] = [];
    const tree = new Tree();
    let at = 0;
    for (const path of memory.paths()) {
      const node = memory.get(path)!;
      const bytes = node.body instanceof Uint8Array ? node.body : undefined;
      if (bytes === undefined || bytes.length < LAYER_SEGMENT_MIN) {
        tree.put(path, node);
        continue;
      }
      tree.put(path, { ...node, body: { path: data, offset: at, size: bytes.length, sha256: sha256(bytes), crc32: crc32(bytes) >>> 0 } });
      parts.push(bytes);
      at += bytes.length;
    }
    await writeFile(data, concat(parts));
    await assertSameLayer(await treeLayer(tree, { workers: 2 }), expected, 'two workers');
    await assertSameLayer(await treeLayer(tree, { workers: 0 }), expected, 'this thread');
  });

  it('fails the layer when a large body changed on disk, and keeps nothing of it', async () => {
    const dir = await tempDir();
    const expected = await treeLayer(sampleTree(), { workers: 0 });
    const { tree, data, placed } = await largeOnDisk(dir);
    const cache = new DownloadCache(join(dir, 'cache'));
    const tool = placed.get('usr/bin/tool')!;
    const good = await readFile(data);
    const bad = Buffer.from(good);
    // In its third 1 MiB piece, after two pieces went to the compressor.
    const at = tool.offset + 2 * 1024 * 1024 + 17;
    bad[at] = (bad[at] ?? 0) ^ 1;
    await writeFile(data, bad);
    await assert.rejects(treeLayer(tree, { workers: 2, cache }), (err: unknown) => {
      return isProvenantError(err, 'DIGEST_MISMATCH') && err.message.includes(data);
    });
    await writeFile(data, good);
    const layer = await treeLayer(tree, { workers: 2, cache });
    assert.equal(layer.reused, false, 'the failed layer was not kept');
    await assertSameLayer(layer, expected, 'after the file was mended');
  });
});

describe('a large body compressed ahead into the cache, a block at a time', () => {
  const tempDir = useTempDir('layer-ahead');
  const MiB = 1024 * 1024;

  /**
   * One body larger than what precompression holds at once (a few blocks per worker, and the
   * 8 MiB of bodies it compresses side by side), not a whole number of blocks, half compressible,
   * in a file on disk after a few bytes of something else.
   */
  async function largeBody(dir: string): Promise<{ tree: Tree; memory: Tree; body: FileBody; bytes: Uint8Array }> {
    const bytes = concat([compressibleBytes(10 * MiB, 21), pseudoRandomBytes(10 * MiB + 12_345, 22)]);
    const data = join(dir, 'data');
    await writeFile(data, concat([new Uint8Array(5), bytes]));
    const body: FileBody = { path: data, offset: 5, size: bytes.length, sha256: sha256(bytes), crc32: crc32(bytes) >>> 0 };
    const tree = new Tree();
    const memory = new Tree();
    tree.put('usr/lib/libhuge.so', { ...file(bytes), body });
    memory.put('usr/lib/libhuge.so', file(bytes));
    for (const t of [tree, memory]) t.put('usr/lib/small', file(text('small\n')));
    return { tree, memory, body, bytes };
  }

  /** The blocks of a body as the cache kept them before they were written as they came: count, lengths, blocks. */
  async function encodedAsBefore(bytes: Uint8Array): Promise<Uint8Array> {
    const blocks = await precompressSegment(bytes, { workers: 2, level: PINNED_GZIP_LEVEL })!.blocks;
    const head = new Uint8Array(4 * (blocks.length + 1));
    const view = new DataView(head.buffer);
    view.setUint32(0, blocks.length, true);
    for (const [i, b] of blocks.entries()) view.setUint32(4 * (i + 1), b.length, true);
    return concat([head, ...blocks]);
  }

  /** The files of the cache's content folder, temporary ones included. */
  async function contentFiles(dir: string): Promise<string[]> {
    return readdir(join(dir, 'sha256')).catch(() => []);
  }

  it('keeps its blocks as the cache always kept them, and the layer made of them is the layer made without', async () => {
    const dir = await tempDir();
    const { tree, memory, body, bytes } = await largeBody(dir);
    const expected = await treeLayer(tree, { workers: 2 });
    await assertSameLayer(expected, await treeLayer(memory, { workers: 2 }), 'streamed from disk or from memory');
    const cacheDir = join(dir, 'cache');
    const cache = new DownloadCache(cacheDir);

    const pre = precompressorOf(tree, cache);
    await pre.flush();
    const kept = await pre.blocksOf(body);
    assert.equal(kept?.count, Math.ceil(bytes.length / MiB), 'kept, a block per MiB');
    kept?.close();
    const [key] = await readdir(join(cacheDir, 'keys'));
    const [hex, size] = (await readFile(join(cacheDir, 'keys', key!), 'utf8')).trim().split(' ');
    const stored = await readFile(join(cacheDir, 'sha256', hex!));
    assert.ok(stored.equals(await encodedAsBefore(bytes)), 'the bytes a cache of earlier versions holds');
    assert.equal(Number(size), stored.length);
    assert.equal(sha256(stored), hex);
    assert.deepEqual(await contentFiles(cacheDir), [hex], 'no temporary file left');

    await assertSameLayer(await treeLayer(tree, { workers: 2, precompressed: pre }), expected, 'first build');
    await assertSameLayer(await treeLayer(tree, { workers: 0, precompressed: precompressorOf(tree, cache) }), expected, 'next build');
    // A body in memory is compressed ahead the same way, into the same entry.
    const inMemory = await tempDir();
    const memoryPre = precompressorOf(memory, new DownloadCache(inMemory));
    await memoryPre.flush();
    assert.ok((await readFile(join(inMemory, 'sha256', hex!))).equals(stored), 'the same entry from a body in memory');
    await assertSameLayer(await treeLayer(memory, { workers: 2, precompressed: memoryPre }), expected, 'from memory');
  });

  it("reads a large body's kept blocks a block at a time once its file is checked, and a damaged file is a miss", async () => {
    const dir = await tempDir();
    const { tree, body } = await largeBody(dir);
    const expected = await treeLayer(tree, { workers: 2 });
    const cacheDir = join(dir, 'cache');
    await precompressorOf(tree, new DownloadCache(cacheDir)).flush();
    // What is read whole: nothing of the body's blocks (its 20 MB are above the whole-read size).
    class Counting extends DownloadCache {
      readonly gets: string[] = [];
      override get(key: string, options?: { check?: boolean; shared?: boolean }): Promise<Uint8Array | undefined> {
        this.gets.push(key);
        return super.get(key, options);
      }
    }
    const counting = new Counting(cacheDir);
    await assertSameLayer(await treeLayer(tree, { workers: 2, precompressed: precompressorOf(tree, counting) }), expected, 'kept blocks');
    assert.deepEqual(counting.gets, [], 'no kept blocks read whole');

    const [hex] = await contentFiles(cacheDir);
    const file = join(cacheDir, 'sha256', hex!);
    const good = await readFile(file);
    // Cut short after the check: a typed error, not a layer of what was there.
    const blocks = await precompressorOf(tree, new DownloadCache(cacheDir)).blocksOf(body);
    assert.ok(blocks !== undefined && blocks.count === 21);
    assert.equal(blocks.block(0).length > 0, true);
    await writeFile(file, good.subarray(0, good.length - 1));
    assert.throws(
      () => blocks.block(20),
      (err) => isProvenantError(err, 'IO') && err.where === file,
    );
    blocks.close();
    // Damaged: a miss, the key dropped, and the layer compressed as the body streams.
    const damaged = Buffer.from(good);
    damaged[damaged.length >> 1]! ^= 0x10;
    await writeFile(file, damaged);
    const missed = new DownloadCache(cacheDir);
    assert.equal(await precompressorOf(tree, missed).blocksOf(body), undefined);
    assert.deepEqual(await readdir(join(cacheDir, 'keys')), [], 'the key is dropped');
    await assertSameLayer(
      await treeLayer(tree, { workers: 2, precompressed: precompressorOf(tree, missed) }),
      expected,
      'after the damage',
    );
  });

  it('keeps nothing of a body that changed on disk or was cut short, found only once it was compressed', async () => {
    const dir = await tempDir();
    const { tree, body } = await largeBody(dir);
    const good = await readFile(body.path);
    const faults: Record<string, Uint8Array> = {
      // Its last block changed: the CRC-32 tells when the last piece has been read.
      changed: (() => {
        const bad = Buffer.from(good);
        const at = body.offset + body.size - 10;
        bad[at] = (bad[at] ?? 0) ^ 1;
        return bad;
      })(),
      'cut short': good.subarray(0, body.offset + body.size - 100),
    };
    for (const [name, bytes] of Object.entries(faults)) {
      await writeFile(body.path, bytes);
      const cacheDir = join(dir, `cache-${name}`);
      const cache = new DownloadCache(cacheDir);
      const pre = precompressorOf(tree, cache);
      await pre.flush();
      assert.deepEqual(await readdir(join(cacheDir, 'keys')).catch(() => []), [], `${name}: no key`);
      assert.deepEqual(await contentFiles(cacheDir), [], `${name}: no file, whole or not`);
      assert.equal(await pre.blocksOf(body), undefined, name);
      // The layer reads the body itself, and says what is wrong with it.
      await assert.rejects(treeLayer(tree, { workers: 2, precompressed: pre }), (err: unknown) => {
        return isProvenantError(err, 'DIGEST_MISMATCH', 'IO') && err.where === body.path;
      });
    }
    await writeFile(body.path, good);
  });

  /**
   * A cache in `dir` whose puts hold their third write (the entry's head and first block are in
   * its temporary file) until `release` is called; `held` resolves when one is held, and `ends`
   * tells how each put ended.
   */
  function holdingCache(dir: string): { cache: SegmentCache; held: Promise<void>; release: () => void; ends: string[] } {
    let hold!: () => void;
    const held = new Promise<void>((resolve) => {
      hold = resolve;
    });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const ends: string[] = [];
    class Holding extends DownloadCache {
      override async putStream(key: string): Promise<CachePut> {
        const put = await super.putStream(key);
        let writes = 0;
        return {
          get size() {
            return put.size;
          },
          async write(chunk) {
            if (++writes === 3) {
              hold();
              await gate;
            }
            await put.write(chunk);
          },
          writeAt: (position, bytes) => put.writeAt(position, bytes),
          finish() {
            ends.push('finish');
            return put.finish();
          },
          abort() {
            ends.push('abort');
            return put.abort();
          },
        };
      }
    }
    return { cache: new Holding(dir), held, release, ends };
  }

  it('keeps nothing of a body it was compressing when the build is cancelled', async () => {
    const dir = await tempDir();
    const { tree, body } = await largeBody(dir);
    const cacheDir = join(dir, 'cache');
    const { cache, held, release, ends } = holdingCache(cacheDir);
    const pre = precompressorOf(tree, cache);
    // Cancelled in the middle: part of the body is in a temporary file, the next block waits to
    // be written, and more are being compressed.
    const first = await Promise.race([held.then(() => 'held'), pre.flush().then(() => 'ended')]);
    assert.equal(first, 'held', 'a write was held before the put ended');
    const [tmp, ...others] = await contentFiles(cacheDir);
    assert.deepEqual(others, []);
    assert.match(tmp ?? '', /\.tmp$/);
    const head = 4 * (Math.ceil(body.size / MiB) + 1);
    assert.ok((await stat(join(cacheDir, 'sha256', tmp!))).size > head, 'a block was written when cancelled');
    pre.cancel();
    release();
    await pre.flush();
    assert.deepEqual(ends, ['abort'], 'the entry was dropped, not kept');
    assert.equal(await pre.blocksOf(body), undefined);
    assert.deepEqual(await readdir(join(cacheDir, 'keys')).catch(() => []), [], 'no key');
    assert.deepEqual(await contentFiles(cacheDir), [], 'no file, whole or not');
    // The workers go on for the next layer.
    const { memory } = await largeBody(await tempDir());
    await assertSameLayer(await treeLayer(tree, { workers: 2 }), await treeLayer(memory, { workers: 2 }), 'after the cancel');
  });
});

function precompressorOf(tree: Tree, cache: SegmentCache): LayerPrecompressor {
  const pre = new LayerPrecompressor(2, cache);
  for (const p of tree.paths()) {
    const b = tree.get(p)?.body;
    if (b !== undefined) pre.add(b);
  }
  return pre;
}

describe('a layer from a walk', () => {
  it('ends the walk it pulls from when the layer fails, so that what the walk holds is let go', async () => {
    let ended = false;
    const missing: FileBody = { path: '/nonexistent/provenant-body', offset: 0, size: 10, sha256: '0'.repeat(64), crc32: 0 };
    function* walk(): Generator<[string, FsNode]> {
      try {
        yield ['a', { type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, body: missing }];
        for (let i = 0; i < 5000; i++) yield [`b${i}`, { type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 }];
      } finally {
        ended = true;
      }
    }
    await assert.rejects(walkLayer(walk, { workers: 0 }), (err: unknown) => isProvenantError(err, 'IO'));
    assert.ok(ended, 'the walk was ended');
  });
});

describe('worker threads for a layer', () => {
  /** A tree of `count` files of `size` bytes on disk (never read here). */
  function sized(count: number, size: number): Tree {
    const tree = new Tree();
    for (let i = 0; i < count; i++) {
      const body: FileBody = { path: '/nonexistent', offset: i * size, size, sha256: String(i).padStart(64, '0'), crc32: 0 };
      tree.put(`usr/lib/f${i}`, { type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, body });
    }
    return tree;
  }
  const MiB = 1024 * 1024;

  it('starts one per 32 MiB to compress, from one to one fewer than the default (the calling thread compresses too)', () => {
    const most = Math.max(1, defaultGzipWorkers() - 1);
    const small = sized(16, MiB);
    assert.equal(workersFor(treeWalk(small, small.paths()), undefined), 1);
    const large = sized(100, MiB);
    assert.equal(workersFor(treeWalk(large, large.paths()), undefined), Math.min(most, 4));
    const some = sized(2, 40 * MiB);
    assert.equal(workersFor(treeWalk(some, some.paths()), undefined), Math.min(most, 3));
    assert.equal(workersFor(treeWalk(large, large.paths().slice(0, 10)), undefined), 1, 'only the paths of the layer count');
  });

  it('does not count the bodies compressed elsewhere', () => {
    const large = sized(100, MiB);
    class Holding extends LayerPrecompressor {
      override has(): boolean {
        return true;
      }
    }
    assert.equal(workersFor(treeWalk(large, large.paths()), new Holding(2)), 1);
  });
});

describe('treeLayer and the collections it asks for', () => {
  it('asks V8 for a full collection as it walks many entries, whose headers are garbage once written', async () => {
    // Empty files: no body is read or compressed ahead, so no buffer counts towards a collection.
    const tree = new Tree();
    const count = 3 * COLLECT_EVERY_RECORDS;
    for (let i = 0; i < count; i++) tree.put(`d${i % 100}/f${i}`, file(new Uint8Array()));
    const before = collectionsAsked();
    await treeLayer(tree, { workers: 0 });
    assert.ok(collectionsAsked() - before >= 2, `${collectionsAsked() - before} collections for ${count} entries`);
  });
});
