/**
 * Extended attributes of a package's tar entry: GNU tar and libarchive write them as PAX
 * records `SCHILY.xattr.<name>`, and both the apk and the Debian installer keep them on the node.
 * A value is a byte string (../archive/tar-format.ts, `TarHeader.pax`): a file capability's NUL
 * bytes reach the layer as they were in the package, as apk-tools and apko keep them.
 */
import { isXattrKey, XATTR_PREFIX } from '../archive/tar.ts';

/** The `SCHILY.xattr.*` records of an entry's PAX header, by attribute name (values byte strings); undefined when none. */
export function xattrsOf(pax: Record<string, string> | undefined): Record<string, string> | undefined {
  if (pax === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(pax)) if (isXattrKey(k)) out[k.slice(XATTR_PREFIX.length)] = v;
  return Object.keys(out).length === 0 ? undefined : out;
}
