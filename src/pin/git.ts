import { abortedError, ProvenantError } from '../errors.ts';
import type { Logger } from '../io/types.ts';

/** The refs a repository advertises: full ref name (`refs/tags/v1`, `refs/tags/v1^{}`) to object id. */
export type RemoteRefs = ReadonlyMap<string, string>;

/** How a ref of a `uses:` value resolved. */
export interface ResolvedRef {
  /** The commit: for an annotated tag, the commit it points at, not the tag object. */
  readonly sha: string;
  readonly kind: 'tag' | 'branch';
  /** The full ref name that matched. */
  readonly name: string;
  /** A branch of the same name exists too and lost (git's own order: tags before branches). */
  readonly shadowedBranch: boolean;
}

// An object id, SHA-1 or SHA-256, then a tab and the ref name.
const LINE_RE = /^([0-9a-f]{40}|[0-9a-f]{64})\t(refs\/[^\t]+|HEAD)$/;

/**
 * Parses `git ls-remote` output. The remote controls it, so every line must be an object id, a
 * tab and a ref name; anything else is refused rather than guessed at.
 *
 * @throws ProvenantError `INVALID_REFERENCE` naming the line.
 */
export function parseLsRemote(output: string, where: string): Map<string, string> {
  const refs = new Map<string, string>();
  const lines = output.split('\n');
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((line, i) => {
    const m = LINE_RE.exec(line);
    if (m === null) {
      throw new ProvenantError(
        'INVALID_REFERENCE',
        `git ls-remote printed a line that is not "<object id><tab><ref>": ${JSON.stringify(line.slice(0, 120))}`,
        {
          where: `${where} (line ${i + 1} of its refs)`,
        },
      );
    }
    refs.set(m[2]!, m[1]!);
  });
  return refs;
}

/**
 * Resolves `ref` among a repository's refs as git does for a short name
 * (https://git-scm.com/docs/gitrevisions#Documentation/gitrevisions.txt-emltrefnamegtemegemmasterememheadsmasterememrefsheadsmasterem):
 * `refs/<ref>` when it is a full name, then `refs/tags/<ref>`, then `refs/heads/<ref>`.
 * A tag's peeled entry (`^{}`) wins, so an annotated tag pins the commit and not the tag object.
 * Undefined when nothing matches. Short SHAs are not expanded: ls-remote lists only the tips of
 * refs, so it cannot say whether a prefix is unique in the repository.
 */
export function resolveRef(refs: RemoteRefs, ref: string): ResolvedRef | undefined {
  const peeled = (name: string): string | undefined => refs.get(`${name}^{}`) ?? refs.get(name);
  if (ref.startsWith('refs/tags/')) {
    const sha = peeled(ref);
    return sha === undefined ? undefined : { sha, kind: 'tag', name: ref, shadowedBranch: false };
  }
  if (ref.startsWith('refs/heads/')) {
    const sha = refs.get(ref);
    return sha === undefined ? undefined : { sha, kind: 'branch', name: ref, shadowedBranch: false };
  }
  const branch = refs.get(`refs/heads/${ref}`);
  const tag = peeled(`refs/tags/${ref}`);
  if (tag !== undefined) return { sha: tag, kind: 'tag', name: `refs/tags/${ref}`, shadowedBranch: branch !== undefined };
  if (branch !== undefined) return { sha: branch, kind: 'branch', name: `refs/heads/${ref}`, shadowedBranch: false };
  return undefined;
}

// ls-remote of a repository with tens of thousands of tags is a few MiB; more is not a git server.
const OUTPUT_LIMIT = 64 * 1024 * 1024;

/** Options of {@link lsRemote}. */
export interface LsRemoteOptions {
  /** The git program. Default `git` from the PATH of `env`. */
  git?: string | undefined;
  /**
   * git's environment. Default: none but `GIT_TERMINAL_PROMPT=0`, so no user configuration or
   * credential helper is read; pass the process's environment to reach private repositories.
   * `GIT_TERMINAL_PROMPT=0` is always set: a missing repository must fail, not ask for a password.
   */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  signal?: AbortSignal | undefined;
  logger?: Logger | undefined;
}

