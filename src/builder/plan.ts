/**
 * Planning a build: for each architecture, the packages to install, either resolved from the
 * source's indexes (the same versions on every architecture) or read from a lock.
 */
import { ProvenantError, throwIfAborted } from '../errors.ts';
import { type Candidate, checkSameVersions, resolve } from '../pkg/resolve/resolve.ts';
import type { IndexFile, LockedPackage, PackageSource } from '../pkg/source.ts';
import type { Lock } from './lock.ts';

/** What {@link planBuild} needs of the build. */
export interface PlanOptions {
  /** `contents.packages`. */
  packages: readonly string[];
  /** The configuration file, for errors. */
  configPath: string;
  lock?: Lock | undefined;
  /**
   * Check the lock's packages against the verified indexes (a lock the user gave, which may have
   * been edited): those no index lists are in {@link BuildPlan.unlisted}. A rebuild from a
   * provenance does not, since repositories drop old versions (the provenance vouches instead).
   */
  checkLock?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

/** The packages of each architecture, and the index files they were resolved from. */
export interface BuildPlan {
  packages: Map<string, LockedPackage[]>;
  indexes: (IndexFile & { arch: string })[];
  /** Locked packages that no verified index lists: only their own signature can vouch for them. */
  unlisted: Set<LockedPackage>;
}

/**
 * Plans every architecture before anything is downloaded, so that a version mismatch between
 * architectures is found first.
 *
 * @throws ProvenantError `UNRESOLVABLE` when nothing meets a request or the architectures
 *   disagree; `USAGE` when the lock has no packages for an architecture; as the source's
 *   {@link PackageSource.readIndex}
 */
export async function planBuild(source: PackageSource, archs: readonly string[], options: PlanOptions): Promise<BuildPlan> {
  const packages = new Map<string, LockedPackage[]>();
  const indexes: BuildPlan['indexes'] = [];
  const unlisted = new Set<LockedPackage>();
  if (options.lock !== undefined) {
    for (const arch of archs) {
      const locked = lockedFor(options.lock, source.archName(arch), arch);
      packages.set(arch, locked);
      if (options.checkLock !== true) continue;
      throwIfAborted(options.signal);
      const { candidates, files } = await source.readIndex(arch);
      for (const f of files) indexes.push({ url: f.url, arch, digest: f.digest });
      for (const p of locked) {
        const named: readonly Candidate[] =
          'named' in candidates ? candidates.named(p.name) : (candidates as readonly Candidate[]).filter((c) => c.name === p.name);
        const listed = named.some((c) => {
          const entry = source.lockEntry(c, arch);
          return entry.version === p.version && entry.checksum === p.checksum;
        });
        if (!listed) unlisted.add(p);
      }
    }
    return { packages, indexes, unlisted };
  }
  const resolved = new Map<string, ReturnType<typeof resolve>['packages']>();
  for (const arch of archs) {
    throwIfAborted(options.signal);
    const { candidates, files } = await source.readIndex(arch);
    for (const f of files) indexes.push({ url: f.url, arch, digest: f.digest });
    const requests = options.packages.map((p) => source.request(p, options.configPath));
    const where = `${options.configPath} (${arch})`;
    resolved.set(arch, resolve(requests, candidates, source.versionScheme, { where }).packages);
  }
  checkSameVersions(resolved);
  for (const [arch, chosen] of resolved)
    packages.set(
      arch,
      chosen.map((c) => source.lockEntry(c, arch)),
    );
  return { packages, indexes, unlisted };
}

function lockedFor(lock: Lock, name: string, arch: string): LockedPackage[] {
  const locked = lock.contents.packages.filter((p) => p.architecture === name);
  if (locked.length === 0) {
    throw new ProvenantError('USAGE', `the lock has no packages for ${arch}`, {
      hint: `run \`provenant lock\` with ${arch} in archs`,
      where: 'lock',
    });
  }
  return locked;
}
