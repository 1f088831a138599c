/**
 * A BuildKit attestation manifest that `fix` moves out of the index is written under a digest of
 * its own, which nothing signs; a caller that signs the fixed image (as `build --target --sign`
 * does) signs its statements again as attestations of their subject. What the account and the
 * report say of it then: matched statement by statement (two statements of one predicate type are
 * two), and named in the report's `signing` as the text names it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { statement, storeAttestations } from '../../src/attest/storage.ts';
import { short } from '../../src/compat/detectors.ts';
import {
  attestationsSignedAgain,
  type FixReport,
  fixImage,
  type SignedInfo,
  type SignedStatement,
  signedAfterFix,
  statementsNotSaidAgain,
} from '../../src/compat/fix.ts';
import { loadProfiles, selectTargets } from '../../src/compat/profile.ts';
import { descriptorOf } from '../../src/oci/content.ts';
import type { Digest } from '../../src/oci/digest.ts';
import { parsePlatform } from '../../src/oci/platform.ts';
import { Annotation } from '../../src/oci/types.ts';
import { generateSigningKeyPair } from '../../src/sign/keys.ts';
import { attesterOf, attestImage, resignerOf, type SignedEntry, signImage } from '../../src/sign/sign.ts';
import { KeySigner } from '../../src/sign/signer.ts';
import { verifyImage } from '../../src/sign/verify.ts';
import type { LayoutStore } from '../../src/store/layout.ts';
import { useTempLayout } from '../helpers/temp.ts';
import { synth } from './images.ts';

const layout = useTempLayout('compat-signed-again');
const profiles = await loadProfiles();
const lambda = selectTargets(profiles, 'aws-lambda')[0]!;
const SPDX = 'https://spdx.dev/Document';

describe('a BuildKit attestation manifest the fix moved, its statements signed again after the fix', () => {
  const keys = generateSigningKeyPair();
  const signer = new KeySigner(keys.privateKey);

  /**
   * A two-platform index whose amd64 image has one BuildKit (legacy, in-index) attestation
   * manifest holding two SPDX statements, fixed for Lambda (the amd64 manifest in place of the
   * index; its attestation manifest moved out of the index, to a referrer of a digest of its own).
   */
  const fixedForLambda = async () => {
    const src = await layout();
    const made = await synth(src, { platforms: [parsePlatform('linux/amd64'), parsePlatform('linux/arm64')] });
    const amd64 = made.images[0]!;
    const statements = ['first', 'second'].map((document) =>
      statement(SPDX, { document }, [{ name: 'example.org/app', digest: amd64.digest }]),
    );
    const index = await storeAttestations(src, made.root, [{ manifest: amd64, statements }], 'buildkit');
    await src.putManifest(index, { tags: ['attested'] });
    const dst = await layout();
    const report = await fixImage(src, 'attested', dst, lambda, { tags: ['fixed'], probe: false });
    assert.equal(report.written, true, report.account.join('\n'));
    assert.equal(report.destination?.digest, amd64.digest, report.account.join('\n'));
    const moved = report.renamed.find((r) => r.role === 'attachment' && r.kind === 'attestation');
    assert.ok(moved !== undefined, JSON.stringify(report.renamed));
    assert.ok(report.signing.unsigned.includes(moved.to), report.signing.statement);
    assert.deepEqual(report.signing.remade, [], 'nothing is signed yet');
    return { dst, report, amd64: amd64.digest, statements, moved: moved.to };
  };

  /** The amd64 manifest signed, and `statements` attested about it, in `dst`, as the build signs after a fix. */
  const sign = async (dst: LayoutStore, amd64: Digest, statements: Parameters<typeof attestImage>[2]): Promise<SignedEntry[]> => [
    ...(await signImage(dst, amd64, { signer, dockerReference: 'example.org/app', storages: ['referrers'] })),
    ...(await attestImage(dst, amd64, statements, { signer, storage: 'referrers' })),
  ];

  /** `report` once `entries` were signed: what signedAfterFix is given, the moved attestations matched by statement. */
  const after = async (dst: LayoutStore, report: FixReport, entries: readonly SignedEntry[]) => {
    const signatures: SignedInfo[] = entries
      .filter((e) => e.predicateType === undefined)
      .map((e) => ({ subject: e.digest, signature: e.location as Digest, storage: e.storage }));
    const signed: SignedStatement[] = entries.flatMap((e) =>
      e.statement === undefined ? [] : [{ about: e.digest, statement: e.statement }],
    );
    const statements = new Map<Digest, string[]>();
    for (const e of entries)
      if (e.predicateType !== undefined) statements.set(e.digest, [...(statements.get(e.digest) ?? []), e.predicateType]);
    const remade = await attestationsSignedAgain(dst, report, signed);
    return { remade, report: signedAfterFix(report, { signatures, statements, remade }) };
  };

  it('one of two statements of one predicate type signed again: the moved manifest is not said to be signed again, and is still unsigned', async () => {
    const { dst, report, amd64, statements, moved } = await fixedForLambda();
    const entries = await sign(dst, amd64, [statements[0]!]);
    // Every predicate type the moved manifest holds was signed about the amd64 manifest: by type
    // alone, the second statement would count as signed again.
    assert.deepEqual(
      entries.flatMap((e) => e.predicateType ?? []),
      [SPDX],
    );
    const { remade, report: signed } = await after(dst, report, entries);
    assert.deepEqual(remade, []);
    assert.deepEqual(signed.signing.remade, []);
    assert.deepEqual(signed.signing.unsigned, [moved]);
    assert.ok(!signed.signing.statement.includes('Not signed: attestation'), signed.signing.statement);
    assert.ok(signed.signing.statement.includes(`Still unsigned: ${short(moved)}.`), signed.signing.statement);
    assert.ok(signed.account.includes(signed.signing.statement), signed.account.join('\n'));
  });

  it('both signed again: the account says so, and the report lists the manifest as unsigned and as signed again about its subject', async () => {
    const { dst, report, amd64, statements, moved } = await fixedForLambda();
    const entries = await sign(dst, amd64, statements);
    const { remade, report: signed } = await after(dst, report, entries);
    assert.deepEqual(remade, [{ attestation: moved, about: amd64 }]);
    assert.deepEqual(signed.signing.unsigned, [moved], 'the moved manifest itself is signed by nothing');
    assert.deepEqual(signed.signing.remade, [{ attestation: moved, about: amd64 }]);
    assert.deepEqual(
      signed.signing.resigned.map((r) => r.subject),
      [amd64],
    );
    const line = `Not signed: attestation ${short(moved)}, which the fix moved; its statements are signed again as attestations of ${short(amd64)}.`;
    assert.ok(signed.signing.statement.includes(line), signed.signing.statement);
    assert.ok(!signed.signing.statement.includes('Still unsigned'), signed.signing.statement);
    // The report says what is so: both statements verify as attestations of the amd64 manifest.
    const verified = await verifyImage(dst, amd64, { policy: { key: keys.publicKey }, kind: 'attestation', predicateType: SPDX });
    assert.equal(verified.verified.length, 2, JSON.stringify(verified.checked));
  });

  it('is nothing for a fix that wrote nothing', async () => {
    const { dst, report, amd64, statements } = await fixedForLambda();
    const entries = await sign(dst, amd64, statements);
    const signed = entries.flatMap((e) => (e.statement === undefined ? [] : [{ about: e.digest, statement: e.statement }]));
    assert.deepEqual(await attestationsSignedAgain(dst, { ...report, written: false }, signed), []);
  });
});

