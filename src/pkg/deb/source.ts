/**
 * Debian repositories as a {@link PackageSource}: `deb` lines in `contents.repositories` resolve
 * through signed InRelease files and Packages indexes, .debs are verified against Packages and
 * unpacked into the tree, maintainer scripts never run, and what they would have made is made
 * declaratively (the CA bundle, /etc/localtime, the alternatives their postinsts register), with
 * the dpkg database as distroless writes it, or as dpkg itself does when dpkg is installed.
 */
import { basename } from 'node:path';
import { isProvenantError, ProvenantError, RepairableError, urlWithoutUserInfo } from '../../errors.ts';
import { noteRecordsDropped } from '../../io/memory.ts';
import { ACCOUNTS_FILE_MAX, bodySize, readBodyUpTo } from '../../vfs/body.ts';
import type { SpilledFiles } from '../../vfs/spill.ts';
import type { Tree } from '../../vfs/tree.ts';
import {
  type DownloadCache,
  type FetchFileOptions,
  fetchFile,
  isRemote,
  joinLocation,
  listedSize,
  safeLocation,
  withRepositoryCredentials,
} from '../fetch.ts';
import { dependencyOrder } from '../order.ts';
import { debOpOfWritten } from '../relation-ops.ts';
import type { CandidateIndex, Request } from '../resolve/resolve.ts';
import {
  type FetchedPackage,
  filesOnDemand,
  type InstalledPackage,
  type InstallTimes,
  type LockedPackage,
  type LockSources,
  MissingArchitectureError,
  type PackageSource,
  type PackageSourceOptions,
  type SourceIndex,
} from '../source.ts';
import { countEntries, countFiles, fileBodies, keepIndex, loadUnpacked, unpackedDataKey } from '../unpacked.ts';
import { alternativesPaths, makeAlternatives, packageAlternatives } from './alternatives.ts';
import { apkArchOfDeb, DEB_ARCH, DEB_NAMES, DEB_PLATFORM } from './arch.ts';
import { type DebCandidate, type DebPackagesFile, debCandidateIndex, debVersionScheme } from './candidates.ts';
import { type DebPackage, debMismatchHint, readDeb } from './deb.ts';
import { type DebPackagesIndex, fetchDebianIndex } from './fetch-index.ts';
import {
  CERTS_CONF,
  CERTS_DIR,
  caBundle,
  type InstalledDeb,
  installDeb,
  LOCAL_CERTS_DIR,
  setTimezone,
  writeDebDatabase,
  ZONEINFO,
} from './install.ts';
import { debDependencies, debInventoryPackage } from './inventory.ts';
import { keepDebControl, keptDebKey, keptDebPackage, loadKeptDeb } from './kept.ts';
import { DEBIAN_ARCHIVE_KEYRING, LazyDebKeyring } from './keyring.ts';
import { type DebRelation, parseDebRelations } from './relations.ts';
import { debPinPriority, keptPackagesKey, UnpublishedArchitectureError } from './release.ts';
import { type DebSource, formatSourceLine, parseSourceLine } from './sources.ts';
import {
  DamagedKeptFile,
  type DebStanzaIndex,
  decodeStanzaIndex,
  encodeStanzaIndex,
  indexDebStanzaFile,
  indexDebStanzas,
  readAt,
} from './stanza-index.ts';
import { streamDebFile } from './stream.ts';

// A lock's Debian architecture read back as `--arch` takes it, for the command line, which loads
// this module (its source) only for a lock that holds a .deb.
export { apkArchOfDeb } from './arch.ts';

const { closeSync, openSync } = process.getBuiltinModule('node:fs');

/**
 * A .deb must be the package its lock entry names: the control file's `Package`, `Version` and
 * `Architecture` are the entry's name, version and architecture. A lock names it as Debian does
 * (`armhf`, written by {@link DebRepositorySource.lockEntry}), so that name is taken as it is:
 * mapped through {@link DEB_ARCH} first, Debian's armhf would become armel (apk's armhf is arm/v6,
 * Debian's armel) and every arm/v7 .deb be refused. A provenance of the apk build type names it
 * as apk does (`x86_64`), so a name that is no Debian architecture is taken as apk's. An `Architecture: all`
 * package serves every architecture, and its entry names the platform's (as apk's noarch does,
 * ../apk/source.ts checkIdentity).
 */
function checkDebIdentity(pkg: DebPackage, p: LockedPackage, where: string): void {
  const debArch = p.architecture;
  const named = pkg.architecture === debArch || (!DEB_NAMES.has(debArch) && pkg.architecture === DEB_ARCH[debArch]);
  if (pkg.name !== p.name || pkg.version !== p.version) {
    throw new ProvenantError('DIGEST_MISMATCH', `${where} is ${pkg.name} ${pkg.version}, not ${p.name} ${p.version}`, {
      where,
      hint: 'the lock, or the provenance it was made from, names the file by the SHA-256 of another package: it was edited or is wrong (for a lock of yours, lock again: provenant lock)',
    });
  }
  if (pkg.architecture !== 'all' && debArch !== '' && !named) {
    throw new ProvenantError('DIGEST_MISMATCH', `${where} is built for ${pkg.architecture}, not ${debArch}`, { where });
  }
}

/**
 * How a message about the configuration's architecture `arch` (apk's name) names it: Debian's
 * name, with the configuration's and the platform when they differ, so that a message that goes
 * on in Debian's names (a Release's Architectures) is read in one spelling. When the names
 * `listed` include the configuration's with another meaning (apk's armhf is arm/v6, Debian's
 * armhf arm/v7), a note says which is which.
 */
