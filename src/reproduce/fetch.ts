/**
 * Fetching the package files a provenance names, for a rebuild: from the URL it names, or from
 * where a `--repository-override OLD=NEW` says the repository moved, each checked against the
 * SHA-256 the provenance gives. The files are kept in the rebuild's work folder, and the lock
 * handed to the builder points at them, so the builder reads each once from disk (and checks it
 * again: apk's `Q1` identity and signature, a .deb's SHA-256).
 *
 * A file whose bytes differ from the provenance's digest is not an error here: it is the answer
 * to "what changed". Its lock entry then names the file as it is now (apk: the identity of its
 * control member; Debian: its SHA-256), so that the rebuild can show where the image differs.
 * Such a rebuild can never be reported as a reproduction of the provenance's package files.
 *
 * The provenance may be unverified, and names its package files itself: files of this machine
 * (a path, `file://`) are read only when the caller allows it (`--allow-local-packages`), and the
 * hosts to be asked are told before anything is fetched.
 */
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isProvenantError, ProvenantError, throwIfAborted } from '../errors.ts';
import { isWithin, makeFolder } from '../io/files.ts';
import { forEachLimited, Limiter } from '../io/limit.ts';
import { digestHex, digestOf } from '../oci/digest.ts';
import { readApkPackage } from '../pkg/apk/package.ts';
import { apkFileKey } from '../pkg/apk/source.ts';
import { readAr } from '../pkg/deb/ar.ts';
import { debMembers } from '../pkg/deb/deb.ts';
import { DownloadCache, fetchFile, isRemote, safeLocation } from '../pkg/fetch.ts';
import type { LockedPackage } from '../pkg/source.ts';
import type { ProvenancePackage } from './provenance.ts';

/** A package file whose bytes are not the ones the provenance names. */
export interface PackageFileChange {
  name: string;
  version: string;
  architecture: string;
  /** Where it was fetched from (after overrides), without credentials. */
  url: string;
  /** The SHA-256 the provenance names. */
  expected: string;
  /** The SHA-256 of the file fetched. */
  found: string;
}

/** One `--repository-override OLD=NEW`, and how many package locations it rewrote. */
export interface OverrideUse {
  from: string;
  to: string;
  used: number;
}

/** Options of {@link fetchPackages}. */
export interface FetchPackagesOptions {
  /** `[OLD, NEW]` location prefixes: a package whose location starts with OLD is fetched from NEW instead. */
  overrides: readonly (readonly [string, string])[];
  /** The folder relative package locations are relative to (the original configuration's folder). */
  baseDir: string | undefined;
  /** The download cache (the builder's), when there is one. */
  cacheDir: string | undefined;
  /** Where the fetched files are written. */
  dir: string;
  /** Downloads at once (default 4). */
  concurrency?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Called as each file is fetched. */
  onFetched?: ((done: number, total: number) => void) | undefined;
  /**
   * Read package files of this machine that the provenance names (a path, `file://`): a build
   * from a local repository records such locations. Off by default, since an unverified
   * provenance may name any file. A location a repository override gives is the caller's own,
   * and is read either way.
   */
  allowLocalFiles?: boolean | undefined;
  /**
   * Every provenance naming these packages was verified (signed by the key or identity given):
   * a refusal of local files then says why it still stands.
   */
  verified?: boolean | undefined;
  /** Called once, before anything is fetched, with where the files will come from. */
  onSources?: ((sources: PackageSources) => void) | undefined;
}

/** Where the package files of a rebuild come from. */
export interface PackageSources {
  /** The hosts (`host:port`) of the http(s) locations, each once, in order of first use. */
  hosts: string[];
  /** How many package files (of an apko configuration: repositories and keys) are read from this machine. */
  localFiles: number;
}

/** The fetched packages: lock entries pointing at local files, and the files whose bytes changed. */
export interface FetchedPackages {
  locked: LockedPackage[];
  changes: PackageFileChange[];
  overrides: OverrideUse[];
  /** Each fetched file's path (a lock entry's `url`) → the location it came from, without credentials, for messages. */
  origins: Map<string, string>;
}

/**
 * Why files of this machine that a recipe names are not read unless allowed. A verified one
 * vouches for the build it describes, but its paths are of the machine that built it: here they
 * may be any file.
 */
export function localFilesReason(verified: boolean, what: string): string {
  return verified
    ? `the ${what} is verified, but its paths name files of the machine that built the image, which here may be any file`
    : `an unverified ${what} may name any file`;
}

