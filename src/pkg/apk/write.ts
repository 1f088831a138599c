/**
 * Writing apk v2 packages and signed `APKINDEX.tar.gz` repositories, byte for byte as abuild and
 * apk-tools lay them out, but reproducibly: the same input always gives the same bytes.
 *
 * A package is three gzip members, concatenated (abuild's `create_apks` and `abuild-sign`):
 *
 * 1. signature: a tar of one `.SIGN.RSA256.<key>.rsa.pub` entry (or `.SIGN.RSA.` for SHA-1), the
 *    RSA PKCS#1 v1.5 signature of the *compressed* control member;
 * 2. control: a tar of `.PKGINFO`, whose `datahash` is the SHA-256 of the compressed data member;
 * 3. data: the files, each regular file and symlink with a PAX record `APK-TOOLS.checksum.SHA1`
 *    (what `abuild-tar --hash` adds).
 *
 * The signature and control tars have no end-of-archive blocks (`abuild-tar --cut`), so that the
 * three decompressed members read as one tar stream; the data tar has them. Gzip is the pinned
 * compressor of archive/deflate.ts, not abuild's `gzip -9`: apk checks hashes of the compressed
 * bytes it is given, never that they are what some gzip would make.
 */
import { createHash, createPrivateKey, type KeyObject, sign } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pinnedGzipBytes } from '../../archive/deflate.ts';
import { WHITEOUT_PREFIX } from '../../archive/paths.ts';
import { type TarHeader, type TarWriteEntry, tarBytes, tarHeader } from '../../archive/tar.ts';
import { concatBytes } from '../../bytes.ts';
import { ProvenantError } from '../../errors.ts';
import { digestHex, digestOf } from '../../oci/digest.ts';
import { compareBytes } from '../../vfs/tree.ts';
import { type ApkPackageInfo, formatApkIndexText, parseApkIndexText } from './apkindex.ts';
import { checkKeyName } from './keys.ts';
import { apkPackageInfo, readApkPackage } from './package.ts';
import { type ApkKeyring, UntrustedApkError } from './signature.ts';
import { type ApkDependency, compareApkVersions, isValidApkVersion, parseApkDependency } from './version.ts';

// ---------------------------------------------------------------------------------------------
// Packages
// ---------------------------------------------------------------------------------------------

/** One file, folder or symlink of a package to build. */
export interface ApkFileSpec {
  /** Relative path in the image root: `usr/bin/hello`; no leading `/`, no `.` or `..` parts. */
  path: string;
  type: 'file' | 'dir' | 'symlink';
  /** Permission bits; 0644 for a file, 0755 for a folder, 0777 for a symlink by default. */
  mode?: number | undefined;
  /** Owner and group ids; root (0) by default. */
  uid?: number | undefined;
  gid?: number | undefined;
  /** A file's contents (empty by default); only files have one. */
  body?: Uint8Array | undefined;
  /** A symlink's target; only symlinks have one. */
  target?: string | undefined;
}

/** What a package is: its `.PKGINFO` fields and its files. */
export interface ApkSpec {
  /** `pkgname` */
  name: string;
  /** `pkgver`, an apk version such as `1.2.3-r0` */
  version: string;
  /** `arch`: `x86_64`, `aarch64`, `noarch`, ... */
  arch: string;
  /** `pkgdesc` */
  description?: string | undefined;
  /** `url` */
  url?: string | undefined;
  /** `license`, an SPDX expression */
  license?: string | undefined;
  /** `origin`: the source package; the package's own name by default, as abuild does. */
  origin?: string | undefined;
  /** `maintainer` */
  maintainer?: string | undefined;
  /** `packager`; left out when not given. */
  packager?: string | undefined;
  /** `commit`: the commit of the build recipe. */
  commit?: string | undefined;
  /** `depend` lines: dependency atoms such as `musl`, `so:libc.musl-x86_64.so.1`, `!foo`. */
  depends?: readonly string[] | undefined;
  /** `provides` lines: `cmd:hello=1.0-r0`, `so:libfoo.so.1=1`, or plain names. */
  provides?: readonly string[] | undefined;
  /** `install_if`: install this package once all of these are installed. */
  installIf?: readonly string[] | undefined;
  /** `replaces` lines: packages whose files this one may overwrite. */
  replaces?: readonly string[] | undefined;
  /** `provider_priority` */
  providerPriority?: number | undefined;
  /**
   * `builddate`, seconds since the epoch; `options.mtime` (or 0) by default. It is also the tar
   * mtime when `options.mtime` is not given, so one of the two (SOURCE_DATE_EPOCH) sets both.
   */
  builddate?: number | undefined;
  files: readonly ApkFileSpec[];
}

