/**
 * Building one platform image the way apko does (`--compat apko`), so that its uncompressed
 * layer and its image config are apko's byte for byte (docs/build.md, "apko compatibility").
 *
 * The stages follow apko v1.2.39 (pkg/build/build_implementation.go:buildImage and
 * pkg/build/build.go:BuildLayer): apk's database initialised and the packages installed in
 * apko's order with apko's tree rules (../pkg/apk/apko-install.ts); accounts
 * (pkg/build/accounts.go:mutateAccounts); /etc/apko.json (WriteEtcApkoConfig); `paths`
 * (pkg/build/paths.go); the CA bundle checksums (pkg/build/certificates.go:writeCABundleChecksums);
 * busybox's links (pkg/build/busybox.go); the character devices (pkg/build/chardevices.go);
 * /etc/apk/repositories with the runtime repositories (pkg/build/apk.go:postBuildSetApk); then the
 * layer as apko's writeTar walks the tree (pkg/build/tarball.go), and the config and manifest
 * (./apko-image.ts).
 */
import { type TarHeader, XATTR_PREFIX } from '../archive/tar.ts';
import { ProvenantError } from '../errors.ts';
import type { ApkoInstalledRecord } from '../pkg/apk/apko-db.ts';
import { ApkoFs } from '../pkg/apk/apko-fs.ts';
import { type ApkoIndexEntry, apkoInstallOrder, setRepositories } from '../pkg/apk/apko-install.ts';
import type { ApkFetched, ApkSource } from '../pkg/apk/source.ts';
import type { FetchedPackage, InstalledPackage, LockedPackage } from '../pkg/source.ts';
import { ACCOUNTS_FILE_MAX, bodySize, OS_RELEASE_MAX } from '../vfs/body.ts';
import { type FsNode, Tree } from '../vfs/tree.ts';
import { apkoAccounts, apkoPaths, readGoUsers } from './apko-accounts.ts';
import { apkoLockedConfig, goJson } from './apko-config.ts';
import { apkoImageConfig, apkoManifest, configDescriptor } from './apko-image.ts';
import { apkArchToPlatform } from './arch.ts';
import type { LoadedConfig } from './config-types.ts';
import type { PlatformImage } from './image.ts';
import { type LayerPrecompressor, treeLayer } from './layer.ts';

const encode = (s: string): Uint8Array => new TextEncoder().encode(s);
const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));
const sortedSet = (values: readonly string[]): string[] => [...new Set(values)].sort(byteOrder);

/** What apko's SBOM of an image is made from, besides the image itself (../sbom/apko-spdx.ts). */
export interface ApkoImageFacts {
  /** The build date epoch: the config's `created`, seconds. */
  created: number;
  /** The installed packages, in install order. */
  installed: { name: string; version: string }[];
  /** /etc/os-release's text ('' when there is none). */
  osRelease: string | undefined;
  /** The packages' own SBOMs in /var/lib/db/sbom, by package name, as apko finds them. */
  packageSboms: Map<string, Uint8Array>;
}

/** One platform image built as apko builds it (the fields of a BuiltImage, ./build.ts). */
export interface ApkoPlatformImage extends PlatformImage {
  arch: string;
  packages: InstalledPackage[];
  locked: LockedPackage[];
  osRelease: string;
  skippedScripts: { package: string; scripts: string[] }[];
  apko: ApkoImageFacts;
}

/** What {@link apkoPlatformImage} needs of the build. */
export interface ApkoPlatformOptions {
  loaded: LoadedConfig;
  configPath: string;
  source: ApkSource;
  /** SOURCE_DATE_EPOCH when set: the image's time; else the newest package's build time. */
  sourceDateEpoch?: number | undefined;
  /** Whether the packages come from a lock: apko then installs in the lock's order. */
  fromLock: boolean;
  workers?: number | undefined;
  signal?: AbortSignal | undefined;
  precompressed?: LayerPrecompressor | undefined;
}

/**
 * The packages of `contents.packages` as apko locks them for an architecture: `name=version`,
 * with the `@tag` a request had, sorted (pkg/build/lock.go:unify); from a lock, `name=version`
 * in the lock's order (pkg/lock/lock.go:Arch2LockedPackages).
 */
