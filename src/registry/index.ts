export { type Challenge, findChallenge, parseChallenges } from './challenge.ts';
export { type PutManifestResult, type ReadBlobOptions, RegistryClient, type RegistryClientOptions } from './client.ts';
export { type DistributionError, parseErrorBody } from './errors.ts';
export { isLoopback, redactUrl } from './http.ts';
export { type Link, nextLink, parseLinks } from './link.ts';
export { referrersTag } from './referrers.ts';
export { DEFAULT_RETRY, type RetryOptions } from './retry.ts';
export type { UploadBlobOptions } from './uploads.ts';