/**
 * Statements left out with their subject (a platform image the fix recompressed: another digest)
 * and made again about the image written in its place cannot be matched by their bytes (they name
 * another subject): by predicate type, counted. Two SPDX statements left out, one made again, is
 * not both made again.
 */
describe('statements left out with a replaced subject, made again about the image written: counted by predicate type', () => {
  /** An amd64 image with zstd layers and an (unsigned) attestation referrer holding two SPDX statements, fixed for Docker 20.10. */
  const recompressed = async () => {
    const src = await layout();
    const made = await synth(src, { platforms: [parsePlatform('linux/amd64'), parsePlatform('linux/arm64')], layer: 'zstd' });
    const amd64 = made.images[0]!;
    const statements = ['first', 'second'].map((document) =>
      statement(SPDX, { document }, [{ name: 'example.org/app', digest: amd64.digest }]),
    );
    await storeAttestations(src, made.root, [{ manifest: amd64, statements }], 'referrers');
    const dst = await layout();
    const report = await fixImage(src, made.tag, dst, selectTargets(profiles, 'docker-engine@20.10')[0]!, {
      tags: ['fixed'],
      probe: false,
    });
    assert.equal(report.written, true, report.account.join('\n'));
    const fixed = report.renamed.find((r) => r.from === amd64.digest)?.to;
    assert.ok(fixed !== undefined && fixed !== amd64.digest, 'the fix changed the image’s digest');
    assert.equal(report.statementsLeftOut.length, 1, JSON.stringify(report.statementsLeftOut));
    const left = report.statementsLeftOut[0]!;
    // One per statement: two of one type are listed twice.
    assert.deepEqual(left.predicateTypes, [SPDX, SPDX]);
    return { src, dst, made, amd64, report, fixed, left };
  };
  const REMADE = /the same statements were made again about/;

  it('signedAfterFix: one of two SPDX statements made again does not say the attestation’s statements were', async () => {
    const { report, fixed, left } = await recompressed();
    const why = (types: string[]) =>
      signedAfterFix(report, { signatures: [], statements: new Map([[fixed, types]]) }).dropped.find((d) => d.digest === left.attestation)
        ?.why;
    assert.doesNotMatch(why([SPDX]) ?? '', REMADE);
    assert.match(why([SPDX, SPDX]) ?? '', REMADE);
  });

  it('statementsNotSaidAgain: one of two SPDX statements signed about the image written leaves them named as not signed', async () => {
    const { dst, made, amd64, report, fixed } = await recompressed();
    const statements = ['first', 'second'].map((document) =>
      statement(SPDX, { document }, [{ name: 'example.org/app', digest: amd64.digest }]),
    );
    const fixedImage = await dst.getManifest(fixed);
    const written = descriptorOf(await dst.getManifest('fixed'));
    const build = (kept: number) => ({
      made: [{ manifest: amd64, statements }],
      kept: [
        {
          manifest: fixedImage,
          statements: statements
            .slice(0, kept)
            .map((s) => statement(s.predicateType, { again: true }, [{ name: 'example.org/app', digest: fixed }])),
        },
      ],
      builtIndex: made.root.digest,
      written,
      replaced: new Map([[amd64.digest, fixed]]),
    });
    assert.deepEqual(statementsNotSaidAgain(report, build(1)), [{ about: amd64.digest, predicateTypes: [SPDX, SPDX] }]);
    assert.deepEqual(statementsNotSaidAgain(report, build(2)), []);
  });
});

