import { closeSync, lstatSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { ApkFileSpec } from '../src/pkg/apk/write.ts';
import { buildDist, imageOf, type LayerRef, median, need, type Sample, sh, timed } from './lib.ts';

const { values } = parseArgs({
  options: {
    'size-mb': { type: 'string' },
    packages: { type: 'string' },
    runs: { type: 'string' },
    'no-profile': { type: 'boolean' },
    // Keep the temporary folder (input, cache, rootfs, profiles) and print where it is.
    keep: { type: 'boolean' },
    // Internal: one library build in this process (see libBuild).
    'lib-build': { type: 'string' },
  },
});
const root = join(import.meta.dirname, '..');

/**
 * The library as the CLI runs it: the compiled dist/ that `npm run build` wrote at the start, so
 * that the CLI and the library calls run the same code even while the sources change.
 */
async function dist() {
  const load = (path: string) => import(pathToFileURL(join(root, 'dist', path)).href);
  return {
    ...((await load('builder/build.js')) as typeof import('../src/builder/build.ts')),
    ...((await load('builder/config.js')) as typeof import('../src/builder/config.ts')),
    ...((await load('pkg/apk/write.js')) as typeof import('../src/pkg/apk/write.ts')),
    ...((await load('pkg/apk/keys.js')) as typeof import('../src/pkg/apk/keys.ts')),
    ...((await load('store/layout.js')) as typeof import('../src/store/layout.ts')),
  };
}
const EPOCH = '1700000000';
const MAX_FILE = 16 * 1024 * 1024;

if (values['lib-build'] !== undefined) {
  await libBuild(JSON.parse(values['lib-build']) as LibBuildArgs);
} else {
  await main();
}

interface LibBuildArgs {
  config: string;
  out: string;
  cache: string;
  workers: number | null;
}

/** One warm build through the library, timed inside the process (no start-up), to a new layout. */
async function libBuild(a: LibBuildArgs): Promise<void> {
  const { buildImage, loadConfig, LayoutStore, writeBuild } = await dist();
  const t = process.hrtime.bigint();
  const loaded = await loadConfig(a.config, { hostArch: process.arch });
  const result = await buildImage({
    config: loaded,
    configPath: a.config,
    sourceDateEpoch: Number(EPOCH),
    cacheDir: a.cache,
    workers: a.workers ?? undefined,
  });
  const store = await LayoutStore.open(a.out, { create: true });
  const d = await writeBuild(result, store, ['bench']);
  await store.close();
  process.stdout.write(`${JSON.stringify({ seconds: Number(process.hrtime.bigint() - t) / 1e9, digest: d.digest })}\n`);
}

// ---------------------------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------------------------

interface HostEntry {
  /** Path in the image, no leading slash. */
  path: string;
  /** Path on the host. */
  source: string;
  type: 'file' | 'symlink';
  size: number;
  mode: number;
}

/** Files (each inode once, up to MAX_FILE) and symlinks under `dir`, in name order, up to `budget` bytes. */
function hostEntries(dir: string, budget: number, seen: Set<string>): HostEntry[] {
  const out: HostEntry[] = [];
  let total = 0;
  const walk = (abs: string): boolean => {
    let names: string[];
    try {
      names = readdirSync(abs).sort();
    } catch {
      return true;
    }
    for (const name of names) {
      const full = join(abs, name);
      let st: ReturnType<typeof lstatSync>;
      try {
        st = lstatSync(full);
      } catch {
        continue;
      }
      const path = full.slice(1);
      if (st.isDirectory()) {
        if (!walk(full)) return false;
      } else if (st.isSymbolicLink()) {
        out.push({ path, source: full, type: 'symlink', size: 0, mode: 0o777 });
      } else if (st.isFile() && st.size <= MAX_FILE) {
        const inode = `${st.dev}:${st.ino}`;
        if (seen.has(inode)) continue;
        try {
          closeSync(openSync(full, 'r'));
        } catch {
          continue;
        }
        seen.add(inode);
        out.push({ path, source: full, type: 'file', size: st.size, mode: st.mode & 0o7777 });
        total += st.size;
        if (total >= budget) return false;
      }
    }
    return true;
  };
  walk(dir);
  return out;
}

interface Input {
  dir: string;
  config: string;
  packageCount: number;
  bytes: number;
  files: number;
  symlinks: number;
  apkBytes: number;
}

async function makeInput(dir: string, sizeMb: number, packageCount: number): Promise<Input> {
  const budget = sizeMb * 1024 * 1024;
  const seen = new Set<string>();
  const entries = [
    ...hostEntries('/usr/lib/x86_64-linux-gnu', Math.round(budget * 0.7), seen),
    ...hostEntries('/usr/bin', Math.round(budget * 0.3), seen),
  ];
  const bytes = entries.reduce((n, e) => n + e.size, 0);
  const { buildApk, buildApkIndex, generateApkKeyPair } = await dist();
  const key = generateApkKeyPair('bench', { bits: 2048 });
  await mkdir(join(dir, 'keys'), { recursive: true });
  await writeFile(join(dir, 'keys', key.name), key.publicKeyPem);
  const repo = join(dir, 'repo', 'x86_64');
  await mkdir(repo, { recursive: true });
  // Contiguous runs of the name-ordered list, each about bytes / packageCount.
  const packages: Uint8Array[] = [];
  const names: string[] = [];
  let at = 0;
  let apkBytes = 0;
  for (let i = 0; i < packageCount; i++) {
    const target = ((i + 1) * bytes) / packageCount;
    const files: ApkFileSpec[] = [];
    let sum = entries.slice(0, at).reduce((n, e) => n + e.size, 0);
    while (at < entries.length && (sum < target || i === packageCount - 1)) {
      const e = entries[at++]!;
      sum += e.size;
      files.push(
        e.type === 'file'
          ? { path: e.path, type: 'file', mode: e.mode, body: new Uint8Array(readFileSync(e.source)) }
          : { path: e.path, type: 'symlink', target: readlinkSync(e.source) },
      );
    }
    const name = `bench-${String(i).padStart(2, '0')}`;
    const apk = await buildApk(
      { name, version: '1.0-r0', arch: 'x86_64', description: 'host files for bench/build.ts', license: 'MIT', files },
      { key: { privateKeyPem: key.privateKeyPem, name: key.name }, mtime: Number(EPOCH) },
    );
    await writeFile(join(repo, `${name}-1.0-r0.apk`), apk);
    packages.push(apk);
    names.push(name);
    apkBytes += apk.length;
  }
  const index = await buildApkIndex(packages, { key: { privateKeyPem: key.privateKeyPem, name: key.name }, mtime: Number(EPOCH) });
  await writeFile(join(repo, 'APKINDEX.tar.gz'), index.bytes);
  const config = join(dir, 'image.yaml');
  await writeFile(
    config,
    [
      'contents:',
      '  repositories:',
      '    - ./repo',
      '  keyring:',
      `    - ./keys/${key.name}`,
      '  packages:',
      ...names.map((n) => `    - ${n}`),
      'archs: [x86_64]',
      '',
    ].join('\n'),
  );
  return {
    dir,
    config,
    packageCount,
    bytes,
    files: entries.filter((e) => e.type === 'file').length,
    symlinks: entries.filter((e) => e.type === 'symlink').length,
    apkBytes,
  };
}

// ---------------------------------------------------------------------------------------------
// OCI layout reading
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Profile summary
// ---------------------------------------------------------------------------------------------

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

/** Self time by function and by file, summed over every thread's .cpuprofile in `dir`. */
async function summarizeProfiles(dir: string): Promise<string> {
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  const threads: string[] = [];
  let total = 0;
  for (const f of (await readdir(dir)).filter((n) => n.endsWith('.cpuprofile')).sort()) {
    const p = JSON.parse(await readFile(join(dir, f), 'utf8')) as {
      nodes: ProfileNode[];
      samples: number[];
      timeDeltas: number[];
      startTime: number;
      endTime: number;
    };
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    let busy = 0;
    for (const [i, id] of p.samples.entries()) {
      const ms = (p.timeDeltas[i + 1] ?? 0) / 1000;
      const cf = nodes.get(id)!.callFrame;
      const file = cf.url === '' ? cf.functionName : basename(cf.url.replace(/^file:\/\//, '').replace(/\/(index|lib\/[^/]+)\.js$/, ''));
      const fileKey = cf.url.includes('/node_modules/pako/') ? 'pako' : file;
      if (cf.functionName !== '(idle)') {
        busy += ms;
        total += ms;
        byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + ms);
        const fn = `${cf.functionName || '(anonymous)'} (${fileKey}${cf.url === '' ? '' : `:${cf.lineNumber + 1}`})`;
        byFunction.set(fn, (byFunction.get(fn) ?? 0) + ms);
      }
    }
    threads.push(
      `${f.split('.').slice(-3, -2)[0] ?? f}: ${((p.endTime - p.startTime) / 1e6).toFixed(1)} s wall, ${(busy / 1000).toFixed(1)} s busy`,
    );
  }
  const top = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, ms]) => `| ${k} | ${(ms / 1000).toFixed(2)} | ${((100 * ms) / total).toFixed(1)} % |`)
      .join('\n');
  return (
    `Threads (thread id: wall, CPU busy): ${threads.join('; ')}.\n\n` +
    `| source file (self time, all threads) | seconds | share |\n|---|---|---|\n${top(byFile, 10)}\n\n` +
    `| function (self time, all threads) | seconds | share |\n|---|---|---|\n${top(byFunction, 15)}\n`
  );
}

