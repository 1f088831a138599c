/**
 * Reading Debian binary packages (.deb, format 2.0 of deb(5)): an ar archive of `debian-binary`,
 * `control.tar[.gz|.xz|.zst]` and `data.tar[.gz|.xz|.zst]`.
 *
 * The chain of trust: a .deb carries no signature of its own. The repository's InRelease is
 * signed, it lists the Packages index with its SHA-256, and Packages lists each .deb's SHA-256;
 * {@link readDeb} checks that last link (`expectedSha256`) before reading anything else. The
 * control member's `md5sums` is then checked against the files of the data member, which catches
 * a package inconsistent with itself (MD5 is no security check; the SHA-256 is).
 *
 * Maintainer scripts are kept as data and never run: a build records what they would have made
 * declaratively (see build/deb-install.ts).
 */
import { createHash } from 'node:crypto';
import * as zlib from 'node:zlib';
import { cleanEntryPath, refuseLinkTarget, refuseWhiteoutEntry } from '../../archive/paths.ts';
import { readTar, type TarHeader } from '../../archive/tar.ts';
import { collectBytes } from '../../bytes.ts';
import { ProvenantError } from '../../errors.ts';
import { digestHex, digestOf } from '../../oci/digest.ts';
import type { FileBody } from '../../vfs/body.ts';
import type { PackageEntry } from '../unpacked.ts';
import { readAr } from './ar.ts';
import { parseControlStanzas } from './control.ts';
import { parseDebVersion } from './version.ts';
import { decompressXz } from './xz.ts';

/** How a member of a .deb is compressed, by its name's suffix. */
export type DebCompression = 'none' | 'gzip' | 'xz' | 'zstd' | 'bzip2' | 'lzma';

/** The control files that dpkg runs or acts on at install time, which a build never runs. */
export type DebScriptName = 'preinst' | 'postinst' | 'prerm' | 'postrm' | 'config' | 'triggers';

/** Every {@link DebScriptName}, in the order dpkg would use them on a fresh install. */
const DEB_SCRIPTS: readonly DebScriptName[] = ['config', 'preinst', 'postinst', 'triggers', 'prerm', 'postrm'];

/** A decoder for xz (`.xz`) data, supplied by the caller: Node has none built in. */
export type XzDecoder = (bytes: Uint8Array) => Promise<Uint8Array>;

/**
 * A file, folder or link from the data member, its path cleaned and checked (`linkname` of a
 * hardlink as stored; `hardlinkTarget` cleaned); a file's body in memory, or in the build's cache
 * once the package is kept unpacked there (../unpacked.ts).
 */
export type DebDataEntry = PackageEntry;

/** Where a member lies in the .deb and how it is compressed. */
export interface DebMemberInfo {
  name: string;
  compression: DebCompression;
  /** Byte offset of the member's ar header in the file. */
  offset: number;
  /** Compressed size in bytes. */
  size: number;
}