/** The key to sign with. */
export interface ApkSigningKey {
  /** A PEM RSA private key (PKCS#1 or PKCS#8). */
  privateKeyPem: string;
  /** The *public* key's file name, e.g. `foo-1234abcd.rsa.pub`: what the signature names. */
  name: string;
}

/** Options of {@link buildApk} and {@link buildApkFromDirectory}. */
export interface BuildApkOptions {
  /** Sign the package; unsigned packages are only installable through a signed index. */
  key?: ApkSigningKey | undefined;
  /** `RSA256` (SHA-256, the default) or `RSA` (SHA-1, what apk-tools before 2.12 reads). */
  signatureType?: 'RSA256' | 'RSA' | undefined;
  /** The time of every tar entry; `spec.builddate` (or 0) by default. */
  mtime?: number | undefined;
  /** Worker threads for gzip (see archive/deflate.ts); the bytes do not depend on it. */
  workers?: number | undefined;
  signal?: AbortSignal | undefined;
}

const utf8 = new TextEncoder();
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/;

/**
 * Builds an apk v2 package (see the module comment for the layout). Missing parent folders are
 * added (mode 0755, root), entries are sorted by path, and owner names are `root` for id 0.
 *
 * @throws ProvenantError `USAGE` naming the field or path for a spec that cannot be a package: a
 *   bad name or version, a value with a newline, an absolute path or one with `..`, a path given
 *   twice or under a file, a symlink without a target
 */
export async function buildApk(spec: ApkSpec, options: BuildApkOptions = {}): Promise<Uint8Array> {
  checkApkSpec(spec);
  const mtime = options.mtime ?? spec.builddate ?? 0;
  checkInteger(mtime, 'options.mtime', Number.MIN_SAFE_INTEGER);
  const gz = (data: Uint8Array): Promise<Uint8Array> => pinnedGzipBytes(data, { workers: options.workers, signal: options.signal });

  const files = dataEntries(spec.files);
  const installedSize = files.reduce((n, f) => n + (f.type === 'file' ? (f.body?.length ?? 0) : 0), 0);
  const data = await gz(await tarBytes(files.map((f) => dataEntry(f, mtime))));
  const datahash = digestHex(digestOf(data));

  const pkginfo = utf8.encode(formatPkgInfo(spec, { size: installedSize, builddate: spec.builddate ?? options.mtime ?? 0, datahash }));
  const control = await gz(cutEnd(await tarBytes([controlEntry('.PKGINFO', pkginfo, mtime, 'root')])));

  const parts = [control, data];
  if (options.key !== undefined) parts.unshift(await signatureMember(control, options.key, options.signatureType ?? 'RSA256', mtime, gz));
  return concatBytes(parts);
}

/** `.PKGINFO` in abuild's order (abuild's `prepare_metafiles`), `datahash` last. */
function formatPkgInfo(spec: ApkSpec, computed: { size: number; builddate: number; datahash: string }): string {
  const lines = ['# Generated by provenant'];
  const put = (key: string, value: string | number | undefined): void => {
    if (value !== undefined) lines.push(`${key} = ${value}`);
  };
  put('pkgname', spec.name);
  put('pkgver', spec.version);
  put('pkgdesc', spec.description ?? '');
  put('url', spec.url ?? '');
  put('builddate', computed.builddate);
  put('packager', spec.packager);
  put('size', computed.size);
  put('arch', spec.arch);
  put('origin', spec.origin ?? spec.name);
  put('commit', spec.commit);
  put('maintainer', spec.maintainer);
  put('provider_priority', spec.providerPriority);
  put('license', spec.license ?? '');
  for (const r of spec.replaces ?? []) put('replaces', r);
  for (const d of spec.depends ?? []) put('depend', d);
  for (const p of spec.provides ?? []) put('provides', p);
  if ((spec.installIf ?? []).length > 0) put('install_if', (spec.installIf ?? []).join(' '));
  put('datahash', computed.datahash);
  return `${lines.join('\n')}\n`;
}

