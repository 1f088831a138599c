/**
 * Gathering what `provenant report` shows: the image (index, platforms, manifests, configs and
 * layer sizes), everything attached to it in every storage with who says they signed it, each
 * platform's packages (from the attached SBOM, else from its package database, as `sbom` does),
 * its SLSA provenance and the compatibility verdicts for a few targets.
 *
 * The result is plain data (JSON-serializable, nothing but strings, numbers, booleans, arrays
 * and objects), so it can be rendered (see html.ts), printed as JSON or compared in tests.
 * Everything in it comes from the image and is untrusted: renderers must escape every string.
 *
 * Reads manifests, configs, attestation and signature blobs; reads layers only for a platform
 * that has no SBOM attached (then its apk or dpkg database, through {@link imageSbom}).
 */
import { type Attachment, isAuxiliaryEntry, isBuildkitAttestation } from '../attest/attachments.ts';
import { SLSA_V1, SLSA_V02 } from '../attest/provenance.ts';
import { type CheckOptions, checkImage } from '../compat/check.ts';
import { loadProfiles, type Profile, type Severity, selectTargets, type Target } from '../compat/profile.ts';
import { isProvenantError, ProvenantError, throwIfAborted } from '../errors.ts';
import { imageSbom, readStatements } from '../image/attestations.ts';
import { type InspectedManifest, inspectImage } from '../image/inspect.ts';
import type { OperationOptions } from '../io/types.ts';
import { collect } from '../io/verify.ts';
import type { Digest } from '../oci/digest.ts';
import { formatPlatform } from '../oci/platform.ts';
import type { Descriptor, Platform } from '../oci/types.ts';
import { type SignatureSummary, summarize } from '../sign/inspect.ts';
import { type FoundSignature, findSignatures } from '../sign/storage.ts';
import type { ContentStore } from '../store/types.ts';

/** The targets a report checks when none are named: the common runtimes and registries. */
export const DEFAULT_REPORT_TARGETS: readonly string[] = ['aws-lambda', 'google-cloud-run', 'amazon-ecr', 'ghcr', 'docker-hub'];

/** Options of {@link gatherReport}. */
export interface ReportOptions extends OperationOptions {
  /** How the user named the image, shown as the report's title (default: the store's location and `target`). */
  reference?: string | undefined;
  /** Compatibility targets (`id` or `id@version`); default {@link DEFAULT_REPORT_TARGETS}; `[]` for none. */
  targets?: readonly string[] | undefined;
  /** The target profiles to choose from (default: the built-in ones). */
  profiles?: readonly Profile[] | undefined;
  /** The registry probe of the compatibility check (see {@link CheckOptions.probe}). */
  probe?: CheckOptions['probe'];
  /** Provenant's version, shown in the report and written into an SBOM made from a package database. */
  toolVersion?: string | undefined;
  /** For an SBOM made from a package database: the time written in it (default 1970). */
  sourceDateEpoch?: number | undefined;
}

/** An entry of the image index, runnable image or not. */
export interface ReportIndexEntry {
  digest: Digest;
  mediaType: string;
  size: number;
  /** `os/arch[/variant]`, or undefined when the entry names none. */
  platform: string | undefined;
  /** `image`: a runnable image; `attestation`: a BuildKit attestation manifest; `other`: anything else. */
  role: 'image' | 'attestation' | 'other';
  annotations: Record<string, string>;
}

/** One layer of a platform image. */
export interface ReportLayer {
  digest: Digest;
  mediaType: string;
  /** Bytes as stored (compressed). */
  size: number;
  /** The uncompressed layer's digest, from the config's `rootfs.diff_ids`. */
  diffId: string | undefined;
  annotations: Record<string, string>;
}

/** One step of the config's `history`. */
export interface ReportHistory {
  created: string | undefined;
  createdBy: string | undefined;
  comment: string | undefined;
  emptyLayer: boolean;
}

/** What a platform image's config says, the fields a person reads. */
export interface ReportConfig {
  digest: Digest;
  mediaType: string;
  size: number;
  os: string | undefined;
  architecture: string | undefined;
  variant: string | undefined;
  created: string | undefined;
  author: string | undefined;
  user: string | undefined;
  entrypoint: string[] | undefined;
  cmd: string[] | undefined;
  workingDir: string | undefined;
  env: string[];
  exposedPorts: string[];
  volumes: string[];
  labels: Record<string, string>;
  stopSignal: string | undefined;
  history: ReportHistory[];
  /** Why the config could not be read as an image config, when it could not. */
  error: string | undefined;
}

/** A signature or attestation, as what it claims about who signed it (unverified). */
export type ReportSigner = SignatureSummary;

