/**
 * From a tree to a layer: a tar in walk order with normalized headers, compressed with the
 * pinned gzip, so the same tree gives the same digest on any machine and Node version.
 *
 * Every file body of at least {@link LAYER_SEGMENT_MIN} bytes is a gzip segment of its own (its
 * deflate blocks start at its first byte and end at its last), so its compressed bytes depend on
 * the body alone: a build compresses them ahead (./layer-segments.ts) while it still reads
 * packages, and the layer then only compresses the headers and the small files. The bytes are
 * the same with or without it.
 *
 * With a cache, the layer is written into it as it is compressed (never collected in memory),
 * and kept under a key made of everything its bytes depend on: the format's fixed parameters,
 * and each entry's header bytes and body SHA-256. A later build that makes the same layer (the
 * same packages and files, whatever else changed in the image) finds it by that key and reads
 * no body at all.
 */
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import {
  defaultGzipWorkers,
  type GzipSegment,
  LIBDEFLATE_WASM_SHA256,
  PINNED_GZIP_BLOCK_SIZE,
  PINNED_GZIP_LEVEL,
  pinnedGzip,
} from '../archive/deflate.ts';
import { type TarHeader, type TarWriteEntry, tarHeader, tarHeaderBytes, writeTar, XATTR_PREFIX } from '../archive/tar.ts';
import type { TarFormat } from '../archive/tar-writer.ts';
import { ProvenantError } from '../errors.ts';
import { fileSource, fileVersion, fsp, hashFile } from '../io/files.ts';
import { noteBytesMoved, noteRecordsDropped, writtenOut } from '../io/memory.ts';
import { type BlobSource, bytesSource } from '../io/types.ts';
import type { Digest } from '../oci/digest.ts';
import { MediaType } from '../oci/mediatypes.ts';
import type { CacheWriter } from '../pkg/fetch.ts';
import { type Body, BodyReader, bodySize, type FileBody, isFileBody, readBody } from '../vfs/body.ts';
import { type FsNode, type Tree, walkOrder } from '../vfs/tree.ts';
import { type KeptBlocks, LAYER_SEGMENT_MIN, type LayerPrecompressor, type SegmentCache } from './layer-segments.ts';

export { type KeptBlocks, LAYER_SEGMENT_MIN, LayerPrecompressor, type SegmentCache } from './layer-segments.ts';

/** A finished layer: where its compressed bytes are, and both digests. */
export interface Layer {
  /** sha256 of the compressed bytes: the layer's descriptor digest. */
  digest: Digest;
  /** sha256 of the uncompressed tar: the config's diff_id. */
  diffId: Digest;
  /** The compressed size. */
  size: number;
  /** The uncompressed size. */
  tarSize: number;
  /** The compressed bytes: a file in the cache (`path`), or memory for a build without one. */
  source: BlobSource & { readonly path?: string | undefined };
  /** True when an earlier build made this layer and it was taken from the cache as it was. */
  reused: boolean;
  /**
   * The key it is kept under in the cache (a hash of its entries: {@link layerKey}), when it is
   * kept: an earlier build's record names its layers by these (./memo.ts).
   */
  key?: string | undefined;
  /**
   * For a layer kept in the cache, for a store that refused its bytes: hashes its file there and,
   * when it no longer hashes to the digest, drops it from the cache, so that the next build makes it
   * again; true when it did. ({@link keptLayer} hashes the file only when it is a new version of it,
   * so a file damaged in place is found by the store that takes it. A store may also refuse bytes
   * that are sound: a registry's own failure.)
   */
  dropIfDamaged?: (() => Promise<boolean>) | undefined;
}

/** Where layers are written and kept (a DownloadCache). */
export interface LayerCache extends SegmentCache {
  /** Stores `bytes` under `key` (a layer's record); what it resolves to is not used here. */
  put(key: string, bytes: Uint8Array): Promise<unknown>;
  writer(): Promise<CacheWriter>;
  locate(key: string): Promise<{ sha256: string; path: string; size: number } | undefined>;
}

