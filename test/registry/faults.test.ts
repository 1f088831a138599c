// Transient faults between client and registry (500s, 429s, drops), injected by the fault proxy.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { isProvenantError } from '../../src/errors.ts';
import type { Logger, ProgressUpdate } from '../../src/io/types.ts';
import type { Stored } from '../../src/oci/content.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import type { Descriptor } from '../../src/oci/types.ts';
import type { RegistryStore } from '../../src/store/registry.ts';
import type { PutManifestOptions } from '../../src/store/types.ts';
import { type ProxyEvent, startFaultProxy } from '../helpers/fault-proxy.ts';
import { makeImage, pseudoRandomBytes } from '../helpers/images.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { FAST_RETRY, readAll, recording, storeAt } from './common.ts';

const isUpload = (method: string, path: string) => path.includes('/blobs/uploads') && method !== 'GET';

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, debug: (m) => lines.push(m), info: (m) => lines.push(m), warn: (m) => lines.push(m) };
}

/**
 * How long the client waited after each injected status, as the proxy saw it: from the moment
 * the refusal was about to be written to the arrival of the client's next request. This is a
 * fact about the client (it cannot have had the answer earlier), not about the machine's speed.
 */
function waitsAfterFaults(log: readonly ProxyEvent[]): Array<{ fault: ProxyEvent; next: ProxyEvent; gapMs: number }> {
  const out: Array<{ fault: ProxyEvent; next: ProxyEvent; gapMs: number }> = [];
  log.forEach((e, i) => {
    const next = log[i + 1];
    if (e.answeredAt !== undefined && next !== undefined) out.push({ fault: e, next, gapMs: next.at - e.answeredAt });
  });
  return out;
}

/** Timers may fire a millisecond early against the wall clock; nothing else is allowed for. */
const TIMER_SLACK_MS = 25;

/** Puts one blob (one upload, so that no other request runs between a refusal and its retry). */
async function putOne(store: RegistryStore, size: number, seed: number): Promise<Descriptor> {
  const bytes = pseudoRandomBytes(size, seed);
  const d: Descriptor = { mediaType: MediaType.OciLayerGzip, digest: digestOf(bytes), size: bytes.byteLength };
  const result = await store.putBlob({
    descriptor: d,
    open: async (offset = 0) =>
      (async function* () {
        for (let i = offset; i < bytes.byteLength; i += 1500) yield bytes.subarray(i, Math.min(i + 1500, bytes.byteLength));
      })(),
  });
  assert.equal(result, 'stored');
  return d;
}

