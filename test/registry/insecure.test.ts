// --insecure: when plain HTTP is used beyond this machine, and where credentials may go over it.
// A registry named 0.0.0.0:PORT is not loopback to the client (isLoopbackHost) yet is reached on
// this machine, so no traffic leaves it; [::]:PORT is another host that refuses connections.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { createServer as createTlsServer } from 'node:tls';
import { StaticKeychain } from '../../src/auth/keychain.ts';
import { isProvenantError } from '../../src/errors.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { useTempDir } from '../helpers/temp.ts';
import { opensslMissing, selfSignedCertificate } from '../helpers/tls.ts';

const tempDir = useTempDir('insecure');
const closers: Array<() => Promise<void>> = [];
after(async () => {
  for (const close of closers) await close();
});

const BASIC = `Basic ${Buffer.from('alice:s3cret').toString('base64')}`;
const keychain = () => new StaticKeychain({ username: 'alice', password: 's3cret' });
const ONE_TRY = { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } as const;

async function listen(server: Server | NetServer): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(async () => {
    if ('closeAllConnections' in server) server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return (server.address() as AddressInfo).port;
}

/** A plain-HTTP registry that asks for Basic credentials and records what it was sent. */
function plainRegistry(handler?: (req: IncomingMessage, res: ServerResponse) => boolean) {
  const seen: Array<{ method: string; url: string; authorization: string | undefined }> = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
    if (handler?.(req, res)) return;
    if (req.headers.authorization !== BASIC) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
    res.writeHead(req.url === '/v2/' ? 200 : 404).end();
  });
  return { server, seen };
}

/**
 * One port that serves plain HTTP to a client that speaks it, and answers a TLS handshake as
 * `tls` says: with a certificate no CA signed, or with a reset.
 */
async function onePort(tls: 'untrusted-certificate' | 'reset') {
  const plain = plainRegistry();
  let tlsPort = 0;
  if (tls === 'untrusted-certificate') {
    const cert = await selfSignedCertificate(await tempDir(), 'registry', '/CN=0.0.0.0', 'IP:0.0.0.0');
    const tlsServer = createTlsServer({ key: cert.key, cert: cert.cert }, (s) => s.end());
    tlsServer.on('tlsClientError', () => {});
    tlsPort = await listen(tlsServer);
  }
  const sockets = new Set<Socket>();
  const front = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('data', (first) => {
      if (first[0] !== 0x16) {
        // Not a TLS ClientHello: hand the connection to the HTTP server.
        socket.pause();
        socket.unshift(first);
        plain.server.emit('connection', socket);
        socket.resume();
      } else if (tls === 'reset') {
        socket.resetAndDestroy();
      } else {
        const up = connect(tlsPort, '127.0.0.1', () => {
          up.write(first);
          socket.pipe(up);
          up.pipe(socket);
        });
        up.on('error', () => socket.destroy());
      }
    });
  });
  closers.push(async () => {
    for (const s of sockets) s.destroy();
  });
  const port = await listen(front);
  return { host: `0.0.0.0:${port}`, seen: plain.seen };
}

describe('--insecure beyond this machine', () => {
  const blob = digestOf('blob');

  it('uses plain HTTP when the registry port answers in plain HTTP', async () => {
    const registry = plainRegistry();
    const host = `0.0.0.0:${await listen(registry.server)}`;
    const client = new RegistryClient(host, { insecure: true, keychain: keychain(), retry: ONE_TRY });
    assert.equal(await client.headBlob('a/b', blob), undefined);
    assert.ok(registry.seen.some((r) => r.authorization === BASIC));
  });

  for (const tls of ['untrusted-certificate', 'reset'] as const) {
    it(`never falls back to plain HTTP after a TLS failure (${tls}), and sends no credentials`, {
      skip: tls === 'untrusted-certificate' && opensslMissing,
    }, async () => {
      const registry = await onePort(tls);
      const client = new RegistryClient(registry.host, { insecure: true, keychain: keychain(), retry: ONE_TRY });
      await assert.rejects(client.headBlob('a/b', blob), (e) => isProvenantError(e, tls === 'reset' ? 'NETWORK' : 'TLS_CERTIFICATE'));
      assert.deepEqual(registry.seen, [], 'nothing went over plain HTTP');
    });
  }

  it('follows plain-HTTP redirects only to the registry host itself', async () => {
    const registry = plainRegistry((req, res) => {
      if (req.url === '/v2/') {
        res.writeHead(200).end();
        return true;
      }
      const port = (req.headers.host ?? '').split(':').pop();
      if (req.url === '/v2/a/b/manifests/elsewhere') res.writeHead(302, { location: `http://[::]:${port}/x` }).end();
      else if (req.url === '/v2/a/b/manifests/same') res.writeHead(302, { location: `http://0.0.0.0:${port}/moved` }).end();
      else res.writeHead(404).end();
      return true;
    });
    const host = `0.0.0.0:${await listen(registry.server)}`;
    const client = new RegistryClient(host, { insecure: true, retry: ONE_TRY });
    await assert.rejects(client.getManifest('a/b', 'elsewhere'), (e) => isProvenantError(e, 'INSECURE') && e.message.includes('[::]'));
    await assert.rejects(client.getManifest('a/b', 'same'), (e) => isProvenantError(e, 'NOT_FOUND'));
    assert.ok(registry.seen.some((r) => r.url === '/moved'));
  });

  it('sends credentials over plain HTTP only to a token server on the registry host', async () => {
    for (const [realmHost, ok] of [
      ['[::]', false],
      ['0.0.0.0', true],
    ] as const) {
      const registry = plainRegistry((req, res) => {
        const port = (req.headers.host ?? '').split(':').pop();
        if (req.url?.startsWith('/token')) res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"t"}');
        else if (req.headers.authorization === 'Bearer t') res.writeHead(404).end();
        else res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${realmHost}:${port}/token",service="s"` }).end();
        return true;
      });
      const host = `0.0.0.0:${await listen(registry.server)}`;
      const client = new RegistryClient(host, { insecure: true, keychain: keychain(), retry: ONE_TRY });
      if (ok) assert.equal(await client.headBlob('a/b', blob), undefined);
      else await assert.rejects(client.headBlob('a/b', blob), (e) => isProvenantError(e, 'INSECURE'), realmHost);
      assert.equal(
        registry.seen.some((r) => r.url.startsWith('/token') && r.authorization === BASIC),
        ok,
      );
    }
  });
});
