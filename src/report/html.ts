/**
 * The report as one self-contained HTML page: inline CSS and a small inline script, no fonts,
 * images, styles or scripts from anywhere else, and a Content-Security-Policy that allows only
 * the page's own style and script (by hash) so that nothing else loads or runs even if a value
 * slipped past escaping. Links the user clicks (http(s) URLs in the data) are the only URLs.
 *
 * Every value from {@link ReportData} is untrusted and goes through the escaping template
 * (template.ts). Sections are `<details>`, so they collapse without the script; the script adds
 * the package filters, expand/collapse-all, and opens everything for printing.
 */
import { createHash } from 'node:crypto';
import { predicateName } from '../attest/attachments.ts';
import { formatBytes } from '../bytes.ts';
import { type FixCommand, fixCommandOf } from '../compat/command.ts';
import type {
  ReportAttachment,
  ReportCompat,
  ReportConfig,
  ReportData,
  ReportIndexEntry,
  ReportPackage,
  ReportPlatform,
  ReportProvenance,
  ReportSigner,
} from './data.ts';
import { type Html, html, type Interpolation, raw } from './template.ts';

const CSS = `
:root {
  color-scheme: light dark;
  --bg: #ffffff; --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --panel: #f6f8fa; --accent: #0a58ca;
  --ok-bg: #dafbe1; --ok-fg: #116329; --warn-bg: #fff8c5; --warn-fg: #6b4c00; --bad-bg: #ffebe9; --bad-fg: #a40e26;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --fg: #e6edf3; --muted: #9198a1; --line: #30363d; --panel: #161b22; --accent: #6cb6ff;
    --ok-bg: #12361f; --ok-fg: #6fdd8b; --warn-bg: #3a2f00; --warn-fg: #f2cc60; --bad-bg: #4a0f16; --bad-fg: #ff9492;
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
header, main, footer { max-width: 78rem; margin: 0 auto; padding: 0 1.25rem; }
header { padding-top: 1.5rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; overflow-wrap: anywhere; }
h2 { font-size: 1.3rem; margin: 0; display: inline; }
h3 { font-size: 1.05rem; margin: 0; display: inline; }
h4 { font-size: .95rem; margin: 1rem 0 .4rem; }
a { color: var(--accent); }
code, pre, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .86em; }
code, .digest { overflow-wrap: anywhere; }
pre { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: .75rem; overflow: auto; max-height: 30rem; white-space: pre-wrap; overflow-wrap: anywhere; }
.muted { color: var(--muted); }
nav ul { list-style: none; padding: 0; margin: .75rem 0; display: flex; flex-wrap: wrap; gap: .35rem 1rem; }
.summary { display: grid; grid-template-columns: repeat(auto-fit, minmax(11rem, 1fr)); gap: .75rem; margin: 1rem 0; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: .6rem .8rem; }
.card .label { display: block; color: var(--muted); font-size: .8rem; text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: 1.15rem; font-weight: 600; }
.card .note { display: block; color: var(--muted); font-size: .75rem; }
section { margin: 1.25rem 0; }
details { border: 1px solid var(--line); border-radius: 8px; margin: .75rem 0; background: var(--bg); }
details > summary { cursor: pointer; padding: .6rem .9rem; background: var(--panel); border-radius: 8px; }
details[open] > summary { border-bottom: 1px solid var(--line); border-radius: 8px 8px 0 0; }
details > .body { padding: .5rem .9rem 1rem; }
details details { margin: .6rem 0; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0; }
caption { text-align: left; color: var(--muted); font-size: .85rem; padding: .2rem 0; caption-side: top; }
th, td { text-align: left; vertical-align: top; padding: .35rem .5rem; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
th { font-size: .82rem; color: var(--muted); font-weight: 600; }
td.num, th.num { text-align: right; white-space: nowrap; }
tbody tr:hover { background: var(--panel); }
dl { display: grid; grid-template-columns: minmax(8rem, max-content) 1fr; gap: .3rem 1rem; margin: .4rem 0; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
ul.plain { margin: 0; padding-left: 1.1rem; }
.badge { display: inline-block; border-radius: 999px; padding: 0 .55rem; font-size: .8rem; font-weight: 600; border: 1px solid transparent; white-space: nowrap; }
.badge.accepted, .badge.signed { background: var(--ok-bg); color: var(--ok-fg); }
.badge.warnings, .badge.unsigned { background: var(--warn-bg); color: var(--warn-fg); }
.badge.refused, .badge.error { background: var(--bad-bg); color: var(--bad-fg); }
.badge.neutral { background: var(--panel); color: var(--muted); border-color: var(--line); }
.controls { display: flex; gap: .5rem; flex-wrap: wrap; margin: .5rem 0 1rem; }
button { font: inherit; color: var(--fg); background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: .25rem .7rem; cursor: pointer; }
.filter { display: flex; gap: .75rem; align-items: center; flex-wrap: wrap; margin: .5rem 0; }
.filter input { font: inherit; color: var(--fg); background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: .3rem .6rem; min-width: 18rem; }
:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
footer { color: var(--muted); font-size: .85rem; padding-bottom: 2rem; }
@media print {
  body { font-size: 11px; }
  .controls, .filter, nav { display: none !important; }
  details, details > summary { border: none; background: none; }
  pre { max-height: none; }
  tr { break-inside: avoid; }
  a { color: inherit; }
}
`;

