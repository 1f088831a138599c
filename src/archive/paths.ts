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
