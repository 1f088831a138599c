/**
 * Signatures, attestations and SBOMs attached to two images, compared by what they are (kind,
 * storage, predicate type, who claims to have signed) rather than by digest, which differs with
 * every subject; and the SLSA provenance they carry, compared field by field: builder, build
 * type, parameters and resolved dependencies (https://slsa.dev/spec/v1.0/provenance, and v0.2's
 * `builder`, `invocation.parameters` and `materials`).
 */
import type { Attachment } from '../attest/attachments.ts';
import type { OperationOptions } from '../io/types.ts';
import type { Digest } from '../oci/digest.ts';
import { summarize } from '../sign/inspect.ts';
import { eachSignature, type FoundSignature, isBundleMediaType, isStatementLayer } from '../sign/storage.ts';
import type { ContentStore } from '../store/types.ts';
import { compareText, mapChanges } from './diff-config.ts';
import type { AttachmentDiff, AttachmentItem, Dependency, ProvenanceDiff, ValueChange } from './diff-types.ts';
import {
  chosenStatement,
  type FoundStatement,
  isSlsaProvenance,
  type ReadStatement,
  signatureStatement,
  statementsOrNone,
} from './statements.ts';

/** What is attached to one manifest or index: the items, and the in-toto statements they hold. */
export interface SideAttachments {
  items: AttachmentItem[];
  /** The statements compared (an SBOM's packages, when the image has no package database). */
  statements: ReadStatement[];
  /**
   * For an image (`ofImage`): the statements of each of its attachments but its signatures, in
   * its attachment order, as statements.ts's imageStatements reads them: what {@link provenanceStatement}
   * chooses from, as `inspect` chooses. Empty for an index.
   */
  found: FoundStatement[];
}

/**
 * Everything attached to `subject`: signatures and attestations in cosign's tags and as
 * referrers (through {@link eachSignature}, with who they say signed them), and the BuildKit and
 * plain in-toto attestations and SBOMs `attachments` lists (from `inspectImage`). For an image
 * (`ofImage`), the statements of all of them too, each blob read once: the statements of what
 * eachSignature read are taken from what it read, and only the rest are read here (an attachment
 * with a statement layer eachSignature did not read is read whole, and one whose statements are
 * not statements warned of, as inspect warns).
 */
export async function attachmentsOf(
  store: ContentStore,
  subject: Digest,
  attachments: readonly Attachment[],
  options: OperationOptions,
  ofImage = false,
): Promise<SideAttachments> {
  const own = attachments.filter((a) => a.subject === subject);
  const items: AttachmentItem[] = [];
  const statements: ReadStatement[] = [];
  const covered = new Set<string>();
  // What eachSignature read of each attachment, in the order of its layers; undefined for one of
  // which something could not be read or parsed: read again below, which says why.
  const read = new Map<Attachment, ReadLayer[] | undefined>();
  // Each summarised as it is read, keeping its statement only (what is compared).
  for await (const f of eachSignature(store, subject, options)) {
    const s = summarize(f);
    // A cosign 2 layer signed with a key does not name the key; verification is what finds it.
    const signer =
      s.keyId !== undefined
        ? `key ${s.keyId}`
        : s.identity !== undefined
          ? `${s.identity} (${s.issuer ?? ''})`
          : s.signed
            ? 'a key'
            : 'nobody (unsigned)';
    items.push(item(s.kind, s.storage, s.predicateType, signer));
    const referrer = /^referrer (\S+)/.exec(s.source)?.[1];
    if (referrer !== undefined) covered.add(referrer);
    const statement = statementOf(f);
    if (statement !== undefined) statements.push(statement);
    if (ofImage) keepRead(read, f, own);
  }
  const found: FoundStatement[] = [];
  for (const a of own) {
    // cosign's .sig and .att tags and the referrers eachSignature read are listed above.
    const listed = (a.storage === 'cosign' && a.kind !== 'sbom') || (a.storage === 'referrers' && covered.has(a.digest));
    if (!listed) {
      const types = a.predicateTypes.length > 0 ? a.predicateTypes : [a.artifactType];
      for (const t of types) items.push(item(a.kind, a.storage, t, undefined));
    }
    // One that holds no statements (not JSON) is listed above by its type, and compared no further.
    const compared = !listed && (a.kind === 'attestation' || a.kind === 'sbom');
    if (!ofImage) {
      if (compared) statements.push(...(await statementsOrNone(store, a, options, () => {})));
      continue;
    }
    if (a.kind === 'signature') continue;
    const layers = await readWhole(store, a, read.get(a), options);
    const held =
      layers !== undefined
        ? layers.flatMap((x) => (x.statement === undefined ? [] : [x.statement]))
        : await statementsOrNone(store, a, options, (m) => options.logger?.warn(m));
    for (const statement of held) found.push({ ...statement, attachment: a });
    if (compared) statements.push(...held);
  }
  items.sort((x, y) => compareText(x.label, y.label));
  return { items, statements, found };
}

