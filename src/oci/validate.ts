/** Validation of manifests, indexes and descriptors against the OCI schemas, with every violation listed. */
import { ProvenantError } from '../errors.ts';
import { isDigest } from './digest.ts';
import type { ImageIndex, ImageManifest } from './types.ts';

// These checks are the OCI image-spec JSON schemas (schema/image-manifest-schema.json,
// image-index-schema.json, content-descriptor.json, defs*.json) written as code, so the library
// needs no schema engine at run time. test/oci/validate.test.ts checks them against the
// official schemas with Ajv on generated documents: the two must agree.

// defs-descriptor.json#/definitions/mediaType
const MEDIA_TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;
// defs-descriptor.json#/definitions/digest
const DIGEST_GRAMMAR_RE = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
// RFC 3986 scheme, which is what format "uri" requires of an absolute URI at the least.
const URI_RE = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$/;
// The schema's int64 bound, as a double (JSON numbers are doubles here).
const INT64_MAX = 2 ** 63;

/** One schema violation: the JSON pointer of the value and what is wrong with it. */
export interface Violation {
  pointer: string;
  message: string;
}

type Checker = (value: unknown, pointer: string, out: Violation[]) => void;

/** A JSON object: not null, not an array. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// The checkers are function declarations, not arrow functions in constants, and those that
// integer, array and object make are such functions bound to their parameters, not closures:
// the CLI's bundle has V8 compile a chunk's top-level functions with the chunk, into Node's
// compile cache (scripts/bundle-cli.ts, eagerFunctions), where an arrow function or a closure is
// compiled when first called, at every start; `digest` of a layout validates index.json with
// eight of them (issue 16).

function mediaType(v: unknown, p: string, out: Violation[]): void {
  if (typeof v !== 'string') out.push({ pointer: p, message: 'must be a string' });
  else if (!MEDIA_TYPE_RE.test(v)) out.push({ pointer: p, message: `"${v}" is not a media type` });
}

function integer(min: number, max: number): Checker {
  return checkInteger.bind(undefined, min, max);
}

function checkInteger(min: number, max: number, v: unknown, p: string, out: Violation[]): void {
  if (typeof v !== 'number' || !Number.isInteger(v)) out.push({ pointer: p, message: 'must be an integer' });
  else if (v < min || v > max) out.push({ pointer: p, message: `must be between ${min} and ${max}` });
}

function digest(v: unknown, p: string, out: Violation[]): void {
  if (typeof v !== 'string') out.push({ pointer: p, message: 'must be a string' });
  else if (!DIGEST_GRAMMAR_RE.test(v)) out.push({ pointer: p, message: `"${v}" is not a digest` });
}

function urls(v: unknown, p: string, out: Violation[]): void {
  if (!Array.isArray(v)) return void out.push({ pointer: p, message: 'must be an array' });
  for (const [i, u] of v.entries()) {
    if (typeof u !== 'string' || !URI_RE.test(u)) out.push({ pointer: `${p}/${i}`, message: 'must be a URI' });
  }
}

function stringMap(v: unknown, p: string, out: Violation[]): void {
  if (!isObject(v)) return void out.push({ pointer: p, message: 'must be an object' });
  for (const [k, val] of Object.entries(v)) {
    if (k.length > 0 && typeof val !== 'string') out.push({ pointer: `${p}/${pointerEscape(k)}`, message: 'must be a string' });
  }
}

function string(v: unknown, p: string, out: Violation[]): void {
  if (typeof v !== 'string') out.push({ pointer: p, message: 'must be a string' });
}

function stringArray(v: unknown, p: string, out: Violation[]): void {
  if (!Array.isArray(v)) return void out.push({ pointer: p, message: 'must be an array' });
  for (const [i, s] of v.entries()) string(s, `${p}/${i}`, out);
}

function object(required: string[], properties: Record<string, Checker>, extra?: Checker): Checker {
  return checkObject.bind(undefined, required, properties, extra);
}

function checkObject(
  required: string[],
  properties: Record<string, Checker>,
  extra: Checker | undefined,
  v: unknown,
  p: string,
  out: Violation[],
): void {
  if (!isObject(v)) return void out.push({ pointer: p || '/', message: 'must be an object' });
  for (const key of required) {
    if (!(key in v)) out.push({ pointer: `${p}/${key}`, message: 'is required' });
  }
  for (const [key, check] of Object.entries(properties)) {
    if (key in v) check(v[key], `${p}/${pointerEscape(key)}`, out);
  }
  extra?.(v, p, out);
}

const contentDescriptor = object(['mediaType', 'size', 'digest'], {
  mediaType,
  size: integer(0, INT64_MAX),
  digest,
  urls,
  data: string,
  artifactType: mediaType,
  annotations: stringMap,
});

const platform = object(['architecture', 'os'], {
  architecture: string,
  os: string,
  'os.version': string,
  'os.features': stringArray,
  variant: string,
});

const manifestDescriptor = object(['mediaType', 'size', 'digest'], {
  mediaType,
  size: integer(-INT64_MAX, INT64_MAX),
  digest,
  urls,
  platform,
  annotations: stringMap,
});

function array(item: Checker, minItems = 0): Checker {
  return checkArray.bind(undefined, item, minItems);
}

function checkArray(item: Checker, minItems: number, v: unknown, p: string, out: Violation[]): void {
  if (!Array.isArray(v)) return void out.push({ pointer: p, message: 'must be an array' });
  if (v.length < minItems) out.push({ pointer: p, message: `must have at least ${minItems} item(s)` });
  for (const [i, x] of v.entries()) item(x, `${p}/${i}`, out);
}

const manifestSchema = object(['schemaVersion', 'config', 'layers'], {
  schemaVersion: integer(2, 2),
  mediaType,
  artifactType: mediaType,
  config: contentDescriptor,
  subject: contentDescriptor,
  layers: array(contentDescriptor, 1),
  annotations: stringMap,
});

const indexSchema = object(['schemaVersion', 'manifests'], {
  schemaVersion: integer(2, 2),
  mediaType,
  artifactType: mediaType,
  subject: contentDescriptor,
  manifests: array(manifestDescriptor),
  annotations: stringMap,
});

function pointerEscape(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** Violations of the image-manifest schema; empty when `value` is valid. */
export function manifestViolations(value: unknown): Violation[] {
  const out: Violation[] = [];
  manifestSchema(value, '', out);
  return out;
}

