/**
 * What the Action does, as library calls in the order `provenant build` makes them: build,
 * describe (SBOMs and SLSA provenance), write to each repository the tags name (or to a local
 * layout), sign, check and fix for the targets, and gather the report. Takes its inputs and the
 * job's context as data; main.ts reads them from the runner and writes the outputs.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { builderIdFromEnv, invocationFromEnv } from '../attest/provenance.ts';
import { type Attested, attestationReferrer, isInIndexMode, storeAttestations } from '../attest/storage.ts';
import { apkArchToPlatform, lookupArch } from '../builder/arch.ts';
import { type BuildResult, buildImage, writeBuild } from '../builder/build.ts';
import { loadConfig } from '../builder/config.ts';
import type { ImageConfig } from '../builder/config-types.ts';
import { aboutWrittenIndex, type DescribeOptions, describeBuild, describeIndex } from '../builder/describe.ts';
import { type Lock, parseLock } from '../builder/lock.ts';
import { buildAttachmentStorages, signingStorages, type TagOnly, tagOnlyLine } from '../compat/build-storages.ts';
import {
  type AttachmentStorages,
  type FixReport,
  fixImage,
  type Resigner,
  statementsAboutLeftOut,
  storeAsFixWould,
} from '../compat/fix.ts';
import { loadProfiles, selectTargets, type Target } from '../compat/profile.ts';
import { isProvenantError, ProvenantError } from '../errors.ts';
import { tagImage } from '../image/copy.ts';
import { isWithin, makeFolder, whyUnreadable } from '../io/files.ts';
import type { Logger } from '../io/types.ts';
import type { Digest } from '../oci/digest.ts';
import { formatPlatform } from '../oci/platform.ts';
import type { Descriptor } from '../oci/types.ts';
import { MissingArchitectureError } from '../pkg/source.ts';
import { formatReference, type ImageReference, statementImageName } from '../ref/reference.ts';
import type { ReportData } from '../report/data.ts';
import { gatherReport } from '../report/gather.ts';
import { renderReport } from '../report/html.ts';
import { identityLabel } from '../sign/identity.ts';
import { decryptPrivateKey, keyId } from '../sign/keys.ts';
import { cosignDockerReference } from '../sign/payload.ts';
import { attesterOf, resignerOf, type SignedEntry, signBuild } from '../sign/sign.ts';
import { KeylessSigner, KeySigner, type Signer, type TokenSource } from '../sign/signer.ts';
import { parseTrustedRoot } from '../sign/trust.ts';
import { openLocation, type RegistryOpenOptions } from '../store/open.ts';
import type { ContentStore } from '../store/types.ts';
import { ConfigError } from '../yaml.ts';
import { actionHint } from './hints.ts';
import type { ActionInputs } from './inputs.ts';

/** The job's context: what main.ts reads from the runner. */
export interface ActionContext {
  /** The environment, for provenance (GITHUB_* variables) and nothing secret. */
  env: Record<string, string | undefined>;
  /** RUNNER_TEMP: the default cache goes under it, and a folder of this run's for the local layout and the report. */
  tempDir: string;
  /** The host's architecture (Node's `process.arch`), for configurations that name none. */
  hostArch: string;
  sourceDateEpoch: number | undefined;
  toolVersion: string;
  registry: RegistryOpenOptions;
  /** The job's OIDC token, for keyless signing; undefined when the job cannot request one. */
  identityToken: TokenSource | undefined;
  logger: Logger;
}

/** Where the image was written. */
export interface Destination {
  /** `registry/repository`, or `oci:PATH` for a local layout. */
  location: string;
  /** The references written (`registry/repository:tag`, or `oci:PATH:tag`). */
  names: string[];
  kind: 'registry' | 'oci';
}

/** What signing did. */
export interface SigningOutcome {
  kind: 'key' | 'keyless';
  /** The key's id (base64 SHA-256 of the public key), for key signing. */
  keyId: string | undefined;
  entries: SignedEntry[];
  /**
   * Keyless: who this run signed as, from the certificates it signed with (KeylessSigner's
   * identities), each once, as identityLabel writes it; empty for key signing. Signatures an earlier run left on
   * the same digests name others, and are not this run's.
   */
  identities: string[];
  /**
   * The manifests signed under cosign's `.sig` tag only, not as referrers too (`signature`), and
   * those whose attestations are in cosign's `.att` image only, signed, with no referrer and no
   * unsigned statements (`attestations`); and the targets that refuse a referrer of each (ECR
   * refuses one whose subject is an index).
   */
  tagOnly: TagOnly[];
}

/** A manifest whose signature or attestations are under a cosign tag only, and why. */
export type { TagOnly };

