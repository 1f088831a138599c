/**
 * apko's in-memory filesystem, over Provenant's {@link Tree}, for apko compatibility.
 *
 * apko v1.2.39 builds every image in pkg/tarfs/fs.go (`memFS`), and what its operations do
 * decides the layer's bytes, so they are reproduced here one by one:
 *
 * - nodes apko makes itself (Mkdir, WriteFile, Create) have time 0 (Go's zero time) and owner
 *   0:0; Mknod and Symlink copy the time of the folder they are made in;
 * - a package's entries (`WriteHeader`) keep the header's mode and time but never its owner: every
 *   package file is 0:0 in the layer; a folder gets only the 0777 bits of its header, its missing
 *   parents the same bits, and the time of the last header naming it (through symlinks);
 * - a file another package already installed is kept when both have the same SHA-1, replaced when
 *   the new package `replaces` the old one or comes from the same origin, and a conflict
 *   otherwise; a file apko wrote itself is kept when the package's copy is identical;
 * - writing to an existing file keeps its mode and time; writing nothing to a package's file leaves
 *   the package's bytes (memFS keeps reading the package when its own buffer is empty);
 * - a hard link is the same node under two names: a change to one changes both; the name the
 *   package listed as a link is written as a hard link to the layer, every other name as a file.
 *
 * Paths are the Tree's: relative, clean, resolved through symlinks as memFS resolves them.
 */
import { createHash } from 'node:crypto';
import { ProvenantError } from '../../errors.ts';
import { type Body, bodySize, hashBody, readBody, readBodyUpTo } from '../../vfs/body.ts';
import type { FsNode, Tree } from '../../vfs/tree.ts';

/** Who installed a package file, for apko's conflict rules. */
export interface ApkoOwner {
  name: string;
  origin: string;
  /** `.PKGINFO` `replaces` values, as apko reads them. */
  replaces: readonly string[];
}

interface PackageFile {
  /** The SHA-1 the package's header gives, lowercase hex. */
  sha1: string;
  owner: ApkoOwner;
  /** The package's bytes (memFS reads them again when its own buffer is empty). */
  body: Body;
}

const parentOf = (p: string): string => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');
const baseOf = (p: string): string => p.slice(p.lastIndexOf('/') + 1);
const join = (dir: string, base: string): string => (dir === '' ? base : `${dir}/${base}`);
const clean = (p: string): string =>
  p
    .split('/')
    .filter((x) => x !== '' && x !== '.')
    .join('/');

/** apko's memFS, as operations on a {@link Tree}. */
export class ApkoFs {
  readonly tree: Tree;
  readonly #packageFiles = new Map<string, PackageFile>();
  /** Names that are one node, by each of the names. */
  readonly #links = new Map<string, Set<string>>();
  /** The names a package listed as hard links, with the link target it wrote. */
  readonly #linkEntries = new Map<string, string>();

  constructor(tree: Tree) {
    this.tree = tree;
  }

  fail(path: string, why: string): never {
    throw new ProvenantError('UNSAFE_PATH', `/${path}: ${why} (apko fails here too)`, { where: `/${path}` });
  }

  /** getNode: the path with every part resolved through symlinks, when it exists. */
  resolve(path: string): string | undefined {
    let at: string;
    try {
      at = this.tree.resolve(clean(path));
    } catch {
      return undefined;
    }
    return this.tree.get(at) === undefined ? undefined : at;
  }

