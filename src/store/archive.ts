/** `oci-archive:FILE`: an OCI image layout in a tar file, read in place and written through a private layout. */
import { lstat, readdir, readlink, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { decompressCommand } from '../archive/compression.ts';
import { tarHeader, writeTar } from '../archive/tar.ts';
import type { TarView, TarViewFile } from '../archive/view.ts';
import { isProvenantError, ProvenantError } from '../errors.ts';
import { fileError, kindOf, makeFolder, writeFileAtomic } from '../io/files.ts';
import type { BlobSource, ByteStream, OperationOptions } from '../io/types.ts';
import { collect, MANIFEST_LIMIT } from '../io/verify.ts';
import { children, parseStored, type Stored, subjectOf } from '../oci/content.ts';
import { type Digest, digestAlgorithm, digestHex, digestOf, isDigest } from '../oci/digest.ts';
import { isManifestLike } from '../oci/mediatypes.ts';
import type { Descriptor } from '../oci/types.ts';
import {
  archiveFolderError,
  archiveNotFileError,
  compressionOfFile,
  openArchiveView,
  removeStalePartials,
  removeStaleWork,
  stagingError,
  WorkFolder,
} from './archive-work.ts';
import { LayoutStore } from './layout.ts';
import { stampOfFile } from './layout-files.ts';
import { COORDINATION_PREFIX, LayoutLock } from './layout-lock.ts';
import { checkLayoutFile, LAYOUT_FILE, LayoutReader, parseIndexJson } from './layout-reader.ts';
import type { CloseOptions } from './types.ts';

const { createReadStream } = process.getBuiltinModule('node:fs');

/**
 * `oci-archive:FILE`: an OCI image layout in a tar file, as skopeo and BuildKit write them.
 *
 * Reading is in place: the tar is indexed (headers only) into a {@link TarView}, and index.json
 * and blobs are read from it by offset, each blob checked against its digest. Nothing is
 * unpacked, so no name or link in the archive can reach a file of the host.
 *
 * With `write`, a private temporary {@link LayoutStore} holds the image: it starts with the
 * existing archive's blobs (copied by digest, checked) and index.json, and `close()` packs it into
 * a new file that replaces the old one by rename, so the archive is either the old one or the
 * whole new one, never half. The temporary folder is removed on close and on every failure.
 * Writers of one archive take turns (see {@link lockArchive}), so none drops another's tag. What
 * a writer killed with SIGKILL left (its temporary folder, a partial `FILE.tmp-…` beside the
 * archive) is removed by the next writer (see archive-work.ts).
 *
 * A gzip- or zstd-compressed archive is read through a decompressed temporary copy (see
 * {@link openArchiveView}); one is not written to: the new archive would be a plain tar under
 * the compressed one's name.
 */
export async function openOciArchive(
  path: string,
  options: { write?: boolean; signal?: AbortSignal | undefined } = {},
): Promise<LayoutReader> {
  const exists = () =>
    stat(path).then(
      () => true,
      () => false,
    );
  if (!options.write) {
    if (!(await exists())) throw new ProvenantError('NOT_FOUND', `no archive at ${path}`, { where: `oci-archive:${path}` });
    return OciArchiveStore.open(path);
  }
  // Held from before the old archive is read until the new one is renamed over it: two writers
  // that each read the old archive and renamed their own over it lost the first one's tag.
  // Named as the archive in messages and progress, as the user wrote it, not as the temporary
  // folder it is written in nor as the file a link leads to.
  const location = `oci-archive:${path}`;
  // Through a link, the file it leads to is read, locked and replaced: renamed over the link's
  // own path, the new archive replaced the link with a file, and a writer through the link and
  // one through the real path took two locks, so one lost the other's tag.
  const file = await archiveFile(path, location);
  const lock = await lockArchive(file, location, options.signal);
  let work: WorkFolder | undefined;
  try {
    // Held by this process, the lock was free or its holder gone: what lies beside the archive
    // from an earlier writer is a dead one's.
    await removeStalePartials(file);
    await removeStaleWork();
    work = await WorkFolder.make('provenant-archive-');
    const layoutDir = join(work.path, 'layout');
    // What is put into the store goes to the work folder, in TMPDIR: a write refused there is its.
    const writeError = (err: unknown) => stagingError(err, location, path);
    // Taken before the archive is read: a program that does not take the lock (skopeo, a
    // second copy of an older version) may still replace it meanwhile, which close() then sees.
    const stamp = await archiveStamp(file, location);
    // Nothing there, or an empty file (as mktemp makes, and as a docker-archive takes it): a new archive.
    let store: LayoutStore;
    let corrupt = new Map<Digest, ProvenantError>();
    if ((await archiveTarget(file, location)) === 'file') {
      await refuseCompressed(file, location);
      const old = await OciArchiveStore.open(file, location);
      try {
        ({ layout: store, corrupt } = await layoutFrom(old, layoutDir, location, writeError));
      } finally {
        await old.close();
      }
    } else {
      store = await LayoutStore.open(layoutDir, { create: true, location, writeError });
    }
    return withPackOnClose(store, file, location, work, lock, stamp, corrupt);
  } catch (err) {
    await work?.remove();
    await lock.release();
    throw stagingError(err, location, path);
  }
}

/**
 * Refuses to add to a compressed archive: it is read, but written back it would be a plain tar
 * under the name of a compressed one (`image.tar.gz`), which a reader that trusts the name (tar
 * xzf, a registry upload as gzip) then fails on, and recompressing it is not what was asked.
 *
 * @throws ProvenantError `USAGE` saying what it is and what to do
 */
async function refuseCompressed(path: string, where: string): Promise<void> {
  const compression = await compressionOfFile(path, where);
  if (compression === undefined) return;
  throw new ProvenantError('USAGE', `the archive is ${compression}-compressed, and an oci-archive is written as a plain tar`, {
    where,
    hint: `write to a new file (oci-archive:image.tar) or to a decompressed copy (${decompressCommand(compression)} ${path} > image.tar), and compress it afterwards if you need to`,
  });
}

/**
 * What is at `path`, where an archive is to be written: nothing, an empty file (as `mktemp`
 * makes: a new archive, for both formats), or a file with content.
 *
 * @throws ProvenantError `USAGE` for a folder (an archive is one file), a named pipe, a device or a
 *   socket; `IO` when it cannot be looked at
 */
export async function archiveTarget(path: string, where: string): Promise<'none' | 'empty' | 'file'> {
  const s = await stat(path).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return undefined;
    throw fileError(err, where);
  });
  if (s === undefined) return 'none';
  if (s.isDirectory()) throw archiveFolderError(path, where, 'write');
  // Read (to add to it) a named pipe would block the process for good, and the new archive renamed over it replace it.
  if (!s.isFile()) throw archiveNotFileError(path, `is ${kindOf(s)}`, where, 'write');
  return s.size === 0 ? 'empty' : 'file';
}

