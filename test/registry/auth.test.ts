// Basic and Bearer authentication against the real registry.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DockerConfigKeychain } from '../../src/auth/docker-config.ts';
import { staticKeychain } from '../../src/auth/keychain.ts';
import { isProvenantError, ProvenantError } from '../../src/errors.ts';
import type { ProgressUpdate } from '../../src/io/types.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import type { Descriptor } from '../../src/oci/types.ts';
import { RegistryDeniedError } from '../../src/registry/errors.ts';
import { startFaultProxy } from '../helpers/fault-proxy.ts';
import { makeImage, pseudoRandomBytes } from '../helpers/images.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { useTempDir } from '../helpers/temp.ts';
import { readAll, storeAt } from './common.ts';

const tempDir = useTempDir('auth');

function assertNoSecret(err: unknown, secret: string): void {
  assert.ok(err instanceof ProvenantError);
  for (const text of [err.message, err.where ?? '', err.hint ?? '', String(err), JSON.stringify(err)]) {
    assert.ok(!text.includes(secret), `the secret leaked into: ${text}`);
  }
}

/**
 * A proxy in front of an htpasswd registry that reads anonymously (GET and HEAD go on with the
 * registry's credentials added, so `/v2/` answers 200) and writes only with the client's own:
 * nginx in front of a registry, as the distribution docs set it up. It counts the writes that
 * carried credentials. With `pingOnly`, only `GET /v2/` is answered anonymously (by the proxy):
 * a token registry whose repositories are all private.
 */
async function anonymousReadsProxy(target: string, reads: { username: string; password: string } | { pingOnly: true }) {
  const basic = 'username' in reads ? `Basic ${Buffer.from(`${reads.username}:${reads.password}`).toString('base64')}` : undefined;
  let writesWithCredentials = 0;
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/v2/') {
      // With `pingOnly`, the ping alone is anonymous (answered here): the repositories still want a token.
      if (basic === undefined) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2' });
        res.end('{}');
        return;
      }
    }
    const headers = { ...req.headers, host: target };
    if (basic !== undefined && (req.method === 'GET' || req.method === 'HEAD')) headers.authorization = basic;
    else if (req.headers.authorization !== undefined) writesWithCredentials++;
    const [hostname, port] = target.split(':');
    const up = httpRequest({ host: hostname, port: Number(port), method: req.method, path: req.url, headers }, (r) => {
      const out = { ...r.headers };
      if (out.location !== undefined) out.location = out.location.replace(`http://${target}`, `http://${host}`);
      res.writeHead(r.statusCode ?? 502, out);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    writesWithCredentials: () => writesWithCredentials,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Forwards `req` to `target` (`host:port`) at `path`, passing its answer through `rewrite`. */
function forward(req: IncomingMessage, res: ServerResponse, target: string, path: string, rewrite = (h: IncomingHttpHeaders) => h): void {
  const [hostname, port] = target.split(':');
  const up = httpRequest(
    { host: hostname, port: Number(port), method: req.method, path, headers: { ...req.headers, host: target } },
    (r) => {
      res.writeHead(r.statusCode ?? 502, rewrite({ ...r.headers }));
      r.pipe(res);
    },
  );
  up.on('error', () => res.destroy());
  req.pipe(up);
}

/**
 * A proxy in front of a token registry whose challenge names the proxy's own `/token`, which
 * redirects: to `/moved/token` on the same origin, or to another origin's `/token`, both passed on
 * to the registry's token server. A token server that moved its endpoint behind a redirect is
 * what the real one cannot be. It records the Authorization each redirected token request came with.
 */
async function movedTokenEndpoint(registry: string, tokenServerUrl: string, to: 'same origin' | 'other origin') {
  const tokenHost = new URL(tokenServerUrl).host;
  const arrived: Array<string | undefined> = [];
  const elsewhere = createServer((req, res) => {
    arrived.push(req.headers.authorization);
    forward(req, res, tokenHost, `/token${new URL(req.url ?? '/', 'http://x').search}`);
  });
  const proxy = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/token') {
      const location = to === 'same origin' ? `/moved/token${url.search}` : `http://${hostOf(elsewhere)}/token${url.search}`;
      return void res.writeHead(307, { location }).end();
    }
    if (url.pathname === '/moved/token') {
      arrived.push(req.headers.authorization);
      return forward(req, res, tokenHost, `/token${url.search}`);
    }
    forward(req, res, registry, req.url ?? '/', (h) => {
      const challenge = h['www-authenticate'];
      if (typeof challenge === 'string')
        h['www-authenticate'] = challenge.replace(`${tokenServerUrl}/token`, `http://${hostOf(proxy)}/token`);
      return h;
    });
  });
  for (const s of [elsewhere, proxy]) await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return {
    host: hostOf(proxy),
    arrived,
    stop: async () => {
      for (const s of [elsewhere, proxy]) {
        s.closeAllConnections();
        await new Promise((resolve) => s.close(resolve));
      }
    },
  };
}

