/**
 * The plan of a fixed image: the set of manifests it will be written as, with where each
 * attachment goes, and the {@link Draft} the transforms (transforms.ts) change it through. A
 * changed manifest changes the digest of everything that names it, so {@link Draft.replace}
 * carries a change up the graph: an index lists the new digest, an attestation gets the new
 * subject (fix.ts then leaves out one whose statements name the old digest: they cannot be
 * re-described without signing them again), a signature of the old digest is not carried (it
 * stays valid for the old digest only).
 */
import { ArtifactType, type AttachmentKind } from '../attest/attachments.ts';
import { isProvenantError, ProvenantError } from '../errors.ts';
import { parseImageConfig } from '../image/image-config.ts';
import { cosignTag, descriptorOf, encodeJson, parseStored, type Stored, subjectOf } from '../oci/content.ts';
import { type Digest, digestOf } from '../oci/digest.ts';
import { MediaType } from '../oci/mediatypes.ts';
import { formatPlatform } from '../oci/platform.ts';
import { Annotation, type Descriptor, type ImageIndex, type ImageManifest, type Platform } from '../oci/types.ts';
import { attestationLayer, BundleAnnotation, isBundleMediaType, parseBundle } from '../sign/storage.ts';
import { short } from './detectors.ts';
import type { ImageGraph } from './graph.ts';
import type { FixId, Params } from './params.ts';

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
  /**
   * For a manifest under a cosign tag: the attachments whose layers were appended to it (cosign
   * keeps one manifest per tag), each by its digest when it was merged (the one the account names it
   * by) with the digests of the layers it brought. Its own layers are the others. A statement is
   * left out (or kept) as what it is, one of the attachment that brought it, not the whole manifest.
   */
  readonly merged?: readonly MergedPart[] | undefined;
}

/** An attachment whose layers were appended to another's manifest under a cosign tag; see {@link PlannedDoc.merged}. */
export interface MergedPart {
  readonly digest: Digest;
  readonly kind?: AttachmentKind | undefined;
  readonly layers: readonly Digest[];
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
  /**
   * For a line saying where an attachment went (with its subject, or to a new storage with its
   * manifest unchanged): the attachment's digest, so that the line goes if the attachment does.
   */
  readonly attachment?: Digest | undefined;
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
  /**
   * The write goes ahead even if the target still refuses the result (`fix --force`): a fix that
   * must keep one platform, finding none the target runs, keeps the only one there is.
   */
  readonly force?: boolean | undefined;
  /**
   * Why `single-manifest` keeps one manifest when the target's rules did not ask for it: the
   * destination holds one image (a docker-archive). The target's refusal of an index by default.
   */
  readonly oneImage?: string | undefined;
  /** Where the image is read from (a store location), for the place an error names. */
  readonly location?: string | undefined;
  /** gzip versions of layers (by the original layer's digest), made beforehand by the writer. */
  readonly gzipped?: ReadonlyMap<Digest, Descriptor> | undefined;
  /**
   * The Sigstore bundles the attachments hold (by their layer's digest), read beforehand by the
   * writer: an attestation moved under a cosign tag is rewritten from them (see {@link Draft.detach}).
   */
  readonly bundles?: ReadonlyMap<Digest, Uint8Array> | undefined;
  /**
   * The image configs of the attachments (by the config's digest), read beforehand by the writer:
   * layers merged into a cosign `.att` image are added to its own config (see {@link Draft.detach}).
   */
  readonly configs?: ReadonlyMap<Digest, Record<string, unknown>> | undefined;
}

/** A transform. */
export type Transform = (plan: Plan, params: Params, context: TransformContext) => Plan;

