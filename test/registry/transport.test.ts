// Transport rules with in-process fakes for faults the real registry cannot produce, and against the real one.
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { Credentials } from '../../src/auth/credentials.ts';
import { StaticKeychain } from '../../src/auth/keychain.ts';
import { isProvenantError } from '../../src/errors.ts';
import type { BlobSource, Logger, ProgressUpdate } from '../../src/io/types.ts';
import { collect } from '../../src/io/verify.ts';
import { encodeJson } from '../../src/oci/content.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import type { Descriptor } from '../../src/oci/types.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { RegistryStore } from '../../src/store/registry.ts';
import { startFaultProxy } from '../helpers/fault-proxy.ts';
import { makeImage, pseudoRandomBytes } from '../helpers/images.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { useTempDir } from '../helpers/temp.ts';
import { opensslMissing, selfSignedCertificate } from '../helpers/tls.ts';
import { FAST_RETRY, readAll } from './common.ts';

const tempDir = useTempDir('transport');

// The real registry cannot redirect to another host, serve wrong bytes, lie in
// Docker-Content-Digest, ignore Range, or speak the referrers API; these small in-process
// servers do, one fault each (STYLE.md: a fake only for what the real one cannot produce).

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

const servers: Server[] = [];
after(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function fakeServer(
  handler: Handler,
): Promise<{ host: string; requests: Array<{ method: string; url: string; headers: IncomingMessage['headers'] }> }> {
  const requests: Array<{ method: string; url: string; headers: IncomingMessage['headers'] }> = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    handler(req, res, Buffer.concat(chunks));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, debug: (m) => lines.push(m), info: (m) => lines.push(m), warn: (m) => lines.push(m) };
}

const BASIC = `Basic ${Buffer.from('user:pass').toString('base64')}`;

/**
 * One upload session kept as distribution keeps it (PATCH appends at the Range it reported, a
 * GET says the Range), except that the closing PUT commits whatever was sent without hashing it,
 * as a registry that trusts the client's digest would. `onPatch` may fail the nth PATCH after
 * keeping `keep` of its bytes: 'status' answers 500, 'drop' closes the connection unanswered.
 */
async function lazyUploadRegistry(onPatch: (n: number) => { fault: 'status' | 'drop'; keep: number } | undefined = () => undefined) {
  let stored = Buffer.alloc(0);
  let patches = 0;
  let committed: Buffer | undefined;
  const range = () => `0-${Math.max(0, stored.length - 1)}`;
  const registry = await fakeServer((req, res, body) => {
    if (req.url === '/v2/') return void res.writeHead(200).end();
    if (req.method === 'HEAD') return void res.writeHead(404).end();
    const session = { location: '/v2/a/b/blobs/uploads/u1', range: range() };
    if (req.method === 'POST') {
      stored = Buffer.alloc(0);
      return void res.writeHead(202, { ...session, range: '0-0' }).end();
    }
    if (req.method === 'GET') return void res.writeHead(204, session).end();
    if (req.method === 'PATCH') {
      patches++;
      const start = Number(/^(\d+)-/.exec(req.headers['content-range'] ?? '')?.[1]);
      if (start !== stored.length) return void res.writeHead(416, session).end();
      const fault = onPatch(patches);
      stored = Buffer.concat([stored, body.subarray(0, fault?.keep ?? body.length)]);
      if (fault?.fault === 'drop') return void res.destroy();
      if (fault?.fault === 'status') return void res.writeHead(500).end();
      return void res.writeHead(202, { ...session, range: range() }).end();
    }
    committed = stored;
    const digest = new URL(req.url ?? '', 'http://x').searchParams.get('digest') ?? '';
    res.writeHead(201, { 'docker-content-digest': digest }).end();
  });
  return { ...registry, committed: () => committed, stored: () => stored };
}

/** A BlobSource of `bytes` under `d` that does not check itself, in 700-byte pieces; it records the offsets it was opened at. */
function uncheckedSource(bytes: Uint8Array, d: Descriptor): BlobSource & { opened: number[] } {
  const opened: number[] = [];
  return {
    descriptor: d,
    opened,
    open: async (offset = 0) => {
      opened.push(offset);
      return (async function* () {
        for (let i = offset; i < bytes.byteLength; i += 700) yield bytes.subarray(i, Math.min(i + 700, bytes.byteLength));
      })();
    },
  };
}

