// imageFiles: the few files of an image that `sbom --compat apko` and `reproduce` read, streamed
// from each layer as `sbom` and `diff` read them, never a whole (decompressed) layer in memory.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import { tarBytes, tarHeader } from '../../src/archive/tar.ts';
import { imageFiles } from '../../src/image/apko-sbom.ts';
import { bytesSource } from '../../src/io/types.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import type { Descriptor } from '../../src/oci/types.ts';
import type { ContentStore } from '../../src/store/types.ts';
import { rejectsWith } from '../archive/helpers.ts';
import { file, layer, layout, link, removeTemp } from './diff-helpers.ts';

after(removeTemp);

const utf8 = new TextDecoder();

/** A store of `blobs` that hands each out in 4 KiB chunks and counts the bytes it handed out. */
async function countingStore(blobs: Uint8Array[]): Promise<{ store: ContentStore; layers: Descriptor[]; served: () => number }> {
  const inner = await layout();
  const layers: Descriptor[] = [];
  for (const bytes of blobs) {
    const d: Descriptor = { mediaType: MediaType.OciLayerGzip, digest: digestOf(bytes), size: bytes.length };
    await inner.putBlob(bytesSource(d, bytes));
    layers.push(d);
  }
  let served = 0;
  const store = Object.create(inner) as ContentStore;
  store.readBlob = async (d, options) => {
    const stream = await inner.readBlob(d, options);
    return (async function* () {
      for await (const chunk of stream) {
        for (let at = 0; at < chunk.length; at += 4096) {
          const part = chunk.subarray(at, at + 4096);
          served += part.length;
          yield part;
        }
      }
    })();
  };
  return { store, layers, served: () => served };
}

describe('imageFiles', () => {
  it('streams a layer: the wanted file is read from its first chunks, not after the whole blob', async () => {
    // Incompressible, so that the blob is far larger than what the decompressor reads ahead.
    const big = randomBytes(2 * 1024 * 1024);
    const tar = await tarBytes([
      { header: tarHeader({ name: 'etc/apko.json', size: 2 }), body: new TextEncoder().encode('{}') },
      { header: tarHeader({ name: 'zeros', size: big.length }), body: big },
    ]);
    const gz = new Uint8Array(zlib.gzipSync(tar));
    const { store, layers, served } = await countingStore([gz]);
    let servedAtWanted: number | undefined;
    const read = await imageFiles(
      store,
      layers,
      (p) => {
        if (p === 'etc/apko.json') servedAtWanted ??= served();
        return p === 'etc/apko.json';
      },
      'img',
      {},
    );
    assert.equal(utf8.decode(read('etc/apko.json')), '{}');
    assert.equal(read('zeros'), undefined, 'only wanted bodies are kept');
    // The whole blob was read (its digest checked), but the wanted entry came from its first chunks.
    assert.equal(served(), gz.length);
    assert.ok(servedAtWanted !== undefined && servedAtWanted < gz.length / 4, `${servedAtWanted} of ${gz.length} bytes read first`);
  });

  it('refuses a corrupt gzip layer as INVALID_ARCHIVE and a cut one as TRUNCATED, naming the layer', async () => {
    const good = (await layer([file('etc/apko.json', '{}')])).bytes;
    const corrupt = Uint8Array.from(good);
    corrupt.fill(0xff, 10, 40);
    const cut = good.subarray(0, good.length - 12);
    for (const [bytes, code] of [
      [corrupt, 'INVALID_ARCHIVE'],
      [cut, 'TRUNCATED'],
    ] as const) {
      const { store, layers } = await countingStore([bytes]);
      const err = await rejectsWith(() => imageFiles(store, layers, () => true, 'img', {}), code);
      assert.match(err.where ?? '', new RegExp(`^img@${layers[0]!.digest}`));
    }
  });

  it('applies whiteouts and follows symlinks among the files, as a runtime has them', async () => {
    const one = await layer([
      file('usr/lib/os-release', 'ID=one\n'),
      link('etc/os-release', '../usr/lib/os-release'),
      file('var/lib/db/sbom/a.spdx.json', 'a'),
      file('var/lib/db/sbom/b.spdx.json', 'b'),
    ]);
    const two = await layer([file('var/lib/db/sbom/.wh.a.spdx.json', ''), file('var/lib/db/sbom/b.spdx.json', 'b2')]);
    const store = await layout();
    for (const l of [one, two]) await store.putBlob(bytesSource(l.descriptor, l.bytes));
    const read = await imageFiles(store, [one.descriptor, two.descriptor], () => true, 'img', {});
    assert.equal(utf8.decode(read('etc/os-release')), 'ID=one\n');
    assert.equal(read('var/lib/db/sbom/a.spdx.json'), undefined);
    assert.equal(utf8.decode(read('var/lib/db/sbom/b.spdx.json')), 'b2');
  });
});
