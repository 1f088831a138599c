/**
 * The image configuration: apko's YAML schema (chainguard-dev/apko, pkg/build/types/types.go),
 * read with positions so that every mistake is reported as `file:line:column: key.path: problem`.
 *
 * Reading follows the Go YAML library apko decodes with (gopkg.in/yaml.v3, with known fields
 * enforced): a string field takes any scalar's text as written (`run-as: 65532` is the string
 * "65532"), an integer field takes Go's integer syntax (`0o755`, `0755`, `0x1ed`, `493`), and an
 * unknown key is an error. Where apko quietly does something surprising (a directory with mode
 * 0000, `permissions: 0999` read as the float 999) this loader either picks the sensible value or
 * says why it refuses; docs/config.md lists every such difference.
 *
 * The document is parsed with the YAML failsafe schema, so every scalar arrives as its text and
 * this file alone decides what is a number, a boolean or a null.
 */
import { createHash } from 'node:crypto';
import { readFile as readFileBytes } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import {
  type Alias,
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Scalar,
  type YAMLMap,
  type YAMLSeq,
} from 'yaml';
import { type ErrorCode, isProvenantError, ProvenantError } from '../errors.ts';
import { formatPlatform, hostPlatform } from '../oci/platform.ts';
import type { Platform } from '../oci/types.ts';

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

/** An architecture as apk names it; the config accepts apko's and OCI's spellings as well. */
export type ApkArch = 'x86_64' | 'aarch64' | 'armv7' | 'armhf' | 'x86' | 'ppc64le' | 's390x' | 'riscv64' | 'loongarch64';

/** `contents`: where packages come from, which keys sign them, and which to install. */
export interface ImageContents {
  /** Debian: also install Recommends (off by default, as `--no-install-recommends`). */
  readonly recommends?: boolean;
  /** Debian: merge /bin, /sbin and /lib into /usr (symlinks), as Debian 12's usrmerge does. */
  readonly mergedUsr?: boolean;
  /** apk repositories used to build and written to /etc/apk/repositories. Trailing `/` removed, as apko does. */
  readonly repositories: readonly string[];
  /** apk repositories used to build only (`build_repositories`). */
  readonly buildRepositories: readonly string[];
  /** apk repositories written to /etc/apk/repositories only (`runtime_repositories`). */
  readonly runtimeRepositories: readonly string[];
  /** Public keys (paths or URLs) that verify the repositories' indexes. */
  readonly keyring: readonly string[];
  /** Package constraints to install (`name`, `name=1.2-r0`, `name>1`, `name@tag`). */
  readonly packages: readonly string[];
}

/** `entrypoint`. Every field is optional; an empty entrypoint leaves the image's unset. */
export interface ImageEntrypoint {
  /** `service-bundle` (the only type apko knows): s6 supervises `services`. */
  readonly type?: 'service-bundle';
  /** The command, a shell-style word list that the build splits. */
  readonly command?: string;
  /** `shell-fragment`: run as `/bin/sh -c FRAGMENT`. */
  readonly shellFragment?: string;
  /** `services`: service name to command, for `service-bundle`. */
  readonly services: Readonly<Record<string, string>>;
}

/** One entry of `accounts.users`, with apko's defaults filled in. */
export interface ImageUser {
  readonly username: string;
  readonly uid: number;
  /** The primary group; apko's default is the uid. */
  readonly gid: number;
  /** apko's default is `/bin/sh`. */
  readonly shell: string;
  /** apko's default is `/home/<username>`. */
  readonly homedir: string;
}

/** One entry of `accounts.groups`. */
export interface ImageGroup {
  readonly groupname: string;
  readonly gid: number;
  readonly members: readonly string[];
}

/** `accounts`. */
export interface ImageAccounts {
  /** `run-as`: a user name or uid; absent leaves the image config's User unset (root). */
  readonly runAs?: string;
  readonly users: readonly ImageUser[];
  readonly groups: readonly ImageGroup[];
}

/** The kinds of `paths` entry apko knows. */
export type PathMutationType = 'directory' | 'empty-file' | 'hardlink' | 'symlink' | 'permissions';

/** One entry of `paths`: a change made to the filesystem after packages are installed. */
export interface PathMutation {
  /** The path in the image. */
  readonly path: string;
  readonly type: PathMutationType;
  /** Owner; absent leaves ownership unchanged unless `gid` is set (then the uid is 0), as in apko. */
  readonly uid?: number;
  /** Group; absent leaves ownership unchanged unless `uid` is set (then the gid is 0), as in apko. */
  readonly gid?: number;
  /**
   * Mode bits (0 to 0o7777). Always present for `directory` (default 0o755) and `permissions`
   * (required); absent for other types when the file did not give it.
   */
  readonly permissions?: number;
  /** The link target, for `hardlink` and `symlink` (required there). */
  readonly source?: string;
  /** Apply permissions and ownership to everything beneath `path`. */
  readonly recursive: boolean;
}

/** `layering`: split packages into several layers. */
export interface ImageLayering {
  /** The only strategy apko has: group packages by origin. */
  readonly strategy: 'origin';
  /** How many package layers at most (0 behaves as 1 in apko). */
  readonly budget: number;
}

/** `os-release`: fields for /etc/os-release (a key older apko releases had). */
export interface ImageOsRelease {
  readonly id?: string;
  readonly name?: string;
  readonly prettyName?: string;
  readonly versionId?: string;
  readonly homeUrl?: string;
  readonly bugReportUrl?: string;
}

/**
 * An image configuration, typed and normalized: includes merged, architectures in apk spelling,
 * defaults filled in. Field names are camelCase; the YAML spelling of each is in its TSDoc and in
 * docs/config.md, and {@link LoadedConfig.locations} is keyed by the YAML spelling.
 */
