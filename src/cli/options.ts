/** Flags several commands share, and the parsing of their values and of the environment they read. */
import { ProvenantError } from '../errors.ts';
import { writeFileAtomic } from '../io/files.ts';
import type { Logger } from '../io/types.ts';
import type { Stored, StoredIndex } from '../oci/content.ts';
import { firstOfPlatform, formatPlatform, hostPlatform, normalizePlatform, parsePlatformOn } from '../oci/platform.ts';
import type { Descriptor, Platform } from '../oci/types.ts';
import { parseSourceDateEpoch } from '../time.ts';
import type { FlagSpec, ParsedArgs } from './args.ts';
import type { CliIo } from './io.ts';
import { visibleData } from './visible.ts';

/** `--format text|json`: every command that prints a result (`prints: 'result'`) takes it. */
export const FORMAT_FLAG: FlagSpec = {
  type: 'string',
  values: ['text', 'json'],
  // report's formats: PROVENANT_FORMAT=html is for it (test/cli/conventions.test.ts keeps the two in step).
  valuesElsewhere: ['html'],
  description: 'output format: text (default) or json',
};

/** `-o/--output`: where a command that writes something writes it; `what` says what that is. */
export function outputFlag(what: string): FlagSpec {
  return { type: 'string', short: 'o', description: what };
}

/** `-q/--quiet`: commands that show progress take it. */
export const QUIET_FLAG: FlagSpec = { type: 'boolean', short: 'q', description: 'no progress on standard error' };

/** How to reach registries: credentials and plain HTTP. */
export const REGISTRY_FLAGS: Record<string, FlagSpec> = {
  insecure: {
    type: 'boolean',
    description: 'allow plain HTTP beyond localhost, to a registry whose port answers in plain HTTP (TLS is always verified)',
  },
  username: { type: 'string', description: 'registry user name (with --password-stdin)' },
  'password-stdin': { type: 'boolean', description: 'read the registry password from standard input' },
};

/** The download cache of `build` and `lock`. */
export const CACHE_DIR_FLAG: FlagSpec = {
  type: 'string',
  description: 'download cache (default $XDG_CACHE_HOME/provenant or ~/.cache/provenant)',
};

/** `--format`: text (default) or json. */
export function formatOf(args: ParsedArgs): 'text' | 'json' {
  const f = (args.values.format as string | undefined) ?? 'text';
  if (f !== 'text' && f !== 'json') throw new ProvenantError('USAGE', `--format must be text or json, not "${f}"`);
  return f;
}

/** A result as JSON: one document, indented, and a final newline. */
export function writeJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * A command's data (`prints: 'data'`): to the `-o/--output` file when given, written under a
 * temporary name and renamed once complete, else to standard output (also for `-o -`).
 */
export async function writeData(io: CliIo, args: ParsedArgs, data: string | Uint8Array): Promise<void> {
  const out = args.values.output as string | undefined;
  if (out === undefined || out === '-') {
    io.stdout.write(typeof data === 'string' ? visibleData(io.stdout, data) : data);
    return;
  }
  await writeFileAtomic(out, data, { mkdir: true, signal: io.signal });
}

/**
 * Refuses an `-o` file whose folder is not there, before any work: said as NOT_FOUND (exit 3)
 * naming the file, not as the file system's ENOENT about the temporary file it would have made.
 * For commands that write their output where it is named, without creating folders.
 */
export function requireOutputFolder(path: string): void {
  const { dirname } = process.getBuiltinModule('node:path');
  const folder = dirname(path);
  let isDir: boolean;
  try {
    isDir = process.getBuiltinModule('node:fs').statSync(folder).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') return; // any other refusal is said by the write itself
    isDir = false;
  }
  if (!isDir) {
    throw new ProvenantError('NOT_FOUND', `there is no folder ${folder} to write ${path} in`, {
      where: path,
      hint: 'create the folder first, or name a file in one that exists',
    });
  }
}

/**
 * Refuses to replace files a command makes anew (a key pair), unless told to: a script cannot
 * answer cosign's question, so replacing is a flag (`--force`).
 *
 * @throws ProvenantError `USAGE` naming the first of `paths` that exists, with `hint`
 */
export function refuseToReplace(paths: readonly string[], what: string, hint: string): void {
  const { existsSync } = process.getBuiltinModule('node:fs');
  const found = paths.find((p) => existsSync(p));
  if (found !== undefined) throw new ProvenantError('USAGE', `${found} exists; ${what} would replace it`, { hint });
}

