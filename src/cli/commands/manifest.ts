/** `provenant manifest REF`: an image's manifest or index, byte for byte. */
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { IMAGE_PLATFORM_FLAG, outputFlag, platformEntry, positional, REGISTRY_FLAGS, writeData } from '../options.ts';
import { withImage } from '../stores.ts';
import { warningLogger } from '../visible.ts';

export const spec: CommandSpec = {
  summary: 'print the manifest or index of an image, byte for byte',
  usage: 'provenant manifest REF [--platform os/arch] [-o FILE]',
  prints: 'data',
  flags: { output: outputFlag('write to this file instead of standard output'), platform: IMAGE_PLATFORM_FLAG, ...REGISTRY_FLAGS },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  const [text] = positional(args, 1, spec.usage) as [string];
  const platform = args.values.platform as string | undefined;
  const stored = await withImage(args, io, text, async (store, target) => {
    const root = await store.getManifest(target, { signal: io.signal });
    return platform === undefined
      ? root
      : store.getManifest(platformEntry(root, platform, store.location, warningLogger(io)).digest, { signal: io.signal });
  });
  await writeData(io, args, stored.bytes);
}
