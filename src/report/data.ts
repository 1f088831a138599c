/**
 * What `provenant report` shows, as plain data (JSON-serializable, nothing but strings, numbers,
 * booleans, arrays and objects): gather.ts fills it, html.ts renders it. Everything in it comes
 * from the image and is untrusted: renderers must escape every string.
 */
import type { Attachment } from '../attest/attachments.ts';
import type { Severity } from '../compat/profile.ts';
import type { Digest } from '../oci/digest.ts';
import type { SignatureSummary } from '../sign/inspect.ts';

/** An entry of the image index, runnable image or not. */
export interface ReportIndexEntry {
  digest: Digest;
  mediaType: string;
  size: number;
  /** `os/arch[/variant]`, or undefined when the entry names none. */
  platform: string | undefined;
  /** `image`: a runnable image; `attestation`: a BuildKit attestation manifest; `other`: anything else. */
  role: 'image' | 'attestation' | 'other';
  annotations: Record<string, string>;
}

/** One layer of a platform image. */
export interface ReportLayer {
  digest: Digest;
  mediaType: string;
  /** Bytes as stored (compressed). */
  size: number;
  /** The uncompressed layer's digest, from the config's `rootfs.diff_ids`. */
  diffId: string | undefined;
  annotations: Record<string, string>;
}

/** One step of the config's `history`. */
export interface ReportHistory {
  created: string | undefined;
  createdBy: string | undefined;
  comment: string | undefined;
  emptyLayer: boolean;
}

/** What a platform image's config says, the fields a person reads. */
export interface ReportConfig {
  digest: Digest;
  mediaType: string;
  size: number;
  os: string | undefined;
  architecture: string | undefined;
  variant: string | undefined;
  created: string | undefined;
  author: string | undefined;
  user: string | undefined;
  entrypoint: string[] | undefined;
  cmd: string[] | undefined;
  workingDir: string | undefined;
  env: string[];
  exposedPorts: string[];
  volumes: string[];
  labels: Record<string, string>;
  stopSignal: string | undefined;
  history: ReportHistory[];
  /** Why the config could not be read as an image config, when it could not. */
  error: string | undefined;
}

/** A signature or attestation, as what it claims about who signed it (unverified). */
export type ReportSigner = SignatureSummary;

/** Something attached to a manifest or index, in whichever storage. */
export interface ReportAttachment {
  storage: Attachment['storage'];
  kind: Attachment['kind'];
  /** The manifest or index it is about. */
  subject: Digest;
  /** Its own manifest. */
  digest: Digest;
  mediaType: string;
  size: number;
  artifactType: string | undefined;
  predicateTypes: string[];
  /** The tag it is stored under (cosign storage). */
  tag: string | undefined;
  /** The signatures it carries, each with the key id or identity it names; empty when unsigned. */
  signers: ReportSigner[];
}

/** One package of an SBOM. */
export interface ReportPackage {
  name: string;
  version: string;
  /** The licence expression or text as the SBOM gives it, '' when it asserts none. */
  license: string;
  purl: string;
  /** The PURL's type (`apk`, `deb`, ...), else what the document calls the component. */
  type: string;
}

/** An image's operating system, as its SBOM names it. */
export interface ReportSystem {
  name: string;
  /** '' when the SBOM gives none. */
  version: string;
}

/** A platform image's packages and where they came from. */
export interface ReportSbom {
  /** `attached`: an SBOM attestation; `generated`: made from the image's package database; `missing`: neither. */
  source: 'attached' | 'generated' | 'missing';
  format: 'spdx' | 'cyclonedx' | undefined;
  /** The attachment the SBOM was read from. */
  attachment: Digest | undefined;
  /** The packages installed: not the image, its layers or its operating system, which SBOMs list as packages too. */
  packages: ReportPackage[];
  /**
   * The operating system the SBOM names (SPDX's `OPERATING_SYSTEM` package, CycloneDX's
   * `operating-system` component: `debian` `12`), when it names one.
   */
  system: ReportSystem | undefined;
  /** Why there are no packages, when `missing`. */
  note: string | undefined;
}

/** A configuration file recorded in the provenance's external parameters. */
export interface ReportConfigFile {
  path: string;
  sha256: string;
  content: string;
}

/** A resolved dependency (SLSA v1) or material (v0.2). */
export interface ReportMaterial {
  uri: string;
  name: string;
  /** `alg:hex`, the first digest given. */
  digest: string;
  /** `annotations.kind` (`apk`, `deb`, `apk-index`, `apk-key`, ...), '' when not given. */
  kind: string;
  version: string;
}

/** The SLSA provenance of a platform image. */
export interface ReportProvenance {
  predicateType: string;
  /** The attachment it was read from, and whether that attachment is signed. */
  attachment: Digest;
  signed: boolean;
  builderId: string;
  buildType: string;
  /** When the build ran, as the statement says (v1 `runDetails.metadata.finishedOn`, else `startedOn`; v0.2 `metadata.buildFinishedOn`, else `buildStartedOn`). */
  buildTime: string | undefined;
  /** `externalParameters` (v1) or `invocation.parameters` (v0.2), without the configuration files' text. */
  parameters: unknown;
  configFiles: ReportConfigFile[];
  materials: ReportMaterial[];
}

/** One runnable image of the index (or the image itself). */
export interface ReportPlatform {
  platform: string;
  digest: Digest;
  mediaType: string;
  size: number;
  annotations: Record<string, string>;
  config: ReportConfig | undefined;
  layers: ReportLayer[];
  /** Manifest, config and layers, as stored. */
  totalSize: number;
  attachments: ReportAttachment[];
  sbom: ReportSbom;
  /** The provenance shown: signed first, then v1, then the newest by build time, else the one listed last. */
  provenance: ReportProvenance | undefined;
  /**
   * The other, different provenances attached to the image, in that order (a rebuild into the same
   * layout attaches its own to the same digest); a copy of the one shown is not one of them.
   */
  otherProvenances: ReportProvenance[];
}

/** One problem a target has with the image. */
export interface ReportProblem {
  rule: string;
  severity: Severity;
  error: string | undefined;
  why: string;
  fix: string | undefined;
  certainty: string;
  sources: string[];
}

/** The verdict of one target. */
export interface ReportTarget {
  target: string;
  name: string;
  kind: 'registry' | 'runtime';
  verdict: 'accepted' | 'warnings' | 'refused';
  problems: ReportProblem[];
}

/** The compatibility check's result. */
export interface ReportCompat {
  verdict: 'accepted' | 'warnings' | 'refused';
  targets: ReportTarget[];
  notes: string[];
}

/** Everything a report shows. */
export interface ReportData {
  reference: string;
  location: string;
  digest: Digest;
  mediaType: string;
  size: number;
  kind: 'index' | 'manifest';
  annotations: Record<string, string>;
  /** Every entry of the index; undefined for a single manifest. */
  index: ReportIndexEntry[] | undefined;
  platforms: ReportPlatform[];
  /** What is attached to the index itself (a single manifest's are on its platform). */
  attachments: ReportAttachment[];
  /** Undefined when no targets were asked for. */
  compat: ReportCompat | undefined;
  toolVersion: string;
  /** What could not be read, in words. */
  notes: string[];
}
