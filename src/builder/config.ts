/**
 * Loading an image configuration: the file, the files it includes (each relative to the folder
 * of the file that names it, and under the root file's folder), merged as apko merges them,
 * normalized, with where every value was written, so that later steps report `file:line:column`
 * for a package that does not resolve. The schema is read by ./config-schema.ts, merged by
 * ./config-merge.ts.
 *
 * Every file read is copied whole into the build's provenance, so an include must not reach
 * files the configuration's author did not mean to publish: it stays under the root file's
 * folder after symbolic links are followed (apko reads any path), and a file that is not a
 * configuration is described by its shape in errors, never quoted.
 */
import type { Stats } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isProvenantError, type ProvenantError } from '../errors.ts';
import { isWithin, RefusedFile, readSmallFile } from '../io/files.ts';
import { digestHex, digestOf } from '../oci/digest.ts';
import type { DebSource } from '../pkg/deb/sources.ts';
import { isDebianLine } from '../pkg/sources.ts';
import { ConfigError, type ConfigLocation, entries, list, MAX_YAML_BYTES, readYaml, scalarText } from '../yaml.ts';
import { finish, merge } from './config-merge.ts';
import { checkPackageItems, type Part, parsePart } from './config-schema.ts';
import type { ConfigFile, ImageConfig, LoadConfigOptions, LoadedConfig, ParseConfigOptions } from './config-types.ts';
import { shlexProblem } from './shlex.ts';

/** How deep includes may nest; a cycle through symbolic links stops here. */
const MAX_INCLUDE_DEPTH = 32;

/**
 * The hint of an include outside the root config's folder, when no wider folder was named, in the
 * command line's terms; exported so that an adapter without the flag (the Action) can say its own.
 */
export const INCLUDE_ROOT_HINT =
  "an included file must be under the root config's folder (a symbolic link counts where it points): move it there, or name a wider folder with --include-root DIR (includeRoot in the library)";

/**
 * The hint of an include outside the `includeRoot` folder the caller named, in the library's
 * terms; exported, as {@link INCLUDE_ROOT_HINT}, so that an adapter that names the folder itself
 * (the Action names the workspace) can say what that folder is.
 */
export const INCLUDE_ROOT_OPTION_HINT = 'an included file must be under the includeRoot folder (a symbolic link counts where it points)';

function sha256Hex(text: string): string {
  return digestHex(digestOf(text));
}

/**
 * Parses one configuration's text, without following `include` (a config that has one is an
 * error: use {@link loadConfig}). `file` names the text in error messages. Throws a
 * {@link ConfigError} (`INVALID_CONFIG`) for any mistake, and `USAGE` when the config names no
 * architecture and `hostArch` is not one.
 */
