/**
 * Dependencies before dependents, as package managers unpack them: a depth-first walk from each
 * item in name order, visiting its dependencies in name order. Ties and cycles resolve by name,
 * so the order (and so the tar and the database) is the same on every run.
 *
 * The walk keeps its own stack rather than recursing: a chain of 8,000 packages (each
 * Pre-Depending on the next, which a repository may publish) overflowed the call stack.
 */
export function dependencyOrder<T>(
  items: readonly T[],
  nameOf: (item: T) => string,
  dependenciesOf: (item: T) => readonly (T | undefined)[],
): T[] {
  const byName = (a: T, b: T): number => (nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0);
  const out: T[] = [];
  const seen = new Set<T>();
  /** An item being visited, its dependencies in name order, and how many of them were visited. */
  interface Visit {
    item: T;
    deps: T[];
    next: number;
  }
  const enter = (item: T): Visit => {
    seen.add(item);
    const deps = [...new Set(dependenciesOf(item))].filter((d): d is T => d !== undefined && d !== item).sort(byName);
    return { item, deps, next: 0 };
  };
  for (const root of [...items].sort(byName)) {
    if (seen.has(root)) continue;
    const stack = [enter(root)];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const d = top.deps[top.next++];
      if (d === undefined) {
        // Every dependency visited: the item follows them.
        stack.pop();
        out.push(top.item);
      } else if (!seen.has(d)) stack.push(enter(d));
    }
  }
  return out;
}
