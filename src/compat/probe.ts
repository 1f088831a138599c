/**
 * Asks a registry whether it has the referrers API, the way sigstore-js decides it
 * (sigstore/sigstore-js#1183): `GET /v2/<name>/referrers/<zero digest>` must answer 200 with an
 * OCI index. The `OCI-Subject` header on a manifest push is not taken as proof: ECR sent it before
 * it had the API, and some registries answer 200 to anything (sigstore/sigstore-js#1187), which is
 * why the answer must also be an index.
 */
import { isProvenantError } from '../errors.ts';
import type { OperationOptions } from '../io/types.ts';
import type { Digest } from '../oci/digest.ts';
import type { RegistryClient } from '../registry/client.ts';
import type { ReferrersApi } from './profile.ts';

/** The digest no manifest has: asking for its referrers costs the registry nothing. */
export const ZERO_DIGEST: Digest = `sha256:${'0'.repeat(64)}`;

/** What a probe found. */
export interface ReferrersProbe {
  readonly registry: string;
  readonly repository: string;
  /** `unknown` when the registry could not be asked (authentication, network). */
  readonly api: ReferrersApi;
  /** The HTTP status the registry answered; undefined when it could not be asked. */
  readonly status?: number | undefined;
  /** The answer's `Content-Type`, as sent. */
  readonly contentType?: string | undefined;
  /** What was asked and what came back, in words. */
  readonly detail: string;
  /**
   * The caller's word that the registry probed is the targets' (a probe made up for a test, or by
   * a caller that knows where the image goes): its answer then replaces every registry target's
   * fact. A probe {@link probeReferrersApi} makes is of the registry the image is in, which need
   * not be a target's, and is taken only where a profile does not know (see checkGraph).
   */
  readonly ofTargets?: boolean | undefined;
}

/**
 * Probes `repository` on the client's registry for the referrers API with one request
 * ({@link RegistryClient.probeReferrers}), and says what came back: the status, the content
 * type, and whether the body was an OCI index. Only a 200 with an index is an API. Errors other
 * than a 400, 404 or 405 (a 401, a 403, a network failure after retries) make the answer
 * `unknown`, with the error's words.
 */
export async function probeReferrersApi(
  client: RegistryClient,
  repository: string,
  options: OperationOptions = {},
): Promise<ReferrersProbe> {
  const asked = `GET /v2/${repository}/referrers/${ZERO_DIGEST}`;
  const base = { registry: client.registry, repository };
  try {
    const answer = await client.probeReferrers(repository, ZERO_DIGEST, options);
    const said = `${answer.status}${answer.contentType === undefined ? ' with no content type' : ` (${answer.contentType})`}`;
    const found = { ...base, status: answer.status, contentType: answer.contentType };
    if (answer.index) {
      return {
        ...found,
        api: 'present',
        detail: `${client.registry}: ${asked} answered ${said} with an OCI index (referrers API present)`,
      };
    }
    const body = answer.status === 200 ? ', not an OCI index' : '';
    return { ...found, api: 'absent', detail: `${client.registry}: ${asked} answered ${said}${body} (no referrers API)` };
  } catch (err) {
    if (isProvenantError(err, 'ABORTED')) throw err;
    const why = err instanceof Error ? err.message : String(err);
    return { ...base, api: 'unknown', detail: `${client.registry}: ${asked} failed (${why}); whether it has a referrers API is not known` };
  }
}
