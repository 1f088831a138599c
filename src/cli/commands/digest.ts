/** `provenant digest REF`: the digest of an image's manifest or index. */
import { ProvenantError } from '../../errors.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { positional, REGISTRY_FLAGS } from '../options.ts';
import { targetOf, withStores } from '../stores.ts';

export const spec: CommandSpec = {
  summary: 'print the digest of an image',
  usage: 'provenant digest REF',
  flags: { ...REGISTRY_FLAGS },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  const [text] = positional(args, 1, spec.usage) as [string];
  const digest = await withStores(args, io, async (stores) => {
    const opened = await stores.open(text);
    const target = await targetOf(opened);
    const d = await opened.store.resolve(target, { signal: io.signal });
    if (d === undefined) throw new ProvenantError('NOT_FOUND', `${target} is not there`, { where: opened.store.location });
    return d.digest;
  });
  io.stdout.write(`${digest}\n`);
}
