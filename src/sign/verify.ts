/**
 * Verifying the signatures and attestations of an image, in every storage, the way cosign 2
 * and cosign 3 do.
 *
 * Each signature found ({@link eachSignature}) becomes a Sigstore signed entity (cosign 2's
 * layer annotations are read into the bundle shape they stand for) and is checked by
 * @sigstore/verify against the trust given: the signature over its payload with the key or
 * the certificate's key; the certificate's chain to a Fulcio CA of the trusted root at the
 * time the signature was logged or timestamped (so an expired short-lived certificate passes
 * when it was valid then); its SCTs; each Rekor entry's signed entry timestamp or inclusion
 * proof and checkpoint, and that the entry is for this very signature; RFC 3161 timestamps.
 * Then what the crypto cannot know: the identity and issuer in the certificate, and that the
 * payload names this image's digest (a signature or attestation copied onto another image
 * fails here).
 *
 * Attestations in BuildKit's storage, inside the image index, carry no signature of their own:
 * given the index, they are checked through the index's signatures (see verifyInIndex).
 */
import { createPublicKey, type KeyObject, verify as nodeVerify } from 'node:crypto';
import { RE2JS } from '@bufbuild/re2';
import type { Bundle, TransparencyLogEntry } from '@sigstore/bundle';
import { ASN1Obj, crypto as sigCrypto, X509Certificate } from '@sigstore/core';
import { HashAlgorithm } from '@sigstore/protobuf-specs';
import { type SignedEntity, type TrustMaterial, toSignedEntity, type Signer as VerifiedSigner, Verifier } from '@sigstore/verify';
import { isBuildkitAttestation, STATEMENT_LIMIT } from '../attest/attachments.ts';
import { decodeUtf8Exact, quotedBytes } from '../bytes.ts';
import { ProvenantError } from '../errors.ts';
import type { OperationOptions } from '../io/types.ts';
import { collect, MANIFEST_LIMIT } from '../io/verify.ts';
import type { Stored, StoredIndex } from '../oci/content.ts';
import { type Digest, digestAlgorithm, digestHex, digestOf } from '../oci/digest.ts';
import { MediaType } from '../oci/mediatypes.ts';
import { formatPlatform, normalizePlatform } from '../oci/platform.ts';
import { Annotation, type Descriptor } from '../oci/types.ts';
import type { ContentStore } from '../store/types.ts';
import { certificateNameMatching, certificateNamesText } from './identity.ts';
import { keyId, pemDecode } from './keys.ts';
import { certificateNames, GITHUB_WORKFLOW_EXTENSIONS, type GithubWorkflowField, githubWorkflowExtension } from './material.ts';
import {
  b64decode,
  COSIGN_SIGN_PREDICATE_TYPE,
  IN_TOTO_PAYLOAD_TYPE,
  type InTotoStatement,
  pae,
  parseEnvelope,
  parseSimpleSigning,
  parseStatement,
  type SimpleSigning,
  statementNames,
} from './payload.ts';
import { annotatedTimestamp, CosignAnnotation, type CosignLayer, eachSignature, type FoundSignature, isBadContent } from './storage.ts';
import { type TrustedRoot, trustMaterialOf } from './trust.ts';

/** Whom to trust: a public key, or a keyless identity (exact strings or patterns). */
export type VerificationPolicy =
  | {
      key: KeyObject;
      /**
       * When the key may have signed (as a trusted root bounds a key); default always. With a
       * window, a signature needs a verified time (a transparency log entry or a timestamp,
       * which need `trustedRoot`) inside it.
       */
      validFor?: KeyValidity | undefined;
    }
  | {
      /** The certificate's identity (SAN); never empty (see {@link verifyImage}). */
      certificateIdentity: IdentityMatcher;
      /** The certificate's OIDC issuer; never empty. */
      certificateOidcIssuer: IdentityMatcher;
      /**
       * What the certificate's GitHub workflow extensions must say, each one given compared as
       * the exact string (cosign's `--certificate-github-workflow-*`): a certificate without
       * the extension fails. Fulcio writes them for GitHub Actions tokens only.
       */
      certificateGithubWorkflow?: Partial<Record<GithubWorkflowField, string>> | undefined;
    };

/**
 * What a certificate's identity or issuer must be: the exact string; `{ regexp }`, an RE2 pattern
 * (Go's syntax: `\A`, `\z`, `(?i)`) found anywhere in it unless it anchors itself, which is what
 * cosign's `--certificate-identity-regexp` does (Go's regexp.MatchString); or a JavaScript RegExp,
 * matched as JavaScript matches it.
 */
export type IdentityMatcher = string | { regexp: string } | RegExp;

/** A key's validity window; either end open. */
export interface KeyValidity {
  start?: Date | undefined;
  end?: Date | undefined;
}

/** Options of {@link verifyImage}. */
export interface VerifyOptions extends OperationOptions {
  policy: VerificationPolicy;
  /** Fulcio CAs, Rekor and CT logs, timestamp authorities. Required for keyless policies. */
  trustedRoot?: TrustedRoot | undefined;
  /** What to verify: the image's signatures (default) or its attestations. */
  kind?: 'signature' | 'attestation';
  /** Only attestations of this predicate type (a URI; see parsePredicateType). */
  predicateType?: string | undefined;
  /**
   * Signatures only: annotations the signed payload must carry, every one with this very string
   * value (cosign's `verify -a key=value`): a simple-signing payload's `optional` section, or the
   * annotations of the subject naming the image in a cosign 3 statement. A message signature
   * (over the manifest's bytes) carries none, so it fails when any is asked.
   */
  annotations?: Readonly<Record<string, string>> | undefined;
  /**
   * With a key policy: true fails signatures that carry no transparency log entry (cosign's default
   * with its public instance); otherwise a key signature needs no log entry, and one that has
   * an entry has it checked when a trusted root is given. With a keyless policy a log entry is
   * required unless this is false (cosign's `--insecure-ignore-tlog`): the certificate's time
   * must then come from an RFC 3161 timestamp by an authority of the trusted root.
   */
  requireTransparencyLog?: boolean | undefined;
  /**
   * The image index `subject` is, or is listed in. With `kind: 'attestation'` the statements it
   * lists in BuildKit's storage (attestation manifests inside the index) about `subject` (about
   * every image it lists, when `subject` is the index) are checked too: they are unsigned, and
   * the index's own signature, whose digest covers theirs, is what vouches for them.
   */
  index?: Stored | undefined;
  /**
   * The signatures of {@link index}, verified with this same policy, when the caller has them:
   * one verifying each image an index lists verifies them once rather than once an image.
   */
  indexSignatures?: VerificationReport | undefined;
}

/** Why a signature did not verify; each tampering case has its own. */
export type FailureReason =
  | 'malformed'
  | 'wrong-subject'
  | 'annotations'
  | 'wrong-key'
  | 'key-validity'
  | 'signature'
  | 'untrusted-certificate'
  | 'certificate-validity'
  | 'identity'
  | 'issuer'
  | 'certificate-extension'
  | 'transparency-log'
  | 'inclusion-proof'
  | 'timestamp'
  | 'no-trust'
  | 'unsigned';

/** One signature or attestation, and what its verification found. */
export interface CheckedSignature {
  /** `buildkit`: a statement inside the image index, covered by the index's signature. */
  storage: 'cosign' | 'referrers' | 'buildkit';
  /** `in-toto`: an unsigned statement (BuildKit's storage), verified through {@link coveredBy}. */
  format: 'cosign-layer' | 'bundle' | 'in-toto';
  kind: 'signature' | 'attestation';
  source: string;
  verified: boolean;
  reason?: FailureReason;
  message?: string;
  /**
   * Who signed: the key id (key policy), or the certificate's identity and issuer. `names`, for a
   * certificate with more than one: every name an identity is matched against, in the order tried
   * (the one @sigstore/verify names, then the others: {@link certificateNames}), for a caller that
   * matches identities of its own (a policy) to match as this does.
   */
  signer?: { keyId?: string; identity?: string; issuer?: string; names?: string[] };
  predicateType?: string;
  /** When a transparency log recorded it, as its verified signed entry timestamp says (an inclusion proof says no time). */
  loggedAt?: Date;
  /**
   * Its index in that log: the one its verified signed entry timestamp signs, else the one its
   * verified inclusion proof proves (the index in the log's tree, which on a sharded Rekor v1 log
   * is not the global one).
   */
  logIndex?: string;
  /** Whether the transparency log entry was checked (false: none, or no trusted root to check it with). */
  transparencyLog: boolean;
  /**
   * What a signature verified with a key alone carries and was not checked, for want of a
   * trusted root to check it with (`its Rekor entry`, `its RFC 3161 timestamp`): cosign 2 checks
   * the log by default, so a damaged entry that passes here is said.
   */
  notChecked?: string[];
  /** A verified simple-signing payload (cosign 2 signatures). */
  payload?: SimpleSigning;
  /** A verified in-toto statement (attestations; cosign 3 signatures). */
  statement?: InTotoStatement;
  /**
   * For a statement in BuildKit's storage: the index that lists it and the signature over that
   * index that verified (its storage and where it is), which is what was checked.
   */
  coveredBy?: { index: Digest; storage: CheckedSignature['storage']; signature: string };
}

