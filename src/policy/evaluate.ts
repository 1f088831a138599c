/**
 * Evaluating policies against one image, with policy-controller's semantics
 * (pkg/webhook/validator.go in sigstore/policy-controller):
 *
 * - a policy covers an image when one of its globs matches the image's name; every policy that
 *   covers the image must pass (an image no policy covers fails, as policy-controller's default
 *   `no-match-policy: deny`, unless `noMatch` says otherwise);
 * - within a policy the authorities are alternatives: the policy passes when any one passes;
 * - a key or keyless authority without `attestations` passes when a signature of the image
 *   verifies with it; with `attestations` it verifies the image's attestations instead, and
 *   passes when each listed attestation has a verified statement of its predicate type that
 *   meets its condition (any one statement of the type is enough, as in policy-controller);
 * - attestations in BuildKit's storage (statements listed unsigned inside the image index) count
 *   for an authority when a signature over that index verifies with it: the index's digest covers
 *   them (see verifyImage's `index`). The image's index is the image itself, or the one the caller
 *   gives for a platform image; an unsigned index vouches for nothing;
 * - a `static` authority passes or fails without looking;
 * - a policy in `mode: warn` is reported, and its failure does not fail the verdict.
 *
 * Signatures are verified with src/sign (verifyImage): every storage, cosign 2 and 3.
 */

import { createHash } from 'node:crypto';
import { printableLine } from '../bytes.ts';
import { isProvenantError, ProvenantError, throwIfAborted } from '../errors.ts';
import type { OperationOptions } from '../io/types.ts';
import type { Stored } from '../oci/content.ts';
import type { Digest } from '../oci/digest.ts';
import { certificateNameMatching, certificateNamesText } from '../sign/identity.ts';
import type { TrustedRoot } from '../sign/trust.ts';
import {
  type CheckedSignature,
  coveredByIndex,
  type FailureReason,
  holdsStatementsAbout,
  type VerificationPolicy,
  type VerificationReport,
  verifyImage,
} from '../sign/verify.ts';
import type { ContentStore } from '../store/types.ts';
import { UNFETCHABLE } from './attestation-rule.ts';
import { type CelBudget, celBudget } from './cel-budget.ts';
import { namedDigest, policyImageName } from './glob.ts';
import { type DatedPackage, type ImagePackages, imagePackages, sbomPackages } from './packages.ts';
import type { AttestationRule, Authority, BuiltinCheck, Identity, ImagePolicy, KeyAuthority, KeylessAuthority, Matcher } from './types.ts';

/** Options of {@link evaluatePolicies}. */
export interface EvaluateOptions extends OperationOptions {
  /**
   * Fulcio CAs, Rekor logs, CT logs and timestamp authorities, for every authority: needed by
   * keyless authorities and by `ctlog`; with a key, log entries and timestamps a signature
   * carries are checked against it too.
   */
  trustedRoot?: TrustedRoot | undefined;
  /**
   * The root keyless authorities and `ctlog` use when `trustedRoot` is not given (the CLI gives
   * Sigstore's public-good root, as policy-controller takes Sigstore's TUF root for them). A key
   * authority without `ctlog` does not use it: policy-controller skips the log for it, and
   * `verify --key` checks log entries only against a root given.
   */
  defaultTrustedRoot?: TrustedRoot | undefined;
  /** The time conditions and package ages are judged at (default: now). */
  now?: Date | undefined;
  /** An image that no policy covers: `fail` (default, policy-controller's `deny`), `warn` or `pass`. */
  noMatch?: 'fail' | 'warn' | 'pass' | undefined;
  /**
   * The image index the image is listed in, for a platform image of one (the CLI's `--platform`).
   * Its statements in BuildKit's storage about the image then meet `attestations` rules when a
   * signature over the index verifies with the authority. Default: the image itself when it is an
   * index, whose statements about each image it lists count.
   */
  index?: Stored | undefined;
  /**
   * The cost units all CEL conditions of this evaluation may spend together (each also within
   * its own budget); default `CEL_LIMITS.totalCostBudget`. A policy file may hold many conditions.
   */
  celCostBudget?: number | undefined;
}

/** The outcome for one image. */
export interface PolicyReport {
  /** The image's name as given. */
  image: string;
  /**
   * What the globs were matched against: the repository and the digest the name resolves to
   * (`REPOSITORY@sha256:…`, tag dropped), as policy-controller matches them; a store location as given.
   */
  name: string;
  digest: Digest;
  /** True when every enforced rule holds: the exit status is 0 exactly then. */
  passed: boolean;
  /** `pass`; `warn` when only warn-mode policies (or an uncovered image with noMatch warn) failed; `fail`. */
  verdict: 'pass' | 'warn' | 'fail';
  /** Each covering policy, in the order given. */
  policies: PolicyOutcome[];
  /** One line per failed rule, naming it (`policy / authority / attestation: why`). */
  failures: string[];
  /** One line per failure of a warn-mode policy. */
  warnings: string[];
}

/** One policy's outcome. */
export interface PolicyOutcome {
  policy: string;
  where: string;
  mode: 'enforce' | 'warn';
  /** The glob that matched the image. */
  glob: string;
  passed: boolean;
  authorities: AuthorityOutcome[];
}

/** One authority's outcome. */
export interface AuthorityOutcome {
  authority: string;
  where: string;
  kind: Authority['kind'];
  passed: boolean;
  /** What passed or why it failed, in a sentence. */
  message: string;
  /** The signatures (or, with attestations, the attestations) tried and what each came to. */
  signatures?: SignatureOutcome[];
  /** With `attestations`: each one. */
  attestations?: AttestationOutcome[];
}

