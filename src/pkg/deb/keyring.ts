/**
 * The OpenPGP side of a Debian repository: the keyring trusted to sign its Release, and checking
 * the Release's signature with openpgp.js as apt checks it with gpgv: a good signature by a key
 * of the keyring is needed, and none by a key of the keyring may be bad.
 */
import { createHash } from 'node:crypto';
import type { CleartextMessage as CleartextMessageType, PublicKey, SignaturePacket, Signature as SignatureType, verify } from 'openpgp';
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

const KEY_BEGIN = '-----BEGIN PGP PUBLIC KEY BLOCK-----';
const KEY_END = '-----END PGP PUBLIC KEY BLOCK-----';

/** A line end as a JavaScript regular expression's `^` and `$` take one (ECMA-262 LineTerminator). */
function isLineEnd(c: number): boolean {
  return c === 0x0a || c === 0x0d || c === 0x2028 || c === 0x2029;
}

/** Where the run of spaces, tabs and CRs from `i` ends. */
function blanksEnd(text: string, i: number): number {
  let j = i;
  for (let c = text.charCodeAt(j); c === 0x20 || c === 0x09 || c === 0x0d; c = text.charCodeAt(++j));
  return j;
}

/**
 * Where the first line of `text` at or after `from` that starts with `marker` starts, and where
 * `tail` ends its match (given where the marker ends, it answers undefined for a rest it refuses);
 * undefined for no such line.
 */
function markerLine(text: string, marker: string, from: number, tail: (after: number) => number | undefined) {
  for (let at = text.indexOf(marker, from); at !== -1; at = text.indexOf(marker, at + 1)) {
    if (at > 0 && !isLineEnd(text.charCodeAt(at - 1))) continue;
    const end = tail(at + marker.length);
    if (end !== undefined) return { at, end };
  }
  return undefined;
}

/**
 * Each armored public key block of `text`, from its BEGIN line to its END line: what
 * `/^BEGIN[ \t\r]*\n[\s\S]*?^END[ \t\r]*$/gm` matches, found in one pass. That lazy regex took
 * time quadratic in the number of BEGIN lines with no END after them (26 s for 2.3 MiB of them):
 * for each it ran to the end of the text. Here a BEGIN with no END after it ends the scan, as no
 * later BEGIN can have one. @internal
 */
