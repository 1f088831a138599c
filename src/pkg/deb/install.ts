/**
 * Installing Debian packages into the in-memory tree without running anything, and writing a
 * dpkg database, so that scanners, and dpkg itself when the image has it, see every package.
 *
 * Without dpkg in the tree, the database is distroless's (https://github.com/GoogleContainerTools/distroless,
 * file PACKAGE_METADATA.md): one file per package in /var/lib/dpkg/status.d/, `<package>` holding
 * the package's control stanza (what `dpkg-deb --field` prints) and `<package>.md5sums` its
 * md5sums; no /var/lib/dpkg/status and no /var/lib/dpkg/info/. Trivy and Syft read this layout.
 * When dpkg is one of the packages, it is dpkg's own (./dpkg-database.ts), and status.d is not
 * written: dpkg and apt in a derived image update `status` alone, and a scanner reading a stale
 * status.d beside it would report the base image's versions (docs/build.md, "Debian images").
 * Either is written once, after the last package ({@link writeDebDatabase}).
 *
 * Maintainer scripts are never run. What the usual ones would have made is written
 * declaratively by the helpers here ({@link caBundle} for ca-certificates, {@link setTimezone}
 * for tzdata), and each package reports the scripts it carried ({@link InstalledDeb.skippedScripts}).
 */

import { posix } from 'node:path';
import { concatBytes } from '../../bytes.ts';
import { ProvenantError } from '../../errors.ts';
import { type Body, BodyReader, bodySize, describeImageFile, imageFileWhere, isFileBody, readBody, readBodyUpTo } from '../../vfs/body.ts';
import type { SpilledFiles } from '../../vfs/spill.ts';
import { compareBytes, type FsNode, type Tree } from '../../vfs/tree.ts';
import { type Installing, namingPackage, tracked } from '../install-error.ts';
import type { InventoryFile, InventoryFiles } from '../inventory.ts';
import type { PackageEntry } from '../unpacked.ts';
import { refuseOverlayControl, xattrsOf } from '../xattrs.ts';
import { DEB_COPYRIGHT_MAX_BYTES, debCopyrightLicense } from './copyright.ts';
import type { DebPackage, DebScriptName } from './deb.ts';
import {
  DPKG_DIR,
  DPKG_INFO,
  DPKG_INFO_FORMAT,
  DPKG_STATUS,
  DPKG_TRIGGERS,
  dpkgConffiles,
  dpkgInfoFiles,
  dpkgStatusFile,
  dpkgStatusStanza,
  dpkgTriggerFiles,
  withoutStatusFields,
} from './dpkg-database.ts';
import { parseDebRelations } from './relations.ts';
import { satisfiesDebConstraint } from './version.ts';

/** What one package put in the tree, for SBOMs and reports. */
export interface InstalledDeb {
  pkg: DebPackage;
  /** The package's file name in status.d: `<package>`, or `<package>:<arch>` (see {@link DebInstallOptions.multiArchNames}). */
  statusName: string;
  /** Entries in archive order, with the MD5 that md5sums gives for each file; empty when the files were kept out of the tree. */
  files: { path: string; type: string; mode: number; uid: number; gid: number; md5?: string | undefined }[];
  /**
   * The inventory's file list, made from the package's entries when asked for: when `files` was
   * not kept, or with {@link DebInstallOptions.fileDigests} (then with each file's SHA-1).
   */
  inventoryFiles?: InventoryFiles | undefined;
  /** The maintainer scripts (and `triggers`) the package has, none of which ran. */
  skippedScripts: DebScriptName[];
  /**
   * The database files that describe this package alone (relative paths): its status.d files, or
   * its info/ files when dpkg is one of the packages; empty until {@link writeDebDatabase} wrote
   * them, and when `database` is off.
   */
  database: string[];
  /**
   * The license its /usr/share/doc/<package>/copyright gives (./copyright.ts; '' when that file
   * is not machine-readable); undefined when the package installs no such file.
   */
  copyrightLicense?: string | undefined;
  /**
   * Where its /usr/share/doc/<package> points, when the package installs it as a symlink (as
   * Debian policy 12.5 allows towards a package of the same source): a relative path in the tree.
   */
  docLink?: string | undefined;
}

/** Options of {@link installDeb}. */
export interface DebInstallOptions {
  /** When set, every time in the tree becomes this (SOURCE_DATE_EPOCH); else the package's, and 0 for the database. */
  mtime?: number | undefined;
  /** Have {@link writeDebDatabase} write the package's database files (default true): status.d, or dpkg's own when dpkg is one of the packages. */
  database?: boolean | undefined;
  /**
   * Put `Status: install ok installed` after the `Package` line of a status.d file, as a
   * stanza of dpkg's own status file has it (default true). Distroless writes the control stanza
   * alone; scanners read both.
   */
  statusLine?: boolean | undefined;
  /**
   * Name the status.d files of a `Multi-Arch: same` package `<package>:<arch>`, as dpkg names
   * its info/ files, so that one package for two architectures keeps two records. Off by
   * default: distroless uses the bare package name.
   */
  multiArchNames?: boolean | undefined;
  /**
   * Where the package's files go instead of the tree, when they can (../../vfs/spill.ts): the
   * install then throws SpillRefused at the first entry that a tree alone can settle, and the
   * record's `files` stays empty (`inventoryFiles` makes its list from the package's entries).
   */
  spill?: SpilledFiles | undefined;
  /**
   * The versions of the packages already installed, by name, so that a versioned `Replaces`
   * (`Replaces: foo (<< 2.0)`) only covers the versions it names. A package not listed here is
   * taken to match any version.
   */
  installedVersions?: ReadonlyMap<string, string> | undefined;
  /**
   * The `Replaces` field of the packages already installed, by name: a file of one that replaces
   * this package (at this package's version) stays, and this package's copy is left out, as dpkg
   * keeps it ("Replaced by files in installed package"). Without it, only this package's own
   * `Replaces` settles a file two packages install, and the outcome depends on their order.
   */
  installedReplaces?: ReadonlyMap<string, string> | undefined;
  /**
   * The inventory lists each file with its SHA-1 (for SBOMs that list files, `--sbom-files`: SPDX
   * 2.3 wants one for every file, and dpkg records only MD5s). Taken from the bytes the first
   * time the list is asked for, a piece at a time, and kept.
   */
  fileDigests?: boolean | undefined;
}

