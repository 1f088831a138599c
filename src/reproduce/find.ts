/**
 * Finding the provenance of each platform image, in any storage, and deciding which of it may be
 * replayed.
 *
 * Without trust, every SLSA statement about the platform manifest counts, signed or not, from
 * BuildKit's attestation manifests in the index, OCI referrers (in-toto layers, or cosign 3
 * bundles whose envelope is opened without checking it), and cosign 2's `.att` images; the
 * report then says plainly that nothing was verified.
 *
 * With trust (a key, or a keyless identity and issuer with a trusted root), only a statement
 * whose signature verifies counts: a DSSE attestation of the platform manifest checked by
 * `verifyImage` (../sign/verify.ts), or a statement in BuildKit's storage inside an index whose
 * own signature verifies (the index digest covers its attestation manifests' digests, which
 * cover their layers). A platform whose provenance is signed but does not verify, or is only
 * stored unsigned, stops the run with `SIGNATURE`: its claims are not to be acted on.
 */
import type { KeyObject } from 'node:crypto';
import type { Attachment, AttachmentStorage } from '../attest/attachments.ts';
import { ProvenantError, throwIfAborted } from '../errors.ts';
import { statementsOrNone } from '../image/attestations.ts';
import type { InspectedManifest, InspectResult } from '../image/inspect.ts';
import { type Logger, silentLogger } from '../io/types.ts';
import type { Digest } from '../oci/digest.ts';
import { formatPlatform, normalizePlatform } from '../oci/platform.ts';
import type { TrustedRoot } from '../sign/trust.ts';
import { type CheckedSignature, type IdentityMatcher, type VerificationPolicy, verifyImage } from '../sign/verify.ts';
import type { ContentStore } from '../store/types.ts';

/** Whom the provenance must be signed by: a cosign public key, or a keyless identity and issuer. */
export type ReproduceTrust =
  | {
      key: KeyObject;
      /** With it, transparency log entries and timestamps the signature carries are checked too. */
      trustedRoot?: TrustedRoot | undefined;
    }
  | {
      /** The certificate's identity (SAN): an exact string, or a pattern as cosign's `-regexp` flags. */
      identity: IdentityMatcher;
      /** The certificate's OIDC issuer. */
      issuer: IdentityMatcher;
      trustedRoot: TrustedRoot;
    };

/** A provenance statement found for a platform image. */
export interface FoundProvenance {
  /** `predicateType` and `predicate` of the statement, as JSON. */
  statement: { predicateType: string; predicate: unknown };
  predicateType: string;
  storage: AttachmentStorage;
  /** Where it is, for messages: the attachment manifest, tag or bundle referrer. */
  source: string;
  verified: boolean;
  /** Who signed it, when verified: `key <id>`, `<identity> (<issuer>)`, or the index's signer. */
  verifiedBy?: string | undefined;
}

const SLSA = /^https:\/\/slsa\.dev\/provenance\//;

/** `linux/amd64`, or `unknown`. */
export function platformLabel(m: Pick<InspectedManifest, 'platform'>): string {
  return m.platform === undefined ? 'unknown' : formatPlatform(normalizePlatform(m.platform));
}

/** Options of {@link findProvenance}. */
export interface FindProvenanceOptions {
  trust?: ReproduceTrust | undefined;
  signal?: AbortSignal | undefined;
  logger?: Logger | undefined;
}

/**
 * The provenance statements of each platform image of `inspected`, by platform manifest digest;
 * with trust, only those whose signature verifies (an empty list when there is no provenance at
 * all).
 *
 * @throws ProvenantError `SIGNATURE` with trust, when a platform's provenance is signed but no
 *   signature verifies, or is only stored unsigned
 */
export async function findProvenance(
  store: ContentStore,
  inspected: InspectResult,
  options: FindProvenanceOptions = {},
): Promise<Map<Digest, FoundProvenance[]>> {
  const out = new Map<Digest, FoundProvenance[]>();
  const trust = options.trust;
  const index = trust === undefined ? undefined : await indexSignature(store, inspected, trust, options);
  const indexSigner = index?.signer;
  for (const m of inspected.manifests) {
    throwIfAborted(options.signal);
    const unsigned = await unsignedProvenance(store, m, options);
    if (trust === undefined) {
      out.set(m.digest, unsigned);
      continue;
    }
    const report = await verifyImage(store, m.digest, {
      policy: policyOf(trust),
      trustedRoot: trust.trustedRoot,
      kind: 'attestation',
      signal: options.signal,
    });
    // A failed check may not know the predicate type (a malformed envelope): it may be provenance.
    const tried = report.checked.filter((c) => c.predicateType === undefined || SLSA.test(c.predicateType));
    const verified: FoundProvenance[] = tried.flatMap((c) =>
      c.verified && c.statement !== undefined && SLSA.test(c.statement.predicateType)
        ? [
            {
              statement: { predicateType: c.statement.predicateType, predicate: c.statement.predicate },
              predicateType: c.statement.predicateType,
              storage: c.storage,
              source: c.source,
              verified: true,
              verifiedBy: signerOf(c),
            },
          ]
        : [],
    );
    if (indexSigner !== undefined) {
      for (const u of unsigned) {
        if (u.storage === 'buildkit') verified.push({ ...u, verified: true, verifiedBy: `the index's signature (${indexSigner})` });
      }
    }
    const failed = tried.filter((c) => !c.verified);
    const logger = options.logger ?? silentLogger;
    for (const f of failed)
      if (verified.length > 0) logger.warn(`${platformLabel(m)}: ignored a provenance that does not verify: ${f.source}: ${f.message}`);
    if (verified.length > 0) {
      out.set(m.digest, verified);
      continue;
    }
    if (failed.length > 0) {
      throw new ProvenantError('SIGNATURE', `the provenance of ${platformLabel(m)} does not verify: nothing it says is used`, {
        where: m.digest,
        hint: failed.map((f) => `${f.source}: ${f.message ?? f.reason}`).join('; '),
      });
    }
    if (unsigned.length > 0) {
      const inIndex = unsigned.some((u) => u.storage === 'buildkit') && (index?.failures.length ?? 0) > 0;
      throw new ProvenantError(
        'SIGNATURE',
        inIndex
          ? `the provenance of ${platformLabel(m)} is in the image index, whose signatures do not verify`
          : `the provenance of ${platformLabel(m)} is not signed, and a signer was required`,
        {
          where: m.digest,
          hint: inIndex
            ? (index?.failures ?? []).join('; ')
            : `it is stored unsigned (${[...new Set(unsigned.map((u) => u.storage))].join(', ')}); sign it (provenant attest, cosign attest), sign the index that holds it, or reproduce without trust flags to replay it unverified`,
        },
      );
    }
    out.set(m.digest, []);
  }
  return out;
}

