/**
 * What `check`, `fix`, `report` and `build --target` share: the targets `--target` names (from
 * the built-in profiles and any `--profiles` folders), the text of a check and of a fix, and the
 * error that makes a refusal exit 7.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AttestationMode, Attested } from '../attest/storage.ts';
import { type BuildResult, writeBuild } from '../builder/build.ts';
import type { DescribeOptions } from '../builder/describe.ts';
import { type CheckReport, checkImage, type Problem, type TargetReport } from '../compat/check.ts';
import { fixCommandOf } from '../compat/command.ts';
import { short } from '../compat/detectors.ts';
import { fixLabel } from '../compat/docs.ts';
import { type FixReport, fixImage, type Remaker } from '../compat/fix.ts';
import { loadProfiles, type Profile, selectTargets, type Target } from '../compat/profile.ts';
import { ProvenantError } from '../errors.ts';
import type { Descriptor } from '../oci/types.ts';
import { locationWithDigest } from '../ref/location.ts';
import { LayoutStore } from '../store/layout.ts';
import type { ContentStore } from '../store/types.ts';
import { suggestions } from '../yaml.ts';
import type { ParsedArgs } from './args.ts';

/** The built-in profiles, and those of the `--profiles` folders. */
export function profilesFrom(args: ParsedArgs): Promise<Profile[]> {
  return loadProfiles({ extraDirs: (args.values.profiles as string[] | undefined) ?? [] });
}

/** The `--target` text as given: every value joined with commas, or undefined when none was given. */
export function targetText(args: ParsedArgs): string | undefined {
  const given = ((args.values.target as string[] | undefined) ?? []).filter((t) => t.trim() !== '');
  return given.length === 0 ? undefined : given.join(',');
}

/**
 * The profiles (built-in, then `--profiles` folders) and the targets `--target` names.
 *
 * @throws ProvenantError `USAGE` when no target is named (and `required`), for an unknown target,
 *   or for more than one when the command takes `one`; `INVALID_CONFIG` for a bad profile file
 */
export async function targetsFrom(
  args: ParsedArgs,
  options: { required: boolean; one?: boolean },
): Promise<{ profiles: Profile[]; targets: Target[] }> {
  const profiles = await profilesFrom(args);
  const text = targetText(args);
  if (text === undefined) {
    if (options.required) {
      throw new ProvenantError('USAGE', 'name a target with --target', { hint: `targets: ${profiles.map((p) => p.id).join(', ')}` });
    }
    return { profiles, targets: [] };
  }
  const targets = selectTargets(profiles, text, { suggest: suggestions });
  if (options.one && targets.length > 1) {
    throw new ProvenantError('USAGE', `name one target, not ${targets.length} (${targets.map((t) => t.label).join(', ')})`, {
      hint: 'fix makes the image one target accepts; run it once per target, each to its own destination',
    });
  }
  return { profiles, targets };
}

/** The error `check` ends with when a target would refuse the image (exit code 7). */
export function refusedError(report: CheckReport): ProvenantError | undefined {
  const targets = report.targets.filter((t) => t.verdict === 'refused');
  const refused = targets.map((t) => t.target);
  if (refused.length === 0) return undefined;
  // A fix is offered for a target only when every refusal of it has one.
  const fixable = targets.find((t) => t.problems.every((p) => p.severity !== 'refuses' || p.fix !== undefined));
  const unfixable = targets
    .flatMap((t) => t.problems.filter((p) => p.severity === 'refuses' && p.fix === undefined).map((p) => `${t.target}: ${p.rule}`))
    .join(', ');
  const hint =
    fixable !== undefined
      ? `${fixCommandOf(report.image.reference, fixable, 'refuses').command} writes the smallest change that ${fixable.target} accepts`
      : `no fix makes the image acceptable (${unfixable}): see each refusal's "fix:" line above`;
  return new ProvenantError('INCOMPATIBLE', `${refused.join(', ')} would refuse the image`, { where: report.image.reference, hint });
}

const VERDICT: Record<TargetReport['verdict'], string> = {
  accepted: 'accepted',
  warnings: 'accepted, with warnings',
  refused: 'REFUSED',
};

function problemLines(p: Problem, reference: string, t: TargetReport): string[] {
  const mark = p.severity === 'refuses' ? 'refuses' : `warning: ${p.severity}`;
  const lines = [`  - ${p.rule} (${mark})`];
  const fix = fixCommandOf(reference, t, p.severity);
  lines.push(`      error:  ${p.error ?? '(no error text recorded)'}`);
  lines.push(`      why:    ${p.why}`);
  lines.push(
    p.fix === undefined ? '      fix:    none: no change to the image satisfies it' : `      fix:    ${fixLabel(p.fix)}: ${fix.command}`,
  );
  if (p.fix !== undefined && fix.note !== undefined) lines.push(`      note:   ${fix.note}`);
  for (const f of p.findings) lines.push(`      found:  ${f.digest === undefined ? '' : `${short(f.digest)}: `}${f.detail}`);
  lines.push(`      how sure: ${p.certainty}${p.status === undefined ? '' : `; ${p.status}`}`);
  for (const s of p.sources) lines.push(`      source: ${s}`);
  return lines;
}

