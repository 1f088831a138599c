// copyImage between layouts: byte for byte, platforms, referrers, and repairing what it finds broken.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isProvenantError } from '../../src/errors.ts';
import { copyImage } from '../../src/image/copy.ts';
import { bytesSource, type ProgressUpdate } from '../../src/io/types.ts';
import { collect } from '../../src/io/verify.ts';
import { cosignTag, descriptorOf, encodeJson, parseStored, type Stored } from '../../src/oci/content.ts';
import { type Digest, digestHex, digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import { parsePlatform } from '../../src/oci/platform.ts';
import { Annotation, type Descriptor } from '../../src/oci/types.ts';
import { appendCosignLayer } from '../../src/sign/storage.ts';
import { DockerArchiveStore } from '../../src/store/docker-archive.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import type { PutManifestOptions } from '../../src/store/types.ts';
import { synth } from '../compat/images.ts';
import { makeImage, makeReferrer, simpleSigningLayer } from '../helpers/images.ts';
import { failingTag, signedOverOld } from '../helpers/signed-over-old.ts';
import { useTempLayout } from '../helpers/temp.ts';

const layout = useTempLayout('copy');

describe('copyImage between layouts', () => {
  it('copies every platform byte for byte, and a second copy moves nothing', async () => {
    const src = await layout();
    const made = await makeImage(src, { tag: 'v1', layers: 3 });
    const dst = await layout();
    const first = await copyImage(src, 'v1', dst, { tags: ['copied'] });
    assert.equal(first.digest, made.root.digest);
    assert.equal(first.blobs.stored, made.blobs.size);
    assert.deepEqual((await dst.getManifest('copied')).bytes, made.root.bytes);
    for (const m of made.manifests) assert.deepEqual((await dst.getManifest(m.digest)).bytes, m.bytes);
    const events: ProgressUpdate[] = [];
    const second = await copyImage(src, 'v1', dst, { tags: ['copied'], onProgress: (e) => events.push(e) });
    assert.equal(second.blobs.stored, 0);
    assert.equal(second.manifests.existed, 1);
    assert.ok(events.every((e) => e.kind !== 'blob' || e.phase !== 'transfer'));
  });

  it('keepAsRoot is about the image copied: its platform images are never listed, whatever it says', async () => {
    const src = await layout();
    await makeImage(src, { tag: 'v1' });
    const listed = async (keepAsRoot: boolean | undefined) => {
      const dst = await layout();
      await copyImage(src, 'v1', dst, keepAsRoot === undefined ? {} : { keepAsRoot });
      return (JSON.parse(await readFile(join(dst.path, 'index.json'), 'utf8')).manifests as unknown[]).length;
    };
    assert.deepEqual([await listed(undefined), await listed(true), await listed(false)], [1, 1, 0]);
  });

  it('an image copied by its digest stays when the tag that named it moves; copied again to its tag, no entry is added', async () => {
    const src = await layout();
    const a = await makeImage(src, { tag: 'a', seed: 1 });
    await makeImage(src, { tag: 'b', seed: 7 });
    const dst = await layout();
    const entries = async () => JSON.parse(await readFile(join(dst.path, 'index.json'), 'utf8')).manifests as unknown[];
    await copyImage(src, 'a', dst, { tags: ['latest'] });
    const tagged = await entries();
    // The same image to the tag that names it: nothing to add.
    await copyImage(src, 'a', dst, { tags: ['latest'] });
    assert.deepEqual(await entries(), tagged);
    // Written by its digest: kept in its own right, beside the tag.
    await copyImage(src, a.root.digest, dst);
    assert.equal((await entries()).length, tagged.length + 1);
    await copyImage(src, 'b', dst, { tags: ['latest'] });
    await dst.gc();
    assert.deepEqual((await dst.getManifest(a.root.digest)).bytes, a.root.bytes);
  });

  it('copies one platform as a single manifest, and says which exist when none matches', async () => {
    const src = await layout();
    const made = await makeImage(src, { tag: 'v1' });
    const dst = await layout();
    const r = await copyImage(src, 'v1', dst, { tags: ['arm'], platforms: [{ os: 'linux', architecture: 'arm64', variant: 'v8' }] });
    assert.equal(r.digest, made.manifests[1]!.digest);
    assert.equal((await dst.getManifest('arm')).kind, 'manifest');
    await assert.rejects(
      copyImage(src, 'v1', dst, { platforms: [{ os: 'linux', architecture: 's390x' }] }),
      (e: unknown) => isProvenantError(e, 'NO_MATCHING_PLATFORM') && /linux\/amd64, linux\/arm64/.test(e.hint ?? ''),
    );
  });

  it('takes the best lower variant a machine of the platform runs, as containerd does, and says so', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: ['linux/amd64', 'linux/arm/v5'].map(parsePlatform), tag: 'v1' });
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m) };
    const r = await copyImage(src, 'v1', await layout(), { platforms: [parsePlatform('linux/arm/v6')], logger });
    assert.equal(r.digest, made.images[1]!.digest);
    assert.match(warnings.join('\n'), /has no linux\/arm\/v6 image: copying its linux\/arm\/v5 one/);
    warnings.length = 0;
    const exact = await copyImage(src, 'v1', await layout(), { platforms: [parsePlatform('linux/amd64')], logger });
    assert.equal(exact.digest, made.images[0]!.digest);
    assert.deepEqual(warnings, []);
    await assert.rejects(
      copyImage(src, 'v1', await layout(), { platforms: [parsePlatform('linux/s390x')] }),
      (e: unknown) =>
        isProvenantError(e, 'NO_MATCHING_PLATFORM') && /no linux\/s390x manifest/.test(e.message) && /linux\/arm\/v5/.test(e.hint ?? ''),
    );
  });

  it('keeps the attestation and SBOM entries of the platforms chosen, and the index itself when all are', async () => {
    const src = await layout();
    const platforms = ['linux/amd64', 'linux/arm64', 'linux/s390x'].map(parsePlatform);
    const made = await synth(src, { platforms, attestations: 'legacy', emptyPlatformArtifact: true, tag: 'v1' });
    assert.equal(made.root.kind, 'index');
    const entries = made.root.kind === 'index' ? made.root.index.manifests : [];
    const [amd, arm] = made.images;
    const about = (d: Descriptor) => d.annotations?.[Annotation.DockerReferenceDigest];
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m) };

    const all = await layout();
    const whole = await copyImage(src, 'v1', all, { tags: ['v1'], platforms: [...platforms].reverse() });
    assert.equal(whole.digest, made.root.digest, 'every platform named: the index as it is');
    assert.equal(whole.changedFrom, undefined);

    const two = await layout();
    const r = await copyImage(src, 'v1', two, { tags: ['v1'], platforms: platforms.slice(0, 2), logger });
    assert.equal(r.changedFrom?.digest, made.root.digest);
    const copied = await two.getManifest('v1');
    assert.equal(copied.kind, 'index');
    const kept = copied.kind === 'index' ? copied.index.manifests : [];
    assert.deepEqual(
      kept.map((d) => d.digest),
      [
        amd!.digest,
        arm!.digest,
        ...entries
          .filter((d) => d.platform?.architecture === 'unknown' && [amd!.digest, arm!.digest].includes(about(d) as Digest))
          .map((d) => d.digest),
        entries.find((d) => d.platform?.architecture === '')!.digest,
      ],
    );
    assert.equal(kept.length, 5);
    for (const d of kept) assert.ok(await two.resolve(d.digest), `${d.digest} is copied`);
    assert.deepEqual(warnings, []);

    // One platform is its manifest alone: what it leaves behind is said.
    const one = await copyImage(src, 'v1', await layout(), { platforms: platforms.slice(1, 2), logger });
    assert.equal(one.digest, arm!.digest);
    assert.match(warnings.join('\n'), /1 attestation or SBOM entry .* linux\/arm64 image is not copied/);
  });

  it("does not say a platform's attestation is left behind when it comes along as a referrer", async () => {
    const platforms = ['linux/amd64', 'linux/arm64'].map(parsePlatform);
    const warned = async (attestations: 'oci-artifact' | 'legacy', withReferrers: boolean) => {
      const src = await layout();
      const made = await synth(src, { platforms, attestations, tag: 'v1' });
      const amd = made.images[0]!;
      const warnings: string[] = [];
      const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m) };
      const dst = await layout();
      await copyImage(src, 'v1', dst, { platforms: platforms.slice(0, 1), withReferrers, logger });
      const referrers = (await dst.referrers(amd.digest)).map((d) => d.digest);
      const kept = made.attestations.get(amd.digest)?.digest;
      return `${warnings.length} warning(s), ${kept !== undefined && referrers.includes(kept) ? 'a referrer' : 'not copied'}`;
    };
    // BuildKit 0.32's attestation has a subject: it comes as a referrer; its legacy one has none.
    assert.equal(await warned('oci-artifact', true), '0 warning(s), a referrer');
    assert.equal(await warned('oci-artifact', false), '1 warning(s), not copied');
    assert.equal(await warned('legacy', true), '1 warning(s), not copied');
  });

  it('brings referrers along only when asked, including referrers of referrers', async () => {
    const src = await layout();
    const made = await makeImage(src, { tag: 'v1' });
    const att = await makeReferrer(src, made.manifests[0]!, 'application/vnd.in-toto+json', 'attestation');
    const sigOfAtt = await makeReferrer(src, att, 'application/vnd.dev.cosign.artifact.sig.v1+json', 'signature');
    const plain = await layout();
    await copyImage(src, 'v1', plain, {});
    assert.deepEqual(await plain.referrers(made.manifests[0]!.digest), []);
    const dst = await layout();
    const r = await copyImage(src, 'v1', dst, { withReferrers: true });
    assert.deepEqual(r.referrers.sort(), [att.digest, sigOfAtt.digest].sort());
    assert.deepEqual(
      (await dst.referrers(made.manifests[0]!.digest)).map((d) => d.digest),
      [att.digest],
    );
    assert.deepEqual(
      (await dst.referrers(att.digest)).map((d) => d.digest),
      [sigOfAtt.digest],
    );
  });

  it('says which referrers it wrote and which the destination had: a second copy wrote none', async () => {
    const src = await layout();
    const made = await makeImage(src, { tag: 'v1' });
    const att = await makeReferrer(src, made.manifests[0]!, 'application/vnd.in-toto+json', 'attestation');
    const sigOfAtt = await makeReferrer(src, att, 'application/vnd.dev.cosign.artifact.sig.v1+json', 'signature');
    const dst = await layout();
    const first = await copyImage(src, 'v1', dst, { tags: ['v1'], withReferrers: true });
    assert.deepEqual(first.referrers.sort(), [att.digest, sigOfAtt.digest].sort());
    assert.deepEqual(first.referrersExisted, []);
    // A new signature of the image, made at the source since: the only one the next copy writes.
    const sig = await makeReferrer(src, made.manifests[0]!, 'application/vnd.dev.cosign.artifact.sig.v1+json', 'later');
    const second = await copyImage(src, 'v1', dst, { tags: ['v1'], withReferrers: true });
    assert.deepEqual(second.referrers.sort(), [att.digest, sigOfAtt.digest, sig.digest].sort());
    assert.deepEqual(second.referrersExisted.sort(), [att.digest, sigOfAtt.digest].sort());
    for (const verifyExisting of [true, false]) {
      const third = await copyImage(src, 'v1', dst, { tags: ['v1'], withReferrers: true, verifyExisting });
      assert.deepEqual(third.referrersExisted.sort(), third.referrers.sort(), `verifyExisting ${verifyExisting}`);
      assert.equal(third.referrers.length, 3);
      assert.deepEqual(third.cosignTags, []);
    }
  });

  it('leaves out the referrers referrerFilter refuses, and theirs, and brings the rest', async () => {
    const src = await layout();
    const made = await makeImage(src, { tag: 'v1' });
    const image = made.manifests[0]!;
    const att = await makeReferrer(src, image, 'application/vnd.in-toto+json', 'attestation');
    const sigOfAtt = await makeReferrer(src, att, 'application/vnd.dev.cosign.artifact.sig.v1+json', 'signature of it');
    const sig = await makeReferrer(src, image, 'application/vnd.dev.cosign.artifact.sig.v1+json', 'signature');
    const asked: Array<[string, string]> = [];
    const dst = await layout();
    const r = await copyImage(src, 'v1', dst, {
      tags: ['v1'],
      withReferrers: true,
      referrerFilter: (referrer, subject) => {
        asked.push([referrer.digest, subject]);
        return referrer.artifactType !== 'application/vnd.in-toto+json';
      },
    });
    assert.deepEqual(r.referrers, [sig.digest]);
    assert.deepEqual(
      (await dst.referrers(image.digest)).map((d) => d.digest),
      [sig.digest],
    );
    assert.equal(await dst.resolve(att.digest), undefined);
    assert.equal(await dst.resolve(sigOfAtt.digest), undefined);
    // Asked about each referrer of the image with its subject; the attestation's own never read.
    assert.deepEqual(
      asked.sort(),
      [
        [att.digest, image.digest],
        [sig.digest, image.digest],
      ].sort(),
    );
  });

  it('brings cosign sha256-<hex>.sig tags along with --with-referrers', async () => {
    const src = await layout();
    const made = await makeImage(src, { tag: 'v1' });
    const sig = await makeReferrer(src, made.manifests[0]!, 'application/vnd.dev.cosign.artifact.sig.v1+json', 'sig');
    const tag = `sha256-${made.root.digest.slice(7)}.sig`;
    await src.putManifest(sig, { tags: [tag] });
    await src.putManifest(sig, { tags: ['sha256-0000000000000000000000000000000000000000000000000000000000000000.sig'] });
    const dst = await layout();
    const r = await copyImage(src, 'v1', dst, { tags: ['v1'], withReferrers: true });
    assert.deepEqual(r.cosignTags, [tag], 'only the tag of a copied digest comes along');
    assert.equal((await dst.resolve(tag))?.digest, sig.digest);
  });

  it("merges the source's cosign .sig and .att layers into the destination's, and keeps the destination's", async () => {
    const src = await layout();
    const made = await makeImage(src, { tag: 'v1' });
    const dst = await layout();
    await copyImage(src, 'v1', dst, { tags: ['v1'] });
    // One simple-signing payload signed by two keys: one layer digest, two signatures.
    const payload = new TextEncoder().encode('{"critical":{}}');
    const layer = simpleSigningLayer;
    await appendCosignLayer(dst, made.root.digest, 'sig', layer('signed-at-destination'));
    await appendCosignLayer(src, made.root.digest, 'sig', layer('signed-at-source'));
    const envelope = (n: string) => ({
      mediaType: 'application/vnd.dsse.envelope.v1+json',
      payload: new TextEncoder().encode(n),
      annotations: { predicateType: 'x' },
    });
    await appendCosignLayer(dst, made.root.digest, 'att', envelope('dst-att'));
    await appendCosignLayer(src, made.root.digest, 'att', envelope('dst-att'));
    await appendCosignLayer(src, made.root.digest, 'att', envelope('src-att'));
    const signatures = async (suffix: 'sig' | 'att') => {
      const stored = await dst.getManifest(cosignTag(made.root.digest, suffix));
      assert.equal(stored.kind, 'manifest');
      return stored.kind === 'manifest'
        ? stored.manifest.layers.map((l) => l.annotations?.['dev.cosignproject.cosign/signature'] ?? l.digest)
        : [];
    };
    const r = await copyImage(src, 'v1', dst, { tags: ['v1'], withReferrers: true });
    assert.deepEqual(await signatures('sig'), ['signed-at-destination', 'signed-at-source']);
    assert.deepEqual(await signatures('att'), [digestOf('dst-att'), digestOf('src-att')]);
    assert.equal(r.cosignTags.length, 2);
    assert.ok(await dst.statBlob(digestOf('src-att')), 'the added layer is stored');
    const blobsLookedAt: string[] = [];
    const onProgress = (u: ProgressUpdate) => {
      if (u.kind === 'blob') blobsLookedAt.push(u.digest);
    };
    const again = await copyImage(src, 'v1', dst, { tags: ['v1'], withReferrers: true, onProgress });
    assert.deepEqual(again.cosignTags, [], 'a second copy adds nothing');
    assert.deepEqual(await signatures('sig'), ['signed-at-destination', 'signed-at-source']);
    // Nor does it look again at the layers the destination's merged .sig already names (the
    // .att came out the same as the source's, and is checked as any image already there).
    assert.ok(!blobsLookedAt.includes(digestOf(payload)), 'the .sig layer was looked at again');
  });

  for (const had of ['one signature', 'none'] as const) {
    it(`keeps a signature added to the destination between the read of its .sig (${had}) and the copy's write`, async () => {
      const src = await layout();
      const made = await makeImage(src, { tag: 'v1' });
      const dst = await layout();
      await copyImage(src, 'v1', dst, { tags: ['v1'] });
      const tag = cosignTag(made.root.digest, 'sig');
      const layer = simpleSigningLayer;
      if (had === 'one signature') await appendCosignLayer(dst, made.root.digest, 'sig', layer('alice'));
      await appendCosignLayer(src, made.root.digest, 'sig', layer('copied'));
      // The overlap made to happen every time, not by timing: the copy has read the destination's
      // tag and is about to write its image (merged, or the source's as it is) when Bob signs there.
      let bobSigned: Promise<unknown> | undefined;
      const racing = new Proxy(dst, {
        get(target, name, receiver) {
          if (name === 'putManifest')
            return async (stored: Stored, o?: PutManifestOptions) => {
              if (o?.tags?.includes(tag) === true && bobSigned === undefined) {
                bobSigned = appendCosignLayer(target, made.root.digest, 'sig', layer('bob'));
                await bobSigned;
              }
              return target.putManifest(stored, o);
            };
          const value = Reflect.get(target, name, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      const r = await copyImage(src, 'v1', racing, { tags: ['v1'], withReferrers: true });
      assert.ok(bobSigned !== undefined, 'Bob signed between the read and the write');
      assert.deepEqual(r.cosignTags, [tag]);
      const sig = await dst.getManifest(tag);
      assert.deepEqual(
        sig.kind === 'manifest' ? sig.manifest.layers.map((l) => l.annotations?.['dev.cosignproject.cosign/signature']) : [],
        [...(had === 'one signature' ? ['alice'] : []), 'bob', 'copied'],
      );
    });
  }

  it('with referrers, moves the tag only after the signatures, and leaves it where it was when they fail', async () => {
    const src = await layout();
    const dst = await layout();
    const { made, old, ref, sigTag } = await signedOverOld(src, dst);
    const entries = async () =>
      (JSON.parse(await readFile(join(dst.path, 'index.json'), 'utf8')).manifests as Descriptor[]).map(
        (m) =>
          `${m.digest === made.root.digest ? 'new' : m.digest === old.root.digest ? 'old' : m.digest === ref.digest ? 'referrer' : 'other'} ${m.annotations?.[Annotation.RefName] ?? '-'}`,
      );
    // What is written, in order: each tag, and each referrer by its digest.
    const writes: string[] = [];
    const watched = (failOn: string | undefined) =>
      failingTag(dst, failOn, (stored, o) => {
        writes.push(...(o?.tags ?? []), ...(stored.digest === ref.digest ? ['referrer'] : []));
      });
    await assert.rejects(copyImage(src, 'v1', watched(sigTag), { tags: ['v1'], withReferrers: true }), /writing .*\.sig failed/);
    assert.equal((await dst.resolve('v1'))?.digest, old.root.digest, 'v1 still names what it did');
    assert.deepEqual((await entries()).sort(), ['new -', 'old v1', 'referrer -'], 'the new image is kept, untagged, once');
    writes.length = 0;
    await copyImage(src, 'v1', watched(undefined), { tags: ['v1'], withReferrers: true });
    assert.deepEqual(writes, ['referrer', sigTag, 'v1']);
    assert.equal((await dst.resolve('v1'))?.digest, made.root.digest);
    assert.deepEqual((await entries()).sort(), ['new v1', `other ${sigTag}`, 'referrer -'], 'tagged, the image has no untagged entry left');
  });

  it('keeps an index another writer puts under the .sig between the copy reading it and writing the merge', async () => {
    const src = await layout();
    const made = await makeImage(src, { tag: 'v1' });
    const dst = await layout();
    await copyImage(src, 'v1', dst, { tags: ['v1'] });
    const tag = cosignTag(made.root.digest, 'sig');
    const layer = simpleSigningLayer;
    await appendCosignLayer(dst, made.root.digest, 'sig', layer('alice'));
    await appendCosignLayer(src, made.root.digest, 'sig', layer('copied'));
    const index = parseStored(
      encodeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [descriptorOf(made.manifests[0]!)] }),
    );
    let indexed = false;
    const racing = new Proxy(dst, {
      get(target, name, receiver) {
        if (name === 'putManifest')
          return async (stored: Stored, o?: PutManifestOptions) => {
            if (o?.tags?.includes(tag) === true && !indexed) {
              indexed = true;
              await target.putManifest(index, { tags: [tag] });
            }
            return target.putManifest(stored, o);
          };
        const value = Reflect.get(target, name, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m) };
    const r = await copyImage(src, 'v1', racing, { tags: ['v1'], withReferrers: true, logger });
    assert.ok(indexed, 'the index went in between the read and the write');
    assert.deepEqual([r.cosignTags, r.cosignTagsKept], [[], [tag]]);
    assert.equal((await dst.resolve(tag))?.digest, index.digest);
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0]!, /holds an index.*the index was kept, and the signatures copied are not under the tag/);
  });

  it('says through the logger when a cosign tag at the destination is kept rather than merged', async () => {
    const src = await layout();
    const made = await makeImage(src, { tag: 'v1' });
    const dst = await layout();
    await copyImage(src, 'v1', dst, { tags: ['v1'] });
    // A cosign .sbom image: one document as its layer.
    const sbomTag = `${made.root.digest.replace(':', '-')}.sbom`;
    const putSbom = async (store: LayoutStore, text: string) => {
      const body = new TextEncoder().encode(text);
      const layer = { mediaType: 'text/spdx+json', digest: digestOf(body), size: body.length };
      await store.putBlob(bytesSource(layer, body));
      const config = encodeJson({ architecture: '', os: '', rootfs: { type: 'layers', diff_ids: [] } });
      const c = { mediaType: MediaType.OciConfig, digest: digestOf(config), size: config.length };
      await store.putBlob(bytesSource(c, config));
      const manifest = encodeJson({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: c, layers: [layer] });
      await store.putManifest(parseStored(manifest, { mediaType: MediaType.OciManifest }), { tags: [sbomTag] });
    };
    await putSbom(dst, 'the destination own');
    await putSbom(src, 'the source own');
    const warnings: string[] = [];
    const r = await copyImage(src, 'v1', dst, {
      tags: ['v1'],
      withReferrers: true,
      logger: { debug() {}, info() {}, warn: (m) => warnings.push(m) },
    });
    const tag = sbomTag;
    assert.deepEqual(r.cosignTagsKept, [tag]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, new RegExp(`has its own ${tag.replace('.', '\\.')}, another image than the source's: it was kept`));
  });

  it('leaves no tag behind when a blob is missing at the source', async () => {
    const src = await layout();
    const made = await makeImage(src, { tag: 'v1' });
    const layer = made.manifests[1]!.kind === 'manifest' ? made.manifests[1]!.manifest.layers[1]! : undefined;
    await rm(join(src.path, 'blobs', 'sha256', layer!.digest.slice(7)));
    const dst = await layout();
    await assert.rejects(copyImage(src, 'v1', dst, { tags: ['broken'] }), (e: unknown) => isProvenantError(e, 'NOT_FOUND'));
    assert.deepEqual(await dst.listTags(), []);
    assert.equal(await dst.resolve(made.root.digest), undefined);
  });

  it('leaves no empty layout behind when a copy into a new one fails and is discarded', async () => {
    const src = await layout();
    const made = await makeImage(src, { tag: 'v1' });
    const layer = made.manifests[1]!.kind === 'manifest' ? made.manifests[1]!.manifest.layers[1]! : undefined;
    await rm(join(src.path, 'blobs', 'sha256', layer!.digest.slice(7)));
    const root = await mkdtemp(join(tmpdir(), 'provenant-copy-discard-'));
    try {
      const fail = async (dir: string) => {
        const dst = await LayoutStore.open(dir, { create: true });
        await assert.rejects(copyImage(src, 'v1', dst, { tags: ['v1'] }), (e: unknown) => isProvenantError(e, 'NOT_FOUND'));
        await dst.close({ discard: true });
      };
      // A folder the copy made goes; one that was there and empty stays, empty.
      await fail(join(root, 'new'));
      assert.equal(existsSync(join(root, 'new')), false);
      await mkdir(join(root, 'empty'));
      await fail(join(root, 'empty'));
      assert.deepEqual(await readdir(join(root, 'empty')), []);
      // A layout that was there before is left as it was, blobs and all.
      const before = await LayoutStore.open(join(root, 'old'), { create: true });
      await before.close();
      await fail(join(root, 'old'));
      assert.ok(existsSync(join(root, 'old', 'oci-layout')));
      // Another writer that opened the new layout before the failed copy let it go keeps it,
      // and its own copy lands there.
      const made2 = await LayoutStore.open(join(root, 'shared'), { create: true });
      const other = await LayoutStore.open(join(root, 'shared'), { create: true });
      await made2.close({ discard: true });
      const good = await layout();
      const image = await makeImage(good, { tag: 'v1' });
      assert.equal((await copyImage(good, 'v1', other, { tags: ['v1'] })).digest, image.root.digest);
      await other.close();
      assert.deepEqual(await (await LayoutStore.open(join(root, 'shared'))).listTags(), ['v1']);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('repairs, on a second copy, a blob that was corrupted in the destination layout', async () => {
    const src = await layout();
    const made = await makeImage(src, { tag: 'v1', layers: 2 });
    const dst = await layout();
    await copyImage(src, 'v1', dst, { tags: ['v1'] });
    const layer = made.manifests[0]!.kind === 'manifest' ? made.manifests[0]!.manifest.layers[1]! : undefined;
    assert.ok(layer);
    const path = join(dst.path, 'blobs', 'sha256', digestHex(layer.digest));
    const bytes = await readFile(path);
    bytes[bytes.length >> 1]! ^= 0xff; // same size, other content
    await writeFile(path, bytes);

    // Trusting names (the old behaviour, still there on request) leaves it corrupt.
    const trusting = await copyImage(src, 'v1', await LayoutStore.open(dst.path), { tags: ['v1'], verifyExisting: false });
    assert.equal(trusting.blobs.stored, 0);
    await assert.rejects(
      async () => collect(await dst.readBlob(layer), 1 << 24, 'test'),
      (e: unknown) => isProvenantError(e, 'DIGEST_MISMATCH'),
    );

    const second = await copyImage(src, 'v1', await LayoutStore.open(dst.path), { tags: ['v1'] });
    assert.equal(second.blobs.stored, 1);
    assert.equal(second.blobs.existed, made.blobs.size - 1);
    assert.equal(second.manifests.existed, 1);
    for (const [digest, content] of made.blobs) {
      const d = await dst.statBlob(digest as Digest);
      assert.ok(d, digest);
      assert.deepEqual(await collect(await dst.readBlob(d), 1 << 24, 'test'), content);
    }
  });

  it('refuses an image whose manifest gives one digest two sizes, and tags nothing', async () => {
    const src = await layout();
    const made = await makeImage(src, { platforms: [{ os: 'linux', architecture: 'amd64' }], layers: 2 });
    const good = made.manifests[0]!;
    assert.equal(good.kind, 'manifest');
    const [first] = good.kind === 'manifest' ? good.manifest.layers : [];
    // The same layer twice, the second time one byte longer: the schema allows it.
    const bad = { ...(good.kind === 'manifest' ? good.manifest : {}), layers: [first!, { ...first!, size: first!.size + 1 }] };
    const bytes = encodeJson(bad);
    const badDigest = digestOf(bytes);
    await writeFile(join(src.path, 'blobs', 'sha256', digestHex(badDigest)), bytes);
    const index = parseStored(
      encodeJson({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [{ mediaType: MediaType.OciManifest, digest: badDigest, size: bytes.length }],
      }),
    );
    await src.putManifest(index, { tags: ['bad'] });
    const dst = await layout();
    await assert.rejects(
      copyImage(src, 'bad', dst, { tags: ['bad'] }),
      (e: unknown) => isProvenantError(e, 'INVALID_MANIFEST') && e.message.includes(first!.digest) && /\/layers\/1/.test(e.message),
    );
    assert.deepEqual(await dst.listTags(), []);

    // Two manifests of one index, each consistent, that disagree on a layer's size.
    const other = parseStored(encodeJson({ ...bad, layers: [{ ...first!, size: first!.size + 1 }] }));
    await src.putManifest(other);
    const split = parseStored(
      encodeJson({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [good, other].map((m) => ({ mediaType: m.mediaType, digest: m.digest, size: m.bytes.length })),
      }),
    );
    await src.putManifest(split, { tags: ['split'] });
    await assert.rejects(
      copyImage(src, 'split', dst, { tags: ['split'] }),
      (e: unknown) => isProvenantError(e, 'INVALID_MANIFEST') && e.message.includes(first!.digest),
    );
    assert.deepEqual(await dst.listTags(), []);
  });
});

describe('copyImage into a docker-archive', () => {
  it('says the digest the archive holds (Docker schema 2 read back from its files), and the copy’s own as `copied`', async () => {
    const src = await layout();
    const made = await synth(src, { index: false, layer: 'uncompressed', tag: 'v1' });
    const file = join(await mkdtemp(join(tmpdir(), 'copy-darc-')), 'out.tar');
    try {
      const dst = await DockerArchiveStore.open(file, { write: true });
      const result = await copyImage(src, 'v1', dst, { tags: ['example.org/app:v1'] });
      await dst.close();
      const back = await DockerArchiveStore.open(file);
      const held = await back.getManifest(await back.defaultTarget());
      await back.close();
      assert.equal(result.digest, held.digest);
      assert.equal(result.mediaType, MediaType.DockerManifest);
      assert.equal(result.size, held.bytes.byteLength);
      assert.equal(result.copied, made.root.digest);
      assert.notEqual(result.digest, made.root.digest);
    } finally {
      await rm(join(file, '..'), { recursive: true, force: true });
    }
  });

  it('leaves `copied` unset for a store that holds manifests as given', async () => {
    const src = await layout();
    const made = await synth(src, { index: false, tag: 'v1' });
    const result = await copyImage(src, 'v1', await layout(), { tags: ['v1'] });
    assert.equal(result.digest, made.root.digest);
    assert.equal(result.copied, undefined);
  });
});