/** The outcome for one image digest. */
export interface VerificationReport {
  subject: Digest;
  kind: 'signature' | 'attestation';
  /** Everything that was tried, verified or not. */
  checked: CheckedSignature[];
  /** What verified. */
  verified: CheckedSignature[];
  /**
   * With `predicateType`: the attestations passed over for being of another type, each type once
   * per outcome, in the order met. A verified one's type is its signed statement's: what cosign's
   * verify-attestation lists as "found" when none is of the type (it lists verified ones only).
   * One that did not verify is here too, so that a wrong key or identity shows as such rather than
   * as nothing there; its type is what it says of itself, unchecked (its statement's where the
   * check got that far, else its storage's annotation), and undefined where it says none.
   */
  passedOver?: { predicateType: string | undefined; verified: boolean }[];
}

/**
 * Finds and verifies the signatures (or attestations) of `subject` in `store`. Reads manifests
 * and signature blobs, never the image's layers or config; the image manifest itself only for
 * a bundle that signs its bytes directly (a message signature).
 *
 * @throws ProvenantError `USAGE` for a keyless policy without a trusted root, with an empty
 *   identity or issuer (an empty pattern would accept any signer, an empty string any certificate
 *   that names no identity), or with a pattern that is not RE2
 */
export async function verifyImage(store: ContentStore, subject: Digest, options: VerifyOptions): Promise<VerificationReport> {
  if (!('key' in options.policy)) {
    assertMatcher(options.policy.certificateIdentity, 'certificateIdentity');
    assertMatcher(options.policy.certificateOidcIssuer, 'certificateOidcIssuer');
    for (const [field, value] of Object.entries(options.policy.certificateGithubWorkflow ?? {})) {
      if (!Object.hasOwn(GITHUB_WORKFLOW_EXTENSIONS, field)) {
        throw new ProvenantError(
          'USAGE',
          `the policy's certificateGithubWorkflow.${field} is no GitHub workflow extension, and would check nothing`,
          {
            hint: `its fields: ${Object.keys(GITHUB_WORKFLOW_EXTENSIONS).join(', ')}`,
          },
        );
      }
      if (value === '') {
        throw new ProvenantError('USAGE', `the policy's certificateGithubWorkflow.${field} is empty, and would not say what to check`);
      }
    }
    if (options.trustedRoot === undefined) {
      throw new ProvenantError('USAGE', 'keyless verification needs a trusted root', {
        hint: 'pass --trusted-root (the Sigstore instance’s trusted_root.json)',
      });
    }
  }
  const kind = options.kind ?? 'signature';
  let subjectBytes: Promise<Uint8Array> | undefined;
  const loadSubject = (): Promise<Uint8Array> => {
    subjectBytes ??= readSubject(store, subject, options);
    return subjectBytes;
  };
  const checked: CheckedSignature[] = [];
  const passedOver = new PassedOverSet();
  // Each checked as it is read, and only its outcome kept: what a pusher lists beside the
  // signatures costs no memory here.
  for await (const f of eachSignature(store, subject, options)) {
    const result = await verifyFound(f, subject, options, loadSubject);
    if (result.kind !== kind) continue;
    if (kind === 'attestation' && options.predicateType !== undefined && result.predicateType !== options.predicateType) {
      passedOver.add(result);
      continue;
    }
    checked.push(result);
  }
  if (kind === 'attestation' && options.index?.kind === 'index')
    checked.push(...(await verifyInIndex(store, options.index, subject, options, passedOver)));
  return {
    subject,
    kind,
    checked,
    verified: checked.filter((c) => c.verified),
    ...(options.predicateType === undefined || kind !== 'attestation' ? {} : { passedOver: passedOver.list() }),
  };
}

