/**
 * Signing and attesting images in a store, in the storages cosign 2 and cosign 3 read:
 * `signImage` writes a simple-signing signature into the `.sig` image and a cosign/sign/v1
 * bundle as a referrer; `attestImage` writes each statement as a DSSE envelope into the `.att`
 * image or as a bundle referrer. Signing again with the same key adds nothing (the existing
 * signature of the same payload is found and verified with the key first); another key or a
 * keyless identity adds a signature.
 */
import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { RFC3161Timestamp } from '@sigstore/core';
import type { AttestationMode, Attested, StatementBlob } from '../attest/storage.ts';
import { ProvenantError, throwIfAborted } from '../errors.ts';
import type { OperationOptions } from '../io/types.ts';
import { checkIndexDepth, cosignTag, descriptorOf, type Stored } from '../oci/content.ts';
import { type Digest, digestOf } from '../oci/digest.ts';
import type { Descriptor, ImageManifest } from '../oci/types.ts';
import type { ContentStore } from '../store/types.ts';
import {
  b64decode,
  COSIGN_SIGN_PREDICATE_TYPE,
  cosignSignStatement,
  IN_TOTO_PAYLOAD_TYPE,
  pae,
  parseEnvelope,
  simpleSigningPayload,
} from './payload.ts';
import type { Signer } from './signer.ts';
import {
  annotatedTimestamp,
  appendCosignLayer,
  attestationLayer,
  CosignAnnotation,
  eachSignature,
  type FoundSignature,
  isAttestationOf,
  layerKey,
  replaceVerdicts,
  signatureLayer,
  writeBundleReferrer,
} from './storage.ts';
import type { TrustedRoot } from './trust.ts';
import { verifyFoundSignature } from './verify.ts';

/** Where signatures go: cosign 2's `.sig`/`.att` tags, cosign 3's bundle referrers. */
export type SignatureStorage = 'cosign' | 'referrers';

/** What one signing step did. */
export interface SignedEntry {
  /** The manifest or index signed (or attested). */
  digest: Digest;
  storage: SignatureStorage;
  /** False when an equal signature by the same key was already there. */
  added: boolean;
  /**
   * The tag (cosign storage) or the referrer manifest's digest; for one already there
   * (`added: false`), where it was found: the tag and layer (`sha256-….att layer 0`), or
   * `referrer sha256:…`.
   */
  location: string;
  /** The predicate type, for attestations. */
  predicateType?: string;
  /** How many attestations of its predicate type it took the place of (`attest --replace`, `.att` only). */
  replaced?: number;
  /**
   * For attestations, the digest of the statement's bytes (the DSSE payload signed): what tells
   * two statements of one predicate type apart, and a statement stored unsigned from its signed copy.
   */
  statement?: Digest;
}

/**
 * A signing that failed after it had written signatures or attestations: the failure, and what
 * it wrote before it (`written`, each whole and verifiable), which stays in the store. The
 * message says both, in place of a file write's "nothing was written" (../io/files.ts), which is
 * true of that one file only.
 */
export class PartlySignedError extends ProvenantError {
  /** What was added before the failure. */
  readonly written: readonly SignedEntry[];
  /** The failure's own message, without the account of what was written. */
  readonly failure: string;

  constructor(err: ProvenantError, written: readonly SignedEntry[]) {
    const failure = (err instanceof PartlySignedError ? err.failure : err.message).replace(/; nothing was written$/, '');
    super(err.code, `${failure}; ${writtenBefore(written)}`, { where: err.where, hint: err.hint, cause: err });
    this.written = written;
    this.failure = failure;
  }
}

/**
 * What a signing wrote before it failed, as the message of a {@link PartlySignedError} says it:
 * each, up to two; more, counted (a build signs an index, each image and each statement).
 */
