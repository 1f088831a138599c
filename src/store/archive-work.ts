/**
 * The temporary files of archive stores: work folders that name their owner, what a killed writer
 * leaves behind, and compressed archives read through a decompressed copy.
 */
import { type FileHandle, lstat, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { type Compression, compressionOf, decompressCommand, MAGIC_BYTES } from '../archive/compression.ts';
import { gunzip, unzstd, zstdDecoder } from '../archive/gzip.ts';
import { TarView } from '../archive/view.ts';
import { isProvenantError, ProvenantError } from '../errors.ts';
import { fileError, lackOfSpace, openRegularHandle, RefusedFile } from '../io/files.ts';
import { readWriters, WriterSession } from './layout-lock.ts';

const { createReadStream, createWriteStream } = process.getBuiltinModule('node:fs');
const { pipeline } = process.getBuiltinModule('node:stream/promises');

/** The prefixes of the work folders archive stores make in the temporary folder. */
const WORK_PREFIXES = ['provenant-archive-', 'provenant-docker-archive-'];

/**
 * A private folder in the temporary folder that says who owns it: a writer-session file (host,
 * pid, pid namespace, boot, the process's start time; layout-lock.ts), refreshed while it lives.
 * A folder whose owner is gone is removed by {@link removeStaleWork}; one whose owner runs never
 * is, even when its pid has been reused (the start time differs then).
 */
export class WorkFolder {
  readonly path: string;
  readonly #session: WriterSession;

  private constructor(path: string, session: WriterSession) {
    this.path = path;
    this.#session = session;
  }

  /** Makes a folder named `prefix` and random characters in the temporary folder. */
  static async make(prefix: (typeof WORK_PREFIXES)[number]): Promise<WorkFolder> {
    const path = await mkdtemp(join(tmpdir(), prefix));
    try {
      return new WorkFolder(path, await WriterSession.start(path));
    } catch (err) {
      await rm(path, { recursive: true, force: true });
      throw err;
    }
  }

  /** Removes the folder and everything in it. */
  async remove(): Promise<void> {
    await this.#session.end().catch(() => undefined);
    await rm(this.path, { recursive: true, force: true });
  }
}

/**
 * `err`, or, when it is a write refused in the temporary folder for want of space or for a
 * read-only file system, an `IO` error that says so there: an archive store puts the archive
 * together in a {@link WorkFolder} under TMPDIR (its blobs as a layout, or a compressed archive
 * decompressed), and only then packs it into a file beside `archive` that is renamed over it. A
 * full TMPDIR was said as "cannot write oci-archive:out/a.tar: no space left on device" while the
 * archive's folder had room. (The work stays in TMPDIR rather than beside the archive: there
 * removeStaleWork finds what a killed writer left, the user's folder never holds a whole image's
 * blobs, and the archive's own file system needs room for the archive alone; the rename that makes
 * the write atomic is that of the packed file, which is beside the archive either way.)
 *
 * Only for errors of the work: of putting blobs and manifests into the work folder's layout, and
 * of making and filling the work folder; the packed file's own write names the archive.
 */
export function stagingError(err: unknown, where: string, archive: string): unknown {
  const cause = isProvenantError(err, 'IO') ? err.cause : err;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const why = lackOfSpace(cause) ?? (code === 'EROFS' ? 'it is on a read-only file system' : undefined);
  // A system error of making the work folder (permission denied in TMPDIR) is said as one too,
  // not passed bare to be taken for a bug.
  if (why === undefined) return code !== undefined && !isProvenantError(err) ? fileError(err, where) : err;
  const tmp = tmpdir();
  return new ProvenantError(
    'IO',
    `cannot put ${where} together in the temporary folder ${tmp}: ${why}; ${archive} was not written (an archive is put together there, then packed beside it)`,
    {
      where,
      cause: err,
      hint: `free space in ${tmp}, or set TMPDIR to a folder with room for the image (the archive's folder, say)`,
    },
  );
}

/**
 * Removes the work folders of archive stores whose owner is gone: a writer killed with SIGKILL
 * (or a machine that lost power) runs no cleanup, and its folder holds a whole image. A folder is
 * removed only when it names its owner and every owner it names is gone, by the rule the layouts'
 * locks follow (layout-lock.ts isStale): the pid does not run, or runs a process that started at
 * another time. A folder that names no owner (being made right now, or left by a version that
 * named none) is left alone. Failures are ignored: this is housekeeping.
 */
export async function removeStaleWork(): Promise<void> {
  const base = tmpdir();
  const names = await readdir(base).catch(() => [] as string[]);
  for (const name of names) {
    if (!WORK_PREFIXES.some((p) => name.startsWith(p))) continue;
    const dir = join(base, name);
    try {
      const s = await lstat(dir);
      if (!s.isDirectory()) continue;
      const writers = await readWriters(dir);
      if (writers.live.size === 0 && writers.stale.length > 0) await rm(dir, { recursive: true, force: true });
    } catch {
      // Removed by its owner or another cleaner meanwhile, or not ours to read.
    }
  }
}

/**
 * Removes the partial files (`FILE.tmp-<12 hex digits>`, as writeFileAtomic names them) that a
 * killed writer of the archive at `path` left beside it. Called only while holding the archive's
 * lock (archive.ts lockArchive): a writer of the archive holds that lock until its file is renamed
 * into place, and the lock is taken from its holder only once the holder is gone, so no partial
 * file of a running writer of this archive is there to be removed.
 */
export async function removeStalePartials(path: string): Promise<void> {
  const dir = dirname(path);
  const prefix = `${basename(path)}.tmp-`;
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(prefix) || !/^[0-9a-f]{12}$/.test(name.slice(prefix.length))) continue;
    const partial = join(dir, name);
    const s = await lstat(partial).catch(() => undefined);
    if (s?.isFile()) await rm(partial, { force: true }).catch(() => undefined);
  }
}

