/** `oci:DIR`: an OCI image layout folder as a content store, safe for several writers and a gc at once. */
import { dirname, isAbsolute, join, relative } from 'node:path';
import { isProvenantError, ProvenantError } from '../errors.ts';
import {
  fileChunks,
  fileError,
  fsp,
  isNotFound,
  isOutOfRoom,
  isWriteRefusal,
  linkFileAtomic,
  linkToNothing,
  linkToNothingHint,
  makeFolder,
  randomHex,
  readSmallFile,
  writeFileAtomic,
} from '../io/files.ts';
import { type BlobSource, type ByteStream, type Logger, type OperationOptions, streamOf } from '../io/types.ts';
import { MANIFEST_LIMIT, untilAborted, verifyStream } from '../io/verify.ts';
import { systemWords } from '../io/write-failures.ts';
import { children, cosignTagSubject, descriptorOf, encodeJson, parseStored, type Stored, subjectOf } from '../oci/content.ts';
import { type Digest, digestAlgorithm, digestHex, isDigest } from '../oci/digest.ts';
import { isManifestLike, MediaType } from '../oci/mediatypes.ts';
import { Annotation, type Descriptor, type ImageIndex } from '../oci/types.ts';
import { openRegularFile, pathIn, readCapped, readCappedWithStamp, stampOfFile } from './layout-files.ts';
import {
  COORDINATION_PREFIX,
  deadWriters,
  LayoutLock,
  LOCK_FILE,
  type LockOptions,
  PARTIAL_PREFIX,
  partialSession,
  readWriters,
  removeFile,
  TRASH_DIR,
  WriterSession,
  type Writers,
} from './layout-lock.ts';
import { checkLayoutFile, LAYOUT_FILE, LayoutReader, parseIndexJson } from './layout-reader.ts';
import type { CloseOptions, PutBlobOptions, PutManifestOptions } from './types.ts';

const { closeSync } = process.getBuiltinModule('node:fs');

const LAYOUT_VERSION = '1.0.0';
/** What writeFileAtomic puts after a file's name for its temporary file (`index.json.tmp-…`). */
const TMP_PREFIX = '.tmp-';

/** Options of {@link LayoutStore.open}. */
export interface LayoutOpenOptions {
  /** Create the layout when the directory is missing or empty (for writing). */
  create?: boolean;
  /**
   * How long to wait for another process that holds the layout's lock (it is changing
   * index.json or collecting garbage) before failing; default 10 minutes.
   */
  lockWaitMs?: number;
  /**
   * How the store names itself in messages and progress (`location`); default `oci:PATH`. An
   * archive written through a layout in a temporary folder names the archive.
   */
  location?: string;
  /**
   * The command's cancel signal: a wait for the layout's lock (held by another writer or a gc,
   * for minutes maybe) ends with `ABORTED` when it fires, whatever the operation waiting.
   */
  signal?: AbortSignal | undefined;
  /**
   * Says (`warn`, once per wait) what a wait for the layout's lock of a few seconds waits for, and
   * what a writer that died left that could not be removed.
   */
  logger?: Logger | undefined;
  /**
   * How an error of `putBlob` and `putManifest` is said; default as it is. An archive's work
   * layout, in TMPDIR, names that folder when a write there is refused (see stagingError).
   */
  writeError?: ((err: unknown) => unknown) | undefined;
}

/** What {@link LayoutStore.gc} deleted, or with `dryRun` would delete. */
export interface GcResult {
  /** True when nothing was changed: what follows is what gc would do now. */
  dryRun: boolean;
  /** Blobs nothing referenced, by digest, sorted. */
  removed: Digest[];
  /** The same blobs with their sizes, in the same order. */
  blobs: Array<{ digest: Digest; size: number }>;
  /** The bytes those blobs held. */
  removedBytes: number;
  /**
   * Partial files of writes that were interrupted (`blobs/<algorithm>/.provenant-tmp-*`, and
   * `.tmp-*` of older versions), and the `.provenant-writer-*` lists of writers that are gone:
   * how many, their bytes, and each with its path relative to the layout and its size, sorted by path.
   */
  partials: { count: number; bytes: number; files: Array<{ path: string; size: number }> };
  /**
   * Untagged entries of index.json dropped, by digest, sorted: referrers (attestations,
   * signatures) of images that nothing in the layout keeps any more.
   */
  dropped: Digest[];
  /**
   * cosign's tags (`sha256-<hex>.sig`, `.att`, `.sbom`) dropped from index.json, sorted: those of
   * images in the layout that nothing else keeps.
   */
  droppedTags: string[];
}

/**
 * An OCI image layout directory (https://github.com/opencontainers/image-spec/blob/main/image-layout.md).
 *
 * Blobs are written to a temporary file in their folder, checked, then renamed into place, so a
 * blob file is always whole. `index.json` is rewritten the same way (write, then rename), after
 * the blobs it names exist. Tags are `org.opencontainers.image.ref.name` annotations on its
 * entries, and manifests with a `subject` are entries too, which is how referrers are found.
 *
 * Several processes may write one layout at once (two copies, a build and a gc): index.json is
 * changed only under the layout's lock file (see layout-lock.ts), re-read under it, so no
 * writer's tag overwrites another's; `gc` holds the same lock, and each writer lists what it has
 * written and not yet tagged, which `gc` keeps. Readers take no lock: every file they can see is
 * whole, and index.json is re-read when it changed. `close()` ends a store's list of what it
 * wrote; a process that exits without it leaves a list (and maybe a partial blob file), which the
 * next writer removes when that process is dead on this host, and the next gc when it is stale.
 */
export class LayoutStore extends LayoutReader {
  readonly location: string;
  readonly path: string;
  /** A layout's blobs are on this machine: `putBlob` with `verifyExisting` re-hashes them. */
  readonly checksExistingContent = true;
  /** `putManifest` checks {@link PutManifestOptions.replacing} under the layout's lock. */
  readonly conditionalTags = true;
  /** The identity of the index.json file topIndex was read from (inode, size, times). */
  #indexStamp: string;
  #indexLock: Promise<unknown> = Promise.resolve();
  readonly #lockOptions: LockOptions;
  #writer: Promise<WriterSession> | undefined;
  /** Digests whose stored blob this store wrote or hashed: checked once per open. */
  readonly #verified = new Set<string>();
  /** The layout folder with links resolved, which every blob read must be inside. */
  #realRoot: string | undefined;
  /** Algorithms whose `blobs/<algorithm>` folder this store checked is no link (see {@link ownFolder}) before writing there. */
  readonly #checkedFolders = new Set<string>();
  /** This store made the layout (see {@link IndexRead.created}): a discarding close takes it away again if it is still empty. */
  readonly #created: 'folder' | 'contents' | undefined;
  /** Folders above the layout's that this store made for it, nearest first (see {@link IndexRead.madeParents}). */
  readonly #madeParents: readonly string[];
  /** See {@link LayoutOpenOptions.writeError}. */
  readonly #writeError: (err: unknown) => unknown;
  /** See {@link LayoutOpenOptions.logger}. */
  readonly #logger: Logger | undefined;

  private constructor(path: string, read: IndexRead, options: LayoutOpenOptions) {
    super(read.index);
    this.path = path;
    this.location = options.location ?? `oci:${path}`;
    this.#indexStamp = read.stamp;
    this.#lockOptions = lockOptions(this.location, options);
    this.#created = read.created;
    this.#madeParents = read.madeParents ?? [];
    this.#writeError = options.writeError ?? ((err) => err);
    this.#logger = options.logger;
  }

