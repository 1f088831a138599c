/** `provenant digest REF`: the digest of an image's manifest or index. */
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { FORMAT_FLAG, formatOf, IMAGE_PLATFORM_FLAG, platformEntry, positional, REGISTRY_FLAGS, writeJson } from '../options.ts';
import { resolvedDigest, signalFor, withImage } from '../stores.ts';
import { warningLogger } from '../visible.ts';

export const spec: CommandSpec = {
  summary: 'print the digest of an image',
  usage: 'provenant digest REF [--platform os/arch]',
  prints: 'result',
  flags: { platform: IMAGE_PLATFORM_FLAG, format: FORMAT_FLAG, ...REGISTRY_FLAGS },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  const [text] = positional(args, 1, spec.usage) as [string];
  const format = formatOf(args);
  const platform = args.values.platform as string | undefined;
  const digest = await withImage(args, io, text, async (store, target) => {
    // The index is read only for --platform: the digest alone is one HEAD (or an index.json entry).
    if (platform !== undefined)
      return platformEntry(await store.getManifest(target, { signal: io.signal }), platform, store.location, warningLogger(io)).digest;
    return resolvedDigest(store, target, signalFor(io, store), `${target} is not there`, store.location);
  });
  if (format === 'json') writeJson(io, { digest });
  else io.stdout.write(`${digest}\n`);
}
