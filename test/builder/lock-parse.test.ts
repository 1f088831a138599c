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

  it("reads a lock without config, as apko writes one that has none, and an entry's architecture in apko's other spellings", () => {
    const lock = JSON.parse(lockText({ range: '', checksum: '' }));
    delete lock.config;
    const read = parseLock(JSON.stringify(lock), 'apko.lock.json');
    assert.deepEqual(read.config, { name: '', checksum: '' });
    // amd64 is x86_64: the same name under both is locked twice.
    const hello = lock.contents.packages[0];
    const amd64 = { ...hello, architecture: 'amd64', version: '0.9-r0', checksum: 'Q1BBBBBBBBBBBBBBBBBBBBBBBBBBB=' };
    assert.throws(
      () => parseLock(JSON.stringify({ ...lock, contents: { ...lock.contents, packages: [hello, amd64] } }), 'apko.lock.json'),
      (e: unknown) =>
        isProvenantError(e, 'INVALID_CONFIG') &&
        /^lock contents\.packages\[1\]: hello 0\.9-r0 on amd64 is locked already at contents\.packages\[0\]/.test(e.message),
    );
  });

  it("refuses byte ranges that are not an apk's members one after the other, at the entry's part", () => {
    const sig = { range: 'bytes=0-9', checksum: 'sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA=' };
    const at = (part: string, why: RegExp) => (e: unknown) =>
      isProvenantError(e, 'INVALID_CONFIG') &&
      e.where === 'apko.lock.json' &&
      e.message.startsWith(`lock contents.packages[0].${part}.range: `) &&
      why.test(e.message);
    const withParts = (parts: Record<string, unknown>) => {
      const lock = JSON.parse(lockText(sig));
      Object.assign(lock.contents.packages[0], parts);
      return JSON.stringify(lock);
    };
    const control = (range: string) => ({ range, checksum: 'sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA=' });
    const data = (range: string) => ({ range, checksum: 'sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' });
    for (const [parts, part, why] of [
      [{ signature: { ...sig, range: 'bytes=zz' } }, 'signature', /"bytes=zz" is not bytes=START-END/],
      [{ signature: { ...sig, range: 'bytes=1-9' } }, 'signature', /does not start at byte 0, the first member of a signed apk/],
      [{ control: control('bytes=0-99') }, 'control', /"bytes=0-99" does not start at byte 10, right after the signature/],
      [{ control: control('bytes=10-5') }, 'control', /ends before it starts/],
      [{ control: control('bytes=10-99'), data: data('bytes=0-10') }, 'data', /does not start at byte 100, right after the control member/],
      [{ control: control('bytes=10-99'), data: data('bytes=100-') }, 'data', /is not bytes=START-END/],
      [
        { signature: { range: '', checksum: '' }, control: control('bytes=10-99'), data: data('bytes=100-199') },
        'control',
        /does not start at byte 0, the first member of an unsigned apk/,
      ],
    ] as const) {
      assert.throws(() => parseLock(withParts(parts), 'apko.lock.json'), at(part, why), JSON.stringify(parts));
    }
    // apko's: signed from byte 0, or unsigned from the control member.
    const signed = parseLock(withParts({ control: control('bytes=10-99'), data: data('bytes=100-199') }), 'apko.lock.json');
    assert.equal(signed.contents.packages[0]?.data?.range, 'bytes=100-199');
    parseLock(lockText({ range: '', checksum: '' }), 'apko.lock.json');
  });
});
