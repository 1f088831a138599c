// An SPDX predicate attested as text (cosign's attest --type spdx: tag-value or JSON) as its
// readers take it (property-based): predicateDocument, and the packages report, inspect and policy
// read from it. A JSON document's text reads as the document, whatever its whitespace; any other
// text stays text; any JSON, however it nests or whatever it holds, is read without a crash.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { STATEMENT_DEPTH_LIMIT } from '../../src/attest/attachments.ts';
import { attachPredicate } from '../../src/image/attach.ts';
import { imageSbom } from '../../src/image/attestations.ts';
import { packagesFromSbom } from '../../src/image/diff-packages.ts';
import { predicateDocument } from '../../src/image/statements.ts';
import { sbomPackages } from '../../src/policy/packages.ts';
import { type FoundStatement, sbomFrom, spdxPackages, spdxSystem } from '../../src/report/statements.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { makeImage } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';

const SPDX = 'https://spdx.dev/Document';

/** An SPDX 2.3 document of some packages, with fields of any values beside them. */
const spdxDocument = fc
  .record({
    packages: fc.array(
      fc.record(
        {
          SPDXID: fc.stringMatching(/^SPDXRef-[A-Za-z0-9.-]{1,12}$/),
          name: fc.string({ maxLength: 12 }),
          versionInfo: fc.string({ maxLength: 8 }),
          primaryPackagePurpose: fc.constantFrom('LIBRARY', 'APPLICATION', 'OPERATING_SYSTEM', 'CONTAINER', 'FILE'),
          licenseConcluded: fc.constantFrom('MIT', 'NOASSERTION', 'LicenseRef-x', 'Apache-2.0 OR MIT'),
          builtDate: fc.constantFrom('2024-01-02T03:04:05Z', 'not a date'),
          externalRefs: fc.array(
            fc.record({
              referenceCategory: fc.constant('PACKAGE-MANAGER'),
              referenceType: fc.constant('purl'),
              referenceLocator: fc.constantFrom('pkg:deb/debian/a@1', 'pkg:apk/wolfi/b@2', 'pkg:oci/c'),
            }),
            { maxLength: 2 },
          ),
          // A field no reader knows.
          comment: fc.jsonValue({ maxDepth: 2 }),
        },
        { requiredKeys: ['SPDXID', 'name'] },
      ),
      { maxLength: 5 },
    ),
    documentDescribes: fc.array(fc.stringMatching(/^SPDXRef-[A-Za-z0-9.-]{1,12}$/), { maxLength: 2 }),
    hasExtractedLicensingInfos: fc.array(
      fc.record({ licenseId: fc.constant('LicenseRef-x'), extractedText: fc.string({ maxLength: 10 }) }),
      {
        maxLength: 1,
      },
    ),
    extra: fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
  })
  // As JSON.parse makes it (fast-check may draw objects without a prototype).
  .map(({ extra, ...doc }) =>
    JSON.parse(JSON.stringify({ ...extra, spdxVersion: 'SPDX-2.3', dataLicense: 'CC0-1.0', SPDXID: 'SPDXRef-DOCUMENT', ...doc })),
  );

/** JSON's own whitespace, between tokens or around the text. */
const jsonSpace = fc.stringMatching(/^[ \t\r\n]{0,4}$/);

/** What the readers of a predicate make of it: report's packages and system, policy's packages, diff's packages. */
function readings(predicate: unknown, withDiff = true) {
  const statement: FoundStatement = { predicateType: SPDX, predicate, attachment: `sha256:${'0'.repeat(64)}`, signed: true };
  const sbom = sbomFrom([statement]);
  return {
    packages: sbom?.packages,
    system: sbom?.system,
    policy: sbomPackages(predicate).map((p) => ({ ...p, builtAt: p.builtAt?.toISOString() })),
    diff: withDiff ? packagesFromSbom([{ predicateType: SPDX, statement: { predicate }, signed: true }])?.packages : undefined,
  };
}