/** One signature or attestation that was tried. */
export interface SignatureOutcome {
  source: string;
  storage: CheckedSignature['storage'];
  format: CheckedSignature['format'];
  verified: boolean;
  reason?: FailureReason | 'signature-format';
  message?: string;
  predicateType?: string;
  /** The key id, or the certificate's identity and issuer. */
  signer?: { keyId?: string; identity?: string; issuer?: string };
  /** A statement in the index (storage `buildkit`): the signature over the index that vouched for it. */
  coveredBy?: CheckedSignature['coveredBy'];
}

/** One required attestation's outcome. */
export interface AttestationOutcome {
  attestation: string;
  where: string;
  /** The predicate type as written, or what a builtin check reads. */
  predicateType: string;
  passed: boolean;
  message: string;
  /** Each verified statement of the type, and what the condition said of it. */
  statements: { source: string; predicateType: string; passed: boolean; message: string; error?: string }[];
}

/**
 * Evaluates `policies` for the image `digest` in `store`, named `image`. As policy-controller
 * resolves a tag to its digest before matching, the globs are matched against
 * {@link policyImageName}: the repository and the digest (`index`'s when given, the image the
 * name resolves to), tag dropped; a store location that is not a registry's is matched as given.
 *
 * @throws ProvenantError `USAGE` for an `index` that neither is the image nor lists it, and for an
 *   `image` that names a digest neither the image's nor the index's; else only for a store that
 *   cannot be read: everything about signatures and conditions is in the report
 */
export async function evaluatePolicies(
  store: ContentStore,
  digest: Digest,
  image: string,
  policies: readonly ImagePolicy[],
  options: EvaluateOptions = {},
): Promise<PolicyReport> {
  const given = options.index;
  if (
    given !== undefined &&
    given.digest !== digest &&
    (given.kind !== 'index' || !given.index.manifests.some((m) => m.digest === digest))
  ) {
    throw new ProvenantError('USAGE', `the index given for ${image} does not list it`, {
      where: `${store.location}@${given.digest}`,
      hint: `give the index ${digest} is listed in, or none`,
    });
  }
  // A digest written in the name is what the globs see: one that is neither the image's nor its
  // index's would have them match another image's name.
  const named = namedDigest(image);
  if (named !== undefined && named !== digest && named !== given?.digest) {
    const is = given === undefined || given.digest === digest ? digest : `${digest}, of the index ${given.digest}`;
    throw new ProvenantError('USAGE', `the name ${image} names the digest ${named}, but the image is ${is}`, {
      hint: "name it without a digest (the image's is then used), or with the image's digest",
    });
  }
  const name = policyImageName(image, given?.digest ?? digest);
  const ctx: EvalCtx = {
    store,
    digest,
    options,
    now: options.now ?? new Date(),
    cache: new WeakMap(),
    packages: undefined,
    index: undefined,
    cel: celBudget(options.celCostBudget),
  };
  const outcomes: PolicyOutcome[] = [];
  const failures: string[] = [];
  const warnings: string[] = [];
  for (const policy of policies) {
    // `name` is already what the globs see (policyImageName), and reads back as itself.
    const glob = policy.images.find((g) => g.pattern.test(name));
    if (glob === undefined) continue;
    throwIfAborted(options.signal);
    const evaluated: Evaluated[] = [];
    for (const a of policy.authorities) evaluated.push(await evaluateAuthority(ctx, a));
    const authorities = evaluated.map((e) => e.outcome);
    const passed = authorities.some((a) => a.passed);
    outcomes.push({ policy: policy.name, where: policy.where, mode: policy.mode, glob: glob.glob, passed, authorities });
    if (!passed) {
      const lines = evaluated.flatMap((e) => failureLines(policy.name, e));
      (policy.mode === 'warn' ? warnings : failures).push(...lines);
    }
  }
  if (outcomes.length === 0) {
    const noMatch = options.noMatch ?? 'fail';
    const as = name === image ? '' : ` (matched as ${name}, the tag resolved to its digest)`;
    const line = `no policy covers ${image}${as}: none of the ${policies.length} policies has a glob that matches it`;
    if (noMatch === 'fail') failures.push(line);
    if (noMatch === 'warn') warnings.push(line);
  }
  const passed = failures.length === 0;
  return {
    image,
    name,
    digest,
    passed,
    verdict: !passed ? 'fail' : warnings.length > 0 ? 'warn' : 'pass',
    policies: outcomes,
    failures,
    warnings,
  };
}

/** What an attestation rule says when none of its authority's attestations verified: the authority says why. */
const NOT_REACHED = 'not checked: no attestation verified with the authority (see its line for why)';

/**
 * One line per failed rule of the authority; the authority's own line when none failed for its
 * own sake (its rules not reached, or it has none).
 */
function failureLines(policy: string, { outcome: a, rulesReached }: Evaluated): string[] {
  const failedAttestations = rulesReached ? (a.attestations ?? []).filter((x) => !x.passed) : [];
  if (failedAttestations.length === 0) return [`${policy} / ${a.authority}: ${a.message}`];
  return failedAttestations.map((x) => `${policy} / ${a.authority} / ${x.attestation}: ${x.message}`);
}

// ---- authorities ------------------------------------------------------------------------------

interface EvalCtx {
  store: ContentStore;
  digest: Digest;
  options: EvaluateOptions;
  now: Date;
  /** Verification results by authority and kind (an authority named in two policies is checked once each). */
  /**
   * What each authority verified, by kind: keyed by the authority itself, not by where it was
   * written (two policies parsed under the same file name have authorities at the same places).
   */
  cache: WeakMap<KeyAuthority | KeylessAuthority, Map<'signature' | 'attestation', Promise<Verified>>>;
  packages: Promise<ImagePackages | ProvenantError> | undefined;
  /** The index whose BuildKit statements count (see {@link indexOf}), read once. */
  index: Promise<Stored | undefined> | undefined;
  /** What the CEL conditions of this evaluation have spent of their budget together. */
  cel: CelBudget;
}

