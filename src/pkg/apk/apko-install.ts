/**
 * Installing apk packages the way apko does (`--compat apko`), into {@link ApkoFs}: the apk
 * database initialised as apko's InitDB does it, packages in apko's install order with its tree
 * rules, then apko's installed database, scripts.tar and triggers, and the `lib/apk` link.
 *
 * Sources: apko v1.2.39, pkg/apk/apk/implementation.go (InitDB, InitKeyring, InstallPackages,
 * installPackage, resolveApkDB), pkg/apk/apk/install.go (lazilyInstallAPKFiles),
 * pkg/apk/apk/repo.go (GetPackagesWithDependencies, getPackageDependencies),
 * pkg/apk/apk/world.go (SetWorld), pkg/apk/apk/repo.go (SetRepositories).
 */
import type { TarHeader } from '../../archive/tar.ts';
import { ProvenantError } from '../../errors.ts';
import { type Installing, namingPackage, tracked } from '../install-error.ts';
import { refuseOverlayControl, xattrsOf } from '../xattrs.ts';
import type { ApkPackageInfo } from './apkindex.ts';
import {
  type ApkoFileEntry,
  type ApkoInstalledRecord,
  apkoInstalledStanza,
  apkoScriptsEntries,
  apkoScriptsTar,
  apkoTriggers,
} from './apko-db.ts';
import type { ApkoFs } from './apko-fs.ts';
import { parseApkoPkgInfo } from './apko-pkginfo.ts';
import { apkoSoVersion } from './candidates.ts';
import { installedEntries } from './install.ts';
import type { ApkPackage } from './package.ts';
import { type ApkDependency, type ApkVersionOp, isValidApkVersion, parseApkDependency, satisfiesApkConstraint } from './version.ts';

/** A fetched package: its index fields and its contents. */
export interface ApkoInput {
  info: ApkPackageInfo;
  pkg: ApkPackage;
}

const encode = (s: string): Uint8Array => new TextEncoder().encode(s);

/** What apko's InitDB, InitKeyring, SetRepositories and SetWorld write before any package. */
export interface ApkoInitOptions {
  /** The architecture as apk names it (`x86_64`), for /etc/apk/arch. */
  arch: string;
  /** The keyring's keys by file name, in the order of the sorted keyring entries. */
  keys: readonly { name: string; content: Uint8Array }[];
  /** The build repositories (sorted, unique), for /etc/apk/repositories until the build ends. */
  repositories: readonly string[];
  /** The locked packages (`name=version`), for /etc/apk/world (sorted there). */
  world: readonly string[];
}

/** InitDB and what initializeApk does after it (pkg/build/apk.go). */
export function apkoInitDb(fs: ApkoFs, options: ApkoInitOptions): void {
  for (const [path, perm] of [
    ['tmp', 0o1777],
    ['dev', 0o755],
    ['etc', 0o755],
    ['opt', 0o755],
    ['proc', 0o555],
    ['var', 0o755],
    ['usr', 0o755],
  ] as const) {
    const node = fs.stat(path);
    if (node === undefined) fs.mkdir(path, perm);
    else if (node.type !== 'dir' || node.mode !== perm) fs.fail(path, `is not the ${perm.toString(8)} folder apko expects`);
  }
  for (const path of [
    'etc/apk',
    'etc/apk/keys',
    'usr/lib',
    'usr/lib/apk',
    'usr/lib/apk/db',
    'usr/lib/apk/exec',
    'var/cache',
    'var/cache/apk',
    'var/cache/misc',
  ]) {
    const node = fs.stat(path);
    if (node === undefined) fs.mkdir(path, 0o755);
    else if (node.type !== 'dir') fs.fail(path, 'is not a folder');
  }
  fs.writeFile('etc/apk/world', encode('\n'), 0o644);
  fs.writeFile('etc/apk/repositories', encode('\n'), 0o644);
  fs.writeFile('usr/lib/apk/db/lock', new Uint8Array(), 0o600);
  fs.writeFile('usr/lib/apk/db/triggers', new Uint8Array(), 0o644);
  fs.writeFile('usr/lib/apk/db/installed', new Uint8Array(), 0o644);
  fs.writeFile('etc/apk/arch', encode(`${options.arch}\n`), 0o644);
  for (const [path, major, minor, perm] of [
    ['dev/zero', 1, 5, 0o666],
    ['dev/urandom', 1, 9, 0o666],
    ['dev/null', 1, 3, 0o666],
    ['dev/random', 1, 8, 0o666],
    ['dev/console', 5, 1, 0o620],
  ] as const) {
    // apko ignores a device it cannot make (WithIgnoreMknodErrors).
    if (fs.lstat(path) === undefined) fs.mknod(path, perm, major, minor);
  }
  // An empty tar: Go's writer closed with nothing in it.
  fs.writeFile('usr/lib/apk/db/scripts.tar', new Uint8Array(1024), 0o644);
  fs.mkdirAll('etc/apk/keys', 0o755);
  for (const key of options.keys) fs.writeFile(`etc/apk/keys/${key.name}`, key.content, 0o644);
  setRepositories(fs, options.repositories);
  fs.writeFile('etc/apk/world', encode(`${[...options.world].sort(byteOrder).join('\n')}\n`), 0o644);
}

