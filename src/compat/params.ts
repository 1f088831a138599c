/**
 * The fixed vocabularies of the profile files: detector names, fix names, and the parameters each
 * takes. A profile names a detector and gives its parameters; it cannot add code. A new target is
 * a new data file; a new kind of check is a new detector here, used by every profile alike.
 */

/** A parameter value as profiles write them. */
export type ParamValue = string | number | boolean | readonly string[];

/** Parameters of one detector or fix, after defaults are filled in. */
export type Params = Readonly<Record<string, ParamValue>>;

/** What one parameter may be. */
export interface ParamSpec {
  readonly type: 'string' | 'number' | 'boolean' | 'list';
  /** For strings, and for every item of a list: the allowed values. */
  readonly values?: readonly string[];
  readonly default?: ParamValue;
  readonly required?: boolean;
  /** For lists: at least one item. */
  readonly nonEmpty?: boolean;
  /** For numbers: the smallest value. */
  readonly min?: number;
  /** For strings and list items: a further check; returns what is wrong, or undefined. */
  readonly check?: (value: string) => string | undefined;
  /** One line for docs/targets.md. */
  readonly doc: string;
}

/** Where in an image a detector looks. */
export const SCOPES = ['image', 'index-entries', 'attachments'] as const;
/** See {@link SCOPES}: `image` is the root and its platform images (with their configs and layers),
 * `index-entries` the root index's other entries (BuildKit attestations, artifacts listed in the
 * index), `attachments` referrers and cosign-tag manifests found for any of them. */
export type Scope = (typeof SCOPES)[number];

/** Layer compressions `layer-compression` can refuse. */
export const COMPRESSIONS = ['zstd', 'uncompressed-docker', 'uncompressed', 'gzip'] as const;
/** See {@link COMPRESSIONS}. */
export type Compression = (typeof COMPRESSIONS)[number];

/** Attachment kinds, as `src/attest/attachments.ts` classifies them. */
export const KINDS = ['attestation', 'signature', 'sbom', 'other'] as const;

const PLATFORM_RE = /^[a-z0-9_.-]+\/[a-z0-9_.-]+(\/[a-z0-9_.-]+)?$/;
const MEDIA_TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(;.*)?$/;

const platform = (v: string): string | undefined => (PLATFORM_RE.test(v) ? undefined : `"${v}" is not os/arch[/variant]`);
const mediaType = (v: string): string | undefined => (MEDIA_TYPE_RE.test(v) ? undefined : `"${v}" is not a media type`);

/** The detectors, each implemented once in detectors.ts. */
export const DETECTOR_PARAMS = {
  'is-index': {},
  'has-unknown-platform-entries': {
    kinds: {
      type: 'list',
      values: ['unknown', 'empty'],
      default: ['unknown'],
      nonEmpty: true,
      doc: '`unknown`: os or architecture is "unknown" (BuildKit attestations); `empty`: os or architecture is "" (`linux/""` artifacts)',
    },
  },
  'has-artifact-type': {
    in: { type: 'list', values: SCOPES, default: ['index-entries', 'attachments'], nonEmpty: true, doc: 'where to look' },
    types: { type: 'list', default: [], check: mediaType, doc: 'only these artifact types (all when empty)' },
  },
  'has-empty-config': {
    in: { type: 'list', values: SCOPES, default: ['image', 'index-entries', 'attachments'], nonEmpty: true, doc: 'where to look' },
  },
  'has-subject-on-index-referrer': {
    kinds: { type: 'list', values: KINDS, default: [...KINDS], nonEmpty: true, doc: 'which attachments count' },
  },
  'has-referrer-in-index': {},
  'referrer-without-artifact-type': {},
  'media-types': {
    require: { type: 'string', values: ['docker', 'oci'], required: true, doc: 'the media-type family the target needs' },
    in: { type: 'list', values: SCOPES, default: ['image'], nonEmpty: true, doc: 'where to look' },
  },
  'layer-compression': {
    refuse: { type: 'list', values: COMPRESSIONS, required: true, nonEmpty: true, doc: 'layer compressions the target cannot read' },
  },
  'missing-platform': {
    platforms: { type: 'list', required: true, nonEmpty: true, check: platform, doc: 'platforms the target runs' },
    need: { type: 'string', values: ['any', 'all'], default: 'any', doc: 'one of them, or all of them' },
  },
  'needs-referrers-api': {},
  'layer-size-limit': {
    'max-bytes': { type: 'number', required: true, min: 1, doc: 'the largest size accepted, in bytes' },
    per: { type: 'string', values: ['layer', 'image'], default: 'layer', doc: 'each layer, or the sum of an image’s layers' },
  },
  'non-image-manifest': {},
} as const satisfies Record<string, Record<string, ParamSpec>>;

/** A detector name. */
export type DetectorName = keyof typeof DETECTOR_PARAMS;

