/**
 * Attestation rules met by statements in BuildKit's storage (attestation manifests inside the
 * image index) when a signature over the index verifies with the authority: with a key and with
 * keyless identities (from @sigstore/mock on 127.0.0.1), for a platform image given its index and
 * for the index itself. An unsigned index, one signed by another key or identity, and a
 * statement about another platform's image are no evidence.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type AttestationMode, type StatementBlob, statement, storeAttestations } from '../../src/attest/storage.ts';
import { isProvenantError } from '../../src/errors.ts';
import type { Stored } from '../../src/oci/content.ts';
import type { Digest } from '../../src/oci/digest.ts';
import { evaluatePolicies } from '../../src/policy/evaluate.ts';
import { parsePolicies } from '../../src/policy/load.ts';
import { generateSigningKeyPair, publicKeyPem } from '../../src/sign/keys.ts';
import { signImage } from '../../src/sign/sign.ts';
import { KeySigner, type Signer } from '../../src/sign/signer.ts';
import type { ContentStore } from '../../src/store/types.ts';
import { makeImage } from '../helpers/images.ts';
import { tempLayout } from '../sign/helpers.ts';
import { type MockSigstore, mockSigner, startMockSigstore } from '../sign/mock-sigstore.ts';
import { withExtraNames } from './helpers.ts';

const alice = generateSigningKeyPair();
const bob = generateSigningKeyPair();
const REF = 'registry.test/acme/app';
const GITHUB = 'https://token.actions.githubusercontent.com';
const WORKFLOW = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
const FORK = 'https://github.com/acme/app-fork/.github/workflows/release.yml@refs/heads/main';
const SLSA = 'https://slsa.dev/provenance/v1';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'provenant-policy-in-index-'));
  await writeFile(join(dir, 'cosign.pub'), publicKeyPem(alice.publicKey));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** An authority (YAML lines under `- name: release`) that requires provenance from WORKFLOW. */
const policyWith = (authority: string) =>
  parsePolicies(
    `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: built-in-ci}
spec:
  images: [{glob: "**"}]
  authorities:
  - name: release
${authority}
    attestations:
    - name: provenance
      predicateType: slsaprovenance1
      policy: {type: cel, data: 'predicate.runDetails.builder.id == "${WORKFLOW}"'}
`,
    'policy.yaml',
    { baseDir: dir },
  );

const KEY = '    key: {secretRef: {name: cosign.pub}}';

const provenance = (image: Digest, builder = WORKFLOW): StatementBlob =>
  statement(SLSA, { buildDefinition: {}, runDetails: { builder: { id: builder } } }, [{ name: REF, digest: image }]);

/**
 * A two-platform image (amd64, arm64) whose index lists, in `mode`, the statements `statementsOf`
 * makes for each platform image (default: a provenance by WORKFLOW), tagged `v1`; unsigned.
 */
async function attested(
  mode: AttestationMode = 'buildkit',
  statementsOf: (image: Digest, platform: number) => StatementBlob[] = (image) => [provenance(image)],
): Promise<{ store: ContentStore; index: Stored; amd64: Digest; arm64: Digest }> {
  const store = await tempLayout();
  const made = await makeImage(store, {
    platforms: [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
    ],
  });
  const list = made.manifests.map((manifest, i) => ({ manifest, statements: statementsOf(manifest.digest, i) }));
  const index = await storeAttestations(store, made.root, list, mode);
  await store.putManifest(index, { tags: ['v1'] });
  const [amd64, arm64] = made.manifests.map((m) => m.digest) as [Digest, Digest];
  return { store, index, amd64, arm64 };
}

const sign = (store: ContentStore, index: Stored, signer: Signer) => signImage(store, index.digest, { signer, dockerReference: REF });

