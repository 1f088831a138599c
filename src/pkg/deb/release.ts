/**
 * A Debian repository's signed metadata: `dists/SUITE/InRelease` (or `Release` with a detached
 * `Release.gpg`), and the `Packages` indexes it lists.
 *
 * The chain of trust is apt's (the Debian wiki's DebianRepository/Format page): the Release file
 * is OpenPGP-signed by a key of the repository's keyring; its SHA256 section lists every index
 * file with its size and SHA-256; each Packages stanza lists a .deb's SHA-256. Here the signature
 * is checked with openpgp.js against the keyring, the Release's `Valid-Until`, suite and
 * architectures are checked, and an index file is checked against the Release (size, then
 * SHA-256) before it is decompressed, so no unverified byte reaches the xz decoder.
 *
 * Downloads are cached by content digest in a {@link DownloadCache}; the decompressed Packages is
 * cached too, under the SHA-256 the Release gives for the uncompressed file, so a build that finds
 * it there skips both the download and the decompression (apt keeps its lists the same way).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createMessage, type PublicKey, readCleartextMessage, readKeys, readSignature, verify } from 'openpgp';
import { ProvenantError, throwIfAborted } from '../../errors.ts';
import { DownloadCache, fetchFile, joinLocation, safeLocation } from '../fetch.ts';
import { parseControlStanzas } from './control.ts';
import { decompressIndex, type IndexCompression } from './xz.ts';

/** Debian's archive keyring as the `debian-archive-keyring` package installs it. */
export const DEBIAN_ARCHIVE_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** OpenPGP public keys trusted to sign a repository's Release. */
export class DebKeyring {
  /** The keys, in the order they were read. */
  readonly keys: readonly PublicKey[];
  /** The files (or other labels) the keys were read from. */
  readonly sources: readonly string[];

  constructor(keys: readonly PublicKey[], sources: readonly string[] = []) {
    this.keys = keys;
    this.sources = sources;
  }

  /**
   * Reads a keyring file's bytes: binary OpenPGP packets (`.gpg`, as `gpg --export` and
   * `debian-archive-keyring` write them) or an armored key block (`.asc`).
   *
   * @throws ProvenantError `UNTRUSTED_KEY` when the bytes hold no OpenPGP public key (a GnuPG
   *   keybox, say)
   */
  static async fromBytes(bytes: Uint8Array, where: string): Promise<DebKeyring> {
    const head = new TextDecoder().decode(bytes.subarray(0, 64)).trimStart();
    // A GnuPG keybox (pubring.kbx, `gpg --no-default-keyring --keyring x.gpg --import` output) has
    // "KBXf" at offset 8; apt cannot read those either.
    if (bytes[8] === 0x4b && bytes[9] === 0x42 && bytes[10] === 0x58 && bytes[11] === 0x66) {
      throw new ProvenantError('UNTRUSTED_KEY', 'the keyring is a GnuPG keybox, not OpenPGP keys', {
        where,
        hint: 'export it with: gpg --no-default-keyring --keyring FILE --export > keyring.gpg',
      });
    }
    try {
      const keys = head.startsWith('-----BEGIN PGP PUBLIC KEY BLOCK-----')
        ? await readKeys({ armoredKeys: new TextDecoder().decode(bytes) })
        : await readKeys({ binaryKeys: bytes });
      if (keys.length === 0) throw new Error('no key');
      return new DebKeyring(keys, [where]);
    } catch (err) {
      throw new ProvenantError('UNTRUSTED_KEY', `the keyring holds no OpenPGP public key: ${(err as Error).message}`, {
        where,
        cause: err,
      });
    }
  }

