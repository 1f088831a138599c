export { CEL_VARIABLES, type CelCompileError, type CelOptions, type CelProgram, compileCel } from './cel.ts';
export { CEL_LIMITS, type CelBudget, celBudget } from './cel-limits.ts';
export {
  type AttestationOutcome,
  type AuthorityOutcome,
  type EvaluateOptions,
  evaluatePolicies,
  type PolicyOutcome,
  type PolicyReport,
  type SignatureOutcome,
} from './evaluate.ts';
export { canonicalImageName, compileGlob, globMatches } from './glob.ts';
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
