// Debian's architecture tables (src/pkg/deb/arch.ts) agree with apk's (src/builder/arch.ts), which
// the Debian source may not import: each apk architecture is built as a Debian one whose platform
// is the apk architecture's, and a Debian name the configuration takes names the same architecture.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ARCH_NAMES, apkArchToPlatform, lookupArch, normalizeArch } from '../../../src/builder/arch.ts';
import { formatPlatform } from '../../../src/oci/platform.ts';
import { apkArchOfDeb, DEB_ARCH, DEB_NAMES, DEB_PLATFORM } from '../../../src/pkg/deb/arch.ts';

const APK_ARCHS = [...new Set(ARCH_NAMES.map(normalizeArch))];

describe("Debian's architecture tables", () => {
  it("map every apk architecture, each to a Debian one whose platform is the apk architecture's", () => {
    assert.deepEqual(Object.keys(DEB_ARCH).sort(), [...APK_ARCHS].sort());
    for (const [apk, deb] of Object.entries(DEB_ARCH)) {
      assert.equal(DEB_PLATFORM[deb], formatPlatform(apkArchToPlatform(apk)), `${apk} is built as ${deb}`);
      assert.equal(apkArchOfDeb(deb), apk, deb);
    }
    assert.deepEqual(Object.keys(DEB_PLATFORM).sort(), [...DEB_NAMES].sort());
    assert.equal(DEB_NAMES.size, Object.keys(DEB_ARCH).length, 'one Debian architecture per apk one');
  });

  it("take a Debian name in archs only for the architecture a Debian source builds as it (armhf, apk's, aside)", () => {
    for (const deb of DEB_NAMES) {
      const taken = lookupArch(deb);
      if (taken === undefined || deb === 'armhf') continue;
      assert.equal(taken, apkArchOfDeb(deb), deb);
    }
    // armhf is apk's name (arm/v6), which a Debian source builds as armel; Debian's armhf is armv7.
    assert.equal(lookupArch('armhf'), 'armhf');
    assert.equal(DEB_ARCH.armhf, 'armel');
    assert.equal(apkArchOfDeb('armhf'), 'armv7');
    assert.equal(lookupArch('armel'), undefined);
  });
});
