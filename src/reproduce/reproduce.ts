/**
 * `provenant reproduce`: build an image again from its provenance and say, per platform, whether
 * the rebuild is the same image.
 *
 * The steps: find each platform image's SLSA provenance in any storage, verified against the
 * trust given (./find.ts); read it as a rebuild recipe, or say what it lacks (./provenance.ts);
 * load the configuration files it carries from memory, so that includes resolve among them and
 * nothing is read from this machine's disk; fetch the package files it names, checked against
 * its digests (./fetch.ts); build with the recorded architectures and SOURCE_DATE_EPOCH from a
 * lock made of its package entries and keys; compare each platform manifest's digest with the
 * original's, and for a difference compare the two images (../image/diff.ts) to name the first
 * layer, the first file and the package that differ (./explain.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import { isBuildkitAttestation } from '../attest/attachments.ts';
import { apkArchToPlatform } from '../builder/arch.ts';
import { type BuildResult, type BuiltImage, buildImage, writeBuild } from '../builder/build.ts';
import { loadConfig } from '../builder/config.ts';
import type { LoadedConfig } from '../builder/config-types.ts';
import type { Lock } from '../builder/lock.ts';
import { LockUnmetError, otherSpelling } from '../builder/plan.ts';
import { checkImage } from '../compat/check.ts';
import { fixImage } from '../compat/fix.ts';
import { loadProfiles, selectTargets, type Target } from '../compat/profile.ts';
import { isProvenantError, ProvenantError, throwIfAborted, urlWithoutUserInfo, withoutUserInfo } from '../errors.ts';
import { diffImages } from '../image/diff.ts';
import { type InspectedManifest, inspectImage } from '../image/inspect.ts';
import { type Logger, silentLogger } from '../io/types.ts';
import type { Stored } from '../oci/content.ts';
import type { Digest } from '../oci/digest.ts';
import { sameJson } from '../oci/json.ts';
import { formatPlatform, platformMatches } from '../oci/platform.ts';
import type { Descriptor, ImageIndex, Platform } from '../oci/types.ts';
import type { LockedPackage } from '../pkg/source.ts';
import { isDebianLine } from '../pkg/sources.ts';
import { LayoutStore } from '../store/layout.ts';
import type { ContentStore } from '../store/types.ts';
import { reproduceApko, unverifiedApkoConfiguration } from './apko.ts';
import { explainMismatch, type MismatchDetail } from './explain.ts';
import { fetchPackages, type OverrideUse, type PackageFileChange, type PackageSources } from './fetch.ts';
import { type FoundProvenance, findProvenance, platformLabel, type ReproduceTrust } from './find.ts';
import { differingFields, ownFieldDifferences, shown } from './json.ts';
import { type ProvenanceReading, type ReplayPlan, readProvenance } from './provenance.ts';

/** What {@link reproduceImage} reports as it goes. */
export type ReproduceProgress =
  | { phase: 'provenance'; platforms: number }
  | { phase: 'sources'; hosts: string[]; localFiles: number }
  | { phase: 'fetch'; done: number; total: number }
  | { phase: 'build'; archs: string[] }
  | { phase: 'compare'; platform: string };

/** Options of {@link reproduceImage}. */
export interface ReproduceOptions {
  /** Require the provenance to be signed by this key or identity; without it nothing is verified, and the report says so. */
  trust?: ReproduceTrust | undefined;
  /** `[OLD, NEW]` location prefixes, for a repository that moved since the build (`--repository-override OLD=NEW`). */
  repositoryOverrides?: readonly (readonly [string, string])[] | undefined;
  /**
   * The folder that package locations written as relative paths are relative to: the original
   * build's configuration folder (the CLI passes the working directory). Without it such a
   * location is a `USAGE` error.
   */
  baseDir?: string | undefined;
  /**
   * Read package files of this machine that the provenance names (a path, `file://`), as a build
   * from a local repository records them; off by default, since a provenance's paths, verified or
   * not, are those of the machine that built it and may name any file here (`--allow-local-packages`).
   */
  allowLocalFiles?: boolean | undefined;
  /** The builder's download cache; package files it already holds are not downloaded again. */
  cacheDir?: string | undefined;
  /** Where the temporary folder (fetched packages, the rebuilt layout) is made; default the OS's. */
  workDir?: string | undefined;
  /** Also write the rebuilt image here (every platform rebuilt, as an index), with these tags. */
  output?: { store: ContentStore; tags?: readonly string[] | undefined } | undefined;
  /** How to name the image in the report (default the target). */
  name?: string | undefined;
  /** Worker threads for compression. */
  workers?: number | undefined;
  signal?: AbortSignal | undefined;
  logger?: Logger | undefined;
  onProgress?: ((update: ReproduceProgress) => void) | undefined;
}

/** The provenance a platform was replayed from (or refused for). */
export interface UsedProvenance {
  predicateType: string;
  buildType: string | undefined;
  builderId: string | undefined;
  /** Where it was: an attachment storage, or `image` for an apko configuration in the image (/etc/apko.json). */
  storage: FoundProvenance['storage'] | 'image';
  source: string;
  verified: boolean;
  verifiedBy?: string | undefined;
}

interface PlatformBase {
  /** `linux/amd64`. */
  platform: string;
  /** The original platform manifest. */
  digest: Digest;
  /** The provenance read; absent when there is none. */
  provenance?: UsedProvenance | undefined;
}

/** The rebuild has the same manifest digest (or, rebuilt as apko builds, the same config). */
export interface PlatformMatch extends PlatformBase {
  status: 'match';
  rebuilt: Digest;
  /**
   * `other` when the rebuild has the original's config, and so its uncompressed layers (diff_ids),
   * but compresses them differently (an apko image rebuilt: ./apko.ts); absent or `same` when the
   * manifest is the same.
   */
  compression?: 'same' | 'other' | undefined;
  /**
   * Always empty: a platform rebuilt from package files whose bytes are not those the provenance
   * names is a {@link PlatformMismatch} even when its image comes out the same. Kept so that
   * every rebuilt platform's JSON has the field.
   */
  changedPackageFiles: [];
}

/** The rebuild differs. */
export interface PlatformMismatch extends PlatformBase {
  status: 'mismatch';
  /** The rebuilt manifest; absent when the rebuild with a changed package file failed (`error`). */
  rebuilt?: Digest | undefined;
  /** Package files whose bytes are not those the provenance names. */
  changedPackageFiles: PackageFileChange[];
  /** Where the two images part. */
  detail?: MismatchDetail | undefined;
  /** Why there is no rebuild to compare, when there is none. */
  error?: string | undefined;
  /**
   * Why it is a mismatch although `rebuilt` is the original manifest: the rebuild used package
   * files other than those the provenance names (`changedPackageFiles`).
   */
  reason?: string | undefined;
}

