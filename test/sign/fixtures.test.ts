/**
 * Every real signature and bundle of ../shared/fixtures/sig (and the cosign ones of
 * ../shared/fixtures/oci) verifies or fails as their SOURCES.md says, through the store code
 * path: each is attached to its subject in an OCI layout the way cosign attaches it, then
 * verified with verifyImage, the function a registry is verified with too.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Bundle } from '@sigstore/bundle';
import { isProvenantError } from '../../src/errors.ts';
import { bytesSource } from '../../src/io/types.ts';
import { type Digest, digestOf } from '../../src/oci/digest.ts';
import { parsePublicKey, pemDecode, pemDecodeAll } from '../../src/sign/keys.ts';
import type { Signed } from '../../src/sign/signer.ts';
import { findSignatures, signatureLayer } from '../../src/sign/storage.ts';
import { parseTrustedRoot } from '../../src/sign/trust.ts';
import { type CheckedSignature, shownExtension, type VerificationPolicy, type VerifyOptions, verifyImage } from '../../src/sign/verify.ts';
import { fixturesMissing } from '../helpers/fixtures.ts';
import {
  cimageLayer,
  ociFixture,
  putBundleReferrer,
  putCosignLayer,
  putManifestBytes,
  sigFixture,
  statementSubject,
  tempLayout,
  trustedRoot,
} from './helpers.ts';

const key = async (name: string) => parsePublicKey(await sigFixture(name), name);
const PGI = 'sjs-tuf-seeds-trusted_root-public-good.json';
const CONFORMANCE: VerificationPolicy = {
  certificateIdentity:
    'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main',
  certificateOidcIssuer: 'https://token.actions.githubusercontent.com',
};
const BRIAN: VerificationPolicy = { certificateIdentity: 'brian@dehamer.com', certificateOidcIssuer: 'https://github.com/login/oauth' };

/** A bundle's JSON, as far as the tests change it. */
interface BundleJson {
  verificationMaterial: { tlogEntries: { inclusionProof: { rootHash: string; treeSize: string } }[] };
}

/** `bytes`, a bundle's JSON, as `edit` changes it. */
function edited(bytes: Buffer, edit: (bundle: BundleJson) => void): Buffer {
  const doc = JSON.parse(bytes.toString('utf8')) as BundleJson;
  edit(doc);
  return Buffer.from(JSON.stringify(doc));
}

/** The first log entry's inclusion proof, its root hash with one bit flipped. */
function otherRootHash(bundle: BundleJson): void {
  const proof = bundle.verificationMaterial.tlogEntries[0]!.inclusionProof;
  const root = Buffer.from(proof.rootHash, 'base64');
  root[0]! ^= 1;
  proof.rootHash = root.toString('base64');
}

function only(checked: CheckedSignature[]): CheckedSignature {
  assert.equal(checked.length, 1, JSON.stringify(checked.map((c) => c.source)));
  return checked[0]!;
}

function ok(c: CheckedSignature): void {
  assert.equal(c.verified, true, `${c.source}: ${c.reason} ${c.message}`);
}

function fails(c: CheckedSignature, reason: CheckedSignature['reason'], message?: RegExp): void {
  assert.equal(c.verified, false, `${c.source} verified but should not`);
  assert.equal(c.reason, reason, `${c.source}: ${c.message}`);
  if (message !== undefined) assert.match(c.message ?? '', message);
}

