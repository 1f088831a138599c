/** Tests of store/layout-files.ts's path helper: always what node:path's join makes. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { pathIn } from '../../src/store/layout-files.ts';

describe('pathIn', () => {
  it('is join for the paths a layout is given', () => {
    for (const dir of [
      '/tmp/layout',
      'layout',
      '/tmp/layout/',
      'a//b',
      './layout',
      '../layout',
      '/tmp/./x',
      '/tmp/x/..',
      '.hidden',
      '/',
      '',
      '.',
    ]) {
      for (const names of [['index.json'], ['blobs', 'sha256', 'ab12'], ['..'], ['.'], [''], ['a/b'], []]) {
        assert.equal(pathIn(dir, ...names), join(dir, ...names), `${JSON.stringify(dir)} ${JSON.stringify(names)}`);
      }
    }
  });

  it('is join for any path and names made of /, . and letters', () => {
    const text = fc.stringMatching(/^[/.ab]{0,8}$/);
    fc.assert(
      fc.property(text, fc.array(text, { maxLength: 3 }), (dir, names) => {
        assert.equal(pathIn(dir, ...names), join(dir, ...names));
      }),
      { numRuns: 2000 },
    );
  });
});
