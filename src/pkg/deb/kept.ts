/**
 * What a build holds of a Debian package kept unpacked in the download cache (../unpacked.ts),
 * for the whole build: the control fields, the control file, conffiles and scripts, a few KB a
 * package, from the index's head. The control member's files (md5sums, symbols, shlibs,
 * templates...) are kept beside the index in a file of their own and read from there when asked.
 *
 * md5sums has a line per file of the package: the 880 MB bench image's (25,700 entries) add up to
 * 1.9 MB and 22,600 paths, and symbols to another 1.8 MB. In the index's head they were held
 * three times over for the build (md5sumsBytes, controlFiles and md5sums as a Map of a string pair
 * per file), once more as base64 while the head was parsed, and the status.d copy of md5sums was
 * bytes in the tree until the layer was written. Now the status.d file points at the bytes in the
 * cache ({@link DebPackage.md5sumsFile}), and the layer reads them there as it reads the
 * package's files.
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { concatBytes } from '../../bytes.ts';
import { type FileBody, readBody } from '../../vfs/body.ts';
import type { DownloadCache } from '../fetch.ts';
import type { KeptEntries } from '../unpacked.ts';
import { type DebPackage, parseMd5sums } from './deb.ts';

/**
 * The form of the meta kept in the index's head: bumped when it changes, so that an older head
 * is read as a miss (the package is then read again from its .deb) and never misread. Heads
 * before this one had no `format`, and held the control member's files themselves.
 */
const FORMAT = 'deb-kept-v2';

/** A package's facts as {@link DebPackage} has them, but what per-file state it has. */
type DebFacts = Omit<DebPackage, 'entries' | 'dataTar' | 'md5sums' | 'md5sumsBytes' | 'md5sumsFile' | 'controlFiles'>;

/** A control member's file in the file {@link keepDebControl} wrote: name, offset, size, SHA-256 (hex), CRC-32. */
type ControlFileRecord = [name: string, offset: number, size: number, sha256: string, crc32: number];

/** The meta of a kept package, as the index's head keeps it. */
export interface KeptDebMeta extends DebFacts {
  format: typeof FORMAT;
  /** The control member's files, one after the other in the file kept under {@link controlFilesKey}. */
  controlFiles: { sha256: string; size: number; files: ControlFileRecord[] };
}

/**
 * The key a package whose .deb is kept under `key` is kept unpacked under (its index, data tar and
 * control files). It names this form: a Provenant of an earlier form that shares the cache looks
 * under its own key and finds nothing, rather than a head it would take for its own and misread.
 */
export function keptDebKey(key: string): string {
  return `${FORMAT}:${key}`;
}

/** The key the control member's files of the package kept under `key` ({@link keptDebKey}) are kept under. */
export function controlFilesKey(key: string): string {
  return `control:${key}`;
}

/**
 * Keeps the control member's files of `pkg` (just read and checked) in the cache, beside the
 * index that `key` will name, and returns the meta for that index and where the files went.
 *
 * @throws ProvenantError `IO` when the cache cannot be written
 */
export async function keepDebControl(
  cache: DownloadCache,
  key: string,
  pkg: Omit<DebPackage, 'entries' | 'dataTar'>,
): Promise<{ meta: KeptDebMeta; path: string }> {
  const parts: Uint8Array[] = [];
  const files: ControlFileRecord[] = [];
  let offset = 0;
  for (const [name, bytes] of pkg.controlFiles) {
    files.push([name, offset, bytes.length, createHash('sha256').update(bytes).digest('hex'), crc32(bytes)]);
    parts.push(bytes);
    offset += bytes.length;
  }
  const stored = await cache.put(controlFilesKey(key), concatBytes(parts));
  const { md5sums: _sums, md5sumsBytes: _bytes, md5sumsFile: _file, controlFiles: _files, ...facts } = pkg;
  return { meta: { ...facts, format: FORMAT, controlFiles: { sha256: stored.sha256, size: stored.size, files } }, path: stored.path };
}

/**
 * The package kept under `key`, from its index's `meta` and `entries` (../unpacked.ts's
 * loadUnpacked); undefined when the meta is of another form or the control member's files are
 * not in the cache as it recorded them, or damaged (a miss, never a failure: the .deb is read
 * again, which writes them anew).
 */
export async function loadKeptDeb(cache: DownloadCache, key: string, meta: unknown, entries: KeptEntries): Promise<DebPackage | undefined> {
  if (!isKeptDebMeta(meta)) return undefined;
  const file = await cache.locate(controlFilesKey(key));
  if (file === undefined || file.sha256 !== meta.controlFiles.sha256 || file.size !== meta.controlFiles.size) return undefined;
  // Read once and checked (a CRC-32 over a few KB, a few MB for the largest packages), then let
  // go: damaged files would otherwise fail every build that reads them, until the cache is cleared.
  if ((await cache.get(controlFilesKey(key))) === undefined) return undefined;
  return keptDebPackage(meta, file.path, entries);
}

