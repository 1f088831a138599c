// Benchmark: the Debian metadata step (src/pkg/deb/fetch-index.ts, release.ts) against `apt-get update` on the
// same source, bookworm main amd64 (~63,000 stanzas), with the mirror of the machine's apt sources
// or PROVENANT_DEBIAN_MIRROR (never written here).
//
//   node bench/deb-metadata.ts [--runs 3] [--no-apt] [--no-network]
//
// Prints Markdown: the machine, then the median (and every run) of
//   - Provenant, offline, cached: keyring + InRelease verification + the decompressed Packages read
//     from the content-addressed cache and checked against the Release + parse. This is the
//     metadata step of a build whose cache holds the current index; measured in-process and as a
//     fresh `node` process (what a CLI run pays: Node's start and module loading included).
//   - its parts: InRelease verification; Packages.xz check + xz decompress + parse (the first build
//     after the index changed, the .xz already downloaded); parse alone.
//   - what a build does instead of the parse: index the Packages file once (indexDebStanzas) and
//     read that index back from the cache each build; the build's step with the index cached.
//   - Provenant from the network into an empty cache (download included), and with a warm cache
//     (only InRelease downloaded), each with the parse.
//   - apt-get update in a private state dir: cold (it downloads, decompresses and builds its
//     cache) and warm (InRelease unchanged: "Hit").
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { cpus, loadavg, release as osRelease, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseControlStanzas } from '../src/pkg/deb/control.ts';
import { fetchDebianIndex } from '../src/pkg/deb/fetch-index.ts';
import { DEBIAN_ARCHIVE_KEYRING, DebKeyring } from '../src/pkg/deb/keyring.ts';
import { readPackagesIndex, readRelease, selectPackagesFile } from '../src/pkg/deb/release.ts';
import { decodeStanzaIndex, encodeStanzaIndex, indexDebStanzas } from '../src/pkg/deb/stanza-index.ts';
import { decompressXz } from '../src/pkg/deb/xz.ts';
import { DownloadCache, fetchFile } from '../src/pkg/fetch.ts';
import { benchArgs } from './lib.ts';

const values = benchArgs(
  import.meta.filename,
  {
    runs: { type: 'string' },
    'no-apt': { type: 'boolean' },
    'no-network': { type: 'boolean' },
    // Internal: one offline metadata step in this process, for the fresh-process figure.
    once: { type: 'string' },
    cache: { type: 'string' },
  },
  ['runs'],
);

const SUITE = 'bookworm';
const COMPONENT = 'main';
const ARCH = 'amd64';

if (values.once !== undefined) {
  // A local "mirror" holding only dists/bookworm/InRelease; the Packages come from the cache.
  // Prints the stanza count, the ms from the process's start to here (Node's start, loading the
  // modules, openpgp.js among them) and the ms of the step itself.
  const ready = performance.now();
  const index = await fetchDebianIndex({ url: values.once, suite: SUITE, components: [COMPONENT], arch: ARCH, cacheDir: values.cache });
  process.stdout.write(`${index.packages.length} ${ready.toFixed(0)} ${(performance.now() - ready).toFixed(0)}\n`);
  process.exit(0);
}

// Imported here, not above: the helper checks the mirror at load time, which the child must not pay.
const { debianCacheDir, debianMirror } = await import('../test/helpers/debian.ts');
const runs = Number(values.runs ?? 3);
const mirror = debianMirror();
if (mirror === undefined) {
  console.error('no Debian mirror: set PROVENANT_DEBIAN_MIRROR or list one in /etc/apt/sources.list.d/*.sources');
  process.exit(2);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

const rows: { step: string; times: number[]; note: string }[] = [];
async function time(step: string, note: string, fn: () => Promise<unknown> | unknown, n = runs): Promise<void> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  rows.push({ step, times, note });
  console.error(`${step}: ${times.map((t) => t.toFixed(0)).join(', ')} ms`);
}

