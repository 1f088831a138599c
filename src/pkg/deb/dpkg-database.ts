/**
 * The database dpkg itself reads: `/var/lib/dpkg/status` (every installed package's stanza),
 * `/var/lib/dpkg/info/<package>.{list,md5sums,conffiles}` and the package's other control members
 * (maintainer scripts, triggers, shlibs...), and `/var/lib/dpkg/triggers/`, written as
 * `dpkg --install` leaves them (lib/dpkg/dump.c, src/main/unpack.c and lib/dpkg/db-fsys-*.c of dpkg 1.21/1.22), for an
 * image that has dpkg: there, `dpkg -s`, `dpkg -L`, `dpkg -V` and apt in a derived image know
 * what is installed. ./install.ts decides when; this module makes the bytes.
 */
import { concatBytes } from '../../bytes.ts';
import { ProvenantError } from '../../errors.ts';
import { type Body, BodyReader } from '../../vfs/body.ts';
import { compareBytes } from '../../vfs/tree.ts';
import type { DebPackage } from './deb.ts';
import { parseDebRelations } from './relations.ts';

/** dpkg's folder. */
export const DPKG_DIR = 'var/lib/dpkg';
/** The status file. */
export const DPKG_STATUS = `${DPKG_DIR}/status`;
/** The per-package files (file lists, md5sums, conffiles). */
export const DPKG_INFO = `${DPKG_DIR}/info`;

const encoder = new TextEncoder();

/**
 * info/format: the layout of info/, 1 since dpkg 1.16.2 (multiarch: `<package>:<arch>` files for
 * `Multi-Arch: same`). Without it dpkg reads the legacy layout and finds none of those files.
 */
export const DPKG_INFO_FORMAT = { path: `${DPKG_INFO}/format`, body: encoder.encode('1\n') };

/**
 * Fields only the status database carries: dpkg refuses a .deb whose control file has one of the
 * first four ("value for 'Status' field not allowed in this context": the pdb_rejectstatus fields
 * of lib/dpkg/fields.c), and makes `Conffiles` itself from the `conffiles` member. Lowercased.
 */
const STATUS_ONLY = new Set(['status', 'config-version', 'triggers-pending', 'triggers-awaited', 'conffiles']);

/**
 * `control` without the fields only the status database may carry ({@link STATUS_ONLY}), each
 * with its continuation lines; every other byte as it was. The same array when it has none, as
 * every package built by dpkg-deb.
 */
export function withoutStatusFields(control: Uint8Array): Uint8Array {
  const keep: Uint8Array[] = [];
  let dropped = false;
  let dropping = false;
  let from = 0;
  for (let start = 0; start < control.length; ) {
    let end = control.indexOf(0x0a, start);
    end = end < 0 ? control.length : end + 1;
    const first = control[start];
    if (first !== 0x20 && first !== 0x09) {
      const colon = control.subarray(start, end).indexOf(0x3a);
      const name =
        colon < 0
          ? ''
          : new TextDecoder()
              .decode(control.subarray(start, start + colon))
              .trim()
              .toLowerCase();
      const drop = STATUS_ONLY.has(name);
      if (drop && !dropping) keep.push(control.subarray(from, start));
      if (!drop && dropping) from = start;
      dropping = drop;
      dropped ||= drop;
    }
    start = end;
  }
  if (!dropped) return control;
  if (!dropping) keep.push(control.subarray(from));
  return concatBytes(keep);
}

/** A field of a control file: its name as written, its value as dpkg keeps it. */
interface RawField {
  name: string;
  value: string;
}

/**
 * The fields of a one-stanza control file in their order, as dpkg's parser keeps them
 * (lib/dpkg/parse.c, parse_stanza): spaces after the colon skipped up to the end of the first
 * line, continuation lines kept with their leading space, trailing whitespace trimmed.
 */
