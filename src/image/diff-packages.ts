/**
 * Packages of two images, compared: from each image's package database (apk's installed
 * database, dpkg's status or distroless' status.d, read off the flattened filesystem) or, for an
 * image without one, from an attached SPDX or CycloneDX SBOM. Which package owns which path
 * comes from the same databases (apk's `R:` lines, dpkg's `info/*.list`, status.d's `.md5sums`).
 */

import { isObject } from '../oci/validate.ts';
import { apkChecksum } from '../pkg/apk/inventory.ts';
import { cycloneDxInstalled, spdxInstalled } from '../sbom/installed.ts';
import { compareText } from './diff-config.ts';
import type { FileDiff, PackageChange, PackageDiff, PackageOrigin, PackageRef } from './diff-types.ts';
import { inventoryFromFilesystem, isPackageDatabasePath, type LayerFilesystem } from './filesystem.ts';
import { predicateDocument, type ReadStatement } from './statements.ts';

/** A package as both sources describe it. */
export interface PackageInfo {
  ecosystem: string;
  name: string;
  version: string;
  arch: string;
  /** The package's own identity (apk's `C:` checksum), when the source has one. */
  checksum?: string;
  /** The source package (apk origin, deb Source), when known. */
  source?: string;
}

/** An image's packages and who owns which path (paths without a leading `/`). */
export interface PackageView {
  source: PackageOrigin;
  packages: PackageInfo[];
  owners: Map<string, string>;
}

/** The bodies the package comparison reads while the filesystem is walked. */
export function isPackageMetadataPath(path: string): boolean {
  return isPackageDatabasePath(path) || /^var\/lib\/dpkg\/info\/[^/]+\.list$/.test(path);
}

const SPDX = 'https://spdx.dev/Document';
const CYCLONEDX = 'https://cyclonedx.org/bom';

/**
 * The packages of a filesystem walked with `keep: isPackageMetadataPath`; undefined when it has
 * no package database.
 *
 * @throws ProvenantError `INVALID_PACKAGE` when a database does not parse
 */
export function packagesFromFilesystem(fs: LayerFilesystem, image: { name: string; digest: string }): PackageView | undefined {
  const inventory = inventoryFromFilesystem(fs, { ...image, architecture: '', os: '' });
  if (inventory === undefined) return undefined;
  const owners = new Map<string, string>();
  const own = (path: string, pkg: string): void => {
    const p = path.replace(/^\/+/, '').replace(/\/+$/, '');
    // Folders are listed by every package with files in them; the first keeps them.
    if (p !== '' && p !== '.' && !owners.has(p)) owners.set(p, pkg);
  };
  const decoder = new TextDecoder();
  for (const pkg of inventory.packages) for (const f of pkg.files ?? []) own(f.path, pkg.name);
  for (const path of fs.keptPaths()) {
    const list = /^var\/lib\/dpkg\/info\/([^/:]+)(?::[^/]+)?\.list$/.exec(path);
    const sums = /^var\/lib\/dpkg\/status\.d\/([^/]+)\.md5sums$/.exec(path);
    if (list === null && sums === null) continue;
    const text = decoder.decode(fs.body(path));
    for (const line of text.split('\n')) {
      if (list !== null) own(line, list[1] as string);
      // md5sums lines are `<md5>  <path>`.
      else if (sums !== null && line.length > 34) own(line.slice(34), sums[1] as string);
    }
  }
  const packages = inventory.packages.map((p): PackageInfo => {
    const info: PackageInfo = { ecosystem: p.ecosystem, name: p.name, version: p.version, arch: p.arch };
    // apk's `C:` as hex (the form diff has always shown), else the file's SHA-256 where known.
    const checksum = (p.identity === undefined ? undefined : apkChecksum(p.identity)?.hex) ?? p.checksums.sha256;
    if (checksum !== undefined) info.checksum = checksum;
    if (p.source !== '') info.source = p.source;
    return info;
  });
  return { source: packages[0]?.ecosystem === 'apk' ? 'apk' : 'dpkg', packages, owners };
}

/** The packages an attached SPDX 2.x or CycloneDX SBOM lists; undefined when none is attached. */
export function packagesFromSbom(statements: readonly ReadStatement[]): PackageView | undefined {
  // A JSON document attested as text (cosign's --type spdx) is read as the document it holds.
  const spdx = predicateDocument(statements.find((s) => s.predicateType === SPDX)?.statement.predicate);
  if (isObject(spdx) && Array.isArray(spdx.packages)) {
    const packages: PackageInfo[] = [];
    // An attestation is anyone's JSON: what is not an object where one belongs is passed over.
    for (const p of spdx.packages) {
      if (!isObject(p) || typeof p.name !== 'string' || !spdxInstalled(p.primaryPackagePurpose)) continue;
      const refs = (Array.isArray(p.externalRefs) ? p.externalRefs : []).filter(isObject);
      const purl = refs.find((r) => r.referenceType === 'purl')?.referenceLocator;
      packages.push(fromPurl(p.name, typeof p.versionInfo === 'string' ? p.versionInfo : '', typeof purl === 'string' ? purl : undefined));
    }
    return { source: 'sbom', packages: packages.filter((p) => p.ecosystem !== 'oci'), owners: new Map() };
  }
  const cdx = statements.find((s) => s.predicateType === CYCLONEDX)?.statement.predicate;
  if (isObject(cdx) && Array.isArray(cdx.components)) {
    const packages: PackageInfo[] = [];
    for (const c of cdx.components) {
      if (!isObject(c) || typeof c.name !== 'string' || !cycloneDxInstalled(c.type)) continue;
      packages.push(fromPurl(c.name, typeof c.version === 'string' ? c.version : '', typeof c.purl === 'string' ? c.purl : undefined));
    }
    return { source: 'sbom', packages, owners: new Map() };
  }
  return undefined;
}

