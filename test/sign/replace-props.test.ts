// What attest --replace reads of a .att layer (property-based): the predicate type of the statement
// it holds decides, never the layer's annotation, and a layer of any bytes is judged or refused
// with UnreadableAttestationError, never another error. And attest's predicate file, any text.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { ArtifactType, STATEMENT_DEPTH_LIMIT } from '../../src/attest/attachments.ts';
import { isProvenantError } from '../../src/errors.ts';
import { parsePredicate } from '../../src/image/attach.ts';
import { bytesSource } from '../../src/io/types.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { Annotation, type Descriptor, type ImageManifest } from '../../src/oci/types.ts';
import { isAttestationOf, UnreadableAttestationError } from '../../src/sign/storage.ts';
import type { LayoutStore } from '../../src/store/layout.ts';
import { useTempLayout } from '../helpers/temp.ts';

const TYPES = ['https://slsa.dev/provenance/v1', 'https://spdx.dev/Document', 'https://cosign.sigstore.dev/attestation/vuln/v1', 'x'];
const TAG = 'sha256-0000.att';
const tempLayout = useTempLayout('replace-props');
let store: LayoutStore;

before(async () => {
  store = await tempLayout();
});

/** A DSSE layer of `bytes` in the store, annotated with `annotated` as its predicate type when given, and a manifest listing it. */
async function layerOf(bytes: Uint8Array, annotated: string | undefined): Promise<{ manifest: ImageManifest; layer: Descriptor }> {
  const layer: Descriptor = {
    mediaType: ArtifactType.DsseEnvelope,
    digest: digestOf(bytes),
    size: bytes.length,
    ...(annotated === undefined ? {} : { annotations: { [Annotation.InTotoPredicateType]: annotated } }),
  };
  await store.putBlob(bytesSource(layer, bytes));
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(new Uint8Array()), size: 0 },
    layers: [layer],
  };
  return { manifest, layer };
}

/** `isAttestationOf`'s answer, or the UnreadableAttestationError it threw (any other failure fails the test). */
async function judged(bytes: Uint8Array, annotated: string | undefined, types: ReadonlySet<string>): Promise<boolean | 'unreadable'> {
  const { manifest, layer } = await layerOf(bytes, annotated);
  try {
    return await isAttestationOf(store, TAG, manifest, layer, types);
  } catch (err) {
    assert.ok(err instanceof UnreadableAttestationError, `not an UnreadableAttestationError: ${(err as Error)?.stack ?? String(err)}`);
    assert.equal(err.layer, layer.digest);
    assert.ok(err.message.includes(layer.digest));
    return 'unreadable';
  }
}

const envelope = (payload: string, signatures: unknown = [{ sig: 'AA==' }]) =>
  new TextEncoder().encode(
    JSON.stringify({ payloadType: 'application/vnd.in-toto+json', payload: Buffer.from(payload).toString('base64'), signatures }),
  );

const types = fc.uniqueArray(fc.constantFrom(...TYPES), { maxLength: 3 }).map((t) => new Set(t));

describe('attest --replace on a .att layer of any content (property-based)', () => {
  it("takes out a layer by its statement's predicateType, whatever the layer's annotation says", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...TYPES),
        fc.option(fc.constantFrom(...TYPES), { nil: undefined }),
        types,
        fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
        fc.boolean(),
        async (type, annotated, replaced, extra, bare) => {
          const statement = JSON.stringify({
            ...extra,
            _type: 'https://in-toto.io/Statement/v1',
            subject: [],
            predicateType: type,
            predicate: {},
          });
          // Enveloped as cosign writes it, or a bare statement (a DSSE layer some tool wrote without its envelope).
          const bytes = bare ? new TextEncoder().encode(statement) : envelope(statement);
          assert.equal(await judged(bytes, annotated, replaced), replaced.has(type));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('judges a layer of any bytes, any JSON or any envelope payload, or refuses it as unreadable: no other error', async () => {
    const deep = fc
      .integer({ min: STATEMENT_DEPTH_LIMIT - 2, max: STATEMENT_DEPTH_LIMIT + 2 })
      .map((n) => `{"predicateType":"x","a":${'['.repeat(n)}${']'.repeat(n)}}`);
    const text = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null'),
      fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify({ predicateType: v, subject: v })),
      deep,
    );
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      text.map((t) => new TextEncoder().encode(t)),
      text.map((t) => envelope(t)),
      fc
        .tuple(fc.jsonValue({ maxDepth: 2 }), fc.jsonValue({ maxDepth: 2 }))
        .map(([payload, signatures]) =>
          new TextEncoder().encode(JSON.stringify({ payloadType: 'application/vnd.in-toto+json', payload, signatures })),
        ),
    );
    await fc.assert(
      fc.asyncProperty(bytes, fc.option(fc.constantFrom(...TYPES), { nil: undefined }), types, async (b, annotated, replaced) => {
        await judged(b, annotated, replaced);
      }),
      { numRuns: 300 },
    );
  });
});

describe("attest's predicate file of any text (property-based)", () => {
  it('is a JSON object, or refused with USAGE naming the file', () => {
    const deep = fc.integer({ min: 1, max: 20_000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 60 }),
          fc.jsonValue().map((v) => JSON.stringify(v) ?? ''),
          deep,
        ),
        (text) => {
          try {
            const value = parsePredicate(text, 'scan.json');
            assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value));
            assert.deepEqual(value, JSON.parse(text));
          } catch (err) {
            if (err instanceof assert.AssertionError) throw err;
            assert.ok(isProvenantError(err, 'USAGE'), `not USAGE: ${(err as Error)?.stack ?? String(err)}`);
            assert.equal(err.where, 'scan.json');
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