function rawFields(text: string, where: string): RawField[] {
  const fields: RawField[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const last = fields.at(-1);
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (last === undefined)
        throw new ProvenantError('INVALID_PACKAGE', `${where}: the control file starts with a continuation line`, { where });
      last.value += `\n${line}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0)
      throw new ProvenantError('INVALID_PACKAGE', `${where}: ${JSON.stringify(line.slice(0, 80))} is not a control field`, { where });
    fields.push({ name: line.slice(0, colon).trim(), value: line.slice(colon + 1).replace(/^[ \t]+/, '') });
  }
  for (const f of fields) f.value = f.value.replace(/\s+$/, '');
  return fields;
}

/**
 * The fields dpkg knows, in the order it writes them (lib/dpkg/parse.c, fieldinfos), each with
 * what an installed package's stanza holds: its value as read (`keep`), the dependency fields
 * written again as dpkg writes relations, the booleans only when `yes`, Multi-Arch only when not
 * `no`, and nothing for the fields an installed package does not carry (the archive fields,
 * the obsolete ones, and those of {@link STATUS_ONLY}, which the database writes itself).
 */
const DPKG_FIELDS: [string, 'keep' | 'relations' | 'boolean' | 'multi-arch' | 'status' | 'conffiles' | 'drop'][] = [
  ['Package', 'keep'],
  ['Essential', 'boolean'],
  ['Protected', 'boolean'],
  ['Status', 'status'],
  ['Priority', 'keep'],
  ['Section', 'keep'],
  ['Installed-Size', 'keep'],
  ['Origin', 'keep'],
  ['Maintainer', 'keep'],
  ['Bugs', 'keep'],
  ['Architecture', 'keep'],
  ['Multi-Arch', 'multi-arch'],
  ['Source', 'keep'],
  ['Version', 'keep'],
  ['Config-Version', 'drop'],
  ['Replaces', 'relations'],
  ['Provides', 'relations'],
  ['Depends', 'relations'],
  ['Pre-Depends', 'relations'],
  ['Recommends', 'relations'],
  ['Suggests', 'relations'],
  ['Breaks', 'relations'],
  ['Conflicts', 'relations'],
  ['Enhances', 'relations'],
  ['Conffiles', 'conffiles'],
  ['Filename', 'drop'],
  ['Size', 'drop'],
  ['MD5sum', 'drop'],
  ['Description', 'keep'],
  ['Triggers-Pending', 'drop'],
  ['Triggers-Awaited', 'drop'],
  ['Recommended', 'drop'],
  ['Optional', 'drop'],
  ['Class', 'drop'],
  ['Revision', 'drop'],
  ['Package-Revision', 'drop'],
  ['Package_Revision', 'drop'],
];
const KNOWN = new Map(DPKG_FIELDS.map(([name], i) => [name.toLowerCase(), i]));

/** A conffile as the status stanza records it: its path, and the MD5 of what was installed there. */
export interface DpkgConffile {
  path: string;
  /** The MD5 (hex) of the installed file, or `newconffile` when the package installs none there (or it is to be removed on upgrade). */
  hash: string;
  /** `remove-on-upgrade` when conffiles gives that flag. */
  flag?: string | undefined;
  /**
   * Another package installed the file through `Replaces` (its own stays, or it took this one's
   * over): dpkg marks the conffile `obsolete`, no longer this package's to update or verify.
   */
  obsolete?: boolean | undefined;
}

/**
 * The stanza `pkg` has in /var/lib/dpkg/status once installed and configured, as dpkg writes it
 * (lib/dpkg/dump.c, varbuf_stanza): the fields it knows in its order, with canonical names and
 * `Status: install ok installed`, then the others (Homepage, Built-Using...) in the control
 * file's order; a blank line after it. `dpkg-query -s` prints the same bytes.
 *
 * @throws ProvenantError `INVALID_PACKAGE` for a control file dpkg could not parse
 */
export function dpkgStatusStanza(pkg: DebPackage, conffiles: readonly DpkgConffile[]): string {
  const where = `${pkg.name}_${pkg.version}_${pkg.architecture}`;
  const fields = rawFields(new TextDecoder().decode(pkg.controlBytes), where);
  const known: (string | undefined)[] = DPKG_FIELDS.map(() => undefined);
  // By lowercased name: a field named twice keeps its last value, as the control file's parser reads it (./control.ts).
  const others = new Map<string, string>();
  for (const f of fields) {
    const i = KNOWN.get(f.name.toLowerCase());
    if (i === undefined) {
      others.delete(f.name.toLowerCase());
      others.set(f.name.toLowerCase(), `${f.name}: ${f.value}\n`);
      continue;
    }
    const [name, kind] = DPKG_FIELDS[i] as (typeof DPKG_FIELDS)[number];
    let value: string | undefined;
    if (kind === 'keep') value = f.value;
    else if (kind === 'relations') value = dpkgRelations(f.value, name, where);
    else if (kind === 'boolean') value = f.value.toLowerCase() === 'yes' ? 'yes' : undefined;
    else if (kind === 'multi-arch') value = f.value.toLowerCase() === 'no' ? undefined : f.value.toLowerCase();
    if (value !== undefined && value !== '') known[i] = `${name}: ${value}\n`;
  }
  known[KNOWN.get('status') as number] = 'Status: install ok installed\n';
  if (conffiles.length > 0) {
    // dpkg writes `obsolete` before the other flag (lib/dpkg/dump.c, w_conffiles).
    const lines = conffiles.map(
      (c) => ` ${c.path} ${c.hash}${c.obsolete === true ? ' obsolete' : ''}${c.flag === undefined ? '' : ` ${c.flag}`}`,
    );
    known[KNOWN.get('conffiles') as number] = `Conffiles:\n${lines.join('\n')}\n`;
  }
  return `${known.join('')}${[...others.values()].join('')}\n`;
}

/** A relation field as dpkg writes it (lib/dpkg/dump.c, varbufdependency): `name[:arch] (op version)`, `, ` and ` | ` between. */
function dpkgRelations(value: string, field: string, where: string): string {
  return parseDebRelations(value, field, where)
    .map((alternatives) =>
      alternatives
        .map((r) => {
          const arch = r.archQualifier === undefined ? '' : `:${r.archQualifier}`;
          // dpkg reads the obsolete `<` and `>` as `<=` and `>=`, and writes them so.
          const op = r.op === '<' ? '<=' : r.op === '>' ? '>=' : r.op;
          return `${r.name}${arch}${op === undefined || r.version === undefined ? '' : ` (${op} ${r.version})`}`;
        })
        .join(' | '),
    )
    .join(', ');
}

/** /var/lib/dpkg/status: the stanzas sorted by package name, then architecture, as dpkg writes the file (lib/dpkg/dbmodify.c, writedb). */
export function dpkgStatusFile(stanzas: Iterable<{ name: string; architecture: string; stanza: string }>): Uint8Array {
  const sorted = [...stanzas].sort((a, b) => compareBytes(a.name, b.name) || compareBytes(a.architecture, b.architecture));
  return encoder.encode(sorted.map((s) => s.stanza).join(''));
}

/** The name of a package's files in info/: `<package>`, and `<package>:<arch>` for `Multi-Arch: same` (lib/dpkg/db-ctrl-format.c). */
function dpkgInfoName(pkg: Pick<DebPackage, 'name' | 'architecture' | 'multiArch'>): string {
  return pkg.multiArch === 'same' ? `${pkg.name}:${pkg.architecture}` : pkg.name;
}

/**
 * The conffiles of `pkg` with the MD5 of each file it installs there (of its bytes in the
 * package: a conffile is installed as shipped, and md5sums leaves conffiles out). Those in
 * `replaced` (paths without the leading slash: files another package installed through
 * `Replaces`, before or after this one) are `obsolete`, with `newconffile` for a hash: the
 * package was unpacked and not yet configured when dpkg marked them, as `dpkg --install` of all
 * the packages leaves them, in either order; `dpkg --verify` passes them over.
 */
export function dpkgConffiles(pkg: DebPackage, replaced: ReadonlySet<string>): DpkgConffile[] {
  if (pkg.conffiles.length === 0) return [];
  const wanted = pkg.conffiles.map((line) => {
    const m = /^(\S+)\s+(\/.*)$/.exec(line);
    return m === null ? { path: line } : { path: m[2] as string, flag: m[1] };
  });
  // Only a conffile with neither flag nor replacement gets its hash: the others' bodies are not read.
  const hashed = wanted.filter((c) => c.flag === undefined && !replaced.has(c.path.slice(1)));
  const paths = new Set(hashed.map((c) => c.path.slice(1)));
  const hashes = new Map<string, string>();
  const reader = new BodyReader();
  const createHash = process.getBuiltinModule('node:crypto').createHash;
  try {
    const bodies = new Map<string, Body | undefined>();
    for (const e of pkg.entries) {
      if (e.header.type === 'file') bodies.set(e.path, e.body);
      else if (e.header.type === 'hardlink' && e.hardlinkTarget !== undefined) bodies.set(e.path, bodies.get(e.hardlinkTarget));
      else continue;
      if (paths.has(e.path))
        hashes.set(
          e.path,
          createHash('md5')
            .update(reader.read(bodies.get(e.path)))
            .digest('hex'),
        );
      if (hashes.size === paths.size) break;
    }
  } finally {
    reader.close();
  }
  // A remove-on-upgrade conffile is one to remove from an older version: dpkg never hashes it,
  // and no package installs it.
  return wanted.map((c) => {
    const obsolete = c.flag === undefined && replaced.has(c.path.slice(1));
    return {
      path: c.path,
      // Only those with neither flag nor replacement were hashed (see `hashed`); a flagged line
      // is never hashed, even when its path is listed again without a flag.
      hash: (c.flag === undefined ? hashes.get(c.path.slice(1)) : undefined) ?? 'newconffile',
      flag: c.flag,
      ...(obsolete ? { obsolete } : {}),
    };
  });
}

/** A file of dpkg's database: its path, bytes and mode. */
export interface DpkgFile {
  path: string;
  body: Body;
  mode: number;
}

/** The control members dpkg runs, which it keeps executable in info/; it keeps the others 0644. */
const DPKG_SCRIPTS = new Set(['preinst', 'postinst', 'prerm', 'postrm', 'config']);

/**
 * A package's files in info/, as dpkg leaves them after `dpkg --install`:
 *
 * - `<name>.list`: `/.`, then every path of the data archive in its order, folders included,
 *   without those a package installed later took over (`elided`: dpkg writes the list of the
 *   package whose files were replaced again without them, src/main/unpack.c) and those left out
 *   because an installed package replaces this one (`leftOut`: "Replaced by files in installed
 *   package", which dpkg drops from the list it writes);
 * - `<name>.md5sums`: the package's own md5sums, byte for byte, or, when it has none, the one dpkg
 *   makes from the files it unpacked (lib/dpkg/db-fsys-digest.c), in the archive's order: those
 *   in `leftOut` were not unpacked, those in `elided` were;
 * - `<name>.conffiles`: the `conffiles` member as shipped, when the package has one;
 * - `<name>.<member>` for every other member of the control archive whose name has no dot, but
 *   `control` (src/main/unpack.c, pkg_infodb_update): the maintainer scripts (0755), `triggers`,
 *   `shlibs`, `symbols`, `templates`... (0644). None of the scripts ran; they are there for dpkg
 *   to run when the package is removed or upgraded in an image built on this one, and `triggers`
 *   for its interests (see {@link dpkgTriggerFiles}).
 */
export function dpkgInfoFiles(pkg: DebPackage, elided: ReadonlySet<string> | undefined, leftOut: ReadonlySet<string>): DpkgFile[] {
  const name = dpkgInfoName(pkg);
  const list: string[] = ['/.'];
  for (const e of pkg.entries) if (!elided?.has(e.path) && !leftOut.has(e.path)) list.push(`/${e.path}`);
  const out: DpkgFile[] = [{ path: `${DPKG_INFO}/${name}.list`, body: encoder.encode(`${list.join('\n')}\n`), mode: 0o644 }];
  // A made one is written even when the package has no regular file (empty), as dpkg does.
  out.push({ path: `${DPKG_INFO}/${name}.md5sums`, body: pkg.md5sumsFile ?? pkg.md5sumsBytes ?? madeMd5sums(pkg, leftOut), mode: 0o644 });
  const conffiles = pkg.controlFiles.get('conffiles');
  if (conffiles !== undefined) out.push({ path: `${DPKG_INFO}/${name}.conffiles`, body: conffiles, mode: 0o644 });
  const members = [...pkg.controlFiles.keys()].filter(
    // `list` is dpkg's own (it warns and skips a member of that name); md5sums and conffiles are above.
    (m) => !m.includes('.') && !m.includes('/') && !['control', 'list', 'md5sums', 'conffiles'].includes(m),
  );
  for (const m of members.sort(compareBytes)) {
    out.push({ path: `${DPKG_INFO}/${name}.${m}`, body: pkg.controlFiles.get(m) as Uint8Array, mode: DPKG_SCRIPTS.has(m) ? 0o755 : 0o644 });
  }
  return out;
}

/** dpkg's trigger state (lib/dpkg/triglib.c, trigdeferred.c). */
export const DPKG_TRIGGERS = `${DPKG_DIR}/triggers`;

/** dpkg's own files in triggers/, which no explicit trigger may name. */
const DPKG_TRIGGER_STATE = new Set(['File', 'Unincorp', 'Lock']);

/** A trigger interest: the package (`<name>`, or `<name>:<arch>` for `Multi-Arch: same`) and whether it is `/noawait`. */
interface Interest {
  pkg: string;
  noawait: boolean;
}

/**
 * The `interest` directives of a package's `triggers` member, read as dpkg reads the file
 * (lib/dpkg/triglib.c, trig_parse_ci): blank lines and `#` comments skipped, `activate` lines
 * passed over (they only make another package's trigger pending, and the build leaves none
 * pending).
 *
 * @throws ProvenantError `INVALID_PACKAGE` for a directive or a trigger name dpkg refuses
 */
function triggerInterests(text: string, where: string): { trigger: string; noawait: boolean }[] {
  const out: { trigger: string; noawait: boolean }[] = [];
  const invalid = (why: string) => new ProvenantError('INVALID_PACKAGE', `${where}: triggers: ${why}`, { where });
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+)\s+(.*)$/.exec(line);
    if (m === null) throw invalid(`${JSON.stringify(line)} is no directive and trigger name`);
    const [, directive, trigger] = m as unknown as [string, string, string];
    if ([...trigger].some((c) => c <= ' ' || c >= '\x7f'))
      throw invalid(`the trigger name ${JSON.stringify(trigger)} has a character dpkg refuses`);
    if (directive === 'activate' || directive === 'activate-await' || directive === 'activate-noawait') continue;
    if (directive !== 'interest' && directive !== 'interest-await' && directive !== 'interest-noawait')
      throw invalid(`unknown directive ${JSON.stringify(directive)}`);
    // A file trigger is an absolute path without empty parts or a trailing slash; any other name
    // is an explicit trigger's, which names a file of triggers/: a package name without `_`, and
    // none of dpkg's own files there.
    const file = trigger.startsWith('/') && !trigger.includes('//') && !trigger.endsWith('/');
    if (!file && (!/^[A-Za-z0-9][A-Za-z0-9+.-]*$/.test(trigger) || DPKG_TRIGGER_STATE.has(trigger)))
      throw invalid(`${JSON.stringify(trigger)} is no trigger name dpkg knows`);
    out.push({ trigger, noawait: directive === 'interest-noawait' });
  }
  return out;
}

