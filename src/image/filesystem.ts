/**
 * The flattened filesystem of an image, read from its layers as a runtime applies them
 * (https://github.com/opencontainers/image-spec/blob/main/layer.md, "Applying Changesets" and
 * "Whiteouts"), one layer at a time and streaming: each entry becomes a record of its type,
 * mode, owner, size, link target and the SHA-256 of its content, and only the bodies asked for
 * (package databases, small files for a text diff) are kept. Memory is bounded by the number of
 * paths and the kept bodies, never by a layer or a file, and both have limits
 * ({@link FILESYSTEM_LIMITS}) that a layer cannot talk its way past.
 */
import { createHash } from 'node:crypto';
import { compressionOf } from '../archive/compression.ts';
import { gunzip, isGzip, unzstd, zstdDecoder } from '../archive/gzip.ts';
import { cleanEntryPath, PATH_MAX, PATH_PARTS_MAX } from '../archive/paths.ts';
import { readTar, type TarEntryType, type TarHeader } from '../archive/tar.ts';
import { abbreviated, concatBytes, formatBytes, printableLine, utf8LengthAbove } from '../bytes.ts';
import { isProvenantError, ProvenantError, throwIfAborted } from '../errors.ts';
import type { ByteStream, OperationOptions } from '../io/types.ts';
import { type Digest, Digester, digestMismatch } from '../oci/digest.ts';
import { isForeignLayer } from '../oci/mediatypes.ts';
import type { Descriptor } from '../oci/types.ts';
import { DEB_COPYRIGHT_MAX_BYTES } from '../pkg/deb/copyright.ts';
import type { Inventory } from '../pkg/inventory.ts';
import { inventoryFromApkDatabase, inventoryFromDpkgStatus } from '../sbom/from-image.ts';
import type { ContentStore } from '../store/types.ts';

/** One path of a flattened filesystem: what its last tar entry said, and which layer that was in. */
export interface FileRecord {
  type: TarEntryType;
  /** Permission bits with setuid, setgid and sticky. */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of a regular file's content; 0 for everything else. */
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** A symlink's target as written, a hardlink's as a path like the record's own (`usr/bin/x`), else empty. */
  linkname: string;
  /** `major,minor` of a device node, else absent. */
  device?: string;
  /** Hex SHA-256 of a regular file's content, when the layer was read with hashing. */
  sha256?: string;
  /** Extended attributes (PAX `SCHILY.xattr.*`), sorted by name, when there are any. */
  xattrs?: Record<string, string>;
  /** The position in the manifest's `layers` of the layer this entry came from. */
  layer: number;
  /**
   * The entry's name as the layer wrote it, when a symlink among its folders took it elsewhere
   * (`x/status` with `x -> var/lib/dpkg` is recorded at `var/lib/dpkg/status`): the name under
   * which the layer read alone, with {@link ApplyLayerOptions.asWritten}, has it.
   */
  entryName?: string;
}

/** What one {@link LayerFilesystem} holds at most; past a limit, reading a layer fails with `TOO_LARGE`. */
export interface FilesystemLimits {
  /**
   * Paths, counting folders that only exist as parents of deeper paths. Each costs about 250
   * bytes; a distribution image with everything installed has a few hundred thousand.
   */
  paths: number;
  /** Bytes of all kept bodies together. */
  keptBytes: number;
  /** Bytes of one kept body. */
  keptFile: number;
}

/**
 * The limits of an image's filesystem. Kept bodies are package databases: on a Debian 12 host
 * with 763 packages, dpkg's `status` is 0.7 MiB and its 763 `info/*.list` files 7.2 MiB, the
 * largest 3.8 MiB (google-cloud-cli); an image with ten times the packages still fits well.
 * Without a limit, a layer of a few kilobytes (gzip) could make a diff hold gigabytes: four
 * 200 MiB `.list` files, or millions of empty entries.
 */
export const FILESYSTEM_LIMITS: Readonly<FilesystemLimits> = {
  paths: 2_000_000,
  keptBytes: 128 * 1024 * 1024,
  keptFile: 64 * 1024 * 1024,
};

