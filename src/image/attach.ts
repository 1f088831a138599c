/**
 * Attaching a predicate to an image that exists: one in-toto statement per platform image,
 * stored the way a target accepts (OCI referrers, or BuildKit's entries in the index), and with
 * a signer signed as cosign stores it (a DSSE envelope in the `.att` image, or a Sigstore bundle
 * referrer).
 */

import { findAttachments, nestsDeeperThan, STATEMENT_DEPTH_LIMIT } from '../attest/attachments.ts';
import { type AttestationMode, type Attested, isInIndexMode, statement, storeAttestations } from '../attest/storage.ts';
import { ProvenantError, sleep } from '../errors.ts';
import type { OperationOptions } from '../io/types.ts';
import type { Stored } from '../oci/content.ts';
import { type Digest, isDigest } from '../oci/digest.ts';
import { PREDICATE_TYPES, parsePredicateType } from '../sign/payload.ts';
import { attestImage, partly, type SignedEntry, signImage } from '../sign/sign.ts';
import type { Signer } from '../sign/signer.ts';
import { replaceVerdicts } from '../sign/storage.ts';
import type { ContentStore } from '../store/types.ts';
import { inspectImage } from './inspect.ts';
import { predicateDocument } from './statements.ts';

/** The SPDX predicate type, whose predicate cosign's `spdx` makes a string (see {@link checkPredicate}). */
const SPDX_PREDICATE_TYPE = PREDICATE_TYPES.spdx as string;

/**
 * The predicate types that describe one build of one image (cosign's `slsaprovenance*`, `spdx`,
 * `spdxjson`, `cyclonedx`, `vuln`): stated about every platform image of an index, one of them
 * is a false claim about the others (an amd64 build's materials on the arm64 image).
 */
const ONE_BUILD_TYPES: ReadonlySet<string> = new Set(
  ['slsaprovenance', 'slsaprovenance02', 'slsaprovenance1', 'spdx', 'spdxjson', 'cyclonedx', 'vuln'].map(
    (name) => PREDICATE_TYPES[name] as string,
  ),
);

/** Reads of each moved tag at most, when other writers keep moving it over this attach's index. */
const TAG_ATTEMPTS = 5;
/** About how long after moving a tag it is read again (longer each attempt), to find a concurrent writer's. */
const TAG_RECHECK_MS = 200;

/** Options of {@link attachPredicate}. */
export interface AttachPredicateOptions extends OperationOptions {
  /**
   * The predicate type URI (`https://slsa.dev/provenance/v1`, `https://spdx.dev/Document`, ...);
   * not one of the CLI's short names (`spdx`), which {@link parsePredicateType} maps to theirs.
   */
  predicateType: string;
  /**
   * The predicate: an object JSON.stringify writes (no BigInt, no cycle), or for
   * `https://spdx.dev/Document` a string, an SPDX document's text as cosign's `spdx` stores it.
   */
  predicate: unknown;
  /** The image's name in the statements' subjects (`registry/repo:tag`, `oci:dir:tag`). */
  name: string;
  /** Where the statements go: `referrers` (default) or `buildkit`, which makes a new index. */
  mode?: AttestationMode | undefined;
  /** The tags that follow the new index of `buildkit` storage; default the target when it is a tag. */
  tags?: readonly string[] | undefined;
  /**
   * Sign the statements: `cosign` puts each, as a DSSE envelope, into the image's `.att` tag (as
   * cosign 2 does), `referrers` stores each as a Sigstore bundle referrer (as cosign 3 does) and
   * not also unsigned. `buildkit` has no signed form: the statements stay unsigned in the index,
   * as BuildKit stores them, and the new index is signed, which covers them.
   */
  signer?: Signer | undefined;
  /** `critical.identity.docker-reference` for the index signature of signed `buildkit` storage. */
  dockerReference?: string | undefined;
  /** The bundle referrers' creation time (default now). */
  created?: Date | undefined;
  /**
   * Take the place of the attestations of the predicate type there, as `cosign attest --replace`:
   * in the `.att` tag (`cosign`) and in the index's attestation manifests (`buildkit`,
   * `buildkit-artifact`) they are taken out as the new one goes in. A referrer written cannot be
   * taken out (`referrers`): it stays, as cosign leaves it, and a warning counts those of the type.
   */
  replace?: boolean | undefined;
  /**
   * Attest only this platform image of the index `target` names (the CLI's `--platform`): no
   * statement about the index or its other platform images. Without it every platform image gets
   * the same predicate, and a warning says so for a predicate type that describes one build.
   */
  image?: Digest | undefined;
}