/**
 * Checks a spec before it is written: names, versions, one-line fields, dependency atoms.
 *
 * @throws ProvenantError `USAGE` naming the field
 */
export function checkApkSpec(spec: ApkSpec): void {
  const bad = (field: string, why: string, hint?: string): ProvenantError =>
    new ProvenantError('USAGE', `the package's ${field} ${why}`, { where: spec?.name ? `package ${spec.name}` : undefined, hint });
  if (spec === null || typeof spec !== 'object') throw new ProvenantError('USAGE', 'the package spec is not an object');
  if (typeof spec.name !== 'string' || !NAME.test(spec.name)) {
    throw bad('name', `${JSON.stringify(spec.name)} is not an apk package name (letters, digits, and _ . + - after the first)`);
  }
  if (typeof spec.version !== 'string' || !isValidApkVersion(spec.version)) {
    throw bad('version', `${JSON.stringify(spec.version)} is not an apk version`, 'write a version such as 1.2.3-r0');
  }
  if (typeof spec.arch !== 'string' || !NAME.test(spec.arch)) throw bad('arch', `${JSON.stringify(spec.arch)} is not an architecture name`);
  for (const field of ['description', 'url', 'license', 'origin', 'maintainer', 'packager', 'commit'] as const) {
    const v = spec[field];
    if (v === undefined) continue;
    if (typeof v !== 'string') throw bad(field, 'is not a string');
    if (/[\n\r\0]/.test(v)) throw bad(field, 'holds a line break or NUL, which .PKGINFO cannot hold');
  }
  for (const field of ['depends', 'provides', 'installIf', 'replaces'] as const) {
    const list = spec[field];
    if (list === undefined) continue;
    if (!Array.isArray(list)) throw bad(field, 'is not a list');
    for (const atom of list) {
      if (typeof atom !== 'string' || atom === '' || /[\s\0]/.test(atom)) {
        throw bad(field, `has ${JSON.stringify(atom)}, which is not one atom (no spaces; one per item)`);
      }
      const why = apkAtomProblem(field, atom);
      if (why !== undefined) throw bad(field, `has ${JSON.stringify(atom)}: ${why.message}`, why.hint);
    }
  }
  if (spec.providerPriority !== undefined) checkInteger(spec.providerPriority, 'providerPriority', 0);
  if (spec.builddate !== undefined) checkInteger(spec.builddate, 'builddate', 0);
  if (!Array.isArray(spec.files)) throw bad('files', 'is not a list');
}

/**
 * Why `atom` cannot stand in the spec's `field`, read as apk reads it (the resolver's
 * parseApkDependency): a dependency it cannot parse, or a `provides` that is not `name` or
 * `name=version`, or a conflict (`!name`) in `provides` or `replaces`.
 *
 * @returns undefined when apk reads the atom as written
 */
export function apkAtomProblem(
  field: 'depends' | 'provides' | 'installIf' | 'replaces',
  atom: string,
): { message: string; hint?: string | undefined } | undefined {
  let dep: ApkDependency;
  try {
    dep = parseApkDependency(atom);
  } catch (err) {
    const message = (err as Error).message.replace(`the apk dependency ${JSON.stringify(atom)} `, '');
    return { message: `apk cannot read it; the atom ${message}`, hint: (err as ProvenantError).hint };
  }
  if (dep.conflict && (field === 'provides' || field === 'replaces')) {
    return { message: `a conflict ("!"), which ${field} cannot hold`, hint: 'write the name without "!"' };
  }
  if (field === 'provides' && (dep.tag !== undefined || (dep.op !== undefined && dep.op !== '='))) {
    return {
      message: 'a package provides a name or name=version, not a range or a tag',
      hint: 'write it as "cmd:hello" or "cmd:hello=1.2.3-r0"',
    };
  }
  return undefined;
}

function checkInteger(n: unknown, what: string, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new ProvenantError('USAGE', `${what} is ${String(n)}, not a whole number from ${min} to ${max}`);
  }
}

/**
 * Checks a package path: relative, `/`-separated, without empty, `.` or `..` parts, NUL or line
 * breaks, a part starting with `.wh.` (a whiteout in a layer: see whiteoutPart), or a first part
 * starting with `.` (apk's control names).
 *
 * @throws ProvenantError `USAGE` naming the path
 */
