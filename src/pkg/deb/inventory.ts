/**
 * A Debian package as the inventory records it, from its control fields: what a build installed
 * (the .deb's control file) and what an image's dpkg database says (a status stanza) go through
 * the same functions, so that the SBOM of a build and the SBOM made later from its image give a
 * package the same source, upstream, architecture and dependencies.
 */
import type { InventoryPackage } from '../inventory.ts';
import { debSourceOf } from './control.ts';

/** What {@link debInventoryPackage} reads of a package: its name, version, architecture and control fields (names lowercased). */
export interface DebControlled {
  name: string;
  version: string;
  architecture: string;
  control: Readonly<Record<string, string>>;
}

/**
 * The inventory record of one Debian package: its name, version and architecture; the source
 * package its `Source:` field names, else the package itself (Debian policy 5.6.1: the field is
 * left out when the source package has the binary's name, as for openssl or tzdata), with the
 * source's version when it differs; the maintainer, home page and the description's first line.
 * The license, checksums and files are the caller's: the status database has none of them.
 */
export function debInventoryPackage(pkg: DebControlled, dependsOn: Iterable<string>, license: string): InventoryPackage {
  const c = pkg.control;
  return {
    ecosystem: 'deb',
    name: pkg.name,
    version: pkg.version,
    arch: pkg.architecture,
    license,
    ...debSourceOf(c.source, pkg.version, pkg.name),
    supplier: c.maintainer ?? '',
    homepage: c.homepage ?? '',
    description: (c.description ?? '').split('\n', 1)[0] ?? '',
    checksums: {},
    dependsOn: [...dependsOn].sort(),
  };
}

/** `name[:arch] [(op version)] [[arch list]]` → name: one alternative of Depends or one entry of Provides. */
function relationName(entry: string): string {
  return (entry.trim().split(/[\s(:[]/, 1)[0] ?? '').trim();
}

/**
 * The installed packages each of `installed` depends on, in the same order: of each entry of its
 * `Pre-Depends` and `Depends`, the first alternative that an installed package other than itself
 * meets, by name or else through `Provides` (all the installed packages that provide it). Read
 * leniently, as an image's database may be odd: an alternative naming nothing installed is
 * skipped, not refused.
 */
export function debDependencies(installed: readonly DebControlled[]): string[][] {
  const names = new Set(installed.map((p) => p.name));
  const providers = new Map<string, string[]>();
  for (const p of installed) {
    for (const entry of (p.control.provides ?? '').split(',')) {
      const name = relationName(entry);
      if (name === '') continue;
      const list = providers.get(name);
      if (list === undefined) providers.set(name, [p.name]);
      else if (!list.includes(p.name)) list.push(p.name);
    }
  }
  return installed.map((p) => {
    const deps = new Set<string>();
    const relations = [p.control['pre-depends'], p.control.depends].filter((v) => v !== undefined).join(',');
    for (const group of relations.split(',')) {
      for (const alternative of group.split('|')) {
        const wanted = relationName(alternative);
        if (wanted === '') continue;
        const met = (names.has(wanted) ? [wanted] : (providers.get(wanted) ?? [])).filter((t) => t !== p.name);
        if (met.length === 0) continue;
        for (const t of met) deps.add(t);
        break;
      }
    }
    return [...deps].sort();
  });
}
