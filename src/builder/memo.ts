/**
 * What a build made of its inputs, kept in the build cache: the same build again takes it
 * instead of installing its packages into a tree (issue 16, docs/architecture.md "Memory per
 * file"). A warm build whose layer was reused still installed every package to find that out,
 * since a layer is kept by a hash of its entries (./layer.ts): its memory grew with the image's
 * files. Kept by a hash of the inputs instead, it needs none of them.
 *
 * The key is a SHA-256 of everything the record's parts are made from (./build.ts,
 * imageMemoKey): the configuration as loaded but for what only the image config reads (made
 * again at every build), the configuration file's path (relative repositories and keys are
 * read from its folder), the trusted keys' text, the repositories, SOURCE_DATE_EPOCH, each
 * planned package's name, version, URL and checksum and whether it must be signed itself, and
 * a digest of Provenant's own code, so that another version or a changed checkout never takes
 * what an older one made. A package's checksum is its identity, verified against the indexes
 * this build read; an apk's `Q1` does not cover its signature, so one signed again under the
 * same identity has the same key: the build takes the record only when each such package is
 * still the file its location serves (./build.ts, recordedStillServed). The indexes are read and
 * verified at every build; only fetching, installing and layering are skipped.
 *
 * The record holds the layers' keys (each layer is then taken from the cache as a layer reused
 * always is, and checked the same way), the packages' lock entries and digests, the inventory
 * and /etc/os-release. The files of the inventory are kept apart and read only when asked for
 * (an SBOM with files): they are a record per file of the image.
 */
import { createHash } from 'node:crypto';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProvenantError } from '../errors.ts';
import { noteRecordsDropped } from '../io/memory.ts';
import type { DownloadCache } from '../pkg/fetch.ts';
import type { InventoryFile } from '../pkg/inventory.ts';
import {
  type FetchedPackage,
  filesOnDemand,
  type InstalledPackage,
  installedFieldsBut,
  inventoryFilesOf,
  type LockedPackage,
} from '../pkg/source.ts';
import { keptLayer, type Layer } from './layer.ts';

const { existsSync, readdirSync, readFileSync, statSync } = process.getBuiltinModule('node:fs');

/** Changes when the record's form or the key's inputs change: older records are then missed. */
// v2: a file the build's finishing rewrote is listed with the digests of its bytes in the image.
// v3: an apk's checksum is the .apk file's SHA-256, its `C:` kept apart as its identity.
// v4: the image config's User, run-as resolved in the image's /etc/passwd, is kept.
const MEMO_FORMAT = 'provenant-image-memo-v4';

/** A package as the record keeps it: what the build's lock and provenance need of its fetch. */
export interface RecalledPackage {
  locked: LockedPackage;
  sha256: string;
  size: number;
}

/** One platform's image as an earlier build of the same inputs made it. */
export interface RecalledImage {
  /** The packages in the plan's order, as fetched. */
  fetched: RecalledPackage[];
  /** The inventory in install order; each package's `files` are read when first asked for. */
  packages: InstalledPackage[];
  layers: Layer[];
  osRelease: string;
  /** The image config's User, `run-as` resolved in the image's /etc/passwd. */
  user?: string | undefined;
}

/** The record as kept. */
interface Memo {
  format: string;
  fetched: RecalledPackage[];
  /** The inventory without its files. */
  packages: Omit<InstalledPackage, 'files'>[];
  /** SHA-256 (hex) of the file lists: a line of JSON per package, in install order. */
  files: string;
  layers: string[];
  osRelease: string;
  user?: string | undefined;
}

/** {@link codeDigest}'s answer, once made ('' when there is none). */
let code: Promise<string> | undefined;

/** Where {@link codeDigest} keeps its answer between processes (a DownloadCache). */
export interface CodeDigestCache {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, bytes: Uint8Array): Promise<unknown>;
}

/**
 * A SHA-256 of the code this process runs, by path and content of every source or compiled file
 * (not type declarations nor maps) of the folder it was loaded from: `src/`, `dist/` or
 * `dist-action/`, the folder beside the package's package.json. The CLI's bundle (dist/cli/bundle)
 * is left out: it is made from dist/'s files, and its modules name those as theirs
 * (scripts/bundle-cli.ts). Undefined when that folder cannot be found or read: builds then keep
 * no record. Once per process; with `cache`, kept there under the files' versions
 * ({@link codeDigestFrom}).
 */
