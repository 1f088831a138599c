import { randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { isProvenantError, namesPlace, ProvenantError, throwIfAborted } from '../errors.ts';
import { isWithin, lackOfSpace, writeFileAtomic } from '../io/files.ts';
import { Limiter } from '../io/limit.ts';
import type { Logger, OperationOptions } from '../io/types.ts';
import { type Digest, isDigest } from '../oci/digest.ts';
import { formatReference, type ImageReference } from '../ref/reference.ts';
import { openLocation, type RegistryOpenOptions } from '../store/open.ts';
import { lsRemote, type RemoteRefs, type ResolvedRef, resolveRef } from './git.ts';
import { applyReplacements, type CommentChange, type Replacement } from './rewrite.ts';
import { scanUses, type UsesSite } from './scan.ts';
import { type ActionTarget, COMMIT_SHA, type DockerTarget, formatAction, formatDocker, type UsesContext } from './uses.ts';

/** Where `git ls-remote` looks for `owner/repo` when no base is given. */
export const DEFAULT_GIT_BASE = 'https://github.com';

/** Resolves an image reference to the digest of the manifest or index its tag names now. */
export type ImageResolver = (reference: ImageReference, options: OperationOptions) => Promise<Digest>;

/** Options of {@link pinWorkflows}. */
export interface PinOptions {
  /** The folder `paths` are relative to and the default files are found in (the CLI passes its working directory). */
  dir: string;
  /**
   * Files and folders to pin. Default: `.github/workflows/*.yml|yaml`, every `action.yml|yaml`
   * under `.github/actions`, and the `action.yml|yaml` at the top of `dir`. A folder stands for
   * every workflow and action file under it (`.git` and `node_modules` left out).
   */
  paths?: readonly string[] | undefined;
  /**
   * Look refs and tags up (default true). With false nothing is resolved and nothing leaves the
   * machine: the result says what is pinned and what is not, which is all `--check` needs.
   */
  resolve?: boolean | undefined;
  /** `PROVENANT_GIT_BASE`: the repository of `owner/repo` is `<gitBase>/owner/repo`. Default {@link DEFAULT_GIT_BASE}. */
  gitBase?: string | undefined;
  /** The git program (default `git`). */
  git?: string | undefined;
  /**
   * The environment git runs with (the CLI passes its own, for credential helpers and proxies).
   * Default: an empty one, which reaches public repositories only. `GIT_TERMINAL_PROMPT=0` is
   * always added, so git never waits for a password.
   */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /** Digests for `docker://` images; required when an unpinned one is found and `resolve` is on. */
  resolveImage?: ImageResolver | undefined;
  /** Repositories and images looked up at once. Default 4. */
  concurrency?: number | undefined;
  signal?: AbortSignal | undefined;
  logger?: Logger | undefined;
}

/**
 * What a `uses:` value is: `tag`, `branch` (resolved), `ref` (a tag or branch, not resolved),
 * `sha` (a full commit SHA already), `local` (`./path`), or `docker` (`docker://`).
 */
export type PinKind = 'tag' | 'branch' | 'ref' | 'sha' | 'local' | 'docker';

/** One `uses:` value and what pinning does with it. */
export interface PinEntry {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** A step's action, or a job's reusable workflow. */
  readonly context: UsesContext;
  readonly kind: PinKind;
  /** The value as it is now. */
  readonly old: string;
  /** The pinned value; undefined when it stays as it is (pinned, local, or not resolved). */
  readonly new: string | undefined;
  /**
   * It cannot move as it is: a full commit SHA, an image by digest, or a local action (which
   * comes with the workflow's own checkout). `--check` fails on entries where this is false.
   */
  readonly pinned: boolean;
  /**
   * The pinned text ({@link PinFileResult.text}) holds `new`, which reaches the file only when
   * {@link writePinned} writes it. False for a block scalar, and for an anchor's value an alias
   * also uses outside `uses:`, which are left for a person.
   */
  readonly rewritten: boolean;
  /**
   * The same value as {@link PinEntry.rewritten}, under its earlier name.
   * (`pin --format json` has its own `written`: that entry is in a file this run wrote.)
   *
   * @deprecated Use {@link PinEntry.rewritten}; the name `written` says "on disk", which
   *   {@link pinWorkflows}, which writes nothing, cannot know.
   */
  readonly written: boolean;
  /** What happened to the line's `# ref` comment. */
  readonly comment: CommentChange;
  /** Things a person should know: a branch was pinned, a version comment is missing, ... */
  readonly notes: readonly string[];
}

/** One file's entries and its text before and after. */
export interface PinFileResult {
  /** The file to write: absolute, symbolic links followed. */
  readonly path: string;
  /** The file as shown to people: relative to `dir` when it is inside it. */
  readonly file: string;
  readonly kind: 'workflow' | 'action';
  readonly entries: readonly PinEntry[];
  /** The file's bytes as read. */
  readonly original: Uint8Array;
  /** The pinned text; equal to the original when nothing changed. */
  readonly text: string;
  readonly changed: boolean;
}

/** The result of {@link pinWorkflows}. */
export interface PinResult {
  readonly files: readonly PinFileResult[];
  /** Files found by looking that were not pinned, and why. */
  readonly skipped: readonly PinSkipped[];
}

/** A file (or a linked folder) found by looking that was not pinned. */
export interface PinSkipped {
  readonly file: string;
  readonly reason: string;
  /**
   * It was not read (a link out of the folder), so it may hold `uses:` values nobody looked at:
   * `--check` fails on it. False for a file read and found to be no workflow or action.
   */
  readonly unchecked: boolean;
}

/**
 * Finds every `uses:` of GitHub workflows and composite actions that is not pinned, resolves
 * it (tags and branches with `git ls-remote`, images through `resolveImage`) and computes each
 * file's pinned text: `owner/repo@<sha> # <tag>` and `docker://image@<digest> # <tag>`, with
 * every other byte of the file as it was. Nothing is written: see {@link writePinned}.
 * Everything is resolved before any text is made, so one failure leaves no file half-pinned.
 *
 * @throws ProvenantError `NOT_FOUND` (a path, repository, tag or branch), `INVALID_CONFIG`,
 *   `INVALID_REFERENCE`, `USAGE` (an unpinned image and no `resolveImage`), git's and the
 *   registry's errors; each names the file, line and column of the `uses:` it is about.
 */
export async function pinWorkflows(options: PinOptions): Promise<PinResult> {
  const { files, skipped } = await loadFiles(options);
  const resolving = options.resolve !== false;
  const lookups = resolving ? await resolveAll(files, options) : new Map<UsesSite, Lookup>();
  const results: PinFileResult[] = [];
  for (const f of files) {
    const entries: PinEntry[] = [];
    const replacements: Replacement[] = [];
    const replaced: number[] = [];
    for (const site of f.sites) {
      const plan = planSite(site, lookups.get(site));
      if (plan.replacement !== undefined && site.style !== 'block' && !site.shared) {
        replaced.push(entries.length);
        replacements.push(plan.replacement);
      }
      entries.push(plan.entry);
    }
    const { text, comments } = applyReplacements(f.text, replacements);
    replaced.forEach((e, i) => {
      const entry = entries[e]!;
      const comment = comments[i]!;
      const notes = comment === 'none' ? [...entry.notes, 'no room for a # comment on this line'] : entry.notes;
      entries[e] = { ...entry, rewritten: true, written: true, comment, notes };
    });
    if (text !== f.text) checkRewrite(f, text, entries);
    results.push({
      path: f.path,
      file: f.display,
      kind: f.kind,
      entries,
      original: f.bytes,
      text,
      changed: text !== f.text,
    });
  }
  return { files: results, skipped };
}

/**
 * Writes the files of `result` that changed, each through a temporary file renamed over it (so
 * a reader never sees half a file), keeping its mode. A file that changed on disk since it was
 * read is not overwritten.
 *
 * @returns the files written, as shown in the result.
 * @throws ProvenantError `IO` when a file changed underneath or cannot be written.
 */
export async function writePinned(result: PinResult): Promise<string[]> {
  const written: string[] = [];
  for (const f of result.files) {
    if (!f.changed) continue;
    let current: Uint8Array;
    let mode: number;
    try {
      current = await readFile(f.path);
      mode = (await stat(f.path)).mode & 0o7777;
    } catch (err) {
      throw ioError(err, f.file);
    }
    if (Buffer.compare(current, f.original) !== 0) {
      throw new ProvenantError('IO', 'the file changed since it was read; nothing was written to it', {
        where: f.file,
        hint: 'run pin again',
      });
    }
    // A dot file beside it, so a workflow folder never shows a stray `.yml` while it is written.
    const temporary = join(dirname(f.path), `.${basename(f.path)}.provenant-${randomBytes(6).toString('hex')}`);
    try {
      await writeFileAtomic(f.path, f.text, { mode, exactMode: true, temporary, where: f.file });
    } catch (err) {
      throw writeError(err, f.file, written);
    }
    written.push(f.file);
  }
  return written;
}

/**
 * An {@link ImageResolver} over registry access as the CLI configures it (credentials, TLS):
 * the digest a HEAD of the tag answers, an index's for a multi-platform image.
 */
export function imageDigestResolver(registry: RegistryOpenOptions, options: { logger?: Logger } = {}): ImageResolver {
  return async (reference, call) => {
    const { store } = await openLocation(
      { kind: 'registry', reference },
      { registry, ...(options.logger ? { logger: options.logger } : {}) },
    );
    const target = reference.digest ?? reference.tag ?? 'latest';
    const found = await store.resolve(target, call);
    if (found === undefined) {
      throw new ProvenantError('NOT_FOUND', `${formatReference(reference)} does not exist`, { where: formatReference(reference) });
    }
    return found.digest;
  };
}

// ---- files -----------------------------------------------------------------------------

interface LoadedFile {
  path: string;
  display: string;
  bytes: Uint8Array;
  text: string;
  kind: 'workflow' | 'action';
  sites: UsesSite[];
}

interface Candidate {
  path: string;
  display: string;
  /** Named, or found where only workflows and actions live: it must be one. */
  required: boolean;
  /** Named as a file on the command line (not found in a folder). */
  named?: boolean;
  /**
   * The folder, links resolved, the file must be in once its links are resolved: `dir`'s, or,
   * for a path named outside `dir`, that path's own (see {@link loadFiles}).
   */
  within: string;
  /** Not to be read, and why (a linked folder the walk did not follow). */
  skip?: { reason: string; unchecked: boolean };
}

const YAML_FILE = /\.ya?ml$/;
const ACTION_FILE = /^action\.ya?ml$/;
const SKIPPED_DIRS = new Set(['.git', 'node_modules']);

/**
 * The files to pin, read. A file whose links lead out of `dir` (a `.github` that is a link to
 * another checkout, say) is not read, so `--write` never rewrites a file of another folder
 * through a link a repository carries: one found by looking (the default files, or those under
 * a named folder) is skipped, with the reason in `skipped` (a warning of the CLI); one named on
 * the command line is refused. A path named outside `dir` is the caller's own choice, and only
 * its links out of it count.
 */
async function loadFiles(options: PinOptions): Promise<{ files: LoadedFile[]; skipped: PinSkipped[] }> {
  const dir = resolve(options.dir);
  let realDir: string;
  try {
    realDir = await realpath(dir);
  } catch (err) {
    throw ioError(err, dir);
  }
  const candidates =
    options.paths === undefined || options.paths.length === 0
      ? await defaultFiles(dir, realDir)
      : await namedFiles(dir, realDir, options.paths);
  const files: LoadedFile[] = [];
  const skipped: PinSkipped[] = [];
  const seen = new Set<string>();
  // UTF-8, strictly, with a byte order mark kept as text: decoding and encoding again must give
  // the same bytes, or "every other byte stays" would not hold.
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  for (const c of candidates) {
    throwIfAborted(options.signal);
    if (c.skip !== undefined) {
      skipped.push({ file: c.display, ...c.skip });
      continue;
    }
    let real: string;
    let bytes: Uint8Array;
    try {
      real = await realpath(c.path);
    } catch (err) {
      // A link found by looking that leads nowhere: there is nothing to read or pin.
      if (c.named !== true && (err as NodeJS.ErrnoException).code === 'ENOENT') {
        skipped.push({ file: c.display, reason: 'a link to nothing', unchecked: false });
        continue;
      }
      throw ioError(err, c.display);
    }
    if (!isWithin(c.within, real)) {
      const reason = `a link to ${real}, outside ${c.within}`;
      if (c.named === true) {
        throw new ProvenantError('UNSAFE_PATH', `the file is ${reason}; pin reads and rewrites only files in the folder`, {
          where: c.display,
          hint: `name the file where it is (${real}) if it is really meant`,
        });
      }
      skipped.push({ file: c.display, reason: `${reason}: not read, not pinned`, unchecked: true });
      continue;
    }
    if (seen.has(real)) continue;
    seen.add(real);
    try {
      bytes = new Uint8Array(await readFile(real));
    } catch (err) {
      throw ioError(err, c.display);
    }
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch (err) {
      if (!c.required) {
        skipped.push({ file: c.display, reason: 'not UTF-8', unchecked: false });
        continue;
      }
      throw new ProvenantError('INVALID_CONFIG', 'the file is not UTF-8', { where: c.display, cause: err });
    }
    let scan: ReturnType<typeof scanUses>;
    try {
      scan = scanUses(text, c.display);
    } catch (err) {
      if (c.required || !isProvenantError(err)) throw err;
      skipped.push({ file: c.display, reason: err.describe(), unchecked: false });
      continue;
    }
    if (scan.kind === undefined) {
      if (c.required) {
        throw new ProvenantError('INVALID_CONFIG', 'neither a workflow (top-level jobs) nor an action (top-level runs)', {
          where: c.display,
        });
      }
      skipped.push({ file: c.display, reason: 'neither a workflow nor an action', unchecked: false });
      continue;
    }
    files.push({ path: real, display: c.display, bytes, text, kind: scan.kind, sites: scan.sites });
  }
  return { files, skipped };
}

function displayOf(dir: string, path: string): string {
  const rel = relative(dir, path);
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

async function entriesOf(dir: string): Promise<Dirent[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw ioError(err, dir);
  }
}

/**
 * GitHub reads workflows from the top of `.github/workflows` only; actions live anywhere. A link
 * is taken as a file (where it leads is checked when it is read, see {@link loadFiles}).
 */
async function defaultFiles(dir: string, within: string): Promise<Candidate[]> {
  const out: Candidate[] = [];
  const workflows = join(dir, '.github', 'workflows');
  for (const e of await entriesOf(workflows)) {
    if ((e.isFile() || e.isSymbolicLink()) && YAML_FILE.test(e.name))
      out.push({ path: join(workflows, e.name), display: displayOf(dir, join(workflows, e.name)), required: true, within });
  }
  for (const f of await walk(join(dir, '.github', 'actions'), within)) {
    if (f.skip !== undefined) out.push({ path: f.path, display: displayOf(dir, f.path), required: false, within, skip: f.skip });
    else if (ACTION_FILE.test(basename(f.path))) out.push({ path: f.path, display: displayOf(dir, f.path), required: true, within });
  }
  for (const e of await entriesOf(dir)) {
    if ((e.isFile() || e.isSymbolicLink()) && ACTION_FILE.test(e.name))
      out.push({ path: join(dir, e.name), display: displayOf(dir, join(dir, e.name)), required: true, within });
  }
  return out;
}

async function namedFiles(dir: string, realDir: string, paths: readonly string[]): Promise<Candidate[]> {
  const out: Candidate[] = [];
  for (const p of paths) {
    const path = resolve(dir, p);
    let isDir: boolean;
    let within = realDir;
    try {
      isDir = (await stat(path)).isDirectory();
      // Named outside the folder: that place is the caller's choice, but not where its links lead.
      if (!isWithin(dir, path)) within = await realpath(isDir ? path : dirname(path));
    } catch (err) {
      throw ioError(err, p);
    }
    if (!isDir) {
      out.push({ path, display: displayOf(dir, path), required: true, named: true, within });
      continue;
    }
    for (const f of await walk(path, within)) {
      const display = displayOf(dir, f.path);
      if (f.skip !== undefined) {
        out.push({ path: f.path, display, required: false, within, skip: f.skip });
        continue;
      }
      if (!YAML_FILE.test(f.path)) continue;
      const required = ACTION_FILE.test(basename(f.path)) || dirname(f.path).endsWith(`${sep}.github${sep}workflows`);
      out.push({ path: f.path, display, required, within });
    }
  }
  return out;
}

/**
 * The files under `dir`, sorted: regular files and links (to files, or to nothing). A link to a
 * folder is walked when it leads to a folder in `within` not walked yet, so a loop cannot trap
 * the walk; one that leads out of `within` is not followed, and comes back with `skip` set, as a
 * folder that may hold workflows or actions nobody read.
 */
async function walk(
  dir: string,
  within: string,
  walked = new Set<string>(),
): Promise<Array<{ path: string; skip?: { reason: string; unchecked: boolean } }>> {
  let real: string;
  try {
    real = await realpath(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw ioError(err, dir);
  }
  if (walked.has(real)) return [];
  walked.add(real);
  const out: Array<{ path: string; skip?: { reason: string; unchecked: boolean } }> = [];
  for (const e of await entriesOf(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      if (!SKIPPED_DIRS.has(e.name)) out.push(...(await walk(path, within, walked)));
    } else if (e.isFile()) {
      out.push({ path });
    } else if (e.isSymbolicLink()) {
      const to = await stat(path).catch(() => undefined);
      if (to?.isDirectory() !== true) {
        out.push({ path });
        continue;
      }
      if (SKIPPED_DIRS.has(e.name)) continue;
      const target = await realpath(path);
      if (isWithin(within, target)) out.push(...(await walk(path, within, walked)));
      else out.push({ path, skip: { reason: `a link to the folder ${target}, outside ${within}: not read, not pinned`, unchecked: true } });
    }
  }
  return out;
}

/**
 * A pinned file that could not be written, in pin's words: the system's own message names the
 * temporary file beside it, which the user never chose. Says which files were written before it.
 */
function writeError(err: unknown, file: string, written: readonly string[]): unknown {
  if (!isProvenantError(err, 'IO')) return err;
  const cause = err.cause as NodeJS.ErrnoException | undefined;
  const why =
    cause?.code === 'EACCES' || cause?.code === 'EPERM'
      ? `the system does not allow it (${cause.code})`
      : cause?.code === 'EROFS'
        ? 'the file system is read-only'
        : (lackOfSpace(cause) ?? err.message);
  const before = written.length === 0 ? 'no other file was written' : `written before it: ${written.join(', ')}`;
  return new ProvenantError('IO', `cannot write the pinned file: ${why}; it was left as it was (${before})`, {
    where: file,
    hint: 'pin writes a temporary file beside the file and renames it over it: check that you may change both the file and its folder (an immutable flag, a read-only mount)',
    cause: err,
  });
}

function ioError(err: unknown, where: string): ProvenantError {
  if (err instanceof ProvenantError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  return new ProvenantError(code === 'ENOENT' ? 'NOT_FOUND' : 'IO', code === 'ENOENT' ? 'no such file or folder' : (err as Error).message, {
    where,
    cause: err,
  });
}

// ---- resolving -------------------------------------------------------------------------

type Lookup = { kind: 'action'; ref: ResolvedRef } | { kind: 'docker'; digest: Digest };

function where(site: UsesSite): string {
  return `${site.file}:${site.line}:${site.column}`;
}

/** Resolves every unpinned site of every file; one ls-remote per repository, one lookup per image. */
async function resolveAll(files: readonly LoadedFile[], options: PinOptions): Promise<Map<UsesSite, Lookup>> {
  const base = (options.gitBase ?? DEFAULT_GIT_BASE).replace(/\/+$/, '');
  const limiter = new Limiter(options.concurrency ?? 4);
  const repos = new Map<string, Promise<RemoteRefs>>();
  const images = new Map<string, Promise<Digest>>();
  const sites = files.flatMap((f) => f.sites);
  const call: OperationOptions = {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  };

  const refsOf = (t: ActionTarget): Promise<RemoteRefs> => {
    const url = `${base}/${t.owner}/${t.repo}`;
    let p = repos.get(url);
    if (p === undefined) {
      p = limiter.run(() => lsRemote(url, { git: options.git, env: options.env, signal: options.signal, logger: options.logger }));
      repos.set(url, p);
    }
    return p;
  };
  const digestOf = (t: DockerTarget): Promise<Digest> => {
    const resolveImage = options.resolveImage;
    if (resolveImage === undefined) {
      return Promise.reject(new ProvenantError('USAGE', 'docker:// images need an image resolver to be pinned'));
    }
    const key = formatReference(t.reference);
    let p = images.get(key);
    if (p === undefined) {
      p = limiter.run(async () => {
        const d = await resolveImage(t.reference, call);
        if (!isDigest(d))
          throw new ProvenantError('INVALID_DIGEST', `the image resolver answered "${String(d)}", not a digest`, { where: key });
        return d;
      });
      images.set(key, p);
    }
    return p;
  };

  const lookups = new Map<UsesSite, Lookup>();
  // Every lookup settles before the first error (in text order) is thrown: no rejection is left
  // unobserved, and the error reported does not depend on which answer came first.
  const settled = await Promise.allSettled(
    sites.map(async (site): Promise<void> => {
      const t = site.target;
      if (t.kind === 'local' || t.pinned) return;
      try {
        if (t.kind === 'docker') {
          lookups.set(site, { kind: 'docker', digest: await digestOf(t) });
          return;
        }
        const ref = resolveRef(await refsOf(t), t.ref);
        if (ref === undefined) throw refNotFound(site, t);
        lookups.set(site, { kind: 'action', ref });
      } catch (err) {
        throw atSite(err, site);
      }
    }),
  );
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  throwIfAborted(options.signal);
  return lookups;
}

function refNotFound(site: UsesSite, t: ActionTarget): ProvenantError {
  const shortSha = /^[0-9a-fA-F]{4,40}$/.test(t.ref);
  return new ProvenantError('NOT_FOUND', `${t.owner}/${t.repo} has no tag or branch "${t.ref}"`, {
    where: where(site),
    hint: shortSha
      ? 'write the full 40-character commit SHA in lower case: git ls-remote lists only tags and branches, so a short SHA cannot be told unique'
      : 'check the tag or branch name',
  });
}

/** The error, naming the `uses:` it is about (the URL or image it came from stays in the message). */
function atSite(err: unknown, site: UsesSite): unknown {
  if (!(err instanceof ProvenantError)) return err;
  const here = where(site);
  if (err.where === here) return err;
  // The place the error came from (a URL, an image), unless its message names it already.
  const from = err.where === undefined || namesPlace(err.message, err.where) ? '' : ` (${err.where})`;
  return new ProvenantError(err.code, `${site.value}: ${err.message}${from}`, { where: here, hint: err.hint, cause: err });
}

// ---- planning --------------------------------------------------------------------------

function planSite(site: UsesSite, lookup: Lookup | undefined): { entry: PinEntry; replacement: Replacement | undefined } {
  const t = site.target;
  const base = { file: site.file, line: site.line, column: site.column, context: site.context, old: site.value };
  const left = (kind: PinKind, pinned: boolean, notes: string[] = []): { entry: PinEntry; replacement: undefined } => ({
    entry: { ...base, kind, new: undefined, pinned, rewritten: false, written: false, comment: 'none', notes },
    replacement: undefined,
  });
  if (t.kind === 'local') return left('local', true);
  if (t.pinned) {
    // `image:tag@digest` says its version in the value itself.
    const noComment = (site.comment === undefined || site.comment.trim() === '') && !(t.kind === 'docker' && t.tag !== undefined);
    const notes = noComment ? [`no # comment says which version this ${t.kind === 'docker' ? 'digest' : 'commit'} is`] : [];
    return left(t.kind === 'docker' ? 'docker' : 'sha', true, notes);
  }
  if (lookup === undefined) return left(t.kind === 'docker' ? 'docker' : 'ref', false);
  const notes: string[] = [];
  let value: string;
  let label: string;
  let kind: PinKind;
  if (t.kind === 'docker' && lookup.kind === 'docker') {
    value = formatDocker(t, lookup.digest);
    label = t.tag ?? 'latest';
    kind = 'docker';
  } else if (t.kind === 'action' && lookup.kind === 'action') {
    const r = lookup.ref;
    if (!COMMIT_SHA.test(r.sha)) {
      throw new ProvenantError(
        'INVALID_REFERENCE',
        `${r.name} is a ${r.sha.length * 4}-bit object id; GitHub Actions pins 40-hex SHA-1 commits`,
        {
          where: where(site),
        },
      );
    }
    value = formatAction(t, r.sha);
    label = t.ref;
    kind = r.kind;
    if (r.kind === 'branch') notes.push(`${t.ref} is a branch: pinned to the commit it points at now, which will move on`);
    if (r.shadowedBranch) notes.push(`a branch ${t.ref} exists too; the tag was taken, as git takes it`);
  } else {
    throw new Error('unreachable: a lookup of the wrong kind');
  }
  if (site.style === 'block') notes.push(`a block scalar is not rewritten: write ${value} # ${label} by hand`);
  else if (site.shared) {
    notes.push(
      `a YAML anchor's value, which an alias also uses outside uses:, is not rewritten (that would change it too): write ${value} # ${label} by hand`,
    );
  }
  return {
    entry: { ...base, kind, new: value, pinned: false, rewritten: false, written: false, comment: 'none', notes },
    replacement: { site, value, label },
  };
}

/** The rewritten text must read back as the same file with only the pinned values changed. */
function checkRewrite(f: LoadedFile, text: string, entries: readonly PinEntry[]): void {
  const again = scanUses(text, f.display);
  const expected = f.sites.map((s, i) => {
    const e = entries[i]!;
    return e.rewritten && e.new !== undefined ? e.new : s.value;
  });
  const got = again.sites.map((s) => s.value);
  if (again.kind !== f.kind || got.length !== expected.length || got.some((v, i) => v !== expected[i])) {
    throw new ProvenantError('INVALID_CONFIG', 'pinning would change the file in a way it should not; nothing was written', {
      where: f.display,
      hint: 'please report this with the file',
    });
  }
}
