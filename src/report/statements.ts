/**
 * What the report reads out of in-toto statements: the packages of an SPDX or CycloneDX SBOM and
 * the summary of a SLSA provenance (v1 or v0.2), preferring a signed statement to an unsigned one.
 * Every value is untrusted JSON, read field by field; what is missing or of the wrong type is left out.
 */
import { SLSA_V1, SLSA_V02 } from '../attest/provenance.ts';
import { predicateDocument } from '../image/statements.ts';
import type { Digest } from '../oci/digest.ts';
import { isObject } from '../oci/validate.ts';
import { cycloneDxInstalled, spdxInstalled } from '../sbom/installed.ts';
import type { ReportConfigFile, ReportMaterial, ReportPackage, ReportProvenance, ReportSbom, ReportSystem } from './data.ts';

const SPDX = 'https://spdx.dev/Document';
const CYCLONEDX = 'https://cyclonedx.org/bom';

/** An in-toto statement read from an attachment, with where it came from. */
export interface FoundStatement {
  predicateType: string;
  predicate: unknown;
  attachment: Digest;
  signed: boolean;
  /**
   * Signed only through the BuildKit attestation manifest that lists it (the manifest's own
   * signature covers its layers), not by a signature of its own.
   */
  throughManifest?: boolean | undefined;
}

/** How a statement is signed, most direct first: by its own signature, through its manifest's, not at all. */
function signedRank(s: FoundStatement): number {
  return !s.signed ? 2 : s.throughManifest === true ? 1 : 0;
}

/**
 * The statement of one of `types` (in order of preference) to show: a signed one before an
 * unsigned one, since a signature is what lets a reader trust it, and one signed itself (a
 * Sigstore bundle, a cosign attestation) before one signed only through the attestation manifest
 * that lists it, which a reader checks only with that manifest; else the first found.
 */
function pick(statements: readonly FoundStatement[], ...types: string[]): FoundStatement | undefined {
  for (const rank of [0, 1, 2]) {
    for (const t of types) {
      const s = statements.find((x) => x.predicateType === t && signedRank(x) === rank);
      if (s !== undefined) return s;
    }
  }
  return undefined;
}

/** The packages of the SPDX statement, else of the CycloneDX one (signed ones first, see {@link pick}). */
export function sbomFrom(statements: readonly FoundStatement[]): ReportSbom | undefined {
  const spdx = pick(statements, SPDX);
  if (spdx !== undefined) {
    // cosign's `attest --type spdx` keeps the document's text: a JSON one is read as its document.
    const document = predicateDocument(spdx.predicate);
    return {
      source: 'attached',
      format: 'spdx',
      attachment: spdx.attachment,
      packages: spdxPackages(document),
      system: spdxSystem(document),
      note: undefined,
    };
  }
  const cdx = pick(statements, CYCLONEDX);
  if (cdx !== undefined) {
    return {
      source: 'attached',
      format: 'cyclonedx',
      attachment: cdx.attachment,
      packages: cyclonedxPackages(cdx.predicate),
      system: cyclonedxSystem(cdx.predicate),
      note: undefined,
    };
  }
  return undefined;
}

/**
 * The packages installed of an SPDX 2.3 document: not the ones the document describes (the image
 * itself), nor the image's layers or its operating system ({@link spdxSystem}). A `LicenseRef-` is
 * shown as the licence text it stands for.
 */
