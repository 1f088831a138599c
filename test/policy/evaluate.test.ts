/**
 * Evaluating policies against real signed images in a temporary OCI layout: the three
 * documented examples pass for an image that meets them and fail, naming the rule, for one that
 * does not; CEL conditions that are true, false and in error; the built-in checks; modes,
 * alternatives, static authorities and signature formats. Keyless signatures come from
 * @sigstore/mock's Fulcio, Rekor and TSA on 127.0.0.1 (test/sign/mock-sigstore.ts).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { statement } from '../../src/attest/storage.ts';
import { isProvenantError } from '../../src/errors.ts';
import { encodeJson, parseStored } from '../../src/oci/content.ts';
import type { Digest } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import type { ImageManifest } from '../../src/oci/types.ts';
import { evaluatePolicies, type PolicyReport } from '../../src/policy/evaluate.ts';
import { parsePolicies } from '../../src/policy/load.ts';
import { formatPolicyReport } from '../../src/policy/report.ts';
import { generateSigningKeyPair, publicKeyPem } from '../../src/sign/keys.ts';
import { attestImage, signImage } from '../../src/sign/sign.ts';
import { KeylessSigner, KeySigner } from '../../src/sign/signer.ts';
import type { LayoutStore } from '../../src/store/layout.ts';
import { makeImage } from '../helpers/images.ts';
import { tempLayout } from '../sign/helpers.ts';
import { type MockSigstore, mockSigner, startMockSigstore } from '../sign/mock-sigstore.ts';
import { apkStanza, docExample, imageWithFiles } from './helpers.ts';

const alice = generateSigningKeyPair();
const bob = generateSigningKeyPair();
const REF = 'registry.test/acme/app';
const GITHUB = 'https://token.actions.githubusercontent.com';
const WORKFLOW = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
const SPDX = 'https://spdx.dev/Document';
const SLSA = 'https://slsa.dev/provenance/v1';
const NOW = new Date('2026-06-01T00:00:00Z');
const DAY = 86_400_000;

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'provenant-policy-eval-'));
  await writeFile(join(dir, 'cosign.pub'), publicKeyPem(alice.publicKey));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const load = (text: string) => parsePolicies(text, 'policy.yaml', { baseDir: dir });

async function image(tag = 'v1'): Promise<{ layout: LayoutStore; digest: Digest }> {
  const layout = await tempLayout();
  const made = await makeImage(layout, { tag, platforms: [{ os: 'linux', architecture: 'amd64' }] });
  return { layout, digest: made.root.digest };
}

function provenance(
  digest: Digest,
  builder = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main',
  deps?: (string | Record<string, unknown>)[],
) {
  return statement(
    SLSA,
    {
      buildDefinition: {
        buildType: 'https://provenant.dev/build/apk/v1',
        externalParameters: { config: { contents: { packages: ['busybox', 'ca-certificates'] } } },
        resolvedDependencies: (deps ?? ['https://packages.acme.example/alpine/v3.20/main/x86_64/APKINDEX.tar.gz']).map((uri) =>
          typeof uri === 'string' ? { uri, digest: { sha256: '0'.repeat(64) } } : { digest: { sha256: '0'.repeat(64) }, ...uri },
        ),
      },
      runDetails: { builder: { id: builder } },
    },
    [{ name: REF, digest }],
  );
}

function spdx(digest: Digest, packages: { name: string; versionInfo: string; builtDate?: string }[] = []) {
  return statement(SPDX, { spdxVersion: 'SPDX-2.3', SPDXID: 'SPDXRef-DOCUMENT', name: 'app', packages }, [{ name: REF, digest }]);
}

describe('example: signed with our own key', () => {
  it('passes for an image signed with the key, fails naming the rule for another key and for none', async () => {
    const policies = await load(await docExample('own-key'));
    const good = await image();
    await signImage(good.layout, 'v1', { signer: new KeySigner(alice.privateKey), dockerReference: REF });
    const ok = await evaluatePolicies(good.layout, good.digest, `${REF}:v1`, policies);
    assert.equal(ok.passed, true, ok.failures.join('\n'));
    assert.equal(ok.verdict, 'pass');
    // No signatureFormat: legacy, as policy-controller takes it; the bundle does not count.
    assert.deepEqual(
      ok.policies[0]!.authorities[0]!.signatures!.map((s) => [s.storage, s.verified, s.reason]),
      [
        ['cosign', true, undefined],
        ['referrers', false, 'signature-format'],
      ],
    );

    const other = await image();
    await signImage(other.layout, 'v1', { signer: new KeySigner(bob.privateKey), dockerReference: REF });
    const bad = await evaluatePolicies(other.layout, other.digest, `${REF}:v1`, policies);
    assert.equal(bad.passed, false);
    assert.equal(bad.verdict, 'fail');
    assert.equal(bad.failures.length, 1);
    assert.match(bad.failures[0]!, /^signed-with-our-key \/ release-key: none of the 2 signatures verified with the key/);
    assert.deepEqual(
      bad.policies[0]!.authorities[0]!.signatures!.map((s) => s.reason),
      ['signature', 'wrong-key'],
    );

    const unsigned = await image();
    const none = await evaluatePolicies(unsigned.layout, unsigned.digest, `${REF}:v1`, policies);
    assert.deepEqual(none.failures, ['signed-with-our-key / release-key: the image has no signatures']);
    assert.match(formatPolicyReport(none), /FAIL authority release-key \(key\): the image has no signatures/);
  });
});

describe('example: GitHub Actions keyless for one repository', () => {
  let mock: MockSigstore;
  before(async () => {
    mock = await startMockSigstore({ dir });
  });
  after(async () => {
    await mock?.stop();
  });
  const signer = (subject: string, issuer = GITHUB) => mockSigner(mock, subject, issuer);

  it('ctlog: {} names no log: a keyless signature timestamped but not logged passes in the legacy format only, as in policy-controller', async () => {
    const img = await image();
    // Timestamped by the mock's TSA, logged nowhere.
    const unlogged = new KeylessSigner({
      fulcioURL: mock.url,
      rekorURL: undefined,
      tsaURL: mock.url,
      identityToken: mock.token(WORKFLOW, GITHUB),
      trustedRoot: mock.trustedRoot,
    });
    await signImage(img.layout, 'v1', { signer: unlogged, dockerReference: 'registry.example/acme/app' });
    const policy = (ctlog: string, format = 'legacy') =>
      load(`apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: nolog}
spec:
  images: [{glob: "**"}]
  authorities:
  - keyless:
      identities: [{issuer: "${GITHUB}", subject: "${WORKFLOW}"}]
    signatureFormat: ${format}
${ctlog}`);
    const run = async (ctlog: string, format?: string) =>
      (
        await evaluatePolicies(img.layout, img.digest, 'registry.example/acme/app:v1', await policy(ctlog, format), {
          trustedRoot: mock.trustedRoot,
        })
      ).passed;
    assert.deepEqual(
      [await run('    ctlog: {}\n'), await run(''), await run('    ctlog: null\n'), await run('    ctlog: {}\n', 'bundle')],
      [true, false, false, false],
    );
  });

  it('passes for a workflow of the repository, fails naming the rule for a fork, another issuer, and without a trusted root', async () => {
    const policies = await load(await docExample('github-actions'));
    const name = 'registry.example/acme/app:v1';
    const good = await image();
    await signImage(good.layout, 'v1', { signer: signer(WORKFLOW), dockerReference: 'registry.example/acme/app' });
    const ok = await evaluatePolicies(good.layout, good.digest, name, policies, { trustedRoot: mock.trustedRoot });
    assert.equal(ok.passed, true, ok.failures.join('\n'));
    assert.match(
      ok.policies[0]!.authorities[0]!.message,
      /1 of 2 signatures verified \(signed by https:\/\/github\.com\/acme\/app\/.*release\.yml@refs\/heads\/main \(https:\/\/token\.actions/,
    );

    const fork = await image();
    await signImage(fork.layout, 'v1', {
      signer: signer('https://github.com/acme/app-fork/.github/workflows/release.yml@refs/heads/main'),
      dockerReference: 'registry.example/acme/app',
    });
    const bad = await evaluatePolicies(fork.layout, fork.digest, name, policies, { trustedRoot: mock.trustedRoot });
    assert.equal(bad.passed, false);
    assert.match(
      bad.failures[0]!,
      /^signed-by-acme-app-workflows \/ github-actions: none of the 2 signatures verified with the keyless identities/,
    );
    assert.match(
      bad.failures[0]!,
      /its certificate’s identity is "[^"]*app-fork[^"]*" from issuer "[^"]+", which matches none of the identities/,
    );
    assert.deepEqual(
      bad.policies[0]!.authorities[0]!.signatures!.map((s) => s.reason),
      ['identity', 'identity'],
    );

    const elsewhere = await image();
    await signImage(elsewhere.layout, 'v1', {
      signer: signer(WORKFLOW, 'https://issuer.example'),
      dockerReference: 'registry.example/acme/app',
      storages: ['cosign'],
    });
    const wrongIssuer = await evaluatePolicies(elsewhere.layout, elsewhere.digest, name, policies, { trustedRoot: mock.trustedRoot });
    assert.equal(wrongIssuer.passed, false);
    assert.match(wrongIssuer.failures[0]!, /from issuer "https:\/\/issuer\.example"/);

    const noRoot = await evaluatePolicies(good.layout, good.digest, name, policies);
    assert.deepEqual(noRoot.failures, [
      'signed-by-acme-app-workflows / github-actions: keyless verification needs a trusted root (the Fulcio CAs and Rekor keys to check against), and none was given',
    ]);

    // Not covered by the policy's glob: fails as policy-controller's no-match-policy deny, unless told otherwise.
    const uncovered = await evaluatePolicies(good.layout, good.digest, 'registry.example/other/app:v1', policies, {
      trustedRoot: mock.trustedRoot,
    });
    assert.deepEqual(uncovered.failures, [
      `no policy covers registry.example/other/app:v1 (matched as registry.example/other/app@${good.digest}, the tag resolved to its digest): none of the 1 policies has a glob that matches it`,
    ]);
    const warned = await evaluatePolicies(good.layout, good.digest, 'registry.example/other/app:v1', policies, { noMatch: 'warn' });
    assert.deepEqual([warned.passed, warned.verdict], [true, 'warn']);
  });

  const POLICY = `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: attested-in-ci}
spec:
  images: [{glob: "**"}]
  authorities:
  - keyless:
      insecureIgnoreSCT: false
      identities: [{issuer: "${GITHUB}", subjectRegExp: "^https://github\\\\.com/acme/app/"}]
    attestations:
    - name: provenance
      predicateType: slsaprovenance1
      policy: {type: cel, data: 'predicate.buildDefinition.externalParameters.config.contents.packages.exists(p, p == "busybox")'}
`;

  it('keyless attestations are checked against the identities too; a bundle counts with signatureFormat bundle only', async () => {
    const img = await image();
    await attestImage(img.layout, 'v1', [provenance(img.digest)], { signer: signer(WORKFLOW), storage: 'referrers' });
    const bundle = await load(POLICY.replace('    attestations:', '    signatureFormat: bundle\n    attestations:'));
    const r = await evaluatePolicies(img.layout, img.digest, REF, bundle, { trustedRoot: mock.trustedRoot });
    assert.equal(r.passed, true, r.failures.join('\n'));
    assert.equal(r.policies[0]!.authorities[0]!.attestations![0]!.statements[0]!.message, 'the condition holds');
    // Without it, legacy: policy-controller looks for the .att tag, and finds nothing there.
    const legacy = await evaluatePolicies(img.layout, img.digest, REF, await load(POLICY), { trustedRoot: mock.trustedRoot });
    assert.match(
      legacy.failures[0]!,
      /^attested-in-ci \/ authority-0: none of the 1 attestations verified with the keyless identities \(referrer sha256:[0-9a-f]{64}: it is in the bundle format, and the authority asks for the legacy format \(signatureFormat is not given/,
    );
  });
});

describe('example: must have SLSA provenance and an SBOM', () => {
  it('passes with both attested, fails naming the rule without the SBOM and with a provenance that lacks the builder', async () => {
    const policies = await load(await docExample('provenance-and-sbom'));
    const signer = new KeySigner(alice.privateKey);
    const good = await image();
    await attestImage(good.layout, 'v1', [provenance(good.digest)], { signer, storage: 'cosign' });
    await attestImage(good.layout, 'v1', [spdx(good.digest)], { signer, storage: 'cosign' });
    const ok = await evaluatePolicies(good.layout, good.digest, `${REF}:v1`, policies);
    assert.equal(ok.passed, true, ok.failures.join('\n'));
    assert.deepEqual(
      ok.policies[0]!.authorities[0]!.attestations!.map((a) => [a.attestation, a.passed]),
      [
        ['provenance', true],
        ['sbom', true],
      ],
    );

    const noSbom = await image();
    await attestImage(noSbom.layout, 'v1', [provenance(noSbom.digest)], { signer, storage: 'cosign' });
    const bad = await evaluatePolicies(noSbom.layout, noSbom.digest, `${REF}:v1`, policies);
    assert.equal(bad.passed, false);
    assert.deepEqual(bad.failures, [
      `must-have-slsa-and-sbom / release-key / sbom: no verified SPDX or CycloneDX attestation (the verified ones are ${SLSA})`,
    ]);
    assert.match(formatPolicyReport(bad), /ok {3}attestation provenance .*\n.*FAIL attestation sbom \(SPDX or CycloneDX\)/);

    const noBuilder = await image();
    const p = provenance(noBuilder.digest);
    const doc = JSON.parse(Buffer.from(p.bytes).toString('utf8'));
    delete doc.predicate.runDetails;
    const stripped = { predicateType: SLSA, bytes: new TextEncoder().encode(JSON.stringify(doc)) };
    await attestImage(noBuilder.layout, 'v1', [stripped, spdx(noBuilder.digest)], { signer, storage: 'cosign' });
    const r = await evaluatePolicies(noBuilder.layout, noBuilder.digest, `${REF}:v1`, policies);
    assert.equal(r.failures.length, 1);
    assert.match(
      r.failures[0]!,
      /^must-have-slsa-and-sbom \/ release-key \/ provenance: the condition is false: has\(predicate\.buildDefinition\)/,
    );

    const byBob = await image();
    await attestImage(byBob.layout, 'v1', [provenance(byBob.digest), spdx(byBob.digest)], {
      signer: new KeySigner(bob.privateKey),
      storage: 'cosign',
    });
    // Attested by another key: nothing verifies, and the authority says why once, on its line
    // and in one failure; each rule says only that it was not reached.
    const rb = await evaluatePolicies(byBob.layout, byBob.digest, `${REF}:v1`, policies);
    assert.equal(rb.failures.length, 1);
    assert.match(rb.failures[0]!, /^must-have-slsa-and-sbom \/ release-key: none of the 2 attestations verified with the key \(/);
    const text = formatPolicyReport(rb);
    assert.equal(text.split('none of the 2 attestations verified').length, 2, text);
    assert.match(
      text,
      /\n {6}FAIL attestation provenance \(.*\): not checked: no attestation verified with the authority \(see its line for why\)\n {6}FAIL attestation sbom/,
    );
  });
});

/** A policy with one key authority attesting with `rules` (YAML list items, indented by 4). */
function keyPolicy(rules: string, extra = ''): string {
  return `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: rules}
spec:
  images: [{glob: "**"}]
  authorities:
  - name: k
    key: {secretRef: {name: cosign.pub}}${extra}
    attestations:
${rules}`;
}

