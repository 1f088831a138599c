/**
 * report through the CLI entry point: a page about an image the CLI built, that the report
 * tests' checks accept (self-contained, no console error, no request but the page, a package
 * filter that filters), and its JSON form.
 */
import assert from 'node:assert/strict';
import { cp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { ReportData } from '../../src/report/data.ts';
import { EPOCH, writeFixtureRepo } from '../action/fixture-repo.ts';
import { useTempDir } from '../helpers/temp.ts';
import { chromiumMissing, launch } from '../report/browser.ts';
import { assertSelfContained } from '../report/checks.ts';
import { provenant } from './provenant.ts';

const temp = useTempDir('cli-report');

describe('provenant report', () => {
  let dir: string;
  let ref: string;
  before(async () => {
    dir = await temp();
    const config = await writeFixtureRepo(dir);
    ref = `oci:${join(dir, 'image')}:v1`;
    const r = await provenant(['build', config, '-o', ref], { env: { SOURCE_DATE_EPOCH: String(EPOCH) } });
    assert.equal(r.status, 0, r.stderr);
  });

  it('writes a page Chromium opens without errors or requests, whose package filter works', { skip: chromiumMissing }, async () => {
    const file = join(dir, 'report.html');
    const r = await provenant(['report', ref, '-o', file, '--target', 'aws-lambda,ghcr']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${file}: ${ref} (2 platform(s); aws-lambda refused, ghcr warnings)\n`);
    const page = await readFile(file, 'utf8');
    assertSelfContained(page);
    assert.equal((await stat(file)).mode & 0o777 & ~0o022, 0o644 & ~0o022);
    const browser = await launch();
    try {
      const opened = await browser.open(file);
      const p = opened.page;
      assert.deepEqual(opened.errors, []);
      assert.equal(await p.title(), `Provenant report: ${ref}`);
      const rows = () => p.locator('#platform-0-packages tbody tr:visible').count();
      // The two packages installed; the operating system (from os-release) is not one of them.
      assert.equal(await rows(), 2);
      await p.getByRole('searchbox', { name: 'Filter packages' }).first().fill('hello');
      assert.equal(await rows(), 1);
      assert.equal(await p.locator('#platform-0-packages tbody tr:visible td').first().textContent(), 'hello');
      assert.match((await p.locator('body').textContent()) ?? '', /aws-lambda[\s\S]*refused/);
      assert.deepEqual(opened.requests, [opened.url]);
      assert.deepEqual(opened.errors, []);
    } finally {
      await browser.close();
    }
  });

  it('prints the data as JSON; --target none leaves the verdicts out', async () => {
    let r = await provenant(['report', ref, '--format', 'json', '--target', 'aws-lambda']);
    assert.equal(r.status, 0, r.stderr);
    let data = JSON.parse(r.stdout) as ReportData;
    assert.equal(data.reference, ref);
    assert.deepEqual(
      data.platforms.map((x) => x.platform),
      ['linux/amd64', 'linux/arm64'],
    );
    assert.deepEqual(
      data.platforms[0]!.sbom?.packages.map((x) => x.name),
      ['base', 'hello'],
    );
    assert.deepEqual(data.platforms[0]!.sbom?.system, { name: 'fixture', version: '1.0' });
    assert.equal(data.compat?.targets[0]?.verdict, 'refused');
    r = await provenant(['report', ref, '--format', 'json', '--target', 'none']);
    data = JSON.parse(r.stdout) as ReportData;
    assert.equal(data.compat, undefined);
  });

  it('writes the page or the data to standard output for -o -, and no file named "-"', async () => {
    const cwd = await temp();
    let r = await provenant(['report', ref, '-o', '-', '--target', 'none'], { cwd });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^<!doctype html>\n/);
    assertSelfContained(r.stdout);
    r = await provenant(['report', ref, '-o', '-', '--format', 'json', '--target', 'none'], { cwd });
    assert.equal(r.status, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as ReportData).reference, ref);
    assert.deepEqual(await readdir(cwd), []);
  });

  it('lists an attachment it cannot read in the Notes: a referrer manifest or its bundle missing from the layout', async () => {
    const env = { COSIGN_PASSWORD: 'pw' };
    const work = await temp();
    assert.equal((await provenant(['generate-key-pair'], { cwd: work, env })).status, 0);
    await writeFile(join(work, 'p.json'), '{"a":1}');
    await cp(join(dir, 'image'), join(work, 'image'), { recursive: true });
    const attested = `oci:${join(work, 'image')}:v1`;
    const r = await provenant(
      ['attest', attested, '--predicate', 'p.json', '--type', 'https://example.org/custom/v1', '--key', 'cosign.key'],
      {
        cwd: work,
        env,
      },
    );
    assert.equal(r.status, 0, r.stderr);
    const referrer = /referrers attestation \S+\s+(sha256:[0-9a-f]{64})/.exec(r.stdout)?.[1];
    assert.ok(referrer, r.stdout);
    const blob = (d: string) => join(work, 'image', 'blobs', 'sha256', d.slice('sha256:'.length));
    const manifest = JSON.parse(await readFile(blob(referrer), 'utf8')) as { layers: { digest: string }[] };
    const bundle = manifest.layers[0]!.digest;

    await rm(blob(bundle));
    let out = await provenant(['report', attested, '--format', 'json', '--target', 'none']);
    assert.equal(out.status, 0, out.stderr);
    let notes = (JSON.parse(out.stdout) as ReportData).notes;
    assert.equal(notes.length, 1, notes.join('\n'));
    assert.match(notes[0]!, new RegExp(`bundle blob ${bundle} is missing`));

    await rm(blob(referrer));
    out = await provenant(['report', attested, '--format', 'json', '--target', 'none']);
    assert.equal(out.status, 0, out.stderr);
    assert.match(out.stderr, new RegExp(`warning: .*${referrer}.*cannot be read`));
    notes = (JSON.parse(out.stdout) as ReportData).notes;
    assert.equal(notes.length, 1, notes.join('\n'));
    assert.match(notes[0]!, new RegExp(`lists manifest ${referrer}, which cannot be read`));
    out = await provenant(['report', attested, '-o', '-', '--target', 'none']);
    assert.match(out.stdout, new RegExp(`<section id="notes"[\\s\\S]*${referrer}, which cannot be read`));
  });

  it('says that a rebuild with --lock into the same layout attached a second provenance, and shows the newer', async () => {
    const work = await temp();
    const config = await writeFixtureRepo(work);
    const rebuilt = `oci:${join(work, 'image')}:v1`;
    const env = { SOURCE_DATE_EPOCH: String(EPOCH) };
    assert.equal((await provenant(['build', config, '-o', rebuilt], { env })).status, 0);
    const lock = join(work, 'image.lock.json');
    assert.equal((await provenant(['lock', config, '-o', lock], { env })).status, 0);
    const r = await provenant(['build', config, '--lock', lock, '-o', rebuilt], { env });
    assert.equal(r.status, 0, r.stderr);
    const data = JSON.parse((await provenant(['report', rebuilt, '--format', 'json', '--target', 'none'])).stdout) as ReportData;
    for (const p of data.platforms) {
      assert.equal(p.otherProvenances.length, 1, p.platform);
      const listed = p.attachments.filter((a) => a.predicateTypes.includes('https://slsa.dev/provenance/v1')).map((a) => a.digest);
      // The layout lists its referrers as they were attached: the rebuild's is the last.
      assert.deepEqual([p.otherProvenances[0]?.attachment, p.provenance?.attachment], listed);
    }
    const page = (await provenant(['report', rebuilt, '-o', '-', '--target', 'none'])).stdout;
    assert.equal(page.match(/2 different provenances are attached to this image/g)?.length, 2);
    assert.match(page, /Provenance \(2 attached\)/);
  });

  it('refuses a page with nowhere to go, an unknown target and another format, writing nothing', async () => {
    const file = join(dir, 'never.html');
    let r = await provenant(['report', ref]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /report needs -o FILE: where to write the page \(-o - for standard output\)/);
    r = await provenant(['report', ref, '-o', file, '--target', 'nowhere']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown target "nowhere"/);
    r = await provenant(['report', ref, '-o', file, '--format', 'text']);
    assert.equal(r.status, 2);
    await assert.rejects(stat(file), { code: 'ENOENT' });
  });
});
