/**
 * Package URLs (PURL): the identifiers SBOMs give packages, so scanners can match them to
 * vulnerability data.
 *
 * The format and its encoding rules are ECMA-427 / the purl-spec
 * (https://github.com/package-url/purl-spec, docs/standard/characters-and-encoding.md and
 * docs/how-to-build.md): every component is percent-encoded except alphanumerics, `.-_~` and the
 * colon, which "MUST NOT be percent-encoded" even inside a version (so a Debian epoch stays
 * `1:2.36-9`, and an OCI digest `sha256:…`, as packageurl-go and apko write them). Qualifiers are
 * sorted by key and empty ones dropped. The per-type rules are in types/apk-definition.json,
 * types/deb-definition.json and types/oci-definition.json: the namespace is the vendor (`alpine`,
 * `wolfi`, `debian`), and names are lowercased.
 */
import { ProvenantError } from '../errors.ts';
import type { Inventory, InventoryPackage } from '../pkg/inventory.ts';

/** The parts of a package URL, before encoding. */
export interface PackageUrlParts {
  /** `apk`, `deb`, `oci`, ... (lowercase ASCII). */
  type: string;
  /** Slash-separated namespace segments, or undefined for none. */
  namespace?: string | undefined;
  name: string;
  version?: string | undefined;
  /** Qualifier key → value; keys are lowercase ASCII, empty values are left out. */
  qualifiers?: Readonly<Record<string, string>> | undefined;
  /** Slash-separated subpath, or undefined for none. */
  subpath?: string | undefined;
}

const TYPE = /^[a-z][a-z0-9.+-]*$/;
const QUALIFIER_KEY = /^[a-z][a-z0-9._-]*$/;
const utf8 = new TextEncoder();

/**
 * Percent-encodes one component as the purl-spec says: UTF-8 bytes, kept as they are when they
 * are alphanumerics, `.`, `-`, `_`, `~` or `:`, else `%XX` in upper-case hex.
 */
export function percentEncode(text: string): string {
  let out = '';
  for (const byte of utf8.encode(text)) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9._~:-]/.test(c)) out += c;
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function invalid(why: string, hint?: string): ProvenantError {
  return new ProvenantError('INVALID_PACKAGE', `cannot write a package URL: ${why}`, hint === undefined ? {} : { hint });
}

/**
 * Writes a package URL from its parts (no type-specific normalization: {@link packageUrl} does that).
 *
 * @throws ProvenantError `INVALID_PACKAGE` when the type or a qualifier key is not lowercase ASCII, or the name is empty
 */
export function formatPackageUrl(parts: PackageUrlParts): string {
  if (!TYPE.test(parts.type)) throw invalid(`the type ${JSON.stringify(parts.type)} is not lowercase ASCII starting with a letter`);
  if (parts.name === '') throw invalid('the name is empty');
  let out = `pkg:${parts.type}/`;
  const namespace = (parts.namespace ?? '').split('/').filter((s) => s !== '');
  if (namespace.length > 0) out += `${namespace.map(percentEncode).join('/')}/`;
  out += percentEncode(parts.name);
  if (parts.version !== undefined && parts.version !== '') out += `@${percentEncode(parts.version)}`;
  const keys = Object.keys(parts.qualifiers ?? {}).sort(compareStrings);
  const qualifiers: string[] = [];
  for (const key of keys) {
    if (!QUALIFIER_KEY.test(key)) throw invalid(`the qualifier key ${JSON.stringify(key)} is not lowercase ASCII starting with a letter`);
    const value = parts.qualifiers?.[key] ?? '';
    // Sorted by key, not by the "key=value" text: "a.b=1" must follow "a=2".
    if (value !== '') qualifiers.push(`${key}=${percentEncode(value)}`);
  }
  if (qualifiers.length > 0) out += `?${qualifiers.join('&')}`;
  const subpath = (parts.subpath ?? '').split('/').filter((s) => s !== '' && s !== '.' && s !== '..');
  if (subpath.length > 0) out += `#${subpath.map(percentEncode).join('/')}`;
  return out;
}

/** Compares strings by UTF-16 code units, the same on every machine (unlike `localeCompare`). */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The `distro` qualifier syft writes and scanners match on: `<os-release ID>-<VERSION_ID>`
 * (`alpine-3.20.3`, `debian-12`, `wolfi-20230201`), or the ID alone when there is no version.
 * None ('') without an ID, or with `ID=unknown`: the os-release a build writes when no package
 * gives one (../builder/assemble.ts), and apko's placeholder, which name no distribution (syft
 * would write `distro=unknown`, a made-up one).
 */
