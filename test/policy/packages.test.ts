/** The packages policies read from an SBOM: installed ones, as report and diff count them. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sbomPackages } from '../../src/policy/packages.ts';

describe('sbomPackages', () => {
  it("leaves out an SPDX document's image, layers and operating system", () => {
    const packages = sbomPackages({
      packages: [
        { name: 'image', primaryPackagePurpose: 'CONTAINER' },
        { name: 'debian', versionInfo: '12', primaryPackagePurpose: 'OPERATING_SYSTEM' },
        { name: 'bash', versionInfo: '5.2.15-2+b2', builtDate: '2023-01-01T00:00:00Z' },
      ],
    });
    assert.deepEqual(
      packages.map((p) => [p.name, p.version]),
      [['bash', '5.2.15-2+b2']],
    );
  });

  it("leaves out a CycloneDX document's layers and operating system", () => {
    const packages = sbomPackages({
      components: [
        { type: 'container', name: 'sha256:0123' },
        { type: 'operating-system', name: 'wolfi', version: '20230201' },
        { type: 'library', name: 'busybox', version: '1.36.1-r2' },
      ],
    });
    assert.deepEqual(
      packages.map((p) => [p.name, p.version]),
      [['busybox', '1.36.1-r2']],
    );
  });

  it('reads a JSON SPDX document attested as text (cosign attest --type spdx), with its dates', () => {
    const document = {
      spdxVersion: 'SPDX-2.3',
      packages: [
        { name: 'image', primaryPackagePurpose: 'CONTAINER' },
        { name: 'bash', versionInfo: '5.2.15-2+b2', builtDate: '2023-01-01T00:00:00Z' },
      ],
    };
    const packages = sbomPackages(JSON.stringify(document, null, 2));
    assert.deepEqual(
      packages.map((p) => [p.name, p.version, p.builtAt?.toISOString()]),
      [['bash', '5.2.15-2+b2', '2023-01-01T00:00:00.000Z']],
    );
    assert.deepEqual(packages, sbomPackages(document));
  });
});
