/**
 * What `inspect` shows of signatures and attestations without a trust policy: where each is,
 * whether it is signed at all, and by which key id or certificate identity it says it is. These
 * are claims read off the signature material; {@link verifyImage} is what checks them.
 */
import type { AttachmentStorage } from '../attest/attachments.ts';
import type { OperationOptions } from '../io/types.ts';
import type { Digest } from '../oci/digest.ts';
import type { ContentStore } from '../store/types.ts';
import { pemDecode } from './keys.ts';
import { identityOfCertificate } from './material.ts';
import { parseEnvelope } from './payload.ts';
import { CosignAnnotation, eachSignature, type FoundSignature } from './storage.ts';

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

/**
 * The summaries, among those of its subject, that are an attachment's own: a cosign tag's
 * layers (`<tag> layer <i>`), a referrer's bundle or, in cosign's OCI 1.1 form, its layers. A
 * BuildKit attestation manifest has none among its subject's (its statements are not signed;
 * the manifest's own signatures are {@link attestationManifestSignatures}).
 */
export function ownSummaries(
  a: { storage: AttachmentStorage; digest: Digest; tag?: string | undefined },
  summaries: readonly SignatureSummary[],
): SignatureSummary[] {
  const own = a.storage === 'cosign' ? `${a.tag} layer ` : `referrer ${a.digest}`;
  return summaries.filter((s) => s.storage === a.storage && s.source.startsWith(own));
}

/** Summaries of every signature and attestation of `subject` (of `kind` alone, when given), unverified. */
export async function summarizeSignatures(
  store: ContentStore,
  subject: Digest,
  options: OperationOptions = {},
  kind?: FoundSignature['kind'],
): Promise<SignatureSummary[]> {
  // Each summarised as it is read, and its bytes let go.
  const out: SignatureSummary[] = [];
  for await (const f of eachSignature(store, subject, options)) if (kind === undefined || f.kind === kind) out.push(summarize(f));
  return out;
}

/**
 * The signatures of a BuildKit attestation manifest itself, summarised. Its statements are plain
 * in-toto layers with no signature of their own, but the manifest is listed in the index beside
 * the images and is signed as they are (`build --sign`, `sign --recursive` and the Action sign
 * it; `verify` checks it): its `.sig` tag and signature referrers, found as an image's are. Its
 * attestations are read (eachSignature finds them) but not summarised, only to be dropped.
 */
export function attestationManifestSignatures(
  store: ContentStore,
  manifest: Digest,
  options: OperationOptions = {},
): Promise<SignatureSummary[]> {
  return summarizeSignatures(store, manifest, options, 'signature');
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
    // A .att layer's signature is inside its DSSE envelope (which parseEnvelope reads only with a
    // signature, none of them empty); a .sig layer's in the annotation.
    let named: string | undefined;
    if (f.kind === 'attestation') {
      try {
        const envelope = parseEnvelope(f.layer.payload);
        out.signed = true;
        named = envelope.signatures.find((s) => s.keyid !== '')?.keyid;
      } catch (err) {
        out.error = (err as Error).message;
      }
    } else out.signed = (a[CosignAnnotation.Signature] ?? '') !== '';
    const pem = a[CosignAnnotation.Certificate];
    if (pem !== undefined && pem !== '') cert = pemDecode(pem)?.bytes;
    // Signed with a key, Provenant's envelope names it (`keyid`); cosign 2 leaves it empty.
    if (named !== undefined && cert === undefined) out.keyId = named;
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
