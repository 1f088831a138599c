/**
 * The fixes, as pure transforms over a {@link Plan}: the set of manifests a fixed image will be
 * written as, with where each attachment goes. Every transform returns a new plan and says in
 * plain words what it changed; none reads or writes a store. A changed manifest changes the
 * digest of everything that names it, so {@link Draft.replace} carries a change up the graph:
 * an index lists the new digest, an attestation gets the new subject (its statements still
 * name the old digest, and the account says so), a signature of the old digest is not carried
 * (it stays valid for the old digest only).
 */
import { ArtifactType, type AttachmentKind } from '../attest/attachments.ts';
import { ProvenantError } from '../errors.ts';
import { descriptorOf, encodeJson, parseStored, type Stored } from '../oci/content.ts';
import { type Digest, digestAlgorithm, digestHex, digestOf } from '../oci/digest.ts';
import { isIndexType, MediaType } from '../oci/mediatypes.ts';
import { formatPlatform, platformMatches } from '../oci/platform.ts';
import { Annotation, type Descriptor, type ImageIndex, type ImageManifest, type Platform } from '../oci/types.ts';
import { DOCKER_LAYER_TAR, layerCompression, short } from './detectors.ts';
import type { ImageGraph } from './graph.ts';
import { type FixId, listParam, type Params, stringParam } from './params.ts';

/** Where an attachment is stored. */
export type Placement =
  /** Listed in the root index (BuildKit's storage). */
  | { readonly type: 'index-entry' }
  /** A manifest with `subject`, found through the referrers API or its tag fallback. */
  | { readonly type: 'referrer' }
  /** Under cosign's `sha256-<hex>.<suffix>` tag for its subject. */
  | { readonly type: 'tag'; readonly suffix: 'att' | 'sig' | 'sbom' };

/** One manifest of the fixed image. */
export interface PlannedDoc {
  readonly stored: Stored;
  readonly role: 'index' | 'image' | 'attachment';
  readonly platform?: Platform | undefined;
  readonly kind?: AttachmentKind | undefined;
  /** For attachments: what they are about. */
  readonly subject?: Digest | undefined;
  readonly placement?: Placement | undefined;
}

/** A blob the fix makes: a small new config (bytes), or a recompressed layer (a file). */
export interface PlannedBlob {
  readonly descriptor: Descriptor;
  readonly bytes?: Uint8Array | undefined;
  readonly file?: string | undefined;
}

/** One line of the account of a fix. */
export interface Change {
  /** The fix that made it, or `cascade` for what followed from another change. */
  readonly fix: FixId | 'cascade';
  readonly text: string;
  readonly from?: Digest | undefined;
  readonly to?: Digest | undefined;
}

/** Something the fixed image does not carry, and why. */
export interface Dropped {
  readonly digest: Digest;
  readonly what: string;
  readonly why: string;
  /** For a signature: the digest it signs (and stays valid for). */
  readonly signs?: Digest | undefined;
}

/** A manifest whose digest changed. */
export interface Rename {
  readonly from: Digest;
  readonly to: Digest;
  readonly role: PlannedDoc['role'];
  readonly kind?: AttachmentKind | undefined;
}

/** The fixed image, before it is written. */
export interface Plan {
  /** What the destination's tags will point at. */
  readonly root: Digest;
  readonly docs: ReadonlyMap<Digest, PlannedDoc>;
  readonly blobs: ReadonlyMap<Digest, PlannedBlob>;
  readonly changes: readonly Change[];
  readonly dropped: readonly Dropped[];
  readonly renames: readonly Rename[];
}

/** What transforms may need besides the plan. */
export interface TransformContext {
  /** The target's platforms, in the order a fix prefers them. */
  readonly platforms: readonly Platform[];
  /** The platform the user asked for, before the target's. */
  readonly platform?: Platform | undefined;
  /** gzip versions of layers (by the original layer's digest), made beforehand by the writer. */
  readonly gzipped?: ReadonlyMap<Digest, Descriptor> | undefined;
}

/** A transform. */
export type Transform = (plan: Plan, params: Params, context: TransformContext) => Plan;

