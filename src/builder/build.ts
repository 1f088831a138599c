/**
 * `provenant build`: from a configuration (and optionally a lock) to a multi-arch OCI image.
 *
 * The same stages for every package source (../pkg/source.ts), data in, data out: plan each
 * architecture (./plan.ts) → fetch and verify its packages, a few ahead, handing large file
 * bodies to the compression pool as they arrive → install them into a tree in the source's
 * order, with its database → the shared finishing (./assemble.ts) → layers (./layering.ts,
 * ./layer.ts) → image config, manifest, index (./image.ts) → the lock (./lock.ts). Nothing
 * touches the host's disk but the download cache; {@link writeBuild} writes the result to any
 * content store.
 */
import { basename, dirname, resolve } from 'node:path';
import { type AttestationMode, type Attested, storeAttestations } from '../attest/storage.ts';
import { isProvenantError, ProvenantError, throwIfAborted, urlWithoutUserInfo } from '../errors.ts';
import { Limiter } from '../io/limit.ts';
import { collectGarbage } from '../io/memory.ts';
import { type BlobSource, bytesSource, type Logger, type OperationOptions, type ProgressUpdate, silentLogger } from '../io/types.ts';
import { descriptorOf, type Stored } from '../oci/content.ts';
import type { Descriptor, Platform } from '../oci/types.ts';
import type { ApkFetched, ApkSource } from '../pkg/apk/source.ts';
import { DownloadCache, isRemote } from '../pkg/fetch.ts';
import {
  type Ecosystem,
  type FetchedPackage,
  type InstalledPackage,
  type LockedPackage,
  type PackageSource,
  recordedChecksum,
} from '../pkg/source.ts';
import { openPackageSource } from '../pkg/sources.ts';
import type { ContentStore } from '../store/types.ts';
import { ACCOUNTS_FILE_MAX, OS_RELEASE_MAX } from '../vfs/body.ts';
import { SpilledFiles, SpillRefused } from '../vfs/spill.ts';
import { Tree } from '../vfs/tree.ts';
import type { ApkoImageFacts } from './apko.ts';
import { renamedArchWarnings } from './arch.ts';
import {
  applyAccounts,
  applyOsRelease,
  applyPaths,
  changedByFinishing,
  type FileDigests,
  filesAt,
  imageText,
  withFinishedFiles,
} from './assemble.ts';
import { archsAsWritten, checkEcosystemKeys, checkLocalSources } from './config.ts';
import type { ImageConfig, LoadedConfig } from './config-types.ts';
import { imageFromWalks, imageOfLayers, makeIndex, resolveRunAs } from './image.ts';
import { type Layer, LayerPrecompressor, treeWalk } from './layer.ts';
import { isOneLayer, splitLayers } from './layering.ts';
import { inLockEntry, type Lock, lockChecksumMismatch, lockFor } from './lock.ts';
import { memoKey, type RecalledImage, recallImage, rememberImage } from './memo.ts';
import { type BuildPlan, LockForAnotherConfigError, planBuild } from './plan.ts';

/** Options of {@link buildImage}. */
export interface BuildOptions {
  /** The loaded configuration. */
  config: LoadedConfig;
  /** The configuration file's path: relative repositories and keys are relative to its folder. */
  configPath: string;
  /** Build from these pins instead of resolving (`--lock`). */
  lock?: Lock | undefined;
  /** The lock's file, named in errors and warnings about it. */
  lockPath?: string | undefined;
  /**
   * The lock stands for a resolution, not for a lock the user gave: a rebuild from the provenance
   * of a build that resolved. apko compatibility then installs and records packages as apko does
   * when it resolves (apko keeps a user's lock order).
   */
  resolvedLock?: boolean | undefined;
  /**
   * The lock vouches for its packages itself: a rebuild from a provenance, which names the very
   * files the build used (and may be verified), when repositories no longer list old versions.
   * Otherwise a lock's packages are checked against the verified indexes, and one that none lists
   * must be signed by a trusted key itself (apk; a .deb never is): a lock is a file anyone may
   * edit in a pull request.
   */
  lockVouches?: boolean | undefined;
  /** Only these architectures (apk names); default the configuration's. */
  archs?: readonly string[] | undefined;
  /**
   * The `--arch` values among `archs` as the user wrote them (`armhf`), for the warning about a
   * name the package source reads otherwise; not `--platform`'s, whose names are OCI's.
   */
  archNames?: readonly string[] | undefined;
  /** SOURCE_DATE_EPOCH: the image's creation time and the latest time any file may have. */
  sourceDateEpoch?: number | undefined;
  /** Where downloads are cached; none when absent. */
  cacheDir?: string | undefined;
  /**
   * Reuse what earlier builds made and kept in `cacheDir` (default true): a whole layer made of
   * the same entries, and the compressed blocks of large file bodies. With false, nothing of the
   * layers is read from the cache or kept in it. The layers are the same either way; only the
   * time to make them differs.
   */
  layerCache?: boolean | undefined;
  /**
   * Take the image an earlier build of the same inputs made, and keep what this one makes, in
   * `cacheDir` (./memo.ts; default true, with the layer cache): the same build again then reads
   * and verifies the repositories' indexes but fetches and installs nothing. `reproduce` turns it
   * off: a rebuild that took what this machine made before would prove nothing.
   */
  memo?: boolean | undefined;
  /**
   * Keep the packages' files out of the in-memory tree as they are installed, in a scratch file
   * in `cacheDir` (../vfs/spill.ts; default true, with `cacheDir`): the build's memory then does
   * not grow with the image's files. A build that needs a tree of every file (several layers,
   * `paths` with `recursive`, packages that replace each other's files) installs into one anyway.
   * The image is the same either way.
   */
  spill?: boolean | undefined;
  /** Worker threads for compression. */
  workers?: number | undefined;
  /**
   * The inventory gives each installed file's SHA-1, for SBOMs that list files
   * (`describeBuild`'s `sbomFiles`). apk packages carry them; a Debian build then takes them from
   * the bytes (once, kept in the build record), which costs reading every file again.
   */
  fileDigests?: boolean | undefined;
  /** Resolve and fetch only, for `provenant lock`: `images` is empty and `index` undefined. */
  lockOnly?: boolean | undefined;
  /**
   * `apko`: build as apko v1.2.39 does, so that the uncompressed layers and the image configs are
   * apko's byte for byte (apk repositories only; docs/build.md, "apko compatibility").
   */
  compat?: BuildCompat | undefined;
  signal?: AbortSignal | undefined;
  logger?: Logger | undefined;
  /** Each step as it starts, advances and ends (`kind: 'step'`), for a progress display. */
  onProgress?: ((update: ProgressUpdate) => void) | undefined;
}

