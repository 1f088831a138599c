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
import { ProvenantError } from '../errors.ts';
import type { DownloadCache } from './fetch.ts';
import { encodeEntries, type KeptEntries, keptEntries, type PackageEntry, type StoredBody } from './unpacked-index.ts';

export { countEntries, countFiles, fileBodies, KeptEntries, type PackageEntry, type StoredBody } from './unpacked-index.ts';

/**
 * Bumped when the index's form changes: older entries are then read as misses. v4: an xattr's
 * value is its byte string; v3 kept it decoded as UTF-8, which lost a binary value's bytes and
 * would write a non-ASCII one back in other bytes.
 */
const FORMAT = 'unpacked-v4';

/** The index's head, as JSON before the entries' records (./unpacked-index.ts). */
interface StoredHead {
  format: string;
  data: { sha256: string; size: number };
  meta: unknown;
}

/** The key a package's data tar is kept under, beside its index (`key` the package's identity). */
export function unpackedDataKey(key: string): string {
  return `${FORMAT}-data:${key}`;
}

/**
 * Keeps the index of a package whose data tar is in the cache already, under
 * {@link unpackedDataKey} (`data`: where): for a reader that wrote the tar as it unpacked it
 * (./apk/stream.ts, ./deb/stream.ts) and knows where each body lies. Returns the entries with
 * their bodies in the cache, and their records in the index just written, for the build to use
 * instead of bytes in memory.
 *
 * @throws ProvenantError `INVALID_PACKAGE` when the places do not fit the data tar; `IO` when the
 *   cache cannot be written
 */
export async function keepIndex(
  cache: DownloadCache,
  key: string,
  data: { sha256: string; path: string; size: number },
  entries: readonly PackageEntry[],
  bodies: readonly (StoredBody | undefined)[],
  meta: unknown,
  where: string,
): Promise<KeptEntries> {
  const records = encodeEntries(entries, bodies);
  const head: StoredHead = { format: FORMAT, data: { sha256: data.sha256, size: data.size }, meta };
  const index = indexBytes(new TextEncoder().encode(JSON.stringify(head, replacer)), records);
  const stored = await cache.put(`${FORMAT}:${key}`, index);
  // The records are the index's tail: the entries read them from there, as loadUnpacked's do.
  const kept = keptEntries(records, data.path, data.size, { path: stored.path, offset: index.length - records.length });
  if (kept === undefined) throw new ProvenantError('INVALID_PACKAGE', `the entries of ${where} could not be kept`, { where });
  return kept;
}

/** The index: the head's length (u32 LE), the head, the entries' records. */
function indexBytes(head: Uint8Array, records: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + head.length + records.length);
  new DataView(out.buffer).setUint32(0, head.length, true);
  out.set(head, 4);
  out.set(records, 4 + head.length);
  return out;
}

/**
 * The data tar as a tar reader reads it while it is unpacked into the cache (./apk/stream.ts,
 * ./deb/stream.ts): `pull` gives each piece once it is written there. The reader stopping (at the
 * archive's end blocks) does not end `pull`'s source, which the stream then drains, so that every
 * byte still reaches the cache and its checks.
 */
export function pulledTar(pull: () => Promise<IteratorResult<Uint8Array>>): AsyncIterable<Uint8Array> {
  return { [Symbol.asyncIterator]: () => ({ next: pull, return: async () => ({ done: true, value: undefined }) }) };
}

/**
 * The package kept under `key` by {@link keepIndex}: its entries (bodies in the cache, each
 * made as it is walked from the records in the index) and its `meta`; undefined when the cache
 * does not have it whole or its index is damaged (a miss, never a failure).
 */
export async function loadUnpacked(cache: DownloadCache, key: string): Promise<{ entries: KeptEntries; meta: unknown } | undefined> {
  const bytes = await cache.get(`${FORMAT}:${key}`);
  if (bytes === undefined) return undefined;
  // The file the entries will read their records from on each walk. Should another build put
  // other bytes under the key in between, that file's records are not the ones checked here,
  // and a walk says so (DIGEST_MISMATCH) rather than give other entries.
  const index = await cache.locate(`${FORMAT}:${key}`);
  if (index === undefined || index.size !== bytes.length) return undefined;
  const read = readIndex(bytes);
  if (read === undefined) return undefined;
  const { head, records } = read;
  const data = await cache.locate(`${FORMAT}-data:${key}`);
  if (data === undefined || data.sha256 !== head.data.sha256 || data.size !== head.data.size) return undefined;
  // The records are the index's tail.
  const entries = keptEntries(records, data.path, data.size, { path: index.path, offset: bytes.length - records.length });
  return entries === undefined ? undefined : { entries, meta: head.meta };
}

/** The head and the records of an index; undefined when it is not one of this format. */
export function readIndex(bytes: Uint8Array): { head: StoredHead; records: Uint8Array } | undefined {
  if (bytes.length < 4) return undefined;
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  if (length > bytes.length - 4) return undefined;
  let head: StoredHead;
  try {
    head = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + length))) as StoredHead;
    if (head === null || typeof head !== 'object' || head.format !== FORMAT) return undefined;
    if (typeof head.data?.sha256 !== 'string' || typeof head.data.size !== 'number') return undefined;
    head.meta = revive(head.meta);
  } catch {
    return undefined;
  }
  return { head, records: bytes.subarray(4 + length) };
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