/** The attestations passed over (see VerificationReport.passedOver), each type once per outcome. */
class PassedOverSet {
  readonly #seen = new Map<string, { predicateType: string | undefined; verified: boolean }>();
  add(c: { predicateType?: string | undefined; verified: boolean }): void {
    const key = `${c.verified}\n${c.predicateType ?? ''}`;
    if (!this.#seen.has(key)) this.#seen.set(key, { predicateType: c.predicateType, verified: c.verified });
  }
  list(): { predicateType: string | undefined; verified: boolean }[] {
    return [...this.#seen.values()];
  }
}

/**
 * Throws `SIGNATURE` (the CLI's exit 5) unless something verified, with each failure's reason
 * in the hint. Nothing to verify at all is a failure too, as in cosign.
 */
export function assertVerified(report: VerificationReport, name: string = report.subject): void {
  if (report.verified.length > 0) return;
  const what = report.kind === 'signature' ? 'signatures' : 'attestations';
  if (report.checked.length === 0) {
    throw new ProvenantError('SIGNATURE', `${name} has no ${what}`, {
      where: report.subject,
      hint: 'sign it first, or check the reference',
    });
  }
  throw new ProvenantError('SIGNATURE', `none of the ${report.checked.length} ${what} of ${name} verified`, {
    where: report.subject,
    hint: report.checked.map((c) => `${c.source}: ${c.message}`).join('; '),
  });
}

// ---- statements in an index ----------------------------------------------------------------

/**
 * The attestation manifests `index` lists in BuildKit's storage about `subject` (about every image
 * it lists, when `subject` is the index), each with the image entry it names.
 */
function statementEntries(index: StoredIndex, subject: Digest): { entry: Descriptor; image: Descriptor }[] {
  const images = index.index.manifests.filter((m) => !isBuildkitAttestation(m) && (subject === index.digest || m.digest === subject));
  return index.index.manifests.flatMap((entry) => {
    if (!isBuildkitAttestation(entry)) return [];
    const image = images.find((m) => m.digest === entry.annotations?.[Annotation.DockerReferenceDigest]);
    return image === undefined ? [] : [{ entry, image }];
  });
}

/** True when `index` lists in BuildKit's storage a statement about `subject` (see {@link statementEntries}). */
export function holdsStatementsAbout(index: StoredIndex, subject: Digest): boolean {
  return statementEntries(index, subject).length > 0;
}

/**
 * The statements `index` lists in BuildKit's storage about `subject` (about every image it lists,
 * when `subject` is the index), each verified when a signature over the index verifies with the
 * policy. BuildKit keeps them unsigned
 * (https://github.com/moby/buildkit/blob/master/docs/attestations/attestation-storage.md); the
 * index's digest covers each attestation manifest's, whose digest covers its statement layers'
 * and the entry's `vnd.docker.reference.digest` naming the image, so a signature over the index
 * vouches for the statements and for which image each is about. A statement must still name that
 * image, or nothing at all: BuildKit's OCI exporter writes `subject: []` for an image without a
 * name, and the entry is then what says which image it is about. The predicate types of those not
 * of `options.predicateType` go into `passedOver` (see VerificationReport.passedOver).
 */
async function verifyInIndex(
  store: ContentStore,
  index: StoredIndex,
  subject: Digest,
  options: VerifyOptions,
  passedOver: PassedOverSet,
): Promise<CheckedSignature[]> {
  const entries = statementEntries(index, subject);
  if (entries.length === 0) return [];
  const signatures =
    options.indexSignatures?.subject === index.digest && options.indexSignatures.kind === 'signature'
      ? options.indexSignatures
      : await verifyImage(store, index.digest, {
          ...options,
          kind: 'signature',
          annotations: undefined,
          index: undefined,
          indexSignatures: undefined,
        });
  const cover = signatures.verified[0];
  const out: CheckedSignature[] = [];
  for (const { entry, image } of entries) {
    const about = image.platform === undefined ? image.digest : formatPlatform(normalizePlatform(image.platform));
    for (const found of await indexStatements(store, entry, options)) {
      const source = `index entry ${entry.digest}${found.layer === undefined ? '' : ` layer ${found.layer}`} (${about})`;
      let statement: InTotoStatement | undefined;
      let malformed = found.error;
      if (found.bytes !== undefined) {
        try {
          statement = parseStatement(found.bytes, source);
        } catch (err) {
          if (!(err instanceof ProvenantError)) throw err;
          malformed = err.message;
        }
      }
      const predicateType = statement?.predicateType ?? found.predicateType;
      if (predicateType === COSIGN_SIGN_PREDICATE_TYPE) continue;
      if (options.predicateType !== undefined && predicateType !== options.predicateType) {
        // Vouched for by the index's signature when one verifies, as the statement would be.
        passedOver.add({
          predicateType,
          verified: cover !== undefined && statement !== undefined && aboutIndexedImage(statement, image.digest),
        });
        continue;
      }
      const base: CheckedSignature = {
        storage: 'buildkit',
        format: 'in-toto',
        kind: 'attestation',
        source,
        verified: false,
        transparencyLog: false,
      };
      if (predicateType !== undefined) base.predicateType = predicateType;
      if (cover === undefined) {
        out.push({ ...base, ...indexFailure(index.digest, signatures) });
        continue;
      }
      if (statement === undefined) {
        out.push({ ...base, reason: 'malformed', message: malformed ?? 'the statement cannot be read' });
        continue;
      }
      if (!aboutIndexedImage(statement, image.digest)) {
        const named = statement.subjects.flatMap((s) => Object.entries(s.digest).map(([k, v]) => `${k}:${v}`));
        const message = `the attestation is about ${named.join(', ')}, not the image the index lists it for (${image.digest})`;
        out.push({ ...base, reason: 'wrong-subject', message });
        continue;
      }
      out.push(coveredByIndex({ ...base, statement }, index.digest, cover));
    }
  }
  return out;
}

/**
 * `statement` (a statement in BuildKit's storage) verified by `cover`, a verified signature over
 * `index`: it carries that signature's signer and log entry, and names it as what was checked.
 * A caller that picks among the index's signatures (a policy matching its identities) gives
 * the one it picked.
 */
export function coveredByIndex(statement: CheckedSignature, index: Digest, cover: CheckedSignature): CheckedSignature {
  const { signer: _signer, loggedAt: _loggedAt, logIndex: _logIndex, reason: _reason, message: _message, ...rest } = statement;
  const verified: CheckedSignature = {
    ...rest,
    verified: true,
    transparencyLog: cover.transparencyLog,
    coveredBy: { index, storage: cover.storage, signature: cover.source },
  };
  if (cover.signer !== undefined) verified.signer = cover.signer;
  if (cover.loggedAt !== undefined) verified.loggedAt = cover.loggedAt;
  if (cover.logIndex !== undefined) verified.logIndex = cover.logIndex;
  return verified;
}

/**
 * True when a statement an index lists for `image` (its entry's `vnd.docker.reference.digest`) is
 * about it: it names it, or names nothing, as BuildKit's OCI exporter writes for an image without
 * a name (`subject: []`), the entry then saying which image it is about.
 */
export function aboutIndexedImage(statement: InTotoStatement, image: Digest): boolean {
  return statement.subjects.length === 0 || statementNames(statement, image);
}

/** Why the statements of an index whose signatures all failed (or that has none) do not verify. */
function indexFailure(index: Digest, signatures: VerificationReport): { reason: FailureReason; message: string } {
  const [first] = signatures.checked;
  if (first === undefined) {
    return { reason: 'unsigned', message: `it is unsigned in the index ${index}, and the index has no signature to vouch for it` };
  }
  const each = signatures.checked.map((c) => `${c.source}: ${c.message ?? c.reason}`);
  return {
    reason: first.reason ?? 'signature',
    message: `it is unsigned in the index ${index}, and none of the index's ${each.length} signatures verifies (${each.join('; ')})`,
  };
}

/** One in-toto layer of an attestation manifest in an index, or why it cannot be read. */
interface IndexStatement {
  /** Its index among the manifest's layers; undefined when the manifest itself cannot be read. */
  layer?: number;
  /** What the layer's `in-toto.io/predicate-type` annotation says. */
  predicateType?: string;
  bytes?: Uint8Array;
  error?: string;
}

/** The in-toto layers of the attestation manifest `entry` names, each read whole (checked against its digest). */
async function indexStatements(store: ContentStore, entry: Descriptor, options: OperationOptions): Promise<IndexStatement[]> {
  let stored: Stored;
  try {
    stored = await store.getManifest(entry.digest, options);
  } catch (err) {
    if (!isBadContent(err)) throw err;
    return [{ error: `the attestation manifest cannot be read: ${err.message}` }];
  }
  if (stored.kind !== 'manifest') return [{ error: 'the attestation entry names an index, not an attestation manifest' }];
  const out: IndexStatement[] = [];
  for (const [layer, d] of stored.manifest.layers.entries()) {
    if (d.mediaType !== MediaType.InToto) continue;
    const found: IndexStatement = { layer };
    const type = d.annotations?.[Annotation.InTotoPredicateType];
    if (type !== undefined) found.predicateType = type;
    const where = `${store.location}@${d.digest}`;
    try {
      if (d.size > STATEMENT_LIMIT) {
        throw new ProvenantError('INVALID_MANIFEST', `a statement of ${d.size} bytes is larger than ${STATEMENT_LIMIT}`, { where });
      }
      found.bytes = await collect(await store.readBlob(d, options), STATEMENT_LIMIT, where);
    } catch (err) {
      if (!isBadContent(err)) throw err;
      found.error = err.code === 'NOT_FOUND' ? `the statement blob ${d.digest} is missing from ${store.location}` : err.message;
    }
    out.push(found);
  }
  return out;
}

// ---- one signature ------------------------------------------------------------------------

class Failure extends Error {
  readonly reason: FailureReason;
  /** What was learnt before failing (the signer, the statement's kind), for the report. */
  readonly known: Partial<CheckedSignature>;
  constructor(reason: FailureReason, message: string, known: Partial<CheckedSignature> = {}) {
    super(message);
    this.reason = reason;
    this.known = known;
  }
}

/**
 * Verifies one signature {@link eachSignature} found in `store`, as {@link verifyImage} verifies
 * each (neither its kind nor its predicate type is filtered on): for a caller that holds one
 * already, as signing does to tell whether an equal signature is already logged.
 */
export function verifyFoundSignature(
  store: ContentStore,
  f: FoundSignature,
  subject: Digest,
  options: VerifyOptions,
): Promise<CheckedSignature> {
  return verifyFound(f, subject, options, () => readSubject(store, subject, options));
}

async function verifyFound(
  f: FoundSignature,
  subject: Digest,
  options: VerifyOptions,
  loadSubject: () => Promise<Uint8Array>,
): Promise<CheckedSignature> {
  const base = { storage: f.storage, format: f.format, kind: f.kind, source: f.source, transparencyLog: false } as CheckedSignature;
  if (f.predicateType !== undefined) base.predicateType = f.predicateType;
  try {
    if (f.format === 'bundle') {
      if (f.bundle === undefined) throw new Failure('malformed', f.error ?? 'the bundle is malformed');
      const m = f.bundle.verificationMaterial;
      return withNotChecked(await verifyBundle(base, f.bundle, subject, options, loadSubject), options, {
        log: m.tlogEntries.length > 0,
        timestamp: (m.timestampVerificationData?.rfc3161Timestamps.length ?? 0) > 0,
      });
    }
    if (f.layer === undefined) throw new Failure('malformed', f.error ?? 'the layer cannot be read');
    const a = f.layer.annotations;
    return withNotChecked(verifyCosignLayer(base, f, f.layer, subject, options), options, {
      log: Boolean(a[CosignAnnotation.Bundle]),
      timestamp: Boolean(a[CosignAnnotation.RFC3161Timestamp]),
    });
  } catch (err) {
    if (err instanceof Failure) return { ...base, ...err.known, verified: false, reason: err.reason, message: err.message };
    throw err;
  }
}

/**
 * `checked`, with what it carries that was not checked (CheckedSignature.notChecked): a Rekor
 * entry or RFC 3161 timestamp of a signature verified with a key and no trusted root.
 */
function withNotChecked(
  checked: CheckedSignature,
  options: VerifyOptions,
  carries: { log: boolean; timestamp: boolean },
): CheckedSignature {
  if (!checked.verified || !('key' in options.policy) || options.trustedRoot !== undefined) return checked;
  const notChecked = [...(carries.log ? ['its Rekor entry'] : []), ...(carries.timestamp ? ['its RFC 3161 timestamp'] : [])];
  return notChecked.length === 0 ? checked : { ...checked, notChecked };
}

function verifyCosignLayer(
  base: CheckedSignature,
  f: Extract<FoundSignature, { format: 'cosign-layer' }>,
  layer: CosignLayer,
  subject: Digest,
  options: VerifyOptions,
): CheckedSignature {
  const a = layer.annotations;
  const material = layerMaterial(a, options);
  // The bundles to try: the .sig layer's one signature, or one per signature of the .att
  // envelope. cosign checks an envelope as go-securesystemslib's EnvelopeVerifier does (a
  // threshold of one): it verifies when any of its signatures does, and sign's duplicate check
  // (sign.ts) uses the same rule.
  const bundles: Bundle[] = [];
  if (f.kind === 'signature') {
    const sig = b64decode(a[CosignAnnotation.Signature]);
    if (sig === undefined || sig.length === 0) throw new Failure('malformed', 'the layer’s signature annotation is not base64');
    bundles.push({
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      verificationMaterial: material,
      content: {
        $case: 'messageSignature',
        messageSignature: {
          messageDigest: { algorithm: HashAlgorithm.SHA2_256, digest: Buffer.from(digestHex(digestOf(layer.payload)), 'hex') },
          signature: Buffer.from(sig),
        },
      },
    } as Bundle);
  } else {
    const env = parseOr(() => parseEnvelope(layer.payload, f.source));
    for (const s of env.signatures) {
      bundles.push({
        mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
        verificationMaterial: material,
        content: {
          $case: 'dsseEnvelope',
          dsseEnvelope: {
            payloadType: env.payloadType,
            payload: Buffer.from(env.payload),
            signatures: [{ keyid: s.keyid, sig: Buffer.from(s.sig) }],
          },
        },
      } as Bundle);
    }
  }
  // What the layer's RFC 3161 timestamp is over, as cosign checks it: the signature annotation's
  // bytes, or, when that is empty (an attestation's), the layer's bytes, the whole envelope
  // (pkg/cosign/verify.go VerifyRFC3161Timestamp).
  const annotated = b64decode(a[CosignAnnotation.Signature] ?? '');
  const timestamped = Buffer.from(annotated !== undefined && annotated.length > 0 ? annotated : layer.payload);
  let verified: { out: CheckedSignature; bundle: Bundle; entity: SignedEntity } | undefined;
  let failure: Failure | undefined;
  for (const bundle of bundles) {
    try {
      const entity = entityOf(bundle, Buffer.from(layer.payload), timestamped);
      verified = { out: checkEntity(base, entity, bundle, options), bundle, entity };
      break;
    } catch (err) {
      if (!(err instanceof Failure)) throw err;
      // The first signature's reason is the one reported when none verifies.
      failure ??= err;
    }
  }
  if (verified === undefined) throw failure ?? new Failure('malformed', 'the layer has no signature');
  const { out, bundle, entity } = verified;
  for (const entry of material.tlogEntries) checkEntryHash(entryRecord(entry, out), layer.payload, out);
  const rekorBundle = a[CosignAnnotation.Bundle];
  if (options.trustedRoot === undefined && rekorBundle !== undefined && rekorBundle !== '') {
    // No root to check its signed entry timestamp with; what it records can be checked all the
    // same, so that an entry copied from another signature is not reported as this one's.
    const record = entryRecord(rekorEntry(rekorBundle), out);
    checkEntryHash(record, layer.payload, out);
    checkEntryBody(record, entity, out, true);
  }
  if (f.kind === 'signature') {
    const payload = parseOr(() => parseSimpleSigning(layer.payload, f.source));
    if (payload.digest !== subject) {
      throw new Failure(
        'wrong-subject',
        `the signature is for ${payload.digest}, not for this image (${subject}): it was made for another manifest`,
        out,
      );
    }
    const verified = { ...out, payload };
    checkAnnotations(payload.optional ?? {}, options, verified, 'the payload’s optional section');
    return verified;
  }
  return attestationChecks(out, bundle, subject, options);
}

async function verifyBundle(
  base: CheckedSignature,
  bundle: Bundle,
  subject: Digest,
  options: VerifyOptions,
  loadSubject: () => Promise<Uint8Array>,
): Promise<CheckedSignature> {
  let artifact: Buffer | undefined;
  if (bundle.content.$case === 'messageSignature') {
    // A message signature signs the subject's bytes: it must name them, and is checked over them.
    const named = Buffer.from(bundle.content.messageSignature.messageDigest.digest).toString('hex');
    if (digestAlgorithm(subject) !== 'sha256' || named !== digestHex(subject)) {
      throw new Failure('wrong-subject', `the bundle signs sha256:${named}, not this image (${subject})`);
    }
    try {
      artifact = Buffer.from(await loadSubject());
    } catch (err) {
      if (err instanceof ProvenantError && err.code === 'NOT_FOUND') {
        throw new Failure('malformed', `the bundle signs the bytes of ${subject}, which are not in the store to check it against`);
      }
      throw err;
    }
  }
  const unrooted = options.trustedRoot === undefined && 'key' in options.policy;
  const entries = bundle.verificationMaterial.tlogEntries;
  if (unrooted) bundle = withoutWitnesses(bundle);
  const entity = entityOf(bundle, artifact);
  const out = checkEntity(base, entity, bundle, options);
  // Without a root, as for a layer: each entry must at least record this signature and payload.
  if (unrooted) for (const entry of entries) checkEntryBody(entryRecord(entry, out), entity, out, false);
  if (bundle.content.$case === 'messageSignature') {
    const verified: CheckedSignature = { ...out, kind: 'signature' };
    checkAnnotations(undefined, options, verified, 'a message signature');
    return verified;
  }
  return attestationChecks(out, bundle, subject, options);
}

/**
 * Fails a verified signature whose signed annotations (`have`; undefined: it can carry none) lack
 * one of `options.annotations` or give it another value, as cosign's correctAnnotations
 * (pkg/cosign/verify.go): each asked must be there with that string.
 */
function checkAnnotations(
  have: Readonly<Record<string, unknown>> | undefined,
  options: VerifyOptions,
  known: CheckedSignature,
  where: string,
): void {
  const wanted = Object.entries(options.annotations ?? {});
  if (wanted.length === 0) return;
  if (have === undefined) {
    throw new Failure(
      'annotations',
      `${where} carries no annotations, and ${wanted.map(([k, v]) => `${k}=${v}`).join(', ')} was asked`,
      known,
    );
  }
  const wrong = wanted.filter(([k, v]) => !Object.hasOwn(have, k) || have[k] !== v);
  if (wrong.length === 0) return;
  const said = wrong.map(([k, v]) => `${k}=${v} (${Object.hasOwn(have, k) ? `it has ${JSON.stringify(have[k])}` : 'missing'})`);
  throw new Failure('annotations', `${where} does not carry the annotations asked: ${said.join(', ')}`, known);
}

/** For DSSE: the statement, its subject, its predicate type (from the signed payload). */
function attestationChecks(out: CheckedSignature, bundle: Bundle, subject: Digest, options: VerifyOptions): CheckedSignature {
  if (bundle.content.$case !== 'dsseEnvelope') return out;
  const env = bundle.content.dsseEnvelope;
  if (env.payloadType !== IN_TOTO_PAYLOAD_TYPE)
    throw new Failure('malformed', `the envelope carries ${env.payloadType}, not an in-toto statement`);
  const statement = parseOr(() => parseStatement(env.payload, out.source));
  const kind = statement.predicateType === COSIGN_SIGN_PREDICATE_TYPE ? 'signature' : 'attestation';
  const result = { ...out, kind, predicateType: statement.predicateType, statement } as CheckedSignature;
  if (!statementNames(statement, subject)) {
    const named = statement.subjects.flatMap((s) => Object.entries(s.digest).map(([k, v]) => `${k}:${v}`));
    throw new Failure(
      'wrong-subject',
      `the ${kind} is about ${named.join(', ') || 'nothing'}, not this image (${subject}): it was copied from another image`,
      result,
    );
  }
  if (kind === 'signature') {
    // cosign reads the annotations of the subject naming the image (IntotoSubjectClaimVerifier).
    const named = statement.subjects.find((s) => statementNames({ ...statement, subjects: [s] }, subject));
    checkAnnotations(named?.annotations ?? {}, options, result, 'the statement’s subject');
  }
  return result;
}

function checkEntity(base: CheckedSignature, entity: SignedEntity, bundle: Bundle, options: VerifyOptions): CheckedSignature {
  const policy = options.policy;
  const keyMode = 'key' in policy;
  if (!keyMode && bundle.verificationMaterial.content.$case === 'publicKey') {
    throw new Failure('no-trust', 'it is signed with a key, and no key was given to verify it with');
  }
  let hintIsOurs = false;
  if (keyMode && bundle.verificationMaterial.content.$case === 'publicKey') {
    // The hint says which key signed (when the signer wrote one): a different key is named as such.
    const hint = bundle.verificationMaterial.content.publicKey.hint;
    const ours = keyId(policy.key);
    const envelopeHint = bundle.content.$case === 'dsseEnvelope' ? bundle.content.dsseEnvelope.signatures[0]?.keyid : undefined;
    const named = hint !== '' ? hint : envelopeHint !== undefined && envelopeHint !== '' ? envelopeHint : undefined;
    hintIsOurs = named === ours;
    if (named !== undefined && named !== ours && !verifiesWith(entity, policy.key)) {
      throw new Failure('wrong-key', `it was signed by key ${named}, not by the given key ${ours}`);
    }
  }
  const tlogs = entity.tlogEntries.length;
  const validFor = keyMode ? policy.validFor : undefined;
  // A key's window is checked against the signature's verified times: without one there is
  // nothing to check it against, and a signature that left its timestamps out (they are not
  // signed) would pass for one made inside the window.
  const windowed = validFor?.start !== undefined || validFor?.end !== undefined;
  const trust = trustMaterialOf(options.trustedRoot, keyMode ? policy.key : undefined, validFor);
  const verifier = new Verifier(trust, {
    // Keyless: a log entry unless the caller waives it (cosign's --insecure-ignore-tlog), and then
    // the verified time must come from a timestamp authority the trusted root lists.
    tlogThreshold: keyMode ? (options.requireTransparencyLog ? 1 : 0) : options.requireTransparencyLog === false ? 0 : 1,
    ctlogThreshold: keyMode ? 0 : 1,
    timestampThreshold: keyMode && !windowed ? 0 : 1,
  });
  // Keys are trusted whatever the bundle's certificate says: `cosign verify --key` ignores one.
  const keyed = keyMode && entity.key.$case === 'certificate' ? { ...entity, key: { $case: 'public-key' as const, hint: '' } } : entity;
  let signer: VerifiedSigner;
  try {
    signer = verifier.verify(keyed);
  } catch (first) {
    if (first instanceof Failure) throw first;
    // @sigstore/verify checks the timestamps first and fails on any that does not verify: only
    // then are they checked one by one, and the signature verified again without those left out.
    const { entity: checked, dropped } =
      (first as { code?: unknown }).code === 'TIMESTAMP_ERROR' ? verifiedTimestampsOnly(keyed, trust) : { entity: keyed, dropped: [] };
    if (dropped.length === 0) throw translate(first, keyMode, entity, policy, hintIsOurs, dropped);
    try {
      signer = verifier.verify(checked);
    } catch (err) {
      if (err instanceof Failure) throw err;
      throw translate(err, keyMode, entity, policy, hintIsOurs, dropped);
    }
  }
  checkProofsAgainstCheckpoints(entity.tlogEntries);
  const out: CheckedSignature = {
    ...base,
    verified: true,
    transparencyLog: tlogs > 0 && (options.trustedRoot !== undefined || !keyMode),
    ...verifiedLogPosition(entity.tlogEntries),
  };
  if (keyMode) {
    out.signer = { keyId: keyId(policy.key) };
    return out;
  }
  // Every SAN the certificate has is a candidate (certificateNameMatching). The signer named is
  // the SAN @sigstore/verify names (a URI or an email, else a Fulcio username) when it matches or
  // none does, else the first that matches.
  const { identity: named, names } =
    entity.key.$case === 'certificate' ? certificateNames(entity.key.certificate) : { identity: '', names: [] };
  const matched = certificateNameMatching(names, (name) => matches(policy.certificateIdentity, name));
  const identity = matched ?? named;
  const issuer = signer.identity?.extensions?.issuer ?? '';
  out.signer = names.length > 1 ? { identity, issuer, names } : { identity, issuer };
  if (matched === undefined) {
    const wanted = describe(policy.certificateIdentity);
    const said = `the ${certificateNamesText(names)}, ${names.length > 1 ? 'none of them' : 'not'} ${wanted}`;
    throw new Failure('identity', said, { signer: out.signer });
  }
  if (!matches(policy.certificateOidcIssuer, issuer)) {
    throw new Failure(
      'issuer',
      `the certificate’s OIDC issuer is ${JSON.stringify(issuer)}, not ${describe(policy.certificateOidcIssuer)}`,
      { signer: out.signer },
    );
  }
  if (entity.key.$case === 'certificate') checkGithubWorkflow(entity.key.certificate, policy.certificateGithubWorkflow, out.signer);
  return out;
}

/**
 * The certificate's GitHub workflow extensions against what the policy asks, in the order of
 * {@link GITHUB_WORKFLOW_EXTENSIONS}: the first that differs, or that the certificate lacks,
 * fails the signature with `certificate-extension`, naming cosign's flag, the value asked and the
 * value found.
 */
function checkGithubWorkflow(
  certificate: X509Certificate,
  want: Partial<Record<GithubWorkflowField, string>> | undefined,
  signer: CheckedSignature['signer'],
): void {
  if (want === undefined) return;
  for (const field of Object.keys(GITHUB_WORKFLOW_EXTENSIONS) as GithubWorkflowField[]) {
    const expected = want[field];
    if (expected === undefined) continue;
    // Byte for byte, as cosign compares Go strings: UTF-8 text would take a byte that is not
    // UTF-8 for U+FFFD.
    const found = githubWorkflowExtension(certificate, field);
    if (found?.equals(Buffer.from(expected, 'utf8'))) continue;
    const what = `GitHub workflow ${field} (${GITHUB_WORKFLOW_EXTENSIONS[field]}, --certificate-github-workflow-${field})`;
    const said =
      found === undefined
        ? `the certificate has no ${what}, and ${JSON.stringify(expected)} was asked`
        : `the certificate’s ${what} is ${shownExtension(found)}, not ${JSON.stringify(expected)}`;
    throw new Failure('certificate-extension', said, signer === undefined ? {} : { signer });
  }
}

/**
 * An extension's value for a message: its text when it is UTF-8, else its bytes (`\xNN`), so that
 * a byte that is not UTF-8 is not shown as U+FFFD, reading like the value asked. @internal
 */
export function shownExtension(value: Uint8Array): string {
  const text = decodeUtf8Exact(value);
  return text === undefined ? quotedBytes(value) : JSON.stringify(text);
}

function verifiesWith(entity: SignedEntity, key: KeyObject): boolean {
  try {
    return entity.signature.verifySignature(key);
  } catch {
    return false;
  }
}

/** Refuses an empty matcher or an RE2 pattern that does not compile. */
function assertMatcher(want: IdentityMatcher, field: string): void {
  // new RegExp('') has the source (?:).
  const empty =
    typeof want === 'string' ? want === '' : want instanceof RegExp ? want.source === '' || want.source === '(?:)' : want.regexp === '';
  if (empty) {
    throw new ProvenantError('USAGE', `the policy's ${field} is empty, and would not say whom to trust`, {
      hint: 'give the identity and issuer the signer’s certificate must have',
    });
  }
  if (typeof want === 'string' || want instanceof RegExp) return;
  try {
    re2(want.regexp);
  } catch (cause) {
    throw new ProvenantError('USAGE', `the policy's ${field} is not an RE2 regular expression: ${(cause as Error).message}`, { cause });
  }
}

function matches(want: IdentityMatcher, got: string): boolean {
  if (typeof want === 'string') return want === got;
  if (want instanceof RegExp) return new RegExp(want.source, want.flags.replace(/[gy]/g, '')).test(got);
  // cosign's --certificate-identity-regexp is Go's regexp.MatchString: RE2, unanchored unless the
  // pattern anchors itself (RE2JS's test finds a match anywhere, as MatchString does).
  return re2(want.regexp).test(got);
}

/** Patterns compiled once each: a verification matches two against every signature it finds. */
const compiledPatterns = new Map<string, RE2JS>();

/** `pattern` as RE2 compiles it. @throws what RE2JS.compile throws */
function re2(pattern: string): RE2JS {
  let compiled = compiledPatterns.get(pattern);
  if (compiled === undefined) {
    compiled = RE2JS.compile(pattern);
    compiledPatterns.set(pattern, compiled);
  }
  return compiled;
}

function describe(want: IdentityMatcher): string {
  if (typeof want === 'string') return JSON.stringify(want);
  return `one matching ${want instanceof RegExp ? String(want) : JSON.stringify(want.regexp)}`;
}

function translate(
  err: unknown,
  keyMode: boolean,
  entity: SignedEntity,
  policy: VerificationPolicy,
  hintIsOurs: boolean,
  dropped: readonly string[],
): Failure {
  const e = err as { code?: unknown; message?: unknown; cause?: { message?: unknown } };
  let code = typeof e.code === 'string' ? e.code : '';
  const inner = typeof e.cause?.message === 'string' ? e.cause.message : '';
  const message = `${typeof e.message === 'string' ? e.message : String(err)}${inner === '' ? '' : `: ${inner}`}`;
  // A changed signature also fails what is bound to it, and @sigstore/verify checks those first:
  // a timestamp over the signature's bytes, the log entry recording them. The signature not
  // matching is what to say, when it does not verify with the key it names.
  let also = '';
  if ((code === 'TIMESTAMP_ERROR' || (code === 'TLOG_BODY_ERROR' && message !== 'digest mismatch')) && !signatureVerifies(entity, policy)) {
    also = code === 'TIMESTAMP_ERROR' ? '; its timestamp, over the signed bytes, does not match it either' : ` (its log entry: ${message})`;
    code = 'SIGNATURE_ERROR';
  }
  switch (code) {
    case 'SIGNATURE_ERROR':
      if (keyMode && hintIsOurs) {
        return new Failure(
          'signature',
          `the signature does not match, although it names the given key: the signature or its payload was changed after signing${also}`,
        );
      }
      if (keyMode)
        return new Failure(
          'signature',
          `the signature does not verify with the given key ${keyId((policy as { key: KeyObject }).key)}: another key made it, or its payload was changed${also}`,
        );
      return new Failure(
        'signature',
        `the signature does not match: it does not verify with its certificate’s key (the signature or its payload was changed after signing)${also}`,
      );
    case 'PUBLIC_KEY_ERROR':
      return new Failure('key-validity', `it was signed outside the given key’s validity window (${message})`);
    case 'CERTIFICATE_ERROR':
      if (/not valid or expired/.test(message)) {
        const cert = entity.key.$case === 'certificate' ? entity.key.certificate : undefined;
        const when = integratedTime(entity.tlogEntries);
        const window = cert === undefined ? '' : ` (valid ${cert.notBefore.toISOString()} to ${cert.notAfter.toISOString()})`;
        return new Failure(
          'certificate-validity',
          `the certificate${window} was not valid when the signature was made${when === undefined ? '' : ` (${when.toISOString()})`}`,
        );
      }
      if (/SCT/.test(message))
        return new Failure('untrusted-certificate', `the certificate’s SCT does not verify with a trusted CT log: ${message}`);
      return new Failure('untrusted-certificate', `the certificate does not chain to a trusted Fulcio CA: ${message}`);
    case 'TLOG_INCLUSION_PROMISE_ERROR':
      return new Failure('transparency-log', 'the transparency log’s signed entry timestamp does not verify with a trusted Rekor key');
    case 'TLOG_INCLUSION_PROOF_ERROR':
      return new Failure('inclusion-proof', `the transparency log inclusion proof does not match: ${message}`);
    case 'TLOG_BODY_ERROR':
      if (message === 'digest mismatch') {
        return new Failure(
          'transparency-log',
          'the transparency log entry records another payload: the payload was changed after signing (digest mismatch)',
        );
      }
      return new Failure('transparency-log', `the transparency log entry is for other content than this signature (${message})`);
    case 'TLOG_ERROR':
    case 'TLOG_MISSING_INCLUSION_ERROR':
      return new Failure('transparency-log', `no verifiable transparency log entry: ${message}`);
    case 'TIMESTAMP_ERROR':
      if (keyMode && 'key' in policy && policy.validFor !== undefined) {
        return new Failure(
          'timestamp',
          `the key's validity window needs a verified time of signing (a transparency log entry or a timestamp, checked against a trusted root), and there is none: ${message}`,
        );
      }
      if (dropped.length > 0) {
        // Timestamps that did not verify count for nothing; what is left gives no time.
        return new Failure('timestamp', `no verified time of signing: ${dropped.join('; ')}; and no transparency log entry gives one`);
      }
      return new Failure('timestamp', `no verifiable time of signing: ${message}`);
    default:
      if (err instanceof Error && !(err instanceof ProvenantError) && code === '')
        return new Failure('malformed', `the signature could not be checked: ${message}`);
      return new Failure('malformed', message);
  }
}

/**
 * `entity` with the RFC 3161 timestamps that verify only (over its signature, by a timestamp
 * authority of the trusted root, at a time that authority was valid for), and why each other one
 * was left out. As sigstore-go counts them (pkg/verify/tsa.go), a timestamp that cannot be
 * verified is no time of signing, not a failure of the signature: cosign ignores timestamps
 * unless asked to use them. @sigstore/verify fails a signature when any of its timestamps does
 * not verify; when it did, each is checked alone here. What the signature still needs is its verified
 * time from a log entry or from a timestamp left in, as the thresholds say.
 */
function verifiedTimestampsOnly(entity: SignedEntity, trust: TrustMaterial): { entity: SignedEntity; dropped: string[] } {
  const authorities = entity.timestamps.filter((t) => t.$case === 'timestamp-authority');
  if (authorities.length === 0) return { entity, dropped: [] };
  const alone = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 1 });
  const kept: SignedEntity['timestamps'] = [];
  const dropped: string[] = [];
  for (const t of entity.timestamps) {
    if (t.$case !== 'timestamp-authority') {
      kept.push(t);
      continue;
    }
    try {
      alone.verify({ ...entity, timestamps: [t], tlogEntries: [] });
    } catch (err) {
      if ((err as { code?: unknown }).code === 'TIMESTAMP_ERROR') {
        dropped.push(`its RFC 3161 timestamp does not verify (${whyTimestampFails(t.timestamp, trust)}) and does not count`);
        continue;
      }
      // It verified; the rest of the entity is for the full verification to judge.
    }
    kept.push(t);
  }
  return { entity: dropped.length === 0 ? entity : { ...entity, timestamps: kept }, dropped };
}