/** The plan that writes the image as it is. */
export function planFromGraph(graph: ImageGraph): Plan {
  const docs = new Map<Digest, PlannedDoc>();
  if (graph.root.kind === 'index') docs.set(graph.root.digest, { stored: graph.root, role: 'index' });
  for (const n of graph.nested) docs.set(n.stored.digest, { stored: n.stored, role: 'index' });
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

/**
 * The plan without the index entries the source store does not hold. A BuildKit export may leave
 * attestation manifests out (graph.ts reads such an image); the fixed image cannot carry what
 * does not exist, and an index that still listed them would name manifests the destination never
 * gets. So every index stops listing them, and the account says which and why.
 */
export function withoutMissingEntries(plan: Plan, graph: ImageGraph): Plan {
  const missing = graph.indexEntries.filter((e) => e.stored === undefined);
  if (missing.length === 0) return plan;
  const gone = new Set<string>(missing.map((e) => e.entry.digest));
  const d = new Draft(plan, 'cascade');
  unlistEntries(
    d,
    gone,
    (doc, removed) =>
      `${d.describe(doc)} no longer lists ${removed} entr${removed === 1 ? 'y' : 'ies'} that ${graph.location} does not hold`,
  );
  for (const e of missing) {
    d.dropped.push({
      digest: e.entry.digest,
      what: `${e.kind} ${short(e.entry.digest)}, listed in the index`,
      why: `${graph.location} does not hold it (BuildKit exports may leave attestations out), so there is nothing to copy`,
    });
  }
  return d.finish();
}

/**
 * Makes every index of the draft stop listing the digests in `gone`; see {@link Draft.settle},
 * which does it with the other changes waiting, each index rewritten once.
 */
export function unlistEntries(d: Draft, gone: ReadonlySet<string>, text: (doc: PlannedDoc, removed: number) => string): void {
  d.settle({ gone, text });
}

/** Entries for {@link Draft.settle} to take out of every index, with the account's line for each index. */
export interface Unlisting {
  readonly gone: ReadonlySet<string>;
  readonly text: (doc: PlannedDoc, removed: number) => string;
}

/** A mutable copy of a plan, for one transform. */
export class Draft {
  root: Digest;
  readonly docs: Map<Digest, PlannedDoc>;
  readonly blobs: Map<Digest, PlannedBlob>;
  readonly changes: Change[];
  readonly dropped: Dropped[];
  readonly renames: Rename[];
  readonly fix: FixId | 'cascade';
  /** Where this draft's own lines of the account (changes, then what is not carried) start. */
  private readonly ownChanges: number;
  private readonly ownDropped: number;
  /** Manifests this draft put under a cosign tag, by their current digest. */
  private readonly tagged = new Set<Digest>();
  /** Each digest this draft replaced, and the digest put in its place (see {@link current}). */
  private readonly forward = new Map<Digest, Digest>();
  /** Digests replaced since the last {@link settle}: the indexes that list them still name them. */
  private readonly stale = new Set<Digest>();

  constructor(plan: Plan, fix: FixId | 'cascade') {
    this.root = plan.root;
    this.docs = new Map(plan.docs);
    this.blobs = new Map(plan.blobs);
    this.changes = [...plan.changes];
    this.dropped = [...plan.dropped];
    this.renames = [...plan.renames];
    this.fix = fix;
    this.ownChanges = plan.changes.length;
    this.ownDropped = plan.dropped.length;
  }

  /** The plan, every index rewritten first to list what it now holds. */
  finish(): Plan {
    this.settle();
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
   * Puts `next` in place of the manifest `old`, and carries the change to the attachments about
   * `old`. The indexes that list `old` are rewritten by {@link settle} (which {@link finish} calls),
   * once for all the changes made before it: until then they still name `old`.
   */
  replace(old: Digest, next: Stored, text: string, fix: FixId | 'cascade' = this.fix, meta: Partial<PlannedDoc> = {}): void {
    const doc = this.docs.get(old);
    if (doc === undefined) throw new Error(`internal: ${old} is not in the plan`);
    if (next.digest === old && Object.keys(meta).length === 0) return;
    this.docs.delete(old);
    this.docs.set(next.digest, { ...doc, ...meta, stored: next });
    if (next.digest === old) return;
    this.moved(doc, old, next.digest);
    this.stale.add(old);
    this.note(text, old, next.digest, fix);
    for (const a of this.attachedTo(old)) this.reattach(a, old, next);
  }

  /**
   * Rewrites each index that lists a manifest replaced since the last settle, or an entry in
   * `unlisting.gone`, and each index above those. Replacing a manifest at once in every index
   * that lists it, and each of those in theirs, re-serialised an index once per path to it: an
   * image whose indexes share their children level after level (6 indexes each listing the 6
   * below, 7 levels, 43 documents) took over a million rewrites. Here the indexes to rewrite are
   * found first, then rewritten children first (a post-order walk of the index graph), each once
   * with all its changes, so that each parent lists its children's final digests: the work is
   * linear in the number of index entries.
   *
   * A rewritten index carries its change to its attachments; one of those may itself be listed
   * by an index rewritten before it, which another round then rewrites.
   *
   * @throws ProvenantError `INVALID_MANIFEST` when an index lists itself, through others or not
   *   (content addressing makes that impossible, unless a store lied about a digest)
   */
  settle(unlisting?: Unlisting): void {
    for (let round = 0; round === 0 ? this.stale.size > 0 || unlisting !== undefined : this.stale.size > 0; round++) {
      // Each round follows one more attachment of a rewritten index; a plan read from a store
      // cannot need as many rounds as it has documents.
      if (round > this.docs.size) {
        throw new ProvenantError('INVALID_MANIFEST', `rewriting the indexes of the image did not settle after ${round} rounds`, {
          where: this.root,
          hint: 'its indexes and attachments name each other in a loop, which content addressing rules out: check the store',
        });
      }
      const seeds = [...this.stale, ...(unlisting?.gone ?? [])];
      this.stale.clear();
      this.relist(seeds, unlisting);
    }
  }

  /** One round of {@link settle}: the indexes above `seeds`, children first, each rewritten once. */
  private relist(seeds: readonly string[], unlisting: Unlisting | undefined): void {
    const indexes = [...this.docs.values()].filter((d) => d.stored.kind === 'index');
    const listedBy = new Map<string, Digest[]>();
    const names = new Map<Digest, Set<string>>();
    for (const ix of indexes) {
      const named = namedBy(ix.stored);
      names.set(ix.stored.digest, named);
      for (const n of named) {
        const by = listedBy.get(n);
        if (by === undefined) listedBy.set(n, [ix.stored.digest]);
        else by.push(ix.stored.digest);
      }
    }
    // Every index that lists a seed, and every index above one of those.
    const dirty = new Set<Digest>();
    const queue = seeds.flatMap((s) => listedBy.get(s) ?? []);
    for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
      if (dirty.has(next)) continue;
      dirty.add(next);
      queue.push(...(listedBy.get(next) ?? []));
    }
    if (dirty.size === 0) return;
    const order = childrenFirst(
      indexes.map((ix) => ix.stored.digest).filter((d) => dirty.has(d)),
      (d) => [...(names.get(d) ?? [])].filter((n): n is Digest => dirty.has(n as Digest)),
    );
    const about = new Map<Digest, Digest[]>();
    for (const d of this.docs.values()) {
      if (d.role !== 'attachment' || d.subject === undefined || !dirty.has(d.subject)) continue;
      const list = about.get(d.subject);
      if (list === undefined) about.set(d.subject, [d.stored.digest]);
      else list.push(d.stored.digest);
    }
    for (const digest of order) {
      // An index with a subject may have been re-attached (and so replaced) in this round already.
      const doc = this.docs.get(this.current(digest));
      if (doc === undefined || doc.stored.kind !== 'index') continue;
      const index = doc.stored;
      const relisted = new Map<Digest, Digest>();
      let removed = 0;
      const manifests: Descriptor[] = [];
      for (const m of index.index.manifests) {
        if (unlisting?.gone.has(m.digest)) {
          removed++;
          continue;
        }
        let e = m;
        const now = this.docs.get(this.current(m.digest));
        if (now !== undefined && now.stored.digest !== m.digest) {
          relisted.set(m.digest, now.stored.digest);
          e = { ...e, mediaType: now.stored.mediaType, digest: now.stored.digest, size: now.stored.bytes.byteLength };
        }
        const ref = e.annotations?.[Annotation.DockerReferenceDigest] as Digest | undefined;
        const refNow = ref === undefined ? undefined : this.current(ref);
        if (ref !== undefined && refNow !== undefined && refNow !== ref && this.docs.has(refNow)) {
          relisted.set(ref, refNow);
          e = { ...e, annotations: { ...e.annotations, [Annotation.DockerReferenceDigest]: refNow } };
        }
        manifests.push(e);
      }
      if (removed === 0 && relisted.size === 0) continue;
      const next = indexStored({ ...index.index, manifests }, index.mediaType);
      if (removed > 0) this.note(unlisting!.text(doc, removed), index.digest, next.digest);
      for (const [from, to] of relisted) {
        this.note(`${this.describe(doc)} now lists ${short(to)} in place of ${short(from)}`, index.digest, next.digest, 'cascade');
      }
      this.docs.delete(index.digest);
      this.docs.set(next.digest, { ...doc, stored: next });
      // Not stale: every index that lists this one is dirty too, and comes after it in `order`.
      this.moved(doc, index.digest, next.digest);
      for (const a of about.get(digest) ?? []) {
        const att = this.docs.get(a);
        if (att !== undefined && att.subject === index.digest) this.reattach(att, index.digest, next);
      }
    }
  }

  /** Records that the manifest `doc` (at `old`) is now at `next`. */
  private moved(doc: PlannedDoc, old: Digest, next: Digest): void {
    this.renames.push({ from: old, to: next, role: doc.role, kind: doc.kind });
    this.forward.set(old, next);
    if (this.root === old) this.root = next;
    if (this.tagged.delete(old)) this.tagged.add(next);
  }

  /** The digest that the manifest once at `digest` has now, following this draft's replacements. */
  private current(digest: Digest): Digest {
    let at = digest;
    // A manifest replaced and then replaced back is at its first digest again: stop at a live one.
    for (let hops = 0; !this.docs.has(at) && hops <= this.forward.size; hops++) {
      const next = this.forward.get(at);
      if (next === undefined) break;
      at = next;
    }
    return at;
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
    const own = subjectOf(a.stored);
    if (own !== undefined && own.digest === old && a.stored.kind === 'manifest') {
      const moved = manifestStored({ ...a.stored.manifest, subject: descriptorOf(next) });
      this.replace(
        a.stored.digest,
        moved,
        `${this.describe(a)} now has subject ${short(next.digest)} in place of ${short(old)}`,
        'cascade',
        { subject: next.digest },
      );
      return;
    }
    this.docs.set(a.stored.digest, { ...a, subject: next.digest });
    if (a.placement?.type === 'tag') {
      // A tag this draft named is not written until the plan is: name the tag it will be, so the
      // account lists only tags that exist (docker-media-types tags an attachment, then
      // rewrites its subject, often more than once).
      const before = cosignTag(old, a.placement.suffix);
      const after = cosignTag(next.digest, a.placement.suffix);
      for (let i = this.ownChanges; i < this.changes.length; i++) {
        const c = this.changes[i]!;
        if (c.text.includes(before)) this.changes[i] = { ...c, text: c.text.replaceAll(before, after) };
      }
      for (let i = this.ownDropped; i < this.dropped.length; i++) {
        const x = this.dropped[i]!;
        if (x.why.includes(before)) this.dropped[i] = { ...x, why: x.why.replaceAll(before, after) };
      }
    }
    const where =
      a.placement?.type === 'tag' && !this.tagged.has(a.stored.digest)
        ? `now under tag ${cosignTag(next.digest, a.placement.suffix)}`
        : `now attached to ${short(next.digest)}`;
    this.changes.push({
      fix: 'cascade',
      text: `${this.describe(a)} ${where}; it was attached to ${short(old)}`,
      attachment: a.stored.digest,
    });
  }

  /** Leaves a manifest out, with everything attached to it. */
  drop(digest: Digest, what: string, why: string, signs?: Digest): void {
    if (!this.docs.has(digest)) return;
    this.dropped.push({ digest, what, why, ...(signs === undefined ? {} : { signs }) });
    this.without(digest);
  }

  /**
   * Leaves a manifest out as {@link drop} does, everything attached to it said in `dropped`, but
   * not the manifest itself: its caller says what became of it (moved, or its statements left out).
   */
  without(digest: Digest): void {
    if (!this.docs.delete(digest)) return;
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
  detach(
    given: PlannedDoc,
    to: 'referrers' | 'cosign-tag',
    config: 'keep' | 'image',
    read: Pick<TransformContext, 'bundles' | 'configs'> = {},
  ): boolean {
    // The subject may be an index that still lists a manifest replaced before: rewrite it first,
    // so that the subject named is the index as it will be written (and the attachment as it is then).
    this.settle();
    const doc = this.docs.get(this.current(given.stored.digest));
    // Left out while the indexes were rewritten (a signature of one); `dropped` says why.
    if (doc === undefined) return false;
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
    if (to === 'cosign-tag' && doc.kind === 'signature' && stored.manifest.layers.some((l) => isBundleMediaType(l.mediaType))) {
      // cosign 3's signature is a Sigstore bundle; under a .sig tag cosign and Provenant read
      // simple-signing layers only, so moved there it would be found by no one. It is left out,
      // and the digest it signed is signed again by a fix given a key (see signingNeeds in fix.ts).
      this.drop(
        stored.digest,
        this.describe(doc),
        `it is a Sigstore bundle, which no verifier reads under a .sig tag; it stays valid for ${short(subject.stored.digest)} where the source holds it`,
        subject.stored.digest,
      );
      return false;
    }
    let m: ImageManifest = stored.manifest;
    // What became of the layers under a tag: kept, or a bundle's rewritten in cosign 2's shape.
    let layersSaid = 'its layers are unchanged';
    if (to === 'cosign-tag' && m.layers.some((l) => isBundleMediaType(l.mediaType))) {
      const moved = this.cosignAttestation(m, read.bundles ?? new Map());
      if (typeof moved === 'string') {
        this.drop(stored.digest, this.describe(doc), moved);
        return false;
      }
      m = moved.manifest;
      layersSaid = moved.said;
    }
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
        // Named as the attachment it is about, as reattach's lines are: an attachment left out
        // later (fix.ts, withoutStaleStatements) takes its lines with it.
        this.changes.push({
          fix: this.fix,
          text: `${this.describe(doc)} is now a referrer of ${short(subject.stored.digest)} (manifest unchanged)`,
          attachment: stored.digest,
        });
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
        config: this.mergedConfig(sharing.stored.manifest, rest, read.configs ?? new Map()),
        layers,
      };
      next = manifestStored(merged);
      // Moved, not left out: its statements are carried in that manifest, which `merged` records
      // (fix.ts reports it with those moved). Only what is attached to it is not carried.
      this.without(stored.digest);
      this.replace(
        sharing.stored.digest,
        next,
        `${this.describe(sharing)} under ${tag} now also holds the layers of ${this.describe(doc)}, moved there (cosign keeps one manifest per tag)`,
        this.fix,
        { merged: [...(sharing.merged ?? []), { digest: stored.digest, kind: doc.kind, layers: rest.layers.map((l) => l.digest) }] },
      );
      return true;
    }
    const meta = { placement: { type: 'tag', suffix } as const, subject: subject.stored.digest };
    this.tagged.add(next.digest);
    if (next.digest === stored.digest) {
      this.docs.set(stored.digest, { ...doc, ...meta });
      this.changes.push({
        fix: this.fix,
        text: `${this.describe(doc)} is now stored under tag ${tag} (manifest unchanged)`,
        attachment: stored.digest,
      });
    } else {
      this.replace(
        stored.digest,
        next,
        `${this.describe(doc)} rewritten without a subject and stored under tag ${tag}; ${layersSaid}`,
        this.fix,
        meta,
      );
    }
    return true;
  }

  /**
   * The config of the manifest `into` (under a cosign tag) once the layers of `from` are added to
   * it, as the statements left out of one are (fix.ts, configOfKept): cosign's own config, read in
   * `configs`, keeps its fields and lists the layers added after its own (see configOver), each with
   * the history entry `from`'s config gave it; Provenant's, or one that does not pair with its
   * layers, is made again as Provenant makes one.
   */
  private mergedConfig(into: ImageManifest, from: ImageManifest, configs: ReadonlyMap<Digest, Record<string, unknown>>): Descriptor {
    const layers = [...into.layers, ...from.layers];
    const own = (): Descriptor => this.blob(attestationConfig(layers), MediaType.OciConfig);
    const cosign = isImageConfig(into) && !isOwnConfig(into);
    const config = cosign ? this.configOf(into.config.digest, configs) : undefined;
    if (config === undefined) return own();
    const theirs = isImageConfig(from) ? this.configOf(from.config.digest, configs) : undefined;
    const history = theirs === undefined ? undefined : layerHistory(theirs, from.layers.length);
    const bytes = configOver(config, into.layers, () => true, from.layers, history);
    return bytes === undefined ? own() : this.blob(bytes, into.config.mediaType);
  }

  /** The image config `digest`, as read beforehand or made by this plan (a merge before this one); undefined when neither has it. */
  private configOf(digest: Digest, configs: ReadonlyMap<Digest, Record<string, unknown>>): Record<string, unknown> | undefined {
    const read = configs.get(digest);
    const bytes = this.blobs.get(digest)?.bytes;
    if (read !== undefined || bytes === undefined) return read;
    try {
      return parseImageConfig(bytes, digest);
    } catch (err) {
      if (isProvenantError(err, 'INVALID_CONFIG')) return undefined;
      throw err;
    }
  }

  /**
   * `m`, an attestation made of Sigstore bundles (cosign 3's referrer), as cosign 2 stores one
   * under a `.att` tag: each bundle's DSSE envelope as a layer, with its predicate type, the
   * certificate and the log entry as annotations (sign/storage.ts attestationLayer, the layer
   * `attest` writes). A bundle is only read from a referrer: moved to a tag as it is, it would be
   * found by no verifier. Returns why, when a bundle cannot be moved so.
   */
  private cosignAttestation(
    m: ImageManifest,
    bundles: ReadonlyMap<Digest, Uint8Array>,
  ): { manifest: ImageManifest; said: string } | string {
    const layers: Descriptor[] = [];
    let rewritten = 0;
    let timestamps = 0;
    for (const l of m.layers) {
      if (!isBundleMediaType(l.mediaType)) {
        layers.push(l);
        continue;
      }
      const bytes = bundles.get(l.digest);
      if (bytes === undefined) return `its Sigstore bundle ${short(l.digest)} could not be read, so it cannot be stored under a cosign tag`;
      let layer: ReturnType<typeof attestationLayer>;
      try {
        const bundle = parseBundle(bytes);
        if (bundle.content.$case !== 'dsseEnvelope')
          return `its Sigstore bundle ${short(l.digest)} holds a message signature, not an attestation`;
        const vm = bundle.verificationMaterial;
        const rfc3161 = vm.timestampVerificationData?.rfc3161Timestamps.length ?? 0;
        if (vm.content.$case !== 'publicKey' && vm.tlogEntries.length === 0) {
          // cosign 2 checks a .att layer's RFC 3161 timestamp over the envelope; the bundle's is
          // over the signature. Without a log entry nothing would say when the certificate was valid.
          return `its Sigstore bundle ${short(l.digest)} proves when it was signed by an RFC 3161 timestamp over the signature only, which cosign's .att layer has no place for, so its certificate could not be verified there`;
        }
        if (rfc3161 > 0) timestamps++;
        const predicateType = predicateTypeOf(bundle.content.dsseEnvelope.payload) ?? l.annotations?.[BundleAnnotation.PredicateType];
        if (predicateType === undefined) return `its Sigstore bundle ${short(l.digest)} holds no in-toto statement`;
        const chain =
          vm.content.$case === 'x509CertificateChain' ? vm.content.x509CertificateChain.certificates.slice(1).map((c) => c.rawBytes) : [];
        layer = attestationLayer(predicateType, { bundle, chain });
      } catch (err) {
        return `its Sigstore bundle ${short(l.digest)} cannot be rewritten as a cosign .att layer: ${(err as Error).message}`;
      }
      const descriptor: Descriptor = {
        mediaType: layer.mediaType,
        digest: digestOf(layer.payload),
        size: layer.payload.byteLength,
        annotations: layer.annotations,
      };
      this.blobs.set(descriptor.digest, { descriptor, bytes: layer.payload });
      layers.push(descriptor);
      rewritten++;
    }
    // cosign's .att image (pkg/oci/static): an image config over the layers, no artifact type.
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: this.blob(attestationConfig(layers), MediaType.OciConfig),
      layers,
    };
    const lost =
      timestamps === 0
        ? ''
        : ` (without the RFC 3161 timestamp of ${timestamps}: it is over the signature, and cosign reads a .att layer's over the envelope)`;
    const said = `its ${rewritten === 1 ? 'Sigstore bundle is' : `${rewritten} Sigstore bundles are`} stored as cosign's .att layers are, the DSSE envelope signed as it was${lost}`;
    return { manifest, said };
  }
}

