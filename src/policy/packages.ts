/**
 * The packages of an image and when each was built, for the `maxPackageAgeDays` check.
 *
 * Two sources: the image's own package database, read from its layers (apk's
 * `lib/apk/db/installed` records each package's build time in its `t:` field; dpkg's
 * `var/lib/dpkg/status` and distroless' `status.d/` record none), and SPDX SBOMs, whose
 * packages may carry `builtDate` (SPDX 2.3 §7.26). CycloneDX has no build date for a
 * component, so a CycloneDX SBOM names packages without dates.
 */
import { isBuildkitAttestation } from '../attest/attachments.ts';
import { throwIfAborted } from '../errors.ts';
import { imageInventory } from '../image/inventory.ts';
import { predicateDocument } from '../image/statements.ts';
import type { OperationOptions } from '../io/types.ts';
import type { Digest } from '../oci/digest.ts';
import { formatPlatform } from '../oci/platform.ts';
import { cycloneDxInstalled, spdxInstalled } from '../sbom/installed.ts';
import type { ContentStore } from '../store/types.ts';

/** One installed package and its build time, when known. */
export interface DatedPackage {
  name: string;
  version: string;
  /**
   * When it was built; undefined when its source records no date. An Invalid Date when the
   * source records a time JavaScript cannot hold (apk's `t:` past the year 275760): see `buildTime`.
   */
  builtAt: Date | undefined;
  /** The build time as the package database wrote it (apk's `t:` seconds), for messages. */
  buildTime?: string;
  /** Where name and date came from. */
  source: 'apk database' | 'dpkg database' | 'SBOM';
  /**
   * For a package read from the images of an index: the platforms (`linux/arm64`, or the image's
   * digest when its entry names none) whose database holds it with this build time.
   */
  platforms?: string[];
}

/** What the image's package databases say, over every platform image of an index. */
export interface ImagePackages {
  /** `apk`, `dpkg`, or undefined when no image had a database. */
  database: 'apk' | 'dpkg' | undefined;
  packages: DatedPackage[];
}

/**
 * Reads the package databases of `digest` (an image, or every platform image of an index) out
 * of its layers, as a runtime applies them (../image/inventory.ts: streamed, gzip or zstd,
 * whiteouts honoured).
 */
export async function imagePackages(store: ContentStore, digest: Digest, options: OperationOptions = {}): Promise<ImagePackages> {
  const root = await store.getManifest(digest, options);
  const manifests: { digest: Digest; platform?: string }[] = [];
  if (root.kind === 'manifest') manifests.push({ digest: root.digest });
  else {
    for (const d of root.index.manifests) {
      // BuildKit's attestation manifests hold no file system; any other entry is an image a
      // runtime may pick, whose packages the policy must see.
      if (isBuildkitAttestation(d)) continue;
      if (d.mediaType.endsWith('manifest.v1+json') || d.mediaType.endsWith('manifest.v2+json'))
        manifests.push({ digest: d.digest, platform: d.platform === undefined ? d.digest : formatPlatform(d.platform) });
    }
  }
  let database: ImagePackages['database'];
  const packages: DatedPackage[] = [];
  // One entry per package, version and build time: the same name and version built at another
  // time for another platform is another package to judge (an arm64 build may be years older
  // than the amd64 one), and keeping the first platform's date would pass it unseen.
  const seen = new Map<string, DatedPackage>();
  for (const m of manifests) {
    throwIfAborted(options.signal);
    const inventory = await imageInventory(store, m.digest, `${store.location}@${m.digest}`, options);
    if (inventory === undefined) continue;
    const ecosystem = inventory.packages[0]?.ecosystem;
    database ??= ecosystem === 'deb' ? 'dpkg' : ecosystem;
    for (const p of inventory.packages) {
      const key = `${p.name}\u0000${p.version}\u0000${p.builtAt ?? ''}`;
      const before = seen.get(key);
      if (before !== undefined) {
        if (m.platform !== undefined && !before.platforms!.includes(m.platform)) before.platforms!.push(m.platform);
        continue;
      }
      const one: DatedPackage = {
        name: p.name,
        version: p.version,
        builtAt: p.builtAt === undefined ? undefined : new Date(p.builtAt * 1000),
        ...(p.builtAt === undefined ? {} : { buildTime: p.ecosystem === 'apk' ? `t:${p.builtAt}` : String(p.builtAt) }),
        source: p.ecosystem === 'apk' ? 'apk database' : 'dpkg database',
        ...(m.platform === undefined ? {} : { platforms: [m.platform] }),
      };
      seen.set(key, one);
      packages.push(one);
    }
  }
  return { database, packages };
}

/**
 * The packages an SPDX 2.x document names, each with its `builtDate` when it has one; the
 * document itself (SPDX `DOCUMENT` packages describe the image, not a package) is included as
 * written, since SBOM writers differ in how they mark it. A CycloneDX document's components,
 * undated. A JSON document attested as text is read as its document ({@link predicateDocument}).
 */
export function sbomPackages(predicate: unknown): DatedPackage[] {
  // A JSON document attested as text (cosign's --type spdx) is read as the document it holds.
  const document = predicateDocument(predicate);
  if (typeof document !== 'object' || document === null) return [];
  const doc = document as { packages?: unknown; components?: unknown };
  const out: DatedPackage[] = [];
  if (Array.isArray(doc.packages)) {
    for (const p of doc.packages as { name?: unknown; versionInfo?: unknown; builtDate?: unknown; primaryPackagePurpose?: unknown }[]) {
      if (typeof p !== 'object' || p === null || typeof p.name !== 'string') continue;
      // The package that stands for the image or its OS is not a package of it.
      if (!spdxInstalled(p.primaryPackagePurpose)) continue;
      const built = typeof p.builtDate === 'string' ? new Date(p.builtDate) : undefined;
      out.push({
        name: p.name,
        version: typeof p.versionInfo === 'string' ? p.versionInfo : '',
        builtAt: built !== undefined && !Number.isNaN(built.getTime()) ? built : undefined,
        source: 'SBOM',
      });
    }
  } else if (Array.isArray(doc.components)) {
    for (const c of doc.components as { name?: unknown; version?: unknown; type?: unknown }[]) {
      if (typeof c !== 'object' || c === null || typeof c.name !== 'string' || !cycloneDxInstalled(c.type)) continue;
      out.push({ name: c.name, version: typeof c.version === 'string' ? c.version : '', builtAt: undefined, source: 'SBOM' });
    }
  }
  return out;
}
