/**
 * A read-only {@link ContentStore} that shows a {@link Plan} as if it were stored: the planned
 * manifests, the blobs the fix made, and everything else from the source store. Copying from it
 * with `copyImage` writes the fixed image in the order every store needs: blobs before the
 * manifest that names them, children before their index, referrers after their subject, cosign
 * tags after the manifests they are about, the destination's tags last.
 */
import { ProvenantError } from '../errors.ts';
import type { ByteStream, OperationOptions } from '../io/types.ts';
import { verifyStream } from '../io/verify.ts';
import { cosignTag, descriptorOf, type Stored, subjectOf } from '../oci/content.ts';
import { type Digest, isDigest } from '../oci/digest.ts';
import type { Descriptor } from '../oci/types.ts';
import { referrerDescriptor } from '../store/layout-reader.ts';
import type { ContentStore, ReferrersOptions } from '../store/types.ts';

import type { Plan } from './plan.ts';

const { createReadStream } = process.getBuiltinModule('node:fs');

/** See the module comment. */
export class PlannedStore implements ContentStore {
  readonly location: string;
  readonly #src: ContentStore;
  readonly #plan: Plan;
  readonly #tags: Map<string, Stored>;

  constructor(src: ContentStore, plan: Plan) {
    this.#src = src;
    this.#plan = plan;
    this.location = `${src.location} (fixed)`;
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
      const prefix = offset > 0 ? createReadStream(planned.file, { start: 0, end: offset - 1 }) : undefined;
      return verifyStream(createReadStream(planned.file, { start: offset, highWaterMark: 1 << 20 }), descriptor, where, prefix);
    }
    return this.#src.readBlob(descriptor, options);
  }

  async putBlob(): Promise<never> {
    throw new ProvenantError('USAGE', 'a planned image is read-only', { where: this.location });
  }

  async resolve(target: string): Promise<Descriptor | undefined> {
    const stored = this.#find(target);
    return stored === undefined ? undefined : descriptorOf(stored);
  }

  async getManifest(target: string): Promise<Stored> {
    const stored = this.#find(target);
    if (stored === undefined) {
      throw new ProvenantError('NOT_FOUND', `${target} is not part of the fixed image`, { where: this.location });
    }
    return stored;
  }

  #find(target: string): Stored | undefined {
    if (isDigest(target)) return this.#plan.docs.get(target)?.stored;
    return this.#tags.get(target);
  }

  async putManifest(): Promise<never> {
    throw new ProvenantError('USAGE', 'a planned image is read-only', { where: this.location });
  }

  async listTags(): Promise<string[]> {
    return [...this.#tags.keys()].sort();
  }

  async referrers(subject: Digest, options: ReferrersOptions = {}): Promise<Descriptor[]> {
    const out: Descriptor[] = [];
    for (const doc of this.#plan.docs.values()) {
      if (doc.placement?.type !== 'referrer' || subjectOf(doc.stored)?.digest !== subject) continue;
      const d = referrerDescriptor(doc.stored);
      if (options.artifactType === undefined || d.artifactType === options.artifactType) out.push(d);
    }
    return out;
  }

  async close(): Promise<void> {}
}