// Warm up: make sure the cache holds bookworm's Packages.xz and the decompressed Packages.
const keyring = await DebKeyring.load([DEBIAN_ARCHIVE_KEYRING]);
const warm = await fetchDebianIndex({ url: mirror, suite: SUITE, components: [COMPONENT], arch: ARCH, keyring, cacheDir: debianCacheDir });
const inRelease = warm.release.bytes;
const file = selectPackagesFile(warm.release, COMPONENT, ARCH);
const cache = new DownloadCache(debianCacheDir);
let xz = await cache.get(`sha256:${file.entry.sha256}`);
if (xz === undefined) {
  xz = await fetchFile(`${mirror}/dists/${SUITE}/${file.path}`);
  await cache.put(`sha256:${file.entry.sha256}`, xz);
}
const xzBytes = xz;
const localMirror = mkdtempSync(join(tmpdir(), 'provenant-bench-mirror-'));
mkdirSync(join(localMirror, 'dists', SUITE), { recursive: true });
writeFileSync(join(localMirror, 'dists', SUITE, 'InRelease'), inRelease);
const stanzaCount = warm.packages.length;

{
  const times: number[] = [];
  const loading: number[] = [];
  const steps: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const r = spawnSync(process.execPath, [import.meta.filename, '--once', localMirror, '--cache', debianCacheDir], { encoding: 'utf8' });
    times.push(performance.now() - t);
    const [count, ready, step] = r.stdout.trim().split(' ').map(Number);
    if (r.status !== 0 || count !== stanzaCount) throw new Error(`the child failed: ${r.stderr}`);
    loading.push(ready ?? Number.NaN);
    steps.push(step ?? Number.NaN);
  }
  const step = 'Provenant, offline, cached: keyring + verify InRelease + cached Packages (SHA-256) + parse';
  rows.push({ step: `${step}, fresh node process, wall clock`, times, note: 'what a CLI run pays' });
  rows.push({ step: '  of which Node start + module loading', times: loading, note: 'openpgp.js is most of the loading' });
  rows.push({ step: '  of which the metadata step itself (cold JIT)', times: steps, note: '' });
  console.error(`fresh process: ${times.map((t) => t.toFixed(0)).join(', ')} ms`);
}
const offline = () => fetchDebianIndex({ url: localMirror, suite: SUITE, components: [COMPONENT], arch: ARCH, cacheDir: debianCacheDir });
await offline(); // warm the JIT: the fresh-process rows above are the cold figures
await time(`the same, in-process, warm`, 'after one untimed run', async () => {
  if ((await offline()).packages.length !== stanzaCount) throw new Error('stanza count differs');
});
await time('  part: load keyring + verify InRelease (openpgp.js)', 'in-process', async () => {
  const kr = await DebKeyring.load([DEBIAN_ARCHIVE_KEYRING]);
  await readRelease(inRelease, kr, 'InRelease', { suite: SUITE, arch: ARCH });
});
const packagesBytes = await readFile(join(debianCacheDir, 'sha256', file.uncompressed?.entry.sha256 ?? ''));
await time('  part: decode + parse Packages (parseControlStanzas)', 'in-process', () => {
  parseControlStanzas(new TextDecoder().decode(packagesBytes), 'Packages');
});
await time('  part: xz decompress alone (xz-decompress, WASM)', 'in-process', () => decompressXz(xzBytes));
// What a build does instead of the parse: look names up in an index of the file, made once per
// Packages file and then read back from the cache.
const encodedIndex = encodeStanzaIndex(indexDebStanzas(packagesBytes, 'Packages'));
await time('  part: index Packages for lookups (indexDebStanzas), once per Packages file', 'in-process', () => {
  indexDebStanzas(packagesBytes, 'Packages');
});
await time('  part: read that index back (decodeStanzaIndex), each build', 'in-process', () => {
  if (decodeStanzaIndex(encodedIndex, packagesBytes.length)?.names.length !== stanzaCount) throw new Error('stanza count differs');
});
await time(
  "a build's metadata step, in-process, warm: verify InRelease + cached Packages (SHA-256) + cached index",
  'no stanza parsed until looked up',
  async () => {
    const index = await offline();
    if (decodeStanzaIndex(encodedIndex, index.indexes[0]!.bytes.length)?.names.length !== stanzaCount)
      throw new Error('stanza count differs');
  },
);
await time(
  'Provenant, .xz cached, decompressed not: verify InRelease + check Packages.xz + decompress + parse',
  'in-process; the first build after the index changed',
  async () => {
    const r = await readRelease(inRelease, keyring, 'InRelease', { suite: SUITE, arch: ARCH });
    await readPackagesIndex(xzBytes, r, file, { where: 'Packages.xz' });
  },
);
if (values['no-network'] !== true) {
  await time('Provenant, network, warm cache (InRelease downloaded), with the parse', 'in-process', async () => {
    const index = await fetchDebianIndex({
      url: mirror,
      suite: SUITE,
      components: [COMPONENT],
      arch: ARCH,
      keyring,
      cacheDir: debianCacheDir,
    });
    if (index.packages.length !== stanzaCount) throw new Error('stanza count differs');
  });
  await time('Provenant, network, empty cache (downloads ~9 MB)', 'in-process', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'provenant-bench-cache-'));
    try {
      const index = await fetchDebianIndex({ url: mirror, suite: SUITE, components: [COMPONENT], arch: ARCH, keyring, cacheDir: dir });
      if (index.packages.length !== stanzaCount) throw new Error('stanza count differs');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
rmSync(localMirror, { recursive: true, force: true });

function aptUpdate(root: string): number {
  const args = [
    '-q',
    '-o',
    `Dir::State=${join(root, 'state')}`,
    '-o',
    `Dir::Cache=${join(root, 'cache')}`,
    '-o',
    `Dir::Etc::SourceList=${join(root, 'sources.list')}`,
    '-o',
    `Dir::Etc::SourceParts=${join(root, 'sources.list.d')}`,
    '-o',
    'APT::Architecture=amd64',
    '-o',
    'APT::Architectures=amd64',
    '-o',
    'Acquire::Languages=none',
    // The private folders belong to root; apt's _apt sandbox user could not write them.
    '-o',
    'APT::Sandbox::User=root',
    '-o',
    'Debug::NoLocking=1',
    'update',
  ];
  const t = performance.now();
  const r = spawnSync('apt-get', args, { encoding: 'utf8' });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`apt-get update failed: ${r.stderr}${r.stdout}`);
  return ms;
}