/** The root of an image filesystem, as a path. */
export const ROOT = '.';

/** The most symlinks one path resolves through, as Linux's MAXSYMLINKS (ELOOP past it). */
const MAX_LINKS = 40;
/**
 * The most parts one resolution walks, `..` included: each costs a key of up to PATH_MAX
 * characters, so a walk costs 16 MB of string at the worst (../vfs/tree.ts has the same bound,
 * for the same reason); no real path comes near it.
 */
const WALK_MAX = 4 * PATH_PARTS_MAX;

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? ROOT : path.slice(0, i);
}

/**
 * A flattened image filesystem: paths (relative, as {@link cleanEntryPath} makes them, the root
 * being `.`) to records. A child index keeps whole subtrees removable without scanning every
 * path, so a layer full of whiteouts costs what it removes.
 */
export class LayerFilesystem {
  /** What it holds at most (see {@link applyLayer}, which enforces them). */
  readonly limits: Readonly<FilesystemLimits>;
  #records = new Map<string, FileRecord>();
  /** Parent path → its children's paths, for every parent that has any (recorded or implicit). */
  #children = new Map<string, Set<string>>();
  /** Bodies kept while reading (see {@link ApplyLayerOptions.keep}), with the layer they came from. */
  #kept = new Map<string, { layer: number; bytes: Uint8Array }>();
  #keptBytes = 0;

  constructor(limits: Partial<FilesystemLimits> = {}) {
    this.limits = { ...FILESYSTEM_LIMITS, ...limits };
  }

  /** The record of `path`, if the path exists. */
  get(path: string): FileRecord | undefined {
    return this.#records.get(path);
  }

  /**
   * True for a folder that has no entry of its own but has paths under it: a runtime creates it
   * when it unpacks them, with a mode and owner of its choosing.
   */
  isImplied(path: string): boolean {
    return !this.#records.has(path) && (this.#children.get(path)?.size ?? 0) > 0;
  }

  /** Every path, in no particular order. */
  paths(): IterableIterator<string> {
    return this.#records.keys();
  }

  /** How many paths there are. */
  get size(): number {
    return this.#records.size;
  }

  /** Paths and folders implied by them, as {@link FilesystemLimits.paths} counts them (folders may count twice). */
  get nodes(): number {
    return this.#records.size + this.#children.size;
  }

  /** Bytes of the kept bodies held. */
  get keptBytes(): number {
    return this.#keptBytes;
  }

  /**
   * The body kept for `path`, when one was kept and the path still holds the entry it was kept
   * from (a later layer may have replaced or removed it).
   */
  body(path: string): Uint8Array | undefined {
    const kept = this.#kept.get(path);
    return kept !== undefined && this.#records.get(path)?.layer === kept.layer ? kept.bytes : undefined;
  }

