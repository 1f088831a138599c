/**
 * Writing attestations in the storage a target accepts.
 *
 * - `buildkit`: attestation manifests inside the image index, as BuildKit writes them: each with
 *   `vnd.docker.reference.type: attestation-manifest` and `vnd.docker.reference.digest` naming the
 *   platform manifest, platform `unknown/unknown`, a config `{"architecture":"unknown",...}` and
 *   one `application/vnd.in-toto+json` layer per statement, annotated with
 *   `in-toto.io/predicate-type` (https://github.com/moby/buildkit/blob/master/docs/attestations/attestation-storage.md).
 * - `buildkit-artifact`: the same entries in the index, each an OCI 1.1 artifact manifest (the
 *   empty config, BuildKit's artifact type and the platform manifest as `subject`): BuildKit's
 *   `oci-artifact=true` form, its default since 0.32. Registries that process `subject` list them
 *   as referrers too.
 * - `referrers`: one OCI 1.1 artifact manifest per platform image, with `subject`, the empty
 *   config and BuildKit's artifact type `application/vnd.docker.attestation.manifest.v1+json`
 *   (what `buildx --attest ... oci-artifact=true` writes), found through the referrers API, the
 *   tag fallback, or a layout's index. The image index itself stays clean.
 * - `cosign`: DSSE envelopes under `sha256-<hex>.att` tags; they are signed, so sign/ writes
 *   them (`attestImage`, `signBuild`), not this module.
 * - `none`.
 */
import { ProvenantError } from '../errors.ts';
import { forEachLimited, Limiter } from '../io/limit.ts';
import { type BlobSource, bytesSource, type OperationOptions } from '../io/types.ts';
import { descriptorOf, encodeJson, parseStored, type Stored } from '../oci/content.ts';
import { type Digest, digestOf } from '../oci/digest.ts';
import { MediaType } from '../oci/mediatypes.ts';
import { Annotation, type Descriptor, type ImageIndex, type ImageManifest } from '../oci/types.ts';
import type { ContentStore } from '../store/types.ts';
import { ArtifactType } from './attachments.ts';

/** An in-toto statement ready to store: its predicate type and its exact bytes. */
export interface StatementBlob {
  predicateType: string;
  bytes: Uint8Array;
}

/**
 * A statement stored from where it already is (another store's attestation, put into another
 * storage): its predicate type and its blob, which the store reads as it writes, by digest, as a
 * copy copies a layer. It is never held whole, so no statement is refused for its size here:
 * STATEMENT_LIMIT bounds what is parsed, and a statement moved between storages is not parsed.
 */
export interface StatementSource {
  predicateType: string;
  blob: BlobSource;
}

/**
 * The storages `--attestations` accepts. `buildkit` is BuildKit's legacy in-index form,
 * `buildkit-artifact` the OCI-artifact form BuildKit 0.32 writes by default (both exist in the wild).
 */
export type AttestationMode = 'buildkit' | 'buildkit-artifact' | 'referrers' | 'cosign' | 'none';

/** Every {@link AttestationMode}, in the order messages list them. */
export const ATTESTATION_MODES: readonly AttestationMode[] = ['referrers', 'buildkit', 'buildkit-artifact', 'cosign', 'none'];

/** The artifact type of an attestation manifest stored as an OCI referrer (BuildKit's). */
export const ATTESTATION_ARTIFACT_TYPE = ArtifactType.BuildkitAttestation;

const EMPTY_CONFIG = new TextEncoder().encode('{}');
const EMPTY_DIGEST = digestOf(EMPTY_CONFIG);

/** Parses `--attestations`. */
export function parseAttestationMode(text: string): AttestationMode {
  if ((ATTESTATION_MODES as readonly string[]).includes(text)) return text as AttestationMode;
  throw new ProvenantError('USAGE', `--attestations must be ${ATTESTATION_MODES.join(', ')}, not ${JSON.stringify(text)}`);
}

/** True for the storages that list attestation manifests in the image index. */
export function isInIndexMode(mode: AttestationMode): mode is 'buildkit' | 'buildkit-artifact' {
  return mode === 'buildkit' || mode === 'buildkit-artifact';
}

/**
 * One platform image and the statements about it: made in memory (signing them needs their
 * bytes), or, for {@link storeAttestations} alone, also {@link StatementSource}s.
 */
export interface Attested<S extends StatementBlob | StatementSource = StatementBlob> {
  manifest: Stored;
  statements: S[];
}

