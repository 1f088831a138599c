// `fix` into the repository it reads from: the source's own attachments of an index the fix keeps
// are at the destination already, and amazon-ecr refuses them there. The fix deletes nothing it
// was not asked to change, so the check before writing counts what the destination holds of the
// digests it writes: exit 7 with nothing written, the tags as they were, and a hint that says why
// and what to do; into another repository the same fix is written and accepted.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { cliOk, makeApkProject, runCli } from '../helpers/cli.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('fix-same-repository');
const env = { COSIGN_PASSWORD: 'pw', SOURCE_DATE_EPOCH: '1700000000' };

/** A signed index (a signature referrer of it, which amazon-ecr refuses) built to `out`, in a new project. */
async function signedIndex(out: string): Promise<string> {
  const dir = await tempDir();
  await makeApkProject(dir);
  await cliOk(['generate-key-pair', '--output-key-prefix', 'ck'], { cwd: dir, env });
  await cliOk(['build', 'image.yaml', '-q', '--cache-dir', 'cache', '-o', out, '--sign', '--key', 'ck.key'], { cwd: dir, env });
  return dir;
}

/**
 * What `fix SRC -o DST` into the same repository must do there: refuse before writing anything,
 * with `extra` flags too (`--key`: the check before writing then counts the signatures to make).
 */
async function refusedBeforeWriting(dir: string, repository: string, extra: readonly string[] = []): Promise<void> {
  const tags = (await cliOk(['tags', repository], { cwd: dir })).stdout;
  const digest = (await cliOk(['digest', `${repository}:1`], { cwd: dir })).stdout.trim();
  const r = await runCli(['fix', `${repository}:1`, '--target', 'amazon-ecr', '-o', `${repository}:ecr`, ...extra], { cwd: dir, env });
  assert.equal(r.status, 7, r.stderr);
  assert.equal((await cliOk(['tags', repository], { cwd: dir })).stdout, tags, 'no tag was written or moved');
  const [line, hint] = r.stderr.trimEnd().split('\n');
  assert.equal(
    line,
    `provenant fix: amazon-ecr would still refuse the fixed image (referrer-of-index, signature-of-index); nothing was written (${repository}:1)`,
  );
  assert.match(
    hint ?? '',
    /^ {2}hint: the destination already holds attachments of the same digests that amazon-ecr refuses \(sha256:[0-9a-f]{64}, sha256:[0-9a-f]{64}; the source's own, when it is the same repository\), and fix deletes nothing there: write to another repository/,
  );
  assert.match(r.stdout, /The destination already holds sha256:[0-9a-f]{12}, sha256:[0-9a-f]{12}, attached to digests of the fixed image/);
  assert.match(r.stdout, /Nothing was written\./);
  // The source is as it was: its index and attachments are there, and still refused as they were.
  assert.equal((await cliOk(['digest', `${repository}:1`], { cwd: dir })).stdout.trim(), digest);
}

describe('fix into the source repository', () => {
  it('a layout: exit 7, nothing written, with a key or without; another layout takes the fix', async () => {
    const dir = await signedIndex('oci:l.oci:1');
    await refusedBeforeWriting(dir, 'oci:l.oci');
    await refusedBeforeWriting(dir, 'oci:l.oci', ['--key', 'ck.key']);
    const other = await runCli(['fix', 'oci:l.oci:1', '--target', 'amazon-ecr', '-o', 'oci:other.oci:ecr'], { cwd: dir, env });
    assert.equal(other.status, 0, other.stderr);
    assert.match(other.stdout, /Checked again: amazon-ecr accepts it/);
  });

  describe('a registry', { skip: registryMissing }, () => {
    const reg = useRegistry();
    let dir: string;
    before(async () => {
      dir = await signedIndex(`${reg.host}/t2/a:1`);
    });

    it('exit 7, nothing written there; another repository takes the fix', async () => {
      await refusedBeforeWriting(dir, `${reg.host}/t2/a`);
      const other = await runCli(['fix', `${reg.host}/t2/a:1`, '--target', 'amazon-ecr', '-o', `${reg.host}/t2/b:ecr`], { cwd: dir, env });
      assert.equal(other.status, 0, other.stderr);
      assert.match(other.stdout, /Checked again: amazon-ecr accepts it/);
    });
  });
});