/** The predicate type of an in-toto statement's bytes; undefined when they are not one. */
function predicateTypeOf(payload: Uint8Array): string | undefined {
  try {
    const doc = JSON.parse(Buffer.from(payload).toString('utf8')) as { predicateType?: unknown };
    return typeof doc.predicateType === 'string' ? doc.predicateType : undefined;
  } catch {
    return undefined;
  }
}

/** The config BuildKit gives an attestation manifest: an image config over its layers. */
export function attestationConfig(layers: readonly Descriptor[]): Uint8Array {
  return encodeJson({
    architecture: 'unknown',
    os: 'unknown',
    config: {},
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
  });
}

/** Whether the config of `m` is the one Provenant makes over its layers ({@link attestationConfig}), not another tool's. */
export function isOwnConfig(m: ImageManifest): boolean {
  return m.config.digest === digestOf(attestationConfig(m.layers));
}

/**
 * `config`, an image config over the layers `was` that Provenant did not make (cosign's `.att`
 * image's), over the layers of `was` that `keep` keeps, then `added`: its `rootfs.diff_ids` and the
 * `history` entries that pair with layers follow them, its other fields are kept. As the OCI image
 * spec pairs them, the entries not marked `empty_layer` are the layers', in order; one marked so is
 * of no layer, and stays where it is. An added layer is its own diff_id (an attestation's layers are
 * not compressed), with the entry `addedHistory` gives (from its own config), else an empty one.
 * Undefined when `config` does not list a diff_id per layer of `was`, or has a history whose
 * entries of layers are not one per layer: the caller makes Provenant's own.
 */