export async function codeDigest(cache?: CodeDigestCache): Promise<string | undefined> {
  code ??= codeDigestFrom(dirname(fileURLToPath(import.meta.url)), cache)
    .then((d) => d ?? '')
    .catch(() => '');
  const digest = await code;
  return digest === '' ? undefined : digest;
}

/**
 * {@link codeDigest} of the code whose module is in the folder `here`: undefined when no folder
 * above it is beside a package.json (Provenant bundled into something else, whose folder may hold
 * anything). Exported for tests.
 *
 * Reading and hashing the 4 MB of dist/ took 6 to 16 ms of every build, a tenth of a warm
 * one-package build; with `cache`, the digest is kept under a hash of each file's version (its
 * path, size, modification and change times and inode: {@link versionsOf}) and read back while no
 * file changed: a stat of each, a millisecond or two.
 */
export async function codeDigestFrom(here: string, cache?: CodeDigestCache): Promise<string | undefined> {
  let root = here;
  while (!existsSync(join(dirname(root), 'package.json'))) {
    if (dirname(root) === root) return undefined;
    root = dirname(root);
  }
  const files = readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && /\.(?:[cm]?js|ts|wasm|json)$/.test(d.name) && !d.name.endsWith('.d.ts'))
    .map((d) => join(d.parentPath, d.name))
    .filter((path) => !relative(root, path).startsWith(`cli${sep}bundle${sep}`))
    .sort();
  const versions = cache === undefined ? undefined : versionsOf(root, files);
  if (cache !== undefined) {
    const kept = await cache.get(`code-digest:${versions}`).catch(() => undefined);
    const text = kept === undefined ? '' : new TextDecoder().decode(kept);
    if (/^[0-9a-f]{64}$/.test(text)) return text;
  }
  const h = createHash('sha256').update(MEMO_FORMAT);
  for (const path of files) {
    const bytes = readFileSync(path);
    h.update(`\0${relative(root, path)}\0${bytes.length}\0`).update(bytes);
  }
  const digest = h.digest('hex');
  // Kept only when no file changed while it was read: else the digest is of neither version.
  if (versions !== undefined && versionsOf(root, files) === versions) {
    await cache?.put(`code-digest:${versions}`, new TextEncoder().encode(digest)).catch(() => {});
  }
  return digest;
}

/**
 * A hash of the versions of `files` (under `root`): each one's path, size, modification and
 * change times and inode. The change time is there for files whose modification time was pinned
 * (unpacked from an image built with SOURCE_DATE_EPOCH, as Provenant's own are): it is the
 * kernel's, and no one sets it.
 */
function versionsOf(root: string, files: readonly string[]): string {
  const v = createHash('sha256').update(`${MEMO_FORMAT}\0${root}`);
  for (const path of files) {
    const st = statSync(path, { bigint: true });
    v.update(`\0${relative(root, path)}\0${st.size}\0${st.mtimeNs}\0${st.ctimeNs}\0${st.ino}`);
  }
  return v.digest('hex');
}

/**
 * The record's key for a build's inputs (JSON values): see the module's comment for what they
 * must hold. Undefined when the code's digest is (no record is then taken or kept).
 */
export async function memoKey(inputs: Record<string, unknown>, cache?: CodeDigestCache): Promise<string | undefined> {
  const digest = await codeDigest(cache);
  if (digest === undefined) return undefined;
  return createHash('sha256')
    .update(JSON.stringify({ format: MEMO_FORMAT, code: digest, ...inputs }))
    .digest('hex');
}

/**
 * The image an earlier build with these inputs made, when the cache still holds its record, its
 * file lists and every one of its layers; undefined otherwise (the build then makes it).
 */
export async function recallImage(cache: DownloadCache, key: string): Promise<RecalledImage | undefined> {
  const bytes = await cache.get(`image-memo:${key}`).catch(() => undefined);
  if (bytes === undefined) return undefined;
  let memo: Memo;
  try {
    memo = JSON.parse(new TextDecoder().decode(bytes)) as Memo;
  } catch {
    return undefined;
  }
  if (memo?.format !== MEMO_FORMAT || ![memo.layers, memo.packages, memo.fetched].every(Array.isArray)) return undefined;
  const lists = await cache.locate(`image-memo-files:${key}`);
  if (lists === undefined || lists.sha256 !== memo.files) return undefined;
  const layers: Layer[] = [];
  for (const layerKey of memo.layers) {
    const layer = await keptLayer(cache, layerKey);
    if (layer === undefined) return undefined;
    layers.push(layer);
  }
  const packages = memo.packages.map((p) => ({ ...p, files: [] }) as InstalledPackage);
  withFilesFrom(packages, lists.path, lists.sha256);
  return { fetched: memo.fetched, packages, layers, osRelease: memo.osRelease, user: memo.user };
}