/** The plan that writes the image as it is. */
export function planFromGraph(graph: ImageGraph): Plan {
  const docs = new Map<Digest, PlannedDoc>();
  if (graph.root.kind === 'index') docs.set(graph.root.digest, { stored: graph.root, role: 'index' });
  for (const i of graph.images) docs.set(i.stored.digest, { stored: i.stored, role: 'image', platform: i.platform });
  for (const e of graph.indexEntries) {
    if (e.stored === undefined) continue;
    docs.set(e.stored.digest, {
      stored: e.stored,
      role: 'attachment',
      kind: e.kind,
      subject: e.subject,
      placement: { type: 'index-entry' },
    });
  }
  for (const a of graph.attachments) {
    const at = a.attachment;
    const placement: Placement =
      at.storage === 'cosign'
        ? { type: 'tag', suffix: (at.tag?.split('.').pop() ?? 'att') as 'att' | 'sig' | 'sbom' }
        : { type: 'referrer' };
    docs.set(a.stored.digest, { stored: a.stored, role: 'attachment', kind: at.kind, subject: at.subject, placement });
  }
  return { root: graph.root.digest, docs, blobs: new Map(), changes: [], dropped: [], renames: [] };
}

/** The cosign tag an attachment is stored under. */
export function cosignTag(subject: Digest, suffix: string): string {
  return `${digestAlgorithm(subject)}-${digestHex(subject)}.${suffix}`;
}

/** A mutable copy of a plan, for one transform. */
class Draft {
  root: Digest;
  readonly docs: Map<Digest, PlannedDoc>;
  readonly blobs: Map<Digest, PlannedBlob>;
  readonly changes: Change[];
  readonly dropped: Dropped[];
  readonly renames: Rename[];
  readonly fix: FixId;

  constructor(plan: Plan, fix: FixId) {
    this.root = plan.root;
    this.docs = new Map(plan.docs);
    this.blobs = new Map(plan.blobs);
    this.changes = [...plan.changes];
    this.dropped = [...plan.dropped];
    this.renames = [...plan.renames];
    this.fix = fix;
  }

  finish(): Plan {
    return { root: this.root, docs: this.docs, blobs: this.blobs, changes: this.changes, dropped: this.dropped, renames: this.renames };
  }

