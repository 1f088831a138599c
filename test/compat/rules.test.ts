/**
 * Every rule of every profile: one image that breaks it, one that passes, and, where the rule
 * names a fix, the broken image fixed and checked again against the same profile.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArtifactType } from '../../src/attest/attachments.ts';
import { checkImage } from '../../src/compat/check.ts';
import { fixImage } from '../../src/compat/fix.ts';
import { type ImageGraph, readImageGraph } from '../../src/compat/graph.ts';
import { listParam, numberParam, stringParam } from '../../src/compat/params.ts';
import type { ReferrersProbe } from '../../src/compat/probe.ts';
import { inRange, loadProfiles, type Profile, parseVersion, type Rule, targetOf } from '../../src/compat/profile.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import { parsePlatform } from '../../src/oci/platform.ts';
import { useTempLayout } from '../helpers/temp.ts';
import { type SynthOptions, synth } from './images.ts';

const layout = useTempLayout('compat');

const ABSENT: ReferrersProbe = {
  registry: 'test',
  repository: 'x',
  api: 'absent',
  detail: 'a test probe that found no referrers API',
  ofTargets: true,
};
const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

interface Case {
  breaks: SynthOptions;
  passes: SynthOptions;
  probe?: ReferrersProbe;
}

/** An image that breaks the rule and one that does not, from the detector and its parameters. */
function caseFor(rule: Rule): Case {
  const p = rule.with;
  switch (rule.detect) {
    case 'is-index':
      // One platform plus an attestation entry: the shape Lambda users hit.
      return { breaks: { attestations: 'legacy' }, passes: {} };
    case 'has-unknown-platform-entries':
      return listParam(p, 'kinds').includes('unknown')
        ? { breaks: { attestations: 'legacy' }, passes: { platforms: [parsePlatform('linux/amd64'), parsePlatform('linux/arm64')] } }
        : // BuildKit's unknown/unknown entries are fine where only linux/"" entries are not.
          { breaks: { emptyPlatformArtifact: true }, passes: { attestations: 'legacy' } };
    case 'has-artifact-type': {
      const types = listParam(p, 'types');
      const scopes = listParam(p, 'in');
      if (scopes.includes('index-entries') && (types.length === 0 || types.includes(ArtifactType.BuildkitAttestation))) {
        return { breaks: { attestations: 'oci-artifact' }, passes: { attestations: 'legacy' } };
      }
      const type = types[0] ?? BUNDLE;
      return {
        breaks: { referrers: [{ on: 'image', artifactType: type }] },
        passes: { referrers: [{ on: 'image', artifactType: 'application/vnd.example.other' }] },
      };
    }
    case 'has-empty-config':
      return listParam(p, 'in').includes('index-entries')
        ? { breaks: { attestations: 'oci-artifact' }, passes: { attestations: 'legacy' } }
        : {
            breaks: { referrers: [{ on: 'image', artifactType: BUNDLE }] },
            passes: { referrers: [{ on: 'image', artifactType: BUNDLE, config: 'application/vnd.example.config' }] },
          };
    case 'has-subject-on-index-referrer': {
      const type = listParam(p, 'kinds').includes('sbom') ? ArtifactType.SpdxJson : ArtifactType.CosignSignature;
      return {
        breaks: { index: true, referrers: [{ on: 'index', artifactType: type }] },
        passes: { index: true, referrers: [{ on: 'image', artifactType: type }] },
      };
    }
    case 'has-referrer-in-index':
      return { breaks: { attestations: 'oci-artifact' }, passes: { attestations: 'legacy' } };
    case 'referrer-without-artifact-type':
      return {
        breaks: { referrers: [{ on: 'image', artifactType: undefined, config: 'application/vnd.cncf.notary.signature' }] },
        passes: { referrers: [{ on: 'image', artifactType: 'application/vnd.cncf.notary.signature' }] },
      };
    case 'media-types':
      return stringParam(p, 'require') === 'docker'
        ? { breaks: {}, passes: { mediaTypes: 'docker' } }
        : { breaks: { mediaTypes: 'docker' }, passes: {} };
    case 'layer-compression': {
      const refuse = listParam(p, 'refuse');
      const breaks: SynthOptions = refuse.includes('zstd')
        ? { layer: 'zstd' }
        : refuse.includes('uncompressed-docker')
          ? { layer: 'uncompressed', mediaTypes: 'docker' }
          : refuse.includes('uncompressed')
            ? { layer: 'uncompressed' }
            : { layer: 'gzip' };
      return { breaks, passes: refuse.includes('gzip') ? { layer: 'zstd' } : { layer: 'gzip' } };
    }
    case 'missing-platform': {
      const wanted = listParam(p, 'platforms').map((t) => parsePlatform(t));
      return { breaks: { platforms: [parsePlatform('linux/s390x')], index: false }, passes: { platforms: wanted } };
    }
    case 'needs-referrers-api':
      return { breaks: { referrers: [{ on: 'image', artifactType: ArtifactType.BuildkitAttestation }] }, passes: {}, probe: ABSENT };
    case 'layer-size-limit':
      return { breaks: { hugeLayer: numberParam(p, 'max-bytes') + 1 }, passes: {} };
    case 'non-image-manifest':
      return { breaks: { attestations: 'legacy', rootIsAttestation: true }, passes: { attestations: 'legacy' } };
  }
}