  /**
   * Where a name lands: its folder resolved (which must exist and be a folder), its last part as
   * is. A last part `..` names a folder above, not an entry of this one (a symlink to `../..`
   * followed by a write, say): it fails, as memFS fails on a name that cleans to `..` or `.`,
   * rather than giving the tree, and the layer, a member named `..`.
   */
  #place(path: string): string {
    const p = clean(path);
    if (baseOf(p) === '..') this.fail(p, 'names a folder above, not a file');
    const dir = this.resolve(parentOf(p));
    if (dir === undefined) this.fail(p, 'its folder does not exist');
    if (this.tree.get(dir)?.type !== 'dir') this.fail(p, 'its parent is not a folder');
    return join(dir, baseOf(p));
  }

  /** Stat: the node, through symlinks. */
  stat(path: string): FsNode | undefined {
    const at = this.resolve(path);
    return at === undefined ? undefined : this.tree.get(at);
  }

  /** Lstat: the node, its last part not followed. */
  lstat(path: string): FsNode | undefined {
    const p = clean(path);
    const dir = this.resolve(parentOf(p));
    return dir === undefined ? undefined : this.tree.get(join(dir, baseOf(p)));
  }

  /** The file's bytes, through symlinks. */
  readFile(path: string): Uint8Array | undefined {
    const node = this.stat(path);
    return node?.type === 'file' || node?.type === 'hardlink' ? readBody(node.body) : undefined;
  }

  /**
   * The hex SHA-256 of the file's bytes, through symlinks, read in pieces (a package's file may be
   * larger than memory allows or one read may take); undefined when there is no such file.
   */
  sha256(path: string): string | undefined {
    const node = this.stat(path);
    return node?.type === 'file' || node?.type === 'hardlink' ? hashBody(node.body, 'sha256') : undefined;
  }

  /**
   * The file's bytes as {@link readFile} gives them, refused past `max` bytes: for the files the
   * build reads whole as text (/etc/passwd, /etc/os-release), which a package may ship huge.
   *
   * @throws ProvenantError `TOO_LARGE` naming the file and the package that installed it
   */
  readFileUpTo(path: string, max: number): Uint8Array | undefined {
    const node = this.stat(path);
    if (node?.type !== 'file' && node?.type !== 'hardlink') return undefined;
    return readBodyUpTo(node.body, max, { path: this.resolve(path) ?? clean(path), owner: node.owner });
  }

  mkdir(path: string, perm: number): void {
    const at = this.#place(path);
    if (this.tree.get(at) !== undefined) this.fail(at, 'already exists');
    this.tree.put(at, { type: 'dir', mode: perm, uid: 0, gid: 0, mtime: 0, owner: 'build' });
  }

  /** MkdirAll: each missing part a folder with `perm`; a symlink part followed to its (existing) target. */
  mkdirAll(path: string, perm: number): void {
    let cur = '';
    for (const part of clean(path).split('/')) {
      if (part === '') continue;
      let at = join(cur, part);
      let node = this.tree.get(at);
      if (node === undefined) {
        this.tree.put(at, { type: 'dir', mode: perm, uid: 0, gid: 0, mtime: 0, owner: 'build' });
        node = this.tree.get(at);
      } else if (node.type === 'symlink') {
        const target = this.resolve(at);
        if (target === undefined) this.fail(at, 'is a symlink to nothing');
        at = target;
        node = this.tree.get(at);
      }
      if (node?.type !== 'dir') this.fail(at, 'is not a folder');
      cur = at;
    }
  }

  /**
   * WriteFile (OpenFile with O_CREATE|O_TRUNC): a new file gets `perm` and time 0; an existing one
   * (a symlink followed) keeps its mode and time.
   */
  writeFile(path: string, data: Uint8Array, perm: number): void {
    let at = this.#place(path);
    for (let hops = 0; this.tree.get(at)?.type === 'symlink'; hops++) {
      if (hops > 40) this.fail(at, 'too many symlinks');
      const target = this.tree.get(at)?.linkname ?? '';
      at = this.#place(target.startsWith('/') ? target : join(parentOf(at), target));
    }
    const node = this.tree.get(at);
    if (node === undefined) {
      this.tree.put(at, { type: 'file', mode: perm, uid: 0, gid: 0, mtime: 0, body: data, owner: 'build' });
      return;
    }
    if (node.type === 'dir') this.fail(at, 'is a folder');
    const pkg = this.#packageFiles.get(at);
    const body = data.length === 0 && pkg !== undefined ? pkg.body : data;
    for (const name of this.#names(at)) this.tree.update(name, { body });
  }

  mknod(path: string, perm: number, major: number, minor: number): void {
    const at = this.#place(path);
    if (this.tree.get(at) !== undefined) this.fail(at, 'already exists');
    const mtime = this.tree.get(parentOf(at))?.mtime ?? 0;
    this.tree.put(at, { type: 'char', mode: perm, uid: 0, gid: 0, mtime, devmajor: major, devminor: minor, owner: 'build' });
  }

  symlink(target: string, path: string): void {
    const at = this.#place(path);
    if (this.tree.get(at) !== undefined) this.fail(at, 'already exists');
    const mtime = this.tree.get(parentOf(at))?.mtime ?? 0;
    this.tree.put(at, { type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime, linkname: target, owner: 'build' });
  }

  /** Readlink: the target of the symlink at `path` (its last part not followed). */
  readlink(path: string): string | undefined {
    const node = this.lstat(path);
    return node?.type === 'symlink' ? node.linkname : undefined;
  }

  /** Link: `path` becomes another name of the node at `target`; `entry` when a package listed it as a link. */
  link(target: string, path: string, entry?: string): void {
    const at = this.#place(path);
    const from = this.resolve(target);
    if (from === undefined) this.fail(at, `links to ${target}, which does not exist`);
    if (this.tree.get(at) !== undefined) this.fail(at, 'already exists');
    const node = this.tree.get(from) as FsNode;
    this.tree.put(at, { ...node });
    const names = this.#links.get(from) ?? new Set([from]);
    names.add(at);
    for (const n of names) this.#links.set(n, names);
    const pkg = this.#packageFiles.get(from);
    if (pkg !== undefined) this.#packageFiles.set(at, pkg);
    if (entry !== undefined) this.#linkEntries.set(at, entry);
  }

  /** The hard-link entries: the names a package listed as links, with their link targets as written. */
  linkEntries(): ReadonlyMap<string, string> {
    return this.#linkEntries;
  }

  #names(at: string): Iterable<string> {
    return this.#links.get(at) ?? [at];
  }

  /** Chmod, Chown, Chtimes and xattrs, through symlinks, on every name of the node. */
  update(path: string, change: Partial<FsNode>): void {
    const at = this.resolve(path);
    if (at === undefined) this.fail(clean(path), 'does not exist');
    for (const name of this.#names(at)) this.tree.update(name, change);
  }

  setXattr(path: string, name: string, value: string): void {
    const node = this.stat(path);
    if (node === undefined) this.fail(clean(path), 'does not exist');
    this.update(path, { xattrs: { ...(node.xattrs ?? {}), [name]: value } });
  }

  remove(path: string): void {
    const p = clean(path);
    const at = join(this.resolve(parentOf(p)) ?? this.fail(p, 'its folder does not exist'), baseOf(p));
    if (this.tree.get(at) === undefined) this.fail(at, 'does not exist');
    this.#forget(at);
    this.tree.remove(at);
  }

  #forget(at: string): void {
    const names = this.#links.get(at);
    names?.delete(at);
    this.#links.delete(at);
    this.#packageFiles.delete(at);
    this.#linkEntries.delete(at);
  }

  /** Children of a folder by name, as ReadDir gives them. */
  readDir(path: string): string[] {
    const at = this.resolve(path);
    if (at === undefined) return [];
    const prefix = at === '' ? '' : `${at}/`;
    return this.tree
      .paths()
      .filter((p) => p.startsWith(prefix) && !p.slice(prefix.length).includes('/'))
      .map(baseOf);
  }

  /**
   * WriteHeader for a folder: MkdirAll with the header's 0777 bits, then its time (through a
   * symlink, onto the folder it points at).
   */
  writeDirectory(path: string, perm: number, mtime: number): void {
    this.mkdirAll(path, perm & 0o777);
    this.update(path, { mtime });
  }

  /**
   * WriteHeader for a regular file or symlink from a package.
   *
   * @returns whether the package's copy is now the one in the tree
   * @throws ProvenantError `FILE_CONFLICT` as apko's FileConflictError
   */
  writePackageFile(
    path: string,
    node: { type: 'file' | 'symlink'; mode: number; mtime: number; body?: Body; linkname?: string },
    sha1: string,
    owner: ApkoOwner,
  ): boolean {
    if (node.type === 'symlink' && this.readlink(path) === node.linkname) return false;
    const at = this.#place(path);
    const existing = this.tree.get(at);
    const body = node.body ?? new Uint8Array();
    if (existing !== undefined) {
      const got = this.#packageFiles.get(at);
      if (got === undefined) {
        if (existing.type !== 'file' || bodySize(existing.body) === 0)
          this.fail(at, 'conflicts with a file apko made, which has no package entry');
        const have = createHash('sha1').update(readBody(existing.body)).digest('hex');
        if (have === sha1) return false;
        throw new ProvenantError('FILE_CONFLICT', `${owner.name} installs /${at}, which the build already wrote with other contents`, {
          where: `/${at}`,
        });
      }
      if (got.sha1 === sha1) return false;
      if (got.owner.replaces.includes(owner.name)) return false;
      const replaces = owner.replaces.includes(got.owner.name);
      if (got.owner.origin !== owner.origin && !replaces) {
        throw new ProvenantError('FILE_CONFLICT', `${got.owner.name} and ${owner.name} both install /${at}`, {
          where: `/${at}`,
          hint: `apko refuses this too: the packages come from different origins (${got.owner.origin}, ${owner.origin}) and neither replaces the other`,
        });
      }
      this.#forget(at);
    }
    const base = { mode: node.mode, uid: 0, gid: 0, mtime: node.mtime, owner: owner.name };
    if (node.type === 'file') this.tree.put(at, { type: 'file', ...base, body });
    else this.tree.put(at, { type: 'symlink', ...base, linkname: node.linkname ?? '' });
    this.#packageFiles.set(at, { sha1, owner, body });
    return true;
  }
}
