/**
 * The image as a check sees it: the root (index or manifest), its platform images, the other
 * entries of the index (BuildKit attestations and artifacts), and everything attached to any of
 * them through referrers or cosign tags. Only manifests and (for a single manifest's platform)
 * its config are read; layers never are, only their descriptors.
 */
import { type Attachment, type AttachmentKind, classifyReferrer, findAttachments, isBuildkitAttestation } from '../attest/attachments.ts';
import { isProvenantError, ProvenantError, throwIfAborted } from '../errors.ts';
import { platformFromConfig } from '../image/config-platform.ts';
import { isAttachedEntry } from '../image/index-entries.ts';
import type { OperationOptions } from '../io/types.ts';
import { INDEX_DEPTH_MAX, type Stored, type StoredManifest, subjectOf } from '../oci/content.ts';
import type { Digest } from '../oci/digest.ts';
import { isIndexType, isManifestLike } from '../oci/mediatypes.ts';
import { Annotation, type Descriptor, type Platform } from '../oci/types.ts';
import { cosignTagsByName, listingRefused } from '../store/tag-list.ts';
import type { ContentStore } from '../store/types.ts';

/** A platform image: the root manifest, or a runnable entry of the root index or of an index nested in it. */
export interface ImageNode {
  readonly stored: Stored;
  /** The root index's entry for it (undefined when it is the root). */
  readonly entry: Descriptor | undefined;
  /** From the index entry, else from the config; undefined when neither says. */
  readonly platform: Platform | undefined;
}

/** An index listed by an index (index → index → manifests). */
export interface NestedIndexNode {
  readonly stored: Stored & { kind: 'index' };
  /** The entry for it of the first index found to list it. */
  readonly entry: Descriptor;
  /** The indexes that list it (one node however many list it, each index once). */
  readonly parents: readonly Digest[];
  /**
   * 1 when the root lists it; when several indexes list it, the longest chain of indexes from
   * the root to it (the order of the entries does not change it).
   */
  readonly depth: number;
}

/** An entry of the root index (or of a nested one) that is not a runnable image. */
export interface EntryNode {
  readonly entry: Descriptor;
  /** Undefined when the store does not hold it (BuildKit exports may leave attestations out). */
  readonly stored: Stored | undefined;
  /** What it is attached to: `subject`, else BuildKit's `vnd.docker.reference.digest`. */
  readonly subject: Digest | undefined;
  readonly kind: AttachmentKind;
}

/** A manifest found through referrers or a cosign tag. */
export interface AttachmentNode {
  readonly attachment: Attachment;
  readonly stored: Stored;
}

/** What {@link readImageGraph} read. */
export interface ImageGraph {
  /** Where the image is (a store location). */
  readonly location: string;
  readonly root: Stored;
  /** Indexes listed by the root index or by another nested one, parents before children. */
  readonly nested: readonly NestedIndexNode[];
  readonly images: readonly ImageNode[];
  readonly indexEntries: readonly EntryNode[];
  readonly attachments: readonly AttachmentNode[];
  /** Things the reader could not read or stopped at, said plainly. */
  readonly notes: readonly string[];
}

/** Options of {@link readImageGraph}. */
export interface ReadGraphOptions extends OperationOptions {
  /** Look for referrers and cosign tags (default true). */
  attachments?: boolean | undefined;
  /** Stop after this many attachments (default 256): a registry decides how many there are. */
  maxAttachments?: number | undefined;
  /**
   * Fail when an index and the indexes nested in it name more documents than this (default
   * {@link MAX_DOCUMENTS}): the source decides how many there are.
   */
  maxDocuments?: number | undefined;
}

const MAX_DEPTH = 4;
/**
 * How deep indexes may nest under the root: the root is 0, an index it lists 1, and an index 8
 * levels down is read (docs/targets.md says so, from docs.ts): the cap copy and sign walk with,
 * counted the same way. Deeper is an error, not a note: an image left unread would be judged
 * accepted.
 */
export const MAX_NESTING = INDEX_DEPTH_MAX;
/** How many documents an index and its nested indexes may name, each counted once. */
export const MAX_DOCUMENTS = 10_000;

/**
 * Reads the graph of an image from any store.
 *
 * @throws ProvenantError `NOT_FOUND` when `target` is not in the store; `INVALID_MANIFEST` when
 *   an index is nested more than {@link MAX_NESTING} deep, or the indexes name more than
 *   `maxDocuments` documents; and whatever the store raises for content it cannot read
 */
