/** `provenant attest`: one more statement on every platform image of an existing image. */
import { readFile } from 'node:fs/promises';
import { parseAttestationMode, statement, storeAttestations } from '../attest/storage.ts';
import { ProvenantError } from '../errors.ts';
import { inspectImage } from '../image/inspect.ts';
import type { Stored } from '../oci/content.ts';
import { formatLocation, parseLocation } from '../ref/location.ts';
import type { OpenedStore } from '../store/open.ts';
import type { ParsedArgs } from './args.ts';

/** cosign's short names for predicate types. */
const SHORT_TYPES: Record<string, string> = {
  spdx: 'https://spdx.dev/Document',
  spdxjson: 'https://spdx.dev/Document',
  cyclonedx: 'https://cyclonedx.org/bom',
  slsaprovenance: 'https://slsa.dev/provenance/v0.2',
  slsaprovenance1: 'https://slsa.dev/provenance/v1',
  vuln: 'https://cosign.sigstore.dev/attestation/vuln/v1',
};

/** Runs `attest`; returns what to print. */
export async function runAttest(
  text: string,
  args: ParsedArgs,
  open: (text: string, write: boolean) => Promise<OpenedStore>,
): Promise<string> {
  const predicatePath = args.values.predicate as string | undefined;
  const typeText = args.values.type as string | undefined;
  if (predicatePath === undefined || typeText === undefined)
    throw new ProvenantError('USAGE', 'attest needs --predicate FILE and --type URI');
  const predicateType = SHORT_TYPES[typeText] ?? typeText;
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(predicateType)) {
    throw new ProvenantError(
      'USAGE',
      `--type ${JSON.stringify(typeText)} is neither a URI nor one of ${Object.keys(SHORT_TYPES).join(', ')}`,
    );
  }
  let predicate: unknown;
  try {
    predicate = JSON.parse(await readFile(predicatePath, 'utf8'));
  } catch (err) {
    throw new ProvenantError('USAGE', `the predicate ${predicatePath} is not a readable JSON file: ${(err as Error).message}`, {
      where: predicatePath,
      cause: err,
    });
  }
  const mode = parseAttestationMode((args.values.attestations as string | undefined) ?? 'referrers');
  const opened = await open(text, true);
  try {
    const target = opened.target ?? 'latest';
    const name = formatLocation(parseLocation(text));
    const inspected = await inspectImage(opened.store, target, name, { attachments: false });
    const root = inspected.raw;
    const images: Stored[] = [];
    for (const m of inspected.manifests) images.push(await opened.store.getManifest(m.digest));
    const attested = images.map((manifest) => ({
      manifest,
      statements: [statement(predicateType, predicate, [{ name, digest: manifest.digest }])],
    }));
    const index = await storeAttestations(opened.store, root, attested, mode);
    // BuildKit storage makes a new index; it takes over the tag the old one had.
    if (index.digest !== root.digest) await opened.store.putManifest(index, { tags: opened.tags.length > 0 ? opened.tags : [target] });
    await opened.store.close();
    return `attached ${predicateType} to ${images.length} image(s) of ${name} (${mode})\n`;
  } catch (err) {
    await opened.store.close().catch(() => {});
    throw err;
  }
}