/** Violations of the image-index schema; empty when `value` is valid. */
export function indexViolations(value: unknown): Violation[] {
  const out: Violation[] = [];
  indexSchema(value, '', out);
  return out;
}

function fail(kind: string, violations: Violation[], where: string | undefined): never {
  const first = violations.slice(0, 3).map((v) => `${v.pointer || '/'} ${v.message}`);
  const more = violations.length > 3 ? ` (and ${violations.length - 3} more)` : '';
  throw new ProvenantError('INVALID_MANIFEST', `not a valid ${kind}: ${first.join('; ')}${more}`, {
    ...(where === undefined ? {} : { where }),
  });
}

/** Returns `value` as an image manifest, or throws INVALID_MANIFEST naming each violation. */
export function assertManifest(value: unknown, where?: string): ImageManifest {
  const v = manifestViolations(value);
  if (v.length > 0) fail('image manifest', v, where);
  return value as ImageManifest;
}

/** Returns `value` as an image index, or throws INVALID_MANIFEST naming each violation. */
export function assertIndex(value: unknown, where?: string): ImageIndex {
  const v = indexViolations(value);
  if (v.length > 0) fail('image index', v, where);
  return value as ImageIndex;
}

/** One digest given two sizes in one document: where, and which sizes. */
export interface DescriptorConflict {
  digest: string;
  first: { pointer: string; size: number };
  second: { pointer: string; size: number };
}

