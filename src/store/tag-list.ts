/**
 * Finding cosign's tags (`sha256-<hex>.sig`, `.att`, `.sbom`) where a store will not list its tags:
 * some registries allow pulls and refuse the tag list (a token scoped to pull, an endpoint turned
 * off), and a reader that took the refusal for "no tags" showed or copied an image without its
 * signatures. A cosign tag's name is known from its subject's digest, so each can be read by name.
 */
import { ProvenantError } from '../errors.ts';
import type { OperationOptions } from '../io/types.ts';
import { cosignTag } from '../oci/content.ts';
import { isDigest } from '../oci/digest.ts';
import { RegistryResponseError } from '../registry/errors.ts';
import type { ContentStore } from './types.ts';

/**
 * Whether `err` is a store's refusal to list its tags (401, 403, 404, an endpoint the registry
 * does not offer), as against a failure to be reported: a reader falls back to
 * {@link cosignTagsByName} on the one and stops on the other.
 */
export function listingRefused(err: unknown): err is ProvenantError {
  if (!(err instanceof ProvenantError)) return false;
  if (err.code === 'UNAUTHORIZED' || err.code === 'DENIED' || err.code === 'NOT_FOUND') return true;
  return (
    err instanceof RegistryResponseError &&
    (err.status === 405 || err.status === 501 || err.registryErrors.some((e) => e.code === 'UNSUPPORTED'))
  );
}

/** The cosign tags `store` holds for `subjects` (digests; anything else is passed over), each asked for by name. */
export async function cosignTagsByName(store: ContentStore, subjects: Iterable<string>, options: OperationOptions = {}): Promise<string[]> {
  const found: string[] = [];
  for (const subject of subjects) {
    if (!isDigest(subject)) continue;
    for (const suffix of ['sig', 'att', 'sbom'] as const) {
      const tag = cosignTag(subject, suffix);
      if ((await store.resolve(tag, options)) !== undefined) found.push(tag);
    }
  }
  return found;
}