/** A read and checked .deb. */
export interface DebPackage {
  /** SHA-256 (hex) of the whole file, as Packages lists it. */
  sha256: string;
  /** Size of the whole file in bytes. */
  size: number;
  /** The first line of `debian-binary`, e.g. `2.0`. */
  formatVersion: string;
  /** `Package`, `Version`, `Architecture` and `Multi-Arch` (absent when the control file has none). */
  name: string;
  version: string;
  architecture: string;
  multiArch: string | undefined;
  /** Every field of the control file, names lowercased (see `parseControlStanzas`). */
  control: Record<string, string>;
  /** The control file's exact bytes. */
  controlBytes: Uint8Array;
  /**
   * `md5sums` parsed: cleaned path → lowercase MD5. Empty when the package has none. A Map as
   * read; for a package kept in the cache, parsed again from the cache at each use (./kept.ts).
   */
  md5sums: ReadonlyMap<string, string>;
  /**
   * The `md5sums` file's exact bytes, when the package has one. For a package kept in the cache,
   * read from there when asked.
   *
   * @throws ProvenantError `IO` or `DIGEST_MISMATCH` when read from the cache and it is gone or damaged
   */
  md5sumsBytes: Uint8Array | undefined;
  /**
   * Where the `md5sums` file lies in the cache, for a package kept there (./kept.ts): its
   * status.d copy points there rather than holding the bytes for the build.
   */
  md5sumsFile?: FileBody | undefined;
  /** `conffiles`, one line each (a path, possibly after a flag such as `remove-on-upgrade`). */
  conffiles: string[];
  /** The maintainer scripts and `triggers` file the package has, by name: kept, never run. */
  scripts: Map<DebScriptName, Uint8Array>;
  /**
   * Every regular file of the control member by its cleaned name (control, md5sums, shlibs,
   * templates...); for a package kept in the cache, each read from there when asked (./kept.ts).
   */
  controlFiles: ReadonlyMap<string, Uint8Array>;
  /**
   * Data entries in archive order (the root `./` left out): a list once read, made as they are
   * walked once kept (../unpacked.ts).
   */
  entries: Iterable<DebDataEntry>;
  /** The data member unpacked, which the entries were read from; absent once kept in the cache. */
  dataTar?: Uint8Array | undefined;
  /** The control and data members, and the names of members that were ignored (`_*`, or after data). */
  members: { control: DebMemberInfo; data: DebMemberInfo; ignored: string[] };
}

/** Options of {@link readDeb}. */
export interface ReadDebOptions {
  /** Where the package comes from (a path, URL without credentials or `name_version_arch`), for errors. */
  where: string;
  /** The SHA-256 (hex) that the verified Packages index gives; checked before anything is read. */
  expectedSha256?: string | undefined;
  /** Where `expectedSha256` comes from (`the lock image.lock.json`, `the verified Packages index`), for the error when the file does not have it. */
  checksumFrom?: string | undefined;
  /** Decodes xz members; by default `decompressXz` of ./xz.ts (xz-embedded in WebAssembly). */
  decompressXz?: XzDecoder | undefined;
  /** The most bytes one member may unpack to (2 GiB by default), against decompression bombs. */
  maxUnpackedSize?: number | undefined;
  /**
   * Keeps unpacked members between reads (a build's download cache), so that a package read again
   * is not decompressed again. A member comes out of it only for the package of the same SHA-256,
   * and goes in only once the whole package was read and every file matched `md5sums`; the files
   * of a data member from it are not checked against `md5sums` again. Used only for compressed
   * members.
   */
  memberCache?: DebMemberCache | undefined;
}

/** Unpacked control and data members (their tar), by the SHA-256 (hex) of the .deb: see {@link ReadDebOptions.memberCache}. */
export interface DebMemberCache {
  get(sha256: string, member: 'control' | 'data'): Promise<Uint8Array | undefined>;
  put(sha256: string, member: 'control' | 'data', tar: Uint8Array): Promise<void>;
}

export const DEFAULT_MAX_UNPACKED = 2 * 1024 * 1024 * 1024;
/** The most bytes a (compressed) control member may take. */
const CONTROL_MAX = 64 * 1024 * 1024;
/**
 * The most bytes a control member may unpack to (or `maxUnpackedSize`, when smaller). It is read
 * whole into memory, and parsed (md5sums split into lines): capped only by the data member's
 * 2 GiB, a 1.5 MB .deb of a gzipped run of zeros took 3.2 GB. What is large in a real one is
 * `md5sums`, a line for each file (the MD5, two spaces, the path): 5.1 MB for google-cloud-cli's
 * 45,000 files, the largest we have seen; 100,000 files of 100-byte paths, more than any
 * package we know of holds, would make 13 MB. 64 MiB leaves a margin of five over that; debconf's
 * `templates` and the scripts are a few hundred KB at most.
 */