function writtenBefore(written: readonly SignedEntry[]): string {
  if (written.length > 2) {
    const statements = written.filter((e) => e.predicateType !== undefined).length;
    const signatures = written.length - statements;
    const counted = [
      ...(signatures === 0 ? [] : [`${signatures} signature${signatures === 1 ? '' : 's'}`]),
      ...(statements === 0 ? [] : [`${statements} attestation${statements === 1 ? '' : 's'}`]),
    ];
    return `before it, written and kept: ${counted.join(' and ')} (provenant verify lists them); the rest was not written`;
  }
  const one = (e: SignedEntry): string =>
    e.predicateType !== undefined
      ? `the ${e.predicateType} attestation of ${e.digest} (${e.storage === 'cosign' ? e.location : `referrer ${e.location}`})`
      : e.storage === 'cosign'
        ? `the cosign signature of ${e.digest} (${e.location})`
        : `the signature of ${e.digest} as referrer ${e.location}`;
  return `before it, written and kept: ${written.map(one).join(', ')}; the rest was not written`;
}

/**
 * `err` as a {@link PartlySignedError} when `done` added something before it: what a signing that
 * failed leaves in the store is said, not thrown away. Any other error as it is.
 */
export function partly(err: unknown, done: readonly SignedEntry[]): unknown {
  if (!(err instanceof ProvenantError) || err.code === 'ABORTED') return err;
  const before = done.filter((e) => e.added);
  const written = err instanceof PartlySignedError ? [...before, ...err.written] : before;
  return written.length === 0 ? err : new PartlySignedError(err, written);
}

/** Options of {@link signImage}. */
export interface SignImageOptions extends OperationOptions {
  signer: Signer;
  /**
   * `critical.identity.docker-reference` of the simple-signing payload: the repository, as
   * cosign writes it (see cosignDockerReference).
   */
  dockerReference: string;
  /** `-a key=value` annotations: the payload's `optional`, the statement subject's annotations. */
  annotations?: Readonly<Record<string, string>> | undefined;
  /** Where to store (default both, so cosign 2 and cosign 3 each find a signature). */
  storages?: readonly SignatureStorage[] | undefined;
  /**
   * Where to store the signature of one subject instead, when it says (undefined: `storages`):
   * for a subject a target takes in one storage only, as ECR takes a signature of an index under
   * its `.sig` tag and refuses it as a referrer (see attachmentStoragesFor in ../compat/fix.ts).
   */
  storagesOf?: ((subject: Digest) => readonly SignatureStorage[] | undefined) | undefined;
  /**
   * True for a subject whose new `.sig` image is to be in Docker schema 2 media types, as cosign
   * writes it with COSIGN_DOCKER_MEDIA_TYPES=1 (see appendCosignLayer): for a target that reads
   * nothing else, as Artifactory before 7.11.1. Default false: OCI, as cosign.
   */
  dockerMediaTypesOf?: ((subject: Digest) => boolean) | undefined;
  /** Also sign every manifest an index names, as `cosign sign --recursive`. */
  recursive?: boolean | undefined;
  /** The bundle referrers' creation time (default now; SOURCE_DATE_EPOCH's for reproducible output). */
  created?: Date | undefined;
}

/** What a signer made for one digest. */
export interface SignedInfo {
  /** The digest signed. */
  readonly subject: Digest;
  /** The signature's own manifest. */
  readonly signature: Digest;
  /** How it is stored. */
  readonly storage: SignatureStorage;
  /** Anything the signer wants said (the identity, the log entry). */
  readonly note?: string | undefined;
}

/**
 * Signs `digest` in `store` (the destination, already holding the fixed image), in `storage`: a
 * cosign 3 bundle referrer, or a layer of cosign 2's `.sig` tag, whichever the target takes (a
 * registry that refuses a referrer of an index, such as ECR, takes the tag). `how.dockerMediaTypes`
 * asks for a new `.sig` image in Docker schema 2 media types, as cosign writes with
 * COSIGN_DOCKER_MEDIA_TYPES=1, for a target that refuses OCI ones (Artifactory before 7.11.1).
 * {@link resignerOf} makes one; fixImage (../compat/fix.ts) calls it for every digest the fix changed.
 */
export type Resigner = (
  store: ContentStore,
  digest: Digest,
  storage: SignatureStorage,
  how?: { readonly dockerMediaTypes?: boolean | undefined },
) => Promise<SignedInfo>;

/** A statement signed as an attestation: the manifest it is about, and the digest of its bytes (the DSSE payload). */
export interface SignedStatement {
  readonly about: Digest;
  readonly statement: Digest;
}

