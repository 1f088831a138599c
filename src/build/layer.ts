/**
 * From a tree to a layer: a tar in walk order with normalized headers, compressed with the
 * pinned gzip, so the same tree gives the same digest on any machine and Node version.
 */
import { createHash } from 'node:crypto';
import { pinnedGzip } from '../archive/deflate.ts';
import { type TarWriteEntry, tarHeader, writeTar } from '../archive/tar.ts';
import { concatBytes } from '../bytes.ts';
import type { Digest } from '../oci/digest.ts';
import type { Tree } from '../vfs/tree.ts';

/** A finished layer: its compressed bytes and both digests. */
export interface Layer {
  /** The gzip-compressed tar. */
  bytes: Uint8Array;
  /** sha256 of `bytes`: the layer's descriptor digest. */
  digest: Digest;
  /** sha256 of the uncompressed tar: the config's diff_id. */
  diffId: Digest;
  /** The uncompressed size. */
  tarSize: number;
}

/** Options of {@link treeLayer}. */
export interface LayerOptions {
  /** Only these paths (all when absent): for splitting a tree into several layers. */
  paths?: readonly string[] | undefined;
  /** Worker threads for compression (0: in this thread). */
  workers?: number | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * Writes the tree (or `paths` of it) as a layer. Headers carry no user or group names and no
 * device numbers but for devices; times, modes and owners are the tree's.
 */
export async function treeLayer(tree: Tree, options: LayerOptions = {}): Promise<Layer> {
  const paths = options.paths ?? tree.paths();
  const diff = createHash('sha256');
  const comp = createHash('sha256');
  let tarSize = 0;
  const parts: Uint8Array[] = [];
  let total = 0;
  async function* tar(): AsyncGenerator<Uint8Array> {
    for await (const chunk of writeTar(entries(tree, paths))) {
      diff.update(chunk);
      tarSize += chunk.length;
      yield chunk;
    }
  }
  for await (const chunk of pinnedGzip(tar(), { workers: options.workers, signal: options.signal })) {
    comp.update(chunk);
    parts.push(chunk);
    total += chunk.length;
  }
  const bytes = concatBytes(parts, total);
  return { bytes, digest: `sha256:${comp.digest('hex')}` as Digest, diffId: `sha256:${diff.digest('hex')}` as Digest, tarSize };
}

function* entries(tree: Tree, paths: readonly string[]): Generator<TarWriteEntry> {
  for (const path of paths) {
    const n = tree.get(path);
    if (n === undefined) continue;
    const pax: Record<string, string> = {};
    for (const [k, v] of Object.entries(n.xattrs ?? {})) pax[`SCHILY.xattr.${k}`] = v;
    const header = tarHeader({
      name: path,
      type: n.type,
      mode: n.mode,
      uid: n.uid,
      gid: n.gid,
      mtime: n.mtime,
      size: n.type === 'file' ? (n.body?.length ?? 0) : 0,
      linkname: n.type === 'symlink' || n.type === 'hardlink' ? (n.linkname ?? '') : '',
      devmajor: n.devmajor ?? 0,
      devminor: n.devminor ?? 0,
      pax: Object.keys(pax).length === 0 ? undefined : pax,
    });
    yield n.type === 'file' ? { header, body: n.body ?? new Uint8Array() } : { header };
  }
}