  note(text: string, from?: Digest, to?: Digest, fix: FixId | 'cascade' = this.fix): void {
    this.changes.push({ fix, text, ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) });
  }

  describe(doc: PlannedDoc): string {
    if (doc.role === 'index') return `index ${short(doc.stored.digest)}`;
    if (doc.role === 'image') return `${doc.platform ? formatPlatform(doc.platform) : 'image'} manifest ${short(doc.stored.digest)}`;
    return `${doc.kind ?? 'attachment'} ${short(doc.stored.digest)}`;
  }

  attachedTo(digest: Digest): PlannedDoc[] {
    return [...this.docs.values()].filter((d) => d.role === 'attachment' && d.subject === digest);
  }

  /**
   * Puts `next` in place of the manifest `old`, and carries the change to everything that names
   * `old`: indexes that list it, attachments about it.
   */
  replace(old: Digest, next: Stored, text: string, fix: FixId | 'cascade' = this.fix, meta: Partial<PlannedDoc> = {}): void {
    const doc = this.docs.get(old);
    if (doc === undefined) throw new Error(`internal: ${old} is not in the plan`);
    if (next.digest === old && Object.keys(meta).length === 0) return;
    this.docs.delete(old);
    this.docs.set(next.digest, { ...doc, ...meta, stored: next });
    if (next.digest === old) return;
    this.renames.push({ from: old, to: next.digest, role: doc.role, kind: doc.kind });
    this.note(text, old, next.digest, fix);
    if (this.root === old) this.root = next.digest;
    for (const index of [...this.docs.values()].filter((d) => d.stored.kind === 'index' && listsDigest(d.stored, old))) {
      const updated = relistIndex(index.stored as Stored & { kind: 'index' }, old, next);
      this.replace(
        index.stored.digest,
        updated,
        `${this.describe(index)} now lists ${short(next.digest)} in place of ${short(old)}`,
        'cascade',
      );
    }
    for (const a of this.attachedTo(old)) this.reattach(a, old, next);
  }

  reattach(a: PlannedDoc, old: Digest, next: Stored): void {
    if (a.kind === 'signature') {
      this.drop(
        a.stored.digest,
        `signature ${short(a.stored.digest)} of ${short(old)}`,
        `it signs ${old}, which the fixed image replaces with ${next.digest}; it stays valid for the old digest only`,
        old,
      );
      return;
    }
    const own = subjectField(a.stored);
    if (own !== undefined && own.digest === old && a.stored.kind === 'manifest') {
      const moved = manifestStored({ ...a.stored.manifest, subject: descriptorOf(next) });
      this.replace(
        a.stored.digest,
        moved,
        `${this.describe(a)} now has subject ${short(next.digest)}; the statements it holds still name ${short(old)}`,
        'cascade',
        { subject: next.digest },
      );
      return;
    }
    this.docs.set(a.stored.digest, { ...a, subject: next.digest });
    const where =
      a.placement?.type === 'tag' ? `now under tag ${cosignTag(next.digest, a.placement.suffix)}` : `now attached to ${short(next.digest)}`;
    this.note(`${this.describe(a)} ${where}; the statements it holds still name ${short(old)}`, undefined, undefined, 'cascade');
  }

  /** Leaves a manifest out, with everything attached to it. */
  drop(digest: Digest, what: string, why: string, signs?: Digest): void {
    const doc = this.docs.get(digest);
    if (doc === undefined) return;
    this.docs.delete(digest);
    this.dropped.push({ digest, what, why, ...(signs === undefined ? {} : { signs }) });
    for (const a of this.attachedTo(digest)) {
      this.drop(
        a.stored.digest,
        this.describe(a),
        `it is attached to ${short(digest)}, which the fixed image does not carry`,
        a.kind === 'signature' ? digest : undefined,
      );
    }
  }

  /** A new small blob (a config). */
  blob(bytes: Uint8Array, mediaType: string): Descriptor {
    const descriptor: Descriptor = { mediaType, digest: digestOf(bytes), size: bytes.byteLength };
    this.blobs.set(descriptor.digest, { descriptor, bytes });
    return descriptor;
  }

  /**
   * Turns an attachment into a referrer or a cosign-tagged manifest. The caller has taken it
   * out of any index. Returns false (and says why) when it cannot.
   */
  detach(doc: PlannedDoc, to: 'referrers' | 'cosign-tag', config: 'keep' | 'image'): boolean {
    const stored = doc.stored;
    if (stored.kind !== 'manifest') {
      this.note(`${this.describe(doc)} is an index, not a manifest; left where it is`);
      return false;
    }
    const subject = doc.subject === undefined ? undefined : this.docs.get(doc.subject);
    if (doc.subject === undefined || subject === undefined) {
      this.drop(stored.digest, this.describe(doc), 'it names no subject that the fixed image carries, so it has nowhere to be attached');
      return false;
    }
    let m: ImageManifest = stored.manifest;
    if (config === 'image' && m.config.mediaType === MediaType.OciEmpty) {
      m = { ...m, config: this.blob(attestationConfig(m.layers), MediaType.OciConfig) };
    }
    if (to === 'referrers') {
      const artifactType = m.artifactType ?? (doc.kind === 'attestation' ? ArtifactType.BuildkitAttestation : undefined);
      m = { ...m, ...(artifactType === undefined ? {} : { artifactType }), subject: descriptorOf(subject.stored) };
      const next = manifestStored(m);
      const meta = { placement: { type: 'referrer' } as const, subject: subject.stored.digest };
      if (next.digest === stored.digest) {
        this.docs.set(stored.digest, { ...doc, ...meta });
        this.note(`${this.describe(doc)} is now a referrer of ${short(subject.stored.digest)} (manifest unchanged)`);
      } else {
        this.replace(
          stored.digest,
          next,
          `${this.describe(doc)} rewritten as a referrer of ${short(subject.stored.digest)}; its layers are unchanged`,
          this.fix,
          meta,
        );
      }
      return true;
    }
    const suffix = doc.kind === 'signature' ? 'sig' : doc.kind === 'sbom' ? 'sbom' : 'att';
    const { subject: _dropped, ...rest } = m;
    let next = manifestStored(rest);
    const tag = cosignTag(subject.stored.digest, suffix);
    const sharing = [...this.docs.values()].find(
      (d) => d !== doc && d.placement?.type === 'tag' && d.placement.suffix === suffix && d.subject === subject.stored.digest,
    );
    if (sharing !== undefined && sharing.stored.kind === 'manifest') {
      // cosign keeps one manifest per tag and appends layers to it; so does this.
      const layers = [...sharing.stored.manifest.layers, ...rest.layers];
      const merged: ImageManifest = {
        ...sharing.stored.manifest,
        config: this.blob(attestationConfig(layers), MediaType.OciConfig),
        layers,
      };
      next = manifestStored(merged);
      this.drop(stored.digest, this.describe(doc), `its layers were added to the manifest under ${tag}`);
      this.replace(
        sharing.stored.digest,
        next,
        `${this.describe(sharing)} under ${tag} now also holds the layers of ${short(stored.digest)}`,
      );
      return true;
    }
    const meta = { placement: { type: 'tag', suffix } as const, subject: subject.stored.digest };
    if (next.digest === stored.digest) {
      this.docs.set(stored.digest, { ...doc, ...meta });
      this.note(`${this.describe(doc)} is now stored under tag ${tag} (manifest unchanged)`);
    } else {
      this.replace(
        stored.digest,
        next,
        `${this.describe(doc)} rewritten without a subject and stored under tag ${tag}; its layers are unchanged`,
        this.fix,
        meta,
      );
    }
    return true;
  }
}

