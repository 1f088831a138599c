// dependencyOrder: the install order of Debian and apk builds, checked against the recursive walk
// it replaced (the same order, whatever the graph) and on a chain longer than the call stack allows.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { dependencyOrder } from '../../src/pkg/order.ts';

interface Item {
  name: string;
  deps: (Item | undefined)[];
}

/** The recursive walk dependencyOrder was until it overflowed the call stack on long chains. */
function recursiveOrder(items: readonly Item[]): Item[] {
  const byName = (a: Item, b: Item): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const out: Item[] = [];
  const seen = new Set<Item>();
  const visit = (item: Item): void => {
    if (seen.has(item)) return;
    seen.add(item);
    const deps = [...new Set(item.deps)].filter((d): d is Item => d !== undefined && d !== item).sort(byName);
    for (const d of deps) visit(d);
    out.push(item);
  };
  for (const item of [...items].sort(byName)) visit(item);
  return out;
}

const order = (items: readonly Item[]) =>
  dependencyOrder(
    items,
    (i) => i.name,
    (i) => i.deps,
  );

describe('dependencyOrder', () => {
  it('orders as the recursive walk did: dependencies first, ties and cycles by name (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 12 }).chain((n) =>
          fc.tuple(
            // Names may repeat: items are told apart by identity, and sorted by name.
            fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g'), { minLength: n, maxLength: n }),
            fc.array(fc.array(fc.integer({ min: -1, max: Math.max(0, n - 1) }), { maxLength: 5 }), { minLength: n, maxLength: n }),
            fc.array(fc.integer({ min: 0, max: Math.max(0, n - 1) }), { maxLength: n }),
          ),
        ),
        ([names, edges, roots]) => {
          const all: Item[] = names.map((name) => ({ name, deps: [] }));
          for (const [i, targets] of edges.entries()) all[i]!.deps = targets.map((t) => (t < 0 ? undefined : all[t]));
          // Only some items given: the others are reached as dependencies.
          const items = roots.length === 0 ? all : [...new Set(roots.map((r) => all[r]!))];
          assert.deepEqual(order(items), recursiveOrder(items));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('orders a chain of 50,000 packages, each depending on the next, without overflowing the call stack', () => {
    const n = 50_000;
    const chain: Item[] = Array.from({ length: n }, (_, i) => ({ name: `c${String(i).padStart(5, '0')}`, deps: [] }));
    // The last depends on the first, as the reviewer's chain did: a cycle through them all.
    for (let i = 0; i < n; i++) chain[i]!.deps = [chain[(i + 1) % n]];
    const out = order([chain[0]!]);
    assert.equal(out.length, n);
    // From the first: its dependency chain walked to the end, so the last comes first.
    assert.deepEqual(
      out.slice(0, 3).map((i) => i.name),
      ['c49999', 'c49998', 'c49997'],
    );
    assert.equal(out[n - 1], chain[0]);
  });
});
