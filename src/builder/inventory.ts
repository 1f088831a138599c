/** The package inventory of a built image, for SBOMs: made from what the build installed. */

import type { Inventory, InventoryPackage } from '../pkg/inventory.ts';
import { parseOsRelease } from '../sbom/from-image.ts';
import type { BuiltImage } from './build.ts';

/**
 * The inventory of one built platform image: each installed package's record, with its files
 * when `withFiles`, and the distribution from the image's os-release.
 */
export function inventoryOf(image: BuiltImage, imageName: string, withFiles = false): Inventory {
  const packages = image.packages.map(
    ({ label, installedSize, skippedScripts, files, ...record }): InventoryPackage => (withFiles ? { ...record, files } : record),
  );
  const os = parseOsRelease(image.osRelease);
  return {
    distro: { id: os.ID ?? 'unknown', versionId: os.VERSION_ID ?? '', prettyName: os.PRETTY_NAME ?? '' },
    image: {
      name: imageName,
      digest: image.manifest.digest,
      architecture: image.platform.architecture,
      variant: image.platform.variant,
      os: 'linux',
    },
    packages: packages.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  };
}
