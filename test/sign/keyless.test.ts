/**
 * Keyless signing through sigstore-js against @sigstore/mock's Fulcio, Rekor and timestamp
 * authority on 127.0.0.1, with a trusted root the test writes; then verification, by us and by
 * @sigstore/verify, and the tampering cases only keyless signatures have.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Bundle } from '@sigstore/bundle';
import { RFC3161Timestamp, X509Certificate } from '@sigstore/core';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { statement, storeAttestations } from '../../src/attest/storage.ts';
import { isProvenantError, type ProvenantError } from '../../src/errors.ts';
import { encodeJson, parseStored } from '../../src/oci/content.ts';
import { identityLabel } from '../../src/sign/identity.ts';
import { summarizeSignatures } from '../../src/sign/inspect.ts';
import { generateSigningKeyPair, pemDecodeAll } from '../../src/sign/keys.ts';
import { encodeEnvelope, IN_TOTO_PAYLOAD_TYPE, parseEnvelope, simpleSigningPayload } from '../../src/sign/payload.ts';
import { attestImage, signImage } from '../../src/sign/sign.ts';
import { githubActionsToken, KeylessSigner, KeySigner, REFUSED_TOKEN_HINT } from '../../src/sign/signer.ts';
import { appendCosignLayer, attestationLayer, CosignAnnotation, findSignatures, writeBundleReferrer } from '../../src/sign/storage.ts';
import { type VerificationPolicy, verifyImage } from '../../src/sign/verify.ts';
import { makeImage } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';
import { tempLayout } from './helpers.ts';
import { MOCK_ISSUER, type MockSigstore, mockSigner, startMockSigstore } from './mock-sigstore.ts';
import { startStatusServer } from './status-server.ts';

const REF = 'registry.test/keyless/app';
const COSIGN_SIGN = 'https://sigstore.dev/cosign/sign/v1';
const IDENTITY = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';

describe('keyless signing against a mock Sigstore on 127.0.0.1', () => {
  const tempDir = useTempDir('keyless');
  let dir: string;
  let mock: MockSigstore;
  let signer: KeylessSigner;
  before(async () => {
    dir = await tempDir();
    mock = await startMockSigstore({ dir });
    signer = mockSigner(mock, IDENTITY);
  });
  after(async () => {
    await mock?.stop();
  });
  const policy = { certificateIdentity: IDENTITY, certificateOidcIssuer: MOCK_ISSUER };

  async function signed() {
    const layout = await tempLayout();
    const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const entries = await signImage(layout, 'v1', { signer, dockerReference: REF });
    return { layout, made, entries };
  }

  it('a Fulcio certificate, a Rekor entry with its inclusion proof and a timestamp: both storages verify', async () => {
    const before = { ...mock.requests };
    const { layout, made, entries } = await signed();
    assert.deepEqual(
      entries.map((e) => e.added),
      [true, true],
    );
    // A log entry and a timestamp per signature.
    assert.equal(mock.requests.rekor - before.rekor, 2);
    assert.equal(mock.requests.tsa - before.tsa, 2);
    const report = await verifyImage(layout, made.root.digest, { policy, trustedRoot: mock.trustedRoot });
    assert.deepEqual(
      report.checked.map((c) => [c.storage, c.verified, c.reason]),
      [
        ['cosign', true, undefined],
        ['referrers', true, undefined],
      ],
    );
    for (const c of report.verified) {
      assert.deepEqual(c.signer, { identity: IDENTITY, issuer: MOCK_ISSUER });
      assert.equal(c.transparencyLog, true);
      assert.ok(c.loggedAt instanceof Date);
    }
    // A keyless signature needs a trusted root; a key policy does not accept it.
    await assert.rejects(verifyImage(layout, made.root.digest, { policy }), (e: unknown) => isProvenantError(e, 'USAGE'));
  });

  it('one token and one certificate for all of a signer’s signatures, as one cosign invocation; a log entry each', async () => {
    let tokens = 0;
    const s = new KeylessSigner({
      fulcioURL: mock.url,
      rekorURL: mock.url,
      identityToken: async () => {
        tokens++;
        return mock.token(IDENTITY);
      },
      trustedRoot: mock.trustedRoot,
    });
    const before = { ...mock.requests };
    const layout = await tempLayout();
    const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const other = await makeImage(layout, { tag: 'v2', platforms: [{ os: 'linux', architecture: 'arm64' }] });
    assert.deepEqual(s.identities, []);
    await signImage(layout, 'v1', { signer: s, dockerReference: REF });
    await signImage(layout, 'v2', { signer: s, dockerReference: REF });
    assert.equal(tokens, 1);
    // Who it signed as, read once off its one certificate: what each signature's certificate says.
    assert.deepEqual(s.identities, [{ identity: IDENTITY, issuer: MOCK_ISSUER }]);
    const labels = new Set(
      (await summarizeSignatures(layout, made.root.digest)).map((x) => identityLabel({ identity: x.identity ?? '', issuer: x.issuer })),
    );
    assert.deepEqual([...labels], [identityLabel(s.identities[0]!)]);
    assert.equal(identityLabel(s.identities[0]!), `${IDENTITY} (${MOCK_ISSUER})`);
    assert.equal(mock.requests.fulcio - before.fulcio, 1);
    assert.equal(mock.requests.rekor - before.rekor, 4);
    const certificates = new Set<string>();
    for (const digest of [made.root.digest, other.root.digest]) {
      const report = await verifyImage(layout, digest, { policy, trustedRoot: mock.trustedRoot });
      assert.equal(report.verified.length, 2, `${digest}: ${JSON.stringify(report.checked.map((c) => c.reason))}`);
      for (const f of await findSignatures(layout, digest)) {
        if (f.format === 'cosign-layer') certificates.add(f.layer?.annotations['dev.sigstore.cosign/certificate'] ?? '');
      }
    }
    assert.equal(certificates.size, 1, 'one certificate in every signature');
  });

  it('the .sig layer carries cosign 2’s certificate, chain, Rekor bundle and timestamp annotations', async () => {
    const { layout, made } = await signed();
    const found = await findSignatures(layout, made.root.digest);
    const layer = found.find((f) => f.format === 'cosign-layer');
    assert.ok(layer?.format === 'cosign-layer' && layer.layer !== undefined);
    const a = layer.layer.annotations;
    assert.deepEqual(Object.keys(a).sort(), [
      'dev.cosignproject.cosign/signature',
      'dev.sigstore.cosign/bundle',
      'dev.sigstore.cosign/certificate',
      'dev.sigstore.cosign/chain',
      'dev.sigstore.cosign/rfc3161timestamp',
    ]);
    assert.deepEqual(Buffer.from(layer.layer.payload), Buffer.from(simpleSigningPayload(REF, made.root.digest)));
    const cert = X509Certificate.parse(a['dev.sigstore.cosign/certificate']!);
    assert.equal(cert.subjectAltName, IDENTITY);
    // The chain is the issuing CA from the trusted root (the mock has a root only).
    const chain = pemDecodeAll(a['dev.sigstore.cosign/chain']!);
    assert.equal(chain.length, 1);
    assert.ok(cert.verify(X509Certificate.parse(Buffer.from(chain[0]!.bytes))));
    const rekor = JSON.parse(a['dev.sigstore.cosign/bundle']!);
    assert.deepEqual(Object.keys(rekor), ['SignedEntryTimestamp', 'Payload']);
    assert.deepEqual(Object.keys(rekor.Payload), ['body', 'integratedTime', 'logIndex', 'logID']);
    assert.equal(JSON.parse(Buffer.from(rekor.Payload.body, 'base64').toString()).kind, 'hashedrekord');
    assert.deepEqual(Object.keys(JSON.parse(a['dev.sigstore.cosign/rfc3161timestamp']!)), ['SignedRFC3161Timestamp']);
  });

  it('our bundles verify with @sigstore/verify itself against the written trusted root', async () => {
    const { layout, made } = await signed();
    const bundle = (await findSignatures(layout, made.root.digest)).find((f) => f.format === 'bundle');
    assert.ok(bundle && bundle.format === 'bundle' && bundle.bundle);
    const b = bundle.bundle;
    assert.equal(b.verificationMaterial.content.$case, 'certificate');
    assert.equal(b.verificationMaterial.tlogEntries[0]?.kindVersion.kind, 'dsse');
    assert.ok(b.verificationMaterial.tlogEntries[0]?.inclusionProof, 'the entry comes with its inclusion proof');
    const signerId = new Verifier(toTrustMaterial(mock.trustedRoot)).verify(toSignedEntity(b), {
      subjectAlternativeName: IDENTITY,
      extensions: { issuer: MOCK_ISSUER },
    });
    assert.equal(signerId.identity?.subjectAlternativeName, IDENTITY);
  });

  it('a wrong identity or issuer is refused, naming what the certificate says', async () => {
    const { layout, made } = await signed();
    const wrongId = await verifyImage(layout, made.root.digest, {
      policy: { ...policy, certificateIdentity: 'https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main' },
      trustedRoot: mock.trustedRoot,
    });
    assert.deepEqual(
      wrongId.checked.map((c) => c.reason),
      ['identity', 'identity'],
    );
    assert.match(wrongId.checked[0]!.message!, /identity is "https:\/\/github.com\/acme\/app/);
    const wrongIssuer = await verifyImage(layout, made.root.digest, {
      policy: { ...policy, certificateOidcIssuer: 'https://token.actions.githubusercontent.com' },
      trustedRoot: mock.trustedRoot,
    });
    assert.deepEqual(
      wrongIssuer.checked.map((c) => c.reason),
      ['issuer', 'issuer'],
    );
    const pattern = await verifyImage(layout, made.root.digest, {
      policy: { certificateIdentity: /^https:\/\/github\.com\/acme\//, certificateOidcIssuer: MOCK_ISSUER },
      trustedRoot: mock.trustedRoot,
    });
    assert.equal(pattern.verified.length, 2);
  });

  it("the certificate's GitHub workflow extensions, each an exact string; a certificate without one fails", async () => {
    // The claims of a GitHub Actions token, which Fulcio writes as 1.3.6.1.4.1.57264.1.2 to .6.
    const claims = { event_name: 'release', sha: 'a'.repeat(40), workflow: 'Release', repository: 'acme/app', ref: 'refs/tags/v1' };
    const workflow = { trigger: 'release', sha: 'a'.repeat(40), name: 'Release', repository: 'acme/app', ref: 'refs/tags/v1' };
    const github = mockSigner(mock, IDENTITY, MOCK_ISSUER, claims);
    const layout = await tempLayout();
    const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    await signImage(layout, 'v1', { signer: github, dockerReference: REF });
    const st = statement('https://example.org/p/v1', { n: 1 }, [{ name: 'app', digest: made.root.digest }]);
    await attestImage(layout, 'v1', [st], { signer: github, storage: 'cosign' });
    await attestImage(layout, 'v1', [st], { signer: github, storage: 'referrers' });
    const verify = (certificateGithubWorkflow: Partial<typeof workflow>, kind: 'signature' | 'attestation') =>
      verifyImage(layout, made.root.digest, { policy: { ...policy, certificateGithubWorkflow }, trustedRoot: mock.trustedRoot, kind });
    for (const kind of ['signature', 'attestation'] as const) {
      const good = await verify(workflow, kind);
      assert.deepEqual(
        good.checked.map((c) => [c.storage, c.reason]),
        [
          ['cosign', undefined],
          ['referrers', undefined],
        ],
        kind,
      );
      for (const field of Object.keys(workflow) as (keyof typeof workflow)[]) {
        const bad = await verify({ ...workflow, [field]: `${workflow[field]}x` }, kind);
        assert.deepEqual(
          bad.checked.map((c) => [c.reason, c.message]),
          Array(2).fill([
            'certificate-extension',
            `the certificate’s GitHub workflow ${field} (1.3.6.1.4.1.57264.1.${2 + Object.keys(workflow).indexOf(field)}, --certificate-github-workflow-${field}) is ${JSON.stringify(workflow[field])}, not ${JSON.stringify(`${workflow[field]}x`)}`,
          ]),
          `${kind} ${field}`,
        );
        // The signer is still named, for the report.
        assert.deepEqual(bad.checked[0]?.signer, { identity: IDENTITY, issuer: MOCK_ISSUER });
      }
    }
    // A certificate of a token without the claims (not GitHub Actions) has no such extension.
    const plain = await signed();
    for (const field of Object.keys(workflow) as (keyof typeof workflow)[]) {
      const r = await verifyImage(plain.layout, plain.made.root.digest, {
        policy: { ...policy, certificateGithubWorkflow: { [field]: workflow[field] } },
        trustedRoot: mock.trustedRoot,
      });
      assert.deepEqual(
        r.checked.map((c) => [c.reason, c.message]),
        Array(2).fill([
          'certificate-extension',
          `the certificate has no GitHub workflow ${field} (1.3.6.1.4.1.57264.1.${2 + Object.keys(workflow).indexOf(field)}, --certificate-github-workflow-${field}), and ${JSON.stringify(workflow[field])} was asked`,
        ]),
        field,
      );
    }
    // An empty value would check nothing: refused before anything is read.
    await assert.rejects(
      verify({ ref: '' }, 'signature'),
      (err: unknown) => isProvenantError(err, 'USAGE') && /is empty/.test(err.message),
    );
  });

  it("statements inside a keyless-signed index verify by the index signature's identity, and fail with another", async () => {
    const layout = await tempLayout();
    const made = await makeImage(layout, { tag: 'v1' });
    const image = made.manifests[1]!;
    const attested = [
      { manifest: image, statements: [statement('https://slsa.dev/provenance/v1', {}, [{ name: REF, digest: image.digest }])] },
    ];
    const index = await storeAttestations(layout, made.root, attested, 'buildkit');
    await layout.putManifest(index, { tags: ['v1'] });
    await signImage(layout, index.digest, { signer, dockerReference: REF });
    const options = { kind: 'attestation' as const, index, trustedRoot: mock.trustedRoot };
    const ok = await verifyImage(layout, image.digest, { ...options, policy });
    assert.equal(ok.verified.length, 1, JSON.stringify(ok.checked));
    const [c] = ok.verified;
    assert.deepEqual([c?.storage, c?.signer], ['buildkit', { identity: IDENTITY, issuer: MOCK_ISSUER }]);
    assert.equal(c?.transparencyLog, true);
    assert.match(c?.logIndex ?? '', /^\d+$/);
    const other = await verifyImage(layout, image.digest, {
      ...options,
      policy: { ...policy, certificateIdentity: 'https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main' },
    });
    assert.equal(other.verified.length, 0);
    assert.equal(other.checked[0]?.reason, 'identity');
    assert.match(
      other.checked[0]?.message ?? '',
      /none of the index's 2 signatures verifies .*identity is "https:\/\/github.com\/acme\/app/,
    );
  });

  it('{regexp} patterns are RE2, as Go reads cosign’s: \\A, \\z and (?i) work, and a pattern matches anywhere unless anchored', async () => {
    const { layout, made } = await signed();
    const cases: [string, string, boolean][] = [
      ['\\Ahttps://github\\.com/acme/', MOCK_ISSUER, true],
      ['@refs/heads/main\\z', MOCK_ISSUER, true],
      ['(?i)GITHUB\\.COM/ACME/', '(?i)\\AHTTPS://ISSUER\\.MOCK\\.TEST\\z', true],
      ['acme/app', 'mock', true],
      ['\\Agithub\\.com/acme/', MOCK_ISSUER, false],
      ['(?i)EVIL', MOCK_ISSUER, false],
    ];
    for (const [identity, issuer, ok] of cases) {
      const r = await verifyImage(layout, made.root.digest, {
        policy: { certificateIdentity: { regexp: identity }, certificateOidcIssuer: { regexp: issuer } },
        trustedRoot: mock.trustedRoot,
      });
      assert.deepEqual(
        r.checked.map((c) => c.reason),
        ok ? [undefined, undefined] : ['identity', 'identity'],
        identity,
      );
      if (!ok) assert.ok(r.checked[0]!.message!.endsWith(`not one matching ${JSON.stringify(identity)}`), r.checked[0]!.message);
    }
    await assert.rejects(
      verifyImage(layout, made.root.digest, { policy: { ...policy, certificateIdentity: { regexp: '(' } }, trustedRoot: mock.trustedRoot }),
      (err: unknown) => isProvenantError(err) && err.code === 'USAGE' && /not an RE2 regular expression/.test(err.message),
    );
  });

  it('an empty identity or issuer, exact or pattern, is refused before anything is read: it would not say whom to trust', async () => {
    const { layout, made } = await signed();
    const empties: VerificationPolicy[] = [
      { ...policy, certificateIdentity: '' },
      { ...policy, certificateIdentity: /(?:)/ },
      { ...policy, certificateOidcIssuer: '' },
      { ...policy, certificateOidcIssuer: /(?:)/ },
    ];
    for (const p of empties) {
      await assert.rejects(
        verifyImage(layout, made.root.digest, { policy: p, trustedRoot: mock.trustedRoot }),
        (err: unknown) => isProvenantError(err) && err.code === 'USAGE' && /is empty/.test(err.message),
      );
    }
  });

  it('a changed payload: the log entry records another payload', async () => {
    const { layout, made } = await signed();
    const layer = (await findSignatures(layout, made.root.digest)).find((f) => f.format === 'cosign-layer');
    assert.ok(layer?.format === 'cosign-layer' && layer.layer !== undefined);
    const other = await tempLayout();
    await other.putManifest(made.root, { tags: ['v1'] });
    await appendCosignLayer(other, made.root.digest, 'sig', {
      ...layer.layer,
      payload: simpleSigningPayload(REF, made.root.digest, { approved: 'yes' }),
    });
    const c = (await verifyImage(other, made.root.digest, { policy, trustedRoot: mock.trustedRoot })).checked[0]!;
    assert.equal(c.reason, 'transparency-log');
    assert.match(c.message!, /records another payload: the payload was changed after signing/);
  });

  it('a bundle whose inclusion proof does not match its entry', async () => {
    const { layout, made } = await signed();
    const second = await signed();
    const bundleOf = async (l: typeof layout, d: typeof made.root.digest): Promise<Bundle> => {
      const f = (await findSignatures(l, d)).find((x) => x.format === 'bundle');
      assert.ok(f && f.format === 'bundle' && f.bundle);
      return f.bundle;
    };
    const mine = await bundleOf(layout, made.root.digest);
    const theirs = await bundleOf(second.layout, second.made.root.digest);
    // The entry keeps its own signed entry timestamp, but shows another entry's proof.
    const entry = {
      ...mine.verificationMaterial.tlogEntries[0]!,
      inclusionProof: theirs.verificationMaterial.tlogEntries[0]!.inclusionProof,
    };
    const forged = { ...mine, verificationMaterial: { ...mine.verificationMaterial, tlogEntries: [entry] } } as Bundle;
    const store = await tempLayout();
    await store.putManifest(made.root, { tags: ['v1'] });
    await writeBundleReferrer(
      store,
      { mediaType: made.root.mediaType, digest: made.root.digest, size: made.root.bytes.length },
      forged,
      'https://sigstore.dev/cosign/sign/v1',
    );
    const c = (await verifyImage(store, made.root.digest, { policy, trustedRoot: mock.trustedRoot })).checked[0]!;
    assert.equal(c.reason, 'inclusion-proof');
    assert.match(c.message!, /inclusion proof does not match: calculated root hash does not match/);
  });

  it('the log index and time shown are the verified ones: without a signed entry timestamp, no time and the proof’s index', async () => {
    const { layout, made } = await signed();
    const d = made.root.digest;
    const f = (await findSignatures(layout, d)).find((x) => x.format === 'bundle');
    assert.ok(f?.format === 'bundle' && f.bundle);
    const entry = f.bundle.verificationMaterial.tlogEntries[0]!;
    assert.ok(entry.inclusionPromise && entry.inclusionProof);
    const report = await verifyImage(layout, d, { policy, trustedRoot: mock.trustedRoot });
    const logged = report.verified.find((c) => c.format === 'bundle')!;
    assert.equal(logged.logIndex, entry.logIndex);
    assert.equal(logged.loggedAt?.getTime(), Number(entry.integratedTime) * 1000);
    // The signed entry timestamp dropped, the unsigned time and index changed: the inclusion
    // proof and the timestamp authority still verify the signature, and neither signs those.
    const forgedEntry = { ...entry, inclusionPromise: undefined, integratedTime: '946684800', logIndex: '424242' };
    const forged = { ...f.bundle, verificationMaterial: { ...f.bundle.verificationMaterial, tlogEntries: [forgedEntry] } } as Bundle;
    const store = await tempLayout();
    await store.putManifest(made.root, { tags: ['v1'] });
    await writeBundleReferrer(store, { mediaType: made.root.mediaType, digest: d, size: made.root.bytes.length }, forged, COSIGN_SIGN);
    const c = (await verifyImage(store, d, { policy, trustedRoot: mock.trustedRoot })).checked[0]!;
    assert.equal(c.verified, true, c.message);
    assert.equal(c.loggedAt, undefined);
    assert.equal(c.logIndex, entry.inclusionProof.logIndex);
  });

  it('a certificate used outside its validity: issued an hour before the log integrated the signature', async () => {
    const hourAgo = new Date(Math.floor(Date.now() / 1000) * 1000 - 60 * 60 * 1000);
    const old = await startMockSigstore({ dir: await tempDir(), caClock: hourAgo });
    try {
      const layout = await tempLayout();
      const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
      const s = new KeylessSigner({
        fulcioURL: old.url,
        rekorURL: old.url,
        identityToken: old.token(IDENTITY),
        trustedRoot: old.trustedRoot,
      });
      await signImage(layout, 'v1', { signer: s, dockerReference: REF });
      // A certificate past its end is not kept: each signature asked for a new one.
      assert.equal(old.requests.fulcio, 2);
      const report = await verifyImage(layout, made.root.digest, { policy, trustedRoot: old.trustedRoot });
      assert.deepEqual(
        report.checked.map((c) => c.reason),
        ['certificate-validity', 'certificate-validity'],
      );
      assert.match(report.checked[0]!.message!, /was not valid when the signature was made/);
    } finally {
      await old.stop();
    }
  });

  it('a certificate from another CA does not chain to the trusted root', async () => {
    const { layout, made } = await signed();
    const otherDir = await tempDir();
    const other = await startMockSigstore({ dir: otherDir });
    try {
      const report = await verifyImage(layout, made.root.digest, { policy, trustedRoot: other.trustedRoot });
      assert.equal(report.verified.length, 0);
      assert.ok(
        report.checked.every((c) => c.reason === 'untrusted-certificate' || c.reason === 'transparency-log' || c.reason === 'timestamp'),
        JSON.stringify(report.checked.map((c) => [c.reason, c.message])),
      );
    } finally {
      await other.stop();
    }
  });

  it('a key signer with a Rekor URL logs its signatures, and the log entries are checked', async () => {
    const pair = generateSigningKeyPair();
    const layout = await tempLayout();
    const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    await signImage(layout, 'v1', { signer: new KeySigner(pair.privateKey, { rekorURL: mock.url }), dockerReference: REF });
    const logged = await verifyImage(layout, made.root.digest, {
      policy: { key: pair.publicKey },
      trustedRoot: mock.trustedRoot,
      requireTransparencyLog: true,
    });
    assert.deepEqual(
      logged.checked.map((c) => [c.verified, c.transparencyLog]),
      [
        [true, true],
        [true, true],
      ],
    );
    // Without a trusted root the entries cannot be checked, and the report says so.
    const unchecked = await verifyImage(layout, made.root.digest, { policy: { key: pair.publicKey } });
    assert.deepEqual(
      unchecked.checked.map((c) => [c.verified, c.transparencyLog]),
      [
        [true, false],
        [true, false],
      ],
    );
    // Another log's trusted root does not vouch for these entries.
    const otherDir = await tempDir();
    const other = await startMockSigstore({ dir: otherDir });
    try {
      const r = await verifyImage(layout, made.root.digest, { policy: { key: pair.publicKey }, trustedRoot: other.trustedRoot });
      assert.deepEqual(
        r.checked.map((c) => c.reason),
        ['transparency-log', 'transparency-log'],
      );
    } finally {
      await other.stop();
    }
    // A key signature without an entry fails when one is required.
    const plain = await tempLayout();
    await plain.putManifest(made.root, { tags: ['v1'] });
    await signImage(plain, 'v1', { signer: new KeySigner(pair.privateKey), dockerReference: REF });
    const required = await verifyImage(plain, made.root.digest, {
      policy: { key: pair.publicKey },
      trustedRoot: mock.trustedRoot,
      requireTransparencyLog: true,
    });
    assert.deepEqual(
      required.checked.map((c) => c.reason),
      ['transparency-log', 'transparency-log'],
    );
  });

  it('a .att layer is the envelope the log recorded, its timestamp over the layer: cosign’s checks of both pass', async () => {
    const pair = generateSigningKeyPair();
    const signers = {
      keyless: signer,
      key: new KeySigner(pair.privateKey, { rekorURL: mock.url, tsaURL: mock.url, trustedRoot: mock.trustedRoot }),
    };
    for (const [name, s] of Object.entries(signers)) {
      const layout = await tempLayout();
      const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
      const st = statement('https://example.org/p/v1', { n: 1 }, [{ name: 'app', digest: made.root.digest }]);
      await attestImage(layout, 'v1', [st], { signer: s, storage: 'cosign' });
      const [found] = (await findSignatures(layout, made.root.digest)).filter((f) => f.kind === 'attestation');
      assert.ok(found?.format === 'cosign-layer' && found.layer !== undefined, name);
      const layer = found.layer;
      assert.equal(cosignBundleHashCheck(layer), undefined, name);
      assert.equal(cosignTimestampCheck(layer), undefined, name);
      const policy: VerificationPolicy =
        name === 'key' ? { key: pair.publicKey } : { certificateIdentity: IDENTITY, certificateOidcIssuer: MOCK_ISSUER };
      const r = await verifyImage(layout, made.root.digest, { policy, trustedRoot: mock.trustedRoot, kind: 'attestation' });
      assert.deepEqual(
        r.checked.map((c) => [c.storage, c.verified, c.reason]),
        [['cosign', true, undefined]],
        name,
      );
    }
  });

  it("a library user's signer that timestamps only the signature: its .att layer carries no timestamp, and verifies", async () => {
    const pair = generateSigningKeyPair();
    const inner = new KeySigner(pair.privateKey, { tsaURL: mock.url, trustedRoot: mock.trustedRoot });
    // A signer that leaves out the envelope's bytes and their timestamp (both optional in Signed).
    const s = {
      publicKey: inner.publicKey,
      sign: async (content: Parameters<KeySigner['sign']>[0]) => {
        const {
          envelope: _envelope,
          envelopeTimestamp: _timestamp,
          ...signed
        } = await inner.sign(content.kind === 'dsse' ? { ...content, timestamp: 'signature' } : content);
        return signed;
      },
    };
    const layout = await tempLayout();
    const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const st = statement('https://example.org/p/v1', { n: 1 }, [{ name: 'app', digest: made.root.digest }]);
    await attestImage(layout, 'v1', [st], { signer: s, storage: 'cosign' });
    const [found] = (await findSignatures(layout, made.root.digest)).filter((f) => f.kind === 'attestation');
    assert.ok(found?.format === 'cosign-layer' && found.layer !== undefined);
    assert.equal(found.layer.annotations?.['dev.sigstore.cosign/rfc3161timestamp'], undefined);
    const r = await verifyImage(layout, made.root.digest, {
      policy: { key: pair.publicKey },
      trustedRoot: mock.trustedRoot,
      kind: 'attestation',
    });
    assert.deepEqual(
      r.checked.map((c) => [c.verified, c.reason]),
      [[true, undefined]],
    );
  });

  it('attesting again adds a layer beside an old .att layer whose timestamp is over its signature (a timestamp that counts for nothing)', async () => {
    const pair = generateSigningKeyPair();
    const s = new KeySigner(pair.privateKey, { tsaURL: mock.url, trustedRoot: mock.trustedRoot });
    const layout = await tempLayout();
    const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const st = statement('https://example.org/p/v1', { n: 1 }, [{ name: 'app', digest: made.root.digest }]);
    // The layer as written before the timestamp was taken over the envelope: the bundle's, over the signature.
    const old = await s.sign({ kind: 'dsse', payloadType: IN_TOTO_PAYLOAD_TYPE, payload: st.bytes });
    const overSignature = old.bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps[0]?.signedTimestamp;
    assert.ok(overSignature !== undefined);
    const layer = attestationLayer(st.predicateType, old);
    layer.annotations[CosignAnnotation.RFC3161Timestamp] = `{"SignedRFC3161Timestamp":"${Buffer.from(overSignature).toString('base64')}"}`;
    await appendCosignLayer(layout, made.root.digest, 'att', layer);
    const verified = async () =>
      (await verifyImage(layout, made.root.digest, { policy: { key: pair.publicKey }, trustedRoot: mock.trustedRoot, kind: 'attestation' }))
        .verified.length;
    // Its timestamp does not verify over the layer, so it gives no time; a key's signature needs none.
    assert.equal(await verified(), 1);
    // A key with a validity window needs a verified time, which that layer does not have.
    const windowed = await verifyImage(layout, made.root.digest, {
      policy: { key: pair.publicKey, validFor: { start: new Date(0) } },
      trustedRoot: mock.trustedRoot,
      kind: 'attestation',
    });
    assert.deepEqual(
      windowed.checked.map((c) => c.reason),
      ['timestamp'],
    );
    // Signing again takes it for no equal (cosign --use-signed-timestamps refuses it) and adds one whose timestamp verifies.
    const again = await attestImage(layout, 'v1', [st], { signer: s, storage: 'cosign' });
    assert.deepEqual(
      again.map((x) => x.added),
      [true],
    );
    assert.equal(await verified(), 2);
  });

  it('a .att layer that is not the envelope its log entry records is refused, as cosign refuses it', async () => {
    const pair = generateSigningKeyPair();
    const layout = await tempLayout();
    const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const st = statement('https://example.org/p/v1', { n: 1 }, [{ name: 'app', digest: made.root.digest }]);
    await attestImage(layout, 'v1', [st], { signer: new KeySigner(pair.privateKey, { rekorURL: mock.url }), storage: 'cosign' });
    const [found] = (await findSignatures(layout, made.root.digest)).filter((f) => f.kind === 'attestation');
    assert.ok(found?.format === 'cosign-layer' && found.layer !== undefined);
    // The same envelope written again in cosign 2's field order, as this writer once did: the same
    // payload and signature, other bytes than the log entry's envelope hash is of.
    const env = parseEnvelope(found.layer.payload);
    const reencoded = { ...found.layer, payload: encodeEnvelope({ ...env, signatures: env.signatures.map((x) => ({ ...x, keyid: '' })) }) };
    assert.match(cosignBundleHashCheck(reencoded) ?? '', /^matching bundle to payload/);
    const other = await tempLayout();
    await other.putManifest(made.root, { tags: ['v1'] });
    await appendCosignLayer(other, made.root.digest, 'att', reencoded);
    const options = { policy: { key: pair.publicKey }, trustedRoot: mock.trustedRoot, kind: 'attestation' as const };
    const c = (await verifyImage(other, made.root.digest, options)).checked[0]!;
    assert.deepEqual([c.verified, c.reason], [false, 'transparency-log']);
    assert.match(
      c.message!,
      /records sha256:[0-9a-f]{64}, not this layer's sha256:[0-9a-f]{64}: the entry is for other bytes, and cosign refuses it/,
    );
    // The layer as written, the envelope logged, verifies.
    const ok = (await verifyImage(layout, made.root.digest, options)).checked[0]!;
    assert.deepEqual([ok.verified, ok.reason], [true, undefined]);
  });

  it('signing with a log beside an unlogged signature of the same key adds a logged one; once there, nothing', async () => {
    const pair = generateSigningKeyPair();
    const layout = await tempLayout();
    const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const s = statement('https://spdx.dev/Document', { spdxVersion: 'SPDX-2.3' }, [{ name: 'app', digest: made.root.digest }]);
    const plain = new KeySigner(pair.privateKey);
    const logging = new KeySigner(pair.privateKey, { rekorURL: mock.url, trustedRoot: mock.trustedRoot });
    const run = async (signer: KeySigner) => [
      ...(await signImage(layout, 'v1', { signer, dockerReference: REF })),
      ...(await attestImage(layout, 'v1', [s], { signer, storage: 'cosign' })),
      ...(await attestImage(layout, 'v1', [s], { signer, storage: 'referrers' })),
    ];
    const added = async (signer: KeySigner) => (await run(signer)).map((e) => e.added);
    assert.deepEqual(await added(plain), [true, true, true, true]);
    assert.deepEqual(await added(plain), [false, false, false, false]);
    assert.deepEqual(await added(logging), [true, true, true, true]);
    assert.deepEqual(await added(logging), [false, false, false, false]);
    // A logged signature is what a policy requiring a log entry needs; one of each now verifies.
    for (const kind of ['signature', 'attestation'] as const) {
      const r = await verifyImage(layout, made.root.digest, {
        policy: { key: pair.publicKey },
        trustedRoot: mock.trustedRoot,
        requireTransparencyLog: true,
        kind,
      });
      assert.deepEqual(
        r.checked.map((c) => [c.storage, c.verified, c.reason]).sort(),
        [
          ['cosign', false, 'transparency-log'],
          ['cosign', true, undefined],
          ['referrers', false, 'transparency-log'],
          ['referrers', true, undefined],
        ],
        kind,
      );
    }
    // A logged signature is also an unlogged signer's: it adds nothing.
    assert.deepEqual(await added(plain), [false, false, false, false]);
  });

  it('signing with a log takes an equal signature as logged only when its log entry verifies, not for a copied or made-up one', async () => {
    const pair = generateSigningKeyPair();
    const layout = await tempLayout();
    const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const d = made.root.digest;
    await signImage(layout, 'v1', { signer: new KeySigner(pair.privateKey), dockerReference: REF });
    // A real log entry, of another signature: its signed entry timestamp verifies, its body is not ours.
    const elsewhere = await signed();
    const otherLayer = (await findSignatures(elsewhere.layout, elsewhere.made.root.digest)).find((f) => f.format === 'cosign-layer');
    assert.ok(otherLayer?.format === 'cosign-layer' && otherLayer.layer);
    const otherBundle = (await findSignatures(elsewhere.layout, elsewhere.made.root.digest)).find((f) => f.format === 'bundle');
    assert.ok(otherBundle?.format === 'bundle' && otherBundle.bundle);
    // Someone who can push copies the unlogged signatures with that entry added, and removes the originals.
    const found = await findSignatures(layout, d);
    const layer = found.find((f) => f.format === 'cosign-layer');
    const bundle = found.find((f) => f.format === 'bundle');
    assert.ok(layer?.format === 'cosign-layer' && layer.layer && bundle?.format === 'bundle' && bundle.bundle);
    const forgedStore = await tempLayout();
    await forgedStore.putManifest(made.root, { tags: ['v1'] });
    const rekorBundle = otherLayer.layer.annotations['dev.sigstore.cosign/bundle']!;
    await appendCosignLayer(forgedStore, d, 'sig', {
      ...layer.layer,
      annotations: { ...layer.layer.annotations, 'dev.sigstore.cosign/bundle': rekorBundle },
    });
    const tlogEntries = otherBundle.bundle.verificationMaterial.tlogEntries;
    const forged = { ...bundle.bundle, verificationMaterial: { ...bundle.bundle.verificationMaterial, tlogEntries } } as Bundle;
    await writeBundleReferrer(
      forgedStore,
      { mediaType: made.root.mediaType, digest: d, size: made.root.bytes.length },
      forged,
      COSIGN_SIGN,
    );
    const logging = new KeySigner(pair.privateKey, { rekorURL: mock.url, trustedRoot: mock.trustedRoot });
    const first = await signImage(forgedStore, 'v1', { signer: logging, dockerReference: REF });
    assert.deepEqual(
      first.map((e) => [e.storage, e.added]),
      [
        ['cosign', true],
        ['referrers', true],
      ],
    );
    const again = await signImage(forgedStore, 'v1', { signer: logging, dockerReference: REF });
    assert.deepEqual(
      again.map((e) => e.added),
      [false, false],
    );
    // Without a trusted root to check entries with, no signature counts as logged.
    const unchecked = new KeySigner(pair.privateKey, { rekorURL: mock.url });
    const blind = await signImage(forgedStore, 'v1', { signer: unchecked, dockerReference: REF, storages: ['referrers'] });
    assert.deepEqual(
      blind.map((e) => e.added),
      [true],
    );
  });

  it('a refused or malformed token is a CREDENTIALS error that never repeats the token', async () => {
    const secret = 'eyJhbGciOiJub25lIn0.bm90IGpzb24.';
    const s = new KeylessSigner({ fulcioURL: mock.url, rekorURL: mock.url, identityToken: secret });
    const layout = await tempLayout();
    const stored = parseStored(encodeJson({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }));
    await layout.putManifest(stored, { tags: ['v1'] });
    await assert.rejects(signImage(layout, 'v1', { signer: s, dockerReference: REF }), (e: unknown) => {
      assert.ok(isProvenantError(e, 'CREDENTIALS'), String(e));
      assert.ok(!e.message.includes(secret) && !String(e.hint).includes(secret), e.message);
      return true;
    });
    // Not a JWT at all (a pasted credential, say), and three parts that are not one: its shape, never its value.
    for (const [other, shape] of [
      ['oidc-SECRET-0123456789', '22 characters, 1 dot-separated part'],
      ['oidcSECRET.0123456789.abcdef', '28 characters, 3 dot-separated parts'],
    ] as const) {
      const t = new KeylessSigner({ fulcioURL: mock.url, rekorURL: mock.url, identityToken: async () => other });
      await assert.rejects(signImage(layout, 'v1', { signer: t, dockerReference: REF }), (e: unknown) => {
        assert.ok(isProvenantError(e, 'CREDENTIALS'), String(e));
        assert.ok(!`${e.message} ${e.hint}`.includes('SECRET'), e.message);
        assert.ok(e.message.includes(shape), e.message);
        return true;
      });
    }
    const failing = new KeylessSigner({
      fulcioURL: mock.url,
      rekorURL: mock.url,
      identityToken: async () => {
        throw new Error('no token here');
      },
    });
    await assert.rejects(signImage(layout, 'v1', { signer: failing, dockerReference: REF }), (e: unknown) =>
      isProvenantError(e, 'CREDENTIALS'),
    );
  });

  it('a token whose subject or email is not a string: CREDENTIALS saying so, before Fulcio is asked, never the token', async () => {
    const layout = await tempLayout();
    const stored = parseStored(encodeJson({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }));
    await layout.putManifest(stored, { tags: ['v1'] });
    const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const before = mock.requests.fulcio;
    for (const [claims, said] of [
      [{ sub: 4242, iss: MOCK_ISSUER }, 'subject (sub) is a number, not a string'],
      [{ sub: { id: 'SECRET' }, iss: MOCK_ISSUER }, 'subject (sub) is an object, not a string'],
      [{ email: 42, email_verified: true, sub: 'x', iss: MOCK_ISSUER }, 'email is a number, not a string'],
    ] as const) {
      const token = `${enc({ alg: 'none' })}.${enc(claims)}.`;
      const s = new KeylessSigner({ fulcioURL: mock.url, rekorURL: mock.url, identityToken: token });
      await assert.rejects(signImage(layout, 'v1', { signer: s, dockerReference: REF, storages: ['referrers'] }), (e: unknown) => {
        assert.ok(isProvenantError(e, 'CREDENTIALS'), String(e));
        assert.ok(e.message.includes(said), e.message);
        assert.ok(!`${e.message} ${e.hint}`.includes(token.split('.')[1] ?? '') && !e.message.includes('SECRET'), e.message);
        return true;
      });
    }
    assert.equal(mock.requests.fulcio, before, 'Fulcio was not asked');
  });

  it('a GitHub Actions runner token that is not a JWT: CREDENTIALS naming the runner and id-token: write, never the token', async () => {
    let value = 'not-a-jwt-token-value';
    const endpoint = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ value }));
    });
    await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/token`;
    try {
      const layout = await tempLayout();
      const stored = parseStored(encodeJson({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }));
      await layout.putManifest(stored, { tags: ['v1'] });
      const before = mock.requests.fulcio;
      const s = new KeylessSigner({ fulcioURL: mock.url, rekorURL: mock.url, identityToken: githubActionsToken(url, 'job-bearer') });
      await assert.rejects(signImage(layout, 'v1', { signer: s, dockerReference: REF }), (e: unknown) => {
        assert.ok(isProvenantError(e, 'CREDENTIALS'), String(e));
        assert.equal(
          e.message,
          'the OIDC token the GitHub Actions runner gave the job is not a JWT (21 characters, 1 dot-separated part; a JWT has 3)',
        );
        assert.match(
          String(e.hint),
          /^the token is the runner's, not one passed in: check that the job has `permissions: id-token: write`/,
        );
        assert.doesNotMatch(`${e.message} ${e.hint}`, /file name|pass the token|not-a-jwt/);
        return true;
      });
      assert.equal(mock.requests.fulcio, before, 'Fulcio was asked with a token that is not one');
      value = mock.token(IDENTITY);
      assert.equal(await githubActionsToken(url, 'job-bearer')(), value);
    } finally {
      await new Promise<void>((resolve) => endpoint.close(() => resolve()));
    }
  });

  it('a Fulcio, Rekor or timestamp authority that answers an error: the code its status means, naming the URL without its password', async () => {
    const server = await startStatusServer({ status: 401, message: 'There was an error processing the identity token' });
    try {
      const layout = await tempLayout();
      const stored = parseStored(encodeJson({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }));
      await layout.putManifest(stored, { tags: ['v1'] });
      const withUser = server.url.replace('http://', 'http://user:s3cretpw@');
      const token = mock.token(IDENTITY);
      const key = generateSigningKeyPair().privateKey;
      const fulcio = (retries: number) => new KeylessSigner({ fulcioURL: withUser, rekorURL: mock.url, identityToken: token, retries });
      const attempt = async (signer: KeylessSigner | KeySigner, code: string, check: (e: ProvenantError) => void) => {
        await assert.rejects(signImage(layout, 'v1', { signer, dockerReference: REF, storages: ['referrers'] }), (e: unknown) => {
          assert.ok(isProvenantError(e), String(e));
          assert.equal(e.code, code, e.message);
          assert.equal(e.where, server.url, e.message);
          assert.ok(!`${e.message} ${e.hint}`.includes('s3cretpw') && !e.message.includes(token), e.message);
          check(e);
          return true;
        });
      };
      // Fulcio refusing the token: a fresh one is what helps (exit 4), not a trust failure (exit 5).
      await attempt(fulcio(0), 'CREDENTIALS', (e) => {
        assert.match(e.message, /Fulcio refused the OIDC identity token \(HTTP 401: There was an error processing the identity token\)/);
        assert.equal(e.hint, REFUSED_TOKEN_HINT);
      });
      server.answer = { status: 403 };
      await attempt(fulcio(0), 'CREDENTIALS', (e) => assert.equal(e.hint, REFUSED_TOKEN_HINT));
      // Unavailable after the retries: a network failure (exit 6), each retry asked.
      server.answer = { status: 503, message: 'unavailable' };
      server.paths.length = 0;
      await attempt(fulcio(1), 'NETWORK', (e) => assert.match(e.message, /Fulcio answered 503: unavailable, after 1 retry/));
      assert.deepEqual(server.paths, ['/api/v2/signingCert', '/api/v2/signingCert']);
      server.answer = { status: 429 };
      await attempt(fulcio(0), 'TOO_MANY_REQUESTS', () => {});
      // Not the service's URL: each names what it asked under it.
      server.answer = { status: 404 };
      await attempt(fulcio(0), 'NOT_FOUND', (e) => assert.match(e.message, /Fulcio answered 404.*no \/api\/v2\/signingCert/));
      await attempt(new KeySigner(key, { rekorURL: withUser, retries: 0 }), 'NOT_FOUND', (e) =>
        assert.match(e.message, /Rekor answered 404.*no \/api\/v1\/log\/entries/),
      );
      await attempt(new KeySigner(key, { tsaURL: withUser, retries: 0 }), 'NOT_FOUND', (e) =>
        assert.match(e.message, /the timestamp authority answered 404.*no \/api\/v1\/timestamp/),
      );
      // Rekor wanting credentials is not the token's fault.
      server.answer = { status: 401 };
      await attempt(new KeySigner(key, { rekorURL: withUser, retries: 0 }), 'UNAUTHORIZED', (e) => assert.equal(e.hint, undefined));
    } finally {
      await server.stop();
    }
  });

  it('a Fulcio, Rekor or timestamp authority URL with user info: the failure names the URL, never its password', async () => {
    const layout = await tempLayout();
    const stored = parseStored(encodeJson({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }));
    await layout.putManifest(stored, { tags: ['v1'] });
    // Port 1 on 127.0.0.1 refuses, and sigstore-js names the URL it asked in its message.
    const closed = 'http://user:s3cret@127.0.0.1:1';
    const key = generateSigningKeyPair().privateKey;
    const signers = [
      new KeylessSigner({ fulcioURL: closed, rekorURL: mock.url, identityToken: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', retries: 0 }),
      new KeySigner(key, { rekorURL: closed, retries: 0 }),
      new KeySigner(key, { tsaURL: closed, retries: 0 }),
    ];
    for (const s of signers) {
      await assert.rejects(signImage(layout, 'v1', { signer: s, dockerReference: REF, storages: ['referrers'] }), (e: unknown) => {
        assert.ok(isProvenantError(e, 'NETWORK'), String(e));
        assert.ok(e.message.includes('127.0.0.1:1'), e.message);
        assert.ok(!`${e.message} ${e.hint}`.includes('s3cret'), e.message);
        return true;
      });
    }
  });
});

/**
 * cosign's check that a layer's Rekor bundle is for the layer (pkg/cosign/verify.go:1320-1331,
 * VerifyBundle; bundleHash at 1544-1561): the hash the entry records (a `dsse` entry's
 * envelopeHash, an `intoto` or `hashedrekord` entry's content or data hash) must be the SHA-256 of
 * the layer's bytes. Re-stated here as an oracle; undefined when it passes, else cosign's reason.
 */
