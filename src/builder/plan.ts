/**
 * Planning a build: for each architecture, the packages to install, either resolved from the
 * source's indexes (the same versions on every architecture) or read from a lock.
 */
import { basename, dirname } from 'node:path';
import { ProvenantError, RepairableError, throwIfAborted } from '../errors.ts';
import type { Logger } from '../io/types.ts';
import { comparableLocation, safeLocation } from '../pkg/fetch.ts';
import {
  type Candidate,
  type CandidateIndex,
  candidateIndex,
  candidateMeets,
  checkSameVersions,
  packageSatisfies,
  type Request,
  resolve,
  type VersionScheme,
} from '../pkg/resolve/resolve.ts';
import type { FetchedPackage, IndexFile, LockedPackage, PackageSource } from '../pkg/source.ts';
import type { ConfigLocation } from '../yaml.ts';
import { ARCH_NAMES, distinctArchs, lookupArch } from './arch.ts';
import { inLockEntry, type Lock, lockEntryPath } from './lock.ts';
import { lockInconsistencies, lockVersionsDiffer } from './lock-consistent.ts';
import { fetchedListing, lockReach } from './lock-reach.ts';

/** What {@link planBuild} needs of the build. */
export interface PlanOptions {
  /** `contents.packages`. */
  packages: readonly string[];
  /** The configuration file, for errors. */
  configPath: string;
  /**
   * The folder a local repository or locked package is read against, as the source fetches it
   * (default: the configuration's folder, which the build opens its source with).
   */
  baseDir?: string | undefined;
  /** Where each value of the configuration was written (LoadedConfig.locations): a package nothing provides is named at its line. */
  locations?: ReadonlyMap<string, ConfigLocation> | undefined;
  lock?: Lock | undefined;
  /** The lock file, for errors (default `the lock`). */
  lockPath?: string | undefined;
  /**
   * Check the lock's packages against the verified indexes (a lock the user gave, which may have
   * been edited): those no index lists are in {@link BuildPlan.unlisted}. A rebuild from a
   * provenance does not, since repositories drop old versions (the provenance vouches instead).
   */
  checkLock?: boolean | undefined;
  /**
   * The lock vouches for itself (a rebuild's, from a provenance): not checked against the
   * indexes, but still refused when it does not meet a request, by the rule a checked lock is held to.
   */
  lockVouches?: boolean | undefined;
  /** The build's `--compat` (BuildOptions.compat): with `apko`, an entry apko takes is warned of rather than refused (checkEntries). */
  compat?: 'apko' | undefined;
  signal?: AbortSignal | undefined;
  /** Told when a damaged cache entry was dropped and the indexes read again, and of an entry taken with a warning. */
  logger?: Logger | undefined;
}

/** The packages of each architecture, and the index files they were resolved from. */
export interface BuildPlan {
  packages: Map<string, LockedPackage[]>;
  /** Each with the image architecture it was read for, and that architecture as the ecosystem names it (Debian's `amd64`). */
  indexes: (IndexFile & { arch: string; archName: string })[];
  /** Locked packages that no verified index lists: only their own signature can vouch for them. */
  unlisted: Set<LockedPackage>;
  /**
   * Those of `unlisted` fetched (and verified as such) to check the lock with what they need, or a
   * self-vouching lock's fetched to tell what they provide: the build installs these rather than
   * fetching them again.
   */
  fetched: Map<LockedPackage, FetchedPackage>;
}

/**
 * Plans every architecture before anything is downloaded, so that a version mismatch between
 * architectures is found first. A checked lock's packages that no index lists are the exception:
 * what they need is known only from their files, so they are fetched here, once every other check
 * has passed, and the lock checked again with it; nothing is installed before.
 *
 * @throws ProvenantError `UNRESOLVABLE` when nothing meets a request or the architectures
 *   disagree; `USAGE` when the lock has no packages for an architecture; `INVALID_CONFIG` when a
 *   lock that is checked was made for another configuration (a request no locked package meets),
 *   or holds a package its requests do not lead to (./lock-reach.ts), or packages that cannot be
 *   installed together (a dependency no locked package meets, a conflict, a name at different
 *   versions on different architectures: ./lock-consistent.ts); `INVALID_CONFIG`
 *   ({@link LockUnmetError}) too when a lock that vouches for itself meets not every request;
 *   as the source's {@link PackageSource.readIndex}, and its {@link PackageSource.fetch} of a
 *   locked package no index lists (`UNTRUSTED_KEY` when no trusted key signed it)
 */
