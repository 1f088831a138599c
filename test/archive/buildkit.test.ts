// The real thing: an OCI layout tarball as BuildKit exports it (`--output type=oci`).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { describe, it } from 'node:test';
import { indexTarFile, openTarMember } from '../../src/archive/tar.ts';
import { fixture, fixturesMissing, readFixture } from '../helpers/fixtures.ts';
import { chunked, collect, readAll } from './helpers.ts';

const NAME = 'buildkit-oci-layout-tar_2-platforms-with-legacy-attestation-manifests.tar';
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('BuildKit OCI layout tar', { skip: fixturesMissing }, () => {
  it('lists oci-layout, index.json and blobs whose sha256 is their name', async () => {
    const path = fixture('oci', NAME);
    const entries = await readAll(createReadStream(path), path);
    const names = entries.map((e) => e.header.name);
    assert.ok(names.includes('oci-layout'));
    assert.ok(names.includes('index.json'));
    assert.ok(names.includes('blobs/sha256/'));
    const blobs = entries.filter((e) => e.header.name.startsWith('blobs/sha256/') && e.header.type === 'file');
    assert.equal(blobs.length, 13);
    for (const b of blobs) {
      assert.equal(sha256(b.body), b.header.name.slice('blobs/sha256/'.length), b.header.name);
      assert.equal(b.body.length, b.header.size);
      assert.equal(b.header.mtime, 0);
      assert.equal(b.header.uid, 0);
    }
    const layout = entries.find((e) => e.header.name === 'oci-layout')!;
    assert.deepEqual(JSON.parse(Buffer.from(layout.body).toString()), { imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(Buffer.from(entries.find((e) => e.header.name === 'index.json')!.body).toString());
    assert.equal(index.schemaVersion, 2);
  });

  it('reads the same from 1-byte chunks', async () => {
    const bytes = await readFixture('oci', NAME);
    assert.deepEqual(await readAll(chunked(bytes)), await readAll([bytes]));
  });

  it('indexTarFile and openTarMember give the same bytes as readTar', async () => {
    const path = fixture('oci', NAME);
    const index = await indexTarFile(path);
    const entries = await readAll(createReadStream(path));
    assert.deepEqual(
      [...index.keys()],
      entries.map((e) => e.header.name),
    );
    for (const e of entries) {
      const at = index.get(e.header.name)!;
      assert.deepEqual(at.header, e.header);
      const bytes = await collect(openTarMember(path, at));
      assert.deepEqual(bytes, e.body, e.header.name);
      if (e.header.name.startsWith('blobs/sha256/') && e.header.type === 'file') {
        assert.equal(sha256(bytes), e.header.name.slice('blobs/sha256/'.length));
      }
    }
  });
});
