// Benchmark: the fixed cost of a warm build (issue 16: "under 0.25 s"), what `provenant build`
// costs when there is next to nothing to build. A one-package apk image from the generated local
// repository (bench/apk-input.ts, about 1 MB of this machine's files) and a one-package Debian
// image (netbase, which depends on nothing) from this machine's apt sources, both with their
// packages and indexes cached, each without and with SBOMs and provenance; in the same run,
// interleaved: `node -e 0` (Node's own start, the least any Node CLI costs), the floor
// (`tar | pigz -6 | sha256sum` of the apk image's files) and buildah (from scratch + copy + commit
// of the same files, gzip: the nearest peer installed here, as apko is not). The CPU time of each
// (user + system, GNU time) is printed too: on a machine other work shares, it moves less than
// the wall time of a process that mostly runs on one core (the floor's pigz runs on all of them).
//
//   node bench/fixed.ts [--runs 11] [--no-deb] [--no-buildah] [--keep]
//
// Run as root after bench/setup.sh (buildah with vfs storage; the Debian sources need the mirror).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { EPOCH, makeApkInput } from './apk-input.ts';
import { benchArgs, buildahCommit, buildDist, has, imageOf, median, need, q, type Sample, sh, timed } from './lib.ts';

const values = benchArgs(
  import.meta.filename,
  {
    runs: { type: 'string' },
    'no-deb': { type: 'boolean' },
    'no-buildah': { type: 'boolean' },
    keep: { type: 'boolean' },
  },
  ['runs'],
);
const root = join(import.meta.dirname, '..');
const GOAL_SECONDS = 0.25;
/** A Debian package that depends on nothing, so that its image is one package. */
const DEB_PACKAGE = 'netbase';

