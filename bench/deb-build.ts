import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import {
  benchArgs,
  buildDist,
  has,
  imageOf,
  type LayerRef,
  launcherMallocSettings,
  median,
  need,
  q,
  type Sample,
  sh,
  timed,
  withoutMallocSettings,
} from './lib.ts';

const values = benchArgs(
  import.meta.filename,
  {
    runs: { type: 'string' },
    packages: { type: 'string' },
    'no-mmdebstrap': { type: 'boolean' },
    // Keep the temporary folder (config, caches, rootfs, outputs) and print where it is.
    keep: { type: 'boolean' },
  },
  ['runs'],
);
const root = join(import.meta.dirname, '..');
const EPOCH = '1700000000';
const DEFAULT_PACKAGES = 'base-files,bash,coreutils,perl,python3-minimal,openssl,ca-certificates,tzdata,libstdc++6';

async function main(): Promise<void> {
  const runs = Number(values.runs ?? 3);
  const packages = (values.packages ?? DEFAULT_PACKAGES).split(',').filter((p) => p !== '');
  if (process.getuid?.() !== 0) throw new Error('run as root: mmdebstrap --mode=root, and the layer is unpacked with its owners');
  need('pigz', 'pigz');
  need('/usr/bin/time', 'time');
  if (!sh('tar', ['--version']).includes('GNU tar')) throw new Error('GNU tar is needed (--sort=name)');
  let mmdebstrap: string | undefined;
  if (values['no-mmdebstrap']) mmdebstrap = 'left out (--no-mmdebstrap)';
  else if (!has('mmdebstrap')) mmdebstrap = 'not installed: apt-get install -y mmdebstrap';

  const cli = buildDist(root);
  const node = process.execPath;
  // The default cases run with glibc's own allocator settings, whatever the shell exported.
  const env = { ...withoutMallocSettings(process.env), SOURCE_DATE_EPOCH: EPOCH };
  const work = await mkdtemp(join(tmpdir(), 'provenant-bench-deb-'));
  const loadBefore = loadavg()[0]!;
  try {
    // The sources from this machine's apt configuration, never written in this file.
    const sourcesYaml = join(work, 'sources.yaml');
    sh('bash', [join(root, 'scripts/debian-sources.sh'), sourcesYaml]);
    const sourceLines = (await readFile(sourcesYaml, 'utf8'))
      .split('\n')
      .map((l) => /^\s*-\s*(deb\s.*)$/.exec(l)?.[1]?.trim())
      .filter((l): l is string => l !== undefined);
    const config = join(work, 'image.yaml');
    await writeFile(
      config,
      ['include: sources.yaml', 'contents:', `  packages: [${packages.join(', ')}]`, 'archs: [x86_64]', ''].join('\n'),
    );

    const cache = join(work, 'cache');
    const rootfs = join(work, 'rootfs');
    let digest = '';
    let ourLayer: LayerRef | undefined;
    const layerSizes: Record<string, number> = {};
    /**
     * `provenant build` from dist/ to a new layout, the same image every time unless `epoch` asks
     * for another SOURCE_DATE_EPOCH (every header then differs); `more` is added to the environment.
     */
    const cliBuild = async (label: string, extra: string[], epoch?: number, more: Record<string, string> = {}): Promise<Sample> => {
      const out = join(work, 'out');
      await rm(out, { recursive: true, force: true });
      const s = timed(node, [cli, 'build', config, '-o', `oci:${out}:bench`, '--cache-dir', cache, '--format', 'json', ...extra], {
        env: { ...env, ...(epoch === undefined ? {} : { SOURCE_DATE_EPOCH: String(epoch) }), ...more },
      });
      const image = await imageOf(out);
      if (epoch !== undefined) return s;
      if (digest !== '' && image.manifest !== digest) throw new Error(`the build is not reproducible: ${image.manifest} after ${digest}`);
      digest = image.manifest;
      if (image.layers.length !== 1) throw new Error(`expected one layer, got ${image.layers.length}`);
      ourLayer = image.layers[0]!;
      layerSizes[label] = ourLayer.size;
      return s;
    };
    const lean = ['--sbom', 'false', '--provenance', 'false'];
    // The first build fills the download cache: timed once, reported apart.
    const first = await cliBuild('first', lean);

    // Our layer, unpacked with its owners and modes; reading it back also warms the page cache.
    await mkdir(rootfs);
    sh('tar', ['-xzpf', join(work, 'out', 'blobs', 'sha256', ourLayer!.digest.slice(7)), '--numeric-owner', '-C', rootfs]);
    const tarSize = Number(sh('sh', ['-c', `tar -C ${q(rootfs)} --sort=name -cf - . | wc -c`]).trim());
    const fileCount = Number(sh('sh', ['-c', `find ${q(rootfs)} -mindepth 1 | wc -l`]).trim());
    const floor = `tar -C ${q(rootfs)} --sort=name -cf - . | pigz -6 | sha256sum`;
    const floorSize = Number(sh('bash', ['-o', 'pipefail', '-c', `tar -C ${q(rootfs)} --sort=name -cf - . | pigz -6 | wc -c`]).trim());

    // mmdebstrap: the same sources and packages. Its first run downloads the .debs and saves them.
    const debs = join(work, 'debs');
    const mmOut = join(work, 'mm.tar');
    const mmBase = ['--variant=extract', `--include=${packages.join(',')}`, '--mode=root', '--quiet'];
    const mmWarm = [
      ...mmBase,
      '--skip=download/empty',
      '--setup-hook=mkdir -p "$1"/var/cache/apt/archives/',
      `--setup-hook=sync-in ${debs} /var/cache/apt/archives/`,
    ];
    let mmFirst: Sample | undefined;
    let mmVersion = '';
    let mmEntries = 0;
    if (mmdebstrap === undefined) {
      await mkdir(debs);
      try {
        mmVersion = sh('mmdebstrap', ['--version']).trim();
        mmFirst = timed('mmdebstrap', [
          ...mmBase,
          `--extract-hook=sync-out /var/cache/apt/archives ${debs}`,
          'bookworm',
          mmOut,
          ...sourceLines,
        ]);
        mmEntries = Number(sh('sh', ['-c', `tar -tf ${q(mmOut)} | grep -v '^\\./$' | wc -l`]).trim());
      } catch (err) {
        mmdebstrap = `failed: ${(err as Error).message.split('\n').slice(-4).join(' ')}`;
      }
    }
    const mmSizes: Record<string, number> = {};
    const mmCmd = (out: string) => ['mmdebstrap', ...mmWarm, 'bookworm', out, ...sourceLines].map(q).join(' ');

    const LEAN_COLD = 'provenant build --sbom false --provenance false --layer-cache false, cached (every file compressed)';
    const LEAN_AGAIN =
      'provenant build --sbom false --provenance false, cached, layer made again (new SOURCE_DATE_EPOCH; compressed bodies reused)';
    const MALLOC_SETTINGS = launcherMallocSettings(root);
    const LEAN_AGAIN_ALLOC = `${LEAN_AGAIN}, with bin/provenant's malloc settings`;
    const LEAN_COLD_ALLOC = `${LEAN_COLD}, with bin/provenant's malloc settings`;
    let epoch = Number(EPOCH);
    const cases: [string, () => Promise<Sample>][] = [
      ['provenant build --sbom false --provenance false, cached', () => cliBuild('lean', lean)],
      [LEAN_AGAIN, () => cliBuild('lean-again', lean, ++epoch)],
      [LEAN_COLD, () => cliBuild('lean-cold', [...lean, '--layer-cache', 'false'])],
      [LEAN_AGAIN_ALLOC, () => cliBuild('lean-again-alloc', lean, ++epoch, MALLOC_SETTINGS)],
      [LEAN_COLD_ALLOC, () => cliBuild('lean-cold-alloc', [...lean, '--layer-cache', 'false'], undefined, MALLOC_SETTINGS)],
      ['provenant build (default: SBOMs + provenance), cached', () => cliBuild('default', [])],
      ['floor: tar | pigz -6 | sha256sum', async () => timed('bash', ['-o', 'pipefail', '-c', floor])],
    ];
    if (mmdebstrap === undefined) {
      cases.push(
        [
          'mmdebstrap extract, .debs cached (uncompressed tar)',
          async () => {
            const s = timed('sh', ['-c', mmCmd(mmOut)]);
            mmSizes['mmdebstrap extract, .debs cached (uncompressed tar)'] = Number(sh('stat', ['-c', '%s', mmOut]).trim());
            return s;
          },
        ],
        [
          'mmdebstrap extract, .debs cached, | pigz -6',
          async () => {
            const gz = join(work, 'mm.tar.gz');
            const s = timed('bash', ['-o', 'pipefail', '-c', `${mmCmd('-')} | pigz -6 > ${q(gz)}`]);
            mmSizes['mmdebstrap extract, .debs cached, | pigz -6'] = Number(sh('stat', ['-c', '%s', gz]).trim());
            return s;
          },
        ],
      );
    }
    // Each run takes every case in turn, so that other load on the machine falls on all of them.
    const results: Record<string, Sample[]> = Object.fromEntries(cases.map(([label]) => [label, []]));
    const loads: number[] = [loadBefore];
    for (let run = 0; run < runs; run++) {
      for (const [label, f] of cases) results[label]!.push(await f());
      loads.push(loadavg()[0]!);
    }

    const mb = (n: number) => (n / 1e6).toFixed(1);
    const cpu = cpus()[0]?.model ?? 'unknown';
    const med = (k: string) => median(results[k]!.map((s) => s.seconds));
    const headline = med('provenant build --sbom false --provenance false, cached');
    const sizes: Record<string, string> = {
      'provenant build --sbom false --provenance false, cached': mb(layerSizes.lean!),
      [LEAN_COLD]: mb(layerSizes['lean-cold']!),
      [LEAN_AGAIN]: '-',
      [LEAN_COLD_ALLOC]: mb(layerSizes['lean-cold-alloc']!),
      [LEAN_AGAIN_ALLOC]: '-',
      'provenant build (default: SBOMs + provenance), cached': mb(layerSizes.default!),
      'floor: tar | pigz -6 | sha256sum': mb(floorSize),
      ...Object.fromEntries(Object.entries(mmSizes).map(([k, v]) => [k, mb(v)])),
    };
    process.stdout.write(
      `Machine: ${cpus().length} × ${cpu} (availableParallelism ${availableParallelism()}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB; ` +
        `Node ${process.version}; ${sh('pigz', ['--version']).trim()}; ${sh('tar', ['--version']).split('\n')[0]}` +
        `${mmVersion === '' ? '' : `; ${mmVersion}`}; ` +
        `1-minute load average at the start and after each run: ${loads.map((l) => l.toFixed(2)).join(', ')}.\n` +
        `Input: Debian 12 (bookworm main, bookworm-updates${sourceLines.some((l) => /-security/.test(l)) ? ', bookworm-security' : ''}), ` +
        `packages [${packages.join(', ')}] and their dependencies; ${fileCount} files, directories and links in the layer, ` +
        `layer tar ${mb(tarSize)} MB, gzip ${mb(ourLayer!.size)} MB. Median of ${runs} runs. linux/amd64 manifest ${digest}.\n` +
        `Command: node bench/deb-build.ts --runs ${runs}${values.packages === undefined ? '' : ` --packages ${packages.join(',')}`}\n\n` +
        '| case | median seconds | runs (s) | max RSS (MB) | output (MB) | × cached build (lean) |\n|---|---|---|---|---|---|\n',
    );
    const row = (name: string, samples: Sample[], size: string) => {
      const m = median(samples.map((s) => s.seconds));
      process.stdout.write(
        `| ${name} | ${m.toFixed(2)} | ${samples.map((s) => s.seconds.toFixed(2)).join(', ')} | ` +
          `${Math.max(...samples.map((s) => s.maxRssMb)).toFixed(0)} | ${size} | ${(m / headline).toFixed(2)} |\n`,
      );
    };
    row('provenant build --sbom false --provenance false, first (empty cache, downloads)', [first], mb(layerSizes.first!));
    for (const [name, samples] of Object.entries(results)) row(name, samples, sizes[name] ?? '-');
    if (mmFirst !== undefined) row('mmdebstrap extract, first (downloads .debs; uncompressed tar)', [mmFirst], '-');

    const floorM = med('floor: tar | pigz -6 | sha256sum');
    const defaultM = med('provenant build (default: SBOMs + provenance), cached');
    let ratios =
      `\nprovenant (cached, lean) / floor: ${(headline / floorM).toFixed(2)} (goal ≤ 1.3); ` +
      `provenant (cached, lean, layer made again) / floor: ${(med(LEAN_AGAIN) / floorM).toFixed(2)}; ` +
      `provenant (cached, lean, --layer-cache false) / floor: ${(med(LEAN_COLD) / floorM).toFixed(2)}; ` +
      `provenant (cached, default) / floor: ${(defaultM / floorM).toFixed(2)}.`;
    if (mmdebstrap === undefined) {
      const mmTar = med('mmdebstrap extract, .debs cached (uncompressed tar)');
      const mmGz = med('mmdebstrap extract, .debs cached, | pigz -6');
      ratios +=
        ` provenant (cached, lean) / mmdebstrap (tar): ${(headline / mmTar).toFixed(2)}; / mmdebstrap | pigz -6: ${(headline / mmGz).toFixed(2)}; ` +
        `provenant (cached, default) / mmdebstrap | pigz -6: ${(defaultM / mmGz).toFixed(2)}. ` +
        `mmdebstrap's tar has ${mmEntries} entries (provenant's layer ${fileCount}).`;
    } else {
      ratios += ` mmdebstrap: ${mmdebstrap}.`;
    }
    process.stdout.write(`${ratios}\n`);
  } finally {
    if (values.keep) process.stderr.write(`kept ${work}\n`);
    else await rm(work, { recursive: true, force: true });
  }
}

await main();