/** Something attached to a manifest or index, in whichever storage. */
export interface ReportAttachment {
  storage: Attachment['storage'];
  kind: Attachment['kind'];
  /** The manifest or index it is about. */
  subject: Digest;
  /** Its own manifest. */
  digest: Digest;
  mediaType: string;
  size: number;
  artifactType: string | undefined;
  predicateTypes: string[];
  /** The tag it is stored under (cosign storage). */
  tag: string | undefined;
  /** The signatures it carries, each with the key id or identity it names; empty when unsigned. */
  signers: ReportSigner[];
}

/** One package of an SBOM. */
export interface ReportPackage {
  name: string;
  version: string;
  /** The licence expression or text as the SBOM gives it, '' when it asserts none. */
  license: string;
  purl: string;
  /** The PURL's type (`apk`, `deb`, ...), else what the document calls the component. */
  type: string;
}

/** A platform image's packages and where they came from. */
export interface ReportSbom {
  /** `attached`: an SBOM attestation; `generated`: made from the image's package database; `missing`: neither. */
  source: 'attached' | 'generated' | 'missing';
  format: 'spdx' | 'cyclonedx' | undefined;
  /** The attachment the SBOM was read from. */
  attachment: Digest | undefined;
  packages: ReportPackage[];
  /** Why there are no packages, when `missing`. */
  note: string | undefined;
}

/** A configuration file recorded in the provenance's external parameters. */
export interface ReportConfigFile {
  path: string;
  sha256: string;
  content: string;
}

/** A resolved dependency (SLSA v1) or material (v0.2). */
export interface ReportMaterial {
  uri: string;
  name: string;
  /** `alg:hex`, the first digest given. */
  digest: string;
  /** `annotations.kind` (`apk`, `deb`, `apk-index`, `apk-key`, ...), '' when not given. */
  kind: string;
  version: string;
}

/** The SLSA provenance of a platform image. */
export interface ReportProvenance {
  predicateType: string;
  /** The attachment it was read from, and whether that attachment is signed. */
  attachment: Digest;
  signed: boolean;
  builderId: string;
  buildType: string;
  /** `externalParameters` (v1) or `invocation.parameters` (v0.2), without the configuration files' text. */
  parameters: unknown;
  configFiles: ReportConfigFile[];
  materials: ReportMaterial[];
}

/** One runnable image of the index (or the image itself). */
export interface ReportPlatform {
  platform: string;
  digest: Digest;
  mediaType: string;
  size: number;
  annotations: Record<string, string>;
  config: ReportConfig | undefined;
  layers: ReportLayer[];
  /** Manifest, config and layers, as stored. */
  totalSize: number;
  attachments: ReportAttachment[];
  sbom: ReportSbom;
  provenance: ReportProvenance | undefined;
}

/** One problem a target has with the image. */
export interface ReportProblem {
  rule: string;
  severity: Severity;
  error: string | undefined;
  why: string;
  fix: string | undefined;
  certainty: string;
  sources: string[];
}

/** The verdict of one target. */
export interface ReportTarget {
  target: string;
  name: string;
  kind: 'registry' | 'runtime';
  verdict: 'accepted' | 'warnings' | 'refused';
  problems: ReportProblem[];
}

/** The compatibility check's result. */
export interface ReportCompat {
  verdict: 'accepted' | 'warnings' | 'refused';
  targets: ReportTarget[];
  notes: string[];
}

/** Everything a report shows. */
export interface ReportData {
  reference: string;
  location: string;
  digest: Digest;
  mediaType: string;
  size: number;
  kind: 'index' | 'manifest';
  annotations: Record<string, string>;
  /** Every entry of the index; undefined for a single manifest. */
  index: ReportIndexEntry[] | undefined;
  platforms: ReportPlatform[];
  /** What is attached to the index itself (a single manifest's are on its platform). */
  attachments: ReportAttachment[];
  /** Undefined when no targets were asked for. */
  compat: ReportCompat | undefined;
  toolVersion: string;
  /** What could not be read, in words. */
  notes: string[];
}

const CONFIG_LIMIT = 8 * 1024 * 1024;
const SPDX = 'https://spdx.dev/Document';
const CYCLONEDX = 'https://cyclonedx.org/bom';

/** An in-toto statement read from an attachment, with where it came from. */
interface FoundStatement {
  predicateType: string;
  predicate: unknown;
  attachment: Digest;
  signed: boolean;
}

/**
 * Gathers the report of the image `target` (a tag or digest) in `store`.
 *
 * @throws ProvenantError `USAGE` for an unknown target profile (before any I/O), `NOT_FOUND`
 *   when `target` is not in the store, and whatever the store raises for content it cannot read
 */
