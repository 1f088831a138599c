/**
 * An image config read one way for every command: its bytes checked against its digest, parsed
 * as a JSON object, and the run settings (`created`, `User`, `Env`, `Entrypoint`, `Cmd`,
 * `WorkingDir`, `Labels`) that `inspect` and `report` show, by one set of rules.
 */
import { decodeUtf8 } from '../bytes.ts';
import { ProvenantError } from '../errors.ts';
import type { OperationOptions } from '../io/types.ts';
import { collect } from '../io/verify.ts';
import type { StoredManifest } from '../oci/content.ts';
import { MediaType } from '../oci/mediatypes.ts';
import type { Descriptor, ImageConfig } from '../oci/types.ts';
import { isObject } from '../oci/validate.ts';
import type { ContentStore } from '../store/types.ts';

/**
 * The largest image config Provenant parses, for every command that reads one (inspect's
 * details, an image's platform, report, diff, sbom): one with a long history runs to a few
 * megabytes, and containers/image (skopeo) reads at most 4 MiB. Parsed, a config takes several
 * times its size in memory, and inspect reads four at once.
 */
export const CONFIG_LIMIT = 8 * 1024 * 1024;

/**
 * The largest config `inspect --config` prints: it is held, not parsed, until its digest is
 * checked, as `blob` holds a blob for standard output; so a config too large for the details is
 * still there to read.
 */
export const CONFIG_BYTES_LIMIT = 64 * 1024 * 1024;

/** How a config is read: as any store read, and at most `limit` bytes ({@link CONFIG_LIMIT} unless said). */
export interface ConfigReadOptions extends OperationOptions {
  limit?: number;
}

/**
 * The bytes of the config `config`, as stored (its digest checked by the store), at most
 * `options.limit` bytes: what {@link readImageConfig} parses, `inspect` reads the details from and
 * `inspect --config` prints (with {@link CONFIG_BYTES_LIMIT}). The one place a config's size is
 * checked.
 *
 * @throws ProvenantError `TOO_LARGE` for a config over the limit, before any read when its
 *   descriptor says so; what the store raises reading it (`NOT_FOUND`, `DIGEST_MISMATCH`,
 *   `SIZE_MISMATCH`, `ABORTED`, a registry's errors)
 */
export async function readConfigBytes(
  store: ContentStore,
  config: Descriptor,
  where: string,
  options: ConfigReadOptions = {},
): Promise<Uint8Array> {
  const { limit = CONFIG_LIMIT, ...read } = options;
  if (config.size > limit) {
    throw new ProvenantError('TOO_LARGE', `the config is ${config.size} bytes, more than the ${limit} read`, { where });
  }
  return collect(
    await store.readBlob(config, read),
    limit,
    where,
    () => new ProvenantError('TOO_LARGE', `the config is larger than ${limit} bytes`, { where }),
  );
}

/** Whether `stored` is an image's manifest, with an OCI or Docker image config: not an artifact's. */
export function hasImageConfig(stored: StoredManifest): boolean {
  const { config, artifactType } = stored.manifest;
  return artifactType === undefined && (config.mediaType === MediaType.OciConfig || config.mediaType === MediaType.DockerConfig);
}

/**
 * An image config's bytes as a JSON object.
 *
 * @throws ProvenantError `INVALID_CONFIG` for bytes that are not JSON, or JSON that is no object
 */
export function parseImageConfig(bytes: Uint8Array, where: string): Partial<ImageConfig> & Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decodeUtf8(bytes));
  } catch (cause) {
    throw new ProvenantError('INVALID_CONFIG', 'the image config is not JSON', { where, cause });
  }
  if (!isObject(value)) throw new ProvenantError('INVALID_CONFIG', 'the image config is not a JSON object', { where });
  return value;
}

/**
 * An image config, read whole and checked to be a JSON object.
 *
 * @throws ProvenantError as {@link readConfigBytes} and {@link parseImageConfig}
 */
export async function readImageConfig(
  store: ContentStore,
  config: Descriptor,
  where: string,
  options: ConfigReadOptions = {},
): Promise<Partial<ImageConfig> & Record<string, unknown>> {
  return parseImageConfig(await readConfigBytes(store, config, where, options), where);
}

/** How an image runs, as its config says: each field present only when the config gives it. */
export interface RunSettings {
  /** `created`, as it is written (RFC 3339). */
  created?: string;
  user?: string;
  env?: string[];
  entrypoint?: string[];
  cmd?: string[];
  workingDir?: string;
  /** `config.Labels` with string values, in key order. */
  labels?: Record<string, string>;
}

/**
 * The run settings of a parsed image config. A field of a wrong type says nothing and is left
 * out, whole (an `Env` with a number in it is not a list of variables); an empty `User` or
 * `WorkingDir` is the runtime's default, so left out too, as are no labels.
 */
export function runSettings(config: Record<string, unknown>): RunSettings {
  const out: RunSettings = {};
  if (typeof config.created === 'string') out.created = config.created;
  const c = isObject(config.config) ? config.config : {};
  if (typeof c.User === 'string' && c.User !== '') out.user = c.User;
  if (isStrings(c.Env)) out.env = c.Env;
  if (isStrings(c.Entrypoint)) out.entrypoint = c.Entrypoint;
  if (isStrings(c.Cmd)) out.cmd = c.Cmd;
  if (typeof c.WorkingDir === 'string' && c.WorkingDir !== '') out.workingDir = c.WorkingDir;
  if (isObject(c.Labels)) {
    const labels = Object.entries(c.Labels)
      .filter((e): e is [string, string] => typeof e[1] === 'string')
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    // fromEntries defines each key, so a label `__proto__` is a key like any other.
    if (labels.length > 0) out.labels = Object.fromEntries(labels);
  }
  return out;
}

function isStrings(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}
