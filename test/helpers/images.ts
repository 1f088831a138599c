// Small real images for tests: GNU tar layers, configs, manifests, indexes and referrers (not a test file).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { bytesSource } from '../../src/io/types.ts';
import { encodeJson, parseStored, type Stored } from '../../src/oci/content.ts';
import { type Digest, digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import type { Descriptor, ImageConfig, ImageManifest, Platform } from '../../src/oci/types.ts';
import type { CosignLayer } from '../../src/sign/storage.ts';
import type { ContentStore } from '../../src/store/types.ts';

/** Deterministic pseudo-random bytes (xorshift), so generated images are the same every run. */
export function pseudoRandomBytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Compressible bytes, the same on every run: 16 letters picked by a linear congruential generator. */
export function compressibleBytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = 97 + ((x >>> 24) & 15);
  }
  return out;
}

/** A real gzipped tar layer holding one file, made with GNU tar (an independent writer). */
export function makeLayer(name: string, content: Uint8Array): { tar: Uint8Array; gz: Uint8Array } {
  const dir = mkdtempSync(join(tmpdir(), 'provenant-layer-'));
  try {
    writeFileSync(join(dir, name), content);
    const r = spawnSync('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-C', dir, '-cf', '-', name], {
      maxBuffer: 1 << 30,
    });
    if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`);
    const tar = new Uint8Array(r.stdout);
    return { tar, gz: new Uint8Array(gzipSync(tar)) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface MadeImage {
  root: Stored;
  manifests: Stored[];
  blobs: Map<string, Uint8Array>;
}

async function put(store: ContentStore, blobs: Map<string, Uint8Array>, bytes: Uint8Array, mediaType: string): Promise<Descriptor> {
  const d = await putBytes(store, bytes, mediaType);
  blobs.set(d.digest, bytes);
  return d;
}

/** Stores `bytes` as a blob of `mediaType` in `store`, and gives its descriptor. */
export async function putBytes(store: ContentStore, bytes: Uint8Array, mediaType: string): Promise<Descriptor> {
  const d: Descriptor = { mediaType, digest: digestOf(bytes), size: bytes.byteLength };
  await store.putBlob(bytesSource(d, bytes));
  return d;
}

/**
 * Writes a multi-platform image into `store`: per platform, `layers` real gzipped tar layers of
 * `layerBytes` each and a config; then the manifests and an index tagged `tag`.
 */
export async function makeImage(
  store: ContentStore,
  options: { platforms?: Platform[]; layers?: number; layerBytes?: number; seed?: number; tag?: string } = {},
): Promise<MadeImage> {
  const platforms = options.platforms ?? [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64' },
  ];
  const blobs = new Map<string, Uint8Array>();
  const manifests: Stored[] = [];
  let seed = options.seed ?? 1;
  for (const platform of platforms) {
    const layers: Descriptor[] = [];
    const diffIds: Digest[] = [];
    for (let i = 0; i < (options.layers ?? 2); i++) {
      const { tar, gz } = makeLayer(`file-${i}.bin`, pseudoRandomBytes(options.layerBytes ?? 4096, seed++));
      diffIds.push(digestOf(tar));
      layers.push(await put(store, blobs, gz, MediaType.OciLayerGzip));
    }
    const config: ImageConfig = {
      created: '1970-01-01T00:00:00Z',
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: diffIds },
    };
    const configDesc = await put(store, blobs, encodeJson(config), MediaType.OciConfig);
    const manifest: ImageManifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config: configDesc, layers };
    const stored = parseStored(encodeJson(manifest));
    await store.putManifest(stored);
    manifests.push(stored);
  }
  const index = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: manifests.map((m, i) => ({ mediaType: m.mediaType, digest: m.digest, size: m.bytes.byteLength, platform: platforms[i] })),
  };
  const root = parseStored(encodeJson(index));
  await store.putManifest(root, { tags: options.tag === undefined ? [] : [options.tag], keepAsRoot: true });
  return { root, manifests, blobs };
}

/** An OCI 1.1 artifact manifest that refers to `subject` (a signature-like referrer), its layer annotated with `annotations`. */
export async function makeReferrer(
  store: ContentStore,
  subject: Stored,
  artifactType: string,
  payload: string,
  annotations?: Record<string, string>,
): Promise<Stored> {
  const blobs = new Map<string, Uint8Array>();
  const empty = await put(store, blobs, new TextEncoder().encode('{}'), MediaType.OciEmpty);
  const layer = await put(store, blobs, new TextEncoder().encode(payload), 'application/vnd.example.payload');
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType,
    config: empty,
    layers: [annotations === undefined ? layer : { ...layer, annotations }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.bytes.byteLength },
    annotations: { 'org.opencontainers.image.created': '1970-01-01T00:00:00Z' },
  };
  const stored = parseStored(encodeJson(manifest));
  await store.putManifest(stored);
  return stored;
}

/**
 * A cosign `.sig` layer: the simple-signing payload `{"critical":{}}` with `signature` as its
 * signature annotation (no real signature: what a copy merges and tags, not what verify checks).
 * The same payload each time, so two layers differ in their signature alone, as one payload
 * signed by two keys.
 */
export function simpleSigningLayer(signature = 'c2ln'): CosignLayer {
  return {
    mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
    payload: new TextEncoder().encode('{"critical":{}}'),
    annotations: { 'dev.cosignproject.cosign/signature': signature },
  };
}

/** Runs a command; returns status and output, never throws. */
export function sh(cmd: string, args: string[], input?: string): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, ...(input === undefined ? {} : { input }) });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

/** The skip reason when a tool is absent, or false. */
export function toolMissing(cmd: string): string | false {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0 ? false : `${cmd} is not installed (scripts/setup.sh installs it)`;
}

/**
 * Stores `body` as an unsigned in-toto statement referrer of `subject` (one
 * `application/vnd.in-toto+json` layer, annotated with `predicateType` when given, and the empty
 * config: BuildKit's artifact-typed storage, other tools' too), whatever the body is, and returns
 * the referrer's digest.
 */
export async function attachReferrer(
  store: ContentStore,
  subject: { mediaType: string; digest: string; bytes: Uint8Array },
  body: Uint8Array,
  predicateType?: string,
): Promise<string> {
  const l = { mediaType: 'application/vnd.in-toto+json', digest: digestOf(body), size: body.length };
  await store.putBlob(bytesSource(l, body));
  const empty = new TextEncoder().encode('{}');
  const c = { mediaType: MediaType.OciEmpty, digest: digestOf(empty), size: empty.length };
  await store.putBlob(bytesSource(c, empty));
  const referrer = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: 'application/vnd.in-toto+json',
    config: c,
    layers: [predicateType === undefined ? l : { ...l, annotations: { 'in-toto.io/predicate-type': predicateType } }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.bytes.byteLength },
  };
  const stored = parseStored(encodeJson(referrer));
  await store.putManifest(stored);
  return stored.digest;
}
