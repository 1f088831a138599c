/**
 * Referrers (OCI distribution 1.1): the `GET /v2/<name>/referrers/<digest>` API, and the name of
 * the `sha256-<hex>` tag that registries without it use instead.
 */

import { ProvenantError } from '../errors.ts';
import type { OperationOptions } from '../io/types.ts';
import type { Digest } from '../oci/digest.ts';
import { isIndexType, MediaType } from '../oci/mediatypes.ts';
import type { Descriptor } from '../oci/types.ts';
import { assertIndex } from '../oci/validate.ts';
import { type DistributionError, parseErrorBody } from './errors.ts';
import {
  type Answer,
  baseType,
  drain,
  LIST_BYTES,
  MiB,
  parseJsonObject,
  readErrorText,
  readLimited,
  readListPage,
  targetWhere,
} from './http.ts';
import { nextLink } from './link.ts';
import { repositoryScope } from './scope.ts';
import type { Transport } from './transport.ts';

/**
 * What a client has learnt about the referrers API, by repository: false once the repository
 * answered that it has none. Per repository, not per registry: a bare 404 cannot be told from a
 * missing repository on a registry that sends no error body, and registries that route
 * repositories to different back ends (proxy caches, virtual repositories) may serve the API for
 * some and not others. At worst that is one more request per repository.
 */
export type ReferrersSupport = Map<string, boolean>;

/**
 * The referrers API: descriptors of manifests whose `subject` is `digest`, filtered by
 * `artifactType` (by the registry when it says so in `OCI-Filters-Applied`, else here).
 * Undefined when the registry has no referrers API for the repository, which `support` then
 * remembers: the caller reads the `sha256-<hex>` tag instead. "No API" is a 400, 404 or 405
 * that does not say NAME_UNKNOWN, or an answer that is no index (the spec: "Assuming a
 * repository is found, this request MUST return a 200"); a missing repository is undefined too
 * but not remembered, and a failed request (a dropped connection, a cancel) is thrown.
 */
export async function listReferrers(
  t: Transport,
  support: ReferrersSupport,
  repository: string,
  digest: Digest,
  options: OperationOptions & { artifactType?: string | undefined },
): Promise<Descriptor[] | undefined> {
  if (support.get(repository) === false) return undefined;
  const op = t.op(options);
  const where = targetWhere(t.registry, repository, digest);
  const query = options.artifactType === undefined ? '' : `?artifactType=${encodeURIComponent(options.artifactType)}`;
  let url: URL | undefined = await t.url(`/v2/${repository}/referrers/${digest}${query}`, op);
  const out: Descriptor[] = [];
  const seen = new Set<string>();
  let left = LIST_BYTES;
  while (url !== undefined) {
    if (seen.has(url.href) || seen.size >= 1000) {
      throw new ProvenantError('REGISTRY', `${t.registry} paginates the referrers list in a loop`, { where });
    }
    seen.add(url.href);
    // The body is read under the request's retries: a connection dropped in it is tried again,
    // and fails as NETWORK (or ABORTED), never as an answer about the API.
    const page = await t.sendAndRead(
      {
        method: 'GET',
        url,
        scopes: [repositoryScope(repository, ['pull'])],
        repository,
        headers: { accept: MediaType.OciIndex },
        accept: [200, 404, 400, 405],
        what: `list referrers of ${digest}`,
        where,
        op,
      },
      async (answer): Promise<Page> => {
        const { res } = answer;
        if (res.status !== 200) return { kind: 'status', answer, said: parseErrorBody(await readErrorText(res)) };
        if (!isIndexType(baseType(res.headers.get('content-type')) ?? MediaType.OciIndex)) {
          await drain(res);
          return { kind: 'not-index', answer };
        }
        return { kind: 'body', answer, bytes: await readListPage(res, left, where, 'referrers list') };
      },
    );
    const { answer } = page;
    const { res } = answer;
    if (page.kind === 'status' && seen.size === 1) {
      if (page.said.some((e) => e.code === 'NAME_UNKNOWN')) {
        // No such repository: it has no referrers, which says nothing about the API.
        op.logger.debug(`${where}: the repository is unknown (NAME_UNKNOWN); no referrers`);
        return undefined;
      }
      support.set(repository, false);
      op.logger.debug(`${where}: the referrers endpoint answered ${res.status}; using the tag fallback`);
      return undefined;
    }
    if (page.kind !== 'body') {
      if (seen.size === 1) {
        support.set(repository, false);
        return undefined;
      }
      // The first page said the API is there: a later one that is not a page of it would leave
      // the list cut short without a word.
      const what = page.kind === 'status' ? `answered ${res.status}` : 'is not an OCI index';
      throw new ProvenantError('REGISTRY', `page ${seen.size} of the referrers list of ${digest} ${what}`, {
        where,
        hint: 'the registry failed in the middle of a paginated listing; try again',
      });
    }
    left -= page.bytes.length;
    let index: ReturnType<typeof assertIndex>;
    try {
      index = assertIndex(parseJsonObject(page.bytes, where, 'referrers index'), where);
    } catch (err) {
      if (seen.size === 1) {
        support.set(repository, false);
        op.logger.debug(`${t.registry}: the referrers endpoint did not answer with an index; using the tag fallback`);
        return undefined;
      }
      throw err;
    }
    support.set(repository, true);
    const filtered = (res.headers.get('oci-filters-applied') ?? '').split(',').some((f) => f.trim() === 'artifactType');
    for (const d of index.manifests) {
      if (options.artifactType === undefined || filtered || d.artifactType === options.artifactType) out.push(d);
    }
    url = nextLink(res.headers.get('link'), answer.url);
  }
  return out;
}

