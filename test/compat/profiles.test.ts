// Target profiles: the bundled ones, version ranges, and the parser on arbitrary input.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compareVersions, inRange, loadProfiles, parseProfile, parseVersionRange, selectTargets } from '../../src/compat/profile.ts';
import { isProvenantError } from '../../src/errors.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('profiles');

const REQUIRED = [
  'aws-lambda',
  'google-cloud-run',
  'amazon-ecr',
  'amazon-ecr-public',
  'ghcr',
  'docker-hub',
  'google-artifact-registry',
  'azure-acr',
  'azure-aci',
  'azure-functions',
  'gitlab',
  'artifactory',
  'harbor',
  'quay',
  'distribution',
  'alibaba-acr',
  'containerd',
  'docker-engine',
  'ecs-fargate',
  'kubernetes',
];

const MINIMAL = `id: x
name: X
kind: registry
summary: s
rules:
  - id: r
    detect: is-index
    severity: refuses
    error: null
    why: w
    fix: null
    certainty: reported
    sources: [https://example.org/1]
`;

function expectConfigError(text: string, file: string, line: number, pattern: RegExp): void {
  assert.throws(
    () => parseProfile(text, file),
    (e: unknown) => isProvenantError(e, 'INVALID_CONFIG') && e.where === `${file}:${line}` && pattern.test(e.message),
  );
}

describe('profiles', () => {
  it('ships every target the issue names, each valid, with sources unless marked unverified', async () => {
    const profiles = await loadProfiles();
    const ids = profiles.map((p) => p.id);
    for (const id of REQUIRED) assert.ok(ids.includes(id), `missing profile ${id}`);
    for (const p of profiles) {
      assert.ok(p.rules.length > 0, p.id);
      for (const r of p.rules) {
        if (r.certainty !== 'unverified') assert.ok(r.sources.length > 0, `${p.id}/${r.id} has no source`);
        for (const s of r.sources) assert.match(s, /^https:\/\//);
      }
    }
  });

  it('reads a minimal profile and fills in detector defaults', () => {
    const p = parseProfile(MINIMAL.replace('detect: is-index', 'detect: has-unknown-platform-entries'), '/p/x.yaml');
    assert.equal(p.rules[0]!.error, undefined);
    assert.deepEqual(p.rules[0]!.with, { kinds: ['unknown'] });
  });

  it('reports mistakes as file:line with the key', () => {
    expectConfigError(MINIMAL.replace('kind: registry', 'kind: registry\ncolour: red'), '/p/x.yaml', 4, /colour: unknown key/);
    expectConfigError(
      MINIMAL.replace('detect: is-index', 'detect: is-indx'),
      '/p/x.yaml',
      7,
      /rules\[0\]\.detect: unknown detector "is-indx"/,
    );
    expectConfigError(
      MINIMAL.replace('detect: is-index', 'detect: layer-compression\n    with: {refuse: [brotli]}'),
      '/p/x.yaml',
      8,
      /with\.refuse: item 1: "brotli" is not one of/,
    );
    expectConfigError(
      MINIMAL.replace('detect: is-index', 'detect: is-index\n    with: {x: 1}'),
      '/p/x.yaml',
      8,
      /with\.x: unknown parameter/,
    );
    expectConfigError(MINIMAL.replace('sources: [https://example.org/1]', 'sources: []'), '/p/x.yaml', 13, /needs a public source/);
    expectConfigError(MINIMAL.replace('fix: null', 'fix: rebuild'), '/p/x.yaml', 11, /unknown fix "rebuild"/);
    // A missing key is reported at the rule that lacks it.
    expectConfigError(MINIMAL.replace('    fix: null\n', ''), '/p/x.yaml', 6, /fix: is required/);
    expectConfigError(
      MINIMAL.replace('summary: s', 'summary: s\nversions: {assume: 20.10}'),
      '/p/x.yaml',
      5,
      /quote the version \("20\.10"\)/,
    );
    expectConfigError(MINIMAL.replace('    why: w', '    why: w\n    versions: "< 2"'), '/p/x.yaml', 11, /has no versions/);
    expectConfigError(MINIMAL, '/p/y.yaml', 1, /must match the file name \(y\)/);
    expectConfigError('id: [unclosed', '/p/x.yaml', 1, /not valid YAML/);
  });

  it('selects targets by id and version, and says what is wrong', async () => {
    const profiles = await loadProfiles();
    const [lambda, old] = selectTargets(profiles, 'aws-lambda, artifactory@6.23.38');
    assert.equal(lambda!.label, 'aws-lambda');
    assert.equal(old!.version, '6.23.38');
    assert.equal(old!.assumed, false);
    const [current] = selectTargets(profiles, 'artifactory');
    assert.equal(current!.assumed, true);
    assert.equal(current!.version, '7.90.1');
    // Each target once, in the order first named: twice, or bare and at its assumed version.
    assert.deepEqual(
      selectTargets(profiles, 'aws-lambda,artifactory,aws-lambda,artifactory@7.90.1').map((t) => t.label),
      ['aws-lambda', 'artifactory@7.90.1'],
    );
    assert.throws(
      () => selectTargets(profiles, 'lambda'),
      (e: unknown) => isProvenantError(e, 'USAGE') && /aws-lambda/.test(e.hint ?? ''),
    );
    assert.throws(
      () => selectTargets(profiles, 'aws-lambda@2'),
      (e: unknown) => isProvenantError(e, 'USAGE'),
    );
    assert.throws(
      () => selectTargets(profiles, 'artifactory@latest'),
      (e: unknown) => isProvenantError(e, 'USAGE'),
    );
    assert.throws(
      () => selectTargets(profiles, ' , '),
      (e: unknown) => isProvenantError(e, 'USAGE'),
    );
  });

  it('reads extra profile folders, which add or replace targets by id', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'x.yaml'), MINIMAL);
    const profiles = await loadProfiles({ extraDirs: [dir] });
    assert.ok(profiles.some((p) => p.id === 'x'));
    await writeFile(join(dir, 'x.yaml'), MINIMAL.replace('kind: registry', 'kind: cloud'));
    await assert.rejects(
      loadProfiles({ extraDirs: [dir] }),
      (e: unknown) => isProvenantError(e, 'INVALID_CONFIG') && /x\.yaml:3$/.test(e.where ?? ''),
    );
  });
});

