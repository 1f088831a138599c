/**
 * Reading one configuration file against apko's schema: which keys each mapping takes, what
 * each value must be, and what apko quietly does that this loader refuses or corrects (a
 * directory with mode 0000, `permissions: 0999` read as the float 999); docs/config.md lists
 * every such difference. Includes are followed and merged by ./config.ts and ./config-merge.ts.
 */
import { isMap, isScalar, isSeq } from 'yaml';
import { whiteoutPart } from '../archive/paths.ts';
import type { DebConstraintOp } from '../pkg/deb/version.ts';
import { APK_OP_OF_DEB, debOpOfWritten } from '../pkg/relation-ops.ts';
import { isDebianLine } from '../pkg/sources.ts';
import {
  boolean,
  ConfigError,
  type ConfigLocation,
  describe,
  type Entry,
  entries,
  fail,
  fields,
  integer,
  isNull,
  list,
  locOf,
  type MapSpec,
  note,
  oneOf,
  optString,
  readYaml,
  reqString,
  scalarText,
  stringList,
  stringMap,
  suggest,
  type YamlContext,
  type YNode,
} from '../yaml.ts';
import { ARCH_HINT, ARCH_NAMES, lookupArch } from './arch.ts';
import type {
  ApkArch,
  ImageEntrypoint,
  ImageGroup,
  ImageLayering,
  ImageOsRelease,
  ImageUser,
  PathMutation,
  PathMutationType,
} from './config-types.ts';

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

/** One file's configuration before includes are merged and defaults chosen. */
export interface Part {
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
  /**
   * `span`: where the value is written in the text (start and end offsets), when it is written
   * there and nowhere else (not through an alias, an anchor or a merge key), so that it can be
   * rewritten alone (./config.ts, portableConfigFiles).
   */
  include: { path: string; at: ConfigLocation; span?: readonly [number, number] | undefined } | undefined;
  locs: Map<string, ConfigLocation>;
}

/** The offsets of an entry's value in the text, when the top mapping holds it as a scalar of its own. */
function writtenSpan(root: YNode | undefined, e: Entry): [number, number] | undefined {
  if (!isMap(root)) return undefined;
  const own = root.items.some((pair) => pair.value === e.node && isScalar(pair.key) && pair.key.value === e.key);
  const node = e.node;
  if (!own || node === undefined || !isScalar(node) || node.anchor !== undefined) return undefined;
  const range = node.range;
  return range === undefined || range === null ? undefined : [range[0], range[1]];
}

// ---------------------------------------------------------------------------------------------
// The sections
// ---------------------------------------------------------------------------------------------

function readContents(ctx: YamlContext, e: Entry | undefined, part: Part): void {
  if (e === undefined) return;
  note(ctx, e.path, e.node, e.keyNode);
  const f = fields(ctx, e.node, e.path, CONTENTS, '"contents"');
  part.repositories = repositories(ctx, f.get('repositories'));
  part.buildRepositories = repositories(ctx, f.get('build_repositories'));
  part.runtimeRepositories = repositories(ctx, f.get('runtime_repositories'));
  part.keyring = stringList(ctx, f.get('keyring'));
  const packagesEntry = f.get('packages');
  part.packages = stringList(ctx, packagesEntry);
  for (const [i, item] of list(ctx, packagesEntry, 'strings').entries()) {
    const problem = packageItemProblem(part.packages[i] ?? '', part.repositories);
    if (problem !== undefined) fail(ctx, item.node, item.path, problem.message, problem.hint);
  }
  if (f.get('recommends') !== undefined) part.recommends = boolean(ctx, f.get('recommends'));
  if (f.get('merged-usr') !== undefined) part.mergedUsr = boolean(ctx, f.get('merged-usr'));
}

/**
 * What is wrong with a `contents.packages` item, for the `repositories` known (the file's own, or
 * once includes are merged, all of them: {@link checkPackageItems}); undefined when nothing is.
 *
 * One package per item: `"busybox hello"` is no atom apk or apt reads. A Debian relation,
 * `"libc6 (>= 2.36)"`, may hold spaces inside its parentheses (and a build relation's `[...]` or
 * `<...>`, which pkg/deb/source.ts refuses with a word of its own) unless the repositories are
 * apk's; elsewhere a space splits words.
 */
