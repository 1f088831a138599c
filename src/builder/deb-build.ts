/**
 * The Debian build: `deb` sources in `contents.repositories` resolve through signed InRelease
 * files and Packages indexes, .debs are verified against Packages and unpacked into the tree,
 * maintainer scripts never run, and what they would have made is made declaratively (the CA
 * bundle, /etc/localtime, accounts), with the dpkg database as distroless writes it.
 */
import { dirname } from 'node:path';
import { isProvenantError, ProvenantError, throwIfAborted } from '../errors.ts';
import type { Digest } from '../oci/digest.ts';
import { type DebCandidate, type DebPackagesFile, debCandidateIndex, debVersionScheme } from '../pkg/deb/candidates.ts';
import { type DebMemberCache, type DebPackage, readDeb } from '../pkg/deb/deb.ts';
import { parseDebRelations } from '../pkg/deb/relations.ts';
import { DEBIAN_ARCHIVE_KEYRING, DebKeyring, fetchDebianIndex } from '../pkg/deb/release.ts';
import { type DebSource, parseSourceLine } from '../pkg/deb/sources.ts';
import { type DebStanzaIndex, decodeStanzaIndex, encodeStanzaIndex, indexDebStanzas } from '../pkg/deb/stanza-index.ts';
import { DownloadCache, fetchFile, joinLocation, safeLocation } from '../pkg/fetch.ts';
import { checkSameVersions, type Request, resolve } from '../pkg/resolve/resolve.ts';
import { Tree } from '../vfs/tree.ts';
import { applyAccounts, applyOsRelease, applyPaths } from './assemble.ts';
import type { BuildOptions, BuildResult, BuiltImage } from './build.ts';
import { imageFromTree, makeIndex, splitLayers } from './build.ts';
import { caBundle, type InstalledDeb, installDeb, setTimezone } from './deb-install.ts';
import { LayerPrecompressor } from './layer.ts';
import { type LockedPackage, lockFor } from './lock.ts';
import { dependencyOrder } from './order.ts';

/** apk architecture names (the configuration's) to Debian's. */
const DEB_ARCH: Record<string, string> = {
  x86_64: 'amd64',
  aarch64: 'arm64',
  armv7: 'armhf',
  armhf: 'armel',
  x86: 'i386',
  ppc64le: 'ppc64el',
  s390x: 's390x',
  riscv64: 'riscv64',
  loongarch64: 'loong64',
};

/** Packages read or downloaded at once, ahead of the one being installed. */
const READ_AHEAD = 4;

/** True when the configuration's repositories are Debian sources (all of them). */
export function isDebianConfig(repositories: readonly string[]): boolean {
  const deb = repositories.filter((r) => r.startsWith('deb '));
  if (deb.length > 0 && deb.length !== repositories.length) {
    throw new ProvenantError(
      'INVALID_CONFIG',
      'contents.repositories mixes Debian sources and apk repositories; one image takes packages from one kind',
      {
        hint: 'build the apk and the Debian parts as separate images',
      },
    );
  }
  return deb.length > 0;
}

/** A requested package: `name`, `name=version` (apt's pin) or `name (>= version)`. */
function debRequest(text: string, where: string): Request {
  const pin = /^([a-z0-9][a-z0-9+.-]*)=(\S+)$/.exec(text);
  if (pin !== null) return { name: pin[1] as string, constraint: { op: '=', version: pin[2] as string } };
  const [alternatives] = parseDebRelations(text, 'contents.packages', where);
  const r = alternatives?.[0];
  if (alternatives === undefined || alternatives.length !== 1 || r === undefined) {
    throw new ProvenantError(
      'INVALID_CONFIG',
      `contents.packages: ${JSON.stringify(text)} is not one Debian package (name, name=version or "name (>= version)")`,
      { where },
    );
  }
  return { name: r.name, constraint: r.op === undefined || r.version === undefined ? undefined : { op: r.op, version: r.version } };
}