export async function planBuild(source: PackageSource, archs: readonly string[], options: PlanOptions): Promise<BuildPlan> {
  if (options.lockVouches !== true) checkEntries(source, options);
  try {
    return await planOnce(source, archs, options);
  } catch (err) {
    // A damaged cache entry met while reading the indexes (a kept Packages file): dropped, and
    // the plan made once more, from the index files the Releases check.
    if (!(err instanceof RepairableError)) throw err;
    options.logger?.warn(`${err.describe()}; dropped from the cache and read again`);
    await err.repair();
    return planOnce(source, archs, options);
  }
}

async function planOnce(source: PackageSource, archs: readonly string[], options: PlanOptions): Promise<BuildPlan> {
  const packages = new Map<string, LockedPackage[]>();
  const indexes: BuildPlan['indexes'] = [];
  const unlisted = new Set<LockedPackage>();
  if (options.lock !== undefined) {
    // A lock the user gave must be the lock of this configuration: a lock made for another one
    // would build other packages than the configuration (and the provenance, which states its
    // requests) says. apko refuses a lock whose config.checksum is not the configuration's (a
    // checksum over the text of its files, ./lock.ts). A comment changes it, so each request is
    // checked instead, and build.ts warns of another checksum. A rebuild from a provenance is not
    // checked against the indexes: its lock is the one the original build used, which they may no
    // longer list. It must still meet every request, by the same rule (checkVouchedLock).
    if (options.checkLock !== true) {
      for (const arch of archs) packages.set(arch, lockedFor(options, source, arch));
      const fetched = new Map<LockedPackage, FetchedPackage>();
      if (options.lockVouches === true) await checkVouchedLock(source, archs, packages, fetched, options);
      return { packages, indexes, unlisted, fetched };
    }
    const unmet: string[] = [];
    // And it must hold nothing more than the resolver could have chosen (./lock-reach.ts).
    const wrongTag: string[] = [];
    const unreached: string[] = [];
    // Every architecture's walk, and those whose lock holds packages no index lists, to walk
    // again once they are fetched.
    const inputs: ReachInput[] = [];
    const estimated: ReachInput[] = [];
    // Before any index or package is fetched: a checked lock takes packages only from the
    // configuration's repositories.
    for (const arch of archs) checkLockUrls(options, source, arch, lockedFor(options, source, arch));
    for (const arch of archs) {
      const locked = lockedFor(options, source, arch);
      throwIfAborted(options.signal);
      // Before the indexes are fetched, as when resolving.
      const requests = options.packages.map((p, i) => ({ text: p, request: source.request(p, packageWhere(options, i), arch) }));
      const { candidates, files } = await source.readIndex(arch);
      for (const f of files) indexes.push({ ...f, arch, archName: source.archName(arch) });
      const index: CandidateIndex<Candidate> = 'named' in candidates ? candidates : candidateIndex(candidates);
      // For each locked package an index lists, every candidate that is it: the same one may be in
      // several repositories, each with its own tag.
      const same = new Map<LockedPackage, Candidate[]>();
      // A lock records no size: a listed package takes the one its verified index gives, which
      // caps its download and tells a package signed again from the one recorded (build.ts).
      const sized: LockedPackage[] = [];
      for (const p of locked) {
        const versions = index
          .named(p.name)
          .map((c) => ({ c, entry: source.lockEntry(c, arch) }))
          .filter((x) => x.entry.version === p.version);
        const entries = versions.filter((x) => x.entry.checksum === p.checksum);
        const entry = entries[0];
        // The version is listed, as another file: not a version the index dropped (fetched by its
        // URL below), but a lock edited or a file the repository replaced.
        if (entry === undefined && versions.length > 0) {
          const where = options.lockPath ?? 'the lock';
          throw new ProvenantError(
            'DIGEST_MISMATCH',
            `${where} names ${p.name} ${p.version} (${arch}) with checksum ${p.checksum}, and the verified index lists that version with ${[...new Set(versions.map((x) => x.entry.checksum))].join(', ')}`,
            {
              where,
              hint: `its lock entry names another file than the repository signs for that version: the lock was edited, or the repository replaced the file; lock again (provenant lock ${options.configPath} -o ${options.lockPath ?? 'LOCK'}) to pin what it lists now`,
            },
          );
        }
        if (entry === undefined) unlisted.add(p);
        else
          same.set(
            p,
            entries.map((x) => x.c),
          );
        const size = entry?.entry.size;
        sized.push(size === undefined ? p : { ...p, size });
      }
      packages.set(arch, sized);
      for (const { text, request } of requests) {
        if (!lockMeets(request, locked, same, source.versionScheme)) unmet.push(`${text} (${arch})`);
      }
      const input = { arch, requests: requests.map((r) => r.request), locked, same, index };
      beyond(lockReach(input.requests, locked, same, index, source.versionScheme), arch, wrongTag, unreached);
      inputs.push(input);
      if (locked.some((p) => unlisted.has(p))) estimated.push(input);
    }
    if (unmet.length > 0) throw lockForAnother(options, unmet);
    if (wrongTag.length > 0 || unreached.length > 0) throw lockBeyondRequests(options, wrongTag, unreached);
    // What resolving refuses (checkSameVersions) a checked lock may not hold either; an unchecked
    // one (a rebuild from provenance) is the lock the original build used, whatever it holds.
    const differ = options.checkLock === true ? lockVersionsDiffer(packages, source.versionScheme) : [];
    if (differ.length > 0) throw lockInconsistent(options, [`it holds ${differ.join(', ')}`]);
    // Those whose packages are all listed are checked before anything is fetched; the others once
    // their fetched files say what the unlisted ones need.
    checkConsistent(
      options,
      inputs.filter((i) => !estimated.includes(i)),
      source.versionScheme,
    );
    const fetched = await fetchUnlisted(source, estimated, unlisted, options);
    for (const input of estimated) {
      beyond(lockReach(input.requests, input.locked, input.same, input.index, source.versionScheme), input.arch, wrongTag, unreached);
    }
    if (wrongTag.length > 0 || unreached.length > 0) throw lockBeyondRequests(options, wrongTag, unreached);
    checkConsistent(options, estimated, source.versionScheme);
    return { packages, indexes, unlisted, fetched };
  }
  const resolved = new Map<string, ReturnType<typeof resolve>['packages']>();
  for (const arch of archs) {
    throwIfAborted(options.signal);
    // Before the indexes are fetched: an entry the source refuses is refused at its line at once.
    const requests = options.packages.map((p, i) => {
      const where = packageWhere(options, i);
      const request = source.request(p, where, arch);
      return where === options.configPath ? request : { ...request, where: `${where} (${arch})` };
    });
    const { candidates, files } = await source.readIndex(arch);
    for (const f of files) indexes.push({ ...f, arch, archName: source.archName(arch) });
    const where = `${options.configPath} (${arch})`;
    resolved.set(arch, resolve(requests, candidates, source.versionScheme, { where }).packages);
  }
  checkSameVersions(resolved, source.versionScheme);
  for (const [arch, chosen] of resolved)
    packages.set(
      arch,
      chosen.map((c) => source.lockEntry(c, arch)),
    );
  return { packages, indexes, unlisted, fetched: new Map() };
}

