// Pushes of one image at once to one repository (CI matrix jobs): the manifest PUT that finds a
// blob missing for a moment, played on the real registry through a proxy that forces the order.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isProvenantError } from '../../src/errors.ts';
import { copyImage } from '../../src/image/copy.ts';
import type { ImageManifest } from '../../src/oci/types.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { RegistryStore } from '../../src/store/registry.ts';
import { type FaultPlan, type FaultProxy, startFaultProxy } from '../helpers/fault-proxy.ts';
import { makeImage } from '../helpers/images.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { useTempLayout } from '../helpers/temp.ts';

const layout = useTempLayout('pushrace');

describe('a manifest PUT that finds a blob missing while another push of it commits', { skip: registryMissing }, () => {
  const reg = useRegistry();
  const store = (host: string, repo: string) =>
    new RegistryStore(new RegistryClient(host, { retry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 50 } }), repo);

  /** A one-platform image in a layout, its manifest and that manifest's first layer. */
  async function image() {
    const src = await layout();
    const made = await makeImage(src, { tag: 'v1', layers: 2, platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const manifest = made.manifests[0]!;
    const parsed = JSON.parse(new TextDecoder().decode(manifest.bytes)) as ImageManifest;
    return { src, made, manifest, parsed, layer: parsed.layers[0]!.digest };
  }

  /** The proxy's requests, `METHOD path` with the repository's prefix and the queries left out. */
  const requests = (proxy: FaultProxy, repo: string) =>
    proxy
      .log()
      .filter((e) => e.path !== '/v2/')
      .map((e) => `${e.method} ${e.path.replace(`/v2/${repo}/`, '')}`);

  async function withProxy<T>(plan: FaultPlan, run: (proxy: FaultProxy) => Promise<T>): Promise<T> {
    const proxy = await startFaultProxy(reg.host, plan);
    try {
      return await run(proxy);
    } finally {
      await proxy.stop();
    }
  }

  it('puts the manifest again once the layer link another push was rewriting is whole (DIGEST_INVALID; MANIFEST_BLOB_UNKNOWN)', async () => {
    const { src, manifest, parsed, layer } = await image();
    const repo = 'race/link';
    // distribution's filesystem driver rewrites a link in place (truncate, then write): another
    // push committing the same layer leaves it empty for a moment, and a manifest PUT that reads
    // it then is refused. The proxy empties it for the first PUT of the manifest, and puts it
    // back once the registry has answered, as the other push's write would.
    const link = join(reg.storageDir, 'docker/registry/v2/repositories', repo, '_layers/sha256', layer.slice(7), 'link');
    const answers: number[] = [];
    const put = `/v2/${repo}/manifests/${manifest.digest}`;
    await withProxy(
      {
        beforeForward: async (method, path) => {
          if (method === 'PUT' && path === put && answers.length === 0) await writeFile(link, '');
        },
        afterAnswer: async (method, path, status) => {
          if (method !== 'PUT' || path !== put) return;
          answers.push(status);
          if (answers.length === 1) await writeFile(link, layer);
        },
      },
      async (proxy) => {
        const pushed = await copyImage(src, 'v1', store(proxy.host, repo), { tags: ['v1'] });
        assert.equal(answers[0], 400, 'the registry refused the first PUT');
        assert.deepEqual(answers.slice(1), [201]);
        const after = requests(proxy, repo).slice(requests(proxy, repo).indexOf(`PUT manifests/${manifest.digest}`) + 1);
        // Each blob of the manifest asked about again, none uploaded again, then the PUT.
        assert.deepEqual(
          after.slice(0, 4).sort(),
          [
            `HEAD blobs/${parsed.config.digest}`,
            `HEAD blobs/${layer}`,
            `HEAD blobs/${parsed.layers[1]!.digest}`,
            `PUT manifests/${manifest.digest}`,
          ].sort(),
        );
        assert.equal(after[3], `PUT manifests/${manifest.digest}`);
        assert.equal((await store(reg.host, repo).resolve('v1'))?.digest, pushed.digest);
      },
    );
  });

  it('uploads again a layer gone from the repository when the manifest is refused, then puts the manifest', async () => {
    const { src, manifest, layer } = await image();
    const repo = 'race/gone';
    const put = `/v2/${repo}/manifests/${manifest.digest}`;
    let puts = 0;
    await withProxy(
      {
        // The layer's link removed from the repository (the registry's own blob DELETE) after the
        // HEAD that found it, before the manifest PUT.
        beforeForward: async (method, path) => {
          if (method !== 'PUT' || path !== put || puts++ > 0) return;
          const res = await fetch(`${reg.url}/v2/${repo}/blobs/${layer}`, { method: 'DELETE' });
          assert.equal(res.status, 202, await res.text());
        },
      },
      async (proxy) => {
        await copyImage(src, 'v1', store(proxy.host, repo), { tags: ['v1'] });
        const log = requests(proxy, repo);
        const first = log.indexOf(`PUT manifests/${manifest.digest}`);
        assert.ok(log.indexOf(`HEAD blobs/${layer}`, first) > first, log.join('\n'));
        assert.ok(log.indexOf('POST blobs/uploads/', first) > first, `the layer is uploaded again:\n${log.join('\n')}`);
        assert.equal(log.filter((l) => l === `PUT manifests/${manifest.digest}`).length, 2);
      },
    );
    const head = await fetch(`${reg.url}/v2/${repo}/blobs/${layer}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
  });

  it('puts again a platform manifest gone from the repository when the index naming it is refused', async () => {
    const { src, made, manifest } = await image();
    const repo = 'race/child';
    const put = `/v2/${repo}/manifests/${made.root.digest}`;
    let puts = 0;
    await withProxy(
      {
        beforeForward: async (method, path) => {
          if (method !== 'PUT' || path !== put || puts++ > 0) return;
          const res = await fetch(`${reg.url}/v2/${repo}/manifests/${manifest.digest}`, { method: 'DELETE' });
          assert.equal(res.status, 202, await res.text());
        },
      },
      async (proxy) => {
        await copyImage(src, 'v1', store(proxy.host, repo), { tags: ['v1'] });
        const log = requests(proxy, repo);
        const first = log.indexOf(`PUT manifests/${made.root.digest}`);
        assert.deepEqual(log.slice(first), [
          `PUT manifests/${made.root.digest}`,
          `HEAD manifests/${manifest.digest}`,
          `PUT manifests/${manifest.digest}`,
          `PUT manifests/${made.root.digest}`,
          'PUT manifests/v1',
        ]);
      },
    );
    assert.equal((await store(reg.host, repo).resolve(manifest.digest))?.digest, manifest.digest);
  });

  it('gives up after a few PUTs when the layer is gone each time, naming it', async () => {
    const { src, manifest, layer } = await image();
    const repo = 'race/never';
    const put = `/v2/${repo}/manifests/${manifest.digest}`;
    await withProxy(
      {
        beforeForward: async (method, path) => {
          if (method !== 'PUT' || path !== put) return;
          await fetch(`${reg.url}/v2/${repo}/blobs/${layer}`, { method: 'DELETE' }).then((r) => r.arrayBuffer());
        },
      },
      async (proxy) => {
        const err = await copyImage(src, 'v1', store(proxy.host, repo), { tags: ['v1'] }).then(
          () => assert.fail('the push succeeded'),
          (e: unknown) => e,
        );
        assert.ok(isProvenantError(err), String(err));
        assert.match(err.message, new RegExp(`MANIFEST_BLOB_UNKNOWN.*3 times; missing: ${layer}$`));
        const puts = requests(proxy, repo).filter((l) => l === `PUT manifests/${manifest.digest}`).length;
        assert.equal(puts, 3);
      },
    );
  });

  it('sends nothing more than the PUT when the registry takes the manifest at once', async () => {
    const { src, made } = await image();
    const repo = 'race/none';
    await withProxy({}, async (proxy) => {
      await copyImage(src, 'v1', store(proxy.host, repo), { tags: ['v1'] });
      const log = requests(proxy, repo);
      const firstPut = log.findIndex((l) => l.startsWith('PUT manifests/'));
      assert.deepEqual(log.slice(firstPut), [
        `PUT manifests/${made.manifests[0]!.digest}`,
        `PUT manifests/${made.root.digest}`,
        'PUT manifests/v1',
      ]);
    });
  });
});