export function configOver(
  config: Record<string, unknown>,
  was: readonly Descriptor[],
  keep: (i: number) => boolean,
  added: readonly Descriptor[] = [],
  addedHistory?: readonly unknown[],
): Uint8Array | undefined {
  const rootfs = config.rootfs as Record<string, unknown> | undefined;
  const ids = rootfs?.diff_ids;
  if (!Array.isArray(ids) || ids.length !== was.length) return undefined;
  const history = config.history;
  if (history !== undefined && !pairsWith(history, was.length)) return undefined;
  const diffIds = [...ids.filter((_, i) => keep(i)), ...added.map((l) => l.digest)];
  if (history === undefined) return encodeJson({ ...config, rootfs: { ...rootfs, diff_ids: diffIds } });
  let layer = 0;
  const kept = history.filter((h) => isEmptyLayer(h) || keep(layer++));
  const more = added.map((_, i) => addedHistory?.[i] ?? {});
  return encodeJson({ ...config, rootfs: { ...rootfs, diff_ids: diffIds }, history: [...kept, ...more] });
}

/** The history entries of an image config that pair with its layers, in order: those not `empty_layer`. */
function layerHistory(config: Record<string, unknown>, layers: number): unknown[] | undefined {
  const history = config.history;
  if (!pairsWith(history, layers)) return undefined;
  return history.filter((h) => !isEmptyLayer(h));
}