/** One layer eachSignature read: its number among the layers, or among the bundle layers of a bundle referrer. */
interface ReadLayer {
  layer: number;
  bundle: boolean;
  statement: ReadStatement | undefined;
}

/**
 * What eachSignature read of attachment `a`, in the order of its layers, when it read every layer
 * layerStatement reads (see {@link isStatementLayer}); undefined when it did not (an in-toto
 * layer another tool put beside cosign's DSSE layers, or beside a referrer's bundle), so that the
 * attachment is read again, whole, and diff chooses from what inspect chooses from.
 */
async function readWhole(
  store: ContentStore,
  a: Attachment,
  layers: ReadLayer[] | undefined,
  options: OperationOptions,
): Promise<ReadLayer[] | undefined> {
  if (layers === undefined) return undefined;
  const stored = await store.getManifest(a.digest, options);
  if (stored.kind !== 'manifest') return undefined;
  const all = stored.manifest.layers;
  // A bundle referrer's layers were numbered among its bundle layers: numbered here among all.
  const bundles = [...all.keys()].filter((i) => isBundleMediaType(all[i]!.mediaType));
  const numbered = layers.map((x) => (x.bundle ? { ...x, layer: bundles[x.layer] ?? -1 } : x));
  const seen = new Set(numbered.map((x) => x.layer));
  for (const [i, l] of all.entries()) if (isStatementLayer(l) && !seen.has(i)) return undefined;
  return numbered.sort((x, y) => x.layer - y.layer);
}

/**
 * Keeps in `read` the statement `f` holds (see {@link signatureStatement}), under the attachment
 * of `attachments` it was read from: a cosign tag's (its source `TAG layer N`) or a referrer's
 * (`referrer DIGEST`, `referrer DIGEST layer N`). One found in neither (the referrers tag
 * schema's index read directly, which inspect does not list) is not kept. eachSignature reads a
 * bundle referrer's bundle layers and another's DSSE layers, which is all of the statements cosign
 * writes there; an attachment with a layer it did not read (an in-toto layer another tool added)
 * is read again ({@link readWhole}). Each layer read is kept, one holding no statement too, so
 * that it counts as read.
 */
function keepRead(read: Map<Attachment, ReadLayer[] | undefined>, f: FoundSignature, attachments: readonly Attachment[]): void {
  const m = /^(referrer )?(\S+)(?: layer (\d+))?$/.exec(f.source);
  if (m === null) return;
  const [, referrer, name, layer] = m;
  const a =
    f.storage === 'cosign'
      ? attachments.find((x) => x.storage === 'cosign' && x.tag === name)
      : referrer === undefined
        ? undefined
        : attachments.find((x) => x.storage === 'referrers' && x.digest === name);
  if (a === undefined) return;
  const kept = read.has(a) ? read.get(a) : [];
  if (kept === undefined) return;
  const statement = signatureStatement(f);
  if (statement === 'unread') read.set(a, undefined);
  else {
    // A bundle referrer's layers are not numbered in its source: they come in their order.
    const bundle = layer === undefined;
    kept.push({ layer: bundle ? kept.length : Number(layer), bundle, statement });
    read.set(a, kept);
  }
}

function item(
  kind: AttachmentItem['kind'],
  storage: AttachmentItem['storage'],
  predicateType: string | undefined,
  signer: string | undefined,
): AttachmentItem {
  const out: AttachmentItem = { kind, storage, label: '' };
  if (predicateType !== undefined && predicateType !== '') out.predicateType = predicateType;
  if (signer !== undefined) out.signer = signer;
  out.label = [kind, storage, out.predicateType, signer === undefined ? undefined : `by ${signer}`]
    .filter((x) => x !== undefined)
    .join(' ');
  return out;
}