export interface ImageConfig {
  readonly contents: ImageContents;
  readonly entrypoint: ImageEntrypoint;
  /** `cmd`: arguments to the entrypoint, a shell-style word list. */
  readonly cmd?: string;
  /** `stop-signal`. */
  readonly stopSignal?: string;
  /** `work-dir`. */
  readonly workDir?: string;
  readonly accounts: ImageAccounts;
  /** `archs`, in apk spelling, without duplicates, in the order written. Never empty. */
  readonly archs: readonly ApkArch[];
  /** True when the config named no architecture and `archs` is the host's. */
  readonly archsFromHost: boolean;
  /** `environment`, as written: the build adds a default PATH when this has none. */
  readonly environment: Readonly<Record<string, string>>;
  readonly paths: readonly PathMutation[];
  /** `vcs-url`. */
  readonly vcsUrl?: string;
  readonly annotations: Readonly<Record<string, string>>;
  readonly volumes: readonly string[];
  /** Absent for a single layer (no `layering`, or `layering: {}`). */
  readonly layering?: ImageLayering;
  /** `os-release`. */
  readonly osRelease?: ImageOsRelease;
  /** The time zone /etc/localtime points at (Debian images: from tzdata), e.g. `Europe/Paris`. */
  readonly timezone?: string;
}

/** A place in a config file; line and column count from 1. */
export interface ConfigLocation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** One file a configuration was read from, for provenance. */
export interface ConfigFile {
  /** The path as it was read (the loader's argument, or an include joined to its file's folder). */
  readonly path: string;
  /** Hex SHA-256 of the file's bytes. */
  readonly sha256: string;
  /** The file's text exactly, for provenance (a rebuild needs every file as it was). */
  readonly content: string;
}

/** What {@link loadConfig} and {@link parseConfig} return. */
export interface LoadedConfig {
  readonly config: ImageConfig;
  /** Every file read, the root first, then each include in the order followed. */
  readonly files: readonly ConfigFile[];
  /** The root file's exact text. */
  readonly raw: string;
  /**
   * Where each value of the merged configuration was written, keyed by its YAML key path
   * (`contents.packages[2]`, `environment.PATH`, `annotations["org.opencontainers.image.url"]`),
   * so later steps can report `file:line:column` for a package that does not resolve. Values the
   * loader filled in have no entry.
   */
  readonly locations: ReadonlyMap<string, ConfigLocation>;
}

/** Options of {@link parseConfig}. */
export interface ParseConfigOptions {
  /**
   * The architecture to build for when the config names none: any name {@link normalizeArch}
   * takes, or a Node `process.arch` value (`x64`, `ia32`, `arm`). Only read when needed.
   */
  hostArch: string;
}

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions extends ParseConfigOptions {
  /** Reads a file as UTF-8 text; by default from the local filesystem. Tests pass an in-memory one. */
  readFile?: ((path: string) => Promise<string>) | undefined;
}

/**
 * A mistake in a config file. The message reads `file:line:column: key.path: problem`; the
 * parts are also fields. `where` is left empty because the message already holds the place.
 */
export class ConfigError extends ProvenantError {
  readonly file: string;
  /** 1-based; absent when the problem is the file as a whole (unreadable, not UTF-8). */
  readonly line: number | undefined;
  readonly column: number | undefined;
  /** The YAML key path (`contents.packages[2]`), or "" for the whole file. */
  readonly keyPath: string;

  constructor(
    code: ErrorCode,
    at: { file: string; line?: number | undefined; column?: number | undefined },
    keyPath: string,
    problem: string,
    details: { hint?: string | undefined; cause?: unknown } = {},
  ) {
    const place = at.line === undefined ? at.file : `${at.file}:${at.line}:${at.column ?? 1}`;
    super(code, `${place}: ${keyPath === '' ? '' : `${keyPath}: `}${problem}`, details);
    this.name = 'ConfigError';
    this.file = at.file;
    this.line = at.line;
    this.column = at.column;
    this.keyPath = keyPath;
  }
}

// ---------------------------------------------------------------------------------------------
// Architectures
// ---------------------------------------------------------------------------------------------

// apko's ParseArchitecture accepts apk names and OCI names (types.go); `arm64/v8` is Docker's
// spelling of arm64 and costs nothing to accept.
const ARCH_ALIASES: Readonly<Record<string, ApkArch>> = {
  x86_64: 'x86_64',
  amd64: 'x86_64',
  aarch64: 'aarch64',
  arm64: 'aarch64',
  'arm64/v8': 'aarch64',
  armv7: 'armv7',
  'arm/v7': 'armv7',
  armhf: 'armhf',
  'arm/v6': 'armhf',
  x86: 'x86',
  '386': 'x86',
  ppc64le: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loongarch64',
  loongarch64: 'loongarch64',
};

const APK_TO_PLATFORM: Readonly<Record<ApkArch, { architecture: string; variant?: string }>> = {
  x86_64: { architecture: 'amd64' },
  aarch64: { architecture: 'arm64' },
  armv7: { architecture: 'arm', variant: 'v7' },
  armhf: { architecture: 'arm', variant: 'v6' },
  x86: { architecture: '386' },
  ppc64le: { architecture: 'ppc64le' },
  s390x: { architecture: 's390x' },
  riscv64: { architecture: 'riscv64' },
  loongarch64: { architecture: 'loong64' },
};

const ARCH_HINT =
  'use an apk name (x86_64, aarch64, armv7, armhf, x86, ppc64le, s390x, riscv64, loongarch64) or an OCI one (amd64, arm64, arm/v7, arm/v6, 386, loong64)';

function lookupArch(name: string): ApkArch | undefined {
  return Object.hasOwn(ARCH_ALIASES, name) ? ARCH_ALIASES[name] : undefined;
}

/**
 * The apk name of an architecture written the apk way (`x86_64`, `aarch64`, `armv7`, `armhf`,
 * `x86`, `loongarch64`) or the OCI/Docker way (`amd64`, `arm64`, `arm/v7`, `arm/v6`, `386`,
 * `loong64`); `ppc64le`, `s390x` and `riscv64` are the same in both. Names are case-sensitive, as
 * in apko. Throws `USAGE` for anything else.
 */
export function normalizeArch(name: string): ApkArch {
  const arch = lookupArch(name);
  if (arch === undefined) {
    const guess = suggest(name, Object.keys(ARCH_ALIASES));
    throw new ProvenantError('USAGE', `"${name}" is not an architecture${guess === undefined ? '' : ` (did you mean "${guess}"?)`}`, {
      hint: ARCH_HINT,
    });
  }
  return arch;
}

/**
 * The OCI platform (`os` is always `linux`) of an architecture, as apko's ToOCIPlatform maps it:
 * `armv7` is arm/v7, `armhf` is arm/v6, `x86` is 386, `loongarch64` is loong64, `aarch64` is arm64
 * with no variant. Takes any name {@link normalizeArch} takes.
 */