export async function readImageGraph(store: ContentStore, target: string, options: ReadGraphOptions = {}): Promise<ImageGraph> {
  const root = await store.getManifest(target, options);
  const notes: string[] = [];
  const images: ImageNode[] = [];
  const indexEntries: EntryNode[] = [];
  let nested: NestedIndexNode[] = [];
  if (root.kind === 'manifest') {
    images.push({ stored: root, entry: undefined, platform: await platformOrUnknown(store, root, options) });
  } else {
    // An index may list indexes (a multi-platform image gathered per variant, or `crane index
    // append` of an index). Read down to the manifests, as a pull by `--platform` does, so that
    // rules judge what runs: https://github.com/opencontainers/image-spec/blob/v1.1.0/image-index.md
    // Each digest is read once, however many indexes list it and however often: an index may
    // list one child many times at each level, and walking every path would read (and judge)
    // fan-out^depth documents. A nested index listed by several indexes is one node with several
    // parents. Content addressing makes a cycle impossible, and a store that lies about it meets
    // a digest already seen. A manifest is one image per platform it is listed under (the same
    // manifest as linux/amd64 and as linux/amd64/v3 is judged for each).
    const seen = new Set<string>();
    const walked = new Set<string>([root.digest]);
    const parentsOf = new Map<string, Digest[]>();
    const found: Array<Omit<NestedIndexNode, 'depth'>> = [];
    const maxDocuments = options.maxDocuments ?? MAX_DOCUMENTS;
    const tooDeep = (digest: Digest, depth: number): ProvenantError =>
      new ProvenantError(
        'INVALID_MANIFEST',
        `the index ${digest} is nested ${depth} deep, more than the ${MAX_NESTING} levels read; the images in it would go unjudged`,
        { where: `${store.location}@${digest}`, hint: 'check or fix the nested index itself (name its digest)' },
      );
    // `depth` is that of one path to the index: when it is already too deep, the longest is too.
    const walk = async (index: Stored & { kind: 'index' }, depth: number): Promise<void> => {
      for (const entry of index.index.manifests) {
        throwIfAborted(options.signal);
        const parents = parentsOf.get(entry.digest);
        if (parents !== undefined && !parents.includes(index.digest)) parents.push(index.digest);
        const listing = `${entry.digest} ${JSON.stringify(entry.platform ?? null)}`;
        if (seen.has(listing) || walked.has(entry.digest)) continue;
        seen.add(listing);
        if (seen.size > maxDocuments) {
          throw new ProvenantError('INVALID_MANIFEST', `the index names more than ${maxDocuments} documents; not read further`, {
            where: `${store.location}@${root.digest}`,
            hint: 'an index this large is more likely a mistake than an image; check how it was assembled',
          });
        }
        if (!isManifestLike(entry.mediaType)) {
          notes.push(`index entry ${entry.digest} has media type ${entry.mediaType}, not a manifest; not read`);
          continue;
        }
        const stored = await store.getManifest(entry.digest, options).catch((err: unknown) => {
          if (isProvenantError(err, 'NOT_FOUND')) return undefined;
          throw err;
        });
        const subject = stored === undefined ? undefined : subjectOf(stored);
        // Not images: BuildKit's attestations, entries with no real platform (unknown/unknown, or
        // linux/"" as `imagetools create` lists attached SBOMs), and anything with a subject.
        if (isAttachedEntry(entry, stored)) {
          const kind: AttachmentKind = isBuildkitAttestation(entry) ? 'attestation' : classifyReferrer(artifactTypeOf(stored), undefined);
          const refDigest = entry.annotations?.[Annotation.DockerReferenceDigest] as Digest | undefined;
          indexEntries.push({ entry, stored, subject: subject?.digest ?? refDigest, kind });
          if (stored === undefined) notes.push(`index entry ${entry.digest} is not in ${store.location}`);
          continue;
        }
        if (stored === undefined) {
          throw new ProvenantError('NOT_FOUND', `the index names ${entry.digest}, which is not in the store`, {
            where: `${store.location}@${index.digest}`,
          });
        }
        if (stored.kind === 'index') {
          if (depth + 1 > MAX_NESTING) throw tooDeep(stored.digest, depth + 1);
          walked.add(stored.digest);
          const parents: Digest[] = [index.digest];
          parentsOf.set(stored.digest, parents);
          found.push({ stored, entry, parents });
          await walk(stored, depth + 1);
          continue;
        }
        const platform = entry.platform ?? (await platformOrUnknown(store, stored, options));
        images.push({ stored, entry, platform });
      }
    };
    await walk(root, 0);
    // An index listed by several indexes is walked once, from the first that lists it: the depth
    // of that walk depends on the order of the entries. Its depth is that of its deepest parent,
    // plus one, known once every parent is read.
    const depths = nestingDepths(root.digest, found, store.location);
    nested = found.map((n) => ({ ...n, depth: depths.get(n.stored.digest)! }));
    const deep = nested.find((n) => n.depth === MAX_NESTING + 1);
    if (deep !== undefined) throw tooDeep(deep.stored.digest, deep.depth);
  }

  const attachments: AttachmentNode[] = [];
  if (options.attachments !== false) {
    const max = options.maxAttachments ?? 256;
    const seen = new Set<string>([
      root.digest,
      ...nested.map((n) => n.stored.digest),
      ...images.map((i) => i.stored.digest),
      ...indexEntries.map((e) => e.entry.digest),
    ]);
    // A store that will not list its tags (a registry allowing pulls only) still has them: cosign's
    // are asked for by name at each depth, which each subject's digest gives. A repository the
    // registry knows no tags of (NAME_UNKNOWN: only untagged images) has no cosign tags either.
    const listed = await store.listTags(options).catch((err: unknown) => {
      if (!listingRefused(err)) throw err;
      notes.push(`${store.location} did not list its tags (${err.message}): cosign's were asked for by name`);
      return undefined;
    });
    let subjects = [...seen] as Digest[];
    for (let depth = 0; depth < MAX_DEPTH && subjects.length > 0; depth++) {
      const tags = listed ?? (await cosignTagsByName(store, subjects, options));
      const found = await findAttachments(store, subjects, undefined, { ...options, tags, details: false });
      const next: Digest[] = [];
      for (const a of found) {
        if (seen.has(a.digest)) continue;
        if (attachments.length >= max) {
          notes.push(`stopped after ${max} attachments; the rest were not read`);
          break;
        }
        seen.add(a.digest);
        const stored = await store.getManifest(a.digest, options).catch((err: unknown) => {
          if (isProvenantError(err, 'NOT_FOUND')) return undefined;
          throw err;
        });
        if (stored === undefined) {
          notes.push(`${a.storage === 'cosign' ? `tag ${a.tag}` : 'a referrer'} names ${a.digest}, which is not in the store`);
          continue;
        }
        attachments.push({ attachment: a, stored });
        next.push(a.digest);
      }
      subjects = next;
    }
  }
  return { location: store.location, root, nested, images, indexEntries, attachments, notes };
}

