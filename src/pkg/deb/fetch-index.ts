/**
 * Fetching a suite's signed metadata for one architecture: the Release (InRelease, or Release
 * with Release.gpg), verified, then the Packages index of each component, checked against it.
 *
 * Downloads are cached by content digest in a {@link DownloadCache}; the decompressed Packages is
 * cached too, under the SHA-256 the Release gives for the uncompressed file, so a build that finds
 * it there skips both the download and the decompression (apt keeps its lists the same way).
 */
import { join } from 'node:path';
import { ProvenantError, throwIfAborted } from '../../errors.ts';
import { RefusedFile, readRegularFileSync } from '../../io/files.ts';
import { digestHex, digestOf } from '../../oci/digest.ts';
import { readCacheFile } from '../cache-files.ts';
import { DownloadCache, type FetchFileOptions, fetchFile, joinLocation, listedSize, safeLocation } from '../fetch.ts';
import { DEBIAN_ARCHIVE_KEYRING, type DebKeyring, type DebSigner, LazyDebKeyring, verifySignedText } from './keyring.ts';
import {
  cacheablePackagesFile,
  checkReleaseFile,
  type DebRelease,
  type DebReleaseFileSha256,
  keepPackagesFile,
  keptPackagesKey,
  type PackagesFile,
  readRelease,
  selectPackagesFile,
  verifiedPackagesBytes,
} from './release.ts';
import { damagedKeptFile, parseDebStanzas } from './stanza-index.ts';
import { indexTooLarge, MAX_PACKAGES_INDEX_SIZE } from './xz.ts';

const utf8 = new TextDecoder('utf-8');

/**
 * The most an InRelease, Release or Release.gpg may hold: apt's `Acquire::MaxReleaseFileSize`
 * (10,000,000 bytes; Debian's InRelease is about 150 KB). They are read whole before their
 * signature is checked, so what a mirror (or anyone on the way) sends must stop somewhere short
 * of the 2 GiB any download may be.
 */
export const MAX_RELEASE_FILE_SIZE = 10_000_000;

/** Options of the fetch of a Release file: stops at {@link MAX_RELEASE_FILE_SIZE}, with `TOO_LARGE`. */
function releaseFetch(signal: AbortSignal | undefined): FetchFileOptions {
  return {
    signal,
    maxBytes: MAX_RELEASE_FILE_SIZE,
    tooLarge: (where, max) =>
      new ProvenantError(
        'TOO_LARGE',
        `${where} is larger than ${max} bytes, the most a Release file may be (as apt's Acquire::MaxReleaseFileSize)`,
        {
          where,
          hint: 'check the repository URL: a Debian Release file is a few hundred KB',
        },
      ),
  };
}

/** Options of {@link fetchDebianIndex}. */
export interface FetchDebianIndexOptions {
  /** The archive's base URL (`dists/` is under it), or a path or file:// URL of a local copy. */
  url: string;
  suite: string;
  components: readonly string[];
  arch: string;
  /** The trusted keys; {@link DEBIAN_ARCHIVE_KEYRING} by default. */
  keyring?: DebKeyring | LazyDebKeyring | undefined;
  /** A folder for the content-addressed download cache; no caching without it. */
  cacheDir?: string | undefined;
  /** `by-hash=`: `yes` (default) uses by-hash URLs when the Release offers them, `force` always, `no` never. */
  byHash?: 'yes' | 'no' | 'force' | undefined;
  /** See {@link ReadReleaseOptions.checkValidUntil}. */
  checkValidUntil?: boolean | undefined;
  /** See {@link ReadReleaseOptions.allowUnsigned}. */
  allowUnsigned?: boolean | undefined;
  /** The time to check `Valid-Until` against. Now by default. */
  now?: Date | undefined;
  signal?: AbortSignal | undefined;
  /** Told of each file as it is read: from the network or the cache. */
  onProgress?: ((update: { file: string; url: string; cached: boolean }) => void) | undefined;
}

/** A file the index was read from, for provenance. */
export interface DebIndexSource {
  /** The URL as fetched (without credentials). */
  url: string;
  /** Lowercase hex. */
  sha256: string;
  size: number;
}

