// OCI schema validation of manifests and indexes, and one size for one digest.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import AjvDraft04 from 'ajv-draft-04';
import addFormatsModule from 'ajv-formats';
import fc from 'fast-check';
import { isProvenantError } from '../../src/errors.ts';
import { encodeJson, parseStored } from '../../src/oci/content.ts';
import { type Digest, digestAlgorithm, digestOf } from '../../src/oci/digest.ts';
import type { ImageIndex, ImageManifest } from '../../src/oci/types.ts';
import { descriptorConflicts, indexViolations, manifestViolations } from '../../src/oci/validate.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';

// The schemas are read in place from the shared fixtures (never copied here) and `$ref` each
// other by file name. Their nested draft-04 `id`s would move the base that those names resolve
// against, so they are dropped (as image-spec's own Go loader effectively does by serving every
// reference from the schema folder), and each file gets its own name under one base.
function dropNestedIds(node: unknown, depth = 0): unknown {
  if (Array.isArray(node)) return node.map((n) => dropNestedIds(n, depth + 1));
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) if (!(k === 'id' && depth > 0)) out[k] = dropNestedIds(v, depth + 1);
  return out;
}

async function loadValidators() {
  // ajv-draft-04 is CommonJS: Node hands ESM its module.exports, which is the class itself.
  const Ajv = AjvDraft04 as unknown as typeof AjvDraft04.default;
  const ajv = new Ajv({ allErrors: true, strict: false });
  // The schemas ask for format "uri" on urls; ajv-formats checks it as RFC 3986 does.
  const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;
  addFormats(ajv as unknown as Parameters<typeof addFormats>[0], ['uri']);
  const names = ['defs', 'defs-descriptor', 'content-descriptor', 'image-manifest-schema', 'image-index-schema'];
  for (const n of names) {
    const schema = dropNestedIds(JSON.parse(await readFile(fixture('oci', `oci-image-spec-schema_${n}.json`), 'utf8'))) as Record<
      string,
      unknown
    >;
    schema.id = `https://opencontainers.org/schema/${n}.json`;
    ajv.addSchema(schema);
  }
  const manifest = ajv.getSchema('https://opencontainers.org/schema/image-manifest-schema.json')!;
  const index = ajv.getSchema('https://opencontainers.org/schema/image-index-schema.json')!;
  return { manifest: (v: unknown) => manifest(v) as boolean, index: (v: unknown) => index(v) as boolean };
}

const hex = fc.stringMatching(/^[a-f0-9]{64}$/);
const mediaType = fc.oneof(
  fc.constantFrom('application/vnd.oci.image.layer.v1.tar+gzip', 'application/vnd.oci.empty.v1+json', 'text/plain'),
  fc.string({ maxLength: 20 }),
);
const digest = fc.oneof(
  hex.map((h) => `sha256:${h}`),
  fc.string({ maxLength: 12 }),
  fc.constantFrom('sha256:ABC', 'sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564', ':abc'),
);
const annotations = fc.oneof(
  fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), fc.string({ maxLength: 5 })),
  fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), fc.oneof(fc.string(), fc.integer())),
  fc.constant([] as unknown),
);
const descriptor = fc.record(
  {
    mediaType,
    size: fc.oneof(fc.nat(), fc.integer({ min: -5, max: -1 }), fc.double({ noNaN: true }), fc.constant('12' as unknown)),
    digest,
    urls: fc.array(fc.constantFrom('https://example.com/x', 'not a uri', 'http:x'), { maxLength: 2 }),
    annotations,
    artifactType: mediaType,
  },
  { requiredKeys: [] },
);
const goodDescriptor = fc.record({
  mediaType: fc.constantFrom('application/vnd.oci.image.layer.v1.tar+gzip', 'application/vnd.oci.image.config.v1+json'),
  size: fc.nat(),
  digest: hex.map((h) => `sha256:${h}`),
});
const goodManifest = fc.record({
  schemaVersion: fc.constant(2),
  config: goodDescriptor,
  layers: fc.array(goodDescriptor, { minLength: 1, maxLength: 3 }),
});
// Valid documents with one field replaced by a generated (often invalid) value.
const nearlyGoodManifest = fc
  .tuple(
    goodManifest,
    fc.constantFrom('config', 'layers', 'subject', 'annotations', 'mediaType', 'artifactType'),
    fc.oneof(descriptor, annotations, mediaType),
  )
  .map(([m, key, value]) => ({ ...m, [key]: value }));
