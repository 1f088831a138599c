/**
 * What gets signed: cosign's simple-signing payload (cosign 2's `.sig`), DSSE envelopes and
 * their pre-authentication encoding (cosign 2's `.att`, every Sigstore bundle of cosign 3), and
 * the in-toto Statement cosign 3 signs for a plain image signature.
 *
 * Bytes are written the way cosign's Go code writes them (encoding/json: struct fields in
 * declaration order, map keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped), so a payload we
 * make for the same inputs is the same bytes as cosign's.
 */
import { nestsDeeperThan, STATEMENT_DEPTH_LIMIT } from '../attest/attachments.ts';
import { ProvenantError } from '../errors.ts';
import { type Digest, isDigest } from '../oci/digest.ts';
import { type ImageReference, repositoryName } from '../ref/reference.ts';

/** `critical.type` of a cosign simple-signing payload. */
export const COSIGN_SIGNATURE_TYPE = 'cosign container image signature';
/** The layer media type of a `.sig` signature. */
export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
/** DSSE's payload type for an in-toto Statement. */
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
/** The layer media type of a `.att` attestation. */
export const DSSE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';
/** The predicate type cosign 3 signs an image with (inside a Sigstore bundle). */
export const COSIGN_SIGN_PREDICATE_TYPE = 'https://sigstore.dev/cosign/sign/v1';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** A simple-signing payload's parts. */
export interface SimpleSigning {
  /** `critical.identity.docker-reference`: the repository the signer named. */
  dockerReference: string;
  /** `critical.image.docker-manifest-digest`. */
  digest: Digest;
  /** `optional`: the `-a key=value` annotations, or null. */
  optional: Record<string, unknown> | null;
}

/**
 * The simple-signing payload cosign writes for `digest`, byte for byte
 * (sigstore/sigstore pkg/signature/payload: `SimpleContainerImage`, marshalled by encoding/json;
 * the format is containers/image's, docs/containers-signature.5.md).
 */
export function simpleSigningPayload(dockerReference: string, digest: Digest, optional?: Readonly<Record<string, string>>): Uint8Array {
  const opt = optional === undefined || Object.keys(optional).length === 0 ? 'null' : goJson(optional);
  return encoder.encode(
    `{"critical":{"identity":{"docker-reference":${goString(dockerReference)}},"image":{"docker-manifest-digest":${goString(digest)}},` +
      `"type":${goString(COSIGN_SIGNATURE_TYPE)}},"optional":${opt}}`,
  );
}

/**
 * The repository name cosign puts in `docker-reference`: go-containerregistry's
 * `Repository.Name()`, which spells Docker Hub as `DOCKER_HUB_INDEX` ({@link repositoryName}; the
 * statements' subjects spell it as `DOCKER_HUB`, see statementImageName).
 */
export function cosignDockerReference(ref: Pick<ImageReference, 'registry' | 'repository'>): string {
  return repositoryName(ref, 'ggcr');
}

/**
 * Parses a simple-signing payload, checking what cosign checks: the type, and that the digest
 * is one.
 *
 * @throws ProvenantError `SIGNATURE` when it is not a cosign payload
 */
export function parseSimpleSigning(bytes: Uint8Array, where?: string): SimpleSigning {
  const bad = (why: string): ProvenantError =>
    new ProvenantError(
      'SIGNATURE',
      `the signed payload is not a cosign simple-signing payload: ${why}`,
      where === undefined ? {} : { where },
    );
  const doc = parseJsonObject(bytes);
  if (doc === undefined) throw bad('not a JSON object');
  const critical = doc.critical as {
    identity?: { 'docker-reference'?: unknown };
    image?: { 'docker-manifest-digest'?: unknown };
    type?: unknown;
  };
  if (typeof critical !== 'object' || critical === null) throw bad('no "critical" section');
  if (critical.type !== COSIGN_SIGNATURE_TYPE) throw bad(`critical.type is ${JSON.stringify(critical.type)}`);
  const digest = critical.image?.['docker-manifest-digest'];
  if (!isDigest(digest)) throw bad('critical.image.docker-manifest-digest is not a digest');
  const ref = critical.identity?.['docker-reference'];
  if (typeof ref !== 'string') throw bad('critical.identity.docker-reference is missing');
  const optional = doc.optional;
  return {
    dockerReference: ref,
    digest,
    optional: typeof optional === 'object' && optional !== null && !Array.isArray(optional) ? (optional as Record<string, unknown>) : null,
  };
}

// ---- DSSE ---------------------------------------------------------------------------------

/** A DSSE envelope (https://github.com/secure-systems-lab/dsse/blob/master/envelope.md). */
export interface DsseEnvelope {
  payloadType: string;
  payload: Uint8Array;
  signatures: { keyid: string; sig: Uint8Array }[];
}

