/** Comparing JSON values as JSON: what a manifest, an index or a config says, whatever encoder wrote it. */

/** `v` with every object's keys sorted by UTF-16 code units (not by locale), arrays in their order. */
function sortedKeys(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(sortedKeys);
  return Object.fromEntries(
    Object.keys(v)
      .sort()
      .map((k) => [k, sortedKeys((v as Record<string, unknown>)[k])]),
  );
}

/**
 * Equal as JSON, whatever the order of object keys: two encoders' key orders compare equal. A
 * key whose value is undefined is left out, as JSON leaves it; undefined itself equals only
 * undefined (an absent field is not one that is `null`).
 */
export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortedKeys(a)) === JSON.stringify(sortedKeys(b));
}