/** One component's Packages index. */
export interface DebPackagesIndex {
  component: string;
  arch: string;
  /** The Packages file read, as the Release lists it (its URL is the plain path, not by-hash). */
  file: DebIndexSource & { path: string };
  /** The verified file, uncompressed (read from `path` when first asked for). */
  readonly bytes: Uint8Array;
  /** Its length. */
  size: number;
  /**
   * Where the cache keeps it, when it came from there: it was checked against the Release when
   * it was stored, under the SHA-256 the Release gives, and is read since a stanza at a time,
   * each checked against the CRC-32 its stanza index recorded (see `keptFile`).
   */
  path: string | undefined;
  /** Lowercase hex SHA-256 of `bytes`. */
  sha256: string;
  /**
   * The stanzas, field names lowercased: parsed from `bytes` when first read, a piece at a time
   * (never the whole file's text).
   *
   * @throws ProvenantError `INVALID_PACKAGE` for a malformed line; `TOO_LARGE` for more than
   *   1,000,000 stanzas (MAX_PACKAGES_STANZAS), as a build refuses them
   */
  readonly packages: Record<string, string>[];
}

/** What {@link fetchDebianIndex} read. */
export interface DebianIndex {
  release: DebRelease;
  /** Per component, in the order asked. */
  indexes: DebPackagesIndex[];
  /** Every stanza of every component, in order (parsed when first read; throws as {@link DebPackagesIndex.packages}). */
  readonly packages: Record<string, string>[];
  /** The Release and each Packages file, with their SHA-256, for provenance. */
  files: DebIndexSource[];
}

/**
 * Fetches, verifies and parses a suite's Release and the Packages index of each component for one
 * architecture. The Release is always fetched (it is what says which index is current); the
 * indexes come from the cache when it holds them, checked against the Release as if downloaded.
 *
 * With a cache, a Release older than the newest this cache has seen for the same repository URL,
 * suite and keyring is refused (see {@link checkNotOlder}).
 *
 * @throws ProvenantError as {@link readRelease} and {@link readPackagesIndex}; `SIGNATURE` for a
 *   Release older than one seen before; `UNTRUSTED_KEY` for a Release with no signature (no
 *   InRelease, no Release.gpg); `NOT_FOUND` when the suite or an index does not exist; `NETWORK`
 *   when the mirror cannot be reached; `ABORTED`
 */
