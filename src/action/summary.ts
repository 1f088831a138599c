/**
 * The job summary: one table per platform (digest, packages, layers, size), the attestations
 * and where each is stored, the signature (key id or identity), the compatibility verdict per
 * target with the fixes written, and where the report is. Built on `core.summary`, which writes
 * cells as given (an empty one as an unclosed tag), so every string is escaped here and no cell
 * is empty.
 */
import type * as core from '@actions/core';
import { predicateName } from '../attest/attachments.ts';
import { cosignTag } from '../oci/content.ts';
import type { ReportAttachment, ReportData } from '../report/data.ts';
import { bytes } from '../report/html.ts';
import { identityLabel } from '../sign/identity.ts';
import { type ActionOutcome, fixLeftOut, fixNotWritten, fixStillRefused, type SigningOutcome } from './run.ts';

type Summary = typeof core.summary;

/** Escapes text for the summary's HTML. */
export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const code = (text: string): string => `<code>${esc(text)}</code>`;
const header = (...cells: string[]) => cells.map((data) => ({ data, header: true }));

/** Adds the run's summary to `summary` (the caller writes it). */
export function addSummary(summary: Summary, outcome: ActionOutcome): Summary {
  const r = outcome.report;
  summary.addHeading('Provenant', 2);
  const where = outcome.destinations.flatMap((d) => d.names);
  // The fixed images are other images (most often another digest), written to the first repository.
  const fixed = outcome.fixes.flatMap((f) => {
    return f.names.length === 0 || f.destination === undefined
      ? []
      : [`; fixed for ${code(f.target)}, ${code(f.destination.digest)} to ${f.names.map(code).join(', ')}`];
  });
  summary.addRaw(`<p>${code(outcome.descriptor.digest)} written to ${where.map(code).join(', ')}${fixed.join('')}</p>`, true);

  summary.addHeading('Images', 3);
  summary.addTable([
    header('Platform', 'Digest', 'Packages', 'Layers', 'Size'),
    ...r.platforms.map((p) => [
      esc(p.platform),
      code(p.digest),
      String(p.sbom.packages.length),
      String(p.layers.length),
      esc(bytes(p.totalSize)),
    ]),
  ]);

  const attestations = attestationRows(r, outcome.signing);
  summary.addHeading('Attestations', 3);
  if (attestations.length === 0) summary.addRaw('<p>none</p>', true);
  else summary.addTable([header('Platform', 'What', 'Stored as', 'Where', 'Signed by'), ...attestations]);

  summary.addHeading('Signature', 3);
  summary.addRaw(`<p>${signatureLine(outcome)}</p>`, true);

  if (r.compat !== undefined) {
    summary.addHeading('Compatibility', 3);
    summary.addTable([
      header('Target', 'Verdict', 'Problems', 'Fixed image'),
      ...r.compat.targets.map((t) => {
        const fix = outcome.fixes.find((f) => f.target === t.target);
        const notWritten = fix === undefined ? undefined : fixNotWritten(fix);
        const still = fix === undefined ? undefined : fixStillRefused(fix);
        const leftOut = fix === undefined ? undefined : fixLeftOut(fix, outcome.attested);
        const fixed =
          notWritten !== undefined
            ? `not written: ${esc(notWritten)}`
            : fix?.destination === undefined
              ? ''
              : `${code(fix.destination.digest)} ${fix.names.map(code).join(' ')}${still === undefined ? '' : `<br>${esc(still)}`}${leftOut === undefined ? '' : `<br>${esc(leftOut)}`}`;
        const problems = t.problems.map((p) => `${esc(p.severity)}: ${esc(p.rule)}`).join('<br>');
        return [`${esc(t.name)} (${code(t.target)})`, esc(t.verdict), problems || 'none', fixed || '–'];
      }),
    ]);
  }

  summary.addHeading('Report', 3);
  summary.addRaw(
    `<p>${code(outcome.reportPath)}: one HTML page about the image. Upload it with actions/upload-artifact (see docs/action.md).</p>`,
    true,
  );
  return summary;
}

function attestationRows(r: ReportData, signing: SigningOutcome | undefined): string[][] {
  const rows: string[][] = [];
  const add = (platform: string, a: ReportAttachment) => {
    if (a.kind !== 'attestation' && a.kind !== 'sbom') return;
    const what =
      a.predicateTypes.length > 0 ? a.predicateTypes.map((t) => esc(predicateName(t) ?? t)).join(', ') : esc(a.artifactType ?? a.mediaType);
    const place = a.tag !== undefined ? code(a.tag) : code(a.digest);
    rows.push([esc(platform), what, esc(a.storage), place, signersOf(a, signing)]);
  };
  for (const p of r.platforms) for (const a of p.attachments) add(p.platform, a);
  for (const a of r.attachments) add('index', a);
  return rows;
}

