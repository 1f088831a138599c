/**
 * check and fix through the CLI entry point, on the real BuildKit image the issue starts from:
 * Lambda refuses it with its own error text and exit 7; after fix it passes, skopeo sees a single
 * manifest, its attestation is found through referrers, and with --key what the fix made verifies.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { ArtifactType } from '../../src/attest/attachments.ts';
import type { CheckReport } from '../../src/compat/check.ts';
import type { FixReport } from '../../src/compat/fix.ts';
import type { Digest } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import { parsePlatform } from '../../src/oci/platform.ts';
import { encryptPrivateKey, generateSigningKeyPair, keyId, publicKeyPem } from '../../src/sign/keys.ts';
import { verifyImage } from '../../src/sign/verify.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import type { ContentStore } from '../../src/store/types.ts';
import { synth } from '../compat/images.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';
import { sh, toolMissing } from '../helpers/images.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { useTempDir } from '../helpers/temp.ts';
import { storeAt } from '../registry/common.ts';
import { provenant } from './provenant.ts';

const TAR = 'buildkit-oci-layout-tar_2-platforms-with-legacy-attestation-manifests.tar';
const AMD64_MANIFEST = 'sha256:0f90b7af6b2fef777963e3e1ca4fd66f378af93f5fe46304886943a4c0c7a46b';
const LAMBDA_ERROR = 'The image manifest, config or layer media type for the source image';
const temp = useTempDir('cli-compat');
const skip = fixturesMissing || toolMissing('skopeo');

interface Inspected {
  mediaType: string;
  manifests: { digest: Digest; attachments: { storage: string; kind: string; digest: Digest; predicateTypes: string[] }[] }[];
}

/** The attestations `provenant inspect` finds under the image, by storage. */
async function attestationsOf(ref: string): Promise<Inspected['manifests'][number]['attachments']> {
  const r = await provenant(['inspect', ref, '--format', 'json']);
  assert.equal(r.status, 0, r.stderr);
  const seen = JSON.parse(r.stdout) as Inspected;
  assert.equal(seen.manifests.length, 1);
  return seen.manifests[0]!.attachments.filter((a) => a.kind === 'attestation');
}

