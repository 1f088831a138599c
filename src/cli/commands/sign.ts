/** `provenant sign REF`: sign an image with a cosign key or keyless, where cosign 2 and cosign 3 look. */
import { formatLocation, parseLocation } from '../../ref/location.ts';
import { type SignatureStorage, signImage } from '../../sign/sign.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { FORMAT_FLAG, formatOf, parseBool, positional, REGISTRY_FLAGS, sourceDateEpoch } from '../options.ts';
import { dockerReferenceOf, parseAnnotations, renderSigned, signerFromFlags } from '../signing.ts';
import { SIGNING_FLAGS } from '../signing-flags.ts';
import { targetOf, withStores } from '../stores.ts';
import { warningLogger } from '../visible.ts';

export const spec: CommandSpec = {
  summary: "sign an image (index, or with --recursive each image too) with a cosign key or keyless, in cosign 2's and cosign 3's storage",
  usage: 'provenant sign REF (--key cosign.key | --identity-token TOKEN) [-a key=value]... [--recursive] [--new-bundle-format true|false]',
  prints: 'result',
  flags: {
    ...SIGNING_FLAGS,
    annotations: { type: 'string', short: 'a', multiple: true, description: 'an annotation key=value for the signed payload' },
    recursive: { type: 'boolean', description: 'also sign every image an index names' },
    'new-bundle-format': {
      type: 'string',
      description: "true: only cosign 3's bundle referrer; false: only cosign 2's .sig tag; default both",
    },
    'sign-container-identity': {
      type: 'string',
      description: 'the repository the payload names (default the registry repository; local/image for a layout or archive)',
    },
    format: FORMAT_FLAG,
    ...REGISTRY_FLAGS,
  },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  const [text] = positional(args, 1, spec.usage) as [string];
  const format = formatOf(args);
  const annotations = parseAnnotations((args.values.annotations as string[] | undefined) ?? []);
  const storages = storagesOf(args.values['new-bundle-format'] as string | undefined);
  const location = parseLocation(text);
  const name = formatLocation(location);
  const chosen = (await signerFromFlags(args, io, true))!;
  const epoch = sourceDateEpoch(io);
  const entries = await withStores(args, io, [text], async (stores) => {
    const opened = await stores.open(text, { write: true });
    return signImage(opened.store, await targetOf(opened), {
      signer: chosen.signer,
      dockerReference: dockerReferenceOf(location, args),
      annotations,
      storages,
      recursive: args.values.recursive === true,
      created: epoch === undefined ? undefined : new Date(epoch * 1000),
      signal: io.signal,
      // What a store passes over while listing the signatures there (a layout's manifest that cannot be read) is said here.
      logger: warningLogger(io),
    });
  });
  if (format === 'json') {
    io.stdout.write(`${JSON.stringify({ image: name, signer: chosen.label, entries }, null, 2)}\n`);
    return;
  }
  const added = entries.filter((e) => e.added).length;
  io.stdout.write(`signed ${name} with ${chosen.label}: ${added} signature(s) added, ${entries.length - added} already there\n`);
  io.stdout.write(renderSigned(entries));
}

/** cosign 3's `--new-bundle-format`: true writes the bundle only, false the `.sig` only; unset, both. */
function storagesOf(text: string | undefined): SignatureStorage[] {
  if (text === undefined) return ['cosign', 'referrers'];
  return parseBool(text, '--new-bundle-format') ? ['referrers'] : ['cosign'];
}