/**
 * Signs each in-toto statement of `statements` (each naming `digest` as its subject) and stores it
 * as an attestation of `digest` in `store`, in `storage`, as `build --target` signs the statements
 * it made: {@link attestImage}, as {@link attesterOf} makes one. Returns each statement signed, by
 * the digest of its bytes. fixImage (../compat/fix.ts) calls it for the BuildKit attestations it
 * moved out of the index (its SigningReport.moved), which the index's signature no longer covers.
 */
export type Attester = (
  store: ContentStore,
  digest: Digest,
  statements: readonly StatementBlob[],
  storage: SignatureStorage,
  how?: { readonly dockerMediaTypes?: boolean | undefined },
) => Promise<readonly SignedStatement[]>;

/**
 * A function that signs one digest in the storage it is asked for and names the signature's own
 * manifest: a referrer by its digest, a cosign signature through the tag it was written under.
 * It is what `fixImage` (../compat/fix.ts) takes as its `resign`, for `fix --key` and the Action.
 */
export function resignerOf(
  signer: Signer,
  options: { dockerReference: string; created?: Date | undefined; signal?: AbortSignal | undefined },
): Resigner {
  const { dockerReference, created, signal } = options;
  return async (store, digest, storage, how) => {
    const docker = how?.dockerMediaTypes === true;
    const entries = await signImage(store, digest, {
      signer,
      dockerReference,
      storages: [storage],
      dockerMediaTypesOf: () => docker,
      created,
      signal,
    });
    const entry = entries[0];
    if (entry === undefined) throw new ProvenantError('SIGNATURE', `signing ${digest} wrote nothing`, { where: digest });
    const signature = storage === 'referrers' ? (entry.location as Digest) : (await store.resolve(entry.location, { signal }))?.digest;
    if (signature === undefined)
      throw new ProvenantError('SIGNATURE', `signing ${digest} left no ${entry.location} tag`, { where: digest });
    return { subject: digest, signature, storage: entry.storage };
  };
}

/**
 * A function that signs in-toto statements about one digest and stores them as its attestations
 * in the storage it is asked for, as `build --target` signs the statements it made
 * ({@link attestImage}), and names each statement signed by the digest of its bytes. It is what
 * `fixImage` (../compat/fix.ts) takes as its `attest`, for the BuildKit attestations a fix moves
 * out of the signed index (`fix --key`, the Action).
 */
export function attesterOf(signer: Signer, options: { created?: Date | undefined; signal?: AbortSignal | undefined } = {}): Attester {
  const { created, signal } = options;
  return async (store, digest, statements, storage, how) => {
    const entries = await attestImage(store, digest, statements, {
      signer,
      storage,
      dockerMediaTypes: how?.dockerMediaTypes === true,
      created,
      signal,
    });
    return entries.flatMap((e) => (e.statement === undefined ? [] : [{ about: e.digest, statement: e.statement }]));
  };
}

/**
 * Signs the manifest or index `target` (a tag or digest) in `store`.
 *
 * @throws ProvenantError `NOT_FOUND` when there is no such manifest
 */
export async function signImage(store: ContentStore, target: string, options: SignImageOptions): Promise<SignedEntry[]> {
  const defaults = options.storages ?? ['cosign', 'referrers'];
  const root = await store.getManifest(target, options);
  const subjects: Descriptor[] = [descriptorOf(root)];
  if (options.recursive && root.kind === 'index') subjects.push(...(await children(store, root, options)));
  const out: SignedEntry[] = [];
  try {
    await signEach(store, subjects, defaults, options, out);
  } catch (err) {
    throw partly(err, out);
  }
  return out;
}