/**
 * Refuses an entry of the configuration that its repositories cannot give as it asks
 * ({@link PackageSource.requestRefusal}: apk's `name@tag` whose tag no repository has), before
 * any index is read. Only where the configuration decides what is installed: resolving it anew
 * (build, lock) or checking the lock a user gave. A rebuild from a provenance takes the packages
 * its lock names whatever the entry's tag (checkVouchedLock), so that an image built before this
 * rule can still be reproduced. apko takes such a package from the untagged repositories: so does
 * `--compat apko`, with a warning naming the entry, since the image is not what its tag asked.
 *
 * @throws ProvenantError as the source's refusal (`INVALID_CONFIG` at the entry)
 */
function checkEntries(source: PackageSource, options: PlanOptions): void {
  if (source.requestRefusal === undefined) return;
  for (const [i, text] of options.packages.entries()) {
    const where = packageWhere(options, i);
    const refusal = source.requestRefusal(text, source.request(text, where), where);
    if (refusal === undefined) continue;
    if (options.compat !== 'apko') throw refusal;
    options.logger?.warn(`${where}: ${refusal.message}; built as apko builds it, from the untagged repositories (--compat apko)`);
  }
}

/**
 * Refuses a locked package whose URL is outside the repositories the configuration reads for
 * `arch` (its `repositories` and `build_repositories`, as resolving would fetch from): a lock edited
 * to name a file elsewhere, another server or a local file (`/dev/zero`), would have the build
 * read it. A local repository the configuration names is such a place too. A rebuild from a
 * provenance is not checked here (`reproduce --allow-local-packages` decides).
 *
 * @throws ProvenantError `INVALID_CONFIG` naming the lock file and the entry
 */
