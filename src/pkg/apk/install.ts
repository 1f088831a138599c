/**
 * Installing apk packages into the in-memory tree, and writing apk's own database so that `apk`
 * inside the image, and scanners, see every package: /lib/apk/db/installed (apko's layout:
 * usr/lib/apk/db with lib/apk a symlink to it), scripts.tar, triggers, and /etc/apk/world,
 * repositories, arch and keys; and the folders every image has before packages go in.
 */
import { createHash } from 'node:crypto';
import { cleanEntryPath } from '../../archive/paths.ts';
import { tarBytes, tarHeader } from '../../archive/tar.ts';
import { ByteBuilder } from '../../bytes.ts';
import { ProvenantError } from '../../errors.ts';
import { type FileBody, hashBody } from '../../vfs/body.ts';
import type { SpilledFiles } from '../../vfs/spill.ts';
import { buildFile, type FsNode, type Tree } from '../../vfs/tree.ts';
import { type Installing, namingPackage, tracked } from '../install-error.ts';
import type { InventoryFile, InventoryFiles } from '../inventory.ts';
import { countEntries, type PackageEntry } from '../unpacked.ts';
import { refuseOverlayControl, xattrsOf } from '../xattrs.ts';
import { type ApkPackageInfo, formatStanza } from './apkindex.ts';
import { ApkFiles } from './files.ts';
import type { ApkPackage } from './package.ts';
import type { ApkKeyring } from './signature.ts';
import { parseApkDependency, satisfiesApkConstraint } from './version.ts';

/**
 * The folders every image has before packages go in, as apko makes them: /tmp sticky and world
 * writable, /proc read-only, apk's folders, and `lib/apk` a symlink to `usr/lib/apk` (apk-tools
 * 3's place for its database, which apk-tools 2 finds through the link).
 */
export function baseLayout(tree: Tree, mtime: number): void {
  const dir = (path: string, mode = 0o755): void => {
    tree.put(path, { type: 'dir', mode, uid: 0, gid: 0, mtime, owner: 'build' });
  };
  for (const d of [
    'dev',
    'etc',
    'etc/apk',
    'etc/apk/keys',
    'lib',
    'opt',
    'usr',
    'usr/lib',
    'usr/lib/apk',
    'usr/lib/apk/db',
    'usr/lib/apk/exec',
    'var',
    'var/cache',
    'var/cache/apk',
    'var/cache/misc',
    'var/lib',
  ])
    dir(d);
  dir('proc', 0o555);
  dir('tmp', 0o1777);
  tree.put('lib/apk', { type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime, linkname: '../usr/lib/apk', owner: 'build' });
}

/** What one package put in the tree, for the installed database and SBOMs. */
export interface InstalledApk {
  info: ApkPackageInfo;
  pkg: ApkPackage;
  /** Entries in archive order, with the checksum apk records for each file and symlink. */
  files: ApkFiles;
  /**
   * The inventory's file list, made again from the package's entries each time it is asked for,
   * when `files` was dropped once the package's database part was written (a build that keeps
   * its files out of the tree holds nothing per file: ../../vfs/spill.ts).
   */
  inventoryFiles?: InventoryFiles | undefined;
}

/**
 * The regular files among `entries` as the inventory lists them (absolute paths, the SHA-1 apk
 * records), made one at a time each time the function is called: what {@link ApkFiles.inventoryFiles} gives of
 * a package installed without replacements.
 */
export function entriesInventory(entries: Iterable<PackageEntry>): InventoryFiles {
  return function* (): Generator<InventoryFile> {
    for (const e of installedEntries(entries)) {
      if (e.header.type !== 'file') continue;
      const sha1 = e.header.pax?.['APK-TOOLS.checksum.SHA1'] ?? hashBody(e.body, 'sha1');
      yield { path: `/${e.path}`, sha1 };
    }
  };
}