export async function gatherReport(store: ContentStore, target: string, options: ReportOptions = {}): Promise<ReportData> {
  const reference = options.reference ?? `${store.location}${/^sha\d+:/.test(target) ? '@' : ':'}${target}`;
  const targetNames = options.targets ?? DEFAULT_REPORT_TARGETS;
  let targets: Target[] = [];
  if (targetNames.length > 0) {
    const profiles = options.profiles ?? (await loadProfiles());
    targets = selectTargets(profiles, targetNames.join(','));
  }
  const notes: string[] = [];
  const inspected = await inspectImage(store, target, reference, options);
  const root = inspected.raw;
  const index: ReportIndexEntry[] | undefined =
    root.kind === 'index'
      ? root.index.manifests.map((d) => ({
          digest: d.digest,
          mediaType: d.mediaType,
          size: d.size,
          platform: d.platform === undefined ? undefined : formatPlatform(d.platform),
          role: isBuildkitAttestation(d) ? 'attestation' : isAuxiliaryEntry(d) ? 'other' : 'image',
          annotations: { ...d.annotations },
        }))
      : undefined;
  const annotations = root.kind === 'index' ? { ...root.index.annotations } : { ...root.manifest.annotations };

  const platforms: ReportPlatform[] = [];
  for (const m of inspected.manifests) {
    throwIfAborted(options.signal);
    platforms.push(await gatherPlatform(store, m, reference, options, notes));
  }
  const rootAttachments =
    root.kind === 'index' ? (await attachmentsOf(store, inspected.digest, inspected.attachments, options, notes)).rows : [];

  let compat: ReportCompat | undefined;
  if (targets.length > 0) {
    const checked = await checkImage(store, target, targets, { ...options, reference, probe: options.probe });
    compat = {
      verdict: checked.verdict,
      targets: checked.targets.map((t) => ({
        target: t.target,
        name: t.name,
        kind: t.kind,
        verdict: t.verdict,
        problems: t.problems.map((p) => ({
          rule: p.rule,
          severity: p.severity,
          error: p.error,
          why: p.why,
          fix: p.fix?.id,
          certainty: p.certainty,
          sources: [...p.sources],
        })),
      })),
      notes: [...checked.notes],
    };
  }
  return {
    reference,
    location: store.location,
    digest: inspected.digest,
    mediaType: inspected.mediaType,
    size: inspected.size,
    kind: inspected.kind,
    annotations,
    index,
    platforms,
    attachments: rootAttachments,
    compat,
    toolVersion: options.toolVersion ?? '',
    notes,
  };
}

async function gatherPlatform(
  store: ContentStore,
  m: InspectedManifest,
  reference: string,
  options: ReportOptions,
  notes: string[],
): Promise<ReportPlatform> {
  const platform = platformName(m.platform);
  const stored = await store.getManifest(m.digest, options);
  if (stored.kind !== 'manifest') {
    throw new ProvenantError('INVALID_MANIFEST', `${m.digest} is listed as an image but is an index`, {
      where: `${reference}@${m.digest}`,
    });
  }
  const manifest = stored.manifest;
  const config = await readConfig(store, manifest.config, options);
  const layers: ReportLayer[] = manifest.layers.map((l, i) => ({
    digest: l.digest,
    mediaType: l.mediaType,
    size: l.size,
    diffId: config?.diffIds[i],
    annotations: { ...l.annotations },
  }));
  const totalSize = stored.bytes.byteLength + manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0);
  const { rows, statements } = await attachmentsOf(store, m.digest, m.attachments, options, notes);

  let sbom = sbomFrom(statements);
  if (sbom === undefined) {
    try {
      // No SBOM attached: make one from the package database, as `provenant sbom` does.
      const made = await imageSbom(store, m.digest, reference, {
        ...options,
        format: 'spdx',
        toolVersion: options.toolVersion ?? 'unknown',
        sourceDateEpoch: options.sourceDateEpoch,
      });
      sbom = {
        source: made.generated ? 'generated' : 'attached',
        format: 'spdx',
        attachment: undefined,
        packages: spdxPackages(made.document),
        note: undefined,
      };
    } catch (err) {
      if (!isProvenantError(err, 'NOT_FOUND')) throw err;
      sbom = { source: 'missing', format: undefined, attachment: undefined, packages: [], note: err.message };
    }
  }
  return {
    platform,
    digest: m.digest,
    mediaType: m.mediaType,
    size: m.size,
    annotations: { ...manifest.annotations },
    config: config?.report,
    layers,
    totalSize,
    attachments: rows,
    sbom,
    provenance: provenanceFrom(statements),
  };
}