/** The config BuildKit gives an attestation manifest: an image config over its layers. */
function attestationConfig(layers: readonly Descriptor[]): Uint8Array {
  return encodeJson({
    architecture: 'unknown',
    os: 'unknown',
    config: {},
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
  });
}

function subjectField(stored: Stored): Descriptor | undefined {
  return stored.kind === 'manifest' ? stored.manifest.subject : stored.index.subject;
}

function listsDigest(index: Stored, digest: Digest): boolean {
  return (
    index.kind === 'index' &&
    index.index.manifests.some((m) => m.digest === digest || m.annotations?.[Annotation.DockerReferenceDigest] === digest)
  );
}

function relistIndex(index: Stored & { kind: 'index' }, old: Digest, next: Stored): Stored {
  const manifests = index.index.manifests.map((m) => {
    let e = m;
    if (e.digest === old) e = { ...e, mediaType: next.mediaType, digest: next.digest, size: next.bytes.byteLength };
    if (e.annotations?.[Annotation.DockerReferenceDigest] === old) {
      e = { ...e, annotations: { ...e.annotations, [Annotation.DockerReferenceDigest]: next.digest } };
    }
    return e;
  });
  return indexStored({ ...index.index, manifests }, index.mediaType);
}

/** A manifest's JSON in the spec's field order. */
function manifestStored(m: ImageManifest): Stored & { kind: 'manifest' } {
  const { schemaVersion, mediaType, artifactType, config, layers, subject, annotations, ...other } = m;
  const ordered = {
    schemaVersion,
    ...(mediaType === undefined ? {} : { mediaType }),
    ...(artifactType === undefined ? {} : { artifactType }),
    config,
    layers,
    ...(subject === undefined ? {} : { subject }),
    ...(annotations === undefined ? {} : { annotations }),
    ...other,
  };
  return parseStored(encodeJson(ordered), { mediaType: mediaType ?? MediaType.OciManifest }) as Stored & { kind: 'manifest' };
}

function indexStored(index: ImageIndex, mediaType: string): Stored {
  return parseStored(encodeJson(index), { mediaType: index.mediaType ?? mediaType });
}

function docsWhere(d: Draft, test: (doc: PlannedDoc) => boolean): PlannedDoc[] {
  return [...d.docs.values()].filter(test);
}

/**
 * The documents `test` picks, each as it is when its turn comes: changing one can change or drop
 * another (an attestation of a rewritten manifest gets a new subject, a signature of it goes).
 */
