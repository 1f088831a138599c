// writeFileAtomic's errors name the file asked for, never the temporary file beside it, in
// words, with a hint where the user can act; an empty name is a usage error.
import assert from 'node:assert/strict';
import { createReadStream, openSync } from 'node:fs';
import { readdir, symlink, writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { isProvenantError } from '../../src/errors.ts';
import { writeFileAtomic, writeFilesAtomic } from '../../src/io/files.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('write-errors');

/** The errno a new file at `path` gets, or undefined when it can be made (then it is not a test of that errno). */
function openCode(path: string): string | undefined {
  try {
    openSync(path, 'wx');
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
}

describe('writeFileAtomic errors', () => {
  it('are USAGE for an empty name, and nothing is made in the working folder', async () => {
    const before = await readdir('.');
    await assert.rejects(writeFileAtomic('', 'x'), (e: unknown) => isProvenantError(e, 'USAGE') && /is empty/.test(e.message));
    await assert.rejects(writeFilesAtomic([{ path: '', data: 'x' }]), (e: unknown) => isProvenantError(e, 'USAGE'));
    assert.deepEqual(await readdir('.'), before);
  });

  // sysfs refuses new files even to root (EACCES), as a read-only folder refuses another user.
  it('say permission denied for the file asked for, with a hint, never the temporary name', async (t) => {
    if (openCode('/sys/provenant-test') !== 'EACCES') return t.skip('no /sys that refuses a new file here');
    await assert.rejects(
      writeFileAtomic('/sys/provenant-test', 'x'),
      (e: unknown) =>
        isProvenantError(e, 'IO') &&
        e.message === 'cannot write /sys/provenant-test: permission denied; nothing was written' &&
        (e.hint ?? '').includes('/sys') &&
        !`${e.message} ${e.hint}`.includes('.tmp-'),
    );
  });

  it('say that a folder takes no new files (procfs) as IO, not that the folder does not exist', async (t) => {
    if (openCode('/proc/provenant-test') !== 'ENOENT') return t.skip('no procfs here');
    await assert.rejects(
      writeFileAtomic('/proc/provenant-test', 'x'),
      (e: unknown) =>
        isProvenantError(e, 'IO') && e.message === 'cannot write /proc/provenant-test: /proc takes no new files; nothing was written',
    );
  });

  it('say a folder to make that is a link to nothing so, not that it is a file', async () => {
    const dir = await tempDir();
    await symlink(`${dir}/gone`, `${dir}/out`);
    await assert.rejects(writeFileAtomic(`${dir}/out/f`, 'x', { mkdir: true }), (e: unknown) => {
      assert.ok(isProvenantError(e, 'IO'), String(e));
      assert.equal(e.message, `${dir}/out is a symbolic link to ${dir}/gone, which is not there; nothing was written`);
      assert.match(e.hint ?? '', /make the folder it points to/);
      return true;
    });
    assert.deepEqual((await readdir(dir)).sort(), ['out']);
  });

  it('say a folder to make through a chain of links to nothing ends nowhere, naming where', async () => {
    const dir = await tempDir();
    await symlink('gone', `${dir}/dang`);
    await symlink(`${dir}/dang`, `${dir}/out`);
    await assert.rejects(writeFileAtomic(`${dir}/out/sub/f`, 'x', { mkdir: true }), (e: unknown) => {
      assert.ok(isProvenantError(e, 'IO'), String(e));
      assert.equal(
        e.message,
        `${dir}/out is a symbolic link to ${dir}/dang, a chain of links that ends at ${dir}/gone, which is not there; nothing was written`,
      );
      assert.equal(e.hint, `make the folder it points to, or remove the link (${dir}/out)`);
      return true;
    });
    assert.deepEqual((await readdir(dir)).sort(), ['dang', 'out']);
  });

  it('still say a missing folder is missing (NOT_FOUND)', async () => {
    const dir = await tempDir();
    await assert.rejects(
      writeFileAtomic(`${dir}/none/f`, 'x'),
      (e: unknown) => isProvenantError(e, 'NOT_FOUND') && e.message === `${dir}/none does not exist; ${dir}/none/f was not written`,
    );
  });

  // The data's errors are not the write's: a source file gone was "<folder> takes no new files",
  // a source refused was "this user may not make files in <folder>".
  describe('of reading the data, not of the write, pass as they are, and nothing is left', () => {
    const raise = (code: string, message: string) => Object.assign(new Error(message), { code });
    const cases: Array<[string, (dir: string) => AsyncIterable<Uint8Array>, string]> = [
      ['a source file gone (ENOENT)', (dir) => createReadStream(`${dir}/no-such-input`), 'ENOENT'],
      [
        'a source refused (EACCES)',
        async function* () {
          yield new Uint8Array(3);
          throw raise('EACCES', "EACCES: permission denied, open '/elsewhere/secret'");
        },
        'EACCES',
      ],
      [
        'a connection reset (ECONNRESET)',
        async function* () {
          yield new Uint8Array(3);
          throw raise('ECONNRESET', 'read ECONNRESET');
        },
        'ECONNRESET',
      ],
    ];
    for (const [name, data, code] of cases) {
      it(name, async () => {
        const dir = await tempDir();
        await writeFile(`${dir}/keep`, 'old');
        await assert.rejects(writeFileAtomic(`${dir}/out`, data(dir)), (e: unknown) => {
          assert.ok(isProvenantError(e), String(e));
          assert.equal((e.cause as NodeJS.ErrnoException | undefined)?.code, code);
          assert.ok(!e.message.includes('cannot write'), e.message);
          assert.ok(!`${e.message} ${e.hint ?? ''}`.includes('make files') && !e.message.includes('takes no new files'), e.message);
          return true;
        });
        assert.deepEqual(await readdir(dir), ['keep']);
      });
    }

    it('a source stream that fails while the write still opens its own file rejects the write, never as an uncaught error', async () => {
      const dir = await tempDir();
      for (let i = 0; i < 20; i++) {
        const stream = createReadStream(`${dir}/no-such-input`);
        // The stream's open fails while the write looks at the file it replaces (keepMode).
        await new Promise((resolve) => setImmediate(resolve));
        await assert.rejects(writeFileAtomic(`${dir}/out`, stream, { keepMode: true }), (e: unknown) => {
          assert.ok(isProvenantError(e), String(e));
          assert.equal((e.cause as NodeJS.ErrnoException | undefined)?.code, 'ENOENT');
          return true;
        });
      }
      assert.deepEqual(await readdir(dir), []);
    });

    it("nor does what beforeRename throws: it is not the rename's", async () => {
      const dir = await tempDir();
      const beforeRename = async () => {
        throw raise('ENOENT', "ENOENT: no such file or directory, open '/elsewhere/lock'");
      };
      await assert.rejects(writeFileAtomic(`${dir}/out`, 'x', { beforeRename }), (e: unknown) => {
        assert.ok(isProvenantError(e), String(e));
        assert.ok(!e.message.includes('cannot write') && !e.message.includes('takes no new files'), e.message);
        return true;
      });
      assert.deepEqual(await readdir(dir), []);
    });
  });
});
