/**
 * The text form of an {@link ImageDiff}: `identical` alone when the images are, else one section
 * per platform with a line per change, marked as `diff` marks them (`-` only in A, `+` only in
 * B, `~` in both but different, `=` the same). A pure function: the CLI prints what it returns.
 *
 * Every name, path, version, key and label in it comes from the images, so each goes through
 * `printableLine` (`one`): a newline in a file name must not print a line of its own.
 */
import { formatBytes, printableLine as one } from '../bytes.ts';
import type {
  AttachmentDiff,
  FileChange,
  FileEntry,
  ImageDiff,
  LayerDiff,
  PackageDiff,
  PackageRef,
  PlatformDiff,
  ProvenanceDiff,
  ValueChange,
} from './diff-types.ts';

/** The longest a value is printed before it is cut (the JSON form has it whole). */
const VALUE_WIDTH = 160;

/**
 * The text form of `diff`: `identical\n`, or the changes section by section. Two images that
 * `ignoreTimestamps` found identical with different manifests are `identical but for
 * timestamps`, with both digests and each platform's.
 */
export function renderDiff(diff: ImageDiff): string {
  if (diff.identical && diff.retimed !== true && !diff.images.some(retimed)) return 'identical\n';
  if (diff.identical) {
    const out = [
      'identical but for timestamps',
      `--- a: ${one(diff.a.name)} ${diff.a.digest}`,
      `+++ b: ${one(diff.b.name)} ${diff.b.digest}`,
    ];
    for (const image of diff.images) out.push(...platform(image));
    return `${out.join('\n')}\n`;
  }
  const out: string[] = [`--- a: ${one(diff.a.name)} ${diff.a.digest}`, `+++ b: ${one(diff.b.name)} ${diff.b.digest}`];
  if (diff.platforms.onlyA.length > 0) out.push(`platforms only in a: ${one(diff.platforms.onlyA.join(', '))}`);
  if (diff.platforms.onlyB.length > 0) out.push(`platforms only in b: ${one(diff.platforms.onlyB.join(', '))}`);
  for (const [side, names] of [
    ['a', diff.platforms.duplicatesA],
    ['b', diff.platforms.duplicatesB],
  ] as const) {
    if (names !== undefined && names.length > 0) {
      out.push(`platforms ${side} lists more than once: ${one(names.join(', '))} (paired in order; a runtime pulls the first)`);
    }
  }
  section(out, 'index annotations', values(diff.annotations), '');
  section(out, 'index attachments', attachments(diff.attachments), '');
  // One line at a time: a platform with a million changed files has more lines than a call takes arguments.
  for (const image of diff.images) {
    out.push('');
    for (const line of platform(image)) out.push(line);
  }
  return `${out.join('\n')}\n`;
}

function platform(d: PlatformDiff): string[] {
  if (retimed(d)) return [`${one(d.platform)}: identical but for timestamps (${d.a.digest} → ${d.b.digest})`];
  if (d.identical) return [`${one(d.platform)}: identical (${d.a.digest})`];
  const out = [`${one(d.platform)}: ${d.a.digest} → ${d.b.digest}`];
  section(out, packagesTitle(d.packages), packages(d.packages), '  ');
  section(out, 'files', files(d), '  ');
  section(out, 'config', values(d.config), '  ');
  section(out, layersTitle(d.layers), layers(d.layers), '  ');
  section(out, 'attachments', attachments(d.attachments), '  ');
  section(out, 'provenance', provenance(d.provenance), '  ');
  section(out, 'notes', d.notes.map(one), '  ');
  return out;
}

/** Identical with two manifests: what `ignoreTimestamps` lets through. */
function retimed(d: PlatformDiff): boolean {
  return d.identical && d.a.digest !== d.b.digest;
}

function section(out: string[], title: string, lines: readonly string[], indent: string): void {
  if (lines.length === 0) return;
  out.push(`${indent}${title}:`);
  for (const l of lines) out.push(`${indent}  ${l}`);
}

function packagesTitle(p: PackageDiff): string {
  return p.source.a === p.source.b ? `packages (${p.source.a})` : `packages (${p.source.a} → ${p.source.b})`;
}