function debArchSpelled(arch: string, listed: readonly string[] = []): { name: string; note?: string } {
  const debArch = DEB_ARCH[arch] ?? arch;
  if (debArch === arch) return { name: debArch };
  const platform = DEB_PLATFORM[debArch];
  const name = `${debArch} (Debian's name for ${arch}${platform === undefined ? '' : `, ${platform}`})`;
  if (!listed.includes(arch)) return { name };
  const apkOf = apkArchOfDeb(arch);
  const theirs = DEB_PLATFORM[arch];
  return {
    name,
    note: `its ${arch} is Debian's${theirs === undefined ? '' : `, ${theirs}`}${apkOf === undefined ? '' : ` (${apkOf} in archs)`}, not the configuration's ${arch}`,
  };
}

/**
 * Debian architectures that are not the image's: a qualifier naming one asks for a foreign
 * package (multiarch), which is refused as such rather than as a name that is no architecture.
 * The release architectures and the ports' (dpkg's data/cputable and data/ostable give more).
 */
const OTHER_DEB_ARCHS: ReadonlySet<string> = new Set([
  ...Object.keys(DEB_PLATFORM),
  ...['alpha', 'hppa', 'hurd-amd64', 'hurd-i386', 'ia64', 'm68k', 'mips64el', 'mipsel', 'powerpc', 'ppc64', 'sh4', 'sparc64', 'x32'],
]);

/**
 * A requested package: `name`, `name=version` (apt's pin) or `name (>= version)`, each with an
 * architecture qualifier as apt takes one (`name:arch`, `name:arch=version`).
 *
 * apt-get install reads `:native` and `:all` as the native package, `:any` as the one it prefers
 * (the native one, pkgCache::GrpIterator::FindPkg), and `:ARCH` as that architecture's package,
 * which on any other than the native one is a foreign package (multiarch, with `dpkg
 * --add-architecture`). An image here holds its own architecture's packages only, so a qualifier
 * naming another is refused, not dropped: dropped, `libc6:i386` installed amd64's libc6 on amd64.
 * The restrictions of build relations (`dash [!amd64]`, `<!nocheck>`), which apt-get install does
 * not take, are refused too: `contents.packages` installs every entry on every architecture built.
 *
 * @param debArch the Debian architecture being built, whose name a qualifier may give; without
 *   it (asking only for the name) a qualifier is not checked
 * @throws ProvenantError `INVALID_CONFIG` for a qualifier naming another architecture, a
 *   restriction, or anything but one package
 */
function debRequest(text: string, where: string, debArch?: string): Request {
  // apt's pin, `name[:arch]=version`, is no relation syntax: what comes before the `=` is read as
  // a relation is (its name and qualifier), and the version after it is the constraint.
  const pin = /^([^\s=()[\]<>|,]+)=(\S+)$/.exec(text);
  // apk's way, `name>=2.0` or `name<<3`: dpkg reads the operator as part of the name (or `<` as a
  // build profile list), which says nothing of the mistake.
  const apkStyle = pin === null ? /^([^\s=()[\]<>|,]+)\s*(<<|<=|>=|>>|<|>)\s*([^\s()[\]<>|,]+)$/.exec(text) : null;
  if (apkStyle !== null) {
    const [, name, op, version] = apkStyle as unknown as [string, string, string, string];
    // apk's `<` and `>` are strict: Debian's `<<` and `>>` (its own `<` and `>` mean `<=` and `>=`).
    const debOp = debOpOfWritten(op);
    throw new ProvenantError(
      'INVALID_CONFIG',
      `contents.packages: ${JSON.stringify(text)} writes the version relation without parentheses, as apk does; a Debian package takes it in parentheses`,
      { where, hint: `write ${JSON.stringify(`${name} (${debOp} ${version})`)}, or ${name}=VERSION for one version` },
    );
  }
  let entries: DebRelation[][];
  try {
    entries = parseDebRelations(pin === null ? text : (pin[1] as string), 'contents.packages', where);
  } catch (err) {
    // The parser's hint is for control fields (alternatives, several entries), which an item is not.
    if (!isProvenantError(err, 'INVALID_PACKAGE')) throw err;
    throw new ProvenantError('INVALID_CONFIG', err.message.replace(/^the contents\.packages field /, 'contents.packages: '), {
      where,
      cause: err,
      hint: REQUEST_HINT,
    });
  }
  const alternatives = entries[0];
  const r = alternatives?.[0];
  if (entries.length !== 1 || alternatives === undefined || alternatives.length !== 1 || r === undefined) {
    throw new ProvenantError(
      'INVALID_CONFIG',
      `contents.packages: ${JSON.stringify(text)} is not one Debian package (${entries.length > 1 ? 'several, separated by ","' : 'alternatives, separated by "|"'}): an item is one package, and every item is installed`,
      { where, hint: `write each package as its own list item, and choose one of any alternatives; ${REQUEST_HINT}` },
    );
  }
  const restriction =
    r.architectures === undefined ? r.profiles?.map((p) => `<${p.join(' ')}>`).join(' ') : `[${r.architectures.join(' ')}]`;
  if (restriction !== undefined) {
    throw new ProvenantError(
      'INVALID_CONFIG',
      `contents.packages: ${JSON.stringify(text)} has the restriction ${restriction}, which only build relations (Build-Depends) take: every package listed is installed on every architecture built`,
      { where, hint: 'list the package without it, and build the architectures that need another list from a configuration of their own' },
    );
  }
  checkQualifier(text, r.archQualifier, debArch, where);
  if (pin !== null) return { name: r.name, constraint: { op: '=', version: pin[2] as string } };
  return { name: r.name, constraint: r.op === undefined || r.version === undefined ? undefined : { op: r.op, version: r.version } };
}