/**
 * The index whose statements in BuildKit's storage are checked for the image: the one given, else
 * the image itself when it is an index; undefined for a single image given alone.
 */
function indexOf(ctx: EvalCtx): Promise<Stored | undefined> {
  ctx.index ??=
    ctx.options.index !== undefined
      ? Promise.resolve(ctx.options.index)
      : ctx.store.getManifest(ctx.digest, operation(ctx)).then(
          (m) => (m.kind === 'index' ? m : undefined),
          (err: unknown) => {
            // Not a manifest this reads (or not here): no index, and its signatures say the rest.
            if (err instanceof ProvenantError && ['NOT_FOUND', 'INVALID_MANIFEST', 'UNSUPPORTED_MEDIA_TYPE'].includes(err.code))
              return undefined;
            throw err;
          },
        );
  return ctx.index;
}

interface Verified {
  checked: SignatureOutcome[];
  verified: CheckedSignature[];
}

/**
 * An authority's outcome. `rulesReached` is false when it has attestation rules and none of its
 * attestations verified: the rules were not checked, and the authority's message says why.
 */
interface Evaluated {
  outcome: AuthorityOutcome;
  rulesReached: boolean;
}

async function evaluateAuthority(ctx: EvalCtx, a: Authority): Promise<Evaluated> {
  const base = { authority: a.name, where: a.where, kind: a.kind };
  const reached = (outcome: AuthorityOutcome): Evaluated => ({ outcome, rulesReached: true });
  if (a.kind === 'static') {
    return reached(
      a.action === 'pass'
        ? { ...base, passed: true, message: 'passes by static policy' }
        : { ...base, passed: false, message: `disallowed by static policy${a.message === undefined ? '' : `: ${a.message}`}` },
    );
  }
  const problem = trustProblem(ctx, a);
  if (problem !== undefined) return reached({ ...base, passed: false, message: problem });
  const kind = a.attestations.length > 0 ? 'attestation' : 'signature';
  const result = await verified(ctx, a, kind);
  const what = kind === 'signature' ? 'signature' : 'attestation';
  if (kind === 'signature') {
    const n = result.verified.length;
    if (n > 0) {
      return reached({
        ...base,
        passed: true,
        message: `${n} of ${result.checked.length} ${what}s verified (${signers(result.verified)})`,
        signatures: result.checked,
      });
    }
    return reached({ ...base, passed: false, message: nothingVerified(result, what, a), signatures: result.checked });
  }
  if (result.verified.length === 0) {
    // The reasons are the authority's, said once on its line; each rule only says it was not reached.
    const attestations = a.attestations.map((r) => ({
      attestation: r.name,
      where: r.where,
      predicateType: r.predicateTypeText,
      passed: false,
      message: NOT_REACHED,
      statements: [],
    }));
    return {
      outcome: { ...base, passed: false, message: nothingVerified(result, what, a), signatures: result.checked, attestations },
      rulesReached: false,
    };
  }
  const attestations: AttestationOutcome[] = [];
  for (const rule of a.attestations) attestations.push(await evaluateRule(ctx, rule, result.verified));
  const failed = attestations.filter((x) => !x.passed);
  const message =
    failed.length === 0
      ? `all ${attestations.length} attestation rules hold (${signers(result.verified)})`
      : `${failed.length} of ${attestations.length} attestation rules failed: ${failed.map((x) => x.attestation).join(', ')}`;
  return reached({ ...base, passed: failed.length === 0, message, signatures: result.checked, attestations });
}

/**
 * Whether `a`'s signatures must each carry a transparency log entry, as policy-controller's
 * rekorClientAndKeysFromAuthority decides (pkg/webhook/validator.go): a key authority when its
 * `ctlog` names a log (`url`); a keyless one unless its `ctlog` names none (`ctlog: {}`, where
 * policy-controller has no Rekor and ignores the log), which counts in the legacy format only:
 * with bundles policy-controller still checks the log.
 */
function logRequired(a: KeyAuthority | KeylessAuthority): boolean {
  if (a.kind === 'key') return a.ctlog?.url !== undefined;
  return a.ctlog === undefined || a.ctlog.url !== undefined || a.signatureFormat === 'bundle';
}

/** The trusted root `a` is verified with: the one given, else the default for what needs one. */
function rootFor(ctx: EvalCtx, a: KeyAuthority | KeylessAuthority): TrustedRoot | undefined {
  if (ctx.options.trustedRoot !== undefined) return ctx.options.trustedRoot;
  return a.kind === 'keyless' || logRequired(a) ? ctx.options.defaultTrustedRoot : undefined;
}

function trustProblem(ctx: EvalCtx, a: KeyAuthority | KeylessAuthority): string | undefined {
  if (rootFor(ctx, a) !== undefined) return undefined;
  if (a.kind === 'keyless')
    return 'keyless verification needs a trusted root (the Fulcio CAs and Rekor keys to check against), and none was given';
  if (logRequired(a))
    return 'ctlog asks for transparency log entries, which need a trusted root (the Rekor keys) to be checked, and none was given';
  return undefined;
}

