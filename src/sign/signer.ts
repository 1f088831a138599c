/**
 * Signers. A {@link Signer} signs bytes and returns the signature with its verification
 * material (a public key hint, or a Fulcio certificate), plus whatever witnesses added (a Rekor
 * entry, an RFC 3161 timestamp), as a Sigstore bundle: the one form every storage is made from.
 * cosign 2's `.sig`/`.att` annotations are read off that bundle, cosign 3 stores it as it is.
 *
 * Two implementations: {@link KeySigner} (a cosign key: ECDSA P-256, SHA-256, ASN.1 DER
 * signatures) and {@link KeylessSigner} (an ephemeral key and a short-lived Fulcio certificate
 * for an OIDC identity, the signature logged in Rekor), both through @sigstore/sign's bundle
 * builders, so keyless signing is sigstore-js's own code path.
 */
import { createHash, createPublicKey, sign as cryptoSign, generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { Bundle } from '@sigstore/bundle';
import { X509Certificate } from '@sigstore/core';
import { HashAlgorithm } from '@sigstore/protobuf-specs';
import type { IdentityProvider, Signature, Signer as SigstoreSigner, TSAWitness, Witness } from '@sigstore/sign';
import { abortedError, type ErrorCode, maskCredentials, ProvenantError, urlWithoutUserInfo } from '../errors.ts';
import type { CertificateIdentity } from './identity.ts';
import { keyId, publicKeyPem } from './keys.ts';
import { identityOfCertificate, loggedEnvelope } from './material.ts';
import { issuingChain, type TrustedRoot } from './trust.ts';

/**
 * sigstore-js's signing (the bundle builders, Fulcio and the witnesses), loaded when a signature is
 * first made rather than with the library: with the HTTP client it brings (make-fetch-happen,
 * cacache, the proxy agents) it is about 30 modules and 15 MB of a process that only parses a
 * reference or copies an image (issue 16). @sigstore/core and @sigstore/protobuf-specs load with
 * the library anyway: trust.ts and material.ts need them.
 */
const sigstoreSign = (): Promise<typeof import('@sigstore/sign')> => import('@sigstore/sign');

/**
 * What to sign: raw bytes (a simple-signing payload), or a DSSE payload of a type.
 *
 * A DSSE signature's RFC 3161 timestamp (with a timestamp authority) covers the DSSE signature by
 * default, as a Sigstore bundle's verifiers check it. `timestamp: 'envelope'` has it cover the
 * envelope's bytes instead ({@link Signed.envelope}), as cosign checks the timestamp of a `.att`
 * layer: over the layer's bytes, since the layer's signature annotation is empty
 * (pkg/cosign/verify.go VerifyRFC3161Timestamp). The bundle then carries no timestamp, and
 * {@link Signed.envelopeTimestamp} has it.
 */
export type Signable =
  | { kind: 'message'; bytes: Uint8Array }
  | { kind: 'dsse'; payloadType: string; payload: Uint8Array; timestamp?: 'signature' | 'envelope' | undefined };

/** A signature with everything a verifier needs beside it. */
export interface Signed {
  /** The Sigstore bundle (v0.3): the signature, the key hint or certificate, log entries, timestamps. */
  bundle: Bundle;
  /** The CA chain above a Fulcio certificate (DER, issuer first), when known; [] otherwise. */
  chain: Uint8Array[];
  /**
   * For a DSSE signature, the envelope's JSON exactly as it was sent to the transparency log
   * (or would have been): a `dsse` entry records the SHA-256 of these bytes (rekor
   * pkg/types/dsse/v0.0.1, envelopeHash), and cosign compares that with the SHA-256 of the `.att`
   * layer (pkg/cosign/verify.go VerifyBundle, bundleHash), so the layer is these bytes.
   */
  envelope?: Uint8Array;
  /** With `timestamp: 'envelope'` and a timestamp authority: the RFC 3161 timestamp of {@link envelope}. */
  envelopeTimestamp?: Uint8Array;
}

/** Signs bytes. Implementations: {@link KeySigner}, {@link KeylessSigner}. */
export interface Signer {
  /** The long-lived public key, when there is one (keyless signers have none). */
  readonly publicKey: KeyObject | undefined;
  /**
   * Whether each signature gets a transparency log entry (default no). Signing again then adds a
   * logged signature beside an equal one that has none, which a verifier requiring a log entry
   * would refuse.
   */
  readonly transparencyLog?: boolean | undefined;
  /**
   * What an equal signature's log entry is checked against before it counts as logged (with
   * {@link transparencyLog}); without it none does, and each signing logs anew.
   */
  readonly trustedRoot?: TrustedRoot | undefined;
  /** Signs `content`. */
  sign(content: Signable, options?: { signal?: AbortSignal | undefined }): Promise<Signed>;
}

/** Options of the signers' optional witnesses. */
export interface WitnessOptions {
  /** A Rekor instance to log each signature in (for keyless signing, required). */
  rekorURL?: string | undefined;
  /** An RFC 3161 timestamp authority to timestamp each signature. */
  tsaURL?: string | undefined;
  /** Milliseconds before a request to Fulcio, Rekor or the TSA is given up. */
  timeout?: number | undefined;
  /** How often a failed request is retried (default 2). */
  retries?: number | undefined;
}

/** Options of {@link KeySigner}. */
export interface KeySignerOptions extends WitnessOptions {
  /** Where the key came from, for messages: its file (the CLI's `--key`), or an input's name. */
  source?: string | undefined;
  /**
   * With `rekorURL`: the trusted root whose Rekor keys an existing signature's log entry must
   * verify with for signing again to take it as logged (see {@link Signer.trustedRoot}).
   */
  trustedRoot?: TrustedRoot | undefined;
}

/**
 * Signs with a cosign private key: ECDSA P-256 with SHA-256, DER signatures (what cosign's
 * default `ECDSA_P256_SHA_256` signer produces). The key is named by its {@link keyId} hint.
 * With `rekorURL` each signature is logged, as `cosign sign --key` does by default.
 */
export class KeySigner implements Signer {
  readonly publicKey: KeyObject;
  readonly #privateKey: KeyObject;
  readonly #options: KeySignerOptions;

  constructor(privateKey: KeyObject, options: KeySignerOptions = {}) {
    if (
      privateKey.type !== 'private' ||
      privateKey.asymmetricKeyType !== 'ec' ||
      privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1'
    ) {
      // cosign import-key-pair keeps RSA, P-384 and Ed25519 keys as they are; this signer signs
      // with P-256 and SHA-256 only, so the error names the key's type and where it came from.
      const source = options.source;
      throw new ProvenantError(
        'INVALID_CONFIG',
        `the signing key is ${describeKey(privateKey)}; signing takes ECDSA P-256 private keys only`,
        { ...(source === undefined ? {} : { where: source }), hint: 'make a P-256 key pair with generate-key-pair, or sign keyless' },
      );
    }
    this.#privateKey = privateKey;
    this.publicKey = createPublicKey(privateKey);
    this.#options = options;
  }

  /** True with a `rekorURL`. */
  get transparencyLog(): boolean {
    return this.#options.rekorURL !== undefined;
  }

  /** The `trustedRoot` option. */
  get trustedRoot(): TrustedRoot | undefined {
    return this.#options.trustedRoot;
  }

  /** The key's id, {@link keyId}. */
  get keyId(): string {
    return keyId(this.publicKey);
  }

  async sign(content: Signable, options: { signal?: AbortSignal | undefined } = {}): Promise<Signed> {
    const pem = publicKeyPem(this.publicKey);
    const hint = this.keyId;
    const privateKey = this.#privateKey;
    const signer: SigstoreSigner = {
      async sign(data: Buffer) {
        return { signature: cryptoSign('sha256', data, privateKey), key: { $case: 'publicKey', publicKey: pem, hint } };
      },
    };
    return await signWith(content, signer, this.#options, options.signal);
  }
}

/** A key's type in words: `an RSA private key (2048 bits)`, `an ECDSA P-384 private key`. */
function describeKey(key: KeyObject): string {
  const kind = key.type === 'private' ? 'private key' : `${key.type} key`;
  const d = key.asymmetricKeyDetails;
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss':
      return `an RSA ${kind}${d?.modulusLength === undefined ? '' : ` (${d.modulusLength} bits)`}`;
    case 'ec': {
      const curves: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };
      const curve = d?.namedCurve === undefined ? '' : ` ${curves[d.namedCurve] ?? d.namedCurve}`;
      return `an ECDSA${curve} ${kind}`;
    }
    case 'ed25519':
      return `an Ed25519 ${kind}`;
    default:
      return `a ${key.asymmetricKeyType ?? 'secret'} ${kind}`;
  }
}

