/**
 * Files kept out of the tree while a build installs (issue 16): a package's regular files, whose
 * bodies are in the build's cache already, are written to a scratch file as the package is
 * installed, sorted in walk order, one run per package, and the layer walks the tree's own nodes
 * (folders, links, devices, what the build writes) merged with the runs. What the build holds per
 * file is then 8 bytes of a path hash, not a path, a node and a body record: memory follows the
 * number of packages and the largest one, not the image's files.
 *
 * A file under a symlinked folder is kept where it lands. The tree is told of the kept files
 * (FilesOutside): where one would decide what it does (a path through it, a folder holding some
 * replaced or listed, a read of it), the build installs into a tree of every file instead. The
 * files the build's own steps read or change are kept in the tree, or brought into it
 * ({@link SpilledFiles.bringIn}). The merge gives the tree's walk only while nothing happened
 * that a tree settles by its order: a path given twice, anything but a folder over an entry, a
 * hardlink to an earlier package's file. At the first of these {@link refuse} throws
 * {@link SpillRefused}, and the build installs again into a tree alone (docs/architecture.md,
 * "Memory per file"). What only a tree holds whole (`paths` with `recursive`, several layers)
 * never starts here.
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { ProvenantError } from '../errors.ts';
import { type FileBody, isFileBody } from './body.ts';
import { PathSet } from './path-hash.ts';
import { type FilesOutside, type FsNode, type Tree, walkOrder } from './tree.ts';

export { PathSet } from './path-hash.ts';

const { closeSync, openSync, readSync } = process.getBuiltinModule('node:fs');

/** Why files could not be kept out of the tree; never leaves the build, which installs again. */
export class SpillRefused extends Error {
  /** What was found, as a clause: `/usr/lib/x is given twice`. */
  readonly why: string;

  constructor(why: string) {
    super(`files cannot be kept out of the tree: ${why}`);
    this.name = 'SpillRefused';
    this.why = why;
  }
}

function refuse(why: string): never {
  throw new SpillRefused(why);
}

/** A file being written (a DownloadCache's writer): read while written, removed when done. */
export interface ScratchFile {
  /** Where the file is: whole once every write has resolved. */
  readonly path: string;
  /** Bytes written so far. */
  readonly size: number;
  write(chunk: Uint8Array): Promise<void>;
  /** Closes the file and removes it. */
  abort(): Promise<void>;
}

/** Where scratch files are made (a DownloadCache). */
export interface ScratchFiles {
  writer(): Promise<ScratchFile>;
}

