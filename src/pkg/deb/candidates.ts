/**
 * Debian packages as resolver candidates, and dpkg's version scheme for the resolver.
 *
 * A candidate comes from one stanza of a repository's Packages file (read with
 * `parseControlStanzas` (./control.ts)). The resolver matches requirements by name, so Multi-Arch is
 * expressed in names: a dependency `foo:any` becomes a requirement on the name `foo:any`, which a
 * `Multi-Arch: allowed` package provides (deb-control(5), and the Multi-Arch spec:
 * https://wiki.ubuntu.com/MultiarchSpec). An image is built for one architecture, so a qualifier
 * naming that architecture (or `native`) is dropped.
 */
import { isProvenantError, ProvenantError, RepairableError } from '../../errors.ts';
import {
  type Candidate,
  type CandidateIndex,
  type Constraint,
  candidateVersion,
  type Provision,
  type Requirement,
  type VersionScheme,
} from '../resolve/resolve.ts';
import { parseControlStanzas } from './control.ts';
import { type DebRelation, formatDebRelation, parseDebRelations } from './relations.ts';
import { checkStanza, type DebStanzaIndex, stanzasNamed, stanzasProviding } from './stanza-index.ts';
import {
  compareDebVersions,
  type DebConstraintOp,
  debRebuildBase,
  isDebConstraintOp,
  parseDebVersion,
  satisfiesDebConstraint,
} from './version.ts';

/** The repository a Packages file comes from. */
export interface DebRepository {
  /** The archive's base URL (a mirror's `.../debian`), as the sources entry gives it. */
  readonly url: string;
  /** The suite (or codename): `bookworm`, `bookworm-updates`. */
  readonly suite: string;
  /** The component: `main`, `contrib`. */
  readonly component: string;
  /** Order of the repository in the configuration; an earlier one wins a tie. */
  readonly order: number;
  /** The pin priority apt gives the suite (./release.ts, debPinPriority); 500 when undefined. */
  readonly pinPriority?: number | undefined;
}

/** A Debian package the resolver can choose, with what the build and the SBOM need of its stanza. */
export interface DebCandidate extends Candidate {
  /** The package's architecture: the one built for, or `all`. */
  architecture: string;
  /** The pool path relative to the repository URL (`Filename`), '' when the stanza has none. */
  filename: string;
  /** The size of the .deb in bytes (`Size`), or undefined when the stanza has none. */
  size: number | undefined;
  /** The lower-case hex SHA-256 of the .deb (`SHA256`), or undefined. */
  sha256: string | undefined;
  /** The source package name: `Source` without its version, or the package name. */
  source: string;
  /** The source package version: from `Source: name (version)`, or the package version. */
  sourceVersion: string;
  section: string | undefined;
  priority: string | undefined;
  /** `Essential: yes`. */
  essential: boolean;
  /** `Multi-Arch`: `same`, `foreign`, `allowed`, or `no` when absent. */
  multiArch: string;
  /** The whole description: the synopsis, then the extended description after a newline. */
  description: string | undefined;
  maintainer: string | undefined;
  homepage: string | undefined;
  /** The repository the stanza came from. */
  repository: DebRepository;
}

const PRIORITY_RANK: Readonly<Record<string, number>> = { required: 5, important: 4, standard: 3, optional: 2, extra: 1 };

/** Options of {@link debCandidate} and {@link debCandidates}. */
export interface DebCandidateOptions {
  /** Count `Recommends` as dependencies, as apt does by default. Off by default, as in a minimal image. */
  withRecommends?: boolean | undefined;
  /** For errors: the Packages file (or URL) the stanzas come from. */
  where?: string | undefined;
}

/**
 * dpkg's version order and relations. `<` and `>` are the obsolete forms of `<=` and `>=`; an
 * operator that is not a Debian relation never matches.
 */