  /**
   * Reads keyring files (`signed-by=`), binary or armored, into one keyring; relative paths are
   * relative to `baseDir`.
   *
   * @throws ProvenantError `NOT_FOUND` for a missing file, `UNTRUSTED_KEY` for one that holds no key
   */
  static async load(
    paths: readonly string[],
    options: { baseDir?: string | undefined; signal?: AbortSignal | undefined } = {},
  ): Promise<DebKeyring> {
    const keys: PublicKey[] = [];
    for (const path of paths) {
      const bytes = await fetchFile(path, { baseDir: options.baseDir, signal: options.signal });
      keys.push(...(await DebKeyring.fromBytes(bytes, safeLocation(path))).keys);
    }
    return new DebKeyring(keys, paths.map(safeLocation));
  }

  /** True when a key of the keyring (a primary key or a subkey) has the 16-hex-digit key ID. */
  has(keyID: string): boolean {
    return this.keys.some((k) => k.getKeys().some((sub) => sub.getKeyID().toHex() === keyID));
  }
}

/** A key that made a good signature over the Release. */
export interface DebSigner {
  /** The ID of the (sub)key that signed, 16 hex digits. */
  keyID: string;
  /** The fingerprint of its primary key, lowercase hex. */
  fingerprint: string;
  /** The primary key's first user ID. */
  userID: string;
}

/** One file of the Release's SHA256 section. */
export interface DebReleaseFile {
  /** Lowercase hex. */
  sha256: string;
  size: number;
}

/** A verified, parsed Release file. */
export interface DebRelease {
  /** The bytes as fetched (InRelease with its signature, or Release). */
  bytes: Uint8Array;
  /** `sha256:<hex>` of {@link bytes}. */
  digest: string;
  /** Where it came from (a URL without credentials, or a path). */
  where: string;
  origin: string;
  label: string;
  suite: string;
  codename: string;
  version: string;
  /** `Date`, as written. */
  date: string;
  /** `Valid-Until`, when the Release has one. */
  validUntil: Date | undefined;
  architectures: string[];
  components: string[];
  /** `Acquire-By-Hash: yes`: index files are also published under `by-hash/SHA256/<hex>`. */
  acquireByHash: boolean;
  /** The SHA256 section: path relative to `dists/SUITE/` → size and SHA-256. */
  files: ReadonlyMap<string, DebReleaseFile>;
  /** Every field of the Release, names lowercased. */
  fields: Readonly<Record<string, string>>;
  /** The keys that made good signatures; empty only when unsigned content was allowed. */
  signers: DebSigner[];
}

/** Options of {@link readRelease}. */
export interface ReadReleaseOptions {
  /** `Release.gpg` (armored or binary) when `bytes` is a `Release` rather than an InRelease. */
  detachedSignature?: Uint8Array | undefined;
  /** The suite asked for: the Release's `Suite` or `Codename` must be this. */
  suite?: string | undefined;
  /** An architecture that the Release's `Architectures` must list. */
  arch?: string | undefined;
  /** The time to check `Valid-Until` and key expiry against. Now by default. */
  now?: Date | undefined;
  /** Check `Valid-Until` (on by default; snapshot mirrors serve expired Releases on purpose). */
  checkValidUntil?: boolean | undefined;
  /** Accept a Release whose signature does not verify (`trusted=yes`). Off by default. */
  allowUnsigned?: boolean | undefined;
}

const utf8 = new TextDecoder('utf-8');
/** openpgp.js does not export the type of one signature's outcome. */
type VerificationResult = Awaited<ReturnType<typeof verify>>['signatures'][number];

/**
 * Verifies and parses a Release: an InRelease (cleartext-signed), or a Release with
 * `options.detachedSignature`. The fields are read from the signed text only.
 *
 * A good signature by a key of the keyring is needed, and none by a key of the keyring may be bad
 * (as apt treats gpgv's BADSIG). Signatures by keys that are not in the keyring are ignored.
 *
 * @throws ProvenantError `SIGNATURE` when a signature by a key of the keyring does not verify (the
 *   text was changed), the data is not a signed message, or the Release is past its
 *   `Valid-Until`; `UNTRUSTED_KEY` when no key of the keyring signed it; `INVALID_PACKAGE` when
 *   the Release is malformed, has no SHA256 section or is for another suite; `NOT_FOUND` when it
 *   does not list `options.arch`
 */