async function attested(statements: (d: Digest) => ReturnType<typeof statement>[]) {
  const img = await image();
  await attestImage(img.layout, 'v1', statements(img.digest), { signer: new KeySigner(alice.privateKey), storage: 'cosign' });
  return img;
}

describe('CEL conditions', () => {
  const rule = (expr: string) => `    - name: cond\n      predicateType: ${SLSA}\n      policy: {type: cel, data: '${expr}'}\n`;

  it('true passes, false fails with the expression, an error fails with CEL’s message, a non-bool is an error', async () => {
    const img = await attested((d) => [provenance(d)]);
    const run = async (expr: string) => {
      const r = await evaluatePolicies(img.layout, img.digest, REF, await load(keyPolicy(rule(expr))), { now: NOW });
      return r.policies[0]!.authorities[0]!.attestations![0]!;
    };
    const t = await run('predicate.buildDefinition.externalParameters.config.contents.packages.exists(p, p == "busybox")');
    assert.deepEqual([t.passed, t.statements[0]!.message], [true, 'the condition holds']);
    const f = await run('predicate.buildDefinition.externalParameters.config.contents.packages.exists(p, p == "bash")');
    assert.equal(f.passed, false);
    assert.match(f.message, /^the condition is false: predicate\.buildDefinition.*"bash"\)$/);
    const e = await run('predicate.runDetails.metadata.invocationId == "x"');
    assert.equal(e.passed, false);
    assert.equal(e.statements[0]!.error, 'field not found: metadata');
    assert.match(e.message, /could not be evaluated: field not found: metadata/);
    const n = await run('predicate.runDetails.builder.id');
    assert.match(n.message, /evaluates to a string .*not to true or false/);
    const vars = await run(
      'predicateType == "https://slsa.dev/provenance/v1" && statement._type == "https://in-toto.io/Statement/v1" && subject[0].name == "registry.test/acme/app" && now > timestamp("2026-01-01T00:00:00Z")',
    );
    assert.equal(vars.passed, true, vars.message);
  });

  it('a condition that runs out of its cost budget stops the evaluation, naming its rule and place', async () => {
    const img = await attested((d) => [provenance(d)]);
    // Each map doubles the string: 2^60 characters, were it not stopped.
    const expr = `[predicate.runDetails.builder.id]${'.map(v, v + v)'.repeat(60)}.size() > 0`;
    await assert.rejects(evaluatePolicies(img.layout, img.digest, REF, await load(keyPolicy(rule(expr))), { now: NOW }), (err: unknown) => {
      assert.ok(isProvenantError(err, 'INVALID_CONFIG'), String(err));
      assert.match(
        err.message,
        /^attestation "cond": the CEL condition \[predicate\.runDetails.* exceeds its cost budget of 10,000,000 units$/,
      );
      assert.match(err.where ?? '', /^policy\.yaml:\d+:\d+$/);
      return true;
    });
  });

  it('the conditions of one evaluation share a total budget', async () => {
    const img = await attested((d) => [provenance(d)]);
    const policy = await load(keyPolicy(rule('predicateType != ""')));
    const ok = await evaluatePolicies(img.layout, img.digest, REF, policy, { now: NOW, celCostBudget: 1000 });
    assert.deepEqual(ok.failures, []);
    await assert.rejects(evaluatePolicies(img.layout, img.digest, REF, policy, { now: NOW, celCostBudget: 1 }), (err: unknown) => {
      assert.ok(isProvenantError(err, 'INVALID_CONFIG'), String(err));
      assert.match(
        err.message,
        /^attestation "cond": the CEL conditions of this verification exceed their total cost budget of 1 units, at predicateType/,
      );
      return true;
    });
  });

  it('JSON keys named constructor and __proto__ are keys like any other', async () => {
    // JSON.parse makes both own properties; a plain object with its own "constructor" is no
    // longer taken for a map by @bufbuild/cel, and "__proto__" must not become a prototype.
    const predicate = JSON.parse('{"constructor": "builder", "__proto__": {"id": "p"}, "materials": [{"constructor": null}]}');
    const img = await attested((d) => [statement(SLSA, predicate, [{ name: REF, digest: d }])]);
    const r = await evaluatePolicies(
      img.layout,
      img.digest,
      REF,
      await load(
        keyPolicy(
          rule(
            'predicate.constructor == "builder" && predicate["__proto__"].id == "p" && !has(predicate.id) && size(predicate.materials) == 1',
          ),
        ),
      ),
      { now: NOW },
    );
    assert.deepEqual(r.failures, []);
  });
});