function verified(ctx: EvalCtx, a: KeyAuthority | KeylessAuthority, kind: 'signature' | 'attestation'): Promise<Verified> {
  let byKind = ctx.cache.get(a);
  if (byKind === undefined) {
    byKind = new Map();
    ctx.cache.set(a, byKind);
  }
  let p = byKind.get(kind);
  if (p === undefined) {
    p = a.kind === 'key' ? verifyWithKey(ctx, a, kind) : verifyKeyless(ctx, a, kind);
    byKind.set(kind, p);
  }
  return p;
}

async function verifyWithKey(ctx: EvalCtx, a: KeyAuthority, kind: 'signature' | 'attestation'): Promise<Verified> {
  const index = kind === 'attestation' ? await indexOf(ctx) : undefined;
  const refused = new WeakMap<CheckedSignature, string>();
  const options = {
    ...operation(ctx),
    policy: { key: a.key.key },
    trustedRoot: rootFor(ctx, a),
    requireTransparencyLog: logRequired(a),
  };
  // The index's signatures with the key, verified here to pick the one in the authority's
  // format that vouches for its statements (see coverStatements).
  const indexSignatures =
    index?.kind === 'index' && holdsStatementsAbout(index, ctx.digest)
      ? await verifyImage(ctx.store, index.digest, { ...options, kind: 'signature' })
      : undefined;
  const report = await verifyImage(ctx.store, ctx.digest, { ...options, kind, index, indexSignatures });
  const checked =
    index !== undefined && indexSignatures !== undefined
      ? coverStatements(a, report.checked, report.checked, index.digest, indexSignatures, (l) => l[0], refused)
      : report.checked;
  // Entries that share a source (the bundle layers of one referrer) are reported once: the first
  // that verified, else the first.
  const bySource = new Map<string, CheckedSignature>();
  for (const c of checked) {
    const before = bySource.get(c.source);
    if (before === undefined || (!before.verified && c.verified)) bySource.set(c.source, c);
  }
  return select(a, [...bySource.values()], refused);
}

/**
 * The statements in BuildKit's storage among `checked`, each vouched for by the signature over
 * the index that `pick` takes (the first, or the first by a keyless authority's identities) among
 * those that verified and are in the authority's format: a statement has no signature of its own
 * to have one, so the signature that covers it must be in the format asked for. `raw` is `checked`
 * before the caller judged the signers (same order). A statement that only a signature in the
 * other format vouches for is not verified, and `refused` says why.
 */
function coverStatements(
  a: KeyAuthority | KeylessAuthority,
  checked: readonly CheckedSignature[],
  raw: readonly CheckedSignature[],
  index: Digest,
  indexSignatures: VerificationReport,
  pick: (candidates: readonly CheckedSignature[]) => CheckedSignature | undefined,
  refused: WeakMap<CheckedSignature, string>,
): CheckedSignature[] {
  const format = formatOf(a);
  const cover = pick(indexSignatures.verified.filter((s) => s.format === format));
  const other = pick(indexSignatures.verified.filter((s) => s.format !== format));
  return checked.map((c, i) => {
    const r = raw[i]!;
    // Only a statement the index's signatures vouched for; one that failed for its own sake
    // (malformed, about another image, an unsigned index) keeps its reason.
    if (r.storage !== 'buildkit' || !r.verified) return c;
    if (cover !== undefined) return coveredByIndex(r, index, cover);
    if (other === undefined) return c;
    const { signer: _signer, coveredBy: _coveredBy, statement: _statement, ...rest } = r;
    const out: CheckedSignature = { ...rest, verified: false };
    refused.set(
      out,
      `it is unsigned in the index ${index}, and the index's signature that verifies (${other.source}) is in the ${formatName(other.format)} format, where the authority asks for ${asked(a)}`,
    );
    return out;
  });
}

async function verifyKeyless(ctx: EvalCtx, a: KeylessAuthority, kind: 'signature' | 'attestation'): Promise<Verified> {
  // The certificate is verified once with any identity; the identities are then matched here
  // with RE2, as policy-controller matches them (Go's regexp, unanchored). A statement in the
  // index carries the signer of the signature over the index that vouched for it.
  const any: VerificationPolicy = { certificateIdentity: /.*/, certificateOidcIssuer: /.*/ };
  const index = kind === 'attestation' ? await indexOf(ctx) : undefined;
  // The index's signatures, verified once here when it holds BuildKit statements about the image,
  // for verifyImage to cover them with and for the identities to be matched against below; an
  // index with none about it is not read further, as verifyImage does not read it then.
  const indexSignatures =
    index?.kind === 'index' && holdsStatementsAbout(index, ctx.digest)
      ? await verifyImage(ctx.store, index.digest, {
          ...operation(ctx),
          policy: any,
          trustedRoot: rootFor(ctx, a),
          requireTransparencyLog: logRequired(a),
          kind: 'signature',
        })
      : undefined;
  const report = await verifyImage(ctx.store, ctx.digest, {
    ...operation(ctx),
    policy: any,
    trustedRoot: rootFor(ctx, a),
    requireTransparencyLog: logRequired(a),
    kind,
    index,
    indexSignatures,
  });
  // The first identity that names a signature, in the policy's order. A statement's signer is
  // that of the signature over the index that vouches for it: the first in the authority's format
  // by the first identity that names one, as checking the index with each identity in turn would find.
  const byIdentity = (list: readonly CheckedSignature[]): CheckedSignature | undefined => {
    for (const id of a.identities) {
      for (const s of list) {
        const named = namedBy(id, s);
        if (named !== undefined) return named;
      }
    }
    return undefined;
  };
  const checked = report.checked.map((c): CheckedSignature => {
    if (!c.verified) return c;
    const named = byIdentity([c]);
    if (named !== undefined) return named;
    const issuer = c.signer?.issuer ?? '';
    return {
      ...c,
      verified: false,
      reason: 'identity',
      message: `its ${certificateNamesText(signerNames(c))} from issuer ${JSON.stringify(issuer)}, which matches none of the identities (${a.identities
        .map((id) => `${describeMatcher(id.subject)} from ${describeMatcher(id.issuer)}`)
        .join('; ')})`,
    };
  });
  const refused = new WeakMap<CheckedSignature, string>();
  const judged =
    index !== undefined && indexSignatures !== undefined
      ? coverStatements(a, checked, report.checked, index.digest, indexSignatures, byIdentity, refused)
      : checked;
  return select(a, judged, refused);
}

