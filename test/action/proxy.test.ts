/**
 * The Action behind a proxy, as on a self-hosted runner that sets HTTP_PROXY, HTTPS_PROXY and
 * NO_PROXY: its registry traffic goes through the proxy, except to the hosts NO_PROXY lists,
 * and the proxy's password appears nowhere in the log.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { type LoggingProxy, startLoggingProxy } from '../helpers/logging-proxy.ts';
import { registryMissing, startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { type MockSigstore, startMockSigstore } from '../sign/mock-sigstore.ts';
import { dockerLogin, type Job, makeJob, readOutputs, runnerEnv, runSources, startTokenEndpoint } from './helpers.ts';

const SECRET = 'pr0xy-s3cret';

describe('the Action’s sources behind a proxy', { skip: registryMissing }, () => {
  let reg: TestRegistry;
  let proxy: LoggingProxy;
  const jobs: Job[] = [];
  before(async () => {
    reg = await startRegistry({ auth: 'htpasswd' });
    proxy = await startLoggingProxy();
  });
  after(async () => {
    await proxy?.stop();
    await reg?.stop();
    for (const j of jobs.splice(0)) await rm(j.root, { recursive: true, force: true });
  });

  /** Builds and pushes `repo:1.0` with the proxy variables `extra`; the run and what the proxy saw of it. */
  const push = async (repo: string, extra: Record<string, string>) => {
    const job = await makeJob();
    jobs.push(job);
    await dockerLogin(job, reg.host, reg.username!, reg.password!);
    const env = runnerEnv(job, { config: job.config, tags: `${reg.host}/${repo}:1.0`, push: 'true', platforms: 'linux/amd64' }, extra);
    const count = proxy.log().length;
    const run = await runSources(job, env);
    return { run, job, seen: proxy.log().slice(count) };
  };

  it('pushes through HTTP_PROXY when NO_PROXY does not name the registry, and prints no proxy password', async () => {
    const url = proxy.url.replace('http://', `http://runner:${SECRET}@`);
    const { run, job, seen } = await push('acme/proxied', { HTTP_PROXY: url, HTTPS_PROXY: url, NO_PROXY: '' });
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.match((await readOutputs(job.outputFile)).digest ?? '', /^sha256:[0-9a-f]{64}$/);
    assert.ok(
      seen.some((s) => s.method === 'PUT' && s.target === `http://${reg.host}/v2/acme/proxied/manifests/1.0`),
      JSON.stringify(seen.map((s) => `${s.method} ${s.target}`)),
    );
    assert.doesNotMatch(run.stdout + run.stderr, new RegExp(SECRET));
    assert.doesNotMatch(run.stdout, /::warning::.*PROXY/);
  });

  it('goes straight to the registry when NO_PROXY names it', async () => {
    const { run, seen } = await push('acme/direct', { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, NO_PROXY: 'localhost,127.0.0.1' });
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.deepEqual(seen, []);
  });

  it('fails the step on a proxy variable that is not a URL, naming it and not its value', async () => {
    const { run, seen } = await push('acme/bad-proxy', { HTTPS_PROXY: `runner:${SECRET}@proxy` });
    assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /^::error::HTTPS_PROXY is not a proxy URL%0Ahint: write HTTPS_PROXY=http:\/\/HOST:PORT/m);
    assert.doesNotMatch(run.stdout + run.stderr, new RegExp(SECRET));
    assert.deepEqual(seen, []);
  });
});

describe('the Action’s sources behind a proxy, signing keyless', () => {
  let job: Job;
  let mock: MockSigstore;
  let proxy: LoggingProxy;
  before(async () => {
    job = await makeJob();
    mock = await startMockSigstore({ dir: job.root });
    proxy = await startLoggingProxy();
  });
  after(async () => {
    await proxy?.stop();
    await mock?.stop();
    if (job !== undefined) await rm(job.root, { recursive: true, force: true });
  });

  it('asks for the job’s OIDC token, a certificate and log entries through the proxy', async () => {
    const identity = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
    const requestToken = 'runner-request-token-0123456789';
    const endpoint = await startTokenEndpoint(requestToken, mock.token(identity));
    try {
      const inputs = {
        config: job.config,
        tags: 'registry.example/acme/app:1.0',
        platforms: 'linux/amd64',
        sign: 'keyless',
        'fulcio-url': mock.url,
        'rekor-url': mock.url,
        'trusted-root': mock.trustedRootPath,
      };
      const env = {
        ACTIONS_ID_TOKEN_REQUEST_URL: endpoint.url,
        ACTIONS_ID_TOKEN_REQUEST_TOKEN: requestToken,
        HTTP_PROXY: proxy.url,
        HTTPS_PROXY: proxy.url,
        NO_PROXY: '',
      };
      const run = await runSources(job, runnerEnv(job, inputs, env));
      assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
      const seen = proxy.log().map((s) => `${s.method} ${s.target}`);
      // The token through fetch (Node's dispatcher), Fulcio and Rekor through Sigstore's own agents.
      assert.ok(
        seen.some((s) => s.startsWith(`GET ${endpoint.url}?`) || s === `CONNECT ${new URL(endpoint.url).host}`),
        JSON.stringify(seen),
      );
      assert.ok(
        seen.some((s) => s.startsWith(`POST ${mock.url}/api/v2/signingCert`)),
        JSON.stringify(seen),
      );
      assert.ok(
        seen.some((s) => s.startsWith(`POST ${mock.url}/api/v1/log/entries`)),
        JSON.stringify(seen),
      );
      assert.equal(mock.requests.fulcio, 1);
    } finally {
      await endpoint.stop();
    }
  });
});
