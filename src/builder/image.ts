/**
 * From an assembled tree to OCI: the layers, the image config (entrypoint, cmd, environment,
 * user, workdir, stop signal, volumes, labels from annotations), the manifest, and the
 * multi-arch index of the platform images. The bytes depend on nothing but their inputs.
 */
import { ProvenantError } from '../errors.ts';
import { descriptorOf, encodeJson, parseStored, type Stored } from '../oci/content.ts';
import { digestOf } from '../oci/digest.ts';
import { MediaType } from '../oci/mediatypes.ts';
import type { Descriptor, ImageIndex, ImageManifest, Platform } from '../oci/types.ts';
import { formatTimestamp } from '../time.ts';
import { apkArchToPlatform } from './arch.ts';
import type { ImageConfig } from './config-types.ts';
import { type Layer, type LayerCache, type LayerPrecompressor, type LayerWalk, walkLayer } from './layer.ts';
import { shlexSplit } from './shlex.ts';

/** What {@link imageFromWalks} needs of the build. */
export interface ImageOptions {
  config: ImageConfig;
  /** The configuration file, for errors. */
  configPath: string;
  workers?: number | undefined;
  /** Where layers are written, and found again by their content (./layer.ts). */
  cache?: LayerCache | undefined;
  /** Take a layer from `cache` when an earlier build made it (default true). */
  reuse?: boolean | undefined;
  signal?: AbortSignal | undefined;
  /**
   * The image config's User: `accounts.run-as` as the image's /etc/passwd resolves it
   * ({@link resolveRunAs}). Without it, `run-as` as written.
   */
  user?: string | undefined;
}

/** One platform's image, as {@link imageFromWalks} makes it. */
export interface PlatformImage {
  manifest: Stored;
  /** The image config's exact bytes and descriptor. */
  config: { bytes: Uint8Array; descriptor: Descriptor };
  layers: Layer[];
  platform: Platform;
}

/**
 * From an assembled image to a platform image: its layers (`layers`, one walk of its entries per
 * layer: ./layer.ts), the image config (entrypoint, cmd, environment, user, workdir, stop signal,
 * volumes, labels from annotations) and the manifest. `precompressed` holds the bodies the build
 * has already started compressing.
 */
export async function imageFromWalks(
  options: ImageOptions,
  arch: string,
  walks: readonly LayerWalk[],
  packageCount: number,
  mtime: number,
  precompressed?: LayerPrecompressor | undefined,
): Promise<PlatformImage> {
  const layers: Layer[] = [];
  for (const walk of walks) {
    const { workers, cache, reuse, signal } = options;
    layers.push(await walkLayer(walk, { workers, cache, reuse, signal, precompressed }));
  }
  return imageOfLayers(options, arch, layers, packageCount, mtime);
}

/**
 * A platform image from its layers, made already or kept by an earlier build (./memo.ts): the
 * image config and the manifest, which depend on nothing but the configuration, the layers, the
 * number of packages and the time.
 */
export function imageOfLayers(
  options: Pick<ImageOptions, 'config' | 'configPath' | 'user'>,
  arch: string,
  layers: Layer[],
  packageCount: number,
  mtime: number,
): PlatformImage {
  const { config } = options;
  const platform = apkArchToPlatform(arch);
  const created = formatTimestamp(mtime);
  const imageConfig: Record<string, unknown> = {};
  const entry = entrypointOf(config, options.configPath);
  if (entry !== undefined) imageConfig.Entrypoint = entry;
  // Split as apko splits it (./shlex.ts); no words (`cmd: ""`, a comment) leave it unset, as in apko.
  const cmd = config.cmd === undefined ? [] : shlexSplit(config.cmd, `${options.configPath}: cmd`);
  if (cmd.length > 0) imageConfig.Cmd = cmd;
  imageConfig.Env = imageEnvironment(config);
  const user = options.user ?? config.accounts.runAs;
  if (user !== undefined) imageConfig.User = user;
  if (config.workDir !== undefined) imageConfig.WorkingDir = config.workDir;
  if (config.stopSignal !== undefined) imageConfig.StopSignal = config.stopSignal;
  if (config.volumes.length > 0) imageConfig.Volumes = Object.fromEntries([...config.volumes].sort().map((v) => [v, {}]));
  if (Object.keys(config.annotations).length > 0) imageConfig.Labels = sortedObject(config.annotations);
  const configJson = {
    architecture: platform.architecture,
    ...(platform.variant === undefined ? {} : { variant: platform.variant }),
    os: 'linux',
    created,
    config: imageConfig,
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: [{ created, created_by: 'provenant build', comment: `${packageCount} packages` }],
  };
  const configBytes = encodeJson(configJson);
  const configStored = {
    bytes: configBytes,
    descriptor: {
      mediaType: MediaType.OciConfig,
      digest: digestOf(configBytes),
      size: configBytes.length,
    },
  };
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: configStored.descriptor,
    layers: layers.map((l) => ({ mediaType: MediaType.OciLayerGzip, digest: l.digest, size: l.size })),
    ...(Object.keys(config.annotations).length > 0
      ? { annotations: { 'org.opencontainers.image.created': created, ...sortedObject(config.annotations) } }
      : {}),
  } as ImageManifest;
  const manifestStored = parseStored(encodeJson(manifest), { mediaType: MediaType.OciManifest });
  return { manifest: manifestStored, config: configStored, layers, platform };
}

