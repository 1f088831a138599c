/** The keychains of Docker's config.json (with credential helpers) and of podman's auth.json, and the order a CLI consults them in. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ProvenantError } from '../errors.ts';
import { DOCKER_HUB } from '../ref/reference.ts';
import { Credentials } from './credentials.ts';
import { chainKeychains, DOCKER_HUB_AUTH_KEY, type Keychain, normalizeRegistry } from './keychain.ts';

/** One entry of `auths` in Docker's config.json or containers' auth.json. */
interface AuthEntry {
  auth?: unknown;
  username?: unknown;
  password?: unknown;
  identitytoken?: unknown;
  registrytoken?: unknown;
}

/** Docker's config.json (and containers' auth.json), as far as credentials go. */
export interface ConfigFile {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

/** Options shared by the file keychains. */
export interface FileKeychainOptions {
  /**
   * The environment credential helpers run with (the CLI passes its own; tests pass a PATH that
   * holds a fake helper). When absent, helpers inherit the process environment.
   */
  env?: Record<string, string | undefined> | undefined;
  /** How long a credential helper may take. Default 30 s (a helper may ask the user to unlock a keyring). */
  helperTimeoutMs?: number | undefined;
}

/** Options of {@link DockerConfigKeychain}. */
export interface DockerConfigKeychainOptions extends FileKeychainOptions {
  /** The config.json file (`$DOCKER_CONFIG/config.json`, by default `~/.docker/config.json`). */
  configPath: string;
}

/**
 * Docker's credentials (https://docs.docker.com/reference/cli/docker/login/): per registry, a
 * `credHelpers` entry names a `docker-credential-<name>` program; else a `credsStore` names one
 * for every registry; a registry with a helper has only what the helper answers. Else the
 * `auths` entry holds a base64 `auth` (`user:password`), or `username`/`password`, or an
 * `identitytoken`.
 *
 * The file is read once, on first use. A missing file is no credentials; a malformed one is a
 * CREDENTIALS error naming the file (never its content).
 */
export class DockerConfigKeychain implements Keychain {
  readonly configPath: string;
  readonly #options: FileKeychainOptions;
  #config: Promise<ConfigFile | undefined> | undefined;

  constructor(options: DockerConfigKeychainOptions) {
    this.configPath = options.configPath;
    this.#options = options;
  }

  async resolve(registry: string, _repository?: string): Promise<Credentials | undefined> {
    const config = await this.read();
    if (config === undefined) return undefined;
    // The host's credential helper, else the credsStore; only without either the auths entry.
    // Docker's CLI (cli/config/configfile GetCredentialsStore) gives a registry with a helper to
    // the helper alone: its "not found" is no credentials, and an auths entry left from before
    // the helper was set up is not used. An empty credHelpers entry opts the host out of the
    // credsStore, back to auths.
    const host = normalizeRegistry(registry);
    const helper = findByHost(config.credHelpers, host) ?? config.credsStore;
    if (helper !== undefined && helper !== '') {
      return runCredentialHelper(helper, serverUrlFor(host, config), this.#options, this.configPath);
    }
    const entry = findByHost(config.auths, host);
    return entry === undefined ? undefined : entryCredentials(entry, this.configPath);
  }

  /** The file's content, read once; undefined when there is no file. */
  protected read(): Promise<ConfigFile | undefined> {
    this.#config ??= readConfig(this.configPath);
    return this.#config;
  }

  toString(): string {
    return `DockerConfigKeychain(${this.configPath})`;
  }
}

/** Options of {@link PodmanAuthKeychain}. */
export interface PodmanAuthKeychainOptions extends FileKeychainOptions {
  /** The auth.json file (`$REGISTRY_AUTH_FILE`, by default `$XDG_RUNTIME_DIR/containers/auth.json`: see {@link defaultKeychainPaths}). */
  authPath: string;
}

/**
 * The credentials of podman, buildah and skopeo (containers-auth.json(5)): Docker's format, where
 * `auths` keys may also name a namespace or repository (`registry.example/team`); a `credHelpers`
 * entry for the host wins over all of them, else the most specific key that matches the repository,
 * then Docker's lookup of the host.
 */
export class PodmanAuthKeychain extends DockerConfigKeychain {
  readonly authPath: string;