/**
 * Takes the lock of the archive at `path`: `.provenant-archive-<name>.lock` beside it, the
 * layouts' lock (layout-lock.ts: refreshed while held, broken when its owner is gone). A second
 * writer waits for the first to finish, then starts from what it wrote; `signal` ends the wait
 * (`ABORTED`, nothing taken). `path` is the file itself ({@link archiveFile}), so that writers
 * through a link and through the real path share one lock.
 */
export async function lockArchive(path: string, where: string, signal?: AbortSignal): Promise<LayoutLock> {
  // A name near the 255-byte limit would leave no room for the prefix: such a name is hashed.
  const base = basename(path);
  const id = Buffer.byteLength(base) > 160 ? digestHex(digestOf(base)) : base;
  return LayoutLock.acquire(dirname(path), { name: `${COORDINATION_PREFIX}archive-${id}.lock`, signal }).catch((err: unknown) => {
    throw fileError(err, where, signal);
  });
}

/**
 * The file an archive named `path` is written to: `path` with its links resolved (the file a
 * link leads to, made there when a dangling link leads nowhere yet, as skopeo writes through a
 * link), or, for a file still to be made, the real path of its folder with its name. Resolved
 * once, before the lock is taken: the lock, the read of the old archive and the rename of the
 * new one all go to this one file. A folder that is not there is left as written (or as the
 * link names it), for the write to say so; a dangling link is never replaced by a file.
 *
 * Each link is followed here, not by the system, so Linux's `fs.protected_symlinks` would not
 * stop one: its rule is applied to each link instead (see {@link refuseProtectedLink}).
 *
 * @throws ProvenantError `UNSAFE_PATH` for a link another user planted in a sticky,
 *   world-writable folder; `IO` when the path cannot be looked up (a loop of links)
 */
