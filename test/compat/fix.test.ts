/**
 * What `fix` does around the rules: a changed digest carried through the graph (index entries,
 * attachments re-attached, statements and signatures about a replaced digest not carried), platform
 * choice, refusals with no fix, nothing to do, warnings left alone, cosign tags merged, and the
 * transforms leaving their input plan alone.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { createZstdCompress, gunzipSync } from 'node:zlib';
import { ArtifactType, findAttachments } from '../../src/attest/attachments.ts';
import { attestationReferrer, statement, storeAttestations } from '../../src/attest/storage.ts';
import { checkImage } from '../../src/compat/check.ts';
import { short } from '../../src/compat/detectors.ts';
import { attachmentStoragesFor, fixImage, storeAsFixWould } from '../../src/compat/fix.ts';
import { MAX_NESTING, readImageGraph } from '../../src/compat/graph.ts';
import { Draft, manifestStored, type Plan, planFromGraph, unlistEntries } from '../../src/compat/plan.ts';
import { loadProfiles, selectTargets, type Target } from '../../src/compat/profile.ts';
import { TRANSFORMS } from '../../src/compat/transforms.ts';
import { isProvenantError, ProvenantError } from '../../src/errors.ts';
import { bytesSource } from '../../src/io/types.ts';
import { collect } from '../../src/io/verify.ts';
import { descriptorOf, encodeJson, parseStored, type Stored } from '../../src/oci/content.ts';
import { type Digest, digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import { formatPlatform, parsePlatform } from '../../src/oci/platform.ts';
import { Annotation, type Platform } from '../../src/oci/types.ts';
import { generateSigningKeyPair } from '../../src/sign/keys.ts';
import { attestImage, resignerOf, signImage } from '../../src/sign/sign.ts';
import { KeySigner } from '../../src/sign/signer.ts';
import { verifyImage } from '../../src/sign/verify.ts';
import type { LayoutStore } from '../../src/store/layout.ts';
import type { ContentStore } from '../../src/store/types.ts';
import { useTempLayout } from '../helpers/temp.ts';
import { cosignTagOf, synth } from './images.ts';

const layout = useTempLayout('compat');
const profiles = await loadProfiles();
const target = (text: string): Target => selectTargets(profiles, text)[0]!;
const TWO = [parsePlatform('linux/amd64'), parsePlatform('linux/arm64')];

/** A cosign v2 attestation image (`sha256-<hex>.att`, one DSSE layer) for the manifest `digest`. */
async function putCosignAttestation(store: ContentStore, digest: Digest): Promise<void> {
  const envelope = encodeJson({ payloadType: 'application/vnd.in-toto+json', payload: 'e30=', signatures: [] });
  const layer = { mediaType: ArtifactType.DsseEnvelope, digest: digestOf(envelope), size: envelope.byteLength };
  await store.putBlob(bytesSource(layer, envelope));
  const cfg = encodeJson({ architecture: '', os: '', rootfs: { type: 'layers', diff_ids: [layer.digest] } });
  const cfgDesc = { mediaType: MediaType.OciConfig, digest: digestOf(cfg), size: cfg.byteLength };
  await store.putBlob(bytesSource(cfgDesc, cfg));
  const att = parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: cfgDesc, layers: [layer] }));
  await store.putManifest(att, { tags: [cosignTagOf(digest, 'att')] });
}

describe('fix carries a changed digest through the graph', () => {
  it('recompressing zstd layers: the index relists, a referrer follows, statements and signatures about the old images stay behind', async () => {
    const src = await layout();
    const made = await synth(src, {
      platforms: TWO,
      layer: 'zstd',
      attestations: 'legacy',
      referrers: [
        { on: 'image', artifactType: ArtifactType.CosignSignature },
        { on: 'image', artifactType: ArtifactType.SpdxJson },
      ],
    });
    const [sig, sbom] = made.referrers as [typeof made.root, typeof made.root];
    const engine = target('docker-engine@20.10');
    const before = await checkImage(src, made.tag, [engine], { probe: false });
    assert.ok(before.targets[0]!.problems.some((p) => p.rule === 'zstd'));

    const dst = await layout();
    const report = await fixImage(src, made.tag, dst, engine, { tags: ['fixed'], probe: false });
    assert.equal(report.after?.verdict, 'accepted', report.account.join('\n'));

    const index = await dst.getManifest('fixed');
    assert.equal(index.kind, 'index');
    if (index.kind !== 'index') return;
    const images = index.index.manifests.filter((e) => e.platform?.os === 'linux');
    assert.equal(images.length, 2);
    for (const [i, e] of images.entries()) {
      assert.notEqual(e.digest, made.images[i]!.digest, 'the manifest changed');
      assert.ok(report.renamed.some((r) => r.from === made.images[i]!.digest && r.to === e.digest));
      const m = await dst.getManifest(e.digest);
      if (m.kind !== 'manifest') continue;
      assert.equal(m.manifest.layers[0]!.mediaType, MediaType.OciLayerGzip);
      assert.equal(m.manifest.config.digest, (made.images[i] as typeof m).manifest.config.digest, 'the config is unchanged');
      const tar = gunzipSync(await collect(await dst.readBlob(m.manifest.layers[0]!), 1 << 24, 'layer'));
      const config = JSON.parse(new TextDecoder().decode(await collect(await dst.readBlob(m.manifest.config), 1 << 20, 'c'))) as {
        rootfs: { diff_ids: string[] };
      };
      assert.equal(digestOf(tar), config.rootfs.diff_ids[0]);
    }
    // BuildKit's provenance names each image as it was: the fixed index lists none of it, and says which.
    assert.deepEqual(
      index.index.manifests.filter((e) => e.annotations?.[Annotation.DockerReferenceDigest] !== undefined),
      [],
    );
    assert.deepEqual(
      report.statementsLeftOut.map((l) => [l.attestation, l.about, l.replacedBy, l.predicateTypes]),
      made.images.map((m, i) => [made.attestations.get(m.digest)!.digest, m.digest, images[i]!.digest, ['https://slsa.dev/provenance/v1']]),
    );
    for (const l of report.statementsLeftOut) assert.ok(report.dropped.some((d) => d.digest === l.attestation && d.why.includes(l.about)));
    // The SBOM referrer follows its image; the signature of the old digest does not.
    const amd64 = images[0]!.digest;
    const attached = await findAttachments(dst, [amd64], undefined);
    assert.ok(attached.some((a) => a.kind === 'sbom' && a.storage === 'referrers'));
    assert.ok(!attached.some((a) => a.kind === 'signature'));
    assert.ok(report.dropped.some((d) => d.digest === sig.digest && d.signs === made.images[0]!.digest));
    assert.ok(report.renamed.some((r) => r.from === sbom.digest));
    assert.deepEqual(report.signing.stale, [{ signature: sig.digest, signs: made.images[0]!.digest }]);
    assert.ok(report.signing.unsigned.includes(amd64) && report.signing.unsigned.includes(index.digest));
    assert.match(report.signing.statement, /stays valid only for the digest it signed/);
    const account = report.account.join('\n');
    assert.match(account, /Not carried: .*its statements are about sha256:/);
    assert.match(account, /no longer lists 2 attestation entries about a digest it replaced/);
    assert.doesNotMatch(account, /still name/);
  });

  // A Sigstore bundle as cosign 3 stores it (a referrer), a DSSE envelope as cosign 2 does (its .att image).
  for (const storage of ['referrers', 'cosign'] as const) {
    it(`recompressing zstd layers: a signed statement about a platform image as it was (${storage}) is left out, named, and no wrong subject verifies`, async () => {
      const src = await layout();
      const made = await synth(src, { platforms: TWO, layer: 'zstd' });
      const keys = generateSigningKeyPair();
      const SPDX = 'https://spdx.dev/Document';
      const [amd64, arm64] = made.images as [Stored, Stored];
      // One statement about the image as built, signed and stored as its referrer.
      const [att] = await attestImage(
        src,
        amd64.digest,
        [statement(SPDX, { about: amd64.digest }, [{ name: 'example.com/app', digest: amd64.digest }])],
        {
          signer: new KeySigner(keys.privateKey),
          storage,
        },
      );
      const before = await verifyImage(src, amd64.digest, { policy: { key: keys.publicKey }, kind: 'attestation' });
      assert.deepEqual(
        before.verified.map((v) => v.predicateType),
        [SPDX],
        'it verifies for the image as built',
      );

      const dst = await layout();
      const report = await fixImage(src, made.tag, dst, target('docker-engine@20.10'), { tags: ['fixed'], probe: false });
      assert.equal(report.after?.verdict, 'accepted', report.account.join('\n'));
      const fixed = report.renamed.find((r) => r.from === amd64.digest)?.to;
      assert.ok(fixed !== undefined && fixed !== amd64.digest, 'the fix changed the image’s digest');
      assert.deepEqual(report.statementsLeftOut, [
        { attestation: (await src.getManifest(att!.location)).digest, predicateTypes: [SPDX], about: amd64.digest, replacedBy: fixed },
      ]);
      assert.ok(
        report.renamed.some((r) => r.from === arm64.digest),
        'the other image changed too, with nothing attached to leave out',
      );
      assert.match(
        report.account.join('\n'),
        new RegExp(
          `Not carried: attestation sha256:[0-9a-f]{12} \\(${SPDX.replaceAll('.', '\\.')}\\), because its statements are about ${amd64.digest}, which the fixed image replaces with ${fixed}`,
        ),
      );
      assert.doesNotMatch(report.account.join('\n'), /still name/);
      // The fixed image carries no statement about another image: none is checked, none is about the wrong subject.
      const after = await verifyImage(dst, fixed, { policy: { key: keys.publicKey }, kind: 'attestation' });
      assert.deepEqual(after.checked, [], JSON.stringify(after.checked));
      // The image as built keeps it.
      assert.equal((await verifyImage(src, amd64.digest, { policy: { key: keys.publicKey }, kind: 'attestation' })).verified.length, 1);
    });
  }

  // As other tools store a statement: plain in an `application/json` layer, or a DSSE envelope in
  // an in-toto layer (not a DSSE-typed one). Either names the image as it was.
  for (const shape of ['a plain statement in an application/json layer', 'a DSSE envelope in an in-toto layer'] as const) {
    it(`recompressing zstd layers: a referrer holding ${shape} about a platform image as it was is left out`, async () => {
      const src = await layout();
      const made = await synth(src, { platforms: TWO, layer: 'zstd' });
      const [amd64] = made.images as [Stored, Stored];
      const SPDX = 'https://spdx.dev/Document';
      const body = statement(SPDX, { about: amd64.digest }, [{ name: 'example.com/app', digest: amd64.digest }]).bytes;
      const plain = shape.startsWith('a plain');
      const bytes = plain
        ? body
        : encodeJson({ payloadType: ArtifactType.InToto, payload: Buffer.from(body).toString('base64'), signatures: [] });
      const layer = { mediaType: plain ? 'application/json' : ArtifactType.InToto, digest: digestOf(bytes), size: bytes.byteLength };
      await src.putBlob(bytesSource(layer, bytes));
      const empty = new TextEncoder().encode('{}');
      const config = { mediaType: MediaType.OciEmpty, digest: digestOf(empty), size: empty.byteLength };
      await src.putBlob(bytesSource(config, empty));
      const referrer = parseStored(
        encodeJson({
          schemaVersion: 2,
          mediaType: MediaType.OciManifest,
          artifactType: ArtifactType.InToto,
          config,
          layers: [layer],
          subject: descriptorOf(amd64),
        }),
      );
      await src.putManifest(referrer);

      const dst = await layout();
      const report = await fixImage(src, made.tag, dst, target('docker-engine@20.10'), { tags: ['fixed'], probe: false });
      assert.equal(report.after?.verdict, 'accepted', report.account.join('\n'));
      const fixed = report.renamed.find((r) => r.from === amd64.digest)?.to;
      assert.ok(fixed !== undefined && fixed !== amd64.digest, 'the fix changed the image’s digest');
      assert.deepEqual(report.statementsLeftOut, [
        { attestation: referrer.digest, predicateTypes: [SPDX], about: amd64.digest, replacedBy: fixed },
      ]);
      assert.ok(!report.renamed.some((r) => r.from === referrer.digest), 'the referrer is not re-attached to the fixed image');
      assert.deepEqual(await findAttachments(dst, [fixed], undefined), [], 'nothing about the old image is attached to the fixed one');
    });
  }

  it('signs before it tags: when signing fails, the fixed image is there by digest, no tag names it, and the error says so', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO, layer: 'zstd' });
    const dst = await layout();
    const signed: string[] = [];
    const failing = async (store: ContentStore, digest: Digest) => {
      // Called with the image in place and untagged: a tag would name an unsigned image now.
      assert.deepEqual(await store.listTags(), []);
      if (signed.length > 0) throw new ProvenantError('NETWORK', 'signing failed: Fulcio answered 503');
      signed.push(digest);
      return { subject: digest, signature: digest, storage: 'referrers' as const };
    };
    const err = await fixImage(src, made.tag, dst, target('docker-engine@20.10'), { tags: ['fixed'], probe: false, resign: failing }).then(
      () => assert.fail('the fix should fail with the signer'),
      (e: unknown) => e,
    );
    assert.ok(isProvenantError(err, 'NETWORK'), String(err));
    assert.deepEqual(await dst.listTags(), []);
    const written = /written as (\S+)@(sha256:[0-9a-f]{64}) \(not tagged fixed\)/.exec(err.message);
    assert.ok(written, err.message);
    assert.equal(written[1], dst.location);
    assert.equal((await dst.getManifest(written[2]!)).kind, 'index');
    assert.match(err.message, /^signing failed: Fulcio answered 503; /);
    assert.match(err.message, /; signing sha256:[0-9a-f]{64} failed$/, 'the digest whose signing failed is named');
  });

  it('BuildKit 0.32 attestations become referrers unchanged: same digest, pushed after the image', async () => {
    const src = await layout();
    const made = await synth(src, { attestations: 'oci-artifact' });
    const attestation = made.attestations.get(made.images[0]!.digest)!;
    const dst = await layout();
    const report = await fixImage(src, made.tag, dst, target('aws-lambda'), { tags: ['fixed'] });
    assert.equal(report.destination?.digest, made.images[0]!.digest);
    assert.deepEqual(report.renamed, [], 'nothing was rewritten');
    assert.deepEqual(report.signing.unsigned, []);
    const referrers = await dst.referrers(made.images[0]!.digest);
    assert.deepEqual(
      referrers.map((r) => r.digest),
      [attestation.digest],
    );
  });

  it('a cosign .att tag that exists already takes the moved attestation’s layers too', async () => {
    const src = await layout();
    const made = await synth(src, { attestations: 'oci-artifact' });
    const amd64 = made.images[0]!;
    await putCosignAttestation(src, amd64.digest);

    const dst = await layout();
    const report = await fixImage(src, made.tag, dst, target('alibaba-acr'), { tags: ['fixed'], probe: false });
    assert.equal(report.after?.verdict, 'accepted', report.account.join('\n'));
    const merged = await dst.getManifest(cosignTagOf(amd64.digest, 'att'));
    assert.equal(merged.kind, 'manifest');
    if (merged.kind !== 'manifest') return;
    const moved = made.attestations.get(amd64.digest)!;
    assert.deepEqual(
      merged.manifest.layers.map((l) => l.mediaType),
      [ArtifactType.DsseEnvelope, MediaType.InToto],
    );
    assert.equal(merged.manifest.config.mediaType, MediaType.OciConfig, 'no empty config for this registry');
    assert.equal(merged.manifest.subject, undefined);
    assert.ok(moved.kind === 'manifest' && merged.manifest.layers[1]!.digest === moved.manifest.layers[0]!.digest);
  });

  it('signs only what it wrote: a moved attestation merged into an existing cosign tag is not asked for, and the tag follows', async () => {
    const src = await layout();
    const made = await synth(src, { attestations: 'oci-artifact' });
    const amd64 = made.images[0]!;
    await putCosignAttestation(src, amd64.digest);

    // The fix writes into the store it reads, as the Action does: the cosign tag is there already.
    const asked: Digest[] = [];
    const resign = async (store: ContentStore, digest: Digest) => {
      asked.push(digest);
      await store.getManifest(digest);
      return { subject: digest, signature: digest, storage: 'referrers' as const };
    };
    // The store keeps the attestation as it was (a referrer of amd64 with an empty config, which
    // alibaba-acr refuses): the fix deletes nothing, so unforced it writes nothing and says why.
    const refused = await fixImage(src, made.tag, src, target('alibaba-acr'), { tags: ['fixed'], probe: false, resign });
    assert.equal(refused.written, false, refused.account.join('\n'));
    assert.deepEqual(refused.heldAtDestination, [made.attestations.get(amd64.digest)!.digest]);
    assert.deepEqual(asked, [], 'nothing was signed');
    assert.equal(await src.resolve('fixed'), undefined);
    const report = await fixImage(src, made.tag, src, target('alibaba-acr'), { tags: ['fixed'], probe: false, resign, force: true });
    assert.equal(report.written, true, report.account.join('\n'));
    assert.equal((await src.resolve('fixed'))?.digest, report.destination?.digest);
    for (const d of asked) assert.ok((await src.resolve(d)) !== undefined, `${d} was signed but never written`);
    assert.deepEqual(report.signing.unsigned, []);
  });
});

