import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ArtifactType, isBuildkitAttestation, STATEMENT_LIMIT } from '../../src/attest/attachments.ts';
import type { AttestationMode } from '../../src/attest/storage.ts';
import { type BuildResult, buildImage, writeBuild } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import { type DescribeOptions, describeBuild, describeIndex } from '../../src/builder/describe.ts';
import { isProvenantError } from '../../src/errors.ts';
import { createIndex } from '../../src/image/index-create.ts';
import { bytesSource } from '../../src/io/types.ts';
import { encodeJson, parseStored } from '../../src/oci/content.ts';
import { type Digest, digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import { parsePlatform } from '../../src/oci/platform.ts';
import { Annotation, type Descriptor } from '../../src/oci/types.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { generateSigningKeyPair } from '../../src/sign/keys.ts';
import { attestImage, signImage } from '../../src/sign/sign.ts';
import { KeySigner } from '../../src/sign/signer.ts';
import { verifyImage } from '../../src/sign/verify.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { RegistryStore } from '../../src/store/registry.ts';
import type { ContentStore } from '../../src/store/types.ts';
import { EPOCH, writeFixtureRepo } from '../action/fixture-repo.ts';
import { synth } from '../compat/images.ts';
import { sh, toolMissing } from '../helpers/images.ts';
import { registryMissing, startRegistry, type TestRegistry } from '../helpers/registry.ts';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'provenant-index-'));
  dirs.push(d);
  return d;
}
async function layout(): Promise<LayoutStore> {
  return LayoutStore.open(join(await tempDir(), 'layout'), { create: true });
}

let configPath: string;
const builds = new Map<string, BuildResult>();

/** One build of `archs` (cached: the same inputs give the same bytes, which is what is tested). */
async function build(archs: string[]): Promise<BuildResult> {
  const key = archs.join(',');
  let result = builds.get(key);
  if (result === undefined) {
    const loaded = await loadConfig(configPath, { hostArch: 'x86_64' });
    result = await buildImage({ config: loaded, configPath, archs, sourceDateEpoch: EPOCH, workers: 0 });
    builds.set(key, result);
  }
  return result;
}

/** How every build here is described: the same inputs give the same statements. */
function describing(): DescribeOptions {
  return {
    imageName: 'example/app',
    configPath,
    toolVersion: '0.0.0-test',
    sourceDateEpoch: EPOCH,
    builderId: 'https://example.test/builder',
    fromLock: false,
  };
}

/** The in-toto statements about the first platform image of a build of `archs`. */
async function statementsFor(archs: string[]) {
  return describeBuild(await build(archs), describing())[0]!.statements;
}

/** Builds `archs` and writes it with SBOMs and provenance in `mode` to `store` as `tag`. */
async function buildInto(archs: string[], store: ContentStore, tag: string, mode: AttestationMode = 'referrers'): Promise<Digest> {
  const result = await build(archs);
  const attested = describeBuild(result, describing());
  const index = describeIndex(result, describing());
  if (index !== undefined) attested.push(index);
  return (await writeBuild(result, store, [tag], { attestations: { attested, mode } })).digest;
}

before(async () => {
  configPath = await writeFixtureRepo(await tempDir());
});

