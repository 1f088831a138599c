/**
 * Merging a configuration with the file it includes, as apko's ImageConfiguration.MergeInto
 * does (the included file is the base, the including file overrides), and choosing what the
 * merged configuration left open.
 */
import { ConfigError, type ConfigLocation, childPath } from '../yaml.ts';
import { hostApkArch } from './arch.ts';
import type { Part } from './config-schema.ts';
import type { ImageConfig, ImageEntrypoint, ParseConfigOptions } from './config-types.ts';

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
 * Refuses two configured users, or two groups, of one name that differ in anything else, once the
 * includes are merged (the two may be in different files): /etc/passwd and /etc/group would list
 * the name twice, and `run-as: NAME`, `chown` and a runtime's lookup would each take the first,
 * whatever the second says. An image has one account per name (docs/config.md), as a configured
 * account replaces a package's of its name. Two identical entries (the same account in an
 * include and the file that includes it) ask for one account: kept, both lines written, as apko
 * writes them.
 *
 * @throws ConfigError `INVALID_CONFIG` at the second entry's name, naming the first's place
 */
export function checkAccountNames(part: Part): void {
  const lists = [
    ['accounts.users', 'user', 'username', part.users.map((u) => [u.username, [u.uid, u.gid, u.shell, u.homedir]] as const)],
    ['accounts.groups', 'group', 'groupname', part.groups.map((g) => [g.groupname, [g.gid, g.members]] as const)],
  ] as const;
  for (const [prefix, kind, key, entries] of lists) {
    const first = new Map<string, { index: number; rest: string }>();
    for (const [i, [name, fields]] of entries.entries()) {
      const rest = JSON.stringify(fields);
      const seen = first.get(name);
      if (seen === undefined) {
        first.set(name, { index: i, rest });
        continue;
      }
      if (seen.rest === rest) continue;
      const j = seen.index;
      const place = (k: number) => part.locs.get(`${prefix}[${k}].${key}`) ?? part.locs.get(`${prefix}[${k}]`);
      const earlier = place(j);
      const at = place(i) ?? part.locs.get(prefix) ?? earlier;
      const problem = `${kind} "${name}" is configured again, differently (first as ${prefix}[${j}]${earlier === undefined ? '' : `, ${earlier.file}:${earlier.line}`}): an image has one ${kind} of each name`;
      const hint = `keep one entry for "${name}", or give the other ${kind} a name of its own`;
      throw new ConfigError('INVALID_CONFIG', at ?? { file: 'the configuration' }, `${prefix}[${i}]`, problem, { hint });
    }
  }
}

/**
 * Chooses what the merged configuration left open: the host architecture; and refuses an account
 * name configured twice, differently ({@link checkAccountNames}), unless `rebuild` (the
 * configuration of an image already built, which an earlier Provenant may have built so: the
 * rebuild writes both lines as that build did). (apko's service-bundle rewrite has no counterpart:
 * config-schema.ts refuses that type and services.)
 *
 * @throws ConfigError `INVALID_CONFIG` for a user or group name configured twice, differently
 */
export function finish(part: Part, options: ParseConfigOptions): ImageConfig {
  if (options.rebuild !== true) checkAccountNames(part);
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
    archs: archsFromHost ? [hostApkArch(options.hostArch)] : part.archs,
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
