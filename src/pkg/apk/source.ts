/**
 * apk repositories as a {@link PackageSource}: signed `APKINDEX.tar.gz` per repository and
 * architecture, packages checked against their `Q1` identity and signature, installed as
 * apk-tools installs them, with apk's database and files so that `apk` in the image sees them.
 */
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { ByteBuilder } from '../../bytes.ts';
import { isProvenantError, ProvenantError, redactCredentials, urlWithoutUserInfo } from '../../errors.ts';
import { noteRecordsDropped } from '../../io/memory.ts';
import { digestHex, digestOf } from '../../oci/digest.ts';
import type { SpilledFiles } from '../../vfs/spill.ts';
import type { Tree } from '../../vfs/tree.ts';
import {
  type DownloadCache,
  fetchFile,
  fetchTrustedFile,
  isRemote,
  joinLocation,
  localPath,
  safeLocation,
  streamFile,
  withRepositoryCredentials,
} from '../fetch.ts';
import { dependencyOrder } from '../order.ts';
import type { Candidate, Request } from '../resolve/resolve.ts';
import {
  type FetchedPackage,
  filesOnDemand,
  type InstalledPackage,
  type InstallTimes,
  type LockedPackage,
  type LockRepository,
  type LockSources,
  MissingArchitectureError,
  type PackageSource,
  type PackageSourceOptions,
  recordedChecksum,
  type SourceIndex,
} from '../source.ts';
import { countEntries, countFiles, fileBodies, keepIndex, loadUnpacked, unpackedDataKey } from '../unpacked.ts';
import { type ApkPackageInfo, type IndexesRead, readApkIndex } from './apkindex.ts';
import type { ApkoInstalledRecord } from './apko-db.ts';
import type { ApkoFs } from './apko-fs.ts';
import { apkoInitDb, apkoInstall, apkoInstallOrder } from './apko-install.ts';
import { type ApkCandidate, apkCandidates, apkVersionScheme, requirementOf } from './candidates.ts';
import { ApkFiles } from './files.ts';
import { baseLayout, entriesInventory, type InstalledApk, installApk, installedStanza, writeApkDatabase } from './install.ts';
import { apkDependencies, apkInventoryPackage } from './inventory.ts';
import { type ApkPackage, apkPackageInfo, readApkPackage } from './package.ts';
import { ApkKeyring, trustedSignature, type VerifiedSignature, verifyApkSignatures } from './signature.ts';
import { readAt, streamApkFile } from './stream.ts';
import { parseApkDependency } from './version.ts';

/** A fetched apk: its index fields (from the package itself) and its contents. */
export interface ApkFetched {
  info: ApkPackageInfo;
  pkg: ApkPackage;
  /** Lowercase hex SHA-256 of the .apk file, when it was read from one: the SBOMs' checksum of the package. */
  sha256?: string | undefined;
}

/** apko's spelling of a pin: the repository tag after the version (`name=1.0-r0@edge`). */
const TAG_AFTER_VERSION = /^([^@<>=~]+)([<>=~]+[^@]*)@([^@]*)$/;

/**
 * A `contents.packages` entry (an apk dependency atom, `name@tag=1.0-r0`) as a request. apko
 * writes the tag after the version instead (`name=1.0-r0@edge`, its ResolvePackageNameVersionPin),
 * which apk-tools does not read; configurations written for apko use it, so it is taken too.
 */
export function apkRequest(text: string, where?: string): Request {
  const apko = TAG_AFTER_VERSION.exec(text);
  const d = parseApkDependency(apko === null ? text : `${apko[1]}@${apko[3]}${apko[2]}`, where);
  return { ...requirementOf(d), conflict: d.conflict };
}

/** Opens the apk repositories of a configuration: loads the keyring (from the lock when it embeds the keys). */
export async function openApkSource(options: PackageSourceOptions): Promise<ApkSource> {
  const keyring = new ApkKeyring();
  for (const key of options.keyring) {
    // A lock names a key by its location without user info (lockSources); an older one, as written.
    const at =
      options.lockedKeys?.findIndex((k) => urlWithoutUserInfo(k.name) === urlWithoutUserInfo(key) && k.content !== undefined) ?? -1;
    const locked = options.lockedKeys?.[at]?.content;
    const read = async () => {
      try {
        return new TextDecoder().decode(
          await fetchTrustedFile(key, 'the contents.keyring key', options.configPath, { baseDir: options.baseDir, signal: options.signal }),
        );
      } catch (err) {
        // Said as the configuration's: a bare "X does not exist" named neither the file nor the key.
        if (!isProvenantError(err, 'NOT_FOUND', 'IO')) throw err;
        throw new ProvenantError(err.code, `the contents.keyring key ${err.message}`, {
          where: options.configPath,
          cause: err,
          hint: "a key is a path relative to the configuration's folder or an https URL: the public key of whoever signs the repository's index (provenant apk keygen makes a pair for your own)",
        });
      }
    };
    const pem = locked !== undefined && options.lockVouches === true ? locked : await read();
    // With a lock, the image gets the text the lock holds, not the file's other text of the same
    // key (one lock makes one image), once the keyring has checked that text as the lock's.
    const lockPath = options.lockPath ?? 'the lock';
    keyring.add(
      basename(key),
      pem,
      safeLocation(key),
      locked === undefined ? undefined : { text: locked, where: lockPath, entry: `contents.keyring[${at}]` },
    );
  }
  return new ApkSource(options, keyring);
}

