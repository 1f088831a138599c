/** `provenant build CONFIG.yaml`: a multi-arch image from an apko-style configuration, with its SBOMs and provenance. */
import { writeBuild } from '../../builder/build.ts';
import { formatLocation, parseLocation } from '../../ref/location.ts';
import type { ParsedArgs } from '../args.ts';
import { attestationsFor, COMPAT_FLAG, renderBuild, runBuild } from '../builder.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { CACHE_DIR_FLAG, FORMAT_FLAG, formatOf, positional, REGISTRY_FLAGS, sourceDateEpoch } from '../options.ts';
import { withStores } from '../stores.ts';

export const spec: CommandSpec = {
  summary: 'build a multi-arch image from an apko-style YAML configuration',
  usage:
    'provenant build CONFIG.yaml [-o oci:DIR[:TAG] | oci-archive:FILE | docker-archive:FILE | REGISTRY/REPO:TAG] [--arch ARCH]... [--lock FILE] [--compat apko]',
  flags: {
    output: { type: 'string', short: 'o', description: 'where to write the image (default oci:<config name>.oci:latest)' },
    arch: {
      type: 'string',
      multiple: true,
      description: "build only these architectures (apk or OCI names); default the config's archs",
    },
    lock: { type: 'string', description: 'build exactly the packages this lock file pins, resolving nothing' },
    'write-lock': { type: 'string', description: 'also write the lock of this build to FILE' },
    'cache-dir': CACHE_DIR_FLAG,
    compat: COMPAT_FLAG,
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
    ...REGISTRY_FLAGS,
  },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  const [configPath] = positional(args, 1, spec.usage) as [string];
  const format = formatOf(args);
  const outText = (args.values.output as string | undefined) ?? `oci:${configPath.replace(/\.ya?ml$/, '')}.oci:latest`;
  const epoch = sourceDateEpoch(io);
  const result = await runBuild(configPath, args, io, { sourceDateEpoch: epoch });
  const attestations = attestationsFor(result, args, io, { configPath, imageName: outText, sourceDateEpoch: epoch });
  const descriptor = await withStores(args, io, async (stores) => {
    const dst = await stores.open(outText, { write: true });
    return writeBuild(result, dst.store, dst.tags.length > 0 ? dst.tags : ['latest'], { attestations, signal: io.signal });
  });
  io.stdout.write(renderBuild(result, descriptor.digest, formatLocation(parseLocation(outText)), format));
}
