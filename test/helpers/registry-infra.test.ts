/**
 * Proves the integration-test infrastructure against the real registry, with nothing but
 * fetch (and skopeo as an independent client): a plain, an htpasswd and a token-auth
 * docker-registry, and the fault proxy.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { digestOf } from '../../src/oci/digest.ts';
import { type FaultProxy, startFaultProxy } from './fault-proxy.ts';
import { makeLayer } from './images.ts';
import { registryMissing, startRegistry, useRegistry } from './registry.ts';
import { useTempDir } from './temp.ts';
import { parseScopes } from './token-server.ts';

const tempDir = useTempDir('infra');

const execFileAsync = promisify(execFile);

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

function basic(user: string, pass: string): string {
  return `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
}

const skopeoMissing: string | false = spawnSync('skopeo', ['--version']).status === 0 ? false : 'skopeo not installed';

/** A small real image: a gzipped tar layer made by GNU tar, its config and an OCI manifest. */
function makeImage(seed: string): { layer: Uint8Array; config: Uint8Array; manifest: Uint8Array } {
  const { tar, gz: layer } = makeLayer('hello.txt', new TextEncoder().encode(`hello from ${seed}\n`));
  const config = new TextEncoder().encode(
    JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [digestOf(tar)] } }),
  );
  const manifest = new TextEncoder().encode(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.byteLength },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(layer), size: layer.byteLength }],
    }),
  );
  return { layer, config, manifest };
}

/** Monolithic blob upload: POST, then PUT to the Location with `?digest=`. */
async function pushBlob(base: string, repo: string, bytes: Uint8Array, headers: Record<string, string> = {}): Promise<string> {
  const digest = digestOf(bytes);
  const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers });
  await start.arrayBuffer();
  assert.equal(start.status, 202, `POST upload: ${start.status}`);
  const location = new URL(start.headers.get('location')!, base);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, {
    method: 'PUT',
    headers: { ...headers, 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  await put.arrayBuffer();
  assert.equal(put.status, 201, `PUT upload: ${put.status}`);
  assert.equal(put.headers.get('docker-content-digest'), digest);
  return digest;
}

/** Pushes a whole image and reads it back; returns the manifest digest. */
async function pushAndPull(base: string, repo: string, tag: string, headers: Record<string, string> = {}): Promise<string> {
  const image = makeImage(`${repo}:${tag}`);
  await pushBlob(base, repo, image.layer, headers);
  await pushBlob(base, repo, image.config, headers);
  const put = await fetch(`${base}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { ...headers, 'content-type': OCI_MANIFEST },
    body: image.manifest,
  });
  assert.equal(put.status, 201, `PUT manifest: ${put.status} ${await put.text()}`);
  const digest = digestOf(image.manifest);
  assert.equal(put.headers.get('docker-content-digest'), digest);

  // distribution 2.8 answers 404 to an OCI manifest without an OCI Accept header.
  const get = await fetch(`${base}/v2/${repo}/manifests/${tag}`, { headers: { ...headers, accept: OCI_MANIFEST } });
  assert.equal(get.status, 200);
  assert.equal(get.headers.get('content-type'), OCI_MANIFEST);
  assert.deepEqual(new Uint8Array(await get.arrayBuffer()), image.manifest);

  const blob = await fetch(`${base}/v2/${repo}/blobs/${digestOf(image.layer)}`, { headers });
  assert.equal(blob.status, 200);
  assert.deepEqual(new Uint8Array(await blob.arrayBuffer()), image.layer);
  return digest;
}

/** Writes an OCI image layout holding one image tagged `tag`, for skopeo to read. */
function writeLayout(dir: string, tag: string): string {
  const image = makeImage(`layout:${tag}`);
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  for (const bytes of [image.layer, image.config, image.manifest]) {
    writeFileSync(join(dir, 'blobs', 'sha256', digestOf(bytes).slice('sha256:'.length)), bytes);
  }
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: OCI_MANIFEST,
        digest: digestOf(image.manifest),
        size: image.manifest.byteLength,
        annotations: { 'org.opencontainers.image.ref.name': tag },
      },
    ],
  };
  writeFileSync(join(dir, 'index.json'), JSON.stringify(index));
  return digestOf(image.manifest);
}

/**
 * Runs skopeo asynchronously: the token server lives in this process, so a synchronous
 * spawn would block the very event loop that has to answer skopeo's token request.
 */
async function skopeoCopy(layoutDir: string, tag: string, dest: string, creds: string): Promise<void> {
  const authfile = join(layoutDir, '..', 'auth.json');
  writeFileSync(authfile, '{}');
  const args = ['--insecure-policy', 'copy', '--authfile', authfile, '--dest-tls-verify=false', '--dest-creds', creds];
  try {
    await execFileAsync('skopeo', [...args, `oci:${layoutDir}:${tag}`, `docker://${dest}`], { timeout: 60_000 });
  } catch (err) {
    assert.fail(`skopeo copy failed: ${(err as { stderr?: string }).stderr ?? String(err)}`);
  }
}

/** Parses `Bearer realm="...",service="...",scope="..."`. */
function parseChallenge(header: string | null): { scheme: string; params: Record<string, string> } {
  assert.ok(header, 'a WWW-Authenticate challenge');
  const space = header.indexOf(' ');
  const params: Record<string, string> = {};
  for (const m of header.slice(space + 1).matchAll(/(\w+)="([^"]*)"/g)) params[m[1]!] = m[2]!;
  return { scheme: header.slice(0, space), params };
}

async function fetchToken(realm: string, service: string, scopes: string[], authorization?: string): Promise<Response> {
  const url = new URL(realm);
  url.searchParams.set('service', service);
  for (const s of scopes) url.searchParams.append('scope', s);
  return fetch(url, authorization === undefined ? {} : { headers: { authorization } });
}

function decodeJwt(token: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const [h, c] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h!, 'base64url').toString('utf8')) as Record<string, unknown>,
    claims: JSON.parse(Buffer.from(c!, 'base64url').toString('utf8')) as Record<string, unknown>,
  };
}