export function apkArchToPlatform(arch: string): Platform {
  const p = APK_TO_PLATFORM[normalizeArch(arch)];
  return p.variant === undefined
    ? { os: 'linux', architecture: p.architecture }
    : { os: 'linux', architecture: p.architecture, variant: p.variant };
}

function hostApkArch(hostArch: string): ApkArch {
  const direct = lookupArch(hostArch);
  if (direct !== undefined) return direct;
  // A Node process.arch value: the OCI platform module already knows those names.
  const p = hostPlatform(hostArch);
  const viaNode = lookupArch(formatPlatform(p).slice('linux/'.length)) ?? lookupArch(p.architecture);
  if (viaNode !== undefined) return viaNode;
  throw new ProvenantError('USAGE', `the host architecture "${hostArch}" is not one Provenant builds for`, {
    hint: 'name the architectures in the config (archs: [x86_64]) or on the command line',
  });
}

// ---------------------------------------------------------------------------------------------
// The schema: which keys each mapping takes
// ---------------------------------------------------------------------------------------------

interface MapSpec {
  /** The keys this mapping takes, spelled as in apko's yaml tags. */
  readonly known: readonly string[];
  /** Keys apko has that Provenant refuses, with the reason. */
  readonly unsupported?: Readonly<Record<string, string>>;
  /** Keys that belong somewhere else, with that place. */
  readonly misplaced?: Readonly<Record<string, string>>;
}

const TOP: MapSpec = {
  known: [
    'contents',
    'entrypoint',
    'cmd',
    'stop-signal',
    'work-dir',
    'accounts',
    'archs',
    'environment',
    'paths',
    'vcs-url',
    'annotations',
    'include',
    'volumes',
    'layering',
    'format',
    'os-release',
    'timezone',
  ],
  unsupported: {
    certificates: 'apko\'s "certificates" (extra CA certificates) is not supported yet',
    options: 'apko removed "options" in 2024; Provenant does not support it',
  },
  misplaced: {
    packages: 'contents.packages',
    repositories: 'contents.repositories',
    keyring: 'contents.keyring',
    build_repositories: 'contents.build_repositories',
    users: 'accounts.users',
    groups: 'accounts.groups',
    'run-as': 'accounts.run-as',
    command: 'entrypoint.command',
    arch: 'archs',
    env: 'environment',
  },
};
const CONTENTS: MapSpec = {
  known: ['repositories', 'build_repositories', 'runtime_repositories', 'keyring', 'packages', 'recommends', 'merged-usr'],
  unsupported: {
    baseimage: 'apko\'s experimental "baseimage" is not supported yet',
    runtime_keyring: 'apko\'s "runtime_keyring" (inline keys for /etc/apk/keys) is not supported yet',
  },
};
const ENTRYPOINT: MapSpec = { known: ['type', 'command', 'shell-fragment', 'services'] };
const ACCOUNTS: MapSpec = { known: ['run-as', 'users', 'groups'] };
const USER: MapSpec = { known: ['username', 'uid', 'gid', 'shell', 'homedir'] };
const GROUP: MapSpec = { known: ['groupname', 'gid', 'members'] };
const PATH: MapSpec = { known: ['path', 'type', 'uid', 'gid', 'permissions', 'source', 'recursive'] };
const LAYERING: MapSpec = { known: ['strategy', 'budget'] };
const OS_RELEASE: MapSpec = { known: ['id', 'name', 'pretty-name', 'version-id', 'home-url', 'bug-report-url'] };

const PATH_TYPES: readonly PathMutationType[] = ['directory', 'empty-file', 'hardlink', 'symlink', 'permissions'];
const UINT32_MAX = 0xffff_ffff;
/** A YAML file that expands (through aliases) to more nodes than this is refused. */
const MAX_NODES = 200_000;
/** How deep includes may nest; a cycle through symbolic links stops here. */
const MAX_INCLUDE_DEPTH = 32;

// ---------------------------------------------------------------------------------------------
// Reading one document
// ---------------------------------------------------------------------------------------------

type YNode = Scalar | YAMLMap | YAMLSeq;

interface Ctx {
  readonly file: string;
  readonly doc: Document;
  readonly lines: LineCounter;
  readonly locs: Map<string, ConfigLocation>;
  readonly aliases: Map<Alias, YNode | undefined>;
  nodes: number;
}

/** One file's configuration before includes are merged and defaults chosen. */
interface Part {
  file: string;
  repositories: string[];
  buildRepositories: string[];
  runtimeRepositories: string[];
  keyring: string[];
  packages: string[];
  entrypoint: ImageEntrypoint | undefined;
  cmd: string | undefined;
  stopSignal: string | undefined;
  workDir: string | undefined;
  runAs: string | undefined;
  users: ImageUser[];
  groups: ImageGroup[];
  archs: ApkArch[];
  environment: Map<string, string>;
  paths: PathMutation[];
  vcsUrl: string | undefined;
  annotations: Map<string, string>;
  volumes: string[];
  /** null: `layering: {}` was written, which (in apko) overrides an included layering with none. */
  layering: ImageLayering | null | undefined;
  osRelease: ImageOsRelease | undefined;
  timezone: string | undefined;
  recommends: boolean | undefined;
  mergedUsr: boolean | undefined;
  include: { path: string; at: ConfigLocation } | undefined;
  locs: Map<string, ConfigLocation>;
}

function locate(ctx: Ctx, offset: number): ConfigLocation {
  const { line, col } = ctx.lines.linePos(offset);
  return { file: ctx.file, line, column: col };
}

function locOf(ctx: Ctx, node: { range?: readonly number[] | null | undefined } | undefined | null): ConfigLocation {
  return locate(ctx, node?.range?.[0] ?? 0);
}

function fail(ctx: Ctx, node: YNode | Alias | undefined | null, path: string, problem: string, hint?: string): never {
  throw new ConfigError('INVALID_CONFIG', locOf(ctx, node), path, problem, { hint });
}

function childPath(parent: string, key: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) return parent === '' ? key : `${parent}.${key}`;
  return `${parent}[${JSON.stringify(key)}]`;
}

function itemPath(parent: string, index: number): string {
  return `${parent}[${index}]`;
}

