/**
 * Reading .apk (v2) packages: three gzip members, signature, control and data, each a tar.
 *
 * The chain of trust: the signature (or the index's `C:` checksum, the SHA-1 of the compressed
 * control member) covers the control member; the control member's `.PKGINFO` holds `datahash`,
 * the SHA-256 of the compressed data member; each file in the data tar carries its own SHA-1 in a
 * PAX record (`APK-TOOLS.checksum.SHA1`). Every link is checked here.
 */
import { createHash } from 'node:crypto';
import { cleanEntryPath, refuseLinkTarget, refuseWhiteoutEntry } from '../../archive/paths.ts';
import type { TarHeader } from '../../archive/tar.ts';
import { concatBytes } from '../../bytes.ts';
import { ProvenantError } from '../../errors.ts';
import type { PackageEntry } from '../unpacked.ts';
import type { ApkPackageInfo } from './apkindex.ts';
import { CONTROL_MAX, DATA_MAX, type GzipMember, gzipMemberAt, splitGzipMembers } from './members.ts';
import { ApkKeyring, type ApkSignature, signaturesOf, type VerifiedSignature, verifyApkSignatures } from './signature.ts';
import { tarFiles } from './tarfiles.ts';

/** `.PKGINFO`: `key = value` lines; keys that repeat (depend, provides, license, ...) keep every value. */
export type PkgInfo = Map<string, string[]>;

/**
 * A file, folder or link from a package's data member, its path cleaned and checked; a file's
 * body in memory, or in the build's cache once the package is kept unpacked there (../unpacked.ts).
 */
export type ApkDataEntry = PackageEntry;

/** A read and verified package. */
export interface ApkPackage {
  /** `Q1` + base64 SHA-1 of the compressed control member: how indexes name this package. */
  checksum: string;
  pkginfo: PkgInfo;
  /**
   * The install scripts and `.trigger` among the control members, by name ({@link APK_SCRIPTS});
   * other members (melange's `.melange.yaml`) are no scripts.
   */
  scripts: Map<string, Uint8Array>;
  /** The control member as a tar (its headers matter to apko's scripts.tar, ./apko-db.ts). */
  control: Uint8Array;
  /** `.PKGINFO`'s text, which apko reads with other rules than apk-tools (./apko-pkginfo.ts). */
  pkginfoText: string;
  /** Data entries in archive order: a list once read, made as they are walked once kept (../unpacked.ts). */
  entries: Iterable<ApkDataEntry>;
  /** The signatures the package carries, and the one that verified (when a keyring was given). */
  signatures: ApkSignature[];
  signedBy: VerifiedSignature | undefined;
  /** Byte ranges of the three parts in the file, as apko's lock records them. */
  ranges: { signature?: [number, number]; control: [number, number]; data: [number, number] };
  /** SHA-256 (hex) of the compressed data member, checked against `datahash`. */
  dataHash: string;
  /** The data member unpacked, which the entries were read from; absent once kept in the cache. */
  dataTar?: Uint8Array | undefined;
}

/** Options of {@link readApkPackage}. */
export interface ReadApkPackageOptions {
  /** Where the package comes from, for errors. */
  where: string;
  /**
   * The checksum the index gave (`C:`). When given, the control member must match it, and that
   * match is the proof of origin (the index was verified), as in apk-tools.
   */
  expectedChecksum?: string | undefined;
  /**
   * Where `expectedChecksum` comes from, named in the error when the package does not match it:
   * `the index URL` (the default, `the index`) or `the lock FILE`.
   */
  checksumFrom?: string | undefined;
  /** Keys to verify the package's own signature with, when no `expectedChecksum` vouches for it. */
  keyring?: ApkKeyring | undefined;
  /**
   * Accept a package that neither a checksum nor a trusted signature vouches for, as apk's
   * `--allow-untrusted` does: one that carries no signature by a key of `keyring`. A signature
   * by such a key must still verify, unlike in apk-tools, which with `--allow-untrusted` checks
   * no signature at all (extract_v2.c): a bad one is a changed package, whatever else is allowed.
   */
  allowUntrusted?: boolean;
  /**
   * Require a signature by a trusted key even with `expectedChecksum`: the checksum then comes
   * from a lock that no verified index confirms, and vouches for nothing.
   */
  requireSignature?: boolean | undefined;
}