describe('fix chooses, refuses and leaves alone', () => {
  it('keeps the platform asked for, and says which exist when the image lacks it', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO, attestations: 'legacy' });
    const dst = await layout();
    const report = await fixImage(src, made.tag, dst, target('aws-lambda'), { tags: ['fixed'], platform: parsePlatform('linux/arm64') });
    assert.equal(report.destination?.digest, made.images[1]!.digest);
    const other = await layout();
    await assert.rejects(
      fixImage(src, made.tag, other, target('aws-lambda'), { platform: parsePlatform('linux/s390x') }),
      (e: unknown) =>
        isProvenantError(e, 'NO_MATCHING_PLATFORM') &&
        /linux\/amd64, linux\/arm64/.test(e.hint ?? '') &&
        e.where === `${src.location}@${made.root.digest}`,
    );
    assert.deepEqual(await other.listTags(), [], 'nothing was written');
  });

  it('says so when the platform asked for is not used: no fix for the target picks one', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO, attestations: 'legacy' });
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m) };
    const platform = parsePlatform('linux/arm64');
    const report = await fixImage(src, made.tag, await layout(), target('amazon-ecr'), { include: 'all', platform, logger, probe: false });
    assert.equal(report.written, true);
    assert.equal(report.destination?.mediaType, MediaType.OciIndex, 'the image keeps both platforms');
    assert.deepEqual(warnings, [
      'the platform linux/arm64 was not used: no fix for amazon-ecr picks a platform, and the image keeps all it has',
    ]);
    warnings.length = 0;
    await fixImage(src, made.tag, await layout(), target('aws-lambda'), { platform, logger, probe: false });
    assert.deepEqual(warnings, [], 'a fix that picks a platform uses it');
  });

  it('writes nothing when a refusal has no fix, unless forced', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: [parsePlatform('linux/arm64')] });
    const run = target('google-cloud-run');
    const dst = await layout();
    const report = await fixImage(src, made.tag, dst, run, { tags: ['fixed'] });
    assert.equal(report.written, false);
    assert.equal(report.unfixable[0]?.rule, 'needs-amd64');
    assert.match(
      report.account.join('\n'),
      /Cannot fix needs-amd64 \(refuses\): The image offers linux\/arm64; the target runs linux\/amd64\. No change/,
    );
    assert.deepEqual(await dst.listTags(), []);
    const forced = await fixImage(src, made.tag, dst, run, { tags: ['fixed'], force: true });
    assert.equal(forced.written, true);
    assert.equal(forced.after?.verdict, 'refused');
  });

  it('writes nothing when the fixes leave a refusal standing, says what still refuses, and writes it only when forced', async () => {
    const src = await layout();
    const made = await synth(src, { layer: 'zstd' });
    const [stubborn] = selectTargets(await loadProfiles({ extraDirs: [join(import.meta.dirname, 'profiles')] }), 'stubborn');
    const dst = await layout();
    const report = await fixImage(src, made.tag, dst, stubborn!, { tags: ['fixed'], probe: false });
    assert.equal(report.written, false);
    assert.deepEqual(report.unfixable, []);
    assert.deepEqual(
      report.applied.map((a) => a.fix),
      ['set-artifact-type'],
    );
    assert.equal(report.after?.verdict, 'refused');
    const account = report.account.join('\n');
    assert.match(account, /Checked before writing: stubborn would still refuse the fixed image\./);
    assert.match(account, new RegExp(`Still refused: no-zstd: .* of ${short(made.images[0]!.digest)}`));
    assert.match(account, /Nothing was written\.$/);
    assert.deepEqual(await dst.listTags(), []);
    assert.deepEqual(await readdir(join(dst.path, 'blobs', 'sha256')).catch(() => []), [], 'not a blob was written');
    const forced = await fixImage(src, made.tag, dst, stubborn!, { tags: ['fixed'], force: true, probe: false });
    assert.equal(forced.written, true);
    assert.equal(forced.after?.verdict, 'refused');
    assert.match(forced.account.join('\n'), /Checked again: stubborn still refuses it\.\nStill refused: no-zstd: /);
    assert.deepEqual(await dst.listTags(), ['fixed']);
  });

  it('refuses to recompress a zstd layer that unpacks to a thousand times its size, naming it, and writes nothing', async () => {
    // 300 MiB of zeros is some 10 KB of zstd: without a bound, fix gzips all of it (12 s a GiB)
    // before the diff_id can say anything, and a 32 MB layer of the kind holds hours of work.
    const src = await layout();
    const chunk = new Uint8Array(1 << 22);
    const tarHash = createHash('sha256');
    for (let i = 0; i < 75; i++) tarHash.update(chunk);
    const zstd = await collect(
      Readable.from(
        (function* () {
          for (let i = 0; i < 75; i++) yield chunk;
        })(),
      ).pipe(createZstdCompress()),
      1 << 24,
      'zstd',
    );
    assert.ok(zstd.byteLength * 1000 < 300 * 1024 * 1024, `${zstd.byteLength} bytes of zstd`);
    const layer = { mediaType: MediaType.OciLayerZstd, digest: digestOf(zstd), size: zstd.byteLength };
    await src.putBlob(bytesSource(layer, zstd));
    const config = encodeJson({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [`sha256:${tarHash.digest('hex')}`] },
    });
    const configDesc = { mediaType: MediaType.OciConfig, digest: digestOf(config), size: config.byteLength };
    await src.putBlob(bytesSource(configDesc, config));
    await src.putManifest(
      parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: configDesc, layers: [layer] })),
      {
        tags: ['bomb'],
      },
    );

    const dst = await layout();
    await assert.rejects(
      fixImage(src, 'bomb', dst, target('docker-engine@20.10'), { tags: ['fixed'], probe: false }),
      (err: unknown) =>
        isProvenantError(err, 'TOO_LARGE') &&
        err.message.includes(layer.digest) &&
        err.message.includes('unpacks to more than 256.0 MiB, more than fix recompresses (1000 times its size') &&
        err.where === `${src.location}@${layer.digest}`,
    );
    assert.deepEqual(await dst.listTags(), []);
    assert.deepEqual(await readdir(join(dst.path, 'blobs', 'sha256')).catch(() => []), [], 'not a blob was written');
  });

  it('copies an accepted image as it is, and says there was nothing to change', async () => {
    const src = await layout();
    const made = await synth(src, {});
    const dst = await layout();
    // No `probe: false`: the default probes only a registry destination (resolveProbe), and
    // aws-lambda is a runtime, whose checks use no referrers fact. This is the default path.
    const report = await fixImage(src, made.tag, dst, target('aws-lambda'), { tags: ['fixed'] });
    const account = report.account.join('\n');
    assert.equal(report.destination?.digest, made.root.digest, account);
    assert.deepEqual(report.changes, [], account);
    assert.match(report.account[0]!, /^Nothing to change/, account);
    assert.deepEqual((await dst.getManifest('fixed')).bytes, made.root.bytes);
  });

  it('fixes refusals only, unless asked to fix warnings too', async () => {
    const src = await layout();
    const made = await synth(src, { attestations: 'legacy' });
    const ecr = target('amazon-ecr');
    const plain = await fixImage(src, made.tag, await layout(), ecr, { tags: ['fixed'], probe: false });
    assert.deepEqual(plain.applied, []);
    assert.equal(plain.leftAlone[0]?.rule, 'attestation-rows');
    assert.equal(plain.after?.verdict, 'warnings');
    const all = await fixImage(src, made.tag, await layout(), ecr, { tags: ['fixed'], include: 'all', probe: false });
    assert.equal(all.applied[0]?.fix, 'move-attestations');
    assert.equal(all.after?.verdict, 'accepted');
  });
});

