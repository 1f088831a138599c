/**
 * `fix`: the smallest change that makes an image acceptable to a target, written to a
 * destination store, with a plain account of what changed. The problems a check finds name
 * their fixes; the fixes run as pure transforms over a plan of the image (transforms.ts) in one
 * fixed order; layers are recompressed beforehand when a fix needs it (the only step that reads
 * layers); then the plan is copied to the destination by `copyImage`, which writes blobs first,
 * then manifests, referrers after their subject and tags last. The fixed image is checked against
 * the same target before it is written (as the plan, through a {@link PlannedStore}, with the
 * attachments the destination already holds of its digests, which the copy keeps): one the
 * target would still refuse is not written, unless forced, so nothing at the destination can be
 * taken for a fixed image that is not. The written image is checked again there.
 *
 * Signing is not done here: a changed digest is signed only through the `resign` callback. Without
 * it the report says plainly which digests are unsigned, and that the old signatures stay valid
 * for the old digests only.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { pinnedGzip } from '../archive/deflate.ts';
import { ArtifactType, type AttachmentKind, COSIGN_SIGN_PREDICATE } from '../attest/attachments.ts';
import { type Attested, attestationReferrer, type StatementBlob } from '../attest/storage.ts';
import { formatBytes } from '../bytes.ts';
import { isProvenantError, ProvenantError, throwIfAborted } from '../errors.ts';
import { copyImage, tagImage } from '../image/copy.ts';
import { hasImageConfig, parseImageConfig, readImageConfig } from '../image/image-config.ts';
import { looseLayerStatement } from '../image/statements.ts';
import type { ByteStream, OperationOptions } from '../io/types.ts';
import { collect } from '../io/verify.ts';
import { cosignTag, descriptorOf, encodeJson, type Stored } from '../oci/content.ts';
import { type Digest, Digester, digestMismatch, digestOf } from '../oci/digest.ts';
import { isIndexType, MediaType } from '../oci/mediatypes.ts';
import { formatPlatform, hostPlatform, platformMatches } from '../oci/platform.ts';
import { Annotation, type Descriptor, type ImageManifest, type Platform } from '../oci/types.ts';
import { locationWithDigest } from '../ref/location.ts';
import type { Attester, Resigner, SignedInfo, SignedStatement } from '../sign/sign.ts';
import { isBundleMediaType } from '../sign/storage.ts';
import type { ContentStore } from '../store/types.ts';
import { type CheckOptions, checkGraph, checkImage, type Problem, resolveProbe, type TargetReport } from './check.ts';
import { short } from './detectors.ts';
import { type ImageGraph, readImageGraph } from './graph.ts';
import { type FixId, listParam, type Params } from './params.ts';
import {
  attestationConfig,
  type Change,
  configOver,
  Draft,
  type Dropped,
  isImageConfig,
  isOwnConfig,
  manifestStored,
  type Plan,
  type PlannedBlob,
  type PlannedDoc,
  planFromGraph,
  type Rename,
  type TransformContext,
  unlistEntries,
  withoutMissingEntries,
} from './plan.ts';
import { PlannedStore } from './planned-store.ts';
import type { Profile, Target } from './profile.ts';
import { rulesFor, targetOf } from './profile.ts';
import { layersToGzip, TRANSFORMS } from './transforms.ts';

const { createWriteStream } = process.getBuiltinModule('node:fs');

// What fix takes to sign again, and what it gets back: the signing module's (../sign/sign.ts
// makes them, resignerOf and attesterOf), which may not import this one.
export type { Attester, Resigner, SignedInfo, SignedStatement };

/**
 * Makes again statements its caller made itself about manifests the fix replaced, about the
 * manifests written in their place: `build --target` made its SBOMs and provenance about the
 * images it built, unsigned, and describes the images the fix rewrote as it described those
 * (builder/describe.ts, aboutWrittenIndex). Given the fixed image as planned (`store`, its root
 * `root`) and each manifest the fix replaced with the one written in its place (`renamed`), it
 * returns statements about manifests of the fixed image, each list about one.
 */
export type Remaker = (
  store: ContentStore,
  root: Descriptor,
  renamed: readonly Rename[],
  options: OperationOptions,
) => Promise<readonly Attested[]>;

/** Options of {@link fixImage}. */
export interface FixOptions extends OperationOptions {
  /** Tags for the fixed image at the destination. */
  tags?: readonly string[] | undefined;
  /**
   * The platform to keep when the fix picks one (default: the target's, in its order; into a
   * docker-archive, which holds one platform's image, this machine's when the index has none of those).
   */
  platform?: Platform | undefined;
  /** Fix refusals only (default), or warnings too. */
  include?: 'refusals' | 'all' | undefined;
  /**
   * Write even when some refusal has no fix, or when the target would still refuse the fixed
   * image (the result is then still refused).
   */
  force?: boolean | undefined;
  /** Signs the digests the fix changed; without it they are left unsigned, and the report says so. */
  resign?: Resigner | undefined;
  /**
   * Who signs through `resign`, as the account names it (`key <id>`, `keyless (<Fulcio URL>)`, as
   * `sign` says it); "the key or identity given" when unset. Shown: never a credential.
   */
  signedBy?: string | undefined;
  /**
   * Signs again, as attestations of their subject, the statements of the BuildKit attestations
   * the fix moves out of the index (see {@link SigningReport.moved}); given with `resign` (the same
   * key or identity). Without it they are left with no signature covering them, and the report
   * says so.
   */
  attest?: Attester | undefined;
  /**
   * Digests the caller signed in this run, with the key or identity behind `resign`, before asking
   * for the fix (the Action signs the image as built, every platform image included): a manifest
   * among them written in place of the root is not signed again. A signature the manifest carries
   * otherwise (another key's, a vendor's) does not count: with `resign` it is signed all the same.
   */
  signedThisRun?: ReadonlySet<Digest> | undefined;
  /**
   * Makes again, about the manifest written in place of its subject, each statement the fix would
   * leave out for naming a manifest it replaced: given by `build --target`, which made them, never
   * by `fix` of an image it did not make (a statement cannot be re-described by anyone but its
   * maker, and its account says it is not carried). What it makes is attached where the target
   * takes it, as the fix moves the source's referrers, and checked with the image.
   */
  remake?: Remaker | undefined;
  /** How the user named the image, for messages. */
  reference?: string | undefined;
  /** The registry probe for the checks (see {@link CheckOptions.probe}). */
  probe?: CheckOptions['probe'];
}

/** What the fix did about signatures. */
export interface SigningReport {
  /** Signatures made through the `resign` callback. */
  readonly resigned: readonly SignedInfo[];
  /** Digests the fix made that nothing signs. */
  readonly unsigned: readonly Digest[];
  /** Signatures not carried, with the digest each stays valid for. */
  readonly stale: ReadonlyArray<{ readonly signature: Digest; readonly signs: Digest }>;
  /** Digests of the fixed image a stale signature signed that keep one under cosign's `.sig` tag. */
  readonly kept: readonly Digest[];
  /**
   * When the fixed image is a manifest the source held, written in place of the source's root
   * (Lambda's fix takes the amd64 manifest of an index as it is): the two, and whether the fixed
   * image carries a signature of that manifest (a signature of the index does not cover it).
   * Undefined when the root is the source's, or a digest the fix made (then it is in `unsigned`
   * or `resigned`).
   */
  readonly replacedRoot: { readonly from: Digest; readonly to: Digest; readonly signed: boolean } | undefined;
  /**
   * Of `unsigned`, the attestation manifests the fix moved (BuildKit's, out of the index) each of
   * whose statements was signed again, as it is, as an attestation of the manifest it is attached
   * to (`about`): unsigned by design, not for want of a signature. Empty from {@link fixImage};
   * {@link signedAfterFix} sets it from what its caller signed (see {@link attestationsSignedAgain}).
   */
  readonly remade: readonly RemadeAttestation[];
  /**
   * The attestation manifests of BuildKit's storage the fix moved out of the index (as the fixed
   * image holds them), each with the manifest it is about: in the index, the index's signature
   * covered their unsigned statements; moved, none does, unless their statements are signed again
   * as attestations of `about` (then they are in `remade`). Whatever their digest: one moved with
   * its manifest unchanged is not in `unsigned`.
   */
  readonly moved: readonly RemadeAttestation[];
  /**
   * Of `moved`, the attestations (as the fixed image holds them) that an index listing them in the
   * source was signed: its signature covered their statements, and moved, none does unless they are
   * signed again. Of an index nothing signed, moving them took no signature away, and the account
   * says nothing of one.
   */
  readonly movedFromSigned: readonly Digest[];
  /** The above in one or two sentences. */
  readonly statement: string;
}

/** An attestation {@link fixImage} left out: its statements name a digest the fix replaced. */
export interface StatementLeftOut {
  /** The attestation's manifest, as the source holds it (carried, it would have had another digest). */
  readonly attestation: Digest;
  /**
   * The predicate types of the statements that name `about`, one per statement: two of one type
   * (two SPDX documents) are listed twice, and are two to make again (see {@link signedAfterFix}).
   */
  readonly predicateTypes: readonly string[];
  /** The digest the statements name (the one the fix replaced). */
  readonly about: Digest;
  /** The digest the fixed image has in its place. */
  readonly replacedBy: Digest;
}

/** What {@link fixImage} did. */
export interface FixReport {
  readonly source: { readonly location: string; readonly reference: string; readonly digest: Digest };
  readonly target: string;
  /**
   * False when nothing was written, `force` not being set: some refusal has no fix (see
   * `unfixable`), or the target would still refuse the fixed image (see `after`).
   */
  readonly written: boolean;
  readonly destination:
    | {
        readonly location: string;
        /** The digest the destination holds the fixed image under, which its readers find. */
        readonly digest: Digest;
        readonly mediaType: string;
        readonly tags: readonly string[];
        /**
         * The fixed image's own digest, when the destination holds it in a form of its own (a
         * docker-archive keeps Docker schema 2, read back with another digest); absent otherwise.
         */
        readonly fixed?: Digest;
      }
    | undefined;
  /**
   * The fixes run, in order, with the rules that asked for each: none for the `single-manifest` that
   * keeps the platform asked for of an index written to a docker-archive, which holds one image.
   */
  readonly applied: ReadonlyArray<{ readonly fix: FixId; readonly with: Params; readonly rules: readonly string[] }>;
  readonly changes: readonly Change[];
  readonly dropped: readonly Dropped[];
  /** Each original manifest whose digest changed, and the digest written for it. */
  readonly renamed: readonly Rename[];
  /** Refusals that no change to the image can fix. */
  readonly unfixable: readonly Problem[];
  /**
   * Problems left alone that the fixed image still has (as `after` says, when there is one): warnings
   * (unless `include: 'all'`) and warnings that have no fix.
   */
  readonly leftAlone: readonly Problem[];
  readonly signing: SigningReport;
  /**
   * Attestations not carried because their in-toto statements name a digest the fix replaced:
   * each stays about `about` only (a statement cannot be re-described without re-signing it).
   */
  readonly statementsLeftOut: readonly StatementLeftOut[];
  /**
   * Attachments the destination held before the fix, of the digests it writes, that the target
   * refuses (a referrer of an index, for ECR): the check before writing counts them, as the copy
   * adds to what is there and removes nothing. Fixing into the repository it reads from, the
   * source's own are there; the fix deletes nothing it was not asked to change, so the image is
   * then not written (unless forced). Empty when the check before writing found none.
   */
  readonly heldAtDestination: readonly Digest[];
  readonly before: TargetReport;
  /**
   * The fixed image checked against the same target: the image written, checked at the
   * destination; when the target would still refuse it, the image as planned, which was then not
   * written (unless forced). Undefined when a refusal has no fix and nothing was written.
   */
  readonly after: TargetReport | undefined;
  /** Everything above as plain sentences, in order. */
  readonly account: readonly string[];
}

/** The order fixes run in: structure first, then layers, then media types. */
const ORDER: readonly FixId[] = ['single-manifest', 'move-attestations', 'set-artifact-type', 'gzip-layers', 'docker-media-types'];

/**
 * Fixes the image `target` (a tag or digest in `src`) for `profile` and writes it to `dst`.
 *
 * @throws ProvenantError `NO_MATCHING_PLATFORM` when a fix must pick a platform the image lacks;
 *   `DIGEST_MISMATCH` when a layer's content does not match its config's diff_id; whatever the
 *   stores raise
 */
