/**
 * Attestations read back for what `sbom` and `inspect --format json` show: an image's SBOM
 * (attached, or made from its package databases when none is attached) and buildx-style
 * `Provenance` and `SBOM` summaries. Reading an attachment's statements is ./statements.ts's,
 * which has no SBOM writer to load.
 */

import { predicateName } from '../attest/attachments.ts';
import { ProvenantError } from '../errors.ts';
import type { OperationOptions } from '../io/types.ts';
import { firstOfPlatform, formatPlatform } from '../oci/platform.ts';
import type { Platform } from '../oci/types.ts';
import { cyclonedxDocument } from '../sbom/cyclonedx.ts';
import { spdxDocument, timestampFromEpoch } from '../sbom/spdx.ts';
import type { ContentStore } from '../store/types.ts';
import { type InspectResult, inspectImage } from './inspect.ts';
import { datedImageInventory } from './inventory.ts';
import { chosenStatement, imageStatements, isSlsaProvenance, predicateDocument } from './statements.ts';

const SPDX = 'https://spdx.dev/Document';
const CYCLONEDX = 'https://cyclonedx.org/bom';

/** Options of {@link imageSbom}. */
export interface ImageSbomOptions extends OperationOptions {
  /**
   * Which platform of an index (default: the only one, else the first); of several images of it, the
   * first, `logger` warned.
   */
  platform?: Platform | undefined;
  format?: 'spdx' | 'cyclonedx';
  /**
   * For a generated SBOM: the time to write in it, in seconds since 1970 (`SOURCE_DATE_EPOCH`).
   * Default: the image config's `created`, else 1970.
   */
  sourceDateEpoch?: number | undefined;
  toolVersion: string;
}

/**
 * The SBOM of one platform image: the attached one in `format` (its predicate as attested: an
 * object, or the document's text when cosign's `attest --type spdx` kept it as a string; the first in the image's
 * attachment order when several are, as `inspect --format json` shows: {@link chosenStatement}), else one
 * made from the image's apk or dpkg database. A made one is dated `sourceDateEpoch`, else when the
 * image config says the image was created (deterministic, and true of the image), else 1970; it
 * names the image `name` only when that is a registry reference, not a file or layout location.
 *
 * @throws ProvenantError `NOT_FOUND` when nothing is attached and the image has no package
 *   database, `NO_MATCHING_PLATFORM` when no platform matches
 */
export async function imageSbom(
  store: ContentStore,
  target: string,
  name: string,
  options: ImageSbomOptions,
): Promise<{ generated: boolean; platform: string; document: unknown }> {
  const inspected = await inspectImage(store, target, name, options);
  const image = pickPlatform(inspected, options.platform, store.location, options);
  const wanted = options.format === 'cyclonedx' ? CYCLONEDX : SPDX;
  const found = (await imageStatements(store, image, options)).filter((f) => f.predicateType === wanted);
  const taken = chosenStatement(found, predicateName(wanted) ?? wanted, `the ${platformName(image.platform)} image`, options);
  if (taken !== undefined) return { generated: false, platform: platformName(image.platform), document: taken.statement.predicate };
  const dated = await datedImageInventory(store, image.digest, name, options);
  if (dated === undefined) {
    throw new ProvenantError('NOT_FOUND', `${name} has no SBOM attached and no apk or dpkg package database to make one from`, {
      where: image.digest,
    });
  }
  const { inventory } = dated;
  const created = timestampFromEpoch(options.sourceDateEpoch ?? dated.created ?? 0);
  const document =
    options.format === 'cyclonedx'
      ? cyclonedxDocument(inventory, { created, toolVersion: options.toolVersion })
      : spdxDocument(inventory, { created, toolVersion: options.toolVersion });
  return { generated: true, platform: platformName(image.platform), document };
}

/**
 * The `Provenance` and `SBOM` fields of `buildx imagetools inspect --format json`: for one
 * platform `{SLSA: predicate}` and `{SPDX: document}`, for several a map keyed by platform. Of
 * several statements of one kind, the first in the image's attachment order, as `sbom` takes
 * ({@link chosenStatement}).
 */
export async function attestationSummaries(
  store: ContentStore,
  inspected: InspectResult,
  options: OperationOptions = {},
): Promise<{ Provenance?: unknown; SBOM?: unknown }> {
  const provenance: Record<string, unknown> = {};
  const sbom: Record<string, unknown> = {};
  for (const m of inspected.manifests) {
    const key = platformName(m.platform);
    const found = await imageStatements(store, m, options);
    const slsa = chosenStatement(
      found.filter((f) => isSlsaProvenance(f.predicateType)),
      'SLSA provenance',
      `the ${key} image`,
      options,
    );
    if (slsa !== undefined) provenance[key] = { SLSA: slsa.statement.predicate };
    const spdx = chosenStatement(
      found.filter((f) => f.predicateType === SPDX),
      predicateName(SPDX) ?? SPDX,
      `the ${key} image`,
      options,
    );
    const cyclonedx = chosenStatement(
      found.filter((f) => f.predicateType === CYCLONEDX),
      predicateName(CYCLONEDX) ?? CYCLONEDX,
      `the ${key} image`,
      options,
    );
    if (spdx !== undefined || cyclonedx !== undefined) {
      sbom[key] = {
        // As buildx shows it, the document: a JSON one kept as text (cosign's --type spdx) parsed.
        ...(spdx === undefined ? {} : { SPDX: predicateDocument(spdx.statement.predicate) }),
        ...(cyclonedx === undefined ? {} : { CycloneDX: cyclonedx.statement.predicate }),
      };
    }
  }
  const flatten = (m: Record<string, unknown>): unknown =>
    Object.keys(m).length === 0 ? undefined : inspected.manifests.length === 1 ? Object.values(m)[0] : m;
  const out: { Provenance?: unknown; SBOM?: unknown } = {};
  const p = flatten(provenance);
  const s = flatten(sbom);
  if (p !== undefined) out.Provenance = p;
  if (s !== undefined) out.SBOM = s;
  return out;
}

/**
 * The image of `inspected` that `platform` names (the first, else the only one), as every
 * `--platform` picks: where several are of that platform, the first, `options.logger` warned
 * which, the others named by digest in `where` ({@link firstOfPlatform}).
 */
function pickPlatform(
  inspected: InspectResult,
  platform: Platform | undefined,
  where: string,
  options: OperationOptions,
): InspectResult['manifests'][number] {
  const images = inspected.manifests;
  const picked = platform === undefined ? undefined : firstOfPlatform(platform, images, where);
  if (picked?.warning !== undefined) options.logger?.warn(picked.warning);
  const found = platform === undefined ? images[0] : picked?.entry;
  if (found === undefined) {
    throw new ProvenantError(
      'NO_MATCHING_PLATFORM',
      `${inspected.name} has no image for ${platform === undefined ? 'any platform' : formatPlatform(platform)}`,
      {
        hint: `it has ${[...new Set(images.map((m) => platformName(m.platform)))].join(', ') || 'no images'}`,
      },
    );
  }
  return found;
}

function platformName(p: Platform | undefined): string {
  return p === undefined ? 'unknown' : formatPlatform(p);
}