/** apk repositories (`URL` or `@tag URL`) and the keys that sign them. */
export class ApkSource implements PackageSource<ApkCandidate, ApkFetched> {
  readonly ecosystem = 'apk';
  readonly versionScheme = apkVersionScheme;
  readonly #options: PackageSourceOptions;
  readonly #keyring: ApkKeyring;
  /** The repositories read to resolve: `repositories`, then `build_repositories`. */
  readonly #repositories: { url: string; tag: string }[];
  /** The repositories /etc/apk/repositories lists: `repositories`, then `runtime_repositories`. */
  readonly #imageRepositories: { url: string; tag: string }[];
  /**
   * The digest of the APKINDEX.tar.gz this build read for each repository folder
   * (`<repository>/<arch>`), '' where two reads of it differed: what a cached package's signature
   * member was last found served under (#servedNow).
   */
  readonly #indexes = new Map<string, string>();
  /**
   * The locations (`url signature-checksum`) found serving another file than a cached one this
   * build: asked once (#servedNow), by the image memo's check (stillServed) or by the fetch, and
   * not again by the other.
   */
  readonly #notServed = new Set<string>();
  /** By architecture, the index readIndex last read, once keepIndexes asks, until taken (apko lock's order counts in it). */
  #kept: Map<string, SourceIndex<ApkCandidate>> | undefined;
  /**
   * By architecture, what the indexes readIndex last read for it listed and hold: the caps on them
   * hold for every architecture's together (readIndex).
   */
  readonly #read = new Map<string, IndexesRead>();

  constructor(options: PackageSourceOptions, keyring: ApkKeyring) {
    this.#options = options;
    this.#keyring = keyring;
    const parse = (lines: readonly string[] | undefined) => (lines ?? []).map((r) => parseRepository(r, options.configPath));
    // apko resolves from repositories and build_repositories together, and writes repositories
    // and runtime_repositories into the image (pkg/build/apk.go): a build repository is one the
    // image's own apk must not know of (a staging or private one).
    const repositories = parse(options.repositories);
    this.#repositories = withAdded(repositories, parse(options.buildRepositories));
    this.#imageRepositories = withAdded(repositories, parse(options.runtimeRepositories));
  }

  archName(arch: string): string {
    return arch;
  }

  request(text: string, where: string): Request {
    return apkRequest(text, where);
  }