export function parseConfig(text: string, file: string, options: ParseConfigOptions): LoadedConfig {
  const part = parsePart(text, file);
  if (part.include !== undefined) {
    throw new ConfigError('INVALID_CONFIG', part.include.at, 'include', 'includes are followed only when loading from a file', {
      hint: 'use loadConfig, which reads the included file',
    });
  }
  return {
    config: checkCommands(finish(part, options), part.locs, file),
    files: [{ path: file, sha256: sha256Hex(text), content: text }],
    raw: text,
    locations: part.locs,
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * A regular file of at most {@link MAX_YAML_BYTES}, as UTF-8 text (../io/files.ts's
 * readSmallFile: a named pipe or /dev/zero is refused, not waited on).
 */
async function readTextFile(path: string): Promise<string> {
  const bytes = await readSmallFile(path, MAX_YAML_BYTES, 'a configuration file');
  try {
    // ignoreBOM keeps a byte-order mark in the text, so the text's UTF-8 is the file's bytes.
    return utf8.decode(bytes);
  } catch (err) {
    throw new ConfigError('INVALID_CONFIG', { file: path }, '', 'the file is not UTF-8 text', { cause: err });
  }
}

function readFailure(err: unknown, path: string, from: ConfigLocation | undefined): ProvenantError {
  if (isProvenantError(err)) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const at = from ?? { file: path };
  const keyPath = from === undefined ? '' : 'include';
  if (err instanceof RefusedFile) {
    return new ConfigError(
      'INVALID_CONFIG',
      at,
      keyPath,
      `${from === undefined ? 'the config file' : 'the included file'} ${path} ${err.problem}`,
    );
  }
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new ConfigError(
      'NOT_FOUND',
      at,
      keyPath,
      `${from === undefined ? 'the config file' : 'the included file'} ${path} does not exist`,
      {
        cause: err,
        hint:
          from === undefined
            ? undefined
            : "an include is relative to the folder of the file that names it (apko's is relative to the working directory)",
      },
    );
  }
  return new ConfigError(
    'IO',
    at,
    keyPath,
    `cannot read ${path}: ${typeof code === 'string' ? code : err instanceof Error ? err.message : String(err)}`,
    {
      cause: err,
    },
  );
}

/** `https://…`, `git+ssh://…`: a URL, which would otherwise be reported as a missing file. */
const URL_LIKE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/** A location with a scheme (`https:`, `file:`): not a path to rebase. */
const SCHEMED = /^[A-Za-z][A-Za-z0-9+.-]*:/;

/**
 * An included file's relative repositories and keys (`part`, its own and its includes', all
 * relative to `folder`), rewritten relative to `toFolder`, the including file's: applied at each
 * level, they end relative to the root file's folder, which the build resolves them against. Each
 * path in a file is relative to that file's folder, as its `include` is. apko resolves all of them
 * against its working directory, the includes too. Absolute paths and URLs are left as written,
 * and so is everything when the two folders are one.
 */
function rebase(part: Part, folder: string, toFolder: string): Part {
  if (resolve(folder) === resolve(toFolder)) return part;
  const path = (p: string): string => {
    if (p === '' || SCHEMED.test(p) || isAbsolute(p)) return p;
    const moved = relative(toFolder, join(folder, p)) || '.';
    // `./` unless it climbs: `.cfg/repo` is a folder's name, and `a:b/repo` would read as a URL.
    const out = moved === '.' || moved === '..' || moved.startsWith(`..${sep}`) ? moved : `./${moved}`;
    return p.endsWith('/') && !out.endsWith('/') ? `${out}/` : out;
  };
  // `URL` or `@tag URL` (apk); a Debian line's keyrings are in `[signed-by=A,B]`.
  const repository = (r: string): string => {
    if (isDebianLine(r)) {
      return r.replace(/(signed-by=)([^\s\]]+)/, (_m, key: string, list: string) => key + list.split(',').map(path).join(','));
    }
    const tagged = /^(\s*@\S+\s+)(\S+)(\s*)$/.exec(r);
    if (tagged !== null) return `${tagged[1]}${path(tagged[2] as string)}${tagged[3]}`;
    return r.trim() === r ? path(r) : r;
  };
  return {
    ...part,
    repositories: part.repositories.map(repository),
    buildRepositories: part.buildRepositories.map(repository),
    runtimeRepositories: part.runtimeRepositories.map(repository),
    keyring: part.keyring.map(path),
  };
}

/**
 * Reads a configuration file and the files it includes, merges them as apko does (the included
 * file is the base, the including file overrides), and normalizes the result. An `include` is
 * relative to the folder of the file that names it, and must stay under `includeRoot` (the root
 * file's folder by default) once symbolic links are followed. Throws a {@link ConfigError}:
 * `INVALID_CONFIG` for a mistake (an include cycle, an include outside the folder, a file that is
 * not a regular file or is over 1 MiB), `NOT_FOUND` or `IO` for a file that cannot be read.
 */