function checkLockUrls(options: PlanOptions, source: PackageSource, arch: string, locked: readonly LockedPackage[]): void {
  const sources = source.lockSources([arch]);
  const baseDir = options.baseDir ?? dirname(options.configPath);
  const bases = [...sources.repositories, ...(sources.buildRepositories ?? [])].map((r) => repositoryBase(r.url, baseDir));
  for (const p of locked) {
    const at = comparableLocation(p.url, baseDir);
    if (at !== undefined && bases.some((b) => b !== undefined && at.startsWith(b))) continue;
    const lock = options.lock as Lock;
    const where = options.lockPath ?? 'the lock';
    throw new ProvenantError(
      'INVALID_CONFIG',
      `${where} ${lockEntryPath(lock, p)} (${p.name} ${p.version}, ${p.architecture}): its url ${safeLocation(p.url)} is in none of the repositories ${options.configPath} reads for ${arch}`,
      {
        where,
        hint: `a lock takes packages only from the configuration's repositories; lock again (provenant lock ${options.configPath} -o ${options.lockPath ?? 'LOCK'}), or add the repository to contents.repositories`,
      },
    );
  }
}

/**
 * The folder a repository's packages are under, from the index URL a lock records for it: apk's
 * `REPO/ARCH/APKINDEX.tar.gz` gives `REPO/ARCH/`, Debian's `MIRROR/dists/SUITE/InRelease` gives
 * `MIRROR/` (its pool).
 */
function repositoryBase(indexUrl: string, baseDir: string): string | undefined {
  const debian = /^(.*\/)dists\/[^/]+(?:\/[^/]+)*\/InRelease$/.exec(indexUrl);
  const folder = debian?.[1] ?? indexUrl.slice(0, indexUrl.lastIndexOf('/') + 1);
  const at = comparableLocation(folder, baseDir);
  return at === undefined ? undefined : at.endsWith('/') ? at : `${at}/`;
}

/** Where `contents.packages[i]` is written: its `file:line:column` when the loader kept it, else the configuration. */
function packageWhere(options: PlanOptions, i: number): string {
  const at = options.locations?.get(`contents.packages[${i}]`);
  return at === undefined ? options.configPath : `${at.file}:${at.line}:${at.column}`;
}

/** What {@link lockReach} walks for one architecture. */
interface ReachInput {
  arch: string;
  requests: Request[];
  locked: LockedPackage[];
  /** Each listed locked package's candidates; a fetched unlisted one's are added. */
  same: Map<LockedPackage, Candidate[]>;
  index: CandidateIndex<Candidate>;
}