describe('Amazon ECR and a signature whose subject is an index', () => {
  const keys = generateSigningKeyPair();
  /** A two-platform index signed by `keys` in `storages`; and the bundle referrer. */
  const signedIndex = async (src: LayoutStore, storages: Array<'cosign' | 'referrers'>) => {
    const made = await synth(src, { platforms: TWO });
    const entries = await signImage(src, made.tag, {
      signer: new KeySigner(keys.privateKey),
      dockerReference: 'example.com/app',
      storages,
    });
    const bundle = entries.find((e) => e.storage === 'referrers')!.location as Digest;
    return { made, bundle };
  };

  it('leaves out a cosign 3 signature of the index, naming it, and says the index is unsigned when no key is given', async () => {
    const src = await layout();
    const { made, bundle } = await signedIndex(src, ['referrers']);
    const ecr = target('amazon-ecr');
    const check = (await checkImage(src, made.tag, [ecr], { probe: false })).targets[0]!;
    const signature = check.problems.find((p) => p.rule === 'signature-of-index');
    assert.deepEqual(
      signature?.findings.map((f) => f.digest),
      [bundle],
    );
    assert.equal(signature.fix?.id, 'move-attestations');

    const dst = await layout();
    const report = await fixImage(src, made.tag, dst, ecr, { tags: ['fixed'], probe: false });
    assert.equal(report.written, true, report.account.join('\n'));
    assert.deepEqual(report.unfixable, []);
    assert.equal(report.after?.verdict, 'accepted', report.account.join('\n'));
    assert.equal(report.destination?.digest, made.root.digest, 'only what is attached to the index changed');
    assert.deepEqual(
      report.dropped.map((d) => [d.digest, d.signs]),
      [[bundle, made.root.digest]],
    );
    assert.match(report.account.join('\n'), new RegExp(`Not carried: signature ${short(bundle)}, because it is a Sigstore bundle`));
    assert.deepEqual(report.signing.unsigned, [made.root.digest]);
    assert.match(report.signing.statement, new RegExp(`nothing signs ${short(made.root.digest)} of the fixed image`));
    assert.deepEqual(await dst.referrers(made.root.digest), [], 'no referrer has the index as its subject');
  });

  it('keeps the signature under the index’s .sig tag when the index has one too (as the Action signs): nothing is unsigned', async () => {
    const src = await layout();
    const { made, bundle } = await signedIndex(src, ['cosign', 'referrers']);
    const dst = await layout();
    const report = await fixImage(src, made.tag, dst, target('amazon-ecr'), { tags: ['fixed'], probe: false });
    assert.equal(report.after?.verdict, 'accepted', report.account.join('\n'));
    assert.deepEqual(
      report.signing.stale.map((s) => s.signature),
      [bundle],
    );
    assert.deepEqual(report.signing.unsigned, []);
    assert.match(report.signing.statement, new RegExp(`${short(made.root.digest)} keeps a signature under cosign's \\.sig tag`));
    const verified = await verifyImage(dst, made.root.digest, { policy: { key: keys.publicKey } });
    assert.deepEqual(
      verified.verified.map((v) => v.storage),
      ['cosign'],
    );
  });
});

describe('AWS Lambda: the amd64 manifest of an index written in its place, its digest unchanged', () => {
  const keys = generateSigningKeyPair();

  it('unsigned: the account says the image is the manifest in place of the index, that nothing signs it, and not that no digest changed', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO });
    const amd64 = made.images[0]!.digest;
    const dst = await layout();
    const report = await fixImage(src, made.tag, dst, target('aws-lambda'), { tags: ['fixed'], probe: false });
    assert.equal(report.destination?.digest, amd64, report.account.join('\n'));
    assert.deepEqual(report.renamed, [], 'no manifest was rewritten');
    assert.doesNotMatch(report.account.join('\n'), /No digest changed/);
    assert.deepEqual(report.signing.replacedRoot, { from: made.root.digest, to: amd64, signed: false });
    assert.equal(
      report.signing.statement,
      `The fixed image is ${short(amd64)} in place of ${short(made.root.digest)}: no signature of ${short(made.root.digest)} covers it, and nothing signs ${short(amd64)}.`,
    );
  });

  it('the index and each image signed in this run (as the Action signs): the manifest keeps its signature, and a fix told so does not sign it again', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO });
    const amd64 = made.images[0]!.digest;
    const signer = new KeySigner(keys.privateKey);
    const entries = await signImage(src, made.tag, { signer, dockerReference: 'example.com/app', recursive: true });
    const asked: Digest[] = [];
    const resign = async (store: ContentStore, digest: Digest, storage: 'referrers' | 'cosign') => {
      asked.push(digest);
      return { subject: digest, signature: (await store.getManifest(digest)).digest, storage };
    };
    // Into the store it reads, as the Action fixes: the build's signatures are there already.
    const report = await fixImage(src, made.tag, src, target('aws-lambda'), {
      tags: ['fixed'],
      probe: false,
      resign,
      signedThisRun: new Set(entries.map((e) => e.digest)),
    });
    assert.equal(report.destination?.digest, amd64, report.account.join('\n'));
    assert.deepEqual(asked, [], 'nothing is signed twice');
    assert.deepEqual(report.signing.unsigned, []);
    assert.deepEqual(report.signing.replacedRoot, { from: made.root.digest, to: amd64, signed: true });
    assert.match(
      report.signing.statement,
      new RegExp(`no signature of ${short(made.root.digest)} covers it, and it keeps a signature of its own\\.$`),
    );
    assert.doesNotMatch(report.signing.statement, /No digest changed/);
    const verified = await verifyImage(src, amd64, { policy: { key: keys.publicKey } });
    assert.equal(verified.verified.length, 2, 'one signature in each storage, as the build made them');
  });

  it("the index and each image signed with another key (a vendor's): a fix given a key signs the manifest with it; without one, it keeps the vendor's", async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO });
    const amd64 = made.images[0]!.digest;
    const vendor = generateSigningKeyPair();
    await signImage(src, made.tag, { signer: new KeySigner(vendor.privateKey), dockerReference: 'example.com/app', recursive: true });
    const plain = await fixImage(src, made.tag, await layout(), target('aws-lambda'), { tags: ['fixed'], probe: false });
    assert.deepEqual(plain.signing.unsigned, []);
    assert.deepEqual(plain.signing.replacedRoot, { from: made.root.digest, to: amd64, signed: true });
    assert.match(plain.signing.statement, /it keeps a signature of its own\.$/);
    const dst = await layout();
    const report = await fixImage(src, made.tag, dst, target('aws-lambda'), {
      tags: ['fixed'],
      probe: false,
      resign: resignerOf(new KeySigner(keys.privateKey), { dockerReference: 'example.com/app' }),
    });
    assert.equal(report.destination?.digest, amd64, report.account.join('\n'));
    assert.deepEqual(
      report.signing.resigned.map((r) => r.subject),
      [amd64],
    );
    assert.equal(report.signing.replacedRoot, undefined, 'said as a digest the key given signed');
    assert.match(report.signing.statement, new RegExp(`^Signed ${short(amd64)} with the key or identity given\\.`));
    const mine = await verifyImage(dst, amd64, { policy: { key: keys.publicKey } });
    assert.ok(mine.verified.length > 0, JSON.stringify(mine.checked));
    const theirs = await verifyImage(dst, amd64, { policy: { key: vendor.publicKey } });
    assert.ok(theirs.verified.length > 0, "the vendor's signature is carried too");
  });

  it('only the index signed: the manifest written in its place is signed by a fix given a key, and said unsigned without one', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO });
    const amd64 = made.images[0]!.digest;
    await signImage(src, made.tag, { signer: new KeySigner(keys.privateKey), dockerReference: 'example.com/app' });
    const unsigned = await fixImage(src, made.tag, await layout(), target('aws-lambda'), { tags: ['fixed'], probe: false });
    assert.deepEqual(unsigned.signing.unsigned, [amd64]);
    assert.equal(unsigned.signing.replacedRoot, undefined, 'said as a digest nothing signs');
    assert.match(unsigned.signing.statement, new RegExp(`nothing signs ${short(amd64)} of the fixed image`));
    const asked: Digest[] = [];
    const resign = async (store: ContentStore, digest: Digest, storage: 'referrers' | 'cosign') => {
      asked.push(digest);
      return { subject: digest, signature: (await store.getManifest(digest)).digest, storage };
    };
    await fixImage(src, made.tag, await layout(), target('aws-lambda'), { tags: ['fixed'], probe: false, resign });
    assert.deepEqual(asked, [amd64]);
  });
});

