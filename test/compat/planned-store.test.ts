// PlannedStore shown over the destination it will be written to (fix's check before writing).
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Plan, PlannedDoc } from '../../src/compat/plan.ts';
import { PlannedStore } from '../../src/compat/planned-store.ts';
import { isProvenantError, ProvenantError } from '../../src/errors.ts';
import { parseStored } from '../../src/oci/content.ts';
import { type Digest, digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import type { ContentStore } from '../../src/store/types.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('planned-store');
const bytesOf = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));
const config = { mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf(bytesOf({})), size: 2 };
const stored = (layers: number) => {
  const bytes = bytesOf({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config,
    layers: Array(layers).fill(config),
  });
  return parseStored(bytes, { mediaType: 'application/vnd.oci.image.manifest.v1+json' });
};

describe('a planned image over its destination', () => {
  it('lists its planned cosign tags when the destination will not list its own', async () => {
    const image = stored(1);
    const signature = stored(2);
    const docs = new Map<Digest, PlannedDoc>([
      [image.digest, { stored: image, role: 'image' }],
      [signature.digest, { stored: signature, role: 'attachment', subject: image.digest, placement: { type: 'tag', suffix: 'sig' } }],
    ]);
    const plan: Plan = { root: image.digest, docs, blobs: new Map(), changes: [], dropped: [], renames: [] };
    const source = { location: 'oci:src' } as unknown as ContentStore;
    const sigTag = `sha256-${image.digest.slice('sha256:'.length)}.sig`;
    const attTag = `sha256-${image.digest.slice('sha256:'.length)}.att`;
    // A registry token without the right to list tags: what a real registry here cannot be made
    // to refuse alone. Its cosign tags of planned digests are still read, by name.
    const asked: string[] = [];
    const refusing = {
      location: 'registry.example/app',
      listTags: async () => {
        throw new ProvenantError('UNAUTHORIZED', 'denied: listing tags');
      },
      resolve: async (tag: string) => {
        asked.push(tag);
        return tag === attTag ? { mediaType: MediaType.OciManifest, digest: signature.digest, size: 1 } : undefined;
      },
    } as unknown as ContentStore;
    assert.deepEqual(await new PlannedStore(source, plan).listTags(), [sigTag]);
    assert.deepEqual(await new PlannedStore(source, plan, refusing).listTags(), [attTag, sigTag]);
    assert.ok(asked.includes(attTag) && asked.includes(sigTag), asked.join(', '));
  });
});

describe('a planned blob whose file goes before it is read', () => {
  for (const offset of [0, 3]) {
    it(`fails its reader with a typed error naming the blob, not the command with an uncaught one (offset ${offset})`, async () => {
      const bytes = new TextEncoder().encode('a recompressed layer');
      const descriptor = { mediaType: MediaType.OciLayerGzip, digest: digestOf(bytes), size: bytes.length };
      const file = join(await tempDir(), 'layer');
      writeFileSync(file, bytes);
      const image = stored(1);
      const plan: Plan = {
        root: image.digest,
        docs: new Map([[image.digest, { stored: image, role: 'image' }]]),
        blobs: new Map([[descriptor.digest, { descriptor, file }]]),
        changes: [],
        dropped: [],
        renames: [],
      };
      const store = new PlannedStore({ location: 'oci:src' } as unknown as ContentStore, plan);
      const stream = await store.readBlob(descriptor, { offset });
      rmSync(file);
      // Time for a read stream made in advance to open, fail and throw where nobody listens.
      await new Promise((resolve) => setTimeout(resolve, 50));
      await assert.rejects(
        (async () => {
          for await (const _ of stream);
        })(),
        (err: unknown) => {
          assert.ok(isProvenantError(err, 'IO'), String(err));
          assert.equal(err.where, `oci:src (fixed)@${descriptor.digest}`);
          return true;
        },
      );
    });
  }
});
