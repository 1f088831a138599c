/**
 * apko's SBOM of an image, made again from the image itself (`provenant sbom --compat apko`):
 * apko's SPDX documents (../sbom/apko-spdx.ts) from what an apko-built image holds, its
 * manifest, layers and config, /etc/os-release, apk's installed database and each package's own
 * SBOM in /var/lib/db/sbom. For an image apko built, the result is apko's `sbom-<arch>.spdx.json`
 * (or `sbom-index.spdx.json`) byte for byte, given the tag apko was given. As for a build, the
 * logger is told which installed packages that leaves out (those with no SBOM of their own).
 */
import { decodeUtf8 } from '../bytes.ts';
import { isProvenantError, ProvenantError } from '../errors.ts';
import type { OperationOptions } from '../io/types.ts';
import { collect } from '../io/verify.ts';
import { firstOfPlatform, formatPlatform } from '../oci/platform.ts';
import type { Descriptor, ImageConfig, Platform } from '../oci/types.ts';
import { apkoImageSbom, apkoIndexSbom, apkoSbomLeavesOut, warnApkoSbomLeavesOut } from '../sbom/apko-spdx.ts';
import type { ContentStore } from '../store/types.ts';
import { applyLayer, LayerFilesystem } from './filesystem.ts';
import { type InspectedManifest, inspectImage } from './inspect.ts';

/** Options of {@link apkoSbomOfImage}. */
export interface ApkoSbomOptions extends OperationOptions {
  /** Which platform of an index (default the first; of several images of it, the first, `logger` warned); ignored with `index`. */
  platform?: Platform | undefined;
  /** The SBOM of the index itself, `sbom-index.spdx.json`. */
  index?: boolean | undefined;
  /** The tag apko named the image by (`golden:latest`); apko's `image` when absent. */
  tag?: string | undefined;
  /** The apko version to name as the tool (default `devel`). */
  apkoVersion?: string | undefined;
}

const SMALL = 64 * 1024 * 1024;

async function blob(store: ContentStore, d: Descriptor, options: OperationOptions): Promise<Uint8Array> {
  return collect(await store.readBlob(d, options), SMALL, `${store.location}@${d.digest}`);
}

/** The config's `created` in seconds. */
function createdOf(config: Partial<ImageConfig>, where: string): number {
  const ms = Date.parse(config.created ?? '');
  if (Number.isNaN(ms)) throw new ProvenantError('INVALID_MANIFEST', `${where}: the image config has no creation time`, { where });
  return Math.floor(ms / 1000);
}

/**
 * Some files of an image, as the image has them after every layer (whiteouts applied), read
 * through symlinks among them (`etc/os-release -> ../usr/lib/os-release`). Each layer streams
 * through {@link applyLayer}, as `sbom` and `diff` read images: only the wanted bodies are held,
 * within the limits of a LayerFilesystem, so a layer that inflates to gigabytes costs no memory.
 *
 * @param wanted the paths whose bodies to keep (relative, no leading slash)
 * @returns a reader of those files: bytes, or undefined for a path the image does not have
 * @throws ProvenantError what {@link applyLayer} throws: `INVALID_ARCHIVE` or `TRUNCATED` for a
 *   corrupt layer, `TOO_LARGE` past the limits, `UNSAFE_PATH`
 */
export async function imageFiles(
  store: ContentStore,
  layers: readonly Descriptor[],
  wanted: (path: string) => boolean,
  where: string,
  options: OperationOptions,
): Promise<(path: string) => Uint8Array | undefined> {
  const fs = new LayerFilesystem();
  for (const [index, layer] of layers.entries()) {
    await applyLayer(fs, store, layer, { ...options, index, hash: false, keep: (path) => wanted(path), where: `${where}@${layer.digest}` });
  }
  return (path) => {
    try {
      return fs.body(fs.resolve(path));
    } catch (err) {
      // A symlink loop, say: a runtime reading the file fails with ELOOP, so the image has no such file.
      if (isProvenantError(err, 'UNSAFE_PATH')) return undefined;
      throw err;
    }
  };
}

/** The packages of apk's installed database, in its order (apko's ParseInstalled). */
function installedPackages(text: string): { name: string; version: string }[] {
  const out: { name: string; version: string }[] = [];
  let name = '';
  let version = '';
  for (const line of `${text}\n`.split('\n')) {
    if (line === '') {
      if (name !== '') out.push({ name, version });
      name = '';
      version = '';
    } else if (line.startsWith('P:')) name = line.slice(2);
    else if (line.startsWith('V:')) version = line.slice(2);
  }
  return out;
}