export function apkoLockedPackages(
  requests: readonly string[],
  fetched: readonly { info: { name: string; version: string } }[],
  fromLock: boolean,
): string[] {
  const pins = new Map<string, string>();
  for (const r of requests) {
    const at = r.indexOf('@');
    if (at >= 0) pins.set(r.slice(0, at).replace(/[=<>~].*$/, ''), r.slice(at));
  }
  const list = fetched.map((f) => `${f.info.name}=${f.info.version}${fromLock ? '' : (pins.get(f.info.name) ?? '')}`);
  return fromLock ? list : list.sort(byteOrder);
}

/**
 * The fetched packages in the order apko installs them: a lock's order, else apko's order for the
 * locked world (../pkg/apk/apko-install.ts:apkoInstallOrder).
 */
export function apkoOrdered<T extends FetchedPackage>(
  source: ApkSource,
  requests: readonly string[],
  fetched: readonly T[],
  fromLock: boolean,
): T[] {
  if (fromLock) return [...fetched];
  const inputs = fetched.map((f) => f.package as ApkFetched);
  const order = source.apkoOrder(apkoLockedPackages(requests, inputs, false), inputs);
  return order.map((p) => fetched[inputs.indexOf(p)] as T);
}

/**
 * The fetched packages in the order `apko lock` writes them (internal/cli/lock.go): the order apko
 * installs them in for the world of the configuration's requests, sorted and unique and not
 * pinned (pkg/build/apk.go), where a dependency's candidates are every package of `arch`'s indexes
 * its resolver has not ruled out (pkg/apk/apk/repo.go): the indexes the plan read, when the source
 * kept them (`keepIndexes`), else read again here. That is not the order of
 * a build without a lock ({@link apkoOrdered}): a build from this lock installs in the lock's order,
 * as apko's does.
 *
 * @throws ProvenantError as the source's `readIndex`; `UNRESOLVABLE` as {@link apkoInstallOrder}
 */
export async function apkoLockOrdered<T extends FetchedPackage>(
  source: ApkSource,
  requests: readonly string[],
  fetched: readonly T[],
  arch: string,
): Promise<T[]> {
  const { candidates } = source.takeIndex(arch) ?? (await source.readIndex(arch));
  const listed = 'named' in candidates ? undefined : candidates;
  if (listed === undefined) throw new Error('an apk source reads its index as a list of candidates');
  const entries = new Map<string, ApkoIndexEntry>();
  for (const c of listed) {
    const url = source.lockEntry(c, arch).url;
    if (!entries.has(url)) entries.set(url, { info: c.info, tag: c.repoTag });
  }
  const inputs = fetched.map((f) => f.package as ApkFetched);
  const urls = new Map(inputs.map((p, i) => [p, fetched[i]?.locked.url ?? '']));
  const order = apkoInstallOrder(sortedSet(requests), inputs, {
    entries: [...entries.values()],
    entryOf: (p) => entries.get(urls.get(p) ?? ''),
  });
  return order.map((p) => fetched[inputs.indexOf(p)] as T);
}

/**
 * One platform image, as apko v1.2.39 builds it from the same configuration and packages, given
 * in apko's install order ({@link apkoOrdered}).
 *
 * @throws ProvenantError `INVALID_CONFIG` for what apko compatibility does not do yet (an
 *   ld.so.cache, a busybox without its links manifest); what apko's own steps fail on
 */
