/**
 * What the builder needs of a package ecosystem, and nothing it can do itself: a
 * {@link PackageSource} reads and verifies its repositories' indexes and turns them into resolver
 * candidates and requests, fetches and verifies one package, installs packages into the tree
 * with the ecosystem's own database and finishing, and reports what it installed (inventory
 * records) and what the lock file records.
 *
 * The builder (../builder/build.ts) runs the same stages for every source: plan each
 * architecture (resolve, or read the lock), check the versions agree across architectures, fetch
 * with read-ahead and precompression, install in the source's order, the shared finishing
 * (accounts, os-release, paths), layering, the image and the index. apk (./apk/source.ts) and
 * Debian (./deb/source.ts) implement it; ./sources.ts chooses one from the configuration.
 */

import { ProvenantError } from '../errors.ts';
import type { Logger } from '../io/types.ts';
import type { Digest } from '../oci/digest.ts';
import type { Body } from '../vfs/body.ts';
import type { SpilledFiles } from '../vfs/spill.ts';
import type { Tree } from '../vfs/tree.ts';
import type { DownloadCache } from './fetch.ts';
import type { InventoryFile, InventoryFiles, InventoryPackage } from './inventory.ts';
import type { Candidate, CandidateIndex, Request, VersionScheme } from './resolve/resolve.ts';

/**
 * A repository that has no index for an architecture the build asked for: the configuration's
 * `archs` (or `--platform`, the Action's `platforms`) name one it does not serve, or its location
 * is wrong. Always `NOT_FOUND`; it names the repository and the architecture, so that a caller can
 * say which of its inputs chose the architecture, where a bare "APKINDEX.tar.gz does not exist"
 * names neither. The hint names the command line's flags; the Action says its own (it has
 * `platforms` instead: ../action/run.ts).
 */
export class MissingArchitectureError extends ProvenantError {
  /**
   * The repository as configured (a URL without credentials, or a path; a Debian suite after its
   * URL); Debian sources that all rule the architecture out (`[arch=...]`) are listed, comma-separated.
   */
  readonly repository: string;
  /** The architecture, in apk's spelling (`x86_64`), as the configuration and the build name it. */
  readonly architecture: string;

  /**
   * @param notFound the fetch's `NOT_FOUND` for the index, whose message says which file (or URL) is not there
   * @param where the configuration that names the repository
   * @param spelled how the message names the architecture when the ecosystem spells it otherwise
   *   (Debian's `armel (Debian's name for armhf, linux/arm/v6)`), so that it names the one
   *   `notFound` names; and a note after `notFound`'s message (what a name it lists means)
   */
  constructor(
    repository: string,
    architecture: string,
    notFound: ProvenantError,
    where: string | undefined,
    spelled: { name?: string | undefined; note?: string | undefined } = {},
  ) {
    const note = spelled.note === undefined ? '' : `; ${spelled.note}`;
    super('NOT_FOUND', `the repository ${repository} has no index for ${spelled.name ?? architecture}: ${notFound.message}${note}`, {
      where,
      cause: notFound,
      hint: "the configuration's archs choose the architectures built, and --platform or --arch a part of them: build for those the repository has, or check its location",
    });
    this.name = 'MissingArchitectureError';
    this.repository = repository;
    this.architecture = architecture;
  }
}

/** The ecosystems Provenant installs from: what inventories, PURLs and provenance call them. */
export type Ecosystem = InventoryPackage['ecosystem'];

/** A byte range of a package and its checksum (`sha1-<base64>` or `sha256-<base64>`). */
export interface LockedRange {
  range: string;
  checksum: string;
}

/** One pinned package file, as the lock (apko's format) records it. */
export interface LockedPackage {
  name: string;
  version: string;
  /** The architecture as the ecosystem names it (apk `x86_64`, Debian `amd64`). */
  architecture: string;
  /** Where the package file is: a URL, or a path relative to the configuration. */
  url: string;
  /** apk: `Q1` + base64 SHA-1 of the control member (the package's identity); deb: `sha256:` + hex of the .deb. */
  checksum: string;
  /**
   * The package file's size as the verified index lists it (apk `S:`, Debian `Size:`), when the
   * entry came from an index or a checked lock matched one (a lock file does not record it). A
   * download stops as soon as it passes it. For apk it also tells a package signed again (the
   * checksum covers the control member only: another file under the same checksum) from the one
   * recorded, as the installed database records the size.
   */
  size?: number | undefined;
  signature?: LockedRange | undefined;
  control?: LockedRange | undefined;
  data?: LockedRange | undefined;
}

