/**
 * Target compatibility: which registries and runtimes take an image, and the smallest change
 * that makes one take it. Profiles are data (profiles/*.yaml); detectors, fixes and the registry
 * probe are code shared by every profile.
 */
export {
  type CheckOptions,
  type CheckReport,
  checkGraph,
  checkImage,
  type Problem,
  resolveProbe,
  type TargetReport,
  type Verdict,
} from './check.ts';
export { DETECTORS, type Detector, type DetectorContext, type Finding, type ReferrersApiFact } from './detectors.ts';
export { fixLabel, renderTargetsDoc } from './docs.ts';
export {
  type AttachmentStorageChoice,
  type AttachmentStorages,
  type AttachmentStoragesOptions,
  attachmentStoragesFor,
  attestationsSignedAgain,
  type FixOptions,
  type FixReport,
  fixImage,
  type NotSigned,
  type RemadeAttestation,
  type Resigner,
  type SignedAfterFix,
  type SignedInfo,
  type SignedStatement,
  type SigningReport,
  signedAfterFix,
} from './fix.ts';
export { type ImageGraph, type ReadGraphOptions, readImageGraph } from './graph.ts';
export { DETECTOR_PARAMS, type DetectorName, FIX_PARAMS, type FixId, type Params } from './params.ts';
export { type Change, type Dropped, type Plan, type PlannedDoc, planFromGraph, type Rename } from './plan.ts';
export { PlannedStore } from './planned-store.ts';
export { probeReferrersApi, type ReferrersProbe, ZERO_DIGEST } from './probe.ts';
export {
  BUILTIN_PROFILES_DIR,
  type Certainty,
  type LoadProfilesOptions,
  loadProfiles,
  type Profile,
  parseProfile,
  type ReferrersApi,
  type Rule,
  type SelectTargetsOptions,
  type Severity,
  selectTargets,
  type Target,
  targetOf,
} from './profile.ts';
export { TRANSFORMS } from './transforms.ts';
