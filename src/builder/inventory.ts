/** The package inventory of a built image, for SBOMs: made from what the build installed. */

import type { Inventory, InventoryPackage } from '../pkg/inventory.ts';
import type { InstalledPackage } from '../pkg/source.ts';
import { parseOsRelease } from '../sbom/from-image.ts';
import type { BuiltImage } from './build.ts';

/** What an installed package's record holds for the build alone, not for an inventory. */
const BUILD_ONLY = new Set(['label', 'installedSize', 'skippedScripts']);

/**
 * The inventory of one built platform image: each installed package's record, with its files
 * when `withFiles`, and the distribution from the image's os-release.
 */
export function inventoryOf(image: BuiltImage, imageName: string, withFiles = false): Inventory {
  const packages = image.packages.map((p) => inventoryRecord(p, withFiles));
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

/**
 * A package's inventory record, copied key by key: `files` is read only when asked for. A
 * source may give it as a getter that makes the list of every file (apk's, and a recalled
 * build's, which reads it from the cache: ./memo.ts), and a destructuring read it for every
 * SBOM, files or not: the 1 GB bench image, recalled, peaked at 83-87 MB with it and at 74-76
 * MB without, as the 200 MB one does.
 */
function inventoryRecord(p: InstalledPackage, withFiles: boolean): InventoryPackage {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(p)) {
    if (BUILD_ONLY.has(k) || (k === 'files' && !withFiles)) continue;
    out[k] = p[k as keyof InstalledPackage];
  }
  return out as unknown as InventoryPackage;
}
