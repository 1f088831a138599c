/**
 * An in-memory filesystem tree: what a build assembles before it becomes a layer. Packages never
 * touch the host's disk, and every path a package names is resolved inside this root.
 *
 * Paths are relative POSIX paths without `.`/`..` parts (see `cleanEntryPath`). Parent folders
 * are resolved through symlinks the way a chroot would: an absolute target starts at the tree's
 * root and `..` stops at the root, so nothing can point outside it.
 */
import { abbreviated, utf8LengthAbove } from '../bytes.ts';
import { ProvenantError } from '../errors.ts';
import type { Body } from './body.ts';
import { PathCounts } from './path-hash.ts';

/**
 * Why the tree refused a path: `taken` when what is there does not allow it (a file where a
 * folder is needed, a folder with contents where something else is put, the image's root), which
 * whoever asked for the path can change; `limit` when the path, or the symlinks on its way, go
 * beyond what a file system holds (a symlink loop, a path longer than PATH_MAX), which a crafted
 * or broken package makes.
 */
export type TreeRefusalReason = 'taken' | 'limit';

/** A path the tree refuses (`UNSAFE_PATH`), with why, so that a caller can tell the reasons apart. */
export class TreeRefusal extends ProvenantError {
  readonly reason: TreeRefusalReason;

  constructor(reason: TreeRefusalReason, message: string, details: { where?: string; hint?: string } = {}) {
    super('UNSAFE_PATH', message, details);
    this.reason = reason;
  }
}

/** The kinds of node the tree holds. */
export type NodeType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

/** One node: metadata, and a body for files. */
export interface FsNode {
  type: NodeType;
  /** Permission bits with setuid, setgid and sticky. */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** The body of a file: bytes, or a range of a file on disk (./body.ts). */
  body?: Body | undefined;
  /** Symlink target as written, or for a hardlink the tree path it links to. */
  linkname?: string | undefined;
  devmajor?: number | undefined;
  devminor?: number | undefined;
  /** Extended attributes (PAX `SCHILY.xattr.*`), by name; each value a byte string (a character per byte, as ../archive/tar-format.ts reads them). */
  xattrs?: Record<string, string> | undefined;
  /** Which package (or `build`) put it there, for conflicts and file lists. */
  owner?: string | undefined;
}

const MAX_LINKS = 40; // as Linux's MAXSYMLINKS

/**
 * The longest path (UTF-8 bytes, as the readers count them) and the most parts {@link Tree.resolve}
 * and {@link Tree.resolveParent} give, and the longest symlink target it follows: Linux's PATH_MAX, and the bound on parts
 * that the package readers hold entry names to (PATH_MAX and PATH_PARTS_MAX of
 * ../archive/paths.ts, which this module may not import). The tree keys each folder by its full
 * path, so a walk costs the square of a path's depth: symlinks to long targets, one into another,
 * would make a path far longer than any name a reader let in.
 */
const PATH_MAX = 4096;
const PATH_PARTS_MAX = 1024;
/**
 * The most parts (`..` included) {@link Tree.resolve} walks for one path. Linux walks up to 40
 * links of PATH_MAX bytes, some 80,000 parts, each in constant time; here each part costs the
 * length of the path so far (a key to look up), and links of `x/..` 800 times, one into the next,
 * under a folder 3,600 characters deep, made each write through them take 0.45 s. No real path
 * comes near this bound; at it, a walk costs some 10 ms.
 */
const WALK_MAX = 4 * PATH_PARTS_MAX;

/** What a folder {@link Tree.mkdirAll} makes above the one asked for has, whatever the template. */
const PARENT = { mode: 0o755, uid: 0, gid: 0 } as const;

/** The most kinds of folder node a tree shares (see Tree's #sharedFolders). */
const SHARED_MAX = 4096;
/** The fields of an {@link FsNode}: a folder's node with any other is not shared. */
const FIELDS: ReadonlySet<string> = new Set([
  'type',
  'mode',
  'uid',
  'gid',
  'mtime',
  'body',
  'linkname',
  'devmajor',
  'devminor',
  'xattrs',
  'owner',
]);