describe('built-in checks', () => {
  it('slsaBuilder: the exact builder passes, another fails naming both', async () => {
    const img = await attested((d) => [provenance(d, 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main')]);
    const run = async (id: string) =>
      (
        await evaluatePolicies(
          img.layout,
          img.digest,
          REF,
          await load(keyPolicy(`    - name: builder\n      builtin: {slsaBuilder: "${id}"}\n`)),
        )
      ).failures;
    assert.deepEqual(await run('https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main'), []);
    assert.deepEqual(await run('https://builder.example/trusted'), [
      'rules / k / builder: built by "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main", not by "https://builder.example/trusted"',
    ]);
  });

  it('slsaBuilder and repositories read the fields of the statement’s own SLSA version only', async () => {
    const GOOD = 'https://builder.example/trusted';
    const REPO = 'https://packages.acme.example/alpine/';
    // A v0.2 provenance whose own fields are bad, with v1 fields added that would pass.
    const mixed = await attested((d) => [
      statement(
        'https://slsa.dev/provenance/v0.2',
        {
          builder: { id: 'https://evil.example/builder' },
          materials: [{ uri: 'https://evil.example/x.apk' }],
          buildDefinition: { resolvedDependencies: [{ uri: `${REPO}main/busybox.apk` }] },
          runDetails: { builder: { id: GOOD } },
        },
        [{ name: REF, digest: d }],
      ),
    ]);
    const rules = `    - name: builder\n      builtin: {slsaBuilder: "${GOOD}"}\n    - name: repos\n      builtin: {repositories: ["${REPO}"]}\n`;
    const policy = await load(keyPolicy(rules));
    assert.deepEqual((await evaluatePolicies(mixed.layout, mixed.digest, REF, policy)).failures, [
      `rules / k / builder: built by "https://evil.example/builder", not by "${GOOD}"`,
      `rules / k / repos: 1 of 1 dependencies come from elsewhere than ${REPO}: https://evil.example/x.apk`,
    ]);
    // A v1 provenance with only v0.2 fields names nothing a v1 provenance is read by.
    const v02fields = await attested((d) => [
      statement(SLSA, { builder: { id: GOOD }, materials: [{ uri: `${REPO}main/busybox.apk` }] }, [{ name: REF, digest: d }]),
    ]);
    assert.deepEqual((await evaluatePolicies(v02fields.layout, v02fields.digest, REF, policy)).failures, [
      'rules / k / builder: the provenance names no builder id (runDetails.builder.id)',
      'rules / k / repos: the provenance names no resolved dependencies (buildDefinition.resolvedDependencies) to check',
    ]);
  });

  it('repositories: every dependency must lie under a prefix, and a look-alike prefix does not count', async () => {
    const deps = [
      'https://packages.acme.example/alpine/v3.20/main/x86_64/APKINDEX.tar.gz',
      'https://packages.acme.example/alpine-evil/v3.20/main/x86_64/busybox-1.36.1-r2.apk',
      // The host of this one is evil.example: packages.acme.example is its user name.
      'https://packages.acme.example@evil.example/alpine/v3.20/main/x86_64/curl-8.9.1-r0.apk',
      'git+https://packages.acme.example/alpine/aports@refs/heads/main',
    ];
    const img = await attested((d) => [provenance(d, undefined, deps)]);
    const run = async (list: string) =>
      (
        await evaluatePolicies(
          img.layout,
          img.digest,
          REF,
          await load(keyPolicy(`    - name: repos\n      builtin: {repositories: [${list}]}\n`)),
        )
      ).failures;
    const all =
      '"https://packages.acme.example/alpine", "https://packages.acme.example/alpine-evil/", "https://packages.acme.example@evil.example", "git+https://packages.acme.example/alpine/aports"';
    assert.deepEqual(await run(all), []);
    assert.deepEqual(await run('"https://packages.acme.example/alpine", "git+https://packages.acme.example/alpine/aports"'), [
      'rules / k / repos: 2 of 4 dependencies come from elsewhere than https://packages.acme.example/alpine, git+https://packages.acme.example/alpine/aports: https://packages.acme.example/alpine-evil/v3.20/main/x86_64/busybox-1.36.1-r2.apk, https://packages.acme.example@evil.example/alpine/v3.20/main/x86_64/curl-8.9.1-r0.apk',
    ]);
    assert.deepEqual(await run('"https://packages.acme.example", "git+https://packages.acme.example"'), [
      'rules / k / repos: 1 of 4 dependencies come from elsewhere than https://packages.acme.example, git+https://packages.acme.example: https://packages.acme.example@evil.example/alpine/v3.20/main/x86_64/curl-8.9.1-r0.apk',
    ]);
  });

  it('repositories: a dot segment does not climb out of a prefix, and a dependency without a uri does not pass', async () => {
    const deps = [
      'https://packages.acme.example/alpine/v3.20/main/x86_64/APKINDEX.tar.gz',
      'https://packages.acme.example/alpine/../../evil.example/y.apk',
      'https://packages.acme.example/alpine/%2E%2e/evil/z.apk',
      'https://packages.acme.example/alpine/v3.20/./main/x86_64/musl-1.2.5-r0.apk',
      { name: 'evil-tarball' },
      { uri: ['https://evil.example/w.tar.gz'] },
    ];
    const img = await attested((d) => [provenance(d, undefined, deps)]);
    const policy = await load(keyPolicy('    - name: repos\n      builtin: {repositories: ["https://packages.acme.example/alpine"]}\n'));
    assert.deepEqual((await evaluatePolicies(img.layout, img.digest, REF, policy)).failures, [
      'rules / k / repos: 5 of 6 dependencies come from elsewhere than https://packages.acme.example/alpine: https://packages.acme.example/alpine/../../evil.example/y.apk, https://packages.acme.example/alpine/%2E%2e/evil/z.apk, https://packages.acme.example/alpine/v3.20/./main/x86_64/musl-1.2.5-r0.apk, ...',
    ]);
    // An encoded slash after a dot segment climbs out on a server that decodes it first.
    const encoded = await attested((d) => [provenance(d, undefined, ['https://packages.acme.example/alpine/..%2F..%2fevil/x.apk'])]);
    assert.deepEqual((await evaluatePolicies(encoded.layout, encoded.digest, REF, policy)).failures, [
      'rules / k / repos: 1 of 1 dependencies come from elsewhere than https://packages.acme.example/alpine: https://packages.acme.example/alpine/..%2F..%2fevil/x.apk',
    ]);
  });

  it('repositories: a dependency without a uri passes only when it is a key the provenance carries, with its digest', async () => {
    const pem = '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n';
    const content = Buffer.from(pem).toString('base64');
    const sha256 = createHash('sha256').update(pem).digest('hex');
    const index = 'https://packages.acme.example/alpine/v3.20/main/x86_64/APKINDEX.tar.gz';
    const policy = await load(keyPolicy('    - name: repos\n      builtin: {repositories: ["https://packages.acme.example/alpine"]}\n'));
    const failures = async (key: Record<string, unknown>) => {
      const img = await attested((d) => [
        provenance(d, undefined, [index, { name: 'k.rsa.pub', annotations: { kind: 'apk-key' }, ...key }]),
      ]);
      return (await evaluatePolicies(img.layout, img.digest, REF, policy)).failures;
    };
    assert.deepEqual(await failures({ content, digest: { sha256 } }), []);
    const refused = [
      'rules / k / repos: 1 of 2 dependencies come from elsewhere than https://packages.acme.example/alpine: (no uri: k.rsa.pub)',
    ];
    // Whole bytes that are no key (a package, a tarball) were fetched from somewhere all the same.
    assert.deepEqual(await failures({ content, digest: { sha256 }, annotations: { kind: 'apk' } }), refused);
    assert.deepEqual(await failures({ content, digest: { sha256 }, annotations: undefined }), refused);
    // Content that is not what the digest names, content that is not base64, or none: from nowhere it says.
    assert.deepEqual(await failures({ content, digest: { sha256: '0'.repeat(64) } }), refused);
    assert.deepEqual(await failures({ content: `${content}!`, digest: { sha256 } }), refused);
    assert.deepEqual(await failures({ digest: { sha256 } }), refused);
  });

  it('repositories: a uri with a tab, a newline or a space is refused, named with escapes: URL parsers drop them', async () => {
    // new URL() reads the first two as https://packages.acme.example/evil/x.apk.
    const deps = [
      'https://packages.acme.example/alpine/.\t./evil/x.apk',
      'https://packages.acme.example/alpine/\n../evil/y.apk',
      'https://packages.acme.example/alpine/v3.20/main/x86_64/busybox-1.36.1-r2.apk ',
      'https://packages.acme.example/alpine/v3.20/main/x86_64/APKINDEX.tar.gz\u2028',
      'https://packages.acme.example/alpine/v3.20/main/x86_64/musl-1.2.5-r0.apk',
    ];
    const img = await attested((d) => [provenance(d, undefined, deps)]);
    const policy = await load(keyPolicy('    - name: repos\n      builtin: {repositories: ["https://packages.acme.example/alpine/"]}\n'));
    assert.deepEqual((await evaluatePolicies(img.layout, img.digest, REF, policy)).failures, [
      'rules / k / repos: 4 of 5 dependencies have a uri with whitespace or control characters, which URL parsers drop or read differently: "https://packages.acme.example/alpine/.\\t./evil/x.apk", "https://packages.acme.example/alpine/\\n../evil/y.apk", "https://packages.acme.example/alpine/v3.20/main/x86_64/busybox-1.36.1-r2.apk ", ...',
    ]);
  });

  it('sbom: the format asked for must be attested', async () => {
    const img = await attested((d) => [spdx(d)]);
    const run = async (f: string) =>
      (await evaluatePolicies(img.layout, img.digest, REF, await load(keyPolicy(`    - name: sbom\n      builtin: {sbom: ${f}}\n`))))
        .failures;
    assert.deepEqual(await run('spdx'), []);
    assert.deepEqual(await run('cyclonedx'), [
      'rules / k / sbom: no verified CycloneDX attestation (the verified ones are https://spdx.dev/Document)',
    ]);
    // A signed statement with an empty predicate is no SBOM.
    const empty = await attested((d) => [statement(SPDX, {}, [{ name: REF, digest: d }])]);
    assert.deepEqual(
      (await evaluatePolicies(empty.layout, empty.digest, REF, await load(keyPolicy('    - name: sbom\n      builtin: {sbom: spdx}\n'))))
        .failures,
      ['rules / k / sbom: the SBOM attestation has an empty predicate'],
    );
  });

  it('maxPackageAgeDays reads apk’s build times from the image, fails naming old and undated packages, and takes SPDX builtDate for Debian', async () => {
    const signer = new KeySigner(alice.privateKey);
    const policy = await load(keyPolicy('    - name: fresh\n      builtin: {maxPackageAgeDays: 30}\n'));
    const check = async (files: Record<string, string>, statements: (d: Digest) => ReturnType<typeof statement>[]) => {
      const layout = await tempLayout();
      const stored = await imageWithFiles(layout, 'v1', files);
      await attestImage(layout, 'v1', statements(stored.digest), { signer, storage: 'cosign' });
      return evaluatePolicies(layout, stored.digest, REF, policy, { now: NOW });
    };
    const fresh =
      apkStanza('busybox', '1.36.1-r2', new Date(NOW.getTime() - 3 * DAY)) +
      apkStanza('musl', '1.2.5-r0', new Date(NOW.getTime() - 29 * DAY));
    const ok = await check({ 'lib/apk/db/installed': fresh }, (d) => [provenance(d)]);
    assert.equal(ok.passed, true, ok.failures.join('\n'));
    assert.match(
      ok.policies[0]!.authorities[0]!.attestations![0]!.message,
      /all 2 packages were built within 30 days \(the oldest 29 days ago\)/,
    );

    const stale = fresh + apkStanza('zlib', '1.3.1-r0', new Date('2025-01-15T00:00:00Z'));
    const old = await check({ 'lib/apk/db/installed': stale }, (d) => [provenance(d)]);
    assert.deepEqual(old.failures, [
      'rules / k / fresh: 1 of 3 packages are older than 30 days: zlib 1.3.1-r0 (502 days, built 2025-01-15)',
    ]);

    const undated = fresh + apkStanza('legacy', '1.0-r0', undefined);
    const unknown = await check({ 'lib/apk/db/installed': undated }, (d) => [provenance(d)]);
    assert.match(
      unknown.failures[0]!,
      /^rules \/ k \/ fresh: 1 of 3 packages have no known build date \(their source records no build date\): legacy$/,
    );

    const dpkg =
      'Package: base-files\nStatus: install ok installed\nVersion: 12.4\n\nPackage: libc6\nStatus: install ok installed\nVersion: 2.36-9\n\n';
    const debian = await check({ 'var/lib/dpkg/status': dpkg }, (d) => [provenance(d)]);
    assert.match(
      debian.failures[0]!,
      /2 of 2 packages have no known build date \(Debian’s package database records no build dates; an attested SPDX SBOM with builtDate would give them\): base-files, libc6/,
    );
    const dated = await check({ 'var/lib/dpkg/status': dpkg }, (d) => [
      spdx(d, [
        { name: 'base-files', versionInfo: '12.4', builtDate: new Date(NOW.getTime() - 2 * DAY).toISOString() },
        { name: 'libc6', versionInfo: '2.36-9', builtDate: new Date(NOW.getTime() - 40 * DAY).toISOString() },
      ]),
    ]);
    assert.deepEqual(dated.failures, [
      'rules / k / fresh: 1 of 2 packages are older than 30 days: libc6 2.36-9 (40 days, built 2026-04-22)',
    ]);

    // A build date later than now is not an age; an SBOM's date is for its own version only.
    const future = fresh + apkStanza('zlib', '1.2.11-r0', new Date('2099-01-01T00:00:00Z'));
    assert.deepEqual((await check({ 'lib/apk/db/installed': future }, (d) => [provenance(d)])).failures, [
      'rules / k / fresh: 1 of 3 packages have a build date later than now: zlib 1.2.11-r0 (built 2099-01-01)',
    ]);
    // A build time past what a JavaScript Date holds is no date at all, not a fresh one.
    const beyond = fresh + apkStanza('zlib', '1.3.1-r0', new Date(0)).replace(/^t:0$/m, 't:99999999999999');
    assert.deepEqual((await check({ 'lib/apk/db/installed': beyond }, (d) => [provenance(d)])).failures, [
      'rules / k / fresh: 1 of 3 packages have a build time that is not a date: zlib 1.3.1-r0 (apk database build time t:99999999999999)',
    ]);
    const otherVersion = await check({ 'var/lib/dpkg/status': dpkg.replace('Version: 2.36-9', 'Version: 2.24-11') }, (d) => [
      spdx(d, [
        { name: 'base-files', versionInfo: '12.4', builtDate: new Date(NOW.getTime() - 2 * DAY).toISOString() },
        { name: 'libc6', versionInfo: '2.36-9', builtDate: new Date(NOW.getTime() - 2 * DAY).toISOString() },
      ]),
    ]);
    assert.match(otherVersion.failures[0]!, /^rules \/ k \/ fresh: 1 of 2 packages have no known build date \(.*\): libc6$/);

    const nothing = await check({ 'etc/hostname': 'x\n' }, (d) => [provenance(d)]);
    assert.match(
      nothing.failures[0]!,
      /no package list to check: the image has no apk or dpkg database and no verified SBOM attestation lists packages/,
    );
  });
});

describe('maxPackageAgeDays over an index', () => {
  const policy = () => load(keyPolicy('    - name: fresh\n      builtin: {maxPackageAgeDays: 30}\n'));
  // Two platform images whose databases hold busybox 1.36.1-r0, built 3 days ago for amd64 and
  // two years ago for arm64, in one signed index with an SPDX SBOM that dates only the first.
  const twoPlatforms = async () => {
    const layout = await tempLayout();
    const fresh = new Date(NOW.getTime() - 3 * DAY);
    const amd64 = await imageWithFiles(layout, 'amd64', { 'lib/apk/db/installed': apkStanza('busybox', '1.36.1-r0', fresh) });
    const arm64 = await imageWithFiles(layout, 'arm64', {
      'lib/apk/db/installed': apkStanza('busybox', '1.36.1-r0', new Date('2024-06-01T00:00:00Z')),
    });
    const entry = (m: typeof amd64, architecture: string) => ({
      mediaType: MediaType.OciManifest,
      digest: m.digest,
      size: m.bytes.length,
      platform: { os: 'linux', architecture },
    });
    const index = parseStored(
      encodeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [entry(amd64, 'amd64'), entry(arm64, 'arm64')] }),
    );
    await layout.putManifest(index, { tags: ['v1'] });
    const sbom = spdx(index.digest, [{ name: 'busybox', versionInfo: '1.36.1-r0', builtDate: fresh.toISOString() }]);
    await attestImage(layout, 'v1', [sbom], { signer: new KeySigner(alice.privateKey), storage: 'cosign' });
    return { layout, index, arm64 };
  };

  it('judges each platform’s build of a package, not the first platform’s only', async () => {
    const { layout, index } = await twoPlatforms();
    const r = await evaluatePolicies(layout, index.digest, REF, await policy(), { now: NOW });
    assert.deepEqual(r.failures, [
      'rules / k / fresh: 1 of 2 packages are older than 30 days: busybox 1.36.1-r0 on linux/arm64 (730 days, built 2024-06-01)',
    ]);
  });

  it('fails, saying why, when a layer cannot be read, rather than judge by the SBOM alone', async () => {
    const { layout, index, arm64 } = await twoPlatforms();
    const layer = (JSON.parse(new TextDecoder().decode(arm64.bytes)) as ImageManifest).layers[0]!.digest;
    await rm(join(layout.path, 'blobs', 'sha256', layer.slice('sha256:'.length)));
    const r = await evaluatePolicies(layout, index.digest, REF, await policy(), { now: NOW });
    assert.equal(r.failures.length, 1);
    assert.match(
      r.failures[0]!,
      new RegExp(
        `^rules / k / fresh: the image's layers could not be read, so its package database cannot be checked: .*${layer.slice(7)}`,
      ),
    );
  });
});

describe('policies, authorities and modes', () => {
  const doc = (name: string, authorities: string, mode = '') =>
    `---\napiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: ${name}}\nspec:\n  images: [{glob: "registry.test/**"}]\n${mode}  authorities:\n${authorities}`;
  const aliceKey = '  - name: alice\n    key: {secretRef: {name: cosign.pub}}\n';
  const failing = '  - name: closed\n    static: {action: fail, message: frozen}\n';

  it('two policies parsed under the same file name keep their own authorities', async () => {
    const img = await image();
    await signImage(img.layout, 'v1', { signer: new KeySigner(alice.privateKey), dockerReference: REF });
    const inline = (key: ReturnType<typeof generateSigningKeyPair>) =>
      `  - name: k\n    key:\n      data: |\n${publicKeyPem(key.publicKey)
        .trim()
        .split('\n')
        .map((l) => `        ${l}`)
        .join('\n')}\n`;
    // The same file name, the same places: only the authorities differ.
    const a = await load(doc('trusted', inline(alice)));
    const b = await load(doc('trusted', inline(bob)));
    assert.equal((await evaluatePolicies(img.layout, img.digest, `${REF}:v1`, b)).passed, false);
    const both = await evaluatePolicies(img.layout, img.digest, `${REF}:v1`, [...a, ...b]);
    assert.deepEqual(
      both.policies.map((p) => p.passed),
      [true, false],
    );
    assert.equal(both.passed, false);
  });

  it('authorities are alternatives, every covering policy must hold, warn mode reports without failing', async () => {
    const img = await image();
    await signImage(img.layout, 'v1', { signer: new KeySigner(alice.privateKey), dockerReference: REF });
    const anyOf = await load(doc('any', failing + aliceKey));
    const r1 = await evaluatePolicies(img.layout, img.digest, `${REF}:v1`, anyOf);
    assert.equal(r1.passed, true);
    assert.deepEqual(
      r1.policies[0]!.authorities.map((a) => [a.authority, a.passed, a.message]),
      [
        ['closed', false, 'disallowed by static policy: frozen'],
        ['alice', true, `1 of 2 signatures verified (signed by key ${r1.policies[0]!.authorities[1]!.signatures![0]!.signer!.keyId})`],
      ],
    );
    const both = await load(doc('signed', aliceKey) + doc('frozen', failing));
    const r2 = await evaluatePolicies(img.layout, img.digest, `${REF}:v1`, both);
    assert.deepEqual([r2.passed, r2.failures], [false, ['frozen / closed: disallowed by static policy: frozen']]);
    const warn = await load(doc('signed', aliceKey) + doc('frozen', failing, '  mode: warn\n'));
    const r3 = await evaluatePolicies(img.layout, img.digest, `${REF}:v1`, warn);
    assert.deepEqual(
      [r3.passed, r3.verdict, r3.failures, r3.warnings],
      [true, 'warn', [], ['frozen / closed: disallowed by static policy: frozen']],
    );
    assert.match(
      formatPolicyReport(r3),
      /: WARN\n {2}globs matched against registry\.test\/acme\/app@sha256:[0-9a-f]{64} \(the tag resolved to its digest, as policy-controller matches\)\n.*\n.*\n {2}policy frozen \(warn, glob "registry\.test\/\*\*"\): failed \(mode: warn, not enforced\)/,
    );
    // The report is plain data: --format json prints it as it is.
    assert.deepEqual(JSON.parse(JSON.stringify(r3)), r3);
  });

  // policy-controller's webhook resolves the tag to a digest and matches the globs against
  // `REPOSITORY@DIGEST`, the tag dropped: a glob naming a tag covers no image there.
  it('globs are matched against the repository and the digest, the tag resolved, as policy-controller matches them', async () => {
    const img = await image();
    const cip = (name: string, glob: string, action: string) =>
      `---\napiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: ${name}}\nspec:\n  images: [{glob: "${glob}"}]\n  authorities: [{static: {action: ${action}}}]\n`;
    const policies = await load(cip('releases', 'registry.test/team/app:v*', 'fail') + cip('anything', 'registry.test/**', 'pass'));
    const r = await evaluatePolicies(img.layout, img.digest, 'registry.test/team/app:v1', policies);
    assert.deepEqual([r.passed, r.name, r.policies.map((p) => p.policy)], [true, `registry.test/team/app@${img.digest}`, ['anything']]);
    // A digest written is the name's; `app*` covers `app@sha256:…`, the bare repository does not.
    const repo = await load(cip('bare', 'registry.test/team/app', 'pass') + cip('star', 'registry.test/team/app*', 'pass'));
    const d = await evaluatePolicies(img.layout, img.digest, `registry.test/team/app:v1@${img.digest}`, repo);
    assert.deepEqual([d.name, d.policies.map((p) => p.policy)], [`registry.test/team/app@${img.digest}`, ['star']]);
    // Another image's digest is refused, not matched: the globs would see another image's name.
    const other = `sha256:${'0'.repeat(64)}`;
    for (const name of [`registry.test/team/app@${other}`, `docker://registry.test/team/app:v1@${other}`]) {
      await assert.rejects(evaluatePolicies(img.layout, img.digest, name, repo), (err: unknown) => {
        assert.ok(isProvenantError(err, 'USAGE'), String(err));
        assert.equal(err.message, `the name ${name} names the digest ${other}, but the image is ${img.digest}`);
        return true;
      });
    }
    // Docker Hub's `busybox` is index.docker.io/library/busybox@…: a glob `busybox` does not cover it.
    const hub = await evaluatePolicies(img.layout, img.digest, 'busybox', await load(cip('short', 'busybox', 'pass')));
    assert.deepEqual([hub.passed, hub.policies.length], [false, 0]);
    assert.match(hub.failures[0]!, /^no policy covers busybox \(matched as index\.docker\.io\/library\/busybox@sha256:/);
    // A store location is matched as given.
    const oci = await evaluatePolicies(img.layout, img.digest, 'oci:out:v1', await load(cip('local', 'oci:out:v*', 'pass')));
    assert.deepEqual([oci.passed, oci.name], [true, 'oci:out:v1']);
    // With its digest too, and never as Docker Hub's library/oci (tag out), which `*` covers.
    const byDigest = await load(cip('hub', '*', 'fail') + cip('local', 'oci:out**', 'pass'));
    for (const name of [`oci:out@${img.digest}`, `oci:out:v1@${img.digest}`]) {
      const r = await evaluatePolicies(img.layout, img.digest, name, byDigest);
      assert.deepEqual([r.passed, r.name, r.policies.map((p) => p.policy)], [true, name, ['local']]);
    }
    const archive = await evaluatePolicies(img.layout, img.digest, `oci-archive:out.tar@${img.digest}`, byDigest);
    assert.deepEqual([archive.passed, archive.policies.length], [false, 0]);
    // Another image's digest in a store location is refused as in a reference.
    await assert.rejects(evaluatePolicies(img.layout, img.digest, `oci:out@${other}`, byDigest), (err: unknown) => {
      assert.ok(isProvenantError(err, 'USAGE'), String(err));
      assert.equal(err.message, `the name oci:out@${other} names the digest ${other}, but the image is ${img.digest}`);
      return true;
    });
  });

  it('signatureFormat keeps to one format, legacy when not given; bundle needs keyless; ctlog with a key needs a trusted root', async () => {
    const img = await image();
    await signImage(img.layout, 'v1', { signer: new KeySigner(alice.privateKey), dockerReference: REF, storages: ['referrers'] });
    // Signed with a bundle only: policy-controller, legacy by default, finds no signature, and refuses bundle with a key.
    for (const format of ['', '    signatureFormat: legacy\n']) {
      const r = await evaluatePolicies(img.layout, img.digest, `${REF}:v1`, await load(doc('legacy', `${aliceKey}${format}`)));
      assert.equal(r.passed, false);
      assert.equal(r.policies[0]!.authorities[0]!.signatures![0]!.reason, 'signature-format');
    }
    await assert.rejects(
      load(doc('bundle', `${aliceKey}    signatureFormat: bundle\n`)),
      (err: unknown) =>
        isProvenantError(err) &&
        err.code === 'INVALID_CONFIG' &&
        err.where === 'policy.yaml:10:22' &&
        /signatureFormat: bundle needs a keyless authority/.test(err.message),
    );
    const logged = await load(doc('logged', `${aliceKey}    ctlog: {url: https://rekor.sigstore.dev}\n`));
    const r2 = await evaluatePolicies(img.layout, img.digest, `${REF}:v1`, logged);
    assert.match(r2.failures[0]!, /^logged \/ alice: ctlog asks for transparency log entries, which need a trusted root/);
    // `ctlog: {}` names no log: policy-controller has no Rekor then and skips the log (validator.go).
    const legacy = await image();
    await signImage(legacy.layout, 'v1', { signer: new KeySigner(alice.privateKey), dockerReference: REF, storages: ['cosign'] });
    for (const empty of ['{}', 'null']) {
      const r = await evaluatePolicies(
        legacy.layout,
        legacy.digest,
        `${REF}:v1`,
        await load(doc('nolog', `${aliceKey}    ctlog: ${empty}\n`)),
      );
      assert.deepEqual([r.passed, r.failures], [true, []], empty);
    }
  });
});

describe('the text form', () => {
  it('keeps a message on its line: what an attestation says cannot print a passing line', () => {
    const fake = '\n      ok   attestation provenance (https://slsa.dev/provenance/v1): holds';
    const report: PolicyReport = {
      image: 'img',
      name: 'img',
      digest: `sha256:${'0'.repeat(64)}`,
      passed: false,
      verdict: 'fail',
      policies: [
        {
          policy: 'p',
          where: 'policy.yaml:1',
          mode: 'enforce',
          glob: '**',
          passed: false,
          authorities: [
            {
              authority: 'a',
              where: 'policy.yaml:2',
              kind: 'key',
              passed: false,
              message: `no${fake}`,
              attestations: [
                {
                  attestation: 'x',
                  where: 'policy.yaml:3',
                  predicateType: `t${fake}`,
                  passed: false,
                  message: `bad${fake}`,
                  statements: [],
                },
              ],
            },
          ],
        },
      ],
      failures: [`p / a: no${fake}`],
      warnings: [],
    };
    const text = formatPolicyReport(report);
    assert.equal(text.split('\n').length, 4, text);
    assert.doesNotMatch(text, /^ +ok/m);
    assert.equal(formatPolicyReport({ ...report, policies: [] }).split('\n').length, 2);
  });
});