/** The provenance cannot be replayed (or there is none). */
export interface PlatformNotReplayable extends PlatformBase {
  status: 'not-replayable';
  reason: string;
  /** What a rebuild needs and the provenance lacks. */
  missing: string[];
}

/** One platform's outcome. */
export type PlatformReproduction = PlatformMatch | PlatformMismatch | PlatformNotReplayable;

/**
 * The original index against the one the rebuild makes, BuildKit's attestation entries left out
 * (they are added after the build): which images it lists, in which order, with which platforms
 * and annotations, and its own annotations. A runtime picks the first entry of its platform, so
 * an index with one image more, or the same images in another order, runs something else.
 */
export interface IndexComparison {
  /** False when no one rebuild makes this index (`reason` says why); its platforms are still each compared. */
  compared: boolean;
  reason?: string | undefined;
  /** What differs, one sentence each; empty when the index is the rebuild's. */
  differences: string[];
  /**
   * Entries whose image was not rebuilt (no replayable provenance: the platform is
   * `not-replayable`, or was replayed apart, from an apko configuration), for a platform the
   * rebuild makes no image of: whether they belong in the index is not known, so they are not
   * differences (`entry 1 (linux/arm64, sha256:…)`). Absent when there is none.
   */
  notRebuilt?: string[] | undefined;
}

/** What {@link reproduceImage} returns: the JSON form of `provenant reproduce --format json`. */
export interface ReproduceReport {
  image: { name: string; digest: Digest; mediaType: string };
  /** Whether the provenance used was verified, and by whom. */
  verification: {
    verified: boolean;
    /** `key <id>`, `<identity> (<issuer>)`, `the index's signature (...)`. */
    signers: string[];
    /** One sentence for a person. */
    summary: string;
  };
  /** True when every platform matched, and the index (for an index) has no difference. */
  match: boolean;
  platforms: PlatformReproduction[];
  /** For an index: how it compares with the index the rebuild makes. Absent for a single manifest. */
  index?: IndexComparison | undefined;
  /** The repository overrides given, and how many package locations each rewrote. */
  overrides: OverrideUse[];
}

/** One platform to rebuild: its manifest, its recipe, the architecture it is. */
interface Job {
  manifest: InspectedManifest;
  provenance: UsedProvenance;
  plan: ReplayPlan;
  arch: string;
}

/**
 * Rebuilds `target` (a tag or digest in `store`) from its provenance and compares, per platform.
 *
 * @throws ProvenantError `SIGNATURE` when trust is given and a platform's provenance is not
 *   signed or does not verify (nothing is fetched or built then); `NOT_FOUND` when the target is
 *   not in the store or a package file is gone (with a hint about `--repository-override`);
 *   `DIGEST_MISMATCH` when a platform matches but a blob of the original in `store` does not
 *   hash to its digest (the source is damaged); `USAGE` for a relative package location without
 *   `baseDir`, a package file of this machine without `allowLocalFiles`, or a bad override;
 *   `NETWORK`, `ABORTED`; what the build throws for the provenance's own packages
 *   (`UNTRUSTED_KEY`, ...)
 */
export async function reproduceImage(store: ContentStore, target: string, options: ReproduceOptions = {}): Promise<ReproduceReport> {
  const logger = options.logger ?? silentLogger;
  const name = options.name ?? target;
  const inspected = await inspectImage(store, target, name, { signal: options.signal, logger });
  options.onProgress?.({ phase: 'provenance', platforms: inspected.manifests.length });
  // Provenance stored with a platform image that is about another image: the reason it has none.
  const elsewhere = new Map<Digest, string[]>();
  const found = await findProvenance(store, inspected, {
    trust: options.trust,
    signal: options.signal,
    logger,
    onOtherSubject: (digest, note) => elsewhere.set(digest, [...(elsewhere.get(digest) ?? []), note]),
  });

  // Each provenance read once: for its platform's job, and for the platforms the index lacks.
  const readings = new Map(
    inspected.manifests.map((m) => [m.digest, (found.get(m.digest) ?? []).map((f) => ({ f, r: readProvenance(f.statement) }))]),
  );
  const results = new Map<Digest, PlatformReproduction>();
  const jobs: Job[] = [];
  for (const m of inspected.manifests) {
    // The same manifest listed twice is rebuilt once; each entry reports its outcome.
    if (results.has(m.digest) || jobs.some((j) => j.manifest.digest === m.digest)) continue;
    const job = jobFor(m, readings.get(m.digest) ?? [], elsewhere.get(m.digest) ?? [], options.trust !== undefined, logger);
    if ('status' in job) results.set(m.digest, job);
    else jobs.push(job);
  }

  const overrides: OverrideUse[] = [];
  const rebuiltIndexes: Stored[] = [];
  // Platforms whose provenance says the same build (normally all of them) are rebuilt at once,
  // whatever architectures each records: the same build of more or fewer of them makes the same
  // platform images.
  const groups = new Map<string, Job[]>();
  for (const j of jobs) {
    const key = JSON.stringify([
      j.plan.config,
      j.plan.sourceDateEpoch,
      j.plan.keys,
      j.plan.ecosystem,
      j.plan.compat,
      j.plan.target,
      ordersByLock(j.plan),
    ]);
    groups.set(key, [...(groups.get(key) ?? []), j]);
  }
  for (const group of groups.values()) {
    throwIfAborted(options.signal);
    const outcome = await replayGroup(store, name, group, options);
    for (const [digest, r] of outcome.results) results.set(digest, r);
    if (outcome.index !== undefined) rebuiltIndexes.push(outcome.index);
    for (const o of outcome.overrides) {
      const seen = overrides.find((x) => x.from === o.from);
      if (seen === undefined) overrides.push({ ...o });
      else seen.used += o.used;
    }
  }
  if (overrides.length === 0) {
    for (const [from, to] of options.repositoryOverrides ?? []) overrides.push({ from, to, used: 0 });
  }
  // The report and the log name the overrides without the credentials they may carry.
  for (const o of overrides) {
    o.from = urlWithoutUserInfo(o.from);
    o.to = urlWithoutUserInfo(o.to);
    if (o.used === 0) logger.warn(`the repository override ${o.from}=${o.to} matched no package location`);
  }

  // Platforms without replayable SLSA provenance may carry the configuration apko was given.
  const unreplayed = inspected.manifests.filter(
    (m, i) => results.get(m.digest)?.status === 'not-replayable' && inspected.manifests.findIndex((x) => x.digest === m.digest) === i,
  );
  if (unreplayed.length > 0) {
    const apkoOptions = { ...options, onSources: (s: PackageSources) => options.onProgress?.({ phase: 'sources', ...s }) };
    const apko = await reproduceApko(store, inspected, unreplayed, apkoOptions);
    for (const [digest, r] of apko) results.set(digest, r);
    // With trust, an apko configuration nothing verified is not used: said, rather than only that
    // SLSA provenance is missing, with what would be taken instead.
    for (const m of unreplayed) {
      const r = results.get(m.digest);
      if (apko.has(m.digest) || r?.status !== 'not-replayable') continue;
      const note = await unverifiedApkoConfiguration(store, inspected, m, apkoOptions);
      if (note !== undefined) results.set(m.digest, { ...r, reason: `${r.reason}; ${note.reason}`, missing: [...r.missing, note.missing] });
    }
  }
  const platforms = inspected.manifests.map((m) => results.get(m.digest) as PlatformReproduction);
  await checkSourceBlobs(store, name, platforms, options.signal);
  // Every provenance read counts, the one of a platform found not replayable too: the report
  // lists it under its platform, verified or not, and the summary must say the same.
  const read = platforms.flatMap((p) => (p.provenance === undefined ? [] : [p.provenance]));
  const replayed = platforms.some((p) => p.status !== 'not-replayable' && p.provenance !== undefined);
  const signers = [...new Set(read.flatMap((p) => (p.verifiedBy === undefined ? [] : [p.verifiedBy])))];
  const verified = options.trust !== undefined && read.length > 0 && read.every((p) => p.verified);
  const root = inspected.raw;
  const index =
    root.kind === 'index'
      ? compareIndex(
          root.index,
          groups.size,
          rebuiltIndexes,
          platforms,
          unlistedPlatforms(inspected, readings),
          // A platform refused once its group was read (its packages do not meet its requests) was not rebuilt.
          new Set(jobs.filter((j) => results.get(j.manifest.digest)?.status !== 'not-replayable').map((j) => j.manifest.digest)),
        )
      : undefined;
  return {
    image: { name, digest: inspected.digest, mediaType: inspected.mediaType },
    verification: {
      verified,
      signers,
      summary: verified
        ? `the provenance was verified: signed by ${signers.join(', ')}${replayed ? '' : '; no platform could be replayed from it'}`
        : read.length === 0
          ? 'no provenance was found, so nothing was verified'
          : options.trust === undefined
            ? 'the provenance was NOT verified: no key or identity was given, so nothing vouches for what it says; a match shows only that the image follows from it'
            : 'the provenance was NOT all verified: a platform was read from a provenance no signature vouches for',
    },
    match: platforms.length > 0 && platforms.every((p) => p.status === 'match') && (index?.differences.length ?? 0) === 0,
    platforms,
    ...(index === undefined ? {} : { index }),
    overrides,
  };
}

