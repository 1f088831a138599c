// A build that keeps its packages' files out of the tree (src/vfs/spill.ts) must give the image a
// build with every file in the tree gives, byte for byte, or fail the same way: on package sets
// that keep every file out of the tree, and on those that reach each case where it installs
// again into a tree alone (a path given twice, a file under a symlinked folder or under another
// file, a folder replaced, what the build's own steps change).
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type BuildOptions, type BuildResult, buildImage } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import { isProvenantError } from '../../src/errors.ts';
import type { Logger } from '../../src/io/types.ts';
import { generateApkKeyPair } from '../../src/pkg/apk/keys.ts';
import { type ApkFileSpec, type ApkSpec, buildApk, buildApkIndex } from '../../src/pkg/apk/write.ts';
import { apkoGoldenConfig } from '../helpers/apk.ts';
import { debianCacheDir, debianMirrorUrl, debianMissing } from '../helpers/debian.ts';
import { fixturesMissing } from '../helpers/fixtures.ts';
import { useTempDir } from '../helpers/temp.ts';

const EPOCH = 1_700_000_000;
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const key = generateApkKeyPair('spill.rsa', { bits: 2048 });

/**
 * What packages may hold, chosen so that sets of them reach every case: folders and files that
 * other entries give again as something else, symlinked folders (`c`, and `lib/apk` of apk's base
 * layout), the accounts' and os-release files.
 */
const UNIVERSE: readonly ApkFileSpec[] = [
  { path: 'a', type: 'dir' },
  { path: 'a/b', type: 'dir', mode: 0o750 },
  { path: 'a/b', type: 'file', body: enc('a file where a folder may be\n') },
  { path: 'a/x', type: 'file', body: enc('x\n'), mode: 0o755 },
  { path: 'a/x', type: 'symlink', target: 'b' },
  { path: 'a/b/y', type: 'file', body: enc('y\n'), uid: 1000, gid: 1000 },
  { path: 'c', type: 'symlink', target: 'a' },
  { path: 'c', type: 'dir' },
  { path: 'c/z', type: 'file', body: enc('z\n'.repeat(3000)) },
  { path: 'etc', type: 'dir' },
  { path: 'etc/passwd', type: 'file', body: enc('root:x:0:0:root:/root:/bin/sh\n') },
  { path: 'etc/os-release', type: 'file', body: enc('ID=spill\n') },
  { path: 'lib/apk/f', type: 'file', body: enc('under a symlinked folder\n') },
  { path: 'usr/share/doc/n', type: 'file', body: enc('n\n') },
  { path: 'usr/share/doc/m', type: 'file', body: enc('m\n') },
  { path: 'e', type: 'file', body: enc('') },
  { path: 'd', type: 'symlink', target: 'a/x/../b' },
  { path: 'etc/apk/world/x', type: 'file', body: enc('a file where apk writes its own\n') },
  { path: 'usr/lib/apk/db/installed', type: 'file', body: enc('C:Q1\n') },
  // Alpine's: os-release a symlink to a package's file that the build reads.
  { path: 'etc/os-release', type: 'symlink', target: '../usr/lib/os-release' },
  { path: 'usr/lib/os-release', type: 'file', body: enc('ID=alpine-like\n') },
];

/** Configuration lines beyond the packages: what the build's own steps do. */
const STEPS: readonly string[][] = [
  [],
  ['accounts:', '  users: [{username: app, uid: 1000, homedir: /a/home}]', '  groups: [{groupname: app, gid: 1000}]'],
  ['paths:', '  - {path: /a/x, type: permissions, permissions: 0o700}'],
  ['paths:', '  - {path: /c/new, type: directory, permissions: 0o700}', '  - {path: /e, type: empty-file}'],
  ['paths:', '  - {path: /h, type: hardlink, source: /a/x}', '  - {path: /s, type: symlink, source: a}'],
  ['paths:', '  - {path: /a, type: permissions, permissions: 0o700, recursive: true}'],
  ['os-release: {id: spill, name: Spill}'],
  // What replaces a folder that holds package files, and paths through `..`.
  ['paths:', '  - {path: /usr/share/doc, type: empty-file}', '  - {path: /a/b, type: symlink, source: c}'],
  ['accounts:', '  users: [{username: app, uid: 1000, homedir: /a/x/../home}]', '  groups: [{groupname: app, gid: 1000}]'],
  ['paths:', '  - {path: /d/y, type: permissions, permissions: 0o600}', '  - {path: /h2, type: hardlink, source: /a/x/../b/y}'],
  // A hardlink's source given something else: the link keeps the file.
  ['paths:', '  - {path: /h3, type: hardlink, source: /a/x}', '  - {path: /a/x, type: empty-file}'],
];