export const debVersionScheme: VersionScheme = {
  compare: compareDebVersions,
  satisfies(version: string, constraint: Constraint): boolean {
    if (!isDebConstraintOp(constraint.op)) return false;
    return satisfiesDebConstraint(version, constraint.op, constraint.version);
  },
  rebuildBase: debRebuildBase,
  // apt installs each package's candidate version only, and refuses to pick among the providers
  // of a virtual package it is asked for (../resolve/resolve.ts says how).
  candidateOnly: true,
  oneProviderPerRequest: true,
  format: formatDebRequirement,
};

/** A conflict as the stanza wrote it: the field (`Conflicts` or `Breaks`) is kept for messages. */
interface DebConflict extends Requirement {
  field: 'Conflicts' | 'Breaks';
}

/** A requirement in Debian's syntax, `cfb (<< 2)`; a conflict with its field, `Breaks: cfb (<< 2)`. */
function formatDebRequirement(r: Requirement, conflict = false): string {
  const c = r.constraint;
  const text = formatDebRelation(c === undefined ? { name: r.name } : { name: r.name, op: c.op as DebConstraintOp, version: c.version });
  if (!conflict) return text;
  const field = (r as Partial<DebConflict>).field;
  return `${field ?? 'Conflicts'}: ${text}`;
}

/** A stanza as `parseControlStanzas` (./control.ts) returns it: lowercased field names. */
export type DebStanza = Readonly<Record<string, string>>;

/**
 * Turns one stanza of a Packages file into a candidate for `arch`.
 *
 * Dependencies are `Pre-Depends` then `Depends` (then `Recommends` with `withRecommends`), each
 * entry a list of alternatives; conflicts are `Conflicts` and `Breaks`, minus any on the
 * package's own name (a package never conflicts with itself); provides are `Provides`, versioned
 * when written `foo (= 1.2)`. The id is the pool path (`Filename`), or the SHA-256 when the stanza
 * has no path.
 *
 * @param stanza the stanza, with lowercased field names
 * @param repo the repository it comes from
 * @param arch the architecture the image is built for (`amd64`, `arm64`)
 * @param options Recommends, and where the stanza comes from
 * @throws ProvenantError `INVALID_PACKAGE` naming the package when a field is missing or
 *   malformed
 */
