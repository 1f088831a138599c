/**
 * `provenant build`: from a configuration (and optionally a lock) to a multi-arch OCI image.
 *
 * The steps are data in, data out: resolve (or read the lock) → fetch and verify packages →
 * assemble a tree → write a layer → image config, manifest, index. Nothing touches the host's
 * disk but the download cache; the result is written to any content store by {@link writeBuild}.
 */
import { createHash } from 'node:crypto';
import { basename, dirname } from 'node:path';
import { type AttestationMode, type Attested, storeAttestations } from '../attest/storage.ts';
import { ProvenantError, throwIfAborted } from '../errors.ts';
import { descriptorOf, encodeJson, parseStored, type Stored } from '../oci/content.ts';
import type { Digest } from '../oci/digest.ts';
import { MediaType } from '../oci/mediatypes.ts';
import type { Descriptor, ImageIndex, ImageManifest, Platform } from '../oci/types.ts';
import type { ApkPackageInfo } from '../pkg/apk/apkindex.ts';
import { readApkIndex } from '../pkg/apk/apkindex.ts';
import { type ApkCandidate, apkCandidates, apkRequest, apkVersionScheme } from '../pkg/apk/candidates.ts';
import { type ApkPackage, apkPackageInfo, readApkPackage } from '../pkg/apk/package.ts';
import { ApkKeyring } from '../pkg/apk/signature.ts';
import { DownloadCache, fetchFile, joinLocation, safeLocation } from '../pkg/fetch.ts';
import { checkSameVersions, resolve } from '../pkg/resolve/resolve.ts';
import { bytesSource, type ContentStore, type Logger, type OperationOptions, silentLogger } from '../store/types.ts';
import { formatTimestamp } from '../time.ts';
import { comparePaths, Tree } from '../vfs/tree.ts';
import { type InstalledApk, installApk, installedDatabase, scriptsTar, triggersFile } from './apk-install.ts';
import { apkArchToPlatform } from './arch.ts';
import { applyAccounts, applyOsRelease, applyPaths, baseLayout, buildFile, imageEnvironment, splitWords } from './assemble.ts';
import type { LoadedConfig } from './config-types.ts';
import { buildDebImage, isDebianConfig } from './deb-build.ts';
import type { InstalledDeb } from './deb-install.ts';
import { type Layer, LayerPrecompressor, treeLayer } from './layer.ts';
import { type Lock, type LockedPackage, lockFor } from './lock.ts';
import { dependencyOrder } from './order.ts';

/** Options of {@link buildImage}. */
export interface BuildOptions {
  /** The loaded configuration. */
  config: LoadedConfig;
  /** The configuration file's path: relative repositories and keys are relative to its folder. */
  configPath: string;
  /** Build from these pins instead of resolving (`--lock`). */
  lock?: Lock | undefined;
  /** Only these architectures (apk names); default the configuration's. */
  archs?: readonly string[] | undefined;
  /** SOURCE_DATE_EPOCH: the image's creation time and the latest time any file may have. */
  sourceDateEpoch?: number | undefined;
  /** Where downloads are cached; none when absent. */
  cacheDir?: string | undefined;
  /**
   * Keep the compressed blocks of large file bodies in `cacheDir` and reuse them in later builds
   * (default true). The layers are the same either way; only the time to make them differs.
   */
  layerCache?: boolean | undefined;
  /** Worker threads for compression. */
  workers?: number | undefined;
  /** Resolve and fetch only, for `provenant lock`: `images` is empty and `index` undefined. */
  lockOnly?: boolean | undefined;
  signal?: AbortSignal | undefined;
  logger?: Logger | undefined;
}

/** One platform's image. */
export interface BuiltImage {
  arch: string;
  platform: Platform;
  manifest: Stored;
  /** The image config's exact bytes and descriptor. */
  config: { bytes: Uint8Array; descriptor: Descriptor };
  layers: Layer[];
  /** The installed Debian packages, in install order (Debian builds). */
  debPackages?: InstalledDeb[] | undefined;
  /** The installed packages, in install order. */
  packages: InstalledApk[];
  /** The image's /etc/os-release text ('' when it has none). */
  osRelease: string;
  /** Install scripts that were not run (apko does not run them either), per package. */
  skippedScripts: { package: string; scripts: string[] }[];
}

