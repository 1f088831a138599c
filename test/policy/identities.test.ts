/**
 * A keyless authority's identities are matched against every subject alternative name of the
 * certificate, as cosign's CheckCertificatePolicy (which policy-controller calls) matches them,
 * and in the order `verify --certificate-identity` tries them: a certificate with two names is
 * accepted by a policy naming either, and one naming neither is refused with both names said.
 *
 * The certificate gets a second name, an email, from {@link withExtraNames}.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Digest } from '../../src/oci/digest.ts';
import { evaluatePolicies } from '../../src/policy/evaluate.ts';
import { parsePolicies } from '../../src/policy/load.ts';
import { formatPolicyReport } from '../../src/policy/report.ts';
import { signImage } from '../../src/sign/sign.ts';
import type { LayoutStore } from '../../src/store/layout.ts';
import { makeImage } from '../helpers/images.ts';
import { tempLayout } from '../sign/helpers.ts';
import { type MockSigstore, mockSigner, startMockSigstore } from '../sign/mock-sigstore.ts';
import { withExtraNames } from './helpers.ts';

const GITHUB = 'https://token.actions.githubusercontent.com';
const WORKFLOW = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
const EMAIL = 'release@acme.example';

const policy = (identity: string) => `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: released}
spec:
  images: [{glob: "**"}]
  authorities:
  - name: ci
    keyless:
      identities: [${identity}]
`;

describe('keyless identities: every name of the certificate, as policy-controller matches them', () => {
  let dir: string;
  let mock: MockSigstore;
  let layout: LayoutStore;
  let digest: Digest;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provenant-policy-identities-'));
    mock = await startMockSigstore({ dir });
    layout = await tempLayout();
    const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    digest = made.root.digest;
    await withExtraNames([{ type: 'email', value: EMAIL }], () =>
      signImage(layout, 'v1', {
        signer: mockSigner(mock, WORKFLOW, GITHUB),
        dockerReference: 'registry.example/acme/app',
        storages: ['cosign'],
      }),
    );
  });
  after(async () => {
    await mock?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const evaluate = async (identity: string) => {
    const policies = await parsePolicies(policy(identity), 'policy.yaml', { baseDir: dir });
    return evaluatePolicies(layout, digest, 'registry.example/acme/app:v1', policies, { trustedRoot: mock.trustedRoot });
  };

  it('a policy naming the second name accepts, and reports that name as the signer', async () => {
    const r = await evaluate(`{issuer: "${GITHUB}", subject: "${EMAIL}"}`);
    assert.equal(r.passed, true, r.failures.join('\n'));
    assert.deepEqual(
      r.policies[0]!.authorities[0]!.signatures!.map((s) => s.signer),
      [{ identity: EMAIL, issuer: GITHUB }],
    );
    assert.match(formatPolicyReport(r), /signed by release@acme\.example \(https:\/\/token\.actions/);
  });

  it('a policy naming the first name accepts, as before', async () => {
    const r = await evaluate(`{issuer: "${GITHUB}", subjectRegExp: "^https://github\\\\.com/acme/app/"}`);
    assert.equal(r.passed, true, r.failures.join('\n'));
    assert.deepEqual(
      r.policies[0]!.authorities[0]!.signatures!.map((s) => s.signer),
      [{ identity: WORKFLOW, issuer: GITHUB }],
    );
  });

  it('a name that matches with another identity’s issuer does not count', async () => {
    const r = await evaluate(
      `{issuer: "https://issuer.example", subject: "${EMAIL}"}, {issuer: "${GITHUB}", subject: "other@acme.example"}`,
    );
    assert.equal(r.passed, false);
  });

  it('a policy naming neither refuses, saying every name the certificate has and reporting the first', async () => {
    const r = await evaluate(`{issuer: "${GITHUB}", subjectRegExp: "^someone@acme\\\\.example$"}`);
    assert.equal(r.passed, false);
    const [s] = r.policies[0]!.authorities[0]!.signatures!;
    assert.equal(s?.reason, 'identity');
    assert.deepEqual(s?.signer, { identity: WORKFLOW, issuer: GITHUB });
    assert.equal(
      s?.message,
      `its certificate’s identities are ${JSON.stringify(WORKFLOW)}, ${JSON.stringify(EMAIL)} from issuer ${JSON.stringify(GITHUB)}, which matches none of the identities (/^someone@acme\\.example$/ from ${JSON.stringify(GITHUB)})`,
    );
    assert.match(r.failures[0]!, /identities are "https:\/\/github\.com\/acme\/app\/.*", "release@acme\.example" from issuer/);
  });
});
