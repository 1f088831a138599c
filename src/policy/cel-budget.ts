/**
 * The limits of a CEL condition and the budget evaluations draw on: what the policy code needs of
 * CEL before any condition is compiled, in a module of its own so that evaluating a policy without
 * conditions, or importing the library, does not load @bufbuild/cel (cel.ts and cel-limits.ts,
 * loaded on first use: issue 16).
 */

/** The limits of one CEL condition; docs/policy.md lists them. */
export const CEL_LIMITS = {
  /** Characters of the expression. */
  maxLength: 10_000,
  /** Nodes of the syntax tree, macros expanded. */
  maxNodes: 5_000,
  /** Depth of the syntax tree, macros expanded. */
  maxDepth: 100,
  /** Comprehensions (macros over a list or a map) inside one another. */
  maxComprehensionNesting: 3,
  /** Cost units of one evaluation: see `chargeCall` in cel-limits.ts for what a step costs. */
  costBudget: 10_000_000,
  /**
   * Cost units of all the evaluations of one verification (every condition on every statement):
   * a policy of a thousand conditions each just inside {@link costBudget} is still refused.
   */
  totalCostBudget: 50_000_000,
} as const;

/** A budget that several evaluations draw on together: {@link CEL_LIMITS}.totalCostBudget for one verification. */
export interface CelBudget {
  /** Units spent so far. */
  spent: number;
  /** Units it holds. */
  readonly limit: number;
}

/** A budget of `limit` units, none spent. */
export function celBudget(limit: number = CEL_LIMITS.totalCostBudget): CelBudget {
  return { spent: 0, limit };
}
