/**
 * What signed material says, read without the signing stack: the identity a Fulcio certificate
 * names, and the DSSE envelope a bundle logged. The signer uses both as it signs; inspect and the
 * storage read them back, and importing this loads @sigstore/core and @sigstore/bundle only, not
 * @sigstore/sign (the printing commands' start-up time).
 */
import { createHash } from 'node:crypto';
import { type Bundle, envelopeToJSON } from '@sigstore/bundle';
import { type ASN1Obj, X509Certificate } from '@sigstore/core';
import { ProvenantError } from '../errors.ts';
import type { CertificateIdentity } from './identity.ts';

/** Fulcio's OIDC issuer extensions: v2 (a DER UTF8String) and the deprecated v1 (raw bytes). */
const OID_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';
const OID_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
/** Fulcio's otherName SAN type for a username identity (`foo!oidc.local`), a UTF8String. */
const OID_OTHERNAME_USERNAME = '1.3.6.1.4.1.57264.1.7';

/**
 * The identity (subject alternative name) and OIDC issuer a Fulcio certificate names, `''` for
 * one it does not name; DER bytes, PEM text or a parsed certificate.
 *
 * @throws Error when the certificate does not parse
 */
export function identityOfCertificate(certificate: Uint8Array | string | X509Certificate): CertificateIdentity {
  const c =
    certificate instanceof X509Certificate
      ? certificate
      : X509Certificate.parse(typeof certificate === 'string' ? certificate : Buffer.from(certificate));
  const v2 = c.extension(OID_ISSUER_V2)?.valueObj.subs[0]?.value.toString('utf8');
  return {
    identity: certificateNames(c).identity,
    issuer: v2 ?? c.extension(OID_ISSUER_V1)?.value.toString('utf8') ?? '',
  };
}

/**
 * Fulcio's GitHub workflow extensions, the ones cosign's `--certificate-github-workflow-*` flags
 * compare (cosign's certextensions.go, sigstore-go's ParseExtensions): deprecated in Fulcio's
 * OID list in favour of `1.3.6.1.4.1.57264.1.12` and on, but still issued for GitHub Actions
 * tokens, and the only ones those flags read. Each value is the extension's raw bytes (no DER
 * string around them), the claim of the token as it was.
 */
export const GITHUB_WORKFLOW_EXTENSIONS = {
  trigger: '1.3.6.1.4.1.57264.1.2',
  sha: '1.3.6.1.4.1.57264.1.3',
  name: '1.3.6.1.4.1.57264.1.4',
  repository: '1.3.6.1.4.1.57264.1.5',
  ref: '1.3.6.1.4.1.57264.1.6',
} as const;

/** One of {@link GITHUB_WORKFLOW_EXTENSIONS}. */
export type GithubWorkflowField = keyof typeof GITHUB_WORKFLOW_EXTENSIONS;

/** The value of a certificate's GitHub workflow extension, its raw bytes; undefined when it has none. */
export function githubWorkflowExtension(c: X509Certificate, field: GithubWorkflowField): Buffer | undefined {
  return c.extension(GITHUB_WORKFLOW_EXTENSIONS[field])?.value;
}

/**
 * The names a keyless signer's certificate is matched against, in the order tried, from one walk
 * of its SANs: `identity`, the one it is known by (and {@link identityOfCertificate}'s: the URI or
 * email @sigstore/verify names, else a Fulcio username; `''` for none), then every other subject
 * alternative name once, as cosign matches an identity against them (sigstore's
 * cryptoutils.GetSubjectAlternateNames): the DNS names, the emails, the IP addresses, the URIs,
 * then a Fulcio username (otherName), each group in the certificate's order. A SAN extension
 * that does not parse names nobody.
 */
export function certificateNames(c: X509Certificate): { identity: string; names: string[] } {
  const { dns, email, ip, uri, username } = namesOf(c);
  const identity = c.subjectAltName || username || '';
  const all = [identity, ...dns, ...email, ...ip, ...uri, ...(username === undefined ? [] : [username])];
  return { identity, names: [...new Set(all)].filter((name) => name !== '') };
}

/** What a certificate's SAN extension names, by kind, read in one walk; nothing when it does not parse. */
interface SanNames {
  dns: string[];
  email: string[];
  ip: string[];
  uri: string[];
  /** The first Fulcio username, {@link usernameOf}. */
  username: string | undefined;
}

