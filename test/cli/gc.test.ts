// `provenant gc`: a location naming one image is refused, since gc works on a whole layout.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink, utimes, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { cosignTag } from '../../src/oci/content.ts';
import { type Digest, digestHex, digestOf } from '../../src/oci/digest.ts';
import { type GcResult, LayoutStore } from '../../src/store/layout.ts';
import { makeImage, makeReferrer } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';
import { exampleDir, provenant } from './provenant.ts';

const temp = useTempDir('gc');

/** Every file, folder and link under `root`, by path, with its bytes or target: equal when nothing changed. */
async function treeHash(root: string): Promise<string> {
  const hash = createHash('sha256');
  for (const entry of (await readdir(root, { recursive: true, withFileTypes: true })).map((e) => join(e.parentPath, e.name)).sort()) {
    const s = await lstat(entry);
    const rel = relative(root, entry);
    if (s.isSymbolicLink()) hash.update(`link ${rel} ${await readlink(entry)}\n`);
    else if (s.isDirectory()) hash.update(`dir ${rel}\n`);
    else
      hash.update(
        `file ${rel} ${createHash('sha256')
          .update(await readFile(entry))
          .digest('hex')}\n`,
      );
  }
  return hash.digest('hex');
}

describe('provenant gc', () => {
  it("drops the signatures (cosign's tags and sigstore bundles) of the images three rebuilds and signs of latest left, with those images, and says so", async () => {
    const dir = await temp();
    const env = { COSIGN_PASSWORD: 'gc test' };
    assert.equal((await provenant(['generate-key-pair'], { cwd: dir, env })).status, 0);
    const roots: Digest[] = [];
    for (const seed of [1, 2, 3]) {
      const store = await LayoutStore.open(join(dir, 'layout'), { create: true });
      roots.push((await makeImage(store, { tag: 'latest', seed: seed * 10 })).root.digest);
      await store.close();
      const r = await provenant(['sign', '--key', 'cosign.key', 'oci:layout:latest'], { cwd: dir, env });
      assert.equal(r.status, 0, r.stderr);
    }
    const sigs = roots.map((d) => cosignTag(d, 'sig'));
    const r = await provenant(['gc', 'oci:layout'], { cwd: dir });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(
      r.stdout.endsWith(
        `; dropped from index.json 2 untagged referrer(s) and 2 cosign tag(s) (${sigs.slice(0, 2).sort().join(', ')}) of images in the layout that nothing else keeps\n`,
      ),
      r.stdout,
    );
    const tags = await provenant(['tags', 'oci:layout'], { cwd: dir });
    assert.deepEqual(tags.stdout.trim().split('\n').sort(), ['latest', sigs[2]!].sort());
    const blobs = new Set(await readdir(join(dir, 'layout', 'blobs', 'sha256')));
    assert.deepEqual(
      roots.map((d) => blobs.has(digestHex(d))),
      [false, false, true],
    );
    assert.equal((await provenant(['verify', '--key', 'cosign.pub', 'oci:layout:latest'], { cwd: dir })).status, 0);
    const again = await provenant(['gc', 'oci:layout'], { cwd: dir });
    assert.equal(again.stdout, 'removed 0 blob(s) (0.0 MB) and 0 partial file(s) (0.0 MB)\n');
  });

  it('--dry-run lists exactly what gc then removes, and leaves every file of the layout byte for byte', async () => {
    const dir = await temp();
    const env = { COSIGN_PASSWORD: 'gc test' };
    assert.equal((await provenant(['generate-key-pair'], { cwd: dir, env })).status, 0);
    const roots: Digest[] = [];
    // Signed twice over a moved tag: the first image and its signature are kept by nothing.
    for (const seed of [1, 2]) {
      const store = await LayoutStore.open(join(dir, 'layout'), { create: true });
      roots.push((await makeImage(store, { tag: 'latest', seed: seed * 10 })).root.digest);
      await store.close();
      const r = await provenant(['sign', '--key', 'cosign.key', 'oci:layout:latest'], { cwd: dir, env });
      assert.equal(r.status, 0, r.stderr);
    }
    await writeFile(join(dir, 'layout', 'blobs', 'sha256', '.tmp-leftover'), 'partial');
    // The list of a writer of another host that stopped refreshing it two hours ago: gone.
    const list = join(dir, 'layout', '.provenant-writer-gone');
    await writeFile(list, '{"host":"elsewhere","pid":1,"id":"gone"}\n');
    const old = new Date(Date.now() - 2 * 3600_000);
    await utimes(list, old, old);
    const before = await treeHash(join(dir, 'layout'));

    const text = await provenant(['gc', '--dry-run', 'oci:layout'], { cwd: dir });
    assert.equal(text.status, 0, text.stderr);
    assert.equal(await treeHash(join(dir, 'layout')), before);
    const json = await provenant(['gc', '-n', '--format', 'json', 'oci:layout'], { cwd: dir });
    assert.equal(json.status, 0, json.stderr);
    assert.equal(await treeHash(join(dir, 'layout')), before);
    const plan = JSON.parse(json.stdout) as GcResult;
    assert.equal(plan.dryRun, true);
    assert.deepEqual(plan.droppedTags, [cosignTag(roots[0]!, 'sig')]);
    assert.ok(plan.removed.includes(roots[0]!), json.stdout);
    assert.deepEqual(plan.partials.files, [
      { path: '.provenant-writer-gone', size: 41 },
      { path: join('blobs', 'sha256', '.tmp-leftover'), size: 7 },
    ]);
    // The text says the same, one line for each thing, then the total.
    const lines = text.stdout.trimEnd().split('\n');
    assert.deepEqual(lines.slice(0, -1), [
      ...plan.dropped.map((d) => `would drop from index.json: untagged referrer ${d}`),
      `would drop from index.json: cosign tag ${cosignTag(roots[0]!, 'sig')}`,
      ...plan.blobs.map((b) => `would remove blob ${b.digest} (${b.size} bytes)`),
      "would remove a dead writer's list .provenant-writer-gone (41 bytes)",
      `would remove partial file ${join('blobs', 'sha256', '.tmp-leftover')} (7 bytes)`,
    ]);
    assert.match(
      lines.at(-1)!,
      new RegExp(
        `^would remove ${plan.removed.length} blob\\(s\\) .* and 1 partial file\\(s\\) and 1 list\\(s\\) of dead writers \\(0\\.0 MB\\); .*; nothing was changed \\(dry run\\)$`,
      ),
    );

    const blobsBefore = new Set(await readdir(join(dir, 'layout', 'blobs', 'sha256')));
    const real = await provenant(['gc', '--format', 'json', 'oci:layout'], { cwd: dir });
    assert.equal(real.status, 0, real.stderr);
    assert.deepEqual(JSON.parse(real.stdout), { ...plan, dryRun: false });
    // What went is exactly the plan's blobs and partial file.
    const blobsAfter = new Set(await readdir(join(dir, 'layout', 'blobs', 'sha256')));
    assert.deepEqual([...blobsBefore].filter((n) => !blobsAfter.has(n)).sort(), [...plan.removed.map(digestHex), '.tmp-leftover'].sort());
    assert.equal((await provenant(['verify', '--key', 'cosign.pub', 'oci:layout:latest'], { cwd: dir })).status, 0);
  });

  it("says what a real run removed: partial files and dead writers' lists counted apart", async () => {
    const dir = await temp();
    const store = await LayoutStore.open(join(dir, 'layout'), { create: true });
    await makeImage(store, { tag: 'app', seed: 1 });
    await store.close();
    await writeFile(join(dir, 'layout', 'blobs', 'sha256', '.tmp-leftover'), 'partial');
    const list = join(dir, 'layout', '.provenant-writer-gone');
    await writeFile(list, '{"host":"elsewhere","pid":1,"id":"gone"}\n');
    const old = new Date(Date.now() - 2 * 3600_000);
    await utimes(list, old, old);

    const real = await provenant(['gc', 'oci:layout'], { cwd: dir });
    assert.equal(real.status, 0, real.stderr);
    assert.equal(real.stdout, 'removed 0 blob(s) (0.0 MB) and 1 partial file(s) and 1 list(s) of dead writers (0.0 MB)\n');
    assert.deepEqual(
      (await readdir(join(dir, 'layout'))).filter((n) => n.startsWith('.provenant-writer')),
      [],
    );
  });

  it('keeps an attestation copied alone by digest, whose image the layout does not have', async () => {
    const dir = await temp();
    const store = await LayoutStore.open(join(dir, 'src'), { create: true });
    const image = await makeImage(store, { tag: 'app', seed: 1 });
    const att = await makeReferrer(store, image.root, 'application/vnd.example.att', 'att');
    await store.close();
    assert.equal((await provenant(['copy', '--quiet', `oci:src@${att.digest}`, 'oci:dst'], { cwd: dir })).status, 0);
    const before = await readFile(join(dir, 'dst', 'index.json'), 'utf8');
    const blobs = (await readdir(join(dir, 'dst', 'blobs', 'sha256'))).sort();
    const r = await provenant(['gc', 'oci:dst'], { cwd: dir });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^removed 0 blob\(s\)/);
    // The image it is about is not here, and nothing is lost by that: no warning.
    assert.equal(r.stderr, '');
    assert.equal(await readFile(join(dir, 'dst', 'index.json'), 'utf8'), before);
    assert.ok(before.includes(att.digest), before);
    assert.deepEqual((await readdir(join(dir, 'dst', 'blobs', 'sha256'))).sort(), blobs);
  });

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