function packageItemProblem(text: string, repositories: readonly string[]): { message: string; hint: string } | undefined {
  if (!/\s/.test(text)) return undefined;
  const debianSources = repositories.some(isDebianLine);
  const apkOnly = repositories.length > 0 && !debianSources;
  const relation = DEB_RELATION.exec(text);
  if (relation !== null && !apkOnly) return undefined;
  if (relation?.[3] !== undefined) {
    const [, name, op, version] = relation;
    return {
      message: `${JSON.stringify(text)} is a Debian relation, and these repositories are apk's`,
      hint: `write it as apk does, without spaces: ${name}${APK_OP_OF_DEB[(op ?? '=') as DebConstraintOp]}${version}`,
    };
  }
  if (/[,|]/.test(text)) {
    // Each entry's first alternative, as apt would try it first.
    const entries = text
      .split(',')
      .map((e) => (e.split('|')[0] ?? '').trim())
      .filter((w) => w !== '');
    return {
      message: `${JSON.stringify(text)} holds several packages ("," or "|"); an item is one package, and an image installs every item (there are no alternatives to choose from)`,
      hint: `write each package as its own list item, choosing one of any alternatives: packages: [${entries.map(flowItem).join(', ')}]`,
    };
  }
  const message = `${JSON.stringify(text)} holds whitespace; a package is one word, as name, name=VERSION or name@tag${debianSources ? ', or a Debian relation such as "name (>= VERSION)"' : ''}`;
  // `busybox >= 1.36`: a version relation with spaces around its operator, not three packages.
  const spaced = /^(\S+?)\s*(<<|<=|>=|>>|=|<|>|~)\s*(\S+)$/.exec(text);
  if (spaced !== null) {
    const [, name, op, version] = spaced as unknown as [string, string, string, string];
    const apk = `${name}${op === '<<' || op === '>>' ? APK_OP_OF_DEB[op] : op}${version}`;
    // Every operator the pattern takes has a Debian spelling but `~`, for which this is undefined.
    const debOp = debOpOfWritten(op);
    const deb = debOp === undefined ? undefined : `"${name} (${debOp} ${version})"`;
    const hint = debianSources
      ? deb === undefined
        ? `write ${name}=VERSION for one version`
        : `write ${deb}, as Debian writes a relation, or ${name}=VERSION`
      : apkOnly || deb === undefined
        ? `write ${apk}, as apk writes a relation: without spaces`
        : `write ${apk} for apk repositories, ${deb} for Debian sources`;
    return { message, hint };
  }
  const words = text.split(/\s+/).filter((w) => w !== '');
  return {
    message,
    hint: words.length > 1 ? `write each package as its own list item: packages: [${words.map(flowItem).join(', ')}]` : 'remove the spaces',
  };
}

/**
 * Checks the `contents.packages` items of a configuration whose includes are merged, against all
 * its repositories: a Debian relation (`"busybox (>= 1.36)"`) in a file whose apk repositories an
 * included (or including) file lists passes that file's own check, and would fail only once the
 * indexes are fetched.
 *
 * @throws ConfigError `INVALID_CONFIG` at the item (in the file that wrote it)
 */
export function checkPackageItems(part: Part, file: string): void {
  for (const [i, text] of part.packages.entries()) {
    const problem = packageItemProblem(text, part.repositories);
    if (problem === undefined) continue;
    const path = `contents.packages[${i}]`;
    throw new ConfigError('INVALID_CONFIG', part.locs.get(path) ?? { file }, path, problem.message, { hint: problem.hint });
  }
}

/**
 * A Debian relation as `contents.packages` takes one (apt's `"name[:arch] (op version)"`, with a
 * build relation's restrictions after it, which pkg/deb/source.ts refuses with its own word): the
 * name, the relation and the version, or the name alone for a restriction without a version.
 */
const DEB_RELATION = /^([^\s()[\]<>|,]+?)\s*(?:\(\s*(<<|<=|>=|>>|=|<|>)?\s*([^\s()]+)\s*\))?(?:\s*(?:\[[^\]]*\]|<[^>]*>))*$/;

