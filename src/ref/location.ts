/** Store locations: `oci:`, `oci-archive:`, `docker-archive:` and registry references, as the CLI and openLocation take them. */
import { ProvenantError } from '../errors.ts';
import { type Digest, isDigest } from '../oci/digest.ts';
import { type ImageReference, isValidTag, parseReference, refuseCredentials } from './reference.ts';

/** Where an image lives: one of the stores every command accepts. */
export type Location =
  | { readonly kind: 'oci'; readonly path: string; readonly tag: string | undefined; readonly digest: Digest | undefined }
  | { readonly kind: 'oci-archive'; readonly path: string; readonly tag: string | undefined; readonly digest: Digest | undefined }
  | { readonly kind: 'docker-archive'; readonly path: string; readonly reference: ImageReference | undefined }
  | { readonly kind: 'registry'; readonly reference: ImageReference };

/**
 * Parses a location as skopeo writes it: `oci:DIR[:TAG][@DIGEST]`, `oci-archive:FILE[:TAG][@DIGEST]`,
 * `docker-archive:FILE[:NAME:TAG]`, `docker://REF` or a bare registry reference. As in skopeo,
 * the first `:` after the prefix ends the path, so a path cannot contain one, and all the rest
 * is the tag: an image layout's tag is its entry's `org.opencontainers.image.ref.name`, which
 * may hold `/`, `:` and `@` (`oci:out:example.org/app:v1`, as `skopeo copy` writes it; see
 * {@link isLayoutTag}). A last `@sha256:…` or `@sha512:…` that is a whole digest is Provenant's
 * digest reference, not part of the tag: `:TAG@DIGEST` names both, as `REPO:TAG@DIGEST` does.
 * A docker-archive's name takes no digest, after its NAME or its FILE ({@link refuseArchiveDigest}).
 */
export function parseLocation(text: string): Location {
  for (const kind of ['oci', 'oci-archive'] as const) {
    const prefix = `${kind}:`;
    if (text.startsWith(prefix)) {
      const { path, tag, digest } = splitPathTarget(text, text.slice(prefix.length));
      return { kind, path, tag, digest };
    }
  }
  if (text.startsWith('docker-archive:')) {
    const body = text.slice('docker-archive:'.length);
    const colon = body.indexOf(':');
    const path = colon < 0 ? body : body.slice(0, colon);
    if (path.length === 0) throw missingPath(text);
    // `FILE@sha256:HEX` (as `oci-archive:FILE@DIGEST` is written): not the file `FILE@sha256`
    // holding an image named by the hex digits, and refused as a digest after a NAME is. A file
    // so named holding a NAME:TAG (`y@sha256:app:v1`, which skopeo writes) is that.
    const algorithm = /@(sha256|sha512)$/.exec(path);
    if (algorithm !== null && /^:[0-9a-f]+$/i.test(body.slice(colon))) throw archiveDigest(`${algorithm[1]}${body.slice(colon)}`, text);
    const name = colon < 0 ? undefined : body.slice(colon + 1);
    const reference = name === undefined || name === '' ? undefined : parseReference(name);
    if (reference !== undefined) refuseArchiveDigest(reference, text);
    return { kind: 'docker-archive', path, reference };
  }
  // Checked before docker:// goes: with it, everything up to the last "@" is taken as credentials.
  refuseCredentials(text);
  const bare = text.startsWith('docker://') ? text.slice('docker://'.length) : text;
  return { kind: 'registry', reference: parseReference(bare) };
}

function splitPathTarget(text: string, body: string): { path: string; tag: string | undefined; digest: Digest | undefined } {
  const at = body.lastIndexOf('@');
  if (at >= 0 && /^(sha256|sha512):/.test(body.slice(at + 1))) {
    const digest = body.slice(at + 1);
    if (!isDigest(digest)) throw new ProvenantError('INVALID_REFERENCE', `"${digest}" is not a digest`, { where: text });
    // The first `:` ends the path here too: `DIR:TAG@DIGEST` is a tag and a digest, not a folder `DIR:TAG`.
    const { path, tag } = splitPathTag(text, body.slice(0, at));
    return { path, tag, digest };
  }
  return { ...splitPathTag(text, body), digest: undefined };
}

