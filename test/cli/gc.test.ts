// `provenant gc`: a location naming one image is refused, since gc works on a whole layout.
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { digestHex, digestOf } from '../../src/oci/digest.ts';
import { useTempDir } from '../helpers/temp.ts';
import { exampleDir, provenant } from './provenant.ts';

const temp = useTempDir('gc');

describe('provenant gc', () => {
  it('refuses oci:DIR:TAG and oci:DIR@DIGEST with a usage error, and deletes nothing', async () => {
    const dir = join(await temp(), 'layout');
    assert.equal((await provenant(['copy', '--quiet', `oci:${exampleDir}:latest`, `oci:${dir}:v1`])).status, 0);
    // An unreferenced blob: what gc would delete, had it taken the location as the whole layout.
    const orphan = 'nothing refers to this';
    await writeFile(join(dir, 'blobs', 'sha256', digestHex(digestOf(orphan))), orphan);
    const digest = digestOf(orphan);
    const before = await readdir(join(dir, 'blobs', 'sha256'));
    for (const text of [`oci:${dir}:v1`, `oci:${dir}@${digest}`, `oci:${dir}:v1@${digest}`]) {
      const r = await provenant(['gc', text]);
      assert.equal(r.status, 2, `${text}: ${r.stderr}`);
      assert.match(r.stderr, /gc works on a whole layout/);
      assert.ok(r.stderr.includes(`provenant gc oci:${dir}`), r.stderr);
    }
    assert.deepEqual(await readdir(join(dir, 'blobs', 'sha256')), before);
    const r = await provenant(['gc', `oci:${dir}`]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^removed 1 blob\(s\)/);
  });

  it('keeps what a manifest of a type it does not know names, and warns of a named manifest that is missing', async () => {
    const dir = join(await temp(), 'layout');
    assert.equal((await provenant(['copy', '--quiet', `oci:${exampleDir}:latest`, `oci:${dir}:v1`])).status, 0);
    const put = async (text: string): Promise<{ digest: string; size: number }> => {
      await writeFile(join(dir, 'blobs', 'sha256', digestHex(digestOf(text))), text);
      return { digest: digestOf(text), size: Buffer.byteLength(text) };
    };
    const blob = (d: { digest: string; size: number }) => ({ mediaType: 'application/octet-stream', ...d });
    const ARTIFACT = 'application/vnd.oci.artifact.manifest.v1+json';
    // An artifact manifest named by index.json, and another named only by an index.
    const payload = await put('the artifact payload');
    const artifact = await put(JSON.stringify({ mediaType: ARTIFACT, artifactType: 'application/vnd.example', blobs: [blob(payload)] }));
    const inner = await put('what the inner artifact holds');
    const innerArtifact = await put(JSON.stringify({ mediaType: ARTIFACT, layers: [blob(inner)] }));
    const index = await put(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [{ mediaType: ARTIFACT, ...innerArtifact }],
      }),
    );
    const orphan = await put('nothing refers to this');
    const missing = digestOf('never written');
    const indexJson = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: unknown[] };
    indexJson.manifests.push(
      { mediaType: ARTIFACT, ...artifact, annotations: { 'org.opencontainers.image.ref.name': 'art' } },
      { mediaType: 'application/vnd.oci.image.index.v1+json', ...index, annotations: { 'org.opencontainers.image.ref.name': 'idx' } },
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: missing, size: 10 },
    );
    await writeFile(join(dir, 'index.json'), JSON.stringify(indexJson));
    const r = await provenant(['gc', `oci:${dir}`]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^removed 1 blob\(s\)/);
    assert.ok(
      r.stderr.includes(`warning: oci:${dir}@${missing} (application/vnd.oci.image.manifest.v1+json) is named but not in the layout`),
      r.stderr,
    );
    const left = await readdir(join(dir, 'blobs', 'sha256'));
    for (const d of [payload, artifact, inner, innerArtifact, index])
      assert.ok(left.includes(digestHex(d.digest as `sha256:${string}`)), d.digest);
    assert.ok(!left.includes(digestHex(orphan.digest as `sha256:${string}`)));
  });

  it('says to write oci: before a layout folder named without it', async () => {
    const dir = join(await temp(), 'lay');
    assert.equal((await provenant(['copy', '--quiet', `oci:${exampleDir}:latest`, `oci:${dir}:v1`])).status, 0);
    const r = await provenant(['gc', dir]);
    assert.equal(r.status, 2, r.stderr);
    assert.ok(r.stderr.includes(`hint: for the layout in the folder ${dir} write: provenant gc oci:${dir}`), r.stderr);
  });

  it('says what is wrong with a name written with oci: that does not parse, not that oci: is missing', async () => {
    const r = await provenant(['gc', 'oci:lay@sha256:zz']);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /"sha256:zz" is not a digest/);
    assert.doesNotMatch(r.stderr, /name the layout folder with its prefix/);
  });
});