/**
 * `run-as` as apko resolves it (pkg/build/accounts.go): the uid of the first user of that name in
 * the image's /etc/passwd (the configured users and those the packages made), else the name as
 * written, which apko leaves too. A runtime then needs no /etc/passwd to know the user, and
 * Kubernetes' runAsNonRoot, which refuses a user that is not a number, takes the image.
 */
export function resolveRunAs(runAs: string | undefined, passwd: string): string | undefined {
  if (runAs === undefined || runAs === '') return runAs;
  for (const line of passwd.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === runAs && fields.length >= 3) return fields[2];
  }
  return runAs;
}

/**
 * The multi-arch index of the platform images, with the configuration's annotations and, for a
 * `vcs-url` written `URL@REVISION`, `org.opencontainers.image.source` and `.revision`, as apko's
 * index has them (pkg/build/oci/index.go; they replace annotations of those names). apko's
 * platform images never get them: the configuration each is built from is a copy that drops
 * `vcs-url` (ImageConfiguration.MergeInto), so a Provenant platform manifest has none either.
 */
export function makeIndex(
  images: readonly Pick<PlatformImage, 'manifest' | 'platform'>[],
  config: Pick<ImageConfig, 'annotations' | 'vcsUrl'>,
  mtime: number,
): Stored {
  const annotations = { ...config.annotations, ...vcsAnnotations(config.vcsUrl) };
  const created = formatTimestamp(mtime);
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: images.map((i) => descriptorOf(i.manifest, { platform: { ...i.platform, os: 'linux' } })),
    ...(Object.keys(annotations).length > 0
      ? { annotations: { 'org.opencontainers.image.created': created, ...sortedObject(annotations) } }
      : {}),
  } as ImageIndex;
  return parseStored(encodeJson(index), { mediaType: MediaType.OciIndex });
}

/** A `vcs-url` as apko annotates an index with it: split at its first `@`; nothing without one. */
export function vcsAnnotations(vcsUrl: string | undefined): Record<string, string> {
  const at = vcsUrl?.indexOf('@') ?? -1;
  if (vcsUrl === undefined || at < 0) return {};
  return { 'org.opencontainers.image.source': vcsUrl.slice(0, at), 'org.opencontainers.image.revision': vcsUrl.slice(at + 1) };
}

/** The image's PATH when the configuration sets none: apko's and Alpine's default. */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/bin:/usr/sbin:/sbin:/bin';

/**
 * The environment of the image config: the configured variables, with PATH added when missing,
 * and SSL_CERT_FILE as apko sets it. Sorted by name, so the config's bytes are stable.
 */
function imageEnvironment(config: ImageConfig): string[] {
  const env: Record<string, string> = { PATH: DEFAULT_PATH, SSL_CERT_FILE: '/etc/ssl/certs/ca-certificates.crt', ...config.environment };
  return Object.keys(env)
    .sort()
    .map((k) => `${k}=${env[k]}`);
}

function entrypointOf(config: ImageConfig, where: string): string[] | undefined {
  const e = config.entrypoint;
  if (e.type === 'service-bundle') {
    throw new ProvenantError('INVALID_CONFIG', `${where}: entrypoint.type service-bundle is not supported yet`, { where });
  }
  // loadConfig refuses both with their line; this is for a config made by hand.
  if (Object.keys(e.services).length > 0) {
    throw new ProvenantError('INVALID_CONFIG', `${where}: entrypoint.services are not supported yet`, { where });
  }
  // An empty one is none, as in apko (pkg/build/oci/image.go).
  if (e.shellFragment !== undefined && e.shellFragment !== '') return ['/bin/sh', '-c', e.shellFragment];
  if (e.command === undefined) return undefined;
  const words = shlexSplit(e.command, `${where}: entrypoint.command`);
  return words.length === 0 ? undefined : words;
}

function sortedObject(o: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(
    Object.keys(o)
      .sort()
      .map((k) => [k, o[k] as string]),
  );
}