/** Signs each of `subjects` as {@link signImage} does, adding to `out` what each step did. */
async function signEach(
  store: ContentStore,
  subjects: readonly Descriptor[],
  defaults: readonly SignatureStorage[],
  options: SignImageOptions,
  out: SignedEntry[],
): Promise<void> {
  for (const subject of subjects) {
    throwIfAborted(options.signal);
    const storages = options.storagesOf?.(subject.digest) ?? defaults;
    const payload = simpleSigningPayload(options.dockerReference, subject.digest, options.annotations);
    const statement = cosignSignStatement(subject.digest, options.annotations);
    const wanted: Wanted[] = [];
    if (storages.includes('cosign')) wanted.push({ where: 'cosign', payload });
    if (storages.includes('referrers')) wanted.push({ where: 'referrers', payload: statement });
    const dups = await duplicates(store, subject.digest, wanted, options.signer, options);
    const dupOf = (where: Where) => dups[wanted.findIndex((w) => w.where === where)];
    if (storages.includes('cosign')) {
      const dup = dupOf('cosign');
      if (dup !== undefined) {
        out.push({ digest: subject.digest, storage: 'cosign', added: false, location: dup });
      } else {
        const signed = await options.signer.sign({ kind: 'message', bytes: payload }, options);
        const dockerMediaTypes = options.dockerMediaTypesOf?.(subject.digest) === true;
        const r = await appendCosignLayer(store, subject.digest, 'sig', signatureLayer(payload, signed), { ...options, dockerMediaTypes });
        out.push({ digest: subject.digest, storage: 'cosign', added: r.added, location: r.tag });
      }
    }
    if (storages.includes('referrers')) {
      const dup = dupOf('referrers');
      if (dup !== undefined) {
        out.push({ digest: subject.digest, storage: 'referrers', added: false, location: dup });
      } else {
        const signed = await options.signer.sign({ kind: 'dsse', payloadType: IN_TOTO_PAYLOAD_TYPE, payload: statement }, options);
        const referrer = await writeBundleReferrer(store, subject, signed.bundle, COSIGN_SIGN_PREDICATE_TYPE, options);
        out.push({ digest: subject.digest, storage: 'referrers', added: true, location: referrer });
      }
    }
  }
}

/** Options of {@link attestImage}. */
export interface AttestImageOptions extends OperationOptions {
  signer: Signer;
  /** `cosign`: DSSE layers of the `.att` image (cosign 2); `referrers`: a bundle per statement (cosign 3). */
  storage: SignatureStorage;
  /** A new `.att` image in Docker schema 2 media types (see {@link SignImageOptions.dockerMediaTypesOf}). */
  dockerMediaTypes?: boolean | undefined;
  /** The bundle referrers' creation time (default now). */
  created?: Date | undefined;
  /**
   * `cosign` storage: take out of the `.att` image the attestations there of the statements'
   * predicate types as these go in, as `cosign attest --replace` does (pkg/cosign/remote
   * ReplaceOp). A statement is then signed and written even when an equal one is there, so that
   * one of each type is left. Referrers cannot be taken out: `referrers` storage ignores it, as
   * cosign does (the caller says so).
   */
  replace?: boolean | undefined;
  /**
   * With `replace`: what {@link replaceVerdicts} said of the `.att` image for the statements'
   * predicate types, when the caller read it already (attaching to several images, it reads all
   * of them before signing any), so that no layer is read again.
   */
  replaceVerdicts?: ReadonlyMap<string, boolean> | undefined;
}

/**
 * Signs each in-toto statement (DSSE) and stores it as an attestation of `target`. The
 * statements' subjects are the caller's to set (see `statement` in attest/storage.ts); a
 * statement that does not name `target`'s digest would never verify, so it is refused.
 *
 * @throws ProvenantError `USAGE` for a statement about something else
 */