/** Adds what `reach` refuses on `arch` to the lists of {@link lockBeyondRequests}. */
function beyond(reach: ReturnType<typeof lockReach>, arch: string, wrongTag: string[], unreached: string[]): void {
  for (const [p, tags] of reach.wrongTag) wrongTag.push(`${p.name}-${p.version} (${arch}) from ${tags.map((t) => `@${t}`).join(', ')}`);
  for (const p of reach.unreached) unreached.push(`${p.name}-${p.version} (${arch})`);
}

/**
 * Fetches the locked packages of `estimated` that no index lists, each of which a trusted key must
 * have signed, and puts what each says of itself into its architecture's `same`
 * ({@link fetchedListing}), so that the walk over them is exact.
 *
 * @throws ProvenantError as the source's {@link PackageSource.fetch} with `signed`; `UNTRUSTED_KEY`
 *   when the source cannot tell what a package it fetched needs
 */
async function fetchUnlisted(
  source: PackageSource,
  estimated: readonly ReachInput[],
  unlisted: ReadonlySet<LockedPackage>,
  options: PlanOptions,
): Promise<Map<LockedPackage, FetchedPackage>> {
  const lock = options.lock as Lock;
  const lockPath = options.lockPath ?? 'the lock';
  const fetched = new Map<LockedPackage, FetchedPackage>();
  for (const { arch, locked, same, index } of estimated) {
    for (const p of locked.filter((q) => unlisted.has(q))) {
      throwIfAborted(options.signal);
      // A source that has no such packages' fields refuses them in fetch; one that fetched it
      // without them would leave the lock unchecked.
      const f = await source.fetch(p, { signed: true }).catch((err: unknown) => {
        throw inLockEntry(err, lock, lockPath, p);
      });
      if (source.fetchedCandidate === undefined) {
        throw new ProvenantError(
          'UNTRUSTED_KEY',
          `${lockPath} ${lockEntryPath(lock, p)} names ${p.name}-${p.version} (${arch}), which no verified index lists: ${safeLocation(p.url)}`,
          {
            where: lockPath,
            hint: `lock again (provenant lock ${options.configPath} -o ${options.lockPath ?? 'LOCK'}) to pin what the repositories list now`,
          },
        );
      }
      same.set(p, fetchedListing(source.fetchedCandidate(f), index));
      fetched.set(p, f);
    }
  }
  return fetched;
}

/**
 * Whether the locked packages meet a request of the configuration: one named so whose version
 * satisfies it, or one an index lists that provides it (`cmd:sh`, a virtual package); for a
 * conflict (`!name`), none that it names.
 */
function lockMeets(
  request: Request,
  locked: readonly LockedPackage[],
  listed: ReadonlyMap<LockedPackage, readonly Candidate[]>,
  scheme: VersionScheme,
): boolean {
  const constraint = request.constraint;
  const named = locked.some(
    (p) => p.name === request.name && (constraint === undefined || packageSatisfies(scheme, p.checksum, p.version, constraint)),
  );
  if (request.conflict === true) return !named;
  // Or a listed one that provides it, as the resolver tells (a listed one is a locked one, so
  // its own name is the check above).
  return named || [...listed.values()].some((same) => same.some((c) => candidateMeets(c, request, scheme)));
}

/**
 * Refuses a lock that vouches for itself when it does not meet a request of the configuration, by
 * {@link lockMeets}, as a checked lock is refused: a build from it installs only what it holds, so
 * a request none of it meets would be left out without a word. What a locked package provides is
 * in its file alone (no index is read): an architecture's files are fetched only for a request no
 * name meets, and kept in `fetched`, which the build installs. A source that cannot say what a
 * file provides (Debian's: only a Release vouches for a .deb) leaves such a request unjudged.
 *
 * @throws LockUnmetError naming each request no locked package meets, as `tool (x86_64)`
 */