/** Where distroless keeps its dpkg database. */
const STATUS_D = 'var/lib/dpkg/status.d';
const encoder = new TextEncoder();

/**
 * Unpacks one read and checked package into `tree`, and reports the maintainer scripts it did not
 * run. Its database files are written by {@link writeDebDatabase}, after the last package.
 *
 * dpkg's rules: a file (or link) that another package already installed is a conflict unless
 * this package `Replaces` that one (at the installed version, when `installedVersions` says it),
 * and then this package's wins; or unless that one `Replaces` this package at its version (from
 * `installedReplaces`), and then the installed one stays and this package's is left out, so that
 * the file that stays is the same in either order (dpkg's database then lists the path as the
 * replacing package's alone, {@link writeDebDatabase}; the md5sums dpkg makes for a package that
 * ships none, and a shared folder's mode, do depend on the order, as with dpkg); the same for
 * anything but a folder or a symlink where packages installed a folder (each of them asked),
 * which dpkg refuses otherwise; folders merge, a folder keeping the mode and owners of the first
 * package that installed it; a folder in the package where the tree has a symlink to a folder
 * keeps the symlink (so merged-/usr links survive), and a symlink in the package where the tree
 * has a folder keeps the folder; a hardlink must point at a file this package installed.
 *
 * @throws ProvenantError `FILE_CONFLICT` naming both packages and the path each installs;
 *   `UNSAFE_PATH` for a hardlink to something this package did not install, a folder part that is
 *   a file, or a file over a folder that is not empty, or an entry an overlay file system reads as
 *   its own (../xattrs.ts, refuseOverlayControl); each naming the package (`where`) and the entry
 */