/** The text form of a check: the image, the probe, then each target's verdict and problems. */
export function renderCheck(report: CheckReport): string {
  const { image } = report;
  const lines = [
    `${image.reference}`,
    `  ${image.digest} (${image.kind === 'index' ? 'image index' : 'single manifest'}, ${image.mediaType})`,
  ];
  if (report.probe !== undefined) lines.push(`  referrers API: ${report.probe.api}: ${report.probe.detail}`);
  for (const t of report.targets) {
    const version = t.version === undefined ? '' : t.assumedVersion ? ` (version ${t.version} assumed)` : '';
    lines.push('', `${t.target}: ${VERDICT[t.verdict]}${version}  [${t.name}, ${t.kind}]`);
    if (t.referrersApi !== undefined)
      lines.push(`  referrers API: ${t.referrersApi.value} (${t.referrersApi.source}: ${t.referrersApi.detail})`);
    // Refusals first: they decide the verdict.
    const ordered = [...t.problems].sort((a, b) => Number(b.severity === 'refuses') - Number(a.severity === 'refuses'));
    for (const p of ordered) lines.push(...problemLines(p, image.reference, t));
  }
  for (const n of report.notes) lines.push('', `note: ${n}`);
  const refused = report.targets.filter((t) => t.verdict === 'refused').map((t) => t.target);
  lines.push(
    '',
    refused.length > 0
      ? `Refused by ${refused.join(', ')}.`
      : report.verdict === 'warnings'
        ? 'Every target accepts the image (with the warnings above).'
        : 'Every target accepts the image.',
  );
  return `${lines.join('\n')}\n`;
}

/** The text form of a fix: its account, sentence by sentence, and where the result went. */
export function renderFix(report: FixReport): string {
  const lines = [`${report.source.reference} for ${report.target}:`];
  for (const a of report.account) lines.push(`  ${a}`);
  if (report.destination !== undefined) {
    const tags = report.destination.tags.length === 0 ? '' : ` (tags ${report.destination.tags.join(', ')})`;
    lines.push(`${locationWithDigest(report.destination.location, report.destination.digest)}${tags}`);
  }
  return `${lines.join('\n')}\n`;
}

/** What {@link writeBuildFor} did: the descriptor the tags point at, and the fix when one was needed. */
export interface TargetedBuild {
  descriptor: Descriptor;
  /** The check of the image as built; its verdict decided whether a fix ran. */
  check: TargetReport;
  fix: FixReport | undefined;
}

/**
 * `build --target T`: writes the build into the shape `target` accepts. The build goes first to
 * a temporary layout on this machine (its blobs are in memory already) and is checked there; an
 * image the target accepts as built is written to `dst` as `build` writes it, one it refuses goes
 * through `fix` on its way to `dst`. Either way the destination is written once, in the accepted
 * shape: nothing refused is ever tagged there, and a registry receives only the blobs the fixed
 * image keeps (one platform for Lambda). Choosing build options per profile up front could not
 * do as much (the builder always writes an index, which Lambda refuses), so fix's transforms are
 * the one implementation of every rule.
 *
 * A fix that rewrites the platform images (Docker media types, for Artifactory before 7.11.1)
 * leaves out the statements about them, which name the images as built. Given `describe` (an
 * unsigned build's: a signed one makes them again as it signs, see writeSigned), the build makes
 * them again about the images written, as it made them (aboutWrittenIndex), and the fix attaches
 * them where the target takes them: every image the build writes carries its SBOMs and provenance.
 *
 * @throws ProvenantError `INCOMPATIBLE` when the target would still refuse the image (nothing is
 *   written to `dst`, unless what `dst` held already is what it refuses), and what build, check
 *   and fix raise
 */
