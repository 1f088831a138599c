/**
 * Provenant's public API. Everything a library user needs is exported here by name; nothing
 * else is public.
 */

export {
  type Attachment,
  type AttachmentKind,
  type AttachmentStorage,
  type FindAttachmentsOptions,
  findAttachments,
} from './attest/attachments.ts';
/** Attestations: provenance, statements, and the storages a target accepts. */
export { builderIdFromEnv, type ProvenanceInput, provenance, provenancePredicate } from './attest/provenance.ts';
export {
  type AttestationMode,
  type Attested,
  type StatementBlob,
  type StatementSource,
  type StoreAttestationsOptions,
  statement,
  storeAttestations,
} from './attest/storage.ts';
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
export { apkArchToPlatform, normalizeArch } from './builder/arch.ts';
/** Building images: configuration, the build, its lock, and writing it to a store. */
export {
  type BuildOptions,
  type BuildResult,
  type BuiltImage,
  buildImage,
  type WriteBuildOptions,
  writeBuild,
} from './builder/build.ts';
export { loadConfig, parseConfig } from './builder/config.ts';
export type {
  ApkArch,
  ImageConfig as BuildConfig,
  LoadConfigOptions,
  LoadedConfig,
  ParseConfigOptions,
} from './builder/config-types.ts';
export {
  aboutWrittenIndex,
  type DescribeOptions,
  describeBuild,
  describeIndex,
  type WrittenIndexStatements,
} from './builder/describe.ts';
export { formatLock, type Lock, parseLock } from './builder/lock.ts';
/** Target compatibility: which registries and runtimes take an image, and the smallest fix. */
export {
  type AttachmentStorageChoice,
  type AttachmentStorages,
  type AttachmentStoragesOptions,
  attachmentStoragesFor,
  type CheckOptions,
  type CheckReport,
  checkImage,
  type FixOptions,
  type FixReport,
  fixImage,
  type LoadProfilesOptions,
  loadProfiles,
  type Problem,
  type Profile,
  probeReferrersApi,
  type ReferrersProbe,
  type Resigner,
  renderTargetsDoc,
  type SelectTargetsOptions,
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
export { attestationSummaries, type ImageSbomOptions, imageSbom } from './image/attestations.ts';
export { type CopyOptions, type CopyResult, copyImage } from './image/copy.ts';
/** Comparing two images: packages, files, config, layers, attachments and provenance. */
export {
  type AttachmentDiff,
  type AttachmentItem,
  type Dependency,
  type DiffOptions,
  type DiffSide,
  diffImages,
  type FileChange,
  type FileDiff,
  type FileEntry,
  type ImageDiff,
  type ImageRef,
  type LayerDiff,
  type LayerRef,
  type PackageChange,
  type PackageDiff,
  type PackageOrigin as DiffPackageOrigin,
  type PackageRef,
  type PlatformDiff,
  type ProvenanceDiff,
  type ValueChange,
} from './image/diff.ts';
export { renderDiff } from './image/diff-render.ts';
/** Merging single-platform images into one index (`index create`), as `docker buildx imagetools create`. */
export {
  type CreateIndexOptions,
  type CreateIndexResult,
  createIndex,
  type IndexAttestations,
  type IndexPlatform,
  type IndexSource,
} from './image/index-create.ts';
export { type InspectedManifest, type InspectOptions, type InspectResult, inspectImage } from './image/inspect.ts';
export { type ReadStatement, readStatements } from './image/statements.ts';
/** What every long operation shares, and the one way files are replaced. */
export { type WriteFileOptions, writeFileAtomic } from './io/files.ts';
export {
  type BlobSource,
  type ByteStream,
  bytesSource,
  type Logger,
  type OperationOptions,
  type ProgressUpdate,
  type StepProgress,
  silentLogger,
} from './io/types.ts';
export { cosignTag, type ParseOptions as ParseStoredOptions } from './oci/content.ts';
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
export type { Violation } from './oci/validate.ts';
/** Pinning GitHub Actions: every uses: to a commit SHA or image digest (pin/index.ts lists the names). */
export * from './pin/index.ts';
/** apk: reading, verifying and writing packages and indexes, and apk-tools' version order. */
export {
  type ApkIndex,
  type ApkPackageInfo,
  type IndexCounts,
  type IndexesRead,
  type ReadApkIndexOptions,
  readApkIndex,
} from './pkg/apk/apkindex.ts';
export { type ApkKeyPair, type GenerateApkKeyPairOptions, generateApkKeyPair } from './pkg/apk/keys.ts';
export { type ApkPackage, type ReadApkPackageOptions, readApkPackage } from './pkg/apk/package.ts';
export { ApkKeyring, type LockedKeyText } from './pkg/apk/signature.ts';
export { type ApkDependency, compareApkVersions, parseApkDependency } from './pkg/apk/version.ts';
export {
  type ApkFileSpec,
  type ApkSigningKey,
  type ApkSpec,
  type BuildApkIndexOptions,
  type BuildApkOptions,
  buildApk,
  buildApkIndex,
} from './pkg/apk/write.ts';
export { type DebPackage, type ReadDebOptions, readDeb } from './pkg/deb/deb.ts';
export { type DebianIndex, type FetchDebianIndexOptions, fetchDebianIndex } from './pkg/deb/fetch-index.ts';
export { DebKeyring, type LazyDebKeyring, type OpenPgpPublicKey } from './pkg/deb/keyring.ts';
export { type DebSource, type ParseSourceOptions, parseSourceLine } from './pkg/deb/sources.ts';
/** Debian: signed repository metadata, .deb files and dpkg's version order. */
export { compareDebVersions } from './pkg/deb/version.ts';
/** The resolver shared by apk and deb. */
export {
  type Candidate,
  type CandidateIndex,
  type Request as ResolveRequest,
  type Requirement,
  type Resolution,
  type ResolveOptions,
  resolve,
  type VersionScheme,
} from './pkg/resolve/resolve.ts';
/** Package sources: what the builder needs of an ecosystem, and what it reports of each installed package. */
export type { Ecosystem, FetchedPackage, InstalledPackage, LockedPackage, PackageSource } from './pkg/source.ts';
export type { CelCompileError, CelProgram } from './policy/cel.ts';
/** Policies: ClusterImagePolicy files, CEL conditions, built-in checks, evaluation and reports. */
export {
  type AttestationOutcome,
  type AttestationRule,
  type Authority as PolicyAuthority,
  type AuthorityOutcome,
  type BuiltinCheck,
  CEL_LIMITS,
  type CelBudget,
  type CelOptions,
  type Condition as PolicyCondition,
  celBudget,
  compileCel,
  type EvaluateOptions as PolicyEvaluateOptions,
  evaluatePolicies,
  formatPolicyReport,
  globMatches,
  type ImagePolicy,
  loadPolicyFile,
  type PolicyOutcome,
  type PolicyReport,
  parsePolicies,
  type SignatureOutcome,
} from './policy/index.ts';
export type { ParsePolicyOptions } from './policy/load.ts';
export {
  formatLocation,
  formatReference,
  type ImageReference,
  type Location,
  parseLocation,
  parseReference,
  statementImageName,
} from './ref/index.ts';
export { type PutManifestResult, type ReadBlobOptions, RegistryClient, type RegistryClientOptions } from './registry/client.ts';
export type { ReferrersEndpointAnswer } from './registry/referrers.ts';
export type { RetryOptions } from './registry/retry.ts';
export type { TransportOptions } from './registry/transport.ts';
export type { UploadBlobOptions } from './registry/uploads.ts';
/** `provenant report`: one self-contained HTML page about an image, and the data it shows. */
export type {
  ReportAttachment,
  ReportCompat,
  ReportConfig,
  ReportData,
  ReportPackage,
  ReportPlatform,
  ReportProvenance,
} from './report/data.ts';
export { DEFAULT_REPORT_TARGETS, gatherReport, type ReportOptions } from './report/gather.ts';
export { renderReport } from './report/html.ts';
/** `provenant reproduce`: rebuild an image from its provenance and compare, per platform. */
export type { FindProvenanceOptions, FoundProvenance } from './reproduce/find.ts';
export {
  findProvenance,
  type MismatchDetail,
  type PackageFileChange,
  type PlatformReproduction,
  type ProvenanceReading,
  parseRepositoryOverride,
  type ReplayPlan,
  type ReproduceOptions,
  type ReproduceProgress,
  type ReproduceReport,
  type ReproduceTrust,
  readProvenance,
  renderReproduce,
  reproduceImage,
} from './reproduce/index.ts';
export type { CycloneDxDocument, CycloneDxOptions } from './sbom/cyclonedx.ts';
/** SBOMs. */
export { cyclonedxDocument, type Inventory, type InventoryPackage, spdxDocument, spdxIndexDocument } from './sbom/index.ts';
export type { SpdxDocument, SpdxIndexImage, SpdxOptions } from './sbom/spdx.ts';
/** Signing and verification in cosign 2's and cosign 3's formats. */
export { type SignatureSummary, summarizeSignatures } from './sign/inspect.ts';
export {
  COSIGN_PRIVATE_KEY_PEM,
  decryptPrivateKey,
  type EncryptKeyOptions,
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
export type { GithubWorkflowField } from './sign/material.ts';
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
export { PUBLIC_FULCIO, PUBLIC_REKOR } from './sign/public-good.ts';
export {
  type AttestImageOptions,
  attestImage,
  type SignatureStorage,
  type SignBuildOptions,
  type SignedEntry,
  type SignImageOptions,
  signBuild,
  signImage,
} from './sign/sign.ts';
export {
  githubActionsToken,
  KeylessSigner,
  type KeylessSignerOptions,
  KeySigner,
  type KeySignerOptions,
  type Signable,
  type Signed,
  type Signer,
  type TokenSource,
  type WitnessOptions,
} from './sign/signer.ts';
export { eachSignature, type FoundSignature, findSignatures } from './sign/storage.ts';
export { type EmbeddedTrustedRoot, parseTrustedRoot, publicGoodTrustedRoot, type TrustedRoot } from './sign/trust.ts';
export {
  assertVerified,
  type CheckedSignature,
  type FailureReason,
  type IdentityMatcher,
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
export type { CloseOptions, ContentStore, ListTagsOptions, PutBlobOptions, PutManifestOptions, ReferrersOptions } from './store/types.ts';
/** The tool's version. */
export { VERSION } from './version.ts';
/** What PackageSource.install may be given to keep files out of the tree, and what it throws when it cannot. */
export { type SpilledFiles, SpillRefused } from './vfs/spill.ts';
export type { FsNode, Tree } from './vfs/tree.ts';
/** Errors of a configuration file (the build's, a policy's, a target profile's): where in it, and what. */
export { ConfigError, type ConfigLocation } from './yaml.ts';