describe('a BuildKit attestation the fix moved for ECR, fixed with a key (fix --key, the Action)', () => {
  const ecr = selectTargets(profiles, 'amazon-ecr')[0]!;
  const signer = new KeySigner(generateSigningKeyPair().privateKey);
  const SLSA = 'https://slsa.dev/provenance/v1';

  /** A two-platform index whose amd64 image has a BuildKit provenance statement, fixed for ECR with every attachment. */
  const fixForEcr = async (withAttester: boolean, options: { withoutSubject?: number; notStatement?: boolean; signed?: boolean } = {}) => {
    const src = await layout();
    const made = await synth(src, { platforms: [parsePlatform('linux/amd64'), parsePlatform('linux/arm64')] });
    const amd64 = made.images[0]!;
    const s = statement(SLSA, {}, [{ name: 'example.org/app', digest: amd64.digest }]);
    // BuildKit leaves a statement's subject empty where it has none to name.
    const bare = Array.from({ length: options.withoutSubject ?? 0 }, (_, i) => statement(SPDX, { document: i }, []));
    // JSON, but no object: no statement at all.
    const odd = options.notStatement === true ? [{ predicateType: SPDX, bytes: new TextEncoder().encode('"no statement"') }] : [];
    await src.putManifest(await storeAttestations(src, made.root, [{ manifest: amd64, statements: [s, ...bare, ...odd] }], 'buildkit'), {
      tags: ['1'],
    });
    if (options.signed === true) await signImage(src, '1', { signer, dockerReference: 'example.org/app', storages: ['referrers'] });
    const dst = await layout();
    const report = await fixImage(src, '1', dst, ecr, {
      tags: ['fixed'],
      probe: false,
      include: 'all',
      resign: resignerOf(signer, { dockerReference: 'example.org/app' }),
      ...(withAttester ? { attest: attesterOf(signer) } : {}),
    });
    assert.equal(report.written, true, report.account.join('\n'));
    assert.equal(report.signing.moved.length, 1, report.account.join('\n'));
    return { report, moved: report.signing.moved[0]!, amd64: amd64.digest };
  };

  it('given a key and no attester, says the moved manifest is signed as a manifest, never that no signature covers it', async () => {
    const { report, moved } = await fixForEcr(false);
    const text = report.account.join('\n');
    assert.ok(
      report.signing.resigned.some((r) => r.subject === moved.attestation),
      text,
    );
    assert.ok(!text.includes('No signature covers'), text);
    assert.ok(
      text.includes(
        `Attestation ${short(moved.attestation)} of ${short(moved.about)}, which the fix moved out of the index, is signed as said, as a manifest;`,
      ),
      text,
    );
  });

  it('given an attester as fix --key and the Action give, signs the statements again as attestations of their image', async () => {
    const { report, moved, amd64 } = await fixForEcr(true);
    const text = report.account.join('\n');
    assert.ok(!text.includes('No signature covers'), text);
    assert.deepEqual(report.signing.remade, [{ attestation: moved.attestation, about: amd64 }]);
    assert.ok(text.includes(`its statements are signed again as attestations of ${short(amd64)}.`), text);
  });

  // A last read: a statement with no subject was passed over when the statements were signed
  // again, and the account said only that they were not, never why.
  it('given an attester, says why statements that name no subject are not signed again', async () => {
    const { report, moved, amd64 } = await fixForEcr(true, { withoutSubject: 2 });
    const text = report.account.join('\n');
    assert.deepEqual(report.signing.remade, [], text);
    assert.ok(
      text.includes(
        `not all of its statements are signed again as attestations of ${short(amd64)}, where a verifier of ${short(amd64)}'s attestations looks: ` +
          `2 of its 3 name no subject, and a statement is signed again only about a manifest it names.`,
      ),
      text,
    );
    assert.ok(
      report.signing.resigned.some((r) => r.subject === moved.attestation),
      text,
    );
  });

  // A final read: with a key to sign manifests again and no attester, none of the statements was
  // signed again, yet the account said "not all of" them were, because one names no subject.
  it('given a key and no attester, says the statements are not signed again, and no why of one that was not tried', async () => {
    const { report, amd64 } = await fixForEcr(false, { withoutSubject: 1, signed: true });
    const text = report.account.join('\n');
    assert.deepEqual(report.signing.remade, [], text);
    assert.ok(
      text.includes(
        `its statements are not signed again as attestations of ${short(amd64)}, where a verifier of ${short(amd64)}'s attestations looks.`,
      ),
      text,
    );
    assert.ok(!text.includes('not all of'), text);
  });

  // A final read: a layer that is JSON but no object was counted as naming no subject.
  it('given an attester, tells a layer that is no statement from one that names no subject', async () => {
    const { report } = await fixForEcr(true, { withoutSubject: 1, notStatement: true });
    const text = report.account.join('\n');
    assert.ok(text.includes('1 of its 3 names no subject, 1 of its 3 is no in-toto statement'), text);
  });

  it('given no key, the index signed: says a fix given one would not sign again the statements that name no subject, and why', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: [parsePlatform('linux/amd64'), parsePlatform('linux/arm64')] });
    const amd64 = made.images[0]!.digest;
    const bare = [statement(SPDX, { document: 0 }, [])];
    await src.putManifest(await storeAttestations(src, made.root, [{ manifest: made.images[0]!, statements: bare }], 'buildkit'), {
      tags: ['1'],
    });
    await signImage(src, '1', { signer, dockerReference: 'example.org/app', storages: ['referrers'] });
    const report = await fixImage(src, '1', await layout(), ecr, { tags: ['fixed'], probe: false, include: 'all' });
    assert.equal(report.written, true, report.account.join('\n'));
    const moved = report.signing.moved[0]!;
    assert.ok(
      report.signing.statement.includes(
        `No signature covers attestation ${short(moved.attestation)} of ${short(amd64)} any more: the fix moved it out of the index, whose signature covered its statements; ` +
          `a fix given a key or identity (fix --key or --keyless) cannot sign them again as attestations of ${short(amd64)}: ` +
          '1 of its 1 names no subject, and a statement is signed again only about a manifest it names.',
      ),
      report.signing.statement,
    );
  });
});

