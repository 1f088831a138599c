/** `provenant tags REPO`: the tags of a registry repository, layout or archive. */
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { FORMAT_FLAG, formatOf, positional, REGISTRY_FLAGS, writeJson } from '../options.ts';
import { withStores } from '../stores.ts';
import { visibleLine } from '../visible.ts';

export const spec: CommandSpec = {
  summary: 'list the tags of a repository or layout',
  usage: 'provenant tags REPO',
  prints: 'result',
  flags: { format: FORMAT_FLAG, ...REGISTRY_FLAGS },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  const [text] = positional(args, 1, spec.usage) as [string];
  const format = formatOf(args);
  const tags = await withStores(args, io, [text], async (stores) =>
    (await stores.open(text)).store.listTags({ signal: io.signal, strict: true }),
  );
  if (format === 'json') writeJson(io, tags);
  // One tag a line, whatever it holds: a layout's tag is any string, a newline in it included.
  else io.stdout.write(tags.map((t) => `${visibleLine(t)}\n`).join(''));
}
