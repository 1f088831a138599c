/**
 * Packages kept unpacked in the download cache, so that a build holds its files' metadata and
 * not their contents, and a warm build neither reads nor verifies a package file again.
 *
 * A package is verified once, in full, when it is first read (signature or index checksum, and
 * every file against its own checksum). Then its data tar is stored in the cache as it is, with
 * an index: every entry's header, where its body lies in that tar, the body's SHA-256 and
 * CRC-32, and what the ecosystem reads of the package (its control fields, scripts, the lock's
 * ranges), all under the identity the lock names the package by (apk's `Q1` checksum, the
 * .deb's SHA-256). A later build reads that index and nothing else; the tree points at the bodies
 * in the cached tar (../vfs/body.ts), and the layer writer reads each when it writes it, checking
 * its CRC-32. The cache is trusted as the download cache is: protect it as the images it builds.
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { cleanEntryPath } from '../archive/paths.ts';
import { scanTarFile, type TarHeader } from '../archive/tar.ts';
import { ProvenantError } from '../errors.ts';
import type { Body, FileBody } from '../vfs/body.ts';
import type { DownloadCache } from './fetch.ts';

/** An entry of a package's data member, its path cleaned; a file's body in memory or in the cache. */
export interface PackageEntry {
  /** Relative path inside the image root: no `./`, no trailing slash, no `..`. */
  path: string;
  header: TarHeader;
  /** For a hardlink, the cleaned path of the entry it links to (Debian). */
  hardlinkTarget?: string | undefined;
  /** The body of a regular file; empty for the rest. */
  body: Body;
}

/** Bumped when the index's form changes: older entries are then read as misses. */
const FORMAT = 'unpacked-v1';

interface StoredEntry {
  path: string;
  header: TarHeader;
  hardlinkTarget?: string | undefined;
  offset: number;
  size: number;
  sha256?: string | undefined;
  crc32?: number | undefined;
}

interface StoredIndex {
  format: string;
  data: { sha256: string; size: number };
  entries: StoredEntry[];
  meta: unknown;
}

/**
 * Keeps a verified package unpacked in `cache` under `key`: its data tar (the bytes its entries
 * were read from), the entries, and `meta`, which may hold Maps and byte arrays. Returns the
 * entries with their bodies in the cache, for the build to use instead of the bytes in memory.
 *
 * @throws ProvenantError `INVALID_PACKAGE` when `entries` are not those of `dataTar` (in order,
 *   the root left out), or as the tar reader; `IO` when the cache cannot be written
 */
export async function storeUnpacked(
  cache: DownloadCache,
  key: string,
  dataTar: Uint8Array,
  entries: readonly PackageEntry[],
  meta: unknown,
  where: string,
): Promise<PackageEntry[]> {
  const dataKey = `${FORMAT}-data:${key}`;
  await cache.put(dataKey, dataTar);
  const located = await cache.locate(dataKey);
  if (located === undefined) throw new ProvenantError('IO', `the unpacked data of ${where} vanished from the cache`, { where });
  const stored: StoredEntry[] = [];
  const out: PackageEntry[] = [];
  let i = 0;
  for await (const scanned of scanTarFile(located.path, { where })) {
    if (cleanEntryPath(scanned.header.name, where) === '.') continue;
    const entry = entries[i++];
    if (entry === undefined || entry.header.name !== scanned.header.name) {
      throw new ProvenantError('INVALID_PACKAGE', `the data member's entry ${JSON.stringify(scanned.header.name)} was read differently`, {
        where,
      });
    }
    const record: StoredEntry = { path: entry.path, header: entry.header, offset: scanned.offset, size: scanned.size };
    if (entry.hardlinkTarget !== undefined) record.hardlinkTarget = entry.hardlinkTarget;
    let body: Body = entry.body;
    if (entry.header.type === 'file') {
      const bytes = entry.body instanceof Uint8Array ? entry.body : undefined;
      if (bytes === undefined || bytes.length !== scanned.size) {
        throw new ProvenantError('INVALID_PACKAGE', `the body of ${entry.path} is not the one in the data member`, { where });
      }
      record.sha256 = createHash('sha256').update(bytes).digest('hex');
      record.crc32 = crc32(bytes) >>> 0;
      body = fileBody(located.path, record);
    }
    stored.push(record);
    out.push({ ...entry, body });
  }
  if (i !== entries.length) throw new ProvenantError('INVALID_PACKAGE', 'the data member has fewer entries than were read', { where });
  const index: StoredIndex = { format: FORMAT, data: { sha256: located.sha256, size: located.size }, entries: stored, meta };
  await cache.put(`${FORMAT}:${key}`, new TextEncoder().encode(JSON.stringify(index, replacer)));
  return out;
}

