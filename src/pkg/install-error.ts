/** What an error met installing a package's entry into the image's tree says of the package. */
import { ProvenantError } from '../errors.ts';

/**
 * `err` met installing `path` of the package `where` (its label, `name-version` or the .deb's
 * file name), said as the package's: the tree names only the path it refused (`cannot replace
 * the folder "usr/d", which is not empty, with a file`). Its code and hint stay. An error that
 * names the package already (its place is the package, or an entry of it) is kept as it is, and
 * so is one not Provenant's (a SpillRefused: the build installs again).
 */
export function namingPackage(err: unknown, where: string, path: string): unknown {
  if (!(err instanceof ProvenantError) || err.where === where || err.where?.startsWith(`${where}:`) === true) return err;
  const at = err.where === undefined ? '' : ` at ${err.where}`;
  return new ProvenantError(err.code, `${where}: cannot install /${path}: ${err.message}${at}`, { where, cause: err, hint: err.hint });
}