/** A finished build, in memory. */
export interface BuildResult {
  /** The image index; undefined for a lock-only run. */
  index: Stored | undefined;
  images: BuiltImage[];
  /** The lock that reproduces this build. */
  lock: Lock;
  /** Every repository index used, with its digest, for provenance. */
  indexes: { url: string; arch: string; digest: Digest }[];
  /** The SHA-256 (hex) of every package file, by the URL the lock names it with. */
  packageDigests: Map<string, string>;
  /** The trusted keys, by file name, with their PEM text. */
  keys: { name: string; pem: string }[];
  /** Every configuration file read, with its text. */
  configFiles: { path: string; sha256: string; content: string }[];
}

/**
 * Builds the image a configuration describes.
 *
 * @throws ProvenantError `UNRESOLVABLE`, `SIGNATURE`, `UNTRUSTED_KEY`, `DIGEST_MISMATCH`,
 *   `FILE_CONFLICT`, `NOT_FOUND`, `NETWORK`, `INVALID_CONFIG` as each step finds
 */
export async function buildImage(options: BuildOptions): Promise<BuildResult> {
  const { config } = options.config;
  if (isDebianConfig(config.contents.repositories)) return buildDebImage(options);
  const logger = options.logger ?? silentLogger;
  const baseDir = dirname(options.configPath);
  const cache = options.cacheDir === undefined ? undefined : new DownloadCache(options.cacheDir);
  const mtime = options.sourceDateEpoch ?? 0;
  const archs = options.archs ?? config.archs;
  const keyring = await loadKeyring(config.contents.keyring, options.lock, baseDir, options.signal);
  const repositories = config.contents.repositories.map(parseRepository);

  // Resolve every arch first, so that a version mismatch is found before any download.
  const plans = new Map<string, { packages: LockedPackage[] }>();
  const indexes: BuildResult['indexes'] = [];
  const resolved = new Map<string, ApkCandidate[]>();
  for (const arch of archs) {
    throwIfAborted(options.signal);
    if (options.lock !== undefined) {
      const locked = options.lock.contents.packages.filter((p) => p.architecture === arch);
      if (locked.length === 0) {
        throw new ProvenantError('USAGE', `the lock has no packages for ${arch}`, {
          hint: `run \`provenant lock\` with ${arch} in archs`,
          where: 'lock',
        });
      }
      plans.set(arch, { packages: locked });
      continue;
    }
    const candidates: ApkCandidate[] = [];
    for (const [order, repo] of repositories.entries()) {
      const url = joinLocation(repo.url, arch, 'APKINDEX.tar.gz');
      const bytes = await fetchFile(url, { baseDir, signal: options.signal });
      const index = await readApkIndex(bytes, { keyring, where: safeLocation(url) });
      indexes.push({ url: safeLocation(url), arch, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest });
      const { candidates: found, skipped } = apkCandidates(index.packages, repo.url, repo.tag, order, safeLocation(url));
      for (const s of skipped) logger.warn(`${safeLocation(url)}: left out ${s.name}-${s.version}: ${s.reason}`);
      candidates.push(...found);
    }
    const requests = config.contents.packages.map((p) => apkRequest(p, options.configPath));
    const { packages } = resolve(requests, candidates, apkVersionScheme, { where: `${options.configPath} (${arch})` });
    resolved.set(arch, packages);
  }
  if (options.lock === undefined) {
    checkSameVersions(resolved);
    for (const [arch, packages] of resolved) {
      plans.set(arch, {
        packages: packages.map((c) => ({
          name: c.name,
          version: c.version,
          architecture: arch,
          url: joinLocation(c.repository, arch, `${c.name}-${c.version}.apk`),
          checksum: c.info.checksum,
        })),
      });
    }
  }

  const images: BuiltImage[] = [];
  const lockPackages: LockedPackage[] = [];
  const packageDigests = new Map<string, string>();
  // Large file bodies are compressed on the worker pool while the rest is read, or come from the
  // cache when an earlier build compressed them (./layer.ts).
  const precompressed = options.lockOnly
    ? undefined
    : new LayerPrecompressor(options.workers, options.layerCache === false ? undefined : cache);
  // A failed build drops the compression queued for its layers.
  try {
    for (const arch of archs) {
      const plan = plans.get(arch);
      if (plan === undefined) continue;
      const fetched: { info: ApkPackageInfo; pkg: ApkPackage; locked: LockedPackage }[] = [];
      for (const p of plan.packages) {
        throwIfAborted(options.signal);
        const where = safeLocation(p.url);
        // The cache is keyed by the package's identity (the control checksum); the same package may
        // have been signed again since (a new key, a rebuilt repository). A cached copy that no
        // longer verifies is a miss, never a failure; what is downloaded must verify.
        let bytes = await cache?.get(`apk:${p.checksum}`);
        let pkg: ApkPackage | undefined;
        if (bytes !== undefined) pkg = await readApkPackage(bytes, { expectedChecksum: p.checksum, keyring, where }).catch(() => undefined);
        if (pkg === undefined || bytes === undefined) {
          bytes = await fetchFile(p.url, { baseDir, signal: options.signal });
          pkg = await readApkPackage(bytes, { expectedChecksum: p.checksum, keyring, where });
          await cache?.put(`apk:${p.checksum}`, bytes);
        }
        const info = apkPackageInfo(pkg, bytes.length, where);
        if (info.name !== p.name || info.version !== p.version) {
          throw new ProvenantError('DIGEST_MISMATCH', `${where} is ${info.name}-${info.version}, not ${p.name}-${p.version}`, { where });
        }
        const locked: LockedPackage = {
          ...p,
          signature: pkg.ranges.signature === undefined ? undefined : rangeOf(bytes, pkg.ranges.signature, 'sha1'),
          control: rangeOf(bytes, pkg.ranges.control, 'sha1'),
          data: rangeOf(bytes, pkg.ranges.data, 'sha256'),
        };
        fetched.push({ info, pkg, locked });
        for (const e of pkg.entries) if (e.header.type === 'file') precompressed?.add(e.body);
        packageDigests.set(p.url, createHash('sha256').update(bytes).digest('hex'));
        lockPackages.push(locked);
      }
      if (options.lockOnly) continue;
      const ordered = installOrder(fetched.map((f) => f.info)).map((i) => fetched[i] as (typeof fetched)[number]);
      images.push(await assembleImage(options, arch, ordered, keyring, repositories, mtime, precompressed));
    }

    await precompressed?.flush();
  } catch (err) {
    precompressed?.cancel();
    throw err;
  }
  const index = options.lockOnly ? undefined : makeIndex(images, config.annotations, mtime);
  const lock = lockFor(options.config, basename(options.configPath), keyring, config.contents.keyring, repositories, archs, lockPackages);
  const keys = keyring.names().map((name) => ({ name, pem: keyring.pem(name) ?? '' }));
  const configFiles = options.config.files.map((f) => ({ path: f.path, sha256: f.sha256, content: f.content }));
  return { index, images, lock, indexes, packageDigests, keys, configFiles };
}