/**
 * Options of {@link storeAttestations}: how its blobs are written, as copyImage writes a layer
 * (../image/copy.ts), since a {@link StatementSource} is copied from another store as a layer is.
 */
export interface StoreAttestationsOptions extends OperationOptions {
  /**
   * Repositories of the destination's registry the statement sources are read from: a registry
   * store mounts a blob from one instead of uploading it (copyImage's mountFrom). Ignored elsewhere.
   */
  mountFrom?: readonly string[] | undefined;
  /**
   * Hash a blob the destination holds already before taking it as there (default true), where the
   * store can (a layout; see ContentStore.checksExistingContent): one damaged on disk is written
   * again rather than named by a new attestation manifest. false trusts it by name.
   */
  verifyExisting?: boolean | undefined;
  /** Parallel blob writes (default 4, as copyImage's). */
  concurrency?: number | undefined;
  /**
   * In-index storage: take out of an image's attestation manifest the statements there of the
   * predicate types given for it (by their layers' `in-toto.io/predicate-type`), as `attest
   * --replace` asks. Referrers already written are not taken out (`referrers` ignores it).
   */
  replace?: boolean | undefined;
}

/**
 * Writes the statements' blobs and attestation manifests, and returns the index to tag: the
 * same index for `referrers` and `none`, a new one with attestation entries for `buildkit` and
 * `buildkit-artifact`. Blobs and manifests go first; the caller tags the returned index last.
 *
 * @throws ProvenantError `USAGE` for `cosign` (signed storage, which sign/'s attestImage writes),
 *   and for the in-index storages when the image is a single manifest; `DIGEST_MISMATCH` when a
 *   {@link StatementSource}'s bytes are not its digest, `NOT_FOUND` when its store has no such
 *   blob (both before any attestation manifest is written); whatever the store's writes raise
 */
export async function storeAttestations(
  store: ContentStore,
  index: Stored,
  attested: readonly Attested<StatementBlob | StatementSource>[],
  mode: AttestationMode,
  options: StoreAttestationsOptions = {},
): Promise<Stored> {
  if (mode === 'none' || attested.every((a) => a.statements.length === 0)) return index;
  if (mode === 'cosign') {
    throw new ProvenantError('USAGE', 'cosign attestation storage holds signed attestations: they are written by signing', {
      hint: 'sign them (--sign with --key FILE, or keyless), or use --attestations referrers (the default) or buildkit',
    });
  }
  if (isInIndexMode(mode) && index.kind !== 'index') {
    throw new ProvenantError('USAGE', 'BuildKit attestation storage needs an image index; this is a single manifest', {
      hint: 'use referrers storage',
    });
  }
  // BuildKit's storage attaches statements to platform manifests only.
  const form = mode === 'buildkit' ? 'legacy' : 'artifact';
  const manifests: { subject: Stored; blobs: BlobToWrite[]; sources: BlobSource[]; stored: Stored; replaces: readonly Descriptor[] }[] = [];
  for (const a of attested) {
    if (a.statements.length === 0 || (isInIndexMode(mode) && a.manifest.kind !== 'manifest')) continue;
    // BuildKit keeps one attestation manifest per platform image, every statement a layer of it:
    // attaching again merges into the one there (and any duplicates an older attach left).
    const replaces =
      isInIndexMode(mode) && index.kind === 'index' ? await existingEntries(store, index.index, a.manifest.digest, form, options) : [];
    // --replace: the statements there of the types attached now go (those attached now stay).
    const types = new Set(a.statements.map((s) => s.predicateType));
    const fresh = new Set(a.statements.map((s) => ('bytes' in s ? digestOf(s.bytes) : s.blob.descriptor.digest)));
    const there = replaces.flatMap((r) => r.layers);
    const kept =
      options.replace === true
        ? there.filter((l) => fresh.has(l.digest) || !types.has(l.annotations?.[Annotation.InTotoPredicateType] ?? ''))
        : there;
    // Every statement there already, in the one manifest for this platform: nothing to change.
    const merged = attestationManifest(a, form, kept, replaces.length > 1 || kept.length < there.length);
    if (merged !== undefined) manifests.push({ subject: a.manifest, ...merged, replaces: replaces.map((r) => r.entry) });
  }
  // Every blob at once (each once: the empty config is every artifact's), then the manifests in
  // order: one after another, the writes of a build's few small blobs were a wait of their own
  // (issue 16, a one-package build with statements).
  const blobs = new Map<string, BlobSource>([
    ...manifests.flatMap((m) => m.blobs).map((b) => [b.descriptor.digest, bytesSource(b.descriptor, b.bytes)] as const),
    ...manifests.flatMap((m) => m.sources).map((b) => [b.descriptor.digest, b] as const),
  ]);
  // As copyImage writes a layer: at most `concurrency` at once, mounted where a registry can, and
  // a blob a layout holds already hashed before it is taken as there.
  const { mountFrom, verifyExisting, concurrency, ...operation } = options;
  const put = { ...operation, mountFrom, verifyExisting: verifyExisting !== false && store.checksExistingContent === true };
  // Settled, all of them, before a failure is thrown: no write still runs when the caller discards the store.
  await forEachLimited([...blobs.values()], new Limiter(concurrency ?? 4), async (b) => {
    await store.putBlob(b, put);
  });
  const extra: Descriptor[] = [];
  // An entry an existing attestation manifest had: the merged one's descriptor in the first's place, or dropped.
  const replaced = new Map<string, Descriptor | undefined>();
  for (const { subject, stored, replaces } of manifests) {
    await store.putManifest(stored, { ...options, tags: [] });
    if (isInIndexMode(mode)) {
      const entry = descriptorOf(stored, {
        annotations: { [Annotation.DockerReferenceDigest]: subject.digest, [Annotation.DockerReferenceType]: 'attestation-manifest' },
        platform: { architecture: 'unknown', os: 'unknown' },
      });
      if (replaces.length === 0) extra.push(entry);
      replaces.forEach((r, i) => {
        replaced.set(r.digest, i === 0 ? entry : undefined);
      });
    }
  }
  if (mode === 'referrers' || index.kind !== 'index') return index;
  // Nothing new: the index as it is, so attaching the same statements again changes nothing.
  if (extra.length === 0 && replaced.size === 0) return index;
  // An attestation already in the index (attested again with the same statements) once; and a
  // Docker manifest list becomes an OCI index, as BuildKit writes one whenever it attests.
  const kept = index.index.manifests.flatMap((m) => {
    if (!replaced.has(m.digest)) return [m];
    const entry = replaced.get(m.digest);
    return entry === undefined ? [] : [entry];
  });
  const fresh = extra.filter((d) => !kept.some((m) => m.digest === d.digest));
  const withAttestations: ImageIndex = {
    ...index.index,
    mediaType: MediaType.OciIndex,
    manifests: [...kept, ...fresh],
  };
  return parseStored(encodeJson(withAttestations), { mediaType: MediaType.OciIndex });
}

