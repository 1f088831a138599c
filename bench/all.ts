// Runs every benchmark of docs/benchmarks.md, one after the other, each measuring Provenant and its
// peer side by side in the same run, and writes their tables to .bench/results-<date>.md (and to
// standard output). Run as root on a quiet machine after bench/setup.sh:
//
//   node bench/all.ts                 # everything (about 30 minutes on 2 cores)
//   node bench/all.ts --only start,copy
//   node bench/all.ts --quick         # fewer runs each, to check that they all work
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchArgs, refuseArgs } from './lib.ts';

const OPTIONS = { only: { type: 'string' }, quick: { type: 'boolean' } } as const;
const values = benchArgs(import.meta.filename, OPTIONS);
const quick = values.quick === true;
const root = join(import.meta.dirname, '..');

/** bench/build.ts's command line for an apk image of `sizeMb` MB of host files in `packages` packages. */
function apkBuild(sizeMb: number, packages: number, runs: number): string[] {
  return ['build.ts', '--size-mb', String(sizeMb), '--packages', String(packages), '--runs', String(runs)];
}

/**
 * The large Debian image: Debian 12's compilers, interpreters and Boost headers, about 900 MB
 * unpacked in 25,700 entries, its largest file libLLVM's 110 MB.
 */
const DEB_LARGE = 'base-files,bash,coreutils,gcc,g++,python3,perl,git,clang,libboost1.74-dev';

/** Each benchmark: its name, the rows of issue 16 it measures, and its command line. */
const BENCHMARKS: { name: string; rows: string; args: string[] }[] = [
  {
    name: 'start',
    rows: '`digest` of an OCI layout (CLI process), against skopeo and `node -e 0`',
    args: ['start.ts', '--runs', quick ? '5' : '31'],
  },
  {
    name: 'copy',
    rows: 'peak memory of a copy of a 257 MB image; no-op re-push (CLI process), against skopeo',
    args: ['copy.ts', '--size-mb', '256', '--layers', '8', '--runs', quick ? '1' : '5'],
  },
  {
    name: 'build-200',
    rows: 'warm build of a ~200 MB apk image: time against the floor and buildah, peak memory',
    args: [...apkBuild(200, 20, quick ? 1 : 3), ...(quick ? ['--no-profile'] : [])],
  },
  {
    name: 'build-200-10',
    rows: 'peak memory, ~200 MB apk image of ten packages of 20 MB',
    args: [...apkBuild(200, 10, quick ? 1 : 3), '--no-peers', '--no-profile'],
  },
  {
    name: 'build-1000',
    rows: 'peak memory, warm build of a ~1 GB apk image (must not exceed the 200 MB one)',
    args: [...apkBuild(1000, 50, quick ? 1 : 2), '--no-peers', '--no-profile'],
  },
  {
    name: 'build-2000',
    rows: 'peak memory, ~2 GB apk image of 100 packages, twice the files of the 1 GB one: memory against the number of files',
    args: [...apkBuild(2000, 100, 1), '--no-peers', '--no-profile'],
  },
  {
    name: 'build-1000-joined',
    rows: 'peak memory, the same 1 GB of files joined into files of about 10 MB: memory against bytes, not files',
    args: [...apkBuild(1000, 50, quick ? 1 : 2), '--join-mb', '10', '--no-peers', '--no-profile'],
  },
  {
    name: 'build-200-joined',
    rows: 'peak memory, the same 200 MB of files joined into files of about 10 MB',
    args: [...apkBuild(200, 20, quick ? 1 : 2), '--join-mb', '10', '--no-peers', '--no-profile'],
  },
  {
    name: 'deb-30',
    rows: 'warm build and peak memory of a small Debian image of six packages, against the floor and mmdebstrap',
    args: ['deb-build.ts', '--packages', 'base-files,libc6,libstdc++6', '--runs', quick ? '1' : '5'],
  },
  {
    name: 'deb-900',
    rows: 'peak memory, warm builds of a ~900 MB Debian image (gcc, g++, clang, python3, perl, git, Boost headers: 125 packages, 25,700 entries)',
    // mmdebstrap is left out: the row is for memory, and its first run would download the 125 packages again.
    args: ['deb-build.ts', '--packages', DEB_LARGE, '--runs', quick ? '1' : '3', '--no-mmdebstrap'],
  },
  {
    name: 'fixed',
    rows: 'fixed cost of a warm build (a one-package image, apk and Debian), against `node -e 0`, the floor and buildah',
    args: ['fixed.ts', '--runs', quick ? '3' : '11'],
  },
  {
    name: 'incremental',
    rows: 'rebuild-and-push after a one-package update with per-package layers, against the floor of the whole image',
    args: ['incremental.ts', '--size-mb', '200', '--packages', '20', '--runs', quick ? '1' : '3'],
  },
];

const only = values.only?.split(',').map((n) => n.trim());
// A name that is none (a typo, or one from an older list) is refused, not passed over: a run of
// the others would look complete. Before, none known ended in a stack trace, and some in silence.
const unknown = only?.filter((n) => !BENCHMARKS.some((b) => b.name === n)) ?? [];
if (unknown.length > 0 || only?.length === 0) {
  const named = unknown.length === 0 ? 'no benchmark' : unknown.map((n) => JSON.stringify(n)).join(', ');
  refuseArgs(import.meta.filename, OPTIONS, `--only names ${named}; the benchmarks are ${BENCHMARKS.map((b) => b.name).join(', ')}`);
}
const chosen = BENCHMARKS.filter((b) => only === undefined || only.includes(b.name));
const date = new Date().toISOString().replace(/[:.]/g, '-');
mkdirSync(join(root, '.bench'), { recursive: true });
const out = join(root, '.bench', `results-${date}.md`);
let report = `# Benchmarks, ${new Date().toISOString()}\n\n`;
let failed = 0;
for (const b of chosen) {
  const command = `node bench/${b.args.join(' ')}`;
  process.stderr.write(`\n== ${b.name}: ${command}\n`);
  const started = Date.now();
  const r = spawnSync(process.execPath, [join(root, 'bench', b.args[0]!), ...b.args.slice(1)], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 26,
  });
  const took = ((Date.now() - started) / 1000).toFixed(0);
  const body = r.status === 0 ? r.stdout : `FAILED (exit ${r.status}):\n\n${r.stdout}`;
  if (r.status !== 0) failed++;
  const section = `## ${b.name}: ${b.rows}\n\n\`${command}\` (${took} s)\n\n${body}\n`;
  process.stdout.write(section);
  report += section;
  writeFileSync(out, report);
}
process.stderr.write(`\nwritten to ${out}\n`);
process.exitCode = failed > 0 ? 1 : 0;