export async function readRelease(
  bytes: Uint8Array,
  keyring: DebKeyring,
  where: string,
  options: ReadReleaseOptions = {},
): Promise<DebRelease> {
  const now = options.now ?? new Date();
  let text: string;
  let signers: DebSigner[] = [];
  try {
    const verified = await verifySignedText(bytes, keyring, where, options.detachedSignature, now);
    text = verified.text;
    signers = verified.signers;
  } catch (err) {
    if (options.allowUnsigned !== true || !(err instanceof ProvenantError)) throw err;
    text = await unverifiedText(bytes, options.detachedSignature !== undefined);
  }
  const stanza = parseControlStanzas(text, where)[0];
  if (stanza === undefined) throw new ProvenantError('INVALID_PACKAGE', 'the Release is empty', { where });
  const field = (name: string): string => stanza[name] ?? '';
  const release: DebRelease = {
    bytes,
    digest: `sha256:${sha256Hex(bytes)}`,
    where,
    origin: field('origin'),
    label: field('label'),
    suite: field('suite'),
    codename: field('codename'),
    version: field('version'),
    date: field('date'),
    validUntil: undefined,
    architectures: words(field('architectures')),
    components: words(field('components')),
    acquireByHash: field('acquire-by-hash').toLowerCase() === 'yes',
    files: parseSha256Section(stanza.sha256, where),
    fields: stanza,
    signers,
  };
  const validUntil = stanza['valid-until'];
  if (validUntil !== undefined) {
    const when = new Date(validUntil);
    if (Number.isNaN(when.getTime()))
      throw new ProvenantError('INVALID_PACKAGE', `the Release's Valid-Until ${JSON.stringify(validUntil)} is not a date`, { where });
    release.validUntil = when;
    if (options.checkValidUntil !== false && now.getTime() > when.getTime()) {
      // An expired Release is how a mirror that stopped updating (or an attacker replaying an old,
      // validly signed Release) shows; apt refuses it too.
      throw new ProvenantError('SIGNATURE', `the Release expired at ${when.toISOString()} (Valid-Until), before ${now.toISOString()}`, {
        where,
        hint: 'the mirror is stale; for a snapshot mirror, set check-valid-until=no on the repository entry',
      });
    }
  }
  if (options.suite !== undefined && options.suite !== release.suite && options.suite !== release.codename) {
    throw new ProvenantError(
      'INVALID_PACKAGE',
      `the Release is for suite ${JSON.stringify(release.suite)} (codename ${JSON.stringify(release.codename)}), not ${JSON.stringify(options.suite)}`,
      { where, hint: 'the mirror serves another suite under this name' },
    );
  }
  if (options.arch !== undefined && !release.architectures.includes(options.arch)) {
    throw new ProvenantError(
      'NOT_FOUND',
      `the repository does not publish the architecture ${options.arch} (it has ${release.architectures.join(', ')})`,
      {
        where,
      },
    );
  }
  return release;
}