/** What a run did: everything the outputs and the summary show. */
export interface ActionOutcome {
  descriptor: Descriptor;
  result: BuildResult;
  destinations: Destination[];
  /** The statements written or signed, per platform image (and the index). */
  attested: Attested[];
  signing: SigningOutcome | undefined;
  /** The report of the first destination's image (after signing and fixing). */
  report: ReportData;
  reportPath: string;
  fixes: ActionFix[];
}

/** A fix the run made, with the names its image was written under. */
export interface ActionFix extends FixReport {
  /**
   * In full, as {@link Destination.names} (`REGISTRY/REPO:1.0-aws-lambda`, or `oci:PATH:TAG`):
   * the repository the fix was written to, with each tag written. Empty when it wrote nothing.
   */
  readonly names: readonly string[];
}

/** What a run had written when it failed: where, which digest, and which tags name it. */
export interface WrittenSoFar {
  /** `registry/repository`, or `oci:PATH`. */
  location: string;
  digest: Digest;
  /** The tags written; empty while the image is held by digest only. */
  tags: string[];
}

/**
 * A run that failed after writing the image somewhere: the cause's code, message and hint, with
 * what is where, so that a user can tell an untagged push (unsigned, say, when signing failed)
 * from nothing at all, and the step can still set its `digest` output.
 */
export class PartialWriteError extends ProvenantError {
  /** The image's digest (the index's). */
  readonly digest: Digest;
  readonly written: readonly WrittenSoFar[];

  constructor(cause: unknown, digest: Digest, written: readonly WrittenSoFar[]) {
    const c = isProvenantError(cause) ? cause : undefined;
    const what = written.map((w) => `${w.location}@${w.digest} (${w.tags.length === 0 ? 'no tag' : `tagged ${w.tags.join(', ')}`})`);
    // The cause's place goes with the cause: after the list, it read as the last image's.
    const failure = c === undefined ? String(cause) : c.describe();
    super(c?.code ?? 'IO', `${failure}; written before the failure: ${what.join(', ')}`, {
      hint: c?.hint,
      cause,
    });
    this.name = 'PartialWriteError';
    this.digest = digest;
    this.written = written.map((w) => ({ ...w, tags: [...w.tags] }));
  }
}

/**
 * Runs the Action. Before the build, every repository the tags name is checked for the push
 * (checkDestinations), so that one that is down or refuses the login fails the step with nothing
 * written anywhere. Each repository gets the image by digest and its signatures first; the tags
 * come last, once every repository holds a signed image, so that no tag ever names an image that
 * is unsigned (or that a later failure leaves unsigned). The fixed images follow, each the same
 * way (see fixImage).
 *
 * @throws ProvenantError whatever a step raises; PartialWriteError once something was written
 */
