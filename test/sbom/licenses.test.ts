// License expressions checked against the SPDX License List, and how the SBOMs declare the rest.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Inventory, InventoryPackage } from '../../src/pkg/inventory.ts';
import { cyclonedxDocument } from '../../src/sbom/cyclonedx.ts';
import { isSpdxLicenseExpression, spdxDocument, spdxLicenseExpression, timestampFromEpoch } from '../../src/sbom/spdx.ts';
import { SPDX_EXCEPTION_IDS, SPDX_LICENSE_IDS, SPDX_LICENSE_LIST_VERSION } from '../../src/sbom/spdx-licenses.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';

describe('the SPDX License List the project carries', () => {
  it('is the list of the CycloneDX schema: its licenses, then its exceptions', { skip: fixturesMissing }, async () => {
    const schema = JSON.parse(await readFile(fixture('schemas', 'cyclonedx', 'spdx.schema.json'), 'utf8'));
    assert.deepEqual([...SPDX_LICENSE_IDS, ...SPDX_EXCEPTION_IDS], schema.enum);
    assert.ok(String(schema.$comment).endsWith(SPDX_LICENSE_LIST_VERSION));
    assert.ok(SPDX_LICENSE_IDS.includes('MIT') && SPDX_EXCEPTION_IDS.includes('Classpath-exception-2.0'));
    assert.ok(!SPDX_LICENSE_IDS.includes('Classpath-exception-2.0'));
  });
});

describe('spdxLicenseExpression', () => {
  it('takes expressions of listed ids, spelled as the list spells them', () => {
    for (const [text, want] of [
      ['MIT', 'MIT'],
      ['mit', 'MIT'],
      ['  gpl-2.0-or-later   WITH  classpath-exception-2.0 ', 'GPL-2.0-or-later WITH Classpath-exception-2.0'],
      ['(MIT OR apache-2.0) AND BSD-3-Clause', '(MIT OR Apache-2.0) AND BSD-3-Clause'],
      ['GPL-2.0+', 'GPL-2.0+'],
      ['LGPL-2.1-only+', 'LGPL-2.1-only+'],
      ['MIT AND LicenseRef-vendor-1', 'MIT AND LicenseRef-vendor-1'],
      ['NONE', 'NONE'],
      ['NOASSERTION', 'NOASSERTION'],
    ]) {
      assert.equal(spdxLicenseExpression(text as string), want, text);
    }
  });

  it('refuses ids the list does not have, however well formed', () => {
    for (const text of [
      'custom',
      'GPL',
      'BSD',
      'Public-Domain',
      'MIT AND GPL',
      'MIT WITH Foo-exception',
      'GPL-2.0 WITH MIT',
      'MIT WITH 389-exception+',
      // Another document's license: the SBOM would need that document in externalDocumentRefs.
      'DocumentRef-x:LicenseRef-y',
      'MIT AND DocumentRef-spdx-tool-1.2:LicenseRef-MIT-Style-2',
    ]) {
      assert.equal(spdxLicenseExpression(text), undefined, text);
    }
    // The ones the review found declared as expressions are still expressions by syntax alone.
    assert.ok(isSpdxLicenseExpression('GPL') && isSpdxLicenseExpression('Public-Domain'));
    assert.ok(isSpdxLicenseExpression('DocumentRef-x:LicenseRef-y'));
  });

  // Random expressions over listed ids, written with random case, spacing and parentheses.
  const licenseId = fc.constantFrom(...SPDX_LICENSE_IDS);
  const exceptionId = fc.constantFrom(...SPDX_EXCEPTION_IDS);
  const space = fc.constantFrom(' ', '  ', '\t', '\n ');
  const recase = (id: string) =>
    fc
      .array(fc.boolean(), { minLength: id.length, maxLength: id.length })
      .map((up) => [...id].map((c, i) => (up[i] ? c.toUpperCase() : c.toLowerCase())).join(''));
  const { expr } = fc.letrec<{ expr: [string, string]; leaf: [string, string] }>((tie) => ({
    leaf: fc.oneof(
      licenseId.chain((id) => recase(id).map((w): [string, string] => [w, id])),
      fc
        .tuple(licenseId, exceptionId, space, space)
        .chain(([id, ex, s1, s2]) =>
          fc.tuple(recase(id), recase(ex)).map(([w, x]): [string, string] => [`${w}${s1}WITH${s2}${x}`, `${id} WITH ${ex}`]),
        ),
      fc.stringMatching(/^[A-Za-z0-9.-]{1,12}$/).map((r): [string, string] => [`LicenseRef-${r}`, `LicenseRef-${r}`]),
    ),
    expr: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      tie('leaf'),
      fc
        .tuple(tie('expr'), fc.constantFrom('AND', 'OR'), tie('expr'), space)
        .map(([a, op, b, s]): [string, string] => [`(${a[0]})${s}${op}${s}(${b[0]})`, `(${a[1]}) ${op} (${b[1]})`]),
    ),
  }));

  it('gives back any expression of listed ids, canonically spelled, and is idempotent', () => {
    fc.assert(
      fc.property(expr, ([written, canonical]) => {
        const parsed = spdxLicenseExpression(written);
        assert.equal(parsed, canonical);
        assert.equal(spdxLicenseExpression(canonical), canonical);
        assert.ok(isSpdxLicenseExpression(canonical));
      }),
    );
  });

  it('refuses any expression with one id that is not listed', () => {
    const listed = new Set([...SPDX_LICENSE_IDS, ...SPDX_EXCEPTION_IDS].map((id) => id.toLowerCase()));
    const unlisted = fc
      .stringMatching(/^[A-Za-z][A-Za-z0-9.-]{0,15}$/)
      .filter(
        (id) =>
          !listed.has(id.toLowerCase()) &&
          !listed.has(id.replace(/\+$/, '').toLowerCase()) &&
          !/^(AND|OR|WITH|NONE|NOASSERTION)$/.test(id) &&
          !id.startsWith('LicenseRef-') &&
          !id.startsWith('DocumentRef-'),
      );
    fc.assert(
      fc.property(expr, unlisted, fc.constantFrom('AND', 'OR'), fc.boolean(), ([written], bad, op, first) => {
        const text = first ? `${bad} ${op} (${written})` : `(${written}) ${op} ${bad}`;
        assert.equal(spdxLicenseExpression(text), undefined, text);
      }),
    );
  });

  it('never throws, and whatever it takes is an expression by the grammar', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (text) => {
        const parsed = spdxLicenseExpression(text);
        if (parsed !== undefined) assert.ok(isSpdxLicenseExpression(parsed), parsed);
      }),
    );
  });
});