export async function attestImage(
  store: ContentStore,
  target: string,
  statements: readonly StatementBlob[],
  options: AttestImageOptions,
): Promise<SignedEntry[]> {
  const root = await store.getManifest(target, options);
  const subject = descriptorOf(root);
  const where: Where = options.storage === 'cosign' ? 'cosign-att' : 'referrers';
  const replacing = options.replace === true && options.storage === 'cosign';
  const dups = replacing
    ? statements.map(() => undefined)
    : await duplicates(
        store,
        subject.digest,
        statements.map((s) => ({ where, payload: s.bytes })),
        options.signer,
        options,
      );
  // What --replace takes out: the `.att` layers of these types this call did not write, each
  // judged by the statement it holds, read before anything is signed or written (a layer that
  // cannot be read fails it, as cosign's ReplaceOp), once: one another writer adds meanwhile is
  // read when met.
  const types = new Set(statements.map((s) => s.predicateType));
  const verdicts = new Map(
    replacing ? (options.replaceVerdicts ?? (await replaceVerdicts(store, subject.digest, types, options))) : undefined,
  );
  const written = new Set<Digest>();
  const tag = cosignTag(subject.digest, 'att');
  const dropping = async (layer: Descriptor, manifest: ImageManifest): Promise<boolean> => {
    if (written.has(layer.digest)) return false;
    const key = layerKey(layer);
    let verdict = verdicts.get(key);
    if (verdict === undefined) {
      verdict = await isAttestationOf(store, tag, manifest, layer, types, options);
      verdicts.set(key, verdict);
    }
    return verdict;
  };
  const out: SignedEntry[] = [];
  try {
    for (const [i, s] of statements.entries()) {
      throwIfAborted(options.signal);
      assertNames(s, subject.digest);
      const what = { predicateType: s.predicateType, statement: digestOf(s.bytes) };
      const dup = dups[i];
      if (dup !== undefined) {
        out.push({ digest: subject.digest, storage: options.storage, added: false, location: dup, ...what });
        continue;
      }
      const timestamp = options.storage === 'cosign' ? 'envelope' : 'signature';
      const signed = await options.signer.sign({ kind: 'dsse', payloadType: IN_TOTO_PAYLOAD_TYPE, payload: s.bytes, timestamp }, options);
      if (options.storage === 'referrers') {
        const referrer = await writeBundleReferrer(store, subject, signed.bundle, s.predicateType, options);
        out.push({ digest: subject.digest, storage: 'referrers', added: true, location: referrer, ...what });
        continue;
      }
      // The layer is the envelope as it was logged, not one written again in cosign 2's field
      // order: cosign takes the log entry for the layer only when it records the layer's hash.
      const layer = attestationLayer(s.predicateType, signed);
      written.add(digestOf(layer.payload));
      const r = await appendCosignLayer(store, subject.digest, 'att', layer, { ...options, ...(replacing ? { dropping } : {}) });
      out.push({
        digest: subject.digest,
        storage: 'cosign',
        added: r.added,
        location: r.tag,
        ...what,
        ...(r.dropped > 0 ? { replaced: r.dropped } : {}),
      });
    }
  } catch (err) {
    throw partly(err, out);
  }
  return out;
}

/** Options of {@link signBuild}. */
export interface SignBuildOptions extends OperationOptions {
  signer: Signer;
  /** `critical.identity.docker-reference` of the image signatures (see {@link SignImageOptions}). */
  dockerReference: string;
  /**
   * Where the build stored its statements: `cosign` signs each into the `.att` image (there is
   * no unsigned form of it); `referrers` and `buildkit` keep the unsigned statements as they
   * are and add a signed bundle referrer per statement; `none` signs none.
   */
  attestations: AttestationMode;
  /** The bundle referrers' creation time (default now). */
  created?: Date | undefined;
  /** Where to store each image signature, when not in both storages (see {@link SignImageOptions}). */
  storagesOf?: SignImageOptions['storagesOf'];
  /**
   * Where to store the attestations of one manifest instead of where `attestations` says, when
   * it says (undefined: there): `cosign`, for a manifest a target takes attestations of in the
   * `.att` image only, as ECR refuses a referrer of an index (see attachmentStoragesFor in
   * ../compat/fix.ts); the caller then stores no unsigned statements of it beside them.
   */
  attestationStorageOf?: ((subject: Digest) => SignatureStorage | undefined) | undefined;
  /**
   * True for a manifest whose new `.sig` image (`signature`) or `.att` image (`attestations`) is
   * to be in Docker schema 2 media types (see {@link SignImageOptions.dockerMediaTypesOf}).
   */
  dockerMediaTypesOf?: ((subject: Digest, what: 'signature' | 'attestations') => boolean) | undefined;
}

/**
 * Signs what a build wrote: the index and every image in it (as `cosign sign --recursive`:
 * attestations are per platform image, so each image needs its own signature to be checked
 * alone), then every statement of `attested` as an attestation of its image.
 */
