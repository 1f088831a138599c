/**
 * Reading attestations back, whatever their storage: the in-toto statements of an attachment
 * (BuildKit and referrer manifests carry them as `application/vnd.in-toto+json` layers; cosign's
 * `.att` images as DSSE envelopes), an image's SBOM (attached, or made from its package
 * databases when none is attached), and buildx-style `Provenance` and `SBOM` summaries.
 */

import { type Attachment, predicateName } from '../attest/attachments.ts';
import { decodeUtf8 } from '../bytes.ts';
import { ProvenantError } from '../errors.ts';
import type { OperationOptions } from '../io/types.ts';
import { collect } from '../io/verify.ts';
import { formatPlatform, platformMatches } from '../oci/platform.ts';
import type { Descriptor, Platform } from '../oci/types.ts';
import { cyclonedxDocument } from '../sbom/cyclonedx.ts';
import { spdxDocument, timestampFromEpoch } from '../sbom/spdx.ts';
import { BundleAnnotation, isBundleMediaType, parseBundle } from '../sign/storage.ts';
import type { ContentStore } from '../store/types.ts';
import { type InspectResult, inspectImage } from './inspect.ts';
import { imageInventory } from './inventory.ts';

const STATEMENT_LIMIT = 64 * 1024 * 1024;
const SPDX = 'https://spdx.dev/Document';
const CYCLONEDX = 'https://cyclonedx.org/bom';
const SLSA = /^https:\/\/slsa\.dev\/provenance\//;

/** One statement read back. */
export interface ReadStatement {
  predicateType: string;
  statement: { predicateType?: string; subject?: unknown; predicate?: unknown };
}

/**
 * The in-toto statements an attachment holds, unverified: `application/vnd.in-toto+json` layers
 * (BuildKit's and referrer manifests), DSSE envelope layers (cosign 2's `.att` images) and
 * Sigstore bundles whose DSSE envelope carries a statement (cosign 3's referrers: its image
 * signatures are statements too, of type `https://sigstore.dev/cosign/sign/v1`). A bundle
 * holding a message signature holds no statement.
 *
 * @throws SyntaxError when a statement or a bundle is not JSON (or a statement not a JSON object), Error when a bundle's JSON is not
 *   a Sigstore bundle, what reading a blob throws
 */
export async function readStatements(
  store: ContentStore,
  attachment: Attachment,
  options: OperationOptions = {},
): Promise<ReadStatement[]> {
  const stored = await store.getManifest(attachment.digest, options);
  if (stored.kind !== 'manifest') return [];
  const out: ReadStatement[] = [];
  for (const layer of stored.manifest.layers) {
    const isInToto = layer.mediaType === 'application/vnd.in-toto+json';
    const isDsse = layer.mediaType === 'application/vnd.dsse.envelope.v1+json';
    const isBundle = isBundleMediaType(layer.mediaType);
    if (!isInToto && !isDsse && !isBundle) continue;
    const bytes = await blob(store, layer, options);
    let value: { payload?: string; predicateType?: string };
    if (isBundle) {
      const content = parseBundle(bytes).content;
      if (content.$case !== 'dsseEnvelope') continue;
      value = parseObject(decodeUtf8(content.dsseEnvelope.payload));
    } else {
      value = parseObject(decodeUtf8(bytes));
      if (isDsse && typeof value.payload === 'string') value = parseObject(Buffer.from(value.payload, 'base64').toString('utf8'));
    }
    const predicateType =
      layer.annotations?.['in-toto.io/predicate-type'] ??
      layer.annotations?.predicateType ??
      value.predicateType ??
      stored.manifest.annotations?.[BundleAnnotation.PredicateType] ??
      '';
    out.push({ predicateType, statement: value as ReadStatement['statement'] });
  }
  return out;
}

/**
 * {@link readStatements}, or none when the attachment's layers are not statements (not JSON, not
 * a JSON object, a bundle that is not one): that is the attachment's problem, which `onProblem`
 * is told, not the command's. A ProvenantError (a blob that cannot be read) passes through.
 */
export async function statementsOrNone(
  store: ContentStore,
  attachment: Attachment,
  options: OperationOptions,
  onProblem: (message: string) => void,
): Promise<ReadStatement[]> {
  try {
    return await readStatements(store, attachment, options);
  } catch (err) {
    if (err instanceof ProvenantError) throw err;
    onProblem(`the statements of ${attachment.digest} are not in-toto statements: ${(err as Error).message}`);
    return [];
  }
}

/**
 * `text` as JSON that is an object, as a statement or an envelope is.
 *
 * @throws SyntaxError when it is not JSON, or JSON of another kind (`null`, a number, a list):
 *   callers report both as a statement that is not one
 */
function parseObject(text: string): Record<string, unknown> {
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SyntaxError(
      `the statement is ${value === null ? 'null' : Array.isArray(value) ? 'a list' : `a ${typeof value}`}, not a JSON object`,
    );
  }
  return value as Record<string, unknown>;
}