/** Follows an alias to its anchored node, counting nodes so that an alias bomb stops early. */
function deref(ctx: Ctx, node: unknown, path: string): YNode | undefined {
  if (++ctx.nodes > MAX_NODES) {
    fail(ctx, undefined, path, `the document expands to more than ${MAX_NODES} values (through aliases); refusing it`);
  }
  if (node === null || node === undefined) return undefined;
  if (isAlias(node)) {
    if (!ctx.aliases.has(node)) ctx.aliases.set(node, node.resolve(ctx.doc) as YNode | undefined);
    const target = ctx.aliases.get(node);
    if (target === undefined) fail(ctx, node, path, `the alias *${node.source} names no anchor defined before it`);
    return target;
  }
  if (isScalar(node) || isMap(node) || isSeq(node)) return node;
  return fail(ctx, undefined, path, 'this YAML node is not supported here');
}

const NULLS = new Set(['', '~', 'null', 'Null', 'NULL']);

/** True for a missing value or a YAML null (`key:`, `~`, `null`). */
function isNull(node: YNode | undefined): boolean {
  return node === undefined || (isScalar(node) && (node.value === null || (node.type === 'PLAIN' && NULLS.has(String(node.value)))));
}

function describe(node: YNode | undefined): string {
  if (node === undefined) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  const text = String(node.value);
  return isNull(node) ? 'nothing' : JSON.stringify(text.length > 40 ? `${text.slice(0, 37)}...` : text);
}

/**
 * Records where `path` was written: a scalar at its value, a mapping, a list or an empty value
 * at its key (`key`), which is the line a person looks for.
 */
function note(ctx: Ctx, path: string, node: YNode | undefined, key?: { range?: readonly number[] | null | undefined }): void {
  const atKey = key !== undefined && (node === undefined || !isScalar(node) || isNull(node));
  ctx.locs.set(path, locOf(ctx, atKey ? key : node));
}

interface Entry {
  key: string;
  keyNode: Scalar;
  node: YNode | undefined;
  path: string;
}

/**
 * A mapping's entries, with YAML merge keys (`<<: *anchor`) expanded as yaml.v3 does: keys
 * written in the mapping win over merged ones, and earlier merged mappings over later ones.
 */
function entries(ctx: Ctx, node: YNode | undefined, path: string, what: string, seen: Set<YAMLMap> = new Set()): Entry[] {
  if (isNull(node)) return [];
  if (!isMap(node)) return fail(ctx, node, path, `expected ${what} (a mapping), got ${describe(node)}`);
  if (seen.has(node)) return fail(ctx, node, path, 'a merge key (<<) includes the mapping it is in');
  seen.add(node);
  const own: Entry[] = [];
  const merged: Entry[] = [];
  for (const pair of node.items) {
    const keyNode = deref(ctx, pair.key, path);
    if (keyNode === undefined || !isScalar(keyNode) || isNull(keyNode)) {
      fail(ctx, keyNode ?? node, path, `a key must be a non-empty string, got ${describe(keyNode)}`);
    }
    const key = String(keyNode.value);
    const value = deref(ctx, pair.value, childPath(path, key));
    if (key === '<<' && keyNode.type === 'PLAIN') {
      const sources = value !== undefined && isSeq(value) ? value.items.map((n) => deref(ctx, n, path)) : [value];
      for (const source of sources) merged.push(...entries(ctx, source, path, 'a mapping to merge', seen));
      continue;
    }
    own.push({ key, keyNode, node: value, path: childPath(path, key) });
  }
  seen.delete(node);
  const out = [...own];
  const taken = new Set(own.map((e) => e.key));
  for (const e of merged) {
    if (!taken.has(e.key)) {
      taken.add(e.key);
      out.push(e);
    }
  }
  return out;
}

/** A mapping checked against its spec, by key. Unknown keys are errors with a suggestion. */
function fields(ctx: Ctx, node: YNode | undefined, path: string, spec: MapSpec, what: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  if (node !== undefined && !ctx.locs.has(path === '' ? '.' : path)) note(ctx, path === '' ? '.' : path, node);
  for (const e of entries(ctx, node, path, what)) {
    if (!spec.known.includes(e.key)) {
      const reason = spec.unsupported !== undefined && Object.hasOwn(spec.unsupported, e.key) ? spec.unsupported[e.key] : undefined;
      if (reason !== undefined) fail(ctx, e.keyNode, e.path, reason, 'remove the key, or build this image with apko');
      const place = spec.misplaced !== undefined && Object.hasOwn(spec.misplaced, e.key) ? spec.misplaced[e.key] : undefined;
      const guess = place ?? suggest(e.key, spec.known);
      fail(
        ctx,
        e.keyNode,
        e.path,
        `unknown key "${e.key}"${guess === undefined ? '' : ` (did you mean "${guess}"?)`}`,
        `${what === 'the configuration' ? 'top-level keys' : `keys of ${path}`}: ${spec.known.join(', ')}`,
      );
    }
    out.set(e.key, e);
  }
  return out;
}

/** A scalar's text, or undefined for a null; `what` names the expected type in the error. */
function scalarText(ctx: Ctx, node: YNode | undefined, path: string, what = 'a string'): string | undefined {
  if (isNull(node)) return undefined;
  if (!isScalar(node)) return fail(ctx, node, path, `expected ${what}, got ${describe(node)}`);
  return String(node.value);
}

/** An optional string field: null and "" are absent, as they are to apko. */
function optString(ctx: Ctx, e: Entry | undefined): string | undefined {
  if (e === undefined) return undefined;
  note(ctx, e.path, e.node, e.keyNode);
  const text = scalarText(ctx, e.node, e.path);
  return text === '' ? undefined : text;
}

/** A required, non-empty string field of the mapping `parent`. */
function reqString(ctx: Ctx, e: Entry | undefined, parent: YNode | undefined, parentPath: string, key: string): string {
  const text = optString(ctx, e);
  if (text === undefined) {
    return e === undefined
      ? fail(ctx, parent, parentPath, `"${key}" is required`)
      : fail(ctx, e.node ?? e.keyNode, e.path, 'expected a non-empty string');
  }
  return text;
}

function list(ctx: Ctx, e: Entry | undefined, what: string): { node: YNode | undefined; path: string }[] {
  if (e === undefined) return [];
  note(ctx, e.path, e.node, e.keyNode);
  if (isNull(e.node)) return [];
  if (!isSeq(e.node)) return fail(ctx, e.node, e.path, `expected a list of ${what}, got ${describe(e.node)}`);
  return e.node.items.map((item, i) => {
    const path = itemPath(e.path, i);
    const node = deref(ctx, item, path);
    ctx.locs.set(path, locOf(ctx, node ?? e.node));
    return { node, path };
  });
}

