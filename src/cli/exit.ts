/** The CLI's exit codes, one per kind of error code. */
import type { ErrorCode } from '../errors.ts';
import type { CommandSpec } from './command.ts';

/**
 * Exit codes: 0 success, 1 any other error, 2 usage (the command line or a reference was
 * wrong), 3 not found, 4 authentication or authorization, 5 integrity or trust (a digest, size or
 * signature did not verify, a key is not trusted, or a server's TLS certificate did not verify),
 * 6 network after retries, 130 cancelled. A certificate is not a network failure: retrying
 * brings the same certificate back, so scripts that retry on 6 must not see it.
 * 7: a target (registry or runtime) would refuse the image (`check`, `fix`).
 */
export function exitCodeFor(code: ErrorCode): number {
  switch (code) {
    case 'USAGE':
    case 'INVALID_REFERENCE':
    case 'INVALID_CONFIG':
    case 'INSECURE':
      return 2;
    case 'NOT_FOUND':
    case 'NO_MATCHING_PLATFORM':
      return 3;
    case 'UNAUTHORIZED':
    case 'DENIED':
    case 'CREDENTIALS':
      return 4;
    case 'DIGEST_MISMATCH':
    case 'SIZE_MISMATCH':
    case 'SIGNATURE':
    case 'UNTRUSTED_KEY':
    case 'TLS_CERTIFICATE':
      return 5;
    case 'NETWORK':
    case 'TOO_MANY_REQUESTS':
      return 6;
    case 'INCOMPATIBLE':
      return 7;
    case 'ABORTED':
      return 130;
    default:
      return 1;
  }
}

/**
 * The exit code of a command that failed: the usual one for the error's code (1 for an error
 * that has none), unless the command maps it to another ({@link CommandSpec.errorExitCodes}).
 */
export function errorExitCode(code: ErrorCode | undefined, spec: Pick<CommandSpec, 'errorExitCodes'> | undefined): number {
  const usual = code === undefined ? 1 : exitCodeFor(code);
  return spec?.errorExitCodes?.[usual] ?? usual;
}