const anyManifest = fc.record(
  {
    schemaVersion: fc.constantFrom(2, 1, 3, '2' as unknown),
    mediaType,
    artifactType: mediaType,
    config: descriptor,
    layers: fc.array(descriptor, { maxLength: 3 }),
    subject: descriptor,
    annotations,
  },
  { requiredKeys: [] },
);
const platform = fc.record(
  {
    architecture: fc.oneof(fc.string(), fc.integer()),
    os: fc.string(),
    variant: fc.oneof(fc.string(), fc.nat()),
    'os.features': fc.array(fc.oneof(fc.string(), fc.nat())),
  },
  { requiredKeys: [] },
);
const index = fc.record(
  {
    schemaVersion: fc.constantFrom(2, 1),
    mediaType,
    manifests: fc.array(fc.record({ mediaType, size: fc.integer(), digest, platform, annotations }, { requiredKeys: [] }), {
      maxLength: 3,
    }),
    subject: descriptor,
    annotations,
  },
  { requiredKeys: [] },
);

describe('OCI schema validation', { skip: fixturesMissing }, () => {
  it('agrees with the official image-manifest schema on generated documents', async () => {
    const ajv = await loadValidators();
    let valid = 0;
    fc.assert(
      fc.property(fc.oneof(goodManifest, nearlyGoodManifest, anyManifest), (doc) => {
        const ours = manifestViolations(doc).length === 0;
        if (ours) valid++;
        assert.equal(ours, ajv.manifest(doc), JSON.stringify(manifestViolations(doc)));
      }),
      { numRuns: 2000 },
    );
    // The generator must reach both outcomes, or the agreement proves little.
    assert.ok(valid > 0, 'no valid manifest was generated');
  });

  it('agrees with the official image-index schema on generated documents', async () => {
    const ajv = await loadValidators();
    let valid = 0;
    fc.assert(
      fc.property(index, (doc) => {
        const ours = indexViolations(doc).length === 0;
        if (ours) valid++;
        assert.equal(ours, ajv.index(doc), JSON.stringify(indexViolations(doc)));
      }),
      { numRuns: 2000 },
    );
    assert.ok(valid > 0, 'no valid index was generated');
  });

  it('accepts every real manifest and index in the fixtures', async () => {
    const ajv = await loadValidators();
    const files = (await readdir(fixture('oci'))).filter((f) => f.endsWith('.json') && !f.startsWith('oci-image-spec-schema'));
    let checked = 0;
    for (const f of files) {
      const doc = JSON.parse(await readFile(fixture('oci', f), 'utf8'));
      if (doc.schemaVersion !== 2 || typeof doc.mediaType !== 'string') continue;
      if (doc.mediaType.endsWith('manifest.v1+json')) {
        assert.deepEqual(manifestViolations(doc), [], f);
        assert.ok(ajv.manifest(doc), f);
        checked++;
      } else if (doc.mediaType.endsWith('index.v1+json')) {
        assert.deepEqual(indexViolations(doc), [], f);
        assert.ok(ajv.index(doc), f);
        checked++;
      }
    }
    assert.ok(checked >= 10, `only ${checked} fixtures checked`);
  });

  it('names the pointer of each violation', () => {
    const v = manifestViolations({ schemaVersion: 2, config: { mediaType: 'x', size: -1, digest: 'nope' }, layers: [] });
    assert.deepEqual(
      v.map((x) => x.pointer),
      ['/config/mediaType', '/config/size', '/config/digest', '/layers'],
    );
  });
});