export function spdxPackages(doc: unknown): ReportPackage[] {
  if (!isObject(doc)) return [];
  const described = new Set(strings(doc.documentDescribes) ?? []);
  const extracted = new Map<string, string>();
  for (const x of Array.isArray(doc.hasExtractedLicensingInfos) ? doc.hasExtractedLicensingInfos : []) {
    if (!isObject(x)) continue;
    const id = str(x.licenseId);
    const text = str(x.name) ?? str(x.extractedText);
    if (id !== undefined && text !== undefined) extracted.set(id, text);
  }
  const license = (v: unknown): string => {
    const s = str(v);
    if (s === undefined || s === 'NOASSERTION' || s === 'NONE') return '';
    return extracted.get(s) ?? s;
  };
  const out: ReportPackage[] = [];
  for (const p of Array.isArray(doc.packages) ? doc.packages : []) {
    if (!isObject(p) || described.has(str(p.SPDXID) ?? '') || !spdxInstalled(p.primaryPackagePurpose)) continue;
    const refs = (Array.isArray(p.externalRefs) ? p.externalRefs : []).filter(isObject);
    const purl = str(refs.find((r) => r.referenceType === 'purl')?.referenceLocator) ?? '';
    out.push({
      name: str(p.name) ?? '',
      version: str(p.versionInfo) ?? '',
      license: license(p.licenseDeclared) || license(p.licenseConcluded),
      purl,
      type: purlType(purl) ?? str(p.primaryPackagePurpose)?.toLowerCase().replaceAll('_', '-') ?? '',
    });
  }
  return out;
}

/** The operating system of an SPDX 2.3 document: its first `OPERATING_SYSTEM` package. */
export function spdxSystem(doc: unknown): ReportSystem | undefined {
  if (!isObject(doc)) return undefined;
  const os = (Array.isArray(doc.packages) ? doc.packages : []).find((p) => isObject(p) && p.primaryPackagePurpose === 'OPERATING_SYSTEM');
  return isObject(os) ? { name: str(os.name) ?? '', version: str(os.versionInfo) ?? '' } : undefined;
}

/** The installed packages of a CycloneDX document: its components but the image's layers and operating system. */
export function cyclonedxPackages(doc: unknown): ReportPackage[] {
  if (!isObject(doc)) return [];
  const out: ReportPackage[] = [];
  for (const c of Array.isArray(doc.components) ? doc.components : []) {
    if (!isObject(c) || !cycloneDxInstalled(c.type)) continue;
    const licenses = (Array.isArray(c.licenses) ? c.licenses : [])
      .filter(isObject)
      .map((l) => str(l.expression) ?? (isObject(l.license) ? (str(l.license.id) ?? str(l.license.name)) : undefined))
      .filter((l): l is string => l !== undefined);
    const purl = str(c.purl) ?? '';
    out.push({
      name: str(c.name) ?? '',
      version: str(c.version) ?? '',
      license: licenses.join(', '),
      purl,
      type: purlType(purl) ?? str(c.type) ?? '',
    });
  }
  return out;
}

/** The operating system of a CycloneDX document: its first `operating-system` component. */
export function cyclonedxSystem(doc: unknown): ReportSystem | undefined {
  if (!isObject(doc)) return undefined;
  const os = (Array.isArray(doc.components) ? doc.components : []).find((c) => isObject(c) && c.type === 'operating-system');
  return isObject(os) ? { name: str(os.name) ?? '', version: str(os.version) ?? '' } : undefined;
}

/**
 * The SLSA provenances attached (v1 and v0.2), each different statement once, the one to show
 * first: a signed one before an unsigned one (a signature is what lets a reader trust it), v1
 * before v0.2, then the newest by the build time the statement gives, else the one listed last
 * (a layout lists referrers in the order they were attached; Provenant's statements give no
 * time, being reproducible). A statement attached twice (a build's referrer and a later signed
 * `attest` of it) is one; a rebuild into the same layout (the same image digest, when the build
 * is reproducible) attaches another, and all are kept so the page can say so.
 */