/** An OIDC identity token, as a string or fetched on demand. */
export type TokenSource = string | (() => Promise<string>);

/** Options of {@link KeylessSigner}. */
export interface KeylessSignerOptions extends WitnessOptions {
  /** The Fulcio instance that issues the certificate. */
  fulcioURL: string;
  /**
   * Where signatures are logged. Without one (cosign's `--tlog-upload=false`) nothing goes to a
   * log, and a `tsaURL` is required: a timestamp is then what proves the short-lived certificate
   * was valid when it signed.
   */
  rekorURL: string | undefined;
  /** The OIDC token: `--identity-token`, or a function that asks the CI for one. */
  identityToken: TokenSource;
  /** The trusted root, to write the certificate's CA chain beside `.sig` signatures as cosign 2 did. */
  trustedRoot?: TrustedRoot | undefined;
}

/**
 * Keyless signing: an ephemeral P-256 key, a short-lived certificate from Fulcio binding it to
 * the token's identity, each signature logged in Rekor (unless no `rekorURL` is given) and
 * timestamped, with `tsaURL`. One key,
 * one token and one certificate serve every signature the signer makes, as one `cosign sign`
 * invocation signs several images (each signature still gets its own log entry); the certificate
 * is asked for again, with a new token, when it nears its end.
 */
