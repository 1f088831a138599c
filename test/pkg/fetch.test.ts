// The download cache: what comes out is what went in, checked against its digest unless the
// caller checks it itself, and damaged entries are misses rather than failures.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DownloadCache } from '../../src/pkg/fetch.ts';

describe('DownloadCache', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'provenant-cache-test-'));
  after(() => rm(dir, { recursive: true, force: true }));
  const bytes = new TextEncoder().encode('some package bytes\n'.repeat(1000));
  const hex = createHash('sha256').update(bytes).digest('hex');

  it('gives back what was put, as a plain Uint8Array or in shared memory', async () => {
    const cache = new DownloadCache(dir);
    assert.equal(await cache.get('deb:x'), undefined);
    await cache.put('deb:x', bytes);
    const plain = await cache.get('deb:x');
    assert.deepEqual(plain, bytes);
    const shared = await cache.get('deb:x', { shared: true });
    assert.ok(shared?.buffer instanceof SharedArrayBuffer);
    assert.deepEqual(new Uint8Array(shared), bytes);
    assert.deepEqual(await readdir(join(dir, 'sha256')), [hex]);
  });

  it('treats a damaged entry as a miss, unless the caller checks the bytes itself', async () => {
    const cache = new DownloadCache(dir);
    await cache.put('deb:y', bytes);
    const damaged = bytes.slice();
    damaged[10]! ^= 1;
    await writeFile(join(dir, 'sha256', hex), damaged);
    assert.equal(await cache.get('deb:y'), undefined);
    assert.equal(await cache.get('deb:y', { shared: true }), undefined);
    // check: false hands the bytes over unchecked: the caller compares them with its own digest.
    assert.deepEqual(await cache.get('deb:y', { check: false }), damaged);
  });
});
