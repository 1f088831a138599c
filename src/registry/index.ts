export { type Challenge, findChallenge, parseChallenges } from './challenge.ts';
export {
  isLoopback,
  type PutManifestResult,
  type ReadBlobOptions,
  RegistryClient,
  type RegistryClientOptions,
  redactUrl,
  referrersTag,
  type UploadBlobOptions,
} from './client.ts';
export { type DistributionError, parseErrorBody } from './errors.ts';
export { type Link, nextLink, parseLinks } from './link.ts';
export { DEFAULT_RETRY, type RetryOptions } from './retry.ts';