/** The builds other than Provenant's own: `apko` builds as apko does. */
export type BuildCompat = 'apko';

/** A configuration's `contents` as requested: repositories, keys and package constraints. */
export interface RequestedContents {
  repositories: string[];
  /** `build_repositories`, when the configuration has some: read to resolve, not written into the image. */
  buildRepositories?: string[] | undefined;
  /** `runtime_repositories`, when the configuration has some: written into the image, never read. */
  runtimeRepositories?: string[] | undefined;
  keyring: string[];
  packages: string[];
}

/** One platform's image. */
export interface BuiltImage {
  arch: string;
  platform: Platform;
  manifest: Stored;
  /** The image config's exact bytes and descriptor. */
  config: { bytes: Uint8Array; descriptor: Descriptor };
  layers: Layer[];
  /** The installed packages, in install order, whatever their ecosystem. */
  packages: InstalledPackage[];
  /** The lock entries of this image's packages, in the plan's order. */
  locked: LockedPackage[];
  /** The image's /etc/os-release text ('' when it has none). */
  osRelease: string;
  /** The image config's User: `accounts.run-as` as the image's /etc/passwd resolves it (./image.ts resolveRunAs). */
  user?: string | undefined;
  /** Install scripts that were not run (apko does not run them either), per package. */
  skippedScripts: { package: string; scripts: string[] }[];
  /** In an apko-compatible build: what apko's SBOM of the image is made from. */
  apko?: ApkoImageFacts | undefined;
}

/** A finished build, in memory. */
export interface BuildResult {
  /** The image index; undefined for a lock-only run. */
  index: Stored | undefined;
  images: BuiltImage[];
  /** The lock that reproduces this build. */
  lock: Lock;
  /** The ecosystem the packages came from. */
  ecosystem: Ecosystem;
  /** Every repository index used, with its digest, for provenance. */
  indexes: BuildPlan['indexes'];
  /** The SHA-256 (hex) of every package file, by the URL the lock names it with. */
  packageDigests: Map<string, string>;
  /**
   * The trusted keys, by file name, with their PEM text, and the URL (without user info) of each
   * that was fetched from one (a key read from a file of this machine has none: its text is all
   * there is of it).
   */
  keys: { name: string; pem: string; uri?: string | undefined }[];
  /** Every configuration file read, with its text. */
  configFiles: { path: string; sha256: string; content: string }[];
  /**
   * What the configuration asked for, once its includes are merged: the repositories, keys and
   * package constraints, as the provenance states them for policies to read.
   */
  contents: RequestedContents;
  /** Set when the build was apko-compatible. */
  compat?: BuildCompat | undefined;
  /** The configuration's `vcs-url`, which an apko-compatible build's index SBOM names. */
  vcsUrl?: string | undefined;
}

/** Packages read or downloaded at once, ahead of the one being installed. */
const READ_AHEAD = 4;

/**
 * The files from which a build asks V8 for a full collection between its steps: the records it
 * keeps per file are what a collection gives back (a few MB per 10,000 files), and a collection
 * costs 10 to 30 ms even for the heap of a small build (the 200 MB bench image has 1,340
 * files, the 1 GB one 31,130).
 */
const COLLECT_FROM_FILES = 10_000;

/**
 * Builds the image a configuration describes.
 *
 * @throws ProvenantError `UNRESOLVABLE`, `SIGNATURE`, `UNTRUSTED_KEY`, `DIGEST_MISMATCH`,
 *   `FILE_CONFLICT`, `NOT_FOUND`, `NETWORK`, `INVALID_CONFIG` as each step finds
 */
