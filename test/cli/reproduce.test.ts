/**
 * `provenant reproduce` through the CLI, against the real registry: an apk image built for two
 * architectures from a repository on 127.0.0.1, its provenance signed and pushed, reproduces
 * (exit 0, a match per platform); the same package version served with other bytes is a
 * mismatch naming it (exit 1); a key that did not sign it stops the run (exit 5); BuildKit's own
 * export is refused as not replayable (exit 3); command-line mistakes exit 2.
 */
import assert from 'node:assert/strict';
import { cp, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SLSA_V1 } from '../../src/attest/provenance.ts';
import { copyImage } from '../../src/image/copy.ts';
import type { ApkKeyPair } from '../../src/pkg/apk/keys.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { generateSigningKeyPair, keyId, publicKeyPem } from '../../src/sign/keys.ts';
import { attestImage } from '../../src/sign/sign.ts';
import { KeySigner } from '../../src/sign/signer.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { RegistryStore } from '../../src/store/registry.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { useTempDir } from '../helpers/temp.ts';
import {
  buildAndDescribe,
  packages,
  repositoryKey,
  type StaticServer,
  serveFolder,
  writeConfig,
  writeRepository,
  writeWithAttestations,
} from '../reproduce/helpers.ts';
import { provenantAsync as provenant } from './provenant-async.ts';

const tempDir = useTempDir('cli-reproduce');

