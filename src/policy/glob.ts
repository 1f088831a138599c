/**
 * Which images a policy covers: policy-controller's `spec.images[].glob`
 * (pkg/apis/glob/glob.go in sigstore/policy-controller). A glob is letters, digits and
 * `- _ : / * . @`; `*` matches within one path segment (no `/`), `**` matches anything, and
 * the glob must match the whole name. The name is the reference as go-containerregistry's
 * `ref.Name()` writes it: Docker Hub as `index.docker.io`, official images under `library/`,
 * `:latest` when neither tag nor digest is given, and only the digest when both are; and,
 * unlike `ref.Name()`, the registry host in lower case and without `:443`, since both spellings
 * name the registry the image is fetched from (otherwise `REGISTRY.TEST/prod/app` escaped a
 * policy for `registry.test/prod/**` and fell to a weaker one). A glob that does not match that form is tried against the name as written, as
 * policy-controller still does (with a deprecation warning there). A name that is not a reference
 * is refused, as policy-controller's Match refuses it: written `registry.test/dev/../prod/app`,
 * it would pass a glob for `dev/**` while naming no image a registry serves (none has `..` in its
 * path). A store location (`oci:DIR:TAG`, `oci-archive:`, `docker-archive:`), which
 * policy-controller never sees, is matched as written, with or without its digest: read as the CLI
 * reads it ({@link parseLocation}), never as the Docker Hub reference `oci:image.oci@sha256:…`
 * also parses as.
 *
 * What an evaluation matches is not the reference as typed but {@link policyImageName}: the
 * repository and the digest the reference resolves to, tag dropped. policy-controller's webhook
 * resolves a pod's tag to its digest first and matches its policies against `ref.Name()` of that
 * digest reference (so the fallback above never applies there): a glob for `app:v*` does not
 * cover `app:v1`, and a glob without `*` at its end (`registry.test/app`) covers no image at all.
 */
import { isProvenantError, ProvenantError } from '../errors.ts';
import { type Location, parseLocation } from '../ref/location.ts';
import { DOCKER_HUB, DOCKER_HUB_API, DOCKER_HUB_INDEX, readsAsRegistryHost } from '../ref/reference.ts';

const VALID_GLOB = /^[a-zA-Z0-9\-_:/*.@]+$/;

/** Why a glob is not one, or undefined when it is. */
export function globProblem(glob: string): string | undefined {
  if (glob === '') return 'the glob is empty';
  if (!VALID_GLOB.test(glob)) return 'a glob holds only letters, digits and - _ : / * . @';
  return undefined;
}

/** The glob as an anchored regular expression (`*` and `*\/*` as policy-controller rewrites them). */
export function compileGlob(glob: string): RegExp {
  let g = glob;
  // policy-controller reads the bare `*` and `*/*` as Docker Hub's namespaces.
  if (g === '*/*') g = `${DOCKER_HUB_INDEX}/*/*`;
  if (g === '*') g = `${DOCKER_HUB_INDEX}/library/*`;
  const body = g.replaceAll('.', '\\.').replaceAll('**', '\u0000').replaceAll('*', '[^/]*').replaceAll('\u0000', '.*');
  return new RegExp(`^${body}$`);
}

/**
 * go-containerregistry's `ref.Name()` for a reference, or undefined when it is not a registry
 * reference: a store location, or no name at all.
 */
export function canonicalImageName(image: string): string | undefined {
  let location: Location;
  try {
    // Read as the CLI reads it: `oci:image.oci@sha256:…` also parses as a reference (Docker
    // Hub's library/oci, tag image.oci), which Docker Hub's globs would cover, but names a layout.
    // `docker://` names a registry's image (skopeo's transport prefix).
    location = parseLocation(image);
  } catch {
    return undefined;
  }
  if (location.kind !== 'registry') return undefined;
  const ref = location.reference;
  // In lower case and without `:443` where it still reads as a host then: `myreg:443` made
  // `myreg`, or `MYREG` made `myreg`, would read as a Docker Hub namespace, which Docker Hub's
  // globs cover.
  const lower = ref.registry.toLowerCase();
  const host = [lower.replace(/:443$/, ''), lower].find(readsAsRegistryHost) ?? ref.registry;
  // Docker Hub however spelled (`DOCKER.IO/busybox`, `index.docker.io:443/busybox`), with its
  // `library/` namespace, as parseReference gives it in lower case.
  const hub = host === DOCKER_HUB || host === DOCKER_HUB_INDEX || host === DOCKER_HUB_API;
  const repository = hub && !ref.repository.includes('/') ? `library/${ref.repository}` : ref.repository;
  const base = `${hub ? DOCKER_HUB_INDEX : host}/${repository}`;
  return ref.digest !== undefined ? `${base}@${ref.digest}` : `${base}:${ref.tag ?? 'latest'}`;
}

/**
 * The digest `image` names (`REPOSITORY@DIGEST`, `oci:DIR:TAG@DIGEST`), or undefined when it names
 * none or is no name at all (which {@link policyImageName} refuses).
 */
export function namedDigest(image: string): string | undefined {
  try {
    const location = parseLocation(image);
    if (location.kind === 'registry') return location.reference.digest;
    return location.kind === 'docker-archive' ? undefined : location.digest;
  } catch {
    return undefined;
  }
}

/**
 * The name policy-controller matches globs against for the image `image` whose manifest (or
 * index) is `digest`: `REPOSITORY@DIGEST` as go-containerregistry names it (registry host in
 * lower case, without `:443`, where it still reads as a host then), the tag dropped. A digest written in `image` is the one named.
 * A store location that is not a registry's is returned as written.
 *
 * @throws ProvenantError `INVALID_REFERENCE` when `image` is neither an image reference nor a
 *   store location
 */
export function policyImageName(image: string, digest: string): string {
  const name = canonicalImageName(image);
  if (name === undefined) {
    assertLocation(image);
    return image;
  }
  return name.includes('@') ? name : `${name.slice(0, name.lastIndexOf(':'))}@${digest}`;
}

/**
 * True when `glob` covers the image named `image` (see the module comment).
 *
 * @throws ProvenantError `INVALID_REFERENCE` when `image` is neither an image reference nor a
 *   store location
 */
export function globMatches(glob: string | RegExp, image: string): boolean {
  const re = typeof glob === 'string' ? compileGlob(glob) : glob;
  const name = canonicalImageName(image);
  if (name === undefined) assertLocation(image);
  if (name !== undefined && re.test(name)) return true;
  return name !== image && re.test(image);
}

/** Refuses a name that is no reference, unless it is a store location other than a registry's. */
function assertLocation(image: string): void {
  let why: string;
  try {
    if (parseLocation(image).kind !== 'registry') return;
    why = 'it does not parse';
  } catch (err) {
    if (!isProvenantError(err)) throw err;
    why = err.message;
  }
  throw new ProvenantError('INVALID_REFERENCE', `no policy can be matched against ${JSON.stringify(image)}: ${why}`, {
    where: image,
    hint: 'name the image as it is pulled (REGISTRY/REPOSITORY[:TAG][@DIGEST]); policy-controller refuses such a name too',
  });
}