// ---------------------------------------------------------------------------------------------
// The benchmark
// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const sizeMb = Number(values['size-mb'] ?? 200);
  const packageCount = Number(values.packages ?? 20);
  const runs = Number(values.runs ?? 3);
  if (process.getuid?.() !== 0) throw new Error('run as root: buildah uses vfs storage and the layer is unpacked with its owners');
  need('pigz', 'pigz');
  need('buildah', 'buildah');
  need('/usr/bin/time', 'time');
  if (!sh('tar', ['--version']).includes('GNU tar')) throw new Error('GNU tar is needed (--sort=name)');

  const cli = buildDist(root);
  const node = process.execPath;
  const env = { ...process.env, SOURCE_DATE_EPOCH: EPOCH };
  const work = await mkdtemp(join(tmpdir(), 'provenant-bench-build-'));
  const loadBefore = loadavg()[0]!;
  try {
    const t0 = process.hrtime.bigint();
    const input = await makeInput(join(work, 'in'), sizeMb, packageCount);
    const inputSeconds = Number(process.hrtime.bigint() - t0) / 1e9;

    const cache = join(work, 'cache');
    const rootfs = join(work, 'rootfs');
    let digest = '';
    let ourLayer: LayerRef | undefined;
    /** `provenant build` from dist/ to a new layout; checks that every build gives the same image. */
    const cliBuild = async (extra: readonly string[] = []): Promise<Sample> => {
      const out = join(work, 'out');
      await rm(out, { recursive: true, force: true });
      const s = timed(node, [cli, 'build', input.config, '-o', `oci:${out}:bench`, '--cache-dir', cache, '--format', 'json', ...extra], {
        env,
      });
      const image = await imageOf(out);
      if (digest !== '' && image.manifest !== digest) throw new Error(`the build is not reproducible: ${image.manifest} after ${digest}`);
      digest = image.manifest;
      if (image.layers.length !== 1) throw new Error(`expected one layer, got ${image.layers.length}`);
      ourLayer = image.layers[0]!;
      return s;
    };
    // An untimed first build gives the files for the others: our layer, unpacked with its owners
    // and modes. Reading it back once also puts the files in the page cache for every tool alike.
    await cliBuild();
    await mkdir(rootfs);
    sh('tar', ['-xzpf', join(work, 'out', 'blobs', 'sha256', ourLayer!.digest.slice(7)), '--numeric-owner', '-C', rootfs]);
    const tarSize = Number(sh('sh', ['-c', `tar -C '${rootfs}' --sort=name -cf - . | wc -c`]).trim());
    const floor = `tar -C '${rootfs}' --sort=name -cf - . | pigz -6 | sha256sum`;
    const floorSize = Number(sh('bash', ['-o', 'pipefail', '-c', `tar -C '${rootfs}' --sort=name -cf - . | pigz -6 | wc -c`]).trim());

    // buildah: from scratch, copy the files in, commit to an OCI layout; its own storage under
    // the temporary folder (vfs: no overlay mount needed, and nothing left in /var/lib/containers).
    const buildahSizes: Record<string, number> = {};
    const buildah = async (label: string, compress: readonly string[]): Promise<Sample> => {
      const storage = join(work, 'buildah');
      const out = join(work, 'buildah-out');
      await rm(out, { recursive: true, force: true });
      const b = ['--root', join(storage, 'root'), '--runroot', join(storage, 'run'), '--storage-driver', 'vfs'];
      const from = timed('buildah', [...b, 'from', '--quiet', 'scratch']);
      const ctr = from.stdout.trim();
      const copy = timed('buildah', [...b, 'copy', '--quiet', ctr, rootfs, '/']);
      const commit = timed('buildah', [...b, 'commit', '--quiet', '--format', 'oci', ...compress, ctr, `oci:${out}:bench`]);
      buildahSizes[label] = (await imageOf(out)).layers[0]!.size;
      sh('buildah', [...b, 'rm', '--all']);
      sh('buildah', [...b, 'rmi', '--all', '--force']);
      await rm(storage, { recursive: true, force: true });
      return { seconds: from.seconds + copy.seconds + commit.seconds, maxRssMb: Math.max(from.maxRssMb, copy.maxRssMb, commit.maxRssMb) };
    };

    // The library from the sources, warm cache, in a child process (for its RSS).
    const inProcess: Record<string, number[]> = { 'library, default workers': [], 'library, workers: 1': [] };
    const libBuildTimed = async (label: string, workers: number | null): Promise<Sample> => {
      const out = join(work, 'lib-out');
      await rm(out, { recursive: true, force: true });
      const arg = JSON.stringify({ config: input.config, out, cache, workers } satisfies LibBuildArgs);
      const s = timed(node, [import.meta.filename, '--lib-build', arg], { env });
      const image = await imageOf(out);
      if (image.manifest !== digest) throw new Error(`the library build gave ${image.manifest}, the CLI ${digest}`);
      inProcess[label]!.push((JSON.parse(s.stdout) as { seconds: number }).seconds);
      return s;
    };

    // Each run takes every case in turn, so that other load on the machine falls on all of them.
    const LAYER_COLD = 'provenant build, cached, --layer-cache false (every file compressed)';
    const cases: [string, () => Promise<Sample>][] = [
      [
        'provenant build, first (empty cache)',
        async () => {
          await rm(cache, { recursive: true, force: true });
          return cliBuild();
        },
      ],
      ['provenant build, cached', () => cliBuild()],
      [LAYER_COLD, () => cliBuild(['--layer-cache', 'false'])],
      ['floor: tar | pigz -6 | sha256sum', async () => timed('bash', ['-o', 'pipefail', '-c', floor])],
      ['buildah from+copy+commit (gzip)', () => buildah('buildah from+copy+commit (gzip)', ['--disable-compression=false'])],
      ['buildah from+copy+commit (its default: uncompressed)', () => buildah('buildah from+copy+commit (its default: uncompressed)', [])],
      ['library, default workers', () => libBuildTimed('library, default workers', null)],
      ['library, workers: 1', () => libBuildTimed('library, workers: 1', 1)],
    ];
    const results: Record<string, Sample[]> = Object.fromEntries(cases.map(([label]) => [label, []]));
    const loads: number[] = [loadBefore];
    for (let run = 0; run < runs; run++) {
      for (const [label, f] of cases) results[label]!.push(await f());
      loads.push(loadavg()[0]!);
    }

    let profile = '';
    if (!values['no-profile']) {
      const dir = join(work, 'prof');
      const out = join(work, 'lib-out');
      await rm(out, { recursive: true, force: true });
      const arg = JSON.stringify({ config: input.config, out, cache, workers: null } satisfies LibBuildArgs);
      timed(node, ['--cpu-prof', '--cpu-prof-dir', dir, import.meta.filename, '--lib-build', arg], { env });
      profile = await summarizeProfiles(dir);
    }

    const mb = (n: number) => (n / 1e6).toFixed(1);
    const cpu = cpus()[0]?.model ?? 'unknown';
    const med = (k: string) => median(results[k]!.map((s) => s.seconds));
    const headline = med('provenant build, cached');
    const sizes: Record<string, string> = {
      'provenant build, first (empty cache)': mb(ourLayer!.size),
      'provenant build, cached': mb(ourLayer!.size),
      [LAYER_COLD]: mb(ourLayer!.size),
      'floor: tar | pigz -6 | sha256sum': mb(floorSize),
      ...Object.fromEntries(Object.entries(buildahSizes).map(([k, v]) => [k, mb(v)])),
      'library, default workers': mb(ourLayer!.size),
      'library, workers: 1': mb(ourLayer!.size),
    };
    process.stdout.write(
      `Machine: ${cpus().length} × ${cpu} (availableParallelism ${availableParallelism()}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB; ` +
        `Node ${process.version}; ${sh('buildah', ['--version']).trim()}; ${sh('pigz', ['--version']).trim()}; ${sh('tar', ['--version']).split('\n')[0]}; ` +
        `1-minute load average at the start and after each run: ${loads.map((l) => l.toFixed(2)).join(', ')}.\n` +
        `Input: ${input.packageCount} signed apk packages of ${input.files} files and ${input.symlinks} symlinks from the host, ` +
        `${mb(input.bytes)} MB of file data, ${mb(input.apkBytes)} MB of .apk (made in ${inputSeconds.toFixed(1)} s); ` +
        `layer tar ${mb(tarSize)} MB. Median of ${runs} runs. linux/amd64 manifest ${digest}.\n` +
        `Command: node bench/build.ts --size-mb ${sizeMb} --packages ${packageCount} --runs ${runs}\n\n` +
        '| case | median seconds | runs (s) | max RSS (MB) | layer (MB) | × cached build |\n|---|---|---|---|---|---|\n',
    );
    for (const [name, samples] of Object.entries(results)) {
      const m = median(samples.map((s) => s.seconds));
      process.stdout.write(
        `| ${name} | ${m.toFixed(2)} | ${samples.map((s) => s.seconds.toFixed(2)).join(', ')} | ` +
          `${Math.max(...samples.map((s) => s.maxRssMb)).toFixed(0)} | ${sizes[name] ?? '-'} | ${(m / headline).toFixed(2)} |\n`,
      );
    }
    for (const [name, xs] of Object.entries(inProcess)) {
      process.stdout.write(
        `| ${name}, in process (no start-up) | ${median(xs).toFixed(2)} | ${xs.map((x) => x.toFixed(2)).join(', ')} | - | - | - |\n`,
      );
    }
    const floorM = med('floor: tar | pigz -6 | sha256sum');
    const buildahM = med('buildah from+copy+commit (gzip)');
    process.stdout.write(
      `\nprovenant (cached) / floor: ${(headline / floorM).toFixed(2)} (goal ≤ 1.3); ` +
        `provenant (cached) / buildah gzip: ${(headline / buildahM).toFixed(2)} (goal < 1); ` +
        `provenant (cached, --layer-cache false) / floor: ${(med(LAYER_COLD) / floorM).toFixed(2)}, / buildah gzip: ${(med(LAYER_COLD) / buildahM).toFixed(2)}; ` +
        `/ buildah uncompressed: ${(headline / med('buildah from+copy+commit (its default: uncompressed)')).toFixed(2)}.\n`,
    );
    if (profile !== '') process.stdout.write(`\nProfile of one cached library build (default workers), node --cpu-prof:\n\n${profile}`);
  } finally {
    if (values.keep) process.stderr.write(`kept ${work}\n`);
    else await rm(work, { recursive: true, force: true });
  }
}