export async function fetchDebianIndex(options: FetchDebianIndexOptions): Promise<DebianIndex> {
  const { url, suite, arch, signal } = options;
  const cache = options.cacheDir === undefined ? undefined : new DownloadCache(options.cacheDir);
  const keyring = options.keyring ?? (await LazyDebKeyring.read([DEBIAN_ARCHIVE_KEYRING], { signal }));
  const dists = joinLocation(url, 'dists', suite);
  const progress = options.onProgress ?? (() => {});

  let releaseBytes: Uint8Array;
  let releaseUrl = joinLocation(dists, 'InRelease');
  let detachedSignature: { bytes: Uint8Array; where: string } | undefined;
  try {
    releaseBytes = await fetchFile(releaseUrl, releaseFetch(signal));
  } catch (err) {
    if (!(err instanceof ProvenantError) || err.code !== 'NOT_FOUND') throw err;
    // Older or simpler repositories publish only Release and its detached Release.gpg.
    releaseUrl = joinLocation(dists, 'Release');
    try {
      releaseBytes = await fetchFile(releaseUrl, releaseFetch(signal));
    } catch (err2) {
      if (err2 instanceof ProvenantError && err2.code === 'NOT_FOUND') {
        throw new ProvenantError('NOT_FOUND', `the suite ${suite} has neither InRelease nor Release`, {
          where: safeLocation(dists),
          cause: err2,
          hint: 'check the URL and the suite name',
        });
      }
      throw err2;
    }
    const signatureUrl = joinLocation(dists, 'Release.gpg');
    const signature = await fetchFile(signatureUrl, releaseFetch(signal)).catch((err3: unknown) => {
      if (!(err3 instanceof ProvenantError) || err3.code !== 'NOT_FOUND') throw err3;
      if (options.allowUnsigned === true) return undefined;
      // A Release with neither InRelease nor Release.gpg: apt says "The repository ... is not signed".
      throw new ProvenantError(
        'UNTRUSTED_KEY',
        `the suite ${suite} is not signed: it has a Release but neither InRelease nor Release.gpg`,
        {
          where: safeLocation(releaseUrl),
          cause: err3,
          hint: 'apt refuses an unsigned repository too: the repository must publish an InRelease, or a Release.gpg, signed by a key of the keyring',
        },
      );
    });
    detachedSignature = signature === undefined ? undefined : { bytes: signature, where: safeLocation(signatureUrl) };
  }
  progress({ file: releaseUrl.slice(dists.length + 1), url: safeLocation(releaseUrl), cached: false });
  const now = options.now ?? new Date();
  // Hashed once, from the network: the key of the kept signature check and the Release's digest.
  const sha256 = digestHex(digestOf(releaseBytes));
  const verified =
    cache === undefined || options.allowUnsigned === true || keyring.id === undefined
      ? undefined
      : await verifiedOnce(cache, keyring, { bytes: releaseBytes, sha256 }, detachedSignature, safeLocation(releaseUrl), now);
  const release = await readRelease(releaseBytes, keyring, safeLocation(releaseUrl), {
    sha256,
    detachedSignature: detachedSignature?.bytes,
    detachedSignatureWhere: detachedSignature?.where,
    suite,
    arch,
    now,
    checkValidUntil: options.checkValidUntil,
    allowUnsigned: options.allowUnsigned,
    verified,
  });
  if (cache !== undefined && release.signers.length > 0) await checkNotOlder(cache, { url, suite, keyring }, release);
  const files: DebIndexSource[] = [
    { url: safeLocation(releaseUrl), sha256: release.digest.slice('sha256:'.length), size: releaseBytes.length },
  ];
  const indexes: DebPackagesIndex[] = [];
  for (const component of options.components) {
    throwIfAborted(signal);
    const file = selectPackagesFile(release, component, arch);
    const where = safeLocation(joinLocation(dists, file.path));
    // Refused before it is fetched when the signed Release says it is too large to index.
    const listed = file.uncompressed?.entry.size;
    if (listed !== undefined && listed > MAX_PACKAGES_INDEX_SIZE) throw indexTooLarge(where, listed);
    const add = (sha256: string, content: Uint8Array | { path: string; size: number }, packagesSha256: string): void => {
      const source = { url: where, sha256, size: file.entry.size, path: file.path };
      indexes.push(packagesIndex(component, arch, source, content, packagesSha256, where));
      files.push({ url: source.url, sha256: source.sha256, size: source.size });
    };
    // Undefined for a Release that lists only SHA-512s: its files are checked against those,
    // without the cache (see cacheablePackagesFile), and its provenance gives the SHA-256 of the
    // files so checked.
    const cacheable = cacheablePackagesFile(file);
    // The uncompressed file's entry, when the Release lists it.
    const plain = cacheable?.uncompressed;
    // The decompressed index, under the SHA-256 the signed Release gives it: checked against it
    // when it was stored, and each stanza read from it against its stanza index (see keptFile).
    const kept = cache === undefined || plain === undefined ? undefined : await keptFile(cache, plain.entry);
    if (cacheable !== undefined && kept !== undefined && plain !== undefined) {
      progress({ file: plain.path, url: where, cached: true });
      add(cacheable.entry.sha256, kept, plain.entry.sha256);
      continue;
    }
    const into = cache === undefined || cacheable === undefined ? undefined : { cache, entry: cacheable.entry };
    const compressed = await fetchIndexFile(file, release, dists, into, options, progress);
    const sha256 = cacheable?.entry.sha256 ?? digestHex(digestOf(compressed));
    if (cacheable !== undefined && cache !== undefined && plain !== undefined && file.compression !== 'none') {
      // Decompressed into the cache as it is decoded, then read as a kept one is.
      const kept = await keepPackagesFile(compressed, release, { ...cacheable, uncompressed: plain }, cache, { where, signal });
      add(sha256, kept, plain.entry.sha256);
      continue;
    }
    const packagesBytes = await verifiedPackagesBytes(compressed, release, file, { where, signal });
    if (cache !== undefined && plain !== undefined && packagesBytes !== compressed)
      await cache.put(`sha256:${plain.entry.sha256}`, packagesBytes);
    throwIfAborted(signal);
    // The uncompressed file's digest, from the Release when it lists one (it was checked).
    add(sha256, packagesBytes, plain?.entry.sha256 ?? digestHex(digestOf(packagesBytes)));
  }
  let packages: Record<string, string>[] | undefined;
  return {
    release,
    indexes,
    get packages() {
      packages ??= indexes.flatMap((i) => i.packages);
      return packages;
    },
    files,
  };
}

