/** `provenant build CONFIG.yaml`: a multi-arch image from an apko-style configuration, with its SBOMs and provenance. */
import { writeBuild } from '../../builder/build.ts';
import { ProvenantError } from '../../errors.ts';
import { formatLocation } from '../../ref/location.ts';
import type { ParsedArgs } from '../args.ts';
import { attestationsFor, renderBuild, runBuild } from '../builder.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { CACHE_DIR_FLAG, FORMAT_FLAG, formatOf, outputFlag, positional, QUIET_FLAG, REGISTRY_FLAGS, sourceDateEpoch } from '../options.ts';
import { progressReporter } from '../progress.ts';
import { parseLocationOrPath, withStores } from '../stores.ts';

export const spec: CommandSpec = {
  summary: 'build a multi-arch image from an apko-style YAML configuration',
  usage:
    'provenant build CONFIG.yaml [-o oci:DIR[:TAG] | oci-archive:FILE | docker-archive:FILE | REGISTRY/REPO:TAG] [--platform linux/ARCH]... [--lock FILE]',
  prints: 'result',
  flags: {
    output: outputFlag('where to write the image (default oci:<config name>.oci:latest)'),
    platform: {
      type: 'string',
      multiple: true,
      description: 'build only these platforms, as buildx names them (linux/amd64, linux/arm64, linux/arm/v7, host)',
    },
    arch: {
      type: 'string',
      multiple: true,
      description: "build only these architectures (apk or OCI names); default the config's archs",
    },
    lock: { type: 'string', description: 'build exactly the packages this lock file pins, resolving nothing' },
    'write-lock': { type: 'string', description: 'also write the lock of this build to FILE' },
    'cache-dir': CACHE_DIR_FLAG,
    'layer-cache': {
      type: 'string',
      description: 'keep the compressed form of large files in the cache and reuse it: true (default) or false',
    },
    sbom: { type: 'string', description: 'attach SPDX and CycloneDX SBOMs: true (default) or false' },
    'sbom-files': { type: 'boolean', description: "list each package's files in the SBOMs" },
    provenance: {
      type: 'string',
      description: 'attach SLSA provenance: false, or mode=min|max and version=v1|v0.2, comma-separated (default mode=min,version=v1)',
    },
    attestations: { type: 'string', description: 'where attestations go: referrers (default), buildkit, cosign or none' },
    'builder-id': { type: 'string', description: "the provenance's builder id (default: the GitHub Actions workflow, else a local id)" },
    format: FORMAT_FLAG,
    quiet: QUIET_FLAG,
    ...REGISTRY_FLAGS,
  },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  const [configPath] = positional(args, 1, spec.usage) as [string];
  const format = formatOf(args);
  const outText = (args.values.output as string | undefined) ?? `oci:${configPath.replace(/\.ya?ml$/, '')}.oci:latest`;
  const out = parseLocationOrPath(outText);
  const epoch = sourceDateEpoch(io);
  const progress = progressReporter(io, { quiet: args.values.quiet === true });
  try {
    const result = await runBuild(configPath, args, io, {
      sourceDateEpoch: epoch,
      progress,
      // A docker-archive holds one image of one platform (`docker load` takes no index): say so
      // before anything is downloaded.
      check: (archs) => {
        if (out.kind === 'docker-archive' && archs.length > 1)
          throw new ProvenantError(
            'USAGE',
            `a docker-archive holds one platform's image, and this build makes ${archs.length} (${archs.join(', ')})`,
            {
              where: outText,
              hint: `choose one with --platform (e.g. --platform linux/amd64), or write all of them to oci:DIR or oci-archive:FILE`,
            },
          );
      },
    });
    let attestations = attestationsFor(result, args, io, { configPath, imageName: outText, sourceDateEpoch: epoch });
    // `docker load` takes one platform's manifest and nothing attached to it.
    const single = out.kind === 'docker-archive' && result.images[0] !== undefined;
    if (single && attestations !== undefined) {
      progress.message(`note: a docker-archive cannot hold SBOMs or provenance; write to oci:DIR or oci-archive:FILE to keep them`);
      attestations = undefined;
    }
    const written = single ? { ...result, index: result.images[0]!.manifest } : result;
    const descriptor = await withStores(args, io, async (stores) => {
      const dst = await stores.open(outText, { write: true });
      const tags = dst.tags.length > 0 ? dst.tags : ['latest'];
      return writeBuild(written, dst.store, tags, { attestations, signal: io.signal, onProgress: progress.update });
    });
    progress.finish();
    io.stdout.write(renderBuild(result, descriptor.digest, formatLocation(out), format));
  } finally {
    progress.finish();
  }
}