  constructor(options: PodmanAuthKeychainOptions) {
    super({ ...options, configPath: options.authPath });
    this.authPath = options.authPath;
  }

  override async resolve(registry: string, repository?: string): Promise<Credentials | undefined> {
    const config = await this.read();
    const auths = config?.auths;
    const host = normalizeRegistry(registry);
    // containers-auth.json(5): a credHelpers entry (host names only) is consulted first, and
    // alone: no auths entry for that registry, namespaced or not, is used beside it.
    const helper = findByHost(config?.credHelpers, host);
    if (helper !== undefined && helper !== '') return super.resolve(registry);
    if (repository !== undefined && auths !== undefined) {
      // containers-auth.json(5): "registry/namespace/repo" entries are looked up from the most
      // specific path to the least before the host itself.
      const parts = repository.split('/');
      for (let n = parts.length; n > 0; n--) {
        const key = `${host}/${parts.slice(0, n).join('/')}`;
        const entry = Object.entries(auths).find(([k]) => stripScheme(k).toLowerCase() === key)?.[1];
        // An entry without credentials (`{}`) stands for none: the less specific keys and the host's own lookup follow.
        const credentials = entry === undefined ? undefined : entryCredentials(entry, this.authPath);
        if (credentials !== undefined) return credentials;
      }
    }
    return super.resolve(registry);
  }