export async function apkoPlatformImage(
  options: ApkoPlatformOptions,
  arch: string,
  fetched: readonly FetchedPackage<ApkFetched>[],
): Promise<ApkoPlatformImage> {
  const { config } = options.loaded;
  const order = fetched.map((f) => f.package);
  const locked = apkoLockedPackages(config.contents.packages, order, options.fromLock);
  const fs = new ApkoFs(new Tree());
  const { installed, records } = options.source.installApko(fs, order, arch, {
    world: locked,
    repositories: sortedSet([...config.contents.buildRepositories, ...config.contents.repositories]),
    sourceDateEpoch: options.sourceDateEpoch ?? 0,
  });
  const created = options.sourceDateEpoch ?? Math.max(0, ...records.map((r) => r.info.builddate));
  const runAs = apkoAccounts(fs, config.accounts);
  fs.writeFile('etc/apko.json', encode(`${goJson(apkoLockedConfig(options.loaded, arch, locked, runAs))}\n`), 0o644);
  fs.update('etc/apko.json', { mode: 0o444 });
  apkoPaths(fs, options.loaded);
  caBundleChecksums(fs, created);
  busyboxLinks(fs, records);
  charDevices(fs);
  if (fs.stat('etc/ld.so.conf') !== undefined) {
    throw new ProvenantError(
      'INVALID_CONFIG',
      'the image has /etc/ld.so.conf, from which apko writes /etc/ld.so.cache; apko compatibility does not build that cache yet',
      {
        where: '/etc/ld.so.conf',
        hint: 'build without --compat apko',
      },
    );
  }
  setRepositories(fs, sortedSet([...config.contents.repositories, ...config.contents.runtimeRepositories]));

  const layer = await treeLayer(fs.tree, {
    format: 'go',
    header: apkoHeaders(fs),
    workers: options.workers,
    signal: options.signal,
    precompressed: options.precompressed,
  });
  const imageInput = {
    config,
    configPath: options.configPath,
    apkArch: arch,
    runAs,
    created,
    layers: [{ digest: layer.digest, size: layer.size, diffId: layer.diffId }],
  };
  const configBytes = apkoImageConfig(imageInput);
  const descriptor = configDescriptor(configBytes);
  const osRelease = fs.readFileUpTo('etc/os-release', OS_RELEASE_MAX);
  return {
    arch,
    platform: apkArchToPlatform(arch),
    manifest: apkoManifest(descriptor, imageInput),
    config: { bytes: configBytes, descriptor },
    layers: [layer],
    packages: installed,
    locked: fetched.map((f) => f.locked),
    osRelease: osRelease === undefined ? '' : new TextDecoder().decode(osRelease),
    skippedScripts: order
      .filter((p) => p.pkg.scripts.size > 0)
      .map((p) => ({ package: `${p.info.name}-${p.info.version}`, scripts: [...p.pkg.scripts.keys()].sort() })),
    apko: {
      created,
      installed: records.map((r) => ({ name: r.info.name, version: r.info.version })),
      osRelease: osRelease === undefined ? undefined : new TextDecoder().decode(osRelease),
      packageSboms: packageSboms(fs, records),
    },
  };
}

/**
 * How large a package's own SBOM may be: it is read whole into the image's SBOM. A real one is
 * kilobytes to a few megabytes (one entry per file the package ships).
 */
const PACKAGE_SBOM_MAX = 64 * 1024 * 1024;

/**
 * Each package's own SBOM, where apko's SBOM step looks for it
 * (pkg/sbom/generator/spdx/spdx.go:locateApkSBOM), refused past {@link PACKAGE_SBOM_MAX} with
 * `TOO_LARGE` naming the file and its package.
 */
export function packageSboms(fs: ApkoFs, records: readonly ApkoInstalledRecord[]): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const { info } of records) {
    for (const path of [
      `var/lib/db/sbom/${info.name}-${info.version}.spdx.json`,
      `var/lib/db/sbom/${info.name}-${info.version.replace(/-r\d+$/, '')}.spdx.json`,
      `var/lib/db/sbom/${info.name}.spdx.json`,
    ]) {
      const node = fs.stat(path);
      if (node === undefined) continue;
      if (node.type === 'dir')
        throw new ProvenantError('INVALID_PACKAGE', `/${path} is a folder, where apko reads a package's SBOM`, { where: `/${path}` });
      out.set(info.name, fs.readFileUpTo(path, PACKAGE_SBOM_MAX) ?? new Uint8Array());
      break;
    }
  }
  return out;
}

/** writeCABundleChecksums: `.<name>.sha256` next to each CA bundle and Java truststore, 0444, time the build date. */
export function caBundleChecksums(fs: ApkoFs, created: number): void {
  for (const bundle of [
    'etc/ssl/certs/ca-certificates.crt',
    'var/lib/ecs/deps/execute-command/certs/tls-ca-bundle.pem',
    'kaniko/ssl/certs/ca-certificates.crt',
    'etc/ssl/certs/java/cacerts',
  ]) {
    // Hashed in pieces: a package's bundle of 1.5 GiB, read whole, peaked at 1.67 GB.
    const sha256 = fs.sha256(bundle);
    if (sha256 === undefined) continue;
    const slash = bundle.lastIndexOf('/');
    const base = bundle.slice(slash + 1);
    const sidecar = `${bundle.slice(0, slash)}/.${base}.sha256`;
    fs.writeFile(sidecar, encode(`${sha256}  ${base}\n`), 0o444);
    fs.update(sidecar, { mtime: created });
  }
}