/** Options of {@link treeLayer}. */
export interface LayerOptions {
  /** Only these paths (all when absent): for splitting a tree into several layers. */
  paths?: readonly string[] | undefined;
  /**
   * Worker threads for compression (0: in this thread). By default, one per 32 MiB the layer has
   * to compress, up to pinnedGzip's default.
   */
  workers?: number | undefined;
  /** Bodies already being compressed. */
  precompressed?: LayerPrecompressor | undefined;
  /** Where the layer is written as it is compressed; in memory without one. */
  cache?: LayerCache | undefined;
  /** Look the layer up in `cache` by its content first, and keep it there (default true). */
  reuse?: boolean | undefined;
  signal?: AbortSignal | undefined;
  /** How tar headers are laid out (apko compatibility writes Go's; ../archive/tar-go.ts). */
  format?: TarFormat | undefined;
  /** Each entry's header, instead of the one made from the node (apko compatibility: ./apko.ts). */
  header?: ((path: string, node: FsNode) => TarHeader) | undefined;
}

/**
 * What a layer's bytes depend on besides its entries: the layer format's version, the gzip
 * level and block size, the libdeflate build and the segment threshold.
 */
const LAYER_FORMAT = `provenant-layer-v1:${LIBDEFLATE_WASM_SHA256}:${PINNED_GZIP_LEVEL}:${PINNED_GZIP_BLOCK_SIZE}:${LAYER_SEGMENT_MIN}`;

/** What the cache records of a layer under its key. */
interface LayerRecord {
  digest: Digest;
  diffId: Digest;
  size: number;
  tarSize: number;
  /**
   * The blob file's version (../io/files.ts fileVersion) when it was written or last hashed:
   * while the file is still that version, a build takes it without hashing it again.
   */
  version?: string | undefined;
}

/**
 * Writes the tree (or `paths` of it) as a layer. Headers carry no user or group names and no
 * device numbers but for devices; times, modes and owners are the tree's.
 *
 * @throws ProvenantError `ABORTED` when `signal` fires; `IO` or `DIGEST_MISMATCH` when a body
 *   kept in the cache cannot be read back as it was stored
 */
export async function treeLayer(tree: Tree, options: LayerOptions = {}): Promise<Layer> {
  const paths = options.paths ?? tree.walkPaths();
  return walkLayer(() => treeWalk(tree, paths), options);
}

/** The nodes at `paths` of `tree`, in the order given. */
export function* treeWalk(tree: Tree, paths: readonly string[]): Generator<[string, FsNode]> {
  for (const path of paths) {
    const node = tree.get(path);
    if (node !== undefined) yield [path, node];
  }
}

/** What a layer is made of: each entry's path and node, in walk order, walked anew at each call. */
export type LayerWalk = () => Iterable<readonly [string, FsNode]>;

/**
 * Writes the entries `walk` gives as a layer, as {@link treeLayer} does a tree's (`options.paths`
 * aside): walked once for the key, and once more when the layer is written.
 */
