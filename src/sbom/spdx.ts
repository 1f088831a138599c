/**
 * SPDX 2.3 JSON documents for an image and for a multi-platform index, written from an
 * {@link Inventory}. The output is deterministic: the same inventory and options give the same
 * JSON, byte for byte (packages, files and relationships are sorted; nothing reads a clock).
 *
 * The format: https://spdx.github.io/spdx-spec/v2.3/ (clause 6 document creation, 7 packages,
 * 8 files, 10 other licensing information, 11 relationships, Annex D license expressions) and
 * its JSON schema (spdx/spdx-spec, branch support/2.3, schemas/spdx-schema.json).
 */
import { createHash } from 'node:crypto';
import { ProvenantError } from '../errors.ts';
import type { Logger } from '../io/types.ts';
import type { Inventory, InventoryPackage } from '../pkg/inventory.ts';
import { epochSeconds, formatTimestamp } from '../time.ts';
import { compareStrings, imagePackageUrl, packageUrl } from './purl.ts';
import { SPDX_EXCEPTION_IDS, SPDX_LICENSE_IDS } from './spdx-licenses.ts';

// ---------------------------------------------------------------------------------------------
// Helpers shared with the CycloneDX writer
// ---------------------------------------------------------------------------------------------

/**
 * The timestamp an SBOM carries, from the caller's `created` (an ISO 8601 date, normally from
 * {@link timestampFromEpoch}), in the one form SPDX allows: `YYYY-MM-DDThh:mm:ssZ`.
 *
 * @throws ProvenantError `USAGE` when `created` is not a date
 */
export function sbomTimestamp(created: string): string {
  const ms = Date.parse(created);
  if (!/^\d{4}-\d\d-\d\dT/.test(created) || Number.isNaN(ms)) {
    throw new ProvenantError('USAGE', `the SBOM creation time ${JSON.stringify(created)} is not an ISO 8601 date and time`, {
      hint: 'pass an ISO time such as 2024-01-01T00:00:00Z, or derive it from SOURCE_DATE_EPOCH with timestampFromEpoch',
    });
  }
  return formatTimestamp(new Date(ms));
}

/**
 * The SBOM timestamp for a `SOURCE_DATE_EPOCH` value (whole seconds since 1970), so documents of
 * a reproducible build carry the build's time rather than the clock's
 * (https://reproducible-builds.org/specs/source-date-epoch/).
 *
 * @throws ProvenantError `USAGE` when the value is not a whole number of seconds
 */
export function timestampFromEpoch(seconds: number | string): string {
  return formatTimestamp(epochSeconds(String(seconds).trim()));
}

/** A checksum algorithm both SBOM formats name. */
interface Algorithm {
  spdx: string;
  cyclonedx: string;
  hexLength: number;
}
const ALGORITHMS: Record<string, Algorithm> = {
  md5: { spdx: 'MD5', cyclonedx: 'MD5', hexLength: 32 },
  sha1: { spdx: 'SHA1', cyclonedx: 'SHA-1', hexLength: 40 },
  sha256: { spdx: 'SHA256', cyclonedx: 'SHA-256', hexLength: 64 },
  sha384: { spdx: 'SHA384', cyclonedx: 'SHA-384', hexLength: 96 },
  sha512: { spdx: 'SHA512', cyclonedx: 'SHA-512', hexLength: 128 },
};

/** One checksum, with the names both formats give its algorithm. */
export interface NamedChecksum {
  spdx: string;
  cyclonedx: string;
  /** Lowercase hex. */
  hex: string;
}

/**
 * The checksums of an inventory entry that both formats can carry, sorted by algorithm: keys
 * such as `sha1`, `SHA-256` or `sha_512`, values hex of the right length. Others are left out
 * rather than written wrong.
 */
export function namedChecksums(checksums: Readonly<Record<string, string>> | undefined): NamedChecksum[] {
  const out: NamedChecksum[] = [];
  for (const [key, value] of Object.entries(checksums ?? {})) {
    const name = key.toLowerCase().replace(/[-_]/g, '');
    const alg = Object.hasOwn(ALGORITHMS, name) ? ALGORITHMS[name] : undefined;
    const hex = value.toLowerCase();
    if (alg !== undefined && hex.length === alg.hexLength && /^[0-9a-f]+$/.test(hex)) out.push({ ...alg, hex });
  }
  return out.sort((a, b) => compareStrings(a.spdx, b.spdx));
}

/** A package of the inventory with what both writers need, in document order. */
export interface PreparedPackage {
  pkg: InventoryPackage;
  purl: string;
  /** The packages it depends on, as indexes into the prepared list, sorted, without itself. */
  dependsOn: number[];
}

