/** What the `build` and `lock` commands share: build options from flags and environment, attestations, output. */

import { readFile, realpath } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type AttestationMode, type Attested, parseAttestationMode } from '../attest/storage.ts';
import { distinctArchs, hostApkArch, linuxPlatformArch, lookupArch, normalizeArch } from '../builder/arch.ts';
import { type BuildCompat, type BuildResult, buildImage } from '../builder/build.ts';
import { loadConfig } from '../builder/config.ts';
import type { DescribeOptions } from '../builder/describe.ts';
import { formatLock, type Lock, type LockChanges, type LockedVersion, lockChanges, parseLock } from '../builder/lock.ts';
import { isProvenantError, ProvenantError } from '../errors.ts';
import { whyUnreadable, writeFileAtomic } from '../io/files.ts';
import { holdYoungGeneration } from '../io/memory.ts';
import type { Digest } from '../oci/digest.ts';
import { hostPlatform } from '../oci/platform.ts';
import { MissingArchitectureError } from '../pkg/source.ts';
import { formatLocation, type Location, locationWithDigest } from '../ref/location.ts';
import { VERSION } from '../version.ts';
import type { ParsedArgs } from './args.ts';
import type { CliIo } from './io.ts';
import { parseBool } from './options.ts';
import type { Progress } from './progress.ts';
import { visibleLine, warningLogger } from './visible.ts';

const { existsSync } = process.getBuiltinModule('node:fs');

/** A repeatable, comma-separated flag's values, as written. */
function flagList(args: ParsedArgs, name: string): string[] {
  return ((args.values[name] as string[] | undefined) ?? []).flatMap((a) => a.split(',')).filter((a) => a !== '');
}

/**
 * The architectures `--arch` (apk or OCI names) and `--platform` (`linux/ARCH[/VARIANT]`, as
 * buildx writes them, or `host`) ask for, in apk's spelling; none when neither is given.
 */
export function requestedArchs(args: ParsedArgs): string[] {
  const list = (name: string) => flagList(args, name);
  const fromPlatforms = list('platform').map((p) => {
    if (p === 'host') return hostApkArch(process.arch);
    const arch = linuxPlatformArch(p, hostPlatform(process.arch));
    if (arch === undefined)
      throw new ProvenantError('USAGE', `--platform ${p} is not a linux/ARCH[/VARIANT] platform`, {
        hint: 'images are built for linux: write --platform linux/amd64, linux/arm64, linux/arm/v7, ... or --arch x86_64',
      });
    return arch;
  });
  return distinctArchs([...list('arch').map(normalizeArch), ...fromPlatforms]);
}

/**
 * The architectures a lock's entries are for, as `--arch` takes them (apk's names): a .deb's Debian name
 * mapped back (armel is apk's armhf, Debian's armhf apk's armv7), an apk's in any spelling apko
 * reads (`amd64`); an unknown name as it is.
 */
async function lockEntryArchs(packages: readonly { architecture: string; url: string }[]): Promise<Set<string>> {
  // The Debian tables load only for a lock that holds a .deb: an apk build loads no Debian module.
  const deb = packages.some((p) => p.url.endsWith('.deb')) ? (await import('../pkg/deb/source.ts')).apkArchOfDeb : undefined;
  return new Set(packages.map((p) => (p.url.endsWith('.deb') ? deb!(p.architecture) : lookupArch(p.architecture)) ?? p.architecture));
}

/**
 * `--arch` names which architectures to resolve, not which ones a lock file should lose: the lock
 * at `out` holding others too is not written over without them (apko's lock would drop them; a
 * user who locks one architecture again after a change to it most likely still builds the
 * others). Checked before anything is resolved, on the architectures as `--arch` takes them
 * (`requested`, apk's names), so that a lock's other spellings (apko's `amd64`, Debian's) are the
 * same ones; the hint spells them so too.
 *
 * @throws ProvenantError `USAGE` naming the lock file and the architectures it would lose
 */