/** A run: one package's files in walk order, at `offset` of the scratch file. */
interface Run {
  offset: number;
  length: number;
  owner: string;
  /** The files the run's bodies lie in, by index. */
  bodyPaths: string[];
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Bytes read at once from a run as the walk goes, at most: a walk holds a buffer for every run (a
 * package's files) at once, so this is memory per package. 8 KiB is about forty records a read.
 */
const READ_SIZE = 8 * 1024;

/**
 * The files of a build kept out of its tree. Made with {@link open}, filled package by package
 * ({@link check} each entry, {@link takes} each file, {@link endRun} after each package), walked
 * with the tree ({@link walk}) as often as the layer needs, and {@link close}d.
 */
export class SpilledFiles implements FilesOutside {
  readonly #scratch: ScratchFiles;
  readonly #writer: ScratchFile;
  readonly #bodies: ScratchFile[] = [];
  readonly #paths = new PathSet();
  /** The folders that hold kept files directly, for {@link holds}. */
  readonly #folders = new PathSet();
  /** The paths of the files kept since the last run, exactly (a hash may match another path). */
  readonly #pendingPaths = new Set<string>();
  /** Paths the build's own steps read or change: kept in the tree, where those steps look. */
  readonly #inTree: ReadonlySet<string>;
  /** Paths that stay in the tree with what is under them ({@link keepInTree}). */
  readonly #inTreeUnder: string[] = [];
  readonly #runs: Run[] = [];
  #pending: [string, FsNode][] = [];
  /**
   * The runs' writer, one for them all, its buffer kept from run to run: a buffer per package was
   * garbage outside V8's heap, several MB of it for a large image before V8 collected it.
   */
  readonly #runWriter = new RunWriter();
  #closed = false;
  /** The runs' file, open for reading from the first walk on. */
  #fd: number | undefined;

  private constructor(scratch: ScratchFiles, writer: ScratchFile, inTree: ReadonlySet<string>) {
    this.#scratch = scratch;
    this.#writer = writer;
    this.#inTree = inTree;
  }

  /** @param inTree paths kept in the tree when a package gives them (accounts, os-release, `paths`) */
  static async open(scratch: ScratchFiles, inTree: Iterable<string>): Promise<SpilledFiles> {
    return new SpilledFiles(scratch, await scratch.writer(), new Set(inTree));
  }

  /** How many files were kept out of the tree. */
  get size(): number {
    return this.#paths.size;
  }

  /** True when a package's file at `path` was kept out of the tree (or a path of the same hash). */
  has(path: string): boolean {
    return this.#paths.has(path);
  }

  /** True when some file kept out of the tree lies directly in `folder` (or a folder of the same hash). */
  holds(folder: string): boolean {
    return this.#folders.has(folder);
  }

  decides(why: string): never {
    refuse(why);
  }

  /**
   * Whether a hardlink may point at `path` as at a kept file: true for a file of the package
   * being installed, false for a path kept nowhere.
   *
   * @throws SpillRefused for a file of an earlier package, or a path whose hash is a kept
   *   file's: the tree alone can tell (a hardlink is checked against what the tree holds)
   */
  isKeptFile(path: string): boolean {
    if (this.#pendingPaths.has(path)) return true;
    if (this.#paths.has(path)) refuse(`a hardlink points at /${path}, which an earlier package gave`);
    return false;
  }

  /**
   * Checks that an entry of type `type` at `path` can be installed with the files kept out of
   * the tree: that it lands under no kept file and replaces nothing the walk would have to
   * settle. Returns where it lands: `path`, or where a symlinked folder above it leads
   * (merged /usr: `lib/x` lands at `usr/lib/x`).
   *
   * @throws SpillRefused when it cannot
   */
  check(tree: Tree, path: string, type: FsNode['type']): string {
    const slash = path.lastIndexOf('/');
    let at = path;
    if (slash >= 0 && tree.get(path.slice(0, slash))?.type !== 'dir') {
      // A folder the tree has not made yet could be a kept file, or lie under one.
      for (let i = path.indexOf('/'); i > 0; i = path.indexOf('/', i + 1)) {
        if (this.#paths.has(path.slice(0, i))) refuse(`/${path} is under a file`);
      }
      at = tree.resolveParent(path);
    }
    if (this.#paths.has(at)) refuse(`/${at} is given twice`);
    // Folders merge; anything else given again replaces what a package put there, which that
    // package's file list and database would then leave out (apk's `replaces`).
    const there = tree.get(at);
    if (there !== undefined && (there.type !== 'dir' || type !== 'dir')) refuse(`a ${type} replaces the ${there.type} /${at}`);
    return at;
  }

  /**
   * Keeps these paths, and every file under them, in the tree: what an ecosystem's own steps
   * read (Debian's ca-certificates bundle, its time zone).
   */
  keepInTree(paths: Iterable<string>): void {
    for (const p of paths) this.#inTreeUnder.push(p);
  }

  /**
   * Keeps the file `node` at `path` (where {@link check} said it lands) out of the tree, when its
   * body is on disk with its SHA-256 and the build's steps do not read it; false when the caller
   * must put it in the tree. The folders above it that the tree lacks are made there, as putting
   * it would.
   */
  takes(tree: Tree, path: string, node: FsNode): boolean {
    const body = node.body;
    if (node.type !== 'file' || !isFileBody(body) || !HEX64.test(body.sha256) || this.#inTree.has(path)) return false;
    if (this.#inTreeUnder.some((p) => path === p || path.startsWith(`${p}/`))) return false;
    const slash = path.lastIndexOf('/');
    if (slash >= 0) tree.mkdirAll(path.slice(0, slash));
    this.#paths.add(path);
    this.#folders.add(slash < 0 ? '' : path.slice(0, slash));
    this.#pending.push([path, node]);
    this.#pendingPaths.add(path);
    return true;
  }

  /** Writes the files kept since the last run as a run of `owner`'s, in walk order. */
  async endRun(owner: string): Promise<void> {
    const pending = this.#pending.sort(([a], [b]) => walkOrder(a, b));
    this.#pending = [];
    this.#pendingPaths.clear();
    if (pending.length === 0) return;
    const bodyPaths: string[] = [];
    const index = new Map<string, number>();
    const out = this.#runWriter;
    out.clear();
    for (const [path, node] of pending) {
      const body = node.body as FileBody;
      let at = index.get(body.path);
      if (at === undefined) {
        at = bodyPaths.push(body.path) - 1;
        index.set(body.path, at);
      }
      out.record(path, node, at);
    }
    const bytes = out.bytes();
    this.#runs.push({ offset: this.#writer.size, length: bytes.length, owner, bodyPaths });
    await this.#writer.write(bytes);
  }

  /**
   * Puts in the tree the kept files that the build's steps read or change: each of the paths
   * {@link open} was given, resolved (`etc/os-release` may be a symlink to a package's
   * `usr/lib/os-release`). The tree's node then wins over the run's, as a node the build writes
   * does.
   *
   * @throws SpillRefused when a path does not resolve (a tree of every file would say why), or
   *   when its hash is a kept file's but no run holds it
   */
  bringIn(tree: Tree): void {
    const wanted = new Set<string>();
    for (const path of this.#inTree) {
      let at: string;
      try {
        at = tree.resolve(path);
      } catch {
        refuse(`/${path} does not resolve`);
      }
      if (tree.get(at) === undefined && this.#paths.has(at)) wanted.add(at);
    }
    if (wanted.size === 0) return;
    for (const [path, node] of this.walk(tree)) {
      if (!wanted.has(path)) continue;
      tree.put(path, node);
      wanted.delete(path);
    }
    for (const path of wanted) refuse(`/${path} is a kept file's hash, not a kept file`);
  }

  /**
   * Every entry of the image in walk order: the tree's (but its root) merged with the runs. Where
   * both have a path, the tree's node is the one (the build wrote it after the packages).
   */
  *walk(tree: Tree): Generator<[string, FsNode]> {
    if (this.#closed) throw new Error('the kept files were closed');
    const treePaths = tree.walkPaths();
    const heap = new CursorHeap();
    if (this.#runs.length > 0) {
      const fd = this.#readable();
      for (const run of this.#runs) {
        const cursor = new RunCursor(fd, run, this.#writer.path);
        if (cursor.next()) heap.push(cursor);
      }
    }
    let t = 0;
    for (;;) {
      const top = heap.peek();
      const path = treePaths[t];
      if (top === undefined && path === undefined) return;
      const order = top === undefined ? -1 : path === undefined ? 1 : walkOrder(path, top.path);
      if (order <= 0) {
        t++;
        const node = tree.get(path as string);
        if (node !== undefined) yield [path as string, node];
        if (order < 0) continue;
      } else {
        yield [top!.path, top!.node];
      }
      if (top!.next()) heap.fix();
      else heap.pop();
    }
  }

  /**
   * A descriptor of the runs' file, opened at the first walk and kept to {@link close}: the file
   * stays readable should something remove it meanwhile (another build's sweep of temporary
   * files that were not written to for an hour).
   *
   * @throws ProvenantError `IO` when it cannot be opened
   */
  #readable(): number {
    if (this.#fd !== undefined) return this.#fd;
    // The runs are written: the writer's buffer, grown to the largest package's records (4 MB for
    // the 2 GB bench image), is not held through the layer's compression.
    this.#runWriter.release();
    try {
      this.#fd = openSync(this.#writer.path, 'r');
    } catch (err) {
      throw scratchError(this.#writer.path, `cannot read ${this.#writer.path}: ${(err as Error).message}`, err);
    }
    return this.#fd;
  }

  /**
   * A file body written to a scratch file of its own as it is made, for what the build writes
   * that grows with the image's files (apk's installed database); removed by {@link close}.
   */
  async body(): Promise<ScratchBody> {
    const writer = await this.#scratch.writer();
    this.#bodies.push(writer);
    return new ScratchBody(writer);
  }

  /** Removes the scratch files. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#fd !== undefined) closeSync(this.#fd);
    for (const w of [this.#writer, ...this.#bodies]) await w.abort();
  }
}

/** A body being written to a scratch file: {@link append} its bytes in order, then {@link finish}. */
export class ScratchBody {
  readonly #writer: ScratchFile;
  readonly #sha256 = createHash('sha256');
  #crc32 = 0;

  constructor(writer: ScratchFile) {
    this.#writer = writer;
  }

  async append(bytes: Uint8Array): Promise<void> {
    this.#sha256.update(bytes);
    this.#crc32 = crc32(bytes, this.#crc32);
    await this.#writer.write(bytes);
  }

  /** The body: the whole scratch file, read when the layer is written. */
  finish(): FileBody {
    const { path, size } = this.#writer;
    return { path, offset: 0, size, sha256: this.#sha256.digest('hex'), crc32: this.#crc32 };
  }
}

/** A scratch file that could not be read back as it was written. */
function scratchError(where: string, message: string, cause?: unknown): ProvenantError {
  return new ProvenantError('IO', message, {
    where,
    hint: 'a scratch file of the build in its cache was removed or cut short while it ran; build again',
    cause,
  });
}

/**
 * A run's records: each a u32 LE length, then the path (u32 count of UTF-16 units, the units),
 * mode, uid, gid and mtime (f64: a PAX record may give an id beyond 32 bits), the body's file
 * (u32 index of the run's), offset and size (f64), CRC-32 (u32), SHA-256 (32 bytes), and the
 * extended attributes as JSON (u32 count of UTF-16 units, 0 for none, the units). UTF-16 keeps
 * any string as it was.
 */
class RunWriter {
  #buffer = Buffer.alloc(64 * 1024);
  #at = 0;

  record(path: string, node: FsNode, bodyPath: number): void {
    const body = node.body as FileBody;
    const xattrs = node.xattrs === undefined || Object.keys(node.xattrs).length === 0 ? '' : JSON.stringify(node.xattrs);
    const length = 4 + 2 * path.length + 24 + 8 + 4 + 16 + 4 + 32 + 4 + 2 * xattrs.length;
    this.#ensure(4 + length);
    const b = this.#buffer;
    let at = b.writeUInt32LE(length, this.#at);
    at = b.writeUInt32LE(path.length, at);
    at += b.write(path, at, 'utf16le');
    at = b.writeDoubleLE(node.mode, at);
    at = b.writeDoubleLE(node.uid, at);
    at = b.writeDoubleLE(node.gid, at);
    at = b.writeDoubleLE(node.mtime, at);
    at = b.writeUInt32LE(bodyPath, at);
    at = b.writeDoubleLE(body.offset, at);
    at = b.writeDoubleLE(body.size, at);
    at = b.writeUInt32LE(body.crc32 >>> 0, at);
    at += b.write(body.sha256, at, 'hex');
    at = b.writeUInt32LE(xattrs.length, at);
    at += b.write(xattrs, at, 'utf16le');
    this.#at = at;
  }

  bytes(): Uint8Array {
    return this.#buffer.subarray(0, this.#at);
  }

  /** Drops the records written, keeping the buffer (whose bytes {@link bytes} gave are then overwritten). */
  clear(): void {
    this.#at = 0;
  }

  /** Drops the records written and the buffer; another record makes a new one. */
  release(): void {
    this.#at = 0;
    this.#buffer = Buffer.alloc(0);
  }

  #ensure(n: number): void {
    if (this.#at + n <= this.#buffer.length) return;
    const bigger = Buffer.alloc(Math.max(2 * this.#buffer.length, this.#at + n, 64 * 1024));
    this.#buffer.copy(bigger, 0, 0, this.#at);
    this.#buffer = bigger;
  }
}

/** A run read record by record, {@link READ_SIZE} bytes at a time. */
class RunCursor {
  readonly #fd: number;
  readonly #run: Run;
  /** Where the next read starts, from the run's start. */
  #read = 0;
  #buffer: Buffer;
  #start = 0;
  #end = 0;
  path = '';
  node: FsNode = { type: 'file', mode: 0, uid: 0, gid: 0, mtime: 0 };

  readonly #where: string;

  constructor(fd: number, run: Run, where: string) {
    this.#fd = fd;
    this.#where = where;
    this.#run = run;
    // A package of a few files needs less than a full read's buffer.
    this.#buffer = Buffer.alloc(Math.min(READ_SIZE, run.length));
  }

  /** Moves to the next record; false at the run's end. */
  next(): boolean {
    if (!this.#have(4)) return false;
    const length = this.#buffer.readUInt32LE(this.#start);
    if (!this.#have(4 + length)) throw scratchError(this.#where, `${this.#where} ends within a record of its runs`);
    const b = this.#buffer;
    let at = this.#start + 4;
    const units = b.readUInt32LE(at);
    at += 4;
    const path = b.toString('utf16le', at, at + 2 * units);
    at += 2 * units;
    const mode = b.readDoubleLE(at);
    const uid = b.readDoubleLE(at + 8);
    const gid = b.readDoubleLE(at + 16);
    const mtime = b.readDoubleLE(at + 24);
    const bodyPath = this.#run.bodyPaths[b.readUInt32LE(at + 32)] as string;
    const offset = b.readDoubleLE(at + 36);
    const size = b.readDoubleLE(at + 44);
    const crc32 = b.readUInt32LE(at + 52);
    const sha256 = b.toString('hex', at + 56, at + 88);
    at += 88;
    const xattrUnits = b.readUInt32LE(at);
    at += 4;
    const xattrs = xattrUnits === 0 ? undefined : (JSON.parse(b.toString('utf16le', at, at + 2 * xattrUnits)) as Record<string, string>);
    const body: FileBody = { path: bodyPath, offset, size, sha256, crc32 };
    this.path = path;
    this.node = { type: 'file', mode, uid, gid, mtime, owner: this.#run.owner, xattrs, body };
    this.#start += 4 + length;
    return true;
  }

  /** Whether `n` bytes of the run are in the buffer from #start on, reading more as needed. */
  #have(n: number): boolean {
    if (this.#end - this.#start >= n) return true;
    const left = this.#run.length - this.#read;
    if (left === 0) return false;
    const kept = this.#end - this.#start;
    if (this.#buffer.length < n) {
      const bigger = Buffer.alloc(Math.max(n, READ_SIZE));
      this.#buffer.copy(bigger, 0, this.#start, this.#end);
      this.#buffer = bigger;
    } else this.#buffer.copy(this.#buffer, 0, this.#start, this.#end);
    this.#start = 0;
    this.#end = kept;
    const want = Math.min(this.#buffer.length - kept, left);
    let got = 0;
    while (got < want) {
      const r = readSync(this.#fd, this.#buffer, kept + got, want - got, this.#run.offset + this.#read + got);
      if (r === 0) throw scratchError(this.#where, `${this.#where} ends before its runs do`);
      got += r;
    }
    this.#read += got;
    this.#end = kept + got;
    return this.#end - this.#start >= n;
  }
}

/** The runs' cursors, the one whose path walks first on top. */
class CursorHeap {
  readonly #items: RunCursor[] = [];

  peek(): RunCursor | undefined {
    return this.#items[0];
  }

  push(c: RunCursor): void {
    const items = this.#items;
    items.push(c);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (walkOrder(items[parent]!.path, items[i]!.path) <= 0) break;
      [items[parent], items[i]] = [items[i]!, items[parent]!];
      i = parent;
    }
  }

  pop(): void {
    const items = this.#items;
    const last = items.pop();
    if (items.length === 0 || last === undefined) return;
    items[0] = last;
    this.fix();
  }

  /** Sifts the top down after its cursor moved. */
  fix(): void {
    const items = this.#items;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let least = i;
      if (l < items.length && walkOrder(items[l]!.path, items[least]!.path) < 0) least = l;
      if (r < items.length && walkOrder(items[r]!.path, items[least]!.path) < 0) least = r;
      if (least === i) return;
      [items[least], items[i]] = [items[i]!, items[least]!];
      i = least;
    }
  }
}
