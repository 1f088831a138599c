/**
 * Gathering what `provenant report` shows: the image (index, platforms, manifests, configs and
 * layer sizes), everything attached to it in every storage with who says they signed it, each
 * platform's packages (from the attached SBOM, else from its package database, as `sbom` does),
 * its SLSA provenance and the compatibility verdicts for a few targets.
 *
 * The result is plain data (data.ts), so it can be rendered (see html.ts), printed as JSON or
 * compared in tests. Everything in it comes from the image and is untrusted: renderers must
 * escape every string. Statements are read into it by statements.ts.
 *
 * Reads manifests, configs, attestation and signature blobs; reads layers only for a platform
 * that has no SBOM attached (then its apk or dpkg database, through {@link imageSbom}).
 */
import { type Attachment, isBuildkitAttestation, nestsDeeperThan, STATEMENT_DEPTH_LIMIT } from '../attest/attachments.ts';
import { type CheckOptions, checkImage } from '../compat/check.ts';
import { loadProfiles, type Profile, selectTargets, type Target } from '../compat/profile.ts';
import { isProvenantError, ProvenantError, throwIfAborted } from '../errors.ts';
import { imageSbom } from '../image/attestations.ts';
import { parseImageConfig, readConfigBytes, runSettings } from '../image/image-config.ts';
import { type InspectedManifest, inspectImage } from '../image/inspect.ts';
import { predicateDocument, statementsOrNone } from '../image/statements.ts';
import type { Logger, OperationOptions } from '../io/types.ts';
import type { Digest } from '../oci/digest.ts';
import { isManifestLike } from '../oci/mediatypes.ts';
import { formatPlatform } from '../oci/platform.ts';
import type { Descriptor, Platform } from '../oci/types.ts';
import { isObject } from '../oci/validate.ts';
import { attestationManifestSignatures, type SignatureSummary, summarize } from '../sign/inspect.ts';
import { eachSignature, type FoundSignature, isBundleMediaType } from '../sign/storage.ts';
import type { ContentStore } from '../store/types.ts';
import type {
  ReportAttachment,
  ReportCompat,
  ReportConfig,
  ReportData,
  ReportIndexEntry,
  ReportLayer,
  ReportPackage,
  ReportPlatform,
} from './data.ts';
import { type FoundStatement, parseJson, provenancesFrom, sbomFrom, spdxPackages, spdxSystem, str, strings } from './statements.ts';

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
  // What a read passes over with a warning (a referrer whose manifest is not in the layout) is a
  // note too: the page lists what could not be read. Said once however many reads meet it.
  const notes: string[] = [];
  const outer = options.logger;
  const logger: Logger = {
    debug: (m) => outer?.debug(m),
    info: (m) => outer?.info(m),
    warn: (m) => {
      addNote(notes, m);
      outer?.warn(m);
    },
  };
  options = { ...options, logger };
  const inspected = await inspectImage(store, target, reference, options);
  const root = inspected.raw;
  const index: ReportIndexEntry[] | undefined =
    root.kind === 'index'
      ? root.index.manifests.map((d) => ({
          digest: d.digest,
          mediaType: d.mediaType,
          size: d.size,
          platform: d.platform === undefined ? undefined : formatPlatform(d.platform),
          role: isBuildkitAttestation(d) ? 'attestation' : isManifestLike(d.mediaType) ? 'image' : 'other',
          annotations: { ...d.annotations },
        }))
      : undefined;
  const annotations = root.kind === 'index' ? { ...root.index.annotations } : { ...root.manifest.annotations };

  const platforms: ReportPlatform[] = [];
  for (const m of inspected.manifests) {
    throwIfAborted(options.signal);
    const platform = await gatherPlatform(store, m, reference, options, notes);
    // A package list equal to an earlier platform's (an SBOM that names no architecture) is kept
    // once: an SBOM may list 50,000 packages, and the page shows such a list once.
    const same = platforms.find((p) => samePackages(p.sbom.packages, platform.sbom.packages));
    if (same !== undefined) platform.sbom.packages = same.sbom.packages;
    platforms.push(platform);
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

/** Whether two package lists list the same packages in the same order. */
function samePackages(a: readonly ReportPackage[], b: readonly ReportPackage[]): boolean {
  if (a.length !== b.length || a.length === 0) return false;
  return a.every((x, i) => {
    const y = b[i] as ReportPackage;
    return x.name === y.name && x.version === y.version && x.license === y.license && x.purl === y.purl && x.type === y.type;
  });
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
      const document = predicateDocument(made.document);
      sbom = {
        source: made.generated ? 'generated' : 'attached',
        format: 'spdx',
        attachment: undefined,
        packages: spdxPackages(document),
        system: spdxSystem(document),
        note: undefined,
      };
    } catch (err) {
      // A config over CONFIG_LIMIT, or not JSON, is not read for an SBOM either: the page says so, as it does for its settings.
      if (!isProvenantError(err, 'NOT_FOUND', 'TOO_LARGE', 'INVALID_CONFIG')) throw err;
      sbom = { source: 'missing', format: undefined, attachment: undefined, packages: [], system: undefined, note: err.message };
    }
  }
  const [provenance, ...otherProvenances] = provenancesFrom(statements);
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
    provenance,
    otherProvenances,
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
  // Each signature is read once and let go: of one stored in an attachment, its summary and (a
  // bundle's) statement are kept for the attachment's row; of one stored elsewhere, its own row.
  const own: SignatureSummary[][] = attachments.map(() => []);
  const bundled: (FoundStatement | 'too deep')[][] = attachments.map(() => []);
  const elsewhere: SignatureSummary[] = [];
  for await (const f of eachSignature(store, subject, options)) {
    const summary = summarize(f);
    let stored = false;
    for (const [i, a] of attachments.entries()) {
      if (!storedIn(f, a)) continue;
      stored = true;
      own[i]!.push({ ...summary });
      // cosign 3 keeps the statement inside the bundle's DSSE envelope.
      if (a.kind !== 'signature' && a.artifactType !== undefined && isBundleMediaType(a.artifactType)) {
        const s = bundleStatement(f, a.digest);
        if (s !== undefined) bundled[i]!.push(s);
      }
    }
    if (!stored) elsewhere.push(summary);
  }
  const rows: ReportAttachment[] = [];
  const statements: FoundStatement[] = [];
  for (const [i, a] of attachments.entries()) {
    throwIfAborted(options.signal);
    const mine = own[i]!;
    const signers = [...mine, ...(await manifestSignatures(store, a, options))];
    // Shown as unreadable in its row, and listed with what else could not be read.
    for (const s of signers) if (s.error !== undefined) addNote(notes, `${s.error} (about ${subject})`);
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
    const throughManifest = signed && !mine.some((s) => s.signed);
    if (a.artifactType !== undefined && isBundleMediaType(a.artifactType)) {
      for (const s of bundled[i]!) {
        if (s === 'too deep') {
          addNote(
            notes,
            `the statement of ${a.digest} nests lists and objects more than ${STATEMENT_DEPTH_LIMIT} levels deep and is not read (about ${subject})`,
          );
        } else statements.push(s);
      }
      continue;
    }
    // A statement that is not one is the attachment's problem, not the report's: said in a note.
    for (const s of await statementsOrNone(store, a, options, (m) => addNote(notes, `${m} (about ${subject})`))) {
      statements.push({ predicateType: s.predicateType, predicate: s.statement.predicate, attachment: a.digest, signed, throughManifest });
    }
  }
  // A summary carries the storage, kind, source and predicate type of what it summarises.
  for (const signer of elsewhere) {
    const digest = /^referrer (\S+)/.exec(signer.source)?.[1] as Digest | undefined;
    if (signer.error !== undefined) addNote(notes, `${signer.error} (about ${subject})`);
    rows.push({
      storage: signer.storage,
      kind: signer.kind,
      subject,
      digest: digest ?? subject,
      mediaType: '',
      size: 0,
      artifactType: undefined,
      predicateTypes: signer.predicateType === undefined ? [] : [signer.predicateType],
      tag: undefined,
      signers: [signer],
    });
  }
  return { rows, statements };
}