export async function runAction(inputs: ActionInputs, ctx: ActionContext): Promise<ActionOutcome> {
  // A folder of its own: the steps of a job share RUNNER_TEMP, and each step's layout and report
  // must stay what its outputs describe.
  const base = join(ctx.tempDir, 'provenant');
  await makeFolder(base);
  const work = await mkdtemp(join(base, 'step-'));
  // Checked before building: a typo in a target should not cost a build.
  const profiles = await loadProfiles();
  const targets = inputs.targets.length > 0 ? inputs.targets : undefined;
  let selected: ReturnType<typeof selectTargets> = [];
  try {
    if (targets !== undefined) selected = selectTargets(profiles, targets.join(','));
  } catch (err) {
    // The message names the target; the input it came from is this step's `targets`.
    if (err instanceof ProvenantError && err.code === 'USAGE') {
      throw new ProvenantError('USAGE', `the input targets: ${err.message}`, { where: 'with: targets', hint: err.hint, cause: err });
    }
    throw err;
  }
  const signer = await makeSigner(inputs, ctx);

  // A configuration in the repository's checkout may include from anywhere in it (a shared base
  // config), and from nowhere else on the runner: a configuration from a pull request cannot copy
  // the runner's files into the provenance. One outside it (made by an earlier step) keeps the
  // rule of the command line: its own folder.
  const workspace = ctx.env.GITHUB_WORKSPACE;
  const inWorkspace = workspace !== undefined && workspace !== '' && isWithin(resolve(workspace), resolve(inputs.config));
  const config = await loadConfig(inputs.config, { hostArch: ctx.hostArch, ...(inWorkspace ? { includeRoot: workspace } : {}) }).catch(
    (err: unknown) => {
      // The configuration itself is not there (an included file's error names the file that
      // includes it): the input's path, most often a job that did not check the repository out.
      if (!(err instanceof ConfigError) || err.code !== 'NOT_FOUND' || err.file !== inputs.config || err.keyPath !== '') throw err;
      throw new ProvenantError('NOT_FOUND', `the config file ${inputs.config} does not exist`, {
        where: 'with: config',
        cause: err,
        hint: 'config is a path relative to the workspace: check the repository out before this step (actions/checkout), and check the path',
      });
    },
  );
  const lock = inputs.lock === undefined ? undefined : await readLock(inputs.lock);
  const destinations = groupDestinations(inputs, work);
  // Before the build, and so before the first write: a registry that is down or refuses the login
  // costs no build, and leaves no image in the repositories checked before it.
  await checkDestinations(destinations, ctx);
  ctx.logger.info(`building ${inputs.config}${inputs.archs.length > 0 ? ` for ${inputs.archs.join(', ')}` : ''}`);
  const cacheDir = inputs.cacheDir ?? join(base, 'cache');
  const result = await buildImage({
    config,
    configPath: inputs.config,
    lock,
    lockPath: inputs.lock,
    archs: inputs.archs.length > 0 ? inputs.archs : undefined,
    sourceDateEpoch: ctx.sourceDateEpoch,
    // The cache is shared: it is content-addressed, and the next step's build reuses it.
    cacheDir,
    logger: ctx.logger,
  }).catch((err: unknown) => {
    if (err instanceof MissingArchitectureError) throw missingArchitecture(err, inputs, config.config);
    // The cache's folder cannot be made: the input's mistake, said as the input.
    if (inputs.cacheDir === undefined || !isProvenantError(err, 'IO') || err.where !== cacheDir) throw err;
    throw new ProvenantError('IO', err.message, {
      where: 'with: cache-dir',
      cause: err,
      hint: 'give cache-dir a folder the job can make and write, or leave it out for one under RUNNER_TEMP',
    });
  });
  // The statements are made once and written to every repository, so they name one: the first
  // the tags name, without its tag, so that the same commit tagged otherwise gives the same
  // statements (and, in BuildKit's storage, the same index digest). See statementImageName.
  const imageName = inputs.tags[0] === undefined ? basename(inputs.config).replace(/\.ya?ml$/, '') : statementImageName(inputs.tags[0]);
  const options = describeOptions(inputs, ctx, imageName);
  let attested = describe(result, inputs, options);

  const written: WrittenSoFar[] = [];
  // What signing did, in every destination (a fix's re-signing is in its own report).
  const signedEntries: SignedEntry[] = [];
  const tagOnly: TagOnly[] = [];
  const stores: ContentStore[] = [];
  const done: { store: ContentStore; planned: Planned; descriptor: Descriptor; record: WrittenSoFar; signed: Set<Digest> }[] = [];
  try {
    for (const d of destinations) {
      const { store } = await openLocation(d.location, { write: true, registry: ctx.registry, logger: ctx.logger });
      stores.push(store);
      // Statements listed in the index are part of the image written; referrers come after it,
      // once it is known where the targets take them (see buildAttachmentStorages).
      const descriptor = await writeBuild(result, store, [], {
        attestations: isInIndexMode(inputs.attestations) ? { attested, mode: inputs.attestations } : undefined,
        logger: ctx.logger,
      });
      // BuildKit's storages write an index of their own, the built one with the attestation
      // entries added: the index's SBOM is about that one, which is the one signed and tagged.
      if (descriptor.digest !== result.index?.digest) {
        const about = await aboutWrittenIndex(store, descriptor, result, attested, { ...options, signed: signer !== undefined });
        attested = about.attested;
        if (about.left !== undefined) {
          ctx.logger.info(
            `the index's SBOM is not written: attestations: ${inputs.attestations} lists statements about platform images only, and the index cannot list one about itself (attestations: referrers writes it as a referrer of the index; with sign, it is a signed bundle referrer)`,
          );
        }
      }
      const record: WrittenSoFar = { location: d.display, digest: descriptor.digest, tags: [] };
      written.push(record);
      const signed = new Set<Digest>();
      done.push({ store, planned: d, descriptor, record, signed });
      // Where the targets take the statements not in the index and the signatures (see
      // buildAttachmentStorages, which `build --target` shares).
      const storages = await buildAttachmentStorages(store, descriptor.digest, attested, inputs.attestations, selected, {
        logger: ctx.logger,
      });
      // Signed, referrers storage holds each statement once, as its signed bundle (see sign), as
      // `build --sign` and cosign 3's attest store it. Unsigned, a manifest whose attestations a
      // target refuses as referrers gets them where `fix` would move them.
      if (signer === undefined && inputs.attestations === 'referrers' && result.index !== undefined) {
        const refused = (a: Attested): boolean => storages?.attestations.get(a.manifest.digest)?.storage === 'cosign';
        await storeAttestations(
          store,
          result.index,
          attested.filter((a) => !refused(a)),
          'referrers',
          { logger: ctx.logger },
        );
        await storeRefused(store, descriptor, attested.filter(refused), storages, selected, ctx);
      }
      ctx.logger.info(`wrote ${descriptor.digest} to ${store.location}, by digest (the tags come last)`);
      if (signer !== undefined) {
        const made = await sign(store, descriptor, attested, signer.signer, inputs, ctx, d.dockerReference, storages);
        for (const e of made.entries) if (e.predicateType === undefined) signed.add(e.digest);
        signedEntries.push(...made.entries);
        for (const t of made.tagOnly) if (!tagOnly.some((x) => x.digest === t.digest && x.what === t.what)) tagOnly.push(t);
      }
    }
    const first = done[0];
    if (first === undefined) throw new ProvenantError('USAGE', 'nothing to write');
    const descriptor = first.descriptor;
    for (const o of done) {
      // One tag at a time, each recorded once written: when a later one fails, the error lists
      // exactly the tags that name the image.
      await tagImage(o.store, o.descriptor.digest, o.planned.tags, { logger: ctx.logger, onTagged: (tag) => o.record.tags.push(tag) });
      ctx.logger.info(`tagged ${o.descriptor.digest} in ${o.store.location}: ${o.planned.tags.join(', ')}`);
    }
    const reference = nameIn(first.planned.display, first.planned.tags[0]!);

    const fixes: ActionFix[] = [];
    let report = await gatherReport(first.store, descriptor.digest, {
      reference,
      targets,
      profiles,
      toolVersion: ctx.toolVersion,
      sourceDateEpoch: ctx.sourceDateEpoch,
      logger: ctx.logger,
    });
    // A target named without `fix` is a check: one that refuses the image is said in the log (a
    // warning the workflow run shows), not only in the summary's table. The default list, which
    // nobody named, only fills the table.
    if (!inputs.fix && targets !== undefined) {
      for (const t of report.compat?.targets ?? []) {
        if (t.verdict !== 'refused') continue;
        const rules = t.problems.filter((p) => p.severity === 'refuses').map((p) => p.rule);
        ctx.logger.warn(
          `${t.name} (${t.target}) refuses ${descriptor.digest}${rules.length > 0 ? `: ${rules.join(', ')}` : ''}; fix: true writes an image it accepts beside it`,
        );
      }
    }
    if (inputs.fix && report.compat !== undefined) {
      const created = ctx.sourceDateEpoch === undefined ? undefined : new Date(ctx.sourceDateEpoch * 1000);
      const resign: Resigner | undefined =
        signer === undefined ? undefined : resignerOf(signer.signer, { dockerReference: first.planned.dockerReference, created });
      // BuildKit's attestations a fix moves out of the signed index are signed again as attestations
      // of their image, as build --target and fix --key sign them.
      const attest = signer === undefined ? undefined : attesterOf(signer.signer, { created });
      for (const t of report.compat.targets) {
        if (t.verdict !== 'refused') continue;
        const [target] = selectTargets(profiles, t.target);
        const fixTags = first.planned.tags.map((tag) => fixTag(tag, target!.profile.id));
        ctx.logger.info(`fixing for ${t.target}: ${fixTags.join(', ')}`);
        // What the build's signing signed is not signed again (Lambda's fix writes the amd64
        // manifest, signed with the build, in place of the index).
        const fix = await fixImage(first.store, descriptor.digest, first.store, target!, {
          tags: fixTags,
          resign,
          attest,
          signedThisRun: first.signed,
          logger: ctx.logger,
        });
        // Written where it was read from: the first repository the tags name (or the local layout).
        const names = fix.written && fix.destination !== undefined ? fix.destination.tags.map((t) => nameIn(first.planned.display, t)) : [];
        fixes.push({ ...fix, names });
        // A later target's fix may write the same manifest in place of the index.
        for (const r of fix.signing.resigned) first.signed.add(r.subject);
        // A fix that wrote nothing is not a failure of the step (the image as built is written,
        // signed and tagged), but a job that asked for the fix must not read it as done.
        const why = fixNotWritten(fix);
        if (why !== undefined) ctx.logger.warn(`the fix for ${t.target} wrote nothing (no ${fixTags.join(', ')}): ${why}`);
        const still = fixStillRefused(fix);
        if (still !== undefined) ctx.logger.warn(`the fix for ${t.target} wrote ${fixTags.join(', ')}, but ${still}`);
        const leftOut = fixLeftOut(fix, attested);
        if (leftOut !== undefined) ctx.logger.warn(`the fix for ${t.target} wrote ${fixTags.join(', ')}; ${leftOut}`);
      }
      // The report names the fixed images too (their tags are in the store now). It keeps the
      // first reading's notes: a store warns of what it cannot read once (a layout's unreadable
      // referrer, see LayoutReader), and the first reading heard it, so this one does not.
      if (fixes.length > 0) {
        const again = await gatherReport(first.store, descriptor.digest, {
          reference,
          targets,
          profiles,
          toolVersion: ctx.toolVersion,
          sourceDateEpoch: ctx.sourceDateEpoch,
        });
        report = { ...again, notes: [...new Set([...report.notes, ...again.notes])] };
      }
    }
    const reportPath = join(work, 'report.html');
    await writeFile(reportPath, renderReport(report));
    for (const s of stores.splice(0)) await s.close();
    return {
      descriptor,
      result,
      destinations: destinations.map((d) => ({
        location: d.display,
        names: d.tags.map((t) => nameIn(d.display, t)),
        kind: d.location.kind === 'oci' ? 'oci' : 'registry',
      })),
      attested,
      signing:
        signer === undefined
          ? undefined
          : {
              kind: signer.kind,
              keyId: signer.kind === 'key' ? signer.keyId : undefined,
              entries: signedEntries,
              // Read once the fixes are signed too: a fix's signatures may come with a new certificate.
              identities: signer.kind === 'keyless' ? signer.signer.identities.map(identityLabel) : [],
              tagOnly,
            },
      report,
      reportPath,
      fixes,
    };
  } catch (err) {
    const digest = written[0]?.digest;
    throw digest === undefined ? err : new PartialWriteError(err, digest, written);
  } finally {
    for (const s of stores) await s.close().catch(() => {});
  }
}