export function checkApkPath(path: string, where?: string): void {
  const bad = (why: string, hint?: string): ProvenantError =>
    new ProvenantError('USAGE', `the package path ${JSON.stringify(path)} ${why}`, { where, hint });
  if (typeof path !== 'string' || path === '') throw bad('is empty');
  if (path.includes('\0')) throw bad('holds a NUL byte');
  if (/[\n\r]/.test(path)) throw bad("holds a line break, which apk's installed database cannot list (one path per line)");
  if (path.startsWith('/')) throw bad('is absolute', `write it relative to the image root: ${JSON.stringify(path.replace(/^\/+/, ''))}`);
  for (const part of path.split('/')) {
    if (part === '..') throw bad('has a ".." part', 'packages may only write inside the image root');
    if (part === '.' || part === '') throw bad('has an empty or "." part', 'write it as a/b/c, without "./", "//" or a trailing "/"');
    if (part.startsWith(WHITEOUT_PREFIX)) {
      throw bad(
        `has the part ${JSON.stringify(part)}, an OCI whiteout name`,
        'an image layer takes a name starting with ".wh." for the deletion of a file; readers refuse such a package',
      );
    }
  }
  // apk reads hidden top-level names as control files (.PKGINFO, .SIGN.*, .pre-install ...):
  // apk-tools 2 skips any such entry, or runs it as a script; apko skips the first ones. abuild
  // packs none: a package that held one would make another image with each installer.
  if (path.startsWith('.')) {
    throw bad(
      'starts with ".", a name apk reads as a control file (.PKGINFO, .pre-install ...) and does not install',
      'put it under a folder (etc/skel/.profile), or write an install script for it',
    );
  }
}

/** The largest uid or gid a tar header holds (7 octal digits): apk-tools reads no PAX `uid`/`gid`. */
const MAX_APK_ID = 0o7777777;

/** The spec's entries checked, with missing parent folders added, sorted by path. */
function dataEntries(files: readonly ApkFileSpec[]): ApkFileSpec[] {
  const byPath = new Map<string, ApkFileSpec>();
  for (const [i, f] of files.entries()) {
    const where = `files[${i}]`;
    if (f === null || typeof f !== 'object') throw new ProvenantError('USAGE', `${where} is not an object`);
    checkApkPath(f.path, where);
    const bad = (why: string): ProvenantError =>
      new ProvenantError('USAGE', `the package path ${JSON.stringify(f.path)} ${why}`, { where });
    if (byPath.has(f.path)) throw bad('is given twice');
    if (f.type !== 'file' && f.type !== 'dir' && f.type !== 'symlink')
      throw bad(`has type ${JSON.stringify(f.type)}; use file, dir or symlink`);
    if (f.mode !== undefined && (!Number.isSafeInteger(f.mode) || f.mode < 0 || f.mode > 0o7777)) {
      throw bad(`has mode ${String(f.mode)}; a mode is 0 to 0o7777 (permission bits only)`);
    }
    for (const id of ['uid', 'gid'] as const) {
      const v = f[id];
      if (v !== undefined && (!Number.isSafeInteger(v) || v < 0 || v > MAX_APK_ID)) {
        // A larger id fits only a PAX record, which apk-tools does not read: it would install the file as root.
        throw bad(`has ${id} ${String(v)}; apk reads ids from the tar header, which holds 0 to ${MAX_APK_ID}`);
      }
    }
    if (f.type === 'file' && f.body !== undefined && !(f.body instanceof Uint8Array)) throw bad('has a body that is not bytes');
    if (f.type !== 'file' && f.body !== undefined) throw bad(`is a ${f.type} and cannot have a body`);
    if (f.type === 'symlink') {
      if (typeof f.target !== 'string' || f.target === '' || f.target.includes('\0')) throw bad('is a symlink without a target');
    } else if (f.target !== undefined) {
      throw bad(`is a ${f.type} and cannot have a target`);
    }
    byPath.set(f.path, f);
  }
  for (const path of [...byPath.keys()]) {
    const parts = path.split('/');
    for (let n = 1; n < parts.length; n++) {
      const parent = parts.slice(0, n).join('/');
      const existing = byPath.get(parent);
      if (existing === undefined) byPath.set(parent, { path: parent, type: 'dir' });
      else if (existing.type !== 'dir') {
        throw new ProvenantError(
          'USAGE',
          `the package path ${JSON.stringify(path)} is under ${JSON.stringify(parent)}, which is a ${existing.type}`,
        );
      }
    }
  }
  return [...byPath.values()].sort((a, b) => compareBytes(a.path, b.path));
}