describe('attachmentStoragesFor: where to sign and attest as the image is written, so that no fix is needed for it', () => {
  const keys = generateSigningKeyPair();

  it('the index under its .sig tag only for ECR, every image as a referrer; a target that takes referrers leaves all as referrers', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO, attestations: 'legacy' });
    const ecr = (await attachmentStoragesFor(src, made.tag, [target('ghcr'), target('amazon-ecr')])).signatures;
    const signed = [made.root.digest, ...made.images.map((m) => m.digest), ...[...made.attestations.values()].map((a) => a.digest)];
    assert.deepEqual([...ecr.keys()].sort(), [...signed].sort(), 'what cosign sign --recursive signs');
    assert.deepEqual(ecr.get(made.root.digest), { storage: 'cosign', refusedBy: ['amazon-ecr'], dockerMediaTypesFor: [] });
    for (const m of made.images) assert.deepEqual(ecr.get(m.digest), { storage: 'referrers', refusedBy: [], dockerMediaTypesFor: [] });
    const ghcr = (await attachmentStoragesFor(src, made.tag, [target('ghcr')])).signatures;
    assert.deepEqual(
      [...ghcr.values()].map((c) => c.storage),
      signed.map(() => 'referrers'),
    );
  });

  it('signed where it says, the image has no signature ECR refuses, and the index verifies under its .sig tag', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO });
    const ecr = target('amazon-ecr');
    const storages = (await attachmentStoragesFor(src, made.tag, [ecr])).signatures;
    await signImage(src, made.tag, {
      signer: new KeySigner(keys.privateKey),
      dockerReference: 'example.com/app',
      recursive: true,
      storagesOf: (d) => (storages.get(d)?.storage === 'cosign' ? ['cosign'] : undefined),
    });
    const check = (await checkImage(src, made.tag, [ecr], { probe: false })).targets[0]!;
    assert.equal(check.verdict, 'accepted', JSON.stringify(check.problems));
    assert.deepEqual(await src.referrers(made.root.digest), [], 'no referrer has the index as its subject');
    const index = await verifyImage(src, made.root.digest, { policy: { key: keys.publicKey } });
    assert.deepEqual(
      index.verified.map((v) => v.storage),
      ['cosign'],
    );
    for (const m of made.images) {
      const image = await verifyImage(src, m.digest, { policy: { key: keys.publicKey } });
      assert.deepEqual(image.verified.map((v) => v.storage).sort(), ['cosign', 'referrers'], 'an image is signed in both, as before');
    }
  });

  it('follows the rules, not a list of registries: Alibaba ACR refuses every empty-config referrer, so every signature goes under .sig', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO });
    const storages = (await attachmentStoragesFor(src, made.tag, [target('alibaba-acr')])).signatures;
    assert.deepEqual(
      [...storages.values()].map((c) => c.storage),
      [made.root, ...made.images].map(() => 'cosign'),
    );
  });

  const SPDX = 'https://spdx.dev/Document';
  const SLSA = 'https://slsa.dev/provenance/v1';

  it('the index’s attestations in its .att image for ECR, each image’s as referrers; a target that takes referrers leaves all as referrers', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO });
    const [amd64, arm64] = made.images as [Stored, Stored];
    const attestations = new Map<Digest, string[]>([
      [made.root.digest, [SPDX]],
      [amd64.digest, [SPDX, SLSA]],
      [arm64.digest, [SPDX, SLSA]],
    ]);
    const ecr = await attachmentStoragesFor(src, made.tag, [target('ghcr'), target('amazon-ecr')], { attestations });
    assert.deepEqual(ecr.attestations.get(made.root.digest), { storage: 'cosign', refusedBy: ['amazon-ecr'], dockerMediaTypesFor: [] });
    for (const m of made.images)
      assert.deepEqual(ecr.attestations.get(m.digest), { storage: 'referrers', refusedBy: [], dockerMediaTypesFor: [] });
    // The signatures are judged as before, with the attestations in the image.
    assert.deepEqual(ecr.signatures.get(made.root.digest), { storage: 'cosign', refusedBy: ['amazon-ecr'], dockerMediaTypesFor: [] });
    const ghcr = await attachmentStoragesFor(src, made.tag, [target('ghcr')], { attestations });
    assert.deepEqual(
      [...ghcr.attestations.values()].map((c) => c.storage),
      ['referrers', 'referrers', 'referrers'],
    );
    const none = await attachmentStoragesFor(src, made.tag, [target('amazon-ecr')]);
    assert.deepEqual([...none.attestations.keys()], [], 'no attestation asked about, none judged');
  });

  it('attested where it says, ECR takes the image with no fix, and the index’s SBOM verifies from its .att image', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO });
    const ecr = target('amazon-ecr');
    const about = (digest: Digest, type: string) => statement(type, { about: digest }, [{ name: 'example.com/app', digest }]);
    const attested = [made.root, ...made.images].map((m) => ({ digest: m.digest, statements: [about(m.digest, SPDX)] }));
    const storages = await attachmentStoragesFor(src, made.tag, [ecr], {
      attestations: new Map(attested.map((a) => [a.digest, [SPDX]])),
    });
    const signer = new KeySigner(keys.privateKey);
    await signImage(src, made.tag, {
      signer,
      dockerReference: 'example.com/app',
      recursive: true,
      storagesOf: (d) => (storages.signatures.get(d)?.storage === 'cosign' ? ['cosign'] : undefined),
    });
    for (const a of attested) {
      const storage = storages.attestations.get(a.digest)?.storage ?? 'referrers';
      await attestImage(src, a.digest, a.statements, { signer, storage });
    }
    const check = (await checkImage(src, made.tag, [ecr], { probe: false })).targets[0]!;
    assert.equal(check.verdict, 'accepted', JSON.stringify(check.problems));
    assert.deepEqual(await src.referrers(made.root.digest), [], 'no referrer has the index as its subject');
    const index = await verifyImage(src, made.root.digest, { policy: { key: keys.publicKey }, kind: 'attestation', predicateType: SPDX });
    assert.deepEqual(
      index.verified.map((v) => [v.storage, v.format, v.predicateType]),
      [['cosign', 'cosign-layer', SPDX]],
      JSON.stringify(index.checked),
    );
    for (const m of made.images) {
      const image = await verifyImage(src, m.digest, { policy: { key: keys.publicKey }, kind: 'attestation', predicateType: SPDX });
      assert.deepEqual(
        image.verified.map((v) => v.storage),
        ['referrers'],
        'an image’s attestation is a referrer, as before',
      );
    }
  });
});

describe('storeAsFixWould: unsigned statements a target refuses as referrers, written where its fix moves them', () => {
  const SPDX = 'https://spdx.dev/Document';
  const pendingOf = (subject: Stored, types: readonly string[]) => {
    const statements = types.map((t) => statement(t, { about: subject.digest }, [{ name: 'example.com/app', digest: subject.digest }]));
    const made = attestationReferrer({ manifest: subject, statements })!;
    return { ...made, kind: 'attestation' as const };
  };
  const att = (digest: Digest): string => `sha256-${digest.slice('sha256:'.length)}.att`;

  it('ECR: the index’s statements under its .att tag without a subject, added to the one there; the check is clean', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO });
    const ecr = target('amazon-ecr');
    const first = await storeAsFixWould(src, made.root.digest, new Map([[made.root.digest, [pendingOf(made.root, [SPDX])]]]), [ecr]);
    assert.deepEqual(first, [], 'every one moved');
    assert.deepEqual(await src.referrers(made.root.digest), [], 'no referrer of the index');
    const check = (await checkImage(src, made.tag, [ecr], { probe: false })).targets[0]!;
    assert.equal(check.verdict, 'accepted', JSON.stringify(check.problems));
    const tagged = await src.getManifest(att(made.root.digest));
    assert.ok(tagged.kind === 'manifest' && tagged.manifest.subject === undefined);
    // Again, with another statement: added to the manifest the tag names, as cosign and fix append.
    await storeAsFixWould(src, made.root.digest, new Map([[made.root.digest, [pendingOf(made.root, ['https://example.org/other'])]]]), [
      ecr,
    ]);
    const merged = await src.getManifest(att(made.root.digest));
    assert.ok(merged.kind === 'manifest');
    assert.deepEqual(
      merged.manifest.layers.map((l) => l.annotations?.[Annotation.InTotoPredicateType]),
      [SPDX, 'https://example.org/other'],
    );
  });

  it('a target with no fix that moves it to a cosign tag: written as the referrer it is, and returned', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO });
    const pending = pendingOf(made.root, [SPDX]);
    const left = await storeAsFixWould(src, made.root.digest, new Map([[made.root.digest, [pending]]]), [target('ghcr')]);
    assert.deepEqual(
      left.map((l) => l.stored.digest),
      [pending.stored.digest],
    );
    assert.deepEqual(
      (await src.referrers(made.root.digest)).map((r) => r.digest),
      [pending.stored.digest],
    );
    assert.equal(await src.resolve(att(made.root.digest)), undefined);
  });
});

describe('an attestation the source does not hold', () => {
  it('is not carried: each index stops listing it, the account says so, and the rest is fixed', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO, attestations: 'legacy' });
    const [gone, kept] = [...made.attestations.values()] as [typeof made.root, typeof made.root];
    await rm(join(src.path, 'blobs', 'sha256', gone.digest.slice('sha256:'.length)));
    const dst = await layout();
    const report = await fixImage(src, made.tag, dst, target('kubernetes'), { tags: ['fixed'], include: 'all', probe: false });
    assert.equal(report.written, true);
    assert.equal(report.after?.verdict, 'accepted', report.account.join('\n'));
    assert.ok(report.dropped.some((d) => d.digest === gone.digest && /does not hold it/.test(d.why)));
    assert.match(report.account.join('\n'), new RegExp(`Not carried: attestation ${short(gone.digest)}`));
    const index = await dst.getManifest('fixed');
    assert.ok(index.kind === 'index');
    assert.ok(!index.index.manifests.some((e) => e.digest === gone.digest));
    const moved = await findAttachments(dst, [made.images[1]!.digest], undefined, { details: false });
    assert.equal(moved.length, 1, `the attestation held (${short(kept.digest)}) moved`);
  });
});

describe('docker-media-types and annotations', () => {
  it('says the root index’s annotations and its entries’ are dropped, as it says a manifest’s are', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO });
    assert.ok(made.root.kind === 'index');
    const [first, ...rest] = made.root.index.manifests;
    const annotated = parseStored(
      encodeJson({
        ...made.root.index,
        manifests: [{ ...first!, annotations: { 'org.example.entry': 'x' } }, ...rest],
        annotations: { 'org.opencontainers.image.source': 'https://example.org/x' },
      }),
      { mediaType: MediaType.OciIndex },
    );
    await src.putManifest(annotated, { tags: ['annotated'], keepAsRoot: true });
    const report = await fixImage(src, 'annotated', await layout(), target('artifactory@6.23.38'), { tags: ['fixed'], probe: false });
    assert.equal(report.written, true, report.account.join('\n'));
    const line = report.changes.find((c) => c.text.includes('rewritten as a Docker manifest list'));
    assert.match(line?.text ?? '', /\(dropped its annotations and the annotations of 1 entry, which schema 2 has no place for\)$/);
  });
});

describe('docker-media-types, signed', () => {
  for (const label of ['artifactory@6.23.38', 'quay@3.5']) {
    it(`${label}: the signatures of what the fix changed go under .sig tags in Docker schema 2 media types, accepted and verified`, async () => {
      const src = await layout();
      const made = await synth(src, { platforms: TWO, attestations: 'oci-artifact' });
      const keys = generateSigningKeyPair();
      const dst = await layout();
      const report = await fixImage(src, made.tag, dst, target(label), {
        tags: ['fixed'],
        probe: false,
        resign: resignerOf(new KeySigner(keys.privateKey), { dockerReference: 'registry.example/app' }),
      });
      assert.equal(report.written, true, report.account.join('\n'));
      assert.equal(report.after?.verdict, 'accepted', report.account.join('\n'));
      const root = await dst.getManifest('fixed');
      assert.equal(root.mediaType, MediaType.DockerManifestList);
      assert.equal(report.signing.resigned.length, 3, report.account.join('\n'));
      for (const r of report.signing.resigned) {
        assert.equal(r.storage, 'cosign');
        const sig = await dst.getManifest(cosignTagOf(r.subject, 'sig'));
        assert.ok(sig.kind === 'manifest');
        assert.equal(sig.digest, r.signature);
        assert.deepEqual(
          [sig.mediaType, sig.manifest.config.mediaType, sig.manifest.layers.map((l) => l.mediaType)],
          [MediaType.DockerManifest, MediaType.DockerConfig, [ArtifactType.CosignSimpleSigning]],
        );
        const v = await verifyImage(dst, r.subject, { policy: { key: keys.publicKey } });
        assert.deepEqual(
          v.checked.map((c) => [c.storage, c.verified]),
          [['cosign', true]],
        );
      }
    });
  }
});

