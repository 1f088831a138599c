/**
 * What a build's SBOM says of its apk packages, and what an SBOM made later from the image's
 * installed database says (`provenant sbom IMAGE` with nothing attached): the same facts.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildImage, writeBuild } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import { inventoryOf } from '../../src/builder/inventory.ts';
import { imageInventory } from '../../src/image/inventory.ts';
import { generateApkKeyPair } from '../../src/pkg/apk/keys.ts';
import { type ApkSpec, buildApk, buildApkIndex } from '../../src/pkg/apk/write.ts';
import type { Inventory } from '../../src/pkg/inventory.ts';
import { spdxDocument } from '../../src/sbom/spdx.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('readback');

const file = (path: string, text: string) => ({ path, type: 'file' as const, body: new TextEncoder().encode(text) });

describe('an apk image read back', () => {
  it("gives each package the source, architecture and dependencies the build's SBOM gives it", async () => {
    const dir = await tempDir();
    const key = generateApkKeyPair('test');
    const specs: ApkSpec[] = [
      // Two installed packages provide `tool`; app's dependency is met by both.
      { name: 'app', version: '1.0-r0', arch: 'x86_64', depends: ['tool', 'so:libx.so.1', 'app-doc'], files: [file('usr/bin/app', 'app')] },
      { name: 'tool-a', version: '1.0-r0', arch: 'x86_64', provides: ['tool'], files: [file('usr/bin/tool-a', 'a')] },
      { name: 'tool-b', version: '2.0-r0', arch: 'x86_64', provides: ['tool'], files: [file('usr/bin/tool-b', 'b')] },
      {
        name: 'libx',
        version: '3.1-r2',
        arch: 'x86_64',
        origin: 'x',
        license: 'Zlib AND custom',
        provides: ['so:libx.so.1=1'],
        files: [file('usr/lib/libx.so.1', 'x')],
      },
      // Depends on a name it provides itself: no dependency on itself.
      {
        name: 'app-doc',
        version: '1.0-r0',
        arch: 'noarch',
        depends: ['docs'],
        provides: ['docs'],
        files: [file('usr/share/doc/app', 'd')],
      },
    ];
    const apks = await Promise.all(specs.map((s) => buildApk(s, { key })));
    const repo = join(dir, 'repo', 'x86_64');
    await mkdir(repo, { recursive: true });
    for (const [i, s] of specs.entries()) await writeFile(join(repo, `${s.name}-${s.version}.apk`), apks[i] as Uint8Array);
    await writeFile(join(repo, 'APKINDEX.tar.gz'), (await buildApkIndex(apks, { key })).bytes);
    await writeFile(join(dir, 'keys.rsa.pub'), key.publicKeyPem);
    await mkdir(join(dir, 'keys'));
    await writeFile(join(dir, 'keys', key.name), key.publicKeyPem);
    const path = join(dir, 'image.yaml');
    await writeFile(
      path,
      `contents:\n  repositories: [./repo]\n  keyring: [./keys/${key.name}]\n  packages: [app, tool-a, tool-b]\narchs: [x86_64]\n`,
    );
    const result = await buildImage({ config: await loadConfig(path, { hostArch: 'x86_64' }), configPath: path, memo: false });
    const image = result.images[0];
    assert.ok(image);
    const store = await LayoutStore.open(join(dir, 'layout'), { create: true });
    await writeBuild(result, store, ['latest']);
    const name = 'registry.example/app:1';
    const read = await imageInventory(store, image.manifest.digest, name);
    await store.close();
    assert.ok(read);
    const built = inventoryOf(image, name);
    const facts = (inv: Inventory) =>
      inv.packages
        .map((p) => ({ name: p.name, version: p.version, arch: p.arch, source: p.source, license: p.license, dependsOn: p.dependsOn }))
        .sort((a, b) => (a.name < b.name ? -1 : 1));
    assert.deepEqual(facts(read), facts(built));
    const app = facts(read).find((p) => p.name === 'app');
    assert.deepEqual(app?.dependsOn, ['app-doc', 'libx', 'tool-a', 'tool-b']);
    assert.deepEqual(facts(read).find((p) => p.name === 'app-doc')?.dependsOn, []);
    const spdx = (inv: Inventory) =>
      spdxDocument(inv, { created: '2024-01-01T00:00:00Z', toolVersion: '0' })
        .packages.map((p) => ({
          name: p.name,
          purl: p.externalRefs?.[0]?.referenceLocator,
          sourceInfo: p.sourceInfo,
          license: p.licenseDeclared,
        }))
        .sort((a, b) => (a.name < b.name ? -1 : 1));
    assert.deepEqual(spdx(read), spdx(built));
    assert.equal(spdx(read).find((p) => p.name === 'libx')?.license, 'Zlib AND LicenseRef-custom');
  });
});