async function checkVouchedLock(
  source: PackageSource,
  archs: readonly string[],
  packages: ReadonlyMap<string, readonly LockedPackage[]>,
  fetched: Map<LockedPackage, FetchedPackage>,
  options: PlanOptions,
): Promise<void> {
  const scheme = source.versionScheme;
  const unmet: string[] = [];
  for (const arch of archs) {
    throwIfAborted(options.signal);
    const locked = packages.get(arch) ?? [];
    const requests = options.packages.map((p, i) => ({ text: p, request: source.request(p, packageWhere(options, i), arch) }));
    const byName = requests.filter((r) => !lockMeets(r.request, locked, new Map(), scheme));
    // A conflict is judged by names alone.
    const candidateOf = source.fetchedCandidate?.bind(source);
    let listed: Map<LockedPackage, Candidate[]> | undefined;
    if (candidateOf !== undefined && byName.some((r) => r.request.conflict !== true)) {
      listed = new Map();
      for (const p of locked) {
        throwIfAborted(options.signal);
        const f = fetched.get(p) ?? (await source.fetch(p));
        fetched.set(p, f);
        listed.set(p, [candidateOf(f)]);
      }
    }
    for (const r of byName) {
      if (r.request.conflict !== true && (listed === undefined || lockMeets(r.request, locked, listed, scheme))) continue;
      unmet.push(`${r.text} (${arch})`);
    }
  }
  if (unmet.length === 0) return;
  const where = options.lockPath ?? 'the lock';
  throw new LockUnmetError(`${where} does not meet what ${options.configPath} asks for: no locked package meets ${unmet.join(', ')}`, {
    where,
    hint: 'a lock that vouches for itself installs only what it holds: it must hold a package that meets each request',
    unmet,
  });
}

/**
 * A lock refused as made for another configuration: one that does not meet its requests, or holds
 * more than they lead to. Its message says what the warning of a lock whose `config.checksum` is
 * not the configuration's says, and more (../builder/build.ts says that warning only otherwise).
 */
export class LockForAnotherConfigError extends ProvenantError {
  constructor(message: string, options: { where: string; hint: string }) {
    super('INVALID_CONFIG', message, options);
    this.name = 'LockForAnotherConfigError';
  }
}

/**
 * A lock refused because no package of it meets a request of the configuration: a checked lock,
 * as made for another configuration, or one that vouches for itself (a rebuild's).
 */
export class LockUnmetError extends LockForAnotherConfigError {
  /** Each request no locked package meets, with its architecture: `tool (x86_64)`. */
  readonly unmet: readonly string[];
  /**
   * For a lock that holds nothing of an architecture: that architecture (apk's spelling), its
   * repositories' name for it (`amd64`), and the names the lock's entries hold.
   */
  readonly architecture?: { arch: string; name: string; held: readonly string[] } | undefined;

  constructor(
    message: string,
    options: {
      where: string;
      hint: string;
      unmet: readonly string[];
      architecture?: { arch: string; name: string; held: readonly string[] } | undefined;
    },
  ) {
    super(message, options);
    this.name = 'LockUnmetError';
    this.unmet = options.unmet;
    this.architecture = options.architecture;
  }
}

/**
 * When a lock that holds nothing of `arch` names it as other repositories do, in apk's spelling
 * where these spell it `name`: `its entries name x86_64, which these repositories spell amd64`
 * (made for another kind of repository, or edited); else undefined.
 */
export function otherSpelling({ arch, name, held }: NonNullable<LockUnmetError['architecture']>): string | undefined {
  return held.includes(arch) && name !== arch ? `its entries name ${arch}, which these repositories spell ${name}` : undefined;
}