function* eachWhere(d: Draft, test: (doc: PlannedDoc) => boolean): Generator<PlannedDoc> {
  for (const picked of docsWhere(d, test)) {
    const now = d.docs.get(picked.stored.digest);
    if (now !== undefined && test(now)) yield now;
  }
}

/** Takes the listed attestations out of the root index and stores them `to`. */
function moveIndexEntries(d: Draft, to: 'referrers' | 'cosign-tag', config: 'keep' | 'image', kinds: readonly string[]): void {
  const rootDoc = d.docs.get(d.root);
  if (rootDoc === undefined || rootDoc.stored.kind !== 'index') {
    d.note('the image is not an index; no attestations listed in one to move');
    return;
  }
  const entries = docsWhere(d, (doc) => doc.placement?.type === 'index-entry');
  const moving = entries.filter((e) => kinds.includes(e.kind ?? 'other'));
  for (const e of entries.filter((x) => !moving.includes(x))) {
    d.note(`${d.describe(e)} left in the index: its kind (${e.kind ?? 'other'}) is not one this fix moves`);
  }
  if (moving.length === 0) return;
  const gone = new Set(moving.map((e) => e.stored.digest));
  const index = rootDoc.stored.index;
  const next = indexStored({ ...index, manifests: index.manifests.filter((m) => !gone.has(m.digest)) }, rootDoc.stored.mediaType);
  d.replace(
    rootDoc.stored.digest,
    next,
    `index ${short(rootDoc.stored.digest)} no longer lists ${moving.length} attestation entr${moving.length === 1 ? 'y' : 'ies'} (unknown/unknown)`,
  );
  for (const e of moving) {
    const current = d.docs.get(e.stored.digest);
    if (current !== undefined) d.detach(current, to, config);
  }
}

const ALL_KINDS = ['attestation', 'signature', 'sbom', 'other'];

