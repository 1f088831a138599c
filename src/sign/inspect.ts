/**
 * What `inspect` shows of signatures and attestations without a trust policy: where each is,
 * whether it is signed at all, and by which key id or certificate identity it says it is. These
 * are claims read off the signature material; {@link verifyImage} is what checks them.
 */
import type { OperationOptions } from '../io/types.ts';
import type { Digest } from '../oci/digest.ts';
import type { ContentStore } from '../store/types.ts';
import { pemDecode } from './keys.ts';
import { identityOfCertificate } from './material.ts';
import { CosignAnnotation, type FoundSignature, findSignatures } from './storage.ts';

/** One signature or attestation as `inspect` lists it. */
export interface SignatureSummary {
  storage: 'cosign' | 'referrers';
  kind: 'signature' | 'attestation';
  source: string;
  predicateType?: string;
  /** Whether it carries a signature at all. */
  signed: boolean;
  /**
   * The key id it names, when signed with a key: a bundle's hint, else its DSSE envelope's
   * `keyid`; a `.att` layer's envelope `keyid` (Provenant writes it, cosign 2 leaves it empty).
   */
  keyId?: string;
  /** The certificate's identity and issuer, when signed keyless. */
  identity?: string;
  issuer?: string;
  /** Why it could not be read, when it could not. */
  error?: string;
}

/** Summaries of every signature and attestation of `subject`, unverified. */
export async function summarizeSignatures(
  store: ContentStore,
  subject: Digest,
  options: OperationOptions = {},
): Promise<SignatureSummary[]> {
  return (await findSignatures(store, subject, options)).map(summarize);
}

/** The summary of one found signature. */
export function summarize(f: FoundSignature): SignatureSummary {
  const out: SignatureSummary = { storage: f.storage, kind: f.kind, source: f.source, signed: false };
  if (f.predicateType !== undefined) out.predicateType = f.predicateType;
  let cert: Uint8Array | undefined;
  if (f.format === 'cosign-layer') {
    if (f.layer === undefined) {
      out.error = f.error ?? 'unreadable layer';
      return out;
    }
    const a = f.layer.annotations;
    // A .att layer's signature is inside its envelope; a .sig layer's in the annotation.
    out.signed =
      f.kind === 'attestation'
        ? /"sig"\s*:\s*"[^"]+"/.test(Buffer.from(f.layer.payload).toString('utf8'))
        : (a[CosignAnnotation.Signature] ?? '') !== '';
    const pem = a[CosignAnnotation.Certificate];
    if (pem !== undefined && pem !== '') cert = pemDecode(pem)?.bytes;
    // Signed with a key, Provenant's envelope names it (`keyid`); cosign 2 leaves it empty.
    const named = f.kind === 'attestation' && out.signed && cert === undefined ? envelopeKeyId(f.layer.payload) : undefined;
    if (named !== undefined) out.keyId = named;
  } else if (f.bundle === undefined) {
    out.error = f.error ?? 'unreadable bundle';
  } else {
    const b = f.bundle;
    out.signed =
      b.content.$case === 'dsseEnvelope' ? b.content.dsseEnvelope.signatures.length > 0 : b.content.messageSignature.signature.length > 0;
    const vm = b.verificationMaterial.content;
    if (vm.$case === 'publicKey' && vm.publicKey.hint !== '') out.keyId = vm.publicKey.hint;
    else if (vm.$case === 'publicKey' && b.content.$case === 'dsseEnvelope') {
      const named = b.content.dsseEnvelope.signatures.find((x) => x.keyid !== '')?.keyid;
      if (named !== undefined) out.keyId = named;
    }
    if (vm.$case === 'certificate') cert = vm.certificate.rawBytes;
    if (vm.$case === 'x509CertificateChain') cert = vm.x509CertificateChain.certificates[0]?.rawBytes;
  }
  if (cert !== undefined) {
    try {
      const { identity, issuer } = identityOfCertificate(cert);
      out.identity = identity;
      out.issuer = issuer;
    } catch (err) {
      out.error = `the certificate does not parse: ${(err as Error).message}`;
    }
  }
  return out;
}

/** The first non-empty `keyid` of a DSSE envelope's signatures, or undefined (none, or not an envelope). */
function envelopeKeyId(bytes: Uint8Array): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return undefined;
  }
  const signatures = typeof doc === 'object' && doc !== null ? (doc as { signatures?: unknown }).signatures : undefined;
  if (!Array.isArray(signatures)) return undefined;
  for (const s of signatures) {
    const id = typeof s === 'object' && s !== null ? (s as { keyid?: unknown }).keyid : undefined;
    if (typeof id === 'string' && id !== '') return id;
  }
  return undefined;
}
