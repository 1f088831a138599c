// Where reproduce takes package files from: --cache-dir gives package files, never layers (a
// rebuild that took the layers an earlier build compressed would prove nothing about them), and
// the hosts asked are told before any is.
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildImage } from '../../src/builder/build.ts';
import type { Digest } from '../../src/oci/digest.ts';
import { renderReproduce } from '../../src/reproduce/render.ts';
import { reproduceImage } from '../../src/reproduce/reproduce.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { useTempDir } from '../helpers/temp.ts';
import {
  buildAndDescribe,
  EPOCH,
  loadWrittenConfig,
  repositoryKey,
  type StaticServer,
  serveFolder,
  writeConfig,
  writeRepository,
  writeWithAttestations,
} from './helpers.ts';

const tempDir = useTempDir('reproduce-cache');

/**
 * Swaps what the cache keeps for two layers, record and file: each entry stays whole (its file
 * has the digest its record names), but under the other layer's key.
 */
async function swapLayers(cacheDir: string, a: Digest, b: Digest): Promise<number> {
  const keys = join(cacheDir, 'keys');
  const owner = async (keyFile: string): Promise<Digest | undefined> => {
    const [hex = ''] = (await readFile(join(keys, keyFile), 'utf8')).trim().split(' ');
    if (`sha256:${hex}` === a || `sha256:${hex}` === b) return `sha256:${hex}` as Digest; // a layer-blob key
    const record = await readFile(join(cacheDir, 'sha256', hex), 'utf8').catch(() => '');
    const digest = /^\{"digest":"(sha256:[0-9a-f]{64})"/.exec(record)?.[1];
    return digest === a || digest === b ? (digest as Digest) : undefined; // a layer record key
  };
  const byLayer = new Map<Digest, { file: string; text: string }[]>([
    [a, []],
    [b, []],
  ]);
  for (const file of await readdir(keys)) {
    const layer = await owner(file);
    if (layer !== undefined) byLayer.get(layer)?.push({ file, text: await readFile(join(keys, file), 'utf8') });
  }
  const [ofA, ofB] = [byLayer.get(a) ?? [], byLayer.get(b) ?? []];
  assert.equal(ofA.length, 2, 'a record and a file kept for the first layer');
  assert.equal(ofB.length, 2, 'a record and a file kept for the second layer');
  // A layer-blob key names the layer itself; a record key names the record's file.
  const isRecord = (e: { text: string }) => ![a, b].includes(`sha256:${e.text.trim().split(' ')[0]}` as Digest);
  for (const [x, y] of [
    [ofA.find(isRecord), ofB.find(isRecord)],
    [ofA.find((e) => !isRecord(e)), ofB.find((e) => !isRecord(e))],
  ]) {
    assert.ok(x && y);
    await writeFile(join(keys, x.file), y.text);
    await writeFile(join(keys, y.file), x.text);
  }
  return ofA.length + ofB.length;
}

describe("reproduce's package sources", () => {
  let root: string;
  let server: StaticServer;
  let store: LayoutStore;

  before(async () => {
    root = await tempDir();
    const key = repositoryKey();
    await writeRepository(join(root, 'served'), key);
    server = await serveFolder(join(root, 'served'));
    const configPath = await writeConfig(root, key, `${server.url}/repo`);
    store = await LayoutStore.open(join(root, 'layout'), { create: true });
    await writeWithAttestations(store, await buildAndDescribe(configPath, 'app'), 'v1');
  });
  after(async () => {
    await store?.close();
    await server?.close();
  });

  it('compresses every layer again, whatever an earlier build kept in the cache', async () => {
    const configPath = join(root, 'cfg', 'app', 'image.yaml');
    const cacheDir = join(root, 'cache');
    const build = async () =>
      buildImage({
        config: await loadWrittenConfig(configPath),
        configPath,
        sourceDateEpoch: EPOCH,
        cacheDir,
        workers: 0,
      });
    // An earlier build on this machine filled the cache, with the very image of the original.
    const first = await build();
    const original = await store.getManifest('v1');
    assert.ok(original.kind === 'index');
    assert.deepEqual(
      first.images.map((i) => i.manifest.digest),
      original.index.manifests.map((d) => d.digest),
    );
    const [l0, l1] = first.images[0]?.layers.map((l) => l.digest) ?? [];
    assert.ok(l0 !== undefined && l1 !== undefined && l0 !== l1);
    await swapLayers(cacheDir, l0, l1);
    // The cache now hands the second layer out for the first: a build that reuses layers takes it.
    const poisoned = await build();
    assert.notEqual(poisoned.images[0]?.manifest.digest, first.images[0]?.manifest.digest);
    assert.equal(poisoned.images[0]?.layers[0]?.digest, l1);

    const report = await reproduceImage(store, 'v1', { cacheDir });
    assert.equal(report.match, true, renderReproduce(report));
    assert.ok(report.platforms.every((p) => p.status === 'match' && p.rebuilt === p.digest));
  });

  it('says which hosts it will ask for package files before it asks any', async () => {
    const events: string[] = [];
    const apkRequests = () => server.requests.filter((r) => r.endsWith('.apk')).length;
    const earlier = apkRequests();
    let requestsBefore = -1;
    const report = await reproduceImage(store, 'v1', {
      onProgress: (u) => {
        if (u.phase === 'sources') {
          events.push(`sources ${u.hosts.join(',')} ${u.localFiles}`);
          requestsBefore = apkRequests() - earlier;
        } else if (u.phase === 'fetch') events.push('fetch');
      },
    });
    assert.equal(report.match, true, renderReproduce(report));
    assert.equal(events[0], `sources ${new URL(server.url).host} 0`);
    assert.equal(events.filter((e) => e.startsWith('sources')).length, 1);
    assert.ok(events.length > 1 && events.slice(1).every((e) => e === 'fetch'));
    assert.equal(requestsBefore, 0, 'no package file was asked for before the hosts were told');
  });
});