export const CONTROL_UNPACKED_MAX = 64 * 1024 * 1024;
const SUFFIXES: Record<string, DebCompression> = {
  '': 'none',
  '.gz': 'gzip',
  '.xz': 'xz',
  '.zst': 'zstd',
  '.bz2': 'bzip2',
  '.lzma': 'lzma',
};
/** What dpkg accepts for each member (deb(5)): bzip2 and lzma data only, and only in old packages. */
const ACCEPTED: Record<'control' | 'data', readonly DebCompression[]> = {
  control: ['none', 'gzip', 'xz', 'zstd'],
  data: ['none', 'gzip', 'xz', 'zstd', 'bzip2', 'lzma'],
};
const fromUtf8 = new TextDecoder('utf-8');

/**
 * Reads and checks a .deb held in memory.
 *
 * @throws ProvenantError `DIGEST_MISMATCH` when the file's SHA-256 is not `expectedSha256` or a
 *   file's MD5 is not what `md5sums` says; `UNSAFE_PATH` for a data path or hardlink target that
 *   leaves the root; `INVALID_PACKAGE` for a malformed package, a compression that is not
 *   supported (bzip2, lzma, zstd before Node 22.15) or a member that unpacks to more than
 *   `maxUnpackedSize`; `USAGE` for a malformed `expectedSha256`; `INVALID_ARCHIVE` or
 *   `TRUNCATED` from the ar and tar readers
 */
export async function readDeb(bytes: Uint8Array, options: ReadDebOptions): Promise<DebPackage & { entries: DebDataEntry[] }> {
  const { where } = options;
  const sha256 = checkSha256(digestHex(digestOf(bytes)), options.expectedSha256, where, options.checksumFrom);
  const { formatVersion, control, data, ignored } = debMembers(
    readAr(bytes, { where }).map((m) => ({ ...m, size: m.data.length })),
    (m, n) => m.data.subarray(0, n),
    where,
  );
  const max = options.maxUnpackedSize ?? DEFAULT_MAX_UNPACKED;
  const cache = options.memberCache;
  const controlCacheable = cache !== undefined && control.info.compression !== 'none';
  const controlCached = controlCacheable ? await cache.get(sha256, 'control') : undefined;
  const controlTar = controlCached ?? (await decompress(control.member.data, control.info, options, controlMax(max)));
  const controlFiles = await readControlFiles(controlTar, control.info.name, where);
  const meta = controlOf(controlFiles, where);

  const dataCacheable = cache !== undefined && data.info.compression !== 'none';
  const cached = dataCacheable ? await cache.get(sha256, 'data') : undefined;
  const dataTar = cached ?? (await decompress(data.member.data, data.info, options, max));
  const { entries, files } = await readDataEntries(dataTar, data.info.name, where);
  // Members from the cache were checked before they were stored.
  checkMd5sums(meta.md5sums, files, cached !== undefined, where);
  if (controlCacheable && controlCached === undefined) await cache.put(sha256, 'control', controlTar);
  if (dataCacheable && cached === undefined) await cache.put(sha256, 'data', dataTar);

  const members = { control: control.info, data: data.info, ignored };
  return { ...debPackageFacts(sha256, bytes.length, formatVersion, meta, controlFiles, members), entries, dataTar };
}

/** What a read .deb is, but its entries and data tar: from its control member (`meta`, {@link controlOf}) and its members. */
export function debPackageFacts(
  sha256: string,
  size: number,
  formatVersion: string,
  meta: ReturnType<typeof controlOf>,
  controlFiles: Map<string, Uint8Array>,
  members: DebPackage['members'],
): Omit<DebPackage, 'entries' | 'dataTar'> {
  return {
    sha256,
    size,
    formatVersion,
    name: meta.name,
    version: meta.version,
    architecture: meta.architecture,
    multiArch: meta.fields['multi-arch'],
    control: meta.fields,
    controlBytes: meta.controlBytes,
    md5sums: meta.md5sums,
    md5sumsBytes: meta.md5sumsBytes,
    conffiles: meta.conffiles,
    scripts: meta.scripts,
    controlFiles,
    members,
  };
}