export async function buildImage(options: BuildOptions): Promise<BuildResult> {
  const { config } = options.config;
  const cache = options.cacheDir === undefined ? undefined : new DownloadCache(options.cacheDir);
  const archs = options.archs ?? config.archs;
  // A lock that vouches carries the keys; a lock names the package files, so no index is read.
  if (options.lockVouches !== true)
    await checkLocalSources(options.config, options.configPath, dirname(options.configPath), { repositories: options.lock === undefined });
  const source = await openPackageSource({
    ...config.contents,
    timezone: config.timezone,
    fileDigests: options.fileDigests,
    lockedKeys: options.lock?.contents.keyring,
    lockPath: options.lockPath,
    lockVouches: options.lockVouches,
    configPath: options.configPath,
    baseDir: dirname(options.configPath),
    cache,
    signal: options.signal,
    logger: options.logger ?? silentLogger,
  });
  checkEcosystemKeys(options.config, options.configPath, source.ecosystem);
  // apk's names are the configuration's: a Debian build of armhf (apk's, ARMv6) is Debian's armel.
  // Only a name the user wrote (archs, --arch) is one they may have meant the Debian way: arm/v6 or
  // --platform linux/armel is apk's armhf too, and is what it says. An apk source names every
  // architecture as written, so nothing can be said there, and its configuration is not read again.
  if (source.ecosystem === 'deb') {
    const written =
      options.archs === undefined
        ? { names: archsAsWritten(options.config), in: 'archs' }
        : { names: options.archNames ?? [], in: '--arch' };
    for (const said of renamedArchWarnings(written.names, (a) => source.archName(a), written.in))
      (options.logger ?? silentLogger).warn(said);
  }
  const apko = options.compat === 'apko' ? await apkoCompat(options, source) : undefined;
  const fromLock = options.lock !== undefined && options.resolvedLock !== true;
  const progress = options.onProgress ?? (() => {});
  const resolving = archs.join(', ');
  progress({ kind: 'step', step: 'resolve', subject: resolving, done: 0 });
  // A lock that vouches for itself (a rebuild's) is not checked against the indexes; planBuild
  // still refuses it when it does not meet a request, as it refuses a checked one.
  const checkLock = options.lock !== undefined && options.lockVouches !== true;
  const mismatch =
    checkLock && options.lock !== undefined
      ? lockChecksumMismatch(options.lock, options.config, {
          lockPath: options.lockPath ?? 'the lock',
          configName: basename(options.configPath),
        })
      : undefined;
  // Not refused for this alone: the checksum covers the files' text, so a comment changes it;
  // planBuild refuses a lock that does not meet the configuration's requests, and its error says
  // all the warning would: the warning is said once the plan is made, or when it fails otherwise.
  const warnMismatch = (): void => {
    if (mismatch !== undefined) (options.logger ?? silentLogger).warn(mismatch);
  };
  const plan = await planBuild(source, archs, {
    ...options,
    packages: config.contents.packages,
    locations: options.config.locations,
    checkLock,
    lockVouches: options.lockVouches,
  }).catch((err: unknown) => {
    if (!(err instanceof LockForAnotherConfigError)) warnMismatch();
    throw err;
  });
  warnMismatch();
  const planned = archs.reduce((n, a) => n + (plan.packages.get(a)?.length ?? 0), 0);
  progress({ kind: 'step', step: 'resolve', subject: resolving, done: planned, total: planned, finished: true });
  const images: BuiltImage[] = [];
  const lockPackages: LockedPackage[] = [];
  const packageDigests = new Map<string, string>();
  // Large file bodies are compressed on the worker pool while the rest is read, or come from the
  // cache when an earlier build compressed them (./layer.ts). Without the layer cache, nothing is
  // compressed ahead: each body is then compressed once, as the layer reaches it. Ahead of it, every
  // large body was read twice and its blocks went through the cache and back (issue 16: a warm
  // build of the 200 MB bench image compressing every file took 5.0 s and 225 MB that way, 4.1 s
  // and 190 MB this way).
  const precompressed = options.lockOnly || options.layerCache === false ? undefined : new LayerPrecompressor(options.workers, cache);
  // An earlier build of the same inputs kept what it made (./memo.ts): apko compatibility, a
  // lock-only run and a build without the layer cache neither take nor keep it.
  const memoCache =
    cache !== undefined && options.layerCache !== false && options.memo !== false && apko === undefined && options.lockOnly !== true
      ? cache
      : undefined;
  // A failed build drops the compression queued for its layers.
  try {
    for (const arch of archs) {
      const planFor = plan.packages.get(arch) ?? [];
      const recordKey = memoCache === undefined ? undefined : await imageMemoKey(options, source, arch, planFor, plan.unlisted, memoCache);
      const recalled = recordKey === undefined ? undefined : await recallImage(memoCache!, recordKey);
      if (recalled !== undefined && lockedPartsMet(planFor, recalled) && (await recordedStillServed(source, planFor, recalled))) {
        for (const f of recalled.fetched) {
          packageDigests.set(f.locked.url, f.sha256);
          lockPackages.push(f.locked);
        }
        images.push(recalledImage(options, arch, recalled));
        continue;
      }
      // A package of the user's lock that is not the file its entry names is an error of the lock.
      const userLock = checkLock ? options.lock : undefined;
      const located = (p: LockedPackage, err: unknown) =>
        userLock === undefined ? err : inLockEntry(err, userLock, options.lockPath ?? 'the lock', p);
      let fetched = await fetchAll(source, planFor, plan, options.signal, precompressed, located, (fetchedSoFar, total) => {
        const bytes = fetchedSoFar.reduce((n, f) => n + f.size, 0);
        const reused = fetchedSoFar.filter((f) => f.cached).length;
        const finished = fetchedSoFar.length === total;
        progress({ kind: 'step', step: 'fetch', subject: arch, done: fetchedSoFar.length, total, bytes, reused, finished });
      });
      // A build installs packages in the order apko's build installs them: a lock's, else that of
      // the pinned world. Its lock lists them as `apko lock` does, as `provenant lock` writes it:
      // a lock's order (a resolved one's too: its build wrote it so), else that of the
      // configuration's requests, unpinned (./apko.ts:apkoLockOrdered).
      let lockOrder = fetched;
      if (apko !== undefined) {
        lockOrder = options.lock !== undefined ? fetched : await apko.lockOrdered(apko.source, config.contents.packages, fetched, arch);
        if (!options.lockOnly) fetched = apko.ordered(apko.source, config.contents.packages, fetched, fromLock);
      }
      for (const f of lockOrder) {
        packageDigests.set(f.locked.url, f.sha256);
        lockPackages.push(f.locked);
      }
      if (options.lockOnly) continue;
      // What reading the packages' indexes left, in a large build (../io/memory.ts).
      if (fetched.reduce((n, f) => n + f.files, 0) >= COLLECT_FROM_FILES) collectGarbage();
      if (apko === undefined) {
        const image = await assembleImage(options, source, arch, fetched, precompressed, cache);
        if (recordKey !== undefined) await rememberImage(memoCache!, recordKey, { fetched, ...image });
        images.push(image);
      } else {
        const imageOptions = { ...options, loaded: options.config, source: apko.source, fromLock, precompressed };
        images.push(await apko.platformImage(imageOptions, arch, fetched as FetchedPackage<ApkFetched>[]));
      }
    }
    await precompressed?.flush();
    if (options.lockOnly !== true) warnMissingEssential(options, source, archs, plan.packages);
  } catch (err) {
    precompressed?.cancel();
    throw err;
  }
  const index =
    options.lockOnly === true
      ? undefined
      : apko === undefined
        ? makeIndex(images, config, options.sourceDateEpoch ?? 0)
        : apko.index(
            images.map((i) => ({ apkArch: i.arch, manifest: i.manifest, platform: i.platform })),
            config,
            Math.max(options.sourceDateEpoch ?? 0, ...images.map((i) => i.apko?.created ?? 0)),
          );
  return {
    ...(apko === undefined ? {} : { compat: 'apko' as const, vcsUrl: config.vcsUrl }),
    index,
    images,
    lock: lockFor(options.config, basename(options.configPath), source.lockSources(archs), lockPackages),
    ecosystem: source.ecosystem,
    indexes: plan.indexes,
    packageDigests,
    keys: keysWithOrigins(source.keys(), config.contents.keyring),
    configFiles: options.config.files.map((f) => ({ path: f.path, sha256: f.sha256, content: f.content })),
    contents: {
      repositories: [...config.contents.repositories],
      ...(config.contents.buildRepositories.length === 0 ? {} : { buildRepositories: [...config.contents.buildRepositories] }),
      ...(config.contents.runtimeRepositories.length === 0 ? {} : { runtimeRepositories: [...config.contents.runtimeRepositories] }),
      keyring: [...config.contents.keyring],
      packages: [...config.contents.packages],
    },
  };
}

