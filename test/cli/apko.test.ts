// The CLI's apko compatibility: build --compat apko (any case), sbom --compat apko.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { inspectImage } from '../../src/image/inspect.ts';
import { readStatements } from '../../src/image/statements.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { apkoGoldenConfig, apkoGoldenLayout } from '../helpers/apk.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';
import { useTempDir } from '../helpers/temp.ts';

const root = join(import.meta.dirname, '..', '..');
const tempDir = useTempDir('cli-apko');

function provenant(args: string[], cwd?: string): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, 'src', 'cli', 'main.ts'), ...args], {
    encoding: 'utf8',
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' },
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('provenant build/sbom --compat apko', { skip: fixturesMissing }, () => {
  it("builds apko's golden configs with --compat APKO", async () => {
    const dir = await tempDir();
    const configPath = await apkoGoldenConfig(dir);
    const out = join(dir, 'out');
    const r = provenant([
      'build',
      configPath,
      '--compat',
      'APKO',
      '-o',
      `oci:${out}:latest`,
      '--provenance',
      'false',
      '--cache-dir',
      join(dir, 'cache'),
    ]);
    assert.equal(r.status, 0, r.stderr);
    const store = await LayoutStore.open(out);
    try {
      const index = await store.getManifest('latest');
      assert.ok(index.kind === 'index');
      const configs = [];
      for (const m of index.index.manifests) {
        const manifest = await store.getManifest(m.digest);
        if (manifest.kind === 'manifest') configs.push(manifest.manifest.config.digest);
      }
      assert.deepEqual(configs, [
        'sha256:6c815259150f37d000417f9a93f41bddf74dff905c745986069d4b03e954ac1d',
        'sha256:fbb854f9d5a601a36c4dc8cc82e5b21e91b11cdd4aab5035340e4f517c5a8eb1',
      ]);
    } finally {
      await store.close();
    }
  });

  it("names the image in the SBOM's purls by the configuration's name for a local output, as docs/build.md says", async () => {
    const dir = await tempDir();
    const configPath = await apkoGoldenConfig(dir);
    const out = join(dir, 'out');
    const r = provenant(['build', configPath, '--compat', 'apko', '-o', `oci:${out}:latest`, '--cache-dir', join(dir, 'cache')]);
    assert.equal(r.status, 0, r.stderr);
    const store = await LayoutStore.open(out);
    try {
      const inspected = await inspectImage(store, 'latest', 'latest');
      const purls: string[] = [];
      for (const m of inspected.manifests) {
        for (const a of m.attachments) {
          for (const s of await readStatements(store, a)) {
            if (s.predicateType !== 'https://spdx.dev/Document') continue;
            const doc = s.statement.predicate as { packages: { externalRefs?: { referenceLocator: string }[] }[] };
            for (const p of doc.packages)
              for (const e of p.externalRefs ?? []) if (e.referenceLocator.startsWith('pkg:oci/')) purls.push(e.referenceLocator);
          }
        }
      }
      assert.ok(purls.length > 0);
      // apko.yaml: the name the provenance gives the image, not apko's `image`.
      for (const p of purls) assert.match(p, /^pkg:oci\/apko@sha256:/);
    } finally {
      await store.close();
    }
  });

  it('refuses an unknown --compat as a usage error', async () => {
    const configPath = await apkoGoldenConfig(await tempDir());
    const r = provenant(['build', configPath, '--compat', 'kaniko']);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--compat "kaniko"/);
  });

  it("prints apko's SBOM of apko's golden image, byte for byte", async () => {
    const dir = await tempDir();
    const store = await apkoGoldenLayout(join(dir, 'golden'));
    await store.close();
    const r = provenant([
      'sbom',
      `oci:${join(dir, 'golden')}:latest`,
      '--compat',
      'apko',
      '--platform',
      'linux/arm64',
      '--tag',
      'golden:latest',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, await readFile(fixture('apk', 'apkotest-golden-sbom-aarch64.spdx.json'), 'utf8'));
  });
});