/**
 * Why a fix wrote nothing, in one line naming the rules (undefined when it wrote the image): the
 * refusals no change satisfies, else those the target would still raise against the fixed image.
 */
export function fixNotWritten(fix: FixReport): string | undefined {
  if (fix.written) return undefined;
  if (fix.unfixable.length > 0) return `no fix for ${fix.unfixable.map((p) => p.rule).join(', ')}`;
  const still = (fix.after?.problems ?? []).filter((p) => p.severity === 'refuses').map((p) => p.rule);
  return still.length > 0 ? `${fix.target} would still refuse the fixed image: ${still.join(', ')}` : 'the fix was not written';
}

/**
 * Why a fix that was written is still refused where it was written, or undefined. The Action fixes
 * into the store it built into: an image whose digest the fix kept (only what is attached to it
 * changed) keeps there whatever the build attached to it, such as an unsigned statement no fix of
 * the target moves off a referrer (the others are already where the targets take them, signed or
 * not: see sign and storeRefused).
 */
export function fixStillRefused(fix: FixReport): string | undefined {
  if (!fix.written || fix.after?.verdict !== 'refused') return undefined;
  const rules = fix.after.problems.filter((p) => p.severity === 'refuses').map((p) => p.rule);
  const kept = fix.destination !== undefined && fix.destination.digest === fix.source.digest;
  return `${fix.target} still refuses it where it was written (${rules.join(', ')})${
    kept ? ': its digest is the built image’s, so what the build attached to it is still there' : ''
  }`;
}