export async function refuseDroppedArchs(
  previous: Lock,
  requested: readonly string[],
  out: string,
  command: string,
  what: string,
): Promise<void> {
  const held = await lockEntryArchs(previous.contents.packages);
  const kept = new Set(requested);
  const dropped = [...held].filter((a) => !kept.has(a)).sort();
  if (dropped.length === 0) return;
  const all = [...new Set([...held, ...kept])].sort();
  const drop = what === 'lock' ? `add --drop-archs to write the lock without ${dropped.join(', ')}, ` : '';
  throw new ProvenantError(
    'USAGE',
    `${out} holds packages for ${dropped.join(', ')} too, which this lock of ${[...kept].sort().join(', ')} alone would drop; it is left as it was`,
    {
      where: out,
      hint: `lock every architecture (${command} --arch ${all.join(' --arch ')}, or without --arch for the configuration's archs), ${drop}or write it elsewhere (${what === 'lock' ? '-o' : '--write-lock'})`,
    },
  );
}

/** What {@link runBuild} takes besides the command line. */
export interface RunBuildOptions {
  sourceDateEpoch?: number | undefined;
  lockOnly?: boolean;
  progress: Progress;
  /** Called with the architectures to build once the configuration is read, before anything is resolved. */
  check?: (archs: readonly string[]) => void;
}

/** `--include-root`: the folder a configuration's includes may be read from (default its own folder). */
export const INCLUDE_ROOT_FLAG = {
  type: 'string',
  description: "read included configurations from anywhere under DIR (default the root configuration's folder)",
} as const;

/** `--compat`: build as another tool does (the `build` and `lock` commands). */
export const COMPAT_FLAG = {
  type: 'string',
  description: 'apko: layers and image configs byte for byte as apko v1.2.39 builds them (apk only; see docs/build.md)',
} as const;

/**
 * `--compat`'s value, in any case.
 *
 * @throws ProvenantError `USAGE` for anything but `apko`
 */
export function parseCompat(text: string | undefined): BuildCompat | undefined {
  if (text === undefined || text === '') return undefined;
  if (text.toLowerCase() === 'apko') return 'apko';
  throw new ProvenantError('USAGE', `--compat ${JSON.stringify(text)} is not a build Provenant knows`, {
    hint: 'write --compat apko, or leave it out',
  });
}

/**
 * What {@link runBuild} built, and with `--write-lock` the write of its lock, for the caller to
 * make once the image is written: a build whose output fails leaves the lock it would have
 * replaced as it was.
 */
export type RunBuildResult = BuildResult & { writeLock?: (() => Promise<void>) | undefined };

/** Loads the configuration and builds (or, with `lockOnly`, resolves and fetches). */
export async function runBuild(configPath: string, args: ParsedArgs, io: CliIo, extra: RunBuildOptions): Promise<RunBuildResult> {
  // The process is the CLI's: its peak memory should not grow with the image (io/memory.ts).
  holdYoungGeneration();
  try {
    return await buildFromConfig(configPath, args, io, extra);
  } catch (err) {
    throw withPrepareHint(err, configPath);
  }
}

/**
 * A file the configuration reads does not exist, and its folder has a `prepare.sh` (the examples
 * do: it makes their keys, repositories or sources): the hint names the script to run.
 */
function withPrepareHint(err: unknown, configPath: string): unknown {
  if (!isProvenantError(err, 'NOT_FOUND') || !err.message.includes('does not exist') || archHinted.has(err)) return err;
  const script = join(dirname(configPath), 'prepare.sh');
  if (!existsSync(script)) return err;
  return new ProvenantError(err.code, err.message, {
    where: err.where,
    cause: err,
    hint: `run bash ${script} first: it makes the files this configuration reads`,
  });
}

/** Errors given {@link withArchHint}'s hint, which a prepare.sh would not mend. */
const archHinted = new WeakSet<object>();