/** `PATH[:TAG]`, split at the first `:`. */
function splitPathTag(text: string, body: string): { path: string; tag: string | undefined } {
  const colon = body.indexOf(':');
  const path = colon < 0 ? body : body.slice(0, colon);
  if (path.length === 0) throw missingPath(text);
  const tag = colon < 0 ? undefined : body.slice(colon + 1);
  if (tag !== undefined && !isLayoutTag(tag)) {
    throw new ProvenantError('INVALID_REFERENCE', `"${tag}" is not a valid tag`, {
      where: text,
      hint: "a layout's tag is a registry tag, or parts of letters and digits joined by . _ - : @ + -- and /, as in example.org/app:v1",
    });
  }
  return { path, tag };
}

/**
 * The grammar of `org.opencontainers.image.ref.name` in the image spec's pre-defined annotations
 * (https://github.com/opencontainers/image-spec/blob/main/annotations.md): components of letters
 * and digits joined by one of `-._:@+` or `--`, the components joined by `/`. skopeo's `oci:`
 * transport takes what this allows after the path.
 */
const REF_NAME_PART = '[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*';
const REF_NAME_RE = new RegExp(`^${REF_NAME_PART}(?:/${REF_NAME_PART})*$`);

/**
 * True when `tag` may name an image in a layout: a registry tag (`v1`, `_x`), or any name of the
 * image spec's ref.name grammar (`example.org/app:v1`).
 */
export function isLayoutTag(tag: string): boolean {
  return isValidTag(tag) || REF_NAME_RE.test(tag);
}

/**
 * Refuses a digest in a docker-archive's image name (`FILE:NAME@DIGEST`), as skopeo does ("docker-archive
 * doesn't support digest references"), rather than pass over it: the archive names its images by
 * `NAME:TAG` in manifest.json, and holds no manifest of its own. Read, the digest it would be
 * checked against is of the Docker manifest Provenant makes from its files; written, the image
 * is kept in that form, another digest than what was copied. Neither is a digest a user holds.
 *
 * @throws ProvenantError `INVALID_REFERENCE` (exit 2) naming the location
 */
export function refuseArchiveDigest(reference: ImageReference, where: string): void {
  if (reference.digest !== undefined) throw archiveDigest(reference.digest, where);
}

function archiveDigest(digest: string, where: string): ProvenantError {
  return new ProvenantError('INVALID_REFERENCE', 'a docker-archive names its images by NAME:TAG, never by digest', {
    where,
    hint: `leave out @${digest} (provenant digest shows the archive's image's digest), or copy it to oci:DIR or oci-archive:FILE, which take @DIGEST`,
  });
}

function missingPath(text: string): ProvenantError {
  return new ProvenantError('INVALID_REFERENCE', 'the path is missing', { where: text, hint: 'for example oci:./out:latest' });
}

/**
 * A printed location and the digest of the image written there, as input takes it back:
 * `LOCATION@DIGEST`; a docker-archive's name takes no digest ({@link refuseArchiveDigest}), so
 * there the name alone, and the digest after a space, as `copy` prints a destination.
 */
export function locationWithDigest(location: string, digest: string): string {
  return location.startsWith('docker-archive:') ? `${location} ${digest}` : `${location}@${digest}`;
}

/** A location as a user would write it. */
export function formatLocation(loc: Location): string {
  switch (loc.kind) {
    case 'registry': {
      const r = loc.reference;
      return `${r.registry}/${r.repository}${r.tag === undefined ? '' : `:${r.tag}`}${r.digest === undefined ? '' : `@${r.digest}`}`;
    }
    case 'docker-archive': {
      const r = loc.reference;
      // A digest is refused (refuseArchiveDigest), but a Location made by hand may hold one: said, not dropped.
      return `docker-archive:${loc.path}${r ? `:${r.registry}/${r.repository}:${r.tag ?? 'latest'}${r.digest === undefined ? '' : `@${r.digest}`}` : ''}`;
    }
    default:
      return `${loc.kind}:${loc.path}${loc.tag ? `:${loc.tag}` : ''}${loc.digest ? `@${loc.digest}` : ''}`;
  }
}
