/** The lexical check every archive entry name passes before it may touch a folder. */
import { ProvenantError } from '../errors.ts';

/**
 * Normalizes a tar entry name to a relative POSIX path and refuses names that could write
 * outside the folder an archive is unpacked into.
 *
 * A leading `./`, repeated slashes, `.` components and a trailing slash are dropped, and `a/../b`
 * becomes `b`. The root itself (`./`, `.`) is returned as `.`. The check is lexical only: a
 * symlink inside the tree can still point elsewhere, which the code that writes the tree checks.
 *
 * @param name the entry name as stored in the archive
 * @param where where the name was found, for the error (an archive path and entry)
 * @returns the cleaned relative path, never starting with `/` and never holding a `..` component
 * @throws ProvenantError `UNSAFE_PATH` for an empty name, a NUL byte, an absolute path, or a
 *   `..` that climbs above the root
 */
export function cleanEntryPath(name: string, where?: string): string {
  const unsafe = (why: string): ProvenantError =>
    new ProvenantError('UNSAFE_PATH', `the archive entry name ${JSON.stringify(name)} ${why}`, {
      where,
      hint: 'the archive may be corrupt or crafted to write outside the target folder; do not unpack it',
    });
  if (name.length === 0) throw unsafe('is empty');
  if (name.includes('\0')) throw unsafe('holds a NUL byte');
  if (name.startsWith('/')) throw unsafe('is an absolute path');
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      // `a/../b` stays inside the root; only a `..` with nothing left to pop escapes it.
      if (parts.length === 0) throw unsafe('climbs above the root with ".."');
      parts.pop();
      continue;
    }
    parts.push(part);
  }
  return parts.length === 0 ? '.' : parts.join('/');
}

/** The prefix that makes a name an OCI whiteout in a layer: `.wh.NAME` deletes NAME, `.wh..wh..opq` a folder's contents. */
export const WHITEOUT_PREFIX = '.wh.';

/**
 * The first part of a relative `/`-separated path that starts with `.wh.`, or undefined. In an
 * image layer such a name is no file but a whiteout, which deletes files of the layers below
 * (https://github.com/opencontainers/image-spec/blob/main/layer.md#whiteouts: a file system
 * "which has a file or directory with a name beginning with .wh." cannot be represented). Layer
 * readers need these names (see cleanEntryPath); a package's entries and a config's paths never
 * may: once packages are layered one per layer, a package holding `etc/.wh.passwd` would delete
 * another package's file from the running image.
 */
export function whiteoutPart(path: string): string | undefined {
  if (!path.includes(WHITEOUT_PREFIX)) return undefined;
  return path.split('/').find((part) => part.startsWith(WHITEOUT_PREFIX));
}

/**
 * Refuses a package's data entry whose cleaned `path` has a whiteout part ({@link whiteoutPart}).
 *
 * @param name the entry name as the package stores it
 * @param where the package, for the error
 * @throws ProvenantError `UNSAFE_PATH` naming the package and the entry
 */
export function refuseWhiteoutEntry(path: string, name: string, where: string): void {
  const part = whiteoutPart(path);
  if (part === undefined) return;
  throw new ProvenantError(
    'UNSAFE_PATH',
    `the entry ${JSON.stringify(name)} has the part ${JSON.stringify(part)}, an OCI whiteout name: in an image layer it would delete files of other packages`,
    {
      where: `${where}: ${JSON.stringify(name)}`,
      hint: 'no file system of an image can hold a name starting with ".wh."; the package is crafted or broken',
    },
  );
}
