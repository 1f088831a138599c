// A lock must be the lock of the configuration it builds: one made for another configuration
// would build other packages than the configuration (and the provenance) says.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildImage } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import { configChecksum, type Lock, parseLock } from '../../src/builder/lock.ts';
import { isProvenantError } from '../../src/errors.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';
import { useTempDir } from '../helpers/temp.ts';
import {
  EPOCH,
  loadWrittenConfig,
  packages,
  repositoryKey,
  type StaticServer,
  serveFolder,
  writeConfig,
  writeRepository,
} from '../reproduce/helpers.ts';

const tempDir = useTempDir('lock-config');

describe('a build from a lock made for another configuration', () => {
  let root: string;
  let server: StaticServer;
  let configPath: string;
  let text: string;
  const key = repositoryKey();
  /** A configuration beside the test's one, with `packages` as its package list. */
  const variant = async (name: string, list: string, extra = ''): Promise<string> => {
    const path = join(root, 'cfg', 'app', name);
    await writeFile(path, `${text.replace('packages: [base, data, tool]', `packages: [${list}]`)}${extra}`);
    return path;
  };
  const lockOf = async (path: string): Promise<Lock> =>
    (await buildImage({ config: await loadWrittenConfig(path), configPath: path, archs: ['x86_64'], lockOnly: true })).lock;
  const build = async (path: string, lock: Lock, warnings: string[] = []) =>
    buildImage({
      config: await loadWrittenConfig(path),
      configPath: path,
      lock,
      lockPath: 'other.lock.json',
      archs: ['x86_64'],
      sourceDateEpoch: EPOCH,
      logger: { debug() {}, info() {}, warn: (m) => warnings.push(m) },
    });

  before(async () => {
    root = await tempDir();
    // base also provides cmd:hello, as apk packages provide their commands.
    await writeRepository(join(root, 'served'), key, (arch) =>
      packages(arch).map((p) => (p.name === 'base' ? { ...p, provides: ['cmd:hello=1.0-r0'] } : p)),
    );
    server = await serveFolder(join(root, 'served'));
    configPath = await writeConfig(root, key, `${server.url}/repo`);
    text = await readFile(configPath, 'utf8');
  });
  after(async () => {
    await server?.close();
  });

  it('refuses a lock that pins nothing for a requested package, naming the lock and the requests, and says it once (no warning before)', async () => {
    const lock = await lockOf(await variant('base-only.yaml', 'base'));
    const warnings: string[] = [];
    await assert.rejects(build(configPath, lock, warnings), (err: unknown) => {
      assert.ok(isProvenantError(err, 'INVALID_CONFIG'), String(err));
      assert.equal(err.where, 'other.lock.json');
      assert.match(err.message, /^other\.lock\.json was not made for .*image\.yaml \(it names base-only\.yaml, sha256-[A-Za-z0-9+/=]+\)/);
      assert.match(err.message, /no locked package meets data \(x86_64\), tool \(x86_64\)$/);
      // The lock is base-only.yaml's: the hint does not write over it, but writes image.yaml's own.
      const own = configPath.replace(/\.yaml$/, '.lock.json');
      assert.equal(
        err.hint,
        `it is the lock of base-only.yaml, which this leaves as it is: lock this configuration (provenant lock ${configPath}, which writes ${own}) and build with --lock ${own}, or give the lock made for it`,
      );
      return true;
    });
    // The checksum's warning said the same before the error did.
    assert.deepEqual(warnings, []);
  });

  it('refuses a lock whose package has a version the configuration does not ask for', async () => {
    const lock = await lockOf(configPath);
    const pinned = await variant('pinned.yaml', 'base, data=2.1-r4, tool');
    await assert.rejects(
      build(pinned, lock),
      (err: unknown) => isProvenantError(err, 'INVALID_CONFIG') && /no locked package meets data=2\.1-r4 \(x86_64\)$/.test(err.message),
    );
    // The version it has is taken.
    const exact = await build(await variant('exact.yaml', 'base, data=2.1-r3, tool'), lock);
    assert.deepEqual(
      exact.images[0]?.packages.map((p) => p.name),
      ['base', 'data', 'tool'],
    );
  });

  it('takes a request met by what a locked package provides, as the index lists it', async () => {
    const path = await variant('provides.yaml', 'cmd:hello');
    const result = await build(path, await lockOf(path));
    assert.deepEqual(
      result.images[0]?.packages.map((p) => p.name),
      ['base'],
    );
  });

  it('builds from the lock of an edited text of the same configuration, and warns that its checksum is of another text', async () => {
    const lock = await lockOf(configPath);
    const warnings: string[] = [];
    const commented = await variant('image-commented.yaml', 'base, data, tool', '# a comment changes nothing it asks for\n');
    const result = await build(commented, { ...lock, config: { ...lock.config, name: 'image-commented.yaml' } }, warnings);
    assert.equal(result.images[0]?.packages.length, 3);
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(
      warnings[0] ?? '',
      /^other\.lock\.json was made for image-commented\.yaml with checksum sha256-\S+, not for this text of image-commented\.yaml and the file it includes;/,
    );
    // Its own lock: no warning.
    const none: string[] = [];
    await build(configPath, lock, none);
    assert.deepEqual(none, []);
  });

  describe('config.checksum, as apko computes it', () => {
    /** apko's rule, from the files' bytes: one SHA-256 over each file in the order read, `sha256-` and base64. */
    const apkoChecksum = async (...paths: string[]): Promise<string> => {
      const hash = createHash('sha256');
      for (const p of paths) hash.update(await readFile(p));
      return `sha256-${hash.digest('base64')}`;
    };
    /** `chain.yaml` includes `../shared/middle.yaml`, which includes `common.yaml`. */
    const chain = async (): Promise<string[]> => {
      const middle = join(root, 'cfg', 'shared', 'middle.yaml');
      await writeFile(middle, 'include: common.yaml\nenvironment:\n  MIDDLE: "1"\n');
      const path = await variant('chain.yaml', 'base, data, tool');
      await writeFile(path, (await readFile(path, 'utf8')).replace('include: ../shared/common.yaml', 'include: ../shared/middle.yaml'));
      return [path, middle, join(root, 'cfg', 'shared', 'common.yaml')];
    };

    it('covers the root file and every file it includes, in the order followed', async () => {
      assert.equal((await lockOf(configPath)).config.checksum, await apkoChecksum(configPath, join(root, 'cfg', 'shared', 'common.yaml')));
      const files = await chain();
      const lock = await lockOf(files[0] as string);
      assert.equal(lock.config.checksum, await apkoChecksum(...files));
      assert.notEqual(lock.config.checksum, await apkoChecksum(files[0] as string));
    });

    it("is apko's own for a configuration apko locked", { skip: fixturesMissing }, async () => {
      const golden = parseLock(await readFile(fixture('apk', 'apkotest-golden-apko.lock.json'), 'utf8'), 'apko.lock.json');
      const loaded = await loadConfig(fixture('apk', 'apkotest-golden-apko.yaml'), { hostArch: 'x86_64' });
      assert.equal(configChecksum(loaded), golden.config.checksum);
    });

    it('goes stale when an included file changes: the build warns, naming the files', async () => {
      const files = await chain();
      const [path, middle] = files as [string, string];
      const lock = await lockOf(path);
      const quiet: string[] = [];
      await build(path, lock, quiet);
      assert.deepEqual(quiet, []);
      await writeFile(middle, `${await readFile(middle, 'utf8')}# edited\n`);
      const warnings: string[] = [];
      const result = await build(path, lock, warnings);
      assert.equal(result.images[0]?.packages.length, 3);
      assert.equal(warnings.length, 1, warnings.join('\n'));
      assert.match(
        warnings[0] ?? '',
        /^other\.lock\.json was made for chain\.yaml with checksum sha256-\S+, not for this text of chain\.yaml and the 2 files it includes; run provenant lock again/,
      );
    });

    it('tells a lock an earlier Provenant wrote (of the root text alone) apart, and says to lock again', async () => {
      const lock = await lockOf(configPath);
      const rootOnly = await apkoChecksum(configPath);
      const warnings: string[] = [];
      const result = await build(configPath, { ...lock, config: { ...lock.config, checksum: rootOnly } }, warnings);
      assert.equal(result.images[0]?.packages.length, 3);
      assert.deepEqual(warnings, [
        "other.lock.json has the config.checksum an earlier Provenant wrote, of image.yaml's text alone, not of the files it includes as apko's is (apko refuses this lock); run provenant lock again to write apko's checksum",
      ]);
    });
  });
});
