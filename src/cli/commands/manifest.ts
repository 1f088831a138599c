/** `provenant manifest REF`: an image's manifest or index, byte for byte. */
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { positional, REGISTRY_FLAGS } from '../options.ts';
import { targetOf, withStores } from '../stores.ts';

export const spec: CommandSpec = {
  summary: 'print the manifest or index of an image, byte for byte',
  usage: 'provenant manifest REF',
  flags: { ...REGISTRY_FLAGS },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  const [text] = positional(args, 1, spec.usage) as [string];
  const stored = await withStores(args, io, async (stores) => {
    const opened = await stores.open(text);
    return opened.store.getManifest(await targetOf(opened), { signal: io.signal });
  });
  io.stdout.write(stored.bytes);
}
