import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUILD_TYPES, SLSA_V1, SLSA_V02 } from '../../src/attest/provenance.ts';
import { type StatementBlob, statement } from '../../src/attest/storage.ts';
import type { BuildResult } from '../../src/builder/build.ts';
import { writeBuild } from '../../src/builder/build.ts';
import { isProvenantError } from '../../src/errors.ts';
import type { Digest } from '../../src/oci/digest.ts';
import { renderReproduce } from '../../src/reproduce/render.ts';
import {
  type PlatformMismatch,
  type PlatformNotReplayable,
  type ReproduceOptions,
  type ReproduceReport,
  reproduceImage,
} from '../../src/reproduce/reproduce.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';
import { buildFromLocalRepository, packages, slsaStatements } from './helpers.ts';

// biome-ignore lint/suspicious/noExplicitAny: statements are JSON, edited by the tests
type Json = any;

describe('reproduce from a local repository: relative locations, refusals, a package file replaced', () => {
  let root: string;
  let result: BuildResult;
  let provenance: Json[];
  let n = 0;

  /** The image in a new layout, with `statements(i)` about platform i as referrers. */
  const imageWith = async (statements: (i: number) => StatementBlob[]): Promise<LayoutStore> => {
    const store = await LayoutStore.open(join(root, `layout-${n++}`), { create: true });
    const attested = result.images.map((image, i) => ({ manifest: image.manifest, statements: statements(i) }));
    await writeBuild(result, store, ['v1'], { attestations: { attested, mode: 'referrers' } });
    return store;
  };
  /** Platform i's provenance, edited. */
  const edited = (i: number, edit: (s: Json) => void): StatementBlob => {
    const s = structuredClone(provenance[i]);
    edit(s);
    const digest = result.images[i]?.manifest.digest;
    assert.ok(digest);
    return statement(SLSA_V1, s.predicate, [{ name: 'example/app', digest }]);
  };

  /** Platform i's provenance in SLSA v0.2, which is not replayable. */
  const provenanceV02 = (i: number): StatementBlob => {
    const digest = result.images[i]?.manifest.digest;
    assert.ok(digest);
    return statement(SLSA_V02, { buildType: BUILD_TYPES.apk, builder: { id: 'b' }, invocation: {}, materials: [] }, [
      { name: 'example/app', digest },
    ]);
  };

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'provenant-reproduce-refusals-'));
    // A repository given as a relative path: its package locations are relative too.
    const built = await buildFromLocalRepository(root);
    result = built.result;
    provenance = slsaStatements(built.attested);
  });
  after(() => rm(root, { recursive: true, force: true }));
  /** The options of a rebuild from this local repository: its folder, and leave to read its files. */
  const local = () => ({ baseDir: join(root, 'cfg', 'app'), allowLocalFiles: true });
  /** The report of reproducing the image with `statements(i)` about platform i, from this local repository unless `options` say otherwise. */
  const reproducedFrom = async (
    statements: (i: number) => StatementBlob[],
    options: ReproduceOptions = local(),
  ): Promise<ReproduceReport> => {
    const store = await imageWith(statements);
    try {
      return await reproduceImage(store, 'v1', options);
    } finally {
      await store.close();
    }
  };
  /** The report of reproducing the image whose provenance on platform i is its own after `edit(statement, i)`. */
  const reproducedWith = (edit: (s: Json, i: number) => void, options?: ReproduceOptions): Promise<ReproduceReport> =>
    reproducedFrom((i) => [edited(i, (s) => edit(s, i))], options);

  it('reads no package file of this machine that the provenance names unless allowed: a path, a file:// URL', async () => {
    const elsewhere = join(root, 'elsewhere');
    const store = await imageWith((i) => [edited(i, () => {})]);
    const absolute = await imageWith((i) => [
      edited(i, (s) => {
        for (const d of s.predicate.buildDefinition.resolvedDependencies) {
          if (d.annotations.kind === 'apk') d.uri = `${elsewhere}/${d.uri.split('/').slice(-2).join('/')}`;
        }
      }),
    ]);
    const fileUrl = await imageWith((i) => [
      edited(i, (s) => {
        for (const d of s.predicate.buildDefinition.resolvedDependencies) {
          if (d.annotations.kind === 'apk') d.uri = `file://${elsewhere}/${d.uri.split('/').slice(-2).join('/')}`;
        }
      }),
    ]);
    const seen: unknown[] = [];
    for (const [what, image, named] of [
      ['relative', store, /\.\.\/\.\.\/served\/repo\/x86_64\/base-1\.0-r0\.apk/],
      ['absolute', absolute, new RegExp(`^[^:]*\\(${elsewhere}/x86_64/base-1\\.0-r0\\.apk`)],
      ['file://', fileUrl, new RegExp(`file://${elsewhere}/x86_64/base-1\\.0-r0\\.apk`)],
    ] as const) {
      await assert.rejects(
        reproduceImage(image, 'v1', { baseDir: join(root, 'cfg', 'app'), onProgress: (u) => seen.push(u.phase) }),
        (err: unknown) => {
          assert.ok(isProvenantError(err, 'USAGE'), `${what}: ${String(err)}`);
          assert.match(err.message, /^the provenance names package files on this machine \(/, what);
          assert.match(err.message, named, what);
          assert.match(err.hint ?? '', /--allow-local-packages/);
          return true;
        },
      );
    }
    assert.ok(!seen.includes('fetch') && !seen.includes('sources'), 'nothing was fetched');
    // Allowed, the absolute paths are read, and the report says how many files came from here.
    await cp(join(root, 'served', 'repo'), elsewhere, { recursive: true });
    const sources: unknown[] = [];
    const report = await reproduceImage(absolute, 'v1', {
      allowLocalFiles: true,
      onProgress: (u) => {
        if (u.phase === 'sources') sources.push({ hosts: u.hosts, localFiles: u.localFiles });
      },
    });
    assert.equal(report.match, true, renderReproduce(report));
    assert.deepEqual(sources, [{ hosts: [], localFiles: 6 }]);
    for (const s of [store, absolute, fileUrl]) await s.close();
  });

  it('rebuilds from relative package locations only with the folder they are relative to', async () => {
    const store = await imageWith((i) => [edited(i, () => {})]);
    await assert.rejects(reproduceImage(store, 'v1'), (err: unknown) => {
      assert.ok(isProvenantError(err, 'USAGE'), String(err));
      assert.match(err.message, /the package location \.\.\/\.\.\/served\/repo\/x86_64\/\S+\.apk is relative/);
      return true;
    });
    const kept = await LayoutStore.open(join(root, 'kept'), { create: true });
    const report = await reproduceImage(store, 'v1', { ...local(), output: { store: kept, tags: ['rebuilt'] } });
    assert.equal(report.match, true, renderReproduce(report));
    // The rebuild is kept on request: the same platform manifests, under the tag asked for.
    const rebuilt = await kept.getManifest('rebuilt');
    assert.ok(rebuilt.kind === 'index');
    assert.deepEqual(
      rebuilt.index.manifests.map((m) => m.digest),
      result.images.map((i) => i.manifest.digest),
    );
    await kept.close();
    // An override from the relative location works as well, and needs no permission: the place
    // it names is the caller's own.
    const moved = await reproduceImage(store, 'v1', { repositoryOverrides: [['../../served/repo', join(root, 'served', 'repo')]] });
    assert.equal(moved.match, true, renderReproduce(moved));
    await store.close();
  });

  it('does not report a reproduction when the image comes out the same from package files other than the provenance names', async () => {
    // The provenance's digest of data (amd64) edited: the file served is the one built from, so
    // the image comes out the same, but not from the file the provenance names.
    const zeros = '0'.repeat(64);
    const report = await reproducedWith((s, i) => {
      if (i !== 0) return;
      for (const d of s.predicate.buildDefinition.resolvedDependencies) if (d.name === 'data') d.digest.sha256 = zeros;
    });
    const text = renderReproduce(report);
    assert.equal(report.match, false, text);
    const [amd, arm] = report.platforms as PlatformMismatch[];
    assert.equal(arm?.status, 'match', text);
    assert.equal(amd?.status, 'mismatch', text);
    assert.equal(amd?.rebuilt, amd?.digest);
    assert.deepEqual(
      amd?.changedPackageFiles.map((c) => [c.name, c.expected]),
      [['data', zeros]],
    );
    assert.match(amd?.reason ?? '', /other than the provenance names/);
    assert.match(text, /linux\/amd64 {2}MISMATCH {2}sha256:[0-9a-f]{64} = rebuilt, from other package files/);
    assert.match(text, /package file changed: data 2\.1-r3 \(x86_64\)/);
    assert.match(text, /^not reproduced: 1 match, 1 differ/m);
  });

  it('refuses a provenance naming a package file by another version than the file is, and names the file where the provenance does', async () => {
    const versioned = reproducedWith((s) => {
      for (const d of s.predicate.buildDefinition.resolvedDependencies) if (d.name === 'data') d.annotations.version = '9.9-r0';
    });
    await assert.rejects(versioned, (err: unknown) => {
      assert.ok(isProvenantError(err, 'DIGEST_MISMATCH'), String(err));
      // Not the temporary folder's copy, which is gone when this is read.
      assert.match(err.describe(), /^\.\.\/\.\.\/served\/repo\/\w+\/data-2\.1-r3\.apk is data-2\.1-r3, not data-9\.9-r0/);
      assert.doesNotMatch(err.describe(), /provenant-reproduce-/);
      return true;
    });
  });

  it('does not report a reproduction when a layer of the original is damaged in the store, although its manifest matches', async () => {
    const store = await imageWith((i) => [edited(i, () => {})]);
    const layout = join(root, `layout-${n - 1}`);
    const stored = await store.getManifest(result.images[1]?.manifest.digest ?? '');
    assert.ok(stored.kind === 'manifest');
    const layer = stored.manifest.layers[0];
    assert.ok(layer);
    // One byte changed on disk, the size kept: only hashing the blob tells.
    const file = join(layout, 'blobs', 'sha256', layer.digest.slice('sha256:'.length));
    const bytes = await readFile(file);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0xff, bytes.length - 1);
    await writeFile(file, bytes);
    try {
      await assert.rejects(reproduceImage(store, 'v1', local()), (err: unknown) => {
        assert.ok(isProvenantError(err, 'DIGEST_MISMATCH'), String(err));
        assert.match(err.message, new RegExp(`^v1 linux/arm64: its layer 0 ${layer.digest} is damaged in the store`));
        assert.equal(err.where, `${store.location}@${layer.digest}`);
        return true;
      });
    } finally {
      await store.close();
    }
  });

  it('reports a mismatch for the platform whose package file is now another package, and still compares the others', async () => {
    const file = join(root, 'served', 'repo', 'x86_64', 'data-2.1-r3.apk');
    const saved = await readFile(file);
    // Another package at data's location: the rebuild with it fails, for amd64 alone.
    await copyFile(join(root, 'served', 'repo', 'x86_64', 'tool-0.9-r1.apk'), file);
    try {
      const report = await reproducedWith(() => {});
      const [amd, arm] = report.platforms as PlatformMismatch[];
      assert.equal(arm?.status, 'match', renderReproduce(report));
      assert.equal(amd?.status, 'mismatch');
      assert.equal(amd?.rebuilt, undefined);
      assert.deepEqual(
        amd?.changedPackageFiles.map((c) => [c.name, c.url]),
        [['data', '../../served/repo/x86_64/data-2.1-r3.apk']],
      );
      assert.match(amd?.error ?? '', /^the rebuild with the changed package files failed: .*is tool-0\.9-r1, not data-2\.1-r3/);
      assert.match(renderReproduce(report), /package file changed: data 2\.1-r3 \(x86_64\)/);
    } finally {
      await writeFile(file, saved);
    }
  });

  it('does not report the SHA-256 of a file that is no package any more (the provenance may name any file)', async () => {
    const file = join(root, 'served', 'repo', 'x86_64', 'data-2.1-r3.apk');
    const saved = await readFile(file);
    await writeFile(file, 'a secret of this machine\n');
    try {
      await assert.rejects(
        reproducedWith(() => {}),
        (e: unknown) =>
          isProvenantError(e, 'INVALID_PACKAGE') &&
          /is not the package data 2\.1-r3, nor any apk package/.test(e.message) &&
          !e.message.includes(createHash('sha256').update('a secret of this machine\n').digest('hex')),
      );
    } finally {
      await writeFile(file, saved);
    }
  });

  it('refuses a BuildKit provenance naming its build type, and a platform with no provenance', { skip: fixturesMissing }, async () => {
    const buildkit = JSON.parse(
      await readFile(fixture('oci', 'buildkit-provenance-slsa-v1_statement-v0.1_mode-max_local-exporter.json'), 'utf8'),
    );
    const amd64 = result.images[0]?.manifest.digest;
    assert.ok(amd64);
    const report = await reproducedFrom((i) => (i === 0 ? [statement(SLSA_V1, buildkit.predicate, [{ name: 'x', digest: amd64 }])] : []));
    assert.equal(report.match, false);
    const [a, b] = report.platforms as PlatformNotReplayable[];
    assert.equal(a?.status, 'not-replayable');
    assert.equal(a?.provenance?.buildType, 'https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md');
    assert.match(a?.reason ?? '', /^a BuildKit build \(buildType https:\/\/github\.com\/moby\/buildkit\/.*, frontend dockerfile\.v0\)/);
    assert.deepEqual(a?.missing, [`buildType ${BUILD_TYPES.apk} or ${BUILD_TYPES.deb}`]);
    assert.equal(b?.status, 'not-replayable');
    assert.match(b?.reason ?? '', /no SLSA provenance is attached to this platform image in any storage/);
    assert.deepEqual(b?.missing, ['SLSA provenance whose subject is this platform manifest']);
    const text = renderReproduce(report);
    assert.match(text, /linux\/amd64 {2}NOT REPLAYABLE/);
    assert.match(text, /missing: buildType https:\/\/provenant\.dev\/build\/apk\/v1/);
    assert.match(text, /not reproduced: 2 not replayable/);
  });

  it('refuses a provenance that leaves out an included configuration file, naming it', async () => {
    const report = await reproducedWith((s) => {
      s.predicate.buildDefinition.externalParameters.config.files.splice(1, 1);
    });
    for (const p of report.platforms as PlatformNotReplayable[]) {
      assert.equal(p.status, 'not-replayable');
      assert.deepEqual(p.missing, ['externalParameters.config.files: ../shared/common.yaml (an included file)']);
      assert.equal(
        p.reason,
        'the configuration includes a file the provenance does not carry: image.yaml:1:10: include: the included file ../shared/common.yaml does not exist',
      );
    }
  });

  it('refuses a provenance without the apk key the configuration trusts, naming it', async () => {
    const report = await reproducedWith((s) => {
      const deps = s.predicate.buildDefinition.resolvedDependencies;
      s.predicate.buildDefinition.resolvedDependencies = deps.filter((d: Json) => d.annotations.kind !== 'apk-key');
    });
    for (const p of report.platforms as PlatformNotReplayable[]) {
      assert.equal(p.status, 'not-replayable');
      assert.match(
        p.missing[0] ?? '',
        /^resolvedDependencies: the apk key reproduce-test-[0-9a-f]+\.rsa\.pub \(contents\.keyring: \.\/keys\//,
      );
    }
  });

  it('refuses a platform whose provenance statements say different builds, naming them, rather than replay the first found', async () => {
    // A cold review: the first replayable one was used without a word, while inspect warned of two.
    const report = await reproducedFrom((i) => [
      edited(i, () => {}),
      edited(i, (s) => {
        s.predicate.buildDefinition.externalParameters.sourceDateEpoch += 60;
      }),
    ]);
    assert.equal(report.match, false);
    for (const p of report.platforms as PlatformNotReplayable[]) {
      assert.equal(p.status, 'not-replayable', renderReproduce(report));
      assert.match(
        p.reason,
        /^2 SLSA provenance statements about this platform image can be replayed, and they say different builds \(referrers sha256:[0-9a-f]{64}; referrers sha256:[0-9a-f]{64}\)/,
      );
      assert.match(p.missing[0] ?? '', /^one SLSA provenance for this platform manifest, or several that say the same build/);
    }
  });

  it('replays one of several statements that say the same build, and says which', async () => {
    const said: string[] = [];
    const report = await reproducedFrom((i) => [edited(i, () => {}), provenanceV02(i), edited(i, () => {})], {
      ...local(),
      logger: { debug() {}, info: (m) => said.push(m), warn() {} },
    });
    assert.equal(report.match, true, renderReproduce(report));
    assert.equal(
      said.filter((m) =>
        /SLSA provenance statements found \(\d replayable, the same build\); replaying the one in referrers sha256:/.test(m),
      ).length,
      2,
      said.join('\n'),
    );
  });

  it('says that the provenance stored with a platform image is about another image, rather than that there is none', async () => {
    // Each platform carries the other's provenance, as a referrer of its own manifest.
    const digests = result.images.map((image) => image.manifest.digest);
    const report = await reproducedFrom((i) => [
      statement(SLSA_V1, provenance[1 - i].predicate, [{ name: 'example/app', digest: digests[1 - i] as Digest }]),
    ]);
    for (const [i, p] of (report.platforms as PlatformNotReplayable[]).entries()) {
      assert.equal(p.status, 'not-replayable', renderReproduce(report));
      assert.match(
        p.reason,
        new RegExp(
          `^the SLSA provenance stored with this platform image is about another image, so it is not this image's: referrers sha256:[0-9a-f]{64} names ${digests[1 - i]}$`,
        ),
      );
      assert.deepEqual(p.missing, ['SLSA provenance whose subject is this platform manifest']);
    }
  });

  it("refuses only the platform that carries another platform's provenance (one predicate on each), and rebuilds the other", async () => {
    // attest gave each platform image amd64's predicate: it names amd64's packages alone.
    const digests = result.images.map((image) => image.manifest.digest);
    const report = await reproducedFrom((i) => [
      statement(SLSA_V1, provenance[0].predicate, [{ name: 'example/app', digest: digests[i] as Digest }]),
    ]);
    const text = renderReproduce(report);
    assert.deepEqual(
      report.platforms.map((p) => p.status),
      ['match', 'not-replayable'],
      text,
    );
    const arm = report.platforms[1] as PlatformNotReplayable;
    assert.equal(
      arm.reason,
      'the provenance of the linux/arm64 image describes a build of another architecture: the packages it names are for x86_64, none for aarch64',
    );
    assert.deepEqual(arm.missing, [
      "the linux/arm64 build's own provenance (attest each platform's image with its own: provenant attest --platform linux/arm64)",
      'resolvedDependencies: a package that meets base (aarch64)',
      'resolvedDependencies: a package that meets data (aarch64)',
      'resolvedDependencies: a package that meets tool (aarch64)',
    ]);
    // The index is compared with the rebuild of amd64: arm64's entry is not known to belong.
    assert.deepEqual(report.index?.differences, [], text);
    assert.deepEqual(report.index?.notRebuilt, [`entry 1 (linux/arm64, ${digests[1]})`]);
    assert.doesNotMatch(text, /provenant-reproduce-/);
  });

  // A last read: a provenance whose packages are all noarch, without the architecture its build
  // locked them for (lockArch, which another writer may leave out), was said to describe "a build
  // of another architecture: the packages it names are for noarch" on its own platform.
  it("says a provenance of noarch packages alone, without the architecture they were locked for, is not known to be this platform's, not that it is another's", async () => {
    const report = await reproducedWith((s) => {
      for (const d of s.predicate.buildDefinition.resolvedDependencies) {
        if (d.annotations.kind !== 'apk') continue;
        d.annotations.arch = 'noarch';
        delete d.annotations.lockArch;
      }
    });
    const text = renderReproduce(report);
    for (const [i, p] of (report.platforms as PlatformNotReplayable[]).entries()) {
      const [platform, arch] = [
        ['linux/amd64', 'x86_64'],
        ['linux/arm64', 'aarch64'],
      ][i] as [string, string];
      assert.equal(p.status, 'not-replayable', text);
      assert.equal(
        p.reason,
        `the provenance of the ${platform} image names packages of no architecture alone (noarch), not the architecture its build locked them for: none is locked for ${arch}`,
      );
      assert.equal(p.missing[0], `annotations.lockArch on each package: the architecture its build locked it for (${arch})`);
    }
    assert.doesNotMatch(text, /another architecture/);
    // Nothing was rebuilt, so nothing was split by platform either (as the index was said to be).
    assert.deepEqual(report.index, {
      compared: false,
      reason: 'no image of it was compared with a rebuild: each platform of its build was refused, as its reason says',
      differences: [],
    });
  });

  it('refuses only the platform whose own provenance lacks a package, naming that provenance, and rebuilds the other', async () => {
    const report = await reproducedWith((s, i) => {
      const def = s.predicate.buildDefinition;
      if (i === 1) def.resolvedDependencies = def.resolvedDependencies.filter((d: Json) => d.name !== 'data');
    });
    assert.deepEqual(
      report.platforms.map((p) => p.status),
      ['match', 'not-replayable'],
      renderReproduce(report),
    );
    const [amd, arm] = report.platforms as PlatformNotReplayable[];
    assert.equal(
      arm?.reason,
      "the provenance's packages do not meet what its configuration asks for: no package it names meets data (aarch64)",
    );
    assert.notEqual(arm?.provenance?.source, amd?.provenance?.source);
    assert.equal(report.match, false);
  });

  it('refuses a provenance whose config.contents is not what its configuration files merge to, as a policy reads it', async () => {
    const report = await reproducedWith((s) => {
      s.predicate.buildDefinition.externalParameters.config.contents.packages.push('curl');
    });
    assert.deepEqual(
      report.platforms.map((p) => p.status),
      ['not-replayable', 'not-replayable'],
      renderReproduce(report),
    );
    const p = report.platforms[0] as PlatformNotReplayable;
    assert.equal(
      p.reason,
      "the provenance's externalParameters.config.contents is not what its configuration files ask for (packages: it states base, data, tool, curl, the files give base, data, tool): a policy that reads it would judge another build than the one the files describe",
    );
    assert.deepEqual(p.missing, ['externalParameters.config.contents.packages as the configuration files merge it: base, data, tool']);
    assert.equal(report.match, false);
  });

  // A final review: an image an earlier Provenant built from a file that includes one naming the
  // key wrote the key's path from the root file's folder (./keys/x, where the files now give
  // ./sub/keys/x), and matched before config.contents was compared; a key goes in by its name.
  it('takes a provenance whose config.contents names its keys by another path to the same file name', async () => {
    const report = await reproducedWith((s) => {
      const contents = s.predicate.buildDefinition.externalParameters.config.contents;
      contents.keyring = contents.keyring.map((k: string) => `./elsewhere/${k.slice(k.lastIndexOf('/') + 1)}`);
    });
    assert.deepEqual(
      report.platforms.map((p) => p.status),
      ['match', 'match'],
      renderReproduce(report),
    );
  });

  // A last read: by name alone, a key from any URL passed for the configuration's own.
  it('refuses a provenance whose config.contents names a key at a URL where the files give a path', async () => {
    const report = await reproducedWith((s) => {
      const contents = s.predicate.buildDefinition.externalParameters.config.contents;
      contents.keyring = contents.keyring.map((k: string) => `https://keys.invalid/${k.slice(k.lastIndexOf('/') + 1)}`);
    });
    assert.deepEqual(
      report.platforms.map((p) => p.status),
      ['not-replayable', 'not-replayable'],
      renderReproduce(report),
    );
    assert.match((report.platforms[0] as PlatformNotReplayable).reason, /\(keyring: it states https:\/\/keys\.invalid\//);
  });

  it('says that no provenance was found when there is none, with no key given too, rather than that it was not verified', async () => {
    const report = await reproducedFrom(() => []);
    assert.deepEqual(
      report.platforms.map((p) => p.status),
      ['not-replayable', 'not-replayable'],
    );
    assert.equal(report.verification.verified, false);
    assert.equal(report.verification.summary, 'no provenance was found, so nothing was verified');
    assert.match(renderReproduce(report), /^provenance: no provenance was found, so nothing was verified$/m);
  });

  it('refuses a provenance whose packages do not meet what its configuration asks for, as build --lock does', async () => {
    // tool is in contents.packages; nothing needs it, so a build from these entries alone would
    // leave it out and be compared as an image that lost it.
    const report = await reproducedWith((s) => {
      const deps = s.predicate.buildDefinition.resolvedDependencies;
      s.predicate.buildDefinition.resolvedDependencies = deps.filter((d: Json) => d.name !== 'tool');
    });
    assert.deepEqual(
      report.platforms.map((p) => p.status),
      ['not-replayable', 'not-replayable'],
      renderReproduce(report),
    );
    // Each platform is refused for what its own provenance lacks.
    for (const [i, arch] of ['x86_64', 'aarch64'].entries()) {
      const p = report.platforms[i] as PlatformNotReplayable;
      assert.equal(
        p.reason,
        `the provenance's packages do not meet what its configuration asks for: no package it names meets tool (${arch})`,
      );
      assert.deepEqual(p.missing, [`resolvedDependencies: a package that meets tool (${arch})`]);
    }
  });
});

describe('reproduce checks what the configuration asks for against what the packages provide', () => {
  it('replays a configuration whose request only a provide meets (cmd:tool), reading the package files for it', async () => {
    const root = await mkdtemp(join(tmpdir(), 'provenant-reproduce-provides-'));
    try {
      const built = await buildFromLocalRepository(root, {
        specs: (arch) => packages(arch).map((p) => (p.name === 'tool' ? { ...p, provides: ['cmd:tool=0.9-r1'] } : p)),
        requests: '[base, data, cmd:tool]',
      });
      const store = await LayoutStore.open(join(root, 'layout'), { create: true });
      try {
        await writeBuild(built.result, store, ['v1'], { attestations: { attested: built.attested, mode: 'referrers' } });
        const report = await reproduceImage(store, 'v1', { baseDir: join(root, 'cfg', 'app'), allowLocalFiles: true });
        assert.equal(report.match, true, renderReproduce(report));
      } finally {
        await store.close();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('reproduce meets requests with a noarch package of an older provenance', () => {
  it('replays a noarch apk whose entry has only arch, the lock architecture, as provenance written before lockArch says it', async () => {
    const root = await mkdtemp(join(tmpdir(), 'provenant-reproduce-noarch-'));
    try {
      // tool is noarch and met only by what it provides: the check reads its file in each
      // architecture's packages, which must hold it.
      const built = await buildFromLocalRepository(root, {
        specs: (arch) => packages(arch).map((p) => (p.name === 'tool' ? { ...p, arch: 'noarch', provides: ['cmd:tool=0.9-r1'] } : p)),
        requests: '[base, data, cmd:tool]',
      });
      const predicates = slsaStatements(built.attested);
      const tools = predicates.map((s: Json) => s.predicate.buildDefinition.resolvedDependencies.find((d: Json) => d.name === 'tool'));
      assert.deepEqual(
        tools.map((d: Json) => [d.annotations.arch, d.annotations.lockArch]),
        [
          ['noarch', 'x86_64'],
          ['noarch', 'aarch64'],
        ],
      );
      // As written before lockArch: arch is the lock's architecture.
      for (const d of tools) {
        d.annotations.arch = d.annotations.lockArch;
        delete d.annotations.lockArch;
      }
      const store = await LayoutStore.open(join(root, 'layout'), { create: true });
      try {
        const attested = built.result.images.map((image, i) => ({
          manifest: image.manifest,
          statements: [statement(SLSA_V1, predicates[i].predicate, [{ name: 'example/app', digest: image.manifest.digest }])],
        }));
        await writeBuild(built.result, store, ['v1'], { attestations: { attested, mode: 'referrers' } });
        const report = await reproduceImage(store, 'v1', { baseDir: join(root, 'cfg', 'app'), allowLocalFiles: true });
        assert.equal(report.match, true, renderReproduce(report));
      } finally {
        await store.close();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
