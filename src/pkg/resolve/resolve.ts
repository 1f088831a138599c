/**
 * The package resolver shared by the apk and deb builds: from requested names and the packages
 * of the repositories to the closure to install.
 *
 * It follows apk's rules, which deb's fit into: one version per package name; a requirement is
 * met by a package of that name whose version satisfies it, or by a package that provides the
 * name (a provide without a version meets only requirements without one); among candidates the
 * one already chosen wins, then one from the repository a `name@tag` names, then a real name over
 * a provide, then a higher provider priority, then the newest version (for apk, of what is
 * provided: {@link VersionScheme.rankByProvidedVersion}); conflicts are checked on the result;
 * `install_if` adds a package once everything it names is installed. Version ordering and
 * constraints come from a {@link VersionScheme}, so apk and dpkg each bring their own.
 *
 * The resolver is greedy, as apko's is: it does not backtrack. Requests are applied before the
 * dependencies they pull in, and a request's version constraint binds every choice of its name
 * (apko's constrain), so a pin in the request wins over a looser dependency or request.
 */
import { ProvenantError } from '../../errors.ts';

/** A version constraint: an operator and a version, in the scheme's own terms. */
export interface Constraint {
  op: string;
  version: string;
}

/** One requirement: a name, maybe a version constraint, maybe a repository tag it is pinned to. */
export interface Requirement {
  name: string;
  constraint?: Constraint | undefined;
  /** Only packages from repositories with this tag (apk's `name@tag`). */
  tag?: string | undefined;
}

/** Something a package provides: a name, with a version when the provide is versioned. */
export interface Provision {
  name: string;
  version?: string | undefined;
}

/** A package the resolver may choose. */
export interface Candidate {
  /** A key unique among all candidates (for apk the checksum, for deb the pool path). */
  id: string;
  name: string;
  version: string;
  provides: readonly Provision[];
  /** Each entry is a list of alternatives, any one of which meets it (apk has one per entry). */
  depends: readonly (readonly Requirement[])[];
  /** Names (with constraints) that must not be installed alongside this package. */
  conflicts: readonly Requirement[];
  /**
   * Install this package once all of these are installed (apk's `install_if`); a condition with
   * `conflict` (`!name`) holds while nothing installed meets it.
   */
  installIf: readonly Request[];
  providerPriority?: number | undefined;
  /** The tag of the repository the package comes from; '' for an untagged repository. */
  repoTag: string;
  /** Order of the repository in the configuration; an earlier one wins a tie. */
  repoOrder: number;
  /**
   * With {@link VersionScheme.candidateOnly}: the pin priority apt gives the package's repository
   * (500, or less for a `NotAutomatic` suite: ../deb/release.ts, debPinPriority). The candidate
   * version is the newest of those of the highest priority. 500 when undefined.
   */
  pinPriority?: number | undefined;
}