export function debCandidate(stanza: DebStanza, repo: DebRepository, arch: string, options: DebCandidateOptions = {}): DebCandidate {
  const name = field(stanza, 'package');
  const version = field(stanza, 'version');
  const label = name === undefined ? 'a stanza without a Package field' : `${name} ${version ?? '(no version)'}`;
  const where = options.where;
  const bad = (why: string, cause?: unknown): ProvenantError =>
    new ProvenantError('INVALID_PACKAGE', `${label}: ${why}`, {
      where,
      cause,
      hint: 'the repository index is malformed; check the repository URL, or report it to the archive',
    });
  if (name === undefined) throw bad('has no Package field');
  if (version === undefined) throw bad('has no Version field');
  if (!/^[A-Za-z0-9][A-Za-z0-9+\-._]*$/.test(name)) throw bad('has an invalid package name');
  try {
    parseDebVersion(version);
  } catch (err) {
    throw bad((err as Error).message, err);
  }
  const architecture = field(stanza, 'architecture');
  if (architecture === undefined) throw bad('has no Architecture field');
  const filename = field(stanza, 'filename') ?? '';
  const sha256 = field(stanza, 'sha256')?.toLowerCase();
  if (sha256 !== undefined && !/^[0-9a-f]{64}$/.test(sha256)) throw bad('has a SHA256 field that is not 64 hex digits');
  if (filename === '' && sha256 === undefined) throw bad('has neither a Filename nor a SHA256 field');
  const sizeText = field(stanza, 'size');
  if (sizeText !== undefined && !/^[0-9]+$/.test(sizeText)) throw bad(`has the size ${JSON.stringify(sizeText)}`);

  const relations = (key: string, title: string): DebRelation[][] => {
    const text = stanza[key];
    if (text === undefined) return [];
    try {
      return parseDebRelations(text, title);
    } catch (err) {
      if (!isProvenantError(err)) throw err;
      throw bad(err.message, err);
    }
  };
  const requirement = (r: DebRelation): Requirement => ({
    name: qualifiedName(r, arch),
    constraint: r.op === undefined || r.version === undefined ? undefined : { op: r.op, version: r.version },
  });

  const depends = [
    ...relations('pre-depends', 'Pre-Depends'),
    ...relations('depends', 'Depends'),
    ...(options.withRecommends ? relations('recommends', 'Recommends') : []),
  ].map((alternatives) => alternatives.map(requirement));
  const conflicts: DebConflict[] = [
    ...relations('conflicts', 'Conflicts')
      .flat()
      .map((r) => ({ ...requirement(r), field: 'Conflicts' as const })),
    ...relations('breaks', 'Breaks')
      .flat()
      .map((r) => ({ ...requirement(r), field: 'Breaks' as const })),
  ].filter((r) => r.name !== name);

  const multiArch = field(stanza, 'multi-arch')?.toLowerCase() ?? 'no';
  const provides: Provision[] = relations('provides', 'Provides')
    .flat()
    .map((r) => (r.version === undefined ? { name: r.name } : { name: r.name, version: r.version }));
  // A `Multi-Arch: allowed` package meets `name:any` dependencies, on its own name and (as apt
  // does) on the names it provides.
  if (multiArch === 'allowed') {
    for (const p of [{ name, version }, ...provides]) {
      provides.push(p.version === undefined ? { name: `${p.name}:any` } : { name: `${p.name}:any`, version: p.version });
    }
  }

  const source = parseSource(field(stanza, 'source'), name, version);
  const essential = field(stanza, 'essential')?.toLowerCase() === 'yes';
  const priority = field(stanza, 'priority');
  return {
    id: filename === '' ? (sha256 as string) : filename,
    name,
    version,
    provides,
    depends,
    conflicts,
    installIf: [],
    // Among providers of a virtual package (awk: mawk or gawk), apt prefers the one of higher
    // Priority; versions of different packages say nothing about which to take. This stanza's own
    // rank, until rankDebCandidates gives every version of the name the rank of its newest.
    providerPriority: PRIORITY_RANK[priority ?? ''] ?? 0,
    repoTag: '',
    repoOrder: repo.order,
    pinPriority: repo.pinPriority ?? 500,
    architecture,
    filename,
    size: sizeText === undefined ? undefined : Number(sizeText),
    sha256,
    source: source.name,
    sourceVersion: source.version,
    section: field(stanza, 'section'),
    priority,
    essential,
    multiArch,
    description: field(stanza, 'description'),
    maintainer: field(stanza, 'maintainer'),
    homepage: field(stanza, 'homepage'),
    repository: repo,
  };
}

/**
 * Gives every candidate of a name the Priority rank of the name's candidate version (the newest
 * of the repositories of highest pin priority, the earliest repository's between equal versions:
 * ../resolve/resolve.ts, candidateVersion), and returns the list. The resolver ranks by priority
 * before version, which is apt's order between providers of a virtual package, whose candidate
 * version carries the Priority compared; but between versions of one package apt
 * takes the newest, whatever each stanza's Priority says (an older `optional` in one repository
 * must not beat a newer `extra` in another). With one rank per name, versions of the name tie on
 * priority, and the resolver's next key, the version, decides. Call it on the candidates of every
 * repository together ({@link debCandidateIndex} does).
 */
export function rankDebCandidates<T extends DebCandidate>(candidates: T[]): T[] {
  const byName = new Map<string, DebCandidate[]>();
  for (const c of candidates) {
    const list = byName.get(c.name);
    if (list === undefined) byName.set(c.name, [c]);
    else list.push(c);
  }
  for (const list of byName.values()) rankVersions(list);
  return candidates;
}

/** {@link rankDebCandidates} of candidates that all have one name: the rank of its candidate version. */
function rankVersions(versions: readonly DebCandidate[]): void {
  const rank = PRIORITY_RANK[candidateVersion(versions, debVersionScheme)?.priority ?? ''] ?? 0;
  for (const c of versions) c.providerPriority = rank;
}