export function provenancesFrom(statements: readonly FoundStatement[]): ReportProvenance[] {
  const found = statements.filter((s) => (s.predicateType === SLSA_V1 || s.predicateType === SLSA_V02) && isObject(s.predicate));
  const time = (s: FoundStatement): number => {
    const t = Date.parse(buildTime(s) ?? '');
    return Number.isNaN(t) ? Number.NEGATIVE_INFINITY : t;
  };
  const ordered = found
    .map((s, i) => ({ s, i }))
    .sort(
      (a, b) =>
        signedRank(a.s) - signedRank(b.s) ||
        Number(a.s.predicateType !== SLSA_V1) - Number(b.s.predicateType !== SLSA_V1) ||
        time(b.s) - time(a.s) ||
        b.i - a.i,
    )
    .map((x) => x.s);
  const seen = new Set<string>();
  const out: ReportProvenance[] = [];
  for (const s of ordered) {
    const key = `${s.predicateType}\n${JSON.stringify(s.predicate)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(summarizeProvenance(s));
  }
  return out;
}

/** When the build ran, as the statement says: its finish time, else its start (either version). */
function buildTime(s: FoundStatement): string | undefined {
  const p = isObject(s.predicate) ? s.predicate : {};
  if (s.predicateType === SLSA_V1) {
    const run = isObject(p.runDetails) ? p.runDetails : {};
    const m = isObject(run.metadata) ? run.metadata : {};
    return str(m.finishedOn) ?? str(m.startedOn);
  }
  const m = isObject(p.metadata) ? p.metadata : {};
  return str(m.buildFinishedOn) ?? str(m.buildStartedOn);
}

function summarizeProvenance(s: FoundStatement): ReportProvenance {
  const p = isObject(s.predicate) ? s.predicate : {};
  const summary = (builder: unknown, buildType: unknown, params: unknown, list: unknown): ReportProvenance => ({
    predicateType: s.predicateType,
    attachment: s.attachment,
    signed: s.signed,
    builderId: (isObject(builder) ? str(builder.id) : undefined) ?? '',
    buildType: str(buildType) ?? '',
    buildTime: buildTime(s),
    ...splitConfigFiles(params),
    materials: materials(list),
  });
  if (s.predicateType === SLSA_V1) {
    // SLSA v1: buildDefinition {buildType, externalParameters, resolvedDependencies}, runDetails.builder.
    const def = isObject(p.buildDefinition) ? p.buildDefinition : {};
    const run = isObject(p.runDetails) ? p.runDetails : {};
    return summary(run.builder, def.buildType, def.externalParameters, def.resolvedDependencies);
  }
  // SLSA v0.2: builder, buildType, invocation.parameters, materials.
  const invocation = isObject(p.invocation) ? p.invocation : {};
  return summary(p.builder, p.buildType, invocation.parameters, p.materials);
}

/** Provenant's `config.files[]` (docs/provenance.md) taken out of the parameters, to be shown as files. */
function splitConfigFiles(params: unknown): { parameters: unknown; configFiles: ReportConfigFile[] } {
  if (!isObject(params) || !isObject(params.config) || !Array.isArray(params.config.files))
    return { parameters: params ?? {}, configFiles: [] };
  const configFiles = params.config.files.filter(isObject).map((f) => ({
    path: str(f.path) ?? '',
    sha256: isObject(f.digest) ? (str(f.digest.sha256) ?? '') : '',
    content: str(f.content) ?? '',
  }));
  const { files: _files, ...config } = params.config;
  return { parameters: { ...params, config }, configFiles };
}

function materials(list: unknown): ReportMaterial[] {
  return (Array.isArray(list) ? list : []).filter(isObject).map((m) => {
    const digest = isObject(m.digest) ? Object.entries(m.digest).find(([, v]) => typeof v === 'string') : undefined;
    const annotations = isObject(m.annotations) ? m.annotations : {};
    return {
      uri: str(m.uri) ?? '',
      name: str(m.name) ?? '',
      digest: digest === undefined ? '' : `${digest[0]}:${digest[1] as string}`,
      kind: str(annotations.kind) ?? '',
      version: str(annotations.version) ?? '',
    };
  });
}

function purlType(purl: string): string | undefined {
  return /^pkg:([a-zA-Z][a-zA-Z0-9.+-]*)\//.exec(purl)?.[1]?.toLowerCase();
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function strings(v: unknown): string[] | undefined {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined;
}
