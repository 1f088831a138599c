/** `provenant verify-attestation REF... --type T`: check an image's attestations with a key or a keyless identity. */
import { ProvenantError } from '../../errors.ts';
import { isAttachedEntry } from '../../image/index-entries.ts';
import type { Stored } from '../../oci/content.ts';
import type { Digest } from '../../oci/digest.ts';
import { firstOfPlatform, formatPlatform, normalizePlatform } from '../../oci/platform.ts';
import { formatLocation, parseLocation } from '../../ref/location.ts';
import { parsePredicateType } from '../../sign/payload.ts';
import { eachSignature, type FoundSignature } from '../../sign/storage.ts';
import { type VerificationReport, verifyImage } from '../../sign/verify.ts';
import type { ContentStore } from '../../store/types.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { FORMAT_FLAG, formatOf, REGISTRY_FLAGS } from '../options.ts';
import { digestName } from '../render.ts';
import {
  imageLabel,
  type PlatformImage,
  parseAnnotations,
  platformAttestationsHint,
  renderVerified,
  subjectOf,
  trustFromFlags,
  unsignedAttestationsOf,
  verificationFailure,
  verificationJson,
  verifyOne,
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
  // io: a --key or --trusted-root that is a pipe nobody writes to ends on Ctrl-C or SIGTERM.
  const trust = await trustFromFlags(args, io);
  // verify's -a: annotations its signatures' payloads must carry (verify-attestation has no -a).
  const annotations = kind === 'signature' ? parseAnnotations((args.values.annotations as string[] | undefined) ?? []) : undefined;
  const results: {
    name: string;
    report: VerificationReport;
    index: boolean;
    signedPlatforms?: PlatformImage[];
    /** Of an index with none of --type: its images that have them unsigned only. */
    unsignedPlatforms?: PlatformImage[];
    unsigned?: number;
    /** The attestations there when none is of --type ({@link foundTypes}). */
    found?: Found[];
  }[] = [];
  // What a store passes over while listing referrers (a layout's manifest that cannot be read) is said here.
  const logger = warningLogger(io);
  // One withStores for every image: images of one layout are read through one store (stores.ts).
  await withStores(args, io, args.positionals, async (stores) => {
    for (const text of args.positionals) {
      const name = formatLocation(parseLocation(text));
      const opened = await stores.open(text);
      const subject = await subjectOf(opened.store, await targetOf(opened), args, io.signal, logger);
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
      // attest without --key or --sign attaches its statements unsigned: say so, rather than "none".
      const none = kind === 'attestation' && report.checked.length === 0;
      // An index without attestations of --type: say which of its images have some (a build
      // attests each platform image), so that the hint to add --platform is given where it helps.
      const signedPlatforms =
        unsigned || (none && subject.index)
          ? await imagesWith(
              opened.store,
              subject.root,
              (f) => f.kind === kind && (predicateType === undefined || f.predicateType === predicateType),
              io.signal,
            )
          : undefined;
      const unsignedOnes = none
        ? await unsignedAttestationsOf(opened.store, subject.digest, predicateType, io.signal)
        : { count: 0, types: [], otherTypes: [] };
      // Its images with attestations of --type attached unsigned: --platform shows them so (marked
      // in the hint), where saying nothing would leave them unseen.
      const unsignedPlatforms =
        none && subject.index && unsignedOnes.count === 0
          ? await imagesWithUnsigned(
              opened.store,
              subject.root,
              (signedPlatforms ?? []).map((p) => p.platform),
              predicateType,
              io.signal,
            )
          : [];
      // None of --type signed: the types there are, as cosign's "found: ..." says, so a wrong --type
      // shows, and those of --type attached unsigned (marked so) show as there.
      const found = none ? foundTypes(report, [...unsignedOnes.types, ...unsignedOnes.otherTypes]) : [];
      results.push({
        name,
        report,
        index: subject.index,
        unsigned: unsignedOnes.count,
        found,
        ...(signedPlatforms === undefined ? {} : { signedPlatforms }),
        ...(unsignedPlatforms.length === 0 ? {} : { unsignedPlatforms }),
      });
      if (format === 'text' && report.verified.length > 0) io.stdout.write(renderVerified(name, report));
    }
  });
  if (format === 'json') {
    const docs = results.map((r) => {
      const doc = verificationJson(r.name, r.report, trust) as Record<string, unknown>;
      // What the text's "found: ..." lists, each with its state spelled out.
      const found = r.found ?? [];
      if (found.length === 0) return doc;
      return {
        ...doc,
        found: found.map((f) => ({ ...(f.type === undefined ? {} : { predicateType: f.type }), state: f.state ?? 'verified' })),
      };
    });
    io.stdout.write(`${JSON.stringify(docs.length === 1 ? docs[0] : docs, null, 2)}\n`);
  }
  const failed = results.filter((r) => r.report.verified.length === 0);
  if (failed.length === 0) return;
  const errors = failed.map((f) => {
    let e = verificationFailure(f.name, f.report, {
      predicateType,
      index: f.index,
      signedPlatforms: f.signedPlatforms,
      unsigned: f.unsigned,
    });
    // The hint to add --platform, where an image of the index has attestations of --type: signed,
    // as verificationFailure says, or unsigned only, marked so. Said too where the index itself has
    // some unsigned (e then hints at signing them): a platform image's signed ones may verify.
    const platformHint =
      (f.unsignedPlatforms ?? []).length > 0
        ? unsignedPlatformHint(f.name, f.signedPlatforms ?? [], f.unsignedPlatforms ?? [], predicateType)
        : (f.signedPlatforms ?? []).length > 0
          ? (f.unsigned ?? 0) > 0
            ? platformAttestationsHint(f.name, f.signedPlatforms ?? [], predicateType)
            : e.hint
          : undefined;
    if (platformHint !== undefined && platformHint !== e.hint) e = new ProvenantError(e.code, e.message, { hint: platformHint });
    const found = f.found ?? [];
    if (found.length === 0) return e;
    // Some of --type are there, unsigned: --type is right, and e says so (its hint is to sign them).
    const ofType = (f.unsigned ?? 0) > 0;
    const platforms = platformHint === undefined ? [] : [platformHint];
    const failing = found.some((t) => t.state === 'not verified');
    const unsigned = found.some((t) => t.state === 'unsigned');
    const text = found.map((t) => visibleLine(`${t.type ?? '(no predicate type)'}${t.state === undefined ? '' : ` (${t.state})`}`));
    return new ProvenantError(e.code, `${e.message}; found: ${text.join(', ')}`, {
      hint: [
        ...(ofType
          ? []
          : [
              `check --type (it takes a cosign short name or a URI), or leave it out to verify every type${failing ? ' and see why those not verified fail' : ''}`,
            ]),
        ...(unsigned ? ['attest again with --key or --sign (keyless) to sign the unsigned ones'] : []),
        ...platforms,
      ].join('; '),
      cause: e,
    });
  });
  if (errors.length === 1) throw errors[0];
  throw new ProvenantError('SIGNATURE', errors.map((e) => e.message).join('\n'));
}

