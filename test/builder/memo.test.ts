// What a build made of its inputs, kept in the cache (src/builder/memo.ts): the same build again
// takes it instead of fetching and installing, and must give exactly what building gives; a
// change of any input builds again; a record whose parts are gone is built again; and a build
// told not to use it (reproduce's) neither takes nor keeps it.
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type BuildOptions, type BuildResult, buildImage } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import { describeBuild } from '../../src/builder/describe.ts';
import { codeDigestFrom } from '../../src/builder/memo.ts';
import { isProvenantError } from '../../src/errors.ts';
import type { ProgressUpdate } from '../../src/io/types.ts';
import { generateApkKeyPair } from '../../src/pkg/apk/keys.ts';
import { type ApkSpec, buildApk, buildApkIndex } from '../../src/pkg/apk/write.ts';
import { DownloadCache } from '../../src/pkg/fetch.ts';
import { debianCacheDir, debianMirrorUrl, debianMissing } from '../helpers/debian.ts';
import { useTempDir } from '../helpers/temp.ts';

const EPOCH = 1_700_000_000;
const ARCHS = ['x86_64', 'aarch64'];
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Three packages per architecture (one depending on another, files, folders, a symlink), signed, in a signed index. */
async function repository(dir: string, libVersion = '1.0-r0'): Promise<void> {
  const key = generateApkKeyPair('memo.rsa', { bits: 2048 });
  const signing = { privateKeyPem: key.privateKeyPem, name: key.name };
  await mkdir(join(dir, 'keys'), { recursive: true });
  await writeFile(join(dir, 'keys', key.name), key.publicKeyPem);
  for (const arch of ARCHS) {
    const specs: ApkSpec[] = [
      {
        name: 'base',
        version: '1.0-r0',
        arch,
        license: 'MIT',
        files: [
          { path: 'etc', type: 'dir' },
          { path: 'etc/os-release', type: 'file', body: enc('ID=memo\nNAME="Memo"\n') },
          { path: 'etc/motd', type: 'file', body: enc('hello\n') },
        ],
      },
      {
        name: 'libthing',
        version: libVersion,
        arch,
        license: 'Apache-2.0',
        provides: ['so:libthing.so.1=1'],
        files: [
          { path: 'usr/lib', type: 'dir' },
          { path: 'usr/lib/libthing.so.1', type: 'file', body: enc(`lib ${libVersion} ${arch}\n`.repeat(500)) },
          { path: 'usr/lib/libthing.so', type: 'symlink', target: 'libthing.so.1' },
        ],
      },
      {
        name: 'app',
        version: '2.0-r1',
        arch,
        license: 'GPL-2.0-only',
        depends: ['base', 'so:libthing.so.1'],
        files: [
          { path: 'usr/bin', type: 'dir' },
          { path: 'usr/bin/app', type: 'file', body: enc('#!/bin/sh\necho app\n'), mode: 0o755 },
        ],
      },
    ];
    const apks = await Promise.all(specs.map((s) => buildApk({ ...s, builddate: EPOCH }, { key: signing })));
    await mkdir(join(dir, 'repo', arch), { recursive: true });
    for (const [i, s] of specs.entries()) await writeFile(join(dir, 'repo', arch, `${s.name}-${s.version}.apk`), apks[i]!);
    await writeFile(join(dir, 'repo', arch, 'APKINDEX.tar.gz'), (await buildApkIndex(apks, { key: signing, mtime: EPOCH })).bytes);
  }
  await writeImageConfig(dir, 'image.yaml');
}

/** A folder with {@link repository}'s packages, its image.yaml, and where the build's cache goes. */
async function project(dir: string): Promise<{ dir: string; config: string; cacheDir: string }> {
  await repository(dir);
  return { dir, config: join(dir, 'image.yaml'), cacheDir: join(dir, 'cache') };
}

/** What {@link writeImageConfig} may change. */
interface ConfigChange {
  title?: string;
  command?: string;
  /** The permissions of the path entry. */
  permissions?: string;
  /** Lines added at the end. */
  extra?: string[];
}

/** The configuration: accounts, a path, annotations, both architectures. */
async function writeImageConfig(dir: string, name: string, change: ConfigChange = {}): Promise<string> {
  const path = join(dir, name);
  await writeFile(
    path,
    [
      'contents:',
      '  repositories: [./repo]',
      '  keyring: [./keys/memo.rsa.pub]',
      '  packages: [app]',
      `archs: [${ARCHS.join(', ')}]`,
      `entrypoint: {command: ${change.command ?? '/usr/bin/app'}}`,
      'accounts:',
      '  users: [{username: app, uid: 1000}]',
      '  groups: [{groupname: app, gid: 1000}]',
      '  run-as: app',
      'paths:',
      `  - {path: /data, type: directory, uid: 1000, gid: 1000, permissions: ${change.permissions ?? '0o750'}}`,
      `annotations: {org.opencontainers.image.title: ${change.title ?? 'memo'}}`,
      ...(change.extra ?? []),
      '',
    ].join('\n'),
  );
  return path;
}

