/** `provenant diff A B`: what differs between two images in any two stores; exits 0 identical, 1 different, 2 or more on trouble. */
import { diffImages } from '../../image/diff.ts';
import { renderDiff } from '../../image/diff-render.ts';
import { formatLocation, parseLocation } from '../../ref/location.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { FORMAT_FLAG, formatOf, platformArg, positional, REGISTRY_FLAGS } from '../options.ts';
import { targetOf, withStores } from '../stores.ts';
import { warningLogger } from '../visible.ts';

export const spec: CommandSpec = {
  summary: 'compare two images: packages, files, config, layers, attachments and provenance (exit 1 when they differ)',
  usage: 'provenant diff A B [--platform os/arch] [--text-diff] [--ignore-timestamps] [--format json]',
  prints: 'result',
  flags: {
    platform: {
      type: 'string',
      description: 'compare only this platform of each, and exit 0 when it is identical (default: every platform both have)',
    },
    'text-diff': { type: 'boolean', description: 'a unified diff of changed text files of 64 KiB or less' },
    'ignore-timestamps': {
      type: 'boolean',
      description:
        'for rebuilds at another SOURCE_DATE_EPOCH: leave out file times, created times and sourceDateEpoch, and take images that differ only there as identical',
    },
    format: FORMAT_FLAG,
    ...REGISTRY_FLAGS,
  },
  // As diff(1): 1 means "they differ", so an error that would exit 1 exits 2.
  errorExitCodes: { 1: 2 },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<number> {
  const [textA, textB] = positional(args, 2, spec.usage) as [string, string];
  const format = formatOf(args);
  const platform = args.values.platform === undefined ? undefined : platformArg(args.values.platform as string);
  const diff = await withStores(args, io, [textA, textB], async (stores) => {
    const a = await stores.open(textA);
    const b = await stores.open(textB);
    return diffImages(
      { store: a.store, target: await targetOf(a), name: formatLocation(parseLocation(textA)) },
      { store: b.store, target: await targetOf(b), name: formatLocation(parseLocation(textB)) },
      {
        platform,
        textDiff: args.values['text-diff'] === true,
        ignoreTimestamps: args.values['ignore-timestamps'] === true,
        signal: io.signal,
        // What each store passes over while listing referrers (a layout's manifest that cannot be read) is said here.
        logger: warningLogger(io),
      },
    );
  });
  io.stdout.write(format === 'json' ? `${JSON.stringify(diff, null, 2)}\n` : renderDiff(diff));
  return diff.identical ? 0 : 1;
}
