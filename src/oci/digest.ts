/** Content digests (`sha256:<hex>`, `sha512:<hex>`): checking, computing and verifying them. */
import type { Hash } from 'node:crypto';
import { ProvenantError } from '../errors.ts';

/** A content digest, `algorithm:hex`, as the OCI image spec defines it. */
export type Digest = `${DigestAlgorithm}:${string}`;

/** The algorithms Provenant computes and verifies. */
export type DigestAlgorithm = 'sha256' | 'sha512';

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

// node:crypto is taken when the first hash is made, not imported: loading it takes about 5 ms,
// a sixth of Node's own start, and commands such as `digest` of a layout hash nothing.
function createHash(algorithm: DigestAlgorithm): Hash {
  return process.getBuiltinModule('node:crypto').createHash(algorithm);
}

// https://github.com/opencontainers/image-spec/blob/main/descriptor.md#digests
// sha256 and sha512 must be lower-case hex of the exact length; other algorithms are not
// registered and a digest naming one cannot be verified, so it is refused.
const DIGEST_RE = /^(sha256|sha512):([a-f0-9]+)$/;

/** True when `value` is a well-formed sha256 or sha512 digest. */
export function isDigest(value: unknown): value is Digest {
  if (typeof value !== 'string') return false;
  const m = DIGEST_RE.exec(value);
  return m !== null && m[2]?.length === HEX_LENGTH[m[1] as DigestAlgorithm];
}

/** Parses and checks a digest string; `where` says where it was found. */
export function parseDigest(value: string, where?: string): Digest {
  if (!isDigest(value)) {
    throw new ProvenantError('INVALID_DIGEST', `"${truncate(value)}" is not a sha256 or sha512 digest`, {
      where,
      hint: 'a digest looks like sha256:<64 lower-case hex digits>',
    });
  }
  return value;
}

/**
 * The algorithm part of a digest.
 *
 * @throws ProvenantError `INVALID_DIGEST` for an algorithm other than sha256 and sha512: a
 *   descriptor built by a caller is typed {@link Digest} without having been checked, and its
 *   content would otherwise be hashed with whatever node:crypto has by that name (md5, sha1)
 */
export function digestAlgorithm(digest: Digest): DigestAlgorithm {
  const algorithm = digest.slice(0, digest.indexOf(':'));
  if (algorithm === 'sha256' || algorithm === 'sha512') return algorithm;
  throw new ProvenantError(
    'INVALID_DIGEST',
    `"${truncate(digest)}" names ${algorithm || 'no algorithm'}: only sha256 and sha512 digests are verified`,
    {
      where: truncate(digest),
      hint: 'a digest looks like sha256:<64 lower-case hex digits>',
    },
  );
}

/** The hex part of a digest. */
export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}

/** The digest of some bytes. */
export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

/**
 * An incremental digester for streamed content: `update` with each chunk, then `digest()`.
 * It also counts bytes, since a descriptor's size must match too.
 */
export class Digester {
  readonly algorithm: DigestAlgorithm;
  #hash: Hash;
  #size = 0;

  constructor(algorithm: DigestAlgorithm = 'sha256') {
    this.algorithm = algorithm;
    this.#hash = createHash(algorithm);
  }

  update(chunk: Uint8Array): void {
    this.#hash.update(chunk);
    this.#size += chunk.byteLength;
  }

  get size(): number {
    return this.#size;
  }

  /** A digester that has seen the same bytes and goes on from there on its own (Hash.copy). */
  copy(): Digester {
    const c = new Digester(this.algorithm);
    c.#hash = this.#hash.copy();
    c.#size = this.#size;
    return c;
  }

  digest(): Digest {
    return `${this.algorithm}:${this.#hash.digest('hex')}`;
  }
}

/** Throws DIGEST_MISMATCH unless `data` has digest `expected`. */
export function verifyDigest(data: Uint8Array, expected: Digest, where?: string): void {
  const actual = digestOf(data, digestAlgorithm(expected));
  if (actual !== expected) throw digestMismatch(expected, actual, where);
}

/** The error for content whose digest is not the one it was asked for by. */
export function digestMismatch(expected: Digest, actual: Digest, where?: string): ProvenantError {
  return new ProvenantError('DIGEST_MISMATCH', `content has digest ${actual}, expected ${expected}`, {
    where,
    hint: 'the content was changed or corrupted in storage or transit',
  });
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