/**
 * `sha256`, the SHA-256 (hex) of a .deb, checked against `expectedSha256` when given; the error
 * names where that came from (`from`: the lock, or the Packages index a build without one
 * resolved the package from).
 */
export function checkSha256(sha256: string, expectedSha256: string | undefined, where: string, from?: string): string {
  if (expectedSha256 !== undefined) {
    const expected = expectedSha256.toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(expected)) {
      throw new ProvenantError('USAGE', `the expected SHA-256 ${JSON.stringify(expectedSha256)} is not 64 hex digits`, { where });
    }
    if (sha256 !== expected) {
      const said = from === undefined ? `expected ${expected}` : `${from} names ${expected}`;
      throw new ProvenantError('DIGEST_MISMATCH', `the package's SHA-256 is ${sha256}, ${said}`, { where, hint: debMismatchHint(from) });
    }
  }
  return sha256;
}

/** The hint for a .deb that does not have the SHA-256 `from` names (see {@link checkSha256}). */
export function debMismatchHint(from: string | undefined): string {
  return from?.startsWith('the lock') === true
    ? 'the file is not the one the lock names: it was changed since the lock was made, or the mirror is inconsistent (lock again if the new file is the right one)'
    : 'the file is not the one the verified Packages index lists: it was changed or cut short, or the mirror is being updated; try again';
}

/** A member of a .deb as {@link debMembers} needs it: name, header offset and body size. */
interface DebArMember {
  name: string;
  offset: number;
  size: number;
}

/**
 * The ar members of a .deb (deb(5)): debian-binary 2.x, control.tar, data.tar, and the ignored
 * ones; `head(m, n)` gives the first `n` bytes (fewer when it is shorter) of member `m`'s body.
 */
export function debMembers<M extends DebArMember>(
  members: readonly M[],
  head: (m: M, n: number) => Uint8Array,
  where: string,
): {
  formatVersion: string;
  control: { member: M; info: DebMemberInfo };
  data: { member: M; info: DebMemberInfo };
  ignored: string[];
} {
  const invalid = (why: string, hint?: string): ProvenantError => new ProvenantError('INVALID_PACKAGE', why, { where, hint });
  const first = members[0];
  if (first?.name !== 'debian-binary') {
    throw invalid(
      `the first member of a .deb is "debian-binary", not ${first === undefined ? 'nothing' : JSON.stringify(first.name)}`,
      'the file is not a Debian binary package',
    );
  }
  // deb(5): "2.0\n"; readers must accept a higher minor version and ignore lines that follow.
  const start = head(first, 64);
  const version = /^(2\.\d+)\n/.exec(fromUtf8.decode(start));
  if (version === null) {
    throw invalid(
      `debian-binary says ${JSON.stringify(fromUtf8.decode(start.subarray(0, 16)))}, not format 2.x`,
      'only the deb 2.x format (every .deb since 1995) is supported',
    );
  }
  const ignored: string[] = [];
  let i = 1;
  const nextRequired = (kind: 'control' | 'data'): { member: M; info: DebMemberInfo } => {
    // deb(5): members that older readers must skip go between the required ones, named `_...`.
    while (members[i]?.name.startsWith('_')) ignored.push(members[i++]!.name);
    const member = members[i++];
    const m = member === undefined ? null : /^(control|data)\.tar(.*)$/.exec(member.name);
    if (member === undefined || m === null || m[1] !== kind) {
      throw invalid(
        `the .deb has ${member === undefined ? 'no member' : `the member ${JSON.stringify(member.name)}`} where ${kind}.tar[.gz|.xz|.zst] belongs`,
      );
    }
    const compression = SUFFIXES[m[2]!];
    if (compression === undefined || !Object.hasOwn(SUFFIXES, m[2]!) || !ACCEPTED[kind].includes(compression)) {
      throw invalid(`the member ${JSON.stringify(member.name)} has a compression that a .deb does not use`);
    }
    return { member, info: { name: member.name, compression, offset: member.offset, size: member.size } };
  };
  const control = nextRequired('control');
  // The control member is read whole (its files are kept whole: the control file, md5sums,
  // scripts); a few KiB in practice.
  if (control.member.size > CONTROL_MAX) {
    throw invalid(`the control member ${control.member.name} is ${control.member.size} bytes, more than the limit of ${CONTROL_MAX}`);
  }
  const data = nextRequired('data');
  // deb(5): members after data.tar are for future use, and readers ignore them.
  for (const m of members.slice(i)) ignored.push(m.name);
  return { formatVersion: version[1]!, control, data, ignored };
}

