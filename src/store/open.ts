/**
 * Opening the store a location names (`oci:`, `oci-archive:`, `docker-archive:`, a registry
 * reference), and the image a location means when it names none. Each kind's module loads only
 * when a location of that kind is opened, which keeps a command's start-up short.
 */
import { ProvenantError } from '../errors.ts';
import type { Logger, ProgressUpdate } from '../io/types.ts';
import type { Digest } from '../oci/digest.ts';
import { formatLocation, type Location, refuseArchiveDigest } from '../ref/location.ts';
import type { ContentStore } from './types.ts';

/** Options for opening any store from a location. */
export interface OpenOptions {
  /** Open for writing: layouts and archives are created when missing. */
  write?: boolean;
  logger?: Logger;
  onProgress?: (update: ProgressUpdate) => void;
  /** Registry access (keychain, TLS); used only for registry locations. */
  registry?: RegistryOpenOptions;
  /** Cancels what the store waits for (a layout's lock, held by another writer). */
  signal?: AbortSignal;
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
  // First: what it refuses (a digest in a docker-archive's name) is refused before a store is
  // opened, which would be left open (an archive's lock taken) by the error.
  const named = await namedIn(location, options.write === true);
  return { store: await openStore(location, options), ...named };
}

/**
 * What in its store a location names: the same for a store opened for it and for one a command
 * opened already for another location of the same folder or file ({@link sharedStoreKey}).
 */
export async function namedIn(location: Location, write: boolean): Promise<Omit<OpenedStore, 'store'>> {
  switch (location.kind) {
    case 'oci':
    case 'oci-archive': {
      // As for a registry below: `:TAG@DIGEST` read means the digest; written, the tag too.
      const tags = location.tag === undefined || (location.digest !== undefined && !write) ? [] : [location.tag];
      return { target: location.digest ?? location.tag, tags, digest: location.digest };
    }
    case 'registry': {
      const r = location.reference;
      // REPO:TAG@DIGEST read means the digest (the tag is a comment, as docker pull takes it);
      // written, the tag is to be written too, after the digest is checked.
      const tags = r.tag === undefined || (r.digest !== undefined && !write) ? [] : [r.tag];
      return { target: r.digest ?? r.tag, tags, digest: r.digest };
    }
    case 'docker-archive': {
      const ref = location.reference;
      if (ref === undefined) return { target: undefined, tags: [] };
      // parseLocation refuses it; a Location made by hand is refused here, never passed over.
      refuseArchiveDigest(ref, formatLocation(location));
      const { repoTag } = await import('./docker-archive.ts');
      return write ? { target: undefined, tags: [repoTag(ref)] } : { target: repoTag(ref), tags: [] };
    }
  }
}

/**
 * A key that two locations of one command share when one store may serve both, else undefined:
 * the kind and the folder or file as written (`oci:l:v1` and `oci:l@sha256:…` are one layout). A
 * layout folder is shared whether read or written: it is one store's to write and read back, as
 * when a copy retags an image within it, and a store says what it passes over once
 * (layout-reader.ts, #warnUnreadable), however many of its images a command reads. An archive
 * is shared among its readers only: one opened to write is a temporary layout packed into a new
 * file at close (archive.ts), apart from the file a reader reads in place. A registry repository
 * is not shared here.
 *
 * Two spellings of one folder (`oci:link` and `oci:l`, a link to it) are not shared: a store
 * names itself in its messages as it was opened (`location`), and a message about an argument
 * names the folder as that argument does. Apart, they are two stores of one layout, as any two
 * processes are: index.json changes under the layout's lock (layout.ts).
 */
export function sharedStoreKey(location: Location, write: boolean): string | undefined {
  if (location.kind === 'registry' || (write && location.kind !== 'oci')) return undefined;
  return `${location.kind}:${location.path}`;
}

/** Opens the store a location names; {@link openLocation} says what in it the location names too. */
export async function openStore(location: Location, options: OpenOptions = {}): Promise<ContentStore> {
  switch (location.kind) {
    case 'oci': {
      const { LayoutStore } = await import('./layout.ts');
      return LayoutStore.open(location.path, { create: options.write === true, signal: options.signal, logger: options.logger });
    }
    case 'registry': {
      if (options.registry === undefined) {
        throw new ProvenantError('USAGE', 'registry access is not configured', { where: location.reference.registry });
      }
      return options.registry.open(location, options);
    }
    case 'oci-archive': {
      const { openOciArchive } = await import('./archive.ts');
      return openOciArchive(location.path, { write: options.write === true, signal: options.signal });
    }
    case 'docker-archive': {
      const { DockerArchiveStore } = await import('./docker-archive.ts');
      return DockerArchiveStore.open(location.path, { write: options.write === true, signal: options.signal });
    }
  }
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
