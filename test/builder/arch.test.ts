// Architecture names as the command line, the Action's platforms and the configuration take them
// (src/builder/arch.ts): apk's, OCI's, buildx's platforms.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { apkArchToPlatform, linuxPlatformArch } from '../../src/builder/arch.ts';
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