export async function fixImage(
  src: ContentStore,
  target: string,
  dst: ContentStore,
  profile: Target | Profile,
  options: FixOptions = {},
): Promise<FixReport> {
  const t = 'profile' in profile ? profile : targetOf(profile);
  const reference = options.reference ?? `${src.location}${target.startsWith('sha') ? '@' : ':'}${target}`;
  if (options.resign !== undefined && dst.holdsAttachments === false) {
    // Refused before anything is read: the signatures would have nowhere to go.
    throw new ProvenantError('USAGE', 'a docker-archive holds one image and no signatures: fix cannot sign into it', {
      where: dst.location,
      hint: 'fix into a registry or an oci:DIR with --key or --keyless, or into the docker-archive without them',
    });
  }
  const graph = await readImageGraph(src, target, options);
  // The destination is where the image goes, the target's registry: a probe of it, when it is one,
  // states the target's referrers API (ofTargets), whatever its profile says.
  const probe = await resolveProbe(dst, options.probe, options, true);
  const before = checkGraph(graph, [t], { reference, probe }).targets[0]!;
  // Refusals, and with `include: 'all'` warnings too; only a refusal without a fix stops the write.
  const chosen = before.problems.filter((p) => p.fix !== undefined && (options.include === 'all' || p.severity === 'refuses'));
  const unfixable = before.problems.filter((p) => p.fix === undefined && p.severity === 'refuses');
  const leftAlone = before.problems.filter((p) => !chosen.includes(p) && !unfixable.includes(p));
  const applied = fixesFor(chosen);
  const source = { location: src.location, reference, digest: graph.root.digest };

  let plan = withoutMissingEntries(planFromGraph(graph), graph);
  const oneImage = dst.holdsAttachments === false && graph.root.kind === 'index' && !applied.some((a) => a.fix === 'single-manifest');
  // A docker-archive holds one platform's image, as `docker save` writes it: an index goes in as
  // the platform asked for, as `crane pull --platform` and `skopeo copy --override-arch` write
  // one; else the target's, in its order, that the index has; else this machine's, as `copy`
  // takes. Refused before anything is read when none is there (a refusal with no fix says so first).
  const platform = oneImage ? (options.platform ?? archivePlatform(graph, t.profile.platforms)) : options.platform;
  if (oneImage) {
    if (platform === undefined && (unfixable.length === 0 || options.force === true)) {
      const offered = graph.images.map((i) => (i.platform === undefined ? '(no platform)' : formatPlatform(i.platform)));
      const host = formatPlatform(hostPlatform(process.arch));
      const lacks =
        t.profile.platforms.length === 0
          ? `without this machine's platform (${host})`
          : `with neither a platform ${t.label} runs (${t.profile.platforms.map(formatPlatform).join(', ')}) nor this machine's (${host})`;
      throw new ProvenantError('USAGE', `a docker-archive holds one platform's image, and ${reference} is an index ${lacks}`, {
        where: dst.location,
        hint: `name the platform to write with --platform (it has ${offered.join(', ') || 'none'}), or fix into a registry or an oci:DIR`,
      });
    }
    applied.unshift({ fix: 'single-manifest', with: { attestations: 'referrers' }, rules: [] });
  }
  const context = {
    platforms: t.profile.platforms,
    platform,
    force: options.force,
    location: src.location,
    bundles: await bundlesIn(src, plan, options),
    configs: await configsIn(src, plan, options),
    oneImage: oneImage ? `${dst.location} holds one platform's image` : undefined,
  };
  if (options.platform !== undefined && !applied.some((a) => a.fix === 'single-manifest')) {
    // Said rather than ignored: the platform asked for is kept only when a fix picks one.
    options.logger?.warn(
      `the platform ${formatPlatform(options.platform)} was not used: no fix for ${t.label} picks a platform, and the image keeps all it has`,
    );
  }
  const structural = applied.filter((a) => a.fix !== 'gzip-layers' && a.fix !== 'docker-media-types');
  for (const a of structural) {
    try {
      plan = TRANSFORMS[a.fix](plan, a.with, context);
    } catch (err) {
      // A refusal with no fix stops the write (below) before any fix matters: an index offering
      // none of the platforms the target runs is that refusal, not a platform for the user to
      // name (the one it has would still be refused). The rest of the fixes are still said.
      if (unfixable.length > 0 && !options.force && isProvenantError(err) && err.code === 'NO_MATCHING_PLATFORM') continue;
      throw err;
    }
  }
  if (applied.some((a) => a.fix === 'docker-media-types')) assertNotNested(plan, src.location);
  // A store that keeps a form of its own (a docker-archive) keeps no media types: read back, an
  // uncompressed OCI layer is Docker's plain tar type, and so it is once `docker load` takes it
  // into containerd's image store (Docker 29's default), whose push sends layers as loaded. A
  // target refusing that type would receive it: into such a store, those layers are gzipped too.
  const typedAsDocker = dst.heldAs === undefined ? [] : archiveRefusals(t, options.include === 'all');
  if (typedAsDocker.length > 0 && layersToGzip(plan, ['uncompressed']).length > 0) {
    const before = applied.findIndex((a) => a.fix === 'docker-media-types');
    applied.splice(before < 0 ? applied.length : before, 0, { fix: 'gzip-layers', with: { from: ['uncompressed'] }, rules: typedAsDocker });
  }

  const temp = await mkdtemp(join(tmpdir(), 'provenant-fix-'));
  try {
    const compressions = new Set<string>();
    for (const a of applied) {
      if (a.fix === 'gzip-layers') for (const c of a.with.from as readonly string[]) compressions.add(c);
      if (a.fix === 'docker-media-types') for (const c of ['zstd', 'uncompressed', 'uncompressed-docker']) compressions.add(c);
    }
    const gzipped = new Map<Digest, Descriptor>();
    const blobs = new Map(plan.blobs);
    const toGzip = layersToGzip(plan, [...compressions]);
    if (toGzip.length > 0) {
      const diffIds = await diffIdsByLayer(src, plan, options);
      for (const layer of toGzip) {
        throwIfAborted(options.signal);
        const made = await gzipLayer(src, layer, diffIds.get(layer.digest), temp, options);
        gzipped.set(layer.digest, made.descriptor);
        blobs.set(made.descriptor.digest, made);
      }
      plan = { ...plan, blobs };
    }
    for (const a of applied.filter((x) => x.fix === 'gzip-layers' || x.fix === 'docker-media-types')) {
      plan = TRANSFORMS[a.fix](plan, a.with, { ...context, gzipped });
    }

    const left = await withoutStaleStatements(new PlannedStore(src, plan), plan, options);
    plan = await withStatementsMadeAgain(src, left.plan, left.leftOut, applied, { ...context, gzipped }, options);
    const moved = movedOutOfIndex(graph, plan);
    const fromSigned = listedBySignedIndex(graph, plan, moved);
    // Signed again only with the image's digests: the same key or identity (see FixOptions.attest).
    const toAttest = options.attest !== undefined && options.resign !== undefined ? moved : [];
    const signing0 = signingNeeds(plan, graph.root.digest, {
      signer: options.resign !== undefined,
      signedThisRun: options.signedThisRun ?? new Set(),
    });
    const finish = (w: {
      written: boolean;
      destination: FixReport['destination'];
      after: TargetReport | undefined;
      resigned: SignedInfo[];
      /** The digests of `signing0.unsigned` the copy wrote (the rest were never stored). */
      wrote?: readonly Digest[];
      /** See {@link FixReport.heldAtDestination}: found by the check before writing. */
      held?: readonly Digest[];
      /** Of `moved`, those whose statements were signed again. */
      remade?: readonly RemadeAttestation[];
      /** Of `moved`, those some of whose statements could not be signed again, and why. */
      passedOver?: ReadonlyMap<RemadeAttestation, PassedOver>;
    }): FixReport => {
      const unsigned = (w.wrote ?? signing0.unsigned).filter((d) => !w.resigned.some((r) => r.subject === d));
      const signing: SigningReport = {
        resigned: w.resigned,
        unsigned: w.written ? unsigned : [],
        stale: signing0.stale,
        kept: signing0.kept,
        replacedRoot: signing0.replacedRoot,
        remade: w.written ? (w.remade ?? []) : [],
        moved: w.written ? moved : [],
        movedFromSigned: w.written ? [...new Set(fromSigned.map((m) => m.attestation))] : [],
        statement: w.written
          ? [
              signingStatement(w.resigned, unsigned, signing0, options.resign !== undefined, options.signedBy),
              ...movedLines(moved, w.remade ?? [], w.resigned, fromSigned, w.passedOver ?? new Map(), toAttest.length > 0),
            ].join(' ')
          : notWrittenStatement(w.after !== undefined && options.resign !== undefined ? signing0.unsigned : [], options.signedBy),
      };
      const report = {
        source,
        target: t.label,
        written: w.written,
        destination: w.destination,
        applied,
        changes: plan.changes,
        dropped: plan.dropped,
        renamed: finalRenames(plan),
        unfixable,
        // Those the fixed image still has: a fix for one problem may solve another (moving
        // BuildKit's entries out of the index ends the rows they made), as its check says.
        leftAlone: w.after === undefined ? leftAlone : leftAlone.filter((p) => w.after!.problems.some((q) => q.rule === p.rule)),
        signing,
        statementsLeftOut: left.leftOut,
        heldAtDestination: w.held ?? [],
        before,
        after: w.after,
      };
      return { ...report, account: accountOf(report) };
    };
    if (unfixable.length > 0 && !options.force) {
      return finish({ written: false, destination: undefined, after: undefined, resigned: [] });
    }
    const planned = new PlannedStore(src, plan);
    const checkOptions: CheckOptions = { ...options, reference, probe: probe ?? false };
    // The signatures to be made are part of what the target is to take: checked with the image,
    // and with what the destination holds already of its digests, which the copy adds to and
    // never removes (the source's own attachments, fixing into the repository it reads from).
    const toSign = options.resign !== undefined ? signing0.unsigned : [];
    const {
      signatures: storages,
      attestations: attestationStorages,
      expected,
      held: heldThere,
    } = toSign.length > 0 || toAttest.length > 0
      ? await attachmentStorages(src, plan, { signatures: toSign, attestations: predicateTypesOf(toAttest, plan) }, t, checkOptions, dst)
      : await (async () => {
          const there = new PlannedStore(src, plan, dst);
          const report = (await checkImage(there, plan.root, [t], checkOptions)).targets[0]!;
          return { signatures: new Map<Digest, Storage>(), attestations: new Map<Digest, Storage>(), expected: report, held: there.held };
        })();
    const held = refusedFindings(expected).filter((d) => heldThere.has(d));
    if (expected.verdict === 'refused' && !options.force) {
      return finish({ written: false, destination: undefined, after: expected, resigned: [], held });
    }
    const call = {
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    };
    const tags = options.tags ?? [];
    // Signed before it is tagged: a tag is what readers of a registry see at once, and it must not
    // name the fixed image before its signatures are there (nor at all when signing fails).
    const signFirst = toSign.length > 0 || toAttest.length > 0;
    // A docker-archive holds one image and nothing attached to it: copied with its referrers, the
    // image would be stored once untagged (to sign it first) and again under its tags.
    const archive = dst.holdsAttachments === false;
    // What the destination holds may not be what was copied: a docker-archive keeps no manifest
    // and reads back Docker schema 2 of its own, another digest than an OCI image's. copyImage
    // says that digest, the one its readers find, and the image is named and tagged by it.
    const root = await copyImage(planned, plan.root, dst, { tags: signFirst ? [] : tags, withReferrers: !archive, ...call });
    // Only what the copy wrote can be signed. A planned manifest may not be written: an attachment
    // moved to a cosign tag the destination has already is merged into that tag's image (see
    // copyImage), and the planned one is never stored.
    // A store that keeps a form of its own (a docker-archive) holds the fixed image alone, under
    // a digest of its own: of the manifests to sign, it wrote that one, and no attachment.
    const wrote =
      root.copied === undefined ? await writtenOf(dst, signing0.unsigned, call) : signing0.unsigned.filter((d) => d === root.copied);
    const resigned: SignedInfo[] = [];
    const statementsSigned: SignedStatement[] = [];
    const passedOver = new Map<RemadeAttestation, PassedOver>();
    if (signFirst) {
      let signing: Digest | undefined;
      try {
        for (const digest of wrote) {
          signing = digest;
          const storage = storages.get(digest) ?? 'referrers';
          const how = { dockerMediaTypes: storage === 'cosign-docker' };
          resigned.push(await options.resign!(dst, digest, storage === 'referrers' ? 'referrers' : 'cosign', how));
        }
        // The statements of each attestation moved out of the index, as attestations of their
        // subject, where the target takes them (the check before writing counted them there).
        for (const m of toAttest) {
          signing = m.about;
          const { statements, passedOver: over } = await statementsOf(planned, plan, m, call);
          if (passedOverCount(over) > 0) passedOver.set(m, over);
          if (statements.length === 0) continue;
          const storage = attestationStorages.get(m.about) ?? 'referrers';
          const how = { dockerMediaTypes: storage === 'cosign-docker' };
          statementsSigned.push(
            ...(await options.attest!(dst, m.about, statements, storage === 'referrers' ? 'referrers' : 'cosign', how)),
          );
        }
        signing = undefined;
        await tagImage(dst, root.digest, tags, call);
      } catch (err) {
        throw untaggedFix(err, dst.location, { root: root.digest, source: graph.root.digest, signing }, tags);
      }
    }
    // Without a signer, of the statements a signed index covered, those a fix given one could not
    // sign again either: the account says so with how to sign the others.
    if (toAttest.length === 0) {
      for (const m of fromSigned) {
        const { passedOver: over } = await statementsOf(planned, plan, m, call);
        if (passedOverCount(over) > 0) passedOver.set(m, over);
      }
    }
    const afterReport = await checkImage(dst, root.digest, [t], checkOptions);
    return finish({
      written: true,
      destination: {
        location: dst.location,
        digest: root.digest,
        mediaType: root.mediaType,
        tags: [...(options.tags ?? [])],
        ...(root.copied === undefined ? {} : { fixed: root.copied }),
      },
      after: afterReport.targets[0],
      resigned,
      wrote,
      held,
      remade: remadeOf(plan, moved, statementsSigned),
      passedOver,
    });
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

/**
 * What the account says of signing when nothing was written: nothing was signed, and when the
 * check before writing counted the signatures to be made of `planned` (a key or identity was
 * given), that it did, since they may be what the target refuses.
 */
function notWrittenStatement(planned: readonly Digest[], signedBy = GIVEN): string {
  if (planned.length === 0) return 'Nothing was signed.';
  return `Nothing was signed, as nothing was written; the check before writing counted the signatures ${signedBy} would have made of ${planned.map(short).join(', ')}.`;
}

/**
 * The error of a fix that failed once the fixed image was written: the cause, and that the image
 * is at the destination by digest with none of its tags (so unsigned content is named by none).
 */
function untaggedFix(
  err: unknown,
  location: string,
  at: { root: Digest; source: Digest; signing: Digest | undefined },
  tags: readonly string[],
): ProvenantError {
  const c = isProvenantError(err) ? err : undefined;
  const untagged = tags.length === 0 ? '' : ` (not tagged ${tags.join(', ')})`;
  // A fix that changed only what is attached to the image keeps the source's digest: said, so
  // that the digest is not taken for a new image.
  const same = at.root === at.source ? ', the source’s own digest (the fix changed only what is attached to it)' : '';
  const signing = at.signing === undefined ? '' : `; signing ${at.signing} failed`;
  return new ProvenantError(
    c?.code ?? 'IO',
    `${c?.message ?? String(err)}; the fixed image is written as ${locationWithDigest(location, at.root)}${untagged}${same}${signing}`,
    {
      where: c?.where ?? (at.signing === undefined ? `${location}@${at.root}` : `${location}@${at.signing}`),
      hint: c?.hint,
      cause: err,
    },
  );
}

/**
 * `plan` without the in-toto statements that name a manifest the fix replaced, each left out as
 * what it is: one layer of an attestation. A statement names its subject by digest: the index's
 * (such as its SBOM, signed in its `.att` image where ECR takes it) or a platform image's (such as
 * BuildKit's provenance, when recompressed layers change the image's digest). It cannot be
 * re-described without being signed again by whoever made it: carried, it would be read as about
 * the fixed manifest (and a signed one fails verification there, as about the wrong subject). So
 * it is left out, with what it was about. A statement that names no replaced digest (BuildKit's
 * `subject: []`) follows its subject, even beside stale ones: under a cosign tag one manifest
 * holds the layers of every attestation moved there (see {@link Draft.detach}), and each statement
 * is said as one of the attestation that brought it. A manifest left with no statement is left
 * out, and the account's lines about moving it go with it; one left with some is rewritten
 * without the others, and says which it holds.
 */
async function withoutStaleStatements(
  store: ContentStore,
  plan: Plan,
  options: OperationOptions,
): Promise<{ plan: Plan; leftOut: StatementLeftOut[] }> {
  // Every manifest the fix replaced, whatever its role: the index, a platform image, a nested index.
  const replaced = new Map(finalRenames(plan).map((r) => [r.to, r.from] as const));
  if (replaced.size === 0) return { plan, leftOut: [] };
  const found: Array<{ doc: PlannedDoc; m: ImageManifest; old: Digest; stale: (string | undefined)[] }> = [];
  for (const doc of plan.docs.values()) {
    if (doc.role !== 'attachment' || doc.kind === 'signature' || doc.subject === undefined || doc.stored.kind !== 'manifest') continue;
    const old = replaced.get(doc.subject);
    if (old === undefined) continue;
    // Of each layer, the predicate type of its statement when that names `old`; undefined otherwise.
    const stale: (string | undefined)[] = [];
    for (const layer of doc.stored.manifest.layers) {
      throwIfAborted(options.signal);
      // Read loosely: a statement other tools store in a plain JSON layer, or as a DSSE envelope in
      // an in-toto layer, names its subject as surely as one stored as Provenant would. A layer that
      // holds no statement (or is over STATEMENT_LIMIT) names nothing; one that cannot be read stops the fix.
      const read = await looseLayerStatement(store, doc.stored.manifest, layer, options);
      const { subject, predicateType } = read?.statement ?? {};
      const names = Array.isArray(subject) && namesDigest(subject, old);
      stale.push(names ? (typeof predicateType === 'string' ? predicateType : 'unknown predicate type') : undefined);
    }
    if (stale.some((t) => t !== undefined)) found.push({ doc, m: doc.stored.manifest, old, stale });
  }
  if (found.length === 0) return { plan, leftOut: [] };
  const d = new Draft(plan, 'cascade');
  const parts: LeftOutPart[] = [];
  const listed = new Set<string>();
  /** The digests (as the plan held them) of what was left out whole: the lines saying where it went go. */
  const gone: Digest[] = [];
  for (const { doc, m, old, stale } of found) {
    // Left out already with a manifest it is attached to (what `dropped` says of that covers it).
    if (!d.docs.has(doc.stored.digest)) continue;
    const whole = stale.every((t) => t !== undefined);
    const groups = layerOwners(doc, m);
    const suffix = doc.placement?.type === 'tag' ? doc.placement.suffix : undefined;
    const name = (g: LayerOwner): string => `${g.kind ?? 'attachment'} ${short(sourceOf(plan, g.digest))}`;
    const holding = (g: LayerOwner, left: boolean): boolean => stale.slice(g.from, g.to).some((t) => (t !== undefined) === left);
    // Where in `dropped` the entry about its own statements left out goes.
    let ownAt = d.dropped.length;
    if (whole) {
      if (doc.placement?.type === 'index-entry') listed.add(doc.stored.digest);
      // Its entry is said below (before those of what is attached to it), once what the statements'
      // subject was replaced by is known; a manifest that held no statement of its own, only those
      // merged into it, has none.
      d.without(doc.stored.digest);
      gone.push(doc.stored.digest);
    } else {
      const layers = m.layers.filter((_, i) => stale[i] === undefined);
      const config = await configOfKept(store, d, m, (_, i) => stale[i] === undefined, options);
      const kept = new Set(layers.map((l) => l.digest));
      const merged = (doc.merged ?? [])
        .map((p) => ({ ...p, layers: p.layers.filter((l) => kept.has(l)) }))
        .filter((p) => p.layers.length > 0);
      const where = suffix === undefined ? '' : ` under tag ${cosignTag(doc.subject!, suffix)}`;
      const out = stale.length - layers.length;
      const leftFrom = groups.filter((g) => holding(g, true)).map(name);
      const keptFrom = groups.filter((g) => holding(g, false)).map(name);
      // Whose statements they are, when attestations were merged into it.
      const of = (names: string[]): string => (groups.length === 1 ? '' : ` of ${names.join(', ')}`);
      const text =
        `${d.describe(doc)}${where} no longer holds the ${statements(out)}${of(leftFrom)} about ${short(old)}, ` +
        `which the fix replaced; it holds the ${statements(layers.length)}${of(keptFrom)}`;
      const own = groups.find((g) => g.own && holding(g, true));
      d.replace(doc.stored.digest, manifestStored({ ...m, config, layers }), text, 'cascade', {
        merged: merged.length === 0 ? undefined : merged,
      });
      // Its own statements left out are not carried, though the manifest is: said as those merged into it are.
      if (own !== undefined) ownAt = d.dropped.length;
    }
    for (const g of groups) {
      const types = stale.slice(g.from, g.to).filter((t): t is string => t !== undefined);
      if (types.length === 0) continue;
      const all = types.length === g.to - g.from;
      // One merged into the manifest was moved, not dropped (see Draft.detach): its statements left out are said here.
      parts.push({
        l: { attestation: sourceOf(plan, g.digest), predicateTypes: types, about: old, replacedBy: doc.subject! },
        entry: g.own ? ownAt : d.dropped.length,
        kind: g.kind,
        own: g.own,
        of: g.to - g.from,
        suffix,
      });
      if (!g.own && all) gone.push(g.digest);
    }
  }
  // BuildKit lists its attestations in the index: the indexes stop listing those left out, and so
  // change digest once more (what the statements about them were replaced by is the last digest).
  if (listed.size > 0) {
    unlistEntries(
      d,
      listed,
      (doc, removed) =>
        `${d.describe(doc)} no longer lists ${removed} attestation entr${removed === 1 ? 'y' : 'ies'} about a digest it replaced`,
    );
  }
  const next = d.finish();
  const last = new Map(finalRenames(next).map((r) => [r.from, r.to] as const));
  const named = parts.map((p) => ({ ...p, l: { ...p.l, replacedBy: last.get(p.l.about) ?? p.l.replacedBy } }));
  // Each entry goes where it was said; of those said at one place, the manifest's own first, and
  // each put in moves the places after it on by one.
  const dropped: Dropped[] = [...next.dropped];
  const placed = named.map((p, i) => ({ p, i })).sort((a, b) => a.p.entry - b.p.entry || Number(b.p.own) - Number(a.p.own) || a.i - b.i);
  placed.forEach(({ p }, k) => {
    dropped.splice(p.entry + k, 0, { digest: p.l.attestation, what: leftOutWhat(p), why: partWhy(p) });
  });
  // The lines that said where each one went, under whatever digest it had on the way, go too.
  const back = new Map<Digest, Digest[]>();
  for (const r of plan.renames) back.set(r.to, [...(back.get(r.to) ?? []), r.from]);
  const walked = new Set<Digest>();
  const walk = (at: Digest): void => {
    if (walked.has(at)) return;
    walked.add(at);
    for (const from of back.get(at) ?? []) walk(from);
  };
  for (const at of gone) walk(at);
  const about = (c: Change): boolean =>
    (c.attachment !== undefined && walked.has(c.attachment)) || (c.from !== undefined && c.to !== undefined && walked.has(c.to));
  return { plan: { ...next, dropped, changes: next.changes.filter((c) => !about(c)) }, leftOut: named.map((p) => p.l) };
}

/**
 * The config of the attestation manifest `m` rewritten with the layers `keep` keeps: an image
 * config over its layers (cosign's `.att` image, BuildKit's) lists those kept only, as the diff_ids
 * it had for them (an attestation's layers are not compressed: each is its own diff_id). Provenant's
 * own is made again; another's (cosign's) keeps its other fields, and the history entries of the
 * layers kept (see configOver). One that does not pair a diff_id (and a history entry, when it has
 * a history) with each layer is made as Provenant makes one. Any other config (OCI's empty one) is kept.
 */
async function configOfKept(
  store: ContentStore,
  d: Draft,
  m: ImageManifest,
  keep: (layer: Descriptor, i: number) => boolean,
  options: OperationOptions,
): Promise<Descriptor> {
  const layers = m.layers.filter(keep);
  if (!isImageConfig(m)) return m.config;
  const own = d.blob(attestationConfig(layers), m.config.mediaType);
  if (isOwnConfig(m)) return own;
  const config = await readImageConfig(store, m.config, `${store.location}@${m.config.digest}`, options);
  const bytes = configOver(config, m.layers, (i) => keep(m.layers[i]!, i));
  return bytes === undefined ? own : d.blob(bytes, m.config.mediaType);
}

/** The layers of an attachment manifest that one attachment brought: its own, or one merged into it under a cosign tag. */
interface LayerOwner {
  /** Its digest as the plan held it (the merged one's when it was merged). */
  readonly digest: Digest;
  readonly kind: AttachmentKind | undefined;
  /** The manifest's own layers, not merged into it. */
  readonly own: boolean;
  /** The positions of its layers, from (inclusive) to (exclusive). */
  readonly from: number;
  readonly to: number;
}

/**
 * Who brought each layer of `doc` (whose manifest is `m`): its own come first, and those of each
 * attachment merged into it follow in turn, as {@link Draft.detach} appends them (see
 * {@link PlannedDoc.merged}). When the layers are not as the record says, all are its own.
 */
function layerOwners(doc: PlannedDoc, m: ImageManifest): LayerOwner[] {
  const merged = doc.merged ?? [];
  const own = m.layers.length - merged.reduce((n, p) => n + p.layers.length, 0);
  const all: LayerOwner[] = [{ digest: doc.stored.digest, kind: doc.kind, own: true, from: 0, to: m.layers.length }];
  if (own < 0) return all;
  const out: LayerOwner[] = [{ digest: doc.stored.digest, kind: doc.kind, own: true, from: 0, to: own }];
  let at = own;
  for (const p of merged) {
    if (p.layers.some((l, i) => m.layers[at + i]?.digest !== l)) return all;
    out.push({ digest: p.digest, kind: p.kind, own: false, from: at, to: at + p.layers.length });
    at += p.layers.length;
  }
  return out;
}

/** The digest the source held a manifest of the plan under (back along its renames). */
function sourceOf(plan: Plan, digest: Digest): Digest {
  let at = digest;
  // As many hops as there are renames: a manifest replaced and replaced back loops.
  for (let hops = 0; hops < plan.renames.length; hops++) {
    const r = plan.renames.find((x) => x.to === at);
    if (r === undefined) break;
    at = r.from;
  }
  return at;
}

/** The statements one attachment brought that {@link withoutStaleStatements} left out, and the entry of `dropped` that says so. */
interface LeftOutPart {
  readonly l: StatementLeftOut;
  /** Where in the plan's `dropped` the entry about them goes: before the entry at that position (as the draft made it). */
  readonly entry: number;
  readonly kind: AttachmentKind | undefined;
  /** Brought by the manifest itself, not merged into it. */
  readonly own: boolean;
  /** How many statements the attachment brought: more than were left out when some are carried. */
  readonly of: number;
  /** The cosign tag the manifest is under, if any. */
  readonly suffix: 'att' | 'sig' | 'sbom' | undefined;
}

/** `n` statements, in words: "statement" for one. */
function statements(n: number): string {
  return n === 1 ? 'statement' : `${n} statements`;
}

/** What the account names a {@link LeftOutPart} by: the attestation, or the statements of it left out. */
function leftOutWhat(p: LeftOutPart): string {
  const left = p.l.predicateTypes.length;
  const of = `${p.kind ?? 'attachment'} ${short(p.l.attestation)} (${p.l.predicateTypes.join(', ')})`;
  return left === p.of ? of : `${left} of the ${p.of} statements of ${of}`;
}

/** Why a {@link LeftOutPart} is not carried, and where the rest of the attestation went when some of it is. */
function partWhy(p: LeftOutPart): string {
  const left = p.l.predicateTypes.length;
  if (left === p.of) return leftOutWhy(p.l);
  const rest = p.of - left;
  const where = p.own
    ? `${rest === 1 ? 'is' : 'are'} carried`
    : `${rest === 1 ? 'was' : 'were'} added to the manifest under ${p.suffix === undefined ? 'its tag' : cosignTag(p.l.replacedBy, p.suffix)}`;
  return (
    `${left === 1 ? 'it is' : 'they are'} about ${p.l.about}, which the fixed image replaces with ${p.l.replacedBy}; a statement cannot be re-described ` +
    `without signing it again, and stays about the old digest only; its other ${statements(rest)} ${where}`
  );
}

/** The fixes that put an attachment where a target takes it: run again over the statements made again. */
function placesAttachments(a: { readonly fix: FixId; readonly with: Params }): boolean {
  return a.fix === 'docker-media-types' || (a.fix === 'move-attestations' && a.with.to === 'cosign-tag');
}

/**
 * `plan` with the statements `options.remake` makes again (see {@link FixOptions.remake}) about
 * the manifests written in place of the subjects of `leftOut`: each list a referrer of its
 * subject, then put where the target takes it by the fixes `applied` that place attachments (a
 * registry that reads Docker schema 2 only takes them under cosign's `.att` tag, in Docker media
 * types), as they put the source's referrers. Each attestation left out whose every statement was
 * made again is said to be. The plan as it was without `remake`, or when nothing was left out.
 */
async function withStatementsMadeAgain(
  src: ContentStore,
  plan: Plan,
  leftOut: readonly StatementLeftOut[],
  applied: readonly { readonly fix: FixId; readonly with: Params }[],
  context: TransformContext,
  options: FixOptions,
): Promise<Plan> {
  if (options.remake === undefined || leftOut.length === 0) return plan;
  const root = plan.docs.get(plan.root)!.stored;
  const subjects = new Set(leftOut.map((l) => l.replacedBy));
  const made = (await options.remake(new PlannedStore(src, plan), descriptorOf(root), finalRenames(plan), options)).filter(
    (a) => subjects.has(a.manifest.digest) && plan.docs.has(a.manifest.digest),
  );
  const docs = new Map(plan.docs);
  const blobs = new Map(plan.blobs);
  const types = new Map<Digest, string[]>();
  for (const a of made) {
    const referrer = attestationReferrer(a);
    if (referrer === undefined) continue;
    docs.set(referrer.stored.digest, {
      stored: referrer.stored,
      role: 'attachment',
      kind: 'attestation',
      subject: a.manifest.digest,
      placement: { type: 'referrer' },
    });
    for (const b of referrer.blobs) blobs.set(b.descriptor.digest, b);
    types.set(a.manifest.digest, [...(types.get(a.manifest.digest) ?? []), ...a.statements.map((x) => x.predicateType)]);
  }
  if (types.size === 0) return plan;
  let next: Plan = { ...plan, docs, blobs };
  for (const a of applied) if (placesAttachments(a)) next = TRANSFORMS[a.fix](next, a.with, context);
  const remade = leftOut.filter((l) => predicateTypesCovered(l.predicateTypes, types.get(l.replacedBy) ?? []));
  const dropped = next.dropped.map((x) => {
    const l = remade.find((y) => y.attestation === x.digest);
    return l === undefined ? x : { ...x, why: remadeWhy(l, 'attached to it where the target takes them') };
  });
  return { ...next, dropped };
}

/** The digests the refusals of `report` were found on (attachments, layers, manifests), each once. */
function refusedFindings(report: TargetReport): Digest[] {
  const found = report.problems.filter((p) => p.severity === 'refuses').flatMap((p) => p.findings.map((f) => f.digest));
  return [...new Set(found.filter((d): d is Digest => d !== undefined))];
}

/** Why an attestation whose statements name a replaced digest is not carried. */
function leftOutWhy(l: StatementLeftOut): string {
  return `its statements are about ${l.about}, which the fixed image replaces with ${l.replacedBy}; a statement cannot be re-described without signing it again, and stays about the old digest only`;
}

/** True when one of an in-toto statement's subjects names `digest`. */
function namesDigest(subjects: readonly unknown[], digest: Digest): boolean {
  const [alg, hex] = digest.split(':');
  return subjects.some((s) => {
    const d = (s as { digest?: Record<string, unknown> } | null)?.digest;
    return d !== undefined && d !== null && typeof d === 'object' && alg !== undefined && d[alg] === hex;
  });
}

/**
 * Where to store an attachment to be made: a cosign 3 bundle referrer, or under a cosign 2 tag, in
 * an image of OCI media types, or of Docker schema 2 ones (`cosign-docker`, as cosign writes it
 * with COSIGN_DOCKER_MEDIA_TYPES=1).
 */
type Storage = 'referrers' | 'cosign' | 'cosign-docker';

/** The attachments to be made, by subject: a signature of each, and attestations of the predicate types given. */
interface ToMake {
  readonly signatures: readonly Digest[];
  readonly attestations: ReadonlyMap<Digest, readonly string[]>;
}

/**
 * Where to store each attachment of `make`, and the target's verdict on the image `plan` with
 * them in it. Each goes as an OCI 1.1 referrer (what `cosign sign` and `cosign attest` write by
 * default) unless the target refuses that one, as ECR refuses a referrer of an index; then under
 * cosign 2's tag for the digest, `.sig` or `.att`, which the same verification finds, in an OCI
 * image; and when the target refuses that too, in a Docker schema 2 image, as cosign writes it
 * for such registries (COSIGN_DOCKER_MEDIA_TYPES=1; Artifactory before 7.11.1 reads nothing
 * else). Each planned attachment is a manifest of the shape the writer makes (its blobs
 * placeholders: a check reads manifests, never attachment layers), added to the plan for the
 * check only. With `destination`, the image is checked as it will be there, with the attachments
 * the destination holds of its digests (see {@link PlannedStore}); `held` names those it saw.
 */
async function attachmentStorages(
  src: ContentStore,
  plan: Plan,
  make: ToMake,
  t: Target,
  options: CheckOptions,
  destination?: ContentStore,
): Promise<{ signatures: Map<Digest, Storage>; attestations: Map<Digest, Storage>; expected: TargetReport; held: ReadonlySet<Digest> }> {
  const storages = {
    signature: new Map<Digest, Storage>(make.signatures.map((d) => [d, 'referrers'])),
    attestation: new Map<Digest, Storage>([...make.attestations.keys()].map((d) => [d, 'referrers'])),
  };
  for (let round = 0; ; round++) {
    const planned = withPlannedAttachments(plan, storages.signature, storages.attestation, make.attestations);
    const store = new PlannedStore(src, planned.plan, destination);
    const expected = (await checkImage(store, plan.root, [t], options)).targets[0]!;
    const refused = expected.problems
      .filter((p) => p.severity === 'refuses')
      .flatMap((p) => p.findings)
      .map((f) => (f.digest === undefined ? undefined : planned.made.get(f.digest)))
      .filter((m): m is Made => m !== undefined && NEXT_STORAGE[storages[m.kind].get(m.subject)!] !== undefined);
    // Each storage is tried once: a target that refuses the Docker image under the cosign tag too
    // refuses the image, and says so. Each round moves an attachment on, so there are three at most.
    if (refused.length === 0 || round >= 2) {
      return { signatures: storages.signature, attestations: storages.attestation, expected, held: store.held };
    }
    // Once per attachment: several planned manifests make one (a statement referrer and its bundles).
    const next = refused.map((m) => [m, NEXT_STORAGE[storages[m.kind].get(m.subject)!]!] as const);
    for (const [m, s] of next) storages[m.kind].set(m.subject, s);
  }
}

/** The storage to try for an attachment a target refuses in one, in the order cosign's writers fall back. */
const NEXT_STORAGE: Readonly<Record<Storage, Storage | undefined>> = {
  referrers: 'cosign',
  cosign: 'cosign-docker',
  'cosign-docker': undefined,
};

/** Where to store the signature, or the attestations, of one manifest, and why. */
export interface AttachmentStorageChoice {
  /**
   * `cosign` (under cosign's `.sig` or `.att` tag) when some target refuses it as a referrer:
   * signed, in cosign 2's form; unsigned statements where `fix` moves them (see storeAsFixWould).
   */
  readonly storage: 'referrers' | 'cosign';
  /** The targets (as `fixImage` names them) that refuse it as a referrer. */
  readonly refusedBy: readonly string[];
  /**
   * Of `refusedBy`, the targets that refuse it under the tag in an OCI image too (Artifactory
   * before 7.11.1 reads Docker schema 2 only): when there are any, a new `.sig` or `.att` image is
   * written in Docker media types, as cosign does with COSIGN_DOCKER_MEDIA_TYPES=1.
   */
  readonly dockerMediaTypesFor: readonly string[];
}

/** Options of {@link attachmentStoragesFor}. */
export interface AttachmentStoragesOptions extends OperationOptions {
  /**
   * The manifests to be attested, each with the predicate types of its statements (the kind of
   * an attestation, an SBOM or provenance, can matter to a target). None by default.
   */
  attestations?: ReadonlyMap<Digest, readonly string[]> | undefined;
}

/** Where {@link attachmentStoragesFor} says each signature and each manifest's attestations go. */
export interface AttachmentStorages {
  /** By the manifest signed: the image, and every manifest its indexes list. */
  readonly signatures: Map<Digest, AttachmentStorageChoice>;
  /** By the manifest attested: those of `options.attestations` the image holds. */
  readonly attestations: Map<Digest, AttachmentStorageChoice>;
}

/**
 * Where to sign the image `target` (a tag or digest in `store`) and every manifest its indexes
 * list (what `cosign sign --recursive` signs), and where to store the attestations of the
 * manifests `options.attestations` names, so that each of `targets` takes them, by the judgement
 * {@link fixImage} makes for the signatures it makes: an OCI 1.1 referrer (a cosign 3 bundle, and
 * for an attestation the unsigned statements beside it), unless a target refuses that one (ECR
 * refuses a referrer whose subject is an index); then a layer of cosign 2's `.sig` tag, or a DSSE
 * envelope in its `.att` tag, the form `fix` moves such an attachment to, in an image of Docker
 * schema 2 media types when a target refuses an OCI one there. For writing attachments
 * as the image is written, so that no fix is needed for them; the image as it is (before
 * signing) is read, never written.
 *
 * @throws ProvenantError as {@link readImageGraph}
 */
export async function attachmentStoragesFor(
  store: ContentStore,
  target: string,
  targets: readonly Target[],
  options: AttachmentStoragesOptions = {},
): Promise<AttachmentStorages> {
  const graph = await readImageGraph(store, target, options);
  const plan = withoutMissingEntries(planFromGraph(graph), graph);
  const signed = [...plan.docs.values()].filter((d) => d.role !== 'attachment' || d.placement?.type === 'index-entry');
  const attested = new Map([...(options.attestations ?? [])].filter(([d]) => plan.docs.has(d)));
  const make: ToMake = { signatures: signed.map((d) => d.stored.digest), attestations: attested };
  const none = (digests: Iterable<Digest>) =>
    new Map<Digest, { refusedBy: string[]; docker: string[] }>([...digests].map((d) => [d, { refusedBy: [], docker: [] }]));
  const by = { signatures: none(make.signatures), attestations: none(attested.keys()) };
  // The targets are where the image is to go, not this store: no probe of it.
  const checkOptions: CheckOptions = { ...options, probe: false };
  for (const t of targets) {
    const storages = await attachmentStorages(store, plan, make, t, checkOptions);
    for (const kind of ['signatures', 'attestations'] as const) {
      for (const [d, s] of storages[kind]) {
        if (s !== 'referrers') by[kind].get(d)?.refusedBy.push(t.label);
        if (s === 'cosign-docker') by[kind].get(d)?.docker.push(t.label);
      }
    }
  }
  const choices = (m: ReturnType<typeof none>): Map<Digest, AttachmentStorageChoice> =>
    new Map(
      [...m].map(([d, { refusedBy, docker }]) => [
        d,
        { storage: refusedBy.length > 0 ? ('cosign' as const) : ('referrers' as const), refusedBy, dockerMediaTypesFor: docker },
      ]),
    );
  return { signatures: choices(by.signatures), attestations: choices(by.attestations) };
}

/**
 * The platform of the index `graph` to write into a docker-archive when none is named: the first
 * of the target's `platforms` (in its order) that it has, else this machine's, as `copy` into a
 * docker-archive takes; undefined when it has neither.
 */
function archivePlatform(graph: ImageGraph, platforms: readonly Platform[]): Platform | undefined {
  const has = (p: Platform): boolean => graph.images.some((i) => i.platform !== undefined && platformMatches(p, i.platform));
  return [...platforms, hostPlatform(process.arch)].find(has);
}

/** The largest Sigstore bundle {@link bundlesIn} reads: a bundle holds one signed statement. */
const BUNDLE_LIMIT = 64 * 1024 * 1024;

/**
 * The Sigstore bundles the attachments of `plan` hold, by their layer's digest, from the plan's
 * own blobs or `store`: a move under a cosign tag rewrites an attestation from them, and
 * transforms do not read. One that cannot be read is left out; the move then says so.
 */
async function bundlesIn(store: ContentStore, plan: Plan, options: OperationOptions): Promise<Map<Digest, Uint8Array>> {
  const out = new Map<Digest, Uint8Array>();
  for (const doc of plan.docs.values()) {
    if (doc.role !== 'attachment' || doc.stored.kind !== 'manifest') continue;
    for (const l of doc.stored.manifest.layers) {
      if (!isBundleMediaType(l.mediaType) || out.has(l.digest) || l.size > BUNDLE_LIMIT) continue;
      const planned = plan.blobs.get(l.digest);
      if (planned?.bytes !== undefined) {
        out.set(l.digest, planned.bytes);
        continue;
      }
      try {
        out.set(l.digest, await collect(await store.readBlob(l, options), BUNDLE_LIMIT, `${store.location}@${l.digest}`));
      } catch (err) {
        if (!isProvenantError(err) || !['NOT_FOUND', 'DIGEST_MISMATCH', 'SIZE_MISMATCH'].includes(err.code)) throw err;
      }
    }
  }
  return out;
}

/**
 * The image configs of the attachments of `plan` (cosign's `.att` images, BuildKit's attestations),
 * by their digest, from the plan's own blobs or `store`: layers merged into a `.att` image are
 * added to its own config (Draft.detach), and transforms do not read. One that cannot be read, or
 * is no JSON object, is left out; the config is then made as Provenant makes one.
 */
async function configsIn(store: ContentStore, plan: Plan, options: OperationOptions): Promise<Map<Digest, Record<string, unknown>>> {
  const out = new Map<Digest, Record<string, unknown>>();
  for (const doc of plan.docs.values()) {
    if (doc.role !== 'attachment' || doc.stored.kind !== 'manifest' || !isImageConfig(doc.stored.manifest)) continue;
    const c = doc.stored.manifest.config;
    if (out.has(c.digest)) continue;
    const where = `${store.location}@${c.digest}`;
    const planned = plan.blobs.get(c.digest)?.bytes;
    try {
      out.set(c.digest, planned === undefined ? await readImageConfig(store, c, where, options) : parseImageConfig(planned, where));
    } catch (err) {
      if (!isProvenantError(err) || !['NOT_FOUND', 'DIGEST_MISMATCH', 'SIZE_MISMATCH', 'TOO_LARGE', 'INVALID_CONFIG'].includes(err.code))
        throw err;
    }
  }
  return out;
}

/** An attachment not written yet: a referrer's manifest, the blobs it names, and what it is. */
export interface PendingAttachment {
  readonly stored: Stored;
  readonly blobs: readonly { readonly descriptor: Descriptor; readonly bytes: Uint8Array }[];
  readonly kind: AttachmentKind;
}

/**
 * Writes attachments of the image `root` (each a referrer not written, of a manifest of the image)
 * that `targets` refuse as referrers where `fix` moves such a referrer: the targets' own
 * `move-attestations` fix to cosign tags (ECR's for a referrer of an index), applied to the image
 * with them as referrers, so each is written without its subject under cosign's tag for it
 * (`sha256-<hex>.att`), in the config the fix gives it, and added to the manifest that tag names
 * when there is one. For the unsigned statements of a run whose signed ones would go in the
 * `.att` image (see attachmentStoragesFor), so that no referrer the targets refuse is written.
 * An attachment no such fix moves is written as the referrer it is, as `fix` leaves it; those
 * are returned, for the caller to say so.
 *
 * @throws ProvenantError as {@link readImageGraph}, and the store's errors
 */
export async function storeAsFixWould(
  store: ContentStore,
  root: Digest,
  attachments: ReadonlyMap<Digest, readonly PendingAttachment[]>,
  targets: readonly Target[],
  options: OperationOptions = {},
): Promise<PendingAttachment[]> {
  if ([...attachments.values()].every((l) => l.length === 0)) return [];
  const graph = await readImageGraph(store, root, options);
  const base = withoutMissingEntries(planFromGraph(graph), graph);
  const docs = new Map(base.docs);
  const blobs = new Map(base.blobs);
  for (const [subject, list] of attachments) {
    for (const a of list) {
      docs.set(a.stored.digest, { stored: a.stored, role: 'attachment', kind: a.kind, subject, placement: { type: 'referrer' } });
      for (const b of a.blobs) blobs.set(b.descriptor.digest, { descriptor: b.descriptor, bytes: b.bytes });
    }
  }
  let plan: Plan = { ...base, docs, blobs };
  const moves = targets.flatMap((t) =>
    t.profile.rules.flatMap((r) => (r.fix?.id === 'move-attestations' && r.fix.with.to === 'cosign-tag' ? [r.fix] : [])),
  );
  // The bundles are read only for a move to a tag, the one step that reads them.
  if (moves.length > 0) {
    const context = {
      platforms: [],
      location: store.location,
      bundles: await bundlesIn(store, plan, options),
      configs: await configsIn(store, plan, options),
    };
    for (const m of moves) plan = TRANSFORMS[m.id](plan, m.with, context);
  }
  await copyImage(new PlannedStore(store, plan), plan.root, store, { tags: [], withReferrers: true, ...options });
  return [...attachments.values()].flat().filter((a) => plan.docs.get(a.stored.digest)?.placement?.type === 'referrer');
}

/** An attachment planned for a check: what it is, and the manifest it is attached to. */
interface Made {
  kind: 'signature' | 'attestation';
  subject: Digest;
}

/**
 * `plan` with each planned attachment in its storage: a signature of each digest of `signatures`,
 * the attestations of each of `attestations` (with the predicate types `predicates` gives), and
 * what each planned manifest is.
 */
function withPlannedAttachments(
  plan: Plan,
  signatures: ReadonlyMap<Digest, Storage>,
  attestations: ReadonlyMap<Digest, Storage>,
  predicates: ReadonlyMap<Digest, readonly string[]>,
): { plan: Plan; made: Map<Digest, Made> } {
  const docs = new Map(plan.docs);
  const made = new Map<Digest, Made>();
  const empty = encodeJson({});
  const emptyConfig = (artifactType: string): Descriptor => ({
    mediaType: MediaType.OciEmpty,
    digest: digestOf(empty),
    size: empty.byteLength,
    artifactType,
  });
  const placeholder = (what: string): Descriptor & { bytes: Uint8Array } => {
    const bytes = new TextEncoder().encode(what);
    return { mediaType: '', digest: digestOf(bytes), size: bytes.byteLength, bytes };
  };
  /** A referrer of `subject` of `artifactType` with `layers`, as the writers make one. */
  const referrer = (subject: Stored, artifactType: string, layers: Descriptor[], annotations?: Record<string, string>): Stored =>
    manifestStored({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      artifactType,
      config: emptyConfig(artifactType),
      layers,
      subject: descriptorOf(subject),
      ...(annotations === undefined ? {} : { annotations }),
    });
  /**
   * The image under a cosign tag that `cosign` 2 appends `layers` to (go-containerregistry's empty
   * image), in OCI media types or, for `cosign-docker`, Docker schema 2 ones (see sign/storage.ts).
   */
  const tagged = (layers: Descriptor[], storage: Storage): Stored => {
    const config = encodeJson({ architecture: '', os: '', config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } });
    const docker = storage === 'cosign-docker';
    return manifestStored({
      schemaVersion: 2,
      mediaType: docker ? MediaType.DockerManifest : MediaType.OciManifest,
      config: { mediaType: docker ? MediaType.DockerConfig : MediaType.OciConfig, digest: digestOf(config), size: config.byteLength },
      layers,
    });
  };
  const add = (stored: Stored, m: Made, placement: PlannedDoc['placement'], docKind: PlannedDoc['kind']): void => {
    docs.set(stored.digest, { stored, role: 'attachment', kind: docKind, subject: m.subject, placement });
    made.set(stored.digest, m);
  };
  for (const [digest, storage] of signatures) {
    const subject = plan.docs.get(digest);
    if (subject === undefined) continue;
    const p = placeholder(`the signature to be made of ${digest}`);
    const m: Made = { kind: 'signature', subject: digest };
    if (storage === 'referrers') {
      const bundle: Descriptor = { mediaType: ArtifactType.SigstoreBundleV03, digest: p.digest, size: p.size };
      // What makes it a signature, not an attestation, to a reader (classifyReferrer).
      const annotations = { 'dev.sigstore.bundle.content': 'dsse-envelope', 'dev.sigstore.bundle.predicateType': COSIGN_SIGN_PREDICATE };
      add(referrer(subject.stored, ArtifactType.SigstoreBundleV03, [bundle], annotations), m, { type: 'referrer' }, 'signature');
    } else if (!hasCosignTag(plan, digest, 'sig')) {
      // Signing appends a layer to a `.sig` manifest the plan already has for the digest.
      const layer: Descriptor = { mediaType: ArtifactType.CosignSimpleSigning, digest: p.digest, size: p.size };
      add(tagged([layer], storage), m, { type: 'tag', suffix: 'sig' }, 'signature');
    }
  }
  for (const [digest, storage] of attestations) {
    const subject = plan.docs.get(digest);
    if (subject === undefined) continue;
    const types = predicates.get(digest) ?? [];
    const m: Made = { kind: 'attestation', subject: digest };
    if (storage === 'referrers') {
      // The unsigned statements (attest/storage.ts) and a bundle of each (sign/sign.ts attestImage).
      const statements = types.map((type) => {
        const p = placeholder(`the ${type} statement to be made of ${digest}`);
        return { mediaType: MediaType.InToto, digest: p.digest, size: p.size, annotations: { [Annotation.InTotoPredicateType]: type } };
      });
      add(referrer(subject.stored, ArtifactType.BuildkitAttestation, statements), m, { type: 'referrer' }, 'attestation');
      for (const type of types) {
        const p = placeholder(`the ${type} bundle to be made of ${digest}`);
        const bundle: Descriptor = { mediaType: ArtifactType.SigstoreBundleV03, digest: p.digest, size: p.size };
        const annotations = { 'dev.sigstore.bundle.content': 'dsse-envelope', 'dev.sigstore.bundle.predicateType': type };
        add(referrer(subject.stored, ArtifactType.SigstoreBundleV03, [bundle], annotations), m, { type: 'referrer' }, 'attestation');
      }
    } else if (!hasCosignTag(plan, digest, 'att')) {
      // cosign 2's `.att` image: a DSSE envelope per statement, annotated with its predicate type.
      const layers = types.map((type) => {
        const p = placeholder(`the ${type} envelope to be made of ${digest}`);
        return { mediaType: ArtifactType.DsseEnvelope, digest: p.digest, size: p.size, annotations: { predicateType: type } };
      });
      add(tagged(layers, storage), m, { type: 'tag', suffix: 'att' }, 'attestation');
    }
  }
  return { plan: { ...plan, docs }, made };
}

/**
 * Refuses, before any layer is recompressed, an image that would still list an index once the
 * structural fixes ran, for Docker media types: a Docker manifest list lists manifests only
 * (schema 2 has no nested lists), and flattening would change which digests the image is made
 * of; crane and regctl would refuse it too. The index is named by its digest in the source, which
 * the user can name; a fix before this one may have rewritten it.
 *
 * @throws ProvenantError `INCOMPATIBLE` naming the nested index where the source holds it
 */
function assertNotNested(plan: Plan, location: string): void {
  const nested = [...plan.docs.values()].find((x) => x.role === 'index' && x.stored.digest !== plan.root);
  if (nested === undefined) return;
  const source = sourceOf(plan, nested.stored.digest);
  throw new ProvenantError('INCOMPATIBLE', `the image lists the index ${source}, and a Docker manifest list cannot list an index`, {
    where: `${location}@${source}`,
    hint: `fix the nested index itself (name ${location}@${source}) instead; crane and regctl copy the nesting as it is`,
  });
}

/** Those of `digests` that `store` holds, in order. */
async function writtenOf(store: ContentStore, digests: readonly Digest[], options: OperationOptions): Promise<Digest[]> {
  const out: Digest[] = [];
  for (const d of digests) if ((await store.resolve(d, options)) !== undefined) out.push(d);
  return out;
}

/**
 * The rules of `t` (refusals; warnings too with `all`) that a gzip of its layers satisfies when an
 * uncompressed layer is typed as Docker's plain tar, as a docker-archive holds it.
 */
function archiveRefusals(t: Target, all: boolean): string[] {
  return rulesFor(t)
    .filter(
      (r) =>
        r.detect === 'layer-compression' &&
        r.fix?.id === 'gzip-layers' &&
        (all || r.severity === 'refuses') &&
        listParam(r.with, 'refuse').includes('uncompressed-docker'),
    )
    .map((r) => r.id);
}

/** Each original digest that changed and the digest written for it (intermediate steps folded). */
function finalRenames(plan: Plan): Rename[] {
  const next = new Map(plan.renames.map((r) => [r.from, r] as const));
  const made = new Set(plan.renames.map((r) => r.to));
  const out: Rename[] = [];
  for (const r of plan.renames) {
    if (made.has(r.from)) continue;
    let last = r;
    for (let hop = next.get(r.to); hop !== undefined; hop = next.get(hop.to)) last = hop;
    if (plan.docs.has(last.to)) out.push({ ...r, to: last.to });
  }
  return out;
}

/** The fixes the chosen problems name, in {@link ORDER}, one per distinct parameter set. */
function fixesFor(problems: readonly Problem[]): Array<{ fix: FixId; with: Params; rules: string[] }> {
  const out: Array<{ fix: FixId; with: Params; rules: string[] }> = [];
  for (const p of problems) {
    if (p.fix === undefined) continue;
    const spec = p.fix;
    const same = out.find((o) => o.fix === spec.id && (spec.id === 'gzip-layers' || JSON.stringify(o.with) === JSON.stringify(spec.with)));
    if (same === undefined) {
      out.push({ fix: spec.id, with: spec.with, rules: [p.rule] });
    } else {
      if (!same.rules.includes(p.rule)) same.rules.push(p.rule);
      if (spec.id === 'gzip-layers') {
        const from = [...new Set([...(same.with.from as readonly string[]), ...(spec.with.from as readonly string[])])];
        same.with = { ...same.with, from };
      }
    }
  }
  return out.sort((a, b) => ORDER.indexOf(a.fix) - ORDER.indexOf(b.fix));
}

/**
 * Which digests the fix made (and so need signing), which signatures it could not carry, and which
 * digests those signed keep a signature under their `.sig` tag. `signer`: whether a `resign` was
 * given; `signedThisRun`: see {@link FixOptions.signedThisRun}.
 */
function signingNeeds(
  plan: Plan,
  oldRoot: Digest,
  by: { readonly signer: boolean; readonly signedThisRun: ReadonlySet<Digest> },
): {
  unsigned: Digest[];
  stale: Array<{ signature: Digest; signs: Digest }>;
  kept: Digest[];
  replacedRoot: SigningReport['replacedRoot'];
} {
  const unsigned = new Set<Digest>();
  // Every manifest whose digest the fix changed, that the fixed image carries.
  // A cosign `.att` image is not: each of its layers is a DSSE envelope that carries its own
  // signature, and verifiers read them by the subject's tag, never by the image's digest.
  for (const r of plan.renames) if (plan.docs.has(r.to) && !selfSigned(plan.docs.get(r.to)!)) unsigned.add(r.to);
  const stale = plan.dropped.filter((d) => d.signs !== undefined).map((d) => ({ signature: d.digest, signs: d.signs! }));
  // A signature left out of a manifest the fixed image still carries (a bundle no storage the
  // target takes can hold): that manifest needs a signature of its own, unless one under its
  // `.sig` tag is carried (Provenant signs an index there too), which the same verification finds.
  const kept = new Set<Digest>();
  for (const s of stale) {
    if (!plan.docs.has(s.signs)) continue;
    if (hasCosignTag(plan, s.signs, 'sig')) kept.add(s.signs);
    else unsigned.add(s.signs);
  }
  // The image now named in place of a signed index needs a signature of its own. Given a signer, it
  // is signed whatever signatures it carries (a vendor's is not the user's: `verify --key` of their
  // key must find one), except when the caller signed that digest in this run: the Action signs
  // every platform image as it writes the build, and signing the manifest Lambda's fix keeps would
  // sign the same digest twice with the same key or identity. Without a signer, one that carries a
  // signature is not said to be unsigned (the statement says it keeps a signature of its own).
  // Given a signer, it is signed even when the index was not: the key is given to sign what the fix
  // changed, and the image the target runs is that change (signing only the attestations the fix
  // moved would leave `verify --key` of the image with nothing to find).
  const signed = carriesSignature(plan, plan.root);
  const rootWasSigned = stale.some((s) => s.signs === oldRoot || plan.renames.some((r) => r.from === oldRoot && r.to === s.signs));
  if (plan.root !== oldRoot && !by.signedThisRun.has(plan.root) && (by.signer || (!signed && rootWasSigned))) {
    unsigned.add(plan.root);
  }
  // A manifest of the source written in place of its root keeps its digest, and so the signatures
  // it had; none of the root's covers it, which the statement says (see signingStatement).
  const replacedRoot = plan.root !== oldRoot && !unsigned.has(plan.root) ? { from: oldRoot, to: plan.root, signed } : undefined;
  return { unsigned: [...unsigned], stale, kept: [...kept], replacedRoot };
}

/**
 * The attestation manifests of BuildKit's storage that the fix moved out of the index (see
 * {@link SigningReport.moved}): each attestation the source's index listed that the fixed image
 * holds as a referrer or under a cosign tag, by its digest there, with the manifest it is about.
 * One merged into the manifest a cosign tag already named (see {@link PlannedDoc.merged}) is one
 * too, with the layers it brought there. Statements stored as DSSE envelopes or Sigstore bundles
 * carry their own signatures, and are not one.
 */
function movedOutOfIndex(
  graph: { readonly indexEntries: readonly { readonly stored: Stored | undefined; readonly kind: AttachmentKind }[] },
  plan: Plan,
): RemadeAttestation[] {
  const listed = new Set(graph.indexEntries.filter((e) => e.kind === 'attestation' && e.stored !== undefined).map((e) => e.stored!.digest));
  const out: RemadeAttestation[] = [];
  for (const doc of plan.docs.values()) {
    if (doc.role !== 'attachment' || doc.kind !== 'attestation' || doc.subject === undefined) continue;
    if (doc.placement === undefined || doc.placement.type === 'index-entry' || doc.stored.kind !== 'manifest') continue;
    const m = doc.stored.manifest;
    const groups = layerOwners(doc, m);
    for (const g of groups) {
      const from = sourceOf(plan, g.digest);
      const layers = m.layers.slice(g.from, g.to);
      if (!listed.has(from) || (!g.own && g.kind !== 'attestation')) continue;
      if (layers.length === 0 || layers.some((l) => l.mediaType === ArtifactType.DsseEnvelope || isBundleMediaType(l.mediaType))) continue;
      const shared = groups.length === 1 ? {} : { layers: layers.map((l) => l.digest) };
      out.push({ attestation: doc.stored.digest, about: doc.subject, ...shared, ...(g.own ? {} : { merged: from }) });
    }
  }
  return out;
}

/** The layers of `m` (the moved attestation's manifest in the plan) that are its statements: all, unless it shares the manifest. */
function movedLayers(plan: Plan, m: RemadeAttestation): Descriptor[] {
  const doc = plan.docs.get(m.attestation);
  if (doc?.stored.kind !== 'manifest') return [];
  return doc.stored.manifest.layers.filter((l) => m.layers === undefined || m.layers.includes(l.digest));
}

/**
 * Of `moved`, those (as the fixed image holds them) that an index of the source listing them was
 * signed (see {@link SigningReport.movedFromSigned}): the root index or a nested one, a signature
 * of it found as a referrer or under its cosign `.sig` tag.
 */
function listedBySignedIndex(graph: ImageGraph, plan: Plan, moved: readonly RemadeAttestation[]): RemadeAttestation[] {
  const signed = new Set(graph.attachments.filter((a) => a.attachment.kind === 'signature').map((a) => a.attachment.subject));
  const indexes = [graph.root, ...graph.nested.map((n) => n.stored)].filter((i) => i.kind === 'index' && signed.has(i.digest));
  const listed = new Set(indexes.flatMap((i) => (i.kind === 'index' ? i.index.manifests.map((m) => m.digest) : [])));
  return moved.filter((m) => listed.has(m.merged ?? sourceOf(plan, m.attestation)));
}

/** The predicate types of the statements of each of `moved`, by the manifest they are about (the check before writing plans their attestations). */
function predicateTypesOf(moved: readonly RemadeAttestation[], plan: Plan): Map<Digest, string[]> {
  const out = new Map<Digest, string[]>();
  for (const m of moved) {
    const types = movedLayers(plan, m).map((l) => l.annotations?.[Annotation.InTotoPredicateType] ?? 'unknown');
    out.set(m.about, [...(out.get(m.about) ?? []), ...types]);
  }
  return out;
}

/** How many of an attestation's statements were passed over, for whichever reason. */
function passedOverCount(over: PassedOver): number {
  return over.noSubject + over.elsewhere + over.notStatements;
}

/** The largest statement {@link statementsOf} reads to sign again. */
const STATEMENT_READ_LIMIT = 64 * 1024 * 1024;

/** Of a moved attestation's statements, those {@link statementsOf} passed over, and why: for the account. */
interface PassedOver {
  /** Its statements (layers) in all. */
  readonly total: number;
  /** Those whose `subject` is empty or missing (BuildKit leaves it empty where it has none to name). */
  readonly noSubject: number;
  /** Those whose subjects name other manifests only. */
  readonly elsewhere: number;
  /** Those that are no statements at all: no JSON object, or no predicate type. */
  readonly notStatements: number;
}

/**
 * The in-toto statements of the moved attestation `m`, read from `store` (the planned image), each
 * with its predicate type, that name `m.about` as their subject: only those can be signed as its
 * attestations (a statement names its subject by digest). One that does not is left unsigned, and
 * the attestation is then not said to be signed again (see {@link remadeOf}); `passedOver` counts
 * them, by why, for the account to say.
 */
async function statementsOf(
  store: ContentStore,
  plan: Plan,
  m: RemadeAttestation,
  options: OperationOptions,
): Promise<{ statements: StatementBlob[]; passedOver: PassedOver }> {
  const [alg, hex] = m.about.split(':') as [string, string];
  const out: StatementBlob[] = [];
  const layers = movedLayers(plan, m);
  let noSubject = 0;
  let elsewhere = 0;
  let notStatements = 0;
  for (const l of layers) {
    throwIfAborted(options.signal);
    const bytes = await collect(await store.readBlob(l, options), STATEMENT_READ_LIMIT, `${store.location}@${l.digest}`);
    let parsed: { predicateType?: unknown; subject?: { digest?: Record<string, string> }[] } | undefined;
    try {
      parsed = JSON.parse(Buffer.from(bytes).toString('utf8')) as typeof parsed;
    } catch {
      parsed = undefined;
    }
    // Not a JSON object (no JSON, a string, a number, a list): no statement at all.
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      notStatements++;
      continue;
    }
    if (parsed.subject === undefined || (Array.isArray(parsed.subject) && parsed.subject.length === 0)) {
      noSubject++;
      continue;
    }
    if (!Array.isArray(parsed.subject) || !parsed.subject.some((x) => x?.digest?.[alg] === hex)) {
      elsewhere++;
      continue;
    }
    const predicateType =
      l.annotations?.[Annotation.InTotoPredicateType] ?? (typeof parsed.predicateType === 'string' ? parsed.predicateType : undefined);
    if (predicateType === undefined) notStatements++;
    else out.push({ predicateType, bytes });
  }
  return { statements: out, passedOver: { total: layers.length, noSubject, elsewhere, notStatements } };
}