/** The SPDX document apko writes for one platform image of `target`, from the image. */
async function platformSbom(store: ContentStore, m: InspectedManifest, name: string, options: ApkoSbomOptions): Promise<string> {
  const stored = await store.getManifest(m.digest, options);
  if (stored.kind !== 'manifest') throw new ProvenantError('INVALID_MANIFEST', `${m.digest} is not an image manifest`, { where: m.digest });
  const where = `${name}@${m.digest}`;
  const config = JSON.parse(decodeUtf8(await blob(store, stored.manifest.config, options))) as Partial<ImageConfig>;
  const wanted = (p: string) => /^(usr\/)?lib\/apk\/db\/installed$|^(etc|usr\/lib)\/os-release$|^var\/lib\/db\/sbom\/[^/]+$/.test(p);
  const read = await imageFiles(store, stored.manifest.layers, wanted, where, options);
  const db = read('usr/lib/apk/db/installed') ?? read('lib/apk/db/installed');
  if (db === undefined) throw new ProvenantError('NOT_FOUND', `${where} has no apk database, so it is not an image apko built`, { where });
  const installed = installedPackages(decodeUtf8(db));
  const packageSboms = new Map<string, Uint8Array>();
  for (const p of installed) {
    for (const file of [`${p.name}-${p.version}`, `${p.name}-${p.version.replace(/-r\d+$/, '')}`, p.name]) {
      const bytes = read(`var/lib/db/sbom/${file}.spdx.json`);
      if (bytes === undefined) continue;
      packageSboms.set(p.name, bytes);
      break;
    }
  }
  warnApkoSbomLeavesOut(
    apkoSbomLeavesOut({ installed, packageSboms }),
    '`provenant sbom` without --compat apko makes an SPDX SBOM of every package',
    options.logger,
  );
  const osRelease = read('etc/os-release');
  return apkoImageSbom({
    manifestDigest: m.digest,
    layers: stored.manifest.layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType })),
    architecture: config.architecture ?? 'unknown',
    created: createdOf(config, where),
    osRelease: osRelease === undefined ? undefined : decodeUtf8(osRelease),
    installed,
    packageSboms,
    tag: options.tag,
    apkoVersion: options.apkoVersion,
  });
}

/**
 * apko's SBOM of an image: one platform's (`sbom-<arch>.spdx.json`), or with `index` the
 * index's (`sbom-index.spdx.json`), as the exact text apko writes.
 *
 * @throws ProvenantError `NO_MATCHING_PLATFORM`, `NOT_FOUND` for an image without apk's
 *   database, `USAGE` for `index` on a single image, and what apko's SBOM step fails on
 */
export async function apkoSbomOfImage(
  store: ContentStore,
  target: string,
  name: string,
  options: ApkoSbomOptions = {},
): Promise<{ platform: string; document: string }> {
  const inspected = await inspectImage(store, target, name, options);
  if (options.index === true) {
    if (inspected.kind !== 'index')
      throw new ProvenantError('USAGE', `${name} is a single image, not an index`, { hint: 'leave out --index' });
    const images = [];
    let created = 0;
    for (const m of inspected.manifests) {
      const stored = await store.getManifest(m.digest, options);
      if (stored.kind !== 'manifest') continue;
      const config = JSON.parse(decodeUtf8(await blob(store, stored.manifest.config, options))) as Partial<ImageConfig>;
      created = Math.max(created, createdOf(config, `${name}@${m.digest}`));
      const arch =
        m.platform === undefined
          ? (config.architecture ?? 'unknown')
          : `${m.platform.architecture}${m.platform.variant === undefined ? '' : `/${m.platform.variant}`}`;
      images.push({ arch, digest: m.digest });
    }
    const annotations = inspected.raw.kind === 'index' ? (inspected.raw.index.annotations ?? {}) : {};
    const source = annotations['org.opencontainers.image.source'];
    const revision = annotations['org.opencontainers.image.revision'];
    const vcsUrl = source !== undefined && revision !== undefined ? `${source}@${revision}` : undefined;
    return {
      platform: 'index',
      document: apkoIndexSbom({
        indexDigest: inspected.digest,
        images,
        created,
        tag: options.tag,
        vcsUrl,
        apkoVersion: options.apkoVersion,
      }),
    };
  }
  const wanted = options.platform;
  // Of several images of the platform, the first, warned which, as every --platform picks.
  const picked = wanted === undefined ? undefined : firstOfPlatform(wanted, inspected.manifests, store.location);
  if (picked?.warning !== undefined) options.logger?.warn(picked.warning);
  const m = wanted === undefined ? inspected.manifests[0] : picked?.entry;
  if (m === undefined) {
    throw new ProvenantError(
      'NO_MATCHING_PLATFORM',
      `${name} has no image for ${wanted === undefined ? 'any platform' : formatPlatform(wanted)}`,
    );
  }
  return {
    platform: m.platform === undefined ? 'unknown' : formatPlatform(m.platform),
    document: await platformSbom(store, m, name, options),
  };
}