async function assembleImage(
  options: BuildOptions,
  arch: string,
  packages: { info: ApkPackageInfo; pkg: ApkPackage }[],
  keyring: ApkKeyring,
  repositories: { url: string; tag: string }[],
  mtime: number,
  precompressed: LayerPrecompressor | undefined,
): Promise<BuiltImage> {
  const { config } = options.config;
  const tree = new Tree();
  baseLayout(tree, mtime);
  const installed: InstalledApk[] = [];
  const clamp = options.sourceDateEpoch;
  for (const { info, pkg } of packages) {
    const one = installApk(tree, info, pkg, clamp === undefined ? {} : { mtime: clamp });
    installed.push(one);
  }
  // A file a later package replaced belongs to that package alone, as in apk-tools' database.
  for (const record of installed) {
    record.files = record.files.filter((f) => f.type === 'dir' || tree.get(tree.resolveParent(f.path))?.owner === record.info.name);
  }
  if (clamp !== undefined) for (const p of tree.paths()) if ((tree.get(p)?.mtime ?? 0) > clamp) tree.update(p, { mtime: clamp });
  // apk's own files, as apk-tools writes them.
  buildFile(tree, 'etc/apk/world', `${[...config.contents.packages].sort().join('\n')}\n`, mtime);
  buildFile(tree, 'etc/apk/repositories', `${repositories.map((r) => (r.tag === '' ? r.url : `@${r.tag} ${r.url}`)).join('\n')}\n`, mtime);
  buildFile(tree, 'etc/apk/arch', `${arch}\n`, mtime);
  for (const name of keyring.names()) buildFile(tree, `etc/apk/keys/${name}`, keyring.pem(name) ?? '', mtime);
  buildFile(tree, 'usr/lib/apk/db/installed', installedDatabase(installed), mtime);
  buildFile(tree, 'usr/lib/apk/db/scripts.tar', await scriptsTar(installed, mtime), mtime);
  buildFile(tree, 'usr/lib/apk/db/triggers', triggersFile(installed), mtime);
  buildFile(tree, 'usr/lib/apk/db/lock', '', mtime, 0o600);
  applyAccounts(tree, config.accounts, mtime);
  applyOsRelease(tree, config.osRelease, mtime);
  applyPaths(tree, config.paths, mtime);

  const {
    manifest: manifestStored,
    config: configStored,
    layers,
    platform,
  } = await imageFromTree(
    options,
    arch,
    tree,
    splitLayers(
      tree,
      installed.map((i) => ({ name: i.info.name, origin: i.info.origin, size: i.info.installedSize })),
      config.layering,
    ),
    installed.length,
    mtime,
    precompressed,
  );
  const skippedScripts = installed
    .map(({ info, pkg }) => ({ package: `${info.name}-${info.version}`, scripts: [...pkg.scripts.keys()].sort() }))
    .filter((s) => s.scripts.length > 0);
  const osRelease = new TextDecoder().decode(tree.get(tree.resolve('etc/os-release'))?.body ?? new Uint8Array());
  return {
    arch,
    platform,
    manifest: manifestStored,
    config: configStored,
    layers,
    packages: installed,
    osRelease,
    skippedScripts,
  };
}