/** Version ordering and constraint matching of one packaging system. */
export interface VersionScheme {
  compare(a: string, b: string): number;
  satisfies(version: string, constraint: Constraint): boolean;
  /**
   * For a constraint that names one package rather than versions (apk's `><` checksum pin):
   * whether it names the package with this id. Undefined for a version constraint, which
   * {@link satisfies} decides. A provide never meets such a constraint.
   */
  matchesId?(id: string, constraint: Constraint): boolean | undefined;
  /**
   * Among providers of a name, rank by the version each provides of it (an unversioned provide
   * counting as its package's version), then by the packages' own versions: apk-tools' order
   * (solver.c, compare_providers) and apko's (go-apk's comparePackages, getDepVersionForName).
   * Without it, by the packages' own versions alone, as the Debian build does (apt ranks the
   * providers of a virtual package by Priority, which is the provider priority there).
   */
  rankByProvidedVersion?: boolean | undefined;
  /**
   * The version a versioned provide of `name` ranks by among providers, when it is not the
   * provided version itself (apk's old-style `so:` provides, ../apk/candidates.ts). Used only with
   * {@link rankByProvidedVersion}; meeting a requirement still takes the provided version.
   */
  providedRank?(name: string, version: string): string;
  /**
   * The version that `version` rebuilds, when the scheme has rebuilds that leave the source as it
   * was: Debian's binNMU (`3.11-4+b1`, a rebuild on some architectures only, against newer
   * libraries: Debian Policy 5.6.12 and the Debian wiki's binNMU page), whose version is the
   * source's with `+bN` appended. Two versions with the same base are one package across
   * architectures ({@link checkSameVersions}). Without it, each version is its own (apk: a rebuild
   * bumps `-rN` on every architecture).
   */
  rebuildBase?(version: string): string;
  /**
   * Only each name's candidate version may be installed: its newest (the earliest repository's
   * between equal versions), or the one a request pins with `=`. apt's rule: its resolver installs
   * the candidate version of a package (pkgPolicy::GetCandidateVer), never an older one that
   * would meet a versioned dependency, and `apt-get install name=VERSION` makes that version the
   * candidate. Without it (apk), any version that meets a requirement may be chosen.
   */
  candidateOnly?: boolean | undefined;
  /**
   * A request for a name no package has that several packages provide is refused, naming them,
   * as apt-get install refuses a virtual package with more than one provider ("You should
   * explicitly select one to install"), unless another request names one of them (`[awk, mawk]`).
   * Without it (apk: `cmd:sh`), the best provider is chosen.
   */
  oneProviderPerRequest?: boolean | undefined;
  /**
   * A requirement in the system's own syntax for messages (Debian's `cfb (<< 2)`); `conflict`
   * when it is a conflict. Without it, apk's: `cfb<2`, and `!cfb<2` for a conflict.
   */
  format?(r: Requirement, conflict?: boolean): string;
}

/** A request from the configuration: a requirement, or a conflict (`!name`) when `conflict`. */
export interface Request extends Requirement {
  conflict?: boolean;
  /** Where the request is written (`file:line:column (arch)`), for the error when nothing provides it. */
  where?: string | undefined;
}

/** The closure, and why each package is in it. */
export interface Resolution<C extends Candidate> {
  /** The chosen packages, sorted by name. */
  packages: C[];
  /** For each chosen id: what pulled it in (`request`, `install_if`, or the id that depends on it). */
  reasons: Map<string, string>;
}

/**
 * The candidates as the resolver looks them up. An index may make candidates only when they are
 * asked for (the Debian one parses a stanza when its name is looked up); {@link candidateIndex}
 * indexes a list.
 */
export interface CandidateIndex<C extends Candidate> {
  /** The candidates named `name`, in the repositories' order. */
  named(name: string): readonly C[];
  /** The candidates that provide `name`, with each provision of it, in the repositories' order. */
  providing(name: string): readonly { candidate: C; provision: Provision }[];
  /** The candidates that have `installIf` conditions, grouped by name, in order of first appearance. */
  withInstallIf(): Iterable<readonly C[]>;
}

/** A {@link CandidateIndex} of a list of candidates. */
export function candidateIndex<C extends Candidate>(candidates: readonly C[]): CandidateIndex<C> {
  const byName = new Map<string, C[]>();
  const byProvide = new Map<string, { candidate: C; provision: Provision }[]>();
  for (const c of candidates) {
    push(byName, c.name, c);
    for (const p of c.provides) push(byProvide, p.name, { candidate: c, provision: p });
  }
  const installIf = [...byName.values()].map((list) => list.filter((c) => c.installIf.length > 0)).filter((list) => list.length > 0);
  return {
    named: (name) => byName.get(name) ?? [],
    providing: (name) => byProvide.get(name) ?? [],
    withInstallIf: () => installIf,
  };
}

/**
 * apt's candidate among the versions of one name, without preferences (apt_preferences(5)): the
 * newest of those whose repository has the highest pin priority ({@link Candidate.pinPriority}),
 * the earliest repository's between equal versions. So a backports suite's newer version is not
 * the candidate while the main suite has the package, and is when only backports has it.
 */