/**
 * The data entries apk installs: all but the hidden top-level names (`.profile`, `.pre-install`)
 * before the first other entry, which apk-tools (its APKv1 compatibility: until the first name
 * that is not hidden, names are control files) and apko skip. abuild never packs such a name.
 */
export function* installedEntries<E extends PackageEntry>(entries: Iterable<E>): Generator<E> {
  let started = false;
  for (const entry of entries) {
    const name = entry.header.name;
    if (!started && name.startsWith('.') && !name.includes('/')) continue;
    started = true;
    yield entry;
  }
}

/** Options of {@link installApk}. */
export interface InstallOptions {
  /** When set, every time in the tree becomes this (SOURCE_DATE_EPOCH); else the package's. */
  mtime?: number | undefined;
  /**
   * Where the package's files go instead of the tree, when they can (../../vfs/spill.ts): the
   * install then throws SpillRefused at the first entry that a tree alone can settle.
   */
  spill?: SpilledFiles | undefined;
  /**
   * The packages installed before this one, by name: what decides a file two of them give
   * ({@link replacesFile}). A path whose owner is not here (`build`, or every owner when this is
   * not given) is replaced only when this package `replaces` that name.
   */
  installed?: ReadonlyMap<string, ApkPackageInfo> | undefined;
}

/**
 * What apk-tools does with a file that package `old` installed when package `next` gives it too
 * (package.c, apk_pkg_replaces_file): `yes` overwrites it, `no` keeps `old`'s and leaves
 * `next`'s out, `conflict` refuses the install. The same package overwrites; else each side's
 * `replaces` counts when it names the other (its version constraint met), with its
 * `replaces_priority` (0 by default), and the higher keeps the file, `next` winning a tie; a
 * package of the same origin (built from one recipe, as `foo` and `foo-doc`) overwrites.
 *
 * @throws ProvenantError `INVALID_PACKAGE` for a `replaces` atom that is not a dependency
 */
export function replacesFile(old: ApkPackageInfo, next: ApkPackageInfo): 'yes' | 'no' | 'conflict' {
  if (old.name === next.name) return 'yes';
  const oldPriority = replacesPackage(old, next) ? (old.replacesPriority ?? 0) : -1;
  const nextPriority = replacesPackage(next, old) ? (next.replacesPriority ?? 0) : -1;
  if (oldPriority > nextPriority) return 'no';
  if (nextPriority >= 0) return 'yes';
  if (old.origin !== '' && old.origin === next.origin) return 'yes';
  return 'conflict';
}

/** Whether `a`'s `replaces` names `b` itself, with a constraint `b` meets (apk_dep_is_materialized). */
function replacesPackage(a: ApkPackageInfo, b: ApkPackageInfo): boolean {
  return a.replaces.some((atom) => {
    const dep = parseApkDependency(atom, `${a.name}-${a.version}: replaces`);
    if (dep.conflict || dep.name !== b.name) return false;
    if (dep.op === undefined || dep.version === undefined) return true;
    return dep.op === '><' ? dep.version === b.checksum : satisfiesApkConstraint(b.version, dep.op, dep.version);
  });
}

/**
 * Unpacks one verified package into `tree`. A file that another package already installed is
 * overwritten, kept or a conflict by apk-tools' rules ({@link replacesFile}); folders merge, and a folder
 * where a symlink to a folder is keeps the symlink, its contents going through it.
 *
 * @throws ProvenantError `FILE_CONFLICT` naming the path and both packages; `UNSAFE_PATH` for a
 *   hardlink to a path outside the package or a folder part that is a file, and for an entry an
 *   overlay file system reads as its own (../xattrs.ts, refuseOverlayControl)
 */
