/**
 * A Debian repository's signed metadata: `dists/SUITE/InRelease` (or `Release` with a detached
 * `Release.gpg`), and the `Packages` indexes it lists.
 *
 * The chain of trust is apt's (the Debian wiki's DebianRepository/Format page): the Release file
 * is OpenPGP-signed by a key of the repository's keyring; its SHA256 section (or SHA512, in one
 * without) lists every index file with its size and digest; each Packages stanza lists a .deb's
 * SHA-256. Here the signature is checked with openpgp.js against the keyring, the Release's
 * `Valid-Until`, suite and architectures are checked, and an index file is checked against the
 * Release (size, then digest) before it is decompressed, so no unverified byte reaches the xz
 * decoder.
 *
 * Fetching them is ./fetch-index.ts; the keyring and the signature check are ./keyring.ts.
 */
import { ProvenantError, throwIfAborted } from '../../errors.ts';
import { noteBytesMoved } from '../../io/memory.ts';
import { digestHex, digestOf } from '../../oci/digest.ts';
import type { DownloadCache } from '../fetch.ts';
import { parseFirstControlStanza } from './control.ts';
import { type DebKeyring, type DebSigner, LazyDebKeyring, MAX_FUTURE_MS, unverifiedText, verifySignedText } from './keyring.ts';
import { parseDebStanzas } from './stanza-index.ts';
import { decompressIndex, decompressIndexChunks, type IndexCompression } from './xz.ts';

/** One file of the Release's SHA256 section (or, in a Release without one, of its SHA512 section). */
export interface DebReleaseFile {
  /** Lowercase hex; undefined when the Release has no SHA256 section, only a SHA512 one. */
  sha256: string | undefined;
  /** Lowercase hex, from the SHA512 section when the Release has no SHA256 one (apt takes that). */
  sha512?: string | undefined;
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
  /** The SHA256 section (SHA512 without one): path relative to `dists/SUITE/` → size and digest. */
  files: ReadonlyMap<string, DebReleaseFile>;
  /** Every field of the Release, names lowercased. */
  fields: Readonly<Record<string, string>>;
  /** The keys that made good signatures; empty only when unsigned content was allowed. */
  signers: DebSigner[];
}

/** Options of {@link readRelease}. */
export interface ReadReleaseOptions {
  /** `Release.gpg` (ASCII-armored: apt refuses a binary one) when `bytes` is a `Release` rather than an InRelease. */
  detachedSignature?: Uint8Array | undefined;
  /** Where {@link detachedSignature} comes from, which its refusals name: `where` with `.gpg` appended by default. */
  detachedSignatureWhere?: string | undefined;
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
  /**
   * What an earlier check of these same bytes against the same keyring found (the signed text
   * and its signers), kept by the caller: the signature is not checked again. Everything else
   * (Valid-Until, suite, architecture) is.
   */
  verified?: { text: string; signers: DebSigner[] } | undefined;
  /** The SHA-256 (hex) of the bytes, when the caller has hashed them already: not hashed again. */
  sha256?: string | undefined;
}

/**
 * Verifies and parses a Release: an InRelease (cleartext-signed), or a Release with
 * `options.detachedSignature`. The fields are read from the signed text only.
 *
 * A good signature by a key of the keyring is needed, and none by a key of the keyring may be bad
 * (as apt treats gpgv's BADSIG). Signatures by keys that are not in the keyring are ignored.
 *
 * @throws ProvenantError `SIGNATURE` when a signature by a key of the keyring does not verify (the
 *   text was changed), the data is not a signed message, or the Release is past its
 *   `Valid-Until` or dated after `options.now`; `UNTRUSTED_KEY` when no key of the keyring that is valid at `options.now`
 *   (not expired, not revoked) signed it; `INVALID_PACKAGE` when
 *   the Release is malformed, has neither a SHA256 nor a SHA512 section or is for another suite; `NOT_FOUND` when it
 *   does not list `options.arch`
 */