/**
 * The keys with the URL each was fetched from, without its user info: the keyring location whose
 * file name is the key's name (the last of them, as the keyring keeps the last key of a name),
 * when it is a URL.
 */
function keysWithOrigins(keys: readonly { name: string; pem: string }[], keyring: readonly string[]): BuildResult['keys'] {
  return keys.map((k) => {
    const from = keyring.findLast((l) => basename(l) === k.name);
    return from !== undefined && isRemote(from) ? { ...k, uri: urlWithoutUserInfo(from) } : { ...k };
  });
}

/**
 * The key of what a build of `arch` makes (./memo.ts): everything its layers, inventory, lock
 * entries and os-release are made from. The configuration as loaded holds the packages asked
 * for, the repositories, accounts, paths, layering and timezone; the source adds the keys' text
 * (apk's, which the image holds; Debian's verify a Release at every build) and where the
 * repositories are; the plan, each package's identity. The image config and the
 * manifest are made again from the configuration at every build (imageOfLayers), so what only
 * they read is left out: a new entrypoint, environment or annotation takes the recorded layers.
 * Anything else the configuration holds, and any key added to it later, is in the key.
 */
async function imageMemoKey(
  options: BuildOptions,
  source: PackageSource,
  arch: string,
  planned: readonly LockedPackage[],
  unlisted: ReadonlySet<LockedPackage>,
  cache: DownloadCache,
): Promise<string | undefined> {
  // Read by imageOfLayers and makeIndex alone (and by apko compatibility, which keeps no record).
  const { entrypoint, cmd, stopSignal, workDir, environment, vcsUrl, annotations, volumes, archs, archsFromHost, ...layered } =
    options.config.config;
  return memoKey(
    {
      arch,
      ecosystem: source.ecosystem,
      config: layered,
      configPath: resolve(options.configPath),
      keys: source.keys(),
      sources: source.lockSources([arch]),
      sourceDateEpoch: options.sourceDateEpoch ?? null,
      lockVouches: options.lockVouches === true,
      // A Debian record made with each file's SHA-1 holds what one made without lacks; left out
      // when not asked for, so that other records keep their key.
      ...(options.fileDigests === true && source.ecosystem === 'deb' ? { fileDigests: true } : {}),
      // In one order of fields, whether the entry came from a lock or from resolving. A lock's
      // byte ranges are left out: the build takes them from the file (fetch), and a recalled
      // image is held against their checksums ({@link lockedPartsMet}).
      packages: planned.map((p) => ({
        name: p.name,
        version: p.version,
        architecture: p.architecture,
        url: p.url,
        checksum: p.checksum,
        // The index's size, which tells an apk signed again from the one recorded (their checksum
        // is the same); left out when there is none, so that other records keep their key.
        ...(p.size === undefined ? {} : { size: p.size }),
        unlisted: unlisted.has(p),
      })),
    },
    cache,
  );
}