/**
 * A repository without an architecture the configuration does not list either (`--platform
 * linux/arm64` for a config of `archs: [x86_64]`): the hint says so rather than sending the user
 * to prepare.sh. A file missing for another reason (a key, a listed architecture) keeps its own.
 */
function withArchHint(err: unknown, outside: readonly string[], listed: readonly string[]): unknown {
  if (!(err instanceof MissingArchitectureError) || !outside.includes(err.architecture)) return err;
  const hinted = new ProvenantError(err.code, err.message, {
    where: err.where,
    cause: err,
    hint: `the build asked for ${err.architecture}, which the configuration does not list (archs: ${listed.join(', ')}): its repositories may have nothing for it; build for ${listed.join(', ')}, or add the architecture to the repositories and to archs`,
  });
  archHinted.add(hinted);
  return hinted;
}

async function buildFromConfig(configPath: string, args: ParsedArgs, io: CliIo, extra: RunBuildOptions): Promise<RunBuildResult> {
  const includeRoot = args.values['include-root'] as string | undefined;
  const loaded = await loadConfig(configPath, { hostArch: process.arch, ...(includeRoot === undefined ? {} : { includeRoot }) });
  const archs = requestedArchs(args);
  extra.check?.(archs.length > 0 ? archs : loaded.config.archs);
  const writeLock = args.values['write-lock'] as string | undefined;
  // Before anything is resolved: a file there that is not a lock is refused, not written over.
  const previousLock = writeLock === undefined ? undefined : await replacedLock(writeLock);
  if (writeLock !== undefined && previousLock !== undefined && archs.length > 0) {
    await refuseDroppedArchs(
      previousLock,
      archs,
      writeLock,
      `provenant build ${configPath} --write-lock ${writeLock}`,
      'build --write-lock',
    );
  }
  let lock: Lock | undefined;
  const lockPath = args.values.lock as string | undefined;
  if (lockPath !== undefined) {
    let text: string;
    try {
      text = await readFile(lockPath, 'utf8');
    } catch (err) {
      throw lockReadError(lockPath, err, configPath);
    }
    lock = parseLock(text, lockPath);
  }
  const cacheDir =
    (args.values['cache-dir'] as string | undefined) ?? join(io.env.XDG_CACHE_HOME ?? join(io.homedir, '.cache'), 'provenant');
  const outside = archs.filter((a) => !(loaded.config.archs as readonly string[]).includes(a));
  const result = await buildImage({
    config: loaded,
    configPath,
    lock,
    lockPath,
    archs: archs.length > 0 ? archs : undefined,
    archNames: flagList(args, 'arch'),
    sourceDateEpoch: extra.sourceDateEpoch,
    cacheDir,
    layerCache: parseBool((args.values['layer-cache'] as string | undefined) ?? 'true', '--layer-cache'),
    fileDigests: sbomFilesAsked(args),
    lockOnly: extra.lockOnly,
    compat: parseCompat(args.values.compat as string | undefined),
    logger: { debug() {}, info() {}, warn: (m) => extra.progress.message(`warning: ${m}`) },
    signal: io.signal,
    onProgress: extra.progress.update,
  }).catch((err: unknown) => {
    throw withArchHint(err, outside, loaded.config.archs);
  });
  if (writeLock === undefined) return result;
  const write = async (): Promise<void> => {
    await writeLockFile(writeLock, result.lock, io.signal);
    if (previousLock !== undefined) writeLockChanges(io, writeLock, lockChanges(previousLock, result.lock));
  };
  return { ...result, writeLock: write };
}

/**
 * The lock at `path` that a lock file written there replaces, or undefined when there is none. A
 * file there that is not a lock Provenant reads (the configuration given as `-o` by mistake, a
 * lock broken by hand) is refused, and left as it is: it is not the user's lock to overwrite.
 *
 * @throws ProvenantError `USAGE` when `path` holds something else than a lock; `IO` when it cannot be read
 */