function packages(p: PackageDiff): string[] {
  const out: string[] = [];
  const filesNote = (files: readonly string[] | undefined): string =>
    files === undefined || files.length === 0 ? '' : `  (${count(files.length, 'file')})`;
  for (const c of p.changed) {
    const what = c.fields.map((f) =>
      f === 'version' ? `${one(c.a.version)} → ${one(c.b.version)}` : f === 'checksum' ? 'rebuilt' : `${f} changed`,
    );
    const where: string[] = [];
    if (c.files.length > 0) where.push(count(c.files.length, 'file'));
    if (c.layers.a.length > 0 || c.layers.b.length > 0) where.push(`layer ${c.layers.a.join(',') || '-'} → ${c.layers.b.join(',') || '-'}`);
    // The same version built again still names its version.
    const version = c.fields.includes('version') ? '' : `${one(c.a.version)} `;
    const name = c.byArch === true && c.b.arch !== undefined ? `${c.name}:${c.b.arch}` : c.name;
    out.push(`~ ${one(name)} ${version}${what.join(', ')}${where.length > 0 ? `  (${where.join('; ')})` : ''}`);
  }
  // dpkg's own spelling for one architecture of a package installed for several: `libc6:i386`.
  const ref = (r: PackageRef): string => one(r.byArch === true && r.arch !== undefined ? `${r.name}:${r.arch}` : r.name);
  for (const r of p.removed) out.push(`- ${ref(r)} ${one(r.version)}${filesNote(r.files)}`);
  for (const r of p.added) out.push(`+ ${ref(r)} ${one(r.version)}${filesNote(r.files)}`);
  return out;
}

function files(d: PlatformDiff): string[] {
  const out: string[] = [];
  for (const c of d.files.changed) out.push(...changedFile(c));
  for (const e of d.files.removed) out.push(`- ${one(e.path)}  ${describeEntry(e)}  (${origin(e)})`);
  for (const e of d.files.added) out.push(`+ ${one(e.path)}  ${describeEntry(e)}  (${origin(e)})`);
  return out;
}

function changedFile(c: FileChange): string[] {
  const parts = c.fields.map((f) => `${f} ${field(f, c.a)} → ${field(f, c.b)}`);
  const layer =
    c.a.layer === c.b.layer && c.a.layerDigest === c.b.layerDigest
      ? `layer ${c.a.layer} ${short(c.a.layerDigest)}`
      : `layer ${c.a.layer} ${short(c.a.layerDigest)} → ${c.b.layer} ${short(c.b.layerDigest)}`;
  const out = [`~ ${one(c.path)}  ${parts.join(', ')}  (${layer}${c.package === undefined ? '' : `; ${one(c.package)}`})`];
  // The one place where text from the image keeps its lines: each is indented under the path.
  if (c.textDiff !== undefined) for (const l of c.textDiff.replace(/\n$/, '').split('\n')) out.push(`    ${l}`);
  if (c.textDiffSkipped !== undefined) out.push(`    (no text diff: ${c.textDiffSkipped})`);
  return out;
}

function origin(e: FileEntry): string {
  return `layer ${e.layer} ${short(e.layerDigest)}${e.package === undefined ? '' : `; ${one(e.package)}`}`;
}

function describeEntry(e: FileEntry): string {
  const parts = [e.type, octal(e.mode), `${e.uid}:${e.gid}`];
  if (e.type === 'file') parts.push(formatBytes(e.size, 'short'), `sha256:${(e.sha256 ?? '').slice(0, 12)}`);
  if (e.linkname !== undefined) parts.push(`→ ${one(e.linkname)}`);
  if (e.device !== undefined) parts.push(`device ${e.device}`);
  return parts.join(' ');
}

function field(name: string, e: FileEntry): string {
  switch (name) {
    case 'mode':
      return octal(e.mode);
    case 'sha256':
      return e.sha256 === undefined ? '-' : e.sha256.slice(0, 12);
    case 'size':
      return formatBytes(e.size, 'short');
    case 'mtime':
      return time(e.mtime);
    default: {
      const v = (e as unknown as Record<string, unknown>)[name];
      return v === undefined ? '-' : typeof v === 'string' || typeof v === 'number' ? one(String(v)) : JSON.stringify(v);
    }
  }
}

function layersTitle(l: LayerDiff): string {
  return `layers (${l.shared.length} shared, ${l.onlyA.length} only in a, ${l.onlyB.length} only in b)`;
}

