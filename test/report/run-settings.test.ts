// report and inspect read an image config's run settings by the same rules (src/image/image-config.ts).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { platformFromConfig } from '../../src/image/config-platform.ts';
import { CONFIG_LIMIT, readImageConfig } from '../../src/image/image-config.ts';
import { inspectImage } from '../../src/image/inspect.ts';
import { encodeJson, parseStored, type StoredManifest } from '../../src/oci/content.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import { gatherReport } from '../../src/report/gather.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { makeLayer, putBytes } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('report-run-settings');

describe('run settings', () => {
  it('are what inspect shows, in report: a list with a non-string is none, an empty User none, labels in key order', async () => {
    const store = await LayoutStore.open(join(await tempDir(), 'l'), { create: true });
    const put = (bytes: Uint8Array, mediaType: string) => putBytes(store, bytes, mediaType);
    const { gz } = makeLayer('a.txt', new TextEncoder().encode('a'));
    const config = {
      os: 'linux',
      architecture: 'arm64',
      created: '2024-01-01T00:00:00Z',
      config: {
        User: '',
        Cmd: ['/bin/sh', 1],
        Entrypoint: ['/init'],
        Env: ['A=1'],
        WorkingDir: '/w',
        Labels: { z: 'last', a: 'first', n: 1 },
      },
      rootfs: { type: 'layers', diff_ids: [] },
    };
    const manifest = parseStored(
      encodeJson({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: await put(encodeJson(config), MediaType.OciConfig),
        layers: [await put(gz, MediaType.OciLayerGzip)],
      }),
    );
    await store.putManifest(manifest, { tags: ['v1'] });
    const seen = (await inspectImage(store, 'v1', 'img', { details: true })).manifests[0]!;
    const c = (await gatherReport(store, 'v1', { targets: [] })).platforms[0]!.config!;
    const expected = {
      created: '2024-01-01T00:00:00Z',
      user: undefined,
      entrypoint: ['/init'],
      cmd: undefined,
      env: ['A=1'],
      workingDir: '/w',
    };
    assert.deepEqual(
      { created: c.created, user: c.user, entrypoint: c.entrypoint, cmd: c.cmd, env: c.env, workingDir: c.workingDir },
      expected,
    );
    assert.deepEqual(
      { created: seen.created, user: seen.user, entrypoint: seen.entrypoint, cmd: seen.cmd, env: seen.env, workingDir: seen.workingDir },
      expected,
    );
    assert.deepEqual(Object.entries(c.labels), [
      ['a', 'first'],
      ['z', 'last'],
    ]);
    assert.deepEqual(Object.entries(seen.labels ?? {}), Object.entries(c.labels));
  });

  it('and every config read stop at the one CONFIG_LIMIT: report, inspect, diff and sbom, an image platform', async () => {
    const store = await LayoutStore.open(join(await tempDir(), 'l'), { create: true });
    // Not stored: a reader that did not stop at its size would fail with NOT_FOUND instead.
    const config = { mediaType: MediaType.OciConfig, digest: digestOf(encodeJson({ big: true })), size: CONFIG_LIMIT + 1 };
    const layer = await putBytes(store, makeLayer('a.txt', new TextEncoder().encode('a')).gz, MediaType.OciLayerGzip);
    const manifest = parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layer] }));
    await store.putManifest(manifest, { tags: ['big'] });
    const p = (await gatherReport(store, 'big', { targets: [] })).platforms[0]!;
    assert.match(p.config?.error ?? '', new RegExp(`more than the ${CONFIG_LIMIT} `));
    assert.deepEqual([p.sbom.source, p.sbom.note], ['missing', p.config?.error]);
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, warn: (w: string) => void warnings.push(w) };
    await inspectImage(store, 'big', 'img', { details: true, logger });
    assert.match(warnings.join('\n'), new RegExp(`more than the ${CONFIG_LIMIT} inspect reads`));
    await assert.rejects(readImageConfig(store, config, 'big'), { code: 'TOO_LARGE' });
    await assert.rejects(platformFromConfig(store, manifest as StoredManifest), { code: 'TOO_LARGE' });
  });

  it('of a config that is not JSON are none: report says so for the settings and the SBOM, and goes on', async () => {
    const store = await LayoutStore.open(join(await tempDir(), 'l'), { create: true });
    const config = await putBytes(store, new TextEncoder().encode('not json'), MediaType.OciConfig);
    const layer = await putBytes(store, makeLayer('a.txt', new TextEncoder().encode('a')).gz, MediaType.OciLayerGzip);
    const manifest = parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layer] }));
    await store.putManifest(manifest, { tags: ['nonjson'] });
    const p = (await gatherReport(store, 'nonjson', { targets: [] })).platforms[0]!;
    assert.equal(p.config?.error, 'the image config is not JSON');
    assert.deepEqual([p.sbom.source, p.sbom.note], ['missing', p.config?.error]);
  });
});