function dataEntry(f: ApkFileSpec, mtime: number): TarWriteEntry {
  const uid = f.uid ?? 0;
  const gid = f.gid ?? 0;
  const common: Partial<TarHeader> = {
    uid,
    gid,
    uname: uid === 0 ? 'root' : '',
    gname: gid === 0 ? 'root' : '',
    mtime,
  };
  if (f.type === 'dir') {
    return { header: tarHeader({ ...common, name: `${f.path}/`, type: 'dir', mode: f.mode ?? 0o755 }) };
  }
  if (f.type === 'symlink') {
    const target = f.target ?? '';
    // abuild-tar hashes a symlink's target, so that apk can tell when a link was changed.
    const pax = { 'APK-TOOLS.checksum.SHA1': sha1Hex(utf8.encode(target)) };
    return { header: tarHeader({ ...common, name: f.path, type: 'symlink', mode: f.mode ?? 0o777, linkname: target, pax }) };
  }
  const body = f.body ?? new Uint8Array(0);
  const pax = { 'APK-TOOLS.checksum.SHA1': sha1Hex(body) };
  return { header: tarHeader({ ...common, name: f.path, type: 'file', mode: f.mode ?? 0o644, size: body.length, pax }), body };
}

function controlEntry(name: string, body: Uint8Array, mtime: number, owner: 'root' | ''): TarWriteEntry {
  return { header: tarHeader({ name, size: body.length, mtime, uname: owner, gname: owner }), body };
}

function sha1Hex(bytes: Uint8Array): string {
  return createHash('sha1').update(bytes).digest('hex');
}

/** A tar without its two closing zero blocks, as `abuild-tar --cut` leaves it. */
function cutEnd(tar: Uint8Array): Uint8Array {
  return tar.subarray(0, tar.length - 1024);
}

/**
 * The gzip'd signature tar over `signed` (as `abuild-sign` makes it: one entry, mode 0644,
 * numeric owner 0, no end blocks).
 */
async function signatureMember(
  signed: Uint8Array,
  key: ApkSigningKey,
  type: 'RSA256' | 'RSA',
  mtime: number,
  gz: (data: Uint8Array) => Promise<Uint8Array>,
): Promise<Uint8Array> {
  if (type !== 'RSA256' && type !== 'RSA')
    throw new ProvenantError('USAGE', `the signature type is RSA256 or RSA, not ${JSON.stringify(type)}`);
  checkKeyName(key.name, 'the signing key name');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key.privateKeyPem);
  } catch (err) {
    throw new ProvenantError('USAGE', `the private key of ${key.name} is not a PEM private key`, { cause: err });
  }
  if (privateKey.asymmetricKeyType !== 'rsa') {
    throw new ProvenantError(
      'USAGE',
      `the private key of ${key.name} is an ${privateKey.asymmetricKeyType ?? 'unknown'} key; apk signs with RSA`,
    );
  }
  const signature = new Uint8Array(sign(type === 'RSA' ? 'sha1' : 'sha256', signed, privateKey));
  return gz(cutEnd(await tarBytes([controlEntry(`.SIGN.${type}.${key.name}`, signature, mtime, '')])));
}

// ---------------------------------------------------------------------------------------------
// From a folder
// ---------------------------------------------------------------------------------------------

/** Options of {@link buildApkFromDirectory}. */
export interface BuildApkFromDirectoryOptions extends BuildApkOptions {
  /** Keep the files' owner and group ids from disk; by default everything is owned by root. */
  keepOwners?: boolean | undefined;
}

/**
 * Reads a folder into the files of a spec: regular files (read whole), folders and symlinks,
 * modes from disk (permission bits), owners root unless `keepOwners`. The folder itself is the
 * image root and is not an entry.
 *
 * @throws ProvenantError `USAGE` for a device, FIFO or socket in the folder; `NOT_FOUND` or `IO`
 *   when it cannot be read
 */
