/**
 * The page in Chromium when the image says a lot: a word 200,000 characters long, a link with an
 * invisible character, 3,000 packages, two platforms with one package list.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { attachPredicate } from '../../src/image/attach.ts';
import type { ReportData, ReportPackage, ReportPlatform } from '../../src/report/data.ts';
import { gatherReport } from '../../src/report/gather.ts';
import { renderReport } from '../../src/report/html.ts';
import { makeImage } from '../helpers/images.ts';
import { useTempLayout } from '../helpers/temp.ts';
import { type Browser, chromiumMissing, launch } from './browser.ts';

const tempLayout = useTempLayout('page-layout');
const digest = (c: string) => `sha256:${c.repeat(64)}` as ReportPlatform['digest'];

function platform(name: string, d: string, packages: ReportPackage[], materialUri = ''): ReportPlatform {
  return {
    platform: name,
    digest: digest(d),
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    size: 400,
    annotations: {},
    config: undefined,
    layers: [],
    totalSize: 400,
    attachments: [],
    sbom: { source: 'attached', format: 'spdx', attachment: digest('9'), packages, system: undefined, note: undefined },
    provenance:
      materialUri === ''
        ? undefined
        : {
            predicateType: 'https://slsa.dev/provenance/v1',
            attachment: digest('8'),
            signed: false,
            builderId: 'https://example.org/builder',
            buildType: 'https://example.org/build',
            buildTime: undefined,
            parameters: {},
            configFiles: [],
            materials: [{ uri: materialUri, name: 'm', digest: '', kind: '', version: '' }],
          },
    otherProvenances: [],
  };
}

function report(platforms: ReportPlatform[], annotations: Record<string, string> = {}): ReportData {
  return {
    reference: 'registry.invalid/app:1',
    location: 'registry.invalid/app',
    digest: digest('0'),
    mediaType: 'application/vnd.oci.image.index.v1+json',
    size: 1000,
    kind: 'index',
    annotations,
    index: [],
    platforms,
    attachments: [],
    compat: undefined,
    toolVersion: '',
    notes: [],
  };
}

/** Waits until `expression` is true in `page` (the page's CSP forbids waitForFunction's eval). */
async function until(page: import('playwright-core').Page, expression: string): Promise<void> {
  while (!(await page.evaluate(expression))) await new Promise((r) => setTimeout(r, 20));
}

const packages = (n: number): ReportPackage[] =>
  Array.from({ length: n }, (_, i) => ({ name: `pkg${i}`, version: '1', license: 'MIT', purl: `pkg:apk/x/pkg${i}@1`, type: 'apk' }));

describe('the report page', { skip: chromiumMissing }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launch();
  });
  after(async () => {
    await browser.close();
  });

  it('keeps the width of the window whatever one word’s length, in a table cell or a list', async () => {
    const word = 'x'.repeat(200_000);
    const page = await browser.context.newPage();
    const long = [{ name: word, version: word, license: '', purl: '', type: '' }];
    await page.setContent(renderReport(report([platform('linux/amd64', '1', long)], { 'org.example.note': word })), { waitUntil: 'load' });
    await page.evaluate('document.querySelectorAll("details").forEach((d) => { d.open = true; })');
    const width = (await page.evaluate('document.documentElement.scrollWidth')) as number;
    assert.ok(width <= 1280, `the page is ${width} px wide`);
    await page.close();
  });

  it('links to the URI itself, an invisible character in it shown as \\uXXXX but not in the link', async () => {
    const page = await browser.context.newPage();
    const uri = 'https://example.org/a\u202eb';
    await page.setContent(renderReport(report([platform('linux/amd64', '1', [], uri)])), { waitUntil: 'load' });
    const links = (await page.evaluate(
      'Array.from(document.querySelectorAll("a[rel]"), (a) => [a.href, a.textContent]).filter(([, t]) => t.includes("/a"))',
    )) as [string, string][];
    assert.deepEqual(links, [['https://example.org/a%E2%80%AEb', 'https://example.org/a\\u202eb']]);
    await page.close();
  });

  it('shows the first 1,000 of 3,000 packages, says how many more, and the filter finds any of them', async () => {
    const page = await browser.context.newPage();
    await page.setContent(renderReport(report([platform('linux/amd64', '1', packages(3000))])), { waitUntil: 'load' });
    const visible = () => page.locator('#platform-0-packages tbody tr:visible').count();
    const more = () => page.locator('#platform-0-packages-more');
    await page.evaluate('document.querySelectorAll("details").forEach((d) => { d.open = true; })');
    assert.equal(await visible(), 1000);
    assert.equal(await page.locator('#platform-0-packages-count').textContent(), '3000 packages');
    assert.match((await more().textContent()) ?? '', /^2000 more packages not shown/);
    await page.getByRole('searchbox', { name: 'Filter packages' }).fill('pkg2999');
    // A table this large is filtered once typing pauses.
    await until(page, 'document.getElementById("platform-0-packages-count").textContent === "1 of 3000 packages"');
    assert.equal(await visible(), 1);
    assert.equal(await page.locator('#platform-0-packages tbody tr:visible td').first().textContent(), 'pkg2999');
    assert.equal(await more().isVisible(), false);
    // "pkg" matches all: 1,000 shown, and the rest said.
    await page.getByRole('searchbox', { name: 'Filter packages' }).fill('pkg');
    await until(page, 'document.getElementById("platform-0-packages-more").textContent.startsWith("2000 more matching")');
    assert.equal(await visible(), 1000);
    assert.equal(await more().isVisible(), true);
    await page.close();
  });

  it('shows a package list two platforms share once', async () => {
    const list = packages(3);
    const data = report([platform('linux/amd64', '1', list), platform('linux/arm64', '2', list)]);
    const page = renderReport(data);
    assert.equal((page.match(/<table id="platform-\d-packages"/g) ?? []).length, 1);
    assert.match(page, /The same 3 packages as linux\/amd64, listed there\./);
    // An equal list that is not the same one (gather keeps an equal list once) is shown again.
    const apart = renderReport(report([platform('linux/amd64', '1', packages(3)), platform('linux/arm64', '2', packages(3))]));
    assert.equal((apart.match(/<table id="platform-\d-packages"/g) ?? []).length, 2);
  });
});

describe('a package list two platforms’ SBOMs give alike', () => {
  it('is kept once, and the page shows it once', async () => {
    const store = await tempLayout();
    await makeImage(store, {
      tag: 'v1',
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ],
    });
    const spdx = { spdxVersion: 'SPDX-2.3', name: 'alike', packages: [{ name: 'busybox', versionInfo: '1.36.1-r2', SPDXID: 'SPDXRef-a' }] };
    await attachPredicate(store, 'v1', { name: 'img', predicateType: 'https://spdx.dev/Document', predicate: spdx });
    const data = await gatherReport(store, 'v1', { targets: [] });
    const [a, b] = data.platforms;
    assert.equal(a?.sbom.packages.length, 1);
    assert.equal(a?.sbom.packages, b?.sbom.packages);
    const page = renderReport(data);
    assert.match(page, /The same 1 package as linux\/amd64/);
    // Each platform still says where its packages come from: the shared list, not the SBOM's line.
    assert.equal((page.match(/From the attached SPDX SBOM/g) ?? []).length, 2);
  });
});
