/** The package inventory of a built image, for SBOMs: made from what the build installed. */

import type { Inventory, InventoryPackage } from '../pkg/inventory.ts';
import { installedFieldsBut } from '../pkg/source.ts';
import { inventoryDistro } from '../sbom/from-image.ts';
import { registryImageName } from '../sbom/purl.ts';
import type { BuiltImage } from './build.ts';

/** What an installed package's record holds for the build alone, not for an inventory. */
const BUILD_ONLY = new Set(['label', 'installedSize', 'skippedScripts']);
/**
 * The same and the files, for SBOMs that list none: copied around rather than destructured, the
 * files are not made (the 1 GB bench image, recalled, peaked at 83-87 MB when they were, and at
 * 74-76 MB without, as the 200 MB one does).
 */
const BUILD_ONLY_AND_FILES = new Set([...BUILD_ONLY, 'files']);

/**
 * The inventory of one built platform image: each installed package's record, with its files
 * when `withFiles`, and the distribution from the image's os-release. A file or layout location
 * (`oci:DIR:TAG`) does not name the image ({@link registryImageName}): the inventory's name is then ''.
 */
export function inventoryOf(image: BuiltImage, imageName: string, withFiles = false): Inventory {
  const packages = image.packages.map(
    (p) => installedFieldsBut(p, withFiles ? BUILD_ONLY : BUILD_ONLY_AND_FILES) as unknown as InventoryPackage,
  );
  return {
    // As an inventory read back from the image has it, so that both give the same purls.
    distro: inventoryDistro(image.osRelease),
    image: {
      name: registryImageName(imageName) ?? '',
      digest: image.manifest.digest,
      architecture: image.platform.architecture,
      variant: image.platform.variant,
      os: 'linux',
    },
    packages: packages.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  };
}
