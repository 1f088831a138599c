// An archive is put together in TMPDIR and packed beside its file: a TMPDIR that is full is said
// as TMPDIR's, not as the archive's folder's, which may have room.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isProvenantError, ProvenantError } from '../../src/errors.ts';
import { fileError } from '../../src/io/files.ts';
import { openOciArchive } from '../../src/store/archive.ts';
import { stagingError } from '../../src/store/archive-work.ts';
import { DockerArchiveStore } from '../../src/store/docker-archive.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('archive-staging');

// No folder fills up on demand in a test: the system's errors as the writes give them.
const raise = (code: string, syscall: string, path?: string) =>
  Object.assign(new Error(`${code}: boom, ${syscall}${path === undefined ? '' : ` '${path}'`}`), { code, syscall, path });

describe('stagingError', () => {
  it('names the temporary folder, and says the archive was not written, for a full or read-only TMPDIR', () => {
    const blobWrite = fileError(raise('ENOSPC', 'write'), 'oci-archive:out/a.tar');
    const sessionOpen = raise('ENOSPC', 'write');
    const readOnly = raise('EROFS', 'mkdtemp', `${tmpdir()}/provenant-archive-XXXXXX`);
    for (const err of [blobWrite, sessionOpen, readOnly]) {
      const e = stagingError(err, 'oci-archive:out/a.tar', 'out/a.tar');
      assert.ok(isProvenantError(e, 'IO'), String(e));
      assert.ok(e.message.startsWith(`cannot put oci-archive:out/a.tar together in the temporary folder ${tmpdir()}: `), e.message);
      assert.ok(e.message.includes('out/a.tar was not written'), e.message);
      assert.ok(!e.message.includes('provenant-archive-'), e.message);
      assert.match(e.hint ?? '', /TMPDIR/);
      assert.equal(e.where, 'oci-archive:out/a.tar');
    }
  });

  it('passes any other error as it is', () => {
    const mismatch = new ProvenantError('DIGEST_MISMATCH', 'no');
    assert.equal(stagingError(mismatch, 'oci-archive:a.tar', 'a.tar'), mismatch);
    const refused = fileError(raise('EACCES', 'mkdir', '/x/y'), 'oci-archive:a.tar');
    assert.equal(stagingError(refused, 'oci-archive:a.tar', 'a.tar'), refused);
  });
});

describe('an archive written while TMPDIR takes no new files', () => {
  it('says so in words, naming TMPDIR, for both formats, and writes nothing beside the archive', async (t) => {
    const dir = await tempDir();
    const tmp = join(dir, 'tmp');
    await mkdir(tmp);
    // Root may write anywhere: an immutable folder refuses it. Others: a folder without write permission.
    const root = process.getuid?.() === 0;
    if (root && spawnSync('chattr', ['+i', tmp]).status !== 0) return t.skip('chattr +i is not available here');
    if (!root) await chmod(tmp, 0o555);
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    try {
      const refused = (e: unknown) =>
        isProvenantError(e, 'IO') && /: permission denied$/.test(e.message) && (e.hint ?? '').includes(`make files in ${tmp}`);
      await assert.rejects(openOciArchive(join(dir, 'a.tar'), { write: true }), refused);
      await assert.rejects(DockerArchiveStore.open(join(dir, 'd.tar'), { write: true }), refused);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
      if (root) spawnSync('chattr', ['-i', tmp]);
      else await chmod(tmp, 0o755);
    }
    assert.deepEqual(await readdir(dir), ['tmp']);
  });
});