export function candidateVersion<C extends Candidate>(versions: readonly C[], scheme: Pick<VersionScheme, 'compare'>): C | undefined {
  let best: C | undefined;
  for (const c of versions) {
    if (best === undefined) {
      best = c;
      continue;
    }
    const p = (c.pinPriority ?? 500) - (best.pinPriority ?? 500);
    const v = p !== 0 ? p : scheme.compare(c.version, best.version);
    if (v > 0 || (v === 0 && c.repoOrder < best.repoOrder)) best = c;
  }
  return best;
}

/** Options of {@link resolve}. */
export interface ResolveOptions {
  /** For errors: which architecture, and which configuration. */
  where?: string | undefined;
}

/**
 * Resolves `requests` against `candidates` (a list, or an index of them).
 *
 * @throws ProvenantError `UNRESOLVABLE` naming the requirement and the chain of packages that
 *   needed it, when nothing meets it, when two requirements want different versions of one
 *   name, or when a conflict is installed
 */
export function resolve<C extends Candidate>(
  requests: readonly Request[],
  candidates: readonly C[] | CandidateIndex<C>,
  scheme: VersionScheme,
  options: ResolveOptions = {},
): Resolution<C> {
  const index = Array.isArray(candidates) ? candidateIndex(candidates as readonly C[]) : (candidates as CandidateIndex<C>);
  const resolver = new Resolver(
    index,
    scheme,
    options.where,
    requests.filter((r) => r.conflict),
    requests.filter((r) => !r.conflict && r.constraint !== undefined),
  );
  // Requests first, all of them, so that their pins win; and a request's constraint on a name
  // binds every choice of that name, whichever request or dependency makes it first.
  // With oneProviderPerRequest, a request for a virtual package of several providers comes after
  // the others, all of them known: one naming a provider meets it (`[awk, mawk]`, as apt-get
  // install takes it), whichever order the list has.
  const wanted = requests.filter((r) => !r.conflict);
  const first: Request[] = [];
  const later: Request[] = [];
  for (const r of wanted) (scheme.oneProviderPerRequest === true && providerNames(index, r.name).length > 1 ? later : first).push(r);
  for (const r of [...first, ...later]) resolver.choose([r], undefined, new Set(r.tag === undefined ? [] : [r.tag]));
  do resolver.drain();
  while (resolver.addInstallIf());
  resolver.checkConflicts();
  return resolver.resolution();
}

/** The names of the packages that provide `name`, sorted; none when a package has that name. */
function providerNames<C extends Candidate>(index: CandidateIndex<C>, name: string): string[] {
  if (index.named(name).length > 0) return [];
  return [...new Set(index.providing(name).map(({ candidate }) => candidate.name))].sort();
}

/** A requirement still to meet: its alternatives, who needs it, and the repository tags it may use. */
interface Pending<C> {
  req: readonly Requirement[];
  by: C | undefined;
  tags: Set<string>;
}

/** One resolution in progress: what is chosen, why, and the requirements still to meet. */
class Resolver<C extends Candidate> {
  readonly #index: CandidateIndex<C>;
  readonly #scheme: VersionScheme;
  readonly #where: string | undefined;
  /** Chosen packages, by name. */
  readonly #chosen = new Map<string, C>();
  /** For each chosen id: what pulled it in. */
  readonly #reasons = new Map<string, string>();
  /** Provided name → chosen packages providing it. */
  readonly #providedBy = new Map<string, C[]>();
  readonly #queue: Pending<C>[] = [];
  /** The request's conflicts (`!name`). */
  readonly #refused: readonly Requirement[];
  /** The conflicts of the chosen packages, by the name they refuse: what a candidate of that name, or providing it, must not meet. */
  readonly #refusedBy = new Map<string, { req: Requirement; by: C }[]>();
  /** The requests with a version constraint: no package of that name, nor provider chosen for it, may fail it. */
  readonly #bound: readonly Requirement[];
  /** With {@link VersionScheme.candidateOnly}: each name's candidate version, once looked up. */
  readonly #candidates = new Map<string, { c: C; id: string; pinned: boolean } | undefined>();