/**
 * What the fix for a target left out of the fixed image because it would be about the wrong
 * image: statements about a digest the fix replaced (such as the index’s signed SBOM, or a platform
 * image’s provenance when its layers were recompressed), and of `attested` (the statements the
 * run wrote or signed) those about a manifest the fix left out (Lambda's takes the amd64 image of
 * an index: the index's SBOM and the arm64 image's statements are not in it), as `build --target`
 * names them in its account (see statementsAboutLeftOut). Each stays with the image as built.
 * Undefined when it left out none.
 */
export function fixLeftOut(fix: FixReport, attested: readonly Attested[]): string | undefined {
  if (!fix.written) return undefined;
  const replaced = fix.statementsLeftOut.map((l) => `${l.predicateTypes.join(', ')} about ${l.about}`);
  const made = attested.map((a) => ({ about: a.manifest.digest, predicateTypes: a.statements.map((x) => x.predicateType) }));
  const notCarried = statementsAboutLeftOut(fix, made).map((n) => `${n.predicateTypes.join(', ')} about ${n.about}`);
  const parts = [
    ...(replaced.length === 0
      ? []
      : [`${replaced.join('; ')} (${replaced.length === 1 ? 'it names' : 'they name'} a digest the fix replaced)`]),
    ...(notCarried.length === 0
      ? []
      : [`${notCarried.join('; ')} (the fix left out what ${notCarried.length === 1 ? 'it is' : 'they are'} about)`]),
  ];
  if (parts.length === 0) return undefined;
  const n = replaced.length + notCarried.length;
  return `the fixed image does not carry the statement${n === 1 ? '' : 's'} ${parts.join('; ')}, which ${
    n === 1 ? 'stays' : 'stay'
  } with the image as built`;
}

/** A tag's full name in a repository (`registry/repository` or `oci:PATH`), as the outputs give it. */
function nameIn(location: string, tag: string): string {
  return `${location}:${tag}`;
}

/** A tag for the image fixed for a target: `TAG-TARGET`, cut to the 128 characters a tag may have. */
export function fixTag(tag: string, target: string): string {
  const suffix = `-${target}`;
  return `${tag.slice(0, 128 - suffix.length)}${suffix}`;
}