/**
 * Builds a Debian image. Same options and result as the apk build; the lock pins each .deb by its
 * URL (the pool path under the mirror) and SHA-256.
 */
export async function buildDebImage(options: BuildOptions): Promise<BuildResult> {
  const { config } = options.config;
  const baseDir = dirname(options.configPath);
  const cache = options.cacheDir === undefined ? undefined : new DownloadCache(options.cacheDir);
  const mtime = options.sourceDateEpoch ?? 0;
  const archs = options.archs ?? config.archs;
  const sources = config.contents.repositories.map((r) => parseSourceLine(r, { where: options.configPath }));
  // One load per keyring, shared by the suites fetched at once.
  const keyrings = new Map<string, Promise<DebKeyring>>();
  const keyringFor = (s: DebSource): Promise<DebKeyring> => {
    const paths = s.signedBy ?? [DEBIAN_ARCHIVE_KEYRING];
    const key = paths.join('\n');
    let k = keyrings.get(key);
    if (k === undefined) {
      k = DebKeyring.load(paths, { baseDir, signal: options.signal });
      keyrings.set(key, k);
    }
    return k;
  };
  const indexes: BuildResult['indexes'] = [];
  const plans = new Map<string, LockedPackage[]>();
  const resolved = new Map<string, DebCandidate[]>();
  for (const arch of archs) {
    throwIfAborted(options.signal);
    const debArch = DEB_ARCH[arch] ?? arch;
    if (options.lock !== undefined) {
      plans.set(
        arch,
        options.lock.contents.packages.filter((p) => p.architecture === debArch),
      );
      continue;
    }
    // The suites are fetched and verified at once (each waits on the network), then read in order.
    const wanted = [...sources.entries()].filter(([, s]) => s.archs === undefined || s.archs.includes(debArch));
    const fetched = await Promise.all(
      wanted.map(async ([, s]) =>
        fetchDebianIndex({
          url: s.url,
          suite: s.suite,
          components: s.components,
          arch: debArch,
          keyring: await keyringFor(s),
          cacheDir: options.cacheDir,
          byHash: s.byHash,
          checkValidUntil: s.checkValidUntil,
          signal: options.signal,
        }),
      ),
    );
    const files: DebPackagesFile[] = [];
    for (const [k, [order, s]] of wanted.entries()) {
      const index = fetched[k]!;
      for (const f of index.files) indexes.push({ url: f.url, arch, digest: `sha256:${f.sha256}` as Digest });
      for (const i of index.indexes) {
        const stanzas = await stanzaIndexOf(i.bytes, i.sha256, i.file.url, cache);
        files.push({
          bytes: i.bytes,
          index: stanzas,
          repo: { url: s.url, suite: s.suite, component: i.component, order },
          where: i.file.url,
        });
      }
    }
    // Stanzas become candidates only when the resolver looks their names up.
    const candidates = debCandidateIndex(files, debArch, { withRecommends: config.contents.recommends === true });
    const requests = config.contents.packages.map((p) => debRequest(p, options.configPath));
    const { packages } = resolve(requests, candidates, debVersionScheme, { where: `${options.configPath} (${arch})` });
    resolved.set(arch, packages);
    plans.set(
      arch,
      packages.map((c) => ({
        name: c.name,
        version: c.version,
        architecture: debArch,
        url: joinLocation(c.repository.url, c.filename),
        checksum: `sha256:${c.sha256 ?? ''}`,
      })),
    );
  }
  if (options.lock === undefined) checkSameVersions(resolved);

  const images: BuiltImage[] = [];
  const packageDigests = new Map<string, string>();
  const lockPackages: LockedPackage[] = [];
  // Large file bodies are compressed on the worker pool while the rest is read, or come from the
  // cache when an earlier build compressed them (./layer.ts).
  const precompressed = options.lockOnly
    ? undefined
    : new LayerPrecompressor(options.workers, options.layerCache === false ? undefined : cache);
  const memberCache = memberCacheOf(cache);
  // A failed build drops the compression queued for its layers.
  try {
    for (const arch of archs) {
      const plan = plans.get(arch) ?? [];
      const load = async (p: LockedPackage): Promise<DebPackage> => {
        throwIfAborted(options.signal);
        const sha256 = p.checksum.replace(/^sha256:/, '');
        if (!/^[0-9a-f]{64}$/.test(sha256))
          throw new ProvenantError('INVALID_CONFIG', `${p.name}: the lock has no sha256 checksum`, { where: 'lock' });
        const where = safeLocation(p.url);
        // readDeb checks the file against the lock's SHA-256, so the cache need not check it first.
        // A cached copy that does not match (a damaged cache) is downloaded again.
        const hit = await cache?.get(`deb:${sha256}`, { check: false });
        const read = (bytes: Uint8Array): Promise<DebPackage> => readDeb(bytes, { where, expectedSha256: sha256, memberCache });
        const pkg =
          hit === undefined
            ? undefined
            : await read(hit).catch((err: unknown) => {
                if (isProvenantError(err, 'DIGEST_MISMATCH')) return undefined;
                throw err;
              });
        if (pkg !== undefined) return pkg;
        // Through the cache, a download is written as it arrives and checked against the lock's
        // SHA-256 before it is kept, so that a build killed half way resumes it the next time.
        const bytes =
          cache === undefined
            ? await fetchFile(p.url, { baseDir, signal: options.signal })
            : await cache.download(p.url, { sha256 }, { baseDir, signal: options.signal, key: `deb:${sha256}` });
        return read(bytes);
      };
      // A few packages are read (or downloaded) ahead of the one being used, so that waiting on the
      // disk or the network overlaps with reading; they are used in the plan's order.
      const debs: DebPackage[] = [];
      const ahead: Promise<DebPackage>[] = [];
      for (let i = 0; i < plan.length; i++) {
        while (ahead.length < READ_AHEAD && i + ahead.length < plan.length) {
          const started = load(plan[i + ahead.length]!);
          started.catch(() => {});
          ahead.push(started);
        }
        const pkg = await ahead.shift()!;
        const p = plan[i]!;
        packageDigests.set(p.url, pkg.sha256);
        lockPackages.push(p);
        debs.push(pkg);
        for (const e of pkg.entries) if (e.header.type === 'file' && e.body !== undefined) precompressed?.add(e.body);
      }
      if (options.lockOnly) continue;
      const tree = new Tree();
      if (config.contents.mergedUsr) {
        tree.mkdirAll('usr/bin');
        tree.mkdirAll('usr/sbin');
        tree.mkdirAll('usr/lib');
        for (const d of ['bin', 'sbin', 'lib'])
          tree.put(d, { type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime, linkname: `usr/${d}`, owner: 'build' });
      }
      const installed: InstalledDeb[] = [];
      const versions = new Map<string, string>();
      for (const pkg of debOrder(debs)) {
        installed.push(installDeb(tree, pkg, { mtime: options.sourceDateEpoch, installedVersions: versions }));
        versions.set(pkg.name, pkg.version);
      }
      if (installed.some((i) => i.pkg.name === 'ca-certificates')) caBundle(tree, { mtime });
      if (config.timezone !== undefined) setTimezone(tree, config.timezone, { mtime });
      tree.mkdirAll('tmp');
      tree.update('tmp', { mode: 0o1777 });
      applyAccounts(tree, config.accounts, mtime);
      applyOsRelease(tree, config.osRelease, mtime);
      applyPaths(tree, config.paths, mtime);
      // layering by origin: for a .deb, the source package; sizes from Installed-Size (KiB).
      const groups = installed.map((i) => ({
        name: i.pkg.name,
        origin: (i.pkg.control.source ?? i.pkg.name).split(' ')[0] ?? i.pkg.name,
        size: Number(i.pkg.control['installed-size'] ?? 0) * 1024,
      }));
      const layerPaths = splitLayers(tree, groups, config.layering);
      const {
        manifest,
        config: imageConfig,
        layers,
        platform,
      } = await imageFromTree(options, arch, tree, layerPaths, installed.length, mtime, precompressed);
      const osRelease = new TextDecoder().decode(tree.get(tree.resolve('etc/os-release'))?.body ?? new Uint8Array());
      images.push({
        arch,
        platform,
        manifest,
        config: imageConfig,
        layers,
        packages: [],
        debPackages: installed,
        osRelease,
        skippedScripts: installed
          .filter((i) => i.skippedScripts.length > 0)
          .map((i) => ({ package: `${i.pkg.name}_${i.pkg.version}`, scripts: [...i.skippedScripts] })),
      });
    }
    await precompressed?.flush();
  } catch (err) {
    precompressed?.cancel();
    throw err;
  }
  const index = options.lockOnly ? undefined : makeIndex(images, config.annotations, mtime);
  const lock = lockFor(
    options.config,
    options.configPath.slice(options.configPath.lastIndexOf('/') + 1),
    undefined,
    [],
    [],
    archs,
    lockPackages,
  );
  lock.contents.repositories = sources.flatMap((s) =>
    archs.map((a) => ({
      name: `${s.url} ${s.suite}`,
      url: joinLocation(s.url, 'dists', s.suite, 'InRelease'),
      architecture: DEB_ARCH[a] ?? a,
    })),
  );
  return {
    index,
    images,
    lock,
    indexes,
    packageDigests,
    keys: [],
    configFiles: options.config.files.map((f) => ({ path: f.path, sha256: f.sha256, content: f.content })),
  };
}