/** Whether the signature verifies with the key the policy gives, or its certificate's key. */
function signatureVerifies(entity: SignedEntity, policy: VerificationPolicy): boolean {
  if ('key' in policy) return verifiesWith(entity, policy.key);
  if (entity.key.$case !== 'certificate') return true;
  let key: KeyObject;
  try {
    key = createPublicKey({ key: entity.key.certificate.publicKey, format: 'der', type: 'spki' });
  } catch {
    // A key that does not parse is the certificate's failure, not the signature's.
    return true;
  }
  return verifiesWith(entity, key);
}

/**
 * Why an RFC 3161 timestamp does not verify, in the order @sigstore/verify checks it
 * (timestamp/tsa.js): the trusted root lists no authority of its signer's issuer and serial, or
 * none valid (`validFor`) when it says it was made, or its signature or the authority's chain does
 * not verify.
 */
function whyTimestampFails(timestamp: AuthorityTimestamp, trust: TrustMaterial): string {
  const signer = timestampSigner(timestamp);
  const listed = trust.timestampAuthorities.filter(
    (ca) =>
      ca.certChain[0] !== undefined &&
      sigCrypto.bufferEqual(ca.certChain[0].serialNumber, timestamp.signerSerialNumber) &&
      sigCrypto.bufferEqual(ca.certChain[0].issuer, timestamp.signerIssuer),
  );
  if (listed.length === 0) return `signed by ${signer}, which the trusted root does not list`;
  const at = timestamp.signingTime;
  if (!listed.some((ca) => ca.validFor.start <= at && at <= ca.validFor.end)) {
    const windows = listed.map((ca) => `${ca.validFor.start.toISOString()} to ${ca.validFor.end.toISOString()}`).join(', ');
    return `made at ${at.toISOString()} by ${signer}, which the trusted root trusts only from ${windows}`;
  }
  return `signed by ${signer}, which the trusted root lists, but the timestamp is not over this signature or its signature or certificate chain does not verify`;
}