/**
 * The most rows of a package table shown at once: an SBOM may list 50,000 packages, and a browser
 * takes seconds to lay out and filter that many rows. The page carries every row (the filter
 * searches them all) but shows the first ones, or the first that match.
 */
const SHOWN_ROWS = 1000;

const SCRIPT = `
(() => {
  'use strict';
  for (const input of document.querySelectorAll('input[data-filter]')) {
    const table = document.getElementById(input.dataset.filter);
    const count = document.getElementById(input.dataset.filter + '-count');
    const more = document.getElementById(input.dataset.filter + '-more');
    const unfiltered = more === null ? '' : more.textContent;
    const all = table.tBodies[0].rows;
    // Each row's text is read when a filter is first typed, not as the page loads.
    let rows;
    const update = () => {
      rows ??= Array.from(all, (row) => ({ row, text: row.textContent.toLowerCase() }));
      const terms = input.value.toLowerCase().split(/\\s+/).filter((t) => t !== '');
      // At most ${SHOWN_ROWS} rows shown: laying out more makes each keystroke take seconds. (No
      // less-than sign in the script: the page's checks count every one as a tag.)
      let matched = 0;
      for (const r of rows) {
        const match = terms.every((t) => r.text.includes(t));
        const hide = !match || matched >= ${SHOWN_ROWS};
        if (match) matched++;
        if (r.row.hidden !== hide) r.row.hidden = hide;
      }
      count.textContent = matched === rows.length ? rows.length + ' packages' : matched + ' of ' + rows.length + ' packages';
      if (more !== null) {
        more.hidden = !(matched > ${SHOWN_ROWS});
        more.textContent = terms.length === 0 ? unfiltered : (matched - ${SHOWN_ROWS}) + ' more matching packages not shown: narrow the filter.';
      }
    };
    // A large table is filtered once typing pauses, not on every keystroke.
    let timer;
    input.addEventListener('input', () => {
      if (!(all.length > ${SHOWN_ROWS})) return update();
      clearTimeout(timer);
      timer = setTimeout(update, 250);
    });
    input.closest('.filter').hidden = false;
    count.textContent = all.length + ' packages';
  }
  const setAll = (open) => { for (const d of document.querySelectorAll('details')) d.open = open; };
  document.getElementById('expand-all').addEventListener('click', () => setAll(true));
  document.getElementById('collapse-all').addEventListener('click', () => setAll(false));
  document.querySelector('.controls').hidden = false;
  let closed = [];
  window.addEventListener('beforeprint', () => {
    closed = Array.from(document.querySelectorAll('details:not([open])'));
    for (const d of closed) d.open = true;
  });
  window.addEventListener('afterprint', () => { for (const d of closed) d.open = false; closed = []; });
})();
`;