/** The in-toto statement inside a DSSE attestation (a cosign `.att` layer or a bundle). */
function statementOf(f: FoundSignature): ReadStatement | undefined {
  if (f.kind !== 'attestation') return undefined;
  let payload: Uint8Array | undefined;
  let signed = false;
  try {
    if (f.format === 'cosign-layer') {
      if (f.layer === undefined) return undefined;
      const envelope = JSON.parse(Buffer.from(f.layer.payload).toString('utf8')) as { payload?: unknown; signatures?: unknown };
      if (typeof envelope.payload === 'string') payload = Buffer.from(envelope.payload, 'base64');
      signed = Array.isArray(envelope.signatures) && envelope.signatures.length > 0;
    } else if (f.bundle?.content.$case === 'dsseEnvelope') {
      payload = f.bundle.content.dsseEnvelope.payload;
      signed = f.bundle.content.dsseEnvelope.signatures.length > 0;
    }
    if (payload === undefined) return undefined;
    const statement = JSON.parse(Buffer.from(payload).toString('utf8')) as ReadStatement['statement'];
    return { predicateType: f.predicateType ?? statement.predicateType ?? '', statement, signed };
  } catch {
    // An attestation whose payload is not JSON says nothing comparable; it is still listed.
    return undefined;
  }
}

/** Items in one side only and in both, matched by label (as many times as each side has it). */
export function attachmentDiff(a: readonly AttachmentItem[], b: readonly AttachmentItem[]): AttachmentDiff {
  const out: AttachmentDiff = { onlyA: [], onlyB: [], common: [] };
  const left = [...b];
  for (const x of a) {
    const i = left.findIndex((y) => y.label === x.label);
    if (i < 0) out.onlyA.push(x);
    else {
      out.common.push(x);
      left.splice(i, 1);
    }
  }
  out.onlyB.push(...left);
  return out;
}

interface Provenance {
  predicateType: string;
  builderId: string;
  buildType: string;
  parameters: Map<string, string>;
  dependencies: Map<string, Dependency>;
}

/**
 * A parameter that only says when the build was made: Provenant's `sourceDateEpoch`
 * (externalParameters in v1, invocation.parameters in v0.2) and BuildKit's
 * `build-arg:SOURCE_DATE_EPOCH` (in `request.args`). `ignoreTimestamps` leaves these out.
 */
const TIMESTAMP_PARAMETER = /(^|\.)(sourceDateEpoch|(build-arg:)?SOURCE_DATE_EPOCH)$/;

/**
 * The SLSA provenance of one image, by the rule `inspect --format json` and `sbom` take
 * (chosenStatement): the first in the image's attachment order, the build's own, not one attested
 * later; several that differ are warned of, naming `image` ("the linux/amd64 image of REF").
 * `found` as {@link attachmentsOf} read it for the image.
 */
export function provenanceStatement(found: readonly FoundStatement[], image: string, options: OperationOptions): ReadStatement | undefined {
  return chosenStatement(
    found.filter((s) => isSlsaProvenance(s.predicateType)),
    'SLSA provenance',
    image,
    options,
  );
}

/**
 * The SLSA provenance statements of two images (each {@link provenanceStatement}'s), compared;
 * with `ignoreTimestamps`, not their {@link TIMESTAMP_PARAMETER}s.
 */
export function provenanceDiff(
  a: ReadStatement | undefined,
  b: ReadStatement | undefined,
  options: { ignoreTimestamps?: boolean | undefined } = {},
): ProvenanceDiff {
  const pa = a === undefined ? undefined : provenanceOf(a);
  const pb = b === undefined ? undefined : provenanceOf(b);
  const out: ProvenanceDiff = { changes: [], dependencies: { added: [], removed: [], changed: [] } };
  const head = (p: Provenance) => ({ predicateType: p.predicateType, builderId: p.builderId, buildType: p.buildType });
  if (pa !== undefined) out.a = head(pa);
  if (pb !== undefined) out.b = head(pb);
  if (pa === undefined || pb === undefined) return out;
  const scalar = (field: string, x: string, y: string): void => {
    if (x !== y) out.changes.push({ field, a: x, b: y });
  };
  scalar('predicateType', pa.predicateType, pb.predicateType);
  scalar('builder.id', pa.builderId, pb.builderId);
  scalar('buildType', pa.buildType, pb.buildType);
  for (const c of mapChanges('parameters', pa.parameters, pb.parameters)) {
    if (options.ignoreTimestamps === true && TIMESTAMP_PARAMETER.test(c.field)) continue;
    out.changes.push(parseBack(c));
  }
  for (const key of [...new Set([...pa.dependencies.keys(), ...pb.dependencies.keys()])].sort(compareText)) {
    const x = pa.dependencies.get(key);
    const y = pb.dependencies.get(key);
    if (x === undefined && y !== undefined) out.dependencies.added.push(y);
    else if (y === undefined && x !== undefined) out.dependencies.removed.push(x);
    else if (x !== undefined && y !== undefined && JSON.stringify(x) !== JSON.stringify(y))
      out.dependencies.changed.push({ key, a: x, b: y });
  }
  return out;
}

