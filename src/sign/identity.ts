/**
 * Who a keyless signature says signed it, as one line: the certificate's identity and its OIDC
 * issuer. Kept apart from the certificate parsing (material.ts, `identityOfCertificate`) so that
 * the commands that only print it load no X.509 code.
 */

/** The identity (subject alternative name) and OIDC issuer a Fulcio certificate names. */
export interface CertificateIdentity {
  identity: string;
  /** Empty when the certificate names none. */
  issuer: string;
}

/**
 * `IDENTITY (ISSUER)`, or `IDENTITY` alone when there is no issuer: the one way the CLI, the
 * report's readers and the Action write who signed, so that two of them compare equal (the
 * Action's summary tells this run's signatures from an earlier run's by it).
 */
export function identityLabel(s: { identity: string; issuer?: string | undefined }): string {
  return s.issuer === undefined || s.issuer === '' ? s.identity : `${s.identity} (${s.issuer})`;
}