export function installDeb(tree: Tree, pkg: DebPackage, options: DebInstallOptions = {}): InstalledDeb {
  const owner = pkg.name;
  const where = `${pkg.name}_${pkg.version}_${pkg.architecture}`;
  const replaces = replacedPackages(pkg, where, options.installedVersions);
  const replacedBy = replacingPackages(pkg, options.installedReplaces);
  const files: InstalledDeb['files'] = [];
  /** Files and hardlinks this package installed: cleaned path → where it landed. */
  const mine = new Map<string, string>();
  /** Where this package's file stayed another's, which Replaces this package: its hardlinks link there, as dpkg's do. */
  const keptForReplacer = new Set<string>();
  /** Paths of other packages' this package took over, by the package that had installed them. */
  const takenOver = new Map<string, string[]>();
  /** Paths of this package left out because an installed package that replaces it has them: dpkg lists them no more. */
  const leftOut = new Set<string>();
  const spill = options.spill;
  const named = namedPaths(tree);
  const shared = sharedFolders(tree);
  // Parsed once for the install: a kept package's md5sums is parsed again at each use (./kept.ts).
  const md5sums = spill !== undefined || pkg.md5sums instanceof Map ? pkg.md5sums : new Map(pkg.md5sums);
  // The entry being installed, for an error of the tree's, which knows no package.
  const installing: Installing = { path: undefined };
  const docDir = `usr/share/doc/${pkg.name}`;
  let copyrightLicense: string | undefined;
  let docLink: string | undefined;
  /** Lists the entry in the record. */
  const list = ({ path, header: h }: PackageEntry): void => {
    if (spill === undefined) files.push({ path, type: h.type, mode: h.mode, uid: h.uid, gid: h.gid, md5: md5sums.get(path) });
  };
  /** Leaves the entry out of the tree and of dpkg's database, for a package that replaces this one; the record still lists it. */
  const leaveOut = (entry: PackageEntry): void => {
    leftOut.add(entry.path);
    list(entry);
  };
  try {
    for (const entry of tracked(pkg.entries, installing)) {
      const h = entry.header;
      // Before any verdict on the path: an entry another package's file wins over is still the package's.
      refuseOverlayControl(h, where);
      const mtime = options.mtime ?? h.mtime;
      const at = tree.resolveParent(entry.path);
      const existing = tree.get(at);
      const existingIsDir = existing?.type === 'dir' || (existing?.type === 'symlink' && tree.read(tree.resolve(at))?.type === 'dir');
      // dpkg keeps a folder where the package has a symlink (its tarobject: "symlink exists as
      // directory"), as it follows a symlink to a folder where the package has the folder.
      const keepsFolder = h.type === 'symlink' && existing?.type === 'dir';
      // A folder over a symlink to a folder, or a symlink over a folder, changes nothing (below): nothing to check.
      if (spill !== undefined && !keepsFolder && !(h.type === 'dir' && existing?.type === 'symlink' && existingIsDir))
        spill.check(tree, entry.path, h.type);
      // Anything but a folder or a symlink where other packages installed a folder: dpkg asks each
      // of them, the latest first, and refuses it ("trying to overwrite directory ... with
      // nondirectory") unless each replaces this package or this one replaces it. Where one
      // replaces this package its folder stays; else this package's entry takes the (empty)
      // folder over from all of them.
      if (existing?.type === 'dir' && h.type !== 'dir' && !keepsFolder) {
        const others = folderPackages(shared, at, existing, owner, named.get(at) ?? at);
        const unsettled = others.find((o) => !replaces(o.pkg) && !replacedBy(o.pkg));
        if (unsettled !== undefined) {
          throw new ProvenantError(
            'FILE_CONFLICT',
            `${pkg.name} installs /${entry.path} as ${KIND[h.type]}, and ${unsettled.pkg} installs /${unsettled.path} as a folder${samePath(entry.path, unsettled.path, at)}`,
            {
              where,
              hint: `dpkg refuses to replace a folder with anything but a folder; one of the two packages must declare "Replaces" naming the other`,
            },
          );
        }
        if (others.some((o) => !replaces(o.pkg))) {
          leaveOut(entry);
          continue;
        }
        for (const o of others) addTo(takenOver, o.pkg, entry.path);
        shared.delete(at);
      }
      if (existing !== undefined && existing.type !== 'dir' && existing.owner !== undefined && existing.owner !== owner) {
        if (!(h.type === 'dir' && existingIsDir) && !replaces(existing.owner) && !sameBuildLink(existing, h, entry.path)) {
          if (!replacedBy(existing.owner)) {
            const theirs = named.get(at) ?? at;
            const what =
              theirs === entry.path
                ? `${pkg.name} and ${existing.owner} both install /${entry.path}`
                : `${pkg.name} installs /${entry.path} and ${existing.owner} installs /${theirs}${samePath(entry.path, theirs, at)}`;
            throw new ProvenantError('FILE_CONFLICT', what, {
              where,
              hint: `the two packages cannot be installed together; one of them must declare "Replaces: ${existing.owner}"`,
            });
          }
          // The installed package replaces this one: its file stays, and dpkg's database no longer
          // lists the path as this package's (`leftOut`). The record still lists it (as a package
          // whose file was replaced later keeps it there), so that the inventory is the one a list
          // made from the package's entries gives.
          leaveOut(entry);
          if (h.type === 'file' && existing.type === 'file') {
            mine.set(entry.path, at);
            keptForReplacer.add(at);
          }
          continue;
        }
        // Past the check, an entry over another package's file or link, but a folder over a link
        // to a folder, is one this package Replaces (the build's own link aside): dpkg takes it out
        // of that package's list.
        if (!(h.type === 'dir' && existingIsDir) && existing.owner !== 'build') addTo(takenOver, existing.owner, entry.path);
      }
      if (entry.path === `${docDir}/copyright` && h.type === 'file') {
        // Read here, once, from the package's own bytes (a file kept out of the tree included);
        // the inventory record keeps the answer, and a build recalled from its record reads nothing.
        copyrightLicense = bodySize(entry.body) > DEB_COPYRIGHT_MAX_BYTES ? '' : debCopyrightLicense(readBody(entry.body));
      } else if (entry.path === docDir && h.type === 'symlink') {
        docLink = h.linkname.startsWith('/') ? posix.normalize(h.linkname.slice(1)) : posix.join('usr/share/doc', h.linkname);
      }
      const xattrs = xattrsOf(h.pax);
      const { mode, uid, gid } = h;
      // Literals with their fields named, as ../apk/install.ts makes them (a spread keeps them out of line).
      switch (h.type) {
        case 'dir':
          // dpkg follows a symlink to a folder rather than replacing it with the package's folder,
          // and leaves a folder another package installed as it is: its mode and owners stay the
          // first package's. The time is the last's, as the folder's time is that of its last change.
          if (existing?.type === 'dir' && installedByAnother(existing, owner)) {
            const { mode: m, uid: u, gid: g, owner: o, xattrs: x } = existing;
            tree.put(entry.path, { type: 'dir', mode: m, uid: u, gid: g, mtime, owner: o, xattrs: x });
            shareFolder(shared, at, { pkg: o, path: named.get(at) ?? at }, { pkg: owner, path: entry.path });
          } else if (existing?.type !== 'symlink' || !existingIsDir) {
            tree.put(entry.path, { type: 'dir', mode, uid, gid, mtime, owner, xattrs });
          }
          break;
        case 'file': {
          const node: FsNode = { type: 'file', mode, uid, gid, mtime, owner, xattrs, body: entry.body };
          mine.set(entry.path, spill?.takes(tree, at, node) === true ? at : tree.put(entry.path, node));
          break;
        }
        case 'symlink':
          mine.delete(entry.path);
          // The folder kept is this package's too: its list has the path, and dpkg asks it as it asks the folder's.
          if (keepsFolder && existing !== undefined && installedByAnother(existing, owner))
            shareFolder(shared, at, { pkg: existing.owner, path: named.get(at) ?? at }, { pkg: owner, path: entry.path });
          if (!keepsFolder) tree.put(entry.path, { type: 'symlink', mode, uid, gid, mtime, owner, xattrs, linkname: h.linkname });
          break;
        case 'hardlink': {
          const target = entry.hardlinkTarget === undefined ? undefined : mine.get(entry.hardlinkTarget);
          const node = target === undefined ? undefined : tree.get(target);
          // A file of this package kept out of the tree is its own.
          const kept = target !== undefined && node === undefined && spill?.isKeptFile(target) === true;
          const replacers = target !== undefined && keptForReplacer.has(target) && node?.type === 'file';
          if (target === undefined || (!kept && !replacers && (node?.type !== 'file' || node.owner !== owner))) {
            throw new ProvenantError(
              'UNSAFE_PATH',
              `the hardlink /${entry.path} points at /${entry.hardlinkTarget ?? h.linkname}, which is not a file this package installed`,
              { where },
            );
          }
          mine.set(entry.path, tree.put(entry.path, { type: 'hardlink', mode, uid, gid, mtime, owner, xattrs, linkname: target }));
          break;
        }
        default:
          mine.delete(entry.path);
          tree.put(entry.path, { type: h.type, mode, uid, gid, mtime, owner, xattrs, devmajor: h.devmajor, devminor: h.devminor });
      }
      // Where the path the package names is not where it landed (merged /usr), an error about
      // that place names each package's own path.
      if (tree.get(at)?.owner === owner) {
        if (at === entry.path) named.delete(at);
        else named.set(at, entry.path);
      }
      list(entry);
    }
  } catch (err) {
    throw namingPackage(err, where, installing.path);
  }

  const statusName = debStatusName(pkg, options);
  const inventoryFiles =
    options.fileDigests === true ? debInventoryFiles(pkg.entries, true) : spill === undefined ? undefined : debInventoryFiles(pkg.entries);
  const record: InstalledDeb = {
    pkg,
    statusName,
    files,
    inventoryFiles,
    skippedScripts: [...pkg.scripts.keys()],
    database: [],
    copyrightLicense,
    docLink,
  };
  if (options.database !== false) {
    let pending = pendingDatabases.get(tree);
    if (pending === undefined) {
      pending = [];
      pendingDatabases.set(tree, pending);
    }
    pending.push({ installed: record, takenOver, leftOut, mtime: options.mtime ?? 0, options });
  }
  return record;
}

