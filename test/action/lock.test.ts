/**
 * A configuration changed since its lock was made: the build warns of a lock whose checksum is
 * another configuration text's and goes on (a comment changes the checksum too), and refuses a
 * lock that does not meet the configuration's requests. The step says each thing once: the error
 * alone when the lock is refused, the warning alone when it is built from.
 */
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cliOk } from '../helpers/cli.ts';
import { type Job, makeJob, runnerEnv, runSources } from './helpers.ts';

/** The ::error:: and ::warning:: lines of a run, decoded as the runner shows them. */
const lines = (stdout: string, kind: 'error' | 'warning'): string[] =>
  [...stdout.matchAll(new RegExp(`^::${kind}(?: [^:]*)?::(.*)$`, 'gm'))].map((m) => m[1]!.replaceAll('%0A', '\n'));

describe('the Action’s sources, a configuration that no longer matches its lock', () => {
  let job: Job;
  let config: string;
  before(async () => {
    job = await makeJob();
    // Locked as it is (packages: [hello], which brings base).
    await cliOk(['lock', job.config, '-o', 'image.lock.json', '--arch', 'x86_64'], { cwd: job.workspace });
    config = await readFile(join(job.workspace, job.config), 'utf8');
  });
  after(async () => {
    if (job !== undefined) await rm(job.root, { recursive: true, force: true });
  });

  it('asks for another package now: one error, no warning saying the same before it', async () => {
    await writeFile(join(job.workspace, 'base.yaml'), config.replace('packages: [hello]', 'packages: [base]'));
    const run = await runSources(job, runnerEnv(job, { config: 'base.yaml', lock: 'image.lock.json', platforms: 'linux/amd64' }));
    assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
    assert.deepEqual(lines(run.stdout, 'warning'), [], run.stdout);
    const errors = lines(run.stdout, 'error');
    assert.equal(errors.length, 1, run.stdout);
    assert.match(errors[0]!, /^image\.lock\.json holds more than base\.yaml asks for: it holds hello/, errors[0]);
    assert.match(errors[0]!, /\nhint: lock this configuration again \(provenant lock base\.yaml -o image\.lock\.json\)/, errors[0]);
  });

  it('only a comment changed: the warning, and the image is built from the lock', async () => {
    await writeFile(join(job.workspace, 'comment.yaml'), `# built nightly\n${config}`);
    const run = await runSources(job, runnerEnv(job, { config: 'comment.yaml', lock: 'image.lock.json', platforms: 'linux/amd64' }));
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.deepEqual(lines(run.stdout, 'error'), []);
    const warnings = lines(run.stdout, 'warning');
    assert.equal(warnings.length, 1, run.stdout);
    assert.match(
      warnings[0]!,
      /^image\.lock\.json was made for .* not for this text of comment\.yaml; run provenant lock again/,
      warnings[0],
    );
  });
});
