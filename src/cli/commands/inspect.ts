/** `provenant inspect REF`: an image's manifests, platforms, configs and everything attached to them. */
import { ProvenantError } from '../../errors.ts';
import { CONFIG_BYTES_LIMIT, readConfigBytes } from '../../image/image-config.ts';
import { inspectImage } from '../../image/inspect.ts';
import type { StoredIndex } from '../../oci/content.ts';
import { formatLocation, parseLocation } from '../../ref/location.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { FORMAT_FLAG, formatOf, IMAGE_PLATFORM_FLAG, platformEntry, platformList, positional, REGISTRY_FLAGS } from '../options.ts';
import { digestName, inspectJson, renderInspect } from '../render.ts';
import { withImage } from '../stores.ts';
import { warningLogger } from '../visible.ts';

export const spec: CommandSpec = {
  summary: 'show an image: its manifests, platforms, configs, layers and attached signatures, attestations and SBOMs',
  usage: 'provenant inspect REF [--platform os/arch] [--raw | --config] [--format json]',
  prints: 'result',
  flags: {
    raw: {
      type: 'boolean',
      description: 'print the exact stored bytes of the manifest or index (--format, or PROVENANT_FORMAT, does not change them)',
    },
    config: {
      type: 'boolean',
      description:
        "print the exact stored bytes of the image's config (of an index: with --platform), as skopeo inspect --config --raw does; not with --raw; --format, or PROVENANT_FORMAT, does not change them",
    },
    platform: IMAGE_PLATFORM_FLAG,
    format: FORMAT_FLAG,
    ...REGISTRY_FLAGS,
  },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  const [text] = positional(args, 1, spec.usage) as [string];
  const platform = args.values.platform as string | undefined;
  // Both print stored bytes, of two different blobs; neither is a document --format could shape.
  if (args.values.config && args.values.raw) {
    throw new ProvenantError('USAGE', '--raw prints the manifest and --config the config: give one of them', {
      hint: `usage: ${spec.usage}`,
    });
  }
  // --format is checked (a format no command knows is refused, as without them) but not refused
  // beside them: PROVENANT_FORMAT=json is every command's default, and args.ts cannot tell it
  // from the flag; the bytes are printed as they are.
  const asked = formatOf(args);
  const format = args.values.config || args.values.raw ? 'text' : asked;
  const logger = warningLogger(io);
  const out = await withImage(args, io, text, async (store, target) => {
    let name = formatLocation(parseLocation(text));
    let parent: StoredIndex | undefined;
    if (platform !== undefined) {
      const root = await store.getManifest(target, { signal: io.signal });
      const { digest } = platformEntry(root, platform, store.location, logger);
      // Its BuildKit attestations are entries of this index: inspect reads them there.
      if (root.kind === 'index') parent = root;
      target = digest;
      name = digestName(name, digest);
    }
    if (args.values.config) {
      const stored = await store.getManifest(target, { signal: io.signal });
      if (stored.kind === 'index') {
        throw new ProvenantError('USAGE', '--config prints the config of one image, and this is an index', {
          where: `${store.location}@${stored.digest}`,
          hint: `pick its image with --platform: ${platformList(stored)}`,
        });
      }
      const { config } = stored.manifest;
      return readConfigBytes(store, config, `${store.location}@${config.digest}`, { signal: io.signal, limit: CONFIG_BYTES_LIMIT });
    }
    if (args.values.raw) return (await store.getManifest(target, { signal: io.signal })).bytes;
    const result = await inspectImage(store, target, name, {
      signal: io.signal,
      logger,
      details: true,
      ...(parent === undefined ? {} : { parent }),
    });
    if (format === 'text') return renderInspect(result);
    // buildx's Provenance and SBOM fields: the statements' predicates, whatever the storage.
    const { attestationSummaries } = await import('../../image/attestations.ts');
    const summaries = await attestationSummaries(store, result, { signal: io.signal, logger });
    return `${JSON.stringify({ ...(inspectJson(result) as object), ...summaries }, null, 2)}\n`;
  });
  io.stdout.write(out);
}
