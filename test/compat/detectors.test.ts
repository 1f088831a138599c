/**
 * Detectors and transforms over arbitrary (schema-valid) manifests, as a registry may serve them:
 * every check returns a report, and a transform either gives a plan or a ProvenantError.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkGraph } from '../../src/compat/check.ts';
import { DETECTORS, layerCompression } from '../../src/compat/detectors.ts';
import type { ImageGraph } from '../../src/compat/graph.ts';
import { planFromGraph } from '../../src/compat/plan.ts';
import { loadProfiles, targetOf } from '../../src/compat/profile.ts';
import { TRANSFORMS } from '../../src/compat/transforms.ts';
import { isProvenantError } from '../../src/errors.ts';
import { descriptorOf, encodeJson, parseStored, type Stored } from '../../src/oci/content.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import { Annotation, type Descriptor, type Platform } from '../../src/oci/types.ts';

const profiles = await loadProfiles();

const mediaType = fc.constantFrom(
  MediaType.OciLayerGzip,
  MediaType.OciLayerZstd,
  MediaType.OciLayer,
  MediaType.DockerLayerGzip,
  'application/vnd.docker.image.rootfs.diff.tar',
  'application/vnd.docker.image.rootfs.diff.tar.zstd',
  MediaType.InToto,
  'application/vnd.example.thing',
);
const configType = fc.constantFrom(MediaType.OciConfig, MediaType.DockerConfig, MediaType.OciEmpty, 'application/vnd.example.config');
const platform: fc.Arbitrary<Platform | undefined> = fc.option(
  fc.record({
    os: fc.constantFrom('linux', 'unknown', '', 'windows'),
    architecture: fc.constantFrom('amd64', 'arm64', 'unknown', '', 's390x'),
  }),
  { nil: undefined },
);
const blob = (seed: string, type: string, size: number): Descriptor => ({ mediaType: type, digest: digestOf(seed), size });

const manifestArb = fc.record({
  docker: fc.boolean(),
  config: configType,
  layers: fc.array(fc.tuple(mediaType, fc.nat(2 ** 40)), { minLength: 1, maxLength: 3 }),
  artifactType: fc.option(fc.constantFrom('application/vnd.docker.attestation.manifest.v1+json', 'application/spdx+json'), {
    nil: undefined,
  }),
  seed: fc.string({ maxLength: 6 }),
});

type ManifestSpec = typeof manifestArb extends fc.Arbitrary<infer T> ? T : never;

function manifest(m: ManifestSpec, subject?: Stored): Stored {
  const doc = {
    schemaVersion: 2,
    mediaType: m.docker ? MediaType.DockerManifest : MediaType.OciManifest,
    ...(m.artifactType === undefined ? {} : { artifactType: m.artifactType }),
    config: blob(`c${m.seed}`, m.config, 2),
    layers: m.layers.map(([t, size], i) => blob(`l${m.seed}${i}`, t, size)),
    ...(subject === undefined ? {} : { subject: descriptorOf(subject) }),
  };
  return parseStored(encodeJson(doc));
}

const graphArb = fc.record({
  images: fc.array(fc.tuple(manifestArb, platform), { minLength: 1, maxLength: 3 }),
  entries: fc.array(fc.tuple(manifestArb, platform, fc.boolean(), fc.boolean()), { maxLength: 3 }),
  attached: fc.array(fc.tuple(manifestArb, fc.boolean()), { maxLength: 3 }),
  asIndex: fc.boolean(),
});

type GraphSpec = typeof graphArb extends fc.Arbitrary<infer T> ? T : never;

function graphOf(g: GraphSpec): ImageGraph {
  const images = g.images.map(([m, p], i) => ({ stored: manifest({ ...m, seed: `${m.seed}i${i}` }), platform: p }));
  const first = images[0]!.stored;
  const entries = g.entries.map(([m, p, withSubject, annotated], i) => {
    const stored = manifest({ ...m, seed: `${m.seed}e${i}` }, withSubject ? first : undefined);
    const entry = descriptorOf(stored, {
      ...(p === undefined ? {} : { platform: p }),
      ...(annotated
        ? { annotations: { [Annotation.DockerReferenceType]: 'attestation-manifest', [Annotation.DockerReferenceDigest]: first.digest } }
        : {}),
    });
    return { entry, stored, subject: withSubject || annotated ? first.digest : undefined, kind: 'attestation' as const };
  });
  const root =
    g.asIndex || images.length > 1
      ? parseStored(
          encodeJson({
            schemaVersion: 2,
            mediaType: MediaType.OciIndex,
            manifests: [
              ...images.map((i) => descriptorOf(i.stored, i.platform ? { platform: i.platform } : {})),
              ...entries.map((e) => e.entry),
            ],
          }),
        )
      : first;
  const attachments = g.attached.map(([m, onRoot], i) => {
    const subject = onRoot ? root : first;
    const stored = manifest({ ...m, seed: `${m.seed}a${i}` }, subject);
    return {
      stored,
      attachment: {
        storage: 'referrers' as const,
        kind: 'attestation' as const,
        subject: subject.digest,
        digest: stored.digest,
        mediaType: stored.mediaType,
        size: stored.bytes.byteLength,
        predicateTypes: [],
      },
    };
  });
  return {
    location: 'test',
    root,
    nested: [],
    images:
      root.kind === 'index'
        ? images.map((i) => ({ stored: i.stored, entry: descriptorOf(i.stored), platform: i.platform }))
        : [{ stored: first, entry: undefined, platform: images[0]!.platform }],
    indexEntries: root.kind === 'index' ? entries : [],
    attachments,
    notes: [],
  };
}

describe('detectors and transforms on arbitrary manifests', () => {
  it('every profile checks every graph without throwing, and every finding names what it is about', () => {
    const targets = profiles.map((p) => targetOf(p));
    fc.assert(
      fc.property(graphArb, (g) => {
        const graph = graphOf(g);
        const report = checkGraph(graph, targets, { reference: 'x' });
        assert.equal(report.targets.length, targets.length);
        for (const t of report.targets) {
          for (const p of t.problems) for (const f of p.findings) assert.ok(f.detail.length > 0);
          assert.equal(
            t.verdict === 'refused',
            t.problems.some((p) => p.severity === 'refuses'),
          );
        }
      }),
      { numRuns: 200 },
    );
  });

  it('every transform gives a plan or a ProvenantError, and keeps the root in the plan', () => {
    fc.assert(
      fc.property(graphArb, fc.constantFrom(...(Object.keys(TRANSFORMS) as (keyof typeof TRANSFORMS)[])), (g, fix) => {
        const plan = planFromGraph(graphOf(g));
        const params =
          fix === 'move-attestations'
            ? {
                which: ['index-entries', 'referrers'],
                to: 'cosign-tag',
                config: 'image',
                kinds: ['attestation', 'sbom', 'signature', 'other'],
              }
            : fix === 'gzip-layers'
              ? { from: ['zstd'] }
              : { attestations: 'referrers' };
        try {
          const next = TRANSFORMS[fix](plan, params, { platforms: [{ os: 'linux', architecture: 'amd64' }] });
          assert.ok(next.docs.has(next.root), `${fix} lost the root`);
          for (const doc of next.docs.values()) {
            if (doc.placement?.type === 'referrer') assert.ok(doc.stored.kind !== 'manifest' || doc.stored.manifest.subject !== undefined);
          }
        } catch (e) {
          assert.ok(isProvenantError(e), `${fix} threw ${String(e)}`);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('knows each layer type by its compression, the Docker-typed zstd layer containerd writes too', () => {
    assert.equal(layerCompression('application/vnd.docker.image.rootfs.diff.tar.zstd'), 'zstd');
    assert.equal(layerCompression(MediaType.OciLayerZstd), 'zstd');
    assert.equal(layerCompression(MediaType.DockerLayerGzip), 'gzip');
    assert.equal(layerCompression(MediaType.OciLayerGzip), 'gzip');
    assert.equal(layerCompression('application/vnd.docker.image.rootfs.diff.tar'), 'uncompressed-docker');
    assert.equal(layerCompression(MediaType.OciLayer), 'uncompressed');
    assert.equal(layerCompression('application/vnd.example.thing+zstd'), undefined);
  });

  it('has a detector for every name the profiles may use', () => {
    for (const p of profiles) for (const r of p.rules) assert.equal(typeof DETECTORS[r.detect].run, 'function');
  });
});