/**
 * The attachments of `subject` with their signers, and the statements they hold. Signatures
 * are matched to the attachment that stores them: a cosign tag's layers to its tag, a bundle or
 * signature referrer to its manifest. Any signature found outside those (the referrers tag
 * schema's index of a registry that also has the API) becomes a row of its own.
 */
async function attachmentsOf(
  store: ContentStore,
  subject: Digest,
  attachments: readonly Attachment[],
  options: OperationOptions,
  notes: string[],
): Promise<{ rows: ReportAttachment[]; statements: FoundStatement[] }> {
  const found = await findSignatures(store, subject, options);
  const used = new Set<FoundSignature>();
  const rows: ReportAttachment[] = [];
  const statements: FoundStatement[] = [];
  for (const a of attachments) {
    throwIfAborted(options.signal);
    const mine = found.filter((f) => storedIn(f, a));
    for (const f of mine) used.add(f);
    const signers = mine.map(summarize);
    rows.push({
      storage: a.storage,
      kind: a.kind,
      subject: a.subject,
      digest: a.digest,
      mediaType: a.mediaType,
      size: a.size,
      artifactType: a.artifactType,
      predicateTypes: [...a.predicateTypes],
      tag: a.tag,
      signers,
    });
    if (a.kind === 'signature') continue;
    const signed = signers.some((s) => s.signed);
    if (a.artifactType?.startsWith('application/vnd.dev.sigstore.bundle')) {
      // cosign 3 keeps the statement inside the bundle's DSSE envelope.
      for (const f of mine) {
        if (f.format !== 'bundle' || f.bundle?.content.$case !== 'dsseEnvelope') continue;
        const s = parseJson(Buffer.from(f.bundle.content.dsseEnvelope.payload).toString('utf8'));
        if (isObject(s)) {
          statements.push({
            predicateType: str(s.predicateType) ?? f.predicateType ?? '',
            predicate: s.predicate,
            attachment: a.digest,
            signed: f.bundle.content.dsseEnvelope.signatures.length > 0,
          });
        }
      }
      continue;
    }
    try {
      for (const s of await readStatements(store, a, options)) {
        statements.push({ predicateType: s.predicateType, predicate: s.statement.predicate, attachment: a.digest, signed });
      }
    } catch (err) {
      // A statement that is not JSON is the attachment's problem, not the report's: say so.
      if (err instanceof SyntaxError) notes.push(`the statements of ${a.digest} (about ${subject}) are not JSON: ${err.message}`);
      else throw err;
    }
  }
  for (const f of found) {
    if (used.has(f)) continue;
    const digest = /^referrer (\S+)/.exec(f.source)?.[1] as Digest | undefined;
    rows.push({
      storage: f.storage,
      kind: f.kind,
      subject,
      digest: digest ?? subject,
      mediaType: '',
      size: 0,
      artifactType: undefined,
      predicateTypes: f.predicateType === undefined ? [] : [f.predicateType],
      tag: undefined,
      signers: [summarize(f)],
    });
  }
  return { rows, statements };
}

/** Whether the signature `f` is stored in the attachment `a`. */
function storedIn(f: FoundSignature, a: Attachment): boolean {
  const at = a.storage === 'cosign' && a.tag !== undefined ? a.tag : a.storage === 'referrers' ? `referrer ${a.digest}` : undefined;
  return at !== undefined && f.storage === a.storage && (f.source === at || f.source.startsWith(`${at} `));
}

