// An oci-archive destination with a corrupt blob: named as the corrupt side, and repaired by a
// copy that brings a good copy of the blob, as a layout is.
import assert from 'node:assert/strict';
import { open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { indexTarFile } from '../../src/archive/tar.ts';
import { isProvenantError } from '../../src/errors.ts';
import { copyImage } from '../../src/image/copy.ts';
import { bytesSource } from '../../src/io/types.ts';
import { collect } from '../../src/io/verify.ts';
import { type Digest, digestHex, digestOf } from '../../src/oci/digest.ts';
import { openOciArchive } from '../../src/store/archive.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { makeImage } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';

const temp = useTempDir('archive-corrupt');

/** Flips the first byte of the blob `digest` in the tar at `path`, in place. */
async function corrupt(path: string, digest: Digest): Promise<Uint8Array> {
  const entry = (await indexTarFile(path)).get(`blobs/sha256/${digestHex(digest)}`)!;
  const file = await open(path, 'r+');
  const one = Buffer.alloc(1);
  await file.read(one, 0, 1, entry.offset);
  await file.write(Buffer.from([one[0]! ^ 1]), 0, 1, entry.offset);
  await file.close();
  return readFile(path);
}

describe('an oci-archive destination with a corrupt blob', () => {
  it('is refused naming the archive and the blob unless the copy brings the blob, which then replaces it', async () => {
    const dir = await temp();
    const src = await LayoutStore.open(join(dir, 'src'), { create: true });
    const made = await makeImage(src, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    await makeImage(src, { tag: 'v2', seed: 99, platforms: [{ os: 'linux', architecture: 'riscv64' }] });
    const path = join(dir, 'a.tar');
    let store = await openOciArchive(path, { write: true });
    await copyImage(src, 'v1', store, { tags: ['v1'] });
    await store.close();

    // One byte of the image's config flipped in place.
    const image = made.manifests[0]!;
    assert.equal(image.kind, 'manifest');
    const d = image.manifest.config;
    const config = d.digest;
    const bad = await corrupt(path, config);

    // Another image does not bring it: the archive is the corrupt side, and stays as it was.
    store = await openOciArchive(path, { write: true });
    await copyImage(src, 'v2', store, { tags: ['v2'] });
    await assert.rejects(store.close(), (err: unknown) => {
      assert.ok(isProvenantError(err, 'INVALID_ARCHIVE'), String(err));
      assert.match(err.message, new RegExp(`the archive being written to holds a corrupt blob ${config}`));
      assert.equal(err.where, `oci-archive:${path}@${config}`);
      assert.match(err.hint ?? '', /copy the image that uses it into the archive again/);
      return true;
    });
    assert.deepEqual(await readFile(path), bad);
    assert.deepEqual((await readdir(dir)).sort(), ['a.tar', 'src']);

    // The image that holds it does: the good copy replaces the corrupt one, and every tag stays.
    store = await openOciArchive(path, { write: true });
    await copyImage(src, 'v1', store, { tags: ['v1'] });
    await copyImage(src, 'v2', store, { tags: ['v2'] });
    await store.close();
    const back = await openOciArchive(path);
    assert.deepEqual(await back.listTags(), ['v1', 'v2']);
    assert.deepEqual(await collect(await back.readBlob(d), 1 << 20, 'test'), made.blobs.get(config));
    await back.close();
    await src.close();
  });

  it('drops a corrupt blob that nothing in index.json reaches, as gc would', async () => {
    const dir = await temp();
    const src = await LayoutStore.open(join(dir, 'src'), { create: true });
    await makeImage(src, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const path = join(dir, 'a.tar');
    let store = await openOciArchive(path, { write: true });
    const orphan = new TextEncoder().encode('nothing refers to this');
    const digest = digestOf(orphan);
    await store.putBlob(bytesSource({ mediaType: 'application/octet-stream', digest, size: orphan.length }, orphan));
    await store.close();
    assert.ok((await indexTarFile(path)).has(`blobs/sha256/${digestHex(digest)}`));
    await corrupt(path, digest);
    store = await openOciArchive(path, { write: true });
    await copyImage(src, 'v1', store, { tags: ['v1'] });
    await store.close();
    assert.ok(!(await indexTarFile(path)).has(`blobs/sha256/${digestHex(digest)}`));
    const back = await openOciArchive(path);
    assert.deepEqual(await back.listTags(), ['v1']);
    await back.close();
    await src.close();
  });
});
