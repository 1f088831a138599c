/**
 * Provenant's public API. Everything a library user needs is exported here by name; nothing
 * else is public.
 */

export { type Attachment, type AttachmentKind, type AttachmentStorage, findAttachments } from './attest/attachments.ts';
/** Attestations: provenance, statements, and the storages a target accepts. */
export { builderIdFromEnv, type ProvenanceInput, provenance, provenancePredicate } from './attest/provenance.ts';
export { type AttestationMode, type Attested, type StatementBlob, statement, storeAttestations } from './attest/storage.ts';
/** Registries: the Distribution API client and where its credentials come from. */
export { Credentials, type CredentialsInit } from './auth/credentials.ts';
export {
  type DefaultKeychainOptions,
  DockerConfigKeychain,
  type DockerConfigKeychainOptions,
  defaultKeychain,
  PodmanAuthKeychain,
  type PodmanAuthKeychainOptions,
} from './auth/docker-config.ts';
export { anonymousKeychain, chainKeychains, type Keychain, StaticKeychain, staticKeychain } from './auth/keychain.ts';
/** Building images: configuration, the build, its lock, and writing it to a store. */
export {
  type BuildOptions,
  type BuildResult,
  type BuiltImage,
  buildImage,
  type WriteBuildOptions,
  writeBuild,
} from './build/build.ts';
export { type ImageConfig as BuildConfig, type LoadedConfig, loadConfig, parseConfig } from './build/config.ts';
export { type DescribeOptions, describeBuild, describeIndex } from './build/describe.ts';
export { formatLock, type Lock, type LockedPackage, parseLock } from './build/lock.ts';
/** Target compatibility: which registries and runtimes take an image, and the smallest fix. */
export {
  type CheckOptions,
  type CheckReport,
  checkImage,
  type FixOptions,
  type FixReport,
  fixImage,
  loadProfiles,
  type Problem,
  type Profile,
  probeReferrersApi,
  type ReferrersProbe,
  type Resigner,
  renderTargetsDoc,
  type Severity,
  type SignedInfo,
  selectTargets,
  type Target,
  type TargetReport,
  type Verdict,
} from './compat/index.ts';
export { type ErrorCode, type ErrorDetails, isProvenantError, ProvenantError } from './errors.ts';
/** Images: attaching a predicate, copying, inspecting, and reading what is attached. */
export { type AttachPredicateOptions, type AttachResult, attachPredicate } from './image/attach.ts';
export { attestationSummaries, type ImageSbomOptions, imageSbom, type ReadStatement, readStatements } from './image/attestations.ts';
export { type CopyOptions, type CopyResult, copyImage } from './image/copy.ts';
export { type InspectedManifest, type InspectOptions, type InspectResult, inspectImage } from './image/inspect.ts';
/** What every long operation shares, and the one way files are replaced. */
export { type WriteFileOptions, writeFileAtomic } from './io/files.ts';
export {
  type BlobSource,
  type ByteStream,
  bytesSource,
  type Logger,
  type OperationOptions,
  type ProgressUpdate,
  silentLogger,
} from './io/types.ts';
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
/** Pinning GitHub Actions: every uses: to a commit SHA or image digest (pin/index.ts lists the names). */
export * from './pin/index.ts';
/** apk: reading, verifying and writing packages and indexes, and apk-tools' version order. */
export { type ApkIndex, type ApkPackageInfo, readApkIndex } from './pkg/apk/apkindex.ts';
export { type ApkPackage, readApkPackage } from './pkg/apk/package.ts';
export { ApkKeyring } from './pkg/apk/signature.ts';
export { compareApkVersions, parseApkDependency } from './pkg/apk/version.ts';
export { buildApk, buildApkIndex, generateApkKeyPair } from './pkg/apk/write.ts';
export { type DebPackage, readDeb } from './pkg/deb/deb.ts';
export { DebKeyring, fetchDebianIndex } from './pkg/deb/release.ts';
export { parseSourceLine } from './pkg/deb/sources.ts';
/** Debian: signed repository metadata, .deb files and dpkg's version order. */
export { compareDebVersions } from './pkg/deb/version.ts';
/** The resolver shared by apk and deb. */
export { type Candidate, type Requirement, resolve, type VersionScheme } from './pkg/resolve/resolve.ts';
export { formatLocation, formatReference, type ImageReference, type Location, parseLocation, parseReference } from './ref/index.ts';
export { type PutManifestResult, type ReadBlobOptions, RegistryClient, type RegistryClientOptions } from './registry/client.ts';
export type { RetryOptions } from './registry/retry.ts';
export type { TransportOptions } from './registry/transport.ts';
export type { UploadBlobOptions } from './registry/uploads.ts';
/** SBOMs. */
export { cyclonedxDocument, type Inventory, type InventoryPackage, spdxDocument, spdxIndexDocument } from './sbom/index.ts';
/** Signing and verification in cosign 2's and cosign 3's formats. */
export { type SignatureSummary, summarizeSignatures } from './sign/inspect.ts';
export {
  COSIGN_PRIVATE_KEY_PEM,
  decryptPrivateKey,
  encryptPrivateKey,
  generateEncryptedKeyPair,
  generateSigningKeyPair,
  keyId,
  loadPrivateKeyFile,
  loadPublicKeyFile,
  parsePublicKey,
  publicKeyPem,
  SIGSTORE_PRIVATE_KEY_PEM,
  type SigningKeyPair,
} from './sign/keys.ts';
export {
  COSIGN_SIGN_PREDICATE_TYPE,
  cosignDockerReference,
  cosignSignStatement,
  type DsseEnvelope,
  type InTotoStatement,
  PREDICATE_TYPES,
  pae,
  parseEnvelope,
  parsePredicateType,
  parseSimpleSigning,
  parseStatement,
  type SimpleSigning,
  simpleSigningPayload,
} from './sign/payload.ts';
export {
  type AttestImageOptions,
  attestImage,
  type SignatureStorage,
  type SignedEntry,
  type SignImageOptions,
  signImage,
} from './sign/sign.ts';
export {
  githubActionsToken,
  KeylessSigner,
  type KeylessSignerOptions,
  KeySigner,
  type Signable,
  type Signed,
  type Signer,
  type TokenSource,
  type WitnessOptions,
} from './sign/signer.ts';
export { cosignTag, type FoundSignature, findSignatures } from './sign/storage.ts';
export { parseTrustedRoot, type TrustedRoot } from './sign/trust.ts';
export {
  assertVerified,
  type CheckedSignature,
  type FailureReason,
  type KeyValidity,
  type VerificationPolicy,
  type VerificationReport,
  type VerifyOptions,
  verifyImage,
} from './sign/verify.ts';
export { OciArchiveStore, openOciArchive } from './store/archive.ts';
export { DockerArchiveStore } from './store/docker-archive.ts';
export { type GcResult, type LayoutOpenOptions, LayoutStore } from './store/layout.ts';
export { LayoutReader } from './store/layout-reader.ts';
export { defaultTarget, type OpenedStore, type OpenOptions, openLocation, type RegistryOpenOptions } from './store/open.ts';
export { RegistryStore } from './store/registry.ts';
export { type RegistryAccessOptions, registryAccess } from './store/registry-access.ts';
export type { CloseOptions, ContentStore, PutBlobOptions, PutManifestOptions, ReferrersOptions } from './store/types.ts';
/** The tool's version. */
export { VERSION } from './version.ts';
