/**
 * The fixes, as pure transforms over a {@link Plan} (plan.ts): each returns a new plan and says
 * in plain words what it changed; none reads or writes a store. Layers a fix recompresses are
 * made beforehand by the writer (fix.ts) and handed in through the context.
 */
import { ProvenantError } from '../errors.ts';
import { encodeJson, parseStored, type Stored, subjectOf } from '../oci/content.ts';
import { isIndexType, MediaType } from '../oci/mediatypes.ts';
import { firstOfPlatform, formatPlatform, normalizePlatform } from '../oci/platform.ts';
import type { Descriptor, Platform } from '../oci/types.ts';
import { DOCKER_LAYER_TAR, layerCompression, short } from './detectors.ts';
import { type FixId, listParam, stringParam } from './params.ts';
import {
  attestationConfig,
  Draft,
  docsWhere,
  eachWhere,
  manifestStored,
  type Plan,
  type PlannedDoc,
  type Transform,
  type TransformContext,
  unlistEntries,
} from './plan.ts';

/** Takes the listed attestations out of the root index (and any index nested in it) and stores them `to`. */
function moveIndexEntries(
  d: Draft,
  to: 'referrers' | 'cosign-tag',
  config: 'keep' | 'image',
  kinds: readonly string[],
  context: TransformContext,
): void {
  const rootDoc = d.docs.get(d.root);
  if (rootDoc === undefined || rootDoc.stored.kind !== 'index') {
    d.note('the image is not an index; no attestations listed in one to move');
    return;
  }
  const entries = docsWhere(d, (doc) => doc.placement?.type === 'index-entry');
  const moving = entries.filter((e) => kinds.includes(e.kind ?? 'other'));
  for (const e of entries.filter((x) => !moving.includes(x))) {
    d.note(`${d.describe(e)} left in the index: its kind (${e.kind ?? 'other'}) is not one this fix moves`);
  }
  if (moving.length === 0) return;
  const gone = new Set(moving.map((e) => e.stored.digest));
  // Each entry by its kind and the platform its index lists it under: BuildKit lists its own as
  // unknown/unknown, other tools under a platform of their own (an SBOM under linux/"").
  const kindOf = new Map(moving.map((e) => [e.stored.digest as string, e.kind ?? 'other']));
  unlistEntries(d, gone, (doc, removed) => {
    const counts = new Map<string, number>();
    for (const m of doc.stored.kind === 'index' ? doc.stored.index.manifests : []) {
      if (!gone.has(m.digest)) continue;
      const key = `${kindOf.get(m.digest) ?? 'other'} entr* (${listedPlatform(m)})`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const listed = [...counts].map(([key, n]) => `${n} ${key.replace('*', n === 1 ? 'y' : 'ies')}`);
    return `index ${short(doc.stored.digest)} no longer lists ${listed.length > 0 ? listed.join(', ') : `${removed} entries`}`;
  });
  for (const e of moving) {
    const current = d.docs.get(e.stored.digest);
    if (current !== undefined) d.detach(current, to, config, context);
  }
}

const ALL_KINDS = ['attestation', 'signature', 'sbom', 'other'];

/**
 * How a fix that must keep one platform, and finds none the target takes, says to choose one, in
 * the command line's terms; exported so that an adapter without the flag (the Action) can say its own.
 */
export const NAME_A_PLATFORM = 'name one with --platform';

/** The platform an index lists an entry under, empty fields shown as `""`, or that it lists none. */
function listedPlatform(entry: Descriptor): string {
  const p = entry.platform;
  if (p === undefined) return 'no platform';
  const field = (v: string): string => (v === '' ? '""' : v);
  return [p.os, p.architecture, ...(p.variant === undefined ? [] : [p.variant])].map(field).join('/');
}

/**
 * single-manifest's account of taking the first of several images of one platform, as the
 * --platform warning says it (firstOfPlatform), in the account's words: present tense, the one
 * taken by its short digest and the others by theirs in full (to be named by them), and
 * `LOCATION@DIGEST` only where the image has a location.
 */
function severalLine(wanted: Platform, first: PlatformEntry, others: readonly PlatformEntry[], location: string | undefined): string {
  const named = (e: PlatformEntry, digest: string): string => {
    const version = e.platform?.['os.version'];
    return version === undefined ? digest : `${digest} (os.version ${version})`;
  };
  const how = location === undefined ? 'name it by digest' : `name it by digest (${location}@DIGEST)`;
  return `${others.length + 1} images of the index are ${formatPlatform(normalizePlatform(wanted))}: the fix takes the first, ${named(first, short(first.digest))}; to take another, ${how}: ${others.map((e) => named(e, e.digest)).join(', ')}`;
}

/** An image as single-manifest hands it to firstOfPlatform. */
type PlatformEntry = { platform?: Platform | undefined; digest: string };

/** Every fix, by id. */
export const TRANSFORMS: Record<FixId, Transform> = {
  'single-manifest'(plan, params, context) {
    const d = new Draft(plan, 'single-manifest');
    const rootDoc = d.docs.get(d.root)!;
    if (rootDoc.stored.kind !== 'index') {
      d.note('the image is already a single manifest');
      return d.finish();
    }
    const images = docsWhere(d, (doc) => doc.role === 'image' && doc.stored.kind === 'manifest');
    // The platform asked for, else the target's in its order of preference, else the only one.
    const wanted = context.platform !== undefined ? [context.platform] : context.platforms;
    let chosen: PlannedDoc | undefined = wanted.length === 0 && images.length === 1 ? images[0] : undefined;
    // Of several images of a platform (a Windows index lists one per os.version), the first, as
    // every --platform picks, said in the plan: which, and the others by digest.
    let several: string | undefined;
    for (const w of wanted) {
      const listed = images.map((doc) => ({ doc, platform: doc.platform, digest: doc.stored.digest }));
      const picked = firstOfPlatform(w, listed, context.location ?? 'IMAGE');
      chosen = picked.entry?.doc;
      several =
        picked.entry === undefined || picked.others.length === 0
          ? undefined
          : severalLine(w, picked.entry, picked.others, context.location);
      if (chosen !== undefined) break;
    }
    // Forced, an image with none of the target's platforms keeps its only one: written, and still
    // refused for its platform, as --force promises.
    if (chosen === undefined && context.force === true && context.platform === undefined && images.length === 1) chosen = images[0];
    if (chosen === undefined) {
      // Each once: an index may list several images of a platform (a Windows index, one per os.version).
      const offered = [...new Set(images.map((i) => (i.platform ? formatPlatform(i.platform) : '(no platform)')))].join(', ') || '(none)';
      const asked = wanted.length === 0 ? 'single platform' : wanted.map(formatPlatform).join(' or ');
      // The target's own platforms missing, naming one of those offered writes an image the target
      // does not run: said, so that the hint is not taken for a way to satisfy it.
      const none =
        context.platform === undefined && wanted.length > 0
          ? `, none of which the target runs (build it for ${asked}, or ${NAME_A_PLATFORM} and --force to write one anyway)`
          : `; ${NAME_A_PLATFORM}`;
      throw new ProvenantError('NO_MATCHING_PLATFORM', `the image has no ${asked} manifest to keep`, {
        where: context.location === undefined ? rootDoc.stored.digest : `${context.location}@${rootDoc.stored.digest}`,
        hint: `it has ${offered}${none}`,
      });
    }
    const chosenDigest = chosen.stored.digest;
    const platform = chosen.platform ? formatPlatform(chosen.platform) : 'chosen';
    const entries = docsWhere(d, (doc) => doc.placement?.type === 'index-entry');
    const indexDigest = rootDoc.stored.digest;
    const why = context.oneImage ?? 'the target takes a single manifest';
    d.drop(indexDigest, `index ${short(indexDigest)}`, `${why}; the ${platform} manifest takes its place`);
    for (const nested of docsWhere(d, (doc) => doc.role === 'index')) {
      d.drop(
        nested.stored.digest,
        `nested index ${short(nested.stored.digest)}`,
        `it was listed in the index ${short(indexDigest)}, which the fixed image does not carry`,
      );
    }
    d.root = chosenDigest;
    d.note(
      `the image is now the ${platform} manifest ${short(chosenDigest)} itself, in place of the index ${short(indexDigest)}`,
      indexDigest,
      chosenDigest,
    );
    if (several !== undefined) d.note(several);
    const to = stringParam(params, 'attestations') === 'cosign-tag' ? 'cosign-tag' : 'referrers';
    for (const e of entries) {
      const current = d.docs.get(e.stored.digest);
      if (current === undefined) continue;
      if (current.subject === chosenDigest) d.detach(current, to, 'keep', context);
    }
    for (const other of images.filter((i) => i !== chosen)) {
      const p = other.platform ? formatPlatform(other.platform) : 'other';
      d.drop(other.stored.digest, `${p} manifest ${short(other.stored.digest)}`, `the fixed image is the ${platform} manifest only`);
    }
    for (const e of docsWhere(d, (doc) => doc.placement?.type === 'index-entry')) {
      d.drop(e.stored.digest, d.describe(e), 'it was listed in the index for no platform the fixed image keeps');
    }
    return d.finish();
  },

  'move-attestations'(plan, params, context) {
    const d = new Draft(plan, 'move-attestations');
    const to = stringParam(params, 'to') === 'cosign-tag' ? 'cosign-tag' : 'referrers';
    const config = stringParam(params, 'config') === 'image' ? 'image' : 'keep';
    const kinds = listParam(params, 'kinds');
    const which = listParam(params, 'which');
    if (which.includes('index-entries')) moveIndexEntries(d, to, config, kinds, context);
    const onIndex = (doc: PlannedDoc): boolean => {
      const s = subjectOf(doc.stored);
      return s !== undefined && isIndexType(s.mediaType);
    };
    const referrers = docsWhere(
      d,
      (doc) =>
        doc.placement?.type === 'referrer' &&
        kinds.includes(doc.kind ?? 'other') &&
        (which.includes('referrers') || (which.includes('index-referrers') && onIndex(doc))),
    );
    // A referrer moved "to referrers" stays where it is; only cosign tags take them elsewhere.
    if (to === 'cosign-tag') {
      const picked = new Set(referrers.map((r) => r.stored.digest));
      for (const doc of eachWhere(d, (x) => picked.has(x.stored.digest))) d.detach(doc, 'cosign-tag', config, context);
    } else if (referrers.length > 0) d.note(`${referrers.length} referrer(s) are already referrers; left as they are`);
    return d.finish();
  },

  'set-artifact-type'(plan) {
    const d = new Draft(plan, 'set-artifact-type');
    for (const doc of eachWhere(d, (x) => x.role === 'attachment' && subjectOf(x.stored) !== undefined)) {
      const s = doc.stored;
      if (s.kind !== 'manifest' || s.manifest.artifactType !== undefined) continue;
      if (s.manifest.config.mediaType === MediaType.OciEmpty) {
        d.note(`${d.describe(doc)} has no artifactType and an empty config: no type to take; left as it is`);
        continue;
      }
      const next = manifestStored({ ...s.manifest, artifactType: s.manifest.config.mediaType });
      d.replace(s.digest, next, `${d.describe(doc)} given artifactType ${s.manifest.config.mediaType} (its config's media type)`);
    }
    return d.finish();
  },

  'gzip-layers'(plan, params, context) {
    const d = new Draft(plan, 'gzip-layers');
    const from = listParam(params, 'from');
    for (const doc of eachWhere(d, (x) => x.role === 'image' && x.stored.kind === 'manifest')) {
      const m = (doc.stored as Stored & { kind: 'manifest' }).manifest;
      let changed = 0;
      const layers = m.layers.map((l) => {
        const c = layerCompression(l.mediaType);
        if (c === undefined || !from.includes(c)) return l;
        const g = gzippedOf(context, l);
        changed++;
        const mediaType = l.mediaType.startsWith('application/vnd.docker.')
          ? MediaType.DockerLayerGzip
          : l.mediaType.startsWith(MediaType.OciLayerNondistributable)
            ? MediaType.OciLayerNondistributableGzip
            : MediaType.OciLayerGzip;
        return { ...l, mediaType, digest: g.digest, size: g.size };
      });
      if (changed === 0) continue;
      d.replace(
        doc.stored.digest,
        manifestStored({ ...m, layers }),
        `${d.describe(doc)}: ${changed} layer${changed === 1 ? '' : 's'} recompressed with gzip (same files, same diff_ids, same config)`,
      );
    }
    return d.finish();
  },

  'docker-media-types'(plan, _params, context) {
    const d = new Draft(plan, 'docker-media-types');
    // A Docker manifest list lists manifests only (schema 2 has no nested lists), and flattening
    // would change which digests the image is made of; crane and regctl would refuse it too.
    const nested = docsWhere(d, (x) => x.role === 'index' && x.stored.digest !== d.root);
    if (nested.length > 0) {
      throw new ProvenantError(
        'INCOMPATIBLE',
        `the image lists the index ${nested[0]!.stored.digest}, and a Docker manifest list cannot list an index`,
        {
          where: d.root,
          hint: 'fix the nested index itself (name its digest) instead; crane and regctl copy the nesting as it is',
        },
      );
    }
    if (docsWhere(d, (x) => x.placement?.type === 'index-entry').length > 0) moveIndexEntries(d, 'cosign-tag', 'image', ALL_KINDS, context);
    // A referrer is an OCI manifest with a subject, which schema 2 has no place for: a registry
    // that reads schema 2 only refuses it. cosign stores attachments under tags for such
    // registries; so does this, before the rewrite below gives them Docker media types.
    // eachWhere picks the referrers before the first detach and skips any one an earlier detach
    // dropped or moved.
    for (const r of eachWhere(d, (x) => x.placement?.type === 'referrer')) d.detach(r, 'cosign-tag', 'image', context);
    for (const doc of eachWhere(d, (x) => x.stored.kind === 'manifest' && (x.role === 'image' || x.placement?.type === 'tag'))) {
      const m = (doc.stored as Stored & { kind: 'manifest' }).manifest;
      let config = m.config;
      if (config.mediaType === MediaType.OciEmpty) config = d.blob(attestationConfig(m.layers), MediaType.DockerConfig);
      else if (config.mediaType === MediaType.OciConfig) config = { ...config, mediaType: MediaType.DockerConfig };
      const layers = m.layers.map((l) => dockerLayer(context, l));
      const next = manifestStored({ schemaVersion: 2, mediaType: MediaType.DockerManifest, config: withoutExtras(config), layers });
      if (next.digest === doc.stored.digest) continue;
      const lost = [m.annotations ? 'annotations' : '', m.artifactType ? 'artifactType' : ''].filter(Boolean);
      d.replace(
        doc.stored.digest,
        next,
        `${d.describe(doc)} rewritten with Docker schema 2 media types${lost.length > 0 ? ` (dropped its ${lost.join(' and ')}, which schema 2 has no place for)` : ''}`,
      );
    }
    // The root lists the manifests rewritten above once it is settled, and only then.
    d.settle();
    const rootDoc = d.docs.get(d.root);
    if (rootDoc !== undefined && rootDoc.stored.kind === 'index' && rootDoc.stored.mediaType !== MediaType.DockerManifestList) {
      const manifests = rootDoc.stored.index.manifests.map((e) => ({
        mediaType: e.mediaType,
        size: e.size,
        digest: e.digest,
        ...(e.platform === undefined ? {} : { platform: e.platform }),
      }));
      const next = parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.DockerManifestList, manifests }), {
        mediaType: MediaType.DockerManifestList,
      });
      // Said as for the manifests above: what the list has no place for is gone from the image.
      const index = rootDoc.stored.index;
      const annotated = index.manifests.filter((e) => e.annotations !== undefined && Object.keys(e.annotations).length > 0).length;
      const lost = [
        index.annotations !== undefined && Object.keys(index.annotations).length > 0 ? 'its annotations' : '',
        annotated > 0 ? `the annotations of ${annotated} entr${annotated === 1 ? 'y' : 'ies'}` : '',
        index.artifactType !== undefined ? 'its artifactType' : '',
        index.subject !== undefined ? 'its subject' : '',
      ].filter(Boolean);
      const listed = lost.length > 1 ? `${lost.slice(0, -1).join(', ')} and ${lost[lost.length - 1]}` : lost[0];
      const dropped = listed === undefined ? '' : ` (dropped ${listed}, which schema 2 has no place for)`;
      d.replace(rootDoc.stored.digest, next, `index ${short(rootDoc.stored.digest)} rewritten as a Docker manifest list${dropped}`);
    }
    return d.finish();
  },
};

