/**
 * `provenant attest REF --predicate FILE --type URI`: one more statement on every platform image
 * of an image and, in referrers and cosign storage, on the index REF names, signed with --key or
 * keyless; with --platform on that platform's image alone.
 */
import { readFile } from 'node:fs/promises';
import { cosignCustomPredicate, isInIndexMode, parseAttestationMode } from '../../attest/storage.ts';
import { ProvenantError } from '../../errors.ts';
import { attachPredicate, parsePredicate } from '../../image/attach.ts';
import type { Digest } from '../../oci/digest.ts';
import { formatPlatform, normalizePlatform } from '../../oci/platform.ts';
import { formatLocation, type Location, parseLocation } from '../../ref/location.ts';
import { statementImageName } from '../../ref/reference.ts';
import { PREDICATE_TYPES, parsePredicateType } from '../../sign/payload.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { FORMAT_FLAG, formatOf, positional, REGISTRY_FLAGS, sourceDateEpoch, writeJson } from '../options.ts';
import { dockerReferenceOf, imageEntry, renderSigned, signerFromFlags } from '../signing.ts';
import { SIGNING_FLAGS } from '../signing-flags.ts';
import { targetOf, withStores } from '../stores.ts';
import { warningLogger } from '../visible.ts';

export const spec: CommandSpec = {
  summary: "attach an in-toto attestation (a predicate file) to an image's index and platform images, signed with --key or keyless",
  usage:
    'provenant attest REF --predicate FILE --type URI [--platform os/arch] [--attestations referrers|cosign|buildkit|buildkit-artifact] [--replace] [--key cosign.key | --sign [--identity-token TOKEN]]',
  prints: 'result',
  flags: {
    predicate: {
      type: 'string',
      description:
        'the predicate, a file of a JSON object (with --type spdx an SPDX document, tag-value too, kept as text; with --type custom any text, which cosign wraps with the time)',
    },
    type: {
      type: 'string',
      description: 'the predicate type URI (e.g. https://slsa.dev/provenance/v1, or spdx, cyclonedx, slsaprovenance)',
    },
    platform: {
      type: 'string',
      description:
        "attest only the image of this platform in an index (os/arch[/variant], or host), not the index nor its other platforms: for a predicate about one platform's build (its provenance, SBOM or scan)",
    },
    attestations: {
      type: 'string',
      description:
        "where to store it: referrers (default; signed: a Sigstore bundle), cosign (signed only: the .att tag), or in the index (rewritten and retagged; unsigned there, and the new index is signed) as buildkit (BuildKit's legacy form) or buildkit-artifact (its 0.32 OCI-artifact form)",
    },
    replace: {
      type: 'boolean',
      description:
        "replace the attestations of this predicate type there instead of adding one, as cosign's --replace: in the .att tag (cosign) and in the index (buildkit, buildkit-artifact); referrers once pushed stay (a warning counts them)",
    },
    sign: { type: 'boolean', description: 'sign the statements: with --key, else keyless' },
    ...SIGNING_FLAGS,
    format: FORMAT_FLAG,
    ...REGISTRY_FLAGS,
  },
};

/**
 * The name the statements give the image: a registry's by its repository without the tag or
 * digest REF names it by (statementImageName), as `build` names a registry output and cosign's
 * `attest` names one, so attaching through another tag of the image gives the same statement; a
 * layout's or an archive's by its path alone, for the same reason (`build` names a local output
 * after its configuration instead: attest has no configuration to name it by).
 */