async function readApkFilesFromDirectory(dir: string, options: { keepOwners?: boolean | undefined } = {}): Promise<ApkFileSpec[]> {
  const root = resolve(dir);
  const out: ApkFileSpec[] = [];
  const walk = async (rel: string): Promise<void> => {
    const abs = rel === '' ? root : join(root, rel);
    let names: string[];
    try {
      names = await readdir(abs);
    } catch (err) {
      throw fsError(err, abs);
    }
    for (const name of names.sort(compareBytes)) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const full = join(root, path);
      checkApkPath(path, full);
      let st: Awaited<ReturnType<typeof lstat>>;
      try {
        st = await lstat(full);
      } catch (err) {
        throw fsError(err, full);
      }
      const owner = options.keepOwners ? { uid: Number(st.uid), gid: Number(st.gid) } : {};
      const mode = Number(st.mode) & 0o7777;
      if (st.isDirectory()) {
        out.push({ path, type: 'dir', mode, ...owner });
        await walk(path);
      } else if (st.isSymbolicLink()) {
        let target: string;
        try {
          target = await readlink(full);
        } catch (err) {
          throw fsError(err, full);
        }
        out.push({ path, type: 'symlink', mode, target, ...owner });
      } else if (st.isFile()) {
        let body: Uint8Array;
        try {
          body = new Uint8Array(await readFile(full));
        } catch (err) {
          throw fsError(err, full);
        }
        out.push({ path, type: 'file', mode, body, ...owner });
      } else {
        throw new ProvenantError('USAGE', `${JSON.stringify(path)} is not a file, folder or symlink; a package cannot hold it`, {
          where: full,
        });
      }
    }
  };
  await walk('');
  return out;
}

/**
 * {@link buildApk} of the files of a folder (see {@link readApkFilesFromDirectory}).
 *
 * @throws ProvenantError as {@link readApkFilesFromDirectory} and {@link buildApk}
 */
export async function buildApkFromDirectory(
  dir: string,
  meta: Omit<ApkSpec, 'files'>,
  options: BuildApkFromDirectoryOptions = {},
): Promise<Uint8Array> {
  const files = await readApkFilesFromDirectory(dir, { keepOwners: options.keepOwners });
  return buildApk({ ...meta, files }, options);
}

/** A file system error as NOT_FOUND or IO, naming the path. */
export function fsError(err: unknown, where: string): ProvenantError {
  const code = (err as { code?: string }).code;
  if (code === 'ENOENT') return new ProvenantError('NOT_FOUND', `${where} does not exist`, { where, cause: err });
  return new ProvenantError('IO', `cannot read ${where}: ${(err as Error).message}`, { where, cause: err });
}

// ---------------------------------------------------------------------------------------------
// Indexes
// ---------------------------------------------------------------------------------------------

/**
 * The refusal of a package that no key of the keyring signed, said as a maker of indexes hears it:
 * an index vouches for the `C:` checksum of each package it lists, and apk then installs what it
 * lists as if the repository's key had signed each one, so `apk index` refuses such a package
 * without `--allow-untrusted`.
 */
function untrustedPackage(err: UntrustedApkError, keyring: ApkKeyring | undefined, where: string): UntrustedApkError {
  const { signers, skipped } = err;
  const carries =
    signers.length === 1
      ? `is signed by ${signers[0]}, which is not a trusted key`
      : signers.length > 1
        ? `is signed by ${signers.join(', ')}, none of them a trusted key`
        : skipped.length > 0
          ? `carries no signature apk verifies (apk skips ${skipped.join(', ')})`
          : 'is not signed';
  return new UntrustedApkError(
    'UNTRUSTED_KEY',
    `${where} ${carries}: an index vouches for every package it lists, so it lists only packages a trusted key signed`,
    {
      where,
      cause: err,
      hint: `trust the key that signs it, or allow untrusted packages (trusted now: ${keyring?.names().join(', ') || 'none'})`,
    },
    err,
  );
}

