/**
 * The SPDX 2.3 SBOMs apko writes (`sbom-<arch>.spdx.json` and `sbom-index.spdx.json`), byte for
 * byte, for apko compatibility: from an apko-compatible build, or regenerated from any
 * apko-built image (`provenant sbom --compat apko`).
 *
 * Source: apko v1.2.39, pkg/sbom/generator/spdx/spdx.go (Generate, GenerateIndex,
 * ProcessInternalApkSBOM, copySBOMElements, mergeLicensingInfos, stringToIdentifier),
 * pkg/sbom/options/options.go (purl names and qualifiers), pkg/build/sbom.go
 * (fetchFSReleaseData, ParseReleaseData). The document is Go's json.Encoder output with a
 * two-space indent: struct fields in order, `omitempty` as declared, HTML characters escaped.
 *
 * Each package's own SBOM (/var/lib/db/sbom/<name>-<version>.spdx.json, written by melange) is
 * merged in: the packages it describes and everything they relate to (files aside), with
 * apko's defaults for originator and supplier, and the image `CONTAINS` each described one.
 */
import { ProvenantError } from '../errors.ts';
import type { Logger } from '../io/types.ts';

/** What the SBOM of one platform image is made from. */
export interface ApkoImageSbomInput {
  /** The platform manifest's digest. */
  manifestDigest: string;
  /** The layers as the manifest lists them (compressed digest and media type). */
  layers: readonly { digest: string; mediaType: string }[];
  /** The OCI architecture (`amd64`, `arm64`, `arm`). */
  architecture: string;
  /** The build date epoch (the config's `created`), seconds. */
  created: number;
  /** /etc/os-release, when the image has one. */
  osRelease: string | undefined;
  /** The installed packages in the database's order. */
  installed: readonly { name: string; version: string }[];
  /** Each package's own SBOM file, by package name (see `locateApkSBOM`). */
  packageSboms: ReadonlyMap<string, Uint8Array>;
  /** The image's first tag (`golden:latest`, `registry.example/acme/static:latest`), for purl names. */
  tag?: string | undefined;
  /** The apko version to name as the tool: `devel` in apko's own golden SBOMs. */
  apkoVersion?: string | undefined;
}

/** What the index SBOM is made from. */
export interface ApkoIndexSbomInput {
  indexDigest: string;
  /** Each platform image: its OCI architecture (`amd64`, `arm/v7`) and manifest digest. */
  images: readonly { arch: string; digest: string }[];
  /** The latest build date of the platforms, seconds. */
  created: number;
  tag?: string | undefined;
  /** `vcs-url` of the configuration (`url@commit`), when it has one. */
  vcsUrl?: string | undefined;
  apkoVersion?: string | undefined;
}

interface Pkg {
  SPDXID: string;
  name: string;
  versionInfo?: string;
  filesAnalyzed: boolean;
  licenseConcluded?: string;
  licenseDeclared?: string;
  description?: string;
  downloadLocation: string;
  originator?: string;
  supplier?: string;
  sourceInfo?: string;
  copyrightText?: string;
  attributionText?: string;
  primaryPackagePurpose?: string;
  checksums?: { algorithm: string; checksumValue: string }[];
  externalRefs?: { referenceCategory: string; referenceLocator: string; referenceType: string }[];
}
interface Rel {
  spdxElementId: string;
  relationshipType: string;
  relatedSpdxElement: string;
}
interface Licensing {
  licenseId: string;
  extractedText: string;
}
interface Doc {
  documentDescribes: string[] | null;
  packages: Pkg[];
  relationships: Rel[];
  licensing: Licensing[];
}

const NOASSERTION = 'NOASSERTION';
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';

/** stringToIdentifier: `:` to `-`, every other byte outside [a-zA-Z0-9-.] as `C<rune>` (a lone byte of UTF-8 is 65533). */
export function spdxIdentifier(text: string): string {
  return text
    .replaceAll(':', '-')
    .replace(/[^a-zA-Z0-9\-.]+/g, (run) => [...Buffer.from(run)].map((b) => `C${b < 0x80 ? b : 65533}`).join(''));
}

