// A digest in a docker-archive's image name: refused, as skopeo refuses it, for reading and
// writing alike, rather than passed over.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isProvenantError } from '../../src/errors.ts';
import { copyImage } from '../../src/image/copy.ts';
import { formatLocation, type Location, parseLocation } from '../../src/ref/location.ts';
import { parseReference } from '../../src/ref/reference.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { openLocation } from '../../src/store/open.ts';
import { makeImage } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('docker-archive-digest');
const OTHER = `sha256:${'1'.repeat(64)}`;

describe('a docker-archive name with a digest', () => {
  it('is INVALID_REFERENCE when parsed, with or without a tag', () => {
    for (const name of [`busybox@${OTHER}`, `example.com/app:1@${OTHER}`]) {
      assert.throws(
        () => parseLocation(`docker-archive:x.tar:${name}`),
        (e: unknown) => isProvenantError(e, 'INVALID_REFERENCE') && /never by digest/.test(e.message) && (e.hint ?? '').includes(OTHER),
      );
    }
    assert.equal(parseLocation('docker-archive:x.tar:busybox:1').kind, 'docker-archive');
  });

  // `FILE@DIGEST` split at its first `:` read as the file `x.tar@sha256` holding an image named
  // by the hex digits, and failed opening it ("no archive at x.tar@sha256", exit 3).
  it('is INVALID_REFERENCE after the file, as after an image name', () => {
    for (const digest of [OTHER, 'sha256:abc', `sha512:${'2'.repeat(128)}`]) {
      assert.throws(
        () => parseLocation(`docker-archive:x.tar@${digest}`),
        (e: unknown) =>
          isProvenantError(e, 'INVALID_REFERENCE') &&
          /never by digest/.test(e.message) &&
          e.where === `docker-archive:x.tar@${digest}` &&
          (e.hint ?? '').includes(`leave out @${digest}`),
      );
    }
    // A file whose name holds "@" is a file still.
    assert.deepEqual(parseLocation('docker-archive:x@y.tar'), { kind: 'docker-archive', path: 'x@y.tar', reference: undefined });
    // A final read: so is a file named FILE@sha256 holding a NAME:TAG, which skopeo writes and reads.
    const named = parseLocation('docker-archive:y@sha256:app:v1');
    assert.deepEqual(named.kind === 'docker-archive' && [named.path, named.reference?.repository, named.reference?.tag], [
      'y@sha256',
      'library/app',
      'v1',
    ]);
  });

  it('is refused when opened from a Location made by hand, to read and to write, and nothing is written', async () => {
    const dir = await tempDir();
    const layout = await LayoutStore.open(join(dir, 'l'), { create: true });
    const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const path = join(dir, 'd.tar');
    const written = await openLocation(parseLocation(`docker-archive:${path}:example.com/app:1`), { write: true });
    await copyImage(layout, made.manifests[0]!.digest, written.store, { tags: written.tags });
    await written.store.close();
    const withDigest: Location = { kind: 'docker-archive', path, reference: parseReference(`example.com/app:1@${OTHER}`) };
    assert.ok(formatLocation(withDigest).endsWith(`@${OTHER}`), 'said, not dropped');
    await assert.rejects(openLocation(withDigest), (e: unknown) => isProvenantError(e, 'INVALID_REFERENCE'));
    const other: Location = { kind: 'docker-archive', path: join(dir, 'e.tar'), reference: withDigest.reference };
    await assert.rejects(openLocation(other, { write: true }), (e: unknown) => isProvenantError(e, 'INVALID_REFERENCE'));
    assert.deepEqual((await readdir(dir)).sort(), ['d.tar', 'l']);
  });
});
