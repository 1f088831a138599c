/**
 * Reading the in-toto statements an attachment holds, whatever their storage: BuildKit and
 * referrer manifests carry them as `application/vnd.in-toto+json` layers, cosign 2's `.att`
 * images as DSSE envelopes, cosign 3's referrers as Sigstore bundles. Reading only: no SBOM or
 * provenance writer is imported here, so that a feature that reads statements (`compat`'s fix,
 * `diff`, `reproduce`) does not load them (the CLI bundle keeps a build's writers in one chunk:
 * test/cli/package.test.ts).
 */

import { ArtifactType, type Attachment, STATEMENT_LIMIT } from '../attest/attachments.ts';
import { decodeUtf8 } from '../bytes.ts';
import { ProvenantError } from '../errors.ts';
import type { OperationOptions } from '../io/types.ts';
import { collect } from '../io/verify.ts';
import { Annotation, type Descriptor, type ImageManifest } from '../oci/types.ts';
import {
  dsseOf,
  type FoundSignature,
  isBundleMediaType,
  jsonObject,
  layerStatement,
  predicateTypeOf,
  type ReadStatement,
} from '../sign/storage.ts';
import type { ContentStore } from '../store/types.ts';

// A layer's statement is read as sign/storage.ts reads it (layerStatement), for attest --replace too;
// which layers hold one is its isStatementLayer.
export type { ReadStatement };

/**
 * The in-toto statements an attachment holds, unverified: `application/vnd.in-toto+json` layers
 * (BuildKit's and referrer manifests; a DSSE envelope in one, as other tools store it, is
 * unwrapped), DSSE envelope layers (cosign 2's `.att` images) and
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
    const statement = await layerStatement(store, stored.manifest, layer, options);
    if (statement !== undefined) out.push(statement);
  }
  return out;
}

/**
 * The in-toto statement a signature or attestation that `eachSignature` read holds, as
 * {@link layerStatement} reads it from that layer, so that a reader that has walked the
 * signatures (`diff`) need not read the same blobs again: a bundle's DSSE payload, a DSSE
 * layer's envelope (or the statement itself, where the layer holds no envelope). Its predicate
 * type is found as {@link predicateTypeOf} finds it: a cosign layer's annotation, else the
 * statement's, else the bundle manifest's annotation (which the bundle's `predicateType` is).
 *
 * Undefined when it holds no statement (a message signature, a simple-signing payload);
 * `'unread'` when its blob could not be read or its statement is not a JSON object: reading the
 * attachment again ({@link statementsOrNone}) says why, as it would have.
 */
export function signatureStatement(found: FoundSignature): ReadStatement | undefined | 'unread' {
  if (found.format === 'bundle') {
    if (found.bundle === undefined) return 'unread';
    const content = found.bundle.content;
    if (content.$case !== 'dsseEnvelope') return undefined;
    const value = jsonObject(decodeUtf8(content.dsseEnvelope.payload));
    if (value === undefined) return 'unread';
    const predicateType = (typeof value.predicateType === 'string' ? value.predicateType : undefined) ?? found.predicateType ?? '';
    return { predicateType, statement: value, signed: content.dsseEnvelope.signatures.length > 0 };
  }
  const layer = found.layer;
  if (layer === undefined) return 'unread';
  if (layer.mediaType !== ArtifactType.DsseEnvelope) return undefined;
  let value = jsonObject(decodeUtf8(layer.payload));
  if (value === undefined) return 'unread';
  let signed = false;
  const envelope = dsseOf(value, true);
  if (envelope !== undefined) {
    value = jsonObject(envelope.payload);
    if (value === undefined) return 'unread';
    signed = envelope.signed;
  }
  const predicateType =
    layer.annotations[Annotation.InTotoPredicateType] ??
    layer.annotations.predicateType ??
    (typeof value.predicateType === 'string' ? value.predicateType : '');
  return { predicateType, statement: value, signed };
}

/**
 * The in-toto statement one layer of an attachment's `manifest` may hold, read as broadly as
 * other tools store one, for a check that must not miss a statement rather than for showing it:
 * any layer whose media type is JSON (`application/json`, any `+json`) or a Sigstore bundle is
 * read, and a DSSE envelope is unwrapped wherever it is found, bare or in a bundle's JSON, whatever
 * the layer's media type says (tools put a DSSE envelope in `application/vnd.in-toto+json` layers,
 * and plain statements in `application/json` ones). What it finds counts as a statement when it
 * is a JSON object with a `subject` list; {@link layerStatement} reads the same layers and more
 * strictly, reporting one that is not a statement.
 *
 * Undefined for a layer of another media type, one larger than {@link STATEMENT_LIMIT} (declared:
 * its subjects are not read), one that is not JSON, or JSON with no statement in it. Its
 * predicate type is found as {@link layerStatement} finds it.
 *
 * @throws ProvenantError when the blob cannot be read (missing, not matching its digest, longer
 *   than it declares)
 */
