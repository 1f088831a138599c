// Helpers shared by the benchmarks: building the CLI, timing a command with its peak memory,
// running one, checking for tools, medians, shell quoting, finding the image a build wrote into
// an OCI layout, and buildah as a peer.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';

/**
 * A bench script's options, as `parseArgs` reads them (strict: no positionals), but `--help` (or
 * `-h`) prints them and exits 0, and an unknown or malformed one says so with them and exits 2,
 * where parseArgs alone ends the script in a stack trace. `script` is the caller's
 * `import.meta.filename`; `numbers` names the options whose value must be a number (a count, a
 * size), which a script would otherwise read as NaN.
 */
export function benchArgs<const O extends ParseArgsOptionsConfig>(
  script: string,
  options: O,
  numbers: readonly (keyof O & string)[] = [],
): ReturnType<typeof parseArgs<{ options: O }>>['values'] {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(usage(script, options));
    process.exit(0);
  }
  let values: ReturnType<typeof parseArgs<{ options: O }>>['values'];
  try {
    values = parseArgs({ options }).values;
  } catch (err) {
    refuseArgs(script, options, (err as Error).message);
  }
  for (const name of numbers) {
    const v = (values as Record<string, unknown>)[name];
    if (typeof v === 'string' && !/^\d+(\.\d+)?$/.test(v))
      refuseArgs(script, options, `--${name} must be a number, not ${JSON.stringify(v)}`);
  }
  return values;
}

/**
 * Ends a bench script whose command line {@link benchArgs} read but the script refuses (a name it
 * does not know): the message and the usage on standard error, exit 2, as benchArgs refuses an
 * unknown option, not a stack trace.
 */
export function refuseArgs(script: string, options: ParseArgsOptionsConfig, message: string): never {
  process.stderr.write(`bench/${basename(script)}: ${message}\n${usage(script, options)}`);
  process.exit(2);
}

function usage(script: string, options: ParseArgsOptionsConfig): string {
  return `usage: node bench/${basename(script)} ${Object.entries(options)
    .filter(([name]) => !INTERNAL.has(name))
    .map(([name, o]) => `[--${name}${o.type === 'string' ? ` ${o.default === undefined ? 'VALUE' : `VALUE (${o.default})`}` : ''}]`)
    .join(' ')}\n(docs/benchmarks.md says what each measures)\n`;
}

/** Options a bench script passes to itself in a child process: not offered in its usage. */
const INTERNAL = new Set(['lib-build', 'once', 'cache']);

/**
 * The glibc allocator settings that the checkout's launcher (bin/provenant) exports unless the
 * caller set them, read from it: the build cases that compress a large layer run with and without.
 */
export function launcherMallocSettings(root: string): Record<string, string> {
  const lines = readFileSync(join(root, 'bin', 'provenant'), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('export MALLOC_'));
  if (lines.length === 0) throw new Error('bin/provenant sets no MALLOC_ variable');
  return Object.fromEntries(
    lines.map((line) => {
      const m = /^export (MALLOC_\w+)=\$\{\1:-(\d+)\}$/.exec(line);
      if (m === null) throw new Error(`bin/provenant: cannot read the setting in: ${line}`);
      return [m[1]!, m[2]!];
    }),
  );
}

/** `env` without glibc's allocator settings (`MALLOC_*`, `GLIBC_TUNABLES`): the allocator as glibc sets it. */
export function withoutMallocSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith('MALLOC_') && name !== 'GLIBC_TUNABLES'));
}

/**
 * Builds dist/ from the checkout at `root` (the CLI as users run it, the published package's
 * compiled code) and returns the path of its main module.
 */
export function buildDist(root: string): string {
  const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, encoding: 'utf8' });
  const cli = join(root, 'dist/cli/main.js');
  if (build.status !== 0) {
    // tsc writes dist/ despite type errors; a tree that others are editing may have some.
    if (!existsSync(cli)) throw new Error(`npm run build failed: ${build.stdout}${build.stderr}`);
    process.stderr.write(`warning: npm run build reported errors; dist/ was written anyway:\n${build.stdout}${build.stderr}\n`);
  }
  return cli;
}

