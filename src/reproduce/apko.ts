/**
 * Reproducing an apko-built image (`provenant reproduce`) from the configuration apko was given:
 * an `https://apko.dev/image-configuration` attestation (the locked configuration Chainguard
 * attests for each image), else the image's own /etc/apko.json. Each platform is built again with
 * apko compatibility (../builder/apko.ts) and compared with the original by its config, which
 * holds the diff_ids of its uncompressed layers: the same config, with the original's layers
 * decompressing to those diff_ids, is the same content. The layers' compressed bytes differ from
 * apko's (apko compresses with pgzip; docs/build.md), so such a rebuild whose manifest differs from
 * the original's only in its layers' digests and sizes is reported as a match of content, with the
 * other compression said; any other field of the manifest that differs is a mismatch.
 *
 * The build date: apko dates an image SOURCE_DATE_EPOCH when it was set, else the newest
 * package's build time. The rebuild tries the second, and when the config's `created` says
 * otherwise, builds again with SOURCE_DATE_EPOCH at that time.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { apkArchToPlatform, platformApkArch } from '../builder/arch.ts';
import { type BuildResult, buildImage, writeBuild } from '../builder/build.ts';
import { parseConfig } from '../builder/config.ts';
import type { ApkArch, LoadedConfig } from '../builder/config-types.ts';
import { decodeUtf8 } from '../bytes.ts';
import { isProvenantError, ProvenantError, throwIfAborted } from '../errors.ts';
import { imageFiles } from '../image/apko-sbom.ts';
import { diffImages } from '../image/diff.ts';
import { decompressLayer } from '../image/filesystem.ts';
import { readImageConfig } from '../image/image-config.ts';
import type { InspectedManifest, InspectResult } from '../image/inspect.ts';
import { statementsOrNone } from '../image/statements.ts';
import type { Logger } from '../io/types.ts';
import { type Digest, Digester } from '../oci/digest.ts';
import { formatPlatform, platformMatches } from '../oci/platform.ts';
import type { Descriptor, ImageConfig, ImageManifest } from '../oci/types.ts';
import { isRemote } from '../pkg/fetch.ts';
import { verifyImage } from '../sign/verify.ts';
import { LayoutStore } from '../store/layout.ts';
import type { ContentStore } from '../store/types.ts';
import { explainMismatch, type MismatchDetail } from './explain.ts';
import { localFilesReason, type PackageSources } from './fetch.ts';
import { platformLabel, policyOf, type ReproduceTrust, signerOf } from './find.ts';
import { differingFields, ownFieldDifferences, shown } from './json.ts';

/** The predicate type of the locked configuration apko was given. */
export const APKO_CONFIGURATION = 'https://apko.dev/image-configuration';

/** Where a platform's apko configuration came from. */
export interface ApkoRecipeSource {
  predicateType: string;
  buildType: undefined;
  builderId: undefined;
  /** The attestation's storage, or `image` for /etc/apko.json. */
  storage: 'buildkit' | 'referrers' | 'cosign' | 'image';
  source: string;
  verified: boolean;
  verifiedBy?: string | undefined;
}

/** What {@link reproduceApko} says of one platform. */
export type ApkoPlatformResult = { platform: string; digest: Digest; provenance: ApkoRecipeSource } & (
  | {
      status: 'match';
      rebuilt: Digest;
      /** `other`: the same config (so the same diff_ids) and another compression of the layers. */
      compression: 'same' | 'other';
      changedPackageFiles: [];
    }
  | {
      status: 'mismatch';
      rebuilt: Digest;
      detail?: MismatchDetail | undefined;
      /** Why there is no file-by-file comparison: a layer that is not what the original's config says. */
      error?: string | undefined;
      changedPackageFiles: [];
    }
  | { status: 'not-replayable'; reason: string; missing: string[] }
);

