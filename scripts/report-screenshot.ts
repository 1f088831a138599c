// Makes docs/report-screenshot.png: the report of the test image (built from apko's signed test
// repository, SBOMs and provenance attached, signed; see test/report/image.ts), opened in Debian's
// headless Chromium with the amd64 image's attachments and packages open and the package filter
// in use. Needs the shared fixtures and /usr/bin/chromium (scripts/setup.sh installs it).
//
//   node scripts/report-screenshot.ts [out.png]
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gatherReport } from '../src/report/gather.ts';
import { renderReport } from '../src/report/html.ts';
import { chromiumMissing, launch } from '../test/report/browser.ts';
import { makeReportImage } from '../test/report/image.ts';

const out = resolve(process.argv[2] ?? join(import.meta.dirname, '..', 'docs', 'report-screenshot.png'));
if (chromiumMissing) {
  console.error(chromiumMissing);
  process.exit(1);
}
const image = await makeReportImage();
const dir = await mkdtemp(join(tmpdir(), 'provenant-report-shot-'));
try {
  const data = await gatherReport(image.store, image.tag, { reference: 'registry.example/demo/app:1.0', toolVersion: '0.1.0' });
  const file = join(dir, 'report.html');
  await writeFile(file, renderReport(data));
  const browser = await launch({ width: 1280, height: 900 });
  try {
    const { page, errors, requests, url } = await browser.open(file, { colorScheme: 'light' });
    await page.getByRole('button', { name: 'Collapse all' }).click();
    // The amd64 image, with what is attached to it and its packages; the filter narrowed.
    for (const selector of [
      '#platform-0 > details',
      '#platform-0 .body > details:has(h3:text-matches("^Attachments"))',
      '#platform-0 .body > details:has(h3:text-matches("^Packages"))',
    ]) {
      await page
        .locator(selector)
        .first()
        .evaluate((d) => {
          (d as unknown as { open: boolean }).open = true;
        });
    }
    await page.getByRole('searchbox', { name: 'Filter packages' }).first().fill('certs');
    await page.screenshot({ path: out, fullPage: true });
    if (errors.length > 0 || requests.length !== 1 || requests[0] !== url) {
      throw new Error(`the page logged ${JSON.stringify(errors)} and requested ${JSON.stringify(requests)}`);
    }
  } finally {
    await browser.close();
  }
  console.error(`wrote ${out}`);
} finally {
  await image.remove();
  await rm(dir, { recursive: true, force: true });
}
