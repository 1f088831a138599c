/**
 * The detectors: a fixed, small set of generic checks over an {@link ImageGraph}, each
 * parameterised from the profile files. A profile rule names one and gives its parameters; the
 * detector returns what it found (empty when the image is fine by it).
 */

import { subjectOf } from '../oci/content.ts';
import type { Digest } from '../oci/digest.ts';
import { isIndexType, MediaType } from '../oci/mediatypes.ts';
import { formatPlatform, normalizePlatform, parsePlatform, platformMatches } from '../oci/platform.ts';
import type { Platform } from '../oci/types.ts';
import { allDocuments, artifactTypeOf, type ImageGraph } from './graph.ts';
import { type Compression, type DetectorName, KINDS, listParam, numberParam, type Params, type Scope, stringParam } from './params.ts';
import type { ReferrersApi } from './profile.ts';

/** One thing a detector found. */
export interface Finding {
  /** The manifest, layer or subject it is about (filled into `{digest}` in error texts). */
  readonly digest: Digest | undefined;
  readonly detail: string;
}

/** What a detector knows besides the image. */
export interface DetectorContext {
  /** The target registry's referrers API: probed, or as its profile says. */
  readonly referrersApi: ReferrersApiFact;
}

/** Whether a registry has the referrers API, and how that is known. */
export interface ReferrersApiFact {
  readonly value: ReferrersApi;
  readonly source: 'probe' | 'profile';
  /** What was found, in words. */
  readonly detail: string;
}

/** A detector: one generic check. */
export interface Detector {
  /** What it looks for with these parameters, for docs/targets.md. */
  describe(params: Params): string;
  run(graph: ImageGraph, params: Params, context: DetectorContext): Finding[];
}

const OCI_PREFIX = 'application/vnd.oci.';
const DOCKER_PREFIX = 'application/vnd.docker.';
/** Docker's name for an uncompressed layer, which its image spec never defined. */
export const DOCKER_LAYER_TAR = 'application/vnd.docker.image.rootfs.diff.tar';

/** The compression of an image layer, by its media type; undefined for a non-filesystem layer. */
export function layerCompression(mediaType: string): Compression | undefined {
  if (mediaType === DOCKER_LAYER_TAR) return 'uncompressed-docker';
  if (mediaType === MediaType.OciLayer || mediaType === MediaType.OciLayerNondistributable) return 'uncompressed';
  // `.tar.zstd`: containerd's and BuildKit's Docker-typed zstd layer, which Docker's spec never defined.
  if (mediaType.endsWith('+zstd') || mediaType.endsWith('.tar.zstd')) return isFilesystemLayer(mediaType) ? 'zstd' : undefined;
  if (mediaType.endsWith('+gzip') || mediaType.endsWith('.tar.gzip')) return isFilesystemLayer(mediaType) ? 'gzip' : undefined;
  return undefined;
}

/** True for a layer a runtime unpacks as a filesystem (OCI or Docker layer types). */
export function isFilesystemLayer(mediaType: string): boolean {
  return mediaType.startsWith('application/vnd.oci.image.layer.') || mediaType.startsWith('application/vnd.docker.image.rootfs.');
}

/** True for an image config media type (OCI or Docker). */
export function isImageConfigType(mediaType: string): boolean {
  return mediaType === MediaType.OciConfig || mediaType === MediaType.DockerConfig;
}

/** A short digest for messages. */
export function short(d: string): string {
  const i = d.indexOf(':');
  return i < 0 ? d : `${d.slice(0, i + 13)}`;
}

function scopes(params: Params): Set<Scope> {
  return new Set(listParam(params, 'in') as Scope[]);
}

function familyOf(t: string): 'oci' | 'docker' | undefined {
  if (t.startsWith(OCI_PREFIX)) return 'oci';
  if (t.startsWith(DOCKER_PREFIX)) return 'docker';
  return undefined;
}

