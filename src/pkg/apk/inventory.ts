/** An apk package as the inventory records it: what a build installed or an image's database says. */
import type { InventoryFile, InventoryPackage } from '../inventory.ts';
import type { ApkPackageInfo } from './apkindex.ts';

const base64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * An apk checksum (`Q1` + base64 SHA-1, `Q2` + base64 SHA-256, or `X1`/`X2` + hex, as
 * apk_blob_pull_digest reads them) as an algorithm and hex, or undefined when it is none of those.
 */
export function apkChecksum(text: string): { alg: 'sha1' | 'sha256'; hex: string } | undefined {
  const kind = text.slice(0, 2);
  const rest = text.slice(2);
  const alg = kind[1] === '1' ? 'sha1' : kind[1] === '2' ? 'sha256' : undefined;
  if (alg === undefined) return undefined;
  let hex: string;
  if (kind[0] === 'Q' && base64.test(rest)) hex = Buffer.from(rest, 'base64').toString('hex');
  else if (kind[0] === 'X' && /^[0-9a-f]+$/i.test(rest)) hex = rest.toLowerCase();
  else return undefined;
  return hex.length === (alg === 'sha1' ? 40 : 64) ? { alg, hex } : undefined;
}

/**
 * One apk package of an inventory: its index fields, its `C:` as its identity, the installed
 * packages it depends on, and its files when given. Its checksum is the .apk file's SHA-256 when
 * `fileSha256` gives it (a build, which fetched the file); the `C:` checksum is of the control
 * section alone, so it is no checksum of the package. Shared by inventories read back from an
 * image and those a build makes.
 */
export function apkInventoryPackage(
  info: ApkPackageInfo,
  dependsOn: Iterable<string>,
  options: { files?: InventoryFile[] | undefined; fileSha256?: string | undefined } = {},
): InventoryPackage {
  const pkg: InventoryPackage = {
    ecosystem: 'apk',
    name: info.name,
    version: info.version,
    arch: info.arch,
    license: info.license,
    source: info.origin,
    supplier: info.maintainer,
    homepage: info.url,
    description: info.description,
    checksums: options.fileSha256 === undefined ? {} : { sha256: options.fileSha256 },
    dependsOn: [...dependsOn].sort(),
  };
  if (info.checksum !== '') pkg.identity = info.checksum;
  if (options.files !== undefined) pkg.files = options.files;
  return pkg;
}

/** The name a dependency atom asks for: `!name` conflicts are no dependency; `@tag` and `op version` go. */
function atomName(atom: string): string | undefined {
  if (atom.startsWith('!')) return undefined;
  const name = atom.split(/[<>=~@]/, 1)[0] ?? '';
  return name === '' ? undefined : name;
}

/**
 * The installed packages each of `installed` depends on, in the same order: each `D:` atom
 * resolved to the installed package of that name, or else to every installed package that
 * provides it (`p:`, for `so:`, `cmd:`, `pc:` and virtual names), never to the package itself.
 * Read leniently, as an image's database may be odd: an atom naming nothing installed is skipped.
 * A build and an image read back resolve them here, so that their SBOMs agree.
 */
export function apkDependencies(installed: readonly Pick<ApkPackageInfo, 'name' | 'depends' | 'provides'>[]): string[][] {
  const names = new Set(installed.map((p) => p.name));
  const providers = new Map<string, string[]>();
  for (const info of installed) {
    for (const provided of info.provides) {
      const name = provided.split('=', 1)[0] ?? '';
      const list = providers.get(name);
      if (list === undefined) providers.set(name, [info.name]);
      else if (!list.includes(info.name)) list.push(info.name);
    }
  }
  return installed.map((info) => {
    const deps = new Set<string>();
    for (const atom of info.depends) {
      const name = atomName(atom);
      if (name === undefined) continue;
      for (const t of names.has(name) ? [name] : (providers.get(name) ?? [])) if (t !== info.name) deps.add(t);
    }
    return [...deps].sort();
  });
}
