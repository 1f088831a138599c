/** Comparing manifests' fields as JSON, for the differences a report names (./reproduce.ts, ./apko.ts). */

/** A field's value in a difference: its JSON, or `absent`. */
export function shown(v: unknown): string {
  return v === undefined ? 'absent' : JSON.stringify(v);
}

/** Equal as JSON, whatever the order of object keys. */
export function sameJson(a: unknown, b: unknown): boolean {
  const canonical = (v: unknown): unknown =>
    v === null || typeof v !== 'object'
      ? v
      : Array.isArray(v)
        ? v.map(canonical)
        : Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
          );
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}