/**
 * Sorts the packages (by name, version, architecture, ecosystem), gives each its PURL and
 * resolves `dependsOn` names to the installed packages of that name (every architecture of it,
 * as a multi-arch Debian system may hold several). Names nothing provides are dropped: the
 * inventory says what is installed, not what is missing.
 *
 * @throws ProvenantError `INVALID_PACKAGE` when two packages have the same PURL, so no SBOM
 *   could tell them apart
 */
export function preparePackages(inventory: Inventory): PreparedPackage[] {
  const sorted = [...inventory.packages].sort(
    (a, b) =>
      compareStrings(a.name, b.name) ||
      compareStrings(a.version, b.version) ||
      compareStrings(a.arch, b.arch) ||
      compareStrings(a.ecosystem, b.ecosystem),
  );
  const seen = new Set<string>();
  const prepared: PreparedPackage[] = sorted.map((pkg) => {
    const purl = packageUrl(pkg, inventory.distro);
    if (seen.has(purl)) {
      throw new ProvenantError('INVALID_PACKAGE', `the inventory lists the package ${purl} twice`, {
        where: inventory.image.name,
        hint: 'an inventory holds each installed package once',
      });
    }
    seen.add(purl);
    return { pkg, purl, dependsOn: [] };
  });
  const byName = new Map<string, number[]>();
  prepared.forEach((p, i) => {
    const list = byName.get(p.pkg.name);
    if (list === undefined) byName.set(p.pkg.name, [i]);
    else list.push(i);
  });
  prepared.forEach((p, i) => {
    const deps = new Set<number>();
    for (const name of p.pkg.dependsOn) for (const j of byName.get(name) ?? []) if (j !== i) deps.add(j);
    p.dependsOn = [...deps].sort((a, b) => a - b);
  });
  return prepared;
}

/**
 * An identifier made of `[A-Za-z0-9.-]` (what SPDX allows after `SPDXRef-` and `LicenseRef-`)
 * that is stable for `raw` and keeps apart strings that differ only in replaced characters:
 * when characters had to be replaced, the first 8 hex digits of the SHA-256 of `raw` follow.
 */
function stableId(raw: string): string {
  const clean = raw.replace(/[^A-Za-z0-9.-]+/g, '-').replace(/^-+|-+$/g, '');
  if (clean === raw && raw !== '') return raw;
  const hash = createHash('sha256').update(raw).digest('hex').slice(0, 8);
  return clean === '' ? hash : `${clean}-${hash}`;
}

// ---------------------------------------------------------------------------------------------
// License expressions (SPDX 2.3 Annex D)
// ---------------------------------------------------------------------------------------------

const ID = /^[A-Za-z0-9.-]+$/;
const LICENSE_ID = /^[A-Za-z0-9.-]+\+?$/;
const LICENSE_REF = /^(?:DocumentRef-[A-Za-z0-9.-]+:)?LicenseRef-[A-Za-z0-9.-]+$/;
const OPERATORS = new Set(['AND', 'OR', 'WITH']);
/** The deepest parentheses {@link parseLicenseExpression} reads: deeper text is no expression to it. */
const MAX_NESTING = 64;

/** How {@link parseLicenseExpression} spells a license id and an exception id, undefined for one it does not take. */
interface IdSpelling {
  license(id: string): string | undefined;
  exception(id: string): string | undefined;
  /** Whether it takes `DocumentRef-…:LicenseRef-…`, a license defined in another document. */
  documentRefs: boolean;
}

/** Any id the grammar allows, as written. */
const ANY_ID: IdSpelling = { license: (id) => id, exception: (id) => id, documentRefs: true };

let listed: IdSpelling | undefined;
/**
 * The ids of the SPDX License List, as the list spells them: Annex D matches them without
 * regard to case (`mit` is `MIT`). `ID+` ("or later") is a listed id with `+` after it.
 */
function listedIds(): IdSpelling {
  if (listed !== undefined) return listed;
  const byKey = (ids: readonly string[]) => new Map(ids.map((id) => [id.toLowerCase(), id]));
  const licenses = byKey(SPDX_LICENSE_IDS);
  const exceptions = byKey(SPDX_EXCEPTION_IDS);
  listed = {
    license: (id) => {
      const whole = licenses.get(id.toLowerCase());
      if (whole !== undefined || !id.endsWith('+')) return whole;
      const base = licenses.get(id.slice(0, -1).toLowerCase());
      return base === undefined ? undefined : `${base}+`;
    },
    exception: (id) => exceptions.get(id.toLowerCase()),
    // A document that names another's license must say which document that is
    // (externalDocumentRefs, SPDX 2.3 clause 6.6); a package's license text never does.
    documentRefs: false,
  };
  return listed;
}