describe('a signed fix the target refuses with its signatures', () => {
  it('writes nothing, and says the signatures it would have made were counted, rather than only that nothing was signed', async () => {
    const artifactory = target('artifactory@6.23.38');
    const noOci = artifactory.profile.rules.find((r) => r.id === 'no-oci')!;
    // As this Artifactory, and refusing a Docker attachment too: no storage of a signature satisfies it.
    const stricter: Target = {
      ...artifactory,
      profile: {
        ...artifactory.profile,
        rules: [
          ...artifactory.profile.rules,
          { ...noOci, id: 'no-docker-attachments', with: { require: 'oci', in: ['attachments'] }, fix: undefined },
        ],
      },
    };
    const src = await layout();
    const made = await synth(src, { platforms: TWO });
    const keys = generateSigningKeyPair();
    const report = await fixImage(src, made.tag, await layout(), stricter, {
      tags: ['fixed'],
      probe: false,
      resign: resignerOf(new KeySigner(keys.privateKey), { dockerReference: 'registry.example/app' }),
    });
    assert.equal(report.written, false, report.account.join('\n'));
    assert.equal(report.after?.verdict, 'refused');
    const planned = [...report.renamed.filter((r) => r.role !== 'attachment').map((r) => r.to)];
    assert.ok(planned.length > 0);
    assert.equal(
      report.signing.statement,
      `Nothing was signed, as nothing was written; the check before writing counted the signatures the key or identity given would have made of ${planned
        .filter((d) => report.renamed.every((r) => r.from !== d))
        .map(short)
        .join(', ')}.`,
    );
    assert.match(
      report.account.join('\n'),
      /Still refused: no-docker-attachments: attachment sha256:[0-9a-f]{12} uses application\/vnd\.docker\.distribution\.manifest\.v2\+json/,
    );
    // Without a key nothing is to be signed, and the fixed image alone is what the target takes.
    const plain = await fixImage(src, made.tag, await layout(), stricter, { tags: ['fixed'], probe: false });
    assert.equal(plain.written, true, plain.account.join('\n'));
    assert.equal(plain.after?.verdict, 'accepted');
  });
});

describe('docker-media-types and BuildKit attestations', () => {
  it('an attestation left out is not also said to be stored under a cosign tag, in the account or the JSON changes', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO, attestations: 'legacy' });
    const report = await fixImage(src, made.tag, await layout(), target('artifactory@6.23.38'), { tags: ['fixed'], probe: false });
    assert.equal(report.written, true, report.account.join('\n'));
    // BuildKit's statements name each image as it was, which docker-media-types rewrites.
    assert.equal(report.statementsLeftOut.length, 2, report.account.join('\n'));
    for (const l of report.statementsLeftOut) {
      const named = report.changes.filter((c) => c.text.includes(short(l.attestation)) || c.attachment === l.attestation);
      assert.deepEqual(named, [], `${l.attestation} is left out`);
      assert.ok(report.account.some((a) => a.startsWith(`Not carried: attestation ${short(l.attestation)} `)));
      assert.ok(!report.account.some((a) => a.includes(`${short(l.attestation)} is now stored under tag`)), report.account.join('\n'));
    }
  });
});

describe('statements under one cosign tag are left out one by one', () => {
  const SPDX = 'https://spdx.dev/Document';
  const PROVENANCE = 'https://slsa.dev/provenance/v1';

  /** The layers of the manifest under `tag` in `store`, each as the predicate type and subject count of its statement. */
  async function statementsUnder(store: ContentStore, tag: string): Promise<string[]> {
    const m = await store.getManifest(tag);
    assert.ok(m.kind === 'manifest');
    const out: string[] = [];
    for (const l of m.manifest.layers) {
      const text = new TextDecoder().decode(await collect(await store.readBlob(l), 1 << 24, l.digest));
      const body = JSON.parse(text) as { payload?: string; predicateType?: string; subject?: unknown[] };
      const s = (body.payload === undefined ? body : JSON.parse(Buffer.from(body.payload, 'base64').toString('utf8'))) as typeof body;
      out.push(`${s.predicateType} about ${s.subject?.length ?? 0}`);
    }
    return out;
  }

  it('keeps the subject-less BuildKit statements of an image whose .att tag also took a signed statement about it as it was', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO });
    const [amd64, arm64] = made.images as [Stored, Stored];
    // As BuildKit's OCI exporter writes them for an image without a name: `subject: []`.
    const index = await storeAttestations(
      src,
      made.root,
      made.images.map((m, i) => ({ manifest: m, statements: [statement(PROVENANCE, { builder: 'bk', image: i }, [])] })),
      'buildkit',
    );
    await src.putManifest(index, { tags: ['bk'], keepAsRoot: true });
    const buildkit = new Map<Digest, Digest>();
    assert.ok(index.kind === 'index');
    for (const e of index.index.manifests) {
      const ref = e.annotations?.[Annotation.DockerReferenceDigest] as Digest | undefined;
      if (ref !== undefined) buildkit.set(ref, e.digest);
    }
    const alone = await fixImage(src, 'bk', await layout(), target('docker-engine@18.03'), { tags: ['fixed'], probe: false });
    assert.deepEqual(alone.statementsLeftOut, [], alone.account.join('\n'));

    // A statement about the amd64 image as built, signed, as `attest` stores one: a cosign 3 referrer.
    const keys = generateSigningKeyPair();
    await attestImage(src, amd64.digest, [statement(SPDX, { about: 'amd64' }, [{ name: 'example.org/app', digest: amd64.digest }])], {
      signer: new KeySigner(keys.privateKey),
      storage: 'referrers',
    });
    const referrer = (await findAttachments(src, [amd64.digest], undefined)).find((a) => a.kind === 'attestation')!;
    const dst = await layout();
    const report = await fixImage(src, 'bk', dst, target('docker-engine@18.03'), { tags: ['fixed'], probe: false });
    assert.equal(report.after?.verdict, 'accepted', report.account.join('\n'));
    const fixed = (d: Digest) => report.renamed.find((r) => r.from === d)!.to;
    // BuildKit's statements follow their images: both .att tags are written, each holding its provenance only.
    assert.deepEqual(await statementsUnder(dst, cosignTagOf(fixed(amd64.digest), 'att')), [`${PROVENANCE} about 0`]);
    assert.deepEqual(await statementsUnder(dst, cosignTagOf(fixed(arm64.digest), 'att')), [`${PROVENANCE} about 0`]);
    // The signed statement alone is left out, named as what it is and why.
    assert.deepEqual(report.statementsLeftOut, [
      { attestation: referrer.digest, predicateTypes: [SPDX], about: amd64.digest, replacedBy: fixed(amd64.digest) },
    ]);
    const account = report.account.join('\n');
    assert.match(
      account,
      new RegExp(
        `Not carried: attestation ${short(referrer.digest)} \\(${SPDX.replaceAll('.', '\\.')}\\), because its statements are about ${amd64.digest}`,
      ),
    );
    assert.doesNotMatch(account, new RegExp(`Not carried: attestation ${short(buildkit.get(amd64.digest)!)}`));
    assert.doesNotMatch(account, /its layers were added to the manifest/);
    const written = await dst.listTags();
    for (const tag of account.match(/sha256-[0-9a-f]{64}\.(att|sig|sbom)/g) ?? [])
      assert.ok(written.includes(tag), `the account names ${tag}, not written`);
  });

  it("rewrites cosign's own config of a .att image it leaves a statement out of: its diff_ids are the layers kept", async () => {
    const src = await layout();
    const made = await synth(src, { tag: 'bk' });
    const amd64 = made.root;
    // cosign's .att image of the image as built, in cosign's config: a DSSE envelope of a statement
    // about it, and one of a statement about another image.
    const layers = [];
    for (const digest of [amd64.digest, digestOf(new TextEncoder().encode('another image'))]) {
      const about = statement(SPDX, {}, [{ name: 'example.org/app', digest }]);
      const envelope = encodeJson({
        payloadType: 'application/vnd.in-toto+json',
        payload: Buffer.from(about.bytes).toString('base64'),
        signatures: [],
      });
      const layer = { mediaType: ArtifactType.DsseEnvelope, digest: digestOf(envelope), size: envelope.byteLength };
      await src.putBlob(bytesSource(layer, envelope));
      layers.push(layer);
    }
    // One history entry per layer, as cosign writes, and one of no layer between them.
    const history = [{ created_by: 'first' }, { empty_layer: true, comment: 'no layer' }, { created_by: 'second' }];
    const cfg = encodeJson({
      architecture: '',
      os: '',
      config: {},
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      history,
    });
    const cfgDesc = { mediaType: MediaType.OciConfig, digest: digestOf(cfg), size: cfg.byteLength };
    await src.putBlob(bytesSource(cfgDesc, cfg));
    const att = parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: cfgDesc, layers }));
    await src.putManifest(att, { tags: [cosignTagOf(amd64.digest, 'att')] });

    const dst = await layout();
    const report = await fixImage(src, 'bk', dst, target('docker-engine@18.03'), { tags: ['fixed'], probe: false });
    assert.equal(report.after?.verdict, 'accepted', report.account.join('\n'));
    const fixed = report.renamed.find((r) => r.from === amd64.digest)!.to;
    const written = await dst.getManifest(cosignTagOf(fixed, 'att'));
    assert.ok(written.kind === 'manifest');
    assert.deepEqual(await statementsUnder(dst, cosignTagOf(fixed, 'att')), [`${SPDX} about 1`]);
    const config = JSON.parse(new TextDecoder().decode(await collect(await dst.readBlob(written.manifest.config), 1 << 20, 'config')));
    assert.deepEqual(
      config.rootfs.diff_ids,
      written.manifest.layers.map((l) => l.digest),
    );
    // cosign's fields are kept; of the history, the entry of the layer kept, and the one of no layer.
    assert.equal(config.architecture, '');
    assert.deepEqual(config.history, [history[1], history[2]]);
  });

  it("adds the layers of attestations it merges into a cosign .att image to cosign's own config, with a history entry each", async () => {
    const src = await layout();
    // Docker media types: the fix changes no image digest, and so leaves no statement out.
    const made = await synth(src, { platforms: TWO, mediaTypes: 'docker' });
    const amd64 = made.images[0]!.digest;
    const about = (m: Stored) => [statement('https://slsa.dev/provenance/v1', {}, [{ name: 'example.org/app', digest: m.digest }])];
    const index = await storeAttestations(
      src,
      made.root,
      made.images.map((m) => ({ manifest: m, statements: about(m) })),
      'buildkit',
    );
    await src.putManifest(index, { tags: ['bk'], keepAsRoot: true });
    // cosign's .att image of the amd64 image, in cosign's config with a history entry for its layer.
    const spdx = statement(SPDX, {}, [{ name: 'example.org/app', digest: amd64 }]);
    const envelope = encodeJson({
      payloadType: 'application/vnd.in-toto+json',
      payload: Buffer.from(spdx.bytes).toString('base64'),
      signatures: [],
    });
    const layer = { mediaType: ArtifactType.DsseEnvelope, digest: digestOf(envelope), size: envelope.byteLength };
    await src.putBlob(bytesSource(layer, envelope));
    const history = [{ created_by: 'cosign' }];
    const cfg = encodeJson({ architecture: '', os: '', config: {}, rootfs: { type: 'layers', diff_ids: [layer.digest] }, history });
    const cfgDesc = { mediaType: MediaType.OciConfig, digest: digestOf(cfg), size: cfg.byteLength };
    await src.putBlob(bytesSource(cfgDesc, cfg));
    const att = parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: cfgDesc, layers: [layer] }));
    await src.putManifest(att, { tags: [cosignTagOf(amd64, 'att')] });
    // And a referrer of it: merged into the same manifest after BuildKit's, so into a config this fix made.
    const referrer = attestationReferrer({
      manifest: made.images[0]!,
      statements: [statement(SPDX, {}, [{ name: 'example.org/app', digest: amd64 }])],
    })!;
    for (const b of referrer.blobs) await src.putBlob(bytesSource(b.descriptor, b.bytes));
    await src.putManifest(referrer.stored);

    const dst = await layout();
    const report = await fixImage(src, 'bk', dst, target('docker-engine@18.03'), { tags: ['fixed'], probe: false });
    assert.equal(report.written, true, report.account.join('\n'));
    assert.deepEqual(report.statementsLeftOut, [], report.account.join('\n'));
    const written = await dst.getManifest(cosignTagOf(amd64, 'att'));
    assert.ok(written.kind === 'manifest');
    assert.equal(written.manifest.layers.length, 3, report.account.join('\n'));
    const config = JSON.parse(new TextDecoder().decode(await collect(await dst.readBlob(written.manifest.config), 1 << 20, 'config')));
    assert.deepEqual(
      config.rootfs.diff_ids,
      written.manifest.layers.map((l) => l.digest),
    );
    // cosign's fields and history are kept; each layer added has an entry of its own.
    assert.equal(config.architecture, '');
    assert.deepEqual(config.history, [history[0], {}, {}]);
  });

  it('keeps, of one BuildKit attestation, the statement that names no subject and leaves out the one about the image as it was', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO, layer: 'zstd' });
    const [amd64] = made.images as [Stored, Stored];
    const statements = [
      statement(PROVENANCE, { builder: 'bk' }, [{ name: 'example.org/app', digest: amd64.digest }]),
      statement(SPDX, { spdxVersion: 'SPDX-2.3' }, []),
    ];
    const index = await storeAttestations(src, made.root, [{ manifest: amd64, statements }], 'buildkit');
    await src.putManifest(index, { tags: ['bk'], keepAsRoot: true });
    assert.ok(index.kind === 'index');
    const attestation = index.index.manifests.find((e) => e.annotations?.[Annotation.DockerReferenceDigest] === amd64.digest)!.digest;
    const dst = await layout();
    const report = await fixImage(src, 'bk', dst, target('docker-engine@20.10'), { tags: ['fixed'], probe: false });
    assert.equal(report.after?.verdict, 'accepted', report.account.join('\n'));
    const fixed = report.renamed.find((r) => r.from === amd64.digest)!.to;
    assert.deepEqual(report.statementsLeftOut, [{ attestation, predicateTypes: [PROVENANCE], about: amd64.digest, replacedBy: fixed }]);
    assert.ok(
      report.dropped.some(
        (x) => x.digest === attestation && x.what === `1 of the 2 statements of attestation ${short(attestation)} (${PROVENANCE})`,
      ),
      report.account.join('\n'),
    );
    // The index lists the attestation, with the SBOM alone, about the fixed image.
    const root = await dst.getManifest('fixed');
    assert.ok(root.kind === 'index');
    const entry = root.index.manifests.find((e) => e.annotations?.[Annotation.DockerReferenceDigest] === fixed);
    assert.ok(entry !== undefined, report.account.join('\n'));
    const att = await dst.getManifest(entry.digest);
    assert.ok(att.kind === 'manifest');
    assert.deepEqual(
      att.manifest.layers.map((l) => l.digest),
      [digestOf(statements[1]!.bytes)],
    );
  });

  it('says of each attestation merged under a tag that is left out what it is, and names no tag that is not written', async () => {
    // BuildKit's provenance about each image, and signed statements about the amd64 image as built
    // (`build --attestations buildkit --sign`): all under the one .att tag of the image for Artifactory 6.
    const src = await layout();
    const made = await synth(src, { platforms: TWO, attestations: 'legacy' });
    const [amd64] = made.images as [Stored, Stored];
    const keys = generateSigningKeyPair();
    for (const type of [SPDX, 'https://cyclonedx.org/bom']) {
      await attestImage(src, amd64.digest, [statement(type, { type }, [{ name: 'example.org/app', digest: amd64.digest }])], {
        signer: new KeySigner(keys.privateKey),
        storage: 'referrers',
      });
    }
    const signed = (await findAttachments(src, [amd64.digest], undefined)).filter(
      (a) => a.kind === 'attestation' && a.storage === 'referrers',
    );
    assert.equal(signed.length, 2);
    const dst = await layout();
    const report = await fixImage(src, made.tag, dst, target('artifactory@6.23.38'), { tags: ['fixed'], probe: false });
    assert.equal(report.written, true, report.account.join('\n'));
    const fixed = report.renamed.find((r) => r.from === amd64.digest)!.to;
    const about = (l: { attestation: Digest }) => report.statementsLeftOut.find((x) => x.attestation === l.attestation);
    // Each attestation with its own statements' types, once each.
    assert.deepEqual(about({ attestation: made.attestations.get(amd64.digest)!.digest })?.predicateTypes, [PROVENANCE]);
    for (const s of signed) {
      const l = about({ attestation: s.digest });
      assert.equal(l?.predicateTypes.length, 1, report.account.join('\n'));
      assert.equal(l?.about, amd64.digest);
      const entry = report.dropped.find((x) => x.digest === s.digest);
      assert.ok(entry?.why.includes(`its statements are about ${amd64.digest}`), JSON.stringify(entry));
    }
    assert.equal(report.statementsLeftOut.length, 4, JSON.stringify(report.statementsLeftOut));
    // Nothing was left to write under the amd64 image's .att tag, and nothing says there is.
    assert.ok(!(await dst.listTags()).includes(cosignTagOf(fixed, 'att')));
    assert.doesNotMatch(report.account.join('\n'), /added to the manifest under/);
    assert.ok(!report.dropped.some((x) => x.why.includes('added to the manifest under')));
  });
});