function platformName(p: Platform | undefined): string {
  if (p === undefined) return '(none stated)';
  return `${p.os === '' ? '""' : p.os}/${p.architecture === '' ? '""' : p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

function what(stored: { kind: string }, scope: Scope): string {
  if (scope === 'attachments') return 'attachment';
  if (scope === 'index-entries') return 'index entry';
  return stored.kind === 'index' ? 'index' : 'manifest';
}

/** Every detector, by name. */
export const DETECTORS: Record<DetectorName, Detector> = {
  'is-index': {
    describe: () => 'the reference names an image index (manifest list), not a single image manifest',
    run(graph) {
      if (graph.root.kind !== 'index') return [];
      const others = graph.indexEntries.length;
      return [
        {
          digest: graph.root.digest,
          detail: `${short(graph.root.digest)} is an image index with ${graph.images.length} platform image(s)${
            others > 0 ? ` and ${others} other entr${others === 1 ? 'y' : 'ies'} (attestations or artifacts)` : ''
          }`,
        },
      ];
    },
  },

  'has-unknown-platform-entries': {
    describe: (p) => {
      const k = listParam(p, 'kinds');
      const parts = [k.includes('unknown') ? '`unknown/unknown`' : '', k.includes('empty') ? 'empty (`linux/""`)' : ''].filter(Boolean);
      return `the index lists entries whose platform is ${parts.join(' or ')}`;
    },
    run(graph, params) {
      if (graph.root.kind !== 'index') return [];
      const kinds = listParam(params, 'kinds');
      const out: Finding[] = [];
      const indexes = [graph.root, ...graph.nested.map((n) => n.stored)];
      for (const e of indexes.flatMap((i) => (i.kind === 'index' ? i.index.manifests : []))) {
        const p = e.platform;
        if (p === undefined) continue;
        const unknown = p.os === 'unknown' || p.architecture === 'unknown';
        const empty = p.os === '' || p.architecture === '';
        if ((kinds.includes('unknown') && unknown) || (kinds.includes('empty') && empty)) {
          const entry = graph.indexEntries.find((x) => x.entry.digest === e.digest);
          const role = entry === undefined ? '' : ` (${entry.kind}${entry.subject ? ` of ${short(entry.subject)}` : ''})`;
          out.push({ digest: e.digest, detail: `index entry ${short(e.digest)}${role} has platform ${platformName(p)}` });
        }
      }
      return out;
    },
  },

  'has-artifact-type': {
    describe: (p) => {
      const t = listParam(p, 'types');
      return `${[...scopes(p)].join(', ')} carry an \`artifactType\`${t.length > 0 ? ` of ${t.map((x) => `\`${x}\``).join(', ')}` : ''}`;
    },
    run(graph, params) {
      const where = scopes(params);
      const types = listParam(params, 'types');
      const out: Finding[] = [];
      for (const { stored, scope } of allDocuments(graph)) {
        const t = artifactTypeOf(stored);
        if (!where.has(scope) || t === undefined || (types.length > 0 && !types.includes(t))) continue;
        out.push({ digest: stored.digest, detail: `${what(stored, scope)} ${short(stored.digest)} has artifactType ${t}` });
      }
      return out;
    },
  },

  'has-empty-config': {
    describe: (p) => `${[...scopes(p)].join(', ')} use the empty config \`${MediaType.OciEmpty}\``,
    run(graph, params) {
      const where = scopes(params);
      const out: Finding[] = [];
      for (const { stored, scope } of allDocuments(graph)) {
        if (!where.has(scope) || stored.kind !== 'manifest' || stored.manifest.config.mediaType !== MediaType.OciEmpty) continue;
        out.push({
          digest: stored.digest,
          detail: `${what(stored, scope)} ${short(stored.digest)} has the empty config ${MediaType.OciEmpty}`,
        });
      }
      return out;
    },
  },

  'has-subject-on-index-referrer': {
    describe: (p) => {
      const kinds = listParam(p, 'kinds');
      const all = KINDS.every((k) => kinds.includes(k));
      return `a referrer (${all ? 'signature, attestation, SBOM' : kinds.join(', ')}) has an image index as its \`subject\``;
    },
    run(graph, params) {
      const kinds = listParam(params, 'kinds');
      const kindOf = new Map<string, string>([
        ...graph.indexEntries.map((e) => [e.entry.digest, e.kind] as const),
        ...graph.attachments.map((a) => [a.stored.digest, a.attachment.kind] as const),
      ]);
      const out: Finding[] = [];
      for (const { stored, scope } of allDocuments(graph)) {
        if (scope === 'image' || !kinds.includes(kindOf.get(stored.digest) ?? 'other')) continue;
        const s = subjectOf(stored);
        if (s === undefined || !isIndexType(s.mediaType)) continue;
        out.push({
          digest: stored.digest,
          detail: `${what(stored, scope)} ${short(stored.digest)} has the index ${short(s.digest)} as its subject`,
        });
      }
      return out;
    },
  },

  'has-referrer-in-index': {
    describe: () =>
      'the index lists manifests that have a `subject` (BuildKit 0.32 attestations), so a push may send one before its subject',
    run(graph) {
      const out: Finding[] = [];
      for (const e of graph.indexEntries) {
        const s = e.stored === undefined ? undefined : subjectOf(e.stored);
        if (s === undefined) continue;
        out.push({
          digest: s.digest,
          detail: `index entry ${short(e.entry.digest)} (${e.kind}) has subject ${short(s.digest)}; pushed with the index it can arrive before its subject`,
        });
      }
      return out;
    },
  },

  'referrer-without-artifact-type': {
    describe: () => 'a referrer has a `subject` but no `artifactType`',
    run(graph) {
      const out: Finding[] = [];
      for (const { stored, scope } of allDocuments(graph)) {
        if (scope === 'image' || subjectOf(stored) === undefined || artifactTypeOf(stored) !== undefined) continue;
        const config = stored.kind === 'manifest' ? ` (config ${stored.manifest.config.mediaType})` : '';
        out.push({ digest: stored.digest, detail: `${what(stored, scope)} ${short(stored.digest)} has no artifactType${config}` });
      }
      return out;
    },
  },

  'media-types': {
    describe: (p) => {
      const need = stringParam(p, 'require');
      return `${[...scopes(p)].join(', ')} use ${need === 'docker' ? 'OCI' : 'Docker'} media types (the target needs ${need === 'docker' ? 'Docker schema 2' : 'OCI'})`;
    },
    run(graph, params) {
      const where = scopes(params);
      const wrong = stringParam(params, 'require') === 'docker' ? 'oci' : 'docker';
      const out: Finding[] = [];
      for (const { stored, scope } of allDocuments(graph)) {
        if (!where.has(scope)) continue;
        const types = [stored.mediaType];
        if (stored.kind === 'manifest') {
          types.push(stored.manifest.config.mediaType);
          if (scope === 'image') types.push(...stored.manifest.layers.map((l) => l.mediaType));
        }
        const bad = [...new Set(types.filter((t) => familyOf(t) === wrong))];
        if (bad.length > 0)
          out.push({ digest: stored.digest, detail: `${what(stored, scope)} ${short(stored.digest)} uses ${bad.join(', ')}` });
      }
      return out;
    },
  },

  'layer-compression': {
    describe: (p) => `an image layer is ${listParam(p, 'refuse').join(' or ')}`,
    run(graph, params) {
      const refuse = listParam(params, 'refuse');
      const out: Finding[] = [];
      const seen = new Set<string>();
      for (const image of graph.images) {
        if (image.stored.kind !== 'manifest') continue;
        for (const layer of image.stored.manifest.layers) {
          const c = layerCompression(layer.mediaType);
          if (c === undefined || !refuse.includes(c) || seen.has(layer.digest)) continue;
          seen.add(layer.digest);
          out.push({
            digest: layer.digest,
            detail: `layer ${short(layer.digest)} of ${short(image.stored.digest)} is ${c} (${layer.mediaType})`,
          });
        }
      }
      return out;
    },
  },

  'missing-platform': {
    describe: (p) => `the image offers ${stringParam(p, 'need') === 'all' ? 'not all' : 'none'} of ${listParam(p, 'platforms').join(', ')}`,
    run(graph, params) {
      const wanted = listParam(params, 'platforms').map((t) => parsePlatform(t));
      // A config without os or architecture (a cosign signature's, an attestation's) states none.
      const offered = graph.images
        .map((i) => i.platform)
        .filter((p): p is Platform => p !== undefined && (p.os !== '' || p.architecture !== ''));
      // A listed platform without a variant runs every variant of its architecture (linux/arm64
      // runs an arm64/v8.2 image, linux/amd64 an amd64/v2 one); one with a variant, that variant.
      const runs = (w: Platform, o: Platform): boolean => {
        if (w.variant !== undefined) return platformMatches(w, o);
        const [a, b] = [normalizePlatform(w), normalizePlatform(o)];
        return a.os === b.os && a.architecture === b.architecture;
      };
      const has = (w: Platform): boolean => offered.some((o) => runs(w, o));
      const ok = stringParam(params, 'need') === 'all' ? wanted.every(has) : wanted.some(has);
      if (ok) return [];
      const list = offered.length === 0 ? 'no platform it states' : offered.map((p) => formatPlatform(p)).join(', ');
      return [{ digest: graph.root.digest, detail: `the image offers ${list}; the target runs ${wanted.map(formatPlatform).join(', ')}` }];
    },
  },

  'needs-referrers-api': {
    describe: () => 'the image has referrers (signatures, attestations) and the registry has no referrers API, or it is not known',
    run(graph, _params, context) {
      const fact = context.referrersApi;
      if (fact.value === 'present') return [];
      // Referrers found, and manifests in the index that have a subject (a push makes them referrers).
      const referrers: Digest[] = [
        ...graph.attachments.filter((a) => a.attachment.storage === 'referrers').map((a) => a.stored.digest),
        ...graph.indexEntries.filter((e) => e.stored !== undefined && subjectOf(e.stored) !== undefined).map((e) => e.entry.digest),
      ];
      if (referrers.length === 0) return [];
      const n = referrers.length;
      const how =
        fact.value === 'absent'
          ? 'can be found only through the referrers tag schema (sha256-<hex> tags), which tools must know to read'
          : 'may be found only through the referrers tag schema: whether the registry has a referrers API is not known';
      return [{ digest: referrers[0], detail: `${n} referrer${n === 1 ? '' : 's'} ${how} (${fact.detail})` }];
    },
  },

  'layer-size-limit': {
    describe: (p) =>
      `${stringParam(p, 'per') === 'image' ? 'an image’s layers together are' : 'a layer is'} larger than ${formatBytes(numberParam(p, 'max-bytes'))} (sizes from descriptors)`,
    run(graph, params) {
      const max = numberParam(params, 'max-bytes');
      const perImage = stringParam(params, 'per') === 'image';
      const out: Finding[] = [];
      for (const image of graph.images) {
        if (image.stored.kind !== 'manifest') continue;
        const layers = image.stored.manifest.layers;
        if (perImage) {
          const total = layers.reduce((n, l) => n + l.size, 0);
          if (total > max) {
            out.push({
              digest: image.stored.digest,
              detail: `${short(image.stored.digest)}'s layers add up to ${formatBytes(total)} compressed`,
            });
          }
        } else {
          for (const l of layers) {
            if (l.size > max) out.push({ digest: l.digest, detail: `layer ${short(l.digest)} is ${formatBytes(l.size)}` });
          }
        }
      }
      return out;
    },
  },

  'non-image-manifest': {
    describe: () => 'the reference names an attestation, signature or other artifact, not a runnable image',
    run(graph) {
      const root = graph.root;
      if (root.kind !== 'manifest') return [];
      const m = root.manifest;
      const odd = m.layers.filter((l) => !isFilesystemLayer(l.mediaType)).map((l) => l.mediaType);
      if (isImageConfigType(m.config.mediaType) && odd.length === 0) return [];
      const subject = m.subject ? `; its subject is ${short(m.subject.digest)}` : '';
      const types = odd.length > 0 ? `layers ${[...new Set(odd)].join(', ')}` : `config ${m.config.mediaType}`;
      return [{ digest: root.digest, detail: `${short(root.digest)} is not a runnable image (${types})${subject}` }];
    },
  },
};

/** Bytes for people: `52,000 MiB`, `10 GB`. */
export function formatBytes(n: number): string {
  if (n >= 1e9 && n % 1e9 === 0) return `${n / 1e9} GB`;
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${(n / (1024 * 1024)).toLocaleString('en-US')} MiB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  return `${n} bytes`;
}
