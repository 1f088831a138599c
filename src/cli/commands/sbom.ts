/** `provenant sbom REF`: an image's SBOM, the attached one or one made from its package database. */
import { ProvenantError } from '../../errors.ts';
import { apkoSbomOfImage } from '../../image/apko-sbom.ts';
import { imageSbom } from '../../image/attestations.ts';
import { formatLocation, parseLocation } from '../../ref/location.ts';
import { VERSION } from '../../version.ts';
import type { ParsedArgs } from '../args.ts';
import { parseCompat } from '../builder.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { outputFlag, platformArg, positional, REGISTRY_FLAGS, sourceDateEpoch, writeData } from '../options.ts';
import { withImage } from '../stores.ts';
import { visibleLine, warningLogger } from '../visible.ts';

export const spec: CommandSpec = {
  summary: "print an image's SBOM: the attached one, or one made from its apk or dpkg database",
  usage: 'provenant sbom REF [--platform os/arch] [--type spdx|cyclonedx] [-o FILE] [--compat apko [--index] [--tag NAME:TAG]]',
  prints: 'data',
  flags: {
    output: outputFlag('write the SBOM to this file instead of standard output'),
    compat: {
      type: 'string',
      description: "apko: make the SBOM apko writes, from the image's files (byte for byte for an image apko built)",
    },
    index: { type: 'boolean', description: "with --compat apko: the index's SBOM (sbom-index.spdx.json)" },
    tag: { type: 'string', description: 'with --compat apko: the tag apko was given, which names the image in purls (default: image)' },
    platform: { type: 'string', description: 'which platform of an index (default the first)' },
    type: { type: 'string', description: 'spdx (SPDX 2.3 JSON, default) or cyclonedx (CycloneDX 1.6 JSON)' },
    ...REGISTRY_FLAGS,
  },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  const [text] = positional(args, 1, spec.usage) as [string];
  const type = (args.values.type as string | undefined) ?? 'spdx';
  if (type !== 'spdx' && type !== 'cyclonedx')
    throw new ProvenantError('USAGE', `--type must be spdx or cyclonedx, not ${JSON.stringify(type)}`);
  const platform = args.values.platform === undefined ? undefined : platformArg(args.values.platform as string);
  if (parseCompat(args.values.compat as string | undefined) === 'apko') {
    if (type !== 'spdx') throw new ProvenantError('USAGE', 'apko writes SPDX SBOMs only', { hint: 'leave out --type, or use --type spdx' });
    const apko = await withImage(args, io, text, (store, target) =>
      apkoSbomOfImage(store, target, formatLocation(parseLocation(text)), {
        platform,
        index: args.values.index === true,
        tag: args.values.tag as string | undefined,
        signal: io.signal,
        logger: warningLogger(io),
      }),
    );
    await writeData(io, args, apko.document);
    return;
  }
  const sbom = await withImage(args, io, text, (store, target) =>
    imageSbom(store, target, formatLocation(parseLocation(text)), {
      platform,
      format: type,
      toolVersion: VERSION,
      sourceDateEpoch: sourceDateEpoch(io),
      signal: io.signal,
      logger: warningLogger(io),
    }),
  );
  if (sbom.generated)
    io.stderr.write(`no ${type} SBOM attached to ${visibleLine(sbom.platform)}; made one from the image's package database\n`);
  // A document attested as text (cosign's `attest --type spdx`: tag-value, or JSON) is printed as
  // it was attested, byte for byte; an object as JSON.
  const out = typeof sbom.document === 'string' ? sbom.document : `${JSON.stringify(sbom.document, null, 2)}\n`;
  await writeData(io, args, out);
}