  /** Opens (or with `create`, makes) a layout at `path`. */
  static async open(path: string, options: LayoutOpenOptions = {}): Promise<LayoutStore> {
    for (let attempt = 0; ; attempt++) {
      const read = await openIndex(path, options);
      const store = read === VANISHED ? undefined : new LayoutStore(path, read, options);
      if (store !== undefined && (options.create !== true || store.topIndex.manifests.length > 0 || (await store.#claimEmpty())))
        return store;
      // The process that made it discarded it (a command that failed) while this one opened it,
      // or before this one could register: made anew, as createLayout makes again a folder that
      // goes before its lock.
      if (attempt === 4) throw vanished(path, options.location ?? `oci:${path}`);
    }
  }

  /**
   * Registers this store as a writer of the empty layout it opened to write, under the lock: a
   * store that made the layout and is discarded takes it away only while no other writer is
   * registered (close). False when one took it away first: its files (no oci-layout any more),
   * or its folder too (no lock to take).
   */
  async #claimEmpty(): Promise<boolean> {
    return this.#locked(
      async () => {
        if ((await readLayoutFile(this.path, this.location)) === undefined) return false;
        this.#writer = this.#startWriter();
        await this.#writer;
        return true;
      },
      this.#lockOptions,
      true,
      () => false,
    );
  }

  /**
   * NOT_FOUND that says first there was no layout, where this store made the layout and it is
   * still empty: what asked for an image in it (`sign oci:typo`, which opens to write) named a
   * layout that did not exist, not one that lists nothing. Other errors pass as they are.
   */
  override async getManifest(target: string): Promise<Stored> {
    try {
      return await super.getManifest(target);
    } catch (err) {
      throw this.#madeEmpty(err);
    }
  }

  override async defaultTarget(): Promise<string> {
    try {
      return await super.defaultTarget();
    } catch (err) {
      throw this.#madeEmpty(err);
    }
  }

  /** See {@link getManifest}: `err`, or what to say instead of it for a layout made by this open. */
  #madeEmpty(err: unknown): unknown {
    if (!isProvenantError(err, 'NOT_FOUND') || this.#created === undefined || this.topIndex.manifests.length > 0) return err;
    // An archive's private layout (archive.ts) is named as the archive, and says so its own way.
    if (this.location !== `oci:${this.path}`) return err;
    // Said first, in a read's words: what follows (the tag not in it, no image) is only its consequence.
    return new ProvenantError('NOT_FOUND', `there was no OCI image layout at ${this.path} (no ${LAYOUT_FILE} file), so ${err.message}`, {
      where: this.location,
      cause: err,
      hint: 'check the path: the image must be in a layout already; a copy or build into oci:DIR makes one',
    });
  }

  /** Re-reads index.json when another store or process has replaced it since. */
  protected override async refresh(): Promise<void> {
    const read = await changedIndex(this.path, this.location, this.#indexStamp);
    if (read === undefined) return;
    this.topIndex = read.index;
    this.#indexStamp = read.stamp;
  }

  #blobPath(digest: Digest): string {
    return pathIn(this.path, 'blobs', digestAlgorithm(digest), digestHex(digest));
  }

  async statBlob(digest: Digest): Promise<Descriptor | undefined> {
    try {
      const s = await fsp().stat(this.#blobPath(digest));
      return { mediaType: 'application/octet-stream', digest, size: s.size };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw fileError(err, this.location);
    }
  }

  async readBlob(descriptor: Descriptor, options: OperationOptions & { offset?: number } = {}): Promise<ByteStream> {
    const where = `${this.location}@${descriptor.digest}`;
    const path = await this.#containedBlobPath(descriptor.digest, where);
    // Checked to be a regular file here, for an error before any byte is read, and again when the
    // file is opened at the first chunk: a named pipe in a blob's place blocked every reader for
    // good (and the command's exit on a signal with it).
    try {
      closeSync(openRegularFile(path, where, 'INVALID_LAYOUT').fd);
    } catch (err) {
      throw isNotFound(err) ? await this.#missingBlob(descriptor.digest, where) : fileError(err, where);
    }
    const offset = options.offset ?? 0;
    // The file is opened when its reader asks for the first chunk (fileChunks), which may be
    // after a gc removed it: said as a blob not there, to that reader; refused as above when it
    // is no regular file by then.
    const failed = async (err: unknown) =>
      isNotFound(err) ? this.#missingBlob(descriptor.digest, where) : fileError(err, where, options.signal);
    const open = (file: string) => openRegularFile(file, where, 'INVALID_LAYOUT').fd;
    const prefix = offset > 0 ? typedFileErrors(fileChunks(path, { start: 0, end: offset - 1 }, open), failed) : undefined;
    // 1 MiB reads: large blobs move in fewer, larger chunks (fewer hash and socket calls).
    return verifyStream(
      typedFileErrors(untilAborted(fileChunks(path, { start: offset }, open), options.signal), failed),
      descriptor,
      where,
      prefix,
    );
  }

  /**
   * NOT_FOUND for a blob that is not there; it says that a gc may have removed it when one may
   * have run meanwhile: a gc holds the layout's lock while it deletes and moves blobs through its
   * trash, and what it deletes under a reader is what a tag no longer names since the reader read
   * index.json (a tag moved: index.json changed). One found in the trash was moved there by a
   * gc that may still run, or died: that is said, with how to put it back, since running the
   * reader again finds the trash as it was. Else the layout lacks it, as it always did.
   */
  async #missingBlob(digest: Digest, where: string): Promise<ProvenantError> {
    const gone = await layoutGone(this.path, this.location);
    if (gone !== undefined) {
      return new ProvenantError(
        'NOT_FOUND',
        `blob ${digest} is not in the layout: the layout was removed while this command used it (${gone})`,
        {
          where,
          hint: removedHint,
        },
      );
    }
    const present = (name: string) =>
      fsp()
        .lstat(join(this.path, name))
        .then(
          () => true,
          () => false,
        );
    // In the trash folder, or beside it where a gc on a full disk could not make it.
    const beside = besideTrash(digestAlgorithm(digest), digestHex(digest));
    const inTrash = (await present(join(TRASH_DIR, digestAlgorithm(digest), digestHex(digest))))
      ? `${TRASH_DIR}/`
      : (await present(beside))
        ? beside
        : undefined;
    if (inTrash !== undefined) {
      // A reader takes no lock, so it does not move the blob back itself: a gc running now may be
      // about to delete it, and a reader may not be allowed to write the layout at all.
      const restore =
        this.location === `oci:${this.path}`
          ? `\`provenant gc ${this.location}\` (or any command that writes to it)`
          : 'any command that writes to the layout';
      return new ProvenantError(
        'NOT_FOUND',
        `blob ${digest} is not in the layout: it is in ${inTrash}, where a gc moves blobs before deleting them`,
        {
          where,
          hint: `when no gc is running, one was interrupted and left it there: run ${restore}, which puts it back, then this command again`,
        },
      );
    }
    const changed = await changedIndex(this.path, this.location, this.#indexStamp).then(
      (read) => read !== undefined,
      () => false,
    );
    const gc = changed || (await present(LOCK_FILE)) || (await present(TRASH_DIR));
    if (!gc) return new ProvenantError('NOT_FOUND', `blob ${digest} is not in the layout`, { where });
    return new ProvenantError(
      'NOT_FOUND',
      `blob ${digest} is not in the layout: a gc running at the same time may have removed it${changed ? ' (index.json changed since this command read it)' : ''}`,
      { where, hint: 'run the command again: it reads the layout as it is now' },
    );
  }

  /**
   * The file a blob is read from, links resolved, when it is inside the layout. A blob that is a
   * link to a file of the host (or under a `blobs/` folder that is one) is refused before any
   * byte is read: its digest is checked only at the end of the stream, after `blob` has printed
   * the host file's bytes. Links within the layout are followed.
   *
   * @throws ProvenantError `UNSAFE_PATH` naming the target; `NOT_FOUND`; `IO`
   */
  async #containedBlobPath(digest: Digest, where: string): Promise<string> {
    const real = async (path: string) =>
      fsp()
        .realpath(path)
        .catch(async (err: unknown) => {
          throw isNotFound(err) ? await this.#missingBlob(digest, where) : fileError(err, where);
        });
    const target = await real(this.#blobPath(digest));
    this.#realRoot ??= await real(this.path);
    const inside = relative(this.#realRoot, target);
    if (inside === '' || inside.startsWith('..') || isAbsolute(inside)) {
      throw new ProvenantError('UNSAFE_PATH', `blob ${digest} is a link to ${target}, outside the layout`, {
        where,
        hint: "a layout's blobs are files in its blobs/ folder; copy the file there instead of linking it",
      });
    }
    return target;
  }

  /**
   * Stores a blob unless a file of its digest and size is there. With `verifyExisting`, that file
   * is hashed first (once per digest for this store) and written again when it does not match:
   * a blob corrupted on disk is otherwise trusted by its name for ever.
   */
  putBlob(source: BlobSource, options: PutBlobOptions = {}): Promise<'stored' | 'exists'> {
    return this.#putBlob(source, options).catch(async (err: unknown) => Promise.reject(this.#writeError(await this.#removedOr(err))));
  }

  /**
   * `err`, a write's failure, or the layout's removal when that is what it met: the writer's
   * list, a blob's folder or index.json not found (ENOENT, NOT_FOUND) in a layout whose folder or
   * oci-layout file is gone now. Said as the lock says it (removedLayout), not as the file it
   * first missed.
   */
  async #removedOr(err: unknown): Promise<unknown> {
    const cause = err instanceof ProvenantError ? err.cause : undefined;
    if (!isNotFound(err) && !isNotFound(cause) && !isProvenantError(err, 'NOT_FOUND')) return err;
    const gone = await layoutGone(this.path, this.location);
    return gone === undefined ? err : removedLayout(this.path, this.location, gone);
  }

  async #putBlob(source: BlobSource, options: PutBlobOptions): Promise<'stored' | 'exists'> {
    const d = source.descriptor;
    // Recorded before looking, so a gc from now on keeps what is found or written (see gc).
    await this.#record(d);
    const existing = await this.statBlob(d.digest);
    if (existing !== undefined && existing.size === d.size) {
      if (!options.verifyExisting || this.#verified.has(d.digest)) return 'exists';
      if (await this.#intact(d)) {
        this.#verified.add(d.digest);
        return 'exists';
      }
      options.logger?.warn(`${this.location}@${d.digest}: the stored blob does not match its digest; writing it again`);
    }
    if (source.path === undefined || !(await this.#linkBlob(d, source.path))) await this.#writeBlob(d, await source.open(), options.signal);
    this.#verified.add(d.digest);
    return 'stored';
  }

  /** True when the stored blob hashes to its digest. */
  async #intact(d: Descriptor): Promise<boolean> {
    try {
      for await (const _ of await this.readBlob(d)) {
        // verifyStream hashes as it goes and fails at the end on a mismatch.
      }
      return true;
    } catch (err) {
      // A link out of the layout is not its blob either: writing the blob replaces the link.
      if (isProvenantError(err, 'DIGEST_MISMATCH', 'SIZE_MISMATCH', 'NOT_FOUND', 'UNSAFE_PATH')) return false;
      throw err;
    }
  }

  /**
   * Starts this store's writer session, and removes what writers dead on this host left in the
   * layout (their lists and partial blob files, see {@link removeDeadWriters}): a writer killed
   * with SIGKILL left them for good otherwise, to every later writer, and a tool that lists
   * blobs/ (`umoci gc`) failed on a partial file's name.
   */
  async #startWriter(): Promise<WriterSession> {
    const session = await WriterSession.start(this.path);
    await removeDeadWriters(this.path, this.location).catch((err: unknown) =>
      this.#logger?.warn(`${this.location}: what a writer that died left could not be removed: ${(err as Error).message}`),
    );
    return session;
  }

  async #record(d: Descriptor): Promise<void> {
    try {
      this.#writer ??= this.#startWriter();
      await (await this.#writer).record(d.digest, d.mediaType);
    } catch (err) {
      this.#writer = undefined;
      throw fileError(err, this.location);
    }
  }

  /**
   * The folder a blob of `digest` is written to, made when missing, once `blobs/` and it are seen
   * to be no links (once per algorithm for this store: the folders are the layout's own).
   */
  async #blobFolder(digest: Digest): Promise<string> {
    const algorithm = digestAlgorithm(digest);
    if (!this.#checkedFolders.has(algorithm)) {
      await ownFolder(this.path, 'blobs', this.location);
      await ownFolder(this.path, join('blobs', algorithm), this.location);
      this.#checkedFolders.add(algorithm);
    }
    const dir = join(this.path, 'blobs', algorithm);
    // Never the layout's own folder again, nor blobs/ in it once the layout went (removed while
    // this store wrote): what was written there would be lost, in a folder that every later open
    // to write refuses (not empty, no oci-layout).
    await makeFolder(dir, { below: join(this.path, 'blobs') }).catch(async (err: unknown) => {
      if (!isNotFound(err)) throw err;
      const gone = await layoutGone(this.path, this.location);
      if (gone !== undefined) throw removedLayout(this.path, this.location, gone);
      await makeFolder(dir, { below: this.path });
    });
    return dir;
  }