/**
 * From an assembled tree to a platform image: its layers (`layerPaths`, one list per layer), the
 * image config (entrypoint, cmd, environment, user, workdir, stop signal, volumes, labels from
 * annotations) and the manifest. Shared by the apk and deb builds; `precompressed` holds the
 * bodies the build has already started compressing.
 */
export async function imageFromTree(
  options: BuildOptions,
  arch: string,
  tree: Tree,
  layerPaths: string[][],
  packageCount: number,
  mtime: number,
  precompressed?: LayerPrecompressor | undefined,
): Promise<{ manifest: Stored; config: BuiltImage['config']; layers: Layer[]; platform: Platform }> {
  const { config } = options.config;
  const layers: Layer[] = [];
  for (const paths of layerPaths) {
    layers.push(await treeLayer(tree, { paths, workers: options.workers, signal: options.signal, precompressed }));
  }
  const platform = apkArchToPlatform(arch);
  const created = formatTimestamp(mtime);
  const imageConfig: Record<string, unknown> = {};
  const entry = entrypointOf(config, options.configPath);
  if (entry !== undefined) imageConfig.Entrypoint = entry;
  if (config.cmd !== undefined) imageConfig.Cmd = splitWords(config.cmd, `${options.configPath}: cmd`);
  imageConfig.Env = imageEnvironment(config);
  if (config.accounts.runAs !== undefined) imageConfig.User = config.accounts.runAs;
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
      digest: `sha256:${createHash('sha256').update(configBytes).digest('hex')}` as Digest,
      size: configBytes.length,
    },
  };
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: configStored.descriptor,
    layers: layers.map((l) => ({ mediaType: MediaType.OciLayerGzip, digest: l.digest, size: l.bytes.length })),
    ...(Object.keys(config.annotations).length > 0
      ? { annotations: { 'org.opencontainers.image.created': created, ...sortedObject(config.annotations) } }
      : {}),
  } as ImageManifest;
  const manifestStored = parseStored(encodeJson(manifest), { mediaType: MediaType.OciManifest });
  return { manifest: manifestStored, config: configStored, layers, platform };
}

/**
 * `layering: {strategy: origin, budget: N}`: the packages grouped by origin (the source package),
 * the largest groups (by installed size; ties by name) each in a layer of their own, at most
 * N - 1 of them, and everything else (folders, the build's own files, the other packages) in a
 * first layer. Each package layer repeats the folders above its files, so it unpacks on its own.
 * A group's layer depends on that group's packages alone, so its digest stays the same while
 * other packages change.
 */
export function splitLayers(
  tree: Tree,
  installed: readonly { name: string; origin: string; size: number }[],
  layering: LoadedConfig['config']['layering'],
): string[][] {
  const all = tree.paths();
  if (layering === undefined || layering.budget <= 1) return [all];
  const originOf = new Map(installed.map((i) => [i.name, i.origin || i.name]));
  const size = new Map<string, number>();
  for (const i of installed) {
    const o = originOf.get(i.name) as string;
    size.set(o, (size.get(o) ?? 0) + i.size);
  }
  const chosen = [...size]
    .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0))
    .slice(0, layering.budget - 1)
    .map(([o]) => o)
    .sort();
  const groups = new Map<string, string[]>(chosen.map((o) => [o, []]));
  const base: string[] = [];
  for (const path of all) {
    const node = tree.get(path);
    const origin = node?.type === 'dir' || node?.owner === undefined ? undefined : originOf.get(node.owner);
    const group = origin === undefined ? undefined : groups.get(origin);
    if (group === undefined) base.push(path);
    else group.push(path);
  }
  const out = [base];
  for (const o of chosen) {
    const files = groups.get(o) ?? [];
    if (files.length === 0) continue;
    const parents = new Set<string>();
    for (const f of files) for (let i = f.indexOf('/'); i > 0; i = f.indexOf('/', i + 1)) parents.add(f.slice(0, i));
    out.push([...parents, ...files].sort(comparePaths));
  }
  return out;
}