/** Those of `moved` each of whose statements (layers) is among `signed` as an attestation of its subject. */
function remadeOf(plan: Plan, moved: readonly RemadeAttestation[], signed: readonly SignedStatement[]): RemadeAttestation[] {
  return moved.filter((m) => {
    const layers = movedLayers(plan, m);
    const again = new Set(signed.filter((x) => x.about === m.about).map((x) => x.statement));
    return layers.length > 0 && layers.every((l) => again.has(l.digest));
  });
}

/** True when `a` and `b` name the same moved attestation: one manifest may hold the statements of several (see {@link RemadeAttestation.merged}). */
function sameMoved(a: RemadeAttestation, b: RemadeAttestation): boolean {
  return a.attestation === b.attestation && a.merged === b.merged;
}

/** What the account calls a moved attestation: by its digest, or, merged into another's manifest, by its own and where its statements are. */
function movedName(m: RemadeAttestation): string {
  return m.merged === undefined
    ? `attestation ${short(m.attestation)}`
    : `attestation ${short(m.merged)} (its statements now in attestation ${short(m.attestation)})`;
}

/**
 * What the account says of the attestations the fix moved out of the index: those whose statements
 * were signed again; those signed as manifests only (a fix given `resign` and no `attest`); and
 * plainly, those no signature covers any more, with how to sign them.
 */
