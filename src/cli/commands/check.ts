/** `provenant check REF --target T[,T...]`: would these registries and runtimes take the image, and if not, why and what fixes it. */
import { checkImage } from '../../compat/check.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import { refusedError, renderCheck, targetsFrom } from '../compat.ts';
import { PROFILES_FLAG, TARGET_FLAG } from '../compat-flags.ts';
import type { CliIo } from '../io.ts';
import { FORMAT_FLAG, formatOf, parseBool, positional, REGISTRY_FLAGS } from '../options.ts';
import { withImage } from '../stores.ts';

export const spec: CommandSpec = {
  summary: 'say whether registries and runtimes would take an image: each problem, the error they give, why, and the fix',
  usage: 'provenant check REF --target T[,T...] [--format json]',
  prints: 'result',
  flags: {
    target: TARGET_FLAG,
    probe: {
      type: 'string',
      description:
        "ask the image's registry whether it has the referrers API: true (default) or false. The answer is taken for a registry target whose profile does not know; where a profile knows, its fact stands and a differing answer is noted beside it",
    },
    profiles: PROFILES_FLAG,
    format: FORMAT_FLAG,
    ...REGISTRY_FLAGS,
  },
};

/** Prints the check; exits 7 (INCOMPATIBLE) when a target would refuse the image, 0 otherwise, warnings or not. */
export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  const [text] = positional(args, 1, spec.usage) as [string];
  const format = formatOf(args);
  const probe = parseBool((args.values.probe as string | undefined) ?? 'true', '--probe');
  // Targets first: a typo should not cost a registry round trip.
  const { targets } = await targetsFrom(args, { required: true });
  const report = await withImage(args, io, text, (store, target) =>
    checkImage(store, target, targets, { reference: text, probe: probe ? 'auto' : false, signal: io.signal }),
  );
  io.stdout.write(format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderCheck(report));
  const refused = refusedError(report);
  if (refused !== undefined) throw refused;
}
