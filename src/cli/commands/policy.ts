/** `provenant policy test POLICY.yaml REF...`: whether images meet a ClusterImagePolicy file, per image and per authority. */
import { ProvenantError } from '../../errors.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import { unknownSubcommand } from '../help.ts';
import type { CliIo } from '../io.ts';
import { REGISTRY_FLAGS } from '../options.ts';
import { checkPolicies, POLICY_CHECK_FLAGS } from '../policy-check.ts';

const USAGE =
  'provenant policy test POLICY.yaml REF... [--platform OS/ARCH] [--trusted-root FILE] [--image-name NAME] [--no-match deny|warn|allow] [--format json]';

export const spec: CommandSpec = {
  summary: 'test images against a policy file (policy-controller ClusterImagePolicy, CEL conditions; exit 1 when a rule fails)',
  usage: USAGE,
  prints: 'result',
  flags: { ...POLICY_CHECK_FLAGS, ...REGISTRY_FLAGS },
  subcommands: {
    test: {
      summary: 'whether images meet a policy file, per image, policy and authority',
      usage: USAGE,
      flags: [...Object.keys(POLICY_CHECK_FLAGS), ...Object.keys(REGISTRY_FLAGS)],
    },
  },
  // 1 is the answer "a rule does not hold"; an error that would exit 1 exits 2.
  errorExitCodes: { 1: 2 },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<number> {
  const [sub, policyFile, ...refs] = args.positionals;
  if (sub === undefined) throw new ProvenantError('USAGE', 'policy needs a subcommand', { hint: `usage: ${USAGE}` });
  // A typo gets the closest subcommand, as apk's and help's do.
  if (sub !== 'test') throw await unknownSubcommand('policy', spec, sub);
  if (policyFile === undefined || refs.length === 0) {
    throw new ProvenantError('USAGE', 'policy test needs a policy file and at least one image', { hint: `usage: ${USAGE}` });
  }
  return checkPolicies(args, io, policyFile, refs);
}