function movedLines(
  moved: readonly RemadeAttestation[],
  remade: readonly RemadeAttestation[],
  resigned: readonly SignedInfo[],
  fromSigned: readonly RemadeAttestation[],
  passedOver: ReadonlyMap<RemadeAttestation, PassedOver>,
  attested: boolean,
): string[] {
  return moved.flatMap((m) => {
    const again = remade.some((r) => sameMoved(r, m));
    const signed = resigned.some((r) => r.subject === m.attestation);
    const name = movedName(m);
    // Why statements were passed over when they were signed again: a statement is signed only
    // about a manifest it names (signed about another, it would say what its maker did not).
    const over = passedOver.get(m);
    const some = over !== undefined && passedOverCount(over) < over.total;
    const why =
      over === undefined
        ? ''
        : `: ${[
            over.noSubject > 0 ? `${over.noSubject} of its ${over.total} name${over.noSubject === 1 ? 's' : ''} no subject` : '',
            over.elsewhere > 0 ? `${over.elsewhere} of its ${over.total} name${over.elsewhere === 1 ? 's' : ''} only other manifests` : '',
            over.notStatements > 0
              ? `${over.notStatements} of its ${over.total} ${over.notStatements === 1 ? 'is' : 'are'} no in-toto statement`
              : '',
          ]
            .filter((x) => x !== '')
            .join(', ')}, and a statement is signed again only about a manifest it names`;
    const notAgain = some ? 'not all of its statements are signed again' : 'its statements are not signed again';
    if (again && signed)
      return `${capitalized(name)}, which the fix moved, is signed as said; its statements are signed again as attestations of ${short(m.about)}.`;
    if (again) return `Not signed: ${name}, which the fix moved; its statements are signed again as attestations of ${short(m.about)}.`;
    if (signed)
      return (
        `${capitalized(name)} of ${short(m.about)}, which the fix moved out of the index, is signed as said, as a manifest; ` +
        // Only a fix that signed statements again passed some over: without an attester, none was.
        `${attested ? notAgain : 'its statements are not signed again'} as attestations of ${short(m.about)}, ` +
        `where a verifier of ${short(m.about)}'s attestations looks${attested ? why : ''}.`
      );
    // Moved out of an index nothing signed, its statements lost no signature: nothing to say.
    if (!fromSigned.some((f) => sameMoved(f, m))) return [];
    const lost = `No signature covers ${name} of ${short(m.about)} any more: the fix moved it out of the index, whose signature covered its statements`;
    if (over !== undefined && attested) return `${lost}; ${notAgain} as attestations of ${short(m.about)}${why}.`;
    // Without a signer, a fix given one would not sign all of them again either: said with how.
    if (over !== undefined) {
      const would = some
        ? `signs them again as attestations of ${short(m.about)}, but not all`
        : `cannot sign them again as attestations of ${short(m.about)}`;
      return `${lost}; a fix given a key or identity (fix --key or --keyless) ${would}${why}.`;
    }
    return (
      `No signature covers ${name} of ${short(m.about)} any more: the fix moved it out of the index, ` +
      `whose signature covered its statements; a fix given a key or identity (fix --key or --keyless) signs them again as attestations of ${short(m.about)}.`
    );
  });
}

