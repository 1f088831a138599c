/**
 * Opening the store a location names (`oci:`, `oci-archive:`, `docker-archive:`, a registry
 * reference), and the image a location means when it names none. Each kind's module loads only
 * when a location of that kind is opened, which keeps a command's start-up short.
 */
import { ProvenantError } from '../errors.ts';
import type { Logger, ProgressUpdate } from '../io/types.ts';
import type { Digest } from '../oci/digest.ts';
import type { Location } from '../ref/location.ts';
import type { ContentStore } from './types.ts';

/** Options for opening any store from a location. */
export interface OpenOptions {
  /** Open for writing: layouts and archives are created when missing. */
  write?: boolean;
  logger?: Logger;
  onProgress?: (update: ProgressUpdate) => void;
  /** Registry access (keychain, TLS); used only for registry locations. */
  registry?: RegistryOpenOptions;
}

/** How to reach registries; filled in by the caller (the CLI reads the environment). */
export interface RegistryOpenOptions {
  open(location: Location & { kind: 'registry' }, options: OpenOptions): Promise<ContentStore>;
}

/** A store opened from a location, and what in it the location names. */
export interface OpenedStore {
  store: ContentStore;
  /** The tag or digest the location names, if any; else {@link defaultTarget} of `store` says which image. */
  target: string | undefined;
  /** Tags the location asks to write. */
  tags: string[];
  /**
   * The digest the location names, if any. Opened for writing, it is what the caller is to
   * write: a writer checks it against what it writes (as skopeo refuses "Digest of source
   * image's manifest would not match destination reference"), never ignores it; a writer that
   * makes the image (the CLI's build, index, fix, reproduce) refuses such a location instead.
   */
  digest?: Digest | undefined;
}

/** Opens the store a location names, for reading or (with `write`) writing. */
export async function openLocation(location: Location, options: OpenOptions = {}): Promise<OpenedStore> {
  switch (location.kind) {
    case 'oci': {
      const { LayoutStore } = await import('./layout.ts');
      const store = await LayoutStore.open(location.path, { create: options.write === true });
      return {
        store,
        target: location.digest ?? location.tag,
        tags: location.tag === undefined ? [] : [location.tag],
        digest: location.digest,
      };
    }
    case 'registry': {
      if (options.registry === undefined) {
        throw new ProvenantError('USAGE', 'registry access is not configured', { where: location.reference.registry });
      }
      const store = await options.registry.open(location, options);
      const r = location.reference;
      // REPO:TAG@DIGEST read means the digest (the tag is a comment, as docker pull takes it);
      // written, the tag is to be written too, after the digest is checked.
      const tags = r.tag === undefined || (r.digest !== undefined && options.write !== true) ? [] : [r.tag];
      return { store, target: r.digest ?? r.tag, tags, digest: r.digest };
    }
    default:
      return openArchive(location, options);
  }
}

async function openArchive(location: Location & { kind: 'oci-archive' | 'docker-archive' }, options: OpenOptions): Promise<OpenedStore> {
  if (location.kind === 'oci-archive') {
    const { openOciArchive } = await import('./archive.ts');
    const store = await openOciArchive(location.path, { write: options.write === true });
    return {
      store,
      target: location.digest ?? location.tag,
      tags: location.tag === undefined ? [] : [location.tag],
      digest: location.digest,
    };
  }
  const { DockerArchiveStore, repoTag } = await import('./docker-archive.ts');
  const store = await DockerArchiveStore.open(location.path, { write: options.write === true });
  const ref = location.reference;
  if (options.write) return { store, target: undefined, tags: ref === undefined ? [] : [repoTag(ref)] };
  return { store, target: ref === undefined ? undefined : repoTag(ref), tags: [] };
}

/**
 * The image to use in a store whose location names none: {@link ContentStore.defaultTarget} (a
 * layout's or archive's only image), for any store.
 *
 * @throws ProvenantError `USAGE` when the store holds several images (the message lists the
 *   tags), or has no notion of a default (a registry repository)
 */
export async function defaultTarget(store: ContentStore): Promise<string> {
  if (store.defaultTarget !== undefined) return store.defaultTarget();
  throw new ProvenantError('USAGE', `${store.location} names no tag or digest`, { hint: 'add :TAG or @sha256:DIGEST' });
}