export function distroQualifier(distro: Inventory['distro']): string {
  const id = distro.id.toLowerCase();
  if (id === '' || id === 'unknown') return '';
  return distro.versionId === '' ? id : `${id}-${distro.versionId}`;
}

/**
 * The package URL of an installed apk or deb package:
 * `pkg:apk/alpine/busybox@1.36.1-r2?arch=x86_64&distro=alpine-3.20.3`,
 * `pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12`. The namespace is the
 * os-release ID (`unknown` when the image has none), with no `distro` qualifier when it is
 * `unknown` ({@link distroQualifier}). `upstream` names the source package when it
 * differs from the binary package, with its version when that differs too
 * (`upstream=util-linux@2.38.1-5`), as syft writes it, so scanners can match advisories filed
 * against the source.
 *
 * @throws ProvenantError `INVALID_PACKAGE` when the package has no name
 */
export function packageUrl(pkg: InventoryPackage, distro: Inventory['distro']): string {
  const name = pkg.name.toLowerCase();
  const qualifiers: Record<string, string> = { arch: pkg.arch, distro: distroQualifier(distro) };
  if (pkg.sourceVersion !== undefined && pkg.source !== '') qualifiers.upstream = `${pkg.source}@${pkg.sourceVersion}`;
  else if (pkg.source !== '' && pkg.source.toLowerCase() !== name) qualifiers.upstream = pkg.source;
  return formatPackageUrl({
    type: pkg.ecosystem,
    namespace: distro.id === '' ? 'unknown' : distro.id.toLowerCase(),
    name,
    version: pkg.version,
    qualifiers,
  });
}

/**
 * The name documents may give an image found at `name`: the name itself when it is a registry
 * reference, undefined for a file or layout location (`oci:`, `oci-archive:`, `docker-archive:`).
 * Such a location says where one copy lies on this host, not what the image is: as a name it
 * would put a host path in an SBOM's PURL (`repository_url=oci:/tmp/...`) and make the document
 * differ with where the copy is kept.
 */
export function registryImageName(name: string): string | undefined {
  return /^(oci|oci-archive|docker-archive):/.test(name) ? undefined : name;
}

/** Options of {@link imagePackageUrl}. */
export interface ImagePackageUrlOptions {
  /** Use this digest instead of the image's (for an index). */
  digest?: string | undefined;
  /** Leave out the platform qualifiers (for an index, which has none). */
  noPlatform?: boolean | undefined;
  /** A `mediaType` qualifier, as apko writes for images and indexes. */
  mediaType?: string | undefined;
}

/**
 * The OCI package URL of an image: `pkg:oci/NAME@sha256:HEX?arch=amd64&os=linux`, where NAME is
 * the last path segment of the image's name, lowercased, and `repository_url` and `tag` come
 * from the rest of the name when it has them (types/oci-definition.json).
 */
export function imagePackageUrl(image: Inventory['image'], options: ImagePackageUrlOptions = {}): string {
  const { repository, tag } = splitImageName(image.name);
  const last = repository.split('/').pop() ?? '';
  const qualifiers: Record<string, string> = {};
  if (repository.includes('/')) qualifiers.repository_url = repository;
  if (tag !== '') qualifiers.tag = tag;
  if (options.mediaType !== undefined) qualifiers.mediatype = options.mediaType;
  if (!options.noPlatform) {
    qualifiers.arch = image.architecture;
    qualifiers.os = image.os;
    if (image.variant !== undefined) qualifiers.variant = image.variant;
  }
  return formatPackageUrl({
    type: 'oci',
    name: last === '' ? 'image' : last.toLowerCase(),
    version: options.digest ?? image.digest,
    qualifiers,
  });
}

/** `registry.example/a/b:tag@sha256:…` → repository `registry.example/a/b`, tag `tag`; lenient: names need not parse as references. */
function splitImageName(name: string): { repository: string; tag: string } {
  const at = name.indexOf('@');
  const noDigest = at === -1 ? name : name.slice(0, at);
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  if (colon > slash) return { repository: noDigest.slice(0, colon), tag: noDigest.slice(colon + 1) };
  return { repository: noDigest, tag: '' };
}