/**
 * Whether `a` and `b` are one file (the same device and inode, whatever links lead there): an
 * output that is one of a command's inputs would replace what it reads. A path that cannot be
 * looked at (missing, ENOTDIR, ENAMETOOLONG) is no file: the read or the write says why.
 */
export function sameFile(a: string, b: string): boolean {
  const stat = (path: string) => {
    try {
      return process.getBuiltinModule('node:fs').statSync(path, { throwIfNoEntry: false });
    } catch {
      return undefined;
    }
  };
  const sa = stat(a);
  const sb = sa === undefined ? undefined : stat(b);
  return sa !== undefined && sb !== undefined && sa.dev === sb.dev && sa.ino === sb.ino;
}

/** Exactly `count` positional arguments, or USAGE with the command's usage line. */
export function positional(args: ParsedArgs, count: number, usage: string): string[] {
  if (count === 0 && args.positionals.length > 0) {
    const extra = args.positionals.map((p) => JSON.stringify(p)).join(' ');
    throw new ProvenantError('USAGE', `takes no arguments, got ${extra}`, { hint: `usage: ${usage}` });
  }
  if (args.positionals.length !== count) {
    throw new ProvenantError('USAGE', `expected ${count} argument(s), got ${args.positionals.length}`, { hint: `usage: ${usage}` });
  }
  return args.positionals;
}

/**
 * A `--platform` value; `host` is this machine's, and an OS alone (`linux`) is that OS on this
 * machine's architecture, as containerd reads it (the one place the flag meets the machine).
 */
export function platformArg(text: string): Platform {
  const host = hostPlatform(process.arch);
  return text === 'host' ? host : parsePlatformOn(text, host);
}

/**
 * The entry of the index `root` for the `--platform` value `text` (the first that matches), for a
 * command that reads one image of an index. Exact (normalized, so linux/arm64/v8 is linux/arm64):
 * no lower variant stands in, as `copy` takes one, since the digest, manifest, signature or
 * verification of one image is not another's. Where several images match (a Windows index lists
 * one per `os.version`; a Linux one may list two alike), the first is taken, as containers/image
 * (skopeo, podman) and containerd's matcher take it, and `logger` is warned which, with the
 * digests of the others, by which one of them is named ({@link firstOfPlatform}, as every command
 * that picks by `--platform` picks).
 *
 * @throws ProvenantError `USAGE` when `root` is a single image; `NO_MATCHING_PLATFORM` naming the
 *   platforms it has
 */
export function platformEntry(root: Stored, text: string, where: string, logger: Pick<Logger, 'warn'>): Descriptor {
  if (root.kind !== 'index') throw new ProvenantError('USAGE', '--platform picks an image of an index, and this is a single image');
  const wanted = platformArg(text);
  const { entry, warning } = firstOfPlatform(wanted, root.index.manifests, where);
  if (entry === undefined) {
    throw new ProvenantError('NO_MATCHING_PLATFORM', `the image has no ${formatPlatform(wanted)} manifest`, {
      where: `${where}@${root.digest}`,
      hint: `its platforms: ${platformList(root)}`,
    });
  }
  if (warning !== undefined) logger.warn(warning);
  return entry;
}

/**
 * The platforms of the index `root` a `--platform` value can name, normalized, for a hint: BuildKit's
 * attestation entries (unknown/unknown) left out, each platform once; `(none)` when it lists none.
 */
export function platformList(root: StoredIndex): string {
  const available = root.index.manifests.flatMap((m) => (m.platform === undefined ? [] : [formatPlatform(normalizePlatform(m.platform))]));
  // Each once: an index may list several images of a platform (a Windows index, one per os.version).
  return [...new Set(available.filter((p) => p !== 'unknown/unknown'))].join(', ') || '(none)';
}

/** `--platform` of a command that reads one image: crane's, for an image of an index. */
export const IMAGE_PLATFORM_FLAG: FlagSpec = {
  type: 'string',
  description: 'the image of this platform in an index (os/arch[/variant], or host), instead of the index',
};

/** `true`/`1` or `false`/`0`, for string flags that default to true. */
export function parseBool(text: string, flag: string): boolean {
  if (text === 'true' || text === '1') return true;
  if (text === 'false' || text === '0') return false;
  throw new ProvenantError('USAGE', `${flag} must be true or false, not ${JSON.stringify(text)}`);
}

/** SOURCE_DATE_EPOCH, the reproducible-builds convention, when set (read once, in src/time.ts). */
export function sourceDateEpoch(io: CliIo): number | undefined {
  return parseSourceDateEpoch(io.env.SOURCE_DATE_EPOCH);
}