/** Whether `m` is an image (cosign's `.att` image, BuildKit's attestation): an image config, no artifact type. */
export function isImageConfig(m: ImageManifest): boolean {
  return m.artifactType === undefined && (m.config.mediaType === MediaType.OciConfig || m.config.mediaType === MediaType.DockerConfig);
}

/** Whether `history` is a config's history with one entry of a layer (not `empty_layer`) per layer of its `layers`. */
function pairsWith(history: unknown, layers: number): history is unknown[] {
  return Array.isArray(history) && history.filter((h) => !isEmptyLayer(h)).length === layers;
}

function isEmptyLayer(entry: unknown): boolean {
  return typeof entry === 'object' && entry !== null && (entry as { empty_layer?: unknown }).empty_layer === true;
}

/** The digests an index names: its entries, and the manifests BuildKit's attestation entries are about. */
function namedBy(index: Stored): Set<string> {
  const out = new Set<string>();
  if (index.kind !== 'index') return out;
  for (const m of index.index.manifests) {
    out.add(m.digest);
    const ref = m.annotations?.[Annotation.DockerReferenceDigest];
    if (ref !== undefined) out.add(ref);
  }
  return out;
}

/**
 * `nodes` in an order where each comes after the ones `children` gives it (a post-order walk,
 * each node once). Iterative, so a long chain cannot overflow the stack.
 *
 * @throws ProvenantError `INVALID_MANIFEST` naming the index that lists itself, when one does
 */