/**
 * A package installed with a database, which {@link writeDebDatabase} writes once the last
 * package is in: only then is it known whether the database is dpkg's own (every package in
 * one status file) or status.d. Kept by tree, beside it: a source installs its packages one
 * call at a time (../source.ts).
 */
interface PendingRecord {
  installed: InstalledDeb;
  /** The paths it took over (files it Replaces), by the package that had installed them: dpkg lists them no more. */
  takenOver: ReadonlyMap<string, string[]>;
  /** Its paths left out because an installed package that replaces it has them: dpkg neither lists nor hashes them. */
  leftOut: ReadonlySet<string>;
  /** The time of its database files. */
  mtime: number;
  options: Pick<DebInstallOptions, 'statusLine' | 'multiArchNames'>;
}

const pendingDatabases = new WeakMap<Tree, PendingRecord[]>();

/**
 * Writes the database of the packages {@link installDeb} put in `tree` since the last call (those
 * installed with `database` off aside), each file once, and fills in their records' `database`.
 * Called after the last package: the database describes them all.
 *
 * Without dpkg among them, each package's status.d files, as distroless has them. With dpkg,
 * dpkg's own: info/format, each package's info/ files (without the paths a package installed
 * after it took over, nor those left out because one installed before it replaces it, as dpkg
 * lists them, its conffiles there `obsolete` in the status file; its maintainer scripts and other control members
 * beside them), the status file and triggers/ (the packages' trigger interests), which are
 * shared by all and listed in no record's `database`. Each package's files have its install's
 * `mtime`, the status file, info/format and triggers/ the last install's (the database's time is
 * that of its last change), dpkg's folder the first's and info/ dpkg's, where no package made
 * them.
 */
export function writeDebDatabase(tree: Tree): void {
  const records = pendingDatabases.get(tree);
  pendingDatabases.delete(tree);
  const first = records?.[0];
  const last = records?.at(-1);
  if (records === undefined || first === undefined || last === undefined) return;
  const dirMode = (mtime: number): Partial<FsNode> => ({ mode: 0o755, uid: 0, gid: 0, mtime, owner: 'build' });
  const put = (path: string, body: Body, mtime: number, mode = 0o644): void => {
    tree.put(path, { type: 'file', mode, uid: 0, gid: 0, mtime, body, owner: 'build' });
  };
  const dpkg = records.find((r) => r.installed.pkg.name === 'dpkg');
  if (dpkg === undefined) {
    tree.mkdirAll(STATUS_D, dirMode(first.mtime));
    for (const r of records) {
      for (const { path, body } of dpkgStatusFiles(r.installed.pkg, r.options)) {
        put(path, body, r.mtime);
        r.installed.database.push(path);
      }
    }
    return;
  }
  // Each package's paths that one installed after it took over, for the latest package of that
  // name installed before the one that took them.
  const elided = new Map<PendingRecord, Set<string>>();
  const latest = new Map<string, PendingRecord>();
  for (const r of records) {
    for (const [owner, paths] of r.takenOver) {
      const from = latest.get(owner);
      if (from === undefined) continue;
      const set = elided.get(from) ?? new Set<string>();
      for (const p of paths) set.add(p);
      elided.set(from, set);
    }
    latest.set(r.installed.pkg.name, r);
  }
  // The database began with the first package: its folder has that package's time.
  if (first !== dpkg) tree.mkdirAll(DPKG_DIR, dirMode(first.mtime));
  tree.mkdirAll(DPKG_INFO, dirMode(dpkg.mtime));
  put(DPKG_INFO_FORMAT.path, DPKG_INFO_FORMAT.body, last.mtime);
  const stanzas: { name: string; architecture: string; stanza: string }[] = [];
  for (const r of records) {
    const pkg = r.installed.pkg;
    const taken = elided.get(r);
    for (const { path, body, mode } of dpkgInfoFiles(pkg, taken, r.leftOut)) {
      put(path, body, r.mtime, mode);
      r.installed.database.push(path);
    }
    // A conffile another package has (its own stayed, or it took this one's over) is obsolete.
    const replaced = taken === undefined ? r.leftOut : new Set([...taken, ...r.leftOut]);
    stanzas.push({ name: pkg.name, architecture: pkg.architecture, stanza: dpkgStatusStanza(pkg, dpkgConffiles(pkg, replaced)) });
  }
  put(DPKG_STATUS, dpkgStatusFile(stanzas), last.mtime);
  // The trigger interests, shared as the status file is: in no package's `database`.
  tree.mkdirAll(DPKG_TRIGGERS, dirMode(last.mtime));
  for (const { path, body, mode } of dpkgTriggerFiles(records.map((r) => r.installed.pkg))) put(path, body, last.mtime, mode);
}