  /**
   * apk's refusal of a world whose `name@tag` names a tag no repository has (apk_db_check_world:
   * "The repository tag for world dependency ... does not exist", and the commit is refused
   * without --force-broken-world). apko takes the package from the untagged repositories instead,
   * silently, which builds an image the configuration did not ask for.
   *
   * @returns ProvenantError `INVALID_CONFIG` at the entry, naming the tags the repositories have
   */
  requestRefusal(text: string, request: Request, where: string): ProvenantError | undefined {
    const tag = request.tag;
    if (tag === undefined || this.#repositories.some((r) => r.tag === tag)) return undefined;
    const tags = [...new Set(this.#repositories.map((r) => r.tag).filter((t) => t !== ''))].map((t) => `@${t}`);
    return new ProvenantError('INVALID_CONFIG', `"${text}" asks for the repository tag @${tag}, and no repository has it`, {
      where,
      hint:
        tags.length === 0
          ? `no repository is tagged: add one as "@${tag} URL" to contents.repositories, or drop @${tag}`
          : `the repositories' tags: ${tags.join(', ')}; add one as "@${tag} URL" to contents.repositories, or write one of those`,
    });
  }

  async readIndex(arch: string): Promise<SourceIndex<ApkCandidate>> {
    const { baseDir, signal, configPath } = this.#options;
    const candidates: ApkCandidate[] = [];
    const files: SourceIndex['files'] = [];
    // The caps on what an index lists, and on its text, hold for the indexes of every
    // architecture together: a build holds all of one architecture's at once, and all of every
    // architecture's when it keeps them (keepIndexes: --compat apko without a lock) or checks a
    // lock (../../builder/plan.ts), so ten repositories or architectures at the caps would take ten
    // times the memory. A read of an architecture again replaces its last one.
    this.#read.delete(arch);
    const before = sumRead(this.#read.values());
    const together: IndexesRead = { ...before, indexes: [...before.indexes] };
    // A repository listed again (under another tag) is read once, as apk-tools reads it
    // (apk_db_add_repository): the same one under the same tag adds nothing, under another its
    // packages are that tag's too, at the place of its first listing.
    const parsed = new Map<string, { packages: ApkPackageInfo[]; order: number; tags: Set<string> }>();
    for (const [order, repo] of this.#repositories.entries()) {
      const url = joinLocation(repo.url, arch, 'APKINDEX.tar.gz');
      const where = safeLocation(url);
      const again = parsed.get(url);
      if (again !== undefined) {
        if (again.tags.has(repo.tag)) continue;
        again.tags.add(repo.tag);
        this.#addCandidates(candidates, again.packages, repo, again.order, where);
        continue;
      }
      const bytes = await fetchFile(url, { baseDir, signal }).catch((err: unknown) => {
        // A repository has a folder per architecture: none is the architecture it lacks (or a
        // wrong location), which the message says rather than a bare path.
        if (!isProvenantError(err, 'NOT_FOUND')) throw err;
        throw new MissingArchitectureError(safeLocation(repo.url), arch, err, configPath);
      });
      const index = await readApkIndex(bytes, { keyring: this.#keyring, where, together });
      parsed.set(url, { packages: index.packages, order, tags: new Set([repo.tag]) });
      const digest = digestOf(bytes);
      files.push({ url: where, digest });
      // Keyed as a lock entry's URL names its folder: without user info.
      const folder = urlWithoutUserInfo(joinLocation(repo.url, arch));
      const read = this.#indexes.get(folder);
      this.#indexes.set(folder, read === undefined || read === digest ? digest : '');
      this.#addCandidates(candidates, index.packages, repo, order, where);
    }
    this.#read.set(arch, {
      packages: together.packages - before.packages,
      names: together.names - before.names,
      fields: together.fields - before.fields,
      text: together.text - before.text,
      indexes: together.indexes.slice(before.indexes.length),
    });
    const read = { candidates, files };
    this.#kept?.set(arch, read);
    return read;
  }

  /** Adds the candidates of an index's `packages` read from `repo`, warning of those left out. */
  #addCandidates(
    candidates: ApkCandidate[],
    packages: readonly ApkPackageInfo[],
    repo: { url: string; tag: string },
    order: number,
    where: string,
  ): void {
    const { candidates: found, skipped } = apkCandidates(packages, repo.url, repo.tag, order, where);
    for (const s of skipped) this.#options.logger.warn(`${where}: left out ${s.name}-${s.version}: ${s.reason}`);
    // One by one: a spread passes each entry as an argument, and an index of 250,000 overflowed the stack.
    for (const c of found) candidates.push(c);
  }

  /** Keeps each architecture's index as last read, for {@link takeIndex}, from now on. */
  keepIndexes(): void {
    this.#kept ??= new Map();
  }

  /** The index of `arch` readIndex last read since keepIndexes, if any, no longer kept. */
  takeIndex(arch: string): SourceIndex<ApkCandidate> | undefined {
    const read = this.#kept?.get(arch);
    this.#kept?.delete(arch);
    return read;
  }

  lockEntry(c: ApkCandidate, arch: string): LockedPackage {
    return {
      name: c.name,
      version: c.version,
      architecture: arch,
      // Without the repository's credentials, which the lock (committed) must never hold: the
      // fetch takes them from the configuration (#fetchUrl).
      url: urlWithoutUserInfo(joinLocation(c.repository, arch, `${c.name}-${c.version}.apk`)),
      checksum: c.info.checksum,
      ...(c.info.size > 0 ? { size: c.info.size } : {}),
    };
  }

  async fetch(p: LockedPackage, options: { signed?: boolean | undefined } = {}): Promise<FetchedPackage<ApkFetched>> {
    const { cache, baseDir, signal } = this.#options;
    const where = safeLocation(p.url);
    const key = apkFileKey(p.checksum, p.url, baseDir);
    const signed = options.signed === true;
    // Verified in full when first read, then kept unpacked under its identity (../unpacked.ts),
    // shared by every location that serves it: #stillVouched holds it to the file of this one.
    const loaded = cache === undefined ? undefined : await loadUnpacked(cache, keptKey(p.checksum));
    // Kept from another file under the same checksum (the package signed again) when the index
    // gives another size: a miss, as the file cached under the checksum is below.
    // So is one whose signature or members are not the ones the lock records.
    const keptMeta = loaded?.meta as ApkKept | undefined;
    const kept =
      loaded === undefined ||
      !sizeFits(keptMeta?.info.size, p) ||
      (keptMeta !== undefined && rangeDiffering(p, keptMeta.ranges) !== undefined)
        ? undefined
        : loaded;
    const meta = kept?.meta as ApkKept | undefined;
    const signedBy = kept === undefined || meta === undefined ? false : await this.#stillVouched(meta, key, where);
    // An entry that pins no signature (resolved from an index) is met by any file of its Q1 and
    // size: the kept one must be the file its location serves now, or the build would record a
    // file the repository signed again since.
    const replaced = meta !== undefined && signedBy !== false && !pinsSignature(p) && !(await this.#servedNow(p, meta.ranges));
    if (kept !== undefined && meta !== undefined && signedBy !== false && !replaced) {
      if (signed && signedBy === undefined) throw unvouched(p, where);
      checkIdentity(meta.info, p, where);
      const pkg: ApkPackage = { ...meta.pkg, signedBy, entries: kept.entries };
      const fetched = { locked: { ...p, ...meta.ranges }, sha256: meta.sha256, bodies: fileBodies(pkg.entries), files: kept.entries.files };
      return { package: { info: meta.info, pkg, sha256: meta.sha256 }, ...fetched, size: meta.info.size, cached: true };
    }
    // With a cache, the package goes through it as a stream, never held whole (./stream.ts);
    // without one, it is read and held whole for the build.
    if (cache !== undefined) return this.#streamed(cache, p, key, where, signed, replaced);
    const bytes = await fetchFile(this.#fetchUrl(p.url), { baseDir, signal });
    const pkg = await readApkPackage(bytes, {
      expectedChecksum: p.checksum,
      checksumFrom: this.#checksumFrom(p),
      keyring: this.#keyring,
      where,
      requireSignature: signed,
    });
    const info = apkPackageInfo(pkg, bytes.length, where);
    checkIdentity(info, p, where);
    const ranges = {
      signature: pkg.ranges.signature === undefined ? undefined : rangeOf(bytes, pkg.ranges.signature, 'sha1'),
      control: rangeOf(bytes, pkg.ranges.control, 'sha1'),
      data: rangeOf(bytes, pkg.ranges.data, 'sha256'),
    };
    checkLockedRanges(p, ranges, where);
    const sha256 = digestHex(digestOf(bytes));
    return {
      package: { info, pkg, sha256 },
      locked: { ...p, ...ranges },
      sha256,
      bodies: fileBodies(pkg.entries),
      files: countFiles(pkg.entries),
      size: bytes.length,
      cached: false,
    };
  }

  async stillServed(planned: LockedPackage, recorded: LockedPackage): Promise<boolean> {
    // A lock's entry names the signature, which the recorded image is held against (../../builder/build.ts).
    return pinsSignature(planned) || this.#servedNow(recorded, recorded);
  }

  /**
   * A package not kept unpacked yet, read into the cache as a stream: from the .apk cached under
   * `key` when it still verifies (a copy that does not is a miss, never a failure), else
   * downloaded into a temporary file of the cache, read from there, and kept under `key` only
   * once it has verified: a file that does not is removed. The cached .apk is passed over when it
   * is known to be `replaced` (the location serves another file of its Q1), and, for an entry that
   * pins no signature, when it is not the file the location serves now.
   */
  async #streamed(
    cache: DownloadCache,
    p: LockedPackage,
    key: string,
    where: string,
    signed: boolean,
    replaced: boolean,
  ): Promise<FetchedPackage<ApkFetched>> {
    const { baseDir, signal } = this.#options;
    const found = replaced ? undefined : await cache.locate(key);
    if (found !== undefined && sizeFits(found.size, p)) {
      const kept = await this.#keepFile(cache, p, found, where, signed).catch((err: unknown) => {
        if (isProvenantError(err, 'ABORTED')) throw err;
        return undefined;
      });
      if (kept !== undefined && (pinsSignature(p) || (await this.#servedNow(p, kept.locked)))) return { ...kept, cached: true };
    }
    const writer = await cache.writer();
    try {
      for await (const chunk of streamFile(this.#fetchUrl(p.url), { baseDir, signal })) await writer.write(chunk);
      const kept = await this.#keepFile(cache, p, { path: writer.path, size: writer.size }, where, signed);
      const stored = await writer.finish(key);
      // The file read is the file kept: nothing else writes a writer's temporary file.
      if (stored.sha256 !== kept.sha256) {
        throw new ProvenantError('DIGEST_MISMATCH', `${where} changed while it was read: ${stored.sha256}, not ${kept.sha256}`, { where });
      }
      await this.#noteServed(p, kept.locked);
      return { ...kept, cached: false };
    } catch (err) {
      await writer.abort();
      throw err;
    }
  }

  /**
   * Reads and verifies the .apk at `file.path` into the cache (./stream.ts), and keeps it unpacked
   * under its checksum. The file must hash to `file.sha256` when given (the name the cache keeps it by).
   */
  async #keepFile(
    cache: DownloadCache,
    p: LockedPackage,
    file: { path: string; size: number; sha256?: string | undefined },
    where: string,
    signed: boolean,
  ): Promise<Omit<FetchedPackage<ApkFetched>, 'cached'>> {
    const writer = await cache.writer();
    try {
      const options = {
        expectedChecksum: p.checksum,
        checksumFrom: this.#checksumFrom(p),
        keyring: this.#keyring,
        where,
        requireSignature: signed,
      };
      const read = await streamApkFile(file.path, file.size, writer, options, this.#options.signal);
      if (file.sha256 !== undefined && read.sha256 !== file.sha256) {
        throw new ProvenantError('DIGEST_MISMATCH', `${where} hashes to ${read.sha256} on disk, not ${file.sha256}`, { where });
      }
      const info = apkPackageInfo(read.pkg, file.size, where);
      checkIdentity(info, p, where);
      const { ranges } = read.pkg;
      const lockRanges = {
        signature: ranges.signature === undefined ? undefined : lockRange(ranges.signature, 'sha1', read.digests.signature!),
        control: lockRange(ranges.control, 'sha1', read.digests.control),
        data: lockRange(ranges.data, 'sha256', read.digests.data),
      };
      checkLockedRanges(p, lockRanges, where);
      const data = await writer.finish(unpackedDataKey(keptKey(p.checksum)));
      const kept: ApkKept = { info, pkg: read.pkg, ranges: lockRanges, sha256: read.sha256 };
      // The data tar is kept under its key from here; without the index it is never used.
      const entries = await keepIndex(cache, keptKey(p.checksum), data, read.entries, read.bodies, kept, where);
      const pkg: ApkPackage = { ...read.pkg, entries };
      return {
        package: { info, pkg, sha256: read.sha256 },
        locked: { ...p, ...lockRanges },
        sha256: read.sha256,
        bodies: fileBodies(entries),
        files: entries.files,
        size: file.size,
      };
    } catch (err) {
      // Once finished, the writer's file is the kept data tar, and abort leaves it alone.
      await writer.abort();
      throw err;
    }
  }

  /**
   * Where a package's file is fetched from: its URL (as a lock records it, without user info) with
   * the credentials of the configuration's repository it is under, never a lock's.
   */
  #fetchUrl(url: string): string {
    return withRepositoryCredentials(
      url,
      this.#repositories.map((r) => r.url),
    );
  }

  /**
   * Where a package's expected checksum comes from, for the error when the file does not match
   * it: the lock the build was given (its keys come with it), else the index the package was
   * resolved from, beside the package in its repository.
   */
  #checksumFrom(p: LockedPackage): string {
    const { lockedKeys, lockPath } = this.#options;
    if (lockedKeys !== undefined || lockPath !== undefined) return lockPath === undefined ? 'the lock' : `the lock ${lockPath}`;
    const at = p.url.lastIndexOf('/');
    return at < 0 ? 'the index' : `the index ${safeLocation(joinLocation(p.url.slice(0, at), 'APKINDEX.tar.gz'))}`;
  }

  /**
   * Whether a kept package may stand for the file cached under `key`, as a fresh read of that file
   * would (its signature's key and member are not covered by the checksum the package is kept
   * under): the file must be the one it was read from, and a signature by a key of the keyring
   * must verify with that key now. Returns who signed it (undefined for none trusted), or false.
   */
  async #stillVouched(meta: ApkKept, key: string, where: string): Promise<VerifiedSignature | undefined | false> {
    const file = await this.#options.cache?.locate(key);
    if (file === undefined || file.sha256 !== meta.sha256) return false;
    const { signatures } = meta.pkg;
    // Signed by no key of this keyring: vouched for by an index alone, if at all. (The signer an
    // earlier build recorded was a key of that build's keyring.) Said before the control member
    // is read, which only a signature to check needs.
    if (trustedSignature(signatures, this.#keyring) === undefined) return undefined;
    const [start, end] = meta.pkg.ranges.control;
    try {
      return verifyApkSignatures(signatures, await readAt(file.path, start, end + 1 - start, where), this.#keyring, where);
    } catch {
      return false;
    }
  }

  /**
   * Whether the file `p.url` serves now is still the one whose members `kept` records (#stillServed),
   * asking the location only when the repository published its index again since that was last
   * found. A repository that signs a package again is taken to publish its index again as another
   * file (the signature over it, its time), even when its lines do not change: under the index
   * this build read, a package found served, or downloaded, once is not asked about again, so a
   * warm build sends nothing for its packages while the index stays the same file. A file replaced
   * under an index made again byte for byte (the same key and time) goes unnoticed until the
   * index changes; a lock, which names each signature, does not depend on this.
   */
  async #servedNow(p: LockedPackage, kept: LockedRanges): Promise<boolean> {
    const { signature } = kept;
    if (signature === undefined) return true;
    const { cache } = this.#options;
    const record = this.#servedRecord(p, signature.checksum);
    if (cache !== undefined && record !== undefined) {
      const held = await cache.get(record.key);
      if (held !== undefined && new TextDecoder().decode(held) === record.text) return true;
    }
    const asked = `${p.url} ${signature.checksum}`;
    if (this.#notServed.has(asked)) return false;
    if (!(await this.#stillServed(p, kept))) {
      this.#notServed.add(asked);
      return false;
    }
    await this.#noteServed(p, kept);
    return true;
  }

  /** Records that `p.url` serves the file whose members `kept` gives under the index this build read (#servedNow). */
  async #noteServed(p: LockedPackage, kept: LockedRanges): Promise<void> {
    const { cache } = this.#options;
    const record = kept.signature === undefined ? undefined : this.#servedRecord(p, kept.signature.checksum);
    // Not recorded, the package is asked about again by the next build: nothing else is lost.
    if (cache !== undefined && record !== undefined) await cache.put(record.key, new TextEncoder().encode(record.text)).catch(() => {});
  }

  /**
   * The cache's key and text of the record that `p.url` served the file of `signature` (its
   * signature member's checksum; its Q1 and size name the rest) under the index this build read
   * for its folder. None when no index, or two different ones, were read for it (a build from a
   * lock that its indexes do not vouch for): its packages are then asked about each time.
   */
  #servedRecord(p: LockedPackage, signature: string): { key: string; text: string } | undefined {
    const url = urlWithoutUserInfo(p.url);
    const index = this.#indexes.get(url.slice(0, url.lastIndexOf('/')));
    if (index === undefined || index === '') return undefined;
    return { key: `apk-served:${apkFileKey(p.checksum, p.url, this.#options.baseDir)}`, text: `${index} ${signature}\n` };
  }

  /**
   * Whether the file `p.url` serves now begins with the signature member `kept` records, so that a
   * cached copy may stand for it: the rest of the file is the control member its Q1 names and the
   * data member that names, and its size is the index's. Reads that member's bytes alone (a few
   * hundred) from the location. A package with no signature member is its control and data alone.
   * A location that cannot be read, or that serves a shorter file, is another file: the download
   * then says why.
   */
  async #stillServed(p: LockedPackage, kept: LockedRanges): Promise<boolean> {
    const { signature } = kept;
    if (signature === undefined) return true;
    const where = safeLocation(p.url);
    const m = /^bytes=0-(\d+)$/.exec(signature.range);
    if (m === null) return false;
    const length = Number(m[1]) + 1;
    const { baseDir, signal } = this.#options;
    try {
      const hash = createHash('sha1');
      if (isRemote(p.url)) {
        let left = length;
        // Stopped, and the connection dropped, once the member is read.
        for await (const chunk of streamFile(this.#fetchUrl(p.url), { baseDir, signal })) {
          hash.update(chunk.subarray(0, left));
          left -= Math.min(left, chunk.length);
          if (left === 0) break;
        }
        if (left > 0) return false;
      } else hash.update(await readAt(localPath(p.url, baseDir), 0, length, where));
      return `sha1-${hash.digest('base64')}` === signature.checksum;
    } catch (err) {
      if (isProvenantError(err, 'ABORTED')) throw err;
      return false;
    }
  }

  /** The package's `.PKGINFO` (depend, provides, install_if), as its index entry would make it a candidate. */
  fetchedCandidate(fetched: FetchedPackage<ApkFetched>): Candidate {
    const where = safeLocation(fetched.locked.url);
    // Untagged, from no repository: which one a package no index lists comes from is the caller's to say.
    const { candidates, skipped } = apkCandidates([fetched.package.info], '', '', 0, where);
    const [made] = candidates;
    if (made === undefined) {
      throw new ProvenantError('INVALID_PACKAGE', skipped[0]?.reason ?? `${fetched.locked.name}: malformed .PKGINFO`, { where });
    }
    const { info, repository, ...candidate } = made;
    return candidate;
  }

  /** apk's install order: dependencies (by name or by what a package provides) before dependents. */
  installOrder(packages: readonly ApkFetched[]): ApkFetched[] {
    const byName = new Map<string, ApkFetched>();
    const provides = new Map<string, ApkFetched>();
    for (const p of packages) {
      byName.set(p.info.name, p);
      for (const pr of p.info.provides) provides.set(pr.replace(/[<>=~].*$/, ''), p);
    }
    return dependencyOrder(
      packages,
      (p) => p.info.name,
      (p) =>
        p.info.depends
          .filter((d) => !d.startsWith('!'))
          .map((d) => d.replace(/[<>=~@].*$/, ''))
          .map((n) => byName.get(n) ?? provides.get(n)),
    );
  }

  async install(
    tree: Tree,
    packages: readonly ApkFetched[],
    arch: string,
    times: InstallTimes,
    spill?: SpilledFiles,
  ): Promise<InstalledPackage[]> {
    baseLayout(tree, times.mtime);
    const installed: InstalledApk[] = [];
    // With files kept out of the tree, nothing a package installs is replaced later (spill.ts
    // refuses that), so each package's part of the installed database is final once it is
    // installed: written out then, and its file list dropped.
    const database = await spill?.body();
    const part = new ByteBuilder();
    // Who gave a file decides what a later package giving it does (apk-tools' rules).
    const byName = new Map<string, ApkPackageInfo>();
    for (const { info, pkg } of packages) {
      const record = installApk(tree, info, pkg, { mtime: times.clamp, spill, installed: byName });
      byName.set(info.name, info);
      installed.push(record);
      if (spill === undefined || database === undefined) {
        // Handed over: the tree holds what the rest of the build needs of each entry, and a
        // header per file of the image, kept until the build ends, is what grew its memory.
        pkg.entries = [];
        continue;
      }
      // The package stays whole: the build may yet install again into a tree alone, and its
      // inventory reads the entries again.
      await spill.endRun(info.name);
      part.clear();
      installedStanza(part, record);
      await database.append(part.bytes());
      record.files = new ApkFiles();
      record.inventoryFiles = entriesInventory(pkg.entries);
      // What installing the package made is garbage now, but for its few folders and links in the tree.
      noteRecordsDropped(countEntries(pkg.entries));
    }
    // A file a later package replaced belongs to that package alone, as in apk-tools' database.
    if (spill === undefined) {
      for (const record of installed) {
        const { files } = record;
        files.retain((i) => files.type(i) === 'dir' || tree.get(tree.resolveParent(files.path(i)))?.owner === record.info.name);
      }
    }
    await writeApkDatabase(tree, installed, {
      world: this.#options.packages,
      // The image's own /etc/apk/repositories, without the credentials a repository was given with:
      // an image is published, and they are the build's, not its users' (--compat apko writes
      // apko's lines as they are).
      repositories: this.#imageRepositories.map((r) => ({ ...r, url: urlWithoutUserInfo(r.url) })),
      arch,
      keyring: this.#keyring,
      mtime: times.mtime,
      installed: database?.finish(),
    });
    return inventoryOfApks(
      installed,
      packages.map((p) => p.sha256),
    );
  }

  /**
   * apko compatibility (`--compat apko`): the order apko installs a resolved set in, for the
   * locked world `name=version` (../builder/apko.ts keeps a lock's order instead, as apko does).
   */
  apkoOrder(world: readonly string[], packages: readonly ApkFetched[]): ApkFetched[] {
    return apkoInstallOrder(world, packages);
  }

  /**
   * apko compatibility: initialises apk's database and installs `packages` in the order given,
   * with apko's rules (./apko-install.ts), into `fs`.
   *
   * @returns the inventory records, and apko's database records, in install order
   */
  installApko(
    fs: ApkoFs,
    packages: readonly ApkFetched[],
    arch: string,
    options: { world: readonly string[]; repositories: readonly string[]; sourceDateEpoch: number },
  ): { installed: InstalledPackage[]; records: ApkoInstalledRecord[] } {
    // apko writes the keys of the sorted, unique keyring entries, each under its file name.
    const entries = [...new Set(this.#options.keyring)].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const keys = entries.map((k) => ({ name: basename(k), content: new TextEncoder().encode(this.#keyring.pem(basename(k)) ?? '') }));
    apkoInitDb(fs, { arch, keys, repositories: options.repositories, world: options.world });
    const records = apkoInstall(fs, packages, { sourceDateEpoch: options.sourceDateEpoch });
    const installed = packages.map(({ info, pkg }, i): InstalledApk => {
      const files = new ApkFiles();
      for (const f of records[i]?.files ?? []) {
        const sha1 =
          f.checksum === undefined
            ? undefined
            : f.checksum.startsWith('Q1')
              ? Buffer.from(f.checksum.slice(2), 'base64').toString('hex')
              : f.checksum;
        files.push({ path: f.path, type: f.type, mode: f.mode, uid: f.uid, gid: f.gid, sha1 });
      }
      return { info, pkg, files };
    });
    return {
      installed: inventoryOfApks(
        installed,
        packages.map((p) => p.sha256),
      ),
      records,
    };
  }

  lockSources(archs: readonly string[]): LockSources {
    const { configPath } = this.#options;
    const locked = (lines: readonly string[] | undefined): LockRepository[] =>
      archs.flatMap((arch) =>
        (lines ?? [])
          .map((line) => parseRepository(line, configPath))
          .map((r) => urlWithoutUserInfo(r.url))
          .map((url) => ({ name: joinLocation(url, arch), url: joinLocation(url, arch, 'APKINDEX.tar.gz'), architecture: arch })),
      );
    const build = locked(this.#options.buildRepositories);
    const runtime = locked(this.#options.runtimeRepositories);
    return {
      // Every location without its user info: the lock is committed, and credentials are the configuration's.
      keyring: this.#options.keyring.map((k) => ({
        name: urlWithoutUserInfo(k),
        url: urlWithoutUserInfo(k),
        content: this.#keyring.pem(basename(k)),
      })),
      repositories: locked(this.#options.repositories),
      // As apko's lock has them (internal/cli/lock.go); absent when there are none, so that what
      // is keyed by the sources of a configuration without them (./builder/memo.ts) stays the same.
      ...(build.length === 0 ? {} : { buildRepositories: build }),
      ...(runtime.length === 0 ? {} : { runtimeRepositories: runtime }),
    };
  }

  keys(): { name: string; pem: string }[] {
    return this.#keyring.names().map((name) => ({ name, pem: this.#keyring.pem(name) ?? '' }));
  }
}

/**
 * The inventory records of installed apks, `fileSha256` each one's .apk SHA-256 (in the same
 * order) where known. Dependencies are resolved by apkDependencies (./inventory.ts), as they are
 * for an image read back, so that both SBOMs agree.
 */
function inventoryOfApks(installed: readonly InstalledApk[], fileSha256: readonly (string | undefined)[]): InstalledPackage[] {
  const deps = apkDependencies(installed.map(({ info }) => info));
  return installed.map(({ info, pkg, files, inventoryFiles }, i) => {
    const record: InstalledPackage = {
      ...apkInventoryPackage(info, deps[i] ?? [], { fileSha256: fileSha256[i] }),
      files: [],
      label: `${info.name}-${info.version}`,
      installedSize: info.installedSize,
      skippedScripts: [...pkg.scripts.keys()].sort(),
    };
    // Made each time it is read, from the paths and SHA-1 bytes alone (or the package's entries).
    return filesOnDemand(record, inventoryFiles ?? files.inventoryFiles());
  });
}

/** What the cache keeps of a verified package besides its entries (see ../unpacked.ts). */
interface ApkKept {
  info: ApkPackageInfo;
  pkg: Omit<ApkPackage, 'entries' | 'dataTar'>;
  ranges: LockedRanges;
  sha256: string;
}

/**
 * What a package of `checksum` (its Q1) is kept unpacked under: the identity, and how its entries
 * were read. Owners are read from the ustar fields as apk-tools reads them (./tarfiles.ts); a
 * package an older version kept with PAX owners applied is missed, and read again.
 */
function keptKey(checksum: string): string {
  return `apk:${checksum}:ustar-owners`;
}

/**
 * The download cache's key of the .apk of `checksum` (its Q1) that `location` serves. The Q1 covers
 * the control member only, not the signature: two repositories (a mirror re-signed, a test key)
 * serve the same package as other files, and the provenance names a file by its location and
 * SHA-256, so a file cached from one location never stands for another's. The location is a URL
 * without user info (the same file for any credentials), or a local file's absolute path.
 */
export function apkFileKey(checksum: string, location: string, baseDir: string | undefined): string {
  return `apk:${checksum} ${isRemote(location) ? urlWithoutUserInfo(location) : localPath(location, baseDir)}`;
}

/**
 * Whether a lock entry pins the package's signature member: one from a lock does (apko's lock
 * records it), one resolved from an index does not, as the index's `Q1` covers the control member
 * alone.
 */
function pinsSignature(p: LockedPackage): boolean {
  return recordedChecksum(p, 'signature') !== undefined;
}

/** A package from a lock that no verified index lists, and no trusted key signed. */
function unvouched(p: LockedPackage, where: string): ProvenantError {
  return new ProvenantError(
    'UNTRUSTED_KEY',
    `${where}: the lock names ${p.name}-${p.version}, which no verified index lists and no trusted key signed`,
    {
      where,
      hint: 'lock again (provenant lock) to pin what the repositories list now, or add the key that signs the package to contents.keyring',
    },
  );
}

/** Whether a file of `size` bytes may be the one the entry names: its index's size, when it gives one. */
function sizeFits(size: number | undefined, p: LockedPackage): boolean {
  return p.size === undefined || size === p.size;
}

/** A package file must be the package its lock entry names, of the size its index gives. */
function checkIdentity(info: ApkPackageInfo, p: LockedPackage, where: string): void {
  if (info.name !== p.name || info.version !== p.version) {
    throw new ProvenantError('DIGEST_MISMATCH', `${where} is ${info.name}-${info.version}, not ${p.name}-${p.version}`, { where });
  }
  // The checksum does not cover the signature: a file signed again has the index's checksum and
  // another size, which would reach the installed database (apk-tools checks the size too).
  if (!sizeFits(info.size, p)) {
    throw new ProvenantError('DIGEST_MISMATCH', `${where} has ${info.size} bytes, not the ${p.size} its index gives`, {
      where,
      hint: 'the repository is being updated, or serves a file its index does not list; try again',
    });
  }
  // A lock names a package for one architecture; a noarch one serves every architecture.
  if (info.arch !== '' && info.arch !== 'noarch' && p.architecture !== '' && info.arch !== p.architecture) {
    throw new ProvenantError('DIGEST_MISMATCH', `${where} is built for ${info.arch}, not ${p.architecture}`, { where });
  }
}

type LockedRanges = Pick<LockedPackage, 'signature' | 'control' | 'data'>;

/**
 * The first part of a package (`signature`, `control` or `data`) whose checksum the lock entry
 * records otherwise than `found` has it. Only the checksums count: the `range` text is not held
 * against the file, as older apko wrote other offsets there (its range sizes were taken for
 * offsets) with the right checksums. A part the entry does not record (recordedChecksum) is not
 * checked.
 */
function rangeDiffering(p: LockedPackage, found: LockedRanges): keyof LockedRanges | undefined {
  for (const part of ['signature', 'control', 'data'] as const) {
    const recorded = recordedChecksum(p, part);
    if (recorded !== undefined && recorded !== found[part]?.checksum) return part;
  }
  return undefined;
}

/**
 * A package built from a lock must be the file the lock recorded, part by part: its `Q1` checksum
 * covers the control member alone, so a package signed again (by another trusted key) passes it,
 * and only the signature's checksum tells it from the one locked.
 *
 * @throws ProvenantError `DIGEST_MISMATCH` naming the package and the part
 */
function checkLockedRanges(p: LockedPackage, found: LockedRanges, where: string): void {
  const part = rangeDiffering(p, found);
  if (part === undefined) return;
  const actual = found[part];
  const what = actual === undefined ? `has no ${part}` : `has ${part} ${actual.range} with checksum ${actual.checksum}`;
  throw new ProvenantError('DIGEST_MISMATCH', `${where}: ${p.name}-${p.version} ${what}, the lock records ${p[part]?.checksum}`, {
    where,
    hint: 'the file is not the one locked (signed again, or changed under the same identity): lock again (provenant lock) if the new file is right',
  });
}

/** What the indexes of `read` listed and hold, all together. */
function sumRead(read: Iterable<IndexesRead>): IndexesRead {
  const sum: IndexesRead = { packages: 0, names: 0, fields: 0, text: 0, indexes: [] };
  for (const r of read) {
    sum.packages += r.packages;
    sum.names += r.names;
    sum.fields += r.fields;
    sum.text += r.text;
    sum.indexes.push(...r.indexes);
  }
  return sum;
}

/** `URL` or `@tag URL`. */
function parseRepository(text: string, where: string): { url: string; tag: string } {
  const m = /^@(\S+)\s+(\S+)$/.exec(text.trim());
  const repository = m === null ? { url: text.trim(), tag: '' } : { url: m[2] as string, tag: m[1] as string };
  // A URL that does not parse (a port out of range, say) is the configuration's mistake, said
  // here rather than as a failed download.
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(repository.url) && !URL.canParse(repository.url)) {
    throw new ProvenantError('INVALID_CONFIG', `the repository URL ${JSON.stringify(redactCredentials(repository.url))} is malformed`, {
      where,
      hint: 'write it as http(s)://HOST[:PORT]/PATH, with a port from 1 to 65535',
    });
  }
  return repository;
}

/**
 * `base` and then those of `added` it does not hold yet (once each), as apko takes the union of
 * two lists: a repository both name is read, and written, once. `base` is kept as written.
 */
function withAdded(
  base: readonly { url: string; tag: string }[],
  added: readonly { url: string; tag: string }[],
): { url: string; tag: string }[] {
  const seen = new Set(base.map((r) => `${r.tag} ${r.url}`));
  const out = [...base];
  for (const r of added) {
    const key = `${r.tag} ${r.url}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(r);
  }
  return out;
}

/** A byte range of the package and its checksum, as apko's lock records it. */
function rangeOf(bytes: Uint8Array, range: [number, number], algorithm: 'sha1' | 'sha256') {
  return lockRange(
    range,
    algorithm,
    createHash(algorithm)
      .update(bytes.subarray(range[0], range[1] + 1))
      .digest(),
  );
}

/** A byte range and the digest of its bytes, as apko's lock records them. */
function lockRange([start, end]: [number, number], algorithm: 'sha1' | 'sha256', digest: Uint8Array) {
  return { range: `bytes=${start}-${end}`, checksum: `${algorithm}-${Buffer.from(digest).toString('base64')}` };
}
