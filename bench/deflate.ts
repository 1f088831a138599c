// Benchmark: the pinned gzip compressor (src/archive/deflate.ts, libdeflate's wasm in 1 MiB
// blocks) against node:zlib and pigz on ~100 MB of realistic layer content: the files of
// /usr/lib/x86_64-linux-gnu and /usr/bin (shared libraries, executables, scripts), read at run
// time in name order and concatenated.
//
//   node bench/deflate.ts [--size-mb 100] [--level 6] [--block-size 1048576] [--workers 0,1,2]
//                         [--runs 3] [--sweep] [--sweep-mb 32]
//
// Prints Markdown tables: throughput (MB/s of input, wall clock, the best of --runs runs, so that
// other load on the machine counts less) and compressed size per compressor; with --sweep also a
// level × block size grid of pinnedGzip at the default worker count, on the first --sweep-mb of
// the same data.
import { spawnSync } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { PINNED_GZIP_BLOCK_SIZE, PINNED_GZIP_LEVEL, pinnedGzip } from '../src/archive/deflate.ts';
import { benchArgs } from './lib.ts';

const values = benchArgs(
  import.meta.filename,
  {
    'size-mb': { type: 'string' },
    level: { type: 'string' },
    'block-size': { type: 'string' },
    workers: { type: 'string' },
    sweep: { type: 'boolean' },
    'sweep-mb': { type: 'string' },
    runs: { type: 'string' },
  },
  ['size-mb', 'level', 'block-size', 'sweep-mb', 'runs'],
);
const sizeMb = Number(values['size-mb'] ?? 100);
const level = Number(values.level ?? PINNED_GZIP_LEVEL);
const blockSize = Number(values['block-size'] ?? PINNED_GZIP_BLOCK_SIZE);
const workerCounts = (values.workers ?? '0,1,2').split(',').map(Number);
const sweepMb = Number(values['sweep-mb'] ?? 32);
const runs = Number(values.runs ?? 3);

function realisticData(size: number): Buffer {
  const parts: Buffer[] = [];
  let total = 0;
  for (const dir of ['/usr/lib/x86_64-linux-gnu', '/usr/bin']) {
    for (const name of readdirSync(dir).sort()) {
      if (total >= size) break;
      const path = join(dir, name);
      try {
        if (!lstatSync(path).isFile()) continue;
        const bytes = readFileSync(path);
        parts.push(bytes);
        total += bytes.length;
      } catch {
        // unreadable: skip
      }
    }
  }
  return Buffer.concat(parts).subarray(0, size);
}

/** `data` as a stream of 64 KiB chunks, as a file or tar writer would give it. */
function* chunks(data: Uint8Array): Generator<Uint8Array> {
  for (let at = 0; at < data.length; at += 65536) yield data.subarray(at, at + 65536);
}

interface Row {
  name: string;
  seconds: number;
  size: number;
}

/** The fastest of `runs` runs of `once`. */
async function best(once: () => Promise<Row> | Row): Promise<Row> {
  let fastest: Row | undefined;
  for (let i = 0; i < runs; i++) {
    const row = await once();
    if (fastest === undefined || row.seconds < fastest.seconds) fastest = row;
  }
  return fastest!;
}

async function timePinned(data: Uint8Array, options: { level: number; blockSize: number; workers?: number }): Promise<Row> {
  const start = performance.now();
  const parts: Uint8Array[] = [];
  for await (const part of pinnedGzip(chunks(data), options)) parts.push(part);
  const seconds = (performance.now() - start) / 1000;
  const out = Buffer.concat(parts);
  if (!gunzipSync(out).equals(data)) throw new Error('pinnedGzip did not round-trip');
  const w = options.workers === undefined ? `default (${Math.min(availableParallelism(), 4)})` : String(options.workers);
  return { name: `pinnedGzip level ${options.level}, ${options.blockSize / 1024} KiB blocks, workers ${w}`, seconds, size: out.length };
}

function timeZlib(data: Uint8Array): Row {
  const start = performance.now();
  const out = gzipSync(data, { level: 6 });
  const seconds = (performance.now() - start) / 1000;
  return { name: 'node:zlib gzipSync level 6 (one thread; bytes vary by Node version)', seconds, size: out.length };
}

function timeTool(name: string, cmd: string, args: string[], file: string): Row {
  const start = performance.now();
  const r = spawnSync('sh', ['-c', `"$0" "$@" < '${file}' | wc -c`, cmd, ...args], { encoding: 'utf8' });
  const seconds = (performance.now() - start) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  return { name, seconds, size: Number(r.stdout.trim()) };
}

function table(rows: Row[], inputSize: number): string {
  const lines = ['| compressor | MB/s | compressed MB | ratio |', '|---|---:|---:|---:|'];
  for (const r of rows) {
    lines.push(
      `| ${r.name} | ${(inputSize / 1e6 / r.seconds).toFixed(1)} | ${(r.size / 1e6).toFixed(2)} | ${(r.size / inputSize).toFixed(4)} |`,
    );
  }
  return lines.join('\n');
}

const data = realisticData(sizeMb * 1e6);
console.log(
  `Input: ${(data.length / 1e6).toFixed(1)} MB from /usr/lib/x86_64-linux-gnu and /usr/bin; ` +
    `${availableParallelism()} CPUs (${cpus()[0]?.model ?? '?'}), Node ${process.versions.node} (zlib ${process.versions.zlib}); ` +
    `best of ${runs} runs\n`,
);

// Warm up the JIT and the worker pool, so the first measured run is not charged for them.
await timePinned(data.subarray(0, 8e6), { level, blockSize, workers: Math.max(...workerCounts) });

const rows: Row[] = [];
for (const workers of workerCounts) rows.push(await best(() => timePinned(data, { level, blockSize, workers })));
rows.push(await best(() => timeZlib(data)));
const dir = await mkdtemp(join(tmpdir(), 'provenant-bench-'));
try {
  const file = join(dir, 'input');
  await writeFile(file, data);
  if (spawnSync('sh', ['-c', 'command -v pigz']).status === 0) {
    const threads = availableParallelism();
    rows.push(await best(() => timeTool('pigz -6 -p 1', 'pigz', ['-6', '-p', '1', '-c'], file)));
    rows.push(await best(() => timeTool(`pigz -6 (${threads} threads)`, 'pigz', ['-6', '-c'], file)));
    rows.push(await best(() => timeTool(`pigz -1 (${threads} threads)`, 'pigz', ['-1', '-c'], file)));
  } else {
    console.log('pigz is not installed (apt-get install -y pigz): skipped\n');
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
console.log(table(rows, data.length));

if (values.sweep) {
  const sample = data.subarray(0, sweepMb * 1e6);
  const grid: Row[] = [];
  for (const l of [1, 2, 3, 4, 6, 9]) {
    for (const b of [128 * 1024, 256 * 1024, 1024 * 1024, 4096 * 1024]) {
      grid.push(await best(() => timePinned(sample, { level: l, blockSize: b })));
    }
  }
  console.log(`\nSweep on the first ${(sample.length / 1e6).toFixed(0)} MB:\n`);
  console.log(table(grid, sample.length));
}
console.log(`\nPeak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