describe('check and fix of the real BuildKit image for AWS Lambda', { skip }, () => {
  const src = `oci-archive:${fixture('oci', TAR)}`;
  let dir: string;
  before(async () => {
    dir = await temp();
  });

  it('check: refused with Lambda’s own error text, exit 7; JSON says the same', async () => {
    const r = await provenant(['check', src, '--target', 'aws-lambda']);
    assert.equal(r.status, 7, r.stderr);
    assert.ok(r.stdout.includes(`error:  ${LAMBDA_ERROR} ${src} is not supported.`), r.stdout);
    assert.match(r.stdout, /aws-lambda: REFUSED/);
    assert.match(r.stdout, /fix: {4}single-manifest \(attestations: referrers\): provenant fix .* --target aws-lambda -o DEST/);
    assert.match(r.stderr, /provenant check: aws-lambda would refuse the image/);
    const json = await provenant(['check', src, '--target', 'aws-lambda', '--format', 'json']);
    assert.equal(json.status, 7);
    const report = JSON.parse(json.stdout) as CheckReport;
    assert.equal(report.verdict, 'refused');
    const problem = report.targets[0]!.problems.find((p) => p.rule === 'index');
    assert.equal(problem?.severity, 'refuses');
    assert.equal(problem?.error, `${LAMBDA_ERROR} ${src} is not supported.`);
    assert.ok((problem?.sources.length ?? 0) > 0);
  });

  it('check: warnings alone exit 0 (ECR misdisplays the attestation rows)', async () => {
    const r = await provenant(['check', src, '--target', 'amazon-ecr']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /amazon-ecr: accepted, with warnings/);
    assert.match(r.stdout, /warning: misdisplays/);
  });

  it('fix: a single manifest skopeo agrees on, accepted on a second check, the attestation found through referrers', async () => {
    const dst = `oci:${join(dir, 'fixed')}:lambda`;
    const r = await provenant(['fix', src, '--target', 'aws-lambda', '-o', dst]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /The image is now the linux\/amd64 manifest/);
    assert.match(r.stdout, /Not carried: linux\/arm64 manifest/);
    assert.match(r.stdout, /No key or identity was given/);
    assert.match(r.stdout, /Checked again: aws-lambda accepts it\./);
    assert.ok(r.stdout.includes(AMD64_MANIFEST));

    const again = await provenant(['check', dst, '--target', 'aws-lambda']);
    assert.equal(again.status, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /aws-lambda: accepted/);
    const raw = sh('skopeo', ['inspect', '--raw', dst]);
    assert.equal(raw.status, 0, raw.stderr);
    const manifest = JSON.parse(raw.stdout) as { mediaType: string; manifests?: unknown };
    assert.equal(manifest.mediaType, MediaType.OciManifest);
    assert.equal(manifest.manifests, undefined);
    const [attestation, ...more] = await attestationsOf(dst);
    assert.equal(more.length, 0);
    assert.equal(attestation?.storage, 'referrers');
    assert.deepEqual(attestation?.predicateTypes, ['https://slsa.dev/provenance/v0.2']);
  });

  it('fix --key: what the fix made is signed with the key, and verifies against its public key', async () => {
    const keys = generateSigningKeyPair();
    const keyFile = join(dir, 'cosign.key');
    await writeFile(keyFile, await encryptPrivateKey(keys.privateKey, 'correct horse'));
    const dst = join(dir, 'signed');
    let r = await provenant(['fix', src, '--target', 'aws-lambda', '-o', `oci:${dst}:lambda`, '--key', keyFile, '--format', 'json'], {
      env: { COSIGN_PASSWORD: 'wrong' },
    });
    assert.equal(r.status, 4, 'a wrong password is refused before anything is written');
    r = await provenant(['fix', src, '--target', 'aws-lambda', '-o', `oci:${dst}:lambda`, '--key', keyFile, '--format', 'json'], {
      env: { COSIGN_PASSWORD: 'correct horse' },
    });
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout) as FixReport;
    assert.deepEqual(report.signing.unsigned, []);
    assert.ok(report.signing.resigned.length > 0);
    // The key named as sign names it, not "the key or identity given".
    const statement = report.signing.statement;
    assert.ok(/^Signed sha256:[0-9a-f]{12}/.test(statement) && statement.includes(` with key ${keyId(keys.publicKey)}`), statement);
    const [attestation] = await attestationsOf(`oci:${dst}:lambda`);
    assert.ok(attestation !== undefined);
    assert.ok(report.signing.resigned.some((s) => s.subject === attestation.digest));
    const store: ContentStore = await LayoutStore.open(dst);
    try {
      const verified = await verifyImage(store, attestation.digest, { policy: { key: keys.publicKey } });
      assert.equal(verified.verified.length, 1, JSON.stringify(verified.checked));
      const other = await verifyImage(store, attestation.digest, { policy: { key: generateSigningKeyPair().publicKey } });
      assert.equal(other.verified.length, 0, 'another key does not verify it');
    } finally {
      await store.close();
    }
  });

  describe('to a registry (distribution 2.8, no referrers API)', { skip: registryMissing }, () => {
    const reg = useRegistry();

    it('skopeo sees a single manifest there, and the attestation is found through the tag fallback', async () => {
      const dst = `${reg.host}/lambda/app:fixed`;
      const r = await provenant(['fix', src, '--target', 'aws-lambda', '-o', dst]);
      assert.equal(r.status, 0, r.stderr);
      const raw = sh('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${dst}`]);
      assert.equal(raw.status, 0, raw.stderr);
      assert.equal((JSON.parse(raw.stdout) as { mediaType: string }).mediaType, MediaType.OciManifest);
      const [attestation] = await attestationsOf(dst);
      assert.equal(attestation?.storage, 'referrers');
      const fallback = await storeAt(reg.host, 'lambda/app').referrers(AMD64_MANIFEST);
      assert.deepEqual(
        fallback.map((d) => d.digest),
        [attestation?.digest],
      );
      const check = await provenant(['check', dst, '--target', 'aws-lambda,amazon-ecr', '--format', 'json']);
      assert.equal(check.status, 0, check.stdout);
      const report = JSON.parse(check.stdout) as CheckReport;
      assert.equal(report.probe?.api, 'absent', 'the registry was probed');
      assert.equal(report.probe?.status, 404);
    });
  });
});