export async function loadConfig(path: string, options: LoadConfigOptions): Promise<LoadedConfig> {
  const read = options.readFile ?? readTextFile;
  // A reader of the caller's own (reproduce reads from a provenance) holds no symbolic links.
  const real = options.readFile === undefined ? realpath : async (p: string) => resolve(p);
  const files: ConfigFile[] = [];
  const chain: { abs: string; path: string }[] = [];
  let rootRaw = '';
  let includeRoot: string | undefined;

  /** Refuses an include whose file, links followed, is not under the include root. */
  const checkInside = async (file: string, from: ConfigLocation): Promise<void> => {
    if (includeRoot === undefined) {
      const folder = options.includeRoot ?? dirname(path);
      try {
        includeRoot = await real(folder);
      } catch (err) {
        throw new ConfigError('NOT_FOUND', from, 'include', `the folder includes are read from, ${folder}, cannot be read`, { cause: err });
      }
    }
    let target: string;
    try {
      target = await real(file);
    } catch (err) {
      throw readFailure(err, file, from);
    }
    if (!isWithin(includeRoot, target)) {
      throw new ConfigError('INVALID_CONFIG', from, 'include', `${file} is outside ${includeRoot}, the folder includes are read from`, {
        hint: options.includeRoot === undefined ? INCLUDE_ROOT_HINT : INCLUDE_ROOT_OPTION_HINT,
      });
    }
  };

  const load = async (file: string, from: ConfigLocation | undefined): Promise<Part> => {
    const abs = resolve(file);
    if (from !== undefined) await checkInside(file, from);
    const seen = chain.findIndex((c) => c.abs === abs);
    if (from !== undefined && seen >= 0) {
      const cycle = [...chain.slice(seen).map((c) => c.path), file].join(' → ');
      throw new ConfigError('INVALID_CONFIG', from, 'include', `the includes form a cycle: ${cycle}`);
    }
    if (from !== undefined && chain.length >= MAX_INCLUDE_DEPTH) {
      throw new ConfigError('INVALID_CONFIG', from, 'include', `includes nest more than ${MAX_INCLUDE_DEPTH} deep`);
    }
    let text: string;
    try {
      text = await read(file);
    } catch (err) {
      throw readFailure(err, file, from);
    }
    if (from === undefined) rootRaw = text;
    files.push({ path: file, sha256: sha256Hex(text), content: text });
    const part = parsePart(text, file);
    if (part.include === undefined) return part;
    if (URL_LIKE.test(part.include.path)) {
      throw new ConfigError('INVALID_CONFIG', part.include.at, 'include', 'remote includes are not supported', {
        hint: 'save the file under this folder and include it by its path',
      });
    }
    chain.push({ abs, path: file });
    const target = isAbsolute(part.include.path) ? part.include.path : join(dirname(file), part.include.path);
    const base = await load(target, part.include.at);
    chain.pop();
    // The base's own includes were rebased to its folder already: each level adds one step.
    return merge(rebase(base, dirname(target), dirname(file)), part);
  };

  const merged = await load(path, undefined);
  // Each file's items were checked against its own repositories; the merged ones know them all.
  checkPackageItems(merged, path);
  return { config: checkCommands(finish(merged, options), merged.locs, path), files, raw: rootRaw, locations: merged.locs };
}

/**
 * Refuses a `cmd` or `entrypoint.command` the build could not split into words (an unterminated
 * quote, a trailing `\`), at the line that wrote it: both builds split them as apko does
 * (./shlex.ts), and would otherwise fail only once the packages are installed, naming no line.
 * A command beside a `shell-fragment` is not split, and is not checked.
 *
 * @throws ConfigError `INVALID_CONFIG` at the command's place
 */
function checkCommands(config: ImageConfig, locs: ReadonlyMap<string, ConfigLocation>, file: string): ImageConfig {
  const fragment = config.entrypoint.shellFragment;
  const commands: [string, string | undefined][] = [
    ['entrypoint.command', fragment === undefined || fragment === '' ? config.entrypoint.command : undefined],
    ['cmd', config.cmd],
  ];
  for (const [key, line] of commands) {
    const problem = line === undefined ? undefined : shlexProblem(line);
    if (problem === undefined) continue;
    throw new ConfigError('INVALID_CONFIG', locs.get(key) ?? { file }, key, problem, {
      hint: 'the command is split into words as apko splits it, without a shell: every quote must close, and a "\\" must escape a character',
    });
  }
  return config;
}

/**
 * The configuration files as a provenance states them: each path relative to `rootDir` (the root
 * file's folder), and an `include` that names its file by an absolute path (allowed under
 * `includeRoot`) rewritten relative to the including file's folder, as a relative include is
 * written, with the digest of that text. A rebuild (`provenant reproduce`) reads the files from
 * the provenance only, by those relative paths; an absolute path would name a file of the
 * building machine, which the provenance neither carries nor should reveal. The image does not
 * depend on how the include was written, only on the files' merged content.
 *
 * An include written through an alias, an anchor or a merge key is left as written: rewriting its
 * text would change other values too.
 */
export function portableConfigFiles(files: readonly ConfigFile[], rootDir: string): ConfigFile[] {
  return files.map((f) => {
    const path = relative(rootDir, f.path) || f.path;
    const content = withRelativeInclude(f);
    return content === f.content ? { path, sha256: f.sha256, content } : { path, sha256: sha256Hex(content), content };
  });
}