/**
 * `c` signed by `id`, its signer named by the name that matched; undefined when `id` does not name
 * it. The issuer must match, and the subject any of the certificate's names by the verifier's
 * rule ({@link certificateNameMatching}: every subject alternative name, as cosign's
 * CheckCertificatePolicy, which policy-controller uses, matches each identity against them all).
 */
function namedBy(id: Identity, c: CheckedSignature): CheckedSignature | undefined {
  if (!matches(id.issuer, c.signer?.issuer ?? '')) return undefined;
  const name = certificateNameMatching(signerNames(c), (n) => matches(id.subject, n));
  return name === undefined ? undefined : { ...c, signer: { ...c.signer, identity: name } };
}

/** Every name the verifier tried for `c`'s certificate, in its order: `signer.names`, else its one identity. */
function signerNames(c: CheckedSignature): string[] {
  return c.signer?.names ?? [c.signer?.identity ?? ''];
}

function operation(ctx: EvalCtx): OperationOptions {
  const o: OperationOptions = {};
  if (ctx.options.signal !== undefined) o.signal = ctx.options.signal;
  if (ctx.options.logger !== undefined) o.logger = ctx.options.logger;
  return o;
}

/**
 * The format of signature an authority takes: `signatureFormat`, or legacy when it is not given,
 * as policy-controller reads it (clusterimagepolicy_types.go: "If not specified, the default is
 * legacy"; its validator asks cosign for bundles only with `bundle`).
 */
function formatOf(a: KeyAuthority | KeylessAuthority): 'cosign-layer' | 'bundle' {
  return a.signatureFormat === 'bundle' ? 'bundle' : 'cosign-layer';
}

function formatName(format: CheckedSignature['format']): string {
  return format === 'bundle' ? 'bundle' : format === 'cosign-layer' ? 'legacy' : 'in-toto';
}

/** What the authority asks for, for messages. */
function asked(a: KeyAuthority | KeylessAuthority): string {
  return a.signatureFormat === undefined
    ? 'the legacy format (signatureFormat is not given, and legacy is its default, as in policy-controller)'
    : `signatureFormat ${a.signatureFormat}`;
}

/**
 * The outcomes to report, with the authority's signature format applied: a signature of the image
 * in the other format does not count; a statement in the index was judged by the format of the
 * signature over the index that covers it (`refused`: why one was not, see coverStatements).
 */
function select(a: KeyAuthority | KeylessAuthority, checked: CheckedSignature[], refused: WeakMap<CheckedSignature, string>): Verified {
  const wanted = formatOf(a);
  const out: SignatureOutcome[] = [];
  const ok: CheckedSignature[] = [];
  for (const c of checked) {
    const o: SignatureOutcome = { source: c.source, storage: c.storage, format: c.format, verified: c.verified };
    if (c.predicateType !== undefined) o.predicateType = c.predicateType;
    if (c.signer !== undefined) {
      // The name that matched (or the one reported when none did), not every name the certificate has.
      const { names: _names, ...signer } = c.signer;
      o.signer = signer;
    }
    if (c.coveredBy !== undefined) o.coveredBy = c.coveredBy;
    const why = refused.get(c);
    if (why !== undefined) {
      o.reason = 'signature-format';
      o.message = why;
    } else if (!c.verified) {
      // One that does not verify says why, whatever its format.
      if (c.reason !== undefined) o.reason = c.reason;
      if (c.message !== undefined) o.message = c.message;
    } else if (c.format !== 'in-toto' && c.format !== wanted) {
      o.verified = false;
      o.reason = 'signature-format';
      o.message = `it is in the ${formatName(c.format)} format, and the authority asks for ${asked(a)}`;
    } else ok.push(c);
    out.push(o);
  }
  return { checked: out, verified: ok };
}

function matches(m: Matcher, text: string): boolean {
  return 'exact' in m ? m.exact === text : m.test(text);
}

function describeMatcher(m: Matcher): string {
  return 'exact' in m ? JSON.stringify(m.exact) : `/${m.regexp}/`;
}

function signers(list: readonly CheckedSignature[]): string {
  const names = new Set(
    list.map((c) =>
      c.signer?.keyId !== undefined ? `key ${c.signer.keyId}` : `${c.signer?.identity ?? '?'} (${c.signer?.issuer ?? '?'})`,
    ),
  );
  return `signed by ${[...names].join(', ')}`;
}

function nothingVerified(result: Verified, what: string, a: KeyAuthority | KeylessAuthority): string {
  const by = a.kind === 'key' ? 'the key' : 'the keyless identities';
  if (result.checked.length === 0) return `the image has no ${what}s`;
  const reasons = result.checked.map((c) => `${c.source}: ${c.message ?? c.reason ?? 'not verified'}`);
  return `none of the ${result.checked.length} ${what}s verified with ${by} (${reasons.slice(0, 3).join('; ')}${reasons.length > 3 ? `; and ${reasons.length - 3} more` : ''})`;
}

// ---- attestation rules ------------------------------------------------------------------------