  async #writeBlob(d: Descriptor, stream: ByteStream, signal: AbortSignal | undefined): Promise<void> {
    const dir = await this.#blobFolder(d.digest);
    // Named after this writer's session, so gc knows the file is being written (see gc).
    const session = await this.#writer!;
    const temporary = join(dir, `${PARTIAL_PREFIX}${session.id}-${randomHex(4)}`);
    const where = `${this.location}@${d.digest}`;
    await writeFileAtomic(this.#blobPath(d.digest), verifyStream(stream, d, where), { temporary, signal, where: this.location });
  }

  /** Stores a blob that is a whole local file by linking (or cloning) it, checked; false when that cannot be done. */
  async #linkBlob(d: Descriptor, path: string): Promise<boolean> {
    const dir = await this.#blobFolder(d.digest);
    const temporary = join(dir, `${PARTIAL_PREFIX}${(await this.#writer!).id}-${randomHex(4)}`);
    const where = `${this.location}@${d.digest}`;
    return linkFileAtomic(path, this.#blobPath(d.digest), { temporary, where, check: (stream) => verifyStream(stream, d, where) });
  }

  putManifest(stored: Stored, options: PutManifestOptions = {}): Promise<void> {
    return this.#putManifest(stored, options).catch(async (err: unknown) => Promise.reject(this.#writeError(await this.#removedOr(err))));
  }