/**
 * `text` as an SPDX license expression by the grammar of SPDX 2.3 Annex D, whitespace made single
 * spaces and each id spelled by `ids`; undefined when it is none, or names an id `ids` does not
 * take. The grammar: license ids (`MIT`, `GPL-2.0+`), `LicenseRef-…` and
 * `DocumentRef-…:LicenseRef-…`, `WITH` an exception id, `AND`, `OR` and parentheses (operators in
 * upper case, as the annex says to match them); `NONE` and `NOASSERTION` on their own.
 * Parentheses nested deeper than {@link MAX_NESTING} make it none.
 */
function parseLicenseExpression(text: string, ids: IdSpelling): string | undefined {
  const trimmed = text.trim();
  if (trimmed === 'NONE' || trimmed === 'NOASSERTION') return trimmed;
  const tokens = trimmed.match(/\(|\)|[^\s()]+/g) ?? [];
  if (tokens.length === 0) return undefined;
  const spelled = [...tokens];
  let at = 0;
  const peek = (): string | undefined => tokens[at];
  const simple = (): boolean => {
    const t = peek();
    if (t === undefined || OPERATORS.has(t) || t === '(' || t === ')') return false;
    if (LICENSE_REF.test(t)) {
      if (!ids.documentRefs && t.startsWith('DocumentRef-')) return false;
      at++;
      return true;
    }
    if (t.startsWith('LicenseRef-') || t.startsWith('DocumentRef-') || t === 'NONE' || t === 'NOASSERTION') return false;
    const id = LICENSE_ID.test(t) ? ids.license(t) : undefined;
    if (id === undefined) return false;
    spelled[at++] = id;
    return true;
  };
  let depth = 0;
  const withExpression = (): boolean => {
    if (peek() === '(') {
      // Parentheses nest by recursion: a package's license text is untrusted, and ten thousand
      // of them would overflow the stack. No real expression comes near the limit.
      if (++depth > MAX_NESTING) return false;
      at++;
      if (!orExpression() || peek() !== ')') return false;
      at++;
      depth--;
      return true;
    }
    if (!simple()) return false;
    if (peek() === 'WITH') {
      at++;
      const exception = peek();
      const id = exception === undefined || OPERATORS.has(exception) || !ID.test(exception) ? undefined : ids.exception(exception);
      if (id === undefined) return false;
      spelled[at++] = id;
    }
    return true;
  };
  // `a AND b AND c`, `a OR b`: one operand, then more after each `op`. AND binds tighter than OR.
  const joined = (op: string, operand: () => boolean) => (): boolean => {
    if (!operand()) return false;
    while (peek() === op) {
      at++;
      if (!operand()) return false;
    }
    return true;
  };
  const orExpression = joined('OR', joined('AND', withExpression));
  if (!orExpression() || at !== tokens.length) return undefined;
  // The text as written, its whitespace made single spaces, each token as spelled.
  let i = 0;
  return trimmed.replace(/\s+/g, ' ').replace(/\(|\)|[^\s()]+/g, () => spelled[i++] as string);
}

/**
 * True when `text` is an SPDX license expression by the grammar of SPDX 2.3 Annex D (see
 * {@link spdxLicenseExpression}). The syntax only: whether an id is on the SPDX License List is
 * not checked.
 */
export function isSpdxLicenseExpression(text: string): boolean {
  return parseLicenseExpression(text, ANY_ID) !== undefined;
}

/**
 * `text` as an SPDX license expression whose license and exception ids are all on the SPDX
 * License List (src/sbom/spdx-licenses.ts, from scripts/gen-spdx-licenses.ts), each spelled as
 * the list spells it and whitespace made single spaces; `LicenseRef-…` references are taken as
 * they are. Undefined for anything else: `GPL`, `BSD`, `custom`, `Public-Domain` read as
 * expressions but name no license of the list, and a document that declared them would be
 * invalid (SPDX 2.3 clause 7.13 and Annex D: an id not on the list must be a `LicenseRef-`).
 * Undefined too for an expression naming `DocumentRef-…:LicenseRef-…`: the document it points
 * into would have to be one of the SBOM's `externalDocumentRefs`, and a package's license names
 * none, so such text is kept as a `LicenseRef-` of its own like any other.
 */
export function spdxLicenseExpression(text: string): string | undefined {
  return parseLicenseExpression(text, listedIds());
}