/** What the cache keeps of a Release's signature check. */
interface KeptVerification {
  text: string;
  signers: DebSigner[];
  /** When the first of the good signatures stops being good (ms since the epoch), or null when none does. */
  expires: number | null;
}

/**
 * The Release's signature check, done once per Release and keyring: its outcome is kept in the
 * cache under the SHA-256 of the Release's bytes (and of its detached signature) and of the
 * keyring's files, until the first good signature stops being good (its own expiry, or its
 * signing key's). A warm build then fetches the InRelease
 * (which says whether the indexes changed) but does not load openpgp.js to check it again.
 *
 * @throws ProvenantError as {@link verifySignedText}
 */
async function verifiedOnce(
  cache: DownloadCache,
  keyring: DebKeyring | LazyDebKeyring,
  release: { bytes: Uint8Array; sha256: string },
  detached: { bytes: Uint8Array; where: string } | undefined,
  where: string,
  now: Date,
): Promise<{ text: string; signers: DebSigner[] }> {
  const { bytes } = release;
  // v2: the expiry counts a signing subkey's own, not only its primary key's. v3: an InRelease
  // with text outside its signed message is refused (keyring.ts), so a check kept before is made again.
  // v4: blank lines around it, an unescaped dash line and an unframed Release.gpg are refused too.
  // v5: the expiry counts the signatures' own expiry too, not only their keys'.
  const key = `deb-release-verified:v5:${release.sha256}:${detached === undefined ? '-' : digestHex(digestOf(detached.bytes))}:${keyring.id}`;
  const kept = await cache.get(key).catch(() => undefined);
  if (kept !== undefined) {
    try {
      const v = JSON.parse(utf8.decode(kept)) as KeptVerification;
      if (typeof v.text === 'string' && Array.isArray(v.signers) && (v.expires === null || v.expires > now.getTime())) return v;
    } catch {
      // Not one: checked again below.
    }
  }
  const keys = keyring instanceof LazyDebKeyring ? await keyring.load() : keyring;
  const { text, signers, goodUntil } = await verifySignedText(bytes, keys, where, detached, now);
  // apt trusts the Release while one good signature is left: one past its own expiry (gpgv's
  // EXPSIG) or by a key expired since (EXPKEYSIG) is worthless, not bad, so the Release stops
  // being trusted when the last good one lapses. But the kept check also names the signers (a
  // provenance records them), which change when the first lapses: so it is kept until then, and
  // made again from then on, which finds the signatures still good, or refuses the Release after
  // the last, as apt would.
  let expires: number | null = null;
  for (const at of goodUntil) if (at !== undefined && (expires === null || at.getTime() < expires)) expires = at.getTime();
  const record: KeptVerification = { text, signers, expires };
  await cache.put(key, new TextEncoder().encode(JSON.stringify(record))).catch(() => {});
  return { text, signers };
}

/** What the cache keeps of the newest Release seen for a repository, suite and keyring. */
interface NewestRelease {
  /** Its `Date`, as written. */
  date: string;
  /** The same, in ms since the epoch. */
  time: number;
}