describe('plain registry', { skip: registryMissing }, () => {
  const reg = useRegistry();

  test('answers /v2/ with 200 on 127.0.0.1', async () => {
    assert.match(reg.host, /^127\.0\.0\.1:\d+$/);
    assert.equal(reg.url, `http://${reg.host}`);
    assert.equal(reg.username, undefined);
    const res = await fetch(`${reg.url}/v2/`);
    await res.arrayBuffer();
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
  });

  test('round-trips a blob upload and a manifest, stored under storageDir', async () => {
    await pushAndPull(reg.url, 'provenant/plain', 'v1');
    assert.ok(existsSync(join(reg.storageDir, 'docker', 'registry', 'v2', 'repositories', 'provenant', 'plain')));
    const tags = await fetch(`${reg.url}/v2/provenant/plain/tags/list`);
    assert.deepEqual(await tags.json(), { name: 'provenant/plain', tags: ['v1'] });
  });

  test('deletes are enabled', async () => {
    const digest = await pushAndPull(reg.url, 'provenant/deletable', 'v1');
    const del = await fetch(`${reg.url}/v2/provenant/deletable/manifests/${digest}`, { method: 'DELETE' });
    await del.arrayBuffer();
    assert.equal(del.status, 202);
  });

  test('stop() ends the registry and removes its folder', async () => {
    const other = await startRegistry();
    await other.stop();
    await other.stop(); // idempotent
    assert.equal(existsSync(other.storageDir), false);
    await assert.rejects(fetch(`${other.url}/v2/`));
  });
});

describe('htpasswd registry', { skip: registryMissing }, () => {
  const reg = useRegistry({ auth: 'htpasswd' });

  test('401 without credentials, 200 with them, 401 with a wrong password', async () => {
    assert.equal(reg.username, 'provenant');
    assert.ok(reg.password && reg.password.length >= 16);
    const anon = await fetch(`${reg.url}/v2/`);
    await anon.arrayBuffer();
    assert.equal(anon.status, 401);
    assert.equal(anon.headers.get('www-authenticate'), 'Basic realm="basic-realm"');

    const ok = await fetch(`${reg.url}/v2/`, { headers: { authorization: basic(reg.username, reg.password) } });
    await ok.arrayBuffer();
    assert.equal(ok.status, 200);

    const wrong = await fetch(`${reg.url}/v2/`, { headers: { authorization: basic(reg.username, `${reg.password}x`) } });
    await wrong.arrayBuffer();
    assert.equal(wrong.status, 401);
  });

  test('push and pull with Basic credentials', async () => {
    await pushAndPull(reg.url, 'provenant/basic', 'v1', { authorization: basic(reg.username!, reg.password!) });
  });

  test('skopeo, an independent client, pushes to it', { skip: skopeoMissing }, async () => {
    const work = await tempDir();
    const layout = join(work, 'layout');
    const digest = writeLayout(layout, 'v1');
    await skopeoCopy(layout, 'v1', `${reg.host}/provenant/skopeo:v1`, `${reg.username}:${reg.password}`);
    const res = await fetch(`${reg.url}/v2/provenant/skopeo/manifests/v1`, {
      method: 'HEAD',
      headers: { authorization: basic(reg.username!, reg.password!), accept: OCI_MANIFEST },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), digest);
  });
});