/** What {@link reproduceApko} needs of reproduce's options. */
export interface ApkoReproduceOptions {
  trust?: ReproduceTrust | undefined;
  baseDir?: string | undefined;
  cacheDir?: string | undefined;
  workDir?: string | undefined;
  output?: { store: ContentStore; tags?: readonly string[] | undefined } | undefined;
  workers?: number | undefined;
  /** Read repositories and keys of this machine that the configuration names (paths, `file://`). */
  allowLocalFiles?: boolean | undefined;
  /** Told, before a platform is rebuilt, which hosts its configuration's repositories and keys are on. */
  onSources?: ((sources: PackageSources) => void) | undefined;
  /** Told of an attachment skipped because it holds no statements. */
  logger?: Logger | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * Reads an apko configuration (the attestation's predicate, or /etc/apko.json) as a
 * configuration Provenant builds: JSON is YAML, and apko's keys are the configuration's keys.
 *
 * @returns the loaded configuration, or why it cannot be replayed (not an object, packages not
 *   pinned to versions, keys Provenant does not build)
 */
export function readApkoConfiguration(value: unknown, where: string): { loaded: LoadedConfig } | { reason: string; missing: string[] } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { reason: `${where} is not an apko configuration (a JSON object)`, missing: ['an apko image configuration'] };
  }
  const packages = (value as { contents?: { packages?: unknown } }).contents?.packages;
  const list = Array.isArray(packages) ? packages : [];
  const loose = list.filter((p) => typeof p !== 'string' || !/^[^=<>~]+=[^=<>~]+$/.test(p.replace(/@[^=]*$/, '')));
  if (list.length === 0 || loose.length > 0) {
    return {
      reason: `${where} is not a locked configuration: ${list.length === 0 ? 'it names no packages' : `${loose.map((p) => JSON.stringify(p)).join(', ')} is not pinned to a version`}`,
      missing: ['contents.packages pinned as name=version, as apko locks them'],
    };
  }
  try {
    // A configuration without `archs` is read as this host's; the rebuild builds the platform's own (archOf).
    return { loaded: parseConfig(JSON.stringify(value), where, { hostArch: 'x86_64', rebuild: true }) };
  } catch (err) {
    if (!isProvenantError(err)) throw err;
    return { reason: `${where} does not load: ${err.message}`, missing: ['an apko configuration this version of Provenant builds'] };
  }
}

/** The statements about `subject` among an image's attachments whose predicate is apko's configuration. */
async function attested(
  store: ContentStore,
  attachments: InspectedManifest['attachments'],
  subject: Digest,
  options: ApkoReproduceOptions,
) {
  const out: { predicate: unknown; source: ApkoRecipeSource }[] = [];
  for (const a of attachments) {
    if (a.kind === 'signature') continue;
    // One attachment that holds no statements is skipped, said; a blob that cannot be read is an error.
    for (const s of await statementsOrNone(store, a, options, (m) => options.logger?.warn(m))) {
      const subjects = Array.isArray(s.statement.subject) ? (s.statement.subject as { digest?: Record<string, string> }[]) : [];
      if (s.predicateType !== APKO_CONFIGURATION || !subjects.some((x) => x.digest?.sha256 === subject.slice(7))) continue;
      const source = {
        predicateType: APKO_CONFIGURATION,
        buildType: undefined,
        builderId: undefined,
        storage: a.storage,
        source: `image-configuration attestation ${a.tag ?? a.digest}`,
        verified: false,
      };
      out.push({ predicate: s.statement.predicate, source });
    }
  }
  return out;
}

/** The image-configuration attestations of a platform, its own first, then the index's; none verified. */
async function unsignedAttested(store: ContentStore, inspected: InspectResult, m: InspectedManifest, options: ApkoReproduceOptions) {
  const own = await attested(store, m.attachments, m.digest, options);
  const shared = inspected.kind === 'index' ? await attested(store, inspected.attachments, inspected.digest, options) : [];
  return [...own, ...shared];
}

/** The platform's own /etc/apko.json, as apko wrote it into the image; undefined when it has none. */
async function imageConfiguration(
  store: ContentStore,
  inspected: InspectResult,
  m: InspectedManifest,
  options: ApkoReproduceOptions,
): Promise<Uint8Array | undefined> {
  const stored = await store.getManifest(m.digest, options);
  if (stored.kind !== 'manifest') return undefined;
  const read = await imageFiles(store, stored.manifest.layers, (p) => p === 'etc/apko.json', `${inspected.name}@${m.digest}`, options);
  return read('etc/apko.json');
}