  /** Paths with a current kept body. */
  keptPaths(): string[] {
    return [...this.#kept.keys()].filter((p) => this.body(p) !== undefined);
  }

  /**
   * Where `path` leads: each part resolved through the symlinks recorded, as a runtime resolves
   * a path inside the container's root (containerd's fs.RootPath, which its applier and moby's
   * use for each entry's folder; ../vfs/tree.ts resolves a build's paths the same way): an
   * absolute target starts again at the root, and `..` stops at it, so nothing leads outside.
   * The result may not exist. (Of a filesystem read {@link ApplyLayerOptions.asWritten}, where
   * paths may lie beneath symlinks, the answer is not where a runtime writes.)
   *
   * @throws ProvenantError `UNSAFE_PATH` for more than 40 symlinks (a loop; a runtime fails with
   *   ELOOP), a target or a resolved path longer than PATH_MAX, or a walk past 4,096 parts
   */
  resolve(path: string): string {
    // No path is recorded beneath a symlink (put removes what was under a path it replaces, and
    // entries are put at resolved paths), so a recorded path that is no symlink, a folder implied
    // by paths under it, and what lies under either and does not exist lead to themselves. Looked
    // for from the end up, so that a new folder of a known one costs a lookup or two, as put does;
    // the walk is for paths through a symlink.
    let known = path;
    for (; known !== ROOT; known = parentOf(known)) {
      const record = this.#records.get(known);
      if (record === undefined ? this.#children.has(known) : record.type !== 'symlink') return path;
      if (record !== undefined) break;
    }
    if (known === ROOT) return path;
    const todo = path.split('/').reverse();
    /** The resolved folders so far, each as its path from the root. */
    const at: string[] = [];
    let links = 0;
    let walked = 0;
    const unsafe = (why: string, where: string): ProvenantError =>
      new ProvenantError('UNSAFE_PATH', `resolving ${JSON.stringify(abbreviated(path))} in the image ${why}`, {
        where: abbreviated(where),
        hint: 'no runtime unpacks such a layer; it is corrupt or crafted',
      });
    for (let part = todo.pop(); part !== undefined; part = todo.pop()) {
      if (++walked > WALK_MAX) throw unsafe(`walks more than ${WALK_MAX} parts through its symlinks`, at.at(-1) ?? '/');
      if (part === '' || part === '.') continue;
      if (part === '..') {
        at.pop();
        continue;
      }
      const top = at.at(-1);
      const candidate = top === undefined ? part : `${top}/${part}`;
      // Characters are at most bytes: the exact count is made once, at the end.
      if (candidate.length > PATH_MAX || at.length >= PATH_PARTS_MAX) throw unsafe('leads to a path no file system holds', candidate);
      const r = this.#records.get(candidate);
      if (r?.type !== 'symlink') {
        at.push(candidate);
        continue;
      }
      if (++links > MAX_LINKS) throw unsafe(`goes through more than ${MAX_LINKS} symlinks`, candidate);
      const bytes = utf8LengthAbove(r.linkname, PATH_MAX);
      if (bytes > PATH_MAX)
        throw unsafe(`goes through a symlink to a target of ${bytes} bytes, more than PATH_MAX (${PATH_MAX})`, candidate);
      if (r.linkname.startsWith('/')) at.length = 0;
      const target = r.linkname.split('/');
      for (let i = target.length - 1; i >= 0; i--) todo.push(target[i] as string);
    }
    const out = at.at(-1) ?? ROOT;
    const bytes = utf8LengthAbove(out, PATH_MAX);
    if (bytes > PATH_MAX) throw unsafe(`leads to a path of ${bytes} bytes, more than PATH_MAX (${PATH_MAX})`, out);
    return out;
  }

  /** Where an entry named `path` is written: {@link resolve} of its folder, its last part as is. */
  resolveParent(path: string): string {
    if (path === ROOT) return path;
    const dir = parentOf(path);
    const resolved = this.resolve(dir);
    if (resolved === dir) return path;
    const base = path.slice(dir === ROOT ? 0 : dir.length + 1);
    const out = resolved === ROOT ? base : `${resolved}/${base}`;
    const bytes = utf8LengthAbove(out, PATH_MAX);
    if (bytes > PATH_MAX || resolved.split('/').length >= PATH_PARTS_MAX) {
      throw new ProvenantError('UNSAFE_PATH', `the entry ${JSON.stringify(abbreviated(path))} leads to a path no file system holds`, {
        where: abbreviated(out),
        hint: 'no runtime unpacks such a layer; it is corrupt or crafted',
      });
    }
    return out;
  }

  /** An independent copy (records are shared: they are never changed, only replaced). */
  clone(): LayerFilesystem {
    const out = new LayerFilesystem(this.limits);
    out.#records = new Map(this.#records);
    for (const [k, v] of this.#children) out.#children.set(k, new Set(v));
    out.#kept = new Map(this.#kept);
    out.#keptBytes = this.#keptBytes;
    return out;
  }

  /**
   * Applies one entry. Over an existing path, a directory on a directory only replaces its
   * attributes; anything else removes the old path, with everything under it, first (layer.md,
   * "Changeset over existing files").
   */
  put(path: string, record: FileRecord): void {
    const old = this.#records.get(path);
    if (old !== undefined && !(old.type === 'dir' && record.type === 'dir')) this.#remove(path, () => true);
    if (record.type !== 'dir') this.#removeBelow(path, () => true);
    this.#unkeep(path);
    this.#records.set(path, record);
    this.#link(path);
  }

  /** Keeps `bytes` as the body of the entry just put at `path` from `layer`. */
  keep(path: string, layer: number, bytes: Uint8Array): void {
    this.#unkeep(path);
    this.#kept.set(path, { layer, bytes });
    this.#keptBytes += bytes.byteLength;
  }

  #unkeep(path: string): void {
    const old = this.#kept.get(path);
    if (old === undefined) return;
    this.#kept.delete(path);
    this.#keptBytes -= old.bytes.byteLength;
  }

  /**
   * A whiteout `.wh.NAME` in layer `layer`: removes `path` and everything under it that came
   * from lower layers. Entries of the same layer stay ("Whiteout files MUST only apply to
   * resources in lower/parent layers").
   */
  whiteout(path: string, layer: number): void {
    this.#remove(path, (r) => r.layer < layer);
  }

  /** An opaque whiteout `DIR/.wh..wh..opq` in `layer`: removes everything under `dir` from lower layers. */
  opaque(dir: string, layer: number): void {
    this.#removeBelow(dir, (r) => r.layer < layer);
  }

  #link(path: string): void {
    let child = path;
    while (child !== ROOT) {
      const parent = parentOf(child);
      const set = this.#children.get(parent);
      if (set === undefined) this.#children.set(parent, new Set([child]));
      else if (set.has(child)) return;
      else set.add(child);
      child = parent;
    }
  }

  /**
   * Removes `path` and what is under it, children before their parent, with a stack of its own
   * rather than recursion: paths are 1,024 folders deep at most (cleanEntryPath), and a stack of
   * its own stays safe whatever that bound becomes.
   */
  #remove(path: string, which: (r: FileRecord) => boolean): void {
    const stack: { path: string; opened: boolean }[] = [{ path, opened: false }];
    for (let top = stack.at(-1); top !== undefined; top = stack.at(-1)) {
      if (!top.opened) {
        top.opened = true;
        for (const child of this.#children.get(top.path) ?? []) stack.push({ path: child, opened: false });
        continue;
      }
      stack.pop();
      const r = this.#records.get(top.path);
      if (r !== undefined && which(r)) {
        this.#records.delete(top.path);
        this.#unkeep(top.path);
      }
      this.#prune(top.path);
    }
  }

  #removeBelow(path: string, which: (r: FileRecord) => boolean): void {
    for (const child of [...(this.#children.get(path) ?? [])]) this.#remove(child, which);
  }

  /** Drops `path` from its parent's child set once nothing is left at or under it. */
  #prune(path: string): void {
    let p = path;
    while (p !== ROOT && !this.#records.has(p) && (this.#children.get(p)?.size ?? 0) === 0) {
      this.#children.delete(p);
      const parent = parentOf(p);
      // Already unlinked (pruned from below): nothing above it changed, and walking on would make
      // removing a deep chain cost its depth squared.
      if (this.#children.get(parent)?.delete(p) !== true) return;
      p = parent;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Decompression
// ---------------------------------------------------------------------------------------------

/**
 * The tar stream of a layer blob, whatever its compression: gzip and zstd are recognised by their
 * magic numbers (the media type is not trusted: Docker's gzip type is used for plain tars in
 * `docker save` output, and zstd layers are often typed as gzip by older tools).
 *
 * @throws ProvenantError `UNSUPPORTED_MEDIA_TYPE` for zstd on a Node without it (before 22.15),
 *   `INVALID_ARCHIVE` or `TRUNCATED` for a corrupt stream
 */
export async function* decompressLayer(stream: ByteStream, where: string): AsyncGenerator<Uint8Array> {
  const it = stream[Symbol.asyncIterator]();
  const head: Uint8Array[] = [];
  let have = 0;
  let done = false;
  while (have < 4) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    head.push(r.value);
    have += r.value.byteLength;
  }
  const first = concatBytes(head, have);
  const whole = (async function* () {
    if (first.byteLength > 0) yield first;
    if (done) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  })();
  if (isGzip(first)) yield* gunzip(whole, { where });
  else if (compressionOf(first) === 'zstd') yield* unzstdLayer(whole, where);
  else yield* whole;
}

async function* unzstdLayer(input: AsyncIterable<Uint8Array>, where: string): AsyncGenerator<Uint8Array> {
  const decoder = zstdDecoder();
  if (decoder === undefined) {
    throw new ProvenantError('UNSUPPORTED_MEDIA_TYPE', 'the layer is zstd-compressed and this Node has no zstd decoder', {
      where,
      hint: 'run Provenant on Node 22.15 or later, where node:zlib decodes zstd',
    });
  }
  yield* unzstd(input, decoder, where);
}

// ---------------------------------------------------------------------------------------------
// Applying a layer
// ---------------------------------------------------------------------------------------------

/** Options of {@link applyLayer}. */
export interface ApplyLayerOptions extends OperationOptions {
  /** The layer's position in the manifest, recorded with each path. */
  index: number;
  /** The config's `rootfs.diff_ids` entry: the uncompressed stream must have this digest. */
  diffId?: Digest | undefined;
  /** Hash regular files' contents (default true); off when only kept bodies matter. */
  hash?: boolean | undefined;
  /** Which regular files' bodies to keep in memory (see {@link LayerFilesystem.body}). */
  keep?: ((path: string, header: TarHeader) => boolean) | undefined;
  /** What to name in errors: the image and the layer. */
  where?: string | undefined;
  /**
   * Record each entry at its name as written, its folders not resolved through symlinks: to read
   * one layer alone again and find an entry by {@link FileRecord.entryName}, which earlier layers'
   * symlinks would otherwise have taken elsewhere.
   */
  asWritten?: boolean | undefined;
}

const XATTR = /^(SCHILY|LIBARCHIVE)\.xattr\./;

/**
 * Reads one layer blob from `store` and applies it to `fs`: entries in order, whiteouts to lower
 * layers only, opaque whiteouts likewise whatever their place in the layer. The blob is read to
 * its end, so its digest (checked by the store) and, when given, its diff_id are verified.
 *
 * @throws ProvenantError `UNSAFE_PATH` for an entry name that climbs out of the root,
 *   `DIGEST_MISMATCH` when the uncompressed stream is not `diffId`, what {@link readTar} and
 *   {@link decompressLayer} throw, `ABORTED`
 */
export async function applyLayer(fs: LayerFilesystem, store: ContentStore, layer: Descriptor, options: ApplyLayerOptions): Promise<void> {
  const where = options.where ?? `${store.location}@${layer.digest}`;
  const raw = await store.readBlob(layer, options).catch((err: unknown) => {
    throw isProvenantError(err, 'NOT_FOUND') && isForeign(layer) ? foreignLayerMissing(layer, options.index, store, where, err) : err;
  });
  const counted = countProgress(raw, layer, options);
  const tarStream = decompressLayer(counted, where)[Symbol.asyncIterator]();
  const diff = new Digester();
  // readTar stops at the end-of-archive blocks and closes its input; this view hashes what it
  // reads and leaves the stream open, so that the rest can be drained (and verified) below.
  const view: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator]: () => ({
      next: async () => {
        const r = await tarStream.next();
        if (!r.done) diff.update(r.value);
        return r;
      },
      return: async () => ({ done: true as const, value: undefined }),
    }),
  };
  try {
    for await (const entry of readTar(view, { where })) {
      throwIfAborted(options.signal);
      await applyEntry(fs, entry.header, entry.body, options, where);
    }
    for (;;) {
      const r = await tarStream.next();
      if (r.done) break;
      diff.update(r.value);
    }
  } finally {
    await tarStream.return?.(undefined);
  }
  if (options.diffId?.startsWith('sha256:')) {
    const actual = diff.digest();
    if (actual !== options.diffId) throw digestMismatch(options.diffId, actual, `${where} (uncompressed, against the config's diff_id)`);
  }
}

/** A Docker foreign or OCI non-distributable layer, or any layer that names URLs to fetch it from. */
function isForeign(layer: Descriptor): boolean {
  return isForeignLayer(layer.mediaType) || (layer.urls !== undefined && layer.urls.length > 0);
}

/**
 * A foreign layer that the store does not hold. Windows base images are the usual case: their
 * base layers are fetched by a runtime from the `urls` of the descriptor, registries do not
 * serve them, and copies leave them out, so the store's own "not found" would be a puzzle.
 */
function foreignLayerMissing(layer: Descriptor, index: number, store: ContentStore, where: string, cause: unknown): ProvenantError {
  const from = layer.urls?.[0] === undefined ? '' : ` (a runtime fetches it from ${printableLine(layer.urls[0])})`;
  return new ProvenantError(
    'NOT_FOUND',
    `layer ${index} (${layer.digest}) is a foreign, non-distributable layer (${printableLine(layer.mediaType)}) and is not in ${store.location}${from}`,
    {
      where,
      hint: 'foreign layers (Windows base layers, for one) are not stored with the image and Provenant does not fetch them, so the files in it cannot be read; put the blob in the store to read them',
      cause,
    },
  );
}

async function applyEntry(
  fs: LayerFilesystem,
  header: TarHeader,
  body: AsyncIterable<Uint8Array>,
  options: ApplyLayerOptions,
  where: string,
): Promise<void> {
  // Runtimes join entry names to the root, so a leading slash is no escape; `..` above it is.
  const written = cleanEntryPath(header.name.replace(/^\/+/, '') || '.', where);
  // A runtime writes through the symlinks among an entry's folders (resolved inside the root,
  // containerd's fs.RootPath): `x/status` after `x -> var/lib/dpkg` is dpkg's status file, and
  // a whiteout `x/.wh.status` removes it. Read as named, such a layer would hide packages.
  let path: string;
  try {
    path = options.asWritten === true ? written : fs.resolveParent(written);
  } catch (err) {
    // The walk names the path and the folder it stopped in; which layer and entry, only this knows.
    if (isProvenantError(err, 'UNSAFE_PATH')) {
      throw new ProvenantError('UNSAFE_PATH', err.message, { where: `${where}: ${written} (${err.where})`, hint: err.hint, cause: err });
    }
    throw err;
  }
  const slash = path.lastIndexOf('/');
  const base = path.slice(slash + 1);
  const dir = slash < 0 ? ROOT : path.slice(0, slash);
  if (base.startsWith('.wh.')) {
    if (base === '.wh..wh..opq') fs.opaque(dir, options.index);
    // Other `.wh..wh.` names are aufs' own bookkeeping (`.wh..wh.plnk`, `.wh..wh.aufs`), not
    // paths; `.wh.`, `.wh..` and `.wh...` name no entry of the folder and hide nothing.
    else if (!base.startsWith('.wh..wh.') && !['', '.', '..'].includes(base.slice(4))) {
      fs.whiteout(dir === ROOT ? base.slice(4) : `${dir}/${base.slice(4)}`, options.index);
    }
    return;
  }
  const record: FileRecord = {
    type: header.type,
    mode: header.mode,
    uid: header.uid,
    gid: header.gid,
    size: header.type === 'file' ? header.size : 0,
    mtime: header.mtime,
    linkname: header.type === 'hardlink' ? hardlinkTarget(fs, header.linkname, path, where, options.asWritten === true) : header.linkname,
    layer: options.index,
  };
  if (path !== written) record.entryName = written;
  if (header.type === 'char' || header.type === 'block') record.device = `${header.devmajor},${header.devminor}`;
  const xattrs = Object.keys(header.pax ?? {})
    .filter((k) => XATTR.test(k))
    .sort();
  if (xattrs.length > 0) record.xattrs = Object.fromEntries(xattrs.map((k) => [k.replace(XATTR, ''), header.pax?.[k] ?? '']));
  if (fs.nodes >= fs.limits.paths && fs.get(path) === undefined) {
    throw new ProvenantError('TOO_LARGE', `the image has more than ${fs.limits.paths} paths, more than are read into memory`, {
      where: `${where}: ${path}`,
      hint: 'a layer with millions of entries is built to exhaust memory, not to run',
    });
  }
  if (header.type === 'file') {
    // A copyright file only adds a license: it is kept while the kept bodies stay within half
    // the budget, the rest left to package databases, rather than refuse an image whose databases fit.
    const keep = options.keep?.(path, header) === true && !(isCopyrightPath(path) && fs.keptBytes + header.size > fs.limits.keptBytes / 2);
    if (keep) checkKeep(fs, path, header.size, where);
    const hash = options.hash === false ? undefined : createHash('sha256');
    const parts: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of body) {
      hash?.update(chunk);
      if (keep) {
        parts.push(chunk);
        total += chunk.byteLength;
      }
    }
    if (hash !== undefined) record.sha256 = hash.digest('hex');
    fs.put(path, record);
    if (keep) fs.keep(path, options.index, concatBytes(parts, total));
    return;
  }
  fs.put(path, record);
}

/**
 * A hardlink's target as a path of the filesystem, cleaned as entry names are: it names another
 * entry of the archive, so `./usr/x`, `/usr/x` and `usr/x` are one target (tools differ in how
 * they write it), its folders resolved through symlinks as an entry's are. A symlink's target is
 * not a path of the archive and stays as written.
 *
 * @throws ProvenantError `UNSAFE_PATH` for a target that climbs out of the root, which a runtime
 *   refuses to link, and (unless `asWritten`) for one that does not exist when the entry is
 *   applied, is a folder or is the link itself, which a runtime fails to link
 */
function hardlinkTarget(fs: LayerFilesystem, linkname: string, path: string, where: string, asWritten: boolean): string {
  if (linkname === '' && asWritten) return '';
  let target: string;
  try {
    target = cleanEntryPath(linkname.replace(/^\/+/, '') || '.', where);
  } catch (err) {
    if (!(err instanceof ProvenantError)) throw err;
    throw new ProvenantError(
      'UNSAFE_PATH',
      `the hardlink ${JSON.stringify(path)} points to ${JSON.stringify(linkname)}, outside the root`,
      {
        where,
        hint: 'the layer may be corrupt or crafted to link a file of the host into the image; a runtime refuses it',
        cause: err,
      },
    );
  }
  // A layer read alone (asWritten) does not hold the lower layers its links may point into; it is
  // read so only after the whole image was, with this check.
  if (asWritten) return target;
  // Its folders resolved as an entry's are: it names the path its target was recorded at.
  const resolved = fs.resolveParent(target);
  // A runtime links to what is on disk when it meets the entry (containerd's applier and umoci
  // call link(2), which fails with ENOENT, or EPERM for a folder). Accepted, the link would show
  // in a diff or an SBOM as a file that no runtime unpacks.
  const record = resolved === path ? undefined : fs.get(resolved);
  if (record === undefined || record.type === 'dir') {
    const what =
      resolved === path
        ? 'the link itself'
        : record === undefined && !fs.isImplied(resolved)
          ? 'which no earlier entry of the layer or lower layer made'
          : 'a folder';
    throw new ProvenantError('UNSAFE_PATH', `the hardlink ${JSON.stringify(path)} points to ${JSON.stringify(linkname)}, ${what}`, {
      where,
      hint: 'a hardlink must name a file unpacked before it; a runtime fails to link this one, so the layer is corrupt or crafted',
    });
  }
  return resolved;
}

/** Refuses to keep a body of `size` bytes past the filesystem's limits, before any of it is read. */
function checkKeep(fs: LayerFilesystem, path: string, size: number, where: string): void {
  const { keptFile, keptBytes } = fs.limits;
  const hint = 'kept files are package databases (dpkg status, info/*.list, status.d), a few MiB in real images';
  if (size > keptFile) {
    throw new ProvenantError(
      'TOO_LARGE',
      `${path} is ${formatBytes(size)}, more than the ${formatBytes(keptFile)} a package database file may have`,
      {
        where,
        hint,
      },
    );
  }
  if (fs.keptBytes + size > keptBytes) {
    throw new ProvenantError(
      'TOO_LARGE',
      `${path} (${formatBytes(size)}) would take the package database files held in memory past ${formatBytes(keptBytes)}`,
      { where, hint },
    );
  }
}

function countProgress(stream: ByteStream, layer: Descriptor, options: OperationOptions): ByteStream {
  const report = options.onProgress;
  if (report === undefined) return stream;
  return (async function* () {
    let done = 0;
    for await (const chunk of stream) {
      done += chunk.byteLength;
      report({ kind: 'blob', digest: layer.digest, done, total: layer.size, phase: 'transfer' });
      yield chunk;
    }
    report({ kind: 'blob', digest: layer.digest, done, total: layer.size, phase: 'done' });
  })();
}

// ---------------------------------------------------------------------------------------------
// Package databases
// ---------------------------------------------------------------------------------------------

/**
 * The files an inventory is read from: apk's and dpkg's databases and os-release; and, given the
 * entry's `header` (as `keep: isPackageDatabasePath` is, by {@link applyLayer}), Debian packages'
 * copyright files (`usr/share/doc/<package>/copyright`) of at most DEB_COPYRIGHT_MAX_BYTES, which
 * give their licenses as a build reads them. Asked with a path alone (as `diff`, which shows no
 * license, asks), it leaves them out.
 */
export function isPackageDatabasePath(path: string, header?: Pick<TarHeader, 'size'>): boolean {
  return (
    /^(usr\/)?lib\/apk\/db\/installed$/.test(path) ||
    /^(etc|usr\/lib)\/os-release$/.test(path) ||
    path === 'var/lib/dpkg/status' ||
    /^var\/lib\/dpkg\/status\.d\/[^/]+$/.test(path) ||
    (header !== undefined && header.size <= DEB_COPYRIGHT_MAX_BYTES && isCopyrightPath(path))
  );
}

function isCopyrightPath(path: string): boolean {
  return /^usr\/share\/doc\/[^/]+\/copyright$/.test(path);
}

/**
 * The inventory of a flattened filesystem read with `keep: isPackageDatabasePath`: from apk's
 * installed database, else dpkg's: distroless' `status.d` files and dpkg's `status` together,
 * as trivy and syft read them (an image built on a distroless one that installs packages with
 * dpkg has both, and dpkg knows only `status`). Undefined when there is none of them.
 *
 * @throws ProvenantError `INVALID_PACKAGE` when a database does not parse
 */
export function inventoryFromFilesystem(fs: LayerFilesystem, image: Inventory['image']): Inventory | undefined {
  const decoder = new TextDecoder();
  const text = (p: string): string | undefined => {
    const b = fs.body(p);
    return b === undefined ? undefined : decoder.decode(b);
  };
  const osRelease = text('etc/os-release') ?? text('usr/lib/os-release') ?? '';
  const apkDb = text('usr/lib/apk/db/installed') ?? text('lib/apk/db/installed');
  if (apkDb !== undefined) return inventoryFromApkDatabase(apkDb, osRelease, image);
  // status.d holds one stanza file per package, and `.md5sums` files beside them. status comes
  // last: of a package in both, dpkg's entry (the later install) is the one listed.
  const files = fs
    .keptPaths()
    .filter((p) => /^var\/lib\/dpkg\/status\.d\/[^/]+$/.test(p) && !p.endsWith('.md5sums'))
    .sort()
    .map((path) => ({ path, text: text(path) ?? '' }));
  const status = text('var/lib/dpkg/status');
  if (status !== undefined) files.push({ path: 'var/lib/dpkg/status', text: status });
  if (files.length === 0) return undefined;
  // Through a symlinked folder (libgcc-s1 → gcc-12-base) as a runtime resolves it; a loop gives none.
  const copyright = (name: string): Uint8Array | undefined => {
    try {
      return fs.body(fs.resolve(`usr/share/doc/${name}/copyright`));
    } catch (e) {
      if (isProvenantError(e, 'UNSAFE_PATH')) return undefined;
      throw e;
    }
  };
  return inventoryFromDpkgStatus(files, osRelease, image, copyright);
}
