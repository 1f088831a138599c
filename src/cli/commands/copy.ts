/** `provenant copy SRC DST`: an image and everything it references, between any two stores. */
import { ProvenantError } from '../../errors.ts';
import { copyImage } from '../../image/copy.ts';
import { hostPlatform } from '../../oci/platform.ts';
import { formatLocation } from '../../ref/location.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { FORMAT_FLAG, formatOf, platformArg, positional, QUIET_FLAG, REGISTRY_FLAGS, writeJson } from '../options.ts';
import { progressReporter } from '../progress.ts';
import { renderCopy, type TagWritten } from '../render.ts';
import { parseLocationOrPath, targetOf, withStores } from '../stores.ts';
import { warningLogger } from '../visible.ts';

export const spec: CommandSpec = {
  summary: 'copy an image with everything it references between any two stores',
  usage: 'provenant copy SRC DST [--platform os/arch]... [--with-referrers]',
  prints: 'result',
  flags: {
    platform: {
      type: 'string',
      multiple: true,
      description:
        'copy only these platforms of an index, or a single image only of one of them (all by default, this machine\'s to a docker-archive; "host" for this machine)',
    },
    'with-referrers': { type: 'boolean', description: 'bring signatures and attestations along (OCI referrers and cosign tags)' },
    concurrency: { type: 'string', description: 'parallel blob transfers (default 4)' },
    format: FORMAT_FLAG,
    quiet: QUIET_FLAG,
    ...REGISTRY_FLAGS,
  },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  const [srcText, dstText] = positional(args, 2, spec.usage) as [string, string];
  const format = formatOf(args);
  let platforms = ((args.values.platform as string[] | undefined) ?? []).flatMap((p) => p.split(',')).map(platformArg);
  const asked = platforms.length > 0;
  const toDockerArchive = parseLocationOrPath(dstText).kind === 'docker-archive';
  // A docker-archive holds one platform's image; like skopeo, take this machine's by default.
  if (!asked && toDockerArchive) platforms = [hostPlatform(process.arch)];
  const concurrency = args.values.concurrency === undefined ? 4 : Number(args.values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new ProvenantError('USAGE', '--concurrency must be a positive whole number');
  const dstName = formatLocation(parseLocationOrPath(dstText));
  const progress = progressReporter(io, { quiet: args.values.quiet === true, label: `copying to ${dstName}` });
  try {
    let tags: TagWritten[] = [];
    const result = await withStores(args, io, [srcText, dstText], async (stores) => {
      const src = await stores.open(srcText);
      const dst = await stores.open(dstText, { write: true });
      // What each tag named before, where that costs no request (a layout, an archive): a copy
      // that only moves a tag then says so rather than "nothing copied".
      const local = dst.store.registryRepository === undefined;
      tags = await Promise.all(
        dst.tags.map(async (tag) =>
          local ? { tag, before: (await dst.store.resolve(tag, { signal: io.signal }))?.digest ?? null } : { tag },
        ),
      );
      // Into a docker-archive, `digest` is the manifest the archive holds (Docker schema 2 of its
      // own, read back from its files), which `digest`, `docker load` and `copy` from it find.
      return copyImage(src.store, await targetOf(src), dst.store, {
        tags: dst.tags,
        digest: dst.digest,
        platforms,
        // Taken for a docker-archive rather than asked: a single image of another platform is
        // copied as it is (as skopeo copies one), not refused.
        platformsAreDefault: !asked,
        withReferrers: args.values['with-referrers'] === true,
        concurrency,
        signal: io.signal,
        onProgress: progress.update,
        logger: warningLogger(io),
      });
    });
    progress.finish();
    // A platform filter makes another digest: the source's signatures are not the copy's.
    const changed = result.changedFrom;
    if (changed !== undefined && changed.signatures > 0) {
      io.stderr.write(
        `warning: ${asked ? '--platform' : "taking this machine's platform (a docker-archive holds one)"} made the copy ${result.digest}, not the signed ${changed.digest}: its ${changed.signatures} signature(s) and attestation(s) do not cover the copy and were not copied${args.values['with-referrers'] === true || toDockerArchive ? '' : " (the copy's own come with --with-referrers)"}\n`,
      );
    }
    if (format === 'json') writeJson(io, { ...result, tags });
    else io.stdout.write(renderCopy(result, dstName, tags));
  } finally {
    progress.finish();
  }
}