/** One predicate type found where none was of --type: as the verification checked it (no state), or not. */
interface Found {
  /** As found, when it names one: whoever pushed the attestation named it (made visible where it is printed). */
  type: string | undefined;
  /**
   * Unset: a signed attestation that verified, its type its signed statement's, as cosign lists
   * what it found. Else the type is what the attestation says of itself, unchecked: one that did
   * not verify with the key or identity given (so that a wrong one shows as such, not as nothing
   * there), or one attached unsigned.
   */
  state?: 'not verified' | 'unsigned';
}

/**
 * The attestations of other types than --type: those the verification passed over that verified,
 * then those that did not, then the unsigned ones (`unsigned`); a type once, where it first shows.
 */
function foundTypes(report: VerificationReport, unsigned: readonly string[]): Found[] {
  const passed = report.passedOver ?? [];
  const all: Found[] = [
    ...passed.filter((p) => p.verified).map((p) => ({ type: p.predicateType })),
    ...passed.filter((p) => !p.verified).map((p) => ({ type: p.predicateType, state: 'not verified' as const })),
    ...unsigned.map((t) => ({ type: t, state: 'unsigned' as const })),
  ];
  return all.filter((f, i) => all.findIndex((g) => g.type === f.type) === i);
}

/**
 * The images `root` (an index) lists, but those of the platforms in `signed`, that have
 * attestations of `predicateType` (any, when not given) attached unsigned
 * ({@link unsignedAttestationsOf}): for the hint only.
 */