/**
 * Refuses a Release older than one seen before for the same repository, suite and keyring, and
 * remembers this one when it is newer. A Release without `Valid-Until` (Debian's bookworm and
 * bookworm-updates have none) stays validly signed for ever, so a mirror, or anyone between, could
 * otherwise serve an old one and hide the updates made since; apt keeps the newer of two Releases
 * for the same reason. The record is kept in the cache (written to a temporary name and renamed).
 * Pointing at an older snapshot on purpose means another URL (a snapshot archive's has the
 * time in it), which has a record of its own.
 *
 * @throws ProvenantError `SIGNATURE` when the Release is older than the newest seen
 */
async function checkNotOlder(
  cache: DownloadCache,
  source: { url: string; suite: string; keyring: DebKeyring | LazyDebKeyring },
  release: DebRelease,
): Promise<void> {
  const time = new Date(release.date).getTime();
  if (release.date === '' || Number.isNaN(time)) return;
  const keyring =
    source.keyring.id ??
    (source.keyring as DebKeyring).keys
      .map((k) => k.getFingerprint())
      .sort()
      .join(',');
  const key = `deb-release-newest:v1:${safeLocation(source.url).replace(/\/+$/, '')}\n${source.suite}\n${keyring}`;
  const kept = await cache.get(key).catch(() => undefined);
  let newest: NewestRelease | undefined;
  try {
    newest = kept === undefined ? undefined : (JSON.parse(utf8.decode(kept)) as NewestRelease);
  } catch {
    // Not one: this Release is taken as the newest.
  }
  if (newest !== undefined && typeof newest.time === 'number' && newest.time > time) {
    throw new ProvenantError(
      'SIGNATURE',
      `the Release is dated ${release.date}, older than the one read before from this repository (${newest.date}): the mirror went back in time, or an old Release is being replayed`,
      {
        where: release.where,
        hint: 'try another mirror; to build from an older snapshot on purpose, give its own URL (a snapshot archive URL, which names the time, is tracked apart) or use another cache folder',
      },
    );
  }
  if (newest === undefined || newest.time !== time) {
    const record: NewestRelease = { date: release.date, time };
    await cache.put(key, new TextEncoder().encode(JSON.stringify(record))).catch(() => {});
  }
}

/**
 * An index whose stanzas are parsed on first use: a build looks packages up by name instead
 * (`debCandidateIndex`), and most of Debian's 60,000 stanzas are never needed in full.
 */
function packagesIndex(
  component: string,
  arch: string,
  file: DebPackagesIndex['file'],
  content: Uint8Array | { path: string; size: number },
  sha256: string,
  where: string,
): DebPackagesIndex {
  let packages: Record<string, string>[] | undefined;
  let bytes = content instanceof Uint8Array ? content : undefined;
  const path = content instanceof Uint8Array ? undefined : content.path;
  return {
    component,
    arch,
    file,
    get bytes() {
      if (bytes === undefined) {
        // Read whole from the cache: checked whole, as the stanzas a build reads are one by one.
        let read: Uint8Array;
        try {
          read = readRegularFileSync(path as string);
        } catch (err) {
          // Not a regular file (a named pipe is never waited on): damaged, and made again as such.
          if (err instanceof RefusedFile) throw damagedKeptFile(path as string, sha256, where);
          throw err;
        }
        if (digestHex(digestOf(read)) !== sha256) throw damagedKeptFile(path as string, sha256, where);
        bytes = read;
      }
      return bytes;
    },
    size: content instanceof Uint8Array ? content.length : content.size,
    path,
    sha256,
    get packages() {
      // A piece at a time (parseDebStanzas), as a build indexes them: never the whole file's text.
      packages ??= parseDebStanzas(this.bytes, where);
      return packages;
    },
  };
}

/**
 * The cache's decompressed Packages file of the SHA-256 `entry` gives, when its key says it was
 * kept with that digest and the file has that size. It is not read through here (50 MB for
 * Debian main, 20-30 ms a warm build): its stanza index is made from it checked against the
 * SHA-256, and keeps each stanza's CRC-32, which every stanza read from the file is checked
 * against (./stanza-index.ts, `checkStanza`). A damaged file then fails the lookup, naming the
 * stanza, rather than giving another image; a build drops it and reads the index again
 * (../../builder/plan.ts). Only a SHA-256 of what is read would also catch a
 * file rewritten on purpose, by someone who can write the cache and so its index as well
 * (docs/build.md, "Caches").
 */