/** A list of non-empty strings. */
function stringList(ctx: Ctx, e: Entry | undefined): string[] {
  return list(ctx, e, 'strings').map(({ node, path }) => {
    const text = scalarText(ctx, node, path);
    if (text === undefined || text === '') fail(ctx, node, path, `expected a non-empty string, got ${describe(node)}`);
    return text;
  });
}

/** A mapping of strings to strings; a null value is "", as in apko (yaml.v3 into map[string]string). */
function stringMap(ctx: Ctx, e: Entry | undefined, check?: (key: string, at: Entry) => void): Map<string, string> {
  const out = new Map<string, string>();
  if (e === undefined) return out;
  note(ctx, e.path, e.node, e.keyNode);
  for (const item of entries(ctx, e.node, e.path, `"${e.key}"`)) {
    check?.(item.key, item);
    note(ctx, item.path, item.node, item.keyNode);
    out.set(item.key, scalarText(ctx, item.node, item.path) ?? '');
  }
  return out;
}

/**
 * An integer written the way yaml.v3 and Go's strconv.ParseInt(s, 0, 64) read it: underscores
 * ignored, `0x`/`0o`/`0b` prefixes, and a leading 0 meaning octal (YAML 1.1, so `0755` is 493).
 * Unlike apko, `0999` is an error rather than the float 999, and a quoted number is an error (as
 * it is in apko: yaml.v3 does not decode a string into an integer).
 */
function integer(ctx: Ctx, e: Entry, min: number, max: number): number | undefined {
  note(ctx, e.path, e.node, e.keyNode);
  const node = e.node;
  if (isNull(node)) return undefined;
  if (!isScalar(node)) return fail(ctx, node, e.path, `expected an integer, got ${describe(node)}`);
  const raw = String(node.value);
  if (node.type !== 'PLAIN') {
    return fail(ctx, node, e.path, `expected an integer, got the quoted string ${JSON.stringify(raw)}`, 'write the number without quotes');
  }
  const m = /^([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|[0-9]+)$/.exec(raw.replaceAll('_', ''));
  if (m === null) return fail(ctx, node, e.path, `expected an integer, got ${describe(node)}`);
  const digits = m[2]!;
  let value: number;
  if (/^0[xXoObB]/.test(digits)) {
    const base = { x: 16, o: 8, b: 2 }[digits[1]!.toLowerCase() as 'x' | 'o' | 'b'];
    value = Number.parseInt(digits.slice(2), base);
  } else if (digits.length > 1 && digits.startsWith('0')) {
    if (/[89]/.test(digits)) {
      return fail(
        ctx,
        node,
        e.path,
        `${raw} is not an octal number (a leading 0 means octal)`,
        'drop the leading 0 for a decimal number; octal digits are 0 to 7',
      );
    }
    value = Number.parseInt(digits, 8);
  } else {
    value = Number.parseInt(digits, 10);
  }
  if (m[1] === '-') value = -value;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === 0o7777 ? '0 to 0o7777' : `${min} to ${max}`;
    return fail(ctx, node, e.path, `${raw} is out of range (${range})`);
  }
  return value;
}

const TRUE = new Set(['true', 'True', 'TRUE', 'y', 'Y', 'yes', 'Yes', 'YES', 'on', 'On', 'ON']);
const FALSE = new Set(['false', 'False', 'FALSE', 'n', 'N', 'no', 'No', 'NO', 'off', 'Off', 'OFF']);

/** A boolean: YAML's true/false and, as yaml.v3 accepts them for a bool field, YAML 1.1's yes/no/on/off. */
function boolean(ctx: Ctx, e: Entry | undefined): boolean {
  if (e === undefined) return false;
  note(ctx, e.path, e.node, e.keyNode);
  const text = scalarText(ctx, e.node, e.path, 'true or false');
  if (text === undefined) return false;
  if (TRUE.has(text)) return true;
  if (FALSE.has(text)) return false;
  return fail(ctx, e.node, e.path, `expected true or false, got ${describe(e.node)}`);
}

/** One of a fixed set of words, with a suggestion when it is close to one. */
function oneOf<T extends string>(ctx: Ctx, e: Entry, text: string, choices: readonly T[]): T {
  if ((choices as readonly string[]).includes(text)) return text as T;
  const guess = suggest(text, choices);
  return fail(
    ctx,
    e.node,
    e.path,
    `"${text}" is not one of ${choices.join(', ')}${guess === undefined ? '' : ` (did you mean "${guess}"?)`}`,
  );
}

// ---------------------------------------------------------------------------------------------
// The sections
// ---------------------------------------------------------------------------------------------

function readContents(ctx: Ctx, e: Entry | undefined, part: Part): void {
  if (e === undefined) return;
  note(ctx, e.path, e.node, e.keyNode);
  const f = fields(ctx, e.node, e.path, CONTENTS, '"contents"');
  part.repositories = repositories(ctx, f.get('repositories'));
  part.buildRepositories = repositories(ctx, f.get('build_repositories'));
  part.runtimeRepositories = repositories(ctx, f.get('runtime_repositories'));
  part.keyring = stringList(ctx, f.get('keyring'));
  part.packages = stringList(ctx, f.get('packages'));
  if (f.get('recommends') !== undefined) part.recommends = boolean(ctx, f.get('recommends'));
  if (f.get('merged-usr') !== undefined) part.mergedUsr = boolean(ctx, f.get('merged-usr'));
}

/** `Area/City` as tzdata names zones: letters, digits, `_`, `-`, `+`, and `/` between parts. */
function readTimezone(ctx: Ctx, e: Entry | undefined): string | undefined {
  const text = optString(ctx, e);
  if (e === undefined || text === undefined) return undefined;
  if (!/^[A-Za-z0-9_+-]+(\/[A-Za-z0-9_+-]+)*$/.test(text) || text.includes('..')) {
    return fail(ctx, e.node, e.path, `"${text}" is not a time zone name`, 'write a tzdata name such as Etc/UTC or Europe/Paris');
  }
  return text;
}