export class KeylessSigner implements Signer {
  readonly publicKey = undefined;
  readonly #options: KeylessSignerOptions;
  readonly #key: CertifiedKey;

  /**
   * @throws ProvenantError `USAGE` without a `rekorURL` or a `tsaURL`: nothing would say when the
   *   certificate, valid for minutes, made the signature, and no verifier could accept it
   */
  constructor(options: KeylessSignerOptions) {
    if (options.rekorURL === undefined && options.tsaURL === undefined) {
      throw new ProvenantError(
        'USAGE',
        'keyless signing without a transparency log needs a timestamp authority: nothing else would prove the short-lived certificate was valid when it signed, and no verifier could accept the signature',
        {
          hint: 'give a tsaURL (an RFC 3161 timestamp authority the verifier’s trusted root lists), or a rekorURL',
        },
      );
    }
    this.#options = options;
    this.#key = new CertifiedKey(options);
  }

  /** True with a `rekorURL`. */
  get transparencyLog(): boolean {
    return this.#options.rekorURL !== undefined;
  }

  /**
   * Who this signer has signed as: the identity and issuer of each certificate Fulcio gave it
   * (one, unless a long run outlived it), each once, read when the certificate came. Empty
   * before the first signature.
   */
  get identities(): readonly CertificateIdentity[] {
    return this.#key.identities;
  }

