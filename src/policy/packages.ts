/**
 * The packages of an image and when each was built, for the `maxPackageAgeDays` check.
 *
 * Two sources: the image's own package database, read from its layers (apk's
 * `lib/apk/db/installed` records each package's build time in its `t:` field; dpkg's
 * `var/lib/dpkg/status` and distroless' `status.d/` record none), and SPDX SBOMs, whose
 * packages may carry `builtDate` (SPDX 2.3 §7.26). CycloneDX has no build date for a
 * component, so a CycloneDX SBOM names packages without dates.
 */
import { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { readTar } from '../archive/tar.ts';
import { ProvenantError, throwIfAborted } from '../errors.ts';
import type { OperationOptions } from '../io/types.ts';
import type { Digest } from '../oci/digest.ts';
import type { Descriptor } from '../oci/types.ts';
import { parseApkIndexText } from '../pkg/apk/apkindex.ts';
import { parseControlStanzas } from '../pkg/deb/control.ts';
import type { ContentStore } from '../store/types.ts';

/** One installed package and its build time, when known. */
export interface DatedPackage {
  name: string;
  version: string;
  /** When it was built; undefined when its source records no date. */
  builtAt: Date | undefined;
  /** Where name and date came from. */
  source: 'apk database' | 'dpkg database' | 'SBOM';
}

/** What the image's package databases say: one entry per platform image read. */
export interface ImagePackages {
  /** `apk`, `dpkg`, or undefined when no image had a database. */
  database: 'apk' | 'dpkg' | undefined;
  packages: DatedPackage[];
}

const DB_LIMIT = 256 * 1024 * 1024;

/**
 * Reads the package databases of `digest` (an image, or every platform image of an index) out
 * of its layers, later layers winning and whiteouts honoured.
 */
export async function imagePackages(store: ContentStore, digest: Digest, options: OperationOptions = {}): Promise<ImagePackages> {
  const root = await store.getManifest(digest, options);
  const manifests: Digest[] = [];
  if (root.kind === 'manifest') manifests.push(root.digest);
  else {
    for (const d of root.index.manifests) {
      // BuildKit's attestation manifests (platform unknown/unknown) hold no file system.
      if (d.platform?.os === 'unknown' || d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest') continue;
      if (d.mediaType.endsWith('manifest.v1+json') || d.mediaType.endsWith('manifest.v2+json')) manifests.push(d.digest);
    }
  }
  let database: ImagePackages['database'];
  const packages: DatedPackage[] = [];
  const seen = new Set<string>();
  for (const m of manifests) {
    const one = await manifestPackages(store, m, options);
    if (one.database === undefined) continue;
    database ??= one.database;
    for (const p of one.packages) {
      const key = `${p.name}\u0000${p.version}`;
      if (seen.has(key)) continue;
      seen.add(key);
      packages.push(p);
    }
  }
  return { database, packages };
}

const WANTED = (p: string): boolean =>
  /^(usr\/)?lib\/apk\/db\/installed$/.test(p) || p === 'var/lib/dpkg/status' || /^var\/lib\/dpkg\/status\.d\/[^/]+$/.test(p);

async function manifestPackages(store: ContentStore, digest: Digest, options: OperationOptions): Promise<ImagePackages> {
  const stored = await store.getManifest(digest, options);
  if (stored.kind !== 'manifest') return { database: undefined, packages: [] };
  const files = new Map<string, string>();
  for (const layer of stored.manifest.layers) {
    throwIfAborted(options.signal);
    const where = `${store.location}@${layer.digest}`;
    for await (const e of readTar(await layerStream(store, layer, options), { where })) {
      const path = e.header.name.replace(/^\.?\/+/, '').replace(/\/$/, '');
      const slash = path.lastIndexOf('/');
      const base = path.slice(slash + 1);
      if (base.startsWith('.wh.')) {
        const dir = path.slice(0, slash + 1);
        if (base === '.wh..wh..opq') {
          for (const k of [...files.keys()]) if (k.startsWith(dir)) files.delete(k);
        } else files.delete(`${dir}${base.slice(4)}`);
        continue;
      }
      if (!WANTED(path) || e.header.type !== 'file') {
        for await (const _ of e.body) {
          // skipped
        }
        continue;
      }
      const parts: Uint8Array[] = [];
      let size = 0;
      for await (const c of e.body) {
        size += c.length;
        if (size > DB_LIMIT) throw new ProvenantError('TRUNCATED', `${path} is larger than ${DB_LIMIT} bytes`, { where });
        parts.push(c);
      }
      files.set(path, Buffer.concat(parts).toString('utf8'));
    }
  }
  const apk = files.get('usr/lib/apk/db/installed') ?? files.get('lib/apk/db/installed');
  if (apk !== undefined) {
    return {
      database: 'apk',
      packages: parseApkIndexText(apk, 'lib/apk/db/installed').map((p) => ({
        name: p.name,
        version: p.version,
        builtAt: p.buildTime === undefined ? undefined : new Date(p.buildTime * 1000),
        source: 'apk database' as const,
      })),
    };
  }
  const statusD = [...files.keys()].filter((p) => p.startsWith('var/lib/dpkg/status.d/')).sort();
  const texts =
    statusD.length > 0
      ? statusD.map((p) => files.get(p) ?? '')
      : files.has('var/lib/dpkg/status')
        ? [files.get('var/lib/dpkg/status')!]
        : [];
  if (texts.length === 0) return { database: undefined, packages: [] };
  const packages: DatedPackage[] = [];
  for (const [i, text] of texts.entries()) {
    for (const s of parseControlStanzas(text, statusD[i] ?? 'var/lib/dpkg/status')) {
      if (s.package === undefined || s.version === undefined) continue;
      if (s.status !== undefined && s.status.split(/\s+/)[2] !== 'installed') continue;
      packages.push({ name: s.package, version: s.version, builtAt: undefined, source: 'dpkg database' });
    }
  }
  return { database: 'dpkg', packages };
}

async function layerStream(store: ContentStore, layer: Descriptor, options: OperationOptions): Promise<AsyncIterable<Uint8Array>> {
  const raw = await store.readBlob(layer, options);
  const t = layer.mediaType;
  if (t.endsWith('+gzip') || t.endsWith('.tar.gzip')) return Readable.from(raw).pipe(zlib.createGunzip());
  if (t.endsWith('+zstd')) {
    const make = (zlib as unknown as { createZstdDecompress?: () => NodeJS.ReadWriteStream }).createZstdDecompress;
    if (make === undefined) {
      throw new ProvenantError('UNSUPPORTED_MEDIA_TYPE', `this Node.js cannot decompress the zstd layer ${layer.digest}`, {
        hint: 'run Provenant on Node.js 22.15 or later',
      });
    }
    return Readable.from(raw).pipe(make()) as unknown as AsyncIterable<Uint8Array>;
  }
  if (t.endsWith('.tar') || t.endsWith('tar') || t.endsWith('.diff.tar')) return raw;
  throw new ProvenantError('UNSUPPORTED_MEDIA_TYPE', `cannot read the layer ${layer.digest} of type ${t}`, { where: store.location });
}

/**
 * The packages an SPDX 2.x document names, each with its `builtDate` when it has one; the
 * document itself (SPDX `DOCUMENT` packages describe the image, not a package) is included as
 * written, since SBOM writers differ in how they mark it. A CycloneDX document's components,
 * undated.
 */
export function sbomPackages(predicate: unknown): DatedPackage[] {
  if (typeof predicate !== 'object' || predicate === null) return [];
  const doc = predicate as { packages?: unknown; components?: unknown };
  const out: DatedPackage[] = [];
  if (Array.isArray(doc.packages)) {
    for (const p of doc.packages as { name?: unknown; versionInfo?: unknown; builtDate?: unknown; primaryPackagePurpose?: unknown }[]) {
      if (typeof p !== 'object' || p === null || typeof p.name !== 'string') continue;
      // The package that stands for the image or its OS is not a package of it.
      if (p.primaryPackagePurpose === 'CONTAINER' || p.primaryPackagePurpose === 'OPERATING_SYSTEM') continue;
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
      if (typeof c !== 'object' || c === null || typeof c.name !== 'string' || c.type === 'operating-system') continue;
      out.push({ name: c.name, version: typeof c.version === 'string' ? c.version : '', builtAt: undefined, source: 'SBOM' });
    }
  }
  return out;
}
