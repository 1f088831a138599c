/**
 * The image config, manifest and index apko writes (`--compat apko`), as apko v1.2.39 makes them
 * through go-containerregistry v0.21.9 (pkg/build/oci/image.go:BuildImageFromLayers,
 * pkg/build/oci/index.go:generateIndexWithMediaType): Go's json.Marshal of ggcr's structs, so
 * fields in struct order, `omitempty` as declared, map keys sorted and HTML characters escaped.
 *
 * - config: `architecture, author, created, history, os, rootfs, config[, variant]`; author
 *   `github.com/chainguard-dev/apko`; one history entry per layer (`apko`/`apko`, the comment
 *   "<title> by <vendor>" when both annotations exist, else "This is an apko single-layer image"
 *   for one layer); Labels are the annotations with `org.opencontainers.image.created`;
 *   Env the environment with PATH and SSL_CERT_FILE defaults, sorted.
 * - manifest: descriptors `mediaType, size, digest`; annotations as the labels.
 * - index: manifests sorted by architecture, each with `artifactType` (ggcr's partial.Descriptor
 *   takes the config media type), annotations the configuration's with `created`.
 */
import { descriptorOf, parseStored, type Stored } from '../oci/content.ts';
import { type Digest, digestOf } from '../oci/digest.ts';
import { MediaType } from '../oci/mediatypes.ts';
import type { Descriptor, Platform } from '../oci/types.ts';
import { formatTimestamp } from '../time.ts';
import { apkoArch, goJson, goMap } from './apko-config.ts';
import type { ImageConfig } from './config-types.ts';
import { vcsAnnotations } from './image.ts';
import { shlexSplit } from './shlex.ts';

const encode = (s: string): Uint8Array => new TextEncoder().encode(s);

/** What one platform's config and manifest are made from. */
export interface ApkoImageInput {
  config: ImageConfig;
  /** The configuration file, for errors. */
  configPath: string;
  apkArch: string;
  /** `run-as` once the accounts step resolved it (a uid when the user exists). */
  runAs: string | undefined;
  /** The build date epoch, seconds. */
  created: number;
  layers: readonly { digest: Digest; size: number; diffId: Digest }[];
}

/** The labels and manifest annotations: the configuration's annotations and `created`. */
function labels(annotations: Readonly<Record<string, string>>, created: string): Record<string, string> {
  return goMap({ ...annotations, 'org.opencontainers.image.created': created });
}

/** The image config's bytes, as apko writes them. */
export function apkoImageConfig(input: ApkoImageInput): Uint8Array {
  const { config } = input;
  const created = formatTimestamp(input.created);
  const title = config.annotations['org.opencontainers.image.title'];
  const vendor = config.annotations['org.opencontainers.image.vendor'];
  const comment =
    title !== undefined && vendor !== undefined
      ? `${title} by ${vendor}`
      : input.layers.length > 1
        ? ''
        : 'This is an apko single-layer image';
  const where = (key: string) => `${input.configPath}: ${key}`;
  const e = config.entrypoint;
  const entrypoint =
    e.shellFragment !== undefined && e.shellFragment !== ''
      ? ['/bin/sh', '-c', e.shellFragment]
      : e.command !== undefined && e.command !== ''
        ? shlexSplit(e.command, where('entrypoint.command'))
        : undefined;
  const env: Record<string, string> = { ...config.environment };
  env.PATH ??= '/usr/local/sbin:/usr/local/bin:/usr/bin:/usr/sbin:/sbin:/bin';
  env.SSL_CERT_FILE ??= '/etc/ssl/certs/ca-certificates.crt';
  const envList = Object.entries(env)
    .map(([k, v]) => `${k}=${v}`)
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const cmd = config.cmd === undefined || config.cmd === '' ? undefined : shlexSplit(config.cmd, where('cmd'));
  const platform = apkoArch(input.apkArch).split('/');
  // v1.Config's field order; every field omitempty.
  const imageConfig = {
    ...(cmd === undefined || cmd.length === 0 ? {} : { Cmd: cmd }),
    ...(entrypoint === undefined || entrypoint.length === 0 ? {} : { Entrypoint: entrypoint }),
    Env: envList,
    Labels: labels(config.annotations, created),
    ...(input.runAs === undefined || input.runAs === '' ? {} : { User: input.runAs }),
    ...(config.volumes.length === 0
      ? {}
      : { Volumes: Object.fromEntries(Object.keys(goMap(Object.fromEntries(config.volumes.map((v) => [v, ''])))).map((v) => [v, {}])) }),
    ...(config.workDir === undefined || config.workDir === '' ? {} : { WorkingDir: config.workDir }),
    ...(config.stopSignal === undefined || config.stopSignal === '' ? {} : { StopSignal: config.stopSignal }),
  };
  const history = input.layers.map(() => ({ author: 'apko', created, created_by: 'apko', ...(comment === '' ? {} : { comment }) }));
  return encode(
    goJson({
      architecture: platform[0],
      author: 'github.com/chainguard-dev/apko',
      created,
      history,
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: input.layers.map((l) => l.diffId) },
      config: imageConfig,
      ...(platform[1] === undefined ? {} : { variant: platform[1] }),
    }),
  );
}

/** The manifest apko writes for a config and its layers. */
export function apkoManifest(config: { digest: Digest; size: number }, input: ApkoImageInput): Stored {
  const bytes = encode(
    goJson({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, size: config.size, digest: config.digest },
      layers: input.layers.map((l) => ({ mediaType: MediaType.OciLayerGzip, size: l.size, digest: l.digest })),
      annotations: labels(input.config.annotations, formatTimestamp(input.created)),
    }),
  );
  return parseStored(bytes, { mediaType: MediaType.OciManifest });
}

/**
 * The index apko writes: the platform manifests sorted by architecture (apko's string, `arm/v7`
 * after `amd64`), each with its platform and `artifactType`, and the configuration's annotations
 * (with the source and revision of a `vcs-url` written `url@commit`) and `created`, the latest
 * build date of the platforms.
 */
export function apkoIndex(
  images: readonly { apkArch: string; manifest: Stored; platform: Platform }[],
  config: ImageConfig,
  created: number,
): Stored {
  const annotations: Record<string, string> = { ...config.annotations, ...vcsAnnotations(config.vcsUrl) };
  const sorted = [...images].sort((a, b) => Buffer.compare(Buffer.from(apkoArch(a.apkArch)), Buffer.from(apkoArch(b.apkArch))));
  const manifests = sorted.map((i) => {
    const d: Descriptor = descriptorOf(i.manifest);
    const platform = {
      architecture: i.platform.architecture,
      os: 'linux',
      ...(i.platform.variant === undefined ? {} : { variant: i.platform.variant }),
    };
    return { mediaType: d.mediaType, size: d.size, digest: d.digest, platform, artifactType: MediaType.OciConfig };
  });
  const bytes = encode(
    goJson({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests,
      annotations: labels(annotations, formatTimestamp(created)),
    }),
  );
  return parseStored(bytes, { mediaType: MediaType.OciIndex });
}

/** The config's descriptor. */
export function configDescriptor(bytes: Uint8Array): Descriptor {
  return { mediaType: MediaType.OciConfig, digest: digestOf(bytes), size: bytes.length };
}