export function subjectName(location: Location): string {
  return location.kind === 'registry' ? statementImageName(location.reference) : `${location.kind}:${location.path}`;
}

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  const [text] = positional(args, 1, spec.usage) as [string];
  const format = formatOf(args);
  const predicatePath = args.values.predicate as string | undefined;
  const typeText = args.values.type as string | undefined;
  if (predicatePath === undefined || typeText === undefined)
    throw new ProvenantError('USAGE', 'attest needs --predicate FILE and --type URI');
  // cosign's short names (spdx, cyclonedx, slsaprovenance, ...) or a URI.
  const predicateType = parsePredicateType(typeText);
  let predicate: unknown;
  let predicateText: string;
  try {
    predicateText = await readFile(predicatePath, 'utf8');
  } catch (err) {
    // A file that is not there is NOT_FOUND (exit 3), as for every command.
    const code = (err as { code?: unknown }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new ProvenantError('NOT_FOUND', `the predicate ${predicatePath} does not exist`, { where: predicatePath, cause: err });
    }
    throw new ProvenantError('IO', `cannot read the predicate ${predicatePath}: ${(err as Error).message}`, {
      where: predicatePath,
      cause: err,
    });
  }
  const epoch = sourceDateEpoch(io);
  if (predicateType === PREDICATE_TYPES.custom) {
    // As cosign: the file's text wrapped with the time, whatever it holds.
    predicate = cosignCustomPredicate(predicateText, epoch === undefined ? new Date() : new Date(epoch * 1000));
  } else if (typeText === 'spdx') {
    // As cosign's `spdx` (generateSPDXStatement with parseJSON false): the document's text as a
    // string predicate, tag-value or JSON alike; `spdxjson` is the one read as a JSON object.
    predicate = predicateText;
  } else {
    predicate = parsePredicate(predicateText, predicatePath);
  }
  const mode = parseAttestationMode((args.values.attestations as string | undefined) ?? 'referrers');
  const location = parseLocation(text);
  const name = formatLocation(location);
  const subject = subjectName(location);
  const chosen = await signerFromFlags(args, io, args.values.sign === true);
  if (chosen === undefined && mode === 'cosign') {
    throw new ProvenantError('USAGE', 'cosign storage holds signed attestations: sign with --key FILE, or --sign for keyless');
  }
  const platform = args.values.platform as string | undefined;
  let picked: string | undefined;
  const result = await withStores(args, io, [text], async (stores) => {
    const opened = await stores.open(text, { write: true });
    const target = await targetOf(opened);
    const tags = opened.tags.length > 0 ? opened.tags : undefined;
    let image: Digest | undefined;
    if (platform !== undefined) {
      // The same parser and match as inspect's, digest's and manifest's --platform.
      const entry = imageEntry(
        await opened.store.getManifest(target, { signal: io.signal }),
        platform,
        opened.store.location,
        'attest',
        warningLogger(io),
      );
      image = entry.digest;
      // platformEntry matches only entries that name a platform.
      picked = formatPlatform(normalizePlatform(entry.platform!));
    }
    return attachPredicate(opened.store, target, {
      image,
      predicateType,
      predicate,
      name: subject,
      mode,
      tags,
      signer: chosen?.signer,
      dockerReference: dockerReferenceOf(location, args),
      created: epoch === undefined ? undefined : new Date(epoch * 1000),
      replace: args.values.replace === true,
      signal: io.signal,
      // What a store passes over while listing referrers (a layout's manifest that cannot be read) is said here.
      logger: warningLogger(io),
    });
  });
  const how =
    chosen === undefined
      ? 'unsigned'
      : isInIndexMode(mode)
        ? `unsigned in the index, and the new index signed with ${chosen.label}`
        : `signed with ${chosen.label}`;
  if (format === 'json') {
    writeJson(io, { name, ...result });
    return;
  }
  const what =
    picked !== undefined
      ? `the ${picked} image`
      : result.index === undefined
        ? `${result.images.length} image(s)`
        : `the index and its ${result.images.length} platform image(s)`;
  io.stdout.write(`attached ${predicateType} to ${what} of ${name} (${mode}, ${how})\n`);
  const replaced = (result.signed ?? []).reduce((n, e) => n + (e.replaced ?? 0), 0);
  if (replaced > 0) io.stdout.write(`replaced ${replaced} attestation(s) of ${predicateType} that were there\n`);
  if (result.signed !== undefined) io.stdout.write(renderSigned(result.signed));
}
