// A lock file as apko writes it: every package has its signature, control and data parts, and
// an unsigned package's signature is two empty strings.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseLock } from '../../src/builder/lock.ts';
import { isProvenantError } from '../../src/errors.ts';

const lockText = (signature: { range: string; checksum: string }) =>
  JSON.stringify({
    version: 'v1',
    config: { name: 'image.yaml', checksum: 'sha256-AAAA' },
    contents: {
      keyring: [],
      build_repositories: [],
      repositories: [],
      packages: [
        {
          name: 'hello',
          url: 'https://example.invalid/x86_64/hello-1.0-r0.apk',
          version: '1.0-r0',
          architecture: 'x86_64',
          signature,
          control: { range: 'bytes=0-99', checksum: 'sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA=' },
          data: { range: 'bytes=100-199', checksum: 'sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' },
          checksum: 'Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=',
        },
      ],
    },
  });

describe('parseLock', () => {
  it("reads an unsigned package's empty signature as none", () => {
    const lock = parseLock(lockText({ range: '', checksum: '' }), 'apko.lock.json');
    assert.equal(lock.contents.packages[0]?.signature, undefined);
    assert.equal(lock.contents.packages[0]?.control?.range, 'bytes=0-99');
  });

  it('refuses a part with one of its two strings empty, naming it', () => {
    assert.throws(
      () => parseLock(lockText({ range: 'bytes=0-9', checksum: '' }), 'apko.lock.json'),
      (e: unknown) => isProvenantError(e) && /signature\.checksum/.test(e.message),
    );
  });

  it('refuses a package locked twice for one architecture (an older version added would be installed, the first hiding it)', () => {
    const lock = JSON.parse(lockText({ range: '', checksum: '' }));
    const hello = lock.contents.packages[0];
    const older = { ...hello, version: '0.9-r0', checksum: 'Q1BBBBBBBBBBBBBBBBBBBBBBBBBBB=' };
    for (const second of [older, hello]) {
      assert.throws(
        () => parseLock(JSON.stringify({ ...lock, contents: { ...lock.contents, packages: [hello, second] } }), 'apko.lock.json'),
        (e: unknown) =>
          isProvenantError(e, 'INVALID_CONFIG') &&
          e.where === 'apko.lock.json' &&
          new RegExp(
            `^lock contents\\.packages\\[1\\]: hello ${second.version.replace('.', '\\.')} on x86_64 is locked already at contents\\.packages\\[0\\] \\(1\\.0-r0\\)`,
          ).test(e.message),
      );
    }
    // The same name on another architecture is another package.
    const arm = { ...older, architecture: 'aarch64' };
    const both = parseLock(JSON.stringify({ ...lock, contents: { ...lock.contents, packages: [hello, arm] } }), 'apko.lock.json');
    assert.equal(both.contents.packages.length, 2);
  });
});