/**
 * The paths packages named for the places of a tree their entries landed elsewhere (through a
 * symlinked folder: `bin/dup` at `usr/bin/dup`), by place: the path a package named, for an
 * error that names the other package's.
 */
const namedPaths = perTree<string>();

/** A package that installed a folder, and the path it named for it (`lib/zz` at `usr/lib/zz`). */
interface Sharer {
  readonly pkg: string;
  readonly path: string;
}

/**
 * The packages that installed each folder two or more packages install (or ship a symlink where
 * the folder stays), by place, in the order they installed it (the first is the folder node's
 * `owner`): dpkg asks each of them about anything else at that place. Each is its name alone
 * where the path it named is the place, as nearly all are. An entry only for a folder packages
 * share: what it costs grows with the folders shared times the packages sharing each, not with
 * the files (a 73-package bookworm image: 228 entries, 1,693 names, ~79 KB).
 */
const sharedFolders = perTree<(string | Sharer)[]>();

/** A getter of a map of `V` by place for each tree, made the first time a tree asks. */
function perTree<V>(): (tree: Tree) => Map<string, V> {
  const maps = new WeakMap<Tree, Map<string, V>>();
  return (tree) => {
    let map = maps.get(tree);
    if (map === undefined) {
      map = new Map();
      maps.set(tree, map);
    }
    return map;
  };
}

/** The package of a `sharedFolders` list's item. */
const sharerName = (s: string | Sharer): string => (typeof s === 'string' ? s : s.pkg);

/** Notes that `sharer` installs the folder at `at` as well, which `first` installed. */
function shareFolder(shared: Map<string, (string | Sharer)[]>, at: string, first: Sharer, sharer: Sharer): void {
  const item = (s: Sharer) => (s.path === at ? s.pkg : s);
  const sharers = shared.get(at);
  // A list that does not start with the folder's owner is that of a folder since removed.
  if (sharers === undefined || sharers[0] === undefined || sharerName(sharers[0]) !== first.pkg)
    shared.set(at, [item(first), item(sharer)]);
  else if (!sharers.some((s) => sharerName(s) === sharer.pkg)) sharers.push(item(sharer));
}

/**
 * The packages other than `pkg` that installed the folder `node` at `at`, the latest first, as
 * dpkg asks them, with the paths they named (the owner's `named` where no other shares it).
 */
function folderPackages(shared: ReadonlyMap<string, (string | Sharer)[]>, at: string, node: FsNode, pkg: string, named: string): Sharer[] {
  if (!installedByAnother(node, pkg)) return [];
  const sharers = shared.get(at);
  if (sharers?.[0] === undefined || sharerName(sharers[0]) !== node.owner) return [{ pkg: node.owner, path: named }];
  return sharers
    .filter((s) => sharerName(s) !== pkg)
    .reverse()
    .map((s) => (typeof s === 'string' ? { pkg: s, path: at } : s));
}

/** Whether another package than `pkg` installed `node` (not the build, nor a base image). */
function installedByAnother(node: FsNode, pkg: string): node is FsNode & { owner: string } {
  return node.owner !== undefined && node.owner !== 'build' && node.owner !== pkg;
}

/** Each kind of entry, as an error names it. */
const KIND: Record<FsNode['type'], string> = {
  file: 'a file',
  dir: 'a folder',
  symlink: 'a symbolic link',
  hardlink: 'a hard link',
  char: 'a character device',
  block: 'a block device',
  fifo: 'a named pipe (FIFO)',
};

/** `: one path in the image, /<at>`, when `mine` or `theirs` is not `at`. */
function samePath(mine: string, theirs: string, at: string): string {
  return mine === at && theirs === at ? '' : `: one path in the image, /${at}`;
}

/** Adds `path` to the list of `key` in `lists`. */
function addTo(lists: Map<string, string[]>, key: string, path: string): void {
  const paths = lists.get(key);
  if (paths === undefined) lists.set(key, [path]);
  else paths.push(path);
}

/** Bytes of a large body hashed at a time. */
const HASH_PIECE = 1024 * 1024;

/**
 * The regular files among `entries` as the inventory lists them. Without `sha1s`, made one at a
 * time each time the function is called: a list per file of the image, held to the end of a
 * build, is what keeping files out of the tree spares. With `sha1s`, each file's SHA-1 is taken from its bytes
 * the first time (a body on disk a piece at a time, checked as it is read) and the list is kept:
 * the build record and the SBOMs each ask.
 */