async function main(): Promise<void> {
  const runs = Number(values.runs ?? 11);
  need('pigz', 'pigz');
  need('/usr/bin/time', 'time');
  if (!sh('tar', ['--version']).includes('GNU tar')) throw new Error('GNU tar is needed (--sort=name)');
  const withBuildah = values['no-buildah'] !== true && has('buildah') && process.getuid?.() === 0;
  const cli = buildDist(root);
  const node = process.execPath;
  const work = await mkdtemp(join(tmpdir(), 'provenant-bench-fixed-'));
  const env = { ...process.env, SOURCE_DATE_EPOCH: EPOCH, HOME: join(work, 'home'), XDG_CACHE_HOME: join(work, 'home', '.cache') };
  const loads = [loadavg()[0]!];
  try {
    const apk = await makeApkInput(join(work, 'apk'), 1, 1);
    const cache = join(work, 'cache');
    const lean = ['--sbom', 'false', '--provenance', 'false'];
    const images = new Map<string, { digest: string; packages: string[] }>();
    /** A warm `provenant build` of `config` to a new layout; the same image every time. */
    const build = (label: string, config: string, extra: string[]) => async (): Promise<Sample> => {
      const out = join(work, 'out');
      await rm(out, { recursive: true, force: true });
      const s = timed(node, [cli, 'build', config, '-o', `oci:${out}:bench`, '--cache-dir', cache, '--format', 'json', ...extra], { env });
      const { digest, images: built } = JSON.parse(s.stdout) as { digest: string; images: { packages: string[] }[] };
      const before = images.get(label);
      if (before !== undefined && before.digest !== digest) throw new Error(`${label}: ${digest} after ${before.digest}`);
      images.set(label, { digest, packages: built[0]?.packages ?? [] });
      return s;
    };

    const cases: [string, () => Promise<Sample>][] = [
      ['node -e 0', async () => timed(node, ['-e', '0'], { env })],
      ['provenant build, apk, one package, cached, --sbom false --provenance false', build('apk-lean', apk.config, lean)],
      ['provenant build, apk, one package, cached (default: SBOMs + provenance)', build('apk-default', apk.config, [])],
    ];
    let debNote = '';
    if (values['no-deb'] === true) debNote = 'Debian: left out (--no-deb).';
    else {
      // The sources from this machine's apt configuration, never written in this file.
      const debDir = join(work, 'deb');
      await mkdir(debDir);
      try {
        sh('bash', [join(root, 'scripts/debian-sources.sh'), join(debDir, 'sources.yaml')]);
        const config = join(debDir, 'image.yaml');
        await writeFile(config, ['include: sources.yaml', 'contents:', `  packages: [${DEB_PACKAGE}]`, 'archs: [x86_64]', ''].join('\n'));
        cases.push(
          [`provenant build, Debian (${DEB_PACKAGE}), cached, --sbom false --provenance false`, build('deb-lean', config, lean)],
          [`provenant build, Debian (${DEB_PACKAGE}), cached (default: SBOMs + provenance)`, build('deb-default', config, [])],
        );
      } catch (err) {
        debNote = `Debian: left out (${(err as Error).message.split('\n')[0]}).`;
      }
    }

    // The apk image's files, unpacked with their owners: the input of the floor and of buildah.
    const rootfs = join(work, 'rootfs');
    await mkdir(rootfs);
    await build('apk-lean', apk.config, lean)();
    const layer = (await imageOf(join(work, 'out'))).layers[0]!;
    sh('tar', ['-xzpf', join(work, 'out', 'blobs', 'sha256', layer.digest.slice(7)), '--numeric-owner', '-C', rootfs]);
    cases.push([
      'floor: tar | pigz -6 | sha256sum (the apk image)',
      async () => timed('bash', ['-o', 'pipefail', '-c', `tar -C ${q(rootfs)} --sort=name -cf - . | pigz -6 | sha256sum`]),
    ]);
    if (withBuildah) {
      cases.push([
        'buildah from scratch + copy + commit --format oci, gzip (the apk image)',
        async () => {
          const { layerSize: _, ...sample } = await buildahCommit(work, rootfs, ['--disable-compression=false']);
          return sample;
        },
      ]);
    }

    // One untimed round fills the download cache, Node's compile cache and the page cache; then
    // each run takes every case in turn, so that other load on the machine falls on all of them.
    for (const [, run] of cases) await run();
    const samples = new Map<string, Sample[]>(cases.map(([name]) => [name, []]));
    for (let i = 0; i < runs; i++) {
      for (const [name, run] of cases) samples.get(name)!.push(await run());
      loads.push(loadavg()[0]!);
    }

    const nodeS = median(samples.get('node -e 0')!.map((s) => s.seconds));
    const packages = [...images.entries()].map(([label, i]) => `${label}: ${i.packages.join(', ')} (${i.digest.slice(0, 19)})`).join('; ');
    process.stdout.write(
      `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}; Node ${process.version}; ${sh('pigz', ['--version']).trim()}; ` +
        `${withBuildah ? `${sh('buildah', ['--version']).trim()}; ` : 'buildah: not run; '}` +
        `1-minute load average at the start and after each run: ${loads.map((l) => l.toFixed(2)).join(', ')}.\n` +
        `Input: apk, one package of ${apk.files} files and ${apk.symlinks} symlinks (${(apk.bytes / 1e6).toFixed(1)} MB, layer ${(layer.size / 1e6).toFixed(1)} MB gzip) from a local signed repository; ` +
        `Debian, ${DEB_PACKAGE} alone from this machine's apt sources (the Release is fetched from the mirror each build; the indexes and the package come from the cache). ${debNote}\n` +
        `Images: ${packages}. Median of ${runs} runs, after one untimed round. apko, the peer the issue names, is not installed.\n` +
        `Command: node bench/fixed.ts --runs ${runs}${values['no-deb'] === true ? ' --no-deb' : ''}${values['no-buildah'] === true ? ' --no-buildah' : ''}\n\n` +
        '| case | median seconds | min | runs (s) | median CPU seconds (user + sys) | max RSS (MB) | × node -e 0 |\n|---|---:|---:|---|---:|---:|---:|\n',
    );
    for (const [name, xs] of samples) {
      const m = median(xs.map((s) => s.seconds));
      process.stdout.write(
        `| ${name.replaceAll('|', '\\|')} | ${m.toFixed(3)} | ${Math.min(...xs.map((s) => s.seconds)).toFixed(3)} | ${xs.map((s) => s.seconds.toFixed(2)).join(', ')} | ${median(xs.map((s) => s.cpuSeconds ?? Number.NaN)).toFixed(2)} | ` +
          `${Math.max(...xs.map((s) => s.maxRssMb)).toFixed(0)} | ${(m / nodeS).toFixed(1)} |\n`,
      );
    }
    const verdicts = [...samples.keys()]
      .filter((name) => name.startsWith('provenant build'))
      .map((name) => {
        const m = median(samples.get(name)!.map((s) => s.seconds));
        return `${name.replace('provenant build, ', '')}: ${m.toFixed(3)} s, ${m < GOAL_SECONDS ? 'met' : 'not met'}`;
      });
    process.stdout.write(`\nGoal: a warm build under ${GOAL_SECONDS} s. ${verdicts.join('; ')}.\n`);
  } finally {
    if (values.keep === true) process.stderr.write(`kept ${work}\n`);
    else await rm(work, { recursive: true, force: true });
  }
}

await main();
