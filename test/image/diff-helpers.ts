/** Helpers of the diff tests: images made from tar entries in temporary layouts. */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { type TarWriteEntry, tarBytes, tarHeader } from '../../src/archive/tar.ts';
import { isProvenantError } from '../../src/errors.ts';
import { applyLayer, LayerFilesystem } from '../../src/image/filesystem.ts';
import { bytesSource } from '../../src/io/types.ts';
import { encodeJson, parseStored, type Stored } from '../../src/oci/content.ts';
import { type Digest, digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import type { Descriptor, ImageConfig, ImageManifest, Platform } from '../../src/oci/types.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import type { ContentStore } from '../../src/store/types.ts';

export const run = promisify(execFile);
export const utf8 = new TextEncoder();
export const code = (c: string) => (err: unknown) => isProvenantError(err, c as never);
const dirs: string[] = [];

export async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'provenant-diff-'));
  dirs.push(d);
  return d;
}

export async function layout(): Promise<LayoutStore> {
  return LayoutStore.open(join(await tempDir(), 'layout'), { create: true });
}

/** Removes the temporary folders the tests made. */
export async function removeTemp(): Promise<void> {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
}

// ---- images made from tar entries --------------------------------------------------------

export type Entry = TarWriteEntry;
export const file = (name: string, body: string, over: Partial<Entry['header']> = {}): Entry => ({
  header: tarHeader({ name, size: utf8.encode(body).length, ...over }),
  body: utf8.encode(body),
});
export const dir = (name: string, over: Partial<Entry['header']> = {}): Entry => ({
  header: tarHeader({ name, type: 'dir', mode: 0o755, ...over }),
});
export const link = (name: string, target: string): Entry => ({
  header: tarHeader({ name, type: 'symlink', mode: 0o777, linkname: target }),
});

export interface Layer {
  bytes: Uint8Array;
  descriptor: Descriptor;
  diffId: Digest;
}

export async function layer(entries: Entry[], compression: 'gzip' | 'zstd' | 'none' = 'gzip'): Promise<Layer> {
  // Hostile names too: flattening is what must refuse them.
  const tar = await tarBytes(entries, { unsafeNames: true });
  const bytes =
    compression === 'gzip'
      ? new Uint8Array(zlib.gzipSync(tar))
      : compression === 'zstd'
        ? new Uint8Array((zlib as unknown as { zstdCompressSync(b: Uint8Array): Buffer }).zstdCompressSync(tar))
        : tar;
  const mediaType = compression === 'gzip' ? MediaType.OciLayerGzip : compression === 'zstd' ? MediaType.OciLayerZstd : MediaType.OciLayer;
  return { bytes, descriptor: { mediaType, digest: digestOf(bytes), size: bytes.length }, diffId: digestOf(tar) };
}

export async function putImage(
  store: ContentStore,
  layers: Layer[],
  options: {
    tag?: string;
    config?: ImageConfig['config'];
    platform?: Platform;
    diffIds?: Digest[];
    history?: ImageConfig['history'];
    /** More top-level keys of the config. */
    extra?: Record<string, unknown>;
    /** The manifest's annotations. */
    annotations?: Record<string, string>;
  } = {},
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
    ...options.extra,
  };
  const configBytes = encodeJson(config);
  const configDesc: Descriptor = { mediaType: MediaType.OciConfig, digest: digestOf(configBytes), size: configBytes.length };
  await store.putBlob(bytesSource(configDesc, configBytes));
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: configDesc,
    layers: layers.map((l) => l.descriptor),
    ...(options.annotations === undefined ? {} : { annotations: options.annotations }),
  };
  const stored = parseStored(encodeJson(manifest));
  await store.putManifest(stored, { tags: options.tag === undefined ? [] : [options.tag], keepAsRoot: true });
  return stored;
}

export async function putIndex(
  store: ContentStore,
  images: { stored: Stored; platform: Platform }[],
  tag: string,
  annotations?: Record<string, string>,
): Promise<Stored> {
  const index = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: images.map((i) => ({
      mediaType: i.stored.mediaType,
      digest: i.stored.digest,
      size: i.stored.bytes.length,
      platform: i.platform,
    })),
    ...(annotations === undefined ? {} : { annotations }),
  };
  const stored = parseStored(encodeJson(index));
  await store.putManifest(stored, { tags: [tag], keepAsRoot: true });
  return stored;
}

/** The flattened filesystem of `layers` as path → a short description. */
export async function flatten(layers: Layer[]): Promise<Record<string, string>> {
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

// ---- images made from layers --------------------------------------------------------------

/** `store`, counting how often each blob is read. */
export function counting(store: ContentStore): { store: ContentStore; reads: Map<string, number> } {
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