interface Run {
  result: BuildResult;
  steps: Set<string>;
}

async function build(config: string, options: Partial<BuildOptions> = {}): Promise<Run> {
  const steps = new Set<string>();
  const result = await buildImage({
    config: await loadConfig(config, { hostArch: 'x86_64' }),
    configPath: config,
    sourceDateEpoch: EPOCH,
    onProgress: (u: ProgressUpdate) => {
      if (u.kind === 'step') steps.add(u.step);
    },
    ...options,
  });
  return { result, steps };
}

/** Everything a build gives that later steps (writing, SBOMs, provenance, the lock) read. */
function everything(r: BuildResult): unknown {
  return JSON.parse(
    JSON.stringify({
      index: r.index === undefined ? undefined : Buffer.from(r.index.bytes).toString(),
      images: r.images.map((i) => ({
        arch: i.arch,
        manifest: Buffer.from(i.manifest.bytes).toString(),
        config: Buffer.from(i.config.bytes).toString(),
        layers: i.layers.map((l) => ({ digest: l.digest, diffId: l.diffId, size: l.size, tarSize: l.tarSize })),
        // With every file and its checksums: what an SBOM with files lists.
        packages: i.packages,
        locked: i.locked,
        osRelease: i.osRelease,
        skippedScripts: i.skippedScripts,
      })),
      lock: r.lock,
      packageDigests: [...r.packageDigests],
      indexes: r.indexes,
      keys: r.keys,
      contents: r.contents,
    }),
  );
}

const MADE = ['fetch', 'install', 'compress'];