describe('containers/image cosign signatures, attached as cosign 2 does', { skip: fixturesMissing }, () => {
  async function image(manifest: string, signature: string): Promise<{ store: Awaited<ReturnType<typeof tempLayout>>; digest: Digest }> {
    const store = await tempLayout();
    const digest = await putManifestBytes(store, await sigFixture(manifest), 'img');
    await putCosignLayer(store, digest, await cimageLayer(signature));
    return { store, digest };
  }

  it('dir-img-cosign-valid: OK with cosign.pub, FAIL with cosign2.pub', async () => {
    const { store, digest } = await image('cimage-dir-img-cosign-valid.manifest.json', 'cimage-dir-img-cosign-valid.signature-1');
    assert.equal(digest, 'sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00');
    const good = only((await verifyImage(store, digest, { policy: { key: await key('cimage-cosign.pub') } })).checked);
    ok(good);
    assert.equal(good.payload?.dockerReference, '192.168.64.2:5000/cosign-signed-single-sample');
    assert.equal(good.transparencyLog, false);
    fails(only((await verifyImage(store, digest, { policy: { key: await key('cimage-cosign2.pub') } })).checked), 'signature', /given key/);
  });

  it('dir-img-cosign-valid-with-tag (made by containers/image): OK with cosign.pub', async () => {
    const { store, digest } = await image(
      'cimage-dir-img-cosign-valid-with-tag.manifest.json',
      'cimage-dir-img-cosign-valid-with-tag.signature-1',
    );
    const c = only((await verifyImage(store, digest, { policy: { key: await key('cimage-cosign.pub') } })).checked);
    ok(c);
    assert.deepEqual(c.payload?.optional, { creator: 'containers/image 5.21.2-dev', timestamp: 1657296609 });
  });

  it('dir-img-cosign-modified-manifest: the signature verifies, the digest claim does not', async () => {
    const { store, digest } = await image(
      'cimage-dir-img-cosign-modified-manifest.manifest.json',
      'cimage-dir-img-cosign-valid.signature-1',
    );
    const c = only((await verifyImage(store, digest, { policy: { key: await key('cimage-cosign.pub') } })).checked);
    fails(c, 'wrong-subject', /is for sha256:634a8f35.*not for this image \(sha256:d9dcafdb/);
  });

  it('unknown-cosign-key: FAIL with cosign.pub and cosign2.pub', async () => {
    const { store, digest } = await image('cimage-dir-img-cosign-valid.manifest.json', 'cimage-unknown-cosign-key.signature');
    for (const pub of ['cimage-cosign.pub', 'cimage-cosign2.pub']) {
      fails(only((await verifyImage(store, digest, { policy: { key: await key(pub) } })).checked), 'signature');
    }
  });

  it('dir-img-cosign-key-rekor-valid: OK with cosign2.pub and the Rekor SET checked; FAIL with cosign.pub', async () => {
    const { store, digest } = await image(
      'cimage-dir-img-cosign-key-rekor-valid.manifest.json',
      'cimage-dir-img-cosign-key-rekor-valid.signature-1',
    );
    const root = await trustedRoot(PGI);
    const c = only((await verifyImage(store, digest, { policy: { key: await key('cimage-cosign2.pub') }, trustedRoot: root })).checked);
    ok(c);
    assert.equal(c.transparencyLog, true);
    assert.equal(c.loggedAt?.toISOString(), '2023-01-20T21:57:39.000Z');
    fails(
      only((await verifyImage(store, digest, { policy: { key: await key('cimage-cosign.pub') }, trustedRoot: root })).checked),
      'signature',
    );
    // The same, requiring a log entry, with and without one.
    ok(
      only(
        (
          await verifyImage(store, digest, {
            policy: { key: await key('cimage-cosign2.pub') },
            trustedRoot: root,
            requireTransparencyLog: true,
          })
        ).checked,
      ),
    );
  });

  it('dir-img-cosign-key-rekor-valid: FAIL when the "Rekor key" is cosign.pub (the SET does not verify)', async () => {
    const { store, digest } = await image(
      'cimage-dir-img-cosign-key-rekor-valid.manifest.json',
      'cimage-dir-img-cosign-key-rekor-valid.signature-1',
    );
    const doc = JSON.parse((await sigFixture(PGI)).toString());
    const der = parsePublicKey(await sigFixture('cimage-cosign.pub'))
      .export({ format: 'der', type: 'spki' })
      .toString('base64');
    for (const t of doc.tlogs) t.publicKey.rawBytes = der;
    const root = parseTrustedRoot(JSON.stringify(doc));
    const c = only((await verifyImage(store, digest, { policy: { key: await key('cimage-cosign2.pub') }, trustedRoot: root })).checked);
    fails(c, 'transparency-log', /signed entry timestamp does not verify/);
  });

  it('dir-img-cosign-fulcio-rekor-valid: keyless OK, the certificate expired but valid at the entry’s integrated time', async () => {
    const { store, digest } = await image(
      'cimage-dir-img-cosign-fulcio-rekor-valid.manifest.json',
      'cimage-dir-img-cosign-fulcio-rekor-valid.signature-1',
    );
    const policy = { certificateIdentity: 'mitr@redhat.com', certificateOidcIssuer: 'https://github.com/login/oauth' };
    for (const rootName of [PGI, 'sgo-trusted_root-public-good.json', 'cosign-trusted_root_pgi.json']) {
      const c = only((await verifyImage(store, digest, { policy, trustedRoot: await trustedRoot(rootName) })).checked);
      ok(c);
      assert.deepEqual(c.signer, { identity: 'mitr@redhat.com', issuer: 'https://github.com/login/oauth' });
      assert.equal(c.loggedAt?.toISOString(), '2023-01-20T20:51:33.000Z');
    }
    const root = await trustedRoot(PGI);
    fails(
      only(
        (await verifyImage(store, digest, { policy: { ...policy, certificateIdentity: 'someone@example.com' }, trustedRoot: root }))
          .checked,
      ),
      'identity',
      /"mitr@redhat.com", not "someone@example.com"/,
    );
    fails(
      only(
        (
          await verifyImage(store, digest, {
            policy: { ...policy, certificateOidcIssuer: 'https://accounts.google.com' },
            trustedRoot: root,
          })
        ).checked,
      ),
      'issuer',
    );
    ok(
      only(
        (
          await verifyImage(store, digest, {
            policy: { certificateIdentity: /@redhat\.com$/, certificateOidcIssuer: /github/ },
            trustedRoot: root,
          })
        ).checked,
      ),
    );
    // A key policy does not accept a keyless signature.
    fails(
      only((await verifyImage(store, digest, { policy: { key: await key('cimage-cosign.pub') }, trustedRoot: root })).checked),
      'signature',
    );
  });

  it('internal rekor-payload/sig/cert/set: keyless OK (the signature with its cert and SET as a .sig layer)', async () => {
    const store = await tempLayout();
    const payload = await sigFixture('cimage-internal-rekor-payload');
    const digest = 'sha256:fa93b01658e3a5a1686dc3ae55f170d8de487006fb53a28efcd12ab0710a2e5f' as Digest;
    await putCosignLayer(store, digest, {
      mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
      payload,
      annotations: {
        'dev.cosignproject.cosign/signature': (await sigFixture('cimage-internal-rekor-sig')).toString().trim(),
        'dev.sigstore.cosign/certificate': (await sigFixture('cimage-internal-rekor-cert')).toString(),
        'dev.sigstore.cosign/chain': '',
        'dev.sigstore.cosign/bundle': (await sigFixture('cimage-internal-rekor-set')).toString().trim(),
      },
    });
    const policy = { certificateIdentity: 'mitr@redhat.com', certificateOidcIssuer: 'https://github.com/login/oauth' };
    ok(only((await verifyImage(store, digest, { policy, trustedRoot: await trustedRoot(PGI) })).checked));
  });
});

describe('Sigstore bundles attached as cosign 3 does (OCI referrers)', { skip: fixturesMissing }, () => {
  /** Attaches a DSSE bundle to the digest its statement names, and verifies its attestations there. */
  async function dsse(name: string, options: Omit<VerifyOptions, 'kind'>, subject?: Digest) {
    const store = await tempLayout();
    const bytes = await sigFixture(name);
    const named = statementSubject(bytes);
    await putBundleReferrer(store, { digest: subject ?? named.digest }, bytes, named.predicateType);
    return verifyImage(store, subject ?? named.digest, { ...options, kind: 'attestation' });
  }

  /**
   * Attaches a message-signature bundle to its artifact (stored as a blob) and verifies; `edit`
   * changes the bundle's JSON in memory first.
   */
  async function message(name: string, artifact: string, options: Omit<VerifyOptions, 'kind'>, edit?: (bundle: BundleJson) => void) {
    const store = await tempLayout();
    const art = await sigFixture(artifact);
    const digest = digestOf(art);
    await store.putBlob(bytesSource({ mediaType: 'application/octet-stream', digest, size: art.length }, art));
    const bundle = edit === undefined ? await sigFixture(name) : edited(await sigFixture(name), edit);
    await putBundleReferrer(store, { digest, mediaType: 'application/octet-stream', size: art.length }, bundle, undefined);
    return verifyImage(store, digest, options);
  }

  it('cosign-oci-attestation: OK for its own digest, FAIL when copied onto another image', async () => {
    const policy = { certificateIdentity: 'cody@soyland.com', certificateOidcIssuer: 'https://github.com/login/oauth' };
    for (const root of ['cosign-trusted_root_pgi.json', PGI]) {
      const c = only((await dsse('cosign-oci-attestation.sigstore.json', { policy, trustedRoot: await trustedRoot(root) })).checked);
      ok(c);
      assert.equal(c.predicateType, 'https://cosign.sigstore.dev/attestation/v1');
      assert.equal(c.storage, 'referrers');
    }
    const other = `sha256:${'1'.repeat(64)}` as Digest;
    const c = only((await dsse('cosign-oci-attestation.sigstore.json', { policy, trustedRoot: await trustedRoot(PGI) }, other)).checked);
    fails(c, 'wrong-subject', /about sha256:732112270d7e.*copied from another image/);
    fails(
      only(
        (
          await dsse('cosign-oci-attestation.sigstore.json', {
            policy: { ...policy, certificateIdentity: /wrong/ },
            trustedRoot: await trustedRoot(PGI),
          })
        ).checked,
      ),
      'identity',
    );
  });

  it('cosign v3.0.2’s real signature referrer (ecr-public): the referrer and bundle bytes as pushed, verified keyless with its TSA timestamp', async () => {
    const store = await tempLayout();
    const subject = await putManifestBytes(
      store,
      await ociFixture('buildkit-oci-artifact-attestation-manifest_spdx2-slsa1_ecr-public.json'),
    );
    assert.equal(subject, 'sha256:8fe63f8b055569015407e5bd0c78071e87cf921019249b8b7a913091f680a664');
    const bundle = await ociFixture('cosign-v3-sigstore-bundle-v0.3_dsse-cosign-sign-v1.json');
    const empty = new TextEncoder().encode('{}');
    await store.putBlob(bytesSource({ mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf(empty), size: 2 }, empty));
    await store.putBlob(
      bytesSource({ mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json', digest: digestOf(bundle), size: bundle.length }, bundle),
    );
    const referrer = await putManifestBytes(store, await ociFixture('cosign-v3-bundle-referrer-manifest_ecr-public.json'));
    assert.equal(referrer, 'sha256:b79760ca789467ba1bf1cf6ff89d71353e23819474e8ffb44a1116ce95a102fa');
    const report = await verifyImage(store, subject, {
      policy: {
        certificateIdentity:
          'https://github.com/docker/github-builder-experimental/.github/workflows/build.yml@refs/heads/build-reusable-workflow',
        certificateOidcIssuer: 'https://token.actions.githubusercontent.com',
      },
      trustedRoot: await trustedRoot(PGI),
    });
    const c = only(report.checked);
    ok(c);
    assert.equal(c.kind, 'signature');
    assert.equal(c.predicateType, 'https://sigstore.dev/cosign/sign/v1');
    assert.equal(c.source, `referrer ${referrer}`);
  });

  it('the referrers tag schema index cosign pushed to ghcr is read in any store', async () => {
    const store = await tempLayout();
    const index = await ociFixture('referrers-tag-schema-index_ghcr-fallback_pushed-by-cosign.json');
    const subject = 'sha256:c6fc458cc8718628e8fb8b699d2991056590e0fed4ea0d6f86583705202bdce4' as Digest;
    // Only the manifest and the index were recorded, not the bundle blob: the referrer is found
    // through the fallback tag (nothing else points at it) and reported as unreadable.
    await store.putBlob(
      bytesSource(
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: digestOf(await ociFixture('cosign-v3-bundle-referrer-manifest_ghcr.json')),
          size: 880,
        },
        await ociFixture('cosign-v3-bundle-referrer-manifest_ghcr.json'),
      ),
    );
    await putManifestBytes(store, index, 'sha256-c6fc458cc8718628e8fb8b699d2991056590e0fed4ea0d6f86583705202bdce4');
    const found = await findSignatures(store, subject);
    assert.equal(found.length, 1);
    assert.equal(found[0]!.source, 'referrer sha256:65b138b622eb88020a0e070e14c8d2d71044a000ae190d00d8b9546503486d10');
    assert.equal(found[0]!.format, 'bundle');
    assert.match((found[0] as { error?: string }).error ?? '', /missing/);
  });

  it('sigstore-js bundles v0.1–v0.3 (dsse and intoto entries): all OK with the PGI root', async () => {
    const root = await trustedRoot(PGI);
    for (const name of [
      'sjs-bundleV03-dsse.sigstore.json',
      'sjs-bundleV03-intoto.sigstore.json',
      'sjs-bundleV02-dsse.sigstore.json',
      'sjs-bundleV01-dsse-with-proof.sigstore.json',
      'sjs-bundleV01-intoto-no-proof.sigstore.json',
    ]) {
      const c = only((await dsse(name, { policy: BRIAN, trustedRoot: root })).checked);
      ok(c);
      assert.equal(c.statement?.predicateType, 'https://github.com/npm/attestation/tree/main/specs/publish/v0.1', name);
    }
  });

  it('sigstore-go bundles as SOURCES.md says', async () => {
    const sgoRoot = await trustedRoot('sgo-trusted_root-public-good.json');
    const release = {
      certificateIdentity: 'https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main',
      certificateOidcIssuer: 'https://token.actions.githubusercontent.com',
    };
    ok(only((await dsse('sgo-sigstore.js-2.0.0-provenance.sigstore.json', { policy: release, trustedRoot: sgoRoot })).checked));
    ok(only((await dsse('sgo-example-bundle-provenance.sigstore.json', { policy: release, trustedRoot: sgoRoot })).checked));
    ok(only((await dsse('sgo-dsse.sigstore.json', { policy: BRIAN, trustedRoot: sgoRoot })).checked));
    fails(only((await dsse('sgo-dsse-2sigs.sigstore.json', { policy: BRIAN, trustedRoot: sgoRoot })).checked), 'malformed');
    // npm's registry key, DSSE, a Rekor intoto entry with its SET.
    const publish = only(
      (
        await dsse('sgo-example-bundle-publish.sigstore.json', {
          policy: { key: await key('sgo-example-publish_key.pub') },
          trustedRoot: sgoRoot,
        })
      ).checked,
    );
    ok(publish);
    assert.equal(publish.transparencyLog, true);
    // A private instance's message signature over an artifact only its digest is known of:
    // sigstore-go verifies it from the digest; @sigstore/verify needs the artifact (and then
    // fails its checkpoint, "library difference, treat as optional" in SOURCES.md). It fails here.
    const store = await tempLayout();
    const othername = await sigFixture('sgo-othername.sigstore.json');
    const digest =
      `sha256:${Buffer.from(JSON.parse(othername.toString()).messageSignature.messageDigest.digest, 'base64').toString('hex')}` as Digest;
    await putBundleReferrer(store, { digest }, othername, undefined);
    const other = { certificateIdentity: /.*/, certificateOidcIssuer: 'http://oidc.local:8080' };
    fails(
      only(
        (await verifyImage(store, digest, { policy: other, trustedRoot: await trustedRoot('sgo-trusted_root-scaffolding.json') })).checked,
      ),
      'malformed',
      /not in the store/,
    );
  });

  it("a GitHub Actions certificate's workflow extensions, as cosign's --certificate-github-workflow-* compare them", async () => {
    // sigstore-js 2.0.0's provenance, signed by its release workflow: Fulcio wrote the
    // deprecated extensions 1.3.6.1.4.1.57264.1.2 to .6 as the token's claims were.
    const sgoRoot = await trustedRoot('sgo-trusted_root-public-good.json');
    const given = {
      trigger: 'push',
      sha: 'f0b49a04e5a62250e0f60fb128004a73110fe311',
      name: 'Release',
      repository: 'sigstore/sigstore-js',
      ref: 'refs/heads/main',
    };
    const check = async (certificateGithubWorkflow: Partial<typeof given>) => {
      const policy: VerificationPolicy = {
        certificateIdentity: 'https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main',
        certificateOidcIssuer: 'https://token.actions.githubusercontent.com',
        certificateGithubWorkflow,
      };
      return only((await dsse('sgo-sigstore.js-2.0.0-provenance.sigstore.json', { policy, trustedRoot: sgoRoot })).checked);
    };
    ok(await check(given));
    const oids = { trigger: 2, sha: 3, name: 4, repository: 5, ref: 6 };
    for (const field of Object.keys(given) as (keyof typeof given)[]) {
      ok(await check({ [field]: given[field] }));
      // Exact strings: the value in another case, a prefix of it, a pattern do not match.
      const value = given[field];
      for (const wrong of [value === value.toUpperCase() ? value.toLowerCase() : value.toUpperCase(), value.slice(0, -1), '.*']) {
        const c = await check({ ...given, [field]: wrong });
        fails(c, 'certificate-extension');
        assert.equal(
          c.message,
          `the certificate’s GitHub workflow ${field} (1.3.6.1.4.1.57264.1.${oids[field]}, --certificate-github-workflow-${field}) is ${JSON.stringify(value)}, not ${JSON.stringify(wrong)}`,
        );
      }
    }
    // A field that is none of the five would check nothing: refused, not ignored.
    await assert.rejects(check({ repo: 'sigstore/sigstore-js' } as Partial<typeof given>), (err: unknown) => {
      assert.ok(isProvenantError(err, 'USAGE'));
      assert.match(err.message, /certificateGithubWorkflow\.repo is no GitHub workflow extension/);
      return true;
    });
  });

  it("a workflow extension's value is shown as its text, or as its bytes when it is not UTF-8", () => {
    assert.equal(shownExtension(Buffer.from('acme/app')), '"acme/app"');
    assert.equal(shownExtension(Buffer.from('café')), '"café"');
    // Two values that are not UTF-8 would both read "pu\uFFFD\uFFFD" decoded leniently.
    assert.equal(shownExtension(Buffer.from([0x70, 0x75, 0xff, 0xfe])), '"pu\\xff\\xfe"');
    assert.equal(shownExtension(Buffer.from([0x22, 0x5c, 0xff])), String.raw`"\"\\\xff"`);
    assert.equal(shownExtension(Buffer.from('a"\n')), JSON.stringify('a"\n'));
  });

  it('sigstore-go public-key-validity: OK without a key validity window, FAIL with [1970-01-01T00:00:00Z, 00:00:01Z]', async () => {
    const store = await tempLayout();
    const art = new TextEncoder().encode('test content');
    const digest = digestOf(art);
    await store.putBlob(bytesSource({ mediaType: 'text/plain', digest, size: art.length }, art));
    await putBundleReferrer(
      store,
      { digest, mediaType: 'text/plain', size: art.length },
      await sigFixture('sgo-public-key-validity.sigstore.json'),
      undefined,
    );
    const root = await trustedRoot('sgo-trusted_root-public-key-validity.json');
    const k = await key('sgo-public-key-validity.pem');
    const c = only((await verifyImage(store, digest, { policy: { key: k }, trustedRoot: root })).checked);
    ok(c);
    const windowed = { key: k, validFor: { start: new Date(0), end: new Date(1000) } };
    fails(only((await verifyImage(store, digest, { policy: windowed, trustedRoot: root })).checked), 'key-validity', /outside/);
  });

  describe('sigstore-conformance cases', () => {
    it('happy paths: OK', async () => {
      const pgi = await trustedRoot(PGI);
      ok(only((await message('conf-happy-path-v0.1.sigstore.json', 'conf-a.txt', { policy: CONFORMANCE, trustedRoot: pgi })).checked));
      ok(only((await message('conf-happy-path-v0.3.sigstore.json', 'conf-a.txt', { policy: CONFORMANCE, trustedRoot: pgi })).checked));
      ok(only((await dsse('conf-happy-path-intoto-in-dsse-v3.sigstore.json', { policy: CONFORMANCE, trustedRoot: pgi })).checked));
      ok(
        only(
          (
            await dsse('conf-intoto-with-custom-trust-root.sigstore.json', {
              policy: CONFORMANCE,
              trustedRoot: await trustedRoot('conf-intoto-with-custom-trust-root.trusted_root.json'),
            })
          ).checked,
        ),
      );
      ok(
        only(
          (
            await message('conf-rekor2-happy-path.sigstore.json', 'conf-a.txt', {
              policy: CONFORMANCE,
              trustedRoot: await trustedRoot('conf-rekor2-happy-path.trusted_root.json'),
            })
          ).checked,
        ),
      );
      // DSSE logged as hashedrekord 0.0.2 over the PAE (rekor-v2 spec §6.1.4).
      ok(
        only(
          (
            await dsse('conf-rekor2-dsse-happy-path.sigstore.json', {
              policy: CONFORMANCE,
              trustedRoot: await trustedRoot('conf-rekor2-dsse-happy-path.trusted_root.json'),
            })
          ).checked,
        ),
      );
    });

    it('managed keys: OK with key.pub (with and without the custom root); the corrupt key.pub is refused', async () => {
      const k = await key('conf-managed-key-happy-path.key.pub');
      const c = only(
        (
          await message('conf-managed-key-happy-path.sigstore.json', 'conf-a.txt', {
            policy: { key: k },
            trustedRoot: await trustedRoot(PGI),
          })
        ).checked,
      );
      ok(c);
      assert.equal(c.transparencyLog, true);
      ok(
        only(
          (
            await message('conf-managed-key-and-trusted-root.sigstore.json', 'conf-a.txt', {
              policy: { key: await key('conf-managed-key-and-trusted-root.key.pub') },
              trustedRoot: await trustedRoot('conf-managed-key-and-trusted-root.trusted_root.json'),
            })
          ).checked,
        ),
      );
      await assert.rejects(key('conf-managed-key-wrong-key_fail.key.pub'), (e: unknown) => isProvenantError(e, 'INVALID_CONFIG'));
    });

    it("an inclusion proof whose root hash or tree size is not its checkpoint's: FAIL, as sigstore-go", async () => {
      const opts = { policy: CONFORMANCE, trustedRoot: await trustedRoot(PGI) };
      // @sigstore/verify proves the entry up to the checkpoint's root and reads neither field.
      const v1 =
        /^the inclusion proof’s root hash [0-9a-f]{64} does not match its checkpoint’s, [0-9a-f]{64} \(log entry \d+ of "rekor\.sigstore\.dev - 2605736670972794746"\)/;
      fails(only((await message('conf-happy-path-v0.3.sigstore.json', 'conf-a.txt', opts, otherRootHash)).checked), 'inclusion-proof', v1);
      fails(only((await message('conf-happy-path-v0.1.sigstore.json', 'conf-a.txt', opts, otherRootHash)).checked), 'inclusion-proof', v1);
      const larger = (bundle: BundleJson) => {
        const proof = bundle.verificationMaterial.tlogEntries[0]!.inclusionProof;
        proof.treeSize = String(BigInt(proof.treeSize) + 1n);
      };
      fails(
        only((await message('conf-happy-path-v0.3.sigstore.json', 'conf-a.txt', opts, larger)).checked),
        'inclusion-proof',
        /^the inclusion proof’s tree size 75408394 does not match its checkpoint’s, 75408393 \(log entry \d+ of "rekor\.sigstore\.dev - /,
      );
      // A key's signature checked against a trusted root, and a Rekor v2 entry (proof only), alike.
      const keyed = { policy: { key: await key('conf-managed-key-happy-path.key.pub') }, trustedRoot: opts.trustedRoot };
      fails(
        only((await message('conf-managed-key-happy-path.sigstore.json', 'conf-a.txt', keyed, otherRootHash)).checked),
        'inclusion-proof',
        /root hash .* does not match its checkpoint’s/,
      );
      const rekor2 = { policy: CONFORMANCE, trustedRoot: await trustedRoot('conf-rekor2-happy-path.trusted_root.json') };
      fails(
        only((await message('conf-rekor2-happy-path.sigstore.json', 'conf-a.txt', rekor2, otherRootHash)).checked),
        'inclusion-proof',
        /root hash .* does not match its checkpoint’s, .* \(log entry \d+ of "log2025-alpha1\.rekor\.sigstage\.dev"\)/,
      );
    });

    it('failure cases: each FAIL with its own reason', async () => {
      const pgi = await trustedRoot(PGI);
      const opts = { policy: CONFORMANCE, trustedRoot: pgi };
      // The log entry holds the original signature and catches the altered one first; what is
      // said is that the signature does not match, with what the log entry says.
      fails(
        only((await message('conf-signature-mismatch_fail.sigstore.json', 'conf-a.txt', opts)).checked),
        'signature',
        /^the signature does not match: .*signature mismatch/,
      );
      // Its Rekor entry is for another artifact's signature.
      fails(only((await message('conf-wrong-hashedrekord-artifact_fail.sigstore.json', 'conf-a.txt', opts)).checked), 'transparency-log');
      fails(
        only((await message('conf-wrong-material_fail.sigstore.json', 'conf-wrong-material_fail.artifact', opts)).checked),
        'wrong-subject',
      );
      fails(
        only((await dsse('conf-dsse-invalid-sig_fail.sigstore.json', opts)).checked),
        'signature',
        /does not match: .*signature mismatch/,
      );
      fails(only((await dsse('conf-dsse-mismatch-sig_fail.sigstore.json', opts)).checked), 'transparency-log', /other content/);
      fails(
        only((await message('conf-set-invalid-signature_fail.sigstore.json', 'conf-a.txt', opts)).checked),
        'transparency-log',
        /signed entry timestamp/,
      );
      // Its old proof comes without a checkpoint, which a v0.2 bundle must have: refused as malformed.
      fails(
        only((await message('conf-invalid-inclusion-proof_fail.sigstore.json', 'conf-a.txt', opts)).checked),
        'malformed',
        /invalid v0.2 bundle/,
      );
      fails(
        only(
          (
            await dsse('conf-intoto-expired-certificate_fail.sigstore.json', {
              policy: CONFORMANCE,
              trustedRoot: await trustedRoot('conf-intoto-expired-certificate_fail.trusted_root.json'),
            })
          ).checked,
        ),
        'certificate-validity',
      );
    });
  });
});

describe('our .sig layers have exactly the shape of cosign’s', { skip: fixturesMissing }, () => {
  /** The signing result cosign had, rebuilt from a containers/image fixture's layer. */
  function signedFrom(layer: Awaited<ReturnType<typeof cimageLayer>>): Signed {
    const a = layer.annotations;
    const cert = a['dev.sigstore.cosign/certificate'];
    const rekor = a['dev.sigstore.cosign/bundle'] === undefined ? undefined : JSON.parse(a['dev.sigstore.cosign/bundle']);
    const bundle = {
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      content: {
        $case: 'messageSignature',
        messageSignature: {
          messageDigest: { algorithm: 1, digest: Buffer.alloc(32) },
          signature: Buffer.from(a['dev.cosignproject.cosign/signature']!, 'base64'),
        },
      },
      verificationMaterial: {
        content:
          cert === undefined
            ? { $case: 'publicKey', publicKey: { hint: '' } }
            : { $case: 'certificate', certificate: { rawBytes: Buffer.from(pemDecode(cert)!.bytes) } },
        tlogEntries:
          rekor === undefined
            ? []
            : [
                {
                  logIndex: String(rekor.Payload.logIndex),
                  logId: { keyId: Buffer.from(rekor.Payload.logID, 'hex') },
                  kindVersion: { kind: 'hashedrekord', version: '0.0.1' },
                  integratedTime: String(rekor.Payload.integratedTime),
                  inclusionPromise: { signedEntryTimestamp: Buffer.from(rekor.SignedEntryTimestamp, 'base64') },
                  canonicalizedBody: Buffer.from(rekor.Payload.body, 'base64'),
                },
              ],
        timestampVerificationData: { rfc3161Timestamps: [] },
      },
    } as unknown as Bundle;
    const chain = pemDecodeAll(a['dev.sigstore.cosign/chain'] ?? '').map((b) => b.bytes);
    return { bundle, chain };
  }

  for (const name of [
    'cimage-dir-img-cosign-valid.signature-1',
    'cimage-dir-img-cosign-key-rekor-valid.signature-1',
    'cimage-dir-img-cosign-fulcio-rekor-valid.signature-1',
  ]) {
    it(`${name}: the same media type, bytes and annotations, byte for byte`, async () => {
      const theirs = await cimageLayer(name);
      const ours = signatureLayer(theirs.payload, signedFrom(theirs));
      assert.equal(ours.mediaType, theirs.mediaType);
      assert.deepEqual(Buffer.from(ours.payload), Buffer.from(theirs.payload));
      assert.deepEqual(ours.annotations, theirs.annotations);
    });
  }

  it('the fixtures in ../shared/fixtures/oci are the same layers', async () => {
    for (const [oci, sig] of [
      ['containers-image_cosign-simplesigning-sig_fulcio-rekor_sigstore-json.json', 'cimage-dir-img-cosign-fulcio-rekor-valid.signature-1'],
      ['containers-image_cosign-simplesigning-sig_key_sigstore-json.json', 'cimage-dir-img-cosign-valid.signature-1'],
    ]) {
      const doc = JSON.parse((await ociFixture(oci!)).toString());
      const layer = await cimageLayer(sig!);
      assert.deepEqual(doc.annotations, layer.annotations);
      assert.deepEqual(Buffer.from(doc.payload, 'base64'), Buffer.from(layer.payload));
    }
  });
});

describe('the bundles in ../shared/fixtures/oci verify like their copies', { skip: fixturesMissing }, () => {
  it('cosign testdata and sigstore-js bundles: OK through the store', async () => {
    const root = await trustedRoot(PGI);
    for (const [name, policy] of [
      [
        'cosign-testdata_attestation-bundle-v0.3_dsse-intoto-statement-v0.1.json',
        { certificateIdentity: 'cody@soyland.com', certificateOidcIssuer: 'https://github.com/login/oauth' },
      ],
      ['sigstore-js_bundleV03-dsse.sigstore.json', BRIAN],
      ['sigstore-js_bundleV03-intoto.sigstore.json', BRIAN],
      ['sigstore-js_bundleV02-dsse.sigstore.json', BRIAN],
      ['sigstore-js_bundleV01-intoto-with-proof.sigstore.json', BRIAN],
    ] as const) {
      const store = await tempLayout();
      const bytes = await ociFixture(name);
      const named = statementSubject(bytes);
      await putBundleReferrer(store, { digest: named.digest }, bytes, named.predicateType);
      ok(only((await verifyImage(store, named.digest, { policy, trustedRoot: root, kind: 'attestation' })).checked));
    }
  });
});
