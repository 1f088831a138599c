// The real registry for integration tests: startRegistry() and useRegistry() (not a test file).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before } from 'node:test';
import { makeSigningMaterial, startTokenServer, type TokenServer } from './token-server.ts';

/**
 * The real registry for integration tests: Debian's `docker-registry` (distribution 2.8),
 * one process per `startRegistry()`, on 127.0.0.1 and a free port, storing into a temporary
 * folder. `PROVENANT_DOCKER_REGISTRY` may name another binary (for instance upstream's
 * `registry`), which must take `serve <config.yml>`.
 */

function findExecutable(name: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  for (const dir of [...dirs, '/usr/bin', '/usr/local/bin']) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The registry binary, when there is one. */
export const registryBinary: string | undefined = process.env.PROVENANT_DOCKER_REGISTRY ?? findExecutable('docker-registry');

/**
 * The reason to pass as `skip` for tests that need the registry, or false when it is
 * installed: `test('push', { skip: registryMissing }, ...)`.
 */
export const registryMissing: string | false = (() => {
  if (registryBinary === undefined) {
    return "docker-registry (distribution 2.8) not found on PATH: install Debian's docker-registry package, or set PROVENANT_DOCKER_REGISTRY";
  }
  try {
    accessSync(registryBinary, constants.X_OK);
    return false;
  } catch {
    return `registry binary ${registryBinary} is not executable`;
  }
})();

/** A running registry. */
export interface TestRegistry {
  /** `127.0.0.1:PORT`, what goes in image references. */
  host: string;
  /** `http://127.0.0.1:PORT` (`https://` with `tls`). */
  url: string;
  /** Set for 'htpasswd' and 'token' auth. */
  username?: string;
  /** Random per start. */
  password?: string;
  /** For 'token' auth: the token server (`url` is its base; the realm is `url + '/token'`). */
  tokenServer?: { url: string; tokensIssued(): number };
  /** The registry's filesystem storage root (`docker/registry/v2/...` lives under it). */
  storageDir: string;
  /** Stops the registry (and token server) and removes the temporary folder. Idempotent. */
  stop(): Promise<void>;
}

/** Options of `startRegistry`. */
export interface StartRegistryOptions {
  /** 'none' (default), HTTP Basic against an htpasswd file, or Docker token auth. */
  auth?: 'none' | 'htpasswd' | 'token';
  /**
   * Serve HTTPS with this certificate and key (PEM files): a self-signed certificate that also
   * names IP:127.0.0.1, which the readiness probe trusts alone.
   */
  tls?: { certPath: string; keyPath: string };
  /** Refuse every write (distribution's maintenance.readonly), as a registry under maintenance does. */
  readonly?: boolean;
}

// ---- cleanup on exit -------------------------------------------------------------------

/** What must go when the process ends, even if a test failed before its `after()`. */
const live = new Set<{ child: ChildProcess | undefined; dir: string }>();
let exitHookInstalled = false;

function cleanupNow(): void {
  for (const entry of live) {
    // Only the child we spawned, by its handle (its pid), never by name.
    if (entry.child !== undefined && entry.child.exitCode === null && entry.child.signalCode === null) entry.child.kill('SIGKILL');
    rmSync(entry.dir, { recursive: true, force: true });
  }
  live.clear();
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', cleanupNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      cleanupNow();
      // Die of the same signal, as if we had not been listening.
      process.kill(process.pid, signal);
    });
  }
}

// ---- helpers ---------------------------------------------------------------------------

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function randomSecret(): string {
  // base64url has no ':' so the password is safe in Basic credentials.
  return randomBytes(18).toString('base64url');
}

/** YAML accepts JSON strings, which quotes paths and secrets safely. */
const q = (s: string): string => JSON.stringify(s);

