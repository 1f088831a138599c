/** The platform an image manifest's config gives, read one way for every command that needs it. */
import type { OperationOptions } from '../io/types.ts';
import { collect } from '../io/verify.ts';
import type { StoredManifest } from '../oci/content.ts';
import { MediaType } from '../oci/mediatypes.ts';
import { configPlatform } from '../oci/platform.ts';
import type { Platform } from '../oci/types.ts';
import type { ContentStore } from '../store/types.ts';

/** The largest config read for its platform: a config with a long history runs to megabytes. */
export const CONFIG_LIMIT = 8 * 1024 * 1024;

/**
 * The platform (os, architecture, variant) that the config of the image manifest `stored`
 * gives, or undefined when it gives none: an artifact (its `artifactType` set, or a config that
 * is no OCI or Docker image config: it has no platform to take), a config over 8 MiB (not read),
 * or one without `os` and `architecture`. Used by `inspect`, `copy --platform` and the image
 * graph `check` reads, so that they agree on a single image's platform.
 *
 * @throws what the store raises reading the config (`NOT_FOUND` for one it lacks, `ABORTED`)
 */
export async function platformFromConfig(
  store: ContentStore,
  stored: StoredManifest,
  options: OperationOptions = {},
): Promise<Platform | undefined> {
  const bytes = await imageConfigBytes(store, stored, options);
  return bytes === undefined ? undefined : configPlatform(bytes);
}

/**
 * The bytes of the image config of `stored`, checked against its digest, or undefined when it
 * has none to read: an artifact (its `artifactType` set, or a config of another media type than
 * an OCI or Docker image config) or a config over 8 MiB. What {@link platformFromConfig} reads,
 * and `inspect` reads the rest of the config from.
 *
 * @throws what the store raises reading the config (`NOT_FOUND` for one it lacks, `ABORTED`)
 */
export async function imageConfigBytes(
  store: ContentStore,
  stored: StoredManifest,
  options: OperationOptions = {},
): Promise<Uint8Array | undefined> {
  const { config } = stored.manifest;
  if (!hasImageConfig(stored) || config.size > CONFIG_LIMIT) return undefined;
  return collect(await store.readBlob(config, options), CONFIG_LIMIT, `${store.location}@${config.digest}`);
}

/** Whether `stored` is an image's manifest, with an OCI or Docker image config: not an artifact's. */
export function hasImageConfig(stored: StoredManifest): boolean {
  const { config, artifactType } = stored.manifest;
  return artifactType === undefined && (config.mediaType === MediaType.OciConfig || config.mediaType === MediaType.DockerConfig);
}