export async function walkLayer(walk: LayerWalk, options: LayerOptions = {}): Promise<Layer> {
  // The entries are made as they are used, once for the key and once more when the layer is
  // written: a list of them all (a header per file of the image) is what made a build's memory
  // grow with the image.
  // apko compatibility writes apko's order and links as they are (./apko.ts).
  const written = options.header === undefined ? bodyFirst(walk) : walk;
  const entries = (): Generator<LayerEntry> => layerEntries(written(), options.header);
  const cache = options.cache;
  const reuse = cache !== undefined && options.reuse !== false;
  const key = reuse ? layerKey(entries(), options.format ?? 'provenant') : undefined;
  if (key !== undefined) {
    const found = await keptLayer(cache!, key);
    if (found !== undefined) return found;
  }
  const writer = await cache?.writer();
  const parts: Uint8Array[] = [];
  const diff = createHash('sha256');
  const comp = createHash('sha256');
  let tarSize = 0;
  let size = 0;
  const reader = new BodyReader();
  // The chunks that are segments, found by identity: writeTar yields a body's bytes as they are.
  const segments = new WeakMap<Uint8Array, GzipSegment>();
  async function* tarEntries(): AsyncGenerator<TarWriteEntry> {
    for (const { entry: e, blocks } of lookedUp(entries(), options.precompressed)) {
      if (e.body === undefined) {
        yield { header: e.header };
        continue;
      }
      if (blocks !== undefined && isFileBody(e.body)) {
        yield { header: e.header, body: streamed(e.body, await blocks) };
        continue;
      }
      if (bodySize(e.body) < LAYER_SEGMENT_MIN) {
        // A small body is copied into a compression block as it passes: a view of the reader's
        // window does, and leaves nothing behind.
        yield { header: e.header, body: reader.readInPlace(e.body) };
        continue;
      }
      const bytes = reader.read(e.body);
      segments.set(bytes, { segment: bytes, precompressed: options.precompressed?.segment(e.body, bytes) });
      yield { header: e.header, body: bytes };
    }
  }
  // A large body on disk goes through one buffer a block at a time, each block a segment of its
  // own (which gives the bytes of one segment of the whole body): memory then holds no body whole,
  // however large its file (issue 16, "streaming end to end").
  async function* streamed(body: FileBody, blocks: KeptBlocks | undefined): AsyncGenerator<Uint8Array> {
    let i = 0;
    try {
      for (const piece of reader.pieces(body, PINNED_GZIP_BLOCK_SIZE)) {
        // The piece is one block: its compressed block, when kept, is the body's i-th, read now.
        const precompressed =
          blocks === undefined
            ? undefined
            : {
                data: piece,
                level: PINNED_GZIP_LEVEL,
                blockSize: PINNED_GZIP_BLOCK_SIZE,
                blocks: Promise.resolve([blocks.block(i)]),
                cancel() {},
              };
        segments.set(piece, { segment: piece, precompressed, reused: true });
        i++;
        yield piece;
      }
    } finally {
      blocks?.close();
    }
  }
  async function* tar(): AsyncGenerator<Uint8Array | GzipSegment> {
    for await (const chunk of writeTar(tarEntries(), { format: options.format, reuseChunks: true })) {
      diff.update(chunk);
      tarSize += chunk.length;
      const segment = segments.get(chunk);
      // Bodies read from disk whole are fresh buffers (io/memory.ts). A streamed piece, a small
      // body (a view of the reader's window or the tree's own bytes), a header and its padding
      // (written over or shared: writeTar's reuseChunks) are not.
      if (segment !== undefined && segment.reused !== true) noteBytesMoved(chunk.length, LAYER_COLLECT_EVERY);
      yield segment ?? chunk;
    }
  }
  try {
    // The bodies are the same whichever name of a link group carries one.
    const workers = options.workers ?? workersFor(walk(), options.precompressed);
    for await (const chunk of pinnedGzip(tar(), { workers, signal: options.signal })) {
      comp.update(chunk);
      size += chunk.length;
      if (writer === undefined) parts.push(chunk);
      else {
        const bytes = chunk.length;
        await writer.write(chunk);
        // Each compressed block came from a worker, this thread or the cache in a buffer of its
        // own, now written and done with: freed now when nothing else holds it, and counted
        // towards the next collection otherwise.
        if (!writtenOut(chunk)) noteBytesMoved(bytes, LAYER_COLLECT_EVERY);
      }
    }
  } catch (err) {
    await writer?.abort();
    throw err;
  } finally {
    reader.close();
  }
  const record: LayerRecord = {
    digest: `sha256:${comp.digest('hex')}` as Digest,
    diffId: `sha256:${diff.digest('hex')}` as Digest,
    size,
    tarSize,
  };
  const descriptor = { mediaType: MediaType.OciLayerGzip, digest: record.digest, size };
  if (writer === undefined) return { ...record, source: chunksSource(descriptor, parts), reused: false };
  const stored = await writer.finish(key === undefined ? undefined : `layer-blob:${key}`);
  const source = fileSource(descriptor, stored.path);
  if (key === undefined) return { ...record, source, reused: false };
  await keepRecord(cache!, key, { ...record, version: fileVersion(stored.path) });
  return { ...record, source, reused: false, key, dropIfDamaged: dropper(cache!, key, stored.path, stored.sha256) };
}

