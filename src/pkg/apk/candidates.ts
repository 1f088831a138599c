/**
 * apk packages as resolver candidates, and apk's version scheme for the resolver.
 */
import { isProvenantError, ProvenantError } from '../../errors.ts';
import type { Candidate, Constraint, Requirement, VersionScheme } from '../resolve/resolve.ts';
import type { ApkPackageInfo } from './apkindex.ts';
import { type ApkDependency, type ApkVersionOp, compareApkVersions, parseApkDependency, satisfiesApkConstraint } from './version.ts';

/** An apk package the resolver can choose, with the index entry and repository it came from. */
export interface ApkCandidate extends Candidate {
  info: ApkPackageInfo;
  /** The repository's base URL (without the arch), as configured. */
  repository: string;
}

/** A version that ends with a package release (`-r3`). */
const WITH_RELEASE = /-r\d+$/;

/**
 * A version of `name` as apko reads it (ResolvePackageNameVersionPin): a `so:` version without a
 * package release is `0.<version>`. Wolfi's indexes still hold builds from before melange#1871,
 * whose `so:` provides carry the soname's version (`so:libpng16.so.16=16`) rather than the
 * package's (`=1.6.44-r0`).
 */
export function apkoSoVersion(name: string, version: string): string {
  return name.startsWith('so:') && version !== '' && !WITH_RELEASE.test(version) ? `0.${version}` : version;
}

/**
 * apk-tools' version order and operators. A `><` checksum pin matches no version: it names the
 * package with that checksum. Providers of a name rank by the version they provide of it, as in
 * apk-tools and apko.
 */
export const apkVersionScheme: VersionScheme = {
  compare: compareApkVersions,
  rankByProvidedVersion: true,
  // A pre-melange#1871 `so:` provision ranked as given (`16`) would beat `1.6.44-r0` and the
  // oldest build would win: read as apko does (`0.16`), it ranks below.
  providedRank: apkoSoVersion,
  satisfies(version: string, constraint: Constraint): boolean {
    if (constraint.op === '><') return false;
    return satisfiesApkConstraint(version, constraint.op as ApkVersionOp, constraint.version);
  },
  // `name><Q1...` pins the package whose identity checksum (the index's C:, a candidate's id) it
  // gives, as apk-tools' apk_dep_analyze compares the checksum.
  matchesId: (id, constraint) => (constraint.op === '><' ? id === constraint.version : undefined),
};

/**
 * Turns an index entry into a candidate. Dependencies starting with `!` become conflicts, and
 * `install_if` conditions starting with `!` keep the flag (met while nothing installed meets them).
 *
 * @throws ProvenantError `INVALID_PACKAGE` naming the package when one of its fields holds a
 *   malformed dependency
 */
function apkCandidate(info: ApkPackageInfo, repository: string, repoTag: string, repoOrder: number, where: string): ApkCandidate {
  const parse = (text: string): ApkDependency => {
    try {
      return parseApkDependency(text);
    } catch (err) {
      if (!isProvenantError(err)) throw err;
      throw new ProvenantError('INVALID_PACKAGE', `${info.name}-${info.version}: ${err.message}`, { where, cause: err });
    }
  };
  const depends: Requirement[][] = [];
  const conflicts: Requirement[] = [];
  for (const d of info.depends.map(parse)) {
    if (d.conflict) conflicts.push(requirementOf(d));
    else depends.push([requirementOf(d)]);
  }
  return {
    id: info.checksum,
    name: info.name,
    version: info.version,
    provides: info.provides
      .map(parse)
      .map((p) => (p.op === '=' && p.version !== undefined ? { name: p.name, version: p.version } : { name: p.name })),
    depends,
    conflicts,
    // `!name` in install_if: only while nothing installed meets it.
    installIf: info.installIf.map(parse).map((d) => ({ ...requirementOf(d), conflict: d.conflict })),
    providerPriority: info.providerPriority,
    repoTag,
    repoOrder,
    info,
    repository,
  };
}

/** A package left out of resolution, and why. */
export interface SkippedPackage {
  name: string;
  version: string;
  reason: string;
}

/**
 * Turns a whole index into candidates. A package with a malformed dependency is left out and
 * reported rather than failing the index: real indexes hold a few (Alpine 3.16 has
 * `pc:librtmp=v2.4`), and apk-tools cannot install those packages either.
 */
export function apkCandidates(
  infos: readonly ApkPackageInfo[],
  repository: string,
  repoTag: string,
  repoOrder: number,
  where: string,
): { candidates: ApkCandidate[]; skipped: SkippedPackage[] } {
  const candidates: ApkCandidate[] = [];
  const skipped: SkippedPackage[] = [];
  for (const info of infos) {
    try {
      candidates.push(apkCandidate(info, repository, repoTag, repoOrder, where));
    } catch (err) {
      if (!isProvenantError(err, 'INVALID_PACKAGE')) throw err;
      skipped.push({ name: info.name, version: info.version, reason: err.message });
    }
  }
  return { candidates, skipped };
}

/** A dependency atom as a resolver requirement. */
export function requirementOf(d: ApkDependency): Requirement {
  return {
    name: d.name,
    constraint: d.op === undefined || d.version === undefined ? undefined : { op: d.op, version: d.version },
    tag: d.tag,
  };
}
