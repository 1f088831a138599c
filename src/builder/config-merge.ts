/**
 * Merging a configuration with the file it includes, as apko's ImageConfiguration.MergeInto
 * does (the included file is the base, the including file overrides), and choosing what the
 * merged configuration left open.
 */
import { type ConfigLocation, childPath } from '../yaml.ts';
import { hostApkArch } from './arch.ts';
import type { Part } from './config-schema.ts';
import type { ImageConfig, ImageEntrypoint } from './config-types.ts';

const LIST_FIELDS = [
  ['contents.repositories', 'repositories'],
  ['contents.build_repositories', 'buildRepositories'],
  ['contents.runtime_repositories', 'runtimeRepositories'],
  ['contents.keyring', 'keyring'],
  ['contents.packages', 'packages'],
  ['accounts.users', 'users'],
  ['accounts.groups', 'groups'],
  ['paths', 'paths'],
  ['volumes', 'volumes'],
] as const;
const SCALAR_FIELDS = [
  ['entrypoint', 'entrypoint'],
  ['cmd', 'cmd'],
  ['stop-signal', 'stopSignal'],
  ['work-dir', 'workDir'],
  ['accounts.run-as', 'runAs'],
  ['layering', 'layering'],
  ['vcs-url', 'vcsUrl'],
  ['os-release', 'osRelease'],
  ['timezone', 'timezone'],
  ['contents.recommends', 'recommends'],
  ['contents.merged-usr', 'mergedUsr'],
] as const;
const MAP_FIELDS = [
  ['environment', 'environment'],
  ['annotations', 'annotations'],
] as const;

function under(key: string, prefix: string): string | undefined {
  if (key === prefix) return '';
  if (key.startsWith(prefix) && (key[prefix.length] === '.' || key[prefix.length] === '[')) return key.slice(prefix.length);
  return undefined;
}

function copyLocs(from: Map<string, ConfigLocation>, to: Map<string, ConfigLocation>, prefix: string, rename = (k: string) => k): void {
  for (const [key, loc] of from) if (under(key, prefix) !== undefined) to.set(rename(key), loc);
}

/**
 * Merges `base` (the included file) into `top` (the including file) as apko's
 * ImageConfiguration.MergeInto does: lists are concatenated base first; environment and
 * annotations are united with the including file winning; every other field is the including
 * file's when it set it, else the base's. apko drops an included `vcs-url`; this keeps it.
 */
export function merge(base: Part, top: Part): Part {
  const locs = new Map<string, ConfigLocation>();
  for (const key of ['contents', 'accounts']) {
    const loc = top.locs.get(key) ?? base.locs.get(key);
    if (loc !== undefined) locs.set(key, loc);
  }
  const out: Part = { ...top, locs };
  for (const [prefix, field] of LIST_FIELDS) {
    const offset = base[field].length;
    (out as unknown as Record<string, unknown[]>)[field] = [...base[field], ...top[field]];
    copyLocs(base.locs, locs, prefix);
    copyLocs(top.locs, locs, prefix, (k) => {
      if (k === prefix) return k;
      const m = /^\[(\d+)\]/.exec(k.slice(prefix.length));
      return m === null ? k : `${prefix}[${Number(m[1]) + offset}]${k.slice(prefix.length + m[0].length)}`;
    });
    const listLoc = top.locs.get(prefix) ?? base.locs.get(prefix);
    if (listLoc !== undefined) locs.set(prefix, listLoc);
  }
  for (const [prefix, field] of SCALAR_FIELDS) {
    const winner = top[field] !== undefined ? top : base;
    (out as unknown as Record<string, unknown>)[field] = winner[field];
    copyLocs(winner.locs, locs, prefix);
  }
  for (const [prefix, field] of MAP_FIELDS) {
    const merged = new Map(base[field]);
    for (const [key, value] of top[field]) merged.set(key, value);
    out[field] = merged;
    for (const key of base[field].keys()) if (!top[field].has(key)) copyLocs(base.locs, locs, childPath(prefix, key));
    for (const key of top[field].keys()) copyLocs(top.locs, locs, childPath(prefix, key));
    const mapLoc = top.locs.get(prefix) ?? base.locs.get(prefix);
    if (mapLoc !== undefined) locs.set(prefix, mapLoc);
  }
  out.archs = top.archs.length > 0 ? top.archs : base.archs;
  copyLocs(top.archs.length > 0 ? top.locs : base.locs, locs, 'archs');
  out.include = undefined;
  return out;
}

/**
 * Chooses what the merged configuration left open: the host architecture. (apko's service-bundle
 * rewrite has no counterpart: config-schema.ts refuses that type and services.)
 */
export function finish(part: Part, hostArch: string): ImageConfig {
  const archsFromHost = part.archs.length === 0;
  const packages = [...part.packages];
  const entrypoint: ImageEntrypoint = part.entrypoint ?? { services: {} };
  return {
    contents: {
      repositories: part.repositories,
      buildRepositories: part.buildRepositories,
      runtimeRepositories: part.runtimeRepositories,
      keyring: part.keyring,
      packages,
      ...(part.recommends === undefined ? {} : { recommends: part.recommends }),
      ...(part.mergedUsr === undefined ? {} : { mergedUsr: part.mergedUsr }),
    },
    entrypoint,
    ...(part.cmd === undefined ? {} : { cmd: part.cmd }),
    ...(part.stopSignal === undefined ? {} : { stopSignal: part.stopSignal }),
    ...(part.workDir === undefined ? {} : { workDir: part.workDir }),
    accounts: { ...(part.runAs === undefined ? {} : { runAs: part.runAs }), users: part.users, groups: part.groups },
    archs: archsFromHost ? [hostApkArch(hostArch)] : part.archs,
    archsFromHost,
    environment: Object.fromEntries(part.environment),
    paths: part.paths,
    ...(part.vcsUrl === undefined ? {} : { vcsUrl: part.vcsUrl }),
    annotations: Object.fromEntries(part.annotations),
    volumes: part.volumes,
    ...(part.layering === undefined || part.layering === null ? {} : { layering: part.layering }),
    ...(part.osRelease === undefined ? {} : { osRelease: part.osRelease }),
    ...(part.timezone === undefined ? {} : { timezone: part.timezone }),
  };
}