interface Case {
  /** Each package's entries, as indexes of {@link UNIVERSE}. */
  packages: number[][];
  /** Which packages replace which (by index). */
  replaces: boolean[];
  steps: number;
  epoch: boolean;
}

/** A package's entries: each path once, and nothing under one of its own files or symlinks (which an archive can hold, but buildApk refuses). */
const entries = fc
  .uniqueArray(fc.nat(UNIVERSE.length - 1), { minLength: 1, maxLength: 6, selector: (e) => UNIVERSE[e]!.path })
  .filter((es) => !es.some((a) => UNIVERSE[a]!.type !== 'dir' && es.some((b) => UNIVERSE[b]!.path.startsWith(`${UNIVERSE[a]!.path}/`))));

const cases = fc.record({
  packages: fc.array(entries, { minLength: 1, maxLength: 4 }),
  replaces: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
  steps: fc.nat(STEPS.length - 1),
  epoch: fc.boolean(),
});

/** Writes the case's repository and configuration into `dir`; returns the configuration's path. */
async function project(dir: string, c: Case): Promise<string> {
  const signing = { privateKeyPem: key.privateKeyPem, name: key.name };
  await mkdir(join(dir, 'keys'), { recursive: true });
  await writeFile(join(dir, 'keys', key.name), key.publicKeyPem);
  const names = c.packages.map((_, i) => `p${i}`);
  const specs: ApkSpec[] = c.packages.map((entries, i) => ({
    name: names[i]!,
    version: '1.0-r0',
    arch: 'x86_64',
    // A package replaces those before it when told to: the second of two giving one path then wins.
    replaces: c.replaces[i] === true ? names.slice(0, i) : [],
    depends: names.slice(0, i),
    files: entries.map((e) => UNIVERSE[e]!),
  }));
  const apks = await Promise.all(specs.map((s) => buildApk({ ...s, builddate: EPOCH }, { key: signing })));
  await mkdir(join(dir, 'repo', 'x86_64'), { recursive: true });
  for (const [i, s] of specs.entries()) await writeFile(join(dir, 'repo', 'x86_64', `${s.name}-${s.version}.apk`), apks[i]!);
  await writeFile(join(dir, 'repo', 'x86_64', 'APKINDEX.tar.gz'), (await buildApkIndex(apks, { key: signing, mtime: EPOCH })).bytes);
  const config = join(dir, 'image.yaml');
  await writeFile(
    config,
    [
      'contents:',
      '  repositories: [./repo]',
      `  keyring: [./keys/${key.name}]`,
      `  packages: [${names.join(', ')}]`,
      'archs: [x86_64]',
      ...STEPS[c.steps]!,
      '',
    ].join('\n'),
  );
  return config;
}

/** How a build ended: the index's bytes, its inventory and what it kept out of the tree, or its error. */
type Outcome = { index: string; inventory: string; kept: boolean; refused: boolean } | { error: string };

async function build(config: string, c: Pick<Case, 'epoch'>, options: Partial<BuildOptions>): Promise<Outcome> {
  const lines: string[] = [];
  const logger: Logger = { debug: (m) => lines.push(m), info() {}, warn() {} };
  let result: BuildResult;
  try {
    result = await buildImage({
      config: await loadConfig(config, { hostArch: 'x86_64' }),
      configPath: config,
      sourceDateEpoch: c.epoch ? EPOCH : undefined,
      cacheDir: join(config, '..', 'cache'),
      memo: false,
      logger,
      ...options,
    });
  } catch (err) {
    if (!isProvenantError(err)) throw err;
    return { error: `${err.code}: ${err.message}` };
  }
  return {
    index: Buffer.from(result.index!.bytes).toString(),
    // Files included: what SBOMs list.
    inventory: JSON.stringify(result.images.map((i) => i.packages)),
    kept: lines.some((l) => l.includes('kept out of memory')),
    refused: lines.some((l) => l.includes('installing again')),
  };
}

