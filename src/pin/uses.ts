import { ProvenantError } from '../errors.ts';
import { type Digest, isDigest } from '../oci/digest.ts';
import { type ImageReference, parseReference } from '../ref/reference.ts';

/**
 * What a `uses:` value names, in the forms GitHub Actions accepts
 * (https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax#jobsjob_idstepsuses):
 * an action or reusable workflow in another repository (`owner/repo[/path]@ref`), one in this
 * repository (`./path`), or a container image (`docker://image[:tag][@digest]`).
 */
export type UsesTarget = ActionTarget | LocalTarget | DockerTarget;

/** `owner/repo[/path]@ref`: an action, or a reusable workflow when `path` names one. */
export interface ActionTarget {
  readonly kind: 'action';
  readonly owner: string;
  readonly repo: string;
  /** The folder or workflow file inside the repository, without its leading `/`. */
  readonly path: string | undefined;
  readonly ref: string;
  /** The ref is a full 40-hex commit SHA: it cannot move. */
  readonly pinned: boolean;
}

/** `./path`: an action or reusable workflow in the same repository, pinned by the checkout itself. */
export interface LocalTarget {
  readonly kind: 'local';
  readonly path: string;
}

/** `docker://image`: a container action run straight from an image. */
export interface DockerTarget {
  readonly kind: 'docker';
  /** The image as written, without `docker://`, its tag and its digest (`alpine`, `registry.example/o/i`). */
  readonly name: string;
  /** The tag as written; undefined when there is none (Docker then pulls `latest`). */
  readonly tag: string | undefined;
  readonly digest: Digest | undefined;
  /** The parsed, normalized reference (registry, repository with `library/` for an official image, and the tag, `latest` when none). */
  readonly reference: ImageReference;
  /** The image is named by digest: it cannot move. */
  readonly pinned: boolean;
}

/** A full commit SHA, the only immutable ref (GitHub's security hardening guide says the same). */
export const COMMIT_SHA = /^[0-9a-f]{40}$/;

// GitHub's owners are letters, digits and hyphens; repositories add `.` and `_`. Underscores are
// allowed in owners too, as GitHub Enterprise Server's user names may hold them. These names
// become a URL path segment each, so nothing outside this set may pass.
const OWNER_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const REPO_RE = /^[A-Za-z0-9_.][A-Za-z0-9_.-]*$/;

function invalid(value: string, why: string, hint?: string): ProvenantError {
  return new ProvenantError('INVALID_REFERENCE', `"${value}" is not a uses value GitHub accepts: ${why}`, {
    hint: hint ?? 'write owner/repo@ref, owner/repo/path@ref, ./path or docker://image:tag',
  });
}

/**
 * Where a `uses:` value is: a step's (`jobs.<id>.steps[*].uses`, `runs.steps[*].uses`), which
 * names an action or an image, or a job's (`jobs.<id>.uses`), which names a reusable workflow.
 */
export type UsesContext = 'step' | 'job';

// A reusable workflow is a file at the top of `.github/workflows`, named `.yml` or `.yaml`
// (https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax#jobsjob_iduses).
const WORKFLOW_FILE = /^\.github\/workflows\/[^/@]+\.ya?ml$/;
const WORKFLOW_HINT = 'a job calls a reusable workflow: owner/repo/.github/workflows/FILE.yml@ref, or ./.github/workflows/FILE.yml';

/**
 * Parses one `uses:` value. Throws INVALID_REFERENCE saying what is wrong; the caller adds the
 * file and line. Expressions (`${{ }}`) are refused: GitHub does not evaluate them in `uses`.
 *
 * @param context - where the value is: a job's `uses` must name a reusable workflow file
 *   (`owner/repo/.github/workflows/FILE.yml@ref` or `./.github/workflows/FILE.yml`), a step's
 *   must not. Without it, only what both refuse is refused.
 */
export function parseUses(value: string, context?: UsesContext): UsesTarget {
  const target = parseAny(value);
  if (context === 'job') checkJob(value, target);
  else if (context === 'step' && target.kind !== 'docker' && WORKFLOW_FILE.test(target.path ?? '')) {
    throw invalid(value, 'a reusable workflow is called by a job (jobs.<id>.uses), not by a step', WORKFLOW_HINT);
  }
  return target;
}