/**
 * A `Filename` as a URL path: each segment percent-encoded where a URL path may not hold the
 * character as it is (`%`, a space, `#`, `?`, a non-ASCII one), as apt quotes the path it asks
 * for (QuoteString in methods/http.cc); `%` too, which a server would read as an escape. What a
 * path segment takes as it is (RFC 3986 pchar: `+`, `~`, `:`...) stays, so ordinary URLs are
 * unchanged. A `file:` URL is read back through fileURLToPath, which decodes the same escapes.
 */
function encodePoolPath(filename: string): string {
  return filename
    .split('/')
    .map((segment) => segment.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@]/gu, (ch) => encodeURIComponent(ch)))
    .join('/');
}

/** The forms of a `contents.packages` entry, for the hint of an entry that is none of them. */
const REQUEST_HINT =
  'an item is name, name=VERSION or "name (>= VERSION)" (the relation one of <<, <=, =, >=, >>), for example "libc6 (>= 2.36)"';

/** Refuses an architecture qualifier that names another package than the native one ({@link debRequest}). */
function checkQualifier(text: string, qualifier: string | undefined, debArch: string | undefined, where: string): void {
  if (qualifier === undefined || debArch === undefined) return;
  if (qualifier === debArch || qualifier === 'native' || qualifier === 'all' || qualifier === 'any') return;
  const platform = DEB_PLATFORM[debArch];
  const building = `${debArch}${platform === undefined ? '' : ` (${platform})`}`;
  if (!OTHER_DEB_ARCHS.has(qualifier)) {
    throw new ProvenantError(
      'INVALID_CONFIG',
      `contents.packages: ${JSON.stringify(text)} names the architecture ${JSON.stringify(qualifier)}, which is no Debian architecture`,
      { where, hint: `write the package without ":${qualifier}"; the image's packages are ${building}'s` },
    );
  }
  // The configuration's name of that architecture (Debian's armhf is apk's armv7), if one is built.
  const archsName = apkArchOfDeb(qualifier);
  const other =
    archsName === undefined ? `; Provenant builds no ${qualifier} images` : `, or build an image for it (archs: [${archsName}])`;
  throw new ProvenantError(
    'INVALID_CONFIG',
    `contents.packages: ${JSON.stringify(text)} asks for ${qualifier}'s package in an image of ${building}: packages of a foreign architecture (multiarch, dpkg --add-architecture) are not installed`,
    {
      where,
      hint: `write the package without ":${qualifier}" for the image's own architecture (":native" and ":${debArch}" name it)${other}`,
    },
  );
}

/**
 * Debian sources (one-line sources.list entries) and the keyrings that sign them. The lock pins
 * each .deb by its URL (the pool path under the mirror) and SHA-256.
 */
export class DebRepositorySource implements PackageSource<DebCandidate, DebPackage> {
  readonly ecosystem = 'deb';
  readonly versionScheme = debVersionScheme;
  /** base-files is Essential: nothing depends on it, so an image has it only when asked for. */
  readonly osReleasePackage = 'base-files';
  readonly #options: PackageSourceOptions;
  readonly #sources: DebSource[];
  /** One read per keyring, shared by the suites fetched at once (parsed only to check a signature). */
  readonly #keyrings = new Map<string, Promise<LazyDebKeyring>>();
  /** Per Debian architecture whose indexes were read: the names of its `Essential: yes` packages, found when first asked. */
  readonly #essential = new Map<string, () => ReadonlySet<string>>();

  /** @throws ProvenantError `INVALID_CONFIG` for a repository line that is not a Debian source */
  constructor(options: PackageSourceOptions) {
    this.#options = options;
    this.#sources = options.repositories.map((r) => parseSourceLine(r, { where: options.configPath }));
  }

  archName(arch: string): string {
    return DEB_ARCH[arch] ?? arch;
  }

  request(text: string, where: string, arch?: string): Request {
    return debRequest(text, where, arch === undefined ? undefined : this.archName(arch));
  }

