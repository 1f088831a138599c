// The input of the apk benchmarks (bench/build.ts, bench/incremental.ts): a signed apk repository
// of packages made of this machine's own files (libraries and programs: real, mixed content that
// compresses as images do), and the configuration that installs them all.
import { closeSync, lstatSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateApkKeyPair } from '../src/pkg/apk/keys.ts';
import type { ApkFileSpec } from '../src/pkg/apk/write.ts';
import { buildApk, buildApkIndex } from '../src/pkg/apk/write.ts';

export const EPOCH = '1700000000';
const MAX_FILE = 16 * 1024 * 1024;

interface HostEntry {
  /** Path in the image, no leading slash. */
  path: string;
  /** Path on the host. */
  source: string;
  type: 'file' | 'symlink';
  size: number;
  mode: number;
  /** A joined file (see {@link joinEntries}): the host files whose bytes it holds, in order. */
  parts?: string[];
  /** A piece of a split file (see {@link splitEntries}): where its bytes lie in `source`. */
  range?: { offset: number; length: number };
}

/**
 * The regular files of `entries` joined, in order, into files of about `mb` MB each
 * (`opt/bench/joined-NNNNN`), symlinks left out: the same bytes in far fewer files, to tell
 * what a build's memory owes to the bytes of an image from what it owes to its number of files.
 */
function joinEntries(entries: readonly HostEntry[], mb: number): HostEntry[] {
  const out: HostEntry[] = [];
  let current: HostEntry | undefined;
  for (const e of entries) {
    if (e.type !== 'file') continue;
    if (current === undefined || current.size >= mb * 1024 * 1024) {
      current = {
        path: `opt/bench/joined-${String(out.length).padStart(5, '0')}`,
        source: e.source,
        type: 'file',
        size: 0,
        mode: 0o644,
        parts: [],
      };
      out.push(current);
    }
    current.parts!.push(e.source);
    current.size += e.size;
  }
  return out;
}

/**
 * The regular files of `entries` cut, in order, into files of `kb` KB each (the last piece of a
 * file shorter), under the file's own path with a numbered suffix, symlinks kept: the same bytes
 * in many more files, to tell what a build's memory owes to its number of files at a given size.
 */