/** A package as a YAML flow sequence takes it: quoted when it holds spaces or flow indicators. */
function flowItem(text: string): string {
  return /^[A-Za-z0-9][^\s,[\]{}#"'`]*$/.test(text) && !text.includes(': ') ? text : JSON.stringify(text);
}

/** `Area/City` as tzdata names zones: letters, digits, `_`, `-`, `+`, and `/` between parts. */
function readTimezone(ctx: YamlContext, e: Entry | undefined): string | undefined {
  const text = optString(ctx, e);
  if (e === undefined || text === undefined) return undefined;
  if (!/^[A-Za-z0-9_+-]+(\/[A-Za-z0-9_+-]+)*$/.test(text) || text.includes('..')) {
    return fail(ctx, e.node, e.path, `"${text}" is not a time zone name`, 'write a tzdata name such as Etc/UTC or Europe/Paris');
  }
  return text;
}

/** `URL` or `@tag URL`, with trailing slashes removed as apko's trimRepos does. */
function repositories(ctx: YamlContext, e: Entry | undefined): string[] {
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

const SERVICES_HINT = 'build this image with apko, or run one process with entrypoint.command';

function readEntrypoint(ctx: YamlContext, e: Entry | undefined, part: Part): void {
  if (e === undefined) return;
  note(ctx, e.path, e.node, e.keyNode);
  // Docker's split, which apko keeps: `entrypoint.command` is the program, the top-level `cmd` its
  // default arguments. `entrypoint.cmd` may mean either.
  const cmd = entries(ctx, e.node, e.path, '"entrypoint"').find((k) => k.key === 'cmd' || k.key === 'args');
  if (cmd !== undefined) {
    fail(
      ctx,
      cmd.keyNode,
      cmd.path,
      `unknown key "${cmd.key}" (did you mean "entrypoint.command", or the top-level "cmd"?)`,
      "entrypoint.command is the image's Entrypoint, the program run; the top-level cmd is its Cmd, the arguments it gets unless the run names others",
    );
  }
  const f = fields(ctx, e.node, e.path, ENTRYPOINT, '"entrypoint"');
  const typeEntry = f.get('type');
  const typeText = optString(ctx, typeEntry);
  const type = typeText === undefined ? undefined : oneOf(ctx, typeEntry!, typeText, ['service-bundle'] as const);
  // apko writes /sv/NAME/run for every service (its s6 supervision tree), with or without this
  // type, and a service-bundle image runs s6-svscan on /sv. Provenant does not write that tree
  // yet, so either would build an image whose services are missing: both are refused here,
  // before anything is fetched.
  if (type !== undefined) {
    fail(
      ctx,
      typeEntry!.node,
      typeEntry!.path,
      'service-bundle is not supported yet: Provenant does not write the s6 supervision tree (/sv) apko writes',
      SERVICES_HINT,
    );
  }
  const command = optString(ctx, f.get('command'));
  const shellFragment = optString(ctx, f.get('shell-fragment'));
  const servicesEntry = f.get('services');
  if (stringMap(ctx, servicesEntry).size > 0) {
    fail(
      ctx,
      servicesEntry!.keyNode,
      servicesEntry!.path,
      'services are not supported yet: apko writes /sv/NAME/run for each service, and Provenant does not write that tree',
      SERVICES_HINT,
    );
  }
  // Past the two refusals, no type and no services.
  if (command === undefined && shellFragment === undefined) return;
  part.entrypoint = {
    ...(command === undefined ? {} : { command }),
    ...(shellFragment === undefined ? {} : { shellFragment }),
    services: {},
  };
}

function readAccounts(ctx: YamlContext, e: Entry | undefined, part: Part): void {
  if (e === undefined) return;
  note(ctx, e.path, e.node, e.keyNode);
  const f = fields(ctx, e.node, e.path, ACCOUNTS, '"accounts"');
  part.runAs = optString(ctx, f.get('run-as'));
  part.users = list(ctx, f.get('users'), 'users').map(({ node, path }) => readUser(ctx, node, path));
  part.groups = list(ctx, f.get('groups'), 'groups').map(({ node, path }) => readGroup(ctx, node, path));
}

function readUser(ctx: YamlContext, node: YNode | undefined, path: string): ImageUser {
  const f = fields(ctx, node, path, USER, 'a user');
  const username = reqString(ctx, f.get('username'), node, path, 'username');
  passwdField(ctx, f.get('username'), username, 'user name');
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
  const shell = optString(ctx, f.get('shell'));
  const homedir = optString(ctx, f.get('homedir'));
  passwdField(ctx, f.get('shell'), shell, 'shell');
  passwdField(ctx, f.get('homedir'), homedir, 'home folder');
  return { username, uid, gid, shell: shell ?? '/bin/sh', homedir: homedir ?? `/home/${username}` };
}

/** What ends a field or a line of /etc/passwd and /etc/group (and NUL, which ends a C string there). */
const PASSWD_STOPS = /[:\n\r\0]/;
/** The same in a group's member list, whose names `,` separates. */
const MEMBER_STOPS = /[:,\n\r\0]/;

/**
 * Refuses a value written into /etc/passwd or /etc/group that holds a character that would end
 * its field or its line there: `username: "x:x:0:0::/:/bin/sh\ny"` would add a line of its own,
 * a second root.
 */
function passwdField(
  ctx: YamlContext,
  at: { node: YNode | undefined; path: string } | undefined,
  value: string | undefined,
  what: string,
  stops = PASSWD_STOPS,
): void {
  const bad = value === undefined ? null : stops.exec(value);
  if (at === undefined || bad === null) return;
  fail(
    ctx,
    at.node,
    at.path,
    `the ${what} ${JSON.stringify(value)} holds ${JSON.stringify(bad[0])}, which would end its field or its line of /etc/passwd or /etc/group`,
    'write it without ":", line breaks or NUL (and a member name without ",")',
  );
}

function readGroup(ctx: YamlContext, node: YNode | undefined, path: string): ImageGroup {
  const f = fields(ctx, node, path, GROUP, 'a group');
  const groupname = reqString(ctx, f.get('groupname'), node, path, 'groupname');
  passwdField(ctx, f.get('groupname'), groupname, 'group name');
  const gidEntry = f.get('gid');
  const gid = gidEntry === undefined ? undefined : integer(ctx, gidEntry, 0, UINT32_MAX);
  // apko reads a missing gid as 0, which makes a second group 0 next to root's; that is never meant.
  if (gid === undefined) return fail(ctx, node, path, `group "${groupname}" has no gid`);
  const membersEntry = f.get('members');
  const members = stringList(ctx, membersEntry);
  for (const [i, item] of list(ctx, membersEntry, 'strings').entries()) passwdField(ctx, item, members[i], 'member name', MEMBER_STOPS);
  return { groupname, gid, members };
}

function readPath(ctx: YamlContext, node: YNode | undefined, path: string): PathMutation {
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
  const permissions = permEntry === undefined ? undefined : integer(ctx, permEntry, 0, 0o7777);
  if (permEntry !== undefined && permissions !== undefined) checkDecimalMode(ctx, permEntry, permissions);
  // A directory without permissions is left so: the build gives the folder alone 0755 (apko:
  // 0000), and a recursive entry must not give that mode to every file beneath it.
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
  // The image's paths, as the layer names them: a `..` part would be kept as the entry's last
  // part (`etc/..` a file named `..`), which an extractor may take for the folder above. `.`
  // parts are left out, as apko cleans them. A symlink's source is its target, which may go up.
  for (const [what, value] of [['path', target], ...(type === 'hardlink' ? [['source', source]] : [])] as [string, string | undefined][]) {
    if (value?.includes('\0') === true) {
      // No tar entry, and no file system, can name it.
      return fail(ctx, node, path, `the ${what} ${JSON.stringify(value)} holds a NUL character`);
    }
    if (value?.split('/').some((part) => part === '..')) {
      return fail(
        ctx,
        node,
        path,
        `the ${what} ${JSON.stringify(value)} has a ".." part`,
        'write the path from the image root, as /etc/app',
      );
    }
  }
  // A layer takes `.wh.NAME` for the deletion of NAME from the layers below (whiteoutPart): such
  // an entry would delete package files from the running image.
  const whiteout = whiteoutPart(target);
  if (whiteout !== undefined) {
    return fail(
      ctx,
      node,
      path,
      `the path ${JSON.stringify(target)} has the part ${JSON.stringify(whiteout)}, an OCI whiteout name`,
      'an image layer cannot hold a name starting with ".wh.": it would delete files of the layers below',
    );
  }
  // `/app/` is `/app`, as apko's Go path functions clean it: kept as written, the entry would be
  // named `app/` next to the folder `app`. The root itself is no path to change: each type would
  // make nothing (a folder that exists, a file or link over the root) or change the root.
  const cleaned = cleanPath(target);
  if (cleaned === '/' || cleaned === '') {
    return fail(
      ctx,
      node,
      path,
      `the path ${JSON.stringify(target)} is the image root, which a paths entry cannot make or change`,
      'name a path under the root, as /app',
    );
  }
  return {
    path: cleaned,
    type,
    ...(uid === undefined ? {} : { uid }),
    ...(gid === undefined ? {} : { gid }),
    ...(permissions === undefined ? {} : { permissions }),
    ...(source === undefined ? {} : { source: type === 'hardlink' ? cleanPath(source) : source }),
    recursive: boolean(ctx, f.get('recursive')),
  };
}

/**
 * A path without its `.` parts and empty ones (`/usr/./lib/.` and `/usr//lib/` → `/usr/lib`),
 * keeping a leading `/`: `/` for the root, and '' for `.` (the root too, written relative).
 */
function cleanPath(path: string): string {
  const parts = path.split('/');
  if (!parts.some((p, i) => p === '.' || (p === '' && i > 0))) return path;
  return parts.filter((p, i) => p !== '.' && (p !== '' || i === 0)).join('/') || (path.startsWith('/') ? '/' : '');
}

/**
 * `permissions: 755` is decimal 755, which is 0o1363 (sticky bit, odd bits): apko takes it as
 * is. A decimal number from 512 up whose digits are all octal digits is that mistake, so it is
 * refused with the spelling that was meant. 420 (0o644) and 493 (0o755) stay valid.
 */
function checkDecimalMode(ctx: YamlContext, e: Entry, value: number): void {
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

function readArchs(ctx: YamlContext, e: Entry | undefined): ApkArch[] {
  const out: ApkArch[] = [];
  for (const { node, path } of list(ctx, e, 'architectures')) {
    const text = scalarText(ctx, node, path, 'an architecture name');
    if (text === undefined || text === '') return fail(ctx, node, path, `expected an architecture name, got ${describe(node)}`, ARCH_HINT);
    const arch = lookupArch(text);
    if (arch === undefined) {
      const guess = suggest(text, ARCH_NAMES);
      const all = text === 'all' || text === 'host' ? ` (apko's "${text}" works on its command line only)` : '';
      fail(ctx, node, path, `"${text}" is not an architecture${guess === undefined ? '' : ` (did you mean "${guess}"?)`}${all}`, ARCH_HINT);
    }
    if (!out.includes(arch)) out.push(arch);
  }
  return out;
}

function readLayering(ctx: YamlContext, e: Entry | undefined): ImageLayering | null | undefined {
  if (e === undefined) return undefined;
  note(ctx, e.path, e.node, e.keyNode);
  const f = fields(ctx, e.node, e.path, LAYERING, '"layering"');
  const strategyEntry = f.get('strategy');
  const strategy = optString(ctx, strategyEntry);
  const budgetEntry = f.get('budget');
  const budget = budgetEntry === undefined ? undefined : integer(ctx, budgetEntry, 0, 2 ** 31 - 1);
  // apko treats an empty layering ({} or zero values) as no layering.
  if (strategy === undefined && (budget === undefined || budget === 0)) return null;
  if (strategy === undefined) return fail(ctx, e.node, e.path, '"strategy" is required ("origin" or "per-package")');
  return { strategy: oneOf(ctx, strategyEntry!, strategy, ['origin', 'per-package'] as const), budget: budget ?? 0 };
}

function readOsRelease(ctx: YamlContext, e: Entry | undefined): ImageOsRelease | undefined {
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
    const entry = f.get(key);
    const value = optString(ctx, entry);
    // os-release(5) is a line per field, of printable text: a line break would start a field of its own.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it looks for
    if (value !== undefined && /[\u0000-\u001f\u007f]/.test(value)) {
      fail(
        ctx,
        entry?.node,
        entry?.path ?? `os-release.${key}`,
        'holds a control character (a line break, a tab)',
        'write it on one line, as printable text',
      );
    }
    if (value !== undefined) out[field] = value;
  }
  return Object.keys(out).length === 0 ? undefined : (out as ImageOsRelease);
}

function checkEnvName(ctx: YamlContext, key: string, e: Entry): void {
  if (key === '' || key.includes('=') || key.includes('\0')) {
    fail(ctx, e.keyNode, e.path, `"${key}" is not an environment variable name (it is empty or holds "=" or NUL)`);
  }
}

/** Parses one file's text into a {@link Part}, or throws a {@link ConfigError}. */
export function parsePart(text: string, file: string): Part {
  const { ctx, root } = readYaml(text, file);
  // apko refuses a file with no YAML document (its decoder's EOF): an empty file, or one of
  // comments only, is almost surely the wrong file or one not yet written, not an image of
  // nothing. A mapping with no packages (`contents: {packages: []}`) is taken, as apko takes it.
  if (isNull(root)) {
    throw ctx.error('INVALID_CONFIG', { file }, '', 'the file holds no configuration: it is empty, or comments only', {
      hint: 'check that this is the configuration file you meant; a configuration names at least contents.packages',
    });
  }
  if (!isMap(root)) {
    // The shape only: a file included by mistake (credentials, a .env) must not be quoted.
    fail(
      ctx,
      root,
      '',
      `expected a configuration (a mapping of keys such as contents and entrypoint), got ${isSeq(root) ? 'a list' : 'a single value'}`,
      'check that this is the configuration file you meant',
    );
  }
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
  if (include !== undefined && includePath !== undefined) {
    part.include = { path: includePath, at: locOf(ctx, include.node), span: writtenSpan(root, include) };
  }
  ctx.locs.delete('.');
  return part;
}