/** Parameters are compared as JSON text; the change gives the values back. */
function parseBack(c: ValueChange): ValueChange {
  const out: ValueChange = { field: c.field };
  if (c.a !== undefined) out.a = JSON.parse(c.a as string);
  if (c.b !== undefined) out.b = JSON.parse(c.b as string);
  return out;
}

function provenanceOf(s: ReadStatement): Provenance {
  const p = s.statement.predicate;
  const parameters = new Map<string, string>();
  const dependencies = new Map<string, Dependency>();
  let builderId: unknown;
  let buildType: unknown;
  let deps: unknown;
  if (at(p, 'buildDefinition') !== undefined || at(p, 'runDetails') !== undefined) {
    builderId = at(p, 'runDetails', 'builder', 'id');
    buildType = at(p, 'buildDefinition', 'buildType');
    flatten('externalParameters', at(p, 'buildDefinition', 'externalParameters'), parameters);
    flatten('internalParameters', at(p, 'buildDefinition', 'internalParameters'), parameters);
    deps = at(p, 'buildDefinition', 'resolvedDependencies');
  } else {
    builderId = at(p, 'builder', 'id');
    buildType = at(p, 'buildType');
    flatten('invocation.parameters', at(p, 'invocation', 'parameters'), parameters);
    flatten('invocation.configSource', at(p, 'invocation', 'configSource'), parameters);
    deps = at(p, 'materials');
  }
  for (const d of Array.isArray(deps) ? deps : []) {
    if (typeof d !== 'object' || d === null) continue;
    const dep = dependency(d as Record<string, unknown>);
    if (dep === undefined) continue;
    let key = dep.key;
    for (let n = 2; dependencies.has(key); n++) key = `${dep.key}#${n}`;
    dependencies.set(key, { ...dep, key });
  }
  return {
    predicateType: s.predicateType,
    builderId: typeof builderId === 'string' ? builderId : '',
    buildType: typeof buildType === 'string' ? buildType : '',
    parameters,
    dependencies,
  };
}

function dependency(d: Record<string, unknown>): Dependency | undefined {
  const uri = typeof d.uri === 'string' ? d.uri : undefined;
  const name = typeof d.name === 'string' ? d.name : undefined;
  const key = name ?? uri;
  if (key === undefined) return undefined;
  const dep: Dependency = { key };
  if (uri !== undefined) dep.uri = uri;
  if (name !== undefined) dep.name = name;
  if (typeof d.digest === 'object' && d.digest !== null) {
    dep.digest = Object.fromEntries(Object.entries(d.digest as Record<string, unknown>).filter(([, v]) => typeof v === 'string')) as Record<
      string,
      string
    >;
  }
  const version = (d.annotations as Record<string, unknown> | undefined)?.version;
  if (typeof version === 'string') dep.version = version;
  return dep;
}

/** The value at `keys` in nested objects, or undefined. */
function at(value: unknown, ...keys: string[]): unknown {
  let v = value;
  for (const k of keys) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

/** Leaves of a JSON value by path (`a.b[0].c`), as JSON text; arrays of scalars stay whole. */
function flatten(prefix: string, value: unknown, out: Map<string, string>): void {
  if (value === undefined) return;
  if (Array.isArray(value) && value.some((v) => typeof v === 'object' && v !== null)) {
    for (const [i, v] of value.entries()) flatten(`${prefix}[${i}]`, v, out);
  } else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(`${prefix}.${k}`, v, out);
  } else {
    out.set(prefix, JSON.stringify(value));
  }
}