/**
 * A package's license as the SBOMs declare it: {@link spdxLicenseExpression} of its text, else
 * an expression whose names are not all on the list: each name that is not becomes a
 * `LicenseRef-` of its own (`named` gives its text, the name as written), so that one unusual
 * name leaves the rest of the expression as it is: apk's `Zlib AND custom` keeps `Zlib`, as a
 * Debian expression Provenant wrote from the short names of its copyright file
 * (../pkg/deb/copyright.ts) keeps its listed ones. Undefined when the text is no expression by
 * the grammar (an SBOM then states it whole as one `LicenseRef-`).
 */
export function packageLicenseExpression(
  pkg: Pick<InventoryPackage, 'license'>,
): { expression: string; named: Map<string, string> } | undefined {
  const text = pkg.license.trim();
  const listedExpression = spdxLicenseExpression(text);
  if (listedExpression !== undefined) return { expression: listedExpression, named: new Map() };
  const ids = listedIds();
  const named = new Map<string, string>();
  const expression = parseLicenseExpression(text, {
    license: (id) => {
      const spelled = ids.license(id);
      if (spelled !== undefined) return spelled;
      const ref = `LicenseRef-${id.replace(/\+$/, '-or-later')}`;
      named.set(ref, id);
      return ref;
    },
    exception: ids.exception,
    documentRefs: false,
  });
  return expression === undefined || expression === 'NONE' || expression === 'NOASSERTION' ? undefined : { expression, named };
}

/** A `LicenseRef-…` in an expression (not one after `DocumentRef-…:`). */
const LICENSE_REF_IN = /(?<![\w:.-])LicenseRef-[A-Za-z0-9.-]+/g;

/**
 * One spelling for each `LicenseRef-` the `expressions` name: SPDX license ids, LicenseRefs
 * among them, match without regard to case (SPDX 2.3 Annex D), so the short names of two Debian
 * copyright files, `LicenseRef-GPL-3-or-later-WITH-BISON-EXCEPTION` and
 * `LicenseRef-GPL-3-or-later-with-Bison-exception`, are one license, and a document that defined
 * both would define it twice. The spelling kept is the first in sorted order, so it does not
 * depend on which package comes first.
 *
 * @returns a function that spells each LicenseRef of an expression so
 */
export function licenseRefSpelling(expressions: Iterable<string>): (expression: string) => string {
  const spelling = new Map<string, string>();
  for (const e of expressions) {
    for (const ref of e.match(LICENSE_REF_IN) ?? []) {
      const key = ref.toLowerCase();
      const kept = spelling.get(key);
      if (kept === undefined || compareStrings(ref, kept) < 0) spelling.set(key, ref);
    }
  }
  return (e) => e.replace(LICENSE_REF_IN, (ref) => spelling.get(ref.toLowerCase()) ?? ref);
}

/**
 * What a package declares as its license in an SPDX document, before {@link licenseRefSpelling}:
 * the expression (or `NOASSERTION`), and the text of each `LicenseRef-` it names, which the
 * document must define (clause 10.1).
 */
function declaredLicense(pkg: InventoryPackage): { declared: string; texts: [string, string][] } {
  const license = pkg.license.trim();
  if (license === '') return { declared: NOASSERTION, texts: [] };
  const parsed = packageLicenseExpression(pkg);
  if (parsed === undefined) {
    const ref = licenseRefFor(license);
    return { declared: ref, texts: [[ref, license]] };
  }
  const refs = parsed.expression.match(LICENSE_REF_IN) ?? [];
  return { declared: parsed.expression, texts: refs.map((ref) => [ref, parsed.named.get(ref) ?? ref]) };
}

/** The `LicenseRef-` that stands for a license text that is not an SPDX expression. */
export function licenseRefFor(raw: string): string {
  return `LicenseRef-${stableId(raw.trim())}`;
}

// ---------------------------------------------------------------------------------------------
// The document
// ---------------------------------------------------------------------------------------------

/** Options of {@link spdxDocument} and {@link spdxIndexDocument}. */
export interface SpdxOptions {
  /** When the SBOM was made, ISO 8601; from `SOURCE_DATE_EPOCH` (see {@link timestampFromEpoch}). */
  created: string;
  /** Provenant's version, for `creators: ["Tool: provenant-<version>"]`. */
  toolVersion: string;
  /** The base of `documentNamespace`; `https://provenant.dev/spdx` by default. */
  namespaceBase?: string | undefined;
  /**
   * List each package's files (with checksums) and `CONTAINS` relationships to them; such a
   * package is `filesAnalyzed` with its `packageVerificationCode`. A package whose files are not
   * all known by SHA-1 lists none, and `logger` is told which.
   */
  withFiles?: boolean | undefined;
  /** Told what the document leaves out (`withFiles`). */
  logger?: Logger | undefined;
}