describe('the same build again', () => {
  const tempDir = useTempDir('memo');

  it('takes what the first made, and gives what building gives: manifests, layers, inventory with files, lock', async () => {
    const dir = await tempDir();
    await repository(dir);
    const config = join(dir, 'image.yaml');
    const made = await build(config, { cacheDir: join(dir, 'plain'), memo: false });
    const first = await build(config, { cacheDir: join(dir, 'cache') });
    for (const step of MADE) assert.ok(first.steps.has(step), `the first build runs ${step}`);
    assert.ok(!first.steps.has('reuse'));
    const again = await build(config, { cacheDir: join(dir, 'cache') });
    assert.deepEqual([...again.steps].sort(), ['resolve', 'reuse'], 'the indexes are read; nothing is fetched, installed or compressed');
    assert.ok(again.result.images.every((i) => i.layers.every((l) => l.reused)));
    assert.ok(again.result.images[0]!.packages.find((p) => p.name === 'libthing')!.files.length > 0, 'the files are there');
    assert.deepEqual(everything(again.result), everything(made.result));
    assert.deepEqual(everything(first.result), everything(made.result));
  });

  it('takes every layer of an image of several (per-package layering)', async () => {
    const { dir, config, cacheDir } = await project(await tempDir());
    await writeImageConfig(dir, 'image.yaml', { extra: ['layering: {strategy: per-package, budget: 0}'] });
    const made = await build(config, { cacheDir: join(dir, 'plain'), memo: false });
    assert.ok(
      made.result.images.every((i) => i.layers.length > 1),
      'several layers',
    );
    await build(config, { cacheDir });
    const again = await build(config, { cacheDir });
    assert.deepEqual([...again.steps].sort(), ['resolve', 'reuse']);
    assert.deepEqual(everything(again.result), everything(made.result));
  });

  it('builds again when what the layers are made of changes, and takes them when only the image config did', async () => {
    const { dir, config, cacheDir } = await project(await tempDir());
    const first = await build(config, { cacheDir });
    const layersOf = (r: Run) => r.result.images.map((i) => i.layers.map((l) => l.digest));

    const later = await build(config, { cacheDir, sourceDateEpoch: EPOCH + 1 });
    assert.ok(later.steps.has('install'), 'another SOURCE_DATE_EPOCH');
    assert.notEqual(later.result.index!.digest, first.result.index!.digest);

    // The image config alone: made again from the configuration, on the recorded layers.
    await writeImageConfig(dir, 'image.yaml', {
      title: 'another title',
      command: '/usr/bin/app --other',
      extra: ['environment: {GREETING: hello}', 'work-dir: /data', 'cmd: --verbose', 'volumes: [/data]'],
    });
    const retitled = await build(config, { cacheDir });
    assert.deepEqual([...retitled.steps].sort(), ['resolve', 'reuse']);
    const retitledMade = await build(config, { cacheDir: join(dir, 'plain'), memo: false });
    assert.deepEqual(everything(retitled.result), everything(retitledMade.result));
    assert.notEqual(retitled.result.index!.digest, first.result.index!.digest);
    assert.deepEqual(layersOf(retitled), layersOf(first));

    // What the layer is made of: another mode for a path.
    await writeImageConfig(dir, 'image.yaml', { permissions: '0o700' });
    const repathed = await build(config, { cacheDir });
    assert.ok(repathed.steps.has('install'), 'another path entry');
    assert.notDeepEqual(layersOf(repathed), layersOf(first));

    // The same configuration at another path: installed again, to the same layers, reused.
    await writeImageConfig(dir, 'image.yaml');
    const moved = await build(await writeImageConfig(dir, 'moved.yaml'), { cacheDir });
    assert.ok(moved.steps.has('install'), 'another configuration file');
    assert.ok(moved.result.images.every((i) => i.layers.every((l) => l.reused)));
    assert.deepEqual(layersOf(moved), layersOf(first));

    // A new version of a package: another plan.
    await repository(dir, '1.1-r0');
    const updated = await build(config, { cacheDir });
    assert.ok(updated.steps.has('install'), 'another package');
    const lib = updated.result.images[0]!.packages.find((p) => p.name === 'libthing')!;
    assert.equal(lib.version, '1.1-r0');
    // Another key signs it all now: the keys' text is an input too.
    assert.notDeepEqual(updated.result.keys, first.result.keys);
  });

  it('builds again when the cache lost a layer or the file lists the record names', async () => {
    const { config, cacheDir } = await project(await tempDir());
    const first = await build(config, { cacheDir });
    await rm(first.result.images[1]!.layers[0]!.source.path!);
    const noLayer = await build(config, { cacheDir });
    assert.ok(noLayer.steps.has('install') && noLayer.steps.has('compress'));
    assert.deepEqual(everything(noLayer.result), everything(first.result));

    // The file lists are the only blobs of the cache made of JSON lines, one per package.
    const lists = await listsFiles(cacheDir);
    assert.equal(lists.length, ARCHS.length);
    for (const path of lists) await rm(path);
    const noLists = await build(config, { cacheDir });
    assert.ok(noLists.steps.has('install'));
    assert.deepEqual(everything(noLists.result), everything(first.result));
  });

  it('fails clearly when the file lists change after the record was taken, and only when they are read', async () => {
    const { config, cacheDir } = await project(await tempDir());
    await build(config, { cacheDir });
    const again = await build(config, { cacheDir });
    assert.ok(again.steps.has('reuse'));
    const [path] = await listsFiles(cacheDir);
    await writeFile(path!, '[]\n[]\n[]\n');
    // SBOMs without files and provenance do not read them.
    const describe = (sbomFiles: boolean) =>
      describeBuild(again.result, {
        imageName: 'oci:out',
        configPath: config,
        toolVersion: '0',
        builderId: 'https://b.example/',
        fromLock: false,
        sbomFiles,
      });
    assert.equal(describe(false).length, ARCHS.length);
    assert.throws(
      () => describe(true),
      (err: unknown) => isProvenantError(err) && err.code === 'DIGEST_MISMATCH',
    );
    const image = again.result.images.find((i) => i.arch === 'x86_64')!;
    const other = again.result.images.find((i) => i.arch !== 'x86_64')!;
    const packages = [...image.packages, ...other.packages];
    const reads = packages.map((p) => {
      try {
        return p.files.length;
      } catch (err) {
        return err;
      }
    });
    const failed = reads.filter((r) => typeof r !== 'number');
    assert.equal(failed.length, 3, 'the three packages of the damaged lists');
    for (const err of failed) {
      assert.ok(isProvenantError(err) && err.code === 'DIGEST_MISMATCH', String(err));
      assert.match(err.message, /file lists/);
      assert.ok(err.hint?.includes('--layer-cache false'));
    }
    await rm(path!);
    const gone = await build(config, { cacheDir });
    assert.ok(gone.steps.has('install'), 'a later build does not take a record whose lists are gone');
  });

  it('with memo false, without the layer cache or for a lock alone, neither takes nor keeps it', async () => {
    const { config, cacheDir } = await project(await tempDir());
    for (const options of [{ memo: false }, { layerCache: false }]) {
      const r = await build(config, { cacheDir, ...options });
      assert.ok(r.steps.has('install') && !r.steps.has('reuse'), JSON.stringify(options));
    }
    const lockOnly = await build(config, { cacheDir, lockOnly: true });
    assert.ok(lockOnly.steps.has('fetch') && !lockOnly.steps.has('reuse'));
    assert.equal((await listsFiles(cacheDir)).length, 0, 'nothing kept');
    assert.ok((await build(config, { cacheDir })).steps.has('install'));
    assert.ok((await build(config, { cacheDir, memo: false })).steps.has('install'), 'a record there is not taken');
    assert.ok((await build(config, { cacheDir })).steps.has('reuse'));
  });
});

