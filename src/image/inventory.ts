/**
 * The package inventory of an image, read from its layers: the one walker of ./filesystem.ts
 * (the one `diff` uses), applied with hashing off and only the package databases kept, so that
 * layers stream whatever their size and compression (gzip, zstd, plain), whiteouts remove what
 * a runtime would remove, and what is read is what a container sees. `sbom` reads it for an
 * image with no SBOM attached; policy's package-age check reads it for the build dates.
 */
import { ProvenantError, throwIfAborted } from '../errors.ts';
import type { OperationOptions } from '../io/types.ts';
import { collect } from '../io/verify.ts';
import type { Digest } from '../oci/digest.ts';
import type { Descriptor, ImageConfig } from '../oci/types.ts';
import type { Inventory } from '../pkg/inventory.ts';
import type { ContentStore } from '../store/types.ts';
import { applyLayer, inventoryFromFilesystem, isPackageDatabasePath, LayerFilesystem } from './filesystem.ts';

const CONFIG_LIMIT = 64 * 1024 * 1024;

/**
 * An image config, read whole (it is small) and checked to be a JSON object.
 *
 * @throws ProvenantError `INVALID_CONFIG` for a config that is not a JSON object, what reading the
 *   blob throws (`NOT_FOUND`, `DIGEST_MISMATCH`, `TRUNCATED` beyond 64 MiB)
 */
export async function readImageConfig(
  store: ContentStore,
  config: Descriptor,
  where: string,
  options: OperationOptions = {},
): Promise<Partial<ImageConfig>> {
  const bytes = await collect(await store.readBlob(config, options), CONFIG_LIMIT, where);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new ProvenantError('INVALID_CONFIG', 'the image config is not JSON', { where, cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProvenantError('INVALID_CONFIG', 'the image config is not a JSON object', { where });
  }
  return value as Partial<ImageConfig>;
}

/**
 * The packages the image manifest `digest` holds, from its apk or dpkg database (distroless'
 * `status.d` included), read from its layers in order; undefined when it has none. Each layer is
 * read to its end, so the store checks its digest, and its uncompressed stream is checked
 * against the config's `diff_id`.
 *
 * @throws ProvenantError `INVALID_MANIFEST` when `digest` is an index, `INVALID_PACKAGE` when a
 *   database does not parse, what {@link applyLayer} throws (`DIGEST_MISMATCH`,
 *   `INVALID_ARCHIVE`, `UNSUPPORTED_MEDIA_TYPE` for zstd on an old Node, ...), `ABORTED`
 */
export async function imageInventory(
  store: ContentStore,
  digest: Digest,
  name: string,
  options: OperationOptions = {},
): Promise<Inventory | undefined> {
  const stored = await store.getManifest(digest, options);
  if (stored.kind !== 'manifest') throw new ProvenantError('INVALID_MANIFEST', `${digest} is not an image manifest`, { where: name });
  const manifest = stored.manifest;
  const config = await readImageConfig(store, manifest.config, `${name}@${manifest.config.digest}`, options);
  const diffIds = config.rootfs?.diff_ids ?? [];
  const fs = new LayerFilesystem();
  for (const [index, layer] of manifest.layers.entries()) {
    throwIfAborted(options.signal);
    const diffId = diffIds[index];
    await applyLayer(fs, store, layer, {
      ...options,
      index,
      diffId: typeof diffId === 'string' && diffId.startsWith('sha256:') ? (diffId as Digest) : undefined,
      hash: false,
      keep: isPackageDatabasePath,
      where: `${name}@${layer.digest}`,
    });
  }
  return inventoryFromFilesystem(fs, {
    name,
    digest,
    architecture: config.architecture ?? 'unknown',
    variant: config.variant,
    os: config.os ?? 'linux',
  });
}
