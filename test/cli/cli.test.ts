// The CLI end to end: inspect, copy into archives that skopeo reads, errors and exit codes, flags from the environment, gc.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { digestHex, digestOf } from '../../src/oci/digest.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';
import { makeImage, sh, toolMissing } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';

const root = join(import.meta.dirname, '..', '..');
const example = `oci:${join(root, 'examples', 'hello-oci')}:latest`;
const temp = useTempDir('cli');

function provenant(args: string[], env: Record<string, string> = {}): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, 'src', 'cli', 'main.ts'), ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('provenant CLI', () => {
  it('inspects the bundled example: two platforms', () => {
    const r = provenant(['inspect', example]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /MediaType: application\/vnd\.oci\.image\.index\.v1\+json/);
    assert.match(r.stdout, /Platform:\s+linux\/amd64[\s\S]*Platform:\s+linux\/arm64/);
    const json = JSON.parse(provenant(['inspect', '--format', 'json', example]).stdout);
    assert.equal(json.manifests.length, 2);
    const raw = spawnSync(process.execPath, [join(root, 'src', 'cli', 'main.ts'), 'inspect', '--raw', example]);
    assert.equal(digestOf(new Uint8Array(raw.stdout)), json.digest);
    assert.equal(provenant(['digest', example]).stdout.trim(), json.digest);
  });

  it('digest and manifest --platform: the image of that platform in the index, as crane gives it', () => {
    const index = JSON.parse(provenant(['manifest', example]).stdout);
    const arm = index.manifests.find((m: { platform?: { architecture?: string } }) => m.platform?.architecture === 'arm64');
    assert.equal(provenant(['digest', example, '--platform', 'linux/arm64']).stdout.trim(), arm.digest);
    const bytes = spawnSync(process.execPath, [
      join(root, 'src', 'cli', 'main.ts'),
      'manifest',
      example,
      '--platform',
      'linux/arm64',
    ]).stdout;
    assert.equal(digestOf(new Uint8Array(bytes)), arm.digest);
    const missing = provenant(['digest', example, '--platform', 'linux/s390x']);
    assert.equal(missing.status, 3, missing.stderr);
    assert.match(missing.stderr, /no linux\/s390x manifest[\s\S]*its platforms: linux\/amd64, linux\/arm64/);
    const single = provenant(['manifest', `${example.replace(/:latest$/, '')}@${arm.digest}`, '--platform', 'linux/arm64']);
    assert.equal(single.status, 2, single.stderr);
  });

  it('copies into oci-archive and docker-archive files that skopeo reads', { skip: toolMissing('skopeo') }, async () => {
    const dir = await temp();
    const oa = join(dir, 'img.tar');
    let r = provenant(['copy', '--quiet', example, `oci-archive:${oa}:v1`]);
    assert.equal(r.status, 0, r.stderr);
    const digest = provenant(['digest', example]).stdout.trim();
    assert.equal(provenant(['digest', `oci-archive:${oa}:v1`]).stdout.trim(), digest);
    const s = sh('skopeo', ['inspect', '--raw', `oci-archive:${oa}:v1`]);
    assert.equal(s.status, 0, s.stderr);
    assert.equal(digestOf(s.stdout), digest);

    const da = join(dir, 'docker.tar');
    r = provenant(['copy', '--quiet', '--platform', 'linux/arm64', example, `docker-archive:${da}:example.com/hello:1`]);
    assert.equal(r.status, 0, r.stderr);
    const config = sh('skopeo', ['inspect', '--config', `docker-archive:${da}`]);
    assert.equal(config.status, 0, config.stderr);
    assert.equal(JSON.parse(config.stdout).architecture, 'arm64');
    const back = provenant(['inspect', '--format', 'json', `docker-archive:${da}:example.com/hello:1`]);
    assert.equal(back.status, 0, back.stderr);
    assert.equal(JSON.parse(back.stdout).manifests[0].platform.architecture, 'arm64');
    // What skopeo writes as an oci-archive, we read with the same digest.
    const theirsOci = join(dir, 'theirs-oci.tar');
    const wo = sh('skopeo', ['copy', '--all', '--preserve-digests', example, `oci-archive:${theirsOci}:t`]);
    assert.equal(wo.status, 0, wo.stderr);
    assert.equal(provenant(['digest', `oci-archive:${theirsOci}:t`]).stdout.trim(), digest);
    // And what skopeo writes as a docker-archive, we read.
    const theirs = join(dir, 'theirs.tar');
    const w = sh('skopeo', ['copy', '--override-arch', 'amd64', example, `docker-archive:${theirs}:example.com/theirs:2`]);
    assert.equal(w.status, 0, w.stderr);
    const t = provenant(['inspect', '--format', 'json', `docker-archive:${theirs}`]);
    assert.equal(t.status, 0, t.stderr);
    assert.equal(JSON.parse(t.stdout).manifests[0].platform.architecture, 'amd64');
  });

  it('reads the real BuildKit oci-archive with its attestations', { skip: fixturesMissing }, () => {
    const r = provenant([
      'inspect',
      `oci-archive:${fixture('oci', 'buildkit-oci-layout-tar_2-platforms-with-legacy-attestation-manifests.tar')}`,
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal((r.stdout.match(/attestation buildkit/g) ?? []).length, 2);
  });

  it('shows a layout tag holding a newline or an escape as one escaped field: in tags and in the hints that list them', async () => {
    const dir = await temp();
    const layout = await LayoutStore.open(join(dir, 'l'), { create: true });
    await makeImage(layout, { tag: 'a\nb', seed: 1 });
    await makeImage(layout, { tag: '\u001b[31mred', seed: 2 });
    const tags = provenant(['tags', `oci:${layout.path}`]);
    assert.equal(tags.status, 0, tags.stderr);
    assert.equal(tags.stdout, '\\u001b[31mred\na\\u000ab\n');
    const json = provenant(['tags', '--format', 'json', `oci:${layout.path}`]);
    assert.deepEqual(JSON.parse(json.stdout), ['\u001b[31mred', 'a\nb'], 'JSON keeps the tags as they are');
    for (const args of [
      ['digest', `oci:${layout.path}`],
      ['inspect', `oci:${layout.path}:nope`],
    ]) {
      const r = provenant(args);
      assert.match(r.stderr, /\n {2}hint: .*\\u001b\[31mred, a\\u000ab.*\n$/, r.stderr);
    }
  });

  it('says what is wrong in one line, with a distinct exit code', async () => {
    let r = provenant(['inspect', 'Bad Ref']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^provenant inspect: "Bad Ref" is not an image reference/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    r = provenant(['inspect', `oci:${join(root, 'examples', 'hello-oci')}:nope`]);
    assert.equal(r.status, 3);
    assert.match(r.stderr, /tag nope is not in the layout/);
    assert.match(r.stderr, /hint: tags here: latest/);
    r = provenant(['copy', example]);
    assert.equal(r.status, 2);
    r = provenant(['copy', '--bogus', example, 'oci:/tmp/x']);
    assert.equal(r.status, 2);
    r = provenant(['frobnicate']);
    assert.equal(r.status, 2);
    const dir = await temp();
    r = provenant(['copy', '--platform', 'linux/s390x', example, `oci:${dir}/out:x`]);
    assert.equal(r.status, 3);
    assert.match(r.stderr, /available platforms: linux\/amd64, linux\/arm64/);
  });

  it('reads flags from PROVENANT_* variables, and lists them', () => {
    const r = provenant(['inspect', example], { PROVENANT_FORMAT: 'json' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).manifests.length, 2);
    const env = provenant(['env']);
    assert.match(env.stdout, /PROVENANT_WITH_REFERRERS/);
    assert.match(env.stdout, /PROVENANT_PLATFORM/);
  });

  it('gc says how many blobs and partial files it removed, and their bytes', async () => {
    const dir = join(await temp(), 'layout');
    assert.equal(provenant(['copy', '--quiet', example, `oci:${dir}:v1`]).status, 0);
    const orphan = 'nothing refers to this';
    await writeFile(join(dir, 'blobs', 'sha256', digestHex(digestOf(orphan))), orphan);
    await writeFile(join(dir, 'blobs', 'sha256', '.tmp-0123456789abcdef'), new Uint8Array(2_500_000));
    const r = provenant(['gc', `oci:${dir}`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'removed 1 blob(s) (0.0 MB) and 1 partial file(s) (2.5 MB)\n');
    const again = provenant(['gc', '--format', 'json', `oci:${dir}`]);
    assert.deepEqual(JSON.parse(again.stdout), {
      removed: [],
      removedBytes: 0,
      partials: { count: 0, bytes: 0 },
      dropped: [],
      droppedTags: [],
    });
    assert.equal(provenant(['digest', `oci:${dir}:v1`]).stdout.trim(), provenant(['digest', example]).stdout.trim());
  });
});
