/**
 * `diff`: what differs between two images in any two stores. Per platform: packages (from the
 * package databases, else an attached SBOM), files of the flattened filesystems (type, mode,
 * owner, size, content digest, link target; a text diff of small text files on request), the
 * config, the layers, the signatures and attestations attached, and what the SLSA provenance
 * says. Layers are streamed and only hashes are kept, so memory is bounded by the number of paths
 * and the package databases, never by a layer or a file. `renderDiff` (./diff-render.ts) turns
 * the result into text; the result itself is the JSON form.
 */
import { ProvenantError, throwIfAborted } from '../errors.ts';
import type { Stored } from '../oci/content.ts';
import { type Digest, digestMismatch } from '../oci/digest.ts';
import { formatPlatform, normalizePlatform, platformMatches } from '../oci/platform.ts';
import type { Descriptor, ImageConfig, ImageIndex, ImageManifest } from '../oci/types.ts';
import type { ContentStore } from '../store/types.ts';
import { attachmentDiff, attachmentsOf, provenanceDiff, provenanceStatement, type SideAttachments } from './diff-attachments.ts';
import { annotationMap, compareText, configChanges, layerDiff, mapChanges } from './diff-config.ts';
import { addTextDiffs, compareFiles } from './diff-files.ts';
import { isPackageMetadataPath, NO_PACKAGES, packageDiff, packagesFromFilesystem, packagesFromSbom } from './diff-packages.ts';
import type { AttachmentDiff, DiffOptions, DiffSide, ImageDiff, PlatformDiff } from './diff-types.ts';
import { applyLayer, LayerFilesystem } from './filesystem.ts';
import { readImageConfig } from './image-config.ts';
import { type InspectedManifest, type InspectResult, inspectImage } from './inspect.ts';

export type * from './diff-types.ts';

interface Side {
  store: ContentStore;
  name: string;
  inspected: InspectResult;
}

/**
 * Compares image `a` with image `b`. With `options.platform`, that platform of each; otherwise
 * every platform both have (two single-platform images are compared whatever their platforms),
 * and those only one has are listed. Platforms are matched whole, `os.version` and `os.features`
 * included; entries of a platform an index lists more than once are paired in order.
 *
 * @throws ProvenantError `NOT_FOUND` when a target is not in its store, `NO_MATCHING_PLATFORM`
 *   when `options.platform` is not in one of them, `INVALID_CONFIG` for a config that is not a
 *   JSON object, `DIGEST_MISMATCH` when a layer is not what its digest or diff_id says, what
 *   reading a layer throws (`INVALID_ARCHIVE`, `TRUNCATED`, `UNSAFE_PATH`), `ABORTED`
 */
export async function diffImages(a: DiffSide, b: DiffSide, options: DiffOptions = {}): Promise<ImageDiff> {
  const sideA = await open(a, options);
  const sideB = await open(b, options);
  const pairs = pairPlatforms(sideA, sideB, options);
  const rootAttachments = attachmentDiff((await rootAttachmentsOf(sideA, options)).items, (await rootAttachmentsOf(sideB, options)).items);
  const images: PlatformDiff[] = [];
  for (const pair of pairs.pairs) {
    throwIfAborted(options.signal);
    images.push(await diffPlatform(sideA, sideB, pair, options));
  }
  const ia = sideA.inspected;
  const ib = sideB.inspected;
  const annotations =
    ia.raw.kind === 'index' && ib.raw.kind === 'index'
      ? mapChanges('annotations', annotationMap(ia.raw.index.annotations, options), annotationMap(ib.raw.index.annotations, options))
      : [];
  // With a platform chosen, the question is about that platform's images: two indexes that
  // differ in another platform are still identical there. The index's own annotations and
  // attachments are compared and shown either way, so they count either way. With timestamps
  // ignored, two indexes are the same when they differ only in the digests of their images
  // (each pair compared below) and in their created annotation.
  const sameIndex =
    ia.digest === ib.digest ||
    (options.ignoreTimestamps === true && ia.raw.kind === ib.raw.kind && withoutTimestamps(ia.raw) === withoutTimestamps(ib.raw));
  const identical =
    (options.platform === undefined ? sameIndex : annotations.length === 0) &&
    pairs.onlyA.length === 0 &&
    pairs.onlyB.length === 0 &&
    attachmentsEqual(rootAttachments) &&
    images.every((i) => i.identical);
  return {
    identical,
    ...(identical && options.platform === undefined && ia.digest !== ib.digest ? { retimed: true } : {}),
    a: { name: sideA.name, digest: ia.digest, mediaType: ia.mediaType },
    b: { name: sideB.name, digest: ib.digest, mediaType: ib.mediaType },
    platforms: {
      onlyA: pairs.onlyA,
      onlyB: pairs.onlyB,
      ...(pairs.duplicatesA.length > 0 ? { duplicatesA: pairs.duplicatesA } : {}),
      ...(pairs.duplicatesB.length > 0 ? { duplicatesB: pairs.duplicatesB } : {}),
    },
    annotations,
    attachments: rootAttachments,
    images,
  };
}

