/**
 * Files of two flattened filesystems, compared path by path, and the text diffs of small changed
 * text files, read in a second, targeted pass so that no body is held while the layers are walked.
 */
import { createHash } from 'node:crypto';
import { printableLine } from '../bytes.ts';
import { throwIfAborted } from '../errors.ts';
import type { OperationOptions } from '../io/types.ts';
import type { Descriptor } from '../oci/types.ts';
import type { ContentStore } from '../store/types.ts';
import { compareText } from './diff-config.ts';
import { unifiedDiff } from './diff-text.ts';
import type { FileChange, FileDiff, FileEntry } from './diff-types.ts';
import { applyLayer, type FileRecord, LayerFilesystem, ROOT } from './filesystem.ts';

/** One side's filesystem and what names its paths. */
export interface FilesSide {
  fs: LayerFilesystem;
  layers: readonly Descriptor[];
  /** Path (no leading `/`) → owning package. */
  owners: ReadonlyMap<string, string>;
}

/** The record fields compared, in the order a change lists them. */
const FIELDS = ['type', 'mode', 'uid', 'gid', 'size', 'sha256', 'linkname', 'device', 'xattrs', 'mtime'] as const;

/**
 * Paths only in A (removed), only in B (added) and in both with a different record, sorted.
 * Records that are the same object (from a shared layer prefix, read once) are equal without
 * looking.
 *
 * A folder that one image has an entry for and the other only implies (it has paths under it
 * but no entry) is in both containers: `./etc/` written by one tool and left out by another is
 * not a removed folder, as container-diff, which compares the unpacked folders, would agree. The
 * implied one's mode and owner are whatever the runtime gives it (moby's UnpackLayer has used
 * 0600, containerd's applier 0700), so there is nothing in the image to compare it with;
 * such folders are listed in `implied` instead. The root is in every container and is never
 * listed.
 */
export function compareFiles(a: FilesSide, b: FilesSide, options: { ignoreTimestamps?: boolean | undefined } = {}): FileDiff {
  const out: FileDiff = { added: [], removed: [], changed: [] };
  const implied: string[] = [];
  const fields = options.ignoreTimestamps === true ? FIELDS.filter((f) => f !== 'mtime') : FIELDS;
  const paths = new Set<string>(a.fs.paths());
  for (const p of b.fs.paths()) paths.add(p);
  for (const path of sortPaths(paths)) {
    const ra = a.fs.get(path);
    const rb = b.fs.get(path);
    if (ra === rb) continue;
    if (ra === undefined || rb === undefined) {
      if (path === ROOT) continue;
      const only = ra ?? rb;
      if (only?.type === 'dir' && (ra === undefined ? a.fs : b.fs).isImplied(path)) {
        implied.push(display(path));
        continue;
      }
    }
    if (ra === undefined) {
      out.added.push(entry(path, rb as FileRecord, b));
      continue;
    }
    if (rb === undefined) {
      out.removed.push(entry(path, ra, a));
      continue;
    }
    const differ = fields.filter((f) =>
      f === 'xattrs' ? JSON.stringify(ra.xattrs ?? {}) !== JSON.stringify(rb.xattrs ?? {}) : ra[f] !== rb[f],
    );
    if (differ.length === 0) continue;
    const change: FileChange = { path: display(path), fields: differ, a: entry(path, ra, a), b: entry(path, rb, b) };
    const owner = b.owners.get(path) ?? a.owners.get(path);
    if (owner !== undefined) change.package = owner;
    out.changed.push(change);
  }
  if (implied.length > 0) out.implied = implied;
  return out;
}

/**
 * Paths in the order `find` lists them: a folder before what is in it (`a/b` before `a-b`, which
 * plain string order would put first). The sort keys are made once, not per comparison.
 */
function sortPaths(paths: Iterable<string>): string[] {
  const keyed = [...paths].map((p) => [p === ROOT ? '' : `\0${p.replaceAll('/', '\0')}`, p] as const);
  keyed.sort(([x], [y]) => compareText(x, y));
  return keyed.map(([, p]) => p);
}

function display(path: string): string {
  return path === ROOT ? '/' : `/${path}`;
}

function entry(path: string, r: FileRecord, side: FilesSide): FileEntry {
  const e: FileEntry = {
    path: display(path),
    type: r.type,
    mode: r.mode,
    uid: r.uid,
    gid: r.gid,
    size: r.size,
    mtime: r.mtime,
    layer: r.layer,
    layerDigest: side.layers[r.layer]?.digest ?? ('' as FileEntry['layerDigest']),
  };
  if (r.sha256 !== undefined) e.sha256 = r.sha256;
  // A hardlink's target is a path of the image, shown as paths are; a symlink's is as written.
  if (r.linkname !== '') e.linkname = r.type === 'hardlink' ? display(r.linkname) : r.linkname;
  if (r.device !== undefined) e.device = r.device;
  if (r.xattrs !== undefined) e.xattrs = r.xattrs;
  const owner = side.owners.get(path);
  if (owner !== undefined) e.package = owner;
  return e;
}

