/**
 * Extended attributes of a package's tar entry: GNU tar and libarchive write them as PAX
 * records `SCHILY.xattr.<name>`, and both the apk and the Debian installer keep them on the node.
 */

/** The `SCHILY.xattr.*` records of an entry's PAX header, by attribute name; undefined when none. */
export function xattrsOf(pax: Record<string, string> | undefined): Record<string, string> | undefined {
  if (pax === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(pax)) if (k.startsWith('SCHILY.xattr.')) out[k.slice('SCHILY.xattr.'.length)] = v;
  return Object.keys(out).length === 0 ? undefined : out;
}