/** `URL` or `@tag URL`, with trailing slashes removed as apko's trimRepos does. */
function repositories(ctx: Ctx, e: Entry | undefined): string[] {
  return list(ctx, e, 'strings').map(({ node, path }) => {
    const text = (scalarText(ctx, node, path) ?? '').trim();
    if (text === '') return fail(ctx, node, path, `expected a non-empty string, got ${describe(node)}`);
    const words = text.split(/\s+/);
    const tag = words[0]!;
    // A Debian source, one-line sources.list style; checked in full by pkg/deb/sources.ts.
    if (tag === 'deb') {
      if (words.length < 4) fail(ctx, node, path, `"${text}" is not a Debian source`, 'write deb [options] URL SUITE COMPONENT...');
      return text;
    }
    if (words.length > 2 || (words.length === 2 && (!tag.startsWith('@') || tag.length < 2))) {
      fail(ctx, node, path, `"${text}" is not a repository`, 'write a repository as URL, or @tag URL for a tagged repository');
    }
    return text.replace(/\/+$/, '');
  });
}

function readEntrypoint(ctx: Ctx, e: Entry | undefined, part: Part): void {
  if (e === undefined) return;
  note(ctx, e.path, e.node, e.keyNode);
  const f = fields(ctx, e.node, e.path, ENTRYPOINT, '"entrypoint"');
  const typeEntry = f.get('type');
  const typeText = optString(ctx, typeEntry);
  const type = typeText === undefined ? undefined : oneOf(ctx, typeEntry!, typeText, ['service-bundle'] as const);
  const command = optString(ctx, f.get('command'));
  const shellFragment = optString(ctx, f.get('shell-fragment'));
  const services = Object.fromEntries(stringMap(ctx, f.get('services')));
  if (type === undefined && command === undefined && shellFragment === undefined && Object.keys(services).length === 0) return;
  part.entrypoint = {
    ...(type === undefined ? {} : { type }),
    ...(command === undefined ? {} : { command }),
    ...(shellFragment === undefined ? {} : { shellFragment }),
    services,
  };
}

function readAccounts(ctx: Ctx, e: Entry | undefined, part: Part): void {
  if (e === undefined) return;
  note(ctx, e.path, e.node, e.keyNode);
  const f = fields(ctx, e.node, e.path, ACCOUNTS, '"accounts"');
  part.runAs = optString(ctx, f.get('run-as'));
  part.users = list(ctx, f.get('users'), 'users').map(({ node, path }) => readUser(ctx, node, path));
  part.groups = list(ctx, f.get('groups'), 'groups').map(({ node, path }) => readGroup(ctx, node, path));
}

function readUser(ctx: Ctx, node: YNode | undefined, path: string): ImageUser {
  const f = fields(ctx, node, path, USER, 'a user');
  const username = reqString(ctx, f.get('username'), node, path, 'username');
  const uidEntry = f.get('uid');
  const uid = uidEntry === undefined ? undefined : integer(ctx, uidEntry, 0, UINT32_MAX);
  if (uid === undefined) return fail(ctx, node, path, `user "${username}" has no uid`, 'give every user a uid other than 0');
  if (uid === 0) {
    // apko's Validate refuses this too: root already exists, and run-as: 0 is the way to run as it.
    return fail(
      ctx,
      uidEntry?.node,
      uidEntry?.path ?? path,
      `user "${username}" has uid 0`,
      'to run as root, use `run-as: 0` instead of a user entry',
    );
  }
  const gidEntry = f.get('gid');
  const gid = (gidEntry === undefined ? undefined : integer(ctx, gidEntry, 0, UINT32_MAX)) ?? uid;
  return {
    username,
    uid,
    gid,
    shell: optString(ctx, f.get('shell')) ?? '/bin/sh',
    homedir: optString(ctx, f.get('homedir')) ?? `/home/${username}`,
  };
}

function readGroup(ctx: Ctx, node: YNode | undefined, path: string): ImageGroup {
  const f = fields(ctx, node, path, GROUP, 'a group');
  const groupname = reqString(ctx, f.get('groupname'), node, path, 'groupname');
  const gidEntry = f.get('gid');
  const gid = gidEntry === undefined ? undefined : integer(ctx, gidEntry, 0, UINT32_MAX);
  // apko reads a missing gid as 0, which makes a second group 0 next to root's; that is never meant.
  if (gid === undefined) return fail(ctx, node, path, `group "${groupname}" has no gid`);
  return { groupname, gid, members: stringList(ctx, f.get('members')) };
}

function readPath(ctx: Ctx, node: YNode | undefined, path: string): PathMutation {
  const f = fields(ctx, node, path, PATH, 'a path entry');
  const target = reqString(ctx, f.get('path'), node, path, 'path');
  const typeEntry = f.get('type');
  const typeText = reqString(ctx, typeEntry, node, path, 'type');
  const type = oneOf(ctx, typeEntry!, typeText, PATH_TYPES);
  const uidEntry = f.get('uid');
  const gidEntry = f.get('gid');
  const uid = uidEntry === undefined ? undefined : integer(ctx, uidEntry, 0, UINT32_MAX);
  const gid = gidEntry === undefined ? undefined : integer(ctx, gidEntry, 0, UINT32_MAX);
  const permEntry = f.get('permissions');
  let permissions = permEntry === undefined ? undefined : integer(ctx, permEntry, 0, 0o7777);
  if (permEntry !== undefined && permissions !== undefined) checkDecimalMode(ctx, permEntry, permissions);
  if (permissions === undefined && type === 'directory') permissions = 0o755; // apko: 0000
  if (permissions === undefined && type === 'permissions') {
    return fail(
      ctx,
      node,
      path,
      'a "permissions" entry needs permissions',
      'apko would set mode 0000 here; write the mode you mean, e.g. permissions: 0o755',
    );
  }
  const source = optString(ctx, f.get('source'));
  if (source === undefined && (type === 'hardlink' || type === 'symlink')) {
    return fail(ctx, node, path, `a ${type} entry needs a source (the link target)`);
  }
  return {
    path: target,
    type,
    ...(uid === undefined ? {} : { uid }),
    ...(gid === undefined ? {} : { gid }),
    ...(permissions === undefined ? {} : { permissions }),
    ...(source === undefined ? {} : { source }),
    recursive: boolean(ctx, f.get('recursive')),
  };
}

