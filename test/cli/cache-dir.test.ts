// A --cache-dir that cannot be a folder: one USAGE-free line naming the folder (IO, exit 1),
// never an internal error with a stack, and never a build that spins. A cache whose disk refuses
// a write is said to be the cache's failure, not the package's.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { MAIN, makeApkProject, runCli } from '../helpers/cli.ts';
import { useTempDir } from '../helpers/temp.ts';

describe('provenant build with a cache folder that cannot be made', () => {
  const tempDir = useTempDir('cache-dir');
  let dir: string;
  before(async () => {
    dir = await tempDir();
    await makeApkProject(dir);
  });
  // Killed after 40 s (a build here takes one): a build that spins must not outlive the test.
  const build = (cacheDir: string) =>
    runCli(['build', 'image.yaml', '-o', `oci:${join(dir, 'out.oci')}`, '--cache-dir', cacheDir, '--quiet'], {
      cwd: dir,
      env: { SOURCE_DATE_EPOCH: '1700000000' },
      command: ['timeout', '-s', 'KILL', '40', process.execPath, MAIN],
    });

  for (const [what, under] of [
    ['a file', ''],
    ['under a file', '/x'],
  ] as const) {
    it(`says which folder, when the cache is ${what}`, async () => {
      const file = join(dir, `not-a-folder${under === '' ? '' : '-2'}`);
      await writeFile(file, 'a file');
      const cacheDir = `${file}${under}`;
      const r = await build(cacheDir);
      assert.equal(r.status, 1, r.stderr);
      assert.equal(
        r.stderr,
        `provenant build: cannot use ${cacheDir} as the download cache: a file is in the way (where it or a folder above it should be)\n` +
          '  hint: point the cache at a folder that can be made and written, or move what is in the way\n',
      );
    });
  }

  // Node's recursive mkdir retries forever where the kernel refuses a folder with ENOENT.
  it('fails, rather than spinning, where no folder can be made (/proc)', {
    skip: existsSync('/proc/self') ? false : 'no /proc',
    timeout: 60_000,
  }, async () => {
    const r = await build('/proc/provenant-cache');
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^provenant build: cannot use \/proc\/provenant-cache as the download cache: no folder can be made there/);
    assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
  });
});

describe('provenant build with a cache that cannot be written to the end', () => {
  const tempDir = useTempDir('cache-full');

  // A file size limit (RLIMIT_FSIZE, which Node meets as EFBIG) is the full disk a test can make
  // without mounting one: the package's data tar, 8 MiB as it is unpacked into the cache, is over
  // it, and everything else the build writes (the compressed layer, the image) is under it.
  it('says the cache could not be written, not that the package could not be read', { timeout: 60_000 }, async () => {
    const dir = await tempDir();
    await makeApkProject(dir, { size: 8 << 20 });
    // Named once, as given: a relative folder ("cache") too, which the error's place named again.
    for (const cacheDir of [join(dir, 'cache'), 'cache2']) {
      const r = await runCli(['build', 'image.yaml', '-o', `oci:${join(dir, 'out.oci')}`, '--cache-dir', cacheDir, '--quiet'], {
        cwd: dir,
        env: { SOURCE_DATE_EPOCH: '1700000000' },
        // `ulimit -f` counts blocks of 512 bytes in dash and of 1024 in bash: 2 or 4 MiB.
        command: ['sh', '-c', 'ulimit -f 4096 && exec "$@"', 'sh', process.execPath, MAIN],
      });
      assert.equal(r.status, 1, r.stderr);
      assert.equal(
        r.stderr,
        `provenant build: cannot write to the cache (${cacheDir}): file too large (EFBIG)\n` +
          '  hint: a file of the cache is over the size this process may write (ulimit -f) or its file system holds: raise the limit, or point the cache elsewhere (another --cache-dir)\n',
      );
    }
  });
});