describe('attestation rules met through a signed index', () => {
  for (const mode of ['buildkit', 'buildkit-artifact'] as const) {
    it(`${mode}: a key-signed index's statements meet the rule for a platform image and for the index`, async () => {
      const policies = await policyWith(KEY);
      const { store, index, amd64 } = await attested(mode);
      await sign(store, index, new KeySigner(alice.privateKey));

      const platform = await evaluatePolicies(store, amd64, REF, policies, { index });
      assert.equal(platform.passed, true, platform.failures.join('\n'));
      const rule = platform.policies[0]!.authorities[0]!.attestations![0]!;
      assert.deepEqual(
        rule.statements.map((s) => [s.passed, s.source.replace(/^index entry sha256:[0-9a-f]{64} layer 0 /, '')]),
        [[true, '(linux/amd64)']],
      );
      assert.deepEqual(
        platform.policies[0]!.authorities[0]!.signatures!.map((s) => [s.storage, s.verified]),
        [['buildkit', true]],
      );
      assert.equal(platform.policies[0]!.authorities[0]!.signatures![0]!.coveredBy?.index, index.digest);

      // The index itself, found as such without being given: what it lists for each image.
      const whole = await evaluatePolicies(store, index.digest, REF, policies);
      assert.equal(whole.passed, true, whole.failures.join('\n'));
      assert.equal(whole.policies[0]!.authorities[0]!.attestations![0]!.statements.length, 2);
    });
  }

  it('an unsigned index vouches for nothing: its statements are no evidence', async () => {
    const policies = await policyWith(KEY);
    const { store, index, amd64 } = await attested();
    for (const r of [
      await evaluatePolicies(store, amd64, REF, policies, { index }),
      await evaluatePolicies(store, index.digest, REF, policies),
    ]) {
      assert.equal(r.passed, false);
      assert.equal(r.failures.length, 1);
      assert.match(
        r.failures[0]!,
        /^built-in-ci \/ release: none of the \d attestations verified with the key \(index entry .*: it is unsigned in the index/,
      );
      const reasons = r.policies[0]!.authorities[0]!.signatures!.map((s) => [s.storage, s.reason]);
      assert.ok(reasons.length > 0);
      for (const reason of reasons) assert.deepEqual(reason, ['buildkit', 'unsigned']);
    }
  });

  it('an index signed by another key: its statements are no evidence', async () => {
    const policies = await policyWith(KEY);
    const { store, index, amd64 } = await attested();
    await sign(store, index, new KeySigner(bob.privateKey));
    const r = await evaluatePolicies(store, amd64, REF, policies, { index });
    assert.equal(r.passed, false);
    assert.match(r.failures[0]!, /none of the index's 2 signatures verifies/);
    assert.deepEqual(
      r.policies[0]!.authorities[0]!.signatures!.map((s) => [s.storage, s.verified]),
      [['buildkit', false]],
    );
  });

  it("a statement about another platform's image does not meet this platform's rule", async () => {
    const policies = await policyWith(KEY);
    // arm64's provenance meets the rule; amd64's names another builder.
    const { store, index, amd64, arm64 } = await attested('buildkit', (image, i) => [
      provenance(image, i === 0 ? 'https://ci.evil.example/builder' : WORKFLOW),
    ]);
    await sign(store, index, new KeySigner(alice.privateKey));
    const good = await evaluatePolicies(store, arm64, REF, policies, { index });
    assert.equal(good.passed, true, good.failures.join('\n'));
    const bad = await evaluatePolicies(store, amd64, REF, policies, { index });
    assert.equal(bad.passed, false);
    const rule = bad.policies[0]!.authorities[0]!.attestations![0]!;
    assert.equal(rule.statements.length, 1, 'only the statement about amd64 is read');
    assert.match(rule.statements[0]!.source, /\(linux\/amd64\)$/);
    assert.match(rule.message, /the condition is false/);
  });

  it('a statement counts when the signature over the index is in the authority’s format, legacy when none is given', async () => {
    const policies = await policyWith(KEY);
    const { store, index, amd64 } = await attested();
    // Signed with a Sigstore bundle only: policy-controller, which takes legacy by default, finds no signature.
    await signImage(store, index.digest, { signer: new KeySigner(alice.privateKey), dockerReference: REF, storages: ['referrers'] });
    const r = await evaluatePolicies(store, amd64, REF, policies, { index });
    assert.equal(r.passed, false);
    const [s] = r.policies[0]!.authorities[0]!.signatures!;
    assert.deepEqual([s?.storage, s?.verified, s?.reason], ['buildkit', false, 'signature-format']);
    assert.match(
      s?.message ?? '',
      /the index's signature that verifies \(referrer sha256:[0-9a-f]{64}\) is in the bundle format, where the authority asks for the legacy format \(signatureFormat is not given/,
    );
    // Signed in the legacy format too: that signature vouches.
    await signImage(store, index.digest, { signer: new KeySigner(alice.privateKey), dockerReference: REF, storages: ['cosign'] });
    const ok = await evaluatePolicies(store, amd64, REF, policies, { index });
    assert.equal(ok.passed, true, ok.failures.join('\n'));
    assert.equal(ok.policies[0]!.authorities[0]!.signatures![0]!.coveredBy?.storage, 'cosign');
  });

  it('an index that does not list the image is refused', async () => {
    const policies = await policyWith(KEY);
    const { store, amd64, arm64 } = await attested();
    const other = await makeImage(store, { seed: 7 });
    for (const index of [other.root, await store.getManifest(arm64)]) {
      await assert.rejects(
        evaluatePolicies(store, amd64, REF, policies, { index }),
        (err: unknown) =>
          isProvenantError(err) &&
          err.code === 'USAGE' &&
          /the index given for registry\.test\/acme\/app does not list it/.test(err.message),
      );
    }
  });

  it('a name with a digest: the platform image’s or the index’s is taken, as written; another is refused, naming both', async () => {
    const policies = await policyWith(KEY);
    const { store, index, amd64 } = await attested();
    const repo = 'registry.test/acme/app';
    for (const d of [amd64, index.digest]) {
      const r = await evaluatePolicies(store, amd64, `${repo}@${d}`, policies, { index });
      assert.equal(r.name, `${repo}@${d}`);
    }
    const other = `sha256:${'0'.repeat(64)}`;
    await assert.rejects(evaluatePolicies(store, amd64, `${repo}@${other}`, policies, { index }), (err: unknown) => {
      assert.ok(isProvenantError(err, 'USAGE'), String(err));
      assert.equal(
        err.message,
        `the name ${repo}@${other} names the digest ${other}, but the image is ${amd64}, of the index ${index.digest}`,
      );
      return true;
    });
  });

  describe('keyless', () => {
    let mock: MockSigstore;
    before(async () => {
      mock = await startMockSigstore({ dir });
    });
    after(async () => {
      await mock?.stop();
    });
    const signer = (subject: string) => mockSigner(mock, subject, GITHUB);
    const KEYLESS = `    keyless:
      identities: [{issuer: "${GITHUB}", subjectRegExp: "^https://github\\\\.com/acme/app/"}]`;

    it("the index signature's identity is what the identities are matched against", async () => {
      const policies = await policyWith(KEYLESS);
      const good = await attested();
      await sign(good.store, good.index, signer(WORKFLOW));
      const ok = await evaluatePolicies(good.store, good.amd64, REF, policies, { index: good.index, trustedRoot: mock.trustedRoot });
      assert.equal(ok.passed, true, ok.failures.join('\n'));
      assert.deepEqual(ok.policies[0]!.authorities[0]!.signatures![0]!.signer, { identity: WORKFLOW, issuer: GITHUB });

      const fork = await attested();
      await sign(fork.store, fork.index, signer(FORK));
      const bad = await evaluatePolicies(fork.store, fork.amd64, REF, policies, { index: fork.index, trustedRoot: mock.trustedRoot });
      assert.equal(bad.passed, false);
      assert.match(bad.failures[0]!, /app-fork.*matches none of the identities/);
      assert.deepEqual(
        bad.policies[0]!.authorities[0]!.signatures!.map((s) => [s.storage, s.reason]),
        [['buildkit', 'identity']],
      );
    });

    it('an index signature whose certificate has two names vouches for a policy naming the second, under that name', async () => {
      const EMAIL = 'release@acme.example';
      const policies = await policyWith(`    keyless:\n      identities: [{issuer: "${GITHUB}", subject: "${EMAIL}"}]`);
      const { store, index, amd64 } = await attested();
      await withExtraNames([{ type: 'email', value: EMAIL }], () => sign(store, index, signer(FORK)));
      const r = await evaluatePolicies(store, amd64, REF, policies, { index, trustedRoot: mock.trustedRoot });
      assert.equal(r.passed, true, r.failures.join('\n'));
      assert.deepEqual(
        r.policies[0]!.authorities[0]!.signatures!.map((s) => [s.storage, s.signer]),
        [['buildkit', { identity: EMAIL, issuer: GITHUB }]],
      );
    });

    it('an index signed by another identity first and by a named one after: the named one vouches', async () => {
      const policies = await policyWith(KEYLESS);
      const { store, index, amd64 } = await attested();
      await signImage(store, index.digest, { signer: signer(FORK), dockerReference: REF, storages: ['cosign'] });
      await signImage(store, index.digest, { signer: signer(WORKFLOW), dockerReference: REF, storages: ['cosign'] });
      const r = await evaluatePolicies(store, amd64, REF, policies, { index, trustedRoot: mock.trustedRoot });
      assert.equal(r.passed, true, r.failures.join('\n'));
      assert.deepEqual(r.policies[0]!.authorities[0]!.signatures![0]!.signer, { identity: WORKFLOW, issuer: GITHUB });
    });

    it('signatureFormat bundle: a statement counts when a bundle over the index is by a named identity', async () => {
      const policies = await policyWith(`${KEYLESS}\n    signatureFormat: bundle`);
      const { store, index, amd64 } = await attested();
      await signImage(store, index.digest, { signer: signer(WORKFLOW), dockerReference: REF, storages: ['cosign'] });
      const legacy = await evaluatePolicies(store, amd64, REF, policies, { index, trustedRoot: mock.trustedRoot });
      assert.equal(legacy.passed, false);
      const [s] = legacy.policies[0]!.authorities[0]!.signatures!;
      assert.deepEqual([s?.storage, s?.reason], ['buildkit', 'signature-format']);
      assert.match(s?.message ?? '', /is in the legacy format, where the authority asks for signatureFormat bundle$/);
      await signImage(store, index.digest, { signer: signer(WORKFLOW), dockerReference: REF, storages: ['referrers'] });
      const ok = await evaluatePolicies(store, amd64, REF, policies, { index, trustedRoot: mock.trustedRoot });
      assert.equal(ok.passed, true, ok.failures.join('\n'));
      assert.equal(ok.policies[0]!.authorities[0]!.signatures![0]!.coveredBy?.storage, 'referrers');
    });

    it("the index's signatures are verified once, however many identities the authority names", async () => {
      // Three identities; the index signed by another identity first, so that the first
      // signature's signer matches none and the others are looked at.
      const policies = await policyWith(`    keyless:
      identities:
      - {issuer: "${GITHUB}", subject: "https://example.org/one"}
      - {issuer: "${GITHUB}", subject: "https://example.org/two"}
      - {issuer: "${GITHUB}", subjectRegExp: "^https://github\\\\.com/acme/app/"}`);
      const { store, index, amd64 } = await attested();
      await signImage(store, index.digest, { signer: signer(FORK), dockerReference: REF, storages: ['cosign'] });
      await signImage(store, index.digest, { signer: signer(WORKFLOW), dockerReference: REF, storages: ['cosign'] });
      const counted = counting(store);
      const r = await evaluatePolicies(counted.store, amd64, REF, policies, { index, trustedRoot: mock.trustedRoot });
      assert.equal(r.passed, true, r.failures.join('\n'));
      assert.deepEqual(r.policies[0]!.authorities[0]!.signatures![0]!.signer, { identity: WORKFLOW, issuer: GITHUB });
      // verifyImage looks up a subject's signatures once a verification.
      assert.equal(counted.lookups.get(index.digest), 1);
    });

    it("the index's signatures are not looked at when it holds no statement about the image", async () => {
      // Only amd64 has a statement; arm64 has none in the index, so nothing there can meet its rule.
      const policies = await policyWith(`    keyless:
      identities:
      - {issuer: "${GITHUB}", subject: "${WORKFLOW}"}`);
      const { store, index, arm64 } = await attested('buildkit', (image, i) => (i === 0 ? [provenance(image)] : []));
      await signImage(store, index.digest, { signer: signer(WORKFLOW), dockerReference: REF, storages: ['cosign'] });
      const counted = counting(store);
      const r = await evaluatePolicies(counted.store, arm64, REF, policies, { index, trustedRoot: mock.trustedRoot });
      assert.equal(r.passed, false);
      assert.equal(counted.lookups.get(index.digest), undefined);
      // The image's own attestations were looked for, so the rule was evaluated.
      assert.ok((counted.lookups.get(arm64) ?? 0) > 0);
    });
  });
});

/** `store`, counting the referrers looked up for each subject. */
function counting(store: ContentStore): { store: ContentStore; lookups: Map<string, number> } {
  const lookups = new Map<string, number>();
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'referrers') {
        return (subject: Digest, options?: object) => {
          lookups.set(subject, (lookups.get(subject) ?? 0) + 1);
          return target.referrers(subject, options);
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store: proxy, lookups };
}
