/**
 * Policies as loaded: a ClusterImagePolicy (policy.sigstore.dev v1beta1 or v1alpha1) reduced to
 * what Provenant evaluates, with every place it came from kept for messages.
 */
import type { KeyObject } from 'node:crypto';
import type { CelProgram } from './cel.ts';

/** One loaded ClusterImagePolicy. */
export interface ImagePolicy {
  /** `metadata.name`. */
  name: string;
  apiVersion: string;
  /** `file:line:col` of the document. */
  where: string;
  /** `spec.images[].glob`, each with its compiled form. */
  images: { glob: string; pattern: RegExp; where: string }[];
  /** Alternatives: the image passes the policy when any one passes. */
  authorities: Authority[];
  /** `warn` reports a failure without failing the verification. */
  mode: 'enforce' | 'warn';
}

/** What every authority has. */
interface AuthorityBase {
  /** `name`, or `authority-<index>` as policy-controller defaults it. */
  name: string;
  where: string;
}

/** An authority that verifies signatures or attestations (key or keyless). */
interface VerifyingAuthority extends AuthorityBase {
  /**
   * `legacy`: cosign 2's `.sig`/`.att` only; `bundle`: cosign 3's bundles only (keyless only, as
   * policy-controller has it); undefined: legacy, policy-controller's default, said so in messages.
   */
  signatureFormat: 'legacy' | 'bundle' | undefined;
  /**
   * `ctlog` as given. With a `url`, a key authority's signatures must each carry a transparency
   * log entry. Without one (`ctlog: {}`), as policy-controller reads it (no Rekor: the log is not
   * checked): a key authority asks for no entry, and a keyless one in the legacy format neither,
   * its certificate's time then taken from a timestamp authority (see {@link logRequired}).
   */
  ctlog: { url: string | undefined } | undefined;
  /** Required attestations; none means the image's signatures are verified instead. */
  attestations: AttestationRule[];
}

/** `key`: one public key (`data` inline or `secretRef` read from a file), as policy-controller reads one. */
export interface KeyAuthority extends VerifyingAuthority {
  kind: 'key';
  /** The public key, its id, and where it was read. */
  key: { key: KeyObject; id: string; source: string };
}

/** `keyless`: a Fulcio certificate whose identity matches one of `identities`. */
export interface KeylessAuthority extends VerifyingAuthority {
  kind: 'keyless';
  /** The Fulcio instance's URL, as written (trust comes from the trusted root). */
  url: string | undefined;
  identities: Identity[];
}

/** `static`: passes or fails every image, without looking. */
export interface StaticAuthority extends AuthorityBase {
  kind: 'static';
  action: 'pass' | 'fail';
  message: string | undefined;
}

export type Authority = KeyAuthority | KeylessAuthority | StaticAuthority;

/** An exact string, or an RE2 pattern (unanchored, as Go's regexp.MatchString). */
export type Matcher = { exact: string } | { regexp: string; test(text: string): boolean };

/** `keyless.identities[]`. */
export interface Identity {
  issuer: Matcher;
  subject: Matcher;
}

/** `attestations[]`: a verified attestation of the type must exist and meet the condition. */
export interface AttestationRule {
  name: string;
  where: string;
  /** Predicate type URIs any of which is accepted (one, except for built-in checks). */
  predicateTypes: string[];
  /** As written (`spdxjson`, a URI), for messages. */
  predicateTypeText: string;
  condition: Condition;
}

/** What a matching attestation must satisfy. */
export type Condition =
  | { kind: 'none' }
  | { kind: 'cel'; expression: string; program: CelProgram; where: string }
  | { kind: 'builtin'; check: BuiltinCheck; where: string };

/** Provenant's built-in checks (see docs/policy.md). */
export type BuiltinCheck =
  | { slsaBuilder: string }
  | { sbom: ('spdx' | 'cyclonedx')[] }
  | { maxPackageAgeDays: number }
  | { repositories: string[] };