/**
 * DSSE's pre-authentication encoding, the bytes a DSSE signature is over
 * (https://github.com/secure-systems-lab/dsse/blob/master/protocol.md):
 * `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths as ASCII decimal byte counts.
 */
export function pae(payloadType: string, payload: Uint8Array): Uint8Array {
  const type = encoder.encode(payloadType);
  const head = encoder.encode(`DSSEv1 ${type.length} ${payloadType} ${payload.length} `);
  const out = new Uint8Array(head.length + payload.length);
  out.set(head, 0);
  out.set(payload, head.length);
  return out;
}

/**
 * An envelope as cosign 2 writes it into a `.att` layer (go-securesystemslib's `dsse.Envelope`:
 * payloadType, payload, then signatures with `keyid` always present).
 */
export function encodeEnvelope(envelope: DsseEnvelope): Uint8Array {
  const sigs = envelope.signatures.map((s) => `{"keyid":${goString(s.keyid)},"sig":"${b64(s.sig)}"}`).join(',');
  return encoder.encode(`{"payloadType":${goString(envelope.payloadType)},"payload":"${b64(envelope.payload)}","signatures":[${sigs}]}`);
}

/**
 * Parses an envelope (either writer's field order; `keyid` optional).
 *
 * @throws ProvenantError `SIGNATURE` when it is not one
 */
export function parseEnvelope(bytes: Uint8Array, where?: string): DsseEnvelope {
  const bad = (why: string): ProvenantError =>
    new ProvenantError('SIGNATURE', `not a DSSE envelope: ${why}`, where === undefined ? {} : { where });
  const doc = parseJsonObject(bytes);
  if (doc === undefined) throw bad('not a JSON object');
  if (typeof doc.payloadType !== 'string') throw bad('payloadType is missing');
  const payload = b64decode(doc.payload);
  if (payload === undefined) throw bad('payload is not base64');
  if (!Array.isArray(doc.signatures) || doc.signatures.length === 0) throw bad('it has no signatures');
  const signatures = doc.signatures.map((s: unknown) => {
    const o = s as { keyid?: unknown; sig?: unknown };
    const sig = typeof o === 'object' && o !== null ? b64decode(o.sig) : undefined;
    if (sig === undefined) throw bad('a signature is not base64');
    if (sig.length === 0) throw bad('a signature is empty');
    return { keyid: typeof o.keyid === 'string' ? o.keyid : '', sig };
  });
  return { payloadType: doc.payloadType, payload, signatures };
}

// ---- in-toto --------------------------------------------------------------------------------

/**
 * The in-toto Statement cosign 3 signs as an image signature (cmd/cosign/cli/sign: subject with
 * only a digest and the `-a` annotations, predicate type `https://sigstore.dev/cosign/sign/v1`,
 * no predicate), in the field order protojson writes.
 */
export function cosignSignStatement(digest: Digest, annotations?: Readonly<Record<string, string>>): Uint8Array {
  const [algorithm, hex] = digest.split(':') as [string, string];
  const ann = annotations === undefined || Object.keys(annotations).length === 0 ? '' : `,"annotations":${goJson(annotations)}`;
  return encoder.encode(
    `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{${goString(algorithm)}:${goString(hex)}}${ann}}],` +
      `"predicateType":${goString(COSIGN_SIGN_PREDICATE_TYPE)}}`,
  );
}

/** A parsed in-toto Statement (v0.1 or v1). */
export interface InTotoStatement {
  type: string;
  predicateType: string;
  /** Each subject's name, digests and annotations (cosign 3 puts `sign -a key=value` there). */
  subjects: { name?: string; digest: Record<string, string>; annotations?: Record<string, unknown> }[];
  predicate: unknown;
}

/**
 * Parses an in-toto Statement.
 *
 * @throws ProvenantError `SIGNATURE` when it is not one
 */
