// The set-up of a copy with referrers that moves a tag from an old image to a signed new one, and
// a destination that fails the write of a chosen tag: where the tag stands when a signature fails.
import { copyImage } from '../../src/image/copy.ts';
import { cosignTag, type Stored } from '../../src/oci/content.ts';
import { appendCosignLayer } from '../../src/sign/storage.ts';
import type { ContentStore, PutManifestOptions } from '../../src/store/types.ts';
import { type MadeImage, makeImage, makeReferrer, simpleSigningLayer } from './images.ts';

/** What {@link signedOverOld} wrote. */
export interface SignedOverOld {
  /** The new image, tagged v1 in the source. */
  made: MadeImage;
  /** The old image, tagged old in the source and v1 in the destination. */
  old: MadeImage;
  /** The new image's referrer (a signature-like artifact). */
  ref: Stored;
  /** The tag of the new image's cosign signatures. */
  sigTag: string;
}

/**
 * In `src`: image v1, signed by a referrer and a cosign .sig, and another image tagged old. In
 * `dst`: the old image, tagged v1, as a registry holds it before v1 is copied again.
 */
export async function signedOverOld(src: ContentStore, dst: ContentStore): Promise<SignedOverOld> {
  const made = await makeImage(src, { tag: 'v1', seed: 1 });
  const old = await makeImage(src, { tag: 'old', seed: 9 });
  const ref = await makeReferrer(src, made.root, 'application/vnd.dev.cosign.artifact.sig.v1+json', 'sig');
  await appendCosignLayer(src, made.root.digest, 'sig', simpleSigningLayer());
  await copyImage(src, 'old', dst, { tags: ['v1'] });
  return { made, old, ref, sigTag: cosignTag(made.root.digest, 'sig') };
}

/**
 * `store`, failing a manifest write that tags `failOn` (before it is written), and calling `wrote`
 * after each write that is done: what a reader sees, write by write, when one of them fails.
 */
export function failingTag<T extends ContentStore>(
  store: T,
  failOn: string | undefined,
  wrote: (stored: Stored, options?: PutManifestOptions) => Promise<void> | void,
): T {
  return new Proxy(store, {
    get(target, name, receiver) {
      if (name === 'putManifest')
        return async (stored: Stored, o?: PutManifestOptions) => {
          if (failOn !== undefined && o?.tags?.includes(failOn) === true) throw new Error(`writing ${failOn} failed`);
          await target.putManifest(stored, o);
          await wrote(stored, o);
        };
      const value = Reflect.get(target, name, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
