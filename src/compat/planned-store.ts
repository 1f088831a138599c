/**
 * A read-only {@link ContentStore} that shows a {@link Plan} as if it were stored: the planned
 * manifests, the blobs the fix made, and everything else from the source store. Copying from it
 * with `copyImage` writes the fixed image in the order every store needs: blobs before the
 * manifest that names them, children before their index, referrers after their subject, cosign
 * tags after the manifests they are about, the destination's tags last.
 *
 * Given the destination it is to be written to (`over`), it shows for a check the image as it
 * will be there: the referrers and cosign tags the destination already holds of the planned
 * digests are seen beside the planned ones, since a copy adds to them and never removes them (a
 * cosign tag there is kept or merged into, as `copyImage` does, so the destination's is seen).
 * Fixing into the repository it reads from, the source's own attachments of a digest the fix
 * keeps are there already. Such a store is for checks only: a copy from it would copy the
 * destination's attachments onto themselves.
 */
import { ProvenantError } from '../errors.ts';
import { fileChunks, unreadableWords } from '../io/files.ts';
import type { ByteStream, OperationOptions } from '../io/types.ts';
import { verifyStream } from '../io/verify.ts';
import { cosignTag, cosignTagSubject, descriptorOf, type Stored, subjectOf } from '../oci/content.ts';
import { type Digest, isDigest } from '../oci/digest.ts';
import type { Descriptor } from '../oci/types.ts';
import { referrerDescriptor } from '../store/layout-reader.ts';
import { cosignTagsByName, listingRefused } from '../store/tag-list.ts';
import type { ContentStore, ReferrersOptions } from '../store/types.ts';

import type { Plan } from './plan.ts';

/** See the module comment. */
export class PlannedStore implements ContentStore {
  readonly location: string;
  readonly #src: ContentStore;
  readonly #plan: Plan;
  readonly #tags: Map<string, Stored>;
  readonly #over: ContentStore | undefined;
  readonly #held = new Set<Digest>();

  constructor(src: ContentStore, plan: Plan, over?: ContentStore) {
    this.#src = src;
    this.#plan = plan;
    this.#over = over;
    this.location = over === undefined ? `${src.location} (fixed)` : `${over.location} (fixed, with what it holds)`;
    this.#tags = new Map();
    for (const doc of plan.docs.values()) {
      if (doc.placement?.type === 'tag' && doc.subject !== undefined)
        this.#tags.set(cosignTag(doc.subject, doc.placement.suffix), doc.stored);
    }
  }

  async statBlob(digest: Digest, options: OperationOptions = {}): Promise<Descriptor | undefined> {
    const planned = this.#plan.blobs.get(digest);
    if (planned !== undefined) return planned.descriptor;
    return this.#src.statBlob(digest, options);
  }

  async readBlob(descriptor: Descriptor, options: OperationOptions & { offset?: number } = {}): Promise<ByteStream> {
    const planned = this.#plan.blobs.get(descriptor.digest);
    const offset = options.offset ?? 0;
    const where = `${this.location}@${descriptor.digest}`;
    if (planned?.bytes !== undefined) {
      const bytes = planned.bytes;
      return verifyStream(
        (async function* () {
          yield bytes.subarray(offset);
        })(),
        descriptor,
        where,
        offset > 0
          ? (async function* () {
              yield bytes.subarray(0, offset);
            })()
          : undefined,
      );
    }
    if (planned?.file !== undefined) {
      // Opened when first read (fileChunks): a read stream made here failed, when its file went
      // before its reader came, with an uncaught exception. A named pipe or a folder in its place
      // by then is refused, not waited on.
      const file = planned.file;
      const read = async function* (range: { start: number; end?: number }): ByteStream {
        try {
          yield* fileChunks(file, range);
        } catch (err) {
          throw new ProvenantError('IO', `blob ${descriptor.digest}, made by the fix in ${file}, cannot be read: ${unreadableWords(err)}`, {
            where,
            cause: err,
            hint: 'the fix keeps the blobs it makes in a temporary folder until it ends: run it again',
          });
        }
      };
      return verifyStream(read({ start: offset }), descriptor, where, offset > 0 ? read({ start: 0, end: offset - 1 }) : undefined);
    }
    return this.#src.readBlob(descriptor, options);
  }

