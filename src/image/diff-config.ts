/**
 * What differs in two images' configs and manifests: the runtime settings a container starts
 * with (https://github.com/opencontainers/image-spec/blob/main/config.md), annotations, history,
 * and the layers by digest.
 */
import { sameJson } from '../oci/json.ts';
import type { ImageConfig, ImageManifest } from '../oci/types.ts';
import type { LayerDiff, ValueChange } from './diff-types.ts';

/** Options of {@link configChanges}. */
export interface ConfigDiffOptions {
  /** Leave out `created` (the image's and its history's) and the annotation {@link CREATED_ANNOTATION}. */
  ignoreTimestamps?: boolean | undefined;
}

/**
 * The annotation that says when an image was made
 * (https://github.com/opencontainers/image-spec/blob/main/annotations.md): a build sets it from
 * SOURCE_DATE_EPOCH on the index and on each manifest, so `ignoreTimestamps` leaves it out.
 */
export const CREATED_ANNOTATION = 'org.opencontainers.image.created';

/** Annotations as a map of their string values, without {@link CREATED_ANNOTATION} when timestamps are ignored. */
export function annotationMap(annotations: Record<string, string> | undefined, options: ConfigDiffOptions = {}): Map<string, string> {
  const out = stringMap(annotations);
  if (options.ignoreTimestamps === true) out.delete(CREATED_ANNOTATION);
  return out;
}

/**
 * The changes between two configs and their manifests' annotations: `created`, `author`,
 * platform fields, User, WorkingDir, Entrypoint, Cmd, StopSignal, each Env variable, Label,
 * exposed port and volume, every other key of `config` (Healthcheck, Shell, OnBuild, ...) and of
 * the config itself (`os.features`, Docker's `container_config`, ...) by its whole value, the
 * history's length and each history entry's `created_by` (and `created`, `comment`,
 * `empty_layer`), and each manifest annotation. With `ignoreTimestamps`, not the `created` times
 * nor {@link CREATED_ANNOTATION}. Only `rootfs` is left out: its diff_ids are the
 * layers, compared by {@link layerDiff} and read against.
 */
export function configChanges(
  a: Partial<ImageConfig>,
  b: Partial<ImageConfig>,
  manifestA: ImageManifest,
  manifestB: ImageManifest,
  options: ConfigDiffOptions = {},
): ValueChange[] {
  const out: ValueChange[] = [];
  const scalar = (field: string, x: unknown, y: unknown): void => {
    if (JSON.stringify(x ?? null) === JSON.stringify(y ?? null)) return;
    const c: ValueChange = { field };
    if (x !== undefined && x !== null) c.a = x;
    if (y !== undefined && y !== null) c.b = y;
    out.push(c);
  };
  if (options.ignoreTimestamps !== true) scalar('created', a.created, b.created);
  scalar('author', a.author, b.author);
  scalar('os', a.os, b.os);
  scalar('architecture', a.architecture, b.architecture);
  scalar('variant', a.variant, b.variant);
  scalar('os.version', a['os.version'], b['os.version']);
  const ca = a.config ?? {};
  const cb = b.config ?? {};
  scalar('User', emptyAsUnset(ca.User), emptyAsUnset(cb.User));
  scalar('WorkingDir', emptyAsUnset(ca.WorkingDir), emptyAsUnset(cb.WorkingDir));
  scalar('Entrypoint', ca.Entrypoint, cb.Entrypoint);
  scalar('Cmd', ca.Cmd, cb.Cmd);
  scalar('StopSignal', emptyAsUnset(ca.StopSignal), emptyAsUnset(cb.StopSignal));
  // Concatenated, not pushed as arguments: a 4 MiB config holds more labels than a call takes.
  return out.concat(
    mapChanges('Env', envMap(ca.Env), envMap(cb.Env)),
    mapChanges('Labels', stringMap(ca.Labels), stringMap(cb.Labels)),
    mapChanges('ExposedPorts', presence(ca.ExposedPorts), presence(cb.ExposedPorts)),
    mapChanges('Volumes', presence(ca.Volumes), presence(cb.Volumes)),
    otherChanges(ca, cb, CONFIG_KEYS),
    otherChanges(a, b, TOP_LEVEL_KEYS),
    historyChanges(a.history ?? [], b.history ?? [], options),
    mapChanges('annotations', annotationMap(manifestA.annotations, options), annotationMap(manifestB.annotations, options)),
  );
}

/** The keys of `config` compared one by one above; every other key is compared whole. */
const CONFIG_KEYS: ReadonlySet<string> = new Set([
  'User',
  'WorkingDir',
  'Entrypoint',
  'Cmd',
  'StopSignal',
  'Env',
  'Labels',
  'ExposedPorts',
  'Volumes',
]);

/** The top-level keys compared above or elsewhere: `rootfs` is the layers (see {@link layerDiff}). */
const TOP_LEVEL_KEYS: ReadonlySet<string> = new Set([
  'created',
  'author',
  'os',
  'architecture',
  'variant',
  'os.version',
  'config',
  'rootfs',
  'history',
  // The classic builder's container: a random id, and that container's own config, which differ
  // at every build and say nothing of the image.
  'container',
  'container_config',
]);

/**
 * The keys of `a` and `b` not in `known`, compared by their whole JSON value, sorted by key:
 * a runtime reads more than the fields above (Docker's `Healthcheck`, `Shell` and `OnBuild`,
 * Windows' `os.features`), and a change to any of them must show as more than a new digest.
 */