/** The signed text and the keys of the keyring that made good signatures over it. */
async function verifySignedText(
  bytes: Uint8Array,
  keyring: DebKeyring,
  where: string,
  detached: Uint8Array | undefined,
  now: Date,
): Promise<{ text: string; signers: DebSigner[] }> {
  let text: string;
  let results: VerificationResult[];
  try {
    if (detached === undefined) {
      const message = await readCleartextMessage({ cleartextMessage: utf8.decode(bytes) });
      const out = await verify({ message, verificationKeys: [...keyring.keys], date: now });
      text = out.data;
      results = out.signatures;
    } else {
      const armored = utf8.decode(detached.subarray(0, 64)).trimStart().startsWith('-----BEGIN PGP SIGNATURE-----');
      const signature = armored
        ? await readSignature({ armoredSignature: utf8.decode(detached) })
        : await readSignature({ binarySignature: detached });
      const message = await createMessage({ binary: bytes });
      const out = await verify({ message, signature, verificationKeys: [...keyring.keys], date: now, format: 'binary' });
      text = utf8.decode(bytes);
      results = out.signatures;
    }
  } catch (err) {
    throw new ProvenantError('SIGNATURE', `the Release is not an OpenPGP-signed message: ${(err as Error).message}`, {
      where,
      cause: err,
      hint: 'the mirror may have answered with an error page or a partial file',
    });
  }
  const settled = await Promise.allSettled(results.map((r) => r.verified));
  const signers: DebSigner[] = [];
  const unknown: string[] = [];
  for (let i = 0; i < results.length; i++) {
    const result = results[i] as VerificationResult;
    const outcome = settled[i] as PromiseSettledResult<true>;
    const keyID = result.keyID.toHex();
    if (!keyring.has(keyID)) {
      unknown.push(keyID);
      continue;
    }
    if (outcome.status === 'rejected') {
      throw new ProvenantError(
        'SIGNATURE',
        `the Release's signature by key ${keyID} does not verify: ${(outcome.reason as Error).message}`,
        {
          where,
          cause: outcome.reason,
          hint: 'the Release was changed after it was signed, or the download is corrupt',
        },
      );
    }
    const primary = keyring.keys.find((k) => k.getKeys().some((sub) => sub.getKeyID().toHex() === keyID));
    signers.push({ keyID, fingerprint: primary?.getFingerprint() ?? '', userID: primary?.getUserIDs()[0] ?? '' });
  }
  if (signers.length === 0) {
    throw new ProvenantError(
      'UNTRUSTED_KEY',
      results.length === 0
        ? 'the Release carries no signature'
        : `no key of the keyring signed the Release (it is signed by ${unknown.join(', ')})`,
      { where, hint: `give the repository's keyring with signed-by=; trusted: ${keyring.sources.join(', ') || 'no keyring file'}` },
    );
  }
  return { text, signers };
}

/** The text of a Release whose signature is not checked (`trusted=yes`). */
async function unverifiedText(bytes: Uint8Array, detached: boolean): Promise<string> {
  const text = utf8.decode(bytes);
  if (detached || !text.trimStart().startsWith('-----BEGIN PGP SIGNED MESSAGE-----')) return text;
  return (await readCleartextMessage({ cleartextMessage: text })).getText();
}

/** Lines of `<sha256> <size> <path>`. */
function parseSha256Section(section: string | undefined, where: string): Map<string, DebReleaseFile> {
  if (section === undefined) {
    throw new ProvenantError('INVALID_PACKAGE', 'the Release has no SHA256 section', {
      where,
      hint: 'MD5Sum and SHA1 are not trusted; the repository must list SHA-256 checksums',
    });
  }
  const files = new Map<string, DebReleaseFile>();
  for (const line of section.split('\n')) {
    const t = line.trim();
    if (t === '') continue;
    const m = /^([0-9a-fA-F]{64})\s+(\d+)\s+(\S+)$/.exec(t);
    if (m === null)
      throw new ProvenantError(
        'INVALID_PACKAGE',
        `the Release's SHA256 line ${JSON.stringify(t.slice(0, 120))} is not "<sha256> <size> <path>"`,
        { where },
      );
    files.set(m[3] as string, { sha256: (m[1] as string).toLowerCase(), size: Number(m[2]) });
  }
  return files;
}

/**
 * Checks bytes against the Release's entry for `path`: the size, then the SHA-256.
 *
 * @throws ProvenantError `DIGEST_MISMATCH` when either differs; `NOT_FOUND` when the Release does
 *   not list `path`
 */