async function evaluateRule(ctx: EvalCtx, rule: AttestationRule, verifiedList: readonly CheckedSignature[]): Promise<AttestationOutcome> {
  const base = { attestation: rule.name, where: rule.where, predicateType: rule.predicateTypeText };
  const candidates = verifiedList.filter((c) => c.statement !== undefined && rule.predicateTypes.includes(c.statement.predicateType));
  const c = rule.condition;
  if (c.kind === 'builtin' && 'maxPackageAgeDays' in c.check)
    return { ...base, ...(await packageAge(ctx, c.check.maxPackageAgeDays, candidates)) };
  const check = c.kind === 'builtin' && !('maxPackageAgeDays' in c.check) ? c.check : undefined;
  if (candidates.length === 0) {
    const types = [...new Set(verifiedList.map((v) => v.statement?.predicateType ?? v.predicateType ?? '?'))];
    return {
      ...base,
      passed: false,
      message: `no verified ${rule.predicateTypeText} attestation (the verified ones are ${types.join(', ') || 'none'})`,
      statements: [],
    };
  }
  const statements: AttestationOutcome['statements'] = [];
  // Loaded already: compiling the condition did (attestation-rule.ts).
  const celInput = c.kind === 'cel' ? (await import('./cel.ts')).celInput : undefined;
  for (const cand of candidates) {
    const s = cand.statement!;
    const one = { source: cand.source, predicateType: s.predicateType };
    if (c.kind === 'none') statements.push({ ...one, passed: true, message: 'verified' });
    else if (c.kind === 'cel') {
      let r: ReturnType<typeof c.program.run>;
      try {
        r = c.program.run(celInput!(s, ctx.now) as never, ctx.cel);
      } catch (err) {
        // The condition ran out of its budget: say which rule's, and where it is written.
        if (!isProvenantError(err)) throw err;
        throw new ProvenantError(err.code, `attestation ${JSON.stringify(rule.name)}: ${err.message}`, {
          where: c.where,
          hint: err.hint,
          cause: err,
        });
      }
      if ('error' in r)
        statements.push({ ...one, passed: false, message: `the condition could not be evaluated: ${r.error}`, error: r.error });
      else
        statements.push({
          ...one,
          passed: r.value,
          message: r.value ? 'the condition holds' : `the condition is false: ${c.expression.trim()}`,
        });
    } else if (check !== undefined) statements.push({ ...one, ...builtin(check, s.predicateType, s.predicate) });
  }
  const good = statements.find((x) => x.passed);
  if (good !== undefined) return { ...base, passed: true, message: `${good.message} (${good.source})`, statements };
  const first = statements[0]!;
  return {
    ...base,
    passed: false,
    message:
      statements.length === 1 ? first.message : `none of the ${statements.length} verified statements passes; the first: ${first.message}`,
    statements,
  };
}

function builtin(
  check: Exclude<BuiltinCheck, { maxPackageAgeDays: number }>,
  predicateType: string,
  predicate: unknown,
): { passed: boolean; message: string } {
  if ('sbom' in check) {
    // An SBOM says something: an empty object or array is as empty as an empty string.
    const present =
      (typeof predicate === 'object' && predicate !== null && Object.keys(predicate).length > 0) ||
      (typeof predicate === 'string' && predicate !== '');
    return present
      ? { passed: true, message: 'an SBOM is attested' }
      : { passed: false, message: 'the SBOM attestation has an empty predicate' };
  }
  const slsa = slsaFields(predicateType, predicate);
  if (slsa === undefined)
    return { passed: false, message: `${JSON.stringify(predicateType)} is not a SLSA provenance type this check reads` };
  if ('slsaBuilder' in check) {
    const id = slsa.builderId;
    if (id === undefined) return { passed: false, message: `the provenance names no builder id (${slsa.builderField})` };
    return id === check.slsaBuilder
      ? { passed: true, message: `built by ${id}` }
      : { passed: false, message: `built by ${JSON.stringify(id)}, not by ${JSON.stringify(check.slsaBuilder)}` };
  }
  const deps = slsa.dependencies;
  if (deps.length === 0) return { passed: false, message: `the provenance names no ${slsa.dependenciesField} to check` };
  // URL parsers drop tab, newline and carriage return anywhere and trim spaces and controls at
  // the ends (WHATWG URL, Go's net/url), so `…/alpine/.\t./evil` is fetched as `…/evil`: a
  // uri with any of them means something else to a client than to a check that reads its text.
  const garbled = deps.flatMap((d) => (d.uri !== undefined && UNFETCHABLE.test(d.uri) ? [d.uri] : []));
  if (garbled.length > 0) {
    return {
      passed: false,
      message: `${garbled.length} of ${deps.length} dependencies have a uri with whitespace or control characters, which URL parsers drop or read differently: ${garbled
        .slice(0, 3)
        .map((u) => printableLine(JSON.stringify(u)))
        .join(', ')}${garbled.length > 3 ? ', ...' : ''}`,
    };
  }
  // A dependency named without a URI (a name and a digest, say) comes from nowhere it says; a key
  // whose bytes the provenance carries, with their digest (one read from a local file), comes
  // from the provenance itself.
  const fetched = deps.filter((d) => !d.carried);
  const outside = fetched.filter((d) => d.uri === undefined || !check.repositories.some((r) => under(d.uri!, r))).map((d) => d.shown);
  if (outside.length === 0) {
    const carried = deps.length - fetched.length;
    return {
      passed: true,
      message:
        carried === 0
          ? `all ${deps.length} dependencies come from the allowed repositories`
          : `all ${fetched.length} fetched dependencies come from the allowed repositories; the provenance holds the other ${carried} itself (content and digest)`,
    };
  }
  return {
    passed: false,
    message: `${outside.length} of ${deps.length} dependencies come from elsewhere than ${check.repositories.join(', ')}: ${outside.slice(0, 3).join(', ')}${outside.length > 3 ? ', ...' : ''}`,
  };
}