  constructor(
    index: CandidateIndex<C>,
    scheme: VersionScheme,
    where: string | undefined,
    refused: readonly Requirement[],
    bound: readonly Requirement[],
  ) {
    this.#index = index;
    this.#scheme = scheme;
    this.#where = where;
    this.#refused = refused;
    this.#bound = bound;
  }

  /** Meets one requirement (any of its alternatives), choosing a package when nothing chosen meets it. */
  choose(alternatives: readonly Requirement[], by: C | undefined, tags: Set<string>): void {
    if (alternatives.some((r) => this.#isMet(r))) return;
    if (by === undefined && this.#scheme.oneProviderPerRequest === true) this.#checkOneProvider(alternatives[0]);
    let best: C | undefined;
    let bestKey: number[] = [];
    let blocked: string | undefined;
    let clashed = false;
    let bestProvided = '';
    let blockedByCandidate: string | undefined;
    for (const r of alternatives) {
      // Each candidate with the version it offers of the name (its own, or what it provides; none
      // for an unversioned provide), and the version it ranks by.
      const pool: [C, string | undefined, string][] = this.#index.named(r.name).map((c) => [c, c.version, c.version]);
      for (const { candidate, provision } of this.#index.providing(r.name)) {
        const provided = provision.version;
        const rank = provided === undefined ? candidate.version : (this.#scheme.providedRank?.(r.name, provided) ?? provided);
        pool.push([candidate, provided, rank]);
      }
      // The best version of each name first, as if nothing conflicted: a conflict passes over a
      // package (to another provider, or the next alternative, as apt's resolver and apk's solver
      // find an installable set), never to an older version of it, which apt would not take
      // either and which may be what a security update replaced.
      const byName = new Map<string, { c: C; key: number[]; provided: string }>();
      for (const [c, offered, provided] of pool) {
        if (!tagAllowed(c, r, tags)) continue;
        const notCandidate = this.#notCandidate(c);
        if (notCandidate !== undefined) {
          // The name's candidate does not meet it: said when nothing else does (an older version would).
          if (this.#meets(c, r)) blockedByCandidate ??= notCandidate(r);
          continue;
        }
        if (!this.#meets(c, r)) continue;
        const taken = this.#chosen.get(c.name);
        if (taken !== undefined && taken.id !== c.id) {
          blocked ??= `${c.name}-${taken.version} is already chosen (for ${this.#describe(this.#pulledBy(taken))})`;
          continue;
        }
        const unbound = this.#unbound(c, r, offered);
        if (unbound !== undefined) {
          blocked ??= unbound;
          continue;
        }
        // The repository `name@tag` names, then real name over provide, then priority, then
        // newest, then earlier repository. apko ranks the pinned repository first too
        // (comparePackages): `foo@edge` asks for edge's foo, not for a newer one elsewhere.
        const key = [r.tag !== undefined && c.repoTag === r.tag ? 1 : 0, c.name === r.name ? 1 : 0, c.providerPriority ?? 0];
        const held = byName.get(c.name);
        if (held === undefined || this.#better(key, held.key, c, held.c, provided, held.provided)) byName.set(c.name, { c, key, provided });
      }
      for (const { c, key, provided } of byName.values()) {
        const clash = this.#clash(c);
        if (clash !== undefined) {
          if (blocked === undefined) {
            blocked = clash;
            clashed = true;
          }
          continue;
        }
        if (best === undefined || this.#better(key, bestKey, c, best, provided, bestProvided)) {
          best = c;
          bestKey = key;
          bestProvided = provided;
        }
      }
      if (best !== undefined) break; // the first alternative that can be met wins, as in apt
    }
    if (best === undefined)
      throw this.#unmet(
        alternatives,
        by,
        blocked ?? blockedByCandidate,
        clashed,
        blocked === undefined && blockedByCandidate !== undefined,
      );
    this.#add(best, by === undefined ? 'request' : by.id, tags);
  }

  /** Meets the dependencies of everything chosen, and of what that brings in. */
  drain(): void {
    while (this.#queue.length > 0) {
      const next = this.#queue.shift() as Pending<C>;
      this.choose(next.req, next.by, next.tags);
    }
  }

  /**
   * install_if: adds the newest candidate of each name not chosen whose conditions all hold (a
   * `!name` one while nothing chosen meets it, as apk-tools reads it). True when it added one.
   */
  addInstallIf(): boolean {
    let added = false;
    for (const list of this.#index.withInstallIf()) {
      if (this.#chosen.has((list[0] as C).name)) continue;
      // One that conflicts with what is chosen is left out, as apk leaves it.
      const eligible = list.filter(
        (c) => c.repoTag === '' && c.installIf.every((r) => this.#isMet(r) !== (r.conflict === true)) && this.#clash(c) === undefined,
      );
      if (eligible.length === 0) continue;
      const newest = eligible.reduce((a, b) => (this.#scheme.compare(b.version, a.version) > 0 ? b : a));
      this.#add(newest, 'install_if', new Set());
      added = true;
    }
    return added;
  }

  /**
   * Conflicts: the requested ones (`!name`) and each chosen package's own. No candidate that
   * conflicts is chosen ({@link #clash}); this checks the whole resolution all the same.
   */
  checkConflicts(): void {
    const conflicts: { req: Requirement; by: C | undefined }[] = this.#refused.map((req) => ({ req, by: undefined }));
    for (const c of this.#chosen.values()) for (const req of c.conflicts) conflicts.push({ req, by: c });
    for (const { req, by } of conflicts) {
      for (const c of this.#chosen.values()) {
        if (c === by || !this.#meets(c, req)) continue;
        throw new ProvenantError(
          'UNRESOLVABLE',
          `${c.name}-${c.version} (needed by ${this.#describe(this.#pulledBy(c))}) conflicts with ${by === undefined ? 'the request' : `${by.name}-${by.version}`}: ${this.#format(req, true)}`,
          {
            where: this.#where,
            hint: 'remove one of the two from contents.packages, or the package that pulls it in',
          },
        );
      }
    }
  }

  resolution(): Resolution<C> {
    const packages = [...this.#chosen.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { packages, reasons: this.#reasons };
  }

  #add(c: C, reason: string, tags: Set<string>): void {
    this.#chosen.set(c.name, c);
    this.#reasons.set(c.id, reason);
    for (const p of c.provides) push(this.#providedBy, p.name, c);
    for (const req of c.conflicts) push(this.#refusedBy, req.name, { req, by: c });
    const inherited = c.repoTag === '' ? tags : new Set([...tags, c.repoTag]);
    for (const dep of c.depends) this.#queue.push({ req: dep, by: c, tags: inherited });
  }

  /**
   * Why a request's constraint rules `c` out when it is chosen for `r` (offering `offered` of
   * `r`'s name): on `c`'s own name, or on `r`'s name, which `c` provides at a version the request
   * does not allow. apko disqualifies these before resolving (constrain), so `[cmd:sh,
   * busybox=1.35-r0]` takes busybox-1.35-r0 for cmd:sh as the reverse order does. Undefined when
   * none does.
   */
  #unbound(c: C, r: Requirement, offered: string | undefined): string | undefined {
    for (const b of this.#bound) {
      if (b.constraint === undefined) continue;
      const own = b.name === c.name;
      const version = own ? c.version : b.name === r.name ? offered : undefined;
      if (version === undefined) continue;
      const fits = own ? packageSatisfies(this.#scheme, c.id, c.version, b.constraint) : this.#scheme.satisfies(version, b.constraint);
      if (!fits) {
        return `${c.name}-${c.version}${own ? '' : ` (${b.name}=${version})`} does not satisfy ${this.#format(b)}, which contents.packages asks for`;
      }
    }
    return undefined;
  }

  /**
   * With {@link VersionScheme.candidateOnly}: when `c` is not its name's candidate version, what
   * to say for a requirement that only it (or another older version) would meet; undefined when
   * it is the candidate.
   */
  #notCandidate(c: C): ((r: Requirement) => string) | undefined {
    if (this.#scheme.candidateOnly !== true) return undefined;
    const candidate = this.#candidateOf(c.name);
    if (candidate === undefined || candidate.id === c.id) return undefined;
    const newer = this.#index.named(c.name).some((x) => this.#scheme.compare(x.version, candidate.c.version) > 0);
    const pinned = candidate.pinned
      ? ', which contents.packages pins'
      : newer
        ? ' (the newest of the repositories of highest pin priority: a NotAutomatic suite, such as backports, only when no other has the package)'
        : ' (the newest the repositories list)';
    return (r) =>
      `the candidate version of ${c.name} is ${candidate.c.version}${pinned}, and it does not satisfy ${this.#format(r)}; apt installs only that version, not ${c.version}`;
  }

  /** A name's candidate version: the one a request pins with `=`, else {@link candidateVersion}'s. */
  #candidateOf(name: string): { c: C; id: string; pinned: boolean } | undefined {
    if (this.#candidates.has(name)) return this.#candidates.get(name);
    const versions = this.#index.named(name);
    const pins = this.#bound.filter((b) => b.name === name && b.constraint?.op === '=');
    const pool = pins.length === 0 ? versions : versions.filter((c) => pins.every((b) => this.#meets(c, b)));
    const newest = candidateVersion(pool.length === 0 ? versions : pool, this.#scheme);
    const candidate = newest === undefined ? undefined : { c: newest, id: newest.id, pinned: pins.length > 0 && pool.length > 0 };
    this.#candidates.set(name, candidate);
    return candidate;
  }

  /**
   * With {@link VersionScheme.oneProviderPerRequest}: refuses a request for a name no package
   * has that packages of several names provide (apt-get install's "virtual package provided by").
   */
  #checkOneProvider(r: Requirement | undefined): void {
    if (r === undefined) return;
    const names = providerNames(this.#index, r.name);
    if (names.length < 2) return;
    throw new ProvenantError(
      'UNRESOLVABLE',
      `${r.name} is a virtual package provided by ${names.join(', ')}: contents.packages must name the one to install, as apt-get install asks`,
      { where: (r as Request).where ?? this.#where, hint: `list one of ${names.join(', ')} in contents.packages instead of ${r.name}` },
    );
  }

  /** A requirement as the scheme writes it (Debian's `name (op version)`), or apk's `name<op>version`. */
  #format(r: Requirement, conflict = false): string {
    return requirementText(r, this.#scheme, conflict);
  }

  #meets(c: C, r: Requirement): boolean {
    return candidateMeets(c, r, this.#scheme);
  }

  /**
   * Why `c` cannot join what is chosen: the request refuses it, a chosen package refuses it, or it
   * refuses a chosen package (a package's conflict with itself, as Debian's `Provides: x,
   * Conflicts: x`, is none). Undefined when it can.
   */
  #clash(c: C): string | undefined {
    const self = `${c.name}-${c.version}`;
    for (const req of this.#refused) if (this.#meets(c, req)) return `${self} conflicts with the request: ${this.#format(req, true)}`;
    for (const name of [c.name, ...c.provides.map((p) => p.name)]) {
      for (const { req, by } of this.#refusedBy.get(name) ?? []) {
        if (by.id !== c.id && this.#meets(c, req))
          return `${by.name}-${by.version} (needed by ${this.#describe(this.#pulledBy(by))}) conflicts with ${self}: ${this.#format(req, true)}`;
      }
    }
    for (const req of c.conflicts) {
      const named = this.#chosen.get(req.name);
      const hit = [...(named === undefined ? [] : [named]), ...(this.#providedBy.get(req.name) ?? [])].find(
        (x) => x.id !== c.id && this.#meets(x, req),
      );
      if (hit !== undefined)
        return `${self} conflicts with ${hit.name}-${hit.version} (needed by ${this.#describe(this.#pulledBy(hit))}): ${this.#format(req, true)}`;
    }
    return undefined;
  }

  /** Met already by something chosen, by name or by what it provides? */
  #isMet(r: Requirement): boolean {
    const named = this.#chosen.get(r.name);
    if (named !== undefined && this.#meets(named, r)) return true;
    return (this.#providedBy.get(r.name) ?? []).some((c) => this.#meets(c, r));
  }

  /** Whether `c` (offering `provided` of the name) ranks above `best` (offering `bestProvided`). */
  #better(key: number[], bestKey: number[], c: C, best: C, provided: string, bestProvided: string): boolean {
    for (let i = 0; i < key.length; i++) if ((key[i] ?? 0) !== (bestKey[i] ?? 0)) return (key[i] ?? 0) > (bestKey[i] ?? 0);
    if (this.#scheme.rankByProvidedVersion === true) {
      const p = this.#scheme.compare(provided, bestProvided);
      if (p !== 0) return p > 0;
    }
    const v = this.#scheme.compare(c.version, best.version);
    if (v !== 0) return v > 0;
    if (c.repoOrder !== best.repoOrder) return c.repoOrder < best.repoOrder;
    return c.name < best.name;
  }

  /** The chosen package that pulled `c` in; undefined for one the request (or install_if) chose. */
  #pulledBy(c: C): C | undefined {
    const reason = this.#reasons.get(c.id);
    return reason === undefined ? undefined : [...this.#chosen.values()].find((x) => x.id === reason);
  }

  /** The chain of packages from `by` up: `a-1, needed by b-2, needed by ...`; `the request` for none. */
  #describe(by: C | undefined): string {
    const chain: string[] = [];
    let cur = by;
    for (let i = 0; cur !== undefined && i < 8; i++) {
      chain.push(`${cur.name}-${cur.version}`);
      cur = this.#pulledBy(cur);
    }
    return chain.length === 0 ? 'the request' : `${chain.join(', needed by ')}${chain.length === 8 ? ', ...' : ''}`;
  }

  #unmet(
    alternatives: readonly Requirement[],
    by: C | undefined,
    blocked: string | undefined,
    clashed = false,
    notCandidate = false,
  ): ProvenantError {
    const wanted = alternatives.map((r) => this.#format(r)).join(' | ');
    // A package the configuration asks for by a name (or version) no repository has is not
    // found; one that a chosen package needs is a repository that cannot be resolved.
    if (by === undefined && blocked === undefined) {
      return new ProvenantError('NOT_FOUND', `nothing provides ${wanted}, which contents.packages asks for`, {
        where: (alternatives[0] as Request | undefined)?.where ?? this.#where,
        hint: 'check the package name and version, the repositories (and their tags) and the architecture',
      });
    }
    return new ProvenantError(
      'UNRESOLVABLE',
      blocked === undefined
        ? `nothing provides ${wanted} (needed by ${this.#describe(by)})`
        : `cannot install ${wanted} (needed by ${this.#describe(by)}): ${blocked}`,
      {
        where: this.#where,
        hint:
          blocked === undefined
            ? 'check the package name, the repositories and their tags, and the architecture'
            : clashed
              ? 'remove one of the two from contents.packages, or the package that pulls it in'
              : notCandidate
                ? 'pin the version that satisfies it in contents.packages (name=VERSION, as apt-get install takes it)'
                : 'pin one version in contents.packages, or loosen the constraint',
      },
    );
  }
}

/**
 * Whether `c` meets `r`: by its name and version, or by something it provides (a provide without
 * a version meets only a requirement without a constraint).
 */
export function candidateMeets(c: Candidate, r: Requirement, scheme: VersionScheme): boolean {
  if (c.name === r.name && (r.constraint === undefined || packageSatisfies(scheme, c.id, c.version, r.constraint))) return true;
  return c.provides.some(
    (p) => p.name === r.name && (r.constraint === undefined || (p.version !== undefined && scheme.satisfies(p.version, r.constraint))),
  );
}

/**
 * Whether a package (its id and version) meets a constraint on its own name: by its version, or,
 * for a constraint that names one package (apk's `><` checksum), by its id.
 */
export function packageSatisfies(scheme: VersionScheme, id: string, version: string, constraint: Constraint): boolean {
  return scheme.matchesId?.(id, constraint) ?? scheme.satisfies(version, constraint);
}

/**
 * A package from a tagged repository is allowed only where its tag was asked for (apk's
 * `name@tag`): by the requirement, or by the chain of packages that led to it (`tags`: the
 * request's tag and those of the tagged packages that depend on it).
 */
export function tagAllowed(c: Candidate, r: Requirement, tags: Set<string>): boolean {
  return c.repoTag === '' || c.repoTag === r.tag || tags.has(c.repoTag);
}

/** A requirement as apk writes it: `name[@tag][op version]`. */
export function formatRequirement(r: Requirement): string {
  return `${r.name}${r.tag === undefined ? '' : `@${r.tag}`}${r.constraint === undefined ? '' : `${r.constraint.op}${r.constraint.version}`}`;
}

/**
 * A requirement as messages show it, in the syntax of `scheme`'s ecosystem: Debian's `cfb (<< 2)`
 * (a conflict with its field, `Breaks: cfb (<< 2)`), else apk's `cfb<2` (a conflict `!cfb<2`).
 */
export function requirementText(r: Requirement, scheme: Pick<VersionScheme, 'format'>, conflict = false): string {
  return scheme.format?.(r, conflict) ?? `${conflict ? '!' : ''}${formatRequirement(r)}`;
}

/**
 * Checks that every architecture resolved a package name to the same version (a multi-arch image
 * whose platforms differ is a trap for users), or, with a scheme that has rebuilds, to rebuilds of
 * the same version ({@link VersionScheme.rebuildBase}: Debian's `grep` is 3.11-4 on amd64 and
 * 3.11-4+b1 on arm64 when only arm64 was rebuilt). Names present on only some architectures are
 * fine: dependencies can differ by architecture.
 *
 * @throws ProvenantError `UNRESOLVABLE` naming the package and the versions per architecture
 */
export function checkSameVersions(
  byArch: ReadonlyMap<string, readonly { name: string; version: string }[]>,
  scheme?: Pick<VersionScheme, 'rebuildBase'> | undefined,
): void {
  const first = differentVersions(byArch, scheme)[0];
  if (first === undefined) return;
  const { name, perArch } = first;
  const detail = [...perArch].map(([arch, v]) => `${v} on ${arch}`).join(', ');
  throw new ProvenantError('UNRESOLVABLE', `${name} resolves to different versions: ${detail}`, {
    hint: `pin a version that every architecture has, e.g. "${name}=${[...perArch.values()].sort()[0]}", or build the architectures separately`,
  });
}

/**
 * The names that have different versions on different architectures, sorted, each with its
 * version per architecture. Names present on only some architectures are not among them, nor,
 * with a scheme that has rebuilds, names whose versions are rebuilds of one version.
 */
export function differentVersions(
  byArch: ReadonlyMap<string, readonly { name: string; version: string }[]>,
  scheme?: Pick<VersionScheme, 'rebuildBase'> | undefined,
): { name: string; perArch: Map<string, string> }[] {
  const versions = new Map<string, Map<string, string>>();
  for (const [arch, list] of byArch)
    for (const c of list) (versions.get(c.name) ?? versions.set(c.name, new Map()).get(c.name))?.set(arch, c.version);
  const base = scheme?.rebuildBase ?? ((v: string) => v);
  return [...versions]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .filter(([, perArch]) => new Set([...perArch.values()].map(base)).size > 1)
    .map(([name, perArch]) => ({ name, perArch }));
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}
