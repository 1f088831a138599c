/**
 * Which paths of a tree go in which layer: one layer, or with `layering: {strategy: origin}`
 * the largest groups of packages in layers of their own, so that their layers stay the same
 * while other packages change.
 */
import { comparePaths, type Tree } from '../vfs/tree.ts';
import type { ImageLayering } from './config-types.ts';

/** A package as layering sees it: its name, its group (the source package) and its installed size. */
export interface LayeredPackage {
  name: string;
  origin: string;
  size: number;
}

/**
 * `layering: {strategy: origin, budget: N}`: the packages grouped by origin (the source package),
 * the largest groups (by installed size; ties by name) each in a layer of their own, at most
 * N - 1 of them, and everything else (folders, the build's own files, the other packages) in a
 * first layer. Each package layer repeats the folders above its files, so it unpacks on its own.
 * A group's layer depends on that group's packages alone, so its digest stays the same while
 * other packages change.
 */
export function splitLayers(tree: Tree, installed: readonly LayeredPackage[], layering: ImageLayering | undefined): string[][] {
  const all = tree.paths();
  if (layering === undefined || layering.budget <= 1) return [all];
  const originOf = new Map(installed.map((i) => [i.name, i.origin || i.name]));
  const size = new Map<string, number>();
  for (const i of installed) {
    const o = originOf.get(i.name) as string;
    size.set(o, (size.get(o) ?? 0) + i.size);
  }
  const chosen = [...size]
    .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0))
    .slice(0, layering.budget - 1)
    .map(([o]) => o)
    .sort();
  const groups = new Map<string, string[]>(chosen.map((o) => [o, []]));
  const base: string[] = [];
  for (const path of all) {
    const node = tree.get(path);
    const origin = node?.type === 'dir' || node?.owner === undefined ? undefined : originOf.get(node.owner);
    const group = origin === undefined ? undefined : groups.get(origin);
    if (group === undefined) base.push(path);
    else group.push(path);
  }
  const out = [base];
  for (const o of chosen) {
    const files = groups.get(o) ?? [];
    if (files.length === 0) continue;
    const parents = new Set<string>();
    for (const f of files) for (let i = f.indexOf('/'); i > 0; i = f.indexOf('/', i + 1)) parents.add(f.slice(0, i));
    out.push([...parents, ...files].sort(comparePaths));
  }
  return out;
}
