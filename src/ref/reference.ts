/** Image references (`registry/repo:tag@digest`) as Docker reads them, Docker Hub's short names included. */
import { ProvenantError, redactCredentials } from '../errors.ts';
import { type Digest, isDigest } from '../oci/digest.ts';

/**
 * A registry image reference, parsed and normalized the way the Docker CLI and
 * go-containerregistry do: `[registry[:port]/]repository[:tag][@digest]`.
 */
export interface ImageReference {
  /** The registry as written by users, `docker.io` for Docker Hub. */
  readonly registry: string;
  /** The repository path, with `library/` added for Docker Hub's official images. */
  readonly repository: string;
  readonly tag: string | undefined;
  readonly digest: Digest | undefined;
}

// https://github.com/distribution/reference/blob/main/reference.go (the grammar)
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const PATH_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
// A domain is DNS labels (or an IPv6 literal in brackets) with an optional port.
const DOMAIN_RE =
  /^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$/;
const NAME_MAX = 255;

/**
 * Docker Hub's names, here alone: the registry as users write it and references are normalised
 * to (`docker.io`); go-containerregistry's spelling (`index.docker.io`, what `ref.Name()` writes,
 * and so cosign's docker-reference and policy-controller's globs); the host its API is served
 * from; and every spelling credential stores use.
 */
export const DOCKER_HUB = 'docker.io';
export const DOCKER_HUB_INDEX = 'index.docker.io';
export const DOCKER_HUB_API = 'registry-1.docker.io';
export const DOCKER_HUB_ALIASES: ReadonlySet<string> = new Set([DOCKER_HUB, DOCKER_HUB_INDEX, DOCKER_HUB_API, 'registry.hub.docker.com']);

/**
 * Whether the first component of a name is its registry host, as Docker reads it: it has a dot
 * or a port, is `localhost`, or has a capital letter; anything else is a Docker Hub namespace.
 */
export function readsAsRegistryHost(first: string): boolean {
  return first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase();
}

/** A registry as go-containerregistry's `Name()` writes it: Docker Hub as `index.docker.io`, any other as it is. */
export function ggcrRegistryName(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_INDEX : registry;
}

function invalid(text: string, why: string, hint?: string): ProvenantError {
  return new ProvenantError('INVALID_REFERENCE', `"${text}" is not an image reference: ${why}`, {
    hint: hint ?? 'write a reference as registry/repository:tag or registry/repository@sha256:<hex>',
  });
}

/** Parses an image reference; throws INVALID_REFERENCE saying which part is wrong. */
export function parseReference(text: string): ImageReference {
  if (text.length === 0) throw invalid(text, 'it is empty');
  refuseCredentials(text);
  let rest = text;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) throw invalid(text, `"${d}" is not a sha256 or sha512 digest`);
    digest = d;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag))
      throw invalid(text, `"${tag}" is not a valid tag`, 'a tag is up to 128 letters, digits, _ . and -, not starting with . or -');
  }
  let registry = DOCKER_HUB;
  let repository = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (readsAsRegistryHost(first)) {
      registry = first;
      repository = rest.slice(slash + 1);
    }
  }
  if (!DOMAIN_RE.test(registry)) throw invalid(text, `"${registry}" is not a registry host`);
  const hostProblem = registryHostProblem(registry);
  if (hostProblem !== undefined) throw invalid(text, hostProblem, HOST_HINT);
  if (registry === DOCKER_HUB_INDEX || registry === DOCKER_HUB_API) registry = DOCKER_HUB;
  if (repository.length === 0) throw invalid(text, 'the repository is missing');
  if (repository !== repository.toLowerCase()) throw invalid(text, 'the repository must be lower case');
  if (!PATH_RE.test(repository)) {
    throw invalid(
      text,
      `"${repository}" is not a repository path`,
      'repository path components are lower-case letters and digits separated by . _ __ or -',
    );
  }
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (registry.length + 1 + repository.length > NAME_MAX) throw invalid(text, `the name is longer than ${NAME_MAX} characters`);
  return { registry, repository, tag: tag === undefined && digest === undefined ? 'latest' : tag, digest };
}

/**
 * Throws INVALID_REFERENCE when `text` holds what reads as credentials (a URL pasted with them,
 * `https://user:password@registry.example/app`), quoting it without them: the parts a parse error would
 * quote may hold some of the password. No valid reference is refused here.
 */
