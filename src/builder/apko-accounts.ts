/**
 * What apko v1.2.39 does to an image after its packages, for apko compatibility: accounts
 * (pkg/build/accounts.go:mutateAccounts, pkg/passwd) and `paths` (pkg/build/paths.go).
 *
 * apko rewrites /etc/passwd on every build (creating it empty when no package brings it), and
 * /etc/group and /etc/shadow only when the configuration has groups or users; every line is
 * read and written back in apko's form, so a line apko cannot read fails the build, as in apko.
 * Each account's home folder is made (0700, owned by the account) when it is missing.
 */
import { ProvenantError } from '../errors.ts';
import type { ApkoFs } from '../pkg/apk/apko-fs.ts';
import { ACCOUNTS_FILE_MAX } from '../vfs/body.ts';
import { ConfigError } from '../yaml.ts';
import { apkoPathPermissions } from './apko-config.ts';
import { pathEntryRefusal } from './assemble.ts';
import type { ImageAccounts, LoadedConfig, PathMutation } from './config-types.ts';

const encode = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Go's strconv.Atoi: an optional sign and decimal digits, within 64 bits. */
function atoi(s: string): number | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const v = BigInt(s);
  return v > 0x7fffffffffffffffn || v < -0x8000000000000000n ? undefined : Number(v);
}

/** Go's uint32(n) of an int. */
const uint32 = (n: number): number => Number(BigInt.asUintN(32, BigInt(n)));

/** bufio.Scanner's lines: split at `\n`, a trailing `\r` dropped, no empty last line. */
function scanLines(bytes: Uint8Array | undefined): string[] {
  if (bytes === undefined || bytes.length === 0) return [];
  const text = new TextDecoder().decode(bytes);
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => l.replace(/\r$/, ''));
}

/** One line of passwd (7 fields) or group (4): its parts, with the id read, or why it is not one. */
function parseLine(line: string, fields: number): { parts: string[]; id: number; gid: number } | string {
  const parts = line.trim().split(':');
  if (parts.length !== fields) return `has ${parts.length} fields, not ${fields}`;
  const id = atoi(parts[2] as string);
  if (id === undefined) return `has the id ${JSON.stringify(parts[2])}, which is not a number`;
  if (fields === 7) {
    const gid = atoi(parts[3] as string);
    if (gid === undefined) return `has the group id ${JSON.stringify(parts[3])}, which is not a number`;
    return { parts, id: uint32(id), gid: uint32(gid) };
  }
  return { parts, id: uint32(id), gid: 0 };
}

/**
 * The names of ids in a passwd (7 fields) or group (4 fields) file, as apko's walkFS reads them
 * for the layer's user and group names: lines up to the first it cannot read, a later line for
 * the same id winning.
 */
export function readGoUsers(bytes: Uint8Array | undefined, fields: 4 | 7): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of scanLines(bytes)) {
    const parsed = parseLine(line, fields);
    if (typeof parsed === 'string') break;
    out.set(parsed.id, parsed.parts[0] as string);
  }
  return out;
}

/** Reads a passwd, group or shadow file apko will rewrite (creating it empty), failing where apko does. */
function readOrCreate(fs: ApkoFs, path: string, perm: number, fields: number): string[][] {
  if (fs.stat(path) === undefined) fs.writeFile(path, new Uint8Array(), perm);
  return scanLines(fs.readFileUpTo(path, ACCOUNTS_FILE_MAX)).map((line, i) => {
    const parsed = fields === 9 ? line.trim().split(':') : parseLine(line, fields);
    const why = Array.isArray(parsed)
      ? parsed.length === 9
        ? undefined
        : `has ${parsed.length} fields, not 9`
      : typeof parsed === 'string'
        ? parsed
        : undefined;
    if (why !== undefined) {
      throw new ProvenantError('INVALID_PACKAGE', `/${path} line ${i + 1} ${why}; apko cannot read it and fails the build too`, {
        where: `/${path}:${i + 1}`,
      });
    }
    if (Array.isArray(parsed)) return parsed;
    const p = parsed as { parts: string[]; id: number; gid: number };
    return fields === 7
      ? [p.parts[0], p.parts[1], String(p.id), String(p.gid), ...p.parts.slice(4)]
      : [p.parts[0], p.parts[1], String(p.id), p.parts[3]];
  }) as string[][];
}

/**
 * mutateAccounts: the configured groups appended to /etc/group (only when there are some), the
 * configured users to /etc/passwd (always rewritten) and locked in /etc/shadow, home folders made.
 *
 * @returns `run-as` as apko resolves it: the uid of the user it names, when /etc/passwd has one
 */