/** A checksum as SPDX writes it. */
export interface SpdxChecksum {
  algorithm: string;
  checksumValue: string;
}

/** An SPDX 2.3 package, with the fields Provenant writes. */
export interface SpdxPackage {
  SPDXID: string;
  name: string;
  versionInfo?: string;
  supplier?: string;
  downloadLocation: string;
  filesAnalyzed: boolean;
  /** With `filesAnalyzed`: SPDX 2.3 clause 7.9, over the SHA-1s of the files the package contains. */
  packageVerificationCode?: { packageVerificationCodeValue: string };
  homepage?: string;
  sourceInfo?: string;
  licenseConcluded?: string;
  licenseDeclared?: string;
  copyrightText?: string;
  description?: string;
  primaryPackagePurpose?: string;
  checksums?: SpdxChecksum[];
  externalRefs?: { referenceCategory: string; referenceType: string; referenceLocator: string }[];
}

/** An SPDX 2.3 file. */
export interface SpdxFile {
  SPDXID: string;
  fileName: string;
  checksums: SpdxChecksum[];
  /** Clause 8.12: here, that the build changed the file after its package installed it. */
  comment?: string;
}

/** An SPDX 2.3 relationship. */
export interface SpdxRelationship {
  spdxElementId: string;
  relationshipType: string;
  relatedSpdxElement: string;
}

/** An SPDX 2.3 JSON document as Provenant writes it. */
export interface SpdxDocument {
  SPDXID: 'SPDXRef-DOCUMENT';
  spdxVersion: 'SPDX-2.3';
  dataLicense: 'CC0-1.0';
  name: string;
  documentNamespace: string;
  creationInfo: { created: string; creators: string[] };
  documentDescribes: string[];
  packages: SpdxPackage[];
  files?: SpdxFile[];
  hasExtractedLicensingInfos?: { licenseId: string; extractedText: string; name: string; comment: string }[];
  relationships: SpdxRelationship[];
}

const NOASSERTION = 'NOASSERTION';
const DEFAULT_NAMESPACE_BASE = 'https://provenant.dev/spdx';

/** `sha256:abc…` → `abc…`; anything else as a stable id. */
function digestHex(digest: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  return m?.[1] ?? stableId(digest);
}

/** `Name <email>` (apk `m:`, deb `Maintainer`) → SPDX's `Organization: Name (email)`. */
function spdxSupplier(supplier: string): string {
  const text = supplier.replace(/\s+/g, ' ').trim();
  if (text === '') return NOASSERTION;
  const m = /^(.*?)\s*<([^<>]*)>$/.exec(text);
  if (m === null) return `Organization: ${text}`;
  const name = m[1] === '' ? (m[2] ?? '') : (m[1] ?? '');
  return m[2] === '' ? `Organization: ${name}` : `Organization: ${name} (${m[2]})`;
}

function isUrl(text: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\/\S+$/i.test(text) && URL.canParse(text);
}

function imageId(digest: string, kind: 'Image' | 'Index' = 'Image'): string {
  return `SPDXRef-${kind}-${digestHex(digest)}`;
}

function imagePackage(id: string, image: Inventory['image'], digest: string, purl: string, description: string): SpdxPackage {
  const hex = /^sha256:([0-9a-f]{64})$/.exec(digest)?.[1];
  return {
    SPDXID: id,
    // An image without a name is `image`, as the document's name and the purl call it; its digest is the version.
    name: image.name === '' ? 'image' : image.name,
    versionInfo: digest,
    supplier: NOASSERTION,
    downloadLocation: NOASSERTION,
    filesAnalyzed: false,
    description,
    primaryPackagePurpose: 'CONTAINER',
    ...(hex === undefined ? {} : { checksums: [{ algorithm: 'SHA256', checksumValue: hex }] }),
    externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: purl }],
  };
}

/**
 * `SPDXRef-Package-<ecosystem>-<name>-<version>-<arch>`, characters SPDX does not allow in an id
 * replaced by `-` (`x86_64` → `x86-64`). Replacing and joining with `-` can make two packages
 * look alike (`libstdc++` and `libstdc--`; Debian's `foo-1` version `2` and `foo` version `1-2`);
 * those get the first 8 hex digits of the SHA-256 of their exact parts appended, so ids are
 * unique and the same package keeps its id unless such a look-alike shares its document.
 */