/**
 * The refusal of a folder named as an archive, which is one file, for both ways an archive goes:
 * the hint names what to give instead, the folder as an OCI image layout (`oci:`) either way, or
 * for a write a file inside it.
 */
export function archiveFolderError(path: string, where: string, way: 'read' | 'write'): ProvenantError {
  return new ProvenantError('USAGE', `${path} is a folder, and an archive is one file`, {
    where,
    hint:
      way === 'read'
        ? `name an archive file, or read the folder as an OCI image layout: oci:${path}`
        : `name a file (${join(path, 'image.tar')}), or write the folder as a layout: oci:${path}`,
  });
}

/**
 * The refusal of a named pipe, a device or a socket named as an archive: one is read by offset, and
 * written to a file beside it that is renamed over it, which neither can be. `is` says what it is
 * ("is a named pipe").
 */
export function archiveNotFileError(path: string, is: string, where: string, way: 'read' | 'write'): ProvenantError {
  return new ProvenantError('USAGE', `${path} ${is}, and an archive is a regular file`, {
    where,
    hint:
      way === 'read'
        ? 'save what the pipe or device gives to a file first, and name that file'
        : `name a regular file to write (image.tar), and copy it where it is to go afterwards`,
  });
}

/**
 * The compression the file at `path` starts with, or undefined (a tar, or anything else). The
 * first look at an archive to be read: it is opened without waiting for a writer and refused
 * unless it is a regular file, since opened as a file a named pipe blocks the process for good,
 * past SIGTERM (a thread of libuv waits in open).
 *
 * @throws ProvenantError `USAGE` for a folder, a named pipe, a device or a socket; `IO` when it
 *   cannot be read
 */
export async function compressionOfFile(path: string, where: string): Promise<Compression | undefined> {
  let handle: FileHandle;
  try {
    ({ handle } = await openRegularHandle(path));
  } catch (err) {
    if (!(err instanceof RefusedFile)) throw fileError(err, where);
    // Said with the prefix a layout folder takes.
    if ((await stat(path).catch(() => undefined))?.isDirectory()) throw archiveFolderError(path, where, 'read');
    throw archiveNotFileError(path, err.problem, where, 'read');
  }
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(MAGIC_BYTES), 0, MAGIC_BYTES, 0);
    return compressionOf(buffer.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}

/** A {@link TarView} of an archive, and what ends it (removes a decompressed copy). */
export interface ArchiveView {
  view: TarView;
  release(): Promise<void>;
}

/**
 * Opens an archive file for reading in place. A gzip- or zstd-compressed one (`docker save |
 * gzip`, a `.tgz`), which `docker load` takes too, is first decompressed, streaming, to a file in
 * a {@link WorkFolder}, which `release` removes (as skopeo reads a compressed docker-archive
 * through a temporary file): a tar is read by offset, which a compressed stream does not allow.
 *
 * @throws ProvenantError `USAGE` when `path` is a folder; `INVALID_ARCHIVE` for xz or bzip2, and zstd on a Node without its
 *   decoder (saying how to decompress it), or a corrupt stream; `TRUNCATED` for a cut gzip
 *   stream; as {@link TarView.open} does
 */
export async function openArchiveView(path: string, where: string): Promise<ArchiveView> {
  const compression = await compressionOfFile(path, where);
  if (compression === undefined) return { view: await TarView.open(path, { where }), release: async () => {} };
  // node:zlib decodes zstd from Node 22.15; xz and bzip2 it does not decode at all.
  const decoder = zstdDecoder();
  if (compression !== 'gzip' && (compression !== 'zstd' || decoder === undefined)) {
    const reader = compression === 'zstd' ? 'this Node has no zstd decoder (Node 22.15 and later have one)' : 'Provenant does not read it';
    throw new ProvenantError('INVALID_ARCHIVE', `the archive is ${compression}-compressed, and ${reader}`, {
      where,
      hint: `decompress it (${decompressCommand(compression)} ${path} > image.tar) and name the .tar; gzip-compressed archives${decoder === undefined ? '' : ' and zstd-compressed ones'} are read as they are`,
    });
  }
  await removeStaleWork();
  const work = await WorkFolder.make('provenant-archive-');
  try {
    const tar = join(work.path, 'archive.tar');
    const input = createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Uint8Array>;
    const plain = compression === 'gzip' ? gunzip(input, { where }) : unzstd(input, decoder!, where);
    await pipeline(plain, createWriteStream(tar, { flags: 'wx' })).catch((err: unknown) => {
      throw err instanceof ProvenantError ? err : fileError(err, where);
    });
    // Offsets in messages count in the decompressed tar.
    return { view: await TarView.open(tar, { where }), release: () => work.remove() };
  } catch (err) {
    await work.remove();
    throw err;
  }
}
