/** `provenant verify REF...`: check an image's signatures with a key, a keyless identity, or a policy file. */
import { ProvenantError } from '../../errors.ts';
import type { PolicyReport } from '../../policy/evaluate.ts';
import { evaluatePolicies } from '../../policy/evaluate.ts';
import { loadPolicyFile } from '../../policy/load.ts';
import { formatPolicyReport } from '../../policy/report.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { FORMAT_FLAG, formatOf, REGISTRY_FLAGS } from '../options.ts';
import { policyTrust, reportedImageName } from '../policy-check.ts';
import { subjectOf } from '../signing.ts';
import { TRUST_FLAGS } from '../signing-flags.ts';
import { targetOf, withStores } from '../stores.ts';
import { warningLogger } from '../visible.ts';
import { verifyEach } from './verify-attestation.ts';

export const spec: CommandSpec = {
  summary: "verify an image's signatures (cosign 2 and 3) with a key, a keyless identity, or a policy file",
  usage:
    'provenant verify REF... (--key cosign.pub | --certificate-identity[-regexp] ID --certificate-oidc-issuer[-regexp] URL | --policy FILE) [-a key=value]... [--trusted-root FILE] [--format json]',
  prints: 'result',
  flags: {
    ...TRUST_FLAGS,
    annotations: {
      type: 'string',
      short: 'a',
      multiple: true,
      description: 'key=value the signed payload must carry (cosign sign -a writes them); every one given must match',
    },
    policy: { type: 'string', description: 'check each image against this policy file (ClusterImagePolicy YAML, docs/policy.md)' },
    format: FORMAT_FLAG,
    ...REGISTRY_FLAGS,
  },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  if (args.positionals.length === 0) throw new ProvenantError('USAGE', 'verify needs an image', { hint: `usage: ${spec.usage}` });
  const policyPath = args.values.policy as string | undefined;
  if (policyPath === undefined) return verifyEach(args, io, 'signature');
  // Every flag that says whom to trust, beside the policy's own; the trusted root and the platform
  // serve the policy too.
  const trustFlags = Object.keys(TRUST_FLAGS).filter((flag) => flag !== 'trusted-root' && flag !== 'platform');
  for (const flag of [...trustFlags, 'annotations']) {
    // A switch set to false (`--insecure-ignore-tlog=false`, or its variable) asks for nothing.
    const value = args.values[flag];
    if (value !== undefined && value !== false) {
      throw new ProvenantError('USAGE', `--policy names its own keys and identities; --${flag} cannot be given with it`);
    }
  }
  return verifyPolicy(args, io, policyPath);
}

/** Every image against the policy file: exit 0 only when every enforced rule holds for every image. */
async function verifyPolicy(args: ParsedArgs, io: CliIo, path: string): Promise<void> {
  const format = formatOf(args);
  const policies = await loadPolicyFile(path);
  const trust = await policyTrust(args, io);
  const reports: PolicyReport[] = [];
  const logger = warningLogger(io);
  // One withStores for every image: images of one layout are read through one store (stores.ts).
  await withStores(args, io, args.positionals, async (stores) => {
    for (const text of args.positionals) {
      const name = reportedImageName(text);
      const opened = await stores.open(text);
      const subject = await subjectOf(opened.store, await targetOf(opened), args, io.signal, warningLogger(io));
      // The index the image was picked from: BuildKit's statements in it, under its signature.
      const report = await evaluatePolicies(opened.store, subject.digest, name, policies, {
        ...trust,
        index: subject.root,
        signal: io.signal,
        logger,
      });
      reports.push(report);
      if (format === 'text') io.stdout.write(`${formatPolicyReport(report)}\n`);
    }
  });
  // A list even for one REF, as `policy test` prints it (docs/policy.md): one shape to read.
  if (format === 'json') io.stdout.write(`${JSON.stringify(reports, null, 2)}\n`);
  const failed = reports.filter((r) => !r.passed);
  if (failed.length > 0) {
    throw new ProvenantError('SIGNATURE', `${failed.map((r) => r.image).join(', ')} did not pass the policies of ${path}`, {
      hint: failed.flatMap((r) => r.failures).join('; '),
    });
  }
}