/** Text diffs are made for files of at most this many bytes on both sides. */
export const TEXT_DIFF_LIMIT = 64 * 1024;
/**
 * The bodies read for text diffs, per side: files past it (in path order) are skipped as too
 * large, so that a layer of a million small changed files cannot fill memory.
 */
export const TEXT_DIFF_BUDGET = 32 * 1024 * 1024;

/** A store and its layers, for reading bodies again, and the filesystem read from them. */
export interface BodySource {
  store: ContentStore;
  layers: readonly Descriptor[];
  name: string;
  /** Whose records say under which name each layer has a path ({@link FileRecord.entryName}). */
  fs: LayerFilesystem;
}

/**
 * Adds `textDiff` (or `textDiffSkipped`) to each changed regular file whose content differs. The
 * bodies are read again from just the layers the two records came from, keeping only those
 * paths, so memory holds at most the changed small files.
 */
export async function addTextDiffs(changes: FileChange[], a: BodySource, b: BodySource, options: OperationOptions): Promise<void> {
  const wanted = changes.filter((c) => c.a.type === 'file' && c.b.type === 'file' && c.a.sha256 !== c.b.sha256);
  const small: FileChange[] = [];
  let sizeA = 0;
  let sizeB = 0;
  for (const c of wanted) {
    const fits = c.a.size <= TEXT_DIFF_LIMIT && c.b.size <= TEXT_DIFF_LIMIT;
    if (!fits || sizeA + c.a.size > TEXT_DIFF_BUDGET || sizeB + c.b.size > TEXT_DIFF_BUDGET) c.textDiffSkipped = 'too large';
    else {
      small.push(c);
      sizeA += c.a.size;
      sizeB += c.b.size;
    }
  }
  if (small.length === 0) return;
  const bodiesA = await readBodies(
    a,
    small.map((c) => c.a),
    options,
  );
  const bodiesB = await readBodies(
    b,
    small.map((c) => c.b),
    options,
  );
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const text = (bytes: Uint8Array | undefined): string | undefined => {
    if (bytes === undefined || bytes.includes(0)) return undefined;
    try {
      return decoder.decode(bytes);
    } catch {
      return undefined;
    }
  };
  for (const c of small) {
    const ba = bodiesA.get(`${c.a.layer}\0${c.path}`);
    const bb = bodiesB.get(`${c.b.layer}\0${c.path}`);
    if (ba === undefined || bb === undefined) {
      c.textDiffSkipped = 'not found again';
      continue;
    }
    const ta = text(ba);
    const tb = text(bb);
    if (ta === undefined || tb === undefined) c.textDiffSkipped = 'binary';
    else c.textDiff = unifiedDiff(ta, tb, `a${printableLine(c.path)}`, `b${printableLine(c.path)}`);
  }
}

/** The bodies of `entries`, keyed `layer\0/path`, reading each layer they name once. */
async function readBodies(side: BodySource, entries: readonly FileEntry[], options: OperationOptions): Promise<Map<string, Uint8Array>> {
  /** Layer → the entry's name in it → the path it has in the image. */
  const byLayer = new Map<number, Map<string, string>>();
  /** The SHA-256 each body must have, keyed as the result is. */
  const expected = new Map<string, string>();
  for (const e of entries) {
    if (e.sha256 !== undefined) expected.set(`${e.layer}\0${e.path}`, e.sha256);
    const names = byLayer.get(e.layer) ?? new Map<string, string>();
    const path = e.path.slice(1);
    // A layer read alone does not see the symlinks of the layers below, which may have taken the
    // entry elsewhere: it is found by the name it was written under.
    names.set(side.fs.get(path)?.entryName ?? path, path);
    byLayer.set(e.layer, names);
  }
  const out = new Map<string, Uint8Array>();
  for (const [index, names] of [...byLayer].sort(([x], [y]) => x - y)) {
    throwIfAborted(options.signal);
    const layer = side.layers[index];
    if (layer === undefined) continue;
    // Within one layer the last entry for a path wins, as it did in the first pass.
    const scratch = new LayerFilesystem();
    await applyLayer(scratch, side.store, layer, {
      ...options,
      index,
      hash: false,
      asWritten: true,
      keep: (p) => names.has(p),
      where: `${side.name}@${layer.digest}`,
    });
    for (const [name, path] of names) {
      const body = scratch.body(name);
      // Found by its name as written, which a layer that points a folder elsewhere between two
      // entries of one name does not tell apart: a body is the file's only when its digest is.
      const want = expected.get(`${index}\0/${path}`);
      if (body !== undefined && (want === undefined || createHash('sha256').update(body).digest('hex') === want))
        out.set(`${index}\0/${path}`, body);
    }
  }
  return out;
}