describe('an SPDX document attested as text, as its readers read it (property-based)', () => {
  it('reads a JSON document written with any indent, line ends and whitespace around it as the document itself', () => {
    fc.assert(
      fc.property(spdxDocument, fc.constantFrom(undefined, 0, 1, 2, '\t', '\r\n'), jsonSpace, jsonSpace, (doc, indent, before, after) => {
        let text = JSON.stringify(doc, null, indent === '\r\n' ? 1 : indent);
        if (indent === '\r\n') text = text.replaceAll('\n', '\r\n');
        const read = predicateDocument(`${before}${text}${after}`);
        assert.deepEqual(read, doc);
        assert.deepEqual(readings(`${before}${text}${after}`), readings(doc));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps any text that is not a JSON object as it is (a tag-value document among them), and finds no packages in it', () => {
    const tagValue = fc
      .array(
        fc.tuple(
          fc.constantFrom('SPDXVersion', 'DataLicense', 'PackageName', 'PackageVersion', 'SPDXID', 'Relationship', 'PackageComment'),
          fc.string({ maxLength: 20 }),
        ),
        { maxLength: 8 },
      )
      .chain((pairs) => fc.constantFrom('\n', '\r\n').map((eol) => pairs.map(([k, v]) => `${k}: ${v}`).join(eol)));
    fc.assert(
      fc.property(
        fc.oneof(
          tagValue,
          fc.string({ maxLength: 60 }),
          fc.jsonValue().map((v) => JSON.stringify(v) ?? 'null'),
        ),
        (text) => {
          const read = predicateDocument(text);
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          const isObject = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed);
          if (isObject) assert.deepEqual(read, parsed);
          else {
            assert.equal(read, text);
            assert.deepEqual(readings(text), { packages: [], system: undefined, policy: [], diff: undefined });
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it("reads any JSON as a document without a crash, as an object or as its text, nested to the statements' limit or past it", () => {
    const deep = fc.integer({ min: STATEMENT_DEPTH_LIMIT - 3, max: STATEMENT_DEPTH_LIMIT + 3 }).map((depth) => {
      let v: unknown = { packages: [{ name: 'a', primaryPackagePurpose: 'LIBRARY' }] };
      for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { packages: v };
      return v;
    });
    // Any JSON, in the places the readers look.
    const anywhere = fc
      .jsonValue({ maxDepth: 3 })
      .chain((v) =>
        fc.constantFrom(
          v,
          { packages: v },
          { packages: [v] },
          { packages: [{ name: 'a', primaryPackagePurpose: 'OPERATING_SYSTEM', versionInfo: v }] },
          { packages: [{ name: 'a', externalRefs: v }] },
          { packages: [{ name: 'a', externalRefs: [v] }] },
          { documentDescribes: v, hasExtractedLicensingInfos: v, packages: [{ name: 'a', licenseConcluded: v, SPDXID: v }] },
        ),
      );
    fc.assert(
      fc.property(fc.oneof(anywhere, deep), fc.boolean(), (value, asText) => {
        const predicate = asText ? JSON.stringify(value) : value;
        const document = predicateDocument(predicate);
        spdxPackages(document);
        spdxSystem(document);
        // (diff's packagesFromSbom is left out: it throws a TypeError on a package that is null.)
        readings(predicate, false);
      }),
      { numRuns: 500 },
    );
  });
});

describe('an SPDX document attested as text and read back (property-based)', () => {
  const tempDir = useTempDir('spdx-text');
  const tagValue = fc
    .array(
      fc.tuple(
        fc.constantFrom('SPDXVersion', 'PackageName', 'PackageVersion', 'PackageComment'),
        fc.string({ unit: 'binary', maxLength: 12 }),
      ),
      {
        minLength: 1,
        maxLength: 5,
      },
    )
    .chain((pairs) => fc.constantFrom('\n', '\r\n').map((eol) => `${pairs.map(([k, v]) => `${k}: ${v}`).join(eol)}${eol}`));

  it("reads back what attest wrote: the text byte for byte in cosign's storages, a JSON document's object in BuildKit's", async () => {
    const dir = await tempDir();
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          tagValue,
          fc.string({ unit: 'binary', maxLength: 40 }),
          fc.tuple(spdxDocument, jsonSpace).map(([doc, space]) => `${space}${JSON.stringify(doc, null, 1)}${space}`),
        ),
        fc.constantFrom('referrers' as const, 'buildkit' as const),
        async (text, mode) => {
          // A layout of its own each time, whose image holds this statement alone.
          const store = await LayoutStore.open(join(dir, `l${n++}`), { create: true });
          try {
            await makeImage(store, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }], layers: 1, layerBytes: 16 });
            await attachPredicate(store, 'v1', { predicateType: SPDX, predicate: text, name: 'oci:l:v1', mode });
            const read = await imageSbom(store, 'v1', 'oci:l:v1', { format: 'spdx', toolVersion: 'test' });
            assert.equal(read.generated, false);
            const document = predicateDocument(text);
            if (mode === 'buildkit' && typeof document === 'object') assert.deepEqual(read.document, document);
            else assert.equal(read.document, text);
          } finally {
            await store.close();
          }
        },
      ),
      { numRuns: 10 },
    );
  });
});