export function installApk(tree: Tree, info: ApkPackageInfo, pkg: ApkPackage, options: InstallOptions = {}): InstalledApk {
  const owner = info.name;
  // For an owner `installed` does not know (the build's own files): this package's replaces by name.
  const replaces = new Set(info.replaces.map((r) => r.replace(/[<>=~].*$/, '')));
  const verdicts = new Map<string, ReturnType<typeof replacesFile>>();
  const files = new ApkFiles(countEntries(pkg.entries));
  const where = `${info.name}-${info.version}`;
  const spill = options.spill;
  const installing: Installing = { path: undefined };
  try {
    for (const entry of tracked(installedEntries(pkg.entries), installing)) installEntry(entry);
  } catch (err) {
    throw namingPackage(err, where, installing.path);
  }
  return { info, pkg, files };

  function installEntry(entry: PackageEntry): void {
    const h = entry.header;
    // Before any verdict on the path: an entry another package's file wins over is still the package's.
    refuseOverlayControl(h, where);
    const mtime = options.mtime ?? h.mtime;
    // A folder where a symlink to a folder is (lib64 -> usr/lib) keeps the symlink, and what the
    // package puts under it goes through it, as apk-tools (mkdirat's EEXIST is taken as done),
    // apko and dpkg (../deb/install.ts) do. The tree resolves a link as a chroot would: never
    // out of the root. Only a folder entry over a symlink pays the look.
    const throughLink = h.type === 'dir' && isLinkToFolder(tree, entry.path);
    // A folder over a symlink to a folder changes nothing (below): nothing to check.
    const at = throughLink ? entry.path : (spill?.check(tree, entry.path, h.type) ?? entry.path);
    const existing = tree.get(tree.resolveParent(entry.path));
    if (h.type !== 'dir' && existing !== undefined && existing.type !== 'dir' && existing.owner !== undefined && existing.owner !== owner) {
      let verdict = verdicts.get(existing.owner);
      if (verdict === undefined) {
        // Once per owner: two packages of one origin may share hundreds of files.
        const old = options.installed?.get(existing.owner);
        verdict = old === undefined ? (replaces.has(existing.owner) ? 'yes' : 'conflict') : replacesFile(old, info);
        verdicts.set(existing.owner, verdict);
      }
      if (verdict === 'conflict') {
        throw new ProvenantError('FILE_CONFLICT', `${info.name}-${info.version} and ${existing.owner} both install /${entry.path}`, {
          where,
          hint: `the two packages cannot be installed together; one of them must declare "replaces = ${existing.owner}"`,
        });
      }
      // The earlier package keeps its file, and this one does not list it, as in apk-tools.
      if (verdict === 'no') return;
    }
    const xattrs = xattrsOf(h.pax);
    const { mode, uid, gid } = h;
    // Each node a literal with its fields named, not spread from a shared base: a spread object
    // keeps its fields out of line, in a second allocation per node of the image.
    let sha1: string | undefined;
    switch (h.type) {
      case 'dir':
        if (!throughLink) tree.put(entry.path, { type: 'dir', mode, uid, gid, mtime, owner, xattrs });
        break;
      case 'file': {
        // Hashed piece by piece: a file without apk's checksum may inflate to gigabytes (DATA_MAX).
        sha1 = h.pax?.['APK-TOOLS.checksum.SHA1'] ?? hashBody(entry.body, 'sha1');
        const node: FsNode = { type: 'file', mode, uid, gid, mtime, owner, xattrs, body: entry.body };
        if (spill?.takes(tree, at, node) !== true) tree.put(entry.path, node);
        break;
      }
      case 'symlink':
        sha1 = h.pax?.['APK-TOOLS.checksum.SHA1'] ?? createHash('sha1').update(h.linkname).digest('hex');
        tree.put(entry.path, { type: 'symlink', mode, uid, gid, mtime, owner, xattrs, linkname: h.linkname });
        break;
      case 'hardlink': {
        // The target's folders resolved, not its last part: link(2), which apk-tools and GNU tar
        // call, links a symlink itself, never what it points at (an `/etc/passwd` of the image).
        const target = tree.resolveParent(cleanEntryPath(h.linkname, `${where}: ${entry.path}`));
        const node = tree.get(target);
        if (node?.type !== 'file' && spill?.isKeptFile(target) !== true) {
          // The tree links files only: a hardlink to a symlink, which the package may mean, is refused.
          const what = node === undefined ? 'which is not a file of the image' : `which is a ${typeName(node.type)}, not a file`;
          throw new ProvenantError('UNSAFE_PATH', `the hardlink /${entry.path} points at /${target}, ${what}`, { where });
        }
        tree.put(entry.path, { type: 'hardlink', mode, uid, gid, mtime, owner, xattrs, linkname: target });
        break;
      }
      default:
        tree.put(entry.path, { type: h.type, mode, uid, gid, mtime, owner, xattrs, devmajor: h.devmajor, devminor: h.devminor });
    }
    files.push({ path: entry.path, type: h.type, mode: h.mode, uid: h.uid, gid: h.gid, sha1 });
  }
}