/**
 * /var/lib/dpkg/triggers/ as dpkg leaves it once the packages are unpacked in this order and
 * configured, every trigger processed (lib/dpkg/triglib.c):
 *
 * - `File`: each file trigger interest, `<path> <package>[/noawait]`, in the order the packages
 *   declared them (left out when there is none);
 * - `<trigger>`: for each explicit trigger a package is interested in, `<package>[/noawait]`
 *   lines, in the order the packages declared them;
 * - `Unincorp`, empty (no activation waiting to be read), and `Lock` (0600, empty), which dpkg
 *   makes whenever it changes the database.
 *
 * A package of a name met before (a later version) takes back the interests of the earlier, as
 * dpkg does on upgrade.
 *
 * @throws ProvenantError `INVALID_PACKAGE` for a `triggers` member dpkg refuses
 */
export function dpkgTriggerFiles(pkgs: Iterable<DebPackage>): DpkgFile[] {
  let files: { path: string; who: Interest }[] = [];
  const explicit = new Map<string, Interest[]>();
  for (const pkg of pkgs) {
    const who = dpkgInfoName(pkg);
    const others = (i: Interest): boolean => i.pkg !== who;
    files = files.filter((f) => others(f.who));
    for (const [t, list] of explicit) explicit.set(t, list.filter(others));
    const triggers = pkg.controlFiles.get('triggers');
    if (triggers === undefined) continue;
    const where = `${pkg.name}_${pkg.version}_${pkg.architecture}`;
    for (const { trigger, noawait } of triggerInterests(new TextDecoder().decode(triggers), where)) {
      if (trigger.startsWith('/')) {
        const known = files.find((f) => f.path === trigger && f.who.pkg === who);
        // Named twice by a package: one interest, with the last line's option.
        if (known !== undefined) known.who.noawait = noawait;
        else files.push({ path: trigger, who: { pkg: who, noawait } });
      } else {
        explicit.set(trigger, [...(explicit.get(trigger) ?? []).filter(others), { pkg: who, noawait }]);
      }
    }
  }
  const line = (i: Interest): string => `${i.pkg}${i.noawait ? '/noawait' : ''}\n`;
  const out: DpkgFile[] = [];
  if (files.length > 0) {
    out.push({ path: `${DPKG_TRIGGERS}/File`, body: encoder.encode(files.map((f) => `${f.path} ${line(f.who)}`).join('')), mode: 0o644 });
  }
  for (const [t, list] of [...explicit].sort(([a], [b]) => compareBytes(a, b))) {
    if (list.length > 0) out.push({ path: `${DPKG_TRIGGERS}/${t}`, body: encoder.encode(list.map(line).join('')), mode: 0o644 });
  }
  out.push({ path: `${DPKG_TRIGGERS}/Unincorp`, body: new Uint8Array(0), mode: 0o644 });
  out.push({ path: `${DPKG_TRIGGERS}/Lock`, body: new Uint8Array(0), mode: 0o600 });
  return out;
}

/** The md5sums dpkg makes for a package that has none: `<md5>  <path>` for each file it unpacked (not those in `leftOut`), in the archive's order. */
function madeMd5sums(pkg: DebPackage, leftOut: ReadonlySet<string>): Uint8Array {
  const lines: string[] = [];
  const reader = new BodyReader();
  const createHash = process.getBuiltinModule('node:crypto').createHash;
  const sums = new Map<string, string>();
  try {
    for (const e of pkg.entries) {
      let sum: string | undefined;
      if (e.header.type === 'file') sum = createHash('md5').update(reader.read(e.body)).digest('hex');
      else if (e.header.type === 'hardlink' && e.hardlinkTarget !== undefined) sum = sums.get(e.hardlinkTarget);
      if (sum === undefined) continue;
      sums.set(e.path, sum);
      if (leftOut.has(e.path)) continue;
      lines.push(`${sum}  ${e.path}\n`);
    }
  } finally {
    reader.close();
  }
  return encoder.encode(lines.join(''));
}
