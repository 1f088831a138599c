/**
 * Dependencies before dependents, as package managers unpack them: a depth-first walk from each
 * item in name order, visiting its dependencies in name order. Ties and cycles resolve by name,
 * so the order (and so the tar and the database) is the same on every run.
 */
export function dependencyOrder<T>(
  items: readonly T[],
  nameOf: (item: T) => string,
  dependenciesOf: (item: T) => readonly (T | undefined)[],
): T[] {
  const byName = (a: T, b: T): number => (nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0);
  const out: T[] = [];
  const seen = new Set<T>();
  const visit = (item: T): void => {
    if (seen.has(item)) return;
    seen.add(item);
    const deps = [...new Set(dependenciesOf(item))].filter((d): d is T => d !== undefined && d !== item).sort(byName);
    for (const d of deps) visit(d);
    out.push(item);
  };
  for (const item of [...items].sort(byName)) visit(item);
  return out;
}