function debInventoryFiles(entries: Iterable<PackageEntry>, sha1s = false): InventoryFiles {
  if (!sha1s) {
    return function* (): Generator<InventoryFile> {
      for (const e of entries) if (e.header.type === 'file') yield { path: `/${e.path}` };
    };
  }
  let made: InventoryFile[] | undefined;
  return () => {
    if (made !== undefined) return made;
    const out: InventoryFile[] = [];
    const reader = new BodyReader();
    const { createHash } = process.getBuiltinModule('node:crypto');
    try {
      for (const e of entries) {
        if (e.header.type !== 'file') continue;
        const hash = createHash('sha1');
        if (isFileBody(e.body) && e.body.size > HASH_PIECE) for (const piece of reader.pieces(e.body, HASH_PIECE)) hash.update(piece);
        else hash.update(reader.read(e.body));
        out.push({ path: `/${e.path}`, sha1: hash.digest('hex') });
      }
    } finally {
      reader.close();
    }
    made = out;
    return out;
  };
}

/** The status.d file name of a package: `<package>`, or `<package>:<arch>` for Multi-Arch: same with `multiArchNames`. */
function debStatusName(
  pkg: Pick<DebPackage, 'name' | 'architecture' | 'multiArch'>,
  options: Pick<DebInstallOptions, 'multiArchNames'> = {},
): string {
  return options.multiArchNames === true && pkg.multiArch === 'same' ? `${pkg.name}:${pkg.architecture}` : pkg.name;
}

/**
 * The status.d files of one package, as distroless writes them: `<name>` (the control file's
 * bytes, with `Status: install ok installed` after `Package` unless `statusLine` is false) and
 * `<name>.md5sums` (the package's md5sums, byte for byte: where it lies in the cache for a
 * package kept there) when the package has one.
 */
export function dpkgStatusFiles(
  pkg: DebPackage,
  options: Pick<DebInstallOptions, 'statusLine' | 'multiArchNames'> = {},
): { path: string; body: Body }[] {
  const name = debStatusName(pkg, options);
  // A control file has no business carrying the status database's own fields (dpkg refuses
  // such a package): the stanza's Status is ours alone.
  let control = withoutStatusFields(pkg.controlBytes);
  if (control.length > 0 && control[control.length - 1] !== 0x0a) control = concatBytes([control, encoder.encode('\n')]);
  if (options.statusLine !== false) control = withStatusLine(control);
  const out: { path: string; body: Body }[] = [{ path: `${STATUS_D}/${name}`, body: control }];
  // A kept package's md5sums stays in the cache, where the layer reads it (./kept.ts).
  const md5sums = pkg.md5sumsFile ?? pkg.md5sumsBytes;
  if (md5sums !== undefined) out.push({ path: `${STATUS_D}/${name}.md5sums`, body: md5sums });
  return out;
}

/** Inserts the Status line after the `Package:` line, touching no other byte. */
function withStatusLine(control: Uint8Array): Uint8Array {
  const status = encoder.encode('Status: install ok installed\n');
  let start = 0;
  while (start < control.length) {
    let end = control.indexOf(0x0a, start);
    end = end < 0 ? control.length : end + 1;
    const head = new TextDecoder().decode(control.subarray(start, Math.min(end, start + 8)));
    if (/^package:/i.test(head)) return concatBytes([control.subarray(0, end), status, control.subarray(end)]);
    start = end;
  }
  return concatBytes([status, control]);
}

/**
 * Whether `pkg`'s `Replaces` covers the installed package `name`: named there, and, when the
 * entry has a version relation and `versions` knows the installed version, satisfying it.
 */
function replacedPackages(pkg: DebPackage, where: string, versions: ReadonlyMap<string, string> | undefined): (name: string) => boolean {
  const relations = parseDebRelations(pkg.control.replaces ?? '', 'Replaces', where).flat();
  return (name) =>
    relations.some((r) => {
      if (r.name !== name) return false;
      const installed = versions?.get(name);
      return r.op === undefined || r.version === undefined || installed === undefined || satisfiesDebConstraint(installed, r.op, r.version);
    });
}

/**
 * Whether the installed package `name` replaces `pkg` at its version: `Replaces` from
 * `installedReplaces`, each parsed when first asked about (an installed package's was parsed,
 * and refused if malformed, when it was installed).
 */
function replacingPackages(pkg: DebPackage, installed: ReadonlyMap<string, string> | undefined): (name: string) => boolean {
  const parsed = new Map<string, boolean>();
  return (name) => {
    let yes = parsed.get(name);
    if (yes === undefined) {
      const text = installed?.get(name);
      yes =
        text !== undefined &&
        parseDebRelations(text, 'Replaces', name)
          .flat()
          .some(
            (r) =>
              r.name === pkg.name &&
              (r.op === undefined || r.version === undefined || satisfiesDebConstraint(pkg.version, r.op, r.version)),
          );
      parsed.set(name, yes);
    }
    return yes;
  };
}

// ---------------------------------------------------------------------------------------------
// What maintainer scripts would have made, written declaratively
// ---------------------------------------------------------------------------------------------

/** Options of {@link caBundle} and {@link setTimezone}. */
export interface GeneratedFileOptions {
  /** The time of the files written (SOURCE_DATE_EPOCH); 0 by default. */
  mtime?: number | undefined;
}