/** What {@link attachPredicate} did. */
export interface AttachResult {
  predicateType: string;
  mode: AttestationMode;
  /** The platform images that got a statement. */
  images: Digest[];
  /**
   * The index the target names, when it got a statement of its own too (`referrers` and `cosign`
   * storage of an index: as cosign attests the digest a reference names).
   */
  index?: Digest;
  /** The image's digest afterwards: the same for referrers, a new index for buildkit. */
  digest: Digest;
  /** What signing wrote, with a signer. */
  signed?: SignedEntry[];
  /**
   * With `replace` in `referrers` storage: how many attestations of the type were referrers of
   * the images already, and stay.
   */
  kept?: number;
}

/**
 * Attaches `predicate` to every platform image of the image `target` names in `store`, and in
 * `referrers` and `cosign` storage to the index `target` names too: one statement per image,
 * naming it by `name` and digest. BuildKit storage rewrites the index, and
 * the new index takes over `tags` (last: written by digest and, with a signer, signed first, so a
 * failure, of signing too, leaves each tag on the index it named), and
 * each tag is read again until it names an index holding the statements (another attach running
 * at the same time may have moved it over this one's; {@link settleTags}).
 *
 * With `image`, only that platform image of the index gets a statement (in every storage).
 *
 * @throws ProvenantError as {@link storeAttestations} does; `USAGE` for `cosign` without a signer,
 *   a predicate type that is not a URI or a predicate that is not a JSON object (a string for
 *   the SPDX type; before anything is read or written); `TAG_CONFLICT` when other writers keep a tag from holding the statements
 */
