/**
 * `provenant policy test` through the CLI: each of the three docs/policy.md examples, as a reader
 * copies it, passes (exit 0) for an image that meets it and fails (exit 1) naming the rule for
 * one that does not; trouble exits 2 or more. Keyless signatures come from @sigstore/mock on
 * 127.0.0.1, verified by the CLI against the mock's trusted root file.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SLSA_V1 } from '../../src/attest/provenance.ts';
import { statement, storeAttestations } from '../../src/attest/storage.ts';
import { writeBuild } from '../../src/builder/build.ts';
import { SPDX_PREDICATE } from '../../src/builder/describe.ts';
import type { Digest } from '../../src/oci/digest.ts';
import { generateSigningKeyPair, publicKeyPem } from '../../src/sign/keys.ts';
import { attestImage, signImage } from '../../src/sign/sign.ts';
import { KeySigner, type Signer } from '../../src/sign/signer.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { makeImage } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';
import { docExample } from '../policy/helpers.ts';
import { buildAndDescribe, repositoryKey, writeConfig, writeRepository } from '../reproduce/helpers.ts';
import { type MockSigstore, mockSigner, startMockSigstore } from '../sign/mock-sigstore.ts';
import { provenantAsync as provenant } from './provenant-async.ts';

const tempDir = useTempDir('cli-policy');
const alice = generateSigningKeyPair();
const bob = generateSigningKeyPair();
const GITHUB = 'https://token.actions.githubusercontent.com';
const WORKFLOW = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';

describe('provenant policy test', () => {
  let dir: string;
  let n = 0;
  /** A one-platform image in a new layout, tagged v1; returns its location and digest. */
  const image = async (): Promise<{ store: LayoutStore; ref: string; digest: Digest }> => {
    const path = join(dir, `layout-${n++}`);
    const store = await LayoutStore.open(path, { create: true });
    const made = await makeImage(store, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    return { store, ref: `oci:${path}:v1`, digest: made.root.digest };
  };
  const signed = async (signer: Signer, storages?: ('cosign' | 'referrers')[]): Promise<string> => {
    const img = await image();
    await signImage(img.store, 'v1', { signer, dockerReference: 'registry.example/acme/app', ...(storages ? { storages } : {}) });
    await img.store.close();
    return img.ref;
  };
  const policyFile = async (name: string): Promise<string> => {
    const path = join(dir, `${name}.yaml`);
    await writeFile(path, await docExample(name));
    return path;
  };

  before(async () => {
    dir = await tempDir();
    // The key the examples name (`secretRef: cosign.pub`), next to the policy files.
    await writeFile(join(dir, 'cosign.pub'), publicKeyPem(alice.publicKey));
  });

  it('own key: passes for an image signed with it, fails naming the rule for another key, exits 1 when any image fails', async () => {
    const policy = await policyFile('own-key');
    const good = await signed(new KeySigner(alice.privateKey));
    const ok = await provenant(['policy', 'test', policy, good]);
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /^oci:.*:v1 \(sha256:[0-9a-f]{64}\): PASS$/m);
    // The legacy .sig counts, the bundle not: no signatureFormat is legacy, as in policy-controller.
    assert.match(ok.stdout, /^ {4}ok {3}authority release-key \(key\): 1 of 2 signatures verified/m);

    const other = await signed(new KeySigner(bob.privateKey));
    const bad = await provenant(['policy', 'test', policy, other]);
    assert.equal(bad.status, 1, bad.stderr);
    assert.match(
      bad.stdout,
      /: FAIL\n {2}policy signed-with-our-key \(enforce, glob "\*\*"\): failed\n {4}FAIL authority release-key \(key\): none of the 2 signatures verified with the key/,
    );

    // Several images: every one is reported, and one failing fails the run.
    const both = await provenant(['policy', 'test', '--format', 'json', policy, good, other]);
    assert.equal(both.status, 1, both.stderr);
    const reports = JSON.parse(both.stdout);
    assert.deepEqual(
      reports.map((r: { passed: boolean }) => r.passed),
      [true, false],
    );
    assert.match(reports[1].failures[0], /^signed-with-our-key \/ release-key: none of the 2 signatures verified/);
  });

  it("--no-match takes policy-controller's deny, warn and allow; --image-name's tag is resolved, another digest refused naming both", async () => {
    const { ref, digest, store } = await image();
    await store.close();
    const policy = join(dir, 'other.yaml');
    await writeFile(
      policy,
      'apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: other}\nspec:\n  images: [{glob: "registry.example/other/**"}]\n  authorities: [{static: {action: pass}}]\n',
    );
    const status = async (...args: string[]) => (await provenant(['policy', 'test', ...args, policy, ref])).status;
    assert.deepEqual(
      [
        await status('--no-match', 'deny'),
        await status('--no-match', 'allow'),
        await status('--no-match', 'pass'),
        await status('--no-match', 'nope'),
      ],
      [1, 0, 0, 2],
    );
    const named = await provenant(['policy', 'test', '--image-name', 'registry.example/other/app:v1', policy, ref]);
    assert.equal(named.status, 0, named.stdout + named.stderr);
    assert.match(
      named.stdout,
      new RegExp(
        `^ {2}globs matched against registry\\.example/other/app@${digest} \\(the tag resolved to its digest, as policy-controller matches\\)$`,
        'm',
      ),
    );
    const wrong = `sha256:${'0'.repeat(64)}`;
    const other = await provenant(['policy', 'test', '--image-name', `registry.example/other/app@${wrong}`, policy, ref]);
    assert.equal(other.status, 2, other.stdout + other.stderr);
    assert.ok(other.stderr.includes(wrong) && other.stderr.includes(digest), other.stderr);
    // A policy file that is not there is a file not found, as an image is (docs/policy.md).
    const missing = await provenant(['policy', 'test', join(dir, 'no-such.yaml'), ref]);
    assert.equal(missing.status, 3, missing.stderr);
    assert.match(missing.stderr, /the policy file .*no-such\.yaml does not exist/);
    // A path through a file names no file either (ENOTDIR): not found too, as for attest's --predicate.
    const through = await provenant(['policy', 'test', join(policy, 'x.yaml'), ref]);
    assert.equal(through.status, 3, through.stderr);
    // So is a key file the policy names, at the policy's line (docs/policy.md).
    const keyless = join(dir, 'key-missing.yaml');
    await writeFile(keyless, (await docExample('own-key')).replace(/name: cosign\.pub/, 'name: missing.pub'));
    const noKey = await provenant(['policy', 'test', keyless, ref]);
    assert.equal(noKey.status, 3, noKey.stderr);
    assert.match(noKey.stderr, /the secret "missing\.pub" does not exist: there is no file or folder .*missing\.pub/);
    assert.match(noKey.stderr, /key-missing\.yaml:\d+:\d+/);
  });

  describe('GitHub Actions keyless for one repository', () => {
    let mock: MockSigstore;
    before(async () => {
      mock = await startMockSigstore({ dir: await tempDir() });
    });
    after(async () => {
      await mock?.stop();
    });
    const keyless = (subject: string) => mockSigner(mock, subject, GITHUB);

    it('passes for a workflow of the repository, fails naming the rule for a fork and without a trusted root', async () => {
      const policy = await policyFile('github-actions');
      const name = ['--image-name', 'registry.example/acme/app:v1'];
      const root = ['--trusted-root', mock.trustedRootPath];
      const good = await signed(keyless(WORKFLOW));
      const ok = await provenant(['policy', 'test', ...root, ...name, policy, good]);
      assert.equal(ok.status, 0, ok.stdout + ok.stderr);
      assert.match(ok.stdout, /^registry\.example\/acme\/app:v1 \(sha256:[0-9a-f]{64}\): PASS$/m);
      assert.match(
        ok.stdout,
        /ok {3}authority github-actions \(keyless\): 1 of 2 signatures verified \(signed by https:\/\/github\.com\/acme\/app\//,
      );

      const fork = await signed(keyless('https://github.com/acme/app-fork/.github/workflows/release.yml@refs/heads/main'));
      const bad = await provenant(['policy', 'test', '--format', 'json', ...root, ...name, policy, fork]);
      assert.equal(bad.status, 1, bad.stderr);
      const [report] = JSON.parse(bad.stdout);
      assert.match(
        report.failures[0],
        /^signed-by-acme-app-workflows \/ github-actions: none of the 2 signatures verified with the keyless identities/,
      );

      // Without --trusted-root, Sigstore's public-good root, which the mock's Fulcio is not in.
      const noRoot = await provenant(['policy', 'test', ...name, policy, good]);
      assert.equal(noRoot.status, 1, noRoot.stderr);
      assert.match(
        noRoot.stdout,
        /FAIL authority github-actions \(keyless\): none of the 2 signatures verified with the keyless identities/,
      );

      // Its own name is not covered by the glob: no policy covers it, which fails.
      const uncovered = await provenant(['policy', 'test', ...root, policy, good]);
      assert.equal(uncovered.status, 1, uncovered.stderr);
      assert.match(uncovered.stdout, /no policy covers oci:.*: none of the 1 policies has a glob that matches it/);
      const warned = await provenant(['policy', 'test', ...root, '--no-match', 'warn', policy, good]);
      assert.equal(warned.status, 0, warned.stdout + warned.stderr);
      assert.match(warned.stdout, /: WARN$/m);
    });
  });

  it('policy test and verify --policy give one verdict: a key-signed image logged in a private Rekor passes both without a trusted root', async () => {
    // Logged in the mock's Rekor, whose key only the mock's trusted root holds: a key authority
    // does not check log entries unless a root is given (as verify --key, and policy-controller
    // without ctlog), and ctlog checks them against Sigstore's public-good root by default.
    const mock = await startMockSigstore({ dir: await tempDir() });
    try {
      const logged = await signed(new KeySigner(alice.privateKey, { rekorURL: mock.url }));
      const policy = await policyFile('own-key');
      const ctlogPolicy = join(dir, 'own-key-ctlog.yaml');
      await writeFile(ctlogPolicy, `${await docExample('own-key')}    ctlog: {url: "${mock.url}"}\n`);
      const root = ['--trusted-root', mock.trustedRootPath];
      const verdicts = async (file: string, extra: string[] = []) => {
        const test = await provenant(['policy', 'test', ...extra, file, logged]);
        const verify = await provenant(['verify', '--policy', file, ...extra, logged]);
        return [test.status === 0 ? 'pass' : test.stdout, verify.status === 0 ? 'pass' : verify.stdout];
      };
      assert.deepEqual(await verdicts(policy), ['pass', 'pass']);
      assert.deepEqual(await verdicts(policy, root), ['pass', 'pass']);
      assert.deepEqual(await verdicts(ctlogPolicy, root), ['pass', 'pass']);
      const [test, verify] = await verdicts(ctlogPolicy);
      for (const out of [test, verify])
        assert.match(out!, /FAIL authority release-key \(key\): none of the 2 signatures verified with the key/);
      // The same report in JSON: a list of one, from either command.
      const json = await Promise.all(
        [
          ['policy', 'test', '--format', 'json', policy, logged],
          ['verify', '--policy', policy, '--format', 'json', logged],
        ].map(async (argv) => JSON.parse((await provenant(argv)).stdout)),
      );
      assert.equal(json[0].length, 1);
      assert.deepEqual(json[1], json[0]);
    } finally {
      await mock.stop();
    }
  });

  it('SLSA provenance and an SBOM: passes for a build with both attested, fails naming the sbom rule with provenance alone', async () => {
    const policy = await policyFile('provenance-and-sbom');
    // A real build's statements, attested with the release key after the build, as `provenant attest` would.
    const key = repositoryKey();
    await writeRepository(join(dir, 'served'), key);
    const built = await buildAndDescribe(await writeConfig(dir, key, '../../served/repo'), 'example/app');
    const path = join(dir, 'built');
    const store = await LayoutStore.open(path, { create: true });
    await writeBuild(built.result, store, ['v1'], {});
    const signer = new KeySigner(alice.privateKey);
    const [amd64, arm64] = built.attested;
    assert.ok(amd64 !== undefined && arm64 !== undefined);
    const pick = (type: string, a: typeof amd64) => a.statements.filter((s) => s.predicateType === type);
    // In cosign's .att tag: the legacy format, which a key authority verifies (policy-controller
    // verifies bundles only keyless).
    await attestImage(store, amd64.manifest.digest, [...pick(SLSA_V1, amd64), ...pick(SPDX_PREDICATE, amd64)], {
      signer,
      storage: 'cosign',
    });
    await attestImage(store, arm64.manifest.digest, pick(SLSA_V1, arm64), { signer, storage: 'cosign' });
    await store.close();

    const ok = await provenant(['policy', 'test', policy, `oci:${path}@${amd64.manifest.digest}`]);
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /ok {3}attestation provenance \(https:\/\/slsa\.dev\/provenance\/v1\): the condition holds/);
    assert.match(ok.stdout, /ok {3}attestation sbom \(SPDX or CycloneDX\): an SBOM is attested/);

    const bad = await provenant(['policy', 'test', policy, `oci:${path}@${arm64.manifest.digest}`]);
    assert.equal(bad.status, 1, bad.stderr);
    assert.match(bad.stdout, /FAIL authority release-key \(key\): 1 of 2 attestation rules failed: sbom/);
    assert.match(bad.stdout, /FAIL attestation sbom \(SPDX or CycloneDX\): no verified SPDX or CycloneDX attestation/);

    // The index itself carries no attestation: policy-controller checks the digest it is given.
    const index = await provenant(['policy', 'test', policy, `oci:${path}:v1`]);
    assert.equal(index.status, 1, index.stderr);
    assert.match(index.stdout, /the image has no attestations/);
  });

  it("BuildKit's statements in a signed index meet attestation rules, for the index and with --platform, in both commands", async () => {
    const policy = join(dir, 'buildkit-provenance.yaml');
    await writeFile(
      policy,
      `${await docExample('own-key')}    attestations:
    - name: provenance
      predicateType: slsaprovenance1
      policy: {type: cel, data: 'predicate.runDetails.builder.id == "${WORKFLOW}"'}
`,
    );
    const path = join(dir, 'buildkit');
    const store = await LayoutStore.open(path, { create: true });
    const made = await makeImage(store);
    const attested = made.manifests.map((manifest) => ({
      manifest,
      statements: [
        statement(SLSA_V1, { runDetails: { builder: { id: WORKFLOW } } }, [{ name: 'registry.example/acme/app', digest: manifest.digest }]),
      ],
    }));
    const index = await storeAttestations(store, made.root, attested, 'buildkit');
    await store.putManifest(index, { tags: ['v1'] });
    const ref = `oci:${path}:v1`;
    const both = async (...argv: string[]) => {
      const test = await provenant(['policy', 'test', ...argv.slice(0, -1), policy, ...argv.slice(-1)]);
      const verify = await provenant(['verify', '--policy', policy, ...argv]);
      return [test, verify];
    };

    // Unsigned: the statements are no evidence.
    for (const r of await both('--platform', 'linux/arm64', ref)) {
      assert.notEqual(r.status, 0, r.stdout);
      assert.match(
        r.stdout,
        /FAIL authority release-key \(key\): none of the 1 attestations verified with the key \(index entry .*\(linux\/arm64\): it is unsigned in the index/,
      );
    }

    await signImage(store, index.digest, { signer: new KeySigner(alice.privateKey), dockerReference: 'registry.example/acme/app' });
    await store.close();
    for (const argv of [[ref], ['--platform', 'linux/amd64', ref]]) {
      for (const r of await both(...argv)) {
        assert.equal(r.status, 0, `${argv.join(' ')}: ${r.stdout}${r.stderr}`);
        assert.match(
          r.stdout,
          /ok {3}attestation provenance \(slsaprovenance1\): the condition holds \(index entry sha256:[0-9a-f]{64} layer 0 \(linux\/amd64\)\)/,
        );
      }
    }
    // A platform image named by its own digest has no index to vouch for it.
    const alone = await provenant(['policy', 'test', policy, `oci:${path}@${made.manifests[0]!.digest}`]);
    assert.equal(alone.status, 1, alone.stderr);
    assert.match(alone.stdout, /the image has no attestations/);
  });

  // docs/getting-started.md names its layout `oci:image.oci@sha256:…`, which also parses as Docker
  // Hub's library/oci (tag image.oci): matched so, Docker Hub's `*` covered the layout.
  it('a layout named as getting-started names it is matched as given, by tag or digest, in both commands', async () => {
    const cwd = join(dir, 'getting-started');
    const store = await LayoutStore.open(join(cwd, 'image.oci'), { create: true });
    const made = await makeImage(store, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    await store.close();
    const cip = (name: string, glob: string, action: string) =>
      `---\napiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: ${name}}\nspec:\n  images: [{glob: "${glob}"}]\n  authorities: [{static: {action: ${action}}}]\n`;
    await writeFile(join(cwd, 'policy.yaml'), cip('hub', '*', 'fail') + cip('local', 'oci:image.oci**', 'pass'));
    for (const name of ['oci:image.oci:v1', `oci:image.oci@${made.root.digest}`]) {
      for (const command of [
        ['policy', 'test'],
        ['verify', '--policy'],
      ]) {
        const r = await provenant([...command, 'policy.yaml', '--format', 'json', name], { cwd });
        assert.equal(r.status, 0, `${command.join(' ')} ${name}: ${r.stdout}${r.stderr}`);
        const [report] = JSON.parse(r.stdout);
        assert.deepEqual([report.name, report.policies.map((p: { policy: string }) => p.policy)], [name, ['local']]);
      }
    }
  });

  // A final read: a docker-archive's NAME was made a Docker Hub name (docker.io/library/app) before
  // the globs were matched, so a glob written as the location is typed covered nothing.
  it('a docker-archive named FILE:NAME:TAG is matched as given, in both commands', async () => {
    const cwd = join(dir, 'named-archive');
    const store = await LayoutStore.open(join(cwd, 'image.oci'), { create: true });
    await makeImage(store, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    await store.close();
    const copied = await provenant(['copy', 'oci:image.oci:v1', 'docker-archive:named.tar:app:v1'], { cwd });
    assert.equal(copied.status, 0, copied.stderr);
    const cip = (name: string, glob: string, action: string) =>
      `---\napiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: ${name}}\nspec:\n  images: [{glob: "${glob}"}]\n  authorities: [{static: {action: ${action}}}]\n`;
    await writeFile(
      join(cwd, 'policy.yaml'),
      cip('hub', '**docker.io/library/**', 'fail') + cip('local', 'docker-archive:named.tar:app:*', 'pass'),
    );
    const name = 'docker-archive:named.tar:app:v1';
    for (const command of [
      ['policy', 'test'],
      ['verify', '--policy'],
    ]) {
      const r = await provenant([...command, 'policy.yaml', '--format', 'json', name], { cwd });
      assert.equal(r.status, 0, `${command.join(' ')}: ${r.stdout}${r.stderr}`);
      const [report] = JSON.parse(r.stdout);
      assert.deepEqual([report.name, report.policies.map((p: { policy: string }) => p.policy)], [name, ['local']]);
    }
  });

  it('exits 2 or more on trouble: a policy that does not load, a missing image, a bad command line', async () => {
    const broken = join(dir, 'broken.yaml');
    await writeFile(
      broken,
      'apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: x}\nspec:\n  images: [{glob: "**"}]\n  authorities: [{key: {kms: "awskms://x"}}]\n',
    );
    const img = await image();
    await img.store.close();
    const invalid = await provenant(['policy', 'test', broken, img.ref]);
    assert.equal(invalid.status, 2, invalid.stderr);
    assert.match(invalid.stderr, /^provenant policy: .*kms.*\(.*broken\.yaml:6:/);
    const missing = await provenant(['policy', 'test', await policyFile('own-key'), `${img.ref.slice(0, -3)}:nothing`]);
    assert.equal(missing.status, 3, missing.stderr);
    assert.equal((await provenant(['policy', 'check', broken, img.ref])).status, 2);
    assert.equal((await provenant(['policy', 'test', broken])).status, 2);
  });
});
