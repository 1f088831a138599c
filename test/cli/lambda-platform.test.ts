// Lambda runs linux/amd64 and linux/arm64 images, and only images: `check` refuses a signature or
// attestation named in place of the image and an image for another platform, and `fix` keeps to
// the exit codes docs/targets.md gives (7, nothing written, when a refusal has no fix; written and
// still 7 with --force), never writing a platform Lambda does not run as accepted.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parsePlatform } from '../../src/oci/platform.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { synth } from '../compat/images.ts';
import { cliOk, runCli } from '../helpers/cli.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('lambda-platform');
const env = { COSIGN_PASSWORD: 'pw' };

/** A layout `src` with: win (an index of windows/amd64 only), win2 (windows/amd64 and arm64), multi (linux/amd64 and windows/amd64), att (a BuildKit attestation manifest), single (signed with ck.key). */
async function images(): Promise<string> {
  const dir = await tempDir();
  const store = await LayoutStore.open(join(dir, 'src'), { create: true });
  await synth(store, { tag: 'win', platforms: [parsePlatform('windows/amd64')], index: true });
  await synth(store, { tag: 'win2', platforms: [parsePlatform('windows/amd64'), parsePlatform('windows/arm64')], seed: 5 });
  await synth(store, { tag: 'multi', platforms: [parsePlatform('linux/amd64'), parsePlatform('windows/amd64')], seed: 3 });
  await synth(store, { tag: 'att', attestations: 'legacy', rootIsAttestation: true, seed: 9 });
  await synth(store, { tag: 'single', seed: 11 });
  await store.close();
  await cliOk(['generate-key-pair', '--output-key-prefix', 'ck'], { cwd: dir, env });
  await cliOk(['sign', 'oci:src:single', '--key', 'ck.key'], { cwd: dir, env });
  return dir;
}

interface Checked {
  targets: { verdict: string; problems: { rule: string; findings: { detail: string }[] }[] }[];
}

describe('aws-lambda: platforms and what is not an image', () => {
  it('check refuses a cosign signature, an attestation manifest and a Windows image, and accepts a linux one', async () => {
    const dir = await images();
    const sig = (await cliOk(['tags', 'oci:src'], { cwd: dir })).stdout.split('\n').find((t) => t.endsWith('.sig'));
    assert.ok(sig !== undefined);
    for (const [ref, rules] of [
      [`oci:src:${sig}`, ['needs-lambda-platform', 'not-an-image']],
      ['oci:src:att', ['needs-lambda-platform', 'not-an-image']],
      ['oci:src:win', ['index', 'needs-lambda-platform']],
      ['oci:src:single', []],
    ] as const) {
      const run = await runCli(['check', ref, '--target', 'aws-lambda', '--format', 'json'], { cwd: dir });
      assert.equal(run.status, rules.length === 0 ? 0 : 7, `${ref}: ${run.stderr}`);
      const problems = (JSON.parse(run.stdout) as Checked).targets[0]!.problems;
      assert.deepEqual(
        problems.map((p) => p.rule),
        rules,
        ref,
      );
      // A signature's config states no platform: said so, not as "/".
      for (const p of problems) for (const f of p.findings) assert.doesNotMatch(f.detail, /offers \//, ref);
      if (ref.endsWith('.sig')) {
        assert.match(
          problems[0]!.findings[0]!.detail,
          /the image offers no platform it states; the target runs linux\/amd64, linux\/arm64/,
        );
      }
    }
  });

  it('fix of an index without a platform Lambda runs: exit 7, nothing written; with --force written, still 7', async () => {
    const dir = await images();
    const plain = await runCli(['fix', 'oci:src:win', '--target', 'aws-lambda', '-o', 'oci:out:1'], { cwd: dir });
    assert.equal(plain.status, 7, plain.stderr);
    assert.match(plain.stdout, /Cannot fix needs-lambda-platform/);
    assert.match(plain.stdout, /Nothing was written\./);
    assert.doesNotMatch(plain.stderr, /--platform/);
    assert.equal((await runCli(['digest', 'oci:out:1'], { cwd: dir })).status, 3);

    const forced = await runCli(['fix', 'oci:src:win', '--target', 'aws-lambda', '-o', 'oci:forced:1', '--force'], { cwd: dir });
    assert.equal(forced.status, 7, forced.stderr);
    assert.match(forced.stderr, /it is written, as oci:forced@sha256:/);
    assert.match(forced.stdout, /Checked again: aws-lambda still refuses it\./);

    // Two platforms, neither Lambda's: forced, the hint names the platforms Lambda runs, not a way to satisfy it.
    const two = await runCli(['fix', 'oci:src:win2', '--target', 'aws-lambda', '-o', 'oci:two:1', '--force'], { cwd: dir });
    assert.equal(two.status, 3, two.stderr);
    assert.match(two.stderr, /none of which the target runs \(build it for linux\/amd64 or linux\/arm64/);
  });

  it('fix --platform windows/amd64 of an index with linux/amd64: exit 7, nothing written, never "accepts it"', async () => {
    const dir = await images();
    const run = await runCli(
      ['fix', 'oci:src:multi', '--target', 'aws-lambda', '--platform', 'windows/amd64', '-o', 'oci:out:1', '--format', 'json'],
      { cwd: dir },
    );
    assert.equal(run.status, 7, run.stderr);
    const report = JSON.parse(run.stdout) as { written: boolean; account: string[] };
    assert.equal(report.written, false);
    assert.match(report.account.join('\n'), /Still refused: needs-lambda-platform: the image offers windows\/amd64/);
    // Without --platform the fix keeps linux/amd64, which Lambda runs.
    const kept = await runCli(['fix', 'oci:src:multi', '--target', 'aws-lambda', '-o', 'oci:kept:1'], { cwd: dir });
    assert.equal(kept.status, 0, kept.stderr);
    assert.match(kept.stdout, /the linux\/amd64 manifest/);
  });
});