export function refuseCredentials(text: string): void {
  const shown = redactCredentials(text);
  if (shown !== text) {
    throw invalid(
      shown,
      'what comes before "@" reads as credentials (user:password@), which a reference cannot hold',
      'log in instead (docker login REGISTRY, or --username and --password-stdin) and write the reference as registry/repository:tag',
    );
  }
}

const HOST_HINT = 'a registry is a host name or IP address with an optional port from 1 to 65535, e.g. localhost:5000';

/**
 * Why `host` (`name[:port]`, as in a reference) cannot be a registry address, or undefined when
 * it can. The reference grammar allows any digits as a port and any dotted labels as a name;
 * this also refuses what no connection can be made to: a port outside 1-65535, and names the
 * WHATWG URL parser rejects or reads as another address (`999.1.1.1`, `1.2.3` for 1.2.0.3).
 */
function registryHostProblem(host: string): string | undefined {
  const bracket = host.startsWith('[') ? host.indexOf(']') : -1;
  const colon = host.indexOf(':', bracket + 1);
  const name = colon < 0 ? host : host.slice(0, colon);
  const portText = colon < 0 ? undefined : host.slice(colon + 1);
  if (portText !== undefined) {
    const port = /^\d{1,10}$/.test(portText) ? Number(portText) : Number.NaN;
    if (!(port >= 1 && port <= 65535)) return `the port of "${host}" is out of range (1-65535)`;
  }
  let url: URL;
  try {
    url = new URL(`https://${name}/`);
  } catch {
    return `"${name}" is not a host name or IP address`;
  }
  // An IPv6 literal may be written in several ways; any the parser takes is the address.
  if (bracket < 0 && url.hostname !== name.toLowerCase()) return `"${name}" is not a host name (it reads as the address ${url.hostname})`;
  return undefined;
}

/**
 * Throws INVALID_REFERENCE when `host` cannot be a registry address (see
 * {@link registryHostProblem}): for hosts that did not come through {@link parseReference}.
 */
export function checkRegistryHost(host: string): void {
  // A host has no "@": what comes before one is credentials (user:password@host).
  const at = host.lastIndexOf('@');
  const shown = at < 0 ? host : `***@${host.slice(at + 1)}`;
  const problem = DOMAIN_RE.test(host) ? registryHostProblem(host) : `"${shown}" is not a registry host`;
  if (problem !== undefined) {
    throw new ProvenantError('INVALID_REFERENCE', `"${shown}" is not a registry: ${problem}`, { where: shown, hint: HOST_HINT });
  }
}

/** `registry/repository[:tag][@digest]`, fully qualified. */
export function formatReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag === undefined ? '' : `:${ref.tag}`}${ref.digest === undefined ? '' : `@${ref.digest}`}`;
}

/**
 * A repository's full name, `registry/repository`, without tag or digest, with Docker Hub spelled
 * as `spelling` says: `docker` writes `docker.io` (what references are normalised to, and what
 * Docker and PURLs' `repository_url` write), `ggcr` writes `index.docker.io`, as
 * go-containerregistry's `Repository.Name()` does, and so cosign. Any other registry is the same
 * in both.
 */
export function repositoryName(ref: Pick<ImageReference, 'registry' | 'repository'>, spelling: 'docker' | 'ggcr' = 'docker'): string {
  return `${spelling === 'ggcr' ? ggcrRegistryName(ref.registry) : ref.registry}/${ref.repository}`;
}

/**
 * The name SBOMs and provenance (`build`, the Action) and `provenant attest` give an image in a
 * registry: its repository, in full, without the tag (or digest) it was written under or read
 * from, as cosign's `attest` names a statement's subject; unlike cosign, Docker Hub is spelled
 * `docker.io` (`docker.io/library/alpine`, where cosign writes `index.docker.io/library/alpine`),
 * the name a PURL's `repository_url` and Docker give it ({@link repositoryName}); verification
 * matches a subject by its digest (../sign/verify.ts), not its name. A tag is a
 * movable pointer to the image, not a part of it: named in the statements, it would make a second
 * tag of the same build a second set of statements (and, in BuildKit's storage, a second index
 * digest), where the same build should give the same bytes.
 */
export function statementImageName(ref: Pick<ImageReference, 'registry' | 'repository'>): string {
  return repositoryName(ref, 'docker');
}

/** True when `tag` is a valid tag. */
export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}