/**
 * installBusyboxLinks: when /bin/busybox exists, a symlink to it for each path its package lists
 * in /etc/busybox-paths.d/<package>, each link's folder made and given busybox's time.
 */
function busyboxLinks(fs: ApkoFs, records: readonly ApkoInstalledRecord[]): void {
  const busybox = fs.stat('bin/busybox');
  if (busybox === undefined) return;
  let owner: string | undefined;
  for (const { info } of records) {
    if (info.name === 'busybox') {
      owner = info.name;
      break;
    }
    if (info.provides.some((p) => p.includes('busybox'))) owner = info.name;
  }
  if (owner === undefined)
    throw new ProvenantError('INVALID_PACKAGE', '/bin/busybox is in the image but no installed package is or provides busybox', {
      where: '/bin/busybox',
    });
  const list = fs.readFile(`etc/busybox-paths.d/${owner}`);
  if (list === undefined) {
    throw new ProvenantError(
      'INVALID_CONFIG',
      `${owner} has no /etc/busybox-paths.d/${owner}; apko then uses its own table of busybox's applets by version, which apko compatibility does not carry`,
      {
        where: '/bin/busybox',
        hint: 'use a busybox package that lists its links (Alpine 1.36.0-r8 and Wolfi 1.36.0-r3 on), or build without --compat apko',
      },
    );
  }
  for (const link of new TextDecoder().decode(list).split('\n')) {
    if (link === '/bin/busybox' || link === '') continue;
    const dir = link.includes('/') ? link.slice(0, link.lastIndexOf('/')) : '.';
    if (dir === '.') continue;
    fs.mkdirAll(dir, 0o755);
    fs.update(dir, { mtime: busybox.mtime });
    if (fs.lstat(link) !== undefined) {
      if (fs.readlink(link) !== undefined || fs.stat(link)?.type === 'file') continue;
      fs.fail(link, 'is where busybox needs a link, and is not a file');
    }
    fs.symlink('/bin/busybox', link);
  }
}

/** installCharDevices: the five devices again, mode 0, where they are missing. */
function charDevices(fs: ApkoFs): void {
  for (const [path, major, minor] of [
    ['dev/zero', 1, 5],
    ['dev/urandom', 1, 9],
    ['dev/null', 1, 3],
    ['dev/random', 1, 8],
    ['dev/console', 5, 1],
  ] as const) {
    if (fs.stat(path) !== undefined) continue;
    fs.mkdirAll('dev', 0o755);
    fs.mknod(path, 0, major, minor);
  }
}

/**
 * The tar header apko's walkFS gives each node: owners as the tree has them (0:0 for every
 * package file), user and group names from the image's final /etc/passwd and /etc/group, xattrs
 * only on files and folders, and the names a package listed as hard links as links.
 */
function apkoHeaders(fs: ApkoFs): (path: string, node: FsNode) => TarHeader {
  const users = readGoUsers(fs.readFileUpTo('etc/passwd', ACCOUNTS_FILE_MAX), 7);
  const groups = readGoUsers(fs.readFileUpTo('etc/group', ACCOUNTS_FILE_MAX), 4);
  const links = fs.linkEntries();
  return (path, node) => {
    const link = links.get(path);
    const type = link !== undefined ? 'hardlink' : node.type === 'hardlink' ? 'file' : node.type;
    const pax: Record<string, string> = {};
    if (type === 'file' || type === 'dir') for (const [k, v] of Object.entries(node.xattrs ?? {})) pax[`${XATTR_PREFIX}${k}`] = v;
    return {
      name: path,
      type,
      mode: node.mode,
      uid: node.uid,
      gid: node.gid,
      uname: users.get(node.uid) ?? '',
      gname: groups.get(node.gid) ?? '',
      size: type === 'file' ? bodySize(node.body) : 0,
      mtime: node.mtime,
      linkname: link ?? (node.type === 'symlink' ? (node.linkname ?? '') : ''),
      devmajor: node.devmajor ?? 0,
      devminor: node.devminor ?? 0,
      pax: Object.keys(pax).length === 0 ? undefined : pax,
    };
  };
}
