/**
 * What a checked lock may hold: only what resolving its configuration could have chosen. A lock
 * is a file anyone may edit in a pull request, and each package it names passes the build when a
 * verified index lists it (or a trusted key signed it), whatever repository it comes from. The
 * requests being met (./plan.ts, lockMeets) does not say that nothing else came in: an edited lock
 * could take a package from a tagged repository (apk's `@tag URL`) that no request names, which
 * the resolver never does (../pkg/resolve/resolve.ts, tagAllowed), or add packages that nothing
 * needs. So every locked package must be reached from the requests through the dependencies of
 * locked packages, by the resolver's rules: a requirement is met by name or by what a package
 * provides, any alternative of a Debian `a | b` will do, a tagged repository's package only where
 * the request or a package from that repository on the way asked for its tag, and `install_if`
 * brings in an untagged package once everything it names is reached (and nothing locked meets a
 * `!name` condition of it). Where a locked package is
 * known by name only (no index lists its version), the walk is an estimate, and packages it does
 * not reach are not refused; once it is fetched, its own fields tell what it needs
 * ({@link fetchedListing}), and the walk is made again, exact (./plan.ts).
 */
import type { Candidate, CandidateIndex, Request, Requirement, VersionScheme } from '../pkg/resolve/resolve.ts';
import { candidateMeets, packageSatisfies, tagAllowed } from '../pkg/resolve/resolve.ts';
import type { LockedPackage } from '../pkg/source.ts';

/** The locked packages of one architecture that the requests do not reach. */
export interface LockReach {
  /** Met by a requirement only through a tagged repository the chain does not allow, and never reached otherwise; with those tags. */
  wrongTag: Map<LockedPackage, string[]>;
  /**
   * Neither requested nor needed by a reached package. Empty when some locked package is known by
   * name only (not in `listed`): what that package needs is known only once it is fetched, and
   * what the index's other versions of its name need stands in for it, so a package that only its
   * own version needs (a library an update dropped) would be refused wrongly. A lock that built
   * yesterday must build today while its packages are still signed; the tag check still holds.
   * Walked again with the fetched package in `listed` ({@link fetchedListing}), it is exact.
   */
  unreached: LockedPackage[];
}

/**
 * Walks from `requests` through the locked packages of one architecture.
 *
 * @param listed for each locked package an index lists: every candidate with its name, version and
 *   checksum (the same package, maybe in several repositories, each with its own tag); and for a
 *   locked package no index lists, once it is fetched, its {@link fetchedListing}
 * @param index the architecture's candidates. A locked package no index lists (a repository
 *   dropped its version, and a trusted key's signature on it vouches for it) is known by its name
 *   alone until it is fetched: it is met by its name and version, and stands in its place the
 *   index's candidates of that name (its other versions) for what it provides, needs and which
 *   repository (and tag) it comes from. One whose name only a repository of a refused tag has
 *   is refused as any other from that tag.
 */
