/**
 * The package inventory of an image, read from its layers: the one walker of ./filesystem.ts
 * (the one `diff` uses), applied with hashing off and only the package databases kept, so that
 * layers stream whatever their size and compression (gzip, zstd, plain), whiteouts remove what
 * a runtime would remove, and what is read is what a container sees. `sbom` reads it for an
 * image with no SBOM attached; policy's package-age check reads it for the build dates.
 */
import { ProvenantError, throwIfAborted } from '../errors.ts';
import type { OperationOptions } from '../io/types.ts';
import type { Digest } from '../oci/digest.ts';
import type { Inventory } from '../pkg/inventory.ts';
import { registryImageName } from '../sbom/purl.ts';
import type { ContentStore } from '../store/types.ts';
import { applyLayer, inventoryFromFilesystem, isPackageDatabasePath, LayerFilesystem } from './filesystem.ts';
import { readImageConfig } from './image-config.ts';

/** 10000-01-01T00:00:00Z in milliseconds: the first time with a five-digit year. */
const LAST_MS = 253_402_300_800_000;

/**
 * The packages the image manifest `digest` holds, from its apk or dpkg database (distroless'
 * `status.d` included), read from its layers in order; undefined when it has none. Each layer is
 * read to its end, so the store checks its digest, and its uncompressed stream is checked
 * against the config's `diff_id`. The inventory names the image `name` when that is a registry
 * reference, else '' ({@link registryImageName}); `name` is where errors say they happened.
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
  return (await datedImageInventory(store, digest, name, options))?.inventory;
}

/**
 * {@link imageInventory}, with the time the image config says the image was created, in seconds
 * since 1970: undefined when the config gives none, gives no date, or gives one before 1970 (as
 * `0001-01-01T00:00:00Z`, the zero time some tools write for "unknown") or after 9999, which no
 * RFC 3339 time (as SBOMs carry) can say.
 *
 * @throws ProvenantError as {@link imageInventory}
 */
export async function datedImageInventory(
  store: ContentStore,
  digest: Digest,
  name: string,
  options: OperationOptions = {},
): Promise<{ inventory: Inventory; created: number | undefined } | undefined> {
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
  const inventory = inventoryFromFilesystem(fs, {
    name: registryImageName(name) ?? '',
    digest,
    architecture: config.architecture ?? 'unknown',
    variant: config.variant,
    os: config.os ?? 'linux',
  });
  if (inventory === undefined) return undefined;
  const ms = typeof config.created === 'string' ? Date.parse(config.created) : Number.NaN;
  const created = Number.isNaN(ms) || ms < 0 || ms >= LAST_MS ? undefined : Math.floor(ms / 1000);
  return { inventory, created };
}
