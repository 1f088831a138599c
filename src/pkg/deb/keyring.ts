/**
 * The OpenPGP side of a Debian repository: the keyring trusted to sign its Release, and checking
 * the Release's signature with openpgp.js as apt checks it with gpgv: a good signature by a key
 * of the keyring is needed, and none by a key of the keyring may be bad.
 */
import { createHash } from 'node:crypto';
import type { PublicKey, verify } from 'openpgp';
import { isProvenantError, ProvenantError } from '../../errors.ts';
import { fetchTrustedFile, safeLocation } from '../fetch.ts';

/** Debian's archive keyring as the `debian-archive-keyring` package installs it. */
export const DEBIAN_ARCHIVE_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/**
 * An OpenPGP public key as openpgp.js reads it (its `PublicKey`), named by the part of it that
 * Provenant uses: the public types do not import openpgp's, whose declarations need a package
 * openpgp does not install (a user's `tsc` without `skipLibCheck` would fail on them). A
 * {@link DebKeyring} holds only keys that openpgp.js read ({@link DebKeyring.fromBytes}).
 */
export interface OpenPgpPublicKey {
  /** The primary key's fingerprint, lowercase hex. */
  getFingerprint(): string;
  getUserIDs(): string[];
  /** The primary key and its subkeys. */
  getKeys(): readonly { getKeyID(): { toHex(): string } }[];
}

/** What a {@link DebKeyring} holds: keys openpgp.js read (see {@link OpenPgpPublicKey}). */
function openpgpKey(key: OpenPgpPublicKey): PublicKey {
  return key as PublicKey;
}

/** OpenPGP public keys trusted to sign a repository's Release. */
export class DebKeyring {
  /** The keys, in the order they were read. */
  readonly keys: readonly OpenPgpPublicKey[];
  /** The files (or other labels) the keys were read from. */
  readonly sources: readonly string[];

  /** The SHA-256 of its files' bytes, when it was read from files: what a kept verification is tied to. */
  readonly id: string | undefined;

  /** @param keys keys openpgp.js read: its `PublicKey`s */
  constructor(keys: readonly OpenPgpPublicKey[], sources: readonly string[] = [], id?: string | undefined) {
    this.keys = keys;
    this.sources = sources;
    this.id = id;
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
      const { readKeys } = await import('openpgp');
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
    options: { baseDir?: string | undefined; signal?: AbortSignal | undefined; configPath?: string | undefined } = {},
  ): Promise<DebKeyring> {
    return (await LazyDebKeyring.read(paths, options)).load();
  }

  /** True when a key of the keyring (a primary key or a subkey) has the 16-hex-digit key ID. */
  has(keyID: string): boolean {
    return this.keys.some((k) => k.getKeys().some((sub) => sub.getKeyID().toHex() === keyID));
  }
}

/**
 * Keyring files read but not parsed: their bytes identify them ({@link id}), and openpgp.js
 * parses them only when a signature must be checked ({@link load}).
 */
export class LazyDebKeyring {
  readonly id: string;
  /** Each file read, as `signed-by=` names it (without user info), with the SHA-256 of its bytes: what a provenance names. */
  readonly files: readonly { where: string; sha256: string }[];
  readonly #files: readonly { where: string; bytes: Uint8Array }[];
  #loaded: Promise<DebKeyring> | undefined;

  private constructor(files: readonly { where: string; bytes: Uint8Array }[]) {
    this.#files = files;
    this.files = files.map((f) => ({ where: f.where, sha256: createHash('sha256').update(f.bytes).digest('hex') }));
    const h = createHash('sha256');
    for (const f of this.files) h.update(f.sha256);
    this.id = h.digest('hex');
  }

  /**
   * Reads keyring files (`signed-by=`); relative paths are relative to `baseDir`. A URL must be
   * https (or http to this machine): see {@link fetchTrustedFile}.
   *
   * @throws ProvenantError `NOT_FOUND` for a missing file; `INSECURE` for a plain-http URL beyond
   *   this machine (`configPath` says where it is configured)
   */
  static async read(
    paths: readonly string[],
    options: { baseDir?: string | undefined; signal?: AbortSignal | undefined; configPath?: string | undefined } = {},
  ): Promise<LazyDebKeyring> {
    const files = [];
    const { configPath, ...fetchOptions } = options;
    for (const path of paths) {
      files.push({ where: safeLocation(path), bytes: await fetchTrustedFile(path, 'the signed-by keyring', configPath, fetchOptions) });
    }
    return new LazyDebKeyring(files);
  }