/** One timed run: wall seconds and the peak RSS GNU time reports. */
export interface Sample {
  seconds: number;
  maxRssMb: number;
  /**
   * User + system CPU seconds (GNU time, 10 ms steps), when known: steadier than wall time on a
   * machine that other work shares, for a process that mostly runs on one core.
   */
  cpuSeconds?: number;
}

/** Runs `cmd` under /usr/bin/time; throws when it fails. */
export function timed(cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Sample & { stdout: string } {
  const start = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M %U %S', cmd, ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    cwd: options.cwd,
    env: options.env ?? process.env,
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  const [rss, user, sys] = (r.stderr.trim().split('\n').at(-1) ?? '').split(' ').map(Number);
  return { seconds, maxRssMb: (rss ?? Number.NaN) / 1024, cpuSeconds: (user ?? Number.NaN) + (sys ?? Number.NaN), stdout: r.stdout };
}

/** Runs `cmd` and returns its standard output; throws when it fails. */
export function sh(cmd: string, args: string[], cwd?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, cwd });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

export function has(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

export function need(tool: string, pkg: string): void {
  if (!has(tool)) throw new Error(`${tool} is missing: apt-get install -y ${pkg}`);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Single-quoted for sh. */
export function q(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

export interface LayerRef {
  digest: string;
  size: number;
  mediaType: string;
}

/**
 * The linux/amd64 image of the tag `bench` in an OCI layout (which may also hold attestations):
 * its manifest digest and layers.
 */
export async function imageOf(layout: string): Promise<{ manifest: string; layers: LayerRef[] }> {
  const blob = async (digest: string) => JSON.parse(await readFile(join(layout, 'blobs', 'sha256', digest.slice(7)), 'utf8'));
  interface Entry {
    digest: string;
    platform?: { architecture: string };
    annotations?: Record<string, string>;
  }
  const top = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: Entry[] };
  let entry = top.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'bench');
  for (let depth = 0; entry !== undefined && depth < 3; depth++) {
    const doc = await blob(entry.digest);
    if (Array.isArray(doc.layers)) return { manifest: entry.digest, layers: doc.layers as LayerRef[] };
    entry = (doc.manifests as Entry[]).find((m) => m.platform?.architecture === 'amd64') ?? (doc.manifests as Entry[])[0];
  }
  throw new Error(`no linux/amd64 image tagged bench in ${layout}`);
}

/**
 * buildah as a peer: from scratch, `rootfs` copied in, committed to an OCI layout (with
 * `compress`, buildah's commit flags for its layer), with its own storage under `work` (vfs: no
 * overlay mount needed, and nothing left in /var/lib/containers), removed after. The three steps
 * timed together; the layer's size.
 */
export async function buildahCommit(work: string, rootfs: string, compress: readonly string[]): Promise<Sample & { layerSize: number }> {
  const storage = join(work, 'buildah');
  const out = join(work, 'buildah-out');
  await rm(out, { recursive: true, force: true });
  const b = ['--root', join(storage, 'root'), '--runroot', join(storage, 'run'), '--storage-driver', 'vfs'];
  const from = timed('buildah', [...b, 'from', '--quiet', 'scratch']);
  const ctr = from.stdout.trim();
  const copy = timed('buildah', [...b, 'copy', '--quiet', ctr, rootfs, '/']);
  const commit = timed('buildah', [...b, 'commit', '--quiet', '--format', 'oci', ...compress, ctr, `oci:${out}:bench`]);
  const layerSize = (await imageOf(out)).layers[0]!.size;
  sh('buildah', [...b, 'rm', '--all']);
  sh('buildah', [...b, 'rmi', '--all', '--force']);
  await rm(storage, { recursive: true, force: true });
  const steps = [from, copy, commit];
  return {
    seconds: steps.reduce((n, s) => n + s.seconds, 0),
    maxRssMb: Math.max(...steps.map((s) => s.maxRssMb)),
    cpuSeconds: steps.reduce((n, s) => n + (s.cpuSeconds ?? Number.NaN), 0),
    layerSize,
  };
}
