/**
 * apk signatures: RSA PKCS#1 v1.5 over compressed bytes, in a tar of `.SIGN.<TYPE>.<keyname>`
 * entries that forms the first gzip member of an index or package.
 *
 * `.SIGN.RSA.` entries hash with SHA-1, `.SIGN.RSA256.` with SHA-256 (apk-tools' and abuild's
 * `--type RSA256`), `.SIGN.RSA512.` with SHA-512. The key is chosen by its file name: a signature
 * names `foo.rsa.pub` and only the key the keyring holds under that name can verify it, as
 * apk-tools does with /etc/apk/keys.
 */
import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { type ErrorDetails, ProvenantError } from '../../errors.ts';

/** A PEM block of a private key: PKCS#8, PKCS#1 or encrypted, RSA or any other. */
const PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/** The label of a PEM block's first line: `PUBLIC KEY` in `-----BEGIN PUBLIC KEY-----`. */
const PEM_LABEL = /-----BEGIN ([A-Z0-9 ]+)-----/;

/**
 * Why a text is not a key the keyring takes: a private key, a PKCS#1 `RSA PUBLIC KEY`, another
 * PEM block, no public key Node can read, or a key that is not RSA.
 */
type KeyTextFault =
  | { kind: 'private' }
  | { kind: 'pkcs1' }
  | { kind: 'label'; label: string }
  | { kind: 'unreadable'; cause: unknown }
  | { kind: 'type'; type: string | undefined };

/** The RSA public key an SPKI PEM text holds, or why the keyring does not take the text. */
function readKeyText(pem: string): { key: KeyObject } | { fault: KeyTextFault } {
  // A private key would pass for its public one (createPublicKey derives it), and the text is
  // written where keys are published: the lock, the provenance, /etc/apk/keys of the image.
  if (PRIVATE_KEY.test(pem)) return { fault: { kind: 'private' } };
  // The text goes into /etc/apk/keys as it is: apk-tools reads it with PEM_read_bio_PUBKEY and
  // apko with x509.ParsePKIXPublicKey, which both take SPKI only. Node reads a PKCS#1 key or a
  // certificate as well, so a key that verifies here would be one the image's apk cannot load.
  const label = PEM_LABEL.exec(pem)?.[1];
  if (label === 'RSA PUBLIC KEY') return { fault: { kind: 'pkcs1' } };
  if (label !== undefined && label !== 'PUBLIC KEY') return { fault: { kind: 'label', label } };
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (cause) {
    return { fault: { kind: 'unreadable', cause } };
  }
  if (key.asymmetricKeyType !== 'rsa') return { fault: { kind: 'type', type: key.asymmetricKeyType } };
  return { key };
}

/** What a text holds, for a message about where it was found ("it holds a private key"). */
function faultText(fault: KeyTextFault): string {
  switch (fault.kind) {
    case 'private':
      return 'a private key';
    case 'pkcs1':
      return 'a PKCS#1 RSA PUBLIC KEY';
    case 'label':
      return `a PEM ${fault.label}`;
    case 'unreadable':
      return 'no public key';
    case 'type':
      return `a key of type ${fault.type ?? 'unknown'}`;
  }
}

/**
 * A lock's text of one SPKI public key: the PEM block alone, its lines ended and wrapped any way.
 * Text before or after it (a comment, another block) is not what a lock is checked to hold.
 */
const BARE_PUBLIC_KEY = /^\s*-----BEGIN PUBLIC KEY-----[A-Za-z0-9+/=\s]+-----END PUBLIC KEY-----\s*$/;

/**
 * Whether two keys are one: compared as keys, not as texts, since apk reads the same key from
 * either text (line endings, wrapping, a comment before it). The keyring's one comparison.
 */
function sameKey(a: KeyObject, b: KeyObject): boolean {
  return a.equals(b);
}

/** The text a lock recorded for a keyring entry, and where, for {@link ApkKeyring.add}. */
export interface LockedKeyText {
  /** The text the lock holds. */
  text: string;
  /** The lock file, where an error about the text is. */
  where: string;
  /** The lock's entry, as an error names it (`contents.keyring[0]`). */
  entry: string;
}

/** Trusted public keys, by the file name that signatures use to refer to them. */
export class ApkKeyring {
  readonly #keys = new Map<string, { key: KeyObject; pem: string; where: string }>();