let aptVersion = '';
if (values['no-apt'] !== true && values['no-network'] !== true) {
  aptVersion = spawnSync('apt-get', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '';
  const cold: number[] = [];
  const warmRuns: number[] = [];
  for (let i = 0; i < runs; i++) {
    const root = mkdtempSync(join(tmpdir(), 'provenant-bench-apt-'));
    try {
      for (const d of ['state/lists/partial', 'cache/archives/partial', 'sources.list.d']) mkdirSync(join(root, d), { recursive: true });
      writeFileSync(join(root, 'sources.list'), `deb [signed-by=${DEBIAN_ARCHIVE_KEYRING}] ${mirror} ${SUITE} ${COMPONENT}\n`);
      cold.push(aptUpdate(root));
      warmRuns.push(aptUpdate(root));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }
  rows.push({ step: 'apt-get update, empty private state (downloads, decompresses, builds pkgcache)', times: cold, note: aptVersion });
  rows.push({ step: 'apt-get update again, lists present (InRelease unchanged: Hit)', times: warmRuns, note: aptVersion });
}

const cpu = cpus();
console.log(`## Debian metadata: ${SUITE} ${COMPONENT} ${ARCH}, ${stanzaCount} stanzas`);
console.log();
console.log(
  `Machine: ${cpu[0]?.model ?? 'unknown CPU'} × ${cpu.length}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${osRelease()}, ` +
    `Node ${process.version}; load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(
        ' ',
      )} at the end. Packages.xz ${(file.entry.size / 1e6).toFixed(1)} MB → ${((file.uncompressed?.entry.size ?? 0) / 1e6).toFixed(1)} MB.`,
);
console.log();
console.log(`| step | median of ${runs} | runs (ms) | note |`);
console.log('|---|---:|---|---|');
for (const r of rows) {
  console.log(`| ${r.step} | ${median(r.times).toFixed(0)} ms | ${r.times.map((t) => t.toFixed(0)).join(', ')} | ${r.note} |`);
}
