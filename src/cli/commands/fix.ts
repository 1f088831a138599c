/** `provenant fix REF --target T -o DST`: the smallest change that makes a target take the image, written with a plain account. */
import { type FixReport, fixImage } from '../../compat/fix.ts';
import { ProvenantError } from '../../errors.ts';
import { parseLocation } from '../../ref/location.ts';
import { attesterOf, resignerOf } from '../../sign/sign.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import { renderFix, targetsFrom } from '../compat.ts';
import { PROFILES_FLAG, TARGET_FLAG } from '../compat-flags.ts';
import type { CliIo } from '../io.ts';
import { FORMAT_FLAG, formatOf, platformArg, positional, REGISTRY_FLAGS, sourceDateEpoch } from '../options.ts';
import { dockerReferenceOf, signerFromFlags } from '../signing.ts';
import { SIGNING_FLAGS } from '../signing-flags.ts';
import { targetOf, withStores } from '../stores.ts';
import { warningLogger } from '../visible.ts';

export const spec: CommandSpec = {
  summary: 'write the smallest change that makes a registry or runtime take an image, saying what changed',
  usage: 'provenant fix REF --target T -o DST [--platform os/arch] [--key FILE | --keyless] [--format json]',
  prints: 'result',
  flags: {
    target: TARGET_FLAG,
    output: { type: 'string', short: 'o', description: 'where to write the fixed image (any store; default tag latest)' },
    platform: { type: 'string', description: "the platform to keep when the fix picks one (default: the target's, in its order)" },
    all: { type: 'boolean', description: 'fix the warnings that have a fix too, not only refusals' },
    force: {
      type: 'boolean',
      description: 'write even when the target would still refuse the result: a refusal with no fix, or one the fixes leave',
    },
    keyless: {
      type: 'boolean',
      description:
        'sign what the fix changed keylessly (a Fulcio certificate for an OIDC identity), and the statements of BuildKit attestations it moves out of the index',
    },
    ...SIGNING_FLAGS,
    key: {
      type: 'string',
      description:
        'sign what the fix changed with this cosign private key, and as attestations of their image the statements of BuildKit attestations it moves out of the signed index; its password from COSIGN_PASSWORD or PROVENANT_KEY_PASSWORD, else asked',
    },
    profiles: PROFILES_FLAG,
    format: FORMAT_FLAG,
    ...REGISTRY_FLAGS,
  },
};

/**
 * Writes the fix; exits 7 (INCOMPATIBLE) when the target would still refuse the result, whether
 * nothing was written (the default) or it was written all the same (`--force`).
 */
export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  const [srcText] = positional(args, 1, spec.usage) as [string];
  const dstText = args.values.output as string | undefined;
  if (dstText === undefined) throw new ProvenantError('USAGE', 'fix needs -o DST: where to write the fixed image', { hint: spec.usage });
  const format = formatOf(args);
  const platformText = args.values.platform as string | undefined;
  const { targets } = await targetsFrom(args, { required: true, one: true });
  const target = targets[0]!;
  // The signer is made before anything is read: a wrong password fails at once.
  if (args.values.key !== undefined && args.values.keyless === true) throw new ProvenantError('USAGE', 'give --key or --keyless, not both');
  const chosen = await signerFromFlags(args, io, args.values.keyless === true);
  const dstLocation = parseLocation(dstText);
  const epoch = sourceDateEpoch(io);
  const created = epoch === undefined ? undefined : new Date(epoch * 1000);
  let report: FixReport;
  try {
    report = await withStores(args, io, [srcText, dstText], async (stores) => {
      const src = await stores.open(srcText);
      const dst = await stores.open(dstText, { write: true, makes: 'fix' });
      const made = await fixImage(src.store, await targetOf(src), dst.store, target, {
        tags: dst.tags.length > 0 ? dst.tags : ['latest'],
        ...(platformText === undefined ? {} : { platform: platformArg(platformText) }),
        include: args.values.all === true ? 'all' : 'refusals',
        force: args.values.force === true,
        reference: srcText,
        logger: warningLogger(io),
        ...(chosen === undefined
          ? {}
          : {
              resign: resignerOf(chosen.signer, { dockerReference: dockerReferenceOf(dstLocation, args), created, signal: io.signal }),
              // Named as sign names it: `key <id>`, `keyless (<Fulcio URL>)`.
              signedBy: chosen.label,
              attest: attesterOf(chosen.signer, { created, signal: io.signal }),
            }),
        signal: io.signal,
      });
      // Nothing written: the destination is discarded, so a layout this run made goes again.
      if (!made.written) throw new NothingWritten(made);
      return made;
    });
  } catch (err) {
    if (!(err instanceof NothingWritten)) throw err;
    report = err.report;
  }
  io.stdout.write(format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderFix(report));
  const failed = fixFailure(report, args.values.force === true);
  if (failed !== undefined) throw failed;
}