export function checkReleaseFile(bytes: Uint8Array, release: DebRelease, path: string, where: string): DebReleaseFile {
  const entry = release.files.get(path);
  if (entry === undefined) throw new ProvenantError('NOT_FOUND', `the Release does not list ${path}`, { where: release.where });
  if (bytes.length !== entry.size) {
    throw new ProvenantError('DIGEST_MISMATCH', `${path} is ${bytes.length} bytes, but the Release says ${entry.size}`, {
      where,
      hint: 'the download is truncated, or the mirror is being updated; try again',
    });
  }
  const actual = sha256Hex(bytes);
  if (actual !== entry.sha256) {
    throw new ProvenantError('DIGEST_MISMATCH', `${path} has SHA-256 ${actual}, but the Release says ${entry.sha256}`, {
      where,
      hint: 'the mirror is being updated or serves a corrupt file; try again',
    });
  }
  return entry;
}

/** The Packages index of a component and architecture that a Release lists, best compression first. */
export interface PackagesFile {
  /** Path under `dists/SUITE/`: `main/binary-amd64/Packages.xz`. */
  path: string;
  compression: IndexCompression;
  entry: DebReleaseFile;
  /** The uncompressed file's path and entry, when the Release lists it (Debian's do). */
  uncompressed: { path: string; entry: DebReleaseFile } | undefined;
}

/**
 * Chooses the Packages file of `component` and `arch`: `.xz`, else `.gz`, else uncompressed.
 *
 * @throws ProvenantError `NOT_FOUND` when the Release lists none
 */
export function selectPackagesFile(release: DebRelease, component: string, arch: string): PackagesFile {
  const base = `${component}/binary-${arch}/Packages`;
  const plain = release.files.get(base);
  const uncompressed = plain === undefined ? undefined : { path: base, entry: plain };
  for (const [suffix, compression] of [
    ['.xz', 'xz'],
    ['.gz', 'gzip'],
    ['', 'none'],
  ] as const) {
    const entry = release.files.get(base + suffix);
    if (entry !== undefined) return { path: base + suffix, compression, entry, uncompressed };
  }
  throw new ProvenantError('NOT_FOUND', `the Release lists no Packages index for ${component}/binary-${arch}`, {
    where: release.where,
    hint: `the suite has components ${release.components.join(', ')} and architectures ${release.architectures.join(', ')}`,
  });
}

/** Options of {@link readPackagesIndex}. */
export interface ReadPackagesIndexOptions {
  /** Where the bytes come from, for errors. */
  where: string;
  signal?: AbortSignal | undefined;
}

/**
 * Checks a downloaded Packages file against the Release (size and SHA-256, before anything is
 * decompressed), decompresses it (at most to the size the Release gives the uncompressed file),
 * checks the result against the Release's uncompressed entry when there is one, and parses it.
 *
 * @throws ProvenantError `DIGEST_MISMATCH` when the file is not the one the Release lists;
 *   `INVALID_PACKAGE` when it is corrupt or malformed
 */
export async function readPackagesIndex(
  bytes: Uint8Array,
  release: DebRelease,
  file: PackagesFile,
  options: ReadPackagesIndexOptions,
): Promise<Record<string, string>[]> {
  const text = utf8.decode(await verifiedPackagesBytes(bytes, release, file, options));
  throwIfAborted(options.signal);
  return parseControlStanzas(text, options.where);
}

async function verifiedPackagesBytes(
  bytes: Uint8Array,
  release: DebRelease,
  file: PackagesFile,
  options: ReadPackagesIndexOptions,
): Promise<Uint8Array> {
  checkReleaseFile(bytes, release, file.path, options.where);
  if (file.compression === 'none') return bytes;
  const unpacked = await decompressIndex(bytes, file.compression, {
    where: options.where,
    maxBytes: file.uncompressed?.entry.size,
    signal: options.signal,
  });
  if (file.uncompressed !== undefined) checkReleaseFile(unpacked, release, file.uncompressed.path, `${options.where} (decompressed)`);
  return unpacked;
}

