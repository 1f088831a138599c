// Benchmark: a rebuild-and-push after one package changed. An apk image of host files with
// `layering: {strategy: per-package}` is built and pushed to a local registry; then, run after run,
// one package gets a new version (one of its files changed) and `provenant build -o REGISTRY/REPO`
// is timed: it should compress only that package's layer (and the first layer, which holds apk's
// database) and upload only those, the config and the manifests. The same rebuild with the
// default single layer is timed alongside, and both against the floor of the whole image
// (`tar --sort=name | pigz -6 | sha256sum` of all its files). Goal (issue 16): the per-package
// rebuild-and-push at most 0.5 × that floor.
//
//   node bench/incremental.ts [--size-mb 200] [--packages 20] [--runs 3]
import { readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry } from '../test/helpers/registry.ts';
import { EPOCH, makeApkInput } from './apk-input.ts';
import { benchArgs, buildDist, imageOf, median, need, q, type Sample, sh, timed } from './lib.ts';

const values = benchArgs(import.meta.filename, { 'size-mb': { type: 'string' }, packages: { type: 'string' }, runs: { type: 'string' } }, [
  'size-mb',
  'packages',
  'runs',
]);
const sizeMb = Number(values['size-mb'] ?? 200);
const packageCount = Number(values.packages ?? 20);
const runs = Number(values.runs ?? 3);
const root = join(import.meta.dirname, '..');

/** The blobs a registry's file storage holds. */
function registryBlobs(storage: string): Set<string> {
  const dir = join(storage, 'docker/registry/v2/blobs/sha256');
  const out = new Set<string>();
  let prefixes: string[] = [];
  try {
    prefixes = readdirSync(dir);
  } catch {
    return out;
  }
  for (const p of prefixes) for (const d of readdirSync(join(dir, p))) out.add(d);
  return out;
}

async function main(): Promise<void> {
  need('pigz', 'pigz');
  need('/usr/bin/time', 'time');
  if (!sh('tar', ['--version']).includes('GNU tar')) throw new Error('GNU tar is needed (--sort=name)');
  const cli = buildDist(root);
  const node = process.execPath;
  const env = { ...process.env, SOURCE_DATE_EPOCH: EPOCH };
  const work = await mkdtemp(join(tmpdir(), 'provenant-bench-incremental-'));
  const reg = await startRegistry();
  const loads = [loadavg()[0]!];
  try {
    const input = await makeApkInput(join(work, 'in'), sizeMb, packageCount, ['layering:', '  strategy: per-package']);
    // The same packages in one layer: the configuration without its layering.
    const single = join(work, 'in', 'single.yaml');
    await writeFile(single, (await readFile(input.config, 'utf8')).replace(/layering:\n.*\n/, ''));
    const cache = join(work, 'cache');
    const lean = ['--sbom', 'false', '--provenance', 'false'];
    const push = (config: string, repo: string, tag: string, extra: string[] = lean): Sample & { blobs: number } => {
      const before = registryBlobs(reg.storageDir);
      const s = timed(node, [cli, 'build', config, '-o', `${reg.host}/${repo}:${tag}`, '--cache-dir', cache, ...extra], { env });
      const after = registryBlobs(reg.storageDir);
      return { ...s, blobs: [...after].filter((b) => !before.has(b)).length };
    };
    // The first builds and pushes fill the cache and the registry (untimed).
    push(input.config, 'bench/per-package', 'v0');
    push(single, 'bench/single', 'v0');

    // The floor: the whole image's files, from a layout of the same image.
    const layout = join(work, 'layout');
    timed(node, [cli, 'build', input.config, '-o', `oci:${layout}:bench`, '--cache-dir', cache, ...lean], { env });
    const image = await imageOf(layout);
    const rootfs = join(work, 'rootfs');
    await mkdir(rootfs);
    for (const l of image.layers) sh('tar', ['-xzpf', join(layout, 'blobs', 'sha256', l.digest.slice(7)), '--numeric-owner', '-C', rootfs]);
    const floor = `tar -C ${q(rootfs)} --sort=name -cf - . | pigz -6 | sha256sum`;

    const cases = [
      'per-package layers: rebuild + push',
      'per-package layers, default attestations: rebuild + push',
      'one layer: rebuild + push',
      'floor: tar | pigz -6 | sha256sum',
    ] as const;
    const results = new Map<string, (Sample & { blobs?: number })[]>(cases.map((c) => [c, []]));
    const changed: string[] = [];
    for (let run = 1; run <= runs; run++) {
      // A new version of one package (untimed), then every case in turn.
      const i = input.withFiles[(run * 7) % input.withFiles.length]!;
      const size = await input.update(i, run);
      changed.push(`bench-${String(i).padStart(2, '0')} (${(size / 1e6).toFixed(1)} MB .apk)`);
      results.get(cases[0])!.push(push(input.config, 'bench/per-package', `v${run}`));
      results.get(cases[2])!.push(push(single, 'bench/single', `v${run}`));
      results.get(cases[3])!.push(timed('bash', ['-o', 'pipefail', '-c', floor]));
      // The same package changed once more, built with its SBOMs and provenance attached.
      await input.update(i, run + 1000);
      results.get(cases[1])!.push(push(input.config, 'bench/per-package', `v${run}a`, []));
      loads.push(loadavg()[0]!);
    }

    const floorM = median(results.get(cases[3])!.map((s) => s.seconds));
    process.stdout.write(
      `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}; Node ${process.version}; ${sh('pigz', ['--version']).trim()}; docker-registry 2.8 on 127.0.0.1; ` +
        `1-minute load average at the start and after each run: ${loads.map((l) => l.toFixed(2)).join(', ')}.\n` +
        `Input: ${input.packageCount} signed apk packages of ${input.files} files and ${input.symlinks} symlinks from the host, ` +
        `${(input.bytes / 1e6).toFixed(1)} MB of file data, ${(input.apkBytes / 1e6).toFixed(1)} MB of .apk; the image with per-package layers has ${image.layers.length} layers. ` +
        `Changed, one per run: ${changed.join(', ')}. Median of ${runs} runs.\n` +
        `Command: node bench/incremental.ts --size-mb ${sizeMb} --packages ${packageCount} --runs ${runs}\n\n` +
        '| case | median seconds | runs (s) | max RSS (MB) | new blobs in the registry | × floor |\n|---|---:|---|---:|---|---:|\n',
    );
    for (const [name, samples] of results) {
      const m = median(samples.map((s) => s.seconds));
      const blobs = samples.every((s) => s.blobs === undefined) ? '-' : samples.map((s) => s.blobs).join(', ');
      process.stdout.write(
        `| ${name} | ${m.toFixed(2)} | ${samples.map((s) => s.seconds.toFixed(2)).join(', ')} | ${Math.max(...samples.map((s) => s.maxRssMb)).toFixed(0)} | ${blobs} | ${(m / floorM).toFixed(2)} |\n`,
      );
    }
    const perPackage = median(results.get(cases[0])!.map((s) => s.seconds));
    process.stdout.write(`\nper-package rebuild + push / floor of the whole image: ${(perPackage / floorM).toFixed(2)} (goal ≤ 0.5).\n`);
  } finally {
    await reg.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