  async sign(content: Signable, options: { signal?: AbortSignal | undefined } = {}): Promise<Signed> {
    const signed = await signWith(content, this.#key, this.#options, options.signal, this.#key.tokens);
    const leaf = certificateOf(signed.bundle);
    return { ...signed, chain: leaf === undefined ? [] : issuingChain(leaf, this.#options.trustedRoot) };
  }
}

/** How long before its end a certificate is replaced: a signature must be logged while it is valid. */
const RENEW_BEFORE_MS = 60_000;

/**
 * An ephemeral P-256 key with its Fulcio certificate, made on the first signature and kept for
 * the next ones while the certificate has more than {@link RENEW_BEFORE_MS} left (Fulcio's last
 * ten minutes); after a failure the next signature asks again.
 */
class CertifiedKey implements SigstoreSigner {
  /** The tokens used, so that no message repeats one. */
  readonly tokens: string[] = [];
  /** The identity and issuer of each certificate made, each once. */
  readonly identities: CertificateIdentity[] = [];
  readonly #options: KeylessSignerOptions;
  #current: Promise<{ privateKey: KeyObject; certificate: string; notAfter: number }> | undefined;

  constructor(options: KeylessSignerOptions) {
    this.#options = options;
  }

  async sign(data: Buffer): Promise<Signature> {
    const kept = this.#current === undefined ? undefined : await this.#current;
    // A new certificate is used as Fulcio made it; a kept one only while it has time left.
    const c = kept !== undefined && kept.notAfter - RENEW_BEFORE_MS > Date.now() ? kept : await this.#renew();
    return { signature: cryptoSign('sha256', data, c.privateKey), key: { $case: 'x509Certificate', certificate: c.certificate } };
  }

  #renew(): Promise<{ privateKey: KeyObject; certificate: string; notAfter: number }> {
    const made = this.#certify();
    this.#current = made;
    made.catch(() => {
      if (this.#current === made) this.#current = undefined;
    });
    return made;
  }

  /** A new key and a certificate for it: sigstore-js's FulcioSigner does the proof of possession and the request. */
  async #certify(): Promise<{ privateKey: KeyObject; certificate: string; notAfter: number }> {
    const o = this.#options;
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const keyHolder: SigstoreSigner = {
      async sign(data: Buffer) {
        return { signature: cryptoSign('sha256', data, privateKey), key: { $case: 'publicKey', publicKey: pem } };
      },
    };
    const token = o.identityToken;
    const identityProvider: IdentityProvider = {
      getToken: async () => {
        const value = typeof token === 'string' ? token : await token();
        this.tokens.push(value);
        return checkedToken(value);
      },
    };
    const { FulcioSigner } = await sigstoreSign();
    const fulcio = new FulcioSigner({
      identityProvider,
      keyHolder,
      fulcioBaseURL: o.fulcioURL,
      retry: o.retries ?? 2,
      ...(o.timeout === undefined ? {} : { timeout: o.timeout }),
    });
    // What FulcioSigner signs here is thrown away: it is the certificate that is wanted.
    const { key } = await fulcio.sign(Buffer.alloc(0));
    if (key.$case !== 'x509Certificate') throw new ProvenantError('SIGNATURE', 'Fulcio returned no certificate');
    let certificate: X509Certificate;
    try {
      certificate = X509Certificate.parse(key.certificate);
    } catch (err) {
      throw new ProvenantError('SIGNATURE', `Fulcio returned a certificate that does not parse: ${(err as Error).message}`, {
        where: urlWithoutUserInfo(o.fulcioURL),
        cause: err,
      });
    }
    const who = identityOfCertificate(certificate);
    if (!this.identities.some((i) => i.identity === who.identity && i.issuer === who.issuer)) this.identities.push(who);
    return { privateKey, certificate: key.certificate, notAfter: certificate.notAfter.getTime() };
  }
}

/**
 * A token source for GitHub Actions: asks the job's OIDC endpoint for a token with audience
 * `sigstore` (what cosign and sigstore-js do). The caller passes the job's
 * `ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN`. A token that is not a JWT
 * is refused here, as the runner's: the signer's own check ({@link checkedToken}) would tell the
 * user to pass the token itself, which no one did.
 */
export function githubActionsToken(requestURL: string, requestToken: string, audience = 'sigstore'): () => Promise<string> {
  return async () => {
    const url = new URL(requestURL);
    url.searchParams.set('audience', audience);
    let response: Response;
    try {
      response = await fetch(url, { headers: { Accept: 'application/json', Authorization: `Bearer ${requestToken}` } });
    } catch (cause) {
      throw new ProvenantError('NETWORK', 'could not reach the GitHub Actions OIDC endpoint', { where: url.origin, cause });
    }
    if (!response.ok) {
      throw new ProvenantError('CREDENTIALS', `the GitHub Actions OIDC endpoint answered ${response.status}`, {
        where: url.origin,
        hint: 'the workflow needs `permissions: id-token: write`',
      });
    }
    const body = (await response.json().catch(() => undefined)) as { value?: unknown } | undefined;
    if (typeof body?.value !== 'string')
      throw new ProvenantError('CREDENTIALS', 'the GitHub Actions OIDC endpoint returned no token', { where: url.origin });
    if (body.value.split('.').length !== 3) {
      // Its shape only, as of any token (tokenShape); the hint says what in the workflow decides it.
      throw new ProvenantError(
        'CREDENTIALS',
        `the OIDC token the GitHub Actions runner gave the job is not a JWT (${tokenShape(body.value)}; a JWT has 3)`,
        {
          where: url.origin,
          hint: "the token is the runner's, not one passed in: check that the job has `permissions: id-token: write`, and that no `env:` of the workflow sets ACTIONS_ID_TOKEN_REQUEST_URL or ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        },
      );
    }
    return body.value;
  };
}

function fetchOptionsOf(o: WitnessOptions): { retry: number; timeout?: number } {
  return { retry: o.retries ?? 2, ...(o.timeout === undefined ? {} : { timeout: o.timeout }) };
}

async function witnesses(o: WitnessOptions, timestamp: boolean): Promise<Witness[]> {
  const { RekorWitness, TSAWitness } = await sigstoreSign();
  const fetchOptions = fetchOptionsOf(o);
  const out: Witness[] = [];
  // cosign 2 (from 2.2.3, its default --rekor-entry-type) and cosign 3 log DSSE as `dsse` entries
  // (the fixtures' cosign/sign/v1 bundle) and messages as `hashedrekord`; RekorWitness picks
  // hashedrekord for message signatures by itself.
  if (o.rekorURL !== undefined) out.push(new RekorWitness({ rekorBaseURL: o.rekorURL, entryType: 'dsse', ...fetchOptions }));
  if (o.tsaURL !== undefined && timestamp) out.push(new TSAWitness({ tsaBaseURL: o.tsaURL, ...fetchOptions }));
  return out;
}

/** The services a signature may involve: the witnesses', and a keyless signer's Fulcio. */
type ServiceOptions = WitnessOptions & { fulcioURL?: string | undefined };

/** Signs `content` with `signer`, its witnesses as `o` says; for DSSE, the envelope's bytes and their timestamp too. */
async function signWith(
  content: Signable,
  signer: SigstoreSigner,
  o: ServiceOptions,
  signal: AbortSignal | undefined,
  secrets: readonly string[] = [],
): Promise<Signed> {
  const ofEnvelope = content.kind === 'dsse' && content.timestamp === 'envelope';
  const bundle = await build(content, signer, await witnesses(o, !ofEnvelope), signal, o, secrets);
  if (bundle.content.$case !== 'dsseEnvelope') return { bundle, chain: [] };
  const envelope = loggedEnvelope(bundle);
  if (!ofEnvelope || o.tsaURL === undefined) return { bundle, chain: [], envelope };
  if (signal?.aborted) throw abortedError(signal);
  // TSAWitness timestamps the signature bytes of what it is given: here those are the envelope's.
  const { TSAWitness } = await sigstoreSign();
  let verificationData: Awaited<ReturnType<TSAWitness['testify']>>;
  try {
    verificationData = await new TSAWitness({ tsaBaseURL: o.tsaURL, ...fetchOptionsOf(o) }).testify({
      $case: 'messageSignature',
      messageSignature: {
        messageDigest: { algorithm: HashAlgorithm.SHA2_256, digest: createHash('sha256').update(envelope).digest() },
        signature: Buffer.from(envelope),
      },
    });
  } catch (err) {
    throw signingError(err, o, secrets);
  }
  const envelopeTimestamp = verificationData.rfc3161Timestamps?.[0]?.signedTimestamp;
  if (envelopeTimestamp === undefined)
    throw new ProvenantError('SIGNATURE', 'the timestamp authority returned no timestamp', { where: urlWithoutUserInfo(o.tsaURL) });
  return { bundle, chain: [], envelope, envelopeTimestamp };
}

async function build(
  content: Signable,
  signer: SigstoreSigner,
  w: Witness[],
  signal: AbortSignal | undefined,
  o: ServiceOptions,
  secrets: readonly string[],
): Promise<Bundle> {
  const { DSSEBundleBuilder, MessageSignatureBundleBuilder } = await sigstoreSign();
  if (signal?.aborted) throw abortedError(signal);
  try {
    if (content.kind === 'message') {
      return await new MessageSignatureBundleBuilder({ signer, witnesses: w }).create({ data: Buffer.from(content.bytes) });
    }
    return await new DSSEBundleBuilder({ signer, witnesses: w }).create({ data: Buffer.from(content.payload), type: content.payloadType });
  } catch (err) {
    throw signingError(err, o, secrets);
  }
}

function certificateOf(bundle: Bundle): Uint8Array | undefined {
  const c = bundle.verificationMaterial.content;
  if (c.$case === 'certificate') return c.certificate.rawBytes;
  if (c.$case === 'x509CertificateChain') return c.x509CertificateChain.certificates[0]?.rawBytes;
  return undefined;
}

// sigstore-js puts the identity token itself into some messages ("invalid identity token: ey...");
// a token is a credential, so no message of ours repeats it: the tokens it was given are replaced
// by their shape, and anything else that reads as a JWT by <token> (maskCredentials, which the
// registry's error text goes through too).

/**
 * The hint of an identity token the Sigstore instance refused, in the command line's terms; exported
 * so that an adapter whose token is the job's (the Action) can say its own instead.
 */
export const REFUSED_TOKEN_HINT = 'pass a fresh token with --identity-token, or run in a job that can request one';

/** What a message may say of a token: its shape, never its value. */
function tokenShape(token: string): string {
  const parts = token.split('.').length;
  return `${token.length} characters, ${parts} dot-separated part${parts === 1 ? '' : 's'}`;
}

/**
 * The token, when it has a JWT's three parts and, if its payload reads as a JSON object, names a
 * signer as sigstore-js takes one (a string `email`, else a string `sub`); else CREDENTIALS saying
 * what is wrong with it, never its value. sigstore-js signs that claim as Fulcio's proof of
 * possession with Buffer.from, which throws a bare TypeError for a number (`"sub": 42`).
 */
function checkedToken(token: string): string {
  const parts = token.split('.');
  if (parts.length !== 3) {
    throw new ProvenantError('CREDENTIALS', `the OIDC identity token is not a JWT (${tokenShape(token)}; a JWT has 3)`, {
      hint: 'pass the token itself (header.payload.signature), not a file name or another credential',
    });
  }
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(parts[1] ?? '', 'base64url').toString('utf8'));
  } catch {
    // sigstore-js says so, as IDENTITY_TOKEN_PARSE_ERROR.
    return token;
  }
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) return token;
  const { email, sub } = claims as { email?: unknown; sub?: unknown };
  // sigstore-js's choice (util/oidc.js): a truthy email, else a truthy sub.
  const [claim, value] = email ? ['email', email] : ['subject (sub)', sub];
  if (typeof value === 'string' || !value) return token;
  throw new ProvenantError(
    'CREDENTIALS',
    `the OIDC identity token's ${claim} is ${Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`}, not a string: no OIDC issuer Fulcio accepts writes one so`,
    { hint: 'pass a token the OIDC provider issued (a JWT names its subject as a string, RFC 7519 section 4.1.2)' },
  );
}

/** What each of sigstore-js's error codes is about: its prefix, the service, and that service's URL in the options. */
const SERVICES: readonly { prefix: string; name: string; url: keyof ServiceOptions; path: string }[] = [
  { prefix: 'CA_', name: 'Fulcio', url: 'fulcioURL', path: '/api/v2/signingCert' },
  { prefix: 'TLOG_', name: 'Rekor', url: 'rekorURL', path: '/api/v1/log/entries' },
  { prefix: 'TSA_', name: 'the timestamp authority', url: 'tsaURL', path: '/api/v1/timestamp' },
];

/**
 * A ProvenantError for what sigstore-js threw. Its InternalError's code says which service failed
 * (`CA_…` Fulcio, `TLOG_…` Rekor, `TSA_…` the timestamp authority), and an answer that was not 2xx
 * is its cause, an HTTPError with the `statusCode`: Fulcio's 401 or 403 is a refused identity token
 * (CREDENTIALS), a 404 a URL that is not the service's (NOT_FOUND, naming it), a 5xx, 408 or 429
 * after the retries a network failure, as a refused connection is.
 */
function signingError(err: unknown, o: ServiceOptions, secrets: readonly string[] = []): ProvenantError {
  if (err instanceof ProvenantError) return err;
  const e = err as { code?: unknown; message?: unknown; cause?: { message?: unknown; code?: unknown; statusCode?: unknown } };
  // Our own check of the token, thrown through sigstore-js's token provider.
  if (e.cause instanceof ProvenantError) return e.cause;
  const code = typeof e.code === 'string' ? e.code : '';
  const detail = (m: unknown): string => {
    if (typeof m !== 'string') return '';
    let text = m;
    for (const secret of secrets) if (secret !== '') text = text.split(secret).join(`<token: ${tokenShape(secret)}>`);
    // sigstore-js names the URL it asked (`request to http://user:pass@host/... failed`), and a
    // --fulcio-url, --rekor-url or --timestamp-server-url may carry user info.
    return maskCredentials(text);
  };
  const inner = detail(e.cause?.message);
  const text = `${detail(e.message)}${inner === '' ? '' : `: ${inner}`}`;
  if (code.startsWith('IDENTITY_TOKEN')) {
    return new ProvenantError('CREDENTIALS', `the OIDC identity token was refused: ${text}`, {
      hint: REFUSED_TOKEN_HINT,
    });
  }
  const service = SERVICES.find((s) => code.startsWith(s.prefix));
  const url = service === undefined ? undefined : o[service.url];
  const where = typeof url === 'string' ? { where: urlWithoutUserInfo(url) } : {};
  const status = typeof e.cause?.statusCode === 'number' ? e.cause.statusCode : undefined;
  if (service !== undefined && status !== undefined) {
    // HTTPError's message is `(status) what the server said`.
    const said = detail(e.cause?.message).replace(/^\(\d+\)\s*/, '');
    const answered = `${service.name} answered ${status}${said === '' ? '' : `: ${said}`}`;
    const retries = fetchOptionsOf(o).retry;
    const retried = retries === 0 ? answered : `${answered}, after ${retries} retr${retries === 1 ? 'y' : 'ies'}`;
    if ((status === 401 || status === 403) && service.url === 'fulcioURL') {
      const why = `HTTP ${status}${said === '' ? '' : `: ${said}`}`;
      return new ProvenantError('CREDENTIALS', `Fulcio refused the OIDC identity token (${why})`, { ...where, hint: REFUSED_TOKEN_HINT });
    }
    const failure = httpFailure(status, service, answered, retried);
    return new ProvenantError(failure.code, `signing failed: ${failure.message}`, { ...where, ...failure.hint });
  }
  const causeCode = typeof e.cause?.code === 'string' ? e.cause.code : '';
  if (/ECONNREFUSED|ENOTFOUND|ETIMEDOUT|ECONNRESET|EAI_AGAIN/.test(causeCode) || /ECONNREFUSED|ENOTFOUND|ETIMEDOUT/.test(text)) {
    return new ProvenantError('NETWORK', `signing failed: ${text}`, where);
  }
  return new ProvenantError('SIGNATURE', `signing failed${code === '' ? '' : ` (${code})`}: ${text}`, where);
}

/** The error code, message and hint of a service's answer `status` (not 2xx, and not Fulcio refusing the token). */
function httpFailure(
  status: number,
  service: (typeof SERVICES)[number],
  answered: string,
  retried: string,
): { code: ErrorCode; message: string; hint?: { hint: string } } {
  if (status === 401) return { code: 'UNAUTHORIZED', message: answered };
  if (status === 403) return { code: 'DENIED', message: answered };
  if (status === 404) {
    const name = service.name.replace(/^the /, '');
    return {
      code: 'NOT_FOUND',
      message: `${answered} (the URL has no ${service.path})`,
      hint: { hint: `check the ${name} URL: it is the instance's base URL, to which ${service.path} is added` },
    };
  }
  if (status === 429) return { code: 'TOO_MANY_REQUESTS', message: retried, hint: { hint: 'wait, and try again' } };
  if (status === 408 || status >= 500) return { code: 'NETWORK', message: retried };
  return { code: 'SIGNATURE', message: answered };
}