const cspHash = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
/** Only this page's own style and script; nothing loads from anywhere, not even images. */
const CSP = `default-src 'none'; style-src ${cspHash(CSS)}; script-src ${cspHash(SCRIPT)}; base-uri 'none'; form-action 'none'`;

/** Renders the report as one HTML document. */
export function renderReport(data: ReportData): string {
  const packages = data.platforms.reduce((n, p) => n + p.sbom.packages.length, 0);
  const { signatures, attestations } = signedCounts(data);
  const totalSize = storedSize(data);
  const nav: [string, string][] = [
    ...(data.compat === undefined ? [] : [['compat', 'Compatibility'] as [string, string]]),
    ...(data.index === undefined ? [] : [['index', 'Index'] as [string, string]]),
    ...data.platforms.map((p, i): [string, string] => [`platform-${i}`, p.platform]),
    ...(data.attachments.length === 0 ? [] : [['attachments', 'Attached to the index'] as [string, string]]),
    ...(data.notes.length === 0 ? [] : [['notes', 'Notes'] as [string, string]]),
  ];
  const page = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Provenant report: ${data.reference}</title>
<style>${raw(CSS)}</style>
</head>
<body>
<header>
<h1>${data.reference}</h1>
<div class="digest mono">${data.digest}</div>
<div class="summary">
${card('Kind', data.kind === 'index' ? 'image index' : 'image manifest')}
${card('Platforms', String(data.platforms.length))}
${card('Size (stored)', bytes(totalSize), 'manifests, configs and layers, compressed; a blob shared by platforms once')}
${card(data.platforms.length > 1 ? 'Packages (all platforms)' : 'Packages', String(packages))}
${card('Signatures', String(signatures))}
${card('Signed attestations', String(attestations))}
${data.compat === undefined ? '' : card('Compatibility', html`<span class="badge ${data.compat.verdict}">${data.compat.verdict}</span>`)}
</div>
<nav aria-label="Sections"><ul>${nav.map(([id, label]) => html`<li><a href="#${id}">${label}</a></li>`)}</ul></nav>
<div class="controls" hidden><button type="button" id="expand-all">Expand all</button><button type="button" id="collapse-all">Collapse all</button></div>
</header>
<main>
${data.compat === undefined ? '' : compatSection(data.compat, data.reference)}
${data.index === undefined ? '' : indexSection(data)}
${data.platforms.map((p, i) =>
  platformSection(
    p,
    i,
    data.platforms.slice(0, i).find((q) => q.sbom.packages === p.sbom.packages && q.sbom.packages.length > 0),
  ),
)}
${data.attachments.length === 0 ? '' : section('attachments', 'Attached to the index', attachmentsTable(data.attachments, 'Signatures, attestations and SBOMs of the index'))}
${data.notes.length === 0 ? '' : section('notes', 'Notes', html`<ul class="plain">${data.notes.map((n) => html`<li>${n}</li>`)}</ul>`)}
</main>
<footer>
<p>Made by ${data.toolVersion === '' ? 'Provenant' : `Provenant ${data.toolVersion}`} from <code>${data.location}</code>.
Signers are what each signature says about itself (a key id or a certificate identity); <code>provenant verify</code> checks them.</p>
</footer>
<script>${raw(SCRIPT)}</script>
</body>
</html>
`;
  return page.toString();
}

/**
 * The bytes stored for the image: the index (or manifest), each image's manifest, config and
 * layers, as stored, each blob counted once by its digest: platforms that share layers (one layer
 * per package, the same package in both) hold them once in a layout or a registry.
 */
export function storedSize(data: ReportData): number {
  const sizes = new Map<string, number>([[data.digest, data.size]]);
  for (const p of data.platforms) {
    sizes.set(p.digest, p.size);
    if (p.config !== undefined) sizes.set(p.config.digest, p.config.size);
    for (const l of p.layers) sizes.set(l.digest, l.size);
  }
  let n = 0;
  for (const size of sizes.values()) n += size;
  return n;
}

/**
 * The signatures carried, of the index and every image, as `provenant verify` counts them (an
 * attestation's signature signs that attestation, not the image, and a BuildKit attestation
 * manifest's signs that manifest), and apart the attestations that carry a signature. What each
 * names is not checked here.
 */
export function signedCounts(data: ReportData): { signatures: number; attestations: number } {
  const signers = [...data.attachments, ...data.platforms.flatMap((p) => p.attachments)]
    .filter((a) => a.storage !== 'buildkit')
    .flatMap((a) => a.signers);
  return {
    signatures: signers.filter((s) => s.signed && s.kind === 'signature').length,
    attestations: signers.filter((s) => s.signed && s.kind === 'attestation').length,
  };
}

function card(label: string, value: Interpolation, note?: string): Html {
  return html`<div class="card"><span class="label">${label}</span><span class="value">${value}</span>${
    note === undefined ? '' : html`<span class="note">${note}</span>`
  }</div>`;
}

function section(id: string, title: string, body: Interpolation, extra: Interpolation = undefined): Html {
  return html`<section id="${id}" aria-labelledby="${id}-title"><details open><summary><h2 id="${id}-title">${title}${extra}</h2></summary><div class="body">${body}</div></details></section>`;
}

function sub(title: string, body: Interpolation, open = true): Html {
  const inner = html`<summary><h3>${title}</h3></summary><div class="body">${body}</div>`;
  return open ? html`<details open>${inner}</details>` : html`<details>${inner}</details>`;
}

/** A problem's fix: its name, then the command alone in its own code span, any note on it apart. */
function fixHtml(fix: string, c: FixCommand): Html {
  return html`<br><span class="muted">fix:</span> <code>${fix}</code><br><span class="muted">run:</span> <code>${c.command}</code>${
    c.note === undefined ? '' : html`<br><span class="muted">note:</span> ${c.note}`
  }`;
}

function compatSection(c: ReportCompat, reference: string): Html {
  const rows = c.targets.map(
    (t) => html`<tr>
<td><strong>${t.name}</strong><br><code>${t.target}</code></td>
<td>${t.kind}</td>
<td><span class="badge ${t.verdict}">${t.verdict}</span></td>
<td>${
      t.problems.length === 0
        ? html`<span class="muted">none</span>`
        : html`<ul class="plain">${t.problems.map(
            (p) =>
              html`<li><span class="badge ${p.severity === 'refuses' ? 'refused' : 'warnings'}">${p.severity}</span> <code>${p.rule}</code>: ${p.why}${
                p.error === undefined ? '' : html`<br><span class="muted">error:</span> <code>${p.error}</code>`
              }${p.fix === undefined ? '' : fixHtml(p.fix, fixCommandOf(reference, t, p.severity))}${
                p.sources.length === 0
                  ? ''
                  : html`<br><span class="muted">sources:</span> ${p.sources.map((s, i) => html`${i > 0 ? ', ' : ''}${link(s)}`)}`
              } <span class="muted">(${p.certainty})</span></li>`,
          )}</ul>`
    }</td>
</tr>`,
  );
  return section(
    'compat',
    'Compatibility',
    html`<table><caption>What each target would do with the image</caption>
<thead><tr><th scope="col">Target</th><th scope="col">Kind</th><th scope="col">Verdict</th><th scope="col">Problems</th></tr></thead>
<tbody>${rows}</tbody></table>${c.notes.length === 0 ? '' : html`<ul class="plain muted">${c.notes.map((n) => html`<li>${n}</li>`)}</ul>`}`,
    html` <span class="badge ${c.verdict}">${c.verdict}</span>`,
  );
}

function indexSection(data: ReportData): Html {
  const entries = data.index ?? [];
  const role = (e: ReportIndexEntry): string =>
    e.role === 'image' ? 'image' : e.role === 'attestation' ? 'attestation (BuildKit)' : 'other';
  return section(
    'index',
    'Index',
    html`<dl><dt>Digest</dt><dd><code>${data.digest}</code></dd><dt>Media type</dt><dd><code>${data.mediaType}</code></dd><dt>Size</dt><dd>${bytes(data.size)}</dd></dl>
<table><caption>Entries of the index</caption>
<thead><tr><th scope="col">Platform</th><th scope="col">Role</th><th scope="col">Digest</th><th scope="col">Media type</th><th scope="col" class="num">Size</th></tr></thead>
<tbody>${entries.map(
      (e) =>
        html`<tr><td>${e.platform ?? html`<span class="muted">none</span>`}</td><td>${role(e)}</td><td><code>${e.digest}</code></td><td><code>${e.mediaType}</code></td><td class="num">${bytes(e.size)}</td></tr>`,
    )}</tbody></table>
${annotationsTable(data.annotations, 'Annotations of the index')}`,
  );
}

/** `samePackages`: an earlier platform whose package list is this one's (gather keeps an equal list once), shown once. */
function platformSection(p: ReportPlatform, i: number, samePackages?: ReportPlatform): Html {
  const id = `platform-${i}`;
  return section(
    id,
    p.platform,
    html`<dl><dt>Manifest</dt><dd><code>${p.digest}</code></dd><dt>Media type</dt><dd><code>${p.mediaType}</code></dd><dt>Size</dt><dd>${bytes(p.size)} manifest, ${bytes(p.totalSize)} with config and layers (as stored)</dd></dl>
${annotationsTable(p.annotations, 'Annotations of the manifest')}
${sub('Configuration', configBody(p.config))}
${sub(`Layers (${p.layers.length})`, layersTable(p))}
${sub(`Attachments (${p.attachments.length})`, attachmentsTable(p.attachments, 'Signatures, attestations and SBOMs of this image'))}
${sub(p.otherProvenances.length === 0 ? 'Provenance' : `Provenance (${p.otherProvenances.length + 1} attached)`, provenancesBody(p))}
${sub(
  `Packages (${p.sbom.packages.length})`,
  samePackages === undefined
    ? packagesBody(p, `${id}-packages`)
    : html`<p class="muted">${sbomSource(p.sbom)} The same ${p.sbom.packages.length} package${p.sbom.packages.length === 1 ? '' : 's'} as ${samePackages.platform}, listed there.</p>`,
)}`,
    html` <code class="muted">${p.digest.slice(0, 19)}</code>`,
  );
}

function configBody(c: ReportConfig | undefined): Html {
  if (c === undefined) return html`<p class="muted">No configuration.</p>`;
  const words = (list: string[] | undefined): Interpolation =>
    list === undefined ? html`<span class="muted">not set</span>` : html`<code>${JSON.stringify(list)}</code>`;
  const text = (v: string | undefined): Interpolation =>
    v === undefined || v === '' ? html`<span class="muted">not set</span>` : html`<code>${v}</code>`;
  const list = (items: string[]): Interpolation =>
    items.length === 0
      ? html`<span class="muted">none</span>`
      : html`<ul class="plain">${items.map((x) => html`<li><code>${x}</code></li>`)}</ul>`;
  return html`${c.error === undefined ? '' : html`<p><span class="badge error">unreadable</span> ${c.error}</p>`}
<dl>
<dt>Digest</dt><dd><code>${c.digest}</code> <span class="muted">(${c.mediaType}, ${bytes(c.size)})</span></dd>
<dt>Platform</dt><dd>${text([c.os, c.architecture, c.variant].filter((x) => x !== undefined && x !== '').join('/'))}</dd>
<dt>Created</dt><dd>${text(c.created)}</dd>
${c.author === undefined ? '' : html`<dt>Author</dt><dd>${text(c.author)}</dd>`}
<dt>User</dt><dd>${text(c.user)}</dd>
<dt>Entrypoint</dt><dd>${words(c.entrypoint)}</dd>
<dt>Command</dt><dd>${words(c.cmd)}</dd>
<dt>Working directory</dt><dd>${text(c.workingDir)}</dd>
<dt>Environment</dt><dd>${list(c.env)}</dd>
<dt>Exposed ports</dt><dd>${list(c.exposedPorts)}</dd>
<dt>Volumes</dt><dd>${list(c.volumes)}</dd>
${c.stopSignal === undefined ? '' : html`<dt>Stop signal</dt><dd>${text(c.stopSignal)}</dd>`}
</dl>
${annotationsTable(c.labels, 'Labels')}
${
  c.history.length === 0
    ? ''
    : sub(
        `History (${c.history.length})`,
        html`<table><caption>How the layers were made, oldest first</caption>
<thead><tr><th scope="col">Created</th><th scope="col">Created by</th><th scope="col">Comment</th><th scope="col">Layer</th></tr></thead>
<tbody>${c.history.map(
          (h) =>
            html`<tr><td>${h.created ?? ''}</td><td><code>${h.createdBy ?? ''}</code></td><td>${h.comment ?? ''}</td><td>${h.emptyLayer ? 'none' : 'yes'}</td></tr>`,
        )}</tbody></table>`,
        false,
      )
}`;
}

function layersTable(p: ReportPlatform): Html {
  const sum = p.layers.reduce((n, l) => n + l.size, 0);
  return html`<table><caption>Layers in order, as stored (compressed)</caption>
<thead><tr><th scope="col" class="num">#</th><th scope="col">Digest</th><th scope="col">Media type</th><th scope="col">Uncompressed digest</th><th scope="col" class="num">Size</th></tr></thead>
<tbody>${p.layers.map(
    (l, i) =>
      html`<tr><td class="num">${i + 1}</td><td><code>${l.digest}</code></td><td><code>${l.mediaType}</code></td><td><code>${l.diffId ?? ''}</code></td><td class="num">${bytes(l.size)}</td></tr>`,
  )}</tbody>
<tfoot><tr><th scope="row" colspan="4">Total</th><td class="num">${bytes(sum)}</td></tr></tfoot></table>`;
}

const STORAGE: Record<string, string> = {
  buildkit: 'BuildKit (in the index)',
  referrers: 'OCI referrer',
  cosign: 'cosign tag',
};

function attachmentsTable(list: readonly ReportAttachment[], caption: string): Html {
  if (list.length === 0) return html`<p class="muted">Nothing attached.</p>`;
  return html`<table><caption>${caption}</caption>
<thead><tr><th scope="col">Kind</th><th scope="col">Storage</th><th scope="col">What</th><th scope="col">Manifest</th><th scope="col">Signed by</th></tr></thead>
<tbody>${list.map(
    (a) =>
      html`<tr><td>${a.kind}</td><td>${STORAGE[a.storage] ?? a.storage}${a.tag === undefined ? '' : html`<br><code>${a.tag}</code>`}</td><td>${
        a.predicateTypes.length === 0
          ? a.storage === 'cosign' && a.kind === 'signature'
            ? 'simple-signing payloads (cosign 2)'
            : html`<code>${a.artifactType ?? a.mediaType}</code>`
          : html`<ul class="plain">${a.predicateTypes.map((t) => html`<li>${predicateLabel(t)}</li>`)}</ul>`
      }</td><td><code>${a.digest}</code>${a.size === 0 ? '' : html`<br><span class="muted">${bytes(a.size)}</span>`}</td><td>${signersCell(a.signers)}</td></tr>`,
  )}</tbody></table>`;
}

/** A predicate type by its common name; others are shown as they are. */
function predicateLabel(type: string): Html {
  const name = predicateName(type);
  return name === undefined ? html`<code>${type}</code>` : html`${name}`;
}

function signersCell(signers: readonly ReportSigner[]): Html {
  if (signers.length === 0) return html`<span class="badge unsigned">unsigned</span>`;
  return html`<ul class="plain">${signers.map((s) => html`<li>${signerText(s)}</li>`)}</ul>`;
}

function signerText(s: ReportSigner): Html {
  if (s.error !== undefined) return html`<span class="badge error">unreadable</span> ${s.error}`;
  if (!s.signed) return html`<span class="badge unsigned">unsigned</span>`;
  const who =
    s.identity !== undefined
      ? html`identity <code>${s.identity}</code>${s.issuer === undefined || s.issuer === '' ? '' : html` <span class="muted">issued by</span> <code>${s.issuer}</code>`}`
      : s.keyId !== undefined
        ? html`key <code>${s.keyId}</code>`
        : html`<span class="muted">a key (the signature does not name it)</span>`;
  return html`<span class="badge signed">signed</span> ${who}`;
}

/** The provenance shown, and when several different ones are attached, that they are, and each of the others. */
function provenancesBody(p: ReportPlatform): Html {
  const others = p.otherProvenances;
  if (others.length === 0) return provenanceBody(p.provenance);
  return html`<p>${others.length + 1} different provenances are attached to this image (a rebuild into the same layout attaches its own, to the same digest when the build is reproducible). Shown: a signed one before an unsigned one, then the newest by the build time the statement gives, else the one listed last (in a layout, the one attached last); the others follow.</p>
${provenanceBody(p.provenance)}
${others.map((o, i) => sub(`Also attached (${i + 2} of ${others.length + 1}): ${o.attachment}`, provenanceBody(o), false))}`;
}

function provenanceBody(p: ReportProvenance | undefined): Html {
  if (p === undefined) return html`<p class="muted">No SLSA provenance is attached to this image.</p>`;
  const parameters = JSON.stringify(p.parameters, null, 2) ?? '';
  return html`<dl>
<dt>Builder</dt><dd>${link(p.builderId)}</dd>
<dt>Build type</dt><dd>${link(p.buildType)}</dd>
<dt>Format</dt><dd><code>${p.predicateType}</code></dd>
<dt>Built</dt><dd>${p.buildTime === undefined ? html`<span class="muted">the statement does not say</span>` : p.buildTime}</dd>
<dt>Read from</dt><dd><code>${p.attachment}</code> ${p.signed ? html`<span class="badge signed">signed</span>` : html`<span class="badge unsigned">unsigned</span>`}</dd>
</dl>
<h4>Parameters</h4>
<pre>${parameters}</pre>
${
  p.configFiles.length === 0
    ? ''
    : html`<h4>Configuration files</h4>${p.configFiles.map((f) =>
        sub(f.path, html`<p class="muted">sha256 <code>${f.sha256}</code></p><pre>${f.content}</pre>`, false),
      )}`
}
${sub(
  `Resolved dependencies (${p.materials.length})`,
  html`<table><caption>Everything the build fetched, with its digest</caption>
<thead><tr><th scope="col">Kind</th><th scope="col">Name</th><th scope="col">Version</th><th scope="col">URI</th><th scope="col">Digest</th></tr></thead>
<tbody>${p.materials.map(
    (m) => html`<tr><td>${m.kind}</td><td>${m.name}</td><td>${m.version}</td><td>${link(m.uri)}</td><td><code>${m.digest}</code></td></tr>`,
  )}</tbody></table>`,
  false,
)}`;
}

/** Where a platform's packages come from (the SBOM attached, or the package database) and its operating system. */
function sbomSource(s: ReportPlatform['sbom']): Html {
  const from =
    s.source === 'attached'
      ? html`From the attached ${s.format === 'cyclonedx' ? 'CycloneDX' : 'SPDX'} SBOM${s.attachment === undefined ? '' : html` in <code>${s.attachment}</code>`}.`
      : s.source === 'generated'
        ? html`No SBOM is attached: read from the image's package database.`
        : html`No SBOM: ${s.note ?? ''}`;
  // Not a package installed, so not in the table nor its count, but what the packages are for.
  const system = s.system === undefined ? '' : html` Operating system: ${`${s.system.name} ${s.system.version}`.trim()}.`;
  return html`${from}${system}`;
}