describe('createIndex: two single-arch builds merged are the two-arch build', () => {
  it('gives the digest of one build of both archs, attestations as referrers', async () => {
    const both = await layout();
    const expected = await buildInto(['x86_64', 'aarch64'], both, 'both');
    const amd = await layout();
    const arm = await layout();
    await buildInto(['x86_64'], amd, 'amd64');
    await buildInto(['aarch64'], arm, 'arm64');
    const dst = await layout();
    const merged = await createIndex(
      [
        { store: amd, target: 'amd64' },
        { store: arm, target: 'arm64' },
      ],
      { store: dst, tags: ['v1'] },
    );
    assert.equal(merged.descriptor.digest, expected);
    assert.equal((await dst.resolve('v1'))?.digest, expected);
    assert.deepEqual(
      merged.platforms.map((p) => p.platform),
      ['linux/amd64', 'linux/arm64'],
    );
    // The exact bytes, not only the digest.
    assert.deepEqual(Buffer.from(merged.index.bytes), Buffer.from((await both.getManifest('both')).bytes));
    // Each platform's attestation referrer came along.
    assert.equal(merged.referrers, 2);
    for (const p of merged.platforms) {
      const refs = await dst.referrers(p.digest, { artifactType: ArtifactType.BuildkitAttestation });
      assert.equal(refs.length, 1, p.platform);
    }
  });

  // A build's provenance records the architectures that build built (its external parameters),
  // so the attestations of two one-arch builds are not those of one two-arch build: with BuildKit
  // storage, where the index names them, the digests differ for that true reason. What holds is
  // that both ways of asking for BuildKit storage give the same index.
  it('gives one index for BuildKit attestations, whether the sources kept theirs as entries or as referrers', async () => {
    const src = await layout();
    await buildInto(['x86_64'], src, 'amd64-bk', 'buildkit');
    await buildInto(['aarch64'], src, 'arm64-bk', 'buildkit');
    await buildInto(['x86_64'], src, 'amd64-ref', 'referrers');
    await buildInto(['aarch64'], src, 'arm64-ref', 'referrers');
    const bkEntries = async (tag: string) => {
      const s = await src.getManifest(tag);
      return s.kind === 'index' ? s.index.manifests.filter(isBuildkitAttestation) : [];
    };

    // BuildKit entries carried as they are.
    const kept = await createIndex(
      [
        { store: src, target: 'amd64-bk' },
        { store: src, target: 'arm64-bk' },
      ],
      { store: await layout(), tags: ['v1'] },
    );
    assert.equal(kept.index.kind, 'index');
    if (kept.index.kind !== 'index') return;
    assert.deepEqual(kept.index.index.manifests.slice(2), [...(await bkEntries('amd64-bk')), ...(await bkEntries('arm64-bk'))]);
    // Referrers re-created as BuildKit entries: the same index.
    const dst = await layout();
    const recreated = await createIndex(
      [
        { store: src, target: 'amd64-ref' },
        { store: src, target: 'arm64-ref' },
      ],
      { store: dst, tags: ['v1'] },
      { attestations: 'buildkit' },
    );
    assert.equal(recreated.descriptor.digest, kept.descriptor.digest);
    // Moved, not copied: the referrers they were made from are not written as well.
    for (const p of recreated.platforms) {
      assert.deepEqual(await dst.referrers(p.digest, { artifactType: ArtifactType.BuildkitAttestation }), [], p.platform);
    }
    assert.equal(recreated.referrers, 0);
    assert.deepEqual([kept.attestationEntries, recreated.attestationEntries], [2, 2]);
    // Every attestation manifest the index names is in the destination, with its statements.
    for (const e of kept.index.index.manifests.slice(2)) {
      const m = await dst.getManifest(e.digest);
      assert.equal(m.kind === 'manifest' && m.manifest.layers.length, 3);
    }
    // Without `buildkit`, referrer sources stay referrers, and the index holds the images only.
    const plain = await createIndex(
      [
        { store: src, target: 'amd64-ref' },
        { store: src, target: 'arm64-ref' },
      ],
      { store: await layout(), tags: ['v1'] },
    );
    assert.equal(plain.index.kind === 'index' && plain.index.index.manifests.length, 2);
    // And a two-arch build's index is that one.
    assert.equal(plain.descriptor.digest, await buildInto(['x86_64', 'aarch64'], await layout(), 'both'));
  });

  it('turns BuildKit entries into referrers when asked: the referrers build, its attestations as referrers', async () => {
    const expected = await buildInto(['x86_64', 'aarch64'], await layout(), 'both', 'referrers');
    const src = await layout();
    await buildInto(['x86_64'], src, 'amd64', 'buildkit');
    await buildInto(['aarch64'], src, 'arm64', 'buildkit');
    const asReferrers = await layout();
    await buildInto(['x86_64'], asReferrers, 'amd64', 'referrers');
    await buildInto(['aarch64'], asReferrers, 'arm64', 'referrers');
    const dst = await layout();
    const merged = await createIndex(
      [
        { store: src, target: 'amd64' },
        { store: src, target: 'arm64' },
      ],
      { store: dst, tags: ['v1'] },
      { attestations: 'referrers' },
    );
    assert.equal(merged.descriptor.digest, expected);
    // Made by this run, and counted as made.
    assert.deepEqual([merged.referrers, merged.attestationEntries], [2, 0]);
    for (const p of merged.platforms) {
      const refs = await dst.referrers(p.digest, { artifactType: ArtifactType.BuildkitAttestation });
      const want = await asReferrers.referrers(p.digest, { artifactType: ArtifactType.BuildkitAttestation });
      assert.equal(refs.length, 1);
      assert.deepEqual(
        refs.map((r) => r.digest),
        want.map((r) => r.digest),
      );
    }
  });

  it('counts the referrers and cosign tags this run brought, not those the destination held already', async () => {
    const { privateKey } = generateSigningKeyPair();
    const signer = new KeySigner(privateKey);
    const amd = await layout();
    const arm = await layout();
    const amdIndex = await amd.getManifest(await buildInto(['x86_64'], amd, 'amd64'));
    await buildInto(['aarch64'], arm, 'arm64');
    assert.ok(amdIndex.kind === 'index');
    // A bundle referrer and a .sig tag, besides the attestation referrer.
    await signImage(amd, amdIndex.index.manifests[0]!.digest, {
      signer,
      dockerReference: 'example/app',
      storages: ['referrers', 'cosign'],
    });
    const dst = await layout();
    const first = await createIndex([{ store: amd, target: 'amd64' }], { store: dst, tags: ['app'] });
    // The amd64 index itself, with its own attestation too.
    assert.equal(first.descriptor.digest, amdIndex.digest);
    assert.deepEqual([first.referrers, first.cosignTags], [3, 1]);
    // The tag that held the amd64 image now holds both: only arm64's referrer is new.
    const again = await createIndex(
      [
        { store: amd, target: 'amd64' },
        { store: arm, target: 'arm64' },
      ],
      { store: dst, tags: ['app'] },
    );
    assert.deepEqual([again.referrers, again.cosignTags], [1, 0]);
  });

  it("carries a source index's own signatures when the merged index is that index, and not otherwise", async () => {
    const { privateKey, publicKey } = generateSigningKeyPair();
    const signer = new KeySigner(privateKey);
    const src = await layout();
    const both = await buildInto(['x86_64', 'aarch64'], src, 'both');
    await signImage(src, both, { signer, dockerReference: 'example/app', storages: ['referrers', 'cosign'] });
    const policy = { policy: { key: publicKey } };
    assert.equal((await verifyImage(src, both, policy)).verified.length, 2);
    // Its platforms merged back: the very index, whose signatures still hold.
    const dst = await layout();
    const back = await createIndex([{ store: src, target: 'both' }], { store: dst, tags: ['v1'] });
    assert.equal(back.descriptor.digest, both);
    assert.equal((await verifyImage(dst, both, policy)).verified.length, 2);
    // The attestation referrer of each platform; the index's own attestation and signature
    // bundle, and its .sig tag.
    assert.deepEqual([back.referrers, back.cosignTags], [4, 1]);
    // Merged again into the same place: nothing new to bring.
    const again = await createIndex([{ store: src, target: 'both' }], { store: dst, tags: ['v1'] });
    assert.deepEqual([again.referrers, again.cosignTags], [0, 0]);
    // Another index (one platform of it, annotated): its signatures are not carried.
    const other = await layout();
    const one = await createIndex([{ store: src, target: 'both' }], { store: other, tags: ['v1'] }, { annotations: { note: 'other' } });
    assert.notEqual(one.descriptor.digest, both);
    assert.equal(await other.resolve(both), undefined);
    assert.equal(one.cosignTags, 0);
  });

  it('merges bare platform manifests, taking each platform from its config', async () => {
    const src = await layout();
    const digest = await buildInto(['x86_64', 'aarch64'], src, 'both');
    const index = await src.getManifest(digest);
    assert.equal(index.kind, 'index');
    if (index.kind !== 'index') return;
    const [amd, arm] = index.index.manifests;
    const merged = await createIndex(
      [
        { store: src, target: arm!.digest },
        { store: src, target: amd!.digest },
      ],
      { store: await layout(), tags: ['v1'] },
      { annotations: { 'org.example.note': 'merged' } },
    );
    assert.equal(merged.index.kind, 'index');
    if (merged.index.kind !== 'index') return;
    // The order given, each entry as the builder describes it; the annotations only those asked for.
    assert.deepEqual(merged.index.index.manifests, [arm, amd]);
    assert.deepEqual(merged.index.index.annotations, { 'org.example.note': 'merged' });
  });

  it('leaves the layout it writes holding the index alone (its images and attestation entries unlisted), as skopeo reads it without a tag', async () => {
    const src = await layout();
    await synth(src, { platforms: ['linux/amd64', 'linux/arm64'].map(parsePlatform), attestations: 'legacy' });
    const store = await layout();
    const merged = await createIndex([{ store: src, target: 'v1' }], { store, tags: [] });
    assert.equal(merged.platforms.length, 2);
    const roots = JSON.parse(await readFile(join(store.path, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
    assert.deepEqual(
      roots.manifests.map((m) => m.digest),
      [merged.descriptor.digest],
    );
    assert.equal(await store.defaultTarget(), merged.descriptor.digest);
    if (toolMissing('skopeo')) return;
    const raw = sh('skopeo', ['inspect', '--raw', `oci:${store.path}`]);
    assert.equal(raw.status, 0, raw.stderr);
    assert.equal(digestOf(raw.stdout), merged.descriptor.digest);
  });
});

describe('createIndex: entries attached to an image are not platforms', () => {
  it('carries the linux/"" SBOM entries imagetools create adds with their image, not as platforms', async () => {
    const amd = await layout();
    const arm = await layout();
    const a = await synth(amd, { platforms: [parsePlatform('linux/amd64')], emptyPlatformArtifact: true, tag: 'v1' });
    const b = await synth(arm, { platforms: [parsePlatform('linux/arm64')], emptyPlatformArtifact: true, tag: 'v1', seed: 50 });
    const sbomOf = (made: typeof a) =>
      made.root.kind === 'index' ? made.root.index.manifests.find((e) => e.platform?.architecture === '') : undefined;
    const sources = [
      { store: amd, target: 'v1' },
      { store: arm, target: 'v1' },
    ];
    const kept = await createIndex(sources, { store: await layout(), tags: ['v1'] });
    assert.deepEqual(
      kept.platforms.map((p) => p.platform),
      ['linux/amd64', 'linux/arm64'],
    );
    assert.ok(kept.index.kind === 'index');
    assert.deepEqual(
      kept.index.index.manifests.map((e) => e.digest),
      [a.images[0]!.digest, b.images[0]!.digest, sbomOf(a)!.digest, sbomOf(b)!.digest],
    );
    // As referrers, the index holds the images only, and each SBOM is its image's referrer.
    const dst = await layout();
    const moved = await createIndex(sources, { store: dst, tags: ['v1'] }, { attestations: 'referrers' });
    assert.ok(moved.index.kind === 'index');
    assert.equal(moved.index.index.manifests.length, 2);
    const referrers = await dst.referrers(a.images[0]!.digest);
    assert.deepEqual(
      referrers.map((r) => r.digest),
      [sbomOf(a)!.digest],
    );
  });
});

describe('createIndex: as docker buildx imagetools create takes them', () => {
  it('takes an image given twice (through two names) once', async () => {
    const src = await layout();
    const digest = await buildInto(['x86_64'], src, 'amd64');
    const dst = await layout();
    const merged = await createIndex(
      [
        { store: src, target: 'amd64' },
        { store: src, target: digest },
      ],
      { store: dst, tags: ['v1'] },
    );
    // The one-platform index as the build wrote it, byte for byte.
    assert.equal(merged.descriptor.digest, digest);
    assert.equal(merged.platforms.length, 1);
  });

  it('annotates the image entries, all or one platform, leaving the images as they are', async () => {
    const src = await layout();
    const both = await buildInto(['x86_64', 'aarch64'], src, 'both');
    const index = await src.getManifest(both);
    assert.ok(index.kind === 'index');
    const merged = await createIndex(
      [{ store: src, target: 'both' }],
      { store: await layout(), tags: ['v1'] },
      {
        entryAnnotations: [
          { key: 'org.example.all', value: 'yes' },
          { key: 'org.example.arm', value: 'v8', platform: parsePlatform('linux/arm64') },
        ],
      },
    );
    assert.ok(merged.index.kind === 'index');
    const [amd, arm] = merged.index.index.manifests;
    assert.deepEqual(amd, { ...index.index.manifests[0], annotations: { 'org.example.all': 'yes' } });
    assert.deepEqual(arm, { ...index.index.manifests[1], annotations: { 'org.example.all': 'yes', 'org.example.arm': 'v8' } });
    await assert.rejects(
      createIndex(
        [{ store: src, target: 'both' }],
        { store: await layout(), tags: ['v1'] },
        {
          entryAnnotations: [{ key: 'k', value: 'v', platform: parsePlatform('linux/s390x') }],
        },
      ),
      (err: unknown) => isProvenantError(err, 'USAGE') && /no source holds a linux\/s390x image/.test(err.message),
    );
    // An entry annotation without a key is refused before anything is copied.
    const dst = await layout();
    await assert.rejects(
      createIndex([{ store: src, target: 'both' }], { store: dst, tags: ['v1'] }, { entryAnnotations: [{ key: '', value: 'v' }] }),
      (err: unknown) => isProvenantError(err, 'USAGE') && /needs a key/.test(err.message),
    );
    for (const m of index.index.manifests) assert.equal(await dst.resolve(m.digest), undefined, m.digest);
  });
});

describe('createIndex: refusals', () => {
  it('refuses two images of one platform, naming both', async () => {
    const src = await layout();
    await synth(src, { platforms: [parsePlatform('linux/amd64')], index: true, tag: 'a' });
    await synth(src, { platforms: [parsePlatform('linux/amd64')], index: true, tag: 'b', seed: 70 });
    await assert.rejects(
      createIndex(
        [
          { store: src, target: 'a' },
          { store: src, target: 'b' },
        ],
        { store: await layout(), tags: ['v1'] },
      ),
      (err: unknown) => isProvenantError(err) && err.code === 'USAGE' && /:a and .*:b both hold a linux\/amd64 image/.test(err.message),
    );
  });

  it('refuses linux/arm64 and linux/arm64/v8, one platform spelled two ways, naming both', async () => {
    const src = await layout();
    const plain = await synth(src, { platforms: [parsePlatform('linux/arm64')], index: true, tag: 'plain' });
    const v8 = await synth(src, { platforms: [{ os: 'linux', architecture: 'arm64', variant: 'v8' }], index: true, tag: 'v8', seed: 90 });
    assert.notEqual(plain.images[0]!.digest, v8.images[0]!.digest);
    const dst = await layout();
    await assert.rejects(
      createIndex(
        [
          { store: src, target: 'plain' },
          { store: src, target: 'v8' },
        ],
        { store: dst, tags: ['v1'] },
      ),
      (err: unknown) =>
        isProvenantError(err, 'USAGE') &&
        /:plain and .*:v8 both hold a linux\/arm64 image \(linux\/arm64 and linux\/arm64\/v8 are one platform\)/.test(err.message),
    );
    assert.equal(await dst.resolve('v1'), undefined);
  });

  it('refuses sources whose index annotations disagree, unless the annotation is set', async () => {
    const src = await layout();
    await buildInto(['x86_64'], src, 'amd64');
    // Another SOURCE_DATE_EPOCH, so another `created`.
    const loaded = await loadConfig(configPath, { hostArch: 'x86_64' });
    const later = await buildImage({ config: loaded, configPath, archs: ['aarch64'], sourceDateEpoch: EPOCH + 60, workers: 0 });
    await writeBuild(later, src, ['arm64-later']);
    const sources = [
      { store: src, target: 'amd64' },
      { store: src, target: 'arm64-later' },
    ];
    const dst = await layout();
    await assert.rejects(
      createIndex(sources, { store: dst, tags: ['v1'] }),
      (err: unknown) =>
        isProvenantError(err) &&
        err.code === 'USAGE' &&
        /disagree on the index annotation org\.opencontainers\.image\.created/.test(err.message),
    );
    // Nothing was tagged.
    assert.equal(await dst.resolve('v1'), undefined);
    const merged = await createIndex(sources, { store: dst, tags: ['v1'] }, { annotations: { 'org.opencontainers.image.created': 'x' } });
    assert.equal(merged.index.kind === 'index' && merged.index.index.annotations?.['org.opencontainers.image.created'], 'x');
  });

  it('refuses a BuildKit attestation manifest named as a source, as an artifact in an index is passed over', async () => {
    const src = await layout();
    const digest = await buildInto(['x86_64'], src, 'amd64', 'buildkit');
    const index = await src.getManifest(digest);
    assert.ok(index.kind === 'index');
    const entry = index.index.manifests.find(isBuildkitAttestation);
    assert.ok(entry !== undefined);
    await buildInto(['aarch64'], src, 'arm64');
    const dst = await layout();
    await assert.rejects(
      createIndex(
        [
          { store: src, target: 'arm64' },
          { store: src, target: entry.digest },
        ],
        { store: dst, tags: ['v1'] },
      ),
      (err: unknown) =>
        isProvenantError(err, 'USAGE') &&
        new RegExp(`${entry.digest} is not a runnable image \\(it is a BuildKit attestation manifest\\)`).test(err.message),
    );
    assert.equal(await dst.resolve('v1'), undefined);
  });

  it("refuses cosign's .sig and .att images named by their tags, saying what they are", async () => {
    const src = await layout();
    const digest = await buildInto(['x86_64'], src, 'amd64');
    const index = await src.getManifest(digest);
    const platform = index.kind === 'index' ? index.index.manifests[0]!.digest : digest;
    const signer = new KeySigner(generateSigningKeyPair().privateKey);
    await signImage(src, platform, { signer, dockerReference: 'example/app', storages: ['cosign'] });
    const statements = await statementsFor(['x86_64']);
    await attestImage(src, platform, statements.slice(0, 1), { signer, storage: 'cosign' });
    const hex = platform.slice('sha256:'.length);
    for (const [suffix, what] of [
      ['sig', 'signature'],
      ['att', 'attestation'],
    ] as const) {
      await assert.rejects(
        createIndex([{ store: src, target: `sha256-${hex}.${suffix}` }], { store: await layout(), tags: ['v1'] }),
        (err: unknown) =>
          isProvenantError(err, 'USAGE') && err.message.endsWith(`is not a runnable image (it is the cosign ${what} of ${platform})`),
      );
    }
  });

  it('refuses a signature or other artifact as a source', async () => {
    const src = await layout();
    const digest = await buildInto(['x86_64'], src, 'amd64');
    const index = await src.getManifest(digest);
    const platform = index.kind === 'index' ? index.index.manifests[0]!.digest : digest;
    const [attestation] = await src.referrers(platform, { artifactType: ArtifactType.BuildkitAttestation });
    await assert.rejects(
      createIndex([{ store: src, target: attestation!.digest }], { store: await layout(), tags: ['v1'] }),
      (err: unknown) => isProvenantError(err) && err.code === 'USAGE' && /not a runnable image/.test(err.message),
    );
    await assert.rejects(
      createIndex([], { store: await layout(), tags: [] }),
      (err: unknown) => isProvenantError(err) && err.code === 'USAGE',
    );
  });
});

const LARGE_PREDICATE = 'https://example.test/large-sbom/v1';

/**
 * Adds to the BuildKit (legacy, in-index) attestation manifest of the first platform of `tag` in
 * `store` (a build written with `buildkit` storage) one more in-toto statement of `size` bytes (a
 * statement padded with spaces, as JSON allows), and points `tag` at the index naming the new
 * attestation manifest. The statement is written to a file as it is hashed, a megabyte at a time,
 * and linked into the layout: never held whole. Returns its layer and the platform manifest's digest.
 */
async function addInIndexStatement(store: LayoutStore, tag: string, size: number): Promise<{ layer: Descriptor; platform: Digest }> {
  const index = await store.getManifest(tag);
  assert.ok(index.kind === 'index');
  const platform = index.index.manifests[0]!;
  const entry = index.index.manifests.find(
    (e) => isBuildkitAttestation(e) && e.annotations?.[Annotation.DockerReferenceDigest] === platform.digest,
  );
  assert.ok(entry !== undefined, 'the build wrote a BuildKit attestation entry');
  const attestation = await store.getManifest(entry.digest);
  assert.ok(attestation.kind === 'manifest');

  const head = encodeJson({
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'example/app', digest: { sha256: platform.digest.slice('sha256:'.length) } }],
    predicateType: LARGE_PREDICATE,
    predicate: {},
  });
  const file = join(await tempDir(), 'statement.json');
  const hash = createHash('sha256').update(head);
  const out = await open(file, 'w');
  try {
    await out.write(head);
    const pad = new Uint8Array(1024 * 1024).fill(0x20);
    for (let left = size - head.length; left > 0; left -= pad.length) {
      const chunk = left >= pad.length ? pad : pad.subarray(0, left);
      hash.update(chunk);
      await out.write(chunk);
    }
  } finally {
    await out.close();
  }
  const layer: Descriptor = {
    mediaType: MediaType.InToto,
    digest: `sha256:${hash.digest('hex')}` as Digest,
    size,
    annotations: { [Annotation.InTotoPredicateType]: LARGE_PREDICATE },
  };
  await store.putBlob({ descriptor: layer, path: file, open: async () => createReadStream(file) });

  // BuildKit's legacy form: the config lists every layer's digest, so it changes with them.
  const layers = [...attestation.manifest.layers, layer];
  const configBytes = encodeJson({
    architecture: 'unknown',
    os: 'unknown',
    config: {},
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
  });
  const config: Descriptor = { mediaType: MediaType.OciConfig, digest: digestOf(configBytes), size: configBytes.length };
  await store.putBlob(bytesSource(config, configBytes));
  const manifest = parseStored(encodeJson({ ...attestation.manifest, config, layers }), { mediaType: MediaType.OciManifest });
  await store.putManifest(manifest, { tags: [] });
  const manifests = index.index.manifests.map((e) =>
    e === entry ? { ...entry, digest: manifest.digest, size: manifest.bytes.length } : e,
  );
  await store.putManifest(parseStored(encodeJson({ ...index.index, manifests }), { mediaType: index.mediaType }), { tags: [tag] });
  return { layer, platform: platform.digest };
}

// BuildKit entries turned into referrers: copyImage never sees their statements (an in-index
// attestation manifest is no referrer of the platform image), so storeAttestations copies each
// from the source, as a StatementSource.
describe('createIndex: statements moved into another storage are copied by digest, not read', () => {
  // Past any limit on a statement held in memory: STATEMENT_LIMIT (what is parsed) and the
  // 256 MiB index create once collected each statement under.
  it('carries a statement larger than any in-memory limit from BuildKit entries into a referrer', async () => {
    const size = 256 * 1024 * 1024 + 1024 * 1024;
    assert.ok(size > STATEMENT_LIMIT);
    const src = await layout();
    await buildInto(['x86_64'], src, 'amd64', 'buildkit');
    const { layer, platform } = await addInIndexStatement(src, 'amd64', size);
    const dst = await layout();
    const merged = await createIndex([{ store: src, target: 'amd64' }], { store: dst, tags: ['v1'] }, { attestations: 'referrers' });
    assert.ok(merged.index.kind === 'index');
    assert.equal(merged.index.index.manifests.filter(isBuildkitAttestation).length, 0);
    const refs = await dst.referrers(platform, { artifactType: ArtifactType.BuildkitAttestation });
    assert.equal(refs.length, 1);
    const m = await dst.getManifest(refs[0]!.digest);
    assert.ok(m.kind === 'manifest');
    // The large statement is a layer of the platform's one attestation referrer, with the build's own.
    assert.deepEqual(
      m.manifest.layers.find((l) => l.digest === layer.digest),
      layer,
    );
    assert.equal(m.manifest.layers.length, 4);
    assert.equal((await dst.statBlob(layer.digest))?.size, size);
  });

  it('writes nothing naming the blob, and names it, when a statement does not match its digest', async () => {
    const src = await layout();
    await buildInto(['x86_64'], src, 'amd64', 'buildkit');
    const { layer, platform } = await addInIndexStatement(src, 'amd64', 4096);
    // The blob changed on disk after it was written: same size, other bytes.
    await writeFile(join(src.path, 'blobs', 'sha256', layer.digest.slice('sha256:'.length)), new Uint8Array(4096).fill(0x41));
    const dst = await layout();
    await assert.rejects(
      createIndex([{ store: src, target: 'amd64' }], { store: dst, tags: ['v1'] }, { attestations: 'referrers' }),
      (err: unknown) => isProvenantError(err) && err.code === 'DIGEST_MISMATCH' && err.message.includes(layer.digest),
    );
    // The platform image was copied before (its copy is whole); nothing about it was.
    assert.ok((await dst.resolve(platform)) !== undefined);
    assert.deepEqual(await dst.referrers(platform), []);
    assert.equal(await dst.resolve('v1'), undefined);
    assert.equal(await dst.statBlob(layer.digest), undefined);
    // Nor any manifest that names it: the attestation manifest is written after its blobs, or not at all.
    const folder = join(dst.path, 'blobs', 'sha256');
    for (const name of await readdir(folder)) {
      assert.ok(!(await readFile(join(folder, name), 'latin1')).includes(layer.digest), name);
    }
  });

  it('writes again a statement the destination holds damaged, as copyImage writes a layer again', async () => {
    const src = await layout();
    await buildInto(['x86_64'], src, 'amd64', 'buildkit');
    const { layer, platform } = await addInIndexStatement(src, 'amd64', 4096);
    const dst = await layout();
    // A file of the statement's digest and size in the destination, with other bytes.
    const there = join(dst.path, 'blobs', 'sha256', layer.digest.slice('sha256:'.length));
    await mkdir(dirname(there), { recursive: true });
    await writeFile(there, new Uint8Array(4096).fill(0x41));
    await createIndex([{ store: src, target: 'amd64' }], { store: dst, tags: ['v1'] }, { attestations: 'referrers' });
    const refs = await dst.referrers(platform, { artifactType: ArtifactType.BuildkitAttestation });
    assert.equal(refs.length, 1);
    const m = await dst.getManifest(refs[0]!.digest);
    assert.ok(m.kind === 'manifest' && m.manifest.layers.some((l) => l.digest === layer.digest));
    assert.equal(
      `sha256:${createHash('sha256')
        .update(await readFile(there))
        .digest('hex')}`,
      layer.digest,
    );
  });
});

describe('createIndex across stores: a layout and a registry, signed before and after', { skip: registryMissing }, () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry();
  });
  after(async () => {
    await reg?.stop();
  });
  const repo = (name: string) => new RegistryStore(new RegistryClient(reg.host), name);

  it('carries signed attestations and signatures; they verify on each platform, and the merged index signs and verifies', async () => {
    const { privateKey, publicKey } = generateSigningKeyPair();
    const signer = new KeySigner(privateKey);
    const amd = await layout();
    const arm = repo('build/arm64');
    const amdIndex = await buildInto(['x86_64'], amd, 'amd64');
    const armIndex = await buildInto(['aarch64'], arm, 'arm64');
    // Each runner signs its platform image and attests it (cosign 3 bundles, and cosign 2 tags).
    const platformOf = async (store: ContentStore, index: Digest): Promise<Digest> => {
      const s = await store.getManifest(index);
      return s.kind === 'index' ? s.index.manifests[0]!.digest : index;
    };
    const platforms: Digest[] = [];
    for (const [store, index, arch] of [
      [amd, amdIndex, 'x86_64'],
      [arm, armIndex, 'aarch64'],
    ] as const) {
      const digest = await platformOf(store, index);
      platforms.push(digest);
      const statements = await statementsFor([arch]);
      await attestImage(store, digest, statements, { signer, storage: 'referrers' });
      await attestImage(store, digest, statements.slice(0, 1), { signer, storage: 'cosign' });
      await signImage(store, digest, { signer, dockerReference: 'example/app' });
    }

    const dst = repo('release/app');
    const merged = await createIndex(
      [
        { store: amd, target: 'amd64' },
        { store: arm, target: 'arm64' },
      ],
      { store: dst, tags: ['1.0'] },
    );
    const both = await layout();
    assert.equal(merged.descriptor.digest, await buildInto(['x86_64', 'aarch64'], both, 'both'));
    assert.equal((await dst.resolve('1.0'))?.digest, merged.descriptor.digest);
    assert.deepEqual(
      merged.platforms.map((p) => p.digest),
      platforms,
    );
    // .sig and .att tags of both platforms.
    assert.equal(merged.cosignTags, 4);

    for (const digest of platforms) {
      const attestations = await verifyImage(dst, digest, { policy: { key: publicKey }, kind: 'attestation' });
      // SPDX, CycloneDX and provenance as bundles, SPDX again in the .att image.
      assert.equal(attestations.verified.length, 4, digest);
      assert.ok(attestations.verified.some((v) => v.predicateType === 'https://slsa.dev/provenance/v1'));
      const signatures = await verifyImage(dst, digest, { policy: { key: publicKey } });
      assert.equal(signatures.verified.length, 2, digest);
    }
    // The merged index is new: nothing signs it until it is signed.
    assert.equal((await verifyImage(dst, merged.descriptor.digest, { policy: { key: publicKey } })).verified.length, 0);
    await signImage(dst, merged.descriptor.digest, { signer, dockerReference: `${reg.host}/release/app` });
    const report = await verifyImage(dst, merged.descriptor.digest, { policy: { key: publicKey } });
    assert.equal(report.verified.length, 2);
    // Another key does not verify it.
    const other = generateSigningKeyPair();
    assert.equal((await verifyImage(dst, merged.descriptor.digest, { policy: { key: other.publicKey } })).verified.length, 0);
  });

  it('mounts the statements it moves from BuildKit entries to referrers within one registry, as copyImage mounts layers', async () => {
    const src = repo('build/bk');
    const index = await src.getManifest(await buildInto(['x86_64'], src, 'amd64', 'buildkit'));
    assert.ok(index.kind === 'index');
    const entry = index.index.manifests.find(isBuildkitAttestation);
    const attestation = await src.getManifest(entry!.digest);
    assert.ok(attestation.kind === 'manifest');
    const statements = attestation.manifest.layers.map((l) => l.digest);
    assert.equal(statements.length, 3);
    const mounted: string[] = [];
    await createIndex(
      [{ store: src, target: 'amd64' }],
      { store: repo('release/bk'), tags: ['v1'] },
      {
        attestations: 'referrers',
        onProgress: (u) => {
          if (u.kind === 'blob' && u.phase === 'mounted') mounted.push(u.digest);
        },
      },
    );
    // None uploaded again: each statement mounted from the source repository.
    assert.deepEqual(
      statements.filter((d) => !mounted.includes(d)),
      [],
    );
  });
});
