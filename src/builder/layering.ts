/**
 * Which paths of a tree go in which layer: one layer; with `layering: {strategy: origin}` the
 * largest groups of packages (by source package) in layers of their own; with
 * `layering: {strategy: per-package}` every package in a layer of its own. A package layer
 * depends on that package's files alone, so its digest stays the same while other packages
 * change, and a build finds it in its cache by content (./layer.ts) and does not make it again.
 */
import { sortPaths, type Tree } from '../vfs/tree.ts';
import type { ImageLayering } from './config-types.ts';

/** A package as layering sees it: its name, its group (the source package) and its installed size. */
export interface LayeredPackage {
  name: string;
  origin: string;
  size: number;
  /** Database files that describe this package alone (Debian's status.d), for its own layer. */
  database?: readonly string[] | undefined;
}

/**
 * The layers' paths, the first layer first. Every package layer repeats the folders above its
 * files, so it unpacks on its own; everything that is in no package layer (folders, the build's
 * own files, a shared package database, packages left over) is in the first. A hardlink is in
 * the layer of the file it links to, so that every layer unpacks on its own.
 *
 * - `origin`, budget N: packages grouped by origin, the largest groups (by installed size; ties
 *   by name) each in a layer, at most N - 1 of them; a budget of 0 or 1 gives one layer (apko).
 * - `per-package`, budget N: each package a group, with its database files; the largest N - 1
 *   when N is more than 1, every one when N is 0.
 */
export function splitLayers(tree: Tree, installed: readonly LayeredPackage[], layering: ImageLayering | undefined): string[][] {
  const all = tree.paths();
  if (layering === undefined || isOneLayer(layering)) return [all];
  const perPackage = layering.strategy === 'per-package';
  const budget = layersBudget(layering);
  const groupOf = new Map(installed.map((i) => [i.name, perPackage ? i.name : i.origin || i.name]));
  const size = new Map<string, number>();
  for (const i of installed) {
    const g = groupOf.get(i.name) as string;
    size.set(g, (size.get(g) ?? 0) + i.size);
  }
  const chosen = [...size]
    .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0))
    .slice(0, budget - 1)
    .map(([g]) => g)
    .sort();
  const groups = new Map<string, string[]>(chosen.map((g) => [g, []]));
  const database = new Map<string, string>();
  if (perPackage) for (const i of installed) for (const path of i.database ?? []) database.set(path, i.name);
  const base: string[] = [];
  for (const path of all) {
    // A hardlink goes where the file it links to goes, whoever made it: in another layer, the
    // link would name a file its layer lacks, and that layer alone could not be extracted.
    let at = path;
    let node = tree.get(path);
    if (node?.type === 'hardlink' && node.linkname !== undefined) {
      at = node.linkname;
      node = tree.get(at);
    }
    const owner = node?.type === 'dir' ? undefined : (database.get(at) ?? node?.owner);
    const group = owner === undefined ? undefined : groups.get(groupOf.get(owner) ?? '');
    if (group === undefined) base.push(path);
    else group.push(path);
  }
  const out = [base];
  for (const g of chosen) {
    const files = groups.get(g) ?? [];
    if (files.length === 0) continue;
    const parents = new Set<string>();
    for (const f of files) for (let i = f.indexOf('/'); i > 0; i = f.indexOf('/', i + 1)) parents.add(f.slice(0, i));
    out.push(sortPaths([...parents, ...files]));
  }
  return out;
}

/** How many layers `layering` may make: `per-package` with a budget of 0 has no bound. */
function layersBudget(layering: ImageLayering): number {
  return layering.strategy === 'per-package' && layering.budget === 0 ? Number.POSITIVE_INFINITY : (layering.budget ?? 0);
}

/** Whether `layering` makes one layer of every path (apko's default). */
export function isOneLayer(layering: ImageLayering | undefined): boolean {
  return layering === undefined || layersBudget(layering) <= 1;
}
