// Bare git repositories standing in for GitHub, for the pin tests (not a test file).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * Bare git repositories in a temporary folder, laid out as `<dir>/<owner>/<repo>.git`, so that
 * `file://<dir>` stands in for `https://github.com` as the git base. Commits, branches and
 * tags are made with git's own plumbing; the SHAs tests expect come from git, never from the
 * code under test.
 */
export interface Remotes {
  /** The git base: `file:///tmp/...`. */
  readonly base: string;
  readonly dir: string;
  /** Makes `owner/repo` with `commits` commits in a line, and refs pointing at them by index. */
  repo(name: string, spec: RepoSpec): RepoShas;
  /** Runs git in `owner/repo`'s bare repository; throws on failure. */
  git(name: string, ...args: string[]): string;
  remove(): void;
}

export interface RepoSpec {
  commits: number;
  branches?: Record<string, number>;
  tags?: Record<string, number>;
  /** Annotated tags (a tag object pointing at the commit). */
  annotated?: Record<string, number>;
}

export interface RepoShas {
  /** Commit SHAs, oldest first. */
  commits: string[];
  /** The object each ref names as `git rev-parse <ref>` says (a tag object for an annotated tag). */
  objects: Record<string, string>;
}

// Fixed identities and dates make the SHAs the same on every run; no user or system git
// configuration is read.
const GIT_ENV: Record<string, string> = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 'test@example.invalid',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 'test@example.invalid',
  GIT_AUTHOR_DATE: '2020-01-01T00:00:00Z',
  GIT_COMMITTER_DATE: '2020-01-01T00:00:00Z',
};

function git(gitDir: string | undefined, args: string[], input?: string): string {
  const r = spawnSync('git', gitDir === undefined ? args : [`--git-dir=${gitDir}`, ...args], {
    env: GIT_ENV,
    encoding: 'utf8',
    ...(input === undefined ? {} : { input }),
  });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} failed: ${r.stderr}${r.error ?? ''}`);
  return r.stdout.trim();
}

/** The skip reason when git is missing, or false. */
export const gitMissing: string | false = spawnSync('git', ['--version']).status === 0 ? false : 'git is not installed';

export function makeRemotes(): Remotes {
  const dir = mkdtempSync(join(tmpdir(), 'provenant-pin-remotes-'));
  const gitDir = (name: string): string => join(dir, `${name}.git`);
  return {
    base: pathToFileURL(dir).href,
    dir,
    repo(name, spec) {
      const g = gitDir(name);
      mkdirSync(g, { recursive: true });
      git(undefined, ['init', '-q', '--bare', g]);
      const tree = git(g, ['mktree'], '');
      const commits: string[] = [];
      for (let i = 0; i < spec.commits; i++) {
        const parent = commits.at(-1);
        commits.push(git(g, ['commit-tree', tree, '-m', `commit ${i} of ${name}`, ...(parent === undefined ? [] : ['-p', parent])]));
      }
      const at = (i: number): string => {
        const c = commits[i];
        if (c === undefined) throw new Error(`${name} has no commit ${i}`);
        return c;
      };
      for (const [b, i] of Object.entries(spec.branches ?? {})) git(g, ['update-ref', `refs/heads/${b}`, at(i)]);
      for (const [t, i] of Object.entries(spec.tags ?? {})) git(g, ['update-ref', `refs/tags/${t}`, at(i)]);
      for (const [t, i] of Object.entries(spec.annotated ?? {})) git(g, ['tag', '-a', t, '-m', `release ${t}`, at(i)]);
      const objects: Record<string, string> = {};
      const refs = [
        ...Object.keys(spec.branches ?? {}).map((b) => `refs/heads/${b}`),
        ...Object.keys({ ...spec.tags, ...spec.annotated }).map((t) => `refs/tags/${t}`),
      ];
      for (const r of refs) objects[r] = git(g, ['rev-parse', r]);
      return { commits, objects };
    },
    git(name, ...args) {
      return git(gitDir(name), args);
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