/**
 * Reads and verifies an .apk.
 *
 * @throws ProvenantError `DIGEST_MISMATCH` when the control member does not match the index's
 *   checksum, `datahash` or a file's SHA-1; `SIGNATURE`/`UNTRUSTED_KEY` when nothing vouches for
 *   it; `UNSAFE_PATH` for a path that leaves the root; `INVALID_PACKAGE` when malformed
 */
export async function readApkPackage(bytes: Uint8Array, options: ReadApkPackageOptions): Promise<ApkPackage & { entries: ApkDataEntry[] }> {
  const { where } = options;
  // Nothing is inflated beyond the signature and control members (CONTROL_MAX) before the
  // checksum or signature vouches for the control member, and the data members are inflated
  // only once their compressed bytes hash to its datahash.
  const head = { where, maxOutput: CONTROL_MAX, what: 'the signature or control member' };
  const first = gzipMemberAt(bytes, 0, head);
  const found = first === undefined ? undefined : await signaturesIn(first, where);
  const signed = found !== undefined;
  const control = signed ? gzipMemberAt(bytes, first!.end, { ...head, what: 'the control member' }) : first;
  if (control === undefined || control.end === bytes.length) {
    const count = (first === undefined ? 0 : 1) + (signed && control !== undefined ? 1 : 0);
    if (count >= 2) throw noDataMember(where);
    throw new ProvenantError('INVALID_PACKAGE', `an apk has 2 or 3 gzip members (signature, control, data); this has ${count}`, {
      where,
    });
  }
  const facts = await verifyControl(control, found ?? [], options);

  const dataStart = control.end;
  const dataEnd = bytes.length;
  const dataHash = createHash('sha256').update(bytes.subarray(dataStart, dataEnd)).digest('hex');
  checkDataHash(facts.pkginfo, dataHash, options);
  const dataMembers = splitGzipMembers(bytes.subarray(dataStart), { where, maxOutput: DATA_MAX, what: 'the data members' });

  const entries: ApkDataEntry[] = [];
  // Most packages have one data member: its bytes are the data, without another copy.
  const data = dataMembers.length === 1 ? dataMembers[0]!.data : concatBytes(dataMembers.map((m) => m.data));
  for (const f of await tarFiles(data, where)) {
    const path = apkEntryPath(f.name, f.header, where);
    if (path === '.') continue;
    if (f.header.type === 'file' && hasFileSha1(f.header))
      checkFileSha1(path, f.header, createHash('sha1').update(f.body).digest('hex'), where);
    entries.push({ path, header: f.header, body: f.body });
  }
  const ranges: ApkPackage['ranges'] = {
    control: [control.start, control.end - 1],
    data: [dataStart, dataEnd - 1],
  };
  if (signed && first !== undefined) ranges.signature = [first.start, first.end - 1];
  return { ...facts, control: control.data, entries, ranges, dataHash, dataTar: data };
}

/**
 * The control members apk runs as scripts: `.` and a name of apk-tools' `apk_script_types`
 * (src/package.c). apk skips any other member (melange writes `.melange.yaml`), and so does a build.
 */
const APK_SCRIPTS: ReadonlySet<string> = new Set(
  ['pre-install', 'post-install', 'pre-deinstall', 'post-deinstall', 'pre-upgrade', 'post-upgrade', 'trigger'].map((n) => `.${n}`),
);

/** What a package's control member vouches for, once verified (./stream.ts reads the rest as a stream). */
export type ApkControlFacts = Pick<ApkPackage, 'checksum' | 'pkginfo' | 'scripts' | 'pkginfoText' | 'signatures' | 'signedBy'>;

/** The signatures in a package's first member; undefined when it is not a signature member (the control member then). */
export async function signaturesIn(first: GzipMember, where: string): Promise<ApkSignature[] | undefined> {
  return signaturesOf(await tarFiles(first.data, where), where);
}

/** The error for a package that ends after its control member. */
export function noDataMember(where: string): ProvenantError {
  return new ProvenantError('INVALID_PACKAGE', 'the package has no data member after its control member', { where });
}

