/**
 * What every image gets after its packages, whatever their ecosystem: the configured accounts,
 * /etc/os-release, and `paths`. Each takes the tree and the configuration and changes the tree;
 * nothing here reads the host.
 */
import { type ErrorCode, ProvenantError } from '../errors.ts';
import type { InventoryFile } from '../pkg/inventory.ts';
import { filesOnDemand, type InstalledPackage, inventoryFilesOf } from '../pkg/source.ts';
import { ACCOUNTS_FILE_MAX, type Body, hashBody, readBodyUpTo } from '../vfs/body.ts';
import { buildFile, type Tree, TreeRefusal } from '../vfs/tree.ts';
import { ConfigError, type ConfigLocation } from '../yaml.ts';
import type { ImageAccounts, ImageOsRelease, PathMutation } from './config-types.ts';

/**
 * The text of the image's file at `path` (its folders and last part resolved; '' where there is
 * none), refused past `max` bytes: a package's /etc/passwd or /etc/os-release is read whole.
 *
 * @throws ProvenantError `TOO_LARGE` naming the file and the package that installed it
 */
export function imageText(tree: Tree, path: string, max: number): string {
  const at = tree.resolve(path);
  const node = tree.get(at);
  return node?.body === undefined ? '' : new TextDecoder().decode(readBodyUpTo(node.body, max, { path: at, owner: node.owner }));
}

/**
 * Adds the configured groups and users to /etc/group and /etc/passwd, keeping the lines packages
 * wrote. An entry whose name is already there replaces it (the configuration wins). /etc/passwd
 * and /etc/group exist afterwards even when empty, as in apko. A home the image lacks is made,
 * but for `/dev/null`, as in apko.
 */
export function applyAccounts(
  tree: Tree,
  accounts: ImageAccounts,
  mtime: number,
  /** Where the configuration wrote each value (LoadedConfig.locations): errors name the user's homedir line. */
  locations?: ReadonlyMap<string, ConfigLocation>,
): void {
  const merge = (path: string, lines: string[]): void => {
    const existing = tree.get(tree.resolve(path));
    const kept = imageText(tree, path, ACCOUNTS_FILE_MAX)
      .split('\n')
      .filter((l) => l !== '');
    const names = new Set(lines.map((l) => l.split(':')[0]));
    const out = [...kept.filter((l) => !names.has(l.split(':')[0])), ...lines];
    buildFile(tree, path, out.length === 0 ? '' : `${out.join('\n')}\n`, mtime, existing?.mode ?? 0o644);
  };
  merge(
    'etc/group',
    accounts.groups.map((g) => `${g.groupname}:x:${g.gid}:${g.members.join(',')}`),
  );
  merge(
    'etc/passwd',
    accounts.users.map((u) => `${u.username}:x:${u.uid}:${u.gid}:${u.username}:${u.homedir}:${u.shell}`),
  );
  for (const [i, u] of accounts.users.entries()) {
    // /dev/null is the usual home of a service account that has none: apko makes no folder for
    // it (pkg/build/accounts.go), and a runtime mounts its own /dev over the image's.
    if (u.homedir === '/dev/null') continue;
    const home = u.homedir === '' || u.homedir === '/' ? undefined : tree.get(tree.resolve(u.homedir.replace(/^\/+/, '')));
    if (home !== undefined && home.type !== 'dir') {
      // apko refuses it too ("home directory ... exists, but is not a directory"): the user
      // could not log in there, and a chown of it would hand a package's file to the user.
      const key = `accounts.users[${i}].homedir`;
      const problem = `${u.username}'s home ${u.homedir} is already in the image as a ${home.type}, not a folder`;
      const hint = `name a folder (or a path the image lacks, which the build makes), e.g. /home/${u.username}`;
      const at = locations?.get(key) ?? locations?.get(`accounts.users[${i}]`);
      throw at === undefined
        ? new ProvenantError('INVALID_CONFIG', `${key}: ${problem}`, { hint })
        : new ConfigError('INVALID_CONFIG', at, key, problem, { hint });
    }
    if (u.homedir !== '' && u.homedir !== '/' && home === undefined) {
      // The home its user's alone, 0700, and the folders above it (/home) root's, 0755, as apko
      // makes them (pkg/build/accounts.go).
      tree.mkdirAll(u.homedir.replace(/^\/+/, ''), { mode: 0o700, uid: u.uid, gid: u.gid, mtime, owner: 'build' });
    }
  }
}

