// Debian builds and what the suites decide: a binNMU on one architecture, and an image left
// without base-files. Against the real mirror the machine's apt sources name.
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildImage } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import type { Lock } from '../../src/builder/lock.ts';
import { planBuild } from '../../src/builder/plan.ts';
import { silentLogger } from '../../src/io/types.ts';
import { DownloadCache } from '../../src/pkg/fetch.ts';
import { openPackageSource } from '../../src/pkg/sources.ts';
import { debianCacheDir, debianMirrorUrl, debianMissing } from '../helpers/debian.ts';

const examples = new URL('../../examples/debian/', import.meta.url).pathname;

describe('Debian builds and what their suites decide (the real mirror)', {
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

  const _build = async (file: string) => {
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

  it('warns when no package gives /etc/os-release (base-files is Essential: nothing pulls it in), and not when it is asked for', async () => {
    const path = join(dir, 'no-base-files.yaml');
    await writeFile(path, 'include: sources.yaml\ncontents:\n  packages: [netbase]\narchs: [x86_64]\n');
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m) };
    const config = await loadConfig(path, { hostArch: 'x86_64' });
    const result = await buildImage({ config, configPath: path, cacheDir: debianCacheDir, memo: false, logger });
    const image = result.images[0];
    assert.ok(image);
    assert.ok(!names(image).includes('base-files'));
    assert.match(
      warnings.join('\n'),
      /^x86_64: no package installs \/etc\/os-release \(base-files does, and nothing depends on it\): the image names no distribution, .* add base-files to contents\.packages/m,
    );
    assert.match(image.osRelease, /^ID=unknown$/m);
    // With base-files asked for, no warning.
    const quiet: string[] = [];
    await buildImage({
      config: await loadConfig(join(dir, 'static.yaml'), { hostArch: 'x86_64' }),
      configPath: join(dir, 'static.yaml'),
      cacheDir: debianCacheDir,
      memo: false,
      logger: { debug() {}, info() {}, warn: (m: string) => quiet.push(m) },
    });
    assert.ok(!quiet.some((m) => m.includes('os-release')), quiet.join('\n'));
  });
});