/** The error for a lock that does not meet the configuration's requests. */
function lockForAnother(options: PlanOptions, unmet: readonly string[]): ProvenantError {
  const lock = options.lock as Lock;
  const where = options.lockPath ?? 'the lock';
  const madeFor =
    lock.config.name === '' ? '' : ` (it names ${lock.config.name}${lock.config.checksum === '' ? '' : `, ${lock.config.checksum}`})`;
  // A lock that names another configuration is that one's: the hint does not write over it, but
  // writes this configuration's lock where `provenant lock` puts it by default.
  const own = `${options.configPath.replace(/\.ya?ml$/, '')}.lock.json`;
  const another = lock.config.name !== '' && lock.config.name !== basename(options.configPath) && options.lockPath !== own;
  const hint = another
    ? `it is the lock of ${lock.config.name}, which this leaves as it is: lock this configuration (provenant lock ${options.configPath}, which writes ${own}) and build with --lock ${own}, or give the lock made for it`
    : `lock this configuration again (provenant lock ${options.configPath}${options.lockPath === own ? '' : ` -o ${options.lockPath ?? 'LOCK'}`}), or give the lock made for it`;
  return new LockUnmetError(`${where} was not made for ${options.configPath}${madeFor}: no locked package meets ${unmet.join(', ')}`, {
    where,
    hint,
    unmet,
  });
}

/**
 * The error for a lock that holds packages the configuration's requests do not lead to: from a
 * tagged repository no request (or package on the way) names, or needed by nothing.
 */
function lockBeyondRequests(options: PlanOptions, wrongTag: readonly string[], unreached: readonly string[]): ProvenantError {
  const where = options.lockPath ?? 'the lock';
  const what = [
    ...(wrongTag.length === 0
      ? []
      : [
          `it takes ${wrongTag.join(', ')}, a tagged repository that gives only what a request names with its tag (name@tag) and what that needs`,
        ]),
    ...(unreached.length === 0 ? [] : [`it holds ${unreached.join(', ')}, which no request and no locked package needs`]),
  ];
  return new LockForAnotherConfigError(`${where} holds more than ${options.configPath} asks for: ${what.join('; ')}`, {
    where,
    hint: `lock this configuration again (provenant lock ${options.configPath} -o ${options.lockPath ?? 'LOCK'}), which locks only what its requests need; to take a package from a tagged repository, ask for it as name@tag in contents.packages`,
  });
}

/**
 * Refuses a lock whose packages of some architecture cannot be installed together.
 *
 * @throws ProvenantError `INVALID_CONFIG` naming the lock file and each package at fault
 */
function checkConsistent(options: PlanOptions, inputs: readonly ReachInput[], scheme: VersionScheme): void {
  const problems = inputs.flatMap((i) => lockInconsistencies(i.arch, i.requests, i.locked, i.same, scheme));
  if (problems.length > 0) throw lockInconsistent(options, problems);
}

/** The error for a lock whose packages cannot be installed together, as resolving never makes one. */
function lockInconsistent(options: PlanOptions, problems: readonly string[]): ProvenantError {
  const where = options.lockPath ?? 'the lock';
  return new ProvenantError('INVALID_CONFIG', `${where} cannot be installed as locked: ${problems.join('; ')}`, {
    where,
    hint: `lock this configuration again (provenant lock ${options.configPath} -o ${options.lockPath ?? 'LOCK'}), which locks a set the resolver can install`,
  });
}

/**
 * A lock without packages for an architecture built, that holds others: it was made for other
 * archs. The hint names the command line's `--arch`; the Action names its `platforms` input
 * instead (../action/hints.ts), from {@link architecture} and {@link lockedArchs}.
 */
export class LockArchitectureError extends ProvenantError {
  /** The architecture built, in apk's spelling (`x86_64`), as the configuration names it. */
  readonly architecture: string;
  /** The architectures the lock holds packages for, in apk's spelling, of those the source can name. */
  readonly lockedArchs: readonly string[];
  /** The command that locks the configuration again. */
  readonly relock: string;

  /** @param held the architectures the lock holds packages for, as it spells them (Debian's amd64) */
  constructor(
    message: string,
    where: string,
    about: { architecture: string; held: readonly string[]; lockedArchs: readonly string[]; relock: string },
  ) {
    const { architecture, held, lockedArchs, relock } = about;
    super('USAGE', message, {
      where,
      hint: `lock again with ${architecture} in archs (${relock}), or build only for ${held.join(', ') || 'the architectures it holds'} (--arch)`,
    });
    this.name = 'LockArchitectureError';
    this.architecture = architecture;
    this.lockedArchs = lockedArchs;
    this.relock = relock;
  }
}