export function apkoAccounts(fs: ApkoFs, accounts: ImageAccounts): string | undefined {
  if (accounts.groups.length > 0) {
    const entries = readOrCreate(fs, 'etc/group', 0o644, 4);
    for (const g of accounts.groups) entries.push([g.groupname, 'x', String(g.gid), g.members.join(',')]);
    fs.writeFile('etc/group', encode(entries.map((e) => `${e.join(':')}\n`).join('')), 0o644);
  }
  const users = readOrCreate(fs, 'etc/passwd', 0o644, 7);
  for (const u of accounts.users)
    users.push([u.username, 'x', String(u.uid), String(u.gid), 'Account created by apko', u.homedir, u.shell]);
  for (const [name, , uid, gid, , home] of users as [string, string, string, string, string, string, string][]) {
    if (home === '/dev/null') continue;
    const existing = fs.stat(home);
    if (existing !== undefined) {
      if (existing.type !== 'dir') fs.fail(home.replace(/^\/+/, ''), `is ${name}'s home folder, and not a folder`);
      continue;
    }
    const parent = home.includes('/') ? home.slice(0, home.lastIndexOf('/')) : '.';
    fs.mkdirAll(parent, 0o755);
    fs.mkdir(home, 0o700);
    fs.update(home, { uid: Number(uid), gid: Number(gid) });
  }
  fs.writeFile('etc/passwd', encode(users.map((e) => `${e.join(':')}\n`).join('')), 0o644);
  if (accounts.users.length > 0) {
    // apko's shadow reader drops the last-change field; each user is added locked.
    const shadow = readOrCreate(fs, 'etc/shadow', 0o640, 9).map((p) => [p[0], p[1], '', ...p.slice(3)]);
    for (const u of accounts.users) shadow.push([u.username, '!', '', '', '', '', '', '', '']);
    fs.writeFile('etc/shadow', encode(shadow.map((e) => `${e.join(':')}\n`).join('')), 0o640);
  }
  const runAs = accounts.runAs;
  if (runAs === undefined || runAs === '') return runAs;
  const user = users.find((u) => u[0] === runAs);
  return user === undefined ? runAs : user[2];
}

/** Every path under `root` (itself first), folders before their contents, names in order, symlinks not followed. */
function walk(fs: ApkoFs, root: string): string[] {
  const out = [root];
  const node = fs.stat(root);
  if (node?.type !== 'dir') return out;
  for (const name of fs.readDir(root)) {
    const child = `${root.replace(/\/+$/, '')}/${name}`;
    if (fs.lstat(child)?.type === 'dir') out.push(...walk(fs, child));
    else out.push(child);
  }
  return out;
}

/**
 * mutatePaths: each `paths` entry in order, then (but for `permissions`, which is only that) its
 * mode set (0 where the file gave none, as apko does) and its owner where uid or gid is given,
 * through symlinks, on everything beneath it when `recursive`.
 *
 * @throws ConfigError `INVALID_CONFIG` where apko fails (a symlink over an existing path, a
 *   missing path to change), at the entry's place; what else the tree refuses with its code
 *   (./assemble.ts pathEntryRefusal)
 */
export function apkoPaths(fs: ApkoFs, loaded: LoadedConfig): void {
  for (const [i, m] of loaded.config.paths.entries()) {
    try {
      apkoPath(fs, loaded, m, i);
    } catch (err) {
      // Where apko fails, the entry's line is named (apko names the path alone).
      const at = loaded.locations.get(`paths[${i}]`);
      if (!(err instanceof ProvenantError) || err instanceof ConfigError || at === undefined) throw err;
      const { code, hint } = pathEntryRefusal(err);
      throw new ConfigError(code, at, `paths[${i}]`, err.message, { cause: err, ...(hint === undefined ? {} : { hint }) });
    }
  }
}

function apkoPath(fs: ApkoFs, loaded: LoadedConfig, m: PathMutation, i: number): void {
  const perms = apkoPathPermissions(loaded, i) & 0o7777;
  const parent = m.path.includes('/') ? m.path.slice(0, m.path.lastIndexOf('/')) || '/' : '.';
  switch (m.type) {
    case 'directory':
      fs.mkdirAll(m.path, perms);
      break;
    case 'empty-file':
      fs.mkdirAll(parent, 0o755);
      fs.writeFile(m.path, new Uint8Array(), 0o644);
      break;
    case 'hardlink':
      fs.mkdirAll(parent, 0o755);
      if (fs.lstat(m.path) !== undefined) fs.remove(m.path);
      fs.link(m.source ?? '', m.path);
      break;
    case 'symlink':
      fs.mkdirAll(parent, 0o755);
      if (fs.lstat(m.path) !== undefined) fs.fail(m.path.replace(/^\/+/, ''), 'already exists, where paths asks for a symlink');
      fs.symlink(m.source ?? '', m.path);
      // apko then sets the entry's mode on the path, through the link (mutatePermissions after
      // mutateSymLink), and fails on a target the image lacks: said of the target, not the link.
      if (fs.resolve(m.path) === undefined) {
        const key = loaded.locations.has(`paths[${i}].source`) ? `paths[${i}].source` : `paths[${i}]`;
        const at = loaded.locations.get(key);
        const problem = `${m.path} links to ${m.source ?? ''}, which is not in the image: apko sets the entry's mode on the link's target, so it fails here too`;
        const hint =
          'make the target first (a package that gives it, or a paths entry before this one), or link to a path the image has; a build without --compat apko writes the link as it is';
        if (at === undefined) throw new ProvenantError('INVALID_CONFIG', `${key}: ${problem}`, { hint });
        throw new ConfigError('INVALID_CONFIG', at, key, problem, { hint });
      }
      break;
    case 'permissions':
      break;
  }
  for (const p of m.recursive ? walk(fs, m.path) : [m.path]) {
    fs.update(p, { mode: perms });
    if (m.uid !== undefined || m.gid !== undefined) fs.update(p, { uid: m.uid ?? 0, gid: m.gid ?? 0 });
  }
}