/** How large an image config the note of {@link unverifiedApkoConfiguration} reads: apko's are under 4 KiB. */
const NOTE_CONFIG_LIMIT = 1024 * 1024;

/**
 * Whether the platform's image config says apko built it (its `author`, or a history entry
 * `created_by: apko`): apko writes /etc/apko.json into every image it builds. The config is one
 * small blob; the layers are not read for this.
 */
async function builtByApko(store: ContentStore, m: InspectedManifest, options: ApkoReproduceOptions): Promise<boolean> {
  const stored = await store.getManifest(m.digest, options);
  if (stored.kind !== 'manifest' || stored.manifest.config.size > NOTE_CONFIG_LIMIT) return false;
  const config = await readImageConfig(store, stored.manifest.config, m.digest, options);
  const history = Array.isArray(config.history) ? (config.history as { created_by?: unknown }[]) : [];
  return config.author === 'github.com/chainguard-dev/apko' || history.some((h) => h?.created_by === 'apko');
}

/** `read()`, or undefined when it fails for any reason but cancelling: a note is never an error. */
async function unlessFailed<T>(read: () => Promise<T>, options: ApkoReproduceOptions): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    throwIfAborted(options.signal);
    if (isProvenantError(err, 'ABORTED')) throw err;
    return undefined;
  }
}

/**
 * With trust, why a platform's apko configuration was not used, when it has one that nothing
 * verified: its /etc/apko.json (which nothing signs; said when the image config says apko built
 * it, without reading the layers), an image-configuration attestation whose signature did not
 * verify. Undefined without trust, or when the platform has none, or when what it is told from
 * cannot be read: then there is nothing to say beyond the missing provenance, and the verdict
 * stands as it is.
 */
export async function unverifiedApkoConfiguration(
  store: ContentStore,
  inspected: InspectResult,
  m: InspectedManifest,
  options: ApkoReproduceOptions,
): Promise<{ reason: string; missing: string } | undefined> {
  if (options.trust === undefined) return undefined;
  const unsigned = (await unlessFailed(() => unsignedAttested(store, inspected, m, options), options)) ?? [];
  const inImage = (await unlessFailed(() => builtByApko(store, m, options), options)) === true;
  const said = [
    ...(unsigned.length === 0
      ? []
      : [
          `its apko configuration attestation (${unsigned.map((u) => `${u.source.storage} ${u.source.source}`).join(', ')}) has no signature that verifies with the key or identity given`,
        ]),
    ...(inImage
      ? ['its /etc/apko.json was not used, as it is not signed (apko writes it into the image, where anyone may change it)']
      : []),
  ];
  if (said.length === 0) return undefined;
  return {
    reason: said.join('; '),
    missing: `or an ${APKO_CONFIGURATION} attestation about this platform manifest or its index, signed by the key or identity given (without --key or an identity, /etc/apko.json is replayed, unverified)`,
  };
}

/**
 * The apko configuration of one platform: its own attestation, else the index's, else (without
 * trust) its /etc/apko.json. With trust, only an attestation whose signature verifies counts.
 */
async function recipeOf(store: ContentStore, inspected: InspectResult, m: InspectedManifest, options: ApkoReproduceOptions) {
  const trust = options.trust;
  if (trust !== undefined) {
    for (const subject of [m.digest, inspected.digest]) {
      const report = await verifyImage(store, subject, {
        policy: policyOf(trust),
        trustedRoot: trust.trustedRoot,
        kind: 'attestation',
        signal: options.signal,
        logger: options.logger,
      });
      const c = report.checked.find((x) => x.verified && x.statement?.predicateType === APKO_CONFIGURATION);
      if (c?.statement !== undefined) {
        const source = {
          predicateType: APKO_CONFIGURATION,
          buildType: undefined,
          builderId: undefined,
          storage: c.storage,
          source: c.source,
          verified: true,
          verifiedBy: signerOf(c),
        };
        return { predicate: c.statement.predicate, source };
      }
    }
    return undefined;
  }
  const found = (await unsignedAttested(store, inspected, m, options))[0];
  if (found !== undefined) return found;
  const bytes = await imageConfiguration(store, inspected, m, options);
  if (bytes === undefined) return undefined;
  let predicate: unknown;
  try {
    predicate = JSON.parse(decodeUtf8(bytes, true));
  } catch {
    predicate = undefined;
  }
  const source = {
    predicateType: APKO_CONFIGURATION,
    buildType: undefined,
    builderId: undefined,
    storage: 'image' as const,
    source: '/etc/apko.json',
    verified: false,
  };
  return { predicate, source };
}