function packageSpdxIds(prepared: readonly PreparedPackage[]): string[] {
  const parts = prepared.map((p) => [p.pkg.ecosystem, p.pkg.name, p.pkg.version, p.pkg.arch]);
  const ids = parts.map(
    (x) =>
      `SPDXRef-Package-${x
        .join('-')
        .replace(/[^A-Za-z0-9.-]+/g, '-')
        .replace(/-+$/, '')}`,
  );
  const counts = new Map<string, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  const out = ids.map((id, i) =>
    (counts.get(id) ?? 0) > 1 ? `${id}-${createHash('sha256').update(JSON.stringify(parts[i])).digest('hex').slice(0, 8)}` : id,
  );
  if (new Set(out).size !== out.length) {
    throw new ProvenantError('INVALID_PACKAGE', 'two packages of the inventory get the same SPDX identifier', {
      hint: 'an inventory holds each installed package once',
    });
  }
  return out;
}

function platformOf(image: Inventory['image']): string {
  return `${image.os}/${image.architecture}${image.variant === undefined ? '' : `/${image.variant}`}`;
}

function sortRelationships(list: SpdxRelationship[]): SpdxRelationship[] {
  const seen = new Set<string>();
  return list
    .filter((r) => {
      const key = `${r.spdxElementId} ${r.relationshipType} ${r.relatedSpdxElement}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .sort(
      (a, b) =>
        compareStrings(a.spdxElementId, b.spdxElementId) ||
        compareStrings(a.relationshipType, b.relationshipType) ||
        compareStrings(a.relatedSpdxElement, b.relatedSpdxElement),
    );
}

/**
 * Fills in `documentNamespace`: the base, the image (or index) digest, and a hash of the rest of
 * the document, so the namespace is deterministic yet differs whenever the content does (SPDX 2.3
 * clause 6.5: a changed document needs a new namespace).
 */
function withNamespace(doc: Omit<SpdxDocument, 'documentNamespace'>, base: string | undefined, digest: string): SpdxDocument {
  const contentHash = createHash('sha256').update(JSON.stringify(doc)).digest('hex').slice(0, 16);
  const namespace = `${(base ?? DEFAULT_NAMESPACE_BASE).replace(/\/+$/, '')}/${digestHex(digest)}-${contentHash}`;
  const { SPDXID, spdxVersion, dataLicense, name, ...rest } = doc;
  return { SPDXID, spdxVersion, dataLicense, name, documentNamespace: namespace, ...rest };
}

function creationInfo(options: SpdxOptions): SpdxDocument['creationInfo'] {
  return { created: sbomTimestamp(options.created), creators: [`Tool: provenant-${options.toolVersion}`] };
}

/** The comment of a file the build rewrote after its package installed it. */
const CHANGED_BY_BUILD =
  'Changed by the image build after the package installed it (accounts, os-release or paths of the configuration): the checksums are of the bytes in the image, not of those the package shipped.';

/**
 * A package's files as SPDX 2.3 describes them, each with its SHA-1 (clause 8.4 wants one for
 * every file) and the SHA-256 when known; undefined when a file has no SHA-1, since a package
 * that lists files must list all of them (clause 7.8: its verification code covers them all).
 *
 * A file the build rewrote is listed with the digests of its bytes in the image and a comment that
 * says so, and the package's verification code is over those: clause 7.9 makes the code over the
 * files the package contains, in correlation with what the document says of them, and the
 * document describes the image. What the package shipped, its own checksum identifies.
 */
function filesOf(purl: string, pkg: InventoryPackage): SpdxFile[] | undefined {
  const out: SpdxFile[] = [];
  const seen = new Set<string>();
  for (const f of pkg.files ?? []) {
    const sums = namedChecksums({
      ...(f.sha1 === undefined ? {} : { sha1: f.sha1 }),
      ...(f.sha256 === undefined ? {} : { sha256: f.sha256 }),
    });
    if (!sums.some((c) => c.spdx === 'SHA1')) return undefined;
    // A path listed twice is one file (the first record of it).
    const id = `SPDXRef-File-${createHash('sha256').update(`${purl}\0${f.path}`).digest('hex').slice(0, 16)}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({
      SPDXID: id,
      fileName: f.path.startsWith('/') ? `.${f.path}` : `./${f.path}`,
      checksums: sums.map((c) => ({ algorithm: c.spdx, checksumValue: c.hex })),
      ...(f.changedByBuild === true ? { comment: CHANGED_BY_BUILD } : {}),
    });
  }
  return out;
}

/**
 * SPDX 2.3 clause 7.9's package verification code: the SHA-1 of the files' SHA-1s (lowercase
 * hex), sorted and concatenated with nothing between them.
 */
export function verificationCode(files: readonly SpdxFile[]): string {
  const sha1s = files.map((f) => f.checksums.find((c) => c.algorithm === 'SHA1')?.checksumValue.toLowerCase() ?? '').sort();
  return createHash('sha1').update(sha1s.join('')).digest('hex');
}

/**
 * The SPDX 2.3 document of one image: a package for the image (purpose `CONTAINER`, with its OCI
 * PURL), one for its operating system (`OPERATING_SYSTEM`) and one per installed package (PURL,
 * declared license, supplier, checksums, source), with relationships `DESCRIBES` (document →
 * image), `CONTAINS` (image → system → packages; package → files with `withFiles`) and
 * `DEPENDS_ON` between packages.
 *
 * A license that is not an SPDX expression is declared as `LicenseRef-…`, with the text in
 * `hasExtractedLicensingInfos`. `licenseConcluded` is `NOASSERTION`: nothing here analyses files.
 *
 * @throws ProvenantError `USAGE` for a bad `created`; `INVALID_PACKAGE` when two packages share a PURL
 */
export function spdxDocument(inventory: Inventory, options: SpdxOptions): SpdxDocument {
  const { image, distro } = inventory;
  const prepared = preparePackages(inventory);
  const imageSpdxId = imageId(image.digest);
  const osName = distro.id === '' ? 'unknown' : distro.id;
  const osId = `SPDXRef-OperatingSystem-${stableId(distro.versionId === '' ? osName : `${osName}-${distro.versionId}`)}`;
  const packageIds = packageSpdxIds(prepared);
  const packages: SpdxPackage[] = [
    imagePackage(imageSpdxId, image, image.digest, imagePackageUrl(image), `container image for ${platformOf(image)}`),
    {
      SPDXID: osId,
      name: osName,
      ...(distro.versionId === '' ? {} : { versionInfo: distro.versionId }),
      supplier: NOASSERTION,
      downloadLocation: NOASSERTION,
      filesAnalyzed: false,
      ...(distro.prettyName === '' ? {} : { description: distro.prettyName }),
      primaryPackagePurpose: 'OPERATING_SYSTEM',
    },
  ];
  const relationships: SpdxRelationship[] = [
    { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: imageSpdxId },
    { spdxElementId: imageSpdxId, relationshipType: 'CONTAINS', relatedSpdxElement: osId },
  ];
  // Each LicenseRef spelled one way, defined once: with the text of that spelling when a package
  // gives it (the first text in sorted order when several do).
  const licenses = prepared.map((p) => declaredLicense(p.pkg));
  const spell = licenseRefSpelling(licenses.map((l) => l.declared));
  const extracted = new Map<string, string>();
  const texts = licenses.flatMap((l) => l.texts).sort(([a, x], [b, y]) => compareStrings(a, b) || compareStrings(x, y));
  for (const [ref, text] of texts) if (!extracted.has(spell(ref))) extracted.set(spell(ref), text);
  const files: SpdxFile[] = [];
  const unlisted: string[] = [];
  prepared.forEach((p, i) => {
    const { pkg } = p;
    const id = packageIds[i] as string;
    const declared = spell(licenses[i]?.declared ?? NOASSERTION);
    const checksums = namedChecksums(pkg.checksums);
    const contained = options.withFiles ? filesOf(p.purl, pkg) : undefined;
    if (contained === undefined && options.withFiles) unlisted.push(`${pkg.name} ${pkg.version}`);
    packages.push({
      SPDXID: id,
      name: pkg.name,
      ...(pkg.version === '' ? {} : { versionInfo: pkg.version }),
      supplier: spdxSupplier(pkg.supplier),
      downloadLocation: NOASSERTION,
      filesAnalyzed: contained !== undefined,
      ...(contained === undefined ? {} : { packageVerificationCode: { packageVerificationCodeValue: verificationCode(contained) } }),
      ...(isUrl(pkg.homepage) ? { homepage: pkg.homepage } : {}),
      // The form scanners read the source package from (trivy: "built package from: NAME VERSION").
      ...(pkg.source === '' ? {} : { sourceInfo: `built package from: ${pkg.source} ${pkg.sourceVersion ?? pkg.version}` }),
      licenseConcluded: NOASSERTION,
      licenseDeclared: declared,
      copyrightText: NOASSERTION,
      ...(pkg.description === '' ? {} : { description: pkg.description }),
      ...(checksums.length === 0 ? {} : { checksums: checksums.map((c) => ({ algorithm: c.spdx, checksumValue: c.hex })) }),
      externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: p.purl }],
    });
    // The system contains its packages (the image contains the system), as trivy and syft write
    // it: trivy takes a package as the system's only through that edge.
    relationships.push({ spdxElementId: osId, relationshipType: 'CONTAINS', relatedSpdxElement: id });
    for (const j of p.dependsOn) {
      relationships.push({ spdxElementId: id, relationshipType: 'DEPENDS_ON', relatedSpdxElement: packageIds[j] as string });
    }
    for (const f of contained ?? []) {
      files.push(f);
      relationships.push({ spdxElementId: id, relationshipType: 'CONTAINS', relatedSpdxElement: f.SPDXID });
    }
  });
  if (unlisted.length > 0) {
    options.logger?.warn(
      `the SBOM lists no files of ${unlisted.length} package${unlisted.length === 1 ? '' : 's'} (${unlisted.slice(0, 3).join(', ')}${unlisted.length > 3 ? ', ...' : ''}): SPDX 2.3 wants a SHA-1 of every file, and the package database gives none for some of its files`,
    );
  }
  files.sort((a, b) => compareStrings(a.fileName, b.fileName) || compareStrings(a.SPDXID, b.SPDXID));
  const uniqueFiles = files.filter((f, i) => i === 0 || files[i - 1]?.SPDXID !== f.SPDXID);
  const licensing = [...extracted]
    .sort(([a], [b]) => compareStrings(a, b))
    .map(([licenseId, text]) => ({
      licenseId,
      extractedText: text,
      name: text,
      comment:
        text === licenseId
          ? 'The package names this license by reference only; its text is not known.'
          : 'The license as the package states it; it is not an SPDX license expression of licenses on the SPDX License List.',
    }));
  return withNamespace(
    {
      SPDXID: 'SPDXRef-DOCUMENT',
      spdxVersion: 'SPDX-2.3',
      dataLicense: 'CC0-1.0',
      name: `${image.name === '' ? 'image' : image.name}@${image.digest}`,
      creationInfo: creationInfo(options),
      documentDescribes: [imageSpdxId],
      packages,
      ...(options.withFiles ? { files: uniqueFiles } : {}),
      ...(licensing.length === 0 ? {} : { hasExtractedLicensingInfos: licensing }),
      relationships: sortRelationships(relationships),
    },
    options.namespaceBase,
    image.digest,
  );
}