export function armoredKeyBlocks(text: string): string[] {
  const blocks: string[] = [];
  // After BEGIN: blanks and a newline (the block's first line starts after it).
  const beginTail = (i: number) => {
    const j = blanksEnd(text, i);
    return text.charCodeAt(j) === 0x0a ? j + 1 : undefined;
  };
  // After END: blanks up to a line end or the end of the text, the match ending before that
  // line end; or, as the regex backtracks, before the last CR of the blanks.
  const endTail = (i: number) => {
    const j = blanksEnd(text, i);
    if (j === text.length || isLineEnd(text.charCodeAt(j))) return j;
    for (let k = j - 1; k >= i; k--) if (text.charCodeAt(k) === 0x0d) return k;
    return undefined;
  };
  for (let from = 0; ; ) {
    const begin = markerLine(text, KEY_BEGIN, from, beginTail);
    if (begin === undefined) break;
    const end = markerLine(text, KEY_END, begin.end, endTail);
    if (end === undefined) break;
    blocks.push(text.slice(begin.at, end.end));
    from = end.end;
  }
  return blocks;
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
   * `debian-archive-keyring` write them) or armored key blocks (`.asc`). Every armored block is
   * read (`cat a.asc b.asc` is a keyring of both, as apt and gpg read it), and text around them
   * (a comment line before the armor, say) is skipped, as gpg skips it.
   *
   * @throws ProvenantError `UNTRUSTED_KEY` when the bytes hold no OpenPGP public key (a GnuPG
   *   keybox, say)
   */
  static async fromBytes(bytes: Uint8Array, where: string): Promise<DebKeyring> {
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
      let keys: PublicKey[];
      // An OpenPGP packet's first byte has its high bit set (RFC 9580, section 4.2); text never does.
      if (((bytes[0] ?? 0) & 0x80) !== 0) keys = await readKeys({ binaryKeys: bytes });
      else {
        const blocks = armoredKeyBlocks(new TextDecoder().decode(bytes));
        if (blocks.length === 0)
          throw new Error('it is neither binary OpenPGP packets nor holds a -----BEGIN PGP PUBLIC KEY BLOCK----- armor');
        keys = [];
        for (const block of blocks) keys.push(...(await readKeys({ armoredKeys: block })));
      }
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
   * https (or http to this machine), and at most 1 MiB: see {@link fetchTrustedFile}.
   *
   * @throws ProvenantError `NOT_FOUND` for a missing file; `INSECURE` for a plain-http URL beyond
   *   this machine (`configPath` says where it is configured); `TOO_LARGE` for a URL whose body
   *   is larger than 1 MiB
   */
  static async read(
    paths: readonly string[],
    options: { baseDir?: string | undefined; signal?: AbortSignal | undefined; configPath?: string | undefined } = {},
  ): Promise<LazyDebKeyring> {
    const files = [];
    const { configPath, ...fetchOptions } = options;
    for (const path of paths) {
      const bytes = await fetchTrustedFile(path, 'the signed-by keyring', configPath, fetchOptions);
      files.push({ where: safeLocation(path), bytes });
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
 * How far ahead of the clock a Release's `Date`, and the creation time of its signature, may be:
 * apt's Acquire::Max-FutureTime default. (apt runs gpgv with `--ignore-time-conflict`, so the
 * signature's time is not what refuses a Release from the future: its `Date` is, release.ts.)
 */
export const MAX_FUTURE_MS = 10_000;

/** What {@link verifySignedText} found. */
export interface VerifiedText {
  /** The signed text. */
  text: string;
  /** The keys of the keyring that made good signatures over it. */
  signers: DebSigner[];
  /**
   * For each of {@link signers} (same order), when its signature stops being good, as checked
   * again: when its signing subkey or its primary key expires, or {@link MAX_FUTURE_MS} before
   * the signature's own expiry (openpgp.js checks that at the clock plus those 10 s, see
   * {@link verifySignedText}); undefined when none of them expires.
   */
  goodUntil: (Date | undefined)[];
}

/** Why a signature by a key of the keyring is worthless, and what to do about it. */
interface Worthless {
  why: string;
  hint: string;
}

/** The hint of a refusal with no more specific one. */
const STALE = 'the mirror may be stale, or the keyring out of date (update it: debian-archive-keyring for Debian)';

/**
 * The signed text and the keys of the keyring that made good signatures over it and are valid at
 * `now` (with when each stops being good), as apt counts gpgv's answers: a signature whose bytes
 * do not match (BADSIG) by a key of the keyring refuses the Release whatever else signed it; one
 * that is worthless (by a key expired or revoked by `now`, not a signing key or too weak; made
 * with SHA-1, or with a hash algorithm unknown to it, gpgv's ERRSIG; made after `now` and its
 * {@link MAX_FUTURE_MS}; past its own expiry, gpgv's EXPSIG) is neither good nor bad, and a good
 * one by another key of the keyring is enough. Signatures by keys not in the keyring are ignored. openpgp.js checks a signature's expiry at `now` plus
 * {@link MAX_FUTURE_MS}, the date it checks the creation time against, so a signature is taken
 * as expired 10 s before apt would take it so.
 *
 * `detached` is a Release.gpg's bytes and where they come from: its refusals name it.
 *
 * @throws ProvenantError `SIGNATURE` when a signature by a key of the keyring does not match the
 *   text, or the bytes are not a signed message as apt splits them (text or blank lines around it,
 *   an unescaped dash line; a binary or unframed detached signature); `UNTRUSTED_KEY` when no key
 *   of the keyring made a good signature, naming why each signature by one was refused
 */
export async function verifySignedText(
  bytes: Uint8Array,
  keyring: DebKeyring,
  where: string,
  detached: { bytes: Uint8Array; where: string } | undefined,
  now: Date,
): Promise<VerifiedText> {
  let text: string;
  let results: VerificationResult[];
  // openpgp.js refuses a signature made after the date it is given: the clock may be behind.
  const date = new Date(now.getTime() + MAX_FUTURE_MS);
  // What a failure to read the signature names: the Release.gpg, for a detached one.
  const signatureWhere = detached?.where ?? where;
  try {
    const { CleartextMessage, createMessage, readSignature, Signature, PacketList, verify } = await import('openpgp');
    // Each armored signature block as apt splits them, read into one list of signatures.
    const signatures = async (armors: string[]) => {
      const packets = new PacketList<InstanceType<typeof Signature>['packets'][number]>();
      for (const armor of armors) packets.push(...(await readSignature({ armoredSignature: armor })).packets);
      return new Signature(packets);
    };
    if (detached === undefined) {
      const split = splitClearsigned(utf8.decode(bytes), where);
      // The signed text as apt gives it to gpgv: the armor headers (Hash, Comment) are not signed,
      // and apt ignores them, as here.
      // The constructor openpgp.js's readCleartextMessage calls, which its types leave out.
      const Cleartext = CleartextMessage as unknown as new (text: string, signature: SignatureType) => CleartextMessageType;
      const message = new Cleartext(split.text, await signatures(split.armors));
      const out = await verify({ message, verificationKeys: keyring.keys.map(openpgpKey), date });
      text = out.data;
      results = out.signatures;
    } else {
      const signature = await signatures(splitDetached(detached.bytes, detached.where));
      const message = await createMessage({ binary: bytes });
      const out = await verify({ message, signature, verificationKeys: keyring.keys.map(openpgpKey), date, format: 'binary' });
      text = utf8.decode(bytes);
      results = out.signatures;
    }
  } catch (err) {
    if (isProvenantError(err)) throw err;
    const what = detached === undefined ? 'the Release is not an OpenPGP-signed message' : 'the Release.gpg is not an OpenPGP signature';
    throw new ProvenantError('SIGNATURE', `${what}: ${(err as Error).message}`, {
      where: signatureWhere,
      cause: err,
      hint: 'the mirror may have answered with an error page or a partial file',
    });
  }
  const settled = await Promise.allSettled(results.map((r) => r.verified));
  const signers: DebSigner[] = [];
  const goodUntil: (Date | undefined)[] = [];
  const unknown: string[] = [];
  const bad: { keyID: string; reason: unknown }[] = [];
  // Signatures by keys of the keyring that are neither good nor bad (gpgv's EXPKEYSIG, REVKEYSIG,
  // ERRSIG): apt counts them as worthless.
  const worthless: (Worthless & { keyID: string })[] = [];
  for (let i = 0; i < results.length; i++) {
    const result = results[i] as VerificationResult;
    const outcome = settled[i] as PromiseSettledResult<true>;
    const keyID = result.keyID.toHex();
    const primary = keyring.keys.find((k) => k.getKeys().some((sub) => sub.getKeyID().toHex() === keyID));
    if (primary === undefined) {
      unknown.push(keyID);
      continue;
    }
    const packet = (await result.signature.catch(() => undefined))?.packets[0];
    if (outcome.status === 'rejected') {
      if (doesNotMatch(outcome.reason)) bad.push({ keyID, reason: outcome.reason });
      else worthless.push({ keyID, ...(await whyRefused(openpgpKey(primary), result.keyID, packet, outcome.reason, now)) });
      continue;
    }
    // openpgp.js checks the key as it was when the signature was made (RFC 9580, section 5.2.3.18:
    // the signature's creation time), so a key that has expired or been revoked since, or a
    // signature dated back into its life, verifies. apt (gpgv) refuses both: the key must be valid now.
    const invalid = await invalidNow(openpgpKey(primary), result.keyID, now);
    if (invalid !== undefined) {
      worthless.push({ keyID, ...invalid });
      continue;
    }
    signers.push({ keyID, fingerprint: primary.getFingerprint(), userID: primary.getUserIDs()[0] ?? '' });
    const expires = packet?.getExpirationTime();
    goodUntil.push(
      earliest(
        await signingKeyExpiry(primary, keyID, now),
        expires instanceof Date ? new Date(expires.getTime() - MAX_FUTURE_MS) : undefined,
      ),
    );
  }
  const first = bad[0];
  if (first !== undefined) {
    throw new ProvenantError(
      'SIGNATURE',
      `the Release's signature by key ${first.keyID} does not verify: ${(first.reason as Error).message}`,
      { where, cause: first.reason, hint: 'the Release was changed after it was signed, or the download is corrupt' },
    );
  }
  if (signers.length === 0 && worthless.length > 0) {
    const why = worthless.map((w) => `${w.keyID} (${w.why})`).join('; ');
    const hints = [...new Set(worthless.map((w) => w.hint))].join('; ');
    throw new ProvenantError('UNTRUSTED_KEY', `the Release has no good signature by a key of the keyring: ${why}`, {
      where,
      hint: `${hints}; trusted: ${keyring.sources.join(', ') || 'no keyring file'}`,
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
  return { text, signers, goodUntil };
}

/** The earlier of two times, either of which may be none. */
function earliest(a: Date | undefined, b: Date | undefined): Date | undefined {
  if (a === undefined) return b;
  return b === undefined || a <= b ? a : b;
}

/**
 * True when openpgp.js refused a signature because it does not match the signed bytes (gpgv's
 * BADSIG): the hash's first two bytes differ, or the signature over the hash does not verify.
 * Any other refusal is about the key, the digest algorithm or the time: worthless, not bad.
 */
function doesNotMatch(reason: unknown): boolean {
  const message = reason instanceof Error ? reason.message : '';
  return message === 'Signed digest did not match' || message === 'Signature verification failed';
}

/** Why a signature by `primary`'s (sub)key `keyID` that matches the bytes is not good, in words, with a hint true of that reason. */
async function whyRefused(
  primary: PublicKey,
  keyID: VerificationResult['keyID'],
  packet: SignaturePacket | undefined,
  reason: unknown,
  now: Date,
): Promise<Worthless> {
  const invalid = await invalidNow(primary, keyID, now);
  if (invalid !== undefined) return invalid;
  const message = reason instanceof Error ? reason.message : String(reason);
  if (packet !== undefined) {
    const { enums } = await import('openpgp');
    // enums.read throws on a number it has no name for: the octet is any byte the signature holds.
    const known = Object.entries(enums.hash).find(([, id]) => id === packet.hashAlgorithm)?.[0];
    if (known === undefined)
      // gpgv cannot hash with it either and answers ERRSIG, which apt counts as worthless (checked
      // with apt 2.6.1: a Release is taken with a good signature before it; with it first or
      // alone, gpgv stops at it and apt says the Release is not signed: the good one is taken here).
      return {
        why: `made with hash algorithm ${packet.hashAlgorithm ?? '?'}, which is unknown`,
        hint: 'the signature is damaged (the mirror or a proxy changed it), or made with a digest neither gpgv nor openpgp.js knows',
      };
    const hash = known.toUpperCase();
    if (/Insecure (message )?hash algorithm|Hash algorithm too weak/i.test(message))
      return {
        why: `made with ${hash}, a digest too weak to trust`,
        hint: 'the repository must sign with SHA-256 or a stronger digest (apt counts a SHA-1 signature as worthless too)',
      };
    if (packet.created !== null && packet.created.getTime() > now.getTime() + MAX_FUTURE_MS)
      return {
        why: `made at ${packet.created.toISOString()}, after ${now.toISOString()}: check this machine's clock`,
        hint: "check this machine's clock: a signature made more than 10 s after it is refused here (apt takes it, and refuses the Release by its Date instead)",
      };
    const expires = packet.getExpirationTime();
    if (expires instanceof Date && expires.getTime() <= now.getTime() + MAX_FUTURE_MS)
      return {
        why: `the signature expired at ${expires.toISOString()}`,
        hint: "the mirror may be stale (the repository made this signature to be good only until then), or this machine's clock ahead",
      };
  }
  return { why: message, hint: STALE };
}

/**
 * Why the (sub)key `keyID` of `primary` cannot sign at `now` (expired, revoked, not a signing
 * key, too weak), with a hint true of that reason, or undefined when it can.
 */
async function invalidNow(primary: PublicKey, keyID: VerificationResult['keyID'], now: Date): Promise<Worthless | undefined> {
  try {
    await primary.getSigningKey(keyID, now);
    return undefined;
  } catch (err) {
    const expiry = await signingKeyExpiry(primary, keyID.toHex(), now);
    if (expiry !== undefined && expiry.getTime() <= now.getTime())
      return {
        why: `expired at ${expiry.toISOString()}`,
        hint: 'the keyring may be out of date (update it: debian-archive-keyring for Debian), or the mirror stale, still serving a Release signed with an old key',
      };
    const message = (err as Error).message;
    const revoked = {
      hint: 'the repository must sign with another key: the mirror may be stale, or the keyring lack the new key (update it: debian-archive-keyring for Debian)',
    };
    if (/Primary key is revoked/.test(message)) return { why: 'the key is revoked', ...revoked };
    if (/Subkey is revoked/.test(message)) return { why: 'the signing subkey is revoked', ...revoked };
    const weak = /RSA keys shorter than (\d+) bits/.exec(message);
    if (weak !== null) {
      // The key that signed: a signing subkey's size, not its primary key's.
      const signing = primary.getKeys(keyID)[0] ?? primary;
      return {
        why: `an RSA key of ${signing.getAlgorithmInfo().bits ?? '?'} bits, too weak: at least ${weak[1]} are needed`,
        hint: 'the repository must sign with a stronger key (openpgp.js refuses RSA under 2047 bits)',
      };
    }
    if (/^Could not find valid signing key packet in key [0-9a-f]+$/.test(message))
      return {
        why: 'not a signing key: its key flags do not allow signing',
        hint: 'the keyring may hold an old copy of the key, without the signing subkey (update it), or the repository signs with a key not meant to',
      };
    return { why: `not valid for signing at ${now.toISOString()}: ${message}`, hint: STALE };
  }
}

/** A line as apt's LineBuffer reads it: without its line end, and trailing blanks (RFC 9580, section 7.2). */
function aptLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.map((l) => l.replace(/\r+$/, '').replace(/[ \t]+$/, ''));
}

const SIGNED = '-----BEGIN PGP SIGNED MESSAGE-----';
const BEGIN = '-----BEGIN PGP SIGNATURE-----';
const END = '-----END PGP SIGNATURE-----';

/**
 * Splits a clearsigned Release into its signed text and its armored signature blocks as apt does
 * before it calls gpgv (apt-pkg/contrib/gpgv.cc, SplitClearSignedFile), refusing what apt refuses:
 * anything before the `-----BEGIN PGP SIGNED MESSAGE-----` line, blank lines included; an armor
 * header starting with a dash; a line of the signed text starting with a dash that is not
 * dash-escaped (`- `); in a signature, a line starting with a dash other than its end; after
 * the last signature, anything but another signature block (a blank line, unsigned text, a second
 * signed message). A file with no signed message at all is openpgp.js's to refuse: an error page.
 * Armor headers (Hash, Comment) are skipped, as apt skips them: they are not signed.
 *
 * @throws ProvenantError `SIGNATURE` naming the first line apt refuses
 */
function splitClearsigned(input: string, where: string): { text: string; armors: string[] } {
  const lines = aptLines(input);
  if (lines[0] !== SIGNED) {
    const header = lines.indexOf(SIGNED);
    if (header === -1) throw new Error(`it does not start with ${SIGNED}`);
    throw frame(where, 'InRelease', 0, `${kind(lines[0])} before its signed message`, `the file should start with ${SIGNED}`);
  }
  let i = 1;
  for (; i < lines.length && lines[i] !== ''; i++) {
    if (lines[i]?.startsWith('-'))
      throw frame(where, 'InRelease', i, 'an armor header starting with a dash', 'armor headers never start with one');
  }
  if (i >= lines.length) throw frame(where, 'InRelease', i - 1, 'no signed text', 'the file ends in its armor headers');
  const text: string[] = [];
  for (i++; i < lines.length && lines[i] !== BEGIN; i++) {
    const line = lines[i] as string;
    if (line.startsWith('- ')) text.push(line.slice(2));
    else if (line.startsWith('-'))
      throw frame(
        where,
        'InRelease',
        i,
        'a line of its signed text starting with a dash that is not dash-escaped',
        'such a line must start with "- "',
      );
    else text.push(line);
  }
  if (i >= lines.length) throw frame(where, 'InRelease', i - 1, 'no signature', `the signed text should end at a ${BEGIN} line`);
  const armors = signatureBlocks(lines, i, where, 'InRelease', (at) =>
    frame(
      where,
      'InRelease',
      at,
      lines[at] === SIGNED ? 'a second signed message after its signature' : `${kind(lines[at])} after its signature`,
      `the file should end with ${END}`,
    ),
  );
  return { text: text.join('\n'), armors };
}

/**
 * The armored signature blocks of a detached Release.gpg, as apt checks it before it calls gpgv
 * (ExecGPGV): ASCII-armored only, nothing before, between or after the blocks, no line in a block
 * starting with a dash but its end.
 *
 * @throws ProvenantError `SIGNATURE` for a binary signature or a line apt refuses
 */
function splitDetached(bytes: Uint8Array, where: string): string[] {
  const lines = aptLines(utf8.decode(bytes));
  const start = lines.indexOf(BEGIN);
  // apt: "is in unsupported binary format" (an old-format packet tag, as gpg writes).
  if (start === -1 && ((bytes[0] ?? 0) & 0x80) !== 0) {
    throw new ProvenantError('SIGNATURE', 'the Release.gpg is a binary signature, which apt refuses', {
      where,
      hint: 'apt takes only an ASCII-armored Release.gpg (gpg --armor --detach-sign)',
    });
  }
  if (start === -1) throw new Error(`the Release.gpg holds no ${BEGIN} block`);
  if (start !== 0) throw frame(where, 'Release.gpg', 0, `${kind(lines[0])} before its signature`, `the file should start with ${BEGIN}`);
  return signatureBlocks(lines, 0, where, 'Release.gpg', (at) =>
    frame(where, 'Release.gpg', at, `${kind(lines[at])} after its signature`, `the file should end with ${END}`),
  );
}

/** The signature blocks from `lines[start]` (a BEGIN line) to the end, which must be more of them. */
function signatureBlocks(lines: string[], start: number, where: string, file: string, after: (at: number) => ProvenantError): string[] {
  const armors: string[] = [];
  let block: string[] | undefined;
  for (let i = start; i < lines.length; i++) {
    const line = lines[i] as string;
    if (block === undefined) {
      if (line !== BEGIN) throw after(i);
      block = [line];
    } else if (line === END) {
      block.push(line);
      armors.push(block.join('\n'));
      block = undefined;
    } else if (line.startsWith('-')) {
      throw frame(where, file, i, 'a line starting with a dash inside its signature', 'base64 never starts with one');
    } else block.push(line);
  }
  if (block !== undefined) throw frame(where, file, lines.length - 1, 'a signature that is not closed', `it should end with ${END}`);
  return armors;
}

function kind(line: string | undefined): string {
  return line === '' ? 'a blank line' : 'unsigned text';
}

function frame(where: string, file: string, index: number, what: string, should: string): ProvenantError {
  return new ProvenantError('SIGNATURE', `the ${file} holds ${what} (line ${index + 1}), which apt refuses`, {
    where,
    hint: `${should}: the mirror or a proxy changed it, or the repository's signing tool is broken`,
  });
}

/**
 * When the key that signs as `keyID` stops being valid: the earlier of its primary key's expiry
 * and, for a subkey, the subkey's own; undefined when neither expires.
 */
async function signingKeyExpiry(primaryKey: OpenPgpPublicKey, keyID: string, now: Date): Promise<Date | undefined> {
  const primary = openpgpKey(primaryKey);
  const times: unknown[] = [await primary.getExpirationTime().catch(() => null)];
  const subkey = primary.subkeys.find((s) => s.getKeyID().toHex() === keyID);
  if (subkey !== undefined) times.push(await subkey.getExpirationTime(now).catch(() => null));
  let first: Date | undefined;
  for (const t of times) if (t instanceof Date && (first === undefined || t < first)) first = t;
  return first;
}

/**
 * The text of a Release whose signature is not checked (`trusted=yes`): an InRelease is split as
 * apt splits it (its frame is checked, as apt checks it even then), anything else is the text.
 *
 * @throws ProvenantError `SIGNATURE` for an InRelease apt would not split
 */
export async function unverifiedText(bytes: Uint8Array, detached: boolean, where = 'the Release'): Promise<string> {
  const text = utf8.decode(bytes);
  if (detached) return text;
  try {
    return splitClearsigned(text, where).text;
  } catch (err) {
    // No signed message at all: an unsigned Release, read as it is.
    if (isProvenantError(err)) throw err;
    return text;
  }
}
