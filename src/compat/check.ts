/**
 * `check`: runs every rule of every target over an image graph and says, for each problem, how
 * bad it is, the error the target gives, why, and the fix.
 */

import type { OperationOptions } from '../io/types.ts';
import type { Digest } from '../oci/digest.ts';
import { RegistryStore } from '../store/registry.ts';
import type { ContentStore } from '../store/types.ts';
import { DETECTORS, type DetectorContext, type Finding, type ReferrersApiFact } from './detectors.ts';
import { type ImageGraph, type ReadGraphOptions, readImageGraph } from './graph.ts';
import type { DetectorName } from './params.ts';
import { probeReferrersApi, type ReferrersProbe } from './probe.ts';
import { type Profile, type ReferrersApi, type Rule, referrersApiOf, rulesFor, type Target, targetOf } from './profile.ts';

/** What a target would do with the image as a whole. */
export type Verdict = 'accepted' | 'warnings' | 'refused';

/** One rule the image breaks: the rule's severity, why, fix, certainty, status and sources, and what was found. */
export interface Problem extends Pick<Rule, 'severity' | 'why' | 'fix' | 'certainty' | 'status' | 'sources'> {
  /** The target's label (`id` or `id@version`). */
  readonly target: string;
  readonly rule: string;
  readonly detector: DetectorName;
  /** The error the target gives, with `{image}`, `{digest}` and `{mediaType}` filled in; undefined when none was recorded. */
  readonly error: string | undefined;
  /** What the detector found, each with the digest it is about. */
  readonly findings: readonly Finding[];
}

/** The result for one target. */
export interface TargetReport {
  readonly target: string;
  readonly name: string;
  readonly kind: Profile['kind'];
  readonly version: string | undefined;
  /** True when the version was not named but assumed from the profile. */
  readonly assumedVersion: boolean;
  readonly verdict: Verdict;
  readonly problems: readonly Problem[];
  /** The referrers API fact the check used (registries). */
  readonly referrersApi: ReferrersApiFact | undefined;
}

/** What {@link checkImage} found. */
export interface CheckReport {
  readonly image: {
    readonly location: string;
    /** How the image was named (for messages). */
    readonly reference: string;
    readonly digest: Digest;
    readonly mediaType: string;
    readonly kind: 'index' | 'manifest';
  };
  /** The worst verdict over all targets. */
  readonly verdict: Verdict;
  readonly targets: readonly TargetReport[];
  /** The registry probe, when the image is in a registry and probing was not turned off. */
  readonly probe: ReferrersProbe | undefined;
  /** What the graph reader could not read. */
  readonly notes: readonly string[];
}

/** Options of {@link checkImage}. */
export interface CheckOptions extends ReadGraphOptions {
  /** How the user named the image, for `{image}` in error texts (default: location and tag or digest). */
  reference?: string | undefined;
  /**
   * The registry probe. `auto` (default) probes when `store` is a registry repository; `false`
   * never probes; a {@link ReferrersProbe} is used as given. A probe describes the registry that
   * holds the image, which need not be a target's: its answer is taken for a registry target only
   * where the profile does not know, unless it says it is of the targets (`ofTargets`).
   */
  probe?: 'auto' | false | ReferrersProbe | undefined;
}

/**
 * Checks the image `target` (a tag or digest in `store`) against `targets`.
 *
 * @throws ProvenantError as {@link readImageGraph}
 */
export async function checkImage(
  store: ContentStore,
  target: string,
  targets: ReadonlyArray<Target | Profile>,
  options: CheckOptions = {},
): Promise<CheckReport> {
  const graph = await readImageGraph(store, target, options);
  const probe = await resolveProbe(store, options.probe, options);
  const reference = options.reference ?? `${store.location}${target.startsWith('sha') ? '@' : ':'}${target}`;
  return checkGraph(graph, targets, { reference, probe });
}

/**
 * The probe result `option` asks for: the given one, none (`false`), or (`auto` and undefined)
 * a probe of `store` when it is a registry repository; that probe is said to be of the targets
 * (`ofTargets`) when `ofTargets` is true: the caller knows `store` is where the image goes (fix's
 * destination).
 */
export async function resolveProbe(
  store: ContentStore,
  option: CheckOptions['probe'],
  options: OperationOptions = {},
  ofTargets = false,
): Promise<ReferrersProbe | undefined> {
  if (option === false) return undefined;
  if (option !== undefined && option !== 'auto') return option;
  if (!(store instanceof RegistryStore)) return undefined;
  const probe = await probeReferrersApi(store.client, store.repository, options);
  return ofTargets ? { ...probe, ofTargets: true } : probe;
}