/** What {@link caBundle} wrote. */
export interface CaBundleResult {
  /** The bundle's path in the tree, or undefined when no certificate was selected (nothing written). */
  path: string | undefined;
  /** The certificate files concatenated, in bundle order (tree paths). */
  sources: string[];
  /** Paths listed in /etc/ca-certificates.conf that are not in the tree (update-ca-certificates warns and skips them). */
  missing: string[];
  /** The number of `BEGIN CERTIFICATE` blocks in the bundle. */
  certificates: number;
}

/** Where tzdata keeps the zones. */
export const ZONEINFO = 'usr/share/zoneinfo';
export const CERTS_DIR = 'usr/share/ca-certificates';
export const LOCAL_CERTS_DIR = 'usr/local/share/ca-certificates';
export const CERTS_CONF = 'etc/ca-certificates.conf';
const BUNDLE = 'etc/ssl/certs/ca-certificates.crt';

/**
 * What {@link caBundle} reads of one certificate file at most: Debian's are a PEM certificate of
 * 1-3 KiB each (ca-certificates' 150 of them, 220 KiB in all), and 4 MiB holds a local bundle of
 * some 2,000. Each is read whole, and a package may ship one of gigabytes.
 */
export const CA_CERTIFICATE_FILE_MAX = 4 << 20;

/**
 * The most {@link caBundle}'s bundle may hold, the files it concatenates counted before they are
 * read: held at once with its text, it grows with the number of `*.crt` files, which a package
 * may ship by the thousand under the cap each has.
 */
export const CA_BUNDLE_MAX = 64 << 20;

/** What {@link caBundle} reads of /etc/ca-certificates.conf at most: a list of paths, 8 KiB in Debian. */
export const CA_CONF_MAX = 1 << 20;

/**
 * Writes /etc/ssl/certs/ca-certificates.crt as ca-certificates' postinst would, by running
 * `update-ca-certificates`: the certificates that /etc/ca-certificates.conf selects, in the
 * file's order (blank lines, `#` comments and `!` deselections skipped, each line relative to
 * /usr/share/ca-certificates), then every `*.crt` under /usr/local/share/ca-certificates in
 * sorted order; each file copied whole, with a newline added when its last line lacks one.
 *
 * Without a (non-empty) /etc/ca-certificates.conf, which the postinst would have generated from
 * debconf, every `*.crt` under /usr/share/ca-certificates is selected in sorted order: the file
 * the postinst writes on a fresh install, where all certificates are trusted by default. Sorting
 * is bytewise (the C locale). The per-certificate symlinks and hash links in /etc/ssl/certs are
 * not made: programs that use the bundle (OpenSSL's default CAfile, Go, Java via
 * SSL_CERT_FILE) do not need them, and distroless images have none either.
 *
 * @throws ProvenantError `NOT_FOUND` when /usr/share/ca-certificates is not in the tree (the
 *   ca-certificates package is not installed); `TOO_LARGE` naming the file and its package for a
 *   certificate file over {@link CA_CERTIFICATE_FILE_MAX}, /etc/ca-certificates.conf over
 *   {@link CA_CONF_MAX}, or the file that takes the bundle past {@link CA_BUNDLE_MAX}
 */
export function caBundle(tree: Tree, options: GeneratedFileOptions = {}): CaBundleResult {
  if (tree.read(tree.resolve(CERTS_DIR))?.type !== 'dir') {
    throw new ProvenantError('NOT_FOUND', `/${CERTS_DIR} is not in the image, so there are no certificates to bundle`, {
      hint: 'install the ca-certificates package',
    });
  }
  const isFile = (path: string): boolean => {
    const node = tree.read(tree.resolve(path));
    return node?.type === 'file' || node?.type === 'hardlink';
  };
  const crtFiles = (dir: string): string[] => {
    if (tree.read(tree.resolve(dir))?.type !== 'dir') return [];
    const resolved = tree.resolve(dir);
    // `find -L DIR -type f -name '*.crt' | sort`: paths as find prints them, sorted bytewise.
    return tree
      .under(dir)
      .filter((p) => p.endsWith('.crt') && isFile(p))
      .map((p) => `${dir}${p.slice(resolved.length)}`)
      .sort(compareBytes);
  };

  const sources: string[] = [];
  const missing: string[] = [];
  const conf = readText(tree, CERTS_CONF, CA_CONF_MAX);
  if (conf !== undefined && conf.length > 0) {
    for (const line of conf.split('\n')) {
      if (line === '' || line.startsWith('#') || line.startsWith('!')) continue;
      // `read -r` trims spaces and tabs around the name.
      const crt = line.replace(/^[ \t]+|[ \t\r]+$/g, '');
      const path = `${CERTS_DIR}/${crt}`;
      if (crt === '' || !isFile(path)) {
        missing.push(path);
        continue;
      }
      sources.push(path);
    }
  } else {
    for (const p of crtFiles(CERTS_DIR)) sources.push(p);
  }
  // One by one: a spread passes each path as an argument, and a package may ship any number.
  for (const p of crtFiles(LOCAL_CERTS_DIR)) sources.push(p);
  if (sources.length === 0) return { path: undefined, sources, missing, certificates: 0 };

  const parts: Uint8Array[] = [];
  let total = 0;
  for (const path of sources) {
    const file = fileAt(tree, path);
    total += bodySize(file?.node.body);
    if (file !== undefined && total > CA_BUNDLE_MAX) throw bundleTooLarge(file);
    const body = file === undefined ? new Uint8Array() : readBodyUpTo(file.node.body, CA_CERTIFICATE_FILE_MAX, file);
    parts.push(body);
    // `sed -e '$a\'`: a newline after a last line that lacks one; an empty file stays empty.
    if (body.length > 0 && body[body.length - 1] !== 0x0a) parts.push(encoder.encode('\n'));
  }
  const bundle = concatBytes(parts);
  const mtime = options.mtime ?? 0;
  tree.mkdirAll('etc/ssl/certs', { mode: 0o755, uid: 0, gid: 0, mtime, owner: 'build' });
  tree.put(BUNDLE, { type: 'file', mode: 0o644, uid: 0, gid: 0, mtime, body: bundle, owner: 'build' });
  const certificates = new TextDecoder().decode(bundle).match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;
  return { path: BUNDLE, sources, missing, certificates };
}

