/**
 * Whether a checked lock's packages can be installed together, by the resolver's own rules
 * (../pkg/resolve/resolve.ts): every dependency of a locked package met by a locked package, no
 * locked package refused by another's conflicts or by a `!name` request, and every name at one
 * version on all architectures. That the requests are met (./plan.ts, lockMeets) and that nothing
 * beyond them came in (./lock-reach.ts) does not say it: an edited lock may drop a library its
 * application needs, or lock two versions of one package on two architectures, and the build
 * would install an image the resolver never makes.
 */
import {
  type Candidate,
  candidateMeets,
  differentVersions,
  type Request,
  requirementText,
  type VersionScheme,
} from '../pkg/resolve/resolve.ts';
import type { LockedPackage } from '../pkg/source.ts';

/**
 * What keeps the locked packages of one architecture from being installed together: each a
 * sentence naming the package and the architecture. Empty when nothing does.
 *
 * @param listed for each locked package, the candidates that are it (an index entry, or what its
 *   fetched file says: ./lock-reach.ts, fetchedListing); a package without any is left out, as
 *   nothing says what it needs
 */
export function lockInconsistencies(
  arch: string,
  requests: readonly Request[],
  locked: readonly LockedPackage[],
  listed: ReadonlyMap<LockedPackage, readonly Candidate[]>,
  scheme: VersionScheme,
): string[] {
  const problems: string[] = [];
  const known = locked.flatMap((p) => {
    const c = listed.get(p)?.[0];
    return c === undefined ? [] : [{ p, c }];
  });
  const label = (p: LockedPackage) => `${p.name}-${p.version} (${arch})`;
  /** The locked packages (other than `self`) that meet `r`, by name and version or by what they provide. */
  const meeting = (r: Request, self?: LockedPackage) =>
    known.filter(({ p, c }) => p !== self && candidateMeets(c, r, scheme)).map(({ p }) => p);
  for (const { p, c } of known) {
    for (const alternatives of c.depends) {
      // A package may meet its own dependency (apk's depend on a name it provides).
      if (alternatives.some((r) => meeting(r).length > 0)) continue;
      problems.push(`${label(p)} needs ${alternatives.map((r) => requirementText(r, scheme)).join(' | ')}, which no locked package meets`);
    }
    for (const r of c.conflicts) {
      for (const q of meeting(r, p))
        problems.push(`${label(p)} conflicts with ${q.name}-${q.version}: ${requirementText(r, scheme, true)}`);
    }
  }
  for (const r of requests.filter((x) => x.conflict === true)) {
    for (const q of meeting(r)) problems.push(`${label(q)} is refused by ${requirementText(r, scheme, true)} in contents.packages`);
  }
  return problems;
}

/**
 * The names a lock holds at different versions on different architectures, each a sentence;
 * rebuilds of one version (Debian's binNMUs, {@link VersionScheme.rebuildBase}) are one version.
 */
export function lockVersionsDiffer(
  byArch: ReadonlyMap<string, readonly LockedPackage[]>,
  scheme?: Pick<VersionScheme, 'rebuildBase'> | undefined,
): string[] {
  return differentVersions(byArch, scheme).map(
    ({ name, perArch }) => `${name} at ${[...perArch].map(([arch, v]) => `${v} on ${arch}`).join(', ')}`,
  );
}