/** True for an attestation under a cosign tag whose every layer is a DSSE envelope (signed in itself). */
function selfSigned(doc: PlannedDoc): boolean {
  return (
    doc.kind === 'attestation' &&
    doc.placement?.type === 'tag' &&
    doc.stored.kind === 'manifest' &&
    doc.stored.manifest.layers.length > 0 &&
    doc.stored.manifest.layers.every((l) => l.mediaType === ArtifactType.DsseEnvelope)
  );
}

/** True when the plan carries a signature of `digest`: a referrer, or a layer of its cosign `.sig` tag. */
function carriesSignature(plan: Plan, digest: Digest): boolean {
  return [...plan.docs.values()].some((d) => d.role === 'attachment' && d.kind === 'signature' && d.subject === digest);
}

/** True when the plan carries a signature (`sig`) or attestation (`att`) of `digest` under its cosign tag. */
function hasCosignTag(plan: Plan, digest: Digest, suffix: 'sig' | 'att'): boolean {
  return [...plan.docs.values()].some((d) => d.placement?.type === 'tag' && d.placement.suffix === suffix && d.subject === digest);
}

/** Who signed, when the caller did not say ({@link FixOptions.signedBy}). */
const GIVEN = 'the key or identity given';

function signingStatement(
  resigned: readonly SignedInfo[],
  unsigned: readonly Digest[],
  before: Pick<SigningReport, 'stale' | 'kept' | 'replacedRoot'>,
  hadSigner: boolean,
  signedBy = GIVEN,
): string {
  const { stale, kept, replacedRoot: root } = before;
  const parts: string[] = [];
  if (resigned.length > 0) {
    const tagged = resigned.filter((r) => r.storage === 'cosign').map((r) => short(r.subject));
    const where = tagged.length === 0 ? '' : ` (${tagged.join(', ')} under cosign's .sig tag: the target refuses it as a referrer)`;
    parts.push(`Signed ${resigned.map((r) => short(r.subject)).join(', ')} with ${signedBy}${where}.`);
  }
  if (unsigned.length > 0) {
    parts.push(
      hadSigner
        ? `Still unsigned: ${unsigned.map(short).join(', ')}.`
        : // Made by the fix, or left without the signature no storage the target takes could hold.
          `No key or identity was given: nothing signs ${unsigned.map(short).join(', ')} of the fixed image.`,
    );
  }
  if (stale.length > 0) {
    const signed = [...new Set(stale.map((s) => short(s.signs)))].join(', ');
    parts.push(
      `${stale.length} signature${stale.length === 1 ? ' was' : 's were'} not carried over; each stays valid only for the digest it signed (${signed}).`,
    );
    if (kept.length > 0)
      parts.push(`${kept.map(short).join(', ')} keep${kept.length === 1 ? 's' : ''} a signature under cosign's .sig tag.`);
  } else if (unsigned.length > 0 && !hadSigner) {
    parts.push('Any signature made before the fix stays valid only for the old digest it signed.');
  }
  // The image's digest changed though no manifest's did: said whatever was signed, since a
  // signature of the source's root (an index) does not cover the manifest written in its place.
  if (root !== undefined && !resigned.some((r) => r.subject === root.to)) {
    const own = root.signed ? 'it keeps a signature of its own' : `nothing signs ${short(root.to)}`;
    parts.push(
      `The fixed image is ${short(root.to)} in place of ${short(root.from)}: no signature of ${short(root.from)} covers it, and ${own}.`,
    );
  }
  if (parts.length === 0) parts.push('No digest changed: existing signatures still apply.');
  return parts.join(' ');
}