/** Options of {@link imageSbom}. */
export interface ImageSbomOptions extends OperationOptions {
  /** Which platform of an index (default: the only one, else the first). */
  platform?: Platform | undefined;
  format?: 'spdx' | 'cyclonedx';
  /** For a generated SBOM: the time to write in it (default 1970). */
  sourceDateEpoch?: number | undefined;
  toolVersion: string;
}

/**
 * The SBOM of one platform image: the attached one in `format` (the first in the image's
 * attachment order when several are, as `inspect --format json` shows: {@link firstOf}), else one
 * made from the image's apk or dpkg database.
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
  const image = pickPlatform(inspected, options.platform);
  const wanted = options.format === 'cyclonedx' ? CYCLONEDX : SPDX;
  const found = (await imageStatements(store, image, options)).filter((f) => f.predicateType === wanted);
  const taken = firstOf(found, predicateName(wanted) ?? wanted, platformName(image.platform), options);
  if (taken !== undefined) return { generated: false, platform: platformName(image.platform), document: taken.statement.predicate };
  const inventory = await imageInventory(store, image.digest, name, options);
  if (inventory === undefined) {
    throw new ProvenantError('NOT_FOUND', `${name} has no SBOM attached and no apk or dpkg package database to make one from`, {
      where: image.digest,
    });
  }
  const created = timestampFromEpoch(options.sourceDateEpoch ?? 0);
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
 * ({@link firstOf}).
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
    const slsa = firstOf(
      found.filter((f) => SLSA.test(f.predicateType)),
      'SLSA provenance',
      key,
      options,
    );
    if (slsa !== undefined) provenance[key] = { SLSA: slsa.statement.predicate };
    const spdx = firstOf(
      found.filter((f) => f.predicateType === SPDX),
      predicateName(SPDX) ?? SPDX,
      key,
      options,
    );
    const cyclonedx = firstOf(
      found.filter((f) => f.predicateType === CYCLONEDX),
      predicateName(CYCLONEDX) ?? CYCLONEDX,
      key,
      options,
    );
    if (spdx !== undefined || cyclonedx !== undefined) {
      sbom[key] = {
        ...(spdx === undefined ? {} : { SPDX: spdx.statement.predicate }),
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

/** A statement read back, with the attachment that holds it. */
interface FoundStatement extends ReadStatement {
  attachment: Attachment;
}

/**
 * Every statement attached to one image (signatures left out), in the image's attachment order:
 * its BuildKit attestation manifests in the order of the index, then its OCI referrers in the
 * order the store lists them (a layout: the order of index.json, so the first written first),
 * then cosign's `.att` image; within an attachment, its layers in order (cosign appends a new
 * attestation as a new layer, so there too the first written comes first).
 */
async function imageStatements(
  store: ContentStore,
  image: InspectResult['manifests'][number],
  options: OperationOptions,
): Promise<FoundStatement[]> {
  const out: FoundStatement[] = [];
  for (const a of image.attachments) {
    if (a.kind === 'signature') continue;
    for (const s of await statementsOrNone(store, a, options, (m) => options.logger?.warn(m))) out.push({ ...s, attachment: a });
  }
  return out;
}

/**
 * The one statement of a kind that `sbom` and `inspect --format json` both show: the first in
 * the image's attachment order ({@link imageStatements}), so that in the index or a layout the
 * SBOM or provenance a build attached is taken before one added later. A registry lists
 * referrers in an order of its own, hence
 * the warning when there are several: it says how many and which was taken.
 */
function firstOf(found: FoundStatement[], what: string, platform: string, options: OperationOptions): FoundStatement | undefined {
  const first = found[0];
  if (first !== undefined && found.length > 1) {
    const a = first.attachment;
    const from =
      a.storage === 'cosign'
        ? `cosign tag ${a.tag ?? a.digest}`
        : `${a.storage === 'buildkit' ? 'BuildKit attestation' : 'referrer'} ${a.digest}`;
    options.logger?.warn(`${found.length} ${what} statements are attached to the ${platform} image; using the first, from ${from}`);
  }
  return first;
}

function pickPlatform(inspected: InspectResult, platform: Platform | undefined): InspectResult['manifests'][number] {
  const images = inspected.manifests;
  const found = platform === undefined ? images[0] : images.find((m) => m.platform !== undefined && platformMatches(platform, m.platform));
  if (found === undefined) {
    throw new ProvenantError(
      'NO_MATCHING_PLATFORM',
      `${inspected.name} has no image for ${platform === undefined ? 'any platform' : formatPlatform(platform)}`,
      {
        hint: `it has ${images.map((m) => platformName(m.platform)).join(', ') || 'no images'}`,
      },
    );
  }
  return found;
}

function platformName(p: Platform | undefined): string {
  return p === undefined ? 'unknown' : formatPlatform(p);
}

async function blob(store: ContentStore, d: Descriptor, options: OperationOptions): Promise<Uint8Array> {
  return collect(await store.readBlob(d, options), STATEMENT_LIMIT, `${store.location}@${d.digest}`);
}