/**
 * Who signed an RFC 3161 timestamp: the issuer's common name (else the whole issuer, as DER hex)
 * and the serial number of the authority's certificate, as the timestamp names it.
 */
function timestampSigner(timestamp: AuthorityTimestamp): string {
  const serial = Buffer.from(timestamp.signerSerialNumber).toString('hex');
  let issuer = Buffer.from(timestamp.signerIssuer).toString('hex');
  try {
    // @sigstore/core gives the Name's content (its RDN SETs, each of AttributeTypeAndValue: OID,
    // value; 2.5.4.3 is CN), without the SEQUENCE around it: put it back to parse it.
    const content = Buffer.from(timestamp.signerIssuer);
    const length = content.length < 0x80 ? [content.length] : [0x82, content.length >> 8, content.length & 0xff];
    for (const rdn of ASN1Obj.parseBuffer(Buffer.concat([Buffer.from([0x30, ...length]), content])).subs) {
      const atv = rdn.subs[0];
      if (atv?.subs[0]?.toOID() === '2.5.4.3' && atv.subs[1] !== undefined) issuer = `CN=${atv.subs[1].value.toString('utf8')}`;
    }
  } catch {
    // Keep the DER hex.
  }
  return `${JSON.stringify(issuer)} (certificate serial ${serial})`;
}

