/**
 * cosign's key files.
 *
 * A private key file is PEM, type `ENCRYPTED SIGSTORE PRIVATE KEY` (what cosign writes since
 * 2.0) or `ENCRYPTED COSIGN PRIVATE KEY` (cosign 1, still read), around a JSON document made by
 * go-securesystemslib's `encrypted` package:
 *
 * ```json
 * {"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":"<32 bytes>"},
 *  "cipher":{"name":"nacl/secretbox","nonce":"<24 bytes>"},"ciphertext":"<...>"}
 * ```
 *
 * The secretbox key is scrypt(password, salt, N, r, p) of 32 bytes; the plaintext is a PKCS#8
 * private key (https://github.com/sigstore/cosign/blob/main/pkg/cosign/keys.go,
 * https://github.com/secure-systems-lab/go-securesystemslib/blob/main/encrypted/encrypted.go).
 * The public key file is a PKIX `PUBLIC KEY` PEM.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, randomBytes, scrypt } from 'node:crypto';
import { secretbox } from '@noble/ciphers/salsa.js';
import { ProvenantError } from '../errors.ts';
import { readNamedFile } from '../io/named-file.ts';

/** The PEM type cosign 2 and 3 write. */
export const SIGSTORE_PRIVATE_KEY_PEM = 'ENCRYPTED SIGSTORE PRIVATE KEY';
/** The PEM type cosign 1 wrote; cosign still reads it. */
export const COSIGN_PRIVATE_KEY_PEM = 'ENCRYPTED COSIGN PRIVATE KEY';

/** scrypt's cost parameters. cosign writes N=65536 (2^16), r=8, p=1. */
export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** What cosign's `generate-key-pair` uses (go-securesystemslib's defaults). */
export const COSIGN_SCRYPT: ScryptParams = { N: 65536, r: 8, p: 1 };

const SALT_BYTES = 32;
const NONCE_BYTES = 24;
const KEY_BYTES = 32;
// A hostile key file must not make us allocate without bound: scrypt needs 128·N·r bytes.
const SCRYPT_MEMORY_LIMIT = 1024 * 1024 * 1024;

