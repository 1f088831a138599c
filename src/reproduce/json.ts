/** Comparing manifests' fields as JSON, for the differences a report names (./reproduce.ts, ./apko.ts). */
import { sameJson } from '../oci/json.ts';

/** A field's value in a difference: its JSON, or `absent`. */
export function shown(v: unknown): string {
  return v === undefined ? 'absent' : JSON.stringify(v);
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
  const keys = [...new Set([...Object.keys(original.annotations ?? {}), ...Object.keys(rebuilt.annotations ?? {})])].sort();
  for (const key of keys) {
    const a = original.annotations?.[key];
    const b = rebuilt.annotations?.[key];
    if (a !== b) out.push(`annotation ${key}: ${shown(a)} in ${within}, ${shown(b)} rebuilt`);
  }
  return out;
}