/** {@link Layer.dropIfDamaged} of the layer kept under `key`, in the file at `path`. */
function dropper(cache: LayerCache, key: string, path: string, sha256: string): () => Promise<boolean> {
  return async () => {
    if (await hashesTo(path, sha256)) return false;
    await cache.forget(`layer:${key}`);
    return true;
  };
}

/**
 * `walk` with each group of hard links to one file written as a tar writer writes them: the
 * group's first entry in walk order carries the body, and the others (the file's own path too)
 * link to it. A tree keeps a hardlink as a link to its target's path, which may come later in
 * walk order (`/bin/app` to `/usr/bin/app`), and a link to an entry not yet written is one that
 * GNU tar ("Cannot hard link to") and umoci fail to extract.
 *
 * A group whose target comes first is written as it is, so a layer that had no such link keeps
 * its bytes. Nothing is done per entry until a hardlink that comes before its target is met
 * (one comparison per hardlink): then one more walk finds the targets of every such link (a map
 * entry per group), and each entry after it is looked up in those maps. A link whose target is
 * no file of this walk is written as it is.
 */
function bodyFirst(walk: LayerWalk): LayerWalk {
  let plan: LinkPlan | undefined;
  return function* () {
    for (const entry of walk()) {
      const [path, n] = entry;
      if (plan === undefined) {
        if (n.type !== 'hardlink' || n.linkname === undefined || walkOrder(n.linkname, path) <= 0) {
          yield entry;
          continue;
        }
        // Every entry before this one is as it was: a link group that needs changing starts
        // with a hardlink that comes before its target, and this is the first.
        plan = linkPlan(walk());
      }
      const carried = plan.bodyAt.get(path);
      if (carried !== undefined) {
        yield [path, { ...carried.node, linkname: undefined }];
        continue;
      }
      const moved = plan.moved.get(path);
      if (moved !== undefined) {
        yield [path, { ...n, type: 'hardlink', body: undefined, linkname: moved.first }];
        continue;
      }
      const target = n.type === 'hardlink' && n.linkname !== undefined ? plan.moved.get(n.linkname) : undefined;
      yield target === undefined ? entry : [path, { ...n, linkname: target.first }];
    }
  };
}

/** The link groups {@link bodyFirst} writes anew. */
interface LinkPlan {
  /** By a file's path: the first entry of its group, and the file's node. */
  moved: Map<string, { first: string; node: FsNode }>;
  /** By the first entry of a group: what `moved` has for its file. */
  bodyAt: Map<string, { first: string; node: FsNode }>;
}

/**
 * The groups of `walk` (in walk order) whose first entry is a hardlink that comes before the
 * file it links to: one pass, since such a link comes before its file.
 */
function linkPlan(walk: Iterable<readonly [string, FsNode]>): LinkPlan {
  const firstTo = new Map<string, string>();
  const plan: LinkPlan = { moved: new Map(), bodyAt: new Map() };
  for (const [path, n] of walk) {
    if (n.type === 'hardlink' && n.linkname !== undefined && walkOrder(n.linkname, path) > 0 && !firstTo.has(n.linkname)) {
      firstTo.set(n.linkname, path);
    }
    const first = firstTo.get(path);
    if (first !== undefined && n.type === 'file') {
      const group = { first, node: n };
      plan.moved.set(path, group);
      plan.bodyAt.set(first, group);
    }
  }
  return plan;
}

/**
 * Bytes of fresh buffers a layer moves (bodies read, blocks compressed or read from the cache)
 * between two collections of this thread's heap: a quarter of what a copy waits for
 * (../io/memory.ts). A layer makes such buffers at both ends, tens of thousands of them small, and
 * the dead ones made up most of what the 1 GB bench image made again needed over the 200 MB one:
 * 128-130 MB at 8 MB against 143 MB at 32, for 0.3 s more CPU time in 8.5 s (a collection of this
 * heap takes about 12 ms); 145-148 against 159-165 MB for the 2 GB image.
 */
const LAYER_COLLECT_EVERY = 8 * 1024 * 1024;

