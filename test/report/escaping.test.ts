/**
 * The report's data is untrusted (annotations, labels, package names and licences, provenance
 * parameters, all from the image): random strings, markup among them, go through every field,
 * and the page must keep its own structure. Checked on the text for many documents, and in
 * Chromium (the real parser) for a sample, where every value must read back as it was given.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { printableText } from '../../src/bytes.ts';
import type { Digest } from '../../src/oci/digest.ts';
import type {
  ReportAttachment,
  ReportCompat,
  ReportConfig,
  ReportData,
  ReportPackage,
  ReportPlatform,
  ReportProvenance,
  ReportSbom,
  ReportSigner,
} from '../../src/report/data.ts';
import { renderReport } from '../../src/report/html.ts';
import { type Browser, chromiumMissing, launch } from './browser.ts';
import { assertSelfContained, stringsOf, TEMPLATE_TAGS } from './checks.ts';

const NASTY = [
  '<script>document.title="pwned"</script>',
  '</style><script>alert(1)</script>',
  '</script><script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  "' onmouseover='alert(1)",
  '<svg onload=alert(1)>',
  '<!--',
  '-->',
  '<![CDATA[',
  '</title><script>alert(1)</script>',
  '</textarea></pre></td></tr></table></details>',
  '<details open><summary>x',
  '<style>body{background:url(https://example.invalid/x)}</style>',
  '<link rel=stylesheet href=https://example.invalid/x.css>',
  '<meta http-equiv="refresh" content="0;url=https://example.invalid/">',
  'javascript:alert(1)',
  'https://example.invalid/"><script>alert(1)</script>',
  "https://example.invalid/a'b",
  '&amp;&lt;&#60;&#x3c;',
  '\u2028\u2029',
];

const markupUnit = fc.constantFrom('<', '>', '"', "'", '&', '/', '=', ' ', '!', '-', 's', 'c', 'r', 'i', 'p', 't', 'a', ';', '#', ':');
const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.constantFrom(...NASTY),
  fc.string({ unit: markupUnit, maxLength: 24 }),
  fc.array(fc.constantFrom(...NASTY), { maxLength: 3 }).map((a) => a.join('')),
);
const maybe = fc.option(text, { nil: undefined });
const texts = fc.array(text, { maxLength: 3 });
const record = fc.dictionary(text, text, { maxKeys: 3 });
const size = fc.nat({ max: 2 ** 40 });
// Digests are typed, not checked, in ReportData: a hostile image can still put anything where one is expected.
const digest = text.map((t) => t as Digest);

const signer: fc.Arbitrary<ReportSigner> = fc.record(
  {
    storage: fc.constantFrom('cosign', 'referrers'),
    kind: fc.constantFrom('signature', 'attestation'),
    source: text,
    predicateType: text,
    signed: fc.boolean(),
    keyId: text,
    identity: text,
    issuer: text,
    error: text,
  },
  { requiredKeys: ['storage', 'kind', 'source', 'signed'] },
);

const attachment: fc.Arbitrary<ReportAttachment> = fc.record({
  storage: fc.constantFrom('buildkit', 'referrers', 'cosign'),
  kind: fc.constantFrom('attestation', 'signature', 'sbom', 'other'),
  subject: digest,
  digest,
  mediaType: text,
  size,
  artifactType: maybe,
  predicateTypes: texts,
  tag: maybe,
  signers: fc.array(signer, { maxLength: 2 }),
});

const config: fc.Arbitrary<ReportConfig> = fc.record({
  digest,
  mediaType: text,
  size,
  os: maybe,
  architecture: maybe,
  variant: maybe,
  created: maybe,
  author: maybe,
  user: maybe,
  entrypoint: fc.option(texts, { nil: undefined }),
  cmd: fc.option(texts, { nil: undefined }),
  workingDir: maybe,
  env: texts,
  exposedPorts: texts,
  volumes: texts,
  labels: record,
  stopSignal: maybe,
  history: fc.array(fc.record({ created: maybe, createdBy: maybe, comment: maybe, emptyLayer: fc.boolean() }), { maxLength: 2 }),
  error: maybe,
});

const pkg: fc.Arbitrary<ReportPackage> = fc.record({ name: text, version: text, license: text, purl: text, type: text });

const sbom: fc.Arbitrary<ReportSbom> = fc.record({
  source: fc.constantFrom('attached', 'generated', 'missing'),
  format: fc.constantFrom('spdx', 'cyclonedx', undefined),
  attachment: fc.option(digest, { nil: undefined }),
  packages: fc.array(pkg, { minLength: 1, maxLength: 5 }),
  system: fc.option(fc.record({ name: text, version: text }), { nil: undefined }),
  note: maybe,
});

/** JSON-like parameters with hostile keys and values. */
const json: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    text,
    fc.integer(),
    fc.boolean(),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(text, tie('value'), { maxKeys: 3 }),
  ),
})).value;