/**
 * Who signed `a`, each signer once: for a BuildKit attestation manifest, whose statements carry
 * no signature, who signed the manifest (the report reads its signatures as an image's). A
 * `.att` layer Provenant wrote names its key (its DSSE envelope's `keyid`), but a cosign 2 one
 * leaves `keyid` empty and a `.sig` layer has only its signature: for those the report cannot
 * say whose it is; the run knows when it signed them all: when every unnamed signature of the attachment is one this
 * run's key made under its tag (as many as the statements, or manifests, it signed there, written
 * now or found there already, equal, by a run again), they are shown as that key's.
 * Exported for its tests.
 */
export function signersOf(a: ReportAttachment, signing: SigningOutcome | undefined): string {
  const named = a.signers.filter((s) => s.signed);
  if (named.length === 0) return 'unsigned';
  const unnamed = named.filter((s) => s.keyId === undefined && s.identity === undefined).length;
  const tag = a.storage === 'buildkit' ? cosignTag(a.digest, 'sig') : a.storage === 'cosign' ? a.tag : undefined;
  // One found there already is where it was found: its tag and layer (sign.ts, SignedEntry).
  const under = (location: string): boolean => location === tag || location.startsWith(`${tag} layer `);
  const ours =
    signing?.kind === 'key' && signing.keyId !== undefined && tag !== undefined
      ? new Set(signing.entries.filter((e) => e.storage === 'cosign' && under(e.location)).map((e) => e.statement ?? e.digest)).size
      : 0;
  const runKey = unnamed > 0 && unnamed === ours ? signing?.keyId : undefined;
  const labels = named.map((s) =>
    s.keyId !== undefined
      ? `key ${code(s.keyId)}`
      : s.identity !== undefined
        ? esc(identityLabel({ identity: s.identity, issuer: s.issuer }))
        : runKey !== undefined
          ? `key ${code(runKey)}`
          : 'a key the signature does not name',
  );
  const of = a.storage === 'buildkit' ? ' (a signature of the manifest)' : '';
  return [...new Set(labels)].map((l) => `${l}${of}`).join('<br>');
}

function signatureLine(outcome: ActionOutcome): string {
  const s = outcome.signing;
  if (s === undefined) return 'not signed';
  const subjects = new Set(s.entries.filter((e) => e.predicateType === undefined).map((e) => e.digest)).size;
  const storages = [...new Set(s.entries.map((e) => e.storage))].join(' and ');
  // Said, so that a reader looking for a referrer signature or attestation of the index knows
  // where it is instead.
  const tagOnly = s.tagOnly
    .map((t) => {
      const which = `${t.digest === outcome.descriptor.digest ? 'the index ' : ''}${code(t.digest)}`;
      const where =
        t.what === 'signature' ? `${which} under cosign’s .sig tag only` : `the attestations of ${which} in cosign’s .att image only`;
      return `; ${where}: ${esc(t.refusedBy.join(', '))} refuse${t.refusedBy.length === 1 ? 's' : ''} a referrer of it`;
    })
    .join('');
  if (s.kind === 'key') return `signed with key ${code(s.keyId ?? '')}: ${subjects} manifest(s), stored as ${esc(storages)}${tagOnly}`;
  // Keyless: who this run signed as (its certificates). The image may carry signatures an earlier
  // run made (another workflow, or this one re-run): the report reads them all, so those that name
  // someone else are said apart, as found there, not as this run's.
  const ours = new Set(s.identities);
  const earlier = new Set<string>();
  for (const a of [...outcome.report.attachments, ...outcome.report.platforms.flatMap((p) => p.attachments)]) {
    // The signatures of the images and the index, and of the BuildKit attestation manifests.
    for (const x of a.signers) {
      if (x.kind !== 'signature' || x.identity === undefined) continue;
      const who = identityLabel({ identity: x.identity, issuer: x.issuer });
      if (!ours.has(who)) earlier.add(who);
    }
  }
  const also = earlier.size === 0 ? '' : `; also signed earlier, not by this run, as ${[...earlier].map(esc).join(', ')}`;
  return `signed keyless as ${[...ours].map(esc).join(', ') || 'the job’s identity'}: ${subjects} manifest(s), stored as ${esc(storages)}${tagOnly}${also}`;
}