export async function attachPredicate(store: ContentStore, target: string, options: AttachPredicateOptions): Promise<AttachResult> {
  checkPredicate(options.predicateType, options.predicate);
  const mode = options.mode ?? 'referrers';
  const call: OperationOptions = { signal: options.signal, logger: options.logger, onProgress: options.onProgress };
  const inspected = await inspectImage(store, target, options.name, { ...call, attachments: false });
  const root = inspected.raw;
  const chosen = options.image === undefined ? inspected.manifests : inspected.manifests.filter((m) => m.digest === options.image);
  if (chosen.length === 0) {
    throw new ProvenantError('NOT_FOUND', `${target} lists no platform image ${options.image}`, {
      where: `${store.location}@${root.digest}`,
      hint: 'name one of the platform images of the index',
    });
  }
  const images: Stored[] = [];
  for (const m of chosen) images.push(await store.getManifest(m.digest, call));
  const platforms = new Set(images.map((i) => i.digest)).size;
  if (options.image === undefined && root.kind === 'index' && platforms > 1 && ONE_BUILD_TYPES.has(options.predicateType)) {
    options.logger?.warn(
      `the same ${options.predicateType} predicate is stated about each of the ${platforms} platform images of the index: one build's provenance, SBOM or scan is a false claim about the others; attest each platform's own with --platform os/arch`,
    );
  }
  // The index too, where the statement can stay about it: cosign attests the digest the reference
  // names, and that is the digest policy-controller checks an attestation requirement against (the
  // tag resolves to the index). In the index (BuildKit's storages) it cannot: BuildKit attests
  // platform images only, and the index is rewritten, so a statement about it would name no image.
  // With `image` only that image: the index's statement would cover its other platforms too.
  const indexToo = options.image === undefined && root.kind === 'index' && (mode === 'referrers' || mode === 'cosign');
  const predicate = storedPredicate(options.predicateType, options.predicate, mode);
  // The index last: a registry that refuses a referrer of an index (ECR) then has the platform
  // images' statements, which it takes, before it refuses the index's (see refusedIndexReferrer).
  const attested = [...images, ...(indexToo ? [root] : [])].map((manifest) => ({
    manifest,
    statements: [statement(options.predicateType, predicate, [{ name: options.name, digest: manifest.digest }])],
  }));
  const replace = options.replace === true;
  const kept = replace && mode === 'referrers' ? await referrerAttestations(store, attested, options.predicateType, call) : undefined;
  if (kept !== undefined && kept > 0) {
    options.logger?.warn(
      `--replace cannot take out the ${kept} attestation(s) of ${options.predicateType} already there as OCI referrers: a referrer once pushed stays (cosign's --replace leaves them too); this one is added beside them`,
    );
  }
  const result = {
    ...(kept === undefined ? {} : { kept }),
    predicateType: options.predicateType,
    mode,
    images: images.map((i) => i.digest),
    ...(indexToo ? { index: root.digest } : {}),
  };
  const signer = options.signer;
  if (signer !== undefined && (mode === 'cosign' || mode === 'referrers')) {
    // --replace reads every image's `.att` layers before any is signed: one it cannot read fails
    // the attach with nothing written. attestImage takes what was read, and reads only a layer
    // another writer adds meanwhile.
    const verdicts = new Map<Digest, Map<string, boolean>>();
    if (replace && mode === 'cosign') {
      for (const a of attested) {
        verdicts.set(a.manifest.digest, await replaceVerdicts(store, a.manifest.digest, new Set([options.predicateType]), call));
      }
    }
    const signed: SignedEntry[] = [];
    let current: Stored | undefined;
    try {
      for (const a of attested) {
        current = a.manifest;
        signed.push(
          ...(await attestImage(store, a.manifest.digest, a.statements, {
            ...call,
            signer,
            storage: mode,
            created: options.created,
            replace,
            replaceVerdicts: verdicts.get(a.manifest.digest),
          })),
        );
      }
    } catch (err) {
      // What the platform images got stays, and is said (a PartlySignedError), whatever failed after it.
      const refused = mode === 'referrers' && current === root ? refusedIndexReferrer(err, root.digest) : undefined;
      throw partly(refused ?? err, signed);
    }
    return { ...result, digest: root.digest, signed };
  }
  if (mode === 'referrers' && indexToo) {
    // The platform images' referrers, then the index's: a refusal of the index's is told apart.
    await storeAttestations(
      store,
      root,
      attested.filter((a) => a.manifest !== root),
      mode,
      { ...call, replace },
    );
    try {
      await storeAttestations(
        store,
        root,
        attested.filter((a) => a.manifest === root),
        mode,
        { ...call, replace },
      );
    } catch (err) {
      throw (
        refusedIndexReferrer(
          err,
          root.digest,
          `before it, written and kept: the statements of its ${images.length} platform image(s), as referrers; the rest was not written`,
        ) ?? err
      );
    }
    return { ...result, digest: root.digest };
  }
  if (mode === 'cosign') {
    throw new ProvenantError('USAGE', 'cosign attestation storage holds signed attestations, and no signer was given', {
      hint: 'sign them (--key FILE, or keyless), or use --attestations referrers',
    });
  }
  let index = await storeAttestations(store, root, attested, mode, { ...call, replace });
  const signing = signer !== undefined && mode !== 'none';
  const signed: SignedEntry[] = [];
  const sealed = new Set<Digest>();
  const sign = async (i: Stored): Promise<void> => {
    if (!signing || sealed.has(i.digest)) return;
    const dockerReference = options.dockerReference ?? 'local/image';
    signed.push(...(await signImage(store, i.digest, { ...call, signer, dockerReference, created: options.created })));
    sealed.add(i.digest);
  };
  if (index.digest !== root.digest) {
    const tags = options.tags ?? (isDigest(target) ? [] : [target]);
    // Written by digest and signed before a tag names it: the signatures are stored by digest
    // (the `.sig` tag, referrers), so a failed signing leaves each tag on the index it named.
    const seal = async (i: Stored): Promise<void> => {
      if (!signing) return;
      await store.putManifest(i, { ...call, tags: [] });
      await sign(i).catch((err: unknown) => {
        throw untagged(err, store.location, i.digest, tags);
      });
    };
    await seal(index);
    await store.putManifest(index, { ...call, tags, present: signing });
    if (tags.length > 0) index = await settleTags(store, tags, attested, mode, { ...call, replace }, seal);
  }
  if (!signing) return { ...result, digest: index.digest };
  // The index the statements were already in, or the one another attach at the same time wrote
  // with them merged in (see settleTags): signed where it is.
  await sign(index);
  return { ...result, digest: index.digest, signed };
}

/**
 * The predicate a file's `text` holds for a predicate type whose predicate is JSON: an object, as
 * an in-toto statement's predicate is and as cosign reads it (into a map: an array, a number, a
 * string or null is refused). `source` names the file in the errors. The CLI's `attest` reads a
 * predicate file through it; {@link attachPredicate} checks the object as {@link checkPredicate}.
 *
 * @throws ProvenantError `USAGE` naming `source`, for text that is not JSON or JSON that is no object
 */
export function parsePredicate(text: string, source: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ProvenantError('USAGE', `the predicate ${source} is not JSON: ${(err as Error).message}`, {
      where: source,
      cause: err,
      hint: `--type spdx takes an SPDX document as text (tag-value too); any other text only --type custom, which wraps it and makes the predicate type ${PREDICATE_TYPES.custom}`,
    });
  }
  checkObject(value, undefined, source);
  return value as Record<string, unknown>;
}

