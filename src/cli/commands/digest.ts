/** `provenant digest REF`: the digest of an image's manifest or index. */
import { ProvenantError } from '../../errors.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { FORMAT_FLAG, formatOf, positional, REGISTRY_FLAGS, writeJson } from '../options.ts';
import { signalFor, withImage } from '../stores.ts';

export const spec: CommandSpec = {
  summary: 'print the digest of an image',
  usage: 'provenant digest REF',
  prints: 'result',
  flags: { format: FORMAT_FLAG, ...REGISTRY_FLAGS },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  const [text] = positional(args, 1, spec.usage) as [string];
  const format = formatOf(args);
  const digest = await withImage(args, io, text, async (store, target) => {
    const d = await store.resolve(target, signalFor(io, store));
    if (d === undefined) throw new ProvenantError('NOT_FOUND', `${target} is not there`, { where: store.location });
    return d.digest;
  });
  if (format === 'json') writeJson(io, { digest });
  else io.stdout.write(`${digest}\n`);
}