function layers(l: LayerDiff): string[] {
  if (l.onlyA.length === 0 && l.onlyB.length === 0 && l.shared.every((s) => s.indexA === s.indexB)) return [];
  const out: string[] = [];
  for (const s of l.shared)
    out.push(`= ${s.indexA === s.indexB ? s.indexA : `${s.indexA} → ${s.indexB}`} ${s.digest} ${formatBytes(s.size, 'short')}`);
  for (const r of l.onlyA) out.push(`- ${r.index} ${r.digest} ${formatBytes(r.size, 'short')}`);
  for (const r of l.onlyB) out.push(`+ ${r.index} ${r.digest} ${formatBytes(r.size, 'short')}`);
  return out;
}

function attachments(d: AttachmentDiff): string[] {
  return [...d.onlyA.map((i) => `- ${one(i.label)}`), ...d.onlyB.map((i) => `+ ${one(i.label)}`)];
}

function provenance(p: ProvenanceDiff): string[] {
  if (p.a === undefined && p.b === undefined) return [];
  if (p.a === undefined) return [`+ ${one(`${p.b?.predicateType} by ${p.b?.builderId}`)}`];
  if (p.b === undefined) return [`- ${one(`${p.a.predicateType} by ${p.a.builderId}`)}`];
  const out = values(p.changes);
  const dep = (d: { key: string; version?: string; digest?: Record<string, string> }): string =>
    [d.version, ...Object.entries(d.digest ?? {}).map(([k, v]) => `${k}:${v.slice(0, 12)}`)]
      .filter((x) => x !== undefined)
      .map(one)
      .join(' ');
  for (const c of p.dependencies.changed) out.push(`~ dependency ${one(c.key)}: ${dep(c.a)} → ${dep(c.b)}`);
  for (const d of p.dependencies.removed) out.push(`- dependency ${one(d.key)} ${dep(d)}`);
  for (const d of p.dependencies.added) out.push(`+ dependency ${one(d.key)} ${dep(d)}`);
  return out;
}

function values(changes: readonly ValueChange[]): string[] {
  return changes.map((c) => {
    if (!('a' in c)) return `+ ${one(c.field)}: ${value(c.b)}`;
    if (!('b' in c)) return `- ${one(c.field)}: ${value(c.a)}`;
    return `~ ${one(c.field)}: ${changed(c.a, c.b)}`;
  });
}

function value(v: unknown): string {
  // JSON escapes C0 controls but leaves C1 and the invisible ones (a bidi override) raw.
  const text = one(JSON.stringify(v) ?? 'null');
  return text.length > VALUE_WIDTH ? `${text.slice(0, VALUE_WIDTH - 1)}…` : text;
}

/** How much of what the two values share is shown before the place they part. */
const CONTEXT = 40;

/**
 * Two values of a field, `A → B`. Cut at VALUE_WIDTH from their start, two long values that part
 * further on (a configuration file's text with one line changed) would read the same: each is
 * shown from a little before the first character where they differ, `…` marking what is left out.
 */
function changed(a: unknown, b: unknown): string {
  const ta = JSON.stringify(a) ?? 'null';
  const tb = JSON.stringify(b) ?? 'null';
  let at = 0;
  while (at < ta.length && at < tb.length && ta[at] === tb[at]) at++;
  if (at < VALUE_WIDTH - CONTEXT || (ta.length <= VALUE_WIDTH && tb.length <= VALUE_WIDTH)) return `${value(a)} → ${value(b)}`;
  let from = at - CONTEXT;
  // Not inside a JSON escape (`\n`) or between the halves of a surrogate pair.
  while (from > 0 && (ta[from - 1] === '\\' || /[\uDC00-\uDFFF]/.test(ta[from] ?? ''))) from--;
  const window = (text: string): string => {
    const rest = text.slice(from);
    return one(rest.length > VALUE_WIDTH - 1 ? `…${rest.slice(0, VALUE_WIDTH - 2)}…` : `…${rest}`);
  };
  return `${window(ta)} → ${window(tb)}`;
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

function short(digest: string): string {
  const i = digest.indexOf(':');
  return digest.slice(0, i + 13);
}

function octal(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

function time(seconds: number): string {
  const ms = seconds * 1000;
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString().replace('.000Z', 'Z') : String(seconds);
}
