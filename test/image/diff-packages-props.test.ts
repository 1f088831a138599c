// diff's packages of an attached SBOM of any JSON (property-based): read without a crash.
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { packagesFromSbom } from '../../src/image/diff-packages.ts';

describe("diff's packages of an attached SBOM of any JSON (property-based)", () => {
  it('reads any SPDX or CycloneDX predicate, as an object or its text, without a crash', () => {
    const anywhere = fc
      .jsonValue({ maxDepth: 3 })
      .chain((v) =>
        fc.constantFrom(
          v,
          { packages: [v] },
          { packages: [{ name: 'a', externalRefs: v }] },
          { packages: [{ name: 'a', externalRefs: [v] }] },
          { components: [v] },
        ),
      );
    fc.assert(
      fc.property(
        anywhere,
        fc.boolean(),
        fc.constantFrom('https://spdx.dev/Document', 'https://cyclonedx.org/bom'),
        (value, asText, predicateType) => {
          const predicate = asText ? JSON.stringify(value) : value;
          packagesFromSbom([{ predicateType, statement: { predicate }, signed: true }]);
        },
      ),
      { numRuns: 500 },
    );
  });
});