interface BlobToWrite {
  descriptor: Descriptor;
  bytes: Uint8Array;
}

/**
 * The index entries of `subject`'s attestation manifests in `form` (BuildKit's annotations name
 * the platform manifest), each with its layers: the statements a new attach merges with.
 */
async function existingEntries(
  store: ContentStore,
  index: ImageIndex,
  subject: Digest,
  form: 'legacy' | 'artifact',
  options: OperationOptions,
): Promise<{ entry: Descriptor; layers: Descriptor[] }[]> {
  const found: { entry: Descriptor; layers: Descriptor[] }[] = [];
  for (const entry of index.manifests) {
    const a = entry.annotations;
    if (a?.[Annotation.DockerReferenceType] !== 'attestation-manifest' || a[Annotation.DockerReferenceDigest] !== subject) continue;
    const stored = await store.getManifest(entry.digest, options);
    if (stored.kind !== 'manifest') {
      throw new ProvenantError('INVALID_MANIFEST', `the attestation entry ${entry.digest} of ${subject} is no image manifest`, {
        where: entry.digest,
      });
    }
    const m = stored.manifest;
    const isArtifact = m.artifactType === ATTESTATION_ARTIFACT_TYPE || m.config.mediaType === MediaType.OciEmpty;
    if (isArtifact === (form === 'artifact')) found.push({ entry, layers: m.layers });
  }
  return found;
}

/**
 * The referrer `referrers` storage makes of `a`'s statements (see storeAttestations), not
 * written: its manifest and the blobs it names. Undefined when there are no statements.
 */
export function attestationReferrer(a: Attested): { blobs: { descriptor: Descriptor; bytes: Uint8Array }[]; stored: Stored } | undefined {
  if (a.statements.length === 0) return undefined;
  const made = attestationManifest(a, 'artifact');
  if (made === undefined) return undefined;
  // Its caller writes `blobs` and nothing else: a statement given by source (a StatementSource
  // passed where the type says StatementBlob) would be named by the manifest and never written.
  if (made.sources.length > 0) {
    throw new Error(
      `internal: attestationReferrer takes statements as bytes, and was given ${made.sources.map((b) => b.descriptor.digest).join(', ')} as sources`,
    );
  }
  return { blobs: made.blobs, stored: made.stored };
}