/**
 * Verifies the control member (against the index's checksum, else the package's signatures) and
 * reads it: `.PKGINFO` and the install scripts.
 *
 * @throws ProvenantError as {@link readApkPackage}
 */
export async function verifyControl(
  control: GzipMember,
  signatures: ApkSignature[],
  options: ReadApkPackageOptions,
): Promise<ApkControlFacts> {
  const { where } = options;
  const checksum = `Q1${createHash('sha1').update(control.compressed).digest('base64')}`;
  if (options.expectedChecksum !== undefined) {
    if (checksum !== options.expectedChecksum) {
      // Said as where the checksum came from: a build given no lock has it from the verified index.
      const from = options.checksumFrom ?? 'the index';
      throw new ProvenantError('DIGEST_MISMATCH', `the control checksum is ${checksum}, ${from} names ${options.expectedChecksum}`, {
        where,
        hint: from.startsWith('the lock')
          ? 'the package is not the one the lock names: it was changed since the lock was made, or the mirror is inconsistent (lock again if the new file is the right one)'
          : 'the package is not the one the verified index lists: it was changed after the index was made, or the mirror is inconsistent',
      });
    }
  }
  // A package the index (or lock) vouches for by its checksum may be signed by no key of the
  // keyring, as may one read with allowUntrusted, unless a signature is required; a signature by
  // a key of the keyring must verify whichever.
  const allowUntrusted = options.requireSignature !== true && (options.expectedChecksum !== undefined || options.allowUntrusted === true);
  const signedBy = verifyApkSignatures(signatures, control.compressed, options.keyring ?? new ApkKeyring(), where, { allowUntrusted });

  const controlFiles = await tarFiles(control.data, where);
  const info = controlFiles.find((f) => f.name === '.PKGINFO');
  if (info === undefined) throw new ProvenantError('INVALID_PACKAGE', 'the control member has no .PKGINFO', { where });
  const pkginfoText = new TextDecoder().decode(info.body);
  const pkginfo = parsePkgInfo(pkginfoText, `${where}: .PKGINFO`);
  const scripts = new Map<string, Uint8Array>();
  for (const f of controlFiles) if (APK_SCRIPTS.has(f.name)) scripts.set(f.name, f.body);
  return { checksum, pkginfo, scripts, pkginfoText, signatures, signedBy };
}

/**
 * Checks the data member's SHA-256 (hex) against `.PKGINFO`'s `datahash`.
 *
 * @throws ProvenantError `DIGEST_MISMATCH` when they differ; `INVALID_PACKAGE` when there is no
 *   datahash and untrusted packages are not allowed
 */
export function checkDataHash(pkginfo: PkgInfo, dataHash: string, options: ReadApkPackageOptions): void {
  const { where } = options;
  const declared = pkginfo.get('datahash')?.[0];
  if (declared === undefined) {
    if (!options.allowUntrusted) {
      throw new ProvenantError('INVALID_PACKAGE', '.PKGINFO has no datahash, so nothing vouches for the files in the package', { where });
    }
  } else if (declared.toLowerCase() !== dataHash) {
    throw new ProvenantError('DIGEST_MISMATCH', `the data member's SHA-256 is ${dataHash}, .PKGINFO's datahash says ${declared}`, {
      where,
      hint: 'the files of the package were changed after it was built',
    });
  }
}

/** Whether a data entry's header carries its SHA-1 (`APK-TOOLS.checksum.SHA1`). */
/**
 * A data entry's name as a path in the image ({@link cleanEntryPath}), refused when it holds a
 * line break: apk's installed database lists paths one per line (`F:`, `R:`), so such a name
 * would write lines of its own there (a file listed that is not installed, one installed that
 * is not listed), in Provenant's database and apk's alike. Refused too with a part starting
 * with `.wh.`, which a layer takes for a whiteout ({@link refuseWhiteoutEntry}), or with a
 * link target that is none a link may have: empty, with a NUL, too long ({@link refuseLinkTarget}).
 *
 * @throws ProvenantError `UNSAFE_PATH`
 */