function imagesWithUnsigned(
  store: ContentStore,
  root: Stored,
  signed: readonly string[],
  predicateType: string | undefined,
  signal: AbortSignal,
): Promise<PlatformImage[]> {
  return platformsWhere(root, signed, async (digest) => (await unsignedAttestationsOf(store, digest, predicateType, signal)).count > 0);
}

/**
 * The hint of an index `name` with no attestations of the type where some of its images have them
 * (`signed`, or `unsigned` only): each image, the unsigned ones marked; how to verify a signed one
 * where there is one (it may verify), else how to attest an unsigned one signed first (verifying
 * it as it is fails for sure), then verify it: by --platform where that takes it, else by digest.
 */
function unsignedPlatformHint(
  name: string,
  signed: readonly PlatformImage[],
  unsigned: readonly PlatformImage[],
  predicateType: string | undefined,
): string {
  const type = predicateType === undefined ? '' : `${predicateType} `;
  const all = [...signed.map(imageLabel), ...unsigned.map((p) => `${imageLabel(p)} (unsigned)`)];
  const one = all.length === 1;
  const images = `its ${all.join(', ')} image${one ? ' has' : 's have'} ${type}attestations of ${one ? 'its' : 'their'} own (a build attests each platform image)`;
  if (signed.length > 0) return `${images}: ${verifyOne(name, signed)}`;
  const image = unsigned[0] as PlatformImage;
  const [attest, verify] = image.first
    ? [`${name} --platform ${image.platform}`, `with --platform ${image.platform}`]
    : [digestName(name, image.digest), `by digest (--platform ${image.platform} takes the index's first ${image.platform} image, another)`];
  return `${images}, unsigned only: verify-attestation checks signed attestations only, so attest one signed first (provenant attest ${attest} --key KEY, or --sign for keyless), then verify it ${verify}`;
}

/**
 * The images `root` (an index) lists that have a signature (or attestation) of their own that
 * `wanted` takes, in any storage: for a hint only, so each is taken as its storage names it,
 * unverified.
 */
function imagesWith(
  store: ContentStore,
  root: Stored,
  wanted: (f: FoundSignature) => boolean,
  signal: AbortSignal,
): Promise<PlatformImage[]> {
  return platformsWhere(root, [], async (digest) => {
    // Read until the first one: what follows it cannot change the answer.
    for await (const f of eachSignature(store, digest, { signal })) if (wanted(f)) return true;
    return false;
  });
}

/**
 * The images `root` (an index) lists whose image `has` something, a platform once (normalized:
 * linux/arm64/v8 is linux/arm64, as --platform reads it), but the
 * platforms in `skip`: what {@link imagesWith} and {@link imagesWithUnsigned} look for. Of several
 * images of one platform (a Windows index lists one per os.version), the one `--platform` takes
 * (the first) where it has, else the first other that has, marked as not the one it takes.
 */
async function platformsWhere(root: Stored, skip: readonly string[], has: (digest: Digest) => Promise<boolean>): Promise<PlatformImage[]> {
  if (root.kind !== 'index') return [];
  const out: PlatformImage[] = [];
  for (const entry of root.index.manifests) {
    const entryPlatform = entry.platform;
    if (isAttachedEntry(entry) || entryPlatform === undefined) continue;
    // Normalized, so that linux/arm64 and linux/arm64/v8, one platform, are listed once.
    const platform = formatPlatform(normalizePlatform(entryPlatform));
    if (skip.includes(platform) || out.some((o) => o.platform === platform)) continue;
    if (!(await has(entry.digest))) continue;
    // The entry --platform takes (platformEntry's pick), without its warning: this is a hint.
    const picked = firstOfPlatform(entryPlatform, root.index.manifests, '').entry;
    out.push({ platform, digest: entry.digest, first: picked === entry });
  }
  return out;
}