/** A node type in words. */
function typeName(type: FsNode['type']): string {
  if (type === 'dir') return 'folder';
  if (type === 'char' || type === 'block') return `${type} device`;
  return type;
}

/** Whether `path` (its folders resolved) is a symlink that leads to a folder of the tree. */
function isLinkToFolder(tree: Tree, path: string): boolean {
  const at = tree.resolveParent(path);
  return tree.get(at)?.type === 'symlink' && tree.read(tree.resolve(at))?.type === 'dir';
}

/**
 * The installed database, as apk-tools writes it: each package's index fields, then its folders
 * (`F:`, with `M:uid:gid:mode` when not root 0755; `F:` alone for the root) and files (`R:`,
 * under the `F:` of their folder, with `a:uid:gid:mode` when not root 0644, and `Z:` the Q1
 * checksum). Written as bytes, line by line: a string per line
 * and per package, then the text and its bytes, were as much again as the tree of a large image
 * for a moment, and the peak of its build.
 */
function installedDatabase(installed: readonly InstalledApk[]): Uint8Array {
  const out = new ByteBuilder();
  for (const record of installed) installedStanza(out, record);
  return out.bytes();
}

/** One package's part of the installed database ({@link installedDatabase}), added to `out`. */
export function installedStanza(out: ByteBuilder, { info, files }: Pick<InstalledApk, 'info' | 'files'>): void {
  const line = (...parts: string[]): void => {
    out.append('\n');
    for (const p of parts) out.append(p);
  };
  // The index fields in apk-tools' order, then what only the database has.
  out.append(formatStanza({ ...info, extra: {} }).trimEnd());
  if (info.replaces.length > 0) line('r:', info.replaces.join(' '));
  if (info.replacesPriority !== undefined) line('q:', String(info.replacesPriority));
  let folder: string | undefined;
  /** Each folder entry's index, the first for a path listed twice. */
  const dirs = new Map<string, number>();
  for (let i = files.length - 1; i >= 0; i--) if (files.type(i) === 'dir') dirs.set(files.path(i), i);
  // `uid:gid:mode` of entry `i` when it is not root's with the `usual` mode. Read field by field:
  // a record per entry (files.at) would make a hex SHA-1 per file only to drop it.
  const ids = (i: number, usual: number): string | undefined => {
    const uid = files.uid(i);
    const gid = files.gid(i);
    const mode = files.mode(i);
    return uid !== 0 || gid !== 0 || mode !== usual ? `${uid}:${gid}:${mode.toString(8)}` : undefined;
  };
  const emitFolder = (dir: string): void => {
    if (folder === dir) return;
    folder = dir;
    line('F:', dir);
    const at = dirs.get(dir);
    const m = at === undefined ? undefined : ids(at, 0o755);
    if (m !== undefined) line('M:', m);
  };
  for (let i = 0; i < files.length; i++) {
    const path = files.path(i);
    if (files.type(i) === 'dir') {
      emitFolder(path);
      continue;
    }
    const slash = path.lastIndexOf('/');
    const dir = slash < 0 ? '' : path.slice(0, slash);
    // A file at the root is under the root's `F:`, whose name is empty (apk-tools' diri of ""):
    // an `R:` before any `F:` makes apk-tools refuse the database, and one after another
    // folder's would be read as that folder's (apko writes it too: ./apko-db.ts).
    if (folder !== dir) emitFolder(dir);
    line('R:', path.slice(slash + 1));
    const a = ids(i, 0o644);
    if (a !== undefined) line('a:', a);
    const q1 = files.q1(i);
    if (q1 !== undefined) line('Z:', q1);
  }
  out.append('\n\n');
}

