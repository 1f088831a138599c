/**
 * The Action behind a proxy, as on a self-hosted runner that sets HTTP_PROXY, HTTPS_PROXY and
 * NO_PROXY: its registry traffic goes through the proxy, except to the hosts NO_PROXY lists and
 * to this machine (a `services:` registry on localhost), and the proxy's password appears
 * nowhere in the log. A server reached through the proxy is named `NAME.invalid:PORT`, which
 * only the test proxy resolves (to 127.0.0.1): the Action has no `--insecure`, so the proxied
 * registry serves HTTPS with a certificate for that name, trusted by NODE_EXTRA_CA_CERTS.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { type LoggingProxy, startLoggingProxy } from '../helpers/logging-proxy.ts';
import { registryMissing, startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { useTempDir } from '../helpers/temp.ts';
import { opensslMissing, selfSignedCertificate } from '../helpers/tls.ts';
import { type MockSigstore, startMockSigstore } from '../sign/mock-sigstore.ts';
import { dockerLogin, type Job, makeJob, readOutputs, runnerEnv, runSources, startTokenEndpoint } from './helpers.ts';

const SECRET = 'pr0xy-s3cret';

describe('the Action’s sources behind a proxy', { skip: registryMissing || opensslMissing }, () => {
  const tempDir = useTempDir('action-proxy');
  let tlsReg: TestRegistry;
  let plainReg: TestRegistry;
  let caPath: string;
  let proxy: LoggingProxy;
  const jobs: Job[] = [];
  before(async () => {
    const cert = await selfSignedCertificate(await tempDir(), 'registry', '/CN=registry.invalid', 'DNS:registry.invalid,IP:127.0.0.1');
    caPath = cert.certPath;
    tlsReg = await startRegistry({ auth: 'htpasswd', tls: { certPath: cert.certPath, keyPath: cert.keyPath } });
    plainReg = await startRegistry({ auth: 'htpasswd' });
    proxy = await startLoggingProxy();
  });
  after(async () => {
    await proxy?.stop();
    await tlsReg?.stop();
    await plainReg?.stop();
    for (const j of jobs.splice(0)) await rm(j.root, { recursive: true, force: true });
  });

  /** Builds and pushes `host/repo:1.0` with the variables `extra`; the run and what the proxy saw of it. */
  const push = async (reg: TestRegistry, host: string, repo: string, extra: Record<string, string>) => {
    const job = await makeJob();
    jobs.push(job);
    await dockerLogin(job, host, reg.username!, reg.password!);
    const env = runnerEnv(job, { config: job.config, tags: `${host}/${repo}:1.0`, push: 'true', platforms: 'linux/amd64' }, extra);
    const count = proxy.log().length;
    const run = await runSources(job, env);
    return { run, job, seen: proxy.log().slice(count) };
  };

  it('pushes through HTTPS_PROXY when NO_PROXY does not name the registry, and prints no proxy password', async () => {
    const url = proxy.url.replace('http://', `http://runner:${SECRET}@`);
    const host = `registry.invalid:${tlsReg.host.split(':')[1]}`;
    const { run, job, seen } = await push(tlsReg, host, 'acme/proxied', {
      HTTP_PROXY: url,
      HTTPS_PROXY: url,
      NO_PROXY: '',
      NODE_EXTRA_CA_CERTS: caPath,
    });
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.match((await readOutputs(job.outputFile)).digest ?? '', /^sha256:[0-9a-f]{64}$/);
    // HTTPS goes through a CONNECT tunnel, the TLS (and the registry's credentials) end to end.
    assert.ok(
      seen.length > 0 && seen.every((s) => s.method === 'CONNECT' && s.target === host),
      JSON.stringify(seen.map((s) => `${s.method} ${s.target}`)),
    );
    assert.ok(seen.every((s) => s.authorization === `Basic ${Buffer.from(`runner:${SECRET}`).toString('base64')}`));
    assert.doesNotMatch(run.stdout + run.stderr, new RegExp(SECRET));
    assert.doesNotMatch(run.stdout, /::warning::.*PROXY/);
  });

  it('goes straight to a registry on this machine with NO_PROXY empty, as Go tools do', async () => {
    const port = plainReg.host.split(':')[1];
    for (const [host, repo] of [
      [`localhost:${port}`, 'acme/localhost'],
      [`127.0.0.1:${port}`, 'acme/loopback'],
    ] as const) {
      const { run, seen } = await push(plainReg, host, repo, { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, NO_PROXY: '' });
      assert.equal(run.code, 0, `${host}: ${run.stdout}\n${run.stderr}`);
      assert.deepEqual(seen, [], host);
    }
  });

  it('fails the step on a proxy variable that is no http(s) proxy URL, naming it and not its value', async () => {
    const { run, seen } = await push(plainReg, plainReg.host, 'acme/bad-proxy', { HTTPS_PROXY: `socks5://runner:${SECRET}@proxy:1080` });
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

  it('asks for the OIDC token and a certificate through the proxy, and goes straight to a Rekor on this machine', async () => {
    const identity = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
    const requestToken = 'runner-request-token-0123456789';
    const endpoint = await startTokenEndpoint(requestToken, mock.token(identity));
    try {
      // The token endpoint and Fulcio by names only the proxy resolves; Rekor on 127.0.0.1.
      const tokenUrl = endpoint.url.replace('127.0.0.1', 'token.invalid');
      const fulcioUrl = mock.url.replace('127.0.0.1', 'fulcio.invalid');
      const inputs = {
        config: job.config,
        tags: 'registry.example/acme/app:1.0',
        platforms: 'linux/amd64',
        sign: 'keyless',
        'fulcio-url': fulcioUrl,
        'rekor-url': mock.url,
        'trusted-root': mock.trustedRootPath,
      };
      const env = {
        ACTIONS_ID_TOKEN_REQUEST_URL: tokenUrl,
        ACTIONS_ID_TOKEN_REQUEST_TOKEN: requestToken,
        HTTP_PROXY: proxy.url,
        HTTPS_PROXY: proxy.url,
        NO_PROXY: '',
      };
      const run = await runSources(job, runnerEnv(job, inputs, env));
      assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
      const seen = proxy.log().map((s) => `${s.method} ${s.target}`);
      // The token through fetch (Node's dispatcher tunnels even plain HTTP), Fulcio through
      // Sigstore's own agents (@npmcli/agent), which read the exemption from the environment.
      assert.ok(
        seen.some((s) => s.startsWith(`GET ${tokenUrl}?`) || s === `CONNECT ${new URL(tokenUrl).host}`),
        JSON.stringify(seen),
      );
      assert.ok(
        seen.some((s) => s === `POST ${fulcioUrl}/api/v2/signingCert`),
        JSON.stringify(seen),
      );
      assert.ok(!seen.some((s) => s.includes('127.0.0.1') || s.includes('/api/v1/log/entries')), JSON.stringify(seen));
      assert.equal(mock.requests.fulcio, 1);
      assert.ok(mock.requests.rekor > 0, JSON.stringify(mock.requests));
    } finally {
      await endpoint.stop();
    }
  });
});