export function lockReach(
  requests: readonly Request[],
  locked: readonly LockedPackage[],
  listed: ReadonlyMap<LockedPackage, readonly Candidate[]>,
  index: CandidateIndex<Candidate>,
  scheme: VersionScheme,
): LockReach {
  /** The candidates that meet `r` for `p`, before the tag check. */
  const meeting = (p: LockedPackage, r: Requirement): readonly Candidate[] => {
    const same = listed.get(p);
    if (same !== undefined) return same.filter((c) => candidateMeets(c, r, scheme));
    const byName = p.name === r.name && (r.constraint === undefined || packageSatisfies(scheme, p.checksum, p.version, r.constraint));
    const others = index.named(p.name);
    // A name no repository carries any more: nothing stands in for it, and nothing tags it.
    if (others.length === 0) return byName ? [unknown(p)] : [];
    // Its versions differ from the others', so what they provide is matched by name.
    return byName ? others : others.filter((c) => c.provides.some((v) => v.name === r.name));
  };

  /** The locked packages under each name they may meet a requirement by: their own, and what they provide. */
  const byName = new Map<string, LockedPackage[]>();
  for (const p of locked) {
    const names = new Set([p.name, ...(listed.get(p) ?? index.named(p.name)).flatMap((c) => c.provides.map((v) => v.name))]);
    for (const name of names) {
      const list = byName.get(name);
      if (list === undefined) byName.set(name, [p]);
      else list.push(p);
    }
  }
  const lockedUnder = (r: Requirement) => byName.get(r.name) ?? [];

  /** For each reached package: the tags its dependencies may use. */
  const reached = new Map<LockedPackage, Set<string>>();
  const wrongTag = new Map<LockedPackage, string[]>();
  const queue: { req: readonly Requirement[]; tags: Set<string> }[] = requests
    .filter((r) => r.conflict !== true)
    .map((r) => ({ req: [r], tags: new Set(r.tag === undefined ? [] : [r.tag]) }));

  const reach = (p: LockedPackage, via: readonly Candidate[], tags: ReadonlySet<string>): void => {
    const inherited = new Set([...(reached.get(p) ?? []), ...tags]);
    for (const c of via) if (c.repoTag !== '') inherited.add(c.repoTag);
    const seen = reached.get(p);
    if (seen !== undefined && inherited.size === seen.size) return;
    reached.set(p, inherited);
    wrongTag.delete(p);
    for (const c of via) for (const dep of c.depends) queue.push({ req: dep, tags: inherited });
  };

  const drain = (): void => {
    while (queue.length > 0) {
      const { req, tags } = queue.shift() as (typeof queue)[number];
      for (const r of req) {
        for (const p of lockedUnder(r)) {
          const candidates = meeting(p, r);
          if (candidates.length === 0) continue;
          const allowed = candidates.filter((c) => tagAllowed(c, r, tags));
          // The same package from an untagged repository brings no tag along.
          const untagged = allowed.filter((c) => c.repoTag === '');
          if (allowed.length > 0) reach(p, untagged.length > 0 ? untagged : allowed, tags);
          else if (!reached.has(p)) wrongTag.set(p, [...new Set([...(wrongTag.get(p) ?? []), ...candidates.map((c) => c.repoTag)])]);
        }
      }
    }
  };

  drain();
  // install_if, as the resolver: an untagged package whose conditions the reached packages all meet.
  for (let added = true; added; ) {
    added = false;
    for (const p of locked) {
      if (reached.has(p)) continue;
      // A package no index lists has the install_if of its name's other versions, as it has their depends.
      const conditional = (listed.get(p) ?? index.named(p.name)).filter((c) => c.repoTag === '' && c.installIf.length > 0);
      // A `!name` condition holds when no locked package meets it: one that does is either
      // reached, or refused below, whatever the order of the walk.
      const met = conditional.filter((c) =>
        c.installIf.every((r) =>
          r.conflict === true
            ? !lockedUnder(r).some((q) => meeting(q, r).length > 0)
            : lockedUnder(r).some((q) => reached.has(q) && meeting(q, r).length > 0),
        ),
      );
      if (met.length === 0) continue;
      reach(p, met, new Set());
      drain();
      added = true;
    }
  }
  const exact = locked.every((p) => listed.has(p));
  return { wrongTag, unreached: exact ? locked.filter((p) => !reached.has(p) && !wrongTag.has(p)) : [] };
}

/**
 * A fetched package that no index lists, as it stands in {@link lockReach}'s `listed`: what its own
 * file says it provides, needs and installs with (`own`, an untagged candidate: apk's `.PKGINFO`),
 * from each repository (and tag) that has its name, as the estimate takes them, or untagged when
 * none has it any more. Which repository it comes from no index says: the signature that vouches
 * for it is the same wherever the file lies.
 */
export function fetchedListing(own: Candidate, index: CandidateIndex<Candidate>): Candidate[] {
  const byTag = new Map<string, Candidate>();
  for (const c of index.named(own.name)) {
    if (!byTag.has(c.repoTag)) byTag.set(c.repoTag, { ...own, repoTag: c.repoTag, repoOrder: c.repoOrder });
  }
  return byTag.size === 0 ? [{ ...own, repoTag: '' }] : [...byTag.values()];
}

/** A candidate for a locked package that no index knows by name: itself, untagged, needing nothing. */
function unknown(p: LockedPackage): Candidate {
  return {
    id: p.checksum,
    name: p.name,
    version: p.version,
    provides: [],
    depends: [],
    conflicts: [],
    installIf: [],
    repoTag: '',
    repoOrder: Number.MAX_SAFE_INTEGER,
  };
}