/** Every fix, by id. */
export const TRANSFORMS: Record<FixId, Transform> = {
  'single-manifest'(plan, params, context) {
    const d = new Draft(plan, 'single-manifest');
    const rootDoc = d.docs.get(d.root)!;
    if (rootDoc.stored.kind !== 'index') {
      d.note('the image is already a single manifest');
      return d.finish();
    }
    const images = docsWhere(d, (doc) => doc.role === 'image' && doc.stored.kind === 'manifest');
    // The platform asked for, else the target's in its order of preference, else the only one.
    const wanted = context.platform !== undefined ? [context.platform] : context.platforms;
    let chosen: PlannedDoc | undefined = wanted.length === 0 && images.length === 1 ? images[0] : undefined;
    for (const w of wanted) {
      chosen = images.find((i) => i.platform !== undefined && platformMatches(w, i.platform));
      if (chosen !== undefined) break;
    }
    if (chosen === undefined) {
      const offered = images.map((i) => (i.platform ? formatPlatform(i.platform) : '(no platform)')).join(', ') || '(none)';
      const asked = wanted.length === 0 ? 'single platform' : wanted.map(formatPlatform).join(' or ');
      throw new ProvenantError('NO_MATCHING_PLATFORM', `the image has no ${asked} manifest to keep`, {
        where: rootDoc.stored.digest,
        hint: `it has ${offered}; name one with --platform`,
      });
    }
    const chosenDigest = chosen.stored.digest;
    const platform = chosen.platform ? formatPlatform(chosen.platform) : 'chosen';
    const entries = docsWhere(d, (doc) => doc.placement?.type === 'index-entry');
    const indexDigest = rootDoc.stored.digest;
    d.drop(indexDigest, `index ${short(indexDigest)}`, `the target takes a single manifest; the ${platform} manifest takes its place`);
    d.root = chosenDigest;
    d.note(
      `the image is now the ${platform} manifest ${short(chosenDigest)} itself, in place of the index ${short(indexDigest)}`,
      indexDigest,
      chosenDigest,
    );
    const to = stringParam(params, 'attestations') === 'cosign-tag' ? 'cosign-tag' : 'referrers';
    for (const e of entries) {
      const current = d.docs.get(e.stored.digest);
      if (current === undefined) continue;
      if (current.subject === chosenDigest) d.detach(current, to, 'keep');
    }
    for (const other of images.filter((i) => i !== chosen)) {
      const p = other.platform ? formatPlatform(other.platform) : 'other';
      d.drop(other.stored.digest, `${p} manifest ${short(other.stored.digest)}`, `the fixed image is the ${platform} manifest only`);
    }
    for (const e of docsWhere(d, (doc) => doc.placement?.type === 'index-entry')) {
      d.drop(e.stored.digest, d.describe(e), 'it was listed in the index for no platform the fixed image keeps');
    }
    return d.finish();
  },

  'move-attestations'(plan, params) {
    const d = new Draft(plan, 'move-attestations');
    const to = stringParam(params, 'to') === 'cosign-tag' ? 'cosign-tag' : 'referrers';
    const config = stringParam(params, 'config') === 'image' ? 'image' : 'keep';
    const kinds = listParam(params, 'kinds');
    const which = listParam(params, 'which');
    if (which.includes('index-entries')) moveIndexEntries(d, to, config, kinds);
    const onIndex = (doc: PlannedDoc): boolean => {
      const s = subjectField(doc.stored);
      return s !== undefined && isIndexType(s.mediaType);
    };
    const referrers = docsWhere(
      d,
      (doc) =>
        doc.placement?.type === 'referrer' &&
        kinds.includes(doc.kind ?? 'other') &&
        (which.includes('referrers') || (which.includes('index-referrers') && onIndex(doc))),
    );
    // A referrer moved "to referrers" stays where it is; only cosign tags take them elsewhere.
    if (to === 'cosign-tag') {
      const picked = new Set(referrers.map((r) => r.stored.digest));
      for (const doc of eachWhere(d, (x) => picked.has(x.stored.digest))) d.detach(doc, 'cosign-tag', config);
    } else if (referrers.length > 0) d.note(`${referrers.length} referrer(s) are already referrers; left as they are`);
    return d.finish();
  },

  'set-artifact-type'(plan) {
    const d = new Draft(plan, 'set-artifact-type');
    for (const doc of eachWhere(d, (x) => x.role === 'attachment' && subjectField(x.stored) !== undefined)) {
      const s = doc.stored;
      if (s.kind !== 'manifest' || s.manifest.artifactType !== undefined) continue;
      if (s.manifest.config.mediaType === MediaType.OciEmpty) {
        d.note(`${d.describe(doc)} has no artifactType and an empty config: no type to take; left as it is`);
        continue;
      }
      const next = manifestStored({ ...s.manifest, artifactType: s.manifest.config.mediaType });
      d.replace(s.digest, next, `${d.describe(doc)} given artifactType ${s.manifest.config.mediaType} (its config's media type)`);
    }
    return d.finish();
  },

  'gzip-layers'(plan, params, context) {
    const d = new Draft(plan, 'gzip-layers');
    const from = listParam(params, 'from');
    for (const doc of eachWhere(d, (x) => x.role === 'image' && x.stored.kind === 'manifest')) {
      const m = (doc.stored as Stored & { kind: 'manifest' }).manifest;
      let changed = 0;
      const layers = m.layers.map((l) => {
        const c = layerCompression(l.mediaType);
        if (c === undefined || !from.includes(c)) return l;
        const g = gzippedOf(context, l);
        changed++;
        const mediaType = l.mediaType.startsWith('application/vnd.docker.')
          ? MediaType.DockerLayerGzip
          : l.mediaType.startsWith(MediaType.OciLayerNondistributable)
            ? MediaType.OciLayerNondistributableGzip
            : MediaType.OciLayerGzip;
        return { ...l, mediaType, digest: g.digest, size: g.size };
      });
      if (changed === 0) continue;
      d.replace(
        doc.stored.digest,
        manifestStored({ ...m, layers }),
        `${d.describe(doc)}: ${changed} layer${changed === 1 ? '' : 's'} recompressed with gzip (same files, same diff_ids, same config)`,
      );
    }
    return d.finish();
  },

  'docker-media-types'(plan, _params, context) {
    const d = new Draft(plan, 'docker-media-types');
    if (docsWhere(d, (x) => x.placement?.type === 'index-entry').length > 0) moveIndexEntries(d, 'cosign-tag', 'image', ALL_KINDS);
    for (const doc of eachWhere(d, (x) => x.stored.kind === 'manifest' && (x.role === 'image' || x.placement?.type === 'tag'))) {
      const m = (doc.stored as Stored & { kind: 'manifest' }).manifest;
      let config = m.config;
      if (config.mediaType === MediaType.OciEmpty) config = d.blob(attestationConfig(m.layers), MediaType.DockerConfig);
      else if (config.mediaType === MediaType.OciConfig) config = { ...config, mediaType: MediaType.DockerConfig };
      const layers = m.layers.map((l) => dockerLayer(context, l));
      const next = manifestStored({ schemaVersion: 2, mediaType: MediaType.DockerManifest, config: withoutExtras(config), layers });
      if (next.digest === doc.stored.digest) continue;
      const lost = [m.annotations ? 'annotations' : '', m.artifactType ? 'artifactType' : ''].filter(Boolean);
      d.replace(
        doc.stored.digest,
        next,
        `${d.describe(doc)} rewritten with Docker schema 2 media types${lost.length > 0 ? ` (dropped its ${lost.join(' and ')}, which schema 2 has no place for)` : ''}`,
      );
    }
    const rootDoc = d.docs.get(d.root);
    if (rootDoc !== undefined && rootDoc.stored.kind === 'index' && rootDoc.stored.mediaType !== MediaType.DockerManifestList) {
      const manifests = rootDoc.stored.index.manifests.map((e) => ({
        mediaType: e.mediaType,
        size: e.size,
        digest: e.digest,
        ...(e.platform === undefined ? {} : { platform: e.platform }),
      }));
      const next = parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.DockerManifestList, manifests }), {
        mediaType: MediaType.DockerManifestList,
      });
      d.replace(rootDoc.stored.digest, next, `index ${short(rootDoc.stored.digest)} rewritten as a Docker manifest list`);
    }
    for (const r of docsWhere(d, (x) => x.placement?.type === 'referrer')) {
      d.note(`${d.describe(r)} stays an OCI referrer (schema 2 has no subject); a registry without OCI support may refuse it`);
    }
    return d.finish();
  },
};

