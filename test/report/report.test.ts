/**
 * `provenant report` on a real image: built from a signed apk repository, with SBOMs and
 * provenance attached and everything signed (see image.ts); gathered, rendered, and opened in
 * Debian's headless Chromium.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SLSA_V1 } from '../../src/attest/provenance.ts';
import { isProvenantError } from '../../src/errors.ts';
import { apkoSbomOfImage } from '../../src/image/apko-sbom.ts';
import { imageSbom } from '../../src/image/attestations.ts';
import { runSettings } from '../../src/image/image-config.ts';
import type { ReportData } from '../../src/report/data.ts';
import { gatherReport } from '../../src/report/gather.ts';
import { renderReport } from '../../src/report/html.ts';
import { cyclonedxPackages, cyclonedxSystem, spdxPackages, spdxSystem } from '../../src/report/statements.ts';
import type { ContentStore } from '../../src/store/types.ts';
import { fixturesMissing } from '../helpers/fixtures.ts';
import { countingReads } from '../helpers/stores.ts';
import { chromiumMissing, launch } from './browser.ts';
import { assertSelfContained } from './checks.ts';
import { HOSTILE_DESCRIPTION, makeReportImage, type ReportImage } from './image.ts';

const REFERENCE = 'registry.example/demo/app:1.0';

/** Where the test leaves its page and screenshot: PROVENANT_TEST_OUTPUT, else a new temporary folder. */
async function outputDir(): Promise<string> {
  const dir = process.env.PROVENANT_TEST_OUTPUT ?? (await mkdtemp(join(tmpdir(), 'provenant-report-output-')));
  await mkdir(dir, { recursive: true });
  return dir;
}

