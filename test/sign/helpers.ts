// Layouts, fixtures and cosign layers shared by the signing tests (not a test file).
import { readFile } from 'node:fs/promises';
import { bytesSource } from '../../src/io/types.ts';
import { encodeJson, parseStored } from '../../src/oci/content.ts';
import { type Digest, digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import type { ImageManifest } from '../../src/oci/types.ts';
import { appendCosignLayer, type CosignLayer } from '../../src/sign/storage.ts';
import { parseTrustedRoot, type TrustedRoot } from '../../src/sign/trust.ts';
import type { ContentStore } from '../../src/store/types.ts';
import { fixture } from '../helpers/fixtures.ts';
import { useTempLayout } from '../helpers/temp.ts';

/** A new, empty OCI layout in a temporary folder, removed after the tests of the file that imports this. */
export const tempLayout = useTempLayout('sign');

export const sigFixture = (name: string): Promise<Buffer> => readFile(fixture('sig', name));
export const ociFixture = (name: string): Promise<Buffer> => readFile(fixture('oci', name));

export async function trustedRoot(name: string): Promise<TrustedRoot> {
  return parseTrustedRoot(await sigFixture(name), name);
}

/** Stores manifest bytes as they are (their blobs need not be there: verification never reads them). */
export async function putManifestBytes(store: ContentStore, bytes: Uint8Array, tag?: string): Promise<Digest> {
  const stored = parseStored(bytes);
  await store.putManifest(stored, { tags: tag === undefined ? [] : [tag] });
  return stored.digest;
}

/**
 * containers/image's file form of one cosign `.sig` layer: "\0sigstore-json\n" then
 * {mimeType, payload (base64), annotations}, exactly the layer's media type, bytes and annotations.
 */
export async function cimageLayer(name: string): Promise<CosignLayer> {
  const bytes = await sigFixture(name);
  const prefix = Buffer.from('\0sigstore-json\n');
  if (!bytes.subarray(0, prefix.length).equals(prefix)) throw new Error(`${name} is not a containers/image sigstore file`);
  const doc = JSON.parse(bytes.subarray(prefix.length).toString('utf8'));
  return { mediaType: doc.mimeType, payload: new Uint8Array(Buffer.from(doc.payload, 'base64')), annotations: doc.annotations };
}

/** Attaches a cosign `.sig` layer to `subject` as cosign would (our writer, the fixture's layer). */
export async function putCosignLayer(
  store: ContentStore,
  subject: Digest,
  layer: CosignLayer,
  suffix: 'sig' | 'att' = 'sig',
): Promise<void> {
  await appendCosignLayer(store, subject, suffix, layer);
}

/**
 * A bundle's exact bytes attached to `subject` as cosign 3 attaches it: an OCI 1.1 artifact with
 * the empty config, the bundle as its one layer, cosign's annotations. Written without our
 * writer, so the reading side is tested against cosign's shape.
 */
export async function putBundleReferrer(
  store: ContentStore,
  subject: { digest: Digest; mediaType?: string; size?: number },
  bundle: Uint8Array,
  predicateType: string | undefined,
): Promise<Digest> {
  const empty = encodeJson({});
  const config = { mediaType: MediaType.OciEmpty, digest: digestOf(empty), size: 2 };
  const layer = { mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json', digest: digestOf(bundle), size: bundle.length };
  await store.putBlob(bytesSource(config, empty));
  await store.putBlob(bytesSource(layer, bundle));
  const content = JSON.parse(Buffer.from(bundle).toString('utf8')).dsseEnvelope === undefined ? 'message-signature' : 'dsse-envelope';
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    config: { ...config, artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json' },
    layers: [layer],
    annotations: {
      'dev.sigstore.bundle.content': content,
      ...(predicateType === undefined ? {} : { 'dev.sigstore.bundle.predicateType': predicateType }),
      'org.opencontainers.image.created': '2025-10-31T12:23:04Z',
    },
    subject: { mediaType: subject.mediaType ?? MediaType.OciManifest, digest: subject.digest, size: subject.size ?? 0 },
  };
  return putManifestBytes(store, encodeJson(manifest));
}

/** The digest a DSSE bundle's statement names first. */
export function statementSubject(bundle: Uint8Array): { digest: Digest; predicateType: string } {
  const doc = JSON.parse(Buffer.from(bundle).toString('utf8'));
  const statement = JSON.parse(Buffer.from(doc.dsseEnvelope.payload, 'base64').toString('utf8'));
  const [alg, hex] = Object.entries(statement.subject[0].digest as Record<string, string>)[0]!;
  return { digest: `${alg}:${hex}` as Digest, predicateType: statement.predicateType };
}