async function open(side: DiffSide, options: DiffOptions): Promise<Side> {
  const target = side.target;
  const name = side.name ?? `${side.store.location}${/^sha(256|512):/.test(target) ? '@' : ':'}${target}`;
  return { store: side.store, name, inspected: await inspectImage(side.store, target, name, options) };
}

/**
 * The platform an entry names, whole: `os/arch[/variant]`, then `:os.version` (as crane writes
 * it) and the sorted `os.features` when the index gives them. A Windows index holds one image per
 * OS build, all `windows/amd64`, told apart only by `os.version`, so matching on less would pair
 * the 2019 image of one index with the 2022 image of the other.
 */
function platformName(m: InspectedManifest): string {
  if (m.platform === undefined) return 'unknown';
  const p = normalizePlatform(m.platform);
  const version = p['os.version'] ? `:${p['os.version']}` : '';
  const features =
    p['os.features'] !== undefined && p['os.features'].length > 0
      ? ` (os.features ${[...p['os.features']].sort(compareText).join(',')})`
      : '';
  return `${formatPlatform(p)}${version}${features}`;
}

/**
 * True when two entries name one platform with an `os.version` whose first three parts agree
 * (`10.0.20348.2227` and `10.0.20348.2322`: one Windows build, two monthly updates).
 */
function sameBuild(a: InspectedManifest, b: InspectedManifest): boolean {
  if (a.platform === undefined || b.platform === undefined) return false;
  const pa = normalizePlatform(a.platform);
  const pb = normalizePlatform(b.platform);
  const build = (v: string | undefined) => v?.split('.').slice(0, 3).join('.');
  const va = build(pa['os.version']);
  return va !== undefined && va === build(pb['os.version']) && formatPlatform(pa) === formatPlatform(pb);
}

interface Pairing {
  /** `nth`: which entry of that platform, from 0, where an index lists it more than once. */
  pairs: { a: InspectedManifest; b: InspectedManifest; nth: number }[];
  onlyA: string[];
  onlyB: string[];
  /** Platforms an index lists more than once. */
  duplicatesA: string[];
  duplicatesB: string[];
}