const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** SetRepositories: one per line, as given. */
export function setRepositories(fs: ApkoFs, repositories: readonly string[]): void {
  if (repositories.length === 0) {
    throw new ProvenantError('INVALID_CONFIG', 'apko needs at least one repository in contents.repositories', {
      where: 'contents.repositories',
    });
  }
  fs.writeFile('etc/apk/repositories', encode(`${repositories.join('\n')}\n`), 0o644);
}

/** What the install order reads of a package. */
export type ApkoOrderInfo = Pick<ApkPackageInfo, 'name' | 'version' | 'depends' | 'provides' | 'installIf'>;

/** Whether a package meets a dependency: by its name and version, or by what it provides. */
function meets(p: ApkoOrderInfo, dep: ApkDependency): boolean {
  const ok = (version: string | undefined): boolean =>
    dep.op === undefined || dep.version === undefined
      ? true
      : version !== undefined && dep.op !== '><' && satisfiesApkConstraint(version, dep.op, dep.version);
  if (p.name === dep.name) return ok(p.version);
  return p.provides.some((pr) => {
    const d = tryParse(pr);
    return d !== undefined && d.name === dep.name && ok(d.version);
  });
}

function tryParse(text: string): ApkDependency | undefined {
  try {
    return parseApkDependency(text);
  } catch {
    return undefined;
  }
}

/**
 * The order apko installs a resolved set in: for each entry of the sorted world, its
 * dependencies depth first (at each level the dependency with the fewest candidates, then the
 * smallest by name, before the others; a package's own dependencies before it), then what it
 * triggers through `install_if`, then the entry; each package once (apko's
 * GetPackagesWithDependencies).
 *
 * Without `index`, a dependency's candidates are the packages of the set: with a world where
 * every package is pinned (`name=version`), as apko's build has it, apko's own candidates are
 * those. `apko lock` resolves the configuration's requests instead, unpinned, and then counts
 * every package the indexes offer for the name that its resolver has not ruled out: `index`
 * gives those ({@link ApkoIndex}).
 *
 * @throws ProvenantError `UNRESOLVABLE` when a dependency has no package in the set
 */
