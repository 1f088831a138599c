/** `provenant lock CONFIG.yaml`: every package of a configuration resolved and pinned in a lock file. */
import { formatLock, lockChanges } from '../../builder/lock.ts';
import type { ParsedArgs } from '../args.ts';
import {
  COMPAT_FLAG,
  INCLUDE_ROOT_FLAG,
  refuseDroppedArchs,
  replacedLock,
  requestedArchs,
  runBuild,
  writeLockChanges,
  writeLockFile,
} from '../builder.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { CACHE_DIR_FLAG, FORMAT_FLAG, formatOf, outputFlag, positional, QUIET_FLAG, writeData, writeJson } from '../options.ts';
import { progressReporter } from '../progress.ts';

export const spec: CommandSpec = {
  summary: 'resolve a configuration and pin every package in a lock file',
  usage: 'provenant lock CONFIG.yaml [-o CONFIG.lock.json] [--arch ARCH]... [--drop-archs] [--compat apko]',
  prints: 'result',
  flags: {
    output: outputFlag(
      'the lock file to write (default CONFIG.lock.json beside the config; - for standard output); what changed against the lock it replaces goes to standard error',
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
  // `-o -` is standard output, as for the commands that write data (docs/cli.md): the lock
  // alone, which replaces no file, so nothing else is printed there.
  const toStdout = out === '-';
  // Read before anything is resolved: what the user had until now, or a refusal of a file that is no lock.
  const previous = toStdout ? undefined : await replacedLock(out);
  const requested = requestedArchs(args);
  if (previous !== undefined && args.values['drop-archs'] !== true && requested.length > 0) {
    await refuseDroppedArchs(
      previous,
      requested,
      out,
      `provenant lock ${configPath}${args.values.output === undefined ? '' : ` -o ${out}`}`,
      'lock',
    );
  }
  const progress = progressReporter(io, { quiet: args.values.quiet === true });
  let result: Awaited<ReturnType<typeof runBuild>>;
  try {
    result = await runBuild(configPath, args, io, { lockOnly: true, progress });
  } finally {
    progress.finish();
  }
  if (toStdout) {
    await writeData(io, args, formatLock(result.lock));
    return;
  }
  await writeLockFile(out, result.lock, io.signal);
  const changes = previous === undefined ? undefined : lockChanges(previous, result.lock);
  if (changes !== undefined) writeLockChanges(io, out, changes);
  const archs = [...new Set(result.lock.contents.packages.map((p) => p.architecture))];
  if (format === 'json') {
    writeJson(io, { path: out, packages: result.lock.contents.packages.length, archs, ...(changes === undefined ? {} : { changes }) });
  } else {
    // A lock of no packages names no architecture.
    const of = archs.length === 0 ? '' : ` for ${archs.join(', ')}`;
    io.stdout.write(`locked ${result.lock.contents.packages.length} packages${of} in ${out}\n`);
  }
}