export async function replacedLock(path: string): Promise<Lock | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'EISDIR')
      throw new ProvenantError('USAGE', `${path} is a folder, not a lock file`, { where: path, hint: 'name the lock file to write' });
    throw new ProvenantError('IO', `cannot read ${path}, which the lock would replace: ${(err as Error).message}`, {
      where: path,
      cause: err,
    });
  }
  try {
    return parseLock(text, path);
  } catch (err) {
    if (!isProvenantError(err)) throw err;
    throw new ProvenantError('USAGE', `${path} holds something else than a lock file, and is not written over: ${err.message}`, {
      where: path,
      hint: 'write the lock elsewhere (-o, --write-lock), or remove the file first if it should be replaced',
      cause: err,
    });
  }
}

/** Why the lock file given with `--lock` cannot be read, as an error naming it; when it is not there, how to write it. */
function lockReadError(path: string, err: unknown, configPath: string): ProvenantError {
  const { code, why } = whyUnreadable(err);
  return new ProvenantError(code, `cannot read the lock file ${path}: ${why}`, {
    where: path,
    cause: err,
    ...(code === 'NOT_FOUND'
      ? { hint: `write it first (provenant lock ${configPath} -o ${path}), or leave out --lock to resolve the packages` }
      : {}),
  });
}

/**
 * Writes a lock file atomically. A lock kept behind a symlink (shared by two checkouts) is
 * written where the link leads, not over the link: the file replaced is the one whose changes
 * `lock` reported.
 */
export async function writeLockFile(path: string, lock: Lock, signal?: AbortSignal): Promise<void> {
  const target = await realpath(path).catch(() => path);
  await writeFileAtomic(target, formatLock(lock), { mkdir: true, signal });
}

/**
 * The output and the image it holds, as the build names them: `LOCATION@DIGEST`, which works as
 * input (`oci-archive:image.oci.tar@sha256:…`). A docker-archive's name takes no digest
 * (refuseArchiveDigest), so there the name works as input alone and the digest follows it after
 * a space, as `copy` prints a destination.
 */
export function writtenAs(out: Location, digest: string): string {
  return locationWithDigest(formatLocation(out), digest);
}

/** The build's summary: the image's digest, then one line per platform image the output holds (see `heldAs`). */
export function renderBuild(
  result: BuildResult,
  digest: string,
  out: Location,
  format: 'text' | 'json',
  extra: Record<string, unknown> = {},
  heldAs: (image: Digest) => Digest | undefined = (image) => image,
): string {
  // Each image as the output holds it: a fix for a target may write another in its place, or
  // leave it out.
  const images = result.images.flatMap((i) => {
    const digest = heldAs(i.manifest.digest);
    if (digest === undefined) return [];
    return [
      {
        platform: `linux/${i.platform.architecture}${i.platform.variant ? `/${i.platform.variant}` : ''}`,
        digest,
        packages: i.packages.map((p) => p.label),
        skippedScripts: i.skippedScripts,
      },
    ];
  });
  if (format === 'json') return `${JSON.stringify({ digest, location: formatLocation(out), images, ...extra }, null, 2)}\n`;
  const lines = [writtenAs(out, digest)];
  for (const i of images)
    lines.push(`  ${i.platform.padEnd(14)} ${i.digest}  ${i.packages.length} package${i.packages.length === 1 ? '' : 's'}`);
  const skipped = images[0]?.skippedScripts ?? [];
  if (skipped.length > 0)
    lines.push(`  install scripts not run: ${skipped.map((s) => `${s.package} (${s.scripts.join(', ')})`).join('; ')}`);
  return `${lines.join('\n')}\n`;
}

/** `--sbom-files`, where SBOMs are written: the build then takes each installed file's SHA-1 (Debian's). */
function sbomFilesAsked(args: ParsedArgs): boolean {
  if (args.values['sbom-files'] !== true) return false;
  const mode = parseAttestationMode((args.values.attestations as string | undefined) ?? 'referrers');
  return mode !== 'none' && parseBool((args.values.sbom as string | undefined) ?? 'true', '--sbom');
}