/**
 * Keeps what a build made of its inputs under `key`. Nothing is kept when a layer is not kept in
 * the cache itself; a cache that cannot be written only makes the next build slower.
 */
export async function rememberImage(
  cache: DownloadCache,
  key: string,
  made: {
    fetched: readonly FetchedPackage[];
    packages: readonly InstalledPackage[];
    layers: readonly Layer[];
    osRelease: string;
    user?: string | undefined;
  },
): Promise<void> {
  const layers = made.layers.map((l) => l.key);
  if (layers.some((k) => k === undefined)) return;
  try {
    // A package's files at a time: a list of every file of the image, made whole, is what the
    // record is there to spare.
    const writer = await cache.writer();
    let files: string;
    try {
      for (const p of made.packages) noteRecordsDropped(await writeJsonLine(writer, inventoryFilesOf(p)()));
      files = (await writer.finish(`image-memo-files:${key}`)).sha256;
    } catch (err) {
      await writer.abort();
      throw err;
    }
    const memo: Memo = {
      format: MEMO_FORMAT,
      fetched: made.fetched.map((f) => ({ locked: f.locked, sha256: f.sha256, size: f.size })),
      packages: made.packages.map((p) => installedFieldsBut(p, FILES) as Omit<InstalledPackage, 'files'>),
      files,
      layers: layers as string[],
      osRelease: made.osRelease,
      ...(made.user === undefined ? {} : { user: made.user }),
    };
    await cache.put(`image-memo:${key}`, new TextEncoder().encode(JSON.stringify(memo)));
  } catch {
    // Kept or not, the image is the same.
  }
}

/**
 * Writes `list` as `JSON.stringify([...list])` and a newline give it (for items whose `toJSON`,
 * if any, does not read the key it is given: an index there), in pieces of about 64 KiB, and
 * says how many items it wrote: the text of a package's whole list, and its bytes, were twice
 * the list again, and the peak of a build whose packages hold thousands of files each (issue
 * 16). A list made as it is walked is never held whole. @internal
 */
export async function writeJsonLine(writer: { write(chunk: Uint8Array): Promise<unknown> }, list: Iterable<unknown>): Promise<number> {
  const encoder = new TextEncoder();
  let text = '[';
  let i = 0;
  for (const item of list) {
    text += `${i++ === 0 ? '' : ','}${JSON.stringify(item) ?? 'null'}`;
    if (text.length < JSON_PIECE) continue;
    await writer.write(encoder.encode(text));
    text = '';
  }
  await writer.write(encoder.encode(`${text}]\n`));
  return i;
}

/** Characters of a list's text written at once ({@link writeJsonLine}). */
const JSON_PIECE = 64 * 1024;

/** What a record keeps apart of each package (its file lists' file). */
const FILES = new Set(['files']);

/**
 * Gives each package `files` read from the lists' file when first asked for (all at once, then
 * held). Set, it is a list as any other.
 *
 * @throws ProvenantError (from the getter) `IO` when the file is gone, `DIGEST_MISMATCH` when
 *   it is not the one recorded
 */
function withFilesFrom(packages: InstalledPackage[], path: string, sha256: string): void {
  let lists: InventoryFile[][] | undefined;
  const load = (): InventoryFile[][] => {
    lists ??= readLists(path, sha256, packages.length);
    return lists;
  };
  for (const [i, record] of packages.entries()) filesOnDemand(record, () => load()[i]!);
}

function readLists(path: string, sha256: string, count: number): InventoryFile[][] {
  const hint = 'the build cache was changed since the build that kept it; remove it, or build with --layer-cache false';
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new ProvenantError('IO', `cannot read the packages' file lists an earlier build kept: ${(err as Error).message}`, {
      where: path,
      hint,
      cause: err,
    });
  }
  const lines = new TextDecoder().decode(bytes).split('\n');
  if (createHash('sha256').update(bytes).digest('hex') !== sha256 || lines.length !== count + 1) {
    throw new ProvenantError('DIGEST_MISMATCH', "the packages' file lists an earlier build kept are not the ones it recorded", {
      where: path,
      hint,
    });
  }
  return lines.slice(0, count).map((line) => JSON.parse(line) as InventoryFile[]);
}