/** What the SLSA checks read of a provenance. */
interface SlsaFields {
  builderId: string | undefined;
  /** Where the builder id is, for messages. */
  builderField: string;
  /**
   * One per dependency; one without a string `uri` is shown by a description (`(no uri: ...)`).
   * `carried` when it has no `uri` and its bytes are in the provenance: a SLSA v1 `content`
   * whose SHA-256 is its `digest.sha256`.
   */
  dependencies: { uri: string | undefined; shown: string; carried: boolean }[];
  /** Where the dependencies are, for messages. */
  dependenciesField: string;
}

/**
 * The builder and dependencies of a provenance, read from the fields of its own predicate type
 * only: SLSA v1 `runDetails.builder.id` and `buildDefinition.resolvedDependencies[]`
 * (https://slsa.dev/spec/v1.0/provenance), v0.2 and v0.1 `builder.id` and `materials[]`. A field
 * of another version in the same predicate is not read: a v0.2 provenance with a stray v1
 * `buildDefinition` is judged by its `materials`, which are what its signer vouched for as v0.2.
 * Undefined for a predicate type that is none of these.
 */
function slsaFields(predicateType: string, predicate: unknown): SlsaFields | undefined {
  const field = (o: unknown, key: string): unknown =>
    typeof o === 'object' && o !== null && !Array.isArray(o) && Object.hasOwn(o, key) ? (o as Record<string, unknown>)[key] : undefined;
  let id: unknown;
  let list: unknown;
  let builderField: string;
  let dependenciesField: string;
  const v1 = predicateType === 'https://slsa.dev/provenance/v1';
  if (v1) {
    id = field(field(field(predicate, 'runDetails'), 'builder'), 'id');
    list = field(field(predicate, 'buildDefinition'), 'resolvedDependencies');
    builderField = 'runDetails.builder.id';
    dependenciesField = 'resolved dependencies (buildDefinition.resolvedDependencies)';
  } else if (predicateType === 'https://slsa.dev/provenance/v0.2' || predicateType === 'https://slsa.dev/provenance/v0.1') {
    id = field(field(predicate, 'builder'), 'id');
    list = field(predicate, 'materials');
    builderField = 'builder.id';
    dependenciesField = 'materials';
  } else return undefined;
  const dependencies = Array.isArray(list)
    ? list.map((d) => {
        const uri = field(d, 'uri');
        if (typeof uri === 'string') return { uri, shown: uri, carried: false };
        const name = field(d, 'name');
        const shown = `(no uri: ${typeof name === 'string' ? name : JSON.stringify(d)?.slice(0, 80)})`;
        // Only a key: a package or a tarball carried whole would still have been fetched from
        // somewhere the policy is about, and saying nothing of where cannot pass it.
        const key = field(field(d, 'annotations'), 'kind') === 'apk-key';
        return { uri: undefined, shown, carried: v1 && key && carriesItself(field(d, 'content'), field(field(d, 'digest'), 'sha256')) };
      })
    : [];
  return { builderId: typeof id === 'string' ? id : undefined, builderField, dependencies, dependenciesField };
}

/**
 * True when a SLSA v1 ResourceDescriptor's `content` (base64, https://slsa.dev/spec/v1.0/provenance)
 * is bytes whose SHA-256 is `sha256`: the dependency is in the provenance, fetched from nowhere.
 */
function carriesItself(content: unknown, sha256: unknown): boolean {
  if (typeof content !== 'string' || typeof sha256 !== 'string') return false;
  // Strict base64 only: Buffer.from skips what is not base64, and would read other text as bytes.
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(content)) return false;
  return createHash('sha256').update(Buffer.from(content, 'base64')).digest('hex') === sha256.toLowerCase();
}

/**
 * True when `uri` lies under `prefix` both as written ({@link textUnder}) and as a client
 * fetches it: when either parses as a URL, both must, and the WHATWG-normalized forms (dot
 * segments resolved, `%2e` read as a dot, `\` as `/` in http(s), host lowercased, default port
 * dropped, an empty path written `/`) must be under one another too. So the check holds for what a
 * client would fetch, not only for the text.
 */
function under(uri: string, prefix: string): boolean {
  if (!textUnder(uri, prefix)) return false;
  const u = URL.parse(uri);
  const p = URL.parse(prefix);
  if (u === null && p === null) return true;
  return u !== null && p !== null && textUnder(u.href, p.href);
}

/**
 * True when `uri` is `prefix` or lies under it: the prefix ends with `/`, or the uri goes on
 * with `/`, `@`, `?` or `#`; so `https://example.org/alpine` does not admit
 * `https://example.org/alpine-evil/...`. After a prefix that ends with its host, an `@` would
 * make that host the user name of another one (`https://example.org@evil.example/...`), so it
 * does not count there.
 */
