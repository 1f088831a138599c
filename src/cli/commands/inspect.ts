/** `provenant inspect REF`: an image's manifests, platforms, configs and everything attached to them. */
import { ProvenantError } from '../../errors.ts';
import { configOf, inspectImage } from '../../image/inspect.ts';
import type { StoredIndex } from '../../oci/content.ts';
import { formatPlatform, normalizePlatform } from '../../oci/platform.ts';
import { formatLocation, parseLocation } from '../../ref/location.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { FORMAT_FLAG, formatOf, IMAGE_PLATFORM_FLAG, platformEntry, positional, REGISTRY_FLAGS } from '../options.ts';
import { digestName, inspectJson, renderInspect } from '../render.ts';
import { withImage } from '../stores.ts';
import { warningLogger } from '../visible.ts';

export const spec: CommandSpec = {
  summary: 'show an image: its manifests, platforms, configs, layers and attached signatures, attestations and SBOMs',
  usage: 'provenant inspect REF [--platform os/arch] [--raw | --config] [--format json]',
  prints: 'result',
  flags: {
    raw: { type: 'boolean', description: 'print the exact stored bytes of the manifest or index' },
    config: {
      type: 'boolean',
      description:
        "print the exact stored bytes of the image's config (of an index: with --platform), as skopeo inspect --config --raw does",
    },
    platform: IMAGE_PLATFORM_FLAG,
    format: FORMAT_FLAG,
    ...REGISTRY_FLAGS,
  },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  const [text] = positional(args, 1, spec.usage) as [string];
  const format = formatOf(args);
  const platform = args.values.platform as string | undefined;
  const logger = warningLogger(io);
  const out = await withImage(args, io, text, async (store, target) => {
    let name = formatLocation(parseLocation(text));
    if (platform !== undefined) {
      const { digest } = platformEntry(await store.getManifest(target, { signal: io.signal }), platform, store.location);
      target = digest;
      name = digestName(name, digest);
    }
    if (args.values.config) {
      const stored = await store.getManifest(target, { signal: io.signal });
      if (stored.kind === 'index') throw oneImageOnly(stored, store.location);
      return configOf(store, stored, { signal: io.signal });
    }
    if (args.values.raw) return (await store.getManifest(target, { signal: io.signal })).bytes;
    const result = await inspectImage(store, target, name, { signal: io.signal, logger, details: true });
    if (format === 'text') return renderInspect(result);
    // buildx's Provenance and SBOM fields: the statements' predicates, whatever the storage.
    const { attestationSummaries } = await import('../../image/attestations.ts');
    const summaries = await attestationSummaries(store, result, { signal: io.signal, logger });
    return `${JSON.stringify({ ...(inspectJson(result) as object), ...summaries }, null, 2)}\n`;
  });
  io.stdout.write(out);
}

/** `--config` of an index: which image's config is not for inspect to guess, so it lists the platforms to pick from. */
function oneImageOnly(index: StoredIndex, where: string): ProvenantError {
  const platforms = index.index.manifests.flatMap((m) => (m.platform === undefined ? [] : [formatPlatform(normalizePlatform(m.platform))]));
  return new ProvenantError('USAGE', '--config prints the config of one image, and this is an index', {
    where: `${where}@${index.digest}`,
    hint: `pick its image with --platform: ${platforms.filter((p) => p !== 'unknown/unknown').join(', ') || '(it lists no platforms)'}`,
  });
}