/** A stanza that was left out, and why. */
export interface SkippedDebPackage {
  /** The package name, or '' when the stanza has none. */
  name: string;
  /** The version, or '' when the stanza has none. */
  version: string;
  reason: string;
}

/**
 * Turns the stanzas of a Packages file into candidates for `arch`. Stanzas of other
 * architectures are left out silently (a Packages file of `binary-amd64` holds `amd64` and `all`
 * packages; `all` packages are candidates for every architecture). A malformed stanza is left out
 * and reported rather than failing the index, as apt warns and goes on. Each candidate has its own
 * stanza's Priority rank: give the candidates of every repository to {@link rankDebCandidates}
 * before resolving.
 *
 * @param stanzas the stanzas of the Packages file
 * @param repo the repository it comes from
 * @param arch the architecture the image is built for
 * @param options Recommends, and the Packages file for errors
 */
export function debCandidates(
  stanzas: readonly DebStanza[],
  repo: DebRepository,
  arch: string,
  options: DebCandidateOptions = {},
): { candidates: DebCandidate[]; skipped: SkippedDebPackage[] } {
  const candidates: DebCandidate[] = [];
  const skipped: SkippedDebPackage[] = [];
  for (const stanza of stanzas) {
    const a = field(stanza, 'architecture');
    if (a !== undefined && a !== arch && a !== 'all') continue;
    try {
      candidates.push(debCandidate(stanza, repo, arch, options));
    } catch (err) {
      if (!isProvenantError(err, 'INVALID_PACKAGE')) throw err;
      skipped.push({ name: field(stanza, 'package') ?? '', version: field(stanza, 'version') ?? '', reason: err.message });
    }
  }
  return { candidates, skipped };
}

/** A Packages file as {@link debCandidateIndex} takes it. */
export interface DebPackagesFile {
  /** The whole file, verified: in memory, or read a stanza at a time from where it is kept. */
  bytes: { subarray(start: number, end: number): Uint8Array };
  /** Its index (./stanza-index.ts). */
  index: DebStanzaIndex;
  repo: DebRepository;
  /** For errors: the Packages file (or URL). */
  where: string;
  /** Drops a kept file and its index from the cache, when a stanza read from it is damaged (`RepairableError`). */
  repair?: (() => Promise<void>) | undefined;
}

/**
 * The candidates of several Packages files for `arch`, as the resolver looks them up: the same
 * as {@link debCandidates} of every file would give, in the same order, but a stanza is parsed and
 * made a candidate only when its name, or a name it provides, is looked up, and ranked with the
 * other versions of its name in every file ({@link rankDebCandidates}). A malformed stanza is
 * left out when it is reached, as {@link debCandidates} leaves it out.
 *
 * @throws ProvenantError `IO` from a lookup, when a stanza it reaches is not what its index says
 *   (its CRC-32, or its bytes not the one stanza of the name and architecture indexed)
 */