/**
 * The checksum `p` records of one part of the package, or undefined when it records none. An
 * empty checksum records none: apko writes a part the package lacks (an unsigned apk's
 * signature) as two empty strings, which the lock's reader takes for no part (../builder/lock.ts).
 * One meaning for every check of the parts, so that a build from the image memo and one that
 * fetches decide alike.
 */
export function recordedChecksum(p: LockedPackage, part: 'signature' | 'control' | 'data'): string | undefined {
  const checksum = p[part]?.checksum;
  return checksum === undefined || checksum === '' ? undefined : checksum;
}

/** What the lock records about where packages come from and who signs them. */
export interface LockSources {
  keyring: { name: string; url: string; content?: string | undefined }[];
  repositories: LockRepository[];
  /** `build_repositories`, as apko's lock records them: read to resolve, not written into the image. */
  buildRepositories?: LockRepository[] | undefined;
  /** `runtime_repositories`, as apko's lock records them: written into the image only. */
  runtimeRepositories?: LockRepository[] | undefined;
}

/** A repository of one architecture, as a lock records it (apko's LockRepo). */
export interface LockRepository {
  name: string;
  url: string;
  architecture: string;
}

/** What a source is opened with: the configuration's package settings and the build's context. */
export interface PackageSourceOptions {
  /** `contents.repositories`, as written: read to resolve, and written into the image. */
  repositories: readonly string[];
  /**
   * `contents.build_repositories`: read to resolve as `repositories` are, after them, and never
   * written into the image (apko, pkg/build/apk.go: resolves from both, writes `repositories`).
   */
  buildRepositories?: readonly string[] | undefined;
  /** `contents.runtime_repositories`: written into the image after `repositories`, never read. */
  runtimeRepositories?: readonly string[] | undefined;
  /** `contents.keyring`: keys (paths or URLs) that sign the repositories. */
  keyring: readonly string[];
  /** `contents.packages`, as written. */
  packages: readonly string[];
  /** Debian: install Recommends too. */
  recommends?: boolean | undefined;
  /** Debian: /bin, /sbin and /lib as symlinks into /usr. */
  mergedUsr?: boolean | undefined;
  /** The time zone /etc/localtime names. */
  timezone?: string | undefined;
  /** Debian: each installed file's SHA-1 in the inventory, for SBOMs that list files (../pkg/deb/install.ts). */
  fileDigests?: boolean | undefined;
  /** Keys a lock file embeds, so that a build from the lock fetches none. */
  lockedKeys?: readonly { name: string; content?: string | undefined }[] | undefined;
  /** The lock file `lockedKeys` come from, named in errors about them (default `the lock`). */
  lockPath?: string | undefined;
  /**
   * The lock's keys are used as they are (a rebuild from a provenance). Otherwise each key is read
   * from its file or URL, and a lock that embeds another text under its name is refused: a lock
   * must not be able to swap a trusted key.
   */
  lockVouches?: boolean | undefined;
  /** The configuration file, for errors; relative repositories and keys are relative to `baseDir`. */
  configPath: string;
  baseDir: string;
  /** The download cache, when the build has one. */
  cache: DownloadCache | undefined;
  signal?: AbortSignal | undefined;
  logger: Logger;
}

/** A repository index file a plan was made from, for provenance. */
export interface IndexFile {
  /** Where it was read from (a URL without credentials, or a path). */
  url: string;
  digest: Digest;
  /**
   * For a signed index read whole (Debian's InRelease or Release): the keyring files trusted to
   * check it, each by its file name, its bytes' SHA-256 and, when it was fetched, its URL without
   * user info (a path of the building machine is not named); and the fingerprints of the primary
   * keys whose signatures were good. Absent where no signature was good (`trusted=yes`) or the
   * index is vouched for by another (a Packages file).
   */
  verifiedBy?: { keyring: { name: string; sha256: string; uri?: string | undefined }[]; signers: string[] } | undefined;
}

/** The candidates of one architecture, and the index files they came from. */
export interface SourceIndex<C extends Candidate = Candidate> {
  candidates: readonly C[] | CandidateIndex<C>;
  files: IndexFile[];
}

