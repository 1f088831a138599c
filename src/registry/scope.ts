/**
 * Token scopes (https://distribution.github.io/distribution/spec/auth/scope/):
 * `repository:<name>:<action>[,<action>...]`. A token granted for some scopes serves any
 * request whose scopes it covers, so a `pull,push` token also serves pulls.
 */

/** `repository:NAME:pull` or `repository:NAME:pull,push`. */
export function repositoryScope(repository: string, actions: readonly ('pull' | 'push' | 'delete')[]): string {
  return `repository:${repository}:${[...new Set(actions)].join(',')}`;
}

/** A set of scopes, by resource (`type:name`), with their actions. */
export type ScopeSet = Map<string, Set<string>>;

/** Parses scope strings; the name may hold colons (the actions follow the last one). */
export function scopeSet(scopes: readonly string[]): ScopeSet {
  const out: ScopeSet = new Map();
  for (const scope of scopes) {
    for (const one of scope.split(' ')) {
      const last = one.lastIndexOf(':');
      if (last <= 0) continue;
      const resource = one.slice(0, last);
      const actions = out.get(resource) ?? new Set<string>();
      for (const a of one.slice(last + 1).split(',')) if (a !== '') actions.add(a);
      out.set(resource, actions);
    }
  }
  return out;
}

/** True when `granted` includes every action of every resource in `wanted`. */
export function covers(granted: ScopeSet, wanted: ScopeSet): boolean {
  for (const [resource, actions] of wanted) {
    const have = granted.get(resource);
    if (have === undefined) return false;
    for (const a of actions) if (!have.has(a) && !have.has('*')) return false;
  }
  return true;
}

/** A canonical key for a scope list (sorted resources and actions). */
export function scopeKey(scopes: readonly string[]): string {
  const set = scopeSet(scopes);
  return [...set.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([r, acts]) => `${r}:${[...acts].sort().join(',')}`)
    .join(' ');
}