/**
 * A match compares manifest digests: the original manifest names its config and layers by digest,
 * but the store may hold other bytes under those names (a layout's blob edited or rotted on disk),
 * and the image a runtime would unpack is then not the one rebuilt. So each blob of a matching
 * platform is read through the store's verifying read (../io/verify.ts), streamed, each once.
 *
 * @throws ProvenantError `DIGEST_MISMATCH` naming the platform and the blob when one does not hash
 *   to its digest (or has another size); `NOT_FOUND` when one is gone
 */
async function checkSourceBlobs(
  store: ContentStore,
  name: string,
  platforms: readonly PlatformReproduction[],
  signal: AbortSignal | undefined,
): Promise<void> {
  const checked = new Set<Digest>();
  for (const p of platforms) {
    if (p.status !== 'match') continue;
    const stored = await store.getManifest(p.digest, { signal });
    if (stored.kind !== 'manifest') continue;
    const { config, layers } = stored.manifest;
    for (const [what, d] of [['config', config] as const, ...layers.map((l, i) => [`layer ${i}`, l] as const)]) {
      if (checked.has(d.digest)) continue;
      try {
        for await (const _ of await store.readBlob(d, { signal })) {
          // The stream is hashed as it goes, and fails at its end when the bytes are not the blob.
        }
      } catch (err) {
        if (!isProvenantError(err, 'DIGEST_MISMATCH', 'SIZE_MISMATCH')) throw err;
        throw new ProvenantError(
          'DIGEST_MISMATCH',
          `${name} ${p.platform}: its ${what} ${d.digest} is damaged in the store (${err.message}), so the image is not the one rebuilt, although its manifest is`,
          {
            where: err.where ?? `${store.location}@${d.digest}`,
            cause: err,
            hint: 'copy the image again from where it came from; the rebuild shows what its blobs should be (--output)',
          },
        );
      }
      checked.add(d.digest);
    }
  }
}

/**
 * A build error with each fetched package file's path in the temporary folder (the lock's `url`)
 * put back as the location the provenance names, and any other path there (the configuration's)
 * as the provenance writes it (`present`): the folder is gone when the error is read.
 */
function located<E>(err: E, origins: ReadonlyMap<string, string>, present: (text: string) => string): E {
  if (!isProvenantError(err)) return err;
  const put = (text: string): string => {
    let out = text;
    for (const [local, origin] of origins) out = out.replaceAll(local, origin);
    return present(out);
  };
  const message = put(err.message);
  const where = err.where === undefined ? undefined : put(err.where);
  const hint = err.hint === undefined ? undefined : put(err.hint);
  if (message === err.message && where === err.where && hint === err.hint) return err;
  return new ProvenantError(err.code, message, { where, hint, cause: err }) as E;
}

/**
 * Paths in the temporary folder, in a message, as the provenance writes them: relative to the
 * root configuration file's folder (`img.yaml`, `../shared/common.yaml`).
 */
function presentPaths(temp: string, configDir: string): (text: string) => string {
  const escaped = temp.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return (text) => text.replace(new RegExp(`${escaped}[^\\s:'"]*`, 'g'), (p) => relative(configDir, p));
}

/** A provenance found for a platform image, and what it reads as. */
interface Reading {
  f: FoundProvenance;
  r: ProvenanceReading;
}

