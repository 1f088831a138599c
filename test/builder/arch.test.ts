// Architecture names as the command line, the Action's platforms and the configuration take them
// (src/builder/arch.ts): apk's, OCI's and Debian's where they mean one architecture for every
// ecosystem; --platform and platforms take OCI platforms, read as every other --platform is.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ARCH_NAMES, apkArchToPlatform, hostApkArch, linuxPlatformArch, lookupArch, normalizeArch } from '../../src/builder/arch.ts';
import { isProvenantError } from '../../src/errors.ts';
import { formatPlatform, parsePlatform, platformMatches } from '../../src/oci/platform.ts';

describe('linuxPlatformArch', () => {
  it('builds, for every platform it takes, the image that --platform of the same text picks elsewhere (parsePlatform, platformMatches)', () => {
    const texts = [
      ...ARCH_NAMES.map((n) => `linux/${n}`),
      ...['linux/arm', 'linux/ARM', 'linux/Arm/V7', 'linux/x86-64', 'linux/X86_64', 'LINUX/amd64', 'linux/arm64/v8', 'linux/arm/v5'],
      ...['linux/arm64/v9', 'linux/amd64/v2', 'linux/armel', 'linux/ppc64el', 'linux/mips64le'],
    ];
    let taken = 0;
    for (const text of texts) {
      let arch: string | undefined;
      try {
        arch = linuxPlatformArch(text);
      } catch (err) {
        assert.ok(isProvenantError(err, 'USAGE'), String(err));
      }
      const wanted = parsePlatform(text);
      const built = arch === undefined ? undefined : apkArchToPlatform(arch);
      // Taken exactly when the image built is one some apk architecture has, and it is that one.
      const some = ARCH_NAMES.some((n) => platformMatches(wanted, apkArchToPlatform(n)));
      assert.equal(built !== undefined, some, text);
      if (built !== undefined) {
        assert.ok(platformMatches(wanted, built), `${text} built ${formatPlatform(built)}`);
        taken++;
      }
    }
    assert.ok(taken >= 15, String(taken));
  });

  it('reads the spellings parsePlatform takes (linux/arm is arm/v7, any case, x86-64) and refuses what it reads as no such platform', () => {
    assert.equal(linuxPlatformArch('linux/arm'), 'armv7');
    assert.equal(linuxPlatformArch('linux/ARM'), 'armv7');
    assert.equal(linuxPlatformArch('linux/x86-64'), 'x86_64');
    assert.equal(linuxPlatformArch('linux/arm64/v8'), 'aarch64');
    assert.equal(linuxPlatformArch('linux/arm/v6'), 'armhf');
    assert.equal(linuxPlatformArch('linux/386'), 'x86');
    assert.equal(linuxPlatformArch('linux/loong64'), 'loongarch64');
    assert.equal(linuxPlatformArch('windows/amd64'), undefined);
    assert.equal(linuxPlatformArch('windows'), undefined);
    assert.equal(linuxPlatformArch('linux/amd64/'), undefined);
    assert.throws(
      () => linuxPlatformArch('linux/arm/v9'),
      (err) =>
        isProvenantError(err, 'USAGE') &&
        /^linux\/arm\/v9 is not an OCI platform/.test(err.message) &&
        /linux\/arm\/v7/.test(err.hint ?? ''),
    );
  });

  it('reads the names containerd normalizes as it does: i386 is 386, armhf arm/v7 (not apk armhf), armel arm/v6; an architecture alone is linux', () => {
    assert.equal(linuxPlatformArch('linux/i386'), 'x86');
    assert.equal(linuxPlatformArch('linux/armhf'), 'armv7');
    assert.equal(linuxPlatformArch('linux/armel'), 'armhf');
    assert.equal(linuxPlatformArch('linux/arm/7'), 'armv7');
    assert.equal(linuxPlatformArch('linux/amd64/v1'), 'x86_64');
    assert.equal(linuxPlatformArch('linux/arm64/v8.0'), 'aarch64');
    assert.equal(linuxPlatformArch('arm64'), 'aarch64');
    assert.equal(linuxPlatformArch('i386'), 'x86');
    // An OS alone is the host's architecture, which the caller passes (pure: no machine read here).
    assert.equal(linuxPlatformArch('linux', { os: 'linux', architecture: 's390x' }), 's390x');
    assert.equal(linuxPlatformArch('linux', { os: 'linux', architecture: 'arm', variant: 'v6' }), 'armhf');
    assert.equal(linuxPlatformArch('linux'), undefined);
  });

  it("refuses architecture names that are no OCI platform's (Debian's, apk's), naming the platform to write", () => {
    for (const [text, platform] of [
      ['linux/ppc64el', 'linux/ppc64le'],
      ['linux/armv7', 'linux/arm/v7'],
      ['linux/x86', 'linux/386'],
      ['linux/loongarch64', 'linux/loong64'],
    ] as const) {
      assert.throws(
        () => linuxPlatformArch(text),
        (err) => isProvenantError(err, 'USAGE') && err.message.includes(`did you mean ${platform}?`) && /with --arch/.test(err.hint ?? ''),
        text,
      );
    }
    assert.throws(
      () => linuxPlatformArch('linux/mips64le'),
      (err) => isProvenantError(err, 'USAGE') && !/did you mean/.test(err.message),
    );
  });
});

describe('architecture names', () => {
  it("takes Debian's i386 and ppc64el, which name the same architecture for apk (--arch, archs)", () => {
    assert.equal(normalizeArch('i386'), 'x86');
    assert.equal(normalizeArch('ppc64el'), 'ppc64le');
    assert.deepEqual(apkArchToPlatform('i386'), { os: 'linux', architecture: '386' });
    assert.deepEqual(apkArchToPlatform('ppc64el'), { os: 'linux', architecture: 'ppc64le' });
  });

  it("refuses armel, which apk's armhf (ARMv6 hard-float) is not, and says what armhf is", () => {
    assert.equal(lookupArch('armel'), undefined);
    assert.throws(
      () => normalizeArch('armel'),
      (err) =>
        isProvenantError(err, 'USAGE') &&
        /Debian's armel/.test(err.hint ?? '') &&
        /Debian's armhf \(arm\/v7\) is armv7/.test(err.hint ?? ''),
    );
    assert.equal(normalizeArch('armhf'), 'armhf');
  });

  it('maps every name to the OCI platform that names it, when it is one', () => {
    for (const name of ARCH_NAMES) {
      const p = apkArchToPlatform(name);
      assert.equal(lookupArch(formatPlatform(p).slice('linux/'.length)), normalizeArch(name), name);
    }
  });

  it("reads the host's Node architecture through its OCI platform", () => {
    assert.equal(hostApkArch('x64'), 'x86_64');
    assert.equal(hostApkArch('arm'), 'armv7');
    assert.equal(hostApkArch('ia32'), 'x86');
    assert.equal(hostApkArch('ppc64'), 'ppc64le');
    assert.throws(
      () => hostApkArch('mips'),
      (err) => isProvenantError(err, 'USAGE'),
    );
  });
});