export async function archiveFile(path: string, where: string): Promise<string> {
  let current = resolve(path);
  // As the system's own limit on links followed in one lookup (Linux's 40).
  for (let hops = 0; hops < 40; hops++) {
    const s = await lstat(current).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw fileError(err, where);
    });
    // The folder as the system sees it: a link's relative target is taken from there, not from
    // the folder's name as written (`g/l.tar -> ../a.tar`, with `g` a link to `f/sub`).
    const folder = await realpath(dirname(current)).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw fileError(err, where);
    });
    if (folder === undefined) return hops === 0 ? path : current;
    const file = join(folder, basename(current));
    if (s?.isSymbolicLink() !== true) return file;
    await refuseProtectedLink(file, s.uid, folder, where);
    const target = await readlink(file).catch((err: unknown) => {
      throw fileError(err, where);
    });
    current = resolve(folder, target);
  }
  throw new ProvenantError('IO', `${path}: too many levels of links`, { where });
}

/**
 * Linux's `fs.protected_symlinks` rule (Documentation/admin-guide/sysctl/fs.rst), for a link
 * {@link archiveFile} follows itself: a link in a sticky, world-writable folder (as /tmp) is
 * followed only when it belongs to this process's user or to the folder's owner. Another user
 * could otherwise plant `/tmp/out.tar -> /home/me/.bashrc` for a name this user writes to.
 * Applied whether or not the system's own setting is on; nothing is checked where there are
 * no user ids (Windows).
 *
 * @throws ProvenantError `UNSAFE_PATH` naming the link and its owner
 */
async function refuseProtectedLink(link: string, owner: number, folder: string, where: string): Promise<void> {
  const me = process.geteuid?.();
  if (me === undefined || owner === me) return;
  const f = await stat(folder).catch((err: unknown) => {
    throw fileError(err, where);
  });
  const STICKY_WORLD_WRITABLE = 0o1002;
  if ((f.mode & STICKY_WORLD_WRITABLE) !== STICKY_WORLD_WRITABLE || f.uid === owner) return;
  throw new ProvenantError(
    'UNSAFE_PATH',
    `${link} is a link in a sticky, world-writable folder, owned by another user (uid ${owner}) than this one or the folder's owner, so it is not followed`,
    {
      where,
      hint: 'name the file the link leads to, or write somewhere only you can; Linux refuses such a link likewise (fs.protected_symlinks)',
    },
  );
}

/**
 * An oci-archive read in place (see {@link openOciArchive}). Read-only: `putBlob` and
 * `putManifest` fail with `USAGE`; open the archive with `write` to change it.
 */
export class OciArchiveStore extends LayoutReader {
  readonly location: string;
  readonly #view: TarView;
  readonly #layoutBytes: Uint8Array;
  readonly #indexBytes: Uint8Array;
  /** Removes the decompressed copy a compressed archive is read through. */
  #release: (() => Promise<void>) | undefined;

  private constructor(view: TarView, layoutBytes: Uint8Array, indexBytes: Uint8Array, release: () => Promise<void>) {
    super(parseIndexJson(indexBytes, `${view.where}/index.json`));
    this.location = view.where;
    this.#view = view;
    this.#layoutBytes = layoutBytes;
    this.#indexBytes = indexBytes;
    this.#release = release;
  }

  /**
   * Indexes the archive at `path` and reads its oci-layout and index.json.
   *
   * @throws ProvenantError as {@link TarView.open} does (`UNSAFE_PATH` for names or links that
   *   leave the archive); `INVALID_ARCHIVE` when it holds no oci-layout or index.json, or is
   *   compressed other than with gzip (see {@link openArchiveView}); `INVALID_LAYOUT` when they
   *   are malformed
   */
  static async open(path: string, where = `oci-archive:${path}`): Promise<OciArchiveStore> {
    const { view, release } = await openArchiveView(path, where);
    try {
      return await OciArchiveStore.#read(view, release);
    } catch (err) {
      await release();
      throw err;
    }
  }