function pairPlatforms(a: Side, b: Side, options: DiffOptions): Pairing {
  let listA = a.inspected.manifests;
  let listB = b.inspected.manifests;
  if (options.platform !== undefined) {
    const wanted = options.platform;
    const matching = (side: Side): InspectedManifest[] => {
      const found = side.inspected.manifests.filter((m) => m.platform !== undefined && platformMatches(wanted, m.platform));
      if (found.length === 0) {
        throw new ProvenantError('NO_MATCHING_PLATFORM', `${side.name} has no image for ${formatPlatform(wanted)}`, {
          where: side.name,
          hint: `it has ${[...new Set(side.inspected.manifests.map(platformName))].join(', ') || 'no images'}`,
        });
      }
      return found;
    };
    // `--platform windows/amd64` of a Windows index is each of its OS builds: paired below by os.version.
    listA = matching(a);
    listB = matching(b);
  }
  // Two single-platform images are compared as they are: a platform change is a config change.
  if (listA.length === 1 && listB.length === 1) {
    const [ma, mb] = [listA[0], listB[0]] as [InspectedManifest, InspectedManifest];
    return { pairs: [{ a: ma, b: mb, nth: 0 }], onlyA: [], onlyB: [], duplicatesA: [], duplicatesB: [] };
  }
  // An index may list one platform twice (a mistake, or a merge of two builds). A runtime pulls
  // the first; here the first is paired with the other index's first, the second with its second,
  // and the repeats are reported rather than one silently replacing the other.
  const entries = (list: readonly InspectedManifest[]): Map<string, InspectedManifest[]> => {
    const out = new Map<string, InspectedManifest[]>();
    for (const m of list) {
      const name = platformName(m);
      const same = out.get(name);
      if (same === undefined) out.set(name, [m]);
      else same.push(m);
    }
    return out;
  };
  const byA = entries(listA);
  const byB = entries(listB);
  const out: Pairing = { pairs: [], onlyA: [], onlyB: [], duplicatesA: [], duplicatesB: [] };
  const leftA: { m: InspectedManifest; name: string; nth: number }[] = [];
  const leftB: { m: InspectedManifest; name: string; nth: number }[] = [];
  for (const [name, ms] of byA) {
    const others = byB.get(name) ?? [];
    ms.forEach((m, i) => {
      const other = others[i];
      if (other === undefined) leftA.push({ m, name, nth: i });
      else out.pairs.push({ a: m, b: other, nth: i });
    });
    if (ms.length > 1) out.duplicatesA.push(name);
  }
  for (const [name, ms] of byB) {
    const count = byA.get(name)?.length ?? 0;
    for (let i = count; i < ms.length; i++) leftB.push({ m: ms[i]!, name, nth: i });
    if (ms.length > 1) out.duplicatesB.push(name);
  }
  // A Windows image's os.version changes its fourth part with every monthly update: what is left
  // is paired by OS build (the first three parts), in order, so that two releases of an index
  // compare their 2019 images and their 2022 images.
  for (const x of leftA) {
    const i = leftB.findIndex((y) => sameBuild(x.m, y.m));
    if (i < 0) out.onlyA.push(nthEntry(x.name, x.nth));
    else out.pairs.push({ a: x.m, b: leftB.splice(i, 1)[0]!.m, nth: x.nth });
  }
  for (const y of leftB) out.onlyB.push(nthEntry(y.name, y.nth));
  return out;
}

/** `linux/amd64`, and `linux/amd64 #2` for the second entry of it in an index that lists it twice. */
function nthEntry(name: string, nth: number): string {
  return nth === 0 ? name : `${name} #${nth + 1}`;
}

/** The attachments of a top-level index (a single manifest's are its image's). */
async function rootAttachmentsOf(side: Side, options: DiffOptions): Promise<SideAttachments> {
  const i = side.inspected;
  if (i.raw.kind !== 'index') return { items: [], statements: [], found: [] };
  return attachmentsOf(side.store, i.digest, i.attachments, options);
}

function attachmentsEqual(d: AttachmentDiff): boolean {
  return d.onlyA.length === 0 && d.onlyB.length === 0;
}