/** Ecosystem and arch from a package URL (https://github.com/package-url/purl-spec). */
function fromPurl(name: string, version: string, purl: string | undefined): PackageInfo {
  const m = purl === undefined ? null : /^pkg:([^/]+)\/[^?#]*(?:\?([^#]*))?/.exec(purl);
  const arch = m?.[2] === undefined ? '' : (new URLSearchParams(m[2]).get('arch') ?? '');
  return { ecosystem: m?.[1] ?? 'unknown', name, version, arch };
}

/** What a view gives when an image has neither a database nor an SBOM. */
export const NO_PACKAGES: PackageView = { source: 'none', packages: [], owners: new Map() };

/**
 * Packages added, removed and changed, with the paths of `files` each owns and the layers those
 * are in. Packages are matched by ecosystem and name, and by arch too for a name that repeats
 * in either image, as dpkg's multi-arch packages do.
 */
export function packageDiff(a: PackageView, b: PackageView, files: FileDiff): PackageDiff {
  const touched = new Map<string, { paths: Set<string>; layersA: Set<number>; layersB: Set<number> }>();
  const touch = (pkg: string | undefined, path: string, layerA: number | undefined, layerB: number | undefined): void => {
    if (pkg === undefined) return;
    const t = touched.get(pkg) ?? { paths: new Set<string>(), layersA: new Set<number>(), layersB: new Set<number>() };
    touched.set(pkg, t);
    t.paths.add(path);
    if (layerA !== undefined) t.layersA.add(layerA);
    if (layerB !== undefined) t.layersB.add(layerB);
  };
  for (const f of files.added) touch(f.package, f.path, undefined, f.layer);
  for (const f of files.removed) touch(f.package, f.path, f.layer, undefined);
  for (const c of files.changed) {
    touch(c.a.package, c.path, c.a.layer, c.b.layer);
    if (c.b.package !== c.a.package) touch(c.b.package, c.path, c.a.layer, c.b.layer);
  }
  const filesOf = (name: string): string[] => [...(touched.get(name)?.paths ?? [])].sort(compareText);
  // dpkg installs a Multi-Arch: same package once per architecture (libc6:amd64 and libc6:i386).
  // A name that repeats on either side is matched by name and arch on both, so that adding the
  // i386 build adds it rather than replacing the amd64 one.
  const repeated = new Set([...repeatedNames(a.packages), ...repeatedNames(b.packages)]);
  const mapA = keyed(a.packages, repeated);
  const mapB = keyed(b.packages, repeated);
  const out: PackageDiff = { source: { a: a.source, b: b.source }, added: [], removed: [], changed: [] };
  const ref = (p: PackageInfo): PackageRef => {
    const r: PackageRef = { name: p.name, version: p.version, ecosystem: p.ecosystem };
    if (p.arch !== '') r.arch = p.arch;
    if (repeated.has(baseKey(p))) r.byArch = true;
    const f = filesOf(p.name);
    if (f.length > 0) r.files = f;
    return r;
  };
  for (const key of [...new Set([...mapA.keys(), ...mapB.keys()])].sort(compareText)) {
    const x = mapA.get(key);
    const y = mapB.get(key);
    if (x === undefined && y !== undefined) out.added.push(ref(y));
    else if (y === undefined && x !== undefined) out.removed.push(ref(x));
    else if (x !== undefined && y !== undefined) {
      const fields = (['version', 'arch', 'checksum', 'source'] as const).filter((f) => (x[f] ?? '') !== (y[f] ?? ''));
      if (fields.length === 0) continue;
      const side = (p: PackageInfo): PackageChange['a'] => ({
        version: p.version,
        ...(p.arch === '' ? {} : { arch: p.arch }),
        ...(p.checksum === undefined ? {} : { checksum: p.checksum }),
      });
      const t = touched.get(y.name);
      out.changed.push({
        name: y.name,
        ecosystem: y.ecosystem,
        ...(repeated.has(baseKey(y)) ? { byArch: true as const } : {}),
        fields: [...fields],
        a: side(x),
        b: side(y),
        files: filesOf(y.name),
        layers: { a: [...(t?.layersA ?? [])].sort((i, j) => i - j), b: [...(t?.layersB ?? [])].sort((i, j) => i - j) },
      });
    }
  }
  return out;
}

function baseKey(p: PackageInfo): string {
  return `${p.ecosystem}/${p.name}`;
}

/** The ecosystem/name keys that more than one package of `packages` has. */
function repeatedNames(packages: readonly PackageInfo[]): Set<string> {
  const seen = new Set<string>();
  const out = new Set<string>();
  for (const p of packages) {
    const key = baseKey(p);
    if (seen.has(key)) out.add(key);
    seen.add(key);
  }
  return out;
}

function keyed(packages: readonly PackageInfo[], byArch: ReadonlySet<string>): Map<string, PackageInfo> {
  const out = new Map<string, PackageInfo>();
  for (const p of packages) out.set(byArch.has(baseKey(p)) ? `${baseKey(p)}:${p.arch}` : baseKey(p), p);
  return out;
}