/** The multi-arch index of the platform images, with the configuration's annotations. */
export function makeIndex(images: BuiltImage[], annotations: Readonly<Record<string, string>>, mtime: number): Stored {
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

/** Options of {@link writeBuild}. */
export interface WriteBuildOptions extends OperationOptions {
  /** Statements about each image, and where to store them (see `attest/storage.ts`). */
  attestations?: { attested: readonly Attested[]; mode: AttestationMode } | undefined;
}

/**
 * Writes a build to a store: layers and configs, manifests, attestations, then the index, tagged
 * last so that no tag points at incomplete content.
 */
export async function writeBuild(
  result: BuildResult,
  store: ContentStore,
  tags: readonly string[],
  options: WriteBuildOptions = {},
): Promise<Descriptor> {
  if (result.index === undefined) throw new ProvenantError('USAGE', 'a lock-only build has no image to write');
  for (const image of result.images) {
    for (const layer of image.layers) {
      await store.putBlob(
        bytesSource({ mediaType: MediaType.OciLayerGzip, digest: layer.digest, size: layer.bytes.length }, layer.bytes),
        options,
      );
    }
    await store.putBlob(bytesSource(image.config.descriptor, image.config.bytes), options);
    await store.putManifest(image.manifest, { ...options, tags: [] });
  }
  const index =
    options.attestations === undefined
      ? result.index
      : await storeAttestations(store, result.index, options.attestations.attested, options.attestations.mode, options);
  await store.putManifest(index, { ...options, tags: [...tags] });
  return descriptorOf(index);
}

function entrypointOf(config: LoadedConfig['config'], where: string): string[] | undefined {
  const e = config.entrypoint;
  if (e.type === 'service-bundle') {
    throw new ProvenantError('INVALID_CONFIG', `${where}: entrypoint.type service-bundle is not supported yet`, { where });
  }
  if (e.shellFragment !== undefined) return ['/bin/sh', '-c', e.shellFragment];
  if (e.command !== undefined) return splitWords(e.command, `${where}: entrypoint.command`);
  return undefined;
}

function sortedObject(o: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(
    Object.keys(o)
      .sort()
      .map((k) => [k, o[k] as string]),
  );
}

function parseRepository(text: string): { url: string; tag: string } {
  const m = /^@(\S+)\s+(\S+)$/.exec(text.trim());
  return m === null ? { url: text.trim(), tag: '' } : { url: m[2] as string, tag: m[1] as string };
}

async function loadKeyring(
  keys: readonly string[],
  lock: Lock | undefined,
  baseDir: string,
  signal: AbortSignal | undefined,
): Promise<ApkKeyring> {
  const keyring = new ApkKeyring();
  for (const key of keys) {
    const locked = lock?.contents.keyring.find((k) => k.name === key && k.content !== undefined);
    const pem = locked?.content ?? new TextDecoder().decode(await fetchFile(key, { baseDir, signal }));
    keyring.add(basename(key), pem, safeLocation(key));
  }
  return keyring;
}

function rangeOf(bytes: Uint8Array, [start, end]: [number, number], algorithm: 'sha1' | 'sha256') {
  return {
    range: `bytes=${start}-${end}`,
    checksum: `${algorithm}-${createHash(algorithm)
      .update(bytes.subarray(start, end + 1))
      .digest('base64')}`,
  };
}

/** apk's install order: dependencies (by name or by what a package provides) before dependents. */
function installOrder(infos: ApkPackageInfo[]): number[] {
  const byName = new Map<string, number>();
  const provides = new Map<string, number>();
  infos.forEach((p, i) => {
    byName.set(p.name, i);
    for (const pr of p.provides) provides.set(pr.replace(/[<>=~].*$/, ''), i);
  });
  return dependencyOrder(
    [...infos.keys()],
    (i) => infos[i]?.name ?? '',
    (i) =>
      (infos[i]?.depends ?? [])
        .filter((d) => !d.startsWith('!'))
        .map((d) => d.replace(/[<>=~@].*$/, ''))
        .map((n) => byName.get(n) ?? provides.get(n)),
  );
}