export function apkEntryPath(name: string, link: Pick<TarHeader, 'type' | 'linkname'>, where: string): string {
  const path = cleanEntryPath(name, `${where}: ${name}`);
  if (/[\n\r]/.test(path)) {
    throw new ProvenantError('UNSAFE_PATH', `the entry name ${JSON.stringify(name)} holds a line break`, {
      where: `${where}: ${JSON.stringify(name)}`,
      hint: "apk's installed database lists one path per line: the package is crafted or broken",
    });
  }
  refuseWhiteoutEntry(path, name, where);
  refuseLinkTarget(link, name, where);
  return path;
}

export function hasFileSha1(header: TarHeader): boolean {
  return header.pax?.['APK-TOOLS.checksum.SHA1'] !== undefined;
}

/**
 * Checks a file's SHA-1 (hex) against the one its header carries (`APK-TOOLS.checksum.SHA1`), when it carries one.
 *
 * @throws ProvenantError `DIGEST_MISMATCH` when they differ
 */
export function checkFileSha1(path: string, header: TarHeader, actual: string, where: string): void {
  const sha1 = header.pax?.['APK-TOOLS.checksum.SHA1'];
  if (sha1 !== undefined && actual !== sha1.toLowerCase()) {
    throw new ProvenantError('DIGEST_MISMATCH', `the file ${path} has SHA-1 ${actual}, its header says ${sha1}`, { where });
  }
}

/**
 * Parses `.PKGINFO`: `key = value` lines, `#` comments, blank lines ignored.
 *
 * @throws ProvenantError `INVALID_PACKAGE` naming the line for a line without ` = `
 */
export function parsePkgInfo(text: string, where: string): PkgInfo {
  const info: PkgInfo = new Map();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').replace(/\r$/, '');
    if (line.trim() === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 0)
      throw new ProvenantError('INVALID_PACKAGE', `line ${i + 1} is not "key = value": ${JSON.stringify(line.slice(0, 80))}`, {
        where: `${where}:${i + 1}`,
      });
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    const list = info.get(key);
    if (list === undefined) info.set(key, [value]);
    else list.push(value);
  }
  return info;
}

/**
 * The index fields of a package from its own `.PKGINFO`, as apk-tools records a package it
 * indexes or installs (`S:` is the file's size, `I:` the installed size). A build records the
 * same fields whether it resolved through an index or read a lock.
 *
 * @throws ProvenantError `INVALID_PACKAGE` when `pkgname` or `pkgver` is missing or a number
 *   field is not a number
 */
export function apkPackageInfo(pkg: Pick<ApkPackage, 'pkginfo' | 'checksum'>, fileSize: number, where: string): ApkPackageInfo {
  const one = (k: string): string => pkg.pkginfo.get(k)?.[0] ?? '';
  const all = (k: string): string[] => (pkg.pkginfo.get(k) ?? []).flatMap((v) => v.split(/\s+/)).filter((v) => v !== '');
  const num = (k: string): number | undefined => {
    const v = pkg.pkginfo.get(k)?.[0];
    if (v === undefined || v === '') return undefined;
    if (!/^\d+$/.test(v)) throw new ProvenantError('INVALID_PACKAGE', `.PKGINFO's ${k} is not a number: ${JSON.stringify(v)}`, { where });
    return Number(v);
  };
  if (one('pkgname') === '' || one('pkgver') === '')
    throw new ProvenantError('INVALID_PACKAGE', '.PKGINFO has no pkgname or pkgver', { where });
  const builddate = num('builddate');
  return {
    name: one('pkgname'),
    version: one('pkgver'),
    arch: one('arch'),
    checksum: pkg.checksum,
    size: fileSize,
    installedSize: num('size') ?? 0,
    description: one('pkgdesc'),
    url: one('url'),
    license: (pkg.pkginfo.get('license') ?? []).join(' AND '),
    origin: one('origin'),
    maintainer: one('maintainer'),
    // apk-tools writes `t:` only for a nonzero build time.
    buildTime: builddate === 0 ? undefined : builddate,
    commit: one('commit'),
    depends: all('depend'),
    provides: all('provides'),
    installIf: all('install_if'),
    replaces: all('replaces'),
    providerPriority: num('provider_priority'),
    replacesPriority: num('replaces_priority'),
    extra: {},
  };
}
