// The one account of a failed write (src/io/write-failures.ts) that standard output, the cache and
// a tar source that writes what it reads all give.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isWriteFailure, systemWords } from '../../src/io/write-failures.ts';

function systemError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

describe('write failures', () => {
  it('are the errors only a write meets, a read-only file system among them', () => {
    for (const code of ['ENOSPC', 'EDQUOT', 'EFBIG', 'EROFS'])
      assert.equal(isWriteFailure(systemError(code, `${code}: x, write`)), true, code);
    for (const err of [systemError('ENOENT', 'ENOENT: no such file'), systemError('EIO', 'EIO: i/o error'), new Error('plain'), undefined])
      assert.equal(isWriteFailure(err), false);
  });

  it("say the system's words without the code and the call", () => {
    assert.equal(systemWords(systemError('ENOSPC', 'ENOSPC: no space left on device, write')), 'no space left on device');
    assert.equal(systemWords(systemError('EFBIG', 'EFBIG: file too large')), 'file too large');
    assert.equal(systemWords(new Error('something else, with a comma')), 'something else, with a comma');
    assert.equal(systemWords('text'), 'text');
  });
});
