/** `provenant blob REPO DIGEST`: one blob, checked against its digest, to standard output or a file. */
import { ProvenantError } from '../../errors.ts';
import { writeFileAtomic } from '../../io/files.ts';
import { parseDigest } from '../../oci/digest.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { outputFlag, positional, REGISTRY_FLAGS } from '../options.ts';
import { withStores } from '../stores.ts';

export const spec: CommandSpec = {
  summary: 'write a blob to standard output (or -o FILE), checked against its digest',
  usage: 'provenant blob REPO DIGEST [-o FILE]',
  prints: 'data',
  flags: { output: outputFlag('write to this file instead of standard output'), ...REGISTRY_FLAGS },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  const [text, digestText] = positional(args, 2, spec.usage) as [string, string];
  const digest = parseDigest(digestText, 'the DIGEST argument');
  const out = args.values.output as string | undefined;
  await withStores(args, io, [text], async (stores) => {
    const opened = await stores.open(text);
    const stat = await opened.store.statBlob(digest, { signal: io.signal });
    if (stat === undefined) throw new ProvenantError('NOT_FOUND', `blob ${digest} is not there`, { where: opened.store.location });
    const stream = await opened.store.readBlob(stat, { signal: io.signal });
    // A file is written under a temporary name and renamed only once the digest checked out.
    if (out === undefined || out === '-') {
      // A reader that went away (`| head -c N`) ends the download too.
      for await (const chunk of stream) {
        io.stdout.write(chunk);
        if (!(await io.stdout.flushed())) break;
      }
    } else await writeFileAtomic(out, stream, { signal: io.signal });
  });
}
