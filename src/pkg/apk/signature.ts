/**
 * apk signatures: RSA PKCS#1 v1.5 over compressed bytes, in a tar of `.SIGN.<TYPE>.<keyname>`
 * entries that forms the first gzip member of an index or package.
 *
 * `.SIGN.RSA.` entries hash with SHA-1 and `.SIGN.RSA256.` with SHA-256 (apk-tools' and abuild's
 * `--type RSA256`). The key is chosen by its file name: a signature names `foo.rsa.pub` and only
 * the key the keyring holds under that name can verify it, as apk-tools does with /etc/apk/keys.
 */
import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { ProvenantError } from '../../errors.ts';

/** A PEM block of a private key: PKCS#8, PKCS#1 or encrypted, RSA or any other. */
const PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/** Trusted public keys, by the file name that signatures use to refer to them. */
export class ApkKeyring {
  readonly #keys = new Map<string, { key: KeyObject; pem: string }>();

  /**
   * Adds a PEM public key (SPKI `PUBLIC KEY` or PKCS#1 `RSA PUBLIC KEY`) under `name`, the key's
   * file name (a path is cut to its last part).
   *
   * @throws ProvenantError `UNTRUSTED_KEY` when the text is not an RSA public key, or holds a
   *   private key
   */
  add(name: string, pem: string, where?: string): this {
    const base = name.slice(name.lastIndexOf('/') + 1);
    // A private key would pass for its public one (createPublicKey derives it), and the text is
    // written where keys are published: the lock, the provenance, /etc/apk/keys of the image.
    if (PRIVATE_KEY.test(pem)) {
      throw new ProvenantError('UNTRUSTED_KEY', `the key ${JSON.stringify(base)} is a private key: the keyring takes public keys`, {
        where: where ?? name,
        hint: 'name the public key (abuild and melange write it beside the private one, as NAME.rsa.pub)',
      });
    }
    let key: KeyObject;
    try {
      key = createPublicKey(pem);
    } catch (err) {
      throw new ProvenantError('UNTRUSTED_KEY', `the key ${JSON.stringify(base)} is not a PEM public key`, {
        where: where ?? name,
        cause: err,
      });
    }
    if (key.asymmetricKeyType !== 'rsa') {
      throw new ProvenantError(
        'UNTRUSTED_KEY',
        `the key ${JSON.stringify(base)} is ${key.asymmetricKeyType ?? 'not'} an RSA key; apk signs with RSA`,
        {
          where: where ?? name,
        },
      );
    }
    this.#keys.set(base, { key, pem });
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

/** One signature found in a signature member. */
export interface ApkSignature {
  /** `RSA` (SHA-1) or `RSA256` (SHA-256). */
  type: 'RSA' | 'RSA256';
  /** The key's file name, as the signature names it. */
  keyName: string;
  /** The raw signature bytes. */
  signature: Uint8Array;
}

/** The outcome of {@link verifyApkSignatures}: which signature verified. */
export interface VerifiedSignature {
  type: 'RSA' | 'RSA256';
  keyName: string;
}

const SIGN_ENTRY = /^\.SIGN\.(RSA|RSA256)\.(.+)$/;

/**
 * Parses one entry name of a signature member. Returns undefined for names that are not
 * signatures (which a signature member must not hold).
 */
function parseSignatureName(name: string): { type: 'RSA' | 'RSA256'; keyName: string } | undefined {
  const m = SIGN_ENTRY.exec(name);
  if (m === null || m[2] === undefined || m[2].includes('/')) return undefined;
  return { type: m[1] as 'RSA' | 'RSA256', keyName: m[2] };
}

/**
 * Verifies `signed` against the signatures, with the keys of `keyring`. One signature made with a
 * key the keyring holds and that verifies is enough (an index may carry several, for key
 * rotation). A signature whose key the keyring holds but that does not verify is a failure, not
 * something to skip: the bytes were changed, or the key name collides.
 *
 * @throws ProvenantError `SIGNATURE` when there are no signatures or one with a trusted key
 *   fails, `UNTRUSTED_KEY` when no signature names a key of the keyring
 */
export function verifyApkSignatures(
  signatures: readonly ApkSignature[],
  signed: Uint8Array,
  keyring: ApkKeyring,
  where: string,
): VerifiedSignature {
  if (signatures.length === 0) {
    throw new ProvenantError('SIGNATURE', `${where} is not signed, and Provenant installs nothing unsigned`, {
      where,
      hint: 'sign a package with `provenant apk build --key KEY.rsa`, an index with `provenant apk index --key KEY.rsa` (or abuild-sign), and list KEY.rsa.pub in contents.keyring',
    });
  }
  let verified: VerifiedSignature | undefined;
  for (const sig of signatures) {
    const key = keyring.get(sig.keyName);
    if (key === undefined) continue;
    const ok = verify(sig.type === 'RSA' ? 'sha1' : 'sha256', signed, key, sig.signature);
    if (!ok) {
      throw new ProvenantError('SIGNATURE', `the ${sig.type} signature by ${sig.keyName} does not verify`, {
        where,
        hint: 'the content was changed after signing, or a different key has the same file name',
      });
    }
    verified ??= { type: sig.type, keyName: sig.keyName };
  }
  if (verified === undefined) {
    const names = signatures.map((s) => s.keyName).join(', ');
    throw new ProvenantError('UNTRUSTED_KEY', `it is signed by ${names}, and none of those keys is in the keyring`, {
      where,
      hint: `add the repository's public key to contents.keyring (trusted now: ${keyring.names().join(', ') || 'none'})`,
    });
  }
  return verified;
}

/**
 * Reads the first gzip member's tar entries as a signature member: the signatures when every
 * entry is a `.SIGN.*` file, or undefined when the member is something else (an unsigned index
 * or package starts with its content).
 *
 * @throws ProvenantError `INVALID_PACKAGE` for a `.SIGN.` entry that names no type and key
 */
export function signaturesOf(files: readonly { name: string; body: Uint8Array }[], where: string): ApkSignature[] | undefined {
  if (files.length === 0 || !files.every((f) => f.name.startsWith('.SIGN.'))) return undefined;
  return files.map((f) => {
    const parsed = parseSignatureName(f.name);
    if (parsed === undefined) {
      throw new ProvenantError(
        'INVALID_PACKAGE',
        `the signature entry ${JSON.stringify(f.name)} is not .SIGN.RSA.<key> or .SIGN.RSA256.<key>`,
        { where },
      );
    }
    return { ...parsed, signature: f.body };
  });
}