async function diffPlatform(a: Side, b: Side, pair: Pairing['pairs'][number], options: DiffOptions): Promise<PlatformDiff> {
  const { a: ma, b: mb } = pair;
  const attA = await attachmentsOf(a.store, ma.digest, ma.attachments, options, true);
  const attB = await attachmentsOf(b.store, mb.digest, mb.attachments, options, true);
  const nameA = platformName(ma);
  const nameB = platformName(mb);
  // The provenance inspect shows for each (the build's own, of several), warned of as inspect does.
  const provenanceA = provenanceStatement(attA.found, `the ${nameA} image of ${a.name}`, options);
  const provenanceB = provenanceStatement(attB.found, `the ${nameB} image of ${b.name}`, options);
  const out: PlatformDiff = {
    platform: nthEntry(nameA === nameB ? nameA : `${nameA} ↔ ${nameB}`, pair.nth),
    a: { digest: ma.digest, mediaType: ma.mediaType },
    b: { digest: mb.digest, mediaType: mb.mediaType },
    identical: false,
    config: [],
    layers: { shared: [], onlyA: [], onlyB: [], sharedPrefix: 0 },
    files: { added: [], removed: [], changed: [] },
    packages: { source: { a: 'none', b: 'none' }, added: [], removed: [], changed: [] },
    attachments: attachmentDiff(attA.items, attB.items),
    provenance: provenanceDiff(provenanceA, provenanceB, options),
    notes: [],
  };
  if (ma.digest === mb.digest) {
    // Content-addressed: the same manifest is the same config and layers.
    out.identical = attachmentsEqual(out.attachments);
    out.notes.push('the same manifest in both: config, layers, files and packages are identical and were not read');
    return out;
  }
  const manA = await manifestOf(a, ma);
  const manB = await manifestOf(b, mb);
  const configA = await configOf(a, manA);
  const configB = await configOf(b, manB);
  out.config = configChanges(configA, configB, manA, manB, options);
  out.layers = layerDiff(manA, manB);
  const { fsA, fsB } = await filesystems(a, b, manA, manB, configA, configB, out.layers.sharedPrefix, options);
  if (out.layers.sharedPrefix > 0) {
    out.notes.push(
      `the first ${out.layers.sharedPrefix} layer(s) are the same blobs in both: read once, and paths that no later layer changed were equal without comparing`,
    );
  }
  const viewA = packagesFromFilesystem(fsA, { name: a.name, digest: ma.digest }) ?? packagesFromSbom(attA.statements) ?? NO_PACKAGES;
  const viewB = packagesFromFilesystem(fsB, { name: b.name, digest: mb.digest }) ?? packagesFromSbom(attB.statements) ?? NO_PACKAGES;
  out.files = compareFiles(
    { fs: fsA, layers: manA.layers, owners: viewA.owners },
    { fs: fsB, layers: manB.layers, owners: viewB.owners },
    options,
  );
  const implied = out.files.implied ?? [];
  if (implied.length > 0) {
    const shown = implied.slice(0, 5).join(', ') + (implied.length > 5 ? `, and ${implied.length - 5} more` : '');
    out.notes.push(
      `${implied.length} folder(s) are entries in one image and only implied by the paths under them in the other: in both containers, their mode and owner not compared (a runtime chooses those of an implied folder): ${shown}`,
    );
  }
  if (options.textDiff === true) {
    await addTextDiffs(
      out.files.changed,
      { store: a.store, layers: manA.layers, name: a.name, fs: fsA },
      { store: b.store, layers: manB.layers, name: b.name, fs: fsB },
      options,
    );
  }
  out.packages = packageDiff(viewA, viewB, out.files);
  if (options.ignoreTimestamps === true && onlyTimestampsDiffer(out, manA, manB, fsA, fsB)) {
    out.identical = true;
    out.notes.push(
      'the manifests differ only where timestamps go: the same files in the same layers but for their modification times, the same config but for its created times, and the same provenance but for its SOURCE_DATE_EPOCH',
    );
  }
  return out;
}

/**
 * With timestamps ignored, whether two different manifests still make the same image: nothing
 * is left in any section but the layers, each path comes from the same layer position in both,
 * and the manifests are the same once the digests and sizes of their config and layers (which
 * file times and `created` change) and their created annotation are left out. A tar's mtime
 * fields change its digest and, compressed, its size, but not how many layers there are, their
 * media types or which layer holds a file.
 */
function onlyTimestampsDiffer(
  d: PlatformDiff,
  manA: ImageManifest,
  manB: ImageManifest,
  fsA: LayerFilesystem,
  fsB: LayerFilesystem,
): boolean {
  const empty = (...lists: readonly (readonly unknown[] | undefined)[]) => lists.every((l) => l === undefined || l.length === 0);
  if (
    !attachmentsEqual(d.attachments) ||
    !empty(d.config, d.files.added, d.files.removed, d.files.changed, d.files.implied) ||
    !empty(d.packages.added, d.packages.removed, d.packages.changed) ||
    !empty(d.provenance.changes, d.provenance.dependencies.added, d.provenance.dependencies.removed, d.provenance.dependencies.changed)
  ) {
    return false;
  }
  if (withoutTimestamps({ kind: 'manifest', manifest: manA }) !== withoutTimestamps({ kind: 'manifest', manifest: manB })) return false;
  for (const path of fsA.paths()) {
    if (fsA.get(path)?.layer !== fsB.get(path)?.layer) return false;
  }
  return true;
}

