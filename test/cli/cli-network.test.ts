// What the CLI says when a registry address cannot work: a port out of range or a host no URL
// can hold (usage errors, found when the reference is read), a port Node's fetch refuses, and a
// TLS certificate this machine does not trust (its own code and exit code, and not retried); and
// localhost whose plain HTTP port redirects to HTTPS.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:https';
import { type AddressInfo, connect, createServer as createNetServer, type Server as NetServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.ts';
import { registryMissing, startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { useTempDir } from '../helpers/temp.ts';
import { opensslMissing, selfSignedCertificate, type TestCertificate } from '../helpers/tls.ts';

/** Runs the CLI without blocking this process (the HTTPS server below lives in it). */
const provenant = (args: string[], env: Record<string, string> = {}) => runCli(args, { env });

/** One line for the user (and a hint line), no stack trace. */
function assertOneLine(stderr: string): void {
  assert.doesNotMatch(stderr, /\n\s+at /, stderr);
  assert.doesNotMatch(stderr, /internal error/, stderr);
  const lines = stderr.trimEnd().split('\n');
  assert.ok(lines.length <= 2 && (lines.length === 1 || lines[1]!.startsWith('  hint: ')), stderr);
}

describe('provenant CLI: registry addresses that cannot work', () => {
  for (const [ref, why] of [
    ['127.0.0.1:99999/x:1', /port of "127\.0\.0\.1:99999" is out of range/],
    ['127.0.0.1:0/x:1', /port of "127\.0\.0\.1:0" is out of range/],
    ['[::1]:70000/x:1', /port of "\[::1\]:70000" is out of range/],
    ['999.1.1.1:5000/x:1', /"999\.1\.1\.1" is not a host name or IP address/],
    ['[:::::]/x:1', /is not a host name or IP address/],
  ] as const) {
    it(`refuses ${ref} as a usage error (exit 2), in one line`, async () => {
      const r = await provenant(['inspect', ref]);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /^provenant inspect: ".*" is not an image reference: /);
      assert.match(r.stderr, why);
      assertOneLine(r.stderr);
    });
  }

  it('says a port that fetch blocks is a usage error, not a network failure that was retried', async () => {
    // 6000 (X11) is on the Fetch standard's list of blocked ports; nothing needs to listen there.
    const r = await provenant(['inspect', '127.0.0.1:6000/x:1']);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /Node's fetch refuses its port/);
    assert.doesNotMatch(r.stderr, /retried|tried \d+ times/);
    assertOneLine(r.stderr);
  });
});

describe('provenant CLI: a registry whose connection drops in the middle of an answer', () => {
  let server: HttpServer;
  let host: string;
  before(async () => {
    server = createHttpServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200, { 'content-length': '2' }).end('{}');
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '500' });
      res.write('{"name":"img","tags":[');
      setTimeout(() => res.destroy(), 20);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('says NETWORK (exit 6) in one line after retrying, never an internal error', async () => {
    const r = await provenant(['tags', `${host}/img`]);
    assert.equal(r.status, 6, r.stderr);
    assert.match(r.stderr, /cannot reach 127\.0\.0\.1:\d+/);
    assert.match(r.stderr, /tried 5 times/);
    assertOneLine(r.stderr);
  });
});