/** The files of the control member, by name; it may hold nothing but files (and folders). */
export async function readControlFiles(tar: Uint8Array, member: string, where: string): Promise<Map<string, Uint8Array>> {
  const controlFiles = new Map<string, Uint8Array>();
  for await (const entry of readTar([tar], { where: `${where}: ${member}` })) {
    const name = cleanEntryPath(entry.header.name, `${where}: ${member}: ${entry.header.name}`);
    const body = await collectBytes(entry.body);
    if (entry.header.type === 'dir') continue;
    if (entry.header.type !== 'file') {
      throw new ProvenantError(
        'INVALID_PACKAGE',
        `the control member holds ${JSON.stringify(entry.header.name)}, a ${entry.header.type}; it may only hold files`,
        { where },
      );
    }
    controlFiles.set(name, body);
  }
  return controlFiles;
}

/** The control file's fields (name, version and architecture checked as dpkg checks them), md5sums, conffiles and scripts. */
export function controlOf(controlFiles: ReadonlyMap<string, Uint8Array>, where: string) {
  const invalid = (why: string): ProvenantError => new ProvenantError('INVALID_PACKAGE', why, { where });
  const controlBytes = controlFiles.get('control');
  if (controlBytes === undefined) throw invalid('the control member has no "control" file');
  const stanzas = parseControlStanzas(fromUtf8.decode(controlBytes), `${where}: control`);
  if (stanzas.length !== 1) throw invalid(`the control file holds ${stanzas.length} stanzas, not 1`);
  const fields = stanzas[0]!;
  const name = fields.package ?? '';
  const version = fields.version ?? '';
  const architecture = fields.architecture ?? '';
  // The name becomes a file name (status.d/<name>), so it is held to dpkg's grammar
  // (pkg_name_is_invalid in lib/dpkg/parsehelp.c), which leaves no room for "/" or "..".
  if (!/^[A-Za-z0-9][A-Za-z0-9+._-]*$/.test(name))
    throw invalid(`the control file's Package ${JSON.stringify(name)} is not a valid package name`);
  // What dpkg refuses (it only warns about an upstream part not starting with a digit, say).
  parseDebVersion(version, `${where}: control`);
  if (!/^[a-z0-9][a-z0-9-]*$/.test(architecture)) {
    throw invalid(`the control file's Architecture ${JSON.stringify(architecture)} of ${name} is not a valid architecture`);
  }
  const md5sumsBytes = controlFiles.get('md5sums');
  const md5sums = md5sumsBytes === undefined ? new Map<string, string>() : parseMd5sums(fromUtf8.decode(md5sumsBytes), `${where}: md5sums`);
  const conffilesBytes = controlFiles.get('conffiles');
  const conffiles =
    conffilesBytes === undefined
      ? []
      : fromUtf8
          .decode(conffilesBytes)
          .split('\n')
          .map((l) => l.trim())
          .filter((l) => l !== '');
  const scripts = new Map<DebScriptName, Uint8Array>();
  for (const s of DEB_SCRIPTS) {
    const body = controlFiles.get(s);
    if (body !== undefined) scripts.set(s, body);
  }
  return { fields, name, version, architecture, controlBytes, md5sums, md5sumsBytes, conffiles, scripts };
}

