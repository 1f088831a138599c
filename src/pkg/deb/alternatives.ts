/**
 * The alternatives that Debian packages register with update-alternatives(1) from their postinst,
 * made without running it: the links `<link> -> /etc/alternatives/<name> -> <path>` (and each
 * slave's) and the administrative file /var/lib/dpkg/alternatives/<name>, as dpkg's
 * update-alternatives leaves them in auto mode after a fresh install.
 *
 * The commands come from a static reading of each postinst (./script-reader.ts): only literal
 * ones that certainly run. They are replayed in the packages' configure order, as dpkg runs the
 * postinsts, with update-alternatives' rules (dpkg's utils/update-alternatives.c, checked against
 * the program in test/pkg/deb/alternatives.test.ts):
 * - a choice whose path is not in the image is refused (`alternative path ... doesn't exist`);
 * - in auto mode the current choice stays unless another has a strictly higher priority; with no
 *   current choice, the first of the choices in path order with the highest priority wins;
 * - a slave link is made only when the chosen choice gives the slave and its path exists;
 * - slaves that no choice gives any more are dropped from the group;
 * - the administrative file lists the group's slaves by name and its choices by path (bytewise).
 *
 * Where update-alternatives would fail (a link another group manages, a name that is a slave of
 * another group, a path that is not absolute) the command is not made, and the package's report
 * says so. A link is never made over a file a package installed, nor outside the image: paths are
 * absolute and clean, and the tree resolves them within its root (../../vfs/tree.ts).
 */
import { isProvenantError } from '../../errors.ts';
import { compareBytes, type FsNode, type Tree } from '../../vfs/tree.ts';
import { type AlternativesAction, readScriptAlternatives } from './script-reader.ts';

/** Where update-alternatives keeps its links and its administrative files (dpkg's defaults). */
export const ALTERNATIVES_DIR = 'etc/alternatives';
export const ALTERNATIVES_ADMIN_DIR = 'var/lib/dpkg/alternatives';

/** The alternatives one package's postinst registers, as read from it. */
export interface PackageAlternatives {
  /** The package's name, which the notes are kept under. */
  package: string;
  actions: AlternativesAction[];
  /** Why commands of its postinst were not read: each a line of the build's report of skipped scripts. */
  notes: string[];
  /**
   * Removals that may run, by the note that says so: one of a name or path no script installed
   * changes nothing whether it runs or not, and is not reported.
   */
  mayRemove?: { name: string; path: string | undefined; note: string }[] | undefined;
}

/** Reads a package's postinst (its bytes, if it has one) for the alternatives it registers. */
export function packageAlternatives(name: string, postinst: Uint8Array | undefined): PackageAlternatives {
  if (postinst === undefined) return { package: name, actions: [], notes: [] };
  const read = readScriptAlternatives(new TextDecoder().decode(postinst));
  const notes: string[] = [];
  const mayRemove: NonNullable<PackageAlternatives['mayRemove']> = [];
  for (const u of read.unread) {
    const note = `postinst:${u.line} update-alternatives not made: ${u.why}`;
    const a = u.action;
    if (a?.action === 'remove' || a?.action === 'remove-all')
      mayRemove.push({ name: a.name, path: a.action === 'remove' ? a.path : undefined, note });
    else notes.push(note);
  }
  return { package: name, actions: read.actions, notes, ...(mayRemove.length === 0 ? {} : { mayRemove }) };
}

/** Every path the actions name (links and targets), as tree paths: the build keeps them in its tree. */
export function alternativesPaths(packages: readonly PackageAlternatives[]): string[] {
  const out = new Set<string>();
  for (const p of packages)
    for (const a of p.actions) {
      if (a.action !== 'install') continue;
      for (const x of [a, ...a.slaves]) for (const path of [x.link, x.path]) if (cleanPath(path)) out.add(path.slice(1));
    }
  return [...out].sort(compareBytes);
}

/** One alternative made. */
export interface MadeAlternative {
  name: string;
  link: string;
  /** The chosen path. */
  path: string;
  /** The package whose postinst registered the chosen path. */
  package: string;
}

/** What {@link makeAlternatives} made, and what it did not, by package. */
export interface AlternativesResult {
  /** By name (bytewise). */
  made: MadeAlternative[];
  /** Lines for the report of skipped scripts, by package name: the packages' own notes, then what was refused. */
  notes: Map<string, string[]>;
}

interface Choice {
  priority: number;
  /** Slave name → path. */
  slaves: Map<string, string>;
  package: string;
  line: number;
}

interface Group {
  link: string;
  /** Slave name → link. */
  slaves: Map<string, string>;
  /** Path → choice. */
  choices: Map<string, Choice>;
  current: string | undefined;
}

/**
 * Replays the packages' actions (in configure order) and writes the links and administrative
 * files they leave, at `mtime`. Writes nothing when no alternative results.
 */