/** The rebuild job of one platform, or why there is none. */
function jobFor(
  m: InspectedManifest,
  readings: readonly Reading[],
  elsewhere: readonly string[],
  trusted: boolean,
  logger: Logger,
): Job | PlatformNotReplayable {
  const base = { platform: platformLabel(m), digest: m.digest };
  if (readings.length === 0 && elsewhere.length > 0) {
    return {
      ...base,
      status: 'not-replayable',
      reason: `the SLSA provenance stored with this platform image is about another image, so it is not this image's: ${elsewhere.join('; ')}`,
      missing: ['SLSA provenance whose subject is this platform manifest'],
    };
  }
  if (readings.length === 0) {
    return {
      ...base,
      status: 'not-replayable',
      reason:
        'no SLSA provenance is attached to this platform image in any storage (BuildKit attestation manifests, OCI referrers, cosign .att)',
      missing: ['SLSA provenance whose subject is this platform manifest'],
    };
  }
  const used = (f: FoundProvenance, r: ProvenanceReading): UsedProvenance => ({
    predicateType: f.predicateType,
    buildType: r.replayable ? r.plan.buildType : r.buildType,
    builderId: r.replayable ? r.plan.builderId : r.builderId,
    storage: f.storage,
    source: f.source,
    verified: f.verified,
    verifiedBy: f.verifiedBy,
  });
  const replayable = readings.filter((x) => x.r.replayable);
  // Several recipes for one image (a provenance attached again, by another build): which one
  // made it is not for a rebuild to guess, and replaying the first found would compare the image
  // with whichever storage happened to be read first. Copies of one statement (in two storages,
  // signed and not) agree, and so do the provenances of builds of more or fewer architectures
  // that made this same image (unlistedPlatforms reads all of them), or that another builder
  // states, or that read a lock of the same packages (`build --lock` after a build that
  // resolved, as docs/getting-started.md does it): what builds this platform is the same, and
  // any of them is replayed.
  const recipes = new Set(replayable.map((x) => (x.r.replayable ? recipeOf(x.r.plan) : '')));
  if (recipes.size > 1) {
    const first = replayable[0] as Reading;
    return {
      ...base,
      provenance: used(first.f, first.r),
      status: 'not-replayable',
      reason: `${replayable.length} SLSA provenance statements about this platform image can be replayed, and they say different builds (${replayable.map((x) => `${x.f.storage} ${x.f.source}`).join('; ')}): a rebuild cannot tell which one made the image`,
      missing: [
        `one SLSA provenance for this platform manifest, or several that say the same build (${
          trusted
            ? 'each of these is signed by the key or identity given: remove the others, or sign only the one that made the image'
            : 'remove the others, or give --key or --certificate-identity so that only the signed one counts'
        })`,
      ],
    };
  }
  const ok = replayable[0];
  if (readings.length > 1 && ok !== undefined) {
    logger.info(
      `${base.platform}: ${readings.length} SLSA provenance statements found (${replayable.length} replayable, the same build); replaying the one in ${ok.f.storage} ${ok.f.source}`,
    );
  }
  if (ok === undefined || !ok.r.replayable) {
    // Explain with the most telling refusal: SLSA v1 over v0.2.
    const first = readings.find((x) => x.f.predicateType.endsWith('/v1')) ?? (readings[0] as (typeof readings)[number]);
    const r = first.r as Extract<ProvenanceReading, { replayable: false }>;
    return { ...base, provenance: used(first.f, r), status: 'not-replayable', reason: r.reason, missing: r.missing };
  }
  const plan = ok.r.plan;
  const arch =
    m.platform === undefined
      ? plan.archs.length === 1
        ? plan.archs[0]
        : undefined
      : plan.archs.find((a) => platformMatches(apkArchToPlatform(a), m.platform as NonNullable<typeof m.platform>));
  if (arch === undefined) {
    return {
      ...base,
      provenance: used(ok.f, ok.r),
      status: 'not-replayable',
      reason: `the provenance's architectures (${plan.archs.join(', ')}) do not include this platform`,
      missing: [`externalParameters.archs naming ${base.platform}`],
    };
  }
  return { manifest: m, provenance: used(ok.f, ok.r), plan, arch };
}

/**
 * What a rebuild of `plan` takes, as text: two provenances with the same say the same build of
 * this platform. Left out are what does not change the platform's image: the architectures (a
 * build of more or fewer makes the same one), the builder named, the predicate's version, and
 * whether the build read a lock (the lock pins the packages the provenance names either way),
 * except with apko compatibility, which orders packages by a lock.
 */
function recipeOf(plan: ReplayPlan): string {
  const { archs: _, builderId: __, predicateType: ___, fromLock: ____, ...rest } = plan;
  return JSON.stringify({ ...rest, byLock: ordersByLock(plan) });
}

/** Whether a rebuild of `plan` installs in a lock's order: an apko-compatible build from a lock. */
function ordersByLock(plan: ReplayPlan): boolean {
  return plan.compat === 'apko' && plan.fromLock === true;
}