export function apkoInstallOrder<T extends { info: ApkoOrderInfo }>(
  world: readonly string[],
  packages: readonly T[],
  index?: ApkoIndex<T>,
): T[] {
  const byName = new Map(packages.map((p) => [p.info.name, p]));
  const picked = new Set<string>();
  const counts = index === undefined ? undefined : new ApkoCandidateCounts(index.entries);
  const entryOf = (p: T): ApkoIndexEntry | undefined => index?.entryOf(p);
  // What apko's resolver holds as installed while it walks one world entry (`existing`): a
  // package of a tagged repository is a candidate only under its tag's world entry, or as that.
  let existing = new Map<string, ApkoIndexEntry | undefined>();
  let allowTag = '';
  const visit = (pkg: T, parents: ReadonlySet<string>): T[] => {
    if (parents.has(pkg.info.name)) return [];
    counts?.constrain(pkg.info.depends);
    const mine = new Set<string>();
    for (const pr of pkg.info.provides) {
      mine.add(pr);
      const d = tryParse(pr);
      if (d !== undefined) mine.add(d.name);
    }
    let constraints = [...pkg.info.depends];
    const deps: T[] = [];
    for (;;) {
      const options = new Map<string, T[]>();
      const count = new Map<string, number>();
      for (const text of constraints) {
        if (text.startsWith('!')) continue;
        const dep = tryParse(text);
        if (dep === undefined) continue;
        if (mine.has(dep.name) || mine.has(text)) continue;
        if (dep.name === pkg.info.name && meets(pkg.info, dep)) continue;
        if (picked.has(dep.name)) continue;
        const found = packages.filter((p) => meets(p.info, dep));
        if (found.length === 0) {
          throw new ProvenantError(
            'UNRESOLVABLE',
            `${pkg.info.name}-${pkg.info.version} depends on ${text}, which no package of the build provides`,
            {
              where: `${pkg.info.name}-${pkg.info.version}`,
            },
          );
        }
        options.set(text, found);
        count.set(text, counts === undefined ? found.length : counts.count(text, allowTag, existing.get(dep.name)));
      }
      if (options.size === 0) break;
      let lowest = '';
      for (const [k, n] of count) {
        const best = count.get(lowest);
        if (lowest === '' || n < (best ?? 0) || (n === best && byteOrder(k, lowest) < 0)) lowest = k;
      }
      constraints = [...options.keys()].filter((k) => k !== lowest);
      const dep = (options.get(lowest) as T[])[0] as T;
      const depEntry = entryOf(dep);
      if (depEntry !== undefined) counts?.disqualifyConflicts(depEntry);
      picked.add(pkg.info.name);
      for (const pr of pkg.info.provides) {
        const d = tryParse(pr);
        if (d?.version !== undefined) picked.add(d.name);
      }
      const sub = visit(dep, new Set([...parents, pkg.info.name]));
      for (const d of sub) existing.set(d.info.name, entryOf(d));
      deps.push(...sub, dep);
    }
    return deps;
  };
  const order: T[] = [];
  const tracked = new Set<string>();
  const sortedWorld = [...world].sort(byteOrder);
  const worldPackages = sortedWorld.map((entry): T => {
    const name = entry.replace(/[=<>~@].*$/, '');
    const dep = byName.has(name) ? undefined : tryParse(entry.replace(/@.*$/, ''));
    // A request for a name some package of the set provides (`cmd:sh`, a virtual) rather than a package's own name.
    const pkg = byName.get(name) ?? (dep === undefined ? undefined : packages.find((p) => meets(p.info, dep)));
    if (pkg === undefined)
      throw new ProvenantError('UNRESOLVABLE', `the world names ${entry}, which is not in the build`, { where: '/etc/apk/world' });
    return pkg;
  });
  // What apko's resolver does with the world before it walks it: it rules out the versions a
  // request's constraint excludes, and what conflicts with each package it resolves a request to.
  const resolved = new Map<string, ApkoIndexEntry | undefined>();
  if (counts !== undefined) {
    counts.constrain(sortedWorld);
    for (const pkg of worldPackages) {
      const e = entryOf(pkg);
      if (e !== undefined) counts.disqualifyConflicts(e);
      resolved.set(pkg.info.name, e);
    }
  }
  for (const [i, entry] of sortedWorld.entries()) {
    const pkg = worldPackages[i] as T;
    existing = new Map(resolved);
    allowTag = apkoConstraint(entry).tag;
    const added = new Map<string, T>();
    for (const d of visit(pkg, new Set())) if (!added.has(d.info.name)) added.set(d.info.name, d);
    for (const d of [...added.values()]) {
      for (const candidate of packages) {
        if (added.has(candidate.info.name) || candidate.info.installIf.length === 0) continue;
        const triggered = candidate.info.installIf.some((i) => i === d.info.name || i === `${d.info.name}=${d.info.version}`);
        if (!triggered) continue;
        const all = candidate.info.installIf.every((i) => {
          if (added.has(i)) return true;
          const c = tryParse(i);
          return c !== undefined && added.get(c.name)?.info.version === c.version;
        });
        if (all) added.set(candidate.info.name, candidate);
      }
    }
    for (const d of added.values()) {
      if (!resolved.has(d.info.name)) resolved.set(d.info.name, entryOf(d));
      if (tracked.has(d.info.name)) continue;
      tracked.add(d.info.name);
      order.push(d);
    }
    if (!tracked.has(pkg.info.name)) {
      tracked.add(pkg.info.name);
      order.push(pkg);
    }
  }
  return order;
}

