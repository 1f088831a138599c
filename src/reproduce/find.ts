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
 * whose signature verifies counts, as `verifyImage` (../sign/verify.ts) checks it: a DSSE
 * attestation of the platform manifest, or, given the index, a statement in BuildKit's storage
 * inside an index whose own signature verifies (the index digest covers its attestation
 * manifests' digests, which cover their layers). A platform whose provenance is signed but does
 * not verify, or is only stored unsigned, stops the run with `SIGNATURE`: its claims are not to
 * be acted on.
 */
import type { KeyObject } from 'node:crypto';
import type { AttachmentStorage } from '../attest/attachments.ts';
import { ProvenantError, throwIfAborted } from '../errors.ts';
import type { InspectedManifest, InspectResult } from '../image/inspect.ts';
import { type ReadStatement, statementsOrNone } from '../image/statements.ts';
import { type Logger, silentLogger } from '../io/types.ts';
import type { Digest } from '../oci/digest.ts';
import { formatPlatform, normalizePlatform } from '../oci/platform.ts';
import { type InTotoStatement, parseStatement, statementNames } from '../sign/payload.ts';
import type { TrustedRoot } from '../sign/trust.ts';
import {
  aboutIndexedImage,
  type CheckedSignature,
  type IdentityMatcher,
  type VerificationPolicy,
  type VerificationReport,
  verifyImage,
} from '../sign/verify.ts';
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
  /**
   * Where it is, for messages: the attachment manifest, tag or bundle referrer; for a verified
   * one, where `verifyImage` found it (for BuildKit's storage, the index entry and layer).
   */
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
  /**
   * Called for each SLSA statement stored unsigned with a platform image that is about another
   * image (its subject names another digest), which is left out: `manifest` is the platform image,
   * `note` says where the statement is and what it names (`referrers sha256:… names sha256:…`).
   */
  onOtherSubject?: ((manifest: Digest, note: string) => void) | undefined;
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
  const index = inspected.kind === 'index' ? inspected.raw : undefined;
  const indexSignatures = trust === undefined ? undefined : await verifyIndexSignatures(store, inspected, trust, options);
  for (const m of inspected.manifests) {
    throwIfAborted(options.signal);
    // An index may list the same manifest twice: it has the same provenance both times, found once.
    if (out.has(m.digest)) continue;
    if (trust === undefined) {
      out.set(m.digest, await unsignedProvenance(store, m, options));
      continue;
    }
    const report = await verifyImage(store, m.digest, {
      policy: policyOf(trust),
      trustedRoot: trust.trustedRoot,
      kind: 'attestation',
      index,
      indexSignatures,
      signal: options.signal,
      logger: options.logger,
    });
    // A failed check may not know the predicate type (a malformed envelope): it may be provenance.
    // A statement in the index fails for the index's signatures (said below, with the provenance
    // stored unsigned) or for itself, about another image or unreadable: left out then, as it is
    // without trust.
    const tried = report.checked.filter(
      (c) => (c.predicateType === undefined || SLSA.test(c.predicateType)) && (c.verified || c.storage !== 'buildkit'),
    );
    const verified: FoundProvenance[] = tried.flatMap((c) =>
      c.verified && c.statement !== undefined && SLSA.test(c.statement.predicateType)
        ? [
            {
              statement: { predicateType: c.statement.predicateType, predicate: c.statement.predicate },
              predicateType: c.statement.predicateType,
              storage: c.storage,
              source: c.source,
              verified: true,
              verifiedBy: c.coveredBy === undefined ? signerOf(c) : `the index's signature (${signerOf(c)})`,
            },
          ]
        : [],
    );
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
    // Read only now: with trust, the statements stored unsigned matter only to say why nothing
    // verified, and a platform whose provenance verifies does not read them twice.
    const unsigned = await unsignedProvenance(store, m, options);
    if (unsigned.length > 0) {
      const indexFailures = (indexSignatures?.checked ?? []).filter((c) => !c.verified);
      const inIndex = unsigned.some((u) => u.storage === 'buildkit') && indexFailures.length > 0;
      throw new ProvenantError(
        'SIGNATURE',
        inIndex
          ? `the provenance of ${platformLabel(m)} is in the image index, whose signatures do not verify`
          : `the provenance of ${platformLabel(m)} is not signed, and a signer was required`,
        {
          where: m.digest,
          hint: inIndex
            ? indexFailures.map((c) => `${c.source}: ${c.message ?? c.reason}`).join('; ')
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
 * The signatures of the image index, verified with `trust`, when it holds BuildKit attestations:
 * verified here once for all the platforms, not by verifyImage for each.
 */
async function verifyIndexSignatures(
  store: ContentStore,
  inspected: InspectResult,
  trust: ReproduceTrust,
  options: FindProvenanceOptions,
): Promise<VerificationReport | undefined> {
  if (inspected.kind !== 'index' || !inspected.manifests.some((m) => m.attachments.some((a) => a.storage === 'buildkit'))) return undefined;
  return verifyImage(store, inspected.digest, {
    policy: policyOf(trust),
    trustedRoot: trust.trustedRoot,
    kind: 'signature',
    signal: options.signal,
    logger: options.logger,
  });
}

/**
 * Every SLSA statement about `m`, unverified, as statementsOrNone (../image/statements.ts) reads them: in-toto
 * layers of BuildKit and referrer manifests, DSSE layers of cosign's `.att` image, and the
 * envelopes of cosign 3 bundle referrers. A statement that does not name this manifest in its
 * subject is left out: it is about another image (in BuildKit's storage, one that names nothing
 * is about the image its index entry names, as verifyImage has it). So is one that is not an
 * in-toto statement, with a warning.
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
      if (!SLSA.test(s.predicateType)) continue;
      let statement: InTotoStatement;
      try {
        statement = inToto(s);
      } catch (err) {
        if (!(err instanceof ProvenantError)) throw err;
        logger.warn(`${platformLabel(m)}: skipped a statement of ${a.storage} attachment ${a.tag ?? a.digest}: ${err.message}`);
        continue;
      }
      if (!(a.storage === 'buildkit' ? aboutIndexedImage(statement, m.digest) : statementNames(statement, m.digest))) {
        options.onOtherSubject?.(m.digest, `${a.storage} ${a.tag ?? a.digest} names ${subjectsOf(statement)}`);
        continue;
      }
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

/** What a statement's subject names, for a message: `sha256:…, sha256:…`, or `no image`. */
function subjectsOf(statement: InTotoStatement): string {
  const named = statement.subjects.map((s) => {
    const [algorithm, hex] = Object.entries(s.digest)[0] ?? [];
    return algorithm === undefined ? (s.name ?? 'a subject without a digest') : `${algorithm}:${String(hex).slice(0, 64)}`;
  });
  if (named.length === 0) return 'no image';
  return named.length > 3 ? `${named.slice(0, 3).join(', ')} and ${named.length - 3} more` : named.join(', ');
}

/**
 * A statement read back as JSON, checked as parseStatement checks a verified one.
 *
 * @throws ProvenantError `SIGNATURE` when it is not an in-toto statement
 */
function inToto(s: ReadStatement): InTotoStatement {
  return parseStatement(new TextEncoder().encode(JSON.stringify(s.statement)));
}
