/** `reproduce`: rebuild an image from its provenance and compare, per platform. */
export type { MismatchDetail } from './explain.ts';
export { type OverrideUse, overridden, type PackageFileChange, parseRepositoryOverride } from './fetch.ts';
export { type FoundProvenance, findProvenance, type ReproduceTrust } from './find.ts';
export { type ProvenancePackage, type ProvenanceReading, type ReplayPlan, readProvenance } from './provenance.ts';
export { renderReproduce } from './render.ts';
export {
  type PlatformMatch,
  type PlatformMismatch,
  type PlatformNotReplayable,
  type PlatformReproduction,
  type ReproduceOptions,
  type ReproduceProgress,
  type ReproduceReport,
  reproduceImage,
  type UsedProvenance,
} from './reproduce.ts';