function otherChanges(a: object, b: object, known: ReadonlySet<string>): ValueChange[] {
  const fields = (o: object): Record<string, unknown> =>
    typeof o === 'object' && o !== null && !Array.isArray(o) ? (o as Record<string, unknown>) : {};
  const x = fields(a);
  const y = fields(b);
  const keys = [...new Set([...Object.keys(x), ...Object.keys(y)])].filter((k) => !known.has(k)).sort(compareText);
  const out: ValueChange[] = [];
  for (const key of keys) {
    // The classic builder writes every field, empty ones too (`Hostname: ""`, `AttachStdin:
    // false`), where BuildKit and Provenant leave them out: empty is unset, as for User above.
    const va = emptyAsAbsent(x[key]);
    const vb = emptyAsAbsent(y[key]);
    if (sameJson(va, vb)) continue;
    const c: ValueChange = { field: key };
    if (va !== undefined && va !== null) c.a = va;
    if (vb !== undefined && vb !== null) c.b = vb;
    out.push(c);
  }
  return out;
}

/** `""`, `false`, `[]`, `{}` and null as undefined; anything else as it is. */
function emptyAsAbsent(v: unknown): unknown {
  if (v === '' || v === false || v === null) return undefined;
  if (Array.isArray(v)) return v.length === 0 ? undefined : v;
  if (typeof v === 'object' && Object.keys(v as object).length === 0) return undefined;
  return v;
}

function emptyAsUnset(v: string | undefined): string | undefined {
  return v === '' ? undefined : v;
}

/** Env as a map; a later entry for the same variable wins, as it does in a runtime. */
function envMap(env: readonly string[] | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of env ?? []) {
    const i = e.indexOf('=');
    if (i < 0) out.set(e, '');
    else out.set(e.slice(0, i), e.slice(i + 1));
  }
  return out;
}

function stringMap(o: Record<string, string> | undefined): Map<string, string> {
  return new Map(Object.entries(o ?? {}).filter(([, v]) => typeof v === 'string'));
}

/** A set such as ExposedPorts (`{"80/tcp": {}}`) as a map to `true`. */
function presence(o: Record<string, object> | undefined): Map<string, boolean> {
  return new Map(Object.keys(o ?? {}).map((k) => [k, true]));
}

/** Per key: added, removed or changed, sorted by key. */
export function mapChanges<T>(prefix: string, a: ReadonlyMap<string, T>, b: ReadonlyMap<string, T>): ValueChange[] {
  const out: ValueChange[] = [];
  for (const key of [...new Set([...a.keys(), ...b.keys()])].sort(compareText)) {
    const x = a.get(key);
    const y = b.get(key);
    if (x === y) continue;
    const c: ValueChange = { field: `${prefix}.${key}` };
    if (x !== undefined) c.a = x;
    if (y !== undefined) c.b = y;
    out.push(c);
  }
  return out;
}

function historyChanges(
  a: NonNullable<ImageConfig['history']>,
  b: NonNullable<ImageConfig['history']>,
  options: ConfigDiffOptions,
): ValueChange[] {
  const out: ValueChange[] = [];
  if (a.length !== b.length) out.push({ field: 'history', a: a.length, b: b.length });
  const fields = ['created_by', 'comment', 'author', 'empty_layer', ...(options.ignoreTimestamps === true ? [] : ['created'])] as const;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i] as Record<string, unknown>;
    const y = b[i] as Record<string, unknown>;
    for (const f of fields) {
      if (JSON.stringify(x[f] ?? null) === JSON.stringify(y[f] ?? null)) continue;
      const c: ValueChange = { field: `history[${i}].${f}` };
      if (x[f] !== undefined) c.a = x[f];
      if (y[f] !== undefined) c.b = y[f];
      out.push(c);
    }
  }
  return out;
}

/**
 * Layers in both manifests and in one only, by blob digest, and how many leading layers are
 * the same blobs in the same order (the filesystem after them is the same in both).
 */
export function layerDiff(a: ImageManifest, b: ImageManifest): LayerDiff {
  let sharedPrefix = 0;
  while (
    sharedPrefix < a.layers.length &&
    sharedPrefix < b.layers.length &&
    a.layers[sharedPrefix]?.digest === b.layers[sharedPrefix]?.digest
  ) {
    sharedPrefix++;
  }
  const inB = new Map<string, number[]>();
  for (const [i, l] of b.layers.entries()) inB.set(l.digest, [...(inB.get(l.digest) ?? []), i]);
  const usedB = new Set<number>();
  const out: LayerDiff = { shared: [], onlyA: [], onlyB: [], sharedPrefix };
  a.layers.forEach((l, i) => {
    // A digest may repeat in a manifest (an empty layer twice); pair each with the next unused one.
    const j = inB.get(l.digest)?.find((x) => !usedB.has(x));
    if (j === undefined) {
      out.onlyA.push({ index: i, digest: l.digest, size: l.size, mediaType: l.mediaType });
      return;
    }
    usedB.add(j);
    out.shared.push({ digest: l.digest, size: l.size, mediaType: l.mediaType, indexA: i, indexB: j });
  });
  b.layers.forEach((l, j) => {
    if (!usedB.has(j)) out.onlyB.push({ index: j, digest: l.digest, size: l.size, mediaType: l.mediaType });
  });
  return out;
}

/** Orders strings by UTF-16 code units, the same everywhere (not by locale). */
export function compareText(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}
