// ECS and Fargate, Container Instances and Functions run the platforms their profiles list, and
// only images: `check` refuses an image for another platform (linux/arm/v6, say) and, where the
// runtime pulls one image to run, a signature named in its place; `fix` ends with exit 7 and
// nothing written for such an image (written and still 7 with --force), never "accepts it".
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parsePlatform } from '../../src/oci/platform.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { synth } from '../compat/images.ts';
import { cliOk, runCli } from '../helpers/cli.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('runtime-platform');
const env = { COSIGN_PASSWORD: 'pw' };

/** A layout `src` with: v6 (linux/arm/v6), v6idx (an index of linux/arm/v6 with attestations), both (linux/amd64 and linux/arm/v6), single (linux/amd64, signed with ck.key). */
async function images(): Promise<string> {
  const dir = await tempDir();
  const store = await LayoutStore.open(join(dir, 'src'), { create: true });
  await synth(store, { tag: 'v6', platforms: [parsePlatform('linux/arm/v6')] });
  await synth(store, { tag: 'v6idx', platforms: [parsePlatform('linux/arm/v6')], attestations: 'legacy', seed: 5 });
  await synth(store, { tag: 'both', platforms: [parsePlatform('linux/amd64'), parsePlatform('linux/arm/v6')], seed: 3 });
  await synth(store, { tag: 'single', seed: 11 });
  // Variants of an architecture a target lists without one: a Graviton2 build, an x86-64-v2 one.
  await synth(store, { tag: 'v82', platforms: [parsePlatform('linux/arm64/v8.2')], seed: 13 });
  await synth(store, { tag: 'amd64v2', platforms: [parsePlatform('linux/amd64/v2')], seed: 17 });
  await store.close();
  await cliOk(['generate-key-pair', '--output-key-prefix', 'ck'], { cwd: dir, env });
  await cliOk(['sign', 'oci:src:single', '--key', 'ck.key'], { cwd: dir, env });
  return dir;
}

interface Checked {
  targets: { verdict: string; problems: { rule: string; findings: { detail: string }[] }[] }[];
}

/** Each runtime, its platform rule, the platforms it runs and the rule that refuses a signature. */
const RUNTIMES = [
  { id: 'ecs-fargate', rule: 'needs-ecs-platform', runs: 'linux/amd64, linux/arm64, windows/amd64', notImage: 'attestation-digest' },
  { id: 'azure-aci', rule: 'needs-aci-platform', runs: 'linux/amd64, windows/amd64', notImage: 'not-an-image' },
  { id: 'azure-functions', rule: 'needs-functions-platform', runs: 'linux/amd64', notImage: 'not-an-image' },
] as const;

describe('runtimes: the platforms they run and what is not an image', () => {
  for (const r of RUNTIMES) {
    it(`${r.id}: check refuses linux/arm/v6 and a cosign signature, accepts linux/amd64`, async () => {
      const dir = await images();
      const sig = (await cliOk(['tags', 'oci:src'], { cwd: dir })).stdout.split('\n').find((t) => t.endsWith('.sig'));
      assert.ok(sig !== undefined);
      for (const [ref, rules] of [
        ['oci:src:v6', [r.rule]],
        [`oci:src:${sig}`, [r.rule, r.notImage].sort()],
        ['oci:src:both', []],
        ['oci:src:single', []],
        ['oci:src:amd64v2', []],
        ...(r.runs.includes('linux/arm64') ? ([['oci:src:v82', []]] as const) : []),
      ] as const) {
        const run = await runCli(['check', ref, '--target', r.id, '--format', 'json'], { cwd: dir });
        assert.equal(run.status, rules.length === 0 ? 0 : 7, `${ref}: ${run.stderr}`);
        const problems = (JSON.parse(run.stdout) as Checked).targets[0]!.problems;
        assert.deepEqual(problems.map((p) => p.rule).sort(), rules, ref);
        if (ref === 'oci:src:v6') {
          assert.equal(problems[0]!.findings[0]!.detail, `the image offers linux/arm/v6; the target runs ${r.runs}`);
        }
      }
    });

    it(`${r.id}: fix --platform linux/arm/v6 is exit 7, nothing written; --force writes it, still 7`, async () => {
      const dir = await images();
      for (const ref of ['oci:src:v6', 'oci:src:v6idx']) {
        const run = await runCli(['fix', ref, '--target', r.id, '--platform', 'linux/arm/v6', '-o', 'oci:out:1'], { cwd: dir });
        assert.equal(run.status, 7, `${ref}: ${run.stderr}`);
        assert.match(run.stdout, new RegExp(`Cannot fix ${r.rule}`), ref);
        assert.match(run.stdout, new RegExp(`the target runs ${r.runs}`), ref);
        assert.match(run.stdout, /Nothing was written\./, ref);
        assert.doesNotMatch(run.stdout, /accepts it/, ref);
        assert.equal((await runCli(['digest', 'oci:out:1'], { cwd: dir })).status, 3, ref);
      }
      const forced = await runCli(['fix', 'oci:src:v6', '--target', r.id, '-o', 'oci:forced:1', '--force'], { cwd: dir });
      assert.equal(forced.status, 7, forced.stderr);
      assert.match(forced.stderr, /it is written, as oci:forced@sha256:/);
      assert.match(forced.stdout, new RegExp(`Checked again: ${r.id} still refuses it\\.`));
    });
  }
});