function childrenFirst(nodes: readonly Digest[], children: (d: Digest) => Digest[]): Digest[] {
  const order: Digest[] = [];
  const state = new Map<Digest, 'open' | 'done'>();
  for (const start of nodes) {
    if (state.has(start)) continue;
    state.set(start, 'open');
    const stack = [{ digest: start, children: children(start), next: 0 }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const child = top.children[top.next++];
      if (child === undefined) {
        stack.pop();
        state.set(top.digest, 'done');
        order.push(top.digest);
        continue;
      }
      const seen = state.get(child);
      if (seen === 'done') continue;
      if (seen === 'open') {
        const through = stack.slice(stack.findIndex((f) => f.digest === child) + 1).map((f) => f.digest);
        const via = through.length === 0 ? '' : `, through ${through.join(', ')}`;
        throw new ProvenantError('INVALID_MANIFEST', `the index ${child} lists itself${via}`, {
          where: child,
          hint: 'a digest names its content, so no index can list itself: the store that held it is not to be trusted',
        });
      }
      state.set(child, 'open');
      stack.push({ digest: child, children: children(child), next: 0 });
    }
  }
  return order;
}

/** A manifest's JSON in the spec's field order. */
export function manifestStored(m: ImageManifest): Stored & { kind: 'manifest' } {
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

export function indexStored(index: ImageIndex, mediaType: string): Stored {
  return parseStored(encodeJson(index), { mediaType: index.mediaType ?? mediaType });
}

export function docsWhere(d: Draft, test: (doc: PlannedDoc) => boolean): PlannedDoc[] {
  return [...d.docs.values()].filter(test);
}

/**
 * The documents `test` picks, each as it is when its turn comes: changing one can change or drop
 * another (an attestation of a rewritten manifest gets a new subject, a signature of it goes).
 */
export function* eachWhere(d: Draft, test: (doc: PlannedDoc) => boolean): Generator<PlannedDoc> {
  for (const picked of docsWhere(d, test)) {
    const now = d.docs.get(picked.stored.digest);
    if (now !== undefined && test(now)) yield now;
  }
}