describe('a BuildKit attestation the fix moved out of an index nothing signed', () => {
  const signer = new KeySigner(generateSigningKeyPair().privateKey);

  for (const signed of [false, true]) {
    const said = signed
      ? 'the index signed: says no signature covers its statements any more'
      : 'nothing signed: never says a signature covered its statements';
    it(`aws-lambda, ${said}`, async () => {
      const src = await layout();
      const made = await synth(src, { attestations: 'legacy', tag: 'bk' });
      if (signed) await signImage(src, 'bk', { signer, dockerReference: 'example.org/app', storages: ['referrers'] });
      const report = await fixImage(src, 'bk', await layout(), lambda, { tags: ['fixed'], probe: false });
      assert.equal(report.written, true, report.account.join('\n'));
      assert.equal(report.signing.moved.length, 1, report.account.join('\n'));
      const moved = report.signing.moved[0]!;
      assert.equal(moved.about, made.images[0]!.digest);
      assert.deepEqual(report.signing.movedFromSigned, signed ? [moved.attestation] : []);
      const lost = report.signing.statement.includes(`No signature covers attestation ${short(moved.attestation)}`);
      assert.equal(lost, signed, report.signing.statement);
    });
  }
});

describe('a BuildKit attestation the fix merged into the .att image its subject had already', () => {
  const signer = new KeySigner(generateSigningKeyPair().privateKey);
  const SLSA = 'https://slsa.dev/provenance/v1';

  /**
   * A signed two-platform index (Docker media types: the fix changes no image digest, and so no
   * statement goes stale) with BuildKit's provenance of each image listed in it, the amd64 image
   * with a signed SPDX statement under its cosign `.att` tag; fixed for Docker 18.03, which moves
   * BuildKit's to the `.att` tags: the amd64 one's layers join the manifest that tag names.
   */
  const fixMerged = async (withKey: boolean) => {
    const src = await layout();
    const made = await synth(src, { platforms: [parsePlatform('linux/amd64'), parsePlatform('linux/arm64')], mediaTypes: 'docker' });
    const amd64 = made.images[0]!.digest;
    const statements = made.images.map((m) => ({
      manifest: m,
      statements: [statement(SLSA, { image: m.digest }, [{ name: 'example.org/app', digest: m.digest }])],
    }));
    const index = await storeAttestations(src, made.root, statements, 'buildkit');
    await src.putManifest(index, { tags: ['bk'], keepAsRoot: true });
    if (index.kind !== 'index') throw new Error('not an index');
    const buildkit = index.index.manifests.find((e) => e.annotations?.[Annotation.DockerReferenceDigest] === amd64)!.digest;
    await attestImage(src, amd64, [statement(SPDX, {}, [{ name: 'example.org/app', digest: amd64 }])], { signer, storage: 'cosign' });
    await signImage(src, 'bk', { signer, dockerReference: 'example.org/app', storages: ['cosign'] });
    const report = await fixImage(src, 'bk', await layout(), selectTargets(profiles, 'docker-engine@18.03')[0]!, {
      tags: ['fixed'],
      probe: false,
      ...(withKey ? { resign: resignerOf(signer, { dockerReference: 'example.org/app' }), attest: attesterOf(signer) } : {}),
    });
    assert.equal(report.written, true, report.account.join('\n'));
    assert.deepEqual(report.statementsLeftOut, [], report.account.join('\n'));
    const merged = report.signing.moved.find((m) => m.about === amd64);
    return { report, buildkit, merged, amd64 };
  };

  it('says it moved, where its statements are, and that the index signature no longer covers them', async () => {
    const { report, buildkit, merged } = await fixMerged(false);
    const text = report.account.join('\n');
    assert.equal(merged?.merged, buildkit, text);
    assert.equal(merged.layers?.length, 1);
    assert.equal(report.signing.moved.length, 2, text);
    assert.ok(report.signing.movedFromSigned.includes(merged.attestation), JSON.stringify(report.signing));
    assert.ok(!report.dropped.some((d) => d.digest === buildkit), text);
    assert.ok(!text.includes(`Not carried: attestation ${short(buildkit)}`), text);
    assert.ok(
      report.signing.statement.includes(
        `No signature covers attestation ${short(buildkit)} (its statements now in attestation ${short(merged.attestation)}) of ${short(merged.about)} any more`,
      ),
      report.signing.statement,
    );
  });

  it('given a key, signs its statements again as attestations of its image', async () => {
    const { report, buildkit, merged } = await fixMerged(true);
    const text = report.account.join('\n');
    assert.ok(merged !== undefined, text);
    assert.ok(
      report.signing.remade.some((r) => r.merged === buildkit && r.attestation === merged.attestation),
      JSON.stringify(report.signing),
    );
    assert.ok(text.includes(`its statements are signed again as attestations of ${short(merged.about)}.`), text);
  });
});
