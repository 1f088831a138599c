// `fix` into the repository it reads from: the source's own attachments of an index the fix keeps
// are at the destination already, and amazon-ecr refuses them there. The check before writing sees
// only what the fix writes, so the image is written; exit 7 then says what was written and tagged,
// never "nothing was written".
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { cliOk, makeApkProject, runCli } from '../helpers/cli.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('fix-same-repository');

describe('fix into the source repository', () => {
  let dir: string;
  const env = { COSIGN_PASSWORD: 'pw', SOURCE_DATE_EPOCH: '1700000000' };
  before(async () => {
    dir = await tempDir();
    await makeApkProject(dir);
    await cliOk(['generate-key-pair', '--output-key-prefix', 'ck'], { cwd: dir, env });
    // Signed: a signature referrer of the index, which amazon-ecr refuses.
    await cliOk(['build', 'image.yaml', '-q', '--cache-dir', 'cache', '-o', 'oci:l.oci:1', '--sign', '--key', 'ck.key'], { cwd: dir, env });
  });

  it('exit 7 names what was written and tagged, and why the check before writing let it through', async () => {
    const r = await runCli(['fix', 'oci:l.oci:1', '--target', 'amazon-ecr', '-o', 'oci:l.oci:ecr'], { cwd: dir, env });
    assert.equal(r.status, 7, r.stderr);
    const digest = (await cliOk(['digest', 'oci:l.oci:ecr'], { cwd: dir })).stdout.trim();
    const [line, hint] = r.stderr.trimEnd().split('\n');
    assert.equal(
      line,
      `provenant fix: amazon-ecr refuses the fixed image as the destination holds it (referrer-of-index, signature-of-index): it is written, as oci:l.oci@${digest}, tagged ecr (oci:l.oci:1)`,
    );
    assert.match(
      hint ?? '',
      /^ {2}hint: the destination held what it refuses before this fix .*the source's own, when it is the same repository/,
    );
    assert.doesNotMatch(r.stderr, /nothing was written/);
  });
});