/**
 * One platform image's attestation manifest and the blobs it names (its statements and config:
 * `blobs` in memory, `sources` the statements stored from where they are),
 * in one of BuildKit's two forms (moby/buildkit exporter/containerimage/writer.go,
 * commitAttestationsManifest): `legacy`, a config `{"architecture":"unknown","os":"unknown",...}`
 * naming the statements as layers; `artifact`, the empty config, BuildKit's artifact type and the
 * image as `subject`, which is also what an OCI referrer of the image is. `existing` layers (an
 * attestation manifest there already) come first; undefined when no statement is new, unless `always`.
 */
function attestationManifest(
  a: Attested<StatementBlob | StatementSource>,
  form: 'legacy' | 'artifact',
  existing: readonly Descriptor[] = [],
  always = false,
): { blobs: BlobToWrite[]; sources: BlobSource[]; stored: Stored } | undefined {
  const blobs: BlobToWrite[] = [];
  const sources: BlobSource[] = [];
  // The existing statements first (their blobs are in the store), each layer once.
  const layers: Descriptor[] = existing.filter((l, i) => existing.findIndex((o) => o.digest === l.digest) === i);
  let added = false;
  for (const s of a.statements) {
    // The layer BuildKit writes: the media type and the predicate type, nothing else of a source's descriptor.
    const d: Descriptor = {
      mediaType: MediaType.InToto,
      digest: 'bytes' in s ? digestOf(s.bytes) : s.blob.descriptor.digest,
      size: 'bytes' in s ? s.bytes.length : s.blob.descriptor.size,
      annotations: { [Annotation.InTotoPredicateType]: s.predicateType },
    };
    if (layers.some((l) => l.digest === d.digest)) continue;
    if ('bytes' in s) blobs.push({ descriptor: d, bytes: s.bytes });
    else sources.push(s.blob);
    layers.push(d);
    added = true;
  }
  if (!added && !always) return undefined;
  let manifest: ImageManifest;
  if (form === 'legacy') {
    const config = encodeJson({
      architecture: 'unknown',
      os: 'unknown',
      config: {},
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
    });
    const configDescriptor: Descriptor = { mediaType: MediaType.OciConfig, digest: digestOf(config), size: config.length };
    blobs.push({ descriptor: configDescriptor, bytes: config });
    manifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config: configDescriptor, layers } as ImageManifest;
  } else {
    blobs.push({ descriptor: { mediaType: MediaType.OciEmpty, digest: EMPTY_DIGEST, size: 2 }, bytes: EMPTY_CONFIG });
    manifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      artifactType: ATTESTATION_ARTIFACT_TYPE,
      config: { mediaType: MediaType.OciEmpty, digest: EMPTY_DIGEST, size: 2, data: 'e30=' },
      layers,
      subject: descriptorOf(a.manifest),
    } as ImageManifest;
  }
  return { blobs, sources, stored: parseStored(encodeJson(manifest), { mediaType: MediaType.OciManifest }) };
}

/**
 * The predicate cosign makes of a `--type custom` file (predicate type
 * https://cosign.sigstore.dev/attestation/v1, by that name or its URI): the file's text as it
 * is, not read as JSON, and the time of attesting, in Go's RFC 3339 in UTC, whole seconds
 * (pkg/cosign/attestation/attestation.go, CosignPredicate and generateCustomPredicate). Pass
 * SOURCE_DATE_EPOCH's time as `at` for a reproducible statement.
 */
export function cosignCustomPredicate(raw: string, at: Date): { Data: string; Timestamp: string } {
  return { Data: raw, Timestamp: at.toISOString().replace(/\.\d{3}Z$/, 'Z') };
}

/** Wraps a predicate in an in-toto Statement v1 about `subjects`. */
export function statement(predicateType: string, predicate: unknown, subjects: readonly { name: string; digest: Digest }[]): StatementBlob {
  const body = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: subjects.map((s) => ({ name: s.name, digest: { [s.digest.split(':')[0] as string]: s.digest.split(':')[1] } })),
    predicateType,
    predicate,
  };
  return { predicateType, bytes: encodeJson(body) };
}