/**
 * Files that belong in a tree but are kept out of it (./spill.ts): the tree treats them as there
 * where that changes what it does, so that a folder part that is such a file, or a folder that
 * holds some, is refused as it would be if they were in.
 */
export interface FilesOutside {
  /** True when a file is kept out at `path`, or a path of the same hash. */
  has(path: string): boolean;
  /** True when some file kept out lies directly in the folder `path`, or one of the same hash. */
  holds(folder: string): boolean;
  /**
   * Called where a file kept out would decide what the tree does (a path through it, a folder
   * holding it replaced): throws, so that the build installs into a tree of every file, which
   * decides exactly (a hash cannot tell a kept file from another path of the same hash).
   */
  decides(why: string): never;
}

/** A mutable tree, keyed by path; the root is `''`. */
export class Tree {
  readonly #nodes = new Map<string, FsNode>();
  /** {@link paths}' answer until a path is added or removed: a build asks for it several times. */
  #sorted: string[] | undefined;
  /**
   * Whether some key starts with `/` or ends in `.`, `..` or an empty part (a caller put such a
   * path: `put` keeps the last part as given). Until one does, every key is a resolved path:
   * its folders are folders of the tree (`put` makes them, and a folder with contents is never
   * replaced), so a key that is no symlink resolves to itself.
   */
  #oddKeys = false;
  /** Files kept out of the tree, which it must see as there ({@link keepOutside}). */
  #outside: FilesOutside | undefined;
  /**
   * The hardlinks to each path, by the path they link to. A hardlink names its file by path, and
   * when that path is given something else or removed, the links must keep the file
   * ({@link #keepFile}). Made with the first hardlink put: a write to a new path that is no
   * hardlink never looks at it, and one that replaces a node does once a hardlink was put.
   */
  #linksTo: Map<string, string[]> | undefined;
  /**
   * How many keys lie directly in each folder (under the key before their last `/`), by the
   * folder's hash, for {@link hasChildren}: a scan of every key there made each folder replaced
   * by a file cost the whole tree (40,000 folders replaced in one 437 KB .deb took 15 s). A key's
   * folder is always a key too (`put` makes it, `remove` takes a folder with everything under
   * it), so a folder has keys under it exactly when it has one directly in it. A count of 0 says
   * so for every folder of that hash; more is looked at (a folder with contents is replaced only
   * to fail). Typed arrays, not a `Map` from the folder: 15 to 22 bytes a folder instead of
   * about 50 (issue 16).
   */
  readonly #children = new PathCounts();
  /**
   * One node for the folders that hold the same (a package's folders share their mode, owner and
   * time), frozen: a build keeps thousands of folders through its layer, and an object each was
   * some 80 bytes of heap a folder (issue 16). Up to {@link SHARED_MAX} kinds.
   */
  readonly #sharedFolders = new Map<string, FsNode>();

  constructor(rootMode = 0o755) {
    this.#nodes.set('', { type: 'dir', mode: rootMode, uid: 0, gid: 0, mtime: 0 });
  }

  /** Tells the tree of the files kept out of it, which it then refuses to walk into or replace. */
  keepOutside(outside: FilesOutside): void {
    this.#outside = outside;
  }

  /** The node at `path` exactly as stored (no symlink following). */
  get(path: string): FsNode | undefined {
    return this.#nodes.get(path);
  }

