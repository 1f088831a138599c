/**
 * Paths the Action is given that do not work (`config`, `lock`, `trusted-root`, `cache-dir`): the
 * step fails with one message naming the input and the path, never "internal error" with a stack
 * trace.
 */
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Job, makeJob, runnerEnv, runSources } from './helpers.ts';

/** The one ::error:: line of a run, decoded as the runner shows it. */
const errorOf = (stdout: string): string => (/^::error(?: [^:]*)?::(.*)$/m.exec(stdout)?.[1] ?? '').replaceAll('%0A', '\n');

describe('the Action’s sources, given paths that do not work', () => {
  let job: Job;
  before(async () => {
    job = await makeJob();
  });
  after(async () => {
    if (job !== undefined) await rm(job.root, { recursive: true, force: true });
  });

  it('fails on a trusted-root file that is not there, naming the input', async () => {
    const env = runnerEnv(
      job,
      { config: job.config, platforms: 'linux/amd64', sign: 'keyless', 'trusted-root': 'sigstore/trusted_root.json' },
      // The job may ask for its OIDC token; nothing is asked before the trusted root is read.
      { ACTIONS_ID_TOKEN_REQUEST_URL: 'http://127.0.0.1:9/token', ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'request-token' },
    );
    const run = await runSources(job, env);
    assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
    const error = errorOf(run.stdout);
    assert.equal(
      error,
      'cannot read the trusted root sigstore/trusted_root.json: there is no such file (with: trusted-root)\n' +
        'hint: give trusted-root the path of a Sigstore trusted_root.json (cosign’s --trusted-root), relative to the workspace',
    );
  });

  it('fails on a cache-dir under a file, naming the input and the folder', async () => {
    const file = join(job.root, 'a-file');
    await writeFile(file, 'not a folder');
    const env = runnerEnv(job, { config: job.config, platforms: 'linux/amd64', 'cache-dir': `${file}/cache` });
    const run = await runSources(job, env);
    assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
    assert.equal(
      errorOf(run.stdout),
      `cannot use ${file}/cache as the download cache: a file is in the way (where it or a folder above it should be) (with: cache-dir)\n` +
        'hint: give cache-dir a folder the job can make and write, or leave it out for one under RUNNER_TEMP',
    );
  });

  it('fails on a config file that is not there, naming the input', async () => {
    const run = await runSources(job, runnerEnv(job, { config: 'images/app.yaml', platforms: 'linux/amd64' }));
    assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
    assert.equal(
      errorOf(run.stdout),
      'the config file images/app.yaml does not exist (with: config)\n' +
        'hint: config is a path relative to the workspace: check the repository out before this step (actions/checkout), and check the path',
    );
  });

  it('fails on a lock file that is not there, naming the input', async () => {
    const run = await runSources(job, runnerEnv(job, { config: job.config, lock: 'image.lock.json', platforms: 'linux/amd64' }));
    assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
    assert.equal(
      errorOf(run.stdout),
      'cannot read the lock file image.lock.json: there is no such file (with: lock)\n' +
        'hint: give lock the path of a lock file (provenant lock writes one), relative to the workspace, or leave it out to resolve the packages',
    );
  });
});