/**
 * Fetches every package of `packages` (each file once, whatever the number of platforms naming
 * it) into `options.dir`.
 *
 * @throws ProvenantError `USAGE` for a relative location without `baseDir`, or a local one the
 *   provenance names when `allowLocalFiles` is not set (nothing is fetched then); `UNSAFE_PATH`
 *   for a location with a `..` segment, or one an override sends out of its NEW location
 *   ({@link checkLocation}; nothing is fetched then either); `NOT_FOUND`,
 *   `NETWORK`, `TLS_CERTIFICATE`, `ABORTED` from the download, with a hint about overrides;
 *   `INVALID_PACKAGE` for a changed apk that cannot be read
 */
export async function fetchPackages(packages: readonly ProvenancePackage[], options: FetchPackagesOptions): Promise<FetchedPackages> {
  const overrides = normalizeOverrides(options.overrides);
  const cache = options.cacheDir === undefined ? undefined : new DownloadCache(options.cacheDir);
  await makeFolder(options.dir);
  // The same file (a noarch apk, an arch: all .deb) may be named by several platforms.
  const files = new Map<string, { location: string; expected: string; pkg: ProvenancePackage; local?: string; found?: string }>();
  const used = overrides.map(() => 0);
  const refused: string[] = [];
  for (const p of packages) {
    const which = overrides.findIndex(([from]) => overridden(p.url, [[from, '']]) !== p.url);
    if (which >= 0) used[which] = (used[which] ?? 0) + 1;
    const location = overridden(p.url, overrides);
    if (!isAbsoluteLocation(location) && options.baseDir === undefined) {
      throw new ProvenantError('USAGE', `the package location ${location} is relative to the original build's configuration folder`, {
        where: p.name,
        hint: 'give the folder it is relative to (run from it), or a --repository-override from that relative location to where the repository is now',
      });
    }
    checkLocation(p, location, overrides[which], options.baseDir);
    if (which < 0 && !isRemote(location) && options.allowLocalFiles !== true) refused.push(location);
    const key = `${location}\n${p.sha256}`;
    if (!files.has(key)) files.set(key, { location, expected: p.sha256, pkg: p });
  }
  if (refused.length > 0) {
    const shown = [...new Set(refused)];
    throw new ProvenantError(
      'USAGE',
      `the provenance names package files on this machine (${shown.slice(0, 3).join(', ')}${shown.length > 3 ? `, and ${shown.length - 3} more` : ''}): ${localFilesReason(options.verified === true, 'provenance')}, so they are read only when allowed`,
      {
        where: shown[0],
        hint: 'for an image built from a local repository you trust, pass --allow-local-packages (run from its configuration folder); or serve the repository and give a --repository-override from those locations to its URL',
      },
    );
  }
  const hosts = [...new Set([...files.values()].flatMap((f) => (isRemote(f.location) ? [new URL(f.location).host] : [])))];
  options.onSources?.({ hosts, localFiles: [...files.values()].filter((f) => !isRemote(f.location)).length });
  let done = 0;
  await forEachLimited([...files.values()], new Limiter(options.concurrency ?? 4), async (f) => {
    throwIfAborted(options.signal);
    const bytes = await download(f.location, f.expected, f.pkg, cache, options);
    const found = digestHex(digestOf(bytes));
    if (found !== f.expected) checkStillPackage(bytes, f.location, f.pkg);
    f.found = found;
    f.local = join(options.dir, `${f.found}.${f.pkg.kind}`);
    await writeFile(f.local, bytes);
    options.onFetched?.(++done, files.size);
  });
  const locked: LockedPackage[] = [];
  const changes: PackageFileChange[] = [];
  for (const p of packages) {
    const f = files.get(`${overridden(p.url, overrides)}\n${p.sha256}`);
    if (f?.local === undefined || f.found === undefined) continue;
    const entry: LockedPackage = {
      name: p.name,
      version: p.version,
      architecture: p.architecture,
      url: f.local,
      checksum: p.checksum,
      signature: p.signature,
      control: p.control,
      data: p.data,
    };
    if (f.found !== p.sha256) {
      changes.push({
        name: p.name,
        version: p.version,
        architecture: p.architecture,
        url: safeLocation(f.location),
        expected: p.sha256,
        found: f.found,
      });
      entry.checksum = await checksumNow(f.local, f.found, p);
      entry.signature = undefined;
      entry.control = undefined;
      entry.data = undefined;
    }
    locked.push(entry);
  }
  const origins = new Map<string, string>();
  for (const f of files.values()) if (f.local !== undefined) origins.set(f.local, safeLocation(f.location));
  return {
    locked,
    changes,
    origins,
    overrides: overrides.map(([from, to], i) => ({ from, to, used: used[i] ?? 0 })),
  };
}