describe('provenant reproduce', { skip: registryMissing }, () => {
  const reg = useRegistry();
  let dir: string;
  let served: string;
  let server: StaticServer;
  let apkKey: ApkKeyPair;
  let ref: string;
  let pub: string;
  let strangerPub: string;
  const cosign = generateSigningKeyPair();

  before(async () => {
    dir = await tempDir();
    served = join(dir, 'served');
    apkKey = repositoryKey();
    await writeRepository(served, apkKey);
    server = await serveFolder(served);
    const built = await buildAndDescribe(await writeConfig(dir, apkKey, `${server.url}/repo`), `${reg.host}/app/signed:v1`);
    const layout = await LayoutStore.open(join(dir, 'layout'), { create: true });
    await writeWithAttestations(layout, built, 'v1');
    // Each platform's provenance signed with the release key, as `provenant attest` stores it.
    for (const [i, image] of built.result.images.entries()) {
      const provenance = built.attested[i]?.statements.find((s) => s.predicateType === SLSA_V1);
      assert.ok(provenance);
      await attestImage(layout, image.manifest.digest, [provenance], {
        signer: new KeySigner(cosign.privateKey),
        storage: i === 0 ? 'cosign' : 'referrers',
      });
    }
    const remote = new RegistryStore(new RegistryClient(reg.host), 'app/signed');
    await copyImage(layout, 'v1', remote, { tags: ['v1'], withReferrers: true });
    await layout.close();
    ref = `${reg.host}/app/signed:v1`;
    pub = join(dir, 'cosign.pub');
    await writeFile(pub, publicKeyPem(cosign.publicKey));
    strangerPub = join(dir, 'stranger.pub');
    await writeFile(strangerPub, publicKeyPem(generateSigningKeyPair().publicKey));
  });
  after(async () => {
    await server?.close();
  });

  it('reports a match for every platform of the image in the registry, its provenance verified by the key (exit 0)', async () => {
    const r = await provenant(['reproduce', '--key', pub, ref]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      new RegExp(`^provenance: the provenance was verified: signed by key ${keyId(cosign.publicKey).replace(/[+/]/g, '\\$&')}$`, 'm'),
    );
    assert.match(r.stdout, /^linux\/amd64 {2}match {5}sha256:[0-9a-f]{64}$/m);
    assert.match(r.stdout, /^linux\/arm64 {2}match {5}sha256:[0-9a-f]{64}$/m);
    // Who is asked for the package files is said first, on standard error.
    assert.match(r.stderr, /^reproduce: fetching package files from 127\.0\.0\.1:\d+$/m);
    const json = JSON.parse((await provenant(['reproduce', '--key', pub, '--format', 'json', ref])).stdout);
    assert.equal(json.match, true);
    assert.deepEqual(
      json.platforms.map((p: { platform: string; status: string }) => [p.platform, p.status]),
      [
        ['linux/amd64', 'match'],
        ['linux/arm64', 'match'],
      ],
    );
    // Without trust it still rebuilds, and says that nothing was verified.
    const unverified = await provenant(['reproduce', ref]);
    assert.equal(unverified.status, 0, unverified.stderr);
    assert.match(unverified.stdout, /^provenance: the provenance was NOT verified/m);
  });

  it('reports a mismatch naming the package when the repository serves other bytes for the same version (exit 1)', async () => {
    const original = join(dir, 'served-original');
    await cp(join(served, 'repo'), original, { recursive: true });
    await writeRepository(served, apkKey, (arch) => packages(arch, arch === 'x86_64' ? 'alpha\nBETA\ngamma\n' : undefined));
    try {
      const r = await provenant(['reproduce', '--key', pub, ref]);
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /^linux\/amd64 {2}MISMATCH/m);
      assert.match(r.stdout, /^linux\/arm64 {2}match/m);
      assert.match(
        r.stdout,
        /^ {4}package: {5}data 2\.1-r3: its file http:\/\/127\.0\.0\.1:\d+\/repo\/x86_64\/data-2\.1-r3\.apk has SHA-256/m,
      );
      assert.match(r.stdout, /^ {4}first file: {2}\/usr\/share\/data\/values\.txt differs in sha256/m);
    } finally {
      await rm(join(served, 'repo'), { recursive: true, force: true });
      await rename(original, join(served, 'repo'));
    }
  });

  it('stops with exit 5 when the provenance is not signed by the key given, before fetching anything', async () => {
    const before = server.requests.length;
    const r = await provenant(['reproduce', '--key', strangerPub, ref]);
    assert.equal(r.status, 5, r.stdout + r.stderr);
    assert.match(r.stderr, /^provenant reproduce: the provenance of linux\/amd64 does not verify/);
    assert.equal(r.stdout, '');
    assert.equal(server.requests.length, before);
  });

  it("refuses BuildKit's own export as not replayable, naming the build type (exit 3)", { skip: fixturesMissing }, async () => {
    const buildkit = `oci-archive:${fixture('oci', 'buildkit-oci-layout-tar_2-platforms-with-legacy-attestation-manifests.tar')}`;
    const r = await provenant(['reproduce', buildkit]);
    assert.equal(r.status, 3, r.stdout + r.stderr);
    assert.match(r.stdout, /^linux\/amd64 {2}NOT REPLAYABLE/m);
    assert.match(r.stdout, /^ {4}a BuildKit build \(buildType https:\/\/mobyproject\.org\/buildkit@v1, frontend gateway\.v0\)/m);
    assert.match(
      r.stdout,
      /^ {4}missing: buildType https:\/\/provenant\.dev\/build\/apk\/v1 or https:\/\/provenant\.dev\/build\/deb\/v1$/m,
    );
    assert.match(r.stdout, /^not reproduced: 2 not replayable$/m);
  });

  it('exits 2 for a malformed override, two kinds of trust at once, or keyless trust without a trusted root', async () => {
    const cases = [
      ['reproduce', '--repository-override', 'no-equals-sign', ref],
      ['reproduce', '--key', pub, '--certificate-identity', 'x', '--certificate-oidc-issuer', 'y', ref],
      ['reproduce', '--certificate-identity', 'x', '--certificate-oidc-issuer', 'y', ref],
      ['reproduce', '--certificate-identity', 'x', ref],
      ['reproduce', '--certificate-identity-regexp', '(', '--certificate-oidc-issuer', 'y', ref],
      ['reproduce', ref, 'extra'],
    ];
    const runs = await Promise.all(cases.map((args) => provenant(args)));
    for (const [i, r] of runs.entries()) {
      assert.equal(r.status, 2, `${cases[i]?.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^provenant reproduce: /);
    }
  });
});