/**
 * Applies `paths` in order, as apko's mutatePaths (pkg/build/paths.go): each entry makes its path,
 * then sets the mode and, where the entry names an id, the owner, of the path and, when
 * `recursive`, of every entry beneath it, files included. Where the entry names neither id,
 * ownership is left as it is (a folder a package made keeps its owner); where it names one, the
 * other is 0 (`uid: 9` alone is 9:0). A new folder or file is root's until then. Modes differ
 * from apko's where the entry gives none: a `directory` gets 0755 (apko gives 0000), the folder
 * alone (what lies beneath keeps its modes), an `empty-file` 0644, and a `hardlink` keeps its
 * file's. A symlink beneath a recursive entry is left as it is and not followed (apko follows
 * it, and would change what it points to outside the path). A hardlink is its file: what the
 * entry sets is set on the file it links to as well, as a chmod of either name of one inode does.
 * A `symlink` entry is root's, sets nothing else, and is refused over a path the image has, as
 * apko refuses it, but for `standIns`: files the build wrote only because nothing else did (the
 * /etc/os-release of applyOsRelease without a configuration's), which it replaces; one naming `uid`, `gid`, `permissions` or `recursive` is refused, since they
 * would do nothing (apko sets them on the link's target).
 *
 * @throws ConfigError `INVALID_CONFIG` at the entry's place (`file:line:column: paths[N]`, or
 *   `paths[N]` and the path for an entry made by hand) when a hardlink's source is missing,
 *   `permissions` names a path the image does not have, or a symlink entry is over a path it
 *   has or names what it cannot set, or where the tree finds the place taken (a folder over a
 *   file); what else the tree refuses (a package's symlink loop: `UNSAFE_PATH`) with its code
 *   and hint, at the entry's place (see {@link pathEntryRefusal})
 */
export function applyPaths(
  tree: Tree,
  paths: readonly PathMutation[],
  mtime: number,
  options: {
    /** Files the build wrote only for want of any, which a symlink entry replaces. */
    standIns?: ReadonlySet<string> | undefined;
    /** Where the configuration wrote each value (LoadedConfig.locations): errors name the entry's line. */
    locations?: ReadonlyMap<string, ConfigLocation> | undefined;
  } = {},
): void {
  const standIns = options.standIns ?? new Set<string>();
  for (const [index, m] of paths.entries()) {
    try {
      applyPath(tree, m, index, mtime, standIns, options.locations);
    } catch (err) {
      // The tree names the path it could not make, not the entry that asked for it.
      if (!(err instanceof ProvenantError) || entryErrors.has(err)) throw err;
      const { code, hint } = pathEntryRefusal(err);
      throw entryError(options.locations, m, index, code, `${m.type} ${m.path}: ${err.message}`, {
        cause: err,
        ...(hint === undefined ? {} : { hint }),
      });
    }
  }
}

/**
 * The code and hint of a refusal met applying a `paths` entry, said as the entry's. A place that
 * is taken (a folder under a file, a file over a folder with contents: the tree's `taken`
 * refusal, or apko's own, under --compat apko) is the entry's mistake: a configuration error
 * (exit 2), as the documentation says. Any other refusal keeps its code and hint: the tree's
 * `limit` (a package's symlink loop, a path beyond PATH_MAX) is not the entry's to fix.
 */
export function pathEntryRefusal(err: ProvenantError): { code: ErrorCode; hint: string | undefined } {
  // apko's refusals (ApkoFs.fail) are UNSAFE_PATH of their own; the tree's say why.
  const taken = err.code === 'UNSAFE_PATH' && (!(err instanceof TreeRefusal) || err.reason === 'taken');
  if (!taken) return { code: err.code, hint: err.hint };
  return {
    code: 'INVALID_CONFIG',
    hint: 'the entry conflicts with what the packages or an earlier entry put in the image: name another path, or remove the entry',
  };
}