/** The file's bytes: from the cache when it holds the expected file, else downloaded (and cached when it is the expected file). */
async function download(
  location: string,
  expected: string,
  pkg: ProvenancePackage,
  cache: DownloadCache | undefined,
  options: FetchPackagesOptions,
): Promise<Uint8Array> {
  const fetchOptions = { baseDir: options.baseDir, signal: options.signal };
  try {
    if (cache !== undefined) {
      // The builder's keys: a cache filled by `provenant build` serves the rebuild.
      const key = pkg.kind === 'deb' ? `deb:${expected}` : apkFileKey(pkg.checksum, location, options.baseDir);
      // The very file the provenance names needs no download: the mirror is not asked then.
      const hit = await cache.get(key);
      if (hit !== undefined && digestHex(digestOf(hit)) === expected) return hit;
      try {
        return await cache.download(location, { sha256: expected }, { ...fetchOptions, key });
      } catch (err) {
        // Not the expected file: fetched again below, to find out how it differs.
        if (!isProvenantError(err, 'DIGEST_MISMATCH')) throw err;
      }
    }
    return await fetchFile(location, fetchOptions);
  } catch (err) {
    if (isProvenantError(err, 'NOT_FOUND', 'NETWORK')) {
      throw new ProvenantError(err.code, `${pkg.name} ${pkg.version} (${pkg.architecture}): ${err.message}`, {
        where: err.where,
        cause: err,
        hint: /answered HTTP 40[13]$/.test(err.message)
          ? // The provenance names repositories without their credentials (../attest/provenance.ts).
            'the repository wants credentials, which the provenance leaves out: give its location with them, PROVENANT_REPOSITORY_OVERRIDE=OLD=http(s)://USER:PASSWORD@HOST/... (from the environment, so that they stay off the command line)'
          : 'if the repository moved, point at where it is now with --repository-override OLD=NEW',
      });
    }
    throw err;
  }
}

/** The lock checksum of a changed file: apk's `Q1` of its control member; a .deb's SHA-256. */
async function checksumNow(local: string, sha256: string, p: ProvenancePackage): Promise<string> {
  if (p.kind === 'deb') return `sha256:${sha256}`;
  const bytes = await fetchFile(local);
  // Read only to learn its identity; the builder reads it again and checks its signature.
  const pkg = await readApkPackage(bytes, { where: safeLocation(p.url), allowUntrusted: true });
  return pkg.checksum;
}

/** Overrides with trailing slashes removed, longest first, so the most specific one wins. */
function normalizeOverrides(list: readonly (readonly [string, string])[]): [string, string][] {
  const out: [string, string][] = [];
  for (const [from, to] of list) {
    const f = from.replace(/\/+$/, '');
    if (f === '') throw new ProvenantError('USAGE', `the repository override ${from}=${to} has an empty OLD location`);
    out.push([f, to.replace(/\/+$/, '')]);
  }
  return out.sort((a, b) => b[0].length - a[0].length);
}

/**
 * A `--repository-override OLD=NEW` value as its two locations, split at the first `=` (a
 * repository location has none before its query, and a package location has no query).
 *
 * @throws ProvenantError `USAGE` without `=`, or with either side empty
 */
export function parseRepositoryOverride(text: string): [string, string] {
  const at = text.indexOf('=');
  const from = at < 0 ? '' : text.slice(0, at).trim();
  const to = at < 0 ? '' : text.slice(at + 1).trim();
  if (from === '' || to === '') {
    throw new ProvenantError('USAGE', `--repository-override ${JSON.stringify(text)} is not OLD=NEW`, {
      hint: 'give the location the provenance names and where that repository is now, e.g. https://old.example/alpine=https://mirror.example/alpine',
    });
  }
  return [from, to];
}

/** `location` with the first matching override applied; OLD matches whole path segments only. */
export function overridden(location: string, overrides: readonly (readonly [string, string])[]): string {
  for (const [from, to] of overrides) {
    if (location === from) return to;
    if (location.startsWith(`${from}/`)) return `${to}${location.slice(from.length)}`;
  }
  return location;
}