  async #putManifest(stored: Stored, options: PutManifestOptions): Promise<void> {
    const desc = descriptorOf(stored);
    // A manifest is small: one that is there is always checked before it is trusted.
    await this.#putBlob({ descriptor: desc, open: async () => streamOf(stored.bytes) }, { ...options, verifyExisting: true });
    const tags = options.tags ?? [];
    const subject = subjectOf(stored);
    if (tags.length === 0 && subject === undefined && !options.keepAsRoot) return;
    const replacing = options.replacing;
    await this.#updateIndex(options.signal, (index) => {
      // Checked on index.json as it is under the lock: a read-modify-write of a tag (a signature
      // added to a `.sig` image) then never writes over what another writer put there since.
      for (const [tag, expected] of Object.entries(replacing ?? {})) {
        const now = index.manifests.find((m) => m.annotations?.[Annotation.RefName] === tag)?.digest ?? null;
        if (now !== expected) {
          throw new ProvenantError(
            'TAG_CONFLICT',
            `${tag} names ${now ?? 'nothing'} now, not ${expected ?? 'nothing'} as it did when read`,
            {
              where: `${this.location}:${tag}`,
              hint: 'another writer moved the tag meanwhile; read it again',
            },
          );
        }
      }
      const entry = layoutEntry(stored);
      let manifests = index.manifests;
      if (tags.length === 0) {
        // Kept in its own right, untagged: a tag that names it too may move on, and an image
        // written by its digest must stay (one such entry is enough).
        if (!manifests.some((m) => m.digest === desc.digest && m.annotations?.[Annotation.RefName] === undefined)) {
          manifests = [...manifests, entry];
        }
      } else {
        // A tag roots it now: an untagged entry put there to keep it until it was tagged (written
        // by digest, signed, then tagged) would keep it rooted after the tag moves on.
        manifests = manifests.filter((m) => !(m.digest === desc.digest && m.annotations?.[Annotation.RefName] === undefined));
      }
      for (const tag of tags) {
        manifests = manifests.filter((m) => m.annotations?.[Annotation.RefName] !== tag);
        manifests.push({ ...entry, annotations: { ...entry.annotations, [Annotation.RefName]: tag } });
      }
      // Tagged images before untagged entries (referrers such as attestations): tools that take
      // the first entry of index.json (trivy's --input, some others) then find the image.
      const named = manifests.filter((m) => m.annotations?.[Annotation.RefName] !== undefined);
      manifests = [...named, ...manifests.filter((m) => m.annotations?.[Annotation.RefName] === undefined)];
      return { ...index, manifests };
    });
  }

  /**
   * Changes index.json under the layout's lock, starting from the file as it is now (another
   * process may have changed it since this store read it): re-reading under the lock is what
   * keeps two writers' tags from overwriting each other.
   */
  async #updateIndex(signal: AbortSignal | undefined, change: (index: ImageIndex) => ImageIndex): Promise<void> {
    const waiting = signal === undefined ? this.#lockOptions : { ...this.#lockOptions, signal };
    const run = this.#indexLock.then(() =>
      this.#locked(async (lock) => {
        const current = await readIndexJson(this.path, this.location);
        await this.#writeIndex(lock, change(current.index));
      }, waiting),
    );
    this.#indexLock = run.catch(() => undefined);
    await run;
  }

  /** Writes `next` as index.json, under `lock`, which this store holds. */
  async #writeIndex(lock: LayoutLock, next: ImageIndex): Promise<void> {
    const path = join(this.path, 'index.json');
    const bytes = encodeJson(next);
    // Refused before anything is written: a larger index.json is one no reader (this one
    // included, see readIndexJson) would open again, and the layout would be lost to every command.
    if (bytes.byteLength > INDEX_JSON_LIMIT) {
      throw new ProvenantError(
        'TOO_LARGE',
        `index.json would be ${bytes.byteLength} bytes (${next.manifests.length} entries), more than the limit of ${INDEX_JSON_LIMIT}`,
        {
          where: `${this.location}/index.json`,
          hint: 'nothing was written; remove tags (and run gc), or keep these images in several layouts or a registry',
        },
      );
    }
    // The file's mode as it was (a layout kept private stays so); and the lock checked to be
    // still ours just before the new file goes in: a holder that lost it while stalled would
    // put back the index.json it read, without what the next holder wrote.
    await writeFileAtomic(path, bytes, {
      keepMode: true,
      beforeRename: () => lock.assertHeld(this.location, 'index.json was not written'),
    });
    this.topIndex = next;
    this.#indexStamp = await stampOfFile(path);
  }

  /**
   * Runs `task` holding the layout's lock, after undoing what a gc that died left half-done.
   * `waiting`: how to wait for it, when not as the store was opened to. `gone`: what to return
   * instead when the layout's folder is not there to hold the lock; by default that is said
   * (see {@link removedLayout}), never a bare ENOENT on the lock file.
   */
  async #locked<T>(
    task: (lock: LayoutLock) => Promise<T>,
    waiting: LockOptions = this.#lockOptions,
    restore = true,
    gone: () => T = () => {
      throw removedLayout(this.path, this.location);
    },
  ): Promise<T> {
    const lock = await takeLock(this.path, this.location, waiting);
    if (lock === VANISHED) return gone();
    try {
      if (restore) await restoreTrash(this.path, this.location);
      return await task(lock);
    } catch (err) {
      // A file not found under the lock, in a layout removed meanwhile (a gc listing its blobs): said so.
      throw await this.#removedOr(fileError(err, this.location));
    } finally {
      await lock.release();
    }
  }

  /** {@link #locked}, putting back a dead gc's trash first only when `restore` (a gc dry run changes nothing). */
  async #lockedRestoring<T>(restore: boolean, task: (lock: LayoutLock) => Promise<T>): Promise<T> {
    return this.#locked(task, this.#lockOptions, restore);
  }

  /**
   * Deletes every blob that no entry of index.json reaches (through indexes, manifests,
   * configs, layers, and the `subject` of a referrer), and partial files of interrupted writes. Safe while other processes write
   * the layout. First it drops from index.json the referrers (attestations, signatures: untagged
   * entries with a `subject`, and entries under cosign's `sha256-<hex>.sig|att|sbom` tags that
   * hold signatures, attestations or SBOMs as cosign writes them, not any image so tagged) whose
   * subject's manifest is in the layout and that nothing else keeps: a tag, an image entry of its
   * own, a writer's list, a kept referrer. Those of an image a rebuild moved its tag from kept it,
   * and index.json grew, for ever. One whose subject is not in the layout (copied alone) stays.
   *
   * - It holds the layout's lock throughout, so index.json does not change under it; writers
   *   take the lock only to change index.json, so they wait at most for one gc.
   * - A writer lists each digest it stores or relies on in its `.provenant-writer-*` file
   *   before it looks at the blob, and keeps the list until it closes. gc keeps everything those
   *   lists reach too, even though no tag names it yet (a copy writes its blobs long before its
   *   tag). A blob's age would not do: a copy of a large image can take longer than any grace
   *   period, and a blob it found already there may be old.
   * - A writer may list a digest after gc has read the lists. So gc first moves what it would
   *   delete into `.provenant-gc-trash/`, then reads the lists again and moves back what they
   *   now reach. A digest listed after that second reading was looked at after the move, so
   *   its writer found it missing and writes it itself. Only then is the trash deleted. A gc
   *   that dies half-way leaves the trash, and the next holder of the lock moves it all back.
   * - `.provenant-tmp-<session>-*` files of a live writer are being written and stay; those of
   *   writers that are gone are removed and counted, as are `.tmp-*` files of older versions,
   *   and the lists of writers that are gone. (A writer removes those of writers dead on this
   *   host when it starts, too: see removeDeadWriters.)
   *
   * `dryRun`: the same walk and the same listing under the same lock, so the plan is what a gc
   * would do at that moment, but nothing is written, moved or deleted: index.json stays, blobs
   * and partial files are measured where they are, and no trash folder is made. The exclusive
   * lock (not none, as readers take) keeps index.json and the writers' lists from changing between
   * the walk and the listing; the lock file goes with the lock. A trash left by a gc that died is
   * not put back (that would change the layout), and what it holds may be live: a dry run then
   * refuses to plan (`INVALID_LAYOUT`) rather than list a live image's blobs. The same for the
   * `.provenant-gc-trash-<algorithm>-<hex>` files a gc on a full disk moved blobs to, beside the
   * trash folder it could not make: they are that gc's trash too.
   */
  async gc(options: { logger?: Logger | undefined; dryRun?: boolean | undefined } = {}): Promise<GcResult> {
    const dryRun = options.dryRun === true;
    return this.#lockedRestoring(!dryRun, async (lock) => {
      // What the trash holds may be live (a manifest whose layers the walk would then miss):
      // without putting it back, which a dry run does not, no plan would be right.
      // The trash folder, or the files beside it that a gc on a full disk moved blobs to.
      const left = dryRun ? await trashLeft(this.path, this.location) : undefined;
      if (left !== undefined) {
        throw new ProvenantError(
          'INVALID_LAYOUT',
          'a gc that was interrupted left blobs in its trash, which a dry run does not put back: no plan is made',
          {
            where: join(this.path, left),
            hint: 'a gc without --dry-run, or any command that writes to the layout, puts them back first; then --dry-run plans again',
          },
        );
      }
      const current = await readIndexJson(this.path, this.location);
      this.topIndex = current.index;
      this.#indexStamp = current.stamp;
      const live = new Set<string>();
      const at = (digest: Digest): string => this.#blobPath(digest);
      const warn = (message: string): void => options.logger?.warn(message);
      // Referrers are kept with what they refer to, not as images of their own: an untagged entry
      // with a `subject`, and an entry under cosign's tag for what it attaches to an image
      // (`sha256-<hex>.sig`, `.att`, `.sbom`, which `sign` writes), whose subject is in the tag,
      // when its manifest is what cosign writes there (see isCosignAttachment): anyone may give
      // any image such a name, and an image so tagged is kept as under any other tag. One whose
      // subject's manifest is in the layout is marked after everything else, while its subject is
      // kept, and never keeps its subject itself. One whose subject is not in the layout (a
      // signature copied alone by digest) is kept as an image of its own.
      const referrers = new Map<Descriptor, { subject: Digest; loaded: Loaded }>();
      for (const m of current.index.manifests) {
        const tag = m.annotations?.[Annotation.RefName];
        const cosign = tag === undefined ? undefined : cosignTagSubject(tag);
        if (tag !== undefined && cosign === undefined) {
          await this.#mark(m, live, at, false, true, warn);
          continue;
        }
        // Read once, and parsed as #mark parses it: a damaged manifest fails gc, as before. One
        // marked already is kept whichever it is.
        const loaded = live.has(m.digest) ? undefined : await this.#load(m, at, false, true, warn);
        const named = loaded?.stored === undefined ? undefined : subjectOf(loaded.stored);
        const subject = cosign === undefined ? named?.digest : isCosignAttachment(loaded) ? cosign : undefined;
        if (subject !== undefined && (await this.#hasFile(subject))) referrers.set(m, { subject, loaded });
        else if (!live.has(m.digest)) {
          live.add(m.digest);
          // A subject not in the layout (a referrer copied alone) is no loss to warn about; one a
          // writer is storing now is on its list, and is walked whole with it.
          if (tag === undefined && named !== undefined) await this.#mark(named, live, at, true, true, warn);
          await this.#walk(loaded, live, at, false, warn);
        }
      }
      // This store's own untagged writes are its caller's garbage (gc is called when they are
      // done); other stores' and processes' are kept.
      const self = (await this.#writer?.catch(() => undefined))?.id;
      for (const d of pendingDescriptors(await readWriters(this.path, self))) await this.#mark(d, live, at, true);
      // Until no more is kept: a referrer may have its own (a signature of an attestation).
      for (let more = true; more; ) {
        more = false;
        for (const [m, r] of referrers) {
          if (!live.has(r.subject) && !live.has(m.digest)) continue;
          referrers.delete(m);
          // Walked whole now, even when a writer's list or another entry marked it already.
          live.add(m.digest);
          await this.#walk(r.loaded ?? (await this.#load(m, at, false, true, warn)), live, at, false, warn);
          more = true;
        }
      }
      // What is left refers to an image in the layout that nothing else keeps (the image a tag
      // named before a rebuild moved it): its entry goes, as a registry drops referrers with
      // their subject, and what it alone reached is collected below.
      let dropped = [...referrers.keys()];
      if (dropped.length > 0 && !dryRun) {
        try {
          await this.#writeIndex(lock, { ...current.index, manifests: current.index.manifests.filter((m) => !referrers.has(m)) });
        } catch (err) {
          if (!isOutOfRoom(err)) throw err;
          // No room for the new index.json (a full disk, which is what gc is run to relieve): the
          // referrers stay, with all they reach, as they were; the rest is freed all the same.
          warn(
            `index.json could not be written without ${dropped.length} referrer(s) of images nothing keeps (${(err as Error).message}): they stay for now; run gc again once there is room to drop them`,
          );
          for (const [m, r] of referrers) {
            live.add(m.digest);
            await this.#walk(r.loaded ?? (await this.#load(m, at, false, true, warn)), live, at, false, warn);
          }
          dropped = [];
        }
      }

      const trash = join(this.path, TRASH_DIR);
      const trashed = new Map<Digest, { path: string; size: number }>();
      const partials: Array<{ path: string; session: string }> = [];
      // Every folder blobs are moved out of is checked first: through a link, gc would delete
      // the hex-named files of whatever folder it points to.
      const algorithms = (await ownFolder(this.path, 'blobs', this.location))
        ? await fsp()
            .readdir(join(this.path, 'blobs'), { withFileTypes: true })
            .catch(() => [])
        : [];
      for (const a of algorithms) {
        if (a.isSymbolicLink()) throw linkedFolder(this.path, join('blobs', a.name), this.location);
      }
      // A dry run measures a blob where it is instead of moving it.
      const measure = async (from: string): Promise<number | undefined> =>
        fsp()
          .stat(from)
          .then(
            (s) => s.size,
            (err: unknown) => {
              if (isNotFound(err)) return undefined;
              throw err;
            },
          );
      let writers: Writers;
      // Where the trash folder cannot be made for want of room (mkdir needs a block on ext4, and
      // gc is what a full disk needs), blobs are moved beside it instead, as files of the layout's
      // own folder (see restoreTrash), until that folder takes no more names either.
      let beside = false;
      let full = false;
      try {
        for (const algorithm of algorithms) {
          if (!algorithm.isDirectory() || full) continue;
          const dir = join(this.path, 'blobs', algorithm.name);
          for (const entry of await fsp().readdir(dir, { withFileTypes: true })) {
            const name = entry.name;
            // A folder (or a pipe, a device) is no blob nor a partial write of one: gc moved it to
            // its trash and failed there with a bare EISDIR every time, leaving the trash. It is
            // left where it is, and said.
            if (!entry.isFile() && !entry.isSymbolicLink()) {
              warn(`${join(dir, name)} is not a file, so not a blob: gc leaves it; remove it if it is not yours`);
              continue;
            }
            const session = partialSession(name);
            if (session !== undefined) {
              partials.push({ path: join(dir, name), session });
              continue;
            }
            const digest = `${algorithm.name}:${name}`;
            if (!isDigest(digest) || live.has(digest)) continue;
            if (dryRun) {
              const size = await measure(join(dir, name));
              if (size !== undefined) trashed.set(digest, { path: join(dir, name), size });
              continue;
            }
            if (!beside) {
              await makeFolder(join(trash, algorithm.name)).catch((err: unknown) => {
                if (!isOutOfRoom(err)) throw err;
                beside = true;
              });
            }
            const moved = beside ? join(this.path, besideTrash(algorithm.name, name)) : join(trash, algorithm.name, name);
            const size = await moveIfPresent(join(dir, name), moved).catch((err: unknown) => {
              if (!beside || !isOutOfRoom(err)) throw err;
              full = true;
              return undefined;
            });
            if (full) {
              warn('the disk is too full to move more blobs aside: run gc again to free the rest');
              break;
            }
            if (size !== undefined) trashed.set(digest, { path: moved, size });
          }
        }
        writers = await readWriters(this.path, self);
        // Walked afresh: a listed manifest that was not written yet at the first reading may be now.
        const back = new Set<string>();
        const inTrashOrPlace = (digest: Digest): string => trashed.get(digest)?.path ?? this.#blobPath(digest);
        for (const d of pendingDescriptors(writers)) await this.#mark(d, back, inTrashOrPlace, true);
        for (const [digest, t] of trashed) {
          if (!back.has(digest)) continue;
          if (!dryRun) await restoreBlob(t.path, this.#blobPath(digest));
          trashed.delete(digest);
        }
        // A gc that lost its lock while stalled read an index.json that may have changed since:
        // what it would delete goes back.
        await lock.assertHeld(this.location, 'nothing was deleted');
      } catch (err) {
        if (!dryRun) await restoreTrash(this.path, this.location);
        throw fileError(err, this.location);
      }
      let removedBytes = 0;
      for (const t of trashed.values()) {
        if (!dryRun) await removeFile(t.path);
        removedBytes += t.size;
      }
      if (!dryRun) await fsp().rm(trash, { recursive: true, force: true });

      const removed = [...trashed.keys()].sort();
      const result: GcResult = {
        dryRun,
        removed,
        blobs: removed.map((digest) => ({ digest, size: trashed.get(digest)!.size })),
        removedBytes,
        partials: { count: 0, bytes: 0, files: [] },
        dropped: [...new Set(dropped.filter((m) => m.annotations?.[Annotation.RefName] === undefined).map((m) => m.digest))].sort(),
        droppedTags: dropped.flatMap((m) => m.annotations?.[Annotation.RefName] ?? []).sort(),
      };
      const removePartial = async (path: string): Promise<void> => {
        const size = await fsp()
          .stat(path)
          .then(
            (s) => s.size,
            () => undefined,
          );
        if (size === undefined) return; // finished (renamed) or removed meanwhile
        if (!dryRun) await removeFile(path);
        result.partials.count++;
        result.partials.bytes += size;
        result.partials.files.push({ path: relative(this.path, path), size });
      };
      // `.provenant-tmp-<session>-<random>`; older versions wrote `.tmp-<session>-<random>` and
      // `.tmp-<random>`, which matches no session.
      for (const { path, session } of partials) if (!writers.live.has(session)) await removePartial(path);
      // index.json and oci-layout are written only under the lock, which gc holds: their
      // temporary files now are left from a crash.
      for (const name of await fsp().readdir(this.path)) {
        if (name.startsWith(`index.json${TMP_PREFIX}`) || name.startsWith(`${LAYOUT_FILE}${TMP_PREFIX}`)) {
          await removePartial(join(this.path, name));
        }
      }
      // The lists of writers that are gone: listed with the rest (a dry run showed none of them,
      // and a reader of the layout asked what these files were).
      for (const path of writers.stale) await removePartial(path);
      result.partials.files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
      return result;
    });
  }

  /** Whether blobs/ holds a file for `digest`. */
  async #hasFile(digest: Digest): Promise<boolean> {
    return fsp()
      .stat(this.#blobPath(digest))
      .then(
        (s) => s.isFile(),
        () => false,
      );
  }

  /**
   * Adds `d` and everything it reaches to `live`, reading manifests from where `at` says.
   * `optional`: `d` comes from a writer's list and may not be written yet. `manifest`: `d` is
   * where a manifest goes (an entry of index.json or of an index, a subject), so one of a type
   * this code does not know (an artifact manifest, say) is read as JSON and what it names is kept:
   * gc must not delete what it cannot walk. `warn`: for a manifest that is named but missing.
   */
  async #mark(
    d: Descriptor,
    live: Set<string>,
    at: (digest: Digest) => string,
    optional = false,
    manifest = false,
    warn?: (message: string) => void,
  ): Promise<void> {
    if (live.has(d.digest)) return;
    live.add(d.digest);
    await this.#walk(await this.#load(d, at, optional, manifest, warn), live, at, optional, warn);
  }

  /** What #mark reads of `d` to walk it: undefined when it has nothing more to keep. */
  async #load(
    d: Descriptor,
    at: (digest: Digest) => string,
    optional: boolean,
    manifest: boolean,
    warn?: (message: string) => void,
  ): Promise<Loaded> {
    const known = isManifestLike(d.mediaType);
    if (!known && !manifest) return undefined;
    const where = `${this.location}@${d.digest}`;
    let bytes: Uint8Array;
    try {
      bytes = await readCapped(at(d.digest), MANIFEST_LIMIT, where, 'INVALID_MANIFEST');
    } catch (err) {
      // A manifest that is missing has nothing of its own to keep (as before for index.json's
      // entries; a writer's listed manifest may be on its way). A listed digest that is no
      // manifest at all (too large for one) keeps only itself: a writer's list must not stop gc.
      if (isNotFound(err)) {
        if (!optional) warn?.(`${where} (${d.mediaType}) is named but not in the layout: what it would reference cannot be kept`);
        return undefined;
      }
      if ((optional || !known) && isProvenantError(err, 'INVALID_MANIFEST')) return undefined;
      throw err;
    }
    if (!known) return { named: namedDescriptors(bytes) };
    try {
      return { stored: parseStored(bytes, { mediaType: d.mediaType, digest: d.digest, where }) };
    } catch (err) {
      // A writer lists a manifest before it is checked; what is not one keeps nothing more.
      if (optional) return undefined;
      throw err;
    }
  }

  /** Marks what `loaded` (see #load) names, as #mark does. */
  async #walk(
    loaded: Loaded,
    live: Set<string>,
    at: (digest: Digest) => string,
    optional: boolean,
    warn?: (message: string) => void,
  ): Promise<void> {
    if (loaded?.named !== undefined) {
      for (const [child, isManifest] of loaded.named) await this.#mark(child, live, at, optional, isManifest, warn);
    }
    const stored = loaded?.stored;
    if (stored === undefined) return;
    for (const child of children(stored)) await this.#mark(child, live, at, optional, stored.kind === 'index', warn);
    // A kept referrer keeps its subject whole, walked like any child: marking the subject's
    // digest alone kept its manifest but let its config and layers go (and, once marked, the
    // subject was never walked when its own tag came up later). A tagged referrer, or one a
    // writer listed, stays in index.json; its subject must stay readable with it.
    const subject = subjectOf(stored);
    if (subject !== undefined) await this.#mark(subject, live, at, optional, true, warn);
  }

  /**
   * Ends this store's writer session. With `discard`, a layout this store made (a copy into a
   * new `oci:` folder that failed) is removed again when no image is in it and no other writer
   * is at work there, so that a failure leaves no empty layout behind; else it stays.
   */
  async close(options: CloseOptions = {}): Promise<void> {
    await this.#indexLock;
    const writer = this.#writer;
    this.#writer = undefined;
    if (writer !== undefined) await (await writer.catch(() => undefined))?.end();
    if (options.discard === true && this.#created !== undefined) await this.#removeIfUnused(this.#created);
  }

  async #removeIfUnused(created: 'folder' | 'contents'): Promise<void> {
    // Not cancelled by the command's signal, which has fired when a cancelled command cleans
    // up: a short wait then, after which the layout is left as it is.
    const { signal, ...rest } = this.#lockOptions;
    const waiting = signal?.aborted === true ? { ...rest, waitMs: 2_000 } : rest;
    const removed = await this.#locked(async () => {
      const current = await readIndexJson(this.path, this.location);
      if (current.index.manifests.length > 0 || (await readWriters(this.path)).live.size > 0) return false;
      // oci-layout first: from then on an opener finds no layout and waits on the lock to make one.
      await removeFile(join(this.path, LAYOUT_FILE));
      for (const name of await fsp().readdir(this.path)) {
        if (name !== LOCK_FILE) await fsp().rm(join(this.path, name), { recursive: true, force: true });
      }
      return true;
    }, waiting).catch(() => false); // a layout that cannot be cleaned up is left as it is
    // The lock file goes when released; the folder, if this store made it and nobody has put
    // anything there since (rmdir refuses a folder that is not empty).
    if (removed && created === 'folder') {
      // And the folders above it that it made too (`oci:new/a/b`), up to the first that is not
      // empty or not there any more.
      await removeEmptyFolders([this.path, ...this.#madeParents]);
    }
  }
}

