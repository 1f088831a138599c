// `provenant blob` and `report -o`: no unchecked byte reaches standard output, and a missing output folder is NOT_FOUND.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { bytesSource } from '../../src/io/types.ts';
import { digestHex, digestOf } from '../../src/oci/digest.ts';
import { useTempDir, useTempLayout } from '../helpers/temp.ts';
import { exampleDir, provenant } from './provenant.ts';

/** A registry that announces `headSize` on HEAD and serves `body` on GET, for any blob. */
async function lyingRegistry(headSize: number, body: Uint8Array): Promise<{ host: string; server: Server }> {
  const server = createServer((req, res) => {
    if (req.url === '/v2/') return void res.writeHead(200, { 'content-length': '2' }).end('{}');
    if (req.url?.startsWith('/v2/a/blobs/')) {
      res.writeHead(200, { 'content-length': String(req.method === 'HEAD' ? headSize : body.byteLength) });
      return void res.end(req.method === 'HEAD' ? undefined : body);
    }
    res.writeHead(404, { 'content-length': '2' }).end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('provenant blob and report -o', () => {
  const layout = useTempLayout('cli-blob');
  const tempDir = useTempDir('cli-blob-out');
  const servers: Server[] = [];
  after(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  it('holds what it received, not what HEAD announced: a registry that says "100 MB" and sends other bytes gets none out', async () => {
    const digest = digestOf(new TextEncoder().encode('echo genuine\n'));
    const tampered = new TextEncoder().encode('echo TAMPERED\n');
    for (const headSize of [100_000_000, tampered.byteLength]) {
      const { host, server } = await lyingRegistry(headSize, tampered);
      servers.push(server);
      const r = await provenant(['blob', `${host}/a`, digest]);
      assert.equal(r.status, 5, r.stderr);
      assert.equal(r.stdout, '', `HEAD said ${headSize}`);
    }
  });

  it('writes nothing of a blob whose bytes do not match its digest (exit 5)', async () => {
    const store = await layout();
    const bytes = new TextEncoder().encode('the real content of the blob\n'.repeat(1000));
    const digest = digestOf(bytes);
    await store.putBlob(bytesSource({ mediaType: 'application/octet-stream', digest, size: bytes.length }, bytes));
    const good = await provenant(['blob', store.location, digest]);
    assert.equal(good.status, 0, good.stderr);
    assert.equal(good.stdout, new TextDecoder().decode(bytes));
    // Same size, other bytes: only the digest can tell.
    await writeFile(
      join(store.path, 'blobs', 'sha256', digestHex(digest)),
      bytes.map((b) => (b === 0x61 ? 0x62 : b)),
    );
    const bad = await provenant(['blob', store.location, digest]);
    assert.equal(bad.status, 5, bad.stderr);
    assert.equal(bad.stdout, '');
  });

  it('refuses a malformed DIGEST as a usage error (exit 2), as digest REF@DIGEST does', async () => {
    for (const bad of ['sha256:abc', 'md5:0123', 'latest']) {
      const r = await provenant(['blob', exampleDir, bad]);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /is not a sha256 or sha512 digest \(the DIGEST argument\)\n {2}hint: a digest looks like sha256:/);
    }
  });

  it('refuses -o ending in a separator as a usage error (exit 2) naming it, written or not, the folder there or not', async () => {
    const store = await layout();
    const bytes = new TextEncoder().encode('x');
    const digest = digestOf(bytes);
    await store.putBlob(bytesSource({ mediaType: 'application/octet-stream', digest, size: 1 }, bytes));
    const dir = await tempDir();
    for (const out of [join(dir, 'newdir/'), `${dir}/`]) {
      const r = await provenant(['blob', store.location, digest, '-o', out]);
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stderr.split('\n')[0], `provenant blob: ${out} ends in /: that names a folder, not a file to write`);
    }
    assert.deepEqual(await readdir(dir), [], 'nothing written, no temporary file left');
  });

  it('says a missing output folder is not found (exit 3), naming the file, for blob -o and report -o', async () => {
    const store = await layout();
    const bytes = new TextEncoder().encode('x');
    const digest = digestOf(bytes);
    await store.putBlob(bytesSource({ mediaType: 'application/octet-stream', digest, size: 1 }, bytes));
    const b = await provenant(['blob', store.location, digest, '-o', '/nonexistent-folder/x']);
    assert.equal(b.status, 3, b.stderr);
    assert.match(b.stderr, /there is no folder \/nonexistent-folder to write \/nonexistent-folder\/x in/);
    assert.doesNotMatch(b.stderr, /\.tmp|ENOENT/);
    const r = await provenant(['report', `oci:${exampleDir}:latest`, '-o', '/nonexistent-folder/r.html', '--probe', 'false']);
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /there is no folder \/nonexistent-folder to write \/nonexistent-folder\/r\.html in/);
    assert.equal(existsSync('/nonexistent-folder'), false);
  });
});
