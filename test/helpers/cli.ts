// Running the CLI as a user does (its entry point, in a child process), and a small signed apk
// repository made with it, for the tests of messages, progress and the packed package.
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NO_HOME } from './temp.ts';

export const ROOT = join(import.meta.dirname, '..', '..');
export const MAIN = join(ROOT, 'src', 'cli', 'main.ts');

/** What a run of the CLI gave. */
export interface CliRun {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `command args` (by default the CLI's entry point on this Node) without blocking this
 * process, in `cwd`, with a clean environment plus `env`. Standard error is a pipe, not a terminal.
 */
export function runCli(
  args: readonly string[],
  options: { cwd?: string; env?: Record<string, string>; command?: readonly string[] } = {},
): Promise<CliRun> {
  const [file, ...pre] = options.command ?? [process.execPath, MAIN];
  return new Promise((resolve, reject) => {
    const child = spawn(file!, [...pre, ...args], {
      cwd: options.cwd ?? ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: NO_HOME, DOCKER_CONFIG: '/nonexistent', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ status: code ?? -1, stdout, stderr }));
  });
}

/** A {@link cliLoading} hook that lists every module URL the process resolved. */
export const RESOLVED_MODULES = {
  setup: [
    "import { registerHooks } from 'node:module';",
    'const seen = new Set();',
    'registerHooks({ resolve(s, c, next) { const r = next(s, c); seen.add(r.url); return r; } });',
  ].join('\n'),
  list: '[...seen]',
};

/**
 * Runs the CLI from its sources (or `options.main`), which must exit 0, with `hook` (JavaScript run before it, as
 * `--import`) setting up a list that `list` (an expression) gives on exit; returns the run and
 * that list. For tests of which modules a command loads.
 */
export async function cliLoading(
  args: readonly string[],
  hook: { setup?: string; list: string },
  options: { cwd?: string; env?: Record<string, string>; main?: string } = {},
): Promise<{ run: CliRun; loaded: string[] }> {
  // The list is taken before process.stderr is touched: making that stream loads modules too.
  const code = `${hook.setup ?? ''}\nprocess.on('exit', () => { const list = JSON.stringify(${hook.list}); process.stderr.write('LOADED ' + list + '\\n'); });`;
  const run = await runCli(args, {
    ...options,
    command: [process.execPath, '--import', `data:text/javascript,${encodeURIComponent(code)}`, options.main ?? MAIN],
  });
  if (run.status !== 0) throw new Error(`provenant ${args.join(' ')} exited ${run.status}:\n${run.stderr}`);
  const line = run.stderr.split('\n').find((l) => l.startsWith('LOADED '));
  if (line === undefined) throw new Error(`provenant ${args.join(' ')} printed no list of what it loaded:\n${run.stderr}`);
  return { run, loaded: JSON.parse(line.slice('LOADED '.length)) as string[] };
}

/** Runs the CLI and fails with its standard error unless it exits 0. */
export async function cliOk(args: readonly string[], options: Parameters<typeof runCli>[1] = {}): Promise<CliRun> {
  const r = await runCli(args, options);
  if (r.status !== 0) throw new Error(`provenant ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return r;
}

/**
 * A signed apk repository in `dir` made with `provenant apk`: key `keys/test.rsa`, one package
 * `hello` per architecture with a file of `size` bytes (64 KiB and more go to the compression
 * workers), indexed in `repo/ARCH/APKINDEX.tar.gz`; and `image.yaml`, a configuration that
 * installs it for `archs`. Returns the configuration's path.
 */
export async function makeApkProject(
  dir: string,
  options: { archs?: readonly string[]; size?: number; run?: typeof cliOk } = {},
): Promise<string> {
  const archs = options.archs ?? ['x86_64'];
  const run = options.run ?? cliOk;
  const env = { SOURCE_DATE_EPOCH: '1700000000' };
  await run(['apk', 'keygen', '--name', 'test.rsa', '-o', 'keys'], { cwd: dir, env });
  const content = join(dir, 'content');
  await mkdir(join(content, 'usr', 'share', 'hello'), { recursive: true });
  const body = new Uint8Array(options.size ?? 1000).map((_, i) => (i * 7919) % 251);
  await writeFile(join(content, 'usr', 'share', 'hello', 'data.bin'), body);
  for (const arch of archs) {
    const apk = `repo/${arch}/hello-1.0-r0.apk`;
    await run(['apk', 'build', 'content', '--name', 'hello', '--version', '1.0-r0', '--arch', arch, '--key', 'keys/test.rsa', '-o', apk], {
      cwd: dir,
      env,
    });
    await run(['apk', 'index', apk, '--key', 'keys/test.rsa', '-o', `repo/${arch}/APKINDEX.tar.gz`], { cwd: dir, env });
  }
  const config = join(dir, 'image.yaml');
  await writeFile(
    config,
    `contents:\n  repositories: [./repo]\n  keyring: [./keys/test.rsa.pub]\n  packages: [hello]\narchs: [${archs.join(', ')}]\n`,
  );
  return config;
}