export function makeAlternatives(
  tree: Tree,
  packages: readonly PackageAlternatives[],
  options: { mtime?: number | undefined } = {},
): AlternativesResult {
  const notes = new Map<string, string[]>();
  const note = (pkg: string, line: string): void => {
    const list = notes.get(pkg);
    if (list === undefined) notes.set(pkg, [line]);
    else list.push(line);
  };
  for (const p of packages) for (const n of p.notes) note(p.package, n);
  const groups = new Map<string, Group>();
  const exists = (path: string): boolean => {
    try {
      return tree.read(tree.resolve(path.slice(1))) !== undefined;
    } catch (err) {
      // A symlink loop or a path through a file: no such file.
      if (isProvenantError(err, 'UNSAFE_PATH')) return false;
      throw err;
    }
  };

  for (const p of packages) {
    for (const a of p.actions) {
      const refused = replay(groups, a, p.package, exists);
      if (refused !== undefined) note(p.package, `postinst:${a.line} update-alternatives not made: ${refused}`);
    }
  }
  // A removal that may have run matters only where some script installed what it removes.
  for (const p of packages)
    for (const r of p.mayRemove ?? []) {
      const g = groups.get(r.name);
      if (g !== undefined && (r.path === undefined || g.choices.has(r.path))) note(p.package, r.note);
    }

  const made: MadeAlternative[] = [];
  const mtime = options.mtime ?? 0;
  const names = [...groups.keys()].sort(compareBytes);
  for (const name of names) {
    const g = groups.get(name) as Group;
    const path = g.current as string;
    const choice = g.choices.get(path) as Choice;
    const refuse = (why: string): void => note(choice.package, `update-alternatives ${name}: ${why}`);
    // /etc/alternatives/<name> first: without it the links would point nowhere.
    const altLink = `${ALTERNATIVES_DIR}/${name}`;
    const blocked = blockedBy(tree, altLink);
    if (blocked !== undefined) {
      refuse(`/${altLink} not made: ${blocked}`);
      continue;
    }
    tree.mkdirAll(ALTERNATIVES_DIR, folder(mtime));
    tree.put(altLink, link(path, mtime));
    const master = blockedBy(tree, g.link.slice(1));
    if (master === undefined) tree.put(g.link.slice(1), link(`/${altLink}`, mtime));
    else refuse(`${g.link} not made: ${master}`);
    for (const slave of [...g.slaves.keys()].sort(compareBytes)) {
      const target = choice.slaves.get(slave);
      // As update-alternatives: no link for a slave the choice lacks, or whose file is missing.
      if (target === undefined || !exists(target)) continue;
      const slaveAlt = `${ALTERNATIVES_DIR}/${slave}`;
      const slaveLink = (g.slaves.get(slave) as string).slice(1);
      const why = blockedBy(tree, slaveAlt) ?? blockedBy(tree, slaveLink);
      if (why !== undefined) {
        refuse(`the slave /${slaveLink} not made: ${why}`);
        continue;
      }
      tree.put(slaveAlt, link(target, mtime));
      tree.put(slaveLink, link(`/${slaveAlt}`, mtime));
    }
    const admin = `${ALTERNATIVES_ADMIN_DIR}/${name}`;
    const adminBlocked = blockedBy(tree, admin);
    if (adminBlocked !== undefined) {
      refuse(`/${admin} not written: ${adminBlocked}`);
    } else {
      tree.mkdirAll(ALTERNATIVES_ADMIN_DIR, folder(mtime));
      tree.put(admin, { type: 'file', mode: 0o644, uid: 0, gid: 0, mtime, owner: 'build', body: new TextEncoder().encode(adminFile(g)) });
    }
    made.push({ name, link: g.link, path, package: choice.package });
  }
  return { made, notes };
}

/**
 * Applies one action to the groups as update-alternatives would; a message when it would refuse
 * it (the command then changes nothing).
 */
function replay(groups: Map<string, Group>, a: AlternativesAction, pkg: string, exists: (path: string) => boolean): string | undefined {
  if (a.action === 'remove-all') {
    groups.delete(a.name);
    return undefined;
  }
  if (a.action === 'remove') {
    const g = groups.get(a.name);
    // Removing a choice that is not there changes nothing (update-alternatives exits 0).
    if (g === undefined || !g.choices.delete(a.path)) return undefined;
    if (g.choices.size === 0) groups.delete(a.name);
    else {
      if (g.current === a.path) g.current = undefined;
      settle(g);
    }
    return undefined;
  }
  const bad = [a, ...a.slaves].map(checkNames).find((m) => m !== undefined);
  if (bad !== undefined) return bad;
  if (a.link === a.path) return `its link and path are both ${a.link}`;
  const slaveNames = new Set<string>();
  const links = new Set([a.link]);
  for (const s of a.slaves) {
    if (s.name === a.name || slaveNames.has(s.name)) return `the slave name ${s.name} is given twice`;
    if (links.has(s.link)) return `the link ${s.link} is given twice`;
    slaveNames.add(s.name);
    links.add(s.link);
  }
  // Which group manages each name and link now.
  for (const [other, g] of groups) {
    if (other === a.name) continue;
    if (g.slaves.has(a.name)) return `${a.name} is a slave of ${other}`;
    for (const s of a.slaves) if (s.name === other || g.slaves.has(s.name)) return `the slave ${s.name} belongs to ${other}`;
    const managed = new Set([g.link, ...g.slaves.values()]);
    for (const l of links) if (managed.has(l)) return `the link ${l} is managed by ${other}`;
  }
  const g = groups.get(a.name);
  // update-alternatives would move the group's links: not made rather than guessed.
  if (g !== undefined && g.link !== a.link) return `${a.name} already has the link ${g.link}, not ${a.link}`;
  for (const s of a.slaves) {
    const was = g?.slaves.get(s.name);
    if (was !== undefined && was !== s.link) return `the slave ${s.name} already has the link ${was}, not ${s.link}`;
  }
  if (!exists(a.path)) return `${a.path} is not in the image`;
  const group: Group = g ?? { link: a.link, slaves: new Map(), choices: new Map(), current: undefined };
  groups.set(a.name, group);
  for (const s of a.slaves) group.slaves.set(s.name, s.link);
  group.choices.set(a.path, { priority: a.priority, slaves: new Map(a.slaves.map((s) => [s.name, s.path])), package: pkg, line: a.line });
  settle(group);
  return undefined;
}

