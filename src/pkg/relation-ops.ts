/**
 * Version relation operators between apk's and Debian's spellings: what a configuration's
 * package entry and a message write in the other ecosystem's syntax. Outside deb/, so that a
 * check of an apk configuration loads no Debian module.
 */
import type { DebConstraintOp } from './deb/version.ts';

/**
 * Debian's relation operators as apk writes them: Debian's `<<` and `>>` are apk's strict `<` and
 * `>`, and its obsolete `<` and `>` mean `<=` and `>=`. Read backwards ({@link debOpOfApk}), the
 * first entry of an apk operator is the Debian one to write.
 */
export const APK_OP_OF_DEB: Readonly<Record<DebConstraintOp, string>> = {
  '<<': '<',
  '<=': '<=',
  '=': '=',
  '>=': '>=',
  '>>': '>',
  '<': '<=',
  '>': '>=',
};

/** apk's relation operator (`<`, `>=`) as Debian writes it (`<<`, `>=`); undefined for one Debian has not. */
export function debOpOfApk(op: string): DebConstraintOp | undefined {
  return (Object.keys(APK_OP_OF_DEB) as DebConstraintOp[]).find((d) => APK_OP_OF_DEB[d] === op);
}

/**
 * An operator a person wrote beside a version, apk's (`>=`, `<`) or Debian's own strict `<<` and
 * `>>`, as Debian writes it (`>=`, `<<`); undefined for one Debian has not (`~`).
 */
export function debOpOfWritten(op: string): DebConstraintOp | undefined {
  return op === '<<' || op === '>>' ? op : debOpOfApk(op);
}