/** Go's url.QueryEscape. */
function queryEscape(s: string): string {
  return [...Buffer.from(s)]
    .map((b) => {
      const c = String.fromCharCode(b);
      if (/[A-Za-z0-9\-_.~]/.test(c)) return c;
      if (c === ' ') return '+';
      return `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
}

/** Go's url.PathEscape, as packageurl-go escapes a name and a version. */
function pathEscape(s: string): string {
  return [...Buffer.from(s)]
    .map((b) => {
      const c = String.fromCharCode(b);
      return /[A-Za-z0-9\-_.~$&+=:@]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
}

function purl(name: string, version: string, qualifiers: Record<string, string>): string {
  const q = Object.keys(qualifiers)
    .sort()
    .map((k) => `${k}=${queryEscape(qualifiers[k] as string)}`)
    .join('&');
  return `pkg:oci/${pathEscape(name)}@${pathEscape(version)}?${q}`;
}

/**
 * ImagePurlName: the last part of the first tag's repository (go-containerregistry's
 * `RepositoryStr`), `image` without a tag or with one it cannot parse.
 */
export function apkoPurlName(tag: string | undefined): string {
  if (tag === undefined || tag === '') return 'image';
  let repo = tag.replace(/@.*$/, '');
  const slash = repo.lastIndexOf('/');
  const colon = repo.lastIndexOf(':');
  if (colon > slash) repo = repo.slice(0, colon);
  const parts = repo.split('/');
  // A first part with a dot or a colon, or localhost, is a registry, not part of the repository.
  const last = parts[parts.length - 1] ?? '';
  return /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/.test(last) ? last : 'image';
}

/** ParseReleaseData: `KEY=value` lines (quotes trimmed), blank and `#` lines skipped; any other line fails. */
export function apkoReleaseData(text: string | undefined): { id: string; name: string; versionId: string } {
  if (text === undefined) return { id: 'unknown', name: 'apko-generated image', versionId: 'unknown' };
  const kv = new Map<string, string>();
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (const raw of lines) {
    const line = raw.replace(/\r$/, '');
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) {
      throw new ProvenantError(
        'INVALID_PACKAGE',
        `/etc/os-release has a line that is not KEY=value: ${JSON.stringify(line.slice(0, 80))}`,
        {
          where: '/etc/os-release',
          hint: "apko's SBOM step fails on it too",
        },
      );
    }
    kv.set(line.slice(0, eq), line.slice(eq + 1).replace(/^"+|"+$/g, ''));
  }
  return { id: kv.get('ID') ?? '', name: kv.get('NAME') ?? '', versionId: kv.get('VERSION_ID') ?? '' };
}

const supplierOf = (osName: string): string => (osName === '' ? NOASSERTION : `Organization: ${osName}`);

function document(name: string, created: number, apkoVersion: string | undefined): Record<string, unknown> {
  return {
    SPDXID: 'SPDXRef-DOCUMENT',
    name,
    spdxVersion: 'SPDX-2.3',
    creationInfo: {
      created: new Date(created * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      creators: [`Tool: apko (${apkoVersion ?? 'devel'})`, 'Organization: Chainguard, Inc'],
      licenseListVersion: '3.27',
    },
    dataLicense: 'CC0-1.0',
    documentNamespace: 'https://spdx.org/spdxdocs/apko/',
  };
}

/** Go's json.Encoder with two-space indent and HTML escaping, and its newline. */
function render(doc: Record<string, unknown>, d: Doc): string {
  const out = {
    ...doc,
    documentDescribes: d.documentDescribes,
    packages: d.packages.map(packageJson),
    relationships: d.relationships,
    ...(d.licensing.length > 0 ? { hasExtractedLicensingInfos: d.licensing } : {}),
  };
  return `${JSON.stringify(out, null, 2).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}\n`;
}

/** A package in apko's field order, `omitempty` fields dropped when empty. */
function packageJson(p: Pkg): Record<string, unknown> {
  const out: Record<string, unknown> = { SPDXID: p.SPDXID, name: p.name };
  const opt = (k: keyof Pkg) => {
    const v = p[k];
    if (v !== undefined && v !== '' && !(Array.isArray(v) && v.length === 0)) out[k] = v;
  };
  opt('versionInfo');
  out.filesAnalyzed = p.filesAnalyzed;
  for (const k of ['licenseConcluded', 'licenseDeclared', 'description'] as const) opt(k);
  out.downloadLocation = p.downloadLocation;
  for (const k of [
    'originator',
    'supplier',
    'sourceInfo',
    'copyrightText',
    'attributionText',
    'primaryPackagePurpose',
    'checksums',
    'externalRefs',
  ] as const)
    opt(k);
  return out;
}

/**
 * The SBOM apko writes for one platform image (`sbom-<arch>.spdx.json`).
 *
 * @throws ProvenantError `INVALID_PACKAGE` where apko's SBOM step fails (an os-release line it
 *   cannot read, a package SBOM relating to elements it does not hold)
 */
export function apkoImageSbom(input: ApkoImageSbomInput): string {
  const os = apkoReleaseData(input.osRelease);
  const supplier = supplierOf(os.name);
  const purlName = apkoPurlName(input.tag);
  const imageQualifiers = { arch: input.architecture, os: 'linux', mediaType: MANIFEST };
  const first = input.layers[0]?.digest ?? '';
  const image: Pkg = {
    SPDXID: spdxIdentifier(`SPDXRef-Package-Image-${input.manifestDigest}`),
    name: input.manifestDigest,
    versionInfo: input.manifestDigest,
    filesAnalyzed: false,
    description: 'apko container image',
    downloadLocation: NOASSERTION,
    supplier,
    primaryPackagePurpose: 'CONTAINER',
    checksums: [{ algorithm: 'SHA256', checksumValue: input.manifestDigest.replace(/^sha256:/, '') }],
    externalRefs: [
      {
        referenceCategory: 'PACKAGE-MANAGER',
        referenceLocator: purl(purlName, input.manifestDigest, imageQualifiers),
        referenceType: 'purl',
      },
    ],
  };
  const d: Doc = { documentDescribes: [image.SPDXID], packages: [image], relationships: [], licensing: [] };
  for (const layer of input.layers) {
    const id = `SPDXRef-Package-ImageLayer-${spdxIdentifier(layer.digest)}`;
    d.relationships.push({ spdxElementId: image.SPDXID, relationshipType: 'CONTAINS', relatedSpdxElement: id });
    d.packages.push({
      SPDXID: id,
      name: layer.digest,
      versionInfo: os.versionId,
      filesAnalyzed: false,
      description: 'apko operating system layer',
      downloadLocation: NOASSERTION,
      supplier,
      primaryPackagePurpose: 'CONTAINER',
      externalRefs: [
        {
          referenceCategory: 'PACKAGE-MANAGER',
          referenceLocator: purl(purlName, layer.digest, { ...imageQualifiers, mediaType: layer.mediaType }),
          referenceType: 'purl',
        },
      ],
    });
  }
  d.packages.push({
    SPDXID: `SPDXRef-OperatingSystem-${spdxIdentifier(os.id)}`,
    name: os.id,
    versionInfo: os.versionId,
    filesAnalyzed: false,
    description: 'Operating System',
    downloadLocation: NOASSERTION,
    supplier,
    primaryPackagePurpose: 'OPERATING_SYSTEM',
  });
  for (const p of input.installed) {
    const bytes = input.packageSboms.get(p.name);
    if (bytes !== undefined) mergePackageSbom(d, bytes, supplier, `/var/lib/db/sbom (${p.name}-${p.version})`);
  }
  const seen = new Set<string>();
  d.packages = d.packages.filter((p) => !seen.has(p.SPDXID) && seen.add(p.SPDXID) !== undefined);
  return render(document(first === '' ? 'sbom' : `sbom-${first}`, input.created, input.apkoVersion), d);
}

/**
 * The installed packages ({@link ApkoImageSbomInput.installed}) that an image's apko SBOM leaves
 * out, as `name-version`: those with no SBOM of their own in /var/lib/db/sbom, one apko cannot
 * parse, or one that holds no package (it adds nothing). apko lists a package only through its own
 * SBOM (ProcessInternalApkSBOM), so a package built by other means than melange is in the image
 * and not in its SPDX SBOM.
 */
export function apkoSbomLeavesOut(input: Pick<ApkoImageSbomInput, 'installed' | 'packageSboms'>): string[] {
  return input.installed
    .filter((p) => {
      const bytes = input.packageSboms.get(p.name);
      const own = bytes === undefined ? undefined : parseInternalSbom(bytes);
      return own === undefined || own.packages.length === 0;
    })
    .map((p) => `${p.name}-${p.version}`);
}

/**
 * Says which packages an apko SBOM leaves out ({@link apkoSbomLeavesOut}), `left` as
 * `name-version`, naming the first three; `instead` says what gives an SBOM of every package.
 * Nothing when none is left out: being apko's byte for byte is what --compat apko promises, and
 * that a package is missing from it is otherwise found out only by reading it.
 */
export function warnApkoSbomLeavesOut(left: readonly string[], instead: string, logger: Logger | undefined): void {
  if (left.length === 0) return;
  logger?.warn(
    `the SPDX SBOM lists none of ${left.length} package${left.length === 1 ? '' : 's'} (${left.slice(0, 3).join(', ')}${left.length > 3 ? ', ...' : ''}): with --compat apko it is written as apko writes it, which lists only the packages that ship an SBOM of their own in /var/lib/db/sbom; ${instead}`,
  );
}

/** ProcessInternalApkSBOM: a package's own SBOM merged into the image's. One apko cannot parse is skipped, as apko skips it. */
function mergePackageSbom(d: Doc, bytes: Uint8Array, supplier: string, where: string): void {
  const source = parseInternalSbom(bytes);
  if (source === undefined) return;
  for (const p of source.packages) {
    if (p.originator === undefined || p.originator === '') p.originator = supplier;
    if (p.supplier === undefined || p.supplier === '') p.supplier = p.originator;
    p.filesAnalyzed = false;
  }
  const described = new Set(source.documentDescribes ?? []);
  for (const r of source.relationships)
    if (r.spdxElementId === 'SPDXRef-DOCUMENT' && r.relationshipType === 'DESCRIBES') described.add(r.relatedSpdxElement);
  const targets: string[] = [];
  for (const p of source.packages) {
    if (!described.has(p.SPDXID) || targets.includes(p.SPDXID)) continue;
    targets.push(p.SPDXID);
    if (targets.length === described.size) break;
  }
  const todo = new Set(targets);
  for (let before = -1; todo.size !== before && todo.size > 0; ) {
    before = todo.size;
    for (const r of source.relationships)
      if (!r.relatedSpdxElement.startsWith('SPDXRef-File-') && todo.has(r.spdxElementId)) todo.add(r.relatedSpdxElement);
  }
  const done = new Set<string>();
  for (const p of source.packages) {
    if (!todo.has(p.SPDXID)) continue;
    d.packages.push(p);
    done.add(p.SPDXID);
  }
  for (const r of source.relationships)
    if (todo.has(r.spdxElementId) && !r.relatedSpdxElement.startsWith('SPDXRef-File-')) d.relationships.push(r);
  const missing = [...todo].filter((id) => !done.has(id));
  if (missing.length > 0) {
    throw new ProvenantError(
      'INVALID_PACKAGE',
      `${where}: its relationships name ${missing.join(', ')}, which it does not hold as packages`,
      {
        where,
        hint: "apko's SBOM step fails on it too",
      },
    );
  }
  for (const l of source.licensing) if (!d.licensing.some((t) => t.licenseId === l.licenseId)) d.licensing.push(l);
  const root = d.documentDescribes?.[0];
  if (root !== undefined)
    for (const t of targets) d.relationships.push({ spdxElementId: root, relationshipType: 'CONTAINS', relatedSpdxElement: t });
}

type Shape = 'string' | 'bool' | { list: Record<string, Shape> } | 'strings';

const CHECKSUM: Record<string, Shape> = { algorithm: 'string', checksumValue: 'string' };
const REF: Record<string, Shape> = { referenceCategory: 'string', referenceLocator: 'string', referenceType: 'string' };
const PACKAGE: Record<string, Shape> = {
  SPDXID: 'string',
  name: 'string',
  versionInfo: 'string',
  filesAnalyzed: 'bool',
  licenseConcluded: 'string',
  licenseDeclared: 'string',
  description: 'string',
  downloadLocation: 'string',
  originator: 'string',
  supplier: 'string',
  sourceInfo: 'string',
  copyrightText: 'string',
  attributionText: 'string',
  primaryPackagePurpose: 'string',
  checksums: { list: CHECKSUM },
  externalRefs: { list: REF },
};
const RELATIONSHIP: Record<string, Shape> = { spdxElementId: 'string', relationshipType: 'string', relatedSpdxElement: 'string' };
const LICENSING: Record<string, Shape> = { licenseId: 'string', extractedText: 'string' };

class Mismatch extends Error {}

/**
 * json.Unmarshal into apko's structs: known fields only (keys matched exactly, else without
 * regard to case, the last key winning), null leaves the zero value, a value of the wrong type
 * fails the whole document.
 */
function decode(value: unknown, shape: Record<string, Shape>): Record<string, unknown> {
  if (value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new Mismatch();
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const field = Object.hasOwn(shape, key) ? key : Object.keys(shape).find((k) => k.toLowerCase() === key.toLowerCase());
    if (field === undefined || v === null) continue;
    const s = shape[field] as Shape;
    if (s === 'string') {
      if (typeof v !== 'string') throw new Mismatch();
      out[field] = v;
    } else if (s === 'bool') {
      if (typeof v !== 'boolean') throw new Mismatch();
      out[field] = v;
    } else if (s === 'strings') {
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' && x !== null)) throw new Mismatch();
      out[field] = v.map((x) => x ?? '');
    } else {
      if (!Array.isArray(v)) throw new Mismatch();
      out[field] = v.map((x) => decode(x, s.list));
    }
  }
  return out;
}

function parseInternalSbom(bytes: Uint8Array): Doc | undefined {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
    const top = decode(json, {
      documentDescribes: 'strings',
      packages: { list: PACKAGE },
      relationships: { list: RELATIONSHIP },
      hasExtractedLicensingInfos: { list: LICENSING },
    });
    const rel = (r: Record<string, unknown>): Rel => ({
      spdxElementId: (r.spdxElementId as string) ?? '',
      relationshipType: (r.relationshipType as string) ?? '',
      relatedSpdxElement: (r.relatedSpdxElement as string) ?? '',
    });
    return {
      documentDescribes: (top.documentDescribes as string[] | undefined) ?? null,
      packages: ((top.packages as Record<string, unknown>[] | undefined) ?? []).map(
        (p) => ({ SPDXID: '', name: '', filesAnalyzed: false, downloadLocation: '', ...p }) as Pkg,
      ),
      relationships: ((top.relationships as Record<string, unknown>[] | undefined) ?? []).map(rel),
      licensing: ((top.hasExtractedLicensingInfos as Record<string, unknown>[] | undefined) ?? []).map((l) => ({
        licenseId: (l.licenseId as string) ?? '',
        extractedText: (l.extractedText as string) ?? '',
      })),
    };
  } catch {
    return undefined;
  }
}

/** The SBOM apko writes for the index (`sbom-index.spdx.json`). */
export function apkoIndexSbom(input: ApkoIndexSbomInput): string {
  const supplier = 'Organization: Chainguard, Inc.';
  const imageName = apkoPurlName(input.tag);
  const indexName = imageName === 'image' ? 'index' : imageName;
  const hex = input.indexDigest.replace(/^sha256:/, '');
  const index: Pkg = {
    SPDXID: `SPDXRef-Package-${spdxIdentifier(input.indexDigest)}`,
    name: input.indexDigest,
    versionInfo: input.indexDigest,
    filesAnalyzed: false,
    description: 'Multi-arch image index',
    downloadLocation: NOASSERTION,
    supplier,
    sourceInfo: 'Generated at image build time by apko',
    primaryPackagePurpose: 'CONTAINER',
    checksums: [{ algorithm: 'SHA256', checksumValue: hex }],
    externalRefs: [
      {
        referenceCategory: 'PACKAGE-MANAGER',
        referenceLocator: purl(indexName, input.indexDigest, { mediaType: INDEX }),
        referenceType: 'purl',
      },
    ],
  };
  const d: Doc = { documentDescribes: [index.SPDXID], packages: [index], relationships: [], licensing: [] };
  const images = [...input.images].sort((a, b) => (a.arch < b.arch ? -1 : a.arch > b.arch ? 1 : 0));
  for (const image of images) {
    const imageHex = image.digest.replace(/^sha256:/, '');
    const id = `SPDXRef-Package-${spdxIdentifier(image.digest)}`;
    d.packages.push({
      SPDXID: id,
      name: `sha256:${imageHex}`,
      versionInfo: `sha256:${imageHex}`,
      filesAnalyzed: false,
      downloadLocation: NOASSERTION,
      supplier,
      primaryPackagePurpose: 'CONTAINER',
      checksums: [{ algorithm: 'SHA256', checksumValue: imageHex }],
      externalRefs: [
        {
          referenceCategory: 'PACKAGE-MANAGER',
          referenceLocator: purl(imageName, image.digest, { arch: image.arch.split('/')[0] as string, os: 'linux', mediaType: MANIFEST }),
          referenceType: 'purl',
        },
      ],
    });
    d.relationships.push({ spdxElementId: spdxIdentifier(index.SPDXID), relationshipType: 'VARIANT_OF', relatedSpdxElement: id });
  }
  if (input.vcsUrl !== undefined && input.vcsUrl !== '') addSourcePackage(d, input.vcsUrl, index.SPDXID, supplier);
  return render(document(`sbom-${input.indexDigest}`, input.created, input.apkoVersion), d);
}

/** addSourcePackage: the configuration's repository, which the index is GENERATED_FROM. */
function addSourcePackage(d: Doc, vcsUrl: string, parent: string, supplier: string): void {
  const at = vcsUrl.indexOf('@');
  const commit = at < 0 ? '' : vcsUrl.slice(at + 1);
  let name = at < 0 ? vcsUrl : vcsUrl.slice(0, at);
  for (const prefix of ['git+ssh://', 'git://', 'https://']) if (name.startsWith(prefix)) name = name.slice(prefix.length);
  const id = `SPDXRef-Package-${spdxIdentifier(vcsUrl)}`;
  const refs: Pkg['externalRefs'] = [];
  if (name.startsWith('github.com/')) {
    const slug = name.slice('github.com/'.length);
    const slash = slug.indexOf('/');
    if (slash >= 0) {
      const org = slug.slice(0, slash);
      const repo = slug.slice(slash + 1).replace(/\.git$/, '');
      refs.push({
        referenceCategory: 'PACKAGE-MANAGER',
        referenceLocator: `pkg:github/${pathEscape(org)}/${pathEscape(repo)}${commit === '' ? '' : `@${pathEscape(commit)}`}`,
        referenceType: 'purl',
      });
    }
  }
  d.packages.push({
    SPDXID: id,
    name,
    versionInfo: commit,
    filesAnalyzed: false,
    description: 'Image configuration source',
    downloadLocation: vcsUrl,
    supplier,
    primaryPackagePurpose: 'SOURCE',
    checksums: at < 0 ? [] : [{ algorithm: 'SHA1', checksumValue: commit }],
    externalRefs: refs,
  });
  d.relationships.push({ spdxElementId: parent, relationshipType: 'GENERATED_FROM', relatedSpdxElement: id });
}
