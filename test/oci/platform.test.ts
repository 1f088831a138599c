// Platform specifiers as every --platform reads them (src/oci/platform.ts), by containerd's rules:
// one spelling per platform, an architecture or OS alone, and the order a machine runs platforms in.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isProvenantError } from '../../src/errors.ts';
import {
  bestPlatformMatch,
  compatiblePlatforms,
  firstOfPlatform,
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  parsePlatform,
  parsePlatformOn,
  platformMatches,
} from '../../src/oci/platform.ts';

const read = (text: string) => formatPlatform(parsePlatform(text));

describe('parsePlatform', () => {
  it('normalizes the spellings containerd normalizes', () => {
    const cases: [string, string][] = [
      ['linux/i386', 'linux/386'],
      ['linux/i386/v2', 'linux/386'],
      ['linux/armhf', 'linux/arm/v7'],
      ['linux/armel', 'linux/arm/v6'],
      ['linux/armhf/v6', 'linux/arm/v7'],
      ['linux/arm', 'linux/arm/v7'],
      ['linux/arm/7', 'linux/arm/v7'],
      ['linux/arm/6', 'linux/arm/v6'],
      ['linux/arm/5', 'linux/arm/v5'],
      ['linux/arm/8', 'linux/arm/v8'],
      ['linux/amd64/v1', 'linux/amd64'],
      ['linux/x86_64/v1', 'linux/amd64'],
      ['linux/amd64/v3', 'linux/amd64/v3'],
      ['linux/arm64/8', 'linux/arm64'],
      ['linux/arm64/v8', 'linux/arm64'],
      ['linux/arm64/v8.0', 'linux/arm64'],
      ['linux/aarch64/9', 'linux/arm64/v9'],
      ['linux/arm64/v9.0', 'linux/arm64/v9'],
      ['linux/arm64/v8.2', 'linux/arm64/v8.2'],
      ['LINUX/AMD64', 'linux/amd64'],
      ['macos/arm64', 'darwin/arm64'],
    ];
    for (const [text, want] of cases) assert.equal(read(text), want, text);
  });

  it('takes an architecture alone as a linux platform, and an OS alone on the host architecture', () => {
    assert.equal(read('arm64'), 'linux/arm64');
    assert.equal(read('amd64'), 'linux/amd64');
    assert.equal(read('i386'), 'linux/386');
    assert.equal(read('armhf'), 'linux/arm/v7');
    assert.equal(read('arm'), 'linux/arm/v7');
    assert.equal(read('x86_64'), 'linux/amd64');
    assert.equal(formatPlatform(parsePlatformOn('linux', { os: 'linux', architecture: 'arm', variant: 'v6' })), 'linux/arm/v6');
    assert.equal(formatPlatform(parsePlatformOn('windows', { os: 'linux', architecture: 'amd64' })), 'windows/amd64');
  });

  it('is pure: an OS alone takes the host the caller passes, and is no platform without one', () => {
    assert.equal(formatPlatform(parsePlatformOn('linux', { os: 'linux', architecture: 's390x' })), 'linux/s390x');
    assert.equal(formatPlatform(parsePlatformOn('linux', { os: 'linux', architecture: 'riscv64' })), 'linux/riscv64');
    assert.throws(
      () => parsePlatform('linux'),
      (e: unknown) => isProvenantError(e, 'USAGE') && /operating system alone/.test(e.message),
    );
  });

  it('takes an architecture and a variant without an OS as linux ones', () => {
    const cases: [string, string][] = [
      ['arm64/v8', 'linux/arm64'],
      ['arm64/8', 'linux/arm64'],
      ['aarch64/v9.0', 'linux/arm64/v9'],
      ['amd64/v1', 'linux/amd64'],
      ['amd64/v3', 'linux/amd64/v3'],
      ['arm/v6', 'linux/arm/v6'],
      ['arm/6', 'linux/arm/v6'],
      ['ARM/V5', 'linux/arm/v5'],
      ['x86_64/v2', 'linux/amd64/v2'],
    ];
    for (const [text, want] of cases) assert.equal(read(text), want, text);
  });

  it("takes any other first word of two or three as the OS, as containerd does: Docker's Wasm images are wasi/wasm", () => {
    const cases: [string, string][] = [
      ['wasi/wasm', 'wasi/wasm'],
      ['wasip1/wasm', 'wasip1/wasm'],
      ['WASI/wasm', 'wasi/wasm'],
      ['wasip1/wasm/v1', 'wasip1/wasm/v1'],
      ['lnux/amd64', 'lnux/amd64'],
      ['foo/x86_64/v2', 'foo/amd64/v2'],
      ['v8/arm64', 'v8/arm64'],
    ];
    for (const [text, want] of cases) assert.equal(read(text), want, text);
    assert.ok(platformMatches(parsePlatform('wasi/wasm'), { os: 'wasi', architecture: 'wasm' }));
    assert.ok(!platformMatches(parsePlatform('wasip1/wasm'), { os: 'wasi', architecture: 'wasm' }));
  });

  it('refuses an architecture with two more words, and one word that is neither an OS nor an architecture', () => {
    for (const text of ['arm64/v8/x', 'arm/v6/y', 'wasi', 'lnux']) {
      assert.throws(
        () => parsePlatform(text),
        (e: unknown) => isProvenantError(e, 'USAGE') && e.message.includes(text.split('/')[0] as string),
        text,
      );
    }
  });

  it('refuses the characters containerd refuses, OS versions, and a list where one platform is taken', () => {
    for (const text of ['lin ux/amd64', 'linux/&arm', 'linux/am d64', 'linux.x/amd64', 'linux/arm/v7!', 'windows(10.0.17763)/amd64']) {
      assert.throws(
        () => parsePlatform(text),
        (e: unknown) => isProvenantError(e, 'USAGE'),
        text,
      );
    }
    assert.throws(
      () => parsePlatform('linux/amd64,linux/arm64'),
      (e: unknown) => isProvenantError(e, 'USAGE') && /a list of them, and this takes one platform/.test(e.message),
    );
  });

  it('reads any text as a platform that prints back to itself, or refuses it as a usage error', () => {
    const word = fc.constantFrom(
      'linux',
      'Linux',
      'windows',
      'macos',
      'arm64',
      'aarch64',
      'arm',
      'armhf',
      'amd64',
      'x86_64',
      'i386',
      'v8',
      'v7',
      '8',
      'v1',
      'v9.0',
      'foo',
      'wasi',
      'wasip1',
      'wasm',
      '',
      ' ',
      '*',
      ',',
      '(',
      'a.b',
      'é',
    );
    const text = fc.oneof(
      fc.string(),
      fc.array(fc.oneof(word, fc.string({ maxLength: 4 })), { minLength: 1, maxLength: 4 }).map((xs) => xs.join('/')),
    );
    fc.assert(
      fc.property(text, (t) => {
        let p: ReturnType<typeof parsePlatform>;
        try {
          p = parsePlatform(t);
        } catch (e) {
          assert.ok(isProvenantError(e, 'USAGE'), `${JSON.stringify(t)}: ${String(e)}`);
          return;
        }
        assert.deepEqual(p, normalizePlatform(p));
        const printed = formatPlatform(p);
        assert.match(printed, /^[a-z0-9_-]+\/[a-z0-9_.-]+(\/[a-z0-9_.-]+)?$/, JSON.stringify(t));
        assert.deepEqual(parsePlatform(printed), p, `${JSON.stringify(t)} printed as ${printed}`);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses what is neither', () => {
    for (const text of ['amd46', 'linux/', 'linux//v7', '/amd64', 'linux/amd64/v2/x', 'linux/*', '']) {
      assert.throws(
        () => parsePlatform(text),
        (e: unknown) => isProvenantError(e, 'USAGE'),
        text,
      );
    }
  });
});

describe('platformMatches', () => {
  it('is exact once both sides are normalized', () => {
    assert.ok(platformMatches(parsePlatform('linux/i386'), { os: 'linux', architecture: '386' }));
    assert.ok(platformMatches(parsePlatform('linux/armhf'), { os: 'linux', architecture: 'arm', variant: 'v7' }));
    assert.ok(platformMatches({ os: 'linux', architecture: 'arm64', variant: '8' }, { os: 'linux', architecture: 'arm64' }));
    assert.ok(!platformMatches(parsePlatform('linux/arm/v6'), { os: 'linux', architecture: 'arm', variant: 'v5' }));
  });
});

describe('compatiblePlatforms', () => {
  const order = (text: string) => compatiblePlatforms(parsePlatform(text)).map(formatPlatform);
  it("orders the lower variants of the same architecture as containerd's Only does, and no other architecture", () => {
    assert.deepEqual(order('linux/arm/v7'), ['linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']);
    assert.deepEqual(order('linux/arm/v5'), ['linux/arm/v5']);
    assert.deepEqual(order('linux/amd64'), ['linux/amd64']);
    assert.deepEqual(order('linux/amd64/v3'), ['linux/amd64/v3', 'linux/amd64/v2', 'linux/amd64']);
    assert.deepEqual(order('linux/arm64'), ['linux/arm64']);
    assert.deepEqual(order('linux/arm64/v8.2'), ['linux/arm64/v8.2', 'linux/arm64/v8.1', 'linux/arm64']);
    assert.deepEqual(order('linux/arm64/v9.1'), [
      'linux/arm64/v9.1',
      'linux/arm64/v9',
      'linux/arm64/v8.6',
      'linux/arm64/v8.5',
      'linux/arm64/v8.4',
      'linux/arm64/v8.3',
      'linux/arm64/v8.2',
      'linux/arm64/v8.1',
      'linux/arm64',
    ]);
    assert.deepEqual(order('linux/s390x'), ['linux/s390x']);
  });

  it('takes the best entry and says whether it is the one asked for', () => {
    const entries = ['linux/amd64', 'linux/arm/v5', 'linux/arm/v6'].map((t) => ({ platform: parsePlatform(t), t }));
    const v7 = bestPlatformMatch(parsePlatform('linux/arm/v7'), entries);
    assert.deepEqual([v7?.match.t, v7?.exact], ['linux/arm/v6', false]);
    const v5 = bestPlatformMatch(parsePlatform('linux/arm/v5'), entries);
    assert.deepEqual([v5?.match.t, v5?.exact], ['linux/arm/v5', true]);
    assert.equal(bestPlatformMatch(parsePlatform('linux/s390x'), entries), undefined);
    const x86 = [{ platform: parsePlatform('linux/386') }, { platform: parsePlatform('linux/arm/v7') }];
    assert.equal(bestPlatformMatch(parsePlatform('linux/amd64'), x86), undefined, 'amd64 is not 386');
    assert.equal(bestPlatformMatch(parsePlatform('linux/arm64'), x86), undefined, 'arm64 is not arm/v7');
  });
});

describe('hostPlatform', () => {
  it('gives 32-bit arm the variant Node was built for, v7 when it does not say', () => {
    assert.equal(formatPlatform(hostPlatform('arm', '6')), 'linux/arm/v6');
    assert.equal(formatPlatform(hostPlatform('arm', '7')), 'linux/arm/v7');
    assert.equal(formatPlatform(hostPlatform('arm', undefined)), 'linux/arm/v7');
    assert.equal(formatPlatform(hostPlatform('x64')), 'linux/amd64');
    assert.deepEqual(normalizePlatform(hostPlatform('arm64')), { os: 'linux', architecture: 'arm64' });
  });
});

describe('firstOfPlatform: the image every --platform takes of several', () => {
  const d = (n: number) => `sha256:${String(n).repeat(64)}`;
  it('takes the first of one platform in any spelling, and words a warning only where there are several images', () => {
    const entries = [
      { digest: d(1), platform: { os: 'linux', architecture: 'amd64' } },
      { digest: d(2), platform: { os: 'linux', architecture: 'arm64' } },
      { digest: d(3), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      { digest: d(4), platform: { os: 'unknown', architecture: 'unknown' } },
      { digest: d(5), platform: { os: 'unknown', architecture: 'unknown' } },
    ];
    const arm = firstOfPlatform({ os: 'linux', architecture: 'arm64', variant: 'v8' }, entries, 'oci:x');
    assert.equal(arm.entry, entries[1]);
    assert.equal(
      arm.warning,
      `2 images of the index are linux/arm64: took the first, ${d(2)}; to take another, name it by digest (oci:x@DIGEST): ${d(3)}`,
    );
    assert.deepEqual(firstOfPlatform({ os: 'linux', architecture: 'amd64' }, entries, 'oci:x'), {
      entry: entries[0],
      warning: undefined,
      others: [],
    });
    // BuildKit's attestation manifests, one per image, are no images to choose among.
    assert.equal(firstOfPlatform({ os: 'unknown', architecture: 'unknown' }, entries, 'oci:x').warning, undefined);
    assert.deepEqual(firstOfPlatform({ os: 'linux', architecture: 's390x' }, entries, 'oci:x'), {
      entry: undefined,
      warning: undefined,
      others: [],
    });
  });

  it('tells images apart by digest: one image listed twice is one image, and another is named once', () => {
    const entries = [
      { digest: d(1), platform: { os: 'linux', architecture: 'amd64' } },
      { digest: d(1), platform: { os: 'linux', architecture: 'amd64' } },
      { digest: d(2), platform: { os: 'linux', architecture: 'arm64' } },
      { digest: d(3), platform: { os: 'linux', architecture: 'arm64' } },
      { digest: d(2), platform: { os: 'linux', architecture: 'arm64' } },
      { digest: d(3), platform: { os: 'linux', architecture: 'arm64' } },
    ];
    assert.deepEqual(firstOfPlatform({ os: 'linux', architecture: 'amd64' }, entries, 'oci:x'), {
      entry: entries[0],
      warning: undefined,
      others: [],
    });
    assert.equal(
      firstOfPlatform({ os: 'linux', architecture: 'arm64' }, entries, 'oci:x').warning,
      `2 images of the index are linux/arm64: took the first, ${d(2)}; to take another, name it by digest (oci:x@DIGEST): ${d(3)}`,
    );
  });
});