export async function signBuild(
  store: ContentStore,
  digest: Digest,
  attested: readonly Attested[],
  options: SignBuildOptions,
): Promise<SignedEntry[]> {
  const { signer, created } = options;
  const call: OperationOptions = { signal: options.signal, logger: options.logger, onProgress: options.onProgress };
  const entries = await signImage(store, digest, {
    ...call,
    signer,
    dockerReference: options.dockerReference,
    recursive: true,
    created,
    storagesOf: options.storagesOf,
    dockerMediaTypesOf: (subject) => options.dockerMediaTypesOf?.(subject, 'signature') === true,
  });
  if (options.attestations === 'none') return entries;
  const storage: SignatureStorage = options.attestations === 'cosign' ? 'cosign' : 'referrers';
  try {
    for (const a of attested) {
      if (a.statements.length === 0) continue;
      const where = options.attestationStorageOf?.(a.manifest.digest) ?? storage;
      const dockerMediaTypes = options.dockerMediaTypesOf?.(a.manifest.digest, 'attestations') === true;
      entries.push(
        ...(await attestImage(store, a.manifest.digest, a.statements, { ...call, signer, storage: where, dockerMediaTypes, created })),
      );
    }
  } catch (err) {
    // The image signatures and the attestations written before the failure stay: said, with it.
    throw partly(err, entries);
  }
  return entries;
}

function assertNames(s: StatementBlob, digest: Digest): void {
  let named = false;
  try {
    const doc = JSON.parse(Buffer.from(s.bytes).toString('utf8')) as { subject?: { digest?: Record<string, string> }[] };
    const [alg, hex] = digest.split(':') as [string, string];
    named = (doc.subject ?? []).some((x) => x.digest?.[alg] === hex);
  } catch {
    named = false;
  }
  if (!named) {
    throw new ProvenantError('USAGE', `the ${s.predicateType} statement is not about ${digest}`, {
      hint: 'make the statement with the image digest as its subject',
    });
  }
}

/**
 * Every manifest an index names, depth first (nested indexes too), as cosign's walk does; each
 * once. An index named again (by one index many times, or by many indexes) is walked again only
 * when reached deeper than before, so that its nesting is counted on its deepest path whatever
 * the order: eight indexes each naming the next ten times are 10^8 paths but eight reads.
 */
async function children(
  store: ContentStore,
  index: Stored,
  options: OperationOptions,
  depth = 0,
  walked: Map<string, number> = new Map([[index.digest, 0]]),
  listed: Set<string> = new Set([index.digest]),
): Promise<Descriptor[]> {
  if (index.kind !== 'index') return [];
  checkIndexDepth(depth, store.location, index.digest);
  const out: Descriptor[] = [];
  for (const d of index.index.manifests) {
    if (!listed.has(d.digest)) {
      listed.add(d.digest);
      out.push(d);
    }
    if (!d.mediaType.endsWith('index.v1+json') && !d.mediaType.endsWith('manifest.list.v2+json')) continue;
    // Walked again only when reached deeper than before: its nesting is counted on its deepest
    // path, as copy and check count it, whichever path comes first (a walk per level at most).
    if ((walked.get(d.digest) ?? -1) >= depth + 1) continue;
    walked.set(d.digest, depth + 1);
    for (const c of await children(store, await store.getManifest(d.digest, options), options, depth + 1, walked, listed)) out.push(c);
  }
  return out;
}

type Where = 'cosign' | 'cosign-att' | 'referrers';

/** A signature wanted: in which storage, over which payload. */
interface Wanted {
  where: Where;
  payload: Uint8Array;
}

/**
 * For each of `wanted`, where an equal signature by the signer's key already
 * is, undefined where there is none: the same payload (simple-signing payload or statement),
 * and a signature over it that verifies with the key, as verification
 * judges it (a DSSE envelope when any of its signatures does, as cosign), and a cosign layer's
 * timestamp, when it has one, over what cosign checks it against. When the signer logs
 * its signatures, only a logged one is equal: an unlogged one would not pass a verifier that
 * requires a log entry, which is what signing with a log asks for. Logged means that it verifies
 * with a log entry checked against the signer's trusted root: anyone who can push a signature
 * can copy an unlogged one and add a log annotation or entry of their making. Keyless signers
 * have no long-lived key, so each of their signatures is new, as in cosign.
 */