/** The errors {@link entryError} made, which name their entry already. */
const entryErrors = new WeakSet<ProvenantError>();

/**
 * A mistake of the `paths` entry `m` (the index-th), found as the build applies it: at the
 * entry's line (or that of its `key`) where `locations` (LoadedConfig.locations) has it.
 */
function entryError(
  locations: ReadonlyMap<string, ConfigLocation> | undefined,
  m: PathMutation,
  index: number,
  code: ErrorCode,
  problem: string,
  details: { hint?: string; cause?: unknown; key?: string } = {},
): ProvenantError {
  const keyPath = `paths[${index}]`;
  const at = (details.key === undefined ? undefined : locations?.get(`${keyPath}.${details.key}`)) ?? locations?.get(keyPath);
  const { key: _, ...rest } = details;
  const err =
    at === undefined
      ? new ProvenantError(code, `${keyPath}: ${problem}`, { ...rest, where: m.path })
      : new ConfigError(code, at, keyPath, problem, rest);
  entryErrors.add(err);
  return err;
}

function applyPath(
  tree: Tree,
  m: PathMutation,
  index: number,
  mtime: number,
  standIns: ReadonlySet<string>,
  locations: ReadonlyMap<string, ConfigLocation> | undefined,
): void {
  const path = m.path.replace(/^\/+/, '');
  // A key the entry's type does not read would do nothing, as on a symlink (below): refused at
  // its line rather than taken silently. apko ignores them; --compat apko does too.
  const idleKey =
    m.source !== undefined && m.type !== 'hardlink' && m.type !== 'symlink'
      ? 'source'
      : m.recursive && (m.type === 'empty-file' || m.type === 'hardlink')
        ? 'recursive'
        : undefined;
  if (idleKey !== undefined) {
    throw entryError(locations, m, index, 'INVALID_CONFIG', `a ${m.type} entry reads no ${idleKey}, so it would do nothing`, {
      key: idleKey,
      hint:
        idleKey === 'source'
          ? `remove source (it is the link target of a hardlink or symlink entry)`
          : `remove recursive (it reaches beneath a directory or permissions entry's path; a ${m.type} has nothing beneath)`,
    });
  }
  // Ownership changes only where the entry names an id, and then the id it does not name is 0,
  // as in apko (mutatePermissionsDirect): `uid: 9` alone is 9:0.
  const owner = m.uid === undefined && m.gid === undefined ? {} : { uid: m.uid ?? 0, gid: m.gid ?? 0 };
  const made = { uid: 0, gid: 0, ...owner, mtime, owner: 'build' as const };
  let mode = m.permissions;
  // What the entry sets on its path (a hardlink's file too): a directory's default mode is added below.
  const change: { mode?: number; uid?: number; gid?: number } = { ...(mode === undefined ? {} : { mode }), ...owner };
  // The folders above a file or link it makes, missing: root's, 0755, as apko's
  // ensureParentDirectory makes them, and of the build's time, as a directory entry's are (the
  // tree would give them none, 1970).
  const slash = path.lastIndexOf('/');
  if (slash > 0 && m.type !== 'directory' && m.type !== 'permissions') {
    tree.mkdirAll(path.slice(0, slash), { mode: 0o755, uid: 0, gid: 0, mtime, owner: 'build' });
  }
  switch (m.type) {
    case 'directory': {
      mode ??= 0o755;
      change.mode = mode;
      tree.mkdirAll(path, { ...made, mode });
      break;
    }
    case 'empty-file':
      mode ??= 0o644;
      tree.put(path, { type: 'file', ...made, mode, body: new Uint8Array() });
      break;
    case 'symlink': {
      // A symlink entry sets no mode and no owner (a link's own are not read, and apko's, set
      // through it, land on its target): a key for them would do nothing, so it is refused.
      const idle = (['uid', 'gid', 'permissions'] as const).find((k) => m[k] !== undefined) ?? (m.recursive ? 'recursive' : undefined);
      if (idle !== undefined) {
        throw entryError(locations, m, index, 'INVALID_CONFIG', `a symlink entry sets no mode or owner, so its ${idle} would do nothing`, {
          key: idle,
          hint: `remove ${idle}; for the mode or owner of what the link points to, add a permissions entry for that path (apko sets them there, through the link)`,
        });
      }
      // apko's Symlink fails where anything is (pkg/build/paths.go, mutateSymLink: "file
      // exists"): replacing it would drop a package's file, or its own link, unsaid. A file the
      // build put there only because nothing else did (its /etc/os-release, which apko does not
      // write) is replaced: under apko the path would be free.
      const at = tree.resolveParent(path);
      const existing = tree.get(at);
      if (existing !== undefined && !standIns.has(at)) {
        throw entryError(
          locations,
          m,
          index,
          'INVALID_CONFIG',
          `${m.path} is already in the image (a ${existing.type}), where a symlink is asked for`,
          {
            hint: 'apko refuses it too: remove the entry (a package may give this link already), or name another path',
          },
        );
      }
      tree.put(path, { type: 'symlink', uid: 0, gid: 0, mtime, owner: 'build', mode: 0o777, linkname: m.source ?? '' });
      return;
    }
    case 'hardlink': {
      const source = tree.resolve((m.source ?? '').replace(/^\/+/, ''));
      const node = tree.get(source);
      if (node?.type !== 'file') {
        throw entryError(
          locations,
          m,
          index,
          'INVALID_CONFIG',
          `the hardlink ${m.path} links to ${m.source ?? ''}, which is not a file in the image`,
        );
      }
      tree.update(source, change);
      tree.put(path, { ...node, ...change, type: 'hardlink', linkname: source, owner: 'build' });
      break;
    }
    case 'permissions': {
      if (tree.get(tree.resolve(path)) === undefined) {
        throw entryError(locations, m, index, 'INVALID_CONFIG', `${m.path} is not in the image, so its permissions cannot be set`);
      }
      break;
    }
  }
  if (m.type === 'permissions' || m.type === 'directory') tree.update(path, change);
  if (!m.recursive) return;
  // Beneath the path, only what the entry gives: a directory's default mode is the folder's
  // alone (a recursive chown must not make every file 0755). A symlink beneath is not followed,
  // as `chmod -R` and `chown -R` do not: `/app/shadow -> /etc/shadow` must not hand /etc/shadow
  // to the folder's owner, and a dangling one is no error.
  const beneath = { ...(m.permissions === undefined ? {} : { mode: m.permissions }), ...owner };
  for (const p of tree.under(path)) if (tree.get(p)?.type !== 'symlink') tree.update(p, beneath);
}