function splitEntries(entries: readonly HostEntry[], kb: number): HostEntry[] {
  const out: HostEntry[] = [];
  const piece = kb * 1024;
  for (const e of entries) {
    if (e.type !== 'file') {
      out.push(e);
      continue;
    }
    for (let offset = 0, n = 0; offset < e.size || n === 0; offset += piece, n++) {
      const length = Math.min(piece, e.size - offset);
      out.push({ ...e, path: `${e.path}.${String(n).padStart(5, '0')}`, size: length, range: { offset, length } });
    }
  }
  return out;
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
        if (seen.has(full)) continue;
        seen.add(full);
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

/** A repository made by {@link makeApkInput}. */
export interface ApkInput {
  dir: string;
  config: string;
  packageCount: number;
  bytes: number;
  files: number;
  symlinks: number;
  apkBytes: number;
  /** The packages that hold files (a large file can leave the last package of a small input empty). */
  withFiles: number[];
  /** Makes a new version of package `i` (its largest file changed) and the index again; returns its size. */
  update(i: number, release: number): Promise<number>;
}

/**
 * `sizeMb` of this machine's files (70 % from /usr/lib/x86_64-linux-gnu, 30 % from /usr/bin, then
 * /usr/lib and /usr/share when those fall short), cut in name order into `packageCount` signed
 * packages of about the same size, with a signed index, a key, and `image.yaml` that installs them
 * (with `extra` lines added, such as a layering). With `joinMb`, the same bytes come as files of
 * about that many MB each (see {@link joinEntries}); with `splitKb`, as files of that many KB
 * ({@link splitEntries}).
 */
export async function makeApkInput(
  dir: string,
  sizeMb: number,
  packageCount: number,
  extra: readonly string[] = [],
  joinMb?: number,
  splitKb?: number,
): Promise<ApkInput> {
  const budget = sizeMb * 1024 * 1024;
  const seen = new Set<string>();
  const host = [
    ...hostEntries('/usr/lib/x86_64-linux-gnu', Math.round(budget * 0.7), seen),
    ...hostEntries('/usr/bin', Math.round(budget * 0.3), seen),
  ];
  let bytes = host.reduce((n, e) => n + e.size, 0);
  for (const more of ['/usr/lib', '/usr/share']) {
    if (bytes >= budget * 0.98) break;
    const found = hostEntries(more, budget - bytes, seen);
    host.push(...found);
    bytes += found.reduce((n, e) => n + e.size, 0);
  }
  const entries = joinMb !== undefined ? joinEntries(host, joinMb) : splitKb !== undefined ? splitEntries(host, splitKb) : host;
  const key = generateApkKeyPair('bench', { bits: 2048 });
  const signing = { privateKeyPem: key.privateKeyPem, name: key.name };
  await mkdir(join(dir, 'keys'), { recursive: true });
  await writeFile(join(dir, 'keys', key.name), key.publicKeyPem);
  const repo = join(dir, 'repo', 'x86_64');
  await mkdir(repo, { recursive: true });
  // Contiguous runs of the name-ordered list, each about bytes / packageCount.
  const groups: HostEntry[][] = [];
  let at = 0;
  let sum = 0;
  for (let i = 0; i < packageCount; i++) {
    const target = ((i + 1) * bytes) / packageCount;
    const group: HostEntry[] = [];
    while (at < entries.length && (sum < target || i === packageCount - 1)) {
      const e = entries[at++]!;
      sum += e.size;
      group.push(e);
    }
    groups.push(group);
  }
  const names = groups.map((_, i) => `bench-${String(i).padStart(2, '0')}`);
  const apks = new Map<number, { file: string; bytes: Uint8Array }>();
  /** The last host file read whole, for the pieces of a split file that follow it. */
  let lastRead: { source: string; bytes: Buffer } | undefined;
  const hostBytes = (source: string): Buffer => {
    if (lastRead?.source !== source) lastRead = { source, bytes: readFileSync(source) };
    return lastRead.bytes;
  };
  const make = async (i: number, release: number, changed?: string): Promise<Uint8Array> => {
    const files: ApkFileSpec[] = groups[i]!.map((e) => {
      if (e.type === 'symlink') return { path: e.path, type: 'symlink', target: readlinkSync(e.source) };
      let body =
        e.range !== undefined
          ? new Uint8Array(hostBytes(e.source).subarray(e.range.offset, e.range.offset + e.range.length))
          : e.parts === undefined
            ? new Uint8Array(readFileSync(e.source))
            : new Uint8Array(Buffer.concat(e.parts.map((f) => readFileSync(f))));
      if (e.path === changed) body = Uint8Array.from([...new TextEncoder().encode(`release ${release}\n`), ...body]);
      return { path: e.path, type: 'file', mode: e.mode, body };
    });
    const version = `1.0-r${release}`;
    const apk = await buildApk(
      { name: names[i]!, version, arch: 'x86_64', description: 'host files for the benchmarks', license: 'MIT', files },
      { key: signing, mtime: Number(EPOCH) },
    );
    const file = join(repo, `${names[i]}-${version}.apk`);
    await writeFile(file, apk);
    apks.set(i, { file, bytes: apk });
    return apk;
  };
  const writeIndex = async (): Promise<void> => {
    const index = await buildApkIndex(
      [...apks.keys()].sort((a, b) => a - b).map((i) => apks.get(i)!.bytes),
      { key: signing, mtime: Number(EPOCH) },
    );
    await writeFile(join(repo, 'APKINDEX.tar.gz'), index.bytes);
  };
  let apkBytes = 0;
  for (let i = 0; i < packageCount; i++) apkBytes += (await make(i, 0)).length;
  await writeIndex();
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
      ...extra,
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
    withFiles: groups.flatMap((g, i) => (g.some((e) => e.type === 'file') ? [i] : [])),
    async update(i, release) {
      const largest = groups[i]!.filter((e) => e.type === 'file').sort((a, b) => b.size - a.size)[0];
      const apk = await make(i, release, largest?.path);
      await writeIndex();
      return apk.length;
    },
  };
}