interface IndexRead {
  index: ImageIndex;
  stamp: string;
  /** Set when this open made the layout: in a folder it made, or in one that was empty. */
  created?: 'folder' | 'contents';
  /** The folders above the layout's that this open made, nearest first: a discarded layout takes them away too. */
  madeParents?: string[];
}

// What opening a layout and looking a tag up run is in functions of the module, the methods
// calling them: the CLI's bundle has V8 compile a chunk's top-level functions with the chunk,
// into Node's compile cache (scripts/bundle-cli.ts, eagerFunctions), but a method only when it is
// first called, at every start, at a cost that grows with its length (issue 16, "instant start").

/**
 * What {@link LayoutStore.open} reads: the index.json of the layout at `path`, once its
 * oci-layout file is checked; with `create`, that of a new empty layout made there when there is
 * none.
 */
async function openIndex(path: string, options: LayoutOpenOptions): Promise<IndexRead | typeof VANISHED> {
  const where = options.location ?? `oci:${path}`;
  let layoutFile = await readLayoutFile(path, where);
  if (layoutFile === undefined) {
    if (!options.create) {
      throw new ProvenantError('NOT_FOUND', `no OCI image layout at ${path} (no ${LAYOUT_FILE} file)`, {
        where,
        hint: 'check the path; an OCI layout directory holds oci-layout, index.json and blobs/',
      });
    }
    const created = await createLayout(path, where, options);
    if (created !== undefined) return created;
    // Made by another process, which may have discarded it since (see close): VANISHED, made anew.
    layoutFile = await readLayoutFile(path, where);
    if (layoutFile === undefined) return VANISHED;
  }
  checkLayoutFile(layoutFile, where);
  try {
    return await readIndexJson(path, where);
  } catch (err) {
    // index.json missing because the whole layout went (its maker discarded it: oci-layout goes
    // first), where this open would make one: made anew, not refused as a broken layout.
    if (options.create === true && (await readLayoutFile(path, where).catch(() => layoutFile)) === undefined) return VANISHED;
    throw err;
  }
}