/** A fetched and verified package. */
export interface FetchedPackage<P = unknown> {
  /** The package as the source reads it, for {@link PackageSource.install}. */
  package: P;
  /** Its lock entry, completed with what only the file tells (apk's byte ranges). */
  locked: LockedPackage;
  /** Lowercase hex SHA-256 of the package file. */
  sha256: string;
  /**
   * The file bodies it will install, so that large ones are compressed while the build goes on:
   * walked once, made as they are walked.
   */
  bodies: Iterable<Body>;
  /** How many files it installs. */
  files: number;
  /** The package file's size in bytes, and whether it came from the download cache (for progress). */
  size: number;
  cached: boolean;
}

/**
 * One installed package, as the build reports it, whatever its ecosystem: its inventory record
 * (with every file it installed) and what the build's output and layering need.
 */
export interface InstalledPackage extends InventoryPackage {
  /** The package as its ecosystem writes it in messages: `busybox-1.36.1-r0`, `dash_0.5.12-2`. */
  label: string;
  /** Bytes it occupies once installed, as the package says: layering puts the largest apart. */
  installedSize: number;
  /**
   * Every file it installed, with the checksums its database records. A source may give it as a
   * getter that makes the list when read ({@link installedFieldsBut} copies a record without it).
   */
  files: InventoryFile[];
  /**
   * Install scripts it carries, none of which ran (neither apk nor dpkg scripts run here), and for
   * a Debian package what of its postinst's update-alternatives commands was not made, and why.
   */
  skippedScripts: string[];
  /**
   * The package database's files that describe this package alone (Debian's status.d files, or
   * its info/ files with dpkg installed), as
   * opposed to a database shared by all (apk's): per-package layering puts them in its layer.
   */
  database?: string[] | undefined;
}

/** The times of an install. */
export interface InstallTimes {
  /** The time of every file the build writes (SOURCE_DATE_EPOCH, or 0). */
  mtime: number;
  /** SOURCE_DATE_EPOCH when set: every package file gets this time instead of its own. */
  clamp: number | undefined;
}

/**
 * One package ecosystem, opened for one build. `C` is its resolver candidate, `P` a fetched
 * package as it reads it.
 */
