/** What an error met installing a package's entry into the image's tree says of the package. */
import { ProvenantError } from '../errors.ts';

/**
 * `err` met installing `path` of the package `where` (its label, `name-version` or the .deb's
 * file name), said as the package's: the tree names only the path it refused (`cannot replace
 * the folder "usr/d", which is not empty, with a file`). Its code and hint stay. An error that
 * names the package already (its place is the package, or an entry of it) is kept as it is, and
 * so is one not Provenant's (a SpillRefused: the build installs again).
 */
export function namingPackage(err: unknown, where: string, path: string | undefined): unknown {
  if (!(err instanceof ProvenantError) || err.where === where || err.where?.startsWith(`${where}:`) === true) return err;
  // A file the message names already (the cache's index of a kept package) is not named again.
  const named = err.where?.startsWith('/') === true && err.message.includes(err.where);
  const at = err.where === undefined || named ? '' : ` at ${err.where}`;
  const doing = path === undefined ? '' : `cannot install /${path}: `;
  return new ProvenantError(err.code, `${where}: ${doing}${err.message}${at}`, { where, cause: err, hint: err.hint });
}

/** The entry of a package being installed, for {@link namingPackage}: undefined while none is. */
export interface Installing {
  path: string | undefined;
}

/**
 * `entries` as they are walked, `installing.path` the path of the one the caller holds, and
 * undefined while the next is read: a kept package's records are read a window at a time as the
 * walk goes (./unpacked-index.ts), and an error reading them is no entry's.
 */
export function* tracked<E extends { path: string }>(entries: Iterable<E>, installing: Installing): Generator<E> {
  installing.path = undefined;
  for (const entry of entries) {
    installing.path = entry.path;
    yield entry;
    installing.path = undefined;
  }
}
