// License expressions checked against the SPDX License List, and how the SBOMs declare the rest.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import Ajv from 'ajv';
import addFormatsModule from 'ajv-formats';
import fc from 'fast-check';
import type { Inventory, InventoryPackage } from '../../src/pkg/inventory.ts';
import { cyclonedxDocument } from '../../src/sbom/cyclonedx.ts';
import {
  isSpdxLicenseExpression,
  packageLicenseExpression,
  spdxDocument,
  spdxLicenseExpression,
  timestampFromEpoch,
} from '../../src/sbom/spdx.ts';
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
    // An apk package's license, read the same way.
    const apk = spdxDocument({ ...inventory, packages: pkgs('apk') }, options);
    assert.deepEqual(
      apk.packages.filter((p) => p.name.startsWith('d')).map((p) => p.licenseDeclared),
      doc.packages.filter((p) => p.name.startsWith('d')).map((p) => p.licenseDeclared),
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

// ajv and ajv-formats are CommonJS: Node hands ESM their module.exports.
const AjvClass = Ajv as unknown as typeof Ajv.default;
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/** SPDX 2.3's own JSON schema, as the fixtures' SOURCES.md says where it comes from. */
async function spdxSchema(): Promise<(doc: unknown) => void> {
  const ajv = new AjvClass({ allErrors: true, strict: false });
  addFormats(ajv as unknown as Parameters<typeof addFormats>[0]);
  const validate = ajv.compile(JSON.parse(await readFile(fixture('schemas', 'spdx', 'spdx-2.3-schema.json'), 'utf8')));
  return (doc) => assert.ok(validate(doc), JSON.stringify(validate.errors?.slice(0, 3)));
}

describe("an apk package's license, names the list lacks among listed ones", () => {
  const apkPackage = (license: string, i = 0): InventoryPackage => ({
    ecosystem: 'apk',
    name: `a${i}`,
    version: '1-r0',
    arch: 'x86_64',
    license,
    source: '',
    supplier: '',
    homepage: '',
    description: '',
    checksums: {},
    dependsOn: [],
  });
  const inventoryOf = (licenses: readonly string[]): Inventory => ({
    distro: { id: 'alpine', versionId: '3.20.3', prettyName: '' },
    image: { name: 'x', digest: `sha256:${'a'.repeat(64)}`, architecture: 'amd64', os: 'linux' },
    packages: licenses.map(apkPackage),
  });
  const options = { created: timestampFromEpoch(1700000000), toolVersion: '0.1.0' };
  const LICENSE_REF = /(?<![\w:.-])LicenseRef-[A-Za-z0-9.-]+/g;

  /** Each LicenseRef the document declares is defined in it (SPDX 2.3 clause 10.1), once. */
  const assertRefsDefined = (doc: ReturnType<typeof spdxDocument>) => {
    const defined = (doc.hasExtractedLicensingInfos ?? []).map((l) => l.licenseId);
    assert.equal(new Set(defined).size, defined.length, defined.join(' '));
    for (const p of doc.packages) {
      for (const ref of p.licenseDeclared?.match(LICENSE_REF) ?? []) assert.ok(defined.includes(ref), `${ref} of ${p.licenseDeclared}`);
    }
  };

  it('keeps the listed ids and makes each unlisted name a LicenseRef with its name as text; text that does not parse stays one LicenseRef', {
    skip: fixturesMissing,
  }, async () => {
    const check = await spdxSchema();
    const licenses = [
      'Zlib AND custom',
      'mit OR (GPL-2.0-only WITH Linux-syscall-note AND Public-Domain)',
      'GPL2+ OR BSD-3-Clause',
      // Alpine's older space-separated lists, and apk's custom:name: no expression.
      'MIT BSD GPL2+',
      'ISC AND custom:multiple',
    ];
    const doc = spdxDocument(inventoryOf(licenses), options);
    check(doc);
    assert.deepEqual(
      doc.packages.filter((p) => /^a\d/.test(p.name)).map((p) => p.licenseDeclared),
      [
        'Zlib AND LicenseRef-custom',
        'MIT OR (GPL-2.0-only WITH Linux-syscall-note AND LicenseRef-Public-Domain)',
        'LicenseRef-GPL2-or-later OR BSD-3-Clause',
        'LicenseRef-MIT-BSD-GPL2-00d9e44b',
        'LicenseRef-ISC-AND-custom-multiple-3ada02e2',
      ],
    );
    assert.deepEqual(
      doc.hasExtractedLicensingInfos?.map((l) => [l.licenseId, l.extractedText]),
      [
        ['LicenseRef-GPL2-or-later', 'GPL2+'],
        ['LicenseRef-ISC-AND-custom-multiple-3ada02e2', 'ISC AND custom:multiple'],
        ['LicenseRef-MIT-BSD-GPL2-00d9e44b', 'MIT BSD GPL2+'],
        ['LicenseRef-Public-Domain', 'Public-Domain'],
        ['LicenseRef-custom', 'custom'],
      ],
    );
    const bom = cyclonedxDocument(inventoryOf(licenses), options);
    assert.deepEqual(
      bom.components.filter((c) => /^a\d/.test(c.name)).map((c) => c.licenses),
      [
        [{ expression: 'Zlib AND LicenseRef-custom' }],
        [{ expression: 'MIT OR (GPL-2.0-only WITH Linux-syscall-note AND LicenseRef-Public-Domain)' }],
        [{ expression: 'LicenseRef-GPL2-or-later OR BSD-3-Clause' }],
        [{ license: { name: 'MIT BSD GPL2+' } }],
        [{ license: { name: 'ISC AND custom:multiple' } }],
      ],
    );
  });

  // Random expressions of listed ids, names the list lacks and LicenseRefs, with random case,
  // spacing and parentheses: [as written, as the SBOM should declare it].
  const listedIds = new Set([...SPDX_LICENSE_IDS, ...SPDX_EXCEPTION_IDS].map((id) => id.toLowerCase()));
  const unlistedName = fc
    .stringMatching(/^[A-Za-z0-9][A-Za-z0-9.-]{0,12}\+?$/)
    .filter(
      (id) =>
        !listedIds.has(id.toLowerCase()) &&
        !listedIds.has(id.replace(/\+$/, '').toLowerCase()) &&
        !/^(AND|OR|WITH|NONE|NOASSERTION)$/.test(id) &&
        !/^(LicenseRef|DocumentRef)-/.test(id),
    );
  const space = fc.constantFrom(' ', '  ', '\t', '\n ');
  const { expr } = fc.letrec<{ expr: [string, string]; leaf: [string, string] }>((tie) => ({
    leaf: fc.oneof(
      fc.constantFrom(...SPDX_LICENSE_IDS).map((id): [string, string] => [id.toLowerCase(), id]),
      unlistedName.map((n): [string, string] => [n, `LicenseRef-${n.replace(/\+$/, '-or-later')}`]),
      fc
        .tuple(fc.constantFrom(...SPDX_LICENSE_IDS), fc.constantFrom(...SPDX_EXCEPTION_IDS))
        .map(([id, ex]): [string, string] => [`${id} WITH ${ex.toUpperCase()}`, `${id} WITH ${ex}`]),
      unlistedName.chain((n) =>
        fc
          .constantFrom(...SPDX_EXCEPTION_IDS)
          .map((ex): [string, string] => [`${n} WITH ${ex}`, `LicenseRef-${n.replace(/\+$/, '-or-later')} WITH ${ex}`]),
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

  it('declares any expression mixing listed ids and unlisted names with each listed id kept, each name a LicenseRef defined by its text, schema-valid', {
    skip: fixturesMissing,
  }, async () => {
    const check = await spdxSchema();
    fc.assert(
      fc.property(fc.array(expr, { minLength: 1, maxLength: 4 }), (exprs) => {
        for (const [written, canonical] of exprs) {
          const parsed = packageLicenseExpression({ license: written });
          assert.equal(parsed?.expression, canonical, written);
          // Each name made a LicenseRef is defined by a text that is that name.
          for (const [ref, text] of parsed?.named ?? []) {
            assert.equal(`LicenseRef-${text.replace(/\+$/, '-or-later')}`, ref);
            assert.ok(written.includes(text), `${text} in ${written}`);
          }
          // What it declares is an expression of listed ids and LicenseRefs alone.
          assert.equal(spdxLicenseExpression(canonical), canonical);
        }
        const doc = spdxDocument(inventoryOf(exprs.map(([w]) => w)), options);
        check(doc);
        assertRefsDefined(doc);
      }),
      { numRuns: 200 },
    );
  });

  // Untrusted text: license words, operators, parentheses and other characters in any order.
  const soup = fc
    .array(
      fc.oneof(
        fc.constantFrom('AND', 'OR', 'WITH', '(', ')', 'and', 'NONE', 'NOASSERTION', '+', ':', ',', '/', 'LicenseRef-', 'DocumentRef-x:'),
        fc.constantFrom('MIT', 'Zlib', 'GPL-2.0+', 'Classpath-exception-2.0', 'custom', 'GPL2+', 'Public-Domain'),
        fc.string({ maxLength: 8 }),
      ),
      { maxLength: 14 },
    )
    .chain((words) =>
      fc
        .array(fc.constantFrom(' ', '', '\t'), { minLength: words.length, maxLength: words.length })
        .map((gaps) => words.map((w, i) => `${w}${gaps[i]}`).join('')),
    );

  it('never throws on any text, and declares either an expression of listed ids and defined LicenseRefs or the text as one LicenseRef', {
    skip: fixturesMissing,
  }, async () => {
    const check = await spdxSchema();
    fc.assert(
      fc.property(fc.oneof(soup, fc.string({ maxLength: 40 })), (text) => {
        const parsed = packageLicenseExpression({ license: text });
        if (parsed !== undefined) {
          assert.equal(spdxLicenseExpression(parsed.expression), parsed.expression, `${text} -> ${parsed.expression}`);
          // Every LicenseRef it names was written so, or is a name of the text (in `named`).
          for (const ref of parsed.expression.match(LICENSE_REF) ?? []) assert.ok(parsed.named.has(ref) || text.includes(ref), ref);
        }
        const doc = spdxDocument(inventoryOf([text]), options);
        check(doc);
        assertRefsDefined(doc);
        const declared = doc.packages.find((p) => p.name === 'a0')?.licenseDeclared ?? '';
        if (parsed === undefined && text.trim() !== '') assert.match(declared, /^LicenseRef-[A-Za-z0-9.-]+$/, text);
      }),
      { numRuns: 300 },
    );
  });

  it('takes parentheses nested too deep for no expression, rather than overflowing the stack', () => {
    for (const n of [64, 65, 10_000, 100_000]) {
      const text = `${'('.repeat(n)}Zlib AND custom${')'.repeat(n)}`;
      const parsed = packageLicenseExpression({ license: text });
      if (n <= 64) assert.equal(parsed?.expression, `${'('.repeat(n)}Zlib AND LicenseRef-custom${')'.repeat(n)}`);
      else assert.equal(parsed, undefined, `${n} levels`);
      assert.equal(
        spdxLicenseExpression(`${'('.repeat(n)}MIT${')'.repeat(n)}`),
        n <= 64 ? `${'('.repeat(n)}MIT${')'.repeat(n)}` : undefined,
      );
      const declared = spdxDocument(inventoryOf([text]), options).packages.find((p) => p.name === 'a0')?.licenseDeclared ?? '';
      assert.match(declared, n <= 64 ? /^\(+Zlib AND LicenseRef-custom\)+$/ : /^LicenseRef-Zlib-AND-custom-[0-9a-f]{8}$/);
    }
  });
});