  /**
   * @throws ProvenantError `INVALID_CONFIG` for a `contents.keyring`, which nothing here reads
   *   (refused here, not when the source is opened, so that the builder's refusals of apk's keys,
   *   which name their line, come first: ../../builder/config.ts checkEcosystemKeys);
   *   `NOT_FOUND` for an architecture no source has
   */
  async readIndex(arch: string): Promise<SourceIndex<DebCandidate>> {
    const { signal, cache, configPath, keyring } = this.#options;
    if (keyring.length > 0) throw keyringNotRead(keyring, this.#sources[0], configPath);
    const debArch = this.archName(arch);
    // The suites are fetched and verified at once (each waits on the network), then read in order.
    const wanted = [...this.#sources.entries()].filter(([, s]) => s.archs === undefined || s.archs.includes(debArch));
    if (wanted.length === 0 && this.#sources.length > 0) {
      // Every source is limited to other architectures (`[arch=amd64]`): said as a repository
      // without the architecture, not as packages nothing provides.
      const limits = [...new Set(this.#sources.flatMap((s) => s.archs ?? []))].join(', ');
      const repository = this.#sources.map((s) => `${safeLocation(s.url)} ${s.suite}`).join(', ');
      const lines = this.#sources.length === 1 ? 'its line is' : 'every line is';
      const why = new ProvenantError('NOT_FOUND', `${lines} limited to ${limits} ([arch=...]), not ${debArch}`);
      throw new MissingArchitectureError(repository, arch, why, configPath, debArchSpelled(arch, limits.split(', ')));
    }
    const fetched = await Promise.all(
      wanted.map(async ([, s]) =>
        fetchDebianIndex({
          url: s.url,
          suite: s.suite,
          components: s.components,
          arch: debArch,
          keyring: await this.#keyringFor(s),
          cacheDir: cache?.dir,
          byHash: s.byHash,
          checkValidUntil: s.checkValidUntil,
          signal,
        }).catch((err: unknown) => {
          if (!(err instanceof UnpublishedArchitectureError)) throw err;
          throw new MissingArchitectureError(
            `${safeLocation(s.url)} ${s.suite}`,
            arch,
            err,
            configPath,
            debArchSpelled(arch, err.published),
          );
        }),
      ),
    );
    const files: SourceIndex['files'] = [];
    const packagesFiles: DebPackagesFile[] = [];
    for (const [k, [order, s]] of wanted.entries()) {
      const index = fetched[k]!;
      const verifiedBy =
        index.release.signers.length === 0
          ? undefined
          : {
              keyring: (await this.#keyringFor(s)).files.map((f) => ({
                name: basename(f.where),
                sha256: f.sha256,
                ...(isRemote(f.where) ? { uri: urlWithoutUserInfo(f.where) } : {}),
              })),
              signers: [...new Set(index.release.signers.map((x) => x.fingerprint))],
            };
      for (const f of index.files) {
        const signed = f.url === index.release.where && verifiedBy !== undefined;
        files.push({ url: f.url, digest: `sha256:${f.sha256}`, ...(signed ? { verifiedBy } : {}) });
      }
      for (const i of index.indexes) {
        const sha256 = i.sha256;
        // A damaged kept file: dropped with its index, and made again from the index the Release checks.
        const repair =
          i.path === undefined || cache === undefined
            ? undefined
            : async () => {
                await cache.forget(keptPackagesKey(sha256));
                await cache.forget(stanzaIndexKey(sha256));
              };
        const stanzas = await stanzaIndexOf(i, i.file.url, cache).catch((err: unknown) => {
          // Indexed anew and found damaged whole: repaired as a damaged stanza is (../../builder/plan.ts).
          if (!(err instanceof DamagedKeptFile) || repair === undefined) throw err;
          throw new RepairableError(err.code, err.message, { where: err.where, hint: err.hint, cause: err }, repair);
        });
        packagesFiles.push({
          // A Packages file the cache keeps is read a stanza at a time: most are never looked up.
          bytes: i.path === undefined ? i.bytes : fileStanzas(i.path),
          index: stanzas,
          repo: { url: s.url, suite: s.suite, component: i.component, order, pinPriority: debPinPriority(index.release) },
          where: i.file.url,
          repair,
        });
      }
    }
    // Stanzas become candidates only when the resolver looks their names up.
    const candidates = debCandidateIndex(packagesFiles, debArch, { withRecommends: this.#options.recommends === true });
    let essential: ReadonlySet<string> | undefined;
    this.#essential.set(debArch, () => {
      essential ??= essentialNames(packagesFiles, debArch, candidates);
      return essential;
    });
    return { candidates, files };
  }

  /**
   * dpkg runs only with the Essential set installed (`sh`, `rm`, `diff`, `tar`, `ldconfig`: it
   * stops with "N expected programs not found in PATH or not executable", and maintainer scripts
   * need the rest), which nothing depends on: mmdebstrap and debootstrap install it with dpkg. The
   * `Essential: yes` packages of the indexes read for `arch` that `names` lacks, when `names` holds
   * dpkg; undefined when it does not, or when no index was read (a lock's entries do not say
   * which packages are Essential).
   */
  missingEssential(arch: string, names: readonly string[]): string[] | undefined {
    const essential = this.#essential.get(this.archName(arch));
    if (essential === undefined || !names.includes('dpkg')) return undefined;
    const have = new Set(names);
    return [...essential()].filter((n) => !have.has(n)).sort();
  }

  lockEntry(c: DebCandidate, arch: string): LockedPackage {
    return {
      name: c.name,
      version: c.version,
      architecture: this.archName(arch),
      // Without the mirror's credentials, which the lock (committed) must never hold: the fetch
      // takes them from the configuration (#fetchUrl).
      url: urlWithoutUserInfo(joinLocation(c.repository.url, encodePoolPath(c.filename))),
      checksum: `sha256:${c.sha256 ?? ''}`,
      // The .deb's size as the signed index gives it (`Size`): its download stops as soon as it
      // passes it, rather than at the 2 GiB any download may be.
      ...(c.size === undefined ? {} : { size: c.size }),
    };
  }

  /**
   * @throws ProvenantError `DIGEST_MISMATCH` when the file does not have the lock's SHA-256, or
   *   its control file names another package, version or architecture than the lock does
   */
  async fetch(p: LockedPackage, options: { signed?: boolean | undefined } = {}): Promise<FetchedPackage<DebPackage>> {
    const sha256 = p.checksum.replace(/^sha256:/, '');
    const where = safeLocation(p.url);
    if (!/^[0-9a-f]{64}$/.test(sha256)) {
      // The builder names the lock file and the entry (../../builder/lock.ts, inLockEntry).
      throw new ProvenantError('INVALID_CONFIG', `${where}: the lock's checksum ${p.checksum} is not the sha256:<hex> of a .deb`, {
        where,
      });
    }
    if (options.signed === true) {
      // A .deb carries no signature: only a Release, through its Packages, vouches for one.
      throw new ProvenantError('UNTRUSTED_KEY', `${where}: the lock names ${p.name} ${p.version}, which no verified Packages index lists`, {
        where,
        hint: 'lock again (provenant lock) to pin what the repositories list now; the lock is checked against them at every build',
      });
    }
    const fetched = await this.#fetchVerified(p, sha256, where);
    // The SHA-256 says which file it is, not that it is the package the lock (or a provenance,
    // which may be edited) names: a lock naming tzdata 2099a-0, or mawk as gawk, with the digest
    // of the real file would install it under a name and version it does not have. Its control
    // file is read (or kept) whatever the path, so this costs nothing more.
    checkDebIdentity(fetched.package, p, where);
    return fetched;
  }

  /** The package with the lock's SHA-256: kept unpacked, streamed through the cache, or read whole. */
  async #fetchVerified(p: LockedPackage, sha256: string, where: string): Promise<FetchedPackage<DebPackage>> {
    const { cache, baseDir, signal } = this.#options;
    const key = `deb:${sha256}`;
    // Verified in full when first read, then kept unpacked under its SHA-256 (../unpacked.ts).
    const kept = cache === undefined ? undefined : await loadUnpacked(cache, keptDebKey(key));
    const found = kept === undefined ? undefined : await loadKeptDeb(cache!, keptDebKey(key), kept.meta, kept.entries);
    if (kept !== undefined && found !== undefined) {
      // The size is for progress only: the .deb kept beside it, when it still is.
      const size = (await cache?.locate(key))?.size ?? 0;
      return {
        package: found,
        locked: p,
        sha256: found.sha256,
        bodies: fileBodies(found.entries),
        files: kept.entries.files,
        size,
        cached: true,
      };
    }
    // With a cache, the package goes through it as a stream, never held whole (./stream.ts);
    // without one, it is read and held whole for the build.
    if (cache !== undefined) return this.#streamed(cache, p, key, sha256, where);
    const bytes = await fetchFile(this.#fetchUrl(p.url), { baseDir, signal, ...debSizeLimit(p) });
    const pkg = await readDeb(bytes, { where, expectedSha256: sha256, checksumFrom: this.#checksumFrom() });
    return {
      package: pkg,
      locked: p,
      sha256: pkg.sha256,
      bodies: fileBodies(pkg.entries),
      files: countFiles(pkg.entries),
      size: bytes.length,
      cached: false,
    };
  }

  /**
   * A package not kept unpacked yet, read into the cache as a stream: from the .deb cached under
   * `key` when it still has the lock's SHA-256 (a copy that does not is downloaded again), else
   * downloaded into the cache (checked against that SHA-256 as it is) and read from there.
   */
  async #streamed(cache: DownloadCache, p: LockedPackage, key: string, sha256: string, where: string): Promise<FetchedPackage<DebPackage>> {
    const { baseDir, signal } = this.#options;
    const found = await cache.locate(key);
    if (found !== undefined && (p.size === undefined || found.size === p.size)) {
      const kept = await this.#keepFile(cache, p, key, found.path, sha256, where).catch((err: unknown) => {
        if (isProvenantError(err, 'DIGEST_MISMATCH')) return undefined;
        throw err;
      });
      if (kept !== undefined) return { ...kept, cached: true };
    }
    // A download is written as it arrives and checked against the lock's SHA-256 before it is
    // kept, so that a build killed half way resumes it the next time.
    const from = this.#checksumFrom();
    const expected = { sha256, size: p.size, from, hint: debMismatchHint(from) };
    const file = await cache.downloadFile(this.#fetchUrl(p.url), expected, { baseDir, signal, key, ...debSizeLimit(p) });
    return { ...(await this.#keepFile(cache, p, key, file.path, sha256, where)), cached: false };
  }

  /** Reads and verifies the .deb at `path` into the cache (./stream.ts), and keeps it unpacked under `key`. */
  async #keepFile(
    cache: DownloadCache,
    p: LockedPackage,
    key: string,
    path: string,
    sha256: string,
    where: string,
  ): Promise<Omit<FetchedPackage<DebPackage>, 'cached'>> {
    const writer = await cache.writer();
    try {
      const read = await streamDebFile(path, writer, {
        where,
        expectedSha256: sha256,
        checksumFrom: this.#checksumFrom(),
        signal: this.#options.signal,
      });
      const kept = keptDebKey(key);
      const data = await writer.finish(unpackedDataKey(kept));
      // The data tar and the control files are kept under their keys from here; without the
      // index they are never used. The package is then the one a later build loads: what was
      // read of its control member stays in the cache.
      const control = await keepDebControl(cache, kept, read.pkg);
      const entries = await keepIndex(cache, kept, data, read.entries, read.bodies, control.meta, where);
      const pkg = keptDebPackage(control.meta, control.path, entries);
      return { package: pkg, locked: p, sha256: pkg.sha256, bodies: fileBodies(entries), files: entries.files, size: pkg.size };
    } catch (err) {
      // Once finished, the writer's file is the kept data tar, and abort leaves it alone.
      await writer.abort();
      throw err;
    }
  }

  /**
   * Where a package's expected SHA-256 comes from, for the error when the file does not have it:
   * the lock the build was given, else the verified Packages index it was resolved from.
   */
  #checksumFrom(): string {
    const { lockedKeys, lockPath } = this.#options;
    if (lockedKeys === undefined && lockPath === undefined) return 'the verified Packages index';
    return lockPath === undefined ? 'the lock' : `the lock ${lockPath}`;
  }

  /** Pre-Depends and Depends before dependents, as dpkg would unpack them. */
  installOrder(debs: readonly DebPackage[]): DebPackage[] {
    const byName = new Map(debs.map((d) => [d.name, d]));
    return dependencyOrder(
      debs,
      (d) => d.name,
      (d) => {
        const names: string[] = [];
        for (const f of [d.control['pre-depends'], d.control.depends]) {
          if (f === undefined || f === '') continue;
          try {
            for (const alt of parseDebRelations(f, 'Depends')) for (const r of alt) names.push(r.name.replace(/:.*$/, ''));
          } catch {
            // Ordering only: a field the resolver accepted parses here too.
          }
        }
        return names.map((n) => byName.get(n));
      },
    );
  }

  async install(
    tree: Tree,
    debs: readonly DebPackage[],
    arch: string,
    times: InstallTimes,
    spill?: SpilledFiles,
  ): Promise<InstalledPackage[]> {
    const { mtime } = times;
    // What the steps after the packages read (the certificates bundled, the time zone, base-passwd's masters) stays in the tree.
    spill?.keepInTree([
      CERTS_DIR,
      LOCAL_CERTS_DIR,
      CERTS_CONF,
      ...BASE_ACCOUNTS.map((a) => a.master),
      ...(this.#options.timezone === undefined ? [] : [ZONEINFO]),
    ]);
    // The update-alternatives commands of the postinsts, read before anything is installed, so
    // that the paths they name stay in the tree, which is asked whether each exists (./alternatives.ts).
    const alternatives = debs.map((pkg) => packageAlternatives(pkg.name, pkg.scripts.get('postinst')));
    spill?.keepInTree(alternativesPaths(alternatives));
    if (this.#options.mergedUsr) {
      // /lib64 too where the architecture's loader lives there (amd64's ld-linux-x86-64.so.2), as
      // usrmerge and trixie's base-files link it.
      const dirs = ['bin', 'sbin', 'lib', ...(arch === 'x86_64' || arch === 'amd64' ? ['lib64'] : [])];
      for (const d of dirs) tree.mkdirAll(`usr/${d}`);
      for (const d of dirs) tree.put(d, { type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime, linkname: `usr/${d}`, owner: 'build' });
    }
    const installed: InstalledDeb[] = [];
    const versions = new Map<string, string>();
    const replaces = new Map<string, string>();
    for (const pkg of debs) {
      installed.push(
        installDeb(tree, pkg, {
          mtime: times.clamp,
          installedVersions: versions,
          installedReplaces: replaces,
          spill,
          fileDigests: this.#options.fileDigests,
        }),
      );
      versions.set(pkg.name, pkg.version);
      if (pkg.control.replaces !== undefined) replaces.set(pkg.name, pkg.control.replaces);
      if (spill === undefined) continue;
      await spill.endRun(pkg.name);
      // What installing the package made is garbage now, but for its folders, links and database in the tree.
      noteRecordsDropped(countEntries(pkg.entries));
    }
    writeDebDatabase(tree);
    // In configure order, as dpkg runs the postinsts; nothing is written when none registers one.
    const { notes } = makeAlternatives(tree, alternatives, { mtime });
    if (installed.some((i) => i.pkg.name === 'base-passwd')) baseAccounts(tree, mtime);
    if (installed.some((i) => i.pkg.name === 'ca-certificates')) caBundle(tree, { mtime });
    if (this.#options.timezone !== undefined) setTimezone(tree, this.#options.timezone, { mtime });
    tree.mkdirAll('tmp');
    tree.update('tmp', { mode: 0o1777 });
    const licenses = debLicenses(installed);
    const deps = debDependencies(installed.map((d) => d.pkg));
    return installed.map((d, i) => debInstalledPackage(d, deps[i] ?? [], licenses[i] ?? '', notes.get(d.pkg.name) ?? []));
  }

  lockSources(archs: readonly string[]): LockSources {
    return {
      keyring: [],
      // Each mirror without its user info: the lock is committed, and credentials are the configuration's.
      repositories: this.#sources.flatMap((s) =>
        archs.map((a) => ({
          name: `${urlWithoutUserInfo(s.url)} ${s.suite}`,
          url: urlWithoutUserInfo(joinLocation(s.url, 'dists', s.suite, 'InRelease')),
          architecture: this.archName(a),
        })),
      ),
    };
  }

  keys(): { name: string; pem: string }[] {
    return [];
  }

  /** Where a package's file is fetched from: its URL with the credentials of the configuration's mirror it is under, never a lock's. */
  #fetchUrl(url: string): string {
    return withRepositoryCredentials(
      url,
      this.#sources.map((s) => s.url),
    );
  }

  /**
   * The keyring that checks `s`'s Release: its `signed-by` files, else Debian's archive keyring.
   *
   * @throws ProvenantError `NOT_FOUND` (or `IO`) naming the configuration and the source line when
   *   a keyring file cannot be read, with what to do about it
   */
  #keyringFor(s: DebSource): Promise<LazyDebKeyring> {
    const paths = s.signedBy ?? [DEBIAN_ARCHIVE_KEYRING];
    const key = paths.join('\n');
    let k = this.#keyrings.get(key);
    if (k === undefined) {
      k = LazyDebKeyring.read(paths, {
        baseDir: this.#options.baseDir,
        signal: this.#options.signal,
        configPath: this.#options.configPath,
      });
      this.#keyrings.set(key, k);
    }
    // Said for each source, though the read is shared: the message names the line that wanted it.
    return k.catch((err: unknown) => {
      throw isProvenantError(err, 'NOT_FOUND', 'IO') ? unreadableKeyring(err, s, this.#options) : err;
    });
  }
}

/**
 * `contents.keyring` in a Debian image: apko's keys for apk repositories. A Debian source takes
 * its keys only from signed-by= (else Debian's archive keyring). An apko user would expect them to
 * check the Releases; ignored, a key that does not exist went unnoticed, and the key of a private
 * repository only showed as a Release that Debian's keyring did not verify.
 */
function keyringNotRead(keyring: readonly string[], first: DebSource | undefined, configPath: string): ProvenantError {
  const keys = keyring.map((k) => safeLocation(k));
  const example =
    first === undefined || first.signedBy !== undefined
      ? 'deb [signed-by=KEYRING] URL SUITE COMPONENT...'
      : formatSourceLine({ ...first, url: safeLocation(first.url), signedBy: keys });
  return new ProvenantError(
    'INVALID_CONFIG',
    `contents.keyring (${keys.join(', ')}) is for apk repositories: Debian sources take their keys from each line's signed-by=, and do not read it`,
    {
      where: configPath,
      hint: `name the keys in the lines that need them, as \`${example}\` (paths relative to the configuration's folder), and remove contents.keyring; a line without signed-by is checked with Debian's archive keyring (${DEBIAN_ARCHIVE_KEYRING})`,
    },
  );
}

/**
 * A keyring file of a Debian source that cannot be read, said as the configuration's: a bare
 * "/usr/share/keyrings/debian-archive-keyring.gpg does not exist" names neither the configuration
 * nor the line, and a machine without the debian-archive-keyring package (any but a Debian one:
 * an Ubuntu CI runner) gives it for every source without signed-by.
 */
function unreadableKeyring(err: ProvenantError, s: DebSource, options: PackageSourceOptions): ProvenantError {
  const line = `\`${formatSourceLine({ ...s, url: safeLocation(s.url) })}\``;
  const relative = `relative to the configuration's folder (${options.baseDir})`;
  if (s.signedBy === undefined) {
    return new ProvenantError(
      err.code,
      `the Debian source ${line} names no keyring (signed-by=), and Debian's archive keyring cannot be read: ${err.message}`,
      {
        where: options.configPath,
        cause: err,
        hint: `install the debian-archive-keyring package (apt-get install debian-archive-keyring), or give the repository's keyring with signed-by=PATH in the line's options, ${relative}`,
      },
    );
  }
  return new ProvenantError(err.code, `the keyring of the Debian source ${line} (signed-by=) cannot be read: ${err.message}`, {
    where: options.configPath,
    cause: err,
    hint: `signed-by= names keyring files (binary .gpg or armored .asc), ${relative}, or https:// URLs; Debian's own is ${DEBIAN_ARCHIVE_KEYRING}, from the debian-archive-keyring package`,
  });
}

/** The account files base-passwd's scripts make, and the masters in the package they copy. */
const BASE_ACCOUNTS = [
  { path: 'etc/passwd', master: 'usr/share/base-passwd/passwd.master' },
  { path: 'etc/group', master: 'usr/share/base-passwd/group.master' },
] as const;

/**
 * /etc/passwd and /etc/group as base-passwd makes them on a first install: its preinst writes
 * them, and its postinst copies them from /usr/share/base-passwd/{passwd,group}.master, where they
 * are missing (update-passwd runs only on an upgrade, and neither writes /etc/shadow). Without
 * them an image has no root (`id root` fails) and the postinsts of base-files and passwd fail
 * when dpkg runs them. A file no package gave, or an empty one, is written (the build's accounts
 * are added to it after: ../../builder/assemble.ts applyAccounts); one a package gave is kept.
 */
function baseAccounts(tree: Tree, mtime: number): void {
  for (const { path, master } of BASE_ACCOUNTS) {
    const from = tree.read(tree.resolve(master));
    if (from?.type !== 'file') continue;
    const existing = tree.read(tree.resolve(path));
    if (existing !== undefined && (existing.type !== 'file' || bodySize(existing.body) > 0)) continue;
    // Read whole, so refused past the cap the build reads /etc/passwd with (../../builder/assemble.ts).
    const body = readBodyUpTo(from.body, ACCOUNTS_FILE_MAX, { path: tree.resolve(master), owner: from.owner });
    tree.mkdirAll('etc', { mode: 0o755, uid: 0, gid: 0, mtime, owner: 'build' });
    tree.put(tree.resolve(path), { type: 'file', mode: 0o644, uid: 0, gid: 0, mtime, body, owner: 'build' });
  }
}

/** Where a Packages file is read for `Essential: yes` at once: a stanza is never split. */
const ESSENTIAL_PIECE = 4 << 20;

/**
 * The names of the `Essential: yes` packages of `files` for `debArch` (or `all`). The index keeps
 * no field but names and provisions, so the files are searched for the field a piece at a time
 * (a file the cache keeps is read from disk, 50 MB for Debian main, once per build that has
 * dpkg), and each stanza found is read as the resolver reads it, which checks it and parses
 * the field.
 */
function essentialNames(files: readonly DebPackagesFile[], debArch: string, candidates: CandidateIndex<DebCandidate>): Set<string> {
  const needle = Buffer.from('\nEssential: yes');
  const found = new Set<string>();
  for (const file of files) {
    const { starts, ends, names, archs } = file.index;
    for (let first = 0; first < starts.length; ) {
      let last = first;
      while (last + 1 < starts.length && ends[last + 1]! - starts[first]! <= ESSENTIAL_PIECE) last++;
      const base = starts[first]!;
      const piece = file.bytes.subarray(base, ends[last]!);
      const bytes = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
      let s = first;
      for (let at = bytes.indexOf(needle); at !== -1; at = bytes.indexOf(needle, at + 1)) {
        while (s < last && starts[s + 1]! <= base + at + 1) s++;
        const a = archs.at(s);
        if (a === '' || a === debArch || a === 'all') found.add(names.at(s));
      }
      first = last + 1;
    }
  }
  // What the search found, as the stanzas say it.
  return new Set([...found].filter((n) => candidates.named(n).some((c) => c.essential)));
}

/** A locked .deb's download limit: the size its signed Packages index gives, when the entry has one (a lock file records none). */
function debSizeLimit(p: LockedPackage): Pick<FetchFileOptions, 'maxBytes' | 'tooLarge'> {
  return p.size === undefined ? {} : listedSize(p.size, `its Packages index gives ${p.name} ${p.version}`);
}

/**
 * Each installed package's license, in `installed`'s order: from its own copyright file, else,
 * when its /usr/share/doc/<package> is a symlink to another package's folder (libgcc-s1 to
 * gcc-12-base), from the copyright file there, as a scanner reading the image finds it; '' when
 * neither gives one.
 */
function debLicenses(installed: readonly InstalledDeb[]): string[] {
  const byFolder = new Map<string, string>();
  for (const d of installed) if (d.copyrightLicense !== undefined) byFolder.set(`usr/share/doc/${d.pkg.name}`, d.copyrightLicense);
  return installed.map((d) => d.copyrightLicense ?? (d.docLink === undefined ? undefined : byFolder.get(d.docLink)) ?? '');
}

/**
 * The inventory record of an installed .deb: the fields an image's dpkg database would give it too
 * (./inventory.ts, so that both SBOMs agree), `dependsOn` as debDependencies resolved them, and
 * what only a build knows: the .deb's SHA-256, its files and scripts. `notes` follow its skipped
 * scripts: what of its postinst's update-alternatives commands was not made, and why.
 */
function debInstalledPackage(d: InstalledDeb, dependsOn: readonly string[], license: string, notes: readonly string[]): InstalledPackage {
  const record: InstalledPackage = {
    ...debInventoryPackage(d.pkg, dependsOn, license),
    checksums: { SHA256: d.pkg.sha256 },
    files: d.inventoryFiles === undefined ? d.files.filter((f) => f.type === 'file').map((f) => ({ path: `/${f.path}` })) : [],
    label: `${d.pkg.name}_${d.pkg.version}`,
    // Installed-Size is in KiB.
    installedSize: Number(d.pkg.control['installed-size'] ?? 0) * 1024,
    skippedScripts: [...d.skippedScripts, ...notes],
    database: d.database,
  };
  return d.inventoryFiles === undefined ? record : filesOnDemand(record, d.inventoryFiles);
}

/**
 * The stanza index of a Packages file (./stanza-index.ts), kept in the cache under the file's
 * SHA-256 (which the signed Release gives), so that it is made once per file. What the cache
 * gives back it has checked against the size and CRC-32 it recorded: the bytes encodeStanzaIndex
 * wrote, whose offsets are not walked again.
 */
async function stanzaIndexOf(file: DebPackagesIndex, where: string, cache: DownloadCache | undefined): Promise<DebStanzaIndex> {
  // v3: indexes made while the piecewise index could scramble names (a value with a line feed) are not read.
  // v4: each stanza's CRC-32, which a stanza read from the kept file is checked against.
  // v5: offsets found on the bytes; those of v4 were wrong after any byte that is not UTF-8.
  const key = stanzaIndexKey(file.sha256);
  const cached = await cache?.get(key);
  const index = cached === undefined ? undefined : decodeStanzaIndex(cached, file.size, { checked: true });
  if (index !== undefined) return index;
  // A file in the cache is read a piece at a time: its `bytes` would hold it whole for the build.
  // A kept file is checked against its SHA-256 as it is indexed: from then on, stanza by stanza.
  const made = file.path === undefined ? indexDebStanzas(file.bytes, where) : indexDebStanzaFile(file.path, where, undefined, file.sha256);
  await cache?.put(key, encodeStanzaIndex(made));
  return made;
}

/** The cache key of the stanza index of the Packages file of SHA-256 `sha256`. */
function stanzaIndexKey(sha256: string): string {
  return `deb-stanza-index:v5:${sha256}`;
}

/** The bytes of a file on disk, read a range at a time. */
function fileStanzas(path: string): { subarray(start: number, end: number): Uint8Array } {
  return {
    subarray(start, end) {
      const fd = openSync(path, 'r');
      try {
        return readAt(fd, start, end - start);
      } finally {
        closeSync(fd);
      }
    },
  };
}
