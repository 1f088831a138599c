/**
 * The data `diffImages` returns: plain JSON (what `--format json` prints), which `renderDiff`
 * turns into text. Absent and empty mean the same thing everywhere: nothing differs there.
 */
import type { OperationOptions } from '../io/types.ts';
import type { Digest } from '../oci/digest.ts';
import type { Platform } from '../oci/types.ts';
import type { ContentStore } from '../store/types.ts';
import type { FileRecord } from './filesystem.ts';

/** One side of a comparison: an image (a tag or digest) in any store. */
export interface DiffSide {
  store: ContentStore;
  /** A tag or digest in `store`. */
  target: string;
  /** How to name the image in the result (default `store.location` and the target). */
  name?: string | undefined;
}

/** Options of `diffImages`. */
export interface DiffOptions extends OperationOptions {
  /** Compare this platform only; by default every platform both images have. */
  platform?: Platform | undefined;
  /** For changed text files of 64 KiB or less, a unified diff of their lines. */
  textDiff?: boolean | undefined;
  /**
   * For rebuilds that are expected to differ only in when they were made: leave out file
   * modification times, the config's `created` times (the image's and its history's), the
   * `org.opencontainers.image.created` annotation and the provenance's `sourceDateEpoch`, and
   * take two manifests (or indexes) that differ only in those and in the digests and sizes they
   * change as identical.
   */
  ignoreTimestamps?: boolean | undefined;
}

/** An image as the result names it. */
export interface ImageRef {
  name: string;
  digest: Digest;
  mediaType: string;
}

/** A value that differs; `a` or `b` absent when that side does not set it. */
export interface ValueChange {
  /** What it is: `Entrypoint`, `Env.PATH`, `Labels.org.opencontainers.image.version`, `history`, ... */
  field: string;
  a?: unknown;
  b?: unknown;
}

/** The result of a comparison. */
export interface ImageDiff {
  /**
   * True when the two are the same image (same digest) with the same attachments. With
   * `options.platform`, when that platform's images are (the same manifests with the same
   * attachments) and the indexes' annotations and attachments do not differ, whatever else the
   * indexes hold. With `options.ignoreTimestamps`, also two images whose digests differ only
   * through their timestamps (see {@link PlatformDiff.identical}).
   */
  identical: boolean;
  /**
   * True when {@link identical} holds of two different digests (`options.ignoreTimestamps`, no
   * platform chosen): the images differ only through their timestamps.
   */
  retimed?: boolean | undefined;
  a: ImageRef;
  b: ImageRef;
  /**
   * Platforms only one of the two has: `os/arch[/variant]`, then `:os.version` and the
   * `os.features` when the index gives them (Windows images of two OS builds are two platforms).
   * Where an index lists a platform more than once, its entries are paired in order with the
   * other's, and an entry with no partner is named with its position: `linux/amd64 #2`.
   */
  platforms: {
    onlyA: string[];
    onlyB: string[];
    /** Platforms index A lists more than once (a runtime pulls the first). */
    duplicatesA?: string[];
    /** Platforms index B lists more than once. */
    duplicatesB?: string[];
  };
  /** Changed annotations of the top-level index, when both are indexes. */
  annotations: ValueChange[];
  /** What is attached to the top-level index (a single manifest's attachments are under its image). */
  attachments: AttachmentDiff;
  /** One per platform compared. */
  images: PlatformDiff[];
}

/** The comparison of the two images of one platform. */
export interface PlatformDiff {
  platform: string;
  a: { digest: Digest; mediaType: string };
  b: { digest: Digest; mediaType: string };
  /**
   * Same manifest digest and the same attachments; with `ignoreTimestamps`, also two manifests
   * that differ only in their timestamps (a note says so).
   */
  identical: boolean;
  /** Image config and manifest annotation changes. */
  config: ValueChange[];
  layers: LayerDiff;
  files: FileDiff;
  packages: PackageDiff;
  attachments: AttachmentDiff;
  provenance: ProvenanceDiff;
  /** How the comparison was made where that matters to reading it (shared layers read once, ...). */
  notes: string[];
}

/** A layer of one image. */
export interface LayerRef {
  /** Its position in that image's manifest, from 0. */
  index: number;
  digest: Digest;
  size: number;
  mediaType: string;
}

/** Layers in both images and in one only, by blob digest. */
export interface LayerDiff {
  shared: { digest: Digest; size: number; mediaType: string; indexA: number; indexB: number }[];
  onlyA: LayerRef[];
  onlyB: LayerRef[];
  /** How many leading layers the two have in common (same blobs, same order): read once, not twice. */
  sharedPrefix: number;
}