/**
 * Rebuilds, with apko compatibility, each platform of `manifests` that has an apko configuration,
 * and compares it with the original. Platforms without one are left out of the result.
 *
 * @throws ProvenantError `USAGE` when the configuration names relative repositories or keys and
 *   no `baseDir` says what they are relative to, or repositories or keys of this machine without
 *   `allowLocalFiles`; what the build throws
 */
export async function reproduceApko(
  store: ContentStore,
  inspected: InspectResult,
  manifests: readonly InspectedManifest[],
  options: ApkoReproduceOptions,
): Promise<Map<Digest, ApkoPlatformResult>> {
  const out = new Map<Digest, ApkoPlatformResult>();
  for (const m of manifests) {
    throwIfAborted(options.signal);
    const recipe = await recipeOf(store, inspected, m, options);
    if (recipe === undefined) continue;
    const base = { platform: platformLabel(m), digest: m.digest, provenance: recipe.source };
    const read = readApkoConfiguration(recipe.predicate, recipe.source.source);
    if ('reason' in read) {
      out.set(m.digest, { ...base, status: 'not-replayable', reason: read.reason, missing: read.missing });
      continue;
    }
    out.set(m.digest, await rebuild(store, inspected.name, m, read.loaded, base, options));
  }
  return out;
}

/**
 * Why the layers, decompressed, are not the config's diff_ids in order (as many of each), or
 * undefined when they are. Each layer is streamed through its decoder and a hash, so memory stays
 * bounded whatever its size.
 */
async function layerNotOfDiffId(
  store: ContentStore,
  layers: readonly Descriptor[],
  diffIds: readonly string[],
  where: string,
  options: ApkoReproduceOptions,
): Promise<string | undefined> {
  if (layers.length !== diffIds.length) {
    return `the original has the rebuild's config, but ${layers.length} layers for its ${diffIds.length} diff_ids`;
  }
  for (const [i, layer] of layers.entries()) {
    throwIfAborted(options.signal);
    const digester = new Digester();
    const raw = await store.readBlob(layer, { signal: options.signal });
    for await (const chunk of decompressLayer(raw, `${where} layer ${i} (${layer.digest})`)) digester.update(chunk);
    const actual = digester.digest();
    if (actual !== diffIds[i]) {
      return `the original has the rebuild's config, but its layer ${i} (${layer.digest}) decompresses to ${actual}, not the diff_id ${diffIds[i]} the config names: the layer is not what the config describes`;
    }
  }
  return undefined;
}

/**
 * What differs between the original manifest and the rebuilt one, beyond the compressed bytes of
 * their layers: each layer's `digest` and `size` are all "other compression" covers (apko's pgzip
 * and Provenant's gzip of the same tar, the diff_ids checked apart). Anything else a manifest says
 * is what the rebuild makes from the configuration, or a manifest edited after the build: its own
 * media type, artifact type, subject and annotations (apko writes the configuration's, `vcs-url`'s
 * and `created`), the config's descriptor, and each layer's media type (another compression
 * algorithm, zstd say, is not what apko makes of this configuration), `urls` (a runtime may fetch
 * the layer from them), `data`, annotations and artifact type.
 */