/** A file's text with an absolute `include` written relative to the file's folder. */
function withRelativeInclude(f: ConfigFile): string {
  // Every file here was parsed by loadConfig already; one that does not parse now is kept as is.
  let include: Part['include'];
  try {
    include = parsePart(f.content, f.path).include;
  } catch {
    return f.content;
  }
  if (include?.span === undefined || !isAbsolute(include.path)) return f.content;
  const target = relative(dirname(resolve(f.path)), include.path)
    .split(sep)
    .join('/');
  // Plain when a plain scalar reads back as this very string (a path with a folder in it, of
  // characters YAML gives no meaning); else double-quoted, which JSON's escaping spells right.
  const written = /^[A-Za-z0-9_.][A-Za-z0-9_./-]*$/.test(target) && target.includes('/') ? target : JSON.stringify(target);
  const [start, end] = include.span;
  return `${f.content.slice(0, start)}${written}${f.content.slice(end)}`;
}

/** The keys of each package ecosystem that the other's sources do not read. */
const ECOSYSTEM_KEYS: Readonly<Record<string, readonly { key: string; set: (c: LoadedConfig['config']) => boolean; hint?: string }[]>> = {
  // Debian's: apk images have no tzdata maintainer script, Recommends or usrmerge to follow.
  apk: [
    { key: 'timezone', set: (c) => c.timezone !== undefined },
    { key: 'contents.recommends', set: (c) => c.contents.recommends !== undefined },
    { key: 'contents.merged-usr', set: (c) => c.contents.mergedUsr !== undefined },
  ],
  // apk's: a Debian image has no /etc/apk/repositories to write runtime repositories into, and
  // its sources are one list, each line naming its own keys (the source refuses a keyring too,
  // for a library caller that skips this check: ../pkg/deb/source.ts).
  deb: [
    { key: 'contents.build_repositories', set: (c) => c.contents.buildRepositories.length > 0 },
    { key: 'contents.runtime_repositories', set: (c) => c.contents.runtimeRepositories.length > 0 },
    {
      key: 'contents.keyring',
      set: (c) => c.contents.keyring.length > 0,
      hint: "remove contents.keyring and name each source's keys in its line: deb [signed-by=KEYRING] URL SUITE COMPONENT... (a path relative to the folder of the file that writes the line, or an https URL; a line without signed-by is checked with Debian's archive keyring)",
    },
  ],
};

/**
 * The configuration's `archs` as its author wrote them (`armhf`, `arm/v6`, `amd64`), before
 * they became apk's names: `config.archs` says what is built, this what was meant, for a warning
 * about a name an ecosystem reads otherwise. From the file whose `archs` the merge kept (the
 * root's, or an include's); none when the architecture is the host's.
 */
export function archsAsWritten(loaded: LoadedConfig): string[] {
  if (loaded.config.archsFromHost) return [];
  const file = loaded.locations.get('archs')?.file;
  const text = loaded.files.find((f) => f.path === file)?.content;
  if (file === undefined || text === undefined) return [];
  // The text was read once already, without a mistake: read again, it cannot fail.
  const { ctx, root } = readYaml(text, file);
  const archs = entries(ctx, root, '', 'a configuration').find((e) => e.key === 'archs');
  return list(ctx, archs, 'architectures').flatMap(({ node, path }) => scalarText(ctx, node, path) ?? []);
}

/**
 * Refuses a key that the configuration's kind of package source does not read (`timezone` on an
 * apk image, say), rather than building an image without what it asks for.
 *
 * @throws ConfigError `INVALID_CONFIG` at the key's place (`file:line:column`), or naming
 *   `configPath` when no place is known
 */
export function checkEcosystemKeys(loaded: LoadedConfig, configPath: string, ecosystem: string): void {
  for (const { key, set, hint } of ECOSYSTEM_KEYS[ecosystem] ?? []) {
    if (!set(loaded.config)) continue;
    const at = loaded.locations.get(key) ?? { file: configPath };
    const kind = ecosystem === 'apk' ? 'apk repositories' : 'Debian sources';
    throw new ConfigError(
      'INVALID_CONFIG',
      at,
      key,
      `is for ${ecosystem === 'apk' ? 'Debian sources' : 'apk repositories'}, and this image's packages come from ${kind}`,
      { hint: hint ?? `remove ${key}` },
    );
  }
}