/**
 * Checks `--attestations`, `--sbom` and `--provenance` before anything is resolved or fetched:
 * they are read again once the build is done (attestationsFor), when a typo has cost the build.
 *
 * @throws ProvenantError `USAGE` for a value none of them takes
 */
export function checkAttestationFlags(args: ParsedArgs): void {
  parseAttestationMode((args.values.attestations as string | undefined) ?? 'referrers');
  parseBool((args.values.sbom as string | undefined) ?? 'true', '--sbom');
  parseProvenance((args.values.provenance as string | undefined) ?? 'true');
}

/**
 * The statements `--sbom` and `--provenance` ask for, and where `--attestations` puts them. The
 * SBOM and provenance writers load only when one is asked for: a build without them starts sooner.
 */
export async function attestationsFor(
  result: BuildResult,
  args: ParsedArgs,
  io: CliIo,
  context: { configPath: string; imageName: string; sourceDateEpoch: number | undefined; target?: string | undefined },
): Promise<{ attested: Attested[]; mode: AttestationMode; describe: DescribeOptions } | undefined> {
  const mode = parseAttestationMode((args.values.attestations as string | undefined) ?? 'referrers');
  const sbom = parseBool((args.values.sbom as string | undefined) ?? 'true', '--sbom');
  const provenance = parseProvenance((args.values.provenance as string | undefined) ?? 'true');
  if (mode === 'none' || (!sbom && provenance === false)) return undefined;
  // One module to load: describe.ts gives the provenance helpers too (scripts/bundle-cli.ts
  // bundles the statement writers into one chunk that this import loads).
  const { builderIdFromEnv, describeBuild, describeIndex, invocationFromEnv } = await import('../builder/describe.ts');
  const describeOptions: DescribeOptions = {
    imageName: context.imageName,
    configPath: context.configPath,
    toolVersion: VERSION,
    sourceDateEpoch: context.sourceDateEpoch,
    sbom,
    sbomFiles: sbomFilesAsked(args),
    logger: warningLogger(io),
    provenance,
    builderId: (args.values['builder-id'] as string | undefined) ?? builderIdFromEnv(io.env),
    invocation: provenance !== false && provenance.mode === 'max' ? invocationFromEnv(io.env) : undefined,
    fromLock: args.values.lock !== undefined,
    target: context.target,
  };
  const attested = describeBuild(result, describeOptions);
  const index = describeIndex(result, describeOptions);
  if (index !== undefined) attested.push(index);
  return { attested, mode, describe: describeOptions };
}

/** `--provenance`: `false`, `true`, or BuildKit's `mode=min|max` and `version=v1|v0.2`. */
function parseProvenance(text: string): false | { mode: 'min' | 'max'; version: 'v1' | 'v0.2' } {
  if (text === 'false' || text === '0') return false;
  const out: { mode: 'min' | 'max'; version: 'v1' | 'v0.2' } = { mode: 'min', version: 'v1' };
  if (text === 'true' || text === '1' || text === '') return out;
  for (const part of text.split(',')) {
    const [k, v] = part.split('=');
    if (k === 'mode' && (v === 'min' || v === 'max')) out.mode = v;
    else if (k === 'version' && (v === 'v1' || v === 'v0.2')) out.version = v;
    else
      throw new ProvenantError('USAGE', `--provenance does not understand ${JSON.stringify(part)}`, {
        hint: 'write false, or mode=min|max and version=v1|v0.2 separated by commas',
      });
  }
  return out;
}

/** Says on standard error what changed against the lock `path` held before (see {@link changeLines}). */
export function writeLockChanges(io: CliIo, path: string, changes: LockChanges): void {
  for (const line of changeLines(path, changes)) io.stderr.write(`${visibleLine(line)}\n`);
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
