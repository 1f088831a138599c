/**
 * Explaining a mismatch: from the comparison of the original platform image with its rebuild
 * (../image/diff.ts), the first layer that differs, the first file that differs in it, and the
 * package that differs: one whose file no longer has the digest the provenance names, else one
 * the two images' package databases disagree on, else the owner of the first file.
 */
import { isPackageMetadataPath } from '../image/diff-packages.ts';
import type { PlatformDiff, ValueChange } from '../image/diff-types.ts';
import type { Digest } from '../oci/digest.ts';
import type { PackageFileChange } from './fetch.ts';

/** Where two platform images first part. */
export interface MismatchDetail {
  /** The first layer position whose blob differs; absent when the layers are the same (a config difference). */
  firstLayer?: { index: number; original?: Digest | undefined; rebuilt?: Digest | undefined } | undefined;
  /**
   * The first path that differs, by layer then path; package databases (apk's installed, dpkg's
   * status) come after every other file, since they change with any package.
   */
  firstFile?:
    | {
        path: string;
        /** `changed` in both, or in one image only. */
        change: 'changed' | 'only-original' | 'only-rebuilt';
        /** For `changed`: type, mode, uid, gid, size, sha256, linkname, device, xattrs, mtime. */
        fields: string[];
        layer: number;
        /** The package that installed it, by the image's package database. */
        package?: string | undefined;
      }
    | undefined;
  /** The package that differs. */
  package?:
    | {
        name: string;
        /** The version in the original image (or in the provenance). */
        version?: string | undefined;
        /** The version in the rebuild, when it differs. */
        rebuiltVersion?: string | undefined;
        /** Why this package: its file changed, or what the package databases say. */
        reason: string;
        /** Its paths that differ (the first 20). */
        files: string[];
      }
    | undefined;
  /** Package database files that differ (`/usr/lib/apk/db/installed`, ...), with their layers. */
  databases: { path: string; layer: number }[];
  /** Image config and manifest annotation changes. */
  config: ValueChange[];
  /** How much differs. */
  counts: { layers: number; files: number; packages: number };
}

const MAX_FILES = 20;

/** The mismatch details of one platform, from its diff and the package files that changed for it. */
export function explainMismatch(diff: PlatformDiff, changed: readonly PackageFileChange[]): MismatchDetail {
  const layersA: (Digest | undefined)[] = [];
  const layersB: (Digest | undefined)[] = [];
  for (const s of diff.layers.shared) {
    layersA[s.indexA] = s.digest;
    layersB[s.indexB] = s.digest;
  }
  for (const l of diff.layers.onlyA) layersA[l.index] = l.digest;
  for (const l of diff.layers.onlyB) layersB[l.index] = l.digest;
  let firstLayer: MismatchDetail['firstLayer'];
  const n = Math.max(layersA.length, layersB.length);
  for (let i = 0; i < n; i++) {
    if (layersA[i] !== layersB[i]) {
      firstLayer = { index: i, original: layersA[i], rebuilt: layersB[i] };
      break;
    }
  }

  const files = [
    ...diff.files.changed.map((c) => ({
      path: c.path,
      change: 'changed' as const,
      fields: c.fields,
      layer: Math.min(c.a.layer, c.b.layer),
      package: c.package ?? c.b.package ?? c.a.package,
    })),
    ...diff.files.removed.map((e) => ({ path: e.path, change: 'only-original' as const, fields: [], layer: e.layer, package: e.package })),
    ...diff.files.added.map((e) => ({ path: e.path, change: 'only-rebuilt' as const, fields: [], layer: e.layer, package: e.package })),
  ].sort((x, y) => x.layer - y.layer || (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
  const isDatabase = (path: string): boolean => isPackageMetadataPath(path.replace(/^\/+/, ''));
  const firstFile = files.find((f) => !isDatabase(f.path)) ?? files[0];
  const databases = files.filter((f) => isDatabase(f.path)).map((f) => ({ path: f.path, layer: f.layer }));

  const pkgs = diff.packages;
  let pkg: MismatchDetail['package'];
  const drift = changed.find((c) => pkgs.changed.some((p) => p.name === c.name)) ?? changed[0];
  if (drift !== undefined) {
    const change = pkgs.changed.find((p) => p.name === drift.name);
    pkg = {
      name: drift.name,
      version: drift.version,
      rebuiltVersion: change !== undefined && change.b.version !== drift.version ? change.b.version : undefined,
      reason: `its file ${drift.url} has SHA-256 ${drift.found}; the provenance names ${drift.expected}`,
      files: (change?.files ?? files.filter((f) => f.package === drift.name).map((f) => f.path)).slice(0, MAX_FILES),
    };
  } else if (pkgs.changed[0] !== undefined) {
    const c = pkgs.changed[0];
    pkg = {
      name: c.name,
      version: c.a.version,
      rebuiltVersion: c.b.version !== c.a.version ? c.b.version : undefined,
      reason: `the package databases differ in its ${c.fields.join(', ')}`,
      files: c.files.slice(0, MAX_FILES),
    };
  } else if (pkgs.removed[0] !== undefined || pkgs.added[0] !== undefined) {
    const removed = pkgs.removed[0];
    const p = removed ?? pkgs.added[0];
    if (p !== undefined) {
      pkg = {
        name: p.name,
        version: p.version,
        reason: removed !== undefined ? 'it is in the original image only' : 'it is in the rebuild only',
        files: (p.files ?? []).slice(0, MAX_FILES),
      };
    }
  } else if (firstFile?.package !== undefined) {
    const owner = firstFile.package;
    pkg = {
      name: owner,
      reason: 'it owns the first file that differs',
      files: files
        .filter((f) => f.package === owner)
        .map((f) => f.path)
        .slice(0, MAX_FILES),
    };
  }

  return {
    firstLayer,
    firstFile,
    package: pkg,
    databases,
    config: diff.config,
    counts: {
      layers: Array.from({ length: n }, (_, i) => i).filter((i) => layersA[i] !== layersB[i]).length,
      files: files.length,
      packages: pkgs.changed.length + pkgs.added.length + pkgs.removed.length,
    },
  };
}