describe('check and fix: what they refuse', () => {
  let dir: string;
  before(async () => {
    dir = await temp();
  });

  /** An image whose second layer's descriptor says 11 GB (its blob is absent: checks read sizes only). */
  async function hugeLayerImage(name: string): Promise<string> {
    const path = join(dir, name);
    const store = await LayoutStore.open(path, { create: true });
    await synth(store, { hugeLayer: 11_000_000_000, tag: 'v1' });
    await store.close();
    return `oci:${path}:v1`;
  }

  it('a refusal no change can fix: exit 7, the rule named, nothing written', async () => {
    const huge = await hugeLayerImage('huge');
    const check = await provenant(['check', huge, '--target', 'aws-lambda']);
    assert.equal(check.status, 7);
    assert.match(check.stdout, /image-size \(refuses\)[\s\S]*error: {2}\(no error text recorded\)[\s\S]*fix: {4}none/);
    const out = join(dir, 'huge-fixed');
    const fix = await provenant(['fix', huge, '--target', 'aws-lambda', '-o', `oci:${out}:v1`]);
    assert.equal(fix.status, 7, fix.stderr);
    assert.match(fix.stdout, /Cannot fix image-size/);
    assert.match(fix.stdout, /Nothing was written\./);
    assert.match(fix.stderr, /nothing was written/);
    // Not even an empty layout: the destination the fix made is taken away again.
    assert.equal(existsSync(out), false, 'no layout was left at the destination');
  });

  it('check --target amazon-ecr,amazon-ecr-public: an 11 GB layer passes ECR and is refused by ECR Public', async () => {
    const check = await provenant(['check', await hugeLayerImage('ecr-layer'), '--target', 'amazon-ecr,amazon-ecr-public']);
    assert.equal(check.status, 7, check.stderr);
    assert.match(check.stdout, /^amazon-ecr: accepted {2}\[Amazon ECR \(private\), registry\]$/m);
    assert.match(check.stdout, /^amazon-ecr-public: REFUSED {2}\[Amazon ECR Public, registry\]$/m);
    assert.match(check.stdout, /layer-size \(refuses\)[\s\S]*found: {2}sha256:[0-9a-f]+: layer sha256:[0-9a-f]+ is 11 GB/);
    assert.match(check.stdout, /^Refused by amazon-ecr-public\.$/m);
    // No fix splits a layer: the hint says so rather than send the user to fix.
    assert.match(check.stderr, /no fix makes the image acceptable \(amazon-ecr-public: layer-size\)/);
    assert.doesNotMatch(check.stderr, /writes the smallest change/);
  });

  it('fixes that leave a refusal standing: exit 7, the rule named, nothing written unless forced', async () => {
    const path = join(dir, 'zstd');
    const store = await LayoutStore.open(path, { create: true });
    await synth(store, { layer: 'zstd', tag: 'v1' });
    await store.close();
    // Its one rule names a fix that does not satisfy it.
    const profiles = join(import.meta.dirname, '..', 'compat', 'profiles');
    const out = join(dir, 'zstd-fixed');
    const args = ['fix', `oci:${path}:v1`, '--target', 'stubborn', '--profiles', profiles, '-o', `oci:${out}:v1`];
    const fix = await provenant(args);
    assert.equal(fix.status, 7, fix.stderr);
    assert.match(fix.stdout, /Checked before writing: stubborn would still refuse the fixed image\.\n {2}Still refused: no-zstd: /);
    assert.match(fix.stdout, /Nothing was written\./);
    assert.match(fix.stderr, /stubborn would still refuse the fixed image \(no-zstd\); nothing was written/);
    assert.equal(existsSync(out), false, 'no layout was left at the destination');
    const forced = await provenant([...args, '--force']);
    assert.equal(forced.status, 7, forced.stderr);
    assert.match(
      forced.stderr,
      /stubborn refuses the fixed image as the destination holds it \(no-zstd\): it is written, as oci:.*@sha256:[0-9a-f]{64}/,
    );
    assert.match(forced.stderr, /hint: written because of --force/);
    assert.match(forced.stdout, /Still refused: no-zstd: /);
    assert.equal((await provenant(['tags', `oci:${out}`])).stdout, 'v1\n');
  });

  it('fix --key for ECR: the index it leaves is signed under its .sig tag, not as a referrer ECR refuses; exit 0', async () => {
    const path = join(dir, 'ecr-signed');
    const store = await LayoutStore.open(path, { create: true });
    await synth(store, {
      platforms: [parsePlatform('linux/amd64'), parsePlatform('linux/arm64')],
      attestations: 'legacy',
      referrers: [{ on: 'index', artifactType: ArtifactType.SpdxJson }],
      tag: 'v1',
    });
    await store.close();
    const keys = generateSigningKeyPair();
    const keyFile = join(dir, 'ecr.key');
    await writeFile(keyFile, await encryptPrivateKey(keys.privateKey, 'pw'));
    const out = join(dir, 'ecr-signed-fixed');
    const r = await provenant(['fix', `oci:${path}:v1`, '--target', 'amazon-ecr', '--all', '--key', keyFile, '-o', `oci:${out}:fixed`], {
      env: { COSIGN_PASSWORD: 'pw' },
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Checked again: amazon-ecr accepts it\./);
    assert.match(r.stdout, /under cosign's \.sig tag: the target refuses it as a referrer/);
    const fixed = await LayoutStore.open(out);
    try {
      const root = await fixed.getManifest('fixed');
      assert.equal(root.kind, 'index');
      assert.deepEqual(await fixed.referrers(root.digest), [], 'no referrer has the index as its subject');
      const verified = await verifyImage(fixed, root.digest, { policy: { key: keys.publicKey } });
      assert.equal(verified.verified.length, 1, JSON.stringify(verified.checked));
      assert.equal(verified.verified[0]!.storage, 'cosign');
    } finally {
      await fixed.close();
    }
  });

  it('fix --key for Alibaba: a cosign 3 signature of the index is not moved where no verifier reads it, but signed again', async () => {
    const path = join(dir, 'ali-signed');
    const store = await LayoutStore.open(path, { create: true });
    await synth(store, { platforms: [parsePlatform('linux/amd64'), parsePlatform('linux/arm64')], tag: 'v1' });
    await store.close();
    const keys = generateSigningKeyPair();
    const keyFile = join(dir, 'ali.key');
    await writeFile(keyFile, await encryptPrivateKey(keys.privateKey, 'pw'));
    const env = { env: { COSIGN_PASSWORD: 'pw' } };
    const signed = await provenant(['sign', `oci:${path}:v1`, '--key', keyFile, '--new-bundle-format', 'true'], env);
    assert.equal(signed.status, 0, signed.stderr);
    const out = join(dir, 'ali-signed-fixed');
    const r = await provenant(['fix', `oci:${path}:v1`, '--target', 'alibaba-acr', '--key', keyFile, '-o', `oci:${out}:fixed`], env);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /Not carried: signature sha256:[0-9a-f]{12}, because it is a Sigstore bundle, which no verifier reads under a \.sig tag/,
    );
    const fixed = await LayoutStore.open(out);
    try {
      const root = await fixed.getManifest('fixed');
      const verified = await verifyImage(fixed, root.digest, { policy: { key: keys.publicKey } });
      assert.equal(verified.verified.length, 1, JSON.stringify(verified.checked));
      assert.equal(verified.verified[0]!.storage, 'cosign');
    } finally {
      await fixed.close();
    }
  });

  it('fix --key for ECR: a cosign 3 signature of the index (a referrer ECR refuses) is left out, the index signed again under its .sig tag', async () => {
    const path = join(dir, 'ecr-bundle');
    const store = await LayoutStore.open(path, { create: true });
    await synth(store, { platforms: [parsePlatform('linux/amd64'), parsePlatform('linux/arm64')], tag: 'v1' });
    await store.close();
    const keys = generateSigningKeyPair();
    const keyFile = join(dir, 'ecr-bundle.key');
    await writeFile(keyFile, await encryptPrivateKey(keys.privateKey, 'pw'));
    const pubFile = join(dir, 'ecr-bundle.pub');
    await writeFile(pubFile, publicKeyPem(keys.publicKey));
    const env = { env: { COSIGN_PASSWORD: 'pw' } };
    const signed = await provenant(['sign', `oci:${path}:v1`, '--key', keyFile, '--new-bundle-format', 'true'], env);
    assert.equal(signed.status, 0, signed.stderr);
    const out = `oci:${join(dir, 'ecr-bundle-fixed')}:fixed`;
    const r = await provenant(['fix', `oci:${path}:v1`, '--target', 'amazon-ecr', '--key', keyFile, '-o', out], env);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /Not carried: signature sha256:[0-9a-f]{12}, because it is a Sigstore bundle, which no verifier reads under a \.sig tag/,
    );
    assert.match(r.stdout, /under cosign's \.sig tag: the target refuses it as a referrer/);
    const check = await provenant(['check', out, '--target', 'amazon-ecr']);
    assert.equal(check.status, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /^amazon-ecr: accepted/m);
    const verified = await provenant(['verify', out, '--key', pubFile, '--format', 'json']);
    assert.equal(verified.status, 0, verified.stdout + verified.stderr);
    const report = JSON.parse(verified.stdout) as { checked: { storage: string; verified: boolean }[] };
    assert.deepEqual(
      report.checked.filter((c) => c.verified).map((c) => c.storage),
      ['cosign'],
    );
  });

  it("fix --key for Lambda: the amd64 manifest written in place of the index, signed by a vendor's key, is signed with the key given too", async () => {
    const path = join(dir, 'lambda-vendor');
    const store = await LayoutStore.open(path, { create: true });
    const made = await synth(store, { platforms: [parsePlatform('linux/amd64'), parsePlatform('linux/arm64')], tag: 'v1' });
    await store.close();
    const amd64 = made.images[0]!.digest;
    const env = { env: { COSIGN_PASSWORD: 'pw' } };
    const vendor = generateSigningKeyPair();
    const vendorKey = join(dir, 'lambda-vendor.key');
    await writeFile(vendorKey, await encryptPrivateKey(vendor.privateKey, 'pw'));
    const vendorSigned = await provenant(['sign', `oci:${path}:v1`, '--key', vendorKey, '--recursive'], env);
    assert.equal(vendorSigned.status, 0, vendorSigned.stderr);
    const mine = generateSigningKeyPair();
    const keyFile = join(dir, 'lambda-mine.key');
    await writeFile(keyFile, await encryptPrivateKey(mine.privateKey, 'pw'));
    const pubFile = join(dir, 'lambda-mine.pub');
    await writeFile(pubFile, publicKeyPem(mine.publicKey));
    const out = `oci:${join(dir, 'lambda-vendor-fixed')}:fixed`;
    const r = await provenant(['fix', `oci:${path}:v1`, '--target', 'aws-lambda', '--key', keyFile, '-o', out, '--format', 'json'], env);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout) as FixReport;
    assert.equal(report.destination?.digest, amd64);
    // What the user publishes verifies against their key, and the signature is the one the fix made.
    const verified = await provenant(['verify', out, '--key', pubFile]);
    assert.equal(verified.status, 0, verified.stdout + verified.stderr);
    assert.deepEqual(
      report.signing.resigned.map((s) => s.subject),
      [amd64],
    );
  });

  it('the same fix written twice to a layout: index.json gains no entry the second time', async () => {
    const path = join(dir, 'twice');
    const store = await LayoutStore.open(path, { create: true });
    await synth(store, { platforms: [parsePlatform('linux/amd64'), parsePlatform('linux/arm64')], attestations: 'legacy', tag: 'v1' });
    await store.close();
    const out = join(dir, 'twice-fixed');
    const entries = async () => (JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: unknown[] }).manifests;
    const args = ['fix', `oci:${path}:v1`, '--target', 'amazon-ecr', '--all', '-o', `oci:${out}:fixed`];
    assert.equal((await provenant(args)).status, 0);
    const first = await entries();
    const again = await provenant(args);
    assert.equal(again.status, 0, again.stderr);
    assert.deepEqual(await entries(), first);
  });

  it('usage: no target, an unknown one, two for fix, fix without -o', async () => {
    const ref = `oci:${join(dir, 'huge')}:v1`;
    let r = await provenant(['check', ref]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /name a target with --target[\s\S]*aws-lambda/);
    r = await provenant(['check', ref, '--target', 'aws-lamda']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown target "aws-lamda": did you mean aws-lambda\?\n {2}hint: targets: .*aws-lambda/);
    // Cut short, azure is as near each of the three Azure targets: all are named, not the first.
    r = await provenant(['check', ref, '--target', 'azure']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown target "azure": did you mean one of: azure-aci, azure-acr, azure-functions\?\n/);
    // As for a flag: a guess only when one is close.
    r = await provenant(['check', ref, '--target', 'ghcr,nowhere@2']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown target "nowhere"\n/);
    r = await provenant(['fix', ref, '--target', 'aws-lambda,ghcr', '-o', `oci:${join(dir, 'x')}`]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /name one target, not 2/);
    r = await provenant(['fix', ref, '--target', 'aws-lambda']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /fix needs -o DST/);
    r = await provenant(['fix', ref, '--target', 'aws-lambda', '-o', `oci:${join(dir, 'x')}`, '--key', 'k', '--keyless']);
    assert.equal(r.status, 2);
  });

  it('targets from the environment and repeated flags, versions named', async () => {
    const ref = `oci:${join(dir, 'huge')}:v1`;
    const r = await provenant(['check', ref, '--target', 'artifactory@6.23.38', '--target', 'ghcr', '--format', 'json'], {
      env: { PROVENANT_TARGET: 'aws-lambda' },
    });
    const report = JSON.parse(r.stdout) as CheckReport;
    assert.deepEqual(
      report.targets.map((t) => t.target),
      ['artifactory@6.23.38', 'ghcr'],
      'the command line wins over PROVENANT_TARGET',
    );
    const fromEnv = await provenant(['check', ref, '--format', 'json'], { env: { PROVENANT_TARGET: 'aws-lambda,ghcr' } });
    assert.deepEqual(
      (JSON.parse(fromEnv.stdout) as CheckReport).targets.map((t) => t.target),
      ['aws-lambda', 'ghcr'],
    );
  });
});