/** Removes `user:password@` from URLs in `text`. */
export function redactUrls(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1');
}

/**
 * Lists the tags and branches of a remote repository with `git ls-remote --tags --heads`.
 *
 * @throws ProvenantError `NOT_FOUND` (no such repository), `UNAUTHORIZED` (it wants credentials),
 *   `NETWORK`, `ABORTED`, or `IO` (git missing or failing otherwise); the URL in `where` has
 *   no credentials.
 */
export async function lsRemote(url: string, options: LsRemoteOptions = {}): Promise<Map<string, string>> {
  const shown = redactUrls(url);
  options.logger?.debug(`git ls-remote --tags --heads ${shown}`);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(options.env ?? {})) if (v !== undefined) env[k] = v;
  env.GIT_TERMINAL_PROMPT = '0';
  // `--` ends git's options: the URL can never be read as one.
  const args = ['ls-remote', '--tags', '--heads', '--', url];
  const { code, stdout, stderr, error, overflow } = await run(options.git ?? 'git', args, env, options.signal);
  if (options.signal?.aborted) throw abortedError(options.signal, shown);
  if (error !== undefined) {
    throw new ProvenantError('IO', `cannot run git: ${error.message}`, {
      where: shown,
      hint: 'install git, or put it on PATH',
      cause: error,
    });
  }
  if (overflow) {
    throw new ProvenantError('IO', `git ls-remote printed more than ${OUTPUT_LIMIT} bytes of refs`, { where: shown });
  }
  if (code !== 0) {
    // git's first `fatal:` line says what failed; the lines after it are advice.
    const lines = stderr
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
    const message = redactUrls(lines.find((l) => l.startsWith('fatal:')) ?? lines.at(-1) ?? `git exited with ${code}`);
    throw new ProvenantError(codeFor(stderr), `git ls-remote failed: ${message}`, {
      where: shown,
      hint: hintFor(stderr),
    });
  }
  return parseLsRemote(stdout, shown);
}

function codeFor(stderr: string): 'NOT_FOUND' | 'UNAUTHORIZED' | 'NETWORK' | 'IO' {
  if (/not found|does not appear to be a git repository|no such file or directory/i.test(stderr)) return 'NOT_FOUND';
  if (/could not read (username|password)|authentication failed|terminal prompts disabled|permission denied/i.test(stderr)) {
    return 'UNAUTHORIZED';
  }
  if (/could not resolve host|failed to connect|connection (refused|reset|timed out)|timed out|network is unreachable/i.test(stderr))
    return 'NETWORK';
  return 'IO';
}

function hintFor(stderr: string): string | undefined {
  switch (codeFor(stderr)) {
    case 'NOT_FOUND':
      return 'check the owner and repository in uses, and PROVENANT_GIT_BASE';
    case 'UNAUTHORIZED':
      return 'the repository is private or missing: set up git credentials for it (a credential helper or an access token)';
    default:
      return undefined;
  }
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  error: Error | undefined;
  overflow: boolean;
}

async function run(cmd: string, args: string[], env: Record<string, string>, signal: AbortSignal | undefined): Promise<RunResult> {
  return new Promise((resolve) => {
    const { spawn } = process.getBuiltinModule('node:child_process');
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'], ...(signal ? { signal } : {}) });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let error: Error | undefined;
    let overflow = false;
    let settled = false;
    const finish = (code: number | null): void => {
      if (settled) return;
      settled = true;
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), error, overflow });
    };
    child.stdout.on('data', (b: Buffer) => {
      outBytes += b.length;
      if (outBytes > OUTPUT_LIMIT) {
        overflow = true;
        child.kill('SIGKILL');
        return;
      }
      out.push(b);
    });
    // stderr is only read for a message: keep its last 64 KiB.
    child.stderr.on('data', (b: Buffer) => {
      err.push(b);
      errBytes += b.length;
      while (errBytes > 65536 && err.length > 1) errBytes -= err.shift()!.length;
    });
    // A failed spawn emits 'error' and may not emit 'close'.
    child.on('error', (e) => {
      error ??= e;
      if (child.pid === undefined) finish(null);
    });
    child.on('close', (code) => finish(code));
  });
}