/** Options of {@link fetchDebianIndex}. */
export interface FetchDebianIndexOptions {
  /** The archive's base URL (`dists/` is under it), or a path or file:// URL of a local copy. */
  url: string;
  suite: string;
  components: readonly string[];
  arch: string;
  /** The trusted keys; {@link DEBIAN_ARCHIVE_KEYRING} by default. */
  keyring?: DebKeyring | undefined;
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
  /** The verified file, uncompressed. */
  bytes: Uint8Array;
  /** Lowercase hex SHA-256 of `bytes`. */
  sha256: string;
  /** The stanzas, field names lowercased: parsed from `bytes` when first read. */
  readonly packages: Record<string, string>[];
}

/** What {@link fetchDebianIndex} read. */
export interface DebianIndex {
  release: DebRelease;
  /** Per component, in the order asked. */
  indexes: DebPackagesIndex[];
  /** Every stanza of every component, in order (parsed when first read). */
  readonly packages: Record<string, string>[];
  /** The Release and each Packages file, with their SHA-256, for provenance. */
  files: DebIndexSource[];
}

/**
 * Fetches, verifies and parses a suite's Release and the Packages index of each component for one
 * architecture. The Release is always fetched (it is what says which index is current); the
 * indexes come from the cache when it holds them, checked against the Release as if downloaded.
 *
 * @throws ProvenantError as {@link readRelease} and {@link readPackagesIndex}; `NOT_FOUND` when
 *   the suite or an index does not exist; `NETWORK` when the mirror cannot be reached; `ABORTED`
 */
