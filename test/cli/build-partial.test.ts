// A build whose layout output fails part way (a full disk) says what the layout holds of it and
// what it does not, never a single file's "nothing was written".
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { cliOk, MAIN, makeApkProject, runCli } from '../helpers/cli.ts';
import { useTempDir } from '../helpers/temp.ts';

/** The file size limit the second build runs under, in KiB (bash's `ulimit -f` counts KiB). */
const LIMIT_KIB = 64;

describe('provenant build into a layout that fills up part way', () => {
  const tempDir = useTempDir('build-partial');
  let dir: string;
  before(async () => {
    dir = await tempDir();
    await makeApkProject(dir);
    await cliOk(['build', 'image.yaml', '--cache-dir', 'cache', '-q', '-o', 'oci:out:v1'], {
      cwd: dir,
      env: { SOURCE_DATE_EPOCH: '1700000000' },
    });
    // index.json made a few hundred bytes short of the limit: the next build's blobs (each far
    // under it) go in, and the first index.json that names more than this one does not. A file
    // size limit (RLIMIT_FSIZE, met as EFBIG) is the full disk a test can make without mounting one.
    const path = join(dir, 'out', 'index.json');
    const index = JSON.parse(await readFile(path, 'utf8')) as { annotations?: Record<string, string> };
    const size = Buffer.byteLength(JSON.stringify(index));
    index.annotations = { ...index.annotations, 'org.example.padding': 'x'.repeat(LIMIT_KIB * 1024 - size - 300) };
    await writeFile(path, JSON.stringify(index));
  });

  it('says what the layout holds and what it does not', { timeout: 60_000 }, async () => {
    const r = await runCli(['build', 'image.yaml', '--cache-dir', 'cache', '-q', '-o', 'oci:out:v2'], {
      cwd: dir,
      env: { SOURCE_DATE_EPOCH: '1700000001' },
      command: ['bash', '-c', `ulimit -f ${LIMIT_KIB} && exec "$@"`, 'bash', process.execPath, MAIN],
    });
    assert.equal(r.status, 1, r.stderr);
    // One referrer of the platform image went in before index.json outgrew the limit.
    assert.match(
      r.stderr,
      /^provenant build: cannot write out\/index\.json: file too large; the image sha256:[0-9a-f]{64} is not in oci:out, though 1 referrer \(SBOM, provenance\) of its images is\n$/,
    );
    assert.doesNotMatch(r.stderr, /nothing was written/);
  });
});