async function readConfig(
  store: ContentStore,
  d: Descriptor,
  options: OperationOptions,
): Promise<{ report: ReportConfig; diffIds: string[] } | undefined> {
  const report: ReportConfig = {
    digest: d.digest,
    mediaType: d.mediaType,
    size: d.size,
    os: undefined,
    architecture: undefined,
    variant: undefined,
    created: undefined,
    author: undefined,
    user: undefined,
    entrypoint: undefined,
    cmd: undefined,
    workingDir: undefined,
    env: [],
    exposedPorts: [],
    volumes: [],
    labels: {},
    stopSignal: undefined,
    history: [],
    error: undefined,
  };
  if (d.size > CONFIG_LIMIT)
    return { report: { ...report, error: `the config is ${d.size} bytes, more than a report reads` }, diffIds: [] };
  const bytes = await collect(await store.readBlob(d, options), CONFIG_LIMIT, `${store.location}@${d.digest}`);
  const c = parseJson(new TextDecoder().decode(bytes));
  if (!isObject(c)) return { report: { ...report, error: 'the config is not a JSON object' }, diffIds: [] };
  const cc = isObject(c.config) ? c.config : {};
  const rootfs = isObject(c.rootfs) ? c.rootfs : {};
  return {
    report: {
      ...report,
      os: str(c.os),
      architecture: str(c.architecture),
      variant: str(c.variant),
      created: str(c.created),
      author: str(c.author),
      user: str(cc.User),
      entrypoint: strings(cc.Entrypoint),
      cmd: strings(cc.Cmd),
      workingDir: str(cc.WorkingDir),
      env: strings(cc.Env) ?? [],
      exposedPorts: isObject(cc.ExposedPorts) ? Object.keys(cc.ExposedPorts).sort() : [],
      volumes: isObject(cc.Volumes) ? Object.keys(cc.Volumes).sort() : [],
      labels: stringRecord(cc.Labels),
      stopSignal: str(cc.StopSignal),
      history: (Array.isArray(c.history) ? c.history : []).filter(isObject).map((h) => ({
        created: str(h.created),
        createdBy: str(h.created_by),
        comment: str(h.comment),
        emptyLayer: h.empty_layer === true,
      })),
    },
    diffIds: strings(rootfs.diff_ids) ?? [],
  };
}

/**
 * The statement of one of `types` (in order of preference) to show: a signed one before an
 * unsigned one, since a signature is what lets a reader trust it; else the first found.
 */
function pick(statements: readonly FoundStatement[], ...types: string[]): FoundStatement | undefined {
  for (const signed of [true, false]) {
    for (const t of types) {
      const s = statements.find((x) => x.predicateType === t && x.signed === signed);
      if (s !== undefined) return s;
    }
  }
  return undefined;
}

/** The packages of the SPDX statement, else of the CycloneDX one (signed ones first, see {@link pick}). */
function sbomFrom(statements: readonly FoundStatement[]): ReportSbom | undefined {
  const spdx = pick(statements, SPDX);
  if (spdx !== undefined) {
    return { source: 'attached', format: 'spdx', attachment: spdx.attachment, packages: spdxPackages(spdx.predicate), note: undefined };
  }
  const cdx = pick(statements, CYCLONEDX);
  if (cdx !== undefined) {
    return {
      source: 'attached',
      format: 'cyclonedx',
      attachment: cdx.attachment,
      packages: cyclonedxPackages(cdx.predicate),
      note: undefined,
    };
  }
  return undefined;
}

/**
 * The packages of an SPDX 2.3 document, without the ones the document describes (the image
 * itself). A `LicenseRef-` is shown as the licence text it stands for.
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
    if (!isObject(p) || described.has(str(p.SPDXID) ?? '')) continue;
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

/** The components of a CycloneDX document. */
export function cyclonedxPackages(doc: unknown): ReportPackage[] {
  if (!isObject(doc)) return [];
  const out: ReportPackage[] = [];
  for (const c of Array.isArray(doc.components) ? doc.components : []) {
    if (!isObject(c)) continue;
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

/** The provenance summary of the SLSA v1 statement, else of the v0.2 one (signed ones first, see {@link pick}). */
function provenanceFrom(statements: readonly FoundStatement[]): ReportProvenance | undefined {
  const s = pick(statements, SLSA_V1, SLSA_V02);
  if (s === undefined || !isObject(s.predicate)) return undefined;
  const p = s.predicate;
  const base = { predicateType: s.predicateType, attachment: s.attachment, signed: s.signed };
  if (s.predicateType === SLSA_V1) {
    const def = isObject(p.buildDefinition) ? p.buildDefinition : {};
    const run = isObject(p.runDetails) ? p.runDetails : {};
    const builder = isObject(run.builder) ? run.builder : {};
    const { parameters, configFiles } = splitConfigFiles(def.externalParameters);
    return {
      ...base,
      builderId: str(builder.id) ?? '',
      buildType: str(def.buildType) ?? '',
      parameters,
      configFiles,
      materials: materials(def.resolvedDependencies),
    };
  }
  const builder = isObject(p.builder) ? p.builder : {};
  const invocation = isObject(p.invocation) ? p.invocation : {};
  const { parameters, configFiles } = splitConfigFiles(invocation.parameters);
  return {
    ...base,
    builderId: str(builder.id) ?? '',
    buildType: str(p.buildType) ?? '',
    parameters,
    configFiles,
    materials: materials(p.materials),
  };
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

function platformName(p: Platform | undefined): string {
  return p === undefined ? 'unknown' : formatPlatform(p);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function strings(v: unknown): string[] | undefined {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined;
}

function stringRecord(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isObject(v)) for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}
