import type { CelCompileError, CelOptions, CelProgram } from './cel.ts';

export type { CelCompileError, CelOptions, CelProgram } from './cel.ts';
export { CEL_LIMITS, type CelBudget, celBudget } from './cel-budget.ts';

/**
 * Compiles a CEL condition, or says why it does not compile (see cel.ts). Asynchronous because
 * the CEL implementation (@bufbuild/cel and @bufbuild/protobuf, over a hundred modules) is loaded
 * on first use rather than with the library (issue 16).
 */
export async function compileCel(expression: string, options: CelOptions = {}): Promise<CelProgram | CelCompileError> {
  return (await import('./cel.ts')).compileCel(expression, options);
}
export {
  type AttestationOutcome,
  type AuthorityOutcome,
  type EvaluateOptions,
  evaluatePolicies,
  type PolicyOutcome,
  type PolicyReport,
  type SignatureOutcome,
} from './evaluate.ts';
export { canonicalImageName, compileGlob, globMatches, policyImageName } from './glob.ts';
export { loadPolicyFile, type ParsePolicyOptions, POLICY_API_VERSIONS, parsePolicies } from './load.ts';
export { type DatedPackage, type ImagePackages, imagePackages, sbomPackages } from './packages.ts';
export { formatPolicyReport } from './report.ts';
export type {
  AttestationRule,
  Authority,
  BuiltinCheck,
  Condition,
  Identity,
  ImagePolicy,
  KeyAuthority,
  KeylessAuthority,
  Matcher,
  StaticAuthority,
} from './types.ts';