const provenance: fc.Arbitrary<ReportProvenance> = fc.record({
  predicateType: text,
  attachment: digest,
  signed: fc.boolean(),
  builderId: text,
  buildType: text,
  buildTime: maybe,
  parameters: json,
  configFiles: fc.array(fc.record({ path: text, sha256: text, content: text }), { maxLength: 2 }),
  materials: fc.array(fc.record({ uri: text, name: text, digest: text, kind: text, version: text }), { maxLength: 3 }),
});

const platform: fc.Arbitrary<ReportPlatform> = fc.record({
  platform: text,
  digest,
  mediaType: text,
  size,
  annotations: record,
  config: fc.option(config, { nil: undefined }),
  layers: fc.array(fc.record({ digest, mediaType: text, size, diffId: maybe, annotations: record }), { maxLength: 2 }),
  totalSize: size,
  attachments: fc.array(attachment, { maxLength: 2 }),
  sbom,
  provenance: fc.option(provenance, { nil: undefined }),
  otherProvenances: fc.array(provenance, { maxLength: 1 }),
});

const compat: fc.Arbitrary<ReportCompat> = fc.record({
  verdict: fc.constantFrom('accepted', 'warnings', 'refused'),
  targets: fc.array(
    fc.record({
      target: text,
      name: text,
      kind: fc.constantFrom('registry', 'runtime'),
      verdict: fc.constantFrom('accepted', 'warnings', 'refused'),
      problems: fc.array(
        fc.record({
          rule: text,
          severity: fc.constantFrom('refuses', 'misdisplays', 'unsupported'),
          error: maybe,
          why: text,
          fix: maybe,
          certainty: text,
          sources: texts,
        }),
        { maxLength: 2 },
      ),
    }),
    { maxLength: 2 },
  ),
  notes: texts,
});

const report: fc.Arbitrary<ReportData> = fc.record({
  reference: text,
  location: text,
  digest,
  mediaType: text,
  size,
  kind: fc.constantFrom('index', 'manifest'),
  annotations: record,
  index: fc.option(
    fc.array(
      fc.record({
        digest,
        mediaType: text,
        size,
        platform: maybe,
        role: fc.constantFrom('image', 'attestation', 'other'),
        annotations: record,
      }),
      { maxLength: 2 },
    ),
    { nil: undefined },
  ),
  platforms: fc.array(platform, { minLength: 1, maxLength: 2 }),
  attachments: fc.array(attachment, { maxLength: 2 }),
  compat: fc.option(compat, { nil: undefined }),
  toolVersion: text,
  notes: texts,
});

/**
 * What the HTML parser makes of a text (https://html.spec.whatwg.org/multipage/parsing.html):
 * CR and CRLF become LF; NUL is dropped from body text and becomes U+FFFD in a title or an
 * attribute; lone surrogates do not survive UTF-8.
 */
function parsed(s: string, nul = ''): string {
  // The page writes controls and invisible characters as `\uXXXX` text (src/report/template.ts).
  return printableText(s)
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')
    .replace(/\r\n?/g, '\n')
    .replace(/\0/g, nul);
}