/**
 * `permissions: 755` is decimal 755, which is 0o1363 (sticky bit, odd bits): apko takes it as
 * is. A decimal number from 512 up whose digits are all octal digits is that mistake, so it is
 * refused with the spelling that was meant. 420 (0o644) and 493 (0o755) stay valid.
 */
function checkDecimalMode(ctx: Ctx, e: Entry, value: number): void {
  const raw = isScalar(e.node) ? String(e.node.value).replaceAll('_', '') : '';
  if (/^\+?[1-7][0-7]{2,3}$/.test(raw) && value > 0o777) {
    fail(
      ctx,
      e.node,
      e.path,
      `${raw} is a decimal number (mode 0o${value.toString(8)}), not the octal mode 0o${raw.replace(/^\+/, '')}`,
      `write 0o${raw.replace(/^\+/, '')} for the octal mode, or 0o${value.toString(8)} if that is really meant`,
    );
  }
}

function readArchs(ctx: Ctx, e: Entry | undefined): ApkArch[] {
  const out: ApkArch[] = [];
  for (const { node, path } of list(ctx, e, 'architectures')) {
    const text = scalarText(ctx, node, path, 'an architecture name');
    if (text === undefined || text === '') return fail(ctx, node, path, `expected an architecture name, got ${describe(node)}`, ARCH_HINT);
    const arch = lookupArch(text);
    if (arch === undefined) {
      const guess = suggest(text, Object.keys(ARCH_ALIASES));
      const all = text === 'all' || text === 'host' ? ` (apko's "${text}" works on its command line only)` : '';
      fail(ctx, node, path, `"${text}" is not an architecture${guess === undefined ? '' : ` (did you mean "${guess}"?)`}${all}`, ARCH_HINT);
    }
    if (!out.includes(arch)) out.push(arch);
  }
  return out;
}

function readLayering(ctx: Ctx, e: Entry | undefined): ImageLayering | null | undefined {
  if (e === undefined) return undefined;
  note(ctx, e.path, e.node, e.keyNode);
  const f = fields(ctx, e.node, e.path, LAYERING, '"layering"');
  const strategyEntry = f.get('strategy');
  const strategy = optString(ctx, strategyEntry);
  const budgetEntry = f.get('budget');
  const budget = budgetEntry === undefined ? undefined : integer(ctx, budgetEntry, 0, 2 ** 31 - 1);
  // apko treats an empty layering ({} or zero values) as no layering.
  if (strategy === undefined && (budget === undefined || budget === 0)) return null;
  if (strategy === undefined) return fail(ctx, e.node, e.path, '"strategy" is required (the only strategy is "origin")');
  return { strategy: oneOf(ctx, strategyEntry!, strategy, ['origin'] as const), budget: budget ?? 0 };
}

function readOsRelease(ctx: Ctx, e: Entry | undefined): ImageOsRelease | undefined {
  if (e === undefined) return undefined;
  note(ctx, e.path, e.node, e.keyNode);
  const f = fields(ctx, e.node, e.path, OS_RELEASE, '"os-release"');
  const out: Record<string, string> = {};
  const names = {
    id: 'id',
    name: 'name',
    'pretty-name': 'prettyName',
    'version-id': 'versionId',
    'home-url': 'homeUrl',
    'bug-report-url': 'bugReportUrl',
  };
  for (const [key, field] of Object.entries(names)) {
    const value = optString(ctx, f.get(key));
    if (value !== undefined) out[field] = value;
  }
  return Object.keys(out).length === 0 ? undefined : (out as ImageOsRelease);
}

function checkEnvName(ctx: Ctx, key: string, e: Entry): void {
  if (key === '' || key.includes('=') || key.includes('\0')) {
    fail(ctx, e.keyNode, e.path, `"${key}" is not an environment variable name (it is empty or holds "=" or NUL)`);
  }
}