/**
 * Whether the package files an earlier build fetched are the ones `planned` pins by their parts:
 * the checksums an apk's lock entry records of its signature, control and data members, which the
 * memo's key leaves out (an entry from resolving records none). The same package signed again has
 * the same checksum and another signature; a recalled image made from that file is not the
 * lock's, and the build fetches again, where the package source refuses it.
 */
function lockedPartsMet(planned: readonly LockedPackage[], recalled: RecalledImage): boolean {
  const made = new Map(recalled.fetched.map((f) => [f.locked.url, f.locked]));
  return planned.every((p) =>
    (['signature', 'control', 'data'] as const).every((part) => {
      const recorded = recordedChecksum(p, part);
      return recorded === undefined || recorded === made.get(p.url)?.[part]?.checksum;
    }),
  );
}

/**
 * Whether every package a recorded image was made from is still the file its location serves,
 * where the plan's entry does not name the file whole (an apk resolved from its index: a package
 * signed again keeps its `Q1` and, often, its size, so the record's key is the same). Asked a few
 * at a time, as packages are fetched; the source may answer from what it recorded (apk asks its
 * repository only when the index it read is another file than the one it last asked under).
 */
async function recordedStillServed(source: PackageSource, planned: readonly LockedPackage[], recalled: RecalledImage): Promise<boolean> {
  const { stillServed } = source;
  if (stillServed === undefined) return true;
  const made = new Map(recalled.fetched.map((f) => [f.locked.url, f.locked]));
  const limiter = new Limiter(READ_AHEAD);
  const served = await Promise.all(
    planned.map((p) => {
      const recorded = made.get(p.url);
      return recorded === undefined ? false : limiter.run(() => stillServed.call(source, p, recorded));
    }),
  );
  return served.every(Boolean);
}

/** The image an earlier build of the same inputs made, as {@link assembleImage} gives one. */
function recalledImage(options: BuildOptions, arch: string, recalled: RecalledImage): BuiltImage {
  const { packages, layers } = recalled;
  const image = imageOfLayers(
    { config: options.config.config, configPath: options.configPath, user: recalled.user },
    arch,
    layers,
    packages.length,
    options.sourceDateEpoch ?? 0,
  );
  options.onProgress?.({
    kind: 'step',
    step: 'reuse',
    subject: arch,
    done: packages.length,
    total: packages.length,
    bytes: layers.reduce((n, l) => n + l.size, 0),
    finished: true,
  });
  return {
    arch,
    ...image,
    packages,
    locked: recalled.fetched.map((f) => f.locked),
    osRelease: recalled.osRelease,
    user: recalled.user,
    skippedScripts: skippedScriptsOf(packages),
  };
}

/** Install scripts that were not run, per package. */
function skippedScriptsOf(packages: readonly InstalledPackage[]): BuiltImage['skippedScripts'] {
  return packages.filter((p) => p.skippedScripts.length > 0).map((p) => ({ package: p.label, scripts: p.skippedScripts }));
}

/**
 * The apk source of an apko-compatible build, once the configuration is checked, and the steps
 * that build as apko does (loaded only for such a build).
 *
 * @throws ProvenantError `INVALID_CONFIG` for Debian sources and what apko compatibility refuses
 */