/** The index.json of the layout at `path` read again, or undefined when its stamp is still `stamp`. */
async function changedIndex(path: string, where: string, stamp: string): Promise<IndexRead | undefined> {
  let now: string;
  try {
    now = await stampOfFile(pathIn(path, 'index.json'));
  } catch (err) {
    throw isNotFound(err) ? await missingIndex(path, where) : fileError(err, where);
  }
  return now === stamp ? undefined : readIndexJson(path, where);
}

/**
 * The error for a layout's index.json not found: the layout's removal when its folder or
 * oci-layout went too (removed while a command used it), else a layout that lacks it.
 */
async function missingIndex(path: string, where: string): Promise<ProvenantError> {
  const gone = await layoutGone(path, where);
  return gone === undefined ? new ProvenantError('INVALID_LAYOUT', 'index.json is missing', { where }) : removedLayout(path, where, gone);
}

async function readLayoutFile(path: string, where: string): Promise<Uint8Array | undefined> {
  try {
    return await readCapped(pathIn(path, LAYOUT_FILE), MANIFEST_LIMIT, where, 'INVALID_LAYOUT', { inFolder: true });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    // A file where the layout's folder, or one above it, would be: said, not a bare ENOTDIR.
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') {
      throw new ProvenantError('INVALID_LAYOUT', `${path} is not a folder: a file stands at it or above it`, {
        where,
        hint: `an OCI layout is a folder; for an OCI archive file write oci-archive:${path}`,
      });
    }
    throw fileError(err, where);
  }
}

/**
 * Creates an empty layout at `path` under its lock, unless another process made it meanwhile
 * (then undefined: open what is there). Several copies into one new layout may race here.
 *
 * A creation that fails (a full disk, a file size limit) takes away, under the lock, the files
 * and the folders inside the layout's that it made; what was there before stays. The layout's
 * own folder and those above it stay too, empty: only the lock guards a folder, and it is in
 * that folder, so no creation could remove it without racing another's creation between its
 * mkdir and its lock; the next run finishes an empty folder. One cut short before it could
 * (killed) leaves what {@link isUnfinishedLayout} recognises, which the next creation finishes
 * too: before, either left a folder that every later run refused as "not empty and not an OCI
 * layout".
 */
async function createLayout(path: string, where: string, options: LayoutOpenOptions): Promise<IndexRead | undefined> {
  const existed = await fsp()
    .stat(path)
    .then(
      () => true,
      async (err: unknown) => (isNotFound(err) ? false : Promise.reject(await cannotMake(err, path, where))),
    );
  const madeParents: string[] = [];
  if (!existed) for (let p = dirname(path); p !== dirname(p) && (await missing(p)); p = dirname(p)) madeParents.push(p);
  // A store that discards the empty layout it made removes the folder once it let go of the lock
  // (see close): made again, then, if it goes between this mkdir and this lock.
  for (let attempt = 0; ; attempt++) {
    // (One that goes between the mkdir that found it there and the look at it, makeFolder makes again.)
    await makeFolder(path).catch(async (err: unknown) => {
      throw await cannotMake(err, path, where);
    });
    const made = await createLayoutIn(path, where, options, existed, madeParents);
    if (made !== VANISHED || attempt === 4) return made === VANISHED ? Promise.reject(vanished(path, where)) : made;
  }
}

/** What {@link takeLock} returns when the layout's folder is not there to hold the lock. */
const VANISHED = Symbol('vanished');

/**
 * The lock of the layout at `path`, or VANISHED when its folder is gone: the lock file is made
 * in it, and a store that discards the empty layout it made removes the folder (close), as
 * anyone may. Every taking of a layout's lock comes here, so that no caller meets a bare ENOENT
 * on `.provenant-lock`: a creator makes the folder again, the rest say it (removedLayout).
 */
async function takeLock(path: string, where: string, waiting: LockOptions): Promise<LayoutLock | typeof VANISHED> {
  return LayoutLock.acquire(path, waiting).catch((err: unknown) =>
    isNotFound(err) && !waiting.signal?.aborted ? VANISHED : Promise.reject(fileError(err, where, waiting.signal)),
  );
}

/** The layout's folder went while a store used it (see {@link takeLock}): said, with what removes one. */
function removedLayout(path: string, where: string, gone = `${path} is not there any more`): ProvenantError {
  return new ProvenantError('IO', `the layout was removed while this command used it: ${gone}`, { where, hint: removedHint });
}

const removedHint =
  'another process removed it (a command that made it and failed takes it away again), or someone did by hand: run the command again';

/**
 * How the layout at `path` is gone, as a clause (`PATH is not there any more`, `PATH holds no
 * oci-layout file any more`), or undefined while its oci-layout file is there, or cannot be told
 * (an error reading it is no sign that it went).
 */
async function layoutGone(path: string, where: string): Promise<string | undefined> {
  const file = await readLayoutFile(path, where).catch(() => new Uint8Array());
  if (file !== undefined) return undefined;
  return (await missing(path)) ? `${path} is not there any more` : `${path} holds no ${LAYOUT_FILE} file any more`;
}

/**
 * Why the layout at `path` could not be made, in one line that says what and where (named as
 * `where`, as a refused write and {@link vanished} name it, so the line needs no suffix): a refused
 * write (permission, a read-only file system, no room) as every write says it (fileError); a
 * link to nothing; a folder in which no folder can be made (procfs answers ENOENT to a mkdir of
 * any new name); else the system's words, never its bare `ENOENT: ..., mkdir '...'`.
 */
async function cannotMake(err: unknown, path: string, where: string): Promise<ProvenantError> {
  if (err instanceof ProvenantError || isWriteRefusal(err)) return fileError(err, where);
  const e = err as NodeJS.ErrnoException;
  const said = (why: string, hint?: string) =>
    new ProvenantError('IO', `cannot make ${where}: ${why}`, { where, cause: err, ...(hint === undefined ? {} : { hint }) });
  // A link to nothing is what mkdir found (EEXIST, which makeFolder takes for no folder): the
  // layout's own path, or a folder above it (its e.path).
  const found = e.code === 'EEXIST' ? (e.path ?? path) : undefined;
  const link = found === undefined ? undefined : linkToNothing(found);
  if (found !== undefined && link !== undefined) return said(`${found === path ? 'it' : found} is ${link}`, linkToNothingHint(found));
  if (e.code === 'ENOENT' && e.syscall === 'mkdir' && e.path !== undefined) {
    return said(
      `no folder can be made in ${dirname(e.path)} (${systemWords(err)})`,
      'a file system such as /proc or /sys takes no new folders: write the layout elsewhere',
    );
  }
  // What makeFolder gives up with after a folder went again and again under it.
  if (e.code === 'ENOENT') return vanished(path, where);
  return said(`${e.path !== undefined && e.path !== path ? `${e.path}: ` : ''}${systemWords(err)}`);
}