/** Rebuilds the platforms of one recipe and compares each. */
async function replayGroup(
  store: ContentStore,
  name: string,
  group: readonly Job[],
  options: ReproduceOptions,
): Promise<{ results: Map<Digest, PlatformReproduction>; overrides: OverrideUse[]; index?: Stored | undefined }> {
  const results = new Map<Digest, PlatformReproduction>();
  const plan = (group[0] as Job).plan;
  const refuse = (reason: string, missing: string[]) => {
    for (const j of group) results.set(j.manifest.digest, { ...baseOf(j), status: 'not-replayable', reason, missing });
    return { results, overrides: [] };
  };
  const temp = await mkdtemp(join(options.workDir ?? tmpdir(), 'provenant-reproduce-'));
  let rebuilt: LayoutStore | undefined;
  try {
    const configDir = configFolder(temp, plan);
    const configPath = join(configDir, plan.config.path);
    const present = presentPaths(temp, configDir);
    const loaded = await loadFromPlan(plan, temp, configDir, configPath, (group[0] as Job).arch, options.repositoryOverrides ?? []);
    if (!('config' in loaded)) return refuse(loaded.reason, loaded.missing);
    const keyring = keyringFor(loaded, plan);
    if ('missing' in keyring) return refuse('the provenance lacks an apk key the configuration trusts', keyring.missing);
    const isDeb = loaded.config.contents.repositories.some(isDebianLine);
    if (isDeb !== (plan.ecosystem === 'deb')) {
      return refuse(`the configuration's repositories are not ${plan.ecosystem} repositories, the kind of its packages`, [
        `contents.repositories of ${plan.ecosystem} packages`,
      ]);
    }

    const stated = statedContentsDiffer(plan.config.contents, loaded.config.contents);
    if (stated !== undefined) return refuse(stated.reason, stated.missing);

    const packages = group.flatMap((j) => j.plan.packages);
    const fetched = await fetchPackages(packages, {
      overrides: options.repositoryOverrides ?? [],
      baseDir: options.baseDir,
      cacheDir: options.cacheDir,
      dir: join(temp, 'packages'),
      allowLocalFiles: options.allowLocalFiles,
      verified: group.every((j) => j.provenance.verified),
      signal: options.signal,
      onSources: (sources) => options.onProgress?.({ phase: 'sources', ...sources }),
      onFetched: (done, total) => options.onProgress?.({ phase: 'fetch', done, total }),
    });
    // Each platform's own architecture, in the provenance's order, which is the original index's:
    // the rebuilt index is compared with it. Provenances of one build agree on the order; those of
    // builds of one architecture each, merged by `index create` (docs/ci.md), record their own
    // alone, and the others follow in the index's order, as the merge listed them.
    const archs = [...new Set(group.flatMap((j) => j.plan.archs))].filter((a) => group.some((j) => j.arch === a));
    // The build refuses a lock of these entries that does not meet a request of the configuration,
    // as `build --lock` refuses such a lock (../builder/plan.ts): it would install only what the
    // entries hold and leave the request out without a word. Such a provenance is not replayable:
    // each platform of an architecture named unmet is refused (each platform's entries are its own
    // provenance's), and the others are built without it. Returns whether any platform is left.
    const refused = new Set<Job>();
    const refuseUnmet = (err: LockUnmetError, among: readonly Job[]): boolean => {
      const of = (j: Job) => err.unmet.filter((u) => u.endsWith(` (${j.arch})`));
      // An unmet request of no architecture of these platforms: not known whose, so all are refused.
      const hit = among.some((j) => of(j).length > 0) ? among.filter((j) => of(j).length > 0) : among;
      for (const j of hit) {
        const unmet = of(j).length > 0 ? of(j) : err.unmet;
        refused.add(j);
        const missing = unmet.map((u) => `resolvedDependencies: a package that meets ${u}`);
        const base = baseOf(j);
        // Of this platform's architecture, none of it: the entries spell it as another kind of
        // repository does (x86_64 where Debian's is amd64), or they are all of another
        // architecture's build (one predicate attested on every platform).
        const named = err.architecture?.arch === j.arch ? err.architecture : undefined;
        const own = [...new Set(j.plan.packages.map((p) => p.architecture))].sort();
        // noarch (all) is no build's architecture: entries of it alone, without the lock's (a
        // provenance written without lockArch), say nothing of which build they are of.
        const archs = own.filter((a) => !NO_ARCHITECTURE.has(a));
        const spelling = named === undefined ? undefined : otherSpelling(named);
        const known = named !== undefined && spelling === undefined && own.length > 0;
        const other = known && archs.length > 0 && !archs.includes(named.name);
        const archless = known && archs.length === 0;
        results.set(j.manifest.digest, {
          ...base,
          status: 'not-replayable',
          reason: other
            ? `the provenance of the ${base.platform} image describes a build of another architecture: the packages it names are for ${archs.join(', ')}, none for ${named.name}`
            : archless
              ? `the provenance of the ${base.platform} image names packages of no architecture alone (${own.join(', ')}), not the architecture its build locked them for: none is locked for ${named.name}`
              : `the provenance's packages do not meet what its configuration asks for: no package it names meets ${unmet.join(', ')}${spelling === undefined ? '' : ` (${spelling}: written for another kind of repository, or edited)`}`,
          missing: other
            ? [
                `the ${base.platform} build's own provenance (attest each platform's image with its own: provenant attest --platform ${base.platform})`,
                ...missing,
              ]
            : archless
              ? [`annotations.lockArch on each package: the architecture its build locked it for (${named.name})`, ...missing]
              : missing,
        });
      }
      return group.some((j) => !refused.has(j));
    };
    const lockOf = (locked: readonly LockedPackage[]): Lock => ({
      version: 'v1',
      config: { name: basename(plan.config.path), checksum: '' },
      contents: { keyring: keyring.keyring, build_repositories: [], runtime_repositories: [], repositories: [], packages: dedupe(locked) },
    });
    const build = (forArchs: string[]): Promise<BuildResult> => {
      options.onProgress?.({ phase: 'build', archs: forArchs });
      return buildImage({
        config: loaded,
        configPath,
        lock: lockOf(fetched.locked),
        archs: forArchs,
        sourceDateEpoch: plan.sourceDateEpoch,
        compat: plan.compat,
        resolvedLock: plan.fromLock !== true,
        lockVouches: true,
        // A rebuild that took the image, or the compressed layers, an earlier build on this machine
        // made would prove nothing about them: the cache gives package files only.
        memo: false,
        layerCache: false,
        cacheDir: options.cacheDir,
        workers: options.workers,
        signal: options.signal,
        logger: options.logger,
      });
    };
    const changedFor = (j: Job): PackageFileChange[] =>
      fetched.changes.filter((c) =>
        j.plan.packages.some((p) => p.name === c.name && p.architecture === c.architecture && p.sha256 === c.expected),
      );

    // With a changed package file the rebuild may fail (a file that is not a package any more);
    // then each platform is built alone, so that the others are still compared.
    const builds: BuildResult[] = [];
    const failed = new Map<string, string>();
    const left = () => group.filter((j) => !refused.has(j));
    const place = <E>(err: E): E => located(err, fetched.origins, present);
    for (;;) {
      try {
        builds.push(await build(archs.filter((a) => left().some((j) => j.arch === a))));
        break;
      } catch (err) {
        if (err instanceof LockUnmetError) {
          if (refuseUnmet(err, left())) continue;
          return { results, overrides: fetched.overrides };
        }
        if (fetched.changes.length === 0 || !isProvenantError(err) || err.code === 'ABORTED') throw place(err);
        for (const j of left()) {
          try {
            builds.push(await build([j.arch]));
          } catch (e) {
            if (e instanceof LockUnmetError) {
              refuseUnmet(e, [j]);
              continue;
            }
            if (changedFor(j).length === 0 || !isProvenantError(e) || e.code === 'ABORTED') throw place(e);
            failed.set(j.arch, place(e).describe());
          }
        }
        break;
      }
    }
    if (builds.length === 0 && failed.size === 0) return { results, overrides: fetched.overrides };

    rebuilt = await LayoutStore.open(join(temp, 'rebuilt'), { create: true });
    const writtenBuilds: Descriptor[] = [];
    for (const [i, b] of builds.entries()) {
      writtenBuilds.push(await writeBuild(b, rebuilt, [`rebuilt-${i}`], { signal: options.signal }));
      if (options.output !== undefined) await writeBuild(b, options.output.store, options.output.tags ?? [], { signal: options.signal });
    }
    const images = new Map<string, BuiltImage>();
    for (const b of builds) for (const image of b.images) images.set(image.arch, image);
    // Written for a target (`build --target`), the original is what the target's fix made of the
    // build: the rebuild is written so too, and compared as written.
    const forTarget = plan.target === undefined ? undefined : await writtenForTarget(rebuilt, writtenBuilds, plan.target, options.signal);
    if (forTarget !== undefined && 'reason' in forTarget) return refuse(forTarget.reason, forTarget.missing);
    const writtenOf = (image: BuiltImage): Digest => (forTarget?.renamed.get(image.manifest.digest) ?? image.manifest.digest) as Digest;

    for (const j of left()) {
      throwIfAborted(options.signal);
      const base = baseOf(j);
      const changedPackageFiles = changedFor(j);
      const image = images.get(j.arch);
      if (image === undefined) {
        results.set(j.manifest.digest, {
          ...base,
          status: 'mismatch',
          changedPackageFiles,
          error:
            failed.get(j.arch) === undefined
              ? `the rebuild made no image of ${j.arch}`
              : `the rebuild with the changed package files failed: ${failed.get(j.arch)}`,
        });
        continue;
      }
      const rebuiltDigest = writtenOf(image);
      if (rebuiltDigest === j.manifest.digest && changedPackageFiles.length === 0) {
        results.set(j.manifest.digest, { ...base, status: 'match', rebuilt: rebuiltDigest, changedPackageFiles: [] });
        continue;
      }
      if (rebuiltDigest === j.manifest.digest) {
        // The same image from other package files shows that the image follows from those files,
        // not from the ones the provenance names (./fetch.ts): the provenance's inputs are not
        // reproduced (a tampered provenance, or a mirror serving other bytes), so it is a mismatch.
        results.set(j.manifest.digest, {
          ...base,
          status: 'mismatch',
          rebuilt: rebuiltDigest,
          changedPackageFiles,
          reason: `the rebuild has the original's manifest, but was built from ${changedPackageFiles.length === 1 ? 'a package file' : `${changedPackageFiles.length} package files`} other than the provenance names, so the provenance is not reproduced`,
        });
        continue;
      }
      options.onProgress?.({ phase: 'compare', platform: base.platform });
      const diff = await diffImages(
        { store, target: j.manifest.digest, name: `${name}@${j.manifest.digest}` },
        { store: rebuilt, target: rebuiltDigest, name: 'rebuild' },
        { signal: options.signal },
      );
      const platformDiff = diff.images[0];
      results.set(j.manifest.digest, {
        ...base,
        status: 'mismatch',
        rebuilt: rebuiltDigest,
        changedPackageFiles,
        detail: platformDiff === undefined ? undefined : explainMismatch(platformDiff, changedPackageFiles),
      });
    }
    // Built at once, the rebuild has the index the original build made (as the target's fix wrote it).
    const index = builds.length === 1 && failed.size === 0 ? (forTarget?.root ?? builds[0]?.index) : undefined;
    return { results, overrides: fetched.overrides, index };
  } finally {
    await rebuilt?.close();
    await rm(temp, { recursive: true, force: true });
  }
}