/** How the statements describe the build: the inputs' and the job's part of them. */
function describeOptions(inputs: ActionInputs, ctx: ActionContext, imageName: string): DescribeOptions {
  return {
    imageName,
    configPath: inputs.config,
    toolVersion: ctx.toolVersion,
    sourceDateEpoch: ctx.sourceDateEpoch,
    sbom: inputs.sbom,
    provenance: inputs.provenance,
    builderId: builderIdFromEnv(ctx.env),
    invocation: inputs.provenance !== false && inputs.provenance.mode === 'max' ? invocationFromEnv(ctx.env) : undefined,
    fromLock: inputs.lock !== undefined,
  };
}

/** The statements `sbom` and `provenance` ask for (none when attestations are off). */
function describe(result: BuildResult, inputs: ActionInputs, options: DescribeOptions): Attested[] {
  if (inputs.attestations === 'none' || (!inputs.sbom && inputs.provenance === false)) return [];
  const attested = describeBuild(result, options);
  const index = describeIndex(result, options);
  if (index !== undefined) attested.push(index);
  return attested;
}

interface Planned {
  location: Parameters<typeof openLocation>[0];
  /** How the location reads in messages and outputs. */
  display: string;
  tags: string[];
  /** The repository the signature's payload names. */
  dockerReference: string;
}

/**
 * Where to write: each repository the tags name (its tags in the order given), or with
 * `push: false` one local layout in this run's folder holding every tag.
 */
function groupDestinations(inputs: ActionInputs, work: string): Planned[] {
  if (!inputs.push) {
    const path = join(work, 'image.oci');
    const tags = inputs.tags.length === 0 ? ['latest'] : [...new Set(inputs.tags.map((t) => t.tag ?? 'latest'))];
    const named = inputs.tags[0];
    return [
      {
        location: { kind: 'oci', path, tag: undefined, digest: undefined },
        display: `oci:${path}`,
        tags,
        dockerReference: named === undefined ? 'local/image' : cosignDockerReference(named),
      },
    ];
  }
  const byRepo = new Map<string, Planned>();
  for (const t of inputs.tags) {
    const ref: ImageReference = { registry: t.registry, repository: t.repository, tag: undefined, digest: undefined };
    const key = formatReference(ref);
    let p = byRepo.get(key);
    if (p === undefined) {
      p = { location: { kind: 'registry', reference: ref }, display: key, tags: [], dockerReference: cosignDockerReference(ref) };
      byRepo.set(key, p);
    }
    const tag = t.tag ?? 'latest';
    if (!p.tags.includes(tag)) p.tags.push(tag);
  }
  return [...byRepo.values()];
}

/**
 * Checks that each registry repository the run writes to takes a push from the job's logins,
 * before anything is written to any of them: the first repository would otherwise hold the image
 * by digest when the second turns out to be down or to refuse the login. Each is asked as its
 * first blob would be (see RegistryClient.checkPush: an upload session opened and cancelled,
 * nothing stored), all at once; a local layout needs no check.
 *
 * @throws PushCheckError naming every repository that failed and why, with the first failure's
 *   code and cause, and each one's hint in the Action's words
 */
async function checkDestinations(destinations: readonly Planned[], ctx: ActionContext): Promise<void> {
  const registries = destinations.filter((d) => d.location.kind === 'registry');
  if (registries.length === 0) return;
  const { RegistryStore } = await import('../store/registry.ts');
  const failures = await Promise.all(
    registries.map(async (d): Promise<ProvenantError | undefined> => {
      const { store } = await openLocation(d.location, { write: true, registry: ctx.registry, logger: ctx.logger });
      try {
        if (store instanceof RegistryStore) await store.client.checkPush(store.repository, { logger: ctx.logger });
        return undefined;
      } catch (err) {
        if (!isProvenantError(err) || err.code === 'ABORTED') throw err;
        return err;
      } finally {
        await store.close({ discard: true }).catch(() => {});
      }
    }),
  );
  const refused = registries.flatMap((d, i) => (failures[i] === undefined ? [] : [{ display: d.display, err: failures[i]! }]));
  const first = refused[0];
  if (first === undefined) {
    ctx.logger.info(`checked that ${registries.map((d) => d.display).join(', ')} ${registries.length === 1 ? 'takes' : 'take'} the push`);
    return;
  }
  throw new PushCheckError(refused.map((r) => ({ location: r.display, error: r.err })));
}

/**
 * The repositories the check before the build found refusing the push (see checkDestinations),
 * each with its error: the code, place and cause are the first's, the hint each one's, said as
 * the Action's user can follow it (actionHint), so that a registry on a closed port does not hide
 * the login advice for another.
 */
export class PushCheckError extends ProvenantError {
  readonly refusals: readonly { location: string; error: ProvenantError }[];

