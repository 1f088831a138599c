export { type LsRemoteOptions, lsRemote, parseLsRemote, type RemoteRefs, type ResolvedRef, resolveRef } from './git.ts';
export {
  DEFAULT_GIT_BASE,
  type ImageResolver,
  imageDigestResolver,
  type PinEntry,
  type PinFileResult,
  type PinKind,
  type PinOptions,
  type PinResult,
  type PinSkipped,
  pinWorkflows,
  writePinned,
} from './pin.ts';
export { applyReplacements, type CommentChange, type Replacement } from './rewrite.ts';
export { type ScalarStyle, type ScanResult, scanUses, type UsesSite } from './scan.ts';
export { type ActionTarget, type DockerTarget, type LocalTarget, parseUses, type UsesContext, type UsesTarget } from './uses.ts';