/** Thrown out of withStores for a fix that wrote nothing, so that the destination is discarded. */
class NothingWritten {
  readonly report: FixReport;
  constructor(report: FixReport) {
    this.report = report;
  }
}

/** The error a fix ends with when the target still would not take the image (exit 7). */
function fixFailure(report: FixReport, forced: boolean): ProvenantError | undefined {
  const still = (report.after?.problems ?? [])
    .filter((p) => p.severity === 'refuses')
    .map((p) => p.rule)
    .join(', ');
  if (!report.written && report.unfixable.length === 0) {
    const held = report.heldAtDestination;
    return new ProvenantError('INCOMPATIBLE', `${report.target} would still refuse the fixed image (${still}); nothing was written`, {
      where: report.source.reference,
      hint:
        held.length === 0
          ? 'the fixes its refusals name do not satisfy them: see the account above; --force writes the result anyway'
          : `the destination already holds attachments of the same digests that ${report.target} refuses (${held.join(', ')}; ` +
            "the source's own, when it is the same repository), and fix deletes nothing there: " +
            'write to another repository, or remove them first; --force writes the result anyway',
    });
  }
  if (!report.written) {
    return new ProvenantError(
      'INCOMPATIBLE',
      `${report.target} refuses the image for a reason no change to it can fix; nothing was written`,
      {
        where: report.source.reference,
        hint: `${report.unfixable.map((p) => p.rule).join(', ')}: see the account above; ${forceWrites(report)}`,
      },
    );
  }
  if (report.after?.verdict === 'refused') {
    // Written all the same: forced, or refused for what the check before writing could not
    // foresee (see unforeseen), so that exit 7 here does not mean "nothing written" as above.
    const d = report.destination;
    const tags = d === undefined || d.tags.length === 0 ? '' : `, tagged ${d.tags.join(', ')}`;
    const at = d === undefined ? '' : `: it is written, as ${d.location}@${d.digest}${tags}`;
    return new ProvenantError('INCOMPATIBLE', `${report.target} refuses the fixed image as the destination holds it (${still})${at}`, {
      where: report.source.reference,
      hint: forced ? 'written because of --force; the account above says what it still refuses' : unforeseen(report),
    });
  }
  return undefined;
}

/**
 * What `--force` would write when a refusal has no fix: the other fixes, when there are any; else
 * the image as it is, which is said, since that is a copy (still refused), not a fix.
 */
function forceWrites(report: FixReport): string {
  if (report.applied.length > 0) {
    return `--force writes the other fixes anyway (${report.applied.map((a) => a.fix).join(', ')}), and ${report.target} still refuses the result`;
  }
  return `no other fix applies: --force would write a copy of the image as it is, which ${report.target} still refuses`;
}

/**
 * Why the written image is refused when the check before writing (of the fixed image with the
 * signatures to be made, and what the destination held of its digests) accepted it: a signature
 * stored where the fix did not plan it, or attachments of the same digests that reached the
 * destination after the check.
 */
function unforeseen(report: FixReport): string {
  const d = report.destination;
  if (d?.fixed !== undefined) {
    // Not attachments: the store keeps the image in a form of its own (a docker-archive's Docker
    // schema 2), which the check before writing, of the fixed image, did not see.
    return `${d.location} holds the fixed image ${d.fixed} in a form of its own, ${d.digest}, and that is what the target refuses: the account above says what; write to oci:DIR or oci-archive:FILE, which keep the fixed image as it is`;
  }
  const made = new Set<string>(report.signing.resigned.map((r) => r.signature));
  const refused = (report.after?.problems ?? []).filter((p) => p.severity === 'refuses').flatMap((p) => p.findings);
  const signatures = refused.filter((f) => f.digest !== undefined && made.has(f.digest)).map((f) => f.digest);
  if (signatures.length > 0) {
    return `the signatures this fix made (${signatures.join(', ')}) are stored where the target refuses them, not where the fix planned: see the account above`;
  }
  return 'the destination holds what it refuses, attached to the same digests, that was not there when the check before writing looked (written meanwhile by another writer?): the account above lists what it refuses; write to another repository, or remove them';
}