/** A key pair held in memory. */
export interface SigningKeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** Makes a new ECDSA P-256 key pair, the kind cosign generates. */
export function generateSigningKeyPair(): SigningKeyPair {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

/** Options of {@link encryptPrivateKey}. */
export interface EncryptKeyOptions {
  /** The PEM type to write (default the SIGSTORE one, as cosign 2 and 3 do). */
  pemType?: typeof SIGSTORE_PRIVATE_KEY_PEM | typeof COSIGN_PRIVATE_KEY_PEM;
  /** scrypt's parameters (default cosign's). */
  scrypt?: ScryptParams;
}

/** Encrypts a private key into cosign's PEM format. */
export async function encryptPrivateKey(
  privateKey: KeyObject,
  password: string | Uint8Array,
  options: EncryptKeyOptions = {},
): Promise<string> {
  const params = options.scrypt ?? COSIGN_SCRYPT;
  checkScrypt(params, 'scrypt parameters');
  const plaintext = privateKey.export({ format: 'der', type: 'pkcs8' });
  const salt = randomBytes(SALT_BYTES);
  const nonce = randomBytes(NONCE_BYTES);
  const key = await deriveKey(password, salt, params);
  const ciphertext = secretbox(key, nonce).seal(plaintext);
  // Field order as go-securesystemslib marshals its structs.
  const doc = {
    kdf: { name: 'scrypt', params: { N: params.N, r: params.r, p: params.p }, salt: b64(salt) },
    cipher: { name: 'nacl/secretbox', nonce: b64(nonce) },
    ciphertext: b64(ciphertext),
  };
  return pemEncode(options.pemType ?? SIGSTORE_PRIVATE_KEY_PEM, Buffer.from(JSON.stringify(doc)));
}

/** The PEM block of a cosign private key file (either type), or why the text is none. */
function cosignKeyBlock(pem: string | Uint8Array, at: { where?: string }): { type: string; bytes: Uint8Array } {
  const block = pemDecode(typeof pem === 'string' ? pem : Buffer.from(pem).toString('utf8'));
  if (block === undefined) throw new ProvenantError('INVALID_CONFIG', 'the key holds no PEM block', at);
  if (block.type !== SIGSTORE_PRIVATE_KEY_PEM && block.type !== COSIGN_PRIVATE_KEY_PEM) {
    throw new ProvenantError('INVALID_CONFIG', `the key holds a "${block.type}" PEM block, not a cosign private key`, {
      ...at,
      hint: `cosign private keys are "${SIGSTORE_PRIVATE_KEY_PEM}" (or "${COSIGN_PRIVATE_KEY_PEM}") files; make one with generate-key-pair`,
    });
  }
  return block;
}

/**
 * Decrypts a cosign private key file (either PEM type) with `password`.
 *
 * @param where the file's name, for messages
 * @throws ProvenantError `CREDENTIALS` when the password is wrong, `INVALID_CONFIG` when the
 *   file is not a cosign key (or holds a key cosign itself would refuse)
 */
export async function decryptPrivateKey(pem: string | Uint8Array, password: string | Uint8Array, where?: string): Promise<KeyObject> {
  const at = where === undefined ? {} : { where };
  const doc = parseEncrypted(cosignKeyBlock(pem, at).bytes, at);
  const key = await deriveKey(password, doc.salt, doc.params);
  let plaintext: Uint8Array;
  try {
    plaintext = secretbox(key, doc.nonce).open(doc.ciphertext);
  } catch (cause) {
    throw new ProvenantError('CREDENTIALS', 'the password does not decrypt the private key', {
      ...at,
      cause,
      hint: 'check COSIGN_PASSWORD (or PROVENANT_KEY_PASSWORD); an empty password is a password too',
    });
  }
  try {
    // cosign parses PKCS#8 only (x509.ParsePKCS8PrivateKey): a SEC1 key inside is refused there,
    // so it is refused here too rather than producing signatures cosign's keys never could.
    return createPrivateKey({ key: Buffer.from(plaintext), format: 'der', type: 'pkcs8' });
  } catch (cause) {
    throw new ProvenantError('INVALID_CONFIG', 'the decrypted key is not a PKCS#8 private key', {
      ...at,
      cause,
      hint: 'cosign refuses such keys too; re-import the key with cosign import-key-pair',
    });
  }
}

/** The PKIX `PUBLIC KEY` PEM of a key (cosign.pub's format). */
export function publicKeyPem(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pemEncode('PUBLIC KEY', pub.export({ format: 'der', type: 'spki' }));
}

/**
 * Reads a public key from PEM: its first block, a PKIX `PUBLIC KEY` or a PKCS#1 `RSA PUBLIC
 * KEY`, the two types cosign reads for a key (sigstore's cryptoutils.UnmarshalPEMToPublicKey). A
 * certificate is refused: trusting its key would skip every check a certificate stands for (its
 * chain, validity and identity), which is what keyless verification does.
 *
 * @throws ProvenantError `USAGE` for a PEM block of another type (a certificate, a private key),
 *   `INVALID_CONFIG` when it is no PEM or its key does not parse
 */
export function parsePublicKey(pem: string | Uint8Array, where?: string): KeyObject {
  const at = where === undefined ? {} : { where };
  const block = pemDecode(typeof pem === 'string' ? pem : Buffer.from(pem).toString('utf8'));
  if (block === undefined) throw new ProvenantError('INVALID_CONFIG', 'not a PEM public key', at);
  const type = block.type === 'PUBLIC KEY' ? 'spki' : block.type === 'RSA PUBLIC KEY' ? 'pkcs1' : undefined;
  if (type === undefined) {
    const certificate = block.type === 'CERTIFICATE';
    throw new ProvenantError(
      'USAGE',
      `${/^[AEIOU]/.test(block.type) ? 'an' : 'a'} ${block.type} PEM block, not a public key (PUBLIC KEY or RSA PUBLIC KEY)`,
      {
        ...at,
        hint: certificate
          ? 'a certificate is trusted by its issuer and identity, not as a key: verify keyless with the identity and OIDC issuer it must have'
          : 'give the public key (cosign.pub)',
      },
    );
  }
  try {
    return createPublicKey({ key: Buffer.from(block.bytes), format: 'der', type });
  } catch (cause) {
    throw new ProvenantError('INVALID_CONFIG', `the ${block.type} PEM block does not parse as a key`, { ...at, cause });
  }
}

/**
 * A key's identifier: base64 of SHA-256 over its DER SubjectPublicKeyInfo. This is the key hint
 * cosign 3 (through sigstore-go) writes into bundles (`verificationMaterial.publicKey.hint`),
 * so `inspect` and a bundle name a key alike; cosign prints no other key id.
 */
export function keyId(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256')
    .update(pub.export({ format: 'der', type: 'spki' }))
    .digest('base64');
}

interface Encrypted {
  params: ScryptParams;
  salt: Uint8Array;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

function parseEncrypted(bytes: Uint8Array, at: { where?: string }): Encrypted {
  const bad = (why: string): ProvenantError => new ProvenantError('INVALID_CONFIG', `the encrypted key is malformed: ${why}`, at);
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw bad('not JSON');
  }
  const o = doc as {
    kdf?: { name?: unknown; params?: { N?: unknown; r?: unknown; p?: unknown }; salt?: unknown };
    cipher?: { name?: unknown; nonce?: unknown };
    ciphertext?: unknown;
  };
  if (typeof o !== 'object' || o === null) throw bad('not a JSON object');
  if (o.kdf?.name !== 'scrypt') throw bad(`key derivation ${JSON.stringify(o.kdf?.name)} is not scrypt`);
  if (o.cipher?.name !== 'nacl/secretbox') throw bad(`cipher ${JSON.stringify(o.cipher?.name)} is not nacl/secretbox`);
  const { N, r, p } = o.kdf.params ?? {};
  if (typeof N !== 'number' || typeof r !== 'number' || typeof p !== 'number') throw bad('scrypt parameters are missing');
  const params = { N, r, p };
  checkScrypt(params, 'the key file', at);
  const salt = b64decode(o.kdf.salt);
  const nonce = b64decode(o.cipher.nonce);
  const ciphertext = b64decode(o.ciphertext);
  if (salt === undefined || salt.length === 0) throw bad('the salt is missing');
  if (nonce?.length !== NONCE_BYTES) throw bad(`the nonce is not ${NONCE_BYTES} bytes`);
  if (ciphertext === undefined || ciphertext.length < 16) throw bad('the ciphertext is missing');
  return { params, salt, nonce, ciphertext };
}

function checkScrypt(params: ScryptParams, what: string, at: { where?: string } = {}): void {
  const { N, r, p } = params;
  const pow2 = Number.isInteger(N) && N > 1 && (N & (N - 1)) === 0;
  if (!pow2 || !Number.isInteger(r) || r < 1 || !Number.isInteger(p) || p < 1 || p > 64 || 128 * N * r > SCRYPT_MEMORY_LIMIT) {
    throw new ProvenantError('INVALID_CONFIG', `${what}: scrypt N=${N} r=${r} p=${p} are not usable parameters`, {
      ...at,
      hint: 'N must be a power of two and 128·N·r at most 1 GiB',
    });
  }
}

function deriveKey(password: string | Uint8Array, salt: Uint8Array, params: ScryptParams): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    // Node refuses more than 32 MiB by default; cosign's N=65536, r=8 needs 64 MiB.
    const maxmem = 128 * params.N * params.r * 2 + 1024 * 1024;
    scrypt(password, salt, KEY_BYTES, { N: params.N, r: params.r, p: params.p, maxmem }, (err, key) => {
      if (err) reject(new ProvenantError('IO', `scrypt failed: ${err.message}`, { cause: err }));
      else resolve(new Uint8Array(key));
    });
  });
}