  async putBlob(): Promise<never> {
    throw new ProvenantError('USAGE', 'a planned image is read-only', { where: this.location });
  }

  /**
   * The attachments this store showed from the destination (`over`), by manifest digest: those
   * the plan does not hold, which the fix neither writes nor removes.
   */
  get held(): ReadonlySet<Digest> {
    return this.#held;
  }

  async resolve(target: string, options: OperationOptions = {}): Promise<Descriptor | undefined> {
    const there = await this.#fromDestination(target, options);
    if (there !== undefined) return there;
    const stored = this.#find(target);
    return stored === undefined ? undefined : descriptorOf(stored);
  }

  async getManifest(target: string, options: OperationOptions = {}): Promise<Stored> {
    const there = await this.#fromDestination(target, options);
    if (there !== undefined && this.#over !== undefined) return this.#over.getManifest(there.digest, options);
    const stored = this.#find(target);
    if (stored !== undefined) return stored;
    throw new ProvenantError('NOT_FOUND', `${target} is not part of the fixed image`, { where: this.location });
  }

  /**
   * What the destination holds under `target` where the copy would leave it: a digest the plan
   * lacks (an attachment found through its referrers or tags), or a cosign tag of a planned
   * digest (kept, or merged into, by the copy). Undefined without a destination.
   */
  async #fromDestination(target: string, options: OperationOptions): Promise<Descriptor | undefined> {
    if (this.#over === undefined) return undefined;
    if (isDigest(target)) return this.#plan.docs.has(target) ? undefined : this.#over.resolve(target, options);
    const subject = cosignTagSubject(target);
    if (subject === undefined || !this.#plan.docs.has(subject)) return undefined;
    const there = await this.#over.resolve(target, options);
    if (there !== undefined && this.#find(target)?.digest !== there.digest) this.#held.add(there.digest);
    return there;
  }

  #find(target: string): Stored | undefined {
    if (isDigest(target)) return this.#plan.docs.get(target)?.stored;
    return this.#tags.get(target);
  }

  async putManifest(): Promise<never> {
    throw new ProvenantError('USAGE', 'a planned image is read-only', { where: this.location });
  }

  async listTags(options: OperationOptions = {}): Promise<string[]> {
    const planned = [...this.#tags.keys()];
    if (this.#over === undefined) return planned.sort();
    // Only the destination's cosign tags of planned digests: the rest are no part of the image. A
    // destination that will not list its tags (a token without the right) hides them, not the
    // planned ones: a caller that turns an error into no tags would lose those too.
    const over = this.#over;
    const listed = await over.listTags(options).catch((err: unknown) => {
      if (!listingRefused(err)) throw err;
      // Still there: cosign's tags of the planned digests, asked for by name.
      return cosignTagsByName(over, this.#plan.docs.keys(), options);
    });
    const there = listed.filter((tag) => {
      const subject = cosignTagSubject(tag);
      return subject !== undefined && this.#plan.docs.has(subject);
    });
    return [...new Set([...planned, ...there])].sort();
  }

  async referrers(subject: Digest, options: ReferrersOptions = {}): Promise<Descriptor[]> {
    const out: Descriptor[] = [];
    for (const doc of this.#plan.docs.values()) {
      if (doc.placement?.type !== 'referrer' || subjectOf(doc.stored)?.digest !== subject) continue;
      const d = referrerDescriptor(doc.stored);
      if (options.artifactType === undefined || d.artifactType === options.artifactType) out.push(d);
    }
    // A referrer the destination holds stays there, whatever the plan does with it.
    if (this.#over !== undefined && this.#plan.docs.has(subject)) {
      for (const d of await this.#over.referrers(subject, options)) {
        if (out.some((o) => o.digest === d.digest)) continue;
        out.push(d);
        if (!this.#plan.docs.has(d.digest)) this.#held.add(d.digest);
      }
    }
    return out;
  }

  async close(): Promise<void> {}
}
