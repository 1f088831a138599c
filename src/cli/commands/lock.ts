/** `provenant lock CONFIG.yaml`: every package of a configuration resolved and pinned in a lock file. */
import { type LockChanges, type LockedVersion, lockChanges } from '../../builder/lock.ts';
import type { ParsedArgs } from '../args.ts';
import { COMPAT_FLAG, INCLUDE_ROOT_FLAG, replacedLock, runBuild, writeLockFile } from '../builder.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { CACHE_DIR_FLAG, FORMAT_FLAG, formatOf, outputFlag, positional, QUIET_FLAG, writeJson } from '../options.ts';
import { progressReporter } from '../progress.ts';
import { visibleLine } from '../visible.ts';

export const spec: CommandSpec = {
  summary: 'resolve a configuration and pin every package in a lock file',
  usage: 'provenant lock CONFIG.yaml [-o CONFIG.lock.json] [--arch ARCH]... [--compat apko]',
  prints: 'result',
  flags: {
    output: outputFlag(
      'the lock file to write (default CONFIG.lock.json beside the config); what changed against the lock it replaces goes to standard error',
    ),
    arch: { type: 'string', multiple: true, description: "lock only these architectures; default the config's archs" },
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
  await writeLockFile(out, result.lock, io.signal);
  const changes = previous === undefined ? undefined : lockChanges(previous, result.lock);
  if (changes !== undefined) for (const line of changeLines(out, changes)) io.stderr.write(`${visibleLine(line)}\n`);
  const archs = [...new Set(result.lock.contents.packages.map((p) => p.architecture))];
  if (format === 'json') {
    writeJson(io, { path: out, packages: result.lock.contents.packages.length, archs, ...(changes === undefined ? {} : { changes }) });
  } else io.stdout.write(`locked ${result.lock.contents.packages.length} packages for ${archs.join(', ')} in ${out}\n`);
}

/**
 * What changed, as lines: `PATH: unchanged`, or a line per architecture (`unchanged`, or how many
 * added, removed and changed) followed by one line per package: `+ name version`, `- name
 * version`, `~ name old -> new` (or `~ name version: another file, CHECKSUM -> CHECKSUM`, or
 * `signed again`); then the other fields that changed.
 */
function changeLines(path: string, changes: LockChanges): string[] {
  const packageChanges = changes.architectures.some((a) => a.added.length + a.removed.length + a.changed.length > 0);
  if (!packageChanges && changes.fields.length === 0) return [`${path}: unchanged`];
  const lines = [`${path}: changes against the lock it replaces`];
  for (const a of changes.architectures) {
    const counts = [
      ...(a.added.length === 0 ? [] : [`${a.added.length} added`]),
      ...(a.removed.length === 0 ? [] : [`${a.removed.length} removed`]),
      ...(a.changed.length === 0 ? [] : [`${a.changed.length} changed`]),
    ];
    lines.push(`  ${a.architecture}: ${counts.length === 0 ? 'unchanged' : counts.join(', ')}`);
    for (const p of a.added) lines.push(`    + ${p.name} ${p.version}`);
    for (const p of a.removed) lines.push(`    - ${p.name} ${p.version}`);
    for (const p of a.changed) lines.push(`    ~ ${p.name} ${versionChange(p.from, p.to)}`);
  }
  if (changes.fields.length > 0) {
    lines.push(`  also changed: ${changes.fields.map((f) => (f === 'contents.packages' ? 'contents.packages (order)' : f)).join(', ')}`);
  }
  return lines;
}

function versionChange(from: LockedVersion, to: LockedVersion): string {
  if (from.version !== to.version) return `${from.version} -> ${to.version}`;
  if (from.checksum !== to.checksum) return `${from.version}: another file, ${from.checksum} -> ${to.checksum}`;
  return `${from.version}: signed again`;
}