export function manifestDifferences(original: ImageManifest, rebuilt: ImageManifest): string[] {
  const out = ownFieldDifferences(original, rebuilt, 'the original');
  // The fields of two descriptors that differ; with `compressed`, but for the bytes' digest and size.
  const descriptor = (a: Descriptor, b: Descriptor, what: string, compressed: boolean) => {
    for (const f of differingFields(a, b)) {
      if (compressed && (f === 'digest' || f === 'size')) continue;
      out.push(`${what} ${f}: ${shown(a[f])} in the original, ${shown(b[f])} rebuilt`);
    }
  };
  descriptor(original.config, rebuilt.config, 'config', false);
  if (original.layers.length !== rebuilt.layers.length) {
    out.push(`${original.layers.length} layers in the original, ${rebuilt.layers.length} rebuilt`);
  } else {
    for (const [i, layer] of original.layers.entries()) descriptor(layer, rebuilt.layers[i] as Descriptor, `layer ${i}`, true);
  }
  return out;
}

/**
 * The architecture to rebuild a platform as: the platform's own (its index entry's, else its
 * config's architecture and variant). A configuration that names no `archs` is read with a host
 * architecture that says nothing of the image (apko built it for the platform asked), so the
 * platform decides; one that names them (an index's names every architecture) must name the
 * platform's, else it is not the configuration this platform was built from.
 *
 * @returns the architecture, or why the platform cannot be replayed from the configuration
 */
function archOf(
  loaded: LoadedConfig,
  m: InspectedManifest,
  original: Partial<ImageConfig>,
  where: string,
): ApkArch | { reason: string; missing: string[] } {
  const fromConfig =
    original.architecture === undefined
      ? undefined
      : {
          os: original.os ?? 'linux',
          architecture: original.architecture,
          ...(original.variant === undefined ? {} : { variant: original.variant }),
        };
  const platform = m.platform ?? fromConfig;
  const { archs, archsFromHost } = loaded.config;
  if (platform === undefined) {
    // No platform to go by (a config without `architecture`): the configuration's own, if named.
    if (!archsFromHost && archs[0] !== undefined) return archs[0];
    return {
      reason: `${where} names no archs, and the image names no platform (its config has no architecture) to rebuild it as`,
      missing: ['an image config that names its architecture'],
    };
  }
  const label = formatPlatform(platform);
  const arch = archsFromHost ? platformApkArch(platform) : archs.find((a) => platformMatches(apkArchToPlatform(a), platform));
  if (arch !== undefined) return arch;
  return archsFromHost
    ? {
        reason: `${where} names no archs, and ${label} is no architecture Provenant builds for`,
        missing: ['the platform of an architecture apko builds (linux/amd64, linux/arm64, ...)'],
      }
    : {
        reason: `${where} names the archs ${archs.join(', ')}, not ${label}'s: it is not the configuration this platform was built from`,
        missing: [`a configuration whose archs include ${label}'s`],
      };
}