async function apkoCompat(options: BuildOptions, source: PackageSource) {
  const [{ ApkSource }, { checkApkoConfig }, { apkoLockOrdered, apkoOrdered, apkoPlatformImage }, { apkoIndex }] = await Promise.all([
    import('../pkg/apk/source.ts'),
    import('./apko-config.ts'),
    import('./apko.ts'),
    import('./apko-image.ts'),
  ]);
  if (!(source instanceof ApkSource)) {
    throw new ProvenantError(
      'INVALID_CONFIG',
      `${options.configPath}: --compat apko builds from apk repositories, and these are ${source.ecosystem} ones`,
      {
        where: options.configPath,
      },
    );
  }
  checkApkoConfig(options.config, options.configPath);
  // apko lock's order counts candidates in the indexes the plan reads (./apko.ts:apkoLockOrdered).
  if (options.lock === undefined) source.keepIndexes();
  return {
    source: source as ApkSource,
    ordered: apkoOrdered,
    lockOrdered: apkoLockOrdered,
    platformImage: apkoPlatformImage,
    index: apkoIndex,
  };
}

/**
 * Fetches and verifies the packages of a plan, in its order (`unlisted`: those of a lock that no
 * verified index lists; `fetched`: those of them the plan fetched already, taken as they are). A
 * few are read (or downloaded) ahead of the one being used, so that waiting on the disk or the
 * network overlaps with reading; each one's large bodies go to the compression pool as soon as it
 * is read. `located` gives the error to throw for one a package's fetch met.
 */
async function fetchAll(
  source: PackageSource,
  plan: readonly LockedPackage[],
  { unlisted, fetched: planned }: Pick<BuildPlan, 'unlisted' | 'fetched'>,
  signal: AbortSignal | undefined,
  precompressed: LayerPrecompressor | undefined,
  located: (p: LockedPackage, err: unknown) => unknown,
  onFetched: (fetched: readonly FetchedPackage[], total: number) => void,
): Promise<FetchedPackage[]> {
  const load = (p: LockedPackage): Promise<FetchedPackage> => {
    throwIfAborted(signal);
    const done = planned.get(p);
    if (done !== undefined) return Promise.resolve(done);
    // What no verified index lists must be signed by a trusted key itself.
    return source.fetch(p, { signed: unlisted.has(p) }).catch((err: unknown) => {
      throw located(p, err);
    });
  };
  const out: FetchedPackage[] = [];
  const ahead: Promise<FetchedPackage>[] = [];
  onFetched(out, plan.length);
  for (let i = 0; i < plan.length; i++) {
    while (ahead.length < READ_AHEAD && i + ahead.length < plan.length) {
      const next = plan[i + ahead.length]!;
      const started = Promise.resolve().then(() => load(next));
      started.catch(() => {});
      ahead.push(started);
    }
    const fetched = await ahead.shift()!;
    for (const body of fetched.bodies) precompressed?.add(body);
    // Walked: a walk over a kept package's entries holds them (and a window of their records) while it is held.
    fetched.bodies = [];
    out.push(fetched);
    onFetched(out, plan.length);
  }
  return out;
}

/** One platform's image: the packages installed in the source's order, the shared finishing, layers, config, manifest. */
async function assembleImage(
  options: BuildOptions,
  source: PackageSource,
  arch: string,
  fetched: readonly FetchedPackage[],
  precompressed: LayerPrecompressor | undefined,
  layerCache: DownloadCache | undefined,
): Promise<BuiltImage> {
  const { config } = options.config;
  const mtime = options.sourceDateEpoch ?? 0;
  const clamp = options.sourceDateEpoch;
  const packages = source.installOrder(fetched.map((f) => f.package));
  const progress = options.onProgress ?? (() => {});
  progress({ kind: 'step', step: 'install', subject: arch, done: 0, total: packages.length });
  // The packages' files kept out of the tree where they can be (../vfs/spill.ts): the build then
  // holds no record per file. What a tree alone settles makes it install again, into a tree.
  const logger = options.logger ?? silentLogger;
  const spill =
    layerCache !== undefined && options.spill !== false && spillable(config)
      ? await SpilledFiles.open(layerCache, keptInTree(config))
      : undefined;
  try {
    let assembled =
      spill === undefined
        ? undefined
        : await assemble(options.config, source, packages, arch, mtime, clamp, spill).catch(refused(logger, arch));
    if (assembled === undefined) {
      await spill?.close();
      assembled = await assemble(options.config, source, packages, arch, mtime, clamp, undefined);
    }
    const { tree, changed } = assembled;
    if (assembled.missingOsRelease !== undefined) {
      logger.warn(
        `${arch}: no package installs /etc/os-release (${assembled.missingOsRelease} does, and nothing depends on it): the image names no distribution, so scanners such as trivy match no advisory to its packages; add ${assembled.missingOsRelease} to contents.packages, or give os-release in the configuration`,
      );
    }
    // The packages' files as the image holds them: the finishing may have rewritten some.
    const installed = assembled.installed.map((p) => withFinishedFiles(p, changed));
    const using = assembled.spill;
    if (using !== undefined) logger.debug(`${arch}: ${using.size} files kept out of memory as they were installed`);
    progress({ kind: 'step', step: 'install', subject: arch, done: packages.length, total: packages.length, finished: true });
    const groups = installed.map((p) => ({ name: p.name, origin: p.source, size: p.installedSize, database: p.database }));
    const walks =
      using === undefined
        ? splitLayers(tree, groups, config.layering).map((paths) => () => treeWalk(tree, paths))
        : [() => using.walk(tree)];
    const user = resolveRunAs(config.accounts.runAs, imageText(tree, 'etc/passwd', ACCOUNTS_FILE_MAX));
    const imageOptions = {
      config,
      configPath: options.configPath,
      user,
      workers: options.workers,
      cache: layerCache,
      reuse: options.layerCache !== false,
      signal: options.signal,
    };
    progress({ kind: 'step', step: 'compress', subject: arch, done: 0, total: walks.length });
    const image = await imageFromWalks(imageOptions, arch, walks, installed.length, mtime, precompressed);
    const bytes = image.layers.reduce((n, l) => n + l.size, 0);
    progress({ kind: 'step', step: 'compress', subject: arch, done: walks.length, total: walks.length, bytes, finished: true });
    return {
      arch,
      ...image,
      packages: installed,
      locked: fetched.map((f) => f.locked),
      osRelease: assembled.osRelease,
      user,
      skippedScripts: skippedScriptsOf(installed),
    };
  } finally {
    await spill?.close();
  }
}