/**
 * xz decoding (WebAssembly) is the slowest step of a build from cached packages, so the unpacked
 * members are cached too, under the package's SHA-256, once readDeb has read the whole package
 * and checked its files against md5sums. The cache checks the content against the digest it
 * stored it under. Data members are read into shared memory, so that the deflate workers read
 * the file bodies in them without a copy.
 */
function memberCacheOf(cache: DownloadCache | undefined): DebMemberCache | undefined {
  if (cache === undefined) return undefined;
  return {
    get: (sha256, member) => cache.get(`deb-${member}:${sha256}`, { shared: member === 'data' }),
    put: (sha256, member, tar) => cache.put(`deb-${member}:${sha256}`, tar),
  };
}

/**
 * The stanza index of a Packages file (../pkg/deb/stanza-index.ts), kept in the cache under the
 * file's SHA-256 (which the signed Release gives), so that it is made once per file.
 */
async function stanzaIndexOf(bytes: Uint8Array, sha256: string, where: string, cache: DownloadCache | undefined): Promise<DebStanzaIndex> {
  const key = `deb-stanza-index:${sha256}`;
  const cached = await cache?.get(key);
  const index = cached === undefined ? undefined : decodeStanzaIndex(cached, bytes.length);
  if (index !== undefined) return index;
  const made = indexDebStanzas(bytes, where);
  await cache?.put(key, encodeStanzaIndex(made));
  return made;
}

/** Pre-Depends and Depends before dependents, as dpkg would unpack them. */
function debOrder<T extends { name: string; control: Record<string, string> }>(debs: T[]): T[] {
  const byName = new Map(debs.map((d) => [d.name, d]));
  return dependencyOrder(
    debs,
    (d) => d.name,
    (d) => {
      const names: string[] = [];
      for (const f of [d.control['pre-depends'], d.control.depends]) {
        if (f === undefined || f === '') continue;
        try {
          for (const alt of parseDebRelations(f, 'Depends')) for (const r of alt) names.push(r.name.replace(/:.*$/, ''));
        } catch {
          // Ordering only: a field the resolver accepted parses here too.
        }
      }
      return names.map((n) => byName.get(n));
    },
  );
}
