/**
 * The package inventory of one image: what the build installed (or what an image's package
 * databases say), in a form independent of apk and deb. SBOMs are written from this, never by
 * scanning files back.
 */

/** A file a package installed, for SBOMs with files (`--sbom-files`). */
export interface InventoryFile {
  /** Absolute path in the image. */
  path: string;
  /** SHA-1 (hex) as the package database records it, when it does. */
  sha1?: string | undefined;
  /** SHA-256 (hex), when known. */
  sha256?: string | undefined;
  /**
   * The build changed the file after the package installed it (accounts, os-release, `paths`):
   * the checksums are of the bytes in the image, not of those the package shipped.
   */
  changedByBuild?: boolean | undefined;
}

/**
 * What gives a package's files as the inventory lists them, made again each time it is called:
 * one at a time where the list is made from the package's entries, so that a caller that walks
 * them (the build record) never holds a package's whole list.
 */
export type InventoryFiles = () => Iterable<InventoryFile>;

/** One installed package. */
export interface InventoryPackage {
  /** `apk` or `deb`: decides the PURL type. */
  ecosystem: 'apk' | 'deb';
  name: string;
  version: string;
  /** The package's architecture as its ecosystem names it (`x86_64`, `aarch64`, `amd64`, `all`, `noarch`). */
  arch: string;
  /**
   * The license as the package gives it, or '': apk's `license` as written; for deb, an
   * expression made from its machine-readable copyright file (./deb/copyright.ts), whose names
   * not on the SPDX License List the SBOMs make LicenseRefs one by one.
   */
  license: string;
  /** The source package (apk `origin`, deb `Source`), or ''. */
  source: string;
  /**
   * The source package's version when it differs from the package's (Debian's `Source: name
   * (version)`, as for bsdutils 1:2.38.1-5 built from util-linux 2.38.1-5): advisories are filed
   * against it. Absent when it is the package's own.
   */
  sourceVersion?: string | undefined;
  /** Who supplies it (apk `maintainer`, deb `Maintainer`), or ''. */
  supplier: string;
  /** The project's home page, or ''. */
  homepage: string;
  description: string;
  /**
   * Checksums of the package file itself (the .apk, the .deb), algorithm → hex: its SHA-256 where
   * it is known (a build fetched the file; a Debian index gives it). None for an apk read back
   * from an image, whose database records only its identity ({@link identity}): SPDX 2.3 clause
   * 7.10 and CycloneDX's component hashes are of the package, not of one section of it.
   */
  checksums: Record<string, string>;
  /**
   * The ecosystem's own identity of the package, when it has one that is no checksum of the file:
   * apk's `C:` as the index and the installed database write it (`Q1` and the base64 SHA-1 of
   * the control section). `diff` compares it to tell a package built again under the same version.
   */
  identity?: string | undefined;
  /** Names of the installed packages this one depends on (resolved, not the raw atoms). */
  dependsOn: string[];
  /** Installed files, when the caller wants them in the SBOM. */
  files?: InventoryFile[] | undefined;
  /**
   * When the package was built, in seconds since the epoch, where the source records it (apk's
   * `t:` in an installed database read from an image); Debian's databases record none.
   */
  builtAt?: number | undefined;
}

/** The inventory of one platform image. */
export interface Inventory {
  /** The distribution, for PURL `distro=` qualifiers and the SBOM's OS component. */
  distro: {
    /** `alpine`, `wolfi`, `debian`, ... (os-release ID). */
    id: string;
    /** os-release VERSION_ID, or ''. */
    versionId: string;
    /** os-release PRETTY_NAME, or ''. */
    prettyName: string;
  };
  /** The image: its name (for document names), its manifest digest and its platform. */
  image: { name: string; digest: string; architecture: string; variant?: string | undefined; os: string };
  packages: InventoryPackage[];
}
