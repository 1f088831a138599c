/**
 * apko's image configuration as apko v1.2.39 holds it after locking, for apko compatibility
 * (`--compat apko`): what /etc/apko.json holds and what the image config is made from.
 *
 * apko locks a configuration per architecture (pkg/build/lock.go:LockImageConfigurationWithPackages):
 * a fresh struct that MergeInto fills (so `vcs-url` and `include` are not copied), repositories
 * and keyring sorted and made unique, `archs` the one architecture in OCI spelling, and
 * `packages` every resolved package of that architecture pinned as `name=version`, sorted (in
 * lock order when a lock is given). Validate then gives each user without a home `/home/<name>`,
 * and the accounts step turns `run-as` into the user's uid (pkg/build/accounts.go).
 *
 * The JSON is Go's: struct fields in declaration order with `omitempty` (pkg/build/types/types.go),
 * map keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped. Provenant's loader fills defaults
 * apko leaves empty (a user's gid and shell, a folder's mode), so what the file did not write is
 * told by {@link LoadedConfig.locations}.
 */
import { ProvenantError } from '../errors.ts';
import { isDebianLine } from '../pkg/sources.ts';
import { apkArchToPlatform } from './arch.ts';
import type { LoadedConfig } from './config-types.ts';

/** Go's json.Marshal of a value built of plain objects, arrays, strings, numbers and booleans. */
export function goJson(value: unknown, indent?: string): string {
  return JSON.stringify(value, null, indent).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A map as Go encodes it: keys in byte order. */
export function goMap(o: Readonly<Record<string, string>>): Record<string, string> {
  const keys = Object.keys(o).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return Object.fromEntries(keys.map((k) => [k, o[k] as string]));
}

/** The OCI name apko gives an architecture (types.Architecture: `amd64`, `arm64`, `arm/v7`). */
export function apkoArch(apkArch: string): string {
  const p = apkArchToPlatform(apkArch);
  return p.variant === undefined ? p.architecture : `${p.architecture}/${p.variant}`;
}

const sortedSet = (values: readonly string[]): string[] =>
  [...new Set(values)].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));

/**
 * Refuses what apko compatibility cannot build the way apko does, before anything is fetched.
 *
 * @throws ProvenantError `INVALID_CONFIG` naming the key
 */
export function checkApkoConfig(loaded: LoadedConfig, where: string): void {
  const { config, locations } = loaded;
  const refuse = (key: string, why: string): never => {
    throw new ProvenantError('INVALID_CONFIG', `${where}: ${key} ${why}`, {
      where: locations.get(key) === undefined ? where : `${locations.get(key)?.file}:${locations.get(key)?.line}`,
      hint: 'remove it, or build without --compat apko',
    });
  };
  if (config.layering !== undefined)
    refuse('layering', "splits layers by apko's origin grouping, which apko compatibility does not do yet");
  if (config.osRelease !== undefined) refuse('os-release', 'is a Provenant extension; apko would refuse the configuration');
  // timezone, recommends and merged-usr (Debian's) are refused for any apk build (config.ts checkEcosystemKeys).
  if (config.contents.repositories.some(isDebianLine)) refuse('contents.repositories', 'names Debian sources; apko builds apk images only');
}

/**
 * The configuration apko locks for one architecture, as the JSON object /etc/apko.json encodes
 * (fields in apko's order). `runAs` replaces `accounts.run-as` once the accounts step resolved it.
 */
export function apkoLockedConfig(
  loaded: LoadedConfig,
  apkArch: string,
  packages: readonly string[],
  runAs?: string,
): Record<string, unknown> {
  const { config } = loaded;
  const has = (key: string): boolean => loaded.locations.has(key);
  const nonEmpty = <T>(key: string, value: T[] | Record<string, unknown>): Record<string, unknown> =>
    (Array.isArray(value) ? value.length : Object.keys(value).length) > 0 ? { [key]: value } : {};
  const c = config.contents;
  const contents = {
    ...nonEmpty('build_repositories', sortedSet(c.buildRepositories)),
    ...nonEmpty('runtime_repositories', [...c.runtimeRepositories]),
    ...nonEmpty('repositories', sortedSet(c.repositories)),
    ...nonEmpty('keyring', sortedSet(c.keyring)),
    ...nonEmpty('packages', [...packages]),
  };
  const e = config.entrypoint;
  const entrypoint = {
    ...(e.type === undefined ? {} : { type: e.type }),
    ...(e.command === undefined || e.command === '' ? {} : { command: e.command }),
    ...(e.shellFragment === undefined || e.shellFragment === '' ? {} : { 'shell-fragment': e.shellFragment }),
    ...nonEmpty('services', goMap(e.services)),
  };
  const users = config.accounts.users.map((u, i) => ({
    username: u.username,
    ...(u.uid === 0 ? {} : { uid: u.uid }),
    ...(has(`accounts.users[${i}].gid`) ? { gid: u.gid } : {}),
    ...(has(`accounts.users[${i}].shell`) && u.shell !== '' ? { shell: u.shell } : {}),
    // Validate gives a user without a home /home/<name> before apko.json is written.
    ...(u.homedir === '' ? {} : { homedir: u.homedir }),
  }));
  const groups = config.accounts.groups.map((g) => ({
    ...(g.groupname === '' ? {} : { groupname: g.groupname }),
    ...(g.gid === 0 ? {} : { gid: g.gid }),
    ...nonEmpty('members', [...g.members]),
  }));
  const run = runAs ?? config.accounts.runAs;
  const accounts = {
    ...(run === undefined || run === '' ? {} : { 'run-as': run }),
    ...nonEmpty('users', users),
    ...nonEmpty('groups', groups),
  };
  const paths = config.paths.map((p, i) => {
    const permissions = has(`paths[${i}].permissions`) ? (p.permissions ?? 0) : 0;
    return {
      ...(p.path === '' ? {} : { path: p.path }),
      type: p.type,
      ...(p.uid === undefined ? {} : { uid: p.uid }),
      ...(p.gid === undefined ? {} : { gid: p.gid }),
      ...(permissions === 0 ? {} : { permissions }),
      ...(p.source === undefined || p.source === '' ? {} : { source: p.source }),
      ...(p.recursive ? { recursive: true } : {}),
    };
  });
  return {
    contents,
    entrypoint,
    ...(config.cmd === undefined || config.cmd === '' ? {} : { cmd: config.cmd }),
    ...(config.stopSignal === undefined || config.stopSignal === '' ? {} : { 'stop-signal': config.stopSignal }),
    ...(config.workDir === undefined || config.workDir === '' ? {} : { 'work-dir': config.workDir }),
    accounts,
    archs: [apkoArch(apkArch)],
    ...nonEmpty('environment', goMap(config.environment)),
    ...nonEmpty('paths', paths),
    ...nonEmpty('annotations', goMap(config.annotations)),
    ...nonEmpty('volumes', [...config.volumes]),
    ...(has('layering') ? { layering: {} } : {}),
    ...(has('format') ? { format: 'tar' } : {}),
  };
}

/**
 * The mode a `paths` entry gives when the file did not say: apko's zero value, 0000 (Provenant's
 * loader fills 0755 for a folder).
 */
export function apkoPathPermissions(loaded: LoadedConfig, index: number): number {
  return loaded.locations.has(`paths[${index}].permissions`) ? (loaded.config.paths[index]?.permissions ?? 0) : 0;
}