/**
 * Sets the time zone as tzdata's postinst does: /etc/localtime a symlink to
 * `/usr/share/zoneinfo/<tz>` (an absolute target, as `ln -nsf` there makes it) and /etc/timezone
 * holding the name (unless `etcTimezone` is false; Debian 13's tzdata no longer writes it).
 *
 * @throws ProvenantError `USAGE` for a name that is not `Area/City` shaped; `NOT_FOUND` when
 *   /usr/share/zoneinfo/<tz> is not a file of the tree (tzdata missing, or no such zone)
 */
export function setTimezone(tree: Tree, tz: string, options: GeneratedFileOptions & { etcTimezone?: boolean | undefined } = {}): void {
  if (!/^[A-Za-z0-9_+-]+(\/[A-Za-z0-9_+-]+)*$/.test(tz)) {
    throw new ProvenantError('USAGE', `${JSON.stringify(tz)} is not a time zone name`, {
      hint: 'write a tzdata name such as Etc/UTC or Europe/Paris',
    });
  }
  const zone = `${ZONEINFO}/${tz}`;
  const node = tree.read(tree.resolve(zone));
  if (node?.type !== 'file' && node?.type !== 'hardlink') {
    throw new ProvenantError('NOT_FOUND', `the time zone ${tz} is not in the image: /${zone} is missing`, {
      hint: 'install tzdata, and check the zone name',
    });
  }
  const mtime = options.mtime ?? 0;
  const base: Omit<FsNode, 'type'> = { mode: 0o777, uid: 0, gid: 0, mtime, owner: 'build' };
  tree.mkdirAll('etc', { mode: 0o755, uid: 0, gid: 0, mtime, owner: 'build' });
  tree.put('etc/localtime', { type: 'symlink', ...base, linkname: `/${zone}` });
  if (options.etcTimezone !== false) {
    tree.put('etc/timezone', { type: 'file', ...base, mode: 0o644, body: encoder.encode(`${tz}\n`) });
  }
}

/** A file's text, refused past `max` bytes (TOO_LARGE naming it and its package); undefined when it is no file. */
function readText(tree: Tree, path: string, max: number): string | undefined {
  const file = fileAt(tree, path);
  if (file === undefined) return undefined;
  return new TextDecoder().decode(readBodyUpTo(file.node.body, max, file));
}

/**
 * A file {@link caBundle} reads: the node whose body it reads, the path it is read at and the
 * package that put that there, and where it is a link (a symlink, or a hardlink), the file it
 * leads to and that file's package.
 */
interface LinkedFile {
  node: FsNode;
  path: string;
  owner: string | undefined;
  target?: { path: string; owner: string | undefined };
}

/**
 * The file at `path` (through symlinks and a hardlink, the file whose body it reads), undefined
 * when there is none. The package named for `path` is the one that put the link there, not the
 * file's it leads to: the link is what made the build read that file as a certificate.
 */
function fileAt(tree: Tree, path: string): LinkedFile | undefined {
  let at = tree.resolve(path);
  let node = tree.read(at);
  if (node?.type !== 'file' && node?.type !== 'hardlink') return undefined;
  if (node.type === 'hardlink' && node.linkname !== undefined) {
    at = node.linkname;
    node = tree.read(at);
    if (node === undefined) return undefined;
  }
  // The last part as is: a symlink there is the package's link, and folders through their links.
  const own = tree.resolveParent(path);
  if (own === at) return { node, path, owner: node.owner };
  return { node, path, owner: tree.read(own)?.owner, target: { path: at, owner: node.owner } };
}

/** `TOO_LARGE` for the certificate file that takes the CA bundle past {@link CA_BUNDLE_MAX}. */
function bundleTooLarge(file: LinkedFile): ProvenantError {
  return new ProvenantError('TOO_LARGE', `/${BUNDLE} would be more than ${CA_BUNDLE_MAX} bytes with ${describeImageFile(file)}`, {
    where: imageFileWhere(file),
    hint: "Debian's certificates make a bundle of about 220 KiB: the image holds certificate files that are not ones",
  });
}

/**
 * Whether the package's symlink at `path` is the one the build made there itself, to the same
 * place (`merged-usr`'s `/bin -> usr/bin`, which trixie's base-files ships as well): the package
 * takes it over, as dpkg does with a link that is already what it would make.
 */
function sameBuildLink(existing: FsNode, h: { type: string; linkname: string }, path: string): boolean {
  if (existing.owner !== 'build' || existing.type !== 'symlink' || h.type !== 'symlink') return false;
  const at = (target: string): string => posix.resolve('/', posix.dirname(path), target);
  return at(existing.linkname ?? '') === at(h.linkname);
}