/**
 * Installs the packages into a new tree, files kept out of it in `spill` when given, and does
 * the shared finishing: the SOURCE_DATE_EPOCH clamp, accounts, os-release, `paths`.
 *
 * @throws SpillRefused when the files could not be kept out of the tree
 */
async function assemble(
  loaded: LoadedConfig,
  source: PackageSource,
  packages: readonly unknown[],
  arch: string,
  mtime: number,
  clamp: number | undefined,
  spill: SpilledFiles | undefined,
): Promise<{
  tree: Tree;
  installed: InstalledPackage[];
  spill: SpilledFiles | undefined;
  changed: Map<string, FileDigests | undefined>;
  /** The package that would have given /etc/os-release (PackageSource.osReleasePackage), when none did and the configuration gives none. */
  missingOsRelease: string | undefined;
  /** The image's /etc/os-release, read before any layer is made: one too large to read stops the build here. */
  osRelease: string;
}> {
  const { config } = loaded;
  const tree = new Tree();
  if (spill !== undefined) tree.keepOutside(spill);
  const installed = await source.install(tree, packages, arch, { mtime, clamp }, spill);
  // The packages' entries, now in the tree, and what installing them left.
  if (tree.size + (spill?.size ?? 0) >= COLLECT_FROM_FILES) collectGarbage({ shrink: true });
  // What the steps below read and change must be in the tree, as a tree of every file would have it.
  spill?.bringIn(tree);
  // SOURCE_DATE_EPOCH is the latest time any file may have (a kept file has it already: the
  // installers give every entry that time).
  if (clamp !== undefined) for (const p of tree.paths()) if ((tree.get(p)?.mtime ?? 0) > clamp) tree.update(p, { mtime: clamp });
  // The files the finishing may rewrite, as the packages left them: the SBOMs' file lists then
  // give the digests of the bytes in the image, not of those the packages shipped.
  const before = filesAt(tree, keptInTree(config));
  applyAccounts(tree, config.accounts, mtime, loaded.locations);
  // No package's os-release and no configuration's: the one written for want of any stands in
  // until a paths entry puts something there (as under apko, which writes none, the path is free).
  const standIn = config.osRelease === undefined && tree.get(tree.resolve('etc/os-release')) === undefined;
  const missingOsRelease = standIn ? source.osReleasePackage : undefined;
  applyOsRelease(tree, config.osRelease, mtime);
  applyPaths(tree, config.paths, mtime, {
    standIns: standIn ? new Set([tree.resolveParent('etc/os-release')]) : undefined,
    locations: loaded.locations,
  });
  const osRelease = imageText(tree, 'etc/os-release', OS_RELEASE_MAX);
  return { tree, installed, spill, changed: changedByFinishing(tree, before), missingOsRelease, osRelease };
}

/**
 * Once per build whose configuration asks for dpkg or apt: the packages the images' package
 * manager needs that they lack (PackageSource.missingEssential: Debian's Essential set), since
 * installing the packages runs none of their scripts and nothing depends on them, and the image
 * builds whole but for its dpkg.
 */
function warnMissingEssential(
  options: BuildOptions,
  source: PackageSource,
  archs: readonly string[],
  packages: ReadonlyMap<string, readonly LockedPackage[]>,
): void {
  // Only for an image meant to run them: dpkg also comes in as a dependency (Debian's dash
  // depends on it), and a shell image has no use for the rest of the Essential set.
  const asked = options.config.config.contents.packages.map((p) => source.request(p, options.configPath).name);
  if (!asked.some((n) => n === 'dpkg' || n === 'apt')) return;
  const missing = new Set<string>();
  for (const arch of archs) {
    const names = (packages.get(arch) ?? []).map((p) => p.name);
    for (const n of source.missingEssential?.(arch, names) ?? []) missing.add(n);
  }
  if (missing.size === 0) return;
  const list = [...missing].sort().join(', ');
  (options.logger ?? silentLogger).warn(
    `${options.configPath}: the image has dpkg but not the Essential packages ${list}, which nothing depends on: dpkg -i and dpkg --configure in the image stop without their programs ("expected programs not found in PATH": sh, rm, diff, tar, ldconfig), and maintainer scripts expect the rest; add them to contents.packages if the image is to run dpkg (debootstrap and mmdebstrap install them)`,
  );
}

