/**
 * The signing and trust flags and the variables they fall back to, as cosign names them: what
 * a command's spec lists. They live apart from signing.ts so that a command that only may sign
 * (`build`) loads the signing libraries when asked to sign, not on every run.
 */
import { PUBLIC_FULCIO, PUBLIC_REKOR } from '../sign/public-good.ts';
import type { FlagSpec } from './args.ts';

/** Where a key password is read from, in this order (`PROVENANT_PASSWORD` is the registry's). */
export const PASSWORD_VARIABLES = ['COSIGN_PASSWORD', 'PROVENANT_KEY_PASSWORD'] as const;

/** The OIDC token variable cosign and sigstore-js read for keyless signing. */
export const TOKEN_VARIABLE = 'SIGSTORE_ID_TOKEN';

/** The flags that choose how to sign, as cosign names them. */
export const SIGNING_FLAGS: Record<string, FlagSpec> = {
  key: {
    type: 'string',
    description: 'sign with this cosign private key (cosign.key); its password from COSIGN_PASSWORD or PROVENANT_KEY_PASSWORD, else asked',
  },
  'identity-token': {
    type: 'string',
    description: `keyless: the OIDC identity token (default ${TOKEN_VARIABLE}, else the GitHub Actions job's token)`,
  },
  'fulcio-url': { type: 'string', description: `keyless: the Fulcio that issues the certificate (default ${PUBLIC_FULCIO})` },
  'rekor-url': {
    type: 'string',
    description: `the Rekor that logs keyless signatures, and key ones with --tlog-upload (default ${PUBLIC_REKOR})`,
  },
  'timestamp-server-url': { type: 'string', description: 'an RFC 3161 timestamp authority to timestamp each signature' },
  'tlog-upload': {
    type: 'boolean',
    description:
      'with --key: log each signature in --rekor-url too; keyless signatures are logged unless --tlog-upload=false (then --timestamp-server-url is required)',
  },
  'trusted-root': {
    type: 'string',
    description:
      "keyless: the trusted root whose Fulcio chain is written beside cosign 2 signatures; --tlog-upload: whose Rekor keys an equal signature's log entry must verify with to count as logged (default Sigstore's public-good root)",
  },
};

/** The flags that say whom to trust, as cosign names them. */
export const TRUST_FLAGS: Record<string, FlagSpec> = {
  key: { type: 'string', description: 'trust this public key (cosign.pub)' },
  'certificate-identity': {
    type: 'string',
    description: "keyless: the signer's identity (the certificate's SAN: an email, a workflow URL)",
  },
  'certificate-identity-regexp': {
    type: 'string',
    description: "keyless: an RE2 pattern (Go's syntax, unanchored) the signer's identity must match",
  },
  'certificate-oidc-issuer': { type: 'string', description: 'keyless: the OIDC issuer of the identity' },
  'certificate-oidc-issuer-regexp': {
    type: 'string',
    description: "keyless: an RE2 pattern (Go's syntax, unanchored) the OIDC issuer must match",
  },
  // cosign's flags of the same names: the certificate's (deprecated, still issued) GitHub
  // workflow extensions 1.3.6.1.4.1.57264.1.2 to .6, each compared as the exact string.
  'certificate-github-workflow-trigger': {
    type: 'string',
    description: "keyless: the event that started the workflow run (push, release, ...), exactly as the certificate's extension says",
  },
  'certificate-github-workflow-sha': {
    type: 'string',
    description: "keyless: the commit the workflow run was based upon, exactly as the certificate's extension says",
  },
  'certificate-github-workflow-name': {
    type: 'string',
    description: "keyless: the workflow's name, exactly as the certificate's extension says",
  },
  'certificate-github-workflow-repository': {
    type: 'string',
    description: "keyless: the repository the workflow ran in (OWNER/REPO), exactly as the certificate's extension says",
  },
  'certificate-github-workflow-ref': {
    type: 'string',
    description: "keyless: the git ref the workflow run was based upon (refs/heads/main), exactly as the certificate's extension says",
  },
  'trusted-root': {
    type: 'string',
    description: "the trusted root (Fulcio, Rekor, CT logs, TSAs) as JSON; default Sigstore's public-good root for keyless, none for --key",
  },
  platform: { type: 'string', description: 'check this platform image of an index (os/arch[/variant]) instead of the index' },
  // cosign's `verify --insecure-ignore-tlog`: with a key, what Provenant does anyway (a key's
  // signature needs no log entry); keyless, the certificate's time then comes from an RFC 3161
  // timestamp by an authority of the trusted root, which is required (cosign would fall back on
  // the current time, which says nothing of when it signed).
  'insecure-ignore-tlog': {
    type: 'boolean',
    description:
      "cosign's flag: a signature needs no transparency log entry; keyless, an RFC 3161 timestamp by a timestamp authority of the trusted root must then give the signing time (with --key, the default)",
  },
};
