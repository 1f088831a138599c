import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { EPOCH, makeApkInput } from './apk-input.ts';
import {
  benchArgs,
  buildahCommit,
  buildDist,
  imageOf,
  type LayerRef,
  launcherMallocSettings,
  median,
  need,
  type Sample,
  sh,
  timed,
  withoutMallocSettings,
} from './lib.ts';

const values = benchArgs(
  import.meta.filename,
  {
    'size-mb': { type: 'string' },
    packages: { type: 'string' },
    // The same bytes joined into files of about this many MB (memory against bytes, not files).
    'join-mb': { type: 'string' },
    // The same bytes cut into files of this many KB (memory against the number of files at one size).
    'split-kb': { type: 'string' },
    runs: { type: 'string' },
    'no-profile': { type: 'boolean' },
    // Only the builds, the floor and their memory: no buildah, no library cases (the 1 GB run).
    'no-peers': { type: 'boolean' },
    // Keep the temporary folder (input, cache, rootfs, profiles) and print where it is.
    keep: { type: 'boolean' },
    // Internal: one library build in this process (see libBuild).
    'lib-build': { type: 'string' },
  },
  ['size-mb', 'packages', 'join-mb', 'split-kb', 'runs'],
);
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
    ...((await load('store/layout.js')) as typeof import('../src/store/layout.ts')),
  };
}

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
    // Installing, to the layer in the cache: the build record would spare all of it, and the
    // library rows and the profile are of the install (the CLI's "cached" row is of the record).
    memo: false,
  });
  const store = await LayoutStore.open(a.out, { create: true });
  const d = await writeBuild(result, store, ['bench']);
  await store.close();
  process.stdout.write(`${JSON.stringify({ seconds: Number(process.hrtime.bigint() - t) / 1e9, digest: d.digest })}\n`);
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
  const joinMb = values['join-mb'] === undefined ? undefined : Number(values['join-mb']);
  const splitKb = values['split-kb'] === undefined ? undefined : Number(values['split-kb']);
  if (joinMb !== undefined && splitKb !== undefined) throw new Error('--join-mb and --split-kb cannot be given together');
  const runs = Number(values.runs ?? 3);
  if (process.getuid?.() !== 0) throw new Error('run as root: buildah uses vfs storage and the layer is unpacked with its owners');
  const peers = values['no-peers'] !== true;
  need('pigz', 'pigz');
  if (peers) need('buildah', 'buildah');
  need('/usr/bin/time', 'time');
  if (!sh('tar', ['--version']).includes('GNU tar')) throw new Error('GNU tar is needed (--sort=name)');

  const cli = buildDist(root);
  const node = process.execPath;
  // The default cases run with glibc's own allocator settings, whatever the shell exported.
  const env = { ...withoutMallocSettings(process.env), SOURCE_DATE_EPOCH: EPOCH };
  const work = await mkdtemp(join(tmpdir(), 'provenant-bench-build-'));
  const loadBefore = loadavg()[0]!;
  try {
    const t0 = process.hrtime.bigint();
    const input = await makeApkInput(join(work, 'in'), sizeMb, packageCount, [], joinMb, splitKb);
    const inputSeconds = Number(process.hrtime.bigint() - t0) / 1e9;

    const cache = join(work, 'cache');
    const rootfs = join(work, 'rootfs');
    let digest = '';
    let ourLayer: LayerRef | undefined;
    /**
     * `provenant build` from dist/ to a new layout; checks that every build gives the same image
     * (unless `epoch` asks for another SOURCE_DATE_EPOCH, which changes every header).
     */
    const cliBuild = async (extra: readonly string[] = [], epoch?: number, more: Record<string, string> = {}): Promise<Sample> => {
      const out = join(work, 'out');
      await rm(out, { recursive: true, force: true });
      const s = timed(node, [cli, 'build', input.config, '-o', `oci:${out}:bench`, '--cache-dir', cache, '--format', 'json', ...extra], {
        env: { ...env, ...(epoch === undefined ? {} : { SOURCE_DATE_EPOCH: String(epoch) }), ...more },
      });
      const image = await imageOf(out);
      if (epoch !== undefined) return s;
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

    // buildah: from scratch, copy the files in, commit to an OCI layout.
    const buildahSizes: Record<string, number> = {};
    const buildah = async (label: string, compress: readonly string[]): Promise<Sample> => {
      const { layerSize, ...sample } = await buildahCommit(work, rootfs, compress);
      buildahSizes[label] = layerSize;
      return sample;
    };

    // The library from the sources, warm cache, in a child process (for its RSS).
    const inProcess: Record<string, number[]> = { 'library, installing, default workers': [], 'library, installing, workers: 1': [] };
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

    /**
     * The same configuration from a file at a new path each run: no earlier build had these
     * inputs (the configuration's path is one), so this one installs every package to find that
     * its layer is the one in the cache (src/builder/memo.ts); "cached" takes the whole image.
     */
    let variant = 0;
    const installedBuild = async (): Promise<Sample> => {
      const config = join(dirname(input.config), `image-variant-${++variant}.yaml`);
      await writeFile(config, await readFile(input.config, 'utf8'));
      const out = join(work, 'out');
      await rm(out, { recursive: true, force: true });
      const s = timed(node, [cli, 'build', config, '-o', `oci:${out}:bench`, '--cache-dir', cache, '--format', 'json'], { env });
      const image = await imageOf(out);
      if (image.layers[0]?.digest !== ourLayer!.digest) throw new Error(`another configuration made layer ${image.layers[0]?.digest}`);
      return s;
    };
    // Each run takes every case in turn, so that other load on the machine falls on all of them.
    const LAYER_INSTALLED = 'provenant build, cached, installed again (another configuration; the layer reused)';
    const LAYER_COLD = 'provenant build, cached, --layer-cache false (every file compressed)';
    const LAYER_AGAIN = 'provenant build, cached, layer made again (new SOURCE_DATE_EPOCH: every header differs; compressed bodies reused)';
    const MALLOC_SETTINGS = launcherMallocSettings(root);
    const LAYER_AGAIN_ALLOC = `${LAYER_AGAIN}, with bin/provenant's malloc settings`;
    const LAYER_COLD_ALLOC = `${LAYER_COLD}, with bin/provenant's malloc settings`;
    let epoch = Number(EPOCH);
    const cases: [string, () => Promise<Sample>][] = [
      [
        'provenant build, first (empty cache)',
        async () => {
          await rm(cache, { recursive: true, force: true });
          return cliBuild();
        },
      ],
      ['provenant build, cached', () => cliBuild()],
      [LAYER_INSTALLED, installedBuild],
      [LAYER_AGAIN, () => cliBuild([], ++epoch)],
      [LAYER_COLD, () => cliBuild(['--layer-cache', 'false'])],
      [LAYER_AGAIN_ALLOC, () => cliBuild([], ++epoch, MALLOC_SETTINGS)],
      [LAYER_COLD_ALLOC, () => cliBuild(['--layer-cache', 'false'], undefined, MALLOC_SETTINGS)],
      ['floor: tar | pigz -6 | sha256sum', async () => timed('bash', ['-o', 'pipefail', '-c', floor])],
    ];
    if (peers) {
      cases.push(
        ['buildah from+copy+commit (gzip)', () => buildah('buildah from+copy+commit (gzip)', ['--disable-compression=false'])],
        ['buildah from+copy+commit (its default: uncompressed)', () => buildah('buildah from+copy+commit (its default: uncompressed)', [])],
        ['library, installing, default workers', () => libBuildTimed('library, installing, default workers', null)],
        ['library, installing, workers: 1', () => libBuildTimed('library, installing, workers: 1', 1)],
      );
    }
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
      [LAYER_INSTALLED]: mb(ourLayer!.size),
      [LAYER_COLD]: mb(ourLayer!.size),
      [LAYER_AGAIN]: mb(ourLayer!.size),
      [LAYER_AGAIN_ALLOC]: mb(ourLayer!.size),
      [LAYER_COLD_ALLOC]: mb(ourLayer!.size),
      'floor: tar | pigz -6 | sha256sum': mb(floorSize),
      ...Object.fromEntries(Object.entries(buildahSizes).map(([k, v]) => [k, mb(v)])),
      'library, installing, default workers': mb(ourLayer!.size),
      'library, installing, workers: 1': mb(ourLayer!.size),
    };
    process.stdout.write(
      `Machine: ${cpus().length} × ${cpu} (availableParallelism ${availableParallelism()}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB; ` +
        `Node ${process.version}; ${peers ? `${sh('buildah', ['--version']).trim()}; ` : ''}${sh('pigz', ['--version']).trim()}; ${sh('tar', ['--version']).split('\n')[0]}; ` +
        `1-minute load average at the start and after each run: ${loads.map((l) => l.toFixed(2)).join(', ')}.\n` +
        `Input: ${input.packageCount} signed apk packages of ${input.files} files and ${input.symlinks} symlinks from the host${joinMb === undefined ? '' : ` (its files joined into files of about ${joinMb} MB)`}${splitKb === undefined ? '' : ` (its files cut into files of ${splitKb} KB)`}, ` +
        `${mb(input.bytes)} MB of file data, ${mb(input.apkBytes)} MB of .apk (made in ${inputSeconds.toFixed(1)} s); ` +
        `layer tar ${mb(tarSize)} MB. Median of ${runs} runs. linux/amd64 manifest ${digest}.\n` +
        `Command: node bench/build.ts --size-mb ${sizeMb} --packages ${packageCount}${joinMb === undefined ? '' : ` --join-mb ${joinMb}`}${splitKb === undefined ? '' : ` --split-kb ${splitKb}`} --runs ${runs}${peers ? '' : ' --no-peers'}\n\n` +
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
      // Without peers the library rows are not run.
      if (xs.length === 0) continue;
      process.stdout.write(
        `| ${name}, in process (no start-up) | ${median(xs).toFixed(2)} | ${xs.map((x) => x.toFixed(2)).join(', ')} | - | - | - |\n`,
      );
    }
    const floorM = med('floor: tar | pigz -6 | sha256sum');
    process.stdout.write(
      `\nprovenant (cached) / floor: ${(headline / floorM).toFixed(2)} (goal ≤ 1.3); ` +
        `layer made again / floor: ${(med(LAYER_AGAIN) / floorM).toFixed(2)}; ` +
        `--layer-cache false / floor: ${(med(LAYER_COLD) / floorM).toFixed(2)}` +
        `; peak RSS of the cached build: ${Math.max(...results['provenant build, cached']!.map((x) => x.maxRssMb)).toFixed(0)} MB (goal ≤ 200), ` +
        `installed again: ${Math.max(...results[LAYER_INSTALLED]!.map((x) => x.maxRssMb)).toFixed(0)} MB, ` +
        `made again: ${Math.max(...results[LAYER_AGAIN]!.map((x) => x.maxRssMb)).toFixed(0)} MB ` +
        `(${Math.max(...results[LAYER_AGAIN_ALLOC]!.map((x) => x.maxRssMb)).toFixed(0)} with bin/provenant's malloc settings)`,
    );
    if (peers) {
      const buildahM = med('buildah from+copy+commit (gzip)');
      process.stdout.write(
        `; provenant (cached) / buildah gzip: ${(headline / buildahM).toFixed(2)} (goal < 1); ` +
          `layer made again / buildah gzip: ${(med(LAYER_AGAIN) / buildahM).toFixed(2)}; --layer-cache false / buildah gzip: ${(med(LAYER_COLD) / buildahM).toFixed(2)}`,
      );
    }
    process.stdout.write('.\n');
    if (profile !== '')
      process.stdout.write(`\nProfile of one cached library build that installs (default workers), node --cpu-prof:\n\n${profile}`);
  } finally {
    if (values.keep) process.stderr.write(`kept ${work}\n`);
    else await rm(work, { recursive: true, force: true });
  }
}