/** One platform image of an index, for {@link spdxIndexDocument}. */
export interface SpdxIndexImage {
  inventory: Inventory;
  /** The image manifest's digest, as the index lists it. */
  manifestDigest: string;
}

/**
 * The SPDX 2.3 document of a multi-platform index, in the shape of apko's `sbom-index.spdx.json`:
 * a `CONTAINER` package for the index (described by the document) and one per platform image,
 * each with its checksum and OCI PURL, the index `VARIANT_OF` each image. The per-image packages
 * have the same SPDXIDs as in each image's own {@link spdxDocument}.
 *
 * @throws ProvenantError `USAGE` for a bad `created`
 */
export function spdxIndexDocument(images: readonly SpdxIndexImage[], indexDigest: string, options: SpdxOptions): SpdxDocument {
  const first = images[0]?.inventory.image;
  const name = first?.name ?? '';
  const indexImage: Inventory['image'] = { name, digest: indexDigest, architecture: '', os: '' };
  const indexId = imageId(indexDigest, 'Index');
  const byId = new Map<string, SpdxPackage>();
  for (const { inventory, manifestDigest } of images) {
    const image = { ...inventory.image, digest: manifestDigest };
    const pkg = imagePackage(
      imageId(manifestDigest),
      image,
      manifestDigest,
      imagePackageUrl(image),
      `container image for ${platformOf(image)}`,
    );
    if (!byId.has(pkg.SPDXID)) byId.set(pkg.SPDXID, pkg);
  }
  const perImage = [...byId.values()].sort((a, b) => compareStrings(a.SPDXID, b.SPDXID));
  const relationships: SpdxRelationship[] = [
    { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: indexId },
    ...perImage.map((p) => ({ spdxElementId: indexId, relationshipType: 'VARIANT_OF', relatedSpdxElement: p.SPDXID })),
  ];
  return withNamespace(
    {
      SPDXID: 'SPDXRef-DOCUMENT',
      spdxVersion: 'SPDX-2.3',
      dataLicense: 'CC0-1.0',
      name: `${name === '' ? 'index' : name}@${indexDigest}`,
      creationInfo: creationInfo(options),
      documentDescribes: [indexId],
      packages: [
        imagePackage(indexId, indexImage, indexDigest, imagePackageUrl(indexImage, { noPlatform: true }), 'multi-platform image index'),
        ...perImage,
      ],
      relationships: sortRelationships(relationships),
    },
    options.namespaceBase,
    indexDigest,
  );
}