export async function looseLayerStatement(
  store: ContentStore,
  manifest: ImageManifest,
  layer: Descriptor,
  options: OperationOptions = {},
): Promise<ReadStatement | undefined> {
  const type = layer.mediaType.toLowerCase();
  if (!type.includes('json') && !isBundleMediaType(type)) return undefined;
  if (layer.size > STATEMENT_LIMIT) return undefined;
  const bytes = await collect(await store.readBlob(layer, options), STATEMENT_LIMIT, `${store.location}@${layer.digest}`);
  let value = jsonObject(decodeUtf8(bytes));
  // A Sigstore bundle's JSON holds its envelope under `dsseEnvelope`.
  const inBundle = value?.dsseEnvelope;
  const envelope = dsseOf(typeof inBundle === 'object' && inBundle !== null && !Array.isArray(inBundle) ? inBundle : value);
  let signed = false;
  if (envelope !== undefined) {
    value = jsonObject(envelope.payload);
    signed = envelope.signed;
  }
  if (value === undefined || !Array.isArray(value.subject)) return undefined;
  return { predicateType: predicateTypeOf(manifest, layer, value), statement: value as ReadStatement['statement'], signed };
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
 * A predicate's document for a reader of its content (report's packages, inspect's `SBOM`): a
 * string predicate (cosign's `attest --type spdx` keeps an SPDX document's text, tag-value or
 * JSON) parsed when its text is a JSON object, as the document it holds; a tag-value text, or
 * any other predicate, as it is. A printer of the predicate (`sbom`) takes the text itself, not
 * this.
 */
export function predicateDocument(predicate: unknown): unknown {
  if (typeof predicate !== 'string') return predicate;
  if (!predicate.trimStart().startsWith('{')) return predicate;
  return jsonObject(predicate) ?? predicate;
}

/** SLSA provenance, any version (https://slsa.dev/provenance/v0.2, /v1). */
const SLSA_PROVENANCE = /^https:\/\/slsa\.dev\/provenance\//;

/** Whether `predicateType` is SLSA provenance's, of any version. */
export function isSlsaProvenance(predicateType: string): boolean {
  return SLSA_PROVENANCE.test(predicateType);
}

/** A statement read back, with the attachment that holds it. */
export interface FoundStatement extends ReadStatement {
  attachment: Attachment;
}

/**
 * Every statement attached to one image (signatures left out), in the image's attachment order
 * (`attachments` as inspectImage lists them for the image): its BuildKit attestation manifests in
 * the order of the index, then its OCI referrers in the order the store lists them (a layout: the
 * order of index.json, so the first written first), then cosign's `.att` image; within an
 * attachment, its layers in order (cosign appends a new attestation as a new layer, so there too
 * the first written comes first). An attachment that holds no statements is said to `logger`.
 */
export async function imageStatements(
  store: ContentStore,
  image: { attachments: readonly Attachment[] },
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
 * The one statement of a kind (`found`, of {@link imageStatements}, filtered to it) that `sbom`,
 * `inspect --format json` and `diff` all take: the first in the image's attachment order, so that
 * in the index or a layout the SBOM or provenance a build attached is taken before one added
 * later (an attest of another build's provenance, say). A registry lists referrers in an order
 * of its own, hence the warning when several differ: it says how many, about which image
 * (`image`, "the linux/amd64 image"), and which was taken. Copies of one statement (the same
 * subject, predicate type and predicate, as a signed BuildKit build stores each: in the index,
 * covered by its signature, and as a Sigstore bundle) are one statement, of which the signed copy
 * is taken. `what` names the kind in the warning ("SLSA provenance").
 */
export function chosenStatement(
  found: readonly FoundStatement[],
  what: string,
  image: string,
  options: OperationOptions,
): FoundStatement | undefined {
  const distinct = new Map<string, FoundStatement>();
  for (const f of found) {
    // Compared as parsed JSON: the same statement in an envelope and in a layer may differ in
    // spacing, and nothing a reader is shown depends on it.
    const key = JSON.stringify([f.predicateType, f.statement.subject ?? null, f.statement.predicate ?? null]);
    const seen = distinct.get(key);
    if (seen === undefined || (f.signed && !seen.signed)) distinct.set(key, f);
  }
  const [first] = distinct.values();
  if (first !== undefined && distinct.size > 1) {
    const a = first.attachment;
    const from =
      a.storage === 'cosign'
        ? `cosign tag ${a.tag ?? a.digest}`
        : `${a.storage === 'buildkit' ? 'BuildKit attestation' : 'referrer'} ${a.digest}`;
    options.logger?.warn(`${distinct.size} ${what} statements are attached to ${image}; using the first, from ${from}`);
  }
  return first;
}