/**
 * The rebuild written for `label`, as `build --target` writes a build (cli/compat.ts
 * writeBuildFor): an image the target refuses goes through its fix, in `store`. Returns each
 * built manifest the fix wrote another in place of, with that one, and what it wrote of the one
 * build there is (the index, or Lambda's single manifest); or why the rebuild cannot be written
 * so. Provenance written before the target was recorded has none, and is compared as built.
 */
async function writtenForTarget(
  store: ContentStore,
  builds: readonly Descriptor[],
  label: string,
  signal: AbortSignal | undefined,
): Promise<{ renamed: Map<string, string>; root: Stored | undefined } | { reason: string; missing: string[] }> {
  let target: Target;
  try {
    [target] = selectTargets(await loadProfiles(), label) as [Target];
  } catch (err) {
    if (!isProvenantError(err, 'USAGE')) throw err;
    return {
      reason: `the image was written for the target ${JSON.stringify(label)}, which this version cannot write for (${err.message})`,
      missing: ['externalParameters.target naming a built-in target of this version (docs/targets.md)'],
    };
  }
  const renamed = new Map<string, string>();
  let root: Stored | undefined;
  for (const built of builds) {
    const reference = `rebuild@${built.digest}`;
    const check = (await checkImage(store, built.digest, [target], { reference, probe: false, signal })).targets[0];
    if (check?.verdict !== 'refused') continue;
    const fix = await fixImage(store, built.digest, store, target, { tags: [], reference, signal });
    if (!fix.written || fix.destination === undefined) {
      return {
        reason: `${target.label} refuses the rebuild and no fix makes it accept it: ${fix.account.join(' ')}`,
        missing: [`an image ${target.label} accepts, or one its fix makes acceptable`],
      };
    }
    for (const r of fix.renamed) if (r.role !== 'attachment') renamed.set(r.from, r.to);
    if (builds.length === 1) root = await store.getManifest(fix.destination.digest, { signal });
  }
  return { renamed, root };
}

/**
 * The platforms the provenance records as built that the index does not list: one taken out of
 * it. A platform counts only when every replayable provenance found for the listed images records
 * it. A reproducible build of a subset (`build --arch x86_64`) makes the same platform image as the
 * whole build, whose provenance then hangs on it too and records every architecture: the subset's
 * own, recording only what is listed, says nothing is missing. Indexes merged by `index create`
 * from one build per architecture record each runner's alone, so a runner's image left out of the
 * merge is not seen here: nothing the others recorded names it (docs/ci.md).
 */
function unlistedPlatforms(
  inspected: { readonly manifests: readonly InspectedManifest[] },
  readings: ReadonlyMap<Digest, readonly Reading[]>,
): string[] {
  const listed = new Set(inspected.manifests.map((m) => platformLabel(m)));
  let recorded: Set<string> | undefined;
  for (const m of inspected.manifests) {
    for (const { r: reading } of readings.get(m.digest) ?? []) {
      if (!reading.replayable) continue;
      const labels = new Set<string>();
      for (const arch of reading.plan.archs) {
        try {
          labels.add(platformLabel({ platform: apkArchToPlatform(arch) }));
        } catch {
          // An architecture no one builds for was never a platform of the index.
        }
      }
      recorded = recorded === undefined ? labels : new Set([...recorded].filter((p) => labels.has(p)));
    }
  }
  return [...(recorded ?? [])].filter((p) => !listed.has(p));
}

/**
 * Compares the original index with the one rebuild that makes it. Entries are paired by digest
 * (a platform that differs pairs with its rebuild), so that an entry the rebuild does not make is
 * named as such rather than shifting every later one.
 */