/**
 * Bytes to compress for each worker thread a layer starts when not told how many: a worker
 * costs about 30 MB, and below this much to compress each, this thread (which reads, hashes and
 * writes) sets the pace, not compression. On two cores, the small Debian bench image compressing
 * every file (16 MB) peaked at 156 MB with two workers and 128 MB with one, in the same time; the
 * 200 MB apk image made again (15 MB of small files to compress) took 2.2 s with two and 1.8 s
 * with one; compressing all of its 200 MB took 4.1 s with two and 6.5 s with one.
 */
const BYTES_PER_WORKER = 32 * 1024 * 1024;

/**
 * Worker threads for a layer: one per {@link BYTES_PER_WORKER} it has to compress (about), from 1
 * to one fewer than the default, since the stream's own thread compresses blocks too whenever the
 * workers fall behind (pinnedGzip). On two cores, one worker and this thread made the 1 GB bench
 * image again in the time two workers took, and 20-25 MB lighter. @internal
 */
export function workersFor(entries: Iterable<readonly [string, FsNode]>, precompressed: LayerPrecompressor | undefined): number {
  const most = Math.max(1, defaultGzipWorkers() - 1);
  // A header (and PAX records, if any) per entry, and each body whose blocks are not made elsewhere.
  let bytes = 0;
  for (const [, n] of entries) {
    bytes += 512;
    if (n.type === 'file' && precompressed?.has(n.body) !== true) bytes += bodySize(n.body);
    if (bytes >= most * BYTES_PER_WORKER) return most;
  }
  return Math.max(1, Math.ceil(bytes / BYTES_PER_WORKER));
}

/**
 * Raw bytes of large bodies on disk whose compressed blocks are looked up in the cache ahead of
 * the one being written: each look-up waits on a few reads, and the layer would wait on them in
 * turn (the 200 MB bench image made again took 2.3 s instead of 1.6 s without any), while what is
 * read ahead is only their compressed blocks. With 2 MB (and 32 entries) instead of 8 MB (and 128)
 * the blocks read ahead and waiting are a quarter as many, for the same time on an idle machine
 * (2026-12-07, 4 interleaved pairs of the 200 MB image: 1.15-1.24 s against 1.15-1.35, peak 106.9-109.4 MB
 * against 108.7-109.9; 3 pairs of the 2 GB image: 10.0-10.1 s against 9.9-11.2, 124.3-126.1 MB
 * against 127.0-128.5).
 */
const LOOKUP_AHEAD_BYTES = 2 * 1024 * 1024;
/**
 * Entries walked ahead at most, whatever their bodies. Each entry walked ahead (its header, its
 * place in the queue) lives through a few of V8's young collections while the ones before it are
 * written, so it is moved to the old generation, where only a full collection frees it: with 1,024,
 * the 1 GB bench image made again (30,000 files, most of them small) peaked at 137-140 MB, with 128
 * at 133 MB, in the same time; the 200 MB image (970 files) is unchanged, its large bodies being
 * ahead within a few entries.
 */
const LOOKUP_AHEAD_ENTRIES = 32;

/**
 * The entries with, for each large body on disk (one the layer streams), the look-up of its
 * compressed blocks (undefined when there is none to make), started up to
 * {@link LOOKUP_AHEAD_BYTES} ahead.
 */
function* lookedUp(
  entries: Iterator<LayerEntry>,
  precompressed: LayerPrecompressor | undefined,
): Generator<{ entry: LayerEntry; blocks?: Promise<KeptBlocks | undefined> | undefined }> {
  const ahead: { entry: LayerEntry; blocks?: Promise<KeptBlocks | undefined> | undefined; size: number }[] = [];
  let aheadBytes = 0;
  let more = true;
  // Ended when the layer fails or is cancelled too: a walk of files kept out of the tree holds a
  // descriptor of its scratch file until it ends.
  try {
    for (;;) {
      while (more && (ahead.length === 0 || (aheadBytes < LOOKUP_AHEAD_BYTES && ahead.length < LOOKUP_AHEAD_ENTRIES))) {
        const next = entries.next();
        if (next.done === true) {
          more = false;
          break;
        }
        const entry = next.value;
        const body = entry.body;
        if (isFileBody(body) && body.size >= LAYER_SEGMENT_MIN) {
          const blocks = precompressed?.blocksOf(body) ?? Promise.resolve(undefined);
          blocks.catch(() => {});
          ahead.push({ entry, blocks, size: body.size });
          aheadBytes += body.size;
        } else {
          ahead.push({ entry, size: 0 });
        }
      }
      const item = ahead.shift();
      if (item === undefined) return;
      aheadBytes -= item.size;
      yield item;
    }
  } finally {
    entries.return?.();
  }
}

