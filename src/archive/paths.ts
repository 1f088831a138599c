/** The lexical check every archive entry name passes before it may touch a folder. */
import { abbreviated, utf8LengthAbove } from '../bytes.ts';
import { ProvenantError } from '../errors.ts';
import type { TarHeader } from './tar-format.ts';

/**
 * The most bytes (UTF-8) an entry name or a link target may have: Linux's PATH_MAX. The kernel
 * refuses a longer path in one system call (ENAMETOOLONG), and dpkg, apk-tools and GNU tar give
 * the name as stored to that call, so no package they install has one. A longer name is no file
 * any system holds, but it costs: PAX `path` and `linkpath` records may hold a MiB, and the
 * tree (../vfs/tree.ts) keys every folder of a path by its full path, so a path's folders cost
 * memory in the square of its depth (`a/` 100,000 times, in a 708-byte .deb, filled the heap).
 */
export const PATH_MAX = 4096;

/**
 * The most parts (folders and the name) an entry name may have. PATH_MAX bounds it at 2,048
 * (`a/a/...`); real packages stay below 30. Tree's cost in the square of the depth is then a few
 * MB at the worst for a name at both limits.
 */
export const PATH_PARTS_MAX = 1024;

/**
 * Normalizes a tar entry name to a relative POSIX path and refuses names that could write
 * outside the folder an archive is unpacked into, or that no file system holds.
 *
 * A leading `./`, repeated slashes, `.` components and a trailing slash are dropped, and `a/../b`
 * becomes `b`. The root itself (`./`, `.`) is returned as `.`. The check is lexical only: a
 * symlink inside the tree can still point elsewhere, which the code that writes the tree checks.
 *
 * @param name the entry name as stored in the archive
 * @param where where the name was found, for the error (an archive path and entry)
 * @returns the cleaned relative path, never starting with `/` and never holding a `..` component
 * @throws ProvenantError `UNSAFE_PATH` for an empty name, a NUL byte, an absolute path, a `..`
 *   that climbs above the root, a name of more than {@link PATH_MAX} bytes or a path of more
 *   than {@link PATH_PARTS_MAX} parts
 */
export function cleanEntryPath(name: string, where?: string): string {
  const unsafe = (
    why: string,
    hint = 'the archive may be corrupt or crafted to write outside the target folder; do not unpack it',
  ): ProvenantError =>
    // A name refused for its length is shown cut short, and so is a `where` that holds it.
    new ProvenantError('UNSAFE_PATH', `the archive entry name ${JSON.stringify(abbreviated(name))} ${why}`, {
      where: where === undefined ? undefined : abbreviated(where),
      hint,
    });
  const tooLong = 'no file system holds such a path (Linux refuses one longer than PATH_MAX): the archive is corrupt or crafted';
  if (name.length === 0) throw unsafe('is empty');
  const bytes = utf8LengthAbove(name, PATH_MAX);
  if (bytes > PATH_MAX) throw unsafe(`is ${bytes} bytes long, more than PATH_MAX (${PATH_MAX})`, tooLong);
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
    if (parts.push(part) > PATH_PARTS_MAX) throw unsafe(`has more than ${PATH_PARTS_MAX} parts`, tooLong);
  }
  return parts.length === 0 ? '.' : parts.join('/');
}

/**
 * Why a link's target (a symlink's, or a hardlink's as stored) is none a link can have, or
 * undefined: empty (symlink(2) and link(2) refuse it), or holding a NUL, where every system call
 * would cut it short (`libfoo.so.1\0/../../etc/shadow` is not the path it shows).
 */
export function unusableLinkTarget(linkname: string): string | undefined {
  if (linkname.length === 0) return 'is empty';
  if (linkname.includes('\0')) return 'holds a NUL byte';
  return undefined;
}

/**
 * Refuses an entry's link target that no link can have: a symlink's or a hardlink's that is
 * empty or holds a NUL ({@link unusableLinkTarget}), and any entry's longer than
 * {@link PATH_MAX} bytes, which symlink(2) refuses too (the tree walks a symlink's target part
 * by part each time a path goes through it). Refused as the package is read, such a target
 * would otherwise fail only when the layer is written, naming no package.
 *
 * @param header the entry's type and its target as the archive stores it
 * @param name the entry's name as stored, for the error
 * @param where the archive (a package), for the error
 * @throws ProvenantError `UNSAFE_PATH` naming the archive and the entry
 */
export function refuseLinkTarget(header: Pick<TarHeader, 'type' | 'linkname'>, name: string, where: string): void {
  const { type, linkname } = header;
  const unsafe = (why: string, hint: string): ProvenantError =>
    new ProvenantError('UNSAFE_PATH', `the ${type} ${JSON.stringify(abbreviated(name))} ${why}`, {
      where: `${where}: ${JSON.stringify(abbreviated(name))}`,
      hint,
    });
  const unusable = type === 'symlink' || type === 'hardlink' ? unusableLinkTarget(linkname) : undefined;
  if (unusable !== undefined) {
    throw unsafe(
      `has a target that ${unusable}: ${JSON.stringify(abbreviated(linkname))}`,
      'no file system holds such a link: the package is corrupt or crafted',
    );
  }
  const bytes = utf8LengthAbove(linkname, PATH_MAX);
  if (bytes <= PATH_MAX) return;
  throw unsafe(
    `links to a target of ${bytes} bytes, more than PATH_MAX (${PATH_MAX})`,
    'no file system holds such a link (Linux refuses one longer than PATH_MAX): the archive is corrupt or crafted',
  );
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