function configYaml(port: number, storageDir: string, auth: string[], tls: StartRegistryOptions['tls'], readonly = false): string {
  return [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${q(storageDir)}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    ...(readonly ? ['    readonly:', '      enabled: true'] : []),
    'http:',
    `  addr: ${q(`127.0.0.1:${port}`)}`,
    `  secret: ${q(randomSecret())}`,
    ...(tls === undefined ? [] : ['  tls:', `    certificate: ${q(tls.certPath)}`, `    key: ${q(tls.keyPath)}`]),
    ...auth,
    '',
  ].join('\n');
}

function makeHtpasswd(path: string, username: string, password: string): void {
  // bcrypt is the only hash distribution accepts; cost 4 (the minimum) keeps per-request checks fast.
  const r = spawnSync('htpasswd', ['-Bbn', '-C', '4', username, password], { encoding: 'utf8' });
  if (r.error) throw new Error(`htpasswd could not be run (install apache2-utils): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`htpasswd failed: ${r.stderr}`);
  writeFileSync(path, `${r.stdout.trim()}\n`, { mode: 0o600 });
}

/** The registry's environment without REGISTRY_* variables, which would override config.yml. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;
  return env;
}

interface Spawned {
  child: ChildProcess;
  output: () => string;
}

function spawnRegistry(configPath: string): Spawned {
  const child = spawn(registryBinary!, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() });
  let out = '';
  const keep = (b: Buffer): void => {
    out = (out + b.toString('utf8')).slice(-16_384);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('error', (err) => keep(Buffer.from(`spawn error: ${err.message}\n`)));
  return { child, output: () => out };
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits for `GET /v2/` to answer 200 or 401; 'exited' if the process died first. */
async function waitReady(
  url: string,
  child: ChildProcess,
  timeoutMs: number,
  ca: Buffer | undefined,
): Promise<'ready' | 'exited' | 'timeout'> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited(child)) return 'exited';
    try {
      const status = await probe(`${url}/v2/`, ca);
      if ((status === 200 || status === 401) && !exited(child)) return 'ready';
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  return exited(child) ? 'exited' : 'timeout';
}

/** The status of a GET of `url`, over HTTPS trusting `ca` alone when it is given. */
async function probe(url: string, ca: Buffer | undefined): Promise<number> {
  if (ca === undefined) {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status;
  }
  return new Promise((resolve, reject) => {
    const req = httpsGet(url, { ca, timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (exited(child)) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    if (!exited(child)) child.kill('SIGKILL');
  }, 5000);
  await gone;
  clearTimeout(timer);
}

// ---- startRegistry ---------------------------------------------------------------------

/**
 * Starts a fresh registry. Call `stop()` in `after()`; a registry left running is killed
 * and its folder removed when the process exits anyway.
 */
export async function startRegistry(options: StartRegistryOptions = {}): Promise<TestRegistry> {
  if (registryMissing) throw new Error(registryMissing);
  const auth = options.auth ?? 'none';
  const ca = options.tls === undefined ? undefined : readFileSync(options.tls.certPath);
  installExitHook();

  const dir = mkdtempSync(join(tmpdir(), 'provenant-registry-'));
  const entry: { child: ChildProcess | undefined; dir: string } = { child: undefined, dir };
  live.add(entry);
  const storageDir = join(dir, 'storage');
  mkdirSync(storageDir);
  let tokenServer: TokenServer | undefined;

  const cleanup = async (): Promise<void> => {
    if (entry.child !== undefined) await stopChild(entry.child);
    if (tokenServer !== undefined) await tokenServer.stop();
    rmSync(dir, { recursive: true, force: true });
    live.delete(entry);
  };

  try {
    const username = 'provenant';
    const password = randomSecret();
    let authYaml: string[] = [];
    if (auth === 'htpasswd') {
      const htpasswdPath = join(dir, 'htpasswd');
      makeHtpasswd(htpasswdPath, username, password);
      authYaml = ['auth:', '  htpasswd:', '    realm: basic-realm', `    path: ${q(htpasswdPath)}`];
    } else if (auth === 'token') {
      const material = makeSigningMaterial(dir);
      const service = 'test-registry';
      const issuer = 'provenant-test-issuer';
      tokenServer = await startTokenServer({ username, password, service, issuer, keyPem: material.keyPem, certPem: material.certPem });
      authYaml = [
        'auth:',
        '  token:',
        `    realm: ${q(tokenServer.realm)}`,
        `    service: ${q(service)}`,
        `    issuer: ${q(issuer)}`,
        `    rootcertbundle: ${q(material.certPath)}`,
      ];
    }

    // The free port may be taken between our probe and the registry's bind: try again then.
    const failures: string[] = [];
    for (let attempt = 1; attempt <= 5; attempt++) {
      const port = await freePort();
      const configPath = join(dir, 'config.yml');
      writeFileSync(configPath, configYaml(port, storageDir, authYaml, options.tls, options.readonly));
      const url = `${options.tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`;
      const spawned = spawnRegistry(configPath);
      entry.child = spawned.child;
      const state = await waitReady(url, spawned.child, 20_000, ca);
      if (state === 'ready') {
        // Its pipes and handle must not keep a test process alive; the exit hook kills it.
        spawned.child.unref();
        (spawned.child.stdout as { unref?: () => void } | null)?.unref?.();
        (spawned.child.stderr as { unref?: () => void } | null)?.unref?.();
        const registry: TestRegistry = { host: `127.0.0.1:${port}`, url, storageDir, stop: once(cleanup) };
        if (auth !== 'none') {
          registry.username = username;
          registry.password = password;
        }
        if (tokenServer !== undefined) registry.tokenServer = tokenServer;
        return registry;
      }
      await stopChild(spawned.child);
      entry.child = undefined;
      const output = spawned.output().trim();
      if (state === 'exited' && /address already in use/i.test(output)) {
        failures.push(`attempt ${attempt}: port ${port} taken`);
        continue;
      }
      throw new Error(
        `docker-registry did not become ready on ${url} (${state === 'timeout' ? 'timed out after 20 s' : `exited with ${spawned.child.exitCode ?? spawned.child.signalCode}`}); its output:\n${output || '(none)'}`,
      );
    }
    throw new Error(`docker-registry could not bind a free port: ${failures.join('; ')}`);
  } catch (err) {
    await cleanup();
    throw err;
  }
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => {
    p ??= fn();
    return p;
  };
}

/**
 * The registry of the `describe` it is called in (or of the file): started in a `before()` hook
 * and stopped in an `after()` hook, so `const reg = useRegistry({ auth: 'htpasswd' })` replaces
 * a variable and two hooks in every suite. Its fields can be read once the tests run; a suite
 * with `{ skip: registryMissing }` runs neither hook.
 */
export function useRegistry(options: StartRegistryOptions = {}): TestRegistry {
  let started: TestRegistry | undefined;
  before(async () => {
    started = await startRegistry(options);
  });
  after(async () => {
    await started?.stop();
  });
  return new Proxy({} as TestRegistry, {
    get(_target, field) {
      if (started === undefined) throw new Error('useRegistry: the registry is started by a before() hook; read it inside a test');
      return started[field as keyof TestRegistry];
    },
  });
}

/** A registry that asks for Basic credentials and records what each request sends (see {@link recordingRegistry}). */
export interface RecordingRegistry {
  host: string;
  /** Each request's Authorization header, in order. */
  seen: (string | undefined)[];
  close(): Promise<void>;
}

/**
 * A registry on 127.0.0.1 that answers every request 401 (Basic) and records its Authorization
 * header: the real one logs no headers, and a test of where credentials go needs to see them.
 */
export async function recordingRegistry(): Promise<RecordingRegistry> {
  const { createServer: createHttpServer } = await import('node:http');
  const seen: (string | undefined)[] = [];
  const server = createHttpServer((req, res) => {
    seen.push(req.headers.authorization);
    res.writeHead(401, { 'www-authenticate': 'Basic realm="recording"' }).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