/** Checks an image graph already read: pure, no I/O. */
export function checkGraph(
  graph: ImageGraph,
  targets: ReadonlyArray<Target | Profile>,
  options: { reference: string; probe?: ReferrersProbe | undefined },
): CheckReport {
  const reports: TargetReport[] = [];
  for (const t of targets) {
    const target = 'profile' in t ? t : targetOf(t);
    reports.push(checkTarget(graph, target, options.reference, options.probe));
  }
  return {
    image: {
      location: graph.location,
      reference: options.reference,
      digest: graph.root.digest,
      mediaType: graph.root.mediaType,
      kind: graph.root.kind,
    },
    verdict: worst(reports.map((r) => r.verdict)),
    targets: reports,
    probe: options.probe,
    notes: graph.notes,
  };
}

function checkTarget(graph: ImageGraph, target: Target, reference: string, probe: ReferrersProbe | undefined): TargetReport {
  const profile = target.profile;
  const fact = referrersFact(target, probe);
  const context: DetectorContext = { referrersApi: fact ?? { value: 'unknown', source: 'profile', detail: 'not a registry' } };
  const problems: Problem[] = [];
  for (const rule of rulesFor(target)) {
    const findings = DETECTORS[rule.detect].run(graph, rule.with, context);
    if (findings.length === 0) continue;
    problems.push({
      target: target.label,
      rule: rule.id,
      detector: rule.detect,
      severity: rule.severity,
      error:
        rule.error === undefined
          ? undefined
          : fillError(rule.error, reference, findings[0]!.digest ?? graph.root.digest, graph.root.mediaType),
      why: rule.why,
      fix: rule.fix,
      certainty: rule.certainty,
      status: rule.status,
      sources: rule.sources,
      findings,
    });
  }
  const verdict: Verdict = problems.some((p) => p.severity === 'refuses') ? 'refused' : problems.length > 0 ? 'warnings' : 'accepted';
  return {
    target: target.label,
    name: profile.name,
    kind: profile.kind,
    version: target.version,
    assumedVersion: target.assumed,
    verdict,
    problems,
    referrersApi: fact,
  };
}

/**
 * Whether `target` (a registry) has the referrers API. The probe asks the registry the image is
 * in, which need not be the target's (an image in a local registry checked for ECR): unless it is
 * said to be of the targets (`ofTargets`), its answer is taken only where the profile does not know (a self-hosted registry named without its
 * version, or one whose profile has no fact), and said to be about the registry probed. Where the
 * profile knows, its fact stands, and an answer that differs is said as about that registry only.
 */
function referrersFact(target: Target, probe: ReferrersProbe | undefined): ReferrersApiFact | undefined {
  if (target.profile.kind !== 'registry') return undefined;
  const value: ReferrersApi = referrersApiOf(target);
  const where = probe === undefined ? '' : `${probe.registry}, where the image is`;
  if (probe?.ofTargets === true && probe.api !== 'unknown') return { value: probe.api, source: 'probe', detail: probe.detail };
  if (probe !== undefined && probe.api !== 'unknown' && value === 'unknown') {
    return {
      value: probe.api,
      source: 'probe',
      detail: `probed at ${where}, taken for ${target.label}, whose profile does not know (if ${target.label} is another registry, name its version or give --probe false): ${probe.detail}`,
    };
  }
  const said = value === 'unknown' ? 'the profile does not know' : `the profile says ${value}`;
  const probed =
    probe === undefined || probe.api === value
      ? ''
      : probe.api === 'unknown'
        ? `; the probe could not tell: ${probe.detail}`
        : `; the probe of ${where}, says ${probe.api}, which is not taken for ${target.label}: ${probe.detail}`;
  return { value, source: 'profile', detail: `${said}${target.version === undefined ? '' : ` for ${target.label}`}${probed}` };
}

/** Fills `{image}`, `{digest}` and `{mediaType}` into a profile's error text. */
export function fillError(text: string, image: string, digest: string, mediaType: string): string {
  return text.replaceAll('{image}', image).replaceAll('{digest}', digest).replaceAll('{mediaType}', mediaType);
}

function worst(verdicts: readonly Verdict[]): Verdict {
  if (verdicts.includes('refused')) return 'refused';
  if (verdicts.includes('warnings')) return 'warnings';
  return 'accepted';
}