function packagesBody(p: ReportPlatform, id: string): Html {
  const s = p.sbom;
  if (s.packages.length === 0) return html`<p class="muted">${sbomSource(s)}</p>`;
  return html`<p class="muted">${sbomSource(s)} ${licenceSummary(s.packages)}</p>
<div class="filter" hidden><label for="${id}-search">Filter packages</label><input type="search" id="${id}-search" data-filter="${id}" autocomplete="off" spellcheck="false" placeholder="name, version, licence or PURL"><span id="${id}-count" role="status" aria-live="polite"></span></div>
<table id="${id}"><caption>Packages of ${p.platform}</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Version</th><th scope="col">Licence</th><th scope="col">PURL</th><th scope="col">Type</th></tr></thead>
<tbody>${s.packages.map((x: ReportPackage, i) => html`<tr${i >= SHOWN_ROWS ? raw(' hidden') : ''}><td>${x.name}</td><td>${x.version}</td><td>${x.license}</td><td><code>${x.purl}</code></td><td>${x.type}</td></tr>`)}</tbody></table>
${s.packages.length > SHOWN_ROWS ? html`<p class="muted" id="${id}-more">${s.packages.length - SHOWN_ROWS} more packages not shown; the filter searches them all, and <code>provenant sbom</code> lists them all.</p>` : ''}`;
}