/** PEM as Go's encoding/pem writes it: 64-character lines, no headers. */
export function pemEncode(type: string, der: Uint8Array): string {
  const text = Buffer.from(der).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < text.length; i += 64) lines.push(text.slice(i, i + 64));
  return `-----BEGIN ${type}-----\n${lines.join('\n')}\n-----END ${type}-----\n`;
}

/** The first PEM block of `text`, or undefined. */
export function pemDecode(text: string): { type: string; bytes: Uint8Array } | undefined {
  const m = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)\r?\n?-----END \1-----/.exec(text);
  if (m === null) return undefined;
  const body = (m[2] ?? '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) return undefined;
  return { type: m[1] as string, bytes: new Uint8Array(Buffer.from(body, 'base64')) };
}

/** Every PEM block of `text`, in order. */
export function pemDecodeAll(text: string): { type: string; bytes: Uint8Array }[] {
  const out: { type: string; bytes: Uint8Array }[] = [];
  for (const m of text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g)) {
    const block = pemDecode(m[0]);
    if (block !== undefined) out.push(block);
  }
  return out;
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

function b64decode(value: unknown): Uint8Array | undefined {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) return undefined;
  return new Uint8Array(Buffer.from(value, 'base64'));
}

/** A new key pair as cosign's `generate-key-pair` writes it: `cosign.key` and `cosign.pub` contents. */
export async function generateEncryptedKeyPair(
  password: string | Uint8Array,
  options: EncryptKeyOptions = {},
): Promise<{ privateKeyPem: string; publicKeyPem: string }> {
  const { privateKey, publicKey } = generateSigningKeyPair();
  return { privateKeyPem: await encryptPrivateKey(privateKey, password, options), publicKeyPem: publicKeyPem(publicKey) };
}