/**
 * The lock's packages of one architecture, as the source spells it (`name`: Debian's amd64 for
 * x86_64).
 *
 * @throws ProvenantError `USAGE` naming the lock file when it holds none, and the architectures it
 *   does hold: a lock made for other archs ({@link LockArchitectureError}), or one whose entries
 *   spell the architecture another way (an apk lock's x86_64 where Debian's amd64 is read); for a
 *   lock that vouches for itself, {@link LockUnmetError} naming each request of the architecture
 */
function lockedFor(options: PlanOptions, source: PackageSource, arch: string): LockedPackage[] {
  const lock = options.lock as Lock;
  const name = source.archName(arch);
  // apko reads an entry's architecture in any spelling it knows (types.ParseArchitecture: `amd64`
  // for x86_64), so an apk lock is read so too, under apk's name. A Debian lock is not: an entry
  // in apk's spelling there tells a lock made for another kind of repository (below).
  const sameArch = (p: LockedPackage) => p.architecture === name || (source.ecosystem === 'apk' && lookupArch(p.architecture) === arch);
  const locked = lock.contents.packages.filter(sameArch).map((p) => (p.architecture === name ? p : { ...p, architecture: name }));
  if (locked.length === 0) {
    const where = options.lockPath ?? 'the lock';
    const spelled = name === arch ? arch : `${name} (${arch})`;
    if (options.lockVouches === true && lock.contents.packages.length > 0) {
      // A lock that vouches for itself (a rebuild's, made of a provenance's entries) is not one to
      // lock again, and its path names a folder gone when the error is read: with none of it for
      // this architecture, no request is met (`busybox (aarch64)`), as checkVouchedLock says of a
      // lock that holds too little, and a rebuild refuses that platform alone.
      const unmet = options.packages
        .filter((p, i) => source.request(p, packageWhere(options, i), arch).conflict !== true)
        .map((p) => `${p} (${arch})`);
      if (unmet.length === 0) return [];
      const held = [...new Set(lock.contents.packages.map((p) => p.architecture))].sort();
      const spelling = otherSpelling({ arch, name, held });
      throw new LockUnmetError(
        `${where} holds no packages for ${spelled}: no locked package meets ${unmet.join(', ')}${spelling === undefined ? '' : ` (${spelling})`}`,
        {
          where,
          hint: 'a lock that vouches for itself installs only what it holds: it must hold a package that meets each request',
          unmet,
          architecture: { arch, name, held },
        },
      );
    }
    if (lock.contents.packages.length === 0) {
      throw new ProvenantError('USAGE', `${where} holds no packages (contents.packages is empty)`, {
        where,
        hint: `lock this configuration (provenant lock ${options.configPath} -o ${options.lockPath ?? 'LOCK'}) to pin its packages`,
      });
    }
    const held = [...new Set(lock.contents.packages.map((p) => p.architecture))].sort();
    const message = `${where} contents.packages has no packages for ${spelled}: its entries' architecture is only ${held.join(', ')}`;
    const relock = `provenant lock ${options.configPath} -o ${options.lockPath ?? 'LOCK'}`;
    // None names `name` (none is locked), so entries that name `arch` spell it in apk's way.
    const spelling = otherSpelling({ arch, name, held });
    if (spelling !== undefined) {
      throw new ProvenantError('USAGE', message, {
        where,
        hint: `${spelling}: it was made for another kind of repository, or edited; lock this configuration again (${relock})`,
      });
    }
    // The held architectures in apk's spelling, for the Action's platforms (Debian's armhf is apk's armv7).
    const lockedArchs = distinctArchs(ARCH_NAMES.flatMap((n) => lookupArch(n) ?? [])).filter((a) => held.includes(source.archName(a)));
    throw new LockArchitectureError(message, where, { architecture: arch, held, lockedArchs, relock });
  }
  return locked;
}