function cosignBundleHashCheck(layer: { payload: Uint8Array; annotations: Record<string, string> }): string | undefined {
  const annotation = layer.annotations['dev.sigstore.cosign/bundle'];
  if (annotation === undefined) return 'no Rekor bundle';
  const doc = JSON.parse(annotation) as { Payload: { body: string } };
  const body = JSON.parse(Buffer.from(doc.Payload.body, 'base64').toString('utf8')) as {
    kind: string;
    spec: { envelopeHash?: { value: string }; content?: { hash?: { value: string } }; data?: { hash?: { value: string } } };
  };
  const recorded =
    body.kind === 'dsse'
      ? body.spec.envelopeHash?.value
      : body.kind === 'intoto'
        ? body.spec.content?.hash?.value
        : body.spec.data?.hash?.value;
  const payload = createHash('sha256').update(layer.payload).digest('hex');
  return recorded === payload ? undefined : `matching bundle to payload: bundle=${recorded}, payload=${payload}`;
}

/**
 * cosign's check of a layer's RFC 3161 timestamp (pkg/cosign/verify.go:1415-1440,
 * VerifyRFC3161Timestamp): over the signature annotation's bytes, or, when that is empty (an
 * attestation's), over the layer's bytes. Only what the timestamp is over is re-stated here (its
 * message imprint); its signature and chain are @sigstore/verify's to check, in verifyImage.
 */
function cosignTimestampCheck(layer: { payload: Uint8Array; annotations: Record<string, string> }): string | undefined {
  const annotation = layer.annotations['dev.sigstore.cosign/rfc3161timestamp'];
  if (annotation === undefined) return 'no timestamp';
  const der = Buffer.from((JSON.parse(annotation) as { SignedRFC3161Timestamp: string }).SignedRFC3161Timestamp, 'base64');
  const sig = layer.annotations['dev.cosignproject.cosign/signature'] ?? '';
  const over = sig === '' ? Buffer.from(layer.payload) : Buffer.from(sig, 'base64');
  try {
    RFC3161Timestamp.parse(der).tstInfo.verify(over);
    return undefined;
  } catch (err) {
    return `expected at least one verified timestamp: ${(err as Error).message}`;
  }
}