describe('move-attestations and entries of other tools', () => {
  it('names an entry it takes out of the index by its kind and the platform it was listed under, and says why a subject-less one is left out', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO, attestations: 'legacy' });
    assert.ok(made.root.kind === 'index');
    // An SPDX document listed as imagetools lists one (linux/""), naming no subject.
    const empty = new TextEncoder().encode('{}');
    const config = { mediaType: MediaType.OciEmpty, digest: digestOf(empty), size: empty.byteLength };
    const spdx = new TextEncoder().encode('{"spdxVersion":"SPDX-2.3"}');
    const layer = { mediaType: ArtifactType.SpdxJson, digest: digestOf(spdx), size: spdx.byteLength };
    await src.putBlob(bytesSource(config, empty));
    await src.putBlob(bytesSource(layer, spdx));
    const sbom = parseStored(
      encodeJson({ schemaVersion: 2, mediaType: MediaType.OciManifest, artifactType: ArtifactType.SpdxJson, config, layers: [layer] }),
    );
    await src.putBlob(bytesSource(descriptorOf(sbom), sbom.bytes));
    const entry = { ...descriptorOf(sbom), artifactType: ArtifactType.SpdxJson, platform: { os: 'linux', architecture: '' } };
    const index = parseStored(encodeJson({ ...made.root.index, manifests: [...made.root.index.manifests, entry] }));
    await src.putManifest(index, { tags: ['with-sbom'], keepAsRoot: true });
    const report = await fixImage(src, 'with-sbom', await layout(), target('amazon-ecr'), { tags: ['fixed'], probe: false });
    assert.equal(report.written, true, report.account.join('\n'));
    const line = report.account.find((a) => a.startsWith(`Index ${short(index.digest)} no longer lists `));
    assert.equal(
      line?.split(' (sha256:')[0],
      `Index ${short(index.digest)} no longer lists 2 attestation entries (unknown/unknown), 1 sbom entry (linux/"")`,
    );
    assert.ok(
      report.dropped.some((x) => x.digest === sbom.digest && /names no subject/.test(x.why)),
      report.account.join('\n'),
    );
  });
});

describe('docker-media-types and referrers', () => {
  it('stores referrers under cosign tags, so a schema-2-only registry accepts the image', async () => {
    const src = await layout();
    const made = await synth(src, {
      platforms: TWO,
      attestations: 'oci-artifact',
      referrers: [
        { on: 'index', artifactType: ArtifactType.CosignSignature },
        { on: 'index', artifactType: ArtifactType.SpdxJson },
      ],
    });
    const dst = await layout();
    const report = await fixImage(src, made.tag, dst, target('artifactory@6.23.38'), { tags: ['fixed'], probe: false });
    assert.equal(report.written, true);
    assert.equal(report.after?.verdict, 'accepted', report.account.join('\n'));
    const root = await dst.getManifest('fixed');
    assert.equal(root.mediaType, MediaType.DockerManifestList);
    const sbom = await dst.getManifest(cosignTagOf(root.digest, 'sbom'));
    assert.ok(sbom.kind === 'manifest' && sbom.mediaType === MediaType.DockerManifest && sbom.manifest.subject === undefined);
    assert.match(report.account.join('\n'), /stored under tag sha256-[0-9a-f]+\.sbom/);
    const written = await dst.listTags();
    const named = report.account.join('\n').match(/sha256-[0-9a-f]{64}\.(att|sig|sbom)/g) ?? [];
    assert.ok(named.length >= 1, report.account.join('\n'));
    // BuildKit's provenance names each image as it was, which docker-media-types rewrites: left out.
    assert.deepEqual(report.statementsLeftOut.map((l) => l.about).sort(), made.images.map((m) => m.digest).sort());
    for (const tag of named) assert.ok(written.includes(tag), `the account names ${tag}, which was not written`);
    assert.deepEqual(await findAttachments(dst, [root.digest], undefined, { details: false, tags: [] }), [], 'no referrer is left');
  });
});

describe('transforms', () => {
  it('return a new plan and leave the one they were given alone', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO, attestations: 'legacy' });
    const plan = planFromGraph(await readImageGraph(src, made.tag));
    const keys = [...plan.docs.keys()];
    const root = plan.root;
    const next = TRANSFORMS['single-manifest'](plan, { attestations: 'referrers' }, { platforms: [parsePlatform('linux/amd64')] });
    assert.notEqual(next.root, root);
    assert.equal(plan.root, root);
    assert.deepEqual([...plan.docs.keys()], keys);
    assert.deepEqual(plan.changes, []);
    assert.ok(next.docs.get(next.root)?.stored.digest === made.images[0]!.digest);
    const referrer = [...next.docs.values()].find((d) => d.placement?.type === 'referrer');
    assert.ok(referrer?.stored.kind === 'manifest' && referrer.stored.manifest.subject?.digest === made.images[0]!.digest);
    assert.deepEqual(referrer.stored.kind === 'manifest' && referrer.stored.manifest.subject, descriptorOf(made.images[0]!));
  });

  // Read without a location (the library's plan), the account named the others as IMAGE@DIGEST,
  // a placeholder for nothing, in the warning's full digests and past tense.
  it('single-manifest says which of several images of a platform it takes, in the words of the account, with no location to name', async () => {
    const src = await layout();
    const made = await synth(src, {
      platforms: [
        { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.5458' },
        { os: 'windows', architecture: 'amd64', 'os.version': '10.0.20348.2227' },
      ],
    });
    const plan = planFromGraph(await readImageGraph(src, made.tag));
    const windows = parsePlatform('windows/amd64');
    const next = TRANSFORMS['single-manifest'](plan, {}, { platforms: [windows], platform: windows });
    const [ltsc2019, ltsc2022] = [short(made.images[0]!.digest), made.images[1]!.digest];
    assert.ok(
      next.changes.some(
        (c) =>
          c.text ===
          `2 images of the index are windows/amd64: the fix takes the first, ${ltsc2019} (os.version 10.0.17763.5458); to take another, name it by digest: ${ltsc2022} (os.version 10.0.20348.2227)`,
      ),
      next.changes.map((c) => c.text).join('\n'),
    );
  });
});