/** The fixes, each a transform in transforms.ts. */
export const FIX_PARAMS = {
  'single-manifest': {
    attestations: {
      type: 'string',
      values: ['referrers', 'cosign-tag'],
      default: 'referrers',
      doc: 'where the chosen platform’s attestations from the index go',
    },
  },
  'move-attestations': {
    which: {
      type: 'list',
      values: ['index-entries', 'index-referrers', 'referrers'],
      default: ['index-entries'],
      nonEmpty: true,
      doc: '`index-entries`: attachments listed in the image index; `index-referrers`: referrers whose subject is an index; `referrers`: every referrer (these move to cosign tags)',
    },
    to: { type: 'string', values: ['referrers', 'cosign-tag'], default: 'referrers', doc: 'the new storage' },
    config: {
      type: 'string',
      values: ['keep', 'image'],
      default: 'keep',
      doc: '`image` replaces an empty config with a small image config',
    },
    kinds: {
      type: 'list',
      values: KINDS,
      default: ['attestation', 'sbom'],
      nonEmpty: true,
      doc: 'which attachments move',
    },
  },
  'docker-media-types': {
    attestations: {
      type: 'string',
      values: ['cosign-tag'],
      default: 'cosign-tag',
      doc: 'attestations in the index move to cosign tags first (Docker manifest lists cannot carry them)',
    },
  },
  'gzip-layers': {
    from: {
      type: 'list',
      values: ['zstd', 'uncompressed-docker', 'uncompressed'],
      default: ['zstd', 'uncompressed-docker'],
      nonEmpty: true,
      doc: 'which layers to recompress with gzip',
    },
  },
  'set-artifact-type': {},
} as const satisfies Record<string, Record<string, ParamSpec>>;

/** A fix name. */
export type FixId = keyof typeof FIX_PARAMS;

/** True for a known detector name. */
export function isDetectorName(name: string): name is DetectorName {
  return Object.hasOwn(DETECTOR_PARAMS, name);
}

/** True for a known fix name. */
export function isFixId(name: string): name is FixId {
  return Object.hasOwn(FIX_PARAMS, name);
}

/**
 * Checks `given` against `specs` and fills in defaults. Returns the parameters, or the problems
 * as `[key, message]` pairs (key undefined for the object itself).
 */
export function checkParams(
  specs: Readonly<Record<string, ParamSpec>>,
  given: unknown,
): { params: Params; problems: Array<[string | undefined, string]> } {
  const problems: Array<[string | undefined, string]> = [];
  const out: Record<string, ParamValue> = {};
  if (given !== undefined && (typeof given !== 'object' || given === null || Array.isArray(given))) {
    return { params: out, problems: [[undefined, 'must be a mapping of parameters']] };
  }
  const values = (given ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(values)) {
    if (!Object.hasOwn(specs, key)) {
      const known = Object.keys(specs);
      problems.push([key, `unknown parameter${known.length > 0 ? ` (known: ${known.join(', ')})` : ' (this takes none)'}`]);
    }
  }
  for (const [key, spec] of Object.entries(specs)) {
    const v = values[key];
    if (v === undefined || v === null) {
      if (spec.required) problems.push([key, 'is required']);
      else if (spec.default !== undefined) out[key] = spec.default;
      continue;
    }
    const problem = checkValue(spec, v);
    if (problem !== undefined) problems.push([key, problem]);
    else out[key] = v as ParamValue;
  }
  return { params: out, problems };
}

function checkValue(spec: ParamSpec, v: unknown): string | undefined {
  switch (spec.type) {
    case 'number':
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) return 'must be a whole number';
      if (spec.min !== undefined && v < spec.min) return `must be at least ${spec.min}`;
      return undefined;
    case 'boolean':
      return typeof v === 'boolean' ? undefined : 'must be true or false';
    case 'string':
      if (typeof v !== 'string') return 'must be a string';
      return checkItem(spec, v);
    case 'list': {
      if (!Array.isArray(v)) return 'must be a list';
      if (spec.nonEmpty && v.length === 0) return 'must not be empty';
      for (const [i, item] of v.entries()) {
        if (typeof item !== 'string') return `item ${i + 1} must be a string`;
        const p = checkItem(spec, item);
        if (p !== undefined) return `item ${i + 1}: ${p}`;
      }
      if (new Set(v).size !== v.length) return 'lists a value twice';
      return undefined;
    }
  }
}

function checkItem(spec: ParamSpec, v: string): string | undefined {
  if (spec.values !== undefined && !spec.values.includes(v)) return `"${v}" is not one of ${spec.values.join(', ')}`;
  return spec.check?.(v);
}

/** A list parameter (filled in by {@link checkParams}). */
export function listParam(params: Params, key: string): readonly string[] {
  const v = params[key];
  return Array.isArray(v) ? v : [];
}

/** A string parameter (filled in by {@link checkParams}). */
export function stringParam(params: Params, key: string): string {
  const v = params[key];
  return typeof v === 'string' ? v : '';
}

/** A number parameter (filled in by {@link checkParams}). */
export function numberParam(params: Params, key: string): number {
  const v = params[key];
  return typeof v === 'number' ? v : 0;
}
