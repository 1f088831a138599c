// A docker-archive keeps no manifest: read back, it holds Docker schema 2 of its own, another
// digest than an OCI image's. `fix` into one checks again, names and reports the image by the
// digest the archive holds (a reader's `digest` of it), stores it once, and refuses to sign into
// it, as the signatures would have nowhere to go.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LayoutStore } from '../../src/store/layout.ts';
import { synth } from '../compat/images.ts';
import { cliOk, runCli } from '../helpers/cli.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('fix-docker-archive');
const env = { COSIGN_PASSWORD: 'pw' };

interface Fixed {
  written: boolean;
  destination: { digest: string; mediaType: string; fixed?: string };
  after: { verdict: string };
  account: string[];
}

describe('fix into a docker-archive', () => {
  for (const [target, attestations] of [
    ['google-cloud-run', 'none'],
    ['aws-lambda', 'legacy'],
  ] as const) {
    it(`${target}, an OCI image (${attestations} attestations): written, checked again and reported by the archive's own digest`, async () => {
      const dir = await tempDir();
      const store = await LayoutStore.open(join(dir, 'src'), { create: true });
      await synth(store, { attestations, tag: 'v1' });
      await store.close();
      const run = await runCli(['fix', 'oci:src:v1', '--target', target, '-o', 'docker-archive:out.tar', '--format', 'json'], {
        cwd: dir,
        env,
      });
      assert.equal(run.status, 0, run.stderr);
      const report = JSON.parse(run.stdout) as Fixed;
      assert.equal(report.written, true);
      assert.equal(report.after.verdict, 'accepted');
      assert.equal(report.destination.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
      const read = (await cliOk(['digest', 'docker-archive:out.tar'], { cwd: dir })).stdout.trim();
      assert.equal(report.destination.digest, read);
      assert.notEqual(report.destination.fixed, undefined);
      assert.notEqual(report.destination.fixed, read);
      assert.match(
        report.account.join('\n'),
        /holds it as sha256:[0-9a-f]{12} \(application\/vnd\.docker\.distribution\.manifest\.v2\+json\)/,
      );
      // Stored once, tagged: not also as an untagged copy made to be signed first.
      const saved = JSON.parse(savedManifest(join(dir, 'out.tar'))) as { RepoTags: string[] }[];
      assert.deepEqual(
        saved.map((s) => s.RepoTags),
        [['latest']],
      );
    });
  }

  it('aws-lambda, an uncompressed OCI layer: gzipped into the archive, which would type it as Docker’s plain tar, which Lambda refuses', async () => {
    // The archive keeps no media types: read back (and loaded into containerd's image store, whose
    // push sends the layers as loaded), a plain tar layer file is Docker's uncompressed type.
    const dir = await tempDir();
    const store = await LayoutStore.open(join(dir, 'src'), { create: true });
    await synth(store, { attestations: 'legacy', layer: 'uncompressed', tag: 'v1' });
    await store.close();
    const run = await runCli(['fix', 'oci:src:v1', '--target', 'aws-lambda', '-o', 'docker-archive:out.tar', '--format', 'json'], {
      cwd: dir,
      env,
    });
    assert.equal(run.status, 0, run.stderr);
    const report = JSON.parse(run.stdout) as Fixed & { applied: { fix: string; with: { from?: string[] }; rules: string[] }[] };
    assert.equal(report.written, true);
    assert.equal(report.after.verdict, 'accepted');
    assert.deepEqual(
      report.applied.find((a) => a.fix === 'gzip-layers'),
      { fix: 'gzip-layers', with: { from: ['uncompressed'] }, rules: ['uncompressed-docker-layer'] },
    );
    const read = (await cliOk(['digest', 'docker-archive:out.tar'], { cwd: dir })).stdout.trim();
    assert.equal(report.destination.digest, read);
    const held = JSON.parse((await cliOk(['manifest', 'docker-archive:out.tar'], { cwd: dir })).stdout) as {
      layers: { mediaType: string }[];
    };
    assert.deepEqual(
      held.layers.map((l) => l.mediaType),
      ['application/vnd.docker.image.rootfs.diff.tar.gzip'],
    );
    // Into an OCI layout the OCI uncompressed type stays: Lambda takes it, and the fix is the smallest change.
    const oci = await runCli(['fix', 'oci:src:v1', '--target', 'aws-lambda', '-o', 'oci:out', '--format', 'json'], { cwd: dir, env });
    assert.equal(oci.status, 0, oci.stderr);
    assert.equal(
      (JSON.parse(oci.stdout) as { applied: { fix: string }[] }).applied.some((a) => a.fix === 'gzip-layers'),
      false,
    );
  });

  it('refuses --key before writing anything: the archive keeps no signatures', async () => {
    const dir = await tempDir();
    const store = await LayoutStore.open(join(dir, 'src'), { create: true });
    await synth(store, { attestations: 'legacy', tag: 'v1' });
    await store.close();
    await cliOk(['generate-key-pair', '--output-key-prefix', 'ck'], { cwd: dir, env });
    const run = await runCli(['fix', 'oci:src:v1', '--target', 'aws-lambda', '--key', 'ck.key', '-o', 'docker-archive:out.tar'], {
      cwd: dir,
      env,
    });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /a docker-archive holds one image and no signatures/);
    await assert.rejects(readFile(join(dir, 'out.tar')), { code: 'ENOENT' });
  });
});

/** manifest.json of a docker-archive. */
function savedManifest(file: string): string {
  const r = spawnSync('tar', ['-xOf', file, 'manifest.json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}
