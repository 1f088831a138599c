/**
 * The image configuration's types: apko's YAML schema (chainguard-dev/apko,
 * pkg/build/types/types.go) typed and normalized, and what loading a configuration returns.
 * docs/config.md gives each field's YAML spelling and where Provenant differs from apko.
 */
import type { ConfigLocation } from '../yaml.ts';

/** An architecture as apk names it; the config accepts apko's and OCI's spellings as well. */
export type ApkArch = 'x86_64' | 'aarch64' | 'armv7' | 'armhf' | 'x86' | 'ppc64le' | 's390x' | 'riscv64' | 'loongarch64';

/** `contents`: where packages come from, which keys sign them, and which to install. */
export interface ImageContents {
  /** Debian: also install Recommends (off by default, as `--no-install-recommends`). */
  readonly recommends?: boolean;
  /** Debian: merge /bin, /sbin and /lib into /usr (symlinks), as Debian 12's usrmerge does. */
  readonly mergedUsr?: boolean;
  /** apk repositories used to build and written to /etc/apk/repositories. Trailing `/` removed, as apko does. */
  readonly repositories: readonly string[];
  /** apk repositories used to build only (`build_repositories`). */
  readonly buildRepositories: readonly string[];
  /** apk repositories written to /etc/apk/repositories only (`runtime_repositories`). */
  readonly runtimeRepositories: readonly string[];
  /** Public keys (paths or URLs) that verify the repositories' indexes. */
  readonly keyring: readonly string[];
  /** Package constraints to install (`name`, `name=1.2-r0`, `name>1`, `name@tag`). */
  readonly packages: readonly string[];
}

/** `entrypoint`. Every field is optional; an empty entrypoint leaves the image's unset. */
export interface ImageEntrypoint {
  /**
   * `service-bundle` (the only type apko knows): s6 supervises `services`. Not supported yet:
   * loadConfig refuses it, and so does buildImage for a config made by hand.
   */
  readonly type?: 'service-bundle';
  /** The command, a shell-style word list that the build splits. */
  readonly command?: string;
  /** `shell-fragment`: run as `/bin/sh -c FRAGMENT`. */
  readonly shellFragment?: string;
  /** `services`: service name to command. Not supported yet: loadConfig refuses a non-empty one. */
  readonly services: Readonly<Record<string, string>>;
}

/** One entry of `accounts.users`, with apko's defaults filled in. */
export interface ImageUser {
  readonly username: string;
  readonly uid: number;
  /** The primary group; apko's default is the uid. */
  readonly gid: number;
  /** apko's default is `/bin/sh`. */
  readonly shell: string;
  /** apko's default is `/home/<username>`. */
  readonly homedir: string;
}

/** One entry of `accounts.groups`. */
export interface ImageGroup {
  readonly groupname: string;
  readonly gid: number;
  readonly members: readonly string[];
}

/** `accounts`. */
export interface ImageAccounts {
  /** `run-as`: a user name or uid; absent leaves the image config's User unset (root). */
  readonly runAs?: string;
  readonly users: readonly ImageUser[];
  readonly groups: readonly ImageGroup[];
}

/** The kinds of `paths` entry apko knows. */
export type PathMutationType = 'directory' | 'empty-file' | 'hardlink' | 'symlink' | 'permissions';

/** One entry of `paths`: a change made to the filesystem after packages are installed. */
export interface PathMutation {
  /** The path in the image. */
  readonly path: string;
  readonly type: PathMutationType;
  /** Owner; absent leaves ownership unchanged unless `gid` is set (then the uid is 0), as in apko. */
  readonly uid?: number;
  /** Group; absent leaves ownership unchanged unless `uid` is set (then the gid is 0), as in apko. */
  readonly gid?: number;
  /**
   * Mode bits (0 to 0o7777). Always present for `permissions` (required); absent for other types
   * when the file did not give it (the build then makes a `directory` 0o755, the folder alone).
   */
  readonly permissions?: number;
  /** The link target, for `hardlink` and `symlink` (required there). */
  readonly source?: string;
  /** Apply permissions and ownership to everything beneath `path`. */
  readonly recursive: boolean;
}