describe('version ranges', () => {
  const version = fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 4 }).map((a) => a.join('.'));

  it('a version is below v or at least v, never both', () => {
    fc.assert(
      fc.property(version, version, (v, w) => {
        const below = inRange(v, parseVersionRange(`< ${w}`));
        const atLeast = inRange(v, parseVersionRange(`>= ${w}`));
        assert.notEqual(below, atLeast);
        assert.equal(below, compareVersions(v.split('.').map(Number), w.split('.').map(Number)) < 0);
      }),
    );
  });

  it('missing segments count as zero: 19.03 = 19.3.0', () => {
    assert.ok(inRange('19.3.0', parseVersionRange('= 19.03')));
    assert.ok(inRange('19.03.12', parseVersionRange('>= 19.03 < 20.10')));
    assert.ok(!inRange('20.10', parseVersionRange('>= 19.03 < 20.10')));
  });

  it('refuses anything that is not comparators, with an Error (never a crash)', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        try {
          const r = parseVersionRange(text);
          assert.ok(r.comparators.length > 0);
        } catch (e) {
          assert.ok(e instanceof Error && /version range|comparator/.test(e.message));
        }
      }),
    );
  });
});

describe('profile parser on arbitrary input', () => {
  it('either reads a profile or throws INVALID_CONFIG, whatever the bytes', () => {
    const yamlish = fc.oneof(
      fc.string(),
      fc
        .constantFrom(MINIMAL)
        .chain((m) => fc.tuple(fc.nat(m.length), fc.string({ maxLength: 12 })).map(([at, s]) => m.slice(0, at) + s + m.slice(at))),
    );
    fc.assert(
      fc.property(yamlish, (text) => {
        try {
          parseProfile(text, '/p/x.yaml');
        } catch (e) {
          assert.ok(isProvenantError(e, 'INVALID_CONFIG'), String(e));
        }
      }),
      { numRuns: 500 },
    );
  });
});