  override toString(): string {
    return `PodmanAuthKeychain(${this.authPath})`;
  }
}

/** The credential files a CLI should consult, in order. */
export interface KeychainPaths {
  /** containers' auth.json files (podman, skopeo), first match wins. */
  podmanAuthPaths: string[];
  /** Docker's config.json. */
  dockerConfigPath: string;
  /** Which to ask first: an explicitly set REGISTRY_AUTH_FILE wins over Docker's default file. */
  order: Array<'podman' | 'docker'>;
}

/**
 * Where credentials live, from the environment the CLI passes in (the library never reads
 * the process environment): `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`; and
 * containers-auth.json(5)'s files in containers/image's order: `$REGISTRY_AUTH_FILE` alone when
 * it is set, else `$XDG_RUNTIME_DIR/containers/auth.json` (podman's login file; with
 * XDG_RUNTIME_DIR unset, as for root in a container, in CI or under sudo,
 * `/run/containers/$UID/auth.json`), then `$XDG_CONFIG_HOME/containers/auth.json` (default
 * `~/.config/containers/auth.json`).
 *
 * `uid` is the user's id for the `/run/containers` file; without it (the caller gave none) that
 * file is left out. The CLI and the Action pass `process.getuid()` on every system that has it,
 * not only Linux: on macOS the file does not exist and is not found, as any missing file; on
 * Windows there is no user id, so no such file.
 *
 * Order: Docker's config first (most CI logins write it), unless REGISTRY_AUTH_FILE is set: a
 * file the user pointed at explicitly wins.
 */
export function defaultKeychainPaths(env: Record<string, string | undefined>, homedir: string, uid?: number): KeychainPaths {
  const dockerDir = nonEmpty(env.DOCKER_CONFIG) ?? join(homedir, '.docker');
  const podmanAuthPaths: string[] = [];
  const explicit = nonEmpty(env.REGISTRY_AUTH_FILE);
  if (explicit !== undefined) podmanAuthPaths.push(explicit);
  else {
    // containers/image pkg/docker/config getPathToAuth: the runtime directory's file, or the
    // fixed one podman uses when there is no runtime directory (skopeo --debug names it).
    const runtime = nonEmpty(env.XDG_RUNTIME_DIR);
    if (runtime !== undefined) podmanAuthPaths.push(join(runtime, 'containers', 'auth.json'));
    else if (uid !== undefined) podmanAuthPaths.push(`/run/containers/${uid}/auth.json`);
    podmanAuthPaths.push(join(nonEmpty(env.XDG_CONFIG_HOME) ?? join(homedir, '.config'), 'containers', 'auth.json'));
  }
  const order: Array<'podman' | 'docker'> = explicit !== undefined ? ['podman', 'docker'] : ['docker', 'podman'];
  return { podmanAuthPaths, dockerConfigPath: join(dockerDir, 'config.json'), order };
}

/** Options of {@link defaultKeychain}. */
export interface DefaultKeychainOptions {
  /** The environment (the CLI passes its environment; the library never reads it itself). */
  env: Record<string, string | undefined>;
  /** The user's home folder. */
  homedir: string;
  /**
   * The user id of `/run/containers/$UID/auth.json` (read when XDG_RUNTIME_DIR is unset; the
   * library reads no process state: the CLI and the Action pass this process's). Without it that
   * file is not read.
   */
  uid?: number | undefined;
  /** How long a credential helper may take. */
  helperTimeoutMs?: number | undefined;
}

/** The keychain of {@link defaultKeychainPaths}: every file, in its order. */
export function defaultKeychain(options: DefaultKeychainOptions): Keychain {
  const env = options.env;
  const paths = defaultKeychainPaths(env, options.homedir, options.uid);
  const helperOptions: FileKeychainOptions = { env, helperTimeoutMs: options.helperTimeoutMs };
  const podman = paths.podmanAuthPaths.map((authPath) => new PodmanAuthKeychain({ ...helperOptions, authPath }));
  const docker = new DockerConfigKeychain({ ...helperOptions, configPath: paths.dockerConfigPath });
  return chainKeychains(...paths.order.flatMap((k): Keychain[] => (k === 'docker' ? [docker] : podman)));
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

async function readConfig(path: string): Promise<ConfigFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new ProvenantError('CREDENTIALS', `cannot read the credentials file: ${code ?? 'error'}`, { where: path, cause: err });
  }
  if (text.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Not the parser's message: it can quote the file's content, which holds secrets.
    throw new ProvenantError('CREDENTIALS', 'the credentials file is not valid JSON', {
      where: path,
      hint: 'fix or remove the file, or log in again',
    });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProvenantError('CREDENTIALS', 'the credentials file is not a JSON object', { where: path });
  }
  const v = value as Record<string, unknown>;
  const out: ConfigFile = {};
  if (isRecord(v.auths)) {
    const auths: Record<string, AuthEntry> = {};
    for (const [key, entry] of Object.entries(v.auths)) {
      // null reads as an empty entry, as Docker's decoder reads it; anything else but an object is refused.
      if (entry === null) auths[key] = {};
      else if (isRecord(entry)) auths[key] = entry as AuthEntry;
      else throw new ProvenantError('CREDENTIALS', `the "auths" entry ${JSON.stringify(key)} is not a JSON object`, { where: path });
    }
    out.auths = auths;
  }
  if (typeof v.credsStore === 'string') out.credsStore = v.credsStore;
  if (isRecord(v.credHelpers)) {
    out.credHelpers = Object.fromEntries(Object.entries(v.credHelpers).filter((e): e is [string, string] => typeof e[1] === 'string'));
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stripScheme(key: string): string {
  return key.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
}

/** The value whose key names `host` (keys may be URLs, host:port, or Docker Hub's v1 URL). */
function findByHost<T>(map: Record<string, T> | undefined, host: string): T | undefined {
  if (map === undefined) return undefined;
  // An exact key first, so that "localhost:5000" and "http://localhost:5000" cannot shadow each other unpredictably.
  if (Object.hasOwn(map, host)) return map[host];
  for (const [key, value] of Object.entries(map)) if (namesHost(key, host)) return value;
  return undefined;
}

/**
 * True for a key that names `host` itself (a URL, host:port, or Docker Hub's v1 URL), not a
 * namespace or repository on it (`registry.example/team`, which only containers-auth.json(5) knows).
 */
function namesHost(key: string, host: string): boolean {
  return (
    normalizeRegistry(key) === host &&
    !stripScheme(key)
      .replace(/\/(v1|v2)?\/?$/, '')
      .includes('/')
  );
}

/** The server URL a credential helper is asked about: what `docker login` stored it under. */
function serverUrlFor(host: string, config: ConfigFile): string {
  if (host === DOCKER_HUB) return DOCKER_HUB_AUTH_KEY;
  const key = Object.keys(config.auths ?? {}).find((k) => namesHost(k, host));
  return key ?? host;
}

function entryCredentials(entry: AuthEntry, path: string): Credentials | undefined {
  const err = (what: string) => new ProvenantError('CREDENTIALS', `an "auths" entry has ${what}`, { where: path });
  if (typeof entry.identitytoken === 'string' && entry.identitytoken !== '') {
    const username = typeof entry.username === 'string' ? entry.username : decodeAuth(entry.auth)?.username;
    return new Credentials({ identityToken: entry.identitytoken, username });
  }
  if (typeof entry.registrytoken === 'string' && entry.registrytoken !== '') {
    return new Credentials({ registryToken: entry.registrytoken });
  }
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = decodeAuth(entry.auth);
    if (decoded === undefined) throw err('an "auth" value that is not base64 of user:password');
    return new Credentials(decoded);
  }
  if (typeof entry.username === 'string' && typeof entry.password === 'string' && entry.username !== '') {
    return new Credentials({ username: entry.username, password: entry.password });
  }
  return undefined;
}

function decodeAuth(auth: unknown): { username: string; password: string } | undefined {
  if (typeof auth !== 'string' || !/^[A-Za-z0-9+/=\s_-]*$/.test(auth)) return undefined;
  const text = Buffer.from(auth, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/**
 * Runs `docker-credential-<name> get` with the server URL on stdin, as the credential helper
 * protocol says (https://github.com/docker/docker-credential-helpers): the answer is JSON
 * `{"ServerURL","Username","Secret"}`, and a Username of `<token>` means the secret is an
 * identity token. "credentials not found" (exit status 1) means none.
 */
async function runCredentialHelper(
  name: string,
  serverUrl: string,
  options: FileKeychainOptions = {},
  configPath?: string,
): Promise<Credentials | undefined> {
  const program = `docker-credential-${name}`;
  const where = configPath === undefined ? program : `${program} (named in ${configPath})`;
  if (!/^[A-Za-z0-9._-]+$/.test(name)) {
    throw new ProvenantError('CREDENTIALS', `"${name}" is not a credential helper name`, { where: configPath });
  }
  const result = await new Promise<{ status: number | null; stdout: string; stderr: string; error?: Error }>((resolve) => {
    const env = options.env === undefined ? undefined : definedEnv(options.env);
    // Taken here, not imported: node:child_process takes about 2.5 ms to load, and most runs
    // ask no credential helper.
    const { spawn } = process.getBuiltinModule('node:child_process');
    const child = spawn(program, ['get'], { stdio: ['pipe', 'pipe', 'pipe'], ...(env === undefined ? {} : { env }) });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), options.helperTimeoutMs ?? 30_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (stdout.length < 1 << 20) stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 1 << 16) stderr += d;
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ status: null, stdout, stderr, error });
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(serverUrl);
  });
  if (result.error !== undefined) {
    const notFound = (result.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new ProvenantError('CREDENTIALS', notFound ? `${program} is not installed` : `${program} could not be run`, {
      where,
      cause: result.error,
      hint: notFound ? `install ${program} or remove it from the Docker config` : undefined,
    });
  }
  const said = `${result.stdout}\n${result.stderr}`;
  if (result.status !== 0) {
    if (/credentials not found|not found in native keychain|no credentials/i.test(said)) return undefined;
    // The helper's own words are not repeated: helpers have been known to echo what they read.
    throw new ProvenantError('CREDENTIALS', `${program} failed (exit status ${result.status ?? 'killed'})`, {
      where,
      hint: `run "echo ${serverUrl} | ${program} get" to see why`,
    });
  }
  let answer: unknown;
  try {
    answer = JSON.parse(result.stdout);
  } catch {
    throw new ProvenantError('CREDENTIALS', `${program} did not answer with JSON`, { where });
  }
  if (!isRecord(answer) || typeof answer.Secret !== 'string') {
    throw new ProvenantError('CREDENTIALS', `${program} answered without a Secret`, { where });
  }
  const username = typeof answer.Username === 'string' ? answer.Username : '';
  if (answer.Secret === '' && username === '') return undefined;
  if (username === '<token>') return new Credentials({ identityToken: answer.Secret });
  return new Credentials({ username, password: answer.Secret });
}

function definedEnv(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}
