/**
 * Small synthetic images for the compat tests, in the shapes the profiles talk about: BuildKit's
 * legacy and 0.32 (OCI-artifact) attestations in an index, referrers on an image or an index,
 * Docker or OCI media types, gzip, zstd or uncompressed layers (real tar layers made by GNU tar).
 */
import { zstdCompressSync } from 'node:zlib';
import { ArtifactType } from '../../src/attest/attachments.ts';
import { statement, storeAttestations } from '../../src/attest/storage.ts';
import { DOCKER_LAYER_TAR } from '../../src/compat/detectors.ts';
import { bytesSource } from '../../src/io/types.ts';
import { descriptorOf, encodeJson, parseStored, type Stored } from '../../src/oci/content.ts';
import { type Digest, digestHex, digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import { Annotation, type Descriptor, type ImageManifest, type Platform } from '../../src/oci/types.ts';
import type { LayoutStore } from '../../src/store/layout.ts';
import type { ContentStore } from '../../src/store/types.ts';
import { makeLayer, pseudoRandomBytes, putBytes } from '../helpers/images.ts';

/** A referrer to attach. */
export interface ReferrerSpec {
  /** Attach to the platform image (the first) or to the index. */
  on: 'image' | 'index';
  /** Undefined: no artifactType (the type is only in the config). */
  artifactType?: string | undefined;
  /** The config media type; the empty descriptor by default. */
  config?: string | undefined;
}

/** What {@link synth} builds. */
export interface SynthOptions {
  platforms?: Platform[];
  /** An index even for one platform (default: when there are several platforms or attestations). */
  index?: boolean;
  mediaTypes?: 'oci' | 'docker';
  layer?: 'gzip' | 'zstd' | 'uncompressed';
  /** A second layer whose descriptor claims this size (its blob is absent: checks never read layers). */
  hugeLayer?: number;
  /** Attestations listed in the index, per platform image. */
  attestations?: 'none' | 'legacy' | 'oci-artifact';
  /** A `linux/""` SBOM artifact in the index with the first image as subject (imagetools create). */
  emptyPlatformArtifact?: boolean;
  referrers?: ReferrerSpec[];
  /** Tag the first image's attestation manifest instead of the image. */
  rootIsAttestation?: boolean;
  tag?: string;
  seed?: number;
}

/** A built image. */
export interface Synth {
  root: Stored;
  images: Stored[];
  /** Attestation manifests listed in the index (legacy or OCI-artifact), by subject digest. */
  attestations: Map<Digest, Stored>;
  referrers: Stored[];
  tag: string;
}

const AMD64: Platform = { os: 'linux', architecture: 'amd64' };

async function put(store: ContentStore, bytes: Uint8Array, mediaType: string, extra: Partial<Descriptor> = {}): Promise<Descriptor> {
  return { ...(await putBytes(store, bytes, mediaType)), ...extra };
}

function provenanceStatement(subject: Stored): { predicateType: string; bytes: Uint8Array } {
  return statement('https://slsa.dev/provenance/v1', { buildDefinition: { buildType: 'https://example.org/synthetic' } }, [
    { name: 'synthetic', digest: subject.digest },
  ]);
}

/** Builds an image into `store` and tags it. */
export async function synth(store: LayoutStore, o: SynthOptions = {}): Promise<Synth> {
  const platforms = o.platforms ?? [AMD64];
  const docker = o.mediaTypes === 'docker';
  const tag = o.tag ?? 'v1';
  const images: Stored[] = [];
  let seed = o.seed ?? 7;
  for (const platform of platforms) {
    const { tar, gz } = makeLayer('hello.txt', pseudoRandomBytes(2048, seed++));
    const diffId = digestOf(tar);
    let layer: Descriptor;
    if (o.layer === 'zstd') layer = await put(store, new Uint8Array(zstdCompressSync(tar)), MediaType.OciLayerZstd);
    else if (o.layer === 'uncompressed') layer = await put(store, tar, docker ? DOCKER_LAYER_TAR : MediaType.OciLayer);
    else layer = await put(store, gz, docker ? MediaType.DockerLayerGzip : MediaType.OciLayerGzip);
    const layers = [layer];
    const diffIds = [diffId];
    if (o.hugeLayer !== undefined) {
      layers.push({ mediaType: layer.mediaType, digest: digestOf(`huge-${seed}`), size: o.hugeLayer });
      diffIds.push(digestOf(`huge-tar-${seed}`));
    }
    const config = encodeJson({
      architecture: platform.architecture,
      os: platform.os,
      // As a build writes it: a single manifest's platform is read from here.
      ...(platform.variant === undefined ? {} : { variant: platform.variant }),
      config: { Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: diffIds },
    });
    const configDesc = await put(store, config, docker ? MediaType.DockerConfig : MediaType.OciConfig);
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: docker ? MediaType.DockerManifest : MediaType.OciManifest,
      config: configDesc,
      layers,
    };
    const stored = parseStored(encodeJson(manifest));
    await store.putManifest(stored);
    images.push(stored);
  }
  const attestations = new Map<Digest, Stored>();
  const wantIndex = o.index ?? (platforms.length > 1 || (o.attestations ?? 'none') !== 'none' || o.emptyPlatformArtifact === true);
  let root: Stored = images[0]!;
  if (wantIndex) {
    const entries: Descriptor[] = images.map((m, i) => descriptorOf(m, { platform: platforms[i]! }));
    const indexType = docker ? MediaType.DockerManifestList : MediaType.OciIndex;
    root = parseStored(encodeJson({ schemaVersion: 2, mediaType: indexType, manifests: entries }), { mediaType: indexType });
    if (o.attestations === 'legacy') {
      root = await storeAttestations(
        store,
        root,
        images.map((m) => ({ manifest: m, statements: [provenanceStatement(m)] })),
        'buildkit',
      );
      if (root.kind === 'index') {
        for (const e of root.index.manifests) {
          const ref = e.annotations?.[Annotation.DockerReferenceDigest] as Digest | undefined;
          if (ref !== undefined) attestations.set(ref, await store.getManifest(e.digest));
        }
      }
    } else if (o.attestations === 'oci-artifact') {
      const extra: Descriptor[] = [];
      const empty = await put(store, new TextEncoder().encode('{}'), MediaType.OciEmpty);
      for (const m of images) {
        const s = provenanceStatement(m);
        const layer = await put(store, s.bytes, MediaType.InToto, { annotations: { [Annotation.InTotoPredicateType]: s.predicateType } });
        const att = parseStored(
          encodeJson({
            schemaVersion: 2,
            mediaType: MediaType.OciManifest,
            artifactType: ArtifactType.BuildkitAttestation,
            config: { ...empty, data: 'e30=' },
            layers: [layer],
            subject: descriptorOf(m),
          }),
        );
        await store.putManifest(att);
        attestations.set(m.digest, att);
        extra.push(
          descriptorOf(att, {
            annotations: { [Annotation.DockerReferenceDigest]: m.digest, [Annotation.DockerReferenceType]: 'attestation-manifest' },
            platform: { architecture: 'unknown', os: 'unknown' },
          }),
        );
      }
      if (root.kind === 'index') root = parseStored(encodeJson({ ...root.index, manifests: [...root.index.manifests, ...extra] }));
    }
    if (o.emptyPlatformArtifact) {
      const sbom = await attachment(store, images[0]!, ArtifactType.SpdxJson, MediaType.OciEmpty, '{"spdxVersion":"SPDX-2.3"}');
      if (root.kind === 'index') {
        root = parseStored(
          encodeJson({
            ...root.index,
            manifests: [...root.index.manifests, descriptorOf(sbom, { platform: { os: 'linux', architecture: '' } })],
          }),
        );
      }
    }
    for (const m of images) if (!(await store.resolve(m.digest))) await store.putManifest(m);
  }
  const referrers: Stored[] = [];
  const tagged = o.rootIsAttestation ? (attestations.get(images[0]!.digest) ?? root) : root;
  if (tagged !== root) await store.putManifest(root);
  await store.putManifest(tagged, { tags: [tag], keepAsRoot: true });
  for (const r of o.referrers ?? []) {
    const subject = r.on === 'index' ? root : images[0]!;
    referrers.push(await attachment(store, subject, r.artifactType, r.config ?? MediaType.OciEmpty, `referrer ${referrers.length}`, true));
  }
  return { root, images, attestations, referrers, tag };
}

/** An artifact manifest about `subject`, stored as a referrer when `asReferrer`. */
async function attachment(
  store: ContentStore,
  subject: Stored,
  artifactType: string | undefined,
  configType: string,
  payload: string,
  asReferrer = false,
): Promise<Stored> {
  const configBytes = configType === MediaType.OciEmpty ? new TextEncoder().encode('{}') : encodeJson({ type: configType });
  const config = await put(store, configBytes, configType);
  const layer = await put(store, new TextEncoder().encode(payload), 'application/vnd.example.payload');
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    ...(artifactType === undefined ? {} : { artifactType }),
    config: configType === MediaType.OciEmpty ? { ...config, data: 'e30=' } : config,
    layers: [layer],
    subject: descriptorOf(subject),
  };
  const stored = parseStored(encodeJson(manifest));
  if (asReferrer) await store.putManifest(stored);
  else await store.putBlob(bytesSource(descriptorOf(stored), stored.bytes));
  return stored;
}

/** The cosign tag for a subject. */
export function cosignTagOf(subject: Digest, suffix: string): string {
  return `sha256-${digestHex(subject)}.${suffix}`;
}