/**
 * Refuses a predicate that is not a JSON object, save cosign's `spdx` form for the SPDX type
 * (`predicateType`): an SPDX document's text as a string (generateSPDXStatement, for tag-value
 * documents). The one check of {@link parsePredicate} and {@link checkPredicate}; `source`, the
 * file the predicate was read from.
 *
 * @throws ProvenantError `USAGE`
 */
function checkObject(predicate: unknown, predicateType: string | undefined, source?: string): void {
  if (typeof predicate === 'object' && predicate !== null && !Array.isArray(predicate)) return;
  if (typeof predicate === 'string' && predicateType === SPDX_PREDICATE_TYPE) return;
  const kind = predicate === null ? 'null' : Array.isArray(predicate) ? 'an array' : `a ${typeof predicate}`;
  if (source !== undefined) {
    throw new ProvenantError(
      'USAGE',
      `the predicate ${source} is JSON but not an object (it is ${kind}): an in-toto predicate is an object`,
      {
        where: source,
        hint: `wrap it in an object, or attest it as text with --type custom (whose predicate type is ${PREDICATE_TYPES.custom})`,
      },
    );
  }
  throw new ProvenantError('USAGE', `the predicate is not a JSON object (it is ${kind}): an in-toto predicate is an object`, {
    hint: `only an ${SPDX_PREDICATE_TYPE} predicate may be a string, an SPDX document's text as cosign attests it with --type spdx`,
  });
}

/**
 * The predicate as `mode` stores it: an SPDX document kept as text (cosign's `--type spdx`) is
 * cosign's form, for cosign's storages (the `.att` tag, referrers); BuildKit writes an SPDX
 * document into the index as a JSON object, so there a JSON document's text is its object (a
 * tag-value one, which has no object, stays text).
 */
function storedPredicate(predicateType: string, predicate: unknown, mode: AttestationMode): unknown {
  if (!isInIndexMode(mode) || predicateType !== SPDX_PREDICATE_TYPE) return predicate;
  const document = predicateDocument(predicate);
  return typeof document === 'object' ? document : predicate;
}

/**
 * Refuses what the statements could not carry: a predicate type that is not a URI (the CLI maps
 * its short names before; a caller of the library passes the URI), a predicate JSON cannot write
 * or that is not an object.
 *
 * @throws ProvenantError `USAGE`
 */
function checkPredicate(predicateType: string, predicate: unknown): void {
  let uri: string;
  try {
    uri = parsePredicateType(predicateType);
  } catch (err) {
    throw new ProvenantError('USAGE', `the predicate type ${JSON.stringify(predicateType)} is not a URI`, {
      hint: 'name it by a URI: https://slsa.dev/provenance/v1, https://spdx.dev/Document, ...',
      cause: err,
    });
  }
  if (uri !== predicateType) {
    throw new ProvenantError(
      'USAGE',
      `the predicate type ${JSON.stringify(predicateType)} is not a URI: it is the CLI's short name of ${uri}`,
      {
        hint: `pass ${uri} (parsePredicateType maps the CLI's short names to their URIs)`,
      },
    );
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(predicate);
  } catch (err) {
    throw new ProvenantError('USAGE', `the predicate is not JSON: ${(err as Error).message}`, { cause: err });
  }
  if (text === undefined) throw new ProvenantError('USAGE', `the predicate is not JSON: it is ${typeof predicate}`);
  checkObject(predicate, predicateType);
  // What every reader of statements refuses to read (../image/statements.ts) is not written: the
  // statement holding the predicate is one level more.
  if (nestsDeeperThan(text, STATEMENT_DEPTH_LIMIT - 1)) {
    throw new ProvenantError(
      'USAGE',
      `the predicate nests lists and objects more than ${STATEMENT_DEPTH_LIMIT - 1} levels deep (its statement may nest ${STATEMENT_DEPTH_LIMIT})`,
    );
  }
}

/** The HTTP status ECR answers a referrer whose subject is an index with (src/compat/profiles/amazon-ecr.yaml, referrer-of-index). */
const REFUSED_STATUS = 405;

/**
 * `err` said as the refusal of the index's referrer, when it is the answer a registry that takes no
 * referrer of an index gives (ECR: 405, aws/containers-roadmap#2783), after the `images` platform
 * images got theirs: they stay (`kept` says so, or the PartlySignedError the caller makes of it),
 * and the hint says where the index's statement can go. Undefined
 * for any other failure. The status is read off the registry's error (registry/errors.ts's
 * RegistryResponseError), which this module does not import.
 */