/**
 * A manifest or index as JSON without what timestamps change: the digests and sizes of what it
 * names (an index's images, a manifest's config and layers) and its created annotation.
 */
function withoutTimestamps(stored: { kind: 'manifest'; manifest: ImageManifest } | { kind: 'index'; index: ImageIndex }): string {
  const undated = ({ digest: _digest, size: _size, ...rest }: Descriptor) => rest;
  const annotations = (a: Record<string, string> | undefined) =>
    a === undefined ? undefined : Object.fromEntries(annotationMap(a, { ignoreTimestamps: true }));
  if (stored.kind === 'index') {
    const { manifests, annotations: a, ...rest } = stored.index;
    return JSON.stringify({ ...rest, manifests: manifests.map(undated), annotations: annotations(a) });
  }
  const { config, layers, annotations: a, ...rest } = stored.manifest;
  return JSON.stringify({ ...rest, config: undated(config), layers: layers.map(undated), annotations: annotations(a) });
}

async function manifestOf(side: Side, m: InspectedManifest): Promise<ImageManifest> {
  const stored: Stored = await side.store.getManifest(m.digest);
  if (stored.kind !== 'manifest') {
    throw new ProvenantError('INVALID_MANIFEST', `${m.digest} is an index where an image manifest was expected`, { where: side.name });
  }
  return stored.manifest;
}

async function configOf(side: Side, manifest: ImageManifest): Promise<Partial<ImageConfig>> {
  return readImageConfig(side.store, manifest.config, `${side.name}@${manifest.config.digest}`);
}

/**
 * The flattened filesystems of both images. The first `shared` layers are the same blobs in the
 * same order (verified by their digests as they are read), so they are read once, from A, into a
 * base that both images then build on; a path no later layer touches keeps the very record
 * object of the base in both, which compareFiles takes as equal without looking.
 */
async function filesystems(
  a: Side,
  b: Side,
  manA: ImageManifest,
  manB: ImageManifest,
  configA: Partial<ImageConfig>,
  configB: Partial<ImageConfig>,
  shared: number,
  options: DiffOptions,
): Promise<{ fsA: LayerFilesystem; fsB: LayerFilesystem }> {
  const diffIdsA = configA.rootfs?.diff_ids ?? [];
  const diffIdsB = configB.rootfs?.diff_ids ?? [];
  const base = new LayerFilesystem();
  const read = async (fs: LayerFilesystem, side: Side, manifest: ImageManifest, diffIds: readonly string[], from: number, to: number) => {
    for (let i = from; i < to; i++) {
      throwIfAborted(options.signal);
      const layer = manifest.layers[i];
      if (layer === undefined) continue;
      const diffId = diffIds[i];
      await applyLayer(fs, side.store, layer, {
        ...options,
        index: i,
        diffId: typeof diffId === 'string' && diffId.startsWith('sha256:') ? (diffId as `sha256:${string}`) : undefined,
        keep: isPackageMetadataPath,
        where: `${side.name}@${layer.digest}`,
      });
    }
  };
  await read(base, a, manA, diffIdsA, 0, shared);
  for (let i = 0; i < shared; i++) {
    // The same blob has one uncompressed digest; a config that says otherwise is wrong.
    const x = diffIdsA[i];
    const y = diffIdsB[i];
    if (x !== undefined && y !== undefined && x !== y) {
      throw digestMismatch(y as Digest, x as Digest, `${b.name}: diff_id ${i} of the config, for the layer ${manB.layers[i]?.digest}`);
    }
  }
  const fsA = base.clone();
  await read(fsA, a, manA, diffIdsA, shared, manA.layers.length);
  const fsB = base;
  await read(fsB, b, manB, diffIdsB, shared, manB.layers.length);
  return { fsA, fsB };
}
