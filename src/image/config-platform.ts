/** The platform an image manifest's config gives, read one way for every command that needs it. */
import { isProvenantError } from '../errors.ts';
import type { OperationOptions } from '../io/types.ts';
import type { StoredManifest } from '../oci/content.ts';
import { configPlatform } from '../oci/platform.ts';
import type { Platform } from '../oci/types.ts';
import type { ContentStore } from '../store/types.ts';
import { CONFIG_LIMIT, hasImageConfig, readImageConfig } from './image-config.ts';

/**
 * The platform (os, architecture, variant) that the config of the image manifest `stored`
 * gives, or undefined when it gives none: an artifact (its `artifactType` set, or a config that
 * is no OCI or Docker image config: it has no platform to take), a config that is not a JSON
 * object, or one without `os` and `architecture`. Used by `inspect`, `copy --platform` and the
 * image graph `check` reads, so that they agree on a single image's platform.
 *
 * @throws ProvenantError `TOO_LARGE` for a config over {@link CONFIG_LIMIT} (not read: a caller
 *   that can go on without the platform says so); what the store raises reading the config
 *   (`NOT_FOUND` for one it lacks, `ABORTED`)
 */
export async function platformFromConfig(
  store: ContentStore,
  stored: StoredManifest,
  options: OperationOptions = {},
): Promise<Platform | undefined> {
  if (!hasImageConfig(stored)) return undefined;
  const { config } = stored.manifest;
  try {
    return configPlatform(await readImageConfig(store, config, `${store.location}@${config.digest}`, options));
  } catch (err) {
    if (isProvenantError(err, 'INVALID_CONFIG')) return undefined;
    throw err;
  }
}