  constructor(refusals: readonly { location: string; error: ProvenantError }[]) {
    const first = refusals[0]!;
    const why = refusals.map((r) => `${r.location} (${r.error.message})`).join('; ');
    super(first.error.code, `cannot push to ${why}; checked before the build, so nothing was written`, {
      where: first.error.where,
      hint: refusalHints(refusals),
      cause: first.error,
    });
    this.name = 'PushCheckError';
    this.refusals = refusals.map((r) => ({ ...r }));
  }
}

/**
 * Each refusal's hint in the Action's words, one a line: alone, as it is; with others, after the
 * repositories it is for (one line for those that share it). Undefined when none has one.
 */
function refusalHints(refusals: readonly { location: string; error: ProvenantError }[]): string | undefined {
  const byHint = new Map<string, string[]>();
  for (const r of refusals) {
    const hint = actionHint(r.error);
    if (hint === undefined || hint === '') continue;
    byHint.set(hint, [...(byHint.get(hint) ?? []), r.location]);
  }
  if (byHint.size === 0) return undefined;
  if (refusals.length === 1) return [...byHint.keys()][0];
  return [...byHint].map(([hint, locations]) => `${locations.join(', ')}: ${hint}`).join('\n');
}

/**
 * A repository without an architecture, said as the step's inputs chose it: the `platforms` input
 * when it names the architecture, else the configuration's `archs` (or, when it names none, the
 * runner's architecture). The library's hint names the command line's flags instead.
 */
function missingArchitecture(err: MissingArchitectureError, inputs: ActionInputs, config: ImageConfig): ProvenantError {
  const arch = err.architecture;
  const platform = platformOf(arch);
  const listed: string[] = config.archsFromHost ? [] : [...config.archs];
  const others = listed.filter((a) => a !== arch);
  if (inputs.archs.includes(arch)) {
    const unlisted = listed.length > 0 && !listed.includes(arch);
    return new ProvenantError(
      'NOT_FOUND',
      `the input platforms asks for ${platform}${unlisted ? `, which the configuration's archs (${listed.join(', ')}) do not list` : ''}; ${err.message}`,
      {
        where: 'with: platforms',
        cause: err,
        hint: unlisted
          ? `platforms chooses the architectures built: give it only platforms the repository has, or leave it out to build the configuration's archs (${listed.map(platformOf).join(', ')})`
          : `platforms chooses the architectures built: give it only platforms the repository has${others.length > 0 ? ` (of the configuration's archs, ${others.map(platformOf).join(', ')})` : ''}`,
      },
    );
  }
  if (config.archsFromHost) {
    return new ProvenantError('NOT_FOUND', `the configuration names no archs, so the runner's, ${arch}, is built; ${err.message}`, {
      where: `${inputs.config}: archs`,
      cause: err,
      hint: 'list the architectures to build in the configuration’s archs, or choose them with the platforms input (linux/amd64, linux/arm64)',
    });
  }
  return new ProvenantError('NOT_FOUND', `the configuration's archs list ${arch}; ${err.message}`, {
    where: `${inputs.config}: archs`,
    cause: err,
    hint: `the configuration's archs choose the architectures built, and the platforms input a part of them: remove ${arch} from archs${
      others.length > 0 ? `, or give platforms only those the repository has (${others.map(platformOf).join(', ')}, say)` : ''
    }; or, if the repository should have it, check its location (is it built or checked out before this step?)`,
  });
}

/** An apk architecture as `platforms` names it (`aarch64` is linux/arm64). */
function platformOf(arch: string): string {
  const apk = lookupArch(arch);
  return apk === undefined ? arch : formatPlatform(apkArchToPlatform(apk));
}

/**
 * The `lock` input's file, parsed.
 *
 * @throws ProvenantError `NOT_FOUND` or `IO` naming the input and why it cannot be read;
 *   `INVALID_CONFIG` as parseLock
 */
async function readLock(path: string): Promise<Lock> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const { code, why } = whyUnreadable(err);
    throw new ProvenantError(code, `cannot read the lock file ${path}: ${why}`, {
      where: 'with: lock',
      cause: err,
      hint: 'give lock the path of a lock file (provenant lock writes one), relative to the workspace, or leave it out to resolve the packages',
    });
  }
  return parseLock(text, path);
}

/**
 * The signer the `sign` input asks for: a key's with its id, or keyless, whose certificates say
 * who the run signed as (see KeylessSigner.identities).
 */
type RunSigner = { kind: 'key'; signer: KeySigner; keyId: string } | { kind: 'keyless'; signer: KeylessSigner };