/**
 * Writes /etc/os-release from `os-release` when the configuration gives one, or when no package
 * provided the file (then it says the image was built by Provenant, with no distribution ID
 * claimed that scanners would trust).
 */
export function applyOsRelease(tree: Tree, osRelease: ImageOsRelease | undefined, mtime: number): void {
  const existing = tree.get(tree.resolve('etc/os-release'));
  if (existing !== undefined && osRelease === undefined) return;
  const fields: [string, string | undefined][] = [
    ['ID', osRelease?.id ?? 'unknown'],
    ['NAME', osRelease?.name ?? 'Provenant-built image'],
    ['PRETTY_NAME', osRelease?.prettyName ?? osRelease?.name ?? 'Provenant-built image'],
    ['VERSION_ID', osRelease?.versionId],
    ['HOME_URL', osRelease?.homeUrl],
    ['BUG_REPORT_URL', osRelease?.bugReportUrl],
  ];
  const text = fields
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${osReleaseValue(v ?? '')}`)
    .join('\n');
  buildFile(tree, 'etc/os-release', `${text}\n`, mtime);
}

/**
 * A value as os-release(5) writes it, which shells source: bare when it is plain, else in double
 * quotes with `$`, a backtick, `"` and `\` escaped by a backslash, so that sourcing the file runs
 * nothing (`NAME="a$(id)"` would). The loader refuses control characters (a line break).
 */
function osReleaseValue(v: string): string {
  return /^[A-Za-z0-9._-]+$/.test(v) ? v : `"${v.replace(/[$`"\\]/g, '\\$&')}"`;
}

/** The digests of a file's bytes as the image holds them (hex), for SBOMs that list files. */
export interface FileDigests {
  sha1: string;
  sha256: string;
}

/** The regular file at a path (its body, a hardlink's file's), or undefined for none: what {@link filesAt} gives. */
type FileAt = { body: Body | undefined } | undefined;

/**
 * The regular file at each of `paths` (as the configuration names them, no `/` first), keyed by
 * where the path lands (its folders resolved through symlinks, as a package's file is stored):
 * undefined where there is none (nothing, a folder, a symlink). The last part is not followed: a
 * symlink put in place of a file is no longer the file. A hardlink has its file's body.
 */
export function filesAt(tree: Tree, paths: readonly string[]): Map<string, FileAt> {
  const out = new Map<string, FileAt>();
  for (const path of paths) {
    const key = tree.resolveParent(path);
    const node = tree.get(key);
    const file = node?.type === 'hardlink' && node.linkname !== undefined ? tree.get(node.linkname) : node;
    out.set(key, file?.type === 'file' ? { body: file.body } : undefined);
  }
  return out;
}

/**
 * What the finishing (accounts, os-release, `paths`) changed of the files at the paths of
 * `before` ({@link filesAt}, taken before it): for each whose bytes differ now, the digests of the
 * bytes in `tree` (undefined: no regular file is there any more). A body the finishing left as it
 * was is not read; one it wrote again is compared by its bytes (a few small files: /etc/passwd,
 * /etc/group, /etc/os-release, the `paths` entries).
 */
export function changedByFinishing(tree: Tree, before: ReadonlyMap<string, FileAt>): Map<string, FileDigests | undefined> {
  const out = new Map<string, FileDigests | undefined>();
  for (const [path, now] of filesAt(tree, [...before.keys()])) {
    const was = before.get(path);
    // No package's file was there (accounts made /etc/passwd, a `paths` entry a new file): no
    // package lists it, and nothing is read.
    if (was === undefined) continue;
    if (now === undefined) {
      out.set(path, undefined);
      continue;
    }
    if (was.body === now.body) continue;
    // Hashed piece by piece: a `paths` entry may name a package's file of any size.
    const digest = hashBody(now.body, 'sha256');
    if (hashBody(was.body, 'sha256') === digest) continue;
    out.set(path, { sha1: hashBody(now.body, 'sha1'), sha256: digest });
  }
  return withAliases(tree, out);
}

/**
 * `changed` with each path also under the names symlinked folders give it (`lib/x` for
 * `usr/lib/x` where `lib` → `usr/lib`, as usr-merge makes them): a package's file list may name
 * the file either way.
 */
function withAliases<T>(tree: Tree, changed: Map<string, T>): Map<string, T> {
  if (changed.size === 0) return changed;
  for (const path of tree.paths()) {
    if (tree.get(path)?.type !== 'symlink') continue;
    let target: string;
    try {
      target = tree.resolve(path);
    } catch {
      continue;
    }
    if (target === path) continue;
    for (const [key, value] of [...changed]) {
      if (key.startsWith(`${target}/`)) changed.set(`${path}${key.slice(target.length)}`, value);
    }
  }
  return changed;
}

/**
 * `record` with its files as the image holds them once the finishing `changed` them: such a file
 * has the digests of its bytes in the image and says the build changed it, and one that is no
 * longer a regular file is left out. The list stays one made when read (`filesOnDemand`), one
 * file at a time where it was.
 */
export function withFinishedFiles(record: InstalledPackage, changed: ReadonlyMap<string, FileDigests | undefined>): InstalledPackage {
  if (changed.size === 0) return record;
  // The files as the record had them (a list, or made when read), taken before filesOnDemand redefines `files` on the record itself.
  const before = inventoryFilesOf(record);
  return filesOnDemand(record, function* (): Generator<InventoryFile> {
    for (const f of before()) {
      const key = f.path.replace(/^\/+/, '');
      if (!changed.has(key)) yield f;
      else {
        const now = changed.get(key);
        if (now !== undefined) yield { path: f.path, sha1: now.sha1, sha256: now.sha256, changedByBuild: true };
      }
    }
  });
}
