// BuildKit's attestations are unsigned statements in the index, which `verify-attestation` trusts
// through the index's signature. A fix that moves them out of the index (aws-lambda, amazon-ecr)
// leaves them where no signature covers them: given a key, `fix` signs their statements again as
// attestations of their subject, as `build --target` does, so that they verify on the fixed image;
// without one, its account says plainly that no signature covers them, and how to sign them.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { statement, storeAttestations } from '../../src/attest/storage.ts';
import { parsePlatform } from '../../src/oci/platform.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { synth } from '../compat/images.ts';
import { cliOk, runCli } from '../helpers/cli.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('fix-moved-attestations');
const env = { COSIGN_PASSWORD: 'pw', SOURCE_DATE_EPOCH: '1700000000' };
const TYPE = 'https://example.org/t/v1';

/** A two-platform index whose amd64 image has a BuildKit attestation in the index, in `mode`, the index signed with ck.key. */
async function signedBuildkitIndex(mode: 'buildkit' | 'buildkit-artifact'): Promise<{ dir: string; src: string }> {
  const dir = await tempDir();
  const store = await LayoutStore.open(join(dir, 'src'), { create: true });
  const made = await synth(store, { platforms: [parsePlatform('linux/amd64'), parsePlatform('linux/arm64')] });
  const amd64 = made.images[0]!;
  const s = statement(TYPE, { said: 'of amd64' }, [{ name: 'example.org/app', digest: amd64.digest }]);
  await store.putManifest(await storeAttestations(store, made.root, [{ manifest: amd64, statements: [s] }], mode), {
    tags: ['attested'],
  });
  await cliOk(['generate-key-pair', '--output-key-prefix', 'ck'], { cwd: dir, env });
  await cliOk(['sign', 'oci:src:attested', '--key', 'ck.key'], { cwd: dir, env });
  return { dir, src: 'oci:src:attested' };
}

/** `verify-attestation` of TYPE about the amd64 image of `ref` (an index: `--platform`). */
function verifyAttestation(dir: string, ref: string, index: boolean) {
  const platform = index ? ['--platform', 'linux/amd64'] : [];
  return runCli(['verify-attestation', ref, ...platform, '--key', 'ck.pub', '--type', TYPE], { cwd: dir, env });
}

interface Signing {
  resigned: { subject: string }[];
  moved: { attestation: string; about: string }[];
  remade: { attestation: string; about: string }[];
  statement: string;
}

describe('fix moves BuildKit attestations out of the signed index', () => {
  for (const [target, mode, index] of [
    ['aws-lambda', 'buildkit', false],
    ['amazon-ecr', 'buildkit-artifact', true],
    // The moved manifest is rewritten (a digest of its own, which the key signs too).
    ['alibaba-acr', 'buildkit-artifact', true],
  ] as const) {
    it(`${target}, ${mode}: with --key their statements are signed again and verify; without, the account says none covers them`, async () => {
      const { dir, src } = await signedBuildkitIndex(mode);
      const before = await verifyAttestation(dir, src, true);
      assert.equal(before.status, 0, before.stderr);
      assert.match(before.stdout, /through the signature of the index/);

      const signed = await runCli(['fix', src, '--target', target, '--key', 'ck.key', '-o', 'oci:keyed:1', '--format', 'json'], {
        cwd: dir,
        env,
      });
      assert.equal(signed.status, 0, signed.stderr);
      const s = (JSON.parse(signed.stdout) as { signing: Signing }).signing;
      assert.equal(s.moved.length, 1, s.statement);
      assert.deepEqual(s.remade, s.moved, s.statement);
      assert.match(s.statement, /its statements are signed again as attestations of/);
      for (const m of s.moved) {
        // Not said to be unsigned when the key signed the moved manifest itself.
        const signedItself = s.resigned.some((r) => r.subject === m.attestation);
        assert.equal(s.statement.includes(`Not signed: attestation ${m.attestation.slice(0, 19)}`), !signedItself, s.statement);
      }
      const after = await verifyAttestation(dir, 'oci:keyed:1', index);
      assert.equal(after.status, 0, `${after.stdout}${after.stderr}`);
      assert.doesNotMatch(after.stdout, /through the signature of the index/);

      const bare = await runCli(['fix', src, '--target', target, '-o', 'oci:bare:1', '--format', 'json'], { cwd: dir, env });
      assert.equal(bare.status, 0, bare.stderr);
      const b = (JSON.parse(bare.stdout) as { signing: Signing }).signing;
      assert.equal(b.moved.length, 1, b.statement);
      assert.deepEqual(b.remade, []);
      assert.match(
        b.statement,
        /No signature covers attestation sha256:[0-9a-f]{12} of sha256:[0-9a-f]{12} any more: the fix moved it out of the index/,
      );
      assert.match(b.statement, /fix --key or --keyless/);
      assert.equal((await verifyAttestation(dir, 'oci:bare:1', index)).status, 5);
    });
  }

  it('aws-lambda of an unsigned index with --key: the manifest Lambda runs is signed, not only the attestation moved', async () => {
    const dir = await tempDir();
    const store = await LayoutStore.open(join(dir, 'src'), { create: true });
    await synth(store, { attestations: 'legacy', tag: 'bk' });
    await store.close();
    await cliOk(['generate-key-pair', '--output-key-prefix', 'ck'], { cwd: dir, env });
    const run = await runCli(['fix', 'oci:src:bk', '--target', 'aws-lambda', '--key', 'ck.key', '-o', 'oci:keyed:1', '--format', 'json'], {
      cwd: dir,
      env,
    });
    assert.equal(run.status, 0, run.stderr);
    const report = JSON.parse(run.stdout) as { destination: { digest: string }; signing: Signing };
    assert.ok(
      report.signing.resigned.some((r) => r.subject === report.destination.digest),
      report.signing.statement,
    );
    const verified = await runCli(['verify', 'oci:keyed:1', '--key', 'ck.pub'], { cwd: dir, env });
    assert.equal(verified.status, 0, `${verified.stdout}${verified.stderr}`);
  });
});