function parseAny(value: string): UsesTarget {
  if (value.length === 0) throw invalid(value, 'it is empty');
  if (value.includes('${{')) throw invalid(value, 'GitHub does not evaluate expressions in uses');
  // Whitespace and control characters: GitHub refuses them, and a newline would break the
  // `# ref` comment this value's pin is written with.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it looks for
  if (/[\s\u0000-\u001f\u007f]/.test(value)) throw invalid(value, 'it holds whitespace or a control character');
  if (value.startsWith('./')) {
    const path = value.slice(2);
    // A folder of this repository's checkout. `./` alone is the repository's root action.
    checkPath(value, path === '' ? [] : path.split('/'));
    return { kind: 'local', path };
  }
  if (value.startsWith('docker://')) return parseDocker(value);
  const at = value.indexOf('@');
  if (at < 0) throw invalid(value, 'it has no @ref', 'add the tag, branch or commit SHA: owner/repo@v1');
  const name = value.slice(0, at);
  const ref = value.slice(at + 1);
  if (ref.length === 0) throw invalid(value, 'the ref after @ is empty');
  const parts = name.split('/');
  const owner = parts[0] ?? '';
  const repo = parts[1] ?? '';
  if (parts.length < 2 || !OWNER_RE.test(owner) || !REPO_RE.test(repo) || repo === '.' || repo === '..') {
    throw invalid(value, `"${name}" does not start with owner/repo`);
  }
  const rest = parts.slice(2);
  checkPath(value, rest);
  return {
    kind: 'action',
    owner,
    repo,
    path: rest.length === 0 ? undefined : rest.join('/'),
    ref,
    pinned: COMMIT_SHA.test(ref),
  };
}

/**
 * Refuses a path inside a repository (`owner/repo/PATH@ref`, `./PATH`), given as its segments,
 * that has an empty segment (`a//b`, a trailing `/`) or a `.` or `..` one: `..` would climb out of
 * the folder the action is read from (`./a/../../x` out of the checkout), and `.` and an empty
 * segment name a folder another way. Both forms are checked alike.
 */
function checkPath(value: string, segments: readonly string[]): void {
  if (segments.some((p) => p === '')) throw invalid(value, 'its path has an empty segment');
  if (segments.some((p) => p === '.' || p === '..')) throw invalid(value, 'its path has a . or .. segment');
}

/** A job's `uses:` calls a reusable workflow: a file at the top of `.github/workflows`, never an image. */
function checkJob(value: string, target: UsesTarget): void {
  if (target.kind === 'docker') {
    throw invalid(value, 'a docker:// image runs as a step (steps[*].uses), not as a job', WORKFLOW_HINT);
  }
  if (target.kind === 'local') {
    if (!WORKFLOW_FILE.test(target.path)) {
      throw invalid(
        value,
        target.path.includes('@')
          ? "a workflow of the same repository takes no @ref (it comes with the caller's commit)"
          : 'a job calls a workflow file at the top of ./.github/workflows',
        WORKFLOW_HINT,
      );
    }
    return;
  }
  if (target.path === undefined) {
    throw invalid(value, "a job calls a reusable workflow, so it needs the workflow file's path after owner/repo", WORKFLOW_HINT);
  }
  if (!WORKFLOW_FILE.test(target.path)) {
    throw invalid(value, `"${target.path}" is not a workflow file at the top of .github/workflows`, WORKFLOW_HINT);
  }
}

function parseDocker(value: string): DockerTarget {
  const image = value.slice('docker://'.length);
  let reference: ImageReference;
  try {
    reference = parseReference(image);
  } catch (err) {
    throw invalid(value, err instanceof ProvenantError ? err.message : String(err), 'write docker://image:tag');
  }
  // Keep the name as the user spelled it (`alpine`, not its normalized form): only the
  // tag and digest change when it is pinned.
  let name = image;
  let digest: Digest | undefined;
  const at = name.indexOf('@');
  if (at >= 0) {
    const d = name.slice(at + 1);
    if (isDigest(d)) digest = d;
    name = name.slice(0, at);
  }
  let tag: string | undefined;
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) {
    tag = name.slice(colon + 1);
    name = name.slice(0, colon);
  }
  return { kind: 'docker', name, tag, digest, reference, pinned: digest !== undefined };
}

/** `owner/repo[/path]@ref` for an action target with another ref. */
export function formatAction(target: ActionTarget, ref: string): string {
  return `${target.owner}/${target.repo}${target.path === undefined ? '' : `/${target.path}`}@${ref}`;
}

/**
 * `docker://name@digest`. The tag is left out: Docker pulls `name:tag@digest` by digest and
 * ignores the tag, and docker/cli discusses refusing that form (docker/cli#2856), while
 * `name@digest` is the form every puller accepts. The tag goes in the line's comment instead.
 */
export function formatDocker(target: DockerTarget, digest: Digest): string {
  return `docker://${target.name}@${digest}`;
}
