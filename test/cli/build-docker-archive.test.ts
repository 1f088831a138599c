// `build -o docker-archive:FILE` prints the digest the archive holds (its Docker manifest, the one
// `digest` reads back and `copy` to a docker-archive prints), not the OCI manifest it was built as.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { cliOk, makeApkProject, runCli } from '../helpers/cli.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('build-docker-archive');

describe('build into a docker-archive', () => {
  let dir: string;
  before(async () => {
    dir = await tempDir();
    await makeApkProject(dir);
  });

  it("prints, as text and JSON, the digest of the archive's manifest, as copy does", async () => {
    const env = { SOURCE_DATE_EPOCH: '1700000000' };
    const build = (out: string, more: string[] = []) =>
      cliOk(['build', 'image.yaml', '-q', '--cache-dir', 'cache', '-o', out, ...more], { cwd: dir, env });
    const json = JSON.parse((await build('docker-archive:d.tar', ['--format', 'json'])).stdout) as {
      digest: string;
      images: { digest: string }[];
    };
    const held = (await cliOk(['digest', 'docker-archive:d.tar'], { cwd: dir })).stdout.trim();
    assert.equal(json.digest, held);
    assert.deepEqual(
      json.images.map((i) => i.digest),
      [held],
    );
    // The name printed works as input (docs/cli.md): a docker-archive's takes no @DIGEST, so the
    // digest follows it, as copy prints it; `FILE@DIGEST` is refused as a usage error, not looked for.
    const text = (await build('docker-archive:t.tar')).stdout;
    assert.match(text, new RegExp(`^docker-archive:t\\.tar ${held}\\n {2}linux/amd64 +${held} `));
    const name = text.split(' ')[0]!;
    assert.equal((await cliOk(['digest', name], { cwd: dir })).stdout.trim(), held);
    const byDigest = await runCli(['digest', `docker-archive:t.tar@${held}`], { cwd: dir });
    assert.equal(byDigest.status, 2, byDigest.stderr);
    assert.match(byDigest.stderr, /^provenant digest: a docker-archive names its images by NAME:TAG, never by digest/);
    assert.doesNotMatch(byDigest.stderr, /no archive/);
    // The same image copied from an OCI layout into a docker-archive: the same digest printed.
    const oci = JSON.parse((await build('oci:img.oci', ['--format', 'json'])).stdout) as { digest: string };
    assert.notEqual(oci.digest, held, 'an OCI manifest and a Docker one');
    assert.equal((await cliOk(['digest', 'oci:img.oci'], { cwd: dir })).stdout.trim(), oci.digest);
    const copied = await cliOk(['copy', 'oci:img.oci', 'docker-archive:c.tar', '--format', 'json', '-q'], { cwd: dir });
    assert.equal((JSON.parse(copied.stdout) as { digest: string }).digest, held);
    // A final read: fix printed its docker-archive destination as FILE@DIGEST, which no command takes.
    const fixed = await runCli(['fix', 'oci:img.oci', '--target', 'aws-lambda', '--all', '--force', '-o', 'docker-archive:fixed.tar'], {
      cwd: dir,
    });
    assert.equal(fixed.status, 0, fixed.stderr);
    const line = fixed.stdout.split('\n').find((l) => l.startsWith('docker-archive:fixed.tar'));
    assert.match(line ?? fixed.stdout, /^docker-archive:fixed\.tar sha256:[0-9a-f]{64}( |$)/);
    assert.equal((await cliOk(['digest', 'docker-archive:fixed.tar'], { cwd: dir })).stdout.trim(), line?.split(' ')[1]);
  });

  it('refuses a file already there without first saying what the archive it never writes would leave out', async () => {
    await writeFile(join(dir, 'existing.tar'), 'something\n');
    const run = await runCli(['build', 'image.yaml', '-q', '--cache-dir', 'cache', '-o', 'docker-archive:existing.tar'], { cwd: dir });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /^provenant build: the file exists, and a docker-archive is written whole/);
    assert.doesNotMatch(run.stderr, /cannot hold SBOMs/);
    // Refused before the build: nothing was resolved or fetched into a cache.
    const fresh = await runCli(['build', 'image.yaml', '-q', '--cache-dir', 'fresh-cache', '-o', 'docker-archive:existing.tar'], {
      cwd: dir,
    });
    assert.equal(fresh.status, 2, fresh.stderr);
    assert.match(
      fresh.stderr,
      /^provenant build: the file exists, and a docker-archive is written whole: it would replace it \(docker-archive:existing\.tar\)\n/,
    );
    assert.equal(existsSync(join(dir, 'fresh-cache')), false);
    // Written, the note is said.
    const written = await cliOk(['build', 'image.yaml', '-q', '--cache-dir', 'cache', '-o', 'docker-archive:new.tar'], { cwd: dir });
    assert.match(written.stderr, /^note: a docker-archive cannot hold SBOMs or provenance/m);
  });
});