describe('one digest, one size', () => {
  // Digests from a small pool and sizes from a small set, so that repeats with equal and with
  // different sizes are both common.
  const pool = ['a', 'b', 'c'].map((c) => `sha256:${c.repeat(64)}`);
  const listed = fc.record({
    mediaType: fc.constant('application/vnd.oci.image.layer.v1.tar+gzip'),
    digest: fc.constantFrom(...pool),
    size: fc.constantFrom(1, 2),
  });
  const manifests = fc.record({
    schemaVersion: fc.constant(2),
    mediaType: fc.constant('application/vnd.oci.image.manifest.v1+json'),
    config: listed.map((d) => ({ ...d, mediaType: 'application/vnd.oci.image.config.v1+json' })),
    layers: fc.array(listed, { minLength: 1, maxLength: 5 }),
  });
  const indexes = fc.record({
    schemaVersion: fc.constant(2),
    mediaType: fc.constant('application/vnd.oci.image.index.v1+json'),
    manifests: fc.array(
      listed.map((d) => ({ ...d, mediaType: 'application/vnd.oci.image.manifest.v1+json' })),
      { maxLength: 5 },
    ),
  });
  /** The model: some digest appears with two sizes. */
  function conflicting(descriptors: Array<{ digest: string; size: number }>): boolean {
    const sizes = new Map<string, Set<number>>();
    for (const d of descriptors) sizes.set(d.digest, (sizes.get(d.digest) ?? new Set()).add(d.size));
    return [...sizes.values()].some((s) => s.size > 1);
  }

  it('parseStored refuses exactly the manifests and indexes that give a digest two sizes', () => {
    let refused = 0;
    let accepted = 0;
    fc.assert(
      fc.property(fc.oneof(manifests, indexes), fc.option(listed, { nil: undefined }), (doc, subject) => {
        const full = subject === undefined ? doc : { ...doc, subject };
        const all = [...('layers' in full ? [full.config, ...full.layers] : full.manifests), ...(subject ? [subject] : [])];
        const bytes = encodeJson(full);
        if (conflicting(all)) {
          refused++;
          assert.throws(
            () => parseStored(bytes, { where: 'generated' }),
            (e: unknown) =>
              isProvenantError(e, 'INVALID_MANIFEST') && /is listed with size \d at \/\S+ and size \d at \/\S+/.test(e.message),
          );
          assert.ok(descriptorConflicts(full as ImageManifest | ImageIndex).length > 0);
        } else {
          accepted++;
          assert.equal(parseStored(bytes).digest, digestOf(bytes));
        }
      }),
      { numRuns: 1000 },
    );
    assert.ok(refused > 100 && accepted > 100, `refused ${refused}, accepted ${accepted}`);
  });

  it('finds no conflict in any real manifest or index of the fixtures', { skip: fixturesMissing }, async () => {
    let checked = 0;
    for (const f of (await readdir(fixture('oci'))).filter((n) => n.endsWith('.json'))) {
      const doc = JSON.parse(await readFile(fixture('oci', f), 'utf8'));
      if (doc.schemaVersion !== 2 || !(Array.isArray(doc.layers) || Array.isArray(doc.manifests))) continue;
      assert.deepEqual(descriptorConflicts(doc), [], f);
      checked++;
    }
    assert.ok(checked >= 10, `only ${checked} fixtures checked`);
  });
});

describe('registered digest algorithms only', () => {
  const layer = new TextEncoder().encode('layer-bytes');
  const config = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf('{}'), size: 2 };
  const manifestWith = (digest: string) =>
    encodeJson({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config,
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digest, size: layer.length }],
    });
  const hash = (algorithm: string) => createHash(algorithm).update(layer).digest('hex');

  it('refuses a manifest or index naming md5, sha1, sha384 or an unknown algorithm, or upper-case hex, at the digest', () => {
    const cases: Array<[string, RegExp]> = [
      [`md5:${hash('md5')}`, /names md5, which OCI does not register/],
      [`sha1:${hash('sha1')}`, /names sha1/],
      [`sha384:${hash('sha384')}`, /names sha384/],
      [`foo:${hash('sha256')}`, /names foo/],
      [`sha256:${hash('sha256').toUpperCase()}`, /is not a sha256 digest \(64 lower-case hex digits\)/],
      [`sha512:${hash('sha256')}`, /is not a sha512 digest/],
    ];
    for (const [digest, message] of cases) {
      // Each is a valid document to the schema: the algorithm is what is refused.
      assert.deepEqual(manifestViolations(JSON.parse(new TextDecoder().decode(manifestWith(digest)))), []);
      assert.throws(
        () => parseStored(manifestWith(digest), { where: 'oci:/x@sha256:1' }),
        (e: unknown) =>
          isProvenantError(e, 'INVALID_MANIFEST') &&
          message.test(e.message) &&
          e.message.startsWith('/layers/0/digest ') &&
          e.where === 'oci:/x@sha256:1#/layers/0/digest',
        digest,
      );
    }
    const index = encodeJson({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digestOf('m'), size: 1 },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha1:${hash('sha1')}`, size: 1 },
      ],
    });
    assert.throws(
      () => parseStored(index),
      (e: unknown) => isProvenantError(e, 'INVALID_MANIFEST') && e.where === '#/manifests/1/digest',
    );
    // sha256 and sha512 are taken.
    for (const algorithm of ['sha256', 'sha512'] as const) {
      assert.equal(parseStored(manifestWith(digestOf(layer, algorithm))).kind, 'manifest');
    }
  });

  it('gives a typed error for a digest a caller made up, rather than hash with whatever node:crypto has by its name', () => {
    for (const digest of [`md5:${hash('md5')}`, `foo:${hash('sha256')}`, 'nocolon']) {
      assert.throws(
        () => digestAlgorithm(digest as Digest),
        (e: unknown) => isProvenantError(e, 'INVALID_DIGEST') && /only sha256 and sha512/.test(e.message),
      );
    }
    assert.equal(digestAlgorithm(digestOf(layer, 'sha512')), 'sha512');
  });
});
