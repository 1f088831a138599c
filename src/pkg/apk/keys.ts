/**
 * Making apk signing keys, as `abuild-keygen` does: RSA key pairs named the way apk finds the key
 * that verifies a signature.
 */
import { generateKeyPairSync } from 'node:crypto';
import { ProvenantError } from '../../errors.ts';
import { digestHex, digestOf } from '../../oci/digest.ts';

/** A key pair made by {@link generateApkKeyPair}. */
export interface ApkKeyPair {
  /** PKCS#1 `RSA PRIVATE KEY` PEM, what `openssl genrsa` wrote before OpenSSL 3 and every apk signer reads. */
  privateKeyPem: string;
  /** SPKI `PUBLIC KEY` PEM, what `openssl rsa -pubout` writes: the file for /etc/apk/keys. */
  publicKeyPem: string;
  /** The public key's file name, `<name>-<8 hex>.rsa.pub`: the name signatures refer to. */
  name: string;
  /** The private key's file name, `<name>-<8 hex>.rsa`. */
  privateKeyName: string;
}

/** Options of {@link generateApkKeyPair}. */
export interface GenerateApkKeyPairOptions {
  /** RSA modulus size; 4096 by default, as abuild-keygen makes them. */
  bits?: 2048 | 4096;
}

/**
 * Makes an RSA key pair for signing packages and indexes, as `abuild-keygen` does.
 *
 * abuild-keygen names a key `<email>-<hex of the current time>.rsa`; here the 8 hex digits are
 * the start of the SHA-256 of the public key instead, so that two keys made in the same second
 * still get different names (the name is all apk uses to pick the key that verifies a signature).
 *
 * @param name the start of the file name (default `provenant`); a name that already ends in
 *   `.rsa` or `.rsa.pub` is used as it is
 * @throws ProvenantError `USAGE` for a name with a slash, whitespace or nothing in it
 */
export function generateApkKeyPair(name = 'provenant', options: GenerateApkKeyPairOptions = {}): ApkKeyPair {
  const bits = options.bits ?? 4096;
  if (bits !== 2048 && bits !== 4096) throw new ProvenantError('USAGE', `an apk key has 2048 or 4096 bits, not ${String(bits)}`);
  checkKeyName(name.replace(/\.rsa(\.pub)?$/, ''), 'the key name');
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: 0x10001 });
  const privateKeyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  let base: string;
  if (/\.rsa(\.pub)?$/.test(name)) {
    base = name.replace(/\.rsa(\.pub)?$/, '');
  } else {
    const der = publicKey.export({ type: 'spki', format: 'der' });
    base = `${name}-${digestHex(digestOf(der)).slice(0, 8)}`;
  }
  return { privateKeyPem, publicKeyPem, name: `${base}.rsa.pub`, privateKeyName: `${base}.rsa` };
}

/**
 * Checks that a key name is a file name (apk finds a signature's key by it).
 *
 * @throws ProvenantError `USAGE` naming `what`
 */
export function checkKeyName(name: string, what: string): void {
  if (name === '' || /[\s/\0]/.test(name)) {
    throw new ProvenantError('USAGE', `${what} ${JSON.stringify(name)} must be a file name: not empty, no slash, no whitespace`);
  }
}