describe("the digest of Provenant's code in a record's key", () => {
  const tempDir = useTempDir('memo-code');

  it('changes with the code, not with type declarations or the CLI bundle, and is undefined without a package', async () => {
    const dir = await tempDir();
    const put = async (path: string, text: string) => {
      await mkdir(join(dir, path, '..'), { recursive: true });
      await writeFile(join(dir, path), text);
    };
    await put('dist/builder/memo.js', 'export {};');
    await put('dist/pkg/install.js', 'export const a = 1;');
    await put('dist/cli/bundle/chunk-ABCDEFGH.js', 'export const b = 1;');
    await put('dist/pkg/install.d.ts', 'export declare const a: number;');
    const here = join(dir, 'dist', 'builder');
    assert.equal(await codeDigestFrom(here), undefined, 'no package.json beside dist/: the code cannot be told');
    await put('package.json', '{}');
    const first = await codeDigestFrom(here);
    assert.match(first ?? '', /^[0-9a-f]{64}$/);
    await put('dist/pkg/install.d.ts', 'export declare const a: 1;');
    await put('dist/cli/bundle/chunk-ABCDEFGH.js', 'export const b = 2;');
    await put('README.md', 'beside, not in, dist/');
    assert.equal(await codeDigestFrom(here), first);
    await put('dist/pkg/install.js', 'export const a = 2;');
    assert.notEqual(await codeDigestFrom(here), first, 'a changed module');
  });

  it('is kept in the cache under the files versions, and made again when one changes', async () => {
    const dir = await tempDir();
    const cache = new DownloadCache(join(dir, 'cache'));
    // The cache as the digest sees it, counting what it found there.
    let found = 0;
    const counting = {
      get: async (key: string) => {
        const bytes = await cache.get(key);
        if (bytes !== undefined) found++;
        return bytes;
      },
      put: (key: string, bytes: Uint8Array) => cache.put(key, bytes),
    };
    const module = join(dir, 'dist', 'pkg', 'install.js');
    await mkdir(join(dir, 'dist', 'pkg'), { recursive: true });
    await writeFile(join(dir, 'package.json'), '{}');
    await writeFile(module, 'export const a = 1;');
    const here = join(dir, 'dist', 'pkg');
    const first = await codeDigestFrom(here, counting);
    assert.equal(found, 0);
    assert.equal(first, await codeDigestFrom(here), 'the same digest as made without a cache');
    assert.equal(await codeDigestFrom(here, counting), first);
    assert.equal(found, 1, 'taken from the cache');
    // Other bytes of the same size, the modification time set back: the change time tells.
    await writeFile(module, 'export const a = 2;');
    await utimes(module, 1_700_000_000, 1_700_000_000);
    const second = await codeDigestFrom(here, counting);
    assert.equal(found, 1, 'a new version: made again');
    assert.notEqual(second, first);
    assert.equal(second, await codeDigestFrom(here));
  });
});

describe('the same Debian build again', { skip: debianMissing || (process.arch === 'x64' ? false : 'the example is amd64') }, () => {
  const tempDir = useTempDir('memo-debian');

  it('gives what building gives, install scripts not run included', async () => {
    const dir = await tempDir();
    const examples = new URL('../../examples/debian/', import.meta.url).pathname;
    // The mirror comes from the machine's apt sources (or PROVENANT_DEBIAN_MIRROR), never from the code.
    await writeFile(join(dir, 'sources.yaml'), `contents:\n  repositories:\n    - deb ${debianMirrorUrl} bookworm main\n`);
    await writeFile(join(dir, 'shell.yaml'), await readFile(join(examples, 'shell.yaml')));
    const config = join(dir, 'shell.yaml');
    // Packages from the suite's shared download cache, layers made here.
    const made = await build(config, { cacheDir: debianCacheDir, memo: false });
    const cacheDir = join(dir, 'cache');
    await build(config, { cacheDir });
    const again = await build(config, { cacheDir });
    assert.deepEqual([...again.steps].sort(), ['resolve', 'reuse']);
    assert.ok(made.result.images[0]!.skippedScripts.length > 0, 'the image has install scripts that did not run');
    assert.deepEqual(everything(again.result), everything(made.result));
  });
});

/** The cache's files that hold a record's file lists: JSON lines of file entries, one per package. */
async function listsFiles(cacheDir: string): Promise<string[]> {
  const out: string[] = [];
  const folder = join(cacheDir, 'sha256');
  for (const name of await readdir(folder)) {
    const text = (await readFile(join(folder, name))).toString('latin1');
    if (/^\[(\{"path":.*)?\]\n/.test(text) && text.split('\n').length === 4) out.push(join(folder, name));
  }
  return out;
}