/** A package of a repository's index, among which `apko lock` counts a dependency's candidates. */
export interface ApkoIndexEntry {
  info: ApkoOrderInfo;
  /** The tag of its repository, '' for an untagged one (apko's pinned name of the index). */
  tag: string;
}

/** The indexes a resolved set came from, for {@link apkoInstallOrder} as `apko lock` orders it. */
export interface ApkoIndex<T> {
  /** Every package of the indexes read to resolve (repositories and build repositories). */
  entries: readonly ApkoIndexEntry[];
  /** The entry a package of the set is, if any index lists it. */
  entryOf(p: T): ApkoIndexEntry | undefined;
}

/** A constraint as apko's resolver reads it (pkg/apk/apk/version.go:ResolvePackageNameVersionPin). */
interface ApkoConstraint {
  name: string;
  /** Only apko's operators; any other matches every version, as in apko. */
  op: ApkVersionOp | undefined;
  version: string;
  tag: string;
}

const APKO_OPS: Readonly<Record<string, ApkVersionOp>> = { '=': '=', '>': '>', '<': '<', '>=': '>=', '<=': '<=', '~': '~', '=~': '~' };

/**
 * `name[op version][@tag]`, with apko's reading of a `so:` version without a package release as
 * `0.<version>` (melange#1871). Text of another shape is a bare name, as apko takes it.
 */
function apkoConstraint(text: string): ApkoConstraint {
  const m = /^([^@=><~]+)(?:([=><~]+)([^@]+))?(?:@([a-zA-Z0-9]+))?$/.exec(text);
  if (m === null) return { name: text, op: undefined, version: '', tag: '' };
  const name = m[1] as string;
  const version = apkoSoVersion(name, m[3] ?? '');
  const op = m[2] === undefined ? undefined : APKO_OPS[m[2]];
  return { name, op, version, tag: m[4] ?? '' };
}

/**
 * What apko's resolver counts as a dependency's candidates when the world is not pinned: every
 * package of the indexes that provides the name, less those its constraints and the packages
 * already chosen rule out (pkg/apk/apk/repo.go: nameMap, constrain, disqualifyConflicts,
 * filterPackages).
 */
class ApkoCandidateCounts {
  /** By name: the packages of that name, then those that provide it (once per provision). */
  readonly #named = new Map<string, ApkoIndexEntry[]>();
  readonly #ruledOut = new Set<ApkoIndexEntry>();

  constructor(entries: readonly ApkoIndexEntry[]) {
    const add = (name: string, e: ApkoIndexEntry) => {
      const list = this.#named.get(name);
      if (list === undefined) this.#named.set(name, [e]);
      else list.push(e);
    };
    for (const e of entries) add(e.info.name, e);
    for (const e of entries) for (const pr of e.info.provides) add(apkoConstraint(pr).name, e);
  }

