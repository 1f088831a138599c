// The inventory of a built image: the distribution as an inventory read back from the image has it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BuiltImage } from '../../src/builder/build.ts';
import { inventoryOf } from '../../src/builder/inventory.ts';
import type { InstalledPackage } from '../../src/pkg/source.ts';
import { inventoryFromApkDatabase } from '../../src/sbom/from-image.ts';
import { packageUrl } from '../../src/sbom/purl.ts';

const pkg: InstalledPackage = {
  ecosystem: 'apk',
  name: 'busybox',
  version: '1.36.1-r2',
  arch: 'x86_64',
  license: 'GPL-2.0-only',
  source: 'busybox',
  supplier: '',
  homepage: '',
  description: '',
  checksums: {},
  dependsOn: [],
  files: [],
  label: 'busybox-1.36.1-r2',
  installedSize: 0,
  skippedScripts: [],
};
const digest = `sha256:${'ab'.repeat(32)}`;

/** The fields of a built image inventoryOf reads. */
function built(osRelease: string): BuiltImage {
  return {
    packages: [pkg],
    osRelease,
    manifest: { digest },
    platform: { os: 'linux', architecture: 'amd64' },
  } as unknown as BuiltImage;
}

describe('the inventory of a built image', () => {
  it('has the distribution, and so the purls, an SBOM made later from the image gives', () => {
    const installed = 'C:Q1aaaaaaaaaaaaaaaaaaaaaaaaaaaa=\nP:busybox\nV:1.36.1-r2\nA:x86_64\nL:GPL-2.0-only\no:busybox\n\n';
    const image = { name: '', digest, architecture: 'amd64', os: 'linux' };
    for (const osRelease of ['ID=Wolfi\nNAME="Wolfi"\nVERSION_ID=20230201\n', '', 'PRETTY_NAME="Alpine Linux v3.20"\nID=alpine\n']) {
      const ours = inventoryOf(built(osRelease), 'oci:layout:x');
      const read = inventoryFromApkDatabase(installed, osRelease, image);
      assert.deepEqual(ours.distro, read.distro, JSON.stringify(osRelease));
      assert.equal(
        packageUrl(ours.packages[0] as InstalledPackage, ours.distro),
        packageUrl(read.packages[0] as InstalledPackage, read.distro),
      );
    }
  });
});