export function debCandidateIndex(
  files: readonly DebPackagesFile[],
  arch: string,
  options: DebCandidateOptions = {},
): CandidateIndex<DebCandidate> {
  const made = files.map(() => new Map<number, DebCandidate | null>());
  const decoder = new TextDecoder('utf-8');
  const make = (f: number, s: number): DebCandidate | null => {
    const file = files[f]!;
    const a = file.index.archs.at(s);
    if (a !== '' && a !== arch && a !== 'all') return null;
    let c = made[f]!.get(s);
    if (c !== undefined) return c;
    const bytes = file.bytes.subarray(file.index.starts[s]!, file.index.ends[s]!);
    // Checked as it is read: a warm build reads only the stanzas it looks up (a damaged cache
    // stops the build rather than giving another image).
    checkStanza(file.index, s, bytes, file.where, file.repair);
    let stanzas: Record<string, string>[];
    try {
      stanzas = parseControlStanzas(decoder.decode(bytes), file.where);
    } catch (err) {
      if (!isProvenantError(err, 'INVALID_PACKAGE')) throw err;
      throw unreadableStanza(file, s, err);
    }
    const stanza = stanzas[0];
    // The stanza the index names, or the index does not describe this file: leaving the stanza
    // out would give another image, silently.
    if (
      stanzas.length !== 1 ||
      stanza === undefined ||
      (stanza.package ?? '') !== file.index.names.at(s) ||
      (stanza.architecture ?? '') !== a
    )
      throw unreadableStanza(file, s);
    try {
      c = debCandidate(stanza, file.repo, arch, { ...options, where: file.where });
    } catch (err) {
      // A malformed stanza is left out, as debCandidates leaves it out (apt warns and goes on).
      if (!isProvenantError(err, 'INVALID_PACKAGE')) throw err;
      c = null;
    }
    made[f]!.set(s, c);
    return c;
  };
  // Names whose candidates (made once each) carry the rank of the name's newest version.
  const ranked = new Set<string>();
  const named = (name: string): DebCandidate[] => {
    const out: DebCandidate[] = [];
    for (const [f, file] of files.entries()) {
      for (const s of stanzasNamed(file.index, name)) {
        const c = make(f, s);
        if (c !== null) out.push(c);
      }
    }
    if (!ranked.has(name)) {
      rankVersions(out);
      ranked.add(name);
    }
    return out;
  };
  return {
    named,
    providing(name) {
      const out: { candidate: DebCandidate; provision: Provision }[] = [];
      for (const [f, file] of files.entries()) {
        for (const s of stanzasProviding(file.index, name)) {
          const candidate = make(f, s);
          if (candidate === null) continue;
          // Ranked with the other versions of its name: a provider's rank is its newest version's.
          if (!ranked.has(candidate.name)) named(candidate.name);
          for (const provision of candidate.provides) if (provision.name === name) out.push({ candidate, provision });
        }
      }
      return out;
    },
    withInstallIf: () => [],
  };
}

/**
 * The error for stanza `s` of `file` when its bytes are not the one stanza its index names: the
 * index was made from another file (a damaged cache), or offsets went wrong.
 */
function unreadableStanza(file: DebPackagesFile, s: number, cause?: unknown): ProvenantError {
  const { starts, ends, names } = file.index;
  const message = `bytes ${starts[s]} to ${ends[s]} are not the stanza of ${JSON.stringify(names.at(s))} its index names: the index does not describe the file`;
  const details = {
    where: file.where,
    cause,
    hint: "build again with an empty --cache-dir, or remove the cache folder's Packages file (its name is the SHA-256 the Release gives)",
  };
  // A kept file and its index are dropped and made again by a build (../../builder/plan.ts).
  return file.repair === undefined ? new ProvenantError('IO', message, details) : new RepairableError('IO', message, details, file.repair);
}

/**
 * The name a requirement matches: `foo:any` stays (only `Multi-Arch: allowed` packages provide
 * it), `foo:native` and `foo:<arch>` for the image's own architecture become `foo`, and another
 * architecture stays qualified, so that nothing in a single-architecture build meets it.
 */
function qualifiedName(r: DebRelation, arch: string): string {
  const q = r.archQualifier;
  if (q === undefined || q === 'native' || q === arch) return r.name;
  return `${r.name}:${q}`;
}

/** `Source: name` or `Source: name (version)`; absent means the package's own name and version. */
function parseSource(text: string | undefined, name: string, version: string): { name: string; version: string } {
  if (text === undefined || text === '') return { name, version };
  const m = /^(\S+)\s*(?:\((.*)\))?$/.exec(text);
  if (m === null) return { name: text, version };
  return { name: m[1] as string, version: m[2]?.trim() || version };
}

/** A field's value, or undefined when the stanza lacks it or it is empty. */
function field(stanza: DebStanza, key: string): string | undefined {
  const v = Object.hasOwn(stanza, key) ? stanza[key] : undefined;
  return v === undefined || v === '' ? undefined : v;
}
