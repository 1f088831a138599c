/**
 * Inventories from what an image's package databases say: apk's `/lib/apk/db/installed` and
 * dpkg's `/var/lib/dpkg/status` and distroless' `/var/lib/dpkg/status.d/*`, with the
 * distribution from `/etc/os-release`.
 */
import { parseApkIndexText } from '../pkg/apk/apkindex.ts';
import { apkChecksum, apkDependencies, apkInventoryPackage } from '../pkg/apk/inventory.ts';
import { parseControlStanzas } from '../pkg/deb/control.ts';
import { debCopyrightLicense } from '../pkg/deb/copyright.ts';
import { debDependencies, debInventoryPackage } from '../pkg/deb/inventory.ts';
import type { Inventory, InventoryFile, InventoryPackage } from '../pkg/inventory.ts';

/**
 * Parses os-release (https://www.freedesktop.org/software/systemd/man/latest/os-release.html):
 * `KEY=value` lines, the value optionally in single or double quotes, with `\` escapes inside
 * double quotes; blank lines and `#` comments are skipped, and so are lines that are not
 * assignments (the file is read by shells, which would choke on them, but an SBOM should not).
 */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m === null) continue;
    const key = m[1] as string;
    if (key === '__proto__') continue;
    let value = (m[2] as string).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) {
      value = value.slice(1, -1).replace(/\\([\\$"`])/g, '$1');
    } else if (value.startsWith("'") && value.endsWith("'") && value.length >= 2) {
      value = value.slice(1, -1);
    }
    out[key] = value;
  }
  return out;
}

/**
 * An inventory's distribution from os-release text: the ID lowercased ('' when there is none, so
 * that a purl has no `distro` qualifier rather than a made-up one), VERSION_ID, and PRETTY_NAME or
 * else NAME. Both a build's inventory and one read back from its image take it from here.
 */
export function inventoryDistro(osRelease: string): Inventory['distro'] {
  const os = parseOsRelease(osRelease);
  return { id: (os.ID ?? '').toLowerCase(), versionId: os.VERSION_ID ?? '', prettyName: os.PRETTY_NAME ?? os.NAME ?? '' };
}

// ---------------------------------------------------------------------------------------------
// apk
// ---------------------------------------------------------------------------------------------

/**
 * The files of each stanza of an installed database, in stanza order: `F:` names a directory,
 * each `R:` a file in it, and a `Z:` after an `R:` that file's checksum. parseApkIndexText keeps
 * these letters apart (in `extra`), which loses which `Z:` belongs to which `R:`, so the lines are
 * read again here, with the same stanza boundaries (blank lines).
 */
function apkFiles(text: string): InventoryFile[][] {
  const stanzas: InventoryFile[][] = [];
  let files: InventoryFile[] = [];
  let fields = 0;
  let dir = '';
  let last: InventoryFile | undefined;
  for (const line of text.split('\n')) {
    if (line === '') {
      if (fields > 0) stanzas.push(files);
      files = [];
      fields = 0;
      dir = '';
      last = undefined;
      continue;
    }
    fields++;
    const value = line.slice(2);
    if (line.startsWith('F:')) {
      dir = value;
      last = undefined;
    } else if (line.startsWith('R:')) {
      last = { path: `/${dir === '' ? '' : `${dir}/`}${value}` };
      files.push(last);
    } else if (line.startsWith('Z:') && last !== undefined) {
      const sum = apkChecksum(value);
      if (sum !== undefined) last[sum.alg] = sum.hex;
    }
  }
  if (fields > 0) stanzas.push(files);
  return stanzas;
}

/**
 * The inventory of an apk-based image from its installed database (`/lib/apk/db/installed`, the
 * APKINDEX format with file lines), its `/etc/os-release` text and the image it describes.
 * `dependsOn` resolves each `D:` atom to the installed package of that name, or else to the
 * installed packages that provide it (`p:`, for `so:`, `cmd:`, `pc:` and virtual names).
 * The `C:` checksum (the SHA-1 of the package's control section) is each package's identity, not
 * its checksum: the database records no checksum of the .apk file. Files carry their `Z:` checksums.
 *
 * @throws ProvenantError `INVALID_PACKAGE` when the database is not in the APKINDEX format
 */
export function inventoryFromApkDatabase(installedText: string, osRelease: string, image: Inventory['image']): Inventory {
  const infos = parseApkIndexText(installedText, 'lib/apk/db/installed');
  const files = apkFiles(installedText);
  // As a build resolves them (../pkg/apk/inventory.ts): an image read back gives the same dependencies.
  const deps = apkDependencies(infos);
  const packages = infos.map((info, i): InventoryPackage => {
    const pkg = apkInventoryPackage(info, deps[i] ?? [], { files: files[i] ?? [] });
    if (info.buildTime !== undefined) pkg.builtAt = info.buildTime;
    return pkg;
  });
  return { distro: inventoryDistro(osRelease), image, packages };
}

// ---------------------------------------------------------------------------------------------
// dpkg
// ---------------------------------------------------------------------------------------------

/**
 * Whether a dpkg entry of this `Status` (`want flag state`, deb-control(5) and dpkg-query(1);
 * none, as in status.d, is installed) is listed in an inventory: one whose files may be in the
 * image, installed or not fully so (unpacked, half-configured, half-installed, waiting on
 * triggers), as trivy lists them, and not one dpkg is told to remove (a want of `deinstall` or
 * `purge`, which trivy leaves out; syft leaves out `deinstall`) nor one whose files are gone but
 * its conffiles (`not-installed`, `config-files`, whatever the want: `hold ok not-installed` is
 * a selection, not a package).
 */
function listedStatus(status: string | undefined): boolean {
  if (status === undefined) return true;
  const [want, , state] = status.trim().split(/\s+/);
  if (want === 'deinstall' || want === 'purge') return false;
  return state !== undefined && state !== 'not-installed' && state !== 'config-files';
}

/** A file of dpkg's database: `/var/lib/dpkg/status` or one of `/var/lib/dpkg/status.d/`. */
export interface DpkgDatabaseFile {
  /** Where it is in the image, for errors. */
  path: string;
  text: string;
}

/**
 * The inventory of a Debian-based image from dpkg's status database: the text of
 * `/var/lib/dpkg/status`, or a list of database files (the files of `/var/lib/dpkg/status.d/`,
 * as distroless images have them, then `status` when an image has both; bare texts are
 * numbered as status.d files). Of a package (name and architecture) listed more than once, the
 * last entry decides, and {@link listedStatus} whether it is listed. `dependsOn` comes from `Depends` and `Pre-Depends`: of alternatives
 * (`a | b`) the first one installed, by package name or through `Provides`. Licenses are not in
 * the status database: `copyright` gives the bytes of a package's
 * /usr/share/doc/<package>/copyright, read as a build reads it (debCopyrightLicense); without
 * it, or without the file, a license is left empty.
 *
 * @throws ProvenantError `INVALID_PACKAGE` when the text is not in control-file format
 */
export function inventoryFromDpkgStatus(
  status: string | readonly (string | DpkgDatabaseFile)[],
  osRelease: string,
  image: Inventory['image'],
  copyright?: (name: string) => Uint8Array | undefined,
): Inventory {
  const files =
    typeof status === 'string'
      ? [{ path: 'var/lib/dpkg/status', text: status }]
      : status.map((f, i) => (typeof f === 'string' ? { path: `var/lib/dpkg/status.d #${i + 1}`, text: f } : f));
  const stanzas = files.flatMap((f) => parseControlStanzas(f.text, f.path));
  const named = stanzas.filter((s) => s.package !== undefined && s.version !== undefined);
  // A Map keeps the first place of a key and the last value set for it: the last entry of a
  // package decides, then whether it is listed (status's removal of a package status.d has too).
  const byKey = new Map(named.map((s) => [`${s.package}:${s.architecture ?? ''}`, s]));
  const installed = [...byKey.values()].filter((s) => listedStatus(s.status));
  const controlled = installed.map((s) => ({
    name: s.package as string,
    version: s.version as string,
    architecture: s.architecture ?? '',
    control: s,
  }));
  const deps = debDependencies(controlled);
  // As a build records it (../pkg/deb/inventory.ts): an image read back gives the same facts.
  const packages = controlled.map((p, i) => {
    const bytes = copyright?.(p.name);
    return debInventoryPackage(p, deps[i] ?? [], bytes === undefined ? '' : debCopyrightLicense(bytes));
  });
  return { distro: inventoryDistro(osRelease), image, packages };
}