/** Auto mode: the best choice, and the slaves that some choice still gives. */
function settle(g: Group): void {
  const sorted = [...g.choices.keys()].sort(compareBytes);
  let best = g.current !== undefined && g.choices.has(g.current) ? g.current : sorted[0];
  for (const path of sorted) if ((g.choices.get(path) as Choice).priority > (g.choices.get(best as string) as Choice).priority) best = path;
  g.current = best;
  const given = new Set([...g.choices.values()].flatMap((c) => [...c.slaves.keys()]));
  for (const s of [...g.slaves.keys()]) if (!given.has(s)) g.slaves.delete(s);
}

/** update-alternatives' checks of a name and its paths, and the build's: absolute, clean, one line. */
function checkNames(x: { name: string; link: string; path: string }): string | undefined {
  if (x.name === '' || /[/\s]/.test(x.name) || x.name === '.' || x.name === '..')
    return `the name ${JSON.stringify(x.name)} is not one update-alternatives takes`;
  for (const p of [x.link, x.path]) if (!cleanPath(p)) return `${JSON.stringify(p)} is not an absolute path without . or .. parts`;
  return undefined;
}

/** An absolute path, without empty, `.` or `..` parts, without a line break (the administrative file is made of lines). */
function cleanPath(p: string): boolean {
  return (
    p.startsWith('/') &&
    p.length > 1 &&
    !/[\n\r\0]/.test(p) &&
    p
      .slice(1)
      .split('/')
      .every((part) => part !== '' && part !== '.' && part !== '..')
  );
}

/**
 * Why a link (or file) of the build cannot be put at the tree path `path`, or undefined: a node a
 * package installed is there, its folder is not a folder of the image, or the path leads out of it.
 */
function blockedBy(tree: Tree, path: string): string | undefined {
  let at: string;
  try {
    at = tree.resolveParent(path);
  } catch (err) {
    if (isProvenantError(err, 'UNSAFE_PATH')) return err.message;
    throw err;
  }
  const slash = at.lastIndexOf('/');
  // update-alternatives makes no folder for a link: the package that ships the folder does.
  if (slash >= 0 && !path.startsWith(`${ALTERNATIVES_DIR}/`) && !path.startsWith(`${ALTERNATIVES_ADMIN_DIR}/`)) {
    if (tree.read(at.slice(0, slash))?.type !== 'dir') return `the folder /${at.slice(0, slash)} is not in the image`;
  }
  const node = tree.read(at);
  if (node === undefined) return undefined;
  return `/${at} is ${node.type === 'dir' ? 'a folder' : `a ${node.type}`}${node.owner === undefined || node.owner === 'build' ? ' the build made' : ` of ${node.owner}`}`;
}

function link(target: string, mtime: number): FsNode {
  return { type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime, owner: 'build', linkname: target };
}

function folder(mtime: number): Partial<FsNode> {
  return { mode: 0o755, uid: 0, gid: 0, mtime, owner: 'build' };
}

/**
 * The administrative file of a group, as update-alternatives writes it (its `alternative_save`):
 * the mode, the master link, each slave's name and link, a blank line, then each choice's path,
 * priority and slave paths ('' for a slave it lacks), and a blank line.
 */
function adminFile(g: Group): string {
  const slaves = [...g.slaves.keys()].sort(compareBytes);
  const lines = ['auto', g.link];
  for (const s of slaves) lines.push(s, g.slaves.get(s) as string);
  lines.push('');
  for (const path of [...g.choices.keys()].sort(compareBytes)) {
    const c = g.choices.get(path) as Choice;
    lines.push(path, String(c.priority));
    for (const s of slaves) lines.push(c.slaves.get(s) ?? '');
  }
  lines.push('');
  return `${lines.join('\n')}\n`;
}