  /** Rules out what a versioned constraint excludes, and the providers of a `!name` one. */
  constrain(constraints: readonly string[]): void {
    for (const text of constraints) {
      if (text.startsWith('!')) {
        const c = apkoConstraint(text.slice(1));
        for (const e of this.#named.get(c.name) ?? []) {
          if (this.#ruledOut.has(e) || (e.tag !== '' && e.tag !== c.tag)) continue;
          if (c.op === undefined || versionPasses(e, c)) this.#ruledOut.add(e);
        }
        continue;
      }
      const c = apkoConstraint(text);
      if (c.op === undefined) continue;
      for (const e of this.#named.get(c.name) ?? []) {
        if (e.info.name === c.name) {
          if (!satisfies(e.info.version, c)) this.#ruledOut.add(e);
          continue;
        }
        for (const pr of e.info.provides) {
          const p = apkoConstraint(pr);
          if (p.name === c.name && p.version !== '' && !satisfies(p.version, c)) this.#ruledOut.add(e);
        }
      }
    }
  }

  /** Rules out what conflicts with `chosen`: every other provider of a name it provides with a version, and more for a virtual one. */
  disqualifyConflicts(chosen: ApkoIndexEntry): void {
    for (const pr of chosen.info.provides) {
      const c = apkoConstraint(pr);
      for (const e of this.#named.get(c.name) ?? []) {
        if (e === chosen || this.#ruledOut.has(e)) continue;
        // An unversioned (virtual) provision conflicts only with the packages of that name and
        // those whose first provision of it has a version (conflictingVersion).
        const first = e.info.provides.map(apkoConstraint).find((other) => other.name === c.name);
        if (c.version !== '' || e.info.name === c.name || (first !== undefined && first.version !== '')) this.#ruledOut.add(e);
      }
    }
  }

  /** The candidates for dependency `text` of a package under a world entry of tag `allowTag`. */
  count(text: string, allowTag: string, installed: ApkoIndexEntry | undefined): number {
    const c = apkoConstraint(text);
    if (c.op !== undefined && !isValidApkVersion(c.version)) return 0;
    let n = 0;
    for (const e of this.#named.get(c.name) ?? []) {
      if (this.#ruledOut.has(e)) continue;
      if (e.tag !== '' && e.tag !== allowTag && e !== installed) continue;
      if (c.op === undefined || versionPasses(e, c)) n++;
    }
    return n;
  }
}

/** Whether a package's version, or the version of any name it provides, meets `c` (apko's filterPackages). */
function versionPasses(e: ApkoIndexEntry, c: ApkoConstraint): boolean {
  if (satisfies(e.info.version, c)) return true;
  return e.info.provides.some((pr) => {
    const v = apkoConstraint(pr).version;
    return v !== '' && satisfies(v, c);
  });
}

function satisfies(version: string, c: ApkoConstraint): boolean {
  if (c.op === undefined) return true;
  if (!isValidApkVersion(version) || !isValidApkVersion(c.version)) return false;
  return satisfiesApkConstraint(version, c.op, c.version);
}

/** What {@link apkoInstall} needs besides the packages. */
export interface ApkoInstallOptions {
  /** SOURCE_DATE_EPOCH as apko's option holds it (0 when unset): the time of scripts.tar's entries. */
  sourceDateEpoch: number;
}

/** The SHA-1 a package's header gives a file, as lowercase hex. */
/**
 * An entry's uid or gid as apko has it: Go's archive/tar applies a PAX `uid`/`gid` record over the
 * ustar field (reader.go, mergePAX), where apk-tools, whose way the package was read in
 * (./tarfiles.ts), keeps the ustar field and leaves the record in `pax`.
 *
 * @throws ProvenantError `INVALID_PACKAGE` for a record Go's reader refuses (not a decimal integer)
 */
function goOwner(h: TarHeader, key: 'uid' | 'gid', where: string): number {
  const record = h.pax?.[key];
  if (record === undefined) return h[key];
  const n = /^[+-]?\d{1,16}$/.test(record) ? Number(record) : Number.NaN;
  if (!Number.isSafeInteger(n)) {
    throw new ProvenantError('INVALID_PACKAGE', `the PAX ${key} record of /${h.name} is not a number: ${JSON.stringify(record)}`, {
      where,
    });
  }
  return n === 0 ? 0 : n;
}

function headerSha1(checksum: string): string {
  return checksum.startsWith('Q1') ? Buffer.from(checksum.slice(2), 'base64').toString('hex') : checksum.toLowerCase();
}

/**
 * Installs `packages` in the order given, as apko's InstallPackages does, then writes the
 * installed database, scripts.tar and triggers, and makes `lib/apk` point at `usr/lib/apk`.
 *
 * @returns one record per package, in install order, with the files the database lists
 * @throws ProvenantError `FILE_CONFLICT`, `UNSAFE_PATH`, `INVALID_PACKAGE` where apko fails; `UNSAFE_PATH` too
 *   for an entry an overlay file system reads as its own (../xattrs.ts, refuseOverlayControl), which apko installs
 */
export function apkoInstall(fs: ApkoFs, packages: readonly ApkoInput[], options: ApkoInstallOptions): ApkoInstalledRecord[] {
  const records: ApkoInstalledRecord[] = [];
  const installedFiles = new Map<string, number>();
  const scripts: Uint8Array[] = [];
  for (const [index, { info: indexInfo, pkg }] of packages.entries()) {
    const where = `${indexInfo.name}-${indexInfo.version}`;
    const info = parseApkoPkgInfo(pkg.pkginfoText, `${where}: .PKGINFO`);
    const owner = { name: info.name, origin: info.origin, replaces: info.replaces };
    const files: ApkoFileEntry[] = [];
    const installing: Installing = { path: undefined };
    try {
      // APKv1 compatibility: hidden top-level names before the first other one are control files.
      for (const entry of tracked(installedEntries(pkg.entries), installing)) {
        const h = entry.header;
        refuseOverlayControl(h, where);
        const checksum = h.pax?.['APK-TOOLS.checksum.SHA1'];
        const xattrs = Object.entries(xattrsOf(h.pax) ?? {});
        if (h.type === 'dir') {
          fs.writeDirectory(entry.path, h.mode, h.mtime);
          for (const [k, v] of xattrs) fs.setXattr(entry.path, k, v);
        } else if (h.type === 'file' || h.type === 'symlink') {
          if (checksum === undefined)
            throw new ProvenantError('INVALID_PACKAGE', `/${entry.path} has no APK-TOOLS.checksum.SHA1, which apko requires`, { where });
          const node = h.type === 'file' ? { type: 'file' as const, body: entry.body } : { type: 'symlink' as const, linkname: h.linkname };
          const written = fs.writePackageFile(entry.path, { ...node, mode: h.mode, mtime: h.mtime }, headerSha1(checksum), owner);
          for (const [k, v] of xattrs) fs.setXattr(entry.path, k, v);
          if (written && h.type === 'file') installedFiles.set(entry.path, index);
        } else if (h.type === 'hardlink') {
          fs.link(h.linkname, entry.path, h.linkname);
        } else {
          throw new ProvenantError('INVALID_PACKAGE', `/${entry.path} is a ${h.type}, which apko does not install`, { where });
        }
        files.push({
          path: entry.path,
          type: h.type,
          mode: h.mode,
          uid: goOwner(h, 'uid', where),
          gid: goOwner(h, 'gid', where),
          checksum,
        });
      }
    } catch (err) {
      // An error reading the next entries (a kept package's index) is said as the package's; the installer's own name it.
      throw installing.path === undefined ? namingPackage(err, where, undefined) : err;
    }
    scripts.push(apkoScriptsEntries(pkg.control, info.name, info.version, pkg.checksum, options.sourceDateEpoch, where));
    records.push({ info, checksum: pkg.checksum, fileSize: indexInfo.size, files });
  }
  // A file another package wrote last (or first, with the same bytes) is listed under that package only.
  for (const [index, record] of records.entries()) {
    record.files = record.files.filter((f) => {
      const owner = installedFiles.get(f.path);
      return owner === undefined || owner === index;
    });
  }
  fs.writeFile(
    'usr/lib/apk/db/installed',
    encode(records.map((r) => apkoInstalledStanza(r, `${r.info.name}-${r.info.version}`)).join('')),
    0o644,
  );
  fs.writeFile('usr/lib/apk/db/scripts.tar', apkoScriptsTar(scripts), 0o644);
  fs.writeFile('usr/lib/apk/db/triggers', encode(apkoTriggers(records)), 0o644);
  resolveApkDb(fs);
  return records;
}

/** resolveApkDB: `lib/apk` a symlink to `../usr/lib/apk`, unless `lib` or `lib/apk` already lead there. */
function resolveApkDb(fs: ApkoFs): void {
  // path.Clean("/" + target): `..` stops at the root.
  const leadsTo = (link: string | undefined, to: string): boolean => {
    if (link === undefined) return false;
    const parts: string[] = [];
    for (const p of link.split('/')) {
      if (p === '..') parts.pop();
      else if (p !== '' && p !== '.') parts.push(p);
    }
    return parts.join('/') === to;
  };
  if (leadsTo(fs.readlink('lib'), 'usr/lib') || leadsTo(fs.readlink('lib/apk'), 'usr/lib/apk')) return;
  if (fs.stat('lib') === undefined) fs.mkdir('lib', 0o755);
  if (fs.stat('lib/apk')?.type === 'dir') {
    for (const child of fs.readDir('lib/apk')) {
      if (fs.stat(`lib/apk/${child}`)?.type !== 'dir') fs.fail(`lib/apk/${child}`, 'is in /lib/apk, which apko replaces with a symlink');
      if (fs.readDir(`lib/apk/${child}`).length > 0) fs.fail(`lib/apk/${child}`, 'is not empty, so apko refuses to replace /lib/apk');
      fs.remove(`lib/apk/${child}`);
    }
    fs.remove('lib/apk');
  }
  fs.symlink('../usr/lib/apk', 'lib/apk');
}