function vanished(path: string, where: string): ProvenantError {
  return new ProvenantError('IO', `cannot create ${where}: ${path} was removed again and again while it was made`, {
    where,
    hint: 'another process is removing that folder: stop it, or write elsewhere',
  });
}

/**
 * Removes `folders` in order while each is empty, up to the first that is not (or is not there):
 * the folders a store made for a layout it discards, nearest first.
 */
async function removeEmptyFolders(folders: readonly string[]): Promise<void> {
  for (const folder of folders) {
    const gone = await fsp()
      .rmdir(folder)
      .then(
        () => true,
        () => false,
      );
    if (!gone) return;
  }
}

/** {@link createLayout} once the layout's folder is there. */
async function createLayoutIn(
  path: string,
  where: string,
  options: LayoutOpenOptions,
  existed: boolean,
  madeParents: string[],
): Promise<IndexRead | undefined | typeof VANISHED> {
  const list = () =>
    fsp()
      .readdir(path)
      .catch((err: unknown) => Promise.reject(fileError(err, where)));
  const layoutFiles = (names: string[]) => names.filter((n) => !n.startsWith(COORDINATION_PREFIX));
  // One listing decides, not two: another creator may add files between two looks.
  const entries = await fsp()
    .readdir(path)
    .catch((err: unknown) => (isNotFound(err) ? VANISHED : Promise.reject(fileError(err, where))));
  if (entries === VANISHED) return VANISHED;
  if (entries.includes(LAYOUT_FILE)) return undefined;
  // Files but no oci-layout and no lock (which a creator holds until oci-layout is written, and
  // leaves when it is killed): not a layout, and nobody is making one.
  const creatorSeen = entries.includes(LOCK_FILE);
  if (!creatorSeen && layoutFiles(entries).length > 0) throw notLayout(path, where);
  const lock = await takeLock(path, where, lockOptions(where, options));
  if (lock === VANISHED) return VANISHED;
  try {
    if ((await readLayoutFile(path, where)) !== undefined) return undefined;
    // Under the lock nobody is half-way through making it: what is there was left by a
    // creation that ended without finishing, or is not a layout.
    const present = layoutFiles(await list());
    if (!(await isUnfinishedLayout(path, present, creatorSeen))) throw notLayout(path, where);
    try {
      // A killed creation's temporary files: nobody writes them but a creator under this lock.
      for (const name of present) if (name.includes(TMP_PREFIX)) await removeFile(join(path, name));
      for (const folder of [join(path, 'blobs'), join(path, 'blobs', 'sha256')]) if (await missing(folder)) await makeFolder(folder);
      if (!present.includes('index.json')) await writeFileAtomic(join(path, 'index.json'), EMPTY_INDEX, { where });
      // oci-layout last: its presence says the layout is complete.
      await writeFileAtomic(join(path, LAYOUT_FILE), encodeJson({ imageLayoutVersion: LAYOUT_VERSION }), { where });
    } catch (err) {
      // What this creation made goes, and what a killed one left that it took on (its empty
      // index.json, its empty folders: the only things isUnfinishedLayout takes on), last made
      // first, while it holds the lock: nobody else works inside a layout that has no
      // oci-layout yet without it. An empty folder is what a later run finishes without a lock
      // seen (see isUnfinishedLayout), what it left of another's would not be.
      await removeFile(join(path, 'index.json')).catch(() => undefined);
      for (const folder of [join(path, 'blobs', 'sha256'), join(path, 'blobs')])
        await fsp()
          .rmdir(folder)
          .catch(() => undefined);
      throw fileError(err, where);
    }
    return { ...(await readIndexJson(path, where)), created: existed ? 'contents' : 'folder', madeParents };
  } finally {
    await lock.release();
  }
}

/** The index.json of a new layout, as {@link createLayout} writes it. */
const EMPTY_INDEX = encodeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] } satisfies ImageIndex);

/** Whether `folder` is not there (anything else, even an error, is taken as there). */
function missing(folder: string): Promise<boolean> {
  return fsp()
    .lstat(folder)
    .then(
      () => false,
      (err: unknown) => isNotFound(err),
    );
}

/**
 * Whether `names`, the files of the layout's folder besides Provenant's own, are no more than
 * what {@link createLayout} leaves when it is killed before it writes oci-layout: `blobs/`
 * holding at most an empty `sha256/`, `index.json` as it writes it, byte for byte, and the
 * temporary files of index.json and oci-layout. Such a folder is an empty layout whose creation
 * was cut short, and is finished rather than refused, but only when `creatorSeen`: the lock
 * file was there before this creation took the lock, as a killed creator leaves it. A user makes
 * no lock file, and might make an empty `blobs/`; a folder with nothing in it is taken always.
 * Anything else (a blob, another index.json) is someone's, and is not taken for a layout.
 */
async function isUnfinishedLayout(path: string, names: readonly string[], creatorSeen: boolean): Promise<boolean> {
  if (names.length === 0) return true;
  if (!creatorSeen) return false;
  const list = (folder: string) =>
    fsp()
      .readdir(folder, { withFileTypes: true })
      .catch(() => undefined);
  const isFile = (name: string) =>
    fsp()
      .lstat(join(path, name))
      .then(
        (s) => s.isFile(),
        () => false,
      );
  for (const name of names) {
    if (name === 'blobs') {
      const inner = await list(join(path, 'blobs'));
      if (inner === undefined || inner.some((e) => e.name !== 'sha256' || !e.isDirectory())) return false;
      if (inner.length > 0 && (await list(join(path, 'blobs', 'sha256')))?.length !== 0) return false;
    } else if (name === 'index.json') {
      // Opened without blocking and refused unless a small regular file (a named pipe waits for ever).
      const bytes = await readSmallFile(join(path, name), EMPTY_INDEX.length, 'index.json').catch(() => undefined);
      if (bytes === undefined || Buffer.compare(bytes, EMPTY_INDEX) !== 0) return false;
    } else if (!(name.startsWith(`index.json${TMP_PREFIX}`) || name.startsWith(`${LAYOUT_FILE}${TMP_PREFIX}`)) || !(await isFile(name))) {
      return false;
    }
  }
  return true;
}

/** How a store opened with `options` waits for its layout's lock: as long, as cancellable and as said as they ask. */
function lockOptions(where: string, options: LayoutOpenOptions): LockOptions {
  const { logger } = options;
  return {
    waitMs: options.lockWaitMs,
    signal: options.signal,
    onWait:
      logger === undefined ? undefined : (what) => logger.warn(`${where}: ${what}; waiting for it to finish (Ctrl-C stops this command)`),
  };
}

function notLayout(path: string, where: string): ProvenantError {
  return new ProvenantError('INVALID_LAYOUT', `${path} is not empty and is not an OCI layout`, {
    where,
    hint: 'write the layout into a new or empty directory',
  });
}

/**
 * The most index.json may hold, read or written: one limit for both, so a layout this store
 * writes is always one it can open again. The manifest limit (4 MiB, about 10,000 tagged
 * entries), not a larger one: every tag written re-reads, parses and rewrites the whole file
 * under the layout's lock, so its size is paid by every write of every writer, and a layout
 * outgrowing it holds more images than a layout is good for.
 */
const INDEX_JSON_LIMIT = MANIFEST_LIMIT;

async function readIndexJson(path: string, where: string): Promise<IndexRead> {
  let read: { bytes: Uint8Array; stamp: string };
  try {
    read = await readCappedWithStamp(pathIn(path, 'index.json'), INDEX_JSON_LIMIT, `${where}/index.json`, 'INVALID_LAYOUT', {
      inFolder: true,
    });
  } catch (err) {
    throw isNotFound(err) ? await missingIndex(path, where) : fileError(err, where);
  }
  return { index: parseIndexJson(read.bytes, `${where}/index.json`), stamp: read.stamp };
}

/** What gc read of a manifest to walk it: parsed when of a known type, else the descriptors its JSON names. */
type Loaded = { stored?: Stored; named?: Array<[Descriptor, boolean]> } | undefined;

/**
 * The layer media types of what cosign keeps under its tags: simple-signing payloads (`.sig`),
 * DSSE envelopes (`.att`), and the SBOM documents `cosign attach sbom` writes (`.sbom`: SPDX as
 * text or JSON, CycloneDX as XML or JSON, Syft JSON; and SPDX JSON under its registered type).
 */
const COSIGN_LAYER_TYPES: ReadonlySet<string> = new Set([
  'application/vnd.dev.cosign.simplesigning.v1+json',
  'application/vnd.dsse.envelope.v1+json',
  'text/spdx',
  'text/spdx+json',
  'application/spdx+json',
  'application/vnd.cyclonedx+xml',
  'application/vnd.cyclonedx+json',
  'application/vnd.syft+json',
]);

/**
 * Whether the manifest under a cosign tag is what cosign writes there: an image manifest whose
 * layers (one at least) are all signatures, attestations or SBOM documents. A runnable image
 * (layers of files), an index, or a manifest of a type this code does not know is not.
 */