describe('token-auth registry', { skip: registryMissing }, () => {
  const reg = useRegistry({ auth: 'token' });
  let realm: string;
  let service: string;

  test('/v2/ challenges with Bearer realm and service', async () => {
    assert.ok(reg.tokenServer);
    const res = await fetch(`${reg.url}/v2/`);
    await res.arrayBuffer();
    assert.equal(res.status, 401);
    const challenge = parseChallenge(res.headers.get('www-authenticate'));
    assert.equal(challenge.scheme, 'Bearer');
    assert.equal(challenge.params.realm, `${reg.tokenServer.url}/token`);
    assert.equal(challenge.params.service, 'test-registry');
    realm = challenge.params.realm!;
    service = challenge.params.service!;
  });

  test('a token for the repository allows push and pull', async () => {
    const before = reg.tokenServer!.tokensIssued();
    const res = await fetchToken(realm, service, ['repository:provenant/tok:pull,push'], basic(reg.username!, reg.password!));
    assert.equal(res.status, 200);
    const body = (await res.json()) as { token: string; access_token: string; expires_in: number; issued_at: string };
    assert.equal(body.token, body.access_token);
    assert.equal(body.expires_in, 60);
    assert.ok(!Number.isNaN(Date.parse(body.issued_at)));
    assert.equal(reg.tokenServer!.tokensIssued(), before + 1);

    const { header, claims } = decodeJwt(body.token);
    assert.equal(header.alg, 'ES256');
    assert.ok(Array.isArray(header.x5c) && header.x5c.length === 1);
    assert.equal(claims.iss, 'provenant-test-issuer');
    assert.equal(claims.aud, 'test-registry');
    assert.equal(claims.sub, 'provenant');
    assert.equal((claims.exp as number) - (claims.iat as number), 60);
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'provenant/tok', actions: ['pull', 'push'] }]);

    await pushAndPull(reg.url, 'provenant/tok', 'v1', { authorization: `Bearer ${body.token}` });

    // Without a token the same repository is challenged with its scope.
    const anon = await fetch(`${reg.url}/v2/provenant/tok/manifests/v1`, { headers: { accept: OCI_MANIFEST } });
    await anon.arrayBuffer();
    assert.equal(anon.status, 401);
    assert.equal(parseChallenge(anon.headers.get('www-authenticate')).params.scope, 'repository:provenant/tok:pull');
  });

  test("a token for another repository's scope is refused", async () => {
    const res = await fetchToken(realm, service, ['repository:provenant/other:pull,push'], basic(reg.username!, reg.password!));
    const { token } = (await res.json()) as { token: string };
    const get = await fetch(`${reg.url}/v2/provenant/tok/manifests/v1`, {
      headers: { authorization: `Bearer ${token}`, accept: OCI_MANIFEST },
    });
    await get.arrayBuffer();
    assert.ok(get.status === 401 || get.status === 403, `status ${get.status}`);
    const upload = await fetch(`${reg.url}/v2/provenant/tok/blobs/uploads/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    await upload.arrayBuffer();
    assert.ok(upload.status === 401 || upload.status === 403, `status ${upload.status}`);
  });

  test('a pull-only token cannot push', async () => {
    const res = await fetchToken(realm, service, ['repository:provenant/tok:pull'], basic(reg.username!, reg.password!));
    const { token } = (await res.json()) as { token: string };
    const pull = await fetch(`${reg.url}/v2/provenant/tok/manifests/v1`, {
      headers: { authorization: `Bearer ${token}`, accept: OCI_MANIFEST },
    });
    await pull.arrayBuffer();
    assert.equal(pull.status, 200);
    const push = await fetch(`${reg.url}/v2/provenant/tok/blobs/uploads/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    await push.arrayBuffer();
    assert.equal(push.status, 401);
  });

  test('several scope parameters give one token for several repositories', async () => {
    const res = await fetchToken(
      realm,
      service,
      ['repository:provenant/tok:pull', 'repository:provenant/multi:pull,push'],
      basic(reg.username!, reg.password!),
    );
    const { token } = (await res.json()) as { token: string };
    await pushAndPull(reg.url, 'provenant/multi', 'v1', { authorization: `Bearer ${token}` });
    const pull = await fetch(`${reg.url}/v2/provenant/tok/manifests/v1`, {
      headers: { authorization: `Bearer ${token}`, accept: OCI_MANIFEST },
    });
    await pull.arrayBuffer();
    assert.equal(pull.status, 200);
  });

  test('wrong credentials get 401 from the token server; anonymous gets a token with no access', async () => {
    const wrong = await fetchToken(realm, service, ['repository:provenant/tok:pull'], basic(reg.username!, 'nope'));
    await wrong.arrayBuffer();
    assert.equal(wrong.status, 401);

    const anon = await fetchToken(realm, service, ['repository:provenant/tok:pull']);
    assert.equal(anon.status, 200);
    const { token } = (await anon.json()) as { token: string };
    assert.deepEqual(decodeJwt(token).claims.access, []);
    const base = await fetch(`${reg.url}/v2/`, { headers: { authorization: `Bearer ${token}` } });
    await base.arrayBuffer();
    assert.equal(base.status, 200, 'a valid token with no access still opens /v2/');
    const pull = await fetch(`${reg.url}/v2/provenant/tok/manifests/v1`, {
      headers: { authorization: `Bearer ${token}`, accept: OCI_MANIFEST },
    });
    await pull.arrayBuffer();
    assert.equal(pull.status, 401);
  });

  test('the OAuth2 POST form and refresh tokens work', async () => {
    const form = (fields: Record<string, string>): Promise<Response> =>
      fetch(realm, { method: 'POST', body: new URLSearchParams({ service, ...fields }) });
    const first = await form({
      grant_type: 'password',
      username: reg.username!,
      password: reg.password!,
      access_type: 'offline',
      client_id: 'provenant-test',
      scope: 'repository:provenant/tok:pull',
    });
    assert.equal(first.status, 200);
    const { refresh_token } = (await first.json()) as { refresh_token: string };
    assert.ok(refresh_token);
    const second = await form({
      grant_type: 'refresh_token',
      refresh_token,
      client_id: 'provenant-test',
      scope: 'repository:provenant/tok:pull',
    });
    assert.equal(second.status, 200);
    const { access_token } = (await second.json()) as { access_token: string };
    const pull = await fetch(`${reg.url}/v2/provenant/tok/manifests/v1`, {
      headers: { authorization: `Bearer ${access_token}`, accept: OCI_MANIFEST },
    });
    await pull.arrayBuffer();
    assert.equal(pull.status, 200);
    const bad = await form({ grant_type: 'password', username: reg.username!, password: 'nope' });
    await bad.arrayBuffer();
    assert.equal(bad.status, 401);
  });

  test('skopeo, an independent client, completes the token flow and pushes', { skip: skopeoMissing }, async () => {
    const issued = reg.tokenServer!.tokensIssued();
    const work = await tempDir();
    const layout = join(work, 'layout');
    const digest = writeLayout(layout, 'v1');
    await skopeoCopy(layout, 'v1', `${reg.host}/provenant/skopeo-token:v1`, `${reg.username}:${reg.password}`);
    assert.ok(reg.tokenServer!.tokensIssued() > issued);
    const res = await fetchToken(realm, service, ['repository:provenant/skopeo-token:pull'], basic(reg.username!, reg.password!));
    const { token } = (await res.json()) as { token: string };
    const head = await fetch(`${reg.url}/v2/provenant/skopeo-token/manifests/v1`, {
      method: 'HEAD',
      headers: { authorization: `Bearer ${token}`, accept: OCI_MANIFEST },
    });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('docker-content-digest'), digest);
  });
});

