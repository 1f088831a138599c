/** The `build` and `lock` commands' glue: options from flags and environment, and output. */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type BuildResult, buildImage } from '../build/build.ts';
import { loadConfig, normalizeArch } from '../build/config.ts';
import { formatLock, type Lock, parseLock } from '../build/lock.ts';
import { ProvenantError } from '../errors.ts';
import type { ParsedArgs } from './args.ts';
import type { CliIo } from './main.ts';

/** Loads the configuration and builds (or, with `lockOnly`, resolves and fetches). */
export async function runBuild(
  configPath: string,
  args: ParsedArgs,
  io: CliIo,
  extra: { sourceDateEpoch?: number | undefined; lockOnly?: boolean },
): Promise<BuildResult> {
  const loaded = await loadConfig(configPath, { hostArch: process.arch });
  const archs = ((args.values.arch as string[] | undefined) ?? [])
    .flatMap((a) => a.split(','))
    .filter((a) => a !== '')
    .map(normalizeArch);
  let lock: Lock | undefined;
  const lockPath = args.values.lock as string | undefined;
  if (lockPath !== undefined) {
    let text: string;
    try {
      text = await readFile(lockPath, 'utf8');
    } catch (err) {
      throw new ProvenantError('NOT_FOUND', `cannot read the lock file ${lockPath}`, { where: lockPath, cause: err });
    }
    lock = parseLock(text, lockPath);
  }
  const cacheDir =
    (args.values['cache-dir'] as string | undefined) ?? join(io.env.XDG_CACHE_HOME ?? join(io.homedir, '.cache'), 'provenant');
  const result = await buildImage({
    config: loaded,
    configPath,
    lock,
    archs: archs.length > 0 ? archs : undefined,
    sourceDateEpoch: extra.sourceDateEpoch,
    cacheDir,
    lockOnly: extra.lockOnly,
    logger: { debug() {}, info() {}, warn: (m) => io.stderr.write(`warning: ${m}\n`) },
  });
  const writeLock = args.values['write-lock'] as string | undefined;
  if (writeLock !== undefined) await writeLockFile(writeLock, result.lock);
  return result;
}

/** Writes a lock file atomically. */
export async function writeLockFile(path: string, lock: Lock): Promise<void> {
  await mkdir(dirname(path) || '.', { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, formatLock(lock));
  await rename(tmp, path);
}

/** The build's summary: the index digest, then one line per platform. */
export function renderBuild(result: BuildResult, digest: string, where: string, format: 'text' | 'json'): string {
  const images = result.images.map((i) => ({
    platform: `linux/${i.platform.architecture}${i.platform.variant ? `/${i.platform.variant}` : ''}`,
    digest: i.manifest.digest,
    packages: i.packages.map((p) => `${p.info.name}-${p.info.version}`),
    skippedScripts: i.skippedScripts,
  }));
  if (format === 'json') return `${JSON.stringify({ digest, location: where, images }, null, 2)}\n`;
  const lines = [`${where}@${digest}`];
  for (const i of images) lines.push(`  ${i.platform.padEnd(14)} ${i.digest}  ${i.packages.length} packages`);
  const skipped = images[0]?.skippedScripts ?? [];
  if (skipped.length > 0)
    lines.push(`  install scripts not run: ${skipped.map((s) => `${s.package} (${s.scripts.join(', ')})`).join('; ')}`);
  return `${lines.join('\n')}\n`;
}