  /**
   * Adds a PEM public key (SPKI, `-----BEGIN PUBLIC KEY-----`) under `name`, the key's file name (a
   * path is cut to its last part). The same key added again under its name is one key, whatever
   * its text (line endings, wrapping, a comment before it): the first text is kept.
   *
   * With `locked`, the text a lock recorded for the entry is kept in place of `pem`'s, so that a
   * build from one lock writes one /etc/apk/keys: the lock's text when it is `pem` or the text
   * kept under the name already (what Provenant writes into a lock), else only when it is an SPKI
   * public key's PEM block alone, of the key `pem` holds.
   *
   * @throws ProvenantError `UNTRUSTED_KEY` when the text is not an SPKI RSA public key (a PKCS#1
   *   `RSA PUBLIC KEY` among them), holds a private key, or when another key has the same file
   *   name; at the lock when the lock's text is not taken
   */
  add(name: string, pem: string, where?: string, locked?: LockedKeyText): this {
    const base = name.slice(name.lastIndexOf('/') + 1);
    const at = where ?? name;
    const read = readKeyText(pem);
    if ('fault' in read) throw keyFault(read.fault, base, at);
    const { key } = read;
    const before = this.#keys.get(base);
    const text = locked === undefined || locked.text === pem || locked.text === before?.pem ? pem : lockedText(locked, key, at);
    // apk finds a key by its file name, and /etc/apk/keys holds one file of a name: two keys
    // under one name cannot both be trusted in the image, and keeping either one silently would
    // trust a key other than the one named (and record the other's text in the lock).
    if (before !== undefined) {
      if (sameKey(before.key, key)) return this;
      throw new ProvenantError(
        'UNTRUSTED_KEY',
        `the keyring holds two different keys named ${JSON.stringify(base)}: ${before.where} and ${at}`,
        {
          where: at,
          hint: 'apk finds a key by its file name in /etc/apk/keys, which holds one file of a name: keep one of them, or give the other key a name of its own (and sign with it under that name)',
        },
      );
    }
    this.#keys.set(base, { key, pem: text, where: at });
    return this;
  }

  /** The key stored under `name`, if any. */
  get(name: string): KeyObject | undefined {
    return this.#keys.get(name)?.key;
  }

  /** The PEM text stored under `name`, if any (for writing /etc/apk/keys). */
  pem(name: string): string | undefined {
    return this.#keys.get(name)?.pem;
  }