/**
 * The package kept under `key` by {@link storeUnpacked}: its entries (bodies in the cache) and
 * its `meta`; undefined when the cache does not have it whole (a miss, never a failure).
 */
export async function loadUnpacked(cache: DownloadCache, key: string): Promise<{ entries: PackageEntry[]; meta: unknown } | undefined> {
  const bytes = await cache.get(`${FORMAT}:${key}`);
  if (bytes === undefined) return undefined;
  let index: StoredIndex;
  try {
    // Only `meta` has tagged values: a reviver over the whole index would be called for every
    // field of every entry (tens of thousands in a large package), and its garbage is what grew
    // a warm build's heap with the image.
    index = JSON.parse(new TextDecoder().decode(bytes)) as StoredIndex;
    index.meta = revive(index.meta);
  } catch {
    return undefined;
  }
  if (index.format !== FORMAT) return undefined;
  const data = await cache.locate(`${FORMAT}-data:${key}`);
  if (data === undefined || data.sha256 !== index.data.sha256 || data.size !== index.data.size) return undefined;
  const entries = index.entries.map((e): PackageEntry => {
    // One string for both when they are the same, not two copies for every file of the image.
    if (e.header.name === e.path) e.header.name = e.path;
    const entry: PackageEntry = { path: e.path, header: e.header, body: e.header.type === 'file' ? fileBody(data.path, e) : EMPTY };
    if (e.hardlinkTarget !== undefined) entry.hardlinkTarget = e.hardlinkTarget;
    return entry;
  });
  return { entries, meta: index.meta };
}

const EMPTY = new Uint8Array();

function fileBody(path: string, e: StoredEntry): FileBody {
  return { path, offset: e.offset, size: e.size, sha256: e.sha256 ?? '', crc32: e.crc32 ?? 0 };
}

/**
 * Maps and byte arrays in `meta`, tagged, since JSON has neither. The holder's own value is
 * looked at: a Buffer's toJSON has already run on `value`.
 */
function replacer(this: unknown, key: string, value: unknown): unknown {
  const raw = (this as Record<string, unknown>)[key];
  if (raw instanceof Map) return { $map: [...raw] };
  if (raw instanceof Uint8Array) return { $bytes: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64') };
  return value;
}

/** `value` with {@link replacer}'s tags turned back into Maps and byte arrays, innermost first as `JSON.parse`'s reviver. */
function revive(value: unknown): unknown {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = revive(value[i]);
    return value;
  }
  if (value === null || typeof value !== 'object') return value;
  const o = value as Record<string, unknown>;
  for (const k of Object.keys(o)) o[k] = revive(o[k]);
  return untag(o);
}

function untag(value: unknown): unknown {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const o = value as { $map?: unknown; $bytes?: unknown };
    if (Array.isArray(o.$map) && Object.keys(o).length === 1) return new Map(o.$map as [unknown, unknown][]);
    if (typeof o.$bytes === 'string' && Object.keys(o).length === 1) return new Uint8Array(Buffer.from(o.$bytes, 'base64'));
  }
  return value;
}