describe('the report escapes what the image says', () => {
  it('keeps the page self-contained and its structure its own, whatever the strings (property, on the text)', () => {
    fc.assert(
      fc.property(report, (data) => {
        const page = renderReport(data);
        assertSelfContained(page);
        // No payload appears as it was given (the payloads' words are in no template, so a match is a value printed raw).
        for (const s of stringsOf(data)) {
          if (/[<>"']/.test(s) && /alert\(1\)|pwned|example\.invalid|CDATA/.test(s))
            assert.ok(!page.includes(s), `unescaped: ${JSON.stringify(s)}`);
        }
      }),
      { numRuns: 300 },
    );
  });

  describe('in Chromium', { skip: chromiumMissing }, () => {
    let browser: Browser;
    before(async () => {
      browser = await launch();
    });
    after(async () => {
      await browser?.close();
    });

    it('parses to the templates’ elements only, and every value reads back as given', async (t) => {
      const page = await browser.context.newPage();
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      // A new seed each run, printed, so a failure can be replayed with PROVENANT_SEED.
      const seed = Number(process.env.PROVENANT_SEED ?? Math.floor(Math.random() * 2 ** 31));
      t.diagnostic(`seed ${seed}`);
      for (const data of fc.sample(report, { numRuns: 40, seed })) {
        await page.setContent(renderReport(data), { waitUntil: 'load' });
        const got = (await page.evaluate(`(() => {
          const cells = (selector) => Array.from(document.querySelectorAll(selector), (tr) => Array.from(tr.cells, (c) => c.textContent));
          return {
            tags: Array.from(new Set(Array.from(document.querySelectorAll('*'), (e) => e.localName))),
            handlers: Array.from(document.querySelectorAll('*')).flatMap((e) => e.getAttributeNames().filter((n) => n.startsWith('on'))),
            scripts: document.scripts.length,
            styles: document.querySelectorAll('style').length,
            title: document.querySelector('title').textContent,
            h1: document.querySelector('h1').textContent,
            packages: Array.from(document.querySelectorAll('table[id$="-packages"]'), (t) => cells('#' + CSS.escape(t.id) + ' tbody tr')),
            counts: Array.from(document.querySelectorAll('[id$="-packages-count"]'), (e) => e.textContent),
            indexAnnotations: document.getElementById('index') === null ? null : cells('#index table:last-of-type tbody tr'),
            links: Array.from(document.querySelectorAll('a[rel]'), (a) => [a.getAttribute('href'), a.textContent]),
            hrefs: Array.from(document.querySelectorAll('[href]'), (a) => a.href),
          };
        })()`)) as {
          tags: string[];
          handlers: string[];
          scripts: number;
          styles: number;
          title: string;
          h1: string;
          packages: string[][][];
          counts: string[];
          indexAnnotations: string[][] | null;
          links: [string, string][];
          hrefs: string[];
        };
        assert.deepEqual(errors, []);
        for (const t of got.tags) assert.ok(TEMPLATE_TAGS.has(t), `<${t}> in the page`);
        assert.deepEqual(got.handlers, []);
        assert.equal(got.scripts, 1);
        assert.equal(got.styles, 1);
        assert.equal(got.h1, parsed(data.reference));
        // The title is RCDATA: there NUL becomes U+FFFD rather than being dropped.
        assert.equal(got.title, parsed(`Provenant report: ${data.reference}`, '\uFFFD'));
        assert.deepEqual(
          got.packages,
          data.platforms.map((p) => p.sbom.packages.map((x) => [x.name, x.version, x.license, x.purl, x.type].map((v) => parsed(v)))),
        );
        // The script ran over every table and counted its rows.
        assert.deepEqual(
          got.counts,
          data.platforms.map((p) => `${p.sbom.packages.length} packages`),
        );
        if (data.index !== undefined && Object.keys(data.annotations).length > 0) {
          const expected = Object.keys(data.annotations)
            .sort()
            .map((k) => [parsed(k), parsed(data.annotations[k] ?? '')]);
          assert.deepEqual(got.indexAnnotations, expected);
        }
        // A link goes to its URI as the URL parser writes it, which the text shows (invisible
        // characters written as \\uXXXX there only).
        const uris = stringsOf(data).filter((u) => URL.canParse(u));
        for (const [href, label] of got.links) {
          assert.ok(
            uris.some((u) => new URL(u).href === href && parsed(u) === label),
            `${href} is the link of ${label}`,
          );
        }
        // A link goes to the page itself or to an http(s) URL; never javascript: or data:.
        for (const href of got.hrefs) assert.match(href, /^(about:blank#|https?:\/\/)/, href);
      }
      assert.deepEqual(errors, []);
      assert.deepEqual(
        requests.filter((u) => u !== 'about:blank'),
        [],
      );
      await page.close();
    });
  });
});