function gzippedOf(context: TransformContext, layer: Descriptor): Descriptor {
  const g = context.gzipped?.get(layer.digest);
  if (g === undefined) {
    throw new ProvenantError(
      'UNSUPPORTED_MEDIA_TYPE',
      `layer ${layer.digest} (${layer.mediaType}) needs recompressing, which was not done`,
      {
        hint: 'the writer recompresses layers before this transform runs; call fixImage rather than the transform alone',
      },
    );
  }
  return g;
}

function dockerLayer(context: TransformContext, l: Descriptor): Descriptor {
  const base = withoutExtras(l);
  if (l.mediaType === MediaType.OciLayerGzip || l.mediaType === MediaType.DockerLayerGzip)
    return { ...base, mediaType: MediaType.DockerLayerGzip };
  if (l.mediaType === MediaType.OciLayerNondistributableGzip || l.mediaType === MediaType.DockerForeignLayerGzip) {
    return { ...base, mediaType: MediaType.DockerForeignLayerGzip, ...(l.urls ? { urls: l.urls } : {}) };
  }
  const c = layerCompression(l.mediaType);
  if (c === 'zstd' || c === 'uncompressed' || l.mediaType === DOCKER_LAYER_TAR) {
    const g = gzippedOf(context, l);
    return { mediaType: MediaType.DockerLayerGzip, digest: g.digest, size: g.size };
  }
  // Not a filesystem layer (an attestation's in-toto statement): its type says what it is.
  return base;
}

function withoutExtras(d: Descriptor): Descriptor {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size };
}

/** The layers a plan's fixes must recompress with gzip, by compression. */
export function layersToGzip(plan: Plan, compressions: readonly string[]): Descriptor[] {
  const out = new Map<string, Descriptor>();
  for (const doc of plan.docs.values()) {
    if (doc.role !== 'image' || doc.stored.kind !== 'manifest') continue;
    for (const l of doc.stored.manifest.layers) {
      const c = layerCompression(l.mediaType);
      if (c !== undefined && compressions.includes(c)) out.set(l.digest, l);
    }
  }
  return [...out.values()];
}
