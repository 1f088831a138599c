// Benchmark: how fast the CLI starts. `provenant digest oci:DIR` (open a layout, resolve its tag,
// print the digest: nearly all start-up) against `skopeo inspect --format {{.Digest}}` on the same
// layout, against `node -e 0` (Node's own start) and a Node script that does only the work (read
// index.json, find the tag, write the digest), in the same run, interleaved. Each case is timed
// alone, as a user's shell runs it, and run again under GNU time for its peak RSS (whose own fork
// and exec add about a millisecond to the run it measures: that time is a column of its own). The CLI runs as the published package runs it: dist/cli/main.js, which loads the CLI's
// bundle (scripts/bundle-cli.ts), with its compile cache where a user's would be (warm after the
// first run) and without one; and, for comparison, from dist/'s per-module files, as the package
// ran it before the bundle (the same launcher, pointed at dist/cli/dispatch.js).
//
//   node bench/start.ts [--runs 31]
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { bytesSource } from '../src/io/types.ts';
import { encodeJson, parseStored } from '../src/oci/content.ts';
import { digestOf } from '../src/oci/digest.ts';
import { MediaType } from '../src/oci/mediatypes.ts';
import { LayoutStore } from '../src/store/layout.ts';
import { benchArgs, buildDist, has, median } from './lib.ts';

const values = benchArgs(import.meta.filename, { runs: { type: 'string' } }, ['runs']);
const runs = Number(values.runs ?? 31);
const root = join(import.meta.dirname, '..');

/** A one-layer image in a new layout, tagged `latest`. */
async function makeLayout(dir: string): Promise<void> {
  const store = await LayoutStore.open(dir, { create: true });
  const layer = new Uint8Array(4096).fill(7);
  const l = { mediaType: MediaType.OciLayerGzip, digest: digestOf(layer), size: layer.length };
  await store.putBlob(bytesSource(l, layer));
  const config = encodeJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [l.digest] } });
  const c = { mediaType: MediaType.OciConfig, digest: digestOf(config), size: config.length };
  await store.putBlob(bytesSource(c, config));
  const manifest = encodeJson({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: c, layers: [l] });
  await store.putManifest(parseStored(manifest, { mediaType: MediaType.OciManifest }), { tags: ['latest'] });
  await store.close();
}

/** One run's wall milliseconds (the command alone), and its wall milliseconds and peak RSS (MB) in a second run under GNU time. */
interface Sample {
  ms: number;
  timedMs: number;
  rssMb: number;
}

/**
 * Runs the command twice, one after the other: alone, timed from here (what the command takes),
 * and under GNU time, for its peak RSS (GNU time's own fork and exec add a millisecond or so to
 * the wall time of the run it measures, which is kept as a column of its own). Throws when a run
 * fails or prints something else than `expect`.
 */
function once(cmd: string, args: string[], env: NodeJS.ProcessEnv, expect?: string): Sample {
  const check = (r: ReturnType<typeof spawnSync>) => {
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
    if (expect !== undefined && String(r.stdout).trim() !== expect)
      throw new Error(`${cmd} printed ${JSON.stringify(r.stdout)}, not ${expect}`);
  };
  let start = process.hrtime.bigint();
  const alone = spawnSync(cmd, args, { encoding: 'utf8', env });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  check(alone);
  start = process.hrtime.bigint();
  const timed = spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], { encoding: 'utf8', env });
  const timedMs = Number(process.hrtime.bigint() - start) / 1e6;
  check(timed);
  const lines = timed.stderr.trim().split('\n');
  return { ms, timedMs, rssMb: Number(lines[lines.length - 1]) / 1024 };
}

