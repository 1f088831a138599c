/** `provenant lock CONFIG.yaml`: every package of a configuration resolved and pinned in a lock file. */
import { type Lock, lockChanges } from '../../builder/lock.ts';
import { ProvenantError } from '../../errors.ts';
import type { ParsedArgs } from '../args.ts';
import { COMPAT_FLAG, INCLUDE_ROOT_FLAG, replacedLock, requestedArchs, runBuild, writeLockChanges, writeLockFile } from '../builder.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { CACHE_DIR_FLAG, FORMAT_FLAG, formatOf, outputFlag, positional, QUIET_FLAG, writeJson } from '../options.ts';
import { progressReporter } from '../progress.ts';

export const spec: CommandSpec = {
  summary: 'resolve a configuration and pin every package in a lock file',
  usage: 'provenant lock CONFIG.yaml [-o CONFIG.lock.json] [--arch ARCH]... [--drop-archs] [--compat apko]',
  prints: 'result',
  flags: {
    output: outputFlag(
      'the lock file to write (default CONFIG.lock.json beside the config); what changed against the lock it replaces goes to standard error',
    ),
    arch: { type: 'string', multiple: true, description: "lock only these architectures; default the config's archs" },
    'drop-archs': {
      type: 'boolean',
      description: 'with --arch, write the lock over one that holds other architectures too, which it then no longer holds',
    },
    'cache-dir': CACHE_DIR_FLAG,
    compat: COMPAT_FLAG,
    'include-root': INCLUDE_ROOT_FLAG,
    format: FORMAT_FLAG,
    quiet: QUIET_FLAG,
  },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  const [configPath] = positional(args, 1, spec.usage) as [string];
  const format = formatOf(args);
  const out = (args.values.output as string | undefined) ?? `${configPath.replace(/\.ya?ml$/, '')}.lock.json`;
  // Read before anything is resolved: what the user had until now, or a refusal of a file that is no lock.
  const previous = await replacedLock(out);
  const progress = progressReporter(io, { quiet: args.values.quiet === true });
  let result: Awaited<ReturnType<typeof runBuild>>;
  try {
    result = await runBuild(configPath, args, io, { lockOnly: true, progress });
  } finally {
    progress.finish();
  }
  if (previous !== undefined && args.values['drop-archs'] !== true && requestedArchs(args).length > 0) {
    refuseDroppedArchs(previous, result.lock, out, configPath);
  }
  await writeLockFile(out, result.lock, io.signal);
  const changes = previous === undefined ? undefined : lockChanges(previous, result.lock);
  if (changes !== undefined) writeLockChanges(io, out, changes);
  const archs = [...new Set(result.lock.contents.packages.map((p) => p.architecture))];
  if (format === 'json') {
    writeJson(io, { path: out, packages: result.lock.contents.packages.length, archs, ...(changes === undefined ? {} : { changes }) });
  } else io.stdout.write(`locked ${result.lock.contents.packages.length} packages for ${archs.join(', ')} in ${out}\n`);
}

/**
 * `--arch` names which architectures to resolve, not which ones the lock file should lose: a lock
 * holding others too is not written over without them (apko's lock would drop them; a user who
 * locks one architecture again after a change to it most likely still builds the others).
 *
 * @throws ProvenantError `USAGE` naming the lock file and the architectures it would lose
 */
function refuseDroppedArchs(previous: Lock, next: Lock, out: string, configPath: string): void {
  const archsOf = (lock: Lock) => new Set(lock.contents.packages.map((p) => p.architecture));
  const kept = archsOf(next);
  const dropped = [...archsOf(previous)].filter((a) => !kept.has(a)).sort();
  if (dropped.length === 0) return;
  const all = [...new Set([...archsOf(previous), ...kept])].sort();
  throw new ProvenantError(
    'USAGE',
    `${out} holds packages for ${dropped.join(', ')} too, which this lock of ${[...kept].sort().join(', ')} alone would drop; it is left as it was`,
    {
      where: out,
      hint: `lock every architecture (provenant lock ${configPath} --arch ${all.join(' --arch ')}, or without --arch for the configuration's archs), add --drop-archs to write the lock without ${dropped.join(', ')}, or write it elsewhere (-o)`,
    },
  );
}
