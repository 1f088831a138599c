/** Media types of the OCI image spec and Docker's schema 2, and predicates over them. */
export const MediaType = {
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  OciLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  OciLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  OciLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  OciEmpty: 'application/vnd.oci.empty.v1+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  DockerPluginConfig: 'application/vnd.docker.plugin.v1+json',
  InToto: 'application/vnd.in-toto+json',
} as const;

const MANIFEST_TYPES = new Set<string>([MediaType.OciManifest, MediaType.DockerManifest]);
const INDEX_TYPES = new Set<string>([MediaType.OciIndex, MediaType.DockerManifestList]);

/** An image manifest (OCI or Docker schema 2). */
export function isManifestType(mediaType: string | undefined): boolean {
  return mediaType !== undefined && MANIFEST_TYPES.has(mediaType);
}

/** An index (OCI image index or Docker manifest list). */
export function isIndexType(mediaType: string | undefined): boolean {
  return mediaType !== undefined && INDEX_TYPES.has(mediaType);
}

/** Anything stored in a registry's manifest endpoint rather than as a blob. */
export function isManifestLike(mediaType: string | undefined): boolean {
  return isManifestType(mediaType) || isIndexType(mediaType);
}

/**
 * Layers that must not be pushed to another registry: Docker's foreign layers and OCI's
 * (deprecated) non-distributable layers. Copies keep their descriptors and skip the bytes.
 */
export function isForeignLayer(mediaType: string): boolean {
  return mediaType === MediaType.DockerForeignLayerGzip || mediaType.startsWith('application/vnd.oci.image.layer.nondistributable.');
}

/** The Accept header for a manifest request: every manifest type we read, OCI first. */
// Distribution 2.8 answers 404 for a manifest stored as OCI unless Accept names the OCI type
// (distribution/distribution#3099), so the list must be complete on every GET and HEAD.
export const MANIFEST_ACCEPT = [MediaType.OciIndex, MediaType.OciManifest, MediaType.DockerManifestList, MediaType.DockerManifest].join(
  ', ',
);
