/**
 * The text form of a {@link ReproduceReport}: whether the provenance was verified (said plainly
 * when it was not), then one line per platform (`match`, `MISMATCH`, `NOT REPLAYABLE`) with what
 * differs or what is missing beneath it, then the index (for an index) and what differs in it. A
 * pure function: the CLI prints what it returns; the JSON form is the report itself.
 */
import type { PackageFileChange } from './fetch.ts';
import type { PlatformReproduction, ReproduceReport } from './reproduce.ts';

/** The text form of `report`. */
export function renderReproduce(report: ReproduceReport): string {
  const out: string[] = [`reproduce ${report.image.name} (${report.image.digest})`];
  out.push(`provenance: ${report.verification.summary}`);
  const width = Math.max(0, ...report.platforms.map((p) => p.platform.length));
  for (const p of report.platforms) out.push(...platform(p, width));
  const index = report.index;
  if (index !== undefined) {
    if (!index.compared) out.push(`index  not compared with a rebuild: ${index.reason ?? ''}`);
    else if (index.differences.length > 0) out.push(`index  MISMATCH  ${report.image.digest}`);
    else if (index.notRebuilt === undefined) out.push(`index  match     ${report.image.digest}`);
    else out.push(`index  no difference in the entries rebuilt  ${report.image.digest}`);
    out.push(...index.differences.map((d) => `    ${d}`));
    out.push(...(index.notRebuilt ?? []).map((e) => `    not rebuilt, so not known to belong: ${e}`));
  }
  for (const o of report.overrides) {
    out.push(`override: ${o.from} → ${o.to} (${o.used === 0 ? 'matched no package location' : count(o.used, 'package location')})`);
  }
  const tally = (status: PlatformReproduction['status']) => report.platforms.filter((p) => p.status === status).length;
  out.push(
    report.match
      ? `reproduced: every platform (${report.platforms.length}) matches`
      : `not reproduced: ${[
          tally('match') > 0 ? `${tally('match')} match` : '',
          tally('mismatch') > 0 ? `${tally('mismatch')} differ` : '',
          tally('not-replayable') > 0 ? `${tally('not-replayable')} not replayable` : '',
          (index?.differences.length ?? 0) > 0 ? 'the index differs' : '',
        ]
          .filter((s) => s !== '')
          .join(', ')}`,
  );
  return `${out.join('\n')}\n`;
}

function platform(p: PlatformReproduction, width: number): string[] {
  const name = p.platform.padEnd(width);
  const from =
    p.provenance === undefined
      ? []
      : [
          `    provenance: ${p.provenance.storage} ${p.provenance.source}${p.provenance.verified ? `, verified (${p.provenance.verifiedBy ?? 'signed'})` : ', not verified'}`,
        ];
  const changedFiles = (list: readonly PackageFileChange[]): string[] =>
    list.map(
      (c) =>
        `    package file changed: ${c.name} ${c.version} (${c.architecture}) at ${c.url}: SHA-256 ${c.found}, the provenance names ${c.expected}`,
    );
  switch (p.status) {
    case 'match':
      return [
        `${name}  match     ${p.digest}`,
        ...(p.compression === 'other'
          ? [
              `    same content, other compression: the rebuild (${p.rebuilt}) has the original's config and uncompressed layers (diff_ids); its layers are compressed differently`,
            ]
          : []),
        ...(p.provenance?.storage === 'image' || p.provenance?.predicateType.startsWith('https://apko.dev/') ? from : []),
      ];
    case 'not-replayable':
      return [`${name}  NOT REPLAYABLE  ${p.digest}`, `    ${p.reason}`, ...p.missing.map((m) => `    missing: ${m}`), ...from];
    case 'mismatch': {
      const out = [
        p.rebuilt === p.digest
          ? `${name}  MISMATCH  ${p.digest} = rebuilt, from other package files`
          : `${name}  MISMATCH  ${p.digest} ≠ rebuilt ${p.rebuilt ?? '(none)'}`,
      ];
      if (p.error !== undefined) out.push(`    ${p.error}`);
      if (p.reason !== undefined) out.push(`    ${p.reason}`);
      const d = p.detail;
      if (d !== undefined) {
        if (d.firstLayer !== undefined) {
          out.push(
            `    first layer: ${d.firstLayer.index}: ${d.firstLayer.original ?? '(none)'} in the original, ${d.firstLayer.rebuilt ?? '(none)'} rebuilt`,
          );
        }
        if (d.firstFile !== undefined) {
          const f = d.firstFile;
          const what =
            f.change === 'changed'
              ? `differs in ${f.fields.join(', ')}`
              : f.change === 'only-original'
                ? 'is in the original only'
                : 'is in the rebuild only';
          out.push(`    first file:  ${f.path} ${what} (layer ${f.layer}${f.package === undefined ? '' : `, package ${f.package}`})`);
        }
        if (d.package !== undefined) {
          const k = d.package;
          const version = k.version === undefined ? '' : ` ${k.version}${k.rebuiltVersion === undefined ? '' : ` → ${k.rebuiltVersion}`}`;
          out.push(`    package:     ${k.name}${version}: ${k.reason}`);
        }
        if (d.databases.length > 0) {
          out.push(`    databases:   ${d.databases.map((x) => `${x.path} (layer ${x.layer})`).join(', ')}`);
        }
        if (d.config.length > 0) out.push(`    config:      ${d.config.map((c) => c.field).join(', ')}`);
        out.push(
          `    in all:      ${count(d.counts.files, 'file')}, ${count(d.counts.packages, 'package')}, ${count(d.counts.layers, 'layer')} differ (provenant diff shows each)`,
        );
      }
      // The package named above is not named twice.
      out.push(...changedFiles(p.changedPackageFiles.filter((c) => c.name !== d?.package?.name)), ...from);
      return out;
    }
  }
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}