/**
 * The depth of each nested index: the longest chain of indexes from the root to it, taken in
 * topological order (an index once all its parents have theirs), so the order the entries were
 * read in does not matter.
 *
 * @throws ProvenantError `INVALID_MANIFEST` when indexes list each other in a loop (a store that
 *   lied about a digest)
 */
function nestingDepths(root: Digest, nested: ReadonlyArray<Omit<NestedIndexNode, 'depth'>>, location: string): Map<Digest, number> {
  const children = new Map<Digest, Digest[]>();
  const waiting = new Map<Digest, number>();
  for (const n of nested) {
    waiting.set(n.stored.digest, n.parents.length);
    for (const p of n.parents) {
      const list = children.get(p);
      if (list === undefined) children.set(p, [n.stored.digest]);
      else list.push(n.stored.digest);
    }
  }
  const depths = new Map<Digest, number>([[root, 0]]);
  const ready = [root];
  for (let at = ready.pop(); at !== undefined; at = ready.pop()) {
    const depth = depths.get(at)! + 1;
    for (const child of children.get(at) ?? []) {
      depths.set(child, Math.max(depths.get(child) ?? 0, depth));
      const left = waiting.get(child)! - 1;
      waiting.set(child, left);
      if (left === 0) ready.push(child);
    }
  }
  const looped = nested.find((n) => waiting.get(n.stored.digest) !== 0);
  if (looped !== undefined) {
    throw new ProvenantError('INVALID_MANIFEST', `the index ${looped.stored.digest} lists itself, through the indexes it lists`, {
      where: `${location}@${looped.stored.digest}`,
      hint: 'a digest names its content, so no index can list itself: the store that held it is not to be trusted',
    });
  }
  return depths;
}

/** A manifest's or index's `artifactType`. */
export function artifactTypeOf(stored: Stored | undefined): string | undefined {
  if (stored === undefined) return undefined;
  return stored.kind === 'manifest' ? stored.manifest.artifactType : stored.index.artifactType;
}

/** Every manifest the graph holds, with where it sits. */
export function* allDocuments(graph: ImageGraph): Generator<{ stored: Stored; scope: 'image' | 'index-entries' | 'attachments' }> {
  if (graph.root.kind === 'index') yield { stored: graph.root, scope: 'image' };
  for (const n of graph.nested) yield { stored: n.stored, scope: 'image' };
  for (const i of graph.images) yield { stored: i.stored, scope: 'image' };
  for (const e of graph.indexEntries) if (e.stored !== undefined) yield { stored: e.stored, scope: 'index-entries' };
  for (const a of graph.attachments) yield { stored: a.stored, scope: 'attachments' };
}

/** True when `d` names an index. */
export function isIndexDescriptor(d: Descriptor | undefined): boolean {
  return d !== undefined && isIndexType(d.mediaType);
}

/** {@link platformFromConfig}, undefined for a config the store lacks or too large to read: the missing-platform detector says so. */
async function platformOrUnknown(store: ContentStore, stored: StoredManifest, options: OperationOptions): Promise<Platform | undefined> {
  try {
    return await platformFromConfig(store, stored, options);
  } catch (err) {
    if (isProvenantError(err, 'NOT_FOUND', 'TOO_LARGE')) return undefined;
    throw err;
  }
}
