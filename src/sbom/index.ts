/**
 * SBOMs: package inventories of images (from what the build installed, or read back from an
 * image's package databases) written as SPDX 2.3 and CycloneDX 1.6 JSON, with PURLs.
 */

export { parseControlStanzas } from '../pkg/deb/control.ts';
export type { Inventory, InventoryFile, InventoryPackage } from '../pkg/inventory.ts';
export {
  type CycloneDxComponent,
  type CycloneDxDocument,
  type CycloneDxHash,
  type CycloneDxOptions,
  cyclonedxDocument,
} from './cyclonedx.ts';
export { type DpkgDatabaseFile, inventoryFromApkDatabase, inventoryFromDpkgStatus, parseOsRelease } from './from-image.ts';
export {
  distroQualifier,
  formatPackageUrl,
  type ImagePackageUrlOptions,
  imagePackageUrl,
  type PackageUrlParts,
  packageUrl,
  percentEncode,
} from './purl.ts';
export {
  isSpdxLicenseExpression,
  licenseRefFor,
  type SpdxChecksum,
  type SpdxDocument,
  type SpdxFile,
  type SpdxIndexImage,
  type SpdxOptions,
  type SpdxPackage,
  type SpdxRelationship,
  sbomTimestamp,
  spdxDocument,
  spdxIndexDocument,
  spdxLicenseExpression,
  timestampFromEpoch,
} from './spdx.ts';
