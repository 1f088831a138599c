/**
 * Extended attributes of a package's tar entry: GNU tar and libarchive write them as PAX
 * records `SCHILY.xattr.<name>`, and both the apk and the Debian installer keep them on the node.
 * A value is a byte string (../archive/tar-format.ts, `TarHeader.pax`): a file capability's NUL
 * bytes reach the layer as they were in the package, as apk-tools and apko keep them.
 *
 * What overlay file systems read as their own bookkeeping is refused ({@link refuseOverlayControl}).
 */
import { isXattrKey, type TarHeader, XATTR_PREFIX } from '../archive/tar.ts';
import { ProvenantError } from '../errors.ts';

/** The `SCHILY.xattr.*` records of an entry's PAX header, by attribute name (values byte strings); undefined when none. */
export function xattrsOf(pax: Record<string, string> | undefined): Record<string, string> | undefined {
  if (pax === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(pax)) if (isXattrKey(k)) out[k.slice(XATTR_PREFIX.length)] = v;
  return Object.keys(out).length === 0 ? undefined : out;
}

/**
 * Attribute namespaces an overlay file system keeps its own state in, which a container runtime
 * that unpacks a layer onto one sets as it finds them:
 * - `trusted.*`: the kernel's overlayfs keeps `trusted.overlay.opaque`, `.redirect`, `.origin`,
 *   `.metacopy`... there (https://docs.kernel.org/filesystems/overlayfs.html, "Whiteouts and opaque
 *   directories"); the namespace needs CAP_SYS_ADMIN and nothing a package installs belongs in it.
 * - `user.overlay.*`: the same attributes for overlayfs mounted with `userxattr` (rootless).
 * - `user.fuseoverlayfs.*`, `user.containers.*`: fuse-overlayfs's opaque marker and the
 *   `override_stat` that makes it report another owner and mode than the file has.
 */
const OVERLAY_XATTR_PREFIXES = ['trusted.', 'user.overlay.', 'user.fuseoverlayfs.', 'user.containers.'] as const;

/** Whether an extended attribute's `name` is one an overlay file system reads as its own ({@link OVERLAY_XATTR_PREFIXES}). */
export function isOverlayXattr(name: string): boolean {
  return OVERLAY_XATTR_PREFIXES.some((prefix) => name.startsWith(prefix));
}

/**
 * Refuses a package's data entry that an overlay file system would take for its own bookkeeping
 * once the package is a layer, as a name starting with `.wh.` is refused (../archive/paths.ts,
 * `refuseWhiteoutEntry`), and for the same reason: a folder marked opaque
 * (`trusted.overlay.opaque=y`) hides every file the layers below put in it, and a character
 * device 0/0 is overlayfs's own whiteout (https://docs.kernel.org/filesystems/overlayfs.html),
 * which deletes the file of that name below. The image would lack files that the package
 * database and the SBOM list. Refused, not dropped, as apko keeps every attribute as it is: such
 * a package is crafted or broken, and an image without what it carries is not the package.
 * Other attributes (`security.capability`, `security.selinux`, `system.posix_acl_access`,
 * `user.*`) stay.
 *
 * @param header the entry's tar header
 * @param where the package, for the error
 * @throws ProvenantError `UNSAFE_PATH` naming the entry (its name as the package stores it) and the attribute or device
 */
export function refuseOverlayControl(header: TarHeader, where: string): void {
  const entry = JSON.stringify(header.name);
  if (header.type === 'char' && header.devmajor === 0 && header.devminor === 0) {
    throw new ProvenantError(
      'UNSAFE_PATH',
      `the entry ${entry} is a character device 0/0, an overlayfs whiteout: in an image layer it would delete files of other packages`,
      {
        where,
        hint: 'no package installs a device 0/0; the package is crafted or broken',
      },
    );
  }
  if (header.pax === undefined) return;
  for (const key of Object.keys(header.pax)) {
    if (!isXattrKey(key)) continue;
    const name = key.slice(XATTR_PREFIX.length);
    if (!isOverlayXattr(name)) continue;
    throw new ProvenantError(
      'UNSAFE_PATH',
      `the entry ${entry} carries the extended attribute ${JSON.stringify(name)}, which overlay file systems read as their own: in an image layer it could hide or change files of other packages`,
      {
        where,
        hint: 'packages never carry trusted.*, user.overlay.*, user.fuseoverlayfs.* or user.containers.* attributes; the package is crafted or broken',
      },
    );
  }
}
