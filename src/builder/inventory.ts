/** The package inventory of a built image, for SBOMs: made from what the build installed. */
import { parseApkDependency } from '../pkg/apk/version.ts';
import { apkInventoryPackage, parseOsRelease } from '../sbom/from-image.ts';
import type { Inventory, InventoryPackage } from '../sbom/inventory.ts';
import type { BuiltImage } from './build.ts';
import type { InstalledDeb } from './deb-install.ts';

/**
 * The inventory of one built platform image. Dependencies are resolved to the installed package
 * that met them (by name, or through what it provides), as the resolver chose.
 */
export function inventoryOf(image: BuiltImage, imageName: string, withFiles = false): Inventory {
  const byName = new Map<string, string>();
  const byProvide = new Map<string, string>();
  for (const { info } of image.packages) {
    byName.set(info.name, info.name);
    for (const p of info.provides) byProvide.set(p.replace(/[<>=~].*$/, ''), info.name);
  }
  const packages: InventoryPackage[] = image.packages.map(({ info, files }) => {
    const deps = new Set<string>();
    for (const d of info.depends) {
      if (d.startsWith('!')) continue;
      let name: string;
      try {
        name = parseApkDependency(d).name;
      } catch {
        continue;
      }
      const met = byName.get(name) ?? byProvide.get(name);
      if (met !== undefined && met !== info.name) deps.add(met);
    }
    const fileList = withFiles ? files.filter((f) => f.type === 'file').map((f) => ({ path: `/${f.path}`, sha1: f.sha1 })) : undefined;
    return apkInventoryPackage(info, deps, fileList);
  });
  for (const d of image.debPackages ?? []) packages.push(debInventoryPackage(d, image.debPackages ?? [], withFiles));
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
    packages: [...packages].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  };
}

function debInventoryPackage(d: InstalledDeb, all: readonly InstalledDeb[], withFiles: boolean): InventoryPackage {
  const c = d.pkg.control;
  const names = new Set(all.map((x) => x.pkg.name));
  const provides = new Map<string, string>();
  for (const x of all)
    for (const p of (x.pkg.control.provides ?? '').split(',')) provides.set(p.trim().split(/[\s(:]/)[0] ?? '', x.pkg.name);
  const deps = new Set<string>();
  for (const field of [c['pre-depends'], c.depends]) {
    if (field === undefined) continue;
    for (const alt of field.split(',')) {
      for (const option of alt.split('|')) {
        const n = option.trim().split(/[\s(:]/)[0] ?? '';
        const met = names.has(n) ? n : provides.get(n);
        if (met !== undefined && met !== d.pkg.name) {
          deps.add(met);
          break;
        }
      }
    }
  }
  const source = (c.source ?? d.pkg.name).split(' ')[0] ?? d.pkg.name;
  const pkg: InventoryPackage = {
    ecosystem: 'deb',
    name: d.pkg.name,
    version: d.pkg.version,
    arch: d.pkg.architecture,
    license: '',
    source,
    supplier: c.maintainer ?? '',
    homepage: c.homepage ?? '',
    description: (c.description ?? '').split('\n')[0] ?? '',
    checksums: { SHA256: d.pkg.sha256 },
    dependsOn: [...deps].sort(),
  };
  if (withFiles) pkg.files = d.files.filter((f) => f.type === 'file').map((f) => ({ path: `/${f.path}` }));
  return pkg;
}
