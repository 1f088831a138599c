/** The packages diff reads from an attached SBOM when an image's files hold no package database. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { packagesFromSbom } from '../../src/image/diff-packages.ts';
import type { ReadStatement } from '../../src/image/statements.ts';

const SPDX = 'https://spdx.dev/Document';
const DOCUMENT = {
  spdxVersion: 'SPDX-2.3',
  packages: [
    { name: 'image', primaryPackagePurpose: 'CONTAINER' },
    {
      name: 'bash',
      versionInfo: '5.2.15-2+b2',
      externalRefs: [{ referenceType: 'purl', referenceLocator: 'pkg:deb/debian/bash@5.2.15-2+b2?arch=amd64' }],
    },
  ],
};

function statement(predicate: unknown): ReadStatement[] {
  return [{ predicateType: SPDX, statement: { predicateType: SPDX, predicate }, signed: true }];
}

describe('packagesFromSbom', () => {
  it('reads a JSON SPDX document attested as text (cosign attest --type spdx) as the document it holds', () => {
    const view = packagesFromSbom(statement(JSON.stringify(DOCUMENT, null, 2)));
    assert.equal(view?.source, 'sbom');
    assert.deepEqual(
      view?.packages.map((p) => [p.ecosystem, p.name, p.version, p.arch]),
      [['deb', 'bash', '5.2.15-2+b2', 'amd64']],
    );
    assert.deepEqual(view, packagesFromSbom(statement(DOCUMENT)));
  });

  it('finds no packages in a tag-value document: it lists none diff can read', () => {
    assert.equal(packagesFromSbom(statement('SPDXVersion: SPDX-2.3\nPackageName: bash\n')), undefined);
  });
});