/** The package of `meta`, its control member's files in the file at `path`. */
export function keptDebPackage(meta: KeptDebMeta, path: string, entries: DebPackage['entries']): DebPackage {
  const bodies = new Map<string, FileBody>();
  for (const [name, offset, size, sha256, crc] of meta.controlFiles.files) bodies.set(name, { path, offset, size, sha256, crc32: crc });
  const { format: _format, controlFiles: _files, ...facts } = meta;
  const md5sumsFile = bodies.get('md5sums');
  const where = `${facts.name}_${facts.version}_${facts.architecture}`;
  return {
    ...facts,
    md5sums: md5sumsFile === undefined ? new Map() : new KeptMd5sums(md5sumsFile, `${where}: md5sums`),
    // A getter, read when asked: the bytes are not held for the build.
    get md5sumsBytes(): Uint8Array | undefined {
      return md5sumsFile === undefined ? undefined : readBody(md5sumsFile);
    },
    md5sumsFile,
    controlFiles: new KeptControlFiles(bodies),
    entries,
  };
}

function isKeptDebMeta(meta: unknown): meta is KeptDebMeta {
  const m = meta as Partial<KeptDebMeta> | null;
  return (
    m !== null &&
    typeof m === 'object' &&
    m.format === FORMAT &&
    typeof m.controlFiles?.sha256 === 'string' &&
    typeof m.controlFiles.size === 'number' &&
    Array.isArray(m.controlFiles.files)
  );
}

const decoder = new TextDecoder('utf-8');

/**
 * md5sums in the cache as a map, parsed at each use (it was checked when the package was read):
 * the last parse is held weakly, so that lookups one after another parse once, and nothing is
 * held between uses.
 */
class KeptMd5sums implements ReadonlyMap<string, string> {
  readonly #file: FileBody;
  readonly #where: string;
  #last: WeakRef<Map<string, string>> | undefined;

  constructor(file: FileBody, where: string) {
    this.#file = file;
    this.#where = where;
  }

  #map(): Map<string, string> {
    let map = this.#last?.deref();
    if (map === undefined) {
      map = parseMd5sums(decoder.decode(readBody(this.#file)), this.#where);
      this.#last = new WeakRef(map);
    }
    return map;
  }

  get size(): number {
    return this.#map().size;
  }
  get(path: string): string | undefined {
    return this.#map().get(path);
  }
  has(path: string): boolean {
    return this.#map().has(path);
  }
  forEach(f: (md5: string, path: string, map: ReadonlyMap<string, string>) => void, thisArg?: unknown): void {
    for (const [path, md5] of this.#map()) f.call(thisArg, md5, path, this);
  }
  entries(): MapIterator<[string, string]> {
    return this.#map().entries();
  }
  keys(): MapIterator<string> {
    return this.#map().keys();
  }
  values(): MapIterator<string> {
    return this.#map().values();
  }
  [Symbol.iterator](): MapIterator<[string, string]> {
    return this.entries();
  }
}

/** The control member's files in the cache as a map, each read (and its CRC-32 checked) when asked. */
class KeptControlFiles implements ReadonlyMap<string, Uint8Array> {
  readonly #bodies: ReadonlyMap<string, FileBody>;

  constructor(bodies: ReadonlyMap<string, FileBody>) {
    this.#bodies = bodies;
  }

  /** Every file read: for a walk of them all. */
  #read(): Map<string, Uint8Array> {
    return new Map([...this.#bodies].map(([name, body]) => [name, readBody(body)]));
  }

  get size(): number {
    return this.#bodies.size;
  }
  get(name: string): Uint8Array | undefined {
    const body = this.#bodies.get(name);
    return body === undefined ? undefined : readBody(body);
  }
  has(name: string): boolean {
    return this.#bodies.has(name);
  }
  forEach(f: (bytes: Uint8Array, name: string, map: ReadonlyMap<string, Uint8Array>) => void, thisArg?: unknown): void {
    for (const [name, bytes] of this.#read()) f.call(thisArg, bytes, name, this);
  }
  entries(): MapIterator<[string, Uint8Array]> {
    return this.#read().entries();
  }
  keys(): MapIterator<string> {
    return this.#bodies.keys();
  }
  values(): MapIterator<Uint8Array> {
    return this.#read().values();
  }
  [Symbol.iterator](): MapIterator<[string, Uint8Array]> {
    return this.entries();
  }
}