async function main(): Promise<void> {
  if (!has('/usr/bin/time')) throw new Error('GNU time is missing: apt-get install -y time (or run bench/setup.sh)');
  const cli = buildDist(root);
  const work = await mkdtemp(join(tmpdir(), 'provenant-bench-start-'));
  try {
    const layout = join(work, 'layout');
    await makeLayout(layout);
    const expected = (await (await LayoutStore.open(layout)).resolve('latest'))!.digest;
    const node = process.execPath;
    const home = join(work, 'home');
    // No NODE_COMPILE_CACHE, which would turn the cache on before the launcher runs: main.js turns
    // it on in the user's cache folder, as it does for a user.
    const cached: NodeJS.ProcessEnv = { ...process.env, HOME: home, XDG_CACHE_HOME: join(home, '.cache') };
    delete cached.NODE_COMPILE_CACHE;
    const uncached = { ...cached, NODE_DISABLE_COMPILE_CACHE: '1' };
    // The launcher as built, pointed at the per-module dispatcher instead of the bundle's core
    // chunk, which holds the dispatcher (scripts/bundle-cli.ts).
    const perModule = join(dirname(cli), 'main-per-module.js');
    const launcher = await readFile(cli, 'utf8');
    const loadBundle = /import\("\.\/bundle\/[^"]+\.js"\)/g;
    if (launcher.match(loadBundle)?.length !== 1) throw new Error(`${cli} does not load the bundle's dispatcher once`);
    await writeFile(perModule, launcher.replace(loadBundle, 'import("./dispatch.js")'));
    // The work alone, in the fewest lines of Node.
    const script = join(work, 'digest-only.mjs');
    await writeFile(
      script,
      [
        "const fs = process.getBuiltinModule('node:fs');",
        "const index = JSON.parse(fs.readFileSync(process.argv[2] + '/index.json', 'utf8'));",
        "const m = index.manifests.find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === 'latest');",
        "fs.writeSync(1, m.digest + '\\n');",
      ].join('\n'),
    );
    const target = `oci:${layout}:latest`;
    const cases: [string, () => Sample][] = [
      ['node -e 0', () => once(node, ['-e', '0'], uncached)],
      ['node digest-only.mjs (readFileSync, writeSync)', () => once(node, [script, layout], uncached, expected)],
      ['provenant digest (dist bundle, compile cache warm)', () => once(node, [cli, 'digest', target], cached, expected)],
      ['provenant digest (dist bundle, no compile cache)', () => once(node, [cli, 'digest', target], uncached, expected)],
      ['provenant digest (dist per-module, compile cache warm)', () => once(node, [perModule, 'digest', target], cached, expected)],
      ['provenant digest (dist per-module, no compile cache)', () => once(node, [perModule, 'digest', target], uncached, expected)],
    ];
    if (has('skopeo'))
      cases.push([
        'skopeo inspect --format {{.Digest}}',
        () => once('skopeo', ['inspect', '--format', '{{.Digest}}', target], process.env, expected),
      ]);
    // One untimed round fills the compile caches and the page cache for everyone alike.
    for (const [, run] of cases) run();
    const samples = new Map<string, Sample[]>(cases.map(([name]) => [name, []]));
    const loads = [loadavg()[0]!];
    for (let i = 0; i < runs; i++) for (const [name, run] of cases) samples.get(name)!.push(run());
    loads.push(loadavg()[0]!);

    const nodeMs = median(samples.get('node -e 0')!.map((s) => s.ms));
    process.stdout.write(
      `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}; Node ${process.version}; 1-minute load average before and after: ${loads.map((l) => l.toFixed(2)).join(', ')}.\n` +
        `Command: node bench/start.ts --runs ${runs} (each case ${runs} times, interleaved, after one untimed round)\n\n` +
        'Times are of the command alone; the last two columns come from a second run of each, under GNU time.\n\n' +
        '| case | median ms | min ms | × node -e 0 | median ms under GNU time | max RSS (MB) |\n|---|---:|---:|---:|---:|---:|\n',
    );
    for (const [name, xs] of samples) {
      const ms = median(xs.map((s) => s.ms));
      process.stdout.write(
        `| ${name} | ${ms.toFixed(1)} | ${Math.min(...xs.map((s) => s.ms)).toFixed(1)} | ${(ms / nodeMs).toFixed(2)} | ${median(xs.map((s) => s.timedMs)).toFixed(1)} | ${Math.max(...xs.map((s) => s.rssMb)).toFixed(0)} |\n`,
      );
    }
  } finally {
    await rm(join(dirname(cli), 'main-per-module.js'), { force: true });
    await rm(work, { recursive: true, force: true });
  }
}

await main();