function refusedIndexReferrer(err: unknown, index: Digest, kept?: string): ProvenantError | undefined {
  if (!(err instanceof ProvenantError) || (err as { status?: unknown }).status !== REFUSED_STATUS) return undefined;
  return new ProvenantError(
    err.code,
    `the registry refused the referrer of the index ${index} (${err.message})${kept === undefined ? '' : `; ${kept}`}`,
    {
      where: err.where,
      cause: err,
      hint: "a registry such as Amazon ECR takes no referrer of an index: attest with --attestations cosign, which keeps the index's statement under its .att tag, or move it there with provenant fix --target amazon-ecr",
    },
  );
}

/** `err` saying that the new index is written by digest only, and the tags were not moved. */
function untagged(err: unknown, location: string, digest: Digest, tags: readonly string[]): unknown {
  if (!(err instanceof ProvenantError) || tags.length === 0) return err;
  return new ProvenantError(
    err.code,
    `${err.message}; the new index is written as ${location}@${digest}, and ${tags.join(', ')} not moved to it`,
    {
      where: err.where,
      hint: err.hint,
      cause: err,
    },
  );
}

/**
 * Reads each tag again, after a pause, until the index it names holds this attach's statements:
 * another writer (another `attest` on the same image) that read the index before this one moved
 * the tag writes its index, without these statements, over it, and registries offer no
 * conditional write. A tag that lost them gets the current index with them merged in, and is
 * read again; as the referrers tag fallback is checked (RegistryStore's checkFallbackIndexes).
 * `seal` writes and signs a merged index before the tag moves to it. Returns the index the first
 * tag names.
 *
 * @throws ProvenantError `TAG_CONFLICT` when a tag names another image now, or still lacks the
 *   statements after {@link TAG_ATTEMPTS} reads
 */
async function settleTags(
  store: ContentStore,
  tags: readonly string[],
  attested: readonly Attested[],
  mode: AttestationMode,
  call: OperationOptions & { replace: boolean },
  seal: (index: Stored) => Promise<void>,
): Promise<Stored> {
  let lacking: string[] = [...tags];
  const verified = new Map<string, Stored>();
  for (let attempt = 1; attempt <= TAG_ATTEMPTS; attempt++) {
    await sleep(TAG_RECHECK_MS * attempt * (0.5 + Math.random()), call.signal);
    const still: string[] = [];
    for (const tag of lacking) {
      const current = await store.getManifest(tag, call);
      const images = current.kind === 'index' ? current.index.manifests.map((m) => m.digest) : [];
      const gone = attested.find((a) => !images.includes(a.manifest.digest));
      if (gone !== undefined) {
        throw new ProvenantError('TAG_CONFLICT', `${tag} was moved meanwhile to an index without the image ${gone.manifest.digest}`, {
          where: `${store.location}:${tag}`,
          hint: 'another writer replaced the image; attach to it again, or by digest',
        });
      }
      // The statements merged into what the tag names now: the same index when they are there.
      const merged = await storeAttestations(store, current, attested, mode, call);
      if (merged.digest === current.digest) {
        verified.set(tag, current);
        continue;
      }
      await seal(merged);
      await store.putManifest(merged, { ...call, tags: [tag] });
      still.push(tag);
    }
    lacking = still;
    const first = verified.get(tags[0] as string);
    if (lacking.length === 0 && first !== undefined) return first;
  }
  throw new ProvenantError('TAG_CONFLICT', `other writers kept moving ${lacking.join(', ')} over the attestations attached`, {
    where: lacking.map((t) => `${store.location}:${t}`).join(', '),
    hint: `the statements are not in the index the tag names; run the attach again (${TAG_ATTEMPTS} attempts were made)`,
  });
}

/**
 * How many attestations of `predicateType` the subjects of `attested` have as OCI referrers
 * (signed bundles and BuildKit-typed statements alike), by what their manifests say.
 */
async function referrerAttestations(
  store: ContentStore,
  attested: readonly Attested[],
  predicateType: string,
  call: OperationOptions,
): Promise<number> {
  // No cosign tags listed: the `.att` tag is not where these are.
  const found = await findAttachments(
    store,
    attested.map((a) => a.manifest.digest),
    undefined,
    { ...call, tags: [] },
  );
  return found.filter((a) => a.storage === 'referrers' && a.kind === 'attestation' && a.predicateTypes.includes(predicateType)).length;
}
