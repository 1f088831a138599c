/** `provenant inspect REF`: an image's manifests, platforms and everything attached to them. */
import { inspectImage } from '../../image/inspect.ts';
import { formatLocation, parseLocation } from '../../ref/location.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { FORMAT_FLAG, formatOf, positional, REGISTRY_FLAGS } from '../options.ts';
import { inspectJson, renderInspect } from '../render.ts';
import { withImage } from '../stores.ts';
import { warningLogger } from '../visible.ts';

export const spec: CommandSpec = {
  summary: 'show an image: its manifests, platforms and attached signatures, attestations and SBOMs',
  usage: 'provenant inspect REF [--raw] [--format json]',
  prints: 'result',
  flags: {
    raw: { type: 'boolean', description: 'print the exact stored bytes of the manifest or index' },
    format: FORMAT_FLAG,
    ...REGISTRY_FLAGS,
  },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  const [text] = positional(args, 1, spec.usage) as [string];
  const format = formatOf(args);
  const logger = warningLogger(io);
  const out = await withImage(args, io, text, async (store, target) => {
    if (args.values.raw) return (await store.getManifest(target, { signal: io.signal })).bytes;
    const result = await inspectImage(store, target, formatLocation(parseLocation(text)), { signal: io.signal, logger });
    if (format === 'text') return renderInspect(result);
    // buildx's Provenance and SBOM fields: the statements' predicates, whatever the storage.
    const { attestationSummaries } = await import('../../image/attestations.ts');
    const summaries = await attestationSummaries(store, result, { signal: io.signal, logger });
    return `${JSON.stringify({ ...(inspectJson(result) as object), ...summaries }, null, 2)}\n`;
  });
  io.stdout.write(out);
}