/** Parses one file's text into a {@link Part}, or throws a {@link ConfigError}. */
function parsePart(text: string, file: string): Part {
  const lines = new LineCounter();
  let doc: Document;
  try {
    doc = parseDocument(text, { lineCounter: lines, schema: 'failsafe', prettyErrors: false, uniqueKeys: true });
  } catch (err) {
    // The YAML library reports its own limits as errors in the document; this is a safety net.
    throw new ConfigError('INVALID_CONFIG', { file }, '', `cannot parse the YAML: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  const ctx: Ctx = { file, doc, lines, locs: new Map(), aliases: new Map(), nodes: 0 };
  const syntax = doc.errors[0];
  if (syntax !== undefined) {
    const at = locate(ctx, syntax.pos[0]);
    throw new ConfigError('INVALID_CONFIG', at, '', `invalid YAML: ${syntax.message.split('\n')[0]}`, { cause: syntax });
  }
  const root = deref(ctx, doc.contents, '');
  const f = fields(ctx, root, '', TOP, 'the configuration');
  const part: Part = {
    file,
    repositories: [],
    buildRepositories: [],
    runtimeRepositories: [],
    keyring: [],
    packages: [],
    entrypoint: undefined,
    cmd: optString(ctx, f.get('cmd')),
    stopSignal: optString(ctx, f.get('stop-signal')),
    workDir: optString(ctx, f.get('work-dir')),
    runAs: undefined,
    users: [],
    groups: [],
    archs: readArchs(ctx, f.get('archs')),
    environment: stringMap(ctx, f.get('environment'), (key, e) => checkEnvName(ctx, key, e)),
    paths: list(ctx, f.get('paths'), 'path entries').map(({ node, path }) => readPath(ctx, node, path)),
    vcsUrl: optString(ctx, f.get('vcs-url')),
    annotations: stringMap(ctx, f.get('annotations')),
    volumes: stringList(ctx, f.get('volumes')),
    layering: readLayering(ctx, f.get('layering')),
    osRelease: readOsRelease(ctx, f.get('os-release')),
    timezone: readTimezone(ctx, f.get('timezone')),
    recommends: undefined,
    mergedUsr: undefined,
    include: undefined,
    locs: ctx.locs,
  };
  readContents(ctx, f.get('contents'), part);
  readEntrypoint(ctx, f.get('entrypoint'), part);
  readAccounts(ctx, f.get('accounts'), part);
  const format = f.get('format');
  const formatText = optString(ctx, format);
  if (format !== undefined && formatText !== undefined && formatText !== 'tar') {
    if (formatText === 'erofs')
      fail(ctx, format.node, format.path, 'the "erofs" layer format is not supported yet', 'remove the key to build tar layers');
    oneOf(ctx, format, formatText, ['tar'] as const);
  }
  const include = f.get('include');
  const includePath = optString(ctx, include);
  if (include !== undefined && includePath !== undefined) part.include = { path: includePath, at: locOf(ctx, include.node) };
  ctx.locs.delete('.');
  return part;
}

// ---------------------------------------------------------------------------------------------
// Includes: the included file is the base, the including file overrides (apko's MergeInto)
// ---------------------------------------------------------------------------------------------

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
function merge(base: Part, top: Part): Part {
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

/** Chooses what the merged configuration left open: the host architecture, apko's service-bundle rewrite. */
function finish(part: Part, hostArch: string): ImageConfig {
  const archsFromHost = part.archs.length === 0;
  const packages = [...part.packages];
  let entrypoint: ImageEntrypoint = part.entrypoint ?? { services: {} };
  if (entrypoint.type === 'service-bundle') {
    // apko's ValidateServiceBundle: s6 supervises the services from /sv, so it must be installed.
    entrypoint = { ...entrypoint, command: '/bin/s6-svscan /sv' };
    if (!packages.includes('s6')) packages.push('s6');
  }
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

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * Parses one configuration's text, without following `include` (a config that has one is an
 * error: use {@link loadConfig}). `file` names the text in error messages. Throws a
 * {@link ConfigError} (`INVALID_CONFIG`) for any mistake, and `USAGE` when the config names no
 * architecture and `hostArch` is not one.
 */
export function parseConfig(text: string, file: string, options: ParseConfigOptions): LoadedConfig {
  const part = parsePart(text, file);
  if (part.include !== undefined) {
    throw new ConfigError('INVALID_CONFIG', part.include.at, 'include', 'includes are followed only when loading from a file', {
      hint: 'use loadConfig, which reads the included file',
    });
  }
  return {
    config: finish(part, options.hostArch),
    files: [{ path: file, sha256: sha256Hex(text), content: text }],
    raw: text,
    locations: part.locs,
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

async function readTextFile(path: string): Promise<string> {
  const bytes = await readFileBytes(path);
  try {
    // ignoreBOM keeps a byte-order mark in the text, so the text's UTF-8 is the file's bytes.
    return utf8.decode(bytes);
  } catch (err) {
    throw new ConfigError('INVALID_CONFIG', { file: path }, '', 'the file is not UTF-8 text', { cause: err });
  }
}

function readFailure(err: unknown, path: string, from: ConfigLocation | undefined): ProvenantError {
  if (isProvenantError(err)) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const at = from ?? { file: path };
  const keyPath = from === undefined ? '' : 'include';
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new ConfigError(
      'NOT_FOUND',
      at,
      keyPath,
      `${from === undefined ? 'the config file' : 'the included file'} ${path} does not exist`,
      {
        cause: err,
        hint:
          from === undefined
            ? undefined
            : "an include is relative to the folder of the file that names it (apko's is relative to the working directory)",
      },
    );
  }
  return new ConfigError(
    'IO',
    at,
    keyPath,
    `cannot read ${path}: ${typeof code === 'string' ? code : err instanceof Error ? err.message : String(err)}`,
    {
      cause: err,
    },
  );
}

/**
 * Reads a configuration file and the files it includes, merges them as apko does (the included
 * file is the base, the including file overrides), and normalizes the result. An `include` is
 * relative to the folder of the file that names it. Throws a {@link ConfigError}: `INVALID_CONFIG`
 * for a mistake (including an include cycle), `NOT_FOUND` or `IO` for a file that cannot be read.
 */
export async function loadConfig(path: string, options: LoadConfigOptions): Promise<LoadedConfig> {
  const read = options.readFile ?? readTextFile;
  const files: ConfigFile[] = [];
  const chain: { abs: string; path: string }[] = [];
  let rootRaw = '';

  const load = async (file: string, from: ConfigLocation | undefined): Promise<Part> => {
    const abs = resolve(file);
    const seen = chain.findIndex((c) => c.abs === abs);
    if (from !== undefined && seen >= 0) {
      const cycle = [...chain.slice(seen).map((c) => c.path), file].join(' → ');
      throw new ConfigError('INVALID_CONFIG', from, 'include', `the includes form a cycle: ${cycle}`);
    }
    if (from !== undefined && chain.length >= MAX_INCLUDE_DEPTH) {
      throw new ConfigError('INVALID_CONFIG', from, 'include', `includes nest more than ${MAX_INCLUDE_DEPTH} deep`);
    }
    let text: string;
    try {
      text = await read(file);
    } catch (err) {
      throw readFailure(err, file, from);
    }
    if (from === undefined) rootRaw = text;
    files.push({ path: file, sha256: sha256Hex(text), content: text });
    const part = parsePart(text, file);
    if (part.include === undefined) return part;
    chain.push({ abs, path: file });
    const target = isAbsolute(part.include.path) ? part.include.path : join(dirname(file), part.include.path);
    const base = await load(target, part.include.at);
    chain.pop();
    return merge(base, part);
  };

  const merged = await load(path, undefined);
  return { config: finish(merged, options.hostArch), files, raw: rootRaw, locations: merged.locs };
}

// ---------------------------------------------------------------------------------------------
// Suggestions
// ---------------------------------------------------------------------------------------------

/** Edit distance where swapping two neighbours counts as one edit (optimal string alignment). */
function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return Math.abs(a.length - b.length);
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 0; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The known word closest to `word`, if one is close enough to be a typo (`-`, `_` and case ignored). */
function suggest(word: string, known: readonly string[]): string | undefined {
  const fold = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  let best: string | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const [w, c] = [fold(word), fold(candidate)];
    // A key cut short (home for homedir) is as close as a typo.
    const prefix = Math.min(w.length, c.length) >= 4 && (w.startsWith(c) || c.startsWith(w));
    const score = w === c ? 0 : prefix ? 1 : distance(word.toLowerCase(), candidate.toLowerCase());
    if (score < bestScore) {
      best = candidate;
      bestScore = score;
    }
  }
  return best !== undefined && bestScore <= Math.max(1, Math.floor(Math.min(word.length, best.length) / 3)) ? best : undefined;
}