/** One tar entry of the layer: its header and, for a file, its body. */
interface LayerEntry {
  header: TarHeader;
  body?: Body | undefined;
}

/**
 * The walk's entries as the layer writes them. Each one walked (its header, its place in the
 * queues that lead to a worker) is garbage once written, and many live through a young collection
 * while the ones before them are, so they are left in the old generation, which V8 lets grow by
 * half before it collects it: the 1 GB bench image made again (148,288 files of 8 KB) ran its
 * layer, 53 s under load, without one full collection of this thread's heap (`--trace-gc`), its
 * heap and its dead buffers growing all along (RSS 120 to 128 MB). So each is counted as a record
 * dropped (../io/memory.ts): a full collection every 8,000 entries walked.
 */
function* layerEntries(walk: Iterable<readonly [string, FsNode]>, headerOf: LayerOptions['header']): Generator<LayerEntry> {
  for (const [path, n] of walk) {
    noteRecordsDropped(1);
    if (headerOf !== undefined) {
      const header = headerOf(path, n);
      yield header.type === 'file' ? { header, body: n.body ?? new Uint8Array() } : { header };
      continue;
    }
    const header = tarHeader({
      name: path,
      type: n.type,
      mode: n.mode,
      uid: n.uid,
      gid: n.gid,
      mtime: n.mtime,
      size: n.type === 'file' ? bodySize(n.body) : 0,
      linkname: n.type === 'symlink' || n.type === 'hardlink' ? (n.linkname ?? '') : '',
      devmajor: n.devmajor ?? 0,
      devminor: n.devminor ?? 0,
      pax: paxOf(n),
    });
    yield n.type === 'file' ? { header, body: n.body ?? new Uint8Array() } : { header };
  }
}

function paxOf(n: FsNode): Record<string, string> | undefined {
  const pax: Record<string, string> = {};
  for (const [k, v] of Object.entries(n.xattrs ?? {})) pax[`${XATTR_PREFIX}${k}`] = v;
  return Object.keys(pax).length === 0 ? undefined : pax;
}

/**
 * The layer's key: the SHA-256 of {@link LAYER_FORMAT} and, entry by entry, the header bytes the
 * tar holds and the body's SHA-256. The compressed bytes are a function of exactly these.
 */
function layerKey(entries: Iterable<LayerEntry>, format: TarFormat): string {
  const h = createHash('sha256').update(`${LAYER_FORMAT}:${format}`);
  // Each header is hashed before the next is made: one block serves them all.
  const scratch = new Uint8Array(512);
  for (const e of entries) {
    h.update(tarHeaderBytes(e.header, format, scratch));
    if (e.body === undefined) continue;
    const sha256 = isFileBody(e.body) && e.body.sha256 !== '' ? e.body.sha256 : undefined;
    h.update(sha256 ?? createHash('sha256').update(readBody(e.body)).digest('hex'));
  }
  return h.digest('hex');
}

/**
 * The layer kept under `key`, when the cache has its record and its file: hashed again when the
 * file is not the version the record names (written to, truncated or replaced since), and then a
 * miss when it no longer hashes to its digest (the layer is written again). A file damaged in
 * place, its version unchanged, is taken as it is: the store it is put into checks its digest,
 * and `dropIfDamaged` then drops it from the cache.
 */