/** The signatures of `a` itself when it is a BuildKit attestation manifest, none else. */
async function manifestSignatures(store: ContentStore, a: Attachment, options: OperationOptions): Promise<SignatureSummary[]> {
  return a.storage === 'buildkit' ? attestationManifestSignatures(store, a.digest, options) : [];
}

/**
 * The statement in the DSSE envelope of the bundle `f` (cosign 3), as the report reads it;
 * `too deep` for one that nests more than {@link STATEMENT_DEPTH_LIMIT} levels, undefined when `f`
 * holds none.
 */
function bundleStatement(f: FoundSignature, attachment: Digest): FoundStatement | 'too deep' | undefined {
  if (f.format !== 'bundle' || f.bundle?.content.$case !== 'dsseEnvelope') return undefined;
  const text = Buffer.from(f.bundle.content.dsseEnvelope.payload).toString('utf8');
  if (nestsDeeperThan(text)) return 'too deep';
  const s = parseJson(text);
  if (!isObject(s)) return undefined;
  return {
    predicateType: str(s.predicateType) ?? f.predicateType ?? '',
    predicate: s.predicate,
    attachment,
    signed: f.bundle.content.dsseEnvelope.signatures.length > 0,
  };
}

/** Adds `note` to `notes` unless it is there: several reads can meet the same unreadable thing. */
function addNote(notes: string[], note: string): void {
  if (!notes.includes(note)) notes.push(note);
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
  const where = `${store.location}@${d.digest}`;
  let c: Record<string, unknown>;
  try {
    c = parseImageConfig(await readConfigBytes(store, d, where, options), where);
  } catch (err) {
    // Too large or not JSON is said on the page; a config that will not read fails the report.
    if (!isProvenantError(err, 'INVALID_CONFIG', 'TOO_LARGE')) throw err;
    return { report: { ...report, error: err.message }, diffIds: [] };
  }
  // How it runs is read as inspect reads it; the rest only a report shows.
  const run = runSettings(c);
  const cc = isObject(c.config) ? c.config : {};
  const rootfs = isObject(c.rootfs) ? c.rootfs : {};
  return {
    report: {
      ...report,
      os: str(c.os),
      architecture: str(c.architecture),
      variant: str(c.variant),
      created: run.created,
      author: str(c.author),
      user: run.user,
      entrypoint: run.entrypoint,
      cmd: run.cmd,
      workingDir: run.workingDir,
      env: run.env ?? [],
      exposedPorts: isObject(cc.ExposedPorts) ? Object.keys(cc.ExposedPorts).sort() : [],
      volumes: isObject(cc.Volumes) ? Object.keys(cc.Volumes).sort() : [],
      labels: run.labels ?? {},
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

function platformName(p: Platform | undefined): string {
  return p === undefined ? 'unknown' : formatPlatform(p);
}