/** Options of {@link buildApkIndex}. */
export interface BuildApkIndexOptions {
  /** Sign the index (as `abuild-sign APKINDEX.tar.gz` does); apk refuses unsigned indexes. */
  key?: ApkSigningKey | undefined;
  /** `RSA256` (the default) or `RSA`. */
  signatureType?: 'RSA256' | 'RSA' | undefined;
  /** The DESCRIPTION member (`apk index --description`), often the repository's version. */
  description?: string | undefined;
  /** The time of the tar entries; 0 by default. */
  mtime?: number | undefined;
  /**
   * Verify each package's signature with these keys: a package that no key of it signed is
   * refused, as `apk index` refuses it, unless `allowUntrusted`. Their `datahash` and file
   * checksums are checked either way.
   */
  keyring?: ApkKeyring | undefined;
  /**
   * Index packages that no key of `keyring` signed too, as `apk index --allow-untrusted` does;
   * a signature by a key of `keyring` must still verify. True by default without a keyring
   * (nothing can be verified then), false with one.
   */
  allowUntrusted?: boolean | undefined;
  /** Names for the packages in errors (file names), in the order of `packages`. */
  names?: readonly string[] | undefined;
  workers?: number | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * Builds an `APKINDEX.tar.gz` of packages, as `apk index` and `abuild-sign` make it: a gzip'd tar
 * of `DESCRIPTION` (when given) and `APKINDEX`, end blocks included, preceded by a signature
 * member over those compressed bytes when a key is given. Stanzas are sorted by name, then
 * version (apk's ordering), then checksum.
 *
 * @throws ProvenantError from {@link readApkPackage} for a package that is malformed, or whose
 *   signature by a key of the keyring does not verify; `UNTRUSTED_KEY` for one that no key of the
 *   keyring signed (unless `allowUntrusted`); `USAGE` for a bad key or option
 */
export async function buildApkIndex(
  packages: readonly Uint8Array[],
  options: BuildApkIndexOptions = {},
): Promise<{ bytes: Uint8Array; packages: ApkPackageInfo[] }> {
  const mtime = options.mtime ?? 0;
  checkInteger(mtime, 'options.mtime', Number.MIN_SAFE_INTEGER);
  const gz = (data: Uint8Array): Promise<Uint8Array> => pinnedGzipBytes(data, { workers: options.workers, signal: options.signal });
  const allowUntrusted = options.allowUntrusted ?? options.keyring === undefined;
  const read: { info: ApkPackageInfo; where: string }[] = [];
  for (const [i, bytes] of packages.entries()) {
    const where = options.names?.[i] ?? `package ${i + 1}`;
    // Read with the option itself, so that every check it gates is made here as in a build; only
    // the refusal of an untrusted package is said again, in an index maker's terms.
    const pkg = await readApkPackage(bytes, { where, keyring: options.keyring, allowUntrusted }).catch((err: unknown) => {
      throw err instanceof UntrustedApkError ? untrustedPackage(err, options.keyring, where) : err;
    });
    read.push({ info: apkPackageInfo(pkg, bytes.length, where), where });
  }
  read.sort(
    (a, b) =>
      compareBytes(a.info.name, b.info.name) ||
      compareApkVersions(a.info.version, b.info.version) ||
      compareBytes(a.info.checksum, b.info.checksum),
  );
  // A repository serves NAME-VERSION.apk: one file under that name. The same package given
  // twice is listed once; two packages under one name and version are refused.
  const infos: ApkPackageInfo[] = [];
  for (const [i, r] of read.entries()) {
    const before = read[i - 1];
    if (before === undefined || before.info.name !== r.info.name || before.info.version !== r.info.version) {
      infos.push(r.info);
    } else if (before.info.checksum !== r.info.checksum) {
      throw new ProvenantError('USAGE', `${before.where} and ${r.where} are two packages named ${r.info.name}-${r.info.version}`, {
        hint: 'a repository serves one file per name and version: give the index one of them, or a new version (-rN) to the other',
      });
    }
  }
  if (options.description !== undefined && /[\0]/.test(options.description)) {
    throw new ProvenantError('USAGE', 'the index description holds a NUL byte');
  }
  const entries: TarWriteEntry[] = [];
  if (options.description !== undefined) entries.push(controlEntry('DESCRIPTION', utf8.encode(options.description), mtime, 'root'));
  const text = formatApkIndexText(infos);
  entries.push(controlEntry('APKINDEX', utf8.encode(text), mtime, 'root'));
  const index = await gz(await tarBytes(entries));
  const parts = [index];
  if (options.key !== undefined) parts.unshift(await signatureMember(index, options.key, options.signatureType ?? 'RSA256', mtime, gz));
  // What the index says, read back: apk index leaves out some .PKGINFO fields (`replaces`).
  return { bytes: concatBytes(parts), packages: parseApkIndexText(text, 'APKINDEX') };
}