  /**
   * {@link get}, for a caller that reads what it finds: where a file kept out of the tree is
   * there instead, the build installs into a tree of every file ({@link FilesOutside.decides}).
   */
  read(path: string): FsNode | undefined {
    const node = this.#nodes.get(path);
    if (node === undefined && this.#outside?.has(path) === true) this.#outside.decides(`/${path} is read, and kept out of the tree`);
    return node;
  }

  /**
   * Every path except the root, in walk order: each folder followed by its contents, names
   * compared bytewise (so `a`, `a/b`, `a-c`; the order `find | LC_ALL=C sort` would not give).
   */
  paths(): string[] {
    return [...this.walkPaths()];
  }

  /**
   * {@link paths}, the tree's own list: not to be changed, and good until a path is added or
   * removed. For a walk that holds it through a layer (a copy was another pointer a path).
   */
  walkPaths(): readonly string[] {
    this.#sorted ??= sortPaths([...this.#nodes.keys()].filter((p) => p !== ''));
    return this.#sorted;
  }

  get size(): number {
    return this.#nodes.size - 1;
  }

  /**
   * Resolves the folders of `path` through symlinks, leaving the last part as is: where a write
   * to `path` lands. `usr/lib/x` with `usr/lib` → `/usr/lib64` resolves to `usr/lib64/x`.
   *
   * @throws TreeRefusal `UNSAFE_PATH`: `limit` for a symlink loop or a path beyond PATH_MAX, `taken`
   *   for a folder part that is a file
   */
  resolveParent(path: string): string {
    const slash = path.lastIndexOf('/');
    if (slash < 0) return path;
    const parent = path.slice(0, slash);
    // Most paths a package names are in a folder it or another has made: a walk part by part
    // would find each part and make a string of every prefix on the way, to give `path` back.
    if (!this.#oddKeys && this.#nodes.get(parent)?.type === 'dir') return path;
    const dir = this.resolve(parent, 0);
    // Most often nothing changed: the tree then keys the node by the caller's string, not a copy.
    if (dir === parent) return path;
    const base = path.slice(slash + 1);
    const resolved = dir === '' ? base : `${dir}/${base}`;
    // The folder is within the bounds (resolve), and the name a reader let in: the two together
    // may not be, and a layer with the key as a name would be refused when read again.
    refuseLongPath(path, resolved, dir === '' ? 1 : partsOf(dir) + 1);
    return resolved;
  }

  /** Resolves every part of `path` through symlinks; the result may not exist. */
  resolve(path: string, depth = 0): string {
    if (!this.#oddKeys) {
      const node = this.#nodes.get(path);
      if (node !== undefined && node.type !== 'symlink') return path;
    }
    // The parts still to walk, the next last (popped, not shifted); the path so far is `at`,
    // extended part by part: joining every prefix again made a build's garbage grow with the
    // depth and the number of its files.
    const todo = path
      .split('/')
      .filter((p) => p !== '' && p !== '.')
      .reverse();
    const parts: string[] = [];
    let at = '';
    let links = depth;
    let walked = 0;
    while (todo.length > 0) {
      const part = todo.pop() as string;
      if (++walked > WALK_MAX) {
        throw new TreeRefusal('limit', `resolving ${JSON.stringify(abbreviated(path))} walks more than ${WALK_MAX} parts`, {
          where: abbreviated(at),
          hint: 'its symlinks make a walk no real path needs: the package is crafted or broken',
        });
      }
      if (part === '..') {
        // `at` is `parts` joined: the last part and its slash come off its end.
        const last = parts.pop();
        at = parts.length === 0 ? '' : at.slice(0, at.length - (last as string).length - 1);
        continue;
      }
      const candidate = at === '' ? part : `${at}/${part}`;
      refuseLongPath(path, candidate, parts.length + 1);
      const node = this.#nodes.get(candidate);
      if (node?.type === 'symlink' && node.linkname !== undefined) {
        if (++links > MAX_LINKS)
          throw new TreeRefusal('limit', `too many symlinks resolving ${JSON.stringify(abbreviated(path))}`, {
            where: abbreviated(candidate),
          });
        const targetBytes = utf8LengthAbove(node.linkname, PATH_MAX);
        if (targetBytes > PATH_MAX) {
          throw new TreeRefusal(
            'limit',
            `the symlink /${abbreviated(candidate)} points to a target of ${targetBytes} bytes, more than PATH_MAX (${PATH_MAX})`,
            { where: abbreviated(candidate), hint: 'no file system holds such a link (Linux refuses one longer than PATH_MAX)' },
          );
        }
        const target = node.linkname.split('/').filter((p) => p !== '' && p !== '.');
        if (node.linkname.startsWith('/')) {
          parts.length = 0;
          at = '';
        }
        for (let i = target.length - 1; i >= 0; i--) todo.push(target[i] as string);
        continue;
      }
      if (node === undefined && todo.length > 0 && this.#outside?.has(candidate) === true) {
        this.#outside.decides(`${JSON.stringify(path)} goes through /${candidate}`);
      }
      if (node !== undefined && node.type !== 'dir' && todo.length > 0) {
        throw new TreeRefusal(
          'taken',
          `${JSON.stringify(abbreviated(candidate))} is a ${node.type}, not a folder, in ${JSON.stringify(abbreviated(path))}`,
        );
      }
      parts.push(part);
      at = candidate;
    }
    return at === path ? path : at;
  }

  /**
   * Creates the folders of `path` (resolved) that are missing: `path` itself from `template`
   * (0755, root's, by default), and the missing folders above it root's with mode 0755 and the
   * template's other fields (its time, its `owner`), as `mkdir -p` and apko make them. A home
   * or a `paths` folder owned by a user does not give that user the folders above it (`/home`).
   */
  mkdirAll(path: string, template: Partial<FsNode> = {}): string {
    const resolved = this.resolve(path);
    this.#mkdirResolved(resolved, template);
    return resolved;
  }

  /** {@link mkdirAll} of a path {@link resolve} gave: the folders that exist are most often all of them. */
  #mkdirResolved(resolved: string, template: Partial<FsNode>): void {
    if (resolved === '' || this.#nodes.get(resolved)?.type === 'dir') return;
    let cur = '';
    for (const part of resolved.split('/')) {
      cur = cur === '' ? part : `${cur}/${part}`;
      const node = this.#nodes.get(cur);
      if (node === undefined) {
        if (this.#outside?.has(cur) === true) this.#outside.decides(`the folder /${cur} would be made where a file is kept`);
        const parent = cur.length < resolved.length ? PARENT : undefined;
        this.#set(cur, { type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, ...template, ...parent });
      } else if (node.type !== 'dir') {
        throw new TreeRefusal('taken', `cannot make the folder ${JSON.stringify(abbreviated(cur))}: a ${node.type} is there`);
      }
    }
  }

  /** Sets a node, forgetting the sorted paths when the path is new. */
  #set(path: string, node: FsNode): void {
    const old = this.#nodes.get(path);
    if (old === undefined) {
      this.#sorted = undefined;
      if (isOddKey(path)) this.#oddKeys = true;
      this.#children.increment(folderOf(path));
    }
    // A new path that is no hardlink, most of what a build puts, has nothing to do with links.
    if (node.type === 'hardlink' || (old !== undefined && this.#linksTo !== undefined)) this.#relink(path, node, old);
    this.#nodes.set(path, this.#shared(node));
  }

  /**
   * The shared node of a folder that holds what `node` holds, the same fields in the same order
   * (a spread of it gives what a spread of `node` gives); `node` itself for anything else, a
   * folder with extended attributes, or once {@link SHARED_MAX} kinds are shared.
   */
  #shared(node: FsNode): FsNode {
    if (node.type !== 'dir' || Object.getPrototypeOf(node) !== Object.prototype) return node;
    // Each field's name and value, a string's with its length first: no two nodes share a key.
    let key = '';
    for (const k in node) {
      if (!FIELDS.has(k)) return node;
      const v = node[k as keyof FsNode];
      if (typeof v === 'string') key += `${k}:${v.length}:${v}`;
      else if (typeof v === 'number') key += `${k}=${Object.is(v, -0) ? '-0' : v},`;
      else if (v === undefined) key += `${k},`;
      else return node;
    }
    const shared = this.#sharedFolders.get(key);
    if (shared !== undefined) return shared;
    if (this.#sharedFolders.size >= SHARED_MAX) return node;
    const frozen = Object.freeze({ ...node });
    this.#sharedFolders.set(key, frozen);
    return frozen;
  }

  /**
   * Puts `node` at `path`: parents are resolved through symlinks and created as needed. A folder
   * over a folder updates its metadata; anything else replaces what is there.
   *
   * @returns the resolved path the node was stored under
   */
  put(path: string, node: FsNode): string {
    const at = this.resolveParent(path);
    const slash = at.lastIndexOf('/');
    // `at`'s folders are resolved already: resolving them again would give them back.
    if (slash >= 0) this.#mkdirResolved(at.slice(0, slash), {});
    const existing = this.#nodes.get(at);
    if (existing?.type === 'dir' && node.type === 'dir') {
      this.#nodes.set(at, this.#shared({ ...existing, ...node }));
      return at;
    }
    // The root is a folder whatever it holds (hasChildren('') looks only at odd keys).
    if (at === '')
      throw new TreeRefusal('taken', `cannot replace the image's root folder with a ${node.type} (${JSON.stringify(abbreviated(path))})`);
    if (existing?.type === 'dir' && this.hasChildren(at)) {
      throw new TreeRefusal(
        'taken',
        `cannot replace the folder ${JSON.stringify(abbreviated(at))}, which is not empty, with a ${node.type}`,
      );
    }
    this.#set(at, node);
    return at;
  }

  #linkMap(): Map<string, string[]> {
    if (this.#linksTo === undefined) this.#linksTo = new Map();
    return this.#linksTo;
  }

  /**
   * Keeps the reverse map of hardlinks right as `node` is put at `path` (before it is): `old`,
   * the node there, is no longer a link to its file, and a file that links name is about to go.
   */
  #relink(path: string, node: FsNode, old: FsNode | undefined): void {
    const linksTo = this.#linkMap();
    if (old?.type === 'hardlink' && old.linkname !== undefined) forgetLink(linksTo, old.linkname, path);
    if (old !== undefined) this.#keepFile(path, old);
    if (node.type === 'hardlink' && node.linkname !== undefined && node.linkname !== path) noteLink(linksTo, node.linkname, path);
  }

  /**
   * `path`'s node `old` is being replaced or removed: the hardlinks to it keep it, as on a disk,
   * where a new file at a path (apk's and dpkg's install of a replacing package, a symlink put
   * there) takes the name and the link keeps the old inode. The first link in walk order becomes
   * the file (the old node, but its owner, the package that listed the link), and the others
   * link to it; a link left naming the path would give the layer the new file under its name, or
   * a link to a symlink, which GNU tar cannot extract ("Cannot hard link to").
   */
  #keepFile(path: string, old: FsNode): void {
    const linksTo = this.#linksTo;
    const links = linksTo?.get(path);
    if (linksTo === undefined || links === undefined) return;
    linksTo.delete(path);
    const rest = sortPaths(links);
    // A link to a link (which no installer makes) is moved to what that one links to.
    let to = old.type === 'hardlink' ? old.linkname : undefined;
    if (to === undefined) {
      to = rest.shift() as string;
      this.#nodes.set(to, { ...old, owner: this.#nodes.get(to)?.owner });
    }
    for (const link of rest) {
      if (link === to) continue;
      this.#nodes.set(link, { ...(this.#nodes.get(link) as FsNode), linkname: to });
      noteLink(linksTo, to, link);
    }
  }

  /**
   * Removes `path` (not following a final symlink); folders with their contents.
   *
   * @throws TreeRefusal `UNSAFE_PATH` (`taken`) for a path that is the root (`./`, `../`, a link to `/`)
   */
  remove(path: string): void {
    const at = this.resolveParent(path);
    // Taken away, the root would leave the tree without its folder and its size one short.
    if (at === '') throw new TreeRefusal('taken', `cannot remove the image's root folder (${JSON.stringify(abbreviated(path))})`);
    this.#sorted = undefined;
    const gone: [string, FsNode][] = [];
    const take = (p: string): void => {
      const node = this.#nodes.get(p);
      if (node === undefined) return;
      this.#nodes.delete(p);
      // Never the root, which is no key in a folder: removing it is refused above.
      this.#children.decrement(folderOf(p));
      if (this.#linksTo !== undefined) gone.push([p, node]);
    };
    take(at);
    const prefix = `${at}/`;
    for (const p of [...this.#nodes.keys()]) if (p.startsWith(prefix)) take(p);
    const linksTo = this.#linksTo;
    if (linksTo === undefined) return;
    // The links removed with it first, so that a file removed with all its links leaves nothing.
    for (const [p, node] of gone) if (node.type === 'hardlink' && node.linkname !== undefined) forgetLink(linksTo, node.linkname, p);
    for (const [p, node] of gone) this.#keepFile(p, node);
  }

  /**
   * Changes metadata of the node at `path` (resolved through symlinks), never its type: a folder
   * stays a folder, as the shortcut of {@link resolve} needs (put replaces a node, and refuses to
   * replace a folder that has contents).
   */
  update(path: string, change: Partial<Omit<FsNode, 'type'>>): void {
    const at = this.resolve(path);
    const node = this.#nodes.get(at);
    if (node === undefined) throw new ProvenantError('NOT_FOUND', `${JSON.stringify(path)} is not in the image`);
    const changed = { ...node, ...change, type: node.type };
    if (node.type === 'hardlink' && changed.linkname !== node.linkname) {
      // The link names another file; no file goes, so none is kept.
      const linksTo = this.#linkMap();
      if (node.linkname !== undefined) forgetLink(linksTo, node.linkname, at);
      if (changed.linkname !== undefined && changed.linkname !== at) noteLink(linksTo, changed.linkname, at);
    }
    this.#nodes.set(at, this.#shared(changed));
  }

  /** Paths under `dir` (resolved), sorted; `dir` itself excluded. */
  under(dir: string): string[] {
    const at = this.resolve(dir);
    const prefix = at === '' ? '' : `${at}/`;
    const found = this.paths().filter((p) => p.startsWith(prefix));
    // A listing that would leave out files kept out of the tree is not given: the build asks a
    // tree of every file (a folder holding kept files, the listed one or one below it).
    const outside = this.#outside;
    if (outside !== undefined) {
      for (const folder of [at, ...found.filter((p) => this.#nodes.get(p)?.type === 'dir')]) {
        if (outside.holds(folder)) outside.decides(`/${dir} is listed, and /${folder} holds files kept out of the tree`);
      }
    }
    return found;
  }

  /** Whether some key lies under the folder `path` (a key starting with `path/`). */
  hasChildren(path: string): boolean {
    if (this.#outside?.holds(path) === true) this.#outside.decides(`the folder /${path}, which holds kept files, would be replaced`);
    // Under the root, `path/` is `/`: only keys put with a leading `/` start with it.
    if (path === '') {
      for (const p of this.#nodes.keys()) if (p.startsWith('/')) return true;
      return false;
    }
    if (this.#children.get(path) === 0) return false;
    // Almost always this folder's own count: a folder of the same hash may hold what it counts.
    const prefix = `${path}/`;
    for (const p of this.#nodes.keys()) if (p.startsWith(prefix)) return true;
    return false;
  }
}

/** Notes that `link` is a hardlink to `target` (it was no link to it: the map holds each link once). */
function noteLink(linksTo: Map<string, string[]>, target: string, link: string): void {
  const links = linksTo.get(target);
  if (links === undefined) linksTo.set(target, [link]);
  else links.push(link);
}

/** Forgets that `link` is a hardlink to `target`. */
function forgetLink(linksTo: Map<string, string[]>, target: string, link: string): void {
  const links = linksTo.get(target);
  if (links === undefined) return;
  const i = links.indexOf(link);
  if (i >= 0) links.splice(i, 1);
  if (links.length === 0) linksTo.delete(target);
}

/**
 * Throws when `resolved` (`parts` parts), where `path` leads, is longer than PATH_MAX bytes or
 * deeper than PATH_PARTS_MAX parts, naming which.
 */
function refuseLongPath(path: string, resolved: string, parts: number): void {
  const bytes = utf8LengthAbove(resolved, PATH_MAX);
  if (bytes <= PATH_MAX && parts <= PATH_PARTS_MAX) return;
  const what = bytes > PATH_MAX ? `${bytes} bytes, more than PATH_MAX (${PATH_MAX})` : `${parts} parts, more than ${PATH_PARTS_MAX}`;
  throw new TreeRefusal('limit', `${JSON.stringify(abbreviated(path))} resolves to a path of ${what}`, {
    where: abbreviated(resolved),
    hint: 'no file system holds such a path (Linux refuses one longer than PATH_MAX): the package is crafted or broken',
  });
}

/** Parts of a key without empty ones: its slashes and one. */
function partsOf(key: string): number {
  let n = 1;
  for (let i = key.indexOf('/'); i >= 0; i = key.indexOf('/', i + 1)) n++;
  return n;
}

/** The key of the folder `path` lies directly in: what comes before its last `/` (the root for none). */
function folderOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

/** A key whose last part `put` kept as given, or which starts at `/`: not a resolved path. */
function isOddKey(path: string): boolean {
  return (
    path === '' ||
    path === '.' ||
    path === '..' ||
    path.startsWith('/') ||
    path.endsWith('/') ||
    path.endsWith('/.') ||
    path.endsWith('/..')
  );
}

/** Walk order of two relative paths: component by component, each compared bytewise. */
export function comparePaths(a: string, b: string): number {
  if (a === b) return 0;
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const c = compareBytes(x[i] as string, y[i] as string);
    if (c !== 0) return c;
  }
  return x.length - y.length;
}

/**
 * `paths` in walk order ({@link comparePaths}), compared in place, character by character:
 * splitting and encoding both paths at every one of the n log n comparisons, or making a sort
 * key of every path first, left garbage in proportion to the image (tens of MB for 30,000
 * files), and that garbage grew a build's heap with the image.
 */
export function sortPaths(paths: readonly string[]): string[] {
  return [...paths].sort(walkOrder);
}

const SLASH = 0x2f;

/**
 * {@link comparePaths} without allocating: `/` sorts below every character a name can hold, so
 * a component sorts before the longer ones it begins, and a path before the paths under it.
 * UTF-16 code units compare as UTF-8 bytes (code points) do but for surrogates, which stand for
 * code points above every other unit's and are moved above them.
 */
export function walkOrder(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x === SLASH) return -1;
    if (y === SLASH) return 1;
    return x >= 0xd800 && y >= 0xd800 ? codePointRank(x) - codePointRank(y) : x - y;
  }
  return a.length - b.length;
}

/** A code unit from U+D800 up, ranked so that surrogates (code points from U+10000) come after U+E000-U+FFFF. */
function codePointRank(unit: number): number {
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000;
}

/** Bytewise order of UTF-8 strings (what `LC_ALL=C sort` gives), not UTF-16 order. */
export function compareBytes(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Puts a file the build writes (root-owned, 0644 unless said). */
export function buildFile(tree: Tree, path: string, content: string | Uint8Array, mtime: number, mode = 0o644): void {
  tree.put(path, {
    type: 'file',
    mode,
    uid: 0,
    gid: 0,
    mtime,
    body: typeof content === 'string' ? new TextEncoder().encode(content) : content,
    owner: 'build',
  });
}