/** One page of a referrers listing as it came back: a status other than 200, a 200 that is no index, or a body to parse. */
type Page =
  | { kind: 'status'; answer: Answer; said: DistributionError[] }
  | { kind: 'not-index'; answer: Answer }
  | { kind: 'body'; answer: Answer; bytes: Uint8Array };

/** What one `GET /v2/<name>/referrers/<digest>` answered, as a probe reports it. */
export interface ReferrersEndpointAnswer {
  /** The HTTP status (after redirects and authentication). */
  status: number;
  /** The `Content-Type` header as sent, undefined when there was none. */
  contentType: string | undefined;
  /** The body is an OCI image index (a 200 that is not one is no referrers API). */
  index: boolean;
  /** How many descriptors the index listed (first page), when it is one. */
  manifests: number | undefined;
}

/**
 * Asks the referrers endpoint once, as sigstore-js decides whether a registry has the API
 * (sigstore/sigstore-js#1183), and says exactly what came back: the status, the content type
 * and whether the body is an OCI index. A 200, 400, 404 or 405 is an answer; anything else
 * (401 after credentials, 403, a 5xx after retries) is thrown as the registry's error.
 */
export async function probeReferrersEndpoint(
  t: Transport,
  repository: string,
  digest: Digest,
  options: OperationOptions,
): Promise<ReferrersEndpointAnswer> {
  const op = t.op(options);
  const where = targetWhere(t.registry, repository, digest);
  const { res, bytes } = await t.sendAndRead(
    {
      method: 'GET',
      url: await t.url(`/v2/${repository}/referrers/${digest}`, op),
      scopes: [repositoryScope(repository, ['pull'])],
      repository,
      headers: { accept: MediaType.OciIndex },
      accept: [200, 404, 400, 405],
      what: `probe the referrers API with ${digest}`,
      where,
      op,
    },
    async ({ res }) => {
      if (res.status === 200) return { res, bytes: await readLimited(res, 16 * MiB, where) };
      await drain(res);
      return { res, bytes: undefined };
    },
  );
  const contentType = res.headers.get('content-type') ?? undefined;
  if (bytes === undefined) return { status: res.status, contentType, index: false, manifests: undefined };
  // A 200 whose type is not an index may still carry one (some registries send no type):
  // the body decides, as it does for listReferrers.
  try {
    const index = assertIndex(parseJsonObject(bytes, where, 'referrers index'), where);
    const typed = contentType === undefined || isIndexType(baseType(contentType) ?? MediaType.OciIndex);
    return { status: 200, contentType, index: typed, manifests: typed ? index.manifests.length : undefined };
  } catch {
    // Not JSON, or no index: the endpoint answered, but not as the API does.
    return { status: 200, contentType, index: false, manifests: undefined };
  }
}