/**
 * A path in one image, as the flattened filesystem has it: its record (./filesystem.ts), with
 * the path made absolute, the link target left out when there is none, and the layer's digest
 * and the owning package added.
 */
export interface FileEntry extends Omit<FileRecord, 'linkname' | 'entryName'> {
  /** Absolute: `/usr/bin/hello`; the root is `/`. */
  path: string;
  /** A symlink's target as written; a hardlink's as an absolute path of the image, `/usr/bin/x`. */
  linkname?: string;
  /** The digest of the layer the path's last entry came from. */
  layerDigest: Digest;
  /** The package that installed it, by that image's package database. */
  package?: string;
}

/** A path in both images that differs. */
export interface FileChange {
  path: string;
  /** Which of type, mode, uid, gid, size, sha256, linkname, device, xattrs, mtime differ. */
  fields: string[];
  a: FileEntry;
  b: FileEntry;
  /** The package that owns it (B's database, else A's). */
  package?: string;
  /** With `textDiff`: a unified diff of the lines (`---`/`+++` headers and `@@` hunks). */
  textDiff?: string;
  /** With `textDiff`, why there is none: `binary` or `too large`. */
  textDiffSkipped?: 'binary' | 'too large' | 'not found again';
}

/** Files added (only in B), removed (only in A) and changed, each sorted by path. */
export interface FileDiff {
  added: FileEntry[];
  removed: FileEntry[];
  changed: FileChange[];
  /**
   * Folders one image has an entry for and the other only implies by paths under them: in both
   * containers, not compared (the implied one's mode and owner are the runtime's choice).
   */
  implied?: string[];
}

/** Where an image's package list came from. */
export type PackageOrigin = 'apk' | 'dpkg' | 'sbom' | 'none';

/** A package of one image. */
export interface PackageRef {
  name: string;
  version: string;
  ecosystem: string;
  arch?: string;
  /**
   * Matched by name and arch: one of the images has the name for more than one architecture
   * (dpkg's `Multi-Arch: same`); the text names it `name:arch`, as dpkg does.
   */
  byArch?: boolean;
  /** Paths of the file diff that this package owns. */
  files?: string[];
}

/** A package both images have, in different versions or builds. */
export interface PackageChange {
  name: string;
  ecosystem: string;
  /** Matched by name and arch (see {@link PackageRef.byArch}). */
  byArch?: boolean;
  /** `version`, `arch`, `checksum` (the same version built again), `source`. */
  fields: string[];
  a: { version: string; arch?: string; checksum?: string };
  b: { version: string; arch?: string; checksum?: string };
  /** Paths of the file diff that this package owns, in either image. */
  files: string[];
  /** The layers those files are in, by position, in A and in B. */
  layers: { a: number[]; b: number[] };
}

/** Packages added (only in B), removed (only in A) and changed, sorted by name. */
export interface PackageDiff {
  source: { a: PackageOrigin; b: PackageOrigin };
  added: PackageRef[];
  removed: PackageRef[];
  changed: PackageChange[];
}

/** A signature, attestation or SBOM attached to an image. */
export interface AttachmentItem {
  kind: 'signature' | 'attestation' | 'sbom' | 'other';
  storage: 'buildkit' | 'referrers' | 'cosign';
  predicateType?: string;
  /**
   * Who signed it, as it claims (unverified): `key <id>`, `<identity> (<issuer>)`, `a key` (a
   * cosign 2 layer, which does not name its key) or `nobody (unsigned)`.
   */
  signer?: string;
  /** All of the above in one line: what is compared. */
  label: string;
}

/** Attachments by what they are (kind, storage, predicate type, signer), not by digest. */
export interface AttachmentDiff {
  onlyA: AttachmentItem[];
  onlyB: AttachmentItem[];
  /** In both. */
  common: AttachmentItem[];
}

/** A resolved dependency of a build, as its provenance lists it. */
export interface Dependency {
  /** What matches it across the two: its `name`, else its `uri`. */
  key: string;
  uri?: string;
  name?: string;
  digest?: Record<string, string>;
  /** `annotations.version`, when the provenance gives one. */
  version?: string;
}

/** What the SLSA provenance attached to each image says, compared. */
export interface ProvenanceDiff {
  a?: { predicateType: string; builderId: string; buildType: string };
  b?: { predicateType: string; builderId: string; buildType: string };
  /** Builder, build type and each parameter (by JSON path) that differ. */
  changes: ValueChange[];
  dependencies: { added: Dependency[]; removed: Dependency[]; changed: { key: string; a: Dependency; b: Dependency }[] };
}