export async function readRelease(
  bytes: Uint8Array,
  keyring: DebKeyring | LazyDebKeyring,
  where: string,
  options: ReadReleaseOptions = {},
): Promise<DebRelease> {
  const now = options.now ?? new Date();
  let text: string;
  let signers: DebSigner[] = [];
  try {
    const keys = async (): Promise<DebKeyring> => (keyring instanceof LazyDebKeyring ? keyring.load() : keyring);
    const detached =
      options.detachedSignature === undefined
        ? undefined
        : { bytes: options.detachedSignature, where: options.detachedSignatureWhere ?? `${where}.gpg` };
    const verified = options.verified ?? (await verifySignedText(bytes, await keys(), where, detached, now));
    text = verified.text;
    signers = verified.signers;
  } catch (err) {
    if (options.allowUnsigned !== true || !(err instanceof ProvenantError)) throw err;
    text = await unverifiedText(bytes, options.detachedSignature !== undefined, where);
  }
  // apt reads the first paragraph only: what follows an empty line after it is neither read nor refused.
  const stanza = parseFirstControlStanza(text, where);
  if (stanza === undefined) throw new ProvenantError('INVALID_PACKAGE', 'the Release is empty', { where });
  const field = (name: string): string => stanza[name] ?? '';
  const release: DebRelease = {
    bytes,
    digest: `sha256:${options.sha256 ?? digestHex(digestOf(bytes))}`,
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
    files: parseHashSection(stanza, where),
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
  const dated = new Date(release.date);
  if (release.date !== '' && !Number.isNaN(dated.getTime()) && dated.getTime() > now.getTime() + MAX_FUTURE_MS) {
    // apt refuses a Release from the future too ("not valid yet", Acquire::Max-FutureTime): a
    // Release dated ahead would otherwise outrank every later one (see fetch-index.ts, replay).
    throw new ProvenantError('SIGNATURE', `the Release is dated ${dated.toISOString()}, after ${now.toISOString()}: it is not valid yet`, {
      where,
      hint: "check this machine's clock; otherwise the mirror serves a Release made for a later time",
    });
  }
  if (options.suite !== undefined && options.suite !== release.suite && options.suite !== release.codename) {
    throw new ProvenantError(
      'INVALID_PACKAGE',
      `the Release is for suite ${JSON.stringify(release.suite)} (codename ${JSON.stringify(release.codename)}), not ${JSON.stringify(options.suite)}`,
      { where, hint: 'the mirror serves another suite under this name' },
    );
  }
  if (options.arch !== undefined && !release.architectures.includes(options.arch)) {
    throw new UnpublishedArchitectureError(options.arch, release.architectures, where);
  }
  return release;
}

/**
 * The pin priority apt gives a suite's packages when no preferences say otherwise
 * (apt_preferences(5)): 1 for a Release with `NotAutomatic: yes` (experimental), 100 when it also
 * has `ButAutomaticUpgrades: yes` (backports), 500 for any other. apt's candidate version of a
 * package is the newest among the suites of the highest priority that have it, so a backports
 * version is installed only when named (`name=VERSION`) or when no other suite has the package.
 */
export function debPinPriority(release: Pick<DebRelease, 'fields'>): number {
  const yes = (name: string): boolean => (release.fields[name] ?? '').trim().toLowerCase() === 'yes';
  if (!yes('notautomatic')) return 500;
  return yes('butautomaticupgrades') ? 100 : 1;
}

/**
 * A Release whose `Architectures` does not list the architecture asked for: `NOT_FOUND`, with the
 * ones it lists, for the source to say which repository and what chose the architecture
 * (../source.ts's MissingArchitectureError).
 */
export class UnpublishedArchitectureError extends ProvenantError {
  /** The architecture asked for, in Debian's spelling (`arm64`). */
  readonly architecture: string;
  /** The ones the Release lists. */
  readonly published: readonly string[];

  constructor(architecture: string, published: readonly string[], where: string) {
    super('NOT_FOUND', `its Release lists no ${architecture} (it lists ${published.join(', ')})`, { where });
    this.name = 'UnpublishedArchitectureError';
    this.architecture = architecture;
    this.published = [...published];
  }
}

/**
 * The files of the SHA256 section, lines of `<sha256> <size> <path>`; without one, of the SHA512
 * section, as apt takes a Release that lists only SHA512 (MD5Sum and SHA1 alone it refuses, "weak
 * security information").
 */
function parseHashSection(stanza: Readonly<Record<string, string>>, where: string): Map<string, DebReleaseFile> {
  const algorithm = stanza.sha256 !== undefined ? 'sha256' : stanza.sha512 !== undefined ? 'sha512' : undefined;
  if (algorithm === undefined) {
    throw new ProvenantError('INVALID_PACKAGE', 'the Release has no SHA256 or SHA512 section', {
      where,
      hint: 'MD5Sum and SHA1 are not trusted (apt refuses them too); the repository must list SHA-256 or SHA-512 checksums',
    });
  }
  const name = algorithm.toUpperCase();
  const hex = algorithm === 'sha256' ? 64 : 128;
  const line = new RegExp(`^([0-9a-fA-F]{${hex}})\\s+(\\d+)\\s+(\\S+)$`);
  const files = new Map<string, DebReleaseFile>();
  for (const text of (stanza[algorithm] as string).split('\n')) {
    const t = text.trim();
    if (t === '') continue;
    const m = line.exec(t);
    if (m === null)
      throw new ProvenantError(
        'INVALID_PACKAGE',
        `the Release's ${name} line ${JSON.stringify(t.slice(0, 160))} is not "<${algorithm}> <size> <path>"`,
        { where },
      );
    const digest = (m[1] as string).toLowerCase();
    files.set(m[3] as string, {
      sha256: algorithm === 'sha256' ? digest : undefined,
      ...(algorithm === 'sha512' ? { sha512: digest } : {}),
      size: Number(m[2]),
    });
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
  checkReleaseEntry(entry, path, bytes.length, (algorithm) => digestHex(digestOf(bytes, algorithm)), where);
  return entry;
}

/**
 * Checks a file of `size` bytes against the Release's `entry` of `path`; its SHA-256 (or SHA-512,
 * for a Release that lists only those) is asked for only when the size is right.
 *
 * @throws ProvenantError `DIGEST_MISMATCH` when the size or the digest differs
 */
function checkReleaseEntry(
  entry: DebReleaseFile,
  path: string,
  size: number,
  digest: (algorithm: 'sha256' | 'sha512') => string,
  where: string,
): void {
  if (size !== entry.size) {
    throw new ProvenantError('DIGEST_MISMATCH', `${path} is ${size} bytes, but the Release says ${entry.size}`, {
      where,
      hint: 'the download is truncated, or the mirror is being updated; try again',
    });
  }
  const [algorithm, expected] =
    entry.sha256 !== undefined ? (['sha256', entry.sha256] as const) : (['sha512', entry.sha512 ?? ''] as const);
  const actual = digest(algorithm);
  if (actual !== expected) {
    throw new ProvenantError(
      'DIGEST_MISMATCH',
      `${path} has ${algorithm === 'sha256' ? 'SHA-256' : 'SHA-512'} ${actual}, but the Release says ${expected}`,
      {
        where,
        hint: 'the mirror is being updated or serves a corrupt file; try again',
      },
    );
  }
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

/** An entry of the Release with its SHA-256: what the cache keeps a file under. */
export type DebReleaseFileSha256 = DebReleaseFile & { sha256: string };

/** A {@link PackagesFile} the cache can keep: its entries have a SHA-256. */
export interface CacheablePackagesFile extends PackagesFile {
  entry: DebReleaseFileSha256;
  uncompressed: { path: string; entry: DebReleaseFileSha256 } | undefined;
}

/**
 * `file` as the cache keeps it, or undefined for a Release that lists only SHA-512s (apt takes
 * one): the cache is addressed by SHA-256, so such a Release's files are checked against their
 * SHA-512s but neither looked up in nor kept in it (its provenance gives the SHA-256 of the files
 * so checked). The one place of that rule: what is given a {@link CacheablePackagesFile} need not
 * ask again.
 */
export function cacheablePackagesFile(file: PackagesFile): CacheablePackagesFile | undefined {
  const { entry, uncompressed } = file;
  if (entry.sha256 === undefined) return undefined;
  return {
    ...file,
    entry: { ...entry, sha256: entry.sha256 },
    // A Release with a SHA256 section gives every file one; a file it does not list is not kept.
    uncompressed:
      uncompressed?.entry.sha256 === undefined
        ? undefined
        : { path: uncompressed.path, entry: { ...uncompressed.entry, sha256: uncompressed.entry.sha256 } },
  };
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
 * checks the result against the Release's uncompressed entry when there is one, and parses it
 * a piece at a time (parseDebStanzas, ./stanza-index.ts).
 *
 * @throws ProvenantError `DIGEST_MISMATCH` when the file is not the one the Release lists;
 *   `INVALID_PACKAGE` when it is corrupt or malformed; `TOO_LARGE` past the stanzas a build takes
 */
export async function readPackagesIndex(
  bytes: Uint8Array,
  release: DebRelease,
  file: PackagesFile,
  options: ReadPackagesIndexOptions,
): Promise<Record<string, string>[]> {
  const verified = await verifiedPackagesBytes(bytes, release, file, options);
  throwIfAborted(options.signal);
  return parseDebStanzas(verified, options.where);
}

/** A Packages file checked against the Release, then decompressed and checked again. */
export async function verifiedPackagesBytes(
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

/**
 * The cache key of a decompressed Packages file whose SHA-256 (hex) is `sha256`: kept only once
 * the file was checked against the Release. A warm build finds the file by it and reads it a
 * stanza at a time, each checked against its stanza index (fetch-index.ts, `keptFile`).
 */
export function keptPackagesKey(sha256: string): string {
  return `deb-packages:v1:${sha256}`;
}

/**
 * Checks a compressed Packages file against its Release, and decompresses it into `cache` as it
 * is decoded (never whole in memory: Debian main's is 50 MB), checked against the Release's
 * entry of the uncompressed file before it is kept, under its SHA-256 (see
 * {@link cacheablePackagesFile}) and under
 * {@link keptPackagesKey} with its size and CRC-32. Gives where it is.
 *
 * @throws ProvenantError as {@link verifiedPackagesBytes}; `IO` when the cache cannot be written
 */
export async function keepPackagesFile(
  bytes: Uint8Array,
  release: DebRelease,
  file: CacheablePackagesFile & { uncompressed: NonNullable<CacheablePackagesFile['uncompressed']> },
  cache: DownloadCache,
  options: ReadPackagesIndexOptions,
): Promise<{ path: string; size: number }> {
  checkReleaseFile(bytes, release, file.path, options.where);
  const { entry, path } = file.uncompressed;
  const writer = await cache.writer();
  try {
    const chunks = decompressIndexChunks(bytes, file.compression, { where: options.where, maxBytes: entry.size, signal: options.signal });
    for await (const chunk of chunks) {
      await writer.write(chunk);
      noteBytesMoved(chunk.length);
    }
    // The writer hashes what it writes: checked before it is kept.
    checkReleaseEntry(entry, path, writer.size, () => writer.sha256(), `${options.where} (decompressed)`);
    const kept = await writer.finish(keptPackagesKey(entry.sha256));
    return { path: kept.path, size: kept.size };
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

function words(text: string): string[] {
  return text.split(/\s+/).filter((w) => w !== '');
}