export async function fetchDebianIndex(options: FetchDebianIndexOptions): Promise<DebianIndex> {
  const { url, suite, arch, signal } = options;
  const cache = options.cacheDir === undefined ? undefined : new DownloadCache(options.cacheDir);
  const keyring = options.keyring ?? (await DebKeyring.load([DEBIAN_ARCHIVE_KEYRING], { signal }));
  const dists = joinLocation(url, 'dists', suite);
  const progress = options.onProgress ?? (() => {});

  let releaseBytes: Uint8Array;
  let releaseUrl = joinLocation(dists, 'InRelease');
  let detachedSignature: Uint8Array | undefined;
  try {
    releaseBytes = await fetchFile(releaseUrl, { signal });
  } catch (err) {
    if (!(err instanceof ProvenantError) || err.code !== 'NOT_FOUND') throw err;
    // Older or simpler repositories publish only Release and its detached Release.gpg.
    releaseUrl = joinLocation(dists, 'Release');
    try {
      releaseBytes = await fetchFile(releaseUrl, { signal });
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
    detachedSignature = await fetchFile(joinLocation(dists, 'Release.gpg'), { signal }).catch((err3: unknown) => {
      if (options.allowUnsigned === true && err3 instanceof ProvenantError && err3.code === 'NOT_FOUND') return undefined;
      throw err3;
    });
  }
  progress({ file: releaseUrl.slice(dists.length + 1), url: safeLocation(releaseUrl), cached: false });
  const release = await readRelease(releaseBytes, keyring, safeLocation(releaseUrl), {
    detachedSignature,
    suite,
    arch,
    now: options.now,
    checkValidUntil: options.checkValidUntil,
    allowUnsigned: options.allowUnsigned,
  });
  const files: DebIndexSource[] = [
    { url: safeLocation(releaseUrl), sha256: release.digest.slice('sha256:'.length), size: releaseBytes.length },
  ];
  const indexes: DebPackagesIndex[] = [];
  for (const component of options.components) {
    throwIfAborted(signal);
    const file = selectPackagesFile(release, component, arch);
    const fileUrl = joinLocation(dists, file.path);
    const where = safeLocation(fileUrl);
    const source = { url: where, sha256: file.entry.sha256, size: file.entry.size, path: file.path };
    let packagesBytes: Uint8Array | undefined;
    // The decompressed index, under the SHA-256 the signed Release gives it.
    if (cache !== undefined && file.uncompressed !== undefined) {
      const cached = await readCachedBlob(cache, file.uncompressed.entry);
      if (cached !== undefined) {
        progress({ file: file.uncompressed.path, url: where, cached: true });
        packagesBytes = cached;
      }
    }
    if (packagesBytes === undefined) {
      const compressed = await fetchIndexFile(file, release, dists, cache, options, progress);
      packagesBytes = await verifiedPackagesBytes(compressed, release, file, { where, signal });
      if (cache !== undefined && file.uncompressed !== undefined && packagesBytes !== compressed)
        await cache.put(`sha256:${file.uncompressed.entry.sha256}`, packagesBytes);
    }
    throwIfAborted(signal);
    // The uncompressed file's digest, from the Release when it lists one (it was checked).
    const sha256 = file.uncompressed?.entry.sha256 ?? sha256Hex(packagesBytes);
    indexes.push(packagesIndex(component, arch, source, packagesBytes, sha256, where));
    files.push({ url: source.url, sha256: source.sha256, size: source.size });
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

/**
 * An index whose stanzas are parsed on first use: a build looks packages up by name instead
 * (`debCandidateIndex`), and most of Debian's 60,000 stanzas are never needed in full.
 */
function packagesIndex(
  component: string,
  arch: string,
  file: DebPackagesIndex['file'],
  bytes: Uint8Array,
  sha256: string,
  where: string,
): DebPackagesIndex {
  let packages: Record<string, string>[] | undefined;
  return {
    component,
    arch,
    file,
    bytes,
    sha256,
    get packages() {
      packages ??= parseControlStanzas(utf8.decode(bytes), where);
      return packages;
    },
  };
}

/** The compressed index file, from the cache or the mirror, checked against the Release. */
async function fetchIndexFile(
  file: PackagesFile,
  release: DebRelease,
  dists: string,
  cache: DownloadCache | undefined,
  options: FetchDebianIndexOptions,
  progress: NonNullable<FetchDebianIndexOptions['onProgress']>,
): Promise<Uint8Array> {
  const plainUrl = joinLocation(dists, file.path);
  if (cache !== undefined) {
    const cached = await readCachedBlob(cache, file.entry);
    if (cached !== undefined) {
      progress({ file: file.path, url: safeLocation(plainUrl), cached: true });
      return cached;
    }
  }
  const byHash = options.byHash ?? 'yes';
  const dir = file.path.slice(0, file.path.lastIndexOf('/'));
  // by-hash names the file by its content, so a mirror in the middle of an update cannot give
  // the new Packages for the old Release (the Debian wiki's DebianRepository/Format page, "indices acquisition via hashsums").
  const candidates =
    byHash === 'force' || (byHash === 'yes' && release.acquireByHash)
      ? [joinLocation(dists, dir, 'by-hash', 'SHA256', file.entry.sha256), ...(byHash === 'force' ? [] : [plainUrl])]
      : [plainUrl];
  let bytes: Uint8Array | undefined;
  let lastError: unknown;
  for (const candidate of candidates) {
    try {
      // Through the cache, the index is written as it arrives (Debian main's is about 9 MB) and a
      // download cut short is resumed by the next run; either way it is checked against the Release.
      bytes =
        cache === undefined
          ? await fetchFile(candidate, { signal: options.signal })
          : await cache.download(candidate, { sha256: file.entry.sha256, size: file.entry.size }, { signal: options.signal });
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
async function readCachedBlob(cache: DownloadCache, entry: DebReleaseFile): Promise<Uint8Array | undefined> {
  let bytes: Uint8Array;
  try {
    // A Buffer is a Uint8Array: no copy of a 50 MB index.
    bytes = await readFile(join(cache.dir, 'sha256', entry.sha256));
  } catch {
    return undefined;
  }
  return bytes.length === entry.size && sha256Hex(bytes) === entry.sha256 ? bytes : undefined;
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function words(text: string): string[] {
  return text.split(/\s+/).filter((w) => w !== '');
}