  /**
   * The keys, parsed once.
   *
   * @throws ProvenantError `UNTRUSTED_KEY` for a file that holds no key
   */
  load(): Promise<DebKeyring> {
    this.#loaded ??= (async () => {
      const keys: OpenPgpPublicKey[] = [];
      for (const f of this.#files) keys.push(...(await DebKeyring.fromBytes(f.bytes, f.where)).keys);
      return new DebKeyring(
        keys,
        this.#files.map((f) => f.where),
        this.id,
      );
    })();
    return this.#loaded;
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

const utf8 = new TextDecoder('utf-8');
/** openpgp.js does not export the type of one signature's outcome. */
type VerificationResult = Awaited<ReturnType<typeof verify>>['signatures'][number];

/**
 * The signed text and the keys of the keyring that made good signatures over it and are valid at
 * `now` (signatures by keys expired or revoked by then are ignored, as apt ignores gpgv's
 * EXPKEYSIG and REVKEYSIG).
 *
 * @throws ProvenantError `SIGNATURE` when a signature by a key of the keyring is bad or the bytes
 *   are not a signed message; `UNTRUSTED_KEY` when no valid key of the keyring signed them
 */
export async function verifySignedText(
  bytes: Uint8Array,
  keyring: DebKeyring,
  where: string,
  detached: Uint8Array | undefined,
  now: Date,
): Promise<{ text: string; signers: DebSigner[] }> {
  let text: string;
  let results: VerificationResult[];
  try {
    const { createMessage, readCleartextMessage, readSignature, verify } = await import('openpgp');
    if (detached === undefined) {
      const cleartext = utf8.decode(bytes);
      checkClearsignedFrame(cleartext, where);
      const message = await readCleartextMessage({ cleartextMessage: cleartext });
      const out = await verify({ message, verificationKeys: keyring.keys.map(openpgpKey), date: now });
      text = out.data;
      results = out.signatures;
    } else {
      const armored = utf8.decode(detached.subarray(0, 64)).trimStart().startsWith('-----BEGIN PGP SIGNATURE-----');
      const signature = armored
        ? await readSignature({ armoredSignature: utf8.decode(detached) })
        : await readSignature({ binarySignature: detached });
      const message = await createMessage({ binary: bytes });
      const out = await verify({ message, signature, verificationKeys: keyring.keys.map(openpgpKey), date: now, format: 'binary' });
      text = utf8.decode(bytes);
      results = out.signatures;
    }
  } catch (err) {
    if (isProvenantError(err)) throw err;
    throw new ProvenantError('SIGNATURE', `the Release is not an OpenPGP-signed message: ${(err as Error).message}`, {
      where,
      cause: err,
      hint: 'the mirror may have answered with an error page or a partial file',
    });
  }
  const settled = await Promise.allSettled(results.map((r) => r.verified));
  const signers: DebSigner[] = [];
  const unknown: string[] = [];
  // Good signatures by keys of the keyring that are not valid now (gpgv's EXPKEYSIG, REVKEYSIG):
  // apt counts them as worthless, neither good nor bad.
  const worthless: string[] = [];
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
    if (primary === undefined) continue;
    // openpgp.js checks the key as it was when the signature was made (RFC 9580, section 5.2.3.18:
    // the signature's creation time), so a key that has expired or been revoked since, or a
    // signature dated back into its life, verifies. apt (gpgv) refuses both: the key must be valid now.
    const invalid = await invalidNow(openpgpKey(primary), result.keyID, now);
    if (invalid !== undefined) {
      worthless.push(`${keyID} (${invalid})`);
      continue;
    }
    signers.push({ keyID, fingerprint: primary.getFingerprint(), userID: primary.getUserIDs()[0] ?? '' });
  }
  if (signers.length === 0 && worthless.length > 0) {
    throw new ProvenantError('UNTRUSTED_KEY', `the Release is signed only by keys that are not valid now: ${worthless.join(', ')}`, {
      where,
      hint: `the mirror is stale, or the keyring is out of date (update it: debian-archive-keyring for Debian); trusted: ${keyring.sources.join(', ') || 'no keyring file'}`,
    });
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

/**
 * Why the (sub)key `keyID` of `primary` cannot sign at `now` (expired, revoked, not a signing
 * key), or undefined when it can.
 */
async function invalidNow(primary: PublicKey, keyID: VerificationResult['keyID'], now: Date): Promise<string | undefined> {
  try {
    await primary.getSigningKey(keyID, now);
    return undefined;
  } catch (err) {
    const expiry = await signingKeyExpiry(primary, keyID.toHex(), now);
    if (expiry !== undefined && expiry.getTime() <= now.getTime()) return `expired at ${expiry.toISOString()}`;
    return `not valid for signing at ${now.toISOString()}: ${(err as Error).message}`;
  }
}

/**
 * Refuses a clearsigned Release with anything but blank lines before its signed message or after
 * its signature, as apt does (apt-pkg/contrib/gpgv.cc, SplitClearSignedFile: "does not start with
 * a signed message block", "contains unsigned lines"). openpgp.js reads the first signed message
 * and ignores the rest, so only the signed text was ever parsed; but a file apt refuses must not
 * build here, and text outside the signature (a second signed message appended, say) is what a
 * reader of the file might take for the Release. A line counts as blank when it holds only spaces,
 * tabs and a carriage return. Inside the message, a line of the signed text that starts with a dash
 * is dash-escaped (RFC 9580, section 7.1), so the first line that is the armor's end line is the
 * end of the first signature.
 *
 * @throws ProvenantError `SIGNATURE` naming the first line outside the signed message
 */
function checkClearsignedFrame(text: string, where: string): void {
  const lines = text.split('\n').map((l) => l.replace(/[ \t\r]+$/, ''));
  const start = lines.findIndex((l) => l !== '');
  if (start === -1) return; // nothing at all: openpgp.js says it is no signed message
  if (lines[start] !== '-----BEGIN PGP SIGNED MESSAGE-----') {
    // Not a clearsigned file at all (an error page, say) is openpgp.js's to say; text before one is ours.
    const header = lines.indexOf('-----BEGIN PGP SIGNED MESSAGE-----');
    if (header === -1) return;
    throw outside(where, start, 'unsigned text before its signed message', 'the file should start with -----BEGIN PGP SIGNED MESSAGE-----');
  }
  const end = lines.indexOf('-----END PGP SIGNATURE-----', start);
  if (end === -1) return; // an unterminated signature: openpgp.js refuses it
  const after = lines.findIndex((l, i) => i > end && l !== '');
  if (after === -1) return;
  throw outside(
    where,
    after,
    lines[after] === '-----BEGIN PGP SIGNED MESSAGE-----'
      ? 'a second signed message after its signature'
      : 'unsigned text after its signature',
    'the file should end with -----END PGP SIGNATURE-----',
  );
}

function outside(where: string, index: number, what: string, should: string): ProvenantError {
  return new ProvenantError('SIGNATURE', `the InRelease holds ${what} (line ${index + 1}), which apt refuses`, {
    where,
    hint: `${should}: the mirror or a proxy changed it, or the repository's signing tool is broken`,
  });
}

/**
 * When the key that signs as `keyID` stops being valid: the earlier of its primary key's expiry
 * and, for a subkey, the subkey's own; undefined when neither expires.
 */
export async function signingKeyExpiry(primaryKey: OpenPgpPublicKey, keyID: string, now: Date): Promise<Date | undefined> {
  const primary = openpgpKey(primaryKey);
  const times: unknown[] = [await primary.getExpirationTime().catch(() => null)];
  const subkey = primary.subkeys.find((s) => s.getKeyID().toHex() === keyID);
  if (subkey !== undefined) times.push(await subkey.getExpirationTime(now).catch(() => null));
  let first: Date | undefined;
  for (const t of times) if (t instanceof Date && (first === undefined || t < first)) first = t;
  return first;
}

/** The text of a Release whose signature is not checked (`trusted=yes`). */
export async function unverifiedText(bytes: Uint8Array, detached: boolean): Promise<string> {
  const text = utf8.decode(bytes);
  if (detached || !text.trimStart().startsWith('-----BEGIN PGP SIGNED MESSAGE-----')) return text;
  const { readCleartextMessage } = await import('openpgp');
  return (await readCleartextMessage({ cleartextMessage: text })).getText();
}