describe('nested indexes (index → index → manifests)', () => {
  /** A synthetic image whose index is listed by an outer index, tagged `outer`. */
  async function nested(options: Parameters<typeof synth>[1]) {
    const src = await layout();
    const made = await synth(src, { platforms: TWO, index: true, ...options });
    const outer = parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [descriptorOf(made.root)] }), {
      mediaType: MediaType.OciIndex,
    });
    await src.putManifest(outer, { tags: ['outer'], keepAsRoot: true });
    return { src, made, outer };
  }

  it('check judges the inner manifests', async () => {
    const { src, made } = await nested({ layer: 'zstd' });
    const report = await checkImage(src, 'outer', [target('docker-engine@20.10'), target('google-cloud-run')], { probe: false });
    const [engine, run] = report.targets as [(typeof report.targets)[0], (typeof report.targets)[0]];
    assert.equal(engine.verdict, 'refused');
    const zstd = engine.problems.find((p) => p.rule === 'zstd');
    assert.deepEqual(
      zstd?.findings.map((f) => f.detail.split(' of ')[1]?.split(' ')[0]).sort(),
      made.images.map((i) => short(i.digest)).sort(),
    );
    assert.notEqual(run.verdict, 'refused', run.problems.map((p) => p.rule).join(', '));
  });

  it('single-manifest picks an inner manifest and leaves both indexes out', async () => {
    const { src, made } = await nested({});
    const dst = await layout();
    const report = await fixImage(src, 'outer', dst, target('aws-lambda'), { tags: ['fixed'] });
    assert.equal(report.destination?.digest, made.images[0]!.digest, report.account.join('\n'));
    assert.ok(report.dropped.some((d) => d.digest === made.root.digest));
    assert.equal(report.after?.verdict, 'accepted');
  });

  it('a changed inner manifest changes each index above it', async () => {
    const { src, made, outer } = await nested({ layer: 'zstd', attestations: 'legacy' });
    const dst = await layout();
    const report = await fixImage(src, 'outer', dst, target('docker-engine@20.10'), { tags: ['fixed'], include: 'all', probe: false });
    assert.equal(report.after?.verdict, 'accepted', report.account.join('\n'));
    const top = await dst.getManifest('fixed');
    assert.ok(top.kind === 'index' && top.digest !== outer.digest);
    const inner = await dst.getManifest(top.index.manifests[0]!.digest);
    assert.ok(inner.kind === 'index' && inner.digest !== made.root.digest);
    const images = inner.index.manifests.filter((e) => e.platform?.os === 'linux');
    assert.equal(images.length, 2);
    for (const e of images) {
      const m = await dst.getManifest(e.digest);
      assert.ok(m.kind === 'manifest' && m.manifest.layers.every((l) => l.mediaType === MediaType.OciLayerGzip));
    }
  });

  it('a referrer of a nested index follows the index when a fix rewrites it', async () => {
    const { src, made } = await nested({ layer: 'zstd', referrers: [{ on: 'index', artifactType: ArtifactType.SpdxJson }] });
    const dst = await layout();
    const report = await fixImage(src, 'outer', dst, target('docker-engine@20.10'), { tags: ['fixed'], include: 'all', probe: false });
    assert.equal(report.after?.verdict, 'accepted', report.account.join('\n'));
    const moved = report.renamed.find((r) => r.from === made.root.digest);
    assert.ok(moved !== undefined, 'the inner index was rewritten');
    const sbom = report.renamed.find((r) => r.from === made.referrers[0]!.digest);
    assert.ok(sbom !== undefined, 'the referrer was rewritten with the new subject');
    const referrers = await dst.referrers(moved.to);
    assert.deepEqual(
      referrers.map((r) => r.digest),
      [sbom.to],
    );
    assert.equal(await assertWhole(dst, 'fixed'), 2);
  });

  it('move-attestations takes attestations out of the nested index', async () => {
    const { src, made } = await nested({ attestations: 'legacy' });
    const report = await fixImage(src, 'outer', await layout(), target('amazon-ecr'), { tags: ['fixed'], include: 'all', probe: false });
    assert.equal(report.applied[0]?.fix, 'move-attestations');
    assert.ok(
      report.renamed.some((r) => r.from === made.root.digest && r.role === 'index'),
      report.account.join('\n'),
    );
    assert.equal(report.after?.verdict, 'accepted', report.account.join('\n'));
  });

  it('an index and the index it lists each lose their own attestation entries once, with one missing', async () => {
    // The outer index lists the attestations too. Leaving out the missing one rewrites the outer
    // index; moving the attestations then rewrites the inner one, and the outer again through it:
    // the outer index's own entries must still go.
    const src = await layout();
    const made = await synth(src, { platforms: TWO, attestations: 'legacy' });
    assert.ok(made.root.kind === 'index');
    const entries = made.root.index.manifests.filter((e) => e.platform?.os === 'unknown');
    const outer = parseStored(
      encodeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [descriptorOf(made.root), ...entries] }),
      { mediaType: MediaType.OciIndex },
    );
    await src.putManifest(outer, { tags: ['outer'], keepAsRoot: true });
    const gone = [...made.attestations.values()][0]!;
    await rm(join(src.path, 'blobs', 'sha256', gone.digest.slice('sha256:'.length)));
    const dst = await layout();
    const report = await fixImage(src, 'outer', dst, target('amazon-ecr'), { tags: ['fixed'], include: 'all', probe: false });
    assert.equal(report.after?.verdict, 'accepted', report.account.join('\n'));
    const top = await dst.getManifest('fixed');
    assert.ok(top.kind === 'index');
    assert.deepEqual(
      top.index.manifests.map((e) => e.mediaType),
      [MediaType.OciIndex],
      'the outer index lists the inner one only',
    );
    const inner = await dst.getManifest(top.index.manifests[0]!.digest);
    assert.ok(inner.kind === 'index' && inner.index.manifests.every((e) => e.platform?.os === 'linux'));
  });

  it('a child listed many times at several levels is read once and judged once', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO, layer: 'zstd' });
    const idx = (manifests: unknown[], annotations?: Record<string, string>) =>
      parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests, ...(annotations ? { annotations } : {}) }), {
        mediaType: MediaType.OciIndex,
      });
    // Two indexes list the image's index six times each; the next levels list them six times.
    const a = idx(Array(6).fill(descriptorOf(made.root)));
    const b = idx(Array(6).fill(descriptorOf(made.root)), { note: 'b' });
    const mid = idx([...Array(6).fill(descriptorOf(a)), ...Array(6).fill(descriptorOf(b))]);
    const top = idx(Array(6).fill(descriptorOf(mid)));
    for (const i of [a, b, mid]) await src.putManifest(i);
    await src.putManifest(top, { tags: ['outer'], keepAsRoot: true });
    let reads = 0;
    const counted = new Proxy(src, {
      get(t, k) {
        const v = Reflect.get(t, k) as unknown;
        if (k !== 'getManifest') return typeof v === 'function' ? v.bind(t) : v;
        return (...args: Parameters<typeof src.getManifest>) => {
          reads++;
          return t.getManifest(...args);
        };
      },
    });
    const graph = await readImageGraph(counted, 'outer', { attachments: false });
    assert.equal(reads, 1 + 3 + 1 + 2, 'the root, mid, a and b, the image index, its two manifests');
    assert.equal(graph.images.length, 2);
    assert.deepEqual(
      graph.nested.map((n) => [n.stored.digest, n.parents]),
      [
        [mid.digest, [top.digest]],
        [a.digest, [mid.digest]],
        [made.root.digest, [a.digest, b.digest]],
        [b.digest, [mid.digest]],
      ],
    );
    const report = await checkImage(src, 'outer', [target('docker-engine@20.10')], { probe: false });
    assert.equal(report.targets[0]!.problems.find((p) => p.rule === 'zstd')?.findings.length, 2);
    await assert.rejects(
      readImageGraph(src, 'outer', { attachments: false, maxDocuments: 4 }),
      (e: unknown) => isProvenantError(e, 'INVALID_MANIFEST') && e.where?.endsWith(top.digest) === true,
    );
  });

  it('judges a manifest once for each platform it is listed under', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: [parsePlatform('linux/amd64')], layer: 'zstd', index: true });
    assert.ok(made.root.kind === 'index');
    const m = made.root.index.manifests[0]!;
    const idx = (platform: Platform, note: string) =>
      parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [{ ...m, platform }], annotations: { note } }), {
        mediaType: MediaType.OciIndex,
      });
    const a = idx(parsePlatform('linux/amd64'), 'a');
    const b = idx(parsePlatform('linux/amd64/v3'), 'b');
    for (const i of [a, b]) await src.putManifest(i);
    const top = parseStored(
      encodeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [descriptorOf(a), descriptorOf(b)] }),
      {
        mediaType: MediaType.OciIndex,
      },
    );
    await src.putManifest(top, { tags: ['outer'], keepAsRoot: true });
    const graph = await readImageGraph(src, 'outer', { attachments: false });
    assert.deepEqual(
      graph.images.map((i) => formatPlatform(i.platform!)),
      ['linux/amd64', 'linux/amd64/v3'],
    );
  });

  it('fixes an image whose root lists an index and also what that index lists', async () => {
    for (const order of ['index first', 'image first']) {
      const src = await layout();
      const made = await synth(src, { platforms: TWO, layer: 'zstd' });
      const inner = parseStored(
        encodeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [descriptorOf(made.root)], annotations: { w: '1' } }),
        {
          mediaType: MediaType.OciIndex,
        },
      );
      await src.putManifest(inner);
      const listed =
        order === 'index first' ? [descriptorOf(inner), descriptorOf(made.root)] : [descriptorOf(made.root), descriptorOf(inner)];
      const top = parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: listed }), {
        mediaType: MediaType.OciIndex,
      });
      await src.putManifest(top, { tags: ['outer'], keepAsRoot: true });
      const dst = await layout();
      const report = await fixImage(src, 'outer', dst, target('docker-engine@20.10'), { tags: ['fixed'], include: 'all', probe: false });
      assert.equal(report.after?.verdict, 'accepted', order);
    }
  });

  it('fixes an image whose indexes share their children level after level, rewriting each index once', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO, layer: 'zstd' });
    // Six indexes at each of seven levels, each listing the six below: 43 indexes and 6^7 paths
    // from the top to the image's index. Re-listing an index once per path took over a million
    // rewrites; once per index is 44.
    const { top, indexes } = await diamond(src, made.root, 7, 6);
    const dst = await layout();
    const writes = new Map<string, number>();
    const counted = new Proxy(dst, {
      get(t, k) {
        const v = Reflect.get(t, k) as unknown;
        if (k !== 'putManifest') return typeof v === 'function' ? v.bind(t) : v;
        return (...args: Parameters<typeof dst.putManifest>) => {
          writes.set(args[0].digest, (writes.get(args[0].digest) ?? 0) + 1);
          return t.putManifest(...args);
        };
      },
    });
    const report = await fixImage(src, 'outer', counted, target('docker-engine@20.10'), { tags: ['fixed'], include: 'all', probe: false });
    assert.equal(report.after?.verdict, 'accepted', report.account.slice(0, 20).join('\n'));
    // Each index was rewritten once: every line about an index names its original digest and one new one.
    const rewrites = new Map<string, Set<string>>();
    for (const c of report.changes) {
      if (c.fix !== 'cascade' || c.from === undefined || c.to === undefined || !/now lists/.test(c.text)) continue;
      rewrites.set(c.from, (rewrites.get(c.from) ?? new Set()).add(c.to));
    }
    const originals = [made.root, ...indexes, top].map((i) => i.digest);
    assert.deepEqual([...rewrites.keys()].sort(), originals.sort());
    for (const [from, to] of rewrites) assert.equal(to.size, 1, `${from} was rewritten ${to.size} times`);
    const renamedIndexes = report.renamed.filter((r) => r.role === 'index');
    assert.equal(renamedIndexes.length, originals.length);
    assert.ok(
      [...writes.values()].every((n) => n === 1),
      'each document is written once',
    );
    assert.equal(await assertWhole(dst, 'fixed'), originals.length);
  });

  it('takes entries out and relists replaced manifests in one rewrite of each index of a diamond', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO, attestations: 'legacy' });
    assert.ok(made.root.kind === 'index');
    // The image's index is listed by two indexes and by the top one, which lists those two.
    const { top, indexes } = await diamond(src, made.root, 1, 2, true);
    const plan = planFromGraph(await readImageGraph(src, 'outer', { attachments: false }));
    const d = new Draft(plan, 'cascade');
    const image = made.images[0]!;
    assert.ok(image.kind === 'manifest');
    const changed = manifestStored({ ...image.manifest, annotations: { changed: 'yes' } });
    d.replace(image.digest, changed, 'changed');
    const gone = new Set<string>([...made.attestations.values()].map((a) => a.digest));
    unlistEntries(d, gone, (doc, removed) => `${d.describe(doc)} lost ${removed}`);
    const fixed = d.finish();

    const originals = [made.root, ...indexes, top].map((i) => i.digest);
    const indexRenames = fixed.renames.filter((r) => r.role === 'index');
    assert.deepEqual(indexRenames.map((r) => r.from).sort(), [...originals].sort(), 'each index once');
    assert.deepEqual(
      fixed.changes.filter((c) => /lost/.test(c.text)).map((c) => c.text),
      [`index ${short(made.root.digest)} lost 2`],
    );
    assert.equal(fixed.root, indexRenames.find((r) => r.from === top.digest)?.to);
    for (const doc of fixed.docs.values()) {
      assert.equal(digestOf(doc.stored.bytes), doc.stored.digest);
      if (doc.stored.kind !== 'index') continue;
      for (const e of doc.stored.index.manifests) {
        assert.ok(!gone.has(e.digest), `${doc.stored.digest} still lists ${e.digest}`);
        const listed = fixed.docs.get(e.digest);
        assert.ok(listed !== undefined, `${doc.stored.digest} lists ${e.digest}, which the plan does not hold`);
        assert.equal(listed.stored.bytes.byteLength, e.size);
        assert.equal(listed.stored.mediaType, e.mediaType);
      }
    }
    const inner = [...fixed.docs.values()].find((x) => x.stored.kind === 'index' && x.stored.index.manifests.length === 2);
    assert.ok(inner?.stored.kind === 'index');
    assert.deepEqual(
      inner.stored.index.manifests.map((e) => e.digest),
      [changed.digest, made.images[1]!.digest],
    );
  });

  it('fixes a diamond whose shared index lists a missing attestation and zstd images', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO, layer: 'zstd', attestations: 'legacy' });
    const { indexes } = await diamond(src, made.root, 2, 2, true);
    const gone = [...made.attestations.values()][0]!;
    await rm(join(src.path, 'blobs', 'sha256', gone.digest.slice('sha256:'.length)));
    const dst = await layout();
    const report = await fixImage(src, 'outer', dst, target('docker-engine@20.10'), { tags: ['fixed'], include: 'all', probe: false });
    assert.equal(report.after?.verdict, 'accepted', report.account.join('\n'));
    assert.ok(report.dropped.some((x) => x.digest === gone.digest));
    assert.equal(await assertWhole(dst, 'fixed'), indexes.length + 2);
  });

  it('refuses, with a typed error, a plan whose indexes list each other (a store that lied about a digest)', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO, index: true });
    const image = made.images[0]!;
    assert.ok(image.kind === 'manifest');
    const liar = digestOf('not the bytes of any index');
    const a = parseStored(
      encodeJson({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [descriptorOf(image), { mediaType: MediaType.OciIndex, digest: liar, size: 2 }],
      }),
      { mediaType: MediaType.OciIndex },
    );
    const b: Stored = {
      ...parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [descriptorOf(a)] }), {
        mediaType: MediaType.OciIndex,
      }),
      digest: liar,
    };
    const plan: Plan = {
      root: b.digest,
      docs: new Map([
        [b.digest, { stored: b, role: 'index' }],
        [a.digest, { stored: a, role: 'index' }],
        [image.digest, { stored: image, role: 'image' }],
      ]),
      blobs: new Map(),
      changes: [],
      dropped: [],
      renames: [],
    };
    const d = new Draft(plan, 'cascade');
    d.replace(image.digest, manifestStored({ ...image.manifest, annotations: { changed: 'yes' } }), 'changed');
    assert.throws(
      () => d.finish(),
      (e: unknown) => isProvenantError(e, 'INVALID_MANIFEST') && /lists itself, through/.test(e.message),
    );
  });

  it('reads an image index 8 levels down, and fails on one deeper in both check and fix', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO, layer: 'zstd' });
    const wrap = async (levels: number, tag: string) => {
      let current = made.root;
      for (let i = 0; i < levels; i++) {
        current = parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [descriptorOf(current)] }), {
          mediaType: MediaType.OciIndex,
        });
        await src.putManifest(current, i === levels - 1 ? { tags: [tag], keepAsRoot: true } : {});
      }
    };
    const engine = target('docker-engine@20.10');
    await wrap(MAX_NESTING, 'eight');
    const read = await checkImage(src, 'eight', [engine], { probe: false });
    assert.equal(read.targets[0]!.verdict, 'refused', 'the zstd manifests 8 levels down are judged');
    await wrap(MAX_NESTING + 1, 'nine');
    const deep = (e: unknown) => isProvenantError(e, 'INVALID_MANIFEST') && e.where?.endsWith(made.root.digest) === true;
    await assert.rejects(checkImage(src, 'nine', [engine], { probe: false }), deep);
    const dst = await layout();
    await assert.rejects(fixImage(src, 'nine', dst, engine, { tags: ['fixed'], include: 'all', probe: false }), deep);
    assert.deepEqual(await dst.listTags(), []);
  });

  it('judges the nesting of an index two indexes list at different depths the same whatever their order', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO, layer: 'zstd' });
    const idx = (manifests: Stored[], note: string) =>
      parseStored(
        encodeJson({
          schemaVersion: 2,
          mediaType: MediaType.OciIndex,
          manifests: manifests.map((m) => descriptorOf(m)),
          annotations: { note },
        }),
        { mediaType: MediaType.OciIndex },
      );
    // The image's index sits in `shared`, which the top lists directly (the image's index is then
    // 2 deep) and at the end of a chain of `chain` indexes (chain + 2 deep). Walked from the direct
    // entry first, the chain meets an index read already.
    const build = async (chain: number, order: 'direct first' | 'chain first', tag: string) => {
      const shared = idx([made.root], 'shared');
      await src.putManifest(shared);
      let below = shared;
      for (let i = 0; i < chain; i++) {
        below = idx([below], `${tag} ${i}`);
        await src.putManifest(below);
      }
      const top = idx(order === 'direct first' ? [shared, below] : [below, shared], tag);
      await src.putManifest(top, { tags: [tag], keepAsRoot: true });
      return shared;
    };
    const engine = target('docker-engine@20.10');
    for (const order of ['direct first', 'chain first'] as const) {
      const deepest = MAX_NESTING - 2;
      const shared = await build(deepest, order, `fits-${order.split(' ')[0]}`);
      const graph = await readImageGraph(src, `fits-${order.split(' ')[0]}`, { attachments: false });
      const depthOf = (d: string) => graph.nested.find((n) => n.stored.digest === d)?.depth;
      assert.equal(depthOf(shared.digest), MAX_NESTING - 1, order);
      assert.equal(depthOf(made.root.digest), MAX_NESTING, order);
      const tag = `deep-${order.split(' ')[0]}`;
      await build(deepest + 1, order, tag);
      const deep = (e: unknown) =>
        isProvenantError(e, 'INVALID_MANIFEST') &&
        e.where?.endsWith(made.root.digest) === true &&
        e.message.includes(`nested ${MAX_NESTING + 1} deep`);
      await assert.rejects(checkImage(src, tag, [engine], { probe: false }), deep, order);
      const dst = await layout();
      await assert.rejects(fixImage(src, tag, dst, engine, { tags: ['fixed'], include: 'all', probe: false }), deep, order);
      assert.deepEqual(await dst.listTags(), []);
    }
  });

  it('docker-media-types refuses, naming the nested index, and writes nothing', async () => {
    const { src, made } = await nested({});
    const dst = await layout();
    await assert.rejects(
      fixImage(src, 'outer', dst, target('artifactory@6.23.38'), { tags: ['fixed'], force: true, probe: false }),
      (e: unknown) => isProvenantError(e, 'INCOMPATIBLE') && e.message.includes(made.root.digest),
    );
    assert.deepEqual(await dst.listTags(), []);
  });

  it('docker-media-types names the nested index by its digest in the source, before any layer is recompressed', async () => {
    const { src, made } = await nested({ layer: 'zstd', attestations: 'legacy' });
    const dst = await layout();
    await assert.rejects(
      fixImage(src, 'outer', dst, target('artifactory@6.23.38'), { tags: ['fixed'], include: 'all', force: true, probe: false }),
      (e: unknown) =>
        isProvenantError(e, 'INCOMPATIBLE') &&
        e.message.includes(`lists the index ${made.root.digest},`) &&
        e.where === `${src.location}@${made.root.digest}` &&
        (e.hint ?? '').includes(`${src.location}@${made.root.digest}`),
    );
    assert.deepEqual(await dst.listTags(), []);
  });
});

