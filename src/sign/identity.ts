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

/**
 * The first of a keyless signer's `names` that `accepts` takes, undefined when none does: the
 * one rule by which the verifier and a policy's identities name a signer. `names` are every name
 * of the certificate in the order tried (`signer.names`, else its one identity), as cosign's
 * CheckCertificatePolicy matches an identity against every subject alternative name; a
 * certificate with none is tried as the empty name.
 */
export function certificateNameMatching(names: readonly string[], accepts: (name: string) => boolean): string | undefined {
  return (names.length === 0 ? [''] : names).find(accepts);
}

/**
 * The names of {@link certificateNameMatching} as a refusal says them, after `the` or `its`:
 * `certificate’s identities are "A", "B"`, or `certificate’s identity is "A"` for one.
 */
export function certificateNamesText(names: readonly string[]): string {
  return names.length > 1
    ? `certificate’s identities are ${names.map((n) => JSON.stringify(n)).join(', ')}`
    : `certificate’s identity is ${JSON.stringify(names[0] ?? '')}`;
}