/** What a caller signed and attested once the fixed image was written (see {@link signedAfterFix}). */
export interface SignedAfterFix {
  /** The signatures made, each of one digest of the fixed image, one per storage it was written in. */
  readonly signatures: readonly SignedInfo[];
  /** The predicate types of the statements made again and signed about each digest of the fixed image, one per statement (a type twice for two). */
  readonly statements: ReadonlyMap<Digest, readonly string[]>;
  /** The target's verdict on the image written, checked again with what was signed attached; unchecked by default. */
  readonly checked?: TargetReport | undefined;
  /** The statements the caller made about the source's manifests and neither signed nor wrote, their subject being left out or replaced. */
  readonly notSigned?: readonly NotSigned[] | undefined;
  /**
   * Attestation manifests the fix moved (BuildKit's, out of the index) whose statements the caller
   * signed again about their subject, each of them (see {@link attestationsSignedAgain}): left
   * unsigned by design, not for want of a signature. Each stays in `signing.unsigned`, and is
   * named in `signing.remade` and the account's “Not signed”.
   */
  readonly remade?: readonly RemadeAttestation[] | undefined;
}

/** An attestation manifest of the fixed image (`attestation`) whose statements were signed again about `about`. */
export interface RemadeAttestation {
  readonly attestation: Digest;
  readonly about: Digest;
  /**
   * Its statements, the layers of `attestation` it brought, when that manifest holds others' too
   * (cosign keeps one manifest per tag); absent when every layer is one of its statements.
   */
  readonly layers?: readonly Digest[] | undefined;
  /**
   * Its digest in the source, when its layers were added to the manifest a cosign tag already
   * named there (`attestation`, which keeps that manifest's own layers): moved, not left out.
   */
  readonly merged?: Digest | undefined;
}