describe('licenses in the SBOMs', () => {
  const inventory: Inventory = {
    distro: { id: 'alpine', versionId: '3.20.3', prettyName: '' },
    image: { name: 'x', digest: `sha256:${'a'.repeat(64)}`, architecture: 'amd64', os: 'linux' },
    packages: ['custom', 'GPL', 'Public-Domain', 'BSD', 'mit', 'MIT AND LicenseRef-vendor', 'DocumentRef-x:LicenseRef-y'].map(
      (license, i): InventoryPackage => ({
        ecosystem: 'apk',
        name: `p${i}`,
        version: '1-r0',
        arch: 'x86_64',
        license,
        source: '',
        supplier: '',
        homepage: '',
        description: '',
        checksums: {},
        dependsOn: [],
      }),
    ),
  };
  const options = { created: timestampFromEpoch(1700000000), toolVersion: '0.1.0' };

  it('declares an unlisted license as a LicenseRef with its text, a listed one as the list spells it', () => {
    const doc = spdxDocument(inventory, options);
    const declared = Object.fromEntries(doc.packages.filter((p) => p.name.startsWith('p')).map((p) => [p.name, p.licenseDeclared]));
    assert.deepEqual(declared, {
      p0: 'LicenseRef-custom',
      p1: 'LicenseRef-GPL',
      p2: 'LicenseRef-Public-Domain',
      p3: 'LicenseRef-BSD',
      p4: 'MIT',
      p5: 'MIT AND LicenseRef-vendor',
      p6: 'LicenseRef-DocumentRef-x-LicenseRef-y-04264297',
    });
    assert.ok(!('externalDocumentRefs' in doc));
    // Every LicenseRef the document names is defined in it (SPDX 2.3 clause 10.1).
    assert.deepEqual(
      doc.hasExtractedLicensingInfos?.map((l) => [l.licenseId, l.extractedText]),
      [
        ['LicenseRef-BSD', 'BSD'],
        ['LicenseRef-DocumentRef-x-LicenseRef-y-04264297', 'DocumentRef-x:LicenseRef-y'],
        ['LicenseRef-GPL', 'GPL'],
        ['LicenseRef-Public-Domain', 'Public-Domain'],
        ['LicenseRef-custom', 'custom'],
        ['LicenseRef-vendor', 'LicenseRef-vendor'],
      ],
    );
  });

  it('gives CycloneDX an expression of listed ids only, and a name for anything else', () => {
    const bom = cyclonedxDocument(inventory, options);
    const licenses = Object.fromEntries(bom.components.filter((c) => c.name.startsWith('p')).map((c) => [c.name, c.licenses]));
    assert.deepEqual(licenses, {
      p0: [{ license: { name: 'custom' } }],
      p1: [{ license: { name: 'GPL' } }],
      p2: [{ license: { name: 'Public-Domain' } }],
      p3: [{ license: { name: 'BSD' } }],
      p4: [{ expression: 'MIT' }],
      p5: [{ expression: 'MIT AND LicenseRef-vendor' }],
      p6: [{ license: { name: 'DocumentRef-x:LicenseRef-y' } }],
    });
  });

  it("makes each name a Debian package's copyright gives and the list lacks a LicenseRef of its own", () => {
    const licenses = ['GPL-2.0-or-later AND BSD-variant', 'LicenseRef-public-domain AND zlib', '(gpl-2.0-only OR Foo+) AND MIT', 'GPL 2'];
    const pkgs = (ecosystem: 'apk' | 'deb') =>
      licenses.map((license, i) => ({ ...(inventory.packages[0] as InventoryPackage), ecosystem, name: `d${i}`, license }));
    const doc = spdxDocument({ ...inventory, packages: pkgs('deb') }, options);
    assert.deepEqual(
      doc.packages.filter((p) => p.name.startsWith('d')).map((p) => p.licenseDeclared),
      [
        'GPL-2.0-or-later AND LicenseRef-BSD-variant',
        'LicenseRef-public-domain AND Zlib',
        '(GPL-2.0-only OR LicenseRef-Foo-or-later) AND MIT',
        'LicenseRef-GPL-2-1818a515',
      ],
    );
    // Defined in the document, with the name as its text.
    assert.deepEqual(
      doc.hasExtractedLicensingInfos?.map((l) => [l.licenseId, l.extractedText]),
      [
        ['LicenseRef-BSD-variant', 'BSD-variant'],
        ['LicenseRef-Foo-or-later', 'Foo+'],
        ['LicenseRef-GPL-2-1818a515', 'GPL 2'],
        ['LicenseRef-public-domain', 'LicenseRef-public-domain'],
      ],
    );
    const bom = cyclonedxDocument({ ...inventory, packages: pkgs('deb') }, options);
    assert.deepEqual(
      bom.components.filter((c) => c.name.startsWith('d')).map((c) => c.licenses),
      [
        [{ expression: 'GPL-2.0-or-later AND LicenseRef-BSD-variant' }],
        [{ expression: 'LicenseRef-public-domain AND Zlib' }],
        [{ expression: '(GPL-2.0-only OR LicenseRef-Foo-or-later) AND MIT' }],
        [{ license: { name: 'GPL 2' } }],
      ],
    );
    // An apk package's license is the packager's text: stated whole when the list lacks a name.
    const apk = spdxDocument({ ...inventory, packages: pkgs('apk') }, options);
    assert.match(
      apk.packages.find((p) => p.name === 'd0')?.licenseDeclared ?? '',
      /^LicenseRef-GPL-2.0-or-later-AND-BSD-variant-[0-9a-f]+$/,
    );
  });

  it('spells LicenseRefs that differ only in case one way, and defines them once', () => {
    // Two Debian copyright files naming one exception in two cases, and a short name in two cases.
    const licenses = [
      'LicenseRef-GPL-3-or-later-with-Bison-exception AND foo+',
      'GPL-2.0-only OR LicenseRef-GPL-3-or-later-WITH-BISON-EXCEPTION',
      'Foo+ AND MIT',
    ];
    const pkgs = licenses.map((license, i) => ({
      ...(inventory.packages[0] as InventoryPackage),
      ecosystem: 'deb' as const,
      name: `c${i}`,
      license,
    }));
    const declared = (doc: ReturnType<typeof spdxDocument>) =>
      Object.fromEntries(doc.packages.filter((p) => p.name.startsWith('c')).map((p) => [p.name, p.licenseDeclared]));
    const doc = spdxDocument({ ...inventory, packages: pkgs }, options);
    // The first spelling in sorted order ("W" sorts before "w", "F" before "f"), not that of the
    // first package (c0 names both in lower case).
    const expected = {
      c0: 'LicenseRef-GPL-3-or-later-WITH-BISON-EXCEPTION AND LicenseRef-Foo-or-later',
      c1: 'GPL-2.0-only OR LicenseRef-GPL-3-or-later-WITH-BISON-EXCEPTION',
      c2: 'LicenseRef-Foo-or-later AND MIT',
    };
    assert.deepEqual(declared(doc), expected);
    assert.deepEqual(
      doc.hasExtractedLicensingInfos?.map((l) => [l.licenseId, l.extractedText]),
      [
        ['LicenseRef-Foo-or-later', 'Foo+'],
        ['LicenseRef-GPL-3-or-later-WITH-BISON-EXCEPTION', 'LicenseRef-GPL-3-or-later-WITH-BISON-EXCEPTION'],
      ],
    );
    const bom = cyclonedxDocument({ ...inventory, packages: pkgs }, options);
    assert.deepEqual(
      bom.components.filter((c) => c.name.startsWith('c')).map((c) => c.licenses),
      Object.values(expected).map((expression) => [{ expression }]),
    );
  });
});
