// Benchmark: `provenant copy` of a generated multi-layer image (>= 200 MB) from an OCI layout to
// the local docker-registry, side by side with `skopeo copy` on the same input in the same run,
// cold (a fresh registry each time, and skopeo's blob-info cache removed first) and the no-op
// second push. Peak memory is each process's maximum RSS from GNU time.
//
//   node bench/copy.ts [--size-mb 256] [--layers 8] [--runs 3]
//
// Prints a Markdown table for docs/benchmarks.md. The CLI runs from dist/ (built first), as the
// published package does.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { copyImage } from '../src/image/copy.ts';
import { encodeJson, parseStored } from '../src/oci/content.ts';
import { digestOf } from '../src/oci/digest.ts';
import { MediaType } from '../src/oci/mediatypes.ts';
import type { Descriptor } from '../src/oci/types.ts';
import { RegistryClient } from '../src/registry/client.ts';
import { LayoutStore } from '../src/store/layout.ts';
import { RegistryStore } from '../src/store/registry.ts';
import { startRegistry } from '../test/helpers/registry.ts';
import { benchArgs, buildDist, median, type Sample, timed } from './lib.ts';

const values = benchArgs(import.meta.filename, { 'size-mb': { type: 'string' }, layers: { type: 'string' }, runs: { type: 'string' } }, [
  'size-mb',
  'layers',
  'runs',
]);
const sizeMb = Number(values['size-mb'] ?? 256);
const layerCount = Number(values.layers ?? 8);
const runs = Number(values.runs ?? 3);
const root = join(import.meta.dirname, '..');

function randomish(size: number, seed: number): Buffer {
  // Incompressible content, made fast by hashing a counter: gzip cannot shrink it, so the
  // bytes moved are the stated size.
  const out = Buffer.allocUnsafe(size);
  for (let off = 0, i = 0; off < size; i++) {
    const h = createHash('sha512').update(`${seed}:${i}`).digest();
    h.copy(out, off);
    off += h.length;
  }
  return out;
}

function tarOne(name: string, data: Buffer): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\x0000', 257);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const pad = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([header, data, pad, Buffer.alloc(1024)]);
}

async function makeSource(dir: string): Promise<void> {
  const store = await LayoutStore.open(dir, { create: true });
  const layers: Descriptor[] = [];
  const diffIds: string[] = [];
  const per = Math.ceil((sizeMb * 1024 * 1024) / layerCount);
  for (let i = 0; i < layerCount; i++) {
    const tar = tarOne(`layer-${i}.bin`, randomish(per, i));
    diffIds.push(digestOf(tar));
    const gz = gzipSync(tar, { level: 1 });
    const d = { mediaType: MediaType.OciLayerGzip, digest: digestOf(gz), size: gz.length };
    await store.putBlob({
      descriptor: d,
      open: async () =>
        (async function* () {
          yield new Uint8Array(gz);
        })(),
    });
    layers.push(d);
  }
  const config = encodeJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } });
  const cd = { mediaType: MediaType.OciConfig, digest: digestOf(config), size: config.length };
  await store.putBlob({
    descriptor: cd,
    open: async () =>
      (async function* () {
        yield config;
      })(),
  });
  const m = parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: cd, layers }));
  await store.putManifest(m, { tags: ['bench'] });
}

// The CLI as users run it: the published package's compiled dist/, built from this checkout.
buildDist(root);
const work = await mkdtemp(join(tmpdir(), 'provenant-bench-'));
try {
  const src = join(work, 'src');
  await makeSource(src);
  const du = spawnSync('du', ['-sm', src], { encoding: 'utf8' }).stdout.split('\t')[0];
  // provenant at its default concurrency (4 transfers), then at 1 and 8: memory is bounded per transfer.
  const tools = ['provenant', 'skopeo', 'provenant --concurrency 1', 'provenant --concurrency 8'] as const;
  const results: Record<string, Sample[]> = Object.fromEntries(
    tools.flatMap((t) => [
      [`${t} cold`, []],
      [`${t} no-op`, []],
    ]),
  );
  const node = process.execPath;
  const cache = '/var/lib/containers/cache/blob-info-cache-v1.boltdb';
  for (let run = 0; run < runs; run++) {
    for (const tool of tools) {
      const reg = await startRegistry();
      try {
        const dst = `${reg.host}/bench/${tool.replace(/[^a-z0-9]+/g, '-')}:bench`;
        await rm(cache, { force: true });
        const concurrency = tool.startsWith('provenant --') ? tool.split(' ').slice(1) : [];
        const args = tool.startsWith('provenant')
          ? [join(root, 'dist/cli/main.js'), 'copy', '--quiet', ...concurrency, `oci:${src}:bench`, dst]
          : ['copy', '--quiet', '--dest-tls-verify=false', `oci:${src}:bench`, `docker://${dst}`];
        const cmd = tool.startsWith('provenant') ? node : 'skopeo';
        results[`${tool} cold`]!.push(timed(cmd, args));
        results[`${tool} no-op`]!.push(timed(cmd, args));
      } finally {
        await reg.stop();
      }
    }
  }
  // The no-op push inside one process: what the library spends, without Node's start-up.
  const inProcess: number[] = [];
  {
    const reg = await startRegistry();
    try {
      const srcStore = await LayoutStore.open(src);
      const dst = new RegistryStore(new RegistryClient(reg.host), 'bench/lib');
      await copyImage(srcStore, 'bench', dst, { tags: ['bench'] });
      for (let i = 0; i < runs; i++) {
        const t = process.hrtime.bigint();
        const r = await copyImage(srcStore, 'bench', dst, { tags: ['bench'] });
        inProcess.push(Number(process.hrtime.bigint() - t) / 1e9);
        if (r.blobs.stored !== 0) throw new Error('the no-op push uploaded a blob');
      }
    } finally {
      await reg.stop();
    }
  }
  const cpu = cpus()[0]?.model ?? 'unknown';
  const skopeoVersion = spawnSync('skopeo', ['--version'], { encoding: 'utf8' }).stdout.trim();
  process.stdout.write(
    `Machine: ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; Node ${process.version}; ${skopeoVersion}; docker-registry 2.8 on 127.0.0.1.\n` +
      `Input: one image, ${layerCount} gzip layers of incompressible data, ${du} MB on disk. Median of ${runs} runs.\n` +
      `Command: node bench/copy.ts --size-mb ${sizeMb} --layers ${layerCount} --runs ${runs}\n\n` +
      '| case | median seconds | runs (s) | max RSS (MB) |\n|---|---|---|---|\n',
  );
  for (const [name, samples] of Object.entries(results)) {
    process.stdout.write(
      `| ${name} | ${median(samples.map((s) => s.seconds)).toFixed(3)} | ${samples.map((s) => s.seconds.toFixed(2)).join(', ')} | ${Math.max(...samples.map((s) => s.maxRssMb)).toFixed(0)} |\n`,
    );
  }
  process.stdout.write(
    `| provenant no-op, in process (library call, warm client) | ${median(inProcess).toFixed(3)} | ${inProcess.map((x) => x.toFixed(3)).join(', ')} | - |\n`,
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