  /** Key names, sorted. */
  names(): string[] {
    return [...this.#keys.keys()].sort();
  }

  get size(): number {
    return this.#keys.size;
  }
}

/** The refusal of a key file's text (`at`, the entry as given) that the keyring does not take. */
function keyFault(fault: KeyTextFault, base: string, at: string): ProvenantError {
  const named = JSON.stringify(base);
  switch (fault.kind) {
    case 'private':
      return new ProvenantError('UNTRUSTED_KEY', `the key ${named} is a private key: the keyring takes public keys`, {
        where: at,
        hint: 'name the public key (abuild and melange write it beside the private one, as NAME.rsa.pub)',
      });
    case 'pkcs1': {
      // The file to convert: the entry as given when it is a path, else (a URL) its file name.
      const file = /^[a-z][a-z0-9+.-]*:/i.test(at) ? base : at;
      return new ProvenantError(
        'UNTRUSTED_KEY',
        `the key ${named} (${at}) is a PKCS#1 RSA PUBLIC KEY, which apk and apko cannot read from /etc/apk/keys`,
        {
          where: at,
          hint: `convert it to an SPKI PUBLIC KEY under the same file name (signatures name it): openssl rsa -RSAPublicKey_in -in ${file} -pubout -out ${file}.new && mv ${file}.new ${file}`,
        },
      );
    }
    case 'label':
      return new ProvenantError('UNTRUSTED_KEY', `the key ${named} (${at}) is a PEM ${fault.label}, not a PUBLIC KEY`, {
        where: at,
        hint: 'apk reads keys as SPKI PEM (-----BEGIN PUBLIC KEY-----), what openssl rsa -pubout writes',
      });
    case 'unreadable':
      return new ProvenantError('UNTRUSTED_KEY', `the key ${named} is not a PEM public key`, { where: at, cause: fault.cause });
    case 'type':
      return new ProvenantError('UNTRUSTED_KEY', `the key ${named} is ${fault.type ?? 'not'} an RSA key; apk signs with RSA`, {
        where: at,
      });
  }
}

/**
 * The text a lock recorded for the key file `at`, whose key is `key`, when it is not that file's
 * text: taken when it is an SPKI public key's PEM block alone, of that key. Anything else is the
 * lock's fault, not the file's: Provenant writes a key file's own text there.
 */
function lockedText(locked: LockedKeyText, key: KeyObject, at: string): string {
  const read = readKeyText(locked.text);
  const hint =
    "a lock records the text of each key file as Provenant read it: lock again (provenant lock) rather than edit the lock's keys";
  if ('fault' in read) {
    throw new ProvenantError(
      'UNTRUSTED_KEY',
      `${locked.where} ${locked.entry} (${at}) is not an SPKI RSA public key: it holds ${faultText(read.fault)}`,
      { where: locked.where, hint },
    );
  }
  if (!sameKey(read.key, key)) {
    throw new ProvenantError('UNTRUSTED_KEY', `${locked.where} ${locked.entry} holds another key than ${at} under its name`, {
      where: locked.where,
      hint: 'the key changed since the lock was made, or the lock was edited: lock again (provenant lock) if the new key is the right one',
    });
  }
  // Text around the block would go into /etc/apk/keys from the lock alone: it is neither the
  // file's text nor a key.
  if (!BARE_PUBLIC_KEY.test(locked.text)) {
    throw new ProvenantError('UNTRUSTED_KEY', `${locked.where} ${locked.entry} holds other text than the public key of ${at}`, {
      where: locked.where,
      hint,
    });
  }
  return locked.text;
}

/**
 * The signature types apk-tools 2 verifies, and the digest each signs (`signature_type[]` of its
 * src/extract_v2.c, formerly package.c): RSA512, RSA256 and RSA (SHA-1). Its table lists DSA too,
 * by `NID_dsa`, but it asks OpenSSL for a digest of that NID, and OpenSSL 3 has none (as
 * `EVP_get_digestbyname("DSA")` is NULL): apk passes a `.SIGN.DSA.` entry over, as it passes over
 * an entry of any other type, so it neither verifies a file nor fails one here.
 */
const SIGNATURE_DIGESTS = { RSA512: 'sha512', RSA256: 'sha256', RSA: 'sha1' } as const;

/** A signature type apk-tools verifies. */
export type ApkSignatureType = keyof typeof SIGNATURE_DIGESTS;

/** One signature found in a signature member. */
export interface ApkSignature {
  /**
   * The type its entry name gives: one of {@link ApkSignatureType} (`RSA` is SHA-1, `RSA256`
   * SHA-256, `RSA512` SHA-512), or another that apk skips (`DSA` among them), as the text found.
   */
  type: string;
  /** The key's file name, as the signature names it (empty for an entry of a type apk skips). */
  keyName: string;
  /** The raw signature bytes. */
  signature: Uint8Array;
}

/** The outcome of {@link verifyApkSignatures}: which signature verified. */
export interface VerifiedSignature {
  type: ApkSignatureType;
  keyName: string;
}

/** A signature entry of a type apk verifies: `.SIGN.<TYPE>.<key file name>`. */
const SIGN_ENTRY = /^\.SIGN\.(RSA512|RSA256|RSA)\.(.*)$/s;

function isKnownType(type: string): type is ApkSignatureType {
  return Object.hasOwn(SIGNATURE_DIGESTS, type);
}

/**
 * Parses one entry name of a signature member (every one starts with `.SIGN.`). An entry of a
 * type apk does not know keeps that type and no key name: apk-tools passes over it.
 */
function parseSignatureName(name: string): { type: string; keyName: string } | undefined {
  // apk-tools takes a name with a slash for the start of the package's data, not a signature.
  if (name.includes('/')) return undefined;
  const m = SIGN_ENTRY.exec(name);
  if (m === null) return { type: name.slice('.SIGN.'.length), keyName: '' };
  return { type: m[1]!, keyName: m[2]! };
}

/**
 * The signature apk-tools would check: the first, in the member's order, of a type it knows and
 * by a key that `keyring` holds (extract_v2.c stops looking at the first key it can load). Any
 * later signature, good or bad, is not read.
 */
export function trustedSignature(signatures: readonly ApkSignature[], keyring: ApkKeyring): ApkSignature | undefined {
  return signatures.find((s) => isKnownType(s.type) && s.keyName !== '' && keyring.get(s.keyName) !== undefined);
}

/**
 * The refusal of a file that no key of the keyring signed (`SIGNATURE` when it carries no
 * signature, else `UNTRUSTED_KEY`), with what it does carry: a caller that asks for trust in its
 * own terms (`apk index`'s packages) says so from these, never from the message's text.
 */
export class UntrustedApkError extends ProvenantError {
  declare readonly code: 'SIGNATURE' | 'UNTRUSTED_KEY';
  /** The key names of its signatures of a type apk verifies, in order. */
  readonly signers: readonly string[];
  /** Its signature entries of a type apk passes over, as `.SIGN.<TYPE>...`. */
  readonly skipped: readonly string[];