/** The signer `sign` asks for; the key is decrypted before the build, so a wrong password fails fast. */
async function makeSigner(inputs: ActionInputs, ctx: ActionContext): Promise<RunSigner | undefined> {
  const s = inputs.sign;
  if (s.kind === 'none') return undefined;
  if (s.kind === 'key') {
    const key = await decryptPrivateKey(s.keyPem, s.password, 'the key input').catch((err: unknown) => {
      // The library's hint names the CLI's COSIGN_PASSWORD; here the password is an input.
      if (!isProvenantError(err, 'CREDENTIALS')) throw err;
      throw new ProvenantError('CREDENTIALS', err.message, {
        where: 'with: key-password',
        cause: err,
        hint: 'check the key-password input (the secret it reads is taken as written, spaces included); an empty password is a password too',
      });
    });
    return { kind: 'key', signer: new KeySigner(key, { source: 'the key input' }), keyId: keyId(key) };
  }
  if (ctx.identityToken === undefined) {
    throw new ProvenantError('CREDENTIALS', 'keyless signing needs the job’s OIDC token, and this job cannot request one', {
      where: 'with: sign',
      hint: 'give the job `permissions: id-token: write`',
    });
  }
  const trustedRoot = s.trustedRoot === undefined ? undefined : parseTrustedRoot(await readTrustedRoot(s.trustedRoot), s.trustedRoot);
  const signer = new KeylessSigner({
    fulcioURL: s.fulcioURL,
    rekorURL: s.rekorURL,
    tsaURL: s.tsaURL,
    identityToken: ctx.identityToken,
    trustedRoot,
  });
  return { kind: 'keyless', signer };
}

/**
 * The bytes of the `trusted-root` input's file.
 *
 * @throws ProvenantError `NOT_FOUND` or `IO` naming the input, not a system error with a stack
 */
async function readTrustedRoot(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    const { code, why } = whyUnreadable(err);
    throw new ProvenantError(code, `cannot read the trusted root ${path}: ${why}`, {
      where: 'with: trusted-root',
      cause: err,
      hint: 'give trusted-root the path of a Sigstore trusted_root.json (cosign’s --trusted-root), relative to the workspace',
    });
  }
}

/**
 * Writes the unsigned statements of `refused` (manifests whose referrers a named target refuses,
 * as ECR refuses a referrer of an index) where `fix` moves such a referrer, by the targets' own fix
 * (see storeAsFixWould): under cosign's `sha256-<hex>.att` tag, without a subject. ECR answers a
 * push of the referrer with 405, so writing it first and fixing after would fail midway.
 */
async function storeRefused(
  store: ContentStore,
  written: Descriptor,
  refused: readonly Attested[],
  storages: AttachmentStorages | undefined,
  targets: readonly Target[],
  ctx: ActionContext,
): Promise<void> {
  for (const a of refused) {
    const pending = attestationReferrer(a);
    if (pending === undefined) continue;
    const by = storages?.attestations.get(a.manifest.digest)?.refusedBy ?? [];
    const left = await storeAsFixWould(
      store,
      written.digest,
      new Map([[a.manifest.digest, [{ ...pending, kind: 'attestation' as const }]]]),
      targets.filter((t) => by.includes(t.label)),
      { logger: ctx.logger },
    );
    if (left.length > 0) {
      ctx.logger.warn(`${a.manifest.digest}: no fix of ${by.join(', ')} moves its statements off a referrer; written as one`);
    } else {
      const why = `as ${by.join(', ')} refuses a referrer of it`;
      ctx.logger.info(`${a.manifest.digest}: its unsigned statements under its cosign tag, without a subject, as fix stores them, ${why}`);
    }
  }
}

/**
 * Signs the index, every image in it and every statement (see signBuild). Each image signature
 * goes in both storages, cosign 2's `.sig` tag and a cosign 3 referrer, and each manifest's
 * attestations where `attestations` says, unless one of the targets refuses the referrer (ECR
 * refuses a referrer whose subject is an index): then under the `.sig` tag only, and signed in
 * the `.att` image, as `fix` would store them, so that the target needs no fix for them (see
 * signingStorages, which `build --target` shares). Only the targets the inputs name count
 * (`storages`); without them, as the inputs say.
 */
async function sign(
  store: ContentStore,
  written: Descriptor,
  attested: readonly Attested[],
  signer: Signer,
  inputs: ActionInputs,
  ctx: ActionContext,
  dockerReference: string,
  storages: AttachmentStorages | undefined,
): Promise<{ entries: SignedEntry[]; tagOnly: TagOnly[] }> {
  const created = ctx.sourceDateEpoch === undefined ? undefined : new Date(ctx.sourceDateEpoch * 1000);
  const { tagOnly, storagesOf, attestationStorageOf, dockerMediaTypesOf } = signingStorages(storages);
  for (const t of tagOnly) ctx.logger.info(tagOnlyLine(t));
  const entries = await signBuild(store, written.digest, attested, {
    signer,
    dockerReference,
    attestations: inputs.attestations,
    created,
    storagesOf,
    attestationStorageOf,
    dockerMediaTypesOf,
    logger: ctx.logger,
  });
  return { entries, tagOnly };
}