export function parseStatement(bytes: Uint8Array, where?: string): InTotoStatement {
  const bad = (why: string): ProvenantError =>
    new ProvenantError('SIGNATURE', `not an in-toto Statement: ${why}`, where === undefined ? {} : { where });
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw bad('not UTF-8');
  }
  // Every walk of a statement downstream recurses once per level: refused here, where verified
  // statements are read, as image/statements.ts refuses it for the ones read unverified.
  if (nestsDeeperThan(text)) throw bad(`it nests lists and objects more than ${STATEMENT_DEPTH_LIMIT} levels deep`);
  const doc = parseJsonObject(text);
  if (doc === undefined) throw bad('not a JSON object');
  if (typeof doc._type !== 'string' || !doc._type.startsWith('https://in-toto.io/Statement/'))
    throw bad('_type is not an in-toto Statement');
  if (typeof doc.predicateType !== 'string') throw bad('predicateType is missing');
  if (!Array.isArray(doc.subject)) throw bad('subject is not a list');
  const subjects = doc.subject.map((s: unknown) => {
    const o = s as { name?: unknown; digest?: unknown; annotations?: unknown };
    if (typeof o !== 'object' || o === null || typeof o.digest !== 'object' || o.digest === null) throw bad('a subject has no digest');
    const digest: Record<string, string> = {};
    for (const [k, v] of Object.entries(o.digest as Record<string, unknown>)) if (typeof v === 'string') digest[k] = v;
    const out: InTotoStatement['subjects'][number] = typeof o.name === 'string' ? { name: o.name, digest } : { digest };
    if (typeof o.annotations === 'object' && o.annotations !== null && !Array.isArray(o.annotations)) {
      out.annotations = o.annotations as Record<string, unknown>;
    }
    return out;
  });
  return { type: doc._type, predicateType: doc.predicateType, subjects, predicate: doc.predicate };
}

/** True when one of the statement's subjects names `digest`. */
export function statementNames(statement: InTotoStatement, digest: Digest): boolean {
  const [algorithm, hex] = digest.split(':') as [string, string];
  return statement.subjects.some((s) => s.digest[algorithm]?.toLowerCase() === hex);
}

// ---- predicate types ------------------------------------------------------------------------

/**
 * cosign's `--type` short names and the predicate types they stand for
 * (cmd/cosign/cli/options/predicate.go).
 */
export const PREDICATE_TYPES: Readonly<Record<string, string>> = {
  custom: 'https://cosign.sigstore.dev/attestation/v1',
  slsaprovenance: 'https://slsa.dev/provenance/v0.2',
  slsaprovenance02: 'https://slsa.dev/provenance/v0.2',
  slsaprovenance1: 'https://slsa.dev/provenance/v1',
  spdx: 'https://spdx.dev/Document',
  spdxjson: 'https://spdx.dev/Document',
  cyclonedx: 'https://cyclonedx.org/bom',
  link: 'https://in-toto.io/Link/v1',
  vuln: 'https://cosign.sigstore.dev/attestation/vuln/v1',
  openvex: 'https://openvex.dev/ns',
};

/**
 * A `--type` value as a predicate type URI: a short name from {@link PREDICATE_TYPES}, else an
 * absolute URI as it is.
 *
 * @throws ProvenantError `USAGE` for anything else
 */
export function parsePredicateType(value: string): string {
  // Own keys only: `constructor` or `toString` would otherwise come from Object's prototype.
  if (Object.hasOwn(PREDICATE_TYPES, value)) return PREDICATE_TYPES[value] as string;
  // cosign takes anything url.ParseRequestURI accepts: an absolute URI (or path).
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$/.test(value)) return value;
  throw new ProvenantError('USAGE', `invalid predicate type ${JSON.stringify(value)}`, {
    hint: `use one of ${Object.keys(PREDICATE_TYPES).join(', ')} or a URI`,
  });
}

// ---- JSON the way Go writes it --------------------------------------------------------------

/**
 * A JSON string as Go's encoding/json writes it: like JSON.stringify, but `<`, `>` and `&` are
 * escaped as \u003c, \u003e, \u0026 and U+2028, U+2029 as \u2028, \u2029.
 */
export function goString(value: string): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A value as encoding/json writes a Go map or slice of it: object keys sorted, Go string escapes. */
export function goJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return goString(value);
  if (typeof value === 'number' || typeof value === 'boolean') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(goJson).join(',')}]`;
  if (typeof value === 'object') {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o).sort(byUtf8);
    return `{${keys.map((k) => `${goString(k)}:${goJson(o[k])}`).join(',')}}`;
  }
  throw new TypeError(`cannot encode ${typeof value}`);
}

// Go sorts map keys by their bytes (UTF-8), not by UTF-16 code units.
function byUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function parseJsonObject(bytes: Uint8Array | string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(typeof bytes === 'string' ? bytes : decoder.decode(bytes));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

/**
 * Base64 as DSSE allows it (standard or URL-safe alphabet, padded or not), or undefined when the
 * text is anything else.
 */
export function b64decode(value: unknown): Uint8Array | undefined {
  if (typeof value !== 'string') return undefined;
  const std = /^[A-Za-z0-9+/]*={0,2}$/.test(value);
  const url = /^[A-Za-z0-9_-]*={0,2}$/.test(value);
  if (!std && !url) return undefined;
  const body = value.replace(/=+$/, '');
  if (body.length % 4 === 1) return undefined;
  return new Uint8Array(Buffer.from(body, std ? 'base64' : 'base64url'));
}