async function rebuild(
  store: ContentStore,
  name: string,
  m: InspectedManifest,
  loaded: LoadedConfig,
  base: { platform: string; digest: Digest; provenance: ApkoRecipeSource },
  options: ApkoReproduceOptions,
): Promise<ApkoPlatformResult> {
  const { contents } = loaded.config;
  // A repository may carry a tag (`@local ./repo`); the location follows it.
  const locations = [...contents.repositories, ...contents.buildRepositories, ...contents.keyring].map((e) => e.replace(/^@\S+\s+/, ''));
  const relative = locations.filter((e) => !/^[a-z][a-z0-9+.-]*:\/\//i.test(e) && !isAbsolute(e));
  if (relative.length > 0 && options.baseDir === undefined) {
    throw new ProvenantError(
      'USAGE',
      `the apko configuration of ${base.platform} names ${relative.join(', ')}, relative to where apko ran`,
      {
        hint: 'run reproduce from that folder (the CLI passes the working directory), or give baseDir',
      },
    );
  }
  // The configuration is as untrusted as a provenance (/etc/apko.json is in the image itself):
  // what it names on this machine is read only when allowed, as reproduce's package files are.
  const local = locations.filter((e) => !isRemote(e));
  if (local.length > 0 && options.allowLocalFiles !== true) {
    throw new ProvenantError(
      'USAGE',
      `the apko configuration of ${base.platform} names repositories or keys on this machine (${local.slice(0, 3).join(', ')}${local.length > 3 ? `, and ${local.length - 3} more` : ''}): ${localFilesReason(base.provenance.verified, 'configuration')}, so they are read only when allowed`,
      {
        where: base.provenance.source,
        hint: 'for an image built from a local repository you trust, pass --allow-local-packages (run from the folder apko ran in)',
      },
    );
  }
  const hosts = [...new Set(locations.filter(isRemote).map((e) => new URL(e).host))];
  options.onSources?.({ hosts, localFiles: local.length });
  const stored = await store.getManifest(m.digest, options);
  if (stored.kind !== 'manifest') throw new ProvenantError('INVALID_MANIFEST', `${m.digest} is not an image manifest`, { where: m.digest });
  const original = await readImageConfig(store, stored.manifest.config, m.digest, options);
  const arch = archOf(loaded, m, original, base.provenance.source);
  if (typeof arch !== 'string') return { ...base, status: 'not-replayable', ...arch };
  const temp = await mkdtemp(join(options.workDir ?? tmpdir(), 'provenant-reproduce-apko-'));
  try {
    const configPath = join(options.baseDir ?? temp, 'apko.json');
    const build = (sourceDateEpoch?: number): Promise<BuildResult> =>
      buildImage({
        config: loaded,
        configPath,
        archs: [arch],
        compat: 'apko',
        sourceDateEpoch,
        // Package files only from the cache: layers an earlier build compressed would prove nothing.
        layerCache: false,
        cacheDir: options.cacheDir,
        workers: options.workers,
        signal: options.signal,
      });
    let result = await build();
    const created = Math.floor(Date.parse(original.created ?? '') / 1000);
    if (
      result.images[0]?.config.descriptor.digest !== stored.manifest.config.digest &&
      Number.isSafeInteger(created) &&
      created !== result.images[0]?.apko?.created
    ) {
      result = await build(created);
    }
    const image = result.images[0];
    if (image === undefined) throw new ProvenantError('INVALID_CONFIG', `the rebuild of ${base.platform} made no image`);
    if (options.output !== undefined) await writeBuild(result, options.output.store, options.output.tags ?? [], { signal: options.signal });
    if (image.manifest.digest === m.digest) {
      return { ...base, status: 'match', rebuilt: image.manifest.digest, compression: 'same', changedPackageFiles: [] };
    }
    if (image.config.descriptor.digest === stored.manifest.config.digest) {
      // The same config is the same content only if the original's layers are what it says: a
      // layer changed with the config kept would otherwise pass as another compression.
      const wrong = await layerNotOfDiffId(store, stored.manifest.layers, original.rootfs?.diff_ids ?? [], `${name}@${m.digest}`, options);
      // Not compared file by file: the diff reads layers against their diff_ids and would stop here too.
      if (wrong !== undefined)
        return { ...base, status: 'mismatch', rebuilt: image.manifest.digest, error: wrong, changedPackageFiles: [] };
      if (image.manifest.kind !== 'manifest')
        throw new ProvenantError('INVALID_MANIFEST', `the rebuild of ${base.platform} is not an image manifest`);
      const differences = manifestDifferences(stored.manifest, image.manifest.manifest);
      if (differences.length === 0)
        return { ...base, status: 'match', rebuilt: image.manifest.digest, compression: 'other', changedPackageFiles: [] };
      return {
        ...base,
        status: 'mismatch',
        rebuilt: image.manifest.digest,
        error: `the original has the rebuild's config and layers (diff_ids), but not its manifest: ${differences.join('; ')}`,
        changedPackageFiles: [],
      };
    }
    const rebuilt = await LayoutStore.open(join(temp, 'rebuilt'), { create: true });
    try {
      await writeBuild(result, rebuilt, ['rebuilt'], { signal: options.signal });
      const diff = await diffImages(
        { store, target: m.digest, name: `${name}@${m.digest}` },
        { store: rebuilt, target: image.manifest.digest, name: 'rebuild' },
        { signal: options.signal },
      );
      const platformDiff = diff.images[0];
      return {
        ...base,
        status: 'mismatch',
        rebuilt: image.manifest.digest,
        detail: platformDiff === undefined ? undefined : explainMismatch(platformDiff, []),
        changedPackageFiles: [],
      };
    } finally {
      await rebuilt.close();
    }
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}