  static async #read(view: TarView, release: () => Promise<void>): Promise<OciArchiveStore> {
    const where = view.where;
    const small = async (name: string): Promise<Uint8Array> => {
      const file = view.file(name);
      if (file === undefined) {
        throw new ProvenantError('INVALID_ARCHIVE', `the archive holds no ${name}, so it is not an OCI image layout`, {
          where,
          hint: 'an oci-archive is a tar of oci-layout, index.json and blobs/; is this a docker-archive?',
        });
      }
      return collect(view.read(file), MANIFEST_LIMIT, `${where}/${name}`);
    };
    const layoutBytes = await small(LAYOUT_FILE);
    checkLayoutFile(layoutBytes, `${where}/${LAYOUT_FILE}`);
    return new OciArchiveStore(view, layoutBytes, await small('index.json'), release);
  }

  #blob(digest: Digest): TarViewFile | undefined {
    // The member name comes from the digest, never the other way round.
    return isDigest(digest) ? this.#view.file(`blobs/${digestAlgorithm(digest)}/${digestHex(digest)}`) : undefined;
  }

  async statBlob(digest: Digest): Promise<Descriptor | undefined> {
    const file = this.#blob(digest);
    return file === undefined ? undefined : { mediaType: 'application/octet-stream', digest, size: file.size };
  }

  async readBlob(descriptor: Descriptor, options: OperationOptions & { offset?: number } = {}): Promise<ByteStream> {
    const file = this.#blob(descriptor.digest);
    if (file === undefined) {
      throw new ProvenantError('NOT_FOUND', `blob ${descriptor.digest} is not in the archive`, {
        where: `${this.location}@${descriptor.digest}`,
      });
    }
    return this.#view.readBlob(file, descriptor, options.offset ?? 0);
  }

  /** Every blob the archive holds under `blobs/<algorithm>/<hex>`, as descriptors with sizes. */
  blobs(): Descriptor[] {
    const out: Descriptor[] = [];
    for (const name of this.#view.names()) {
      const m = /^blobs\/([^/]+)\/([^/]+)$/.exec(name);
      const digest = m === null ? undefined : `${m[1]}:${m[2]}`;
      if (!isDigest(digest)) continue;
      const file = this.#blob(digest);
      if (file !== undefined) out.push({ mediaType: 'application/octet-stream', digest, size: file.size });
    }
    return out;
  }

  /** The archive's `oci-layout` and `index.json` exactly as stored. */
  layoutFiles(): { layout: Uint8Array; index: Uint8Array } {
    return { layout: this.#layoutBytes.slice(), index: this.#indexBytes.slice() };
  }

  #readOnly(): never {
    throw new ProvenantError('USAGE', 'this oci-archive was opened for reading', {
      where: this.location,
      hint: 'open it with write to change it',
    });
  }

  async putBlob(_source: BlobSource): Promise<'stored' | 'exists'> {
    this.#readOnly();
  }

  async putManifest(_stored: Stored): Promise<void> {
    this.#readOnly();
  }

  async close(): Promise<void> {
    const release = this.#release;
    this.#release = undefined;
    await release?.();
  }
}

/**
 * A layout in `dir` holding everything `archive` holds: its oci-layout and index.json as they
 * are, and each blob copied by digest (file names come from digests, never from archive paths)
 * through a checked read.
 *
 * A blob whose bytes do not match its digest is left out and returned in `corrupt`, with the
 * error its read gave: what is written next may bring a good copy of it, which then takes its
 * place, as a second copy into a layout replaces a corrupt blob there (layout.ts #intact). Else
 * the archive could never be written again, whatever was copied into it.
 */
async function layoutFrom(
  archive: OciArchiveStore,
  dir: string,
  location: string,
  writeError: (err: unknown) => unknown,
): Promise<{ layout: LayoutStore; corrupt: Map<Digest, ProvenantError> }> {
  const files = archive.layoutFiles();
  await makeFolder(dir);
  await writeFileAtomic(join(dir, LAYOUT_FILE), files.layout);
  await writeFileAtomic(join(dir, 'index.json'), files.index);
  const layout = await LayoutStore.open(dir, { location, writeError });
  const corrupt = new Map<Digest, ProvenantError>();
  for (const descriptor of archive.blobs()) {
    try {
      await layout.putBlob({ descriptor, open: (offset = 0) => archive.readBlob(descriptor, { offset }) });
    } catch (err) {
      if (!isProvenantError(err, 'DIGEST_MISMATCH', 'SIZE_MISMATCH')) throw err;
      corrupt.set(descriptor.digest, err);
    }
  }
  return { layout, corrupt };
}

/**
 * Throws for the first corrupt blob of the archive (see {@link layoutFrom}) that what was written
 * did not replace and that an entry of index.json reaches: packed without it, the archive would
 * lose a blob its images need; kept, it would carry the corrupt bytes on. One that nothing
 * reaches is garbage, and is left out (what `gc` would do with it in a layout).
 *
 * @throws ProvenantError `INVALID_ARCHIVE` naming the archive as the corrupt side, the blob, and
 *   what to do
 */
