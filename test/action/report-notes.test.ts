/**
 * The Action's report after a fix: the report is gathered again to name the fixed images, and the
 * page must still say what the first reading could not read. Run in this process (runAction, as
 * main.ts calls it, with the job's folders as the runner lays them out): the fault, a referrer
 * whose manifest leaves the layout between the tags and the report, is one no input can make, and
 * the step's logger is where it can be made at that moment.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readInputs } from '../../src/action/inputs.ts';
import { runAction } from '../../src/action/run.ts';
import type { Logger } from '../../src/io/types.ts';
import type { Descriptor } from '../../src/oci/types.ts';
import { escapeHtml } from '../../src/report/template.ts';
import { registryAccess } from '../../src/store/registry-access.ts';
import { NO_HOME } from '../helpers/temp.ts';
import { type Job, makeJob } from './helpers.ts';

describe('the Action’s report, gathered again after a fix', () => {
  let job: Job;
  before(async () => {
    job = await makeJob();
  });
  after(async () => {
    if (job !== undefined) await rm(job.root, { recursive: true, force: true });
  });

  it('keeps the note of a referrer the layout lists but cannot read, which the first reading warned of', async () => {
    const inputs: Record<string, string> = {
      config: join(job.workspace, job.config),
      tags: 'example.com/acme/app:1.0',
      platforms: 'linux/arm64',
      // Cloud Run refuses an arm64 image, and no fix makes one it takes: the fix runs, writes
      // nothing, and the report is gathered again.
      targets: 'google-cloud-run',
      fix: 'true',
    };
    let removed: Descriptor | undefined;
    const warnings: string[] = [];
    const logger: Logger = {
      debug() {},
      info(message) {
        // Once tagged, before the report: a referrer's manifest leaves the layout.
        const layout = /^tagged \S+ in (?:oci:)?(.+): /.exec(message)?.[1];
        if (layout === undefined || removed !== undefined) return;
        const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
        removed = index.manifests.find((d) => d.artifactType !== undefined);
        assert.ok(removed, 'the layout lists a referrer');
        rmSync(join(layout, 'blobs', 'sha256', removed.digest.slice('sha256:'.length)));
      },
      warn: (message) => warnings.push(message),
    };
    const outcome = await runAction(
      readInputs((name) => inputs[name] ?? ''),
      {
        env: { GITHUB_WORKSPACE: job.workspace },
        tempDir: job.runnerTemp,
        hostArch: process.arch,
        sourceDateEpoch: 1700000000,
        toolVersion: '0.0.0-test',
        registry: registryAccess({ env: {}, homedir: NO_HOME }),
        identityToken: undefined,
        logger,
      },
    );
    assert.ok(removed !== undefined);
    const note = warnings.find((w) => w.includes(`index.json lists manifest ${removed!.digest}, which cannot be read`));
    assert.ok(note !== undefined, warnings.join('\n'));
    assert.ok(outcome.fixes.length > 0, 'a fix was tried, so the report was gathered again');
    assert.ok(outcome.report.notes.includes(note), outcome.report.notes.join('\n'));
    // The page's Notes section says it, as the page of a report gathered once would.
    const page = await readFile(outcome.reportPath, 'utf8');
    const notes = /<section id="notes"[\s\S]*?<\/section>/.exec(page)?.[0] ?? '';
    assert.ok(notes.includes(`<li>${escapeHtml(note)}</li>`), notes || 'report.html has no Notes section');
  });
});