/** The verification policy a trust asks for. */
export function policyOf(trust: ReproduceTrust): VerificationPolicy {
  return 'key' in trust ? { key: trust.key } : { certificateIdentity: trust.identity, certificateOidcIssuer: trust.issuer };
}

/** Who signed a verified signature, for the report. */
export function signerOf(c: CheckedSignature): string {
  if (c.signer?.keyId !== undefined) return `key ${c.signer.keyId}`;
  return `${c.signer?.identity ?? 'an unknown identity'} (${c.signer?.issuer ?? 'an unknown issuer'})`;
}

/**
 * The signer of the image index, when it is an index holding BuildKit attestations with a
 * signature that verifies with `trust`; else why its signatures did not verify.
 */
async function indexSignature(
  store: ContentStore,
  inspected: InspectResult,
  trust: ReproduceTrust,
  options: FindProvenanceOptions,
): Promise<{ signer: string | undefined; failures: string[] } | undefined> {
  if (inspected.kind !== 'index' || !inspected.manifests.some((m) => m.attachments.some((a) => a.storage === 'buildkit'))) return undefined;
  const report = await verifyImage(store, inspected.digest, {
    policy: policyOf(trust),
    trustedRoot: trust.trustedRoot,
    kind: 'signature',
    signal: options.signal,
  });
  const first = report.verified[0];
  return {
    signer: first === undefined ? undefined : signerOf(first),
    failures: report.checked.filter((c) => !c.verified).map((c) => `${c.source}: ${c.message ?? c.reason}`),
  };
}

/**
 * True for a statement with an empty subject in a BuildKit attestation manifest: BuildKit's OCI
 * exporter writes `subject: []` when the image has no name, and the index entry's
 * `vnd.docker.reference.digest` (covered by the index digest) is then what says which platform
 * image it is about.
 */
function boundByIndex(a: Attachment, subject: unknown): boolean {
  return a.storage === 'buildkit' && Array.isArray(subject) && subject.length === 0;
}

/** True when an in-toto `subject` list (as JSON) names `digest`. */
function subjectNames(subject: unknown, digest: Digest): boolean {
  if (!Array.isArray(subject)) return false;
  const [algorithm, hex] = digest.split(':') as [string, string];
  return subject.some((s) => {
    const d = (s as { digest?: unknown } | null)?.digest;
    return typeof d === 'object' && d !== null && (d as Record<string, unknown>)[algorithm] === hex;
  });
}

/**
 * Every SLSA statement about `m`, unverified, as statementsOrNone (../image/attestations.ts) reads them: in-toto
 * layers of BuildKit and referrer manifests, DSSE layers of cosign's `.att` image, and the
 * envelopes of cosign 3 bundle referrers. A statement that does not name this manifest in its
 * subject is left out: it is about another image.
 */
async function unsignedProvenance(store: ContentStore, m: InspectedManifest, options: FindProvenanceOptions): Promise<FoundProvenance[]> {
  const logger = options.logger ?? silentLogger;
  const out: FoundProvenance[] = [];
  for (const a of m.attachments) {
    if (a.kind === 'signature') continue;
    // A statement that is not one, or a bundle that is not one, is that attachment's problem.
    const statements = await statementsOrNone(store, a, { signal: options.signal }, (message) =>
      logger.warn(`${platformLabel(m)}: skipped ${a.storage} attachment: ${message}`),
    );
    for (const s of statements) {
      if (!SLSA.test(s.predicateType) || !(subjectNames(s.statement.subject, m.digest) || boundByIndex(a, s.statement.subject))) continue;
      out.push({
        statement: { predicateType: s.predicateType, predicate: s.statement.predicate },
        predicateType: s.predicateType,
        storage: a.storage,
        source: a.tag ?? a.digest,
        verified: false,
      });
    }
  }
  return out;
}