export async function writeBuildFor(
  result: BuildResult,
  dst: ContentStore,
  tags: readonly string[],
  target: Target,
  options: {
    attestations: { attested: Attested[]; mode: AttestationMode } | undefined;
    /** How the build described its images, to describe again those the fix rewrites (unsigned builds). */
    describe?: DescribeOptions | undefined;
    reference: string;
    signal: AbortSignal;
  },
): Promise<TargetedBuild> {
  const dir = await mkdtemp(join(tmpdir(), 'provenant-build-target-'));
  try {
    const staged = await LayoutStore.open(join(dir, 'layout'), { create: true });
    try {
      const built = await writeBuild(result, staged, ['built'], { attestations: options.attestations, signal: options.signal });
      // The probe describes the destination registry, not this layout.
      const check = (
        await checkImage(staged, built.digest, [target], { reference: options.reference, probe: false, signal: options.signal })
      ).targets[0]!;
      if (check.verdict !== 'refused') {
        const descriptor = await writeBuild(result, dst, tags, { attestations: options.attestations, signal: options.signal });
        return { descriptor, check, fix: undefined };
      }
      const remake =
        options.attestations === undefined || options.describe === undefined
          ? undefined
          : remaker(result, options.attestations.attested, options.describe);
      const fix = await fixImage(staged, built.digest, dst, target, { tags, reference: options.reference, remake, signal: options.signal });
      if (!fix.written || fix.destination === undefined || fix.after?.verdict === 'refused') {
        throw new ProvenantError(
          'INCOMPATIBLE',
          `${target.label} would refuse the image and no change makes it accept it; ${fix.written ? `it was written to ${dst.location} all the same` : 'nothing was written'}`,
          {
            where: options.reference,
            hint: fix.account.join(' '),
          },
        );
      }
      const descriptor: Descriptor = {
        mediaType: fix.destination.mediaType,
        digest: fix.destination.digest,
        size: (await dst.resolve(fix.destination.digest, { signal: options.signal }))?.size ?? 0,
      };
      return { descriptor, check, fix };
    } finally {
      await staged.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The statements of `attested` (what the build made, described with `describe`) made again about
 * the manifests a fix wrote in place of the images built: the same content about the new
 * subjects, the SBOMs naming the digests written (see aboutWrittenIndex, which a signed build
 * calls after writing). Those about manifests the fix left as they were are not returned: the fix
 * carried them.
 */
function remaker(result: BuildResult, attested: readonly Attested[], describe: DescribeOptions): Remaker {
  return async (store, root, renamed, options) => {
    const { aboutWrittenIndex } = await import('../builder/describe.ts');
    // `signed: true` asks for them made again, as for a build that signs them; the fix attaches them unsigned.
    const replaced = new Map(renamed.filter((r) => r.role !== 'attachment').map((r) => [r.from, r.to]));
    const about = await aboutWrittenIndex(store, root, result, attested, { ...describe, signed: true, replaced, signal: options.signal });
    const before = new Set(attested.map((a) => a.manifest.digest));
    return about.attested.filter((a) => !before.has(a.manifest.digest));
  };
}

/**
 * What `build --target` said of the image: the target's verdict on the image as built, the fix
 * when one ran, and, for a signed build, the target's verdict on the image as written and signed
 * (the signatures are checked too: Harbor shows a cosign 3 bundle signature as unsigned).
 */
export interface TargetedAccount {
  check: TargetReport | undefined;
  fix: FixReport | undefined;
  signed?: TargetReport | undefined;
}

/** What `build --target` adds to the build's JSON: the target's verdict on the image as built, the fix, and the verdict once signed. */
export function targetedJson(written: TargetedAccount): Record<string, unknown> {
  if (written.check === undefined) return {};
  const signed = written.signed === undefined ? {} : { asSigned: written.signed.verdict };
  return { target: { target: written.check.target, asBuilt: written.check.verdict, ...signed, fix: written.fix } };
}

/**
 * What `build --target` adds to the build's text: accepted as built, or the fix's account (whose
 * last check is of the signed image, when signed); accepted as built and signed, what the target
 * says of the image with its signatures, warnings named.
 */
export function renderTargeted(written: TargetedAccount): string {
  if (written.check === undefined) return '';
  if (written.fix === undefined) {
    const how = written.check.verdict === 'warnings' ? 'accepts it as built, with warnings (check shows them)' : 'accepts it as built';
    const asBuilt = `${written.check.target} ${how}: written unchanged.\n`;
    if (written.signed === undefined) return asBuilt;
    return `${asBuilt}Checked again, signed: ${verdictText(written.signed)}.\n`;
  }
  return `${written.check.target} refuses the image as built; written as fix makes it:\n${written.fix.account.map((a) => `  ${a}`).join('\n')}\n`;
}

/** A verdict in a few words, each problem named by its rule and severity. */
function verdictText(r: TargetReport): string {
  const rules = (severity: (s: string) => boolean): string =>
    [...new Set(r.problems.filter((p) => severity(p.severity)).map((p) => `${p.rule}: ${p.severity}`))].join(', ');
  if (r.verdict === 'accepted') return `${r.target} accepts it`;
  if (r.verdict === 'warnings') return `${r.target} accepts it, with warnings (${rules((s) => s !== 'refuses')}; check shows them)`;
  return `${r.target} refuses it (${rules((s) => s === 'refuses')}; check says what and why)`;
}