/**
 * Descriptors of one manifest or index that name the same digest with different sizes. The
 * schema allows it, but a digest fixes the bytes and so their size: one of the two is wrong
 * whatever the blob is. Left alone, a copy stores the blob under one size and names it with the
 * other; a layout skips the second as "already there". Repeated layers of one digest and one size
 * are fine (images repeat empty layers).
 */
export function descriptorConflicts(doc: ImageManifest | ImageIndex): DescriptorConflict[] {
  const listed = descriptorsOf(doc);
  const first = new Map<string, { pointer: string; size: number }>();
  const out: DescriptorConflict[] = [];
  for (const [pointer, d] of listed) {
    const seen = first.get(d.digest);
    if (seen === undefined) first.set(d.digest, { pointer, size: d.size });
    else if (seen.size !== d.size) out.push({ digest: d.digest, first: seen, second: { pointer, size: d.size } });
  }
  return out;
}

/** The descriptors of a manifest or index, each with its JSON pointer. */
function descriptorsOf(doc: ImageManifest | ImageIndex): Array<[string, { digest: string; size: number }]> {
  const listed: Array<[string, { digest: string; size: number }]> = [];
  if ('layers' in doc) {
    listed.push(['/config', doc.config]);
    for (const [i, l] of doc.layers.entries()) listed.push([`/layers/${i}`, l]);
  } else {
    for (const [i, m] of doc.manifests.entries()) listed.push([`/manifests/${i}`, m]);
  }
  if (doc.subject !== undefined) listed.push(['/subject', doc.subject]);
  return listed;
}

/**
 * Returns `doc`, or throws INVALID_MANIFEST for the first descriptor whose digest is not a
 * sha256 or sha512 digest. The schema takes any algorithm its grammar allows (`md5:…`,
 * `sha1:…`, `foo:…`), but the image spec registers only those two
 * (https://github.com/opencontainers/image-spec/blob/main/descriptor.md#registered-algorithms):
 * content named by a weak hash (md5, sha1) would be taken as verified, and one no hash
 * implements could not be verified at all. Checked once the schema holds, as the spec's own
 * validator does apart from the schema.
 *
 * @throws ProvenantError `INVALID_MANIFEST` whose `where` ends in the JSON pointer of the digest
 *   (`oci:DIR@sha256:…#/layers/0/digest`)
 */
export function assertVerifiableDigests<T extends ImageManifest | ImageIndex>(doc: T, where?: string): T {
  for (const [pointer, d] of descriptorsOf(doc)) {
    if (isDigest(d.digest)) continue;
    const at = `${pointer}/digest`;
    const algorithm = d.digest.slice(0, d.digest.indexOf(':'));
    const what =
      algorithm === 'sha256' || algorithm === 'sha512'
        ? `is not a ${algorithm} digest (${algorithm === 'sha256' ? 64 : 128} lower-case hex digits)`
        : `names ${algorithm}, which OCI does not register: only sha256 and sha512 digests are verified`;
    throw new ProvenantError('INVALID_MANIFEST', `${at} ${d.digest.length > 80 ? `${d.digest.slice(0, 77)}...` : d.digest} ${what}`, {
      where: `${where ?? ''}#${at}`,
      hint: 'the document was made by a tool that names content by another hash; have it write sha256 digests',
    });
  }
  return doc;
}

/** Returns `doc`, or throws INVALID_MANIFEST when it gives one digest two sizes. */
export function assertConsistentDescriptors<T extends ImageManifest | ImageIndex>(doc: T, where?: string): T {
  const conflicts = descriptorConflicts(doc);
  const c = conflicts[0];
  if (c === undefined) return doc;
  const more = conflicts.length > 1 ? ` (and ${conflicts.length - 1} more)` : '';
  throw new ProvenantError(
    'INVALID_MANIFEST',
    `${c.digest} is listed with size ${c.first.size} at ${c.first.pointer} and size ${c.second.size} at ${c.second.pointer}${more}`,
    { ...(where === undefined ? {} : { where }), hint: 'one digest names one content of one size; the document is wrong' },
  );
}