function isCosignAttachment(loaded: Loaded): boolean {
  const stored = loaded?.stored;
  if (stored?.kind !== 'manifest') return false;
  const layers = stored.manifest.layers;
  return layers.length > 0 && layers.every((l) => COSIGN_LAYER_TYPES.has(l.mediaType));
}

/**
 * The descriptors a manifest of a type this code does not know names, read generically: the
 * fields the OCI image manifest, image index and the artifact manifest of image-spec 1.1's
 * drafts use (`config`, `layers`, `blobs`, `manifests`, `subject`), each with whether it is a
 * manifest's place (`manifests`, `subject`). Bytes that are no JSON object name nothing.
 */
function namedDescriptors(bytes: Uint8Array): Array<[Descriptor, boolean]> {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return [];
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return [];
  const fields = doc as Record<string, unknown>;
  const out: Array<[Descriptor, boolean]> = [];
  const add = (value: unknown, isManifest: boolean): void => {
    if (typeof value !== 'object' || value === null) return;
    const { digest, mediaType, size } = value as Record<string, unknown>;
    if (typeof digest !== 'string' || !isDigest(digest)) return;
    out.push([
      { mediaType: typeof mediaType === 'string' ? mediaType : '', digest, size: typeof size === 'number' ? size : 0 },
      isManifest,
    ]);
  };
  const list = (value: unknown, isManifest: boolean): void => {
    if (Array.isArray(value)) for (const v of value) add(v, isManifest);
  };
  add(fields.config, false);
  list(fields.layers, false);
  list(fields.blobs, false);
  list(fields.manifests, true);
  add(fields.subject, true);
  return out;
}

/**
 * Removes the lists and partial blob files of the writers of the layout at `path` that are dead
 * on this host (see deadWriters): each partial first, then the list, so a removal cut short
 * leaves the list that names the rest for the next writer or gc. Nobody writes them any more;
 * another writer or a gc removing them at once is no harm (one finds them gone). A live writer's
 * files are never touched: its process runs. No lock is needed for that, nor taken.
 *
 * @throws ProvenantError `UNSAFE_PATH` when `blobs/` or a folder in it is a link
 */
async function removeDeadWriters(path: string, where: string): Promise<void> {
  const dead = await deadWriters(path);
  if (dead.length === 0) return;
  const ids = new Set(dead.map((w) => w.id));
  if (await ownFolder(path, 'blobs', where)) {
    for (const algorithm of await fsp().readdir(join(path, 'blobs'), { withFileTypes: true })) {
      if (algorithm.isSymbolicLink()) throw linkedFolder(path, join('blobs', algorithm.name), where);
      if (!algorithm.isDirectory()) continue;
      const dir = join(path, 'blobs', algorithm.name);
      for (const name of await fsp().readdir(dir)) {
        const session = partialSession(name);
        if (session !== undefined && ids.has(session)) await removeFile(join(dir, name));
      }
    }
  }
  for (const w of dead) await removeFile(w.path);
}

/** The descriptors writers listed, for gc to keep. */
function pendingDescriptors(writers: Writers): Descriptor[] {
  return [...writers.pending].map(([digest, mediaType]) => ({ mediaType, digest, size: 0 }));
}

/** Renames `from` to `to`; returns the size moved, or undefined when `from` was gone. */
async function moveIfPresent(from: string, to: string): Promise<number | undefined> {
  try {
    const { size } = await fsp().stat(from);
    await fsp().rename(from, to);
    return size;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * Puts a blob moved aside back in place, unless a writer has stored it again meanwhile (the
 * writer's copy was checked; the moved one need not have been). link(2) never replaces a file.
 */
async function restoreBlob(from: string, to: string): Promise<void> {
  try {
    await fsp().link(from, to);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST') {
      // A file system without hard links: a rename, when nothing is there.
      if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK', 'EXDEV'].includes(code ?? '')) throw err;
      if (
        (await fsp()
          .stat(to)
          .catch(() => undefined)) === undefined
      )
        await fsp().rename(from, to);
    }
  }
  await removeFile(from);
}

/** The name, in the layout's folder, of a blob a gc moved aside where it could not make its trash folder. */
function besideTrash(algorithm: string, hex: string): string {
  return `${TRASH_DIR}-${algorithm}-${hex}`;
}

/** The blob `name`, a file of the layout's folder, is when a gc moved it aside as {@link besideTrash} names it; else undefined. */
function besideTrashBlob(name: string): { algorithm: string; hex: string } | undefined {
  if (!name.startsWith(`${TRASH_DIR}-`)) return undefined;
  const [algorithm = '', hex = ''] = name.slice(TRASH_DIR.length + 1).split('-', 2);
  return isDigest(`${algorithm}:${hex}`) && name === besideTrash(algorithm, hex) ? { algorithm, hex } : undefined;
}

/**
 * What a gc that died left in the layout at `path`, as its folder names it: the trash folder,
 * else the first blob it moved beside it (see besideTrash); undefined when it left nothing.
 * What {@link restoreTrash} puts back.
 */
async function trashLeft(path: string, where: string): Promise<string | undefined> {
  if (await ownFolder(path, TRASH_DIR, where)) return TRASH_DIR;
  const names = await fsp()
    .readdir(path)
    .catch((err: unknown) => Promise.reject(fileError(err, where)));
  return names.find((name) => besideTrashBlob(name) !== undefined);
}

/**
 * Moves back everything a gc moved aside and did not get to delete or restore. Runs at every
 * taking of the lock, so its usual cost is one listing of the layout's folder (a handful of
 * names) and one lstat: no trash.
 *
 * @throws ProvenantError `UNSAFE_PATH` when the trash, a folder in it, `blobs/` or the
 *   `blobs/<algorithm>` a blob goes back to is a link: the files where it points would be moved
 */
async function restoreTrash(path: string, where: string): Promise<void> {
  // Blobs a gc on a full disk moved beside the trash folder (see besideTrash).
  for (const name of await fsp().readdir(path)) {
    const blob = besideTrashBlob(name);
    if (blob === undefined) continue;
    const { algorithm, hex } = blob;
    await ownFolder(path, 'blobs', where);
    await ownFolder(path, join('blobs', algorithm), where);
    await restoreBlob(join(path, name), join(path, 'blobs', algorithm, hex));
  }
  if (!(await ownFolder(path, TRASH_DIR, where))) return;
  const trash = join(path, TRASH_DIR);
  for (const algorithm of await fsp().readdir(trash, { withFileTypes: true })) {
    const rel = join(TRASH_DIR, algorithm.name);
    if (algorithm.isSymbolicLink()) throw linkedFolder(path, rel, where);
    if (!algorithm.isDirectory()) continue;
    let checked = false;
    for (const name of await fsp().readdir(join(path, rel))) {
      if (!isDigest(`${algorithm.name}:${name}`)) continue;
      if (!checked) {
        await ownFolder(path, 'blobs', where);
        await ownFolder(path, join('blobs', algorithm.name), where);
        checked = true;
      }
      await restoreBlob(join(path, rel, name), join(path, 'blobs', algorithm.name, name));
    }
  }
  await fsp().rm(trash, { recursive: true, force: true });
}

/**
 * True when the layout's own folder `rel` (`blobs`, `blobs/<algorithm>`, the gc's trash) is
 * there, false when it is missing. A link there is refused: the store writes, moves and deletes
 * files in these folders by name, and through a link would do so wherever it points (a crafted
 * layout's `blobs -> /some/folder` had gc delete that folder's hex-named files). Only these
 * folders are checked, with lstat, before anything is written, moved or deleted in them; reads
 * follow links within the layout and refuse the rest (containedBlobPath).
 *
 * @throws ProvenantError `UNSAFE_PATH` naming the link and where it points
 */
async function ownFolder(root: string, rel: string, where: string): Promise<boolean> {
  try {
    if (!(await fsp().lstat(join(root, rel))).isSymbolicLink()) return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw fileError(err, where);
  }
  throw linkedFolder(
    root,
    rel,
    where,
    await fsp()
      .readlink(join(root, rel))
      .catch(() => undefined),
  );
}

function linkedFolder(root: string, rel: string, where: string, target?: string): ProvenantError {
  const path = join(root, rel);
  return new ProvenantError(
    'UNSAFE_PATH',
    `${path} is a symbolic link${target === undefined ? '' : ` to ${target}`}: the layout keeps blobs in ${rel} itself, and writing, moving or deleting them through a link would change files outside the layout`,
    { where, hint: `nothing was changed; if the layout is yours, replace the link with the folder it points to, or remove ${path}` },
  );
}

function layoutEntry(stored: Stored): Descriptor {
  const doc = stored.kind === 'manifest' ? stored.manifest : stored.index;
  const d = descriptorOf(stored);
  if (doc.artifactType !== undefined) d.artifactType = doc.artifactType;
  return d;
}

/**
 * A file's read stream failing as its open does, with the typed error `failed` makes of the
 * system's: a folder in a blob's place opens, and its first read failed with Node's bare EISDIR.
 */
async function* typedFileErrors(stream: ByteStream, failed: (err: unknown) => Promise<ProvenantError>): ByteStream {
  try {
    yield* stream;
  } catch (err) {
    throw await failed(err);
  }
}