describe('provenant report', { skip: fixturesMissing }, () => {
  let image: ReportImage;
  let bare: ReportImage;
  let data: ReportData;
  before(async () => {
    image = await makeReportImage();
    bare = await makeReportImage({ bare: true });
    data = await gatherReport(image.store, image.tag, { reference: REFERENCE, toolVersion: '0.1.0' });
  });
  after(async () => {
    await image?.remove();
    await bare?.remove();
  });

  it('gathers the index, its platforms, configs and layers with their sizes', async () => {
    assert.equal(data.kind, 'index');
    assert.equal(data.digest, image.index);
    assert.equal(data.reference, REFERENCE);
    assert.deepEqual(
      data.index?.map((e) => [e.platform, e.role, e.digest]),
      [
        ['linux/amd64', 'image', image.images.get('x86_64')],
        ['linux/arm64', 'image', image.images.get('aarch64')],
      ],
    );
    assert.equal(data.annotations['org.opencontainers.image.description'], HOSTILE_DESCRIPTION);
    assert.deepEqual(
      data.platforms.map((p) => p.platform),
      ['linux/amd64', 'linux/arm64'],
    );
    for (const p of data.platforms) {
      const stored = await image.store.getManifest(p.digest);
      assert.ok(stored.kind === 'manifest');
      assert.deepEqual(
        p.layers.map((l) => [l.digest, l.size]),
        stored.manifest.layers.map((l) => [l.digest, l.size]),
      );
      assert.equal(
        p.totalSize,
        stored.bytes.byteLength + stored.manifest.config.size + stored.manifest.layers.reduce((n, l) => n + l.size, 0),
      );
      assert.equal(p.config?.digest, stored.manifest.config.digest);
      assert.deepEqual(p.config?.entrypoint, ['/bin/sh', '-l']);
      assert.ok(p.config?.env.includes('PATH=/usr/sbin:/sbin:/usr/bin:/bin'));
      assert.match(p.layers[0]?.diffId ?? '', /^sha256:[0-9a-f]{64}$/);
    }
  });

  it('lists every attachment in every storage with the key id its signature names', () => {
    const [amd, arm] = data.platforms;
    assert.ok(amd && arm);
    const rows = (list: ReportData['attachments']) =>
      list
        .map(
          (a) =>
            `${a.storage} ${a.kind} ${a.predicateTypes.join('+')} ${a.signers.map((s) => (s.signed ? `signed:${s.keyId ?? 'unnamed'}` : 'unsigned')).join(',') || 'none'}`,
        )
        .sort();
    const key = image.keyId;
    // A .att envelope names its key in keyid (Provenant's; cosign 2's leaves it empty), a .sig layer none.
    assert.deepEqual(rows(amd.attachments), [
      `cosign attestation https://slsa.dev/provenance/v1 signed:${key}`,
      'cosign signature  signed:unnamed',
      'referrers attestation https://spdx.dev/Document+https://cyclonedx.org/bom+https://slsa.dev/provenance/v1 none',
      `referrers signature https://sigstore.dev/cosign/sign/v1 signed:${key}`,
    ]);
    assert.deepEqual(rows(arm.attachments), [
      'cosign signature  signed:unnamed',
      `referrers attestation https://spdx.dev/Document signed:${key}`,
      'referrers attestation https://spdx.dev/Document+https://cyclonedx.org/bom+https://slsa.dev/provenance/v1 none',
      `referrers signature https://sigstore.dev/cosign/sign/v1 signed:${key}`,
    ]);
    // The index: its own signatures, and the index SBOM.
    assert.deepEqual(rows(data.attachments), [
      'cosign signature  signed:unnamed',
      'referrers attestation https://spdx.dev/Document none',
      `referrers signature https://sigstore.dev/cosign/sign/v1 signed:${key}`,
    ]);
    for (const a of [...data.attachments, ...amd.attachments, ...arm.attachments]) {
      assert.ok(a.subject === data.digest || data.platforms.some((p) => p.digest === a.subject), `${a.digest} is about the image`);
    }
  });

  it("shows the attached SBOM's packages, the same ones the package database gives when none is attached", async () => {
    const bareData = await gatherReport(bare.store, bare.tag, { reference: REFERENCE, targets: [] });
    for (const [i, p] of data.platforms.entries()) {
      assert.equal(p.sbom.source, 'attached');
      assert.equal(p.sbom.format, 'spdx');
      const generated = bareData.platforms[i]?.sbom;
      assert.equal(generated?.source, 'generated');
      assert.deepEqual(p.sbom.packages, generated?.packages);
      const arch = p.platform === 'linux/amd64' ? 'x86_64' : 'aarch64';
      assert.deepEqual(
        p.sbom.packages.map((x) => [x.name, x.version, x.license, x.purl, x.type]),
        [
          ['custom-ca-certs-1', '1.0.0-r0', 'MIT', `pkg:apk/replaces/custom-ca-certs-1@1.0.0-r0?arch=${arch}&distro=replaces-1.0.0`, 'apk'],
          [
            'pretend-baselayout',
            '1.0.0-r0',
            'MIT',
            `pkg:apk/replaces/pretend-baselayout@1.0.0-r0?arch=${arch}&distro=replaces-1.0.0`,
            'apk',
          ],
          ['replayout', '1.0.0-r0', 'MIT', `pkg:apk/replaces/replayout@1.0.0-r0?arch=${arch}&distro=replaces-1.0.0`, 'apk'],
        ],
      );
    }
    // The operating system is not a package installed: kept apart, not counted.
    for (const p of [...data.platforms, ...bareData.platforms]) assert.deepEqual(p.sbom.system, { name: 'replaces', version: '1.0.0' });
    // The arm64 SPDX is read from the signed cosign 3 bundle, not the unsigned referrer.
    const armSbom = data.platforms[1]?.sbom.attachment;
    assert.ok(data.platforms[1]?.attachments.some((a) => a.digest === armSbom && a.signers.some((s) => s.signed)));
    assert.equal(bareData.compat, undefined);
    assert.deepEqual(bareData.platforms[0]?.attachments, []);
  });

  it('counts the packages installed whatever the SBOM: not the operating system, nor apko’s image and layer entries', async () => {
    const bareData = await gatherReport(bare.store, bare.tag, { reference: REFERENCE, targets: [] });
    const names = (bareData.platforms[0]?.sbom.packages ?? []).map((p) => p.name);
    assert.deepEqual(names, ['custom-ca-certs-1', 'pretend-baselayout', 'replayout']);
    const cdx = await imageSbom(bare.store, bare.tag, REFERENCE, { format: 'cyclonedx', toolVersion: '0.1.0' });
    assert.deepEqual(
      cyclonedxPackages(cdx.document)
        .map((p) => p.name)
        .sort(),
      names,
    );
    assert.deepEqual(cyclonedxSystem(cdx.document), { name: 'replaces', version: '1.0.0' });
    // apko's SPDX lists the image and each layer as CONTAINER packages, and the operating system.
    const apko = JSON.parse((await apkoSbomOfImage(bare.store, bare.tag, REFERENCE)).document) as unknown;
    // (Its package SBOMs' melange.yaml sources are packages of the document too, and stay.)
    const apkoNames = spdxPackages(apko).map((p) => p.name);
    for (const n of names) assert.ok(apkoNames.includes(n), `${n} in ${apkoNames}`);
    assert.deepEqual(
      apkoNames.filter((n) => n.startsWith('sha256:') || n === 'replaces'),
      [],
    );
    assert.equal(spdxSystem(apko)?.name, 'replaces');
    // The page: the count in the heading and the summary line, the operating system apart.
    const page = renderReport(bareData);
    assert.match(page, /Packages \(3\)/);
    assert.match(page, /Operating system: replaces 1\.0\.0\./);
  });

  it('reads no layer when an SBOM is attached', async () => {
    const { store, reads } = countingReads(image.store);
    await gatherReport(store, image.tag, { reference: REFERENCE });
    const layers = new Set(data.platforms.flatMap((p) => p.layers.map((l) => l.digest)));
    assert.ok(reads.length > 0);
    assert.deepEqual(
      reads.filter((d) => layers.has(d as never)),
      [],
    );
    // Without one, it has to (and reads each layer once).
    const bareCount = countingReads(bare.store);
    await gatherReport(bareCount.store, bare.tag, { reference: REFERENCE, targets: [] });
    const bareLayers = (await gatherReport(bare.store, bare.tag, { targets: [] })).platforms.flatMap((p) => p.layers.map((l) => l.digest));
    assert.deepEqual(bareCount.reads.filter((d) => bareLayers.includes(d as never)).sort(), [...bareLayers].sort());
  });

  it('summarizes the provenance: builder, build type, parameters, configuration files and materials; signed first', () => {
    const [amd, arm] = data.platforms;
    const p = amd?.provenance;
    assert.ok(p);
    assert.equal(p.predicateType, SLSA_V1);
    assert.equal(p.builderId, 'https://ci.example/builders/provenant');
    assert.equal(p.buildType, 'https://provenant.dev/build/apk/v1');
    // amd64's provenance is also in the signed .att image: that one is shown.
    assert.equal(p.signed, true);
    assert.equal(amd?.attachments.find((a) => a.digest === p.attachment)?.storage, 'cosign');
    assert.equal(arm?.provenance?.signed, false);
    assert.deepEqual(
      p.configFiles.map((f) => f.path),
      ['apko.yaml'],
    );
    assert.match(p.configFiles[0]?.content ?? '', /custom-ca-certs-1/);
    assert.match(p.configFiles[0]?.sha256 ?? '', /^[0-9a-f]{64}$/);
    const params = p.parameters as { config: { path: string; files?: unknown }; archs: string[]; sourceDateEpoch: number };
    // The files' text is shown as files; what the configuration asked for stays with the parameters.
    assert.deepEqual(params.config, {
      path: 'apko.yaml',
      contents: {
        repositories: ['./testdata/packages'],
        keyring: ['./testdata/melange.rsa.pub'],
        packages: ['replayout', 'custom-ca-certs-1'],
      },
    });
    assert.deepEqual(params.archs, ['x86_64', 'aarch64']);
    assert.equal(params.sourceDateEpoch, 1700000000);
    assert.deepEqual([...new Set(p.materials.map((m) => m.kind))].sort(), ['apk', 'apk-index', 'apk-key']);
    assert.deepEqual(
      p.materials
        .filter((m) => m.kind === 'apk')
        .map((m) => `${m.name}@${m.version}`)
        .sort(),
      ['custom-ca-certs-1@1.0.0-r0', 'pretend-baselayout@1.0.0-r0', 'replayout@1.0.0-r0'],
    );
    for (const m of p.materials) assert.match(m.digest, /^sha256:[0-9a-f]{64}$/);
  });

  it('gives the compatibility verdicts of the default targets, or of the ones named', async () => {
    assert.deepEqual(
      data.compat?.targets.map((t) => t.target),
      ['aws-lambda', 'google-cloud-run', 'amazon-ecr', 'ghcr', 'docker-hub'],
    );
    const lambda = data.compat?.targets.find((t) => t.target === 'aws-lambda');
    assert.equal(lambda?.verdict, 'refused');
    assert.ok(lambda?.problems.some((p) => p.rule === 'index' && p.fix === 'single-manifest'));
    assert.equal(data.compat?.verdict, 'refused');
    const one = await gatherReport(image.store, image.tag, { targets: ['docker-engine@20.10'] });
    assert.deepEqual(
      one.compat?.targets.map((t) => t.target),
      ['docker-engine@20.10'],
    );
  });

  it('refuses an unknown target before reading anything', async () => {
    const untouchable = new Proxy({} as ContentStore, {
      get: (_, prop) => (prop === 'location' ? 'nowhere' : () => assert.fail(`the store was used (${String(prop)})`)),
    });
    await assert.rejects(gatherReport(untouchable, 'latest', { targets: ['aws-lambda', 'no-such-target'] }), (err: unknown) => {
      return isProvenantError(err, 'USAGE') && /no-such-target/.test(err.message);
    });
  });

  it('says NOT_FOUND for a tag that is not there', async () => {
    await assert.rejects(gatherReport(image.store, 'nope', { targets: [] }), (err: unknown) => isProvenantError(err, 'NOT_FOUND'));
  });

  it('opens in headless Chromium with no console error and no request but the page; the package filter works', {
    skip: chromiumMissing,
  }, async (t) => {
    const page = renderReport(data);
    const out = await outputDir();
    const file = join(out, 'report.html');
    await writeFile(file, page);
    assertSelfContained(page);

    const browser = await launch();
    try {
      const opened = await browser.open(file);
      const p = opened.page;
      assert.deepEqual(opened.errors, []);
      assert.equal(await p.title(), `Provenant report: ${REFERENCE}`);
      // Browser-side code as text: the project's TypeScript has no DOM types (they clash with Node's).
      const dom = (await p.evaluate(`({
        resources: document.querySelectorAll('img, iframe, object, embed, link, base, form, [src], [srcset], [background], [poster]').length,
        scripts: Array.from(document.scripts, (s) => s.src),
        styles: document.querySelectorAll('style').length,
        csp: document.querySelector('meta[http-equiv="Content-Security-Policy"]')?.getAttribute('content') ?? '',
        links: Array.from(document.querySelectorAll('a[href]'), (a) => ({
          href: a.getAttribute('href'),
          rel: a.getAttribute('rel') ?? '',
          target: a.getAttribute('href').startsWith('#') ? document.getElementById(a.getAttribute('href').slice(1)) !== null : null,
        })),
        cells: Array.from(document.querySelectorAll('td'), (td) => td.textContent),
      })`)) as {
        resources: number;
        scripts: string[];
        styles: number;
        csp: string;
        links: { href: string; rel: string; target: boolean | null }[];
        cells: string[];
      };
      assert.equal(dom.resources, 0);
      assert.deepEqual(dom.scripts, ['']);
      assert.equal(dom.styles, 1);
      assert.match(dom.csp, /^default-src 'none'; style-src 'sha256-[^']+'; script-src 'sha256-[^']+'/);
      assert.ok(dom.links.length > 0);
      for (const l of dom.links) {
        if (l.href.startsWith('#')) assert.equal(l.target, true, `${l.href} points into the page`);
        else {
          assert.match(l.href, /^https?:\/\//);
          assert.equal(l.rel, 'noopener noreferrer');
        }
      }
      // The annotation with markup is shown as text wherever it appears (index, manifests, labels).
      assert.equal(dom.cells.filter((c) => c === HOSTILE_DESCRIPTION).length, 5);

      // The filter: the amd64 table has 3 packages (the operating system is not one); "ca-certs" leaves one, "mit apk" three, nonsense none.
      const rows = () => p.locator('#platform-0-packages tbody tr:visible').count();
      const search = p.getByRole('searchbox', { name: 'Filter packages' }).first();
      assert.equal(await p.getByRole('searchbox', { name: 'Filter packages' }).count(), 2);
      assert.equal(await rows(), 3);
      assert.equal(await p.locator('#platform-0-packages-count').textContent(), '3 packages');
      await search.fill('ca-certs');
      assert.equal(await rows(), 1);
      assert.equal(await p.locator('#platform-0-packages tbody tr:visible td').first().textContent(), 'custom-ca-certs-1');
      assert.equal(await p.locator('#platform-0-packages-count').textContent(), '1 of 3 packages');
      await search.fill('MIT  apk');
      assert.equal(await rows(), 3);
      await search.fill('pkg:apk/replaces/replayout@');
      assert.equal(await rows(), 1);
      await search.fill('no-such-package');
      assert.equal(await rows(), 0);
      assert.equal(await p.locator('#platform-1-packages tbody tr:visible').count(), 3, 'the other platform keeps its rows');
      await search.fill('');
      assert.equal(await rows(), 3);

      // Collapse all hides the tables; expand all shows them again.
      await p.getByRole('button', { name: 'Collapse all' }).click();
      assert.equal(await p.locator('#platform-0-packages').isVisible(), false);
      await p.getByRole('button', { name: 'Expand all' }).click();
      assert.equal(await p.locator('#platform-0-packages').isVisible(), true);

      const screenshot = join(out, 'report.png');
      await p.screenshot({ path: screenshot, fullPage: true });
      const png = await readFile(screenshot);
      assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
      assert.equal(png.readUInt32BE(16), 1280);
      assert.ok(png.readUInt32BE(20) > 2000, 'the whole page is in the screenshot');
      t.diagnostic(`screenshot: ${screenshot}`);
      t.diagnostic(`page: ${file}`);

      // Dark and print styles apply.
      const background = () => p.evaluate('getComputedStyle(document.body).backgroundColor');
      const light = await background();
      await p.emulateMedia({ colorScheme: 'dark' });
      assert.notEqual(await background(), light);
      await p.emulateMedia({ media: 'print' });
      assert.equal(await p.locator('.filter').first().isVisible(), false);

      assert.deepEqual(opened.requests, [opened.url]);
      assert.deepEqual(opened.errors, []);
    } finally {
      await browser.close();
    }
  });
});

describe('records read from an image', () => {
  it('keep a key named __proto__ as a key (a label an image may have)', () => {
    // The labels report and inspect show: image-config.ts's run settings.
    const labels = runSettings({ config: { Labels: JSON.parse('{"__proto__":"hidden-label","visible":"yes","n":1}') } }).labels ?? {};
    assert.deepEqual(Object.keys(labels), ['__proto__', 'visible']);
    assert.equal(Object.getPrototypeOf(labels), Object.prototype);
    assert.equal(Object.getOwnPropertyDescriptor(labels, '__proto__')?.value, 'hidden-label');
  });
});
