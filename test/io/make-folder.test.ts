// makeFolder: a folder removed between the mkdir that found it and the look at it is made again;
// a folder that cannot be made at all is the system's error, as it was.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { mkdir, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { makeFolder } from '../../src/io/files.ts';
import { atCall } from '../helpers/races.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('make-folder');
const fsp = process.getBuiltinModule('node:fs/promises');

describe('makeFolder', () => {
  it('makes again a folder another process removes between the mkdir that found it and the look at it', async () => {
    const dir = join(await tempDir(), 'a');
    await mkdir(dir);
    const { calls } = await atCall(
      fsp,
      'mkdir',
      { at: (path) => path === dir, when: 'EEXIST', does: () => rmSync(dir, { recursive: true }) },
      () => makeFolder(dir),
    );
    assert.equal(calls, 1, 'the folder was removed after the mkdir that found it');
    assert.ok((await stat(dir)).isDirectory());
  });

  it('makes again a parent another process removes between making it and making the folder in it', async () => {
    const parent = join(await tempDir(), 'a');
    const dir = join(parent, 'b');
    // Another creator's empty parent, discarded by it right after it was made.
    const { calls } = await atCall(
      fsp,
      'mkdir',
      { at: (path) => path === parent, when: 'returned', does: () => rmSync(parent, { recursive: true }) },
      () => makeFolder(dir),
    );
    assert.equal(calls, 1, 'the parent was removed after it was made');
    assert.ok((await stat(dir)).isDirectory());
  });

  it('gives a folder that cannot be made (procfs) as the system ENOENT, once', async (t) => {
    if (
      !(await stat('/proc/self').then(
        () => true,
        () => false,
      ))
    )
      return t.skip('no procfs here');
    await assert.rejects(makeFolder('/proc/provenant-test/x'), { code: 'ENOENT' });
  });

  it('takes a link to nothing for what mkdir says it is (EEXIST, no folder), not for a folder gone meanwhile, made again', async () => {
    const dir = await tempDir();
    const link = join(dir, 'out');
    await symlink(join(dir, 'gone'), link);
    const { calls: tries } = await atCall(fsp, 'mkdir', { at: (path) => path === link, times: Number.POSITIVE_INFINITY }, () =>
      assert.rejects(makeFolder(link), { code: 'EEXIST', syscall: 'mkdir' }),
    );
    assert.equal(tries, 1);
  });
});