/** The data member's entries, and the body of each file (a hardlink shares its target's). */
async function readDataEntries(
  tar: Uint8Array,
  member: string,
  where: string,
): Promise<{ entries: DebDataEntry[]; files: Map<string, Uint8Array> }> {
  const entries: DebDataEntry[] = [];
  const files = new Map<string, Uint8Array>();
  for await (const entry of readTar([tar], { where: `${where}: ${member}` })) {
    const h = entry.header;
    const at = `${where}: ${h.name}`;
    const path = debEntryPath(h.name, h, at, where);
    const body = await collectBytes(entry.body);
    if (path === '.') continue;
    let hardlinkTarget: string | undefined;
    if (h.type === 'hardlink') {
      hardlinkTarget = linkToEarlier(files, path, h.linkname, at, where);
    } else if (h.type === 'file') {
      files.set(path, body);
    } else {
      files.delete(path);
    }
    entries.push(hardlinkTarget === undefined ? { path, header: h, body } : { path, header: h, hardlinkTarget, body });
  }
  return { entries, files };
}

/**
 * A data entry's name as a path in the image ({@link cleanEntryPath}; `at` names the entry),
 * refused when a part of it starts with `.wh.`, which a layer takes for a whiteout
 * ({@link refuseWhiteoutEntry}), or when its link target is none a link may have: empty, with a
 * NUL, too long ({@link refuseLinkTarget}).
 *
 * @throws ProvenantError `UNSAFE_PATH`
 */
export function debEntryPath(name: string, link: Pick<TarHeader, 'type' | 'linkname'>, at: string, where: string): string {
  const path = cleanEntryPath(name, at);
  refuseWhiteoutEntry(path, name, where);
  refuseLinkTarget(link, name, where);
  return path;
}

/**
 * The target of the hardlink at `path` (its `linkname`, cleaned; `at` names the entry), which must
 * be an earlier file of the package in `files`: the hardlink is then a file of it too, with the
 * target's contents (bytes, or their MD5).
 *
 * @throws ProvenantError `UNSAFE_PATH` for a target outside the package's earlier files
 */
export function linkToEarlier<T>(files: Map<string, T>, path: string, linkname: string, at: string, where: string): string {
  const target = cleanEntryPath(linkname, at);
  const contents = files.get(target);
  if (contents === undefined) {
    throw new ProvenantError('UNSAFE_PATH', `the hardlink /${path} points at /${target}, which is not an earlier file of the package`, {
      where,
      hint: 'a hardlink in a package may only link to a file the same package put there before',
    });
  }
  files.set(path, contents);
  return target;
}

/**
 * Every path md5sums lists is a file of the package, with that MD5 unless `trusted` (from the
 * cache); `files` gives each file's body, or its MD5 (hex) already taken.
 */
export function checkMd5sums(
  md5sums: ReadonlyMap<string, string>,
  files: ReadonlyMap<string, Uint8Array | string>,
  trusted: boolean,
  where: string,
): void {
  for (const [path, md5] of md5sums) {
    const body = files.get(path);
    if (body === undefined)
      throw new ProvenantError('INVALID_PACKAGE', `md5sums lists /${path}, which is not a file of the package`, { where });
    if (trusted) continue;
    const actual = typeof body === 'string' ? body : createHash('md5').update(body).digest('hex');
    if (actual !== md5) {
      throw new ProvenantError('DIGEST_MISMATCH', `the file /${path} has MD5 ${actual}, md5sums says ${md5}`, {
        where,
        hint: 'the files of the package were changed after it was built',
      });
    }
  }
}

/**
 * Parses a package's `md5sums`: `<32 hex digits>  <path>` lines (md5sum's text format; a `*`
 * for binary mode is accepted in place of the second space). Paths are cleaned.
 *
 * @throws ProvenantError `INVALID_PACKAGE` naming the line for a malformed line; `UNSAFE_PATH`
 *   for a path that leaves the root
 */
