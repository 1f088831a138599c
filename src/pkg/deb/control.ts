/**
 * Debian control files (deb822): Packages, Release, InRelease's body, a .deb's control file, the
 * dpkg status database. Shared by the deb repository reader, the build and the SBOM readers.
 */
import { ProvenantError } from '../../errors.ts';

/**
 * Parses Debian control stanzas (deb-control(5), deb822(5)): `Field: value` lines, continuation
 * lines starting with a space or tab, stanzas separated by blank lines. Field names are matched
 * case-insensitively, so they are returned lowercased; continuation lines are joined with `\n`.
 *
 * @throws ProvenantError `INVALID_PACKAGE` for a line that is neither a field nor a continuation
 */
export function parseControlStanzas(text: string, where: string): Record<string, string>[] {
  const stanzas: Record<string, string>[] = [];
  let current: Record<string, string> = {};
  let lastKey: string | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').replace(/\r$/, '');
    if (line.trim() === '') {
      if (Object.keys(current).length > 0) stanzas.push(current);
      current = {};
      lastKey = undefined;
      continue;
    }
    if (line.startsWith('#')) continue;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (lastKey === undefined) {
        throw new ProvenantError('INVALID_PACKAGE', `line ${i + 1} continues a field, but no field precedes it`, {
          where: `${where}:${i + 1}`,
        });
      }
      if (lastKey !== '__proto__') current[lastKey] = `${current[lastKey] ?? ''}\n${line.slice(1)}`;
      continue;
    }
    const m = /^([!-9;-~][!-9;-~]*):(.*)$/.exec(line);
    if (m === null) {
      throw new ProvenantError('INVALID_PACKAGE', `line ${i + 1} is not a "Field: value" line: ${JSON.stringify(line.slice(0, 80))}`, {
        where: `${where}:${i + 1}`,
      });
    }
    lastKey = (m[1] as string).toLowerCase();
    // A field named __proto__ cannot be a plain object's own field; no real control file has one.
    if (lastKey !== '__proto__') current[lastKey] = (m[2] as string).trim();
  }
  if (Object.keys(current).length > 0) stanzas.push(current);
  return stanzas;
}