export interface PackageSource<C extends Candidate = Candidate, P = unknown> {
  readonly ecosystem: Ecosystem;
  /** Its version order and constraints, for the resolver. */
  readonly versionScheme: VersionScheme;
  /** The name this ecosystem gives a configured architecture (apk's spelling): `x86_64` → `amd64` for Debian. */
  archName(arch: string): string;
  /**
   * A `contents.packages` entry as a resolver request, for the architecture `arch` (apk's
   * spelling) when given: an entry may name what only some architecture has (Debian's
   * `libc6:i386`), refused on the others.
   */
  request(text: string, where: string, arch?: string): Request;
  /**
   * Why the repositories cannot give an entry as it asks (apk: a `name@tag` whose tag no
   * repository has), or undefined. Asked when a configuration is resolved or its lock checked
   * (../builder/plan.ts), not of a rebuild from a provenance: its lock names the packages.
   */
  requestRefusal?(text: string, request: Request, where: string): ProvenantError | undefined;
  /** Reads and verifies the indexes for an architecture (apk's spelling). */
  readIndex(arch: string): Promise<SourceIndex<C>>;
  /** The lock entry of a resolved candidate. */
  lockEntry(candidate: C, arch: string): LockedPackage;
  /**
   * Fetches (or takes from the cache) and verifies a locked package. With `signed`, the package
   * must be signed by a trusted key itself: it comes from a lock that no verified index confirms.
   *
   * @throws ProvenantError `UNTRUSTED_KEY` with `signed` when no trusted key signed it (a .deb
   *   never is: only a Release vouches for it)
   */
  fetch(locked: LockedPackage, options?: { signed?: boolean | undefined }): Promise<FetchedPackage<P>>;
  /**
   * Whether the file an earlier build fetched for `planned` (`recorded`, its lock entry completed
   * from the file) is still the one its location serves, for a source whose plan entries may not
   * name a file whole: an apk resolved from its index is named by its `Q1` (the control member)
   * and size, and a repository may sign it again under both. Absent where an entry names its file
   * whole (a .deb by its SHA-256). The build takes an image it recorded (./memo.ts) only then.
   */
  stillServed?(planned: LockedPackage, recorded: LockedPackage): Promise<boolean>;
  /**
   * What a fetched package says of itself, as an untagged resolver candidate: the names it
   * provides, what it depends on, its `install_if`. A locked package that no index lists is known
   * by these only once it is fetched, and a checked lock is walked again with them
   * (../builder/lock-reach.ts). A source whose {@link fetch} refuses every package with `signed`
   * has none (Debian: only a Release vouches for a .deb).
   *
   * @throws ProvenantError `INVALID_PACKAGE` when the package's own fields are malformed
   */
  fetchedCandidate?(fetched: FetchedPackage<P>): Candidate;
  /** The order the ecosystem's package manager would unpack them in: dependencies first. */
  installOrder(packages: readonly P[]): P[];
  /**
   * Installs `packages` in the order given into an empty tree, with the folders the ecosystem
   * expects, its package database and what its install scripts would have made; returns one
   * record per package, in install order. A package is installed once: a source may take its
   * file entries over as it installs it, leaving the package without them (apk does).
   *
   * With `spill`, a source that can keeps the packages' files out of the tree
   * (../vfs/spill.ts) and leaves the packages whole, and throws SpillRefused when it finds
   * something only a tree settles: the build then installs them again without. A source that
   * cannot ignores it.
   */
  install(tree: Tree, packages: readonly P[], arch: string, times: InstallTimes, spill?: SpilledFiles): Promise<InstalledPackage[]>;
  /**
   * The package that gives an image its /etc/os-release when nothing depends on it (Debian's
   * base-files, which is Essential): an image without the file, and a configuration without
   * `os-release`, is built with a warning naming it, since the image then names no distribution
   * and scanners match no advisory to its packages. Absent where the file comes as a dependency
   * (apk: alpine-release, wolfi-baselayout), as apko leaves it.
   */
  readonly osReleasePackage?: string | undefined;
  /**
   * The packages the image's package manager needs to run that nothing depends on, and that
   * `names` (an architecture's packages) lacks: Debian's Essential set when dpkg is installed.
   * Undefined when the image has no such manager, or the source cannot tell (no index read). The
   * build warns of them, naming the configuration.
   */
  missingEssential?(arch: string, names: readonly string[]): string[] | undefined;
  /** What the lock records of the repositories and keys, for these architectures. */
  lockSources(archs: readonly string[]): LockSources;
  /** The trusted keys with their PEM text, for provenance (none for sources whose keys are not PEM). */
  keys(): { name: string; pem: string }[];
}

/**
 * `p`'s own fields but those named in `omit`, copied key by key, so that a field left out is never
 * read. `files` may be a getter that makes the list of every file the package installed (apk's,
 * from its columns; a recalled build's, from the cache: ../builder/memo.ts), and a destructuring
 * that leaves it out reads it all the same.
 */
export function installedFieldsBut(p: InstalledPackage, omit: ReadonlySet<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(p)) if (!omit.has(k)) out[k] = p[k as keyof InstalledPackage];
  return out;
}

/** What makes each record's files where {@link filesOnDemand} gave it them. */
const onDemand = new WeakMap<InstalledPackage, InventoryFiles>();

/**
 * Gives `record` a `files` made by `list` each time it is read: a record, a `/` path and a
 * checksum per file of the image, kept to the end of a build, were a few hundred bytes per file
 * (issue 16). Set, it is a list as any other. {@link inventoryFilesOf} walks them without
 * making the list.
 */
export function filesOnDemand(record: InstalledPackage, list: InventoryFiles): InstalledPackage {
  onDemand.set(record, list);
  Object.defineProperty(record, 'files', {
    enumerable: true,
    configurable: true,
    get: () => {
      const files = list();
      return Array.isArray(files) ? files : [...files];
    },
    set: (value: InventoryFile[]) => {
      onDemand.delete(record);
      Object.defineProperty(record, 'files', { value, enumerable: true, writable: true, configurable: true });
    },
  });
  return record;
}

/**
 * What gives `record`'s files as `files` gives them, one at a time where {@link filesOnDemand}
 * makes them from the package's entries: the 1 GB bench image's build record, which asked for
 * each package's whole list (7,400 files), peaked 5 MB over the image's layer (issue 16).
 */
export function inventoryFilesOf(record: InstalledPackage): InventoryFiles {
  const made = onDemand.get(record);
  if (made !== undefined) return made;
  const files = record.files;
  return () => files;
}