describe('transport rules (in-process fakes for faults the real registry cannot produce)', () => {
  it('follows a blob redirect to another host without the Authorization header, and verifies the bytes', async () => {
    const bytes = pseudoRandomBytes(100_000, 7);
    const d: Descriptor = { mediaType: MediaType.OciLayerGzip, digest: digestOf(bytes), size: bytes.byteLength };
    const storage = await fakeServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(bytes.byteLength) });
      res.end(bytes);
    });
    const registry = await fakeServer((req, res) => {
      if (req.headers.authorization !== BASIC) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"' });
        res.end();
        return;
      }
      res.writeHead(307, { location: `http://${storage.host}/blob-store/${d.digest}?X-Signature=abc` });
      res.end();
    });
    const client = new RegistryClient(registry.host, {
      keychain: new StaticKeychain({ username: 'user', password: 'pass' }),
      retry: FAST_RETRY,
    });
    assert.deepEqual(await readAll(await client.readBlob('a/b', d)), bytes);
    assert.equal(registry.requests.at(-1)?.headers.authorization, BASIC);
    assert.equal(storage.requests.length, 1);
    assert.equal(storage.requests[0]?.headers.authorization, undefined, 'the credentials followed the redirect');
  });

  // A final review: a redirect back to the registry from another host got the credentials again.
  it('sends no credentials to the registry on a redirect back from another host, which chose that URL', async () => {
    let registryHost = '';
    const other = await fakeServer((_req, res) => void res.writeHead(302, { location: `http://${registryHost}/v2/a/b/tags/back` }).end());
    const registry = await fakeServer((req, res) => {
      if (req.url === '/v2/a/b/tags/back') {
        return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"name":"a/b","tags":["x"]}');
      }
      if (req.headers.authorization !== BASIC) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
      if (req.url?.startsWith('/v2/a/b/tags/list')) return void res.writeHead(307, { location: `http://${other.host}/away` }).end();
      res.writeHead(200).end();
    });
    registryHost = registry.host;
    const client = new RegistryClient(registry.host, {
      keychain: new StaticKeychain({ username: 'user', password: 'pass' }),
      retry: FAST_RETRY,
    });
    assert.deepEqual(await client.listTags('a/b'), ['x']);
    const list = registry.requests.find((r) => r.url.startsWith('/v2/a/b/tags/list') && r.headers.authorization === BASIC);
    assert.ok(list !== undefined, 'the registry itself got the credentials');
    assert.equal(other.requests[0]?.headers.authorization, undefined);
    const back = registry.requests.find((r) => r.url === '/v2/a/b/tags/back');
    assert.equal(back?.headers.authorization, undefined, 'the credentials came back with the redirect');
  });

  it("takes no challenge from where a redirect led: the registry's credentials never reach another host's token server", async () => {
    const bytes = pseudoRandomBytes(1000, 9);
    const d: Descriptor = { mediaType: MediaType.OciLayerGzip, digest: digestOf(bytes), size: bytes.byteLength };
    // Another origin that asks for credentials, naming a token server of its own.
    const tokens = await fakeServer((_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"t"}'));
    const storage = await fakeServer((_req, res) => {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${tokens.host}/token",service="storage"` });
      res.end();
    });
    // A registry that needs no credentials for its API, and redirects blobs there.
    const registry = await fakeServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      res.writeHead(307, { location: `http://${storage.host}/blob` });
      res.end();
    });
    // And one whose API itself is redirected there.
    const moved = await fakeServer((_req, res) => void res.writeHead(307, { location: `http://${storage.host}/v2/` }).end());
    for (const host of [registry.host, moved.host]) {
      const client = new RegistryClient(host, { keychain: new StaticKeychain({ username: 'user', password: 'pass' }), retry: FAST_RETRY });
      await assert.rejects(
        async () => readAll(await client.readBlob('a/b', d)),
        (e) => isProvenantError(e, 'REGISTRY') && /asks for credentials/.test(e.message),
      );
    }
    assert.equal(tokens.requests.length, 0, 'the credentials went to the token server another host named');
    assert.ok(storage.requests.every((r) => r.headers.authorization === undefined));
  });

  it('gives up on a registry that accepts the connection and goes silent, before the answer or in the body', async () => {
    const bytes = pseudoRandomBytes(1000, 10);
    const d: Descriptor = { mediaType: MediaType.OciLayerGzip, digest: digestOf(bytes), size: bytes.byteLength };
    const silent = await fakeServer(() => {});
    const stalls = await fakeServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      res.writeHead(200, { 'content-length': String(bytes.byteLength) });
      res.write(bytes.subarray(0, 10));
    });
    for (const host of [silent.host, stalls.host]) {
      const client = new RegistryClient(host, { retry: FAST_RETRY, idleTimeoutMs: 200 });
      await assert.rejects(
        async () => readAll(await client.readBlob('a/b', d)),
        (e) => isProvenantError(e, 'NETWORK'),
      );
    }
    // Each silence was retried, as a dropped connection is.
    assert.ok(silent.requests.length > 1);
  });

  it('stops reading a tag list whose pages, each within bounds, would add up without end', async () => {
    // Pages of 2 MiB of tags, each naming a next one.
    const page = Buffer.from(
      JSON.stringify({ name: 'a/b', tags: Array.from({ length: 40_000 }, (_, i) => `tag-${String(i).padStart(40, '0')}`) }),
    );
    let served = 0;
    const registry = await fakeServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      served++;
      res.writeHead(200, { 'content-type': 'application/json', link: `</v2/a/b/tags/list?n=100&last=${served}>; rel="next"` });
      res.end(page);
    });
    const client = new RegistryClient(registry.host, { retry: FAST_RETRY });
    await assert.rejects(
      client.listTags('a/b'),
      (e) => isProvenantError(e, 'REGISTRY') && /larger than 64 MiB over its pages/.test(e.message),
    );
    assert.ok(served * page.length > 60 * 1024 * 1024 && served * page.length < 70 * 1024 * 1024, `${served} pages`);
  });

  it('refuses a blob whose bytes are not the digest asked for, and a tag whose bytes contradict Docker-Content-Digest', async () => {
    const bytes = pseudoRandomBytes(5000, 8);
    const d: Descriptor = { mediaType: 'application/octet-stream', digest: digestOf(bytes), size: bytes.byteLength };
    const wrong = Buffer.from(bytes);
    wrong[10] = (wrong[10]! + 1) % 256;
    const manifest = encodeJson({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: d, layers: [] });
    const registry = await fakeServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      if (req.url?.includes('/blobs/')) return void res.writeHead(200, { 'content-length': String(wrong.length) }).end(wrong);
      res.writeHead(200, { 'content-type': MediaType.OciManifest, 'docker-content-digest': digestOf('something else') });
      res.end(manifest);
    });
    const client = new RegistryClient(registry.host, { retry: FAST_RETRY });
    await assert.rejects(readAll(await client.readBlob('a/b', d)), (e) => isProvenantError(e, 'DIGEST_MISMATCH'));
    await assert.rejects(client.getManifest('a/b', 'latest'), (e) => isProvenantError(e, 'DIGEST_MISMATCH'));
    await assert.rejects(client.getManifest('a/b', digestOf('asked for this')), (e) => isProvenantError(e, 'DIGEST_MISMATCH'));
  });

  it('refuses a manifest body over 4 MiB', async () => {
    const big = Buffer.alloc(5 * 1024 * 1024, 0x20);
    const registry = await fakeServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      // No Content-Length: the limit must hold while streaming, too.
      res.writeHead(200, { 'content-type': MediaType.OciManifest, 'transfer-encoding': 'chunked' });
      res.end(big);
    });
    const client = new RegistryClient(registry.host, { retry: FAST_RETRY });
    await assert.rejects(client.getManifest('a/b', 'latest'), (e) => isProvenantError(e, 'INVALID_MANIFEST') && /4194304/.test(e.message));
  });

  it('resumes a dropped download even when the server ignores Range', async () => {
    const bytes = pseudoRandomBytes(600_000, 9);
    const d: Descriptor = { mediaType: 'application/octet-stream', digest: digestOf(bytes), size: bytes.byteLength };
    let gets = 0;
    const registry = await fakeServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      gets++;
      res.writeHead(200, { 'content-length': String(bytes.byteLength) });
      if (gets === 1) {
        // Half the body, then the connection goes.
        res.write(bytes.subarray(0, 300_000), () => res.destroy());
        return;
      }
      res.end(bytes);
    });
    const events: ProgressUpdate[] = [];
    const client = new RegistryClient(registry.host, { retry: FAST_RETRY, onProgress: (e) => events.push(e) });
    assert.deepEqual(await readAll(await client.readBlob('a/b', d)), bytes);
    assert.equal(gets, 2);
    assert.ok(events.some((e) => e.kind === 'retry'));
    // And a read from an offset gives the rest, still verified whole.
    assert.deepEqual(await readAll(await client.readBlob('a/b', d, { offset: 123_456 })), bytes.subarray(123_456));
  });

  it('resumes with Range after a resume that ignored it and dropped: a 206 starts where the bytes went on, nothing skipped', async () => {
    const bytes = pseudoRandomBytes(200_000, 11);
    const d: Descriptor = { mediaType: 'application/octet-stream', digest: digestOf(bytes), size: bytes.byteLength };
    const ranges: Array<string | undefined> = [];
    const registry = await fakeServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      ranges.push(req.headers.range);
      if (ranges.length <= 2) {
        // The whole blob from its start (the first ignoring Range), cut: 150,000 bytes, then 50,000.
        res.writeHead(200, { 'content-length': String(bytes.byteLength) });
        res.write(bytes.subarray(0, ranges.length === 1 ? 150_000 : 50_000), () => res.destroy());
        return;
      }
      const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
      res.writeHead(206, {
        'content-length': String(bytes.byteLength - from),
        'content-range': `bytes ${from}-${bytes.byteLength - 1}/${bytes.byteLength}`,
      });
      res.end(bytes.subarray(from));
    });
    const client = new RegistryClient(registry.host, { retry: FAST_RETRY });
    assert.deepEqual(await readAll(await client.readBlob('a/b', d)), bytes);
    assert.deepEqual(ranges, [undefined, 'bytes=150000-', 'bytes=150000-']);
  });

  it('reads a blob whose HEAD gave no Content-Length: the size from the GET, else checked by digest alone', async () => {
    const bytes = pseudoRandomBytes(200_000, 12);
    const digest = digestOf(bytes);
    let served: Uint8Array = bytes;
    let getLength = true;
    const registry = await fakeServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      if (req.method === 'HEAD') return void res.writeHead(200).end();
      // Without Content-Length, Node sends the body chunked.
      res.writeHead(200, getLength ? { 'content-length': String(served.byteLength) } : {});
      res.end(served);
    });
    const store = new RegistryStore(new RegistryClient(registry.host, { retry: FAST_RETRY }), 'a/b');
    const stat = await store.statBlob(digest);
    assert.equal(stat?.size, -1);
    if (stat === undefined) return;
    for (const length of [true, false]) {
      getLength = length;
      served = bytes;
      assert.deepEqual(await readAll(await store.readBlob(stat)), bytes, `GET with Content-Length: ${length}`);
      served = bytes.map((b, i) => (i === 1000 ? b ^ 1 : b));
      await assert.rejects(
        async () => readAll(await store.readBlob(stat)),
        (e) => isProvenantError(e, 'DIGEST_MISMATCH'),
      );
    }
  });

  // A final review asked whether a lying server can make a blob read unbounded: a body longer
  // than the size the descriptor (or the GET's Content-Length) gives stops at the first chunk
  // past it; one whose size nobody gives is bounded by its reader (a config, a bundle: collect's
  // limit), as containers/image and go-containerregistry leave a blob of unknown size to theirs.
  it('stops reading a blob body that runs past its size, and leaves one of no known size to the bound its reader sets', async () => {
    const bytes = pseudoRandomBytes(100_000, 14);
    const d: Descriptor = { mediaType: 'application/octet-stream', digest: digestOf(bytes), size: bytes.byteLength };
    const CAP = 256 * 1024 * 1024;
    let written = 0;
    const registry = await fakeServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      if (req.method === 'HEAD') return void res.writeHead(200).end();
      // Chunked, endless (up to CAP): the blob's bytes, then more for as long as the client reads.
      res.writeHead(200, {});
      written = 0;
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const more = (): void => {
        while (written < CAP) {
          written += chunk.byteLength;
          if (!res.write(written === chunk.byteLength ? Buffer.concat([bytes, chunk]) : chunk)) return void res.once('drain', more);
        }
        res.end();
      };
      more();
    });
    const client = new RegistryClient(registry.host, { retry: FAST_RETRY });
    await assert.rejects(readAll(await client.readBlob('a/b', d)), (e) => isProvenantError(e, 'SIZE_MISMATCH'));
    assert.ok(written < 32 * 1024 * 1024, `the server wrote ${written} bytes`);
    // No size anywhere (a HEAD without Content-Length, a chunked GET): the reader's limit holds.
    const stat = await new RegistryStore(client, 'a/b').statBlob(d.digest);
    assert.equal(stat?.size, -1);
    if (stat === undefined) return;
    await assert.rejects(collect(await client.readBlob('a/b', stat), 4 * 1024 * 1024, 'config'), (e) =>
      isProvenantError(e, 'TOO_LARGE', 'INVALID_MANIFEST'),
    );
    assert.ok(written < 32 * 1024 * 1024, `the server wrote ${written} bytes`);
  });

  it('follows a 303 of a HEAD with a HEAD: the blob is not downloaded to learn its size', async () => {
    const bytes = pseudoRandomBytes(300_000, 13);
    const digest = digestOf(bytes);
    const storage = await fakeServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(bytes.byteLength) });
      res.end(bytes);
    });
    const registry = await fakeServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      res.writeHead(303, { location: `http://${storage.host}/blob`, 'content-length': '0' });
      res.end();
    });
    const client = new RegistryClient(registry.host, { retry: FAST_RETRY });
    assert.equal((await client.headBlob('a/b', digest))?.size, bytes.byteLength);
    assert.deepEqual(
      storage.requests.map((r) => r.method),
      ['HEAD'],
    );
  });

  it('uses the referrers API when there is one, filtering by artifactType when the registry did not', async () => {
    const subject = digestOf('subject');
    const a: Descriptor = { mediaType: MediaType.OciManifest, digest: digestOf('a'), size: 1, artifactType: 'application/vnd.example.sig' };
    const b: Descriptor = {
      mediaType: MediaType.OciManifest,
      digest: digestOf('b'),
      size: 1,
      artifactType: 'application/vnd.example.sbom',
    };
    const c: Descriptor = { mediaType: MediaType.OciManifest, digest: digestOf('c'), size: 1, artifactType: 'application/vnd.example.sig' };
    const registry = await fakeServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      const page2 = req.url?.includes('page=2');
      const headers: Record<string, string> = { 'content-type': MediaType.OciIndex };
      if (!page2) headers.link = `</v2/a/b/referrers/${subject}?page=2>; rel="next"`;
      res.writeHead(200, headers);
      res.end(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: page2 ? [c] : [a, b] }));
    });
    const store = new RegistryStore(new RegistryClient(registry.host, { retry: FAST_RETRY }), 'a/b');
    assert.deepEqual(await store.referrers(subject), [a, b, c]);
    assert.deepEqual(await store.referrers(subject, { artifactType: 'application/vnd.example.sig' }), [a, c]);
    assert.ok(registry.requests.some((r) => r.url === `/v2/a/b/referrers/${subject}?artifactType=application%2Fvnd.example.sig`));
  });

  it('takes only a clean 404 of a repository for "no referrers API", and remembers it for that repository alone', async () => {
    const subject = digestOf('subject');
    const a: Descriptor = { mediaType: MediaType.OciManifest, digest: digestOf('a'), size: 1 };
    const index = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [a] });
    const registry = await fakeServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      if (req.url?.startsWith('/v2/gone/')) {
        return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NAME_UNKNOWN","message":"x"}]}');
      }
      if (req.url?.startsWith('/v2/plain/')) return void res.writeHead(404).end('404 page not found');
      res.writeHead(200, { 'content-type': MediaType.OciIndex }).end(index);
    });
    const client = new RegistryClient(registry.host, { retry: FAST_RETRY });
    const count = (repo: string) => registry.requests.filter((r) => r.url.startsWith(`/v2/${repo}/referrers/`)).length;
    assert.equal(await client.referrers('gone', subject), undefined);
    assert.equal(await client.referrers('gone', subject), undefined);
    assert.equal(count('gone'), 2, 'a missing repository is asked again');
    assert.equal(await client.referrers('plain', subject), undefined);
    assert.equal(await client.referrers('plain', subject), undefined);
    assert.equal(count('plain'), 1, 'a repository without the API is asked once');
    assert.deepEqual(await client.referrers('img', subject), [a]);
  });

  it('throws a referrers listing cut by a dropped connection or a cancel, and asks the API again after', async () => {
    const subject = digestOf('subject');
    const a: Descriptor = { mediaType: MediaType.OciManifest, digest: digestOf('a'), size: 1 };
    const index = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [a] });
    let fault: 'drop' | 'stall' | undefined;
    const registry = await fakeServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      res.writeHead(200, { 'content-type': MediaType.OciIndex, 'content-length': String(index.length) });
      if (fault === 'drop') {
        res.write(index.slice(0, 20));
        setTimeout(() => res.destroy(), 20);
      } else if (fault === 'stall') res.write(index.slice(0, 20));
      else res.end(index);
    });
    const client = new RegistryClient(registry.host, { retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } });
    fault = 'drop';
    await assert.rejects(client.referrers('img', subject), (e) => isProvenantError(e, 'NETWORK'));
    fault = 'stall';
    const controller = new AbortController();
    const listing = client.referrers('img', subject, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(listing, (e) => isProvenantError(e, 'ABORTED'));
    fault = undefined;
    assert.deepEqual(await client.referrers('img', subject), [a]);
  });

  it('tries a GET again when its connection drops in the body, and fails with NETWORK when it keeps dropping', async () => {
    const config: Descriptor = { mediaType: MediaType.OciConfig, digest: digestOf('{}'), size: 2 };
    const layer: Descriptor = { mediaType: MediaType.OciLayerGzip, digest: digestOf('layer'), size: 5 };
    const manifest = encodeJson({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layer] });
    const tagList = encodeJson({ name: 'a/b', tags: ['v1'] });
    let cut = 0;
    const registry = await fakeServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      const body = req.url?.includes('/tags/') ? tagList : manifest;
      const type = req.url?.includes('/tags/') ? 'application/json' : MediaType.OciManifest;
      res.writeHead(200, { 'content-type': type, 'content-length': String(body.byteLength) });
      if (cut > 0) {
        cut--;
        res.write(body.subarray(0, 10));
        setTimeout(() => res.destroy(), 20);
      } else res.end(body);
    });
    const events: ProgressUpdate[] = [];
    const client = new RegistryClient(registry.host, { retry: FAST_RETRY, onProgress: (e) => events.push(e) });
    cut = 1;
    assert.deepEqual((await client.getManifest('a/b', 'v1')).bytes, manifest);
    cut = 2;
    assert.deepEqual(await client.listTags('a/b'), ['v1']);
    assert.equal(events.filter((e) => e.kind === 'retry').length, 3);
    cut = FAST_RETRY.attempts;
    await assert.rejects(client.listTags('a/b'), (e) => isProvenantError(e, 'NETWORK') && /tried 5 times/.test(e.hint ?? ''));
  });

  it('fails with REGISTRY, naming the page, when a later page of referrers is refused, no index, or loops', async () => {
    const subject = digestOf('subject');
    const a: Descriptor = { mediaType: MediaType.OciManifest, digest: digestOf('a'), size: 1 };
    const index = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [a] });
    for (const [fault, said] of [
      ['404', /page 2 of the referrers list of sha256:\w+ answered 404/],
      ['html', /page 2 of the referrers list of sha256:\w+ is not an OCI index/],
      ['loop', /paginates the referrers list in a loop/],
    ] as const) {
      const registry = await fakeServer((req, res) => {
        if (req.url === '/v2/') return void res.writeHead(200).end();
        const first = !req.url?.includes('page=2');
        if (!first && fault === '404') return void res.writeHead(404).end();
        if (!first && fault === 'html') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html></html>');
        const next = first || fault === 'loop' ? `</v2/a/b/referrers/${subject}?page=2>; rel="next"` : undefined;
        res.writeHead(200, { 'content-type': MediaType.OciIndex, ...(next === undefined ? {} : { link: next }) }).end(index);
      });
      const client = new RegistryClient(registry.host, { retry: FAST_RETRY });
      await assert.rejects(client.referrers('a/b', subject), (e) => isProvenantError(e, 'REGISTRY') && said.test(e.message), fault);
    }
  });

  it('takes the GET token flow with an identity token when the token server has no OAuth2 endpoint (POST answers 404)', async () => {
    const refresh = `Basic ${Buffer.from('<token>:refresh-xyz').toString('base64')}`;
    const registry = await fakeServer((req, res) => {
      if (req.url?.startsWith('/token')) {
        if (req.method === 'POST') return void res.writeHead(404).end();
        if (req.headers.authorization !== refresh) return void res.writeHead(401).end();
        return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"t","expires_in":300}');
      }
      if (req.headers.authorization !== 'Bearer t') {
        return void res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${req.headers.host}/token",service="fake"` }).end();
      }
      res.writeHead(404).end();
    });
    const client = new RegistryClient(registry.host, { keychain: new StaticKeychain({ identityToken: 'refresh-xyz' }), retry: FAST_RETRY });
    assert.equal(await client.headBlob('a/b', digestOf('blob')), undefined);
    assert.deepEqual(
      registry.requests.filter((r) => r.url.startsWith('/token')).map((r) => r.method),
      ['POST', 'GET'],
    );
  });

  it("never sends a token fetched with one repository's credentials for another repository that has its own", async () => {
    const blob = digestOf('blob');
    const registry = await fakeServer((req, res) => {
      if (req.url?.startsWith('/token')) {
        const user = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64')
          .toString()
          .split(':')[0];
        return void res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ token: `tok-${user}`, expires_in: 300 }));
      }
      if (!req.headers.authorization?.startsWith('Bearer tok-')) {
        return void res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${req.headers.host}/token",service="fake"` }).end();
      }
      if (req.method === 'POST') return void res.writeHead(202, { location: '/v2/a/dst/blobs/uploads/u1' }).end();
      res.writeHead(404).end();
    });
    // One account per repository, as podman's auth.json may say.
    const keychain = {
      resolve: async (_registry: string, repository?: string) =>
        new Credentials(repository === 'a/src' ? { username: 'alice', password: 'a' } : { username: 'bob', password: 'b' }),
    };
    const client = new RegistryClient(registry.host, { keychain, retry: FAST_RETRY });
    // The mount's token (bob's) covers pulling a/src too.
    assert.ok((await client.mountBlob('a/dst', blob, 'a/src')) instanceof URL);
    assert.equal(await client.headBlob('a/src', blob), undefined);
    const head = registry.requests.find((r) => r.method === 'HEAD');
    assert.equal(head?.headers.authorization, 'Bearer tok-alice');
  });

  it('says DENIED, not "wrong password", when a token lacks the scope', async () => {
    const registry = await fakeServer((req, res) => {
      if (req.url?.startsWith('/token'))
        return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"t","expires_in":300}');
      const realm = `http://${req.headers.host}/token`;
      res.writeHead(401, {
        'www-authenticate': `Bearer realm="${realm}",service="fake",scope="repository:a/b:push",error="insufficient_scope"`,
        'content-type': 'application/json',
      });
      res.end('{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}');
    });
    const client = new RegistryClient(registry.host, { keychain: new StaticKeychain({ username: 'u', password: 'p' }), retry: FAST_RETRY });
    await assert.rejects(client.listTags('a/b'), (e) => isProvenantError(e, 'DENIED'));
  });

  // A final review: with credentials found but not asked for, a 403 said "log in first".
  it('says on a 403 whether the credentials were sent, found but not asked for, never sent (the ping), refused by another host, or not found', async () => {
    const denied = (res: ServerResponse) =>
      void res.writeHead(403, { 'content-type': 'application/json' }).end('{"errors":[{"code":"DENIED","message":"no"}]}');
    // Reads anonymously, refuses this repository to anyone; Basic once a write asks for it.
    const anonymous = await fakeServer((req, res) => (req.url === '/v2/' ? void res.writeHead(200).end() : denied(res)));
    // Answers its ping 403 (anonymous access off): the ping never carries credentials.
    const pingDenied = await fakeServer((_req, res) => denied(res));
    // Asks for Basic, and refuses the repository to the user who sent it.
    const basic = await fakeServer((req, res) =>
      req.headers.authorization === BASIC ? denied(res) : void res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end(),
    );
    // Takes the credentials, and sends the request on to a host that refuses it (a CDN whose signed link expired).
    const cdn = await fakeServer((_req, res) => denied(res));
    const redirecting = await fakeServer((req, res) =>
      req.headers.authorization === BASIC
        ? void res.writeHead(307, { location: `http://${cdn.host}/signed?sig=x` }).end()
        : void res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end(),
    );
    const withPassword = () => new StaticKeychain({ username: 'user', password: 'pass' });
    const SENT = /^the credentials are valid but lack permission/;
    const HELD = /refused before asking for credentials, so the ones found for it were not sent/;
    const NONE = /^no credentials were found for .*; if the repository is private, log in first \(docker login /;
    // The ping goes without credentials whatever the keychain holds: logging in changes nothing.
    const PING = /refuses its API check \(GET \/v2\/\), which goes without credentials/;
    const cases = [
      { host: anonymous.host, keychain: undefined, hint: NONE },
      { host: anonymous.host, keychain: withPassword(), hint: HELD },
      { host: pingDenied.host, keychain: withPassword(), hint: PING },
      { host: pingDenied.host, keychain: undefined, hint: PING },
      { host: basic.host, keychain: withPassword(), hint: SENT },
      {
        host: redirecting.host,
        keychain: withPassword(),
        hint: new RegExp(`^the refusal came from ${cdn.host.replaceAll('.', '\\.')}, not from `),
      },
    ];
    for (const { host, keychain, hint } of cases) {
      const client = new RegistryClient(host, { keychain, retry: FAST_RETRY });
      await assert.rejects(client.listTags('a/b'), (e) => {
        assert.ok(isProvenantError(e, 'DENIED'), String(e));
        assert.match(e.hint ?? '', hint, `${host} ${keychain === undefined ? 'without' : 'with'} credentials`);
        // Only where none were found is logging in the advice.
        assert.equal(/docker login/.test(e.hint ?? ''), hint === NONE, `${host} ${e.hint}`);
        return true;
      });
    }
  });

  it('masks what the client sent (password, identity token, bearer token) when a registry or token server echoes it', async () => {
    const password = 's3cret-PW';
    const refresh = 'opaque-REFRESH-99';
    const opaque = 'opaque-TKN-4711';
    const registryToken = 'regtok-0815';
    const echo = (res: ServerResponse, status: number, words: string, json: boolean) =>
      void res
        .writeHead(status, { 'content-type': json ? 'application/json' : 'text/plain' })
        .end(json ? JSON.stringify({ errors: [{ code: 'DENIED', message: words, detail: { said: words } }] }) : words);
    for (const json of [false, true]) {
      const server = await fakeServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://x');
        const realm = `http://${req.headers.host}/token`;
        const basic = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString();
        // The token server: echoes the password of the GET flow and the refresh token of the POST.
        if (url.pathname === '/token' && req.method === 'POST') return echo(res, 500, `refresh ${refresh} rejected`, json);
        if (url.pathname === '/token' && url.searchParams.get('scope')?.includes('pw')) {
          return echo(res, 500, `backend said: bad password ${basic.split(':')[1]} for alice`, json);
        }
        if (url.pathname === '/token') return void res.writeHead(200, { 'content-type': 'application/json' }).end(`{"token":"${opaque}"}`);
        if (url.pathname === '/v2/') return void res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm}",service="s"` }).end();
        // The registry: echoes the bearer token it was sent.
        const bearer = (req.headers.authorization ?? '').replace(/^Bearer /, '');
        if (bearer === '') return void res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm}",service="s"` }).end();
        echo(res, 403, `token ${bearer} may not read ${url.pathname}`, json);
      });
      const cases = [
        { repo: 'pw/a', keychain: new StaticKeychain({ username: 'alice', password }), secret: password },
        { repo: 'idt/a', keychain: new StaticKeychain({ identityToken: refresh }), secret: refresh },
        { repo: 'tok/a', keychain: new StaticKeychain({ username: 'alice', password: 'other-PW' }), secret: opaque },
        { repo: 'reg/a', keychain: new StaticKeychain({ registryToken }), secret: registryToken },
      ];
      for (const { repo, keychain, secret } of cases) {
        const client = new RegistryClient(server.host, { keychain, retry: { attempts: 1 } });
        await assert.rejects(client.listTags(repo), (e) => {
          assert.ok(isProvenantError(e), String(e));
          for (const text of [e.message, e.hint ?? '', String(e), JSON.stringify(e), inspect(e)]) {
            assert.ok(!text.includes(secret), `${repo}: the secret leaked into: ${text}`);
          }
          // The words around it are still there.
          assert.match(e.message, /(bad password|refresh|token) … /, e.message);
          return true;
        });
      }
    }
  });

  it('refuses plain HTTP beyond this machine, also when redirected there', async () => {
    // A name under .localhost is looked up like any other (DNS here), so it is not this machine.
    for (const host of ['registry.example', 'registry.localhost:5000']) {
      assert.throws(
        () => new RegistryClient(host, { scheme: 'http' }),
        (e) => isProvenantError(e, 'INSECURE'),
        host,
      );
      assert.doesNotThrow(() => new RegistryClient(host, { scheme: 'http', insecure: true }));
    }
    for (const target of ['registry.example', 'evil.localhost']) {
      const registry = await fakeServer((req, res) => {
        if (req.url === '/v2/') return void res.writeHead(200).end();
        res.writeHead(302, { location: `http://${target}/elsewhere` });
        res.end();
      });
      const client = new RegistryClient(registry.host, { retry: FAST_RETRY });
      await assert.rejects(client.getManifest('a/b', 'latest'), (e) => isProvenantError(e, 'INSECURE'), target);
    }
  });

  it('refuses a redirect to a file: URL with REGISTRY, naming the scheme, not as a usage error', async () => {
    const registry = await fakeServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      res.writeHead(307, { location: 'file:///etc/passwd' }).end();
    });
    const client = new RegistryClient(registry.host, { retry: FAST_RETRY });
    await assert.rejects(client.getManifest('a/b', 'latest'), (e) => {
      assert.ok(isProvenantError(e, 'REGISTRY'), String(e));
      assert.match(e.message, /redirected to a file: URL \(file:\/\/\/etc\/passwd\), which is not followed/);
      return true;
    });
  });

  it('refuses a bearer realm of file: with REGISTRY, naming it as the realm, not as a redirect', async () => {
    const registry = await fakeServer((_req, res) => {
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="file:///etc/passwd",service="x"' }).end();
    });
    const client = new RegistryClient(registry.host, { retry: FAST_RETRY });
    await assert.rejects(client.getManifest('a/b', 'latest'), (e) => {
      assert.ok(isProvenantError(e, 'REGISTRY'), String(e));
      assert.match(e.message, /token server \(its bearer realm\) is a file: URL \(file:\/\/\/etc\/passwd\), which is not fetched/);
      assert.doesNotMatch(e.message, /redirected/);
      return true;
    });
  });

  it('lists a tag page of 300,000 tags, none passed as arguments (a spread of them overflowed the stack)', async () => {
    const tags = Array.from({ length: 300_000 }, (_, i) => `t${i}`);
    const body = JSON.stringify({ name: 'a/b', tags });
    const registry = await fakeServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
    const client = new RegistryClient(registry.host, { retry: FAST_RETRY });
    assert.equal((await client.listTags('a/b')).length, tags.length);
  });

  it('gives up on a registry that is down with NETWORK, after retrying', async () => {
    const registry = await fakeServer((_req, res) => res.destroy());
    const events: ProgressUpdate[] = [];
    const client = new RegistryClient(registry.host, {
      retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
      onProgress: (e) => events.push(e),
    });
    await assert.rejects(
      client.listTags('a/b'),
      (e) => isProvenantError(e, 'NETWORK') && e.message.includes(registry.host) && /tried 3 times/.test(e.hint ?? ''),
    );
    assert.equal(events.filter((e) => e.kind === 'retry').length, 2);
  });

  it('refuses a chunked upload whose source does not match its descriptor, before the closing PUT', async () => {
    const good = pseudoRandomBytes(5000, 21);
    const d: Descriptor = { mediaType: 'application/octet-stream', digest: digestOf(good), size: good.byteLength };
    const changed = Buffer.from(good);
    changed[4321] = (changed[4321]! + 1) % 256;
    const longer = Buffer.concat([good, Buffer.from('x')]);
    for (const [bytes, code] of [
      [changed, 'DIGEST_MISMATCH'],
      [longer, 'SIZE_MISMATCH'],
    ] as const) {
      const registry = await lazyUploadRegistry();
      const client = new RegistryClient(registry.host, { retry: FAST_RETRY, chunkSize: 1000 });
      await assert.rejects(client.uploadBlob('a/b', uncheckedSource(bytes, d)), (e) => isProvenantError(e, code));
      assert.equal(registry.stored().length, 5000, 'every chunk was sent');
      assert.equal(registry.committed(), undefined, 'the blob was committed');
      assert.ok(!registry.requests.some((r) => r.method === 'PUT'));
    }
  });

  it('checks a resumed chunked upload whole: bytes sent before the resume count', async () => {
    const good = pseudoRandomBytes(5000, 22);
    const d: Descriptor = { mediaType: 'application/octet-stream', digest: digestOf(good), size: good.byteLength };
    const changed = Buffer.from(good);
    changed[10] = (changed[10]! + 1) % 256;
    // The 3rd PATCH fails: the upload resumes at 2000, past the changed byte.
    const registry = await lazyUploadRegistry((n) => (n === 3 ? { fault: 'status', keep: 0 } : undefined));
    const client = new RegistryClient(registry.host, { retry: FAST_RETRY, chunkSize: 1000 });
    const source = uncheckedSource(changed, d);
    await assert.rejects(client.uploadBlob('a/b', source), (e) => isProvenantError(e, 'DIGEST_MISMATCH'));
    assert.deepEqual(source.opened, [0, 2000]);
    assert.equal(registry.committed(), undefined);
  });

  it('resumes a chunked upload from a Range inside a chunk (a PATCH cut half-way) and checks the whole', async () => {
    const bytes = pseudoRandomBytes(5000, 23);
    const d: Descriptor = { mediaType: 'application/octet-stream', digest: digestOf(bytes), size: bytes.byteLength };
    const registry = await lazyUploadRegistry((n) => (n === 3 ? { fault: 'drop', keep: 500 } : undefined));
    const client = new RegistryClient(registry.host, { retry: FAST_RETRY, chunkSize: 1000 });
    const source = uncheckedSource(bytes, d);
    assert.equal(await client.uploadBlob('a/b', source), 'stored');
    // Opened at 0 again to hash the 2500 bytes before the Range, then at 2500 to send the rest.
    assert.deepEqual(source.opened, [0, 0, 2500]);
    assert.deepEqual(registry.committed(), Buffer.from(bytes));
  });

  it('says REGISTRY, not a TypeError, when a redirect or an upload Location is no URL', async () => {
    const bytes = pseudoRandomBytes(1000, 9);
    const d: Descriptor = { mediaType: 'application/octet-stream', digest: digestOf(bytes), size: bytes.byteLength };
    const registry = await fakeServer((req, res) => {
      if (req.url === '/v2/') res.writeHead(200).end();
      else if (req.method === 'GET') res.writeHead(307, { location: 'http://[not-a-host/blob' }).end();
      else if (req.method === 'HEAD') res.writeHead(404).end();
      else res.writeHead(202, { location: 'http://[not-a-host/upload' }).end();
    });
    const client = new RegistryClient(registry.host, { retry: FAST_RETRY });
    const isLocationError = (e: unknown) => isProvenantError(e, 'REGISTRY') && /Location that is not a URL/.test(e.message);
    await assert.rejects(async () => readAll(await client.readBlob('a/b', d)), isLocationError);
    await assert.rejects(
      client.pushBlob('a/b', {
        descriptor: d,
        open: async () =>
          (async function* () {
            yield bytes;
          })(),
      }),
      isLocationError,
    );
  });

  it('refuses a host that is no address, and a port out of range, when the client is made', () => {
    for (const host of ['127.0.0.1:99999', 'localhost:0', '999.1.1.1', 'a b']) {
      assert.throws(
        () => new RegistryClient(host),
        (e) => isProvenantError(e, 'INVALID_REFERENCE'),
        host,
      );
    }
  });

  it('says TLS_CERTIFICATE for an untrusted certificate, without retrying, for either scheme order', { skip: opensslMissing }, async () => {
    const dir = await tempDir();
    const cert = await selfSignedCertificate(dir, 'registry', '/CN=127.0.0.1', 'IP:127.0.0.1');
    let connections = 0;
    const server = createHttpsServer({ key: cert.key, cert: cert.cert }, (_req, res) => res.end('{}'));
    server.on('connection', () => {
      connections++;
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      for (const [scheme, tries] of [
        ['https', 1],
        [undefined, 2], // loopback: plain HTTP first, then HTTPS
      ] as const) {
        connections = 0;
        const events: ProgressUpdate[] = [];
        const client = new RegistryClient(host, { retry: FAST_RETRY, scheme, onProgress: (e) => events.push(e) });
        await assert.rejects(
          client.getManifest('a/b', 'v1'),
          (e) =>
            isProvenantError(e, 'TLS_CERTIFICATE') &&
            e.message.startsWith(`the TLS certificate of ${host} is not signed by a CA this machine trusts`) &&
            /NODE_EXTRA_CA_CERTS/.test(e.hint ?? ''),
        );
        assert.equal(connections, tries, `scheme ${scheme}`);
        assert.deepEqual(
          events.filter((e) => e.kind === 'retry'),
          [],
        );
      }
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('connections to the real registry', { skip: registryMissing }, () => {
  const reg = useRegistry();

  it("reuses one connection for a ping and look-ups whose answers' bodies are discarded", async () => {
    // Node announces each client socket it makes on this channel.
    const sockets: unknown[] = [];
    const count = (socket: unknown) => sockets.push(socket);
    subscribe('net.client.socket', count);
    try {
      const client = new RegistryClient(reg.host, { retry: FAST_RETRY });
      await client.ping();
      // A tag that is not there: a 404 whose JSON error body is discarded, twice.
      assert.equal(await client.headManifest('connections/none', 'missing'), undefined);
      assert.equal(await client.headManifest('connections/none', 'missing'), undefined);
    } finally {
      unsubscribe('net.client.socket', count);
    }
    assert.equal(sockets.length, 1);
  });
});

describe('identity tokens (OAuth2 refresh_token grant) against the real registry', { skip: registryMissing }, () => {
  const reg = useRegistry({ auth: 'token' });

  it('pushes and pulls with an identity token, and logs neither it nor the access tokens', async () => {
    // What `docker login` stores after an OAuth2 login: a refresh token.
    const form = new URLSearchParams({
      grant_type: 'password',
      username: reg.username!,
      password: reg.password!,
      access_type: 'offline',
      client_id: 'test',
      service: 'test-registry',
    });
    const answer = await fetch(`${reg.tokenServer!.url}/token`, { method: 'POST', body: form });
    const refresh = ((await answer.json()) as { refresh_token?: string }).refresh_token;
    assert.ok(refresh, `the token server gave no refresh token (HTTP ${answer.status})`);
    const logger = recordingLogger();
    const before = reg.tokenServer!.tokensIssued();
    const store = new RegistryStore(
      new RegistryClient(reg.host, { keychain: new StaticKeychain({ identityToken: refresh }), logger, retry: FAST_RETRY }),
      'oauth/img',
    );
    const made = await makeImage(store, { tag: 'v1' });
    assert.deepEqual((await store.getManifest('v1')).bytes, made.root.bytes);
    assert.ok(reg.tokenServer!.tokensIssued() - before <= 3, `too many tokens: ${reg.tokenServer!.tokensIssued() - before}`);
    const text = logger.lines.join('\n');
    assert.ok(!text.includes(refresh), 'the refresh token was logged');
    assert.ok(!text.includes(reg.password!), 'the password was logged');
    assert.ok(!/Bearer [A-Za-z0-9_-]+\./.test(text), 'a token was logged');

    const wrong = new RegistryStore(
      new RegistryClient(reg.host, { keychain: new StaticKeychain({ identityToken: 'not-a-refresh-token' }), retry: FAST_RETRY }),
      'oauth/img',
    );
    await assert.rejects(
      wrong.getManifest('v1'),
      (e) => isProvenantError(e, 'UNAUTHORIZED') && !JSON.stringify(e).includes('not-a-refresh'),
    );
  });
});

describe('a 20 MB push and pull through injected faults (real registry behind the fault proxy)', { skip: registryMissing }, () => {
  const reg = useRegistry();

  it('pushes a 20 MB blob set through 500s, 429s and dropped connections, then pulls it back through drops', async () => {
    const stops: Array<() => Promise<void>> = [];
    try {
      const upload = await startFaultProxy(reg.host, {
        status500Every: 4,
        status429Every: 7,
        retryAfterSeconds: 1,
        dropEvery: 5,
        maxFaults: 8,
        match: (method, path) => path.includes('/blobs/uploads') && method !== 'GET',
      });
      stops.unshift(() => upload.stop());
      const events: ProgressUpdate[] = [];
      // Chunks of 3 MiB: the 8 MiB blobs go through PATCH (and resume), the small ones through one PUT.
      const pushStore = new RegistryStore(
        new RegistryClient(upload.host, {
          retry: { ...FAST_RETRY, attempts: 6 },
          chunkSize: 3 * 1024 * 1024,
          onProgress: (e) => events.push(e),
        }),
        'big/set',
      );
      const sizes = [8 * 1024 * 1024, 8 * 1024 * 1024, 2 * 1024 * 1024, 1024 * 1024, 1024 * 1024 + 17];
      const blobs = sizes.map((size, i) => pseudoRandomBytes(size, 100 + i));
      const descriptors: Descriptor[] = blobs.map((b) => ({ mediaType: MediaType.OciLayer, digest: digestOf(b), size: b.byteLength }));
      const results = await Promise.all(
        blobs.map((b, i) =>
          pushStore.putBlob({
            descriptor: descriptors[i]!,
            open: async (offset = 0) =>
              (async function* () {
                for (let at = offset; at < b.byteLength; at += 256 * 1024) yield b.subarray(at, Math.min(b.byteLength, at + 256 * 1024));
              })(),
          }),
        ),
      );
      assert.deepEqual(
        results,
        sizes.map(() => 'stored'),
      );
      assert.ok(upload.stats().faults >= 4, `only ${upload.stats().faults} faults were injected`);
      assert.ok(events.some((e) => e.kind === 'retry'));

      const download = await startFaultProxy(reg.host, {
        dropEvery: 2,
        maxFaults: 3,
        match: (m, path) => m === 'GET' && path.includes('/blobs/sha256:'),
      });
      stops.unshift(() => download.stop());
      const pullStore = new RegistryStore(new RegistryClient(download.host, { retry: FAST_RETRY }), 'big/set');
      for (const [i, d] of descriptors.entries()) assert.deepEqual(await readAll(await pullStore.readBlob(d)), blobs[i], `blob ${i}`);
      assert.equal(download.stats().faults, 3);
    } finally {
      for (const stop of stops) await stop();
    }
  });

  it('completes when every 2nd upload request fails: an answered PUT reuses its still-empty session', async () => {
    const proxy = await startFaultProxy(reg.host, {
      status500Every: 2,
      match: (method, path) => path.includes('/blobs/uploads') && method !== 'GET',
    });
    try {
      const store = new RegistryStore(new RegistryClient(proxy.host, { retry: FAST_RETRY }), 'every/second');
      const made = await makeImage(store, { tag: 'v1' });
      assert.ok(proxy.stats().faults > 0);
      assert.deepEqual((await new RegistryStore(new RegistryClient(reg.host), 'every/second').getManifest('v1')).bytes, made.root.bytes);
    } finally {
      await proxy.stop();
    }
  });
});