describe('transient faults between client and registry', { skip: registryMissing }, () => {
  const reg = useRegistry();
  const stops: Array<() => Promise<void>> = [];
  after(async () => {
    for (const stop of stops) await stop();
  });

  async function proxy(plan: Parameters<typeof startFaultProxy>[1]) {
    const p = await startFaultProxy(reg.host, plan);
    stops.push(() => p.stop());
    return p;
  }

  it('completes a push through 500s during uploads', async () => {
    // Every 3rd, not every 2nd: a try is a POST and a PUT, so every 2nd would hit each PUT.
    const p = await proxy({ status500Every: 3, match: isUpload, maxFaults: 6 });
    const events: ProgressUpdate[] = [];
    const store = storeAt(p.host, 'faults/500', { onProgress: (e) => events.push(e) });
    const made = await makeImage(store, { tag: 'v1', layerBytes: 30_000 });
    assert.ok(p.stats().faults > 0);
    assert.ok(events.some((e) => e.kind === 'retry'));
    const direct = storeAt(reg.host, 'faults/500');
    assert.deepEqual((await direct.getManifest('v1')).bytes, made.root.bytes);
    for (const [digest, bytes] of made.blobs) {
      const d = { mediaType: 'application/octet-stream', digest, size: bytes.byteLength } as Descriptor;
      assert.deepEqual(await readAll(await direct.readBlob(d)), bytes);
    }
  });

  it('completes a push through 429s with Retry-After', async () => {
    const p = await proxy({ status429Every: 3, retryAfterSeconds: 1, match: isUpload, maxFaults: 2 });
    const events: ProgressUpdate[] = [];
    const store = storeAt(p.host, 'faults/429', { onProgress: (e) => events.push(e) });
    const made = await makeImage(store, { tag: 'v1' });
    assert.equal(p.stats().faults, 2);
    const retries = events.filter((e) => e.kind === 'retry');
    assert.ok(retries.length >= 2);
    // Retry-After: 1 is honoured (the delay is at least the server's ask).
    assert.ok(
      retries.some((e) => e.kind === 'retry' && e.delayMs >= 1000),
      JSON.stringify(retries),
    );
    assert.deepEqual((await storeAt(reg.host, 'faults/429').getManifest('v1')).bytes, made.root.bytes);
  });

  it('waits as long as Retry-After asks when a blob PUT is refused with 429, and says so', async () => {
    const p = await proxy({
      status429Every: 1,
      retryAfter: '2',
      match: (m, path) => m === 'PUT' && path.includes('/blobs/uploads/'),
      maxFaults: 1,
    });
    const logger = recordingLogger();
    const d = await putOne(storeAt(p.host, 'faults/ra-put', { logger }), 30_000, 41);
    assert.equal(p.stats().faults, 1);
    const [wait, ...more] = waitsAfterFaults(p.log());
    assert.equal(more.length, 0);
    assert.equal(wait?.fault.method, 'PUT');
    assert.ok(wait !== undefined && wait.gapMs >= 2000 - TIMER_SLACK_MS, `waited ${wait?.gapMs} ms after Retry-After: 2`);
    assert.ok(
      logger.lines.some((l) => /upload blob .*HTTP 429.*asked to wait 2 s \(Retry-After\).*retry 1 in 2000 ms/.test(l)),
      logger.lines.join('\n'),
    );
    assert.equal((await storeAt(reg.host, 'faults/ra-put').statBlob(d.digest))?.size, d.size);
  });

  it('waits for an HTTP-date Retry-After when a chunk PATCH is refused with 503', async () => {
    const p = await proxy({
      status503Every: 2,
      // An HTTP-date three seconds ahead (whole seconds: between 2 and 3 s from now).
      retryAfter: () => new Date(Date.now() + 3000).toUTCString(),
      match: (m) => m === 'PATCH',
      maxFaults: 1,
    });
    const logger = recordingLogger();
    const d = await putOne(storeAt(p.host, 'faults/ra-patch', { logger, chunkSize: 4096 }), 10_000, 42);
    assert.equal(p.stats().faults, 1);
    const [wait] = waitsAfterFaults(p.log());
    assert.ok(wait !== undefined && wait.fault.method === 'PATCH' && wait.fault.retryAfter !== undefined);
    const asked = Date.parse(wait.fault.retryAfter) - (wait.fault.answeredAt ?? 0);
    assert.ok(asked > 1000, `the date asks for ${asked} ms`);
    assert.ok(wait.gapMs >= asked - TIMER_SLACK_MS, `waited ${wait.gapMs} ms, the date asked for ${asked} ms`);
    assert.ok(
      logger.lines.some((l) => /upload blob .*HTTP 503.*asked to wait .* \(Retry-After\)/.test(l)),
      logger.lines.join('\n'),
    );
    assert.deepEqual(await readAll(await storeAt(reg.host, 'faults/ra-patch').readBlob(d)), pseudoRandomBytes(10_000, 42));
  });

  it('caps a huge Retry-After on an upload at maxRetryAfterMs, and says it did', async () => {
    const p = await proxy({
      status429Every: 1,
      retryAfter: '3600',
      match: (m, path) => m === 'PUT' && path.includes('/blobs/uploads/'),
      maxFaults: 1,
    });
    const logger = recordingLogger();
    const store = storeAt(p.host, 'faults/ra-cap', { logger, retry: { ...FAST_RETRY, maxRetryAfterMs: 1500 } });
    await putOne(store, 20_000, 43);
    const [wait] = waitsAfterFaults(p.log());
    assert.ok(wait !== undefined && wait.gapMs >= 1500 - TIMER_SLACK_MS, `waited ${wait?.gapMs} ms, the cap is 1500 ms`);
    assert.ok(wait.gapMs < 60_000);
    assert.ok(
      logger.lines.some((l) => /upload blob .*asked to wait 3600 s \(Retry-After\), capped at 1\.5 s.*retry 1 in 1500 ms/.test(l)),
      logger.lines.join('\n'),
    );
  });

  it('completes a push through dropped connections', async () => {
    const p = await proxy({ dropEvery: 3, match: isUpload, maxFaults: 4 });
    const store = storeAt(p.host, 'faults/drop');
    const made = await makeImage(store, { tag: 'v1', layerBytes: 50_000 });
    assert.ok(p.stats().faults > 0);
    assert.deepEqual((await storeAt(reg.host, 'faults/drop').getManifest('v1')).bytes, made.root.bytes);
  });

  it('completes a chunked upload through faults', async () => {
    const p = await proxy({ status500Every: 3, dropEvery: 5, match: isUpload, maxFaults: 4 });
    const store = storeAt(p.host, 'faults/chunked', { chunkSize: 4096 });
    const bytes = pseudoRandomBytes(40_000, 21);
    const d: Descriptor = { mediaType: MediaType.OciLayerGzip, digest: digestOf(bytes), size: bytes.byteLength };
    const result = await store.putBlob({
      descriptor: d,
      open: async (offset = 0) =>
        (async function* () {
          for (let i = offset; i < bytes.byteLength; i += 1500) yield bytes.subarray(i, Math.min(i + 1500, bytes.byteLength));
        })(),
    });
    assert.equal(result, 'stored');
    assert.ok(p.stats().faults > 0);
    assert.deepEqual(await readAll(await storeAt(reg.host, 'faults/chunked').readBlob(d)), bytes);
  });

  it('resumes a download whose connection drops mid-body', async () => {
    const direct = storeAt(reg.host, 'faults/download');
    const bytes = pseudoRandomBytes(3 * 1024 * 1024, 31);
    const d: Descriptor = { mediaType: MediaType.OciLayerGzip, digest: digestOf(bytes), size: bytes.byteLength };
    await direct.putBlob({
      descriptor: d,
      open: async () =>
        (async function* () {
          yield bytes;
        })(),
    });
    const p = await proxy({ dropEvery: 1, maxFaults: 2, match: (m, path) => m === 'GET' && path.includes('/blobs/sha256:') });
    const events: ProgressUpdate[] = [];
    const store = storeAt(p.host, 'faults/download', { onProgress: (e) => events.push(e) });
    assert.deepEqual(await readAll(await store.readBlob(d)), bytes);
    assert.equal(p.stats().faults, 2);
    assert.ok(events.some((e) => e.kind === 'retry'));
  });

  it('fails with a typed error when every request fails, and leaves no tag', async () => {
    const p = await proxy({ status500Every: 1 });
    const store = storeAt(p.host, 'faults/always', { retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 } });
    await assert.rejects(makeImage(store, { tag: 'v1' }), (e) => isProvenantError(e, 'REGISTRY', 'NETWORK'));
    assert.equal(await storeAt(reg.host, 'faults/always').resolve('v1'), undefined);
  });

  it('puts tags last: a tag PUT that keeps failing leaves the manifest by digest and no tag', async () => {
    const p = await proxy({ status500Every: 1, match: (m, path) => m === 'PUT' && path.endsWith('/manifests/v1') });
    const store = storeAt(p.host, 'faults/tag', { retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 5 } });
    let rootDigest: string | undefined;
    const watching = {
      ...recording(store).store,
      putManifest: async (s: Stored, o?: PutManifestOptions) => {
        if ((o?.tags ?? []).length > 0) rootDigest = s.digest;
        return store.putManifest(s, o);
      },
    };
    await assert.rejects(makeImage(watching, { tag: 'v1' }), (e) => isProvenantError(e, 'REGISTRY'));
    const direct = storeAt(reg.host, 'faults/tag');
    assert.ok(rootDigest !== undefined);
    assert.equal((await direct.resolve(rootDigest))?.digest, rootDigest);
    assert.equal(await direct.resolve('v1'), undefined);
    assert.deepEqual(await direct.listTags(), []);
  });

  it('tries a blob upload that cannot start as often as the retry budget says, not that squared', async () => {
    const p = await proxy({ dropEvery: 1, match: (m, path) => m === 'POST' && path.includes('/blobs/uploads') });
    const events: ProgressUpdate[] = [];
    const store = storeAt(p.host, 'faults/nostart', {
      retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
      onProgress: (e) => events.push(e),
    });
    const err = await putOne(store, 100, 21).then(
      () => assert.fail('expected NETWORK'),
      (e: unknown) => e,
    );
    assert.ok(isProvenantError(err, 'NETWORK'), String(err));
    assert.match(err.hint ?? '', /; start blob upload was tried 3 times$/);
    assert.equal(p.log().filter((e) => e.method === 'POST').length, 3);
    assert.equal(events.filter((e) => e.kind === 'retry').length, 2);
  });

  it('ends an upload whose registry cannot be reached for its status, rather than open another session', async () => {
    // A chunk's PATCH drops, and every question about where its session stands finds no one.
    const p = await proxy({
      dropEvery: 1,
      match: (m) => m === 'PATCH',
      beforeForward: (m, path) => (m === 'GET' && path.includes('/blobs/uploads/') ? Promise.reject(new Error('gone')) : undefined),
    });
    const store = storeAt(p.host, 'faults/nostatus', { chunkSize: 50, retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 } });
    const err = await putOne(store, 100, 23).then(
      () => assert.fail('expected NETWORK'),
      (e: unknown) => e,
    );
    assert.ok(isProvenantError(err, 'NETWORK'), String(err));
    assert.match(err.hint ?? '', /; check upload status was tried 3 times$/);
    const uploads = p.log().filter((e) => e.path.includes('/blobs/uploads/'));
    assert.deepEqual(
      uploads.map((e) => e.method),
      ['POST', 'PATCH', 'GET', 'GET', 'GET'],
    );
  });

  it('fails with NETWORK when every connection drops, and leaves no tag', async () => {
    const p = await proxy({ dropEvery: 1 });
    const store = storeAt(p.host, 'faults/dropall', { retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 } });
    await assert.rejects(makeImage(store, { tag: 'v1' }), (e) => isProvenantError(e, 'NETWORK'));
    assert.equal(await storeAt(reg.host, 'faults/dropall').resolve('v1'), undefined);
  });
});