export function parseMd5sums(text: string, where: string): Map<string, string> {
  const out = new Map<string, string>();
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = (lines[n] ?? '').replace(/\r$/, '');
    if (line.trim() === '') continue;
    const m = /^([0-9a-fA-F]{32}) [ *](.+)$/.exec(line);
    if (m === null) {
      throw new ProvenantError('INVALID_PACKAGE', `line ${n + 1} is not "<md5>  <path>": ${JSON.stringify(line.slice(0, 80))}`, {
        where: `${where}:${n + 1}`,
      });
    }
    out.set(cleanEntryPath(m[2]!, `${where}:${n + 1}`), m[1]!.toLowerCase());
  }
  return out;
}

/** The most bytes the control member may unpack to when a member may unpack to `max` ({@link CONTROL_UNPACKED_MAX}). */
export function controlMax(max: number): number {
  return Math.min(max, CONTROL_UNPACKED_MAX);
}

/** The errors of a member that cannot be unpacked: {@link decompress}'s, and ./stream.ts's. */
export function memberErrors(info: DebMemberInfo, where: string, max: number) {
  const unsupported = (why: string, hint: string): ProvenantError =>
    new ProvenantError('INVALID_PACKAGE', `the member ${info.name} is compressed with ${why}`, { where, hint });
  const tooBig = (): ProvenantError =>
    new ProvenantError('INVALID_PACKAGE', `the member ${info.name} unpacks to more than ${max} bytes`, {
      where,
      hint: info.name.startsWith('control.')
        ? 'a control member holds the control file, md5sums and the maintainer scripts, a few MB in the largest packages: this one is crafted or broken'
        : 'raise maxUnpackedSize if the package is really this large',
    });
  const failed = (err: unknown): ProvenantError =>
    new ProvenantError(
      'INVALID_PACKAGE',
      `the member ${info.name} cannot be decompressed: ${err instanceof Error ? err.message : String(err)}`,
      {
        where,
        cause: err,
      },
    );
  const notSupported = (compression: 'bzip2' | 'lzma' | 'zstd'): ProvenantError =>
    compression === 'zstd'
      ? unsupported('zstd, which this Node.js cannot decode', 'use Node.js 22.15 or later')
      : compression === 'bzip2'
        ? unsupported('bzip2, which Provenant does not support', 'only packages built in the last decade are supported: xz, zstd or gzip')
        : unsupported(
            'lzma (not xz), which Provenant does not support',
            'only packages built in the last decade are supported: xz, zstd or gzip',
          );
  return { tooBig, failed, notSupported };
}

/** A member's bytes unpacked (at most `max` bytes). */
export async function decompress(data: Uint8Array, info: DebMemberInfo, options: ReadDebOptions, max: number): Promise<Uint8Array> {
  const { where } = options;
  const { tooBig, failed, notSupported } = memberErrors(info, where, max);
  const zlibCall = (fn: (buf: Uint8Array, opts: { maxOutputLength: number }) => Uint8Array): Uint8Array => {
    try {
      return fn(data, { maxOutputLength: max });
    } catch (err) {
      if ((err as { code?: unknown } | null)?.code === 'ERR_BUFFER_TOO_LARGE') throw tooBig();
      throw failed(err);
    }
  };
  switch (info.compression) {
    case 'none':
      if (data.length > max) throw tooBig();
      return data;
    case 'gzip':
      return zlibCall(zlib.gunzipSync);
    case 'zstd': {
      // zstd is in node:zlib from Node 22.15 and 23.8; the property is absent before.
      const zstd = (zlib as { zstdDecompressSync?: (buf: Uint8Array, opts: { maxOutputLength: number }) => Uint8Array }).zstdDecompressSync;
      if (typeof zstd !== 'function') throw notSupported('zstd');
      return zlibCall(zstd);
    }
    case 'xz': {
      let out: Uint8Array;
      try {
        out = await (options.decompressXz ?? ((b: Uint8Array) => decompressXz(b, { where: `${where}: ${info.name}`, maxBytes: max })))(
          data,
        );
      } catch (err) {
        if (err instanceof ProvenantError) throw err;
        throw failed(err);
      }
      if (out.length > max) throw tooBig();
      return out;
    }
    case 'bzip2':
    case 'lzma':
      throw notSupported(info.compression);
  }
}
