// Architecture names as the command line, the Action's platforms and the configuration take them
// (src/builder/arch.ts): apk's, OCI's, buildx's platforms and Debian's where they are unambiguous.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { apkArchToPlatform, linuxPlatformArch, normalizeArch } from '../../src/builder/arch.ts';
import { isProvenantError } from '../../src/errors.ts';
import { normalizePlatform, parsePlatform } from '../../src/oci/platform.ts';

describe('linuxPlatformArch', () => {
  it('reads linux/arm as arm/v7, as buildx, containerd and normalizePlatform (sbom --platform) do', () => {
    assert.equal(linuxPlatformArch('linux/arm'), 'armv7');
    assert.deepEqual(apkArchToPlatform(linuxPlatformArch('linux/arm') as string), parsePlatform('linux/arm'));
    assert.deepEqual(normalizePlatform({ os: 'linux', architecture: 'arm' }), { os: 'linux', architecture: 'arm', variant: 'v7' });
  });

  it('reads the other platforms as before, and names no architecture for another os', () => {
    assert.equal(linuxPlatformArch('linux/arm/v7'), 'armv7');
    assert.equal(linuxPlatformArch('linux/arm/v6'), 'armhf');
    assert.equal(linuxPlatformArch('linux/arm64/v8'), 'aarch64');
    assert.equal(linuxPlatformArch('linux/amd64'), 'x86_64');
    assert.equal(linuxPlatformArch('windows/amd64'), undefined);
    assert.equal(linuxPlatformArch('linux'), undefined);
    assert.throws(
      () => linuxPlatformArch('linux/arm/v9'),
      (err) => isProvenantError(err, 'USAGE') && /"arm\/v9" is not an architecture/.test(err.message),
    );
  });
});

describe("Debian's architecture names", () => {
  it('takes i386, ppc64el and armel as the apk architecture a Debian build reads as each (--arch, archs, --platform)', () => {
    assert.equal(normalizeArch('i386'), 'x86');
    assert.equal(normalizeArch('ppc64el'), 'ppc64le');
    // A Debian source builds armel for apk's armhf slot (src/pkg/deb/source.ts DEB_ARCH).
    assert.equal(normalizeArch('armel'), 'armhf');
    assert.equal(linuxPlatformArch('linux/i386'), 'x86');
    assert.deepEqual(apkArchToPlatform('i386'), { os: 'linux', architecture: '386' });
    assert.deepEqual(apkArchToPlatform('ppc64el'), { os: 'linux', architecture: 'ppc64le' });
  });

  it("keeps armhf apk's (arm/v6), and says in the hint that Debian's armhf is armv7", () => {
    assert.equal(normalizeArch('armhf'), 'armhf');
    assert.throws(
      () => normalizeArch('armhff'),
      (err) => isProvenantError(err, 'USAGE') && /Debian's armhf \(arm\/v7\) is armv7/.test(err.hint ?? ''),
    );
  });
});