/** An RFC 3161 timestamp as @sigstore/verify gives it. */
type AuthorityTimestamp = Extract<SignedEntity['timestamps'][number], { $case: 'timestamp-authority' }>['timestamp'];

/**
 * Refuses an inclusion proof whose own root hash or tree size is not its checkpoint's.
 * @sigstore/verify authenticates the checkpoint and chains the entry up to the checkpoint's root,
 * and reads neither of the proof's fields (although its verifyCheckpoint's comment says it
 * compares the root hashes). sigstore-go, for a Rekor v1 entry, proves the entry up to the
 * proof's own root hash and tree size and then refuses a root hash the signed checkpoint does not
 * state (rekor's VerifyInclusion, then VerifyCheckpointSignature: "proof root hash does not match
 * signed tree head"). A proof that names another tree than its checkpoint was changed after the
 * log gave it, whatever version of Rekor gave it: every real bundle's proof states its checkpoint's.
 */
function checkProofsAgainstCheckpoints(entries: readonly TransparencyLogEntry[]): void {
  for (const entry of entries) {
    const proof = entry.inclusionProof;
    const envelope = proof?.checkpoint?.envelope;
    if (proof === undefined || envelope === undefined) continue;
    // The checkpoint's note: the log's origin, the tree size, the root hash (base64), then other
    // lines; its signatures follow a blank line (transparency-dev/formats, log/README.md).
    const [origin = '', size = '', root = ''] = envelope.slice(0, envelope.indexOf('\n\n')).split('\n');
    const where = `log entry ${proof.logIndex} of ${JSON.stringify(origin)}`;
    const proven = Buffer.from(proof.rootHash).toString('hex');
    const signed = Buffer.from(root, 'base64').toString('hex');
    if (proven !== signed) {
      throw new Failure(
        'inclusion-proof',
        `the inclusion proof’s root hash ${proven} does not match its checkpoint’s, ${signed} (${where}): the proof was changed after the log gave it`,
      );
    }
    if (!sameCount(proof.treeSize, size)) {
      throw new Failure(
        'inclusion-proof',
        `the inclusion proof’s tree size ${proof.treeSize} does not match its checkpoint’s, ${size} (${where}): the proof was changed after the log gave it`,
      );
    }
  }
}

/** Whether two decimal counts are the same number (false when one is not a count). */
function sameCount(a: string, b: string): boolean {
  return /^\d+$/.test(a) && /^\d+$/.test(b) && BigInt(a) === BigInt(b);
}

/**
 * Where and when the log recorded a signature, from what the verifier authenticated only (every
 * entry it was given passed, each with its signed entry timestamp and inclusion proof when it
 * carries them). The signed entry timestamp signs the entry's integrated time and log index; an
 * inclusion proof proves its own index (in the log's tree) and no time, so an entry with a proof
 * alone has no time to report, as in sigstore-go (pkg/verify/tlog.go). The entry's other fields
 * are not signed: anyone can change them in a bundle that carries no signed entry timestamp.
 */