  constructor(
    code: 'SIGNATURE' | 'UNTRUSTED_KEY',
    message: string,
    details: ErrorDetails,
    found: { signers: readonly string[]; skipped: readonly string[] },
  ) {
    super(code, message, details);
    this.signers = found.signers;
    this.skipped = found.skipped;
  }
}

/** Options of {@link verifyApkSignatures}. */
export interface VerifyApkSignaturesOptions {
  /**
   * Take a file that no key of the keyring signed (unsigned, or signed by other keys only), as
   * apk's `--allow-untrusted` does: nothing verified then, and undefined returned. A signature by
   * a key of the keyring must still verify, unlike in apk-tools, which with `--allow-untrusted`
   * checks no signature at all: a bad one means the file was changed, whatever else is allowed.
   */
  allowUntrusted?: boolean | undefined;
}

/**
 * Verifies `signed` against the signatures, with the keys of `keyring`, as apk-tools does: the
 * first signature of a known type by a key of the keyring ({@link trustedSignature}) decides; it
 * verifies or the file is refused, and the signatures after it are not read. An index may carry
 * several (key rotation); a signature of a type apk does not know is passed over, as one by a key
 * the keyring lacks. This is the one place that rule is applied, for indexes and packages alike.
 *
 * @returns the signature that verified; undefined only with `allowUntrusted`, for a file no key of
 *   the keyring signed
 * @throws ProvenantError `SIGNATURE` when there are no signatures or the deciding one does not
 *   verify, `UNTRUSTED_KEY` when no signature of a known type names a key of the keyring (neither
 *   of those two with `allowUntrusted`)
 */
export function verifyApkSignatures(
  signatures: readonly ApkSignature[],
  signed: Uint8Array,
  keyring: ApkKeyring,
  where: string,
): VerifiedSignature;
export function verifyApkSignatures(
  signatures: readonly ApkSignature[],
  signed: Uint8Array,
  keyring: ApkKeyring,
  where: string,
  options: VerifyApkSignaturesOptions,
): VerifiedSignature | undefined;
export function verifyApkSignatures(
  signatures: readonly ApkSignature[],
  signed: Uint8Array,
  keyring: ApkKeyring,
  where: string,
  options: VerifyApkSignaturesOptions = {},
): VerifiedSignature | undefined {
  const sig = trustedSignature(signatures, keyring);
  if (options.allowUntrusted === true && sig === undefined) return undefined;
  if (signatures.length === 0) {
    throw new UntrustedApkError(
      'SIGNATURE',
      `${where} is not signed, and Provenant installs nothing unsigned`,
      {
        where,
        hint: 'sign a package with `provenant apk build --key KEY.rsa`, an index with `provenant apk index --key KEY.rsa` (or abuild-sign), and list KEY.rsa.pub in contents.keyring',
      },
      { signers: [], skipped: [] },
    );
  }
  if (sig === undefined) {
    const signers = signatures.filter((s) => isKnownType(s.type)).map((s) => s.keyName);
    const unknown = signatures.filter((s) => !isKnownType(s.type)).map((s) => `.SIGN.${s.type}`);
    const skipped = unknown.length === 0 ? '' : ` (apk skips ${unknown.join(', ')}: a type it does not verify)`;
    throw new UntrustedApkError(
      'UNTRUSTED_KEY',
      signers.length === 0
        ? `it carries no signature of a type apk verifies (RSA, RSA256, RSA512)${skipped}`
        : `it is signed by ${signers.join(', ')}, and none of those keys is in the keyring${skipped}`,
      {
        where,
        hint: `add the repository's public key to contents.keyring (trusted now: ${keyring.names().join(', ') || 'none'})`,
      },
      { signers, skipped: unknown },
    );
  }
  const type = sig.type as ApkSignatureType;
  if (!verify(SIGNATURE_DIGESTS[type], signed, keyring.get(sig.keyName)!, sig.signature)) {
    throw new ProvenantError('SIGNATURE', `the ${type} signature by ${sig.keyName} does not verify`, {
      where,
      hint: 'the content was changed after signing, or a different key has the same file name (apk checks the first signature by a trusted key, and only that one)',
    });
  }
  return { type, keyName: sig.keyName };
}

/**
 * Reads the first gzip member's tar entries as a signature member: the signatures when every
 * entry is a `.SIGN.*` file, or undefined when the member is something else (an unsigned index
 * or package starts with its content).
 *
 * @throws ProvenantError `INVALID_PACKAGE` for a `.SIGN.` entry whose name holds a slash
 */
export function signaturesOf(files: readonly { name: string; body: Uint8Array }[], where: string): ApkSignature[] | undefined {
  if (files.length === 0 || !files.every((f) => f.name.startsWith('.SIGN.'))) return undefined;
  return files.map((f) => {
    const parsed = parseSignatureName(f.name);
    if (parsed === undefined) {
      throw new ProvenantError(
        'INVALID_PACKAGE',
        `the signature entry ${JSON.stringify(f.name)} holds a slash: it is no .SIGN.<TYPE>.<key file name>`,
        { where },
      );
    }
    return { ...parsed, signature: f.body };
  });
}