/** Undefined for a SpillRefused, said in the log (the build installs again, into a tree alone); anything else thrown as it is. */
function refused(logger: Logger, arch: string): (err: unknown) => undefined {
  return (err) => {
    if (!(err instanceof SpillRefused)) throw err;
    logger.debug(`${arch}: installing again with every file in memory, since ${err.why}`);
    return undefined;
  };
}

/**
 * Whether a build's files can be kept out of its tree: when its image is one layer, and no
 * `paths` entry changes a folder's contents (`recursive`), which needs every file of the folder.
 */
function spillable(config: ImageConfig): boolean {
  return isOneLayer(config.layering) && !config.paths.some((p) => p.recursive === true);
}

/**
 * The paths the shared finishing reads or changes: the accounts' files and homes, os-release,
 * and each `paths` entry's path and a hardlink's source. A package's file at one of these stays in the tree.
 */
function keptInTree(config: ImageConfig): string[] {
  const paths = ['etc/passwd', 'etc/group', 'etc/os-release'];
  for (const u of config.accounts.users) paths.push(u.homedir);
  // A symlink's source is its target, written into the link, not a path the build reads.
  for (const p of config.paths) paths.push(p.path, ...(p.type === 'hardlink' && p.source !== undefined ? [p.source] : []));
  return paths.map((p) => p.replace(/^\/+/, '')).filter((p) => p !== '');
}

/**
 * `err` from putting a layer into a store. When the store refused the bytes of a layer kept in
 * the cache and its file there is damaged (hashed again to tell, since a registry may refuse sound
 * bytes too), the layer is dropped from the cache first and the error says so, so that the next
 * build makes it again rather than failing the same way. Otherwise `err` as it is.
 */
async function damagedLayer(err: unknown, layer: Layer | undefined): Promise<never> {
  if (!isProvenantError(err, 'DIGEST_MISMATCH', 'SIZE_MISMATCH') || layer?.dropIfDamaged === undefined) throw err;
  if (!(await layer.dropIfDamaged().catch(() => false))) throw err;
  throw new ProvenantError(err.code, `the build cache's copy of layer ${layer.digest} is damaged: ${err.message}`, {
    where: layer.source.path ?? err.where,
    hint: 'it is dropped from the cache now: build again, and the layer is made anew',
    cause: err,
  });
}

/** Options of {@link writeBuild}. */
export interface WriteBuildOptions extends OperationOptions {
  /** Statements about each image, and where to store them (see `attest/storage.ts`). */
  attestations?: { attested: readonly Attested[]; mode: AttestationMode } | undefined;
}

/**
 * Writes a build to a store: layers and configs, manifests, attestations, then the index, tagged
 * last so that no tag points at incomplete content. With no `tags`, the index is written by
 * digest and kept untagged (a layout lists it) until a tag names it (image/copy.ts tagImage).
 */
export async function writeBuild(
  result: BuildResult,
  store: ContentStore,
  tags: readonly string[],
  options: WriteBuildOptions = {},
): Promise<Descriptor> {
  if (result.index === undefined) throw new ProvenantError('USAGE', 'a lock-only build has no image to write');
  const blobs: { source: BlobSource; image: BuiltImage; layer?: Layer }[] = result.images.flatMap((image) => [
    ...image.layers.map((layer) => ({ source: layer.source, image, layer })),
    { source: bytesSource(image.config.descriptor, image.config.bytes), image },
  ]);
  // Progress: the step, and each blob as the stores that do not report their own (local ones) do not.
  const step = { kind: 'step', step: 'write', subject: store.location, total: blobs.length } as const;
  const totalBytes = blobs.reduce((n, b) => n + b.source.descriptor.size, 0);
  let done = 0;
  let bytes = 0;
  let reused = 0;
  options.onProgress?.({ ...step, done, bytes, totalBytes, reused });
  for (const [i, { source, image, layer }] of blobs.entries()) {
    const outcome = await store.putBlob(source, options).catch((err: unknown) => damagedLayer(err, layer));
    const d = source.descriptor;
    const phase = outcome === 'stored' ? 'done' : outcome === 'mounted' ? 'mounted' : 'exists';
    options.onProgress?.({ kind: 'blob', digest: d.digest, done: d.size, total: d.size, phase });
    done++;
    bytes += d.size;
    if (phase !== 'done') reused++;
    options.onProgress?.({ ...step, done, bytes, totalBytes, reused, finished: done === blobs.length });
    // The config is the last blob of its image: the manifest that names them goes next.
    if (blobs[i + 1]?.image !== image) await store.putManifest(image.manifest, { ...options, tags: [] });
  }
  const index =
    options.attestations === undefined
      ? result.index
      : await storeAttestations(store, result.index, options.attestations.attested, options.attestations.mode, options);
  // Written by digest (to be signed, then tagged), the image is kept in its own right, as copy
  // keeps one: a layout lists it untagged until a tag names it, so that a signing failure leaves
  // it there, as the failure says, whatever is or is not attached to it.
  await store.putManifest(index, { ...options, tags: [...tags], keepAsRoot: tags.length === 0 });
  return descriptorOf(index);
}