describe('provenant CLI: a registry whose TLS certificate is not trusted', { skip: opensslMissing }, () => {
  const tempDir = useTempDir('tls');
  let server: Server;
  let host: string;
  let connections = 0;
  let requests = 0;
  let self: TestCertificate;
  let other: TestCertificate;
  before(async () => {
    const dir = await tempDir();
    // A self-signed certificate for this address, and one for another name.
    self = await selfSignedCertificate(dir, 'self', '/CN=127.0.0.1', 'IP:127.0.0.1');
    other = await selfSignedCertificate(dir, 'other', '/CN=other.invalid', 'DNS:other.invalid');
    server = createServer({ key: self.key, cert: self.cert }, (req, res) => {
      requests++;
      // Enough of a registry to tell "connected and asked" from "refused the certificate".
      if (req.url === '/v2/') {
        res.writeHead(200, { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0' });
        res.end('{}');
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
    });
    server.on('connection', () => {
      connections++;
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
  });

  it('fails with TLS_CERTIFICATE (exit 5) naming NODE_EXTRA_CA_CERTS, after one try per scheme', async () => {
    connections = 0;
    requests = 0;
    const r = await provenant(['inspect', `${host}/x:1`]);
    assert.equal(r.status, 5, r.stderr);
    assert.match(r.stderr, new RegExp(`the TLS certificate of ${host.replace(/\./g, '\\.')} is not signed by a CA this machine trusts`));
    assert.match(r.stderr, /DEPTH_ZERO_SELF_SIGNED_CERT/);
    assert.match(r.stderr, /hint: .*NODE_EXTRA_CA_CERTS=/);
    assert.doesNotMatch(r.stderr, /retried|tried \d+ times|cannot reach/);
    assertOneLine(r.stderr);
    // A loopback registry is probed over plain HTTP, then HTTPS: one connection each, no retry.
    assert.ok(connections <= 2, `${connections} connections`);
    assert.equal(requests, 0);
  });

  it('works once the CA is given with NODE_EXTRA_CA_CERTS, as the hint says', async () => {
    const r = await provenant(['inspect', `${host}/x:1`], { NODE_EXTRA_CA_CERTS: self.certPath });
    // The fake registry has no such image: the request got through.
    assert.equal(r.status, 3, r.stderr);
    assert.ok(requests > 0);
  });

  it('says when a trusted certificate is for another name', async () => {
    // setSecureContext applies to new connections.
    server.setSecureContext({ key: other.key, cert: other.cert });
    try {
      connections = 0;
      const r = await provenant(['inspect', `${host}/x:1`], { NODE_EXTRA_CA_CERTS: other.certPath });
      assert.equal(r.status, 5, r.stderr);
      assert.match(r.stderr, new RegExp(`the TLS certificate of ${host.replace(/\./g, '\\.')} is not issued for`));
      assert.match(r.stderr, /ERR_TLS_CERT_ALTNAME_INVALID/);
      assert.match(r.stderr, /hint: .*subjectAltName/);
      assertOneLine(r.stderr);
      assert.ok(connections <= 2, `${connections} connections`);
    } finally {
      server.setSecureContext({ key: self.key, cert: self.cert });
    }
  });
});

describe('provenant CLI: localhost behind an 80 → 443 redirect', { skip: opensslMissing || registryMissing }, () => {
  const tempDir = useTempDir('upgrade');
  const servers: Array<Server | HttpServer | NetServer> = [];
  let reg: TestRegistry | undefined;
  let cert: TestCertificate;
  let dockerConfig: string;
  /** Why the test cannot run here (ports 80 and 443 need root and must be free), or undefined. */
  let cannot: string | undefined;
  before(async () => {
    const dir = await tempDir();
    cert = await selfSignedCertificate(dir, 'localhost', '/CN=localhost', 'DNS:localhost,IP:127.0.0.1');
    reg = await startRegistry({ auth: 'htpasswd', tls: { certPath: cert.certPath, keyPath: cert.keyPath } });
    const registryPort = Number(new URL(reg.url).port);
    // HTTPS on 443 is the registry's own TLS, passed through; plain HTTP on 80 redirects there.
    const tls = createNetServer((socket) => {
      const up = connect(registryPort, '127.0.0.1');
      socket.pipe(up).pipe(socket);
      up.on('error', () => socket.destroy());
      socket.on('error', () => up.destroy());
    });
    const plain = createHttpServer((req, res) => void res.writeHead(301, { location: `https://localhost${req.url ?? '/'}` }).end());
    for (const [server, port] of [
      [tls, 443],
      [plain, 80],
    ] as const) {
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, '127.0.0.1', resolve);
        });
        servers.push(server);
      } catch (e) {
        cannot = `cannot listen on port ${port} here (${(e as NodeJS.ErrnoException).code})`;
        return;
      }
    }
    dockerConfig = join(dir, 'docker');
    await mkdir(dockerConfig);
    const auth = Buffer.from(`${reg.username}:${reg.password}`).toString('base64');
    await writeFile(join(dockerConfig, 'config.json'), JSON.stringify({ auths: { localhost: { auth } } }));
  });
  after(async () => {
    for (const s of servers) await new Promise((r) => s.close(r));
    await reg?.stop();
  });

  it('takes https://localhost as the registry, and logs in to it', async (t) => {
    if (cannot !== undefined) return t.skip(cannot);
    const r = await provenant(['inspect', 'localhost/x:1'], { NODE_EXTRA_CA_CERTS: cert.certPath, DOCKER_CONFIG: dockerConfig });
    // Past the login: the registry has no such image.
    assert.equal(r.status, 3, r.stderr);
    assert.doesNotMatch(r.stderr, /asks for credentials|requires authentication|wrong username/);
  });
});
