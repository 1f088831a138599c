/**
 * What the Action says is for a workflow, not a command line: a registry that refuses the login
 * gets a hint about docker/login-action (the Action has no --username), and the job summary
 * names the key that signed each attestation, cosign's `.att` layers too.
 */
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { generateEncryptedKeyPair, keyId, parsePublicKey } from '../../src/sign/keys.ts';
import { registryMissing, startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { dockerLogin, type Job, makeJob, runnerEnv, runSources } from './helpers.ts';

/** The ::error:: line of a run, decoded as the runner shows it. */
const errorOf = (stdout: string): string => (/^::error::(.*)$/m.exec(stdout)?.[1] ?? '').replaceAll('%0A', '\n');

describe('the Action’s sources: hints and the summary, for a workflow', { skip: registryMissing }, () => {
  let reg: TestRegistry;
  const jobs: Job[] = [];
  before(async () => {
    reg = await startRegistry({ auth: 'htpasswd' });
  });
  after(async () => {
    await reg?.stop();
    for (const j of jobs.splice(0)) await rm(j.root, { recursive: true, force: true });
  });
  const newJob = async () => {
    const job = await makeJob();
    jobs.push(job);
    return job;
  };
  const push = (job: Job, extra: Record<string, string> = {}) =>
    runSources(
      job,
      runnerEnv(job, { config: job.config, tags: `${reg.host}/acme/app:1.0`, push: 'true', platforms: 'linux/amd64', ...extra }),
    );

  it('a refused docker login: log in again with docker/login-action, not --username', async () => {
    const job = await newJob();
    await dockerLogin(job, reg.host, reg.username!, 'not-the-password');
    const run = await push(job);
    assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
    const error = errorOf(run.stdout);
    assert.match(error, new RegExp(`^wrong username or password for ${reg.host.replaceAll('.', '\\.')}`), error);
    assert.match(error, /\nhint: the docker config's login for .* was refused: log in again with docker\/login-action/, error);
    assert.doesNotMatch(error, /--username|--password-stdin|not-the-password/, error);
  });

  it('no login at all: log in with docker/login-action before this step', async () => {
    const job = await newJob();
    const run = await push(job);
    assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
    const error = errorOf(run.stdout);
    assert.match(error, new RegExp(`^${reg.host.replaceAll('.', '\\.')} requires authentication`), error);
    assert.match(error, /\nhint: no login for .*: log in with docker\/login-action \(registry: /, error);
    assert.doesNotMatch(error, /--username|--password-stdin/, error);
  });

  it('the summary names the key of attestations stored in cosign’s .att image, as docs/action.md says', async () => {
    const job = await newJob();
    await dockerLogin(job, reg.host, reg.username!, reg.password!);
    const key = await generateEncryptedKeyPair('pw');
    const run = await push(job, { sign: 'key', key: key.privateKeyPem, 'key-password': 'pw', attestations: 'cosign' });
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const summary = await readFile(job.summaryFile, 'utf8');
    const table = summary.slice(summary.indexOf('<h3>Attestations</h3>'), summary.indexOf('<h3>Signature</h3>'));
    const rows = [...table.matchAll(/<tr>(.*?)<\/tr>/gs)]
      .map((m) => [...m[1]!.matchAll(/<td>(.*?)<\/td>/gs)].map((c) => c[1]))
      .filter((cells) => cells.length > 0);
    assert.ok(rows.length >= 2, table);
    const id = keyId(parsePublicKey(key.publicKeyPem));
    // One row per .att image (the platform's three statements, the index's SBOM), each signer once.
    for (const row of rows) {
      assert.equal(row[2], 'cosign', table);
      assert.equal(row.at(-1), `key <code>${id}</code>`, table);
    }
  });
});