async function keptFile(cache: DownloadCache, entry: DebReleaseFileSha256): Promise<{ path: string; size: number } | undefined> {
  const kept = await cache.locate(keptPackagesKey(entry.sha256));
  return kept !== undefined && kept.sha256 === entry.sha256 && kept.size === entry.size ? { path: kept.path, size: kept.size } : undefined;
}

/**
 * The compressed index file, from the cache or the mirror, checked against the Release; through
 * `cached.cache`, under the SHA-256 of `cached.entry` (see cacheablePackagesFile), when given.
 */
async function fetchIndexFile(
  file: PackagesFile,
  release: DebRelease,
  dists: string,
  cached: { cache: DownloadCache; entry: DebReleaseFileSha256 } | undefined,
  options: FetchDebianIndexOptions,
  progress: NonNullable<FetchDebianIndexOptions['onProgress']>,
): Promise<Uint8Array> {
  const plainUrl = joinLocation(dists, file.path);
  if (cached !== undefined) {
    const blob = await readCachedBlob(cached.cache, cached.entry);
    if (blob !== undefined) {
      progress({ file: file.path, url: safeLocation(plainUrl), cached: true });
      return blob;
    }
  }
  const byHash = options.byHash ?? 'yes';
  const dir = file.path.slice(0, file.path.lastIndexOf('/'));
  // by-hash names the file by its content, so a mirror in the middle of an update cannot give
  // the new Packages for the old Release (the Debian wiki's DebianRepository/Format page, "indices acquisition via hashsums").
  const candidates =
    byHash === 'force' || (byHash === 'yes' && release.acquireByHash)
      ? [
          file.entry.sha256 === undefined
            ? joinLocation(dists, dir, 'by-hash', 'SHA512', file.entry.sha512 ?? '')
            : joinLocation(dists, dir, 'by-hash', 'SHA256', file.entry.sha256),
          ...(byHash === 'force' ? [] : [plainUrl]),
        ]
      : [plainUrl];
  let bytes: Uint8Array | undefined;
  let lastError: unknown;
  for (const candidate of candidates) {
    try {
      // Through the cache, the index is written as it arrives (Debian main's is about 9 MB) and a
      // download cut short is resumed by the next run; either way it stops as soon as it passes
      // the size the Release gives, and is checked against the Release.
      bytes =
        cached === undefined
          ? await fetchFile(candidate, { signal: options.signal, ...listedSize(file.entry.size, 'the Release gives it') })
          : await cached.cache.download(
              candidate,
              { sha256: cached.entry.sha256, size: cached.entry.size },
              { signal: options.signal, ...listedSize(file.entry.size, 'the Release gives it') },
            );
      progress({ file: file.path, url: safeLocation(candidate), cached: false });
      break;
    } catch (err) {
      // A by-hash file is removed some time after its Release is replaced; fall back as apt does.
      if (!(err instanceof ProvenantError) || err.code !== 'NOT_FOUND') throw err;
      lastError = err;
    }
  }
  if (bytes === undefined) throw lastError;
  checkReleaseFile(bytes, release, file.path, safeLocation(plainUrl));
  return bytes;
}

/**
 * A blob of the cache by its SHA-256 (DownloadCache keeps files under `dir/sha256/<hex>`), checked
 * here against the Release's size and digest: one hash of the content rather than the cache's
 * own check and ours.
 */
async function readCachedBlob(cache: DownloadCache, entry: DebReleaseFileSha256): Promise<Uint8Array | undefined> {
  let bytes: Uint8Array;
  try {
    // Refused unless a regular file (a named pipe is never waited on): a miss, fetched again.
    bytes = await readCacheFile(join(cache.dir, 'sha256', entry.sha256));
  } catch {
    return undefined;
  }
  return bytes.length === entry.size && digestHex(digestOf(bytes)) === entry.sha256 ? bytes : undefined;
}