describe('scope parsing', () => {
  test('splits type, name (which may hold a port) and actions', () => {
    assert.deepEqual(
      parseScopes(['repository:a/b:pull,push', 'repository:localhost:5000/c:pull registry:catalog:*', 'repository(plugin):d:pull', 'junk']),
      [
        { type: 'repository', name: 'a/b', actions: ['pull', 'push'] },
        { type: 'repository', name: 'localhost:5000/c', actions: ['pull'] },
        { type: 'registry', name: 'catalog', actions: ['*'] },
        { type: 'repository', name: 'd', actions: ['pull'] },
      ],
    );
  });
});

describe('fault proxy', { skip: registryMissing }, () => {
  const reg = useRegistry();
  const proxies: FaultProxy[] = [];
  after(async () => {
    await Promise.all(proxies.map((p) => p.stop()));
  });
  async function proxy(plan: Parameters<typeof startFaultProxy>[1]): Promise<FaultProxy> {
    const p = await startFaultProxy(reg.host, plan);
    proxies.push(p);
    return p;
  }
  async function statuses(url: string, n: number, init: RequestInit = {}): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const res = await fetch(url, init);
      await res.arrayBuffer();
      out.push(res.status);
    }
    return out;
  }

  test('passes requests through, rewriting Location to the proxy, streaming a large upload', async () => {
    const p = await proxy({});
    assert.match(p.host, /^127\.0\.0\.1:\d+$/);
    const start = await fetch(`${p.url}/v2/provenant/big/blobs/uploads/`, { method: 'POST' });
    await start.arrayBuffer();
    assert.equal(start.status, 202);
    const location = new URL(start.headers.get('location')!, p.url);
    assert.equal(location.host, p.host, `Location ${location} points at the proxy`);

    // 64 MiB generated on the fly and sent chunked, so neither side can hold it whole by accident.
    const chunk = new Uint8Array(1 << 20);
    const hash = createHash('sha256');
    const total = 64;
    for (let i = 0; i < total; i++) {
      chunk.fill(i);
      hash.update(chunk);
    }
    const digest = `sha256:${hash.digest('hex')}`;
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === total) return controller.close();
        controller.enqueue(new Uint8Array(1 << 20).fill(sent));
        sent++;
      },
    });
    location.searchParams.set('digest', digest);
    const put = await fetch(location, { method: 'PUT', body, duplex: 'half' } as RequestInit);
    await put.arrayBuffer();
    assert.equal(put.status, 201);
    assert.equal(new URL(put.headers.get('location')!, p.url).host, p.host);

    const head = await fetch(`${reg.url}/v2/provenant/big/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(total << 20));
    assert.deepEqual(p.stats(), { requests: 2, matched: 2, faults: 0 });
  });

  test('every Nth matching request answers 500', async () => {
    const p = await proxy({ status500Every: 2 });
    assert.deepEqual(await statuses(`${p.url}/v2/`, 4), [200, 500, 200, 500]);
    assert.deepEqual(p.stats(), { requests: 4, matched: 4, faults: 2 });
  });

  test('every Nth matching request answers 429 with Retry-After', async () => {
    const p = await proxy({ status429Every: 3, retryAfterSeconds: 7 });
    assert.deepEqual(await statuses(`${p.url}/v2/`, 3), [200, 200, 429]);
    const res = await fetch(`${p.url}/v2/`);
    await res.arrayBuffer();
    assert.equal(res.status, 200);
    const p2 = await proxy({ status429Every: 1 });
    const limited = await fetch(`${p2.url}/v2/`);
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '1');
    assert.deepEqual(((await limited.json()) as { errors: { code: string }[] }).errors[0]?.code, 'TOOMANYREQUESTS');
    assert.equal(p.stats().faults, 1);
  });

  test('only matching requests count, and maxFaults caps the faults', async () => {
    const p = await proxy({ status500Every: 1, maxFaults: 2, match: (method, path) => method === 'GET' && path === '/v2/' });
    assert.deepEqual(await statuses(`${p.url}/v2/`, 1, { method: 'HEAD' }), [200]);
    assert.deepEqual(await statuses(`${p.url}/v2/`, 4), [500, 500, 200, 200]);
    assert.deepEqual(p.stats(), { requests: 5, matched: 4, faults: 2 });
  });

  test('drops the connection mid-body, or before responding when there is no body', async () => {
    const image = makeImage('drop');
    const digest = await pushBlob(reg.url, 'provenant/drop', image.layer);
    const p = await proxy({ dropEvery: 2, match: (_m, path) => path.includes('/blobs/') });

    // 1st matching: fine.
    const ok = await fetch(`${p.url}/v2/provenant/drop/blobs/${digest}`);
    assert.deepEqual(new Uint8Array(await ok.arrayBuffer()), image.layer);
    // 2nd: headers arrive, then the body stops short.
    const cut = await fetch(`${p.url}/v2/provenant/drop/blobs/${digest}`);
    assert.equal(cut.status, 200);
    await assert.rejects(cut.arrayBuffer());
    // 3rd fine, 4th is a HEAD (no body): the connection goes before any response.
    await statuses(`${p.url}/v2/provenant/drop/blobs/${digest}`, 1, { method: 'HEAD' });
    await assert.rejects(fetch(`${p.url}/v2/provenant/drop/blobs/${digest}`, { method: 'HEAD' }));
    // Unmatched requests pass.
    assert.deepEqual(await statuses(`${p.url}/v2/`, 1), [200]);
    assert.deepEqual(p.stats(), { requests: 5, matched: 4, faults: 2 });
  });
});