/**
 * Indexes over `bottom`: `levels` levels of `width` indexes, each listing every index of the
 * level below, under one top index tagged `outer`. With `direct`, the top lists `bottom` too.
 */
async function diamond(store: LayoutStore, bottom: Stored, levels: number, width: number, direct = false) {
  const indexes: Stored[] = [];
  let level: Stored[] = [bottom];
  for (let l = 0; l < levels; l++) {
    const next: Stored[] = [];
    for (let j = 0; j < width; j++) {
      const index = parseStored(
        encodeJson({
          schemaVersion: 2,
          mediaType: MediaType.OciIndex,
          manifests: level.map((c) => descriptorOf(c)),
          annotations: { l: `${l}`, j: `${j}` },
        }),
        { mediaType: MediaType.OciIndex },
      );
      await store.putManifest(index);
      next.push(index);
    }
    indexes.push(...next);
    level = next;
  }
  const manifests = [...level, ...(direct ? [bottom] : [])].map((c) => descriptorOf(c));
  const top = parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }), { mediaType: MediaType.OciIndex });
  await store.putManifest(top, { tags: ['outer'], keepAsRoot: true });
  return { top, indexes };
}

/**
 * Checks that every document the image `ref` names is in `store` under its digest, with the size
 * and media type it is listed with, and that the blobs of its manifests are too; returns how many
 * indexes it has.
 */
async function assertWhole(store: ContentStore, ref: string): Promise<number> {
  const root = await store.getManifest(ref);
  const todo: Stored[] = [root];
  const seen = new Set<string>([root.digest]);
  let indexes = 0;
  for (let s = todo.pop(); s !== undefined; s = todo.pop()) {
    assert.equal(digestOf(s.bytes), s.digest);
    if (s.kind === 'manifest') {
      for (const b of [s.manifest.config, ...s.manifest.layers]) {
        assert.ok((await store.statBlob(b.digest)) !== undefined, `${b.digest} of ${s.digest} is not written`);
      }
      continue;
    }
    indexes++;
    for (const e of s.index.manifests) {
      const child = await store.getManifest(e.digest);
      assert.equal(child.bytes.byteLength, e.size, `the size ${s.digest} gives ${e.digest}`);
      assert.equal(child.mediaType, e.mediaType, `the media type ${s.digest} gives ${e.digest}`);
      if (!seen.has(e.digest)) todo.push(child);
      seen.add(e.digest);
    }
  }
  return indexes;
}