function compareIndex(
  original: ImageIndex,
  builds: number,
  rebuilt: readonly Stored[],
  platforms: readonly PlatformReproduction[],
  unlisted: readonly string[],
  replayed: ReadonlySet<Digest>,
): IndexComparison {
  const entries = original.manifests.filter((d) => !isBuildkitAttestation(d));
  const differences: string[] = unlisted.map(
    (p) => `${p} is missing: the provenance of the images listed records it as built with them, and the index does not list it`,
  );
  const label = (d: Descriptor) => (d.platform === undefined ? 'no platform' : formatPlatform(d.platform));
  const theRebuild = rebuilt.length === 1 ? rebuilt[0] : undefined;
  if (builds !== 1 || theRebuild?.kind !== 'index') {
    // Without one rebuild to compare with, an index that names a platform twice is still
    // wrong: a runtime runs the first of them, and the other is never what it runs.
    const seen = new Map<string, number>();
    for (const [i, d] of entries.entries()) {
      const at = seen.get(label(d));
      if (at !== undefined) differences.push(`entries ${at} and ${i} are both ${label(d)}: a runtime runs the first`);
      else seen.set(label(d), i);
    }
    const fromApko = platforms.some(
      (p) =>
        p.status !== 'not-replayable' && (p.provenance?.storage === 'image' || p.provenance?.predicateType.startsWith('https://apko.dev/')),
    );
    const reason =
      builds === 0
        ? `no image of it was rebuilt from SLSA provenance${fromApko ? ' (an apko configuration rebuilds one platform at a time)' : ''}`
        : builds > 1
          ? `its images come from ${builds} different builds, so no one rebuild makes the index`
          : replayed.size === 0
            ? // Refused as a whole (each platform's packages short of its requests, or its recipe): nothing was compared, let alone split.
              'no image of it was compared with a rebuild: each platform of its build was refused, as its reason says'
            : 'the rebuild was split by platform, so it made no index';
    return { compared: false, reason, differences };
  }
  const made = theRebuild.index;
  const rebuiltOf = new Map<Digest, Digest>();
  for (const p of platforms)
    if ((p.status === 'match' || p.status === 'mismatch') && p.rebuilt !== undefined) rebuiltOf.set(p.digest, p.rebuilt);
  const paired: number[] = [];
  const notRebuilt: string[] = [];
  const madePlatforms = new Set(made.manifests.map((r) => platformLabel(r)));
  for (const [i, d] of entries.entries()) {
    const j = made.manifests.findIndex((r, k) => !paired.includes(k) && r.digest === (rebuiltOf.get(d.digest) ?? d.digest));
    if (j < 0) {
      const first = entries.findIndex((e) => e.digest === d.digest);
      if (first < i)
        differences.push(`entry ${i} (${label(d)}, ${d.digest}) lists the image of entry ${first} again; the rebuild lists it once`);
      else if (!replayed.has(d.digest) && !madePlatforms.has(platformLabel(d))) {
        // Its platform was left out of the rebuild (no provenance to replay it from): not known to
        // differ. One for a platform the rebuild makes is another image than the rebuilt one,
        // and a runtime may run it instead: that is a difference whatever it holds.
        notRebuilt.push(`entry ${i} (${label(d)}, ${d.digest})`);
      } else differences.push(`entry ${i} (${label(d)}, ${d.digest}) is not an image the rebuild makes`);
      continue;
    }
    paired.push(j);
    const r = made.manifests[j] as Descriptor;
    // Paired with its rebuild, an image that differs is still not the image the rebuilt index
    // lists: the index is not the rebuild's, whatever else of it is.
    if (r.digest !== d.digest) {
      differences.push(
        `entry ${i} (${label(d)}, ${d.digest}) is not the image the rebuild lists there (${r.digest}): its image differs from its rebuild`,
      );
    }
    const fields = [
      d.mediaType !== r.mediaType ? 'mediaType' : '',
      !sameJson(d.platform, r.platform) ? `platform (${platformDifference(d.platform, r.platform)})` : '',
      !sameJson(d.annotations ?? {}, r.annotations ?? {}) ? 'annotations' : '',
      d.artifactType !== r.artifactType ? 'artifactType' : '',
      // A runtime may fetch the blob from `urls` or take it from `data` rather than by its digest.
      !sameJson(d.urls, r.urls) ? 'urls' : '',
      d.data !== r.data ? 'data' : '',
    ].filter((f) => f !== '');
    if (fields.length > 0) differences.push(`entry ${i} (${label(d)}, ${d.digest}) differs in ${fields.join(', ')}`);
  }
  for (const [k, r] of made.manifests.entries()) {
    if (!paired.includes(k)) differences.push(`the rebuild makes ${label(r)} (${r.digest}), which the index does not list`);
  }
  if (paired.some((k, i) => i > 0 && k < (paired[i - 1] as number))) {
    differences.push(`the images are in another order than the rebuild's (${made.manifests.map(label).join(', ')})`);
  }
  // The index's own fields: what it says it is, what it says it is about (a referrer), its annotations.
  differences.push(...ownFieldDifferences(original, made, 'the index'));
  return { compared: true, differences, ...(notRebuilt.length > 0 ? { notRebuilt } : {}) };
}

/**
 * What differs between two entries' platforms, field by field (`os.features [] in the index,
 * absent rebuilt`): two that differ in a field `os/arch[/variant]` does not show read the same.
 */
function platformDifference(a: Platform | undefined, b: Platform | undefined): string {
  if (a === undefined || b === undefined) {
    const show = (p: Platform | undefined) => (p === undefined ? 'none' : formatPlatform(p));
    return `${show(a)} in the index, ${show(b)} rebuilt`;
  }
  return differingFields(a, b)
    .map((f) => `${f} ${shown(a[f])} in the index, ${shown(b[f])} rebuilt`)
    .join('; ');
}

function baseOf(j: Job): PlatformBase {
  return { platform: platformLabel(j.manifest), digest: j.manifest.digest, provenance: j.provenance };
}

/** A package's architecture that is no build's: apk's `noarch`, Debian's `all`. */
const NO_ARCHITECTURE: ReadonlySet<string> = new Set(['noarch', 'all']);