function licenceSummary(packages: readonly ReportPackage[]): Html {
  const counts = new Map<string, number>();
  for (const p of packages) counts.set(p.license || 'no licence given', (counts.get(p.license || 'no licence given') ?? 0) + 1);
  const top = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const shown = top.slice(0, 8);
  return html`Licences: ${shown.map(([l, n], i) => html`${i > 0 ? ', ' : ''}${l} (${n})`)}${top.length > shown.length ? html`, and ${top.length - shown.length} more` : ''}.`;
}

function annotationsTable(a: Record<string, string>, caption: string): Html | '' {
  const keys = Object.keys(a).sort();
  if (keys.length === 0) return '';
  return html`<table><caption>${caption}</caption><thead><tr><th scope="col">Key</th><th scope="col">Value</th></tr></thead>
<tbody>${keys.map((k) => html`<tr><td><code>${k}</code></td><td>${a[k] ?? ''}</td></tr>`)}</tbody></table>`;
}

/**
 * An http(s) URL as a link the user can follow; anything else (a path, `javascript:`) as text.
 * The link goes to the URL itself, as its parser writes it (ASCII: anything else percent-encoded),
 * not to the text shown, in which an invisible character is written as `\\uXXXX` to be seen.
 */
function link(text: string): Html {
  if (text === '') return html`<span class="muted">not given</span>`;
  if (/^https?:\/\/[^\s]+$/i.test(text) && URL.canParse(text)) {
    return html`<a href="${new URL(text).href}" rel="noopener noreferrer">${text}</a>`;
  }
  return html`<code>${text}</code>`;
}

/** Bytes for a person (KiB, MiB, GiB), exact below 1 KiB. */
export function bytes(n: number): string {
  return formatBytes(n, 'short');
}
