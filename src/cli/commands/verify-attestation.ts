/** `provenant verify-attestation REF... --type T`: check an image's attestations with a key or a keyless identity. */
import { ProvenantError } from '../../errors.ts';
import { isAttachedEntry } from '../../image/index-entries.ts';
import type { Stored } from '../../oci/content.ts';
import { formatPlatform } from '../../oci/platform.ts';
import { formatLocation, parseLocation } from '../../ref/location.ts';
import { parsePredicateType } from '../../sign/payload.ts';
import { eachSignature } from '../../sign/storage.ts';
import { type VerificationReport, verifyImage } from '../../sign/verify.ts';
import type { ContentStore } from '../../store/types.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { FORMAT_FLAG, formatOf, REGISTRY_FLAGS } from '../options.ts';
import {
  parseAnnotations,
  renderVerified,
  subjectOf,
  trustFromFlags,
  unsignedAttestationsOf,
  verificationFailure,
  verificationJson,
} from '../signing.ts';
import { TRUST_FLAGS } from '../signing-flags.ts';
import { targetOf, withStores } from '../stores.ts';
import { visibleLine, warningLogger } from '../visible.ts';

export const spec: CommandSpec = {
  summary: "verify an image's signed attestations of a predicate type (cosign 2 .att, cosign 3 bundles, BuildKit's in a signed index)",
  usage:
    'provenant verify-attestation REF... --type slsaprovenance1|spdxjson|cyclonedx|...|URI (--key cosign.pub | --certificate-identity[-regexp] ID --certificate-oidc-issuer[-regexp] URL) [--trusted-root FILE] [--format json]',
  prints: 'result',
  flags: {
    type: {
      type: 'string',
      description:
        "the predicate type: cosign's short names (slsaprovenance, slsaprovenance1, spdxjson, cyclonedx, vuln, custom, ...) or a URI; default any",
    },
    ...TRUST_FLAGS,
    format: FORMAT_FLAG,
    ...REGISTRY_FLAGS,
  },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  if (args.positionals.length === 0) {
    throw new ProvenantError('USAGE', 'verify-attestation needs an image', { hint: `usage: ${spec.usage}` });
  }
  return verifyEach(args, io, 'attestation');
}

/**
 * Verifies the signatures (or attestations) of each image named: every one verified prints
 * what verified; any image where nothing did fails with exit 5 and the reason per signature.
 */
export async function verifyEach(args: ParsedArgs, io: CliIo, kind: 'signature' | 'attestation'): Promise<void> {
  const format = formatOf(args);
  const typeText = args.values.type as string | undefined;
  const predicateType = kind === 'attestation' && typeText !== undefined ? parsePredicateType(typeText) : undefined;
  const trust = await trustFromFlags(args);
  // verify's -a: annotations its signatures' payloads must carry (verify-attestation has no -a).
  const annotations = kind === 'signature' ? parseAnnotations((args.values.annotations as string[] | undefined) ?? []) : undefined;
  const results: {
    name: string;
    report: VerificationReport;
    index: boolean;
    signedPlatforms?: string[];
    unsigned?: number;
    /** The predicate types of the attestations there when none is of --type. */
    found?: string[];
  }[] = [];
  // What a store passes over while listing referrers (a layout's manifest that cannot be read) is said here.
  const logger = warningLogger(io);
  // One withStores for every image: images of one layout are read through one store (stores.ts).
  await withStores(args, io, args.positionals, async (stores) => {
    for (const text of args.positionals) {
      const name = formatLocation(parseLocation(text));
      const opened = await stores.open(text);
      const subject = await subjectOf(opened.store, await targetOf(opened), args, io.signal);
      // The target as read: an index's BuildKit attestations are checked through its signature.
      const index = kind === 'attestation' ? subject.root : undefined;
      const options = {
        policy: trust.policy,
        trustedRoot: trust.trustedRoot,
        kind,
        predicateType,
        annotations,
        index,
        requireTransparencyLog: trust.requireTransparencyLog,
        signal: io.signal,
        logger,
      };
      const report = await verifyImage(opened.store, subject.digest, options);
      // An index merged from signed images (index create) is not signed itself until it is
      // signed: say which of its images are, so the hint can point at them.
      const unsigned = kind === 'signature' && subject.index && report.checked.length === 0;
      const signedPlatforms = unsigned ? await signedImagesOf(opened.store, subject.root, io.signal) : undefined;
      // attest without --key or --sign attaches its statements unsigned: say so, rather than "none".
      const none = kind === 'attestation' && report.checked.length === 0;
      const unsignedCount = none ? await unsignedAttestationsOf(opened.store, subject.digest, predicateType, io.signal) : 0;
      // None of --type: the types the verification passed over, as cosign's "found: ..." says, so a
      // wrong --type shows; read as the verification read them (the statement's, where it got
      // that far), so nothing is listed or read again.
      const found = none && unsignedCount === 0 ? (report.passedOver ?? []).map((t) => visibleLine(t)) : [];
      results.push({
        name,
        report,
        index: subject.index,
        unsigned: unsignedCount,
        found,
        ...(signedPlatforms === undefined ? {} : { signedPlatforms }),
      });
      if (format === 'text' && report.verified.length > 0) io.stdout.write(renderVerified(name, report));
    }
  });
  if (format === 'json') {
    const docs = results.map((r) => verificationJson(r.name, r.report, trust));
    io.stdout.write(`${JSON.stringify(docs.length === 1 ? docs[0] : docs, null, 2)}\n`);
  }
  const failed = results.filter((r) => r.report.verified.length === 0);
  if (failed.length === 0) return;
  const errors = failed.map((f) => {
    const e = verificationFailure(f.name, f.report, {
      predicateType,
      index: f.index,
      signedPlatforms: f.signedPlatforms,
      unsigned: f.unsigned,
    });
    const found = f.found ?? [];
    if (found.length === 0) return e;
    return new ProvenantError(e.code, `${e.message}; found: ${found.join(', ')}`, {
      hint: `check --type (it takes a cosign short name or a URI), or leave it out to verify every type${e.hint === undefined ? '' : `; ${e.hint}`}`,
      cause: e,
    });
  });
  if (errors.length === 1) throw errors[0];
  throw new ProvenantError('SIGNATURE', errors.map((e) => e.message).join('\n'));
}

/** The platforms of the images `root` (an index) lists that have a signature of their own, in any storage. */
async function signedImagesOf(store: ContentStore, root: Stored, signal: AbortSignal): Promise<string[]> {
  if (root.kind !== 'index') return [];
  const out: string[] = [];
  for (const entry of root.index.manifests) {
    if (isAttachedEntry(entry) || entry.platform === undefined) continue;
    // Read until the first signature: what follows it cannot change the answer.
    for await (const f of eachSignature(store, entry.digest, { signal })) {
      if (f.kind !== 'signature') continue;
      out.push(formatPlatform(entry.platform));
      break;
    }
  }
  return out;
}
