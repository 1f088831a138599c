/**
 * What the Action tests share: a job's folders as the runner lays them out (workspace,
 * RUNNER_TEMP, the files behind GITHUB_OUTPUT and GITHUB_STEP_SUMMARY), the docker config
 * docker/login-action would write, and readers for what the Action leaves behind.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { promisify } from 'node:util';
import type { TestRegistry } from '../helpers/registry.ts';
import { writeFixtureRepo } from './fixture-repo.ts';

/** The repository root, where action.yml is. */
export const ACTION_DIR = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');

/** A job's folders and files. */
export interface Job {
  root: string;
  workspace: string;
  runnerTemp: string;
  outputFile: string;
  summaryFile: string;
  /** DOCKER_CONFIG. */
  dockerConfig: string;
  /** The configuration, relative to the workspace (as a workflow names it). */
  config: string;
}

/** Lays out a job: the fixture repository in the workspace, empty output and summary files. */
export async function makeJob(): Promise<Job> {
  const root = await mkdtemp(join(tmpdir(), 'provenant-action-'));
  const workspace = join(root, 'workspace');
  const runnerTemp = join(root, 'runner-temp');
  const dockerConfig = join(root, 'docker');
  for (const d of [workspace, runnerTemp, dockerConfig]) await mkdir(d, { recursive: true });
  await writeFixtureRepo(workspace);
  const outputFile = join(runnerTemp, 'output.txt');
  const summaryFile = join(runnerTemp, 'summary.md');
  // The runner creates both files before the step starts.
  await writeFile(outputFile, '');
  await writeFile(summaryFile, '');
  return { root, workspace, runnerTemp, outputFile, summaryFile, dockerConfig, config: 'image.yaml' };
}

/** Writes config.json as docker/login-action does: base64 `user:password` under the registry's host. */
export async function dockerLogin(job: Job, host: string, username: string, password: string): Promise<void> {
  const auth = Buffer.from(`${username}:${password}`).toString('base64');
  await writeFile(join(job.dockerConfig, 'config.json'), JSON.stringify({ auths: { [host]: { auth } } }, null, 2));
}

/** Writes config.json with a login for each registry, as docker/login-action does after a step per registry. */
export async function dockerLogins(job: Job, logins: ReadonlyArray<{ host: string; username: string; password: string }>): Promise<void> {
  const auths = Object.fromEntries(logins.map((l) => [l.host, { auth: Buffer.from(`${l.username}:${l.password}`).toString('base64') }]));
  await writeFile(join(job.dockerConfig, 'config.json'), JSON.stringify({ auths }, null, 2));
}

/** The environment the runner gives a JavaScript Action's step: GITHUB_*, RUNNER_*, one INPUT_* per input. */
export function runnerEnv(job: Job, inputs: Record<string, string>, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: job.root,
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_WORKSPACE: job.workspace,
    GITHUB_OUTPUT: job.outputFile,
    GITHUB_STEP_SUMMARY: job.summaryFile,
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_REPOSITORY: 'acme/app',
    GITHUB_WORKFLOW_REF: 'acme/app/.github/workflows/release.yml@refs/heads/main',
    GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567',
    GITHUB_REF: 'refs/heads/main',
    GITHUB_RUN_ID: '42',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_EVENT_NAME: 'push',
    RUNNER_OS: 'Linux',
    RUNNER_ARCH: 'X64',
    RUNNER_TEMP: job.runnerTemp,
    DOCKER_CONFIG: job.dockerConfig,
    SOURCE_DATE_EPOCH: '1700000000',
    ...extra,
  };
  // The runner's rule (actions/runner, ActionRunner): INPUT_ + the name upper-cased, spaces as _.
  for (const [name, value] of Object.entries(inputs)) env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value;
  return env;
}

/**
 * Reads the GITHUB_OUTPUT file @actions/core writes: `name<<DELIMITER`, the value's lines, the
 * delimiter (https://docs.github.com/actions/reference/workflow-commands-for-github-actions#multiline-strings).
 */
export async function readOutputs(path: string): Promise<Record<string, string>> {
  const lines = (await readFile(path, 'utf8')).split('\n');
  const out: Record<string, string> = {};
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<=]+)<<(.+)$/.exec(lines[i]!);
    if (m === null) continue;
    const [, name, delimiter] = m;
    const value: string[] = [];
    for (i++; i < lines.length && lines[i] !== delimiter; i++) value.push(lines[i]!);
    out[name!] = value.join('\n');
  }
  return out;
}

/** A stand-in for the job's OIDC token endpoint: answers `{"value": token}` to a request with the bearer. */
export async function startTokenEndpoint(
  bearer: string,
  token: string,
): Promise<{ url: string; requests: () => number; stop(): Promise<void> }> {
  let count = 0;
  const server: Server = createServer((req, res) => {
    count++;
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.headers.authorization !== `Bearer ${bearer}` || url.searchParams.get('audience') !== 'sigstore') {
      res.writeHead(403).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ value: token }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`,
    requests: () => count,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const SOURCES = join(ACTION_DIR, 'src', 'action', 'index.ts');

/**
 * Runs the Action's sources (src/action/index.ts, what the bundle is made from) as the runner
 * runs the bundle, for behaviour the committed bundle may not have yet; never rejects, so
 * failures can be asserted.
 */
export async function runSources(job: Job, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [SOURCES], {
      cwd: job.workspace,
      env,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/**
 * The files a registry's storage holds of what was pushed: blobs, and the repositories' links and
 * manifests. Upload sessions are left out: distribution 2.8 answers the DELETE that cancels one,
 * then writes the session's empty hash state again as its request ends (`_uploads/<id>/hashstates`),
 * which no API shows and no blob or manifest is.
 */
export async function pushedFiles(reg: TestRegistry): Promise<string[]> {
  const root = join(reg.storageDir, 'docker', 'registry', 'v2');
  if (!existsSync(root)) return [];
  const all = (await readdir(root, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
  return all.map((e) => join(e.parentPath, e.name).slice(root.length + 1)).filter((p) => !p.split(sep).includes('_uploads'));
}

/** A port nothing listens on. */
export async function closedPort(): Promise<number> {
  return new Promise<number>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