/**
 * Refuses a local `contents.keyring` entry, or a Debian source's local `signed-by=` keyring, that
 * is not a file, and a local repository (of `repositories` or `build_repositories`) that is not a
 * folder, at the entry's line (in the file that wrote it, an included one too), before the build
 * reads them: the build would otherwise fail naming only the root configuration. Relative paths
 * are relative to `baseDir`, as the build reads them. URLs are left to the build, and so are a
 * Debian image's `keyring`, which its sources do not read (refused by {@link checkEcosystemKeys}),
 * and a Debian line that does not parse. A Debian source's keyrings are checked with or without
 * `options.repositories`: the build reads them to check the lock against the indexes too.
 *
 * @throws ConfigError `NOT_FOUND` for a path with nothing there, `INVALID_CONFIG` for a key that
 *   is not a regular file or a repository that is not a folder, at the entry's place
 */
export async function checkLocalSources(
  loaded: LoadedConfig,
  configPath: string,
  baseDir: string,
  options: { repositories: boolean },
): Promise<void> {
  const { contents } = loaded.config;
  const local = (location: string): string | undefined => {
    if (location.startsWith('file:')) {
      try {
        return fileURLToPath(location);
      } catch {
        return undefined;
      }
    }
    return SCHEMED.test(location) ? undefined : resolve(baseDir, location);
  };
  type Want = 'key' | 'signed-by' | 'folder';
  const missingHint: Record<Want, string> = {
    key: 'the public key file',
    'signed-by': 'the keyring file (binary .gpg or armored .asc)',
    folder: "the repository's folder",
  };
  const check = async (key: string, location: string, want: Want): Promise<void> => {
    const path = local(location);
    if (path === undefined) return;
    const at = loaded.locations.get(key) ?? { file: configPath };
    const what = want === 'signed-by' ? `the signed-by keyring ${path}` : path;
    let st: Stats;
    try {
      st = await stat(path);
    } catch (err) {
      const missing = ['ENOENT', 'ENOTDIR'].includes(String((err as NodeJS.ErrnoException).code));
      const why = missing ? 'does not exist' : `cannot be read (${err instanceof Error ? err.message : String(err)})`;
      throw new ConfigError(missing ? 'NOT_FOUND' : 'IO', at, key, `${what} ${why}`, {
        cause: err,
        hint: `a relative path is relative to the folder of the file that writes it; write the path of ${missingHint[want]}, or an https URL`,
      });
    }
    if (want === 'folder' ? !st.isDirectory() : !st.isFile()) {
      const hint: Record<Want, string> = {
        key: 'name each public key file on its own (keyring: [./keys/a.rsa.pub, ./keys/b.rsa.pub]), not the folder that holds them',
        'signed-by': 'name each keyring file on its own (signed-by=./keys/a.gpg,./keys/b.asc), not the folder that holds them',
        folder: "name the repository's folder, the one that holds a folder per architecture (x86_64/APKINDEX.tar.gz)",
      };
      throw new ConfigError('INVALID_CONFIG', at, key, `${what} is not ${want === 'folder' ? 'a folder' : 'a regular file'}`, {
        hint: hint[want],
      });
    }
  };
  const lists = [
    ['contents.repositories', contents.repositories],
    ['contents.build_repositories', contents.buildRepositories],
  ] as const;
  if (lists.some(([, entries]) => entries.some(isDebianLine))) {
    // Loaded only for a Debian configuration: an apk build does not load the Debian source.
    const { parseSourceLine } = await import('../pkg/deb/sources.ts');
    for (const [list, entries] of lists) {
      for (const [i, r] of entries.entries()) {
        if (!isDebianLine(r)) continue;
        let source: DebSource;
        try {
          source = parseSourceLine(r);
        } catch {
          continue;
        }
        for (const key of source.signedBy ?? []) await check(`${list}[${i}]`, key, 'signed-by');
      }
    }
    return;
  }
  for (const [i, key] of contents.keyring.entries()) await check(`contents.keyring[${i}]`, key, 'key');
  if (!options.repositories) return;
  for (const [list, entries] of lists) {
    for (const [i, r] of entries.entries()) {
      const url = /^\s*@\S+\s+(\S+)\s*$/.exec(r)?.[1] ?? r.trim();
      await check(`${list}[${i}]`, url, 'folder');
    }
  }
}
