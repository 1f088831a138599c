/**
 * The one interface every place an image can live implements ({@link ContentStore}), and the
 * options of its calls.
 */
import type { BlobSource, ByteStream, OperationOptions } from '../io/types.ts';
import type { Stored } from '../oci/content.ts';
import type { Digest } from '../oci/digest.ts';
import type { Descriptor } from '../oci/types.ts';

/** Options of {@link ContentStore.putBlob}. */
export interface PutBlobOptions extends OperationOptions {
  /**
   * Where else the blob is known to live in the same registry (`repository` names), so a
   * registry store can mount it instead of uploading it.
   */
  mountFrom?: readonly string[] | undefined;
  /**
   * When a blob of this digest and size is there already, hash it before answering 'exists',
   * and store it again when it does not match. For stores that hold blobs locally (see
   * {@link ContentStore.checksExistingContent}); registries check content on upload and ignore it.
   */
  verifyExisting?: boolean | undefined;
}

/** Options of {@link ContentStore.putManifest}. */
export interface PutManifestOptions extends OperationOptions {
  /** Tags to point at the manifest once it is stored. */
  tags?: readonly string[] | undefined;
  /**
   * The manifest is an image in its own right, not only a child of an index: a layout lists it
   * in index.json even without a tag. Registries ignore this.
   */
  keepAsRoot?: boolean | undefined;
  /**
   * The caller found the manifest at this store already (a tag or its digest resolved here), so a
   * store may write only the tags: a registry is then not sent the manifest again under its
   * digest, only under each tag it is given.
   */
  present?: boolean | undefined;
  /**
   * For a read-modify-write of a tag: the digest each tag named when the caller read it (null: no
   * such tag then). A store with {@link ContentStore.conditionalTags} moves no tag unless every
   * one of them still names that, and fails with TAG_CONFLICT otherwise; other stores (registries
   * have no conditional write) ignore it, and the caller reads the tag again to find out.
   */
  replacing?: Readonly<Record<string, Digest | null>> | undefined;
}

/** Options of {@link ContentStore.close}. */
export interface CloseOptions {
  /** Throw away what was not written yet rather than finish it (see {@link ContentStore.close}). */
  discard?: boolean | undefined;
  /** Cancels the writing of an archive; the file is then left as it was. */
  signal?: AbortSignal | undefined;
}

/** Options of {@link ContentStore.listTags}. */
export interface ListTagsOptions extends OperationOptions {
  /**
   * NOT_FOUND when the repository is unknown (a registry's 404 NAME_UNKNOWN), as a user who
   * lists a repository's tags needs to hear; by default that is no tags, which is what a copy
   * or a signature lookup wants. Stores whose existence was checked on open ignore it.
   */
  strict?: boolean | undefined;
}

/** Options of {@link ContentStore.referrers}. */
export interface ReferrersOptions extends OperationOptions {
  artifactType?: string | undefined;
}

/**
 * One interface for every place an image can live: an OCI layout directory, an archive, a
 * registry repository. Commands are written against this and work on all of them alike.
 *
 * Contract:
 * - Every read is checked: `readBlob`'s stream fails with DIGEST_MISMATCH (or SIZE_MISMATCH) at
 *   its end when the bytes are not what the descriptor says, and `getManifest` by digest checks.
 * - `putBlob` stores only verified content; `putManifest` expects the blobs and child manifests
 *   it names to be stored already, and applies tags last. A failure leaves no tag pointing at
 *   incomplete content.
 * - `putManifest` of a manifest with a `subject` makes it findable through `referrers`.
 */
export interface ContentStore {
  /** Where this store is, for messages (never with credentials). */
  readonly location: string;
  /** For a registry repository: its registry and name, so copies within a registry can mount blobs. */
  readonly registryRepository?: { readonly registry: string; readonly repository: string } | undefined;
  /**
   * True for a store whose content is local files that can rot or be edited (a layout): `putBlob`
   * with `verifyExisting` re-hashes what it already holds. A copy into such a store checks the
   * whole tree instead of taking a manifest that is there as proof that all it names is sound.
   */
  readonly checksExistingContent?: boolean | undefined;
  /**
   * True for a store whose `putManifest` honours {@link PutManifestOptions.replacing} atomically
   * (a layout checks it under its lock): a writer whose tag was moved meanwhile hears so there,
   * and need not read the tag again to find out.
   */
  readonly conditionalTags?: boolean | undefined;
  /**
   * False for a store that holds images and nothing attached to them: no referrers, cosign tags
   * or signatures (a docker-archive). A copy into it leaves those out, and nothing signs into it.
   */
  readonly holdsAttachments?: boolean | undefined;

  /**
   * The blob's descriptor as stored, or undefined when absent. Its size is -1 when the store
   * cannot say it: a registry whose HEAD has no Content-Length (or a store that passes on a
   * registry's answer); a layout or archive always knows it.
   */
  statBlob(digest: Digest, options?: OperationOptions): Promise<Descriptor | undefined>;
  /**
   * A verified stream of the blob's bytes from `offset`. NOT_FOUND when absent. A descriptor
   * with size -1, for a blob whose statBlob said -1, is taken only by a store that can answer so
   * (a registry, or one passing its reads on to a registry): the blob is then checked by its
   * digest alone. A layout or archive fails it with SIZE_MISMATCH; read there with the size
   * statBlob gives.
   */
  readBlob(descriptor: Descriptor, options?: OperationOptions & { offset?: number }): Promise<ByteStream>;
  /** Stores a blob, verifying its digest and size; a no-op when it is already there. */
  putBlob(source: BlobSource, options?: PutBlobOptions): Promise<'stored' | 'exists' | 'mounted'>;

  /** Resolves a tag or digest to a descriptor without fetching the whole manifest; undefined when absent. */
  resolve(target: string, options?: OperationOptions): Promise<Descriptor | undefined>;
  /** Fetches a manifest or index by tag or digest. NOT_FOUND when absent. */
  getManifest(target: string, options?: OperationOptions): Promise<Stored>;
  /** Stores a manifest or index by its digest, then points `tags` at it. */
  putManifest(stored: Stored, options?: PutManifestOptions): Promise<void>;
  /** The tags in this store (a registry repository's tag list, a layout's ref names). */
  listTags(options?: ListTagsOptions): Promise<string[]>;
  /** Manifests whose `subject` is `subject`, as descriptors with `artifactType` and annotations. */
  referrers(subject: Digest, options?: ReferrersOptions): Promise<Descriptor[]>;

  /**
   * The image a location means when it names none: the only image of a layout or archive (as
   * skopeo takes it). USAGE, naming the tags, when it holds several. Stores without the notion
   * (a registry repository) leave it out; use {@link defaultTarget} to call it on any store.
   */
  defaultTarget?(): Promise<string>;

  /**
   * For a store that keeps a manifest in a form of its own rather than byte for byte (a
   * docker-archive keeps a config and layer files, read back as Docker schema 2 with another
   * digest): the descriptor its readers find for the manifest `digest` given to `putManifest` in
   * this session; undefined for one it was not given. Stores that keep manifests as given leave
   * it out.
   */
  heldAs?(digest: Digest): Descriptor | undefined;

  /**
   * Finishes writing (archives are written here) and releases resources. With `discard`, what
   * this store was to write is thrown away instead: an archive is not written (an existing one
   * stays as it was) and its temporary files go. For a failed or cancelled operation.
   */
  close(options?: CloseOptions): Promise<void>;
}
