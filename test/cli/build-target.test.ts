/**
 * build --target through the CLI entry point: an image the target refuses as built is written in
 * the shape fix makes (Lambda: the amd64 manifest alone, its attestations as referrers; GitLab:
 * BuildKit 0.32's in-index attestations moved to referrers); one it accepts is written unchanged.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { FixReport } from '../../src/compat/fix.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import { EPOCH, writeFixtureRepo } from '../action/fixture-repo.ts';
import { sh, toolMissing } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';
import { provenant } from './provenant.ts';

const temp = useTempDir('cli-build-target');
const env = { SOURCE_DATE_EPOCH: String(EPOCH) };

interface BuildJson {
  digest: string;
  images: { platform: string; digest: string }[];
  target?: { target: string; asBuilt: string; fix: FixReport | null };
}

describe('provenant build --target', () => {
  let dir: string;
  let config: string;
  let plain: BuildJson;
  const ref = (name: string): string => `oci:${join(dir, name)}:v1`;

  before(async () => {
    dir = await temp();
    config = await writeFixtureRepo(dir);
    const r = await provenant(['build', config, '-o', ref('plain'), '--format', 'json'], { env });
    assert.equal(r.status, 0, r.stderr);
    plain = JSON.parse(r.stdout) as BuildJson;
  });

  it('aws-lambda: the amd64 manifest alone, accepted, its SBOMs and provenance still attached as referrers', async () => {
    const r = await provenant(['build', config, '-o', ref('lambda'), '--target', 'aws-lambda'], { env });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /aws-lambda refuses the image as built; written as fix makes it:/);
    assert.match(r.stdout, /The image is now the linux\/amd64 manifest/);
    const amd64 = plain.images.find((i) => i.platform === 'linux/amd64')!.digest;
    assert.equal((await provenant(['digest', ref('lambda')])).stdout.trim(), amd64, 'the manifest a plain build writes, unchanged');
    const check = await provenant(['check', ref('lambda'), '--target', 'aws-lambda']);
    assert.equal(check.status, 0, check.stdout);
    const inspect = JSON.parse((await provenant(['inspect', ref('lambda'), '--format', 'json'])).stdout) as {
      mediaType: string;
      manifests: { attachments: { storage: string; predicateTypes: string[] }[] }[];
    };
    assert.equal(inspect.mediaType, MediaType.OciManifest);
    const types = inspect.manifests[0]!.attachments.filter((a) => a.storage === 'referrers').flatMap((a) => a.predicateTypes);
    for (const t of ['https://spdx.dev/Document', 'https://cyclonedx.org/bom', 'https://slsa.dev/provenance/v1'])
      assert.ok(types.includes(t), t);
    if (toolMissing('skopeo') === false) {
      const raw = sh('skopeo', ['inspect', '--raw', ref('lambda')]);
      assert.equal(raw.status, 0, raw.stderr);
      assert.equal((JSON.parse(raw.stdout) as { mediaType: string }).mediaType, MediaType.OciManifest);
    }
  });

  it('gitlab with BuildKit 0.32 attestations: moved out of the index to referrers, both platforms kept', async () => {
    const r = await provenant(
      ['build', config, '-o', ref('gitlab'), '--target', 'gitlab', '--attestations', 'buildkit-artifact', '--format', 'json'],
      { env },
    );
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as BuildJson;
    assert.equal(out.target?.asBuilt, 'refused');
    assert.deepEqual(
      out.target?.fix?.applied.map((a) => a.fix),
      ['move-attestations'],
    );
    // Accepted; GitLab's missing referrers API stays a warning.
    assert.equal(out.target?.fix?.after?.verdict, 'warnings');
    // Without the attestation entries, the index is the one a referrers build writes.
    assert.equal(out.digest, plain.digest);
    const check = await provenant(['check', ref('gitlab'), '--target', 'gitlab']);
    assert.equal(check.status, 0, check.stdout);
  });

  it('a target that accepts the image as built gets it unchanged', async () => {
    const r = await provenant(['build', config, '-o', ref('acr'), '--target', 'azure-acr'], { env });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /azure-acr accepts it as built: written unchanged\./);
    assert.ok(r.stdout.startsWith(`${ref('acr')}@${plain.digest}\n`), r.stdout);
  });

  it('amazon-ecr: the index’s own attestation (a referrer of an index, which ECR refuses) goes under a cosign tag', async () => {
    const r = await provenant(['build', config, '-o', ref('ecr'), '--target', 'amazon-ecr', '--format', 'json'], { env });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as BuildJson;
    assert.equal(out.target?.asBuilt, 'refused');
    assert.equal(out.digest, plain.digest, 'the index itself is unchanged');
    assert.match(out.target?.fix?.account.join('\n') ?? '', /stored under tag sha256-[0-9a-f]{64}\.att/);
    const check = await provenant(['check', ref('ecr'), '--target', 'amazon-ecr']);
    assert.equal(check.status, 0, check.stdout);
  });

  it('an unknown target, or two, are refused before anything is built', async () => {
    let r = await provenant(['build', config, '-o', ref('never'), '--target', 'lambda']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown target "lambda"/);
    r = await provenant(['build', config, '-o', ref('never'), '--target', 'aws-lambda,ghcr']);
    assert.equal(r.status, 2);
    assert.equal((await provenant(['tags', `oci:${join(dir, 'never')}`])).stdout, '');
  });
});