/**
 * scripts.tar: each package's install scripts as `<name>-<version>.<Q1 checksum>.<script>`
 * entries, as apk-tools stores them (a tar without the end blocks, like apk's). Times are `mtime`.
 */
async function scriptsTar(installed: readonly InstalledApk[], mtime: number): Promise<Uint8Array> {
  const entries = [];
  for (const { info, pkg } of installed) {
    for (const [name, body] of [...pkg.scripts].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (!name.startsWith('.') || name === '.trigger' || !/^\.(pre|post)-(install|upgrade|deinstall)$/.test(name)) continue;
      entries.push({
        header: tarHeader({ name: `${info.name}-${info.version}.${info.checksum}${name}`, size: body.length, mode: 0o755, mtime }),
        body,
      });
    }
  }
  return tarBytes(entries);
}

/** The triggers file: `Q1checksum folder...` for each package with a `.trigger` script. */
function triggersFile(installed: readonly InstalledApk[]): string {
  let out = '';
  for (const { info, pkg } of installed) {
    const triggers = pkg.pkginfo.get('triggers');
    if (pkg.scripts.has('.trigger') && triggers !== undefined && triggers.length > 0) out += `${info.checksum} ${triggers.join(' ')}\n`;
  }
  return out;
}

/** What {@link writeApkDatabase} writes besides the packages' records. */
export interface ApkDatabaseOptions {
  /** The requested packages (`contents.packages`), for /etc/apk/world. */
  world: readonly string[];
  /** The repositories as /etc/apk/repositories lists them: a URL, with its tag when it has one. */
  repositories: readonly { url: string; tag: string }[];
  arch: string;
  keyring: ApkKeyring;
  /** The time of the files written. */
  mtime: number;
  /** The installed database written already, package by package (with {@link installedStanza}); else made of `installed`. */
  installed?: FileBody | undefined;
}

/**
 * apk's own files, as apk-tools writes them: /etc/apk/world, repositories, arch and keys, and
 * the installed database, scripts.tar, triggers and lock under usr/lib/apk/db.
 */
export async function writeApkDatabase(tree: Tree, installed: readonly InstalledApk[], options: ApkDatabaseOptions): Promise<void> {
  const { mtime } = options;
  buildFile(tree, 'etc/apk/world', `${[...options.world].sort().join('\n')}\n`, mtime);
  buildFile(
    tree,
    'etc/apk/repositories',
    `${options.repositories.map((r) => (r.tag === '' ? r.url : `@${r.tag} ${r.url}`)).join('\n')}\n`,
    mtime,
  );
  buildFile(tree, 'etc/apk/arch', `${options.arch}\n`, mtime);
  for (const name of options.keyring.names()) buildFile(tree, `etc/apk/keys/${name}`, options.keyring.pem(name) ?? '', mtime);
  if (options.installed === undefined) buildFile(tree, 'usr/lib/apk/db/installed', installedDatabase(installed), mtime);
  else tree.put('usr/lib/apk/db/installed', { type: 'file', mode: 0o644, uid: 0, gid: 0, mtime, body: options.installed, owner: 'build' });
  buildFile(tree, 'usr/lib/apk/db/scripts.tar', await scriptsTar(installed, mtime), mtime);
  buildFile(tree, 'usr/lib/apk/db/triggers', triggersFile(installed), mtime);
  buildFile(tree, 'usr/lib/apk/db/lock', '', mtime, 0o600);
}