/**
 * The attestation manifests the fix of `report` moved and left unsigned (BuildKit's, out of the
 * index, re-attached under a digest of their own) each of whose statements is among `signed` as
 * an attestation of the manifest it is attached to: every layer of the moved manifest (of those it
 * brought, when the manifest holds others' too; see {@link RemadeAttestation.layers}), read from
 * `store` (the destination), by the digest of its bytes, which is the signed payload's digest when
 * the same statement was signed. Matched by statement rather than by predicate type, two statements
 * of one type (two SPDX documents) are two: one signed again does not vouch for the other. For
 * {@link SignedAfterFix}'s `remade`. A moved manifest with no subject (under a cosign tag) or no
 * layers is never one.
 *
 * @throws ProvenantError as the store's `getManifest` (a moved manifest the fix wrote is not there)
 */
export async function attestationsSignedAgain(
  store: ContentStore,
  report: FixReport,
  signed: readonly SignedStatement[],
  options: OperationOptions = {},
): Promise<RemadeAttestation[]> {
  if (!report.written) return [];
  const out: RemadeAttestation[] = [];
  for (const r of report.signing.moved) {
    throwIfAborted(options.signal);
    const m = await store.getManifest(r.attestation, options);
    const about = m.kind === 'manifest' ? m.manifest.subject?.digest : undefined;
    if (m.kind !== 'manifest' || about === undefined || m.manifest.layers.length === 0) continue;
    const again = new Set(signed.filter((x) => x.about === about).map((x) => x.statement));
    const layers = m.manifest.layers.filter((l) => r.layers === undefined || r.layers.includes(l.digest));
    if (layers.length > 0 && layers.every((l) => again.has(l.digest))) out.push({ ...r, about });
  }
  return out;
}

/**
 * Statements a caller made about a manifest of the source (`about`) that it neither signed nor
 * wrote, because the fixed image does not carry `about`, or carries in its place a manifest the
 * caller could not describe again: signed, `build --target` writes statements by signing them,
 * so the fix never saw these, and its account would not name them otherwise.
 */
export interface NotSigned {
  readonly about: Digest;
  readonly predicateTypes: readonly string[];
}

/**
 * The statements of `made` (each list about one manifest of the source) whose subject the fixed
 * image does not carry: Lambda's fix takes the amd64 manifest of an index, and leaves out the
 * index and the other platforms' images with everything about them. A caller that signed or wrote
 * them about the image as built names them with what it says of the fix, since the fix's account
 * knows them only as attachments (or, signed after the fix, never saw them).
 */
export function statementsAboutLeftOut(
  report: FixReport,
  made: readonly { readonly about: Digest; readonly predicateTypes: readonly string[] }[],
): NotSigned[] {
  if (!report.written) return [];
  // A dropped signature's digest is its own, never a manifest's: only subjects left out count.
  const leftOut = new Set(report.dropped.filter((d) => d.signs === undefined).map((d) => d.digest));
  return made
    .filter((m) => m.predicateTypes.length > 0 && leftOut.has(m.about))
    .map((m) => ({ about: m.about, predicateTypes: [...m.predicateTypes] }));
}

/**
 * True when `said` holds each predicate type of `types` at least as many times as `types` does.
 * Statements made again about another subject cannot be matched by their bytes, only by their
 * type; counted, two statements of one type (two SPDX documents) need two made again: one does
 * not vouch for the other.
 */
function predicateTypesCovered(types: readonly string[], said: readonly string[]): boolean {
  const left = new Map<string, number>();
  for (const t of said) left.set(t, (left.get(t) ?? 0) + 1);
  for (const t of types) {
    const n = left.get(t) ?? 0;
    if (n === 0) return false;
    left.set(t, n - 1);
  }
  return true;
}

/** A build written in a target's shape and signed after its fix: what {@link statementsNotSaidAgain} is given. */
export interface SignedBuild {
  /** The statements the build made, each list about a manifest it built. */
  readonly made: readonly Attested[];
  /** Those of `made` it signed: about the manifests the written image carries, or made again about those the fix wrote in their place. */
  readonly kept: readonly Attested[];
  /** The index the build made, which the written index (when one was written) stands in place of. */
  readonly builtIndex: Digest | undefined;
  /** What was written. */
  readonly written: Descriptor;
  /** The manifests the fix wrote in place of built ones (built digest to written digest). */
  readonly replaced: ReadonlyMap<string, string> | undefined;
}

/**
 * The statements of `build.made` (each about a manifest the build made) that the image written
 * does not carry: those about a manifest `fix` left out (Lambda takes one platform's manifest, and
 * no index; see {@link statementsAboutLeftOut}, which the Action's warning shares), and those that
 * nothing of `build.kept` (the statements signed) says again about the manifest written in their
 * subject's place: the written index in place of the built one, or the image a fix wrote in place
 * of a built one (`replaced`), which the build cannot describe again when the fix rewrote it
 * (recompressed layers). Unsigned, the fix's account names the attestations it left out, and
 * signed (`build --target --sign`), this names the statements. The index's SBOM is said to be
 * about the index the fix started from (BuildKit's storages add their entries to the built one),
 * as it would have been made again about the index written.
 */
export function statementsNotSaidAgain(fix: FixReport, build: SignedBuild): NotSigned[] {
  const { made, kept, builtIndex, written, replaced } = build;
  const candidates = made.map((a) => ({
    a,
    about: a.manifest.digest === builtIndex ? fix.source.digest : a.manifest.digest,
    predicateTypes: a.statements.map((s) => s.predicateType),
  }));
  const leftOut = new Set(statementsAboutLeftOut(fix, candidates).map((n) => n.about));
  const inPlaceOf = (d: Digest): Digest | undefined =>
    d === builtIndex ? (isIndexType(written.mediaType) ? written.digest : undefined) : ((replaced?.get(d) as Digest | undefined) ?? d);
  return candidates.flatMap(({ a, about, predicateTypes: types }) => {
    if (leftOut.has(about)) return [{ about, predicateTypes: types }];
    const now = inPlaceOf(a.manifest.digest);
    const said = kept.filter((k) => k.manifest.digest === now).flatMap((k) => k.statements.map((s) => s.predicateType));
    return types.length === 0 || (now !== undefined && predicateTypesCovered(types, said)) ? [] : [{ about, predicateTypes: types }];
  });
}

/**
 * `report` as it stands once its caller signed the fixed image itself, after the fix, as `build
 * --target --sign` does (it writes the build in the target's shape first, then signs what was
 * written, and makes again the statements about the manifests the fix replaced): the digests of
 * the fixed image signed now (those the fix made, and those it kept that nothing had signed), the statements left out that were made again about the manifest
 * written in place of their subject, the target's verdict with the signatures there (when
 * checked again), and the account saying so. Nothing else changes.
 */