function verifiedLogPosition(entries: readonly TransparencyLogEntry[]): { loggedAt?: Date; logIndex?: string } {
  const promised = entries.find((e) => e.inclusionPromise !== undefined);
  if (promised !== undefined) {
    const loggedAt = integratedTime([promised]);
    return { ...(loggedAt === undefined ? {} : { loggedAt }), ...(promised.logIndex === '' ? {} : { logIndex: promised.logIndex }) };
  }
  const proven = entries.find((e) => e.inclusionProof !== undefined)?.inclusionProof?.logIndex;
  return proven === undefined || proven === '' ? {} : { logIndex: proven };
}

function integratedTime(entries: readonly TransparencyLogEntry[]): Date | undefined {
  const t = entries[0]?.integratedTime;
  if (t === undefined || t === '' || t === '0') return undefined;
  return new Date(Number(t) * 1000);
}

/** cosign 2's layer annotations as a bundle's verification material. */
function layerMaterial(a: Record<string, string>, options: VerifyOptions): Bundle['verificationMaterial'] {
  const certPem = a[CosignAnnotation.Certificate];
  let content: Bundle['verificationMaterial']['content'];
  if (certPem !== undefined && certPem !== '' && !('key' in options.policy)) {
    const block = pemDecode(certPem);
    if (block === undefined || block.type !== 'CERTIFICATE')
      throw new Failure('malformed', 'the certificate annotation is not a PEM certificate');
    try {
      X509Certificate.parse(Buffer.from(block.bytes));
    } catch (cause) {
      throw new Failure('malformed', `the certificate annotation does not parse: ${(cause as Error).message}`);
    }
    // The chain annotation is not read: the trusted root's CAs are what the certificate must
    // chain to, and they carry their intermediates.
    content = { $case: 'certificate', certificate: { rawBytes: Buffer.from(block.bytes) } };
  } else {
    content = { $case: 'publicKey', publicKey: { hint: '' } };
  }
  const tlogEntries: TransparencyLogEntry[] = [];
  const checkLog = options.trustedRoot !== undefined;
  const rekorBundle = a[CosignAnnotation.Bundle];
  if (rekorBundle !== undefined && rekorBundle !== '' && checkLog) tlogEntries.push(rekorEntry(rekorBundle));
  const rfc3161Timestamps: { signedTimestamp: Buffer }[] = [];
  const ts = a[CosignAnnotation.RFC3161Timestamp];
  if (ts !== undefined && ts !== '' && checkLog) {
    const signed = annotatedTimestamp(ts);
    if (signed === undefined) throw new Failure('malformed', 'the RFC 3161 timestamp annotation is malformed');
    rfc3161Timestamps.push({ signedTimestamp: Buffer.from(signed) });
  }
  return { content, tlogEntries, timestampVerificationData: { rfc3161Timestamps } } as Bundle['verificationMaterial'];
}

/**
 * What a Rekor entry's body records, read defensively (the body is whatever the layer or bundle
 * carries): the kinds and versions cosign and sigstore-js write, and nothing else, as
 * @sigstore/verify's verifyTLogBody refuses an "unsupported kind". Any other kind, version or
 * shape fails the signature.
 */
interface EntryRecord {
  /**
   * The hash of what was logged, as cosign's bundleHash reads it (pkg/cosign/verify.go): a `dsse`
   * entry's envelope hash, an `intoto` entry's content hash, a `hashedrekord` entry's data hash.
   * Undefined for Rekor v2's `dsse`, which records none.
   */
  logged?: EntryHash;
  /** The one signature and the payload digest it records; undefined for `intoto` 0.0.1, which records hashes only. */
  signed?: { signature: Buffer; digest: Buffer };
}

interface EntryHash {
  algorithm: string;
  value: string;
}

function entryRecord(entry: TransparencyLogEntry, known: CheckedSignature): EntryRecord {
  const refuse = (why: string): never => {
    throw new Failure('transparency-log', `its Rekor entry ${why}, and cannot be checked`, known);
  };
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(entry.canonicalizedBody).toString('utf8'));
  } catch {
    return refuse('body is not JSON');
  }
  const at = (v: unknown, ...path: string[]): unknown => {
    for (const k of path) {
      if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.hasOwn(v, k)) return undefined;
      v = (v as Record<string, unknown>)[k];
    }
    return v;
  };
  // @sigstore/verify takes a `dsse` or `intoto` entry with exactly one signature.
  const only = (v: unknown): unknown => (Array.isArray(v) && v.length === 1 ? v[0] : undefined);
  const base64 = (v: unknown): Buffer | undefined => {
    const bytes = b64decode(v);
    return bytes === undefined ? undefined : Buffer.from(bytes);
  };
  const hex = (v: unknown): string | undefined => (typeof v === 'string' && /^(?:[0-9a-f]{2})+$/.test(v) ? v : undefined);
  const hash = (v: unknown): EntryHash | undefined => {
    const algorithm = at(v, 'algorithm');
    const value = hex(at(v, 'value'));
    return typeof algorithm === 'string' && value !== undefined ? { algorithm, value } : undefined;
  };
  const signed = (signature: Buffer | undefined, digest: Buffer | undefined): { signature: Buffer; digest: Buffer } =>
    signature !== undefined && signature.length > 0 && digest !== undefined && digest.length > 0
      ? { signature, digest }
      : refuse('does not record one signature and a payload digest');
  const kind = at(body, 'kind');
  const version = at(body, 'apiVersion');
  const spec = at(body, 'spec');
  const logged = (v: EntryHash | undefined): EntryHash => v ?? refuse('records no hash of what was logged');
  const payloadHex = (v: unknown): Buffer | undefined => {
    const h = hex(v);
    return h === undefined ? undefined : Buffer.from(h, 'hex');
  };
  switch (`${String(kind)} ${String(version)}`) {
    case 'hashedrekord 0.0.1':
    // cosign 1's kind: the same signature and hash of the payload, with the payload beside them.
    case 'rekord 0.0.1': {
      const data = logged(hash(at(spec, 'data', 'hash')));
      return { logged: data, signed: signed(base64(at(spec, 'signature', 'content')), payloadHex(data.value)) };
    }
    case 'hashedrekord 0.0.2': {
      // Rekor v2: the digest is base64, its algorithm a HashAlgorithm name.
      const v2 = at(spec, 'hashedRekordV002');
      const digest = base64(at(v2, 'data', 'digest'));
      const algorithm = at(v2, 'data', 'algorithm') === 'SHA2_256' ? 'sha256' : String(at(v2, 'data', 'algorithm'));
      const data = logged(digest === undefined ? undefined : { algorithm, value: digest.toString('hex') });
      return { logged: data, signed: signed(base64(at(v2, 'signature', 'content')), digest) };
    }
    case 'dsse 0.0.1':
      return {
        logged: logged(hash(at(spec, 'envelopeHash'))),
        signed: signed(base64(at(only(at(spec, 'signatures')), 'signature')), payloadHex(at(spec, 'payloadHash', 'value'))),
      };
    case 'dsse 0.0.2': {
      const v2 = at(spec, 'dsseV002');
      return { signed: signed(base64(at(only(at(v2, 'signatures')), 'content')), base64(at(v2, 'payloadHash', 'digest'))) };
    }
    case 'intoto 0.0.1':
      // cosign 2's `attest` entry: no signature, only the hashes of the envelope and its payload.
      return { logged: logged(hash(at(spec, 'content', 'hash'))) };
    case 'intoto 0.0.2': {
      // The envelope's signature is base64 of the base64 text.
      const sig = base64(at(only(at(spec, 'content', 'envelope', 'signatures')), 'sig'));
      return {
        logged: logged(hash(at(spec, 'content', 'hash'))),
        signed: signed(
          sig === undefined ? undefined : base64(sig.toString('utf8')),
          payloadHex(at(spec, 'content', 'payloadHash', 'value')),
        ),
      };
    }
    default:
      return refuse(`is of kind ${JSON.stringify(kind)} version ${JSON.stringify(version)}, which is not supported`);
  }
}

/**
 * cosign takes a layer's Rekor entry only when the hash the entry records is the SHA-256 of the
 * layer's bytes (pkg/cosign/verify.go VerifyBundle, bundleHash). @sigstore/verify checks a `dsse`
 * entry's payload hash and signatures, not its envelope hash, so an `.att` layer that is not the
 * envelope logged (re-encoded after signing) would pass it and fail cosign.
 */
function checkEntryHash(record: EntryRecord, layer: Uint8Array, known: CheckedSignature): void {
  const recorded = record.logged;
  const ours = digestHex(digestOf(layer));
  if (recorded?.algorithm !== 'sha256' || recorded.value !== ours) {
    throw new Failure(
      'transparency-log',
      `the transparency log entry records ${recorded === undefined ? 'no hash of what was logged' : `${recorded.algorithm}:${recorded.value}`}, not this layer's sha256:${ours}: the entry is for other bytes, and cosign refuses it`,
      known,
    );
  }
}