/**
 * Reads and decrypts a cosign private key file. Given a function, the password is asked for only
 * once the file is read and known to hold a cosign key: a missing file or another kind of PEM is
 * said at once, not after a prompt.
 *
 * The file may be a named pipe (`--key <(pass show cosign.key)`); see {@link readNamedFile} for
 * how long it is waited on, and `options.signal` to end the wait.
 *
 * @throws ProvenantError `NOT_FOUND` when the file is missing, `IO` when it cannot be read,
 *   `ABORTED` when `options.signal` ends a wait on a pipe, and what {@link decryptPrivateKey}
 *   throws, naming the file
 */
export async function loadPrivateKeyFile(
  path: string,
  password: string | Uint8Array | (() => Promise<string | Uint8Array>),
  options: { signal?: AbortSignal | undefined } = {},
): Promise<KeyObject> {
  const text = await readKeyFile(path, options);
  cosignKeyBlock(text, { where: path });
  return decryptPrivateKey(text, typeof password === 'function' ? await password() : password, path);
}

/**
 * Reads a public key file (`cosign.pub`: see {@link parsePublicKey}), which may be a named pipe,
 * as for {@link loadPrivateKeyFile}.
 *
 * @throws ProvenantError `NOT_FOUND`, `IO`, `ABORTED` when `options.signal` ends a wait on a pipe,
 *   or what {@link parsePublicKey} throws, naming the file
 */
export async function loadPublicKeyFile(path: string, options: { signal?: AbortSignal | undefined } = {}): Promise<KeyObject> {
  return parsePublicKey(await readKeyFile(path, options), path);
}

/** The text of a key file, read as every file the user names is (a trusted root file too). */
export async function readKeyFile(path: string, options: { signal?: AbortSignal | undefined }): Promise<string> {
  // As readFile(path, 'utf8') read it: a byte order mark is kept, and refused as no PEM.
  return new TextDecoder('utf-8', { ignoreBOM: true }).decode(await readNamedFile(path, 'the key file', options));
}