function hostOf(server: Server): string {
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('htpasswd (Basic) auth', { skip: registryMissing }, () => {
  const reg = useRegistry({ auth: 'htpasswd' });

  it('pushes and reads with the right password', async () => {
    const keychain = staticKeychain(reg.host, { username: reg.username!, password: reg.password! });
    const store = storeAt(reg.host, 'auth/basic', { keychain });
    const made = await makeImage(store, { tag: 'v1' });
    assert.deepEqual((await store.getManifest('v1')).bytes, made.root.bytes);
  });

  it('says UNAUTHORIZED for a wrong password, without the password', async () => {
    const wrong = `${reg.password}-wrong-Secret`;
    const store = storeAt(reg.host, 'auth/basic', { keychain: staticKeychain(reg.host, { username: reg.username!, password: wrong }) });
    const err = await store.listTags().then(
      () => assert.fail('expected an error'),
      (e: unknown) => e,
    );
    assert.ok(isProvenantError(err, 'UNAUTHORIZED'), String(err));
    assert.match((err as ProvenantError).message, new RegExp(`for ${reg.host.replace(/\./g, '\\.')}`));
    assertNoSecret(err, wrong);
  });

  it('reads credentials from a Docker config.json (base64 auth)', async () => {
    const dir = await tempDir();
    const configPath = join(dir, 'config.json');
    const auth = Buffer.from(`${reg.username}:${reg.password}`).toString('base64');
    await writeFile(configPath, JSON.stringify({ auths: { [`http://${reg.host}`]: { auth } } }));
    const store = storeAt(reg.host, 'auth/config', { keychain: new DockerConfigKeychain({ configPath }) });
    const made = await makeImage(store, { tag: 'v1' });
    assert.equal((await store.resolve('v1'))?.digest, made.root.digest);
  });

  it('pushes blobs in parallel where reads are anonymous and writes need the password', async () => {
    const p = await anonymousReadsProxy(reg.host, { username: reg.username!, password: reg.password! });
    try {
      const store = storeAt(p.host, 'auth/anon-reads', {
        keychain: staticKeychain(p.host, { username: reg.username!, password: reg.password! }),
      });
      const blobs = [1, 2, 3, 4].map((seed) => pseudoRandomBytes(300, seed));
      // Every upload starts before any 401 has come back: all go out without credentials, and
      // each must be sent again with them, not reported as a wrong password.
      const results = await Promise.all(
        blobs.map((bytes) =>
          store.putBlob({
            descriptor: { mediaType: MediaType.OciLayerGzip, digest: digestOf(bytes), size: bytes.byteLength },
            open: async () =>
              (async function* () {
                yield bytes;
              })(),
          }),
        ),
      );
      assert.deepEqual(results, ['stored', 'stored', 'stored', 'stored']);
      assert.ok(p.writesWithCredentials() >= 4, `writes with credentials: ${p.writesWithCredentials()}`);
    } finally {
      await p.stop();
    }
  });

  it('says UNAUTHORIZED when no credentials are given', async () => {
    const store = storeAt(reg.host, 'auth/basic');
    await assert.rejects(store.resolve('v1'), (e) => isProvenantError(e, 'UNAUTHORIZED'));
  });

  // A final review: a registry whose front refuses the anonymous `GET /v2/` with 403 (anonymous
  // access off) before any token exchange. go-containerregistry (transport/ping.go) and
  // containers/image (docker_client.go) stop at such a ping with the registry's error, as this
  // client does; its hint said to log in, which cannot change an answer to a request that never
  // carries credentials (theirs neither).
  it('stops at a 403 to its anonymous GET /v2/, as skopeo and crane do: DENIED, its hint no advice to log in', async () => {
    const seen: string[] = [];
    const front = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      if (req.url === '/v2/') {
        return void res
          .writeHead(403, { 'content-type': 'application/json' })
          .end('{"errors":[{"code":"DENIED","message":"anonymous access is disabled"}]}');
      }
      forward(req, res, reg.host, req.url ?? '/');
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    try {
      const host = hostOf(front);
      for (const keychain of [undefined, staticKeychain(host, { username: reg.username!, password: reg.password! })]) {
        seen.length = 0;
        await assert.rejects(storeAt(host, 'auth/basic', { keychain }).resolve('v1'), (err: unknown) => {
          assert.ok(err instanceof RegistryDeniedError, String(err));
          assert.equal(err.message, `${host} denied ping: DENIED: anonymous access is disabled (HTTP 403)`);
          assert.match(err.hint ?? '', /refuses its API check \(GET \/v2\/\), which goes without credentials/);
          assert.doesNotMatch(err.hint ?? '', /docker login|repository name/);
          assert.equal(err.loginMayHelp, false);
          return true;
        });
        // Nothing went on past the ping, with or without credentials.
        assert.ok(seen.length > 0 && seen.every((r) => r === 'GET /v2/'), seen.join(', '));
      }
    } finally {
      front.closeAllConnections();
      await new Promise((resolve) => front.close(resolve));
    }
  });
});

describe('token (Bearer) auth', { skip: registryMissing }, () => {
  const reg = useRegistry({ auth: 'token' });

  it('pushes and pulls with tokens, and caches them', async () => {
    const keychain = staticKeychain(reg.host, { username: reg.username!, password: reg.password! });
    const logs: string[] = [];
    const logger = { debug: (m: string) => logs.push(m), info: (m: string) => logs.push(m), warn: (m: string) => logs.push(m) };
    const store = storeAt(reg.host, 'auth/token', { keychain, logger });
    const before = reg.tokenServer!.tokensIssued();
    const made = await makeImage(store, { tag: 'v1', layers: 3 });
    for (const m of made.manifests) assert.deepEqual((await store.getManifest(m.digest)).bytes, m.bytes);
    assert.deepEqual((await store.getManifest('v1')).bytes, made.root.bytes);
    assert.deepEqual(await store.listTags(), ['v1']);
    const issued = reg.tokenServer!.tokensIssued() - before;
    // 8 blobs, 3 manifests, reads: tens of requests, but only a token or two per scope set.
    assert.ok(issued >= 1 && issued <= 4, `tokens issued: ${issued}`);
    assert.ok(logs.length > 0);
    for (const line of logs) {
      assert.ok(!line.includes(reg.password!), `the password leaked into the log: ${line}`);
      assert.ok(!/bearer\s+\S{20,}/i.test(line), `a token leaked into the log: ${line}`);
    }
  });

  it('fetches a new token once the cached one expires', async () => {
    let now = Date.now();
    const keychain = staticKeychain(reg.host, { username: reg.username!, password: reg.password! });
    const store = storeAt(reg.host, 'auth/refresh', { keychain, clock: () => now });
    const made = await makeImage(store, { tag: 'v1' });
    const afterPush = reg.tokenServer!.tokensIssued();
    // Reads reuse a cached token (a push token covers pull, or one pull token is fetched once).
    for (let i = 0; i < 5; i++) await store.resolve('v1');
    const afterReads = reg.tokenServer!.tokensIssued();
    assert.ok(afterReads - afterPush <= 1, `reads issued ${afterReads - afterPush} tokens`);
    // An hour later every cached token has expired: the next request gets a fresh one and works.
    now += 3600_000;
    assert.deepEqual((await store.getManifest('v1')).bytes, made.root.bytes);
    assert.ok(reg.tokenServer!.tokensIssued() > afterReads, 'no new token after expiry');
  });

  it('resumes a chunked upload refused with 401 half-way (a token that expired) without sending wrong bytes', async () => {
    // The proxy forwards the 3rd PATCH without its token, so the registry itself answers 401.
    const p = await startFaultProxy(reg.host, { unauthorizedEvery: 3, match: (m) => m === 'PATCH', maxFaults: 1 });
    try {
      const keychain = staticKeychain(p.host, { username: reg.username!, password: reg.password! });
      const events: ProgressUpdate[] = [];
      // No retries: a renewed token is not a failed try.
      const store = storeAt(p.host, 'auth/expiry', { keychain, chunkSize: 1000, retry: { attempts: 1 } });
      const bytes = pseudoRandomBytes(5500, 11);
      const d: Descriptor = { mediaType: MediaType.OciLayerGzip, digest: digestOf(bytes), size: bytes.byteLength };
      const opened: number[] = [];
      const result = await store.putBlob(
        {
          descriptor: d,
          open: async (offset = 0) => {
            opened.push(offset);
            return (async function* () {
              for (let i = offset; i < bytes.byteLength; i += 700) yield bytes.subarray(i, Math.min(i + 700, bytes.byteLength));
            })();
          },
        },
        { onProgress: (e) => events.push(e) },
      );
      assert.equal(result, 'stored');
      assert.equal(p.stats().faults, 1);
      // Re-opened where the registry said the session stood: after the two chunks it took.
      assert.deepEqual(opened, [0, 2000]);
      assert.ok(events.some((e) => e.kind === 'retry' && /credentials renewed/.test(e.reason)));
      const direct = storeAt(reg.host, 'auth/expiry', {
        keychain: staticKeychain(reg.host, { username: reg.username!, password: reg.password! }),
      });
      assert.deepEqual(await readAll(await direct.readBlob(d)), bytes);
    } finally {
      await p.stop();
    }
  });

  it('gives up with UNAUTHORIZED when a PATCH is refused again right after the token was renewed', async () => {
    const p = await startFaultProxy(reg.host, { unauthorizedEvery: 1, match: (m) => m === 'PATCH' });
    try {
      const keychain = staticKeychain(p.host, { username: reg.username!, password: reg.password! });
      const store = storeAt(p.host, 'auth/refused', { keychain, chunkSize: 1000 });
      const bytes = pseudoRandomBytes(2500, 12);
      const d: Descriptor = { mediaType: MediaType.OciLayerGzip, digest: digestOf(bytes), size: bytes.byteLength };
      await assert.rejects(
        store.putBlob({
          descriptor: d,
          open: async (offset = 0) =>
            (async function* () {
              yield bytes.subarray(offset);
            })(),
        }),
        (e) => isProvenantError(e, 'UNAUTHORIZED'),
      );
      // The first refusal renews the token and resumes; the second ends it (no loop, no retries).
      assert.equal(p.log().filter((e) => e.method === 'PATCH').length, 2);
    } finally {
      await p.stop();
    }
  });

  it('reads in parallel from a registry whose /v2/ answers anonymously and whose repositories need a token', async () => {
    const keychain = staticKeychain(reg.host, { username: reg.username!, password: reg.password! });
    const made = await makeImage(storeAt(reg.host, 'auth/anon-ping', { keychain }), { tag: 'v1', layers: 3 });
    // The ping is answered 200 by the proxy: every read goes out without a token first.
    const p = await anonymousReadsProxy(reg.host, { pingOnly: true });
    try {
      const store = storeAt(p.host, 'auth/anon-ping', {
        keychain: staticKeychain(p.host, { username: reg.username!, password: reg.password! }),
      });
      const read = await Promise.all(made.manifests.map((m) => store.getManifest(m.digest)));
      assert.deepEqual(
        read.map((m) => m.digest),
        made.manifests.map((m) => m.digest),
      );
    } finally {
      await p.stop();
    }
  });

  it('sends the password on through a token server redirect on its own origin, never to another origin', async () => {
    const creds = { username: reg.username!, password: reg.password! };
    const made = await makeImage(storeAt(reg.host, 'auth/moved-token', { keychain: staticKeychain(reg.host, creds) }), { tag: 'v1' });
    const same = await movedTokenEndpoint(reg.host, reg.tokenServer!.url, 'same origin');
    try {
      const store = storeAt(same.host, 'auth/moved-token', { keychain: staticKeychain(same.host, creds) });
      assert.deepEqual((await store.getManifest('v1')).bytes, made.root.bytes);
      assert.ok(same.arrived.length > 0 && same.arrived.every((a) => a?.startsWith('Basic ')), `arrived: ${same.arrived}`);
    } finally {
      await same.stop();
    }
    const other = await movedTokenEndpoint(reg.host, reg.tokenServer!.url, 'other origin');
    try {
      const store = storeAt(other.host, 'auth/moved-token', { keychain: staticKeychain(other.host, creds) });
      // The token server elsewhere grants an anonymous token nothing, and the registry refuses it.
      await assert.rejects(store.getManifest('v1'), (e) => isProvenantError(e, 'UNAUTHORIZED') || isProvenantError(e, 'DENIED'));
      assert.ok(other.arrived.length > 0 && other.arrived.every((a) => a === undefined), 'the password went to another origin');
    } finally {
      await other.stop();
    }
  });

  it('says UNAUTHORIZED for a wrong password, without the password', async () => {
    const wrong = `${reg.password}-nope-Secret`;
    const store = storeAt(reg.host, 'auth/token', { keychain: staticKeychain(reg.host, { username: reg.username!, password: wrong }) });
    const err = await store.resolve('v1').then(
      () => assert.fail('expected an error'),
      (e: unknown) => e,
    );
    assert.ok(isProvenantError(err, 'UNAUTHORIZED'), String(err));
    assertNoSecret(err, wrong);
  });
});