/**
 * Without a trusted root (a key policy), a Rekor entry's signed entry timestamp or inclusion proof
 * cannot be checked, and @sigstore/verify checks an entry's body only after them. What the body
 * records needs no Rekor key: it must record this signature and this payload's digest, as
 * @sigstore/verify's verifyTLogBody compares them, else it was copied from another signature.
 * An entry that records no signature (`intoto` 0.0.1) is bound only by the layer hash
 * {@link checkEntryHash} compares: `boundByLayer` says that was checked; else it is refused.
 */
function checkEntryBody(record: EntryRecord, entity: SignedEntity, known: CheckedSignature, boundByLayer: boolean): void {
  const recorded = record.signed;
  if (recorded === undefined) {
    if (boundByLayer) return;
    throw new Failure('transparency-log', 'its Rekor entry records no signature to compare with this one’s', known);
  }
  const content = entity.signature;
  if (!content.compareSignature(recorded.signature)) {
    throw new Failure(
      'transparency-log',
      'its Rekor entry records another signature than this one: the entry belongs to another signature (copied here)',
      known,
    );
  }
  if (!content.compareDigest(recorded.digest)) {
    throw new Failure(
      'transparency-log',
      'its Rekor entry records another payload digest than this signature’s: the entry is not this one’s',
      known,
    );
  }
}

/** cosign's `dev.sigstore.cosign/bundle` (a Rekor entry with its signed entry timestamp) as a bundle tlog entry. */
function rekorEntry(text: string): TransparencyLogEntry {
  const doc = jsonOr(text) as {
    SignedEntryTimestamp?: unknown;
    Payload?: { body?: unknown; integratedTime?: unknown; logIndex?: unknown; logID?: unknown };
  };
  const set = b64decode(doc.SignedEntryTimestamp);
  const body = b64decode(doc.Payload?.body);
  const { integratedTime: time, logIndex, logID } = doc.Payload ?? {};
  if (
    set === undefined ||
    body === undefined ||
    typeof time !== 'number' ||
    typeof logIndex !== 'number' ||
    typeof logID !== 'string' ||
    !/^[0-9a-f]+$/.test(logID)
  ) {
    throw new Failure('malformed', 'the Rekor bundle annotation is malformed');
  }
  const entry = jsonOr(Buffer.from(body).toString('utf8')) as { kind?: unknown; apiVersion?: unknown };
  if (typeof entry.kind !== 'string' || typeof entry.apiVersion !== 'string')
    throw new Failure('malformed', 'the Rekor entry body has no kind');
  return {
    logIndex: String(logIndex),
    logId: { keyId: Buffer.from(logID, 'hex') },
    kindVersion: { kind: entry.kind, version: entry.apiVersion },
    integratedTime: String(time),
    inclusionPromise: { signedEntryTimestamp: Buffer.from(set) },
    inclusionProof: undefined,
    canonicalizedBody: Buffer.from(body),
  } as TransparencyLogEntry;
}

/**
 * The signed entity @sigstore/verify checks (`artifact`: the bytes a message signature is over),
 * with these additions to its signature content:
 *
 * - a Rekor v2 `hashedrekord` entry logs a DSSE signature over its pre-authentication encoding,
 *   so the entry's digest is sha256(PAE), which @sigstore/verify 3 does not accept (it compares
 *   the payload's digest; sigstore-js#1677 fixed that in the 4.x line, which needs a newer Node);
 * - an ECDSA P-384 or P-521 key's signature verifies with its curve's digest too (see
 *   {@link curveDigest}), where @sigstore/verify 3 checks DSSE with SHA-256 only and a cosign 2
 *   layer names SHA-256; an Ed25519 key's message signature verifies as pure Ed25519 (see
 *   {@link verifiesWithKeyAlgorithm}), and a key that cannot check the signature at all is said
 *   to, not taken for another signer's;
 * - `timestamped`, when given, is what its RFC 3161 timestamps are checked over instead of the
 *   signature (a cosign `.att` layer's are over the layer): @sigstore/verify reads the
 *   signature's bytes for that alone.
 */
function entityOf(bundle: Bundle, artifact: Buffer | undefined, timestamped?: Buffer): SignedEntity {
  let entity: SignedEntity;
  try {
    entity = toSignedEntity(bundle, artifact);
  } catch (cause) {
    throw new Failure('malformed', `the bundle cannot be verified: ${(cause as Error).message}`);
  }
  const env = bundle.content.$case === 'dsseEnvelope' ? bundle.content.dsseEnvelope : undefined;
  const signed = env === undefined ? artifact : Buffer.from(pae(env.payloadType, env.payload));
  const paeDigest = env === undefined || signed === undefined ? undefined : sigCrypto.digest('sha256', signed);
  const hashedrekordV2 =
    paeDigest !== undefined && entity.tlogEntries.some((e) => e.kindVersion?.kind === 'hashedrekord' && e.kindVersion.version === '0.0.2');
  const content = entity.signature;
  return {
    ...entity,
    signature: {
      signature: timestamped ?? content.signature,
      compareSignature: (s: Buffer) => content.compareSignature(s),
      compareDigest: (d: Buffer) => content.compareDigest(d) || (hashedrekordV2 && sigCrypto.bufferEqual(d, paeDigest!)),
      verifySignature: (k: KeyObject) =>
        content.verifySignature(k) ||
        verifiesWithKeyAlgorithm(k, signed, content.signature) ||
        refuseUncheckable(k, signed, content.signature, env === undefined ? 'sha256' : null),
    },
  };
}

/**
 * Whether `signature` verifies over `data` with what the key itself says to sign with, where
 * @sigstore/verify 3 uses another: an ECDSA P-384 or P-521 key's curve digest
 * ({@link curveDigest}), and pure Ed25519 for an Ed25519 key's message signature (a cosign 2
 * `.sig`), which @sigstore/verify checks with SHA-256, an algorithm Ed25519 has no use for.
 * cosign verifies `--key` signatures with sigstore's `LoadVerifier`, pure Ed25519 for such a key
 * (sigstore/sigstore pkg/signature/ed25519.go); DSSE signatures need nothing here, @sigstore/verify
 * already checks them with no digest.
 */
function verifiesWithKeyAlgorithm(key: KeyObject, data: Buffer | undefined, signature: Buffer): boolean {
  if (data === undefined) return false;
  if (key.asymmetricKeyType === 'ed25519') return nodeVerify(null, data, key, signature);
  const digest = curveDigest(key);
  return digest !== undefined && sigCrypto.verify(data, key, signature, digest);
}

/**
 * False when the signature is merely not this key's; a {@link Failure} when the key cannot check
 * it at all (a key type or algorithm the signature's format has no use for): @sigstore/core reads
 * such an exception as "does not verify", which would say another key made it.
 */
function refuseUncheckable(key: KeyObject, data: Buffer | undefined, signature: Buffer, digest: 'sha256' | null): false {
  if (data === undefined || key.asymmetricKeyType === 'ed25519') return false;
  try {
    nodeVerify(digest, data, key, signature);
  } catch (cause) {
    throw new Failure(
      'signature',
      `the given key (${key.asymmetricKeyType ?? 'unknown'}) cannot check this signature: ${(cause as Error).message}`,
    );
  }
  return false;
}

/**
 * The digest an ECDSA key signs with by its curve, where that is not SHA-256: SHA-384 for P-384,
 * SHA-512 for P-521, as sigstore-go's verifier picks for a key (signature.LoadDefaultVerifier,
 * the bundle key details `PKIX_ECDSA_P384_SHA_384`) and cosign 3 signs with such a key
 * (LoadDefaultSignerVerifier). SHA-256 stays accepted beside it: it is what cosign's
 * `--signature-digest-algorithm` defaults to and what older cosign signed with.
 */
function curveDigest(key: KeyObject): string | undefined {
  if (key.asymmetricKeyType !== 'ec') return undefined;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return curve === 'secp384r1' ? 'sha384' : curve === 'secp521r1' ? 'sha512' : undefined;
}

function withoutWitnesses(bundle: Bundle): Bundle {
  return {
    ...bundle,
    verificationMaterial: { ...bundle.verificationMaterial, tlogEntries: [], timestampVerificationData: { rfc3161Timestamps: [] } },
  } as Bundle;
}

function parseOr<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof ProvenantError) throw new Failure('malformed', err.message);
    throw err;
  }
}

function jsonOr(text: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v === 'object' && v !== null) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new Failure('malformed', 'an annotation is not JSON');
}

async function readSubject(store: ContentStore, subject: Digest, options: OperationOptions): Promise<Uint8Array> {
  try {
    return (await store.getManifest(subject, options)).bytes;
  } catch (err) {
    if (!(err instanceof ProvenantError) || !['INVALID_MANIFEST', 'UNSUPPORTED_MEDIA_TYPE'].includes(err.code)) throw err;
  }
  // Not a manifest: a referrer's subject may be any content; read it, bounded like a manifest.
  const stat = await store.statBlob(subject, options);
  if (stat === undefined) throw new ProvenantError('NOT_FOUND', `${subject} is not in ${store.location}`);
  return collect(
    await store.readBlob({ ...stat, mediaType: 'application/octet-stream' }, options),
    MANIFEST_LIMIT,
    `${store.location}@${subject}`,
  );
}
