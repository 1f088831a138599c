/**
 * Provenant's public API. Everything a library user needs is exported here by name; nothing
 * else is public.
 */

export { type Attachment, type AttachmentKind, type AttachmentStorage, findAttachments } from './attest/attachments.ts';
export { type ErrorCode, type ErrorDetails, isProvenantError, ProvenantError } from './errors.ts';
export { type CopyOptions, type CopyResult, copyImage } from './image/copy.ts';
export { type InspectOptions, type InspectResult, inspectImage } from './image/inspect.ts';
export {
  Annotation,
  assertIndex,
  assertManifest,
  type ContainerConfig,
  type Descriptor,
  type Digest,
  type DigestAlgorithm,
  Digester,
  describe,
  descriptorOf,
  digestOf,
  encodeJson,
  formatPlatform,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  indexViolations,
  isDigest,
  isIndexType,
  isManifestType,
  MANIFEST_ACCEPT,
  MediaType,
  manifestViolations,
  normalizePlatform,
  type Platform,
  parseDigest,
  parsePlatform,
  parseStored,
  platformMatches,
  type Stored,
  type StoredIndex,
  type StoredManifest,
  verifyDigest,
} from './oci/index.ts';
export { formatLocation, formatReference, type ImageReference, type Location, parseLocation, parseReference } from './ref/index.ts';
export { openOciArchive } from './store/archive.ts';
export { DockerArchiveStore } from './store/docker-archive.ts';
export { LayoutStore } from './store/layout.ts';
export { type OpenedStore, type OpenOptions, openLocation } from './store/open.ts';
export type {
  BlobSource,
  ByteStream,
  ContentStore,
  Logger,
  OperationOptions,
  ProgressUpdate,
  PutBlobOptions,
  PutManifestOptions,
} from './store/types.ts';