describe('a build with its files kept out of the tree', () => {
  const tempDir = useTempDir('spill');

  it('gives the image a tree of every file gives, or fails the same way, on generated package sets', async () => {
    const seen = { kept: 0, refused: 0, neither: 0, failed: 0 };
    await fc.assert(
      fc.asyncProperty(cases, async (c) => {
        const dir = await tempDir();
        const config = await project(dir, c);
        const kept = await build(config, c, {});
        // The layer cache off: the layer is made from the tree, not taken by a key the other made.
        const tree = await build(config, c, { spill: false, layerCache: false });
        // Kept, refused or failed, a build leaves no scratch file behind.
        const left = await readdir(join(dir, 'cache', 'sha256')).catch(() => []);
        assert.deepEqual(
          left.filter((f) => f.endsWith('.tmp')),
          [],
          'no scratch files left in the cache',
        );
        if ('error' in tree) {
          assert.deepEqual(kept, tree, 'both fail, the same way');
          seen.failed++;
          return;
        }
        assert.ok(!('error' in kept), `kept out of the tree, the build failed: ${'error' in kept ? kept.error : ''}`);
        assert.equal(kept.index, tree.index, 'the same index, so the same manifests, configs and layers');
        assert.equal(kept.inventory, tree.inventory, 'the same packages and files for SBOMs');
        assert.equal(tree.kept || tree.refused, false, 'told not to, the build keeps nothing out of the tree');
        if (kept.kept) seen.kept++;
        else if (kept.refused) seen.refused++;
        else seen.neither++;
      }),
      { numRuns: 60, seed: 1616 },
    );
    // The cases the property is meant to reach, each at least once.
    assert.ok(seen.kept > 0 && seen.refused > 0 && seen.neither > 0 && seen.failed > 0, JSON.stringify(seen));
  });

  it("gives apko's golden image, of real packages, as a tree of every file does", { skip: fixturesMissing }, async () => {
    const dir = await tempDir();
    const config = await apkoGoldenConfig(dir);
    for (const epoch of [true, false]) {
      const kept = await build(config, { epoch }, {});
      const tree = await build(config, { epoch }, { spill: false, layerCache: false });
      assert.ok(!('error' in kept) && !('error' in tree), JSON.stringify({ kept, tree }));
      assert.equal(kept.index, tree.index);
      assert.equal(kept.inventory, tree.inventory);
      assert.ok(kept.kept || kept.refused, 'the build tried to keep its files out of the tree');
    }
  });
});

describe('a Debian build with its files kept out of the tree', {
  skip: debianMissing || (process.arch === 'x64' ? false : 'the examples are amd64'),
}, () => {
  const tempDir = useTempDir('spill-debian');

  for (const example of ['shell.yaml', 'static.yaml']) {
    it(`gives the ${example} example's image as a tree of every file does (merged /usr, ca-certificates, tzdata)`, async () => {
      const dir = await tempDir();
      const examples = new URL('../../examples/debian/', import.meta.url).pathname;
      // The mirror comes from the machine's apt sources (or PROVENANT_DEBIAN_MIRROR), never from the code.
      await writeFile(join(dir, 'sources.yaml'), `contents:\n  repositories:\n    - deb ${debianMirrorUrl} bookworm main\n`);
      await writeFile(join(dir, example), await readFile(join(examples, example)));
      const config = join(dir, example);
      for (const epoch of [true, false]) {
        // Packages from the suite's shared download cache; layers made anew by each.
        const kept = await build(config, { epoch }, { cacheDir: debianCacheDir, layerCache: false });
        const tree = await build(config, { epoch }, { cacheDir: debianCacheDir, spill: false, layerCache: false });
        assert.ok(!('error' in kept) && !('error' in tree), JSON.stringify({ kept, tree }));
        assert.equal(kept.index, tree.index);
        assert.equal(kept.inventory, tree.inventory);
        assert.ok(kept.kept, `the files were kept out of the tree: ${JSON.stringify(kept)}`);
      }
    });
  }
});