export function signedAfterFix(report: FixReport, after: SignedAfterFix): FixReport {
  if (!report.written) return report;
  const made = [...report.signing.unsigned];
  // Every digest the caller signed, not only those the fix made: a fix that kept a manifest's
  // digest (Lambda's, which takes the amd64 manifest of an index as it is) left nothing unsigned
  // of an image nothing had signed yet, and the caller signed it all the same.
  const subjects = [...new Set([...made, ...after.signatures.map((x) => x.subject)])].filter(
    (d) => !report.signing.resigned.some((r) => r.subject === d),
  );
  // One per digest: a signature the target took as a referrer, else one under the `.sig` tag.
  const resigned = subjects.flatMap((d) => {
    const of = after.signatures.filter((x) => x.subject === d);
    const chosen = of.find((x) => x.storage === 'referrers') ?? of[0];
    return chosen === undefined ? [] : [chosen];
  });
  // A moved attestation manifest whose statements were signed again is still unsigned itself: it
  // stays in `unsigned`, as the account's “Not signed” names it, and `remade` says why.
  const unsigned = made.filter((d) => !resigned.some((r) => r.subject === d));
  const moved = report.signing.moved;
  const remadeAttestations = [...report.signing.remade, ...(after.remade ?? [])].filter(
    (m, i, all) => moved.some((x) => sameMoved(x, m)) && all.findIndex((x) => sameMoved(x, m)) === i,
  );
  // A manifest that holds others' statements too is not said for by those signed again of one.
  const stillUnsigned = unsigned.filter((d) => !remadeAttestations.some((m) => m.attestation === d && m.layers === undefined));
  const all = [...report.signing.resigned, ...resigned];
  const signing: SigningReport = {
    ...report.signing,
    resigned: all,
    unsigned,
    remade: remadeAttestations,
    statement: [
      signingStatement(all, stillUnsigned, report.signing, true),
      ...movedLines(
        moved,
        remadeAttestations,
        all,
        moved.filter((m) => report.signing.movedFromSigned.includes(m.attestation)),
        // The build signs its own statements, each naming the image it made: none passed over.
        new Map(),
        after.remade !== undefined,
      ),
    ].join(' '),
  };
  // An attestation left out each of whose statements was made again about the manifest written in its subject's place.
  const remade = (l: StatementLeftOut): boolean => predicateTypesCovered(l.predicateTypes, after.statements.get(l.replacedBy) ?? []);
  const carried = report.dropped.map((x) => {
    const l = report.statementsLeftOut.find((y) => y.attestation === x.digest);
    return l === undefined || !remade(l) ? x : { ...x, why: remadeWhy(l, 'signed') };
  });
  // Each statement not signed, after what the fix says of its subject (the index, a platform image
  // it did not carry), as the unsigned account names each attestation after it; the entry's
  // digest is the subject's, the statements having none of their own.
  const notSigned = (after.notSigned ?? []).map((n) => ({ about: n.about, entry: notSignedDropped(report, n) }));
  const dropped = [
    ...carried.flatMap((x) => [x, ...notSigned.filter((n) => n.about === x.digest).map((n) => n.entry)]),
    ...notSigned.filter((n) => !carried.some((x) => x.digest === n.about)).map((n) => n.entry),
  ];
  const next = { ...report, signing, dropped, after: after.checked ?? report.after };
  return { ...next, account: accountOf(next) };
}

/** A {@link NotSigned} as an entry of the account's “Not carried”, saying what became of its subject. */
function notSignedDropped(report: FixReport, n: NotSigned): Dropped {
  const subject = report.dropped.find((x) => x.digest === n.about)?.what ?? n.about;
  const what = `the statements about ${subject} (${n.predicateTypes.join(', ')})`;
  const to = report.renamed.find((r) => r.from === n.about)?.to;
  const why =
    to === undefined
      ? `the fixed image does not carry ${short(n.about)}, so the build neither signed nor wrote them`
      : `the fixed image carries ${short(to)} in place of ${short(n.about)}, which the build could not describe again (the fix rewrote what it names), so it neither signed nor wrote them`;
  return { digest: n.about, what, why };
}

/** Why an attestation left out is not carried, when the statements were made again about the manifest written, and `then` (signed, or attached). */
function remadeWhy(l: StatementLeftOut, then: string): string {
  return `its statements are about ${l.about}, which the fixed image replaces with ${l.replacedBy}; the same statements were made again about ${l.replacedBy}, and ${then}`;
}

function accountOf(r: Omit<FixReport, 'account'>): string[] {
  const lines: string[] = [];
  if (r.applied.length === 0 && r.unfixable.length === 0 && r.changes.length === 0)
    lines.push(`Nothing to change: ${r.target} accepts ${r.source.reference} as it is.`);
  for (const p of r.unfixable) {
    // What was found first (the platforms the image offers and those the target runs, say): the
    // why is the rule's, the same for every image.
    const found = p.findings.length === 0 ? '' : ` ${capitalized(stillWhy(p))}.`;
    lines.push(`Cannot fix ${p.rule} (${p.severity}):${found} No change to the image satisfies it. ${p.why}`);
  }
  for (const c of r.changes) {
    const named = c.from !== undefined && c.to !== undefined && !c.text.includes(short(c.to));
    const digests = named ? ` (${short(c.from!)} → ${short(c.to!)})` : '';
    lines.push(`${capitalized(c.text)}${digests}.`);
  }
  for (const d of r.dropped) lines.push(`Not carried: ${d.what}, because ${d.why}.`);
  for (const p of r.leftAlone) lines.push(`Left alone (${p.severity}): ${p.rule}.`);
  lines.push(r.signing.statement);
  // What the target still refuses, besides the refusals said above to have no fix.
  const still = (r.after?.problems ?? [])
    .filter((p) => p.severity === 'refuses' && !r.unfixable.some((u) => u.rule === p.rule))
    .map((p) => `Still refused: ${p.rule}: ${stillWhy(p)}.`);
  const held =
    r.heldAtDestination.length === 0
      ? []
      : [
          `The destination already holds ${r.heldAtDestination.map(short).join(', ')}, attached to digests of the fixed image, which ${r.target} refuses there; the fix adds to what the destination holds and deletes nothing.`,
        ];
  if (!r.written) {
    if (r.after?.verdict === 'refused') {
      lines.push(`Checked before writing: ${r.target} would still refuse the fixed image.`, ...still, ...held);
    }
    lines.push('Nothing was written.');
  } else if (r.destination !== undefined) {
    const fixed = r.destination.fixed;
    lines.push(
      fixed === undefined
        ? `Wrote ${short(r.destination.digest)} (${r.destination.mediaType}) to ${r.destination.location}.`
        : `Wrote ${short(fixed)} to ${r.destination.location}, which holds it as ${short(r.destination.digest)} (${r.destination.mediaType}) and keeps nothing attached to it: signatures of ${short(fixed)} do not cover ${short(r.destination.digest)}.`,
    );
    if (r.after !== undefined)
      lines.push(
        `Checked again: ${r.target} ${r.after.verdict === 'accepted' ? 'accepts it' : r.after.verdict === 'warnings' ? 'accepts it, with warnings' : 'still refuses it'}.`,
      );
    if (r.after?.verdict === 'refused') lines.push(...still, ...held);
  }
  return lines;
}

/** `text` with its first letter upper case, to begin a sentence of the account. */
function capitalized(text: string): string {
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}`;
}

/** What a problem the fixes left found, in a few words: its findings, else the rule's reason. */
function stillWhy(p: Problem): string {
  const found = p.findings.map((f) => f.detail);
  if (found.length === 0) return p.why.replace(/\.$/, '');
  return found.length > 3 ? `${found.slice(0, 3).join('; ')}; and ${found.length - 3} more` : found.join('; ');
}

/** The diff_id the config gives each layer to recompress (to check the content against). */
async function diffIdsByLayer(src: ContentStore, plan: Plan, options: OperationOptions): Promise<Map<Digest, Digest>> {
  const out = new Map<Digest, Digest>();
  for (const doc of plan.docs.values()) {
    if (doc.role !== 'image' || doc.stored.kind !== 'manifest' || !hasImageConfig(doc.stored)) continue;
    const m = doc.stored.manifest;
    const config = await readImageConfig(src, m.config, `${src.location}@${m.config.digest}`, options);
    const ids = Array.isArray(config.rootfs?.diff_ids) ? config.rootfs.diff_ids : [];
    m.layers.forEach((l, i) => {
      const id = ids[i];
      if (id !== undefined) out.set(l.digest, id);
    });
  }
  return out;
}

/**
 * The most bytes a zstd layer may unpack to for `fix` to recompress it, for each byte it holds.
 * zstd packs 1 GiB of zeros into 32 KB, and the pinned gzip takes some 12 s of CPU for each GiB:
 * without a bound a 32 MB layer held hours of work before its diff_id could be checked. Real
 * layers unpack to a few times their size (tar of text and binaries), however large they are (a
 * CUDA layer of 3 GB unpacks to 8 or 10): a ratio bounds the work by what the layer itself
 * holds, however large it is, and past a thousand times there is little but zeros.
 */
const UNPACKED_RATIO = 1000;
/** What any zstd layer may unpack to whatever its size (some 3 s of gzip): see {@link UNPACKED_RATIO}. */
const UNPACKED_FLOOR = 256 * 1024 * 1024;

/** The most bytes `layer`, compressed, may unpack to ({@link UNPACKED_RATIO}, {@link UNPACKED_FLOOR}). */
function unpackedLimit(layer: Descriptor): number {
  return Math.max(UNPACKED_FLOOR, UNPACKED_RATIO * layer.size);
}

/**
 * Recompresses one layer with the pinned gzip (reproducible bytes) into a file in `dir`, and
 * checks that the uncompressed content is what the config's diff_id says.
 *
 * @throws ProvenantError `TOO_LARGE` for a zstd layer that unpacks to more than {@link unpackedLimit}
 *   (what was written of it stays in `dir`, which the caller removes); `DIGEST_MISMATCH`
 */
async function gzipLayer(
  src: ContentStore,
  layer: Descriptor,
  diffId: Digest | undefined,
  dir: string,
  options: OperationOptions,
): Promise<PlannedBlob & { descriptor: Descriptor }> {
  const where = `${src.location}@${layer.digest}`;
  let tar: ByteStream = await src.readBlob(layer, options);
  if (layer.mediaType.endsWith('+zstd')) tar = zstdDecompress(tar, where, layer, unpackedLimit(layer));
  const content = new Digester();
  async function* counted(): ByteStream {
    for await (const chunk of tar) {
      content.update(chunk);
      yield chunk;
    }
  }
  const file = join(dir, `${layer.digest.replace(':', '-')}.gz`);
  const out = createWriteStream(file);
  const written = new Digester();
  try {
    for await (const chunk of pinnedGzip(counted(), { signal: options.signal })) {
      written.update(chunk);
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', resolve));
    }
  } finally {
    out.end();
    await finished(out).catch(() => undefined);
  }
  const actual = content.digest();
  if (diffId !== undefined && actual !== diffId) {
    const err = digestMismatch(diffId, actual, where);
    throw new ProvenantError('DIGEST_MISMATCH', `layer ${layer.digest} unpacks to ${actual}, but the config's diff_id says ${diffId}`, {
      where,
      cause: err,
      hint: 'the image is inconsistent; rebuild it rather than recompress it',
    });
  }
  return { descriptor: { mediaType: MediaType.OciLayerGzip, digest: written.digest(), size: written.size }, file };
}

/**
 * `stream` unpacked, refused once past `max` bytes.
 *
 * @throws ProvenantError `TOO_LARGE` naming the layer's digest; `INVALID_ARCHIVE` for corrupt zstd
 */
function zstdDecompress(stream: ByteStream, where: string, layer: Descriptor, max: number): ByteStream {
  const create = (zlib as unknown as { createZstdDecompress?: () => NodeJS.ReadWriteStream }).createZstdDecompress;
  if (create === undefined) {
    throw new ProvenantError('UNSUPPORTED_MEDIA_TYPE', 'reading zstd layers needs Node 22.15 or later', { where });
  }
  const z = create();
  const source = Readable.from(stream).on('error', (e) => z.emit('error', e));
  source.pipe(z);
  return (async function* () {
    let unpacked = 0;
    try {
      for await (const chunk of z as AsyncIterable<Uint8Array>) {
        unpacked += chunk.length;
        if (unpacked > max) {
          throw new ProvenantError(
            'TOO_LARGE',
            `layer ${layer.digest} (${formatBytes(layer.size)} of zstd) unpacks to more than ${formatBytes(max)}, ` +
              `more than fix recompresses (${UNPACKED_RATIO} times its size, or ${formatBytes(UNPACKED_FLOOR)} for a small layer)`,
            {
              where,
              hint:
                'a real layer unpacks to a few times its size; one that unpacks to more holds little but zeros (a decompression bomb, ' +
                'or a large preallocated file): rebuild the image without it, or convert this layer to gzip with the tool that made it',
            },
          );
        }
        yield chunk;
      }
    } catch (err) {
      if (isProvenantError(err)) throw err;
      throw new ProvenantError('INVALID_ARCHIVE', `the zstd layer is corrupt: ${(err as Error).message}`, { where, cause: err });
    } finally {
      // Stopped early (refused, corrupt, or the reader gave up): the blob is read no further.
      source.destroy();
    }
  })();
}