/** `layering`: split packages into several layers. */
export interface ImageLayering {
  /**
   * `origin` (apko's): packages grouped by the source package they were built from;
   * `per-package` (Provenant's): each package a layer of its own, with its database records
   * where the ecosystem keeps them per package.
   */
  readonly strategy: 'origin' | 'per-package';
  /**
   * How many layers at most, the first holding what is not in a package layer. With `origin`, 0
   * behaves as 1 (as in apko); with `per-package`, 0 means no limit.
   */
  readonly budget: number;
}

/** `os-release`: fields for /etc/os-release (a key older apko releases had). */
export interface ImageOsRelease {
  readonly id?: string;
  readonly name?: string;
  readonly prettyName?: string;
  readonly versionId?: string;
  readonly homeUrl?: string;
  readonly bugReportUrl?: string;
}

/**
 * An image configuration, typed and normalized: includes merged, architectures in apk spelling,
 * defaults filled in. Field names are camelCase; the YAML spelling of each is in its TSDoc and in
 * docs/config.md, and {@link LoadedConfig.locations} is keyed by the YAML spelling.
 */
export interface ImageConfig {
  readonly contents: ImageContents;
  readonly entrypoint: ImageEntrypoint;
  /** `cmd`: arguments to the entrypoint, a shell-style word list. */
  readonly cmd?: string;
  /** `stop-signal`. */
  readonly stopSignal?: string;
  /** `work-dir`. */
  readonly workDir?: string;
  readonly accounts: ImageAccounts;
  /** `archs`, in apk spelling, without duplicates, in the order written. Never empty. */
  readonly archs: readonly ApkArch[];
  /** True when the config named no architecture and `archs` is the host's. */
  readonly archsFromHost: boolean;
  /** `environment`, as written: the build adds a default PATH when this has none. */
  readonly environment: Readonly<Record<string, string>>;
  readonly paths: readonly PathMutation[];
  /** `vcs-url`. */
  readonly vcsUrl?: string;
  readonly annotations: Readonly<Record<string, string>>;
  readonly volumes: readonly string[];
  /** Absent for a single layer (no `layering`, or `layering: {}`). */
  readonly layering?: ImageLayering;
  /** `os-release`. */
  readonly osRelease?: ImageOsRelease;
  /** The time zone /etc/localtime points at (Debian images: from tzdata), e.g. `Europe/Paris`. */
  readonly timezone?: string;
}

/** One file a configuration was read from, for provenance. */
export interface ConfigFile {
  /** The path as it was read (the loader's argument, or an include joined to its file's folder). */
  readonly path: string;
  /** Hex SHA-256 of the file's bytes. */
  readonly sha256: string;
  /** The file's text exactly, for provenance (a rebuild needs every file as it was). */
  readonly content: string;
}

/** What {@link loadConfig} and {@link parseConfig} return. */
export interface LoadedConfig {
  readonly config: ImageConfig;
  /** Every file read, the root first, then each include in the order followed. */
  readonly files: readonly ConfigFile[];
  /** The root file's exact text. */
  readonly raw: string;
  /**
   * Where each value of the merged configuration was written, keyed by its YAML key path
   * (`contents.packages[2]`, `environment.PATH`, `annotations["org.opencontainers.image.url"]`),
   * so later steps can report `file:line:column` for a package that does not resolve. Values the
   * loader filled in have no entry.
   */
  readonly locations: ReadonlyMap<string, ConfigLocation>;
}

/** Options of {@link parseConfig}. */
export interface ParseConfigOptions {
  /**
   * The architecture to build for when the config names none: any name {@link normalizeArch}
   * takes, or a Node `process.arch` value (`x64`, `ia32`, `arm`). Only read when needed.
   */
  hostArch: string;
  /**
   * The configuration of an image already built, read back to rebuild it (from its provenance, or
   * apko's /etc/apko.json): a refusal newer than the build does not apply, so that what an earlier
   * Provenant built still reproduces. Now: two configured users, or groups, of one name that
   * differ are kept, both lines written, as that build wrote them.
   */
  rebuild?: boolean | undefined;
}

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions extends ParseConfigOptions {
  /** Reads a file as UTF-8 text; by default from the local filesystem. Tests pass an in-memory one. */
  readFile?: ((path: string) => Promise<string>) | undefined;
  /**
   * The folder every included file must be under, symbolic links followed (with the default
   * readFile): by default the root config's folder. Name a wider one (a repository's root) to
   * allow `include: ../base.yaml`.
   */
  includeRoot?: string | undefined;
}