export async function keptLayer(cache: LayerCache, key: string): Promise<Layer | undefined> {
  const bytes = await cache.get(`layer:${key}`).catch(() => undefined);
  if (bytes === undefined) return undefined;
  let record: LayerRecord;
  try {
    record = JSON.parse(new TextDecoder().decode(bytes)) as LayerRecord;
  } catch {
    return undefined;
  }
  const blob = await cache.locate(`layer-blob:${key}`);
  if (blob === undefined || `sha256:${blob.sha256}` !== record.digest || blob.size !== record.size) return undefined;
  // Hashed only when the file is not the version the record names: hashing the blob at every
  // build took as long again as the store's own check of it (0.17 s of a 1.4 s warm build of the
  // 1 GB bench image). The version read before hashing: a change made while it is hashed shows.
  const version = fileVersion(blob.path);
  if (version === undefined || version !== record.version) {
    if (!(await hashesTo(blob.path, blob.sha256))) return undefined;
    await keepRecord(cache, key, { ...record, version });
  }
  const { digest, diffId, size, tarSize } = record;
  const descriptor = { mediaType: MediaType.OciLayerGzip, digest, size };
  const dropIfDamaged = dropper(cache, key, blob.path, blob.sha256);
  return { digest, diffId, size, tarSize, source: fileSource(descriptor, blob.path), reused: true, key, dropIfDamaged };
}

/**
 * Keeps a layer's record under its key; a cache that cannot be written only makes the next build
 * slower.
 *
 * The cache keeps content by its SHA-256, so a record written again (its blob file a new version:
 * every build on a restored copy of a cache, whose files are new inodes) is a new file, and the
 * one the key named before was referenced by nothing, one more for ever at each build. That one
 * is removed once the key names the new one; and the new one too when another process moved the
 * key on meanwhile (two builds making the same layer at once: each writes its own blob file and
 * record). A record names its layer's blob file and that file's version, so another key names
 * the same record only when it names the very same layer. What is removed under such a key, or
 * by a race, is at worst a record a key names still: a miss, and the layer is made again, as for
 * any file missing from the cache (docs/build.md, Pruning). Two builds interleaved just so (one
 * reads the key before the other writes it, and the other checks it before the first writes it)
 * may still leave one record unreferenced.
 */
async function keepRecord(cache: LayerCache, key: string, record: LayerRecord): Promise<void> {
  const name = `layer:${key}`;
  const bytes = new TextEncoder().encode(JSON.stringify(record));
  const ours = createHash('sha256').update(bytes).digest('hex');
  const before = await cache.locate(name);
  const put = await cache.put(name, bytes).then(
    () => true,
    () => false,
  );
  if (!put) return;
  const now = await cache.locate(name);
  const rm = (path: string) =>
    fsp()
      .rm(path, { force: true })
      .catch(() => {});
  if (before !== undefined && before.sha256 !== ours && before.sha256 !== now?.sha256) await rm(before.path);
  // Records are files of one folder, named by their SHA-256 (DownloadCache).
  const folder = (now ?? before)?.path;
  if (now?.sha256 !== ours && folder !== undefined) await rm(join(dirname(folder), ours));
}

/** Whether the file at `path` hashes to `sha256`; false when it cannot be read. */
async function hashesTo(path: string, sha256: string): Promise<boolean> {
  return (await hashFile(path, path).catch(() => undefined))?.sha256 === sha256;
}

/** A source over the chunks of a layer held in memory, joined only as they are read. */
function chunksSource(descriptor: BlobSource['descriptor'], parts: readonly Uint8Array[]): BlobSource {
  return {
    descriptor,
    async open(offset = 0) {
      if (offset === 0)
        return (async function* () {
          yield* parts;
        })();
      let skip = offset;
      const rest: Uint8Array[] = [];
      for (const p of parts) {
        if (skip >= p.length) skip -= p.length;
        else {
          rest.push(p.subarray(skip));
          skip = 0;
        }
      }
      return bytesSource(descriptor, Buffer.concat(rest)).open();
    },
  };
}

/** The compressed bytes of a layer read whole, for tests and small layers. */
export async function layerBytes(layer: Layer): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of await layer.source.open()) parts.push(chunk);
  const out = Buffer.concat(parts);
  if (out.length !== layer.size)
    throw new ProvenantError('SIZE_MISMATCH', `the layer ${layer.digest} has ${out.length} bytes, not ${layer.size}`);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
