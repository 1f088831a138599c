/**
 * Checking images against a policy file from the command line: what `provenant policy test`
 * does, and what `verify --policy` can share. Each image is resolved in its store and evaluated
 * with the library (src/policy), and its report printed; the exit status says whether every
 * enforced rule of every image holds.
 */
import { ProvenantError } from '../errors.ts';
import { type EvaluateOptions, evaluatePolicies, type PolicyReport } from '../policy/evaluate.ts';
import { loadPolicyFile } from '../policy/load.ts';
import { formatPolicyReport } from '../policy/report.ts';
import { formatLocation, parseLocation } from '../ref/location.ts';
import { publicGoodTrustedRoot, type TrustedRoot } from '../sign/trust.ts';
import type { FlagSpec, ParsedArgs } from './args.ts';
import type { CliIo } from './io.ts';
import { FORMAT_FLAG, formatOf } from './options.ts';
import { readTrustedRoot, signalOf, subjectOf } from './signing.ts';
import { resolvedDigest, targetOf, withStores } from './stores.ts';
import { warningLogger } from './visible.ts';

/** The flags of a policy check (besides the registry's). */
export const POLICY_CHECK_FLAGS: Record<string, FlagSpec> = {
  'trusted-root': {
    type: 'string',
    description:
      "Sigstore trusted root JSON (Fulcio CAs, Rekor and CT logs, timestamp authorities) for every authority; default Sigstore's public-good root for keyless and ctlog, none for a key",
  },
  'image-name': {
    type: 'string',
    description:
      "match the globs against this name instead of REF (one REF only): an image in a layout tested as the registry will name it; a tag is resolved to the image's digest, as policy-controller does",
  },
  platform: {
    type: 'string',
    description:
      'test this platform image of an index (os/arch[/variant]) instead of the index, with the statements the index lists for it',
  },
  'no-match': {
    type: 'string',
    description:
      "an image no policy covers: policy-controller's no-match-policy deny (default), warn or allow; fail and pass are deny's and allow's other names",
  },
  format: FORMAT_FLAG,
};

/**
 * The trusted roots of a policy check, the same for `policy test` and `verify --policy`:
 * `--trusted-root FILE` for every authority when given; else Sigstore's public-good root (as
 * @sigstore/tuf embeds it) for keyless authorities and `ctlog`, and none for a key authority
 * without `ctlog`, whose signatures' log entries are then not checked: as `verify --key` without
 * `--trusted-root`, and as policy-controller, which skips the log for such an authority.
 */
export async function policyTrust(
  args: ParsedArgs,
  io: Pick<CliIo, 'signal'>,
): Promise<Pick<EvaluateOptions, 'trustedRoot' | 'defaultTrustedRoot'>> {
  const given = await trustedRootArg(args, io);
  if (given !== undefined) return { trustedRoot: given };
  return { defaultTrustedRoot: (await publicGoodTrustedRoot()).root };
}

/** Reads `--trusted-root FILE`, when given; a wait on a named pipe ends on the command's signal. */
export async function trustedRootArg(args: ParsedArgs, io: Pick<CliIo, 'signal'>): Promise<TrustedRoot | undefined> {
  const path = args.values['trusted-root'] as string | undefined;
  return path === undefined ? undefined : readTrustedRoot(path, signalOf(io));
}

/** `--no-match`, in policy-controller's words (`deny`, `warn`, `allow`) or Provenant's (`fail`, `pass`). */
const NO_MATCH: Record<string, NonNullable<EvaluateOptions['noMatch']>> = {
  deny: 'fail',
  fail: 'fail',
  warn: 'warn',
  allow: 'pass',
  pass: 'pass',
};

function noMatchArg(args: ParsedArgs): EvaluateOptions['noMatch'] {
  const v = (args.values['no-match'] as string | undefined) ?? 'deny';
  const mode = Object.hasOwn(NO_MATCH, v) ? NO_MATCH[v] : undefined;
  if (mode === undefined) throw new ProvenantError('USAGE', `--no-match must be deny, warn or allow (or fail, pass), not "${v}"`);
  return mode;
}

/**
 * Evaluates the policies of `policyFile` for each image of `refs` and prints the reports (text,
 * or with `--format json` a list of PolicyReport, one per image). Returns 0 when every enforced
 * rule holds for every image, else 1.
 *
 * @throws ProvenantError what loading the policy throws (`INVALID_CONFIG` at its place), what
 *   opening the stores throws (`NOT_FOUND`, ...), `USAGE` for bad flags
 */
export async function checkPolicies(args: ParsedArgs, io: CliIo, policyFile: string, refs: readonly string[]): Promise<number> {
  const format = formatOf(args);
  const noMatch = noMatchArg(args);
  const policies = await loadPolicyFile(policyFile);
  const trust = await policyTrust(args, io);
  const imageName = args.values['image-name'] as string | undefined;
  if (imageName !== undefined && refs.length !== 1)
    throw new ProvenantError('USAGE', '--image-name names one image, and there are several');
  const logger = warningLogger(io);
  const reports = await withStores(args, io, refs, async (stores) => {
    const out: PolicyReport[] = [];
    for (const text of refs) {
      const opened = await stores.open(text);
      const target = await targetOf(opened);
      const digest = await resolvedDigest(
        opened.store,
        target,
        { signal: io.signal },
        `${target} is not in ${opened.store.location}`,
        text,
      );
      // With --platform, that image of the index; the index goes along, for the BuildKit
      // statements it lists under its signature.
      const subject = await subjectOf(opened.store, digest, args, io.signal, warningLogger(io));
      out.push(
        await evaluatePolicies(opened.store, subject.digest, imageName ?? reportedImageName(text), policies, {
          ...trust,
          noMatch,
          index: subject.root,
          signal: io.signal,
          logger,
        }),
      );
    }
    return out;
  });
  io.stdout.write(format === 'json' ? `${JSON.stringify(reports, null, 2)}\n` : `${reports.map(formatPolicyReport).join('\n\n')}\n`);
  return reports.every((r) => r.passed) ? 0 : 1;
}

/**
 * The name the CLI gives evaluatePolicies (and its report shows) for the image `text` names: a
 * registry's as every command spells it, which the library's policyImageName then canonicalizes
 * as policy-controller does; a store location as typed (docs/policy.md), not with its
 * docker-archive NAME made a Docker Hub name.
 */
export function reportedImageName(text: string): string {
  const location = parseLocation(text);
  return location.kind === 'registry' ? formatLocation(location) : text;
}