function namesOf(c: X509Certificate): SanNames {
  const out: SanNames = { dns: [], email: [], ip: [], uri: [], username: undefined };
  // An otherName that does not parse ends the search for a username, and only that search.
  let seekUsername = true;
  try {
    // extnValue: an OCTET STRING holding the GeneralNames SEQUENCE.
    for (const name of c.extension(OID_SUBJECT_ALT_NAME)?.valueObj.subs[0]?.subs ?? []) {
      if (!name.tag.isContextSpecific()) continue;
      // GeneralName: [0] otherName, [1] rfc822Name, [2] dNSName, [6] URI (IA5Strings), [7]
      // iPAddress (4 or 16 bytes).
      const text = (): string => name.value.toString('latin1');
      if (name.tag.number === 0) {
        if (!seekUsername) continue;
        try {
          out.username = usernameOf(name);
        } catch {
          seekUsername = false;
        }
        if (out.username !== undefined) seekUsername = false;
      } else if (name.tag.number === 1) out.email.push(text());
      else if (name.tag.number === 2) out.dns.push(text());
      else if (name.tag.number === 6) out.uri.push(text());
      else if (name.tag.number === 7) {
        const ip = ipText(name.value);
        if (ip !== undefined) out.ip.push(ip);
      }
    }
  } catch {
    // A SAN that does not parse names nobody.
    return { dns: [], email: [], ip: [], uri: [], username: undefined };
  }
  return out;
}

/** An IP address SAN as Go's net.IP prints it: dotted IPv4 (an IPv4-mapped IPv6 one too), else IPv6 text. */
function ipText(bytes: Buffer): string | undefined {
  const v4 = (b: Buffer): string => [...b].join('.');
  if (bytes.length === 4) return v4(bytes);
  if (bytes.length !== 16) return undefined;
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return v4(bytes.subarray(12));
  const groups = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2).toString(16));
  // The URL parser writes the shortest form (RFC 5952), as Go does.
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/**
 * A Fulcio username identity: an otherName of type {@link OID_OTHERNAME_USERNAME}, whose value
 * must be a `[0] EXPLICIT UTF8String`, read as UTF-8; undefined for another otherName.
 * @sigstore/core's `subjectAltName` reads a URI or an email only; cosign and sigstore-go
 * (cryptoutils.GetSubjectAlternateNames) take this too.
 *
 * @throws Error when the otherName does not parse
 */
function usernameOf(name: ASN1Obj): string | undefined {
  if (name.subs[0]?.toOID() !== OID_OTHERNAME_USERNAME) return undefined;
  // [0] EXPLICIT, then a UTF8String (universal tag 12): another string type names nobody.
  const explicit = name.subs[1];
  const value = explicit?.subs[0];
  if (explicit?.tag.isContextSpecific(0x00) && value?.tag.isUniversal() && value.tag.number === 0x0c) {
    return decoder.decode(value.value);
  }
  return undefined;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The envelope of a DSSE bundle as RekorWitness sends it in a `dsse` entry (the JSON of the
 * bundle's envelope: payload, payloadType, signatures with a keyid only when there is one). When
 * the bundle has such an entry, the log's envelopeHash is checked to be these bytes' SHA-256, so
 * that a change in how sigstore-js writes it fails here rather than in a verifier.
 */
export function loggedEnvelope(bundle: Bundle): Uint8Array {
  if (bundle.content.$case !== 'dsseEnvelope') throw new TypeError('a DSSE bundle was expected');
  const bytes = Buffer.from(JSON.stringify(envelopeToJSON(bundle.content.dsseEnvelope)), 'utf8');
  for (const entry of bundle.verificationMaterial.tlogEntries) {
    if (entry.kindVersion?.kind !== 'dsse') continue;
    let logged: unknown;
    try {
      const body = JSON.parse(Buffer.from(entry.canonicalizedBody).toString('utf8')) as { spec?: { envelopeHash?: { value?: unknown } } };
      logged = body.spec?.envelopeHash?.value;
    } catch {
      logged = undefined;
    }
    const ours = createHash('sha256').update(bytes).digest('hex');
    if (logged !== ours) {
      throw new ProvenantError(
        'SIGNATURE',
        `the log entry ${entry.logIndex} records envelope hash ${String(logged)}, not the envelope's (${ours})`,
        {
          hint: 'the transparency log recorded another envelope than the one signed; report this with the log entry',
        },
      );
    }
  }
  return new Uint8Array(bytes);
}
