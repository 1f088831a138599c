// Compressed archives: gzip and zstd read through a decompressed temporary copy, xz and bzip2
// refused saying what they are, and a compressed file never written over.
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { isProvenantError, type ProvenantError } from '../../src/errors.ts';
import { copyImage } from '../../src/image/copy.ts';
import { openOciArchive } from '../../src/store/archive.ts';
import { DockerArchiveStore } from '../../src/store/docker-archive.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import type { ContentStore } from '../../src/store/types.ts';
import { makeImage } from '../helpers/images.ts';
import { makeSandbox } from '../helpers/sandbox.ts';
import { useTempDir } from '../helpers/temp.ts';

const temp = useTempDir('archive-compressed');
const zlib = process.getBuiltinModule('node:zlib') as unknown as { zstdCompressSync?: (b: Uint8Array) => Uint8Array };

/** An oci-archive and a docker-archive of one image, uncompressed, in `dir`. */
async function archives(dir: string) {
  const src = await LayoutStore.open(join(dir, 'src'), { create: true });
  const made = await makeImage(src, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
  const image = made.manifests[0]!;
  const oci = await openOciArchive(join(dir, 'oci.tar'), { write: true });
  await copyImage(src, 'v1', oci, { tags: ['v1'] });
  await oci.close();
  const docker = await DockerArchiveStore.open(join(dir, 'docker.tar'), { write: true });
  await copyImage(src, image.digest, docker, { tags: ['foo:v1'] });
  await docker.close();
  await src.close();
  return { oci: join(dir, 'oci.tar'), docker: join(dir, 'docker.tar') };
}

/** The root digest and tags of an archive read as `open` opens it. */
async function readBack(open: () => Promise<ContentStore>) {
  const store = await open();
  try {
    const tags = await store.listTags();
    return { tags, digest: (await store.resolve(tags[0]!))?.digest };
  } finally {
    await store.close();
  }
}

function noRawBytes(err: ProvenantError): void {
  // Printable ASCII and the paths of this test only: no byte of a header reaches a terminal raw.
  assert.match(`${err.message} ${err.hint ?? ''}`, /^[\x20-\x7e]*$/);
}

describe('compressed archives', () => {
  it('reads a gzip-compressed oci-archive and docker-archive as the tar, leaving no temporary file', async () => {
    const dir = await temp();
    const plain = await archives(dir);
    const sandbox = await makeSandbox(join(dir, 'sandbox'));
    for (const [kind, path] of [
      ['oci', plain.oci],
      ['docker', plain.docker],
    ] as const) {
      const gz = `${path}.gz`;
      await writeFile(gz, gzipSync(await readFile(path)));
      const open = (p: string) => (): Promise<ContentStore> => (kind === 'oci' ? openOciArchive(p) : DockerArchiveStore.open(p));
      const want = await readBack(open(path));
      const got = await sandbox.withTmp(() => readBack(open(gz)));
      assert.deepEqual(got, want, kind);
      // The decompressed copy is read by offset, with blobs checked against their digests.
      const store = await sandbox.withTmp(open(gz));
      const root = await store.getManifest(got.tags[0]!);
      assert.equal(root.digest, want.digest);
      assert.equal((await sandbox.leftInTmp()).length, 1, 'the decompressed copy lives while the store is open');
      await store.close();
      assert.deepEqual(await sandbox.leftInTmp(), [], 'and is removed on close');
    }
  });

  it('reads a zstd-compressed oci-archive where node:zlib decodes zstd', { skip: zlib.zstdCompressSync === undefined }, async () => {
    const dir = await temp();
    const plain = await archives(dir);
    const zst = join(dir, 'oci.tar.zst');
    await writeFile(zst, zlib.zstdCompressSync!(await readFile(plain.oci)));
    assert.deepEqual(await readBack(() => openOciArchive(zst)), await readBack(() => openOciArchive(plain.oci)));
  });

  it('refuses xz and bzip2 archives saying what they are and how to decompress them', async () => {
    const dir = await temp();
    const magics = {
      xz: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x04, 0xe6, 0xd6],
      bzip2: [0x42, 0x5a, 0x68, 0x39, 0x31, 0x41, 0x59, 0x26, 0x53, 0x59],
    };
    for (const [name, magic] of Object.entries(magics)) {
      const path = join(dir, `image.tar.${name}`);
      await writeFile(path, Buffer.concat([Buffer.from(magic), Buffer.alloc(2000, 0xa5)]));
      for (const open of [() => openOciArchive(path), () => DockerArchiveStore.open(path)]) {
        await assert.rejects(open(), (err: unknown) => {
          assert.ok(isProvenantError(err, 'INVALID_ARCHIVE'), String(err));
          assert.match(err.message, new RegExp(`${name}-compressed`));
          assert.match(err.hint ?? '', new RegExp(`${name} -dc`));
          noRawBytes(err);
          return true;
        });
      }
    }
  });

  it('refuses to write into a gzip-compressed oci-archive, leaving it as it was', async () => {
    const dir = await temp();
    const plain = await archives(dir);
    const gz = join(dir, 'oci.tgz');
    const bytes = gzipSync(await readFile(plain.oci));
    await writeFile(gz, bytes);
    await assert.rejects(openOciArchive(gz, { write: true }), (err: unknown) => {
      assert.ok(isProvenantError(err, 'USAGE'), String(err));
      assert.match(err.message, /gzip-compressed, and an oci-archive is written as a plain tar/);
      return true;
    });
    assert.deepEqual(await readFile(gz), bytes);
    assert.deepEqual((await readdir(dir)).sort(), ['docker.tar', 'oci.tar', 'oci.tgz', 'src']);
  });
});