/** Lock entries once each (platforms name their own; a noarch file may be named by several). */
function dedupe(locked: readonly LockedPackage[]): LockedPackage[] {
  const seen = new Set<string>();
  return locked.filter((p) => {
    const key = `${p.architecture}\n${p.name}\n${p.version}\n${p.url}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * The folder the root configuration is taken to be in: nested as deep as the furthest `../` of
 * an included file's path, so that every path stays distinct under the temporary folder. No file
 * is written there; the loader reads from the provenance.
 */
function configFolder(temp: string, plan: ReplayPlan): string {
  const depth = Math.max(0, ...plan.config.files.map((f) => f.path.split('/').findIndex((part) => part !== '..')));
  return join(temp, 'config', ...Array.from({ length: depth }, (_, i) => `d${i}`));
}

/**
 * Loads the configuration from the provenance's files, as the original build loaded it from
 * disk: includes are followed among those files only, so an include the provenance left out is
 * named as missing, and no file of this machine is read.
 */
async function loadFromPlan(
  plan: ReplayPlan,
  temp: string,
  configDir: string,
  configPath: string,
  hostArch: string,
  overrides: readonly (readonly [string, string])[],
): Promise<LoadedConfig | { reason: string; missing: string[] }> {
  const files = new Map(plan.config.files.map((f) => [resolve(configDir, f.path), withCredentials(f.content, overrides)]));
  const present = presentPaths(temp, configDir);
  const absent: string[] = [];
  /** The same, as the loader asked for them (a relative include joined to the folder of its file). */
  const absentAt: string[] = [];
  const readFile = async (path: string): Promise<string> => {
    const text = files.get(resolve(path));
    if (text !== undefined) return text;
    absent.push(relative(configDir, resolve(path)));
    absentAt.push(resolve(path));
    throw Object.assign(new Error(`${present(resolve(path))} is not in the provenance`), { code: 'ENOENT' });
  };
  try {
    // The original build checked where its includes were. Here readFile reads no file of this
    // machine, only the provenance's, so an include anywhere is looked up there (and named as
    // missing when it is not).
    return await loadConfig(configPath, { hostArch, readFile, includeRoot: '/', rebuild: true });
  } catch (err) {
    if (!isProvenantError(err)) throw err;
    const message = present(err.describe());
    if (err.code === 'NOT_FOUND' && absent.length > 0) {
      // An include by an absolute path: the provenance of a build by an earlier Provenant, which
      // kept such an include as written (a path of the building machine) where this one states it
      // relative to the file that names it.
      const absolute = absentAt.filter((a) => !a.startsWith(`${temp}/`) && plan.config.files.some((f) => f.content.includes(a)));
      if (absolute.length > 0) {
        return {
          reason: `the configuration includes ${absolute.join(', ')} by an absolute path of the machine that built it, which a rebuild does not read; Provenant now states such an include relative to the file that names it: build and attest the image again to make it replayable`,
          missing: absolute.map((a) => `externalParameters.config.files: the file included as ${a}, named relative to the including file`),
        };
      }
      return {
        reason: `the configuration includes a file the provenance does not carry: ${message}`,
        missing: absent.map((a) => `externalParameters.config.files: ${a} (an included file)`),
      };
    }
    return {
      reason: `the configuration in the provenance does not load: ${message}`,
      missing: ['a configuration this version of Provenant reads'],
    };
  }
}

/**
 * A configuration file's text with the credentials the build's provenance left out given back:
 * for each override whose NEW is its OLD with user info (`http://host/repo=http://user:pw@host/repo`),
 * OLD where the text names it (as a whole location, not the start of a longer one) becomes NEW.
 * The original build read the repositories with their credentials; a build with `--compat apko`
 * wrote them so into the image (/etc/apk/repositories, as apko does; others write them without),
 * and its rebuild must read the same text to make the same image. An
 * override that moves a repository leaves the text alone: the original image names the old place.
 */
function withCredentials(text: string, overrides: readonly (readonly [string, string])[]): string {
  let out = text;
  for (const [rawFrom, rawTo] of overrides) {
    const from = rawFrom.replace(/\/+$/, '');
    const to = rawTo.replace(/\/+$/, '');
    if (to === from || urlWithoutUserInfo(to) !== from) continue;
    const escaped = from.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    out = out.replace(new RegExp(`${escaped}(?![\\w.~%:@-])`, 'g'), () => to);
  }
  return out;
}

/**
 * How the provenance's `config.contents` (what a policy reads: `config.contents.packages`) differs
 * from the contents the configuration files merge to, which the rebuild makes: undefined when it
 * is the same, as the build writes it (../attest/provenance.ts: locations without user info, the
 * build and runtime repositories only when there are some), or when the statement has none.
 */
function statedContentsDiffer(
  stated: unknown,
  merged: LoadedConfig['config']['contents'],
): { reason: string; missing: string[] } | undefined {
  if (stated === undefined) return undefined;
  const urls = [...merged.repositories, ...merged.buildRepositories, ...merged.runtimeRepositories, ...merged.keyring];
  const clean = (l: string): string => withoutUserInfo(l, urls);
  const expected: Record<string, string[]> = {
    repositories: merged.repositories.map(clean),
    buildRepositories: merged.buildRepositories.map(clean),
    runtimeRepositories: merged.runtimeRepositories.map(clean),
    keyring: merged.keyring.map(clean),
    packages: [...merged.packages],
  };
  const given = typeof stated === 'object' && stated !== null && !Array.isArray(stated) ? (stated as Record<string, unknown>) : {};
  // A key goes into the image by its file name (/etc/apk/keys/NAME), and earlier builds wrote the
  // path of one an included file names otherwise (from the root file's folder; without `./` in
  // a dot-folder): keys at relative paths are compared by name, or the provenance of an image
  // they built would be refused that matched before. A URL or an absolute path is compared whole:
  // where a key comes from is what a policy may judge.
  const named = (k: string, l: readonly string[]): readonly string[] =>
    k === 'keyring' ? l.map((x) => (/^[a-z][a-z0-9+.-]*:|^\//i.test(x) ? x : `./…/${x.slice(x.lastIndexOf('/') + 1)}`)) : l;
  const differ = Object.keys(expected).filter((k) => {
    const v = given[k] ?? (k === 'buildRepositories' || k === 'runtimeRepositories' ? [] : undefined);
    const list = Array.isArray(v) && v.every((x) => typeof x === 'string') ? v.map(clean) : undefined;
    return list === undefined || !sameJson(named(k, list), named(k, expected[k] ?? []));
  });
  if (differ.length === 0) return undefined;
  const said = (k: string): string => {
    const v = given[k];
    return Array.isArray(v)
      ? v.length === 0
        ? 'none'
        : v.map((x) => (typeof x === 'string' ? x : shown(x))).join(', ')
      : v === undefined
        ? 'nothing'
        : shown(v);
  };
  const list = (l: readonly string[]): string => (l.length === 0 ? 'none' : l.join(', '));
  return {
    reason: `the provenance's externalParameters.config.contents is not what its configuration files ask for (${differ
      .map((k) => `${k}: it states ${said(k)}, the files give ${list(expected[k] ?? [])}`)
      .join('; ')}): a policy that reads it would judge another build than the one the files describe`,
    missing: differ.map((k) => `externalParameters.config.contents.${k} as the configuration files merge it: ${list(expected[k] ?? [])}`),
  };
}

/** The lock's keyring: each key the configuration names, with the PEM text the provenance carries. */
function keyringFor(loaded: LoadedConfig, plan: ReplayPlan): { keyring: Lock['contents']['keyring'] } | { missing: string[] } {
  const keyring: Lock['contents']['keyring'] = [];
  const missing: string[] = [];
  for (const entry of loaded.config.contents.keyring) {
    const key = plan.keys.find((k) => k.name === basename(entry));
    if (key === undefined) missing.push(`resolvedDependencies: the apk key ${basename(entry)} (contents.keyring: ${entry})`);
    else keyring.push({ name: entry, url: entry, content: key.pem });
  }
  return missing.length > 0 ? { missing } : { keyring };
}