/** A version of the profile in the rule's range (the assumed one when it fits). */
function versionFor(profile: Profile, rule: Rule): string | undefined {
  if (profile.versions === undefined) return undefined;
  if (rule.versions === undefined) return profile.versions.assume;
  const candidates = [profile.versions.assume];
  for (const c of rule.versions.comparators) {
    const v = c.version;
    candidates.push(v.join('.'), [...v.slice(0, -1), v[v.length - 1]! + 1].join('.'), `${v.join('.')}.1`);
    for (let i = v.length - 1; i >= 0; i--) {
      if (v[i]! > 0) {
        candidates.push([...v.slice(0, i), v[i]! - 1, ...v.slice(i + 1)].join('.'));
        break;
      }
    }
  }
  const found = candidates.find((c) => inRange(c, rule.versions!));
  assert.ok(found !== undefined, `no version found in ${rule.versions.text}`);
  parseVersion(found);
  return found;
}

function inTotoLayers(graph: ImageGraph): Set<string> {
  const out = new Set<string>();
  for (const s of [...graph.indexEntries.map((e) => e.stored), ...graph.attachments.map((a) => a.stored)]) {
    if (s?.kind !== 'manifest') continue;
    for (const l of s.manifest.layers) if (l.mediaType === MediaType.InToto) out.add(l.digest);
  }
  return out;
}

const profiles = await loadProfiles();

for (const profile of profiles) {
  describe(`profile ${profile.id}`, () => {
    for (const rule of profile.rules) {
      it(`${rule.id}: an image that breaks it, one that passes${rule.fix ? `, and the fix (${rule.fix.id})` : ''}`, async () => {
        const target = targetOf(profile, versionFor(profile, rule));
        const c = caseFor(rule);
        const probe = c.probe ?? false;

        const broken = await layout();
        const b = await synth(broken, c.breaks);
        const before = await checkImage(broken, b.tag, [target], { probe });
        const problem = before.targets[0]!.problems.find((x) => x.rule === rule.id);
        assert.ok(problem !== undefined, `${profile.id}/${rule.id} did not fire on its breaking image`);
        assert.equal(problem.severity, rule.severity);
        assert.ok(problem.findings.length > 0);
        if (rule.error !== undefined) assert.ok(problem.error !== undefined && !problem.error.includes('{image}'));
        if (rule.severity === 'refuses') assert.equal(before.targets[0]!.verdict, 'refused');

        const fine = await layout();
        const g = await synth(fine, c.passes);
        const passing = await checkImage(fine, g.tag, [target], { probe });
        assert.equal(
          passing.targets[0]!.problems.find((x) => x.rule === rule.id),
          undefined,
          `${profile.id}/${rule.id} fired on its passing image`,
        );

        if (rule.fix === undefined) return;
        const dst = await layout();
        const fixed = await fixImage(broken, b.tag, dst, target, { tags: ['fixed'], include: 'all', probe });
        assert.ok(fixed.written, fixed.account.join('\n'));
        assert.ok(fixed.applied.some((a) => a.fix === rule.fix!.id && a.rules.includes(rule.id)));
        const again = await checkImage(dst, 'fixed', [target], { probe });
        const left = again.targets[0]!.problems;
        assert.equal(
          left.find((x) => x.rule === rule.id),
          undefined,
          `${profile.id}/${rule.id} still fires after the fix:\n${fixed.account.join('\n')}`,
        );
        const refusedBefore = new Set(before.targets[0]!.problems.filter((x) => x.severity === 'refuses').map((x) => x.rule));
        for (const x of left) if (x.severity === 'refuses') assert.ok(refusedBefore.has(x.rule), `the fix made ${x.rule} fire`);
        // Attestations are moved, never lost, but for those whose statements name a digest the fix
        // replaced: those are left out, and named.
        const had = inTotoLayers(await readImageGraph(broken, b.tag));
        const has = inTotoLayers(await readImageGraph(dst, 'fixed'));
        const leftOut = new Set<string>();
        for (const l of fixed.statementsLeftOut) {
          const m = await broken.getManifest(l.attestation);
          if (m.kind === 'manifest') for (const layer of m.manifest.layers) leftOut.add(layer.digest);
        }
        for (const l of had) {
          if (leftOut.has(l)) assert.ok(!has.has(l), `statement layer ${l} was left out, yet carried:\n${fixed.account.join('\n')}`);
          else assert.ok(has.has(l), `statement layer ${l} was lost by the fix:\n${fixed.account.join('\n')}`);
        }
        assert.deepEqual(
          fixed.after?.problems.map((x) => x.rule),
          left.map((x) => x.rule),
        );
      });
    }
  });
}

describe('Amazon ECR and ECR Public: the layer limits of their quota pages, to the byte', () => {
  const MiB = 1024 * 1024;
  // [layer size, amazon-ecr refuses it, amazon-ecr-public refuses it]
  const cases: ReadonlyArray<readonly [number, boolean, boolean]> = [
    [10_000 * MiB, false, false],
    [10_000 * MiB + 1, false, true],
    [30_000 * MiB, false, true],
    [52_000 * MiB, false, true],
    [52_000 * MiB + 1, true, true],
  ];
  for (const [size, byPrivate, byPublic] of cases) {
    it(`a ${size.toLocaleString('en-US')}-byte layer: ${byPrivate ? 'refused' : 'accepted'} by ECR, ${byPublic ? 'refused' : 'accepted'} by ECR Public`, async () => {
      const store = await layout();
      const image = await synth(store, { hugeLayer: size });
      const targets = ['amazon-ecr', 'amazon-ecr-public'].map((id) => targetOf(profiles.find((p) => p.id === id)!));
      const report = await checkImage(store, image.tag, targets, { probe: false });
      for (const [i, refused] of [byPrivate, byPublic].entries()) {
        const t = report.targets[i]!;
        const problem = t.problems.find((p) => p.rule === 'layer-size');
        assert.equal(problem !== undefined, refused, `${t.target}: ${JSON.stringify(t.problems.map((p) => p.rule))}`);
        assert.equal(t.verdict, refused ? 'refused' : 'accepted', t.target);
      }
    });
  }
});