async function duplicates(
  store: ContentStore,
  subject: Digest,
  wanted: readonly Wanted[],
  signer: Signer,
  options: OperationOptions,
): Promise<(string | undefined)[]> {
  const out: (string | undefined)[] = wanted.map(() => undefined);
  const key = signer.publicKey;
  const open = () => out.includes(undefined);
  if (key === undefined || !open()) return out;
  // The signatures there read one at a time, each kept only as where an equal one is: what a
  // pusher lists beside them costs no memory, and reading stops once each payload has its equal.
  for await (const f of eachSignature(store, subject, options)) {
    for (const [i, w] of wanted.entries()) {
      if (out[i] !== undefined || !equalSignature(f, key, w.where, w.payload)) continue;
      if (signer.transparencyLog === true && !(await logged(store, subject, f, key, signer.trustedRoot, options))) continue;
      out[i] = f.source;
    }
    if (!open()) break;
  }
  return out;
}

function equalSignature(f: FoundSignature, key: KeyObject, where: Where, payload: Uint8Array): boolean {
  const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));
  if (where === 'cosign' && f.format === 'cosign-layer' && f.layer !== undefined && f.storage === 'cosign' && f.kind === 'signature') {
    const sig = b64decode(f.layer.annotations[CosignAnnotation.Signature]);
    return sig !== undefined && same(f.layer.payload, payload) && verifies(payload, key, sig) && timestampOver(f.layer.annotations, sig);
  }
  if (
    where === 'cosign-att' &&
    f.format === 'cosign-layer' &&
    f.layer !== undefined &&
    f.storage === 'cosign' &&
    f.kind === 'attestation'
  ) {
    try {
      const env = parseEnvelope(f.layer.payload);
      return (
        same(env.payload, payload) &&
        env.signatures.some((s) => verifies(pae(env.payloadType, env.payload), key, s.sig)) &&
        timestampOver(f.layer.annotations, f.layer.payload)
      );
    } catch {
      // not an envelope: not a duplicate
      return false;
    }
  }
  if (where === 'referrers' && f.format === 'bundle' && f.bundle?.content.$case === 'dsseEnvelope') {
    const env = f.bundle.content.dsseEnvelope;
    const sig = env.signatures[0]?.sig;
    return sig !== undefined && same(env.payload, payload) && verifies(pae(env.payloadType, env.payload), key, sig);
  }
  return false;
}

/**
 * Whether `f` verifies with `key` and a transparency log entry checked against `trustedRoot`
 * (its signed entry timestamp or inclusion proof with a trusted Rekor key, and that the entry
 * records this signature). Without a trusted root nothing counts as logged.
 */
async function logged(
  store: ContentStore,
  subject: Digest,
  f: FoundSignature,
  key: KeyObject,
  trustedRoot: TrustedRoot | undefined,
  options: OperationOptions,
): Promise<boolean> {
  if (trustedRoot === undefined) return false;
  const checked = await verifyFoundSignature(store, f, subject, {
    ...options,
    policy: { key },
    trustedRoot,
    requireTransparencyLog: true,
  });
  return checked.verified && checked.transparencyLog;
}

/**
 * Whether a layer's RFC 3161 timestamp, when it has one, is over `bytes`: cosign checks a `.sig`
 * layer's over its signature and an `.att` layer's over the layer. A layer whose timestamp is
 * damaged, or over other bytes (an `.att` layer timestamped over its signature, as this wrote them
 * before), gives a verifier no time of signing, and cosign --use-signed-timestamps refuses it, so
 * it is no equal of one signed now: signing again adds a layer beside it whose timestamp verifies.
 */
function timestampOver(annotations: Readonly<Record<string, string>>, bytes: Uint8Array): boolean {
  const ts = annotations[CosignAnnotation.RFC3161Timestamp];
  if (ts === undefined || ts === '') return true;
  const signed = annotatedTimestamp(ts);
  if (signed === undefined) return false;
  try {
    RFC3161Timestamp.parse(Buffer.from(signed)).tstInfo.verify(Buffer.from(bytes));
    return true;
  } catch {
    // Malformed, or over other bytes.
    return false;
  }
}

function verifies(data: Uint8Array, key: KeyObject, sig: Uint8Array): boolean {
  try {
    return cryptoVerify('sha256', data, key, sig);
  } catch {
    return false;
  }
}