function gzippedOf(context: TransformContext, layer: Descriptor): Descriptor {
  const g = context.gzipped?.get(layer.digest);
  if (g === undefined) {
    throw new ProvenantError(
      'UNSUPPORTED_MEDIA_TYPE',
      `layer ${layer.digest} (${layer.mediaType}) needs recompressing, which was not done`,
      {
        hint: 'the writer recompresses layers before this transform runs; call fixImage rather than the transform alone',
      },
    );
  }
  return g;
}

function dockerLayer(context: TransformContext, l: Descriptor): Descriptor {
  const base = withoutExtras(l);
  if (l.mediaType === MediaType.OciLayerGzip || l.mediaType === MediaType.DockerLayerGzip)
    return { ...base, mediaType: MediaType.DockerLayerGzip };
  if (l.mediaType === MediaType.OciLayerNondistributableGzip || l.mediaType === MediaType.DockerForeignLayerGzip) {
    return { ...base, mediaType: MediaType.DockerForeignLayerGzip, ...(l.urls ? { urls: l.urls } : {}) };
  }
  const c = layerCompression(l.mediaType);
  if (c === 'zstd' || c === 'uncompressed' || l.mediaType === DOCKER_LAYER_TAR) {
    const g = gzippedOf(context, l);
    return { mediaType: MediaType.DockerLayerGzip, digest: g.digest, size: g.size };
  }
  // Not a filesystem layer (an attestation's in-toto statement): its type says what it is.
  return base;
}

function withoutExtras(d: Descriptor): Descriptor {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size };
}

/** The layers a plan's fixes must recompress with gzip, by compression. */
export function layersToGzip(plan: Plan, compressions: readonly string[]): Descriptor[] {
  const out = new Map<string, Descriptor>();
  for (const doc of plan.docs.values()) {
    if (doc.role !== 'image' || doc.stored.kind !== 'manifest') continue;
    for (const l of doc.stored.manifest.layers) {
      const c = layerCompression(l.mediaType);
      if (c !== undefined && compressions.includes(c)) out.set(l.digest, l);
    }
  }
  return [...out.values()];
}
