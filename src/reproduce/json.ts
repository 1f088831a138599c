/** Comparing manifests' fields as JSON, for the differences a report names (./reproduce.ts, ./apko.ts). */
import { sameJson } from '../oci/json.ts';

/** A field's value in a difference: its JSON, or `absent`. */
export function shown(v: unknown): string {
  return v === undefined ? 'absent' : JSON.stringify(v);
}

/** The fields of two objects whose values differ as JSON, sorted: those either one has. */
export function differingFields<T extends object>(a: T, b: T): (keyof T & string)[] {
  const fields = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort() as (keyof T & string)[];
  return fields.filter((f) => !sameJson(a[f], b[f]));
}

/** The fields a manifest or an index has of its own, beside what it lists. */
interface OwnFields {
  schemaVersion?: number;
  mediaType?: string;
  artifactType?: string;
  subject?: unknown;
  annotations?: Record<string, string>;
}

/**
 * What differs in the own fields of a manifest or an index and its rebuild: `schemaVersion`,
 * `mediaType`, `artifactType` and `subject`, each by its whole JSON, then each annotation by
 * key, one line each (`subject: … in the original, absent rebuilt`, `in` naming the original).
 */
export function ownFieldDifferences(original: OwnFields, rebuilt: OwnFields, within: string): string[] {
  const out: string[] = [];
  for (const field of ['schemaVersion', 'mediaType', 'artifactType', 'subject'] as const) {
    if (!sameJson(original[field], rebuilt[field]))
      out.push(`${field}: ${shown(original[field])} in ${within}, ${shown(rebuilt[field])} rebuilt`);
  }
  const a = original.annotations ?? {};
  const b = rebuilt.annotations ?? {};
  for (const key of differingFields(a, b)) out.push(`annotation ${key}: ${shown(a[key])} in ${within}, ${shown(b[key])} rebuilt`);
  return out;
}