/**
 * Refuses a package location that climbs where it should not. The provenance may be unverified,
 * and an override's NEW location is read without `--allow-local-packages` (it is the caller's
 * own): `https://old/alpine/../../../../etc/x` overridden with `https://old/alpine=/srv/mirror`
 * became `/srv/mirror/../../../../etc/x`, a file of this machine read as if the caller had named
 * it. So:
 *
 * - what an override carries over after OLD may have no `..` segment, and the result must lie
 *   within NEW (a folder, or a URL's origin and path);
 * - a URL (`http(s)://`, `file://`) may have no `..` segment anywhere: nothing a build records
 *   has one.
 *
 * `..` is looked for as URLs read it: also percent-encoded (`%2e%2e`, `.%2E`), and with `\` for
 * `/`. A plain path the provenance names itself may climb (a build from `repositories:
 * [../repo]` records `../repo/x86_64/p.apk`): it is read only with `--allow-local-packages`.
 *
 * @throws ProvenantError `UNSAFE_PATH` naming the package
 */
function checkLocation(
  p: ProvenancePackage,
  location: string,
  override: readonly [string, string] | undefined,
  baseDir: string | undefined,
): void {
  const refuse = (why: string): never => {
    throw new ProvenantError('UNSAFE_PATH', `the package location ${writtenLocation(p.url)} ${why}`, {
      where: `${p.name} ${p.version} (${p.architecture})`,
      hint: 'the provenance is crafted or broken: a package location it records names a file of a repository, without ".." segments',
    });
  };
  if (hasScheme(p.url) && hasDotDot(p.url)) refuse('has a ".." segment');
  if (override === undefined) return;
  const [from, to] = override;
  // What follows OLD (`/x86_64/p.apk`); OLD itself is the caller's, and may climb (`../repo`).
  if (hasDotDot(p.url.slice(from.length))) {
    refuse(`has a ".." segment after the overridden ${writtenLocation(from)}, which would climb out of ${writtenLocation(to)}`);
  }
  let within: boolean;
  if (hasScheme(to) && !to.startsWith('file:')) {
    const base = URL.parse(`${to}/`);
    const url = URL.parse(location);
    within = base !== null && url !== null && url.origin === base.origin && `${url.pathname}/`.startsWith(base.pathname);
  } else {
    const local = (l: string): string | undefined => {
      try {
        return l.startsWith('file:') ? fileURLToPath(l) : resolve(baseDir ?? '.', l);
      } catch {
        return undefined;
      }
    };
    const base = local(to);
    const path = local(location);
    within = base !== undefined && path !== undefined && isWithin(base, path);
  }
  if (!within) refuse(`is overridden to ${writtenLocation(location)}, which is not within ${writtenLocation(to)}`);
}

/**
 * True when a `/`- or `\`-separated segment of `location` is `..` as a URL parser reads one
 * (`%2e` is a `.`; a `?` or `#` ends the segment).
 */
function hasDotDot(location: string): boolean {
  return location.split(/[/\\]/).some((segment) => segment.split(/[?#]/, 1)[0]?.replace(/%2e/gi, '.') === '..');
}

/**
 * A location as written, without credentials, query or fragment: {@link safeLocation} parses a
 * URL, which resolves the very `..` segments a message about them must show.
 */
function writtenLocation(location: string): string {
  return location.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/?#]*@/, '$1').replace(/[?#].*$/s, '');
}

function hasScheme(location: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]*:/.test(location);
}

/**
 * A file that is not the one the provenance names is reported with its own SHA-256, as the
 * package the repository serves now; it must still be a package of that kind. The provenance may
 * be unverified and name any file of this machine: its SHA-256 would tell whoever reads the
 * report what the file holds.
 *
 * @throws ProvenantError `INVALID_PACKAGE` when it is no .deb (its ar members as deb(5) has them,
 *   ../pkg/deb/deb.ts debMembers) or no .apk (gzip; ./reproduce.ts reads it whole later)
 */
function checkStillPackage(bytes: Uint8Array, location: string, pkg: ProvenancePackage): void {
  const where = safeLocation(location);
  let ok: boolean;
  if (pkg.kind === 'deb') {
    try {
      const members = readAr(bytes, { where }).map((m) => ({ ...m, size: m.data.length }));
      debMembers(members, (m, n) => m.data.subarray(0, n), where);
      ok = true;
    } catch (err) {
      if (!isProvenantError(err, 'INVALID_ARCHIVE', 'TRUNCATED', 'INVALID_PACKAGE')) throw err;
      ok = false;
    }
  } else {
    // gzip's magic (../archive/gzip.ts, which this module may not import, checks the same).
    ok = bytes[0] === 0x1f && bytes[1] === 0x8b;
  }
  if (ok) return;
  throw new ProvenantError('INVALID_PACKAGE', `${where} is not the package ${pkg.name} ${pkg.version}, nor any ${pkg.kind} package`, {
    where: pkg.name,
  });
}

/** A URL with a scheme, or an absolute path: not relative to any folder. */
function isAbsoluteLocation(location: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]*:/.test(location) || location.startsWith('/');
}