async function refuseCorrupt(store: LayoutStore, where: string, corrupt: Map<Digest, ProvenantError>): Promise<void> {
  const missing = new Set<Digest>();
  for (const digest of corrupt.keys()) if ((await store.statBlob(digest)) === undefined) missing.add(digest);
  if (missing.size === 0) return;
  const needed = await reachedOf(store, missing);
  for (const digest of needed) {
    const cause = corrupt.get(digest)!;
    const n = needed.size;
    throw new ProvenantError(
      'INVALID_ARCHIVE',
      `the archive being written to holds a corrupt blob ${digest} (${cause.message})${n > 1 ? ` and ${n - 1} more` : ''}, which nothing written brought a good copy of; the archive is left as it was`,
      {
        where: `${where}@${digest}`,
        cause,
        hint: 'copy the image that uses it into the archive again, from where it came (a good copy replaces the corrupt one), or write to a new archive',
      },
    );
  }
}

/**
 * Which of `wanted` the entries of the layout's index.json reach, through indexes, manifests and
 * a referrer's subject, as `gc` walks them. A manifest that cannot be read or parsed might reach
 * any of them: then all are taken as reached.
 */
async function reachedOf(store: LayoutStore, wanted: ReadonlySet<Digest>): Promise<Set<Digest>> {
  const found = new Set<Digest>();
  const seen = new Set<Digest>();
  const todo: Descriptor[] = [...store.index.manifests];
  for (let d = todo.pop(); d !== undefined; d = todo.pop()) {
    if (seen.has(d.digest)) continue;
    seen.add(d.digest);
    if (wanted.has(d.digest)) found.add(d.digest);
    if (wanted.has(d.digest) || !isManifestLike(d.mediaType)) continue;
    let stored: Stored;
    try {
      const bytes = await collect(await store.readBlob(d), MANIFEST_LIMIT, `${store.location}@${d.digest}`);
      stored = parseStored(bytes, { mediaType: d.mediaType, digest: d.digest, where: `${store.location}@${d.digest}` });
    } catch (err) {
      // Missing was missing before this write too: it reaches nothing here.
      if (isProvenantError(err, 'NOT_FOUND')) continue;
      return new Set(wanted);
    }
    for (const c of children(stored)) todo.push(c);
    const subject = subjectOf(stored);
    if (subject !== undefined) todo.push(subject);
  }
  return found;
}

/** The identity of the file at `path` (inode, size, times), or undefined when there is none. */
async function archiveStamp(path: string, where: string): Promise<string | undefined> {
  return stampOfFile(path).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return undefined;
    throw fileError(err, where);
  });
}

function withPackOnClose(
  store: LayoutStore,
  path: string,
  where: string,
  work: WorkFolder,
  lock: LayoutLock,
  stamp: string | undefined,
  corrupt: Map<Digest, ProvenantError>,
): LayoutStore {
  const close = store.close.bind(store);
  let closed = false;
  store.close = async (options: CloseOptions = {}) => {
    if (closed) return;
    closed = true;
    try {
      await close();
      if (options.discard) return;
      if ((await archiveStamp(path, where)) !== stamp) {
        throw new ProvenantError(
          'IO',
          'the archive was changed by another program while this one wrote it; it is left as that one made it',
          {
            where,
            hint: 'run the command again: it starts from the archive as it is now',
          },
        );
      }
      await refuseCorrupt(store, where, corrupt);
      await packDirectory(join(work.path, 'layout'), path, options.signal, where);
    } finally {
      await work.remove();
      await lock.release();
    }
  };
  return store;
}

/**
 * Packs a folder into a deterministic tar (sorted names, zero times and owners), atomically. A
 * file it replaces keeps its permission bits: an archive kept private (0600, or made by mktemp)
 * is not made readable to all by adding a tag to it.
 */
export async function packDirectory(dir: string, archive: string, signal: AbortSignal | undefined, where: string): Promise<void> {
  const files = await listFiles(dir);
  async function* entries() {
    for (const f of files) {
      const s = await stat(join(dir, f));
      yield { header: tarHeader({ name: f, size: s.size }), body: createReadStream(join(dir, f)) as AsyncIterable<Uint8Array> };
    }
  }
  await writeFileAtomic(archive, writeTar(entries()), { signal, keepMode: true, where });
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      // Partial files, and the lock and writer lists of the layout being packed, are not content.
      else if (e.isFile() && !e.name.includes('.tmp-') && !e.name.startsWith(COORDINATION_PREFIX)) out.push(relative(dir, p));
    }
  };
  await walk(dir);
  // oci-layout first, as skopeo and BuildKit write it; then by name.
  return out.sort((a, b) => (a === 'oci-layout' ? -1 : b === 'oci-layout' ? 1 : a < b ? -1 : a > b ? 1 : 0));
}
