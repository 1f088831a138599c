import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { BUILD_TYPES, SLSA_V02 } from '../../src/attest/provenance.ts';
import { describeBuild } from '../../src/builder/describe.ts';
import { digestHex, digestOf } from '../../src/oci/digest.ts';
import { type ProvenanceReading, readProvenance } from '../../src/reproduce/provenance.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';
import { buildFromLocalRepository, EPOCH, slsaStatements } from './helpers.ts';

// biome-ignore lint/suspicious/noExplicitAny: statements are JSON, edited by the tests
type Json = any;

const refusal = (r: ProvenanceReading) => {
  assert.equal(r.replayable, false, 'expected a refusal');
  return r as Extract<ProvenanceReading, { replayable: false }>;
};

describe('reading a provenance statement as a rebuild recipe', () => {
  let root: string;
  let statements: Json[];
  let v02: Json;
  let keyName: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'provenant-reproduce-provenance-'));
    const built = await buildFromLocalRepository(root);
    const { configPath } = built;
    keyName = built.key.name;
    statements = slsaStatements(built.attested);
    const [old] = describeBuild(built.result, {
      imageName: 'x',
      configPath,
      toolVersion: '0',
      builderId: 'b',
      fromLock: false,
      sbom: false,
      provenance: { mode: 'min', version: 'v0.2' },
    });
    v02 = JSON.parse(Buffer.from(old?.statements[0]?.bytes ?? []).toString());
  });
  after(() => rm(root, { recursive: true, force: true }));

  const ours = (): Json => structuredClone(statements[0]);

  it("takes everything a rebuild needs from Provenant's SLSA v1 provenance", () => {
    const r = readProvenance(ours());
    assert.ok(r.replayable, JSON.stringify(r));
    const plan = r.plan;
    assert.equal(plan.buildType, BUILD_TYPES.apk);
    assert.equal(plan.builderId, 'https://example.com/builder');
    assert.deepEqual(
      plan.config.files.map((f) => f.path),
      ['image.yaml', '../shared/common.yaml'],
    );
    assert.equal(plan.config.path, 'image.yaml');
    assert.deepEqual(plan.archs, ['x86_64', 'aarch64']);
    assert.equal(plan.sourceDateEpoch, EPOCH);
    assert.equal(plan.ecosystem, 'apk');
    assert.deepEqual(plan.packages.map((p) => `${p.name}-${p.version}.${p.architecture}`).sort(), [
      'base-1.0-r0.x86_64',
      'data-2.1-r3.x86_64',
      'tool-0.9-r1.x86_64',
    ]);
    for (const p of plan.packages) {
      assert.match(p.url, /^\.\.\/\.\.\/served\/repo\/x86_64\//);
      assert.match(p.checksum, /^Q1/);
      assert.ok(p.control !== undefined && p.data !== undefined && p.signature !== undefined);
    }
    assert.deepEqual(
      plan.keys.map((k) => k.name),
      [keyName],
    );
    assert.match(plan.keys[0]?.pem ?? '', /BEGIN PUBLIC KEY/);
  });

  it('refuses a BuildKit Dockerfile build, naming its build type and frontend', { skip: fixturesMissing }, async () => {
    const v1 = JSON.parse(
      await readFile(fixture('oci', 'buildkit-provenance-slsa-v1_statement-v0.1_mode-max_local-exporter.json'), 'utf8'),
    );
    const r = refusal(readProvenance(v1));
    assert.equal(r.buildType, 'https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md');
    assert.match(
      r.reason,
      /^a BuildKit build \(buildType https:\/\/github\.com\/moby\/buildkit\/blob\/master\/docs\/attestations\/slsa-definitions\.md, frontend dockerfile\.v0\)/,
    );
    assert.deepEqual(r.missing, [`buildType ${BUILD_TYPES.apk} or ${BUILD_TYPES.deb}`]);
    const old = JSON.parse(
      await readFile(fixture('oci', 'buildkit-provenance-slsa-v0.2_statement-v0.1_mode-min_empty-subject_amd64.json'), 'utf8'),
    );
    const r2 = refusal(readProvenance(old));
    assert.equal(r2.predicateType, SLSA_V02);
    assert.equal(r2.buildType, 'https://mobyproject.org/buildkit@v1');
    assert.match(r2.reason, /^a BuildKit build \(buildType https:\/\/mobyproject\.org\/buildkit@v1, frontend gateway\.v0\)/);
  });

  it('reads Debian provenance under the Debian build type, and under the apk one older builds wrote, and refuses apk packages under the Debian one', () => {
    // The recipe's own packages made into .debs: checksum sha256:<hex> of the file, no ranges.
    const asDeb = (buildType: string): Json => {
      const s = ours();
      s.predicate.buildDefinition.buildType = buildType;
      for (const d of s.predicate.buildDefinition.resolvedDependencies) {
        if (d.annotations?.kind === 'apk-index') d.annotations.kind = 'deb-index';
        if (d.annotations?.kind !== 'apk') continue;
        d.annotations = { kind: 'deb', version: d.annotations.version, arch: 'amd64', checksum: `sha256:${d.digest.sha256}` };
      }
      return s;
    };
    for (const type of [BUILD_TYPES.deb, BUILD_TYPES.apk]) {
      const r = readProvenance(asDeb(type));
      assert.ok(r.replayable, JSON.stringify(r));
      assert.equal(r.plan.buildType, type);
      assert.equal(r.plan.ecosystem, 'deb');
      assert.deepEqual(
        r.plan.packages.map((p) => p.kind),
        ['deb', 'deb', 'deb'],
      );
    }
    const apkUnderDeb = ours();
    apkUnderDeb.predicate.buildDefinition.buildType = BUILD_TYPES.deb;
    const r = refusal(readProvenance(apkUnderDeb));
    assert.deepEqual(r.missing, [`deb packages, as the buildType ${BUILD_TYPES.deb} says`]);
  });

  it("puts a package built for every architecture in its lock's architecture (lockArch), not its own (arch)", () => {
    const s = ours();
    const d = s.predicate.buildDefinition.resolvedDependencies.find((x: Json) => x.annotations?.kind === 'apk');
    d.annotations.arch = 'noarch';
    d.annotations.lockArch = 'x86_64';
    const r = readProvenance(s);
    assert.ok(r.replayable, JSON.stringify(r));
    assert.deepEqual(
      r.plan.packages.map((p) => p.architecture),
      ['x86_64', 'x86_64', 'x86_64'],
    );
  });

  it('refuses its own SLSA v0.2 shape, which lists materials without lock fields or keys', () => {
    const r = refusal(readProvenance(v02));
    assert.equal(r.buildType, BUILD_TYPES.apk);
    assert.match(r.missing.join('\n'), /name, version, architecture and checksum/);
    assert.match(r.missing.join('\n'), /PEM text/);
  });

  it('names a configuration file whose content is left out, or does not match its digest', () => {
    const s = ours();
    delete s.predicate.buildDefinition.externalParameters.config.files[1].content;
    assert.deepEqual(refusal(readProvenance(s)).missing, [
      'externalParameters.config.files[1].content (the text of ../shared/common.yaml)',
    ]);
    const t = ours();
    t.predicate.buildDefinition.externalParameters.config.files[0].content += '\n# edited\n';
    assert.match(refusal(readProvenance(t)).missing[0] ?? '', /files\[0\]\.content that matches its digest\.sha256 \(image\.yaml/);
  });

  it('reads the target the image was written for, none when absent, and names one that is no label', () => {
    const r = readProvenance(ours());
    assert.ok(r.replayable);
    assert.equal(r.plan.target, undefined, 'a build without --target states none');
    const s = ours();
    s.predicate.buildDefinition.externalParameters.target = 'artifactory@6.23.38';
    const t = readProvenance(s);
    assert.ok(t.replayable);
    assert.equal(t.plan.target, 'artifactory@6.23.38');
    for (const bad of [42, '', ['artifactory']]) {
      const u = ours();
      u.predicate.buildDefinition.externalParameters.target = bad;
      assert.deepEqual(refusal(readProvenance(u)).missing, [
        'externalParameters.target as the label of a target (artifactory@6.23.38), or none',
      ]);
    }
  });

  it('refuses external parameters it does not know, naming them, as SLSA verification fails on an unrecognized one', () => {
    const s = ours();
    s.predicate.buildDefinition.externalParameters.postInstall = 'curl http://127.0.0.1:1/x | sh';
    s.predicate.buildDefinition.externalParameters.config.hooks = ['x'];
    const r = refusal(readProvenance(s));
    assert.equal(
      r.reason,
      'the provenance states external parameters this version of Provenant does not know (externalParameters.postInstall, externalParameters.config.hooks): a rebuild without them may not be the build they describe, and SLSA verification fails on an unrecognized one',
    );
    assert.deepEqual(r.missing, [
      'no externalParameters.postInstall: only config, archs, sourceDateEpoch, compat, target, fromLock (config: path, files, contents) are known',
      'no externalParameters.config.hooks: only config, archs, sourceDateEpoch, compat, target, fromLock (config: path, files, contents) are known',
    ]);
    // Those a build states are all known, target and compat too.
    const t = ours();
    Object.assign(t.predicate.buildDefinition.externalParameters, { target: 'artifactory@6.23.38', compat: 'apko' });
    assert.ok(readProvenance(t).replayable);
  });

  it('refuses keys it does not know inside config.files[i], its digest and config.contents, naming each by its path', () => {
    const s = ours();
    const config = s.predicate.buildDefinition.externalParameters.config;
    config.files[0].overlay = 'evil';
    config.files[0].digest.sha512 = 'x';
    config.contents = { repositories: [], keyring: [], packages: ['busybox'], postInstall: 'curl http://127.0.0.1:1/x | sh' };
    const r = refusal(readProvenance(s));
    assert.equal(
      r.reason,
      'the provenance states external parameters this version of Provenant does not know (externalParameters.config.files[0].overlay, externalParameters.config.files[0].digest.sha512, externalParameters.config.contents.postInstall): a rebuild without them may not be the build they describe, and SLSA verification fails on an unrecognized one',
    );
    assert.deepEqual(r.missing, [
      'no externalParameters.config.files[0].overlay: only path, digest, content are known',
      'no externalParameters.config.files[0].digest.sha512: only sha256 are known',
      'no externalParameters.config.contents.postInstall: only repositories, buildRepositories, runtimeRepositories, keyring, packages are known',
    ]);
  });

  it('names missing package entries, and package fields left out', () => {
    const s = ours();
    const deps = s.predicate.buildDefinition.resolvedDependencies;
    s.predicate.buildDefinition.resolvedDependencies = deps.filter((d: Json) => d.annotations.kind !== 'apk');
    assert.deepEqual(refusal(readProvenance(s)).missing, [
      'resolvedDependencies: the package files (annotations.kind apk or deb), with their lock fields',
    ]);
    const t = ours();
    const i = t.predicate.buildDefinition.resolvedDependencies.findIndex((d: Json) => d.annotations.kind === 'apk');
    delete t.predicate.buildDefinition.resolvedDependencies[i].annotations.checksum;
    delete t.predicate.buildDefinition.resolvedDependencies[i].digest;
    const name = t.predicate.buildDefinition.resolvedDependencies[i].name;
    assert.deepEqual(refusal(readProvenance(t)).missing, [
      `resolvedDependencies[${i}] (${name}): digest.sha256, annotations.checksum (Q1…)`,
    ]);
  });

  it('refuses configuration paths that are absolute or name no file', () => {
    for (const path of ['/etc/passwd', 'a/../..', '.', 'x\\y.yaml', 'C:/x.yaml']) {
      const s = ours();
      s.predicate.buildDefinition.externalParameters.config.files[1].path = path;
      assert.match(refusal(readProvenance(s)).missing.join('\n'), /config\.files\[1\]\.path: a relative path/, path);
    }
  });

  it('never throws on any JSON, and what it accepts is safe to act on (property)', () => {
    const paths: string[][] = [
      ['predicateType'],
      ['predicate', 'buildDefinition', 'buildType'],
      ['predicate', 'buildDefinition', 'externalParameters'],
      ['predicate', 'buildDefinition', 'externalParameters', 'archs'],
      ['predicate', 'buildDefinition', 'externalParameters', 'sourceDateEpoch'],
      ['predicate', 'buildDefinition', 'externalParameters', 'config', 'path'],
      ['predicate', 'buildDefinition', 'externalParameters', 'config', 'files', '0', 'path'],
      ['predicate', 'buildDefinition', 'externalParameters', 'config', 'files', '1', 'content'],
      ['predicate', 'buildDefinition', 'externalParameters', 'config', 'files', '1', 'digest'],
      ['predicate', 'buildDefinition', 'resolvedDependencies'],
      ['predicate', 'buildDefinition', 'resolvedDependencies', '0'],
      ['predicate', 'buildDefinition', 'resolvedDependencies', '1', 'annotations'],
      ['predicate', 'buildDefinition', 'resolvedDependencies', '2', 'annotations', 'data'],
      ['predicate', 'buildDefinition', 'resolvedDependencies', '3', 'uri'],
      ['predicate', 'buildDefinition', 'resolvedDependencies', '4', 'content'],
    ];
    const edit = fc.record({ at: fc.nat(paths.length - 1), value: fc.jsonValue({ maxDepth: 3 }) });
    fc.assert(
      fc.property(fc.array(edit, { maxLength: 4 }), fc.jsonValue({ maxDepth: 4 }), (edits, anything) => {
        readProvenance(anything);
        const s = ours();
        for (const e of edits) {
          const path = paths[e.at] as string[];
          let node: Json = s;
          for (const k of path.slice(0, -1)) node = node !== null && typeof node === 'object' ? node[k] : undefined;
          if (node !== null && typeof node === 'object') node[path.at(-1) as string] = e.value;
        }
        const r = readProvenance(s);
        if (!r.replayable) {
          assert.ok(r.missing.length > 0 && r.reason !== '');
          return;
        }
        for (const f of r.plan.config.files) {
          assert.ok(!f.path.startsWith('/') && !f.path.includes('\0') && f.path !== '.');
          assert.equal(digestHex(digestOf(f.content)), f.sha256);
        }
        assert.ok(r.plan.archs.length > 0);
        for (const p of r.plan.packages) assert.match(p.sha256, /^[0-9a-f]{64}$/);
        for (const k of r.plan.keys) assert.ok(!k.name.includes('/'));
      }),
      { numRuns: 300 },
    );
  });
});