function textUnder(uri: string, prefix: string): boolean {
  if (!uri.startsWith(prefix)) return false;
  // A dot segment after the prefix climbs out of it (`.../alpine/../../evil.example/y`), in
  // whatever spelling a URL parser resolves as one (`%2e`), or a server that decodes an encoded
  // slash before it resolves the path (`..%2f`).
  if (/(^|[/\\]|%2f|%5c)(\.|%2e){1,2}([/\\?#]|%2f|%5c|$)/i.test(uri.slice(prefix.length))) return false;
  if (uri.length === prefix.length || prefix.endsWith('/')) return true;
  const next = uri[prefix.length]!;
  if (next === '@' && AUTHORITY_ONLY.test(prefix)) return false;
  return '/@?#'.includes(next);
}

/** A URL that ends with its authority (`scheme://host[:port]`, no path). */
const AUTHORITY_ONLY = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*$/i;

async function packageAge(
  ctx: EvalCtx,
  days: number,
  sboms: readonly CheckedSignature[],
): Promise<Omit<AttestationOutcome, 'attestation' | 'where' | 'predicateType'>> {
  ctx.packages ??= imagePackages(ctx.store, ctx.digest, operation(ctx)).catch((err: unknown) => {
    if (err instanceof ProvenantError && ['NOT_FOUND', 'UNSUPPORTED_MEDIA_TYPE', 'INVALID_ARCHIVE', 'TRUNCATED'].includes(err.code))
      return err;
    throw err;
  });
  const db = await ctx.packages;
  const statements: AttestationOutcome['statements'] = sboms.map((s) => ({
    source: s.source,
    predicateType: s.statement!.predicateType,
    passed: true,
    message: 'read for package build dates',
  }));
  // The database is the image's own record; an SBOM's builtDate fills in what it lacks, for the
  // same package at the same version only (another version's date says nothing of this one).
  const fromSbom = new Map<string, Date>();
  const sbomList: DatedPackage[] = [];
  const same = (p: DatedPackage) => `${p.name}\u0000${p.version}`;
  for (const s of sboms) {
    for (const p of sbomPackages(s.statement!.predicate)) {
      sbomList.push(p);
      if (p.builtAt !== undefined && !fromSbom.has(same(p))) fromSbom.set(same(p), p.builtAt);
    }
  }
  // A layer that cannot be read may hold the database, with dates the SBOM does not give: the
  // check cannot say the image's packages are fresh, so it fails rather than judge by the SBOM.
  if (db instanceof ProvenantError) {
    return {
      passed: false,
      message: `the image's layers could not be read, so its package database cannot be checked: ${db.describe()}`,
      statements,
    };
  }
  const packages: DatedPackage[] =
    db.packages.length > 0
      ? db.packages.map((p) =>
          p.builtAt === undefined && fromSbom.has(same(p)) ? { ...p, builtAt: fromSbom.get(same(p)), source: 'SBOM' } : p,
        )
      : sbomList;
  if (packages.length === 0) {
    return {
      passed: false,
      message: 'no package list to check: the image has no apk or dpkg database and no verified SBOM attestation lists packages',
      statements,
    };
  }
  // An index's images may hold one package at one version built at different times: say which.
  const named = (p: DatedPackage) => `${p.name} ${p.version}${p.platforms === undefined ? '' : ` on ${p.platforms.join(', ')}`}`;
  // A build time past what a Date holds (±8.64e15 ms) is an Invalid Date, which no comparison
  // below would catch: every one is false, so the package would be neither old, nor future, nor
  // undated. It is no date to judge an age by.
  const invalid = packages.filter((p) => p.builtAt !== undefined && !Number.isFinite(p.builtAt.getTime()));
  if (invalid.length > 0) {
    const shown = invalid.slice(0, 5).map((p) => `${named(p)} (${p.source} build time ${p.buildTime ?? String(p.builtAt)})`);
    return {
      passed: false,
      message: `${invalid.length} of ${packages.length} packages have a build time that is not a date: ${shown.join(', ')}${invalid.length > 5 ? ', ...' : ''}`,
      statements,
    };
  }
  const limit = ctx.now.getTime() - days * 86_400_000;
  const old = packages
    .filter((p) => p.builtAt !== undefined && p.builtAt.getTime() < limit)
    .sort((x, y) => x.builtAt!.getTime() - y.builtAt!.getTime());
  const unknown = packages.filter((p) => p.builtAt === undefined);
  const ageDays = (d: Date) => Math.floor((ctx.now.getTime() - d.getTime()) / 86_400_000);
  // A build date later than now (a day of clock skew aside) is not one to judge an age by.
  const future = packages.filter((p) => p.builtAt !== undefined && p.builtAt.getTime() > ctx.now.getTime() + 86_400_000);
  if (future.length > 0) {
    const shown = future.slice(0, 5).map((p) => `${named(p)} (built ${p.builtAt!.toISOString().slice(0, 10)})`);
    return {
      passed: false,
      message: `${future.length} of ${packages.length} packages have a build date later than now: ${shown.join(', ')}${future.length > 5 ? ', ...' : ''}`,
      statements,
    };
  }
  if (old.length > 0) {
    const shown = old.slice(0, 5).map((p) => `${named(p)} (${ageDays(p.builtAt!)} days, built ${p.builtAt!.toISOString().slice(0, 10)})`);
    return {
      passed: false,
      message: `${old.length} of ${packages.length} packages are older than ${days} days: ${shown.join(', ')}${old.length > 5 ? ', ...' : ''}`,
      statements,
    };
  }
  if (unknown.length > 0) {
    const why =
      db.database !== 'dpkg'
        ? 'their source records no build date'
        : 'Debian’s package database records no build dates; an attested SPDX SBOM with builtDate would give them';
    return {
      passed: false,
      message: `${unknown.length} of ${packages.length} packages have no known build date (${why}): ${unknown
        .slice(0, 5)
        .map((p) => p.name)
        .join(', ')}${unknown.length > 5 ? ', ...' : ''}`,
      statements,
    };
  }
  const newest = Math.max(...packages.map((p) => ageDays(p.builtAt!)));
  return {
    passed: true,
    message: `all ${packages.length} packages were built within ${days} days (the oldest ${newest} days ago)`,
    statements,
  };
}
